"""Tests for polyexec.core.pricing: tick table, quantisation, order amounts, units and fees.

Order amounts are checked three ways: against the worked examples of the protocol doc (§4.5,
§4.6), against an independent Decimal transcription of the venue's rule written here, and against
``py-clob-client-v2``'s own amount functions (the oracle) over every price of the 0.01 and 0.001
grids and over hypothesis cases on every tick. The SDK computes in floats; where it differs from
the exact rule the difference must fall into one of the three documented classes below, and is
counted, never silently accepted:

* ``A``: the SDK's ``floor(size * 100)`` (market BUY: the dollar amount) shaves a cent, e.g.
  ``19.99 * 100 == 1998.9999999999998``.
* ``B``: the SDK's ``floor(worst_price * 10**price_decimals)`` of a market order shaves a tick,
  e.g. 0.29 → 0.28 on the 0.01 grid.
* ``C``: the rounded leg times ``10**(amount_decimals + 4)`` is at least 2^51, beyond where the
  SDK's float ceil is exact; its leg is then within one unit of the last amount decimal.
"""

from __future__ import annotations

import math
from collections import Counter
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder

from polyexec.core.models import FeeSchedule, Liquidity, Side
from polyexec.core.pricing import (
    TICK_SIZES,
    OrderAmounts,
    Rounding,
    clamp_price,
    fee_for_fill,
    fee_per_share,
    from_units,
    implied_price,
    is_valid_price,
    is_valid_size,
    limit_order_amounts,
    market_order_amounts,
    parse_tick_size,
    quantize_price,
    quantize_size,
    rounding_config,
    rounding_within_limit,
    taker_fee,
    tick_for_price,
    to_units,
)

D = Decimal
CENT_TICK = D("0.01")
MILLI_TICK = D("0.001")
CRYPTO = FeeSchedule()


class Kind(Enum):
    LIMIT = "limit"
    MARKET = "market"


# --------------------------------------------------------------------------------------------
# Tick table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tick", "decimals"),
    [
        ("0.1", (1, 2, 3)),
        ("0.01", (2, 2, 4)),
        ("0.005", (3, 2, 5)),
        ("0.0025", (4, 2, 6)),
        ("0.001", (3, 2, 5)),
        ("0.0001", (4, 2, 6)),
    ],
)
def test_rounding_table_matches_the_venue(tick: str, decimals: tuple[int, int, int]) -> None:
    config = rounding_config(D(tick))
    assert (config.price_decimals, config.size_decimals, config.amount_decimals) == decimals
    sdk = ROUNDING_CONFIG[tick]
    assert (sdk.price, sdk.size, sdk.amount) == decimals
    assert config.min_price == D(tick)
    assert config.max_price == 1 - D(tick)


def test_tick_sizes_are_exactly_the_sdk_table() -> None:
    assert sorted(str(tick) for tick in TICK_SIZES) == sorted(ROUNDING_CONFIG)


@pytest.mark.parametrize("tick", [D("0.02"), D("0.05"), D("0.00001"), D(1), D(0), D("NaN"), D("-0.01")])
def test_unknown_tick_size_is_a_value_error_naming_it(tick: Decimal) -> None:
    with pytest.raises(ValueError, match="unknown tick size"):
        rounding_config(tick)


def test_float_tick_size_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Decimal"):
        rounding_config(0.01)  # type: ignore[arg-type]


def test_equal_tick_spellings_share_one_config() -> None:
    assert rounding_config(D("0.010")) is rounding_config(D("1E-2"))
    assert parse_tick_size("0.010") == D("0.01")
    assert str(parse_tick_size(" 1E-3 ")) == "0.001"


@pytest.mark.parametrize("raw", ["abc", "", "0.02", "0.1.1"])
def test_parse_tick_size_rejects_garbage(raw: str) -> None:
    with pytest.raises(ValueError, match="tick size"):
        parse_tick_size(raw)


@pytest.mark.parametrize(
    ("price", "tick"),
    [("0.5", "0.01"), ("0.96", "0.01"), ("0.04", "0.01"), ("0.961", "0.001"), ("0.039", "0.001")],
)
def test_tick_for_price_follows_the_crypto_rule(price: str, tick: str) -> None:
    assert tick_for_price(D(price)) == D(tick)


