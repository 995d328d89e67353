"""Market making: quotes, skew, requoting, cancels and order lifetime on constructed market states."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
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
from polyexec.core.pricing import is_valid_price
from polyexec.core.risk_limits import RiskLimits
from polyexec.strategies.context import Holding, Proposal, RestingOrder, StrategyContext, WindowView
from polyexec.strategies.market_making import (
    GTD_END_MARGIN_S,
    GTD_MIN_LEAD_S,
    FairValue,
    MarketMakingStrategy,
    microprice_fair_value,
    quote_expiration_s,
)

D = Decimal
CID = "0x" + "ab" * 32
OTHER_CID = "0x" + "cd" * 32
UP, DOWN = "1001", "2002"
END = 1_800_000_900
MARKET = Market(
    asset="btc",
    slug="btc-updown-15m-1800000000",
    condition_id=CID,
    up_token_id=UP,
    down_token_id=DOWN,
    window_start=END - 900,
    window_end=END,
)
NOW = (END - 600) * 1000  # ten minutes left: GTD quotes
LIMITS = RiskLimits(
    max_trade_usd=D(5),
    max_loss_per_trade_usd=D(5),
    max_exposure_per_market_usd=D(20),
    max_exposure_per_category_usd=D(1000),  # the per-market limit binds unless a test says otherwise
    max_exposure_usd=D(1000),
    max_open_orders=10,
)

Levels = Sequence[tuple[str, str]]


def book(token: str, bids: Levels, asks: Levels, tick: str = "0.01") -> OrderBook:
    """A trusted book seeded by a snapshot (levels as ``(price, size)`` strings)."""
    result = OrderBook(token, D(tick))
    snapshot = BookSnapshot(
        asset_id=token,
        condition_id=CID,
        timestamp_ms=NOW - 1_000,
        bids=tuple(BookLevel(D(p), D(s)) for p, s in bids),
        asks=tuple(BookLevel(D(p), D(s)) for p, s in asks),
        tick_size=D(tick),
    )
    assert result.apply_snapshot(snapshot)
    return result


def wide_view(
    *,
    market: Market = MARKET,
    up_book: OrderBook | None = None,
    down_book: OrderBook | None = None,
    tradable: bool = True,
) -> WindowView:
    """By default Up 0.50 / 0.60 and Down 0.40 / 0.50, 100 shares a level."""
    return WindowView(
        market,
        up_book or book(UP, [("0.50", "100")], [("0.60", "100")]),
        down_book or book(DOWN, [("0.40", "100")], [("0.50", "100")]),
        strike=D(100_000),
        tradable=tradable,
    )


def context(
    view: WindowView | None = None,
    *,
    now_ms: int = NOW,
    holdings: Sequence[Holding] = (),
    resting: Sequence[RestingOrder] = (),
    limits: RiskLimits = LIMITS,
    proposed: Sequence[Proposal] = (),
) -> StrategyContext:
    return StrategyContext(
        now_ms=now_ms,
        windows=(view or wide_view(),),
        underlyings={},
        holdings={h.token_id: h for h in holdings},
        resting=tuple(resting),
        limits=limits,
        proposed=tuple(proposed),
    )


def fixed(value: float | None) -> FairValue:
    return lambda _context, _view: value


def holding(token: str, shares: str, sellable: str | None = None, cost: str = "0.5") -> Holding:
    return Holding(token, CID, D(shares), D(sellable if sellable is not None else shares), D(cost))


def mm_order(
    order_id: str, token: str, side: Side, price: str, remaining: str = "9", strategy: str = "MM"
) -> RestingOrder:
    """A resting post-only order (MM's unless ``strategy`` says otherwise)."""
    return RestingOrder(order_id, strategy, CID, token, side, D(price), D(remaining), post_only=True)


def decide(
    view: WindowView | None = None, *, strategy: MarketMakingStrategy | None = None, **kw: Any
) -> Sequence[Proposal]:
    """What ``strategy`` (default: MM around a fixed fair of 0.55) proposes in ``context(view, **kw)``."""
    return (strategy or MarketMakingStrategy(fixed(0.55))).decide(context(view, **kw))


def orders(proposals: Sequence[Proposal]) -> list[OrderIntent]:
    return [p for p in proposals if isinstance(p, OrderIntent)]


def cancels(proposals: Sequence[Proposal]) -> list[CancelIntent]:
    return [p for p in proposals if isinstance(p, CancelIntent)]


def by_token(proposals: Sequence[Proposal]) -> dict[tuple[str, Side], OrderIntent]:
    return {(o.token_id, o.side): o for o in orders(proposals)}


# --- the quote ------------------------------------------------------------------------------------


def test_quotes_buy_up_below_fair_and_buy_down_below_one_minus_fair() -> None:
    proposals = decide()
    quotes = by_token(proposals)
    assert set(quotes) == {(UP, Side.BUY), (DOWN, Side.BUY)}
    bid, ask = quotes[UP, Side.BUY], quotes[DOWN, Side.BUY]
    assert (bid.price, bid.size) == (D("0.53"), D("9.43"))  # 0.55 − 2c; $5 / 0.53 floored
    assert (ask.price, ask.size) == (D("0.43"), D("11.62"))  # 1 − (0.55 + 2c)
    for quote in (bid, ask):
        assert quote.strategy == "MM"
        assert quote.condition_id == CID
        assert quote.post_only
        assert quote.order_type is OrderType.GTD
        assert quote.expiration_s == END - GTD_END_MARGIN_S
        assert not quote.reduces_position
        assert "fair 0.550" in quote.reason
    assert cancels(proposals) == []


def test_default_fair_value_is_the_up_microprice() -> None:
    # microprice = (0.48 × 100 + 0.52 × 300) / 400 = 0.51: the heavy bid pulls it up.
    view = wide_view(
        up_book=book(UP, [("0.48", "300")], [("0.52", "100")]),
        down_book=book(DOWN, [("0.46", "100")], [("0.53", "100")]),
    )
    assert microprice_fair_value(context(view), view) == pytest.approx(0.51)
    quotes = by_token(MarketMakingStrategy().decide(context(view)))
    assert quotes[UP, Side.BUY].price == D("0.49")
    assert quotes[DOWN, Side.BUY].price == D("0.47")


def test_quotes_on_the_fine_tick_near_the_edge_with_a_half_spread_of_at_least_one_tick() -> None:
    view = wide_view(
        up_book=book(UP, [("0.970", "100")], [("0.975", "100")], tick="0.001"),
        down_book=book(DOWN, [("0.025", "100")], [("0.030", "100")], tick="0.001"),
    )
    quotes = by_token(MarketMakingStrategy(fixed(0.9725)).decide(context(view)))
    assert quotes[UP, Side.BUY].price == D("0.952")  # 0.9525 rounded down on the 0.001 grid
    assert str(quotes[DOWN, Side.BUY].price) == "0.007"  # 1 − 0.9925 = 0.0075, rounded down
    # No configured half-spread: one tick of 0.001 on each side of 0.9725.
    quotes = by_token(MarketMakingStrategy(fixed(0.9725), half_spread=D(0)).decide(context(view)))
    assert quotes[UP, Side.BUY].price == D("0.971")
    assert quotes[DOWN, Side.BUY].price == D("0.026")


def test_half_spread_covers_a_maker_fee_when_makers_pay() -> None:
    # fee per share at 0.5 = 0.07 × 0.25 = 1.75c: the half-spread grows from 1c to 1.75c.
    market = replace(MARKET, fee=FeeSchedule(taker_only=False))
    view = wide_view(market=market)
    quotes = by_token(MarketMakingStrategy(fixed(0.55), half_spread=D("0.01")).decide(context(view)))
    assert quotes[UP, Side.BUY].price == D("0.53")  # 0.55 − 0.0175 = 0.5325, rounded down
    assert quotes[DOWN, Side.BUY].price == D("0.43")  # 1 − 0.5675 = 0.4325
    free = by_token(MarketMakingStrategy(fixed(0.55), half_spread=D("0.01")).decide(context()))
    assert free[UP, Side.BUY].price == D("0.54")


def test_never_crosses_the_book_when_fair_is_outside_it() -> None:
    # Fair 0.70 above the Up ask 0.60: the bid stays one tick under the ask (post-only).
    proposals = MarketMakingStrategy(fixed(0.70)).decide(context())
    quotes = by_token(proposals)
    assert quotes[UP, Side.BUY].price == D("0.59")
    assert quotes[DOWN, Side.BUY].price == D("0.28")
    # Fair 0.30: the Down bid (1 − 0.28 = 0.72) is capped one tick under the Down ask 0.50.
    quotes = by_token(MarketMakingStrategy(fixed(0.30)).decide(context()))
    assert quotes[UP, Side.BUY].price == D("0.28")
    assert quotes[DOWN, Side.BUY].price == D("0.49")


def test_sizes_follow_max_trade_usd_and_skip_below_the_minimum_size() -> None:
    one_dollar = replace(LIMITS, max_trade_usd=D(1))
    # $1 buys 1.88 shares at 0.53: below the 5-share minimum, nothing is proposed.
    assert orders(decide(limits=one_dollar)) == []
    view = wide_view(
        up_book=book(UP, [("0.10", "100")], [("0.20", "100")]),
        down_book=book(DOWN, [("0.80", "100")], [("0.90", "100")]),
    )
    quotes = by_token(MarketMakingStrategy(fixed(0.17)).decide(context(view, limits=one_dollar)))
    assert set(quotes) == {(UP, Side.BUY)}  # the Down bid at 0.81 needs $4.05 for 5 shares
    assert (quotes[UP, Side.BUY].price, quotes[UP, Side.BUY].size) == (D("0.15"), D("6.66"))


def test_buys_stay_within_the_market_exposure_budget() -> None:
    limits = replace(LIMITS, max_exposure_per_market_usd=D(8))
    quotes = by_token(decide(limits=limits))
    assert quotes[UP, Side.BUY].size == D("9.43")  # $4.9979
    assert quotes[DOWN, Side.BUY].size == D("6.98")  # the $3.0021 left at 0.43
    # A bid kept on target uses its part of the budget just the same.
    kept = [mm_order("b1", UP, Side.BUY, "0.53", "9.43")]
    assert [(o.token_id, o.size) for o in orders(decide(resting=kept, limits=limits))] == [(DOWN, D("6.98"))]
    # The position held and other strategies' resting buys use the budget first.
    held = [holding(UP, "4", sellable="0", cost="0.5")]  # $2
    fv = [mm_order("fv1", UP, Side.BUY, "0.40", "5", strategy="FV")]  # $2
    quotes = by_token(decide(holdings=held, resting=fv, limits=limits))
    total = sum((o.notional for o in quotes.values()), D(0))
    assert total <= D(4)
    # The side that reduces the position (long Up: the Down bid at 1 − 0.566) is served first.
    assert quotes[DOWN, Side.BUY].size == D("9.30")  # $4 / 0.43
    assert (UP, Side.BUY) not in quotes  # $0.16 left: too little for 5 shares


# --- inventory ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "held", "bid", "ask", "skew"),
    [
        (UP, "10", "0.52", "0.44", "+1.0c"),  # 0.55 − 2c − 1c; 1 − (0.55 + 2c − 1c)
        (DOWN, "10", "0.54", "0.42", "-1.0c"),
        (UP, "100", "0.51", "0.44", "+1.5c"),  # capped at 1.5c: 0.515 and 0.445, rounded down
    ],
    ids=["long-up-lowers-both", "long-down-raises-both", "capped"],
)
def test_inventory_skews_both_quotes_against_the_position(
    token: str, held: str, bid: str, ask: str, skew: str
) -> None:
    position = [holding(token, held, sellable="0", cost="0.1")]  # unconfirmed: nothing to sell yet
    quotes = by_token(
        decide(holdings=position, strategy=MarketMakingStrategy(fixed(0.55), inventory_limit_shares=D(1000)))
    )
    assert (quotes[UP, Side.BUY].price, quotes[DOWN, Side.BUY].price) == (D(bid), D(ask))
    assert f"skew {skew}" in quotes[UP, Side.BUY].reason


