"""Tests for our fills (src/polyexec/core/order_fills.py): trade events to fills, fees,
slippage, and the record form of a fill."""

from __future__ import annotations

import dataclasses
import json

import pytest

from polyexec.core.events import MakerOrderFill
from polyexec.core.models import FeeSchedule, Liquidity, Side, TradeStatus
from polyexec.core.order_fills import (
    average_price,
    fill_from_dict,
    fill_to_dict,
    fills_from_trade,
    slippage_per_share,
    total_slippage,
)
from tests.core.order_factories import (
    ORDER_ID,
    OTHER_ORDER_ID,
    OTHER_TOKEN_ID,
    TOKEN_ID,
    D,
    S,
    live_order,
    make_fill,
    trade_event,
)

# --- slippage and price --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "reference", "fill_price", "expected"),
    [
        (Side.BUY, "0.50", "0.52", "0.02"),
        (Side.BUY, "0.50", "0.48", "-0.02"),
        (Side.SELL, "0.50", "0.48", "0.02"),
        (Side.SELL, "0.50", "0.53", "-0.03"),
    ],
)
def test_slippage_is_positive_when_worse_for_us(
    side: Side, reference: str, fill_price: str, expected: str
) -> None:
    assert slippage_per_share(side, D(reference), D(fill_price)) == D(expected)
    order = live_order(side=side, reference=reference, price="0.50")
    fill = make_fill(order, "t1", "2", price=fill_price)
    order.apply_fill(fill, now_ms=3)
    assert order.slippage(fill) == D(expected)
    assert order.slippage_cost == D(expected) * 2


def test_total_slippage_and_average_price_weigh_by_size() -> None:
    order = live_order(reference="0.50")
    fills = [make_fill(order, "t1", "2", price="0.52"), make_fill(order, "t2", "6", price="0.48")]
    # 2 × 0.02 worse, 6 × 0.02 better
    assert total_slippage(Side.BUY, D("0.50"), fills) == D("-0.08")
    assert total_slippage(Side.SELL, D("0.50"), fills) == D("0.08")
    assert average_price(fills) == D("0.49")
    assert average_price(iter(fills)) == D("0.49")  # any iterable, consumed once
    assert average_price([]) is None
    assert total_slippage(Side.BUY, D("0.50"), []) == 0


# --- trade events to fills -----------------------------------------------------------------------


def test_taker_fill_from_trade_event_pays_the_taker_fee() -> None:
    (fill,) = fills_from_trade(trade_event(taker_order_id=ORDER_ID), {ORDER_ID})
    assert fill.liquidity is Liquidity.TAKER
    assert fill.order_id == ORDER_ID
    assert fill.side is Side.BUY
    assert (fill.size, fill.price, fill.timestamp_ms) == (D(10), D("0.50"), 7_000)
    assert fill.fee == D("0.175")  # 10 × 0.07 × 0.25
    assert fill.key == ("trade-1", ORDER_ID)


def test_maker_fills_take_token_price_and_size_from_their_entry() -> None:
    makers = (
        MakerOrderFill(OTHER_ORDER_ID, OTHER_TOKEN_ID, Side.BUY, D("0.49"), D("3")),
        MakerOrderFill("0xsomeone-else", TOKEN_ID, Side.SELL, D("0.50"), D("5")),
        MakerOrderFill(ORDER_ID, TOKEN_ID, Side.SELL, D("0.51"), D("2")),
    )
    fills = fills_from_trade(trade_event(makers=makers, match_time_ms=0), [ORDER_ID, OTHER_ORDER_ID])
    assert [(f.order_id, f.token_id, f.side, f.price, f.size) for f in fills] == [
        (OTHER_ORDER_ID, OTHER_TOKEN_ID, Side.BUY, D("0.49"), D(3)),
        (ORDER_ID, TOKEN_ID, Side.SELL, D("0.51"), D(2)),
    ]
    assert all(f.liquidity is Liquidity.MAKER and f.fee == 0 and f.timestamp_ms == 9_000 for f in fills)


def test_trade_where_both_legs_are_ours_gives_two_fills() -> None:
    makers = (MakerOrderFill(OTHER_ORDER_ID, TOKEN_ID, Side.SELL, D("0.50"), D("10")),)
    fills = fills_from_trade(trade_event(taker_order_id=ORDER_ID, makers=makers), {ORDER_ID, OTHER_ORDER_ID})
    assert {f.liquidity for f in fills} == {Liquidity.TAKER, Liquidity.MAKER}
    assert fills_from_trade(trade_event(makers=makers), set()) == ()