# --------------------------------------------------------------------------------------------
# Prices and sizes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "tick", "valid"),
    [
        ("0.52", "0.01", True),
        ("0.520", "0.01", True),
        ("0.01", "0.01", True),
        ("0.99", "0.01", True),
        ("0.00", "0.01", False),
        ("1", "0.01", False),
        ("0.525", "0.01", False),
        ("0.525", "0.005", True),
        ("0.523", "0.005", False),
        ("0.0025", "0.0025", True),
        ("0.9975", "0.0025", True),
        ("0.9999", "0.0001", True),
        ("-0.01", "0.01", False),
        ("NaN", "0.01", False),
        ("Infinity", "0.01", False),
    ],
)
def test_is_valid_price(price: str, tick: str, valid: bool) -> None:
    assert is_valid_price(D(price), D(tick)) is valid


def test_float_price_is_refused() -> None:
    with pytest.raises(TypeError, match="price"):
        is_valid_price(0.5, CENT_TICK)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="price"):
        limit_order_amounts(Side.BUY, 0.5, D(10), CENT_TICK)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("price", "rounding", "expected"),
    [
        ("0.5234", Rounding.DOWN, "0.52"),
        ("0.5234", Rounding.UP, "0.53"),
        ("0.5234", Rounding.NEAREST, "0.52"),
        ("0.5250", Rounding.NEAREST, "0.52"),  # tie: to the even tick
        ("0.5350", Rounding.NEAREST, "0.54"),
        ("0.52", Rounding.UP, "0.52"),
        ("0.004", Rounding.DOWN, "0.00"),  # not clamped: the caller sees an invalid price
    ],
)
def test_quantize_price_directions(price: str, rounding: Rounding, expected: str) -> None:
    result = quantize_price(D(price), CENT_TICK, rounding)
    assert result == D(expected)
    assert result.as_tuple().exponent == -2


def test_quantize_price_keeps_the_tick_decimals() -> None:
    assert str(quantize_price(D("0.5"), MILLI_TICK, Rounding.DOWN)) == "0.500"
    assert str(quantize_price(D("0.5237"), D("0.005"), Rounding.UP)) == "0.525"
    assert str(quantize_price(D("0.52371"), D("0.0025"), Rounding.DOWN)) == "0.5225"


def test_quantize_price_clamps_only_when_asked() -> None:
    assert quantize_price(D("0.004"), CENT_TICK, Rounding.DOWN, clamp=True) == D("0.01")
    assert quantize_price(D("0.999"), CENT_TICK, Rounding.UP) == D("1.00")
    assert quantize_price(D("0.999"), CENT_TICK, Rounding.UP, clamp=True) == D("0.99")


def test_rounding_within_limit_keeps_each_side_inside_its_limit() -> None:
    assert rounding_within_limit(Side.BUY) is Rounding.DOWN
    assert rounding_within_limit(Side.SELL) is Rounding.UP
    limit = D("0.5234")
    assert quantize_price(limit, CENT_TICK, rounding_within_limit(Side.BUY)) <= limit
    assert quantize_price(limit, CENT_TICK, rounding_within_limit(Side.SELL)) >= limit


@settings(max_examples=150)
@given(
    tick=st.sampled_from(TICK_SIZES),
    price=st.decimals(min_value=D("0.00001"), max_value=D("0.99999"), places=6),
)
def test_quantize_price_brackets_the_price_within_one_tick(tick: Decimal, price: Decimal) -> None:
    down = quantize_price(price, tick, Rounding.DOWN)
    up = quantize_price(price, tick, Rounding.UP)
    nearest = quantize_price(price, tick, Rounding.NEAREST)
    assert down <= price <= up
    assert up - down in (0, tick)
    assert (up == down) is (price % tick == 0)
    assert nearest in (down, up)
    assert abs(nearest - price) <= tick / 2
    assert down % tick == 0
    assert up % tick == 0


