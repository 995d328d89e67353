"""Decoding of user-channel frames and REST order/trade items (polyexec.venues.user_messages).

The wire shapes come from the docs (§5.2, §2.3) and from the simulator's own encoder
(``polyexec.sim.wire``), which writes the WS and REST forms of one trade independently of the
parser: both must decode to the same event. Hypothesis checks that arbitrary input never raises
anything but :class:`UserMessageError`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import MakerOrderFill, UserOrderEvent, UserOrderEventKind, UserTradeEvent
from polyexec.core.models import Liquidity, Side, TradeStatus
from polyexec.sim.records import Order as SimOrder
from polyexec.sim.records import Trade as SimTrade
from polyexec.sim.wire import order_event, order_json, trade_event, trade_json
from polyexec.venues.user_messages import (
    UserMessageError,
    decode_user_frame,
    parse_order,
    parse_trade,
    parse_user_event,
    rest_order_kind,
    timestamp_ms,
)

CONDITION = "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af"
TOKEN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
ORDER_ID = "0xff354cd7ca7539dfa9c28d90943ab5779a4eac34b9b37a757d7b32bdfb11790b"
MAKER_ORDER_ID = "0x" + "ab" * 32


def ws_order(**overrides: Any) -> dict[str, Any]:
    """The docs' example ``order`` event (§5.2)."""
    event: dict[str, Any] = {
        "event_type": "order",
        "type": "PLACEMENT",
        "id": ORDER_ID,
        "owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
        "order_owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
        "market": CONDITION,
        "asset_id": TOKEN,
        "side": "SELL",
        "price": "0.57",
        "original_size": "10",
        "size_matched": "0",
        "outcome": "YES",
        "associate_trades": None,
        "timestamp": "1672290687",
        "created_at": "1672290687",
        "expiration": "0",
        "order_type": "GTC",
        "status": "LIVE",
        "maker_address": "0x" + "11" * 20,
    }
    event.update(overrides)
    return event


def ws_trade(**overrides: Any) -> dict[str, Any]:
    """A ``trade`` event as §5.2 lists its fields: we were the maker."""
    event: dict[str, Any] = {
        "event_type": "trade",
        "type": "TRADE",
        "id": "28c4d2eb-bbea-40e7-a9f0-b2fdb56b2c2e",
        "taker_order_id": ORDER_ID,
        "market": CONDITION,
        "asset_id": TOKEN,
        "side": "BUY",
        "size": "10",
        "price": "0.57",
        "fee_rate_bps": "1000",
        "status": "MATCHED",
        "match_time": "1672290701",
        "last_update": "1672290702",
        "outcome": "YES",
        "owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
        "trade_owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
        "maker_address": "0x" + "11" * 20,
        "transaction_hash": "",
        "bucket_index": 0,
        "trader_side": "MAKER",
        "maker_orders": [
            {
                "order_id": MAKER_ORDER_ID,
                "owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
                "maker_address": "0x" + "11" * 20,
                "matched_amount": "10",
                "price": "0.57",
                "fee_rate_bps": "0",
                "asset_id": TOKEN,
                "outcome": "YES",
                "side": "SELL",
            }
        ],
        "timestamp": "1672290702000",
    }
    event.update(overrides)
    return event


# --- orders ----------------------------------------------------------------------------------


def test_ws_order_event_decodes_every_field() -> None:
    event = parse_order(ws_order(side="sell"), rest=False)
    assert event == UserOrderEvent(
        order_id=ORDER_ID,
        kind=UserOrderEventKind.PLACEMENT,
        condition_id=CONDITION,
        asset_id=TOKEN,
        side=Side.SELL,
        price=Decimal("0.57"),
        original_size=Decimal(10),
        size_matched=Decimal(0),
        status="LIVE",
        timestamp_ms=1_672_290_687_000,  # seconds on the wire, milliseconds out
        order_type="GTC",
    )


def test_order_event_keeps_an_unknown_status_as_text() -> None:
    event = parse_order(ws_order(type="cancellation", status="canceled_for_a_new_reason"), rest=False)
    assert event.kind is UserOrderEventKind.CANCELLATION
    assert event.status == "CANCELED_FOR_A_NEW_REASON"


def test_order_event_type_must_be_known() -> None:
    with pytest.raises(UserMessageError) as info:
        parse_order(ws_order(type="SOMETHING"), rest=False)
    assert info.value.field == "type"


