"""One token's ledger: average cost, who owns which shares, round trips, and replay from fills.

A :class:`TokenLedger` is the derived state of one token (one side of one Up/Down market). It is
never edited by hand: :meth:`TokenLedger.replay` builds it from the token's fills, and the
:class:`~polyexec.core.portfolio.Portfolio` replays a token whenever a fill lands out of time
order, a trade FAILS or the market settles. Replaying is what makes voiding exact: a FAILED fill
is simply left out, so everything after it is recomputed as if it had never arrived.

Accounting rules
----------------
* **Pooled average cost.** A buy adds ``price × size`` to the token's cost basis; a sell removes
  ``cost × sold / held`` (rounded to 10⁻¹² dollar; selling everything removes the exact remaining
  cost, so nothing is left behind) and realises ``proceeds − removed``. Fees are not part of the
  cost basis: they are counted apart, from :attr:`Fill.fee`, and
  ``net = realized + unrealized − fees``.
* **No shorts.** Polymarket only lets you sell shares you hold. A sell beyond the held quantity
  is a data error: the held part is sold, the excess is ignored and recorded as an
  :class:`OversoldFill`; its fee still counts.
* **Order of fills.** Fills are applied in ``(timestamp_ms, arrival)`` order
  (:attr:`FillEntry.order`), so a late report of an earlier match lands where it belongs.
* **Settlement.** :meth:`TokenLedger.settle` pays every held share the payout ($1 for the
  winning token, $0 for the losing one); the difference to the cost basis is realised and the
  position closes.
* **Matched and confirmed.** ``quantity`` counts every fill applied (matched); ``confirmed``
  counts only CONFIRMED ones, so a strategy can tell what is settled on chain.

Per-strategy attribution ("PnL follows the shares"): each strategy owns the shares its buys
added. A sell consumes the selling strategy's own shares first, then other strategies' shares in
name order; realised PnL and settlement PnL go to the owners of the shares consumed, fees to the
strategy of the fill. Amounts are split so that the parts add up exactly to the whole.

A **closed trade** is one round trip of one token: from a buy that opens a flat position until
the position is flat again, by sells or by settlement. Its PnL is the realised PnL over that
life minus every fee paid on the token during it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal
from enum import StrEnum
from typing import Final

from polyexec.core.models import ONE, ZERO, Fill, Outcome, Side, TimestampMs, TradeStatus

__all__ = [
    "DECIMAL_CONTEXT",
    "CloseReason",
    "ClosedTrade",
    "FillEntry",
    "FillKey",
    "OversoldFill",
    "Position",
    "TokenLedger",
    "VoidedFill",
    "check_mark",
    "validate_fill",
]

DECIMAL_CONTEXT: Final = Context(prec=50, rounding=ROUND_HALF_EVEN)
"""The context of every inexact step (divisions, rounding) in the portfolio's maths.

Divisions are the only inexact step; doing them at a fixed precision makes the books independent
of whatever the thread's default decimal context happens to be."""

_COST_QUANTUM: Final = Decimal("1e-12")

FillKey = tuple[str, str]
"""``(trade_id, order_id)``: what identifies a fill (one trade can fill several of our orders)."""


class CloseReason(StrEnum):
    """How a round trip ended."""

    SELL = "SELL"
    SETTLEMENT = "SETTLEMENT"


@dataclass(frozen=True, slots=True)
class Position:
    """One token's position. ``quantity`` is matched shares (every fill not FAILED)."""

    token_id: str
    condition_id: str
    category: str
    outcome: Outcome | None  # None while the market is not registered
    quantity: Decimal
    confirmed_quantity: Decimal  # net shares of CONFIRMED fills (0 after settlement)
    cost_basis: Decimal
    realized_pnl: Decimal
    fees_paid: Decimal
    settled: bool

    @property
    def is_open(self) -> bool:
        return self.quantity > 0

    @property
    def average_cost(self) -> Decimal:
        return ZERO if self.quantity == 0 else DECIMAL_CONTEXT.divide(self.cost_basis, self.quantity)

    @property
    def sellable_quantity(self) -> Decimal:
        """Shares settled on chain and not already sold by a pending trade."""
        return max(ZERO, min(self.quantity, self.confirmed_quantity))

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """``quantity × mark − cost_basis``; ``mark`` is a price in [0, 1]."""
        return self.quantity * check_mark(self.token_id, mark) - self.cost_basis


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One round trip of one token, flat to flat. ``pnl`` is net of the fees paid during it."""

    token_id: str
    condition_id: str
    opened_ms: TimestampMs
    closed_ms: TimestampMs
    realized_pnl: Decimal
    fees: Decimal
    reason: CloseReason

    @property
    def pnl(self) -> Decimal:
        return self.realized_pnl - self.fees


@dataclass(frozen=True, slots=True)
class OversoldFill:
    """A sell of more shares than the book held: ``excess`` shares were ignored."""

    trade_id: str
    order_id: str
    token_id: str
    excess: Decimal


@dataclass(frozen=True, slots=True)
class VoidedFill:
    """A fill whose trade FAILED (``fill.status`` is FAILED), and when the portfolio learnt it."""

    fill: Fill
    voided_ms: TimestampMs


@dataclass(slots=True)
class FillEntry:
    """A fill as the portfolio stores it: the latest report, and ``seq``, its arrival number.

    ``fill`` is replaced when the trade's status moves on; ``seq`` never changes, so two fills
    with the same timestamp keep the order in which they arrived.
    """

    fill: Fill
    seq: int

    @property
    def order(self) -> tuple[int, int]:
        """Where the fill belongs in its token's history: ``(timestamp_ms, seq)``."""
        return (self.fill.timestamp_ms, self.seq)


