"""Typed decoding of the CLOB's REST answers: decoded JSON in, immutable records out.

Every decoder takes what :class:`~polyexec.venues.http_transport.ClobTransport` returned (the
answer's decoded JSON) and either returns a typed record or raises
:class:`~polyexec.venues.errors.BadResponse` naming the operation and the field that is wrong
(``get_book: book.bids[2].price is not a decimal: 'abc'``). Nothing here does I/O.

Rules shared by all of them:

* Money is exact. Prices and sizes become :class:`~decimal.Decimal` from the venue's decimal
  strings (or JSON numbers, which the venue uses for a few fields such as
  ``minimum_tick_size``). ``NaN``, ``Infinity``, booleans and negative sizes are refused;
  prices must lie in ``[0, 1]``. Balances and allowances arrive as integers of 6-decimal units
  and are converted to dollars/shares.
* Timestamps become integer milliseconds (the venue sends seconds in some places).
* Order statuses are normalised to the bare form (``ORDER_STATUS_LIVE`` → ``LIVE``), as the
  user channel spells them.
* Unknown extra fields are ignored; a missing required field is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from polyexec.core.events import BookSnapshot
from polyexec.core.models import ONE, ZERO, BookLevel, FeeSchedule, Side
from polyexec.core.pricing import from_units, parse_tick_size
from polyexec.venues.auth import ApiCredentials
from polyexec.venues.errors import BadResponse

__all__ = [
    "DUPLICATE_OF_PREVIOUS_ATTEMPT",
    "END_CURSOR",
    "FIRST_CURSOR",
    "BalanceAllowance",
    "CancelResult",
    "ClobMarketInfo",
    "Page",
    "PostOrderResult",
    "VenueOrder",
    "decode_api_credentials",
    "decode_balance_allowance",
    "decode_book",
    "decode_books",
    "decode_cancel_result",
    "decode_clob_market_info",
    "decode_heartbeat_id",
    "decode_midpoint",
    "decode_neg_risk",
    "decode_page",
    "decode_post_order_result",
    "decode_post_order_results",
    "decode_price",
    "decode_server_time",
    "decode_spread",
    "decode_tick_size",
    "decode_venue_order",
    "decode_version",
]

FIRST_CURSOR: Final = "MA=="
"""``next_cursor`` of the first page (base64 of ``0``)."""
END_CURSOR: Final = "LTE="
"""``next_cursor`` the venue returns with the last page (base64 of ``-1``)."""
DUPLICATE_OF_PREVIOUS_ATTEMPT: Final = "duplicate_of_previous_attempt"
""":attr:`PostOrderResult.status` when an earlier send of the same signed order was accepted and
its answer lost (the venue said ``Duplicated``, or refused the resend but knows the order).
See :class:`PostOrderResult`."""

# Above this, a created_at is already in milliseconds (10^12 ms is 2001; 10^12 s is year 33658).
_MS_THRESHOLD: Final = 10**12


# -- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """One of our orders as ``GET /data/order/{id}`` and ``/data/orders`` describe it.

    ``status`` is the bare venue status (``LIVE``, ``MATCHED``, ``CANCELED``,
    ``CANCELED_MARKET_RESOLVED``, ``INVALID``, …; the set is open-ended). Sizes are shares,
    ``price`` the limit price. ``expiration_s`` is 0 for no expiry.
    """

    order_id: str
    status: str
    condition_id: str
    token_id: str
    side: Side
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    order_type: str
    expiration_s: int
    created_at_ms: int
    outcome: str
    associate_trades: tuple[str, ...] = ()
    maker_address: str = ""


@dataclass(frozen=True, slots=True)
class PostOrderResult:
    """The venue's answer to one order of ``POST /order`` or ``POST /orders``.

    ``success`` is false when the venue refused the order (``error`` says why; a single
    ``POST /order`` raises :class:`~polyexec.venues.errors.DefinitiveReject` instead).
    ``status`` is ``live``, ``matched``, ``delayed`` or ``unmatched`` on success.
    ``making_amount`` / ``taking_amount`` are what matched at entry, in dollars and shares (a BUY
    makes dollars and takes shares), ``None`` when the venue left them empty.

    **Placed by an earlier attempt.** When the venue answers ``Duplicated`` (we resent a signed
    order after a timeout or 5xx whose first send had in fact been accepted), or refuses a resend
    whose first send went unanswered, the client reads the order back
    (``GET /data/order/{id}``); if the venue knows it, the result is a success with ``status``
    :data:`DUPLICATE_OF_PREVIOUS_ATTEMPT` and ``venue_order`` the venue's current view of it
    (``None`` if a ``Duplicated`` order could not be read back). Read it with
    :attr:`placed_by_earlier_attempt` and reconcile from ``venue_order``: the first answer (its
    ``status`` and amounts) was lost.
    """

    order_id: str
    status: str
    success: bool
    error: str
    making_amount: Decimal | None
    taking_amount: Decimal | None
    trade_ids: tuple[str, ...]
    transaction_hashes: tuple[str, ...]
    venue_order: VenueOrder | None = None

    @property
    def placed_by_earlier_attempt(self) -> bool:
        """The order was accepted by an earlier send whose answer was lost (see above)."""
        return self.success and self.status == DUPLICATE_OF_PREVIOUS_ATTEMPT


@dataclass(frozen=True, slots=True)
class CancelResult:
    """``canceled``: ids the venue cancelled; ``not_canceled``: id → reason (``Order already
    matched``, ``Order not found or already canceled``, …)."""

    canceled: tuple[str, ...]
    not_canceled: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BalanceAllowance:
    """Balance and per-spender allowances, in dollars (collateral) or shares (a token)."""

    balance: Decimal
    allowances: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class ClobMarketInfo:
    """``GET /clob-markets/{condition_id}``: a market's trading parameters.

    ``tokens`` pairs each token id with its outcome name in the venue's order; ``taker_delay``
    is the taker-order delay flag (``itode``); ``fee`` the taker fee curve (``fd``; a market
    without one charges no fee).
    """

    condition_id: str
    tokens: tuple[tuple[str, str], ...]
    tick_size: Decimal
    min_size: Decimal
    neg_risk: bool
    fee: FeeSchedule
    taker_delay: bool


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a cursor-paginated list: its items and the cursor of the next page
    (:data:`END_CURSOR` after the last)."""

    data: tuple[Any, ...]
    next_cursor: str