@pytest.mark.parametrize(
    ("held_token", "sellable", "price", "replaced"),
    [
        (UP, "7", "0.56", (DOWN, Side.BUY)),  # the ask: 0.55 + 2c − 1c skew, all 7 sellable
        (DOWN, "6", "0.47", (UP, Side.BUY)),  # the bid: 1 − (0.55 − 2c + 0.6c) = 0.466, up
    ],
    ids=["ask-sells-up", "bid-sells-down"],
)
def test_a_side_sells_held_shares_instead_of_buying_the_other_token(
    held_token: str, sellable: str, price: str, replaced: tuple[str, Side]
) -> None:
    held = [holding(held_token, "10" if held_token == UP else "6", sellable=sellable)]
    quotes = by_token(decide(holdings=held))
    sell = quotes[held_token, Side.SELL]
    assert (sell.price, sell.size) == (D(price), D(sellable))
    assert sell.reduces_position
    assert sell.post_only
    assert replaced not in quotes


def test_never_sells_more_than_the_sellable_shares_not_already_offered() -> None:
    # 6 sellable, 2 already offered by FV: 4 left, below the minimum, so the ask is a Down buy.
    held = [holding(UP, "6", sellable="6")]
    fv_sell = [mm_order("fv1", UP, Side.SELL, "0.70", "2", strategy="FV")]
    quotes = by_token(decide(holdings=held, resting=fv_sell))
    assert (UP, Side.SELL) not in quotes
    assert (DOWN, Side.BUY) in quotes
    # A sell proposed earlier in this pass counts too.
    earlier = [OrderIntent("FV", CID, UP, Side.SELL, D("0.70"), D("2"))]
    quotes = by_token(decide(holdings=held, proposed=earlier))
    assert (UP, Side.SELL) not in quotes


