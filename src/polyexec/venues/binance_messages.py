"""Decoding of Binance combined-stream frames into :mod:`polyexec.core.events`.

The Binance feed connects to the *combined* endpoint
(``/stream?streams=btcusdt@trade/btcusdt@bookTicker``), where every event is wrapped as
``{"stream": "<name>", "data": <payload>}`` (feeds-and-reliability.md §1.1). One frame decodes
into exactly one :data:`BinanceMessage`:

* ``<symbol>@trade`` → :class:`~polyexec.core.events.BinanceTrade` (fields ``t p q T E m``);
* ``<symbol>@bookTicker`` → :class:`~polyexec.core.events.BinanceBookTicker` (fields
  ``u b B a A``; the payload has no event time, so ``received_ms`` is the local receive time
  the caller passes in);
* ``!serverShutdown`` (or a bare ``{"e": "serverShutdown"}``) → :class:`ServerShutdown`: the
  server is going away, reconnect now;
* a control reply ``{"result": …, "id": …}`` / ``{"error": {"code", "msg"}, "id": …}`` →
  :class:`ControlReply` (the feed never sends control messages, but a reply is not an error).

Bare (raw-stream) ``trade`` payloads are accepted too. Everything else raises
:class:`BinanceMessageError`, whose ``kind`` is the label the feed counts the frame under and
skips it: ``malformed`` (not JSON, not an object, a field missing or of the wrong type),
``bad_value`` (NaN, infinity, a non-positive price, an absurd magnitude), ``unknown_stream``
(a stream or event this module does not decode), ``symbol_mismatch`` (the payload's ``s`` is
not the stream's symbol).

Numbers: prices and quantities are decimal **strings** on Binance; a JSON number is refused
(it went through a double). Values are bounded (below 10^12, at most 18 decimals) so a hostile
``"1e999999999"`` cannot make later integer arithmetic explode. Times are integer milliseconds
(the feed does not ask for ``timeUnit=MICROSECOND``).

Also here, because the feed and the reference-price tracker share them: the asset ↔ symbol
rule (``"btc"`` ↔ ``"btcusdt"``) and the combined-stream URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

from polyexec.core.events import BinanceBookTicker, BinanceTrade
from polyexec.core.models import TimestampMs

__all__ = [
    "QUOTE_ASSET",
    "BinanceMessage",
    "BinanceMessageError",
    "ControlReply",
    "ServerShutdown",
    "asset_of_symbol",
    "binance_symbol",
    "combined_stream_url",
    "decode_binance_frame",
    "parse_book_ticker",
    "parse_trade",
    "stream_names",
]

QUOTE_ASSET: Final = "usdt"
"""The quote currency of the reference symbols: asset ``btc`` trades as ``btcusdt``."""

_ASSET_RE: Final = re.compile(r"^[a-z0-9]{1,20}$")
_MAX_ADJUSTED: Final = 12
"""Prices and quantities must be below 10^12: no Binance spot value comes near it."""
_MAX_DECIMALS: Final = 18
_SHUTDOWN: Final = "serverShutdown"


class BinanceMessageError(ValueError):
    """A frame that cannot be used. ``kind`` labels it for the feed's error counters."""

    def __init__(self, problem: str, *, kind: str = "malformed") -> None:
        self.kind = kind
        super().__init__(problem)


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    """``serverShutdown``: this server will close the connection soon; reconnect now."""

    event_time_ms: TimestampMs


@dataclass(frozen=True, slots=True)
class ControlReply:
    """The answer to a control message (``SUBSCRIBE`` & co.). ``error`` is empty on success."""

    request_id: object
    error: str = ""


BinanceMessage = BinanceTrade | BinanceBookTicker | ServerShutdown | ControlReply
"""Everything :func:`decode_binance_frame` returns."""


# --- symbols and URLs ------------------------------------------------------------------------


def binance_symbol(asset: str) -> str:
    """``"btc"`` → ``"btcusdt"``; ``ValueError`` for anything that is not a plain asset name."""
    name = asset.strip().lower()
    if not _ASSET_RE.match(name):
        raise ValueError(f"not an asset name: {asset!r} (expected letters and digits, e.g. 'btc')")
    return name + QUOTE_ASSET


def asset_of_symbol(symbol: str) -> str | None:
    """``"btcusdt"`` (any case) → ``"btc"``; ``None`` when the symbol is not quoted in USDT."""
    lowered = symbol.lower()
    if not lowered.endswith(QUOTE_ASSET) or len(lowered) == len(QUOTE_ASSET):
        return None
    return lowered[: -len(QUOTE_ASSET)]


def stream_names(assets: Iterable[str]) -> list[str]:
    """The streams the feed subscribes: ``<symbol>@trade`` and ``<symbol>@bookTicker`` per
    asset, in the given order, duplicates removed. ``ValueError`` when there is no asset."""
    symbols = list(dict.fromkeys(binance_symbol(asset) for asset in assets))
    if not symbols:
        raise ValueError("the Binance feed needs at least one asset")
    return [f"{symbol}@{event}" for symbol in symbols for event in ("trade", "bookTicker")]


def combined_stream_url(base_url: str, assets: Iterable[str]) -> str:
    """``wss://data-stream.binance.vision`` + ``["btc"]`` →
    ``wss://data-stream.binance.vision/stream?streams=btcusdt@trade/btcusdt@bookTicker``
    (the same shape as ``Settings.binance_stream_url``)."""
    return f"{base_url.rstrip('/')}/stream?streams={'/'.join(stream_names(assets))}"


# --- field readers -----------------------------------------------------------------------------


def _get(data: Mapping[str, Any], name: str) -> Any:
    try:
        return data[name]
    except KeyError:
        raise BinanceMessageError(f"field {name!r} missing") from None


