"""The Binance feed: trades and top of book of the configured assets, without gaps, 24/7.

:class:`BinanceFeed` reads the combined streams ``<symbol>@trade`` and ``<symbol>@bookTicker``
of every asset (``btc`` → ``btcusdt``) from one URL,
``{base_url}/stream?streams=btcusdt@trade/btcusdt@bookTicker/…``, and hands
:class:`~polyexec.core.events.BinanceTrade` and :class:`~polyexec.core.events.BinanceBookTicker`
events to ``sink``. What it adds to the shared runner
(:class:`~polyexec.venues.ws_connection.ReconnectingWebSocket`):

* **Staleness.** BTC trades and book tickers arrive many times a second: ``stale_after_s``
  (5 s) without a frame means a dead socket, whatever the keepalive pings say (docs §2.3).
  Protocol-level pings stay on (Binance requires the pong; websockets answers its pings by
  itself); there is no text ping.
* **Rotation before the 24-hour limit, make-before-break.** Binance closes every connection
  at 24 h. ``rotate_after_s`` (23 h 50 min) after a connection opened, a second connection
  ("leg") is opened beside it. The new leg becomes the active one when it delivers its first
  message; the old leg keeps feeding the sink until it has caught up with the new one (for
  every symbol it has received the first trade id the new leg received) or for at most
  ``overlap_timeout_s``, then it is closed. Across the overlap, trades are de-duplicated by
  trade id and book tickers by update id (a ticker older than the last one delivered is
  dropped), so the sink sees neither a gap nor a duplicate.
* **serverShutdown.** The event means this server goes away soon: the feed starts the same
  make-before-break switch at once instead of waiting for the close.
* **Refused handshakes** (HTTP 429/418/403, ``Retry-After``) wait ``policy.rejected_delay_s``
  or the server's ``Retry-After``, whichever is longer, and are counted in
  ``stats.handshake_rejections`` (the runner does this).
* **Counters.** ``stats`` (a :class:`~polyexec.venues.feed_stats.FeedStats`) counts frames,
  decoding errors by kind, connects, reconnects (rotations included), stale reconnects,
  handshake refusals and processing latency across every leg; :meth:`BinanceFeed.status` adds
  the rotation, switch-over, shutdown and de-duplication counters.

Usage::

    feed = BinanceFeed(settings.binance_ws_url, settings.market_assets, sink=tick_processor.on_event)
    task = asyncio.create_task(feed.run())     # until cancelled
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final

from polyexec.core.events import BinanceBookTicker, BinanceTrade, FeedEvent
from polyexec.logging_setup import get_logger
from polyexec.venues.binance_messages import (
    BinanceMessageError,
    ControlReply,
    ServerShutdown,
    binance_symbol,
    combined_stream_url,
    decode_binance_frame,
)
from polyexec.venues.feed_stats import FeedStats
from polyexec.venues.ws_connection import ReconnectingWebSocket, ReconnectPolicy, WebSocketLink

__all__ = [
    "DEFAULT_OVERLAP_TIMEOUT_S",
    "DEFAULT_ROTATE_AFTER_S",
    "DEFAULT_STALE_AFTER_S",
    "BinanceFeed",
    "EventSink",
]

_log = get_logger(module=__name__)

EventSink = Callable[[FeedEvent], None]
"""Where decoded events go: synchronous and cheap (the tick processor)."""

DEFAULT_STALE_AFTER_S: Final = 5.0
DEFAULT_ROTATE_AFTER_S: Final = 23 * 3600.0 + 50 * 60.0
"""Ten minutes before Binance's hard 24-hour connection limit."""
DEFAULT_OVERLAP_TIMEOUT_S: Final = 5.0
_RECENT_TRADE_IDS: Final = 4096
"""Trade ids remembered per symbol for de-duplication (minutes of BTC trades)."""


