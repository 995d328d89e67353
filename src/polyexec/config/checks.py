"""What each setting's value must look like: the value types of :class:`~polyexec.config.Settings`.

Each type here is a plain Python type plus the check pydantic runs on it: :data:`HttpUrl` is a
``str`` that must start with ``https://`` or ``http://`` and loses its trailing slashes,
:data:`AssetList` is a tuple parsed from ``btc,eth``, and so on. A check returns the value
normalised, or raises an error whose message says what is wrong without repeating the value (a
value may be a secret pasted into the wrong variable); :func:`~polyexec.config.load_settings`
turns it into a ``VARIABLE: message`` line of :class:`~polyexec.config.ConfigError`.

The venue facts the checks and the load warnings rely on live here too: the assets that have
15-minute markets, the supported chains, the smallest order the venue accepts.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from polyexec.config.presets import PRESETS
from polyexec.core.models import SignatureType

__all__ = [
    "HEX_KEY",
    "HIGHEST_PRICE",
    "HTTP_SCHEMES",
    "KNOWN_ASSETS",
    "LIVE_TRADING_CONFIRMATION",
    "LOWEST_PRICE",
    "SIGNATURE_TYPE_LABELS",
    "VENUE_MIN_ORDER_SHARES",
    "Address",
    "AddressList",
    "ApiSecret",
    "AssetList",
    "Cents",
    "ChainId",
    "Count",
    "HostPort",
    "HttpUrl",
    "LogLevel",
    "Percent",
    "PresetName",
    "PrivateKey",
    "SecretHttpUrl",
    "SignatureTypeCode",
    "Usd",
    "WsUrl",
    "check_url",
    "is_loopback",
    "parse_assets",
    "parse_host_port",
    "parse_port",
    "problem",
]

KNOWN_ASSETS: Final = ("btc", "eth", "sol", "xrp", "hype", "bnb", "doge")
"""Assets that have 15-minute Up/Down markets (slug ``<asset>-updown-15m-<start>``)."""
LIVE_TRADING_CONFIRMATION: Final = "I_UNDERSTAND_THE_RISKS"
VENUE_MIN_ORDER_SHARES: Final = Decimal(5)
"""The venue refuses orders smaller than 5 shares."""
LOWEST_PRICE: Final = Decimal("0.01")
HIGHEST_PRICE: Final = Decimal("0.99")
SUPPORTED_CHAIN_IDS: Final = (137, 80002)  # Polygon mainnet, Polygon Amoy testnet
SIGNATURE_TYPE_LABELS: Final = {0: "EOA", 1: "proxy", 2: "Gnosis Safe", 3: "deposit wallet"}
HTTP_SCHEMES: Final = ("https", "http")
HEX_KEY: Final = re.compile(r"0x[0-9a-fA-F]{64}")
"""A private key as the settings hold it: ``0x`` + 64 hex digits."""

_WS_SCHEMES: Final = ("wss", "ws")
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_SECP256K1_ORDER: Final = int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)


def problem(message: str) -> PydanticCustomError:
    """The error a check raises: pydantic reports ``message`` as is, under the field's name."""
    return PydanticCustomError("polyexec_config", message)


def check_url(value: str, schemes: tuple[str, ...], *, base: bool = True) -> str:
    """Return ``value`` without trailing slashes, or raise naming what is wrong (never the value:
    some URLs carry tokens). A ``base`` URL is one polyexec appends paths to, so it may not have a
    query string or fragment."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in schemes:
        raise problem("must be a URL starting with " + " or ".join(f"{s}://" for s in schemes))
    if not parts.hostname:
        raise problem("has no host name")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise problem("has an invalid port") from None
    if base and (parts.query or parts.fragment):
        raise problem("must not have a query string or fragment: polyexec appends paths to it")
    return value.strip().rstrip("/")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_host_port(value: str) -> tuple[str, int]:
    """Split ``host:port`` (IPv6 in brackets: ``[::1]:8787``). Port 0 means any free port."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not host:
        raise problem("must be host:port, e.g. 127.0.0.1:8787")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise problem("has an invalid IPv6 address in brackets") from None
    elif not _HOSTNAME.fullmatch(host):
        raise problem("has an invalid host (IPv6 addresses go in brackets: [::1]:8787)")
    return host, parse_port(port_text)


def parse_port(text: str) -> int:
    """A TCP port from text: ASCII digits, 0 to 65535 (0 means any free port)."""
    # isdigit() alone lets through other scripts' digits and superscripts ("²"), which int()
    # either reads as a surprise number or refuses with an unhelpful message.
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise problem("has an invalid port: use a number from 0 to 65535")
    return int(text)


def parse_assets(value: str | Iterable[object]) -> tuple[str, ...]:
    """Assets from ``btc,ETH`` (or a sequence of names): stripped, lower-cased, duplicates dropped,
    at least one, each one of :data:`KNOWN_ASSETS`."""
    items = value.split(",") if isinstance(value, str) else value
    assets = tuple(dict.fromkeys(name for item in items if (name := str(item).strip().lower())))
    if not assets:
        raise problem("must name at least one asset, e.g. btc,eth")
    unknown = [asset for asset in assets if asset not in KNOWN_ASSETS]
    if unknown:
        raise problem(f"unknown asset(s) {', '.join(unknown)}; known: {', '.join(KNOWN_ASSETS)}")
    return assets


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# ---------------------------------------------------------------------------- the checks


