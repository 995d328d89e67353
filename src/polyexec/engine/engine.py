"""The execution engine: the parts of polyexec composed into one trading daemon on one event loop.

:class:`Engine` owns a run from start to stop::

    engine = Engine(settings, EngineOptions(mode=EngineMode.PAPER, duration_s=120))
    exit_code = await engine.run()           # until the duration ends or request_stop()

What runs (``engine_parts.build_parts`` builds the pieces from the settings):

* **Feeds**, each a task that reconnects by itself: the Polymarket market channel (books), the
  Binance trade streams (the leading price), RTDS (the Chainlink prices that settle the windows)
  and, when real orders go out (``live``), the user channel of our orders and trades plus the
  venue heartbeat (its dead-man switch cancels everything if polyexec dies).
* **Market discovery** (Gamma + CLOB market info): every window found is registered with the
  :class:`~polyexec.engine.window_lifecycle.WindowLifecycle`, the portfolio and the tick
  processor, and its tokens are subscribed ahead of its start.
* **The decision path.** Every feed event goes to the :class:`~polyexec.engine.tick_processor.
  TickProcessor` synchronously; when it says a decision pass is due, the engine schedules one
  pass with ``loop.call_soon`` (at most one pending: events that arrive before it runs are
  coalesced into it). A pass asks the strategies in priority order, sends each proposal through
  the risk manager and hands the approved ones to the :class:`~polyexec.engine.order_manager.
  OrderManager`, which signs and registers them synchronously and sends them in the background.
  Only one pass runs at a time, so strategies never race for capital or for one market.
* **Housekeeping**, every ``housekeeping_interval_s``: the engine's health (RUNNING ↔ PAUSED),
  the window lifecycle (stop opening, cancel resting quotes, settle on the venue's resolution,
  forget, unsubscribe), the account's equity for the drawdown breaker, the console status line.

Modes (:class:`EngineMode`): ``paper`` fills orders inside the process against the live books
(:class:`~polyexec.venues.paper_venue.PaperVenue`, a throwaway signing key, never the account's);
``live`` sends real signed orders; ``dry-run`` is live without sending: it connects, decides and
logs each order it would have sent (:class:`~polyexec.engine.dry_run_venue.DryRunVenue`).

New orders go out only while the engine is RUNNING and, per market, while the lifecycle has the
window OPEN, both books are trusted, the asset's Binance price is fresh and (live) the heartbeat
and the user channel are healthy. Cancels always go out. On stop (``request_stop``, SIGTERM,
Ctrl-C or the end of ``duration_s``) the engine stops deciding, cancels every open order,
confirms none is left, prints the PnL summary and closes its connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, TextIO

from polyexec.config import Settings
from polyexec.core.events import FeedEvent
from polyexec.core.models import CancelIntent, CancelScope, Market, OrderIntent, TimestampMs
from polyexec.core.pnl_report import snapshot as pnl_snapshot
from polyexec.core.pnl_report import summary_text
from polyexec.engine.engine_parts import EngineMode, EngineParts, build_parts
from polyexec.engine.engine_state import EngineState, EngineStateMachine
from polyexec.engine.window_lifecycle import (
    AwaitResolution,
    CancelResting,
    Forget,
    LifecycleAction,
    Roll,
    Settle,
    StopOpening,
)
from polyexec.logging_setup import get_logger
from polyexec.ops.console import status_line
from polyexec.venues.market_discovery import DiscoveryChange
from polyexec.venues.paper_fills import PaperConfig

__all__ = ["Engine", "EngineMode", "EngineOptions"]  # EngineMode is defined in engine_parts

_log = get_logger(component="engine")

_SUBSCRIBE_LEAD_MS: Final = 2_000
"""A window's books are subscribed this long before it starts, so its snapshot is in at the start."""
_BINANCE_FRESH_MS: Final = 10_000
"""A Binance price older than this is stale: no new orders on that asset's markets."""


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """How one run behaves. ``duration_s``: stop after this long (``None``: until asked).
    ``window_seconds``: the markets' window length (900 on the venue; shorter on the simulator).
    ``status_interval_s``: the console status line's period. ``startup_timeout_s``: how long the
    start waits for feeds (and heartbeat) to be healthy before it runs PAUSED instead.
    ``shutdown_timeout_s``: how long the stop may spend confirming that no order is left."""

    mode: EngineMode = EngineMode.PAPER
    duration_s: float | None = None
    window_seconds: int = 900
    status_interval_s: float = 300.0
    housekeeping_interval_s: float = 0.25
    discovery_interval_s: float = 5.0
    startup_timeout_s: float = 15.0
    shutdown_timeout_s: float = 15.0
    book_silence_s: float = 5.0
    """A subscribed book silent this long is a dead socket (the market feed reconnects). Five
    seconds suits the venue, whose 15-minute books move several times a second; the simulator's
    makers re-quote only when their ladder changes, so ``--sim`` allows longer."""
    paper: PaperConfig = field(default_factory=PaperConfig)
    console: TextIO | None = None
    """Where the status line and the PnL summary go (``None``: standard output)."""

    def __post_init__(self) -> None:
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"duration_s must be positive (got {self.duration_s})")
        for name in ("status_interval_s", "housekeeping_interval_s", "discovery_interval_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive (got {getattr(self, name)})")
        if self.window_seconds < 1:
            raise ValueError(f"window_seconds must be positive (got {self.window_seconds})")


