#!/usr/bin/env python3
"""Benchmark the market channel's hot path: decoding ``price_change`` frames and applying them.

Frames follow docs/performance-baselines.md §4: compact JSON as the venue sends it, every level
update carrying a 77-digit ``asset_id``, a 40-hex ``hash`` and the token's ``best_bid`` /
``best_ask``; each frame alternates between the two tokens of one market (the doc's 2-change
frame covers both). The books follow §5: about 50 levels a side inside 64 tick slots (tick
0.001), 60% of updates near the touch (15% of those improve it), 20% deletions. The stream is
valid: after it the books must match the generator's own and still be trusted, or the script
reports a bug and exits 1.

For 2 and 5 level updates per frame it prints, per frame, the median and p99 µs (wall time)
and the bulk throughput in **level updates per second** of:

* ``orjson.loads only``: the JSON parse alone, for scale;
* ``parse``: :meth:`MarketMessageDecoder.decode` (JSON + checks + the core events);
* ``apply only (books)``: :func:`apply_price_change_to_books` on both books (what the feed
  does), events decoded in advance;
* ``parse + apply (feed)``: :meth:`MarketFeed.on_message` with a no-op sink, called as the
  socket runner calls it, on the bytes of each frame: the production path (decode, books,
  watchdog bookkeeping, sink dispatch, latency stats);
* ``naive``: ``json.loads`` + ``Decimal`` for every field + the dataclass constructors +
  :meth:`OrderBook.apply_price_change`, what a straightforward decoder costs.

Then the same for a ``book`` snapshot of 50 levels a side. Bulk rates are measured in process
CPU time (other tenants of a shared machine inflate it less than wall time) over ``--rounds``
rounds: the median round is printed, the best round in brackets. The issue's target is at least
300,000 ``price_change`` level updates per second, parse + apply, on one core; the last lines
say whether it was reached. Run from the repository root::

    .venv/bin/python scripts/bench_market_feed.py [--frames 20000] [--rounds 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson
import structlog

from polyexec.core.events import BookSnapshot, FeedEvent, PriceChange, PriceLevelChange
from polyexec.core.models import BookLevel, Side
from polyexec.core.order_book import OrderBook, apply_price_change_to_books
from polyexec.venues.feed_stats import FeedStats
from polyexec.venues.market_feed import MarketFeed
from polyexec.venues.market_messages import MarketMessageDecoder

__all__ = ["MarketStream", "main"]

UP = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
DOWN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
CONDITION = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
TICKS_PER_UNIT = 1000
SLOTS = 64
SNAPSHOT_LEVELS = 50
NEAR_TOUCH = 5
TARGET_UPDATES_PER_S = 300_000


def _price(tick: int) -> str:
    return str(Decimal(tick) / TICKS_PER_UNIT)


class _TokenBook:
    """One token's book in integer ticks, moved by the update mix of the baseline doc."""

    def __init__(self, rng: random.Random, best_bid: int) -> None:
        self.rng = rng
        best_ask = best_bid + 2
        bid_slots = range(best_bid - SLOTS + 1, best_bid + 1)
        ask_slots = range(best_ask, best_ask + SLOTS)
        self.bids = {t: self._size() for t in [best_bid, *rng.sample(bid_slots[:-1], SNAPSHOT_LEVELS - 1)]}
        self.asks = {t: self._size() for t in [best_ask, *rng.sample(ask_slots[1:], SNAPSHOT_LEVELS - 1)]}

    def _size(self) -> str:
        return f"{self.rng.randint(5, 5000)}.{self.rng.randint(0, 99):02d}"

    def best(self) -> tuple[str, str]:
        return _price(max(self.bids)), _price(min(self.asks))

    def update(self) -> tuple[str, str, str]:
        """One level update (side, price, size), applied to this model."""
        rng = self.rng
        buy = rng.random() < 0.5
        own, other = (self.bids, self.asks) if buy else (self.asks, self.bids)
        sign = 1 if buy else -1
        best = max(own) if buy else min(own)
        other_best = min(other) if buy else max(other)
        if rng.random() < 0.2 and len(own) > 1:
            near = [t for t in own if abs(t - best) <= NEAR_TOUCH]
            tick = rng.choice(near if rng.random() < 0.6 else list(own))
            del own[tick]
            size = "0"
        else:
            if rng.random() < 0.6:
                improve = best + sign
                tick = (
                    improve
                    if rng.random() < 0.15 and improve != other_best
                    else best - sign * rng.randint(0, NEAR_TOUCH)
                )
            else:
                tick = best - sign * rng.randint(0, SLOTS - 1)
            if not 0 < tick < TICKS_PER_UNIT:
                tick = best
            size = self._size()
            own[tick] = size
        return ("BUY" if buy else "SELL"), _price(tick), size

    def book_event(self, asset_id: str, timestamp_ms: int) -> dict[str, object]:
        return {
            "event_type": "book",
            "asset_id": asset_id,
            "market": CONDITION,
            "timestamp": str(timestamp_ms),
            "hash": f"{self.rng.getrandbits(160):040x}",
            # Wire order: bids ascending, asks descending (best last).
            "bids": [{"price": _price(t), "size": s} for t, s in sorted(self.bids.items())],
            "asks": [{"price": _price(t), "size": s} for t, s in sorted(self.asks.items(), reverse=True)],
        }


