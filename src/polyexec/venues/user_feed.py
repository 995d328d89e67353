"""The Polymarket user channel: our orders and trades, deduplicated, in order, with no gaps.

:class:`UserFeed` keeps one authenticated websocket to the user channel (docs §5.2) through the
shared :class:`~polyexec.venues.ws_connection.ReconnectingWebSocket`, decodes every frame with
:mod:`polyexec.venues.user_messages` and hands :class:`~polyexec.core.events.UserOrderEvent` /
:class:`~polyexec.core.events.UserTradeEvent` to a synchronous sink. What it guarantees the sink:

* **Each (trade id, status) at most once, never backwards.** The venue re-sends a trade on every
  status change and may repeat or reorder them. A status is passed on only if it follows the
  last one passed on for that trade (:data:`~polyexec.core.order_state.TRADE_STATUS_SUCCESSORS`:
  MATCHED → MINED → CONFIRMED, RETRYING ↔ MINED, FAILED from any non-final status); a repeat is
  dropped (``duplicate_trades``), a late older status too (``stale_trades``: MATCHED after
  CONFIRMED). A final status contradicting another (FAILED after CONFIRMED) is passed on once and
  counted (``contradicting_trades``): the order state machine flags it, hiding it would be worse.
* **Order events once per distinct content.** An order event whose status, cumulative
  ``size_matched``, sizes and price equal the last one passed on for that order is dropped
  (``duplicate_orders``), so a REST snapshot of a state already seen on the socket is silent.
* **No gap after a reconnect.** The channel does not replay what was missed (docs §7.6). After
  every reconnect (not the first connect) the feed re-subscribes, then calls ``resync`` — the
  caller's function returning order and trade events from REST (:func:`rest_resync_events` builds
  one on the CLOB client; :meth:`UserFeed.use_rest_resync` wires it) — and feeds its results
  through the same deduplication, retrying with backoff until it succeeds. :attr:`UserFeed.synced`
  is false from a disconnect until that resync has succeeded. ``resync_interval_s`` adds a
  periodic resync while connected, the only defence against a socket that froze but still
  answers keepalives (the channel is quiet when we have no orders, so silence proves nothing).
* **Dead sockets are noticed** by keepalives, not by silence: text ``PING`` every
  ``ping_interval_s`` as the venue requires, and websocket protocol pings that must be answered
  within ``keepalive_timeout_s / 2`` (so a dead peer is dropped within ``keepalive_timeout_s``).
  The runner swallows the venue's ``PONG`` replies before a feed sees them, so the protocol ping
  is what measures the peer's liveness.
* **Bounded memory.** A trade is forgotten ``retention_s`` after its last update once final
  (CONFIRMED/FAILED), an order once no longer open; any entry idle for ``max_idle_s``, and the
  oldest beyond ``max_tracked``, go too. A copy arriving after that is passed on again; the
  order registry deduplicates it once more (:mod:`polyexec.core.order_registry`).

Markets are condition ids. :meth:`UserFeed.subscribe` / :meth:`UserFeed.unsubscribe` change them
on the live socket (``{"operation": ...}``) and every (re)connect sends the full set. With no
market at all the subscribe frame omits ``markets`` and the venue sends every market's events
(all of them our own orders, so harmless).

The credentials and the subscribe frame are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol, TypeVar

import orjson

from polyexec.core.events import FeedEvent, UserOrderEvent, UserOrderEventKind, UserTradeEvent
from polyexec.core.models import Side, TradeStatus
from polyexec.core.order_state import TRADE_STATUS_SUCCESSORS, normalise_venue_status
from polyexec.logging_setup import get_logger
from polyexec.venues.auth import ApiCredentials
from polyexec.venues.feed_stats import FeedStats
from polyexec.venues.user_messages import UserEvent, decode_user_frame, rest_order_kind
from polyexec.venues.ws_connection import ReconnectingWebSocket, ReconnectPolicy, WebSocketLink

__all__ = [
    "OPEN_ORDER_STATUSES",
    "ResyncClient",
    "ResyncFunction",
    "UserFeed",
    "VenueOrderView",
    "order_event_from_venue_order",
    "rest_resync_events",
    "user_channel_url",
]

_log = get_logger(module=__name__)

ResyncFunction = Callable[[], Awaitable[Sequence[UserEvent]]]
"""What the feed calls after a reconnect: every order and trade event REST knows of since the
gap began (duplicates of what the socket delivered are fine: the feed drops them)."""

OPEN_ORDER_STATUSES: Final = frozenset({"LIVE", "DELAYED", "UNMATCHED"})
"""Order statuses after which the order may still be working (UNMATCHED: a GTC/GTD rests)."""

_RESYNC_MAX_DELAY_S: Final = 30.0


def user_channel_url(clob_ws_url: str) -> str:
    """The user channel's URL from the CLOB websocket base (``CLOB_WS_URL``, ``…/ws``)."""
    return clob_ws_url.rstrip("/") + "/user"


