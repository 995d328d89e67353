"""Assembling and running the simulator: one aiohttp application on one loopback port.

* :class:`SimConfig`: every setting (``polyexec sim`` flags map onto it).
* :class:`Simulator`: the parts (clock, exchange, API keys, faults, websocket hub, market
  driver) and :meth:`Simulator.create_app`, the application factory. The market driver
  (``polyexec.sim.driver``) is imported lazily; ``SimConfig(driver=False)`` builds the
  exchange alone (CLOB REST, CLOB websockets and ``/sim``).
* :func:`start_simulator`: run it in-process on a free port (``port=0``); returns a
  :class:`RunningSimulator` with the URLs a client needs and ``await stop()``.
* :func:`run_foreground`: ``polyexec sim`` (its flags are parsed by :mod:`polyexec.cli`):
  print the URLs and the environment variables, run until Ctrl-C or SIGTERM, stop cleanly.

Routes: CLOB REST at ``/``, ``/ws/market`` and ``/ws/user``, admin at ``/sim/...``, and from
the driver ``/gamma/...``, ``/binance/...`` and ``/rtds``. Timed exchange work (trade status
changes, heartbeat lapses, GTD expiry) runs every ``process_interval_s`` of real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web

from polyexec.sim.admin import DRIVER_SHUTDOWN_KEY, admin_routes, loopback_only
from polyexec.sim.auth import ApiKeyStore
from polyexec.sim.contracts import SimClock
from polyexec.sim.exchange import Exchange, ExchangeConfig
from polyexec.sim.faults import FaultRegistry
from polyexec.sim.rate_limits import RateLimiter
from polyexec.sim.rest_public import public_routes
from polyexec.sim.rest_trading import trading_routes
from polyexec.sim.venue import VENUE_KEY, Venue, error_middleware, fault_middleware
from polyexec.sim.ws_clob import ClobHub

__all__ = ["RunningSimulator", "SimConfig", "Simulator", "run_foreground", "start_simulator"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Simulator settings. ``exchange`` defaults to :class:`ExchangeConfig` with
    ``start_balance``; ``auth_window_s=None`` accepts any L1/L2 timestamp (useful with a fast
    clock); ``rate_limit`` is ``enforce``, ``warn`` or ``off``."""

    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = 0
    window_seconds: int = 900
    assets: tuple[str, ...] = ("btc", "eth")
    start_balance: Decimal = Decimal(1000)
    clock_speed: float = 1.0
    clock_start: float | None = None
    exchange: ExchangeConfig | None = None
    auth_window_s: float | None = 60.0
    taker_delay_ms: int = 50
    allow_eoa: bool = True
    rate_limit: str = "enforce"
    ws_idle_timeout_s: float | None = 30.0
    process_interval_s: float = 0.02
    driver: bool = True
    driver_options: dict[str, Any] = field(default_factory=dict)


class Simulator:
    """Every part of the simulator, wired together (no sockets until the app runs)."""

    def __init__(self, config: SimConfig | None = None, *, clock: SimClock | None = None) -> None:
        self.config = config or SimConfig()
        cfg = self.config
        self.clock = clock or SimClock(speed=cfg.clock_speed, start=cfg.clock_start)
        self.faults = FaultRegistry(self.clock.now, seed=cfg.seed + 1)
        exchange_config = cfg.exchange or ExchangeConfig(start_balance=cfg.start_balance)
        self.exchange = Exchange(
            self.clock,
            exchange_config,
            seed=cfg.seed,
            ghost_rate=lambda: self.faults.ghost_fill_rate() or exchange_config.failed_fraction,
        )
        self.keys = ApiKeyStore(cfg.seed)
        self.venue = Venue(
            clock=self.clock,
            exchange=self.exchange,
            keys=self.keys,
            faults=self.faults,
            limiter=RateLimiter(self.clock.now, cfg.rate_limit),
            auth_window_s=cfg.auth_window_s,
            taker_delay_ms=cfg.taker_delay_ms,
            allow_eoa=cfg.allow_eoa,
        )
        self.hub = ClobHub(
            self.exchange, self.keys, self.faults, self.clock, idle_timeout_s=cfg.ws_idle_timeout_s
        )
        self.driver: Any = None
        self._processor: asyncio.Task[None] | None = None

    def _make_driver(self) -> Any:
        from polyexec.sim.driver import MarketDriver  # the driver is optional: import lazily

        cfg = self.config
        return MarketDriver(
            self.exchange,
            self.clock,
            self.faults,
            assets=cfg.assets,
            seed=cfg.seed,
            window_seconds=cfg.window_seconds,
            **cfg.driver_options,
        )

    def create_app(self) -> web.Application:
        """The aiohttp application: every route, middleware and lifecycle hook."""
        app = web.Application(middlewares=[loopback_only, error_middleware, fault_middleware])
        app[VENUE_KEY] = self.venue
        app.add_routes(public_routes())
        app.add_routes(trading_routes())
        app.add_routes(admin_routes())
        app.router.add_get("/ws/market", self.hub.market_handler)
        app.router.add_get("/ws/user", self.hub.user_handler)
        if self.config.driver:
            self.driver = self._make_driver()
            self.driver.register(app)
            app[DRIVER_SHUTDOWN_KEY] = self.driver.binance_server_shutdown
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        self._processor = asyncio.create_task(self._process_loop(), name="sim-exchange-timers")

    async def _on_shutdown(self, _app: web.Application) -> None:
        await self.hub.close_all()

    async def _on_cleanup(self, _app: web.Application) -> None:
        if self._processor is not None:
            self._processor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._processor
        if self.driver is not None:
            await self.driver.stop()

    async def _process_loop(self) -> None:
        while True:
            try:
                self.exchange.process_due()
            except Exception:  # a bug in one timer must not stop settlement for good
                _log.exception("simulator: processing due exchange work failed")
            await asyncio.sleep(self.config.process_interval_s)