class Engine:
    """One run of the trading daemon; see the module documentation."""

    def __init__(self, settings: Settings, options: EngineOptions | None = None) -> None:
        self.settings = settings
        self.options = options or EngineOptions()
        self.machine = EngineStateMachine(created_ms=_wall_ms())
        self.parts: EngineParts | None = None
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._tasks: list[asyncio.Task[Any]] = []
        self._pass_scheduled = False
        self._started_monotonic: float | None = None
        self._next_status_at = 0.0
        self._counters: dict[str, int] = dict.fromkeys(
            (
                "passes",
                "pass_errors",
                "events",
                "user_events",
                "windows_added",
                "windows_settled",
                "lifecycle_errors",
                "housekeeping_errors",
            ),
            0,
        )
        self._settlements: list[dict[str, str]] = []
        self._start_equity: Decimal | None = None
        self._book_markets: set[str] = set()  # condition ids whose books the market feed follows

    # --- control ---------------------------------------------------------------------------

    @property
    def state(self) -> EngineState:
        return self.machine.state

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the run to stop (safe to call from a signal handler, and more than once)."""
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    async def run(self) -> int:
        """Start, trade until the duration ends or a stop is requested, stop cleanly.

        Returns 0 after a clean stop, 1 when the start failed (the reason is logged and printed).
        """
        now = _wall_ms()
        self.machine.transition(EngineState.STARTING, f"start ({self.options.mode})", now_ms=now)
        try:
            await self._start()
        except Exception as exc:
            _log.exception("engine_start_failed")
            self._print(f"polyexec: start failed: {type(exc).__name__}: {exc}")
            self.machine.transition(
                EngineState.ERROR, f"start failed: {type(exc).__name__}", now_ms=_wall_ms()
            )
            await self._shutdown()
            return 1
        try:
            if self.options.duration_s is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.options.duration_s)
                if not self._stop.is_set():
                    self.request_stop(f"--duration {self.options.duration_s:g} s reached")
            else:
                await self._stop.wait()
        finally:
            await self._shutdown()
        return 0

    # --- start -----------------------------------------------------------------------------

    async def _start(self) -> None:
        parts = await build_parts(
            self.settings,
            mode=self.options.mode,
            window_seconds=self.options.window_seconds,
            paper_config=self.options.paper,
            book_silence_s=self.options.book_silence_s,
            on_market_event=self._on_market_event,
            on_reference_event=self._on_reference_event,
            on_user_event=self._on_user_event,
            on_discovery=self._on_discovery,
            submit_gate=self._submit_allowed,
            market_gate=self._tradable,
        )
        self.parts = parts
        self._started_monotonic = time.monotonic()
        # Markets first, so the feeds subscribe to them as they connect.
        await parts.discovery.refresh()
        self._follow_subscriptions(self._now_ms())
        self._spawn("server_clock", parts.session.server_clock.run())
        self._spawn("market_feed", parts.market_feed.run())
        self._spawn("binance_feed", parts.binance_feed.run())
        self._spawn("rtds_feed", parts.rtds_feed.run())
        self._spawn("discovery", parts.discovery.run(self.options.discovery_interval_s))
        self._spawn("order_manager", parts.orders.run())
        if parts.user_feed is not None:
            self._spawn("user_feed", parts.user_feed.run())
        if parts.heartbeat is not None:
            self._spawn("heartbeat", parts.heartbeat.run())
        self._start_equity = await parts.starting_equity()
        await self._wait_until_healthy()
        healthy, why = self._health()
        target = EngineState.RUNNING if healthy else EngineState.PAUSED
        self.machine.transition(
            target, "started" if healthy else f"started, not healthy: {why}", now_ms=self._now_ms()
        )
        _log.info(
            "engine_started", mode=str(self.options.mode), state=str(target), markets=len(parts.lifecycle)
        )
        self._print(f"polyexec {self.options.mode}: {target} ({len(parts.lifecycle)} markets)")
        self._next_status_at = time.monotonic() + self.options.status_interval_s
        self._spawn("housekeeping", self._housekeeping())

    async def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + self.options.startup_timeout_s
        # Health is a property of several feeds with no single event to wait on: poll it briefly.
        while not self._health()[0] and time.monotonic() < deadline and not self._stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    def _spawn(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work, name=f"polyexec-{name}")
        task.add_done_callback(self._task_ended)
        self._tasks.append(task)

    def _task_ended(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            # A feed or loop that dies is a bug: the engine cannot trade on a partial picture.
            _log.error("engine_task_failed", task=task.get_name(), error=repr(error))
            if self.machine.can_transition(EngineState.ERROR):
                self.machine.transition(EngineState.ERROR, f"{task.get_name()} failed", now_ms=self._now_ms())

    # --- events ----------------------------------------------------------------------------

    def _on_market_event(self, event: FeedEvent) -> None:
        parts = self.parts
        if parts is None:
            return
        if parts.paper is not None:
            parts.paper.observe(event)
        self._on_reference_event(event)

    def _on_reference_event(self, event: FeedEvent) -> None:
        parts = self.parts
        if parts is None:
            return
        self._counters["events"] += 1
        if parts.tick.on_event(event, self._now_ms()):
            self._schedule_pass()

    def _on_user_event(self, event: FeedEvent) -> None:
        parts = self.parts
        if parts is None:
            return
        self._counters["user_events"] += 1
        parts.orders.on_user_event(event)
        self._schedule_pass()  # holdings or resting orders changed

    def _schedule_pass(self) -> None:
        if self._pass_scheduled or self._stop.is_set():
            return
        self._pass_scheduled = True
        asyncio.get_running_loop().call_soon(self._run_pass)

    def _run_pass(self) -> None:
        self._pass_scheduled = False
        parts = self.parts
        if (
            parts is None
            or self._stop.is_set()
            or self.state not in (EngineState.RUNNING, EngineState.PAUSED)
        ):
            return
        try:
            parts.tick.run_pass(self._now_ms())
            self._counters["passes"] += 1
        except Exception:
            self._counters["pass_errors"] += 1
            _log.exception("decision_pass_failed")

    # --- gates -----------------------------------------------------------------------------

    def _submit_allowed(self, intent: OrderIntent) -> bool:
        """The last gate before the order manager: no new order unless RUNNING, and no order
        that adds risk on a market that is not tradable now (reducing orders may go out)."""
        if self._stop.is_set() or not self.state.accepts_new_orders:
            return False
        return intent.reduces_position or self._tradable(intent.condition_id, self._now_ms())

    def _tradable(self, condition_id: str, now_ms: int) -> bool:
        parts = self.parts
        if parts is None or not self.state.accepts_new_orders or self._stop.is_set():
            return False
        if not parts.lifecycle.tradable_for_new_orders(condition_id, now_ms):
            return False
        market = parts.lifecycle.market(condition_id)
        for token in (market.up_token_id, market.down_token_id):
            book = parts.market_feed.book(token)
            if book is None or not book.trusted:
                return False
        last = parts.reference.binance_last(market.asset)
        return last is not None and now_ms - last.trade_time_ms <= _BINANCE_FRESH_MS

    def _health(self) -> tuple[bool, str]:
        """Whether the engine as a whole may trade, and if not, why (for PAUSED)."""
        parts = self.parts
        if parts is None:
            return False, "not started"
        problems = []
        if not parts.market_feed.connected:
            problems.append("market channel disconnected")
        if not parts.binance_feed.connected:
            problems.append("Binance disconnected")
        if parts.heartbeat is not None and not parts.heartbeat.healthy:
            problems.append("heartbeat unhealthy")
        if parts.user_feed is not None and not parts.user_feed.synced:
            problems.append("user channel not synced")
        return (not problems, ", ".join(problems))

    # --- discovery and the window lifecycle ------------------------------------------------

    def _on_discovery(self, change: DiscoveryChange) -> None:
        parts = self.parts
        if parts is None:
            return
        now = self._now_ms()
        for market in change.added:
            self._add_market(market, now)
        for info in change.updated:
            if info.price_to_beat is not None and info.condition_id in parts.lifecycle:
                parts.tick.set_strike(info.condition_id, info.price_to_beat)
        for resolution in change.resolutions:
            if resolution.condition_id not in parts.lifecycle:
                continue
            try:
                parts.lifecycle.resolve(resolution.condition_id, resolution.winner, now)
            except Exception as exc:  # a conflicting or too-early resolution: a person must look
                self._counters["lifecycle_errors"] += 1
                _log.error("resolution_refused", condition_id=resolution.condition_id, error=str(exc))
        for market in change.unresolved:
            _log.warning("market_unresolved", slug=market.slug, condition_id=market.condition_id)

    def _add_market(self, market: Market, now_ms: TimestampMs) -> None:
        parts = self.parts
        assert parts is not None
        try:
            schedule = parts.lifecycle.add(market)
        except ValueError as exc:
            self._counters["lifecycle_errors"] += 1
            _log.error("market_refused", slug=market.slug, error=str(exc))
            return
        if schedule is None:
            return  # forgotten already (listed again after it ended)
        if schedule.warning is not None:
            _log.warning("market_schedule_warning", slug=market.slug, warning=str(schedule.warning))
        parts.markets.add(market)
        parts.portfolio.register_market(market, now_ms)
        listing = parts.discovery.listing(market.condition_id)
        strike = None if listing is None else listing.status.price_to_beat
        parts.tick.track(market, strike=strike)
        self._counters["windows_added"] += 1
        if parts.user_feed is not None:
            self._spawn_io("subscribe_user", parts.user_feed.subscribe([market.condition_id]))
        _log.info("market_added", slug=market.slug, window_start=market.window_start)

    def _follow_subscriptions(self, now_ms: TimestampMs) -> None:
        """Keep the market channel on the windows that are running (and the next one just
        before it starts). A book outside its window barely changes, and the feed's per-token
        silence watchdog would take that quiet for a dead socket and reconnect again and again."""
        parts = self.parts
        assert parts is not None
        for condition_id in parts.lifecycle:
            market = parts.lifecycle.market(condition_id)
            start_ms, end_ms = market.window_start * 1000, market.window_end * 1000
            running = start_ms - _SUBSCRIBE_LEAD_MS <= now_ms < end_ms
            if running and condition_id not in self._book_markets:
                self._book_markets.add(condition_id)
                tokens = (market.up_token_id, market.down_token_id)
                ticks = dict.fromkeys(tokens, market.tick_size)
                self._spawn_io("subscribe", parts.market_feed.subscribe(tokens, ticks))
            elif now_ms >= end_ms and condition_id in self._book_markets:
                self._unsubscribe_books(market)

    def _unsubscribe_books(self, market: Market) -> None:
        parts = self.parts
        assert parts is not None
        self._book_markets.discard(market.condition_id)
        tokens = (market.up_token_id, market.down_token_id)
        self._spawn_io("unsubscribe", parts.market_feed.unsubscribe(tokens))

    def _spawn_io(self, name: str, work: Coroutine[Any, Any, Any]) -> None:
        """A short piece of I/O (a subscription): failures are logged, never lost."""
        task = asyncio.create_task(work, name=f"polyexec-{name}")
        task.add_done_callback(_log_failure)

    def _advance_lifecycle(self, now_ms: TimestampMs) -> None:
        parts = self.parts
        assert parts is not None
        for action in parts.lifecycle.advance(now_ms):
            try:
                self._apply_lifecycle(action, now_ms)
            except Exception:
                self._counters["lifecycle_errors"] += 1
                _log.exception("lifecycle_action_failed", action=repr(action))

    def _apply_lifecycle(self, action: LifecycleAction, now_ms: TimestampMs) -> None:
        parts = self.parts
        assert parts is not None
        if isinstance(action, Roll):
            _log.info("window_roll", asset=action.asset, market=action.to_condition_id)
        elif isinstance(action, StopOpening):
            _log.info("window_stop_opening", market=action.condition_id)
        elif isinstance(action, CancelResting):
            intent = CancelIntent(
                CancelScope.MARKET, condition_id=action.condition_id, reason="window closing"
            )
            parts.orders.cancel(intent)
        elif isinstance(action, AwaitResolution):
            _log.info("window_awaiting_resolution", market=action.condition_id)
        elif isinstance(action, Settle):
            if parts.paper is not None:
                parts.paper.settle(action.condition_id, action.winner)
            pnl = parts.orders.settle_market(action.condition_id, action.winner, now_ms)
            self._counters["windows_settled"] += 1
            market = parts.markets.by_condition[action.condition_id]
            self._settlements.append({"slug": market.slug, "winner": str(action.winner), "pnl": str(pnl)})
            del self._settlements[:-50]
            _log.info("window_settled", slug=market.slug, winner=str(action.winner), pnl=str(pnl))
            self._print(f"polyexec: {market.slug} resolved {action.winner}: PnL {_usd(pnl)}")
        elif isinstance(action, Forget):
            self._forget(action.condition_id)

    def _forget(self, condition_id: str) -> None:
        parts = self.parts
        assert parts is not None
        market = parts.markets.market(condition_id)
        parts.tick.untrack(condition_id)
        if market is not None and condition_id in self._book_markets:
            self._unsubscribe_books(market)
        if parts.user_feed is not None:
            self._spawn_io("unsubscribe_user", parts.user_feed.unsubscribe([condition_id]))
        parts.markets.remove(condition_id)

    # --- housekeeping ----------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        while not self._stop.is_set():
            try:
                self._housekeep()
            except Exception:
                self._counters["housekeeping_errors"] += 1
                _log.exception("housekeeping_failed")
            await asyncio.sleep(self.options.housekeeping_interval_s)

    def _housekeep(self) -> None:
        parts = self.parts
        assert parts is not None
        now = self._now_ms()
        self._follow_health(now)
        if parts.paper is not None:
            parts.paper.process_due()
        self._advance_lifecycle(now)
        self._follow_subscriptions(now)
        equity = self._equity()
        if equity is not None:
            parts.risk.update_equity(equity, now)
        if time.monotonic() >= self._next_status_at:
            self._next_status_at = time.monotonic() + self.options.status_interval_s
            self._print(status_line(self.get_status()))
        self._schedule_pass()  # time alone changes decisions (time left in a window)

    def _follow_health(self, now_ms: TimestampMs) -> None:
        healthy, why = self._health()
        state = self.state
        if state is EngineState.RUNNING and not healthy:
            self.machine.transition(EngineState.PAUSED, why, now_ms=now_ms)
            _log.warning("engine_paused", reason=why)
        elif state is EngineState.PAUSED and healthy and not self.machine.operator_hold:
            self.machine.transition(EngineState.RUNNING, "healthy again", now_ms=now_ms)
            _log.info("engine_resumed")

    def _marks(self) -> dict[str, Decimal]:
        """Mid prices of the tokens we hold, for unrealised PnL."""
        parts = self.parts
        assert parts is not None
        marks: dict[str, Decimal] = {}
        for position in parts.portfolio.positions(open_only=True):
            book = parts.market_feed.book(position.token_id)
            mid = None if book is None else book.mid()
            if mid is not None:
                marks[position.token_id] = mid
        return marks

    def _equity(self) -> Decimal | None:
        """Starting equity plus the session's net PnL at mid prices (for the drawdown breaker)."""
        parts = self.parts
        if parts is None or self._start_equity is None:
            return None
        portfolio = parts.portfolio
        net = portfolio.realized_pnl + portfolio.unrealized_pnl(self._marks()) - portfolio.fees_paid
        return max(Decimal(0), self._start_equity + net)

    # --- status ----------------------------------------------------------------------------

    def get_status(self) -> dict[str, Any]:
        """The engine's status as JSON-ready data: uptime, state, trades, PnL, positions, open
        orders, risk and feed health (the status line, ``/status`` and the state file read it)."""
        now = self._now_ms()
        status: dict[str, Any] = {
            "mode": str(self.options.mode),
            "state": str(self.state),
            "uptime_s": 0
            if self._started_monotonic is None
            else round(time.monotonic() - self._started_monotonic),
            "counters": dict(self._counters),
            "settlements": list(self._settlements),
        }
        parts = self.parts
        if parts is None:
            return status
        marks = self._marks()
        pnl = pnl_snapshot(parts.portfolio, marks)
        status.update(
            {
                "pnl": pnl,
                "trades": parts.portfolio.trade_stats().closed,
                "blocked_submits": parts.sink.blocked,
                "open_positions": len(parts.portfolio.positions(open_only=True)),
                "open_orders": len(parts.orders.open_orders()),
                "orders": parts.orders.status(),
                "risk": self.risk_status(),
                "markets": [parts.lifecycle.market(cid).slug for cid in parts.lifecycle],
                "feeds": {
                    "market": parts.market_feed.status(),
                    "binance": parts.binance_feed.status(),
                    "rtds": parts.rtds_feed.status(),
                    **({"user": parts.user_feed.status()} if parts.user_feed is not None else {}),
                },
                "heartbeat": None if parts.heartbeat is None else parts.heartbeat.status(),
                "decisions": parts.tick.status(),
                "now_ms": now,
            }
        )
        return status

    def get_current_tick(self) -> dict[str, object]:
        """The latest prices the engine decides on (per asset and token)."""
        return {} if self.parts is None else self.parts.tick.get_current_tick()

    def risk_status(self) -> dict[str, Any]:
        return {} if self.parts is None else self.parts.risk.status(self._now_ms())

    def pnl_summary(self) -> str:
        if self.parts is None:
            return "=== PnL Summary ===\n(no trading happened)"
        return summary_text(self.parts.portfolio, self._marks())

    # --- stop ------------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        self._stop.set()
        parts = self.parts
        if self.machine.can_transition(EngineState.STOPPING):
            self.machine.transition(
                EngineState.STOPPING, self._stop_reason or "stopping", now_ms=self._now_ms()
            )
        left_open = False
        if parts is not None:
            try:
                await parts.orders.drain(self.options.shutdown_timeout_s / 3)
                if not await parts.orders.cancel_everything(timeout_s=self.options.shutdown_timeout_s):
                    left_open = True
            except Exception:
                left_open = True
                _log.exception("shutdown_cancel_failed")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if parts is not None:
            if parts.paper is not None:
                parts.paper.process_due()
            self._print(status_line(self.get_status()))
            self._print(self.pnl_summary())
            if left_open:
                self._print("polyexec: WARNING: some orders may still be open on the venue: check them")
            await parts.close()
        self.machine.transition(EngineState.STOPPED, self._stop_reason or "stopped", now_ms=self._now_ms())
        _log.info("engine_stopped", reason=self._stop_reason)

    # --- helpers ---------------------------------------------------------------------------

    def _now_ms(self) -> TimestampMs:
        """The venue's clock (Unix ms) once connected, the local one before."""
        parts = self.parts
        return parts.session.server_clock.now_ms() if parts is not None else _wall_ms()

    def _print(self, text: str) -> None:
        stream = self.options.console or sys.stdout
        print(text, file=stream, flush=True)


def _wall_ms() -> TimestampMs:
    return int(time.time() * 1000)


def _usd(amount: Decimal) -> str:
    sign = "-" if amount < 0 else "+"
    return f"{sign}${abs(amount).quantize(Decimal('0.01'))}"


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.warning("engine_io_failed", task=task.get_name(), error=repr(task.exception()))
