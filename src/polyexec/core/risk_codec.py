"""The risk manager's persistent state, its JSON-safe form, and its status snapshot.

:class:`RiskState` is everything a :class:`~polyexec.core.risk.RiskManager` must remember across
a restart: trading state, kill switch latch, circuit breakers, loss counters and venue
cooldowns. :func:`encode_risk_state` turns it into plain JSON values (amounts as strings, never
floats); :func:`decode_risk_state` reads them back and refuses anything malformed with a
``ValueError`` naming the first bad entry: a corrupt risk state must stop startup, not be
guessed at. :func:`render_status` is the JSON-ready snapshot behind
:meth:`RiskManager.status <polyexec.core.risk.RiskManager.status>`.

Layout, version 1 (key order as written)::

    {"version": 1,
     "trading_state": [state, reason, since_ms | null],
     "kill_switch": [reason, since_ms] | null,
     "breakers": {kind: [until_ms | null, tripped_at_ms | null, reason], ...},
     "pnl_events": [[ts_ms, "pnl"], ...],
     "day": [day_index | null, "day pnl", loss_streak],
     "reject_streak": int,
     "api_unhealthy_since_ms": int | null,
     "equity": ["peak" | null, "last" | null],
     "cooldowns": {token_id: [until_ms, reason], ...}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from polyexec.core.models import TimestampMs
from polyexec.core.records import (
    decimal_from_record,
    optional_decimal_from_record,
    optional_decimal_to_record,
)
from polyexec.core.risk_breakers import BreakerKind, BreakerTrip, CircuitBreakers, VenueCooldowns
from polyexec.core.risk_decision import TradingState
from polyexec.core.risk_limits import RiskLimits
from polyexec.core.risk_losses import LossTracker

__all__ = ["RISK_STATE_VERSION", "RiskState", "decode_risk_state", "encode_risk_state", "render_status"]

RISK_STATE_VERSION: Final = 1
"""The version :func:`encode_risk_state` writes and the only one :func:`decode_risk_state` reads."""


@dataclass(slots=True)
class RiskState:
    """Everything a risk manager persists. The manager owns it and changes it in place."""

    breakers: CircuitBreakers
    losses: LossTracker = field(default_factory=LossTracker)
    cooldowns: VenueCooldowns = field(default_factory=VenueCooldowns)
    trading_state: TradingState = TradingState.ACTIVE
    trading_state_reason: str = ""
    trading_state_since_ms: int | None = None
    kill_switch: tuple[str, int] | None = None
    """``(reason, engaged at ms)`` while the latch is engaged."""


def encode_risk_state(state: RiskState) -> dict[str, Any]:
    """``state`` as JSON-ready values (amounts as strings); :func:`decode_risk_state` reverses it."""
    breakers, losses = state.breakers, state.losses
    return {
        "version": RISK_STATE_VERSION,
        "trading_state": [str(state.trading_state), state.trading_state_reason, state.trading_state_since_ms],
        "kill_switch": None if state.kill_switch is None else list(state.kill_switch),
        "breakers": {
            str(kind): [trip.until_ms, trip.tripped_at_ms, trip.reason]
            for kind, trip in breakers.trips.items()
        },
        "pnl_events": [[ts, str(amount)] for ts, amount in losses.events],
        "day": [losses.day, str(losses.day_pnl), losses.streak],
        "reject_streak": breakers.reject_streak,
        "api_unhealthy_since_ms": breakers.api_unhealthy_since_ms,
        "equity": [
            optional_decimal_to_record(breakers.peak_equity),
            optional_decimal_to_record(breakers.last_equity),
        ],
        "cooldowns": {token: [until, why] for token, (until, why) in state.cooldowns.entries.items()},
    }


def decode_risk_state(limits: RiskLimits, data: dict[str, Any]) -> RiskState:
    """Rebuild a state from :func:`encode_risk_state` output, for a manager enforcing ``limits``.
    Raises ``ValueError`` ("invalid risk state: ...") naming the first malformed entry."""
    try:
        return _decode(limits, data)
    except (KeyError, TypeError, IndexError, AttributeError, ArithmeticError, ValueError) as exc:
        raise ValueError(f"invalid risk state: {type(exc).__name__}: {exc}") from None


def render_status(
    state: RiskState, now_ms: TimestampMs, decisions: Mapping[str, int], cancels: int
) -> dict[str, Any]:
    """A JSON-ready snapshot of ``state`` at ``now_ms`` (amounts as strings), with the counts of
    order decisions by reason and of cancels. Expired breakers and cooldowns are not shown."""
    breakers, losses = state.breakers, state.losses
    breaker_status = {}
    for kind in breakers.trips:
        tripped = breakers.is_tripped(kind, now_ms)
        breaker_status[str(kind)] = {
            "tripped": tripped,
            "until_ms": breakers.until_ms(kind, now_ms),
            "reason": breakers.reason(kind, now_ms) if tripped else "",
        }
    kill = state.kill_switch
    return {
        "trading_state": str(state.trading_state),
        "trading_state_reason": state.trading_state_reason,
        "trading_state_since_ms": state.trading_state_since_ms,
        "kill_switch": {
            "engaged": kill is not None,
            "reason": kill[0] if kill else "",
            "since_ms": kill[1] if kill else None,
        },
        "breakers": breaker_status,
        "losses": {
            "day_loss_usd": str(losses.day_loss(now_ms)),
            "hour_loss_usd": str(losses.hour_loss(now_ms)),
            "consecutive_losses": losses.loss_streak(now_ms),
            "consecutive_rejects": breakers.reject_streak,
        },
        "equity": {
            "peak_usd": optional_decimal_to_record(breakers.peak_equity),
            "last_usd": optional_decimal_to_record(breakers.last_equity),
            "drawdown_pct": str(breakers.drawdown_pct()),
        },
        "api_unhealthy_since_ms": breakers.api_unhealthy_since_ms,
        "cooldowns": {
            token: {"until_ms": until, "reason": why}
            for token, (until, why) in state.cooldowns.entries.items()
            if until > now_ms
        },
        "decisions": {str(reason): count for reason, count in decisions.items()},
        "cancels": cancels,
    }


def _decode(limits: RiskLimits, data: dict[str, Any]) -> RiskState:
    # Entries are read in layout order, so the error names the first bad one.
    if data.get("version") != RISK_STATE_VERSION:
        raise ValueError(f"unsupported version {data.get('version')!r}")
    state = RiskState(CircuitBreakers(limits))
    trading_state, state_reason, state_since = data["trading_state"]
    state.trading_state = TradingState(trading_state)
    state.trading_state_reason = str(state_reason)
    state.trading_state_since_ms = _opt_int(state_since, "trading_state.since_ms")
    kill = data["kill_switch"]
    if kill is not None:
        state.kill_switch = (str(kill[0]), _required_int(kill[1], "kill_switch.since_ms"))
    breakers = state.breakers
    for kind in BreakerKind:
        until, tripped_at, reason = data["breakers"][str(kind)]
        breakers.trips[kind] = BreakerTrip(
            until_ms=_opt_int(until, f"breakers.{kind}.until_ms"),
            tripped_at_ms=_opt_int(tripped_at, f"breakers.{kind}.tripped_at_ms"),
            reason=str(reason),
        )
    losses = state.losses
    for index, (ts, amount) in enumerate(data["pnl_events"]):
        name = f"pnl_events[{index}]"
        losses.events.append((_required_int(ts, name), decimal_from_record(amount, name)))
    day, day_pnl, streak = data["day"]
    losses.day = _opt_int(day, "day.index")
    losses.day_pnl = decimal_from_record(day_pnl, "day.pnl")
    losses.streak = _required_int(streak, "day.loss_streak")
    breakers.reject_streak = _required_int(data["reject_streak"], "reject_streak")
    breakers.api_unhealthy_since_ms = _opt_int(data["api_unhealthy_since_ms"], "api_unhealthy_since_ms")
    peak, last = data["equity"]
    breakers.peak_equity = optional_decimal_from_record(peak, "equity.peak")
    breakers.last_equity = optional_decimal_from_record(last, "equity.last")
    for token, (until, why) in data["cooldowns"].items():
        state.cooldowns.entries[str(token)] = (_required_int(until, f"cooldowns.{token}"), str(why))
    return state


def _opt_int(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer or null (got {value!r})")
    return value


def _required_int(value: object, name: str) -> int:
    result = _opt_int(value, name)
    if result is None:
        raise ValueError(f"{name} is missing")
    return result
