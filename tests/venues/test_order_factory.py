"""Tests for polyexec.venues.order_factory: prices and sizes to signed orders.

The amounts themselves are proven in tests/core/test_pricing.py (exact rule, SDK oracle and the
documented SDK float discrepancies). Here: the protocol doc's worked examples, whole signed
orders equal to the SDK's ``OrderBuilder.build_order`` / ``build_market_order`` wherever the
SDK's float amounts are right, our exact amounts where they are not, and intent handling.
"""

from __future__ import annotations

import functools
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from py_clob_client_v2.clob_types import CreateOrderOptions, MarketOrderArgsV2, OrderArgsV2
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils import SignatureTypeV2
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer

from polyexec.core.models import OrderIntent, OrderType, Side, SignatureType
from polyexec.core.pricing import TICK_SIZES, limit_order_amounts, market_order_amounts, rounding_config
from polyexec.venues.order_factory import limit_order, market_order, order_from_intent
from polyexec.venues.order_signer import OrderSigner, SignedOrder, encode_body, order_body
from tests.venues.conftest import throwaway_key

D = Decimal
KEY = throwaway_key("order-factory")
WALLET = "0x1111111111111111111111111111111111111111"
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NOW_MS = 1_700_000_000_000
CENT = D("0.01")
MILLI = D("0.001")


@functools.cache
def signers(signature_type: SignatureType) -> tuple[OrderSigner, OrderBuilder]:
    """Ours and the SDK's order builder for one wallet type, sharing the key and the funder."""
    funder = None if signature_type is SignatureType.EOA else WALLET
    ours = OrderSigner(KEY, signature_type=signature_type, funder=funder)
    sdk = OrderBuilder(Signer(KEY, 137), SignatureTypeV2(int(signature_type)), funder)
    return ours, sdk


def assert_same_as_sdk(ours: SignedOrder, sdk: Any) -> None:
    """Same signature, amounts and wire bytes (the SDK chose salt and timestamp; we reused them)."""
    assert ours.signature == sdk.signature
    ours_body = order_body(ours, "owner", OrderType.GTC)
    sdk_body = order_to_json_v2(sdk, "owner", "GTC")
    assert encode_body(ours_body) == json.dumps(sdk_body, separators=(",", ":"), ensure_ascii=False).encode()


# --- worked examples (§4.5, §4.6) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "price", "size", "tick", "maker", "taker"),
    [
        (Side.BUY, "0.52", "10", CENT, 5_200_000, 10_000_000),
        (Side.SELL, "0.523", "10.129", MILLI, 10_120_000, 5_292_760),
    ],
)
def test_limit_order_worked_examples(
    side: Side, price: str, size: str, tick: Decimal, maker: int, taker: int
) -> None:
    signer, _ = signers(SignatureType.EOA)
    order = limit_order(
        signer,
        token_id=TOKEN,
        side=side,
        price=D(price),
        size=D(size),
        tick_size=tick,
        neg_risk=False,
        timestamp_ms=NOW_MS,
    )
    assert (order.side, order.maker_amount, order.taker_amount) == (side, maker, taker)
    assert (order.timestamp_ms, order.expiration_s, order.token_id) == (NOW_MS, 0, TOKEN)


@pytest.mark.parametrize(
    ("side", "amount", "price", "maker", "taker"),
    [(Side.BUY, "10", "0.52", 10_000_000, 19_230_700), (Side.SELL, "25", "0.45", 25_000_000, 11_250_000)],
)
def test_market_order_worked_examples(side: Side, amount: str, price: str, maker: int, taker: int) -> None:
    signer, _ = signers(SignatureType.EOA)
    order = market_order(
        signer,
        token_id=TOKEN,
        side=side,
        amount=D(amount),
        worst_price=D(price),
        tick_size=CENT,
        neg_risk=False,
        timestamp_ms=NOW_MS,
    )
    assert (order.maker_amount, order.taker_amount, order.expiration_s) == (maker, taker, 0)


# --- whole orders against the SDK ------------------------------------------------------------------

prices_and_ticks = st.sampled_from(TICK_SIZES).flatmap(
    lambda tick: st.tuples(
        st.just(tick),
        st.integers(1, rounding_config(tick).ticks_per_unit - 1).map(lambda n: n * tick),
    )
)
sizes = st.one_of(
    st.integers(1, 100_000).map(lambda cents: D(cents) / 100),
    st.decimals(min_value=D("0.01"), max_value=D(5000), places=4),
)


