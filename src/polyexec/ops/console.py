"""The console status line: one line an operator can read at a glance, from the engine's status.

:func:`status_line` renders the dictionary the engine's ``get_status()`` returns (this module
never imports the engine: it reads plain data)::

    polyexec paper | RUNNING | up 0:05:00 | trades 3 (fills 7) | net PnL +$0.42 | positions 1
    | open orders 2 | risk ACTIVE

(one line on the console; folded here).

Missing or malformed fields show as ``?`` rather than failing: a status line must never be the
thing that crashes a daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["format_duration", "format_usd", "status_line"]


def format_duration(seconds: object) -> str:
    """``H:MM:SS`` (days shown as ``Nd H:MM:SS``); ``?`` for anything but a non-negative number."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        return "?"
    total = int(seconds)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{days}d {clock}" if days else clock


def format_usd(amount: object, *, signed: bool = True) -> str:
    """``+$1.23`` / ``-$0.40`` (cents, half-up); ``?`` for anything that is not a finite amount."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return "?"
    if not value.is_finite():
        return "?"
    cents = abs(value).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    sign = ("-" if value < 0 else "+") if signed else ("-" if value < 0 else "")
    return f"{sign}${cents}"


def _net_pnl(pnl: Mapping[str, Any]) -> object:
    try:
        parts = [Decimal(str(pnl[key])) for key in ("realized_pnl", "unrealized_pnl", "fees_paid")]
    except (KeyError, InvalidOperation, ValueError, TypeError):
        return None
    realized, unrealized, fees = parts
    return realized + unrealized - fees


def status_line(status: Mapping[str, Any]) -> str:
    """One line: mode, engine state, uptime, trades, net PnL, open positions and orders, risk."""
    pnl = status.get("pnl")
    net = _net_pnl(pnl) if isinstance(pnl, Mapping) else None
    risk = status.get("risk")
    risk_state = "?"
    if isinstance(risk, Mapping):
        risk_state = str(risk.get("trading_state", "?"))
        breakers = risk.get("breakers")
        if isinstance(breakers, Mapping):
            tripped = [
                str(kind)
                for kind, state in breakers.items()
                if isinstance(state, Mapping) and state.get("tripped")
            ]
            if tripped:
                risk_state += f" (breakers: {', '.join(tripped)})"
        kill = risk.get("kill_switch")
        if isinstance(kill, Mapping) and kill.get("engaged"):
            risk_state += " KILL SWITCH"
    orders = status.get("orders")
    fills = orders.get("fills", "?") if isinstance(orders, Mapping) else "?"
    fields = [
        f"polyexec {status.get('mode', '?')}",
        str(status.get("state", "?")),
        f"up {format_duration(status.get('uptime_s'))}",
        f"trades {status.get('trades', '?')} (fills {fills})",
        f"net PnL {format_usd(net)}",
        f"positions {status.get('open_positions', '?')}",
        f"open orders {status.get('open_orders', '?')}",
        f"risk {risk_state}",
    ]
    return " | ".join(fields)