class _RecentIds:
    """The last trade ids delivered for one symbol: ``add`` says whether an id is new.

    Ids older than everything remembered (at or below the highest id evicted) count as seen:
    a trade that old is stale whether or not it was delivered."""

    __slots__ = ("_floor", "_ids", "_order")

    def __init__(self) -> None:
        self._ids: set[int] = set()
        self._order: deque[int] = deque()
        self._floor = -1

    def add(self, trade_id: int) -> bool:
        if trade_id <= self._floor or trade_id in self._ids:
            return False
        self._ids.add(trade_id)
        self._order.append(trade_id)
        if len(self._order) > _RECENT_TRADE_IDS:
            evicted = self._order.popleft()
            self._ids.discard(evicted)
            self._floor = max(self._floor, evicted)
        return True


class _Leg:
    """One connection slot of the feed: its own runner (own reconnects, own staleness clock)
    and what the make-before-break switch needs to know about its current connection."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.runner: ReconnectingWebSocket | None = None
        self.task: asyncio.Task[None] | None = None
        self.opened_at: float | None = None
        self.delivered = False
        self.retired = False
        self.first_trade_id: dict[str, int] = {}
        self.max_trade_id: dict[str, int] = {}

    def reset_connection(self, opened_at: float | None) -> None:
        self.opened_at = opened_at
        self.delivered = False
        self.first_trade_id.clear()
        self.max_trade_id.clear()


class _LegProtocol:
    """The :class:`~polyexec.venues.ws_connection.FeedProtocol` of one leg: forwards to the feed."""

    def __init__(self, feed: BinanceFeed, leg: _Leg) -> None:
        self._feed = feed
        self._leg = leg

    async def on_open(self, link: WebSocketLink) -> None:
        # The combined-stream URL carries the subscriptions: nothing to send.
        self._feed._leg_opened(self._leg)

    def on_message(self, data: str | bytes, received_at: float) -> None:
        self._feed._leg_message(self._leg, data, received_at)

    def on_close(self, reason: str) -> None:
        self._feed._leg_closed(self._leg, reason)

    def stale_after(self) -> float | None:
        return self._feed.stale_after_s


class BinanceFeed:
    """Binance trades and book tickers of ``assets`` into ``sink``, until :meth:`run` is cancelled.

    ``base_url`` is ``BINANCE_WS_URL`` (``wss://data-stream.binance.vision``, or the simulator's
    ``ws://127.0.0.1:P/binance``). ``clock`` is wall time (Unix seconds: stamps book tickers);
    ``monotonic`` times staleness, rotation and the overlap. Tests pass a short
    ``rotate_after_s`` and a fast ``policy``.
    """

    def __init__(
        self,
        base_url: str,
        assets: Iterable[str],
        sink: EventSink,
        *,
        stale_after_s: float | None = DEFAULT_STALE_AFTER_S,
        rotate_after_s: float = DEFAULT_ROTATE_AFTER_S,
        overlap_timeout_s: float = DEFAULT_OVERLAP_TIMEOUT_S,
        policy: ReconnectPolicy | None = None,
        ws_ping_interval_s: float | None = 20.0,
        name: str = "binance",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        asset_list = list(assets)
        self.url = combined_stream_url(base_url, asset_list)
        if stale_after_s is not None and not stale_after_s > 0:
            raise ValueError(f"stale_after_s must be positive or None (got {stale_after_s})")
        if not rotate_after_s > 0:
            raise ValueError(f"rotate_after_s must be positive (got {rotate_after_s})")
        if not overlap_timeout_s >= 0:
            raise ValueError(f"overlap_timeout_s must not be negative (got {overlap_timeout_s})")
        self.symbols: tuple[str, ...] = tuple(dict.fromkeys(binance_symbol(a) for a in asset_list))
        self.stale_after_s = stale_after_s
        self.rotate_after_s = rotate_after_s
        self.overlap_timeout_s = overlap_timeout_s
        self.policy = policy or ReconnectPolicy()
        self._ws_ping_interval_s = ws_ping_interval_s
        self._sink = sink
        self._clock = clock
        self._monotonic = monotonic
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._stats = FeedStats(name)
        self._recent_ids = {symbol: _RecentIds() for symbol in self.symbols}
        self._last_ticker_id: dict[str, int] = {}
        self._legs_started = 0
        self._active: _Leg | None = None
        self._candidate: _Leg | None = None
        self._retiring: _Leg | None = None
        self._standalone: _Leg | None = None  # handle_frame's connection while not running
        self._retire_deadline = 0.0
        self._rotation_request: str | None = None
        self._retired_rejections = 0
        self._ended_tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        self.rotations = 0
        """Switches started because a connection reached ``rotate_after_s``."""
        self.switchovers = 0
        """Times a new leg took over from an old one (rotations and server shutdowns)."""
        self.server_shutdowns = 0
        self.duplicates_dropped = 0
        self.stale_tickers_dropped = 0
        self.control_replies = 0

    # ------------------------------------------------------------------ public
    @property
    def stats(self) -> FeedStats:
        """The feed's counters, across every leg it opened."""
        live = sum(leg.runner.stats.handshake_rejections for leg in self._live_legs() if leg.runner)
        self._stats.handshake_rejections = self._retired_rejections + live
        return self._stats

    @property
    def connected(self) -> bool:
        return any(leg.opened_at is not None for leg in self._live_legs())

    def status(self) -> dict[str, object]:
        """Counters and connection state as plain JSON-ready values."""
        now = self._monotonic()
        active = self._active
        age = None if active is None or active.opened_at is None else round(now - active.opened_at, 3)
        return {
            **self.stats.snapshot(now),
            "url": self.url,
            "legs": len(self._live_legs()),
            "connection_age_s": age,
            "rotate_after_s": self.rotate_after_s,
            "rotations": self.rotations,
            "switchovers": self.switchovers,
            "server_shutdowns": self.server_shutdowns,
            "duplicates_dropped": self.duplicates_dropped,
            "stale_tickers_dropped": self.stale_tickers_dropped,
            "control_replies": self.control_replies,
        }

    def handle_frame(self, frame: str | bytes, received_at: float) -> None:
        """Process one frame exactly as the active connection processes what it receives at
        ``received_at`` (the feed's ``monotonic`` clock): decode, count, de-duplicate and hand
        the event to the sink, synchronously. For replays and benchmarks of the feed's hot path
        (``scripts/bench_tick_to_order.py``); a feed that is not running treats the frame as
        coming from a standalone connection. Never raises for what the frame contains."""
        leg = self._active
        if leg is None:
            leg = self._standalone
            if leg is None:
                leg = self._standalone = _Leg(0)
        self._leg_message(leg, frame, received_at)

    async def run(self) -> None:
        """Connect, deliver, rotate and reconnect until cancelled (never raises otherwise)."""
        self._wake = asyncio.Event()
        self._active = self._start_leg()
        try:
            while True:
                self._wake.clear()
                timeout = self._supervise()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                await self._reap()
        finally:
            for leg in self._live_legs():
                self._retire(leg, "feed stopped")
            self._active = None
            tasks, self._ended_tasks = self._ended_tasks, []
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ legs
    def _live_legs(self) -> list[_Leg]:
        return [leg for leg in (self._active, self._candidate, self._retiring) if leg is not None]

    def _start_leg(self) -> _Leg:
        self._legs_started += 1
        leg = _Leg(self._legs_started)
        leg.runner = ReconnectingWebSocket(
            self.url,
            _LegProtocol(self, leg),
            stats=FeedStats(f"{self._stats.name}#{leg.number}"),
            policy=self.policy,
            text_ping=None,
            ws_ping_interval_s=self._ws_ping_interval_s,
            clock=self._monotonic,
            rng=self._rng,
        )
        leg.task = asyncio.create_task(leg.runner.run(), name=f"{self._stats.name}-leg-{leg.number}")
        leg.task.add_done_callback(lambda _task: self._notify())  # a leg that ends is news
        _log.info("binance_leg_started", feed=self._stats.name, leg=leg.number)
        return leg

    def _retire(self, leg: _Leg, reason: str) -> None:
        """Close ``leg`` for good: its socket is aborted now and its runner cancelled."""
        if leg.retired:
            return
        leg.retired = True
        if leg is self._retiring:
            self._retiring = None
        if leg is self._candidate:
            self._candidate = None
        if leg.opened_at is not None:
            leg.reset_connection(None)
            self._record_disconnect(reason)
        runner, task = leg.runner, leg.task
        if runner is not None:
            self._retired_rejections += runner.stats.handshake_rejections
            # Abort the socket now: the cancelled task only runs its handler on its next turn.
            runner.force_reconnect(reason)
        if task is not None:
            task.cancel()
            self._ended_tasks.append(task)
        _log.info("binance_leg_retired", feed=self._stats.name, leg=leg.number, reason=reason)
        self._notify()

    def _supervise(self) -> float | None:
        """Do what is due (replace a crashed leg, end an overlap, start a rotation); return the
        seconds until the next deadline (None: wait for news)."""
        now = self._monotonic()
        for leg in self._live_legs():
            if leg.task is not None and leg.task.done():
                # The runner never returns on its own: a done task is a bug, not a state.
                self._stats.record_error("leg_crashed")
                _log.error("binance_leg_crashed", feed=self._stats.name, leg=leg.number)
                was_active = leg is self._active
                self._retire(leg, "leg crashed")
                if was_active:
                    self._active = self._candidate or self._start_leg()
                    self._candidate = None
        if self._retiring is not None and now >= self._retire_deadline:
            self._retire(self._retiring, "rotated (overlap timeout)")
        active = self._active
        if active is None:
            return None
        if self._candidate is None:
            reason = self._rotation_request
            if (
                reason is None
                and active.opened_at is not None
                and now - active.opened_at >= self.rotate_after_s
            ):
                reason = "rotation"
                self.rotations += 1
            if reason is not None:
                self._rotation_request = None
                self._candidate = self._start_leg()
                _log.info("binance_switch_started", feed=self._stats.name, reason=reason)
        deadlines: list[float] = []
        if self._retiring is not None:
            deadlines.append(self._retire_deadline - now)
        if self._candidate is None and active.opened_at is not None:
            deadlines.append(active.opened_at + self.rotate_after_s - now)
        return max(0.0, min(deadlines)) if deadlines else None

    async def _reap(self) -> None:
        done = [task for task in self._ended_tasks if task.done()]
        if done:
            self._ended_tasks = [task for task in self._ended_tasks if not task.done()]
            await asyncio.gather(*done, return_exceptions=True)

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _record_disconnect(self, reason: str) -> None:
        self._stats.record_disconnect(reason, stale=reason.startswith("stale"))
        # Another leg may still be connected: the feed as a whole is not down.
        opened = [leg.opened_at for leg in self._live_legs() if leg.opened_at is not None]
        self._stats.connected_at = max(opened) if opened else None

    # ------------------------------------------------------------------ leg callbacks
    def _leg_opened(self, leg: _Leg) -> None:
        if leg.retired:
            return
        now = self._monotonic()
        leg.reset_connection(now)
        self._stats.record_connect(now)
        self._notify()

    def _leg_closed(self, leg: _Leg, reason: str) -> None:
        if leg.retired:
            return
        was_open = leg.opened_at is not None
        leg.reset_connection(None)
        if was_open:
            self._record_disconnect(reason)
        if leg is self._retiring:
            self._retire(leg, reason)  # its successor is already delivering
        self._notify()

    def _leg_message(self, leg: _Leg, frame: str | bytes, received_at: float) -> None:
        if leg.retired:
            return
        stats = self._stats
        stats.record_message(received_at)
        try:
            message = decode_binance_frame(frame, int(self._clock() * 1000))
        except BinanceMessageError as exc:
            stats.record_error(exc.kind)
            _log.debug("binance_frame_skipped", feed=stats.name, kind=exc.kind, problem=str(exc))
            return
        if isinstance(message, BinanceTrade):
            self._on_trade(leg, message)
        elif isinstance(message, BinanceBookTicker):
            self._on_book_ticker(leg, message)
        elif isinstance(message, ServerShutdown):
            self._on_server_shutdown(leg)
        elif isinstance(message, ControlReply):
            self.control_replies += 1
            if message.error:
                stats.record_error("control_error")
        stats.record_latency(self._monotonic() - received_at)

    def _on_trade(self, leg: _Leg, trade: BinanceTrade) -> None:
        symbol = trade.symbol
        recent = self._recent_ids.get(symbol)
        if recent is None:
            self._stats.record_error("unexpected_symbol")
            return
        leg.first_trade_id.setdefault(symbol, trade.trade_id)
        if trade.trade_id > leg.max_trade_id.get(symbol, -1):
            leg.max_trade_id[symbol] = trade.trade_id
        self._first_data(leg)
        if recent.add(trade.trade_id):
            self._deliver(trade)
        else:
            self.duplicates_dropped += 1
        if self._retiring is not None:
            self._check_caught_up()

    def _on_book_ticker(self, leg: _Leg, ticker: BinanceBookTicker) -> None:
        if ticker.symbol not in self._recent_ids:
            self._stats.record_error("unexpected_symbol")
            return
        self._first_data(leg)
        last = self._last_ticker_id.get(ticker.symbol)
        # Only while two legs overlap can an older ticker arrive after a newer one; otherwise
        # deliver everything, so an update-id reset on Binance's side cannot blind the feed.
        if last is not None and ticker.update_id <= last and self._retiring is not None:
            self.stale_tickers_dropped += 1
            return
        self._last_ticker_id[ticker.symbol] = ticker.update_id
        self._deliver(ticker)

    def _on_server_shutdown(self, leg: _Leg) -> None:
        self.server_shutdowns += 1
        _log.warning("binance_server_shutdown", feed=self._stats.name, leg=leg.number)
        if leg is self._active:
            self._rotation_request = "server_shutdown"
            self._notify()
        elif leg is self._candidate and leg.runner is not None:
            # The new connection landed on a server that is leaving: try again.
            leg.runner.force_reconnect("server shutdown")

    def _first_data(self, leg: _Leg) -> None:
        if leg.delivered:
            return
        leg.delivered = True
        if leg is not self._candidate:
            return
        # Make-before-break: the new connection delivers, so it takes over; the old one stays
        # until it has caught up (no gap), then is closed.
        previous = self._active
        self._active, self._candidate = leg, None
        # A serverShutdown that came while this leg was connecting asked for this very switch.
        self._rotation_request = None
        self.switchovers += 1
        if self._retiring is not None:
            self._retire(self._retiring, "rotated (superseded)")
        if previous is not None:
            self._retiring = previous
            self._retire_deadline = self._monotonic() + self.overlap_timeout_s
        _log.info(
            "binance_switched_over",
            feed=self._stats.name,
            leg=leg.number,
            previous=None if previous is None else previous.number,
        )
        self._check_caught_up()
        self._notify()

    def _check_caught_up(self) -> None:
        old, new = self._retiring, self._active
        if old is None or new is None:
            return
        for symbol in self.symbols:
            first = new.first_trade_id.get(symbol)
            if first is None or old.max_trade_id.get(symbol, -1) < first:
                return
        self._retire(old, "rotated")

    def _deliver(self, event: FeedEvent) -> None:
        try:
            self._sink(event)
        except Exception as exc:  # a consumer bug must not take the feed down
            self._stats.record_error("sink_failed")
            _log.error("binance_sink_failed", feed=self._stats.name, error=repr(exc))
