"""WindowReference: strike capture at the window start and the settlement average's source."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyexec.core.events import BinanceTrade, PriceSource, ReferencePrice
from polyexec.core.models import Market
from polyexec.engine.window_reference import StrikeCapture, WindowReference, settlement_twap
from polyexec.venues.reference_prices import ReferencePrices

D = Decimal
MARKET = Market("btc", "btc-updown-15m-1800000000", "0x" + "ab" * 32, "1", "2", 1_800_000_000, 1_800_000_900)
START = MARKET.window_start * 1000


def binance_prices(until_ms: int, price: str = "1000") -> ReferencePrices:
    """A tracker whose only price is a Binance TWAP of ``price`` (RTDS silent), basis 0.001."""
    reference = ReferencePrices(["btc"])
    for second in range(61):
        at = until_ms - 60_000 + second * 1_000
        reference.apply(BinanceTrade("btcusdt", second + 1, D(price), D(1), at, at, False))
    reference.apply(ReferencePrice("btc", PriceSource.CHAINLINK_SPOT, D(price) * D("1.001"), until_ms))
    return reference


def test_a_strike_from_the_binance_stand_in_is_corrected_by_the_basis() -> None:
    reference = binance_prices(START)
    window = WindowReference(MARKET, seen_before_start=True)
    assert window.capture_strike(START - 1, reference, max_delay_ms=5_000) is StrikeCapture.WAITING
    assert window.capture_strike(START, reference, max_delay_ms=5_000) is StrikeCapture.CAPTURED
    assert window.strike == D(1000) * D("1.001")
    assert window.strike_source == "binance_twap_60"
    assert window.capture_strike(START + 1, reference, max_delay_ms=5_000) is StrikeCapture.NOT_NEEDED


def test_capture_outcomes() -> None:
    empty = ReferencePrices(["btc"])
    late = WindowReference(MARKET, seen_before_start=True)
    assert late.capture_strike(START, empty, max_delay_ms=5_000) is StrikeCapture.WAITING  # no price yet
    assert late.capture_strike(START + 5_001, empty, max_delay_ms=5_000) is StrikeCapture.MISSED_LATE
    assert not late.awaiting_strike
    assert late.strike is None
    mid = WindowReference(MARKET)  # the first event decides
    assert (
        mid.capture_strike(START + 1, binance_prices(START), max_delay_ms=5_000)
        is StrikeCapture.MISSED_MID_WINDOW
    )
    given = WindowReference(MARKET, strike=D(5))
    assert not given.awaiting_strike
    assert given.strike_source == "gamma"
    with pytest.raises(ValueError, match="positive"):
        WindowReference(MARKET, strike=D("-1"))


def test_settlement_twap_needs_a_tracked_asset_and_a_price() -> None:
    assert settlement_twap(ReferencePrices(["eth"]), "btc", START) is None
    assert settlement_twap(ReferencePrices(["btc"]), "btc", START) is None
