"""RTDS decoding: the exact E18 TWAP, Chainlink spot, backfills (and the mislabelled ones),
server errors, and bad frames counted under their label."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import PriceSource, ReferencePrice
from polyexec.sim.contracts import SimClock
from polyexec.sim.rtds import RtdsFeed as SimRtdsFeed
from polyexec.sim.underlying import PriceObservation, UnderlyingPrice, profile_for
from polyexec.venues.rtds_messages import (
    RtdsMessageError,
    RtdsPrices,
    RtdsServerError,
    asset_of_rtds_symbol,
    decode_rtds_frame,
    rtds_symbol,
)

TWAP_PAYLOAD = {
    "symbol": "btc/usd",
    "value": 65000.5,
    "full_accuracy_value": "65000500000000000000123",
    "timestamp": 1_760_000_000_000,
    "window_s": 60,
}
SPOT_PAYLOAD = {"symbol": "eth/usd", "timestamp": 1_760_000_001_000, "value": 2500.25}


def update(topic: str, payload: Any) -> bytes:
    return orjson.dumps(
        {
            "connection_id": "abc",
            "payload": payload,
            "timestamp": 1_760_000_002_000,
            "topic": topic,
            "type": "update",
        }
    )


def backfill(topic: str, symbol: str, points: list[Any]) -> bytes:
    return orjson.dumps(
        {"payload": {"data": points, "symbol": symbol}, "timestamp": 1, "topic": topic, "type": "subscribe"}
    )


def test_twap_update_uses_the_exact_e18_value_and_the_observation_time() -> None:
    message = decode_rtds_frame(update("crypto_prices_twap_sixty", TWAP_PAYLOAD))
    assert message == RtdsPrices(
        source=PriceSource.CHAINLINK_TWAP_60,
        prices=(
            ReferencePrice(
                asset="btc",
                source=PriceSource.CHAINLINK_TWAP_60,
                value=Decimal("65000.500000000000000123"),
                timestamp_ms=1_760_000_000_000,
            ),
        ),
    )


def test_twap_without_full_accuracy_value_falls_back_to_the_float_text() -> None:
    payload = {k: v for k, v in TWAP_PAYLOAD.items() if k != "full_accuracy_value"}
    message = decode_rtds_frame(update("crypto_prices_twap_sixty", payload))
    assert isinstance(message, RtdsPrices)
    assert message.prices[0].value == Decimal("65000.5")


def test_chainlink_spot_update() -> None:
    message = decode_rtds_frame(update("crypto_prices_chainlink", SPOT_PAYLOAD))
    assert isinstance(message, RtdsPrices)
    assert message.prices == (
        ReferencePrice("eth", PriceSource.CHAINLINK_SPOT, Decimal("2500.25"), 1_760_000_001_000),
    )


def test_backfill_points_decode_oldest_first_and_bad_points_are_counted() -> None:
    points = [
        {"timestamp": 3000, "value": 3.0, "full_accuracy_value": "3000000000000000000", "window_s": 60},
        {"timestamp": 1000, "value": 1.0, "full_accuracy_value": "1000000000000000000", "window_s": 60},
        {"timestamp": 2000, "value": 2.0, "full_accuracy_value": "NaN", "window_s": 60},
        {"timestamp": 2500, "value": 2.5, "window_s": 30},
        "junk",
    ]
    message = decode_rtds_frame(backfill("crypto_prices_twap_sixty", "btc/usd", points))
    assert isinstance(message, RtdsPrices)
    assert message.backfill
    assert message.rejected == 3
    assert [(p.timestamp_ms, p.value) for p in message.prices] == [(1000, Decimal(1)), (3000, Decimal(3))]


def test_mislabelled_chainlink_backfill_is_read_as_chainlink_spot() -> None:
    raw = backfill("crypto_prices", "btc/usd", [{"timestamp": 1000, "value": 67000.25}])
    message = decode_rtds_frame(raw)
    assert isinstance(message, RtdsPrices)
    assert message.source is PriceSource.CHAINLINK_SPOT
    assert message.prices == (ReferencePrice("btc", PriceSource.CHAINLINK_SPOT, Decimal("67000.25"), 1000),)


def test_server_error_frame() -> None:
    raw = b'{"statusCode":401,"body":{"message":"Unauthorized: topic \'x\' not found"}}'
    assert decode_rtds_frame(raw) == RtdsServerError(401, "Unauthorized: topic 'x' not found")


def test_frames_the_simulator_sends_decode_exactly() -> None:
    underlying = UnderlyingPrice(profile_for("btc"), seed=3, start_ms=1_760_000_000_000)
    underlying.advance_to(1_760_000_070_000)
    observation: PriceObservation = underlying.last_observation
    sim = SimRtdsFeed(SimClock(), None, {"btc": underlying}, seed=3)
    twap = decode_rtds_frame(
        update("crypto_prices_twap_sixty", sim._payload("crypto_prices_twap_sixty", observation))
    )
    spot = decode_rtds_frame(
        update("crypto_prices_chainlink", sim._payload("crypto_prices_chainlink", observation))
    )
    assert isinstance(twap, RtdsPrices)
    assert isinstance(spot, RtdsPrices)
    assert twap.prices == (
        ReferencePrice("btc", PriceSource.CHAINLINK_TWAP_60, observation.twap, observation.timestamp_ms),
    )
    assert spot.prices[0].timestamp_ms == observation.timestamp_ms
    assert spot.prices[0].value == Decimal(repr(float(observation.chainlink)))


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"nope", "malformed"),
        (b"[]", "malformed"),
        (b'{"topic":"crypto_prices_chainlink","type":"update"}', "malformed"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "symbol": 5}), "malformed"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "symbol": "ethusdt"}), "malformed"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "timestamp": "1"}), "malformed"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "timestamp": True}), "malformed"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "value": None}), "malformed"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "value": "x"}), "malformed"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "value": "NaN"}), "bad_value"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "value": 0}), "bad_value"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "value": -3.5}), "bad_value"),
        (update("crypto_prices_chainlink", {**SPOT_PAYLOAD, "value": "1e999999"}), "bad_value"),
        (update("crypto_prices_twap_sixty", {**TWAP_PAYLOAD, "full_accuracy_value": "1.5"}), "malformed"),
        (update("crypto_prices_twap_sixty", {**TWAP_PAYLOAD, "full_accuracy_value": 65000}), "malformed"),
        (update("crypto_prices_twap_sixty", {**TWAP_PAYLOAD, "full_accuracy_value": "-1"}), "bad_value"),
        (update("crypto_prices_twap_sixty", {**TWAP_PAYLOAD, "window_s": 30}), "bad_value"),
        (update("crypto_prices_twap_thirty", TWAP_PAYLOAD), "unknown_topic"),
        (update("crypto_prices", {"symbol": "btcusdt", "timestamp": 1, "value": 1.0}), "unknown_topic"),
        (
            orjson.dumps({"topic": "crypto_prices_chainlink", "type": "x", "payload": SPOT_PAYLOAD}),
            "unknown_type",
        ),
        (backfill("crypto_prices_chainlink", "btc/usd", "notalist"), "malformed"),  # type: ignore[arg-type]
    ],
)
def test_unusable_frames_raise_with_their_kind(raw: bytes, kind: str) -> None:
    with pytest.raises(RtdsMessageError) as info:
        decode_rtds_frame(raw)
    assert info.value.kind == kind


def test_a_float_that_overflows_is_refused() -> None:
    payload = b'{"symbol":"btc/usd","timestamp":1,"value":1e999}'
    raw = b'{"topic":"crypto_prices_chainlink","type":"update","payload":' + payload + b"}"
    with pytest.raises(RtdsMessageError):
        decode_rtds_frame(raw)


@settings(max_examples=150, deadline=None)
@given(
    digits=st.integers(min_value=1, max_value=10**29),
    timestamp=st.integers(min_value=1, max_value=2**53),
)
def test_e18_values_are_read_exactly(digits: int, timestamp: int) -> None:
    payload = {**TWAP_PAYLOAD, "full_accuracy_value": str(digits), "timestamp": timestamp}
    message = decode_rtds_frame(update("crypto_prices_twap_sixty", payload))
    assert isinstance(message, RtdsPrices)
    # Compare with an exactly built Decimal: multiplying would round at the context's 28 digits.
    assert message.prices[0].value == Decimal(f"{digits}E-18")
    assert message.prices[0].timestamp_ms == timestamp


payload_values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    topic=st.sampled_from(["crypto_prices_twap_sixty", "crypto_prices_chainlink", "crypto_prices", "other"]),
    kind=st.sampled_from(["update", "subscribe", "x"]),
    payload=st.dictionaries(
        st.sampled_from(["symbol", "value", "full_accuracy_value", "timestamp", "window_s", "data"]),
        payload_values | st.lists(st.dictionaries(st.sampled_from(["timestamp", "value"]), payload_values)),
    ),
)
def test_any_frame_decodes_or_raises_a_counted_error(topic: str, kind: str, payload: dict[str, Any]) -> None:
    raw = json.dumps({"topic": topic, "type": kind, "payload": payload})
    message: object = None
    try:
        message = decode_rtds_frame(raw)
    except RtdsMessageError as exc:
        message = exc.kind
    if isinstance(message, RtdsPrices):
        assert all(price.value.is_finite() and price.value > 0 for price in message.prices)
    else:
        assert message in {"malformed", "bad_value", "unknown_topic", "unknown_type"}


def test_symbols() -> None:
    assert rtds_symbol("BTC") == "btc/usd"
    assert asset_of_rtds_symbol("ETH/USD") == "eth"
    assert asset_of_rtds_symbol("btcusdt") is None
    assert asset_of_rtds_symbol("/usd") is None
    with pytest.raises(ValueError, match="not an asset name"):
        rtds_symbol("btc/usd")
