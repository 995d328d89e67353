"""The CLOB REST surface over real loopback sockets, signed with the SDK's own helpers."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

import aiohttp
from py_clob_client_v2.utilities import generate_orderbook_summary_hash, parse_raw_orderbook_summary

from polyexec.sim.app import RunningSimulator, start_simulator
from polyexec.sim.contracts import SimClock, SimMarket
from polyexec.sim.venue import paginate
from tests.sim.conftest import FAST_CONFIG, Trader, eventually

D = Decimal


async def get(http: aiohttp.ClientSession, url: str, **params: str) -> tuple[int, Any]:
    async with http.get(url, params=params or None) as resp:
        return resp.status, await resp.json(content_type=None)


async def registered(http: aiohttp.ClientSession, sim: RunningSimulator, label: str, **kw: Any) -> Trader:
    trader = Trader(label, **kw)
    await trader.register(http, sim.base_url)
    return trader


async def test_public_market_data(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    exchange = sim.simulator.exchange
    up = market.up_token_id
    for price, side in (("0.40", "BUY"), ("0.42", "BUY"), ("0.47", "SELL"), ("0.45", "SELL")):
        exchange.place_background_order("mm", up, side, D(price), D(10))
    base = sim.base_url
    assert await get(http, base + "/ok") == (200, "OK")
    assert await get(http, base + "/version") == (200, {"version": 2})
    status, now = await get(http, base + "/time")
    assert status == 200
    assert abs(now - sim.simulator.clock.now()) < 2
    status, book = await get(http, base + "/book", token_id=up)
    assert status == 200
    assert [b["price"] for b in book["bids"]] == ["0.4", "0.42"]  # ascending, best last
    assert [a["price"] for a in book["asks"]] == ["0.47", "0.45"]  # descending, best last
    assert book["hash"] == generate_orderbook_summary_hash(parse_raw_orderbook_summary(dict(book)))
    assert await get(http, base + "/price", token_id=up, side="BUY") == (200, {"price": "0.42"})
    assert await get(http, base + "/price", token_id=up, side="SELL") == (200, {"price": "0.45"})
    assert (await get(http, base + "/midpoint", token_id=up))[1]["mid"] == "0.435"
    assert await get(http, base + "/spread", token_id=up) == (200, {"spread": "0.03"})
    assert await get(http, base + "/tick-size", token_id=up) == (200, {"minimum_tick_size": 0.01})
    assert await get(http, base + f"/tick-size/{up}") == (200, {"minimum_tick_size": 0.01})
    assert await get(http, base + "/neg-risk", token_id=up) == (200, {"neg_risk": False})
    assert await get(http, base + "/fee-rate", token_id=up) == (200, {"base_fee": 1000})
    assert await get(http, base + "/last-trade-price", token_id=up) == (200, {"price": "0.5", "side": ""})
    status, info = await get(http, base + f"/clob-markets/{market.condition_id}")
    assert (info["mts"], info["mos"], info["nr"], info["itode"]) == (0.01, 5, False, True)
    assert info["t"] == [{"t": up, "o": "Up"}, {"t": market.down_token_id, "o": "Down"}]
    async with http.post(base + "/books", json=[{"token_id": up}, {"token_id": "1"}]) as resp:
        books = await resp.json()
    assert [b["asset_id"] for b in books] == [up]
    assert await get(http, base + "/book", token_id="1") == (
        404,
        {"error": "No orderbook exists for the requested token id"},
    )


async def test_l1_vector_and_refusals(http: aiohttp.ClientSession) -> None:
    clock = SimClock(start=1_700_000_000)
    sim = await start_simulator(FAST_CONFIG, clock=clock)
    try:
        vector = {
            "POLY_ADDRESS": "0x500d75F1329cf98352c32Cf238c2192ca78faFFE",
            "POLY_SIGNATURE": "0x30b955943953b01fd43d5e2a5b1b394819fca3c90399542c344866ac15aa50bc"
            "092ed92611cc6b4ba8849d9c9c493fdff6523452ccf2461736cc3c61f07459241c",
            "POLY_TIMESTAMP": "1700000000",
            "POLY_NONCE": "0",
        }
        async with http.get(sim.base_url + "/auth/derive-api-key", headers=vector) as resp:
            assert resp.status == 200
            creds = await resp.json()
        assert set(creds) == {"apiKey", "secret", "passphrase"}
        async with http.get(sim.base_url + "/auth/derive-api-key", headers=vector) as resp:
            assert await resp.json() == creds  # same nonce, same key
        async with http.post(sim.base_url + "/auth/api-key", headers=vector) as resp:
            assert (resp.status, await resp.json()) == (400, {"error": "Could not create api key"})
        for bad in ({"POLY_NONCE": "1"}, {"POLY_SIGNATURE": vector["POLY_SIGNATURE"][:-2] + "1b"}):
            async with http.get(sim.base_url + "/auth/derive-api-key", headers={**vector, **bad}) as resp:
                assert (resp.status, await resp.json()) == (401, {"error": "Invalid L1 Request headers"})
        clock.advance(3600)  # the same headers an hour later are stale
        async with http.get(sim.base_url + "/auth/derive-api-key", headers=vector) as resp:
            assert resp.status == 401
    finally:
        await sim.stop()


async def test_l2_hmac_covers_exact_body_and_time(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    alice = await registered(http, sim, "alice")
    base = sim.base_url
    body = '{"heartbeat_id":""}'
    assert alice.creds is not None
    cases: list[tuple[dict[str, str], str]] = [
        (alice.l2_headers("POST", "/v1/heartbeats", body), body),  # good
        (alice.l2_headers("POST", "/v1/heartbeats", body), '{"heartbeat_id": ""}'),  # other bytes
        (alice.l2_headers("POST", "/v1/heartbeats", body, timestamp=int(time.time()) - 600), body),  # stale
        ({**alice.l2_headers("POST", "/v1/heartbeats", body), "POLY_PASSPHRASE": "x"}, body),
    ]
    statuses = []
    for headers, sent in cases:
        async with http.post(base + "/v1/heartbeats", data=sent.encode(), headers=headers) as resp:
            statuses.append((resp.status, await resp.json()))
    assert statuses[0][0] == 200
    assert statuses[1:] == [(401, {"error": "Unauthorized/Invalid api key"})] * 3
    alice.creds = replace(alice.creds, api_secret="QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8=")
    assert await alice.request(http, "GET", base, "/data/orders") == (
        401,
        {"error": "Unauthorized/Invalid api key"},
    )


async def test_new_account_is_funded(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    alice = await registered(http, sim, "alice")
    status, body = await alice.request(
        http, "GET", sim.base_url, "/balance-allowance", asset_type="COLLATERAL"
    )
    assert status == 200
    assert body["balance"] == "1000000000"
    assert set(body["allowances"].values()) == {str(2**256 - 1)}


async def test_order_lifecycle_over_rest(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    base, up = sim.base_url, market.up_token_id
    alice = await registered(http, sim, "alice")
    status, placed = await alice.request(http, "POST", base, "/order", alice.order(up, 0.45, 10))
    assert (status, placed["success"], placed["status"]) == (200, True, "live")
    order_id = placed["orderID"]
    status, page = await alice.request(http, "GET", base, "/data/orders", market=market.condition_id)
    assert [o["id"] for o in page["data"]] == [order_id]
    assert (page["next_cursor"], page["data"][0]["status"]) == ("LTE=", "ORDER_STATUS_LIVE")
    status, one = await alice.request(http, "GET", base, f"/data/order/{order_id}")
    assert (one["original_size"], one["price"], one["outcome"]) == ("10", "0.45", "Up")
    bob = await registered(http, sim, "bob")
    assert (await bob.request(http, "GET", base, f"/data/order/{order_id}"))[0] == 404
    assert await bob.request(http, "DELETE", base, "/order", {"orderID": order_id}) == (
        200,
        {"canceled": [], "not_canceled": {order_id: "Order not found or already canceled"}},
    )
    assert await alice.request(http, "DELETE", base, "/order", {"orderID": order_id}) == (
        200,
        {"canceled": [order_id], "not_canceled": {}},
    )
    # a match: bob rests a sell (after getting shares from the simulator's liquidity), alice lifts it
    sim.simulator.exchange.place_background_order("mm", up, "SELL", D("0.50"), D(10))
    started = time.monotonic()
    status, taken = await alice.request(http, "POST", base, "/order", alice.order(up, 0.50, 10))
    assert time.monotonic() - started >= 0.05  # held for the taker delay
    assert (taken["status"], taken["makingAmount"], taken["takingAmount"]) == ("matched", "5", "10")
    trade_id = taken["tradeIDs"][0]
    status, trades = await alice.request(http, "GET", base, "/data/trades", id=trade_id)
    assert trades["data"][0]["trader_side"] == "TAKER"
    assert trades["data"][0]["status"].startswith("TRADE_STATUS_")

    async def confirmed() -> bool:
        _, page = await alice.request(http, "GET", base, "/data/trades", id=trade_id)
        return page["data"][0]["status"] == "TRADE_STATUS_CONFIRMED" and bool(
            page["data"][0]["transaction_hash"]
        )

    await eventually(confirmed)


async def test_order_refusals(sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession) -> None:
    base, up = sim.base_url, market.up_token_id
    alice = await registered(http, sim, "alice")
    bob = await registered(http, sim, "bob")
    tampered = alice.order(up, 0.45, 10)
    tampered["order"]["takerAmount"] = "20000000"
    small = alice.order(up, 0.45, 4.99)
    foreign = alice.order(up, 0.45, 10)
    v1 = alice.order(up, 0.45, 10)
    v1["order"]["nonce"] = "0"
    expected = [
        (tampered, "Invalid signature"),
        (small, "Size (4.99) lower than the minimum: 5"),
        (alice.order(up, 0.455, 10, tick="0.001"), "breaks minimum tick size rule: 0.01"),
        (alice.order(up, 0.45, 10, order_type="FOK"), "FOK orders are fully filled or killed"),
        (v1, "order_version_mismatch"),
    ]
    for body, message in expected:
        status, answer = await alice.request(http, "POST", base, "/order", body)
        assert status == 400
        assert message in answer["error"]
    status, answer = await bob.request(http, "POST", base, "/order", foreign)
    assert (status, answer["error"]) == (400, "the order owner has to be the owner of the API KEY")
    status, answer = await alice.request(http, "POST", base, "/order", {"order": "nope"})
    assert status == 400


async def test_batch_orders_use_the_second_error_form(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    base, up = sim.base_url, market.up_token_id
    alice = await registered(http, sim, "alice")
    batch = [alice.order(up, 0.40, 10), alice.order(up, 0.41, 3)]
    status, results = await alice.request(http, "POST", base, "/orders", batch)
    assert status == 200
    assert [r["success"] for r in results] == [True, False]
    assert "lower than the minimum" in results[1]["errorMsg"]
    assert results[1]["orderID"].startswith("0x")
    too_many = [alice.order(up, 0.30, 5 + i) for i in range(16)]
    assert await alice.request(http, "POST", base, "/orders", too_many) == (
        400,
        {"error": "Too many orders in payload: 16, max allowed: 15"},
    )
    status, canceled = await alice.request(http, "DELETE", base, "/cancel-market-orders", {"asset_id": up})
    assert canceled == {"canceled": [results[0]["orderID"]], "not_canceled": {}}


async def test_cancel_rate_limit_answers_429_with_retry_after(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    alice = await registered(http, sim, "alice")
    ids = [f"0x{i:064x}" for i in range(120)]
    assert (await alice.request(http, "DELETE", sim.base_url, "/orders", ids))[0] == 200
    text = json.dumps(ids[:10], separators=(",", ":"))
    headers = {**alice.l2_headers("DELETE", "/orders", text), "Content-Type": "application/json"}
    async with http.delete(sim.base_url + "/orders", data=text.encode(), headers=headers) as resp:
        assert resp.status == 429
        assert int(resp.headers["Retry-After"]) >= 1
        assert (await resp.json())["error"] == "Too Many Requests"


async def test_heartbeat_ids(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    alice = await registered(http, sim, "alice")
    status, first = await alice.request(http, "POST", sim.base_url, "/v1/heartbeats", {"heartbeat_id": ""})
    assert status == 200
    status, wrong = await alice.request(http, "POST", sim.base_url, "/v1/heartbeats", {"heartbeat_id": "x"})
    assert (status, wrong["heartbeat_id"], wrong["error_msg"]) == (
        400,
        first["heartbeat_id"],
        "Invalid Heartbeat ID",
    )
    status, second = await alice.request(http, "POST", sim.base_url, "/v1/heartbeats", first)
    assert status == 200
    assert second["heartbeat_id"] != first["heartbeat_id"]


async def test_proxy_and_deposit_wallets(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    base, up = sim.base_url, market.up_token_id
    proxy = "0x" + "12" * 20
    deposit = "0x" + "34" * 20
    alice_proxy = await registered(http, sim, "alice", signature_type=1, funder=proxy)
    status, placed = await alice_proxy.request(http, "POST", base, "/order", alice_proxy.order(up, 0.40, 10))
    assert (status, placed["status"]) == (200, "live")
    status, balance = await alice_proxy.request(
        http, "GET", base, "/balance-allowance", asset_type="COLLATERAL", signature_type="1"
    )
    assert balance["balance"] == "1000000000"
    account = sim.simulator.exchange.account(proxy)
    assert account is not None
    assert list(account.open_orders) == [placed["orderID"]]
    mallory = await registered(http, sim, "mallory", signature_type=2, funder=proxy)
    status, refused = await mallory.request(http, "POST", base, "/order", mallory.order(up, 0.40, 10))
    assert (status, refused["error"]) == (
        400,
        "maker address not allowed, please use the deposit wallet flow",
    )
    alice_deposit = await registered(http, sim, "alice", signature_type=3, funder=deposit)
    body = alice_deposit.order(up, 0.41, 10)
    assert len(body["order"]["signature"]) == 636  # the ERC-7739 wrapped form
    status, placed = await alice_deposit.request(http, "POST", base, "/order", body)
    assert (status, placed["success"]) == (200, True)


async def test_eoa_can_be_refused_like_production(http: aiohttp.ClientSession) -> None:
    sim = await start_simulator(replace(FAST_CONFIG, allow_eoa=False))
    try:
        market = SimMarket("btc", "btc-updown-15m-0", "0x" + "cd" * 32, "11", "22", 0, 900)
        sim.simulator.exchange.add_market(market)
        alice = await registered(http, sim, "alice")
        status, refused = await alice.request(
            http, "POST", sim.base_url, "/order", alice.order("11", 0.4, 10)
        )
        assert (status, refused["error"]) == (
            400,
            "maker address not allowed, please use the deposit wallet flow",
        )
    finally:
        await sim.stop()


async def test_gtd_order_expires_through_admin_clock(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    alice = await registered(http, sim, "alice")
    expiration = int(sim.simulator.clock.now()) + 200
    status, placed = await alice.request(
        http,
        "POST",
        sim.base_url,
        "/order",
        alice.order(market.up_token_id, 0.40, 10, order_type="GTD", expiration=expiration),
    )
    assert status == 200
    async with http.post(sim.base_url + "/sim/clock/advance", json={"seconds": 141}) as resp:
        assert (await resp.json())["processed"] >= 1
    path = f"/data/order/{placed['orderID']}"
    # the venue's clock moved on: a client stamping wall time is now stale, one using /time is not
    assert (await alice.request(http, "GET", sim.base_url, path))[0] == 401
    now = int(sim.simulator.clock.now())
    status, order = await alice.request(http, "GET", sim.base_url, path, timestamp=now)
    assert status == 200, order
    assert order["status"] == "ORDER_STATUS_CANCELED_EXPIRED_ORDER"


def test_pagination_cursor() -> None:
    items = [{"n": i} for i in range(250)]
    first = paginate(items, "MA==")
    second = paginate(items, first["next_cursor"])
    third = paginate(items, second["next_cursor"])
    assert (first["next_cursor"], first["count"]) == ("MTAw", 100)
    assert [p["data"][0]["n"] for p in (first, second, third)] == [0, 100, 200]
    assert (third["next_cursor"], third["count"]) == ("LTE=", 50)
