"""Tests for polyexec.core.order_book: snapshots, level updates, trust, queries, fill estimates."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import BookSnapshot, PriceChange, PriceLevelChange, TickSizeChange
from polyexec.core.models import BookLevel, Side
from polyexec.core.order_book import (
    FillEstimate,
    OrderBook,
    UntrustedReason,
    apply_price_change_to_books,
)

UP = "7132"
DOWN = "5211"
D = Decimal


def lv(price: str, size: str) -> BookLevel:
    return BookLevel(D(price), D(size))


Pairs = list[tuple[str, str]]
Opt = str | None


def _dec(value: Opt) -> Decimal | None:
    return None if value is None else D(value)


def snap(bids: Pairs, asks: Pairs, *, ts: int = 1_000, asset: str = UP, tick: Opt = None) -> BookSnapshot:
    bid_levels, ask_levels = (tuple(lv(p, s) for p, s in side) for side in (bids, asks))
    return BookSnapshot(asset, "0xcond", ts, bid_levels, ask_levels, tick_size=_dec(tick))


def chg(
    side: Side, price: str, size: str, asset: str = UP, top: tuple[Opt, Opt] = (None, None)
) -> PriceLevelChange:
    """A level update; ``top`` is the venue's (best_bid, best_ask) after it."""
    return PriceLevelChange(asset, D(price), D(size), side, _dec(top[0]), _dec(top[1]))


def tick_change(new: str, *, ts: int = 2_000, asset: str = UP) -> TickSizeChange:
    return TickSizeChange(asset, "0xcond", D("0.01"), D(new), ts)


# The protocol doc's example, in wire order: bids ascending, asks descending, best last.
WIRE_BIDS = [(".48", "30"), (".49", "20"), (".50", "15")]
WIRE_ASKS = [(".54", "10"), (".53", "60"), (".52", "25")]


@pytest.fixture
def book() -> OrderBook:
    book = OrderBook(UP)
    assert book.apply_snapshot(snap(WIRE_BIDS, WIRE_ASKS))
    return book


# --- snapshots ---------------------------------------------------------------------------------


def test_new_book_is_untrusted_and_drops_changes_until_a_snapshot() -> None:
    book = OrderBook(UP)
    assert not book.trusted
    assert book.untrusted_reason is UntrustedReason.NO_SNAPSHOT
    assert book.awaiting_snapshot
    assert not book.apply_change(chg(Side.BUY, "0.5", "10"), 1)
    assert book.best_bid() is None
    assert book.counters.updates_dropped == 1
    assert book.last_update_ms is None


def test_snapshot_in_wire_order_takes_the_last_element_as_best(book: OrderBook) -> None:
    assert book.best_bid() == lv("0.50", "15")
    assert book.best_ask() == lv("0.52", "25")
    assert book.bids() == [lv("0.50", "15"), lv("0.49", "20"), lv("0.48", "30")]
    assert book.asks() == [lv("0.52", "25"), lv("0.53", "60"), lv("0.54", "10")]
    assert book.trusted
    assert book.untrusted_reason is None
    assert book.last_update_ms == 1_000
    assert book.counters.snapshots_applied == 1


def test_snapshot_best_is_computed_from_content_and_zero_sizes_are_dropped() -> None:
    book = OrderBook(UP)
    book.apply_snapshot(
        snap([(".49", "20"), (".51", "0"), (".48", "30")], [(".52", "0"), (".54", "5"), (".53", "6")])
    )
    assert book.best_bid() == lv("0.49", "20")
    assert book.best_ask() == lv("0.53", "6")
    assert book.trusted
    assert book.counters.invalid_levels == 0


INVALID_LEVELS = [("0", "10"), ("1", "10"), ("1.5", "10"), ("-0.2", "10"), ("0.45", "-1")]


@pytest.mark.parametrize(("price", "size"), [*INVALID_LEVELS, ("NaN", "10"), ("0.45", "Infinity")])
def test_snapshot_skips_invalid_levels_and_stays_untrusted(price: str, size: str) -> None:
    book = OrderBook(UP)
    assert book.apply_snapshot(snap([(price, size), (".50", "15")], [(".52", "25")]))
    assert book.bids() == [lv("0.50", "15")]
    assert book.counters.invalid_levels == 1
    assert not book.trusted
    assert book.untrusted_reason is UntrustedReason.INVALID_DATA


def test_snapshot_with_a_repeated_price_keeps_the_last_size_and_flags_it() -> None:
    book = OrderBook(UP)
    book.apply_snapshot(snap([(".50", "15"), (".5", "7")], [(".52", "25")]))
    assert book.bids() == [lv("0.50", "7")]
    assert book.untrusted_reason is UntrustedReason.INVALID_DATA