def test_clamp_price() -> None:
    assert clamp_price(D("0"), CENT_TICK) == D("0.01")
    assert clamp_price(D("1.2"), CENT_TICK) == D("0.99")
    assert str(clamp_price(D("0.9999"), MILLI_TICK)) == "0.999"
    assert clamp_price(D("0.523"), CENT_TICK) == D("0.523")  # inside: unchanged, even off-grid


def test_quantize_and_validate_size() -> None:
    assert quantize_size(D("10.129"), MILLI_TICK) == D("10.12")
    assert str(quantize_size(D("19.99"), CENT_TICK)) == "19.99"
    assert quantize_size(D("10.121"), CENT_TICK, Rounding.UP) == D("10.13")
    assert quantize_size(D("0.009"), CENT_TICK) == 0
    assert quantize_size(7, CENT_TICK) == D("7.00")
    with pytest.raises(ValueError, match="negative"):
        quantize_size(D("-1"), CENT_TICK)
    assert is_valid_size(D("5.25"), CENT_TICK)
    assert not is_valid_size(D("5.251"), CENT_TICK)
    assert not is_valid_size(D(0), CENT_TICK)
    assert not is_valid_size(D("NaN"), CENT_TICK)


# --------------------------------------------------------------------------------------------
# Order amounts: worked examples and errors
# --------------------------------------------------------------------------------------------


def test_worked_example_limit_buy() -> None:
    amounts = limit_order_amounts(Side.BUY, D("0.52"), D(10), CENT_TICK)
    assert (amounts.maker_amount, amounts.taker_amount) == (5_200_000, 10_000_000)
    assert (amounts.price, amounts.size, amounts.notional) == (D("0.52"), D(10), D("5.2"))
    assert (amounts.usd_units, amounts.share_units) == (5_200_000, 10_000_000)


def test_worked_example_limit_sell_floors_the_size() -> None:
    amounts = limit_order_amounts(Side.SELL, D("0.523"), D("10.129"), MILLI_TICK)
    assert (amounts.maker_amount, amounts.taker_amount) == (10_120_000, 5_292_760)
    assert amounts.size == D("10.12")
    assert (amounts.usd_units, amounts.share_units) == (5_292_760, 10_120_000)


def test_worked_example_market_buy_floors_the_shares() -> None:
    amounts = market_order_amounts(Side.BUY, D(10), D("0.52"), CENT_TICK)
    assert (amounts.maker_amount, amounts.taker_amount) == (10_000_000, 19_230_700)
    assert amounts.size == D("19.2307")
    # flooring the shares puts the implied price a hair above the worst price (venue rule)
    assert implied_price(Side.BUY, 10_000_000, 19_230_700, rounding=Rounding.DOWN) > D("0.52")


def test_worked_example_market_sell() -> None:
    amounts = market_order_amounts(Side.SELL, D(25), D("0.45"), CENT_TICK)
    assert (amounts.maker_amount, amounts.taker_amount) == (25_000_000, 11_250_000)


@pytest.mark.parametrize(
    ("price", "size", "message"),
    [
        (D("0.523"), D(10), "invalid price"),
        (D("0"), D(10), "invalid price"),
        (D("1"), D(10), "invalid price"),
        (D("0.5"), D("0.009"), "not positive"),
        (D("0.5"), D("-5"), "not positive"),
        (D("NaN"), D(10), "finite"),
    ],
)
def test_limit_order_rejects_bad_input(price: Decimal, size: Decimal, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        limit_order_amounts(Side.BUY, price, size, CENT_TICK)


def test_market_order_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="invalid price"):
        market_order_amounts(Side.BUY, D(10), D("0.525"), CENT_TICK)
    with pytest.raises(ValueError, match="not positive"):
        market_order_amounts(Side.BUY, D("0.009"), D("0.5"), CENT_TICK)
    with pytest.raises(TypeError, match="amount"):
        market_order_amounts(Side.SELL, 10.0, D("0.5"), CENT_TICK)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Side"):
        market_order_amounts("buy", D(10), D("0.5"), CENT_TICK)  # type: ignore[arg-type]


def test_side_given_as_its_wire_string_is_accepted() -> None:
    amounts = limit_order_amounts("SELL", D("0.5"), D(10), CENT_TICK)  # type: ignore[arg-type]
    assert amounts.side is Side.SELL
    assert isinstance(amounts, OrderAmounts)


