"""Flow following: move and large-trade detection, entries within the slippage limits, cooldowns,
take-profit and stop exits, and the states on which it must do nothing."""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import (
    BestBidAsk,
    BinanceTrade,
    BookSnapshot,
    FeedEvent,
    LastTradePrice,
    PriceChange,
    PriceLevelChange,
)
from polyexec.core.models import BookLevel, CancelIntent, CancelScope, Market, OrderIntent, OrderType, Side
from polyexec.core.order_book import OrderBook, UntrustedReason
from polyexec.core.risk_limits import RiskLimits
from polyexec.strategies.context import (
    Holding,
    Proposal,
    RestingOrder,
    Strategy,
    StrategyContext,
    StrategyParams,
    WindowView,
)
from polyexec.strategies.flow_following import FlowFollowingStrategy

D = Decimal
UP, DOWN = "101", "202"
COND = "0x" + "ab" * 32
MARKET = Market(
    asset="btc",
    slug="btc-updown-15m-1800000000",
    condition_id=COND,
    up_token_id=UP,
    down_token_id=DOWN,
    window_start=1_800_000_000,
    window_end=1_800_000_900,
)
NOW = 1_800_000_300_000  # 600 s before the window ends
LIMITS = RiskLimits(max_trade_usd=D(5), max_loss_per_trade_usd=D(5))
Levels = Sequence[tuple[str, str]]

# A book around 0.50 with depth on both sides, and the same book after a 4-cent rise.
CALM_BIDS = [("0.49", "100"), ("0.48", "100")]
CALM_ASKS = [("0.51", "100"), ("0.52", "100")]
RISEN_BIDS = [("0.53", "100"), ("0.52", "100")]
RISEN_ASKS = [("0.55", "100"), ("0.56", "100"), ("0.57", "100")]


def levels(pairs: Levels) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(D(price), D(size)) for price, size in pairs)


def snapshot(token: str, bids: Levels, asks: Levels, ts: int = NOW) -> BookSnapshot:
    return BookSnapshot(token, COND, ts, levels(bids), levels(asks))


def book(token: str, bids: Levels, asks: Levels, *, trusted: bool = True) -> OrderBook:
    result = OrderBook(token)
    result.apply_snapshot(snapshot(token, bids, asks))
    if not trusted:
        result.mark_untrusted(UntrustedReason.STALE)
    return result


def mirror(pairs: Levels) -> list[tuple[str, str]]:
    """The other outcome's side of the book: price 1 − p, same size."""
    return [(str(1 - D(price)), size) for price, size in pairs]


def view(
    up_bids: Levels = RISEN_BIDS,
    up_asks: Levels = RISEN_ASKS,
    *,
    tradable: bool = True,
    up_trusted: bool = True,
    down_trusted: bool = True,
) -> WindowView:
    up = book(UP, up_bids, up_asks, trusted=up_trusted)
    down = book(DOWN, mirror(up_asks), mirror(up_bids), trusted=down_trusted)
    return WindowView(MARKET, up, down, strike=D(100_000), tradable=tradable)


def context(
    window: WindowView | None = None,
    *,
    now: int = NOW,
    holdings: Sequence[Holding] = (),
    resting: Sequence[RestingOrder] = (),
    limits: RiskLimits = LIMITS,
    params: StrategyParams | None = None,
    proposed: Sequence[Proposal] = (),
) -> StrategyContext:
    return StrategyContext(
        now_ms=now,
        windows=(window if window is not None else view(),),
        underlyings={},
        holdings={holding.token_id: holding for holding in holdings},
        resting=tuple(resting),
        limits=limits,
        params=params if params is not None else StrategyParams(),
        proposed=tuple(proposed),
    )


def quote(ff: FlowFollowingStrategy, token: str, at: int, bid: str, ask: str) -> None:
    ff.observe(BestBidAsk(token, COND, D(bid), D(ask), at), at)


def rise_up_token(
    ff: FlowFollowingStrategy, *, start: int = NOW - 3_000, to: tuple[str, str] = ("0.53", "0.55")
) -> None:
    """Up quoted 0.49/0.51 at ``start``, then ``to`` one second later (Down mirrors it)."""
    quote(ff, UP, start, "0.49", "0.51")
    quote(ff, DOWN, start, "0.49", "0.51")
    bid, ask = to
    quote(ff, UP, start + 1_000, bid, ask)
    quote(ff, DOWN, start + 1_000, str(1 - D(ask)), str(1 - D(bid)))