def test_crossed_snapshot_is_applied_but_untrusted() -> None:
    book = OrderBook(UP)
    book.apply_snapshot(snap([(".53", "15")], [(".52", "25")]))
    assert book.best_bid() == lv("0.53", "15")
    assert book.untrusted_reason is UntrustedReason.CROSSED
    assert book.counters.crossings == 1


def test_snapshot_replaces_everything(book: OrderBook) -> None:
    book.apply_snapshot(snap([(".30", "1")], [], ts=1_500))
    assert book.bids() == [lv("0.30", "1")]
    assert book.asks() == []
    assert book.best_ask() is None


def test_snapshot_for_another_asset_or_an_older_epoch_is_ignored_and_counted(book: OrderBook) -> None:
    assert not book.apply_snapshot(snap([(".10", "1")], [(".90", "1")], asset=DOWN, ts=5_000))
    assert not book.apply_snapshot(snap([(".10", "1")], [], ts=999))
    assert book.best_bid() == lv("0.50", "15")
    assert (book.counters.foreign_events, book.counters.stale_snapshots) == (1, 1)
    assert book.apply_snapshot(snap([(".10", "1")], [], ts=1_000))  # same ms is not stale
    assert book.best_bid() == lv("0.10", "1")


def test_snapshot_adopts_its_tick_size_and_flags_a_bad_one() -> None:
    book = OrderBook(UP, tick_size=D("0.01"))
    book.apply_snapshot(snap(WIRE_BIDS, WIRE_ASKS, tick="0.001"))
    assert book.tick_size == D("0.001")
    book.apply_snapshot(snap(WIRE_BIDS, WIRE_ASKS, tick="0", ts=1_001))
    assert book.tick_size == D("0.001")
    assert book.untrusted_reason is UntrustedReason.INVALID_DATA


# --- level updates -----------------------------------------------------------------------------


def test_change_sets_the_new_aggregate_size_and_can_improve_the_touch(book: OrderBook) -> None:
    assert book.apply_change(chg(Side.SELL, "0.52", "40"), 1_100)
    assert book.best_ask() == lv("0.52", "40")  # the new size, not 25 + 40
    assert book.apply_change(chg(Side.BUY, "0.51", "4"), 1_101)
    assert book.best_bid() == lv("0.51", "4")
    assert book.apply_change(chg(Side.BUY, "0.41", "1"), 1_050)
    assert book.last_update_ms == 1_101  # never goes backwards
    assert book.counters.updates_applied == 3


def test_size_zero_removes_the_level_and_the_best_falls_back(book: OrderBook) -> None:
    book.apply_change(chg(Side.BUY, "0.49", "0"), 1_100)  # behind the touch
    assert book.bids() == [lv("0.50", "15"), lv("0.48", "30")]
    book.apply_change(chg(Side.BUY, "0.5", "0"), 1_101)  # the best; "0.5" and "0.50" are one level
    assert book.best_bid() == lv("0.48", "30")
    book.apply_change(chg(Side.SELL, "0.52", "0"), 1_102)
    assert book.best_ask() == lv("0.53", "60")
    assert book.apply_change(chg(Side.BUY, "0.30", "0"), 1_103)  # absent: nothing to do
    book.apply_change(chg(Side.BUY, "0.48", "0"), 1_104)
    assert book.bids() == []
    assert book.trusted


@pytest.mark.parametrize(("price", "size"), [("0", "5"), ("1", "5"), ("0.5", "-5"), ("sNaN", "5")])
def test_invalid_change_is_skipped_counted_and_clears_trust(book: OrderBook, price: str, size: str) -> None:
    assert not book.apply_change(chg(Side.BUY, price, size), 1_100)
    assert len(book.bids()) == 3
    assert book.counters.invalid_levels == 1
    assert book.untrusted_reason is UntrustedReason.INVALID_DATA


def test_change_for_another_asset_is_ignored_and_counted(book: OrderBook) -> None:
    assert not book.apply_change(chg(Side.BUY, "0.51", "4", asset=DOWN), 1_100)
    assert book.best_bid() == lv("0.50", "15")
    assert book.counters.foreign_events == 1


