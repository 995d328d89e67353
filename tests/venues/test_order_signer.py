"""Tests for polyexec.venues.order_signer: the fast EIP-712 order signer.

The oracle is the real ``py-clob-client-v2``: for every signature type (EOA, proxy, Safe and the
ERC-7739-wrapped deposit wallet), random orders over the whole uint256 range, both exchanges and
both chains must give the same signature, the same order hash (``build_order_hash``) and the
same wire dict and bytes as ``ExchangeOrderBuilderV2.build_signed_order`` + ``order_to_json_v2``.
The protocol doc's test vector pins the result, and the simulator (an independent verifier)
accepts one order of each type over a real socket.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.constants import BYTES32_ZERO
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, OrderDataV2, SignatureTypeV2
from py_clob_client_v2.order_utils import Side as SdkSide
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer

from polyexec.core.models import OrderType, Side, SignatureType
from polyexec.sim.app import RunningSimulator
from polyexec.venues import order_signer
from polyexec.venues.auth import ApiCredentials, L2Signer, l1_headers
from polyexec.venues.order_signer import (
    MAX_SALT,
    ORDER_TYPE_STRING,
    ZERO_BYTES32,
    OrderSigner,
    SignedOrder,
    checksum_address,
    encode_body,
    exchange_address,
    keccak256,
    keccak256_pycryptodome,
    order_body,
    parse_address,
)
from tests.venues.conftest import add_market, throwaway_key

# Test-only key of docs/polymarket-protocol.md §3.1 (never funded anywhere).
DOC_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcaf784d7bf4f2ff80"
DOC_ADDRESS = "0x500d75F1329cf98352c32Cf238c2192ca78faFFE"
DOC_TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
WALLET = "0x1111111111111111111111111111111111111111"
UINT256_MAX = 2**256 - 1

# The oracle is slow (~1-4 ms an order on a shared core) and hypothesis draws cost about 1 ms:
# the thousands of random orders run in scripts/bench_signer.py, a few hundred here.
IDENTITY_EXAMPLES_PER_TYPE = 200
ORACLE_KEYS = [throwaway_key(f"oracle-{n}") for n in range(16)]

keys = st.integers(1, SECP256K1_ORDER - 1).map(lambda k: "0x" + k.to_bytes(32, "big").hex())
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
token_ids = st.one_of(st.integers(0, UINT256_MAX), st.integers(0, 10**6)).map(str)
amounts = st.one_of(st.integers(1, 10**12), st.integers(1, UINT256_MAX))
timestamps = st.one_of(st.integers(1_600_000_000_000, 2_000_000_000_000), st.integers(0, UINT256_MAX))
sides = st.sampled_from([Side.BUY, Side.SELL])
order_types = st.sampled_from(list(OrderType))


# --- the SDK oracle --------------------------------------------------------------------------------


@functools.cache
def sdk_signer(key: str, chain_id: int) -> Signer:
    """The SDK's signer (building one costs more than signing: share them)."""
    return Signer(key, chain_id)


def sdk_order(
    key: str,
    *,
    chain_id: int,
    signature_type: SignatureType,
    funder: str | None,
    neg_risk: bool,
    token_id: str,
    side: Side,
    maker_amount: int,
    taker_amount: int,
    timestamp_ms: int,
    expiration_s: int,
    salt: int,
) -> tuple[Any, str]:
    """The SDK's signed order and order hash for the same inputs (fixed salt)."""
    signer = sdk_signer(key, chain_id)
    config = get_contract_config(chain_id)
    exchange = config.neg_risk_exchange_v2 if neg_risk else config.exchange_v2
    builder = ExchangeOrderBuilderV2(exchange, chain_id, signer, generate_salt=lambda: str(salt))
    maker = funder if signature_type is not SignatureType.EOA else signer.address()
    assert maker is not None
    data = OrderDataV2(
        maker=maker,
        tokenId=token_id,
        makerAmount=str(maker_amount),
        takerAmount=str(taker_amount),
        side=SdkSide.BUY if side is Side.BUY else SdkSide.SELL,
        signer=maker if signature_type is SignatureType.POLY_1271 else signer.address(),
        signatureType=SignatureTypeV2(int(signature_type)),
        timestamp=str(timestamp_ms),
        expiration=str(expiration_s),
    )
    signed = builder.build_signed_order(data)
    return signed, builder.build_order_hash(builder.build_order_typed_data(signed))


