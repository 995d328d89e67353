"""Tests for the decision vocabulary: the reason codes are the documented wire strings, and a
risk context refuses negative and non-finite numbers, naming the field."""

from __future__ import annotations

from dataclasses import fields

import pytest

from polyexec.core.risk import BreakerKind, RiskContext, RiskReason
from tests.core.risk_factories import D, ctx


def test_reason_codes_are_the_documented_wire_strings() -> None:
    assert {str(reason) for reason in RiskReason} == {
        "APPROVED", "KILL_SWITCH", "HALTED", "REDUCING_ONLY", "INVALID_INTENT", "COOLDOWN_CACHED",
        "CIRCUIT_BREAKER:LOSS_WINDOW", "CIRCUIT_BREAKER:CONSECUTIVE_REJECTS",
        "CIRCUIT_BREAKER:API_UNHEALTHY", "CIRCUIT_BREAKER:DRAWDOWN", "TRADE_SIZE_LIMIT", "WINDOW_LIMIT",
        "EXPOSURE_LIMIT", "MARKET_EXPOSURE_LIMIT", "CATEGORY_EXPOSURE_LIMIT", "OPEN_ORDERS_LIMIT",
        "LOSS_LIMIT:TRADE", "LOSS_LIMIT:HOUR", "LOSS_LIMIT:DAY", "CONSECUTIVE_LOSSES", "BOOK_UNTRUSTED",
        "INSUFFICIENT_DEPTH", "SPREAD_TOO_WIDE", "SLIPPAGE_TOO_HIGH", "OUTSIDE_TIME_WINDOW",
    }  # fmt: skip
    assert {RiskReason.for_breaker(kind) for kind in BreakerKind} == {
        reason for reason in RiskReason if reason.startswith("CIRCUIT_BREAKER:")
    }


def test_context_rejects_negative_and_non_finite_numbers() -> None:
    with pytest.raises(ValueError, match="total_exposure_usd"):
        ctx(total_exposure_usd=D(-1))
    with pytest.raises(ValueError, match="est_slippage_pct"):
        ctx(est_slippage_pct=D("NaN"))
    with pytest.raises(ValueError, match="open_orders"):
        ctx(open_orders=-1)


def test_every_number_of_the_context_is_checked() -> None:
    """The field list the check walks is every numeric field of the dataclass (none forgotten)."""
    numeric = [
        spec.name
        for spec in fields(RiskContext)
        if spec.name not in ("market", "book_trusted", "best_bid", "best_ask", "now_ms")
    ]
    assert len(numeric) == 10
    for name in numeric:
        with pytest.raises(ValueError, match=name):
            ctx(**{name: -1 if name == "open_orders" else D(-1)})
    for name in ("best_bid", "best_ask"):
        with pytest.raises(ValueError, match=name):
            ctx(**{name: D("Infinity")})
