"""The CLOB client against the simulator over loopback: keys, every order type, batches, cancels,
listings over several pages, balances and heartbeats. Orders are built by the real order
factory and signed by the real OrderSigner. The venue's faults are in
``test_clob_client_faults.py``; the helpers here (:func:`open_trading`) are shared with it.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from polyexec.core.models import Liquidity, OrderIntent, OrderType, Side, TradeStatus
from polyexec.sim.app import RunningSimulator
from polyexec.sim.contracts import SimMarket
from polyexec.sim.faults import FaultRegistry
from polyexec.venues.auth import ApiCredentials
from polyexec.venues.clob_client import ClobClient
from polyexec.venues.clob_responses import DUPLICATE_OF_PREVIOUS_ATTEMPT, CancelResult
from polyexec.venues.errors import DefinitiveReject
from polyexec.venues.http_transport import ClobTransport, RetryPolicy
from polyexec.venues.order_factory import limit_order, market_order, order_from_intent
from polyexec.venues.order_signer import OrderSigner, SignedOrder
from polyexec.venues.rate_limiter import RateLimiter
from polyexec.venues.server_clock import ServerClock
from tests.venues.conftest import add_market, eventually, throwaway_key
from tests.venues.test_clob_public import Pause

TICK = Decimal("0.01")


@asynccontextmanager
async def open_client(
    running: RunningSimulator,
    key: str,
    pause: Pause,
    *,
    timeout_s: float = 5.0,
    limiter: RateLimiter | None = None,
) -> AsyncIterator[ClobClient]:
    """A client with its own key registered on ``running``, stamping with a measured ServerClock."""

    async def venue_time() -> int:
        return await client.get_server_time()

    server_clock = ServerClock(venue_time, sample_timeout_s=2.0)
    transport = ClobTransport(
        running.base_url,
        server_clock=server_clock,
        limiter=limiter or RateLimiter(),
        timeout_s=timeout_s,
        retry=RetryPolicy(sleep=pause, rng=random.Random(0)),
    )
    async with transport:
        client = ClobClient(transport, signer=OrderSigner(key))
        await server_clock.measure()
        client.use_credentials(await client.create_or_derive_api_key())
        yield client


@dataclass
class Trading:
    """A funded trader on an exchange-only simulator with one market."""

    running: RunningSimulator
    market: SimMarket
    client: ClobClient
    pause: Pause

    @property
    def signer(self) -> OrderSigner:
        assert self.client.signer is not None
        return self.client.signer

    @property
    def faults(self) -> FaultRegistry:
        return self.running.simulator.faults

    def limit(
        self, side: Side, price: str, size: str = "5", *, token: str = "", expiration_s: int = 0
    ) -> SignedOrder:
        return limit_order(
            self.signer,
            token_id=token or self.market.up_token_id,
            side=side,
            price=Decimal(price),
            size=Decimal(size),
            tick_size=TICK,
            neg_risk=False,
            timestamp_ms=time.time_ns() // 1_000_000,
            expiration_s=expiration_s,
        )

    def market_buy(self, dollars: str, worst_price: str) -> SignedOrder:
        return market_order(
            self.signer,
            token_id=self.market.up_token_id,
            side=Side.BUY,
            amount=Decimal(dollars),
            worst_price=Decimal(worst_price),
            tick_size=TICK,
            neg_risk=False,
            timestamp_ms=time.time_ns() // 1_000_000,
        )

    def maker(self, side: Side, price: str, size: str, *, token: str = "") -> str:
        """A resting order of a simulator-internal account (the other side of our trades)."""
        return self.running.simulator.exchange.place_background_order(
            "maker", token or self.market.up_token_id, side.value, Decimal(price), Decimal(size)
        )

    def clear_fault_on_retry(self, name: str) -> None:
        """The venue recovers while the transport waits to resend."""
        self.pause.then.append(lambda _: self.faults.clear(name))


@asynccontextmanager
async def open_trading(running: RunningSimulator, key: str, **options: Any) -> AsyncIterator[Trading]:
    """A :class:`Trading` on a new btc market of ``running`` (``options`` go to :func:`open_client`)."""
    market = add_market(running, "btc")
    pause = Pause()
    async with open_client(running, key, pause, **options) as client:
        yield Trading(running, market, client, pause)


@pytest.fixture
async def trading(exchange_sim: RunningSimulator, trader_key: str) -> AsyncIterator[Trading]:
    async with open_trading(exchange_sim, trader_key) as opened:
        yield opened


def signed_limit(
    signer: OrderSigner, token_id: str = "1", price: str = "0.5", size: str = "5"
) -> SignedOrder:
    """A signed GTC-style BUY limit order (random salt: every call is a new order)."""
    return limit_order(
        signer,
        token_id=token_id,
        side=Side.BUY,
        price=Decimal(price),
        size=Decimal(size),
        tick_size=TICK,
        neg_risk=False,
        timestamp_ms=time.time_ns() // 1_000_000,
    )


# -- API keys ------------------------------------------------------------------------------------


async def test_create_then_derive_the_same_key(exchange_sim: RunningSimulator) -> None:
    pause = Pause()
    transport = ClobTransport(exchange_sim.base_url, retry=RetryPolicy(sleep=pause))
    async with transport:
        client = ClobClient(transport, signer=OrderSigner(throwaway_key("create-derive")))
        created = await client.create_api_key(nonce=3)
        assert isinstance(created, ApiCredentials)
        with pytest.raises(DefinitiveReject) as exists:
            await client.create_api_key(nonce=3)
        assert exists.value.status == 400
        assert await client.derive_api_key(nonce=3) == created
        assert await client.create_or_derive_api_key(nonce=3) == created
        assert await client.create_or_derive_api_key(nonce=4) != created
        client.use_credentials(created)
        balance = await client.get_balance_allowance("COLLATERAL")
        assert balance.balance == Decimal(1000)  # the simulator funds a new account


async def test_trading_needs_credentials_and_keys_need_a_signer(exchange_sim: RunningSimulator) -> None:
    async with ClobTransport(exchange_sim.base_url) as transport:
        client = ClobClient(transport)
        with pytest.raises(ValueError, match="needs the order signer"):
            await client.derive_api_key()
        order = signed_limit(OrderSigner(throwaway_key("no-creds")))
        with pytest.raises(ValueError, match="post_order needs API credentials"):
            await client.post_order(order, OrderType.GTC)


# -- placing orders --------------------------------------------------------------------------------


async def test_post_only_gtc_rests_and_is_listed(trading: Trading) -> None:
    order = trading.limit(Side.BUY, "0.30", "10")
    result = await trading.client.post_order(order, OrderType.GTC, post_only=True)
    assert result.success
    assert result.status == "live"
    assert result.order_id == order.order_id
    assert result.trade_ids == ()
    venue_order = await trading.client.get_order(order.order_id)
    assert venue_order is not None
    assert venue_order.status == "LIVE"
    assert venue_order.side is Side.BUY
    assert venue_order.price == Decimal("0.30")
    assert venue_order.original_size == Decimal(10)
    assert venue_order.size_matched == 0
    assert venue_order.condition_id == trading.market.condition_id
    assert venue_order.outcome == "Up"
    assert [o.order_id for o in await trading.client.get_open_orders()] == [order.order_id]


async def test_post_only_that_would_cross_is_refused(trading: Trading) -> None:
    trading.maker(Side.SELL, "0.50", "10")
    order = trading.limit(Side.BUY, "0.55")
    with pytest.raises(DefinitiveReject) as caught:
        await trading.client.post_order(order, OrderType.GTC, post_only=True)
    assert str(caught.value) == "post_order: 400 invalid post-only order: order crosses book"
    assert caught.value.code == "INVALID_POST_ONLY_ORDER"
    assert await trading.client.get_order(order.order_id) is None
    with pytest.raises(ValueError, match="post-only"):
        await trading.client.post_order(order, OrderType.FOK, post_only=True)


async def test_gtd_order_carries_its_expiration(trading: Trading) -> None:
    expires = int(trading.running.simulator.clock.now()) + 600
    order = trading.limit(Side.BUY, "0.10", expiration_s=expires)
    result = await trading.client.post_order(order, OrderType.GTD)
    assert result.status == "live"
    venue_order = await trading.client.get_order(order.order_id)
    assert venue_order is not None
    assert venue_order.order_type == "GTD"
    assert venue_order.expiration_s == expires


async def test_fok_fills_completely_or_is_killed(trading: Trading) -> None:
    trading.maker(Side.SELL, "0.50", "10")
    buy = trading.market_buy("2.5", "0.50")
    result = await trading.client.post_order(buy, OrderType.FOK)
    assert result.status == "matched"
    assert result.making_amount == Decimal("2.5")  # dollars paid
    assert result.taking_amount == Decimal(5)  # shares received
    assert len(result.trade_ids) == 1
    too_big = trading.market_buy("50", "0.50")
    with pytest.raises(DefinitiveReject, match="FOK orders are fully filled or killed") as caught:
        await trading.client.post_order(too_big, OrderType.FOK)
    assert caught.value.code == "FOK_ORDER_NOT_FILLED_ERROR"


async def test_fak_fills_what_it_can(trading: Trading) -> None:
    trading.maker(Side.SELL, "0.50", "5")
    intent = OrderIntent(
        strategy="T",
        condition_id=trading.market.condition_id,
        token_id=trading.market.up_token_id,
        side=Side.BUY,
        price=Decimal("0.50"),
        size=Decimal(10),
        order_type=OrderType.FAK,
    )
    order = order_from_intent(
        trading.signer, intent, tick_size=TICK, neg_risk=False, timestamp_ms=time.time_ns() // 1_000_000
    )
    result = await trading.client.post_order(order, OrderType.FAK)
    assert result.status == "matched"
    assert result.taking_amount == Decimal(5)
    venue_order = await trading.client.get_order(order.order_id)
    assert venue_order is not None
    assert venue_order.size_matched == Decimal(5)
    assert venue_order.status != "LIVE"  # the rest was killed


async def test_resending_a_placed_order_reports_the_earlier_placement(trading: Trading) -> None:
    order = trading.limit(Side.BUY, "0.20")
    first = await trading.client.post_order(order, OrderType.GTC)
    assert first.status == "live"
    again = await trading.client.post_order(order, OrderType.GTC)
    assert again.placed_by_earlier_attempt
    assert again.status == DUPLICATE_OF_PREVIOUS_ATTEMPT
    assert again.venue_order is not None
    assert again.venue_order.status == "LIVE"
    assert len(await trading.client.get_open_orders()) == 1


# -- batches ----------------------------------------------------------------------------------------


async def test_batch_results_come_back_in_order(trading: Trading) -> None:
    trading.maker(Side.SELL, "0.50", "10")
    expires = int(trading.running.simulator.clock.now()) + 600
    orders = [
        (trading.limit(Side.BUY, "0.30"), OrderType.GTC, True),
        (trading.limit(Side.BUY, "0.55"), OrderType.GTC, True),  # crosses: refused
        (trading.limit(Side.BUY, "0.31", expiration_s=expires), OrderType.GTD, False),
    ]
    results = await trading.client.post_orders(orders)
    assert [r.success for r in results] == [True, False, True]
    assert [r.order_id for r in (results[0], results[2])] == [orders[0][0].order_id, orders[2][0].order_id]
    assert "order crosses book" in results[1].error
    assert await trading.client.post_orders([]) == []
    with pytest.raises(ValueError, match="at most 15"):
        await trading.client.post_orders([orders[0]] * 16)


# -- cancels ---------------------------------------------------------------------------------------


async def test_cancel_one_many_market_and_all(trading: Trading) -> None:
    up, down = trading.market.up_token_id, trading.market.down_token_id
    orders = [trading.limit(Side.BUY, f"0.{10 + i}") for i in range(4)]
    orders += [trading.limit(Side.BUY, f"0.{20 + i}", token=down) for i in range(3)]
    for result in await trading.client.post_orders([(o, OrderType.GTC, True) for o in orders]):
        assert result.success
    ids = [o.order_id for o in orders]

    one = await trading.client.cancel_order(ids[0])
    assert one.canceled == (ids[0],)
    again = await trading.client.cancel_order(ids[0])
    assert again.canceled == ()
    assert ids[0] in again.not_canceled

    many = await trading.client.cancel_orders([ids[1], ids[2], ids[1]])
    assert sorted(many.canceled) == sorted(ids[1:3])
    assert await trading.client.cancel_orders([]) == CancelResult(canceled=(), not_canceled={})

    by_token = await trading.client.cancel_market_orders(token_id=down)
    assert sorted(by_token.canceled) == sorted(ids[4:])
    assert [o.token_id for o in await trading.client.get_open_orders()] == [up]

    with pytest.raises(ValueError, match="condition id or a token id"):
        await trading.client.cancel_market_orders()
    by_market = await trading.client.cancel_market_orders(condition_id=trading.market.condition_id)
    assert by_market.canceled == (ids[3],)

    await trading.client.post_order(trading.limit(Side.BUY, "0.05"), OrderType.GTC)
    everything = await trading.client.cancel_all()
    assert len(everything.canceled) == 1
    assert await trading.client.get_open_orders() == []


async def test_unknown_order_is_none(trading: Trading) -> None:
    assert await trading.client.get_order("0x" + "12" * 32) is None
    with pytest.raises(ValueError, match="order id"):
        await trading.client.get_order("../data/orders")


# -- listings ----------------------------------------------------------------------------------------


async def test_open_orders_span_several_pages(trading: Trading) -> None:
    down = trading.market.down_token_id
    placed = []
    for batch in range(7):  # 105 orders: two pages of the venue's 100
        token = down if batch == 0 else trading.market.up_token_id
        orders = [
            (trading.limit(Side.BUY, f"0.{1 + (batch * 15 + i) % 20:02d}", token=token), OrderType.GTC, True)
            for i in range(15)
        ]
        results = await trading.client.post_orders(orders)
        assert all(r.success for r in results)
        placed += [o.order_id for o, _, _ in orders]
    listed = await trading.client.get_open_orders()
    assert sorted(o.order_id for o in listed) == sorted(placed)
    assert len(await trading.client.get_open_orders(token_id=down)) == 15
    assert len(await trading.client.get_open_orders(condition_id=trading.market.condition_id)) == 105


async def test_trades_span_several_pages(trading: Trading) -> None:
    for _ in range(105):
        trading.maker(Side.SELL, "0.50", "5")
    sweep = trading.limit(Side.BUY, "0.50", "525")
    result = await trading.client.post_order(sweep, OrderType.FAK)
    assert result.taking_amount == Decimal(525)
    trades = await trading.client.get_trades()
    assert len(trades) == 105
    assert len({t.trade_id for t in trades}) == 105
    assert all(t.taker_order_id == sweep.order_id and t.trader_side is Liquidity.TAKER for t in trades)
    assert all(t.price == Decimal("0.50") and t.size == Decimal(5) for t in trades)
    assert len(await trading.client.get_trades(condition_id=trading.market.condition_id)) == 105
    assert await trading.client.get_trades(token_id=trading.market.down_token_id) == []
    future = int(trading.running.simulator.clock.now()) + 3600
    assert await trading.client.get_trades(after_s=future) == []
    assert len(await trading.client.get_trades(before_s=future)) == 105

    async def all_confirmed() -> bool:
        return all(t.status is TradeStatus.CONFIRMED for t in await trading.client.get_trades())

    await eventually(all_confirmed)


# -- account --------------------------------------------------------------------------------------------


async def test_balance_and_allowance(trading: Trading) -> None:
    collateral = await trading.client.get_balance_allowance("COLLATERAL")
    assert collateral.balance == Decimal(1000)
    assert len(collateral.allowances) == 2
    unlimited = str(2**256 - 1)
    assert all(a == Decimal(f"{unlimited[:-6]}.{unlimited[-6:]}") for a in collateral.allowances.values())
    trading.maker(Side.SELL, "0.40", "5")
    await trading.client.post_order(trading.limit(Side.BUY, "0.40"), OrderType.FAK)

    async def shares_arrived() -> bool:
        await trading.client.update_balance_allowance("CONDITIONAL", trading.market.up_token_id)
        shares = await trading.client.get_balance_allowance("CONDITIONAL", trading.market.up_token_id)
        return shares.balance == Decimal(5)

    await eventually(shares_arrived)
    paid = Decimal(1000) - (await trading.client.get_balance_allowance("COLLATERAL")).balance
    assert Decimal(2) <= paid < Decimal("2.1")  # 5 × 0.40, plus the taker fee
    with pytest.raises(ValueError, match="needs a token id"):
        await trading.client.get_balance_allowance("CONDITIONAL")


async def test_heartbeats_chain_and_adopt_the_expected_id(trading: Trading) -> None:
    first = await trading.client.post_heartbeat()
    second = await trading.client.post_heartbeat(first)
    assert second
    assert second != first
    adopted = await trading.client.post_heartbeat("a-stale-id")  # the venue expected `second`
    assert adopted not in ("", first, second)
    assert await trading.client.post_heartbeat(adopted)
