"""Decode Polymarket market-channel frames into :mod:`polyexec.core.events` (docs §5.1).

A frame is one JSON object or a JSON array of them (the initial dump is an array of ``book``
events). :class:`MarketMessageDecoder` turns each event into a core event:

============================ ==========================================================
``event_type``               core event
============================ ==========================================================
``book``                     :class:`~polyexec.core.events.BookSnapshot` (wire order kept)
``price_change``             :class:`~polyexec.core.events.PriceChange`
``tick_size_change``         :class:`~polyexec.core.events.TickSizeChange`
``last_trade_price``         :class:`~polyexec.core.events.LastTradePrice`
``best_bid_ask``             :class:`~polyexec.core.events.BestBidAsk`
``new_market``,              skipped and counted in :attr:`MarketMessageDecoder.ignored`
``market_resolved``
anything else                skipped and counted as the error ``unknown_event``
============================ ==========================================================

**Bad input is counted and skipped, never raised.** Each refusal is one
:meth:`FeedStats.record_error` with a short kind (``malformed_json``, ``malformed_frame``,
``malformed_event``, ``unknown_event``, ``missing_field``, ``bad_field``, ``bad_price``,
``bad_size``, ``bad_side``, ``bad_timestamp``, ``bad_tick_size``). Only the bad part is
dropped: one bad event in an array leaves the others, one bad level update inside a
``price_change`` leaves the other updates (an optional ``best_bid``/``best_ask`` that cannot
be read becomes ``None``). A ``book`` with any unreadable level is dropped whole: half a
snapshot is worse than none. Whenever data about a token's book had to be dropped, the
``on_invalid(asset_id, detail)`` callback fires so the owner of the book can stop trusting it.

Values are checked, not only typed: prices must be finite and within [0, 1] (levels at
exactly 0 or 1 are left to the order book to refuse), sizes finite, non-negative and at most
:data:`MAX_SIZE`, tick sizes within (0, 1), sides ``BUY``/``SELL`` (either case). ``NaN``,
``Infinity``, ``-0.5`` or ``"abc"`` never become a ``Decimal`` in an event. Prices written
without the leading zero (``".48"``) are fine. Prices and sizes are JSON strings as the venue
sends them (integers are accepted too; floats are refused: they are not exact). Timestamps are
milliseconds (strings or integers); seconds, microseconds and nanoseconds are recognised by
magnitude and normalised (:func:`parse_timestamp_ms`).

Speed (``scripts/bench_market_feed.py`` measures it):

* ``price_change`` is the hot message. Every frame is first decoded by ``msgspec`` as a
  ``price_change`` into typed structs of strings (about a third cheaper than a generic decode
  into dicts with ``orjson`` or ``msgspec``; any other event fails at its ``event_type``, which
  the venue writes first, for less than a test of the frame's text would cost each
  ``price_change``), then checked and turned into events inline in
  :meth:`MarketMessageDecoder.decode`; anything that does not fit that shape or fails a check
  falls back to the generic path (``msgspec``'s untyped decode, then checks field by field),
  which does the counting. Both paths give identical events.
* Every price-like string goes through a cache of the prices already parsed, so each distinct
  price string becomes **one** ``Decimal`` object for the life of the cache. Besides skipping
  the parse, this matters downstream: CPython computes a fresh ``Decimal``'s hash slowly
  (about 0.6 µs) and caches it in the object, and the order book keys its levels by price
  (and can compare the venue's best prices with its own by identity).
* :class:`~polyexec.core.events.PriceLevelChange` and
  :class:`~polyexec.core.events.PriceChange` are ``msgspec`` structs, built in about 0.1 µs.
  Book levels (a hundred per snapshot) are frozen dataclasses built slot by slot instead of
  through their ``__init__`` (half its cost); an import-time check that ``BookLevel`` still
  has the expected fields switches this off otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final, Literal, cast

import msgspec

from polyexec.core.events import (
    BestBidAsk,
    BookSnapshot,
    LastTradePrice,
    PriceChange,
    PriceLevelChange,
    TickSizeChange,
)
from polyexec.core.models import ONE, ZERO, BookLevel, Side
from polyexec.venues.feed_stats import FeedStats

__all__ = [
    "IGNORED_EVENT_TYPES",
    "MAX_SIZE",
    "MarketEvent",
    "MarketMessageDecoder",
    "parse_timestamp_ms",
]

MarketEvent = BookSnapshot | PriceChange | TickSizeChange | LastTradePrice | BestBidAsk
"""Every event the market channel decodes into."""

IGNORED_EVENT_TYPES: Final = frozenset({"new_market", "market_resolved"})
"""Known event types polyexec does not use (market discovery goes through Gamma)."""

MAX_SIZE: Final = Decimal(10) ** 12
"""Sizes above this many shares are refused as garbage (no real book holds that much)."""

InvalidCallback = Callable[[str, str], None]
"""``on_invalid(asset_id, detail)``: book data for ``asset_id`` was dropped."""

_SIDES: Final = {"BUY": Side.BUY, "SELL": Side.SELL, "buy": Side.BUY, "sell": Side.SELL}
_SIZE_START: Final = frozenset("0123456789.")
_SECONDS_BELOW: Final = 100_000_000_000  # ms timestamps passed this in 1973
_MILLIS_BELOW: Final = 100_000_000_000_000  # and will stay below it until the year 5138
_MICROS_BELOW: Final = 100_000_000_000_000_000
_NANOS_BELOW: Final = 100_000_000_000_000_000_000
_FAST_MS_FROM: Final = 1_000_000_000_000  # 2001-09-09
_FAST_MS_UNTIL: Final = 10_000_000_000_000  # 2286-11-20
_DEFAULT_PRICE_CACHE: Final = 4096
_BOOK_EVENTS: Final = frozenset({"book", "tick_size_change"})


class _Refused(Exception):
    """An event (or one level update) that cannot be used; ``kind`` goes to the stats."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(kind)
        self.kind = kind
        self.detail = detail or kind