class MarketStream:
    """Frames of one market (Up and Down books) as the venue would send them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.books = {UP: _TokenBook(rng, 500), DOWN: _TokenBook(rng, 480)}
        self.timestamp_ms = 1_757_908_892_351

    def snapshot_frame(self) -> bytes:
        return orjson.dumps([book.book_event(token, self.timestamp_ms) for token, book in self.books.items()])

    def price_change_frame(self, updates: int) -> bytes:
        self.timestamp_ms += self.rng.randint(1, 50)
        tokens = (UP, DOWN)
        entries: list[dict[str, str]] = []
        for index in range(updates):
            token = tokens[index % 2]
            side, price, size = self.books[token].update()
            entries.append({"asset_id": token, "price": price, "size": size, "side": side})
        # best_bid / best_ask: the token's top of book after the whole message.
        for entry in entries:
            best_bid, best_ask = self.books[entry["asset_id"]].best()
            entry["hash"] = f"{self.rng.getrandbits(160):040x}"
            entry["best_bid"], entry["best_ask"] = best_bid, best_ask
        message = {
            "event_type": "price_change",
            "market": CONDITION,
            "timestamp": str(self.timestamp_ms),
            "price_changes": entries,
        }
        return orjson.dumps(message)

    def expected_tops(self) -> dict[str, tuple[Decimal, Decimal]]:
        return {
            token: (Decimal(b), Decimal(a))
            for token, (b, a) in ((t, m.best()) for t, m in self.books.items())
        }


# --- the paths measured ---------------------------------------------------------------------


def _no_sink(_event: FeedEvent) -> None:
    return None


def _new_feed(snapshot: bytes, warmup: list[bytes]) -> MarketFeed:
    feed = MarketFeed("ws://127.0.0.1:9/ws/market", _no_sink)
    asyncio.run(feed.subscribe([UP, DOWN]))
    now = time.monotonic()
    feed.on_message(snapshot, now)
    for frame in warmup:
        feed.on_message(frame, now)
    return feed


def _naive_decode(frame: bytes) -> PriceChange:
    obj = json.loads(frame)
    changes = tuple(
        PriceLevelChange(
            c["asset_id"],
            Decimal(c["price"]),
            Decimal(c["size"]),
            Side(c["side"]),
            Decimal(c["best_bid"]) if c["best_bid"] else None,
            Decimal(c["best_ask"]) if c["best_ask"] else None,
        )
        for c in obj["price_changes"]
    )
    return PriceChange(obj["market"], int(obj["timestamp"]), changes)


def _naive_books(snapshot: bytes, warmup: list[bytes]) -> dict[str, OrderBook]:
    books = {UP: OrderBook(UP), DOWN: OrderBook(DOWN)}
    for event in json.loads(snapshot):
        books[event["asset_id"]].apply_snapshot(
            BookSnapshot(
                event["asset_id"],
                event["market"],
                int(event["timestamp"]),
                tuple(BookLevel(Decimal(x["price"]), Decimal(x["size"])) for x in event["bids"]),
                tuple(BookLevel(Decimal(x["price"]), Decimal(x["size"])) for x in event["asks"]),
            )
        )
    for frame in warmup:
        event = _naive_decode(frame)
        for book in books.values():
            book.apply_price_change(event)
    return books


@dataclass
class Path:
    """One way of processing the stream. ``setup`` builds fresh state for a round and returns
    the per-input function; ``inputs`` turns the frames into what that function takes."""

    label: str
    setup: Callable[[], Callable[..., object]]
    check: Callable[[], bool] | None = None
    inputs: Callable[[list[bytes]], list[Any]] | None = None
    received_at: bool = False
    """The function is ``MarketFeed.on_message``: call it as the socket runner does,
    ``(frame, received_at)``, with no wrapper in between."""


@dataclass
class Measurement:
    samples: list[int] = field(default_factory=list)
    """Wall time (ns) of each input of one timed pass."""
    bulk: list[float] = field(default_factory=list)
    """CPU seconds of each bulk round."""
    ok: bool = True


def _measure(paths: list[Path], frames: list[bytes], rounds: int) -> list[Measurement]:
    """Run every path over the frames, round-robin: a shared machine whose speed drifts
    (other tenants, frequency scaling) then affects all the paths of a round alike."""
    items = [path.inputs(frames) if path.inputs is not None else frames for path in paths]
    results = [Measurement() for _ in paths]
    now = time.monotonic()
    for _ in range(rounds):
        for path, inputs, result in zip(paths, items, results, strict=True):
            run = path.setup()
            start = time.process_time()
            if path.received_at:
                for item in inputs:
                    run(item, now)
            else:
                for item in inputs:
                    run(item)
            result.bulk.append(time.process_time() - start)
            if path.check is not None:
                result.ok = path.check() and result.ok
    clock = time.perf_counter_ns
    for path, inputs, result in zip(paths, items, results, strict=True):
        run = path.setup()
        record = result.samples.append
        for item in inputs:
            if path.received_at:
                begin = clock()
                run(item, now)
            else:
                begin = clock()
                run(item)
            record(clock() - begin)
    return results


def _report(
    label: str, samples: list[int], bulk: list[float], count: int, updates: int
) -> tuple[float, float]:
    """Print one line; return (median round, best round) level updates (or frames) per second."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    rates = sorted(count * updates / seconds for seconds in bulk)
    median, best = statistics.median(rates), rates[-1]
    unit = "updates/s" if updates > 1 else "frames/s "
    print(
        f"  {label:<22} {statistics.median(ordered) / 1000:7.2f} / {p99:7.2f} µs"
        f"   {median / 1000:8.1f}k {unit}  (best round {best / 1000:.1f}k)"
    )
    return median, best


