"""RtdsFeed against the simulator's RTDS (and small local servers): compact subscriptions,
backfill then updates with exact TWAPs, no duplicates across reconnects, liveness from data,
a silent subscription detected, drops, malformed frames and server errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from polyexec.core.events import FeedEvent, PriceSource, ReferencePrice
from polyexec.sim.app import RunningSimulator
from polyexec.venues.rtds_feed import RtdsFeed, subscribe_message
from polyexec.venues.ws_connection import ReconnectPolicy
from tests.venues.conftest import eventually, sim_admin

FAST = ReconnectPolicy(
    min_interval_s=0.01,
    base_delay_s=0.01,
    max_delay_s=0.1,
    stable_after_s=60.0,
    rejected_delay_s=0.05,
    jitter=0.0,
)


@dataclass
class Collector:
    prices: list[ReferencePrice] = field(default_factory=list)

    def __call__(self, event: FeedEvent) -> None:
        assert isinstance(event, ReferencePrice)
        self.prices.append(event)

    def of(self, asset: str, source: PriceSource) -> list[ReferencePrice]:
        return [p for p in self.prices if p.asset == asset and p.source is source]


@contextlib.asynccontextmanager
async def running(feed: RtdsFeed) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(feed.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def assert_strictly_increasing(sink: Collector) -> None:
    for asset in ("btc", "eth"):
        for source in (PriceSource.CHAINLINK_TWAP_60, PriceSource.CHAINLINK_SPOT):
            times = [p.timestamp_ms for p in sink.of(asset, source)]
            assert times == sorted(set(times)), f"{asset} {source}: duplicate or out-of-order prices"


def test_subscription_filters_are_compact_json() -> None:
    message = orjson.loads(subscribe_message(["btc", "ETH"]))
    assert message["action"] == "subscribe"
    assert [(s["topic"], s["filters"]) for s in message["subscriptions"]] == [
        ("crypto_prices_twap_sixty", '{"symbol":"btc/usd"}'),
        ("crypto_prices_chainlink", '{"symbol":"btc/usd"}'),
        ("crypto_prices_twap_sixty", '{"symbol":"eth/usd"}'),
        ("crypto_prices_chainlink", '{"symbol":"eth/usd"}'),
    ]
    with pytest.raises(ValueError, match="at least one asset"):
        subscribe_message([])


async def test_backfill_then_updates_with_the_exact_settlement_twap(sim: RunningSimulator) -> None:
    sink = Collector()
    feed = RtdsFeed(sim.rtds_ws_url, ["btc", "eth"], sink, policy=FAST)
    async with running(feed):
        # The backfill brings about a minute of history at once; updates follow every second.
        await eventually(lambda: len(sink.of("btc", PriceSource.CHAINLINK_TWAP_60)) >= 61, within=8.0)
        await eventually(lambda: len(sink.of("eth", PriceSource.CHAINLINK_SPOT)) >= 61, within=8.0)
        status = feed.status()
        assert status["errors"] == 0
        assert orjson.loads(orjson.dumps(status)) == status  # plain JSON for /status
    twaps = sink.of("btc", PriceSource.CHAINLINK_TWAP_60)
    assert twaps[-1].timestamp_ms - twaps[0].timestamp_ms >= 60_000
    underlying = sim.simulator.driver.underlyings["btc"]
    for price in twaps:
        assert price.timestamp_ms % 1000 == 0
        assert price.value == underlying.twap_at(price.timestamp_ms // 1000)  # exact, from the E18 string
    assert_strictly_increasing(sink)
    assert feed.last_price_ms("btc", PriceSource.CHAINLINK_TWAP_60) == twaps[-1].timestamp_ms


async def test_silence_reconnects_and_the_backfill_fills_the_gap_without_duplicates(
    sim: RunningSimulator,
) -> None:
    sink = Collector()
    feed = RtdsFeed(sim.rtds_ws_url, ["btc", "eth"], sink, policy=FAST, stale_after_s=1.5)
    async with running(feed):
        await eventually(lambda: len(sink.of("btc", PriceSource.CHAINLINK_TWAP_60)) >= 61, within=8.0)
        await sim_admin(sim, "POST", "/faults/ws_freeze", {"channels": ["rtds"]})
        await eventually(lambda: feed.stats.stale_reconnects >= 1, within=5.0)
        frozen_at = len(sink.of("btc", PriceSource.CHAINLINK_TWAP_60))
        await sim_admin(sim, "DELETE", "/faults/ws_freeze")
        await eventually(
            lambda: len(sink.of("btc", PriceSource.CHAINLINK_TWAP_60)) > frozen_at + 1, within=8.0
        )
        assert feed.already_seen > 0  # the new backfill overlapped what was delivered
    assert_strictly_increasing(sink)
    seconds = [p.timestamp_ms // 1000 for p in sink.of("btc", PriceSource.CHAINLINK_TWAP_60)]
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "the reconnect left a gap"


async def test_drops_reconnect_and_resubscribe(sim: RunningSimulator) -> None:
    sink = Collector()
    feed = RtdsFeed(sim.rtds_ws_url, ["btc"], sink, policy=FAST)
    async with running(feed):
        await eventually(lambda: len(sink.prices) >= 2)
        await sim_admin(sim, "POST", "/faults/ws_drop", {"channels": ["rtds"]})
        await eventually(lambda: feed.stats.reconnects >= 2)
        await sim_admin(sim, "DELETE", "/faults/ws_drop")
        before = feed.last_price_ms("btc", PriceSource.CHAINLINK_TWAP_60) or 0
        await eventually(
            lambda: (feed.last_price_ms("btc", PriceSource.CHAINLINK_TWAP_60) or 0) > before, within=5.0
        )
    assert feed.stats.connects >= 3


async def test_malformed_frames_are_counted_and_skipped(sim: RunningSimulator) -> None:
    sink = Collector()
    feed = RtdsFeed(sim.rtds_ws_url, ["btc"], sink, policy=FAST)
    async with running(feed) as task:
        await sim_admin(sim, "POST", "/faults/ws_malformed", {"channels": ["rtds"], "rate": 0.5})
        await eventually(
            lambda: feed.stats.error_kinds["malformed"] >= 2 and len(sink.prices) >= 2, within=8.0
        )
        assert not task.done()
        assert feed.stats.connects == 1


# --- local servers: a silent subscription, a refused topic -----------------------------------


def chainlink_update(second: int) -> str:
    payload = {"symbol": "btc/usd", "timestamp": second * 1000, "value": 67000.5}
    return orjson.dumps(
        {"payload": payload, "timestamp": 1, "topic": "crypto_prices_chainlink", "type": "update"}
    ).decode()


@contextlib.asynccontextmanager
async def local_rtds(
    handler_frames: list[str], then_every: float | None
) -> AsyncIterator[tuple[str, list[str]]]:
    """A server that records what clients send, answers the subscription with ``handler_frames``
    and then sends a new Chainlink spot update every ``then_every`` seconds."""
    received: list[str] = []

    async def handler(connection: ServerConnection) -> None:
        received.append(str(await connection.recv()))
        for frame in handler_frames:
            await connection.send(frame)
        second = 1_760_000_000
        while then_every is not None:
            second += 1
            await connection.send(chainlink_update(second))
            await asyncio.sleep(then_every)
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}", received


async def test_one_silent_subscription_forces_a_reconnect() -> None:
    # Chainlink spot flows, the TWAP never comes: the connection is alive but half-blind.
    async with local_rtds([], then_every=0.05) as (url, received):
        sink = Collector()
        feed = RtdsFeed(url, ["btc"], sink, policy=FAST, stale_after_s=0.5)
        async with running(feed):
            await eventually(lambda: feed.stats.stale_reconnects >= 1)
            assert "chainlink_twap_60" in feed.stats.last_disconnect_reason
            await eventually(lambda: len(received) >= 2)  # resubscribed on the new connection
    assert received[0] == subscribe_message(["btc"])
    assert sink.of("btc", PriceSource.CHAINLINK_SPOT)


async def test_a_refused_subscription_is_counted() -> None:
    refusal = '{"statusCode":401,"body":{"message":"Unauthorized: topic not found"}}'
    async with local_rtds([refusal, "garbage"], then_every=None) as (url, _received):
        feed = RtdsFeed(url, ["btc"], Collector(), policy=FAST)
        async with running(feed):
            await eventually(lambda: feed.server_errors == 1 and feed.stats.errors == 2)
            status = feed.status()
    assert status["error_kinds"] == {"server_error": 1, "malformed": 1}
    assert not feed.connected  # the runner closed its socket when the feed was cancelled


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="stale_after_s"):
        RtdsFeed("ws://127.0.0.1:1", ["btc"], print, stale_after_s=0)
    with pytest.raises(ValueError, match="not an asset name"):
        RtdsFeed("ws://127.0.0.1:1", ["btc/usd"], print)
