"""Where each proposal of a decision pass goes: through the risk manager to the intent sink.

:class:`IntentRouter` is the second half of a decision pass (the first builds the context and asks
the strategies, :mod:`polyexec.engine.tick_processor`). For each proposal, as soon as its
strategy returns it:

* an :class:`~polyexec.core.models.OrderIntent` is denied ``UNKNOWN_MARKET`` for a market the
  processor does not track, and ``NOT_TRADABLE`` when it adds risk on a market the engine's gate
  closes (a risk-reducing SELL still goes on: reductions are allowed while a market is closed to
  new risk, and the risk manager has its own say). Otherwise it gets its
  :class:`~polyexec.core.risk.RiskContext` (:func:`~polyexec.engine.risk_inputs.build_risk_context`)
  and :meth:`RiskManager.evaluate <polyexec.core.risk.RiskManager.evaluate>`. Approved, it goes
  to :meth:`IntentSink.submit` with a reference price for slippage accounting: the touch it would
  take (best ask for a BUY, best bid for a SELL), else the model's fair price of the token. A
  denial is counted by reason and logged at debug level, throttled per reason;
* a :class:`~polyexec.core.models.CancelIntent` goes through ``evaluate_cancel`` (always approved)
  to :meth:`IntentSink.cancel`.

The sink (the order manager) registers each order before ``submit`` returns, so the next intent's
risk context already counts it. A sink that raises, or answers ``None`` to a submit (the order
could not be built; the sink logged why), is counted; nothing here raises for what a strategy
proposed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Final, Protocol

from structlog.typing import FilteringBoundLogger

from polyexec.core.models import ZERO, CancelIntent, Market, OrderIntent, Side, TimestampMs
from polyexec.core.order_book import OrderBook
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import Portfolio
from polyexec.core.risk import RiskManager
from polyexec.core.risk_checks import is_risk_reducing
from polyexec.engine.risk_inputs import build_risk_context
from polyexec.strategies.context import Holding, Proposal

__all__ = [
    "NOT_TRADABLE",
    "RISK_INPUT_ERROR",
    "UNKNOWN_MARKET",
    "IntentRouter",
    "IntentSink",
    "PassTally",
    "ThrottledLog",
]

UNKNOWN_MARKET: Final = "UNKNOWN_MARKET"
"""Denial: the intent names a market the tick processor does not track."""
NOT_TRADABLE: Final = "NOT_TRADABLE"
"""Denial: the intent adds risk on a market the engine's gate closes to new orders."""
RISK_INPUT_ERROR: Final = "RISK_INPUT_ERROR"
"""Denial: the risk context could not be built (a number out of range upstream: a bug)."""


class IntentSink(Protocol):
    """Where approved intents go (the order manager). Both calls are synchronous and must not
    raise for a bad intent; ``submit`` registers the order before it returns (``None``: the
    order could not be built)."""

    def submit(self, intent: OrderIntent, *, reference_price: Decimal | None = None) -> object: ...

    def cancel(self, intent: CancelIntent) -> object: ...


class ThrottledLog:
    """At most one log line per key per ``interval_ms`` (of the caller's clock); the lines held
    back are counted in the next one (``suppressed``). Keeps the hot path quiet when a strategy
    proposes the same denied order on every tick."""

    __slots__ = ("_interval_ms", "_last", "_logger")

    def __init__(self, logger: FilteringBoundLogger, interval_ms: int) -> None:
        self._logger = logger
        self._interval_ms = interval_ms
        self._last: dict[str, tuple[TimestampMs, int]] = {}

    def _due(self, key: str, now_ms: TimestampMs) -> int | None:
        """``None`` to hold the line back, else how many were held back since the last one."""
        last = self._last.get(key)
        if last is not None and now_ms - last[0] < self._interval_ms:
            self._last[key] = (last[0], last[1] + 1)
            return None
        if len(self._last) > 1_024:  # bounded whatever the keys
            self._last.clear()
        self._last[key] = (now_ms, 0)
        return 0 if last is None else last[1]

    def debug(self, key: str, now_ms: TimestampMs, event: str, **fields: object) -> None:
        suppressed = self._due(key, now_ms)
        if suppressed is not None:
            self._logger.debug(event, suppressed=suppressed, **fields)

    def exception(self, key: str, now_ms: TimestampMs, event: str, **fields: object) -> None:
        """Log the exception being handled, with its traceback (call it from ``except``)."""
        suppressed = self._due(key, now_ms)
        if suppressed is not None:
            self._logger.exception(event, suppressed=suppressed, **fields)


class PassTally:
    """What one decision pass did, counted as it goes."""

    __slots__ = ("cancels", "denials", "errors", "submitted")

    def __init__(self) -> None:
        self.submitted = 0
        self.cancels = 0
        self.errors = 0
        self.denials: list[str] = []