def _check(books: dict[str, OrderBook] | MarketFeed, stream: MarketStream, label: str) -> bool:
    for token, (bid, ask) in stream.expected_tops().items():
        book = books.book(token) if isinstance(books, MarketFeed) else books[token]
        assert book is not None
        top = (book.best_bid(), book.best_ask())
        if top[0] is None or top[1] is None or (top[0].price, top[1].price) != (bid, ask) or not book.trusted:
            print(
                f"BUG in {label}: {token[:8]} at {top}, trusted={book.trusted}; expected {bid}/{ask}",
                file=sys.stderr,
            )
            return False
    if isinstance(books, MarketFeed) and books.stats.errors:
        print(f"BUG in {label}: decode errors {dict(books.stats.error_kinds)}", file=sys.stderr)
        return False
    if isinstance(books, MarketFeed) and books.stats.latency_ms() is None:
        print(f"BUG in {label}: no processing latency recorded", file=sys.stderr)
        return False
    return True


def bench_price_changes(updates: int, args: argparse.Namespace) -> tuple[float, float, bool]:
    stream = MarketStream(random.Random(args.seed))
    snapshot = stream.snapshot_frame()
    warmup = [stream.price_change_frame(updates) for _ in range(args.warmup)]
    frames = [stream.price_change_frame(updates) for _ in range(args.frames)]
    size = statistics.mean(len(f) for f in frames)
    print(f"price_change, {updates} level updates per frame ({size:.0f} B), {len(frames):,} frames")
    print(f"  {'':<22} per frame med / p99    bulk rate, median of {args.rounds} rounds")
    state: dict[str, Any] = {}

    def decoder() -> Callable[[bytes], object]:
        warm = MarketMessageDecoder(FeedStats("bench"))
        for frame in [snapshot, *warmup]:
            warm.decode(frame)
        return warm.decode

    def feed() -> Callable[[bytes, float], None]:
        state["feed"] = _new_feed(snapshot, warmup)
        on_message: Callable[[bytes, float], None] = state["feed"].on_message
        return on_message

    def predecoded(items: list[bytes]) -> list[Any]:
        state["decoder"] = shared = MarketMessageDecoder(FeedStats("bench"))
        return [event for frame in items for event in shared.decode(frame)]

    def books_only() -> Callable[[PriceChange], object]:
        # Seeded through the decoder that decoded the stream: the same cached price objects,
        # as in the feed, where one decoder serves both.
        up, down = OrderBook(UP), OrderBook(DOWN)
        state["books"] = {UP: up, DOWN: down}
        for frame in [snapshot, *warmup]:
            for event in state["decoder"].decode(frame):
                if isinstance(event, BookSnapshot):
                    state["books"][event.asset_id].apply_snapshot(event)
                else:
                    up.apply_price_change(event)
                    down.apply_price_change(event)

        books = state["books"]

        def apply(event: PriceChange) -> None:
            apply_price_change_to_books(books, event)

        return apply

    def naive() -> Callable[[bytes], object]:
        state["naive"] = books = _naive_books(snapshot, warmup)
        up, down = books[UP], books[DOWN]

        def apply(frame: bytes) -> None:
            event = _naive_decode(frame)
            up.apply_price_change(event)
            down.apply_price_change(event)

        return apply

    paths = [
        Path("orjson.loads only", lambda: orjson.loads),
        Path("parse", decoder),
        Path("apply only (books)", books_only, lambda: _check(state["books"], stream, "apply"), predecoded),
        Path(
            "parse + apply (feed)",
            feed,
            lambda: _check(state["feed"], stream, "parse + apply"),
            received_at=True,
        ),
        Path("naive: json + Decimal", naive, lambda: _check(state["naive"], stream, "naive")),
    ]
    ok = True
    result = (0.0, 0.0)
    for path, measured in zip(paths, _measure(paths, frames, args.rounds), strict=True):
        ok = ok and measured.ok
        rates = _report(path.label, measured.samples, measured.bulk, len(frames), updates)
        if path.label.startswith("parse + apply"):
            result = rates
    return result[0], result[1], ok


