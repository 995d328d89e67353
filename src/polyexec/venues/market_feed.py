"""The Polymarket market channel: live order books for the subscribed tokens (docs §5.1, §5.3).

:class:`MarketFeed` keeps one websocket to ``{CLOB_WS_URL}/market`` open through
:class:`~polyexec.venues.ws_connection.ReconnectingWebSocket` (jittered backoff with a floor,
text ``PING`` every 10 s) and one :class:`~polyexec.core.order_book.OrderBook` per subscribed
token. The engine reads the books (:meth:`MarketFeed.book`, :meth:`MarketFeed.books`) and gets
every decoded event through a synchronous ``sink``, always *after* the event was applied to its
book, so the sink sees a book that already reflects it.

Subscriptions
    The first frame of every connection lists every wanted token
    (``{"type": "market", "assets_ids": [...], "custom_feature_enabled": true}``); later
    :meth:`~MarketFeed.subscribe` / :meth:`~MarketFeed.unsubscribe` calls send only the
    difference as ``{"operation": "subscribe" | "unsubscribe", ...}`` (the venue rejects an
    asset subscribed twice). Unsubscribing drops the token's book, so memory stays bounded as
    15-minute markets roll. Nothing carries over a reconnect: the next connection resubscribes
    everything and the venue's initial dump reseeds every book.

Trust
    A lost connection marks every book untrusted (:attr:`UntrustedReason.RECONNECT`, or
    :attr:`UntrustedReason.STALE` when it was dropped for silence) until its fresh snapshot
    arrives. A book that loses trust from its own checks (crossed, diverged from the venue's
    best prices, a malformed level, a tick-size change that cleared it) is resubscribed on the
    same socket to get a fresh snapshot, at most once per ``resnapshot_interval_s`` per token.

Silence (the venue's silent freeze: the socket stays open and answers ``PING`` but sends no
data, docs §5.3)
    A per-token watchdog gives every token a silence limit: ``stale_token_after_s`` for an
    active token, more for one that is quiet by nature (an upcoming window's book may not
    change for a minute). The limit is twice the longest gap recently seen between the token's
    events (remembered with a 5-minute half-life), at least ``stale_token_after_s`` and at
    most ``max_silence_s``; a token that has delivered nothing yet on the current connection
    gets at least ``first_snapshot_grace_s`` for its snapshot. A token past its limit is
    marked :attr:`UntrustedReason.STALE` and the socket is dropped and reconnected (a token
    can lose its subscription while the others flow). Then:

    * if the whole socket had gone quiet, it was the socket: limits stay as they are, so a
      frozen socket is caught at ``stale_token_after_s`` of silence from the most active token;
    * if other tokens kept talking, the silent one may just be a quiet book: its silence
      counts as a gap, so its limit doubles (up to ``max_silence_s``) and a quiet token costs
      a few reconnects at most;
    * a token that has delivered nothing at all since it was subscribed (no book on the venue)
      stops forcing reconnects after two attempts; :meth:`~MarketFeed.status` reports it as
      unresponsive and its book stays untrusted until it delivers.

    The runner's own feed-wide silence limit (:meth:`~MarketFeed.stale_after`) is only a
    safety net behind this watchdog.

Failures never stop the feed: malformed frames are counted (``stats.error_kinds``) and
skipped, an exception from the sink is counted and logged, and the runner reconnects forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import orjson
from websockets.exceptions import ConnectionClosed

from polyexec.core.events import (
    BookSnapshot,
    FeedEvent,
    PriceChange,
    TickSizeChange,
)
from polyexec.core.order_book import OrderBook, UntrustedReason, apply_price_change_to_books
from polyexec.logging_setup import get_logger
from polyexec.venues.feed_stats import FeedStats
from polyexec.venues.market_messages import MarketMessageDecoder
from polyexec.venues.ws_connection import ReconnectingWebSocket, ReconnectPolicy, WebSocketLink

if TYPE_CHECKING:
    from polyexec.config import Settings

__all__ = ["EventSink", "MarketFeed"]

EventSink = Callable[[FeedEvent], None]
"""Where decoded events go: synchronous and cheap (the engine's tick processor)."""

_log = get_logger(module=__name__)

_GAP_HALF_LIFE_S: Final = 300.0
"""How fast a token's remembered longest gap fades once its events come regularly again."""
_GAP_DECAY_PER_S: Final = -math.log(2) / _GAP_HALF_LIFE_S
_QUIET_FACTOR: Final = 2.0
"""A token is presumed frozen after this many times its longest recent natural gap."""
_MAX_FIRES_WITHOUT_DATA: Final = 2
"""Reconnects a never-delivering token may force before it is left alone as unresponsive."""
_LOG_EVERY_S: Final = 10.0
_DATA_REASONS: Final = frozenset(
    {UntrustedReason.CROSSED, UntrustedReason.DIVERGED, UntrustedReason.INVALID_DATA}
)
"""Distrust found by the book's own checks: only a fresh snapshot clears it."""


@dataclass(slots=True)
class _Token:
    """One subscribed token: its book and what the watchdog knows about its traffic."""

    book: OrderBook
    watch_from: float | None = None
    """When its subscription went out on the current connection (None: not sent yet)."""
    last_event_at: float | None = None
    """Its last event on the current connection."""
    events: int = 0
    """Events since it was subscribed."""
    gap_s: float = 0.0
    """Longest recent gap between its events (decays, see :meth:`recent_gap`)."""
    gap_at: float = 0.0
    fires: int = 0
    """Stale reconnects it forced (only read while it has delivered nothing)."""
    resnapshot_at: float | None = None

    def recent_gap(self, now: float) -> float:
        if self.gap_s <= 0.0:
            return 0.0
        return self.gap_s * math.exp(_GAP_DECAY_PER_S * (now - self.gap_at))

    def note_gap(self, now: float) -> None:
        """An event arrived at ``now`` after a gap long enough to matter: remember it if it is
        the longest recently seen. (The caller then sets ``last_event_at``.)"""
        last = self.last_event_at
        if last is not None and now - last > self.recent_gap(now):
            self.gap_s, self.gap_at = now - last, now


class MarketFeed:
    """Order books of the subscribed tokens, kept live from the market channel.

    ``url`` is the market channel (``Settings.clob_market_ws_url``; see :meth:`from_settings`).
    ``sink`` receives every :class:`BookSnapshot`, :class:`PriceChange`,
    :class:`TickSizeChange`, :class:`LastTradePrice` and :class:`BestBidAsk` of a subscribed
    token after it was applied. ``clock`` is monotonic seconds (shared with the runner).
    ``PING`` goes out every ``ping_interval_s``; a socket with no ``PONG`` for
    ``keepalive_timeout_s`` is dropped (the unified SDK's 30 s rule). See the module docs for
    the silence limits and the trust rules.
    """

    def __init__(
        self,
        url: str,
        sink: EventSink,
        *,
        stale_token_after_s: float = 5.0,
        first_snapshot_grace_s: float | None = None,
        max_silence_s: float = 60.0,
        resnapshot_interval_s: float = 5.0,
        policy: ReconnectPolicy | None = None,
        ping_interval_s: float = 10.0,
        keepalive_timeout_s: float | None = 30.0,
        clock: Callable[[], float] = time.monotonic,
        stats: FeedStats | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not stale_token_after_s > 0:
            raise ValueError(f"stale_token_after_s must be positive, got {stale_token_after_s}")
        if max_silence_s < stale_token_after_s:
            raise ValueError(f"max_silence_s ({max_silence_s}) must be >= stale_token_after_s")
        grace = 2.0 * stale_token_after_s if first_snapshot_grace_s is None else first_snapshot_grace_s
        if not grace > 0:
            raise ValueError(f"first_snapshot_grace_s must be positive, got {grace}")
        self.stats = stats if stats is not None else FeedStats("market")
        self._sink = sink
        self._stale_after_s = stale_token_after_s
        self._grace_s = grace
        self._gap_floor_s = stale_token_after_s / _QUIET_FACTOR
        self._max_silence_s = max_silence_s
        self._resnapshot_interval_s = resnapshot_interval_s
        self._clock = clock
        self._decoder = MarketMessageDecoder(self.stats, on_invalid=self._on_invalid)
        self._decode = self._decoder.decode
        self._record_latency = self.stats.latency_recorder()
        self._ws = ReconnectingWebSocket(
            url,
            self,
            stats=self.stats,
            policy=policy,
            text_ping="PING",
            ping_interval_s=ping_interval_s,
            keepalive_timeout_s=keepalive_timeout_s,
            clock=clock,
            rng=rng,
        )
        self._tokens: dict[str, _Token] = {}
        self._books: dict[str, OrderBook] = {}
        self._books_view = MappingProxyType(self._books)
        self._sent: set[str] = set()
        self._link: WebSocketLink | None = None
        self._greeted = False  # the {"type": "market"} frame went out on this connection
        self._open = False  # subscribed and not being dropped: the watchdog may judge silence
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._resnapshot_due: dict[str, None] = {}
        self._running = False
        self.sink_errors = 0
        self.unsubscribed_events = 0
        """Events for tokens not (or no longer) subscribed, dropped."""
        self.resnapshots = 0
        self._last_log: dict[str, float] = {}

    @classmethod
    def from_settings(cls, settings: Settings, sink: EventSink, **options: Any) -> MarketFeed:
        """A feed on ``settings.clob_market_ws_url``; ``options`` as for the constructor."""
        return cls(settings.clob_market_ws_url, sink, **options)

    # --- public -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, keep the books, reconnect — until cancelled."""
        if self._running:
            raise RuntimeError("MarketFeed.run() is already running")
        self._running = True
        watchdog = asyncio.create_task(self._watch(), name="market-feed-watchdog")
        try:
            await self._ws.run()
        finally:
            self._running = False
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def subscribe(self, tokens: Iterable[str], tick_sizes: Mapping[str, Decimal] | None = None) -> None:
        """Start keeping the books of ``tokens`` (already subscribed ones are left alone).

        Each new token gets an empty, untrusted book (seeded with its tick size from
        ``tick_sizes`` if given) that its snapshot will fill. On a live connection only the
        new tokens are sent; otherwise the next connection subscribes them.
        """
        wanted = list(dict.fromkeys(tokens))
        for token_id in wanted:
            if not isinstance(token_id, str) or not token_id:
                raise ValueError(f"a token id must be a non-empty string, got {token_id!r}")
        new: list[str] = []
        for token_id in wanted:
            if token_id in self._tokens:
                continue
            book = OrderBook(token_id, (tick_sizes or {}).get(token_id))
            self._tokens[token_id] = _Token(book)
            self._books[token_id] = book
            new.append(token_id)
        if not new:
            return
        _log.info("market_subscribe", tokens=len(new), subscribed=len(self._tokens))
        async with self._lock:
            await self._send_subscriptions()

    async def unsubscribe(self, tokens: Iterable[str]) -> None:
        """Stop following ``tokens`` and drop their books (unknown tokens are ignored)."""
        gone = [t for t in dict.fromkeys(tokens) if t in self._tokens]
        for token_id in gone:
            del self._tokens[token_id]
            del self._books[token_id]
            self._resnapshot_due.pop(token_id, None)
        if not gone:
            return
        _log.info("market_unsubscribe", tokens=len(gone), subscribed=len(self._tokens))
        async with self._lock:
            sent = [t for t in gone if t in self._sent]
            if sent and self._link is not None and await self._send(self._operation("unsubscribe", sent)):
                self._sent.difference_update(sent)

    def book(self, token_id: str) -> OrderBook | None:
        """The live book of ``token_id``, or ``None`` if it is not subscribed."""
        return self._books.get(token_id)

    def books(self) -> Mapping[str, OrderBook]:
        """Every subscribed token's book (a read-only live view)."""
        return self._books_view

    def subscribed(self) -> frozenset[str]:
        return frozenset(self._tokens)

    @property
    def connected(self) -> bool:
        return self._ws.connected

    def status(self) -> dict[str, object]:
        """Feed counters (:meth:`FeedStats.snapshot`) plus, per token, trust and traffic."""
        now = self._clock()
        tokens: dict[str, object] = {}
        for token_id, token in self._tokens.items():
            book = token.book
            reason = book.untrusted_reason
            last = token.last_event_at
            tokens[token_id] = {
                "trusted": book.trusted,
                "untrusted_reason": None if reason is None else reason.value,
                "untrusted_detail": book.untrusted_detail,
                "awaiting_snapshot": book.awaiting_snapshot,
                "last_event_age_s": None if last is None else round(now - last, 3),
                "silence_limit_s": round(self._limit(token, now), 3),
                "events": token.events,
                "unresponsive": self._unresponsive(token),
            }
        return {
            **self.stats.snapshot(now),
            "subscribed": len(self._tokens),
            "trusted": sum(1 for t in self._tokens.values() if t.book.trusted),
            "ignored_events": dict(self._decoder.ignored),
            "unsubscribed_events": self.unsubscribed_events,
            "sink_errors": self.sink_errors,
            "resnapshots": self.resnapshots,
            "tokens": tokens,
        }

    # --- FeedProtocol (called by the runner) --------------------------------------------------

    async def on_open(self, link: WebSocketLink) -> None:
        """Subscribe every wanted token on the new connection."""
        async with self._lock:
            self._link = link
            self._greeted = False
            self._sent.clear()
            self._resnapshot_due.clear()  # the full subscription brings fresh snapshots
            await self._send_subscriptions()
            self._open = True

    def on_message(self, data: str | bytes, received_at: float) -> None:
        """Decode a frame, apply its events to the books, then hand them to the sink."""
        # The callables stored on the instance are read into locals first: CPython 3.11 does not
        # specialise a method-style call of an instance attribute (``self._sink(event)``).
        tokens, floor, sink = self._tokens, self._gap_floor_s, self._sink
        for event in self._decode(data):
            if isinstance(event, PriceChange):
                # One pass applies every level update to its token's book (each book takes its
                # updates as one batch); then the watchdog's bookkeeping for each book touched.
                touched = apply_price_change_to_books(self._books, event)
                if not touched:
                    self.unsubscribed_events += 1
                    continue
                for book, trusted in touched.items():
                    subscribed = tokens[book.asset_id]
                    if not trusted:
                        self._after_distrust(subscribed)
                    # Gaps shorter than the floor cannot change a silence limit: skip the
                    # bookkeeping for them (nearly every event of an active book).
                    last = subscribed.last_event_at
                    if last is None or received_at - last > floor:
                        subscribed.note_gap(received_at)
                    subscribed.last_event_at = received_at
                    subscribed.events += 1
            else:
                token = tokens.get(event.asset_id)
                if token is None:
                    self.unsubscribed_events += 1
                    continue
                book = token.book
                if type(event) is BookSnapshot:
                    book.apply_snapshot(event)
                    if book.trusted:
                        self._resnapshot_due.pop(event.asset_id, None)
                    else:
                        self._after_distrust(token)
                elif type(event) is TickSizeChange:
                    book.apply_tick_size_change(event)
                    self._schedule_resnapshot(token, force=True)
                token.note_gap(received_at)
                token.last_event_at = received_at
                token.events += 1
            try:
                sink(event)
            except Exception as exc:  # the engine's bug must not stop the books
                self.sink_errors += 1
                self.stats.record_error("sink_failed")
                self._log_throttled("sink", "market_sink_failed", error=repr(exc), failures=self.sink_errors)
        record_latency, clock = self._record_latency, self._clock
        record_latency(clock() - received_at)

    def on_close(self, reason: str) -> None:
        """Updates may have been missed: nothing is trusted until its next snapshot."""
        self._link = None
        self._greeted = False
        self._open = False
        self._sent.clear()
        cause = UntrustedReason.STALE if reason.startswith("stale") else UntrustedReason.RECONNECT
        for token in self._tokens.values():
            if not token.book.awaiting_snapshot:  # an empty book's reason already says why
                token.book.mark_untrusted(cause, f"market socket lost: {reason}")
            token.watch_from = None
            token.last_event_at = None

    def stale_after(self) -> float | None:
        """The runner's own silence limit: a safety net behind the per-token watchdog."""
        return self._max_silence_s + self._grace_s if self._tokens else None

    # --- the watchdog -------------------------------------------------------------------------

    def check_silence(self) -> list[str]:
        """Judge every token's silence now; drop the connection if one is past its limit.

        Returns the tokens found silent (marked :attr:`UntrustedReason.STALE`). Called by
        :meth:`run`'s watchdog task several times per limit; public for tests and tools.
        """
        if not self._open or not self._ws.connected:
            return []
        now = self._clock()
        silent: list[tuple[_Token, float]] = []
        for token in self._tokens.values():
            judged = self._silence(token, now)
            if judged is not None and judged[0] > judged[1]:
                silent.append((token, judged[0]))
                token.fires += 1
                if not token.book.awaiting_snapshot:  # an empty book's reason already says why
                    token.book.mark_untrusted(
                        UntrustedReason.STALE,
                        f"no market data for {judged[0]:.1f} s (limit {judged[1]:.1f} s)",
                    )
        if not silent:
            return []
        # When other tokens kept talking, the silent ones may just be quiet books (an upcoming
        # window): remember the silence as a gap, so their next limit doubles and a quiet token
        # costs a few reconnects at most. When the whole socket went quiet, it is the socket.
        last_data = self.stats.last_message_at
        socket_quiet = last_data is None or now - last_data >= self._stale_after_s
        if not socket_quiet:
            for token, silence in silent:
                token.gap_s, token.gap_at = max(token.recent_gap(now), silence), now
        self._open = False
        first = silent[0][0].book.asset_id[:12]
        _log.warning(
            "market_tokens_silent",
            tokens=len(silent),
            first=first,
            socket_quiet=socket_quiet,
            reconnecting=True,
        )
        self._ws.force_reconnect(f"stale: {len(silent)} token(s) silent, first {first}…")
        return [token.book.asset_id for token, _ in silent]

    def _silence(self, token: _Token, now: float) -> tuple[float, float] | None:
        """(seconds silent, limit) for a token whose subscription is live, else None."""
        if token.watch_from is None:
            return None
        if token.last_event_at is None:
            if self._unresponsive(token):
                return None
            return now - token.watch_from, max(self._grace_s, self._limit(token, now))
        return now - token.last_event_at, self._limit(token, now)

    def _limit(self, token: _Token, now: float) -> float:
        return min(self._max_silence_s, max(self._stale_after_s, _QUIET_FACTOR * token.recent_gap(now)))

    @staticmethod
    def _unresponsive(token: _Token) -> bool:
        return token.events == 0 and token.fires >= _MAX_FIRES_WITHOUT_DATA

    async def _watch(self) -> None:
        """Check silence a few times per limit, and send the resubscriptions that are due."""
        interval = max(0.01, min(1.0, self._stale_after_s / 5))
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=interval)
            self._wakeup.clear()
            try:
                self.check_silence()
                if self._resnapshot_due:
                    async with self._lock:
                        await self._send_resnapshots()
            except Exception as exc:  # a watchdog bug must not silently end the watchdog
                self.stats.record_error("watchdog_failed")
                self._log_throttled("watchdog", "market_watchdog_failed", error=repr(exc))

    # --- subscriptions ------------------------------------------------------------------------

    async def _send(self, message: dict[str, object]) -> bool:
        link = self._link
        if link is None:
            return False
        try:
            await link.send(orjson.dumps(message).decode())
        except (ConnectionClosed, ConnectionError, OSError) as exc:
            # The runner sees the closed socket too; on_open resubscribes everything.
            _log.info("market_send_failed", error=type(exc).__name__)
            return False
        return True

    @staticmethod
    def _operation(operation: str, tokens: list[str]) -> dict[str, object]:
        # custom_feature_enabled on every message: the venue applies it to the whole socket,
        # and best_bid_ask needs it on.
        return {"operation": operation, "assets_ids": tokens, "custom_feature_enabled": True}

    async def _send_subscriptions(self) -> None:
        """Send the tokens not yet subscribed on this connection (call with the lock held)."""
        if self._link is None:
            return
        missing = [t for t in self._tokens if t not in self._sent]
        if not missing:
            return
        if self._greeted:
            message = self._operation("subscribe", missing)
        else:
            message = {"type": "market", "assets_ids": missing, "custom_feature_enabled": True}
        if not await self._send(message):
            return
        self._greeted = True
        self._sent.update(missing)
        now = self._clock()
        for token_id in missing:
            token = self._tokens.get(token_id)
            if token is not None:
                token.watch_from = now
                token.last_event_at = None

    def _after_distrust(self, token: _Token) -> None:
        """A book is untrusted after an event: if its own data checks failed (not a gap that
        a snapshot is already coming for), ask the venue for a fresh snapshot."""
        if token.book.untrusted_reason in _DATA_REASONS and token.book.asset_id not in self._resnapshot_due:
            self._schedule_resnapshot(token)

    def _schedule_resnapshot(self, token: _Token, *, force: bool = False) -> None:
        if force:
            token.resnapshot_at = None
        self._resnapshot_due[token.book.asset_id] = None
        self._wakeup.set()

    async def _send_resnapshots(self) -> None:
        """Resubscribe the tokens whose books need a fresh snapshot (lock held)."""
        if self._link is None or not self._greeted:
            return
        now = self._clock()
        due: list[str] = []
        for token_id in list(self._resnapshot_due):
            token = self._tokens.get(token_id)
            if token is None or token_id not in self._sent:
                del self._resnapshot_due[token_id]
                continue
            if token.resnapshot_at is None or now - token.resnapshot_at >= self._resnapshot_interval_s:
                due.append(token_id)
        if not due:
            return
        if not await self._send(self._operation("unsubscribe", due)):
            return
        self._sent.difference_update(due)
        for token_id in due:
            self._resnapshot_due.pop(token_id, None)
            token = self._tokens[token_id]
            token.resnapshot_at = now
        self.resnapshots += len(due)
        _log.info("market_resnapshot", tokens=len(due))
        await self._send_subscriptions()

    # --- helpers ------------------------------------------------------------------------------

    def _on_invalid(self, asset_id: str, detail: str) -> None:
        token = self._tokens.get(asset_id)
        if token is None:
            return
        token.book.mark_untrusted(UntrustedReason.INVALID_DATA, detail)
        self._schedule_resnapshot(token)
        self._log_throttled("invalid", "market_invalid_data", token=asset_id[:12], detail=detail)

    def _log_throttled(self, key: str, event: str, **fields: object) -> None:
        now = self._clock()
        last = self._last_log.get(key)
        if last is None or now - last >= _LOG_EVERY_S:
            self._last_log[key] = now
            _log.warning(event, **fields)