def test_reducing_sell_is_capped_by_max_trade_but_not_below_the_minimum() -> None:
    held = [holding(UP, "12", sellable="12")]  # skew 1.2c: ask 0.558, sold at 0.56
    strategy = MarketMakingStrategy(fixed(0.55))
    quotes = by_token(strategy.decide(context(holdings=held, limits=replace(LIMITS, max_trade_usd=D(4)))))
    assert (quotes[UP, Side.SELL].price, quotes[UP, Side.SELL].size) == (D("0.56"), D("7.14"))
    # $2 sells only 3.57 shares: a reduction still goes out at the venue minimum of 5.
    quotes = by_token(strategy.decide(context(holdings=held, limits=replace(LIMITS, max_trade_usd=D(2)))))
    assert quotes[UP, Side.SELL].size == D(5)


def test_inventory_beyond_the_limit_exits_at_the_microprice_band() -> None:
    # Microprice 0.50; net +20 Up > 15: no bid, and a reducing sell of the 5 excess shares at 0.50
    # (the skewed ask would be 0.50 + 2c − 1.5c = 0.505 → 0.51).
    view = wide_view(
        up_book=book(UP, [("0.48", "100")], [("0.52", "100")]),
        down_book=book(DOWN, [("0.48", "100")], [("0.52", "100")]),
    )
    held = [holding(UP, "20", sellable="20", cost="0.2")]
    proposals = MarketMakingStrategy().decide(context(view, holdings=held))
    assert len(orders(proposals)) == 1
    exit_order = orders(proposals)[0]
    assert (exit_order.token_id, exit_order.side) == (UP, Side.SELL)
    assert (exit_order.price, exit_order.size) == (D("0.50"), D(5))
    assert exit_order.reduces_position
    assert exit_order.post_only
    assert exit_order.reason.startswith("exit")


