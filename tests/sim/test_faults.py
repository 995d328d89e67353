"""Every fault can be switched on through ``/sim/faults`` and observed by a client."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from polyexec.sim.app import RunningSimulator
from polyexec.sim.contracts import SimClock, SimMarket
from polyexec.sim.faults import FaultRegistry
from tests.sim.conftest import Trader, eventually

D = Decimal


async def switch(
    http: aiohttp.ClientSession, sim: RunningSimulator, name: str, **options: Any
) -> dict[str, Any]:
    async with http.post(f"{sim.admin_url}/faults/{name}", json=options) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def registered(http: aiohttp.ClientSession, sim: RunningSimulator) -> Trader:
    trader = Trader("chaos")
    await trader.register(http, sim.base_url)
    return trader


def test_registry_rates_windows_and_validation() -> None:
    clock = SimClock(start=1_000)
    faults = FaultRegistry(clock.now, seed=1)
    with pytest.raises(ValueError, match="unknown fault"):
        faults.set("http_418")
    with pytest.raises(ValueError, match="unknown option"):
        faults.set("http_500", ratio=1)
    with pytest.raises(ValueError, match="rate must be within"):
        faults.set("ws_drop", rate=2)
    faults.set("ws_drop", rate=0.5, channels=["market"])
    draws = [faults.ws_should_drop("market") for _ in range(400)]
    assert 150 < sum(draws) < 250
    assert not any(faults.ws_should_drop("user") for _ in range(50))
    assert faults.describe()["ws_drop"]["hits"] == sum(draws)
    faults.set("http_500", paths=["/order"], seconds=10, start_in=5)
    assert faults.http_fault("POST", "/order") is None  # not yet
    clock.advance(5)
    assert faults.http_fault("POST", "/order") is not None
    assert faults.http_fault("GET", "/book") is None  # out of scope
    clock.advance(10)
    assert faults.http_fault("POST", "/order") is None  # over
    faults.clear()
    assert faults.describe() == {}


async def test_http_error_faults(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    await switch(http, sim, "http_500", paths=["/time"])
    async with http.get(sim.base_url + "/time") as resp:
        assert (resp.status, await resp.json()) == (500, {"error": "Internal Server Error"})
    await switch(http, sim, "http_425", paths=["/time"])
    async with http.get(sim.base_url + "/time") as resp:
        assert resp.status == 500  # both on: the 500 is checked first
    async with http.delete(sim.admin_url + "/faults/http_500"):
        pass
    async with http.get(sim.base_url + "/time") as resp:
        assert resp.status == 425
    await switch(http, sim, "http_429", retry_after=3)
    async with http.get(sim.base_url + "/ok") as resp:
        assert (resp.status, resp.headers["Retry-After"]) == (429, "3")
    async with http.get(sim.admin_url + "/status") as resp:
        assert resp.status == 200  # admin is never faulted
    async with http.delete(sim.admin_url + "/faults") as resp:
        assert await resp.json() == {}
    async with http.get(sim.base_url + "/ok") as resp:
        assert resp.status == 200


async def test_500_after_processing_is_an_ambiguous_outcome(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    trader = await registered(http, sim)
    await switch(http, sim, "http_500", paths=["/order"], methods=["POST"], after=True)
    status, _ = await trader.request(
        http, "POST", sim.base_url, "/order", trader.order(market.up_token_id, 0.4, 10)
    )
    assert status == 500
    async with http.get(f"{sim.admin_url}/accounts/{trader.address}") as resp:
        account = await resp.json()
    assert (account["orders_submitted"], len(account["open_orders"])) == (1, 1)  # it was placed anyway


async def test_slow_and_timed_out_responses(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    await switch(http, sim, "http_slow", paths=["/ok"], delay=0.2)
    started = time.monotonic()
    async with http.get(sim.base_url + "/ok") as resp:
        assert resp.status == 200
    assert time.monotonic() - started >= 0.2
    trader = await registered(http, sim)
    await switch(http, sim, "http_timeout", paths=["/order"], delay=0.6)
    body = json.dumps(trader.order(market.up_token_id, 0.4, 10), separators=(",", ":"))
    headers = {**trader.l2_headers("POST", "/order", body), "Content-Type": "application/json"}
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            sim.base_url + "/order",
            data=body.encode(),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass

    def placed() -> bool:
        account = sim.simulator.exchange.account(trader.address)
        return account is not None and len(account.open_orders) == 1

    assert await eventually(placed)  # the venue processed it; only the answer was lost


async def test_restart_then_post_only_mode(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    trader = await registered(http, sim)
    up = market.up_token_id
    async with http.post(sim.admin_url + "/faults/restart", json={"seconds": 30, "post_only_seconds": 120}):
        pass
    status, _ = await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.4, 10))
    assert status == 425
    sim.simulator.clock.advance(30)
    now = int(sim.simulator.clock.now())
    url = sim.base_url + "/order"
    body = json.dumps(trader.order(up, 0.4, 10), separators=(",", ":"))
    headers = {**trader.l2_headers("POST", "/order", body, timestamp=now), "Content-Type": "application/json"}
    async with http.post(url, data=body.encode(), headers=headers) as resp:
        assert resp.status == 503
        assert int(resp.headers["Retry-After"]) == 120
        answer = await resp.json()
    assert (answer["code"], answer["retry_after_seconds"]) == ("post_only_mode", 120)
    assert answer["error"] == "post-only mode: only post-only orders and cancels are allowed"
    post_only = trader.order(up, 0.41, 10, post_only=True)
    status, placed = await trader.request(http, "POST", sim.base_url, "/order", post_only, timestamp=now)
    assert (status, placed["status"]) == (200, "live")
    status, _ = await trader.request(http, "DELETE", sim.base_url, "/cancel-all", timestamp=now)
    assert status == 200


async def test_cancel_only_mode(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    trader = await registered(http, sim)
    await switch(http, sim, "cancel_only")
    status, answer = await trader.request(
        http, "POST", sim.base_url, "/order", trader.order(market.up_token_id, 0.4, 10)
    )
    assert status == 503
    assert answer["error"].startswith("Trading is currently cancel-only.")


async def test_trading_disabled_refuses_new_orders_but_not_cancels(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    trader = await registered(http, sim)
    up = market.up_token_id
    _, resting = await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.3, 10))
    await switch(http, sim, "trading_disabled")
    status, answer = await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.4, 10))
    assert (status, answer) == (
        503,
        {"error": "Trading is currently disabled. Check polymarket.com for updates"},
    )
    status, answer = await trader.request(
        http, "POST", sim.base_url, "/orders", [trader.order(up, 0.31, 10, post_only=True)]
    )
    assert status == 503
    assert answer["error"].startswith("Trading is currently disabled")
    status, canceled = await trader.request(http, "DELETE", sim.base_url, "/cancel-all")
    assert (status, canceled["canceled"]) == (200, [resting["orderID"]])
    async with http.get(f"{sim.admin_url}/faults") as resp:
        assert (await resp.json())["trading_disabled"]["hits"] == 2


async def test_order_timeout_places_nothing_and_the_order_can_be_resent(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    trader = await registered(http, sim)
    order = trader.order(market.up_token_id, 0.3, 10)
    await switch(http, sim, "order_timeout")
    status, answer = await trader.request(http, "POST", sim.base_url, "/order", order)
    assert (status, answer) == (500, {"error": "order timed out"})
    status, batch = await trader.request(
        http, "POST", sim.base_url, "/orders", [trader.order(market.up_token_id, 0.31, 10)]
    )
    assert status == 200
    assert (batch[0]["success"], batch[0]["errorMsg"]) == (False, "order timed out")
    status, open_orders = await trader.request(http, "GET", sim.base_url, "/data/orders")
    assert (status, open_orders["data"]) == (200, [])

    async with http.delete(f"{sim.admin_url}/faults/order_timeout") as resp:
        assert resp.status == 200
    status, placed = await trader.request(http, "POST", sim.base_url, "/order", order)  # the same order
    assert status == 200, placed
    assert (placed["success"], placed["status"]) == (True, "live")
    status, open_orders = await trader.request(http, "GET", sim.base_url, "/data/orders")
    assert [o["id"] for o in open_orders["data"]] == [placed["orderID"]]


async def test_post_only_mode_switched_on_directly(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    trader = await registered(http, sim)
    up = market.up_token_id
    _, resting = await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.3, 10))
    await switch(http, sim, "post_only", seconds=60)
    body = json.dumps(trader.order(up, 0.4, 10), separators=(",", ":"))
    headers = {**trader.l2_headers("POST", "/order", body), "Content-Type": "application/json"}
    async with http.post(sim.base_url + "/order", data=body.encode(), headers=headers) as resp:
        answer = await resp.json()
        assert (resp.status, answer["code"]) == (503, "post_only_mode")
        assert 58 <= int(resp.headers["Retry-After"]) == answer["retry_after_seconds"] <= 60
    status, batch = await trader.request(
        http, "POST", sim.base_url, "/orders", [trader.order(up, 0.31, 10, post_only=True)]
    )
    assert (status, batch[0]["status"]) == (200, "live")
    status, canceled = await trader.request(http, "DELETE", sim.base_url, "/cancel-all")
    assert (status, sorted(canceled["canceled"])) == (200, sorted([resting["orderID"], batch[0]["orderID"]]))


async def _subscribed(
    http: aiohttp.ClientSession, sim: RunningSimulator, token: str
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(sim.clob_ws_url + "/market")
    await ws.send_json({"type": "market", "assets_ids": [token], "initial_dump": False})
    await ws.send_str("PING")
    assert (await ws.receive(timeout=3)).data == "PONG"
    return ws


async def test_ws_drop_freeze_and_malformed(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    exchange = sim.simulator.exchange
    up = market.up_token_id
    ws = await _subscribed(http, sim, up)
    await switch(http, sim, "ws_malformed", channels=["market"])
    exchange.place_background_order("mm", up, "BUY", D("0.30"), D(10))
    frame = await ws.receive(timeout=3)
    with pytest.raises(ValueError):
        json.loads(frame.data)
    await switch(http, sim, "ws_freeze", channels=["market"])
    exchange.place_background_order("mm", up, "BUY", D("0.31"), D(10))
    await ws.send_str("PING")
    assert (await ws.receive(timeout=3)).data == "PONG"  # alive, but the price change never came
    async with http.delete(sim.admin_url + "/faults"):
        pass
    exchange.place_background_order("mm", up, "BUY", D("0.32"), D(10))
    await ws.send_str("PING")
    assert (await ws.receive(timeout=3)).data == "PONG"  # still frozen until it reconnects
    fresh = await _subscribed(http, sim, up)
    exchange.place_background_order("mm", up, "BUY", D("0.33"), D(10))
    assert json.loads((await fresh.receive(timeout=3)).data)["event_type"] == "price_change"
    await switch(http, sim, "ws_drop", channels=["market"])
    exchange.place_background_order("mm", up, "BUY", D("0.34"), D(10))
    msg = await fresh.receive(timeout=3)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    await ws.close()
    await fresh.close()


async def _user_socket(
    http: aiohttp.ClientSession, sim: RunningSimulator, trader: Trader
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(sim.clob_ws_url + "/user")
    await ws.send_json({"type": "user", "auth": trader.ws_auth()})
    await ws.send_str("PING")
    assert (await ws.receive(timeout=3)).data == "PONG"
    return ws


async def test_user_socket_freeze_and_drop(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    trader = await registered(http, sim)
    up = market.up_token_id
    ws = await _user_socket(http, sim, trader)
    await switch(http, sim, "ws_freeze", channels=["user"])
    await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.30, 10))
    await ws.send_str("PING")
    assert (await ws.receive(timeout=3)).data == "PONG"  # alive, but the PLACEMENT never came
    async with http.delete(sim.admin_url + "/faults"):
        pass
    fresh = await _user_socket(http, sim, trader)
    await switch(http, sim, "ws_drop", channels=["user"])
    await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.31, 10))
    for socket in (fresh, ws):  # the frozen socket had the event queued too: both are dropped
        msg = await socket.receive(timeout=3)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    async with http.get(sim.admin_url + "/faults") as resp:
        assert (await resp.json())["ws_drop"]["hits"] == 2
    await ws.close()
    await fresh.close()


async def test_user_events_duplicated_and_reordered(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    trader = await registered(http, sim)
    ws = await _user_socket(http, sim, trader)
    up = market.up_token_id
    await switch(http, sim, "user_duplicate")
    _, first = await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.30, 10))
    frames = [json.loads((await ws.receive(timeout=3)).data) for _ in range(2)]
    assert [f["id"] for f in frames] == [first["orderID"]] * 2
    async with http.delete(sim.admin_url + "/faults/user_duplicate"):
        pass
    await switch(http, sim, "user_reorder")
    _, second = await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.31, 10))
    async with http.delete(sim.admin_url + "/faults/user_reorder"):
        pass
    _, third = await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.32, 10))
    frames = [json.loads((await ws.receive(timeout=3)).data) for _ in range(2)]
    assert [f["id"] for f in frames] == [third["orderID"], second["orderID"]]
    await ws.close()


async def test_ghost_fills_fail_and_are_reversed(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    trader = await registered(http, sim)
    ws = await _user_socket(http, sim, trader)
    up = market.up_token_id
    await switch(http, sim, "ghost_fills", rate=1.0)
    sim.simulator.exchange.place_background_order("mm", up, "SELL", D("0.50"), D(10))
    status, taken = await trader.request(http, "POST", sim.base_url, "/order", trader.order(up, 0.50, 10))
    assert (status, taken["status"]) == (200, "matched")

    async def failed_trade() -> dict[str, Any] | None:
        frame = json.loads((await ws.receive(timeout=3)).data)
        return frame if frame.get("event_type") == "trade" and frame["status"] == "FAILED" else None

    assert (await eventually(failed_trade))["id"] == taken["tradeIDs"][0]
    async with http.get(f"{sim.admin_url}/accounts/{trader.address}") as resp:
        account = await resp.json()
    assert (account["balances"], account["positions"]) == ({"pUSD": "1000"}, {})
    assert account["trades"][0]["status"] == "TRADE_STATUS_FAILED"
    await ws.close()