@pytest.mark.parametrize(
    ("status", "matched", "kind"),
    [
        ("ORDER_STATUS_LIVE", "0", UserOrderEventKind.PLACEMENT),
        ("ORDER_STATUS_LIVE", "2.5", UserOrderEventKind.UPDATE),
        ("ORDER_STATUS_MATCHED", "10", UserOrderEventKind.UPDATE),
        ("ORDER_STATUS_CANCELED", "0", UserOrderEventKind.CANCELLATION),
        ("ORDER_STATUS_CANCELED_MARKET_RESOLVED", "1", UserOrderEventKind.CANCELLATION),
        ("ORDER_STATUS_CANCELED_EXPIRED_ORDER", "0", UserOrderEventKind.UPDATE),  # expiry, not a cancel
        ("ORDER_STATUS_INVALID", "0", UserOrderEventKind.UPDATE),
    ],
)
def test_rest_order_kind_follows_its_status(status: str, matched: str, kind: UserOrderEventKind) -> None:
    rest = ws_order(status=status, size_matched=matched, created_at=1_672_290_687)
    for key in ("event_type", "type", "timestamp"):
        del rest[key]
    event = parse_order(rest, rest=True)
    assert event.kind is kind
    assert event.status == status.removeprefix("ORDER_STATUS_")
    assert event.timestamp_ms == 1_672_290_687_000


def test_rest_order_kind_helper() -> None:
    assert rest_order_kind("CANCELED_NOT_ENOUGH_BALANCE", Decimal(0)) is UserOrderEventKind.CANCELLATION
    assert rest_order_kind("DELAYED", Decimal(0)) is UserOrderEventKind.UPDATE


# --- trades ----------------------------------------------------------------------------------


def test_ws_trade_event_decodes_every_field() -> None:
    event = parse_trade(ws_trade(), rest=False)
    assert event == UserTradeEvent(
        trade_id="28c4d2eb-bbea-40e7-a9f0-b2fdb56b2c2e",
        status=TradeStatus.MATCHED,
        condition_id=CONDITION,
        asset_id=TOKEN,
        taker_order_id=ORDER_ID,
        side=Side.BUY,
        size=Decimal(10),
        price=Decimal("0.57"),
        trader_side=Liquidity.MAKER,
        maker_orders=(
            MakerOrderFill(
                order_id=MAKER_ORDER_ID,
                asset_id=TOKEN,
                side=Side.SELL,
                price=Decimal("0.57"),
                matched_amount=Decimal(10),
                fee_rate_bps=0,
                owner="9180014b-33c8-9240-a14b-bdca11c0a465",
            ),
        ),
        timestamp_ms=1_672_290_702_000,  # last_update: the time of this status, in both dialects
        fee_rate_bps=1000,
        match_time_ms=1_672_290_701_000,
        transaction_hash="",
    )


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("TRADE_STATUS_MINED", TradeStatus.MINED),
        ("TRADE_STATUS_MATCHED_NOT_BROADCASTED", TradeStatus.MATCHED),
        ("retrying", TradeStatus.RETRYING),
        ("FAILED", TradeStatus.FAILED),
    ],
)
def test_trade_statuses_in_both_dialects(raw: str, status: TradeStatus) -> None:
    assert parse_trade(ws_trade(status=raw), rest=True).status is status


def test_unknown_trade_status_is_refused_with_its_own_kind() -> None:
    with pytest.raises(UserMessageError) as info:
        parse_trade(ws_trade(status="TRADE_STATUS_SETTLING"), rest=True)
    assert (info.value.field, info.value.kind) == ("status", "unknown_trade_status")


def test_trade_without_maker_orders_and_with_lower_case_sides() -> None:
    event = parse_trade(
        ws_trade(maker_orders=None, side="sell", trader_side="taker", transaction_hash=None), rest=False
    )
    assert (event.maker_orders, event.side, event.trader_side) == ((), Side.SELL, Liquidity.TAKER)


def test_trade_time_falls_back_to_the_event_time_then_the_match_time() -> None:
    assert parse_trade(ws_trade(last_update=""), rest=False).timestamp_ms == 1_672_290_702_000
    no_times = ws_trade(last_update=None)
    del no_times["timestamp"]
    assert parse_trade(no_times, rest=True).timestamp_ms == 1_672_290_701_000