def test_implied_price_is_exact_for_limit_orders_and_needs_a_rounding_otherwise() -> None:
    for side in Side:
        amounts = limit_order_amounts(side, D("0.523"), D("10.129"), MILLI_TICK)
        assert implied_price(side, amounts.maker_amount, amounts.taker_amount) == D("0.523")
    with pytest.raises(ValueError, match="name a rounding"):
        implied_price(Side.BUY, 10_000_000, 19_230_700)
    down = implied_price(Side.BUY, 10_000_000, 19_230_700, rounding=Rounding.DOWN, places=6)
    up = implied_price(Side.BUY, 10_000_000, 19_230_700, rounding=Rounding.UP, places=6)
    assert (down, up) == (D("0.520001"), D("0.520002"))
    with pytest.raises(ValueError, match="positive"):
        implied_price(Side.SELL, 0, 1)
    with pytest.raises(TypeError, match="int"):
        implied_price(Side.SELL, D(1), 1)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Independent transcription of the venue rule (§4.5/§4.6), and the SDK oracle
# --------------------------------------------------------------------------------------------


def _floor(value: Decimal, places: int) -> Decimal:
    return value.quantize(D(1).scaleb(-places), rounding=ROUND_FLOOR)


def _venue_round(value: Decimal, places: int) -> Decimal:
    if value == _floor(value, places):
        return value
    return _floor(value.quantize(D(1).scaleb(-places - 4), rounding=ROUND_CEILING), places)


def _reference(kind: Kind, side: Side, price: Decimal, amount: Decimal, tick: Decimal) -> tuple[int, int]:
    """The doc's pseudo-code in plain Decimal, for any price (on the grid or not)."""
    places = rounding_config(tick).amount_decimals
    with localcontext() as context:
        context.prec = 60
        if kind is Kind.MARKET and side is Side.BUY:
            usd = _floor(amount, 2)
            shares = _venue_round(usd / price, places)
        else:
            shares = _floor(amount, 2)
            usd = _venue_round(shares * price, places)
        usd_units, share_units = int(usd * 10**6), int(shares * 10**6)
    return (usd_units, share_units) if side is Side.BUY else (share_units, usd_units)


_SDK = OrderBuilder(None)  # the amount functions use no key; building one would add nothing


def _sdk(kind: Kind, side: Side, price: Decimal, amount: Decimal, tick: Decimal) -> tuple[int, int]:
    function: Any = _SDK.get_order_amounts if kind is Kind.LIMIT else _SDK.get_market_order_amounts
    _, maker, taker = function(side.value, float(amount), float(price), ROUNDING_CONFIG[str(tick)])
    return int(maker), int(taker)


def _float_floor(value: Decimal, places: int) -> Decimal:
    """What the SDK's ``round_down(float(value), places)`` yields, as an exact Decimal."""
    return D(math.floor(float(value) * 10**places)).scaleb(-places)


def _ours(kind: Kind, side: Side, price: Decimal, amount: Decimal, tick: Decimal) -> tuple[int, int]:
    if kind is Kind.LIMIT:
        amounts = limit_order_amounts(side, price, amount, tick)
    else:
        amounts = market_order_amounts(side, amount, price, tick)
    return amounts.maker_amount, amounts.taker_amount


