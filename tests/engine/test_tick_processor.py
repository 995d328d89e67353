"""TickProcessor: market state from events, strikes, relevance and throttling, and the decision pass
(priority order, ``proposed``, risk, the sink, denials, errors), end to end with the real
fair-value strategy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from decimal import Decimal

import pytest

from polyexec.core.events import (
    BinanceBookTicker,
    BinanceTrade,
    BookSnapshot,
    FeedEvent,
    LastTradePrice,
    PriceChange,
    PriceLevelChange,
    PriceSource,
    ReferencePrice,
    UserOrderEvent,
    UserOrderEventKind,
)
from polyexec.core.models import (
    BookLevel,
    CancelIntent,
    CancelScope,
    Market,
    OrderIntent,
    OrderType,
    Side,
)
from polyexec.core.order import Order
from polyexec.core.order_book import OrderBook
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import Portfolio
from polyexec.core.risk import RiskManager
from polyexec.core.risk_limits import RiskLimits
from polyexec.engine.intent_router import NOT_TRADABLE, UNKNOWN_MARKET
from polyexec.engine.tick_processor import PassReport, TickProcessor, _with_proposed
from polyexec.strategies.context import (
    PRIORITY,
    Proposal,
    Strategy,
    StrategyContext,
    StrategyParams,
    UnderlyingView,
)
from polyexec.strategies.fair_value import FairValueStrategy
from polyexec.venues.reference_prices import ReferencePrices

D = Decimal
CID = "0x" + "ab" * 32
UP, DOWN = "1001", "1002"
START_S = 1_800_000_000
MARKET = Market("btc", f"btc-updown-15m-{START_S}", CID, UP, DOWN, START_S, START_S + 900)
START_MS, END_MS = START_S * 1000, (START_S + 900) * 1000
NOW = END_MS - 300_000  # five minutes left
STRIKE = D(100_000)
LIMITS = RiskLimits(  # $10 trades, room for several in the market, category and account
    max_trade_usd=D(10), max_loss_per_trade_usd=D(10), max_window_usd=D(50), max_exposure_usd=D(200),
    max_exposure_per_market_usd=D(50), max_exposure_per_category_usd=D(100),
)  # fmt: skip


def make_book(token: str, bid: str, ask: str, size: str = "100") -> OrderBook:
    book = OrderBook(token, D("0.01"))
    book.apply_snapshot(
        BookSnapshot(token, CID, NOW - 1_000, (BookLevel(D(bid), D(size)),), (BookLevel(D(ask), D(size)),))
    )
    return book


class RecordingSink:
    """An IntentSink that records; with a registry it registers each order, as the order
    manager does, so the next pass sees it resting."""

    def __init__(self, registry: OrderRegistry | None = None) -> None:
        self.registry = registry
        self.submits: list[tuple[OrderIntent, Decimal | None]] = []
        self.cancels: list[CancelIntent] = []

    def submit(self, intent: OrderIntent, *, reference_price: Decimal | None = None) -> object:
        self.submits.append((intent, reference_price))
        if self.registry is None:
            return intent
        order = Order.from_intent(
            intent, f"0x{len(self.submits):064x}", now_ms=NOW, reference_price=reference_price
        )
        self.registry.add(order)
        order.submitted(now_ms=NOW)
        return order

    def cancel(self, intent: CancelIntent) -> object:
        self.cancels.append(intent)
        return 1


class FakeStrategy:
    """Records when it ran and what it saw; proposes what it is told."""

    def __init__(
        self, name: str, log: list[tuple[str, tuple[Proposal, ...]]], proposals: Sequence[Proposal] = ()
    ) -> None:
        self._name = name
        self.log = log
        self.proposals = list(proposals)
        self.observed: list[tuple[FeedEvent, int]] = []

    @property
    def name(self) -> str:
        return self._name

    def observe(self, event: FeedEvent, now_ms: int) -> None:
        self.observed.append((event, now_ms))

    def decide(self, context: StrategyContext) -> Sequence[Proposal]:
        self.log.append((self._name, context.proposed))
        return self.proposals


class Harness:
    def __init__(
        self,
        strategies: Sequence[Strategy],
        *,
        register: bool = True,
        gate: Callable[[str, int], bool] = lambda cid, now: True,
        limits: RiskLimits = LIMITS,
        min_pass_interval_ms: int = 0,
        sink: RecordingSink | None = None,
    ) -> None:
        self.registry = OrderRegistry()
        self.portfolio = Portfolio()
        self.portfolio.register_market(MARKET, 0)
        self.risk = RiskManager(limits)
        self.reference = ReferencePrices(["btc", "eth"])
        self.books = {UP: make_book(UP, "0.58", "0.60"), DOWN: make_book(DOWN, "0.40", "0.42")}
        self.sink = sink if sink is not None else RecordingSink(self.registry if register else None)
        self.tick = TickProcessor(
            strategies=strategies,
            risk=self.risk,
            registry=self.registry,
            portfolio=self.portfolio,
            book_of=self.books.get,
            reference=self.reference,
            sink=self.sink,
            params=StrategyParams(),
            gate=gate,
            min_pass_interval_ms=min_pass_interval_ms,
        )


def trade(price: str | Decimal, at_ms: int, trade_id: int, symbol: str = "btcusdt") -> BinanceTrade:
    return BinanceTrade(symbol, trade_id, D(price), D(1), at_ms, at_ms, False)


def spot(value: str | Decimal, at_ms: int, asset: str = "btc") -> ReferencePrice:
    return ReferencePrice(asset, PriceSource.CHAINLINK_SPOT, D(value), at_ms)


def twap(value: str | Decimal, at_ms: int, asset: str = "btc") -> ReferencePrice:
    return ReferencePrice(asset, PriceSource.CHAINLINK_TWAP_60, D(value), at_ms)


def warm_up(tick: TickProcessor, *, until_ms: int = NOW, final: str = "100300") -> None:
    """100 seconds of Binance trades alternating by ~1e-4 (σ ≈ 1e-4 per √s), one Chainlink spot
    equal to Binance (basis 0), then a last trade at ``final`` inside the current second."""
    first = until_ms - 100_000
    for second in range(100):
        price = "100000" if second % 2 else "100010"
        tick.on_event(trade(price, first + second * 1_000, second + 1), first + second * 1_000)
    tick.on_event(spot("100010", until_ms - 2_000), until_ms - 1_500)
    tick.on_event(trade(final, until_ms - 10, 1_000), until_ms)


# --- events and market state --------------------------------------------------------------------


def test_binance_trades_and_rtds_prices_update_the_reference_and_the_volatility() -> None:
    h = Harness([])
    h.tick.track(MARKET, strike=STRIKE)
    warm_up(h.tick)
    assert h.reference.binance_last("btc") == trade("100300", NOW - 10, 1_000)
    assert h.reference.basis("btc") == D(0)
    h.tick.on_event(twap("100020", NOW - 500), NOW)
    assert h.reference.current("btc", NOW) == twap("100020", NOW - 500)
    h.tick.run_pass(NOW)
    tick = h.tick.get_current_tick()
    btc = tick["assets"]["btc"]  # type: ignore[index]
    assert btc["binance_price"] == "100300"
    assert btc["settlement_price"] == "100020"
    assert btc["settlement_source"] == "chainlink_twap_60"
    assert btc["volatility"] == pytest.approx(1e-4, rel=0.2)
    assert tick["markets"][MARKET.slug]["strike"] == "100000"  # type: ignore[index]
    assert tick["markets"][MARKET.slug]["up"]["best_ask"] == "0.60"  # type: ignore[index]


def test_every_event_goes_to_every_strategy_with_its_time() -> None:
    log: list[tuple[str, tuple[Proposal, ...]]] = []
    first, second = FakeStrategy("FV", log), FakeStrategy("MM", log)
    h = Harness([first, second])
    events: list[FeedEvent] = [
        trade("100", NOW, 1),
        BinanceBookTicker("btcusdt", 1, D(1), D(1), D(2), D(1), NOW),
        UserOrderEvent(
            "0x1", UserOrderEventKind.UPDATE, CID, UP, Side.BUY, D("0.5"), D(5), D(0), "LIVE", NOW
        ),
    ]
    for offset, event in enumerate(events):
        h.tick.on_event(event, NOW + offset)
    expected = [(event, NOW + offset) for offset, event in enumerate(events)]
    assert first.observed == expected
    assert second.observed == expected


USER_EVENT = UserOrderEvent(
    "0x1", UserOrderEventKind.UPDATE, CID, UP, Side.BUY, D("0.5"), D(5), D(0), "LIVE", NOW
)


def test_a_pass_is_due_only_for_relevant_ticks() -> None:
    h = Harness([])
    assert not h.tick.on_event(trade("100", NOW, 1), NOW)  # nothing tracked yet
    h.tick.track(MARKET, strike=STRIKE)
    change = PriceChange(CID, NOW, (PriceLevelChange(UP, D("0.59"), D(10), Side.BUY),))
    other = PriceChange("0x" + "cd" * 32, NOW, (PriceLevelChange("9", D("0.5"), D(1), Side.BUY),))
    relevant: list[tuple[FeedEvent, bool]] = [
        (trade("100", NOW, 2), True),
        (trade("3000", NOW, 3, symbol="ethusdt"), False),  # no tracked ETH market
        (spot("100", NOW), True),
        (spot("3000", NOW, asset="eth"), False),
        (change, True),
        (other, False),
        (LastTradePrice(DOWN, CID, D("0.4"), D(5), Side.BUY, NOW), True),
        (BinanceBookTicker("btcusdt", 1, D(1), D(1), D(2), D(1), NOW), False),
        (USER_EVENT, False),
    ]  # fmt: skip
    assert [h.tick.on_event(event, NOW) for event, _ in relevant] == [due for _, due in relevant]


def test_min_pass_interval_throttles_relevant_ticks() -> None:
    h = Harness([], min_pass_interval_ms=100)
    h.tick.track(MARKET, strike=STRIKE)
    assert h.tick.on_event(trade("100", NOW, 1), NOW)
    h.tick.run_pass(NOW)
    assert not h.tick.on_event(trade("100", NOW + 50, 2), NOW + 50)
    assert h.tick.on_event(trade("100", NOW + 100, 3), NOW + 100)
    assert h.tick.status()["throttled_ticks"] == 1


# --- strikes and the settlement average -----------------------------------------------------------


def test_strike_from_track_and_set_strike_which_always_wins() -> None:
    h = Harness([])
    h.tick.track(MARKET)
    assert h.tick.strike(CID) is None
    h.tick.set_strike(CID, D("99999.5"))
    assert h.tick.strike(CID) == D("99999.5")
    h.tick.track(MARKET, strike=D(100_001))  # tracked again, with Gamma's value
    assert h.tick.strike(CID) == D(100_001)
    h.tick.set_strike("0x" + "00" * 32, D(5))  # not tracked: ignored
    assert h.tick.status()["strike_for_unknown_market"] == 1
    with pytest.raises(ValueError, match="strike"):
        h.tick.set_strike(CID, D(0))


def test_strike_is_captured_from_the_settlement_twap_at_the_window_start() -> None:
    h = Harness([])
    h.tick.on_event(twap("99990", START_MS - 3_000), START_MS - 2_000)  # the engine runs before the start
    h.tick.track(MARKET)
    h.tick.on_event(twap("100000", START_MS - 1_000), START_MS - 500)
    assert h.tick.strike(CID) is None  # not started yet
    h.tick.on_event(trade("100001", START_MS + 200, 1), START_MS + 200)
    assert h.tick.strike(CID) == D(100_000)  # the TWAP standing at the first event after the start
    h.tick.on_event(twap("100500", START_MS + 1_000), START_MS + 1_100)
    assert h.tick.strike(CID) == D(100_000)  # captured once


def test_an_engine_started_mid_window_has_no_strike_until_gamma_gives_one() -> None:
    h = Harness([FairValueStrategy()])
    h.tick.track(MARKET)  # no event seen yet: the first one decides
    h.tick.on_event(twap("100000", NOW - 500), NOW)
    warm_up(h.tick)
    assert h.tick.strike(CID) is None
    assert h.tick.run_pass(NOW).proposals == 0
    assert h.tick.status()["strikes_missed_mid_window"] == 1
    h.tick.set_strike(CID, STRIKE)
    assert h.tick.run_pass(NOW).submitted == 1


def test_no_strike_when_the_first_price_after_the_start_comes_too_late() -> None:
    h = Harness([])
    h.tick.on_event(trade("100", START_MS - 10_000, 1), START_MS - 10_000)
    h.tick.track(MARKET)
    h.tick.on_event(twap("100000", START_MS + 9_000), START_MS + 9_000)
    assert h.tick.strike(CID) is None
    assert h.tick.status()["strikes_missed_late"] == 1


def test_settlement_observed_in_the_last_minute_from_chainlink_spots() -> None:
    log: list[tuple[str, tuple[Proposal, ...]]] = []
    seen: list[StrategyContext] = []

    class Spy(FakeStrategy):
        def decide(self, context: StrategyContext) -> Sequence[Proposal]:
            seen.append(context)
            return ()

    h = Harness([Spy("FV", log)])
    h.tick.track(MARKET, strike=STRIKE)
    averaging = END_MS - 60_000
    h.tick.on_event(spot("100", averaging - 500), averaging - 400)  # standing at the start
    h.tick.on_event(spot("110", averaging + 10_000), averaging + 10_000)
    h.tick.run_pass(averaging - 1_000)
    h.tick.run_pass(averaging + 20_000)
    assert seen[0].windows[0].settlement_observed is None  # before the last minute
    # 10 s at 100 then 10 s at 110.
    assert seen[1].windows[0].settlement_observed == (20, D(105))


def test_settlement_observed_falls_back_to_binance_with_the_basis_then_to_none() -> None:
    seen: list[StrategyContext] = []

    class Spy(FakeStrategy):
        def decide(self, context: StrategyContext) -> Sequence[Proposal]:
            seen.append(context)
            return ()

    h = Harness([Spy("FV", [])])
    h.tick.track(MARKET, strike=STRIKE)
    averaging = END_MS - 60_000
    h.tick.on_event(trade("1000", averaging - 30_000, 1), averaging - 30_000)
    h.tick.on_event(spot("1001", averaging - 29_000), averaging - 29_000)  # basis 0.001, then RTDS goes quiet
    h.tick.on_event(trade("1000", averaging + 5_000, 2), averaging + 5_000)
    h.tick.run_pass(averaging + 10_000)
    observed = seen[-1].windows[0].settlement_observed
    assert observed == (10, D("1001.000"))
    h.tick.run_pass(averaging + 30_000)  # Binance silent for 25 s: stale too
    assert seen[-1].windows[0].settlement_observed is None


# --- the decision pass ------------------------------------------------------------------------------


def buy(price: str = "0.60", size: str = "10", strategy: str = "FV", **extra: object) -> OrderIntent:
    return OrderIntent(strategy, CID, UP, Side.BUY, D(price), D(size), OrderType.FOK, **extra)  # type: ignore[arg-type]


def test_strategies_run_in_priority_order_and_see_earlier_proposals() -> None:
    log: list[tuple[str, tuple[Proposal, ...]]] = []
    cancel = CancelIntent(CancelScope.MARKET, condition_id=CID, reason="icc")
    proposals: dict[str, list[Proposal]] = {
        "ICC": [cancel],
        "EXIT": [],
        "FV": [buy()],
        "MM": [buy("0.55", "5", "MM")],
        "FF": [],
    }
    shuffled = [FakeStrategy(name, log, proposals[name]) for name in ("FF", "MM", "FV", "EXIT", "ICC")]
    h = Harness(shuffled)
    h.tick.track(MARKET, strike=STRIKE)
    report = h.tick.run_pass(NOW)
    assert [name for name, _ in log] == list(PRIORITY)
    seen = dict(log)
    assert seen["ICC"] == ()
    assert seen["EXIT"] == (cancel,)
    assert seen["FV"] == (cancel,)
    assert seen["MM"] == (cancel, proposals["FV"][0])
    assert seen["FF"] == (cancel, proposals["FV"][0], proposals["MM"][0])
    assert h.sink.cancels == [cancel]
    assert [intent for intent, _ in h.sink.submits] == [proposals["FV"][0], proposals["MM"][0]]
    assert (report.proposals, report.submitted, report.cancels, report.denied) == (3, 2, 1, 0)


def test_touch_is_the_reference_price_of_a_submit() -> None:
    h = Harness([FakeStrategy("FV", [], [buy()])])
    h.tick.track(MARKET, strike=STRIKE)
    h.tick.run_pass(NOW)
    assert h.sink.submits[0][1] == D("0.60")  # the best ask the BUY takes


def test_an_order_registered_by_the_sink_is_resting_in_the_next_pass() -> None:
    fv = FairValueStrategy()
    h = Harness([fv])
    h.tick.track(MARKET, strike=STRIKE)
    warm_up(h.tick)
    first = h.tick.run_pass(NOW)
    assert first.submitted == 1
    second = h.tick.run_pass(NOW + 50)
    assert second.proposals == 0
    assert len(h.sink.submits) == 1
    (resting,) = h.registry.open_orders()
    assert resting.strategy == "FV"


def test_the_fair_value_strategy_trades_a_constructed_market_end_to_end() -> None:
    h = Harness([FairValueStrategy()])
    h.tick.track(MARKET, strike=STRIKE)
    warm_up(h.tick)  # Binance 100300 against a strike of 100000, σ ≈ 1e-4: p_up ≈ 0.97
    report = h.tick.run_pass(NOW)
    assert report == PassReport(NOW, 1, 1, 1, 0, (), 0, report.duration_ns)
    ((intent, reference),) = h.sink.submits
    assert (intent.strategy, intent.token_id, intent.side, intent.order_type) == (
        "FV",
        UP,
        Side.BUY,
        OrderType.FOK,
    )
    assert intent.price in (D("0.60"), D("0.61"))
    assert intent.notional <= LIMITS.max_trade_usd
    assert intent.size >= MARKET.min_size
    assert reference == D("0.60")


def test_denials_are_counted_by_reason() -> None:
    too_big = buy("0.60", "100")  # $60 > $10 per trade
    h = Harness([FakeStrategy("FV", [], [too_big, too_big])])
    h.tick.track(MARKET, strike=STRIKE)
    report = h.tick.run_pass(NOW)
    assert report.denials == ("TRADE_SIZE_LIMIT", "TRADE_SIZE_LIMIT")
    assert report.submitted == 0
    assert h.tick.status()["denials"] == {"TRADE_SIZE_LIMIT": 2}
    assert h.sink.submits == []


def test_a_closed_gate_stops_new_buys_but_lets_reductions_reach_the_risk_manager() -> None:
    reduce = OrderIntent("EXIT", CID, UP, Side.SELL, D("0.58"), D(5), OrderType.FAK, reduces_position=True)
    h = Harness(
        [FakeStrategy("FV", [], [buy()]), FakeStrategy("EXIT", [], [reduce])], gate=lambda c, n: False
    )
    h.tick.track(MARKET, strike=STRIKE)
    report = h.tick.run_pass(NOW)
    # The reduction passes the gate; the risk manager refuses it (nothing held to sell).
    assert report.denials == ("INVALID_INTENT", NOT_TRADABLE)
    assert h.sink.submits == []


def test_the_real_fair_value_strategy_proposes_no_buy_on_a_closed_window() -> None:
    h = Harness([FairValueStrategy()], gate=lambda c, n: False)
    h.tick.track(MARKET, strike=STRIKE)
    warm_up(h.tick)
    assert h.tick.run_pass(NOW).proposals == 0


def test_an_intent_for_an_untracked_market_is_denied() -> None:
    stray = OrderIntent("FV", "0x" + "cd" * 32, "77", Side.BUY, D("0.5"), D(5), OrderType.FOK)
    h = Harness([FakeStrategy("FV", [], [stray])])
    h.tick.track(MARKET, strike=STRIKE)
    assert h.tick.run_pass(NOW).denials == (UNKNOWN_MARKET,)


def test_a_strategy_that_raises_is_counted_and_the_pass_goes_on() -> None:
    log: list[tuple[str, tuple[Proposal, ...]]] = []

    class Broken(FakeStrategy):
        def decide(self, context: StrategyContext) -> Sequence[Proposal]:
            raise RuntimeError("boom")

        def observe(self, event: FeedEvent, now_ms: int) -> None:
            raise RuntimeError("bad event")

    h = Harness([Broken("FV", log), FakeStrategy("MM", log, [buy("0.55", "5", "MM")])])
    h.tick.track(MARKET, strike=STRIKE)
    assert h.tick.on_event(trade("100", NOW, 1), NOW)  # observe failing does not stop the event
    report = h.tick.run_pass(NOW)
    assert report.errors == 1
    assert report.submitted == 1
    status = h.tick.status()
    assert status["strategy_errors"] == {"FV": 1}
    assert status["observe_errors"] == {"FV": 1}


def test_a_sink_that_raises_or_refuses_is_counted() -> None:
    class Refusing(RecordingSink):
        def submit(self, intent: OrderIntent, *, reference_price: Decimal | None = None) -> object:
            if intent.strategy == "FV":
                raise RuntimeError("signer down")
            return None

    strategies = [FakeStrategy("FV", [], [buy()]), FakeStrategy("MM", [], [buy("0.55", "5", "MM")])]
    h = Harness(strategies, sink=Refusing())
    h.tick.track(MARKET, strike=STRIKE)
    report = h.tick.run_pass(NOW)
    assert (report.submitted, report.errors) == (0, 2)
    status = h.tick.status()
    assert (status["sink_errors"], status["sink_refused"]) == (1, 1)


def test_windows_need_both_books_and_carry_the_gate_verdict() -> None:
    seen: list[StrategyContext] = []

    class Spy(FakeStrategy):
        def decide(self, context: StrategyContext) -> Sequence[Proposal]:
            seen.append(context)
            return ()

    verdicts = {CID: False}
    h = Harness([Spy("FV", [])], gate=lambda cid, now: verdicts[cid])
    h.tick.track(MARKET, strike=STRIKE)
    h.tick.run_pass(NOW)
    (view,) = seen[-1].windows
    assert (view.tradable, view.strike, view.up_book) == (False, STRIKE, h.books[UP])
    del h.books[DOWN]
    h.tick.run_pass(NOW)
    assert seen[-1].windows == ()
    h.tick.untrack(CID)
    assert h.tick.tracked() == ()


def test_duplicate_strategy_names_are_refused() -> None:
    with pytest.raises(ValueError, match="once"):
        Harness([FakeStrategy("FV", []), FakeStrategy("FV", [])])


def test_the_context_given_to_later_strategies_keeps_every_field() -> None:
    """run_pass rebuilds the context with ``proposed`` field by field (faster than
    dataclasses.replace): it must carry every field, including any added later."""
    context = StrategyContext(
        now_ms=NOW,
        windows=(),
        underlyings={"btc": UnderlyingView("btc", D(1), NOW, D(1), None)},
        holdings={},
        resting=(),
        limits=LIMITS,
        params=StrategyParams(min_edge_cents=D(7)),
        drawdown_pct=D(3),
        proposed=(),
    )
    proposed = (buy(),)
    assert _with_proposed(context, proposed) == replace(context, proposed=proposed)
    assert {spec.name for spec in fields(StrategyContext)} == {
        "now_ms", "windows", "underlyings", "holdings", "resting", "limits", "params",
        "drawdown_pct", "proposed",
    }  # fmt: skip
