"""The strategy contract's helpers: window lookup, books by outcome, resting orders by market."""

from __future__ import annotations

from decimal import Decimal

from polyexec.core.models import Market, Outcome, Side
from polyexec.core.order_book import OrderBook
from polyexec.core.risk_limits import RiskLimits
from polyexec.strategies.context import (
    PRIORITY,
    Holding,
    RestingOrder,
    StrategyContext,
    WindowView,
)

MARKET = Market(
    asset="btc",
    slug="btc-updown-15m-1800000000",
    condition_id="0x" + "ab" * 32,
    up_token_id="1",
    down_token_id="2",
    window_start=1_800_000_000,
    window_end=1_800_000_900,
)


def _view() -> WindowView:
    return WindowView(MARKET, OrderBook("1"), OrderBook("2"), strike=Decimal("100000"))


def _resting(order_id: str, strategy: str, condition_id: str = MARKET.condition_id) -> RestingOrder:
    return RestingOrder(order_id, strategy, condition_id, "1", Side.BUY, Decimal("0.4"), Decimal(5))


def test_window_view_gives_the_book_of_each_outcome_and_token() -> None:
    view = _view()
    assert view.book(Outcome.UP) is view.up_book
    assert view.book(Outcome.DOWN) is view.down_book
    assert view.book_of("2") is view.down_book
    assert view.seconds_left(1_800_000_600_000) == Decimal(300)


def test_context_finds_windows_holdings_and_resting_orders() -> None:
    view = _view()
    holding = Holding("1", MARKET.condition_id, Decimal(10), Decimal(8), Decimal("0.5"), "FV")
    context = StrategyContext(
        now_ms=1_800_000_000_000,
        windows=(view,),
        underlyings={},
        holdings={"1": holding},
        resting=(_resting("a", "MM"), _resting("b", "FV"), _resting("c", "MM", "0x" + "cd" * 32)),
        limits=RiskLimits(),
    )
    assert context.window(MARKET.condition_id) is view
    assert context.window("0x" + "00" * 32) is None
    assert context.holding("1") is holding
    assert context.holding("2") is None
    assert [o.order_id for o in context.resting_in(MARKET.condition_id)] == ["a", "b"]
    assert [o.order_id for o in context.resting_in(MARKET.condition_id, "MM")] == ["a"]


def test_priority_runs_inventory_control_first_and_flow_following_last() -> None:
    assert PRIORITY == ("ICC", "EXIT", "FV", "MM", "FF")