def trade(
    ff: FlowFollowingStrategy, token: str, at: int, size: str, side: Side = Side.BUY, price: str = "0.50"
) -> None:
    ff.observe(LastTradePrice(token, COND, D(price), D(size), side, at), at)


def orders(proposals: Sequence[Proposal]) -> list[OrderIntent]:
    return [proposal for proposal in proposals if isinstance(proposal, OrderIntent)]


def ff_holding(
    token: str = UP, shares: str = "10", cost: str = "0.50", sellable: str | None = None
) -> Holding:
    return Holding(token, COND, D(shares), D(sellable or shares), D(cost), "FF")


# --- entries on a sudden move ------------------------------------------------------------------


def test_a_sudden_rise_is_followed_by_a_marketable_buy_of_the_rising_token() -> None:
    ff = FlowFollowingStrategy()
    rise_up_token(ff)
    [intent] = ff.decide(context())
    assert isinstance(intent, OrderIntent)
    assert (intent.strategy, intent.condition_id, intent.token_id) == ("FF", COND, UP)
    assert (intent.side, intent.order_type, intent.reduces_position) == (Side.BUY, OrderType.FAK, False)
    # limit: best ask 0.55 + max_slippage_cents 2; size: $5 / 0.57 floored to the cent.
    assert intent.price == D("0.57")
    assert intent.size == D("8.77")
    assert intent.notional <= LIMITS.max_trade_usd
    assert "Up +4.0c in 10s" in intent.reason
    assert "ask 0.55" in intent.reason


def test_a_sudden_fall_is_followed_by_buying_the_other_outcome() -> None:
    ff = FlowFollowingStrategy()
    # Up falls from 0.50 to 0.46: Down rises from 0.50 to 0.54.
    rise_up_token(ff, to=("0.45", "0.47"))
    fallen = view(up_bids=[("0.45", "100"), ("0.44", "100")], up_asks=[("0.47", "100"), ("0.48", "100")])
    [intent] = orders(ff.decide(context(fallen)))
    assert (intent.token_id, intent.side) == (DOWN, Side.BUY)
    # Down's best ask is 1 − 0.45 = 0.55: limit 0.57.
    assert intent.price == D("0.57")
    assert "Up -4.0c" in intent.reason
    assert "Down +4.0c" in intent.reason


def test_price_changes_and_book_snapshots_feed_the_move_detector() -> None:
    ff = FlowFollowingStrategy()
    ff.observe(snapshot(UP, CALM_BIDS, CALM_ASKS, NOW - 4_000), NOW - 4_000)
    change = PriceLevelChange(UP, D("0.55"), D("100"), Side.SELL, best_bid=D("0.53"), best_ask=D("0.55"))
    other = PriceLevelChange(DOWN, D("0.45"), D("100"), Side.BUY, best_bid=D("0.45"), best_ask=D("0.47"))
    ff.observe(PriceChange(COND, NOW - 2_000, (change, other)), NOW - 2_000)
    [intent] = orders(ff.decide(context()))
    assert intent.token_id == UP
    assert "Up +4.0c" in intent.reason


def test_a_slow_drift_never_covering_the_threshold_inside_one_window_is_ignored() -> None:
    ff = FlowFollowingStrategy(window_s=10)
    # 0.50 → 0.56 over a minute, one cent every 10 s: 6 cents in all, 1 cent per window.
    for step in range(7):
        at = NOW - 60_000 + step * 10_000
        mid = D("0.50") + D(step) / 100
        quote(ff, UP, at, str(mid - D("0.01")), str(mid + D("0.01")))
    assert ff.decide(context()) == []


def test_a_move_below_the_threshold_is_ignored() -> None:
    ff = FlowFollowingStrategy()
    rise_up_token(ff, to=("0.51", "0.53"))  # +2 cents, threshold 3
    assert ff.decide(context()) == []
    assert orders(ff.decide(context(params=StrategyParams(min_move_cents=D(2))))) != []