def test_price_change_applies_only_this_assets_changes(book: OrderBook) -> None:
    event = PriceChange(
        "0xcond",
        1_100,
        (chg(Side.BUY, "0.51", "200"), chg(Side.SELL, "0.5", "200", asset=DOWN), chg(Side.SELL, "0.54", "0")),
    )
    assert book.apply_price_change(event) == 2
    assert book.best_bid() == lv("0.51", "200")
    assert book.asks() == [lv("0.52", "25"), lv("0.53", "60")]
    assert book.counters.foreign_events == 0
    assert book.last_update_ms == 1_100


def test_apply_levels_takes_a_batch_of_this_tokens_changes_at_one_timestamp(book: OrderBook) -> None:
    changes = (chg(Side.BUY, "0.51", "7"), chg(Side.BUY, "0.4", "1", asset=DOWN), chg(Side.SELL, "0.52", "0"))
    assert book.apply_levels(iter(changes), 1_100) == 2  # any iterable
    assert book.best_bid() == lv("0.51", "7")
    assert book.best_ask() == lv("0.53", "60")
    assert book.counters.updates_applied == 2
    assert book.counters.foreign_events == 0
    assert book.last_update_ms == 1_100
    assert book.apply_levels((chg(Side.BUY, "0.49", "1"),), 1_050) == 1
    assert book.last_update_ms == 1_100  # never backwards


def test_apply_levels_with_no_change_for_this_token_touches_nothing(book: OrderBook) -> None:
    crossing_for_down = chg(Side.BUY, "0.9", "1", asset=DOWN, top=("0.9", "0.1"))
    assert book.apply_levels((crossing_for_down,), 1_100) == 0
    assert book.trusted
    assert book.last_update_ms == 1_000
    assert book.counters.updates_applied == 0


def test_apply_levels_drops_only_this_tokens_changes_while_awaiting_a_snapshot() -> None:
    book = OrderBook(UP)
    changes = (chg(Side.BUY, "0.5", "1"), chg(Side.BUY, "0.5", "1", asset=DOWN), chg(Side.SELL, "0.6", "1"))
    assert book.apply_levels(changes, 1_100) == 0
    assert book.counters.updates_dropped == 2
    assert book.best_bid() is None
    assert book.last_update_ms is None


@pytest.mark.parametrize(
    ("price", "size"),
    [
        ("0.5", "NaN"),
        ("0.5", "sNaN"),
        ("0.5", "Infinity"),
        ("0.5", "-0.01"),
        ("NaN", "1"),
        ("-Infinity", "1"),
    ],
)
def test_a_price_seen_valid_before_does_not_let_a_bad_level_through(
    book: OrderBook, price: str, size: str
) -> None:
    # 0.5 is a known good price by now (the snapshot and a first update used it); the cache of
    # checked prices must not skip the size check, nor accept a bad price.
    assert book.apply_change(chg(Side.BUY, "0.5", "9"), 1_100)
    assert not book.apply_change(chg(Side.BUY, price, size), 1_101)
    assert book.counters.invalid_levels == 1
    assert book.best_bid() == lv("0.5", "9")
    assert book.untrusted_reason is UntrustedReason.INVALID_DATA


def test_a_negative_zero_size_removes_the_level(book: OrderBook) -> None:
    assert book.apply_change(chg(Side.BUY, "0.50", "-0"), 1_100)
    assert book.best_bid() == lv("0.49", "20")
    assert book.trusted


def test_one_pass_applies_an_event_to_every_book_it_names() -> None:
    up, down, waiting = OrderBook(UP), OrderBook(DOWN), OrderBook("9999")
    up.apply_snapshot(snap(WIRE_BIDS, WIRE_ASKS))
    down.apply_snapshot(snap(WIRE_BIDS, WIRE_ASKS, asset=DOWN))
    books = {UP: up, DOWN: down, "9999": waiting}
    event = PriceChange(
        "0xcond",
        1_100,
        (
            chg(Side.BUY, "0.5", "1", asset="9999"),  # awaiting its snapshot: dropped, counted
            chg(Side.SELL, "0.51", "5", asset=DOWN, top=("0.50", "0.51")),
            chg(Side.BUY, "0.51", "7", top=("0.51", "0.52")),
            chg(Side.BUY, "0.3", "1", asset="not subscribed"),
            chg(Side.SELL, "0.51", "0", asset=DOWN, top=("0.49", "0.52")),  # venue disagrees
        ),
    )
    touched = apply_price_change_to_books(books, event)
    assert list(touched.items()) == [(waiting, False), (down, False), (up, True)]
    assert up.best_bid() == lv("0.51", "7")
    assert up.counters.updates_applied == 1
    assert down.best_ask() == lv("0.52", "25")
    assert down.counters.updates_applied == 2
    assert down.untrusted_reason is UntrustedReason.DIVERGED  # judged on its last update only
    assert waiting.counters.updates_dropped == 1
    assert (up.last_update_ms, down.last_update_ms, waiting.last_update_ms) == (1_100, 1_100, None)
    assert (
        apply_price_change_to_books(books, PriceChange("0xcond", 1_200, (chg(Side.BUY, "0.4", "1", "x"),)))
        == {}
    )


