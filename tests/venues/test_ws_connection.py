"""ReconnectingWebSocket against real websockets servers on 127.0.0.1.

Each test runs a tiny server whose behaviour it controls (echo subscriptions, close at once,
go silent, refuse the handshake) and checks what the runner does: subscribe on every open,
hand frames on, swallow PONGs, survive bad handlers, reconnect with its floor, detect silence,
and wait out a refused handshake.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from polyexec.venues.feed_stats import FeedStats
from polyexec.venues.ws_connection import (
    FeedProtocol,
    ReconnectingWebSocket,
    ReconnectPolicy,
    WebSocketLink,
)
from tests.venues.conftest import eventually

FAST = ReconnectPolicy(
    min_interval_s=0.01, base_delay_s=0.01, max_delay_s=0.05, stable_after_s=60.0, rejected_delay_s=0.3
)


@dataclass
class RecordingFeed:
    """A FeedProtocol that remembers everything the runner told it."""

    subscribe_text: str = "SUB"
    stale_limit: float | None = None
    fail_on: str | None = None
    opened: int = 0
    frames: list[str | bytes] = field(default_factory=list)
    closes: list[str] = field(default_factory=list)

    async def on_open(self, link: WebSocketLink) -> None:
        self.opened += 1
        await link.send(self.subscribe_text)

    def on_message(self, data: str | bytes, received_at: float) -> None:
        if data == self.fail_on:
            raise RuntimeError("handler bug")
        self.frames.append(data)

    def on_close(self, reason: str) -> None:
        self.closes.append(reason)

    def stale_after(self) -> float | None:
        return self.stale_limit


Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def server(handler: Handler, **options: object) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0, **options) as running:  # type: ignore[arg-type]
        port = _port(running)
        yield f"ws://127.0.0.1:{port}/feed"


def _port(running: Server) -> int:
    return int(next(iter(running.sockets)).getsockname()[1])


@contextlib.asynccontextmanager
async def running(runner: ReconnectingWebSocket) -> AsyncIterator[ReconnectingWebSocket]:
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_subscribes_on_open_and_hands_frames_on_but_not_pongs() -> None:
    received_subscriptions: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        received_subscriptions.append(str(await ws.recv()))
        await ws.send("PONG")
        await ws.send('{"event":1}')
        await ws.send(b"\x01binary")
        await ws.wait_closed()

    feed = RecordingFeed()
    stats = FeedStats("test")
    async with server(handler) as url, running(ReconnectingWebSocket(url, feed, stats=stats, policy=FAST)):
        await eventually(lambda: len(feed.frames) == 2)
    assert received_subscriptions == ["SUB"]
    assert feed.frames == ['{"event":1}', b"\x01binary"]
    assert stats.messages == 2
    assert stats.connects == 1


async def test_a_failing_handler_is_counted_and_the_feed_goes_on() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send("bad")
        await ws.send("good")
        await ws.wait_closed()

    feed = RecordingFeed(fail_on="bad")
    stats = FeedStats("test")
    async with server(handler) as url, running(ReconnectingWebSocket(url, feed, stats=stats, policy=FAST)):
        await eventually(lambda: feed.frames == ["good"])
    assert stats.errors == 1
    assert stats.error_kinds["handler_failed"] == 1


async def test_reconnects_and_resubscribes_after_the_server_closes() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        await ws.send(f"hello {connections}")
        if connections < 3:
            await ws.close()
        else:
            await ws.wait_closed()

    feed = RecordingFeed()
    stats = FeedStats("test")
    async with server(handler) as url, running(ReconnectingWebSocket(url, feed, stats=stats, policy=FAST)):
        await eventually(lambda: "hello 3" in feed.frames)
    assert feed.opened == 3  # every connection subscribed again
    assert len(feed.closes) == 2  # the gap was reported each time
    assert stats.reconnects == 2


async def test_short_lived_connections_back_off_exponentially() -> None:
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    async def handler(ws: ServerConnection) -> None:
        attempts.append(loop.time())
        await ws.close()

    policy = ReconnectPolicy(min_interval_s=0.01, base_delay_s=0.02, max_delay_s=0.16, jitter=0.0)
    feed = RecordingFeed()
    async with (
        server(handler) as url,
        running(ReconnectingWebSocket(url, feed, stats=FeedStats("t"), policy=policy)),
    ):
        await eventually(lambda: len(attempts) >= 6, within=10)
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    # Nominal delays 0.02, 0.04, 0.08, 0.16, 0.16: each gap at least its delay, growing.
    for gap, nominal in zip(gaps, (0.02, 0.04, 0.08, 0.16, 0.16), strict=False):
        assert gap >= nominal * 0.9
    assert gaps[3] > gaps[0] * 3


def test_backoff_never_goes_below_the_attempt_floor_and_caps() -> None:
    policy = ReconnectPolicy(min_interval_s=1.0, base_delay_s=0.1, max_delay_s=60.0, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.backoff(failures, rng) for failures in range(1, 40)]
    assert min(delays) >= 1.0
    assert max(delays) <= 60.0
    assert delays[-1] >= 30.0  # capped at 60 s minus at most 50 % jitter


async def test_a_silent_connection_is_dropped_as_stale_even_while_it_answers_pings() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        await ws.send("one frame, then silence")
        await ws.wait_closed()  # keeps answering protocol pings, sends no data

    feed = RecordingFeed(stale_limit=0.2)
    stats = FeedStats("test")
    runner = ReconnectingWebSocket(url="", protocol=feed, stats=stats, policy=FAST, ws_ping_interval_s=0.05)
    async with server(handler) as url:
        runner._url = url
        async with running(runner):
            await eventually(lambda: stats.stale_reconnects >= 1, within=5)
            await eventually(lambda: connections >= 2)
    assert feed.closes[0].startswith("stale")


async def test_text_pings_are_sent_while_connected() -> None:
    pings: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            if message == "PING":
                pings.append(message)
                await ws.send("PONG")

    feed = RecordingFeed()
    stats = FeedStats("test")
    runner = ReconnectingWebSocket("", feed, stats=stats, policy=FAST, text_ping="PING", ping_interval_s=0.02)
    async with server(handler) as url:
        runner._url = url
        async with running(runner):
            await eventually(lambda: len(pings) >= 3)
    assert stats.messages == 0  # PONG replies are keepalive, not data


@pytest.mark.parametrize("status", [429, 418, 403])
async def test_a_refused_handshake_waits_the_long_delay(status: int) -> None:
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    def refuse(connection: ServerConnection, request: Request) -> Response:
        attempts.append(loop.time())
        return Response(status, "Refused", Headers({"Retry-After": "0"}), b"")

    feed = RecordingFeed()
    stats = FeedStats("test")
    async with (
        server(lambda ws: ws.wait_closed(), process_request=refuse) as url,
        running(ReconnectingWebSocket(url, feed, stats=stats, policy=FAST)),
    ):
        # The server sees the attempt before the client has read the refusal: wait for both.
        await eventually(lambda: len(attempts) >= 2 and stats.handshake_rejections >= 2, within=5)
    assert attempts[1] - attempts[0] >= FAST.rejected_delay_s * 0.9  # not the 0.01 s floor
    assert feed.opened == 0


async def test_retry_after_longer_than_the_policy_is_honoured() -> None:
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    def refuse(connection: ServerConnection, request: Request) -> Response:
        attempts.append(loop.time())
        return Response(429, "Too Many Requests", Headers({"Retry-After": "1"}), b"")

    policy = ReconnectPolicy(min_interval_s=0.01, rejected_delay_s=0.05)
    async with (
        server(lambda ws: ws.wait_closed(), process_request=refuse) as url,
        running(ReconnectingWebSocket(url, RecordingFeed(), stats=FeedStats("t"), policy=policy)),
    ):
        await eventually(lambda: len(attempts) >= 2, within=5)
    assert attempts[1] - attempts[0] >= 0.95


async def test_unreachable_server_is_retried_without_crashing() -> None:
    # Bind a port, then close it: connecting is refused.
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0) as probe:
        port = _port(probe)
    stats = FeedStats("test")
    runner = ReconnectingWebSocket(f"ws://127.0.0.1:{port}/", RecordingFeed(), stats=stats, policy=FAST)
    async with running(runner):
        await eventually(lambda: runner._failures >= 3)
    assert stats.connects == 0
    assert not runner.connected


async def test_force_reconnect_and_send() -> None:
    received: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            received.append(str(message))

    feed = RecordingFeed()
    stats = FeedStats("test")
    runner = ReconnectingWebSocket("", feed, stats=stats, policy=FAST)
    with pytest.raises(ConnectionError):
        await runner.send("too early")
    async with server(handler) as url:
        runner._url = url
        async with running(runner):
            await eventually(lambda: runner.connected)
            await runner.send("extra")
            await eventually(lambda: "extra" in received)
            runner.force_reconnect("rotation")
            await eventually(lambda: feed.opened == 2)
    assert feed.closes == ["rotation"]


def test_feed_stats_snapshot_reports_ages_and_latency() -> None:
    stats = FeedStats("market")
    assert stats.snapshot(0.0)["last_message_age_s"] is None
    stats.record_connect(1.0)
    for index in range(100):
        stats.record_message(1.0 + index)
        stats.record_latency(0.001 * (index + 1))
    stats.record_error("malformed")
    snapshot = stats.snapshot(101.5)
    assert snapshot["connected"] is True
    assert snapshot["messages"] == 100
    assert snapshot["errors"] == 1
    assert snapshot["error_kinds"] == {"malformed": 1}
    assert snapshot["last_message_age_s"] == 1.5
    assert snapshot["latency_ms_p50"] == pytest.approx(50.0, abs=1.01)
    assert snapshot["latency_ms_p99"] == pytest.approx(99.0, abs=1.01)
    stats.record_disconnect("stale: quiet", stale=True)
    assert stats.snapshot(102.0)["connected"] is False
    assert stats.stale_reconnects == 1


def test_recording_feed_satisfies_the_protocol() -> None:
    feed: FeedProtocol = RecordingFeed()
    assert feed.stale_after() is None


async def test_cancelling_the_runner_closes_the_socket() -> None:
    closed = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        closed.set()

    stats = FeedStats("test")
    runner = ReconnectingWebSocket("", RecordingFeed(), stats=stats, policy=FAST)
    async with server(handler) as url:
        runner._url = url
        async with running(runner):
            await eventually(lambda: runner.connected)
        assert not runner.connected
        assert stats.snapshot(0.0)["connected"] is False
        await asyncio.wait_for(closed.wait(), 5)


async def test_a_peer_that_stops_answering_text_pings_is_dropped() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        async for message in ws:
            if message == "PING" and connections > 1:
                await ws.send("PONG")  # the first connection never answers

    stats = FeedStats("test")
    feed = RecordingFeed()
    runner = ReconnectingWebSocket(
        "", feed, stats=stats, policy=FAST, text_ping="PING", ping_interval_s=0.02, keepalive_timeout_s=0.1
    )
    async with server(handler) as url:
        runner._url = url
        async with running(runner):
            await eventually(lambda: connections >= 2)
            await asyncio.sleep(0.3)  # three keepalive timeouts: the answering peer is kept
            assert connections == 2
    assert feed.closes[0].startswith("keepalive")


async def test_a_failing_on_open_is_counted_and_the_connection_retried() -> None:
    class FailsFirstOpen(RecordingFeed):
        async def on_open(self, link: WebSocketLink) -> None:
            await super().on_open(link)
            if self.opened == 1:
                raise RuntimeError("subscribe bug")

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send("data")
        await ws.wait_closed()

    feed = FailsFirstOpen()
    stats = FeedStats("test")
    async with server(handler) as url, running(ReconnectingWebSocket(url, feed, stats=stats, policy=FAST)):
        await eventually(lambda: feed.opened == 2 and feed.frames == ["data"])
    assert stats.error_kinds["on_open_failed"] == 1
    assert feed.closes == ["subscribe failed: RuntimeError"]


async def test_proxies_from_the_environment_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # A SOCKS proxy in the environment made websockets raise ImportError (no python-socks) out
    # of run(); an HTTP one would reroute the feed. The proxy address is a closed loopback port.
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ws_proxy", "socks5h://127.0.0.1:9")

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send("direct")
        await ws.wait_closed()

    feed = RecordingFeed()
    async with (
        server(handler) as url,
        running(ReconnectingWebSocket(url, feed, stats=FeedStats("t"), policy=FAST)),
    ):
        await eventually(lambda: feed.frames == ["direct"])
