"""One subscriber connection of a market-data feed (Binance or RTDS), with fault injection.

A feed publishes by calling :meth:`FeedSocket.send`, which only enqueues: a slow client can
never stall the simulator's tick loop. A writer task drains the queue and, before every
outgoing frame, asks the fault registry what to do with it:

- ``ws_should_drop`` → abort the TCP connection (no close frame), as a crashed venue would;
- ``ws_frozen`` → send nothing, keep the socket open; the protocol-level pings (sent and
  answered by aiohttp's heartbeat/autoping) still flow: the silent freeze seen in production.
  Like the simulator's CLOB sockets, a socket that froze stays silent until the client
  reconnects, even once the fault is switched off;
- ``ws_malformed`` → send a truncated, unparsable copy of the frame instead.

A client that falls :data:`MAX_QUEUED_FRAMES` frames behind is disconnected (close code 1008),
as a real venue drops slow consumers instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from polyexec.sim.contracts import FaultView

__all__ = ["MAX_QUEUED_FRAMES", "FeedSocket", "malformed_copy"]

MAX_QUEUED_FRAMES = 5_000


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    message: bytes


def malformed_copy(frame: str) -> str:
    """A broken version of ``frame``: the first half of it, never valid JSON."""
    half = frame[: max(1, len(frame) // 2)]
    # A lone "{" or "[" prefix is already invalid; make sure a short frame is too.
    return half if half not in ("{}", "[]") else half[:1]


class FeedSocket:
    """The sending half of one websocket connection of a feed.

    Create it after ``ws.prepare(request)``, await :meth:`serve` for the life of the
    connection (or run :meth:`run_writer` as a task and read the socket yourself), and call
    :meth:`send` from anywhere on the event loop.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        channel: str,
        faults: FaultView | None,
        max_queued: int = MAX_QUEUED_FRAMES,
    ) -> None:
        self.ws = ws
        self.channel = channel
        self._request = request
        self._faults = faults
        self._max_queued = max_queued
        self._queue: asyncio.Queue[str | _Close] = asyncio.Queue()
        self._closing = False
        self._aborted = False
        self.frozen = False
        self.frames_sent = 0
        self.frames_suppressed = 0  # frozen
        self.frames_malformed = 0

    @property
    def open(self) -> bool:
        """True while frames may still be queued for this client."""
        return not self._closing and not self.ws.closed

    def send(self, frame: str) -> None:
        """Queue ``frame`` for sending (dropped silently once the socket is closing)."""
        if not self.open:
            return
        if self._queue.qsize() >= self._max_queued:
            # Do not make a client that cannot keep up read a backlog first: close now.
            while not self._queue.empty():
                self._queue.get_nowait()
            self.close_after_flush(1008, "slow consumer: too many frames queued")
            return
        self._queue.put_nowait(frame)

    def close_after_flush(self, code: int = 1001, message: str = "") -> None:
        """Send what is queued, then close with ``code``; later :meth:`send` calls are ignored."""
        if self._closing:
            return
        self._closing = True
        self._queue.put_nowait(_Close(code, message.encode()))

    def abort(self) -> None:
        """Drop the connection abruptly: no close frame, as a network failure would."""
        self._closing = True
        self._aborted = True
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    async def serve(self, on_text: Callable[[str], None]) -> None:
        """Run the writer and hand every text frame the client sends to ``on_text``, until the
        connection closes; the connection's handler awaits this for the life of the socket."""
        writer = asyncio.create_task(self.run_writer(), name=f"sim-{self.channel}-writer")
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    on_text(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def run_writer(self) -> None:
        """Drain the queue until the socket closes; the connection's handler owns this task."""
        while True:
            item = await self._queue.get()
            if isinstance(item, _Close):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.close(code=item.code, message=item.message)
                return
            if self.ws.closed:
                return
            frame = self._apply_faults(item)
            if frame is None:
                if self._aborted:
                    return
                continue
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                # The peer went away between our check and the write: the handler's read
                # loop sees the closed socket and cleans up.
                return
            self.frames_sent += 1

    def _apply_faults(self, frame: str) -> str | None:
        faults = self._faults
        if faults is None:
            return frame
        if faults.ws_should_drop(self.channel):
            self.abort()
            return None
        if self.frozen or faults.ws_frozen(self.channel):
            self.frozen = True  # a frozen socket stays silent until the client reconnects
            self.frames_suppressed += 1
            return None
        if faults.ws_malformed(self.channel):
            self.frames_malformed += 1
            return malformed_copy(frame)
        return frame
