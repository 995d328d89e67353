"""Binance spot market streams on loopback, fed by the simulator's underlying.

Routes (the client's ``BINANCE_WS_URL`` is ``ws://127.0.0.1:P/binance``):

- ``/binance/stream?streams=btcusdt@trade/btcusdt@bookTicker``: combined streams, every event
  wrapped as ``{"stream": "<name>", "data": <payload>}``;
- ``/binance/ws/<stream>[/<stream>…]`` and ``/binance/ws``: raw streams, bare payloads.

Served streams: ``<symbol>@trade``, ``<symbol>@aggTrade`` and ``<symbol>@bookTicker`` for
each simulated asset (``btcusdt``, ``ethusdt``, …). Payloads use Binance's exact field names
(trade: ``e E s t p q T m M``; aggTrade: ``e E s a p q f l T m M``; bookTicker:
``u s b B a A``, no ``e``/``E``), prices and quantities as strings with 8 decimals, times in
milliseconds (microseconds with ``timeUnit=MICROSECOND``).

Live control messages work as on Binance: ``SUBSCRIBE``/``UNSUBSCRIBE`` (answered
``{"result": null, "id": …}``), ``LIST_SUBSCRIPTIONS``, ``SET_PROPERTY``/``GET_PROPERTY``
``combined``, and the documented error objects (codes 0-3). Like Binance, a well-formed
stream name the simulator does not produce (``btcusdt@depth``) is accepted and stays silent.

The server pings every ``ping_interval`` seconds (Binance: 20 s) and drops a client that does
not answer; :meth:`BinanceFeed.server_shutdown` sends the ``serverShutdown`` event and then
closes the sockets with 1001, as Binance does before maintenance.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from polyexec.sim.contracts import FaultView, SimClock, WsChannel
from polyexec.sim.feed_socket import FeedSocket
from polyexec.sim.underlying import BinanceTick

__all__ = ["DEFAULT_PING_INTERVAL", "BinanceFeed", "canonical_stream_name"]

DEFAULT_PING_INTERVAL = 20.0
_EVENTS = {"trade": "trade", "aggtrade": "aggTrade", "bookticker": "bookTicker"}
_STREAM_RE = re.compile(r"^([A-Za-z0-9]+)@([A-Za-z0-9_@:+.\-]+)$")
_ID_STRING_RE = re.compile(r"^[A-Za-z0-9\-]{1,36}$")
_INT64 = 2**63
_MAX_STREAMS = 1024
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")


def canonical_stream_name(name: str) -> str | None:
    """``"BTCUSDT@bookticker"`` → ``"btcusdt@bookTicker"``; ``None`` if not a stream name."""
    match = _STREAM_RE.match(name)
    if match is None:
        return None
    symbol, event = match.groups()
    return f"{symbol.lower()}@{_EVENTS.get(event.lower(), event)}"


class _Connection:
    def __init__(self, sock: FeedSocket, streams: Iterable[str], combined: bool, microseconds: bool) -> None:
        self.sock = sock
        self.streams: dict[str, None] = dict.fromkeys(streams)  # an ordered set
        self.combined = combined
        self.microseconds = microseconds


class _ControlError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _fmt(value: Decimal) -> str:
    return f"{value:.8f}"


class BinanceFeed:
    """The Binance half of the simulator: routes, subscribers and the frames they receive."""

    def __init__(
        self,
        clock: SimClock,
        faults: FaultView | None,
        ping_interval: float = DEFAULT_PING_INTERVAL,
    ) -> None:
        if ping_interval <= 0:
            raise ValueError(f"ping_interval must be positive (got {ping_interval})")
        self._clock = clock
        self._faults = faults
        self._ping_interval = ping_interval
        self._connections: set[_Connection] = set()
        self.frames_published = 0

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp routes of the Binance streams."""
        return [
            web.get("/binance/stream", self._handle_combined),
            web.get("/binance/ws", self._handle_raw),
            web.get("/binance/ws/{streams:.+}", self._handle_raw),
        ]

    # -- publishing ----------------------------------------------------------------------

    def publish(self, ticks: Sequence[BinanceTick]) -> None:
        """Queue the frames of ``ticks`` to every subscriber of their streams."""
        if not self._connections or not ticks:
            return
        for tick in ticks:
            cache: dict[tuple[str, bool, bool], str] = {}
            for conn in self._connections:
                for event in ("trade", "aggTrade", "bookTicker"):
                    name = f"{tick.symbol}@{event}"
                    if name not in conn.streams:
                        continue
                    key = (event, conn.combined, conn.microseconds)
                    frame = cache.get(key)
                    if frame is None:
                        payload = self._payload(tick, event, conn.microseconds)
                        body: Any = {"stream": name, "data": payload} if conn.combined else payload
                        frame = orjson.dumps(body).decode()
                        cache[key] = frame
                    conn.sock.send(frame)
                    self.frames_published += 1

    def _payload(self, tick: BinanceTick, event: str, microseconds: bool) -> dict[str, Any]:
        scale = 1000 if microseconds else 1
        trade_time = tick.time_ms * scale
        # Binance's event time trails the trade time by a few milliseconds.
        event_time = (tick.time_ms + tick.trade_id % 5) * scale
        symbol = tick.symbol.upper()
        if event == "bookTicker":
            return {
                "u": tick.update_id,
                "s": symbol,
                "b": _fmt(tick.bid),
                "B": _fmt(tick.bid_quantity),
                "a": _fmt(tick.ask),
                "A": _fmt(tick.ask_quantity),
            }
        if event == "aggTrade":
            return {
                "e": "aggTrade",
                "E": event_time,
                "s": symbol,
                "a": tick.trade_id - 1_000_000_000,
                "p": _fmt(tick.price),
                "q": _fmt(tick.quantity),
                "f": tick.trade_id,
                "l": tick.trade_id,
                "T": trade_time,
                "m": tick.buyer_is_maker,
                "M": True,
            }
        return {
            "e": "trade",
            "E": event_time,
            "s": symbol,
            "t": tick.trade_id,
            "p": _fmt(tick.price),
            "q": _fmt(tick.quantity),
            "T": trade_time,
            "m": tick.buyer_is_maker,
            "M": True,
        }

    async def server_shutdown(self, grace_seconds: float = 0.0) -> int:
        """Send ``serverShutdown`` to every client, close them (1001) after ``grace_seconds``.

        Returns the number of connections told. New connections are still accepted: this is
        one server going away, not the venue.
        """
        now_ms = self._clock.now_ms()
        connections = list(self._connections)
        for conn in connections:
            data = {"e": "serverShutdown", "E": now_ms * (1000 if conn.microseconds else 1)}
            body = {"stream": "!serverShutdown", "data": data} if conn.combined else data
            conn.sock.send(orjson.dumps(body).decode())
        if grace_seconds > 0:
            await asyncio.sleep(grace_seconds)
        for conn in connections:
            conn.sock.close_after_flush(1001, "server shutdown")
        return len(connections)

    async def close_all(self) -> None:
        """Close every connection with 1001 (the simulator is stopping)."""
        for conn in list(self._connections):
            conn.sock.close_after_flush(1001, "simulator stopping")

    # -- connections ---------------------------------------------------------------------

    async def _handle_combined(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("streams", "")
        return await self._serve(request, [s for s in raw.split("/") if s], combined=True)

    async def _handle_raw(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info.get("streams", "")
        return await self._serve(request, [s for s in raw.split("/") if s], combined=False)

    async def _serve(self, request: web.Request, names: list[str], combined: bool) -> web.StreamResponse:
        streams = []
        for name in names:
            canonical = canonical_stream_name(name)
            if canonical is None:
                return web.json_response(
                    {"code": 2, "msg": f"Invalid request: {name!r} is not a stream name"}, status=400
                )
            streams.append(canonical)
        if len(streams) > _MAX_STREAMS:
            return web.json_response(
                {"code": 2, "msg": f"Invalid request: more than {_MAX_STREAMS} streams"}, status=400
            )
        time_unit = request.query.get("timeUnit", "MILLISECOND").upper()
        if time_unit not in ("MILLISECOND", "MICROSECOND"):
            return web.json_response({"code": 2, "msg": f"Invalid timeUnit {time_unit!r}"}, status=400)
        ws = web.WebSocketResponse(heartbeat=self._ping_interval, autoping=True)
        await ws.prepare(request)
        sock = FeedSocket(ws, request, WsChannel.BINANCE, self._faults)
        conn = _Connection(sock, streams, combined, time_unit == "MICROSECOND")
        self._connections.add(conn)
        try:
            await sock.serve(lambda text: sock.send(orjson.dumps(self._control(conn, text)).decode()))
        finally:
            self._connections.discard(conn)
        return ws

    # -- control messages (SUBSCRIBE & co.) ---------------------------------------------

    def _control(self, conn: _Connection, text: str) -> dict[str, Any]:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return {"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}, "id": None}
        if not isinstance(message, dict):
            return {"error": {"code": 2, "msg": "Invalid request: expected a JSON object"}, "id": None}
        request_id = message.get("id")
        if not _valid_id(request_id):
            msg = "Invalid request: request ID must be an integer, a string of at most 36 characters, or null"
            return {"error": {"code": 2, "msg": msg}, "id": None}
        try:
            result = self._apply(conn, message)
        except _ControlError as exc:
            return {"error": {"code": exc.code, "msg": exc.msg}, "id": request_id}
        return {"result": result, "id": request_id}

    def _apply(self, conn: _Connection, message: dict[str, Any]) -> Any:
        method = message.get("method")
        if method is None:
            raise _ControlError(2, "Invalid request: missing field `method`")
        if method not in _METHODS:
            expected = ", ".join(f"`{m}`" for m in _METHODS)
            raise _ControlError(2, f"Invalid request: unknown variant `{method}`, expected one of {expected}")
        params = message.get("params", [])
        if not isinstance(params, list):
            raise _ControlError(2, "Invalid request: `params` must be an array")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            names = [self._stream_param(p) for p in params]
            if method == "SUBSCRIBE":
                if len(set(conn.streams) | set(names)) > _MAX_STREAMS:
                    raise _ControlError(2, "Invalid request: too many parameters")
                conn.streams.update(dict.fromkeys(names))
            else:
                for name in names:
                    conn.streams.pop(name, None)
            return None
        if method == "LIST_SUBSCRIPTIONS":
            return list(conn.streams)
        if not params or params[0] != "combined":
            raise _ControlError(0, "Unknown property")
        if method == "GET_PROPERTY":
            return conn.combined
        if len(params) != 2:
            raise _ControlError(2, "Invalid request: SET_PROPERTY takes a property name and a value")
        if not isinstance(params[1], bool):
            raise _ControlError(1, "Invalid value type: expected Boolean")
        conn.combined = params[1]
        return None

    @staticmethod
    def _stream_param(param: Any) -> str:
        if not isinstance(param, str):
            raise _ControlError(2, "Invalid request: stream names must be strings")
        canonical = canonical_stream_name(param)
        if canonical is None:
            raise _ControlError(2, f"Invalid request: {param!r} is not a stream name")
        return canonical


def _valid_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return isinstance(value, str) and _ID_STRING_RE.match(value) is not None