LEVEL_UPDATES = st.tuples(
    st.sampled_from([UP, DOWN, "other"]),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.sampled_from(["0.47", "0.48", "0.5", "0.51", "0.52", "0.53", "0.55", "0", "1", "NaN"]),
    st.sampled_from(["0", "1", "25", "-1", "Infinity"]),
    st.sampled_from([None, "0.5", "0.51"]),
    st.sampled_from([None, "0.52", "0.53"]),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(LEVEL_UPDATES, min_size=1, max_size=5), min_size=1, max_size=6))
def test_one_pass_over_both_books_equals_each_book_on_its_own(
    events: list[list[tuple[str, Side, str, str, Opt, Opt]]],
) -> None:
    together = {UP: OrderBook(UP), DOWN: OrderBook(DOWN)}
    alone = {UP: OrderBook(UP), DOWN: OrderBook(DOWN)}
    for books in (together, alone):
        for token, book in books.items():
            book.apply_snapshot(snap(WIRE_BIDS, WIRE_ASKS, asset=token))
    for index, updates in enumerate(events):
        event = PriceChange(
            "0xcond", 1_100 + index, tuple(chg(sd, p, sz, tok, (b, a)) for tok, sd, p, sz, b, a in updates)
        )
        touched = apply_price_change_to_books(together, event)
        assert list(touched) == [together[t] for t in dict.fromkeys(u[0] for u in updates) if t in together]
        for token, book in alone.items():
            book.apply_price_change(event)
            twin = together[token]
            assert (twin.bids(), twin.asks(), twin.trusted, twin.untrusted_reason) == (
                book.bids(),
                book.asks(),
                book.trusted,
                book.untrusted_reason,
            )
            assert twin.counters == book.counters
            assert twin.last_update_ms == book.last_update_ms
            if twin in touched:
                assert touched[twin] is twin.trusted


def test_a_malformed_level_inside_a_batch_is_skipped_and_the_rest_applied(book: OrderBook) -> None:
    changes = (chg(Side.BUY, "0.51", "7"), chg(Side.BUY, "NaN", "1"), chg(Side.SELL, "0.525", "3"))
    assert book.apply_levels(changes, 1_100) == 2
    assert book.best_bid() == lv("0.51", "7")
    assert book.best_ask() == lv("0.52", "25")
    assert book.counters.invalid_levels == 1
    assert book.untrusted_reason is UntrustedReason.INVALID_DATA


# --- trust -------------------------------------------------------------------------------------


def test_update_that_crosses_the_book_clears_trust_and_a_snapshot_restores_it(book: OrderBook) -> None:
    book.apply_change(chg(Side.BUY, "0.52", "5"), 1_100)
    assert not book.trusted
    assert book.untrusted_reason is UntrustedReason.CROSSED
    assert book.counters.crossings == 1
    assert book.apply_change(chg(Side.BUY, "0.52", "0"), 1_101)  # still maintained
    assert book.best_bid() == lv("0.50", "15")
    assert not book.trusted  # only a snapshot restores trust
    book.apply_snapshot(snap(WIRE_BIDS, WIRE_ASKS, ts=1_200))
    assert book.trusted
    assert book.untrusted_reason is None


def test_transient_crossing_inside_one_price_change_is_not_flagged(book: OrderBook) -> None:
    # The bid lifts to 0.52 before the 0.52 ask's removal is listed: fine once the batch is done.
    event = PriceChange("0xcond", 1_100, (chg(Side.BUY, "0.52", "5"), chg(Side.SELL, "0.52", "0")))
    book.apply_price_change(event)
    assert book.trusted
    assert book.spread() == D("0.01")


@pytest.mark.parametrize(
    ("venue_bid", "venue_ask"), [("0.50", "0.52"), ("0.51", "0.53"), ("0", "0.52"), ("0.51", "1")]
)
def test_top_of_book_unlike_the_venues_is_a_divergence(
    book: OrderBook, venue_bid: str, venue_ask: str
) -> None:
    book.apply_change(chg(Side.BUY, "0.51", "4", top=(venue_bid, venue_ask)), 1_100)
    assert not book.trusted
    assert book.untrusted_reason is UntrustedReason.DIVERGED
    assert book.counters.divergences == 1


