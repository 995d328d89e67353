"""The CLOB websockets (market and user channels) over real loopback sockets."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from functools import partial
from typing import Any

import aiohttp
import pytest

from polyexec.sim.app import RunningSimulator, start_simulator
from polyexec.sim.contracts import SimMarket
from tests.sim.conftest import FAST_CONFIG, Trader, make_market

D = Decimal


async def receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    """The next JSON frame within 3 s (``PONG`` text frames are returned as the string)."""
    msg = await ws.receive(timeout=3.0)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return msg.data if msg.data == "PONG" else json.loads(msg.data)


async def next_event(ws: aiohttp.ClientWebSocketResponse, event_type: str, **match: str) -> dict[str, Any]:
    """Skip frames until an event of ``event_type`` whose fields equal ``match``."""
    for _ in range(200):
        frame = await receive(ws)
        for event in frame if isinstance(frame, list) else [frame]:
            if event.get("event_type") == event_type and all(event.get(k) == v for k, v in match.items()):
                return event
    raise AssertionError(f"no {event_type} event {match}")


async def read_up_to_pong(ws: aiohttp.ClientWebSocketResponse) -> list[str]:
    """Send ``PING`` and return the ids of the events that arrive before its ``PONG``."""
    await ws.send_str("PING")
    ids = []
    while (frame := await receive(ws)) != "PONG":
        ids.append(frame["id"])
    return ids


async def _place(
    trader: Trader, http: aiohttp.ClientSession, sim: RunningSimulator, token: str, price: float
) -> str:
    """Post a 5-share BUY for ``trader``; returns its order id."""
    status, placed = await trader.request(http, "POST", sim.base_url, "/order", trader.order(token, price, 5))
    assert status == 200
    return str(placed["orderID"])


async def test_market_channel_dump_ping_and_updates(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    exchange = sim.simulator.exchange
    up, down = market.up_token_id, market.down_token_id
    exchange.place_background_order("mm", up, "BUY", D("0.41"), D(10))
    exchange.place_background_order("mm", up, "BUY", D("0.40"), D(20))
    exchange.place_background_order("mm", up, "SELL", D("0.46"), D(10))
    exchange.place_background_order("mm", up, "SELL", D("0.45"), D(5))
    async with http.ws_connect(sim.clob_ws_url + "/market") as ws:
        await ws.send_json({"type": "market", "assets_ids": [up, down, "42"], "custom_feature_enabled": True})
        dump = await receive(ws)
        assert isinstance(dump, list)
        assert [(b["event_type"], b["asset_id"]) for b in dump] == [("book", up), ("book", down)]
        assert [lvl["price"] for lvl in dump[0]["bids"]] == ["0.4", "0.41"]
        assert [lvl["price"] for lvl in dump[0]["asks"]] == ["0.46", "0.45"]
        await ws.send_str("PING")
        assert await receive(ws) == "PONG"

        exchange.place_background_order("mm", up, "BUY", D("0.43"), D(7))
        change = await next_event(ws, "price_change")
        assert change["market"] == market.condition_id
        assert change["price_changes"] == [
            {
                "asset_id": up,
                "price": "0.43",
                "size": "7",
                "side": "BUY",
                "hash": change["price_changes"][0]["hash"],
                "best_bid": "0.43",
                "best_ask": "0.45",
            }
        ]
        quote = await next_event(ws, "best_bid_ask")
        assert (quote["best_bid"], quote["best_ask"], quote["spread"]) == ("0.43", "0.45", "0.02")

        exchange.place_background_order("taker", up, "BUY", D("0.45"), D(3), "FAK")
        last = await next_event(ws, "last_trade_price")
        assert (last["price"], last["size"], last["side"]) == ("0.45", "3", "BUY")
        book = await next_event(ws, "book", asset_id=up)
        assert book["asks"][-1] == {"price": "0.45", "size": "2"}


async def test_market_channel_dynamic_subscriptions(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    exchange = sim.simulator.exchange
    up, down = market.up_token_id, market.down_token_id
    async with http.ws_connect(sim.clob_ws_url + "/market") as ws:
        await ws.send_json({"type": "market", "assets_ids": [up]})
        assert [b["asset_id"] for b in await receive(ws)] == [up]
        await ws.send_json({"operation": "subscribe", "assets_ids": [up, down]})
        assert [b["asset_id"] for b in await receive(ws)] == [down]  # only the new one
        await ws.send_json({"operation": "unsubscribe", "assets_ids": [up]})
        await ws.send_str("PING")
        assert await receive(ws) == "PONG"  # the unsubscribe has been read
        exchange.place_background_order("mm", up, "BUY", D("0.30"), D(10))
        exchange.place_background_order("mm", down, "BUY", D("0.60"), D(10))
        change = await next_event(ws, "price_change")
        assert [c["asset_id"] for c in change["price_changes"]] == [down]
        # without custom features there is no best_bid_ask
        exchange.place_background_order("mm", down, "BUY", D("0.61"), D(10))
        await next_event(ws, "price_change")
        await ws.send_str("PING")
        assert await receive(ws) == "PONG"


async def test_tick_size_change_on_the_wire(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    exchange = sim.simulator.exchange
    async with http.ws_connect(sim.clob_ws_url + "/market") as ws:
        await ws.send_json({"type": "market", "assets_ids": [market.up_token_id], "initial_dump": False})
        await ws.send_str("PING")
        assert await receive(ws) == "PONG"  # the subscription has been read
        exchange.place_background_order("mm", market.up_token_id, "BUY", D("0.97"), D(10))
        exchange.place_background_order("mm", market.up_token_id, "SELL", D("0.99"), D(10))
        change = await next_event(ws, "tick_size_change")
        assert (change["old_tick_size"], change["new_tick_size"]) == ("0.01", "0.001")


async def test_user_channel_order_and_trade_events(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    exchange = sim.simulator.exchange
    other = make_market(window_start=market.window_start + 900)
    exchange.add_market(other)
    up = market.up_token_id
    alice = Trader("alice")
    await alice.register(http, sim.base_url)
    async with http.ws_connect(sim.clob_ws_url + "/user") as ws:
        await ws.send_json({"type": "user", "auth": alice.ws_auth(), "markets": [market.condition_id]})
        await ws.send_str("PING")
        assert await receive(ws) == "PONG"
        status, elsewhere = await alice.request(
            http, "POST", sim.base_url, "/order", alice.order(other.up_token_id, 0.3, 5)
        )
        assert status == 200
        status, placed = await alice.request(http, "POST", sim.base_url, "/order", alice.order(up, 0.45, 10))
        placement = await next_event(ws, "order")
        assert (placement["type"], placement["id"], placement["status"]) == (
            "PLACEMENT",
            placed["orderID"],
            "LIVE",
        )
        assert (placement["original_size"], placement["size_matched"]) == ("10", "0")

        exchange.place_background_order("taker", up, "SELL", D("0.45"), D(4), "FAK")
        update = await next_event(ws, "order", type="UPDATE")
        assert (update["size_matched"], update["status"]) == ("4", "LIVE")
        trade = await next_event(ws, "trade", status="MATCHED")
        assert (trade["trader_side"], trade["side"], trade["size"]) == ("MAKER", "SELL", "4")
        assert trade["maker_orders"][0]["order_id"] == placed["orderID"]
        assert (await next_event(ws, "trade", status="MINED"))["transaction_hash"].startswith("0x")
        assert (await next_event(ws, "trade", status="CONFIRMED"))["id"] == trade["id"]

        exchange.place_background_order("taker", up, "SELL", D("0.45"), D(2), "FAK")
        assert (await next_event(ws, "order", type="UPDATE"))["size_matched"] == "6"  # cumulative

        await alice.request(http, "DELETE", sim.base_url, "/order", {"orderID": placed["orderID"]})
        cancel = await next_event(ws, "order", type="CANCELLATION")
        assert (cancel["id"], cancel["status"]) == (placed["orderID"], "CANCELED")
    assert elsewhere["success"]  # its events went nowhere: the socket filtered that market


async def test_user_channel_dynamic_market_subscriptions(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    other = make_market(window_start=market.window_start + 900)
    sim.simulator.exchange.add_market(other)
    alice = Trader("alice")
    await alice.register(http, sim.base_url)
    auth = alice.ws_auth()
    place = partial(_place, alice, http, sim)
    async with http.ws_connect(sim.clob_ws_url + "/user") as ws:
        await ws.send_json({"type": "user", "auth": auth, "markets": [market.condition_id]})
        assert await read_up_to_pong(ws) == []
        await place(other.up_token_id, 0.20)  # not subscribed yet
        await ws.send_json({"operation": "subscribe", "markets": [other.condition_id]})
        assert await read_up_to_pong(ws) == []
        in_other = await place(other.up_token_id, 0.21)
        in_first = await place(market.up_token_id, 0.22)
        assert await read_up_to_pong(ws) == [in_other, in_first]
        await ws.send_json({"operation": "unsubscribe", "markets": [market.condition_id]})
        assert await read_up_to_pong(ws) == []
        await place(market.up_token_id, 0.23)
        in_other = await place(other.up_token_id, 0.24)
        assert await read_up_to_pong(ws) == [in_other]


async def test_user_channel_unsubscribe_on_an_every_market_socket(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    other = make_market(window_start=market.window_start + 900)
    sim.simulator.exchange.add_market(other)
    alice = Trader("alice")
    await alice.register(http, sim.base_url)
    auth = alice.ws_auth()
    place = partial(_place, alice, http, sim)
    async with http.ws_connect(sim.clob_ws_url + "/user") as ws:
        await ws.send_json({"type": "user", "auth": auth})  # no markets: every market
        in_first = await place(market.up_token_id, 0.20)
        in_other = await place(other.up_token_id, 0.21)
        assert await read_up_to_pong(ws) == [in_first, in_other]
        await ws.send_json({"operation": "unsubscribe", "markets": [market.condition_id]})
        assert await read_up_to_pong(ws) == []
        await place(market.up_token_id, 0.22)  # excluded now
        in_other = await place(other.up_token_id, 0.23)
        assert await read_up_to_pong(ws) == [in_other]
        await ws.send_json({"operation": "subscribe", "markets": [market.condition_id]})
        assert await read_up_to_pong(ws) == []
        in_first = await place(market.up_token_id, 0.24)
        assert await read_up_to_pong(ws) == [in_first]


async def test_user_channel_refuses_bad_credentials(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    alice = Trader("alice")
    creds = await alice.register(http, sim.base_url)
    async with http.ws_connect(sim.clob_ws_url + "/user") as ws:
        auth = {"apiKey": creds.api_key, "secret": "wrong", "passphrase": creds.api_passphrase}
        await ws.send_json({"type": "user", "auth": auth})
        msg = await ws.receive(timeout=3)
        assert msg.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1008


@pytest.mark.parametrize("channel", ["market", "user"])
async def test_silent_sockets_are_closed(channel: str, http: aiohttp.ClientSession) -> None:
    sim = await start_simulator(replace(FAST_CONFIG, ws_idle_timeout_s=0.3))
    try:
        async with http.ws_connect(f"{sim.clob_ws_url}/{channel}") as ws:
            msg = await ws.receive(timeout=3)
            assert msg.type == aiohttp.WSMsgType.CLOSE
    finally:
        await sim.stop()