# --- the fast path's wire shapes -------------------------------------------------------------


_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class _WireLevelChange(msgspec.Struct, gc=False):
    asset_id: _NonEmpty
    price: _NonEmpty
    size: _NonEmpty
    side: Side  # exactly "BUY" / "SELL"; other spellings take the generic path
    best_bid: str = ""
    best_ask: str = ""


class _WirePriceChange(msgspec.Struct, gc=False):
    # A plain field, not a msgspec tag: a tag may be absent, and a frame without an
    # event_type is no price_change (the generic path counts it as unknown_event).
    event_type: Literal["price_change"]
    market: _NonEmpty
    timestamp: str
    price_changes: Annotated[list[_WireLevelChange], msgspec.Meta(min_length=1)]


_PRICE_CHANGE_DECODER: Final = msgspec.json.Decoder(_WirePriceChange)
_decode_any = msgspec.json.decode

# --- building frozen book levels cheaply ----------------------------------------------------

Setter = Callable[[object, object], None]


def _slot_setter(cls: type, name: str) -> Setter:
    """The slot descriptor's ``__set__`` of a frozen dataclass field: setting through it skips
    the frozen ``__setattr__`` guard exactly as the generated ``__init__`` does."""
    descriptor = vars(cls).get(name)
    if descriptor is None:  # the class changed shape: the fast path stands down (see below)
        return _unused_setter
    return cast(Setter, descriptor.__set__)


def _unused_setter(_obj: object, _value: object) -> None:
    raise AssertionError("the fast path is off: BookLevel changed its fields")


_new = object.__new__
_set_level_price = _slot_setter(BookLevel, "price")
_set_level_size = _slot_setter(BookLevel, "size")
_FAST_LEVELS: Final = tuple(f.name for f in fields(BookLevel)) == ("price", "size")
"""``BookLevel`` is built slot by slot (a snapshot has a hundred); if it ever changes shape,
the plain constructor takes over."""


# --- fields ----------------------------------------------------------------------------------


