"""L2 order book of one Polymarket outcome token, maintained from the market channel.

An :class:`OrderBook` is seeded by a ``book`` snapshot (:class:`~polyexec.core.events.BookSnapshot`)
and kept current by ``price_change`` level updates, whose ``size`` is the new aggregate size at a
price (zero removes the level). A ``tick_size_change`` starts a new book epoch: the book is
cleared and level updates are dropped until the next snapshot reseeds it.

A book that may not match the venue's is *untrusted*, with a machine-readable
:class:`UntrustedReason`. Only a snapshot restores trust. Queries keep answering while
untrusted: whether to act on such a book is the caller's call (strategies should not quote).

Levels live in one ``dict`` per side and each side's best price is tracked incrementally: a
rescan happens only when the best level itself is removed; sorted views are computed on demand
(``scripts/bench_order_book.py`` measures it). A ``price_change`` may name both tokens of a
market: :func:`apply_price_change_to_books` applies it to every book it names in one pass (the
market feed's hot path). All Decimal, all pure: no clock, no I/O (the one piece of module state
is a bounded cache of prices already checked, which changes no result).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from operator import itemgetter
from typing import Any

from polyexec.core.events import BookSnapshot, PriceChange, PriceLevelChange, TickSizeChange
from polyexec.core.fill_estimate import FillEstimate
from polyexec.core.models import ONE, ZERO, BookLevel, Side, TimestampMs

__all__ = [
    "BookCounters",
    "FillEstimate",
    "OrderBook",
    "UntrustedReason",
    "apply_price_change_to_books",
]

_PRICE_KEY = itemgetter(0)
_BUY = Side.BUY


class UntrustedReason(StrEnum):
    """Why a book is not trusted. Every value but the explicit marks is set by the book itself."""

    NO_SNAPSHOT = "no_snapshot"
    """No snapshot has been applied since the book was created."""
    TICK_SIZE_CHANGE = "tick_size_change"
    """A tick-size change cleared the book; it waits for the next snapshot."""
    RECONNECT = "reconnect"
    """Explicit mark: the market socket reconnected, so updates may have been missed."""
    STALE = "stale"
    """Explicit mark: the feed went silent for too long (the venue's silent-freeze failure)."""
    MANUAL = "manual"
    """Explicit mark for any other cause (see :attr:`OrderBook.untrusted_detail`)."""
    CROSSED = "crossed"
    """Best bid ≥ best ask: the venue's matching engine never leaves that, so we missed something."""
    DIVERGED = "diverged"
    """Our best bid/ask disagrees with the ``best_bid``/``best_ask`` the venue sent."""
    INVALID_DATA = "invalid_data"
    """A level or tick size was malformed (price outside (0, 1), negative size, NaN, …) and skipped."""


@dataclass(slots=True)
class BookCounters:
    """Lifetime counters of one book, for metrics and the health monitor.

    :attr:`OrderBook.counters` hands out a copy: changing it does not touch the book.
    """

    snapshots_applied: int = 0
    updates_applied: int = 0
    """Level updates applied (one per :class:`~polyexec.core.events.PriceLevelChange`)."""
    updates_dropped: int = 0
    """Level updates dropped because the book was waiting for a snapshot."""
    invalid_levels: int = 0
    """Malformed levels, level updates and tick sizes that were skipped."""
    divergences: int = 0
    """Updates after which our top of book disagreed with the venue's."""
    crossings: int = 0
    """Snapshots or updates after which the book was crossed."""
    stale_snapshots: int = 0
    """Snapshots older than the current epoch (last snapshot or tick-size change), ignored."""
    foreign_events: int = 0
    """Events for another asset handed to this book directly, ignored."""


def _is_valid_level(price: Decimal, size: Decimal) -> bool:
    # is_finite first: comparing a NaN Decimal with ``<`` raises InvalidOperation.
    return price.is_finite() and size.is_finite() and ZERO < price < ONE and size >= ZERO


def _is_valid_tick(tick: Decimal) -> bool:
    return tick.is_finite() and ZERO < tick < ONE


class OrderBook:
    """The L2 book of one outcome token (``asset_id``), best price tracked incrementally.

    Feed it every market-channel event for its token, in socket order:
    :meth:`apply_snapshot`, :meth:`apply_price_change` (or :meth:`apply_levels` for a batch of
    level updates, :meth:`apply_change` for one) and :meth:`apply_tick_size_change`. Malformed
    input is counted and skipped, never raised.
    """

    __slots__ = (
        "_asks",
        "_awaiting_snapshot",
        "_best_ask",
        "_best_bid",
        "_bids",
        "_counters",
        "_epoch_ms",
        "_last_update_ms",
        "_tick_size",
        "_trusted",
        "_untrusted_detail",
        "_untrusted_reason",
        "asset_id",
    )

    def __init__(self, asset_id: str, tick_size: Decimal | None = None) -> None:
        self.asset_id = asset_id
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}
        self._best_bid: Decimal | None = None
        self._best_ask: Decimal | None = None
        self._tick_size = tick_size if tick_size is not None and _is_valid_tick(tick_size) else None
        self._trusted = False
        self._untrusted_reason: UntrustedReason | None = UntrustedReason.NO_SNAPSHOT
        self._untrusted_detail = ""
        self._awaiting_snapshot = True
        self._last_update_ms: TimestampMs | None = None
        self._epoch_ms: TimestampMs | None = None
        self._counters = BookCounters()

    # --- applying events ----------------------------------------------------------------------

    def apply_snapshot(self, snapshot: BookSnapshot) -> bool:
        """Replace the whole book with ``snapshot`` and restore trust; True if applied.

        The wire order of levels is not trusted: the best levels are computed from content.
        Zero-size levels are dropped. Malformed levels are skipped and leave the book untrusted
        (:attr:`UntrustedReason.INVALID_DATA`), as does a crossed snapshot. A snapshot older than
        the last snapshot or tick-size change belongs to a previous epoch and is ignored.
        """
        if snapshot.asset_id != self.asset_id:
            self._counters.foreign_events += 1
            return False
        if self._epoch_ms is not None and snapshot.timestamp_ms < self._epoch_ms:
            self._counters.stale_snapshots += 1
            return False
        bids, bad_bids = self._collect_levels(snapshot.bids)
        asks, bad_asks = self._collect_levels(snapshot.asks)
        self._bids = bids
        self._asks = asks
        self._best_bid = max(bids) if bids else None
        self._best_ask = min(asks) if asks else None
        invalid = bad_bids + bad_asks
        if snapshot.tick_size is not None:
            if _is_valid_tick(snapshot.tick_size):
                self._tick_size = snapshot.tick_size
            else:
                invalid += 1
        self._counters.invalid_levels += invalid
        self._counters.snapshots_applied += 1
        self._awaiting_snapshot = False
        self._epoch_ms = snapshot.timestamp_ms
        self._touch(snapshot.timestamp_ms)
        self._trusted = True
        self._untrusted_reason = None
        self._untrusted_detail = ""
        if invalid:
            self._distrust(UntrustedReason.INVALID_DATA, f"{invalid} malformed entries in snapshot")
        bid, ask = self._best_bid, self._best_ask
        if bid is not None and ask is not None and bid >= ask:
            self._counters.crossings += 1
            self._distrust(UntrustedReason.CROSSED, f"snapshot {bid} >= {ask}")
        return True

    def apply_change(self, change: PriceLevelChange, timestamp_ms: TimestampMs) -> bool:
        """Apply one level update and check the result against the venue's top of book.

        Returns True if applied. Dropped (and counted) while the book awaits a snapshot; a
        malformed update is skipped and clears trust.
        """
        if change.asset_id != self.asset_id:
            self._counters.foreign_events += 1
            return False
        return self.apply_levels((change,), timestamp_ms) > 0

    def apply_price_change(self, event: PriceChange) -> int:
        """Apply the changes of ``event`` that concern this token; return how many were applied.

        Changes for other tokens (one message can cover both outcomes of a market) are ignored
        without counting. See :meth:`apply_levels`.
        """
        applied_before = self._counters.updates_applied
        apply_price_change_to_books({self.asset_id: self}, event)
        return self._counters.updates_applied - applied_before

    def apply_levels(self, changes: Iterable[PriceLevelChange], timestamp_ms: TimestampMs) -> int:
        """Apply, in order, the level updates of ``changes`` that concern this token, as one
        batch sent at venue time ``timestamp_ms``; return how many were applied.

        Changes for other tokens are ignored without counting. While the book awaits a
        snapshot they are all dropped (and counted); a malformed one is skipped, counted and
        clears trust. The crossed-book and venue-divergence checks run once, after the whole
        batch: levels inside one message may pass through a transient crossed state, and the
        ``best_bid``/``best_ask`` of the last change describe the venue's book after it.
        (:func:`apply_price_change_to_books` does the same for every book an event touches.)
        """
        applied_before = self._counters.updates_applied
        apply_price_change_to_books({self.asset_id: self}, PriceChange("", timestamp_ms, tuple(changes)))
        return self._counters.updates_applied - applied_before

    def apply_tick_size_change(self, event: TickSizeChange) -> bool:
        """Start a new book epoch: clear the book, adopt the new tick, await a snapshot.

        Level updates that arrive before the next snapshot are dropped and counted. A malformed
        new tick size leaves :attr:`tick_size` unknown (``None``): the old one is certainly stale.
        """
        if event.asset_id != self.asset_id:
            self._counters.foreign_events += 1
            return False
        if _is_valid_tick(event.new_tick_size):
            self._tick_size = event.new_tick_size
        else:
            self._counters.invalid_levels += 1
            self._tick_size = None
        self._bids, self._asks = {}, {}
        self._best_bid = self._best_ask = None
        self._awaiting_snapshot = True
        if self._epoch_ms is None or event.timestamp_ms > self._epoch_ms:
            self._epoch_ms = event.timestamp_ms
        self._touch(event.timestamp_ms)
        self._set_untrusted(UntrustedReason.TICK_SIZE_CHANGE, f"new tick {event.new_tick_size}")
        return True

    def mark_untrusted(self, reason: UntrustedReason, detail: str = "") -> None:
        """Clear trust from outside (reconnect, staleness watchdog, operator).

        The levels are kept and updates keep applying, so the book stays a best effort; only
        the next snapshot restores trust. The reason replaces any earlier one.
        """
        self._set_untrusted(reason, detail)

    # --- queries ------------------------------------------------------------------------------

    @property
    def trusted(self) -> bool:
        """True when the book is believed to match the venue's (see the module docs)."""
        return self._trusted

    @property
    def untrusted_reason(self) -> UntrustedReason | None:
        """Why the book is untrusted (``None`` while trusted)."""
        return self._untrusted_reason

    @property
    def untrusted_detail(self) -> str:
        """Free-text detail for :attr:`untrusted_reason`, for logs and alerts."""
        return self._untrusted_detail

    @property
    def awaiting_snapshot(self) -> bool:
        """True before the first snapshot and after a tick-size change: updates are dropped."""
        return self._awaiting_snapshot

    @property
    def tick_size(self) -> Decimal | None:
        """The current tick size, if known (REST snapshots and tick-size changes carry it)."""
        return self._tick_size

    @property
    def last_update_ms(self) -> TimestampMs | None:
        """Venue timestamp of the newest event applied (never goes backwards)."""
        return self._last_update_ms

    @property
    def counters(self) -> BookCounters:
        """A copy of the lifetime counters."""
        return replace(self._counters)

    def best_bid(self) -> BookLevel | None:
        """The highest bid, or ``None`` if there are no bids."""
        price = self._best_bid
        return None if price is None else BookLevel(price, self._bids[price])

    def best_ask(self) -> BookLevel | None:
        """The lowest ask, or ``None`` if there are no asks."""
        price = self._best_ask
        return None if price is None else BookLevel(price, self._asks[price])

    def mid(self) -> Decimal | None:
        """``(best bid + best ask) / 2``, or ``None`` unless both sides have a level."""
        if self._best_bid is None or self._best_ask is None:
            return None
        return (self._best_bid + self._best_ask) / 2

    def spread(self) -> Decimal | None:
        """``best ask − best bid``, or ``None`` unless both sides have a level."""
        if self._best_bid is None or self._best_ask is None:
            return None
        return self._best_ask - self._best_bid

    def microprice(self) -> Decimal | None:
        """Size-weighted mid: ``(bid × ask_size + ask × bid_size) / (bid_size + ask_size)``.

        It leans towards the side with less size at the touch, the side more likely to move.
        """
        bid, ask = self._best_bid, self._best_ask
        if bid is None or ask is None:
            return None
        bid_size, ask_size = self._bids[bid], self._asks[ask]
        return (bid * ask_size + ask * bid_size) / (bid_size + ask_size)

    def bids(self, depth: int | None = None) -> list[BookLevel]:
        """Bid levels, best (highest) first; at most ``depth`` of them if given."""
        return [BookLevel(p, s) for p, s in self._sorted(Side.BUY, depth)]

    def asks(self, depth: int | None = None) -> list[BookLevel]:
        """Ask levels, best (lowest) first; at most ``depth`` of them if given."""
        return [BookLevel(p, s) for p, s in self._sorted(Side.SELL, depth)]

    def depth_usd(self, side: Side, max_levels: int | None = None, within: Decimal | None = None) -> Decimal:
        """Dollars resting (Σ price × size) on the bids (``BUY``) or asks (``SELL``).

        ``max_levels`` counts from the best level; ``within`` keeps only levels whose price is
        at most that far from the best price of the same side (inclusive).
        """
        if within is not None and not (within.is_finite() and within >= ZERO):
            raise ValueError(f"within must be a non-negative price distance, got {within}")
        best = self._best_bid if side is Side.BUY else self._best_ask
        total = ZERO
        for price, size in self._sorted(side, max_levels):
            if within is not None and best is not None and abs(price - best) > within:
                break
            total += price * size
        return total

    def estimate_fill(self, side: Side, size: Decimal) -> FillEstimate:
        """Walk the opposite side for a taker ``side`` order of ``size`` shares.

        A BUY consumes asks from the lowest; a SELL consumes bids from the highest. The result
        says whether the book was deep enough (:attr:`FillEstimate.complete`).
        """
        if not (size.is_finite() and size >= ZERO):
            raise ValueError(f"size must be a non-negative number of shares, got {size}")
        return self._walk(side, size, None)

    def estimate_fill_for_notional(self, side: Side, dollars: Decimal) -> FillEstimate:
        """Walk the opposite side until ``dollars`` have changed hands.

        This is how a market BUY is sized on Polymarket (a dollar amount); for a SELL it answers
        "how many shares must I sell to raise ``dollars``". The shares taken from the last
        level are ``remaining dollars / price`` at the context precision.
        """
        if not (dollars.is_finite() and dollars >= ZERO):
            raise ValueError(f"dollars must be a non-negative amount, got {dollars}")
        return self._walk(side, None, dollars)

    # --- internals ----------------------------------------------------------------------------

    def _check_top(self, venue_bid: Decimal | None, venue_ask: Decimal | None) -> None:
        """After an update: flag a crossed book, or a top of book unlike the venue's."""
        bid, ask = self._best_bid, self._best_ask
        if bid is not None and ask is not None and bid >= ask:
            self._counters.crossings += 1
            self._distrust(UntrustedReason.CROSSED, f"{bid} >= {ask}")
        # The venue writes an empty side as best_bid "0" / best_ask "1": a stated price outside
        # (0, 1) means "no level", our None. An absent or empty value (None) says nothing.
        # Agreement (the usual case) takes one comparison: our best is always inside (0, 1).
        elif (
            venue_bid is not None
            and venue_bid.is_finite()
            and venue_bid != bid
            and bid != (venue_bid if ZERO < venue_bid < ONE else None)
        ):
            self._diverged("bid", bid, venue_bid)
        elif (
            venue_ask is not None
            and venue_ask.is_finite()
            and venue_ask != ask
            and ask != (venue_ask if ZERO < venue_ask < ONE else None)
        ):
            self._diverged("ask", ask, venue_ask)

    def _diverged(self, which: str, ours: Decimal | None, venue: Decimal | None) -> None:
        self._counters.divergences += 1
        self._distrust(UntrustedReason.DIVERGED, f"best {which} {ours} but venue says {venue}")

    def _distrust(self, reason: UntrustedReason, detail: str) -> None:
        """Clear trust from a check on the data. An already untrusted book keeps its first
        reason: later symptoms of the same gap would only hide the cause."""
        if self._trusted:
            self._set_untrusted(reason, detail)

    def _set_untrusted(self, reason: UntrustedReason, detail: str) -> None:
        self._trusted = False
        self._untrusted_reason = reason
        self._untrusted_detail = detail

    def _touch(self, timestamp_ms: TimestampMs) -> None:
        if self._last_update_ms is None or timestamp_ms > self._last_update_ms:
            self._last_update_ms = timestamp_ms

    def _collect_levels(self, levels: Iterable[BookLevel]) -> tuple[dict[Decimal, Decimal], int]:
        """Snapshot levels as a dict, without zero sizes; also counts malformed or repeated ones
        (a repeated price keeps its last size, as a stream of updates would)."""
        book: dict[Decimal, Decimal] = {}
        seen: set[Decimal] = set()
        invalid = 0
        for level in levels:
            price, size = level.price, level.size
            if not _is_valid_level(price, size):
                invalid += 1
                continue
            if price in seen:
                invalid += 1
                book.pop(price, None)
            seen.add(price)
            if size:
                book[price] = size
        return book, invalid

    def _sorted(self, side: Side, depth: int | None) -> Iterator[tuple[Decimal, Decimal]]:
        """Levels of one side (BUY = bids) as ``(price, size)``, best first."""
        if depth is not None and depth < 0:
            raise ValueError(f"a level count must be >= 0, got {depth}")
        levels = self._bids if side is Side.BUY else self._asks
        if depth is not None and depth < len(levels):
            pick = heapq.nlargest if side is Side.BUY else heapq.nsmallest
            return iter(pick(depth, levels.items(), key=_PRICE_KEY))
        return iter(sorted(levels.items(), key=_PRICE_KEY, reverse=side is Side.BUY))

    def _walk(self, side: Side, shares: Decimal | None, dollars: Decimal | None) -> FillEstimate:
        """Consume the side opposite a taker ``side`` until ``shares`` (or ``dollars``) are done."""
        remaining = shares if dollars is None else dollars
        assert remaining is not None  # the public callers pass exactly one of the two
        filled = notional = ZERO
        worst: Decimal | None = None
        used = 0
        for price, available in self._sorted(side.opposite, None):
            if remaining <= ZERO:
                break
            if dollars is None:
                take = available if available < remaining else remaining
                spent = price * take
                remaining -= take
            else:
                spent = price * available
                take = available
                if spent > remaining:
                    take, spent = remaining / price, remaining
                remaining -= spent
            filled += take
            notional += spent
            worst = price
            used += 1
        return FillEstimate(
            side=side,
            requested_size=shares,
            requested_notional=dollars,
            filled_size=filled,
            notional=notional,
            vwap=notional / filled if filled else None,
            worst_price=worst,
            touch_price=self._best_ask if side is Side.BUY else self._best_bid,
            levels_used=used,
            complete=remaining <= ZERO,
        )


