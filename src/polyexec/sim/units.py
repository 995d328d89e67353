"""Venue units: exact conversions between shares/pUSD and the 6-decimal integers the exchange keeps.

The simulator keeps every balance, position and order size as an integer number of
**micro-units** (1e-6 of a share or of a pUSD), the same 6-decimal base units the venue signs
orders in. Prices are :class:`~decimal.Decimal` values on the market's tick grid. Nothing here
touches a float.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "MICRO",
    "ONE_SHARE",
    "fmt_decimal",
    "fmt_micro",
    "from_micro",
    "notional_micro",
    "parse_decimal",
    "shares_for_budget",
    "taker_fee_micro",
    "to_micro",
]

MICRO = Decimal(1_000_000)
ONE_SHARE = 1_000_000
# The venue rounds fees to 5 decimals and charges at least 0.00001 pUSD when a fee is due.
_FEE_QUANTUM_MICRO = 10


def to_micro(value: Decimal) -> int:
    """Convert shares or pUSD to micro-units; raises ``ValueError`` if it is finer than 1e-6."""
    scaled = value * MICRO
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than 6 decimals")
    return int(scaled)


def from_micro(amount: int) -> Decimal:
    """Micro-units back to a Decimal number of shares or pUSD."""
    return Decimal(amount) / MICRO


def parse_decimal(value: object) -> Decimal:
    """A finite Decimal from a JSON number or a string (``"0.52"``, ``5``); ``ValueError``
    naming the value otherwise (``NaN`` and ``Infinity`` included)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"not a finite decimal number: {value!r}")
    return number


def fmt_decimal(value: Decimal) -> str:
    """The venue's decimal string: no exponent, no trailing zeros (``"10"``, ``"4.5"``, ``"0.52"``)."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def fmt_micro(amount: int) -> str:
    """Micro-units as a decimal share/pUSD string (``10_500_000`` → ``"10.5"``)."""
    return fmt_decimal(from_micro(amount))


def notional_micro(shares_micro: int, price: Decimal) -> int:
    """pUSD paid for ``shares_micro`` shares at ``price``, rounded half-even to a micro-unit.

    The buyer pays exactly what the seller receives, so whatever the rounding the ledger
    stays balanced.
    """
    return int((Decimal(shares_micro) * price).to_integral_value(rounding=ROUND_HALF_EVEN))


def shares_for_budget(budget_micro: int, price: Decimal) -> int:
    """The most whole micro-shares a ``budget_micro`` pUSD budget buys at ``price``."""
    if price <= 0:
        raise ValueError(f"price must be positive (got {price})")
    return int((Decimal(budget_micro) / price).to_integral_value(rounding=ROUND_FLOOR))


def taker_fee_micro(shares_micro: int, price: Decimal, rate: Decimal) -> int:
    """The crypto taker fee ``shares × rate × p × (1−p)`` in micro pUSD.

    Rounded half-up to 5 decimals (10 micro-units); a positive fee is at least 0.00001 pUSD.
    """
    raw = Decimal(shares_micro) * rate * price * (1 - price)
    if raw <= 0:
        return 0
    quanta = (raw / _FEE_QUANTUM_MICRO).to_integral_value(rounding=ROUND_HALF_UP)
    return max(int(quanta), 1) * _FEE_QUANTUM_MICRO