def test_a_spike_that_already_reversed_is_ignored() -> None:
    ff = FlowFollowingStrategy()
    quote(ff, UP, NOW - 4_000, "0.49", "0.51")
    quote(ff, UP, NOW - 3_000, "0.53", "0.55")
    quote(ff, UP, NOW - 2_000, "0.50", "0.52")
    assert ff.decide(context()) == []


def test_the_move_is_measured_from_the_price_in_force_when_the_window_began() -> None:
    ff = FlowFollowingStrategy(window_s=10)
    quote(ff, UP, NOW - 30_000, "0.49", "0.51")  # 0.50, long before the window
    quote(ff, UP, NOW - 1_000, "0.53", "0.55")  # one jump inside it to 0.54
    assert orders(ff.decide(context()))[0].token_id == UP
    stale = FlowFollowingStrategy(window_s=10)
    rise_up_token(stale, start=NOW - 15_000)  # the same jump, out of the window by now
    assert stale.decide(context()) == []


def test_signals_pointing_at_both_outcomes_are_left_alone() -> None:
    rising, torn = FlowFollowingStrategy(), FlowFollowingStrategy()
    for ff in (rising, torn):
        for at in range(NOW - 40_000, NOW - 30_000, 1_000):
            trade(ff, UP, at, "10")
        rise_up_token(ff)  # Up +4 cents: buy Up
    trade(torn, UP, NOW - 500, "100", side=Side.SELL, price="0.54")  # a large taker sell: buy Down
    assert orders(rising.decide(context()))[0].token_id == UP
    assert torn.decide(context()) == []


# --- entries on a large trade ------------------------------------------------------------------


def _steady_trades(ff: FlowFollowingStrategy, count: int = 10, token: str = UP) -> None:
    quote(ff, UP, NOW - 60_000, "0.49", "0.51")
    for index in range(count):
        trade(ff, token, NOW - 30_000 + index * 1_000, "10")


@pytest.mark.parametrize(("side", "token"), [(Side.BUY, UP), (Side.SELL, DOWN)])
def test_a_large_taker_trade_is_followed_in_its_direction(side: Side, token: str) -> None:
    ff = FlowFollowingStrategy(large_trade_multiple=D(5))
    _steady_trades(ff)
    trade(ff, UP, NOW - 500, "50", side=side)
    [intent] = orders(ff.decide(context(view(CALM_BIDS, CALM_ASKS))))
    assert (intent.token_id, intent.price) == (token, D("0.53"))
    assert f"taker {side} 50 >= 5x median 10" in intent.reason


def test_an_ordinary_trade_or_too_short_a_history_is_no_signal() -> None:
    ff = FlowFollowingStrategy(large_trade_multiple=D(5), min_trades_for_median=10)
    _steady_trades(ff)
    trade(ff, UP, NOW - 500, "49")
    assert ff.decide(context(view(CALM_BIDS, CALM_ASKS))) == []
    young = FlowFollowingStrategy(min_trades_for_median=10)
    _steady_trades(young, count=9)
    trade(young, UP, NOW - 500, "500")
    assert young.decide(context(view(CALM_BIDS, CALM_ASKS))) == []


# --- cooldown and what blocks an entry ----------------------------------------------------------


def test_no_reentry_in_a_market_until_its_cooldown_has_passed() -> None:
    ff = FlowFollowingStrategy(window_s=10, cooldown_s=60)
    rise_up_token(ff)
    assert len(orders(ff.decide(context()))) == 1
    assert ff.decide(context(now=NOW + 1_000)) == []  # the same move, a second later
    # A fresh 4-cent move 30 s after the entry: still cooling down.
    rise_up_token(ff, start=NOW + 28_000, to=("0.57", "0.59"))
    later = view([("0.57", "100")], [("0.59", "100"), ("0.60", "100")])
    assert ff.decide(context(later, now=NOW + 30_000)) == []
    # Another 4 cents once the minute is over: followed.
    quote(ff, UP, NOW + 69_000, "0.61", "0.63")
    latest = view([("0.61", "100")], [("0.63", "100"), ("0.64", "100")])
    [intent] = orders(ff.decide(context(latest, now=NOW + 70_000)))
    assert "Up +4.0c" in intent.reason


