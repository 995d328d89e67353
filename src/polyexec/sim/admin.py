"""Admin and fault controls under ``/sim/`` (answered to loopback clients only; others get 403).

Accounts
    ``GET /sim/accounts/{address}``: ``balances`` (``{"pUSD": "<settled pUSD>"}``),
    ``available`` (pUSD a new BUY may take: balance or allowance, less resting BUYs),
    ``positions`` (``{token: shares}``, settled), ``incoming`` (pUSD and shares of trades not
    mined yet), ``open_orders`` (a list of ``OpenOrder``), ``trades`` (the venue's trade
    objects plus the simulator's ``fee``), ``orders_submitted`` (every order the address ever
    posted). Amounts are decimal strings.
    ``POST /sim/accounts/{address}/fund`` ``{"amount": "100"}`` deposits pUSD.
    ``POST /sim/accounts/{address}/allowance`` ``{"pusd": "25" | null, "shares": true|false}``
    sets the pUSD allowance (``null``: unlimited, the default) and the shares' approval; the
    account view shows them as ``allowance`` (``{"pUSD": "25" | null, "shares": bool}``).
    ``POST /sim/wallets`` ``{"owner", "wallet", "signature_type"}`` binds a proxy / Safe /
    deposit wallet to an EOA ahead of its first order.
Markets
    ``GET /sim/markets``; ``POST /sim/markets`` ``{"asset", "window_start"?, "window_seconds"?,
    "condition_id"?, "up_token_id"?, "down_token_id"?, "tick_size"?, "neg_risk"?}`` creates one
    (missing ids are derived from the asset and window); ``POST /sim/markets/{id}/resolve``
    ``{"winner": "Up"|"Down", "final_price"?}``.
Liquidity
    ``POST /sim/orders`` ``{"account", "token_id", "side", "price", "size", "order_type"?}``
    places a background order (``{"orderID"}``); ``DELETE /sim/orders`` ``{"account",
    "token_id"?}`` cancels them.
Time
    ``POST /sim/clock/advance`` ``{"seconds"}`` moves the clock and runs what fell due;
    ``POST /sim/tick`` runs what is due now; ``POST /sim/trades/settle`` runs every pending
    trade to its final status.
Faults
    ``GET /sim/faults``; ``POST /sim/faults/{name}`` with the fault's options (see
    :mod:`polyexec.sim.faults`); ``DELETE /sim/faults/{name}``; ``DELETE /sim/faults``;
    ``POST /sim/faults/restart`` ``{"seconds": 5, "post_only_seconds": 120}``.
Feeds
    ``POST /sim/binance/shutdown`` sends Binance's ``serverShutdown`` (needs the market driver).
``GET /sim/status`` summarises the simulator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from polyexec.sim.accounts import Account
from polyexec.sim.contracts import SimMarket
from polyexec.sim.errors import VenueError
from polyexec.sim.units import fmt_decimal, fmt_micro, parse_decimal, to_micro
from polyexec.sim.venue import Venue, json_body, json_response, venue_of
from polyexec.sim.wire import order_json, trade_json

__all__ = ["DRIVER_SHUTDOWN_KEY", "admin_routes", "loopback_only"]

_LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
ShutdownFeed = Callable[[], Awaitable[int]]
DRIVER_SHUTDOWN_KEY: web.AppKey[ShutdownFeed] = web.AppKey("polyexec_sim_binance_shutdown")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse ``/sim/`` requests that do not come from the loopback interface."""
    if request.path.startswith("/sim/") and request.remote not in _LOOPBACK:
        return json_response({"error": "admin endpoints answer loopback clients only"}, status=403)
    return await handler(request)


async def _object(request: web.Request) -> dict[str, Any]:
    body = await json_body(request)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise VenueError("expected a JSON object")
    return body


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return parse_decimal(value)
    except ValueError as exc:
        raise VenueError(f"{name}: {exc}") from exc


def account_json(venue: Venue, account: Account) -> dict[str, Any]:
    """The admin view of one account (see the module docstring)."""
    trades = []
    for trade in account.trades:
        mine = (
            trade.taker_order if trade.taker_order.account == account.address.lower() else trade.maker_order
        )
        trades.append(
            {**trade_json(trade, mine.owner), "fee": fmt_micro(trade.fee if mine is trade.taker_order else 0)}
        )
    return {
        "address": account.address,
        "balances": {"pUSD": fmt_micro(account.balance)},
        "available": {"pUSD": fmt_micro(account.available_pusd())},
        "positions": {token: fmt_micro(size) for token, size in account.positions.items()},
        "incoming": {
            "pUSD": fmt_micro(account.incoming_pusd),
            "shares": {token: fmt_micro(size) for token, size in account.incoming_shares.items()},
        },
        "open_orders": [order_json(o) for o in sorted(account.open_orders.values(), key=lambda o: o.seq)],
        "trades": trades,
        "orders_submitted": account.orders_submitted,
        "allowance": {
            "pUSD": fmt_micro(account.pusd_allowance) if account.pusd_allowance is not None else None,
            "shares": account.shares_approved,
        },
    }