def test_exit_sells_down_when_long_down_at_the_band_below_the_skewed_quote() -> None:
    # Down microprice (0.40 × 990 + 0.50 × 10) / 1000 = 0.401 → 0.41, under the skewed 0.50.
    view = wide_view(down_book=book(DOWN, [("0.40", "10")], [("0.50", "990")]))
    held = [holding(DOWN, "30", sellable="30", cost="0.1")]
    quotes = by_token(MarketMakingStrategy(fixed(0.505)).decide(context(view, holdings=held)))
    assert set(quotes) == {(DOWN, Side.SELL)}
    sell = quotes[DOWN, Side.SELL]
    assert sell.price == D("0.41")
    assert sell.size == D("12.19")  # 15 shares over the limit, capped at $5 / 0.41
    assert sell.reduces_position


def test_inventory_beyond_the_limit_without_sellable_shares_buys_the_other_side() -> None:
    held = [holding(UP, "20", sellable="0", cost="0.2")]
    quotes = by_token(decide(holdings=held))
    assert set(quotes) == {(DOWN, Side.BUY)}  # 1 − (0.55 + 2c − 1.5c) = 0.445 → 0.44
    assert quotes[DOWN, Side.BUY].price == D("0.44")


# --- requoting ------------------------------------------------------------------------------------


