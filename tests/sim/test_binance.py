"""Binance streams over real loopback sockets: payload shapes, control messages, pings,
serverShutdown and the fault hooks."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from polyexec.sim.binance import canonical_stream_name
from polyexec.sim.contracts import SimClock, WsChannel
from polyexec.sim.driver import MarketDriver
from tests.sim.fakes import FakeExchange, FakeFaults, eventually, receive_json, serve

TRADE_KEYS = {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
BOOK_TICKER_KEYS = {"u", "s", "b", "B", "a", "A"}


@asynccontextmanager
async def binance(
    faults: FakeFaults | None = None, ping_interval: float = 20.0
) -> AsyncIterator[tuple[MarketDriver, str, aiohttp.ClientSession]]:
    driver = MarketDriver(
        FakeExchange(),
        SimClock(speed=4.0),  # four ticks' worth of stream per 200 ms of test time
        faults,
        assets=("btc", "eth"),
        seed=1,
        window_seconds=30,
        binance_ping_interval=ping_interval,
        flow_enabled=False,
    )
    async with serve(driver) as base, aiohttp.ClientSession() as session:
        yield driver, base.replace("http://", "ws://") + "/binance", session


async def _collect(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[Any]:
    return [await receive_json(ws) for _ in range(count)]


def _is_decimal_string(value: Any) -> bool:
    return isinstance(value, str) and float(value) > 0 and len(value.split(".")[1]) == 8


async def test_combined_stream_sends_trades_and_book_tickers_with_exact_fields() -> None:
    async with binance() as (_, url, session):
        ws = await session.ws_connect(f"{url}/stream?streams=btcusdt@trade/btcusdt@bookTicker")
        frames = await _collect(ws, 12)
        await ws.close()
    streams = {f["stream"] for f in frames}
    assert streams == {"btcusdt@trade", "btcusdt@bookTicker"}
    trades = [f["data"] for f in frames if f["stream"] == "btcusdt@trade"]
    tickers = [f["data"] for f in frames if f["stream"] == "btcusdt@bookTicker"]
    for trade in trades:
        assert set(trade) == TRADE_KEYS
        assert trade["e"] == "trade"
        assert trade["s"] == "BTCUSDT"
        assert _is_decimal_string(trade["p"])
        assert _is_decimal_string(trade["q"])
        assert isinstance(trade["t"], int)
        assert isinstance(trade["m"], bool)
        assert trade["E"] >= trade["T"]
    for ticker in tickers:
        assert set(ticker) == BOOK_TICKER_KEYS  # no "e", no "E"
        assert float(ticker["b"]) < float(ticker["a"])
        assert _is_decimal_string(ticker["B"])
    # A live, continuous stream: consecutive trade ids, a trade every 200 ms.
    ids = [t["t"] for t in trades]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    times = [t["T"] for t in trades]
    assert all(b - a == 200 for a, b in itertools.pairwise(times))


async def test_raw_stream_sends_bare_payloads() -> None:
    async with binance() as (_, url, session):
        ws = await session.ws_connect(f"{url}/ws/ethusdt@trade")
        frames = await _collect(ws, 3)
        await ws.close()
    assert all(set(f) == TRADE_KEYS and f["s"] == "ETHUSDT" for f in frames)


async def test_microsecond_time_unit() -> None:
    async with binance() as (driver, url, session):
        ws = await session.ws_connect(f"{url}/stream?streams=btcusdt@trade&timeUnit=MICROSECOND")
        trade = (await receive_json(ws))["data"]
        await ws.close()
        assert trade["T"] % 1000 == 0
        assert trade["T"] // 1000 == pytest.approx(driver.clock.now_ms(), abs=5_000)


async def test_subscribe_list_and_unsubscribe_live() -> None:
    async with binance() as (_, url, session):
        ws = await session.ws_connect(f"{url}/ws")
        await ws.send_json(
            {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "BTCUSDT@bookticker"], "id": 1}
        )
        assert await receive_json(ws) == {"result": None, "id": 1}
        seen: set[str] = set()
        while seen != {"aggTrade", "bookTicker"}:
            frame = await receive_json(ws)
            seen.add("aggTrade" if frame.get("e") == "aggTrade" else "bookTicker")
            if frame.get("e") == "aggTrade":
                assert set(frame) == {"e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"}
        await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": "list-1"})
        while (frame := await receive_json(ws)).get("id") != "list-1":
            pass
        assert frame["result"] == ["btcusdt@aggTrade", "btcusdt@bookTicker"]
        await ws.send_json({"method": "UNSUBSCRIBE", "params": ["btcusdt@aggTrade"], "id": 2})
        while (frame := await receive_json(ws)).get("id") != 2:
            pass
        assert frame == {"result": None, "id": 2}
        # Everything after the acknowledgement is from the remaining stream only.
        after = await _collect(ws, 6)
        assert all(set(f) == {"u", "s", "b", "B", "a", "A"} for f in after)
        await ws.close()


async def test_set_property_combined_wraps_frames() -> None:
    async with binance() as (_, url, session):
        ws = await session.ws_connect(f"{url}/ws/btcusdt@trade")
        await ws.send_json({"method": "SET_PROPERTY", "params": ["combined", True], "id": 5})
        while (frame := await receive_json(ws)).get("id") != 5:
            pass
        assert frame == {"result": None, "id": 5}
        await ws.send_json({"method": "GET_PROPERTY", "params": ["combined"], "id": 6})
        while (frame := await receive_json(ws)).get("id") != 6:
            pass
        assert frame["result"] is True
        wrapped = await receive_json(ws)
        assert wrapped["stream"] == "btcusdt@trade"
        assert set(wrapped["data"]) == TRADE_KEYS
        await ws.close()


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", 3),
        ('{"method": "EXPLODE", "id": 9}', 2),
        ('{"params": [], "id": 9}', 2),
        ('{"method": "SUBSCRIBE", "params": ["no-at-sign"], "id": 9}', 2),
        ('{"method": "SET_PROPERTY", "params": ["colour", true], "id": 9}', 0),
        ('{"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 9}', 1),
        ('{"method": "SUBSCRIBE", "params": [], "id": {"x": 1}}', 2),
    ],
)
async def test_control_errors_use_binance_codes(message: str, code: int) -> None:
    async with binance() as (_, url, session):
        ws = await session.ws_connect(f"{url}/ws")
        await ws.send_str(message)
        reply = await receive_json(ws)
        await ws.close()
    assert reply["error"]["code"] == code
    assert reply["error"]["msg"]


async def test_a_malformed_stream_name_in_the_url_is_refused() -> None:
    async with binance() as (_, url, session):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"{url}/stream?streams=btcusdt")
        assert refused.value.status == 400


def test_stream_names_are_canonicalised() -> None:
    assert canonical_stream_name("BTCUSDT@BookTicker") == "btcusdt@bookTicker"
    assert canonical_stream_name("ethusdt@aggtrade") == "ethusdt@aggTrade"
    assert canonical_stream_name("btcusdt@depth5@100ms") == "btcusdt@depth5@100ms"
    assert canonical_stream_name("btcusdt") is None


async def test_server_pings_and_server_shutdown_on_demand() -> None:
    async with binance(ping_interval=0.2) as (driver, url, session):
        combined = await session.ws_connect(f"{url}/stream?streams=btcusdt@trade", autoping=False)
        raw = await session.ws_connect(f"{url}/ws/btcusdt@trade")
        while (msg := await combined.receive(timeout=5)).type != aiohttp.WSMsgType.PING:
            pass
        await combined.pong(msg.data)
        await eventually(lambda: driver.binance.connection_count == 2)
        assert await driver.binance_server_shutdown() == 2
        for ws, wrapped in ((combined, True), (raw, False)):
            shutdown = None
            while True:
                msg = await ws.receive(timeout=5)
                if msg.type == aiohttp.WSMsgType.PING:
                    await ws.pong(msg.data)
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                event = frame["data"] if wrapped else frame
                if event.get("e") == "serverShutdown":
                    shutdown = frame
            assert shutdown is not None
            if wrapped:
                assert shutdown["stream"] == "!serverShutdown"
            assert ws.close_code == 1001


async def test_frozen_socket_sends_nothing_but_keeps_pinging_until_the_client_reconnects() -> None:
    faults = FakeFaults()
    async with binance(faults=faults, ping_interval=0.2) as (_, url, session):
        ws = await session.ws_connect(f"{url}/stream?streams=btcusdt@trade", autoping=False)
        await receive_json(ws)
        faults.frozen.add(WsChannel.BINANCE)
        pings = 0
        text_after_second_ping = 0
        while pings < 4:
            msg = await ws.receive(timeout=5)
            if msg.type == aiohttp.WSMsgType.PING:
                pings += 1
                await ws.pong(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT and pings >= 2:
                text_after_second_ping += 1
            else:
                assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.PING)
        assert text_after_second_ping == 0
        assert not ws.closed
        faults.frozen.clear()
        # The frozen socket stays silent (two more pings, no data); a new one streams.
        pings = 0
        while pings < 2:
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.PING
            pings += 1
            await ws.pong(msg.data)
        fresh = await session.ws_connect(f"{url}/stream?streams=btcusdt@trade")
        assert (await receive_json(fresh))["stream"] == "btcusdt@trade"
        await fresh.close()
        await ws.close()


async def test_malformed_fault_sends_garbage_then_recovers() -> None:
    faults = FakeFaults()
    async with binance(faults=faults) as (_, url, session):
        ws = await session.ws_connect(f"{url}/ws/btcusdt@trade")
        await receive_json(ws)
        faults.malformed.add(WsChannel.BINANCE)
        garbage = None
        for _ in range(10):
            msg = await ws.receive(timeout=5)
            try:
                json.loads(msg.data)
            except ValueError:
                garbage = msg.data
                break
        assert garbage is not None
        faults.malformed.clear()
        for _ in range(3):  # at most one garbled frame may still be in flight
            msg = await ws.receive(timeout=5)
        assert json.loads(msg.data)["e"] == "trade"
        await ws.close()


async def test_drop_fault_aborts_the_connection_without_a_close_frame() -> None:
    faults = FakeFaults()
    async with binance(faults=faults) as (driver, url, session):
        ws = await session.ws_connect(f"{url}/ws/btcusdt@trade")
        await receive_json(ws)
        faults.drop.add(WsChannel.BINANCE)
        while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
            pass
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE)
        assert ws.close_code not in (1000, 1001)
        assert faults.asked[WsChannel.BINANCE] > 0
        await eventually(lambda: driver.binance.connection_count == 0)
