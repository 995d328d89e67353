"""Tests for polyexec.venues.auth: L1 ClobAuth and L2 HMAC headers.

Checked against the protocol doc's vectors (§3.1, §3.2), against ``py-clob-client-v2``'s
``create_level_1_headers`` / ``create_level_2_headers`` on random inputs, and against the
simulator, which verifies both with its own code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client_v2.clob_types import ApiCreds, RequestArgs
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.signer import Signer

from polyexec.core.models import SignatureType
from polyexec.sim.app import RunningSimulator
from polyexec.venues.auth import ApiCredentials, L2Signer, clob_auth_digest, l1_headers
from polyexec.venues.order_signer import OrderSigner, encode_body
from tests.venues.conftest import throwaway_key

DOC_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcaf784d7bf4f2ff80"
DOC_ADDRESS = "0x500d75F1329cf98352c32Cf238c2192ca78faFFE"
DOC_SECRET = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8="
SECRET = "s3cr3t-ZZZZ-only-in-tests-00000000000000000000="
PASSPHRASE = "passphrase-that-must-never-be-printed"


def doc_l2() -> L2Signer:
    return L2Signer(ApiCredentials("00000000-0000-0000-0000-000000000000", DOC_SECRET, "pp"), DOC_ADDRESS)


# --- L1 --------------------------------------------------------------------------------------------


def test_l1_matches_the_protocol_doc_vector() -> None:
    headers = l1_headers(OrderSigner(DOC_KEY), 1_700_000_000)
    assert headers == {
        "POLY_ADDRESS": DOC_ADDRESS,
        "POLY_SIGNATURE": "0x30b955943953b01fd43d5e2a5b1b394819fca3c90399542c344866ac15aa50bc"
        "092ed92611cc6b4ba8849d9c9c493fdff6523452ccf2461736cc3c61f07459241c",
        "POLY_TIMESTAMP": "1700000000",
        "POLY_NONCE": "0",
    }


@settings(max_examples=40)
@given(
    key_label=st.integers(0, 10**6),
    chain_id=st.sampled_from([137, 80002]),
    timestamp_s=st.integers(0, 2**40),
    nonce=st.one_of(st.integers(0, 100), st.integers(0, 2**256 - 1)),
)
def test_l1_headers_equal_the_sdk(key_label: int, chain_id: int, timestamp_s: int, nonce: int) -> None:
    key = throwaway_key(f"l1-{key_label}")
    ours = l1_headers(OrderSigner(key, chain_id=chain_id), timestamp_s, nonce)
    assert ours == create_level_1_headers(Signer(key, chain_id), nonce=nonce, timestamp=timestamp_s)


def test_l1_uses_the_eoa_for_every_wallet_type() -> None:
    wallet = "0x1111111111111111111111111111111111111111"
    deposit = OrderSigner(DOC_KEY, signature_type=SignatureType.POLY_1271, funder=wallet)
    assert l1_headers(deposit, 1_700_000_000) == l1_headers(OrderSigner(DOC_KEY), 1_700_000_000)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((DOC_ADDRESS, -1, 0, 137), "timestamp_s"),
        ((DOC_ADDRESS, 1.5, 0, 137), "timestamp_s"),
        ((DOC_ADDRESS, 1, -1, 137), "nonce"),
        ((DOC_ADDRESS, 1, 2**256, 137), "nonce"),
        (("0x1234", 1, 0, 137), "address"),
    ],
)
def test_clob_auth_rejects_bad_input(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clob_auth_digest(*args)


# --- L2 --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "signature"),
    [
        ("GET", "/data/orders", None, "OFszhQlhcpMc6miusCE4UWjJ7rwjE8hx2AJ_909cT2M="),
        ("DELETE", "/order", b'{"orderID":"0xabc"}', "tObosoGVOl5UDzZgCh8BPiK5g2SlMQi6LCbnL-ToKAs="),
        ("POST", "/v1/heartbeats", b'{"heartbeat_id":""}', "IPxpZWahx7TWoJLqkZ_SMMHjFwYQAVcDBQhLE5nqkWY="),
    ],
)
def test_l2_matches_the_protocol_doc_vectors(
    method: str, path: str, body: bytes | None, signature: str
) -> None:
    headers = doc_l2().headers(1_700_000_000, method, path, body)
    assert headers == {
        "POLY_ADDRESS": DOC_ADDRESS,
        "POLY_SIGNATURE": signature,
        "POLY_TIMESTAMP": "1700000000",
        "POLY_API_KEY": "00000000-0000-0000-0000-000000000000",
        "POLY_PASSPHRASE": "pp",
    }


json_bodies = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.text().filter(lambda t: "'" not in t)
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text().filter(lambda t: "'" not in t), children, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=100)
@given(
    secret=st.binary(min_size=1, max_size=64).map(lambda raw: base64.urlsafe_b64encode(raw).decode()),
    timestamp_s=st.integers(0, 2**40),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    path=st.from_regex(r"/[A-Za-z0-9/_.~%-]{0,40}", fullmatch=True),
    body=st.one_of(st.none(), json_bodies),
)
def test_l2_headers_equal_the_sdk(secret: str, timestamp_s: int, method: str, path: str, body: Any) -> None:
    serialized = None if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    credentials = ApiCredentials("key-id", secret, "pass")
    ours = L2Signer(credentials, DOC_ADDRESS).headers(
        timestamp_s, method, path, None if body is None else encode_body(body)
    )
    theirs = create_level_2_headers(
        Signer(DOC_KEY, 137),
        ApiCreds("key-id", secret, "pass"),
        RequestArgs(method, path, body, serialized),
        timestamp=timestamp_s,
    )
    assert ours == theirs


def test_l2_signs_the_exact_bytes_even_with_an_apostrophe() -> None:
    # The SDK would sign str(body).replace("'", '"'), not what it sends; the venue hashes the bytes.
    body = encode_body({"note": "it's"})
    signer = doc_l2()
    key = base64.urlsafe_b64decode(DOC_SECRET)
    expected = base64.urlsafe_b64encode(
        hmac.digest(key, b"1700000000POST/order" + body, hashlib.sha256)
    ).decode()
    assert signer.signature(1_700_000_000, "POST", "/order", body) == expected


def test_l2_method_is_upper_cased_and_empty_body_is_no_body() -> None:
    signer = doc_l2()
    reference = signer.signature(1_700_000_000, "GET", "/data/orders")
    assert signer.signature(1_700_000_000, "get", "/data/orders") == reference
    assert signer.signature(1_700_000_000, "GET", "/data/orders", b"") == reference
    assert signer.signature(1_700_000_000, "POST", "/x", bytearray(b"{}")) == signer.signature(
        1_700_000_000, "POST", "/x", b"{}"
    )


def test_unpadded_secret_is_padded() -> None:
    unpadded = DOC_SECRET.rstrip("=")
    signer = L2Signer(ApiCredentials("k", unpadded, "pp"), DOC_ADDRESS)
    assert (
        signer.signature(1_700_000_000, "GET", "/data/orders")
        == "OFszhQlhcpMc6miusCE4UWjJ7rwjE8hx2AJ_909cT2M="
    )


@pytest.mark.parametrize("secret", ["not base64!", "QUJDREVGR", "Q", "====", "ab\ncd==", "QUJD=REVG"])
def test_bad_secret_is_a_value_error_without_the_secret(secret: str) -> None:
    with pytest.raises(ValueError, match="API secret") as caught:
        L2Signer(ApiCredentials("k", secret, "pp"), DOC_ADDRESS)
    if len(secret) > 3:
        assert secret not in str(caught.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, "GET", "/data/orders?id=1"), "query"),
        ((1, "GET", "https://clob.polymarket.com/data/orders"), "path"),
        ((1, "GET", "data/orders"), "path"),
        ((-1, "GET", "/x"), "timestamp_s"),
        ((1.5, "GET", "/x"), "timestamp_s"),
        ((1, "", "/x"), "method"),
        ((1, "POST", "/x", '{"a":1}'), "exact bytes"),
        ((1, "POST", "/x", {"a": 1}), "exact bytes"),
    ],
)
def test_l2_rejects_bad_requests(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        doc_l2().headers(*args)


def test_l2_address_must_be_an_address() -> None:
    with pytest.raises(ValueError, match="POLY_ADDRESS"):
        L2Signer(ApiCredentials("k", DOC_SECRET, "pp"), "not-an-address")


# --- credentials -----------------------------------------------------------------------------------


def test_credentials_never_show_secret_or_passphrase() -> None:
    credentials = ApiCredentials("0123456789abcdef-key", SECRET, PASSPHRASE)
    signer = L2Signer(credentials, DOC_ADDRESS)
    for text in (
        repr(credentials),
        str(credentials),
        f"{credentials}",
        repr([credentials]),
        repr({"creds": credentials}),
        repr(signer),
        str(signer),
    ):
        assert SECRET not in text
        assert SECRET.rstrip("=") not in text
        assert PASSPHRASE not in text
    assert "01234567" in repr(credentials)  # the key's start identifies which key it is
    assert signer.credentials is credentials


def test_ws_auth_is_the_user_channel_object() -> None:
    credentials = ApiCredentials("k", SECRET, PASSPHRASE)
    assert credentials.ws_auth() == {"apiKey": "k", "secret": SECRET, "passphrase": PASSPHRASE}


@pytest.mark.parametrize("field", ["api_key", "secret", "passphrase"])
def test_credentials_need_every_field(field: str) -> None:
    values: dict[str, Any] = {"api_key": "k", "secret": SECRET, "passphrase": PASSPHRASE}
    values[field] = ""
    with pytest.raises(ValueError, match=field):
        ApiCredentials(**values)


# --- against the simulator -------------------------------------------------------------------------


async def test_simulator_accepts_l1_and_l2(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str
) -> None:
    signer = OrderSigner(trader_key)
    now_s = int(exchange_sim.simulator.clock.now())
    base = exchange_sim.base_url
    async with http.post(base + "/auth/api-key", headers=l1_headers(signer, now_s, nonce=7)) as response:
        assert response.status == 200, await response.text()
        created = await response.json(content_type=None)
    async with http.get(
        base + "/auth/derive-api-key", headers=l1_headers(signer, now_s, nonce=7)
    ) as response:
        assert response.status == 200
        assert await response.json(content_type=None) == created
    credentials = ApiCredentials(created["apiKey"], created["secret"], created["passphrase"])
    l2 = L2Signer(credentials, signer.address)

    async with http.get(base + "/data/orders", headers=l2.headers(now_s, "GET", "/data/orders")) as response:
        assert response.status == 200, await response.text()
    body = encode_body({"heartbeat_id": ""})
    headers = {**l2.headers(now_s, "POST", "/v1/heartbeats", body), "Content-Type": "application/json"}
    async with http.post(base + "/v1/heartbeats", data=body, headers=headers) as response:
        assert response.status == 200, await response.text()

    wrong = L2Signer(ApiCredentials(credentials.api_key, DOC_SECRET, credentials.passphrase), signer.address)
    async with http.get(
        base + "/data/orders", headers=wrong.headers(now_s, "GET", "/data/orders")
    ) as response:
        assert response.status == 401
    # an L1 signature by another key for this address is refused
    forged = {**l1_headers(OrderSigner(DOC_KEY), now_s), "POLY_ADDRESS": signer.address}
    async with http.get(base + "/auth/derive-api-key", headers=forged) as response:
        assert response.status == 401
