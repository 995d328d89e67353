"""Tests for polyexec.venues.market_feed: subscriptions, trust, the silence watchdog, the sink.

Two kinds of venue: a scripted websocket server on 127.0.0.1 (``FakeVenue``) where a test
decides every frame, for the protocol and the watchdog; and the real simulator (``sim``), for
books that must match the venue's REST book and for the simulator's websocket faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from polyexec.config import Settings
from polyexec.core.events import BookSnapshot, FeedEvent, PriceChange
from polyexec.core.models import Side
from polyexec.core.order_book import OrderBook, UntrustedReason
from polyexec.sim.app import RunningSimulator
from polyexec.sim.contracts import WsChannel
from polyexec.venues.market_feed import MarketFeed
from polyexec.venues.ws_connection import ReconnectPolicy
from tests.venues.conftest import current_market, eventually, sim_admin

A = "1" * 40
B = "2" * 40
C = "3" * 40
MARKET = "0x" + "ab" * 32
FAST = ReconnectPolicy(
    min_interval_s=0.01, base_delay_s=0.01, max_delay_s=0.05, rejected_delay_s=0.05, open_timeout_s=2.0
)


# --- a scripted venue --------------------------------------------------------------------------


@dataclass
class FakeConnection:
    """One client connection as the fake venue sees it."""

    ws: ServerConnection
    received: list[dict[str, Any]] = field(default_factory=list)
    pings: int = 0
    assets: set[str] = field(default_factory=set)

    async def send(self, message: object) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(message if isinstance(message, str) else json.dumps(message))


class FakeVenue:
    """Answers PING, records subscriptions and, for the tokens in ``known``, sends a snapshot
    when they are subscribed (as the venue's initial dump does)."""

    def __init__(self) -> None:
        self.connections: list[FakeConnection] = []
        self.known: set[str] = {A, B}
        self.snapshot_on_subscribe = True
        self.answer_pings = True
        self.timestamp = 1_757_908_892_000
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"ws://{host}:{port}/ws/market"

    @property
    def last(self) -> FakeConnection:
        return self.connections[-1]

    def next_ts(self) -> str:
        self.timestamp += 10
        return str(self.timestamp)

    def book(self, asset: str, bid: str = "0.48", ask: str = "0.52") -> dict[str, Any]:
        return {
            "event_type": "book",
            "asset_id": asset,
            "market": MARKET,
            "timestamp": self.next_ts(),
            "bids": [{"price": "0.40", "size": "10"}, {"price": bid, "size": "5"}],
            "asks": [{"price": "0.60", "size": "10"}, {"price": ask, "size": "5"}],
        }

    def level(self, asset: str, price: str, size: str, side: str = "BUY", **top: str) -> dict[str, Any]:
        return {
            "event_type": "price_change",
            "market": MARKET,
            "timestamp": self.next_ts(),
            "price_changes": [
                {"asset_id": asset, "price": price, "size": size, "side": side, "hash": "h", **top}
            ],
        }

    async def __aenter__(self) -> FakeVenue:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        conn = FakeConnection(ws)
        self.connections.append(conn)
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                if frame == "PING":
                    conn.pings += 1
                    if self.answer_pings:
                        await ws.send("PONG")
                    continue
                message = json.loads(frame)
                conn.received.append(message)
                assets = list(message.get("assets_ids", []))
                if message.get("operation") == "unsubscribe":
                    conn.assets.difference_update(assets)
                    continue
                new = [a for a in assets if a not in conn.assets]
                conn.assets.update(new)
                dump = [self.book(a) for a in new if a in self.known]
                if dump and self.snapshot_on_subscribe:
                    await conn.send(dump)

    async def drop(self) -> None:
        """Cut the current connection without a close handshake, as a network failure does."""
        self.last.ws.transport.abort()


@pytest.fixture
async def venue() -> AsyncIterator[FakeVenue]:
    async with FakeVenue() as running:
        yield running


class Sink:
    """Records the events a feed hands on; optionally checks each against the feed's book."""

    def __init__(self) -> None:
        self.events: list[FeedEvent] = []
        self.feed: MarketFeed | None = None
        self.violations: list[str] = []

    def __call__(self, event: FeedEvent) -> None:
        self.events.append(event)
        if self.feed is not None:
            self._check_applied(self.feed, event)

    def _check_applied(self, feed: MarketFeed, event: FeedEvent) -> None:
        """The book must already reflect the event the sink is handed."""
        if isinstance(event, PriceChange):
            final: dict[tuple[str, Side, Decimal], Decimal] = {}
            for change in event.changes:
                final[(change.asset_id, change.side, change.price)] = change.size
            for (asset, side, price), size in final.items():
                book = feed.book(asset)
                if book is None or book.awaiting_snapshot:
                    continue
                levels = {
                    level.price: level.size for level in (book.bids() if side is Side.BUY else book.asks())
                }
                if levels.get(price, Decimal(0)) != size:
                    self.violations.append(f"{asset[:6]} {side} {price}: book {levels.get(price)} != {size}")
        elif isinstance(event, BookSnapshot) and (book := feed.book(event.asset_id)) is not None:
            bids = sorted(
                (level for level in event.bids if level.size), key=lambda lv: lv.price, reverse=True
            )
            if book.bids() != bids:
                self.violations.append(f"snapshot {event.asset_id[:6]} not applied")

    def count(self, kind: type, asset: str | None = None) -> int:
        return sum(1 for e in self.events if isinstance(e, kind) and (asset is None or asset in assets_of(e)))


def assets_of(event: FeedEvent) -> set[str]:
    if isinstance(event, PriceChange):
        return {change.asset_id for change in event.changes}
    return {getattr(event, "asset_id", "")}


@contextlib.asynccontextmanager
async def running(feed: MarketFeed) -> AsyncIterator[MarketFeed]:
    task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make_feed(url: str, sink: Callable[[FeedEvent], None] | None = None, **options: Any) -> MarketFeed:
    options.setdefault("policy", FAST)
    options.setdefault("rng", random.Random(1))
    feed = MarketFeed(url, sink if sink is not None else Sink(), **options)
    if isinstance(sink, Sink):
        sink.feed = feed
    return feed


def trusted(feed: MarketFeed, tokens: Iterable[str]) -> bool:
    return all((book := feed.book(t)) is not None and book.trusted for t in tokens)


def book_of(feed: MarketFeed, token: str) -> OrderBook:
    book = feed.book(token)
    assert book is not None, f"{token} is not subscribed"
    return book


def reason(feed: MarketFeed, token: str) -> UntrustedReason | None:
    return book_of(feed, token).untrusted_reason


def token_status(feed: MarketFeed, token: str) -> dict[str, Any]:
    tokens: Any = feed.status()["tokens"]
    return dict(tokens[token])


# --- subscriptions -----------------------------------------------------------------------------


async def test_first_frame_lists_every_token_then_changes_send_only_the_difference(venue: FakeVenue) -> None:
    feed = make_feed(venue.url)
    await feed.subscribe([A, B, A], tick_sizes={A: Decimal("0.01")})
    book_a = feed.book(A)
    assert book_a is not None
    assert book_a.tick_size == Decimal("0.01")
    assert not book_a.trusted  # nothing received yet
    async with running(feed):
        await eventually(lambda: trusted(feed, [A, B]))
        assert venue.last.received == [
            {"type": "market", "assets_ids": [A, B], "custom_feature_enabled": True}
        ]

        await feed.subscribe([B, C])
        await feed.unsubscribe([A, "unknown"])
        await eventually(lambda: len(venue.last.received) == 3)
        assert venue.last.received[1:] == [
            {"operation": "subscribe", "assets_ids": [C], "custom_feature_enabled": True},
            {"operation": "unsubscribe", "assets_ids": [A], "custom_feature_enabled": True},
        ]
        assert feed.book(A) is None
        assert set(feed.books()) == {B, C} == feed.subscribed()
        assert reason(feed, C) is UntrustedReason.NO_SNAPSHOT  # the venue has no book for it

        await feed.subscribe([A])  # a token can come back after it was dropped
        await eventually(lambda: len(venue.last.received) == 4)
        assert venue.last.received[-1] == {
            "operation": "subscribe",
            "assets_ids": [A],
            "custom_feature_enabled": True,
        }
        await eventually(lambda: trusted(feed, [A]))


async def test_nothing_is_sent_before_the_first_token(venue: FakeVenue) -> None:
    feed = make_feed(venue.url, ping_interval_s=0.05)
    async with running(feed):
        await eventually(lambda: venue.connections and venue.last.pings >= 2)
        assert venue.last.received == []
        assert feed.stale_after() is None  # no token, no data expected
        await feed.subscribe([A])
        await eventually(lambda: trusted(feed, [A]))
        assert venue.last.received == [{"type": "market", "assets_ids": [A], "custom_feature_enabled": True}]
        assert feed.stats.errors == 0  # PONG replies are not data


async def test_a_socket_that_stops_answering_ping_is_replaced(venue: FakeVenue) -> None:
    feed = make_feed(venue.url, ping_interval_s=0.05, keepalive_timeout_s=0.2)
    await feed.subscribe([A])
    async with running(feed):
        await eventually(lambda: trusted(feed, [A]))
        venue.answer_pings = False
        await eventually(lambda: feed.stats.reconnects >= 1)
        assert feed.stats.last_disconnect_reason.startswith("keepalive")
        venue.answer_pings = True
        await eventually(lambda: trusted(feed, [A]))
        assert venue.last.received == [{"type": "market", "assets_ids": [A], "custom_feature_enabled": True}]


async def test_bad_token_ids_are_refused() -> None:
    feed = make_feed("ws://127.0.0.1:9/ws/market")
    with pytest.raises(ValueError, match="token id"):
        await feed.subscribe([A, ""])
    assert feed.subscribed() == frozenset()
    with pytest.raises(ValueError, match="stale_token_after_s"):
        MarketFeed("ws://127.0.0.1:9", Sink(), stale_token_after_s=0)


# --- trust across reconnects -------------------------------------------------------------------


async def test_a_reconnect_resubscribes_everything_and_books_wait_for_fresh_snapshots(
    venue: FakeVenue,
) -> None:
    feed = make_feed(venue.url)
    await feed.subscribe([A, B])
    async with running(feed):
        await eventually(lambda: trusted(feed, [A, B]))
        venue.snapshot_on_subscribe = False
        await venue.drop()
        await eventually(lambda: len(venue.connections) == 2 and venue.last.received)
        assert venue.last.received == [
            {"type": "market", "assets_ids": [A, B], "custom_feature_enabled": True}
        ]
        assert reason(feed, A) is reason(feed, B) is UntrustedReason.RECONNECT
        # Updates keep applying to the old levels, but only a snapshot restores trust.
        await venue.last.send(venue.level(A, "0.49", "7", best_bid="0.49", best_ask="0.52"))
        await eventually(lambda: token_status(feed, A)["events"] == 2)
        assert reason(feed, A) is UntrustedReason.RECONNECT
        await venue.last.send(venue.book(A))
        await eventually(lambda: trusted(feed, [A]))
        assert reason(feed, B) is UntrustedReason.RECONNECT
        await venue.last.send([venue.book(B)])
        await eventually(lambda: trusted(feed, [B]))
        assert feed.stats.reconnects == 1


async def test_a_tick_size_change_fetches_a_fresh_snapshot(venue: FakeVenue) -> None:
    feed = make_feed(venue.url)
    await feed.subscribe([A, B])
    async with running(feed):
        await eventually(lambda: trusted(feed, [A, B]))
        venue.snapshot_on_subscribe = False
        tick = {
            "event_type": "tick_size_change",
            "asset_id": A,
            "market": MARKET,
            "old_tick_size": "0.01",
            "new_tick_size": "0.001",
            "timestamp": venue.next_ts(),
        }
        await venue.last.send(tick)
        await eventually(lambda: len(venue.last.received) == 3)
        assert venue.last.received[1:] == [
            {"operation": "unsubscribe", "assets_ids": [A], "custom_feature_enabled": True},
            {"operation": "subscribe", "assets_ids": [A], "custom_feature_enabled": True},
        ]
        book_a = feed.book(A)
        assert book_a is not None
        assert book_a.awaiting_snapshot
        assert book_a.tick_size == Decimal("0.001")
        await venue.last.send([venue.book(A)])
        await eventually(lambda: trusted(feed, [A]))
        assert feed.status()["resnapshots"] == 1


async def test_a_malformed_level_distrusts_the_book_and_fetches_a_snapshot(venue: FakeVenue) -> None:
    feed = make_feed(venue.url, resnapshot_interval_s=0.0)
    await feed.subscribe([A, B])
    async with running(feed):
        await eventually(lambda: trusted(feed, [A, B]))
        await venue.last.send(venue.level(A, "NaN", "5"))
        # The fresh snapshot (the fake venue sends one on the resubscription) restores trust.
        await eventually(lambda: feed.status()["resnapshots"] == 1 and trusted(feed, [A]))
        assert feed.stats.error_kinds["bad_price"] == 1
        assert venue.last.received[1]["operation"] == "unsubscribe"


async def test_a_book_that_diverges_from_the_venue_fetches_a_snapshot(venue: FakeVenue) -> None:
    feed = make_feed(venue.url, resnapshot_interval_s=0.0)
    await feed.subscribe([A, B])
    async with running(feed):
        await eventually(lambda: trusted(feed, [A, B]))
        venue.snapshot_on_subscribe = False
        # The venue says its best bid is 0.47 after this update; ours is 0.49: we missed something.
        await venue.last.send(venue.level(A, "0.49", "3", best_bid="0.47", best_ask="0.52"))
        await eventually(lambda: reason(feed, A) is UntrustedReason.DIVERGED)
        await eventually(lambda: len(venue.last.received) == 3)
        await venue.last.send([venue.book(A)])
        await eventually(lambda: trusted(feed, [A]))


# --- the silence watchdog ----------------------------------------------------------------------


async def _talk(venue: FakeVenue, asset: str, stop: asyncio.Event) -> None:
    """The venue's steady stream of updates for one token (on whichever connection is current)."""
    size = 1
    while not stop.is_set():
        size = size % 50 + 1
        if venue.connections:
            await venue.last.send(venue.level(asset, "0.45", str(size), best_bid="0.48", best_ask="0.52"))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.03)


