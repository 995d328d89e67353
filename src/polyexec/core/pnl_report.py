"""PnL tallies and the reports built from them: per-strategy PnL, win/loss statistics, the totals
of archived markets, the operator's summary text and the JSON-safe status snapshot.

The figures themselves come from a :class:`~polyexec.core.portfolio.Portfolio`; this module
decides how they add up and how they are shown. :meth:`Portfolio.summary_text
<polyexec.core.portfolio.Portfolio.summary_text>` and :meth:`Portfolio.snapshot
<polyexec.core.portfolio.Portfolio.snapshot>` call :func:`summary_text` and :func:`snapshot`.

Statistics count closed trades (:class:`~polyexec.core.position_ledger.ClosedTrade`): a
positive PnL is a win, a negative one a loss, zero a breakeven, which the win rate leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Final

from polyexec.core.models import ZERO
from polyexec.core.position_ledger import DECIMAL_CONTEXT, ClosedTrade, Position, TokenLedger

if TYPE_CHECKING:
    # Only for annotations: the portfolio imports this module to delegate its reports to it.
    from polyexec.core.portfolio import Portfolio

__all__ = ["ArchiveTotals", "StrategyPnl", "TradeStats", "snapshot", "summary_text"]

_CENT: Final = Decimal("0.01")
_TENTH: Final = Decimal("0.1")
_HUNDRED: Final = Decimal(100)


@dataclass(frozen=True, slots=True)
class StrategyPnl:
    """One strategy's share of the book's PnL, in dollars."""

    realized: Decimal = ZERO
    unrealized: Decimal = ZERO
    fees: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.realized + self.unrealized - self.fees


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Win/loss statistics over closed trades. ``average_loss`` is a positive magnitude."""

    wins: int = 0
    losses: int = 0
    breakeven: int = 0
    total_win: Decimal = ZERO
    total_loss: Decimal = ZERO  # positive magnitude

    @property
    def closed(self) -> int:
        return self.wins + self.losses + self.breakeven

    @property
    def win_rate(self) -> Decimal:
        """Wins / (wins + losses), as a fraction; zero when nothing has been won or lost."""
        decided = self.wins + self.losses
        return ZERO if decided == 0 else DECIMAL_CONTEXT.divide(Decimal(self.wins), Decimal(decided))

    @property
    def average_win(self) -> Decimal:
        return ZERO if self.wins == 0 else DECIMAL_CONTEXT.divide(self.total_win, Decimal(self.wins))

    @property
    def average_loss(self) -> Decimal:
        return ZERO if self.losses == 0 else DECIMAL_CONTEXT.divide(self.total_loss, Decimal(self.losses))

    def with_trade(self, trade: ClosedTrade) -> TradeStats:
        """These statistics with one more closed trade counted."""
        pnl = trade.pnl
        if pnl > 0:
            return replace(self, wins=self.wins + 1, total_win=self.total_win + pnl)
        if pnl < 0:
            return replace(self, losses=self.losses + 1, total_loss=self.total_loss - pnl)
        return replace(self, breakeven=self.breakeven + 1)


@dataclass(slots=True)
class ArchiveTotals:
    """Running totals of markets whose fills have been forgotten (see
    :meth:`Portfolio.archive_settled_markets
    <polyexec.core.portfolio.Portfolio.archive_settled_markets>`): realised PnL and fees per
    strategy, statistics of their closed trades and how many oversold fills they had."""

    realized: dict[str, Decimal] = field(default_factory=dict)
    fees: dict[str, Decimal] = field(default_factory=dict)
    stats: TradeStats = field(default_factory=TradeStats)
    oversold: int = 0

    def fold(self, ledger: TokenLedger) -> None:
        """Add a token's ledger to the totals, before the portfolio forgets it."""
        for name, amount in ledger.realized.items():
            self.realized[name] = self.realized.get(name, ZERO) + amount
        for name, amount in ledger.fees.items():
            self.fees[name] = self.fees.get(name, ZERO) + amount
        for trade in ledger.closed:
            self.stats = self.stats.with_trade(trade)
        self.oversold += len(ledger.oversold)


