"""Exact venue units: micro conversions, parsing, formatting, notional and fee rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyexec.sim.units import (
    fmt_decimal,
    fmt_micro,
    notional_micro,
    parse_decimal,
    shares_for_budget,
    taker_fee_micro,
    to_micro,
)

D = Decimal


def test_formatting_and_conversion() -> None:
    assert [fmt_decimal(D(x)) for x in ("10", "10.50", "0.520", "0", "1E+1")] == [
        "10",
        "10.5",
        "0.52",
        "0",
        "10",
    ]
    assert fmt_micro(10_500_000) == "10.5"
    assert to_micro(D("19.2307")) == 19_230_700
    with pytest.raises(ValueError, match="more than 6 decimals"):
        to_micro(D("0.0000001"))


def test_taker_fee_curve() -> None:
    rate = D("0.07")
    assert taker_fee_micro(100_000_000, D("0.5"), rate) == 1_750_000  # 1.75 cents a share at 0.50
    assert taker_fee_micro(100_000_000, D("0.1"), rate) == 630_000
    assert taker_fee_micro(10_000, D("0.01"), rate) == 10  # below 0.00001 still pays the minimum
    assert taker_fee_micro(1_000_000, D("0.5"), D(0)) == 0


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=1, max_value=999))
def test_a_budget_buys_what_it_can_pay_for(budget: int, mills: int) -> None:
    price = D(mills) / 1000
    shares = shares_for_budget(budget, price)
    assert notional_micro(shares, price) <= budget
    assert notional_micro(shares + 1, price) >= budget - 1


def test_parse_decimal_reads_numbers_and_refuses_the_rest() -> None:
    assert parse_decimal("0.52") == D("0.52")
    assert parse_decimal(5) == D(5)
    for bad in ("abc", "", None, "NaN", "Infinity", "-inf"):
        with pytest.raises(ValueError, match="decimal number"):
            parse_decimal(bad)
