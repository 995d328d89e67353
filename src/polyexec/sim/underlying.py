"""The simulator's synthetic underlying: one seeded random walk per crypto asset.

Every asset (``btc``, ``eth``, …) gets a geometric random walk with a realistic annual
volatility (BTC 50 %/yr, i.e. σ ≈ 8.9e-5 per √second), sampled on a fixed grid of
:data:`STEP_MS` milliseconds. Each grid step is one Binance tick: a trade at the bid or
the ask and a one-tick-wide top of book. Each whole second also yields a Chainlink-style
USD observation (the Binance price times ``exp(basis)``, where the basis is a small
mean-reverting spread of a few basis points between USDT and USD) and the 60-second TWAP
of those observations, the price that opens ("price to beat") and settles a 15-minute
market.

The walk is a pure function of the seed and the grid: the value at step *k* does not depend
on when, or how often, :meth:`UnderlyingPrice.advance_to` is called. Two simulators with the
same seed and the same clock start produce identical prices, trade ids and TWAPs.

The random walk itself runs in floating point (it is a stochastic model, not money); every
price that leaves this module is a ``Decimal``: Binance prices quantised to the symbol's tick,
Chainlink prices and TWAPs with 18 decimals (the E18 fixed point RTDS publishes).
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal

__all__ = [
    "ASSET_PROFILES",
    "E18",
    "SECONDS_PER_YEAR",
    "STEP_MS",
    "TWAP_WINDOW_SECONDS",
    "AssetProfile",
    "BinanceTick",
    "PriceObservation",
    "UnderlyingPrice",
    "profile_for",
]

STEP_MS = 200
"""Grid spacing of the walk: one Binance tick every 200 ms of simulated time (5 per second)."""

TWAP_WINDOW_SECONDS = 60
"""The settlement TWAP averages this many one-second Chainlink observations."""

SECONDS_PER_YEAR = 365.25 * 86_400

E18 = Decimal(1).scaleb(-18)
"""The quantum of Chainlink prices and TWAPs (RTDS publishes them as signed E18 integers)."""
# Sums of 60 prices with 18 decimals need ~26 significant digits; leave headroom.
_WIDE = Context(prec=60, rounding=ROUND_HALF_EVEN)

# The Binance-USDT vs Chainlink-USD basis, ln(chainlink) - ln(binance): measured at roughly
# +3..+9 bps, drifting. Modelled as an Ornstein-Uhlenbeck process stepped once per second.
_BASIS_MEAN = 6e-4
_BASIS_REVERSION_PER_S = 1 / 300
_BASIS_STATIONARY_SD = 1.5e-4
_BASIS_STEP_SD = _BASIS_STATIONARY_SD * math.sqrt(2 * _BASIS_REVERSION_PER_S)
# Chainlink aggregates many venues, so its observation noise around Binance is tiny.
_CHAINLINK_NOISE_SD = 2e-5

_TICK_HISTORY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class AssetProfile:
    """Static facts about one simulated asset."""

    asset: str  # "btc": the slug prefix
    name: str  # "Bitcoin": used in market titles
    binance_symbol: str  # "btcusdt"
    chainlink_symbol: str  # "btc/usd"
    start_price: Decimal  # a plausible USDT price; the seed jitters it by a few percent
    annual_volatility: float
    price_tick: Decimal  # Binance price filter tick
    quantity_step: Decimal  # Binance lot step
    typical_trade_quantity: float

    @property
    def sigma_per_sqrt_second(self) -> float:
        """Volatility of the log price per √second (BTC: ≈ 8.9e-5)."""
        return self.annual_volatility / math.sqrt(SECONDS_PER_YEAR)


def _profile(
    asset: str, name: str, start: str, vol: float, tick: str, step: str, typical_qty: float
) -> AssetProfile:
    return AssetProfile(
        asset=asset,
        name=name,
        binance_symbol=f"{asset}usdt",
        chainlink_symbol=f"{asset}/usd",
        start_price=Decimal(start),
        annual_volatility=vol,
        price_tick=Decimal(tick),
        quantity_step=Decimal(step),
        typical_trade_quantity=typical_qty,
    )


ASSET_PROFILES: dict[str, AssetProfile] = {
    p.asset: p
    for p in (
        _profile("btc", "Bitcoin", "97000", 0.50, "0.01", "0.00001", 0.01),
        _profile("eth", "Ethereum", "3400", 0.65, "0.01", "0.0001", 0.2),
        _profile("sol", "Solana", "180", 0.80, "0.01", "0.001", 4.0),
        _profile("xrp", "XRP", "2.40", 0.80, "0.0001", "0.1", 500.0),
        _profile("bnb", "BNB", "650", 0.50, "0.01", "0.001", 1.0),
        _profile("doge", "Dogecoin", "0.20", 0.90, "0.00001", "1", 5000.0),
        _profile("hype", "Hyperliquid", "40", 1.00, "0.001", "0.01", 20.0),
    )
}


def profile_for(asset: str) -> AssetProfile:
    """The profile of ``asset`` (case-insensitive); ``ValueError`` names the known ones."""
    profile = ASSET_PROFILES.get(asset.lower())
    if profile is None:
        known = ", ".join(sorted(ASSET_PROFILES))
        raise ValueError(f"unknown simulated asset {asset!r} (known: {known})")
    return profile


@dataclass(frozen=True, slots=True)
class BinanceTick:
    """One grid step of an asset on Binance: a trade and the top of book after it."""

    asset: str
    symbol: str  # "btcusdt"
    time_ms: int
    trade_id: int
    price: Decimal  # trade price: the bid if the buyer was the maker, else the ask
    quantity: Decimal
    buyer_is_maker: bool
    bid: Decimal
    bid_quantity: Decimal
    ask: Decimal
    ask_quantity: Decimal
    update_id: int  # bookTicker "u"
    mid: float  # the model's unrounded price, for probability models (not for money)


@dataclass(frozen=True, slots=True)
class PriceObservation:
    """One whole second of an asset: the Chainlink-style USD price and its 60-second TWAP."""

    asset: str
    timestamp_ms: int  # a whole second: the Chainlink observation time
    chainlink: Decimal  # 18 decimals
    twap: Decimal  # 18 decimals: mean of the observations in (t - 60 s, t]
    binance: Decimal  # the Binance trade price at that second (RTDS "crypto_prices")


class UnderlyingPrice:
    """The synthetic price path of one asset, advanced on demand to the simulator's clock.

    ``start_ms`` anchors the grid and must be a whole second; the driver starts it some
    minutes before "now" so that a TWAP and a strike exist from the first moment. Prices are
    kept for ``history_seconds`` (TWAPs, Chainlink observations) and one minute (ticks).
    """

    def __init__(self, profile: AssetProfile, seed: int, start_ms: int, history_seconds: int = 3_600) -> None:
        if start_ms % 1000:
            raise ValueError(f"the price grid must start on a whole second (got {start_ms} ms)")
        if history_seconds < 2 * TWAP_WINDOW_SECONDS:
            raise ValueError(f"history_seconds must be at least {2 * TWAP_WINDOW_SECONDS}")
        self.profile = profile
        self._tick_exponent = _power_of_ten_exponent(profile.price_tick, "price_tick")
        self._step_exponent = _power_of_ten_exponent(profile.quantity_step, "quantity_step")
        # A string seed is hashed with SHA-512 by random.Random: stable across runs and processes.
        self._rng = random.Random(f"underlying:{seed}:{profile.asset}")  # noqa: S311 - a simulation, not crypto
        self._sigma_step = profile.sigma_per_sqrt_second * math.sqrt(STEP_MS / 1000)
        self._log_price = math.log(float(profile.start_price)) + self._rng.gauss(0.0, 0.03)
        self._basis = _BASIS_MEAN + self._rng.gauss(0.0, _BASIS_STATIONARY_SD)
        self._trade_id_base = 3_000_000_000 + self._rng.randrange(100_000_000)
        self._update_id_base = 50_000_000_000 + self._rng.randrange(1_000_000_000)
        self._start_ms = start_ms
        self._step = 0  # index of the last generated step; step 0 is generated at construction
        self._history_seconds = history_seconds
        self._ticks: deque[BinanceTick] = deque(maxlen=_TICK_HISTORY_SECONDS * 1000 // STEP_MS)
        self._tick_times: deque[int] = deque(maxlen=_TICK_HISTORY_SECONDS * 1000 // STEP_MS)
        self._observations: deque[PriceObservation] = deque(maxlen=history_seconds)
        self._window: deque[Decimal] = deque(maxlen=TWAP_WINDOW_SECONDS)
        self._window_sum = Decimal(0)
        self._emit_step()

    # -- reading -------------------------------------------------------------------------

    @property
    def asset(self) -> str:
        return self.profile.asset

    @property
    def now_ms(self) -> int:
        """Time of the latest generated step."""
        return self._start_ms + self._step * STEP_MS

    @property
    def last_tick(self) -> BinanceTick:
        return self._ticks[-1]

    @property
    def last_observation(self) -> PriceObservation:
        return self._observations[-1]

    def tick_at(self, time_ms: int) -> BinanceTick | None:
        """The latest tick at or before ``time_ms`` within the last minute (``None`` if older)."""
        index = bisect.bisect_right(self._tick_times, time_ms) - 1
        if index < 0:
            return None
        return self._ticks[index]

    def observation_at(self, second: int) -> PriceObservation | None:
        """The observation of Unix second ``second``, if it is in the kept history."""
        first = self._observations[0].timestamp_ms // 1000
        index = second - first
        if 0 <= index < len(self._observations):
            return self._observations[index]
        return None

    def twap_at(self, second: int) -> Decimal | None:
        """The 60-second TWAP published at Unix second ``second`` (``None`` outside history)."""
        observation = self.observation_at(second)
        return None if observation is None else observation.twap

    def recent_observations(self, count: int) -> list[PriceObservation]:
        """The last ``count`` observations, oldest first (the RTDS backfill)."""
        if count <= 0:
            return []
        return list(self._observations)[-count:]

    # -- advancing -----------------------------------------------------------------------

    def advance_to(self, now_ms: int) -> tuple[list[BinanceTick], list[PriceObservation]]:
        """Generate every grid step up to ``now_ms``; return the new ticks and observations."""
        ticks: list[BinanceTick] = []
        observations: list[PriceObservation] = []
        target = (now_ms - self._start_ms) // STEP_MS
        while self._step < target:
            self._step += 1
            tick, observation = self._emit_step()
            ticks.append(tick)
            if observation is not None:
                observations.append(observation)
        return ticks, observations

    def _emit_step(self) -> tuple[BinanceTick, PriceObservation | None]:
        rng = self._rng
        if self._step > 0:
            # Martingale in price: subtract the Itô term so the walk has no drift.
            self._log_price += self._sigma_step * rng.gauss(0.0, 1.0) - 0.5 * self._sigma_step**2
        mid = math.exp(self._log_price)
        time_ms = self.now_ms
        tick = self._make_tick(mid, time_ms)
        self._ticks.append(tick)
        self._tick_times.append(time_ms)
        observation = None
        if time_ms % 1000 == 0:
            observation = self._observe(mid, tick, time_ms)
        return tick, observation

    def _make_tick(self, mid: float, time_ms: int) -> BinanceTick:
        profile = self.profile
        rng = self._rng
        bid = _floor_to_power_of_ten(mid, self._tick_exponent)
        ask = bid + profile.price_tick
        buyer_is_maker = rng.random() < 0.5
        return BinanceTick(
            asset=profile.asset,
            symbol=profile.binance_symbol,
            time_ms=time_ms,
            trade_id=self._trade_id_base + self._step,
            price=bid if buyer_is_maker else ask,
            quantity=self._quantity(1.0),
            buyer_is_maker=buyer_is_maker,
            bid=bid,
            bid_quantity=self._quantity(3.0),
            ask=ask,
            ask_quantity=self._quantity(3.0),
            update_id=self._update_id_base + 7 * self._step,
            mid=mid,
        )

    def _quantity(self, scale: float) -> Decimal:
        """A log-normal quantity around ``scale`` × the typical trade, at least one lot."""
        profile = self.profile
        raw = profile.typical_trade_quantity * scale * math.exp(self._rng.gauss(0.0, 1.0))
        return max(_floor_to_power_of_ten(raw, self._step_exponent), profile.quantity_step)

    def _observe(self, mid: float, tick: BinanceTick, time_ms: int) -> PriceObservation:
        rng = self._rng
        self._basis += _BASIS_REVERSION_PER_S * (_BASIS_MEAN - self._basis) + _BASIS_STEP_SD * rng.gauss(
            0.0, 1.0
        )
        usd = mid * math.exp(self._basis + _CHAINLINK_NOISE_SD * rng.gauss(0.0, 1.0))
        chainlink = _decimal(usd).quantize(E18, context=_WIDE)
        if len(self._window) == self._window.maxlen:
            self._window_sum = _WIDE.subtract(self._window_sum, self._window[0])
        self._window.append(chainlink)
        self._window_sum = _WIDE.add(self._window_sum, chainlink)
        twap = _WIDE.divide(self._window_sum, Decimal(len(self._window))).quantize(E18, context=_WIDE)
        observation = PriceObservation(
            asset=self.profile.asset,
            timestamp_ms=time_ms,
            chainlink=chainlink,
            twap=twap,
            binance=tick.price,
        )
        self._observations.append(observation)
        return observation


def _decimal(value: float) -> Decimal:
    """A float from the model as a Decimal, via its shortest repr (no binary-expansion tail)."""
    return Decimal(repr(value))


def _power_of_ten_exponent(value: Decimal, name: str) -> int:
    """``Decimal("0.01")`` → ``-2``; the ticks and lot steps of the profiles are powers of ten."""
    sign, digits, exponent = value.normalize().as_tuple()
    if sign or digits != (1,) or not isinstance(exponent, int):
        raise ValueError(f"{name} must be a power of ten (got {value})")
    return exponent


def _floor_to_power_of_ten(value: float, exponent: int) -> Decimal:
    """``value`` rounded down to a multiple of ``10**exponent``, as an exact Decimal."""
    return Decimal(math.floor(value * 10.0 ** (-exponent))).scaleb(exponent)
