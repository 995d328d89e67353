"""The dry-run venue: every order answered ``live`` and listed, cancels honoured, GTD expiry, the
client's own refusals, never a fill, and not one connection attempted, also when the order
manager drives it."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal
from typing import Any

import pytest

from polyexec.core.events import FeedEvent, UserOrderEvent, UserOrderEventKind
from polyexec.core.models import CancelIntent, CancelScope, Market, OrderIntent, OrderType, Side
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.order_state import OrderState
from polyexec.core.portfolio import Portfolio
from polyexec.core.risk import RiskManager
from polyexec.core.risk_limits import RiskLimits
from polyexec.engine.dry_run_venue import NOT_FOUND_REASON, DryRunVenue
from polyexec.engine.order_manager import OrderManager
from polyexec.venues.order_factory import limit_order
from polyexec.venues.order_signer import OrderSigner, SignedOrder
from tests.engine.conftest import throwaway_key

D = Decimal
T0 = 1_800_000_000
NOW_MS = (T0 + 100) * 1000
SIGNER = OrderSigner(throwaway_key("dry-run"))
MARKET = Market("btc", f"btc-updown-15m-{T0}", "0x" + "d1" * 32, "2001", "2002", T0, T0 + 900)
OTHER = Market("eth", f"eth-updown-15m-{T0}", "0x" + "e1" * 32, "3001", "3002", T0, T0 + 900)
CONDITIONS = {t: m.condition_id for m in (MARKET, OTHER) for t in (m.up_token_id, m.down_token_id)}


class Clock:
    def __init__(self) -> None:
        self.now_ms = NOW_MS

    def __call__(self) -> int:
        return self.now_ms


def signed(price: str = "0.40", size: str = "5", token: str = "2001", expiration_s: int = 0) -> SignedOrder:
    return limit_order(
        SIGNER,
        token_id=token,
        side=Side.BUY,
        price=D(price),
        size=D(size),
        tick_size=D("0.01"),
        neg_risk=False,
        timestamp_ms=NOW_MS,
        expiration_s=expiration_s,
    )


def venue(events: list[FeedEvent] | None = None, clock: Clock | None = None) -> DryRunVenue:
    return DryRunVenue(
        condition_of=CONDITIONS.get,
        clock_ms=clock or Clock(),
        sink=None if events is None else events.append,
        max_closed=2,
    )


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail on any connection attempt: TCP through asyncio or a plain socket."""
    attempts: list[object] = []

    async def refuse_loop(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError("the dry run tried to connect")

    def refuse_socket(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError("the dry run tried to connect")

    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refuse_loop)
    monkeypatch.setattr(socket.socket, "connect", refuse_socket)
    return attempts


async def test_orders_are_answered_live_listed_and_cancelled_never_filled() -> None:
    events: list[FeedEvent] = []
    dry = venue(events)
    first, second, elsewhere = signed("0.40"), signed("0.41"), signed(token="3001")
    for order in (first, second, elsewhere):
        result = await dry.post_order(order, OrderType.GTC)
        assert (result.success, result.status, result.order_id) == (True, "live", order.order_id)
    listed = await dry.get_open_orders(condition_id=MARKET.condition_id)
    assert [(o.order_id, o.status, o.price, o.original_size, o.size_matched) for o in listed] == [
        (first.order_id, "LIVE", D("0.40"), D(5), 0),
        (second.order_id, "LIVE", D("0.41"), D(5), 0),
    ]
    cancelled = await dry.cancel_orders([first.order_id, first.order_id, "0x" + "00" * 32])
    assert cancelled.canceled == (first.order_id,)
    assert cancelled.not_canceled == {"0x" + "00" * 32: NOT_FOUND_REASON}
    view = await dry.get_order(first.order_id)
    assert view is not None
    assert view.status == "CANCELED"
    assert (await dry.cancel_market_orders(token_id="3001")).canceled == (elsewhere.order_id,)
    assert (await dry.cancel_all()).canceled == (second.order_id,)
    assert await dry.get_open_orders() == []
    assert dry.orders_not_sent == 3
    kinds = [(e.order_id, e.kind) for e in events if isinstance(e, UserOrderEvent)]
    assert kinds.count((first.order_id, UserOrderEventKind.PLACEMENT)) == 1
    assert kinds.count((first.order_id, UserOrderEventKind.CANCELLATION)) == 1
    assert all(e.size_matched == 0 for e in events if isinstance(e, UserOrderEvent))
    assert await dry.get_order(first.order_id) is None  # forgotten beyond max_closed = 2


async def test_resend_is_a_duplicate_and_the_client_refusals_still_apply() -> None:
    dry = venue()
    order = signed()
    await dry.post_order(order, OrderType.GTC)
    again = await dry.post_order(order, OrderType.GTC)
    assert again.placed_by_earlier_attempt
    assert again.venue_order is not None
    assert dry.orders_not_sent == 1
    with pytest.raises(ValueError, match="post-only"):
        await dry.post_order(signed("0.42"), OrderType.FOK, post_only=True)
    with pytest.raises(ValueError, match="cancel_market_orders needs"):
        await dry.cancel_market_orders()


async def test_gtd_expires_a_minute_before_its_expiration() -> None:
    clock = Clock()
    events: list[FeedEvent] = []
    dry = venue(events, clock)
    expiration_s = NOW_MS // 1000 + 300
    order = signed(expiration_s=expiration_s)
    await dry.post_order(order, OrderType.GTD)
    clock.now_ms = (expiration_s - 61) * 1000
    assert len(await dry.get_open_orders()) == 1
    clock.now_ms = (expiration_s - 60) * 1000
    assert await dry.get_open_orders() == []
    view = await dry.get_order(order.order_id)
    assert view is not None
    assert view.status == "CANCELED_EXPIRED_ORDER"
    assert isinstance(events[-1], UserOrderEvent)
    assert events[-1].status == "CANCELED_EXPIRED_ORDER"
    assert dry.expired == 1


async def test_order_manager_over_the_dry_run_sends_nothing(no_network: list[object]) -> None:
    clock = Clock()
    manager_ref: list[OrderManager] = []
    dry = DryRunVenue(
        condition_of=CONDITIONS.get, clock_ms=clock, sink=lambda e: manager_ref[0].on_user_event(e)
    )
    manager = OrderManager(
        dry,
        SIGNER,
        registry=OrderRegistry(),
        portfolio=Portfolio(),
        risk=RiskManager(RiskLimits()),
        market_of={MARKET.condition_id: MARKET}.get,
        clock_ms=clock,
    )
    manager_ref.append(manager)
    intents = [
        OrderIntent("MM", MARKET.condition_id, MARKET.up_token_id, Side.BUY, D("0.40"), D(5), post_only=True),
        OrderIntent("FV", MARKET.condition_id, MARKET.up_token_id, Side.BUY, D("0.99"), D(5), OrderType.FOK),
    ]
    orders = [manager.submit(i) for i in intents]
    await manager.drain(2.0)
    assert [o.state for o in orders if o is not None] == [OrderState.OPEN, OrderState.OPEN]  # never filled
    assert (
        manager.cancel(CancelIntent(CancelScope.ORDER, order_id=orders[0].order_id if orders[0] else "")) == 1
    )
    await manager.drain(2.0)
    assert await manager.cancel_everything(timeout_s=2.0)
    assert [o.state for o in orders if o is not None] == [OrderState.CANCELLED, OrderState.CANCELLED]
    assert manager.portfolio.positions() == []
    assert dry.orders_not_sent == 2
    assert no_network == []
