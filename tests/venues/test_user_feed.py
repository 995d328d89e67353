"""UserFeed: deduplication and ordering (frames fed directly), then the real simulator.

Against the simulator a throwaway wallet derives an API key over L1, places signed orders over
REST with the real :class:`ClobClient`, and a simulator-internal account trades against them.
Faults: duplicated and reordered user events, ghost fills, dropped sockets (the gap is filled by
the REST resync exactly once), malformed frames; and a peer that stops answering keepalives.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from polyexec.core.events import FeedEvent, UserOrderEvent, UserOrderEventKind, UserTradeEvent
from polyexec.core.models import Liquidity, OrderType, Side, TradeStatus
from polyexec.core.order_state import TRADE_STATUS_SUCCESSORS
from polyexec.sim.app import RunningSimulator
from polyexec.sim.contracts import SimMarket
from polyexec.venues.auth import ApiCredentials
from polyexec.venues.clob_client import ClobClient
from polyexec.venues.http_transport import ClobTransport
from polyexec.venues.order_factory import limit_order
from polyexec.venues.order_signer import OrderSigner
from polyexec.venues.user_feed import UserFeed, rest_resync_events, user_channel_url
from polyexec.venues.user_messages import UserEvent, parse_trade
from polyexec.venues.ws_connection import ReconnectPolicy
from tests.venues.conftest import add_market, eventually, sim_admin
from tests.venues.test_user_messages import ws_order, ws_trade

CREDENTIALS = ApiCredentials("00000000-0000-0000-0000-000000000001", "c2VjcmV0", "passphrase")
CONDITION = "0x" + "ab" * 32
TOKEN = "1234567890"
FAST = ReconnectPolicy(
    min_interval_s=0.01, base_delay_s=0.01, max_delay_s=0.05, rejected_delay_s=0.3, jitter=0.0
)


# --- frames fed directly: deduplication, ordering, memory ------------------------------------


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def trade_frame(trade_id: str, status: str, *, match_time: int = 1_767_225_600) -> str:
    times = {"match_time": str(match_time), "last_update": str(match_time + 1)}
    return orjson.dumps(ws_trade(id=trade_id, status=status, market=CONDITION, **times)).decode()


def order_frame(order_id: str, kind: str, status: str, matched: str = "0") -> str:
    fields = {"id": order_id, "type": kind, "status": status, "size_matched": matched}
    return orjson.dumps(ws_order(market=CONDITION, **fields)).decode()


def offline_feed(**options: Any) -> tuple[UserFeed, list[FeedEvent]]:
    events: list[FeedEvent] = []
    return UserFeed("ws://127.0.0.1:9/ws/user", CREDENTIALS, events.append, **options), events


def statuses(events: Sequence[FeedEvent], trade_id: str | None = None) -> list[str]:
    return [e.status for e in events if isinstance(e, UserTradeEvent) and trade_id in (None, e.trade_id)]


def test_trade_statuses_pass_once_and_never_backwards() -> None:
    feed, events = offline_feed()
    for wire in ["MATCHED", "MATCHED", "MINED", "MATCHED", "CONFIRMED", "MINED", "CONFIRMED"]:
        feed.on_message(trade_frame("t1", wire), received_at=0.0)
    # t2 is first seen MINED (its MATCHED held back): the late MATCHED would be a step back.
    for wire in ["MINED", "MATCHED", "CONFIRMED", "MATCHED"]:
        feed.on_message(trade_frame("t2", wire), received_at=0.0)
    assert statuses(events, "t1") == ["MATCHED", "MINED", "CONFIRMED"]
    assert statuses(events, "t2") == ["MINED", "CONFIRMED"]
    status = feed.status()
    assert (status["duplicate_trades"], status["stale_trades"]) == (4, 2)
    assert orjson.loads(orjson.dumps(status)) == status  # plain JSON for /status


def test_retrying_may_go_back_to_mined() -> None:
    feed, events = offline_feed()
    for status in ["MATCHED", "RETRYING", "MINED", "CONFIRMED"]:
        feed.on_message(trade_frame("t1", status), received_at=0.0)
    # A MINED seen before RETRYING is the same (trade, status) pair: not passed on twice.
    for status in ["MATCHED", "MINED", "RETRYING", "MINED", "FAILED"]:
        feed.on_message(trade_frame("t2", status), received_at=0.0)
    assert statuses(events, "t1") == ["MATCHED", "RETRYING", "MINED", "CONFIRMED"]
    assert statuses(events, "t2") == ["MATCHED", "MINED", "RETRYING", "FAILED"]


def test_first_status_seen_may_be_any_and_a_contradiction_is_passed_on_once() -> None:
    feed, events = offline_feed()
    feed.on_message(trade_frame("t1", "CONFIRMED"), received_at=0.0)
    feed.on_message(trade_frame("t1", "FAILED"), received_at=0.0)
    feed.on_message(trade_frame("t1", "FAILED"), received_at=0.0)
    feed.on_message(trade_frame("t1", "CONFIRMED"), received_at=0.0)
    assert statuses(events) == ["CONFIRMED", "FAILED"]
    assert feed.status()["contradicting_trades"] == 1


def test_identical_order_events_pass_once() -> None:
    feed, events = offline_feed()
    frames = [
        order_frame("o1", "PLACEMENT", "LIVE"),
        order_frame("o1", "PLACEMENT", "LIVE"),
        order_frame("o1", "UPDATE", "LIVE", "4"),
        order_frame("o1", "UPDATE", "LIVE", "4"),
        order_frame("o1", "CANCELLATION", "CANCELED", "4"),
    ]
    for frame in frames:
        feed.on_message(frame, received_at=0.0)
    kinds = [(e.kind, e.size_matched) for e in events if isinstance(e, UserOrderEvent)]
    assert kinds == [
        (UserOrderEventKind.PLACEMENT, Decimal(0)),
        (UserOrderEventKind.UPDATE, Decimal(4)),
        (UserOrderEventKind.CANCELLATION, Decimal(4)),
    ]
    assert feed.status()["duplicate_orders"] == 2
    assert feed.open_order_ids() == []


def test_array_frames_bad_elements_and_a_failing_sink_are_counted() -> None:
    received: list[FeedEvent] = []

    def sink(event: FeedEvent) -> None:
        received.append(event)
        if isinstance(event, UserOrderEvent):
            raise RuntimeError("consumer bug")

    feed = UserFeed("ws://127.0.0.1:9/ws/user", CREDENTIALS, sink)
    frame = (
        "["
        + ",".join([order_frame("o1", "PLACEMENT", "LIVE"), '{"event_type":"x"}', trade_frame("t1", "MINED")])
        + "]"
    )
    feed.on_message(frame, received_at=0.0)
    feed.on_message("not json", received_at=0.0)
    assert [type(e) for e in received] == [UserOrderEvent, UserTradeEvent]
    assert dict(feed.stats.error_kinds) == {"sink_failed": 1, "unknown_event": 1, "malformed": 1}


def test_memory_of_final_trades_and_closed_orders_is_bounded() -> None:
    clock = FakeClock()
    feed, events = offline_feed(clock=clock, retention_s=60.0, max_tracked=3)
    feed.on_message(trade_frame("old", "CONFIRMED"), received_at=0.0)
    feed.on_message(order_frame("o-old", "CANCELLATION", "CANCELED"), received_at=0.0)
    feed.on_message(trade_frame("pending", "MATCHED"), received_at=0.0)
    clock.now += 61
    feed.on_message(trade_frame("new", "MATCHED"), received_at=0.0)
    feed.on_message(order_frame("o-new", "PLACEMENT", "LIVE"), received_at=0.0)
    status = feed.status()
    # The final trade and the closed order were forgotten; the unsettled trade is kept.
    assert (status["tracked_trades"], status["tracked_orders"]) == (2, 1)
    feed.on_message(trade_frame("pending", "MATCHED"), received_at=0.0)
    assert statuses(events, "pending") == ["MATCHED"]
    # The cap holds whatever the state.
    for index in range(10):
        feed.on_message(trade_frame(f"burst-{index}", "MATCHED"), received_at=0.0)
    assert feed.status()["tracked_trades"] == 3
    assert feed.open_order_ids() == ["o-new"]


def test_resync_since_covers_the_gap_and_unsettled_trades() -> None:
    wall = FakeClock(1_767_225_700.0)
    feed, _ = offline_feed(wall_clock=wall, resync_margin_s=10.0)
    assert feed.resync_since_s() == 1_767_225_690
    feed.on_message(trade_frame("t1", "MATCHED", match_time=1_767_225_600), received_at=0.0)
    assert feed.resync_since_s() == 1_767_225_590  # MINED/CONFIRMED of t1 may still come
    feed.on_message(trade_frame("t1", "CONFIRMED", match_time=1_767_225_600), received_at=0.0)
    feed.on_close("closed: 1006")
    wall.now += 30
    assert feed.resync_since_s() == 1_767_225_690  # from the start of the gap, not now
    assert not feed.synced


@dataclass
class FakeOrder:
    order_id: str
    status: str
    condition_id: str = CONDITION
    token_id: str = TOKEN
    side: Side = Side.BUY
    price: Decimal = Decimal("0.5")
    original_size: Decimal = Decimal(10)
    size_matched: Decimal = Decimal(0)
    order_type: str = "GTC"
    created_at_ms: int = 1_767_225_600_000


@dataclass
class FakeClient:
    open_orders: dict[str, list[FakeOrder]]
    orders: dict[str, FakeOrder]
    trades: list[UserTradeEvent]
    calls: list[tuple[str, object]] = field(default_factory=list)

    async def get_open_orders(self, *, condition_id: str = "") -> list[FakeOrder]:
        self.calls.append(("open_orders", condition_id))
        return self.open_orders.get(condition_id, [])

    async def get_order(self, order_id: str) -> FakeOrder | None:
        self.calls.append(("order", order_id))
        return self.orders.get(order_id)

    async def get_trades(self, *, condition_id: str = "", after_s: int | None = None) -> list[UserTradeEvent]:
        self.calls.append(("trades", (condition_id, after_s)))
        return [t for t in self.trades if t.condition_id == condition_id]


def _trade(trade_id: str, match_time_ms: int, condition_id: str = CONDITION) -> UserTradeEvent:
    event = parse_trade(ws_trade(id=trade_id, market=condition_id), rest=False)
    return replace(event, match_time_ms=match_time_ms)


async def test_rest_resync_events_reads_open_orders_trades_and_orders_gone_from_the_open_list() -> None:
    other = "0x" + "cd" * 32
    client = FakeClient(
        open_orders={CONDITION: [FakeOrder("live", "LIVE")], other: []},
        orders={"filled": FakeOrder("filled", "ORDER_STATUS_MATCHED", size_matched=Decimal(10))},
        trades=[_trade("late", 2_000), _trade("early", 1_000, other)],
    )
    events = await rest_resync_events(
        client,
        [CONDITION, other, CONDITION],
        1_767_225_000,
        known_open_order_ids=["live", "filled", "vanished"],
    )
    summary = [
        (e.order_id, e.kind, e.status) if isinstance(e, UserOrderEvent) else e.trade_id for e in events
    ]
    assert summary == [
        ("live", UserOrderEventKind.PLACEMENT, "LIVE"),
        ("filled", UserOrderEventKind.UPDATE, "MATCHED"),
        "early",  # trades oldest first
        "late",
    ]
    assert ("trades", (CONDITION, 1_767_225_000)) in client.calls
    assert ("order", "live") not in client.calls  # still open: no need to ask
    assert ("order", "vanished") in client.calls  # unknown to the venue: nothing to report


async def test_rest_resync_without_markets_asks_for_every_market() -> None:
    client = FakeClient(open_orders={}, orders={}, trades=[])
    assert await rest_resync_events(client, [], 5) == []
    assert client.calls == [("open_orders", ""), ("trades", ("", 5))]


def test_user_channel_url() -> None:
    assert user_channel_url("wss://ws-subscriptions-clob.polymarket.com/ws/") == (
        "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    )


# --- against the simulator ----------------------------------------------------------------------


@dataclass
class Trading:
    """A funded throwaway wallet with an API key on the simulator, and a counterparty."""

    running: RunningSimulator
    market: SimMarket
    client: ClobClient
    signer: OrderSigner
    credentials: ApiCredentials

    async def place(
        self,
        side: Side,
        price: str,
        size: str,
        order_type: OrderType = OrderType.GTC,
        token: str | None = None,
    ) -> str:
        signed = limit_order(
            self.signer,
            token_id=token or self.market.up_token_id,
            side=side,
            price=Decimal(price),
            size=Decimal(size),
            tick_size=self.market.tick_size,
            neg_risk=False,
            timestamp_ms=int(time.time() * 1000),
        )
        result = await self.client.post_order(signed, order_type)
        assert result.success, result
        return result.order_id

    async def counterparty(self, side: Side, price: str, size: str, token: str | None = None) -> None:
        """An order of a simulator-internal account (no taker delay) that trades with ours."""
        body = {
            "account": "counterparty",
            "token_id": token or self.market.up_token_id,
            "side": side.value,
            "price": price,
            "size": size,
        }
        await sim_admin(self.running, "POST", "/orders", body)


@pytest.fixture
async def trading(exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str) -> Trading:
    market = add_market(exchange_sim, "btc")
    signer = OrderSigner(trader_key)
    client = ClobClient(ClobTransport(exchange_sim.clob_host, session=http), signer=signer)
    credentials = await client.create_or_derive_api_key()
    client.use_credentials(credentials)
    return Trading(exchange_sim, market, client, signer, credentials)


def _user_sockets(running: RunningSimulator, credentials: ApiCredentials) -> list[Any]:
    # Test-only peek at the simulator's hub: which user sockets have processed a subscription.
    hub = running.simulator.hub
    return [c for c in hub._connections if c.owner == credentials.api_key]


@contextlib.asynccontextmanager
async def live_feed(
    trading: Trading, markets: Sequence[str] | None = None, **options: Any
) -> AsyncIterator[tuple[UserFeed, list[FeedEvent]]]:
    events: list[FeedEvent] = []
    options.setdefault("policy", FAST)
    feed = UserFeed(
        user_channel_url(trading.running.clob_ws_url), trading.credentials, events.append, **options
    )
    feed.use_rest_resync(trading.client)
    await feed.subscribe(markets if markets is not None else [trading.market.condition_id])
    task = asyncio.create_task(feed.run())
    try:
        await subscribed(trading, feed, connections=1)
        yield feed, events
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def subscribed(trading: Trading, feed: UserFeed, connections: int) -> None:
    """Wait until the feed's ``connections``-th connection is subscribed at the simulator."""

    def ready() -> bool:
        sockets = _user_sockets(trading.running, trading.credentials)
        return (
            feed.stats.connects >= connections
            and len(sockets) == 1
            and sockets[0].markets == set(feed.condition_ids)
        )

    await eventually(ready)


