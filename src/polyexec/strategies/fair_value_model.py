"""The probability that a 15-minute Up/Down window ends Up: the maths of ``docs/fair-value.md``.

A window ``[T0, T1]`` settles on the Chainlink 60-second TWAP at ``T1`` (the average price over
``[T1 − 60, T1]``) against the strike ``K`` (the same TWAP at ``T0``); ties go to Up. The log price
is modelled as a driftless Brownian motion with volatility ``σ`` per √second, and the current
price ``P`` is the Chainlink-equivalent price: the Binance price (it leads) corrected by the
Binance–Chainlink basis (:func:`chainlink_equivalent_price`).

**Before the averaging window** (60 s or more left): the average of a Brownian path over an
interval of length ``L = 60`` starting ``τ = T1 − 60 − t`` seconds from now has variance
``σ²(τ + L/3)``, so::

    v    = σ² · (T1 − 60 − t + 20)
    p_up = Φ( ln(P / K) / √v )

**Inside the averaging window** (less than 60 s left): ``a = 60 − r`` seconds of the average are
already known, at mean ``A``, and ``r = T1 − t`` seconds are to go::

    mean = (a·A + r·P) / 60
    sd   = (r / 60) · P · σ · √(r / 3)
    p_up = Φ( (mean − K) / sd )

**Saturation.** When the spread of the outcome is zero (``σ = 0``, or no time left) the answer is
certain: 1 if the expected settlement is at or above the strike (ties go to Up), else 0.

Everything here is a pure function. Probabilities, prices fed to the model and the volatility are
floats (model inputs, not money); :func:`chainlink_equivalent_price` stays in Decimal because its
result is a price. Bad input (a non-positive price, a negative volatility, NaN) is a
``ValueError`` naming the value.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Final

__all__ = [
    "AVERAGING_SECONDS",
    "chainlink_equivalent_price",
    "normal_cdf",
    "probability_up",
    "probability_up_before_averaging",
    "probability_up_while_averaging",
]

AVERAGING_SECONDS: Final = 60
"""Length of the TWAP that sets the strike and settles the window, in seconds."""

_SQRT2: Final = math.sqrt(2.0)


def normal_cdf(x: float) -> float:
    """Φ(x), the standard normal distribution function.

    Computed as ``erfc(−x/√2)/2`` (``math``'s complementary error function): the same value as
    ``(1 + erf(x/√2))/2`` but without the cancellation that turns small lower-tail
    probabilities into zero. ``Φ(±inf)`` is 1 or 0; NaN is a ``ValueError``.
    """
    if math.isnan(x):
        raise ValueError("normal_cdf of NaN")
    return 0.5 * math.erfc(-x / _SQRT2)


def chainlink_equivalent_price(binance_price: Decimal, basis: Decimal) -> Decimal:
    """The Binance price (USDT) expressed as the Chainlink USD price: ``binance × (1 + basis)``.

    ``basis`` is ``chainlink / binance − 1`` as tracked by the engine (a few basis points,
    drifting). ``ValueError`` for a non-positive or non-finite price, or a basis at or below −1.
    """
    if not (isinstance(binance_price, Decimal) and binance_price.is_finite() and binance_price > 0):
        raise ValueError(f"binance price must be a positive Decimal, got {binance_price!r}")
    if not (isinstance(basis, Decimal) and basis.is_finite() and basis > -1):
        raise ValueError(f"basis must be a finite Decimal above -1, got {basis!r}")
    return binance_price * (1 + basis)


def probability_up(
    *,
    price: float,
    strike: float,
    volatility: float,
    seconds_to_end: float,
    observed_mean: float | None = None,
) -> float:
    """The probability that the window settles Up (``TWAP(T1) ≥ strike``).

    ``price`` is the current Chainlink-equivalent price ``P``, ``strike`` the price to beat ``K``,
    ``volatility`` σ of the log price per √second, ``seconds_to_end`` ``T1 − t``.
    ``observed_mean`` is the mean of the settlement prices already inside the average: required
    once fewer than 60 seconds are left (``ValueError`` without it), ignored before.

    With no time left the settlement is known: ``observed_mean`` (or ``price`` if none was given)
    against the strike, ties Up.
    """
    _check_positive("price", price)
    _check_positive("strike", strike)
    _check_volatility(volatility)
    if math.isnan(seconds_to_end) or math.isinf(seconds_to_end):
        raise ValueError(f"seconds_to_end must be finite, got {seconds_to_end}")
    if seconds_to_end >= AVERAGING_SECONDS:
        return probability_up_before_averaging(price, strike, volatility, seconds_to_end)
    if seconds_to_end <= 0:
        settled = price if observed_mean is None else observed_mean
        _check_positive("observed_mean", settled)
        return 1.0 if settled >= strike else 0.0
    if observed_mean is None:
        raise ValueError(
            f"{seconds_to_end}s left: inside the {AVERAGING_SECONDS}s averaging window the mean "
            "observed so far is required"
        )
    return probability_up_while_averaging(price, strike, volatility, seconds_to_end, observed_mean)


def probability_up_before_averaging(
    price: float, strike: float, volatility: float, seconds_to_end: float
) -> float:
    """``Φ(ln(P/K)/√v)`` with ``v = σ²·(seconds_to_end − 60 + 20)``: the averaging window has not
    started (``seconds_to_end ≥ 60``; a smaller value is a ``ValueError``)."""
    _check_positive("price", price)
    _check_positive("strike", strike)
    _check_volatility(volatility)
    if not seconds_to_end >= AVERAGING_SECONDS:
        raise ValueError(
            f"{seconds_to_end}s left is inside the averaging window: use probability_up_while_averaging"
        )
    # σ²·τ for the wait until the averaging starts, plus σ²·L/3 for the averaging itself.
    variance = volatility * volatility * (seconds_to_end - AVERAGING_SECONDS + AVERAGING_SECONDS / 3)
    log_moneyness = math.log(price / strike)
    if variance <= 0.0:
        return _saturated(log_moneyness >= 0.0)
    return normal_cdf(log_moneyness / math.sqrt(variance))


def probability_up_while_averaging(
    price: float, strike: float, volatility: float, seconds_to_end: float, observed_mean: float
) -> float:
    """``Φ((mean − K)/sd)`` inside the averaging window (``0 ≤ seconds_to_end ≤ 60``).

    The ``60 − r`` seconds already elapsed count at ``observed_mean``; the ``r`` seconds to go
    are expected at ``price`` with the spread of the average of a Brownian path over ``r``
    seconds, ``P·σ·√(r³/3)``, scaled by their ``r/60`` share of the average. Time, not the
    number of observations, decides how much of the average is fixed: ``observed_mean`` stands
    for the whole elapsed part.
    """
    _check_positive("price", price)
    _check_positive("strike", strike)
    _check_positive("observed_mean", observed_mean)
    _check_volatility(volatility)
    if not 0 <= seconds_to_end <= AVERAGING_SECONDS:
        raise ValueError(f"seconds_to_end must be within [0, {AVERAGING_SECONDS}] here, got {seconds_to_end}")
    remaining = seconds_to_end
    elapsed = AVERAGING_SECONDS - remaining
    mean = (elapsed * observed_mean + remaining * price) / AVERAGING_SECONDS
    sd = (remaining / AVERAGING_SECONDS) * price * volatility * math.sqrt(remaining / 3)
    if sd <= 0.0:
        return _saturated(mean >= strike)
    return normal_cdf((mean - strike) / sd)


def _saturated(up: bool) -> float:
    """The probability of a known outcome (ties were already counted as Up by the caller)."""
    return 1.0 if up else 0.0


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _check_volatility(volatility: float) -> None:
    if not (math.isfinite(volatility) and volatility >= 0):
        raise ValueError(f"volatility must be a finite number >= 0 (per √second), got {volatility!r}")
