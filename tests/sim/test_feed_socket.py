"""The feed socket writer: garbled frames never parse, a slow consumer is cut off."""

from __future__ import annotations

import json

import aiohttp
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.sim.feed_socket import FeedSocket, malformed_copy

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=40)
@given(st.dictionaries(st.text(max_size=8), _json_values, max_size=6))
def test_a_malformed_copy_of_a_json_object_never_parses(payload: dict[str, object]) -> None:
    frame = json.dumps(payload, separators=(",", ":"))
    garbled = malformed_copy(frame)
    assert garbled
    try:
        json.loads(garbled)
    except ValueError:
        return
    raise AssertionError(f"{garbled!r} parsed")


async def test_a_client_too_far_behind_is_closed_with_1008() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sock = FeedSocket(ws, request, "binance", None, max_queued=5)
        for number in range(20):  # queued faster than anything can be written
            sock.send(json.dumps({"n": number}))
        assert not sock.open
        await sock.run_writer()
        return ws

    app = web.Application()
    app.router.add_get("/feed", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"ws://127.0.0.1:{port}/feed") as ws,
        ):
            texts = []
            while (msg := await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
                texts.append(msg.data)
            assert texts == []  # the backlog is dropped, not flushed
            assert ws.close_code == 1008
    finally:
        await runner.cleanup()