class IntentRouter:
    """Risk-checks proposals and hands them to the sink (see the module docs).

    ``market_of`` gives the tracked market of a condition id (``None``: not tracked), ``book_of``
    the live book of a token, ``gate`` the engine's verdict on new orders in a market now, and
    ``fair_price`` the model's value of a token at a time (``None`` without one).
    """

    def __init__(
        self,
        *,
        risk: RiskManager,
        registry: OrderRegistry,
        portfolio: Portfolio,
        sink: IntentSink,
        market_of: Callable[[str], Market | None],
        book_of: Callable[[str], OrderBook | None],
        gate: Callable[[str, int], bool],
        fair_price: Callable[[str, str, TimestampMs], Decimal | None],
        log: ThrottledLog,
    ) -> None:
        self._risk = risk
        self._registry = registry
        self._portfolio = portfolio
        self._sink = sink
        self._market_of = market_of
        self._book_of = book_of
        self._gate = gate
        self._fair_price = fair_price
        self._log = log
        self.denials: Counter[str] = Counter()
        """Denied intents by reason (risk reasons and the three of this module)."""
        self.submitted: Counter[str] = Counter()
        """Intents handed to the sink, by strategy."""
        self.cancels = 0
        self.sink_errors = 0
        """Calls to the sink that raised."""
        self.sink_refused = 0
        """Submits the sink answered ``None`` (the order could not be built)."""

    def handle(
        self,
        proposal: Proposal,
        strategy: str,
        now_ms: TimestampMs,
        gates: dict[str, bool],
        tally: PassTally,
        holdings: Mapping[str, Holding] | None = None,
    ) -> None:
        """Route one proposal of ``strategy``. ``gates`` caches the gate's verdicts of this pass
        by condition id (filled here for markets not in it). ``holdings``: the pass's holdings,
        whose shares stand for the positions (``None``: ask the portfolio)."""
        if isinstance(proposal, CancelIntent):
            if self._risk.evaluate_cancel(proposal).approved and self._send(
                strategy, now_ms, tally, proposal
            ):
                tally.cancels += 1
                self.cancels += 1
            return
        market = self._market_of(proposal.condition_id)
        if market is None:
            detail = f"market {proposal.condition_id} is not tracked"
            self._deny(strategy, UNKNOWN_MARKET, detail, now_ms, tally)
            return
        tradable = gates.get(market.condition_id)
        if tradable is None:
            tradable = gates[market.condition_id] = bool(self._gate(market.condition_id, now_ms))
        if not tradable and not is_risk_reducing(proposal):
            self._deny(strategy, NOT_TRADABLE, f"{market.slug} is closed to new orders", now_ms, tally)
            return
        book = self._book_of(proposal.token_id)
        try:
            shares: Decimal | None = None
            if holdings is not None:
                holding = holdings.get(proposal.token_id)
                shares = ZERO if holding is None else holding.shares
            context = build_risk_context(
                proposal,
                market,
                now_ms=now_ms,
                registry=self._registry,
                portfolio=self._portfolio,
                book=book,
                position_shares=shares,
            )
        except (ValueError, ArithmeticError) as error:
            self._deny(strategy, RISK_INPUT_ERROR, str(error), now_ms, tally)
            return
        decision = self._risk.evaluate(proposal, context)
        if not decision.approved:
            self._deny(strategy, str(decision.reason), decision.detail, now_ms, tally)
            return
        reference = touch_price(book, proposal.side)
        if reference is None:
            reference = self._fair_price(market.condition_id, proposal.token_id, now_ms)
        if self._send(strategy, now_ms, tally, proposal, reference):
            tally.submitted += 1
            self.submitted[strategy] += 1

    def _send(
        self,
        strategy: str,
        now_ms: TimestampMs,
        tally: PassTally,
        proposal: Proposal,
        reference: Decimal | None = None,
    ) -> bool:
        """Hand a proposal to the sink; False (counted, logged) when it raised or refused."""
        try:
            if isinstance(proposal, CancelIntent):
                self._sink.cancel(proposal)
                return True
            result = self._sink.submit(proposal, reference_price=reference)
        except Exception:
            self.sink_errors += 1
            tally.errors += 1
            self._log.exception(f"sink:{strategy}", now_ms, "intent_sink_failed", strategy=strategy)
            return False
        if result is None:
            self.sink_refused += 1
            tally.errors += 1
            return False
        return True

    def _deny(self, strategy: str, reason: str, detail: str, now_ms: TimestampMs, tally: PassTally) -> None:
        self.denials[reason] += 1
        tally.denials.append(reason)
        self._log.debug(
            f"deny:{reason}", now_ms, "intent_denied", strategy=strategy, reason=reason, detail=detail
        )


def touch_price(book: OrderBook | None, side: Side) -> Decimal | None:
    """The price a ``side`` order would take first: the best ask for a BUY, the best bid for a
    SELL (``None`` without a book or that side)."""
    if book is None:
        return None
    level = book.best_ask() if side is Side.BUY else book.best_bid()
    return None if level is None else level.price