def test_an_exit_starts_the_cooldown_too() -> None:
    stopped, fresh = FlowFollowingStrategy(cooldown_s=60), FlowFollowingStrategy(cooldown_s=60)
    holding = ff_holding(cost="0.60")  # bid 0.53 is a stop
    assert [i.side for i in orders(stopped.decide(context(holdings=[holding])))] == [Side.SELL]
    for ff in (stopped, fresh):
        rise_up_token(ff, start=NOW + 5_000)
    assert stopped.decide(context(now=NOW + 7_000)) == []
    assert len(orders(fresh.decide(context(now=NOW + 7_000)))) == 1


@pytest.mark.parametrize(
    ("holdings", "resting", "proposed"),
    [
        ([ff_holding(DOWN, cost="0.45")], [], []),  # FF already holds the market
        ([], [RestingOrder("o1", "FF", COND, UP, Side.BUY, D("0.57"), D(8), OrderType.FAK)], []),
        (
            [],
            [],
            [OrderIntent("ICC", COND, UP, Side.SELL, D("0.53"), D(5), OrderType.FAK, reduces_position=True)],
        ),
        ([], [], [CancelIntent(CancelScope.ALL, reason="kill")]),
    ],
    ids=["ff-holds", "ff-in-flight", "earlier-proposal", "cancel-all"],
)
def test_no_entry_where_ff_or_an_earlier_strategy_is_already_busy(
    holdings: list[Holding], resting: list[RestingOrder], proposed: list[Proposal]
) -> None:
    ff = FlowFollowingStrategy()
    rise_up_token(ff)
    assert orders(ff.decide(context(holdings=holdings, resting=resting, proposed=proposed))) == []


def test_never_enters_on_an_untrusted_book_or_a_window_that_is_not_tradable() -> None:
    for window in (view(up_trusted=False), view(down_trusted=False), view(tradable=False)):
        ff = FlowFollowingStrategy()
        rise_up_token(ff)
        assert ff.decide(context(window)) == []


@pytest.mark.parametrize("seconds_left", [29, 871])
def test_never_enters_outside_the_risk_time_window(seconds_left: int) -> None:
    now = MARKET.window_end * 1000 - seconds_left * 1000
    ff = FlowFollowingStrategy()
    rise_up_token(ff, start=now - 3_000)
    assert ff.decide(context(now=now)) == []
    anytime = RiskLimits(max_trade_usd=D(5), min_seconds_to_end=0, max_seconds_to_end=900)
    assert len(orders(ff.decide(context(now=now, limits=anytime)))) == 1


# --- slippage and size limits -------------------------------------------------------------------


def test_a_thin_book_within_the_slippage_limit_yields_nothing() -> None:
    ff = FlowFollowingStrategy()
    rise_up_token(ff)
    # 3 shares within 2 cents of the touch, the rest beyond: below the 5-share minimum.
    thin = view(RISEN_BIDS, [("0.55", "3"), ("0.58", "100")])
    assert ff.decide(context(thin)) == []


def test_the_size_stops_where_the_estimated_slippage_reaches_the_limit() -> None:
    limits = RiskLimits(max_trade_usd=D(5), max_loss_per_trade_usd=D(5), max_slippage_pct=D(2))
    deep = view([("0.19", "500")], [("0.20", "6"), ("0.21", "500")])
    thin = view([("0.19", "500")], [("0.20", "2"), ("0.21", "500")])
    proposals = []
    for window in (deep, thin):
        ff = FlowFollowingStrategy()
        quote(ff, UP, NOW - 3_000, "0.14", "0.16")
        quote(ff, UP, NOW - 2_000, "0.19", "0.20")
        proposals.append(orders(ff.decide(context(window, limits=limits))))
    [intent] = proposals[0]
    # VWAP bound 0.204 (2 % over 0.20): 6 shares at 0.20 and 4 at 0.21; $5 alone would buy 22.72.
    assert (intent.price, intent.size) == (D("0.22"), D("10"))
    estimate = deep.up_book.estimate_fill(Side.BUY, intent.size)
    assert estimate.slippage_pct == D(2)
    # 2 shares at the touch: the bound allows 3.33 shares, below the 5-share minimum.
    assert proposals[1] == []