def _sim_trade(status: str, *, micro_size: int = 12_500_000) -> tuple[SimTrade, str, str]:
    def order(order_id: str, owner: str, side: str) -> SimOrder:
        return SimOrder(
            id=order_id,
            seq=1,
            owner=owner,
            account="0x" + "22" * 20,
            maker_address="0x" + "22" * 20,
            signer="0x" + "22" * 20,
            market=CONDITION,
            asset_id=TOKEN,
            outcome="Up",
            side=side,
            price=Decimal("0.43"),
            original_size=20_000_000,
            order_type="GTC",
            created_ms=1_767_225_600_000,
        )

    taker = order(ORDER_ID, "taker-key", "BUY")
    maker = order(MAKER_ORDER_ID, "maker-key", "SELL")
    trade = SimTrade(
        id="trade-1",
        market=CONDITION,
        asset_id=TOKEN,
        outcome="Up",
        taker_order=taker,
        maker_order=maker,
        side="BUY",
        price=Decimal("0.43"),
        size=micro_size,
        notional=5_375_000,
        fee=0,
        match_ms=1_767_225_601_234,
        fails=False,
        status=status,
        last_update_ms=1_767_225_603_456,
        transaction_hash="0x" + "cd" * 32 if status != "MATCHED" else "",
    )
    return trade, taker.owner, maker.owner


@pytest.mark.parametrize("status", ["MATCHED", "MINED", "CONFIRMED", "FAILED"])
@pytest.mark.parametrize("viewer", ["taker", "maker"])
def test_ws_and_rest_forms_of_one_trade_decode_equal(status: str, viewer: str) -> None:
    trade, taker_key, maker_key = _sim_trade(status)
    key = taker_key if viewer == "taker" else maker_key
    from_ws = parse_trade(trade_event(trade, key, now_ms=1_767_225_603_999), rest=False)
    from_rest = parse_trade(trade_json(trade, key), rest=True)
    assert from_ws == from_rest
    assert from_ws.status is TradeStatus(status)
    assert from_ws.size == Decimal("12.5")
    assert from_ws.trader_side is (Liquidity.TAKER if viewer == "taker" else Liquidity.MAKER)


def test_ws_and_rest_forms_of_one_order_describe_the_same_order() -> None:
    trade, _, _ = _sim_trade("MATCHED")
    order = trade.maker_order
    order.size_matched = 12_500_000
    from_ws = parse_order(order_event(order, "UPDATE", now_ms=1_767_225_603_999), rest=False)
    from_rest = parse_order(order_json(order), rest=True)
    assert from_ws.kind is from_rest.kind is UserOrderEventKind.UPDATE
    # REST has no event time: only the timestamp differs.
    assert from_ws.timestamp_ms == 1_767_225_603_999
    assert from_rest.timestamp_ms == 1_767_225_600_000
    assert from_ws == UserOrderEvent(**{**_fields(from_rest), "timestamp_ms": from_ws.timestamp_ms})


def _fields(event: UserOrderEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in UserOrderEvent.__dataclass_fields__}


# --- numbers, units and times ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "NaN"),
        ("price", "Infinity"),
        ("price", "-Infinity"),
        ("price", "sNaN"),
        ("price", "1"),
        ("price", "0"),
        ("price", "0.5.1"),
        ("price", True),
        ("price", None),
        ("size", "-1"),
        ("size", "1e999999999"),
        ("size", "1e-999999999"),
        ("size", ["10"]),
        ("side", "HOLD"),
        ("trader_side", "BOTH"),
        ("id", ""),
        ("id", 1.5),
        ("match_time", "-5"),
        ("match_time", "yesterday"),
        ("last_update", "99999999999999999"),
        ("fee_rate_bps", "12.5"),
        ("fee_rate_bps", "-1"),
        ("maker_orders", "none"),
    ],
)
def test_bad_fields_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(UserMessageError) as info:
        parse_trade(ws_trade(**{field: value}), rest=False)
    assert info.value.field == field
    assert field in str(info.value)


def test_bad_maker_order_entry_is_named_with_its_index() -> None:
    trade = ws_trade()
    trade["maker_orders"] = [trade["maker_orders"][0], {**trade["maker_orders"][0], "matched_amount": "NaN"}]
    with pytest.raises(UserMessageError) as info:
        parse_trade(trade, rest=False)
    assert info.value.field == "maker_orders[1].matched_amount"


def test_missing_field_is_named() -> None:
    trade = ws_trade()
    del trade["taker_order_id"]
    with pytest.raises(UserMessageError, match="taker_order_id: missing"):
        parse_trade(trade, rest=False)


def test_json_numbers_are_accepted_exactly() -> None:
    event = parse_trade(ws_trade(price=0.57, size=10, match_time=1_672_290_701), rest=False)
    assert (event.price, event.size, event.match_time_ms) == (Decimal("0.57"), Decimal(10), 1_672_290_701_000)


