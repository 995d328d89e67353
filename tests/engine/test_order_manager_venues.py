"""The order manager against real venues: the simulator over loopback (the real ClobClient, the
real user channel through UserFeed, injected faults) and the paper venue (events from its sink).
Both drive the very same manager: live and paper share one code path."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from polyexec.core.events import BookSnapshot, FeedEvent
from polyexec.core.models import (
    BookLevel,
    CancelIntent,
    CancelScope,
    FeeSchedule,
    Market,
    OrderIntent,
    OrderType,
    Outcome,
    Side,
)
from polyexec.core.order import Order
from polyexec.core.order_book import OrderBook
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.order_state import OrderState
from polyexec.core.portfolio import Portfolio
from polyexec.core.risk import RiskManager
from polyexec.core.risk_limits import RiskLimits
from polyexec.engine.order_manager import OrderManager, OrderManagerConfig, OrderVenue
from polyexec.sim.app import RunningSimulator
from polyexec.sim.contracts import SimMarket
from polyexec.venues.clob_client import ClobClient
from polyexec.venues.http_transport import ClobTransport, RetryPolicy
from polyexec.venues.order_signer import OrderSigner
from polyexec.venues.paper_venue import PaperConfig, PaperVenue
from polyexec.venues.user_feed import UserFeed, user_channel_url
from tests.engine.conftest import add_market, eventually, sim_admin, throwaway_key
from tests.venues.test_user_feed import FAST

D = Decimal


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def no_wait(_seconds: float) -> None:
    """The transport's retry wait, skipped: the tests change the venue, not the time."""


def as_market(sim_market: SimMarket) -> Market:
    return Market(
        asset=sim_market.asset,
        slug=sim_market.slug,
        condition_id=sim_market.condition_id,
        up_token_id=sim_market.up_token_id,
        down_token_id=sim_market.down_token_id,
        window_start=sim_market.window_start,
        window_end=sim_market.window_end,
        tick_size=sim_market.tick_size,
        min_size=sim_market.min_size,
        fee=FeeSchedule(rate=sim_market.fee_rate),
    )


def manager_for(
    venue: OrderVenue, signer: OrderSigner, market: Market, clock_ms: Any, **config: Any
) -> OrderManager:
    return OrderManager(
        venue,
        signer,
        registry=OrderRegistry(),
        portfolio=Portfolio(),
        risk=RiskManager(RiskLimits()),
        market_of={market.condition_id: market}.get,
        clock_ms=clock_ms,
        config=OrderManagerConfig(**config),
    )


@dataclass
class Live:
    """A funded throwaway wallet on the simulator, its client and an order manager."""

    running: RunningSimulator
    market: Market
    client: ClobClient
    manager: OrderManager

    def buy(self, price: str, size: str = "5", order_type: OrderType = OrderType.GTC) -> Order:
        order = self.manager.submit(
            OrderIntent(
                "FV",
                self.market.condition_id,
                self.market.up_token_id,
                Side.BUY,
                D(price),
                D(size),
                order_type,
            )
        )
        assert order is not None
        return order

    def counterparty(self, side: Side, price: str, size: str) -> None:
        """A simulator-internal account's order on our token (no taker delay)."""
        self.running.simulator.exchange.place_background_order(
            "counterparty", self.market.up_token_id, side.value, D(price), D(size)
        )


