"""The CLOB's authenticated REST endpoints: API keys, orders, cancels, account data, heartbeats.

Key creation and derivation take L1 headers; a new EOA account is funded with the start
balance at that moment. Everything else takes L2 headers over the exact body bytes.

``POST /order`` answers refusals in the venue's first error form (a 4xx with
``{"error": ...}``); ``POST /orders`` (at most 15) answers 200 with one result per order,
refusals in the second form (``success: false`` with ``errorMsg``). A marketable order is
held for the taker delay (50 ms of simulated time) and then matched; the venue waits the hold
out, so the answer is final (``live``, ``matched`` or ``unmatched``; never ``delayed``).
``deferExec`` is accepted and has no effect. Switched-on trading modes answer 503 before any
check: post-only mode for orders that are not post-only (``code: post_only_mode`` with
``retry_after_seconds``), cancel-only and trading-disabled modes for every order. The
``order_timeout`` fault answers 500 ``order timed out`` for an order that passed every check,
without placing it (docs §2.4: safe to resubmit).

Every order that reaches the handler with valid L2 headers counts in the signer's
``orders_submitted`` (and in its wallet's, once the signature binds the wallet), refused or not.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from polyexec.sim.auth import ApiKey, verify_l1
from polyexec.sim.errors import HeartbeatRejected, VenueError
from polyexec.sim.exchange import Placement
from polyexec.sim.orders import (
    EXCHANGE_ADDRESS,
    NEG_RISK_EXCHANGE_ADDRESS,
    authenticate_order,
    parse_send_order,
)
from polyexec.sim.records import Order
from polyexec.sim.venue import (
    Venue,
    json_body,
    json_response,
    paginate,
    require_l2,
    retry_after_seconds,
    venue_of,
)
from polyexec.sim.wire import order_json, trade_json

__all__ = ["trading_routes"]

MAX_BATCH_ORDERS = 15
MAX_CANCEL_IDS = 1000
_UNLIMITED = str(2**256 - 1)
_POST_ONLY_MODE = "post-only mode: only post-only orders and cancels are allowed"
_CANCEL_ONLY = "Trading is currently cancel-only. New orders are not accepted, but cancels are allowed."
_TRADING_DISABLED = "Trading is currently disabled. Check polymarket.com for updates"
_ORDER_TIMED_OUT = "order timed out"


# -- API keys (L1) ---------------------------------------------------------------------------


def _l1_key(request: web.Request, *, create: bool) -> web.Response:
    """Create (400 if it exists) or derive the key of the L1 signer; a new EOA is funded now."""
    venue = venue_of(request)
    address, nonce = verify_l1(
        request.headers, chain_id=venue.chain_id, now_s=venue.clock.now(), window_s=venue.auth_window_s
    )
    api_key = venue.keys.create(address, nonce) if create else venue.keys.derive(address, nonce)
    venue.exchange.ledger.open(address)
    return json_response(api_key.creds())


async def create_api_key(request: web.Request) -> web.Response:
    return _l1_key(request, create=True)


async def derive_api_key(request: web.Request) -> web.Response:
    return _l1_key(request, create=False)


async def list_api_keys(request: web.Request) -> web.Response:
    api_key = await require_l2(request)
    return json_response({"apiKeys": [k.key for k in venue_of(request).keys.keys_of(api_key.address)]})


async def delete_api_key(request: web.Request) -> web.Response:
    api_key = await require_l2(request)
    venue_of(request).keys.delete(api_key.key)
    return json_response("OK")


async def closed_only(request: web.Request) -> web.Response:
    await require_l2(request)
    return json_response({"closed_only": False})


# -- orders ------------------------------------------------------------------------------------


def _rate(request: web.Request, api_key: ApiKey, kind: str, cost: float) -> dict[str, str]:
    decision = venue_of(request).limiter.take(api_key.address, kind, cost)
    if not decision.allowed:
        raise VenueError(
            "Too Many Requests",
            status=429,
            extra={"retry_after_seconds": retry_after_seconds(decision.retry_after)},
        )
    return decision.headers


def _trading_mode(venue: Venue, bodies: list[Any]) -> None:
    mode = venue.faults.trading_mode()
    if mode is None:
        return
    if mode.name == "trading_disabled":
        raise VenueError(_TRADING_DISABLED, status=503)
    if mode.name == "cancel_only":
        raise VenueError(_CANCEL_ONLY, status=503, code="cancel_only_mode")
    if all(isinstance(b, dict) and b.get("postOnly") is True for b in bodies):
        return
    seconds = retry_after_seconds(venue.faults.seconds_left(mode))
    raise VenueError(
        _POST_ONLY_MODE, status=503, code="post_only_mode", extra={"retry_after_seconds": seconds}
    )


def _placement_json(placement: Placement) -> dict[str, Any]:
    making, taking = placement.amounts()
    return {
        "success": True,
        "errorMsg": "",
        "orderID": placement.order.id,
        "status": placement.status,
        "makingAmount": making,
        "takingAmount": taking,
        "transactionsHashes": [],
        "tradeIDs": [t.id for t in placement.trades],
    }


def _failure_json(error: VenueError) -> dict[str, Any]:
    return {
        "success": False,
        "errorMsg": error.message,
        "orderID": error.order_id,
        "status": "",
        "makingAmount": "",
        "takingAmount": "",
        "transactionsHashes": [],
        "tradeIDs": [],
    }


def _admit(venue: Venue, api_key: ApiKey, body: Any) -> Order:
    """Parse, authenticate and check one ``SendOrder`` (counted as submitted)."""
    ledger = venue.exchange.ledger
    ledger.open(api_key.address).orders_submitted += 1
    send = parse_send_order(body)
    request = authenticate_order(
        send,
        api_key,
        market=venue.exchange.market_of(str(send.order.token_id)),
        ledger=ledger,
        chain_id=venue.chain_id,
        allow_eoa=venue.allow_eoa,
    )
    if request.maker.lower() != api_key.address.lower():
        ledger.open(request.maker).orders_submitted += 1
    return venue.exchange.prepare(request)


def _check_timeout(venue: Venue, order: Order) -> None:
    """The ``order_timeout`` fault: the engine gives up before the order reaches the book, so
    nothing changes and the same signed order may be sent again."""
    if venue.faults.order_timeout():
        venue.exchange.abandon(order)
        raise VenueError(_ORDER_TIMED_OUT, status=500, order_id=order.id)


async def _hold(venue: Venue, orders: list[Order]) -> None:
    if venue.taker_delay_ms > 0 and any(venue.exchange.is_marketable(o) for o in orders):
        await asyncio.sleep(venue.clock.real_seconds(venue.taker_delay_ms / 1000))


async def post_order(request: web.Request) -> web.Response:
    venue = venue_of(request)
    api_key = await require_l2(request)
    headers = _rate(request, api_key, "order", 1)
    body = await json_body(request)
    _trading_mode(venue, [body])
    order = _admit(venue, api_key, body)
    await _hold(venue, [order])
    _check_timeout(venue, order)
    return json_response(_placement_json(venue.exchange.submit(order)), headers=headers)


async def post_orders(request: web.Request) -> web.Response:
    venue = venue_of(request)
    api_key = await require_l2(request)
    body = await json_body(request)
    if not isinstance(body, list):
        raise VenueError("Invalid payload")
    if len(body) > MAX_BATCH_ORDERS:
        raise VenueError(f"Too many orders in payload: {len(body)}, max allowed: {MAX_BATCH_ORDERS}")
    headers = _rate(request, api_key, "order", max(len(body), 1))
    _trading_mode(venue, body)
    admitted: list[Order | VenueError] = []
    for item in body:
        try:
            admitted.append(_admit(venue, api_key, item))
        except VenueError as exc:
            admitted.append(exc)
    await _hold(venue, [o for o in admitted if isinstance(o, Order)])
    results = []
    for entry in admitted:
        if isinstance(entry, VenueError):
            results.append(_failure_json(entry))
            continue
        try:
            _check_timeout(venue, entry)
            results.append(_placement_json(venue.exchange.submit(entry)))
        except VenueError as exc:
            results.append(_failure_json(exc))
    return json_response(results, headers=headers)


# -- cancels -----------------------------------------------------------------------------------


def _cancel_json(canceled: list[str], not_canceled: dict[str, str] | None = None) -> dict[str, Any]:
    return {"canceled": canceled, "not_canceled": not_canceled or {}}


async def cancel_order(request: web.Request) -> web.Response:
    api_key = await require_l2(request)
    headers = _rate(request, api_key, "cancel", 1)
    body = await json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("orderID"), str):
        raise VenueError('Invalid payload: expected {"orderID": "0x..."}')
    canceled, refused = venue_of(request).exchange.cancel(api_key.key, [body["orderID"]])
    return json_response(_cancel_json(canceled, refused), headers=headers)


async def cancel_orders(request: web.Request) -> web.Response:
    api_key = await require_l2(request)
    body = await json_body(request)
    if not isinstance(body, list) or not all(isinstance(i, str) for i in body):
        raise VenueError("Invalid payload: expected a list of order ids")
    if len(body) > MAX_CANCEL_IDS:
        raise VenueError(f"Too many orders in payload: {len(body)}, max allowed: {MAX_CANCEL_IDS}")
    headers = _rate(request, api_key, "cancel", max(len(body), 1))
    canceled, refused = venue_of(request).exchange.cancel(api_key.key, body)
    return json_response(_cancel_json(canceled, refused), headers=headers)


async def cancel_all(request: web.Request) -> web.Response:
    venue = venue_of(request)
    api_key = await require_l2(request)
    headers = _rate(request, api_key, "cancel", 1)
    canceled = venue.exchange.cancel_all(api_key.key)
    venue.limiter.charge(api_key.address, "cancel", len(canceled))
    return json_response(_cancel_json(canceled), headers=headers)


async def cancel_market_orders(request: web.Request) -> web.Response:
    venue = venue_of(request)
    api_key = await require_l2(request)
    headers = _rate(request, api_key, "cancel", 1)
    body = await json_body(request) or {}
    if not isinstance(body, dict):
        raise VenueError("Invalid payload")
    canceled = venue.exchange.cancel_market(
        api_key.key, str(body.get("market", "") or ""), str(body.get("asset_id", "") or "")
    )
    venue.limiter.charge(api_key.address, "cancel", len(canceled))
    return json_response(_cancel_json(canceled), headers=headers)


# -- account data ------------------------------------------------------------------------------


async def get_order(request: web.Request) -> web.Response:
    api_key = await require_l2(request)
    order = venue_of(request).exchange.order(request.match_info["order_id"])
    if order is None or order.owner != api_key.key:
        raise VenueError("Order not found", status=404)
    return json_response(order_json(order))


async def get_orders(request: web.Request) -> web.Response:
    api_key = await require_l2(request)
    query = request.query
    orders = [
        order_json(o)
        for o in venue_of(request).exchange.open_orders(api_key.key)
        if (not query.get("id") or o.id == query["id"])
        and (not query.get("market") or o.market == query["market"])
        and (not query.get("asset_id") or o.asset_id == query["asset_id"])
    ]
    return json_response(paginate(orders, query.get("next_cursor", "MA==")))


def _int_param(query: Any, name: str) -> int | None:
    value = query.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise VenueError(f"invalid {name}: {value!r}") from exc


async def get_trades(request: web.Request) -> web.Response:
    api_key = await require_l2(request)
    query = request.query
    before, after = _int_param(query, "before"), _int_param(query, "after")
    maker = query.get("maker_address", "").lower()
    trades = []
    for trade in reversed(venue_of(request).exchange.trades_of(api_key.key)):
        body = trade_json(trade, api_key.key)
        match_s = trade.match_ms // 1000
        if (
            (query.get("id") and trade.id != query["id"])
            or (query.get("market") and trade.market != query["market"])
            or (query.get("asset_id") and trade.asset_id != query["asset_id"])
            or (maker and body["maker_address"].lower() != maker)
            or (before is not None and match_s >= before)
            or (after is not None and match_s <= after)
        ):
            continue
        trades.append(body)
    return json_response(paginate(trades, query.get("next_cursor", "MA==")))


def _balance_json(request: web.Request, api_key: ApiKey) -> dict[str, Any]:
    venue = venue_of(request)
    query = request.query
    asset_type = query.get("asset_type", "COLLATERAL").upper()
    signature_type = _int_param(query, "signature_type") or 0
    ledger = venue.exchange.ledger
    address = api_key.address if signature_type == 0 else ledger.wallet_for(api_key.address, signature_type)
    account = ledger.get(address) if address is not None else None
    allowance = _UNLIMITED
    if asset_type == "COLLATERAL":
        balance = account.balance if account is not None else 0
        if account is not None and account.pusd_allowance is not None:
            allowance = str(max(account.pusd_allowance, 0))
    elif asset_type in ("CONDITIONAL", "CONDITIONAL-V2"):
        token_id = query.get("token_id", "")
        if not token_id:
            raise VenueError("Invalid token id")
        balance = account.positions.get(token_id, 0) if account is not None else 0
        if account is not None and not account.shares_approved:
            allowance = "0"
    else:
        raise VenueError(f"invalid asset_type {asset_type!r}")
    return {
        "balance": str(balance),
        "allowances": {EXCHANGE_ADDRESS: allowance, NEG_RISK_EXCHANGE_ADDRESS: allowance},
    }


async def balance_allowance(request: web.Request) -> web.Response:
    api_key = await require_l2(request)
    return json_response(_balance_json(request, api_key))


async def heartbeat(request: web.Request) -> web.Response:
    api_key = await require_l2(request)
    body = await json_body(request)
    heartbeat_id = body.get("heartbeat_id", "") if isinstance(body, dict) else None
    if not isinstance(heartbeat_id, str):
        raise VenueError('Invalid payload: expected {"heartbeat_id": "..."}')
    try:
        next_id = venue_of(request).exchange.heartbeat(api_key.key, heartbeat_id)
    except HeartbeatRejected as exc:
        return json_response(
            {
                "error": "Invalid Heartbeat ID",
                "error_msg": "Invalid Heartbeat ID",
                "heartbeat_id": exc.expected,
            },
            status=400,
        )
    return json_response({"heartbeat_id": next_id})


async def order_scoring(request: web.Request) -> web.Response:
    await require_l2(request)
    return json_response({"scoring": False})


async def orders_scoring(request: web.Request) -> web.Response:
    await require_l2(request)
    body = await json_body(request)
    ids = body if isinstance(body, list) else []
    return json_response({str(i): False for i in ids})


def trading_routes() -> list[web.RouteDef]:
    """Every authenticated CLOB route."""
    return [
        web.post("/auth/api-key", create_api_key),
        web.get("/auth/derive-api-key", derive_api_key),
        web.get("/auth/api-keys", list_api_keys),
        web.delete("/auth/api-key", delete_api_key),
        web.get("/auth/ban-status/closed-only", closed_only),
        web.post("/order", post_order),
        web.post("/orders", post_orders),
        web.delete("/order", cancel_order),
        web.delete("/orders", cancel_orders),
        web.delete("/cancel-all", cancel_all),
        web.delete("/cancel-market-orders", cancel_market_orders),
        web.get("/data/order/{order_id}", get_order),
        web.get("/data/orders", get_orders),
        web.get("/data/trades", get_trades),
        web.get("/balance-allowance", balance_allowance),
        web.get("/balance-allowance/update", balance_allowance),
        web.post("/v1/heartbeats", heartbeat),
        web.get("/order-scoring", order_scoring),
        web.post("/orders-scoring", orders_scoring),
    ]