class TokenLedger:
    """Derived state of one token: rebuilt from its fills, never edited by hand.

    Attributes are read by the portfolio: ``quantity`` (matched shares), ``confirmed`` (shares of
    CONFIRMED fills), ``cost`` (pooled cost basis), ``owned`` (shares per strategy), ``realized``
    and ``fees`` (dollars per strategy), ``closed`` (round trips), ``oversold`` (sells beyond the
    holding), ``settled`` and ``last_order`` (the :attr:`FillEntry.order` of the last fill).
    """

    __slots__ = (
        "closed",
        "condition_id",
        "confirmed",
        "cost",
        "effective",
        "fees",
        "last_order",
        "opened_ms",
        "oversold",
        "owned",
        "quantity",
        "realized",
        "settled",
        "token_id",
        "trip_fees",
        "trip_realized",
    )

    def __init__(self, token_id: str, condition_id: str) -> None:
        self.token_id = token_id
        self.condition_id = condition_id
        self.quantity = ZERO
        self.cost = ZERO
        self.confirmed = ZERO
        self.owned: dict[str, Decimal] = {}
        self.realized: dict[str, Decimal] = {}
        self.fees: dict[str, Decimal] = {}
        self.effective: dict[FillKey, Decimal] = {}  # signed shares each fill really moved
        self.closed: list[ClosedTrade] = []
        self.oversold: list[OversoldFill] = []
        self.opened_ms: TimestampMs | None = None
        self.trip_realized = ZERO
        self.trip_fees = ZERO
        self.last_order: tuple[int, int] = (-(2**63), -1)
        self.settled = False

    @classmethod
    def replay(cls, token_id: str, condition_id: str, entries: Iterable[FillEntry]) -> TokenLedger:
        """A ledger built from ``entries`` (in any order): applied in :attr:`FillEntry.order`,
        FAILED ones left out. This is the one place voiding is implemented."""
        ledger = cls(token_id, condition_id)
        for entry in sorted(entries, key=lambda e: e.order):
            if entry.fill.status is not TradeStatus.FAILED:
                ledger.apply(entry.fill, entry.order)
        return ledger

    def apply(self, fill: Fill, order: tuple[int, int]) -> None:
        """Add one fill that comes after every fill applied so far (``order`` is its place)."""
        self.last_order = order
        if fill.side is Side.BUY and self.quantity == 0:
            self.opened_ms, self.trip_realized, self.trip_fees = fill.timestamp_ms, ZERO, ZERO
        self.fees[fill.strategy] = self.fees.get(fill.strategy, ZERO) + fill.fee
        if self.opened_ms is not None:
            self.trip_fees += fill.fee
        if fill.side is Side.BUY:
            self.quantity += fill.size
            self.cost += fill.price * fill.size
            self.owned[fill.strategy] = self.owned.get(fill.strategy, ZERO) + fill.size
            moved = fill.size
        else:
            moved = -self._sell(fill)
        self.effective[fill.key] = moved
        if fill.status is TradeStatus.CONFIRMED:
            self.confirmed += moved

    def confirm(self, key: FillKey) -> None:
        """An applied fill became CONFIRMED: the shares it really moved now count as confirmed."""
        if not self.settled:
            self.confirmed += self.effective.get(key, ZERO)

    def settle(self, payout: Decimal, settled_ms: TimestampMs) -> None:
        """Resolve the token: each held share pays ``payout`` dollars and the position closes."""
        if self.quantity > 0:
            for owner, shares, cost_part in _split(self.cost, sorted(self.owned.items())):
                self.realized[owner] = self.realized.get(owner, ZERO) + payout * shares - cost_part
            self.trip_realized += payout * self.quantity - self.cost
            self._close(settled_ms, CloseReason.SETTLEMENT)
        self.quantity = self.cost = self.confirmed = ZERO
        self.owned.clear()
        self.settled = True

    def cost_shares(self) -> list[tuple[str, Decimal, Decimal]]:
        """``(strategy, shares, cost)`` of an open position, by strategy name; the costs add up
        exactly to :attr:`cost`. Empty when flat."""
        return _split(self.cost, sorted(self.owned.items())) if self.quantity > 0 else []

    def _sell(self, fill: Fill) -> Decimal:
        sold = min(fill.size, self.quantity)
        if fill.size > sold:
            self.oversold.append(OversoldFill(fill.trade_id, fill.order_id, self.token_id, fill.size - sold))
        if sold == 0:
            return sold
        if sold == self.quantity:
            removed = self.cost
        else:
            removed = DECIMAL_CONTEXT.divide(DECIMAL_CONTEXT.multiply(self.cost, sold), self.quantity)
            removed = removed.quantize(_COST_QUANTUM, context=DECIMAL_CONTEXT)
        consumed = _consume(self.owned, fill.strategy, sold)
        for owner, shares, cost_part in _split(removed, consumed):
            self.realized[owner] = self.realized.get(owner, ZERO) + fill.price * shares - cost_part
        self.trip_realized += fill.price * sold - removed
        self.quantity -= sold
        self.cost -= removed
        if self.quantity == 0:
            self._close(fill.timestamp_ms, CloseReason.SELL)
        return sold

    def _close(self, closed_ms: TimestampMs, reason: CloseReason) -> None:
        opened = closed_ms if self.opened_ms is None else self.opened_ms
        trade = ClosedTrade(
            self.token_id, self.condition_id, opened, closed_ms, self.trip_realized, self.trip_fees, reason
        )
        self.closed.append(trade)
        self.opened_ms = None