def _private_key(value: SecretStr) -> SecretStr:
    key = value.get_secret_value().strip()
    if not HEX_KEY.fullmatch(key):
        raise problem("must be 0x followed by 64 hex digits (the value is not shown)")
    if not 0 < int(key, 16) < _SECP256K1_ORDER:
        raise problem("is not a valid secp256k1 private key (the value is not shown)")
    return SecretStr(key)


def _api_secret(value: SecretStr) -> SecretStr:
    text = value.get_secret_value().strip()
    try:
        base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise problem("must be the URL-safe base64 secret issued with the API key") from None
    return SecretStr(text)


def _signature_type(value: object) -> SignatureType:
    text = str(value).strip()
    if not text.isdigit() or int(text) not in SIGNATURE_TYPE_LABELS:
        raise problem("must be 0 (EOA), 1 (proxy), 2 (Gnosis Safe) or 3 (deposit wallet)")
    return SignatureType(int(text))


def _address(value: str) -> str:
    if not _ADDRESS.fullmatch(value.strip()):
        raise problem("must be an address: 0x followed by 40 hex digits")
    return value.strip()


def _address_list(value: object) -> object:
    items = _split_list(value)
    if isinstance(items, tuple):
        bad = [str(item) for item in items if not _ADDRESS.fullmatch(str(item))]
        if bad:
            raise problem("every entry must be 0x followed by 40 hex digits; bad: " + ", ".join(bad))
    return items


def _chain_id(value: int) -> int:
    if value not in SUPPORTED_CHAIN_IDS:
        raise problem("must be 137 (Polygon) or 80002 (Polygon Amoy testnet)")
    return value


def _http_url(value: str) -> str:
    return check_url(value, HTTP_SCHEMES)


def _ws_url(value: str) -> str:
    return check_url(value, _WS_SCHEMES)


def _secret_url(value: SecretStr) -> SecretStr:
    return SecretStr(check_url(value.get_secret_value(), HTTP_SCHEMES, base=False))


def _asset_list(value: object) -> object:
    # Anything else is left to pydantic, which refuses it as "not a tuple".
    return parse_assets(value) if isinstance(value, str | tuple | list) else value


def _preset_name(value: object) -> str:
    name = str(value).strip().lower().replace("-", "_")
    if name not in PRESETS:
        raise problem("must be one of: " + ", ".join(PRESETS))
    return name


def _log_level(value: object) -> str:
    level = str(value).strip().lower()
    if level not in _LOG_LEVELS:
        raise problem("must be one of: " + ", ".join(_LOG_LEVELS))
    return level


def _host_port(value: str) -> str:
    parse_host_port(value)
    return value.strip()


# ---------------------------------------------------------------------------- the value types

PrivateKey = Annotated[SecretStr, AfterValidator(_private_key)]
"""A secp256k1 private key, ``0x`` + 64 hex digits."""
ApiSecret = Annotated[SecretStr, AfterValidator(_api_secret)]
"""The URL-safe base64 secret issued with a CLOB API key."""
SignatureTypeCode = Annotated[SignatureType, BeforeValidator(_signature_type)]
"""A wallet type by its number: 0 EOA, 1 proxy, 2 Gnosis Safe, 3 deposit wallet."""
Address = Annotated[str, AfterValidator(_address)]
"""An EVM address, ``0x`` + 40 hex digits."""
AddressList = Annotated[tuple[str, ...], BeforeValidator(_address_list)]
"""Comma-separated addresses; empty entries are dropped."""
ChainId = Annotated[int, AfterValidator(_chain_id)]
"""137 (Polygon) or 80002 (Polygon Amoy testnet)."""
HttpUrl = Annotated[str, AfterValidator(_http_url)]
"""An ``https://`` or ``http://`` base URL (no query or fragment), trailing slashes removed."""
WsUrl = Annotated[str, AfterValidator(_ws_url)]
"""A ``wss://`` or ``ws://`` base URL (no query or fragment), trailing slashes removed."""
SecretHttpUrl = Annotated[SecretStr, AfterValidator(_secret_url)]
"""An ``https://`` or ``http://`` URL that may carry a token (query allowed), kept secret."""
AssetList = Annotated[tuple[str, ...], BeforeValidator(_asset_list)]
"""Comma-separated :data:`KNOWN_ASSETS`, lower-cased, duplicates dropped, at least one."""
PresetName = Annotated[str, BeforeValidator(_preset_name)]
"""A key of :data:`~polyexec.config.PRESETS`, any case, ``-`` read as ``_``."""
LogLevel = Annotated[str, BeforeValidator(_log_level)]
"""debug, info, warning or error, any case."""
HostPort = Annotated[str, AfterValidator(_host_port)]
"""``host:port`` as :func:`parse_host_port` reads it."""
Usd = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
Cents = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]
