"""Tests for the order record (src/polyexec/core/order_codec.py): what crash recovery writes and
reads back."""

from __future__ import annotations

import json

import pytest

from polyexec.core.models import OrderType
from polyexec.core.order import Order
from polyexec.core.order_codec import ORDER_RECORD_VERSION, order_from_dict, order_to_dict
from polyexec.core.order_state import OrderEventBus, OrderTransition
from tests.core.order_factories import D, S, live_order, make_fill, make_order, order_event

# --- serialisation ---------------------------------------------------------------------------------


def busy_order() -> Order:
    order = make_order(order_type=OrderType.GTD)
    order.expiration_s = 1_790_617_400
    order.submitted(now_ms=2)
    order.submit_ambiguous(now_ms=3)
    order.cancel_requested(now_ms=4)
    order.apply_fill(make_fill(order, "t1", "2.5", fee="0.04375"), now_ms=5)
    order.apply_order_event(order_event(order, "MATCHED", "4"), now_ms=6)
    order.apply_fill(make_fill(order, "t2", "1.5", price="0.51"), now_ms=7)
    order.apply_trade_status("t1", "CONFIRMED", now_ms=8)
    order.apply_trade_status("t2", "FAILED", now_ms=9)
    order.cancel_requested(now_ms=10)
    order.cancel_failed("Order already matched", now_ms=11)
    return order


def test_round_trip_through_json_restores_an_equal_order() -> None:
    order = busy_order()
    record = json.loads(json.dumps(order.to_dict()))
    assert record["price"] == "0.52"
    assert record["fills"][0]["fee"] == "0.04375"
    restored = Order.from_dict(record)
    assert restored == order
    assert restored.filled_size == order.filled_size == D("2.5")
    assert restored.to_dict() == order.to_dict()
    restored.apply_trade_status("t2", "FAILED", now_ms=12)  # still deduplicates after restart
    assert restored == order


@pytest.mark.parametrize(
    ("key", "value"),
    [("price", 0.52), ("state", "HALF_OPEN"), ("version", 2), ("fills", [{"trade_id": "t"}])],
)
def test_from_dict_names_a_malformed_record(key: str, value: object) -> None:
    record = busy_order().to_dict()
    record[key] = value
    with pytest.raises(ValueError, match="malformed order record"):
        Order.from_dict(record)
    del record[key]
    with pytest.raises(ValueError, match="malformed order record"):
        Order.from_dict(record)


def test_every_amount_in_the_record_is_a_string() -> None:
    record = busy_order().to_dict()
    assert record["version"] == ORDER_RECORD_VERSION
    money = ["price", "size", "venue_size_matched", "reference_price"]
    assert all(isinstance(record[key], str) for key in money)
    for fill in record["fills"]:
        assert all(isinstance(fill[key], str) for key in ("price", "size", "fee"))
    for transition in record["transitions"]:
        if transition["fill"] is not None:
            assert isinstance(transition["fill"]["size"], str)
    assert record == order_to_dict(busy_order())  # the method and the function agree


def test_absent_optional_fields_round_trip() -> None:
    order = make_order(reference=None)
    record = json.loads(json.dumps(order.to_dict()))
    assert record["reference_price"] is None
    assert record["expiration_s"] is None
    assert record["ambiguous_since_ms"] is None
    assert Order.from_dict(record) == order


def test_restored_order_publishes_to_the_bus_it_is_given_and_keeps_counting() -> None:
    order = live_order()
    bus = OrderEventBus()
    seen: list[OrderTransition] = []
    bus.subscribe(seen.append)
    restored = order_from_dict(Order, json.loads(json.dumps(order.to_dict())), bus=bus)
    restored.cancel_requested(now_ms=5_000)
    assert [(t.seq, t.from_state, t.to_state) for t in seen] == [(3, S.OPEN, S.PENDING_CANCEL)]
    assert Order.from_dict(order.to_dict()).bus is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("size", "ten"),
        ("price", "1.5"),
        ("transitions", [{"seq": 1}]),
        ("venue_size_matched", None),
        ("side", "LONG"),
    ],
)
def test_more_malformed_records_are_named(key: str, value: object) -> None:
    record = busy_order().to_dict()
    record[key] = value
    with pytest.raises(ValueError, match="malformed order record"):
        Order.from_dict(record)