def test_an_entry_that_cannot_reach_the_minimum_size_within_max_trade_usd_is_not_proposed() -> None:
    ff = FlowFollowingStrategy()
    rise_up_token(ff)
    # $1 at a 0.57 limit buys 1.75 shares, below the 5-share minimum.
    assert ff.decide(context(limits=RiskLimits())) == []


def test_a_wide_spread_or_a_shallow_book_is_not_entered() -> None:
    ff = FlowFollowingStrategy()
    rise_up_token(ff)
    wide = view([("0.45", "100")], [("0.55", "100"), ("0.56", "100")])
    assert ff.decide(context(wide)) == []
    shallow = view([("0.53", "5")], RISEN_ASKS)  # $2.65 of bids < min_depth_usd 10
    assert ff.decide(context(shallow)) == []


# --- exits --------------------------------------------------------------------------------------


def test_take_profit_sells_the_sellable_shares_with_a_reducing_fak() -> None:
    ff = FlowFollowingStrategy(take_profit_cents=D(3))
    [intent] = orders(ff.decide(context(holdings=[ff_holding(cost="0.50")])))
    assert (intent.token_id, intent.side, intent.order_type) == (UP, Side.SELL, OrderType.FAK)
    assert intent.reduces_position
    # best bid 0.53 − max_slippage_cents 2
    assert (intent.price, intent.size) == (D("0.51"), D("10"))
    assert intent.reason.startswith("take profit: bid 0.53 >= cost 0.5 + 3.0c")


def test_stop_loss_sells_when_the_bid_falls_to_cost_minus_the_stop() -> None:
    ff = FlowFollowingStrategy(stop_loss_cents=D(3))
    [intent] = orders(ff.decide(context(holdings=[ff_holding(cost="0.56")])))
    assert (intent.side, intent.reduces_position, intent.size) == (Side.SELL, True, D("10"))
    assert intent.reason.startswith("stop: bid 0.53 <= cost 0.56 - 3.0c")


def test_no_exit_between_the_stop_and_the_target_or_for_another_strategys_holding() -> None:
    ff = FlowFollowingStrategy(take_profit_cents=D(5), stop_loss_cents=D(3))
    assert ff.decide(context(holdings=[ff_holding(cost="0.52")])) == []
    foreign = Holding(UP, COND, D(10), D(10), D("0.60"), "FV")
    assert ff.decide(context(holdings=[foreign])) == []


def test_exits_sell_only_confirmed_shares_not_already_offered() -> None:
    ff = FlowFollowingStrategy()
    holding = ff_holding(shares="20", sellable="18", cost="0.60")
    resting = [RestingOrder("s1", "EXIT", COND, UP, Side.SELL, D("0.60"), D("6"))]
    [intent] = orders(ff.decide(context(holdings=[holding], resting=resting)))
    assert intent.size == D("12")


def test_an_exit_never_leaves_an_unsellable_remainder() -> None:
    ff = FlowFollowingStrategy()
    # 8 shares at the bid and more beyond the slippage limit: selling 8 of 10 would strand 2.
    window = view([("0.53", "8"), ("0.40", "100")], RISEN_ASKS)
    [intent] = orders(ff.decide(context(window, holdings=[ff_holding(cost="0.60")])))
    assert intent.size == D("5")
    assert ff.decide(context(window, holdings=[ff_holding(shares="4", cost="0.60")])) == []


def test_exits_go_out_on_a_non_tradable_window_but_never_on_an_untrusted_book() -> None:
    holding = ff_holding(cost="0.60")
    assert orders(FlowFollowingStrategy().decide(context(view(tradable=False), holdings=[holding])))
    assert FlowFollowingStrategy().decide(context(view(up_trusted=False), holdings=[holding])) == []
    ended = MARKET.window_end * 1000
    assert FlowFollowingStrategy().decide(context(now=ended, holdings=[holding])) == []


