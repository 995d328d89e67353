"""Reading signed V2 orders and recovering their signer (docs §4, test vector §4.3)."""

from __future__ import annotations

import pytest
from py_clob_client_v2.clob_types import CreateOrderOptions, OrderArgsV2
from py_clob_client_v2.order_builder.builder import OrderBuilder
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer

from polyexec.sim.accounts import Ledger
from polyexec.sim.auth import ApiKeyStore
from polyexec.sim.errors import VenueError
from polyexec.sim.orders import (
    EXCHANGE_ADDRESS,
    NEG_RISK_EXCHANGE_ADDRESS,
    SignedOrder,
    authenticate_order,
    order_digest,
    parse_send_order,
    recover_order_signer,
)
from tests.sim.conftest import make_market, throwaway_key

VECTOR = SignedOrder(
    salt=123456789,
    maker="0x500d75F1329cf98352c32Cf238c2192ca78faFFE",
    signer="0x500d75F1329cf98352c32Cf238c2192ca78faFFE",
    token_id=71321045679252212594626385532706912750332728571942532289631379312455583992563,
    maker_amount=5200000,
    taker_amount=10000000,
    side="BUY",
    signature_type=0,
    timestamp=1700000000000,
    metadata=bytes(32),
    builder=bytes(32),
    expiration=0,
    signature="0xf1cb52acfdbb3741daa5287d2b859d12e22691fc862a8141e8d3539fc0ac2cb3"
    "0088dbf593431649b5f2c683d9a4899e264fc1ffce6905f56b8edc53d521b5751c",
)


def test_order_vector_hash_and_signer() -> None:
    digest = order_digest(VECTOR, EXCHANGE_ADDRESS, 137)
    assert "0x" + digest.hex() == "0xbf7b68f17b52ed2b8c0721944c459614e94be479dc1a1f668dff21d0be1c397f"
    assert recover_order_signer(VECTOR, EXCHANGE_ADDRESS, 137) == VECTOR.signer
    # the neg-risk exchange is another domain: the same signature names somebody else
    assert recover_order_signer(VECTOR, NEG_RISK_EXCHANGE_ADDRESS, 137) != VECTOR.signer


def _sdk_order(key: str, signature_type: int, funder: str | None, neg_risk: bool = False) -> dict:
    builder = OrderBuilder(Signer(key, 137), signature_type=signature_type, funder=funder)
    signed = builder.build_order(
        OrderArgsV2(token_id="11", price=0.45, size=10, side="SELL"),
        CreateOrderOptions(tick_size="0.01", neg_risk=neg_risk),
    )
    return order_to_json_v2(signed, "owner-key", "GTC")


@pytest.mark.parametrize(
    ("signature_type", "funder"),
    [(0, None), (1, "0x" + "ab" * 20), (2, "0x" + "ef" * 20), (3, "0x" + "cd" * 20)],
)
@pytest.mark.parametrize("neg_risk", [False, True])
def test_sdk_orders_authenticate(signature_type: int, funder: str | None, neg_risk: bool) -> None:
    key = throwaway_key("orders")
    keys = ApiKeyStore(seed=0)
    signer = Signer(key, 137).address()
    api_key = keys.derive(signer, 0)
    body = _sdk_order(key, signature_type, funder, neg_risk)
    body["owner"] = api_key.key
    request = authenticate_order(
        parse_send_order(body),
        api_key,
        market=make_market(up_token_id="11", neg_risk=neg_risk),
        ledger=Ledger(0),
        chain_id=137,
    )
    assert (request.side, request.maker_amount, request.taker_amount) == ("SELL", 10_000_000, 4_500_000)
    assert request.maker.lower() == (funder or signer).lower()
    assert request.id.startswith("0x")
    assert len(request.id) == 66


def test_parse_refuses_malformed_and_v1_orders() -> None:
    body = _sdk_order(throwaway_key("orders"), 0, None)
    with pytest.raises(VenueError, match="Invalid order payload"):
        parse_send_order({**body, "order": {**body["order"], "side": "HOLD"}})
    with pytest.raises(VenueError, match="Invalid order payload"):
        parse_send_order({**body, "order": {**body["order"], "metadata": "0x12"}})
    with pytest.raises(VenueError, match="order_version_mismatch"):
        parse_send_order({**body, "order": {**body["order"], "feeRateBps": "0"}})
    with pytest.raises(VenueError, match="Invalid order payload"):
        parse_send_order([body])


def test_wallet_rules() -> None:
    keys, ledger = ApiKeyStore(seed=0), Ledger(0)
    alice_key, bob_key = throwaway_key("alice"), throwaway_key("bob")
    alice = keys.derive(Signer(alice_key, 137).address(), 0)
    bob = keys.derive(Signer(bob_key, 137).address(), 0)
    market = make_market(up_token_id="11")

    def submit(key: str, api_key: object, signature_type: int, funder: str | None) -> str:
        body = _sdk_order(key, signature_type, funder)
        body["owner"] = api_key.key  # type: ignore[attr-defined]
        try:
            authenticate_order(parse_send_order(body), api_key, market=market, ledger=ledger, chain_id=137)  # type: ignore[arg-type]
        except VenueError as exc:
            return exc.message
        return "ok"

    proxy = "0x" + "ab" * 20
    assert submit(alice_key, alice, 1, proxy) == "ok"
    assert ledger.wallet_owner(proxy) == alice.address.lower()
    assert submit(bob_key, bob, 1, proxy) == "maker address not allowed, please use the deposit wallet flow"
    assert submit(bob_key, alice, 0, None) == "the order signer address has to be the address of the API KEY"
    assert "must be a wallet" in submit(alice_key, alice, 1, alice.address)
