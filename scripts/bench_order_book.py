#!/usr/bin/env python3
"""Benchmark :class:`polyexec.core.order_book.OrderBook` on a realistic ``price_change`` stream.

The stream follows docs/performance-baselines.md §5: a book of about 50 levels per side inside
64 tick slots, updates of which 60% land near the touch (15% of those improve it) and 20% are
deletions (size 0). Every update carries the venue's ``best_bid``/``best_ask``, as on the wire,
so the divergence check runs on each one. The generator keeps the book uncrossed.

Prints, per update: median and p99 of ``apply_change`` on pre-built events, the same with the
price/size strings parsed to ``Decimal`` inside the timed region (what the baseline table
measures), the bulk throughput of a plain loop, and for scale the throughput of the naive
design (a dict with ``max()``/``min()`` recomputed after every update). Run from the repository root:

    .venv/bin/python scripts/bench_order_book.py [--updates 200000] [--seed 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from decimal import Decimal

from polyexec.core.events import BookSnapshot, PriceLevelChange
from polyexec.core.models import BookLevel, Side
from polyexec.core.order_book import OrderBook

__all__ = ["StreamGenerator", "main"]

ASSET = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
TICKS_PER_UNIT = 1000  # tick 0.001, so 64 slots a side fit around a mid of 0.5
SLOTS = 64
SNAPSHOT_LEVELS = 50
NEAR_TOUCH = 5  # ticks from the best that count as "near the touch"


@dataclass(frozen=True, slots=True)
class WireChange:
    """One level update as the wire spells it: strings, not yet parsed."""

    side: Side
    price: str
    size: str
    best_bid: str
    best_ask: str


def _price(tick: int) -> str:
    return str(Decimal(tick) / TICKS_PER_UNIT)


def _size(rng: random.Random) -> str:
    return f"{rng.randint(5, 5000)}.{rng.randint(0, 99):02d}"


class StreamGenerator:
    """Builds a valid update stream by keeping its own (slow, obvious) book in integer ticks."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        best_bid, best_ask = 500, 502
        bid_slots = range(best_bid - SLOTS + 1, best_bid + 1)
        ask_slots = range(best_ask, best_ask + SLOTS)
        self.bids = {t: _size(rng) for t in [best_bid, *rng.sample(bid_slots[:-1], SNAPSHOT_LEVELS - 1)]}
        self.asks = {t: _size(rng) for t in [best_ask, *rng.sample(ask_slots[1:], SNAPSHOT_LEVELS - 1)]}

    def snapshot(self) -> BookSnapshot:
        # Wire order: bids ascending, asks descending (best last).
        bids = tuple(BookLevel(Decimal(_price(t)), Decimal(s)) for t, s in sorted(self.bids.items()))
        asks = tuple(BookLevel(Decimal(_price(t)), Decimal(s)) for t, s in sorted(self.asks.items())[::-1])
        return BookSnapshot(ASSET, "0xcond", 1, bids, asks)

    def next_change(self) -> WireChange:
        rng = self.rng
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        own, other = (self.bids, self.asks) if side is Side.BUY else (self.asks, self.bids)
        sign = 1 if side is Side.BUY else -1  # +1: better bids are higher ticks
        best = max(own) if sign == 1 else min(own)
        other_best = min(other) if sign == 1 else max(other)
        roll = rng.random()
        if roll < 0.2 and len(own) > 1:
            near = [t for t in own if abs(t - best) <= NEAR_TOUCH]
            tick = rng.choice(near if rng.random() < 0.6 else list(own))
            del own[tick]
            size = "0"
        else:
            if rng.random() < 0.6:
                improve = best + sign
                if rng.random() < 0.15 and improve != other_best:
                    tick = improve
                else:
                    tick = best - sign * rng.randint(0, NEAR_TOUCH)
            else:
                tick = best - sign * rng.randint(0, SLOTS - 1)
            if not 0 < tick < TICKS_PER_UNIT:
                tick = best
            size = _size(rng)
            own[tick] = size
        return WireChange(
            side,
            _price(tick),
            size,
            best_bid=_price(max(self.bids)),
            best_ask=_price(min(self.asks)),
        )