# -- field reading ---------------------------------------------------------------------------


class _Fields:
    """Reads one JSON object's fields, naming ``where`` (``book.asks[0]``) in every error."""

    __slots__ = ("_data", "operation", "where")

    def __init__(self, data: object, operation: str, where: str) -> None:
        if not isinstance(data, dict):
            raise BadResponse(f"{where} is not a JSON object (got {_kind(data)})", operation=operation)
        self._data: dict[str, Any] = data
        self.operation = operation
        self.where = where

    def fail(self, key: str, problem: str) -> BadResponse:
        return BadResponse(f"{self.where}.{key} {problem}", operation=self.operation)

    def get(self, key: str) -> Any:
        return self._data.get(key)

    def has(self, key: str) -> bool:
        return self._data.get(key) is not None

    def text(self, key: str, default: str | None = None) -> str:
        value = self._data.get(key)
        if value is None and default is not None:
            return default
        if not isinstance(value, str):
            raise self.fail(key, f"is not a string (got {_kind(value)})")
        return value

    def flag(self, key: str, default: bool | None = None) -> bool:
        value = self._data.get(key)
        if value is None and default is not None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"is not true/false (got {_kind(value)})")
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self._data.get(key)
        if (value is None or value == "") and default is not None:
            return default
        try:
            return _integer(value)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def decimal(self, key: str, *, low: Decimal | None = ZERO, high: Decimal | None = None) -> Decimal:
        value = self._data.get(key)
        try:
            number = _decimal(value)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"[{low if low is not None else '-∞'}, {high if high is not None else '∞'}]"
            raise self.fail(key, f"is outside {bounds}: {number}")
        return number

    def optional_decimal(self, key: str, *, low: Decimal | None = ZERO) -> Decimal | None:
        """``None`` for a missing, null or empty value."""
        if self._data.get(key) in (None, ""):
            return None
        return self.decimal(key, low=low)

    def strings(self, key: str) -> tuple[str, ...]:
        """A list of strings; null or missing is empty."""
        value = self._data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(key, f"is not a list of strings (got {_kind(value)})")
        return tuple(value)

    def side(self, key: str) -> Side:
        value = self._data.get(key)
        text = value.strip().upper() if isinstance(value, str) else None
        if text in _SIDE_NAMES:
            return Side(text)
        raise self.fail(key, f"is not BUY or SELL: {value!r}")