def test_top_of_book_like_the_venues_keeps_trust_and_empty_sides_are_zero_and_one() -> None:
    book = OrderBook(UP)
    book.apply_snapshot(snap([], [(".52", "25"), (".53", "5")]))
    book.apply_change(chg(Side.SELL, "0.52", "0", top=("0", "0.53")), 1_100)
    book.apply_change(chg(Side.SELL, "0.53", "0", top=("0", "1")), 1_100)
    assert book.trusted
    assert book.counters.divergences == 0
    book.apply_change(chg(Side.BUY, "0.40", "3", top=("0.40", None)), 1_101)
    assert book.trusted  # an absent (or empty-string) best_ask says nothing


def test_divergence_is_checked_against_the_last_change_of_the_batch(book: OrderBook) -> None:
    stale_top = chg(Side.BUY, "0.51", "5", top=("0.50", "0.52"))
    final_top = chg(Side.BUY, "0.515", "5", top=("0.515", "0.52"))
    book.apply_price_change(PriceChange("0xcond", 1_100, (stale_top, final_top)))
    assert book.trusted
    book.apply_price_change(PriceChange("0xcond", 1_101, (final_top, stale_top)))
    assert book.untrusted_reason is UntrustedReason.DIVERGED


def test_an_untrusted_book_keeps_its_first_reason_but_keeps_counting(book: OrderBook) -> None:
    book.apply_change(chg(Side.BUY, "0.53", "5"), 1_100)  # crossed
    book.apply_change(chg(Side.BUY, "0.53", "0", top=("0.49", None)), 1_101)  # uncrossed, diverged
    assert book.untrusted_reason is UntrustedReason.CROSSED
    assert book.counters.crossings == 1
    assert book.counters.divergences == 1


def test_mark_untrusted_keeps_applying_updates_until_a_snapshot(book: OrderBook) -> None:
    book.mark_untrusted(UntrustedReason.RECONNECT, "socket closed 1006")
    assert not book.trusted
    assert book.untrusted_reason is UntrustedReason.RECONNECT
    assert book.untrusted_detail == "socket closed 1006"
    assert book.apply_change(chg(Side.BUY, "0.51", "4"), 1_100)
    assert book.best_bid() == lv("0.51", "4")
    book.mark_untrusted(UntrustedReason.STALE)
    assert book.untrusted_reason is UntrustedReason.STALE  # explicit marks replace the reason
    book.apply_snapshot(snap(WIRE_BIDS, WIRE_ASKS, ts=1_200))
    assert book.trusted


def test_tick_size_change_starts_a_new_epoch(book: OrderBook) -> None:
    assert book.apply_tick_size_change(tick_change("0.001", ts=2_000))
    assert book.tick_size == D("0.001")
    assert book.bids() == []
    assert book.asks() == []
    assert book.untrusted_reason is UntrustedReason.TICK_SIZE_CHANGE
    assert book.awaiting_snapshot
    # Updates before the reseeding snapshot are dropped and counted, whichever way they come.
    assert not book.apply_change(chg(Side.BUY, "0.961", "5"), 2_001)
    changes = (chg(Side.SELL, "0.97", "5"), chg(Side.SELL, "0.3", "5", asset=DOWN))
    assert book.apply_price_change(PriceChange("0xcond", 2_002, changes)) == 0
    assert book.counters.updates_dropped == 2
    assert book.best_ask() is None
    # A snapshot from before the change belongs to the old epoch.
    assert not book.apply_snapshot(snap(WIRE_BIDS, WIRE_ASKS, ts=1_999))
    assert not book.trusted
    assert book.apply_snapshot(snap([(".960", "10")], [(".962", "8")], ts=2_003))
    assert book.trusted
    assert not book.awaiting_snapshot
    assert book.apply_change(chg(Side.BUY, "0.961", "5"), 2_004)
    assert book.spread() == D("0.001")


def test_tick_size_change_for_another_asset_is_ignored_and_a_bad_tick_is_unknown(book: OrderBook) -> None:
    assert not book.apply_tick_size_change(tick_change("0.001", asset=DOWN))
    assert book.trusted
    book.apply_tick_size_change(tick_change("0.001"))
    book.apply_tick_size_change(tick_change("-0.01", ts=2_001))
    assert book.tick_size is None  # the old tick is certainly wrong, the new one unusable
    assert book.counters.invalid_levels == 1
    assert book.awaiting_snapshot


# --- queries -----------------------------------------------------------------------------------


