"""Tests for the risk state's persistence and status: the status snapshot is JSON-ready and
complete, the state round-trips through JSON, and a corrupt state is refused by name."""

from __future__ import annotations

import json

import pytest

from polyexec.core.risk import BreakerKind, RiskManager, RiskReason, TradingState
from polyexec.core.risk_codec import RISK_STATE_VERSION, decode_risk_state
from polyexec.core.risk_limits import RiskLimits
from tests.core.risk_factories import (
    CANCEL_ALL,
    DAY_MS,
    MARKET,
    NOW,
    SECOND,
    WIDE_LOSSES,
    D,
    assert_denied,
    buy,
    ctx,
    manager,
)


def tripped_everything() -> RiskManager:
    risk = manager(max_consecutive_rejects=2, **WIDE_LOSSES)
    risk.set_trading_state(TradingState.REDUCING, "feed stale", NOW)
    risk.engage_kill_switch("HALT file", NOW)
    risk.record_realized_pnl(D("-7.5"), NOW)
    risk.record_trade_result(D("-7.5"), NOW)
    risk.record_venue_reject(NOW)
    risk.record_venue_reject(NOW)
    risk.record_venue_reject(NOW)
    risk.record_api_health(False, NOW - 10 * SECOND)
    risk.update_equity(D(100), NOW)
    risk.update_equity(D(85), NOW)
    risk.add_cooldown(MARKET.up_token_id, NOW + 30 * SECOND, "venue cooldown")
    return risk


def test_status_reports_everything_machine_readably() -> None:
    risk = tripped_everything()
    status = risk.status(NOW)
    json.dumps(status)  # JSON-ready
    assert status["trading_state"] == "REDUCING"
    assert status["kill_switch"] == {"engaged": True, "reason": "HALT file", "since_ms": NOW}
    assert status["breakers"]["CONSECUTIVE_REJECTS"]["tripped"] is True
    assert status["breakers"]["CONSECUTIVE_REJECTS"]["until_ms"] == NOW + 300 * SECOND
    assert status["breakers"]["DRAWDOWN"]["tripped"] is True
    assert status["breakers"]["API_UNHEALTHY"]["tripped"] is False  # 10 s < 60 s
    assert status["breakers"]["LOSS_WINDOW"]["tripped"] is False
    assert status["losses"] == {
        "day_loss_usd": "7.5",
        "hour_loss_usd": "7.5",
        "consecutive_losses": 1,
        "consecutive_rejects": 1,
    }
    assert status["equity"]["drawdown_pct"] == "0"  # re-based at the trip
    assert status["cooldowns"] == {
        MARKET.up_token_id: {"until_ms": NOW + 30 * SECOND, "reason": "venue cooldown"}
    }
    risk.evaluate(buy(), ctx())
    risk.evaluate_cancel(CANCEL_ALL)
    assert risk.status(NOW)["decisions"] == {"KILL_SWITCH": 1}
    assert risk.status(NOW)["cancels"] == 1
    assert risk.status(NOW + 30 * SECOND)["cooldowns"] == {}


def test_state_round_trips_through_json() -> None:
    risk = tripped_everything()
    data = json.loads(json.dumps(risk.to_dict()))
    restored = RiskManager.from_dict(risk.limits, data)
    assert restored.to_dict() == risk.to_dict()
    assert restored.kill_switch_engaged
    restored.clear_kill_switch(NOW)
    assert_denied(restored.evaluate(buy(), ctx()), RiskReason.REDUCING_ONLY)
    restored.set_trading_state(TradingState.ACTIVE, "resume", NOW)
    for now in (NOW, NOW + 300 * SECOND, NOW + 3_600 * SECOND):
        later = restored.status(now)
        assert later["breakers"] == risk.status(now)["breakers"]
        assert later["losses"] == risk.status(now)["losses"]
    reason = RiskReason.CIRCUIT_BREAKER_CONSECUTIVE_REJECTS
    assert_denied(restored.evaluate(buy(token_id="2222"), ctx()), reason)


def test_corrupt_state_is_refused_with_a_clear_error() -> None:
    data = tripped_everything().to_dict()
    broken = {**data, "day": [None, "not a number", 0]}
    with pytest.raises(ValueError, match="invalid risk state"):
        RiskManager.from_dict(RiskLimits(), broken)
    with pytest.raises(ValueError, match="version"):
        RiskManager.from_dict(RiskLimits(), {**data, "version": 99})
    with pytest.raises(ValueError, match="invalid risk state"):
        RiskManager.from_dict(RiskLimits(), {k: v for k, v in data.items() if k != "breakers"})
    with pytest.raises(ValueError, match="invalid risk state"):
        RiskManager.from_dict(RiskLimits(), {**data, "cooldowns": ["not", "a", "mapping"]})
    with pytest.raises(ValueError, match="invalid risk state"):
        RiskManager.from_dict(RiskLimits(), ["not a mapping"])  # type: ignore[arg-type]


# --- the codec's own promises (added with the split) ---------------------------------------------


def test_encoded_layout_is_the_documented_one() -> None:
    data = tripped_everything().to_dict()
    assert list(data) == [
        "version", "trading_state", "kill_switch", "breakers", "pnl_events", "day", "reject_streak",
        "api_unhealthy_since_ms", "equity", "cooldowns",
    ]  # fmt: skip
    assert data["version"] == RISK_STATE_VERSION == 1
    assert list(data["breakers"]) == [str(kind) for kind in BreakerKind]
    # Amounts are strings, never floats; the drawdown trip re-based the peak at 85.
    assert data["pnl_events"] == [[NOW, "-7.5"]]
    assert data["day"] == [NOW // DAY_MS, "-7.5", 1]
    assert data["equity"] == ["85", "85"]


@pytest.mark.parametrize(
    ("entry", "value", "named"),
    [
        pytest.param("equity", [100.0, None], "equity.peak", id="float-amount"),
        pytest.param("pnl_events", [[NOW, "Infinity"]], r"pnl_events\[0\]", id="infinite-pnl"),
        pytest.param("reject_streak", True, "reject_streak", id="bool-count"),
        pytest.param("cooldowns", {"1111": [None, "x"]}, "cooldowns.1111", id="cooldown-without-expiry"),
        pytest.param("kill_switch", ["HALT file", "soon"], "kill_switch.since_ms", id="text-timestamp"),
    ],
)
def test_decoding_names_the_malformed_entry(entry: str, value: object, named: str) -> None:
    data = {**tripped_everything().to_dict(), entry: value}
    with pytest.raises(ValueError, match=f"invalid risk state: .*{named}"):
        decode_risk_state(RiskLimits(), data)
