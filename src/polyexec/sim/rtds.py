"""Polymarket's Real-Time Data Socket (RTDS) on loopback: ``/rtds``.

Clients subscribe exactly as on ``wss://ws-live-data.polymarket.com``::

    {"action": "subscribe", "subscriptions": [
        {"topic": "crypto_prices_twap_sixty", "type": "update", "filters": "{\\"symbol\\":\\"btc/usd\\"}"}]}

Topics (one update per asset per simulated second):

- ``crypto_prices_chainlink``: ``{"symbol": "btc/usd", "timestamp": ms, "value": 67234.5}``;
- ``crypto_prices_twap_sixty`` / ``crypto_prices_twap_thirty``: ``{"symbol", "value",
  "full_accuracy_value" (signed E18 string), "timestamp", "window_s"}``; the 60-second TWAP is
  the very value the simulator's markets open and resolve on;
- ``crypto_prices`` (Binance, filter ``{"symbol":"btcusdt"}``): ``{"symbol", "timestamp", "value"}``.

Frames are ``{"topic", "type", "timestamp" (publish time, ms), "payload"}``; ``update`` frames
also carry a ``connection_id``. The observed quirks of the real service are reproduced, because
a client must survive them:

- every subscription first gets a ``type: "subscribe"`` backfill per symbol,
  ``payload: {"symbol", "data": [{"timestamp", "value"…}, …]}`` (60 points; 120 for Binance),
  and Chainlink-spot backfill frames are mislabelled ``topic: "crypto_prices"``;
- a filter written with whitespace (``{"symbol": "btc/usd"}``) gets the backfill and then
  silence, with no error; a filter that is not ``{"symbol": …}`` JSON matches nothing;
- one unknown topic in a batch rejects the whole batch with a ``statusCode: 401`` frame;
- text ``PING``/``ping`` is never answered: liveness must come from data.
"""

from __future__ import annotations

import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from polyexec.sim.contracts import FaultView, SimClock, WsChannel
from polyexec.sim.feed_socket import FeedSocket
from polyexec.sim.underlying import E18, PriceObservation, UnderlyingPrice

__all__ = [
    "BACKFILL_POINTS",
    "TOPIC_BINANCE",
    "TOPIC_CHAINLINK",
    "TOPIC_TWAP_SIXTY",
    "TOPIC_TWAP_THIRTY",
    "RtdsFeed",
]

TOPIC_BINANCE = "crypto_prices"
TOPIC_CHAINLINK = "crypto_prices_chainlink"
TOPIC_TWAP_SIXTY = "crypto_prices_twap_sixty"
TOPIC_TWAP_THIRTY = "crypto_prices_twap_thirty"
TOPICS = (TOPIC_BINANCE, TOPIC_CHAINLINK, TOPIC_TWAP_SIXTY, TOPIC_TWAP_THIRTY)
BACKFILL_POINTS = {TOPIC_BINANCE: 120, TOPIC_CHAINLINK: 60, TOPIC_TWAP_SIXTY: 60, TOPIC_TWAP_THIRTY: 60}
# The real service labels Chainlink-spot backfill frames with the Binance topic.
_BACKFILL_TOPIC = {TOPIC_CHAINLINK: TOPIC_BINANCE}
_NO_MATCH = "\x00"  # a symbol no asset has: the subscription stays silent
_CONNECTION_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True, slots=True)
class _Subscription:
    topic: str
    type: str
    symbol: str | None  # None: every symbol of the topic
    silent: bool  # backfill only (a filter with whitespace)


class _Connection:
    def __init__(self, sock: FeedSocket, connection_id: str) -> None:
        self.sock = sock
        self.connection_id = connection_id
        self.subscriptions: list[_Subscription] = []

    def wants(self, topic: str, symbol: str) -> bool:
        return any(
            s.topic == topic and not s.silent and s.type in ("*", "update") and s.symbol in (None, symbol)
            for s in self.subscriptions
        )


