"""polyexec's settings: every knob, read from the environment and a ``.env`` file, checked at startup.

Build them with :func:`load_settings`. Each setting is an environment variable whose name is the
upper-cased field name of :class:`Settings` (``CLOB_HOST`` ↔ ``Settings.clob_host``). Where a value
comes from, strongest first:

1. ``env``: the process environment (or the mapping passed to :func:`load_settings`);
2. ``credentials``: for secrets only, a file named after the variable in lower case inside
   ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=polymarket_private_key:/etc/...``);
3. ``.env``: the settings file (``./.env`` unless told otherwise); empty values count as unset;
4. ``preset:<name>``: the strategy preset chosen by ``STRATEGY_PRESET`` (risk limits and
   strategy flags only);
5. ``default``: the value written in this module.

A bad value fails the whole load with :class:`ConfigError`, whose messages name the variable and
what is wrong and never contain a secret. Secrets are :class:`~pydantic.SecretStr`: their
``repr`` and ``str`` are masked, and :meth:`Settings.describe` masks them too.

Real-money trading needs ``LIVE_TRADING=I_UNDERSTAND_THE_RISKS`` exactly (case-sensitive); any
other value, including ``true``, leaves :attr:`Settings.live_trading_allowed` false.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Annotated, Any, Final, NamedTuple
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from polyexec.core.models import SignatureType
from polyexec.core.risk_limits import RiskLimits

__all__ = [
    "DEFAULT_ENV_FILE",
    "DEFAULT_STRATEGY_FLAGS",
    "KNOWN_ASSETS",
    "LIVE_TRADING_CONFIRMATION",
    "PRESETS",
    "SECRET_SETTINGS",
    "VENUE_MIN_ORDER_SHARES",
    "ConfigError",
    "ConfigRow",
    "Preset",
    "Settings",
    "StrategyFlags",
    "load_settings",
    "parse_host_port",
]

KNOWN_ASSETS: Final = ("btc", "eth", "sol", "xrp", "hype", "bnb", "doge")
"""Assets that have 15-minute Up/Down markets (slug ``<asset>-updown-15m-<start>``)."""
LIVE_TRADING_CONFIRMATION: Final = "I_UNDERSTAND_THE_RISKS"
VENUE_MIN_ORDER_SHARES: Final = Decimal(5)
"""The venue refuses orders smaller than 5 shares."""
LOWEST_PRICE: Final = Decimal("0.01")
HIGHEST_PRICE: Final = Decimal("0.99")
SUPPORTED_CHAIN_IDS: Final = (137, 80002)  # Polygon mainnet, Polygon Amoy testnet
DEFAULT_ENV_FILE: Final = Path(".env")
SECRET_SETTINGS: Final = (
    "POLYMARKET_PRIVATE_KEY",
    "POLYMARKET_API_KEY",
    "POLYMARKET_SECRET",
    "POLYMARKET_PASSPHRASE",
    "DISCORD_WEBHOOK_URL",
    "RPC_URL",  # hosted RPC URLs usually embed an API key
)

_HEX_KEY = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_KEY_LIKE = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_SECP256K1_ORDER: Final = int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)
_HTTP: Final = ("https", "http")
_WS: Final = ("wss", "ws")
_SIGNATURE_TYPE_LABELS: Final = {0: "EOA", 1: "proxy", 2: "Gnosis Safe", 3: "deposit wallet"}
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")


class ConfigError(Exception):
    """The settings are unusable. :attr:`messages` are for the operator, one problem each."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages: tuple[str, ...] = tuple(messages)
        super().__init__("\n".join(self.messages))


class ConfigRow(NamedTuple):
    """One line of ``polyexec config``: variable, effective value (secrets masked), source."""

    name: str
    value: str
    source: str


@dataclass(frozen=True, slots=True)
class StrategyFlags:
    """Which strategies run (env ``ENABLE_MARKET_MAKING``, ``ENABLE_FLOW_FOLLOWING``, ...)."""

    market_making: bool
    flow_following: bool
    inventory_control: bool
    fair_value: bool


DEFAULT_STRATEGY_FLAGS: Final = StrategyFlags(
    market_making=True, flow_following=False, inventory_control=True, fair_value=True
)


