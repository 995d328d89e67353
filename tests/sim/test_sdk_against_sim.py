"""The unmodified ``py-clob-client-v2`` SDK, pointed at the simulator, works as against the venue.

The SDK is synchronous: the simulator runs on a background thread's event loop
(``sim_thread``) and these tests call the SDK directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderPayload,
    OrderType,
    PartialCreateOrderOptions,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException
from websockets.sync.client import ClientConnection, connect

from tests.sim.conftest import SimThread, eventually_sync, throwaway_key

OPTIONS = PartialCreateOrderOptions(tick_size="0.01", neg_risk=False)


@pytest.fixture
def market(sim_thread: SimThread) -> dict[str, Any]:
    return dict(sim_thread.admin("POST", "/markets", {"asset": "btc"}))


@pytest.fixture
def client(sim_thread: SimThread) -> ClobClient:
    sdk = ClobClient(host=sim_thread.base_url, chain_id=137, key=throwaway_key("sdk-trader"))
    sdk.set_api_creds(sdk.create_or_derive_api_key())
    return sdk


@pytest.fixture
def user_socket(
    sim_thread: SimThread, client: ClobClient, market: dict[str, Any]
) -> Iterator[ClientConnection]:
    creds = client.creds
    ws_url = sim_thread.running.clob_ws_url + "/user"
    with connect(ws_url, proxy=None, open_timeout=5) as ws:
        auth = {"apiKey": creds.api_key, "secret": creds.api_secret, "passphrase": creds.api_passphrase}
        ws.send(json.dumps({"type": "user", "auth": auth, "markets": [market["condition_id"]]}))
        ws.send("PING")
        assert ws.recv(timeout=5) == "PONG"
        yield ws


def next_user_event(ws: ClientConnection, event_type: str, **match: str) -> dict[str, Any]:
    for _ in range(50):
        event = json.loads(ws.recv(timeout=5))
        if event.get("event_type") == event_type and all(event.get(k) == v for k, v in match.items()):
            return dict(event)
    raise AssertionError(f"no {event_type} {match} on the user channel")


def liquidity(sim_thread: SimThread, token_id: str, side: str, price: str, size: str) -> str:
    body = {"account": "mm", "token_id": token_id, "side": side, "price": price, "size": size}
    return str(sim_thread.admin("POST", "/orders", body)["orderID"])


def test_keys_and_public_reads(sim_thread: SimThread, client: ClobClient, market: dict[str, Any]) -> None:
    assert client.get_ok() == "OK"
    assert client.get_version() == 2
    assert isinstance(client.get_server_time(), int)
    again = ClobClient(
        host=sim_thread.base_url, chain_id=137, key=throwaway_key("sdk-trader")
    ).derive_api_key()
    assert again == client.creds
    up = market["up_token_id"]
    liquidity(sim_thread, up, "BUY", "0.44", "10")
    liquidity(sim_thread, up, "SELL", "0.46", "10")
    book = client.get_order_book(up)
    assert (book["bids"][-1]["price"], book["asks"][-1]["price"]) == ("0.44", "0.46")
    assert client.get_order_book_hash(book) == book["hash"]
    assert client.get_midpoint(up)["mid"] == "0.45"
    assert client.get_price(up, "BUY") == {"price": "0.44"}
    assert client.get_tick_size(up) == "0.01"
    assert client.get_neg_risk(up) is False
    info = client.get_clob_market_info(market["condition_id"])
    assert info["mos"] == 5
    balance = client.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
    assert balance["balance"] == "1000000000"


def test_limit_order_open_orders_user_channel_and_cancels(
    client: ClobClient, market: dict[str, Any], user_socket: ClientConnection
) -> None:
    up, down = market["up_token_id"], market["down_token_id"]
    placed = client.create_and_post_order(OrderArgsV2(token_id=up, price=0.45, size=10, side="BUY"), OPTIONS)
    assert (placed["success"], placed["status"]) == (True, "live")
    order_id = placed["orderID"]
    open_orders = client.get_open_orders(OpenOrderParams(market=market["condition_id"]))
    assert [o["id"] for o in open_orders] == [order_id]
    event = next_user_event(user_socket, "order", type="PLACEMENT")
    assert (event["id"], event["price"], event["original_size"]) == (order_id, "0.45", "10")

    assert client.cancel_order(OrderPayload(orderID=order_id)) == {"canceled": [order_id], "not_canceled": {}}
    assert next_user_event(user_socket, "order", type="CANCELLATION")["id"] == order_id
    assert client.get_order(order_id)["status"] == "ORDER_STATUS_CANCELED"

    # the SDK asks the simulator for tick size and neg-risk itself when no options are given
    second = client.create_and_post_order(OrderArgsV2(token_id=down, price=0.30, size=6, side="BUY"))
    third = client.create_and_post_order(OrderArgsV2(token_id=up, price=0.20, size=5, side="BUY"), OPTIONS)
    canceled = client.cancel_all()
    assert sorted(canceled["canceled"]) == sorted([second["orderID"], third["orderID"]])
    assert client.get_open_orders() == []


def test_match_then_trades_with_settlement_hashes(
    sim_thread: SimThread, client: ClobClient, market: dict[str, Any], user_socket: ClientConnection
) -> None:
    up = market["up_token_id"]
    maker_id = liquidity(sim_thread, up, "SELL", "0.52", "30")
    # no defer_exec: the SDK polls /data/trades until the trade has its transaction hash
    taken = client.create_and_post_order(OrderArgsV2(token_id=up, price=0.55, size=10, side="BUY"), OPTIONS)
    assert (taken["status"], taken["makingAmount"], taken["takingAmount"]) == ("matched", "5.2", "10")
    assert len(taken["transactionsHashes"]) == 1
    trades = client.get_trades(TradeParams(market=market["condition_id"]))
    assert [(t["price"], t["size"], t["trader_side"]) for t in trades] == [("0.52", "10", "TAKER")]
    assert trades[0]["maker_orders"][0]["order_id"] == maker_id
    assert next_user_event(user_socket, "trade", status="MATCHED")["id"] == trades[0]["id"]
    eventually_sync(
        lambda: client.get_trades(TradeParams(id=trades[0]["id"]))[0]["status"] == "TRADE_STATUS_CONFIRMED"
    )
    # a market order (FOK, $5.20 at worst 0.52) buys exactly 10 more shares
    market_buy = client.create_and_post_market_order(
        MarketOrderArgsV2(token_id=up, amount=5.2, side="BUY", price=0.52), OPTIONS, OrderType.FOK
    )
    assert (market_buy["status"], market_buy["takingAmount"]) == ("matched", "10")
    shares = BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=up)
    eventually_sync(lambda: client.get_balance_allowance(shares)["balance"] == "20000000")  # once mined


def _refusal(call: Any) -> tuple[int | None, Any]:
    with pytest.raises(PolyApiException) as refused:
        call()
    return refused.value.status_code, refused.value.error_msg


def test_tampered_signature_wrong_hmac_and_small_size_are_refused(
    sim_thread: SimThread, client: ClobClient, market: dict[str, Any]
) -> None:
    up = market["up_token_id"]
    order = client.create_order(OrderArgsV2(token_id=up, price=0.45, size=10, side="BUY"), OPTIONS)
    tampered = replace(order, makerAmount="5000000")
    status, error = _refusal(lambda: client.post_order(tampered))
    assert status == 400
    assert error["error"].endswith("is invalid. Invalid signature")

    small = client.create_order(OrderArgsV2(token_id=up, price=0.45, size=4, side="BUY"), OPTIONS)
    status, error = _refusal(lambda: client.post_order(small))
    assert status == 400
    assert (
        error["error"] == f"order {error['error'].split()[1]} is invalid. Size (4) lower than the minimum: 5"
    )

    creds = client.creds
    forged = ClobClient(
        host=sim_thread.base_url,
        chain_id=137,
        key=throwaway_key("sdk-trader"),
        creds=ApiCreds(
            creds.api_key, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8=", creds.api_passphrase
        ),
    )
    assert _refusal(lambda: forged.post_order(order)) == (401, {"error": "Unauthorized/Invalid api key"})
    assert _refusal(forged.get_open_orders) == (401, {"error": "Unauthorized/Invalid api key"})
    account = sim_thread.admin("GET", f"/accounts/{client.get_address()}")
    assert account["orders_submitted"] == 2  # the tampered and the small one; the forged never got in


def test_heartbeat_lapse_cancels_open_orders(
    sim_thread: SimThread, client: ClobClient, market: dict[str, Any]
) -> None:
    up = market["up_token_id"]
    placed = client.create_and_post_order(OrderArgsV2(token_id=up, price=0.40, size=10, side="BUY"), OPTIONS)
    first = client.post_heartbeat("")["heartbeat_id"]
    status, error = _refusal(lambda: client.post_heartbeat("not-the-id"))
    assert (status, error["heartbeat_id"]) == (400, first)
    second = client.post_heartbeat(first)["heartbeat_id"]
    sim_thread.admin("POST", "/clock/advance", {"seconds": 14})
    assert client.get_order(placed["orderID"])["status"] == "ORDER_STATUS_LIVE"
    client.post_heartbeat(second)  # kept alive
    sim_thread.admin("POST", "/clock/advance", {"seconds": 16})
    assert client.get_order(placed["orderID"])["status"] == "ORDER_STATUS_CANCELED"
    assert client.get_open_orders() == []
