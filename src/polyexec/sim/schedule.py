"""The window schedule: lists, opens and resolves one Up/Down market per asset per window.

Windows are ``window_seconds`` long (900 on the real venue; tests use a few seconds) and
start on multiples of it, like the venue's ``T = now - now % 900``. The slug keeps the venue's
form, ``{asset}-updown-15m-{window_start}``, whatever the window length, so that clients
build slugs the way they do in production.

At every :meth:`WindowSchedule.step`:

- the current window and the next ``windows_ahead`` ones exist for every asset: each is
  created once (deterministic ids from the seed, asset and start) and opened on the exchange
  with ``SimExchange.add_market``, so the next market trades before its window begins, as on
  the venue;
- once a window has started, its strike is the underlying's 60-second TWAP at the window
  start, and it is published as Gamma's ``priceToBeat`` ``strike_publish_delay`` seconds
  later (about a minute into a 15-minute window on the venue);
- once a window has ended, it resolves on the 60-second TWAP at the window end: **Up** if
  that is greater than or equal to the strike (ties go to Up), else **Down**, through
  ``SimExchange.resolve_market``. The final price of window N is therefore exactly the
  strike of window N+1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import structlog

from polyexec.sim.contracts import SimExchange, SimMarket
from polyexec.sim.underlying import UnderlyingPrice

__all__ = [
    "DOWN",
    "UP",
    "MarketWindow",
    "WindowSchedule",
    "derive_market",
    "market_slug",
    "window_start_for",
]

UP = "Up"
DOWN = "Down"

_log = structlog.get_logger(__name__)


def market_slug(asset: str, window_start: int) -> str:
    """The venue's slug of an asset's window: ``btc-updown-15m-1778437800``."""
    return f"{asset}-updown-15m-{window_start}"


def window_start_for(now_s: float, window_seconds: int) -> int:
    """Start (Unix seconds) of the window containing ``now_s``."""
    second = int(now_s // 1)
    return second - second % window_seconds


def _digest(seed: int, asset: str, window_start: int, what: str) -> str:
    return hashlib.sha256(f"polyexec-sim:{seed}:{asset}:{window_start}:{what}".encode()).hexdigest()


def derive_market(asset: str, window_start: int, window_seconds: int, seed: int) -> SimMarket:
    """The market of ``asset``'s window at ``window_start``, with ids that depend only on the
    seed, the asset and the start: the same simulator seed always lists the same ids."""
    return SimMarket(
        asset=asset,
        slug=market_slug(asset, window_start),
        condition_id="0x" + _digest(seed, asset, window_start, "condition"),
        # Token ids on the venue are uint256 written in decimal.
        up_token_id=str(int(_digest(seed, asset, window_start, "up"), 16)),
        down_token_id=str(int(_digest(seed, asset, window_start, "down"), 16)),
        window_start=window_start,
        window_end=window_start + window_seconds,
    )


@dataclass(slots=True)
class MarketWindow:
    """One listed window and what is known about it so far."""

    market: SimMarket
    listed_at_ms: int
    event_id: str
    market_id: str
    question_id: str
    strike: Decimal | None = None  # TWAP at the window start, once the window has started
    price_to_beat: Decimal | None = None  # the strike, once published on Gamma
    final_price: Decimal | None = None  # TWAP at the window end, once resolved
    winner: str | None = None  # "Up" / "Down", once resolved
    resolved_at_ms: int | None = None

    @property
    def slug(self) -> str:
        return self.market.slug

    @property
    def resolved(self) -> bool:
        return self.winner is not None

    def started(self, now_ms: int) -> bool:
        return now_ms >= self.market.window_start * 1000

    def ended(self, now_ms: int) -> bool:
        return now_ms >= self.market.window_end * 1000


class WindowSchedule:
    """Creates, opens and resolves the markets of every asset's windows."""

    def __init__(
        self,
        exchange: SimExchange,
        underlyings: Mapping[str, UnderlyingPrice],
        seed: int,
        window_seconds: int = 900,
        windows_ahead: int = 1,
        strike_publish_delay: float | None = None,
        keep_resolved_seconds: int | None = None,
    ) -> None:
        if window_seconds < 2:
            raise ValueError(f"window_seconds must be at least 2 (got {window_seconds})")
        if windows_ahead < 0:
            raise ValueError(f"windows_ahead must be >= 0 (got {windows_ahead})")
        self._exchange = exchange
        self._underlyings = dict(underlyings)
        self._seed = seed
        self.window_seconds = window_seconds
        self.windows_ahead = windows_ahead
        # About a minute into a 15-minute window on the venue; proportionally sooner for short
        # test windows so that priceToBeat still appears well before the window ends.
        self.strike_publish_delay = (
            min(60.0, window_seconds / 15) if strike_publish_delay is None else strike_publish_delay
        )
        self.keep_resolved_seconds = (
            max(3_600, 4 * window_seconds) if keep_resolved_seconds is None else keep_resolved_seconds
        )
        self._windows: dict[str, MarketWindow] = {}
        self._by_condition: dict[str, MarketWindow] = {}
        self.resolve_failures = 0

    # -- reading -------------------------------------------------------------------------

    def windows(self) -> list[MarketWindow]:
        """Every kept window (listed, live and recently resolved), by start then asset."""
        return sorted(self._windows.values(), key=lambda w: (w.market.window_start, w.market.asset))

    def get(self, slug: str) -> MarketWindow | None:
        return self._windows.get(slug)

    def by_condition_id(self, condition_id: str) -> MarketWindow | None:
        return self._by_condition.get(condition_id)

    def tradable(self) -> list[MarketWindow]:
        """Listed windows that are not resolved yet (their books are open)."""
        return [w for w in self.windows() if not w.resolved]

    def current_window_start(self, now_ms: int) -> int:
        return window_start_for(now_ms / 1000, self.window_seconds)

    # -- advancing -----------------------------------------------------------------------

    def step(self, now_ms: int) -> None:
        """List, publish and resolve whatever ``now_ms`` calls for (idempotent)."""
        self._list_windows(now_ms)
        for window in list(self._windows.values()):
            if window.resolved:
                continue
            self._learn_strike(window, now_ms)
            if window.ended(now_ms):
                self._resolve(window, now_ms)
        self._prune(now_ms)

    def _list_windows(self, now_ms: int) -> None:
        current = self.current_window_start(now_ms)
        for index in range(self.windows_ahead + 1):
            start = current + index * self.window_seconds
            for asset in self._underlyings:
                slug = market_slug(asset, start)
                if slug in self._windows:
                    continue
                market = derive_market(asset, start, self.window_seconds, self._seed)
                digest = _digest(self._seed, asset, start, "gamma")
                window = MarketWindow(
                    market=market,
                    listed_at_ms=now_ms,
                    event_id=str(100_000 + int(digest[:12], 16) % 900_000),
                    market_id=str(1_000_000 + int(digest[12:24], 16) % 9_000_000),
                    question_id="0x" + _digest(self._seed, asset, start, "question"),
                )
                self._exchange.add_market(market)
                self._windows[slug] = window
                self._by_condition[market.condition_id] = window

    def _learn_strike(self, window: MarketWindow, now_ms: int) -> None:
        if window.strike is None and window.started(now_ms):
            window.strike = self._underlyings[window.market.asset].twap_at(window.market.window_start)
        publish_at_ms = (window.market.window_start + self.strike_publish_delay) * 1000
        if window.price_to_beat is None and window.strike is not None and now_ms >= publish_at_ms:
            window.price_to_beat = window.strike

    def _resolve(self, window: MarketWindow, now_ms: int) -> None:
        market = window.market
        final = self._underlyings[market.asset].twap_at(market.window_end)
        if final is None or window.strike is None:
            # Only possible if the price history no longer covers the window (a clock jump
            # larger than the kept history); the market is then settled on what is known.
            self.resolve_failures += 1
            _log.warning("sim.window_missing_twap", slug=market.slug, has_strike=window.strike is not None)
            underlying = self._underlyings[market.asset]
            final = final if final is not None else underlying.last_observation.twap
            window.strike = window.strike if window.strike is not None else final
        winner = UP if final >= window.strike else DOWN
        try:
            self._exchange.resolve_market(market.condition_id, winner, final)
        except Exception as exc:
            # Retried at the next step: a transient refusal must not stop the schedule.
            self.resolve_failures += 1
            _log.error("sim.resolve_failed", slug=market.slug, error=repr(exc))
            return
        window.final_price = final
        window.winner = winner
        window.resolved_at_ms = now_ms
        if window.price_to_beat is None:
            window.price_to_beat = window.strike

    def _prune(self, now_ms: int) -> None:
        horizon_s = now_ms / 1000 - self.keep_resolved_seconds
        for slug, window in list(self._windows.items()):
            if window.resolved and window.market.window_end < horizon_s:
                del self._windows[slug]
                del self._by_condition[window.market.condition_id]
