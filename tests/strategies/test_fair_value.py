"""FairValueStrategy decisions on constructed market states: which side, which token, price, size
and reason; exits; and the cases where it must propose nothing."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from statistics import NormalDist
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyexec.core.events import BookSnapshot
from polyexec.core.models import (
    BookLevel,
    CancelIntent,
    CancelScope,
    FeeSchedule,
    Market,
    OrderIntent,
    OrderType,
    Side,
)
from polyexec.core.order_book import OrderBook, UntrustedReason
from polyexec.core.pricing import is_valid_price, is_valid_size
from polyexec.core.risk_limits import RiskLimits
from polyexec.strategies.context import (
    Holding,
    Proposal,
    RestingOrder,
    Strategy,
    StrategyContext,
    StrategyParams,
    UnderlyingView,
    WindowView,
)
from polyexec.strategies.fair_value import FairValueConfig, FairValueStrategy, window_probability_up
from polyexec.strategies.fair_value_model import probability_up

D = Decimal
CONDITION = "0x" + "ab" * 32
UP, DOWN = "1001", "1002"
MARKET = Market(
    asset="btc",
    slug="btc-updown-15m-1800000000",
    condition_id=CONDITION,
    up_token_id=UP,
    down_token_id=DOWN,
    window_start=1_800_000_000,
    window_end=1_800_000_900,
)
END_MS = MARKET.window_end * 1_000
NOW = END_MS - 300_000  # five minutes left
STRIKE = D(100_000)
SIGMA = 8.9e-5
LIMITS = RiskLimits(  # $10 trades, room for several in the market, category and account
    max_trade_usd=D(10), max_loss_per_trade_usd=D(10), max_window_usd=D(50), max_exposure_usd=D(200),
    max_exposure_per_market_usd=D(50), max_exposure_per_category_usd=D(100),
)  # fmt: skip
NO_BASIS = D(0)
NO_CHASE = FairValueConfig(max_chase_ticks=0)

Levels = Sequence[tuple[str, str]]


def book(
    token: str, *, bids: Levels = (), asks: Levels = (), tick: str = "0.01", trusted: bool = True
) -> OrderBook:
    result = OrderBook(token, D(tick))
    result.apply_snapshot(
        BookSnapshot(
            asset_id=token,
            condition_id=CONDITION,
            timestamp_ms=NOW - 1_000,
            bids=tuple(BookLevel(D(p), D(s)) for p, s in bids),
            asks=tuple(BookLevel(D(p), D(s)) for p, s in asks),
        )
    )
    if not trusted:
        result.mark_untrusted(UntrustedReason.RECONNECT)
    return result


def up_book(ask: str = "0.60", bid: str = "0.58", size: str = "100", *, trusted: bool = True) -> OrderBook:
    return book(UP, bids=[(bid, size)], asks=[(ask, size)], trusted=trusted)


def down_book(ask: str = "0.42", bid: str = "0.40", size: str = "100", *, trusted: bool = True) -> OrderBook:
    return book(DOWN, bids=[(bid, size)], asks=[(ask, size)], trusted=trusted)


def binance_price_for(p_up: float, seconds_left: float = 300) -> Decimal:
    """The Binance price (basis 0) at which the model gives ``p_up`` with ``seconds_left`` > 60."""
    sd = SIGMA * math.sqrt(seconds_left - 60 + 20)
    return D(f"{float(STRIKE) * math.exp(NormalDist().inv_cdf(p_up) * sd):.2f}")


def underlying(
    price: Decimal | None,
    *,
    basis: Decimal | None = NO_BASIS,
    sigma: float | None = SIGMA,
    at_ms: int = NOW - 100,
) -> UnderlyingView:
    return UnderlyingView("btc", price, at_ms, None, None, basis=basis, volatility=sigma)


def context(
    *,
    p_up: float = 0.70,
    up: OrderBook | None = None,
    down: OrderBook | None = None,
    now_ms: int = NOW,
    tradable: bool = True,
    limits: RiskLimits = LIMITS,
    holdings: Sequence[Holding] = (),
    resting: Sequence[RestingOrder] = (),
    min_edge_cents: str = "5",
    spot: UnderlyingView | None = None,
    strike: Decimal | None = STRIKE,
    observed: tuple[int, Decimal] | None = None,
    market: Market = MARKET,
    proposed: Sequence[Proposal] = (),
) -> StrategyContext:
    view = WindowView(
        market,
        up if up is not None else up_book(),
        down if down is not None else down_book(),
        strike=strike,
        settlement_observed=observed,
        tradable=tradable,
    )
    if spot is None:
        spot = underlying(binance_price_for(p_up, (END_MS - now_ms) / 1_000), at_ms=now_ms - 100)
    return StrategyContext(
        now_ms=now_ms,
        windows=(view,),
        underlyings={"btc": spot},
        holdings={h.token_id: h for h in holdings},
        resting=tuple(resting),
        limits=limits,
        params=StrategyParams(min_edge_cents=D(min_edge_cents)),
        proposed=tuple(proposed),
    )


def decide(ctx: StrategyContext, config: FairValueConfig | None = None) -> list[Proposal]:
    return list(FairValueStrategy(config).decide(ctx))


def only_order(proposals: Sequence[Proposal]) -> OrderIntent:
    (proposal,) = proposals  # exactly one
    assert isinstance(proposal, OrderIntent)
    return proposal


def fv_holding(token: str, shares: str, sellable: str | None = None, cost: str = "0.50") -> Holding:
    return Holding(token, CONDITION, D(shares), D(sellable or shares), D(cost), "FV")


# --- entries -------------------------------------------------------------------------------------


def test_buys_up_with_a_fok_at_the_ask_when_its_edge_beats_the_threshold() -> None:
    # p_up 0.70, ask 0.60, fee 0.07·0.6·0.4 = 1.68c: edge 8.3c > 5c.
    intent = only_order(decide(context(), NO_CHASE))
    assert (intent.strategy, intent.condition_id, intent.token_id) == ("FV", CONDITION, UP)
    assert (intent.side, intent.order_type, intent.reduces_position) == (Side.BUY, OrderType.FOK, False)
    assert intent.price == D("0.60")
    assert intent.size == D("16.66")  # $10 / 0.60 = 16.666… floored to 2 decimals
    assert intent.notional <= LIMITS.max_trade_usd
    assert intent.reason.startswith("buy Up: edge 8.3c > 5.0c at ask 0.60, p_up 0.70")


def test_buys_down_when_the_market_overprices_up() -> None:
    ctx = context(p_up=0.30, up=up_book(ask="0.42", bid="0.40"), down=down_book(ask="0.60", bid="0.58"))
    intent = only_order(decide(ctx, NO_CHASE))
    assert (intent.token_id, intent.side, intent.price, intent.size) == (
        DOWN,
        Side.BUY,
        D("0.60"),
        D("16.66"),
    )
    assert intent.reason.startswith("buy Down: edge 8.3c")


def test_no_edge_on_either_side_proposes_nothing() -> None:
    assert decide(context(p_up=0.62)) == []  # Up: 0.62 − 0.60 − 1.7c < 5c; Down: 0.38 − 0.42 < 0


def test_the_taker_fee_makes_a_marginal_edge_disappear() -> None:
    # p_up 0.70, ask 0.64: 6c before the fee, 0.07·0.64·0.36 = 1.6c after it: 4.4c < 5c.
    ctx = context(up=up_book(ask="0.64", bid="0.62"))
    assert decide(ctx) == []
    free = replace(MARKET, fee=FeeSchedule(rate=D(0)))
    intent = only_order(decide(context(up=up_book(ask="0.64", bid="0.62"), market=free), NO_CHASE))
    assert (intent.token_id, intent.price) == (UP, D("0.64"))


def test_chases_up_to_the_last_tick_where_the_edge_still_holds() -> None:
    # Ask 0.62: edge 6.4c at 0.62, 5.4c at 0.63, 4.4c at 0.64. Three ticks allowed, two used up.
    ctx = context(up=up_book(ask="0.62", bid="0.60"), limits=_limits(max_slippage_cents=D(5)))
    intent = only_order(decide(ctx, FairValueConfig(max_chase_ticks=3)))
    assert intent.price == D("0.63")
    assert intent.size == D("15.87")  # sized at the limit: $10 / 0.63


def test_the_chase_never_reaches_past_the_slippage_limit() -> None:
    ctx = context(up=up_book(ask="0.55", bid="0.53"), limits=_limits(max_slippage_cents=D(1)))
    intent = only_order(decide(ctx, FairValueConfig(max_chase_ticks=5)))
    assert intent.price == D("0.56")


def test_size_is_capped_by_the_depth_visible_at_the_limit() -> None:
    shallow = book(UP, bids=[("0.58", "50")], asks=[("0.60", "7"), ("0.62", "50")])
    intent = only_order(decide(context(up=shallow), FairValueConfig(max_chase_ticks=1)))
    assert (intent.price, intent.size) == (D("0.61"), D("7.00"))


def test_a_level_too_thin_for_the_minimum_is_skipped_for_the_next_tick() -> None:
    thin = book(UP, bids=[("0.58", "50")], asks=[("0.60", "3"), ("0.61", "20")])
    assert decide(context(up=thin), NO_CHASE) == []  # 3 shares < 5: a FOK would not be valid
    intent = only_order(decide(context(up=thin), FairValueConfig(max_chase_ticks=1)))
    assert (intent.price, intent.size) == (D("0.61"), D("16.39"))


@pytest.mark.parametrize(
    ("max_trade", "ask", "size"),
    [("3.33", "0.20", "16.65"), ("1", "0.17", "5.88"), ("2.50", "0.30", "8.33")],
)
def test_size_is_what_max_trade_usd_buys_floored_to_two_decimals(max_trade: str, ask: str, size: str) -> None:
    ctx = context(p_up=0.45, up=up_book(ask=ask, bid="0.10"), limits=_limits(max_trade_usd=D(max_trade)))
    intent = only_order(decide(ctx, NO_CHASE))
    assert intent.size == D(size)
    assert intent.notional <= D(max_trade)


def test_an_order_below_the_minimum_size_within_max_trade_usd_is_not_proposed() -> None:
    # $1 buys 1.66 shares at 0.60: below the market's 5-share minimum.
    assert decide(context(limits=_limits(max_trade_usd=D(1), max_loss_per_trade_usd=D(1)))) == []


def test_the_loss_per_trade_limit_caps_a_buy_too() -> None:
    intent = only_order(decide(context(limits=_limits(max_loss_per_trade_usd=D(4))), NO_CHASE))
    assert intent.size == D("6.66")


def test_fine_tick_near_the_edges_of_the_price_range() -> None:
    fine = book(UP, bids=[("0.959", "100")], asks=[("0.961", "100")], tick="0.001")
    down = book(DOWN, bids=[("0.039", "100")], asks=[("0.041", "100")], tick="0.001")
    ctx = context(p_up=0.995, up=fine, down=down, min_edge_cents="2")
    intent = only_order(decide(ctx, FairValueConfig(max_chase_ticks=1)))
    assert (intent.token_id, intent.price, intent.size) == (UP, D("0.962"), D("10.39"))
    assert is_valid_price(intent.price, D("0.001"))


# --- limits on what is already held or resting -----------------------------------------------------


def test_holdings_in_the_market_shrink_the_order_to_the_room_left() -> None:
    limits = _limits(max_exposure_per_market_usd=D(35))
    held = Holding(DOWN, CONDITION, D(60), D(60), D("0.50"), "MM")  # $30 at cost
    ctx = context(limits=limits, holdings=[held])
    intent = only_order(decide(ctx, NO_CHASE))
    assert (intent.price, intent.size) == (D("0.60"), D("8.33"))  # $5 of room


def test_resting_buys_and_the_window_limit_count_too() -> None:
    resting = RestingOrder("o1", "MM", CONDITION, DOWN, Side.BUY, D("0.40"), D(100))  # $40 bid
    ctx = context(limits=_limits(max_window_usd=D(42)), resting=[resting])
    assert decide(ctx, NO_CHASE) == []  # $2 of room buys 3.33 shares: under the minimum


def test_exposure_in_other_windows_of_the_same_asset_counts_for_the_category() -> None:
    other = replace(MARKET, condition_id="0x" + "cd" * 32, slug="btc-updown-15m-1800000900")
    held = Holding("2001", other.condition_id, D(190), D(190), D("0.50"), "FV")  # $95 of BTC
    base = context(holdings=[held])
    other_view = WindowView(other, book("2001"), book("2002"), strike=None)
    ctx = StrategyContext(
        now_ms=base.now_ms,
        windows=(*base.windows, other_view),
        underlyings=base.underlyings,
        holdings=base.holdings,
        resting=(),
        limits=LIMITS,
    )
    intent = only_order(decide(ctx, NO_CHASE))
    assert intent.size == D("8.33")  # $100 category limit − $95 held


def test_buys_proposed_earlier_in_the_pass_use_up_the_category_room() -> None:
    other = replace(
        MARKET,
        condition_id="0x" + "cd" * 32,
        slug="btc-updown-15m-1800000900",
        up_token_id="2001",
        down_token_id="2002",
    )
    base = context()
    first = base.windows[0]
    second = WindowView(
        other,
        book("2001", bids=[("0.58", "100")], asks=[("0.60", "100")]),
        book("2002", bids=[("0.40", "100")], asks=[("0.42", "100")]),
        strike=STRIKE,
    )
    ctx = replace(base, windows=(first, second), limits=_limits(max_exposure_per_category_usd=D(15)))
    proposals = decide(ctx, NO_CHASE)
    assert [(p.token_id, p.size) for p in proposals if isinstance(p, OrderIntent)] == [
        (UP, D("16.66")),
        ("2001", D("8.34")),  # ($15 − the $9.996 proposed just before) / 0.60
    ]


def test_an_fv_order_in_flight_in_the_market_blocks_a_second_one() -> None:
    in_flight = RestingOrder("o1", "FV", CONDITION, UP, Side.BUY, D("0.60"), D(16), OrderType.FOK)
    assert decide(context(resting=[in_flight])) == []


def test_a_resting_fv_order_is_cancelled_and_nothing_else_proposed() -> None:
    stray = RestingOrder("o7", "FV", CONDITION, UP, Side.BUY, D("0.55"), D(10), OrderType.GTC)
    proposals = decide(context(resting=[stray]))
    assert len(proposals) == 1
    cancel = proposals[0]
    assert isinstance(cancel, CancelIntent)
    assert (cancel.scope, cancel.order_id, cancel.condition_id, cancel.token_id) == (
        CancelScope.ORDER,
        "o7",
        CONDITION,
        UP,
    )
    assert cancel.reason


def test_no_entry_beyond_the_open_orders_limit() -> None:
    others = [RestingOrder(f"o{i}", "MM", "0x" + "ee" * 32, "9", Side.SELL, D("0.5"), D(5)) for i in range(5)]
    assert decide(context(resting=others, limits=_limits(max_open_orders=5))) == []


def test_no_entry_in_a_market_an_earlier_strategy_is_reducing() -> None:
    reducing = OrderIntent("ICC", CONDITION, DOWN, Side.SELL, D("0.40"), D(5), reduces_position=True)
    assert decide(context(proposed=[reducing])) == []
    assert decide(context(proposed=[CancelIntent(CancelScope.ALL, reason="kill")])) == []


# --- when to propose nothing ------------------------------------------------------------------------


def test_untrusted_books_get_nothing() -> None:
    ctx = context(up=up_book(trusted=False), down=down_book(trusted=False))
    assert decide(ctx) == []
    assert decide(context(up=OrderBook(UP), down=OrderBook(DOWN))) == []  # never snapshotted


def test_an_untradable_window_gets_no_new_order() -> None:
    assert decide(context(tradable=False)) == []


@pytest.mark.parametrize("seconds_left", [29, 5, 0, -10, 871, 899])
def test_outside_the_entry_time_window_nothing_is_opened(seconds_left: int) -> None:
    now = END_MS - seconds_left * 1_000
    spot = underlying(D(100_300), at_ms=now - 100)
    ctx = context(now_ms=now, spot=spot, observed=(30, D(100_300)), up=up_book(ask="0.20", bid="0.18"))
    assert decide(ctx) == []


def test_at_the_edges_of_the_entry_window_it_still_trades() -> None:
    for seconds_left in (30, 870):
        now = END_MS - seconds_left * 1_000
        spot = underlying(D(100_300), at_ms=now - 100)
        ctx = context(now_ms=now, spot=spot, observed=(30, D(100_300)), up=up_book(ask="0.20", bid="0.18"))
        assert only_order(decide(ctx)).token_id == UP


@pytest.mark.parametrize(
    "spot",
    [
        underlying(None),
        underlying(D(100_300), basis=None),
        underlying(D(100_300), sigma=None),
        underlying(D(100_300), sigma=math.nan),
        underlying(D(100_300), sigma=-1e-5),
        underlying(D(100_300), at_ms=NOW - 5_001),  # a stale leading price
        underlying(D(-1)),
    ],
)
def test_missing_or_unusable_inputs_propose_nothing(spot: UnderlyingView) -> None:
    assert decide(context(spot=spot, up=up_book(ask="0.20", bid="0.18"))) == []


def test_the_same_inputs_when_usable_do_trade() -> None:
    # The control for the cases above: nothing else in that state blocks a trade.
    intent = only_order(decide(context(spot=underlying(D(100_300)), up=up_book(ask="0.20", bid="0.18"))))
    assert intent.token_id == UP


def test_no_strike_empty_books_or_a_broken_fee_schedule_propose_nothing() -> None:
    assert decide(context(strike=None)) == []
    assert decide(context(up=book(UP), down=book(DOWN))) == []
    assert decide(context(market=replace(MARKET, fee=FeeSchedule(rate=D(-1))))) == []


def test_inside_the_last_minute_it_needs_the_observed_average() -> None:
    now = END_MS - 45_000
    spot = underlying(D("99990"), at_ms=now - 100)  # spot a hair below the strike
    ctx = context(
        now_ms=now, spot=spot, up=up_book(ask="0.70", bid="0.68"), down=down_book(ask="0.32", bid="0.30")
    )
    assert decide(ctx) == []  # without the observed part of the average: no view
    # 15 s observed 20 bp above the strike outweigh the spot: the average ends above it.
    observed = (15, D("100200"))
    intent = only_order(
        decide(context(now_ms=now, spot=spot, observed=observed, up=up_book(ask="0.70", bid="0.68")))
    )
    expected = probability_up(
        price=99_990.0, strike=100_000.0, volatility=SIGMA, seconds_to_end=45, observed_mean=100_200.0
    )
    assert expected > 0.9
    assert intent.token_id == UP
    assert f"p_up {expected:.3f}" in intent.reason


def test_the_basis_turns_binance_into_the_chainlink_price() -> None:
    # Binance exactly at the strike: even odds without a basis, Up clearly ahead with +10 bp.
    at_strike = underlying(STRIKE, basis=D(0))
    up, down = up_book(ask="0.60", bid="0.58"), down_book(ask="0.50", bid="0.48")
    assert decide(context(spot=at_strike, up=up, down=down)) == []
    with_basis = underlying(STRIKE, basis=D("0.001"))
    intent = only_order(decide(context(spot=with_basis, up=up, down=down)))
    assert intent.token_id == UP


# --- exits ---------------------------------------------------------------------------------------


def _exit_books() -> tuple[OrderBook, OrderBook]:
    return (
        book(UP, bids=[("0.78", "50"), ("0.70", "100")], asks=[("0.80", "50")]),
        book(DOWN, bids=[("0.20", "50")], asks=[("0.22", "50")]),
    )


def test_sells_a_holding_when_the_bid_pays_more_than_the_model_and_does_not_also_buy() -> None:
    # p_up 0.70, bid 0.78, fee 0.07·0.78·0.22 = 1.2c: 6.8c over the model. Buying Down at 0.22
    # would be the same trade: only the exit is proposed.
    up, down = _exit_books()
    intent = only_order(decide(context(up=up, down=down, holdings=[fv_holding(UP, "20")]), NO_CHASE))
    assert (intent.token_id, intent.side, intent.order_type) == (UP, Side.SELL, OrderType.FOK)
    assert (intent.price, intent.size, intent.reduces_position) == (D("0.78"), D("20"), True)
    assert intent.reason.startswith("exit Up: bid 0.78 pays 6.8c over p 0.700")


def test_an_exit_may_reach_down_while_the_edge_holds() -> None:
    up, down = _exit_books()
    intent = only_order(decide(context(up=up, down=down, holdings=[fv_holding(UP, "20")])))
    assert (intent.side, intent.price) == (Side.SELL, D("0.77"))  # 0.77 − 1.2c − 0.70 = 5.8c ≥ 5c


def test_exits_run_on_an_untradable_window_and_in_the_last_seconds() -> None:
    up, down = _exit_books()
    ctx = context(up=up, down=down, holdings=[fv_holding(UP, "20")], tradable=False)
    assert only_order(decide(ctx)).side is Side.SELL
    now = END_MS - 10_000
    spot = underlying(D("100000"), at_ms=now - 100)  # observed far below the strike: p_up ≈ 0
    late = context(
        now_ms=now, spot=spot, observed=(50, D("99900")), up=up, down=down, holdings=[fv_holding(UP, "20")]
    )
    intent = only_order(decide(late))
    assert (intent.side, intent.reduces_position) == (Side.SELL, True)


def test_only_sellable_shares_not_already_offered_are_sold() -> None:
    up, down = _exit_books()
    offered = RestingOrder("s1", "ICC", CONDITION, UP, Side.SELL, D("0.90"), D(6), OrderType.GTC)
    holding = fv_holding(UP, "20", sellable="18")  # 2 shares still provisional
    intent = only_order(decide(context(up=up, down=down, holdings=[holding], resting=[offered]), NO_CHASE))
    assert intent.size == D("12")


def test_a_holding_below_the_minimum_size_is_held_to_resolution() -> None:
    up, down = _exit_books()
    proposals = decide(context(up=up, down=down, holdings=[fv_holding(UP, "20", sellable="4")]), NO_CHASE)
    assert all(p.side is Side.BUY for p in proposals if isinstance(p, OrderIntent))


def test_a_holding_is_kept_while_the_bid_is_below_model_plus_threshold() -> None:
    up = book(UP, bids=[("0.74", "50")], asks=[("0.76", "50")])  # 0.74 − 1.3c − 0.70 = 2.7c < 5c
    assert decide(context(up=up, holdings=[fv_holding(UP, "20")])) == []


def test_holdings_of_other_strategies_are_not_sold() -> None:
    up, down = _exit_books()
    mm_holding = Holding(UP, CONDITION, D(20), D(20), D("0.5"), "MM")
    proposals = decide(context(up=up, down=down, holdings=[mm_holding]))
    assert not any(isinstance(p, OrderIntent) and p.side is Side.SELL for p in proposals)


def test_no_exit_on_an_untrusted_book() -> None:
    up, down = _exit_books()
    up.mark_untrusted(UntrustedReason.STALE)
    proposals = decide(context(up=up, down=down, holdings=[fv_holding(UP, "20")], tradable=False))
    assert proposals == []


# --- contract -------------------------------------------------------------------------------------


def test_it_is_a_strategy_named_fv_that_learns_nothing_from_events() -> None:
    strategy: Strategy = FairValueStrategy()
    assert strategy.name == "FV"
    before = decide(context())
    strategy.observe(BookSnapshot(UP, CONDITION, NOW, (), ()), NOW)
    assert list(strategy.decide(context())) == before


def test_window_probability_up_is_the_model_on_the_context_inputs() -> None:
    ctx = context(spot=underlying(D("100100"), basis=D("-0.0005")))
    expected = probability_up(price=100_049.95, strike=100_000.0, volatility=SIGMA, seconds_to_end=300)
    assert window_probability_up(ctx.windows[0], ctx.underlyings["btc"], NOW) == pytest.approx(
        expected, rel=1e-12
    )


def test_the_remembered_probability_is_only_reused_for_the_very_same_question() -> None:
    """window_probability_up remembers its last answer for the same view and underlying objects
    at the same time and age limit; any other question (an equal but new view with another
    strike, another time, another age limit) is answered afresh."""
    ctx = context(spot=underlying(D("100100"), basis=D("-0.0005")))
    view, spot = ctx.windows[0], ctx.underlyings["btc"]
    first = window_probability_up(view, spot, NOW)
    assert window_probability_up(view, spot, NOW) == first
    lower = dataclasses.replace(view, strike=D("99900"))
    fresh = probability_up(price=100_049.95, strike=99_900.0, volatility=SIGMA, seconds_to_end=300)
    assert window_probability_up(lower, spot, NOW) == pytest.approx(fresh, rel=1e-12)
    later = probability_up(price=100_049.95, strike=100_000.0, volatility=SIGMA, seconds_to_end=299)
    assert window_probability_up(view, spot, NOW + 1_000) == pytest.approx(later, rel=1e-12)
    assert window_probability_up(view, spot, NOW + 1_000, max_price_age_ms=0) is None  # 1 s old
    moved = dataclasses.replace(spot, binance_price=D("100000"))
    assert window_probability_up(view, moved, NOW) != first
    assert window_probability_up(view, spot, NOW) == first


@pytest.mark.parametrize(
    "kwargs", [{"max_chase_ticks": -1}, {"exit_edge_cents": D("NaN")}, {"max_price_age_ms": -1}]
)
def test_bad_config_is_a_named_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        FairValueConfig(**kwargs)  # type: ignore[arg-type]


_PRICES = st.integers(min_value=1, max_value=99).map(lambda cents: f"0.{cents:02d}")
_LEVELS = st.lists(st.tuples(_PRICES, st.integers(min_value=0, max_value=300).map(str)), max_size=4)


@given(
    p_up=st.floats(min_value=0.001, max_value=0.999),
    up_levels=st.tuples(_LEVELS, _LEVELS),
    down_levels=st.tuples(_LEVELS, _LEVELS),
    trusted=st.tuples(st.booleans(), st.booleans()),
    tradable=st.booleans(),
    max_trade=st.integers(min_value=0, max_value=2_000).map(lambda cents: D(cents) / 100),
    held=st.integers(min_value=0, max_value=40).map(D),
    chase=st.integers(min_value=0, max_value=3),
    edge_cents=st.integers(min_value=0, max_value=10),
)
@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
def test_never_raises_and_stays_within_the_rules(
    p_up: float,
    up_levels: tuple[Levels, Levels],
    down_levels: tuple[Levels, Levels],
    trusted: tuple[bool, bool],
    tradable: bool,
    max_trade: Decimal,
    held: Decimal,
    chase: int,
    edge_cents: int,
) -> None:
    # A generated book may be crossed: the book itself then distrusts it.
    books = {
        UP: book(UP, bids=up_levels[0], asks=up_levels[1], trusted=trusted[0]),
        DOWN: book(DOWN, bids=down_levels[0], asks=down_levels[1], trusted=trusted[1]),
    }
    ctx = context(
        p_up=p_up,
        up=books[UP],
        down=books[DOWN],
        tradable=tradable,
        limits=_limits(max_trade_usd=max_trade),
        holdings=[fv_holding(UP, str(held))] if held else [],
        min_edge_cents=str(edge_cents),
    )
    for proposal in decide(ctx, FairValueConfig(max_chase_ticks=chase)):
        assert isinstance(proposal, OrderIntent)
        assert proposal.strategy == "FV"
        assert proposal.order_type is OrderType.FOK
        assert books[proposal.token_id].trusted
        assert is_valid_price(proposal.price, D("0.01"))
        assert is_valid_size(proposal.size, D("0.01"))
        assert proposal.size >= MARKET.min_size
        if proposal.side is Side.BUY:
            assert tradable
            assert proposal.notional <= max_trade
            assert not proposal.reduces_position
        else:
            assert proposal.reduces_position
            assert proposal.size <= held


# --- helpers ---------------------------------------------------------------------------------------


def _limits(**changes: Any) -> RiskLimits:
    return replace(LIMITS, **changes)
