"""Decimals in saved records: the one rule every crash-recovery codec reads and writes them by.

The order, fill, portfolio and risk records (:mod:`polyexec.core.order_codec`,
:mod:`polyexec.core.order_fills`, :mod:`polyexec.core.portfolio_codec`,
:mod:`polyexec.core.risk_codec`) store every amount as a **string** (``str(Decimal)``), so no
float ever touches money on its way through JSON. Reading one back is strict: a number where a
string belongs has already lost exactness and is refused rather than converted, and so is a NaN
or an infinity, which no amount can be. Each codec wraps these errors into its own
``ValueError`` naming the record.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["decimal_from_record", "optional_decimal_from_record", "optional_decimal_to_record"]


def decimal_from_record(raw: object, what: str = "amount") -> Decimal:
    """The Decimal saved as the string ``raw``; ``what`` names the field in the error.

    ``TypeError`` for anything but a string (a float in a record has already lost exactness),
    ``decimal.InvalidOperation`` for text that is not a number, ``ValueError`` for a NaN or an
    infinity.
    """
    if not isinstance(raw, str):
        raise TypeError(f"{what}: amounts are stored as decimal strings, got {raw!r}")
    value = Decimal(raw)
    if not value.is_finite():
        raise ValueError(f"{what} must be a finite decimal, got {raw!r}")
    return value


def optional_decimal_from_record(raw: object, what: str = "amount") -> Decimal | None:
    """:func:`decimal_from_record`, with ``None`` (JSON ``null``) read as ``None``."""
    return None if raw is None else decimal_from_record(raw, what)


def optional_decimal_to_record(value: Decimal | None) -> str | None:
    """The record form of an optional amount: its string, or ``None``."""
    return None if value is None else str(value)
