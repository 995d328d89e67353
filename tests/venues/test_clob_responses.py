"""Typed decoding of the CLOB's REST answers: exact money, clear errors naming the field."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.models import BookLevel, Side
from polyexec.venues.clob_responses import (
    END_CURSOR,
    decode_api_credentials,
    decode_balance_allowance,
    decode_book,
    decode_books,
    decode_cancel_result,
    decode_clob_market_info,
    decode_heartbeat_id,
    decode_midpoint,
    decode_neg_risk,
    decode_page,
    decode_post_order_result,
    decode_post_order_results,
    decode_price,
    decode_server_time,
    decode_spread,
    decode_tick_size,
    decode_venue_order,
    decode_version,
)
from polyexec.venues.errors import BadResponse

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
CONDITION = "0x" + "ab" * 32
ORDER_ID = "0x" + "cd" * 32


def book_json(**overrides: Any) -> dict[str, Any]:
    book: dict[str, Any] = {
        "market": CONDITION,
        "asset_id": TOKEN,
        "timestamp": "1795347373616",
        "hash": "f00d",
        "bids": [{"price": "0.48", "size": "100"}, {"price": "0.49", "size": "12.5"}],
        "asks": [{"price": "0.52", "size": "7"}, {"price": "0.51", "size": "30"}],
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": False,
        "last_trade_price": "0.5",
    }
    book.update(overrides)
    return book


def order_json(**overrides: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "id": ORDER_ID,
        "status": "ORDER_STATUS_LIVE",
        "owner": "api-key-uuid",
        "maker_address": "0x500d75F1329cf98352c32Cf238c2192ca78faFFE",
        "market": CONDITION,
        "asset_id": TOKEN,
        "side": "BUY",
        "original_size": "10",
        "size_matched": "2.5",
        "price": "0.52",
        "outcome": "Up",
        "expiration": "0",
        "order_type": "GTC",
        "associate_trades": ["trade-1"],
        "created_at": 1795347373,
    }
    order.update(overrides)
    return order


def bad(call: Callable[[], object], *fragments: str) -> BadResponse:
    with pytest.raises(BadResponse) as caught:
        call()
    for fragment in fragments:
        assert fragment in str(caught.value)
    return caught.value


# -- books and prices ---------------------------------------------------------------------------


def test_book_keeps_wire_order_and_exact_decimals() -> None:
    book = decode_book(book_json())
    assert book.asset_id == TOKEN
    assert book.condition_id == CONDITION
    assert book.timestamp_ms == 1795347373616
    assert book.bids == (
        BookLevel(Decimal("0.48"), Decimal(100)),
        BookLevel(Decimal("0.49"), Decimal("12.5")),
    )
    assert book.asks[-1] == BookLevel(Decimal("0.51"), Decimal(30))
    assert book.tick_size == Decimal("0.01")
    assert book.hash == "f00d"


def test_book_timestamp_in_seconds_becomes_ms_and_empty_sides_are_empty() -> None:
    book = decode_book(book_json(timestamp=1795347373, bids=None, asks=[]))
    assert book.timestamp_ms == 1795347373000
    assert book.bids == ()
    assert book.asks == ()


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"bids": [{"price": "abc", "size": "1"}]}, "book.bids[0].price is not a decimal"),
        ({"asks": [{"price": "0.5", "size": "NaN"}]}, "book.asks[0].size is not a finite decimal"),
        ({"asks": [{"price": "Infinity", "size": "1"}]}, "book.asks[0].price is not a finite decimal"),
        ({"bids": [{"price": "1.5", "size": "1"}]}, "book.bids[0].price is outside"),
        ({"bids": [{"price": "0.5", "size": "-1"}]}, "book.bids[0].size is outside"),
        ({"bids": [{"price": True, "size": "1"}]}, "book.bids[0].price is not a decimal"),
        ({"bids": "nope"}, "book.bids is not a list"),
        ({"asset_id": None}, "book.asset_id is not a string"),
        ({"timestamp": "soon"}, "book.timestamp is not an integer"),
        ({"tick_size": "0.02"}, "book.tick_size unknown tick size"),
    ],
)
def test_malformed_book_names_the_field(overrides: dict[str, Any], fragment: str) -> None:
    bad(lambda: decode_book(book_json(**overrides)), "get_book:", fragment)


def test_books_is_a_list_of_books() -> None:
    books = decode_books([book_json(), book_json(asset_id="42")])
    assert [b.asset_id for b in books] == [TOKEN, "42"]
    bad(lambda: decode_books({"not": "a list"}), "get_books: books is not a list")


def test_midpoint_accepts_mid_and_mid_price() -> None:
    assert decode_midpoint({"mid": "0.455"}) == Decimal("0.455")
    assert decode_midpoint({"mid_price": "0.5"}) == Decimal("0.5")
    assert decode_midpoint({"mid": ""}) is None
    bad(lambda: decode_midpoint({"other": "1"}), "get_midpoint: midpoint has none of mid, mid_price")
    bad(lambda: decode_midpoint({"mid": "nan"}), "midpoint.mid is not a finite decimal")


def test_spread_and_price() -> None:
    assert decode_spread({"spread": "0.02"}) == Decimal("0.02")
    assert decode_price({"price": "0.45"}) == Decimal("0.45")
    assert decode_price({"price": 0.45}) == Decimal("0.45")
    bad(lambda: decode_price({"price": "-0.1"}), "price.price is outside")


@pytest.mark.parametrize(
    ("raw", "expected"), [(0.01, "0.01"), (0.001, "0.001"), ("0.0001", "0.0001"), (0.1, "0.1")]
)
def test_tick_size_from_number_or_string(raw: object, expected: str) -> None:
    tick = decode_tick_size({"minimum_tick_size": raw})
    assert tick == Decimal(expected)
    assert str(tick) == expected


@pytest.mark.parametrize("raw", [0.02, "NaN", None, True, "1e-2x"])
def test_unusable_tick_size_is_refused(raw: object) -> None:
    bad(lambda: decode_tick_size({"minimum_tick_size": raw}), "get_tick_size: tick_size.minimum_tick_size")


def test_neg_risk_is_a_strict_bool() -> None:
    assert decode_neg_risk({"neg_risk": True}) is True
    bad(lambda: decode_neg_risk({"neg_risk": "false"}), "neg_risk.neg_risk is not true/false")


def test_server_time_and_version() -> None:
    assert decode_server_time(1732272000) == 1732272000
    assert decode_server_time("1732272000") == 1732272000
    bad(lambda: decode_server_time(1732272000.5), "get_server_time: server time is not an integer")
    bad(lambda: decode_server_time(True), "server time is not an integer")
    bad(lambda: decode_server_time(0), "not positive")
    assert decode_version({"version": 2}) == 2


def test_clob_market_info_compact_form() -> None:
    info = decode_clob_market_info(
        {
            "t": [{"t": "1", "o": "Up"}, {"t": "2", "o": "Down"}],
            "mts": 0.01,
            "mos": 5,
            "mbf": 1000,
            "tbf": 1000,
            "nr": False,
            "fd": {"r": 0.07, "e": 1, "to": True},
            "itode": True,
        },
        CONDITION,
    )
    assert info.condition_id == CONDITION
    assert info.tokens == (("1", "Up"), ("2", "Down"))
    assert info.tick_size == Decimal("0.01")
    assert info.min_size == Decimal(5)
    assert info.neg_risk is False
    assert info.fee.rate == Decimal("0.07")
    assert info.fee.exponent == 1
    assert info.fee.taker_only is True
    assert info.taker_delay is True


def test_clob_market_info_defaults_and_errors() -> None:
    info = decode_clob_market_info({"t": [{"t": "1", "o": "Yes"}], "mts": "0.001", "mos": "5"}, CONDITION)
    assert info.fee.rate == 0  # no fee curve: no fee
    assert info.taker_delay is False  # itode is omitted when false
    assert info.neg_risk is False
    bad(lambda: decode_clob_market_info({"t": [], "mts": 0.01, "mos": 5}, CONDITION), "market_info.t is not")
    bad(
        lambda: decode_clob_market_info({"t": [{"t": "1"}], "mts": 0.01, "mos": 5}, CONDITION),
        "market_info.t[0].o is not a string",
    )
    bad(
        lambda: decode_clob_market_info({"t": [{"t": "1", "o": "Up"}], "mts": 0.03, "mos": 5}, CONDITION),
        "market_info.mts",
    )


# -- keys, orders, cancels, account ------------------------------------------------------------


def test_api_credentials() -> None:
    creds = decode_api_credentials({"apiKey": "k-1", "secret": "c2VjcmV0", "passphrase": "pp-123"})
    assert (creds.api_key, creds.secret, creds.passphrase) == ("k-1", "c2VjcmV0", "pp-123")
    error = bad(
        lambda: decode_api_credentials({"apiKey": "k-1", "secret": "", "passphrase": "pp-123"}), "secret"
    )
    assert "pp-123" not in str(error)
    assert "k-1" not in str(error)


def test_post_order_success() -> None:
    result = decode_post_order_result(
        {
            "success": True,
            "errorMsg": "",
            "orderID": ORDER_ID,
            "status": "matched",
            "makingAmount": "5.2",
            "takingAmount": "10",
            "transactionsHashes": None,
            "tradeIDs": ["t-1", "t-2"],
        }
    )
    assert result.success
    assert result.status == "matched"
    assert result.making_amount == Decimal("5.2")
    assert result.taking_amount == Decimal(10)
    assert result.trade_ids == ("t-1", "t-2")
    assert result.transaction_hashes == ()
    assert not result.placed_by_earlier_attempt


def test_post_order_refusal_forms() -> None:
    refused = decode_post_order_result(
        {"success": False, "errorMsg": "not enough balance / allowance", "orderID": ""}
    )
    assert not refused.success
    assert refused.error == "not enough balance / allowance"
    # success true but an errorMsg: still a refusal
    assert not decode_post_order_result({"success": True, "errorMsg": "nope", "orderID": ORDER_ID}).success
    # no success field: an orderID without error is a success
    assert decode_post_order_result({"orderID": ORDER_ID, "status": "LIVE", "makingAmount": ""}).success
    bad(lambda: decode_post_order_result({"success": True, "errorMsg": ""}), "result.orderID is missing")
    bad(
        lambda: decode_post_order_result({"success": True, "orderID": ORDER_ID, "makingAmount": "NaN"}),
        "result.makingAmount is not a finite decimal",
    )


def test_batch_results_follow_the_sent_order() -> None:
    ids = ["0x01", "0x02", "0x03"]
    answer = [
        {"success": True, "orderID": "0x03", "status": "live"},
        {"success": True, "orderID": "0x01", "status": "matched"},
        {"success": False, "orderID": "0x02", "errorMsg": "invalid expiration"},
    ]
    results = decode_post_order_results(answer, ids)
    assert [r.order_id for r in results] == ids
    assert [r.success for r in results] == [True, False, True]
    # refusals without an id: positional
    positional = decode_post_order_results(
        [{"success": False, "orderID": "", "errorMsg": "bad"}, {"success": True, "orderID": "0x02"}],
        ["0x01", "0x02"],
    )
    assert [r.error for r in positional] == ["bad", ""]
    bad(lambda: decode_post_order_results(answer[:2], ids), "post_orders: 2 results for 3 orders")
    bad(lambda: decode_post_order_results({"success": True}, ids), "results is not a list")


def test_cancel_result_tolerates_nulls() -> None:
    result = decode_cancel_result({"canceled": None, "not_canceled": {"0x1": "Order already matched"}})
    assert result.canceled == ()
    assert result.not_canceled == {"0x1": "Order already matched"}
    assert decode_cancel_result({"canceled": ["0x2"]}).canceled == ("0x2",)
    bad(lambda: decode_cancel_result({"canceled": "0x2"}), "cancel.canceled is not a list of strings")


def test_venue_order() -> None:
    order = decode_venue_order(order_json())
    assert order.order_id == ORDER_ID
    assert order.status == "LIVE"
    assert order.side is Side.BUY
    assert order.price == Decimal("0.52")
    assert order.original_size == Decimal(10)
    assert order.size_matched == Decimal("2.5")
    assert order.created_at_ms == 1795347373000
    assert order.expiration_s == 0
    assert order.associate_trades == ("trade-1",)
    assert decode_venue_order(order_json(created_at="1795347373616")).created_at_ms == 1795347373616
    assert (
        decode_venue_order(order_json(status="CANCELED_MARKET_RESOLVED")).status == "CANCELED_MARKET_RESOLVED"
    )
    bad(lambda: decode_venue_order(order_json(side="HOLD")), "order.side is not BUY or SELL")
    bad(lambda: decode_venue_order(order_json(size_matched="Infinity")), "order.size_matched is not a finite")


def test_page_envelope() -> None:
    page = decode_page({"limit": 100, "next_cursor": "MTAw", "count": 1, "data": [{"a": 1}]}, "get_trades")
    assert page.data == ({"a": 1},)
    assert page.next_cursor == "MTAw"
    assert decode_page({"data": []}, "get_trades").next_cursor == END_CURSOR
    assert decode_page({"data": None, "next_cursor": ""}, "x").next_cursor == END_CURSOR
    bad(lambda: decode_page({"data": {}}, "get_open_orders"), "get_open_orders: page.data is not a list")


def test_balance_allowance_units_to_dollars() -> None:
    unlimited = str(2**256 - 1)
    result = decode_balance_allowance(
        {"balance": "1000000000", "allowances": {"0xEx": unlimited, "0xNr": "0"}}
    )
    assert result.balance == Decimal(1000)
    assert result.allowances["0xEx"] == Decimal(f"{unlimited[:-6]}.{unlimited[-6:]}")  # exact
    assert result.allowances["0xNr"] == 0
    assert decode_balance_allowance({"balance": 1_500_000}).balance == Decimal("1.5")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"balance": "1.5"}, "balance_allowance.balance is not an integer"),
        ({"balance": 1.5}, "balance_allowance.balance is not an integer"),
        ({"balance": "-1"}, "balance_allowance.balance is negative"),
        (
            {"balance": "1", "allowances": {"0xEx": "NaN"}},
            "balance_allowance.allowances[0xEx] is not an integer",
        ),
        ({"balance": "1", "allowances": []}, "balance_allowance.allowances is not an object"),
    ],
)
def test_balance_allowance_refuses_non_units(body: dict[str, Any], fragment: str) -> None:
    bad(lambda: decode_balance_allowance(body), fragment)


def test_heartbeat_id() -> None:
    assert decode_heartbeat_id({"heartbeat_id": "hb-1"}) == "hb-1"
    bad(
        lambda: decode_heartbeat_id({"status": "ok"}),
        "post_heartbeat: heartbeat.heartbeat_id is not a string",
    )


# -- any JSON at all: a BadResponse or a record, never another exception ----------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["0.5", "NaN", "-1", "1e400", "ORDER_STATUS_LIVE", "BUY", TOKEN]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "market",
        "asset_id",
        "timestamp",
        "bids",
        "asks",
        "price",
        "size",
        "id",
        "status",
        "side",
        "original_size",
        "size_matched",
        "balance",
        "allowances",
        "orderID",
        "success",
        "errorMsg",
        "mid",
        "t",
        "mts",
        "mos",
        "fd",
        "canceled",
        "not_canceled",
        "data",
        "next_cursor",
        "minimum_tick_size",
        "heartbeat_id",
        "created_at",
    ]
)
plausible_objects = st.dictionaries(field_names, json_values, max_size=10)

DECODERS: list[Callable[[Any], object]] = [
    decode_book,
    decode_books,
    decode_midpoint,
    decode_tick_size,
    decode_neg_risk,
    decode_server_time,
    decode_post_order_result,
    lambda data: decode_post_order_results(data, ["0x01"]),
    decode_cancel_result,
    decode_venue_order,
    lambda data: decode_page(data, "op"),
    decode_balance_allowance,
    lambda data: decode_clob_market_info(data, CONDITION),
    decode_api_credentials,
]


@settings(max_examples=120, deadline=None)
@given(decoder=st.sampled_from(DECODERS), data=json_values | plausible_objects)
def test_decoders_raise_only_bad_response(decoder: Callable[[Any], object], data: Any) -> None:
    with contextlib.suppress(BadResponse):
        decoder(data)