def parse_timestamp_ms(raw: object) -> int | None:
    """A venue timestamp as integer milliseconds, or ``None`` if it is not one.

    Accepts an integer or a decimal string (``"1757908892351"``; ``"1757908892.351"``).
    The unit is recognised by magnitude: below 10^11 it is seconds, below 10^14
    milliseconds, below 10^17 microseconds, below 10^20 nanoseconds (all of them before the
    year 5138). Zero, negative, larger, non-finite and boolean values are refused.
    """
    value: int | Decimal
    if type(raw) is int:
        value = raw
    elif type(raw) is str:
        if raw.isascii() and raw.isdigit():
            value = int(raw)
        else:
            try:
                value = Decimal(raw)
            except InvalidOperation:
                return None
            if not value.is_finite():
                return None
    else:
        return None
    if value <= 0:
        return None
    if value < _SECONDS_BELOW:
        return int(value * 1000)
    if value < _MILLIS_BELOW:
        return int(value)
    if value < _MICROS_BELOW:
        return int(value // 1000)
    if value < _NANOS_BELOW:
        return int(value // 1_000_000)
    return None


def _size(raw: object) -> Decimal:
    """A level or trade size: finite, ≥ 0, at most :data:`MAX_SIZE`."""
    # A string starting with a digit or "." can only be a finite, non-negative Decimal (or
    # invalid): never "NaN", "Infinity", "-1" or " 1". One membership test instead of
    # three Decimal predicates on the hot path.
    if type(raw) is str and raw and raw[0] in _SIZE_START:
        if raw == "0":
            return ZERO
        try:
            size = Decimal(raw)
        except InvalidOperation:
            raise _Refused("bad_size", f"size {raw!r:.40}") from None
        if size <= MAX_SIZE:
            return size
    elif type(raw) is int and 0 <= raw <= MAX_SIZE:
        return Decimal(raw)
    raise _Refused("missing_field" if raw is None else "bad_size", f"size {raw!r:.40}")


def _side(raw: object) -> Side:
    side = _SIDES.get(raw) if type(raw) is str else None
    if side is None:
        raise _Refused("missing_field" if raw is None else "bad_side", f"side {raw!r:.40}")
    return side


def _text(obj: dict[str, Any], key: str) -> str:
    """A required, non-empty string field."""
    value = obj.get(key)
    if type(value) is str and value:
        return value
    raise _Refused("missing_field" if value is None else "bad_field", f"{key} {value!r}")


def _timestamp(raw: object) -> int:
    if raw is None:
        raise _Refused("missing_field", "timestamp missing")
    if type(raw) is str and len(raw) == 13 and raw.isdigit():
        return int(raw)  # the venue's form, milliseconds as a 13-digit string
    value = parse_timestamp_ms(raw)
    if value is None:
        raise _Refused("bad_timestamp", f"timestamp {raw!r}")
    return value


def _tick_size(raw: object) -> Decimal:
    try:
        tick = Decimal(raw) if type(raw) is str else None
    except InvalidOperation:
        tick = None
    if tick is None or not (tick.is_finite() and ZERO < tick < ONE):
        raise _Refused("bad_tick_size", f"tick size {raw!r}")
    return tick


class MarketMessageDecoder:
    """Turns market-channel frames into core events; see the module docs for the rules.

    ``stats`` receives one error per refusal. ``on_invalid(asset_id, detail)`` is called when
    a ``book``, a level update or a ``tick_size_change`` of a readable token had to be
    dropped. ``price_cache_size`` bounds the cache of parsed price strings (it is emptied when
    full, so memory stays bounded whatever the venue sends).
    """

    __slots__ = ("_handlers", "_on_invalid", "_price_cache_size", "_prices", "ignored", "stats")

    def __init__(
        self,
        stats: FeedStats,
        *,
        on_invalid: InvalidCallback | None = None,
        price_cache_size: int = _DEFAULT_PRICE_CACHE,
    ) -> None:
        if price_cache_size < 1:
            raise ValueError(f"price_cache_size must be at least 1, got {price_cache_size}")
        self.stats = stats
        self.ignored: Counter[str] = Counter()
        """Events of :data:`IGNORED_EVENT_TYPES` seen, by type (not errors)."""
        self._on_invalid = on_invalid
        self._price_cache_size = price_cache_size
        self._prices: dict[str, Decimal | None] = {"": None}
        """Parsed prices by their string; "" (an absent best price) is ``None``."""
        self._handlers: dict[str, Callable[[dict[str, Any]], MarketEvent | None]] = {
            "price_change": self._price_change,
            "book": self._book,
            "best_bid_ask": self._best_bid_ask,
            "last_trade_price": self._last_trade_price,
            "tick_size_change": self._tick_size_change,
        }

    def decode(self, frame: str | bytes) -> tuple[MarketEvent, ...]:
        """Every usable event of one frame, in frame order (possibly none)."""
        # The fast path first, inline (it is most of the feed's work): one typed decode into
        # structs of strings, then a few checks per level update. Anything that does not fit
        # or fails a check goes to the generic path, which judges, counts and reports it. No
        # test of the frame's text comes first: the venue writes event_type first, so the
        # typed decode of any other event fails at its first field, for less than such a test
        # would cost every price_change.
        try:
            wire = _PRICE_CHANGE_DECODER.decode(frame)
        except msgspec.DecodeError:
            return self._decode_generic(frame)
        # Only millisecond timestamps in the venue's range (int() takes every string that
        # _timestamp would read as the same number): other units take the generic path.
        try:
            timestamp_ms = int(wire.timestamp)
        except ValueError:
            return self._decode_generic(frame)
        if not _FAST_MS_FROM <= timestamp_ms < _FAST_MS_UNTIL:
            return self._decode_generic(frame)
        # Every price string seen before is one lookup; "" (no best price) maps to None, and
        # only there: the wire's price is never empty, so ``price_of`` (the same dict) gives a
        # Decimal.
        prices = self._prices
        price_of = cast("dict[str, Decimal]", prices)
        changes: list[PriceLevelChange] = []
        append = changes.append
        for raw in wire.price_changes:
            try:
                price = price_of[raw.price]
                best_bid = prices[raw.best_bid]
                best_ask = prices[raw.best_ask]
            except KeyError:  # a new price string: parse, check and cache it
                new_price = self._cached_price(raw.price)
                best_bid = self._cached_price(raw.best_bid)
                best_ask = self._cached_price(raw.best_ask)
                # Explicit ``is None`` tests: Decimal("0") is falsy.
                if (
                    new_price is None
                    or (best_bid is None and raw.best_bid)
                    or (best_ask is None and raw.best_ask)
                ):
                    return self._decode_generic(frame)
                price = new_price
            size_text = raw.size
            if size_text == "0":
                size = ZERO
            elif size_text[0] in _SIZE_START:  # see _size (the wire's size is not empty)
                try:
                    size = Decimal(size_text)
                except InvalidOperation:
                    return self._decode_generic(frame)
                if size > MAX_SIZE:
                    return self._decode_generic(frame)
            else:
                return self._decode_generic(frame)
            append(PriceLevelChange(raw.asset_id, price, size, raw.side, best_bid, best_ask))
        return (PriceChange(wire.market, timestamp_ms, tuple(changes)),)

    def _decode_generic(self, frame: str | bytes) -> tuple[MarketEvent, ...]:
        """Any frame, field by field: the path that judges, counts and reports bad input."""
        try:
            payload = _decode_any(frame)
        except msgspec.DecodeError:
            self.stats.record_error("malformed_json")
            return ()
        if type(payload) is dict:
            event = self._event(payload)
            return () if event is None else (event,)
        if type(payload) is list:
            events: list[MarketEvent] = []
            for item in payload:
                event = self._event(item)
                if event is not None:
                    events.append(event)
            return tuple(events)
        self.stats.record_error("malformed_frame")
        return ()

    # --- events ---------------------------------------------------------------------------

    def _event(self, obj: object) -> MarketEvent | None:
        if type(obj) is not dict:
            self.stats.record_error("malformed_event")
            return None
        kind = obj.get("event_type")
        handler = self._handlers.get(kind) if type(kind) is str else None
        if handler is None:
            if type(kind) is str and kind in IGNORED_EVENT_TYPES:
                self.ignored[kind] += 1
            else:
                self.stats.record_error("unknown_event")
            return None
        try:
            return handler(obj)
        except _Refused as exc:
            self.stats.record_error(exc.kind)
            detail = f"{kind}: {exc.detail}"
            if kind in _BOOK_EVENTS:
                self._invalid(obj.get("asset_id"), detail)
            elif kind == "price_change":
                changes = obj.get("price_changes")
                for change in changes if type(changes) is list else ():
                    if type(change) is dict:
                        self._invalid(change.get("asset_id"), detail)
            return None

    def _price_change(self, obj: dict[str, Any]) -> PriceChange | None:
        """A ``price_change`` from a dict; a bad level update is counted and left out."""
        condition_id = _text(obj, "market")
        timestamp_ms = _timestamp(obj.get("timestamp"))
        raw_changes = obj.get("price_changes")
        if type(raw_changes) is not list:
            raise _Refused("missing_field" if raw_changes is None else "bad_field", "price_changes")
        changes: list[PriceLevelChange] = []
        for raw in raw_changes:
            if type(raw) is not dict:
                self._bad_change(raw, "bad_field", f"level update {raw!r:.60}")
                continue
            try:
                asset_id = _text(raw, "asset_id")
                price = self._price(raw.get("price"))
                size = _size(raw.get("size"))
                side = _side(raw.get("side"))
            except _Refused as exc:
                self._bad_change(raw, exc.kind, exc.detail)
                continue
            best_bid = self._optional_price(raw.get("best_bid"))
            best_ask = self._optional_price(raw.get("best_ask"))
            changes.append(PriceLevelChange(asset_id, price, size, side, best_bid, best_ask))
        if not changes:
            return None
        return PriceChange(condition_id, timestamp_ms, tuple(changes))

    def _book(self, obj: dict[str, Any]) -> BookSnapshot:
        asset_id = _text(obj, "asset_id")
        condition_id = _text(obj, "market")
        timestamp_ms = _timestamp(obj.get("timestamp"))
        book_hash = obj.get("hash", "")
        # REST summaries (and the simulator) carry the tick size; the venue's websocket not.
        tick = obj.get("tick_size")
        return BookSnapshot(
            asset_id,
            condition_id,
            timestamp_ms,
            self._levels(obj.get("bids"), "bids"),
            self._levels(obj.get("asks"), "asks"),
            book_hash if type(book_hash) is str else "",
            None if tick is None or tick == "" else _tick_size(tick),
        )

    def _levels(self, raw: object, name: str) -> tuple[BookLevel, ...]:
        if type(raw) is not list:
            raise _Refused("missing_field" if raw is None else "bad_field", name)
        levels: list[BookLevel] = []
        append = levels.append
        price_of = self._price
        for level in raw:
            if type(level) is not dict:
                raise _Refused("bad_field", f"{name} entry {level!r:.60}")
            price, size = price_of(level.get("price")), _size(level.get("size"))
            if _FAST_LEVELS:  # BookLevel(price, size) without the frozen __init__: 100 per book
                book_level: BookLevel = _new(BookLevel)
                _set_level_price(book_level, price)
                _set_level_size(book_level, size)
                append(book_level)
            else:
                append(BookLevel(price, size))
        return tuple(levels)

    def _best_bid_ask(self, obj: dict[str, Any]) -> BestBidAsk:
        return BestBidAsk(
            _text(obj, "asset_id"),
            _text(obj, "market"),
            self._stated_price(obj.get("best_bid")),
            self._stated_price(obj.get("best_ask")),
            _timestamp(obj.get("timestamp")),
        )

    def _last_trade_price(self, obj: dict[str, Any]) -> LastTradePrice:
        return LastTradePrice(
            _text(obj, "asset_id"),
            _text(obj, "market"),
            self._price(obj.get("price")),
            _size(obj.get("size")),
            _side(obj.get("side")),
            _timestamp(obj.get("timestamp")),
        )

    def _tick_size_change(self, obj: dict[str, Any]) -> TickSizeChange:
        return TickSizeChange(
            _text(obj, "asset_id"),
            _text(obj, "market"),
            _tick_size(obj.get("old_tick_size")),
            _tick_size(obj.get("new_tick_size")),
            _timestamp(obj.get("timestamp")),
        )

    # --- prices ---------------------------------------------------------------------------

    def _price(self, raw: object) -> Decimal:
        """A price within [0, 1], parsed once per distinct string and then cached."""
        if type(raw) is str:
            price = self._cached_price(raw)
            if price is not None:
                return price
        elif type(raw) is int and 0 <= raw <= 1:
            return ONE if raw else ZERO
        raise _Refused("missing_field" if raw is None else "bad_price", f"price {raw!r:.40}")

    def _cached_price(self, raw: str) -> Decimal | None:
        """The price of ``raw`` from the cache, or parsed and cached; ``None`` if invalid."""
        price = self._prices.get(raw)
        return self._new_price(raw) if price is None else price

    def _new_price(self, raw: str) -> Decimal | None:
        """Parse a price string not cached yet; cache and return it if valid, else None."""
        try:
            price = Decimal(raw)
        except InvalidOperation:
            return None
        # is_finite first: comparing a NaN Decimal raises InvalidOperation. Surrounding
        # blanks (which Decimal would accept) are refused: the venue never sends them.
        if not (price.is_finite() and ZERO <= price <= ONE) or raw != raw.strip():
            return None
        prices = self._prices
        if len(prices) > self._price_cache_size:  # the "" entry does not count
            prices.clear()
            prices[""] = None
        prices[raw] = price
        return price

    def _stated_price(self, raw: object) -> Decimal | None:
        """An optional price field of a whole event: absent or "" is ``None``."""
        if raw is None or raw == "":
            return None
        return self._price(raw)

    def _optional_price(self, raw: object) -> Decimal | None:
        """``best_bid``/``best_ask`` of a level update: absent or "" is ``None``; unreadable
        is counted and ``None`` too (the update itself is still good)."""
        if raw is None or raw == "":
            return None
        try:
            return self._price(raw)
        except _Refused as exc:
            self.stats.record_error(exc.kind)
            return None

    def _bad_change(self, raw: object, kind: str, detail: str) -> None:
        self.stats.record_error(kind)
        asset_id = raw.get("asset_id") if type(raw) is dict else None
        self._invalid(asset_id, f"price_change: {detail}")

    def _invalid(self, asset_id: object, detail: str) -> None:
        if self._on_invalid is not None and type(asset_id) is str and asset_id:
            self._on_invalid(asset_id, detail)