class RtdsFeed:
    """The RTDS half of the simulator: subscriptions, backfills and per-second updates."""

    def __init__(
        self,
        clock: SimClock,
        faults: FaultView | None,
        underlyings: Mapping[str, UnderlyingPrice],
        seed: int,
    ) -> None:
        self._clock = clock
        self._faults = faults
        self._underlyings = dict(underlyings)
        self._rng = random.Random(f"rtds:{seed}")  # noqa: S311 - connection ids, not secrets
        self._connections: set[_Connection] = set()
        self.frames_published = 0

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp route of the socket."""
        return [web.get("/rtds", self._handle)]

    # -- payloads ------------------------------------------------------------------------

    def _symbol(self, topic: str, asset: str) -> str:
        profile = self._underlyings[asset].profile
        return profile.binance_symbol if topic == TOPIC_BINANCE else profile.chainlink_symbol

    def _payload(self, topic: str, observation: PriceObservation) -> dict[str, Any] | None:
        symbol = self._symbol(topic, observation.asset)
        if topic == TOPIC_BINANCE:
            # The wire format is a JSON number; the exact value is in the Binance stream itself.
            return {
                "symbol": symbol,
                "timestamp": observation.timestamp_ms,
                "value": float(observation.binance),
            }
        if topic == TOPIC_CHAINLINK:
            value = observation.chainlink
            return {"symbol": symbol, "timestamp": observation.timestamp_ms, "value": float(value)}
        window = 60 if topic == TOPIC_TWAP_SIXTY else 30
        twap = observation.twap if window == 60 else self._twap_thirty(observation)
        if twap is None:
            return None
        return {
            "symbol": symbol,
            "value": float(twap),
            "full_accuracy_value": str(int(twap.scaleb(18))),
            "timestamp": observation.timestamp_ms,
            "window_s": window,
        }

    def _twap_thirty(self, observation: PriceObservation) -> Decimal | None:
        underlying = self._underlyings[observation.asset]
        second = observation.timestamp_ms // 1000
        values = []
        for offset in range(30):
            past = underlying.observation_at(second - offset)
            if past is None:
                return None
            values.append(past.chainlink)
        return (sum(values, Decimal(0)) / 30).quantize(E18)

    # -- publishing ----------------------------------------------------------------------

    def publish(self, observations: Sequence[PriceObservation]) -> None:
        """Send one ``update`` frame per subscribed topic for each new observation."""
        if not self._connections:
            return
        now_ms = self._clock.now_ms()
        for observation in observations:
            for topic in TOPICS:
                symbol = self._symbol(topic, observation.asset)
                receivers = [c for c in self._connections if c.wants(topic, symbol)]
                if not receivers:
                    continue
                payload = self._payload(topic, observation)
                if payload is None:
                    continue
                body = orjson.dumps(
                    {"payload": payload, "timestamp": now_ms, "topic": topic, "type": "update"}
                )
                tail = body.decode()[1:]
                for conn in receivers:
                    # connection_id is alphanumeric: splicing it in needs no escaping.
                    conn.sock.send(f'{{"connection_id":"{conn.connection_id}",{tail}')
                    self.frames_published += 1

    def _backfill(self, conn: _Connection, subscription: _Subscription) -> None:
        now_ms = self._clock.now_ms()
        count = BACKFILL_POINTS[subscription.topic]
        for asset, underlying in self._underlyings.items():
            symbol = self._symbol(subscription.topic, asset)
            if subscription.symbol not in (None, symbol):
                continue
            points = []
            for observation in underlying.recent_observations(count):
                payload = self._payload(subscription.topic, observation)
                if payload is not None:
                    del payload["symbol"]
                    points.append(payload)
            frame = {
                "payload": {"data": points, "symbol": symbol},
                "timestamp": now_ms,
                "topic": _BACKFILL_TOPIC.get(subscription.topic, subscription.topic),
                "type": "subscribe",
            }
            conn.sock.send(orjson.dumps(frame).decode())

    async def close_all(self) -> None:
        """Close every connection with 1001 (the simulator is stopping)."""
        for conn in list(self._connections):
            conn.sock.close_after_flush(1001, "simulator stopping")

    # -- connections ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        sock = FeedSocket(ws, request, WsChannel.RTDS, self._faults)
        connection_id = "".join(self._rng.choice(_CONNECTION_ID_ALPHABET) for _ in range(16))
        conn = _Connection(sock, connection_id)
        self._connections.add(conn)
        try:
            await sock.serve(lambda text: self._on_text(conn, text))
        finally:
            self._connections.discard(conn)
        return ws

    def _on_text(self, conn: _Connection, text: str) -> None:
        if text.strip().lower() == "ping":
            return  # RTDS never answers PING
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            self._error(conn, 400, f"invalid message: not JSON: {text[:80]!r}")
            return
        action = message.get("action") if isinstance(message, dict) else None
        raw_subscriptions = message.get("subscriptions") if isinstance(message, dict) else None
        if action not in ("subscribe", "unsubscribe") or not isinstance(raw_subscriptions, list):
            self._error(conn, 400, "invalid message: expected an action and a list of subscriptions")
            return
        parsed: list[_Subscription] = []
        for raw in raw_subscriptions:
            topic = raw.get("topic") if isinstance(raw, dict) else None
            if topic not in TOPICS:
                # One unknown topic silences the whole batch, as on the real service.
                self._error(conn, 401, f"Unauthorized: topic {topic!r} not found")
                return
            assert isinstance(raw, dict)
            parsed.append(_parse_subscription(topic, raw))
        if action == "unsubscribe":
            topics = {(s.topic, s.symbol) for s in parsed}
            conn.subscriptions = [
                s
                for s in conn.subscriptions
                if (s.topic, s.symbol) not in topics and (s.topic, None) not in topics
            ]
            return
        for subscription in parsed:
            conn.subscriptions.append(subscription)
            self._backfill(conn, subscription)

    @staticmethod
    def _error(conn: _Connection, status: int, message: str) -> None:
        conn.sock.send(orjson.dumps({"statusCode": status, "body": {"message": message}}).decode())


def _parse_subscription(topic: str, raw: dict[str, Any]) -> _Subscription:
    kind = raw.get("type", "*")
    kind = kind if isinstance(kind, str) else ""
    filters = raw.get("filters")
    if filters is None or filters == "":
        return _Subscription(topic, kind, None, silent=False)
    if not isinstance(filters, str):
        return _Subscription(topic, kind, _NO_MATCH, silent=True)
    try:
        parsed = orjson.loads(filters)
    except orjson.JSONDecodeError:
        return _Subscription(topic, kind, _NO_MATCH, silent=True)
    symbol = parsed.get("symbol") if isinstance(parsed, dict) else None
    if not isinstance(symbol, str):
        return _Subscription(topic, kind, _NO_MATCH, silent=True)
    # The real service backfills a filter written with spaces, then never updates it.
    silent = any(ch.isspace() for ch in filters)
    return _Subscription(topic, kind, symbol.lower(), silent=silent)
