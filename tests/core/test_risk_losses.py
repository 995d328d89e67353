"""Tests for the loss limits and their accounting: the UTC loss day and its reset, the rolling
hour, the losing streak, and a zero limit that tolerates no loss but allows the first trade."""

from __future__ import annotations

from polyexec.core.risk import RiskReason
from polyexec.core.risk_losses import LossTracker, limit_reached
from tests.core.risk_factories import (
    DAY_MS,
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


def test_day_loss_limit() -> None:
    risk = manager(**(WIDE_LOSSES | {"max_loss_per_day_usd": D(20)}))
    risk.record_realized_pnl(D("-19.99"), NOW)
    assert_approved(risk.evaluate(buy(), ctx()))
    risk.record_realized_pnl(D("-0.01"), NOW)
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.LOSS_LIMIT_DAY)
    assert_approved(risk.evaluate(sell(), held()))


def test_hour_loss_limit_is_rolling() -> None:
    risk = manager(**(WIDE_LOSSES | {"max_loss_per_hour_usd": D(5)}))
    risk.record_realized_pnl(D(-5), NOW)
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.LOSS_LIMIT_HOUR)
    assert_denied(risk.evaluate(buy(), ctx(now_ms=NOW + 3_599_999)), RiskReason.LOSS_LIMIT_HOUR)
    assert_approved(risk.evaluate(buy(), ctx(now_ms=NOW + 3_600_000)))


def test_daily_loss_resets_at_utc_midnight() -> None:
    risk = manager(**(WIDE_LOSSES | {"max_loss_per_day_usd": D(20)}), max_consecutive_losses=2)
    midnight = (NOW // DAY_MS + 1) * DAY_MS
    before = midnight - 2 * 3_600_000  # two hours before: the rolling hour is clear by midnight
    risk.record_realized_pnl(D(-20), before)
    risk.record_trade_result(D(-1), before)
    risk.record_trade_result(D(-1), before)
    assert_denied(risk.evaluate(buy(), ctx(now_ms=midnight - 1)), RiskReason.LOSS_LIMIT_DAY)
    assert risk.day_loss(midnight - 1) == D(20)
    assert risk.day_loss(midnight) == 0
    assert risk.loss_streak(midnight) == 0
    assert_approved(risk.evaluate(buy(), ctx(now_ms=midnight)))
    risk.record_realized_pnl(D(-1), midnight + 1)  # the new day starts from zero
    assert risk.day_loss(midnight + 1) == D(1)


def test_explicit_daily_reset() -> None:
    risk = manager(**(WIDE_LOSSES | {"max_loss_per_day_usd": D(20)}))
    risk.record_realized_pnl(D(-25), NOW)
    risk.reset_daily(NOW + 1)
    assert_approved(risk.evaluate(buy(), ctx(now_ms=NOW + 1)))


def test_consecutive_losses_stop_and_a_win_resets_the_streak() -> None:
    risk = manager(max_consecutive_losses=3)
    for _ in range(2):
        risk.record_trade_result(D(-1), NOW)
    risk.record_trade_result(D(0), NOW)  # break-even is not a loss
    for _ in range(2):
        risk.record_trade_result(D(-1), NOW)
    assert_approved(risk.evaluate(buy(), ctx()))
    risk.record_trade_result(D("-0.5"), NOW)
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.CONSECUTIVE_LOSSES)
    assert_approved(risk.evaluate(sell(), held()))
    risk.record_trade_result(D("0.1"), NOW)
    assert_approved(risk.evaluate(buy(), ctx()))


def test_zero_loss_limit_tolerates_no_loss_but_allows_the_first_trade() -> None:
    risk = manager(max_loss_per_day_usd=D(0))
    assert_approved(risk.evaluate(buy(), ctx()))
    risk.record_realized_pnl(D("-0.01"), NOW)
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.LOSS_LIMIT_DAY)


# --- the loss tracker on its own (added with the split) -----------------------------------------


def test_a_limit_is_reached_only_by_a_positive_value_at_or_above_it() -> None:
    assert not limit_reached(0, 0)
    assert limit_reached(D("0.01"), 0)
    assert not limit_reached(D("4.99"), D(5))
    assert limit_reached(D(5), D(5))
    assert limit_reached(3, 3)


def test_window_loss_is_net_and_leaves_out_losses_up_to_after_ms() -> None:
    losses = LossTracker()
    window = 300 * SECOND
    losses.record_pnl(D(-4), NOW, window)
    losses.record_pnl(D(1), NOW + SECOND, window)
    losses.record_pnl(D(-2), NOW + 2 * SECOND, window)
    now = NOW + 2 * SECOND
    assert losses.window_loss(now, window) == D(5)
    assert losses.window_loss(now, window, after_ms=NOW) == D(1)  # the -4 at NOW is out
    assert losses.window_loss(now, SECOND) == D(2)  # only the -2 is inside the last second
    assert losses.window_loss(now, SECOND + 1, after_ms=NOW) == D(1)
    losses.record_pnl(D(9), now, window)
    assert losses.window_loss(now, window) == 0  # net gains are no loss, never a negative one


def test_events_are_kept_for_the_longer_of_the_hour_and_the_breaker_window() -> None:
    hour = 3_600 * SECOND
    short_window = LossTracker()  # a 300 s breaker window: the rolling hour needs more
    short_window.record_pnl(D(-1), NOW, 300 * SECOND)
    short_window.record_pnl(D(-1), NOW + hour - 1, 300 * SECOND)
    assert short_window.hour_loss(NOW + hour - 1) == D(2)
    short_window.record_pnl(D(-1), NOW + hour, 300 * SECOND)
    assert [ts for ts, _ in short_window.events] == [NOW + hour - 1, NOW + hour]
    long_window = LossTracker()  # a two-hour breaker window outlasts the hour
    for ts in (NOW, NOW + hour, NOW + 2 * hour):
        long_window.record_pnl(D(-1), ts, 2 * hour)
    assert [ts for ts, _ in long_window.events] == [NOW + hour, NOW + 2 * hour]
    assert long_window.window_loss(NOW + 2 * hour, 2 * hour) == D(2)