async def get_account(request: web.Request) -> web.Response:
    venue = venue_of(request)
    account = venue.exchange.account(request.match_info["address"])
    if account is None:
        raise VenueError("account not found", status=404)
    return json_response(account_json(venue, account))


async def fund_account(request: web.Request) -> web.Response:
    venue = venue_of(request)
    body = await _object(request)
    try:
        amount = to_micro(_decimal(body.get("amount"), "amount"))
        account = venue.exchange.ledger.fund(request.match_info["address"], amount)
    except ValueError as exc:
        raise VenueError(str(exc)) from exc
    return json_response(account_json(venue, account))


async def set_allowance(request: web.Request) -> web.Response:
    venue = venue_of(request)
    body = await _object(request)
    account = venue.exchange.ledger.open(request.match_info["address"])
    if "pusd" in body:
        if body["pusd"] is None:
            account.pusd_allowance = None
        else:
            try:
                amount = to_micro(_decimal(body["pusd"], "pusd"))
            except ValueError as exc:
                raise VenueError(f"pusd: {exc}") from exc
            if amount < 0:
                raise VenueError("pusd allowance must not be negative")
            account.pusd_allowance = amount
    if "shares" in body:
        if not isinstance(body["shares"], bool):
            raise VenueError("shares must be true or false")
        account.shares_approved = body["shares"]
    return json_response(account_json(venue, account))


async def register_wallet(request: web.Request) -> web.Response:
    venue = venue_of(request)
    body = await _object(request)
    try:
        signature_type = int(body.get("signature_type", 1))
        if signature_type not in (1, 2, 3):
            raise ValueError("signature_type must be 1, 2 or 3")
        account = venue.exchange.ledger.register_wallet(
            str(body["owner"]), str(body["wallet"]), signature_type
        )
    except (KeyError, ValueError) as exc:
        raise VenueError(f"cannot register wallet: {exc}") from exc
    return json_response(account_json(venue, account))


def market_json(venue: Venue, market: SimMarket) -> dict[str, Any]:
    state = venue.exchange.market_state(market.condition_id)
    assert state is not None
    return {
        "asset": market.asset,
        "slug": market.slug,
        "condition_id": market.condition_id,
        "up_token_id": market.up_token_id,
        "down_token_id": market.down_token_id,
        "window_start": market.window_start,
        "window_end": market.window_end,
        "tick_size": fmt_decimal(state.tick),
        "min_size": fmt_decimal(market.min_size),
        "neg_risk": market.neg_risk,
        "resolved": state.resolved,
        "winner": state.winner,
        "final_price": fmt_decimal(state.final_price) if state.final_price is not None else None,
    }


async def list_markets(request: web.Request) -> web.Response:
    venue = venue_of(request)
    return json_response([market_json(venue, m) for m in venue.exchange.markets()])