def _integer(data: Mapping[str, Any], name: str) -> int:
    raw = _get(data, name)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise BinanceMessageError(f"field {name!r}: expected a non-negative integer, got {raw!r:.40}")
    return raw


def _decimal(data: Mapping[str, Any], name: str, *, positive: bool) -> Decimal:
    raw = _get(data, name)
    if not isinstance(raw, str):
        raise BinanceMessageError(f"field {name!r}: expected a decimal string, got {type(raw).__name__}")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BinanceMessageError(f"field {name!r}: not a number: {raw!r:.40}") from None
    if not value.is_finite():
        raise BinanceMessageError(f"field {name!r}: not a finite number: {raw!r:.40}", kind="bad_value")
    if value < 0 or (positive and value == 0):
        raise BinanceMessageError(f"field {name!r}: {value} is not positive", kind="bad_value")
    exponent = value.as_tuple().exponent
    if (value and value.adjusted() >= _MAX_ADJUSTED) or (
        isinstance(exponent, int) and exponent < -_MAX_DECIMALS
    ):
        raise BinanceMessageError(f"field {name!r}: number out of range: {raw!r:.40}", kind="bad_value")
    return value


def _payload_symbol(data: Mapping[str, Any], expected: str | None) -> str:
    raw = _get(data, "s")
    if not isinstance(raw, str) or not raw:
        raise BinanceMessageError(f"field 's': expected a symbol, got {raw!r:.40}")
    symbol = raw.lower()
    if expected is not None and symbol != expected:
        raise BinanceMessageError(f"payload symbol {raw!r} on the {expected} stream", kind="symbol_mismatch")
    return symbol


# --- payloads ----------------------------------------------------------------------------------


def parse_trade(data: Mapping[str, Any], symbol: str | None = None) -> BinanceTrade:
    """A ``trade`` payload → :class:`BinanceTrade`. ``symbol`` (lower case) is the stream's,
    checked against the payload's ``s`` when given."""
    buyer_is_maker = _get(data, "m")
    if not isinstance(buyer_is_maker, bool):
        raise BinanceMessageError(f"field 'm': expected a boolean, got {buyer_is_maker!r:.40}")
    return BinanceTrade(
        symbol=_payload_symbol(data, symbol),
        trade_id=_integer(data, "t"),
        price=_decimal(data, "p", positive=True),
        quantity=_decimal(data, "q", positive=False),
        trade_time_ms=_integer(data, "T"),
        event_time_ms=_integer(data, "E"),
        buyer_is_maker=buyer_is_maker,
    )


def parse_book_ticker(
    data: Mapping[str, Any], received_ms: TimestampMs, symbol: str | None = None
) -> BinanceBookTicker:
    """A ``bookTicker`` payload → :class:`BinanceBookTicker` stamped with ``received_ms``.

    A zero bid or ask is accepted (Binance sends ``"0.00000000"`` for an empty side); a
    crossed book (bid above a non-zero ask) is refused as ``bad_value``."""
    bid = _decimal(data, "b", positive=False)
    ask = _decimal(data, "a", positive=False)
    if ask and bid > ask:
        raise BinanceMessageError(f"crossed book ticker: bid {bid} > ask {ask}", kind="bad_value")
    return BinanceBookTicker(
        symbol=_payload_symbol(data, symbol),
        update_id=_integer(data, "u"),
        bid=bid,
        bid_qty=_decimal(data, "B", positive=False),
        ask=ask,
        ask_qty=_decimal(data, "A", positive=False),
        received_ms=received_ms,
    )


def _shutdown(data: Mapping[str, Any]) -> ServerShutdown:
    raw = data.get("E", 0)
    event_time = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0 else 0
    return ServerShutdown(event_time_ms=event_time)


def _control_reply(message: Mapping[str, Any]) -> ControlReply:
    error = message.get("error")
    if error is None:
        return ControlReply(request_id=message.get("id"))
    if isinstance(error, Mapping):
        text = f"code {error.get('code')!r}: {error.get('msg')!r}"
    else:
        text = repr(error)
    return ControlReply(request_id=message.get("id"), error=text[:200] or "error")


def _decode_stream(stream: str, data: Any, received_ms: TimestampMs) -> BinanceMessage:
    if not isinstance(data, dict):
        raise BinanceMessageError(f"stream {stream!r}: 'data' is not an object")
    symbol, _, event = stream.partition("@")
    if event == "trade":
        return parse_trade(data, symbol)
    if event == "bookTicker":
        return parse_book_ticker(data, received_ms, symbol)
    if stream == "!" + _SHUTDOWN or data.get("e") == _SHUTDOWN:
        return _shutdown(data)
    raise BinanceMessageError(f"unknown stream {stream!r:.60}", kind="unknown_stream")


def decode_binance_frame(frame: str | bytes, received_ms: TimestampMs) -> BinanceMessage:
    """One websocket frame → one :data:`BinanceMessage`; :class:`BinanceMessageError` (with
    its ``kind``) for anything that cannot be used. ``received_ms`` stamps book tickers."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise BinanceMessageError("not JSON") from None
    if not isinstance(message, dict):
        raise BinanceMessageError(f"expected a JSON object, got {type(message).__name__}")
    stream = message.get("stream")
    if stream is not None:
        if not isinstance(stream, str):
            raise BinanceMessageError("'stream' is not a string")
        return _decode_stream(stream, message.get("data"), received_ms)
    if "result" in message or "error" in message:
        return _control_reply(message)
    event = message.get("e")
    if event == _SHUTDOWN:
        return _shutdown(message)
    if event == "trade":
        return parse_trade(message)
    raise BinanceMessageError(f"unknown message with keys {sorted(message)[:8]}", kind="unknown_stream")