def trades_of(events: Sequence[FeedEvent], order_id: str) -> list[UserTradeEvent]:
    return [
        e
        for e in events
        if isinstance(e, UserTradeEvent)
        and (e.taker_order_id == order_id or any(m.order_id == order_id for m in e.maker_orders))
    ]


def orders_of(events: Sequence[FeedEvent], order_id: str) -> list[UserOrderEvent]:
    return [e for e in events if isinstance(e, UserOrderEvent) and e.order_id == order_id]


def confirmed(events: Sequence[FeedEvent], order_id: str) -> bool:
    return TradeStatus.CONFIRMED in [t.status for t in trades_of(events, order_id)]


def assert_each_pair_once_and_in_order(events: Sequence[FeedEvent]) -> None:
    history: dict[str, list[TradeStatus]] = {}
    for event in events:
        if isinstance(event, UserTradeEvent):
            history.setdefault(event.trade_id, []).append(event.status)
    for trade_id, seen in history.items():
        assert len(seen) == len(set(seen)), f"trade {trade_id} repeated a status: {seen}"
        for before, after in itertools.pairwise(seen):
            assert after in TRADE_STATUS_SUCCESSORS[before], f"trade {trade_id} went {before} → {after}"


async def test_order_lifecycle_and_trade_statuses_as_maker_and_taker(trading: Trading) -> None:
    async with live_feed(trading) as (feed, events):
        resting = await trading.place(Side.BUY, "0.40", "10")
        await eventually(lambda: orders_of(events, resting))
        await trading.counterparty(Side.SELL, "0.40", "4")  # partial fill: we are the maker
        await eventually(
            lambda: [t.status for t in trades_of(events, resting)][-1:] == [TradeStatus.CONFIRMED]
        )
        await trading.client.cancel_order(resting)
        await eventually(lambda: orders_of(events, resting)[-1].kind is UserOrderEventKind.CANCELLATION)

        maker_orders = orders_of(events, resting)
        assert [(o.kind, o.status, o.size_matched) for o in maker_orders] == [
            (UserOrderEventKind.PLACEMENT, "LIVE", Decimal(0)),
            (UserOrderEventKind.UPDATE, "LIVE", Decimal(4)),
            (UserOrderEventKind.CANCELLATION, "CANCELED", Decimal(4)),
        ]
        maker_trades = trades_of(events, resting)
        assert [t.status for t in maker_trades] == [
            TradeStatus.MATCHED,
            TradeStatus.MINED,
            TradeStatus.CONFIRMED,
        ]
        fill = maker_trades[0]
        assert fill.trader_side is Liquidity.MAKER
        assert [(m.order_id, m.matched_amount, m.price) for m in fill.maker_orders] == [
            (resting, Decimal(4), Decimal("0.40"))
        ]

        await trading.counterparty(Side.SELL, "0.45", "5")
        taker = await trading.place(Side.BUY, "0.45", "5", OrderType.FOK)
        await eventually(lambda: [t.status for t in trades_of(events, taker)][-1:] == [TradeStatus.CONFIRMED])
        taken = trades_of(events, taker)[0]
        assert (taken.trader_side, taken.side, taken.size, taken.price) == (
            Liquidity.TAKER,
            Side.BUY,
            Decimal(5),
            Decimal("0.45"),
        )
        assert feed.synced
        assert feed.stats.errors == 0


