"""The CLOB's public REST endpoints: health, time, books, prices and market parameters (docs §2.3).

Books list bids ascending and asks descending (best price last), like the venue. A token
that is unknown or whose market has resolved has no book: 404 ``No orderbook exists for the
requested token id``. ``GET /price`` answers the best bid for ``side=BUY`` and the best ask for
``side=SELL`` (what the venue was observed to do). ``GET /midpoint`` answers both ``mid`` (what
the SDK reads) and ``mid_price`` (what the docs show). Numbers the venue sends as JSON numbers
(``minimum_tick_size``, ``mts``, ``fd.r``) are written as numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from polyexec.sim.contracts import SimMarket
from polyexec.sim.errors import VenueError
from polyexec.sim.exchange import Exchange, market_outcome
from polyexec.sim.units import fmt_decimal
from polyexec.sim.venue import json_body, json_response, venue_of
from polyexec.sim.wire import book_summary

__all__ = ["public_routes"]

_NO_BOOK = "No orderbook exists for the requested token id"
_MAX_BATCH = 500
# The venue reports the crypto fee cap (bps) here; the effective rate is the market's fee curve.
_BASE_FEE_BPS = 1000


def _exchange(request: web.Request) -> Exchange:
    return venue_of(request).exchange


def _token_param(request: web.Request) -> str:
    token_id = request.match_info.get("token_id") or request.query.get("token_id", "")
    if not token_id:
        raise VenueError("Invalid token id")
    return token_id


def _book_market(exchange: Exchange, token_id: str) -> SimMarket:
    market = exchange.market_of(token_id)
    if market is None or exchange.book(token_id) is None:
        raise VenueError(_NO_BOOK, status=404)
    return market


def _summary(exchange: Exchange, token_id: str) -> dict[str, Any]:
    market = _book_market(exchange, token_id)
    book = exchange.book(token_id)
    assert book is not None  # checked by _book_market
    return book_summary(
        market,
        token_id,
        book.levels("BUY"),
        book.levels("SELL"),
        exchange.tick_size(token_id),
        exchange.last_trade_price(token_id),
        exchange.clock.now_ms(),
    )


def _side_price(exchange: Exchange, token_id: str, side: str) -> Decimal:
    _book_market(exchange, token_id)
    if side.upper() not in ("BUY", "SELL"):
        raise VenueError("Invalid side")
    bid, ask = exchange.best_bid_ask(token_id)
    price = bid if side.upper() == "BUY" else ask
    if price is None:
        raise VenueError("No price found for the requested token id", status=404)
    return price


def _two_sided(exchange: Exchange, token_id: str, what: str) -> tuple[Decimal, Decimal]:
    """The best bid and ask of a book with both sides; 404 ``No {what} found`` otherwise."""
    _book_market(exchange, token_id)
    bid, ask = exchange.best_bid_ask(token_id)
    if bid is None or ask is None:
        raise VenueError(f"No {what} found for the requested token id", status=404)
    return bid, ask


def _midpoint(exchange: Exchange, token_id: str) -> Decimal:
    bid, ask = _two_sided(exchange, token_id, "midpoint")
    return (bid + ask) / 2


def _spread(exchange: Exchange, token_id: str) -> Decimal:
    bid, ask = _two_sided(exchange, token_id, "spread")
    return ask - bid


def _last_trade(exchange: Exchange, token_id: str) -> dict[str, str]:
    if exchange.market_of(token_id) is None:
        raise VenueError(_NO_BOOK, status=404)
    last = exchange.last_trade(token_id)
    if last is None:
        return {"price": "0.5", "side": ""}
    return {"price": fmt_decimal(last[0]), "side": last[1]}


async def _batch(request: web.Request) -> list[dict[str, Any]]:
    body = await json_body(request)
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise VenueError("Invalid payload")
    if len(body) > _MAX_BATCH:
        raise VenueError("Payload exceeds the limit")
    return body


async def _per_token(request: web.Request, value: Callable[[Exchange, str], Decimal]) -> web.Response:
    """A batch answered ``{token_id: value}``; a token the single endpoint would refuse is
    left out, as the venue does."""
    exchange = _exchange(request)
    out: dict[str, str] = {}
    for item in await _batch(request):
        token_id = str(item.get("token_id", ""))
        try:
            out[token_id] = fmt_decimal(value(exchange, token_id))
        except VenueError:
            continue
    return json_response(out)


async def ok(_: web.Request) -> web.Response:
    return json_response("OK")


async def server_time(request: web.Request) -> web.Response:
    return json_response(int(venue_of(request).clock.now()))


async def version(_: web.Request) -> web.Response:
    return json_response({"version": 2})


async def get_book(request: web.Request) -> web.Response:
    return json_response(_summary(_exchange(request), _token_param(request)))


async def post_books(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    out = []
    for item in await _batch(request):
        token_id = str(item.get("token_id", ""))
        if exchange.book(token_id) is not None:
            out.append(_summary(exchange, token_id))
    return json_response(out)


async def get_price(request: web.Request) -> web.Response:
    price = _side_price(_exchange(request), _token_param(request), request.query.get("side", ""))
    return json_response({"price": fmt_decimal(price)})


async def post_prices(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    out: dict[str, dict[str, str]] = {}
    for item in await _batch(request):
        token_id, side = str(item.get("token_id", "")), str(item.get("side", "")).upper()
        try:
            out.setdefault(token_id, {})[side] = fmt_decimal(_side_price(exchange, token_id, side))
        except VenueError:
            continue
    return json_response(out)


async def get_midpoint(request: web.Request) -> web.Response:
    mid = fmt_decimal(_midpoint(_exchange(request), _token_param(request)))
    return json_response({"mid": mid, "mid_price": mid})


async def post_midpoints(request: web.Request) -> web.Response:
    return await _per_token(request, _midpoint)


async def get_spread(request: web.Request) -> web.Response:
    return json_response({"spread": fmt_decimal(_spread(_exchange(request), _token_param(request)))})


async def post_spreads(request: web.Request) -> web.Response:
    return await _per_token(request, _spread)


async def get_last_trade_price(request: web.Request) -> web.Response:
    return json_response(_last_trade(_exchange(request), _token_param(request)))


async def post_last_trades_prices(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    out = []
    for item in await _batch(request):
        token_id = str(item.get("token_id", ""))
        if exchange.market_of(token_id) is not None:
            out.append({"token_id": token_id, **_last_trade(exchange, token_id)})
    return json_response(out)


async def get_tick_size(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    token_id = _token_param(request)
    _book_market(exchange, token_id)
    return json_response({"minimum_tick_size": float(exchange.tick_size(token_id))})


async def get_neg_risk(request: web.Request) -> web.Response:
    return json_response({"neg_risk": _book_market(_exchange(request), _token_param(request)).neg_risk})


async def get_fee_rate(request: web.Request) -> web.Response:
    market = _book_market(_exchange(request), _token_param(request))
    return json_response({"base_fee": _BASE_FEE_BPS if market.fee_rate > 0 else 0})


def _market_or_404(exchange: Exchange, condition_id: str) -> SimMarket:
    market = exchange.market(condition_id)
    if market is None:
        raise VenueError("market not found", status=404)
    return market


async def get_clob_market(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    market = _market_or_404(exchange, request.match_info["condition_id"])
    tick = exchange.tick_size(market.up_token_id)
    return json_response(
        {
            "t": [{"t": market.up_token_id, "o": "Up"}, {"t": market.down_token_id, "o": "Down"}],
            "mts": float(tick),
            "mos": int(market.min_size),
            "mbf": _BASE_FEE_BPS,
            "tbf": _BASE_FEE_BPS,
            "nr": market.neg_risk,
            "fd": {"r": float(market.fee_rate), "e": 1, "to": True},
            "itode": True,
            "rfqe": False,
            "ibce": False,
            "oas": 0,
            "gst": None,
            "r": None,
        }
    )


async def get_market(request: web.Request) -> web.Response:
    exchange = _exchange(request)
    market = _market_or_404(exchange, request.match_info["condition_id"])
    state = exchange.market_state(market.condition_id)
    assert state is not None
    tokens = []
    for token_id in (market.up_token_id, market.down_token_id):
        outcome = market_outcome(market, token_id)
        last = exchange.last_trade_price(token_id)
        tokens.append(
            {
                "token_id": token_id,
                "outcome": outcome,
                "price": float(last) if last is not None else 0.5,
                "winner": state.winner == outcome,
            }
        )
    return json_response(
        {
            "condition_id": market.condition_id,
            "market_slug": market.slug,
            "question": f"{market.asset.upper()} Up or Down ({market.slug})",
            "tokens": tokens,
            "active": not state.resolved,
            "closed": state.resolved,
            "accepting_orders": not state.resolved,
            "enable_order_book": True,
            "minimum_order_size": int(market.min_size),
            "minimum_tick_size": float(exchange.tick_size(market.up_token_id)),
            "neg_risk": market.neg_risk,
            "game_start_time": None,
            "end_date_iso": datetime.fromtimestamp(market.window_end, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


async def get_market_by_token(request: web.Request) -> web.Response:
    market = _exchange(request).market_of(request.match_info["token_id"])
    if market is None:
        raise VenueError("market not found", status=404)
    return json_response(
        {
            "condition_id": market.condition_id,
            "primary_token_id": market.up_token_id,
            "secondary_token_id": market.down_token_id,
        }
    )


def public_routes() -> list[web.RouteDef]:
    """Every public CLOB route."""
    return [
        web.get("/ok", ok),
        web.get("/time", server_time),
        web.get("/version", version),
        web.get("/book", get_book),
        web.post("/books", post_books),
        web.get("/price", get_price),
        web.post("/prices", post_prices),
        web.get("/midpoint", get_midpoint),
        web.post("/midpoints", post_midpoints),
        web.get("/spread", get_spread),
        web.post("/spreads", post_spreads),
        web.get("/last-trade-price", get_last_trade_price),
        web.post("/last-trades-prices", post_last_trades_prices),
        web.get("/tick-size", get_tick_size),
        web.get("/tick-size/{token_id}", get_tick_size),
        web.get("/neg-risk", get_neg_risk),
        web.get("/neg-risk/{token_id}", get_neg_risk),
        web.get("/fee-rate", get_fee_rate),
        web.get("/fee-rate/{token_id}", get_fee_rate),
        web.get("/clob-markets/{condition_id}", get_clob_market),
        web.get("/markets/{condition_id}", get_market),
        web.get("/markets-by-token/{token_id}", get_market_by_token),
    ]
