"""The console status line: what an operator reads every five minutes."""

from __future__ import annotations

from typing import Any

import pytest

from polyexec.ops.console import format_duration, format_usd, status_line


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0:00:00"),
        (59.9, "0:00:59"),
        (3_661, "1:01:01"),
        (90_061, "1d 1:01:01"),
        (-1, "?"),
        ("5", "?"),
        (True, "?"),
    ],
)
def test_durations(seconds: object, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0.425", "+$0.43"),
        ("-0.4", "-$0.40"),
        ("0", "+$0.00"),
        ("NaN", "?"),
        ("Infinity", "?"),
        (None, "?"),
        ("x", "?"),
    ],
)
def test_dollar_amounts(amount: object, shown: str) -> None:
    assert format_usd(amount) == shown


def _status(**overrides: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "mode": "paper",
        "state": "RUNNING",
        "uptime_s": 300,
        "trades": 3,
        "orders": {"fills": 7},
        "pnl": {"realized_pnl": "1.00", "unrealized_pnl": "-0.20", "fees_paid": "0.38"},
        "open_positions": 1,
        "open_orders": 2,
        "risk": {
            "trading_state": "ACTIVE",
            "kill_switch": {"engaged": False},
            "breakers": {"LOSS_WINDOW": {"tripped": False}},
        },
    }
    status.update(overrides)
    return status


def test_status_line_shows_what_an_operator_needs() -> None:
    line = status_line(_status())
    assert line == (
        "polyexec paper | RUNNING | up 0:05:00 | trades 3 (fills 7) | net PnL +$0.42 | positions 1 "
        "| open orders 2 | risk ACTIVE"
    )


def test_tripped_breakers_and_kill_switch_are_named() -> None:
    risk = {
        "trading_state": "HALTED",
        "kill_switch": {"engaged": True},
        "breakers": {"LOSS_WINDOW": {"tripped": True}, "DRAWDOWN": {"tripped": False}},
    }
    assert status_line(_status(risk=risk)).endswith("risk HALTED (breakers: LOSS_WINDOW) KILL SWITCH")


def test_missing_or_malformed_fields_show_question_marks_instead_of_failing() -> None:
    line = status_line({"pnl": {"realized_pnl": "oops"}, "risk": "nonsense", "orders": None})
    assert line == (
        "polyexec ? | ? | up ? | trades ? (fills ?) | net PnL ? | positions ? | open orders ? | risk ?"
    )