def _compare_with_sdk(kind: Kind, side: Side, price: Decimal, amount: Decimal, tick: Decimal) -> str:
    """Check one case and return its discrepancy class: "" when the SDK agrees, else a
    combination of "A", "B", "C". Fails on any mismatch the documented classes do not explain."""
    config = rounding_config(tick)
    ours = _ours(kind, side, price, amount, tick)
    assert ours == _reference(kind, side, price, amount, tick), (kind, side, price, amount, tick)
    sdk = _sdk(kind, side, price, amount, tick)
    if sdk == ours:
        return ""
    # The inputs as the SDK's float floors see them.
    sdk_amount = _float_floor(amount, config.size_decimals)
    sdk_price = price if kind is Kind.LIMIT else _float_floor(price, config.price_decimals)
    label = ("A" if sdk_amount != _floor(amount, 2) else "") + ("B" if sdk_price != price else "")
    explained = _reference(kind, side, sdk_price, sdk_amount, tick)
    if sdk == explained:
        assert label, f"unexplained SDK mismatch {kind} {side} {amount} @ {price} tick {tick}"
        return label
    # Class C: the leg the venue rounds (shares of a market BUY, else dollars) is huge.
    rounded_leg = 0 if kind is Kind.LIMIT and side is Side.BUY else 1  # index in (maker, taker)
    if kind is Kind.MARKET and side is Side.BUY:
        raw = _floor(sdk_amount, 2) / sdk_price
    else:
        raw = _floor(sdk_amount, 2) * sdk_price
    unit = 10 ** (6 - config.amount_decimals)
    assert raw * 10 ** (config.amount_decimals + 4) >= 2**51, (kind, side, price, amount, tick, sdk, ours)
    assert sdk[1 - rounded_leg] == explained[1 - rounded_leg]
    assert abs(sdk[rounded_leg] - explained[rounded_leg]) == unit
    return label + "C"


def test_documented_discrepancy_examples() -> None:
    """One concrete case per class; in each we follow the exact rule."""
    # A: 19.99 shares stays 19.99 (the SDK signs 19.98)
    assert _ours(Kind.LIMIT, Side.BUY, D("0.5"), D("19.99"), CENT_TICK) == (9_995_000, 19_990_000)
    assert _sdk(Kind.LIMIT, Side.BUY, D("0.5"), D("19.99"), CENT_TICK) == (9_990_000, 19_980_000)
    assert _compare_with_sdk(Kind.LIMIT, Side.BUY, D("0.5"), D("19.99"), CENT_TICK) == "A"
    # B: a market BUY's worst price 0.29 stays 0.29 (the SDK uses 0.28)
    assert _ours(Kind.MARKET, Side.BUY, D("0.29"), D(10), CENT_TICK) == (10_000_000, 34_482_700)
    assert _sdk(Kind.MARKET, Side.BUY, D("0.29"), D(10), CENT_TICK) == (10_000_000, 35_714_200)
    assert _compare_with_sdk(Kind.MARKET, Side.BUY, D("0.29"), D(10), CENT_TICK) == "B"
    # C: a 4.46 M dollar leg at tick 0.001
    huge = D("6125140.52")
    assert _ours(Kind.LIMIT, Side.SELL, D("0.728"), huge, MILLI_TICK) == (
        6_125_140_520_000,
        4_459_102_298_560,
    )
    assert _sdk(Kind.LIMIT, Side.SELL, D("0.728"), huge, MILLI_TICK) == (6_125_140_520_000, 4_459_102_298_550)
    assert _compare_with_sdk(Kind.LIMIT, Side.SELL, D("0.728"), huge, MILLI_TICK) == "C"


# Sizes (shares, or dollars for a market BUY) from 0.01 to 1000.00 plus cases that matter:
# three or four decimals (floored), and sizes whose float floor shaves a cent (19.99, 4.35, 1.13).
_GRID_SIZES = [D(cents).scaleb(-2) for cents in range(1, 100_001, 419)] + [
    D(value)
    for value in ("19.99", "4.35", "1.13", "10.129", "5", "0.01", "999.99", "1000", "123.4567", "0.5555")
]


def _sizes_for(index: int, count: int) -> list[Decimal]:
    """A rotating window of the size pool, so the grid covers every size without a full product."""
    start = index * count
    return [_GRID_SIZES[(start + offset) % len(_GRID_SIZES)] for offset in range(count)]


@pytest.mark.parametrize(("tick", "sizes_per_price"), [(CENT_TICK, 16), (MILLI_TICK, 3)])
def test_every_grid_price_matches_the_sdk_except_documented_float_cases(
    tick: Decimal, sizes_per_price: int
) -> None:
    config = rounding_config(tick)
    classes: Counter[str] = Counter()
    cases = 0
    for index in range(1, config.ticks_per_unit):
        price = quantize_price(D(index) / config.ticks_per_unit, tick, Rounding.NEAREST)
        for size in _sizes_for(index, sizes_per_price):
            for side in Side:
                for kind in Kind:
                    classes[_compare_with_sdk(kind, side, price, size, tick)] += 1
                    cases += 1
    mismatches = cases - classes[""]
    # Sizes stay at or below 1000, far from the float limit: class C must not appear.
    assert not any("C" in label for label in classes)
    # Class A hits about 6 % of two-decimal sizes; B only 0.29, 0.57, 0.58 on the 0.01 grid.
    assert classes["A"] > 0
    assert mismatches <= cases * 0.08, classes
    if tick == CENT_TICK:
        assert classes["B"] > 0
    else:
        assert not any("B" in label for label in classes)