def test_no_churn_on_target_or_within_the_threshold() -> None:
    on_target = [
        mm_order("b1", UP, Side.BUY, "0.53", "9.43"),
        mm_order("a1", DOWN, Side.BUY, "0.43", "11.62"),
    ]
    assert decide(resting=on_target) == []
    # One tick off the target is kept with the default threshold of 2 ticks...
    resting = [mm_order("b1", UP, Side.BUY, "0.52"), mm_order("a1", DOWN, Side.BUY, "0.44")]
    assert decide(resting=resting) == []
    # ...and replaced with a threshold of 1 tick.
    proposals = MarketMakingStrategy(fixed(0.55), requote_threshold_ticks=1).decide(context(resting=resting))
    assert {c.order_id for c in cancels(proposals)} == {"b1", "a1"}
    assert {(o.token_id, o.price) for o in orders(proposals)} == {(UP, D("0.53")), (DOWN, D("0.43"))}


def test_requotes_a_quote_that_moved_and_cancels_before_placing() -> None:
    resting = [mm_order("b1", UP, Side.BUY, "0.50"), mm_order("a1", DOWN, Side.BUY, "0.43", "11.62")]
    proposals = decide(resting=resting)
    assert len(proposals) == 2
    cancel, order = proposals
    assert isinstance(cancel, CancelIntent)
    assert (cancel.scope, cancel.order_id, cancel.condition_id, cancel.token_id) == (
        CancelScope.ORDER,
        "b1",
        CID,
        UP,
    )
    assert isinstance(order, OrderIntent)
    assert (order.token_id, order.side, order.price) == (UP, Side.BUY, D("0.53"))


def test_switching_instrument_replaces_the_resting_quote() -> None:
    # Resting Down bid on the ask side; once Up shares are sellable the ask becomes an Up sell.
    resting = [mm_order("a1", DOWN, Side.BUY, "0.44")]
    held = [holding(UP, "10", sellable="10")]
    proposals = decide(holdings=held, resting=resting)
    assert [c.order_id for c in cancels(proposals)] == ["a1"]
    assert (UP, Side.SELL) in by_token(proposals)


def test_duplicate_quotes_on_one_side_are_cancelled() -> None:
    resting = [
        mm_order("b1", UP, Side.BUY, "0.53"),
        mm_order("b2", UP, Side.BUY, "0.53"),
        mm_order("a1", DOWN, Side.BUY, "0.43"),
    ]
    proposals = decide(resting=resting)
    assert [c.order_id for c in cancels(proposals)] == ["b2"]
    assert orders(proposals) == []


# --- when it cancels ------------------------------------------------------------------------------

RESTING = (
    mm_order("b1", UP, Side.BUY, "0.53"),
    mm_order("a1", DOWN, Side.BUY, "0.43"),
    mm_order("fv1", UP, Side.BUY, "0.30", "5", strategy="FV"),
)


def _untrusted_view() -> WindowView:
    view = wide_view()
    view.down_book.mark_untrusted(UntrustedReason.STALE)
    return view


@pytest.mark.parametrize(
    ("view", "now_ms", "why"),
    [
        (wide_view(tradable=False), NOW, "not tradable"),
        (_untrusted_view(), NOW, "untrusted"),
        (wide_view(), (END - 20) * 1000, "< 30s"),
        (wide_view(), (END + 5) * 1000, "< 30s"),
        (wide_view(), (END - 880) * 1000, "> 870s"),
    ],
    ids=["not-tradable", "untrusted-book", "near-end", "ended", "too-early"],
)
def test_cancels_every_mm_order_and_places_nothing(view: WindowView, now_ms: int, why: str) -> None:
    proposals = decide(view, now_ms=now_ms, resting=RESTING)
    assert orders(proposals) == []
    assert [(c.scope, c.order_id) for c in cancels(proposals)] == [
        (CancelScope.ORDER, "b1"),
        (CancelScope.ORDER, "a1"),
    ]
    assert all(why in c.reason for c in cancels(proposals))


def test_cancels_before_the_end_at_its_own_floor_when_the_limits_allow_later() -> None:
    limits = replace(LIMITS, min_seconds_to_end=0)
    strategy = MarketMakingStrategy(fixed(0.55), cancel_before_end_s=45)
    proposals = strategy.decide(context(now_ms=(END - 40) * 1000, resting=RESTING, limits=limits))
    assert orders(proposals) == []
    assert len(cancels(proposals)) == 2
    # With 50 s left it still quotes (GTC: too late for a GTD).
    assert all(
        o.order_type is OrderType.GTC for o in orders(strategy.decide(context(now_ms=(END - 50) * 1000)))
    )


