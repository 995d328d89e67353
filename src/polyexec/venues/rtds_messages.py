"""Decoding of Polymarket RTDS frames (the Chainlink prices) into
:class:`~polyexec.core.events.ReferencePrice`.

RTDS (``wss://ws-live-data.polymarket.com``, protocol doc §5.4) wraps every message as
``{"topic", "type", "timestamp" (publish time, ms), "payload": {…}}``. Two topics matter:

* ``crypto_prices_twap_sixty`` — the Chainlink **60-second TWAP**, the settlement source of
  15-minute markets (§6.3) → :attr:`~polyexec.core.events.PriceSource.CHAINLINK_TWAP_60`.
  Payload ``{"symbol": "btc/usd", "value": 65000.5, "full_accuracy_value":
  "65000500000000000000000", "timestamp": ms, "window_s": 60}``. The exact price is
  ``full_accuracy_value``, a signed E18 fixed-point integer string, read into an exact
  ``Decimal``; the float ``value`` is only used when it is missing.
* ``crypto_prices_chainlink`` — the Chainlink spot stream →
  :attr:`~polyexec.core.events.PriceSource.CHAINLINK_SPOT`. Payload ``{"symbol", "timestamp",
  "value"}`` (a JSON float: read through its shortest text form, ``67234.5`` not
  ``67234.500000000001…``).

``ReferencePrice.timestamp_ms`` is always the payload's ``timestamp``: the Chainlink
observation time, not the publish time of the envelope.

Observed quirks a client must survive (§5.4, reproduced by the simulator):

* every subscription first gets a ``type: "subscribe"`` **backfill** per symbol,
  ``payload: {"symbol", "data": [{"timestamp", "value", …}, …]}`` (about 60 points), although
  the docs promise no replay; decoded into one price per point, ``backfill=True``;
* Chainlink-spot backfill frames are **mislabelled** ``topic: "crypto_prices"`` (the Binance
  topic). A ``crypto_prices`` frame whose symbol is ``<asset>/usd`` is therefore read as
  Chainlink spot; a real Binance ``crypto_prices`` frame (``btcusdt``) is not decoded;
* a refused subscription answers ``{"statusCode": 401, "body": {"message": …}}`` →
  :class:`RtdsServerError`;
* ``update`` frames carry an undocumented ``connection_id``: ignored.

:func:`decode_rtds_frame` raises :class:`RtdsMessageError` (its ``kind`` is the counter label:
``malformed``, ``bad_value``, ``unknown_topic``, ``unknown_type``) for a frame that cannot be
used at all; inside a backfill a bad point is skipped and counted in
:attr:`RtdsPrices.rejected`. Prices must be finite, positive and below 10^12.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

from polyexec.core.events import PriceSource, ReferencePrice

__all__ = [
    "SYMBOL_SUFFIX",
    "TOPIC_BINANCE",
    "TOPIC_CHAINLINK",
    "TOPIC_TWAP_SIXTY",
    "RtdsMessage",
    "RtdsMessageError",
    "RtdsPrices",
    "RtdsServerError",
    "asset_of_rtds_symbol",
    "decode_rtds_frame",
    "rtds_symbol",
]

TOPIC_TWAP_SIXTY: Final = "crypto_prices_twap_sixty"
TOPIC_CHAINLINK: Final = "crypto_prices_chainlink"
TOPIC_BINANCE: Final = "crypto_prices"
"""Not subscribed; named because the Chainlink-spot backfill arrives under it."""
SYMBOL_SUFFIX: Final = "/usd"
TWAP_WINDOW_S: Final = 60

_E18_RE: Final = re.compile(r"^-?[0-9]{1,40}$")
_MAX_ADJUSTED: Final = 12
_SOURCES: Final = {
    TOPIC_TWAP_SIXTY: PriceSource.CHAINLINK_TWAP_60,
    TOPIC_CHAINLINK: PriceSource.CHAINLINK_SPOT,
}


class RtdsMessageError(ValueError):
    """A frame (or backfill point) that cannot be used; ``kind`` labels it for the counters."""

    def __init__(self, problem: str, *, kind: str = "malformed") -> None:
        self.kind = kind
        super().__init__(problem)


@dataclass(frozen=True, slots=True)
class RtdsPrices:
    """Prices from one frame, oldest first: one for an ``update``, up to ~60 for a backfill.
    ``rejected`` counts backfill points that were skipped as unusable."""

    source: PriceSource
    prices: tuple[ReferencePrice, ...]
    backfill: bool = False
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class RtdsServerError:
    """``{"statusCode": 401, "body": {"message": "Unauthorized: topic … not found"}}``."""

    status: int
    message: str


RtdsMessage = RtdsPrices | RtdsServerError
"""Everything :func:`decode_rtds_frame` returns."""


def rtds_symbol(asset: str) -> str:
    """``"btc"`` → ``"btc/usd"`` (the Chainlink symbol RTDS filters on)."""
    name = asset.strip().lower()
    if not name.isalnum() or not name.isascii():
        raise ValueError(f"not an asset name: {asset!r} (expected letters and digits, e.g. 'btc')")
    return name + SYMBOL_SUFFIX


def asset_of_rtds_symbol(symbol: str) -> str | None:
    """``"btc/usd"`` (any case) → ``"btc"``; ``None`` for anything else (``"btcusdt"``)."""
    lowered = symbol.lower()
    asset = lowered[: -len(SYMBOL_SUFFIX)]
    if not lowered.endswith(SYMBOL_SUFFIX) or not asset or not asset.isalnum():
        return None
    return asset


# --- field readers -----------------------------------------------------------------------------


def _timestamp(point: Mapping[str, Any]) -> int:
    raw = point.get("timestamp")
    if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
        raise RtdsMessageError(f"timestamp: expected positive integer milliseconds, got {raw!r:.40}")
    return raw


def _checked(value: Decimal, raw: object) -> Decimal:
    if not value.is_finite() or value <= 0 or value.adjusted() >= _MAX_ADJUSTED:
        raise RtdsMessageError(f"price {raw!r:.40} is not a finite positive price", kind="bad_value")
    return value


def _price(point: Mapping[str, Any], *, exact_field: bool) -> Decimal:
    """The exact E18 ``full_accuracy_value`` when present (TWAP frames), else ``value``."""
    if exact_field:
        exact = point.get("full_accuracy_value")
        if exact is not None:
            if not isinstance(exact, str) or not _E18_RE.match(exact):
                raise RtdsMessageError(f"full_accuracy_value: not an E18 integer string: {exact!r:.40}")
            return _checked(Decimal(f"{exact}E-18"), exact)  # string construction is exact
    raw = point.get("value")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise RtdsMessageError(f"value: expected a number, got {raw!r:.40}")
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise RtdsMessageError(f"value: not a finite number: {raw!r}", kind="bad_value")
        text = repr(raw)  # the shortest text that reads back as this double
    else:
        text = str(raw)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RtdsMessageError(f"value: not a number: {raw!r:.40}") from None
    return _checked(value, raw)


def _point(asset: str, source: PriceSource, point: Any) -> ReferencePrice:
    if not isinstance(point, dict):
        raise RtdsMessageError("price point is not an object")
    twap = source is PriceSource.CHAINLINK_TWAP_60
    if twap:
        window = point.get("window_s", TWAP_WINDOW_S)
        if window != TWAP_WINDOW_S or isinstance(window, bool):
            raise RtdsMessageError(f"window_s {window!r:.20} on the 60-second TWAP topic", kind="bad_value")
    return ReferencePrice(
        asset=asset, source=source, value=_price(point, exact_field=twap), timestamp_ms=_timestamp(point)
    )


def _topic_source(topic: object, symbol: str) -> tuple[str, PriceSource]:
    """The asset and source a (topic, symbol) pair stands for."""
    asset = asset_of_rtds_symbol(symbol)
    source = _SOURCES.get(topic) if isinstance(topic, str) else None
    if source is not None:
        if asset is None:
            raise RtdsMessageError(f"symbol {symbol!r:.40} is not <asset>/usd on {topic}")
        return asset, source
    if topic == TOPIC_BINANCE and asset is not None:
        return asset, PriceSource.CHAINLINK_SPOT  # the mislabelled Chainlink backfill
    raise RtdsMessageError(f"topic {topic!r:.60} is not decoded", kind="unknown_topic")


def _symbol(payload: Mapping[str, Any]) -> str:
    symbol = payload.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise RtdsMessageError(f"payload symbol: expected a string, got {symbol!r:.40}")
    return symbol


def _server_error(message: Mapping[str, Any]) -> RtdsServerError:
    status = message.get("statusCode")
    body = message.get("body")
    text = body.get("message") if isinstance(body, dict) else body
    return RtdsServerError(
        status=status if isinstance(status, int) and not isinstance(status, bool) else 0,
        message=str(text)[:300] if text is not None else "",
    )


def decode_rtds_frame(frame: str | bytes) -> RtdsMessage:
    """One RTDS frame → :class:`RtdsPrices` or :class:`RtdsServerError`;
    :class:`RtdsMessageError` for a frame that cannot be used."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise RtdsMessageError("not JSON") from None
    if not isinstance(message, dict):
        raise RtdsMessageError(f"expected a JSON object, got {type(message).__name__}")
    if "statusCode" in message:
        return _server_error(message)
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise RtdsMessageError("'payload' is missing or not an object")
    kind = message.get("type")
    topic = message.get("topic")
    asset, source = _topic_source(topic, _symbol(payload))
    if kind == "update":
        return RtdsPrices(source=source, prices=(_point(asset, source, payload),))
    if kind == "subscribe":
        points = payload.get("data")
        if not isinstance(points, list):
            raise RtdsMessageError("backfill 'data' is not a list")
        prices: list[ReferencePrice] = []
        rejected = 0
        for point in points:
            try:
                prices.append(_point(asset, source, point))
            except RtdsMessageError:
                rejected += 1
        prices.sort(key=lambda price: price.timestamp_ms)
        return RtdsPrices(source=source, prices=tuple(prices), backfill=True, rejected=rejected)
    raise RtdsMessageError(f"frame type {kind!r:.40} is not decoded", kind="unknown_type")
