"""The window probability model against a Monte-Carlo simulation of the settlement TWAP, and its
shape: symmetry at the strike, monotonicity, saturation, continuity at the averaging start."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.strategies.fair_value_model import (
    AVERAGING_SECONDS,
    chainlink_equivalent_price,
    normal_cdf,
    probability_up,
    probability_up_before_averaging,
    probability_up_while_averaging,
)

SIGMA = 8.9e-5  # BTC at about 50 % a year, per √second
STRIKE = 100_000.0


def _simulated_probability_up(
    *,
    price: float,
    strike: float,
    sigma: float,
    seconds_to_end: float,
    observed_mean: float | None = None,
    paths: int = 20_000,
    samples: int = 12,
    seed: int = 7,
) -> float:
    """Share of simulated paths whose settlement TWAP ends at or above the strike.

    The log price is a driftless Brownian motion; the TWAP is the average of the *price* (not its
    log) over the averaging window, sampled at the midpoints of ``samples`` equal slices (the
    midpoint rule keeps the discrete average's variance within 0.1 % of the continuous one).
    Before the averaging window the path jumps straight to its start (one Gaussian step).
    """
    rng = random.Random(seed)
    gauss = rng.gauss
    wait: float  # seconds until the averaging starts
    averaged: float  # seconds of the average still to simulate
    known_seconds: float  # seconds of the average already observed, at known_mean
    if seconds_to_end >= AVERAGING_SECONDS:
        wait, averaged, known_seconds, known_mean = (
            seconds_to_end - AVERAGING_SECONDS,
            AVERAGING_SECONDS,
            0.0,
            0.0,
        )
    else:
        assert observed_mean is not None
        wait, averaged = 0.0, seconds_to_end
        known_seconds, known_mean = AVERAGING_SECONDS - seconds_to_end, observed_mean
    slice_s = averaged / samples
    first_sd = sigma * math.sqrt(wait + slice_s / 2)
    step_sd = sigma * math.sqrt(slice_s)
    start = math.log(price)
    up = 0
    for _ in range(paths):
        log_price = start + first_sd * gauss(0.0, 1.0)
        total = math.exp(log_price)
        for _ in range(samples - 1):
            log_price += step_sd * gauss(0.0, 1.0)
            total += math.exp(log_price)
        settlement = (known_seconds * known_mean + averaged * total / samples) / AVERAGING_SECONDS
        up += settlement >= strike
    return up / paths


# --- against the simulation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds_to_end", "log_moneyness"),
    [
        (300.0, 0.0007),  # five minutes left, a little above the strike: about 0.69
        (300.0, -0.0015),  # well below: about 0.15
        (890.0, 0.002),  # the window just opened
        (75.0, -0.0002),  # just before the averaging starts
    ],
)
def test_before_the_averaging_window_matches_a_simulated_twap(
    seconds_to_end: float, log_moneyness: float
) -> None:
    price = STRIKE * math.exp(log_moneyness)
    model = probability_up(price=price, strike=STRIKE, volatility=SIGMA, seconds_to_end=seconds_to_end)
    simulated = _simulated_probability_up(
        price=price, strike=STRIKE, sigma=SIGMA, seconds_to_end=seconds_to_end
    )
    assert 0.05 < model < 0.95  # a point where the comparison says something
    assert model == pytest.approx(simulated, abs=0.01)


@pytest.mark.parametrize(
    ("seconds_to_end", "observed_ratio", "price_ratio"),
    [
        (30.0, 1.0002, 0.9999),  # half observed above the strike, spot just below: about 0.64
        (45.0, 0.9999, 1.0003),  # a quarter observed below, spot above
        (10.0, 1.00003, 0.9999),  # ten seconds left: the past dominates
    ],
)
def test_inside_the_averaging_window_matches_a_simulated_twap(
    seconds_to_end: float, observed_ratio: float, price_ratio: float
) -> None:
    price, observed = STRIKE * price_ratio, STRIKE * observed_ratio
    model = probability_up(
        price=price, strike=STRIKE, volatility=SIGMA, seconds_to_end=seconds_to_end, observed_mean=observed
    )
    simulated = _simulated_probability_up(
        price=price, strike=STRIKE, sigma=SIGMA, seconds_to_end=seconds_to_end, observed_mean=observed
    )
    assert 0.05 < model < 0.95
    assert model == pytest.approx(simulated, abs=0.01)


def test_the_spot_price_alone_would_overprice_a_late_reversal() -> None:
    # 20 s left, spot 3 bp below the strike but the 40 s observed 2 bp above: the average is
    # still above the strike and Up is the better bet, while a spot-only model (spot vs strike
    # over 20 s) would call it Down.
    twap = probability_up(
        price=STRIKE * 0.9997,
        strike=STRIKE,
        volatility=SIGMA,
        seconds_to_end=20,
        observed_mean=STRIKE * 1.0002,
    )
    spot_only = normal_cdf(math.log(0.9997) / (SIGMA * math.sqrt(20)))
    assert twap > 0.65
    assert spot_only < 0.25


# --- shape -------------------------------------------------------------------------------------


@given(
    seconds=st.floats(min_value=AVERAGING_SECONDS, max_value=900),
    sigma=st.floats(min_value=1e-6, max_value=1e-3),
)
@settings(max_examples=50)
def test_at_the_strike_before_averaging_up_and_down_are_even(seconds: float, sigma: float) -> None:
    assert probability_up(
        price=STRIKE, strike=STRIKE, volatility=sigma, seconds_to_end=seconds
    ) == pytest.approx(0.5, abs=1e-12)


@given(
    low=st.floats(min_value=90_000, max_value=110_000),
    step=st.floats(min_value=0.01, max_value=1_000),
    seconds=st.floats(min_value=0.5, max_value=900),
    observed=st.floats(min_value=99_000, max_value=101_000),
)
@settings(max_examples=80)
def test_a_higher_price_never_lowers_the_probability_of_up(
    low: float, step: float, seconds: float, observed: float
) -> None:
    def p(price: float) -> float:
        return probability_up(
            price=price, strike=STRIKE, volatility=SIGMA, seconds_to_end=seconds, observed_mean=observed
        )

    lower, higher = p(low), p(low + step)
    assert 0.0 <= lower <= higher <= 1.0


def test_more_time_left_pulls_the_probability_towards_even() -> None:
    price = STRIKE * 1.001
    by_time = [
        probability_up(price=price, strike=STRIKE, volatility=SIGMA, seconds_to_end=s)
        for s in (60, 120, 300, 900)
    ]
    assert by_time == sorted(by_time, reverse=True)
    assert by_time[0] > 0.9
    assert by_time[-1] < 0.75


def test_before_averaging_uses_the_twap_variance() -> None:
    # v = σ²(τ + 20): with 300 s left, τ = 240 and the standard deviation is σ·√260.
    price = STRIKE * 1.001
    expected = normal_cdf(math.log(1.001) / (SIGMA * math.sqrt(260)))
    assert probability_up_before_averaging(price, STRIKE, SIGMA, 300) == pytest.approx(expected, rel=1e-12)


def test_the_two_regimes_meet_at_the_start_of_the_averaging() -> None:
    price = STRIKE * 1.0004
    before = probability_up(price=price, strike=STRIKE, volatility=SIGMA, seconds_to_end=60)
    just_inside = probability_up(
        price=price, strike=STRIKE, volatility=SIGMA, seconds_to_end=59.999, observed_mean=price
    )
    assert before == pytest.approx(just_inside, abs=1e-3)


@pytest.mark.parametrize(
    ("observed", "expected"),
    [(STRIKE, 1.0), (STRIKE + 0.01, 1.0), (STRIKE - 0.01, 0.0)],
)
def test_with_no_time_left_the_observed_average_decides_and_ties_go_up(
    observed: float, expected: float
) -> None:
    assert (
        probability_up(
            price=STRIKE - 500, strike=STRIKE, volatility=SIGMA, seconds_to_end=0, observed_mean=observed
        )
        == expected
    )
    assert probability_up_while_averaging(STRIKE - 500, STRIKE, SIGMA, 0, observed) == expected


def test_zero_volatility_saturates_with_ties_up() -> None:
    assert probability_up(price=STRIKE, strike=STRIKE, volatility=0.0, seconds_to_end=300) == 1.0
    assert probability_up(price=STRIKE - 1, strike=STRIKE, volatility=0.0, seconds_to_end=300) == 0.0
    assert (
        probability_up(
            price=STRIKE - 1, strike=STRIKE, volatility=0.0, seconds_to_end=30, observed_mean=STRIKE + 1
        )
        == 1.0
    )


def test_near_the_end_the_probability_saturates_smoothly() -> None:
    # One second left, mean a hair above the strike: nearly certain, not exactly.
    p = probability_up(
        price=STRIKE * 0.9999,
        strike=STRIKE,
        volatility=SIGMA,
        seconds_to_end=1,
        observed_mean=STRIKE * 1.0001,
    )
    assert 0.999 < p <= 1.0


def test_normal_cdf_is_accurate_in_the_tails() -> None:
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, rel=1e-12)
    assert normal_cdf(-10.0) == pytest.approx(7.619853024160527e-24, rel=1e-9)  # erf would give 0
    assert normal_cdf(math.inf) == 1.0
    assert normal_cdf(-math.inf) == 0.0


# --- the price fed to the model, and bad input ------------------------------------------------


def test_the_chainlink_equivalent_price_applies_the_basis_exactly() -> None:
    assert chainlink_equivalent_price(Decimal("100000"), Decimal("-0.0005")) == Decimal("99950.0000")
    assert chainlink_equivalent_price(Decimal("2500.5"), Decimal(0)) == Decimal("2500.5")


@pytest.mark.parametrize(
    ("price", "basis"),
    [
        (Decimal(0), Decimal(0)),
        (Decimal(-1), Decimal(0)),
        (Decimal("NaN"), Decimal(0)),
        (Decimal(1), Decimal(-1)),
    ],
)
def test_the_chainlink_equivalent_price_refuses_bad_input(price: Decimal, basis: Decimal) -> None:
    with pytest.raises(ValueError, match=r"binance price|basis"):
        chainlink_equivalent_price(price, basis)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"price": 0.0}, "price"),
        ({"strike": -1.0}, "strike"),
        ({"volatility": -1e-5}, "volatility"),
        ({"volatility": math.nan}, "volatility"),
        ({"seconds_to_end": math.inf}, "seconds_to_end"),
        ({"seconds_to_end": 30.0}, "mean observed"),
        ({"seconds_to_end": 30.0, "observed_mean": 0.0}, "observed_mean"),
    ],
)
def test_bad_model_input_is_a_named_error(kwargs: dict[str, float], named: str) -> None:
    arguments: dict[str, float] = {
        "price": STRIKE,
        "strike": STRIKE,
        "volatility": SIGMA,
        "seconds_to_end": 300.0,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=named):
        probability_up(**arguments)


def test_each_regime_refuses_the_other_ones_times() -> None:
    with pytest.raises(ValueError, match="inside the averaging window"):
        probability_up_before_averaging(STRIKE, STRIKE, SIGMA, 30)
    with pytest.raises(ValueError, match="seconds_to_end"):
        probability_up_while_averaging(STRIKE, STRIKE, SIGMA, 61, STRIKE)