async def test_markets_are_added_and_removed_on_the_live_socket(trading: Trading) -> None:
    second = add_market(trading.running, "eth")
    first = trading.market
    async with live_feed(trading) as (feed, events):
        hidden = await trading.place(Side.BUY, "0.30", "5", token=second.up_token_id)
        marker = await trading.place(Side.BUY, "0.30", "5")
        await eventually(lambda: orders_of(events, marker))
        # Events reach one socket in order: had the first been sent, it would be here by now.
        assert orders_of(events, hidden) == []

        await feed.subscribe([second.condition_id, first.condition_id])
        await subscribed(trading, feed, connections=1)
        await trading.client.cancel_order(hidden)
        await eventually(lambda: orders_of(events, hidden))

        await feed.unsubscribe([first.condition_id])
        await subscribed(trading, feed, connections=1)
        await trading.client.cancel_order(marker)
        seen = await trading.place(Side.BUY, "0.31", "5", token=second.up_token_id)
        await eventually(lambda: orders_of(events, seen))
        assert [o.kind for o in orders_of(events, marker)] == [UserOrderEventKind.PLACEMENT]
        assert feed.stats.connects == 1


@pytest.mark.parametrize("fault", ["user_duplicate", "user_reorder"])
async def test_duplicated_or_reordered_events_reach_the_sink_once_in_order(
    trading: Trading, fault: str
) -> None:
    await sim_admin(trading.running, "POST", f"/faults/{fault}", {"rate": 1.0})
    async with live_feed(trading) as (feed, events):
        placed: list[str] = []
        for price in ("0.40", "0.41"):
            # One fill at a time: the simulator holds each event behind the next, so the
            # trade's MATCHED reaches us after its MINED.
            order_id = await trading.place(Side.BUY, price, "5")
            placed.append(order_id)
            await trading.counterparty(Side.SELL, price, "5")
            await eventually(partial(confirmed, events, order_id))
        assert_each_pair_once_and_in_order(events)
        for order_id in placed:
            assert [t.status for t in trades_of(events, order_id)].count(TradeStatus.CONFIRMED) == 1
            contents = [(o.status, o.size_matched, o.kind) for o in orders_of(events, order_id)]
            assert len(contents) == len(set(contents))
        status = feed.status()
        if fault == "user_duplicate":
            assert status["duplicate_trades"] != 0
            assert status["duplicate_orders"] != 0
        else:
            assert status["stale_trades"] != 0  # MATCHED held back behind MINED


