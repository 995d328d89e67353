"""Builders shared by the order tests (test_order_state, test_order, test_order_fills,
test_order_codec, test_order_registry): orders in a chosen state, fills, and the user-channel
events the venue would send about them. Ids are fixed, realistic-looking values; no key is
involved (the order id stands for the EIP-712 hash of a signed order)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from polyexec.core.events import MakerOrderFill, UserOrderEvent, UserOrderEventKind, UserTradeEvent
from polyexec.core.models import Fill, Liquidity, OrderIntent, OrderType, Side, TradeStatus
from polyexec.core.order import Order
from polyexec.core.order_state import OrderEventBus, OrderState, OrderTransition

__all__ = [
    "CONDITION_ID",
    "ORDER_ID",
    "OTHER_ORDER_ID",
    "OTHER_TOKEN_ID",
    "TOKEN_ID",
    "D",
    "S",
    "live_order",
    "make_fill",
    "make_order",
    "moves",
    "order_event",
    "trade_event",
]

S = OrderState
ORDER_ID = "0x" + "ab" * 32
OTHER_ORDER_ID = "0x" + "ef" * 32
CONDITION_ID = "0x" + "cd" * 32
TOKEN_ID = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
OTHER_TOKEN_ID = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
D = Decimal


def make_order(
    *,
    side: Side = Side.BUY,
    price: str = "0.52",
    size: str = "10",
    order_type: OrderType = OrderType.GTC,
    reference: str | None = "0.50",
    bus: OrderEventBus | None = None,
    order_id: str = ORDER_ID,
    condition_id: str = CONDITION_ID,
    token_id: str = TOKEN_ID,
    now_ms: int = 1_000,
) -> Order:
    intent = OrderIntent(
        strategy="FV",
        condition_id=condition_id,
        token_id=token_id,
        side=side,
        price=D(price),
        size=D(size),
        order_type=order_type,
    )
    reference_price = None if reference is None else D(reference)
    return Order.from_intent(intent, order_id, now_ms=now_ms, reference_price=reference_price, bus=bus)


def live_order(**kwargs: Any) -> Order:
    order = make_order(**kwargs)
    order.submitted(now_ms=1_001)
    order.accepted("live", now_ms=1_002)
    return order


def make_fill(
    order: Order,
    trade_id: str,
    size: str,
    *,
    price: str = "0.52",
    status: TradeStatus = TradeStatus.MATCHED,
    liquidity: Liquidity = Liquidity.MAKER,
    fee: str = "0",
) -> Fill:
    return Fill(
        trade_id=trade_id,
        order_id=order.order_id,
        condition_id=order.condition_id,
        token_id=order.token_id,
        side=order.side,
        price=D(price),
        size=D(size),
        fee=D(fee),
        liquidity=liquidity,
        status=status,
        timestamp_ms=2_000,
    )


def order_event(
    order: Order,
    status: str,
    size_matched: str,
    *,
    kind: UserOrderEventKind = UserOrderEventKind.UPDATE,
    asset_id: str = TOKEN_ID,
) -> UserOrderEvent:
    return UserOrderEvent(
        order_id=order.order_id,
        kind=kind,
        condition_id=order.condition_id,
        asset_id=asset_id,
        side=order.side,
        price=order.price,
        original_size=order.size,
        size_matched=D(size_matched),
        status=status,
        timestamp_ms=3_000,
    )


def trade_event(
    *,
    taker_order_id: str = "0xtaker",
    makers: tuple[MakerOrderFill, ...] = (),
    status: TradeStatus = TradeStatus.MATCHED,
    match_time_ms: int = 7_000,
    trade_id: str = "trade-1",
    size: str = "10",
    condition_id: str = CONDITION_ID,
    trader_side: Liquidity = Liquidity.TAKER,
) -> UserTradeEvent:
    return UserTradeEvent(
        trade_id=trade_id,
        status=status,
        condition_id=condition_id,
        asset_id=TOKEN_ID,
        taker_order_id=taker_order_id,
        side=Side.BUY,
        size=D(size),
        price=D("0.50"),
        trader_side=trader_side,
        maker_orders=makers,
        timestamp_ms=9_000,
        match_time_ms=match_time_ms,
    )


def moves(transitions: tuple[OrderTransition, ...]) -> list[tuple[OrderState, OrderState]]:
    return [(t.from_state, t.to_state) for t in transitions]
