"""Scaffolding for the order manager's tests: a venue whose answers the test scripts, a settable
clock, markets, intents and the venue's events about our orders."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from polyexec.core.events import (
    MakerOrderFill,
    UserOrderEvent,
    UserOrderEventKind,
    UserTradeEvent,
)
from polyexec.core.models import (
    Liquidity,
    Market,
    OrderIntent,
    OrderType,
    Side,
    TradeStatus,
)
from polyexec.core.order import Order
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import Portfolio
from polyexec.core.risk import RiskManager
from polyexec.core.risk_limits import RiskLimits
from polyexec.engine.order_manager import OrderManager, OrderManagerConfig
from polyexec.venues.clob_responses import (
    CancelResult,
    PostOrderResult,
    VenueOrder,
)
from polyexec.venues.order_signer import OrderSigner, SignedOrder
from tests.engine.conftest import throwaway_key

__all__ = [
    "BTC",
    "ETH",
    "START_MS",
    "Clock",
    "Rig",
    "ScriptedVenue",
    "answer",
    "intent",
    "make_market",
    "order_event",
    "raising",
    "rig",
    "trade",
    "venue_view",
]

D = Decimal
T0 = 1_800_000_000
START_MS = (T0 + 100) * 1000
SIGNER = OrderSigner(throwaway_key("order-manager"))


def make_market(asset: str = "btc", window_start: int = T0) -> Market:
    slug = f"{asset}-updown-15m-{window_start}"
    return Market(
        asset=asset,
        slug=slug,
        condition_id="0x" + hashlib.sha256(slug.encode()).hexdigest(),
        up_token_id=str(int(hashlib.sha256(f"{slug}:up".encode()).hexdigest(), 16)),
        down_token_id=str(int(hashlib.sha256(f"{slug}:down".encode()).hexdigest(), 16)),
        window_start=window_start,
        window_end=window_start + 900,
    )


BTC = make_market("btc")
ETH = make_market("eth")
CONDITION_OF_TOKEN = {
    token: market.condition_id
    for market in (BTC, ETH)
    for token in (market.up_token_id, market.down_token_id)
}


def intent(
    side: Side = Side.BUY,
    price: str = "0.40",
    size: str = "5",
    order_type: OrderType = OrderType.GTC,
    *,
    market: Market = BTC,
    token: str | None = None,
    strategy: str = "FV",
) -> OrderIntent:
    return OrderIntent(
        strategy, market.condition_id, token or market.up_token_id, side, D(price), D(size), order_type
    )


def venue_view(order: Order, status: str, matched: str = "0") -> VenueOrder:
    """The venue's description of ``order`` (``GET /data/order``)."""
    return VenueOrder(
        order_id=order.order_id,
        status=status,
        condition_id=order.condition_id,
        token_id=order.token_id,
        side=order.side,
        price=order.price,
        original_size=order.size,
        size_matched=D(matched),
        order_type=order.order_type.value,
        expiration_s=0,
        created_at_ms=order.created_ms,
        outcome="Up",
    )


def answer(
    status: str, *, making: str | None = None, taking: str | None = None
) -> Callable[[SignedOrder], Any]:
    def post(order: SignedOrder) -> PostOrderResult:
        return PostOrderResult(
            order_id=order.order_id,
            status=status,
            success=True,
            error="",
            making_amount=None if making is None else D(making),
            taking_amount=None if taking is None else D(taking),
            trade_ids=(),
            transaction_hashes=(),
        )

    return post


def raising(error: BaseException) -> Callable[[SignedOrder], Any]:
    def post(order: SignedOrder) -> PostOrderResult:
        raise error

    return post


