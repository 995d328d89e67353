"""The tick processor: market state from feed events, and one sequential decision pass at a time.

The engine hands every feed event to :meth:`TickProcessor.on_event` (synchronously, in arrival
order). It keeps the market state the strategies read:

* Binance trades and RTDS prices go to :class:`~polyexec.venues.reference_prices.ReferencePrices`
  (the settlement-equivalent TWAP, the basis) and Binance trades to one
  :class:`~polyexec.strategies.volatility.RealisedVolatility` per asset;
* each tracked window's strike and, in its last minute, the settlement average observed so far
  (:class:`~polyexec.engine.window_reference.WindowReference`): the strike is Gamma's
  ``priceToBeat`` when the engine has it (:meth:`~TickProcessor.track`,
  :meth:`~TickProcessor.set_strike`: it always wins), otherwise the settlement TWAP captured at
  the first event at or after the window start, if the window was seen before it started. An
  engine started mid-window without ``priceToBeat`` has no strike for that window: the
  fair-value model proposes nothing there until Gamma publishes one;
* every event also goes to every strategy's ``observe`` (a strategy that raises there is
  counted and logged, and keeps running).

:meth:`~TickProcessor.on_event` answers whether a decision pass is due: True for a relevant tick
(a Binance trade or RTDS price of an asset a tracked market trades, or a book change or trade on
a tracked token), unless the last pass began less than ``min_pass_interval_ms`` ago (0: every
relevant tick; ticks inside the interval are folded into the next relevant one).

:meth:`~TickProcessor.run_pass` is one decision pass, synchronous. It builds one
:class:`~polyexec.strategies.context.StrategyContext`: the tracked windows that have both books
(``tradable`` from the engine's gate), the underlyings of their assets, the holdings and resting
orders (:mod:`polyexec.engine.pass_inputs`), the risk limits, the strategy parameters and the
drawdown. It asks the strategies in :data:`~polyexec.strategies.context.PRIORITY` order, each
seeing what the earlier ones proposed (``proposed``: every proposal, approved or not, so a later
strategy never works against an earlier one's decision). Each proposal is routed as soon as its
strategy returns it (:class:`~polyexec.engine.intent_router.IntentRouter`: gate, risk manager,
then the :class:`IntentSink`). The sink registers every order synchronously, so the next
intent's risk context and the next pass's resting orders include it: one pass at a time, no
races for capital, no duplicate orders. A strategy that raises is caught, counted and logged;
the pass goes on with the next one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from time import perf_counter_ns
from typing import Final

from polyexec.core.events import (
    BestBidAsk,
    BinanceTrade,
    BookSnapshot,
    FeedEvent,
    LastTradePrice,
    PriceChange,
    PriceSource,
    ReferencePrice,
    TickSizeChange,
)
from polyexec.core.models import Market, TimestampMs
from polyexec.core.order_book import OrderBook
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import Portfolio
from polyexec.core.risk import RiskManager
from polyexec.engine.intent_router import IntentRouter, IntentSink, PassTally, ThrottledLog
from polyexec.engine.pass_inputs import HoldingsCache, resting_orders
from polyexec.engine.window_reference import StrikeCapture, WindowReference, checked_strike
from polyexec.logging_setup import get_logger
from polyexec.strategies.context import (
    PRIORITY,
    Proposal,
    Strategy,
    StrategyContext,
    StrategyParams,
    UnderlyingView,
    WindowView,
)
from polyexec.strategies.fair_value import window_probability_up
from polyexec.strategies.volatility import RealisedVolatility
from polyexec.venues.binance_messages import asset_of_symbol
from polyexec.venues.reference_prices import ReferencePrices

__all__ = ["IntentSink", "PassReport", "TickProcessor"]  # IntentSink: from intent_router

_log = get_logger(module=__name__)

_SECOND_MS: Final = 1_000
_FAIR_PRICE_QUANTUM: Final = Decimal("0.0001")
_MARKET_EVENTS: Final = (BookSnapshot, PriceChange, LastTradePrice, BestBidAsk, TickSizeChange)


@dataclass(frozen=True, slots=True)
class PassReport:
    """What one decision pass did. ``denials``: the reason of each denied intent, in order;
    ``errors``: strategies that raised plus intents the sink refused or raised on."""

    now_ms: TimestampMs
    windows: int
    proposals: int
    submitted: int
    cancels: int
    denials: tuple[str, ...]
    errors: int
    duration_ns: int

    @property
    def denied(self) -> int:
        return len(self.denials)


class TickProcessor:
    """Market state from feed events and sequential decision passes (see the module docs).

    ``book_of`` gives the live book of a token (``None`` when it has none). ``gate`` is the
    engine's verdict that new orders may go to a market now (feeds fresh, books trusted,
    heartbeat healthy, inside the risk window). ``strike_capture_max_delay_ms``: how late after
    a window's start the first event may come for its TWAP to be taken as the strike.
    ``log_interval_ms``: at most one log line per kind of denial or error per interval.
    """

    def __init__(
        self,
        *,
        strategies: Sequence[Strategy],
        risk: RiskManager,
        registry: OrderRegistry,
        portfolio: Portfolio,
        book_of: Callable[[str], OrderBook | None],
        reference: ReferencePrices,
        sink: IntentSink,
        params: StrategyParams,
        gate: Callable[[str, int], bool],
        min_pass_interval_ms: int = 0,
        strike_capture_max_delay_ms: int = 5_000,
        log_interval_ms: int = 10_000,
    ) -> None:
        if min_pass_interval_ms < 0 or strike_capture_max_delay_ms < 0 or log_interval_ms < 0:
            raise ValueError(
                "min_pass_interval_ms, strike_capture_max_delay_ms, log_interval_ms must be >= 0"
            )
        names = [strategy.name for strategy in strategies]
        if len(set(names)) != len(names):
            raise ValueError(f"each strategy may appear once, got {names}")
        rank = {name: index for index, name in enumerate(PRIORITY)}
        # PRIORITY order; a strategy of another name runs after them, in the order given.
        self._strategies = tuple(sorted(strategies, key=lambda s: rank.get(s.name, len(PRIORITY))))
        self._risk = risk
        self._registry = registry
        self._portfolio = portfolio
        self._book_of = book_of
        self._reference = reference
        self._params = params
        self._gate = gate
        self.min_pass_interval_ms = min_pass_interval_ms
        self.strike_capture_max_delay_ms = strike_capture_max_delay_ms
        self._windows: dict[str, WindowReference] = {}
        self._tokens: dict[str, str] = {}  # token id -> condition id
        self._by_asset: dict[str, list[WindowReference]] = {}
        self._capturing: list[WindowReference] = []
        self._reference_assets = frozenset(reference.assets)
        self._volatility: dict[str, RealisedVolatility] = {a: RealisedVolatility() for a in reference.assets}
        self._holdings = HoldingsCache()
        self._log = ThrottledLog(_log, log_interval_ms)
        self._router = IntentRouter(
            risk=risk,
            registry=registry,
            portfolio=portfolio,
            sink=sink,
            market_of=self._market_of,
            book_of=book_of,
            gate=gate,
            fair_price=self._fair_price,
            log=self._log,
        )
        self._last_event_ms: TimestampMs | None = None
        self._last_pass_ms: TimestampMs | None = None
        self._last_underlyings: dict[str, UnderlyingView] = {}
        # Counters, for status().
        self._counts: Counter[str] = Counter()
        self._proposals: Counter[str] = Counter()
        self._strategy_errors: Counter[str] = Counter()
        self._observe_errors: Counter[str] = Counter()
        self._last_pass_ns = 0
        self._max_pass_ns = 0
        self._total_pass_ns = 0

    # --- markets ------------------------------------------------------------------------------

    def track(self, market: Market, *, strike: Decimal | None = None) -> None:
        """Trade ``market`` from now on. ``strike``: Gamma's ``priceToBeat`` if published (a
        positive Decimal; ``ValueError`` otherwise). Tracking a market again keeps what is
        known of it and takes the new strike, if one is given."""
        checked_strike(strike, market.slug)
        if market.condition_id in self._windows:
            if strike is not None:
                self.set_strike(market.condition_id, strike)
            return
        last = self._last_event_ms
        # Seen before its start? Unknown until the first event if none has come yet.
        before_start = None if last is None else last < market.window_start * _SECOND_MS
        window = WindowReference(market, strike=strike, seen_before_start=before_start)
        self._windows[market.condition_id] = window
        self._tokens[market.up_token_id] = market.condition_id
        self._tokens[market.down_token_id] = market.condition_id
        self._by_asset.setdefault(market.asset, []).append(window)
        if window.awaiting_strike:
            self._capturing.append(window)
        if market.asset not in self._volatility:
            self._volatility[market.asset] = RealisedVolatility()
        if market.asset not in self._reference_assets:
            _log.warning("market_asset_without_reference_prices", slug=market.slug, asset=market.asset)

    def set_strike(self, condition_id: str, strike: Decimal) -> None:
        """Gamma published ``priceToBeat``: it replaces any captured strike. A market not tracked
        is ignored (counted and logged); a strike that is not a positive Decimal is a
        ``ValueError``."""
        checked_strike(strike, condition_id)
        window = self._windows.get(condition_id)
        if window is None:
            self._counts["strike_for_unknown_market"] += 1
            _log.warning("strike_for_unknown_market", condition_id=condition_id)
            return
        if window.strike != strike:
            _log.info("strike_set", slug=window.market.slug, strike=str(strike), previous=str(window.strike))
        window.set_strike(strike, "gamma")
        if window in self._capturing:
            self._capturing.remove(window)

    def untrack(self, condition_id: str) -> None:
        """Stop trading the market (its window is over and settled). Unknown ids are ignored."""
        window = self._windows.pop(condition_id, None)
        if window is None:
            return
        market = window.market
        self._tokens.pop(market.up_token_id, None)
        self._tokens.pop(market.down_token_id, None)
        self._by_asset[market.asset].remove(window)
        if window in self._capturing:
            self._capturing.remove(window)

    def tracked(self) -> tuple[Market, ...]:
        """The tracked markets, in the order they were tracked."""
        return tuple(window.market for window in self._windows.values())

    def strike(self, condition_id: str) -> Decimal | None:
        """The strike of a tracked market (``None`` if unknown or not tracked)."""
        window = self._windows.get(condition_id)
        return None if window is None else window.strike

    # --- events -------------------------------------------------------------------------------

    def on_event(self, event: FeedEvent, now_ms: TimestampMs) -> bool:
        """Update the market state with ``event`` received at ``now_ms``; True when a decision
        pass is due (see the module docs). Never raises for what the event says."""
        self._counts["events"] += 1
        self._last_event_ms = now_ms
        relevant = False
        if isinstance(event, BinanceTrade):
            relevant = self._on_binance_trade(event)
        elif isinstance(event, ReferencePrice):
            relevant = self._on_reference_price(event)
        elif isinstance(event, PriceChange):
            relevant = event.condition_id in self._windows or any(
                change.asset_id in self._tokens for change in event.changes
            )
        elif isinstance(event, _MARKET_EVENTS):
            relevant = event.condition_id in self._windows or event.asset_id in self._tokens
        if self._capturing:
            self._capture_strikes(now_ms)
        for strategy in self._strategies:
            try:
                strategy.observe(event, now_ms)
            except Exception:
                self._observe_errors[strategy.name] += 1
                self._log.exception(
                    f"observe:{strategy.name}", now_ms, "strategy_observe_failed", strategy=strategy.name
                )
        if not relevant:
            return False
        self._counts["relevant_ticks"] += 1
        last = self._last_pass_ms
        if last is not None and now_ms - last < self.min_pass_interval_ms:
            self._counts["throttled_ticks"] += 1
            return False
        return True

    def _on_binance_trade(self, trade: BinanceTrade) -> bool:
        asset = asset_of_symbol(trade.symbol)
        if asset in self._reference_assets:
            self._reference.apply_trade(trade)
        estimator = None if asset is None else self._volatility.get(asset)
        if estimator is not None:
            estimator.add_trade(trade.price, trade.trade_time_ms)
        windows = self._by_asset.get(asset) if asset is not None else None
        if not windows:
            return False
        for window in windows:
            window.binance.add(trade.price, trade.trade_time_ms)
        return True

    def _on_reference_price(self, price: ReferencePrice) -> bool:
        if price.asset in self._reference_assets:
            self._reference.apply_reference_price(price)
        windows = self._by_asset.get(price.asset)
        if not windows:
            return False
        if price.source is PriceSource.CHAINLINK_SPOT:
            for window in windows:
                window.chainlink.add(price.value, price.timestamp_ms)
        return True

    def _capture_strikes(self, now_ms: TimestampMs) -> None:
        """Take the settlement TWAP as the strike of windows that just started (module docs)."""
        for window in tuple(self._capturing):
            outcome = window.capture_strike(
                now_ms, self._reference, max_delay_ms=self.strike_capture_max_delay_ms
            )
            if outcome is StrikeCapture.WAITING:
                continue
            self._capturing.remove(window)
            self._counts[f"strikes_{outcome}"] += 1
            slug = window.market.slug
            if outcome is StrikeCapture.CAPTURED:
                _log.info(
                    "strike_captured", slug=slug, strike=str(window.strike), source=window.strike_source
                )
            elif outcome is not StrikeCapture.NOT_NEEDED:
                _log.warning("strike_unknown", slug=slug, reason=str(outcome))

    # --- the decision pass --------------------------------------------------------------------

    def run_pass(self, now_ms: TimestampMs) -> PassReport:
        """One decision pass at ``now_ms`` (see the module docs). Never raises for what a
        strategy proposes or does."""
        started = perf_counter_ns()
        self._last_pass_ms = now_ms
        views, gates = self._window_views(now_ms)
        underlyings = self._underlyings(now_ms)
        context = StrategyContext(
            now_ms=now_ms,
            windows=views,
            underlyings=underlyings,
            holdings=self._holdings.holdings(self._portfolio, self._registry),
            resting=resting_orders(self._registry),
            limits=self._risk.limits,
            params=self._params,
            drawdown_pct=self._risk.drawdown_pct(),
        )
        tally = PassTally()
        proposed: list[Proposal] = []
        for strategy in self._strategies:
            name = strategy.name
            seen = context if not proposed else _with_proposed(context, tuple(proposed))
            try:
                proposals = list(strategy.decide(seen))
            except Exception:
                self._strategy_errors[name] += 1
                tally.errors += 1
                self._log.exception(f"decide:{name}", now_ms, "strategy_decide_failed", strategy=name)
                continue
            for proposal in proposals:
                proposed.append(proposal)
                self._proposals[name] += 1
                try:
                    self._router.handle(proposal, name, now_ms, gates, tally, context.holdings)
                except Exception:  # a malformed proposal: nothing of it may stop the pass
                    self._strategy_errors[name] += 1
                    tally.errors += 1
                    self._log.exception(f"route:{name}", now_ms, "proposal_failed", strategy=name)
        duration = perf_counter_ns() - started
        self._counts["passes"] += 1
        self._last_pass_ns = duration
        self._max_pass_ns = max(self._max_pass_ns, duration)
        self._total_pass_ns += duration
        return PassReport(
            now_ms=now_ms,
            windows=len(views),
            proposals=len(proposed),
            submitted=tally.submitted,
            cancels=tally.cancels,
            denials=tuple(tally.denials),
            errors=tally.errors,
            duration_ns=duration,
        )

    def _window_views(self, now_ms: TimestampMs) -> tuple[tuple[WindowView, ...], dict[str, bool]]:
        """A view of every tracked market with both books, and the gate's verdict on each."""
        views: list[WindowView] = []
        gates: dict[str, bool] = {}
        book_of = self._book_of
        for condition_id, window in self._windows.items():
            market = window.market
            up_book, down_book = book_of(market.up_token_id), book_of(market.down_token_id)
            if up_book is None or down_book is None:
                continue
            tradable = gates[condition_id] = bool(self._gate(condition_id, now_ms))
            observed = (
                window.settlement_observed(now_ms, self._reference)
                if now_ms > window.averaging_start_ms
                else None
            )
            views.append(WindowView(market, up_book, down_book, window.strike, observed, tradable))
        return tuple(views), gates

    def _underlyings(self, now_ms: TimestampMs) -> dict[str, UnderlyingView]:
        reference = self._reference
        views: dict[str, UnderlyingView] = {}
        for asset, windows in self._by_asset.items():
            if not windows or asset not in self._reference_assets:
                continue
            trade = reference.binance_last(asset)
            settlement = reference.current(asset, now_ms)
            spot = reference.chainlink_spot(asset)
            views[asset] = UnderlyingView(
                asset=asset,
                binance_price=None if trade is None else trade.price,
                binance_time_ms=None if trade is None else trade.trade_time_ms,
                settlement_price=None if settlement is None else settlement.value,
                settlement_source=None if settlement is None else settlement.source,
                chainlink_spot=None if spot is None else spot.value,
                basis=reference.basis(asset),
                volatility=self._volatility[asset].value(now_ms),
            )
        self._last_underlyings = views
        return views

    def _market_of(self, condition_id: str) -> Market | None:
        window = self._windows.get(condition_id)
        return None if window is None else window.market

    def _fair_price(self, condition_id: str, token_id: str, now_ms: TimestampMs) -> Decimal | None:
        """The model's value of ``token_id`` (``None`` without one): the reference price of an
        order whose book side is empty."""
        window = self._windows.get(condition_id)
        if window is None:
            return None
        market = window.market
        up_book, down_book = self._book_of(market.up_token_id), self._book_of(market.down_token_id)
        if up_book is None or down_book is None:
            return None
        observed = window.settlement_observed(now_ms, self._reference)
        view = WindowView(market, up_book, down_book, window.strike, observed)
        p_up = window_probability_up(view, self._last_underlyings.get(market.asset), now_ms)
        if p_up is None:
            return None
        value = Decimal(p_up) if token_id == market.up_token_id else 1 - Decimal(p_up)
        return value.quantize(_FAIR_PRICE_QUANTUM)

    # --- reading ------------------------------------------------------------------------------

    def get_current_tick(self) -> dict[str, object]:
        """The latest prices: per asset (Binance, settlement TWAP and its source, Chainlink spot,
        basis, volatility, as of the last pass) and per tracked market (strike, each token's
        best bid and ask and whether its book is trusted). JSON-ready: numbers as strings."""
        assets: dict[str, object] = {}
        for asset, view in self._last_underlyings.items():
            assets[asset] = {
                "binance_price": _text(view.binance_price),
                "binance_time_ms": view.binance_time_ms,
                "settlement_price": _text(view.settlement_price),
                "settlement_source": None if view.settlement_source is None else str(view.settlement_source),
                "chainlink_spot": _text(view.chainlink_spot),
                "basis": _text(view.basis),
                "volatility": view.volatility,
            }
        markets: dict[str, object] = {}
        for window in self._windows.values():
            market = window.market
            tokens: dict[str, object] = {}
            for outcome, token_id in (("up", market.up_token_id), ("down", market.down_token_id)):
                book = self._book_of(token_id)
                bid = None if book is None else book.best_bid()
                ask = None if book is None else book.best_ask()
                tokens[outcome] = {
                    "token_id": token_id,
                    "best_bid": None if bid is None else str(bid.price),
                    "best_ask": None if ask is None else str(ask.price),
                    "trusted": book is not None and book.trusted,
                }
            markets[market.slug] = {
                "condition_id": market.condition_id,
                "strike": _text(window.strike),
                "strike_source": window.strike_source or None,
                **tokens,
            }
        return {"now_ms": self._last_event_ms, "assets": assets, "markets": markets}

    def status(self) -> dict[str, object]:
        """Counters for the engine's status: events, relevant and throttled ticks, passes and
        their duration (µs), proposals and submissions by strategy, denials by reason, cancels,
        errors by strategy (decide and observe), sink errors and refusals, strikes."""
        passes = self._counts["passes"]
        return {
            "tracked_markets": len(self._windows),
            "events": self._counts["events"],
            "relevant_ticks": self._counts["relevant_ticks"],
            "throttled_ticks": self._counts["throttled_ticks"],
            "passes": passes,
            "last_pass_us": self._last_pass_ns // 1_000,
            "max_pass_us": self._max_pass_ns // 1_000,
            "mean_pass_us": self._total_pass_ns // passes // 1_000 if passes else 0,
            "proposals": dict(self._proposals),
            "submitted": dict(self._router.submitted),
            "denials": dict(self._router.denials),
            "cancels": self._router.cancels,
            "strategy_errors": dict(self._strategy_errors),
            "observe_errors": dict(self._observe_errors),
            "sink_errors": self._router.sink_errors,
            "sink_refused": self._router.sink_refused,
            "holdings_rebuilds": self._holdings.rebuilds,
            "strikes_captured": self._counts["strikes_captured"],
            "strikes_missed_mid_window": self._counts["strikes_missed_mid_window"],
            "strikes_missed_late": self._counts["strikes_missed_late"],
            "strike_for_unknown_market": self._counts["strike_for_unknown_market"],
        }


def _with_proposed(context: StrategyContext, proposed: tuple[Proposal, ...]) -> StrategyContext:
    """``context`` with ``proposed`` replaced: ``dataclasses.replace`` without its per-call
    field introspection (this runs for every strategy after the first proposal of a pass)."""
    return StrategyContext(
        now_ms=context.now_ms,
        windows=context.windows,
        underlyings=context.underlyings,
        holdings=context.holdings,
        resting=context.resting,
        limits=context.limits,
        params=context.params,
        drawdown_pct=context.drawdown_pct,
        proposed=proposed,
    )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
