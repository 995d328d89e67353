"""The CLOB REST surface over real loopback sockets, signed with the SDK's own helpers."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any

import aiohttp
from py_clob_client_v2.utilities import generate_orderbook_summary_hash, parse_raw_orderbook_summary

from polyexec.sim.app import RunningSimulator, start_simulator
from polyexec.sim.contracts import SimClock, SimMarket
from polyexec.sim.orders import EXCHANGE_ADDRESS, order_digest, parse_send_order
from polyexec.sim.records import OrderRequest
from polyexec.sim.venue import paginate
from tests.sim.conftest import FAST_CONFIG, Trader, eventually, make_market

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


def direct_order(
    sim: RunningSimulator, trader: Trader, n: int, token: str, side: str, price: str, shares: int
) -> Any:
    """Place a verified order for ``trader`` straight on the exchange (no signing, no taker
    delay): the fast way to give an account many orders or trades."""
    assert trader.creds is not None
    shares_micro = shares * 1_000_000
    pusd_micro = int(D(price) * shares_micro)
    maker_amount, taker_amount = (pusd_micro, shares_micro) if side == "BUY" else (shares_micro, pusd_micro)
    exchange = sim.simulator.exchange
    request = OrderRequest(
        id=f"0x{n:064x}",
        owner=trader.creds.api_key,
        signer=trader.address,
        maker=trader.address,
        signature_type=0,
        asset_id=token,
        side=side,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        order_type="GTC",
    )
    return exchange.submit(exchange.prepare(request))


async def test_market_data_shapes_after_a_trade_and_after_resolution(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    exchange = sim.simulator.exchange
    base, up, down = sim.base_url, market.up_token_id, market.down_token_id
    exchange.place_background_order("mm", up, "BUY", D("0.40"), D(10))
    exchange.place_background_order("mm", up, "SELL", D("0.45"), D(10))
    exchange.place_background_order("taker", up, "BUY", D("0.45"), D(4), "FAK")
    assert await get(http, base + "/last-trade-price", token_id=up) == (200, {"price": "0.45", "side": "BUY"})
    assert await get(http, base + "/midpoint", token_id=up) == (200, {"mid": "0.425", "mid_price": "0.425"})
    assert await get(http, base + f"/fee-rate/{up}") == (200, {"base_fee": 1000})
    assert await get(http, base + f"/neg-risk/{up}") == (200, {"neg_risk": False})
    status, info = await get(http, base + f"/clob-markets/{market.condition_id}")
    assert (info["fd"], info["mbf"], info["tbf"]) == ({"r": 0.07, "e": 1, "to": True}, 1000, 1000)
    status, book = await get(http, base + "/book", token_id=up)
    assert (book["last_trade_price"], book["asks"], book["min_order_size"], book["tick_size"]) == (
        "0.45",
        [{"price": "0.45", "size": "6"}],
        "5",
        "0.01",
    )
    async with http.post(base + "/books", json=[{"token_id": up}, {"token_id": down}]) as resp:
        books = await resp.json()
    assert [(b["asset_id"], b["market"]) for b in books] == [
        (up, market.condition_id),
        (down, market.condition_id),
    ]
    assert set(books[0]) == set(book)
    assert (books[0]["bids"], books[0]["asks"]) == (book["bids"], book["asks"])
    assert (books[1]["bids"], books[1]["asks"]) == ([], [])
    status, _ = await get(http, base + "/price", token_id=down, side="BUY")
    assert status == 404
    assert await get(http, base + "/price", token_id=up, side="HOLD") == (400, {"error": "Invalid side"})
    batches = {
        "/prices": (
            [{"token_id": up, "side": "BUY"}, {"token_id": up, "side": "SELL"}],
            {up: {"BUY": "0.4", "SELL": "0.45"}},
        ),
        "/midpoints": ([{"token_id": up}, {"token_id": down}], {up: "0.425"}),
        "/spreads": ([{"token_id": up}], {up: "0.05"}),
        "/last-trades-prices": (
            [{"token_id": up}, {"token_id": down}],
            [
                {"token_id": up, "price": "0.45", "side": "BUY"},
                {"token_id": down, "price": "0.5", "side": ""},
            ],
        ),
    }
    for path, (body, expected) in batches.items():
        async with http.post(base + path, json=body) as resp:
            assert (resp.status, await resp.json()) == (200, expected), path
    async with http.post(base + "/books", json=[{"token_id": up}] * 501) as resp:
        assert (resp.status, await resp.json()) == (400, {"error": "Payload exceeds the limit"})

    exchange.resolve_market(market.condition_id, "Up", D("100000"))
    no_book = (404, {"error": "No orderbook exists for the requested token id"})
    for path in ("/book", "/tick-size", "/neg-risk", "/midpoint", "/price"):
        assert await get(http, base + path, token_id=up, side="BUY") == no_book, path
    status, info = await get(http, base + f"/clob-markets/{market.condition_id}")
    assert status == 200  # the market's parameters outlive its book
    status, clob_market = await get(http, base + f"/markets/{market.condition_id}")
    assert (clob_market["closed"], [t["winner"] for t in clob_market["tokens"]]) == (True, [True, False])


async def test_account_lists_paginate_with_cursors_and_cancel_by_ids(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    base, up = sim.base_url, market.up_token_id
    alice = await registered(http, sim, "alice")
    placed = [direct_order(sim, alice, n, up, "BUY", "0.01", 5).order.id for n in range(1, 102)]
    status, first = await alice.request(http, "GET", base, "/data/orders", next_cursor="MA==")
    assert (status, first["limit"], first["count"], first["next_cursor"]) == (200, 100, 100, "MTAw")
    status, second = await alice.request(http, "GET", base, "/data/orders", next_cursor=first["next_cursor"])
    assert (second["count"], second["next_cursor"]) == (1, "LTE=")
    assert [o["id"] for o in first["data"] + second["data"]] == placed
    status, bad = await alice.request(http, "GET", base, "/data/orders", next_cursor="%%%")
    assert (status, bad["error"]) == (400, "invalid next_cursor '%%%'")

    unknown = "0x" + "ee" * 32
    status, canceled = await alice.request(http, "DELETE", base, "/orders", [*placed, unknown])
    assert status == 200
    assert sorted(canceled["canceled"]) == sorted(placed)
    assert canceled["not_canceled"] == {unknown: "Order not found or already canceled"}
    status, empty = await alice.request(http, "GET", base, "/data/orders")
    assert (empty["count"], empty["data"], empty["next_cursor"]) == (0, [], "LTE=")

    for _ in range(101):
        sim.simulator.exchange.place_background_order("mm", up, "SELL", D("0.50"), D(5))
    taken = direct_order(sim, alice, 500, up, "BUY", "0.50", 505)
    trade_ids = [t.id for t in taken.trades]
    assert len(trade_ids) == 101
    status, first = await alice.request(http, "GET", base, "/data/trades", next_cursor="MA==")
    assert (first["count"], first["next_cursor"]) == (100, "MTAw")
    status, second = await alice.request(http, "GET", base, "/data/trades", next_cursor="MTAw")
    assert (second["count"], second["next_cursor"]) == (1, "LTE=")
    assert [t["id"] for t in first["data"] + second["data"]] == trade_ids[::-1]  # newest first
    match_s = int(first["data"][0]["match_time"])
    status, later = await alice.request(http, "GET", base, "/data/trades", after=str(match_s))
    assert later["count"] == 0
    status, earlier = await alice.request(http, "GET", base, "/data/trades", before=str(match_s + 1))
    assert earlier["count"] == 100
    status, one = await alice.request(http, "GET", base, "/data/trades", id=trade_ids[7])
    assert [t["id"] for t in one["data"]] == [trade_ids[7]]


async def test_balance_refusal_refresh_duplicates_and_cancel_market_filter(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    base, up = sim.base_url, market.up_token_id
    alice = await registered(http, sim, "alice")
    too_big = alice.order(up, 0.99, 2000)
    status, refused = await alice.request(http, "POST", base, "/order", too_big)
    assert (status, refused["code"]) == (400, "INVALID_ORDER_NOT_ENOUGH_BALANCE")
    assert refused["error"] == "not enough balance / allowance: balance: 1000, order amount: 1980"
    async with http.post(f"{sim.admin_url}/accounts/{alice.address}/fund", json={"amount": "1000"}) as resp:
        assert resp.status == 200
    status, refreshed = await alice.request(
        http, "GET", base, "/balance-allowance/update", asset_type="COLLATERAL", signature_type="0"
    )
    assert (status, refreshed["balance"]) == (200, "2000000000")
    assert set(refreshed["allowances"].values()) == {str(2**256 - 1)}
    status, placed = await alice.request(http, "POST", base, "/order", too_big)
    assert (status, placed["status"]) == (200, "live")
    status, again = await alice.request(http, "POST", base, "/order", too_big)
    assert (status, again["error"], again["code"]) == (
        400,
        f"order {placed['orderID']} is invalid. Duplicated.",
        "INVALID_ORDER_DUPLICATED",
    )
    status, shares = await alice.request(
        http, "GET", base, "/balance-allowance", asset_type="CONDITIONAL", token_id=up
    )
    assert (status, shares["balance"]) == (200, "0")
    assert (await alice.request(http, "GET", base, "/balance-allowance", asset_type="CONDITIONAL"))[1] == {
        "error": "Invalid token id"
    }

    other = make_market(window_start=market.window_start + 900)
    sim.simulator.exchange.add_market(other)
    status, elsewhere = await alice.request(
        http, "POST", base, "/order", alice.order(other.up_token_id, 0.2, 5)
    )
    status, canceled = await alice.request(
        http, "DELETE", base, "/cancel-market-orders", {"market": market.condition_id}
    )
    assert canceled == {"canceled": [placed["orderID"]], "not_canceled": {}}
    status, left = await alice.request(http, "GET", base, "/data/orders")
    assert [o["id"] for o in left["data"]] == [elsewhere["orderID"]]


async def test_cancels_cannot_reach_an_order_held_for_the_taker_delay(http: aiohttp.ClientSession) -> None:
    sim = await start_simulator(replace(FAST_CONFIG, taker_delay_ms=400))
    try:
        market = make_market(window_start=int(sim.simulator.clock.now()) // 900 * 900)
        sim.simulator.exchange.add_market(market)
        base, up = sim.base_url, market.up_token_id
        alice = await registered(http, sim, "alice")
        resting = alice.order(up, 0.30, 10)
        started = time.monotonic()
        assert (await alice.request(http, "POST", base, "/order", resting))[1]["status"] == "live"
        assert time.monotonic() - started < 0.4  # not marketable: not held
        sim.simulator.exchange.place_background_order("mm", up, "SELL", D("0.50"), D(10))
        body = alice.order(up, 0.50, 10)
        order_id = "0x" + order_digest(parse_send_order(body).order, EXCHANGE_ADDRESS, 137).hex()
        posting = asyncio.create_task(alice.request(http, "POST", base, "/order", body))

        def held() -> bool:
            account = sim.simulator.exchange.account(alice.address)
            return account is not None and account.orders_submitted == 2

        await eventually(held)
        assert await alice.request(http, "DELETE", base, "/order", {"orderID": order_id}) == (
            200,
            {"canceled": [], "not_canceled": {order_id: "Order not found or already canceled"}},
        )
        status, taken = await posting
        assert (status, taken["orderID"], taken["status"]) == (200, order_id, "matched")
    finally:
        await sim.stop()