def sdk_wire_bytes(body: dict[str, Any]) -> bytes:
    """How the SDK serialises a body it sends (and signs)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# --- test vectors ----------------------------------------------------------------------------------


def test_eoa_order_matches_the_protocol_doc_vector() -> None:
    signer = OrderSigner(DOC_KEY)
    order = signer.sign(
        token_id=DOC_TOKEN,
        side=Side.BUY,
        maker_amount=5_200_000,
        taker_amount=10_000_000,
        timestamp_ms=1_700_000_000_000,
        salt=123456789,
    )
    assert signer.address == signer.maker == order.maker == order.signer == DOC_ADDRESS
    assert order.order_id == "0xbf7b68f17b52ed2b8c0721944c459614e94be479dc1a1f668dff21d0be1c397f"
    assert order.signature == (
        "0xf1cb52acfdbb3741daa5287d2b859d12e22691fc862a8141e8d3539fc0ac2cb3"
        "0088dbf593431649b5f2c683d9a4899e264fc1ffce6905f56b8edc53d521b5751c"
    )


def test_deposit_wallet_signature_has_the_documented_layout() -> None:
    signer = OrderSigner(DOC_KEY, signature_type=SignatureType.POLY_1271, funder=WALLET)
    order = signer.sign(
        token_id=DOC_TOKEN,
        side=Side.SELL,
        maker_amount=10_000_000,
        taker_amount=5_200_000,
        timestamp_ms=1_700_000_000_000,
        salt=123456789,
    )
    raw = bytes.fromhex(order.signature[2:])
    assert len(order.signature) == 636  # 317 bytes: 65 + 32 + 32 + 186 + 2 (§4.3)
    assert order.maker == order.signer == WALLET
    assert raw[-2:] == (186).to_bytes(2, "big")
    assert raw[129:-2] == ORDER_TYPE_STRING.encode()
    # the envelope carries the order's own digest inputs: domain separator and struct hash
    assert keccak256(b"\x19\x01" + raw[65:97] + raw[97:129]).hex() == order.order_id[2:]


# --- byte identity with the SDK --------------------------------------------------------------------


@pytest.mark.parametrize("signature_type", list(SignatureType))
@settings(max_examples=IDENTITY_EXAMPLES_PER_TYPE)
@given(
    key=st.sampled_from(ORACLE_KEYS),
    funder=addresses,
    chain_id=st.sampled_from([137, 80002]),
    neg_risk=st.booleans(),
    token_id=token_ids,
    side=sides,
    maker_amount=amounts,
    taker_amount=amounts,
    timestamp_ms=timestamps,
    expiration_s=st.one_of(st.just(0), st.integers(0, 2**64)),
    salt=st.integers(0, MAX_SALT),
    order_type=order_types,
    post_only=st.booleans(),
)
def test_random_orders_are_byte_identical_to_the_sdk(
    signature_type: SignatureType,
    key: str,
    funder: str,
    chain_id: int,
    neg_risk: bool,
    token_id: str,
    side: Side,
    maker_amount: int,
    taker_amount: int,
    timestamp_ms: int,
    expiration_s: int,
    salt: int,
    order_type: OrderType,
    post_only: bool,
) -> None:
    wallet = None if signature_type is SignatureType.EOA else funder
    signer = OrderSigner(key, chain_id=chain_id, signature_type=signature_type, funder=wallet)
    order = signer.sign(
        token_id=token_id,
        side=side,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        neg_risk=neg_risk,
        expiration_s=expiration_s,
        timestamp_ms=timestamp_ms,
        salt=salt,
    )
    expected, expected_hash = sdk_order(
        key,
        chain_id=chain_id,
        signature_type=signature_type,
        funder=wallet,
        neg_risk=neg_risk,
        token_id=token_id,
        side=side,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        timestamp_ms=timestamp_ms,
        expiration_s=expiration_s,
        salt=salt,
    )
    assert order.signature == expected.signature
    assert order.order_id == expected_hash
    if post_only and order_type.is_marketable_only:
        post_only = False  # refused by order_body (tested below); the SDK would send it
    if order_type is OrderType.GTD and expiration_s == 0:
        order_type = OrderType.GTC
    owner = f"{salt:032x}"  # any API key string
    ours = order_body(order, owner, order_type, post_only)
    theirs = order_to_json_v2(expected, owner, order_type.value, post_only)
    assert ours == theirs
    assert list(ours) == list(theirs)
    assert list(ours["order"]) == list(theirs["order"])  # type: ignore[call-overload]
    assert encode_body(ours) == sdk_wire_bytes(theirs)


@settings(max_examples=100)
@given(keys)
def test_any_key_gives_the_sdk_address_and_signature(key: str) -> None:
    signer = OrderSigner(key)
    assert signer.address == Account.from_key(key).address
    digest = keccak256(key.encode())
    assert signer.sign_digest(digest) == bytes(Account._sign_hash(digest, private_key=key).signature)


@pytest.mark.parametrize("signature_type", list(SignatureType))
def test_signature_recovers_to_the_key(signature_type: SignatureType) -> None:
    key = throwaway_key(f"recover-{signature_type}")
    funder = None if signature_type is SignatureType.EOA else WALLET
    signer = OrderSigner(key, signature_type=signature_type, funder=funder)
    order = signer.sign(
        token_id=DOC_TOKEN, side=Side.BUY, maker_amount=1, taker_amount=2, timestamp_ms=3, salt=4
    )
    inner = bytes.fromhex(order.signature[2:])[:65]
    if signature_type is SignatureType.POLY_1271:
        assert order.signer == WALLET  # the key signs the envelope, not the order digest itself
    else:
        digest = bytes.fromhex(order.order_id[2:])
        assert Account._recover_hash(digest, signature=inner) == signer.address
    assert inner[64] in (27, 28)


def test_sign_digest_equals_eth_account() -> None:
    key = throwaway_key("sign-digest")
    signer = OrderSigner(key)
    for n in range(20):
        digest = keccak256(n.to_bytes(4, "big"))
        expected = Account._sign_hash(digest, private_key=key).signature
        assert signer.sign_digest(digest) == bytes(expected)
    with pytest.raises(ValueError, match="32 bytes"):
        signer.sign_digest(b"\x00" * 31)


# --- signer identity and wallet types --------------------------------------------------------------


def test_wallet_types_set_maker_and_signer() -> None:
    eoa = OrderSigner(DOC_KEY)
    safe = OrderSigner(DOC_KEY, signature_type=SignatureType.POLY_GNOSIS_SAFE, funder=WALLET)
    deposit = OrderSigner(DOC_KEY, signature_type=SignatureType.POLY_1271, funder=WALLET)
    assert (eoa.maker, eoa.order_signer) == (DOC_ADDRESS, DOC_ADDRESS)
    assert (safe.address, safe.maker, safe.order_signer) == (DOC_ADDRESS, WALLET, DOC_ADDRESS)
    assert (deposit.address, deposit.maker, deposit.order_signer) == (DOC_ADDRESS, WALLET, WALLET)
    # a lowercase funder is fine and comes out checksummed
    lower = "0x9fe6e61422adb6f610d8597f9684b16912d50c3d"
    proxy = OrderSigner(DOC_KEY, signature_type=SignatureType.POLY_PROXY, funder=lower)
    assert proxy.maker == to_checksum_address(lower)
    # an EOA may name itself as funder
    assert OrderSigner(DOC_KEY, funder=DOC_ADDRESS.lower()).maker == DOC_ADDRESS


def test_random_salt_is_a_safe_json_integer_and_not_repeated() -> None:
    signer = OrderSigner(DOC_KEY)
    salts = {
        signer.sign(token_id=DOC_TOKEN, side=Side.SELL, maker_amount=1, taker_amount=1, timestamp_ms=0).salt
        for _ in range(50)
    }
    assert len(salts) == 50
    assert all(0 <= salt <= MAX_SALT for salt in salts)


def test_builder_code_is_signed_and_sent() -> None:
    code = "0x" + "ab" * 32
    signer = OrderSigner(DOC_KEY, builder_code=code)
    order = signer.sign(
        token_id=DOC_TOKEN, side=Side.BUY, maker_amount=5, taker_amount=6, timestamp_ms=7, salt=8
    )
    plain = OrderSigner(DOC_KEY).sign(
        token_id=DOC_TOKEN, side=Side.BUY, maker_amount=5, taker_amount=6, timestamp_ms=7, salt=8
    )
    assert order.builder == code
    assert order.wire_order()["builder"] == code
    assert order.order_id != plain.order_id
    sdk_signer = Signer(DOC_KEY, 137)
    builder = ExchangeOrderBuilderV2(exchange_address(137, False), 137, sdk_signer, generate_salt=lambda: "8")
    expected = builder.build_signed_order(
        OrderDataV2(
            maker=DOC_ADDRESS,
            tokenId=DOC_TOKEN,
            makerAmount="5",
            takerAmount="6",
            side=SdkSide.BUY,
            signer=DOC_ADDRESS,
            timestamp="7",
            builder=code,
        )
    )
    assert order.signature == expected.signature


def test_exchange_addresses_follow_the_sdk_config() -> None:
    for chain_id in (137, 80002):
        config = get_contract_config(chain_id)
        assert exchange_address(chain_id, False) == config.exchange_v2
        assert exchange_address(chain_id, True) == config.neg_risk_exchange_v2
    with pytest.raises(ValueError, match="chain id 1"):
        exchange_address(1, False)


def test_repr_never_shows_the_key() -> None:
    key = throwaway_key("repr")
    signer = OrderSigner(key)
    for text in (repr(signer), str(signer)):
        assert key[2:] not in text.lower()
        assert signer.address in text


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_key",
    [
        "",
        "0x1234",
        "0x" + "g" * 64,
        "0x" + "00" * 32,  # zero
        "0x" + SECP256K1_ORDER.to_bytes(32, "big").hex(),  # the curve order itself
        "0x" + "ff" * 32,
        "0x" + "ab" * 33,
        " 0x" + "11" * 32,
        b"\x11" * 32,
        None,
    ],
)
def test_malformed_private_key_is_a_value_error_that_does_not_echo_it(bad_key: Any) -> None:
    with pytest.raises(ValueError, match="private key") as caught:
        OrderSigner(bad_key)
    if isinstance(bad_key, str) and len(bad_key) > 6:
        assert bad_key.strip()[2:] not in str(caught.value)


@pytest.mark.parametrize(
    "signature_type", [SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE, SignatureType.POLY_1271]
)
def test_wallet_types_need_a_funder(signature_type: SignatureType) -> None:
    with pytest.raises(ValueError, match="needs a funder"):
        OrderSigner(DOC_KEY, signature_type=signature_type)
    with pytest.raises(ValueError, match="own address"):
        OrderSigner(DOC_KEY, signature_type=signature_type, funder=DOC_ADDRESS)


@pytest.mark.parametrize(
    ("funder", "message"),
    [
        ("0x1234", "20-byte"),
        ("1111111111111111111111111111111111111111", "20-byte"),
        ("0x" + "11" * 21, "20-byte"),
        ("0x9fE6e61422AdB6F610d8597F9684b16912D50C3d", "checksum"),  # one letter's case flipped
        (12345, "20-byte"),
    ],
)
def test_bad_funder_address_is_a_value_error(funder: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OrderSigner(DOC_KEY, signature_type=SignatureType.POLY_PROXY, funder=funder)


def test_eoa_with_a_foreign_funder_is_refused() -> None:
    with pytest.raises(ValueError, match="not the key's address"):
        OrderSigner(DOC_KEY, funder=WALLET)


def test_bad_signer_settings_are_value_errors() -> None:
    with pytest.raises(ValueError, match="chain id 1"):
        OrderSigner(DOC_KEY, chain_id=1)
    with pytest.raises(ValueError, match="signature type 7"):
        OrderSigner(DOC_KEY, signature_type=7)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="builder_code"):
        OrderSigner(DOC_KEY, builder_code="0x1234")


@pytest.mark.parametrize(
    "token_id",
    ["", "abc", "-1", "+1", "1.0", " 1", "1 ", "0123", "1e5", "١٢٣", str(2**256), 5, None],
)
def test_token_id_must_be_a_decimal_uint256(token_id: Any) -> None:
    with pytest.raises(ValueError, match="token_id"):
        OrderSigner(DOC_KEY).sign(
            token_id=token_id, side=Side.BUY, maker_amount=1, taker_amount=1, timestamp_ms=0
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("maker_amount", 0),
        ("maker_amount", -1),
        ("maker_amount", 2**256),
        ("taker_amount", 0),
        ("taker_amount", 2**300),
        ("taker_amount", True),
        ("maker_amount", 1.5),
        ("maker_amount", "5"),
        ("timestamp_ms", -1),
        ("timestamp_ms", 1.7e12),
        ("expiration_s", -5),
        ("salt", MAX_SALT + 1),
        ("salt", -1),
    ],
)
def test_amounts_and_integers_out_of_range_are_value_errors(field: str, value: Any) -> None:
    kwargs: dict[str, Any] = {
        "token_id": DOC_TOKEN,
        "side": Side.BUY,
        "maker_amount": 1,
        "taker_amount": 1,
        "timestamp_ms": 0,
        "salt": 0,
    }
    kwargs[field] = value
    with pytest.raises(ValueError, match=field):
        OrderSigner(DOC_KEY).sign(**kwargs)


def test_side_must_be_buy_or_sell() -> None:
    signer = OrderSigner(DOC_KEY)
    with pytest.raises(ValueError, match="side"):
        signer.sign(token_id=DOC_TOKEN, side=0, maker_amount=1, taker_amount=1, timestamp_ms=0)  # type: ignore[arg-type]
    order = signer.sign(
        token_id=DOC_TOKEN,
        side="SELL",  # type: ignore[arg-type]
        maker_amount=1,
        taker_amount=1,
        timestamp_ms=0,
        salt=1,
    )
    assert order.side is Side.SELL


def test_token_cache_does_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OrderSigner, "_TOKEN_CACHE_LIMIT", 8)
    signer = OrderSigner(DOC_KEY)
    fresh = [
        signer.sign(token_id=str(t), side=Side.BUY, maker_amount=1, taker_amount=1, timestamp_ms=0, salt=0)
        for t in range(20)  # more tokens than the cache keeps: it is emptied and refilled
    ]
    assert len(signer._token_words) <= 8
    again = signer.sign(token_id="7", side=Side.BUY, maker_amount=1, taker_amount=1, timestamp_ms=0, salt=0)
    assert again.order_id == fresh[7].order_id
    assert len({order.order_id for order in fresh}) == 20


# --- body --------------------------------------------------------------------------------------------


def _doc_order(**overrides: Any) -> SignedOrder:
    fields: dict[str, Any] = {
        "token_id": DOC_TOKEN,
        "side": Side.BUY,
        "maker_amount": 5_200_000,
        "taker_amount": 10_000_000,
        "timestamp_ms": 1_700_000_000_000,
        "salt": 123456789,
    }
    fields.update(overrides)
    return OrderSigner(DOC_KEY).sign(**fields)


def test_order_body_refuses_what_the_venue_refuses() -> None:
    order = _doc_order()
    with pytest.raises(ValueError, match="post-only"):
        order_body(order, "key", OrderType.FOK, post_only=True)
    with pytest.raises(ValueError, match="GTD"):
        order_body(order, "key", OrderType.GTD)
    with pytest.raises(ValueError, match="owner"):
        order_body(order, "", OrderType.GTC)
    body = order_body(_doc_order(expiration_s=1_700_000_300), "key", OrderType.GTD, post_only=True)
    assert body["orderType"] == "GTD"
    assert body["postOnly"] is True
    assert body["deferExec"] is False
    assert body["order"]["expiration"] == "1700000300"  # type: ignore[index]


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.text(), st.text(alphabet=st.characters())
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150)
@given(json_values)
def test_encode_body_equals_compact_stdlib_json(value: Any) -> None:
    assert encode_body(value) == sdk_wire_bytes(value)


# --- primitives ------------------------------------------------------------------------------------


def test_keccak_backends_agree_and_match_the_known_empty_hash() -> None:
    empty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"").hex() == empty
    assert keccak256_pycryptodome(b"").hex() == empty
    for n in range(0, 600, 7):
        data = os.urandom(n)
        assert keccak256(data) == keccak256_pycryptodome(data)
    assert order_signer.KECCAK_BACKEND in ("safe-pysha3", "pycryptodome")


def test_signer_gives_the_same_orders_on_the_fallback_keccak(monkeypatch: pytest.MonkeyPatch) -> None:
    fast_plain = _doc_order()
    fast_wrapped = OrderSigner(DOC_KEY, signature_type=SignatureType.POLY_1271, funder=WALLET).sign(
        token_id=DOC_TOKEN, side=Side.BUY, maker_amount=1, taker_amount=2, timestamp_ms=3, salt=4
    )
    calls: list[int] = []

    def fallback(data: bytes) -> bytes:
        calls.append(len(data))
        return keccak256_pycryptodome(data)

    monkeypatch.setattr(order_signer, "keccak256", fallback)  # as if safe-pysha3 were missing
    assert _doc_order() == fast_plain
    wrapped = OrderSigner(DOC_KEY, signature_type=SignatureType.POLY_1271, funder=WALLET).sign(
        token_id=DOC_TOKEN, side=Side.BUY, maker_amount=1, taker_amount=2, timestamp_ms=3, salt=4
    )
    assert wrapped == fast_wrapped
    assert len(calls) >= 7  # address + checksum + 2 per plain order + 2 per wrapped order + the envelope


@settings(max_examples=200)
@given(st.binary(min_size=20, max_size=20))
def test_checksum_address_equals_eth_utils(raw: bytes) -> None:
    expected = to_checksum_address(raw)
    assert checksum_address(raw) == expected
    assert parse_address(expected) == parse_address(expected.lower()) == raw


def test_zero_bytes32_is_the_sdk_constant() -> None:
    assert ZERO_BYTES32 == BYTES32_ZERO


# --- against the simulator (an independent verifier) -----------------------------------------------


async def _post(
    http: aiohttp.ClientSession, running: RunningSimulator, l2: L2Signer, path: str, body: object
) -> Any:
    data = encode_body(body)
    headers = l2.headers(int(running.simulator.clock.now()), "POST", path, data)
    headers["Content-Type"] = "application/json"
    async with http.post(running.base_url + path, data=data, headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.json(content_type=None)


@pytest.mark.parametrize(
    ("signature_type", "funder"),
    [
        (SignatureType.EOA, None),
        (SignatureType.POLY_PROXY, "0x2222222222222222222222222222222222222222"),
        (SignatureType.POLY_GNOSIS_SAFE, "0x3333333333333333333333333333333333333333"),
        (SignatureType.POLY_1271, "0x4444444444444444444444444444444444444444"),
    ],
)
async def test_simulator_accepts_each_signature_type(
    exchange_sim: RunningSimulator,
    http: aiohttp.ClientSession,
    trader_key: str,
    signature_type: SignatureType,
    funder: str | None,
) -> None:
    market = add_market(exchange_sim, "btc")
    signer = OrderSigner(trader_key, signature_type=signature_type, funder=funder)
    now_s = int(exchange_sim.simulator.clock.now())
    async with http.post(
        exchange_sim.base_url + "/auth/api-key", headers=l1_headers(signer, now_s)
    ) as response:
        assert response.status == 200, await response.text()
        raw = await response.json(content_type=None)
    credentials = ApiCredentials(raw["apiKey"], raw["secret"], raw["passphrase"])
    l2 = L2Signer(credentials, signer.address)
    order = signer.sign(
        token_id=market.up_token_id,
        side=Side.BUY,
        maker_amount=50_000,  # 5 shares at 0.01: far below any ask, it rests
        taker_amount=5_000_000,
        timestamp_ms=now_s * 1000,
    )
    answer = await _post(
        http, exchange_sim, l2, "/order", order_body(order, credentials.api_key, OrderType.GTC)
    )
    assert answer["success"] is True, answer
    assert answer["orderID"] == order.order_id
    assert answer["status"] == "live"
