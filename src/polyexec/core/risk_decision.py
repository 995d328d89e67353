"""What a risk decision is made from and what it says.

* :class:`RiskContext`: the facts outside the risk manager that one decision needs, filled by
  the engine for that decision (exposures, open orders, the token's book, the clock).
* :class:`RiskDecision`: the verdict, with a machine-readable :class:`RiskReason` (its value is
  the wire string that status, logs and alerts carry) and a detail for people.
* :class:`TradingState`: what new orders may do at all (ACTIVE, REDUCING, HALTED).

All of them are re-exported by :mod:`polyexec.core.risk`; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from typing import Final

from polyexec.core.models import Market, TimestampMs
from polyexec.core.risk_breakers import BreakerKind

__all__ = ["APPROVED", "RiskContext", "RiskDecision", "RiskReason", "TradingState", "deny"]


class TradingState(StrEnum):
    """What new orders may do (NautilusTrader's ``TradingState``). Cancels pass in every state."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"  # only risk-reducing orders
    HALTED = "HALTED"  # no new orders


class RiskReason(StrEnum):
    """Machine-readable reason of a :class:`RiskDecision`; ``APPROVED`` is the only approval."""

    APPROVED = "APPROVED"
    KILL_SWITCH = "KILL_SWITCH"
    HALTED = "HALTED"
    INVALID_INTENT = "INVALID_INTENT"
    REDUCING_ONLY = "REDUCING_ONLY"
    COOLDOWN_CACHED = "COOLDOWN_CACHED"
    CIRCUIT_BREAKER_LOSS_WINDOW = "CIRCUIT_BREAKER:LOSS_WINDOW"
    CIRCUIT_BREAKER_CONSECUTIVE_REJECTS = "CIRCUIT_BREAKER:CONSECUTIVE_REJECTS"
    CIRCUIT_BREAKER_API_UNHEALTHY = "CIRCUIT_BREAKER:API_UNHEALTHY"
    CIRCUIT_BREAKER_DRAWDOWN = "CIRCUIT_BREAKER:DRAWDOWN"
    OUTSIDE_TIME_WINDOW = "OUTSIDE_TIME_WINDOW"
    LOSS_LIMIT_DAY = "LOSS_LIMIT:DAY"
    LOSS_LIMIT_HOUR = "LOSS_LIMIT:HOUR"
    CONSECUTIVE_LOSSES = "CONSECUTIVE_LOSSES"
    OPEN_ORDERS_LIMIT = "OPEN_ORDERS_LIMIT"
    TRADE_SIZE_LIMIT = "TRADE_SIZE_LIMIT"
    LOSS_LIMIT_TRADE = "LOSS_LIMIT:TRADE"
    EXPOSURE_LIMIT = "EXPOSURE_LIMIT"
    CATEGORY_EXPOSURE_LIMIT = "CATEGORY_EXPOSURE_LIMIT"
    MARKET_EXPOSURE_LIMIT = "MARKET_EXPOSURE_LIMIT"
    WINDOW_LIMIT = "WINDOW_LIMIT"
    BOOK_UNTRUSTED = "BOOK_UNTRUSTED"
    INSUFFICIENT_DEPTH = "INSUFFICIENT_DEPTH"
    SPREAD_TOO_WIDE = "SPREAD_TOO_WIDE"
    SLIPPAGE_TOO_HIGH = "SLIPPAGE_TOO_HIGH"

    @classmethod
    def for_breaker(cls, kind: BreakerKind) -> RiskReason:
        """The ``CIRCUIT_BREAKER:<kind>`` reason of a denial by breaker ``kind``."""
        return cls(f"CIRCUIT_BREAKER:{kind}")


@dataclass(frozen=True, slots=True)
class RiskDecision:
    """The verdict on one intent: ``reason`` for machines, ``detail`` for people."""

    approved: bool
    reason: RiskReason
    detail: str = ""


APPROVED: Final = RiskDecision(True, RiskReason.APPROVED, "approved")
"""The decision for an order that passed every check."""


def deny(reason: RiskReason, detail: str) -> RiskDecision:
    """A denial for ``reason``; ``detail`` says what was wrong, with the numbers."""
    return RiskDecision(False, reason, detail)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskContext:
    """Everything outside the risk manager that one decision needs, filled by the engine.

    Every field is required on purpose: a forgotten exposure must not default to zero. Dollar
    amounts count open positions **including matched-but-unconfirmed fills** plus the notional
    of open BUY orders (they may fill). Construction raises ``ValueError`` naming the field for
    a negative or non-finite number.
    """

    market: Market
    """The market of the intent's token."""
    now_ms: TimestampMs
    position_shares: Decimal
    """Shares of the intent's token held (matched fills included)."""
    open_sell_shares: Decimal
    """Shares of the intent's token already offered by our open SELL orders."""
    total_exposure_usd: Decimal
    market_exposure_usd: Decimal
    """Exposure in this market (both tokens)."""
    category_exposure_usd: Decimal
    """Exposure in every market of this market's category (asset)."""
    window_bought_usd: Decimal
    """Notional bought in this market's window so far, plus its open BUY orders."""
    open_orders: int
    """Our open orders on the venue (all markets), in-flight ones included."""
    book_trusted: bool
    """False when the token's book is missing, stale or awaiting a fresh snapshot."""
    best_bid: Decimal | None
    best_ask: Decimal | None
    bid_depth_usd: Decimal
    ask_depth_usd: Decimal
    est_slippage_pct: Decimal
    """Estimated slippage of this order walking the book, in percent of the touch (0 if it rests)."""

    def __post_init__(self) -> None:
        # One context per intent on the hot path: the field names are listed once (below the
        # class), not asked of dataclasses.fields() on every construction.
        for name in _RISK_CONTEXT_FIELDS:
            value = getattr(self, name)
            kind = type(value)
            if kind is Decimal:  # the common cases first, without isinstance on a union
                if not value.is_finite():
                    raise ValueError(f"RiskContext.{name} must be finite (got {value})")
                if value < 0:
                    raise ValueError(f"RiskContext.{name} must not be negative (got {value})")
                continue
            if kind is int:
                if value < 0:
                    raise ValueError(f"RiskContext.{name} must not be negative (got {value})")
                continue
            if isinstance(value, bool) or value is None or isinstance(value, Market):
                continue
            if isinstance(value, Decimal) and not value.is_finite():
                raise ValueError(f"RiskContext.{name} must be finite (got {value})")
            if isinstance(value, int | Decimal) and value < 0:
                raise ValueError(f"RiskContext.{name} must not be negative (got {value})")


_RISK_CONTEXT_FIELDS: Final = tuple(spec.name for spec in fields(RiskContext))