_SIDE_NAMES: Final = frozenset(side.value for side in Side)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    return type(value).__name__


def _decimal(value: object) -> Decimal:
    """A finite Decimal from a decimal string or a JSON number; ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"is not a decimal (got {_kind(value)})")
    try:
        # str() of a float is its shortest round-trip repr: 0.01 stays "0.01", not 0.0100000000000000002
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(f"is not a decimal: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"is not a finite decimal: {value!r}")
    return number


def _integer(value: object) -> int:
    """An integer from a JSON integer or a string of digits; ``ValueError`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.lstrip("-").isdigit() and stripped.isascii():
            return int(stripped)
    raise ValueError(f"is not an integer (got {_kind(value)})")


def _units(fields: _Fields, key: str, value: object) -> Decimal:
    """6-decimal venue units (an integer, or a string of one) → dollars/shares."""
    try:
        units = _integer(value)
    except ValueError as exc:
        raise fields.fail(key, f"{exc} (6-decimal units expected)") from None
    if units < 0:
        raise fields.fail(key, f"is negative: {units}")
    return from_units(units)


def _seconds_to_ms(value: int) -> int:
    return value if value >= _MS_THRESHOLD else value * 1000


# -- public market data ---------------------------------------------------------------------


def decode_server_time(data: object, operation: str = "get_server_time") -> int:
    """``GET /time``: integer Unix seconds."""
    try:
        seconds = _integer(data)
    except ValueError as exc:
        raise BadResponse(f"server time {exc}", operation=operation) from None
    if seconds <= 0:
        raise BadResponse(f"server time is not positive: {seconds}", operation=operation)
    return seconds


def decode_version(data: object, operation: str = "get_version") -> int:
    """``GET /version``: ``{"version": 2}``."""
    return _Fields(data, operation, "version").integer("version")


def _levels(fields: _Fields, key: str) -> tuple[BookLevel, ...]:
    raw = fields.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fields.fail(key, f"is not a list (got {_kind(raw)})")
    levels = []
    for index, item in enumerate(raw):
        level = _Fields(item, fields.operation, f"{fields.where}.{key}[{index}]")
        levels.append(BookLevel(level.decimal("price", high=ONE), level.decimal("size")))
    return tuple(levels)


def decode_book(data: object, operation: str = "get_book") -> BookSnapshot:
    """``GET /book``: a :class:`~polyexec.core.events.BookSnapshot` in the venue's level order
    (bids ascending, asks descending), with its ``tick_size``."""
    book = _Fields(data, operation, "book")
    tick_size = None
    if book.has("tick_size"):
        try:
            tick_size = parse_tick_size(_decimal(book.get("tick_size")))
        except ValueError as exc:
            raise book.fail("tick_size", str(exc)) from None
    return BookSnapshot(
        asset_id=book.text("asset_id"),
        condition_id=book.text("market"),
        timestamp_ms=_seconds_to_ms(book.integer("timestamp")),
        bids=_levels(book, "bids"),
        asks=_levels(book, "asks"),
        hash=book.text("hash", default=""),
        tick_size=tick_size,
    )


def decode_books(data: object, operation: str = "get_books") -> list[BookSnapshot]:
    """``POST /books``: a list of books (tokens without a book are left out by the venue)."""
    if not isinstance(data, list):
        raise BadResponse(f"books is not a list (got {_kind(data)})", operation=operation)
    return [decode_book(item, operation) for item in data]


def _optional_price(data: object, operation: str, keys: Sequence[str], what: str) -> Decimal | None:
    fields = _Fields(data, operation, what)
    for key in keys:
        if fields.get(key) is not None:
            return fields.optional_decimal(key)
    raise BadResponse(f"{what} has none of {', '.join(keys)}", operation=operation)


def decode_midpoint(data: object, operation: str = "get_midpoint") -> Decimal | None:
    """``GET /midpoint``: ``{"mid": "0.455"}`` (the SDK's field) or ``{"mid_price": ...}``
    (the docs'); ``None`` for an empty value."""
    return _optional_price(data, operation, ("mid", "mid_price"), "midpoint")


def decode_spread(data: object, operation: str = "get_spread") -> Decimal | None:
    """``GET /spread``: ``{"spread": "0.02"}``; ``None`` for an empty value."""
    return _optional_price(data, operation, ("spread",), "spread")


def decode_price(data: object, operation: str = "get_price") -> Decimal | None:
    """``GET /price``: ``{"price": "0.45"}``; ``None`` for an empty value."""
    return _optional_price(data, operation, ("price",), "price")


def decode_tick_size(data: object, operation: str = "get_tick_size") -> Decimal:
    """``GET /tick-size``: ``{"minimum_tick_size": 0.01}`` (a JSON number; a string is accepted)
    as one of the venue's tick sizes (:data:`polyexec.core.pricing.TICK_SIZES`)."""
    fields = _Fields(data, operation, "tick_size")
    try:
        return parse_tick_size(fields.decimal("minimum_tick_size"))
    except ValueError as exc:
        raise fields.fail("minimum_tick_size", str(exc)) from None


def decode_neg_risk(data: object, operation: str = "get_neg_risk") -> bool:
    """``GET /neg-risk``: ``{"neg_risk": false}``."""
    return _Fields(data, operation, "neg_risk").flag("neg_risk")


def _fee_schedule(fields: _Fields) -> FeeSchedule:
    if not fields.has("fd"):
        return FeeSchedule(rate=ZERO)
    curve = _Fields(fields.get("fd"), fields.operation, f"{fields.where}.fd")
    return FeeSchedule(
        rate=curve.decimal("r", high=ONE),
        exponent=curve.integer("e", default=1),
        taker_only=curve.flag("to", default=True),
    )


def decode_clob_market_info(
    data: object, condition_id: str, operation: str = "get_clob_market_info"
) -> ClobMarketInfo:
    """``GET /clob-markets/{condition_id}`` in its compact form: ``t`` tokens (``t`` id, ``o``
    outcome), ``mts`` tick, ``mos`` min size, ``nr`` neg risk, ``fd`` fee curve, ``itode`` taker
    delay (omitted when false)."""
    info = _Fields(data, operation, "market_info")
    raw_tokens = info.get("t")
    if not isinstance(raw_tokens, list) or not raw_tokens:
        raise info.fail("t", f"is not a non-empty list of tokens (got {_kind(raw_tokens)})")
    tokens = []
    for index, item in enumerate(raw_tokens):
        token = _Fields(item, operation, f"market_info.t[{index}]")
        tokens.append((token.text("t"), token.text("o")))
    try:
        tick_size = parse_tick_size(info.decimal("mts"))
    except ValueError as exc:
        raise info.fail("mts", str(exc)) from None
    return ClobMarketInfo(
        condition_id=condition_id,
        tokens=tuple(tokens),
        tick_size=tick_size,
        min_size=info.decimal("mos"),
        neg_risk=info.flag("nr", default=False),
        fee=_fee_schedule(info),
        taker_delay=info.flag("itode", default=False),
    )


# -- keys, orders, cancels, account --------------------------------------------------------


def decode_api_credentials(data: object, operation: str = "api_key") -> ApiCredentials:
    """``POST /auth/api-key`` / ``GET /auth/derive-api-key``: ``{"apiKey","secret","passphrase"}``.
    The error names a missing field, never a value."""
    fields = _Fields(data, operation, "api_key")
    values = []
    for key in ("apiKey", "secret", "passphrase"):
        value = fields.get(key)
        if not isinstance(value, str) or not value:
            raise fields.fail(key, "is missing or empty")
        values.append(value)
    return ApiCredentials(api_key=values[0], secret=values[1], passphrase=values[2])


def decode_post_order_result(
    data: object, operation: str = "post_order", where: str = "result"
) -> PostOrderResult:
    """One order's placement answer. ``success`` is false if the venue said so or sent a
    non-empty ``errorMsg`` (it may omit ``success``: then an ``orderID`` without ``errorMsg``
    means success). A success without an ``orderID`` is a :class:`BadResponse`."""
    fields = _Fields(data, operation, where)
    error = fields.text("errorMsg", default="")
    order_id = fields.text("orderID", default="")
    success = fields.flag("success", default=bool(order_id)) and not error
    if success and not order_id:
        raise fields.fail("orderID", "is missing from a successful answer")
    return PostOrderResult(
        order_id=order_id,
        status=fields.text("status", default="").strip().lower(),
        success=success,
        error=error,
        making_amount=fields.optional_decimal("makingAmount"),
        taking_amount=fields.optional_decimal("takingAmount"),
        trade_ids=fields.strings("tradeIDs"),
        transaction_hashes=fields.strings("transactionsHashes"),
    )


def decode_post_order_results(
    data: object, sent_ids: Sequence[str], operation: str = "post_orders"
) -> list[PostOrderResult]:
    """``POST /orders``: one result per sent order, returned in the order of ``sent_ids``.

    Results that all carry a sent id are matched by id (the venue processes a batch in
    parallel); otherwise they are taken in the order received. The count must match.
    """
    if not isinstance(data, list):
        raise BadResponse(f"results is not a list (got {_kind(data)})", operation=operation)
    if len(data) != len(sent_ids):
        raise BadResponse(f"{len(data)} results for {len(sent_ids)} orders", operation=operation)
    results = [decode_post_order_result(item, operation, f"results[{i}]") for i, item in enumerate(data)]
    by_id = {result.order_id: result for result in results}
    if len(by_id) == len(results) and set(by_id) == set(sent_ids):
        return [by_id[order_id] for order_id in sent_ids]
    return results


def decode_cancel_result(data: object, operation: str = "cancel") -> CancelResult:
    """``{"canceled": [ids], "not_canceled": {id: reason}}`` (either may be null)."""
    fields = _Fields(data, operation, "cancel")
    raw = fields.get("not_canceled")
    not_canceled: dict[str, str] = {}
    if raw is not None:
        if not isinstance(raw, dict):
            raise fields.fail("not_canceled", f"is not an object (got {_kind(raw)})")
        for order_id, reason in raw.items():
            not_canceled[order_id] = reason if isinstance(reason, str) else str(reason)
    return CancelResult(canceled=fields.strings("canceled"), not_canceled=not_canceled)


def decode_venue_order(data: object, operation: str = "get_order", where: str = "order") -> VenueOrder:
    """An ``OpenOrder``. ``created_at`` is Unix seconds (milliseconds are recognised too)."""
    fields = _Fields(data, operation, where)
    return VenueOrder(
        order_id=fields.text("id"),
        status=fields.text("status").strip().upper().removeprefix("ORDER_STATUS_"),
        condition_id=fields.text("market"),
        token_id=fields.text("asset_id"),
        side=fields.side("side"),
        price=fields.decimal("price", high=ONE),
        original_size=fields.decimal("original_size"),
        size_matched=fields.decimal("size_matched"),
        order_type=fields.text("order_type", default=""),
        expiration_s=fields.integer("expiration", default=0),
        created_at_ms=_seconds_to_ms(fields.integer("created_at", default=0)),
        outcome=fields.text("outcome", default=""),
        associate_trades=fields.strings("associate_trades"),
        maker_address=fields.text("maker_address", default=""),
    )


def decode_page(data: object, operation: str) -> Page:
    """A cursor page ``{"limit", "next_cursor", "count", "data": [...]}``. A missing or empty
    ``next_cursor`` ends the listing like :data:`END_CURSOR`."""
    fields = _Fields(data, operation, "page")
    items = fields.get("data")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise fields.fail("data", f"is not a list (got {_kind(items)})")
    cursor = fields.text("next_cursor", default=END_CURSOR) or END_CURSOR
    return Page(data=tuple(items), next_cursor=cursor)


def decode_balance_allowance(data: object, operation: str = "get_balance_allowance") -> BalanceAllowance:
    """``{"balance": "<units>", "allowances": {spender: "<units>"}}`` → dollars/shares."""
    fields = _Fields(data, operation, "balance_allowance")
    balance = _units(fields, "balance", fields.get("balance"))
    raw = fields.get("allowances")
    allowances: dict[str, Decimal] = {}
    if raw is not None:
        if not isinstance(raw, Mapping):
            raise fields.fail("allowances", f"is not an object (got {_kind(raw)})")
        for spender, amount in raw.items():
            allowances[spender] = _units(fields, f"allowances[{spender}]", amount)
    return BalanceAllowance(balance=balance, allowances=allowances)


def decode_heartbeat_id(data: object, operation: str = "post_heartbeat") -> str:
    """``POST /v1/heartbeats``: ``{"heartbeat_id": "<id>"}``."""
    return _Fields(data, operation, "heartbeat").text("heartbeat_id")