_known_valid_prices: set[Decimal] = set()
"""Prices already found finite and inside (0, 1): a set lookup instead of three Decimal
operations. The market feed hands out one Decimal object per price string, whose hash CPython
caches in the object, so the lookup is cheap. Bounded: emptied when full."""
_KNOWN_VALID_PRICES_MAX = 4096


def _is_valid_price(price: Decimal) -> bool:
    """A level price must be finite and strictly inside (0, 1)."""
    try:
        if price in _known_valid_prices:
            return True
    except TypeError:  # a signalling NaN cannot be hashed
        return False
    # is_finite first: comparing a NaN Decimal with ``<`` raises InvalidOperation.
    if not (price.is_finite() and ZERO < price < ONE):
        return False
    if len(_known_valid_prices) >= _KNOWN_VALID_PRICES_MAX:
        _known_valid_prices.clear()
    _known_valid_prices.add(price)
    return True


def _refuse_level(book: OrderBook, change: PriceLevelChange) -> None:
    book._counters.invalid_levels += 1
    book._distrust(UntrustedReason.INVALID_DATA, f"{change.side} level {change.price} x {change.size}")


def apply_price_change_to_books(books: Mapping[str, OrderBook], event: PriceChange) -> dict[OrderBook, bool]:
    """Apply ``event`` to the books of the tokens it names, in one pass.

    ``books`` maps token ids to their books (a feed's subscriptions, or
    :class:`MarketBooks`' two). Each book receives exactly what
    :meth:`OrderBook.apply_price_change` would give it, with the same counters and checks (a
    batch per book, the crossed and divergence checks after its last update); level updates
    for tokens not in ``books`` are ignored. Returns the books the event names, in the order
    it first names them (books awaiting a snapshot included), each with whether it is
    trusted after the event.

    This is the market feed's hot path (``scripts/bench_market_feed.py``): one loop over the
    level updates rather than one per book, no call per update, and a known-valid price costs
    a set lookup instead of three Decimal operations.
    """
    # Each book touched, with its last applied update (None: none) until the end-of-batch
    # checks below replace it with the book's trust: one dict, no second allocation.
    touched: dict[OrderBook, Any] = {}
    find = books.get
    known_valid = _known_valid_prices
    for change in event.changes:
        book = find(change.asset_id)
        if book is None:
            continue
        if book._awaiting_snapshot:
            book._counters.updates_dropped += 1
            if book not in touched:
                touched[book] = None
            continue
        price, size = change.price, change.size
        # A known price is one set lookup; anything else gets the full check. A zero size
        # (falsy) removes the level and needs no check; any other size (NaN is truthy) must
        # be finite and positive.
        try:
            valid = price in known_valid
        except TypeError:  # a signalling NaN cannot be hashed
            valid = False
        if not (valid or _is_valid_price(price)) or (size and not (size.is_finite() and size > ZERO)):
            _refuse_level(book, change)
            if book not in touched:
                touched[book] = None
            continue
        touched[book] = change
        book._counters.updates_applied += 1
        if change.side is _BUY:
            if size:
                book._bids[price] = size
                best = book._best_bid
                if best is None or price > best:
                    book._best_bid = price
            else:
                # Only removing the best level forces a rescan; every other removal is O(1).
                levels = book._bids
                if levels.pop(price, None) is not None and price == book._best_bid:
                    book._best_bid = max(levels) if levels else None
        elif size:
            book._asks[price] = size
            best = book._best_ask
            if best is None or price < best:
                book._best_ask = price
        else:
            levels = book._asks
            if levels.pop(price, None) is not None and price == book._best_ask:
                book._best_ask = min(levels) if levels else None
    timestamp_ms = event.timestamp_ms
    for book, last in touched.items():
        if last is None:
            touched[book] = book._trusted
            continue
        if book._last_update_ms is None or timestamp_ms > book._last_update_ms:  # _touch, inlined
            book._last_update_ms = timestamp_ms
        # The usual outcome, an uncrossed book agreeing with the venue, costs a few
        # comparisons; anything else goes through the full check. The identity tests first:
        # the market feed's decoder hands out one Decimal object per price string, so the
        # venue's best price is usually the very object the book holds.
        bid, ask = book._best_bid, book._best_ask
        venue_bid, venue_ask = last.best_bid, last.best_ask
        if not (
            (bid is None or ask is None or bid < ask)
            and (venue_bid is bid or venue_bid is None or venue_bid == bid)
            and (venue_ask is ask or venue_ask is None or venue_ask == ask)
        ):
            book._check_top(venue_bid, venue_ask)
        touched[book] = book._trusted  # the same keys, new values: allowed while iterating
    return touched
