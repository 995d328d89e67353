"""Background order flow: makers and takers that make the simulated books look alive.

**Makers** (``sim-maker-1`` …) each quote every open market on both outcomes, a few levels
deep, around a fair probability of Up computed from the underlying as it was ``lag``
(1-3 s) ago, plus a little noise. The book therefore follows the underlying with a delay,
which is the edge a Binance-led client is built to take. Makers only make: a level that
would cross the book (another maker's quote or a client's order) is left out, so the book
never crosses and trades come from takers. The quotes of one maker are
coherent across the two tokens by construction: a bid for Up at ``b`` comes with an ask for
Down at ``1 - b``, an ask for Up at ``a`` with a bid for Down at ``1 - a``. A maker re-quotes
a market only when its ladder of prices changes, so quotes rest for a while and the book
still moves several times a second.

**Takers** (``sim-taker``) now and then buy Up or Down at the best ask with a fill-and-kill
order of random size; half of them are informed (they buy the side the *current* fair value
favours when its edge is more than 2 cents), half are noise.

The flow is stepped by the driver at a real-time cadence (about ten times a second); the
rates here are per step, so the load stays bounded however fast the simulated clock runs.
Every decision draws from one ``random.Random`` seeded from the simulator's seed: the same
sequence of steps against the same exchange state produces the same orders.

Prices are on the 0.01 grid within [0.01, 0.99] (valid under both the 0.01 and 0.001 tick)
and sizes are whole shares of at least 5.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import structlog

from polyexec.sim.contracts import SimExchange
from polyexec.sim.schedule import MarketWindow, WindowSchedule
from polyexec.sim.underlying import TWAP_WINDOW_SECONDS, UnderlyingPrice

__all__ = ["TAKER_ACCOUNT", "BackgroundFlow", "FlowStats", "MakerProfile", "up_probability"]

TAKER_ACCOUNT = "sim-taker"
CENT = Decimal("0.01")
_MIN_PRICE = Decimal("0.01")
_MAX_PRICE = Decimal("0.99")

_log = structlog.get_logger(__name__)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def up_probability(
    price: float,
    strike: float,
    now_s: float,
    window_end: float,
    sigma: float,
    observed_mean: float | None = None,
) -> float:
    """Probability that the 60 s TWAP at ``window_end`` ends at or above ``strike``.

    ``price`` is the current Chainlink-equivalent price and ``sigma`` the volatility of the
    log price per √second. Before the averaging minute the TWAP's variance is
    ``σ²(τ + 60/3)`` with ``τ`` the time until it starts; inside it, ``observed_mean`` is the
    mean of the observations already in the average (see docs/fair-value.md).
    """
    if price <= 0 or strike <= 0:
        raise ValueError(f"prices must be positive (price={price}, strike={strike})")
    remaining = window_end - now_s
    if remaining <= 0:
        final = observed_mean if observed_mean is not None else price
        return 1.0 if final >= strike else 0.0
    averaging_start = window_end - TWAP_WINDOW_SECONDS
    if now_s <= averaging_start or observed_mean is None:
        tau = max(0.0, averaging_start - now_s)
        variance = sigma * sigma * (tau + TWAP_WINDOW_SECONDS / 3)
        return _normal_cdf(math.log(price / strike) / math.sqrt(variance))
    observed = TWAP_WINDOW_SECONDS - remaining
    mean = (observed * observed_mean + remaining * price) / TWAP_WINDOW_SECONDS
    sd = (remaining / TWAP_WINDOW_SECONDS) * price * sigma * math.sqrt(remaining / 3)
    if sd <= 0:
        return 1.0 if mean >= strike else 0.0
    return _normal_cdf((mean - strike) / sd)


@dataclass(frozen=True, slots=True)
class MakerProfile:
    """How one background maker quotes."""

    account: str
    lag_ms: int  # how stale the underlying it prices from is
    noise: float  # standard deviation of its probability noise
    half_spread: Decimal  # distance of its first level from its fair value
    levels: int
    min_size: int
    max_size: int
    requote_probability: float  # per step, for a started window


@dataclass(slots=True)
class FlowStats:
    """Counters of what the flow did (for tests and the admin view)."""

    steps: int = 0
    requotes: int = 0
    orders_placed: int = 0
    orders_refused: int = 0
    cancels: int = 0
    taker_orders: int = 0
    refusals: list[str] = field(default_factory=list)  # the last few refusal reasons


_Ladder = tuple[tuple[Decimal, ...], tuple[Decimal, ...]]  # (Up bids, Up asks)


class BackgroundFlow:
    """Background makers and takers for every open market of a schedule."""

    def __init__(
        self,
        exchange: SimExchange,
        schedule: WindowSchedule,
        underlyings: Mapping[str, UnderlyingPrice],
        seed: int,
        maker_count: int = 3,
        maker_levels: int = 2,
        taker_probability: float = 0.05,
        upcoming_requote_probability: float = 0.02,
    ) -> None:
        if maker_count < 1 or maker_levels < 1:
            raise ValueError("the flow needs at least one maker quoting at least one level")
        if not 0 <= taker_probability <= 1:
            raise ValueError(f"taker_probability must be within [0, 1] (got {taker_probability})")
        self._exchange = exchange
        self._schedule = schedule
        self._underlyings = dict(underlyings)
        self._rng = random.Random(f"flow:{seed}")  # noqa: S311 - a simulation, not crypto
        self._taker_probability = taker_probability
        self._upcoming_requote_probability = upcoming_requote_probability
        self.makers = [self._new_maker(index + 1, maker_levels) for index in range(maker_count)]
        self._ladders: dict[tuple[str, str], _Ladder] = {}
        self.stats = FlowStats()

    def _new_maker(self, number: int, levels: int) -> MakerProfile:
        rng = self._rng
        return MakerProfile(
            account=f"sim-maker-{number}",
            lag_ms=rng.randrange(1000, 3001, 100),
            noise=rng.uniform(0.002, 0.008),
            half_spread=Decimal(rng.choice(("0.005", "0.01", "0.015", "0.02"))),
            levels=levels,
            min_size=rng.choice((10, 20, 25)),
            max_size=rng.choice((80, 120, 200)),
            requote_probability=rng.uniform(0.2, 0.4),
        )

    # -- fair value ----------------------------------------------------------------------

    def fair_probability(self, window: MarketWindow, at_ms: int) -> float:
        """Fair probability of Up for ``window`` from the underlying as it was at ``at_ms``."""
        market = window.market
        if at_ms < market.window_start * 1000:
            return 0.5
        underlying = self._underlyings[market.asset]
        strike = window.strike if window.strike is not None else underlying.twap_at(market.window_start)
        if strike is None:
            return 0.5  # the start is older than the kept history: no view on the market
        tick = underlying.tick_at(at_ms) or underlying.last_tick
        second = at_ms // 1000
        observation = underlying.observation_at(second) or underlying.last_observation
        # The Chainlink-equivalent price: Binance corrected by the latest observed basis.
        basis_ratio = float(observation.chainlink) / float(observation.binance)
        price = tick.mid * basis_ratio
        observed_mean = None
        averaging_start = market.window_end - TWAP_WINDOW_SECONDS + 1
        if second >= averaging_start:
            seen = [underlying.observation_at(s) for s in range(averaging_start, second + 1)]
            values = [float(o.chainlink) for o in seen if o is not None]
            observed_mean = sum(values) / len(values) if values else None
        return up_probability(
            price,
            float(strike),
            at_ms / 1000,
            market.window_end,
            underlying.profile.sigma_per_sqrt_second,
            observed_mean,
        )

    # -- stepping ------------------------------------------------------------------------

    def step(self, now_ms: int) -> None:
        """One round of background activity at simulated time ``now_ms``."""
        self.stats.steps += 1
        windows = [w for w in self._schedule.tradable() if not w.ended(now_ms)]
        live = {w.slug for w in windows}
        for key in [k for k in self._ladders if k[1] not in live]:
            del self._ladders[key]
        for maker in self.makers:
            for window in windows:
                started = window.started(now_ms)
                key = (maker.account, window.slug)
                probability = maker.requote_probability if started else self._upcoming_requote_probability
                if key in self._ladders and self._rng.random() >= probability:
                    continue
                self._requote(maker, window, now_ms)
        for window in windows:
            if window.started(now_ms) and self._rng.random() < self._taker_probability:
                self._take(window, now_ms)

    def _requote(self, maker: MakerProfile, window: MarketWindow, now_ms: int) -> None:
        rng = self._rng
        started = window.started(now_ms)
        fair = self.fair_probability(window, now_ms - maker.lag_ms) + rng.gauss(0.0, maker.noise)
        fair = min(0.99, max(0.01, fair))
        # Before its window opens nobody knows the strike: quote wide around one half.
        half_spread = maker.half_spread + (Decimal(0) if started else Decimal("0.02"))
        ladder = _ladder(Decimal(repr(round(fair, 4))), half_spread, maker.levels)
        key = (maker.account, window.slug)
        if self._ladders.get(key) == ladder:
            return
        self.stats.requotes += 1
        market = window.market
        for token in (market.up_token_id, market.down_token_id):
            self.stats.cancels += self._exchange.cancel_background_orders(maker.account, token)
        self._ladders[key] = ladder
        bids, asks = self._post_only(market.up_token_id, market.down_token_id, ladder)
        for bid in bids:
            size = Decimal(rng.randint(maker.min_size, maker.max_size))
            self._place(maker.account, market.up_token_id, "BUY", bid, size, "GTC")
            self._place(maker.account, market.down_token_id, "SELL", 1 - bid, size, "GTC")
        for ask in asks:
            size = Decimal(rng.randint(maker.min_size, maker.max_size))
            self._place(maker.account, market.up_token_id, "SELL", ask, size, "GTC")
            self._place(maker.account, market.down_token_id, "BUY", 1 - ask, size, "GTC")

    def _post_only(self, up_token: str, down_token: str, ladder: _Ladder) -> _Ladder:
        """Drop the levels that would cross the book: makers only make.

        An Up bid ``b`` also rests as a Down ask ``1 - b``, so it must stay below both the
        best Up ask and ``1 -`` the best Down bid; symmetrically for an Up ask.
        """
        up_bid, up_ask = self._exchange.best_bid_ask(up_token)
        down_bid, down_ask = self._exchange.best_bid_ask(down_token)
        bid_limits = [p for p in (up_ask, None if down_bid is None else 1 - down_bid) if p is not None]
        ask_limits = [p for p in (up_bid, None if down_ask is None else 1 - down_ask) if p is not None]
        bids, asks = ladder
        if bid_limits:
            bids = tuple(b for b in bids if b < min(bid_limits))
        if ask_limits:
            asks = tuple(a for a in asks if a > max(ask_limits))
        return bids, asks

    def _take(self, window: MarketWindow, now_ms: int) -> None:
        rng = self._rng
        market = window.market
        _, up_ask = self._exchange.best_bid_ask(market.up_token_id)
        _, down_ask = self._exchange.best_bid_ask(market.down_token_id)
        informed = rng.random() < 0.5
        token: str | None = None
        price: Decimal | None = None
        if informed:
            fair = self.fair_probability(window, now_ms)
            edge_up = fair - float(up_ask) if up_ask is not None else -1.0
            edge_down = (1 - fair) - float(down_ask) if down_ask is not None else -1.0
            if max(edge_up, edge_down) > 0.02:
                token, price = (
                    (market.up_token_id, up_ask) if edge_up >= edge_down else (market.down_token_id, down_ask)
                )
        if token is None:
            token, price = (
                (market.up_token_id, up_ask) if rng.random() < 0.5 else (market.down_token_id, down_ask)
            )
        size = Decimal(rng.randint(5, 40))
        if price is None:
            return  # nothing to take on that side
        self.stats.taker_orders += 1
        self._place(TAKER_ACCOUNT, token, "BUY", price, size, "FAK")

    def _place(self, account: str, token: str, side: str, price: Decimal, size: Decimal, kind: str) -> None:
        try:
            self._exchange.place_background_order(account, token, side, price, size, kind)
        except Exception as exc:
            # A refusal (market closing, a taker order finding nothing) is part of life.
            self.stats.orders_refused += 1
            self.stats.refusals = [*self.stats.refusals[-9:], f"{side} {size}@{price} {kind}: {exc!r}"]
            return
        self.stats.orders_placed += 1

    def cancel_all(self) -> int:
        """Cancel every background order of every maker and the taker; return the count."""
        cancelled = 0
        for account in [m.account for m in self.makers] + [TAKER_ACCOUNT]:
            try:
                cancelled += self._exchange.cancel_background_orders(account)
            except Exception as exc:
                _log.warning("sim.flow_cancel_failed", account=account, error=repr(exc))
        self._ladders.clear()
        return cancelled


def _ladder(fair: Decimal, half_spread: Decimal, levels: int) -> _Ladder:
    """Up bids (best first) and Up asks (best first) on the cent grid within [0.01, 0.99].

    Levels beyond the price range are pulled in to its edge (and merged), so a market that
    is all but decided still shows a 0.99 ask and a 0.01 Down bid, as on the venue.
    """
    bids: list[Decimal] = []
    asks: list[Decimal] = []
    for level in range(levels):
        offset = half_spread + level * CENT
        bid = (fair - offset).quantize(CENT, rounding=ROUND_FLOOR)
        ask = (fair + offset).quantize(CENT, rounding=ROUND_CEILING)
        bid = min(max(bid, _MIN_PRICE), _MAX_PRICE - CENT)
        ask = min(max(ask, _MIN_PRICE + CENT), _MAX_PRICE)
        if bid not in bids:
            bids.append(bid)
        if ask not in asks:
            asks.append(ask)
    return tuple(bids), tuple(asks)