@contextlib.asynccontextmanager
async def live(
    running: RunningSimulator,
    http: aiohttp.ClientSession,
    key: str,
    *,
    user_channel: bool = True,
    **config: Any,
) -> AsyncIterator[Live]:
    market = as_market(add_market(running, "btc"))
    signer = OrderSigner(key)
    transport = ClobTransport(running.clob_host, session=http, retry=RetryPolicy(sleep=no_wait))
    client = ClobClient(transport, signer=signer)
    credentials = await client.create_or_derive_api_key()
    client.use_credentials(credentials)
    manager = manager_for(client, signer, market, wall_ms, **config)
    rig = Live(running, market, client, manager)
    if not user_channel:
        yield rig
        await manager.drain(5.0)
        return
    feed = UserFeed(user_channel_url(running.clob_ws_url), credentials, manager.on_user_event, policy=FAST)
    await feed.subscribe([market.condition_id])
    task = asyncio.create_task(feed.run())

    def subscribed() -> bool:
        # Test-only peek at the simulator's hub: our socket has processed its subscription.
        hub = running.simulator.hub
        return any(
            c.owner == credentials.api_key and c.markets == {market.condition_id} for c in hub._connections
        )

    try:
        await eventually(subscribed)
        yield rig
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await manager.drain(5.0)


async def test_resting_gtc_is_opened_then_cancelled(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str
) -> None:
    async with live(exchange_sim, http, trader_key) as rig:
        order = rig.buy("0.30")
        assert order.state is OrderState.SUBMITTED
        await eventually(lambda: order.state is OrderState.OPEN)
        assert [o.order_id for o in await rig.client.get_open_orders()] == [order.order_id]
        assert rig.manager.cancel(CancelIntent(CancelScope.ORDER, order_id=order.order_id)) == 1
        await eventually(lambda: order.state is OrderState.CANCELLED)
        assert await rig.client.get_open_orders() == []
        assert rig.manager.status()["accepted"] == 1


async def test_marketable_fok_fills_and_is_confirmed_in_the_portfolio(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str
) -> None:
    async with live(exchange_sim, http, trader_key) as rig:
        rig.counterparty(Side.SELL, "0.40", "50")
        order = rig.buy("0.45", "5", OrderType.FOK)
        token = rig.market.up_token_id
        await eventually(lambda: rig.manager.portfolio.position(token).confirmed_quantity > 0)
        position = rig.manager.portfolio.position(token)
        # The simulator spends the whole dollar leg ($2.25 at 0.40): more shares than signed.
        assert position.quantity == position.confirmed_quantity == D("5.625")
        assert position.cost_basis == D("2.25")
        assert order.state is OrderState.FILLED
        assert rig.manager.status()["inconsistent"] >= 1
        held = await rig.client.get_balance_allowance("CONDITIONAL", token)
        assert held.balance == position.quantity  # the venue's account agrees with the portfolio


async def test_order_the_venue_refuses_is_rejected_and_cools_its_token(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str
) -> None:
    async with live(exchange_sim, http, trader_key) as rig:
        order = rig.buy("0.30", "1")  # under the market's minimum of 5 shares
        await eventually(lambda: order.state is OrderState.REJECTED)
        assert "minimum" in order.reject_reason
        status = rig.manager.risk.status(wall_ms())
        assert order.token_id in status["cooldowns"]
        assert status["losses"]["consecutive_rejects"] == 1


async def test_ambiguous_submits_are_resolved_by_polling(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str
) -> None:
    async with live(exchange_sim, http, trader_key, user_channel=False, poll_after_ms=0) as rig:
        # Placed, then every answer lost: the resends are refused as duplicates, also unanswered.
        await sim_admin(
            rig.running, "POST", "/faults/http_500", {"after": True, "paths": ["/order"], "methods": ["POST"]}
        )
        placed = rig.buy("0.30")
        await rig.manager.drain(5.0)
        assert placed.state is OrderState.SUBMITTED
        await sim_admin(rig.running, "DELETE", "/faults/http_500")
        # Never placed: the matching engine times out on every send.
        await sim_admin(rig.running, "POST", "/faults/order_timeout", {})
        lost = rig.buy("0.31")
        await rig.manager.drain(5.0)
        assert lost.state is OrderState.SUBMITTED
        assert rig.manager.status()["ambiguous"] == 2
        await rig.manager.poll_once()
        assert placed.state is OrderState.OPEN
        assert lost.state is OrderState.FAILED
        assert [o.order_id for o in await rig.client.get_open_orders()] == [placed.order_id]


