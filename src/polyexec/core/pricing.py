"""Exact pricing maths for CLOB V2 orders: ticks, price and size quantisation, order amounts, fees.

Everything here is pure and exact. Inputs are :class:`~decimal.Decimal` (or ``int``); ``float`` is
refused with a ``TypeError``. The maths runs on integer ratios (``Decimal.as_integer_ratio``), so
no decimal context can change a result: where a value must be rounded, the direction is named
(:class:`Rounding`) and the rounding happens once. The venue's rules are in
docs/polymarket-protocol.md §4.5 (tick table, limit orders), §4.6 (market orders), §6.5 (dynamic
tick) and §6.6 (fees). Prices must be a multiple of the tick within ``[tick, 1 − tick]``; the order
builders here *refuse* an off-grid price instead of rounding it, because rounding a price up or
down is a trading decision, made explicitly with :func:`quantize_price`.

Where this module and ``py-clob-client-v2`` differ
--------------------------------------------------
The SDK does the same maths in binary floating point, and ``math.floor(x * 100)`` sometimes lands
one unit low. Three cases are known and are pinned by the oracle tests in
``tests/core/test_pricing.py``; in all of them this module follows the exact rule:

* **Size (or market BUY dollar amount) shaved by one cent.** ``19.99 * 100`` is
  ``1998.9999999999998`` in floating point, so the SDK signs a 19.99-share order as 19.98 shares
  (about 5.7 % of the sizes from 0.01 to 100.00 are affected). Here 19.99 stays 19.99:
  BUY 19.99 @ 0.50 → maker ``9995000``, taker ``19990000`` (the SDK: ``9990000`` / ``19980000``).
* **Market-order worst price shaved by one tick.** The SDK floors the worst price to the price
  decimals, and in floating point 0.29, 0.57 and 0.58 floor to 0.28, 0.56 and 0.57 on the 0.01
  grid. Here the price is kept: market BUY $10 @ 0.29 → taker ``34482700`` shares (the SDK signs
  ``35714200``, i.e. a limit of 0.28 that may not fill against an ask at 0.29).
* **Very large amounts.** The SDK rounds the dollar leg (the share leg of a market BUY) up at
  ``amount decimals + 4``, i.e. it computes ``x × 10^(amount decimals + 4)`` in floating point.
  Once that exceeds about 2^51 (22.5 M dollars at tick 0.01, 2.25 M at 0.001, 225 k at 0.0001, or
  a $2,250 market BUY at 0.001) the float is off by more than the step and the SDK's leg can land
  one unit of the last amount decimal off: SELL 6125140.52 @ 0.728 (tick 0.001) → the exact
  ``4459102298560``, the SDK ``4459102298550``.

In exact arithmetic the venue's "ceil to amount decimals + 4, then floor" step never changes a
limit-order amount and, for a market BUY, equals flooring ``dollars / price`` to the amount
decimals; ``_venue_round_units`` still implements it literally, to read like the venue's rule.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import lru_cache
from math import gcd
from typing import Final

from polyexec.core.models import USDC_DECIMALS, USDC_UNIT, FeeSchedule, Liquidity, Side

__all__ = [
    "CRYPTO_COARSE_TICK",
    "CRYPTO_FINE_TICK",
    "CRYPTO_FINE_TICK_ABOVE",
    "CRYPTO_FINE_TICK_BELOW",
    "FEE_DECIMALS",
    "TICK_SIZES",
    "OrderAmounts",
    "Rounding",
    "RoundingConfig",
    "clamp_price",
    "fee_for_fill",
    "fee_per_share",
    "from_units",
    "implied_price",
    "is_valid_price",
    "is_valid_size",
    "limit_order_amounts",
    "market_order_amounts",
    "parse_tick_size",
    "quantize_price",
    "quantize_size",
    "rounding_config",
    "rounding_within_limit",
    "taker_fee",
    "tick_for_price",
    "to_units",
]


class Rounding(StrEnum):
    """An explicit rounding direction.

    ``DOWN`` rounds toward −∞ (floor), ``UP`` toward +∞ (ceiling), ``NEAREST`` to the nearest
    step with ties to the even step (like Python's ``round``). The quantities rounded here are
    non-negative in practice, so DOWN means "smaller" and UP means "larger".
    """

    DOWN = "down"
    UP = "up"
    NEAREST = "nearest"


def rounding_within_limit(side: Side) -> Rounding:
    """The price rounding that never goes past a limit: a buyer rounds DOWN (never pays more
    than intended), a seller rounds UP (never sells for less)."""
    return Rounding.DOWN if Side(side) is Side.BUY else Rounding.UP


# --- Tick sizes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoundingConfig:
    """Decimals allowed at one tick size: price, size (shares) and dollar amount (§4.5).

    ``ticks_per_unit`` (how many ticks make one dollar: every venue tick divides 1) and
    ``price_step`` (the tick in units of the last price decimal) are derived.
    """

    tick_size: Decimal
    price_decimals: int
    size_decimals: int
    amount_decimals: int
    ticks_per_unit: int = field(init=False)
    price_step: int = field(init=False)

    def __post_init__(self) -> None:
        numerator, denominator = self.tick_size.as_integer_ratio()
        # The maths below relies on these: the tick is 1/n, and shares × price fits the amount
        # decimals, which fit 6-decimal units.
        if (
            numerator != 1
            or int(10**self.price_decimals) % denominator != 0
            or not (self.price_decimals + self.size_decimals <= self.amount_decimals <= USDC_DECIMALS)
        ):
            raise ValueError(f"inconsistent rounding config for tick {self.tick_size}")
        object.__setattr__(self, "ticks_per_unit", denominator)
        object.__setattr__(self, "price_step", int(10**self.price_decimals) // denominator)

    @property
    def min_price(self) -> Decimal:
        """The lowest valid price: one tick."""
        return _price_from_ticks(1, self)

    @property
    def max_price(self) -> Decimal:
        """The highest valid price: one tick below 1."""
        return _price_from_ticks(self.ticks_per_unit - 1, self)


_ROUNDING_TABLE: Final[dict[Decimal, RoundingConfig]] = {
    config.tick_size: config
    for config in (
        RoundingConfig(Decimal("0.1"), price_decimals=1, size_decimals=2, amount_decimals=3),
        RoundingConfig(Decimal("0.01"), price_decimals=2, size_decimals=2, amount_decimals=4),
        RoundingConfig(Decimal("0.005"), price_decimals=3, size_decimals=2, amount_decimals=5),
        RoundingConfig(Decimal("0.0025"), price_decimals=4, size_decimals=2, amount_decimals=6),
        RoundingConfig(Decimal("0.001"), price_decimals=3, size_decimals=2, amount_decimals=5),
        RoundingConfig(Decimal("0.0001"), price_decimals=4, size_decimals=2, amount_decimals=6),
    )
}

TICK_SIZES: Final[tuple[Decimal, ...]] = tuple(_ROUNDING_TABLE)
"""Every tick size the venue uses, coarsest first."""


def rounding_config(tick_size: Decimal) -> RoundingConfig:
    """The rounding rules for ``tick_size``.

    Raises ``ValueError`` naming the value for a tick size the venue does not use (and
    ``TypeError`` for a non-Decimal, e.g. a float).
    """
    if not isinstance(tick_size, Decimal):
        raise TypeError(f"tick size must be a Decimal, got {type(tick_size).__name__} {tick_size!r}")
    if tick_size.is_finite():
        config = _ROUNDING_TABLE.get(tick_size)
        if config is not None:
            return config
    known = ", ".join(str(tick) for tick in TICK_SIZES)
    raise ValueError(f"unknown tick size {tick_size}: the venue uses {known}")


def parse_tick_size(raw: str | Decimal) -> Decimal:
    """Parse a tick size as the venue sends it (``"0.01"``, ``"0.010"``, ``Decimal("1E-3")``)
    into the canonical value of :data:`TICK_SIZES`. ``ValueError`` for anything else."""
    if isinstance(raw, str):
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            raise ValueError(f"tick size {raw!r} is not a number") from None
    else:
        value = raw
    return rounding_config(value).tick_size


CRYPTO_COARSE_TICK: Final = Decimal("0.01")
CRYPTO_FINE_TICK: Final = Decimal("0.001")
CRYPTO_FINE_TICK_ABOVE: Final = Decimal("0.96")
CRYPTO_FINE_TICK_BELOW: Final = Decimal("0.04")


def tick_for_price(price: Decimal) -> Decimal:
    """The tick size a 15-minute crypto market uses around ``price`` (§6.5).

    The venue's crypto behaviour: 0.01 in mid range, 0.001 once the book trades above 0.96 or
    below 0.04 (0.96 and 0.04 themselves are mid range). This is a prediction for planning only;
    the live value comes from the market's ``tick_size_change`` events and always wins.
    """
    _ratio("price", price)  # type and finiteness check; Decimal comparisons are exact
    if price > CRYPTO_FINE_TICK_ABOVE or price < CRYPTO_FINE_TICK_BELOW:
        return CRYPTO_FINE_TICK
    return CRYPTO_COARSE_TICK


# --- Prices and sizes ------------------------------------------------------------------------------


def is_valid_price(price: Decimal, tick_size: Decimal) -> bool:
    """Whether the venue accepts ``price`` at ``tick_size``: a multiple of the tick within
    ``[tick, 1 − tick]``. Non-finite prices are invalid; an unknown tick is a ``ValueError``."""
    config = rounding_config(tick_size)
    if isinstance(price, Decimal) and not price.is_finite():
        return False
    return _price_ticks_if_valid(price, config) is not None


def quantize_price(price: Decimal, tick_size: Decimal, rounding: Rounding, *, clamp: bool = False) -> Decimal:
    """Round ``price`` to a multiple of the tick in the named direction.

    Use :func:`rounding_within_limit` for an order that must stay at or inside its limit (a
    buyer rounds down, a seller up). The result carries exactly the tick's price decimals
    (``0.52`` at tick 0.01, ``0.520`` at tick 0.001). It is *not* clamped into the valid range
    unless ``clamp=True``: a buyer's 0.004 rounded down at tick 0.01 is 0.00, which
    :func:`is_valid_price` rejects, and that is usually the right answer (do not place the
    order) rather than quietly paying more than intended.
    """
    config = rounding_config(tick_size)
    numerator, denominator = _ratio("price", price)
    ticks = _div_round(numerator * config.ticks_per_unit, denominator, rounding)
    if clamp:
        ticks = min(max(ticks, 1), config.ticks_per_unit - 1)
    return _price_from_ticks(ticks, config)


def clamp_price(price: Decimal, tick_size: Decimal) -> Decimal:
    """Clamp ``price`` into ``[tick, 1 − tick]``. A price already inside is returned unchanged
    (on the grid or not: quantise it first if it must be on the grid)."""
    config = rounding_config(tick_size)
    _ratio("price", price)
    if price < config.min_price:
        return config.min_price
    if price > config.max_price:
        return config.max_price
    return price


def quantize_size(size: Decimal | int, tick_size: Decimal, rounding: Rounding = Rounding.DOWN) -> Decimal:
    """Round a share count to the size decimals (2). The venue floors, hence the default.

    ``ValueError`` for a negative size. The result may be zero.
    """
    config = rounding_config(tick_size)
    numerator, denominator = _ratio("size", size)
    if numerator < 0:
        raise ValueError(f"size must not be negative, got {size}")
    places = config.size_decimals
    return _scaled_decimal(_div_round(numerator * _pow10(places), denominator, rounding), places)


def is_valid_size(size: Decimal | int, tick_size: Decimal) -> bool:
    """Whether ``size`` is positive and has no more than the size decimals (2)."""
    config = rounding_config(tick_size)
    if isinstance(size, Decimal) and not size.is_finite():
        return False
    numerator, denominator = _ratio("size", size)
    return numerator > 0 and (numerator * _pow10(config.size_decimals)) % denominator == 0


# --- Order amounts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderAmounts:
    """The signed amounts of one order, in 6-decimal units, and the price and size behind them.

    A BUY gives dollars (``maker_amount``) for shares (``taker_amount``); a SELL gives shares for
    dollars. ``price`` is the limit price, or for a market order the worst acceptable price;
    ``size`` is the share leg in shares (for a market BUY: the minimum shares received).
    """

    side: Side
    price: Decimal
    size: Decimal
    maker_amount: int
    taker_amount: int

    @property
    def share_units(self) -> int:
        """The share leg in 6-decimal units."""
        return self.taker_amount if self.side is Side.BUY else self.maker_amount

    @property
    def usd_units(self) -> int:
        """The dollar leg in 6-decimal units."""
        return self.maker_amount if self.side is Side.BUY else self.taker_amount

    @property
    def notional(self) -> Decimal:
        """The dollar leg in dollars: paid by a BUY, received by a SELL (before fees)."""
        return from_units(self.usd_units)


def limit_order_amounts(side: Side, price: Decimal, size: Decimal | int, tick_size: Decimal) -> OrderAmounts:
    """Maker and taker amounts of a limit order, exactly the venue's rule (§4.5).

    ``size`` (shares) is floored to 2 decimals; the dollar leg is ``shares × price``. ``price``
    must already be valid for the tick (see :func:`quantize_price`): an off-grid or out-of-range
    price is a ``ValueError`` rather than silently rounded. A size that floors to zero is a
    ``ValueError`` too.

    >>> amounts = limit_order_amounts(Side.BUY, Decimal("0.52"), Decimal(10), Decimal("0.01"))
    >>> amounts.maker_amount, amounts.taker_amount
    (5200000, 10000000)
    """
    config = rounding_config(tick_size)
    ticks = _require_valid_price(price, config)
    return _priced_by_shares(Side(side), ticks, config, _floor_positive("size", size, config.size_decimals))


def market_order_amounts(
    side: Side, amount: Decimal | int, worst_price: Decimal, tick_size: Decimal
) -> OrderAmounts:
    """Maker and taker amounts of a market (FOK/FAK) order, exactly the venue's rule (§4.6).

    * BUY: ``amount`` is the dollars to spend (before fees), floored to 2 decimals; the shares
      are ``dollars / worst_price`` floored to the amount decimals. Because the shares are
      floored, the implied price ``dollars / shares`` can sit a hair *above* ``worst_price``
      (BUY $10 @ 0.52 → 19.2307 shares, 0.5200018… per share); that is the venue's rule.
    * SELL: ``amount`` is the shares to sell, floored to 2 decimals; the dollars received are
      ``shares × worst_price``.

    ``worst_price`` must be valid for the tick (``ValueError`` otherwise): choose its rounding
    with :func:`quantize_price` before calling. A BUY budget or SELL size that floors to zero is a
    ``ValueError``. Fees on a BUY come on top of ``amount`` (see :func:`taker_fee`).
    """
    side = Side(side)
    config = rounding_config(tick_size)
    ticks = _require_valid_price(worst_price, config)
    floored = _floor_positive("amount", amount, config.size_decimals)  # cents, or hundredths of a share
    if side is Side.SELL:
        return _priced_by_shares(side, ticks, config, floored)
    scale = _pow10(config.size_decimals)
    # shares = (cents / scale) / (ticks / ticks_per_unit); never zero as the price is below 1
    share_units = _venue_round_units(floored * config.ticks_per_unit, scale * ticks, config.amount_decimals)
    return _amounts(side, ticks, config, from_units(share_units), share_units, floored * (USDC_UNIT // scale))


def implied_price(
    side: Side, maker_amount: int, taker_amount: int, *, places: int = 10, rounding: Rounding | None = None
) -> Decimal:
    """The price per share implied by a pair of signed amounts: dollars / shares.

    Exact when the quotient has at most ``places`` decimals (always the case for a limit order
    built here). Otherwise it is rounded to ``places`` decimals in the named direction, and with
    no ``rounding`` named it is a ``ValueError`` (a market BUY's 10000000 / 19230700 does not
    terminate). Both amounts must be positive integers.
    """
    side = Side(side)
    for name, units in (("maker_amount", maker_amount), ("taker_amount", taker_amount)):
        if isinstance(units, bool) or not isinstance(units, int):
            raise TypeError(f"{name} must be an int of 6-decimal units, got {units!r}")
        if units <= 0:
            raise ValueError(f"{name} must be positive, got {units}")
    usd, shares = (maker_amount, taker_amount) if side is Side.BUY else (taker_amount, maker_amount)
    return _ratio_to_decimal(usd, shares, places, rounding, what="implied price")


# --- 6-decimal units -------------------------------------------------------------------------------


def to_units(value: Decimal | int, *, rounding: Rounding | None = None) -> int:
    """Dollars or shares → integer 6-decimal venue units (1 share = 1_000_000 units).

    Exact: a value with more than 6 decimals is a ``ValueError`` unless a ``rounding`` is named.
    """
    numerator, denominator = _ratio("value", value)
    units, remainder = divmod(numerator * USDC_UNIT, denominator)
    if remainder == 0:
        return units
    if rounding is None:
        raise ValueError(f"{value} has more than {USDC_DECIMALS} decimals; name a rounding to convert it")
    return _div_round(numerator * USDC_UNIT, denominator, rounding)


def from_units(units: int) -> Decimal:
    """Integer 6-decimal venue units → dollars or shares, exactly (6 decimal places)."""
    if isinstance(units, bool) or not isinstance(units, int):
        raise TypeError(f"units must be an int, got {type(units).__name__} {units!r}")
    return _scaled_decimal(units, USDC_DECIMALS)


# --- Fees ------------------------------------------------------------------------------------------

FEE_DECIMALS: Final = 5
"""The venue charges fees in whole 0.00001 pUSD; anything smaller rounds to zero (§6.6)."""


def fee_per_share(price: Decimal, schedule: FeeSchedule) -> Decimal:
    """The unrounded taker fee of one share at ``price``: ``rate × (p·(1−p))^exponent``, exact.

    This is the marginal cost a strategy compares its edge with. At the crypto rate 0.07 it peaks
    at 0.0175 (1.75 ¢) at p = 0.50 and is symmetric: p and 1 − p cost the same.

    Strategies ask for the same few prices on every tick, so answers for finite Decimal prices
    and Decimal rates are cached (the arguments are immutable and the answer depends on nothing
    else; equal prices such as ``0.5`` and ``0.50`` have the same exact answer). Anything else
    (a float, a NaN, a float rate or exponent) takes the uncached path, which raises as
    documented.
    """
    if (
        type(price) is Decimal
        and price.is_finite()
        and type(schedule.rate) is Decimal
        and type(schedule.exponent) is int
    ):
        return _cached_fee_per_share(price, schedule)
    return _exact_fee_per_share(price, schedule)


def _exact_fee_per_share(price: Decimal, schedule: FeeSchedule) -> Decimal:
    numerator, denominator = _fee_per_share(price, schedule)
    # a product of decimals and whole powers always terminates, so this is exact
    return _ratio_to_decimal(numerator, denominator, None, None, what="fee per share")


# Bounded: a handful of schedules times the prices on the venue's ticks. Exceptions (a negative
# rate, a price outside [0, 1]) are not cached: they are raised again on every call.
_cached_fee_per_share: Final = lru_cache(maxsize=4096)(_exact_fee_per_share)


def taker_fee(
    shares: Decimal | int, price: Decimal, schedule: FeeSchedule, *, rounding: Rounding = Rounding.DOWN
) -> Decimal:
    """The taker fee in dollars of a fill of ``shares`` at ``price`` (§6.6).

    ``shares × rate × (p·(1−p))^exponent`` rounded to 5 decimals. The venue's docs say fees are
    "rounded to 5 decimal places; the smallest fee charged is 0.00001 pUSD; anything smaller
    rounds to zero". They do not name the direction; flooring is the only reading under which
    *everything* below 0.00001 becomes zero, and NautilusTrader's adapter floors "matching the
    venue charge", so DOWN is the default. Pass ``rounding=Rounding.UP`` for an upper bound when
    budgeting (it also charges the 0.00001 minimum on any positive fee). The fee is in pUSD
    whatever the side: on a BUY it comes on top of the notional.
    """
    share_numerator, share_denominator = _ratio("shares", shares)
    if share_numerator < 0:
        raise ValueError(f"shares must not be negative, got {shares}")
    numerator, denominator = _fee_per_share(price, schedule)
    scaled_fee = share_numerator * numerator * _pow10(FEE_DECIMALS)
    return _scaled_decimal(_div_round(scaled_fee, share_denominator * denominator, rounding), FEE_DECIMALS)


def fee_for_fill(
    shares: Decimal | int, price: Decimal, schedule: FeeSchedule, liquidity: Liquidity
) -> Decimal:
    """The fee of one of our fills: :func:`taker_fee` when we took liquidity, zero when we made
    it on a taker-only schedule (crypto markets: makers pay nothing)."""
    if Liquidity(liquidity) is Liquidity.MAKER and schedule.taker_only:
        return _scaled_decimal(0, FEE_DECIMALS)
    return taker_fee(shares, price, schedule)


# --- Internals: exact integer-ratio arithmetic -----------------------------------------------------

# A context that can hold any coefficient and traps any rounding: building a Decimal from an
# integer through it is exact or raises, never silently rounded.
_EXACT: Final = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation, decimal.Overflow],
)


def _ratio(name: str, value: Decimal | int) -> tuple[int, int]:
    """``value`` as an exact (numerator, positive denominator); floats, bools, strings and
    non-finite Decimals refused."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{name} must be a finite number, got {value}")
        return value.as_integer_ratio()
    if isinstance(value, int) and not isinstance(value, bool):
        return value, 1
    raise TypeError(f"{name} must be a Decimal or int, got {type(value).__name__} {value!r}")