def _token_id(seed: str) -> str:
    return str(int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big"))


async def create_market(request: web.Request) -> web.Response:
    venue = venue_of(request)
    body = await _object(request)
    try:
        asset = str(body.get("asset", "btc")).lower()
        window_seconds = int(body.get("window_seconds", 900))
        now = int(venue.clock.now())
        start = int(body.get("window_start", now - now % window_seconds))
        slug = f"{asset}-updown-15m-{start}"
        market = SimMarket(
            asset=asset,
            slug=slug,
            condition_id=str(
                body.get("condition_id") or "0x" + hashlib.sha256(f"sim:{slug}".encode()).hexdigest()
            ),
            up_token_id=str(body.get("up_token_id") or _token_id(f"sim:{slug}:up")),
            down_token_id=str(body.get("down_token_id") or _token_id(f"sim:{slug}:down")),
            window_start=start,
            window_end=start + window_seconds,
            tick_size=_decimal(body.get("tick_size", "0.01"), "tick_size"),
            neg_risk=bool(body.get("neg_risk", False)),
        )
    except (TypeError, ValueError) as exc:
        raise VenueError(f"cannot create market: {exc}") from exc
    venue.exchange.add_market(market)
    stored = venue.exchange.market(market.condition_id)
    assert stored is not None
    return json_response(market_json(venue, stored))


async def resolve_market(request: web.Request) -> web.Response:
    venue = venue_of(request)
    body = await _object(request)
    condition_id = request.match_info["condition_id"]
    try:
        venue.exchange.resolve_market(
            condition_id, str(body.get("winner", "")), _decimal(body.get("final_price", "0"), "final_price")
        )
    except KeyError as exc:
        raise VenueError(f"market {condition_id} not found", status=404) from exc
    except ValueError as exc:
        raise VenueError(str(exc)) from exc
    market = venue.exchange.market(condition_id)
    assert market is not None
    return json_response(market_json(venue, market))


async def place_order(request: web.Request) -> web.Response:
    venue = venue_of(request)
    body = await _object(request)
    try:
        order_id = venue.exchange.place_background_order(
            str(body["account"]),
            str(body["token_id"]),
            str(body["side"]).upper(),
            _decimal(body["price"], "price"),
            _decimal(body["size"], "size"),
            str(body.get("order_type", "GTC")).upper(),
        )
    except (KeyError, ValueError) as exc:
        raise VenueError(f"order refused: {exc}") from exc
    return json_response({"orderID": order_id})


async def cancel_orders(request: web.Request) -> web.Response:
    venue = venue_of(request)
    body = await _object(request)
    if "account" not in body:
        raise VenueError("account is required")
    token_id = body.get("token_id")
    count = venue.exchange.cancel_background_orders(str(body["account"]), str(token_id) if token_id else None)
    return json_response({"canceled": count})


async def advance_clock(request: web.Request) -> web.Response:
    venue = venue_of(request)
    body = await _object(request)
    seconds = float(_decimal(body.get("seconds", 0), "seconds"))
    if seconds < 0:
        raise VenueError("the clock only moves forward")
    venue.clock.advance(seconds)
    processed = venue.exchange.process_due()
    return json_response({"now": venue.clock.now(), "processed": processed})


async def tick(request: web.Request) -> web.Response:
    venue = venue_of(request)
    return json_response({"now": venue.clock.now(), "processed": venue.exchange.process_due()})


async def settle_trades(request: web.Request) -> web.Response:
    return json_response({"settled": venue_of(request).exchange.settle_all()})


async def get_faults(request: web.Request) -> web.Response:
    return json_response(venue_of(request).faults.describe())


async def set_fault(request: web.Request) -> web.Response:
    venue = venue_of(request)
    name = request.match_info["name"]
    body = await _object(request)
    if name == "restart":
        try:
            venue.faults.restart(float(body.get("seconds", 5)), float(body.get("post_only_seconds", 120)))
        except (TypeError, ValueError) as exc:
            raise VenueError(f"bad restart options: {exc}") from exc
        return json_response(venue.faults.describe())
    try:
        venue.faults.set(name, **body)
    except (TypeError, ValueError) as exc:
        raise VenueError(str(exc)) from exc
    return json_response(venue.faults.describe())


async def clear_fault(request: web.Request) -> web.Response:
    venue = venue_of(request)
    venue.faults.clear(request.match_info.get("name"))
    return json_response(venue.faults.describe())


async def binance_shutdown(request: web.Request) -> web.Response:
    shutdown = request.app.get(DRIVER_SHUTDOWN_KEY)
    if shutdown is None:
        raise VenueError("the market driver is not running", status=404)
    return json_response({"closed": await shutdown()})


async def status(request: web.Request) -> web.Response:
    venue = venue_of(request)
    markets = venue.exchange.markets()
    return json_response(
        {
            "now": venue.clock.now(),
            "clock_speed": venue.clock.speed,
            "markets": len(markets),
            "open_markets": sum(1 for m in markets if venue.exchange.book(m.up_token_id) is not None),
            "faults": sorted(venue.faults.describe()),
            "exchange": venue.exchange.stats(),
        }
    )


def admin_routes() -> list[web.RouteDef]:
    """Every ``/sim/`` route."""
    return [
        web.get("/sim/status", status),
        web.get("/sim/accounts/{address}", get_account),
        web.post("/sim/accounts/{address}/fund", fund_account),
        web.post("/sim/accounts/{address}/allowance", set_allowance),
        web.post("/sim/wallets", register_wallet),
        web.get("/sim/markets", list_markets),
        web.post("/sim/markets", create_market),
        web.post("/sim/markets/{condition_id}/resolve", resolve_market),
        web.post("/sim/orders", place_order),
        web.delete("/sim/orders", cancel_orders),
        web.post("/sim/clock/advance", advance_clock),
        web.post("/sim/tick", tick),
        web.post("/sim/trades/settle", settle_trades),
        web.get("/sim/faults", get_faults),
        web.delete("/sim/faults", clear_fault),
        web.post("/sim/faults/{name}", set_fault),
        web.delete("/sim/faults/{name}", clear_fault),
        web.post("/sim/binance/shutdown", binance_shutdown),
    ]
