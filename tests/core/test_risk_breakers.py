"""Tests for the blocks that lift themselves: venue cooldowns and the four circuit breakers
(loss window, consecutive rejects, API health, drawdown), each tripping and resetting."""

from __future__ import annotations

from polyexec.core.risk import BreakerKind, RiskReason
from tests.core.risk_factories import (
    MARKET,
    NOW,
    SECOND,
    WIDE_LOSSES,
    D,
    assert_approved,
    assert_denied,
    buy,
    ctx,
    held,
    manager,
    sell,
)

# --- venue cooldowns ---------------------------------------------------------------------------


def test_cooldown_skips_the_token_until_it_expires() -> None:
    risk = manager()
    risk.add_cooldown(MARKET.up_token_id, NOW + 5 * SECOND, "venue cooldown")
    risk.add_cooldown(MARKET.up_token_id, NOW + 1 * SECOND, "shorter: ignored")
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.COOLDOWN_CACHED)
    assert_approved(risk.evaluate(buy(token_id=MARKET.down_token_id), ctx()))
    assert_denied(risk.evaluate(buy(), ctx(now_ms=NOW + 4_999)), RiskReason.COOLDOWN_CACHED)
    assert_approved(risk.evaluate(buy(), ctx(now_ms=NOW + 5_000)))
    risk.purge_expired(NOW + 5_000)
    assert risk.to_dict()["cooldowns"] == {}


# --- circuit breakers ----------------------------------------------------------------------------


def test_loss_window_breaker_trips_and_resets_after_cooldown() -> None:
    risk = manager(max_loss_per_hour_usd=D(1000), max_loss_per_day_usd=D(1000))
    risk.record_realized_pnl(D(-6), NOW)
    risk.record_realized_pnl(D(2), NOW + 10 * SECOND)  # net, not gross: 4 lost so far
    assert_approved(risk.evaluate(buy(), ctx()))
    risk.record_realized_pnl(D(-6), NOW + 20 * SECOND)
    later = NOW + 20 * SECOND
    assert_denied(risk.evaluate(buy(), ctx(now_ms=later)), RiskReason.CIRCUIT_BREAKER_LOSS_WINDOW)
    assert_approved(risk.evaluate(sell(), held(now_ms=later)))  # cutting a position is allowed
    assert risk.tripped_breakers(later) == (BreakerKind.LOSS_WINDOW,)
    reset = later + 900 * SECOND
    assert_denied(risk.evaluate(buy(), ctx(now_ms=reset - 1)), RiskReason.CIRCUIT_BREAKER_LOSS_WINDOW)
    assert_approved(risk.evaluate(buy(), ctx(now_ms=reset)))


def test_loss_window_only_counts_losses_inside_the_window() -> None:
    risk = manager(**(WIDE_LOSSES | {"loss_breaker_usd": D(10)}))
    risk.record_realized_pnl(D(-6), NOW)
    risk.record_realized_pnl(D(-6), NOW + 300 * SECOND)  # the first loss has left the 300 s window
    assert risk.tripped_breakers(NOW + 300 * SECOND) == ()


def test_losses_that_tripped_the_breaker_do_not_trip_it_again() -> None:
    risk = manager(**(WIDE_LOSSES | {"loss_breaker_usd": D(10)}), loss_breaker_window_s=3600)
    risk.record_realized_pnl(D(-10), NOW)
    reset = NOW + 900 * SECOND
    risk.record_realized_pnl(D("-0.01"), reset)
    assert_approved(risk.evaluate(buy(), ctx(now_ms=reset)))


def test_consecutive_rejects_breaker_trips_blocks_everything_and_resets() -> None:
    risk = manager()
    for _ in range(9):
        risk.record_venue_reject(NOW)
    risk.record_venue_accept(NOW)  # the streak starts over
    for _ in range(9):
        risk.record_venue_reject(NOW)
    assert_approved(risk.evaluate(buy(), ctx()))
    risk.record_venue_reject(NOW)
    reason = RiskReason.CIRCUIT_BREAKER_CONSECUTIVE_REJECTS
    assert_denied(risk.evaluate(buy(), ctx()), reason)
    assert_denied(risk.evaluate(sell(), held()), reason)
    assert_approved(risk.evaluate(buy(), ctx(now_ms=NOW + 300 * SECOND)))
    risk.record_venue_reject(NOW + 300 * SECOND)  # the count restarted at the trip
    assert_approved(risk.evaluate(buy(), ctx(now_ms=NOW + 300 * SECOND)))


def test_api_unhealthy_breaker_holds_while_down_and_for_the_cooldown_after() -> None:
    risk = manager()
    down = NOW - 100 * SECOND
    risk.record_api_health(False, down)
    risk.record_api_health(False, down + 30 * SECOND)  # repeated reports keep the first time
    reason = RiskReason.CIRCUIT_BREAKER_API_UNHEALTHY
    assert_approved(risk.evaluate(buy(), ctx(now_ms=down + 60 * SECOND)))
    assert_denied(risk.evaluate(buy(), ctx(now_ms=down + 60 * SECOND + 1)), reason)
    assert_denied(risk.evaluate(sell(), held()), reason)
    assert risk.status(NOW)["breakers"]["API_UNHEALTHY"] == {
        "tripped": True,
        "until_ms": None,
        "reason": f"venue API unhealthy since {down}",
    }
    risk.record_api_health(True, NOW)
    assert_denied(risk.evaluate(buy(), ctx(now_ms=NOW + 300 * SECOND - 1)), reason)
    assert_approved(risk.evaluate(buy(), ctx(now_ms=NOW + 300 * SECOND)))


def test_short_api_outage_does_not_trip() -> None:
    risk = manager()
    risk.record_api_health(False, NOW)
    risk.record_api_health(True, NOW + 60 * SECOND)
    assert_approved(risk.evaluate(buy(), ctx(now_ms=NOW + 61 * SECOND)))


def test_drawdown_breaker_trips_from_session_peak_and_rebases() -> None:
    risk = manager()
    risk.update_equity(D(80), NOW)
    risk.update_equity(D(100), NOW)  # the peak
    risk.update_equity(D("90.5"), NOW)
    assert_approved(risk.evaluate(buy(), ctx()))
    risk.update_equity(D(90), NOW)  # 10 % below the peak
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.CIRCUIT_BREAKER_DRAWDOWN)
    assert_approved(risk.evaluate(sell(), held()))
    reset = NOW + 300 * SECOND
    risk.update_equity(D(89), reset)  # 1.1 % below the re-based peak of 90
    assert_approved(risk.evaluate(buy(), ctx(now_ms=reset)))
    risk.update_equity(D(81), reset)  # 10 % below 90
    assert_denied(risk.evaluate(buy(), ctx(now_ms=reset)), RiskReason.CIRCUIT_BREAKER_DRAWDOWN)