def summary_text(portfolio: Portfolio, marks: Mapping[str, Decimal]) -> str:
    """The operator's PnL summary of ``portfolio``, open positions valued at ``marks``.

    Amounts are rounded to the cent half-up (ties away from zero), each from its exact value, so
    the shown Net may differ by a cent from the shown parts. The win rate counts wins and losses
    (breakevens excluded). Strategies are sorted by name; fills without a strategy show as
    ``(none)``::

        === PnL Summary ===
        Realized: $1.00
        Unrealized: $2.60
        Fees: $0.42
        Net: $3.18
        Win Rate: 50.0% (1W / 1L)
        Avg Win: $1.35 | Avg Loss: $0.70
        --- By Strategy ---
          FF: R=-$0.50 U=$3.00
          MM: R=$1.50 U=-$0.40
    """
    realized, fees = portfolio.realized_pnl, portfolio.fees_paid
    unrealized = portfolio.unrealized_pnl(marks)
    stats = portfolio.trade_stats()
    rate = (stats.win_rate * _HUNDRED).quantize(_TENTH, rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT)
    lines = [
        "=== PnL Summary ===",
        f"Realized: {_money(realized)}",
        f"Unrealized: {_money(unrealized)}",
        f"Fees: {_money(fees)}",
        f"Net: {_money(realized + unrealized - fees)}",
        f"Win Rate: {rate:f}% ({stats.wins}W / {stats.losses}L)",
        f"Avg Win: {_money(stats.average_win)} | Avg Loss: {_money(stats.average_loss)}",
        "--- By Strategy ---",
    ]
    for name, pnl in portfolio.strategy_pnl(marks).items():
        lines.append(f"  {name or '(none)'}: R={_money(pnl.realized)} U={_money(pnl.unrealized)}")
    return "\n".join(lines)


def snapshot(portfolio: Portfolio, marks: Mapping[str, Decimal] | None = None) -> dict[str, Any]:
    """A JSON-safe status summary of ``portfolio`` (amounts as decimal strings) for status and
    health output. Open positions carry every :class:`Position` field plus ``unrealized_pnl``,
    ``None`` for a position without a mark."""
    marks = marks or {}
    realized, fees = portfolio.realized_pnl, portfolio.fees_paid
    unrealized = portfolio.unrealized_pnl(marks)
    stats = portfolio.trade_stats()
    exposure = portfolio.exposure()
    return {
        "realized_pnl": str(realized),
        "unrealized_pnl": str(unrealized),
        "fees_paid": str(fees),
        "net_pnl": str(realized + unrealized - fees),
        "exposure_total": str(exposure.total),
        "exposure_by_category": {k: str(v) for k, v in sorted(exposure.by_category.items())},
        "open_positions": [_position_status(p, marks) for p in portfolio.positions(open_only=True)],
        "closed_trades": stats.closed,
        "wins": stats.wins,
        "losses": stats.losses,
        "win_rate": str(stats.win_rate),
        "voided_fills": portfolio.voided_count,
        "oversold_fills": portfolio.oversold_count,
        "ignored_reports": portfolio.ignored_count,
        "pending_fills": portfolio.pending_fill_count,
        "last_update_ms": portfolio.last_update_ms,
    }


def _position_status(position: Position, marks: Mapping[str, Decimal]) -> dict[str, Any]:
    """One open position for :func:`snapshot`, in :class:`Position` field order."""
    unrealized = position.unrealized_pnl(marks[position.token_id]) if position.token_id in marks else None
    return {
        "token_id": position.token_id,
        "condition_id": position.condition_id,
        "category": position.category,
        "outcome": None if position.outcome is None else position.outcome.value,
        "quantity": str(position.quantity),
        "confirmed_quantity": str(position.confirmed_quantity),
        "cost_basis": str(position.cost_basis),
        "realized_pnl": str(position.realized_pnl),
        "fees_paid": str(position.fees_paid),
        "settled": position.settled,
        "unrealized_pnl": None if unrealized is None else str(unrealized),
    }


def _money(amount: Decimal) -> str:
    """Dollars to the cent, ties rounded half-up (away from zero): ``$1.23`` / ``-$1.23``."""
    cents = amount.quantize(_CENT, rounding=ROUND_HALF_UP, context=DECIMAL_CONTEXT)
    return f"-${-cents:f}" if cents < 0 else f"${abs(cents):f}"