def _consume(owned: dict[str, Decimal], seller: str, quantity: Decimal) -> list[tuple[str, Decimal]]:
    """Take ``quantity`` shares out of ``owned``: the seller's own first, then others by name."""
    taken: list[tuple[str, Decimal]] = []
    remaining = quantity
    for owner in [seller, *sorted(o for o in owned if o != seller)]:
        held = owned.get(owner, ZERO)
        if remaining == 0 or held <= 0:
            continue
        take = min(held, remaining)
        taken.append((owner, take))
        remaining -= take
        if take == held:
            del owned[owner]
        else:
            owned[owner] = held - take
    return taken


def _split(amount: Decimal, shares: list[tuple[str, Decimal]]) -> list[tuple[str, Decimal, Decimal]]:
    """Split ``amount`` in proportion to ``shares``; the last owner takes the rounding residue so
    the parts add up to ``amount`` exactly."""
    total = sum((q for _, q in shares), ZERO)
    parts: list[tuple[str, Decimal, Decimal]] = []
    left = amount
    for index, (owner, quantity) in enumerate(shares):
        if index == len(shares) - 1:
            part = left
        else:
            part = DECIMAL_CONTEXT.divide(DECIMAL_CONTEXT.multiply(amount, quantity), total).quantize(
                _COST_QUANTUM, context=DECIMAL_CONTEXT
            )
        parts.append((owner, quantity, part))
        left -= part
    return parts


def check_mark(token_id: str, mark: Decimal) -> Decimal:
    """``mark`` if it is a finite Decimal in [0, 1]; otherwise ``ValueError`` naming the token."""
    if not isinstance(mark, Decimal) or not mark.is_finite() or not ZERO <= mark <= ONE:
        raise ValueError(f"mark for token {token_id} must be a Decimal in [0, 1], got {mark!r}")
    return mark


def validate_fill(fill: Fill) -> None:
    """Raise ``ValueError`` naming the problem if ``fill`` cannot be booked: missing ids, a
    non-finite amount, a size that is not positive, a price outside [0, 1] or a negative fee."""
    where = f"fill trade={fill.trade_id!r} order={fill.order_id!r}"
    if not fill.trade_id or not fill.order_id or not fill.token_id or not fill.condition_id:
        raise ValueError(f"{where}: trade_id, order_id, token_id and condition_id are required")
    for name in ("price", "size", "fee"):
        value = getattr(fill, name)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise ValueError(f"{where}: {name} must be a finite Decimal, got {value!r}")
    if fill.size <= 0:
        raise ValueError(f"{where}: size must be positive, got {fill.size}")
    if not ZERO <= fill.price <= ONE:
        raise ValueError(f"{where}: price must be in [0, 1], got {fill.price}")
    if fill.fee < 0:
        raise ValueError(f"{where}: fee must not be negative, got {fill.fee}")