def test_a_leftover_resting_ff_order_is_cancelled_and_one_in_flight_is_left_alone() -> None:
    ff = FlowFollowingStrategy()
    stray = RestingOrder("gtc1", "FF", COND, UP, Side.BUY, D("0.40"), D(5))
    in_flight = RestingOrder("fak1", "FF", COND, UP, Side.BUY, D("0.57"), D(5), OrderType.FAK)
    proposals = ff.decide(context(resting=[stray, in_flight]))
    assert proposals == [
        CancelIntent(CancelScope.ORDER, "gtc1", COND, UP, reason="FF never rests orders: cancel leftover")
    ]


# --- wallet addresses, odd input, construction ---------------------------------------------------


def test_target_addresses_cannot_be_followed_and_the_whole_market_flow_is_said_to_be_followed() -> None:
    params = StrategyParams(target_addresses=("0x" + "11" * 20,))
    ff = FlowFollowingStrategy()
    rise_up_token(ff)
    [intent] = orders(ff.decide(context(params=params)))
    assert "target addresses are not observable" in intent.reason
    assert FlowFollowingStrategy.address_following_note(params) is not None
    assert FlowFollowingStrategy.address_following_note(StrategyParams()) is None


def test_malformed_events_are_counted_and_skipped_and_other_feeds_ignored() -> None:
    ff = FlowFollowingStrategy()
    ff.observe(LastTradePrice(UP, COND, D("NaN"), D(5), Side.BUY, NOW), NOW)
    ff.observe(LastTradePrice(UP, COND, D("1.5"), D(5), Side.BUY, NOW), NOW)
    ff.observe(BestBidAsk(UP, COND, D("sNaN"), D("0.5"), NOW), NOW)
    ff.observe(BinanceTrade("btcusdt", 1, D(100_000), D(1), NOW, NOW, buyer_is_maker=False), NOW)
    assert ff.skipped_events == 3
    assert ff.tracked_tokens == 0
    assert ff.decide(context()) == []


def test_odd_states_propose_nothing() -> None:
    ff = FlowFollowingStrategy()
    rise_up_token(ff)
    empty = WindowView(MARKET, book(UP, [], []), book(DOWN, [], []), strike=None)
    assert ff.decide(context(empty)) == []
    weird = Holding(UP, COND, D(10), D(10), D(0), "FF")
    assert FlowFollowingStrategy().decide(context(empty, holdings=[weird])) == []
    assert FlowFollowingStrategy().decide(context(params=StrategyParams(min_move_cents=D(0)))) == []


def test_a_clock_stepping_back_keeps_the_history_ordered() -> None:
    ff = FlowFollowingStrategy()
    quote(ff, UP, NOW - 2_000, "0.49", "0.51")
    quote(ff, UP, NOW - 20_000, "0.53", "0.55")  # stamped at NOW − 2 s: not out of the window
    assert orders(ff.decide(context()))[0].token_id == UP


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_s": 0},
        {"cooldown_s": 10, "window_s": 10},
        {"take_profit_cents": D(0)},
        {"stop_loss_cents": D("NaN")},
        {"large_trade_multiple": D(1)},
        {"trade_size_memory": 10, "min_trades_for_median": 20},
        {"history_limit": 1},
        {"entry_order_type": OrderType.GTC},
    ],
)
def test_bad_settings_are_refused_with_a_clear_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        FlowFollowingStrategy(**kwargs)  # type: ignore[arg-type]


def test_it_is_a_strategy_named_ff() -> None:
    strategy: Strategy = FlowFollowingStrategy()  # mypy checks the protocol
    assert strategy.name == "FF"


def test_fok_entries_when_configured() -> None:
    ff = FlowFollowingStrategy(entry_order_type=OrderType.FOK)
    rise_up_token(ff)
    assert orders(ff.decide(context()))[0].order_type is OrderType.FOK


# --- properties ---------------------------------------------------------------------------------