@dataclass(slots=True)
class RunningSimulator:
    """A simulator serving on ``host:port``; ``await stop()`` when done."""

    simulator: Simulator
    runner: web.AppRunner
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def clob_host(self) -> str:
        return self.base_url

    @property
    def clob_ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    @property
    def gamma_host(self) -> str:
        return f"{self.base_url}/gamma"

    @property
    def binance_ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/binance"

    @property
    def rtds_ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/rtds"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}/sim"

    def env(self) -> dict[str, str]:
        """The environment variables that point a client at this simulator."""
        return {
            "CLOB_HOST": self.clob_host,
            "CLOB_WS_URL": self.clob_ws_url,
            "GAMMA_HOST": self.gamma_host,
            "BINANCE_WS_URL": self.binance_ws_url,
            "RTDS_WS_URL": self.rtds_ws_url,
        }

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_simulator(
    config: SimConfig | None = None, *, clock: SimClock | None = None
) -> RunningSimulator:
    """Start a simulator in the running event loop. ``port=0`` picks a free port."""
    cfg = config or SimConfig(port=0)
    simulator = Simulator(cfg, clock=clock)
    runner = web.AppRunner(simulator.create_app(), handle_signals=False, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET6 if ":" in cfg.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((cfg.host, cfg.port))
        site = web.SockSite(runner, sock)
        await site.start()
    except BaseException:
        sock.close()
        await runner.cleanup()
        raise
    port = int(sock.getsockname()[1])
    return RunningSimulator(simulator, runner, cfg.host, port)


def describe(running: RunningSimulator) -> str:
    """What ``polyexec sim`` prints: the URLs and the environment to export."""
    lines = [
        f"polyexec simulator listening on {running.base_url} (seed {running.simulator.config.seed})",
        f"  CLOB REST   {running.clob_host}",
        f"  CLOB WS     {running.clob_ws_url}/market  {running.clob_ws_url}/user",
        f"  Gamma       {running.gamma_host}",
        f"  Binance WS  {running.binance_ws_url}/stream?streams=btcusdt@trade",
        f"  RTDS        {running.rtds_ws_url}",
        f"  Admin       {running.admin_url}/status",
        "",
        "Point a client at it with:",
    ]
    lines += [f"  export {name}={value}" for name, value in running.env().items()]
    lines += ["", "Ctrl-C stops it."]
    return "\n".join(lines)


async def _serve_until_stopped(config: SimConfig) -> None:
    running = await start_simulator(config)
    print(describe(running), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Event loops without signal support (Windows) raise NotImplementedError: Ctrl-C still
        # ends the run through KeyboardInterrupt there.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        print("polyexec simulator stopping", flush=True)
        await running.stop()


def run_foreground(config: SimConfig) -> int:
    """Run the simulator until SIGINT/SIGTERM; returns the process exit code."""
    try:
        asyncio.run(_serve_until_stopped(config))
    except OSError as exc:
        print(f"polyexec sim: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    return 0
