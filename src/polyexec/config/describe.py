"""What ``polyexec config`` shows: every setting's effective value and source, and the warnings.

:meth:`Settings.describe <polyexec.config.Settings.describe>` and
:meth:`Settings.config_warnings <polyexec.config.Settings.config_warnings>` are the entry points;
this module builds their answers. Values are shown as an operator would type them in ``.env``
(``true``, ``0.05``, ``btc,eth``), never a secret: every :class:`~pydantic.SecretStr` shows as
``********``.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from pydantic import SecretStr

from polyexec.config.checks import (
    HIGHEST_PRICE,
    LIVE_TRADING_CONFIRMATION,
    LOWEST_PRICE,
    SIGNATURE_TYPE_LABELS,
    VENUE_MIN_ORDER_SHARES,
    is_loopback,
)
from polyexec.config.presets import RISK_FIELDS
from polyexec.core.models import SignatureType

if TYPE_CHECKING:  # settings.py imports this module: only the type checker may go the other way
    from polyexec.config.settings import Settings

__all__ = ["ConfigRow", "describe_settings", "display_value", "settings_warnings"]


class ConfigRow(NamedTuple):
    """One line of ``polyexec config``: variable, effective value (secrets masked), source."""

    name: str
    value: str
    source: str


def describe_settings(settings: Settings) -> list[ConfigRow]:
    """Every setting of ``settings`` in declaration order, with its effective value (risk limits
    and strategy flags after the preset is applied) and where that value came from."""
    rows = []
    limits = settings.risk_limits()
    flags = settings.strategy_flags()
    for field in type(settings).model_fields:
        value: object = getattr(settings, field)
        if field in RISK_FIELDS:
            value = getattr(limits, field)
        elif field.startswith("enable_"):
            value = getattr(flags, field.removeprefix("enable_"))
        rows.append(ConfigRow(field.upper(), display_value(value), settings.source_of(field)))
    return rows


def display_value(value: object) -> str:
    """``value`` as ``polyexec config`` shows it: secrets masked, unset as ``(not set)``."""
    if value is None or value == "":
        return "(not set)"
    if isinstance(value, SecretStr):
        return "********"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, SignatureType):
        return f"{int(value)} ({SIGNATURE_TYPE_LABELS[int(value)]})"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value) or "(none)"
    if isinstance(value, Path) and not value.is_absolute():
        return f"./{value}" if value.parts[:1] != ("..",) else str(value)
    return str(value)


def settings_warnings(settings: Settings) -> list[str]:
    """Values that load but deserve the operator's attention, one sentence each: trades too small
    for the venue's minimum order at some prices, a mistyped live-trading phrase, a funder that is
    ignored, a status page reachable from other hosts, unencrypted venue connections."""
    warnings: list[str] = []
    max_trade = settings.risk_limits().max_trade_usd
    if max_trade < VENUE_MIN_ORDER_SHARES * HIGHEST_PRICE:
        top = (max_trade / VENUE_MIN_ORDER_SHARES).quantize(LOWEST_PRICE, rounding=ROUND_DOWN)
        warnings.append(
            f"MAX_TRADE_USD is ${max_trade}: the venue's minimum order is {VENUE_MIN_ORDER_SHARES} "
            f"shares, so orders are only possible at prices <= ${top}; at higher prices every order "
            f"is refused (MAX_TRADE_USD {VENUE_MIN_ORDER_SHARES * HIGHEST_PRICE} allows every price)"
        )
    if settings.live_trading.strip() and not settings.live_trading_allowed:
        warnings.append(
            f"LIVE_TRADING is set but is not exactly {LIVE_TRADING_CONFIRMATION}: live trading stays disabled"
        )
    if settings.polymarket_signature_type == SignatureType.EOA and settings.polymarket_funder is not None:
        warnings.append("POLYMARKET_FUNDER is ignored with POLYMARKET_SIGNATURE_TYPE=0 (EOA)")
    if not is_loopback(settings.status_http_host):
        warnings.append(
            f"STATUS_HTTP_ADDR binds {settings.status_http_host}, not loopback: the status page has no "
            "authentication"
        )
    for name in ("clob_host", "clob_ws_url"):
        parts = urlsplit(getattr(settings, name))
        if parts.scheme in ("http", "ws") and not is_loopback(parts.hostname or ""):
            warnings.append(f"{name.upper()} is unencrypted ({parts.scheme}://) to a remote host")
    return warnings