async def test_ghost_fill_is_voided_in_the_portfolio(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str
) -> None:
    await sim_admin(exchange_sim, "POST", "/faults/ghost_fills", {"rate": 1.0})
    async with live(exchange_sim, http, trader_key) as rig:
        order = rig.buy("0.40")
        await eventually(lambda: order.state is OrderState.OPEN)
        rig.counterparty(Side.SELL, "0.40", "5")
        await eventually(lambda: rig.manager.portfolio.voided_count == 1)
        position = rig.manager.portfolio.position(rig.market.up_token_id)
        assert (position.quantity, position.cost_basis) == (0, 0)
        assert order.state is OrderState.FAILED  # filled, and every fill voided
        assert rig.manager.status()["voided"] == 1


async def test_cancel_everything_leaves_nothing_open_at_the_venue(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str
) -> None:
    async with live(exchange_sim, http, trader_key) as rig:
        orders = [rig.buy(price) for price in ("0.20", "0.21", "0.22")]
        await eventually(lambda: all(o.state is OrderState.OPEN for o in orders[:2]))
        assert await rig.manager.cancel_everything(timeout_s=5.0)
        assert await rig.client.get_open_orders() == []
        assert all(o.state is OrderState.CANCELLED for o in orders)
        assert rig.manager.open_orders() == []


# --- the paper venue -----------------------------------------------------------------------------


async def test_paper_venue_goes_through_the_same_manager() -> None:
    sim_market = SimMarket(
        asset="btc",
        slug="btc-updown-15m-1800000000",
        condition_id="0x" + "5a" * 32,
        up_token_id="1001",
        down_token_id="1002",
        window_start=1_800_000_000,
        window_end=1_800_000_900,
    )
    market = as_market(sim_market)
    now_s = 1_800_000_100.0
    book = OrderBook(market.up_token_id)
    book.apply_snapshot(
        BookSnapshot(
            market.up_token_id,
            market.condition_id,
            1,
            bids=(BookLevel(D("0.48"), D(50)),),
            asks=(BookLevel(D("0.52"), D(50)),),
        )
    )
    events: list[FeedEvent] = []
    manager_ref: list[OrderManager] = []

    def sink(event: FeedEvent) -> None:
        events.append(event)
        manager_ref[0].on_user_event(event)

    paper = PaperVenue(
        book_of={market.up_token_id: book}.get,
        market_of={market.up_token_id: market, market.down_token_id: market}.get,
        sink=sink,
        clock=lambda: now_s,
        sleep=no_wait,
        config=PaperConfig(taker_delay_s=0.0, settle_delay_s=0.0),
    )
    signer = OrderSigner(throwaway_key("paper-order-manager"))
    manager = manager_for(paper, signer, market, lambda: int(now_s * 1000))
    manager_ref.append(manager)

    def buy(price: str, order_type: OrderType) -> Order:
        intent = OrderIntent(
            "FV", market.condition_id, market.up_token_id, Side.BUY, D(price), D(10), order_type
        )
        order = manager.submit(intent)
        assert order is not None
        return order

    taken = buy("0.53", OrderType.FOK)
    resting = buy("0.40", OrderType.GTC)
    await manager.drain(2.0)
    paper.process_due()  # the trade settles (MINED, CONFIRMED)
    position = manager.portfolio.position(market.up_token_id)
    assert (position.quantity, position.confirmed_quantity, position.cost_basis) == (D(10), D(10), D("5.2"))
    assert taken.state is OrderState.FILLED
    assert resting.state is OrderState.OPEN
    assert manager.cancel(CancelIntent(CancelScope.MARKET, condition_id=market.condition_id)) == 1
    await manager.drain(2.0)
    assert resting.state is OrderState.CANCELLED
    paper.settle(market.condition_id, Outcome.UP)
    assert manager.settle_market(market.condition_id, Outcome.UP, int(now_s * 1000)) == D("4.8")
    assert manager.portfolio.realized_pnl == D("4.8")
    assert manager.status()["inconsistent"] == 0