def _pow10(exponent: int) -> int:
    """``10**exponent`` typed as an int (a bare ``**`` is ``Any`` to the type checker)."""
    return int(10**exponent)


def _div_round(numerator: int, denominator: int, rounding: Rounding) -> int:
    """``numerator / denominator`` (denominator > 0) rounded to an integer as named."""
    if type(rounding) is not Rounding:
        rounding = Rounding(rounding)  # also accepts the plain strings "down", "up", "nearest"
    if rounding is Rounding.DOWN:
        return numerator // denominator
    if rounding is Rounding.UP:
        return -(-numerator // denominator)
    quotient, remainder = divmod(numerator, denominator)  # NEAREST, ties to the even quotient
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def _scaled_decimal(scaled: int, places: int) -> Decimal:
    """``scaled / 10**places`` as a Decimal with exactly ``places`` decimals."""
    return Decimal(scaled).scaleb(-places, _EXACT)


def _terminating_places(numerator: int, denominator: int) -> int | None:
    """The decimals ``numerator / denominator`` needs, or None if its expansion never ends."""
    denominator //= gcd(numerator, denominator)
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None


def _ratio_to_decimal(
    numerator: int, denominator: int, places: int | None, rounding: Rounding | None, *, what: str
) -> Decimal:
    """Exact when it fits ``places`` decimals (any number if None), else rounded as named."""
    exact_places = _terminating_places(numerator, denominator)
    if exact_places is not None and (places is None or exact_places <= places):
        return _scaled_decimal(numerator * _pow10(exact_places) // denominator, exact_places)
    if rounding is None or places is None:
        raise ValueError(f"{what} {numerator}/{denominator} has more than {places} decimals; name a rounding")
    return _scaled_decimal(_div_round(numerator * _pow10(places), denominator, rounding), places)


@lru_cache(maxsize=8192)
def _price_from_ticks(ticks: int, config: RoundingConfig) -> Decimal:
    """``ticks × tick`` with exactly the tick's price decimals (cached: prices repeat endlessly,
    and a Decimal is immutable, so sharing one is safe)."""
    return _scaled_decimal(ticks * config.price_step, config.price_decimals)


def _price_ticks_if_valid(price: Decimal, config: RoundingConfig) -> int | None:
    numerator, denominator = _ratio("price", price)
    ticks, remainder = divmod(numerator * config.ticks_per_unit, denominator)
    if remainder or not 1 <= ticks <= config.ticks_per_unit - 1:
        return None
    return ticks


def _require_valid_price(price: Decimal, config: RoundingConfig) -> int:
    """The price as a whole number of ticks; ``ValueError`` (in the SDK's words) if invalid."""
    ticks = _price_ticks_if_valid(price, config)
    if ticks is None:
        raise ValueError(
            f"invalid price ({price}) for tick {config.tick_size}: it must be a multiple of the tick"
            f" within [min: {config.min_price} - max: {config.max_price}]; quantize it first"
        )
    return ticks


def _floor_positive(name: str, value: Decimal | int, places: int) -> int:
    """``value × 10**places`` floored; ``ValueError`` unless the result is positive."""
    numerator, denominator = _ratio(name, value)
    scaled = numerator * _pow10(places) // denominator
    if scaled <= 0:
        raise ValueError(f"{name} {value} is not positive once floored to {places} decimals")
    return scaled


def _venue_round_units(numerator: int, denominator: int, amount_decimals: int) -> int:
    """The venue's rounding of a dollar or share leg ``numerator / denominator`` (§4.5/§4.6),
    returned in 6-decimal units.

    Literally: a value with more than ``amount_decimals`` decimals is first rounded *up* at
    ``amount_decimals + 4`` (which absorbs representation noise in the reference float
    implementation) and, if still too long, floored to ``amount_decimals``.
    """
    to_units_factor = _pow10(USDC_DECIMALS - amount_decimals)
    exact, remainder = divmod(numerator * _pow10(amount_decimals), denominator)
    if remainder == 0:
        return exact * to_units_factor
    ceiled = -(-numerator * _pow10(amount_decimals + 4) // denominator)
    # ceiled has amount_decimals + 4 decimals: dropping the last 4 floors it (or is exact).
    return ceiled // _pow10(4) * to_units_factor


def _fee_per_share(price: Decimal, schedule: FeeSchedule) -> tuple[int, int]:
    """``rate × (p·(1−p))^exponent`` as an exact (numerator, denominator)."""
    numerator, denominator = _ratio("price", price)
    if not 0 <= numerator <= denominator:
        raise ValueError(f"price must lie in [0, 1] for a fee, got {price}")
    rate_numerator, rate_denominator = _ratio("fee rate", schedule.rate)
    if rate_numerator < 0:
        raise ValueError(f"fee rate must not be negative, got {schedule.rate}")
    exponent = schedule.exponent
    if isinstance(exponent, bool) or not isinstance(exponent, int) or exponent < 0:
        # A fractional exponent would need an irrational root: the venue uses whole exponents.
        raise ValueError(f"fee exponent must be a whole number >= 0, got {exponent!r}")
    curve_numerator = int((numerator * (denominator - numerator)) ** exponent)
    curve_denominator = int(denominator ** (2 * exponent))
    return rate_numerator * curve_numerator, rate_denominator * curve_denominator


def _priced_by_shares(side: Side, ticks: int, config: RoundingConfig, hundredths: int) -> OrderAmounts:
    """Amounts of an order sized in shares (a limit order, or a market SELL): ``shares × price``."""
    scale = _pow10(config.size_decimals)
    usd_units = _venue_round_units(hundredths * ticks, scale * config.ticks_per_unit, config.amount_decimals)
    size = _scaled_decimal(hundredths, config.size_decimals)
    return _amounts(side, ticks, config, size, hundredths * (USDC_UNIT // scale), usd_units)


def _amounts(
    side: Side, ticks: int, config: RoundingConfig, size: Decimal, share_units: int, usd_units: int
) -> OrderAmounts:
    price = _price_from_ticks(ticks, config)
    if side is Side.BUY:
        return OrderAmounts(side, price, size, maker_amount=usd_units, taker_amount=share_units)
    return OrderAmounts(side, price, size, maker_amount=share_units, taker_amount=usd_units)