def _broken_model(_context: StrategyContext, _view: WindowView) -> float | None:
    raise ZeroDivisionError("volatility is zero")


@pytest.mark.parametrize(
    "fair_value",
    [fixed(None), fixed(math.nan), fixed(0.0), fixed(1.0), fixed(1.5), _broken_model],
    ids=["none", "nan", "zero", "one", "above-one", "model-raises"],
)
def test_cancels_when_there_is_no_usable_fair_value(fair_value: FairValue) -> None:
    proposals = MarketMakingStrategy(fair_value).decide(context(resting=RESTING))
    assert orders(proposals) == []
    assert {c.order_id for c in cancels(proposals)} == {"b1", "a1"}
    assert all(c.reason == "no fair value" for c in cancels(proposals))


def test_skips_a_market_an_earlier_strategy_is_reducing() -> None:
    reduction = OrderIntent("ICC", CID, UP, Side.SELL, D("0.50"), D(5), reduces_position=True)
    proposals = decide(resting=RESTING, proposed=[reduction])
    assert orders(proposals) == []
    assert {c.order_id for c in cancels(proposals)} == {"b1", "a1"}
    assert all("ICC" in c.reason for c in cancels(proposals))


def test_a_market_cancelled_by_an_earlier_strategy_gets_no_duplicate_cancels() -> None:
    market_cancel = CancelIntent(CancelScope.MARKET, condition_id=CID, reason="ICC: drawdown")
    assert decide(resting=RESTING, proposed=[market_cancel]) == []
    everything = CancelIntent(CancelScope.ALL, reason="kill")
    assert decide(resting=RESTING, proposed=[everything]) == []


def test_cancels_orders_in_markets_no_longer_tracked() -> None:
    stale = RestingOrder("old", "MM", OTHER_CID, "3003", Side.BUY, D("0.40"), D(5))
    on_target = [mm_order("b1", UP, Side.BUY, "0.53"), mm_order("a1", DOWN, Side.BUY, "0.43")]
    proposals = decide(resting=[stale, *on_target])
    assert [(c.order_id, c.condition_id) for c in cancels(proposals)] == [("old", OTHER_CID)]
    assert orders(proposals) == []


def test_a_side_with_an_empty_book_is_not_quoted() -> None:
    view = wide_view(down_book=book(DOWN, [("0.40", "100")], []))
    resting = [mm_order("a1", DOWN, Side.BUY, "0.43")]
    proposals = decide(view, resting=resting)
    assert [c.order_id for c in cancels(proposals)] == ["a1"]
    assert set(by_token(proposals)) == {(UP, Side.BUY)}


def test_new_orders_stop_at_the_open_order_limit_reductions_first() -> None:
    held = [holding(UP, "10", sellable="10")]
    limits = replace(LIMITS, max_open_orders=2)
    fv = [mm_order("fv1", UP, Side.BUY, "0.30", "5", strategy="FV")]
    proposals = decide(holdings=held, resting=fv, limits=limits)
    assert [(o.token_id, o.side) for o in orders(proposals)] == [(UP, Side.SELL)]


# --- order lifetime -------------------------------------------------------------------------------


def test_gtd_expiry_ends_before_the_window_and_respects_the_venue_lead() -> None:
    assert quote_expiration_s(MARKET, NOW) == END - GTD_END_MARGIN_S
    # Exactly the venue's lead (plus margin) still fits; a millisecond later it does not.
    last_gtd_ms = (END - GTD_END_MARGIN_S - GTD_MIN_LEAD_S) * 1000
    assert quote_expiration_s(MARKET, last_gtd_ms) == END - 60
    assert quote_expiration_s(MARKET, last_gtd_ms + 1) is None
    # Later quotes are GTC (and cancelled before the end, see above).
    quotes = orders(decide(now_ms=last_gtd_ms + 1))
    assert len(quotes) == 2
    assert all(q.order_type is OrderType.GTC and q.expiration_s is None and q.post_only for q in quotes)


