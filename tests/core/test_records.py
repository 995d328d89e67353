"""Tests for polyexec.core.records: amounts read back from saved records exactly, and anything
that is not a finite decimal string refused, naming the field."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import pytest

from polyexec.core.records import (
    decimal_from_record,
    optional_decimal_from_record,
    optional_decimal_to_record,
)

D = Decimal


def test_decimal_from_record() -> None:
    assert decimal_from_record("0.00001") == D("0.00001")
    with pytest.raises(TypeError, match=r"0\.5"):
        decimal_from_record(0.5)
    with pytest.raises(InvalidOperation):
        decimal_from_record("half")


def test_an_amount_keeps_its_exact_digits_through_the_record_form() -> None:
    for text in ("0.52", "0.520", "-7.5", "1E+1", "19.99", "0.000001"):
        value = decimal_from_record(text)
        assert str(value) == text
        assert optional_decimal_to_record(value) == text
        assert decimal_from_record(optional_decimal_to_record(value) or "") == value


@pytest.mark.parametrize("raw", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_a_non_finite_amount_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(ValueError, match=r"equity\.peak must be a finite decimal"):
        decimal_from_record(raw, "equity.peak")


@pytest.mark.parametrize("raw", [1, 0.5, True, None, ["0.5"]])
def test_anything_but_a_string_is_refused_naming_the_field(raw: object) -> None:
    with pytest.raises(TypeError, match="fee: amounts are stored as decimal strings"):
        decimal_from_record(raw, "fee")


def test_optional_amounts_read_and_write_null_as_none() -> None:
    assert optional_decimal_from_record(None, "reference_price") is None
    assert optional_decimal_from_record("0.5", "reference_price") == D("0.5")
    assert optional_decimal_to_record(None) is None
    with pytest.raises(TypeError, match="reference_price"):
        optional_decimal_from_record(0.5, "reference_price")
