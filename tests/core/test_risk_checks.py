"""Tests for the checks, driven through the manager: intent validity, the entry time window,
order size and open orders, exposure after the order, and market quality (trusted book,
depth, spread, slippage)."""

from __future__ import annotations

from typing import Any

import pytest

from polyexec.core.models import OrderIntent, OrderType
from polyexec.core.risk import RiskContext, RiskReason
from tests.core.risk_factories import (
    MARKET,
    NOW,
    SECOND,
    D,
    assert_approved,
    assert_denied,
    buy,
    ctx,
    held,
    manager,
    sell,
)

# --- intent validity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intent", "context"),
    [
        pytest.param(buy(size="0"), ctx(), id="zero-size"),
        pytest.param(buy(size="-1"), ctx(), id="negative-size"),
        pytest.param(buy(price="0"), ctx(), id="zero-price"),
        pytest.param(buy(price="1"), ctx(), id="price-one"),
        pytest.param(buy(price="-0.5"), ctx(), id="negative-price"),
        pytest.param(buy(price="NaN"), ctx(), id="nan-price"),
        pytest.param(buy(size="Infinity"), ctx(), id="infinite-size"),
        pytest.param(buy(token_id="9999"), ctx(), id="foreign-token"),
        pytest.param(buy(condition_id="0x" + "cd" * 32), ctx(), id="foreign-market"),
        pytest.param(buy(post_only=True, order_type=OrderType.FOK), ctx(), id="post-only-fok"),
        pytest.param(buy(order_type=OrderType.GTD), ctx(), id="gtd-without-expiry"),
        pytest.param(buy(order_type=OrderType.GTD, expiration_s=NOW // SECOND), ctx(), id="gtd-expired"),
        pytest.param(sell(size="11"), held("10"), id="sell-more-than-held"),
        pytest.param(sell(size="3"), held("10", open_sell_shares=D(8)), id="sell-already-offered"),
    ],
)
def test_invalid_intent(intent: OrderIntent, context: RiskContext) -> None:
    assert_denied(manager().evaluate(intent, context), RiskReason.INVALID_INTENT)


def test_future_gtd_is_valid() -> None:
    intent = buy(order_type=OrderType.GTD, expiration_s=NOW // SECOND + 120)
    assert_approved(manager().evaluate(intent, ctx()))


# --- time window -------------------------------------------------------------------------------


def at_seconds_to_end(seconds: int) -> RiskContext:
    return held(market=MARKET, now_ms=(MARKET.window_end - seconds) * SECOND)


@pytest.mark.parametrize(("seconds", "approved"), [(29, False), (30, True), (870, True), (871, False)])
def test_entry_time_window(seconds: int, approved: bool) -> None:
    decision = manager().evaluate(buy(), at_seconds_to_end(seconds))
    assert decision.approved is approved
    if not approved:
        assert_denied(decision, RiskReason.OUTSIDE_TIME_WINDOW)


def test_reducing_orders_may_exit_until_the_window_ends() -> None:
    risk = manager()
    assert_approved(risk.evaluate(sell(), at_seconds_to_end(1)))
    assert_denied(risk.evaluate(sell(reduces=False), at_seconds_to_end(1)), RiskReason.OUTSIDE_TIME_WINDOW)
    assert_denied(risk.evaluate(sell(), at_seconds_to_end(0)), RiskReason.OUTSIDE_TIME_WINDOW)


# --- order size and exposure ---------------------------------------------------------------------


def test_open_orders_limit_applies_to_every_order() -> None:
    risk = manager(max_open_orders=5)
    assert_approved(risk.evaluate(buy(), ctx(open_orders=4)))
    assert_denied(risk.evaluate(buy(), ctx(open_orders=5)), RiskReason.OPEN_ORDERS_LIMIT)
    assert_denied(risk.evaluate(sell(), held(open_orders=5)), RiskReason.OPEN_ORDERS_LIMIT)


def test_trade_size_limit_spares_only_risk_reducing_sells() -> None:
    risk = manager(max_trade_usd=D(1))
    assert_approved(risk.evaluate(buy(price="0.50", size="2"), ctx()))
    assert_denied(risk.evaluate(buy(price="0.50", size="2.02"), ctx()), RiskReason.TRADE_SIZE_LIMIT)
    assert_denied(risk.evaluate(sell(size="3", reduces=False), held()), RiskReason.TRADE_SIZE_LIMIT)
    assert_approved(risk.evaluate(sell(size="10"), held("10")))  # bounded by the position


def test_per_trade_loss_limit_caps_the_notional_of_buys() -> None:
    risk = manager(max_trade_usd=D(5), max_loss_per_trade_usd=D(1))
    assert_approved(risk.evaluate(buy(size="2"), ctx()))
    assert_denied(risk.evaluate(buy(size="2.02"), ctx()), RiskReason.LOSS_LIMIT_TRADE)
    assert_approved(risk.evaluate(sell(size="4", reduces=False), held()))  # no new money at stake


@pytest.mark.parametrize(
    ("field", "limit", "reason"),
    [
        ("total_exposure_usd", "max_exposure_usd", RiskReason.EXPOSURE_LIMIT),
        ("category_exposure_usd", "max_exposure_per_category_usd", RiskReason.CATEGORY_EXPOSURE_LIMIT),
        ("market_exposure_usd", "max_exposure_per_market_usd", RiskReason.MARKET_EXPOSURE_LIMIT),
        ("window_bought_usd", "max_window_usd", RiskReason.WINDOW_LIMIT),
    ],
)
def test_exposure_limits_count_this_order(field: str, limit: str, reason: RiskReason) -> None:
    risk = manager()
    room = getattr(risk.limits, limit) - D("0.5")  # exactly room for one 0.5 buy
    assert_approved(risk.evaluate(buy(), ctx(**{field: room})))
    assert_denied(risk.evaluate(buy(), ctx(**{field: room + D("0.01")})), reason)
    # A sell lowers exposure: never blocked by it, even when already over the limit.
    assert_approved(risk.evaluate(sell(), held(**{field: room + 10})))
    assert_approved(risk.evaluate(sell(reduces=False), held(**{field: room + 10})))


# --- market quality ------------------------------------------------------------------------------


def test_untrusted_or_crossed_book_is_refused() -> None:
    risk = manager()
    assert_denied(risk.evaluate(buy(), ctx(book_trusted=False)), RiskReason.BOOK_UNTRUSTED)
    assert_denied(risk.evaluate(sell(), held(book_trusted=False)), RiskReason.BOOK_UNTRUSTED)
    crossed = ctx(best_bid=D("0.52"), best_ask=D("0.51"))
    assert_denied(risk.evaluate(buy(), crossed), RiskReason.BOOK_UNTRUSTED)


@pytest.mark.parametrize(
    "book",
    [
        {"bid_depth_usd": D("9.99")},
        {"ask_depth_usd": D("9.99")},
        {"best_ask": None},
        {"best_bid": None},
    ],
)
def test_insufficient_depth(book: dict[str, Any]) -> None:
    assert_denied(manager().evaluate(buy(), ctx(**book)), RiskReason.INSUFFICIENT_DEPTH)


def test_spread_too_wide() -> None:
    risk = manager(max_spread_pct=D(10))
    assert_approved(risk.evaluate(buy(price="0.45"), ctx(best_bid=D("0.475"), best_ask=D("0.525"))))
    wide = ctx(best_bid=D("0.47"), best_ask=D("0.53"))  # 12 % of the 0.50 mid
    assert_denied(risk.evaluate(buy(price="0.45"), wide), RiskReason.SPREAD_TOO_WIDE)


def test_estimated_slippage_too_high() -> None:
    risk = manager(max_slippage_pct=D(5))
    assert_approved(risk.evaluate(buy(), ctx(est_slippage_pct=D(5))))
    assert_denied(risk.evaluate(buy(), ctx(est_slippage_pct=D("5.01"))), RiskReason.SLIPPAGE_TOO_HIGH)


def test_taker_limit_too_far_past_the_touch() -> None:
    risk = manager(max_slippage_cents=D(2))
    assert_approved(risk.evaluate(buy(price="0.53", order_type=OrderType.FOK), ctx()))
    far_buy = buy(price="0.54", order_type=OrderType.FOK)
    assert_denied(risk.evaluate(far_buy, ctx()), RiskReason.SLIPPAGE_TOO_HIGH)
    assert_denied(risk.evaluate(sell(price="0.46"), held()), RiskReason.SLIPPAGE_TOO_HIGH)
    assert_approved(risk.evaluate(sell(price="0.47"), held()))