@dataclass(frozen=True, slots=True)
class Preset:
    """A named bundle of risk limits and strategy flags. Only the keys a preset lists differ
    from the defaults (:class:`RiskLimits` and :data:`DEFAULT_STRATEGY_FLAGS`)."""

    name: str
    summary: str
    risk: Mapping[str, Decimal | int]
    strategies: Mapping[str, bool]


# Preset values. The table fixes exposure, per-market, per-category and drawdown; the other
# rows scale with exposure so that each preset stays coherent: max trade = per-market / 5
# (aggressive_enterprise: / 2, for hosts running many markets), window budget = per-market,
# daily loss = 25 % of max exposure, hourly loss = about half of that, the 5-minute loss breaker =
# 40 % of it, loss per trade = max trade (a binary can lose its whole stake), and the book must
# hold at least 10 max-size trades (min depth). ``default`` is RiskLimits() unchanged.
_PRESET_NAMES: Final = ("conservative", "balanced", "aggressive", "aggressive_enterprise")
_PRESET_RISK: Final[Mapping[str, tuple[str, str, str, str]]] = {
    "max_trade_usd": ("10", "20", "40", "100"),
    "max_window_usd": ("50", "100", "200", "200"),
    "max_exposure_usd": ("200", "500", "2000", "2000"),
    "max_exposure_per_market_usd": ("50", "100", "200", "200"),
    "max_exposure_per_category_usd": ("100", "250", "500", "500"),
    "max_open_orders": ("10", "20", "40", "100"),
    "max_loss_per_trade_usd": ("10", "20", "40", "100"),
    "max_loss_per_hour_usd": ("25", "60", "250", "250"),
    "max_loss_per_day_usd": ("50", "125", "500", "500"),
    "loss_breaker_usd": ("20", "50", "200", "200"),
    "max_drawdown_pct": ("10", "15", "25", "25"),
    "min_depth_usd": ("100", "200", "400", "1000"),
}
_PRESET_FLOW_FOLLOWING: Final = (False, True, True, True)  # MM, ICC and FV are on in every preset
_PRESET_SUMMARIES: Final = (
    "$10 trades, $200 exposure, flow following off",
    "$20 trades, $500 exposure, every strategy on",
    "$40 trades, $2,000 exposure, every strategy on",
    "aggressive's exposure caps with $100 trades and 100 open orders",
)


def _preset(column: int) -> Preset:
    risk: dict[str, Decimal | int] = {}
    for name, row in _PRESET_RISK.items():
        risk[name] = int(row[column]) if name == "max_open_orders" else Decimal(row[column])
    strategies = {
        "market_making": True,
        "flow_following": _PRESET_FLOW_FOLLOWING[column],
        "inventory_control": True,
        "fair_value": True,
    }
    return Preset(_PRESET_NAMES[column], _PRESET_SUMMARIES[column], risk, strategies)


PRESETS: Final[Mapping[str, Preset]] = {
    "default": Preset("default", "$1 trades, $20 exposure: the first-run limits", {}, {}),
    **{name: _preset(column) for column, name in enumerate(_PRESET_NAMES)},
}

_RISK_FIELDS: Final = tuple(spec.name for spec in fields(RiskLimits))
_FLAG_FIELDS: Final = tuple(spec.name for spec in fields(StrategyFlags))