def test_grid_class_b_prices_are_exactly_the_known_three() -> None:
    shaved = [index for index in range(1, 100) if _float_floor(D(index).scaleb(-2), 2) != D(index).scaleb(-2)]
    assert shaved == [29, 57, 58]
    assert all(_float_floor(D(index).scaleb(-3), 3) == D(index).scaleb(-3) for index in range(1, 1000))


@settings(max_examples=200)
@given(
    tick=st.sampled_from(TICK_SIZES),
    position=st.integers(min_value=0, max_value=10**6),
    amount=st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=4),
    side=st.sampled_from(Side),
    kind=st.sampled_from(Kind),
)
def test_random_orders_match_the_sdk_except_documented_float_cases(
    tick: Decimal, position: int, amount: Decimal, side: Side, kind: Kind
) -> None:
    config = rounding_config(tick)
    index = 1 + position % (config.ticks_per_unit - 1)
    price = quantize_price(D(index) / config.ticks_per_unit, tick, Rounding.NEAREST)
    if _floor(amount, 2) == 0:
        return
    _compare_with_sdk(kind, side, price, amount, tick)


# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------


def test_unit_conversions_are_exact() -> None:
    assert to_units(D("5.29276")) == 5_292_760
    assert to_units(D("0.000001")) == 1
    assert to_units(7) == 7_000_000
    assert from_units(5_292_760) == D("5.29276")
    assert str(from_units(1)) == "0.000001"
    assert from_units(-1_500_000) == D("-1.5")


def test_to_units_refuses_to_round_silently() -> None:
    with pytest.raises(ValueError, match="more than 6 decimals"):
        to_units(D("0.0000001"))
    assert to_units(D("1.0000005"), rounding=Rounding.DOWN) == 1_000_000
    assert to_units(D("1.0000005"), rounding=Rounding.UP) == 1_000_001
    assert to_units(D("1.0000005"), rounding=Rounding.NEAREST) == 1_000_000  # tie to even
    assert to_units(D("1.0000015"), rounding=Rounding.NEAREST) == 1_000_002


