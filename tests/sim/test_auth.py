"""L1/L2 authentication against the protocol reference's test vectors (docs §3.1, §3.2)."""

from __future__ import annotations

import pytest

from polyexec.sim.auth import ApiKeyStore, hmac_signature, recover_clob_auth_signer, verify_l1, verify_l2
from polyexec.sim.errors import VenueError

VECTOR_ADDRESS = "0x500d75F1329cf98352c32Cf238c2192ca78faFFE"
VECTOR_SIGNATURE = (
    "0x30b955943953b01fd43d5e2a5b1b394819fca3c90399542c344866ac15aa50bc"
    "092ed92611cc6b4ba8849d9c9c493fdff6523452ccf2461736cc3c61f07459241c"
)
SECRET = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8="


def test_clob_auth_vector_recovers_the_signer() -> None:
    assert recover_clob_auth_signer(VECTOR_SIGNATURE, VECTOR_ADDRESS, "1700000000", 0, 137) == VECTOR_ADDRESS
    assert recover_clob_auth_signer(VECTOR_SIGNATURE, VECTOR_ADDRESS, "1700000001", 0, 137) != VECTOR_ADDRESS


def test_verify_l1_window_and_headers() -> None:
    headers = {
        "POLY_ADDRESS": VECTOR_ADDRESS.lower(),
        "POLY_SIGNATURE": VECTOR_SIGNATURE,
        "POLY_TIMESTAMP": "1700000000",
        "POLY_NONCE": "0",
    }
    assert verify_l1(headers, chain_id=137, now_s=1_700_000_030, window_s=60) == (VECTOR_ADDRESS, 0)
    for bad in (
        {"POLY_TIMESTAMP": "soon"},
        {"POLY_NONCE": "-1"},
        {"POLY_ADDRESS": "0x123"},
        {"POLY_SIGNATURE": "0x"},
    ):
        with pytest.raises(VenueError) as refused:
            verify_l1({**headers, **bad}, chain_id=137, now_s=1_700_000_000, window_s=60)
        assert (refused.value.status, refused.value.message) == (401, "Invalid L1 Request headers")
    with pytest.raises(VenueError):
        verify_l1(headers, chain_id=137, now_s=1_700_000_061, window_s=60)
    assert verify_l1(headers, chain_id=137, now_s=0, window_s=None)[1] == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/data/orders", None, "OFszhQlhcpMc6miusCE4UWjJ7rwjE8hx2AJ_909cT2M="),
        ("DELETE", "/order", b'{"orderID":"0xabc"}', "tObosoGVOl5UDzZgCh8BPiK5g2SlMQi6LCbnL-ToKAs="),
        ("POST", "/v1/heartbeats", b'{"heartbeat_id":""}', "IPxpZWahx7TWoJLqkZ_SMMHjFwYQAVcDBQhLE5nqkWY="),
    ],
)
def test_hmac_vectors(method: str, path: str, body: bytes | None, expected: str) -> None:
    assert hmac_signature(SECRET, "1700000000", method, path, body) == expected


def test_verify_l2_checks_every_header() -> None:
    keys = ApiKeyStore(seed=1)
    key = keys.derive(VECTOR_ADDRESS, 0)
    body = b'{"orderID":"0xabc"}'
    headers = {
        "POLY_ADDRESS": VECTOR_ADDRESS,
        "POLY_SIGNATURE": hmac_signature(key.secret, "1700000000", "DELETE", "/order", body),
        "POLY_TIMESTAMP": "1700000000",
        "POLY_API_KEY": key.key,
        "POLY_PASSPHRASE": key.passphrase,
    }

    def check(h: dict[str, str], sent: bytes | None = body) -> str:
        try:
            verify_l2(
                h, method="DELETE", path="/order", body=sent, keys=keys, now_s=1_700_000_000, window_s=60
            )
        except VenueError as exc:
            return f"{exc.status} {exc.message}"
        return "ok"

    refused = "401 Unauthorized/Invalid api key"
    assert check(headers) == "ok"
    assert check(headers, b'{"orderID": "0xabc"}') == refused  # the exact bytes are signed
    for bad in ({"POLY_API_KEY": "nope"}, {"POLY_PASSPHRASE": "x"}, {"POLY_ADDRESS": "0x" + "1" * 40}):
        assert check({**headers, **bad}) == refused


def test_api_keys_are_deterministic_per_seed_address_and_nonce() -> None:
    first, second = ApiKeyStore(seed=1), ApiKeyStore(seed=1)
    assert first.derive(VECTOR_ADDRESS, 0) == second.derive(VECTOR_ADDRESS.lower(), 0)
    assert first.derive(VECTOR_ADDRESS, 1).key != first.derive(VECTOR_ADDRESS, 0).key
    assert ApiKeyStore(seed=2).derive(VECTOR_ADDRESS, 0).key != first.derive(VECTOR_ADDRESS, 0).key
    with pytest.raises(VenueError, match="Could not create api key"):
        first.create(VECTOR_ADDRESS, 0)
    assert first.delete(first.derive(VECTOR_ADDRESS, 0).key)
    assert first.create(VECTOR_ADDRESS, 0).nonce == 0