# --- construction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"half_spread": D(-1)}, "half_spread"),
        ({"half_spread": D("0.5")}, "half_spread"),
        ({"skew_per_share": D("NaN")}, "skew_per_share"),
        ({"max_skew": 0.01}, "max_skew"),
        ({"inventory_limit_shares": D(-5)}, "inventory_limit_shares"),
        ({"requote_threshold_ticks": 0}, "requote_threshold_ticks"),
        ({"cancel_before_end_s": -1}, "cancel_before_end_s"),
    ],
)
def test_rejects_bad_settings_naming_them(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        MarketMakingStrategy(**kwargs)  # type: ignore[arg-type]


def test_name_and_observe() -> None:
    strategy = MarketMakingStrategy()
    assert strategy.name == "MM"
    before = strategy.decide(context())
    strategy.observe(BookSnapshot(UP, CID, NOW, (), ()), NOW)  # stateless: nothing changes
    assert strategy.decide(context()) == before


# --- exposure shared with inventory control ---------------------------------------------------------


def test_buys_fit_the_drawdown_scaled_market_limit() -> None:
    # Half the max drawdown: ICC's targets (and so MM's budget) are half the limits, $4 here.
    limits = replace(LIMITS, max_exposure_per_market_usd=D(8), max_drawdown_pct=D(10))
    ctx = replace(context(limits=limits), drawdown_pct=D(5))
    quotes = by_token(MarketMakingStrategy(fixed(0.55)).decide(ctx))
    assert set(quotes) == {(UP, Side.BUY)}
    assert quotes[UP, Side.BUY].size == D("7.54")  # $4 / 0.53


def test_buys_fit_the_category_limit_across_windows_of_one_asset() -> None:
    other = replace(
        MARKET,
        slug="btc-updown-15m-1800000900",
        condition_id=OTHER_CID,
        up_token_id="3003",
        down_token_id="4004",
        window_start=END,
        window_end=END + 900,
    )
    other_view = WindowView(
        other,
        book("3003", [("0.50", "1")], [("0.60", "1")]),
        book("4004", [("0.40", "1")], [("0.50", "1")]),
        strike=None,
        tradable=False,
    )
    other_position = Holding("3003", OTHER_CID, D(10), D(0), D("0.6"))  # $6 of the $10 BTC category
    limits = replace(LIMITS, max_exposure_per_category_usd=D(10))
    ctx = replace(context(limits=limits, holdings=[other_position]), windows=(wide_view(), other_view))
    quotes = by_token(MarketMakingStrategy(fixed(0.55)).decide(ctx))
    assert set(quotes) == {(UP, Side.BUY)}
    assert quotes[UP, Side.BUY].size == D("7.54")  # the $4 left in the category


def test_an_order_an_earlier_strategy_cancels_is_neither_cancelled_again_nor_counted() -> None:
    # ICC cancels our bid: MM does not repeat the cancel, and the bid's dollars are free again.
    icc = CancelIntent(CancelScope.ORDER, order_id="b1", condition_id=CID, token_id=UP, reason="ICC")
    limits = replace(LIMITS, max_exposure_per_market_usd=D(6))
    resting = [mm_order("b1", UP, Side.BUY, "0.53", "9.43"), mm_order("a1", DOWN, Side.BUY, "0.43", "2")]
    proposals = decide(resting=resting, limits=limits, proposed=[icc])
    assert cancels(proposals) == []
    assert [(o.token_id, o.price, o.size) for o in orders(proposals)] == [(UP, D("0.53"), D("9.43"))]


# --- properties -----------------------------------------------------------------------------------

cents = st.integers(1, 99).map(lambda c: D(c) / 100)
# Around the thresholds that matter: the 5-share minimum and the 15-share inventory limit.
shares = st.sampled_from([D(0), D("3.5"), D(5), D("7.25"), D(12), D(16), D(30)])


@st.composite
def random_book(draw: st.DrawFn, token: str) -> OrderBook:
    tick = draw(st.sampled_from([D("0.01"), D("0.001")]))
    bid = draw(st.integers(1, int(1 / tick) - 2))
    ask = draw(st.integers(bid + 1, int(1 / tick) - 1))
    size = st.integers(1, 500)
    bids = [(str(tick * bid), str(draw(size)))]
    if bid > 1 and draw(st.booleans()):
        bids.append((str(tick * draw(st.integers(1, bid - 1))), str(draw(size))))
    asks = [(str(tick * ask), str(draw(size)))]
    one_sided = draw(st.integers(0, 9))  # one book in ten has an empty side
    return book(token, [] if one_sided == 0 else bids, [] if one_sided == 1 else asks, tick=str(tick))


@st.composite
def random_holding(draw: st.DrawFn, token: str) -> Holding:
    held = draw(shares)
    sellable = held if draw(st.booleans()) else min(held, draw(shares))  # all confirmed, or some
    return Holding(token, CID, held, sellable, draw(cents))


@st.composite
def random_context(draw: st.DrawFn) -> StrategyContext:
    """A market state: random books on either tick, inventory, resting orders, limits, time."""
    tradable = draw(st.integers(0, 3)) > 0  # three times in four
    view = WindowView(MARKET, draw(random_book(UP)), draw(random_book(DOWN)), None, tradable=tradable)
    resting = st.builds(
        RestingOrder,
        order_id=st.sampled_from(["r1", "r2", "r3", "r4"]),
        strategy=st.sampled_from(["MM", "FV"]),
        condition_id=st.just(CID),
        token_id=st.sampled_from([UP, DOWN]),
        side=st.sampled_from(list(Side)),
        price=cents,
        remaining=st.integers(500, 2000).map(lambda c: D(c) / 100),
    )
    limits = replace(
        LIMITS,
        max_trade_usd=draw(st.sampled_from([D(1), D(5), D(50), D(50)])),
        max_exposure_per_market_usd=draw(st.sampled_from([D(5), D(20), D(500), D(500)])),
    )
    return context(
        view,
        now_ms=(END - draw(st.one_of(st.integers(-10, 900), st.integers(30, 870)))) * 1000,
        holdings=[draw(random_holding(UP)), draw(random_holding(DOWN))],
        resting=draw(st.lists(resting, max_size=4, unique_by=lambda r: r.order_id)),
        limits=limits,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ctx=random_context(),
    fair=st.one_of(st.floats(0.01, 0.99), st.floats(0.01, 0.99), st.none(), st.floats(-0.2, 1.2)),
    half_spread=st.sampled_from([D(0), D("0.005"), D("0.02")]),
)
def test_quotes_are_valid_never_cross_and_stay_within_limits(
    ctx: StrategyContext, fair: float | None, half_spread: Decimal
) -> None:
    proposals = MarketMakingStrategy(fixed(fair), half_spread=half_spread).decide(ctx)
    view, limits, new = ctx.windows[0], ctx.limits, orders(proposals)
    assert {c.order_id for c in cancels(proposals)} <= {o.order_id for o in ctx.resting if o.strategy == "MM"}
    assert len(new) <= 2
    if not view.tradable or view.seconds_left(ctx.now_ms) < 30 or fair is None or not 0 < fair < 1:
        assert new == []
    for order in new:
        order_book = view.book_of(order.token_id)
        bid, ask, tick = order_book.best_bid(), order_book.best_ask(), order_book.tick_size
        assert bid is not None
        assert ask is not None
        assert tick is not None
        assert is_valid_price(order.price, tick)
        assert (order.strategy, order.post_only) == ("MM", True)
        assert order.size >= MARKET.min_size
        assert order.size == order.size.quantize(D("0.01"))
        if order.order_type is OrderType.GTD:
            assert order.expiration_s is not None
            assert ctx.now_ms // 1000 + GTD_MIN_LEAD_S <= order.expiration_s <= END - GTD_END_MARGIN_S
        else:
            assert (order.order_type, order.expiration_s) == (OrderType.GTC, None)
        if order.side is Side.BUY:
            assert order.price < ask.price
            assert order.notional <= limits.max_trade_usd
            assert not order.reduces_position
        else:
            assert order.price > bid.price
            assert order.reduces_position
            offers = [o for o in ctx.resting if o.token_id == order.token_id and o.side is Side.SELL]
            offered = sum((o.remaining for o in offers if o.strategy != "MM"), D(0))
            assert order.size <= ctx.holdings[order.token_id].sellable - offered
            assert order.notional <= limits.max_trade_usd or order.size == MARKET.min_size
    held = sum((h.shares * h.average_cost for h in ctx.holdings.values()), D(0))
    others = sum(
        (o.price * o.remaining for o in ctx.resting if o.side is Side.BUY and o.strategy != "MM"), D(0)
    )
    buys = sum((o.notional for o in new if o.side is Side.BUY), D(0))
    assert buys <= max(limits.max_exposure_per_market_usd - held - others, D(0))