# --- REST resync --------------------------------------------------------------------------------


class VenueOrderView(Protocol):
    """The fields of a REST order (:class:`polyexec.venues.clob_responses.VenueOrder`) a resync
    turns into an order event."""

    @property
    def order_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def condition_id(self) -> str: ...
    @property
    def token_id(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def price(self) -> Decimal: ...
    @property
    def original_size(self) -> Decimal: ...
    @property
    def size_matched(self) -> Decimal: ...
    @property
    def order_type(self) -> str: ...
    @property
    def created_at_ms(self) -> int: ...


class ResyncClient(Protocol):
    """The part of :class:`polyexec.venues.clob_client.ClobClient` a resync uses."""

    async def get_open_orders(self, *, condition_id: str = "") -> Sequence[VenueOrderView]: ...

    async def get_order(self, order_id: str) -> VenueOrderView | None: ...

    async def get_trades(
        self, *, condition_id: str = "", after_s: int | None = None
    ) -> Sequence[UserTradeEvent]: ...


def order_event_from_venue_order(order: VenueOrderView) -> UserOrderEvent:
    """A REST order snapshot as the order event it stands for (kind from its status, see
    :func:`~polyexec.venues.user_messages.rest_order_kind`; time = its creation time)."""
    status = normalise_venue_status(order.status)
    return UserOrderEvent(
        order_id=order.order_id,
        kind=rest_order_kind(status, order.size_matched),
        condition_id=order.condition_id,
        asset_id=order.token_id,
        side=order.side,
        price=order.price,
        original_size=order.original_size,
        size_matched=order.size_matched,
        status=status,
        timestamp_ms=order.created_at_ms,
        order_type=str(order.order_type).upper(),
    )


async def rest_resync_events(
    client: ResyncClient,
    condition_ids: Iterable[str],
    since_s: int,
    *,
    known_open_order_ids: Iterable[str] = (),
) -> list[UserEvent]:
    """What REST knows that the socket may have missed: the open orders and the trades matched
    after ``since_s`` (Unix seconds, exclusive, as ``/data/trades?after=``) of each market in
    ``condition_ids`` (every market if empty), plus the current state of each order in
    ``known_open_order_ids`` that is no longer open (canceled or filled during the gap: the open
    list cannot show it). Orders first, then trades oldest first. Errors of the client
    (:class:`~polyexec.venues.errors.VenueError`) propagate: the feed retries."""
    markets = list(dict.fromkeys(condition_ids)) or [""]
    orders: dict[str, VenueOrderView] = {}
    trades: list[UserTradeEvent] = []
    for market in markets:
        for order in await client.get_open_orders(condition_id=market):
            orders[order.order_id] = order
        trades.extend(await client.get_trades(condition_id=market, after_s=since_s))
    for order_id in dict.fromkeys(known_open_order_ids):
        if order_id not in orders:
            found = await client.get_order(order_id)
            if found is not None:
                orders[order_id] = found
    events: list[UserEvent] = [order_event_from_venue_order(order) for order in orders.values()]
    trades.sort(key=lambda trade: (trade.match_time_ms, trade.timestamp_ms))
    events.extend(trades)
    return events


# --- deduplication memory -----------------------------------------------------------------------


@dataclass(slots=True)
class _TradeMemory:
    status: TradeStatus
    seen: set[TradeStatus]
    match_time_ms: int
    touched_at: float

    @property
    def settled(self) -> bool:
        return self.status.is_terminal


@dataclass(slots=True)
class _OrderMemory:
    content: tuple[object, ...]
    status: str
    touched_at: float

    @property
    def open(self) -> bool:
        return self.status in OPEN_ORDER_STATUSES


_M = TypeVar("_M", _TradeMemory, _OrderMemory)


def _order_content(event: UserOrderEvent) -> tuple[object, ...]:
    return (
        event.status,
        event.size_matched,
        event.original_size,
        event.price,
        event.kind is UserOrderEventKind.CANCELLATION,
    )


@dataclass(slots=True)
class _Counters:
    trades: int = 0
    orders: int = 0
    duplicate_trades: int = 0
    stale_trades: int = 0
    contradicting_trades: int = 0
    duplicate_orders: int = 0
    resync_runs: int = 0
    resync_failures: int = 0
    resync_events: int = 0
    sink_failures: int = 0
    last_resync_error: str = ""


class UserFeed:
    """The user channel of one API key; see the module documentation.

    ``url`` is the channel's full URL (:func:`user_channel_url`). ``sink`` receives every event
    that survives deduplication, synchronously (an exception from it is counted and logged, the
    feed goes on). ``resync`` (settable later through :meth:`use_rest_resync` or the attribute)
    is called after each reconnect. ``clock`` is monotonic seconds (connection timing, memory
    retention), ``wall_clock`` Unix seconds (the ``since`` of a resync).
    """

    def __init__(
        self,
        url: str,
        credentials: ApiCredentials,
        sink: Callable[[FeedEvent], None],
        *,
        resync: ResyncFunction | None = None,
        policy: ReconnectPolicy | None = None,
        ping_interval_s: float = 10.0,
        keepalive_timeout_s: float = 30.0,
        resync_interval_s: float | None = None,
        resync_retry_s: float = 1.0,
        resync_margin_s: float = 60.0,
        retention_s: float = 3600.0,
        max_idle_s: float = 86_400.0,
        max_tracked: int = 50_000,
        micro_sizes: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        stats: FeedStats | None = None,
    ) -> None:
        if keepalive_timeout_s <= 0 or ping_interval_s <= 0 or resync_retry_s <= 0 or max_tracked < 1:
            raise ValueError(
                "keepalive_timeout_s, ping_interval_s, resync_retry_s and max_tracked must be positive"
            )
        if resync_interval_s is not None and resync_interval_s <= 0:
            raise ValueError(f"resync_interval_s must be positive or None, got {resync_interval_s}")
        self._credentials = credentials
        self._sink = sink
        self.resync: ResyncFunction | None = resync
        self.stats = stats or FeedStats("user")
        self._clock = clock
        self._wall_clock = wall_clock
        self._micro_sizes = micro_sizes
        self._resync_interval_s = resync_interval_s
        self._resync_retry_s = resync_retry_s
        self._resync_margin_s = resync_margin_s
        self._retention_s = retention_s
        self._max_idle_s = max_idle_s
        self._max_tracked = max_tracked
        self._socket = ReconnectingWebSocket(
            url,
            self,
            stats=self.stats,
            policy=policy,
            text_ping="PING",
            ping_interval_s=ping_interval_s,
            ws_ping_interval_s=keepalive_timeout_s / 2,
            clock=clock,
        )
        self._markets: dict[str, None] = {}  # ordered set: the subscription
        self._sent_markets: set[str] = set()  # what the live connection has been told
        self._trades: OrderedDict[str, _TradeMemory] = OrderedDict()
        self._orders: OrderedDict[str, _OrderMemory] = OrderedDict()
        self._counters = _Counters()
        self._opened = 0
        self._synced = False
        self._gap_started_wall: float | None = None
        self._last_resync_started_wall: float | None = None
        self._last_resync_ok_at: float | None = None
        self._resync_wanted = asyncio.Event()

    # ------------------------------------------------------------------ public API
    @property
    def connected(self) -> bool:
        return self._socket.connected

    @property
    def synced(self) -> bool:
        """True while connected with nothing missed: after the first subscription, and after a
        reconnect once the REST resync has succeeded. False during a gap."""
        return self._synced and self._socket.connected

    @property
    def condition_ids(self) -> tuple[str, ...]:
        """The markets subscribed, in the order they were added."""
        return tuple(self._markets)

    def open_order_ids(self) -> list[str]:
        """Orders whose last event said they may still be working (:data:`OPEN_ORDER_STATUSES`)."""
        return [order_id for order_id, memory in self._orders.items() if memory.open]

    def use_rest_resync(self, client: ResyncClient) -> None:
        """Resync over REST with ``client`` after each reconnect (:func:`rest_resync_events` for
        the subscribed markets since :meth:`resync_since_s`, including the orders we saw open)."""

        async def resync() -> list[UserEvent]:
            return await rest_resync_events(
                client, self.condition_ids, self.resync_since_s(), known_open_order_ids=self.open_order_ids()
            )

        self.resync = resync

    def resync_since_s(self) -> int:
        """The ``after`` (Unix seconds) a resync should ask trades from: the start of the current
        gap (or the previous resync), or the match time of the oldest trade not yet final if
        earlier (its later statuses may have been missed), minus ``resync_margin_s`` for clock
        differences with the venue."""
        reference = self._gap_started_wall
        if reference is None:
            reference = self._last_resync_started_wall
        if reference is None:
            reference = self._wall_clock()
        unsettled = [
            m.match_time_ms / 1000 for m in self._trades.values() if not m.settled and m.match_time_ms
        ]
        return max(0, int(min([reference, *unsettled]) - self._resync_margin_s))

    async def subscribe(self, condition_ids: Iterable[str]) -> None:
        """Add markets. Sent at once on a live connection (only those it lacks); every
        (re)connect sends the whole set anyway."""
        new = [cid for cid in dict.fromkeys(condition_ids) if cid and cid not in self._markets]
        self._markets.update(dict.fromkeys(new))
        await self._send_operation("subscribe", [cid for cid in new if cid not in self._sent_markets])

    async def unsubscribe(self, condition_ids: Iterable[str]) -> None:
        """Remove markets (e.g. once a 15-minute window is over and settled)."""
        gone = [cid for cid in dict.fromkeys(condition_ids) if cid in self._markets]
        for cid in gone:
            del self._markets[cid]
        await self._send_operation("unsubscribe", [cid for cid in gone if cid in self._sent_markets])

    def request_resync(self) -> None:
        """Ask for a REST resync now (e.g. the engine suspects a missed event)."""
        self._resync_wanted.set()

    async def run(self) -> None:
        """Connect, read, reconnect and resync until cancelled."""
        helpers = [asyncio.create_task(self._resync_worker(), name="user-feed-resync")]
        if self._resync_interval_s is not None:
            helpers.append(asyncio.create_task(self._resync_timer(self._resync_interval_s)))
        try:
            await self._socket.run()
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def status(self) -> dict[str, object]:
        """Counters and state for the health monitor (no credentials)."""
        now = self._clock()
        c = self._counters
        return {
            **self.stats.snapshot(now),
            "synced": self.synced,
            "markets": len(self._markets),
            "trades_delivered": c.trades,
            "orders_delivered": c.orders,
            "duplicate_trades": c.duplicate_trades,
            "stale_trades": c.stale_trades,
            "contradicting_trades": c.contradicting_trades,
            "duplicate_orders": c.duplicate_orders,
            "tracked_trades": len(self._trades),
            "tracked_orders": len(self._orders),
            "resync_runs": c.resync_runs,
            "resync_failures": c.resync_failures,
            "resync_events": c.resync_events,
            "last_resync_age_s": None
            if self._last_resync_ok_at is None
            else round(now - self._last_resync_ok_at, 3),
            "last_resync_error": c.last_resync_error,
            "sink_failures": c.sink_failures,
        }

    # ------------------------------------------------------------------ FeedProtocol
    async def on_open(self, link: WebSocketLink) -> None:
        """Subscribe with the whole market set; after a reconnect, ask for a resync."""
        first = self._opened == 0
        self._opened += 1
        self._sent_markets = set(self._markets)
        frame: dict[str, object] = {"type": "user", "auth": self._credentials.ws_auth()}
        if self._markets:
            frame["markets"] = list(self._markets)
        await link.send(orjson.dumps(frame).decode())
        if first:
            # What happened before the first subscription is the engine's startup reconciliation.
            self._synced = True
            self._last_resync_started_wall = self._wall_clock()
        else:
            self._resync_wanted.set()
        _log.info("user_feed_subscribed", markets=len(self._markets), connection=self._opened)

    def on_message(self, data: str | bytes, received_at: float) -> None:
        decoded = decode_user_frame(data, micro_sizes=self._micro_sizes)
        for error in decoded.errors:
            self.stats.record_error(error.kind)
            _log.warning("user_feed_bad_event", kind=error.kind, error=str(error))
        for event in decoded.events:
            self._deliver(event)
        self.stats.record_latency(self._clock() - received_at)

    def on_close(self, reason: str) -> None:
        self._synced = False
        self._sent_markets = set()
        if self._gap_started_wall is None:
            self._gap_started_wall = self._wall_clock()
        _log.warning("user_feed_gap", reason=reason)

    def stale_after(self) -> float | None:
        # The channel is silent whenever we have no orders: keepalives judge liveness instead.
        return None

    # ------------------------------------------------------------------ delivery
    def _deliver(self, event: UserEvent) -> bool:
        """Pass ``event`` to the sink unless deduplication drops it; True if passed on."""
        if isinstance(event, UserTradeEvent):
            if not self._accept_trade(event):
                return False
            self._counters.trades += 1
        else:
            if not self._accept_order(event):
                return False
            self._counters.orders += 1
        try:
            self._sink(event)
        except Exception as exc:  # a consumer bug must not stop the feed
            self._counters.sink_failures += 1
            self.stats.record_error("sink_failed")
            _log.error("user_feed_sink_failed", event_type=type(event).__name__, error=repr(exc))
        return True

    def _accept_trade(self, event: UserTradeEvent) -> bool:
        now = self._clock()
        memory = self._trades.get(event.trade_id)
        if memory is None:
            self._trades[event.trade_id] = _TradeMemory(
                event.status, {event.status}, event.match_time_ms, now
            )
            self._forget(self._trades, now, lambda m: m.settled)
            return True
        if event.status in memory.seen:
            self._counters.duplicate_trades += 1
            return False
        if event.status not in TRADE_STATUS_SUCCESSORS[memory.status]:
            if not (memory.status.is_terminal and event.status.is_terminal):
                self._counters.stale_trades += 1
                return False
            self._counters.contradicting_trades += 1
            _log.error(
                "user_feed_trade_contradiction", trade_id=event.trade_id, was=memory.status, now=event.status
            )
        memory.status = event.status
        memory.seen.add(event.status)
        memory.match_time_ms = memory.match_time_ms or event.match_time_ms
        memory.touched_at = now
        self._trades.move_to_end(event.trade_id)
        return True

    def _accept_order(self, event: UserOrderEvent) -> bool:
        now = self._clock()
        content = _order_content(event)
        memory = self._orders.get(event.order_id)
        if memory is not None and memory.content == content:
            self._counters.duplicate_orders += 1
            return False
        if memory is None:
            self._orders[event.order_id] = _OrderMemory(content, event.status, now)
            self._forget(self._orders, now, lambda m: not m.open)
        else:
            memory.content, memory.status, memory.touched_at = content, event.status, now
            self._orders.move_to_end(event.order_id)
        return True

    def _forget(self, memories: OrderedDict[str, _M], now: float, done: Callable[[_M], bool]) -> None:
        """Drop the oldest entries while they are done and past retention, idle too long, or
        beyond the cap. Entries are kept in the order they were last touched."""
        while memories:
            key, oldest = next(iter(memories.items()))
            idle = now - oldest.touched_at
            if (
                len(memories) > self._max_tracked
                or idle > self._max_idle_s
                or (done(oldest) and idle > self._retention_s)
            ):
                del memories[key]
            else:
                return

    # ------------------------------------------------------------------ subscriptions and resync
    async def _send_operation(self, operation: str, markets: list[str]) -> None:
        if not markets or not self._socket.connected:
            return
        if operation == "subscribe":
            self._sent_markets.update(markets)
        else:
            self._sent_markets.difference_update(markets)
        try:
            await self._socket.send(orjson.dumps({"operation": operation, "markets": markets}).decode())
        except ConnectionError:
            return  # the next connection subscribes to the whole set
        _log.info("user_feed_markets_changed", operation=operation, markets=markets)

    async def _resync_timer(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            if self._socket.connected:
                self._resync_wanted.set()

    async def _resync_worker(self) -> None:
        """Run a resync whenever one is wanted; retry a failed one with backoff until it works
        (or a newer request supersedes the wait)."""
        failures = 0
        while True:
            await self._resync_wanted.wait()
            self._resync_wanted.clear()
            if self.resync is None:
                _log.warning("user_feed_no_resync", detail="missed events cannot be recovered")
                continue  # the gap stays open: synced remains false
            if await self._resync_once():
                failures = 0
                continue
            failures += 1
            delay = min(_RESYNC_MAX_DELAY_S, self._resync_retry_s * 2.0 ** (failures - 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resync_wanted.wait(), timeout=delay)
            self._resync_wanted.set()

    async def _resync_once(self) -> bool:
        assert self.resync is not None
        connection = self._opened
        gap = self._gap_started_wall
        started_wall = self._wall_clock()
        self._counters.resync_runs += 1
        try:
            events = await self.resync()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # VenueError, or a bug in the caller's function: retried
            self._counters.resync_failures += 1
            self._counters.last_resync_error = type(exc).__name__
            _log.warning(
                "user_feed_resync_failed", error=type(exc).__name__, failures=self._counters.resync_failures
            )
            return False
        passed = sum(1 for event in events if self._deliver(event))
        self._counters.resync_events += passed
        self._last_resync_started_wall = started_wall
        self._last_resync_ok_at = self._clock()
        if self._socket.connected and connection == self._opened and self._gap_started_wall == gap:
            # No disconnect while REST was asked: everything up to now is accounted for.
            self._gap_started_wall = None
            self._synced = True
        _log.info("user_feed_resynced", received=len(events), passed_on=passed)
        return True