def test_mid_spread_and_microprice(book: OrderBook) -> None:
    assert book.mid() == D("0.51")
    assert book.spread() == D("0.02")
    # (0.50 × 25 + 0.52 × 15) / 40: more size on the ask pulls the microprice towards the bid.
    assert book.microprice() == D("0.5075")
    book.apply_snapshot(snap(WIRE_BIDS, [], ts=1_001))
    assert (book.mid(), book.spread(), book.microprice()) == (None, None, None)  # need both sides


def test_sorted_views_honour_depth(book: OrderBook) -> None:
    assert book.bids(2) == [lv("0.50", "15"), lv("0.49", "20")]
    assert book.asks(1) == [lv("0.52", "25")]
    assert book.asks(0) == []
    assert len(book.asks(10)) == 3
    with pytest.raises(ValueError, match="level count"):
        book.bids(-1)


def test_depth_usd_sums_price_times_size(book: OrderBook) -> None:
    assert book.depth_usd(Side.BUY) == D("31.70")  # 14.40 + 9.80 + 7.50
    assert book.depth_usd(Side.SELL) == D("50.20")  # 13.00 + 31.80 + 5.40
    assert book.depth_usd(Side.BUY, max_levels=2) == D("17.30")
    assert book.depth_usd(Side.SELL, within=D("0.01")) == D("44.80")
    assert book.depth_usd(Side.BUY, within=D("0")) == D("7.50")
    assert OrderBook(UP).depth_usd(Side.BUY) == 0
    with pytest.raises(ValueError, match="within"):
        book.depth_usd(Side.BUY, within=D("-0.01"))


def test_estimate_buy_walks_the_asks(book: OrderBook) -> None:
    # 25 @ 0.52 = 13.00, then 25 @ 0.53 = 13.25: 26.25 for 50 shares.
    est = book.estimate_fill(Side.BUY, D("50"))
    assert est == FillEstimate(
        Side.BUY, D("50"), None, D("50"), D("26.25"), D("0.525"), D("0.53"), D("0.52"), 2, complete=True
    )
    assert est.slippage == D("0.005")
    assert est.slippage_pct is not None
    assert est.slippage_pct.quantize(D("0.0001")) == D("0.9615")  # 0.005 / 0.52
    assert not est.insufficient_depth


def test_estimate_sell_walks_the_bids(book: OrderBook) -> None:
    # 15 @ 0.50 = 7.50, 20 @ 0.49 = 9.80, 5 @ 0.48 = 2.40: 19.70 for 40 shares.
    est = book.estimate_fill(Side.SELL, D("40"))
    assert est == FillEstimate(
        Side.SELL, D("40"), None, D("40"), D("19.70"), D("0.4925"), D("0.48"), D("0.50"), 3, complete=True
    )
    assert est.slippage == D("0.0075")
    assert est.slippage_pct == D("1.5")


def test_estimate_flags_insufficient_depth(book: OrderBook) -> None:
    est = book.estimate_fill(Side.BUY, D("100"))
    vwap = D("50.20") / D("95")
    assert est == FillEstimate(
        Side.BUY, D("100"), None, D("95"), D("50.20"), vwap, D("0.54"), D("0.52"), 3, complete=False
    )
    assert est.insufficient_depth
    assert book.estimate_fill(Side.BUY, D("95")).complete  # exactly the whole side


def test_estimate_of_nothing_or_against_an_empty_side(book: OrderBook) -> None:
    est = book.estimate_fill(Side.BUY, D("0"))
    assert est == FillEstimate(Side.BUY, D(0), None, D(0), D(0), None, None, D("0.52"), 0, complete=True)
    book.apply_snapshot(snap(WIRE_BIDS, [], ts=1_001))
    est = book.estimate_fill(Side.BUY, D("10"))
    assert est == FillEstimate(Side.BUY, D("10"), None, D(0), D(0), None, None, None, 0, complete=False)
    assert (est.slippage, est.slippage_pct) == (None, None)
    with pytest.raises(ValueError, match="size"):
        book.estimate_fill(Side.BUY, D("-1"))
    with pytest.raises(ValueError, match="dollars"):
        book.estimate_fill_for_notional(Side.BUY, D("NaN"))