def test_sizes_are_shares_unless_micro_units_are_declared() -> None:
    trade = ws_trade(size="12500000")
    trade["maker_orders"][0]["matched_amount"] = "12500000"
    assert parse_trade(trade, rest=True).size == Decimal(12_500_000)
    micro = parse_trade(trade, rest=True, micro_sizes=True)
    assert micro.size == micro.maker_orders[0].matched_amount == Decimal("12.5")
    # A decimal point is unambiguous: shares, whatever the declared unit.
    assert parse_trade(ws_trade(size="12.5"), rest=True, micro_sizes=True).size == Decimal("12.5")
    order = parse_order(
        ws_order(original_size=10_000_000, size_matched="2500000"), rest=False, micro_sizes=True
    )
    assert (order.original_size, order.size_matched) == (Decimal(10), Decimal("2.5"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1672290687", 1_672_290_687_000),
        ("1672290687123", 1_672_290_687_123),
        (1672290687, 1_672_290_687_000),
        ("1672290687.5", 1_672_290_687_500),
        ("0", 0),
    ],
)
def test_timestamps_in_seconds_or_milliseconds(raw: object, expected: int) -> None:
    assert timestamp_ms(raw) == expected


# --- frames ----------------------------------------------------------------------------------


def test_frame_may_be_an_object_or_an_array() -> None:
    single = decode_user_frame(orjson.dumps(ws_order()))
    assert [type(e) for e in single.events] == [UserOrderEvent]
    batch = decode_user_frame(orjson.dumps([ws_order(), ws_trade()]).decode())
    assert [type(e) for e in batch.events] == [UserOrderEvent, UserTradeEvent]
    assert batch.errors == ()


def test_bad_elements_are_skipped_and_reported_the_rest_kept() -> None:
    frame = [
        ws_trade(price="NaN"),
        ws_order(),
        {"event_type": "price_change"},
        ws_trade(status="WEIRD"),
        "text",
        ws_trade(status="CONFIRMED"),
    ]
    decoded = decode_user_frame(orjson.dumps(frame))
    assert [type(e) for e in decoded.events] == [UserOrderEvent, UserTradeEvent]
    assert [e.kind for e in decoded.errors] == [
        "malformed",
        "unknown_event",
        "unknown_trade_status",
        "malformed",
    ]


@pytest.mark.parametrize("frame", ["", "{", '{"event_type": "order", "price": NaN}', "[1, 2", "null", "42"])
def test_unreadable_frames_are_errors(frame: str) -> None:
    decoded = decode_user_frame(frame)
    assert decoded.events == ()
    assert len(decoded.errors) == 1


def test_parse_user_event_dispatches_on_event_type() -> None:
    assert isinstance(parse_user_event(ws_trade()), UserTradeEvent)
    with pytest.raises(UserMessageError) as info:
        parse_user_event({"event_type": "book"})
    assert info.value.kind == "unknown_event"


# --- fuzzing ---------------------------------------------------------------------------------

_TRICKY_TEXT = st.sampled_from(
    ["", " ", "NaN", "nan", "Infinity", "-inf", "sNaN", "1e999999999", "-1", "0", "1", "0.5", "1_0", "0x1f"]
)
_JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | _TRICKY_TEXT
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def _mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """A valid payload with a few fields replaced by arbitrary JSON values or removed."""
    payload = dict(base)
    for key in draw(st.lists(st.sampled_from(sorted(base)), max_size=4)):
        if draw(st.booleans()):
            payload.pop(key, None)
        else:
            payload[key] = draw(_JSON_VALUES)
    return payload


@settings(max_examples=100, deadline=None)
@given(payload=_mutated(ws_trade()), rest=st.booleans(), micro=st.booleans())
def test_arbitrary_trades_raise_only_user_message_error(
    payload: dict[str, Any], rest: bool, micro: bool
) -> None:
    try:
        event = parse_trade(payload, rest=rest, micro_sizes=micro)
    except UserMessageError:
        return
    assert event.price.is_finite()
    assert event.size.is_finite()
    assert event.size >= 0


@settings(max_examples=100, deadline=None)
@given(payload=_mutated(ws_order()), rest=st.booleans())
def test_arbitrary_orders_raise_only_user_message_error(payload: dict[str, Any], rest: bool) -> None:
    try:
        event = parse_order(payload, rest=rest)
    except UserMessageError:
        return
    assert event.price.is_finite()
    assert event.size_matched.is_finite()


@settings(max_examples=100, deadline=None)
@given(
    data=st.binary(max_size=64)
    | st.text(max_size=64)
    | _JSON_VALUES.map(json.dumps)  # the stdlib writes NaN, Infinity and huge integers too
    | st.lists(_mutated(ws_trade()) | _mutated(ws_order()), max_size=3).map(json.dumps)
)
def test_decode_user_frame_never_raises(data: str | bytes) -> None:
    decoded = decode_user_frame(data)
    assert all(isinstance(error, UserMessageError) for error in decoded.errors)