def bench_book(args: argparse.Namespace) -> None:
    stream = MarketStream(random.Random(args.seed))
    frames = []
    for _ in range(2_000):
        for _ in range(5):
            stream.price_change_frame(2)
        stream.timestamp_ms += 1
        frames.append(orjson.dumps(stream.books[UP].book_event(UP, stream.timestamp_ms)))
    levels = statistics.mean(len(orjson.loads(f)["bids"]) + len(orjson.loads(f)["asks"]) for f in frames)
    size = statistics.mean(len(f) for f in frames)
    print(f"book snapshot, {levels:.0f} levels ({size:.0f} B), {len(frames):,} frames")

    def feed() -> Callable[[bytes, float], None]:
        return _new_feed(stream.snapshot_frame(), []).on_message

    def naive() -> Callable[[bytes], object]:
        book = OrderBook(UP)

        def apply(frame: bytes) -> None:
            event = json.loads(frame)
            book.apply_snapshot(
                BookSnapshot(
                    event["asset_id"],
                    event["market"],
                    int(event["timestamp"]),
                    tuple(BookLevel(Decimal(x["price"]), Decimal(x["size"])) for x in event["bids"]),
                    tuple(BookLevel(Decimal(x["price"]), Decimal(x["size"])) for x in event["asks"]),
                )
            )

        return apply

    paths = [
        Path("parse", lambda: MarketMessageDecoder(FeedStats("bench")).decode),
        Path("parse + apply (feed)", feed, received_at=True),
        Path("naive: json + Decimal", naive),
    ]
    for path, measured in zip(paths, _measure(paths, frames, args.rounds), strict=True):
        _report(path.label, measured.samples, measured.bulk, len(frames), 1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=20_000, help="frames in each measured stream")
    parser.add_argument("--warmup", type=int, default=5_000, help="frames applied before measuring")
    parser.add_argument("--rounds", type=int, default=5, help="bulk rounds per figure")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {load:.2f}")
    print("per-frame times are wall time (they include the ~0.07 µs timer); bulk rates are process CPU time")
    results = [bench_price_changes(updates, args) for updates in (2, 5)]
    bench_book(args)
    median, best, _ = results[0]
    if median >= TARGET_UPDATES_PER_S:
        verdict = "reached"
    elif best >= TARGET_UPDATES_PER_S:
        verdict = "reached in the best round only"
    else:
        verdict = "NOT reached"
    print(f"target: {TARGET_UPDATES_PER_S:,} price_change level updates/s, parse + apply, 2 per frame")
    print(
        f"  {verdict}: median round {median:,.0f}, best round {best:,.0f} "
        f"(5 per frame: median {results[1][0]:,.0f}, best {results[1][1]:,.0f})"
    )
    return 0 if all(ok for _, _, ok in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
