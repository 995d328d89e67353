"""Gamma (Polymarket's market-discovery API) on loopback: ``/gamma/...``.

A client's ``GAMMA_HOST`` is ``http://127.0.0.1:P/gamma``. Served lookups, no auth:

- ``GET /gamma/events/slug/{slug}`` → the event, with its one market in ``markets[]``;
- ``GET /gamma/events?slug=…`` (repeatable; also ``id``, ``closed``, ``active``, ``limit``,
  ``offset``) → a list of events;
- ``GET /gamma/markets/slug/{slug}`` → the market;
- ``GET /gamma/markets?slug=…`` (also ``id``, ``condition_ids``, ``clob_token_ids``,
  ``closed``, ``active``, ``limit``, ``offset``) → a list of markets. Like the venue since
  2026-04-09, ``/markets`` **defaults to ``closed=false``**: a resolved window is missing
  unless the query says ``closed=true``.

Fields are the ones clients read, in the venue's shapes: ``outcomes`` and ``clobTokenIds`` are
JSON-encoded **strings** (same order: Up, Down), times are ISO-8601 UTC (``eventStartTime`` is
the window open, ``endDate`` its close, ``startDate`` the listing time), ``version`` is
``"v1"``, and the event's ``eventMetadata`` gains ``priceToBeat`` shortly after the window
opens and ``finalPrice`` once it resolves (the market's ``outcomePrices`` then reads
``["1", "0"]`` for Up or ``["0", "1"]`` for Down).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from polyexec.sim.contracts import SimClock, SimExchange
from polyexec.sim.schedule import UP, MarketWindow, WindowSchedule
from polyexec.sim.underlying import AssetProfile
from polyexec.sim.units import fmt_decimal

__all__ = ["GammaApi", "iso_utc", "window_title"]

_EASTERN = ZoneInfo("America/New_York")
_DEFAULT_LIMIT = 100
_MAX_LIMIT = 500


def iso_utc(unix_seconds: float) -> str:
    """``1790616600`` → ``"2026-09-28T17:30:00Z"`` (Gamma's timestamp form)."""
    return datetime.fromtimestamp(int(unix_seconds), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _eastern_clock(unix_seconds: int) -> str:
    moment = datetime.fromtimestamp(unix_seconds, tz=_EASTERN)
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d}{'AM' if moment.hour < 12 else 'PM'}"


def window_title(name: str, window_start: int, window_end: int) -> str:
    """The venue's title: ``"Bitcoin Up or Down - May 10, 2:30PM-2:45PM ET"`` (US Eastern)."""
    start = datetime.fromtimestamp(window_start, tz=_EASTERN)
    return (
        f"{name} Up or Down - {start:%B} {start.day}, "
        f"{_eastern_clock(window_start)}-{_eastern_clock(window_end)} ET"
    )


def _number(value: Decimal) -> float | int:
    """A Decimal as the JSON number Gamma sends (the wire format of these fields is a number)."""
    return int(value) if value == value.to_integral_value() else float(value)


class _BadQuery(ValueError):
    """A query parameter Gamma would refuse: answered with 400 and this message."""


class GammaApi:
    """Renders the schedule's windows as Gamma events and markets."""

    def __init__(
        self,
        schedule: WindowSchedule,
        exchange: SimExchange,
        clock: SimClock,
        profiles: Mapping[str, AssetProfile],
    ) -> None:
        self._schedule = schedule
        self._exchange = exchange
        self._clock = clock
        self._profiles = dict(profiles)

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes of the Gamma lookups."""
        return [
            web.get("/gamma/events/slug/{slug}", self._event_by_slug),
            web.get("/gamma/events", self._events),
            web.get("/gamma/markets/slug/{slug}", self._market_by_slug),
            web.get("/gamma/markets", self._markets),
        ]

    # -- rendering -----------------------------------------------------------------------

    def market_json(self, window: MarketWindow) -> dict[str, Any]:
        """The Gamma market object of ``window``."""
        market = window.market
        profile = self._profiles[market.asset]
        listed = window.listed_at_ms // 1000
        best_bid, best_ask = self._best_bid_ask(market.up_token_id)
        body: dict[str, Any] = {
            "id": window.market_id,
            "question": window_title(profile.name, market.window_start, market.window_end),
            "conditionId": market.condition_id,
            "questionID": window.question_id,
            "slug": market.slug,
            "resolutionSource": f"https://data.chain.link/streams/{market.asset}-usd-twap-60s-streams",
            "description": self._description(window),
            "startDate": iso_utc(listed),
            "startDateIso": iso_utc(listed)[:10],
            "eventStartTime": iso_utc(market.window_start),
            "endDate": iso_utc(market.window_end),
            "endDateIso": iso_utc(market.window_end)[:10],
            "outcomes": json.dumps(["Up", "Down"]),
            "outcomePrices": json.dumps(self._outcome_prices(window, best_bid, best_ask)),
            "clobTokenIds": json.dumps([market.up_token_id, market.down_token_id]),
            "active": True,
            "closed": window.resolved,
            "archived": False,
            "restricted": True,
            "new": False,
            "featured": False,
            "enableOrderBook": True,
            "acceptingOrders": not window.resolved,
            "acceptingOrdersTimestamp": iso_utc(listed),
            "negRisk": market.neg_risk,
            "orderPriceMinTickSize": _number(market.tick_size),
            "orderMinSize": _number(market.min_size),
            "feesEnabled": True,
            "feeType": "crypto_fees_v2",
            "feeSchedule": {
                "exponent": 1,
                "rate": _number(market.fee_rate),
                "takerOnly": True,
                "rebateRate": 0.2,
            },
            "makerBaseFee": 1000,
            "takerBaseFee": 1000,
            "cryptoMarketConfigId": f"{market.asset}-15m-twap-60",
            "cryptoMarketConfig": {
                "id": f"{market.asset}-15m-twap-60",
                "asset": market.asset,
                "duration": "15m",
                "twapEnabled": True,
                "twapLookbackSeconds": 60,
            },
            "version": "v1",
        }
        if best_bid is not None:
            body["bestBid"] = _number(best_bid)
        if best_ask is not None:
            body["bestAsk"] = _number(best_ask)
        if best_bid is not None and best_ask is not None:
            body["spread"] = _number(best_ask - best_bid)
        if window.resolved and window.resolved_at_ms is not None:
            body["closedTime"] = iso_utc(window.resolved_at_ms // 1000)
            body["umaResolutionStatus"] = "resolved"
            body["automaticallyResolved"] = True
        return body

    def event_json(self, window: MarketWindow) -> dict[str, Any]:
        """The Gamma event object of ``window``, its market nested in ``markets``."""
        market = window.market
        profile = self._profiles[market.asset]
        listed = window.listed_at_ms // 1000
        series_slug = f"{market.asset}-up-or-down-15m"
        metadata: dict[str, Any] = {}
        if window.price_to_beat is not None:
            metadata["priceToBeat"] = float(window.price_to_beat)
        if window.final_price is not None:
            metadata["finalPrice"] = float(window.final_price)
        return {
            "id": window.event_id,
            "ticker": market.slug,
            "slug": market.slug,
            "title": window_title(profile.name, market.window_start, market.window_end),
            "description": self._description(window),
            "resolutionSource": f"https://data.chain.link/streams/{market.asset}-usd-twap-60s-streams",
            "startDate": iso_utc(listed),
            "creationDate": iso_utc(listed),
            "startTime": iso_utc(market.window_start),
            "endDate": iso_utc(market.window_end),
            "active": True,
            "closed": window.resolved,
            "archived": False,
            "new": False,
            "featured": False,
            "restricted": True,
            "negRisk": market.neg_risk,
            "enableOrderBook": True,
            "seriesSlug": series_slug,
            "series": [
                {
                    "slug": series_slug,
                    "ticker": series_slug,
                    "title": f"{profile.name} Up or Down 15m",
                    "recurrence": "15m",
                }
            ],
            "eventMetadata": metadata,
            "markets": [self.market_json(window)],
        }

    def _description(self, window: MarketWindow) -> str:
        profile = self._profiles[window.market.asset]
        return (
            f'This market resolves to "Up" if the {profile.chainlink_symbol.upper()} Chainlink 60-second '
            "TWAP at the end of the window is greater than or equal to the TWAP at its beginning; "
            'otherwise it resolves to "Down". (Polyexec simulator.)'
        )

    def _best_bid_ask(self, token_id: str) -> tuple[Decimal | None, Decimal | None]:
        try:
            return self._exchange.best_bid_ask(token_id)
        except (KeyError, ValueError):
            return None, None  # the exchange no longer keeps a book for a resolved market

    @staticmethod
    def _outcome_prices(window: MarketWindow, bid: Decimal | None, ask: Decimal | None) -> list[str]:
        if window.resolved:
            return ["1", "0"] if window.winner == UP else ["0", "1"]
        if bid is not None and ask is not None:
            up = (bid + ask) / 2
        else:
            up = bid if bid is not None else ask if ask is not None else Decimal("0.5")
        return [fmt_decimal(up), fmt_decimal(1 - up)]

    # -- handlers ------------------------------------------------------------------------

    async def _event_by_slug(self, request: web.Request) -> web.Response:
        return self._by_slug(request, "event", self.event_json)

    async def _market_by_slug(self, request: web.Request) -> web.Response:
        return self._by_slug(request, "market", self.market_json)

    def _by_slug(
        self, request: web.Request, kind: str, render: Callable[[MarketWindow], dict[str, Any]]
    ) -> web.Response:
        slug = request.match_info["slug"]
        window = self._schedule.get(slug)
        if window is None:
            return web.json_response({"error": f"no {kind} with slug {slug!r}"}, status=404)
        return web.json_response(render(window))

    async def _events(self, request: web.Request) -> web.Response:
        return self._listing(request, default_closed=None, render=self.event_json, event_ids=True)

    async def _markets(self, request: web.Request) -> web.Response:
        return self._listing(request, default_closed=False, render=self.market_json, event_ids=False)

    def _listing(
        self,
        request: web.Request,
        default_closed: bool | None,
        render: Callable[[MarketWindow], dict[str, Any]],
        event_ids: bool,
    ) -> web.Response:
        query = request.query
        try:
            closed = _bool_param(query, "closed", default_closed)
            active = _bool_param(query, "active", None)
            limit = _int_param(query, "limit", _DEFAULT_LIMIT, maximum=_MAX_LIMIT)
            offset = _int_param(query, "offset", 0, maximum=None)
        except _BadQuery as exc:
            return web.json_response({"error": str(exc)}, status=400)
        slugs = set(query.getall("slug", []))
        ids = set(_split_all(query.getall("id", [])))
        condition_ids = {c.lower() for c in _split_all(query.getall("condition_ids", []))}
        token_ids = set(_split_all(query.getall("clob_token_ids", [])))
        selected = []
        for window in self._schedule.windows():
            market = window.market
            if slugs and market.slug not in slugs:
                continue
            if ids and (window.event_id if event_ids else window.market_id) not in ids:
                continue
            if condition_ids and market.condition_id.lower() not in condition_ids:
                continue
            if token_ids and not token_ids & {market.up_token_id, market.down_token_id}:
                continue
            if closed is not None and window.resolved != closed:
                continue
            if active is not None and not active:
                continue  # every listed window is active
            selected.append(window)
        return web.json_response([render(w) for w in selected[offset : offset + limit]])


def _split_all(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _bool_param(query: Mapping[str, str], name: str, default: bool | None) -> bool | None:
    raw = query.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _BadQuery(f"query parameter {name!r} must be true or false (got {raw!r})")


def _int_param(query: Mapping[str, str], name: str, default: int, maximum: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadQuery(f"query parameter {name!r} must be an integer (got {raw!r})") from None
    if value < 0:
        raise _BadQuery(f"query parameter {name!r} must not be negative (got {value})")
    # Gamma clamps an oversized limit rather than refusing it.
    return value if maximum is None else min(value, maximum)