Usd = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Percent = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
Cents = Annotated[Decimal, Field(ge=0, le=100, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("polyexec_config", message)


def _check_url(value: str, schemes: tuple[str, ...], *, base: bool = True) -> str:
    """Return ``value`` without trailing slashes, or raise naming what is wrong (never the value:
    some URLs carry tokens)."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in schemes:
        raise _problem("must be a URL starting with " + " or ".join(f"{s}://" for s in schemes))
    if not parts.hostname:
        raise _problem("has no host name")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise _problem("has an invalid port") from None
    if base and (parts.query or parts.fragment):
        raise _problem("must not have a query string or fragment: polyexec appends paths to it")
    return value.strip().rstrip("/")


def _is_loopback(host: str) -> bool:
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
        raise _problem("must be host:port, e.g. 127.0.0.1:8787")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _problem("has an invalid IPv6 address in brackets") from None
    elif not _HOSTNAME.fullmatch(host):
        raise _problem("has an invalid host (IPv6 addresses go in brackets: [::1]:8787)")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise _problem("has an invalid port: use a number from 0 to 65535")
    return host, int(port_text)


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


class Settings(BaseSettings):
    """Every polyexec setting, validated. Build it with :func:`load_settings`; constructing it
    directly reads nothing from the environment (so sources stay explicit and tests isolated).

    Risk parameters and strategy flags hold only explicit overrides (``None`` = use the preset);
    read the effective values with :meth:`risk_limits` and :meth:`strategy_flags`.
    """

    model_config = SettingsConfigDict(frozen=True, extra="forbid", case_sensitive=False)

    # --- venue account (docs/polymarket-protocol.md §3, §4.3)
    polymarket_private_key: SecretStr | None = None
    """Signer EOA key, ``0x`` + 64 hex. Needed to sign orders and derive API credentials."""
    polymarket_api_key: SecretStr | None = None
    polymarket_secret: SecretStr | None = None
    polymarket_passphrase: SecretStr | None = None
    """L2 credentials: set all three or none (then they are derived by L1 auth at startup)."""
    polymarket_signature_type: SignatureType = SignatureType.EOA
    polymarket_funder: str | None = None
    """The maker wallet (proxy, Safe or deposit wallet); required for signature types 1-3."""
    chain_id: int = 137
    rpc_url: SecretStr | None = None
    """Polygon JSON-RPC endpoint for on-chain reads and approvals."""
    approvals_auto: bool = False
    """Send missing pUSD/CTF approvals automatically (on-chain transactions cost gas)."""

    # --- endpoints (bases: polyexec appends the paths)
    clob_host: str = "https://clob.polymarket.com"
    clob_ws_url: str = "wss://ws-subscriptions-clob.polymarket.com/ws"
    gamma_host: str = "https://gamma-api.polymarket.com"
    binance_ws_url: str = "wss://data-stream.binance.vision"
    rtds_ws_url: str = "wss://ws-live-data.polymarket.com"

    # --- what to trade and how
    market_assets: tuple[str, ...] = ("btc", "eth")
    strategy_preset: str = "default"
    target_addresses: tuple[str, ...] = ()
    """Wallets whose trades the flow-following strategy follows (empty: the market's whole flow)."""
    enable_market_making: bool | None = None
    enable_flow_following: bool | None = None
    enable_inventory_control: bool | None = None
    enable_fair_value: bool | None = None
    min_edge_cents: Cents = Decimal(5)
    """Fair value: act only when model probability − ask − fee exceeds this many cents."""
    min_move_cents: Cents = Decimal(3)
    """Flow following: react only to price moves of at least this many cents."""

    # --- safety and operations
    live_trading: str = ""
    kill_switch_file: Path = Path("KILL_SWITCH")
    state_dir: Path = Path("state")
    log_dir: Path = Path("logs")
    log_level: str = "info"
    discord_webhook_url: SecretStr | None = None
    status_http_addr: str = "127.0.0.1:8787"

    # --- risk overrides: one per RiskLimits field, None = the preset's value
    max_trade_usd: Usd | None = None
    max_window_usd: Usd | None = None
    max_exposure_usd: Usd | None = None
    max_exposure_per_market_usd: Usd | None = None
    max_exposure_per_category_usd: Usd | None = None
    max_open_orders: Count | None = None
    max_loss_per_trade_usd: Usd | None = None
    max_loss_per_hour_usd: Usd | None = None
    max_loss_per_day_usd: Usd | None = None
    max_consecutive_losses: Count | None = None
    loss_breaker_usd: Usd | None = None
    loss_breaker_window_s: Count | None = None
    loss_breaker_cooldown_s: Count | None = None
    max_consecutive_rejects: Count | None = None
    reject_breaker_cooldown_s: Count | None = None
    api_unhealthy_max_s: Count | None = None
    api_breaker_cooldown_s: Count | None = None
    max_drawdown_pct: Percent | None = None
    drawdown_breaker_cooldown_s: Count | None = None
    min_depth_usd: Usd | None = None
    max_spread_pct: Percent | None = None
    max_slippage_pct: Percent | None = None
    max_slippage_cents: Cents | None = None
    min_seconds_to_end: Count | None = None
    max_seconds_to_end: Count | None = None

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _load_warnings: tuple[str, ...] = PrivateAttr(default=())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() reads env, credentials and .env itself so it can record each value's
        # source; the model only validates what it is given.
        return (init_settings,)

    # ------------------------------------------------------------------ field checks
    @field_validator("polymarket_private_key")
    @classmethod
    def _check_private_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        key = value.get_secret_value().strip()
        if not _HEX_KEY.fullmatch(key):
            raise _problem("must be 0x followed by 64 hex digits (the value is not shown)")
        if not 0 < int(key, 16) < _SECP256K1_ORDER:
            raise _problem("is not a valid secp256k1 private key (the value is not shown)")
        return SecretStr(key)

    @field_validator("polymarket_secret")
    @classmethod
    def _check_api_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().strip()
        try:
            base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise _problem("must be the URL-safe base64 secret issued with the API key") from None
        return SecretStr(text)

    @field_validator("polymarket_signature_type", mode="before")
    @classmethod
    def _check_signature_type(cls, value: object) -> SignatureType:
        text = str(value).strip()
        if not text.isdigit() or int(text) not in _SIGNATURE_TYPE_LABELS:
            raise _problem("must be 0 (EOA), 1 (proxy), 2 (Gnosis Safe) or 3 (deposit wallet)")
        return SignatureType(int(text))

    @field_validator("polymarket_funder")
    @classmethod
    def _check_funder(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.fullmatch(value.strip()):
            raise _problem("must be an address: 0x followed by 40 hex digits")
        return None if value is None else value.strip()

    @field_validator("target_addresses", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        items = _split_list(value)
        if isinstance(items, tuple):
            bad = [str(item) for item in items if not _ADDRESS.fullmatch(str(item))]
            if bad:
                raise _problem("every entry must be 0x followed by 40 hex digits; bad: " + ", ".join(bad))
        return items

    @field_validator("chain_id")
    @classmethod
    def _check_chain_id(cls, value: int) -> int:
        if value not in SUPPORTED_CHAIN_IDS:
            raise _problem("must be 137 (Polygon) or 80002 (Polygon Amoy testnet)")
        return value

    @field_validator("clob_host", "gamma_host")
    @classmethod
    def _check_http_url(cls, value: str) -> str:
        return _check_url(value, _HTTP)

    @field_validator("clob_ws_url", "binance_ws_url", "rtds_ws_url")
    @classmethod
    def _check_ws_url(cls, value: str) -> str:
        return _check_url(value, _WS)

    @field_validator("rpc_url", "discord_webhook_url")
    @classmethod
    def _check_secret_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        return SecretStr(_check_url(value.get_secret_value(), _HTTP, base=False))

    @field_validator("market_assets", mode="before")
    @classmethod
    def _check_assets(cls, value: object) -> object:
        items = _split_list(value)
        if isinstance(items, tuple):
            assets = tuple(dict.fromkeys(str(item).lower() for item in items))
            if not assets:
                raise _problem("must name at least one asset, e.g. btc,eth")
            unknown = [asset for asset in assets if asset not in KNOWN_ASSETS]
            if unknown:
                known = ", ".join(KNOWN_ASSETS)
                raise _problem(f"unknown asset(s) {', '.join(unknown)}; known: {known}")
            return assets
        return items

    @field_validator("strategy_preset", mode="before")
    @classmethod
    def _check_preset(cls, value: object) -> str:
        name = str(value).strip().lower().replace("-", "_")
        if name not in PRESETS:
            raise _problem("must be one of: " + ", ".join(PRESETS))
        return name

    @field_validator("log_level", mode="before")
    @classmethod
    def _check_log_level(cls, value: object) -> str:
        level = str(value).strip().lower()
        if level not in _LOG_LEVELS:
            raise _problem("must be one of: " + ", ".join(_LOG_LEVELS))
        return level

    @field_validator("status_http_addr")
    @classmethod
    def _check_status_addr(cls, value: str) -> str:
        parse_host_port(value)
        return value.strip()

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        problems: list[str] = []
        signature_type = int(self.polymarket_signature_type)
        if signature_type != 0 and self.polymarket_funder is None:
            problems.append(
                f"POLYMARKET_FUNDER is required with POLYMARKET_SIGNATURE_TYPE={signature_type} "
                f"({_SIGNATURE_TYPE_LABELS[signature_type]}): set it to the wallet address that holds "
                "your funds"
            )
        credentials = ("POLYMARKET_API_KEY", "POLYMARKET_SECRET", "POLYMARKET_PASSPHRASE")
        missing = [name for name in credentials if getattr(self, name.lower()) is None]
        if 0 < len(missing) < len(credentials):
            problems.append(
                f"{', '.join(missing)} not set: set POLYMARKET_API_KEY, POLYMARKET_SECRET and "
                "POLYMARKET_PASSPHRASE together, or none of them (they are then derived from "
                "POLYMARKET_PRIVATE_KEY by L1 auth)"
            )
        try:
            limits = self.risk_limits()
        except ValueError as exc:
            text = re.sub(r"\b[a-z_]+\b", lambda m: m[0].upper() if m[0] in _RISK_FIELDS else m[0], str(exc))
            problems.append(f"risk limits: {text}")
        else:
            smallest_order = VENUE_MIN_ORDER_SHARES * LOWEST_PRICE
            if limits.max_trade_usd < smallest_order:
                problems.append(
                    f"MAX_TRADE_USD (${limits.max_trade_usd}, preset {self.strategy_preset} plus overrides) "
                    f"cannot buy the venue's minimum order of {VENUE_MIN_ORDER_SHARES} shares even at the "
                    f"lowest price (${LOWEST_PRICE} x {VENUE_MIN_ORDER_SHARES} = ${smallest_order}): no "
                    f"order could ever be placed; set MAX_TRADE_USD to {smallest_order} or more"
                )
        if problems:
            raise _problem("\n".join(problems))
        return self

    # ------------------------------------------------------------------ derived values
    @property
    def preset(self) -> Preset:
        return PRESETS[self.strategy_preset]

    def risk_limits(self) -> RiskLimits:
        """The risk manager's limits: the preset's values with every explicit override on top."""
        values: dict[str, Any] = dict(self.preset.risk)
        for name in _RISK_FIELDS:
            override = getattr(self, name)
            if override is not None:
                values[name] = override
        return RiskLimits(**values)

    def strategy_flags(self) -> StrategyFlags:
        """Which strategies run: ``ENABLE_*`` overrides, else the preset, else the defaults."""
        values = {name: self._effective_flag(name) for name in _FLAG_FIELDS}
        return StrategyFlags(**values)

    def _effective_flag(self, name: str) -> bool:
        override: bool | None = getattr(self, f"enable_{name}")
        if override is not None:
            return override
        return self.preset.strategies.get(name, getattr(DEFAULT_STRATEGY_FLAGS, name))

    @property
    def live_trading_allowed(self) -> bool:
        """True only when ``LIVE_TRADING`` is exactly ``I_UNDERSTAND_THE_RISKS``."""
        return self.live_trading.strip() == LIVE_TRADING_CONFIRMATION

    @property
    def clob_market_ws_url(self) -> str:
        return f"{self.clob_ws_url}/market"

    @property
    def clob_user_ws_url(self) -> str:
        return f"{self.clob_ws_url}/user"

    def binance_stream_url(self, streams: Sequence[str]) -> str:
        """Combined-stream URL, e.g. ``["btcusdt@trade"]`` → ``<base>/stream?streams=btcusdt@trade``."""
        return f"{self.binance_ws_url}/stream?streams={'/'.join(streams)}"

    @property
    def status_http_host(self) -> str:
        return parse_host_port(self.status_http_addr)[0]

    @property
    def status_http_port(self) -> int:
        return parse_host_port(self.status_http_addr)[1]

    def with_simulator_urls(self, base_url: str) -> Settings:
        """A copy with every venue URL pointed at the built-in simulator at ``base_url``
        (``http://127.0.0.1:8080``): CLOB REST at ``/``, CLOB WS at ``/ws``, Gamma at ``/gamma``,
        Binance at ``/binance``, RTDS at ``/rtds``."""
        http = _check_url(base_url, _HTTP)
        ws = "ws" + http[len("http") :]
        urls = {
            "clob_host": http,
            "clob_ws_url": f"{ws}/ws",
            "gamma_host": f"{http}/gamma",
            "binance_ws_url": f"{ws}/binance",
            "rtds_ws_url": f"{ws}/rtds",
        }
        copy = self.model_copy(update=urls)
        copy._sources = {**self._sources, **{name.upper(): "--sim" for name in urls}}
        copy._load_warnings = self._load_warnings
        return copy

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret as it could appear in text, for log redaction: each secret's
        value, a private key's hex without ``0x``, and the path of secret URLs (their token)."""
        values: list[str] = []
        for name in SECRET_SETTINGS:
            secret: SecretStr | None = getattr(self, name.lower())
            if secret is None:
                continue
            text = secret.get_secret_value()
            values.append(text)
            if _HEX_KEY.fullmatch(text):
                values.append(text[2:])
            if "://" in text:
                parts = urlsplit(text)
                tail = parts.path.rstrip("/")
                values.extend(v for v in (tail, tail.rpartition("/")[2], parts.query) if len(v) >= 8)
        return tuple(dict.fromkeys(values))

    # ------------------------------------------------------------------ reporting
    def source_of(self, name: str) -> str:
        """Where the variable ``name`` got its value: env, credentials, .env, preset:<name>,
        default (or --sim after :meth:`with_simulator_urls`)."""
        name = name.upper()
        if name in self._sources:
            return self._sources[name]
        field = name.lower()
        if field in _RISK_FIELDS and field in self.preset.risk:
            return f"preset:{self.strategy_preset}"
        flag = field.removeprefix("enable_")
        if field.startswith("enable_") and flag in self.preset.strategies:
            return f"preset:{self.strategy_preset}"
        return "default"

    def describe(self) -> list[ConfigRow]:
        """Every setting with its effective value (secrets masked) and its source."""
        rows = []
        limits = self.risk_limits()
        for field in type(self).model_fields:
            value: object = getattr(self, field)
            if field in _RISK_FIELDS:
                value = getattr(limits, field)
            elif field.startswith("enable_"):
                value = self._effective_flag(field.removeprefix("enable_"))
            rows.append(ConfigRow(field.upper(), _display(value), self.source_of(field)))
        return rows

    def config_warnings(self) -> tuple[str, ...]:
        """Settings that load but deserve the operator's attention, one sentence each."""
        warnings = list(self._load_warnings)
        max_trade = self.risk_limits().max_trade_usd
        if max_trade < VENUE_MIN_ORDER_SHARES * HIGHEST_PRICE:
            top = (max_trade / VENUE_MIN_ORDER_SHARES).quantize(LOWEST_PRICE, rounding=ROUND_DOWN)
            warnings.append(
                f"MAX_TRADE_USD is ${max_trade}: the venue's minimum order is {VENUE_MIN_ORDER_SHARES} "
                f"shares, so orders are only possible at prices <= ${top}; at higher prices every order "
                f"is refused (MAX_TRADE_USD {VENUE_MIN_ORDER_SHARES * HIGHEST_PRICE} allows every price)"
            )
        if self.live_trading.strip() and not self.live_trading_allowed:
            warnings.append(
                f"LIVE_TRADING is set but is not exactly {LIVE_TRADING_CONFIRMATION}: live trading "
                "stays disabled"
            )
        if self.polymarket_signature_type == SignatureType.EOA and self.polymarket_funder is not None:
            warnings.append("POLYMARKET_FUNDER is ignored with POLYMARKET_SIGNATURE_TYPE=0 (EOA)")
        if not _is_loopback(self.status_http_host):
            warnings.append(
                f"STATUS_HTTP_ADDR binds {self.status_http_host}, not loopback: the status page has no "
                "authentication"
            )
        for name in ("clob_host", "clob_ws_url"):
            parts = urlsplit(getattr(self, name))
            if parts.scheme in ("http", "ws") and not _is_loopback(parts.hostname or ""):
                warnings.append(f"{name.upper()} is unencrypted ({parts.scheme}://) to a remote host")
        return tuple(warnings)


def _display(value: object) -> str:
    if value is None or value == "":
        return "(not set)"
    if isinstance(value, SecretStr):
        return "********"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, SignatureType):
        return f"{int(value)} ({_SIGNATURE_TYPE_LABELS[int(value)]})"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value) or "(none)"
    if isinstance(value, Path) and not value.is_absolute():
        return f"./{value}" if value.parts[:1] != ("..",) else str(value)
    return str(value)


_ENV_NAMES: Final = {field.upper(): field for field in Settings.model_fields}


def _read_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Values and warnings from a ``.env`` file; a missing file gives nothing."""
    if not path.is_file():
        return {}, []
    try:
        entries = DotEnvSettingsSource(Settings, env_file=path, case_sensitive=False, env_ignore_empty=True)
    except (OSError, ValueError) as exc:  # unreadable, or not UTF-8 text
        raise ConfigError([f"{path}: cannot read the settings file ({exc})"]) from None
    values: dict[str, str] = {}
    warnings: list[str] = []
    for key, value in entries.env_vars.items():
        if value is None or not value.strip():
            continue
        if key.upper() not in _ENV_NAMES:
            warnings.append(f"{path} sets {key.upper()}, which polyexec does not know (a typo?)")
            continue
        values[key.upper()] = value.strip()
    holds_secret = any(name in values for name in SECRET_SETTINGS)
    if holds_secret and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"{path} holds secrets but other users may read it: chmod 600 {path}")
    return values, warnings


def _read_credentials(environ: Mapping[str, str]) -> dict[str, str]:
    """Secrets from systemd credentials: ``$CREDENTIALS_DIRECTORY/<variable in lower case>``."""
    directory = environ.get("CREDENTIALS_DIRECTORY", "").strip()
    if not directory:
        return {}
    values: dict[str, str] = {}
    for name in SECRET_SETTINGS:
        path = Path(directory) / name.lower()
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"{name}: cannot read the credential file {path} ({exc})"]) from None
        if text:
            values[name] = text
    return values


def _scrub(message: str, raw: Mapping[str, Any]) -> str:
    """Hide anything in ``message`` that could be a secret pasted into the wrong variable."""
    for name in SECRET_SETTINGS:
        secret = str(raw.get(name, ""))
        if len(secret) >= 4:
            message = message.replace(secret, "[secret]")
    return _KEY_LIKE.sub("[hidden: looks like a private key]", message)


def _messages(error: ValidationError, raw: Mapping[str, Any]) -> list[str]:
    messages: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        if not item["loc"]:
            messages.extend(_scrub(line, raw) for line in str(item["msg"]).split("\n"))
            continue
        name = str(item["loc"][0]).upper()
        message = f"{name}: {item['msg']}"
        if name not in SECRET_SETTINGS and name in raw:
            shown = _scrub(str(raw[name]), raw)  # before truncating: a cut key would not match
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            message += f" (got {shown!r})"
        messages.append(_scrub(message, raw))
    return messages


def load_settings(env: Mapping[str, str] | None = None, env_file: Path | None = DEFAULT_ENV_FILE) -> Settings:
    """Read, merge and validate every setting.

    ``env`` is the environment to read (``os.environ`` when ``None``); ``env_file`` the settings
    file (``./.env`` by default; a missing file is skipped; ``None`` reads no file). Raises
    :class:`ConfigError` listing every problem found.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    warnings: list[str] = []
    layers: list[tuple[str, Mapping[str, str]]] = []
    if env_file is not None:
        file_values, file_warnings = _read_env_file(env_file)
        warnings.extend(file_warnings)
        layers.append((".env", file_values))
    layers.append(("credentials", _read_credentials(environ)))
    layers.append(("env", {key.upper(): value.strip() for key, value in environ.items() if value.strip()}))
    for source, values in layers:  # weakest first: later layers overwrite earlier ones
        for name, value in values.items():
            if name in _ENV_NAMES:
                raw[name] = value
                sources[name] = source
    try:
        settings = Settings(**{_ENV_NAMES[name]: value for name, value in raw.items()})
    except ValidationError as exc:
        raise ConfigError(_messages(exc, raw)) from None
    settings._sources = sources
    settings._load_warnings = tuple(warnings)
    return settings
