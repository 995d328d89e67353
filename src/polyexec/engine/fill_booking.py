"""Fills into the portfolio, and what they change reported to the risk manager.

:class:`FillBooking` is the order manager's link between venue fills and money. It books each fill
of ours in the :class:`~polyexec.core.portfolio.Portfolio` (a new fill, a status change, a void)
and, after every change, tells the :class:`~polyexec.core.risk.RiskManager` what moved:

* the change of **net realised PnL** (realised PnL less fees: a fee is money gone, a sell or a
  settlement realises, a void takes back what its fill had done) →
  :meth:`~polyexec.core.risk.RiskManager.record_realized_pnl`;
* each new **closed round trip** (flat to flat, by sells or settlement) →
  :meth:`~polyexec.core.risk.RiskManager.record_trade_result` with its PnL net of fees;
* the **equity**, when an ``equity_of`` callable is given (cash plus positions at mark: only the
  engine knows both) → :meth:`~polyexec.core.risk.RiskManager.update_equity`.

Refusals (a malformed fill, a token that belongs to another market, a settlement contradicting an
earlier one) are counted and logged, never raised: the venue's data must not crash the daemon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

from polyexec.core.models import ZERO, Fill, Market, Outcome, TimestampMs
from polyexec.core.portfolio import ClosedTrade, FillChange, Portfolio
from polyexec.core.risk import RiskManager
from polyexec.logging_setup import get_logger

__all__ = ["FillBooking"]

_log = get_logger(module=__name__)


class FillBooking:
    """Books fills and settlements in ``portfolio`` and reports their effect to ``risk``.

    Counters: :attr:`fills` (new fills booked), :attr:`voided` (fills voided by a FAILED trade),
    :attr:`errors` (refusals of the portfolio).
    """

    def __init__(
        self,
        portfolio: Portfolio,
        risk: RiskManager,
        *,
        equity_of: Callable[[], Decimal | None] | None = None,
    ) -> None:
        self.portfolio = portfolio
        self.risk = risk
        self._equity_of = equity_of
        self._net_realized = portfolio.realized_pnl - portfolio.fees_paid
        self._closed_seen = {_closed_key(trade) for trade in portfolio.closed_trades}
        self.fills = 0
        self.voided = 0
        self.errors = 0

    def register_market(self, market: Market, now_ms: TimestampMs) -> None:
        """Make the market known to the portfolio (idempotent); a conflict is logged."""
        try:
            self.portfolio.register_market(market, now_ms)
        except ValueError as exc:
            self.errors += 1
            _log.error("market_refused_by_portfolio", condition_id=market.condition_id, error=str(exc))

    def book(self, fill: Fill, *, strategy: str, now_ms: TimestampMs) -> FillChange | None:
        """Book one fill (``strategy``: its order's, when the fill names none). Returns what the
        portfolio did, ``None`` if it refused the fill. Call :meth:`report` after a batch."""
        if not fill.strategy:
            fill = replace(fill, strategy=strategy)
        try:
            change = self.portfolio.apply_fill(fill, now_ms)
        except ValueError as exc:
            self.errors += 1
            _log.error(
                "fill_refused_by_portfolio", trade_id=fill.trade_id, order_id=fill.order_id, error=str(exc)
            )
            return None
        if change is FillChange.ADDED:
            self.fills += 1
        elif change is FillChange.VOIDED:
            self.voided += 1
            _log.warning(
                "fill_voided",
                trade_id=fill.trade_id,
                order_id=fill.order_id,
                token_id=fill.token_id,
                size=str(fill.size),
                price=str(fill.price),
            )
        return change

    def settle(self, condition_id: str, winner: Outcome, now_ms: TimestampMs) -> Decimal:
        """Settle a market in the portfolio and report; the PnL realised now (zero when already
        settled, or refused: a market never registered, an outcome contradicting an earlier one)."""
        try:
            pnl = self.portfolio.settle_market(condition_id, winner, now_ms)
        except ValueError as exc:
            self.errors += 1
            _log.warning("settle_refused", condition_id=condition_id, winner=str(winner), error=str(exc))
            return ZERO
        self.report(now_ms)
        return pnl

    def report(self, now_ms: TimestampMs) -> None:
        """Tell the risk manager what changed since the last report (see the module docs)."""
        net = self.portfolio.realized_pnl - self.portfolio.fees_paid
        delta, self._net_realized = net - self._net_realized, net
        if delta:
            self.risk.record_realized_pnl(delta, now_ms)
        closed = self.portfolio.closed_trades
        for trade in closed:
            if _closed_key(trade) not in self._closed_seen:
                self.risk.record_trade_result(trade.pnl, now_ms)
        # Archived trades drop out of the portfolio's list, and so out of this set: bounded.
        self._closed_seen = {_closed_key(trade) for trade in closed}
        if delta and self._equity_of is not None:
            equity = self._equity_of()
            if equity is not None:
                self.risk.update_equity(equity, now_ms)


def _closed_key(trade: ClosedTrade) -> tuple[str, int, int, str]:
    return (trade.token_id, trade.opened_ms, trade.closed_ms, trade.reason.value)