def test_estimate_for_notional_spends_dollars_and_flags_a_thin_book(book: OrderBook) -> None:
    # 13.00 buys all 25 @ 0.52; the remaining 5.30 buys 10 @ 0.53.
    est = book.estimate_fill_for_notional(Side.BUY, D("18.30"))
    vwap = D("18.30") / D("35")
    assert est == FillEstimate(
        Side.BUY, None, D("18.30"), D("35"), D("18.30"), vwap, D("0.53"), D("0.52"), 2, complete=True
    )
    # Selling for dollars: 7.50 from 15 @ 0.50, then 1.96 from 4 @ 0.49.
    sell = book.estimate_fill_for_notional(Side.SELL, D("9.46"))
    assert (sell.filled_size, sell.worst_price, sell.complete) == (D("19"), D("0.49"), True)
    thin = book.estimate_fill_for_notional(Side.BUY, D("100"))
    assert (thin.filled_size, thin.notional, thin.insufficient_depth) == (D("95"), D("50.20"), True)


# --- property: the book against a naive reference ----------------------------------------------

Levels = tuple[tuple[Decimal, Decimal], ...]


@dataclass(frozen=True)
class SnapshotOp:
    bids: Levels
    asks: Levels


@dataclass(frozen=True)
class TickOp:
    pass


@dataclass(frozen=True)
class ChangeOp:
    """A level update landing ``anywhere`` (at ``price``), on an ``existing`` level (the
    ``pick``-th: the best one is often resized or deleted) or on the ``opposite best`` (a locked
    book). Resolved against the reference when the step runs, so the sequence is one fast draw."""

    side: Side
    price: Decimal
    size: Decimal
    tell_top: bool  # whether the change carries the venue's best_bid/best_ask
    target: str
    pick: int

    def resolve_price(self, ref: ReferenceBook) -> Decimal:
        bid, ask = ref.best()
        own, opposite_best = (ref.bids, ask) if self.side is Side.BUY else (ref.asks, bid)
        if self.target == "existing" and own:
            return sorted(own)[self.pick % len(own)]
        if self.target == "opposite best" and opposite_best is not None:
            return opposite_best
        return self.price


@dataclass
class ReferenceBook:
    """The obvious model: dicts, max()/min() recomputed every time, trust by the written rules."""

    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    awaiting: bool = True
    trusted: bool = False
    dropped: int = 0

    def best(self) -> tuple[Decimal | None, Decimal | None]:
        return (max(self.bids) if self.bids else None, min(self.asks) if self.asks else None)

    def crossed(self) -> bool:
        bid, ask = self.best()
        return bid is not None and ask is not None and bid >= ask

    def snapshot(self, op: SnapshotOp) -> None:
        self.bids = {p: s for p, s in op.bids if s}
        self.asks = {p: s for p, s in op.asks if s}
        self.awaiting = False
        self.trusted = not self.crossed()

    def tick(self) -> None:
        self.bids, self.asks, self.awaiting, self.trusted = {}, {}, True, False

    def change(self, side: Side, price: Decimal, size: Decimal) -> None:
        if self.awaiting:
            self.dropped += 1
            return
        levels = self.bids if side is Side.BUY else self.asks
        if size:
            levels[price] = size
        else:
            levels.pop(price, None)
        if self.crossed():
            self.trusted = False

    def venue_top(self) -> tuple[Decimal, Decimal]:
        """The top of book as the venue would send it: "0" / "1" for an empty side."""
        bid, ask = self.best()
        return (D(0) if bid is None else bid, D(1) if ask is None else ask)


def _unique(levels: list[tuple[Decimal, Decimal]]) -> Levels:
    """One entry per price (a repeated price is invalid data, tested on its own above)."""
    return tuple({p: (p, s) for p, s in levels}.values())