async def test_ghost_fill_ends_failed_once(trading: Trading) -> None:
    await sim_admin(trading.running, "POST", "/faults/ghost_fills", {"rate": 1.0})
    async with live_feed(trading) as (_, events):
        order_id = await trading.place(Side.BUY, "0.40", "5")
        await trading.counterparty(Side.SELL, "0.40", "5")
        await eventually(lambda: TradeStatus.FAILED in [t.status for t in trades_of(events, order_id)])
        assert [t.status for t in trades_of(events, order_id)].count(TradeStatus.FAILED) == 1
        assert_each_pair_once_and_in_order(events)


async def test_dropped_socket_reconnects_and_rest_resync_fills_the_gap_once(trading: Trading) -> None:
    # A fixed one-second pause before reconnecting: the gap in which everything happens.
    slow = replace(FAST, base_delay_s=1.0, max_delay_s=1.0)
    async with live_feed(trading, policy=slow) as (feed, events):
        filled = await trading.place(Side.BUY, "0.40", "5")
        cancelled = await trading.place(Side.BUY, "0.30", "5")
        await eventually(lambda: orders_of(events, filled) and orders_of(events, cancelled))

        await sim_admin(trading.running, "POST", "/faults/ws_drop", {"channels": ["user"]})
        await trading.counterparty(Side.SELL, "0.40", "5")  # its first user frame kills the socket
        await eventually(lambda: not feed.connected)
        await sim_admin(trading.running, "DELETE", "/faults/ws_drop")
        assert not feed.synced
        await trading.client.cancel_order(cancelled)
        await sim_admin(trading.running, "POST", "/trades/settle")  # CONFIRMED while we are away

        await subscribed(trading, feed, connections=2)
        await eventually(lambda: feed.synced)
        assert [(o.status, o.size_matched) for o in orders_of(events, filled)] == [
            ("LIVE", Decimal(0)),
            ("MATCHED", Decimal(5)),
        ]
        assert [o.status for o in orders_of(events, cancelled)] == ["LIVE", "CANCELED"]
        assert [t.status for t in trades_of(events, filled)] == [TradeStatus.CONFIRMED]
        status = feed.status()
        assert status["resync_events"] == 3
        assert status["reconnects"] == 1
        assert orjson.loads(orjson.dumps(status)) == status  # plain JSON for /status

        # The socket works again, and a second resync of the same state passes nothing on.
        feed.request_resync()
        await eventually(lambda: feed.status()["resync_runs"] == 2)
        assert feed.status()["resync_events"] == 3
        later = await trading.place(Side.BUY, "0.35", "5")
        await eventually(lambda: orders_of(events, later))


