"""Builders shared by the risk tests (test_risk, test_risk_decision, test_risk_checks,
test_risk_losses, test_risk_breakers, test_risk_codec): one BTC market, a healthy
:class:`RiskContext` 300 s before its end, buy/sell intents, a manager with chosen limits, and
assertions on decisions that show the decision's detail when they fail."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from polyexec.core.models import CancelIntent, CancelScope, Market, OrderIntent, Side
from polyexec.core.risk import RiskContext, RiskDecision, RiskManager, RiskReason
from polyexec.core.risk_limits import RiskLimits

__all__ = [
    "CANCEL_ALL",
    "DAY_MS",
    "MARKET",
    "NOW",
    "SECOND",
    "WIDE_LOSSES",
    "WINDOW_START",
    "D",
    "assert_approved",
    "assert_denied",
    "buy",
    "ctx",
    "held",
    "manager",
    "sell",
]

D = Decimal
SECOND = 1_000
DAY_MS = 86_400_000
WINDOW_START = 1_790_616_600
MARKET = Market(
    asset="btc",
    slug=f"btc-updown-15m-{WINDOW_START}",
    condition_id="0x" + "ab" * 32,
    up_token_id="1111",
    down_token_id="2222",
    window_start=WINDOW_START,
    window_end=WINDOW_START + 900,
)
NOW = (MARKET.window_end - 300) * SECOND  # 300 s before the end: inside the entry window
CANCEL_ALL = CancelIntent(scope=CancelScope.ALL, reason="test")
# Loss limits wide enough that the breaker or limit under test is the only one that can fire.
WIDE_LOSSES = {
    "max_loss_per_hour_usd": D(1000),
    "max_loss_per_day_usd": D(1000),
    "loss_breaker_usd": D(1000),
}


def ctx(**overrides: Any) -> RiskContext:
    """A healthy context: flat, no exposure, a tight deep trusted book, 300 s to the end.

    With ``now_ms`` given and no ``market``, the market's window is moved along so that tests
    about other clocks (breakers, loss days) stay inside the entry window.
    """
    now = overrides.get("now_ms", NOW)
    end = now // SECOND + 300
    values: dict[str, Any] = {
        "market": dataclasses.replace(MARKET, window_start=end - 900, window_end=end),
        "now_ms": NOW,
        "position_shares": D(0),
        "open_sell_shares": D(0),
        "total_exposure_usd": D(0),
        "market_exposure_usd": D(0),
        "category_exposure_usd": D(0),
        "window_bought_usd": D(0),
        "open_orders": 0,
        "book_trusted": True,
        "best_bid": D("0.49"),
        "best_ask": D("0.51"),
        "bid_depth_usd": D(100),
        "ask_depth_usd": D(100),
        "est_slippage_pct": D(0),
    }
    values.update(overrides)
    return RiskContext(**values)


def held(shares: str = "10", **overrides: Any) -> RiskContext:
    return ctx(position_shares=D(shares), **overrides)


def buy(price: str = "0.50", size: str = "1", **overrides: Any) -> OrderIntent:
    values: dict[str, Any] = {
        "strategy": "FV",
        "condition_id": MARKET.condition_id,
        "token_id": MARKET.up_token_id,
        "side": Side.BUY,
        "price": D(price),
        "size": D(size),
    }
    values.update(overrides)
    return OrderIntent(**values)


def sell(price: str = "0.50", size: str = "1", reduces: bool = True, **overrides: Any) -> OrderIntent:
    return buy(price, size, side=Side.SELL, reduces_position=reduces, **overrides)


def manager(**limits: Any) -> RiskManager:
    return RiskManager(RiskLimits(**limits))


def assert_denied(decision: RiskDecision, reason: RiskReason) -> None:
    assert (decision.approved, decision.reason) == (False, reason), decision.detail
    assert decision.detail


def assert_approved(decision: RiskDecision) -> None:
    assert (decision.approved, decision.reason) == (True, RiskReason.APPROVED), decision.detail