def test_fees_below_the_smallest_unit_round_to_zero_and_follow_the_schedule() -> None:
    # 0.01 × 0.07 × 0.99 × 0.01 = 0.00000693: the venue charges nothing below 0.00001.
    tiny = MakerOrderFill(ORDER_ID, TOKEN_ID, Side.SELL, D("0.99"), D("0.01"))
    maker_pays = FeeSchedule(taker_only=False)
    (fill,) = fills_from_trade(trade_event(makers=(tiny,)), {ORDER_ID}, fees=maker_pays)
    assert fill.fee == 0
    regular = MakerOrderFill(ORDER_ID, TOKEN_ID, Side.SELL, D("0.50"), D("10"))
    (paying,) = fills_from_trade(trade_event(makers=(regular,)), {ORDER_ID}, fees=maker_pays)
    assert paying.fee == D("0.175")
    (free,) = fills_from_trade(trade_event(makers=(regular,)), {ORDER_ID})
    assert free.fee == 0


@pytest.mark.parametrize(
    ("size", "price", "fee"),
    [
        ("0.03", "0.50", "0.00052"),  # 0.000525: truncated, as pricing.taker_fee does
        ("0.02", "0.50", "0.00035"),  # exact
        ("0.01", "0.33", "0.00015"),  # 0.00015477 rounds down
        ("1000", "0.01", "0.693"),
    ],
)
def test_taker_fee_is_the_pricing_rule_five_decimals_rounded_down(size: str, price: str, fee: str) -> None:
    event = dataclasses.replace(trade_event(taker_order_id=ORDER_ID), size=D(size), price=D(price))
    (fill,) = fills_from_trade(event, {ORDER_ID})
    assert fill.fee == D(fee)


def test_maker_fee_is_zero_on_a_taker_only_schedule_whatever_its_size() -> None:
    big = MakerOrderFill(ORDER_ID, TOKEN_ID, Side.BUY, D("0.50"), D("1000"))
    (fill,) = fills_from_trade(trade_event(makers=(big,)), {ORDER_ID})
    assert fill.fee == 0
    (paid,) = fills_from_trade(trade_event(makers=(big,)), {ORDER_ID}, fees=FeeSchedule(taker_only=False))
    assert paid.fee == D("17.5")


def test_trade_status_is_carried_into_every_fill() -> None:
    makers = (MakerOrderFill(OTHER_ORDER_ID, TOKEN_ID, Side.SELL, D("0.50"), D("10")),)
    event = trade_event(taker_order_id=ORDER_ID, makers=makers, status=TradeStatus.FAILED)
    fills = fills_from_trade(event, {ORDER_ID, OTHER_ORDER_ID})
    assert [f.status for f in fills] == [TradeStatus.FAILED, TradeStatus.FAILED]


def test_trade_event_fills_drive_the_order() -> None:
    order = live_order()
    event = trade_event(makers=(MakerOrderFill(ORDER_ID, TOKEN_ID, Side.BUY, D("0.52"), D("10")),))
    for status in (TradeStatus.MATCHED, TradeStatus.MATCHED, TradeStatus.MINED, TradeStatus.CONFIRMED):
        resent = dataclasses.replace(event, status=status)
        for fill in fills_from_trade(resent, {order.order_id}):
            order.apply_fill(fill, now_ms=10)
    assert order.state is S.FILLED
    assert order.confirmed_size == D(10)
    assert len(order.transitions) == 5


# --- record form -----------------------------------------------------------------------------------


def test_fill_record_round_trips_through_json_with_decimals_as_strings() -> None:
    order = live_order()
    fill = dataclasses.replace(make_fill(order, "t1", "2.5", fee="0.04375"), strategy="FV")
    record = json.loads(json.dumps(fill_to_dict(fill)))
    assert (record["price"], record["size"], record["fee"]) == ("0.52", "2.5", "0.04375")
    assert fill_from_dict(record) == fill


def test_fill_record_refuses_a_float_or_nan_and_names_a_missing_field() -> None:
    record = fill_to_dict(make_fill(live_order(), "t1", "2"))
    with pytest.raises(TypeError, match="string"):
        fill_from_dict({**record, "size": 2.0})
    with pytest.raises(ValueError, match="fee must be a finite decimal"):
        fill_from_dict({**record, "fee": "NaN"})
    with pytest.raises(KeyError, match="fee"):
        fill_from_dict({k: v for k, v in record.items() if k != "fee"})
    with pytest.raises(ValueError, match="'SOON'"):
        fill_from_dict({**record, "status": "SOON"})