def _as_levels(levels: Levels) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(p, s) for p, s in levels)


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Prices in cents; "0.5" and "0.50" both occur (one level to the book)."""
    return st.builds(
        lambda n, pad: D(n).scaleb(-2) if pad else D(n) / 100, st.integers(low, high), st.booleans()
    )


# Few prices per side, in ranges that overlap a little: snapshots are mostly sound, sometimes crossed.
bid_prices, ask_prices = cents(1, 12), cents(11, 22)
sizes_st = st.one_of(st.just(D(0)), st.integers(1, 500).map(D), st.integers(1, 999).map(lambda n: D(n) / 10))
bid_levels, ask_levels = (
    st.lists(st.tuples(prices, sizes_st), max_size=10).map(_unique) for prices in (bid_prices, ask_prices)
)
targets = st.sampled_from(["anywhere"] * 3 + ["existing"] * 3 + ["opposite best"])
# Weights by repetition: mostly level updates, sometimes a snapshot, rarely a tick-size change
# (``one_of`` would weigh its alternatives equally: a tick-size change every third step).
op_by_kind: dict[str, st.SearchStrategy[ChangeOp | SnapshotOp | TickOp]] = {
    "bid": st.builds(
        ChangeOp, st.just(Side.BUY), bid_prices, sizes_st, st.booleans(), targets, st.integers(0, 9)
    ),
    "ask": st.builds(
        ChangeOp, st.just(Side.SELL), ask_prices, sizes_st, st.booleans(), targets, st.integers(0, 9)
    ),
    "snapshot": st.builds(SnapshotOp, bid_levels, ask_levels),
    "tick": st.just(TickOp()),
}
kinds = st.sampled_from(["bid"] * 6 + ["ask"] * 6 + ["snapshot"] * 2 + ["tick"])
ops_st = st.lists(kinds.flatmap(op_by_kind.__getitem__), min_size=1, max_size=50)


@settings(max_examples=100)
@given(ops=ops_st)
def test_book_agrees_with_the_naive_reference(ops: list[ChangeOp | SnapshotOp | TickOp]) -> None:
    book, ref = OrderBook(UP), ReferenceBook()
    for ts, op in enumerate(ops):
        if isinstance(op, SnapshotOp):
            ref.snapshot(op)
            assert book.apply_snapshot(BookSnapshot(UP, "0xc", ts, _as_levels(op.bids), _as_levels(op.asks)))
        elif isinstance(op, TickOp):
            ref.tick()
            assert book.apply_tick_size_change(TickSizeChange(UP, "0xc", D("0.01"), D("0.001"), ts))
        else:
            price = op.resolve_price(ref)
            ref.change(op.side, price, op.size)
            venue_bid, venue_ask = ref.venue_top() if op.tell_top else (None, None)
            change = PriceLevelChange(UP, price, op.size, op.side, venue_bid, venue_ask)
            book.apply_price_change(PriceChange("0xc", ts, (change,)))

        bid, ask = ref.best()
        assert book.best_bid() == (None if bid is None else BookLevel(bid, ref.bids[bid]))
        assert book.best_ask() == (None if ask is None else BookLevel(ask, ref.asks[ask]))
        assert book.bids() == [BookLevel(p, s) for p, s in sorted(ref.bids.items(), reverse=True)]
        assert book.asks() == [BookLevel(p, s) for p, s in sorted(ref.asks.items())]
        assert book.depth_usd(Side.BUY) == sum((p * s for p, s in ref.bids.items()), D(0))
        top3 = sorted(ref.asks.items())[:3]
        assert book.depth_usd(Side.SELL, max_levels=3) == sum((p * s for p, s in top3), D(0))
        assert book.trusted == ref.trusted
        assert book.awaiting_snapshot == ref.awaiting
        assert book.counters.updates_dropped == ref.dropped
        assert book.counters.divergences == 0  # a book in step never disagrees with the venue


@settings(max_examples=100)
@given(levels=ask_levels, want=st.integers(0, 3000).map(lambda n: D(n) / 2))
def test_fill_estimate_agrees_with_a_level_by_level_walk(levels: Levels, want: Decimal) -> None:
    book = OrderBook(UP)
    book.apply_snapshot(BookSnapshot(UP, "0xcond", 1, (), _as_levels(levels)))
    est = book.estimate_fill(Side.BUY, want)
    remaining, notional = want, D(0)
    for price, size in sorted(levels):
        take = min(size, remaining)
        notional += price * take
        remaining -= take
    assert est.filled_size == want - remaining
    assert est.notional == notional
    assert est.complete == (remaining == 0)
    if est.vwap is not None and est.worst_price is not None and est.touch_price is not None:
        assert est.touch_price <= est.vwap <= est.worst_price


batch_ops_st = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 99).map(lambda n: D(n) / 100),
        st.integers(0, 5).map(D),
        st.booleans(),  # True: this change ends a batch
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(ops=batch_ops_st)
def test_batched_and_one_by_one_updates_build_the_same_book(
    ops: list[tuple[Side, Decimal, Decimal, bool]],
) -> None:
    batched, single = OrderBook(UP), OrderBook(UP)
    for book in (batched, single):
        book.apply_snapshot(snap([], []))
    batch: list[PriceLevelChange] = []
    for ts, (side, price, size, ends_batch) in enumerate(ops):
        change = PriceLevelChange(UP, price, size, side)
        assert single.apply_change(change, ts)
        batch.append(change)
        if ends_batch:
            assert batched.apply_levels(batch, ts) == len(batch)
            batch = []
    batched.apply_levels(batch, len(ops))
    assert batched.bids() == single.bids()
    assert batched.asks() == single.asks()
    assert batched.best_bid() == single.best_bid()
    assert batched.best_ask() == single.best_ask()
    assert batched.counters.updates_applied == single.counters.updates_applied == len(ops)
