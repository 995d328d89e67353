"""SettlementAverage: the time-weighted mean of the settlement window observed so far."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.engine.settlement_average import SettlementAverage

D = Decimal
START, END = 1_000_000, 1_060_000


def test_nothing_before_the_start_or_before_a_sample() -> None:
    average = SettlementAverage(START, END)
    assert average.observed(START + 5_000) is None
    average.add(D(100), START - 3_000)
    assert average.observed(START - 1) is None
    assert average.observed(START) == (0, D(100))


def test_each_price_weighs_by_how_long_it_stood() -> None:
    average = SettlementAverage(START, END)
    average.add(D(100), START - 3_000)  # standing at the start
    average.add(D(130), START + 20_000)
    assert average.observed(START + 30_000) == (30, (D(100) * 20 + D(130) * 10) / 30)
    assert average.observed(START + 29_500) == (30, (D(100) * 20_000 + D(130) * 9_500) / 29_500)  # rounded up
    assert average.observed(END + 5_000) == (60, (D(100) * 20 + D(130) * 40) / 60)  # the whole window


def test_without_a_price_at_the_start_the_average_begins_at_the_first_sample() -> None:
    average = SettlementAverage(START, END)
    average.add(D(200), START + 10_000)
    average.add(D(100), START + 20_000)
    assert average.observed(START + 30_000) == (30, D(150))


def test_bad_and_out_of_order_samples_are_counted_and_skipped() -> None:
    average = SettlementAverage(START, END)
    average.add(D(100), START + 1_000)
    assert not average.add(D("NaN"), START + 2_000)
    assert not average.add(D(-1), START + 2_000)
    assert not average.add(D(300), START)  # older than the newest
    assert average.rejected == 3
    assert average.observed(START + 11_000) == (11, D(100))
    with pytest.raises(ValueError, match="empty"):
        SettlementAverage(END, END)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(1, 1_000), st.integers(-10_000, 70_000)), min_size=1, max_size=20))
def test_the_mean_lies_between_the_prices_that_stood(samples: list[tuple[int, int]]) -> None:
    average = SettlementAverage(START, END)
    taken = []
    for price, offset in sorted(samples, key=lambda sample: sample[1]):
        if average.add(D(price), START + offset):
            taken.append((offset, price))
    observed = average.observed(END)
    assert observed is not None
    assert observed[0] == 60
    standing = [p for t, p in taken if t <= 0][-1:] + [p for t, p in taken if t > 0]
    assert min(standing) <= observed[1] <= max(standing)