@dataclass
class ScriptedVenue:
    """An :class:`OrderVenue` whose answers the test scripts. Posts wait for :attr:`gate`."""

    post_answer: Callable[[SignedOrder], Any] = field(default_factory=lambda: answer("live"))
    lookup: Callable[[str], VenueOrder | None] = lambda order_id: None
    cancel_answer: Callable[[list[str]], CancelResult] = lambda ids: CancelResult(canceled=tuple(ids))
    listing: Callable[[], list[VenueOrder]] = list
    gate: asyncio.Event | None = None
    posts: list[SignedOrder] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    cancels: list[tuple[str, object]] = field(default_factory=list)

    async def post_order(
        self, order: SignedOrder, order_type: OrderType, *, post_only: bool = False
    ) -> PostOrderResult:
        self.posts.append(order)
        if self.gate is not None:
            await self.gate.wait()
        result: PostOrderResult = self.post_answer(order)
        return result

    async def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult:
        self.cancels.append(("orders", list(order_ids)))
        return self.cancel_answer(list(order_ids))

    async def cancel_market_orders(self, condition_id: str = "", token_id: str = "") -> CancelResult:
        self.cancels.append(("market", condition_id))
        return self.cancel_answer(self._open_ids(condition_id))

    async def cancel_all(self) -> CancelResult:
        self.cancels.append(("all", None))
        return self.cancel_answer(self._open_ids(""))

    async def get_order(self, order_id: str) -> VenueOrder | None:
        self.lookups.append(order_id)
        return self.lookup(order_id)

    async def get_open_orders(self, *, condition_id: str = "", token_id: str = "") -> list[VenueOrder]:
        return self.listing()

    def _open_ids(self, condition_id: str) -> list[str]:
        # Everything posted in the market, as far as the script is concerned.
        return [
            order.order_id
            for order in self.posts
            if not condition_id or CONDITION_OF_TOKEN.get(order.token_id) == condition_id
        ]


class Clock:
    def __init__(self, now_ms: int = START_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@dataclass
class Rig:
    manager: OrderManager
    venue: ScriptedVenue
    clock: Clock
    risk: RiskManager
    portfolio: Portfolio
    equity: list[Decimal | None] = field(default_factory=list)

    def risk_status(self) -> dict[str, Any]:
        return self.risk.status(self.clock())

    async def submit(self, *args: Any, **kwargs: Any) -> Order:
        order = self.manager.submit(intent(*args, **kwargs))
        assert order is not None
        await self.manager.drain(2.0)
        return order


def rig(
    venue: ScriptedVenue | None = None,
    *,
    equity: Decimal | None = None,
    ticks: dict[str, Decimal] | None = None,
    **config: Any,
) -> Rig:
    venue = venue or ScriptedVenue()
    clock = Clock()
    risk = RiskManager(RiskLimits())
    portfolio = Portfolio()
    markets = {BTC.condition_id: BTC, ETH.condition_id: ETH}
    manager = OrderManager(
        venue,
        SIGNER,
        registry=OrderRegistry(),
        portfolio=portfolio,
        risk=risk,
        market_of=markets.get,
        clock_ms=clock,
        config=OrderManagerConfig(**config),
        equity_of=None if equity is None else (lambda: equity),
        tick_of=None if ticks is None else ticks.get,
    )
    return Rig(manager, venue, clock, risk, portfolio)


def trade(
    order: Order,
    status: TradeStatus,
    *,
    trade_id: str = "t-1",
    size: str | None = None,
    price: str | None = None,
    liquidity: Liquidity = Liquidity.TAKER,
) -> UserTradeEvent:
    """A trade event filling ``order`` (as the taker, or as the only maker)."""
    shares = D(size) if size is not None else order.size
    at = D(price) if price is not None else order.price
    if liquidity is Liquidity.TAKER:
        makers = (MakerOrderFill("0x" + "cd" * 32, order.token_id, order.side.opposite, at, shares),)
        taker_id, side = order.order_id, order.side
    else:
        makers = (MakerOrderFill(order.order_id, order.token_id, order.side, at, shares),)
        taker_id, side = "0x" + "ef" * 32, order.side.opposite
    return UserTradeEvent(
        trade_id=trade_id,
        status=status,
        condition_id=order.condition_id,
        asset_id=order.token_id,
        taker_order_id=taker_id,
        side=side,
        size=shares,
        price=at,
        trader_side=liquidity,
        maker_orders=makers,
        timestamp_ms=START_MS,
        match_time_ms=START_MS,
    )


def order_event(order: Order, status: str, matched: str, kind: UserOrderEventKind) -> UserOrderEvent:
    return UserOrderEvent(
        order_id=order.order_id,
        kind=kind,
        condition_id=order.condition_id,
        asset_id=order.token_id,
        side=order.side,
        price=order.price,
        original_size=order.size,
        size_matched=D(matched),
        status=status,
        timestamp_ms=START_MS,
    )