@contextlib.asynccontextmanager
async def talking(venue: FakeVenue, asset: str) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(_talk(venue, asset, stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def test_a_token_silent_while_others_talk_forces_a_reconnect(venue: FakeVenue) -> None:
    feed = make_feed(venue.url, stale_token_after_s=0.3, first_snapshot_grace_s=0.5)
    await feed.subscribe([A, B])
    async with running(feed):
        await eventually(lambda: trusted(feed, [A, B]))
        async with talking(venue, A):
            await eventually(lambda: feed.stats.stale_reconnects >= 1, within=5)
            assert feed.stats.last_disconnect_reason.startswith("stale:")
            assert B[:12] in feed.stats.last_disconnect_reason
            await eventually(lambda: len(venue.connections) >= 2 and venue.connections[1].received)
            assert venue.connections[1].received[0] == {
                "type": "market",
                "assets_ids": [A, B],
                "custom_feature_enabled": True,
            }
            # B was only quiet: its limit doubled so it stops costing reconnects; A's did not.
            tokens: Any = feed.status()["tokens"]
            assert tokens[B]["silence_limit_s"] >= 0.55
            assert tokens[A]["silence_limit_s"] < tokens[B]["silence_limit_s"]


async def test_a_silent_socket_is_dropped_and_limits_stay_tight(venue: FakeVenue) -> None:
    feed = make_feed(venue.url, stale_token_after_s=0.3, first_snapshot_grace_s=0.5)
    await feed.subscribe([A, B])
    async with running(feed):
        await eventually(lambda: trusted(feed, [A, B]))
        venue.snapshot_on_subscribe = False
        await eventually(lambda: feed.stats.stale_reconnects >= 1, within=5)
        # Every token fell silent at once: the socket, not the books. Limits are unchanged.
        assert reason(feed, A) is reason(feed, B) is UntrustedReason.STALE
        tokens: Any = feed.status()["tokens"]
        assert tokens[A]["silence_limit_s"] == tokens[B]["silence_limit_s"] == pytest.approx(0.3)
        venue.snapshot_on_subscribe = True
        await eventually(lambda: trusted(feed, [A, B]), within=5)  # a later connection's snapshots


async def test_a_token_that_never_delivers_stops_forcing_reconnects(venue: FakeVenue) -> None:
    feed = make_feed(venue.url, stale_token_after_s=0.3, first_snapshot_grace_s=0.1)
    await feed.subscribe([A, C])  # the venue has no book for C
    async with running(feed), talking(venue, A):
        await eventually(lambda: token_status(feed, C)["unresponsive"], within=10)
        reconnects = feed.stats.reconnects
        # Each watchdog firing forces a reconnect; one that fires while the socket is already
        # reconnecting is absorbed (nothing to drop), so count at least one real stale drop.
        assert feed.stats.stale_reconnects >= 1
        events = token_status(feed, A)["events"]
        # A keeps talking for several of C's old limits: no more reconnects because of C.
        await eventually(lambda: token_status(feed, A)["events"] >= events + 30, within=10)
        assert feed.stats.reconnects == reconnects
        assert reason(feed, C) is UntrustedReason.NO_SNAPSHOT
        assert trusted(feed, [A])


# --- the sink ----------------------------------------------------------------------------------


async def test_the_sink_sees_applied_events_and_its_failures_never_stop_the_feed(venue: FakeVenue) -> None:
    calls = 0

    def failing_sink(event: FeedEvent) -> None:
        nonlocal calls
        calls += 1
        if calls % 2:
            raise RuntimeError("engine bug")

    feed = make_feed(venue.url, failing_sink)
    await feed.subscribe([A, B])
    async with running(feed):
        await eventually(lambda: trusted(feed, [A, B]))
        for size in range(1, 11):
            await venue.last.send(venue.level(A, "0.47", str(size), best_bid="0.48", best_ask="0.52"))
        await eventually(lambda: calls == 12)  # 2 snapshots + 10 updates
        book_a = feed.book(A)
        assert book_a is not None
        assert [(level.price, level.size) for level in book_a.bids()][:3] == [
            (Decimal("0.48"), Decimal(5)),
            (Decimal("0.47"), Decimal(10)),
            (Decimal("0.40"), Decimal(10)),
        ]
        assert feed.sink_errors == 6
        assert feed.stats.error_kinds["sink_failed"] == 6
        assert trusted(feed, [A, B])


async def test_events_for_tokens_not_subscribed_are_dropped(venue: FakeVenue) -> None:
    sink = Sink()
    feed = make_feed(venue.url, sink)
    await feed.subscribe([A])
    async with running(feed):
        await eventually(lambda: trusted(feed, [A]))
        await venue.last.send(venue.level(B, "0.47", "1"))
        await venue.last.send(venue.level(A, "0.47", "1", best_bid="0.48", best_ask="0.52"))
        await eventually(lambda: sink.count(PriceChange) == 1)
        assert sink.count(PriceChange, B) == 0
        assert feed.status()["unsubscribed_events"] == 1
        assert sink.violations == []


# --- against the simulator ---------------------------------------------------------------------


async def rest_top(http: aiohttp.ClientSession, sim: RunningSimulator, token: str) -> tuple[Any, Any]:
    async with http.get(f"{sim.clob_host}/book", params={"token_id": token}) as response:
        body = await response.json()
    # Wire order: the best level is the last element on both sides.
    bid = (Decimal(body["bids"][-1]["price"]), Decimal(body["bids"][-1]["size"])) if body["bids"] else None
    ask = (Decimal(body["asks"][-1]["price"]), Decimal(body["asks"][-1]["size"])) if body["asks"] else None
    return bid, ask


async def matches_rest(
    http: aiohttp.ClientSession, sim: RunningSimulator, feed: MarketFeed, token: str
) -> bool:
    """Our book is trusted and its best levels (price and size) are the venue's REST book's."""
    book = book_of(feed, token)
    return book.trusted and our_top(book) == await rest_top(http, sim, token)


def our_top(book: OrderBook) -> tuple[Any, Any]:
    bid, ask = book.best_bid(), book.best_ask()
    return (None if bid is None else (bid.price, bid.size)), (None if ask is None else (ask.price, ask.size))


NUDGE_PRICE = Decimal("0.01")


async def nudge(sim: RunningSimulator, token: str, size: int = 7) -> None:
    """Make the market channel speak now: a background bid far below the market."""
    order = {"account": "test-nudger", "token_id": token, "side": "BUY", "price": "0.01", "size": str(size)}
    await sim_admin(sim, "POST", "/orders", order)


def has_level(event: FeedEvent, token: str, price: Decimal) -> bool:
    return isinstance(event, PriceChange) and any(
        c.asset_id == token and c.price == price for c in event.changes
    )


def sim_tokens(sim: RunningSimulator, *assets: str) -> list[str]:
    tokens: list[str] = []
    for asset in assets:
        market = current_market(sim, asset)
        tokens += [market.up_token_id, market.down_token_id]
    return tokens


async def test_books_match_the_venue_and_follow_markets_as_they_roll(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    sink = Sink()
    settings = Settings().with_simulator_urls(sim.base_url)
    feed = MarketFeed.from_settings(settings, sink, stale_token_after_s=2.0, policy=FAST)
    sink.feed = feed
    btc, eth = sim_tokens(sim, "btc"), sim_tokens(sim, "eth")
    await feed.subscribe(btc)
    async with running(feed):
        await eventually(lambda: trusted(feed, btc))
        for token in btc:
            await eventually(partial(matches_rest, http, sim, feed, token))

        # The next window: subscribe its tokens, drop the old ones.
        await feed.subscribe(eth)
        await eventually(lambda: trusted(feed, eth))
        await feed.unsubscribe(btc)
        assert feed.subscribed() == frozenset(eth)
        dropped = sum(sink.count(PriceChange, t) for t in btc)
        await nudge(sim, btc[0])
        await nudge(sim, eth[0])
        await eventually(lambda: any(has_level(e, eth[0], NUDGE_PRICE) for e in sink.events))
        assert sum(sink.count(PriceChange, t) for t in btc) == dropped
        assert trusted(feed, eth)
        assert sink.violations == []
        assert feed.stats.errors == 0
        assert feed.stats.reconnects == 0


async def test_a_dropped_socket_resubscribes_and_books_wait_for_fresh_snapshots(
    sim: RunningSimulator,
) -> None:
    feed = make_feed(f"{sim.clob_ws_url}/market", stale_token_after_s=2.0)
    tokens = sim_tokens(sim, "btc")
    await feed.subscribe(tokens)
    async with running(feed):
        await eventually(lambda: trusted(feed, tokens))
        snapshots = [book_of(feed, t).counters.snapshots_applied for t in tokens]
        await sim_admin(sim, "POST", "/faults/ws_drop", {"channels": [WsChannel.MARKET]})
        await nudge(sim, tokens[0])  # the next frame out drops the socket
        # Every connection dies at its first frame while the fault is on: nothing is trusted.
        await eventually(lambda: feed.stats.reconnects >= 2)
        assert all(reason(feed, t) is UntrustedReason.RECONNECT for t in tokens)
        await sim_admin(sim, "DELETE", "/faults/ws_drop")
        await eventually(lambda: trusted(feed, tokens))
        after = [book_of(feed, t).counters.snapshots_applied for t in tokens]
        assert all(a > b for a, b in zip(after, snapshots, strict=True))


async def test_a_silent_freeze_is_caught_by_the_watchdog_and_recovered(sim: RunningSimulator) -> None:
    limit = 1.0
    feed = make_feed(f"{sim.clob_ws_url}/market", stale_token_after_s=limit, first_snapshot_grace_s=limit)
    tokens = sim_tokens(sim, "btc", "eth")
    await feed.subscribe(tokens)
    async with running(feed):
        await eventually(lambda: trusted(feed, tokens))
        await sim_admin(sim, "POST", "/faults/ws_freeze", {"channels": [WsChannel.MARKET]})
        await nudge(sim, tokens[0])  # the next frame out freezes the socket
        started = asyncio.get_running_loop().time()
        await eventually(lambda: feed.stats.stale_reconnects >= 1, within=10)
        # The socket kept answering PING; the per-token watchdog caught it near the limit.
        assert asyncio.get_running_loop().time() - started < 3 * limit + 1
        assert feed.stats.last_disconnect_reason.startswith("stale:")
        assert feed.stats.connects >= 1
        await eventually(lambda: all(reason(feed, t) is UntrustedReason.STALE for t in tokens))
        await sim_admin(sim, "DELETE", "/faults/ws_freeze")
        await eventually(lambda: trusted(feed, tokens), within=10)


async def test_malformed_frames_are_counted_and_never_fatal(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    feed = make_feed(f"{sim.clob_ws_url}/market", stale_token_after_s=2.0, resnapshot_interval_s=0.2)
    tokens = sim_tokens(sim, "btc")
    await feed.subscribe(tokens)
    async with running(feed):
        await eventually(lambda: trusted(feed, tokens))
        await sim_admin(sim, "POST", "/faults/ws_malformed", {"channels": [WsChannel.MARKET]})
        for size in range(5, 10):
            await nudge(sim, tokens[0], size)
        await eventually(lambda: feed.stats.error_kinds["malformed_json"] >= 5)
        await sim_admin(sim, "DELETE", "/faults/ws_malformed")
        # Updates were lost: the next one shows the book diverged from the venue's top (or
        # not, if the top did not move); either way the book ends up like the venue's.
        await nudge(sim, tokens[0], 11)
        await nudge(sim, tokens[1], 11)
        for token in tokens:
            await eventually(partial(matches_rest, http, sim, feed, token), within=10)
        assert feed.stats.reconnects == 0