@settings(max_examples=60)
@given(
    signature_type=st.sampled_from(list(SignatureType)),
    price_tick=prices_and_ticks,
    size=sizes,
    side=st.sampled_from([Side.BUY, Side.SELL]),
    neg_risk=st.booleans(),
    expiration_s=st.sampled_from([0, 1_700_000_600]),
)
def test_limit_orders_equal_the_sdk_where_its_amounts_are_right(
    signature_type: SignatureType,
    price_tick: tuple[Decimal, Decimal],
    size: Decimal,
    side: Side,
    neg_risk: bool,
    expiration_s: int,
) -> None:
    tick, price = price_tick
    ours_signer, sdk = signers(signature_type)
    config = ROUNDING_CONFIG[str(tick)]
    _, sdk_maker, sdk_taker = sdk.get_order_amounts(side.value, float(size), float(price), config)
    exact = limit_order_amounts(side, price, size, tick)
    assume((sdk_maker, sdk_taker) == (exact.maker_amount, exact.taker_amount))  # else: core pricing tests
    args = OrderArgsV2(token_id=TOKEN, price=float(price), size=float(size), side=side.value)
    args.expiration = expiration_s  # type: ignore[attr-defined]
    expected = sdk.build_order(args, CreateOrderOptions(tick_size=str(tick), neg_risk=neg_risk))  # type: ignore[arg-type]
    order = limit_order(
        ours_signer,
        token_id=TOKEN,
        side=side,
        price=price,
        size=size,
        tick_size=tick,
        neg_risk=neg_risk,
        timestamp_ms=int(expected.timestamp),
        expiration_s=expiration_s,
        salt=int(expected.salt),
    )
    assert_same_as_sdk(order, expected)


@settings(max_examples=40)
@given(
    signature_type=st.sampled_from(list(SignatureType)),
    price_tick=prices_and_ticks,
    amount=sizes,
    side=st.sampled_from([Side.BUY, Side.SELL]),
    neg_risk=st.booleans(),
)
def test_market_orders_equal_the_sdk_where_its_amounts_are_right(
    signature_type: SignatureType,
    price_tick: tuple[Decimal, Decimal],
    amount: Decimal,
    side: Side,
    neg_risk: bool,
) -> None:
    tick, price = price_tick
    ours_signer, sdk = signers(signature_type)
    config = ROUNDING_CONFIG[str(tick)]
    _, sdk_maker, sdk_taker = sdk.get_market_order_amounts(side.value, float(amount), float(price), config)
    exact = market_order_amounts(side, amount, price, tick)
    assume((sdk_maker, sdk_taker) == (exact.maker_amount, exact.taker_amount))
    args = MarketOrderArgsV2(token_id=TOKEN, amount=float(amount), side=side.value, price=float(price))
    expected = sdk.build_market_order(args, CreateOrderOptions(tick_size=str(tick), neg_risk=neg_risk))  # type: ignore[arg-type]
    order = market_order(
        ours_signer,
        token_id=TOKEN,
        side=side,
        amount=amount,
        worst_price=price,
        tick_size=tick,
        neg_risk=neg_risk,
        timestamp_ms=int(expected.timestamp),
        salt=int(expected.salt),
    )
    assert_same_as_sdk(order, expected)


def test_exact_amounts_where_the_sdk_float_maths_is_off() -> None:
    signer, sdk = signers(SignatureType.EOA)
    # class A of core/pricing.py: 19.99 shares stays 19.99 (the SDK signs 19.98)
    order = limit_order(
        signer,
        token_id=TOKEN,
        side=Side.BUY,
        price=D("0.5"),
        size=D("19.99"),
        tick_size=CENT,
        neg_risk=False,
        timestamp_ms=NOW_MS,
    )
    assert (order.maker_amount, order.taker_amount) == (9_995_000, 19_990_000)
    expected = sdk.build_order(
        OrderArgsV2(token_id=TOKEN, price=0.5, size=19.99, side="BUY"),
        CreateOrderOptions(tick_size="0.01", neg_risk=False),
    )
    assert (expected.makerAmount, expected.takerAmount) == ("9990000", "19980000")
    # class B: a market BUY's worst price 0.29 stays 0.29 (the SDK signs 0.28)
    order = market_order(
        signer,
        token_id=TOKEN,
        side=Side.BUY,
        amount=D(10),
        worst_price=D("0.29"),
        tick_size=CENT,
        neg_risk=False,
        timestamp_ms=NOW_MS,
    )
    assert (order.maker_amount, order.taker_amount) == (10_000_000, 34_482_700)


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "size", "tick", "message"),
    [
        (D("0.525"), D(10), CENT, "invalid price"),  # off the grid
        (D("0"), D(10), CENT, "invalid price"),
        (D("1"), D(10), CENT, "invalid price"),
        (D("0.995"), D(10), CENT, "invalid price"),
        (D("NaN"), D(10), CENT, "price"),
        (D("0.5"), D("0.009"), CENT, "size"),  # floors to zero
        (D("0.5"), D("-1"), CENT, "size"),
        (D("0.5"), D("Infinity"), CENT, "size"),
        (D("0.5"), D("sNaN"), CENT, "size"),
        (D("0.5"), D(10), D("0.02"), "tick size"),
    ],
)
def test_limit_order_bad_input_is_a_value_error(
    price: Decimal, size: Decimal, tick: Decimal, message: str
) -> None:
    signer, _ = signers(SignatureType.EOA)
    with pytest.raises(ValueError, match=message):
        limit_order(
            signer,
            token_id=TOKEN,
            side=Side.BUY,
            price=price,
            size=size,
            tick_size=tick,
            neg_risk=False,
            timestamp_ms=NOW_MS,
        )