async def test_failed_resync_is_retried_until_it_works(trading: Trading) -> None:
    attempts: list[int] = []

    async def flaky() -> list[UserEvent]:
        attempts.append(len(attempts))
        if len(attempts) < 3:
            raise aiohttp.ClientConnectionError("venue down")
        return []

    async with live_feed(trading, resync_retry_s=0.01) as (feed, _):
        feed.resync = flaky
        await sim_admin(trading.running, "POST", "/faults/ws_drop", {"channels": ["user"]})
        await trading.place(Side.BUY, "0.40", "5")
        await eventually(lambda: feed.stats.reconnects >= 1)
        await sim_admin(trading.running, "DELETE", "/faults/ws_drop")
        await eventually(lambda: feed.synced)
        status = feed.status()
        assert status["resync_failures"] == 2
        assert status["last_resync_error"] == "ClientConnectionError"


async def test_malformed_frames_are_counted_and_the_feed_goes_on(trading: Trading) -> None:
    async with live_feed(trading) as (feed, events):
        await sim_admin(trading.running, "POST", "/faults/ws_malformed", {"channels": ["user"]})
        await trading.place(Side.BUY, "0.40", "5")
        await eventually(lambda: feed.stats.error_kinds["malformed"] >= 1)
        await sim_admin(trading.running, "DELETE", "/faults/ws_malformed")
        after = await trading.place(Side.BUY, "0.41", "5")
        await eventually(lambda: orders_of(events, after))
        assert feed.connected


async def test_peer_that_stops_answering_keepalives_is_dropped() -> None:
    subscriptions: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        subscriptions.append(orjson.loads(await connection.recv()))
        connection.transport.pause_reading()  # alive, but no pong ever comes back
        await stop.wait()
        connection.transport.abort()

    async with serve(handler, "127.0.0.1", 0, close_timeout=0.1) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        feed = UserFeed(
            f"ws://127.0.0.1:{port}/ws/user",
            CREDENTIALS,
            lambda _: None,
            policy=FAST,
            keepalive_timeout_s=0.2,
        )
        await feed.subscribe([CONDITION])
        task = asyncio.create_task(feed.run())
        try:
            await eventually(lambda: len(subscriptions) >= 2, within=5.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            stop.set()
    assert subscriptions[0] == {"type": "user", "auth": CREDENTIALS.ws_auth(), "markets": [CONDITION]}
    assert subscriptions[1] == subscriptions[0]  # the full subscription again
    assert feed.stats.reconnects >= 1
    assert not feed.synced  # no resync function: the gap stays open
