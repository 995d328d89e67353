"""The CLOB websockets: ``/ws/market`` (public) and ``/ws/user`` (authenticated), docs §5.1–5.2.

Market channel: the client subscribes with ``{"type": "market", "assets_ids": [...],
"custom_feature_enabled": true}`` and gets the initial dump, a JSON **array** of ``book``
events (unless ``"initial_dump": false``), then ``price_change``, ``last_trade_price``,
``book``, ``tick_size_change`` and, with custom features, ``best_bid_ask``. On the same socket
``{"operation": "subscribe" | "unsubscribe", "assets_ids": [...]}`` changes the subscription;
assets already subscribed are skipped.

User channel: ``{"type": "user", "auth": {"apiKey", "secret", "passphrase"}, "markets": [...]}``;
a bad key closes the socket (1008). Events are the key's ``order`` and ``trade`` events,
filtered by condition id (no ``markets`` = every market). ``operation`` messages with
``markets`` add or remove condition ids; on an every-market socket an ``unsubscribe`` stops
those markets (the socket keeps every other one) and a later ``subscribe`` restores them.

Both answer the text ``PING`` with ``PONG`` and close a socket that has been silent (no PING,
no message) for ``idle_timeout_s``. Outgoing frames go through a per-connection queue and
the fault registry: a drop aborts the connection, a freeze silences it until the client
reconnects (PING still answered), a malformed frame replaces the real one; on the user
channel events may be duplicated or held back behind the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from typing import Any

from aiohttp import WSMsgType, web

from polyexec.sim.auth import ApiKeyStore
from polyexec.sim.contracts import SimClock, WsChannel
from polyexec.sim.exchange import Exchange
from polyexec.sim.faults import FaultRegistry
from polyexec.sim.outbox import book_event

__all__ = ["ClobHub"]

_REORDER_FLUSH_S = 0.5
_MALFORMED = '{"event_type": "book", "asset_id": "'
_CUSTOM_EVENTS = frozenset({"best_bid_ask"})


def _dumps(message: Any) -> str:
    return json.dumps(message, separators=(",", ":"))


class _Connection:
    """One websocket client and its subscription."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, channel: str) -> None:
        self.ws = ws
        self.request = request
        self.channel = channel
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.assets: set[str] = set()
        self.custom = False
        self.owner: str | None = None
        self.markets: set[str] | None = None  # None: every market but ``excluded``
        self.excluded: set[str] = set()
        self.frozen = False
        self.held: str | None = None

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


