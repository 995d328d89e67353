"""Tests for polyexec.venues.market_messages: every market-channel event, and bad input counted."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import (
    BestBidAsk,
    BookSnapshot,
    LastTradePrice,
    PriceChange,
    PriceLevelChange,
    TickSizeChange,
)
from polyexec.core.models import BookLevel, Side
from polyexec.venues.feed_stats import FeedStats
from polyexec.venues.market_messages import MAX_SIZE, MarketMessageDecoder, parse_timestamp_ms

D = Decimal
UP = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
DOWN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
TS = "1757908892351"


class Recorder:
    """A decoder with its stats and the ``on_invalid`` calls it made."""

    def __init__(self, **options: Any) -> None:
        self.stats = FeedStats("market-test")
        self.invalid: list[tuple[str, str]] = []
        self.decoder = MarketMessageDecoder(
            self.stats, on_invalid=lambda asset, detail: self.invalid.append((asset, detail)), **options
        )

    def decode(self, frame: object) -> list[Any]:
        data = frame if isinstance(frame, str | bytes) else json.dumps(frame)
        return list(self.decoder.decode(data))

    @property
    def kinds(self) -> dict[str, int]:
        return dict(self.stats.error_kinds)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def change(
    asset: str = UP, price: str = "0.5", size: str = "200", side: str = "BUY", **extra: Any
) -> dict[str, Any]:
    return {"asset_id": asset, "price": price, "size": size, "side": side, "hash": "56621a12", **extra}


def price_change(*changes: dict[str, Any], ts: Any = TS, **extra: Any) -> dict[str, Any]:
    return {
        "event_type": "price_change",
        "market": MARKET,
        "timestamp": ts,
        "price_changes": list(changes),
        **extra,
    }


def book(asset: str = UP, bids: Any = None, asks: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "event_type": "book",
        "asset_id": asset,
        "market": MARKET,
        "timestamp": TS,
        "hash": "0xabc",
        "bids": [{"price": ".48", "size": "30"}, {"price": ".49", "size": "20"}] if bids is None else bids,
        "asks": [{"price": ".53", "size": "60"}, {"price": ".52", "size": "25"}] if asks is None else asks,
        **extra,
    }


# --- each event ------------------------------------------------------------------------------


def test_price_change_from_the_protocol_doc_decodes_both_tokens(rec: Recorder) -> None:
    frame = price_change(
        change(UP, "0.5", "200", "BUY", best_bid="0.5", best_ask="1"),
        change(DOWN, "0.5", "200", "SELL", best_bid="0", best_ask="0.5"),
    )
    for data in (json.dumps(frame), json.dumps(frame).encode()):  # text and binary frames
        assert rec.decode(data) == [
            PriceChange(
                MARKET,
                1757908892351,
                (
                    PriceLevelChange(UP, D("0.5"), D("200"), Side.BUY, D("0.5"), D("1")),
                    PriceLevelChange(DOWN, D("0.5"), D("200"), Side.SELL, D("0"), D("0.5")),
                ),
            )
        ]
    assert rec.stats.errors == 0


def test_empty_or_absent_best_prices_are_none(rec: Recorder) -> None:
    frame = price_change(change(best_bid="", best_ask=""), change(DOWN, side="SELL"))
    (event,) = rec.decode(frame)
    assert [(c.best_bid, c.best_ask) for c in event.changes] == [(None, None), (None, None)]
    assert rec.stats.errors == 0


def test_zero_size_removes_and_leading_dot_prices_parse(rec: Recorder) -> None:
    (event,) = rec.decode(price_change(change(price=".48", size="0")))
    assert event.changes[0].price == D("0.48")
    assert event.changes[0].size == 0


def test_the_generic_path_gives_the_same_events_as_the_fast_one(rec: Recorder) -> None:
    # Lower-case sides and integer timestamps do not fit the fast path's shape: same result.
    fast = rec.decode(price_change(change(side="BUY", best_bid="0.5", best_ask="0.51")))
    generic = rec.decode(price_change(change(side="buy", best_bid="0.5", best_ask="0.51"), ts=int(TS)))
    assert fast == generic
    assert rec.stats.errors == 0


def test_compact_spaced_and_reordered_frames_decode_alike(rec: Recorder) -> None:
    # The venue's compact form (event_type first) is recognised by its first bytes; any other
    # layout by the "price_changes" key: both reach the fast path, with the same result.
    frame = price_change(change(best_bid="0.5", best_ask="0.51"), change(DOWN, side="SELL"))
    compact = json.dumps(frame, separators=(",", ":"))
    assert compact.startswith('{"event_type":"price_change"')
    reordered = json.dumps(
        {**{k: v for k, v in frame.items() if k != "event_type"}, "event_type": frame["event_type"]}
    )
    expected = rec.decode(json.dumps(frame))
    assert len(expected) == 1
    for data in (compact, compact.encode(), reordered, reordered.encode()):
        assert rec.decode(data) == expected
    assert rec.stats.errors == 0


def test_a_price_change_shape_without_its_event_type_is_an_unknown_event(rec: Recorder) -> None:
    frame = price_change(change())
    del frame["event_type"]
    assert rec.decode(frame) == []
    assert rec.kinds == {"unknown_event": 1}


SPELLINGS = st.sampled_from(["{}", " {} ", "+{}", "-{}", "00{}", "{}.0", "{}.5", "{}e0", "{:_}", "{}_"])
TIMESTAMPS = st.builds(str.format, SPELLINGS, st.integers(min_value=10**10, max_value=10**15)) | st.text(
    alphabet="0123456789 +-_.eE", min_size=1, max_size=18
)


@settings(max_examples=150, deadline=None)
@given(TIMESTAMPS)
def test_every_timestamp_spelling_reads_the_same_on_both_paths(timestamp: str) -> None:
    # The fast path reads a timestamp with int(); a lower-case side sends the same frame down
    # the generic path: the events and the errors counted must not differ.
    fast, generic = Recorder(), Recorder()
    fast_events = fast.decode(price_change(change(side="BUY"), ts=timestamp))
    generic_events = generic.decode(price_change(change(side="buy"), ts=timestamp))
    assert fast_events == generic_events
    assert fast.kinds == generic.kinds


def test_book_keeps_wire_order_and_reads_a_tick_size_if_present(rec: Recorder) -> None:
    (snapshot,) = rec.decode(book(tick_size="0.01"))
    assert snapshot == BookSnapshot(
        UP,
        MARKET,
        1757908892351,
        (BookLevel(D("0.48"), D("30")), BookLevel(D("0.49"), D("20"))),
        (BookLevel(D("0.53"), D("60")), BookLevel(D("0.52"), D("25"))),
        "0xabc",
        D("0.01"),
    )
    (no_tick,) = rec.decode(book())
    assert no_tick.tick_size is None


def test_the_initial_dump_is_an_array_of_books(rec: Recorder) -> None:
    events = rec.decode([book(UP), book(DOWN, bids=[], asks=[])])
    assert [(type(e), e.asset_id) for e in events] == [(BookSnapshot, UP), (BookSnapshot, DOWN)]
    assert events[1].bids == ()
    assert events[1].asks == ()


def test_tick_size_change_last_trade_price_and_best_bid_ask(rec: Recorder) -> None:
    events = rec.decode(
        [
            {
                "event_type": "tick_size_change",
                "asset_id": UP,
                "market": MARKET,
                "old_tick_size": "0.01",
                "new_tick_size": "0.001",
                "timestamp": TS,
            },
            {
                "event_type": "last_trade_price",
                "asset_id": UP,
                "market": MARKET,
                "price": "0.456",
                "side": "BUY",
                "size": "219.217767",
                "fee_rate_bps": "0",
                "timestamp": TS,
            },
            {
                "event_type": "best_bid_ask",
                "asset_id": UP,
                "market": MARKET,
                "best_bid": "0.73",
                "best_ask": "",
                "spread": "",
                "timestamp": TS,
            },
        ]
    )
    assert events == [
        TickSizeChange(UP, MARKET, D("0.01"), D("0.001"), 1757908892351),
        LastTradePrice(UP, MARKET, D("0.456"), D("219.217767"), Side.BUY, 1757908892351),
        BestBidAsk(UP, MARKET, D("0.73"), None, 1757908892351),
    ]


def test_new_market_and_market_resolved_are_ignored_not_errors(rec: Recorder) -> None:
    assert rec.decode([{"event_type": "new_market", "id": "1"}, {"event_type": "market_resolved"}]) == []
    assert dict(rec.decoder.ignored) == {"new_market": 1, "market_resolved": 1}
    assert rec.stats.errors == 0


def test_each_distinct_price_string_becomes_one_decimal_object(rec: Recorder) -> None:
    # The order book keys levels by price; a reused Decimal keeps its (costly) hash cached.
    (first,) = rec.decode(price_change(change(price="0.512", best_bid="0.512")))
    (second,) = rec.decode(price_change(change(price="0.512")))
    assert first.changes[0].price is second.changes[0].price is first.changes[0].best_bid


def test_a_full_price_cache_starts_over_and_stays_correct() -> None:
    rec = Recorder(price_cache_size=2)
    prices = [f"0.{n:03d}" for n in range(1, 40)]
    events = [rec.decode(price_change(change(price=p)))[0] for p in prices * 2]
    assert [e.changes[0].price for e in events] == [D(p) for p in prices * 2]
    assert len(rec.decoder._prices) <= 2 + 1  # and the "" entry (no best price)
    with pytest.raises(ValueError, match="price_cache_size"):
        MarketMessageDecoder(FeedStats("x"), price_cache_size=0)


# --- bad input: counted and skipped ----------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (b"", "malformed_json"),
        (b"not json", "malformed_json"),
        (b'{"event_type": "price_change", "market"', "malformed_json"),  # the simulator's ws_malformed
        (b"\xff\xfe", "malformed_json"),
        ("1e400", "malformed_json"),
        ("42", "malformed_frame"),
        ('"book"', "malformed_frame"),
        ("null", "malformed_frame"),
        ("[1, []]", "malformed_event"),
        ('{"event_type": "surprise"}', "unknown_event"),
        ('{"no_event_type": 1}', "unknown_event"),
        ('{"event_type": 7}', "unknown_event"),
    ],
)
def test_unusable_frames_are_counted_by_kind(rec: Recorder, frame: str | bytes, kind: str) -> None:
    assert rec.decode(frame) == []
    assert rec.kinds.get(kind, 0) >= 1
    assert rec.stats.errors == sum(rec.kinds.values())


def test_one_bad_event_in_an_array_keeps_the_good_ones(rec: Recorder) -> None:
    events = rec.decode([book(UP), {"event_type": "book", "asset_id": DOWN}, "junk", book(DOWN)])
    assert [e.asset_id for e in events] == [UP, DOWN]
    assert rec.kinds == {"missing_field": 1, "malformed_event": 1}
    assert rec.invalid
    assert rec.invalid[0][0] == DOWN


@pytest.mark.parametrize(
    ("bad", "kind"),
    [
        ({"price": "NaN"}, "bad_price"),
        ({"price": "Infinity"}, "bad_price"),
        ({"price": "-0.5"}, "bad_price"),
        ({"price": "1.5"}, "bad_price"),
        ({"price": " 0.5"}, "bad_price"),
        ({"price": "abc"}, "bad_price"),
        ({"price": 0.5}, "bad_price"),  # a float is not exact
        ({"size": "NaN"}, "bad_size"),
        ({"size": "-1"}, "bad_size"),
        ({"size": "sNaN"}, "bad_size"),
        ({"size": str(MAX_SIZE * 10)}, "bad_size"),
        ({"size": "1e999999"}, "bad_size"),
        ({"size": ""}, "bad_size"),
        ({"side": "HOLD"}, "bad_side"),
        ({"side": None}, "missing_field"),
        ({"asset_id": ""}, "bad_field"),
        ({"asset_id": 7132}, "bad_field"),
    ],
)
def test_a_bad_level_update_is_dropped_and_the_others_kept(
    rec: Recorder, bad: dict[str, Any], kind: str
) -> None:
    (event,) = rec.decode(price_change(change(DOWN, side="SELL"), {**change(UP), **bad}))
    assert [c.asset_id for c in event.changes] == [DOWN]
    assert rec.kinds == {kind: 1}
    if isinstance(bad.get("asset_id", UP), str) and bad.get("asset_id", UP):
        assert [asset for asset, _ in rec.invalid] == [UP]  # the book owner hears about it


@pytest.mark.parametrize("field", ["asset_id", "price", "size", "side"])
def test_a_level_update_missing_a_field_is_dropped(rec: Recorder, field: str) -> None:
    incomplete = change()
    del incomplete[field]
    assert rec.decode(price_change(incomplete)) == []
    assert rec.kinds == {"missing_field": 1}


def test_an_unreadable_best_price_is_counted_and_the_update_kept(rec: Recorder) -> None:
    (event,) = rec.decode(price_change(change(best_bid="NaN", best_ask="2")))
    assert (event.changes[0].best_bid, event.changes[0].best_ask) == (None, None)
    assert rec.kinds == {"bad_price": 2}


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (price_change(change(), ts="yesterday"), "bad_timestamp"),
        (price_change(change(), ts=-5), "bad_timestamp"),
        (price_change(change(), ts=True), "bad_timestamp"),
        ({"event_type": "price_change", "market": MARKET, "price_changes": [change()]}, "missing_field"),
        ({"event_type": "price_change", "timestamp": TS, "price_changes": [change()]}, "missing_field"),
        (price_change(), None),  # no changes: nothing to do, nothing wrong
        ({**price_change(), "price_changes": "x"}, "bad_field"),
    ],
)
def test_a_bad_price_change_envelope_drops_the_event(
    rec: Recorder, frame: dict[str, Any], kind: str | None
) -> None:
    assert rec.decode(frame) == []
    assert rec.kinds == ({} if kind is None else {kind: 1})
    if kind is not None and frame.get("price_changes") == [change()]:
        assert [asset for asset, _ in rec.invalid] == [UP]


@pytest.mark.parametrize(
    ("bids", "kind"),
    [
        ([{"price": "0.48", "size": "-1"}], "bad_size"),
        ([{"price": "NaN", "size": "1"}], "bad_price"),
        ([{"price": "0.48"}], "missing_field"),
        (["0.48"], "bad_field"),
        ("0.48", "bad_field"),
    ],
)
def test_a_book_with_any_bad_level_is_dropped_whole(rec: Recorder, bids: Any, kind: str) -> None:
    assert rec.decode(book(bids=bids)) == []
    assert rec.kinds == {kind: 1}
    assert [asset for asset, _ in rec.invalid] == [UP]


def test_bad_tick_sizes_are_refused(rec: Recorder) -> None:
    tick = {"event_type": "tick_size_change", "asset_id": UP, "market": MARKET, "timestamp": TS}
    for old, new in (("0.01", "0"), ("0.01", "1"), ("x", "0.001"), ("0.01", None)):
        assert rec.decode({**tick, "old_tick_size": old, "new_tick_size": new}) == []
    assert rec.kinds == {"bad_tick_size": 4}
    assert {asset for asset, _ in rec.invalid} == {UP}


def test_last_trade_and_best_bid_ask_with_bad_values_are_refused_without_blaming_the_book(
    rec: Recorder,
) -> None:
    trade = {"event_type": "last_trade_price", "asset_id": UP, "market": MARKET, "timestamp": TS}
    assert rec.decode({**trade, "price": "0.5", "size": "1", "side": "NONE"}) == []
    assert (
        rec.decode({"event_type": "best_bid_ask", "asset_id": UP, "market": MARKET, "best_bid": "-1"}) == []
    )
    assert rec.kinds == {"bad_side": 1, "bad_price": 1}
    assert rec.invalid == []


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1757908892351", 1757908892351),
        (1757908892351, 1757908892351),
        ("1757908892", 1757908892000),  # seconds
        (1757908892, 1757908892000),
        ("1757908892.351", 1757908892351),
        ("1757908892351123", 1757908892351),  # microseconds
        (1757908892351123456, 1757908892351),  # nanoseconds
        ("0", None),
        (10**20, None),
        ("1e30", None),
        ("-1757908892351", None),
        ("NaN", None),
        ("", None),
        (None, None),
        (True, None),
        (1757908892.351, None),
    ],
)
def test_parse_timestamp_ms_normalises_units(raw: object, expected: int | None) -> None:
    assert parse_timestamp_ms(raw) == expected


# --- properties ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELD_VALUES = st.one_of(
    st.sampled_from(["0.5", ".48", "0", "1", "", "NaN", "-1", "Infinity", "1e9", "BUY", "sell", UP, TS, "x"]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.none(),
    st.lists(st.integers(), max_size=2),
)
LEVEL_KEYS = ["asset_id", "price", "size", "side", "best_bid", "best_ask"]
EVENT_TYPES = st.sampled_from(
    ["price_change", "book", "tick_size_change", "last_trade_price", "best_bid_ask", "new_market", "x"]
)


def _check_event(event: object) -> None:
    """Whatever was accepted is well-formed: exact, finite, in range."""
    prices: list[Decimal | None] = []
    sizes: list[Decimal] = []
    if isinstance(event, PriceChange):
        assert event.changes
        assert event.timestamp_ms > 0
        for c in event.changes:
            assert isinstance(c.side, Side)
            assert c.asset_id
            prices += [c.price, c.best_bid, c.best_ask]
            sizes.append(c.size)
    elif isinstance(event, BookSnapshot):
        for level in event.bids + event.asks:
            prices.append(level.price)
            sizes.append(level.size)
    elif isinstance(event, LastTradePrice):
        prices.append(event.price)
        sizes.append(event.size)
    elif isinstance(event, BestBidAsk):
        prices += [event.best_bid, event.best_ask]
    else:
        assert isinstance(event, TickSizeChange)
        assert 0 < event.new_tick_size < 1
        assert 0 < event.old_tick_size < 1
    for price in prices:
        assert price is None or (isinstance(price, Decimal) and price.is_finite() and 0 <= price <= 1)
    for size in sizes:
        assert isinstance(size, Decimal)
        assert size.is_finite()
        assert 0 <= size <= MAX_SIZE


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_arbitrary_bytes_never_raise(data: bytes | str) -> None:
    rec = Recorder()
    for event in rec.decode(data):
        _check_event(event)


@settings(max_examples=150, deadline=None)
@given(JSON)
def test_arbitrary_json_never_raises(value: object) -> None:
    rec = Recorder()
    for event in rec.decode(json.dumps(value)):
        _check_event(event)


@settings(max_examples=200, deadline=None)
@given(
    EVENT_TYPES,
    st.lists(st.dictionaries(st.sampled_from(LEVEL_KEYS), FIELD_VALUES, max_size=6), max_size=3),
    st.dictionaries(
        st.sampled_from(
            ["market", "asset_id", "timestamp", "price", "size", "side", "new_tick_size", "old_tick_size"]
        ),
        FIELD_VALUES,
    ),
)
def test_event_shaped_garbage_never_raises_and_never_leaks_bad_values(
    event_type: str, levels: list[dict[str, Any]], fields: dict[str, Any]
) -> None:
    rec = Recorder()
    frame = {"event_type": event_type, "price_changes": levels, "bids": levels, "asks": levels[:1], **fields}
    for event in rec.decode(json.dumps(frame)):
        _check_event(event)
    assert rec.stats.errors == sum(rec.kinds.values())


TICKS = st.integers(min_value=0, max_value=1000).map(lambda t: str(Decimal(t) / 1000))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([UP, DOWN]),
            TICKS,
            st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False).map(str),
            st.sampled_from(["BUY", "SELL"]),
            TICKS | st.just(""),
            TICKS | st.just(""),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=10**12, max_value=4 * 10**12),
)
def test_valid_price_changes_decode_exactly(levels: list[tuple[str, ...]], timestamp: int) -> None:
    rec = Recorder()
    frame = price_change(
        *(change(a, p, s, side, best_bid=b, best_ask=k) for a, p, s, side, b, k in levels), ts=str(timestamp)
    )
    expected = PriceChange(
        MARKET,
        timestamp,
        tuple(
            PriceLevelChange(a, D(p), D(s), Side(side), D(b) if b else None, D(k) if k else None)
            for a, p, s, side, b, k in levels
        ),
    )
    assert rec.decode(frame) == [expected]
    assert rec.decode(json.dumps(frame).encode()) == [expected]
    assert rec.stats.errors == 0
