"""BinanceFeed against the simulator's Binance streams (and a refusing local server): delivery,
make-before-break rotation without gaps or duplicates, serverShutdown, silent freezes, drops,
malformed frames and refused handshakes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from polyexec.core.events import BinanceBookTicker, BinanceTrade, FeedEvent
from polyexec.sim.app import RunningSimulator
from polyexec.venues import binance_feed
from polyexec.venues.binance_feed import BinanceFeed
from polyexec.venues.ws_connection import ReconnectingWebSocket, ReconnectPolicy
from tests.venues.conftest import eventually, sim_admin

FAST = ReconnectPolicy(
    min_interval_s=0.01,
    base_delay_s=0.01,
    max_delay_s=0.1,
    stable_after_s=60.0,
    rejected_delay_s=0.05,
    jitter=0.0,
    open_timeout_s=2.0,
)


@dataclass
class Collector:
    events: list[FeedEvent] = field(default_factory=list)

    def __call__(self, event: FeedEvent) -> None:
        self.events.append(event)

    def trades(self, symbol: str | None = None) -> list[BinanceTrade]:
        return [e for e in self.events if isinstance(e, BinanceTrade) and symbol in (None, e.symbol)]

    def tickers(self) -> list[BinanceBookTicker]:
        return [e for e in self.events if isinstance(e, BinanceBookTicker)]

    def trade_ids(self, symbol: str) -> list[int]:
        return [t.trade_id for t in self.trades(symbol)]


@contextlib.asynccontextmanager
async def running(feed: BinanceFeed) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(feed.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not feed.connected
    assert feed.status()["connected"] is False
    assert feed.status()["legs"] == 0


def make_feed(sim: RunningSimulator, sink: Collector, **options: object) -> BinanceFeed:
    return BinanceFeed(sim.binance_ws_url, ["btc", "eth"], sink, policy=FAST, **options)  # type: ignore[arg-type]


def more_trades(sink: Collector, than: int) -> bool:
    return len(sink.trades()) > than


async def test_delivers_trades_and_book_tickers_of_every_asset(sim: RunningSimulator) -> None:
    sink = Collector()
    feed = make_feed(sim, sink)
    streams = "btcusdt@trade/btcusdt@bookTicker/ethusdt@trade/ethusdt@bookTicker"
    assert feed.url == f"{sim.binance_ws_url}/stream?streams={streams}"
    async with running(feed):
        await eventually(lambda: len(sink.trades("btcusdt")) >= 3 and len(sink.trades("ethusdt")) >= 3)
        await eventually(lambda: {t.symbol for t in sink.tickers()} == {"btcusdt", "ethusdt"})
        ticker = sink.tickers()[-1]
        assert abs(ticker.received_ms - time.time() * 1000) < 5_000
        assert ticker.bid <= ticker.ask
        status = feed.status()
        assert status["connects"] == 1
        assert status["errors"] == 0
        assert status["legs"] == 1
        assert status["latency_ms_p50"] is not None
        assert orjson.loads(orjson.dumps(status)) == status  # plain JSON for /status
        assert feed.stats.messages >= 6
    for symbol in ("btcusdt", "ethusdt"):
        ids = sink.trade_ids(symbol)
        assert ids == sorted(set(ids))


async def test_rotation_is_make_before_break_without_gap_or_duplicate(sim: RunningSimulator) -> None:
    sink = Collector()
    feed = make_feed(sim, sink, rotate_after_s=0.6)
    async with running(feed):
        await eventually(lambda: feed.switchovers >= 3, within=15.0)
        await eventually(lambda: feed.status()["legs"] == 1)
        assert feed.rotations >= 3
        assert feed.duplicates_dropped >= 1  # the old and the new connection overlapped
        assert feed.stats.reconnects >= 3  # every retired connection counts
        assert feed.connected
    for symbol in ("btcusdt", "ethusdt"):
        ids = sink.trade_ids(symbol)
        assert len(ids) == len(set(ids)), "a trade was delivered twice"
        assert sorted(ids) == list(range(min(ids), max(ids) + 1)), "a trade was missed"


async def test_server_shutdown_switches_to_a_new_connection(sim: RunningSimulator) -> None:
    sink = Collector()
    feed = make_feed(sim, sink)
    async with running(feed):
        await eventually(lambda: len(sink.trades()) >= 2)
        answer = await sim_admin(sim, "POST", "/binance/shutdown")
        assert answer == {"closed": 1}
        await eventually(lambda: feed.server_shutdowns == 1 and feed.switchovers == 1)
        seen = len(sink.trades())
        await eventually(lambda: more_trades(sink, seen + 4))
        await eventually(lambda: feed.status()["legs"] == 1)
        assert feed.stats.connects >= 2
    ids = sink.trade_ids("btcusdt")
    assert len(ids) == len(set(ids))


async def test_a_silent_freeze_is_detected_and_recovered(sim: RunningSimulator) -> None:
    sink = Collector()
    feed = make_feed(sim, sink, stale_after_s=0.4)
    async with running(feed):
        await eventually(lambda: len(sink.trades()) >= 2)
        await sim_admin(sim, "POST", "/faults/ws_freeze", {"channels": ["binance"]})
        await eventually(lambda: feed.stats.stale_reconnects >= 1)
        await sim_admin(sim, "DELETE", "/faults/ws_freeze")
        seen = len(sink.trades())
        await eventually(lambda: more_trades(sink, seen + 2))
        assert feed.stats.last_disconnect_reason.startswith("stale")


async def test_dropped_connections_reconnect(sim: RunningSimulator) -> None:
    sink = Collector()
    feed = make_feed(sim, sink)
    async with running(feed):
        await eventually(lambda: len(sink.trades()) >= 2)
        await sim_admin(sim, "POST", "/faults/ws_drop", {"channels": ["binance"]})
        await eventually(lambda: feed.stats.reconnects >= 2)
        await sim_admin(sim, "DELETE", "/faults/ws_drop")
        seen = len(sink.trades())
        await eventually(lambda: more_trades(sink, seen + 2))
    assert feed.stats.connects >= 3


async def test_malformed_frames_are_counted_and_skipped(sim: RunningSimulator) -> None:
    sink = Collector()
    feed = make_feed(sim, sink)
    async with running(feed) as task:
        await sim_admin(sim, "POST", "/faults/ws_malformed", {"channels": ["binance"], "rate": 0.5})
        await eventually(lambda: feed.stats.error_kinds["malformed"] >= 3 and len(sink.trades()) >= 3)
        assert not task.done()
        assert feed.stats.connects == 1  # a bad frame is not a reason to reconnect


async def test_a_failing_sink_is_counted_not_fatal(sim: RunningSimulator) -> None:
    calls = 0

    def broken(event: FeedEvent) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("consumer bug")

    feed = BinanceFeed(sim.binance_ws_url, ["btc"], broken, policy=FAST)
    async with running(feed):
        await eventually(lambda: feed.stats.error_kinds["sink_failed"] >= 3)
        assert feed.stats.connects == 1
    assert calls >= 3


async def test_a_crashed_connection_runner_is_replaced(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    class CrashOnce(ReconnectingWebSocket):
        crashed = False

        async def run(self) -> None:
            if not CrashOnce.crashed:
                CrashOnce.crashed = True
                raise RuntimeError("runner bug")
            await super().run()

    monkeypatch.setattr(binance_feed, "ReconnectingWebSocket", CrashOnce)
    sink = Collector()
    feed = make_feed(sim, sink)
    async with running(feed):
        await eventually(lambda: len(sink.trades()) >= 2)
        assert feed.stats.error_kinds["leg_crashed"] == 1
        assert feed.status()["legs"] == 1


# --- a local server that refuses the handshake ------------------------------------------------

TRADE_FRAME = orjson.dumps(
    {
        "stream": "btcusdt@trade",
        "data": {
            "e": "trade",
            "E": 2,
            "s": "BTCUSDT",
            "t": 1,
            "p": "1.5",
            "q": "1",
            "T": 1,
            "m": False,
            "M": True,
        },
    }
).decode()


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_wait"), [(429, "0.3", 0.3), (418, None, 0.2), (403, None, 0.2)]
)
async def test_refused_handshakes_wait_long_and_do_not_crash(
    status: int, retry_after: str | None, expected_wait: float
) -> None:
    attempts: list[float] = []

    def refuse_twice(connection: ServerConnection, request: Request) -> Response | None:
        attempts.append(time.monotonic())
        assert request.path == "/stream?streams=btcusdt@trade/btcusdt@bookTicker"
        if len(attempts) > 2:
            return None
        headers = Headers({"Retry-After": retry_after} if retry_after else {})
        return Response(status, "Refused", headers, b"")

    async def handler(connection: ServerConnection) -> None:
        await connection.send(TRADE_FRAME)
        await connection.wait_closed()

    sink = Collector()
    policy = ReconnectPolicy(min_interval_s=0.01, base_delay_s=0.01, rejected_delay_s=0.2, jitter=0.0)
    async with serve(handler, "127.0.0.1", 0, process_request=refuse_twice) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        feed = BinanceFeed(f"ws://127.0.0.1:{port}", ["btc"], sink, policy=policy)
        async with running(feed) as task:
            await eventually(lambda: len(sink.trades()) == 1)
            assert not task.done()
            assert feed.stats.handshake_rejections == 2
            assert feed.status()["handshake_rejections"] == 2
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert min(gaps[:2]) >= expected_wait * 0.95


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="rotate_after_s"):
        BinanceFeed("ws://127.0.0.1:1", ["btc"], print, rotate_after_s=0)
    with pytest.raises(ValueError, match="stale_after_s"):
        BinanceFeed("ws://127.0.0.1:1", ["btc"], print, stale_after_s=-1)
    with pytest.raises(ValueError, match="at least one asset"):
        BinanceFeed("ws://127.0.0.1:1", [], print)


async def test_a_second_shutdown_during_the_switch_does_not_start_another_one() -> None:
    connections = 0
    second_open = asyncio.Event()
    release = asyncio.Event()
    shutdown = orjson.dumps({"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 5}}).decode()

    async def handler(connection: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        number = connections
        if number == 1:
            await connection.send(TRADE_FRAME)
            await connection.send(shutdown)  # starts the switch
            await second_open.wait()
            await connection.send(shutdown)  # again, while the new connection is not delivering yet
        elif number == 2:
            second_open.set()
            await release.wait()
            await connection.send(TRADE_FRAME.replace('"t":1', '"t":2'))
        await connection.wait_closed()

    sink = Collector()
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        feed = BinanceFeed(f"ws://127.0.0.1:{port}", ["btc"], sink, policy=FAST, overlap_timeout_s=0.05)
        async with running(feed):
            await eventually(lambda: feed.server_shutdowns == 2)
            release.set()
            await eventually(lambda: feed.switchovers == 1 and feed.status()["legs"] == 1)
            assert connections == 2
    assert sink.trade_ids("btcusdt") == [1, 2]


def _trade_frame(trade_id: int, price: str, symbol: str = "btcusdt") -> bytes:
    return orjson.dumps(
        {
            "stream": f"{symbol}@trade",
            "data": {
                "e": "trade", "E": 1_800_000_000_003, "s": symbol.upper(), "t": trade_id, "p": price,
                "q": "0.5", "T": 1_800_000_000_000, "m": False, "M": True,
            },
        }
    )  # fmt: skip


def test_handle_frame_runs_the_feed_hot_path_without_a_connection() -> None:
    """handle_frame (the replay/benchmark seam) decodes, de-duplicates, counts and delivers
    exactly as a connection's frames are, on a feed that is not running."""
    sink = Collector()
    feed = BinanceFeed("ws://127.0.0.1:9", ["btc"], sink, clock=lambda: 1_800_000_000.5)
    feed.handle_frame(_trade_frame(7, "100000.50"), time.monotonic())
    feed.handle_frame(_trade_frame(7, "100000.50"), time.monotonic())  # the same trade again
    feed.handle_frame(b'{"stream": "btcusdt@trade", "data": {"e": "trade"}}', time.monotonic())
    feed.handle_frame(_trade_frame(8, "100001", symbol="ethusdt"), time.monotonic())
    feed.handle_frame(_trade_frame(9, "100002.25").decode(), time.monotonic())  # str frames too
    assert [(t.trade_id, str(t.price)) for t in sink.trades()] == [(7, "100000.50"), (9, "100002.25")]
    assert feed.duplicates_dropped == 1
    stats = feed.stats
    assert stats.messages == 5
    assert dict(stats.error_kinds) == {"malformed": 1, "unexpected_symbol": 1}
    assert not feed.connected  # a replayed frame opens no connection