_PRICES = st.integers(min_value=1, max_value=98).map(lambda cents: D(cents) / 100)
_SIZES = st.integers(min_value=1, max_value=20_000).map(lambda hundredths: D(hundredths) / 100)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    count=st.integers(min_value=0, max_value=2_000),
    token_count=st.integers(min_value=1, max_value=12),
    max_step_ms=st.sampled_from([100, 3_000]),
)
def test_memory_stays_bounded_whatever_the_event_stream(
    seed: int, count: int, token_count: int, max_step_ms: int
) -> None:
    rng = random.Random(seed)  # a seeded stream: far cheaper than thousands of hypothesis draws
    ff = FlowFollowingStrategy(
        history_limit=16, trade_size_memory=10, min_trades_for_median=3, max_tracked_tokens=4
    )
    at = NOW
    for _ in range(count):
        at += rng.randint(-50, max_step_ms)  # the clock may step back a little
        token = str(rng.randrange(token_count))
        price = D(rng.randint(1, 98)) / 100
        event: FeedEvent
        if rng.random() < 0.5:
            event = LastTradePrice(
                token, COND, price, D(rng.randint(1, 20_000)) / 100, rng.choice(list(Side)), at
            )
        else:
            event = BestBidAsk(token, COND, price, price + D("0.01"), at)
        ff.observe(event, at)
        assert ff.tracked_tokens <= 4
        assert ff.history_size(token) <= 16 + 10
    if count >= 200:
        assert ff.tracked_tokens == min(4, token_count)  # it keeps remembering, within the bound


_LEVELS = st.lists(st.tuples(_PRICES, _SIZES), max_size=6)
_MOSTLY_TRUE = st.sampled_from([True, True, True, False])


@st.composite
def _plausible_book(draw: st.DrawFn) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
    """A two-sided book around a drawn touch, as a live market looks (most of them tradable)."""
    bid = draw(st.integers(min_value=2, max_value=90))
    ask = bid + draw(st.integers(min_value=1, max_value=3))
    sizes, depth = st.integers(min_value=1, max_value=500).map(D), st.integers(min_value=1, max_value=5)
    bids = [(D(bid - 2 * n) / 100, draw(sizes)) for n in range(draw(depth)) if bid - 2 * n >= 1]
    asks = [(D(ask + n) / 100, draw(sizes)) for n in range(draw(depth)) if ask + n <= 99]
    return bids, asks


@settings(max_examples=100, deadline=None)
@given(
    up_levels=st.one_of(_plausible_book(), _plausible_book(), _plausible_book(), st.tuples(_LEVELS, _LEVELS)),
    before=_PRICES,
    after=_PRICES,
    max_trade=st.integers(min_value=1, max_value=50).map(D),
    trusted=_MOSTLY_TRUE,
    tradable=_MOSTLY_TRUE,
    holds=st.booleans(),
    cost=_PRICES,
)
def test_entries_and_exits_always_stay_within_the_limits(
    up_levels: tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]],
    before: Decimal,
    after: Decimal,
    max_trade: Decimal,
    trusted: bool,
    tradable: bool,
    holds: bool,
    cost: Decimal,
) -> None:
    limits = RiskLimits(max_trade_usd=max_trade, max_loss_per_trade_usd=max_trade)
    bids, asks = up_levels
    up = book(UP, [(str(p), str(s)) for p, s in bids], [(str(p), str(s)) for p, s in asks], trusted=trusted)
    down = book(DOWN, CALM_BIDS, CALM_ASKS)
    window = WindowView(MARKET, up, down, strike=None, tradable=tradable)
    ff = FlowFollowingStrategy()
    quote(ff, UP, NOW - 3_000, str(before), str(before + D("0.01")))
    quote(ff, UP, NOW - 1_000, str(after), str(after + D("0.01")))
    holdings = [ff_holding(cost=str(cost))] if holds else []
    proposals = ff.decide(context(window, limits=limits, holdings=holdings))
    for intent in orders(proposals):
        target = window.book_of(intent.token_id)
        assert target.trusted
        assert intent.size >= MARKET.min_size
        estimate = target.estimate_fill(intent.side, intent.size)
        assert estimate.complete
        assert estimate.slippage_pct is not None
        assert estimate.slippage_pct <= limits.max_slippage_pct
        if intent.side is Side.BUY:
            best_ask = target.best_ask()
            assert tradable
            assert not holds
            assert best_ask is not None
            assert intent.notional <= limits.max_trade_usd
            assert intent.price <= best_ask.price + limits.max_slippage_cents / 100
        else:
            best_bid = target.best_bid()
            assert intent.reduces_position
            assert best_bid is not None
            assert intent.size <= D(10)
            assert intent.price >= best_bid.price - limits.max_slippage_cents / 100