def test_float_money_is_a_type_error() -> None:
    signer, _ = signers(SignatureType.EOA)
    with pytest.raises(TypeError):
        limit_order(
            signer,
            token_id=TOKEN,
            side=Side.BUY,
            price=0.5,  # type: ignore[arg-type]
            size=D(10),
            tick_size=CENT,
            neg_risk=False,
            timestamp_ms=NOW_MS,
        )


def test_market_order_bad_input_is_a_value_error() -> None:
    signer, _ = signers(SignatureType.EOA)
    with pytest.raises(ValueError, match="amount"):
        market_order(
            signer,
            token_id=TOKEN,
            side=Side.BUY,
            amount=D("0.001"),
            worst_price=D("0.5"),
            tick_size=CENT,
            neg_risk=False,
            timestamp_ms=NOW_MS,
        )
    with pytest.raises(ValueError, match="token_id"):
        market_order(
            signer,
            token_id="0x1234",
            side=Side.BUY,
            amount=D(5),
            worst_price=D("0.5"),
            tick_size=CENT,
            neg_risk=False,
            timestamp_ms=NOW_MS,
        )


# --- intents ---------------------------------------------------------------------------------------


def intent(**overrides: Any) -> OrderIntent:
    fields: dict[str, Any] = {
        "strategy": "FV",
        "condition_id": "0x" + "ab" * 32,
        "token_id": TOKEN,
        "side": Side.BUY,
        "price": D("0.52"),
        "size": D(10),
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def from_intent(value: OrderIntent, salt: int = 42) -> SignedOrder:
    signer, _ = signers(SignatureType.POLY_GNOSIS_SAFE)
    return order_from_intent(signer, value, tick_size=CENT, neg_risk=False, timestamp_ms=NOW_MS, salt=salt)


def test_gtc_intent_is_the_limit_order() -> None:
    signer, _ = signers(SignatureType.POLY_GNOSIS_SAFE)
    expected = limit_order(
        signer,
        token_id=TOKEN,
        side=Side.BUY,
        price=D("0.52"),
        size=D(10),
        tick_size=CENT,
        neg_risk=False,
        timestamp_ms=NOW_MS,
        salt=42,
    )
    assert from_intent(intent()) == expected
    assert expected.maker == WALLET


def test_gtd_intent_carries_its_expiration() -> None:
    order = from_intent(intent(order_type=OrderType.GTD, expiration_s=1_700_000_400, post_only=True))
    assert order.expiration_s == 1_700_000_400
    assert order_body(order, "owner", OrderType.GTD, True)["order"]["expiration"] == "1700000400"  # type: ignore[index]


@pytest.mark.parametrize("kind", [OrderType.FOK, OrderType.FAK])
def test_marketable_intent_is_a_limit_order_at_the_worst_price(kind: OrderType) -> None:
    order = from_intent(intent(order_type=kind, side=Side.SELL, price=D("0.45"), size=D("25.555")))
    assert (order.side, order.maker_amount, order.taker_amount) == (Side.SELL, 25_550_000, 11_497_500)
    assert order.expiration_s == 0
    assert order == from_intent(intent(side=Side.SELL, price=D("0.45"), size=D("25.555")))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"order_type": OrderType.GTD}, "GTD intent needs expiration_s"),
        ({"order_type": OrderType.GTD, "expiration_s": 0}, "GTD intent needs expiration_s"),
        ({"order_type": OrderType.GTD, "expiration_s": NOW_MS // 1000}, "not after"),
        ({"order_type": OrderType.GTC, "expiration_s": 1_700_000_400}, "only for GTD"),
        ({"order_type": OrderType.FOK, "expiration_s": 1_700_000_400}, "only for GTD"),
        ({"order_type": OrderType.FAK, "post_only": True}, "post-only"),
        ({"price": D("0.521")}, "invalid price"),
        ({"size": D("0.001")}, "size"),
    ],
)
def test_inconsistent_intent_is_a_value_error(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        from_intent(intent(**overrides))
