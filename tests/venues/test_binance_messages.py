"""Binance combined-stream decoding: exact fields, the simulator's wire format, and every kind of
bad frame counted under its label instead of crashing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.config.settings import Settings
from polyexec.core.events import BinanceBookTicker, BinanceTrade
from polyexec.sim.binance import BinanceFeed as SimBinanceFeed
from polyexec.sim.contracts import SimClock
from polyexec.sim.underlying import BinanceTick
from polyexec.venues.binance_messages import (
    BinanceMessageError,
    ControlReply,
    ServerShutdown,
    asset_of_symbol,
    binance_symbol,
    combined_stream_url,
    decode_binance_frame,
    stream_names,
)

TRADE = {
    "e": "trade",
    "E": 1_760_000_000_123,
    "s": "BTCUSDT",
    "t": 5_123_456_789,
    "p": "67234.51000000",
    "q": "0.00120000",
    "T": 1_760_000_000_120,
    "m": True,
    "M": True,
}
TICKER = {"u": 400900217, "s": "BTCUSDT", "b": "67234.50", "B": "1.5", "a": "67234.51", "A": "0.25"}


def frame(stream: str, data: Any) -> bytes:
    return orjson.dumps({"stream": stream, "data": data})


def error_kind(raw: str | bytes) -> str:
    with pytest.raises(BinanceMessageError) as info:
        decode_binance_frame(raw, 1)
    return info.value.kind


def test_trade_decodes_every_field_exactly() -> None:
    trade = decode_binance_frame(frame("btcusdt@trade", TRADE), 99)
    assert trade == BinanceTrade(
        symbol="btcusdt",
        trade_id=5_123_456_789,
        price=Decimal("67234.51000000"),
        quantity=Decimal("0.00120000"),
        trade_time_ms=1_760_000_000_120,
        event_time_ms=1_760_000_000_123,
        buyer_is_maker=True,
    )


def test_book_ticker_is_stamped_with_the_local_receive_time() -> None:
    ticker = decode_binance_frame(frame("btcusdt@bookTicker", TICKER), 1_760_000_000_555)
    assert ticker == BinanceBookTicker(
        symbol="btcusdt",
        update_id=400900217,
        bid=Decimal("67234.50"),
        bid_qty=Decimal("1.5"),
        ask=Decimal("67234.51"),
        ask_qty=Decimal("0.25"),
        received_ms=1_760_000_000_555,
    )


def test_an_empty_book_side_is_zero_not_an_error() -> None:
    ticker = decode_binance_frame(frame("btcusdt@bookTicker", {**TICKER, "b": "0.00000000", "B": "0"}), 5)
    assert isinstance(ticker, BinanceBookTicker)
    assert ticker.bid == 0


def test_raw_trade_payload_is_accepted() -> None:
    trade = decode_binance_frame(orjson.dumps(TRADE), 1)
    assert isinstance(trade, BinanceTrade)
    assert trade.symbol == "btcusdt"


@pytest.mark.parametrize(
    "raw",
    [
        frame("!serverShutdown", {"e": "serverShutdown", "E": 1_760_000_000_000}),
        orjson.dumps({"e": "serverShutdown", "E": 1_760_000_000_000}),
    ],
)
def test_server_shutdown_combined_and_raw(raw: bytes) -> None:
    assert decode_binance_frame(raw, 1) == ServerShutdown(event_time_ms=1_760_000_000_000)


def test_control_replies_are_not_errors() -> None:
    assert decode_binance_frame(b'{"result":null,"id":1}', 1) == ControlReply(request_id=1)
    reply = decode_binance_frame(b'{"error":{"code":2,"msg":"Invalid request"},"id":7}', 1)
    assert isinstance(reply, ControlReply)
    assert reply.request_id == 7
    assert "Invalid request" in reply.error


def test_frames_the_simulator_sends_decode() -> None:
    tick = BinanceTick(
        asset="eth",
        symbol="ethusdt",
        time_ms=1_760_000_000_200,
        trade_id=3_000_000_017,
        price=Decimal("2500.01"),
        quantity=Decimal("0.5"),
        buyer_is_maker=False,
        bid=Decimal("2500.00"),
        bid_quantity=Decimal("3"),
        ask=Decimal("2500.01"),
        ask_quantity=Decimal("4"),
        update_id=77,
        mid=2500.005,
    )
    sim = SimBinanceFeed(SimClock(), None)
    trade = decode_binance_frame(frame("ethusdt@trade", sim._payload(tick, "trade", False)), 1)
    ticker = decode_binance_frame(frame("ethusdt@bookTicker", sim._payload(tick, "bookTicker", False)), 1)
    assert isinstance(trade, BinanceTrade)
    assert (trade.trade_id, trade.price, trade.quantity, trade.trade_time_ms) == (
        3_000_000_017,
        Decimal("2500.01"),
        Decimal("0.5"),
        1_760_000_000_200,
    )
    assert trade.buyer_is_maker is False
    assert isinstance(ticker, BinanceBookTicker)
    assert (ticker.update_id, ticker.bid, ticker.ask) == (77, Decimal("2500.00"), Decimal("2500.01"))


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"{not json", "malformed"),
        (b"[1, 2]", "malformed"),
        (frame("btcusdt@trade", [1]), "malformed"),
        (frame("btcusdt@trade", {k: v for k, v in TRADE.items() if k != "p"}), "malformed"),
        (frame("btcusdt@trade", {**TRADE, "p": 67234.51}), "malformed"),
        (frame("btcusdt@trade", {**TRADE, "t": True}), "malformed"),
        (frame("btcusdt@trade", {**TRADE, "t": "5"}), "malformed"),
        (frame("btcusdt@trade", {**TRADE, "m": "yes"}), "malformed"),
        (frame("btcusdt@trade", {**TRADE, "p": "abc"}), "malformed"),
        (frame("btcusdt@trade", {**TRADE, "p": "NaN"}), "bad_value"),
        (frame("btcusdt@trade", {**TRADE, "p": "Infinity"}), "bad_value"),
        (frame("btcusdt@trade", {**TRADE, "p": "0"}), "bad_value"),
        (frame("btcusdt@trade", {**TRADE, "p": "-1"}), "bad_value"),
        (frame("btcusdt@trade", {**TRADE, "p": "1e999999999"}), "bad_value"),
        (frame("btcusdt@trade", {**TRADE, "q": "-0.1"}), "bad_value"),
        (frame("btcusdt@bookTicker", {**TICKER, "b": "67235", "a": "67234"}), "bad_value"),
        (frame("btcusdt@bookTicker", {**TICKER, "A": "sNaN"}), "bad_value"),
        (frame("ethusdt@trade", TRADE), "symbol_mismatch"),
        (frame("btcusdt@depth", {"U": 1}), "unknown_stream"),
        (b'{"e":"aggTrade","a":1}', "unknown_stream"),
        (frame(7, TRADE), "malformed"),  # type: ignore[arg-type]
    ],
)
def test_unusable_frames_raise_with_their_kind(raw: bytes, kind: str) -> None:
    assert error_kind(raw) == kind


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    data=st.dictionaries(st.sampled_from(sorted(TRADE)), json_values, max_size=9),
    stream=st.sampled_from(["btcusdt@trade", "btcusdt@bookTicker", "!serverShutdown", "x@y"]),
)
def test_any_payload_decodes_or_raises_a_counted_error(data: dict[str, Any], stream: str) -> None:
    payload = {**TRADE, **data} if stream.endswith("trade") else data
    kind = ""
    try:
        # json, not orjson: integers beyond 64 bits must reach the decoder too.
        decode_binance_frame(json.dumps({"stream": stream, "data": payload}), 1)
    except BinanceMessageError as exc:
        kind = exc.kind
    assert kind in {"", "malformed", "bad_value", "unknown_stream", "symbol_mismatch"}


prices = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("999999"), places=8)


@settings(max_examples=150, deadline=None)
@given(
    price=prices,
    quantity=st.decimals(min_value=Decimal(0), max_value=Decimal("1000"), places=8),
    trade_id=st.integers(min_value=0, max_value=2**62),
    maker=st.booleans(),
)
def test_trade_round_trip(price: Decimal, quantity: Decimal, trade_id: int, maker: bool) -> None:
    data = {**TRADE, "p": f"{price:.8f}", "q": f"{quantity:.8f}", "t": trade_id, "m": maker}
    trade = decode_binance_frame(frame("btcusdt@trade", data), 1)
    assert isinstance(trade, BinanceTrade)
    assert (trade.price, trade.quantity, trade.trade_id, trade.buyer_is_maker) == (
        price,
        quantity,
        trade_id,
        maker,
    )


def test_symbols_streams_and_url_match_the_settings_rule() -> None:
    assert binance_symbol(" BTC ") == "btcusdt"
    assert asset_of_symbol("ETHUSDT") == "eth"
    assert asset_of_symbol("usdt") is None
    assert asset_of_symbol("btcusdc") is None
    assert stream_names(["btc", "eth", "btc"]) == [
        "btcusdt@trade",
        "btcusdt@bookTicker",
        "ethusdt@trade",
        "ethusdt@bookTicker",
    ]
    settings_ = Settings(binance_ws_url="wss://data-stream.binance.vision")
    expected = settings_.binance_stream_url(stream_names(["btc", "eth"]))
    assert combined_stream_url("wss://data-stream.binance.vision/", ["btc", "eth"]) == expected


@pytest.mark.parametrize("bad", ["", "btc/usd", "b tc", "ß"])
def test_bad_asset_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not an asset name"):
        binance_symbol(bad)


def test_no_assets_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one asset"):
        stream_names([])