class ClobHub:
    """Websocket connections and the exchange's message routing; an
    :class:`~polyexec.sim.outbox.ExchangeSink`."""

    def __init__(
        self,
        exchange: Exchange,
        keys: ApiKeyStore,
        faults: FaultRegistry,
        clock: SimClock,
        *,
        idle_timeout_s: float | None = 30.0,
    ) -> None:
        self._exchange = exchange
        self._keys = keys
        self._faults = faults
        self._clock = clock
        self._idle_timeout_s = idle_timeout_s
        self._connections: set[_Connection] = set()
        exchange.add_sink(self)

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    # -- routing (ExchangeSink) -------------------------------------------------------------

    def publish_market(self, message: dict[str, Any]) -> None:
        whole: str | None = None
        for conn in self._connections:
            if conn.channel != WsChannel.MARKET or not conn.assets:
                continue
            if message.get("event_type") in _CUSTOM_EVENTS and not conn.custom:
                continue
            changes = message.get("price_changes")
            if changes is not None:
                mine = [c for c in changes if c["asset_id"] in conn.assets]
                if not mine:
                    continue
                if len(mine) != len(changes):
                    conn.queue.put_nowait(_dumps({**message, "price_changes": mine}))
                    continue
            elif message.get("asset_id") not in conn.assets:
                continue
            whole = whole or _dumps(message)
            conn.queue.put_nowait(whole)

    def publish_user(self, owner: str, market: str, message: dict[str, Any]) -> None:
        frame: str | None = None
        for conn in self._connections:
            if conn.channel != WsChannel.USER or conn.owner != owner:
                continue
            if conn.markets is not None and market not in conn.markets:
                continue
            if market in conn.excluded:
                continue
            frame = frame or _dumps(message)
            self._enqueue_user(conn, frame)

    def _enqueue_user(self, conn: _Connection, frame: str) -> None:
        if conn.held is None and self._faults.user_reorder():
            conn.held = frame
            return
        conn.queue.put_nowait(frame)
        if self._faults.user_duplicate():
            conn.queue.put_nowait(frame)
        if conn.held is not None:
            conn.queue.put_nowait(conn.held)
            conn.held = None

    # -- handlers ---------------------------------------------------------------------------

    async def market_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, WsChannel.MARKET)

    async def user_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, WsChannel.USER)

    async def _serve(self, request: web.Request, channel: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Connection(ws, request, channel)
        self._connections.add(conn)
        sender = asyncio.create_task(self._send_loop(conn), name=f"sim-ws-{channel}-sender")
        try:
            await self._receive_loop(conn)
        finally:
            self._connections.discard(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if not ws.closed:
                await ws.close()
        return ws

    async def _receive_loop(self, conn: _Connection) -> None:
        ws = conn.ws
        while not ws.closed:
            try:
                msg = await ws.receive(timeout=self._idle_timeout_s)
            except TimeoutError:
                await ws.close(code=1000, message=b"idle")
                return
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            if msg.type != WSMsgType.TEXT:
                continue
            text = str(msg.data)
            if text.strip().upper() == "PING":
                await ws.send_str("PONG")
                continue
            try:
                payload = json.loads(text)
            except ValueError:
                continue  # the venue ignores what it cannot read
            if not isinstance(payload, dict):
                continue
            if conn.channel == WsChannel.MARKET:
                self._on_market_message(conn, payload)
            elif not await self._on_user_message(conn, payload):
                return

    def _on_market_message(self, conn: _Connection, payload: dict[str, Any]) -> None:
        assets = [str(a) for a in payload.get("assets_ids") or [] if isinstance(a, str | int)]
        operation = str(payload.get("operation", "subscribe")).lower()
        if "custom_feature_enabled" in payload:
            conn.custom = bool(payload["custom_feature_enabled"])
        if operation == "unsubscribe":
            conn.assets.difference_update(assets)
            return
        new = [a for a in dict.fromkeys(assets) if a not in conn.assets]
        conn.assets.update(new)
        if payload.get("initial_dump", True):
            dump = []
            now_ms = self._clock.now_ms()
            for asset_id in new:
                market = self._exchange.market_of(asset_id)
                if market is not None and self._exchange.book(asset_id) is not None:
                    dump.append(book_event(self._exchange, market, asset_id, now_ms))
            if dump:
                conn.queue.put_nowait(_dumps(dump))

    async def _on_user_message(self, conn: _Connection, payload: dict[str, Any]) -> bool:
        markets = payload.get("markets")
        wanted = {str(m) for m in markets} if isinstance(markets, list) else None
        if "operation" in payload and conn.owner is not None:
            unsubscribe = str(payload["operation"]).lower() == "unsubscribe"
            if conn.markets is None:
                # An "every market" socket: an unsubscribe excludes markets, a subscribe
                # brings excluded ones back.
                if unsubscribe:
                    conn.excluded.update(wanted or set())
                else:
                    conn.excluded.difference_update(wanted or set())
            elif unsubscribe:
                conn.markets.difference_update(wanted or set())
            else:
                conn.markets.update(wanted or set())
            return True
        auth = payload.get("auth")
        api_key = self._keys.get(str(auth.get("apiKey", ""))) if isinstance(auth, dict) else None
        if (
            api_key is None
            or not isinstance(auth, dict)
            or not hmac.compare_digest(str(auth.get("secret", "")), api_key.secret)
            or not hmac.compare_digest(str(auth.get("passphrase", "")), api_key.passphrase)
        ):
            await conn.ws.close(code=1008, message=b"Unauthorized/Invalid api key")
            return False
        conn.owner = api_key.key
        conn.markets = wanted or None
        conn.excluded = set()
        return True

    async def _send_loop(self, conn: _Connection) -> None:
        ws = conn.ws
        while not ws.closed:
            try:
                frame = await asyncio.wait_for(conn.queue.get(), timeout=_REORDER_FLUSH_S)
            except TimeoutError:
                if conn.held is None:
                    continue
                frame, conn.held = conn.held, None
            if self._faults.ws_should_drop(conn.channel):
                conn.abort()
                return
            if conn.frozen or self._faults.ws_frozen(conn.channel):
                conn.frozen = True  # a frozen socket stays silent until the client reconnects
                continue
            if self._faults.ws_malformed(conn.channel):
                frame = _MALFORMED + frame[: len(frame) // 3]
            try:
                await ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    async def close_all(self) -> None:
        """Close every socket with 1001 (going away): the simulator is stopping."""
        for conn in list(self._connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"server shutting down")
