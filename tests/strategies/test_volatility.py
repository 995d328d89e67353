"""RealisedVolatility: recovers a known σ from simulated trades, samples on whole seconds, warms
up, clamps, restarts after an outage, and skips bad input without raising."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.strategies.volatility import RealisedVolatility

START_MS = 1_800_000_000_000
SIGMA = 8.9e-5


def _feed_brownian_path(
    estimator: RealisedVolatility, *, sigma: float, seconds: int, trades_per_second: int = 3, seed: int = 11
) -> int:
    """Trades along a log-Brownian path with ``sigma`` per √second; returns the last trade time."""
    rng = random.Random(seed)
    log_price = math.log(100_000.0)
    step_sd = sigma / math.sqrt(trades_per_second)
    time_ms = START_MS
    for second in range(seconds):
        for k in range(trades_per_second):
            log_price += step_sd * rng.gauss(0.0, 1.0)
            time_ms = START_MS + second * 1_000 + k * (1_000 // trades_per_second)
            estimator.add_trade(Decimal(f"{math.exp(log_price):.2f}"), time_ms)
    return time_ms


def test_recovers_the_volatility_of_a_simulated_path() -> None:
    estimator = RealisedVolatility(half_life_s=300, min_returns=60)
    last_ms = _feed_brownian_path(estimator, sigma=SIGMA, seconds=1_500)
    value = estimator.value(last_ms)
    assert value is not None
    assert value == pytest.approx(SIGMA, rel=0.12)
    assert estimator.returns_seen == 1_498  # 1,499 closed seconds


def test_tracks_a_change_of_regime_within_a_few_half_lives() -> None:
    estimator = RealisedVolatility(half_life_s=60, min_returns=30, ceiling=1e-2)
    rng = random.Random(5)
    log_price = math.log(3_000.0)
    for second in range(1_200):
        sigma = SIGMA if second < 600 else 4 * SIGMA
        log_price += sigma * rng.gauss(0.0, 1.0)
        estimator.add_trade(math.exp(log_price), START_MS + second * 1_000)
        if second == 599:
            calm = estimator.value()
    assert calm is not None
    stormy = estimator.value()
    assert stormy is not None
    assert calm == pytest.approx(SIGMA, rel=0.3)
    assert stormy == pytest.approx(4 * SIGMA, rel=0.3)


def test_answers_nothing_until_warmed_up() -> None:
    estimator = RealisedVolatility(min_returns=10)
    for second in range(11):  # the trade of second 10 closes second 9: ten closes, nine returns
        estimator.add_trade(Decimal(100 + second % 2), START_MS + second * 1_000)
    assert estimator.returns_seen == 9
    assert estimator.value() is None
    assert not estimator.ready
    assert estimator.raw_value is not None
    estimator.add_trade(Decimal(100), START_MS + 11_000)
    assert estimator.returns_seen == 10
    assert estimator.value() is not None


def test_only_the_last_trade_of_each_second_counts() -> None:
    estimator = RealisedVolatility(min_returns=3, floor=0.0)
    for second in range(5):
        base = START_MS + second * 1_000
        estimator.add_trade(Decimal(90), base)  # noise inside the second
        estimator.add_trade(Decimal(110), base + 400)
        estimator.add_trade(Decimal(100), base + 999)  # the close never moves
    estimator.add_trade(Decimal(100), START_MS + 5_000)
    assert estimator.value() == 0.0


def test_each_second_is_one_return_and_quiet_seconds_are_zero_returns() -> None:
    # A single return of r among n one-second returns: the equal-weight limit of the EWMA is r²/n.
    estimator = RealisedVolatility(half_life_s=1e9, min_returns=1, floor=0.0, ceiling=1.0)
    estimator.add_trade(Decimal(100), START_MS)
    estimator.add_trade(Decimal(101), START_MS + 1_000)  # closes second 0 at 100
    estimator.add_trade(Decimal(101), START_MS + 10_000)  # closes second 1 at 101, then 8 quiet ones
    assert estimator.returns_seen == 9
    value = estimator.value()
    assert value is not None
    assert value == pytest.approx(math.log(101 / 100) / math.sqrt(9), rel=1e-5)


def test_the_answer_is_clamped_into_floor_and_ceiling() -> None:
    flat = RealisedVolatility(min_returns=5, floor=3e-5, ceiling=1e-3)
    wild = RealisedVolatility(min_returns=5, floor=3e-5, ceiling=1e-3)
    for second in range(10):
        flat.add_trade(Decimal(100), START_MS + second * 1_000)
        wild.add_trade(Decimal(100 if second % 2 else 120), START_MS + second * 1_000)
    assert flat.value() == 3e-5
    assert wild.value() == 1e-3
    assert wild.raw_value is not None
    assert wild.raw_value > 0.1


def test_an_outage_restarts_the_estimate() -> None:
    estimator = RealisedVolatility(min_returns=5, max_gap_s=30)
    last_ms = _feed_brownian_path(estimator, sigma=SIGMA, seconds=20)
    assert estimator.value(last_ms) is not None
    estimator.add_trade(Decimal(150_000), last_ms + 31_000)  # a big jump after 31 s of silence
    assert estimator.returns_seen == 0
    assert estimator.value() is None


def test_a_silent_feed_makes_the_answer_stale() -> None:
    estimator = RealisedVolatility(min_returns=5, max_gap_s=30)
    last_ms = _feed_brownian_path(estimator, sigma=SIGMA, seconds=20)
    assert estimator.value(last_ms + 30_000) is not None
    assert estimator.value(last_ms + 30_001) is None


def test_bad_prices_and_late_trades_are_counted_and_skipped() -> None:
    estimator = RealisedVolatility(min_returns=1, floor=0.0)
    estimator.add_trade(Decimal(100), START_MS)
    estimator.add_trade(Decimal(100), START_MS + 2_000)
    assert not estimator.add_trade(Decimal(0), START_MS + 2_100)
    assert not estimator.add_trade(Decimal(-5), START_MS + 2_200)
    assert not estimator.add_trade(Decimal("NaN"), START_MS + 2_300)
    assert not estimator.add_trade(math.inf, START_MS + 2_400)
    assert not estimator.add_trade(Decimal(200), START_MS + 1_500)  # second 1 is already closed
    assert estimator.rejected == 5
    estimator.add_trade(Decimal(100), START_MS + 3_000)
    assert estimator.value() == 0.0  # none of them moved the estimate


def test_reset_starts_the_warm_up_again() -> None:
    estimator = RealisedVolatility(min_returns=5)
    last_ms = _feed_brownian_path(estimator, sigma=SIGMA, seconds=20)
    estimator.reset()
    assert estimator.value(last_ms) is None
    assert estimator.raw_value is None
    assert estimator.returns_seen == 0


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"half_life_s": 0.0}, "half_life_s"),
        ({"min_returns": 0}, "min_returns"),
        ({"floor": 2e-3, "ceiling": 1e-3}, "floor"),
        ({"ceiling": 0.0, "floor": 0.0}, "ceiling"),
        ({"max_gap_s": 0}, "max_gap_s"),
    ],
)
def test_inconsistent_settings_are_named_errors(kwargs: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        RealisedVolatility(**kwargs)  # type: ignore[arg-type]


@given(
    trades=st.lists(
        st.tuples(
            st.one_of(
                st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10**6), places=4),
                st.sampled_from([Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity")]),
            ),
            st.integers(min_value=-5_000, max_value=120_000),
        ),
        max_size=60,
    )
)
@settings(max_examples=60)
def test_any_trade_sequence_gives_none_or_a_bounded_answer(trades: list[tuple[Decimal, int]]) -> None:
    estimator = RealisedVolatility(min_returns=3, floor=1e-5, ceiling=1e-3)
    for price, offset_ms in trades:
        estimator.add_trade(price, START_MS + offset_ms)
        value = estimator.value()
        assert value is None or 1e-5 <= value <= 1e-3
