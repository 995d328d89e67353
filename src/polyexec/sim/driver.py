"""The market driver: everything in the simulator that moves without a client doing anything.

:class:`MarketDriver` owns the synthetic underlying of every asset, serves it as Binance
streams (``/binance/...``) and RTDS (``/rtds``), lists and resolves the windows' markets
(Gamma at ``/gamma/...``, books via :class:`~polyexec.sim.contracts.SimExchange`), and runs
the background makers and takers. The exchange's application factory composes it::

    driver = MarketDriver(exchange, clock, faults, assets=("btc", "eth"), seed=7, window_seconds=900)
    driver.register(app)        # routes + on_startup start() + on_shutdown stop()

or, managing the lifecycle itself, ``app.add_routes(driver.routes())`` then ``await
driver.start()`` / ``await driver.stop()``.

Time comes only from the :class:`~polyexec.sim.contracts.SimClock`; randomness only from
``random.Random`` instances seeded from ``seed``. Three background tasks run while started:

- the tick loop, every 200 ms of simulated time (at least 20 ms of real time apart):
  advances the underlying, publishes Binance ticks and RTDS observations, steps the window
  schedule (listing, ``priceToBeat``, resolution);
- the flow loop, about ten times per real second: makers re-quote, takers take.

Under a fast clock, a tick-loop wakeup that covers many grid steps publishes only the latest
:data:`MAX_PUBLISHED_TICKS` ticks and :data:`MAX_PUBLISHED_OBSERVATIONS` observations per asset
(the underlying itself, its TWAPs and the settlement prices skip nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal

import structlog
from aiohttp import web

from polyexec.sim.binance import DEFAULT_PING_INTERVAL, BinanceFeed
from polyexec.sim.contracts import FaultView, SimClock, SimExchange
from polyexec.sim.flow import BackgroundFlow
from polyexec.sim.gamma import GammaApi
from polyexec.sim.rtds import RtdsFeed
from polyexec.sim.schedule import WindowSchedule
from polyexec.sim.underlying import STEP_MS, TWAP_WINDOW_SECONDS, UnderlyingPrice, profile_for

__all__ = ["MAX_PUBLISHED_OBSERVATIONS", "MAX_PUBLISHED_TICKS", "MarketDriver"]

MAX_PUBLISHED_TICKS = 10
MAX_PUBLISHED_OBSERVATIONS = 5
_MIN_REAL_SLEEP = 0.02
_FLOW_INTERVAL = 0.1  # real seconds between flow steps

_log = structlog.get_logger(__name__)


class MarketDriver:
    """Underlying prices, Binance, RTDS, Gamma, the window schedule and background flow."""

    def __init__(
        self,
        exchange: SimExchange,
        clock: SimClock,
        faults: FaultView | None = None,
        assets: Iterable[str] = ("btc", "eth"),
        seed: int = 0,
        window_seconds: int = 900,
        *,
        windows_ahead: int = 1,
        strike_publish_delay: float | None = None,
        binance_ping_interval: float = DEFAULT_PING_INTERVAL,
        maker_count: int = 3,
        maker_levels: int = 2,
        taker_probability: float = 0.05,
        flow_enabled: bool = True,
    ) -> None:
        names = list(dict.fromkeys(a.strip().lower() for a in assets if a.strip()))
        if not names:
            raise ValueError("the market driver needs at least one asset")
        profiles = {name: profile_for(name) for name in names}
        if window_seconds < 2:
            raise ValueError(f"window_seconds must be at least 2 (got {window_seconds})")
        self.exchange = exchange
        self.clock = clock
        self.seed = seed
        self.window_seconds = window_seconds
        self.flow_enabled = flow_enabled
        # Start the walk early enough that the window in progress already has a strike (its
        # start TWAP) and RTDS a full backfill, then fast-forward silently to "now".
        warmup_seconds = window_seconds + 2 * TWAP_WINDOW_SECONDS + 60
        history_seconds = max(3_600, 2 * window_seconds + 4 * TWAP_WINDOW_SECONDS)
        start_ms = (int(clock.now()) - warmup_seconds) * 1000
        self.underlyings = {
            name: UnderlyingPrice(profile, seed, start_ms, history_seconds)
            for name, profile in profiles.items()
        }
        now_ms = clock.now_ms()
        for underlying in self.underlyings.values():
            underlying.advance_to(now_ms)
        self.binance = BinanceFeed(clock, faults, binance_ping_interval)
        self.rtds = RtdsFeed(clock, faults, self.underlyings, seed)
        self.schedule = WindowSchedule(
            exchange,
            self.underlyings,
            seed,
            window_seconds=window_seconds,
            windows_ahead=windows_ahead,
            strike_publish_delay=strike_publish_delay,
        )
        self.flow = BackgroundFlow(
            exchange,
            self.schedule,
            self.underlyings,
            seed,
            maker_count=maker_count,
            maker_levels=maker_levels,
            taker_probability=taker_probability,
        )
        self.gamma = GammaApi(self.schedule, exchange, clock, profiles)
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self.loop_errors = 0

    # -- composition ---------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """Every route the driver serves: Binance, RTDS and Gamma."""
        return [*self.binance.routes(), *self.rtds.routes(), *self.gamma.routes()]

    def register(self, app: web.Application) -> None:
        """Add the routes to ``app`` and tie :meth:`start`/:meth:`stop` to its lifecycle."""
        app.add_routes(self.routes())
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_startup(self, _app: web.Application) -> None:
        await self.start()

    async def _on_shutdown(self, _app: web.Application) -> None:
        await self.stop()

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._started

    async def start(self) -> None:
        """List the current and next windows, seed the books, start the loops (idempotent).

        When this returns, every asset's current and next markets exist on the exchange and
        carry background quotes.
        """
        if self._started:
            return
        self._started = True
        self.advance()
        if self.flow_enabled:
            self.flow.step(self.clock.now_ms())
        self._tasks = [asyncio.create_task(self._tick_loop(), name="sim-driver-ticks")]
        if self.flow_enabled:
            self._tasks.append(asyncio.create_task(self._flow_loop(), name="sim-driver-flow"))

    async def stop(self) -> None:
        """Stop the loops, withdraw background orders and close every feed socket (idempotent)."""
        if not self._started:
            return
        self._started = False
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.flow_enabled:
            self.flow.cancel_all()
        await self.binance.close_all()
        await self.rtds.close_all()

    async def binance_server_shutdown(self, grace_seconds: float = 0.0) -> int:
        """Send Binance's ``serverShutdown`` event to every Binance socket, then close them
        (1001) after ``grace_seconds``. Returns how many connections were told."""
        return await self.binance.server_shutdown(grace_seconds)

    # -- the loops -----------------------------------------------------------------------

    def advance(self) -> None:
        """Bring prices, feeds and the schedule up to the clock's now (one tick-loop pass)."""
        now_ms = self.clock.now_ms()
        for underlying in self.underlyings.values():
            ticks, observations = underlying.advance_to(now_ms)
            self.binance.publish(ticks[-MAX_PUBLISHED_TICKS:])
            self.rtds.publish(observations[-MAX_PUBLISHED_OBSERVATIONS:])
        self.schedule.step(now_ms)

    async def _tick_loop(self) -> None:
        period = max(_MIN_REAL_SLEEP, self.clock.real_seconds(STEP_MS / 1000))
        while True:
            await asyncio.sleep(period)
            try:
                self.advance()
            except Exception:
                # One bad pass must not stop the venue: count it and carry on.
                self.loop_errors += 1
                _log.exception("sim.driver_tick_failed")

    async def _flow_loop(self) -> None:
        while True:
            await asyncio.sleep(_FLOW_INTERVAL)
            try:
                self.flow.step(self.clock.now_ms())
            except Exception:
                self.loop_errors += 1
                _log.exception("sim.driver_flow_failed")

    # -- reading -------------------------------------------------------------------------

    def underlying(self, asset: str) -> UnderlyingPrice:
        """The price path of ``asset``; ``KeyError`` names the simulated assets."""
        try:
            return self.underlyings[asset.lower()]
        except KeyError:
            raise KeyError(
                f"asset {asset!r} is not simulated (assets: {', '.join(self.underlyings)})"
            ) from None

    def twap(self, asset: str, unix_second: int) -> Decimal | None:
        """The 60-second Chainlink TWAP of ``asset`` at ``unix_second`` (``None`` outside history)."""
        return self.underlying(asset).twap_at(unix_second)

    def chainlink_price(self, asset: str) -> Decimal:
        """The latest Chainlink-style USD observation of ``asset``."""
        return self.underlying(asset).last_observation.chainlink

    def binance_price(self, asset: str) -> Decimal:
        """The latest Binance trade price of ``asset``."""
        return self.underlying(asset).last_tick.price
