"""CLOB authentication, as the venue checks it (docs §3).

* **L1** (``POST /auth/api-key``, ``GET /auth/derive-api-key``): an EIP-712 ``ClobAuth``
  signature, domain ``{name: "ClobAuthDomain", version: "1", chainId}`` without a verifying
  contract, over ``{address, timestamp (a string of Unix seconds), nonce, message}``. The
  signer recovered with ``eth_account`` must be ``POLY_ADDRESS``.
* **L2** (every trading and account call): ``POLY_SIGNATURE`` is the URL-safe base64 (with
  padding) HMAC-SHA256, keyed by the base64-decoded secret, of
  ``timestamp + METHOD + path [+ body]``: the path without host or query string and the body
  exactly as the bytes received.

Both refuse with 401: ``Invalid L1 Request headers`` and ``Unauthorized/Invalid api key``. A
timestamp further than ``window_s`` from the simulator's clock counts as a bad signature (the
venue's tolerance is undocumented; ``None`` switches the check off).

API keys are derived deterministically from the simulator's seed, the EOA and the nonce, so
the same ``(address, nonce)`` always gets the same key, secret and passphrase.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address

from polyexec.sim.errors import VenueError

__all__ = [
    "CLOB_AUTH_MESSAGE",
    "L1_ERROR",
    "L2_ERROR",
    "ApiKey",
    "ApiKeyStore",
    "hmac_signature",
    "recover_clob_auth_signer",
    "verify_l1",
    "verify_l2",
]

CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"
L1_ERROR = "Invalid L1 Request headers"
L2_ERROR = "Unauthorized/Invalid api key"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key: bound to the EOA ``address`` that derived it with ``nonce``."""

    key: str
    secret: str
    passphrase: str
    address: str
    nonce: int

    def creds(self) -> dict[str, str]:
        """The venue's answer to key creation/derivation."""
        return {"apiKey": self.key, "secret": self.secret, "passphrase": self.passphrase}


class ApiKeyStore:
    """API keys by key and by ``(address, nonce)``."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._by_key: dict[str, ApiKey] = {}
        self._by_owner: dict[tuple[str, int], ApiKey] = {}

    def _derive(self, address: str, nonce: int) -> ApiKey:
        base = f"polyexec-sim:{self._seed}:{address.lower()}:{nonce}"
        digest = hashlib.sha256(f"{base}:key".encode()).digest()
        secret = base64.urlsafe_b64encode(hashlib.sha256(f"{base}:secret".encode()).digest()).decode()
        passphrase = hashlib.sha256(f"{base}:passphrase".encode()).hexdigest()
        return ApiKey(
            key=str(uuid.UUID(bytes=digest[:16], version=4)),
            secret=secret,
            passphrase=passphrase,
            address=to_checksum_address(address),
            nonce=nonce,
        )

    def exists(self, address: str, nonce: int) -> bool:
        return (address.lower(), nonce) in self._by_owner

    def create(self, address: str, nonce: int) -> ApiKey:
        """A new key for ``(address, nonce)``; 400 ``Could not create api key`` if it exists."""
        if self.exists(address, nonce):
            raise VenueError("Could not create api key", status=400)
        return self.derive(address, nonce)

    def derive(self, address: str, nonce: int) -> ApiKey:
        """The key of ``(address, nonce)``, made on first use (derivation is deterministic)."""
        existing = self._by_owner.get((address.lower(), nonce))
        if existing is not None:
            return existing
        api_key = self._derive(address, nonce)
        self._by_owner[(address.lower(), nonce)] = api_key
        self._by_key[api_key.key] = api_key
        return api_key

    def get(self, key: str) -> ApiKey | None:
        return self._by_key.get(key)

    def keys_of(self, address: str) -> list[ApiKey]:
        return [k for (owner, _), k in self._by_owner.items() if owner == address.lower()]

    def delete(self, key: str) -> bool:
        api_key = self._by_key.pop(key, None)
        if api_key is None:
            return False
        self._by_owner.pop((api_key.address.lower(), api_key.nonce), None)
        return True


def recover_clob_auth_signer(signature: str, address: str, timestamp: str, nonce: int, chain_id: int) -> str:
    """The address that signed this ``ClobAuth`` message (raises ``ValueError`` if unreadable)."""
    typed = {
        "primaryType": "ClobAuth",
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "ClobAuth": [
                {"name": "address", "type": "address"},
                {"name": "timestamp", "type": "string"},
                {"name": "nonce", "type": "uint256"},
                {"name": "message", "type": "string"},
            ],
        },
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id},
        "message": {"address": address, "timestamp": timestamp, "nonce": nonce, "message": CLOB_AUTH_MESSAGE},
    }
    recovered: str = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    return recovered


def _fresh(timestamp: str, now_s: float, window_s: float | None) -> bool:
    try:
        seconds = int(timestamp)
    except ValueError:
        return False
    return window_s is None or abs(seconds - now_s) <= window_s


def verify_l1(
    headers: Mapping[str, str], *, chain_id: int, now_s: float, window_s: float | None
) -> tuple[str, int]:
    """Check L1 headers; returns ``(checksummed address, nonce)`` or raises a 401."""
    address = headers.get("POLY_ADDRESS", "")
    signature = headers.get("POLY_SIGNATURE", "")
    timestamp = headers.get("POLY_TIMESTAMP", "")
    nonce_text = headers.get("POLY_NONCE", "0") or "0"
    try:
        nonce = int(nonce_text)
        checksummed = to_checksum_address(address)
        if nonce < 0 or not _fresh(timestamp, now_s, window_s):
            raise ValueError("stale or negative")
        signer = recover_clob_auth_signer(signature, checksummed, timestamp, nonce, chain_id)
    except Exception as exc:  # any unreadable header is the same refusal on the venue
        raise VenueError(L1_ERROR, status=401) from exc
    if signer.lower() != checksummed.lower():
        raise VenueError(L1_ERROR, status=401)
    return checksummed, nonce


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: bytes | None) -> str:
    """The L2 signature of a request (URL-safe base64 with padding)."""
    key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    message = f"{timestamp}{method.upper()}{path}".encode()
    if body:
        message += body
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def verify_l2(
    headers: Mapping[str, str],
    *,
    method: str,
    path: str,
    body: bytes | None,
    keys: ApiKeyStore,
    now_s: float,
    window_s: float | None,
) -> ApiKey:
    """Check the five L2 headers against the key store; returns the API key or raises a 401."""
    api_key = keys.get(headers.get("POLY_API_KEY", ""))
    if api_key is None:
        raise VenueError(L2_ERROR, status=401)
    timestamp = headers.get("POLY_TIMESTAMP", "")
    given = headers.get("POLY_SIGNATURE", "")
    if (
        not hmac.compare_digest(headers.get("POLY_PASSPHRASE", ""), api_key.passphrase)
        or headers.get("POLY_ADDRESS", "").lower() != api_key.address.lower()
        or not _fresh(timestamp, now_s, window_s)
    ):
        raise VenueError(L2_ERROR, status=401)
    expected = hmac_signature(api_key.secret, timestamp, method, path, body)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise VenueError(L2_ERROR, status=401)
    return api_key
