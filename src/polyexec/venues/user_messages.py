"""Decoding of our orders and trades: user-channel frames and the REST ``/data/*`` items.

The user channel (docs §5.2) and the REST endpoints ``/data/order``, ``/data/orders`` and
``/data/trades`` (docs §2.3) describe the same two things, orders and trades, in slightly
different dialects. This module turns both into :class:`~polyexec.core.events.UserOrderEvent`
and :class:`~polyexec.core.events.UserTradeEvent`, so the user feed, the REST client and the
reconciliation all see one shape:

* :func:`decode_user_frame` — one websocket frame (a JSON object **or** an array of them) into
  events, with every unusable element counted in :attr:`DecodedFrame.errors`; it never raises.
* :func:`parse_trade` / :func:`parse_order` — one decoded JSON object into one event, or
  :class:`UserMessageError` (a ``ValueError``) naming the field that is wrong.

Dialect rules (one rule per field, the same for both sources unless said otherwise):

* **Statuses.** Trade statuses may be bare (``MATCHED``, WS) or prefixed (``TRADE_STATUS_MATCHED``,
  REST); ``MATCHED_NOT_BROADCASTED`` reads as MATCHED (:meth:`TradeStatus.parse`). An unknown trade
  status is an error (kind ``unknown_trade_status``): guessing what it means for our position is
  worse than skipping it. Order statuses are kept as strings with any ``ORDER_STATUS_`` prefix
  removed and upper-cased (:func:`~polyexec.core.order_state.normalise_venue_status`); unknown
  ones pass through (the set is open-ended).
* **Sides** are accepted in any case (``buy`` → BUY); ``trader_side`` likewise.
* **Timestamps** may be seconds or milliseconds, as strings or numbers: a value below
  10^11 is seconds (10^11 s is the year 5138, 10^11 ms is 1973), the market channel's rule
  (:func:`~polyexec.venues.market_messages.parse_timestamp_ms`), and everything is returned in
  integer milliseconds; finer units are not sent here, so 10^14 and above is refused. A
  trade's ``timestamp_ms`` is its ``last_update`` (when the trade took its current status:
  present in both dialects, so the WS and REST forms of one trade decode **equal**), falling
  back to the event ``timestamp`` and then ``match_time``. An order's is the event
  ``timestamp`` (WS) or ``created_at`` (REST, which has no event time).
* **Numbers.** Prices and sizes are decimal strings; JSON numbers are accepted too (integers
  exactly, floats through their shortest text form). NaN, infinities, negative sizes and prices
  outside (0, 1) are errors. Booleans are never numbers.
* **Size units** (the caveat of docs §2.3: the OpenAPI examples show REST sizes as 6-decimal
  integers, everything observed sends decimal shares). A value cannot tell its unit by itself —
  ``"10000000"`` is a valid share count — so the rule is explicit: sizes are **shares** unless
  the caller passes ``micro_sizes=True``; then a plain integer (``"10000000"`` or ``10000000``) is
  read as 6-decimal units (10 shares) while a value with a decimal point or an exponent is still
  shares, which is the only case that is unambiguous. Prices are always decimal.
* **REST orders** have no event ``type``: :func:`parse_order` with ``rest=True`` derives the kind
  from the status (:func:`rest_order_kind`: a cancelling status → CANCELLATION, LIVE with
  nothing matched → PLACEMENT, anything else → UPDATE).
* ``associate_trades`` (often ``null``), ``owner``, ``outcome``, ``bucket_index`` and other fields
  the events do not carry are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

from polyexec.core.events import MakerOrderFill, UserOrderEvent, UserOrderEventKind, UserTradeEvent
from polyexec.core.models import USDC_UNIT, ZERO, Liquidity, Side, TimestampMs, TradeStatus
from polyexec.core.order_state import StatusImplication, implication_of, normalise_venue_status
from polyexec.venues.market_messages import parse_timestamp_ms

__all__ = [
    "DecodedFrame",
    "UserEvent",
    "UserMessageError",
    "decode_user_frame",
    "parse_order",
    "parse_trade",
    "parse_user_event",
    "rest_order_kind",
    "timestamp_ms",
]

UserEvent = UserOrderEvent | UserTradeEvent
"""What the user channel (and the REST order/trade endpoints) decode into."""

_ONE: Final = Decimal(1)
_MAX_DIGITS: Final = 18
"""Numbers are refused beyond 10^18 or finer than 10^-18: no price, size or timestamp of the
venue comes near, and the bound keeps a hostile ``1e999999999`` from costing time or memory."""
_MAX_TIMESTAMP_MS: Final = 10**14
"""10^11 seconds (the year 5138) in milliseconds: a larger timestamp is garbage here."""
_MAX_FEE_BPS: Final = 10_000


class UserMessageError(ValueError):
    """An order or trade payload that cannot be used. ``field`` names the offending field
    (``""`` for the message as a whole); ``kind`` is a short label for the feed's error counters
    (``malformed``, ``unknown_event``, ``unknown_trade_status``, ``bad_order``, ``bad_trade``)."""

    def __init__(self, field: str, problem: str, *, kind: str = "malformed") -> None:
        self.field = field
        self.problem = problem
        self.kind = kind
        super().__init__(f"{field}: {problem}" if field else problem)


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """The result of :func:`decode_user_frame`: the usable events in frame order, and an error
    for every element that was skipped."""

    events: tuple[UserEvent, ...]
    errors: tuple[UserMessageError, ...] = ()


# --- field readers ---------------------------------------------------------------------------


def _field(obj: Mapping[str, Any], name: str) -> Any:
    try:
        return obj[name]
    except KeyError:
        raise UserMessageError(name, "missing") from None


def _text(obj: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    """An identifier or label: a string (an integer is accepted and written out), never empty
    when ``required``. A float is refused: an id that went through a double is already wrong."""
    raw = obj.get(name)
    if raw is None:
        if required:
            raise UserMessageError(name, "missing")
        return ""
    if isinstance(raw, str):
        value = raw.strip()
    elif isinstance(raw, int) and not isinstance(raw, bool):
        try:
            value = str(raw)
        except ValueError:  # beyond Python's integer-to-text digit limit
            raise UserMessageError(name, "integer too long") from None
    else:
        raise UserMessageError(name, f"expected a string, got {type(raw).__name__}")
    if required and not value:
        raise UserMessageError(name, "empty")
    return value


def _number(raw: object, name: str) -> Decimal:
    """A finite Decimal from a decimal string or a JSON number."""
    if isinstance(raw, str):
        text = raw.strip()
    elif isinstance(raw, bool):
        raise UserMessageError(name, "expected a number, got a boolean")
    elif isinstance(raw, int):
        value = Decimal(raw)
        _check_range(value, raw, name)
        return value
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise UserMessageError(name, f"not a finite number: {_preview(raw)}")
        text = repr(raw)  # shortest text that reads back as this double: "0.57", not 0.5699…
    else:
        raise UserMessageError(name, f"expected a decimal string, got {type(raw).__name__}")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserMessageError(name, f"not a number: {_preview(raw)}") from None
    if not value.is_finite():
        raise UserMessageError(name, f"not a finite number: {_preview(raw)}")
    _check_range(value, raw, name)
    return value


def _check_range(value: Decimal, raw: object, name: str) -> None:
    if value and not -_MAX_DIGITS <= value.adjusted() < _MAX_DIGITS:
        raise UserMessageError(name, f"number out of range: {_preview(raw)}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_MAX_DIGITS:
        raise UserMessageError(name, f"more than {_MAX_DIGITS} decimals: {_preview(raw)}")


def _preview(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def _price(obj: Mapping[str, Any], name: str = "price") -> Decimal:
    value = _number(_field(obj, name), name)
    if not ZERO < value < _ONE:
        raise UserMessageError(name, f"price {value} outside (0, 1)")
    return value


def _is_plain_integer(raw: object) -> bool:
    if isinstance(raw, bool):
        return False
    if isinstance(raw, int):
        return True
    return isinstance(raw, str) and raw.strip().isdigit()


def _size(obj: Mapping[str, Any], name: str, micro_sizes: bool) -> Decimal:
    raw = _field(obj, name)
    value = _number(raw, name)
    if value < ZERO:
        raise UserMessageError(name, f"negative size {value}")
    if micro_sizes and _is_plain_integer(raw):
        return value / USDC_UNIT
    return value


def timestamp_ms(raw: object, name: str = "timestamp") -> TimestampMs:
    """A venue timestamp (seconds or milliseconds, string or number) in integer milliseconds;
    :class:`UserMessageError` naming ``name`` if it is not a non-negative finite number.
    Fractions of a millisecond are dropped."""
    value = _number(raw, name)
    if value < ZERO:
        raise UserMessageError(name, f"negative timestamp {value}")
    if value >= _MAX_TIMESTAMP_MS:
        raise UserMessageError(name, f"implausible timestamp {value}")
    # The seconds-or-milliseconds rule is the market channel's; it reads 0 as "not a time".
    return parse_timestamp_ms(str(value)) or 0


def _optional_timestamp(obj: Mapping[str, Any], name: str) -> TimestampMs:
    """0 when the field is absent, null or empty (the venue leaves some unset)."""
    raw = obj.get(name)
    if raw is None or raw == "":
        return 0
    return timestamp_ms(raw, name)


def _side(obj: Mapping[str, Any], name: str = "side") -> Side:
    raw = _text(obj, name)
    try:
        return Side(raw.upper())
    except ValueError:
        raise UserMessageError(name, f"unknown side {_preview(raw)}") from None


def _fee_bps(obj: Mapping[str, Any], name: str = "fee_rate_bps") -> int:
    raw = obj.get(name)
    if raw is None or raw == "":
        return 0
    value = _number(raw, name)
    if value < ZERO or value > _MAX_FEE_BPS or value != value.to_integral_value():
        raise UserMessageError(name, f"not a non-negative whole number of bps: {_preview(raw)}")
    return int(value)


# --- orders ----------------------------------------------------------------------------------


def rest_order_kind(status: str, size_matched: Decimal) -> UserOrderEventKind:
    """The event kind a REST order snapshot stands for (REST orders carry no ``type``): a status
    that cancels the order (:func:`~polyexec.core.order_state.implication_of`) is a
    CANCELLATION, a LIVE order with nothing matched a PLACEMENT, anything else an UPDATE."""
    if implication_of(status, cancellation=False) is StatusImplication.CANCEL:
        return UserOrderEventKind.CANCELLATION
    if status == "LIVE" and size_matched == ZERO:
        return UserOrderEventKind.PLACEMENT
    return UserOrderEventKind.UPDATE


def parse_order(obj: Mapping[str, Any], *, rest: bool, micro_sizes: bool = False) -> UserOrderEvent:
    """One order: a user-channel ``order`` event (``rest=False``) or a REST ``OpenOrder``
    (``rest=True``). :class:`UserMessageError` (kind ``bad_order`` or ``malformed``) naming the
    field for anything unusable. See the module documentation for the dialect rules."""
    if not isinstance(obj, Mapping):
        raise UserMessageError("", f"an order must be a JSON object, got {type(obj).__name__}")
    status = normalise_venue_status(_text(obj, "status"))
    size_matched = _size(obj, "size_matched", micro_sizes)
    if rest:
        kind = rest_order_kind(status, size_matched)
        stamp = _optional_timestamp(obj, "created_at")
    else:
        raw_kind = _text(obj, "type")
        try:
            kind = UserOrderEventKind(raw_kind.upper())
        except ValueError:
            raise UserMessageError(
                "type", f"unknown order event type {_preview(raw_kind)}", kind="bad_order"
            ) from None
        stamp = _optional_timestamp(obj, "timestamp") or _optional_timestamp(obj, "created_at")
    return UserOrderEvent(
        order_id=_text(obj, "id"),
        kind=kind,
        condition_id=_text(obj, "market"),
        asset_id=_text(obj, "asset_id"),
        side=_side(obj),
        price=_price(obj),
        original_size=_size(obj, "original_size", micro_sizes),
        size_matched=size_matched,
        status=status,
        timestamp_ms=stamp,
        order_type=_text(obj, "order_type", required=False).upper(),
    )


# --- trades ----------------------------------------------------------------------------------


def _maker_orders(obj: Mapping[str, Any], micro_sizes: bool) -> tuple[MakerOrderFill, ...]:
    raw = obj.get("maker_orders")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise UserMessageError("maker_orders", f"expected a list, got {type(raw).__name__}")
    fills = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            raise UserMessageError(f"maker_orders[{index}]", "expected an object")
        try:
            fills.append(
                MakerOrderFill(
                    order_id=_text(entry, "order_id"),
                    asset_id=_text(entry, "asset_id"),
                    side=_side(entry),
                    price=_price(entry),
                    matched_amount=_size(entry, "matched_amount", micro_sizes),
                    fee_rate_bps=_fee_bps(entry),
                    owner=_text(entry, "owner", required=False),
                )
            )
        except UserMessageError as exc:
            raise UserMessageError(f"maker_orders[{index}].{exc.field}", exc.problem, kind=exc.kind) from None
    return tuple(fills)


def _trade_status(obj: Mapping[str, Any]) -> TradeStatus:
    raw = _text(obj, "status")
    try:
        return TradeStatus.parse(raw)
    except ValueError:
        raise UserMessageError(
            "status", f"unknown trade status {_preview(raw)}", kind="unknown_trade_status"
        ) from None


def _liquidity(obj: Mapping[str, Any]) -> Liquidity:
    raw = _text(obj, "trader_side")
    try:
        return Liquidity(raw.upper())
    except ValueError:
        raise UserMessageError(
            "trader_side", f"unknown trader side {_preview(raw)}", kind="bad_trade"
        ) from None


def parse_trade(obj: Mapping[str, Any], *, rest: bool, micro_sizes: bool = False) -> UserTradeEvent:
    """One trade: a user-channel ``trade`` event (``rest=False``) or a REST ``/data/trades``
    item (``rest=True``); both dialects decode to equal events for the same trade and status.
    :class:`UserMessageError` naming the field for anything unusable (kind
    ``unknown_trade_status`` for a status outside MATCHED/MINED/CONFIRMED/RETRYING/FAILED)."""
    if not isinstance(obj, Mapping):
        raise UserMessageError("", f"a trade must be a JSON object, got {type(obj).__name__}")
    if not rest:
        event_type = obj.get("event_type")
        if event_type is not None and event_type != "trade":
            raise UserMessageError(
                "event_type", f"expected 'trade', got {_preview(event_type)}", kind="bad_trade"
            )
    match_time = _optional_timestamp(obj, "match_time")
    stamp = _optional_timestamp(obj, "last_update") or _optional_timestamp(obj, "timestamp") or match_time
    return UserTradeEvent(
        trade_id=_text(obj, "id"),
        status=_trade_status(obj),
        condition_id=_text(obj, "market"),
        asset_id=_text(obj, "asset_id"),
        taker_order_id=_text(obj, "taker_order_id"),
        side=_side(obj),
        size=_size(obj, "size", micro_sizes),
        price=_price(obj),
        trader_side=_liquidity(obj),
        maker_orders=_maker_orders(obj, micro_sizes),
        timestamp_ms=stamp,
        fee_rate_bps=_fee_bps(obj),
        match_time_ms=match_time,
        transaction_hash=_text(obj, "transaction_hash", required=False),
    )


# --- frames ----------------------------------------------------------------------------------


def parse_user_event(obj: object, *, micro_sizes: bool = False) -> UserEvent:
    """One element of a user-channel frame, dispatched on ``event_type`` (``order`` /
    ``trade``); :class:`UserMessageError` (kind ``unknown_event``) for anything else."""
    if not isinstance(obj, Mapping):
        raise UserMessageError("", f"an event must be a JSON object, got {type(obj).__name__}")
    event_type = obj.get("event_type")
    if event_type == "order":
        return parse_order(obj, rest=False, micro_sizes=micro_sizes)
    if event_type == "trade":
        return parse_trade(obj, rest=False, micro_sizes=micro_sizes)
    raise UserMessageError("event_type", f"unknown event type {_preview(event_type)}", kind="unknown_event")


def decode_user_frame(data: str | bytes, *, micro_sizes: bool = False) -> DecodedFrame:
    """Every event of one user-channel frame, in order. A frame is a JSON object or an array of
    them; an element that cannot be used is skipped and reported in ``errors``, the others are
    kept. Never raises."""
    try:
        payload = orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError) as exc:
        return DecodedFrame((), (UserMessageError("", f"not JSON: {exc}"),))
    elements: Sequence[object] = payload if isinstance(payload, list) else (payload,)
    events: list[UserEvent] = []
    errors: list[UserMessageError] = []
    for element in elements:
        try:
            events.append(parse_user_event(element, micro_sizes=micro_sizes))
        except UserMessageError as exc:
            errors.append(exc)
        except (ValueError, ArithmeticError, TypeError) as exc:  # a parser gap: still never fatal
            errors.append(UserMessageError("", f"undecodable event: {exc!r}"))
    return DecodedFrame(tuple(events), tuple(errors))
