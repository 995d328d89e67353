"""Paper trading's pure fill maths: order terms from signed amounts, the taker walk, the record of
liquidity already taken, the maker rules, reserves and the venue's refusal texts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from polyexec.core.events import BookSnapshot
from polyexec.core.models import BookLevel, FeeSchedule, Market, OrderType, Side
from polyexec.core.order_book import OrderBook
from polyexec.core.pricing import taker_fee, to_units
from polyexec.venues.order_factory import limit_order, market_order
from polyexec.venues.order_signer import OrderSigner, SignedOrder
from polyexec.venues.paper_fills import (
    LiquidityUse,
    OrderTerms,
    PaperConfig,
    PaperOrder,
    allocate_crossing,
    allocate_trade,
    balance_refusal,
    buy_reserve_units,
    notional_units,
    plan_taker,
    size_refusal,
    terms_of,
    tick_refusal,
)
from tests.venues.conftest import throwaway_key

TOKEN = "1234567890"
TICK = Decimal("0.01")
CRYPTO = FeeSchedule()
MARKET = Market(
    "btc", "btc-updown-15m-1800000000", "0x" + "ab" * 32, TOKEN, "99", 1_800_000_000, 1_800_000_900
)
SIGNER = OrderSigner(throwaway_key("paper-fills"))


def d(text: str | int) -> Decimal:
    return Decimal(text)


def units(shares: str) -> int:
    return to_units(Decimal(shares))


def levels(*pairs: tuple[str, str]) -> list[BookLevel]:
    return [BookLevel(d(price), d(size)) for price, size in pairs]


def limit(side: Side, price: str, size: str) -> SignedOrder:
    return limit_order(
        SIGNER,
        token_id=TOKEN,
        side=side,
        price=d(price),
        size=d(size),
        tick_size=TICK,
        neg_risk=False,
        timestamp_ms=1,
    )


def resting(side: Side, price: str, size: str, seq: int, queue: str = "0") -> PaperOrder:
    return PaperOrder(
        order_id=f"0x{seq:064x}",
        seq=seq,
        market=MARKET,
        token_id=TOKEN,
        terms=terms_of(limit(side, price, size)),
        order_type=OrderType.GTC,
        expiration_s=0,
        created_at_ms=0,
        maker_address=SIGNER.maker,
        queue_ahead_units=units(queue),
    )


# --- terms ---------------------------------------------------------------------------------------


def test_terms_of_a_limit_order_are_its_exact_price_and_legs() -> None:
    buy = terms_of(limit(Side.BUY, "0.52", "10"))
    assert (buy.side, buy.share_units, buy.usd_units, buy.price, buy.exact_price) == (
        Side.BUY,
        10_000_000,
        5_200_000,
        d("0.52"),
        True,
    )
    sell = terms_of(limit(Side.SELL, "0.47", "12.5"))
    assert (sell.share_units, sell.usd_units, sell.price, sell.size) == (
        12_500_000,
        5_875_000,
        d("0.47"),
        d("12.5"),
    )


def test_terms_of_a_market_buy_round_within_the_limit_and_compare_with_the_exact_ratio() -> None:
    order = market_order(
        SIGNER, token_id=TOKEN, side=Side.BUY, amount=d(10), worst_price=d("0.52"), tick_size=TICK,
        neg_risk=False, timestamp_ms=1,
    )  # fmt: skip
    terms = terms_of(order)
    assert (terms.usd_units, terms.share_units, terms.exact_price) == (10_000_000, 19_230_700, False)
    assert terms.price == d("0.5200018720")  # 10000000 / 19230700 rounded down: within the limit
    assert terms.accepts(d("0.52"))
    assert terms.accepts(d("0.520001"))
    assert not terms.accepts(d("0.5201"))


def test_accepts_is_inclusive_at_the_limit_for_both_sides() -> None:
    buy, sell = terms_of(limit(Side.BUY, "0.52", "10")), terms_of(limit(Side.SELL, "0.52", "10"))
    assert buy.accepts(d("0.52"))
    assert buy.accepts(d("0.01"))
    assert not buy.accepts(d("0.53"))
    assert sell.accepts(d("0.52"))
    assert sell.accepts(d("0.99"))
    assert not sell.accepts(d("0.51"))
    assert buy.crosses(BookLevel(d("0.52"), d(1)))
    assert not buy.crosses(None)


def test_terms_of_refuses_non_positive_amounts() -> None:
    with pytest.raises(ValueError, match="positive"):
        terms_of(replace(limit(Side.BUY, "0.52", "10"), maker_amount=0))


# --- amounts and reserves ------------------------------------------------------------------------


def test_notional_is_exact_when_whole_and_rounded_against_us_otherwise() -> None:
    assert notional_units(10_000_000, d("0.52"), round_up=True) == 5_200_000
    # 1.000001 shares at 0.53 = 0.53000053 dollars: we pay 0.530001, we receive 0.530000
    assert notional_units(1_000_001, d("0.53"), round_up=True) == 530_001
    assert notional_units(1_000_001, d("0.53"), round_up=False) == 530_000


def test_buy_reserve_is_the_notional_on_taker_only_schedules_and_adds_the_maker_fee_otherwise() -> None:
    assert buy_reserve_units(10_000_000, d("0.50"), CRYPTO) == 5_000_000
    maker_pays = FeeSchedule(taker_only=False)
    fee = to_units(taker_fee(d(10), d("0.50"), maker_pays))
    assert buy_reserve_units(10_000_000, d("0.50"), maker_pays) == 5_000_000 + fee
    assert buy_reserve_units(0, d("0.50"), maker_pays) == 0


def test_maker_buy_fills_charged_by_reserve_drops_add_up_to_the_reserve() -> None:
    total = buy_reserve_units(10_000_000, d("0.53"), CRYPTO)
    remaining, charged = 10_000_000, 0
    for piece in (1_000_001, 3_333_333, 2_000_007, 3_666_659):
        charged += buy_reserve_units(remaining, d("0.53"), CRYPTO) - buy_reserve_units(
            remaining - piece, d("0.53"), CRYPTO
        )
        remaining -= piece
    assert remaining == 0
    assert charged == total


# --- taker walk ----------------------------------------------------------------------------------


ASKS = levels(("0.52", "10"), ("0.53", "20"), ("0.55", "100"))


def test_walk_takes_each_level_at_its_own_price_up_to_the_limit_with_fees() -> None:
    fills = plan_taker(terms_of(limit(Side.BUY, "0.53", "25")), TOKEN, ASKS, LiquidityUse(), CRYPTO)
    assert [(f.price, f.share_units, f.usd_units) for f in fills] == [
        (d("0.52"), 10_000_000, 5_200_000),
        (d("0.53"), 15_000_000, 7_950_000),
    ]
    assert [f.fee_units for f in fills] == [to_units(d("0.17472")), to_units(d("0.26155"))]


def test_walk_stops_at_the_limit_and_when_the_size_is_filled() -> None:
    short = plan_taker(terms_of(limit(Side.BUY, "0.53", "100")), TOKEN, ASKS, LiquidityUse(), CRYPTO)
    assert sum(f.share_units for f in short) == 30_000_000  # 0.55 is beyond the limit
    exact = plan_taker(terms_of(limit(Side.BUY, "0.55", "10")), TOKEN, ASKS, LiquidityUse(), CRYPTO)
    assert [(f.price, f.share_units) for f in exact] == [(d("0.52"), 10_000_000)]


def test_a_sell_walks_the_bids_and_receives_the_rounded_down_notional() -> None:
    bids = levels(("0.50", "10"), ("0.48", "50"))
    fills = plan_taker(terms_of(limit(Side.SELL, "0.48", "15")), TOKEN, bids, LiquidityUse(), CRYPTO)
    assert [(f.price, f.share_units, f.usd_units) for f in fills] == [
        (d("0.50"), 10_000_000, 5_000_000),
        (d("0.48"), 5_000_000, 2_400_000),
    ]


def test_walk_skips_what_earlier_fills_took_and_goes_deeper() -> None:
    use = LiquidityUse()
    use.take(TOKEN, Side.SELL, d("0.52"), 10_000_000)
    use.take(TOKEN, Side.SELL, d("0.53"), 5_000_000)
    fills = plan_taker(terms_of(limit(Side.BUY, "0.55", "20")), TOKEN, ASKS, use, CRYPTO)
    assert [(f.price, f.share_units) for f in fills] == [(d("0.53"), 15_000_000), (d("0.55"), 5_000_000)]


# --- liquidity already taken ---------------------------------------------------------------------


def _book(asks: list[BookLevel], timestamp_ms: int) -> OrderBook:
    book = OrderBook(TOKEN)
    book.apply_snapshot(BookSnapshot(TOKEN, MARKET.condition_id, timestamp_ms, bids=(), asks=tuple(asks)))
    return book


def test_liquidity_use_follows_shrinking_growing_and_vanishing_levels() -> None:
    use = LiquidityUse()
    use.take(TOKEN, Side.SELL, d("0.52"), 8_000_000)
    use.take(TOKEN, Side.SELL, d("0.53"), 5_000_000)
    assert use.available(TOKEN, Side.SELL, BookLevel(d("0.52"), d(10))) == 2_000_000
    use.refresh(TOKEN, _book(levels(("0.52", "6"), ("0.55", "1")), 2))  # 0.52 shrank, 0.53 is gone
    assert use.used(TOKEN, Side.SELL, d("0.52")) == 6_000_000
    assert use.used(TOKEN, Side.SELL, d("0.53")) == 0
    assert len(use) == 1
    # the level grows again: only the new size is available
    assert use.available(TOKEN, Side.SELL, BookLevel(d("0.52"), d(9))) == 3_000_000
    use.refresh(TOKEN, None)
    assert use.tokens() == ()


def test_liquidity_use_forget_and_bids_are_kept_apart_from_asks() -> None:
    use = LiquidityUse()
    use.take(TOKEN, Side.BUY, d("0.50"), 1_000_000)
    assert use.used(TOKEN, Side.SELL, d("0.50")) == 0
    use.forget(TOKEN)
    assert len(use) == 0


# --- maker rules ---------------------------------------------------------------------------------


def test_a_trade_through_our_price_fills_us_up_to_its_size_best_order_first() -> None:
    better, worse = resting(Side.BUY, "0.52", "5", 1), resting(Side.BUY, "0.51", "10", 2)
    fills = allocate_trade([better, worse], d("0.50"), 8_000_000)
    assert [(o.seq, u) for o, u in fills] == [(1, 5_000_000), (2, 3_000_000)]


def test_a_trade_at_a_worse_price_fills_nothing() -> None:
    buy = resting(Side.BUY, "0.51", "10", 1)
    assert allocate_trade([buy], d("0.52"), 100_000_000) == []
    sell = resting(Side.SELL, "0.55", "10", 2)
    assert allocate_trade([sell], d("0.54"), 100_000_000) == []
    assert [u for _, u in allocate_trade([sell], d("0.56"), 4_000_000)] == [4_000_000]


def test_a_trade_at_our_price_eats_the_queue_ahead_before_reaching_us() -> None:
    order = resting(Side.BUY, "0.50", "10", 1, queue="10")
    assert allocate_trade([order], d("0.50"), 6_000_000) == []
    assert order.queue_ahead_units == 4_000_000
    fills = allocate_trade([order], d("0.50"), 7_000_000)
    assert [u for _, u in fills] == [3_000_000]
    assert order.queue_ahead_units == 0


def test_a_crossing_book_fills_resting_orders_once_from_what_is_displayed() -> None:
    use = LiquidityUse()
    first, second = resting(Side.BUY, "0.52", "5", 1), resting(Side.BUY, "0.51", "10", 2)
    asks = levels(("0.50", "4"), ("0.51", "3"), ("0.53", "50"))
    fills = allocate_crossing([first, second], asks, use)
    assert [(o.seq, u) for o, u in fills] == [(1, 5_000_000), (2, 2_000_000)]
    assert use.used(TOKEN, Side.SELL, d("0.50")) == 4_000_000
    assert use.used(TOKEN, Side.SELL, d("0.51")) == 3_000_000
    for order, taken in fills:
        order.matched_units += taken
    assert allocate_crossing([second], asks, use) == []  # the same shares are never used twice


# --- config and refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("taker_delay_s", -0.1),
        ("settle_delay_s", float("nan")),
        ("gtd_min_lifetime_s", float("inf")),
        ("history_retention_s", -1.0),
        ("starting_balance", Decimal(-1)),
        ("min_marketable_buy", Decimal("NaN")),
    ],
)
def test_config_refuses_bad_values_naming_them(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        PaperConfig(**{field: value})  # type: ignore[arg-type]


def test_refusals_carry_the_venue_texts_and_codes() -> None:
    tick = tick_refusal("0xab", d("0.525"), d("0.010"))
    assert tick.message == "order 0xab is invalid. Price (0.525) breaks minimum tick size rule: 0.01"
    assert (tick.status, tick.code, tick.operation) == (400, "INVALID_ORDER_MIN_TICK_SIZE", "post_order")
    assert (
        size_refusal("0xab", d("4.00"), d(5)).message
        == "order 0xab is invalid. Size (4) lower than the minimum: 5"
    )
    balance = balance_refusal(-5, 5_200_000)
    assert balance.message == "not enough balance / allowance: balance: 0, order amount: 5.2"
    assert balance.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"


def test_order_terms_size_is_in_shares() -> None:
    assert OrderTerms(Side.BUY, 1_500_000, 750_000, d("0.5"), True).size == d("1.5")
