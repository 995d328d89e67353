"""A websocket that stays connected: the runner every feed (market, user, Binance, RTDS) shares.

:class:`ReconnectingWebSocket` owns the connection and its failure handling; the feed plugs in
a :class:`FeedProtocol` that only speaks the feed's language (subscribe on open, decode each
message, react to a gap). What the runner guarantees:

* **Reconnect with a floor.** A connection that lived at least ``stable_after_s`` (60 s) is
  retried after ``min_interval_s`` (1 s); one that died younger, or an attempt that failed,
  backs off exponentially (1 s, 2 s, 4 s … capped at ``max_delay_s``) with jitter, so a
  server that accepts and immediately closes cannot make us spin (the documented naive loop
  reconnected 1,713 times in 2 s). Attempts are never closer than ``min_interval_s``.
* **Handshake refusals are not crashes.** HTTP 429/418/403 (Binance's rate-limit and ban
  answers) or any other non-101 status on the upgrade wait ``rejected_delay_s`` (or the
  server's ``Retry-After`` if longer) and try again.
* **Silence is death.** A socket can stay open, and even answer pings, while sending no data
  (docs §5.3). The feed says how long it may be silent (:meth:`FeedProtocol.stale_after`);
  past that the runner drops the connection and reconnects. ``PONG`` replies do not count as
  data.
* **Keepalive.** An optional application-level text ping (Polymarket's ``PING`` every 10 s)
  besides the protocol-level pings websockets answers by itself; with ``keepalive_timeout_s``
  a peer that stops answering it (no ``PONG``) is dropped even on a feed that is quiet by
  nature (the user channel).
* **A gap is reported.** Every lost connection calls :meth:`FeedProtocol.on_close`, so the
  feed can mark books untrusted and resync: the venue does not replay what was missed.

The runner never raises out of :meth:`ReconnectingWebSocket.run` except ``CancelledError``;
exceptions from the protocol's ``on_message`` are counted as errors and the message skipped,
and one from ``on_open`` or ``on_close`` is counted and the connection retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from polyexec.logging_setup import get_logger
from polyexec.venues.feed_stats import FeedStats

__all__ = [
    "KEEPALIVE_REPLIES",
    "FeedProtocol",
    "ReconnectPolicy",
    "ReconnectingWebSocket",
    "WebSocketLink",
]

_log = get_logger(module=__name__)

KEEPALIVE_REPLIES: Final = frozenset({"PONG", "pong"})
"""Text frames that answer our application-level ping: not data, not handed to the feed."""
_REFUSAL_STATUSES: Final = frozenset({403, 418, 429})


class WebSocketLink(Protocol):
    """What a feed may do with the live connection: send text frames."""

    async def send(self, message: str) -> None: ...


class FeedProtocol(Protocol):
    """The feed's side of a :class:`ReconnectingWebSocket`."""

    async def on_open(self, link: WebSocketLink) -> None:
        """A connection is up: send the subscriptions (all of them: nothing carries over)."""

    def on_message(self, data: str | bytes, received_at: float) -> None:
        """Decode one frame and hand its events on. Count bad input in the feed's stats and
        return; an exception here is counted as an error and the frame skipped."""

    def on_close(self, reason: str) -> None:
        """The connection is gone: data may have been missed until the next one is up."""

    def stale_after(self) -> float | None:
        """Seconds without data after which the connection is presumed dead (None: never)."""


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """When to try again. Defaults follow feeds-and-reliability.md §2.3."""

    min_interval_s: float = 1.0
    """Never two connection attempts closer than this (Binance: 300 attempts / 5 min / IP)."""
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    stable_after_s: float = 60.0
    """A connection that lived this long resets the backoff."""
    rejected_delay_s: float = 60.0
    """Wait after the server refused the handshake (429/418/403 or another status)."""
    jitter: float = 0.5
    """Fraction of the delay drawn at random (0.5: the delay is 50-100 % of the nominal)."""
    open_timeout_s: float = 10.0

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Delay after ``failures`` consecutive short-lived connections or failed attempts."""
        nominal = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(0, failures - 1))
        delay: float = nominal * (1.0 - self.jitter * rng.random())
        return max(self.min_interval_s, delay)


def _retry_after(error: InvalidStatus) -> float | None:
    value = error.response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86_400 else None


class ReconnectingWebSocket:
    """Keep one websocket to ``url`` open and feed its frames to ``protocol`` until cancelled.

    ``url`` may be a callable, evaluated at each attempt (a feed whose URL lists its current
    streams). ``text_ping`` is sent every ``ping_interval_s`` while connected (None: no
    application ping); ``keepalive_timeout_s`` drops the connection when no ``PONG`` came back
    for that long (None: not checked); ``ws_ping_interval_s`` is the protocol-level ping
    (None: off).
    """

    def __init__(
        self,
        url: str | Callable[[], str],
        protocol: FeedProtocol,
        *,
        stats: FeedStats,
        policy: ReconnectPolicy | None = None,
        text_ping: str | None = None,
        ping_interval_s: float = 10.0,
        keepalive_timeout_s: float | None = None,
        ws_ping_interval_s: float | None = 20.0,
        max_message_bytes: int = 4 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._url = url
        self._protocol = protocol
        self.stats = stats
        self.policy = policy or ReconnectPolicy()
        self._text_ping = text_ping
        self._ping_interval_s = ping_interval_s
        self._keepalive_timeout_s = keepalive_timeout_s
        self._last_keepalive_reply: float | None = None
        self._ws_ping_interval_s = ws_ping_interval_s
        self._max_message_bytes = max_message_bytes
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._connection: ClientConnection | None = None
        self._drop_reason: str | None = None
        self._failures = 0
        self._last_attempt: float | None = None

    # ------------------------------------------------------------------ public
    @property
    def connected(self) -> bool:
        return self._connection is not None

    async def send(self, message: str) -> None:
        """Send a text frame on the live connection; ``ConnectionError`` when there is none
        (the feed resends everything in ``on_open`` anyway)."""
        connection = self._connection
        if connection is None:
            raise ConnectionError(f"{self.stats.name}: not connected")
        try:
            await connection.send(message)
        except ConnectionClosed as exc:
            raise ConnectionError(f"{self.stats.name}: connection closed while sending") from exc

    def force_reconnect(self, reason: str) -> None:
        """Drop the current connection now (stale data, rotation); the runner reconnects.

        The next attempt is timed like any other end of a connection: after ``min_interval_s``
        if the connection lived ``stable_after_s`` (a rotation of a day-old connection), with
        the growing backoff if it was younger. That is deliberate: a young connection dropped
        on purpose (stale, or landed on a server that announced its shutdown) was no good, and
        a server that keeps producing such connections must not make us spin.
        ``reason`` is what :meth:`FeedProtocol.on_close` and the stats receive; a reason
        starting with ``"stale"`` counts as a stale reconnect."""
        connection = self._connection
        if connection is None:
            return
        self._drop_reason = reason
        # abort(), not close(): a frozen peer would never finish the close handshake.
        connection.transport.abort()

    async def run(self) -> None:
        """Connect, read, reconnect — until cancelled."""
        while True:
            await self._wait_for_attempt_slot()
            delay = await self._one_connection()
            if delay > 0:
                await asyncio.sleep(delay)

    # ------------------------------------------------------------------ internals
    async def _wait_for_attempt_slot(self) -> None:
        if self._last_attempt is not None:
            wait = self._last_attempt + self.policy.min_interval_s - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_attempt = self._clock()

    def _current_url(self) -> str:
        return self._url() if callable(self._url) else self._url

    async def _one_connection(self) -> float:
        """Run one connection to its end; return how long to wait before the next attempt."""
        name = self.stats.name
        try:
            connection = await connect(
                self._current_url(),
                open_timeout=self.policy.open_timeout_s,
                ping_interval=self._ws_ping_interval_s,
                ping_timeout=self._ws_ping_interval_s,
                close_timeout=1.0,
                max_size=self._max_message_bytes,
                compression=None,
                # Never through a proxy taken from the environment (feeds-and-reliability §2.1):
                # a stray HTTPS_PROXY would reroute the feed, and a SOCKS one raises ImportError
                # (no python-socks), which would end run() for good.
                proxy=None,
            )
        except InvalidStatus as exc:
            self.stats.handshake_rejections += 1
            status = exc.response.status_code
            delay = max(self.policy.rejected_delay_s, _retry_after(exc) or 0.0)
            kind = "refused" if status in _REFUSAL_STATUSES else "rejected"
            _log.warning("ws_handshake_refused", feed=name, status=status, kind=kind, retry_in_s=delay)
            return delay
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
            self._failures += 1
            delay = self.policy.backoff(self._failures, self._rng)
            _log.warning("ws_connect_failed", feed=name, error=type(exc).__name__, retry_in_s=round(delay, 3))
            return delay
        opened_at = self._clock()
        self._connection = connection
        self._drop_reason = None
        self.stats.record_connect(opened_at)
        _log.info("ws_connected", feed=name, connects=self.stats.connects)
        try:
            reason = await self._serve(connection)
        except asyncio.CancelledError:
            # Stopped from outside: close the socket now, not whenever it is collected.
            self._connection = None
            self.stats.connected_at = None
            connection.transport.abort()
            raise
        lived = self._clock() - opened_at
        self._connection = None
        with contextlib.suppress(Exception):
            connection.transport.abort()
        stale = reason.startswith("stale")
        self.stats.record_disconnect(reason, stale=stale)
        try:
            self._protocol.on_close(reason)
        except Exception as exc:  # a feed bug must not stop the feed reconnecting
            self.stats.record_error("on_close_failed")
            _log.error("ws_on_close_failed", feed=name, error=repr(exc))
        if lived >= self.policy.stable_after_s:
            self._failures = 0
            delay = self.policy.min_interval_s
        else:
            self._failures += 1
            delay = self.policy.backoff(self._failures, self._rng)
        _log.warning(
            "ws_disconnected", feed=name, reason=reason, lived_s=round(lived, 3), retry_in_s=round(delay, 3)
        )
        return delay

    async def _serve(self, connection: ClientConnection) -> str:
        """Subscribe, then read until the connection ends; return why it ended."""
        helpers: list[asyncio.Task[None]] = [asyncio.create_task(self._watch_staleness(connection))]
        if self._text_ping is not None:
            helpers.append(asyncio.create_task(self._ping(connection, self._text_ping)))
        try:
            try:
                await self._protocol.on_open(connection)
            except ConnectionClosed:
                return self._drop_reason or "closed during subscribe"
            except (OSError, ConnectionError) as exc:
                return self._drop_reason or f"subscribe failed: {type(exc).__name__}"
            except Exception as exc:  # a feed bug: reconnect (with backoff), do not end run()
                self.stats.record_error("on_open_failed")
                _log.error("ws_on_open_failed", feed=self.stats.name, error=repr(exc))
                return f"subscribe failed: {type(exc).__name__}"
            return await self._read(connection)
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read(self, connection: ClientConnection) -> str:
        protocol = self._protocol
        stats = self.stats
        clock = self._clock
        try:
            async for frame in connection:
                received_at = clock()
                if isinstance(frame, str) and frame in KEEPALIVE_REPLIES:
                    self._last_keepalive_reply = received_at
                    continue
                stats.record_message(received_at)
                try:
                    protocol.on_message(frame, received_at)
                except Exception as exc:  # never let one bad frame kill the feed
                    stats.record_error("handler_failed")
                    _log.error("ws_message_handler_failed", feed=stats.name, error=repr(exc))
        except ConnectionClosed as exc:
            return self._drop_reason or f"closed: {exc.rcvd.code if exc.rcvd else 'no close frame'}"
        except OSError as exc:
            return self._drop_reason or f"socket error: {type(exc).__name__}"
        return self._drop_reason or "closed by server"

    async def _ping(self, connection: ClientConnection, text: str) -> None:
        """Send ``text`` every ping interval; with a keepalive timeout, drop a connection
        whose peer stopped answering (no ``PONG`` for that long)."""
        started = self._clock()
        while True:
            await asyncio.sleep(self._ping_interval_s)
            limit = self._keepalive_timeout_s
            if limit is not None:
                last = self._last_keepalive_reply
                reference = started if last is None or last < started else last
                silent = self._clock() - reference
                if silent > limit:
                    _log.warning("ws_keepalive_lost", feed=self.stats.name, silent_s=round(silent, 3))
                    self._drop_reason = f"keepalive: no reply to {text!r} for {silent:.1f} s"
                    connection.transport.abort()
                    return
            try:
                await connection.send(text)
            except ConnectionClosed:
                return

    async def _watch_staleness(self, connection: ClientConnection) -> None:
        """Drop the connection when the feed's data stops, whatever the keepalives say."""
        connected_at = self._clock()
        while True:
            limit = self._protocol.stale_after()
            if limit is None:
                await asyncio.sleep(1.0)
                continue
            last = self.stats.last_message_at
            reference = connected_at if last is None or last < connected_at else last
            silent = self._clock() - reference
            if silent > limit:
                _log.warning("ws_stale", feed=self.stats.name, silent_s=round(silent, 3), limit_s=limit)
                self._drop_reason = f"stale: no data for {silent:.1f} s"
                connection.transport.abort()
                return
            await asyncio.sleep(min(1.0, max(0.005, (limit - silent) / 2)))