@pytest.mark.parametrize("bad", [1.5, True, "1.5", None])
def test_unit_conversions_reject_non_exact_types(bad: object) -> None:
    with pytest.raises(TypeError):
        to_units(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        from_units(bad)  # type: ignore[arg-type]


@given(units=st.integers(min_value=-(10**15), max_value=10**15))
def test_units_round_trip(units: int) -> None:
    assert to_units(from_units(units)) == units


# --------------------------------------------------------------------------------------------
# Fees
# --------------------------------------------------------------------------------------------


def test_fee_peaks_at_one_point_seven_five_cents_at_even_odds() -> None:
    assert taker_fee(D(1), D("0.5"), CRYPTO) == D("0.0175")
    assert taker_fee(D(100), D("0.5"), CRYPTO) == D("1.75")
    assert fee_per_share(D("0.5"), CRYPTO) == D("0.0175")
    assert fee_per_share(D("0.10"), CRYPTO) == D("0.0063")
    assert fee_per_share(D("0.99"), CRYPTO) == D("0.000693")


@given(price=st.decimals(min_value=D(0), max_value=D(1), places=4))
def test_fee_is_symmetric_and_never_above_the_peak(price: Decimal) -> None:
    assert fee_per_share(price, CRYPTO) == fee_per_share(1 - price, CRYPTO)
    assert fee_per_share(price, CRYPTO) <= D("0.0175")
    assert taker_fee(D(37), price, CRYPTO) == taker_fee(D(37), 1 - price, CRYPTO)


def test_fee_rounds_to_five_decimals() -> None:
    # 1 share at 0.99: 0.000693 exactly
    assert taker_fee(D(1), D("0.99"), CRYPTO) == D("0.00069")
    assert taker_fee(D(1), D("0.99"), CRYPTO, rounding=Rounding.UP) == D("0.00070")
    assert taker_fee(D(1), D("0.99"), CRYPTO, rounding=Rounding.NEAREST) == D("0.00069")
    assert taker_fee(D(1), D("0.99"), CRYPTO).as_tuple().exponent == -5


def test_fee_below_the_minimum_rounds_to_zero_and_the_minimum_is_charged_when_reached() -> None:
    # 0.1 share at 0.001: 0.1 × 0.07 × 0.000999 = 0.0000069930, under the 0.00001 minimum
    assert taker_fee(D("0.1"), D("0.001"), CRYPTO) == 0
    assert taker_fee(D("0.1"), D("0.001"), CRYPTO, rounding=Rounding.UP) == D("0.00001")
    # 0.15 share: 0.0000104895 → exactly the minimum
    assert taker_fee(D("0.15"), D("0.001"), CRYPTO) == D("0.00001")
    assert taker_fee(D(0), D("0.5"), CRYPTO) == 0


def test_fee_follows_the_schedule() -> None:
    squared = FeeSchedule(rate=D("0.25"), exponent=2)
    assert fee_per_share(D("0.5"), squared) == D("0.015625")
    assert taker_fee(D(100), D("0.5"), squared) == D("1.5625")
    assert taker_fee(D(100), D("0.5"), FeeSchedule(rate=D(0))) == 0


def test_cached_fees_answer_per_schedule_and_never_hide_a_refusal() -> None:
    """fee_per_share caches its answers: the schedule is part of the key, equal prices share an
    exact answer, and arguments the uncached maths refuses are still refused after an equal
    valid call was cached."""
    doubled = FeeSchedule(rate=D("0.14"))
    for _ in range(2):  # the second round answers from the cache
        assert fee_per_share(D("0.5"), CRYPTO) == D("0.0175")
        assert fee_per_share(D("0.5"), doubled) == D("0.035")
        assert str(fee_per_share(D("0.50"), CRYPTO)) == str(fee_per_share(D("0.5"), CRYPTO)) == "0.0175"
    with pytest.raises(TypeError):
        fee_per_share(0.5, CRYPTO)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fee_per_share(D("0.5"), FeeSchedule(rate=0.5))  # type: ignore[arg-type]
    fee_per_share(D("0.5"), FeeSchedule(rate=D("0.5"), exponent=1))
    with pytest.raises(ValueError, match="exponent"):
        fee_per_share(D("0.5"), FeeSchedule(rate=D("0.5"), exponent=1.0))  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(ValueError, match="negative"):
            fee_per_share(D("0.5"), FeeSchedule(rate=D("-0.07")))
        with pytest.raises(ValueError, match="finite"):
            fee_per_share(D("NaN"), CRYPTO)


def test_fee_for_fill_charges_takers_only() -> None:
    assert fee_for_fill(D(10), D("0.5"), CRYPTO, Liquidity.MAKER) == 0
    assert fee_for_fill(D(10), D("0.5"), CRYPTO, Liquidity.TAKER) == D("0.175")
    both_sides = FeeSchedule(taker_only=False)
    assert fee_for_fill(D(10), D("0.5"), both_sides, Liquidity.MAKER) == D("0.175")


@pytest.mark.parametrize(
    ("shares", "price", "schedule", "message"),
    [
        (D(-1), D("0.5"), CRYPTO, "negative"),
        (D(1), D("1.01"), CRYPTO, r"\[0, 1\]"),
        (D(1), D("-0.01"), CRYPTO, r"\[0, 1\]"),
        (D(1), D("0.5"), FeeSchedule(rate=D("-0.07")), "rate"),
        (D(1), D("0.5"), FeeSchedule(exponent=-1), "exponent"),
    ],
)
def test_fee_rejects_bad_input(shares: Decimal, price: Decimal, schedule: FeeSchedule, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        taker_fee(shares, price, schedule)
