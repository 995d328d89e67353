"""ReferencePrices: the RTDS TWAP while it is fresh, the Binance TWAP when it is not (and saying
so), back to RTDS when it recovers; the Binance TWAP checked against a naive integral."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from fractions import Fraction

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import BinanceBookTicker, BinanceTrade, PriceSource, ReferencePrice
from polyexec.sim.app import RunningSimulator
from polyexec.venues.binance_feed import BinanceFeed
from polyexec.venues.reference_prices import ReferencePrices
from polyexec.venues.rtds_feed import RtdsFeed
from polyexec.venues.ws_connection import ReconnectPolicy
from tests.venues.conftest import eventually, sim_admin

T0 = 1_760_000_000_000


def trade(time_ms: int, price: str | Decimal, trade_id: int, symbol: str = "btcusdt") -> BinanceTrade:
    return BinanceTrade(symbol, trade_id, Decimal(price), Decimal("0.1"), time_ms, time_ms + 1, False)


def twap(time_ms: int, value: str, asset: str = "btc") -> ReferencePrice:
    return ReferencePrice(asset, PriceSource.CHAINLINK_TWAP_60, Decimal(value), time_ms)


def spot(time_ms: int, value: str, asset: str = "btc") -> ReferencePrice:
    return ReferencePrice(asset, PriceSource.CHAINLINK_SPOT, Decimal(value), time_ms)


def steady_trades(
    prices: ReferencePrices, start_ms: int, end_ms: int, price: str, step_ms: int = 500
) -> None:
    for index, time_ms in enumerate(range(start_ms, end_ms + 1, step_ms)):
        prices.apply(trade(time_ms, price, start_ms + index))


def test_fresh_rtds_twap_is_the_answer() -> None:
    prices = ReferencePrices(["btc"])
    steady_trades(prices, T0, T0 + 60_000, "100")
    prices.apply(twap(T0 + 59_000, "100.05"))
    assert prices.current("btc", T0 + 60_000) == twap(T0 + 59_000, "100.05")
    assert prices.source("btc", T0 + 60_000) is PriceSource.CHAINLINK_TWAP_60


def test_stale_rtds_falls_back_to_binance_and_recovers() -> None:
    prices = ReferencePrices(["btc"], rtds_stale_after_ms=5_000)
    prices.apply(twap(T0 + 60_000, "100.05"))
    steady_trades(prices, T0, T0 + 70_000, "100")
    assert prices.source("btc", T0 + 65_000) is PriceSource.CHAINLINK_TWAP_60
    fallback = prices.current("btc", T0 + 65_001)
    assert fallback == ReferencePrice("btc", PriceSource.BINANCE_TWAP_60, Decimal(100), T0 + 65_001)
    prices.apply(twap(T0 + 69_000, "100.07"))
    assert prices.current("btc", T0 + 70_000) == twap(T0 + 69_000, "100.07")
    assert prices.status(T0 + 70_000)["assets"]["btc"]["source_changes"] == 2  # type: ignore[index]


def test_no_answer_without_fresh_rtds_or_enough_binance_history() -> None:
    prices = ReferencePrices(["btc"])
    assert prices.current("btc", T0) is None
    steady_trades(prices, T0, T0 + 30_000, "100")
    assert prices.source("btc", T0 + 30_000) is None  # half a window of trades is not a 60 s TWAP
    relaxed = ReferencePrices(["btc"], min_coverage_ms=30_000)
    steady_trades(relaxed, T0, T0 + 30_000, "100")
    assert relaxed.source("btc", T0 + 30_000) is PriceSource.BINANCE_TWAP_60
    assert relaxed.source("btc", T0 + 30_000 + 10_001) is None  # the last trade is too old


def test_binance_twap_weights_each_price_by_how_long_it_stood() -> None:
    prices = ReferencePrices(["btc"])
    prices.apply(trade(T0, "100", 1))
    prices.apply(trade(T0 + 45_000, "200", 2))  # 100 for 45 s, then 200 for 15 s
    prices.apply(trade(T0 + 60_000, "999", 3))  # stands for 0 s at now
    assert prices.binance_twap("btc", T0 + 60_000) == Decimal(125)
    # 10 s later: 100 for 35 s, 200 for 15 s, 999 for 10 s.
    assert prices.binance_twap("btc", T0 + 70_000) == (Decimal(100 * 35 + 200 * 15 + 999 * 10) / 60).quantize(
        Decimal("1E-12")
    )


def test_out_of_order_trades_and_old_twaps_are_ignored() -> None:
    prices = ReferencePrices(["btc"])
    prices.apply(trade(T0 + 1_000, "100", 10))
    prices.apply(trade(T0 + 500, "50", 11))  # older time
    prices.apply(trade(T0 + 2_000, "50", 9))  # older id
    assert prices.trades_out_of_order == 2
    binance_last = prices.binance_last("btc")
    assert binance_last is not None
    assert binance_last.trade_id == 10
    prices.apply(twap(T0 + 5_000, "1"))
    prices.apply(twap(T0 + 4_000, "2"))
    assert prices.chainlink_twap("btc") == twap(T0 + 5_000, "1")


def test_memory_is_bounded_to_the_history() -> None:
    prices = ReferencePrices(["btc"], history_ms=90_000)
    steady_trades(prices, T0, T0 + 1_200_000, "100", step_ms=50)  # 20 minutes, 20 trades a second
    kept = prices.status()["assets"]["btc"]["trades_kept"]  # type: ignore[index]
    assert 90_000 // 50 <= kept <= 90_000 // 50 + 2
    assert prices.binance_twap("btc", T0 + 1_200_000) == Decimal(100)


def test_basis_is_a_smoothed_chainlink_over_binance_ratio() -> None:
    prices = ReferencePrices(["btc"], basis_alpha=Decimal("0.5"))
    steady_trades(prices, T0, T0 + 60_000, "100")
    prices.apply(spot(T0 + 10_000, "100.06"))
    assert prices.basis("btc") == Decimal("0.0006")
    prices.apply(spot(T0 + 11_000, "100.02"))
    assert prices.basis("btc") == Decimal("0.0004")  # halfway from 6 to 2 bps
    prices.apply(spot(T0 + 10_500, "200"))  # older than the last spot: ignored
    assert prices.basis("btc") == Decimal("0.0004")
    spot_price = prices.chainlink_spot("btc")
    assert spot_price is not None
    assert spot_price.value == Decimal("100.02")


@pytest.mark.parametrize(("correct_basis", "expected"), [(False, "100"), (True, "100.05")])
def test_basis_correction_of_the_stand_in_is_opt_in(correct_basis: bool, expected: str) -> None:
    prices = ReferencePrices(["btc"], correct_basis=correct_basis)
    steady_trades(prices, T0, T0 + 60_000, "100")
    prices.apply(spot(T0 + 30_000, "100.05"))
    price = prices.current("btc", T0 + 60_000)
    assert price is not None
    assert price.source is PriceSource.BINANCE_TWAP_60
    assert price.value == Decimal(expected)


def test_other_events_assets_and_sources_are_ignored() -> None:
    prices = ReferencePrices(["btc"])
    prices.apply(trade(T0, "1", 1, symbol="ethusdt"))
    prices.apply(twap(T0, "1", asset="eth"))
    prices.apply(ReferencePrice("btc", PriceSource.BINANCE_TWAP_60, Decimal(1), T0))
    prices.apply(BinanceBookTicker("btcusdt", 1, Decimal(1), Decimal(1), Decimal(2), Decimal(1), T0))
    assert prices.ignored == 3
    assert prices.binance_last("btc") is None
    with pytest.raises(KeyError, match="'eth' is not tracked"):
        prices.current("eth", T0)


def test_status_is_plain_json() -> None:
    prices = ReferencePrices(["btc", "eth"])
    steady_trades(prices, T0, T0 + 60_000, "100")
    prices.apply(twap(T0 + 59_000, "100.1"))
    status = prices.status()
    assert status["now_ms"] == T0 + 60_000
    assert status["assets"]["btc"]["source"] == "chainlink_twap_60"  # type: ignore[index]
    assert status["assets"]["eth"]["source"] is None  # type: ignore[index]
    orjson.dumps(status)


@pytest.mark.parametrize(
    "options",
    [
        {"window_ms": 0},
        {"min_coverage_ms": 0},
        {"min_coverage_ms": 70_000},
        {"history_ms": 65_000},
        {"rtds_stale_after_ms": 0},
        {"basis_alpha": Decimal("NaN")},
        {"basis_alpha": Decimal(2)},
    ],
)
def test_bad_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ReferencePrices(["btc"], **options)  # type: ignore[arg-type]


def test_no_assets_is_refused() -> None:
    with pytest.raises(ValueError, match="asset names"):
        ReferencePrices([])


# --- the TWAP maths against a naive reference ----------------------------------------------------

WINDOW = 60_000
STALE = 10_000


def naive_twap(trades: list[tuple[int, Decimal]], now: int, min_coverage: int) -> Decimal | None:
    """Walk the step function segment by segment, in exact fractions."""
    if not trades or now - trades[-1][0] > STALE:
        return None
    low = max(now - WINDOW, trades[0][0])
    span = now - low
    if span <= 0 or (low > now - WINDOW and span < min_coverage):
        return None
    area = Fraction(0)
    for index, (time_ms, price) in enumerate(trades):
        end = trades[index + 1][0] if index + 1 < len(trades) else now
        seg_start, seg_end = max(time_ms, low), min(end, now)
        if seg_end > seg_start:
            area += Fraction(price) * (seg_end - seg_start)
    return Decimal(round(area / span * 10**12)) / Decimal(10**12)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=20_000),
            st.decimals(min_value=Decimal(1), max_value=Decimal(100_000), places=8),
        ),
        min_size=1,
        max_size=40,
    ),
    offset=st.integers(min_value=-5_000, max_value=STALE + 2_000),
    min_coverage=st.integers(min_value=1, max_value=WINDOW),
)
def test_binance_twap_matches_the_naive_integral(
    steps: list[tuple[int, Decimal]], offset: int, min_coverage: int
) -> None:
    prices = ReferencePrices(
        ["btc"], window_ms=WINDOW, min_coverage_ms=min_coverage, binance_stale_after_ms=STALE
    )
    trades: list[tuple[int, Decimal]] = []
    time_ms = T0
    for trade_id, (gap, price) in enumerate(steps):
        time_ms += gap
        trades.append((time_ms, price))
        prices.apply(trade(time_ms, price, trade_id))
    now = time_ms + offset
    assert prices.binance_twap("btc", now) == naive_twap(trades, now, min_coverage)


# --- against the simulator: both feeds into one tracker ------------------------------------------


async def test_falls_back_to_binance_while_rtds_is_stopped_and_returns(sim: RunningSimulator) -> None:
    tracker = ReferencePrices(["btc"], rtds_stale_after_ms=2_500, min_coverage_ms=500)
    policy = ReconnectPolicy(min_interval_s=0.01, base_delay_s=0.01, max_delay_s=0.1, jitter=0.0)
    binance = BinanceFeed(sim.binance_ws_url, ["btc"], tracker.apply, policy=policy)
    rtds = RtdsFeed(sim.rtds_ws_url, ["btc"], tracker.apply, policy=policy, stale_after_s=1.5)
    clock = sim.simulator.clock
    tasks = [asyncio.create_task(binance.run()), asyncio.create_task(rtds.run())]
    try:
        await eventually(lambda: tracker.source("btc", clock.now_ms()) is PriceSource.CHAINLINK_TWAP_60)
        await eventually(lambda: tracker.binance_twap("btc", clock.now_ms()) is not None)
        await eventually(lambda: tracker.basis("btc") is not None)  # a spot price met a Binance trade
        settled = tracker.chainlink_twap("btc")
        assert settled is not None

        await sim_admin(sim, "POST", "/faults/ws_freeze", {"channels": ["rtds"]})
        await eventually(
            lambda: tracker.source("btc", clock.now_ms()) is PriceSource.BINANCE_TWAP_60, within=8.0
        )
        stand_in = tracker.current("btc", clock.now_ms())
        assert stand_in is not None
        assert stand_in.source is PriceSource.BINANCE_TWAP_60
        assert abs(stand_in.value / settled.value - 1) < Decimal("0.01")  # USDT vs USD: basis points apart
        basis = tracker.basis("btc")
        assert basis is not None
        assert abs(basis) < Decimal("0.005")

        await sim_admin(sim, "DELETE", "/faults/ws_freeze")
        await eventually(
            lambda: tracker.source("btc", clock.now_ms()) is PriceSource.CHAINLINK_TWAP_60, within=8.0
        )
        status = tracker.status(clock.now_ms())
        assert status["assets"]["btc"]["source_changes"] >= 2  # type: ignore[index]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