def _warmed_book(snapshot: BookSnapshot, warm: list[PriceLevelChange]) -> OrderBook:
    """A fresh book with the snapshot and the warm-up updates applied: every measurement starts
    from the same state."""
    book = OrderBook(ASSET)
    book.apply_snapshot(snapshot)
    for ts, event in enumerate(warm):
        book.apply_change(event, ts)
    return book


def _percentile(sorted_ns: list[int], pct: float) -> float:
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * pct))] / 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=200_000, help="updates in the measured stream")
    parser.add_argument("--warmup", type=int, default=50_000, help="updates applied before measuring")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    generator = StreamGenerator(random.Random(args.seed))
    snapshot = generator.snapshot()
    wire = [generator.next_change() for _ in range(args.warmup + args.updates)]
    final_bid, final_ask = Decimal(_price(max(generator.bids))), Decimal(_price(min(generator.asks)))
    events = [
        PriceLevelChange(
            ASSET, Decimal(w.price), Decimal(w.size), w.side, Decimal(w.best_bid), Decimal(w.best_ask)
        )
        for w in wire
    ]
    warm, measured = events[: args.warmup], events[args.warmup :]
    measured_wire = wire[args.warmup :]
    clock = time.perf_counter_ns

    # 1. apply only, each update timed on its own.
    book = _warmed_book(snapshot, warm)
    apply_ns: list[int] = []
    record = apply_ns.append
    apply = book.apply_change
    for ts, event in enumerate(measured):
        start = clock()
        apply(event, ts)
        record(clock() - start)
    best_bid, best_ask = book.best_bid(), book.best_ask()
    if best_bid is None or best_ask is None or (best_bid.price, best_ask.price) != (final_bid, final_ask):
        print(f"BUG: book ends at {best_bid}/{best_ask}, stream at {final_bid}/{final_ask}", file=sys.stderr)
        return 1
    trusted_after = book.trusted
    bid_levels, ask_levels = len(book.bids()), len(book.asks())

    # 2. parse the strings + build the event + apply, timed together.
    book = _warmed_book(snapshot, warm)
    parse_ns: list[int] = []
    record = parse_ns.append
    apply = book.apply_change
    for ts, w in enumerate(measured_wire):
        start = clock()
        apply(
            PriceLevelChange(
                ASSET, Decimal(w.price), Decimal(w.size), w.side, Decimal(w.best_bid), Decimal(w.best_ask)
            ),
            ts,
        )
        record(clock() - start)

    # 3. bulk throughput: no per-update timer.
    book = _warmed_book(snapshot, warm)
    apply = book.apply_change
    start = clock()
    for ts, event in enumerate(measured):
        apply(event, ts)
    bulk_s = (clock() - start) / 1e9

    # 4. the naive reference of the baseline table, for scale: max()/min() after every update.
    naive_bids = {level.price: level.size for level in snapshot.bids}
    naive_asks = {level.price: level.size for level in snapshot.asks}
    start = clock()
    for event in measured:
        levels = naive_bids if event.side is Side.BUY else naive_asks
        if event.size:
            levels[event.price] = event.size
        else:
            levels.pop(event.price, None)
        max(naive_bids)
        min(naive_asks)
    naive_s = (clock() - start) / 1e9

    timer_ns = []
    for _ in range(10_000):
        start = clock()
        timer_ns.append(clock() - start)

    apply_ns.sort()
    parse_ns.sort()
    print(f"python {sys.version.split()[0]}, {len(measured):,} updates after {len(warm):,} warm-up")
    print(f"book at the end: {bid_levels} bid levels, {ask_levels} ask levels, trusted={trusted_after}")
    print(
        f"apply_change (pre-built events): median {statistics.median(apply_ns) / 1000:.2f} µs, "
        f"p99 {_percentile(apply_ns, 0.99):.2f} µs"
    )
    print(
        f"parse + apply (Decimal x4 + event): median {statistics.median(parse_ns) / 1000:.2f} µs, "
        f"p99 {_percentile(parse_ns, 0.99):.2f} µs"
    )
    print(f"(each timed sample includes the timer itself: {statistics.median(timer_ns):.0f} ns)")
    print(f"bulk throughput (apply only): {len(measured) / bulk_s / 1e6:.2f}M updates/s")
    print(f"reference, naive dict + max()/min() per update: {len(measured) / naive_s / 1e6:.2f}M updates/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
