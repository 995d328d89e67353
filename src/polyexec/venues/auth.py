"""CLOB authentication headers: L1 (EIP-712 ``ClobAuth``) and L2 (HMAC-SHA256), per
docs/polymarket-protocol.md §3.

* **L1** (:func:`l1_headers`) proves control of the key; the venue needs it only to create or
  derive an API key (``POST /auth/api-key``, ``GET /auth/derive-api-key``). The key signs the
  typed data ``ClobAuth{address, timestamp (a string of Unix seconds), nonce, message}`` in the
  domain ``{name: "ClobAuthDomain", version: "1", chainId}`` (no verifying contract).
* **L2** (:class:`L2Signer`) signs every trading and account request with the API key's secret:
  ``urlsafe_b64(HMAC_SHA256(b64decode(secret), timestamp + METHOD + path [+ body]))``, padding
  kept. The path has no host and no query string; the body is the exact bytes sent (build it
  with :func:`polyexec.venues.order_signer.encode_body` and send those very bytes).

Both match ``py-clob-client-v2`` (``create_level_1_headers``, ``create_level_2_headers``) byte
for byte, with one deliberate difference: given a body, the SDK signs
``str(body).replace("'", '"')``, which differs from the bytes it sends whenever the body holds
an apostrophe; here the signed bytes are always the sent bytes.

Secrets: :class:`ApiCredentials` never shows its secret or passphrase in ``repr``/``str``, and
no error message here contains them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Final

from polyexec.venues.order_signer import keccak256, parse_address

if TYPE_CHECKING:
    from polyexec.venues.order_signer import OrderSigner

__all__ = [
    "CLOB_AUTH_MESSAGE",
    "POLY_ADDRESS",
    "POLY_API_KEY",
    "POLY_NONCE",
    "POLY_PASSPHRASE",
    "POLY_SIGNATURE",
    "POLY_TIMESTAMP",
    "ApiCredentials",
    "L2Signer",
    "clob_auth_digest",
    "l1_headers",
]

POLY_ADDRESS: Final = "POLY_ADDRESS"
POLY_SIGNATURE: Final = "POLY_SIGNATURE"
POLY_TIMESTAMP: Final = "POLY_TIMESTAMP"
POLY_NONCE: Final = "POLY_NONCE"
POLY_API_KEY: Final = "POLY_API_KEY"
POLY_PASSPHRASE: Final = "POLY_PASSPHRASE"  # noqa: S105 (a header name)

CLOB_AUTH_MESSAGE: Final = "This message attests that I control the given wallet"

_UINT256_LIMIT: Final = 2**256
# The venue hands out urlsafe base64; the standard alphabet's '+' and '/' are tolerated because
# the SDK's decoder tolerates them too. Anything else would be silently dropped by that decoder,
# so it is refused here instead.
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


@dataclass(frozen=True, slots=True, repr=False)
class ApiCredentials:
    """An API key as the venue returns it from ``/auth/api-key``: ``api_key`` (a UUID),
    ``secret`` (urlsafe base64, the HMAC key) and ``passphrase``.

    ``repr``/``str`` show only the start of the key, never the secret or the passphrase. Each
    field must be a non-empty string (``ValueError`` naming the field, not its value).
    """

    api_key: str
    secret: str
    passphrase: str

    def __post_init__(self) -> None:
        for name in ("api_key", "secret", "passphrase"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"API credentials: {name} must be a non-empty string")

    def __repr__(self) -> str:
        return f"ApiCredentials(api_key={self.api_key[:8]!r}…, secret=<hidden>, passphrase=<hidden>)"

    def ws_auth(self) -> dict[str, str]:
        """The ``auth`` object of the user channel's subscribe frame (§3.4): the raw credentials."""
        return {"apiKey": self.api_key, "secret": self.secret, "passphrase": self.passphrase}


def _decode_secret(secret: str) -> bytes:
    """The HMAC key: the secret base64-decoded, padded with '=' first if it was sent without."""
    if not _BASE64_TEXT.fullmatch(secret):
        raise ValueError("API secret is not urlsafe base64")
    try:
        key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("API secret is not valid base64 (wrong length)") from None
    if not key:
        raise ValueError("API secret decodes to an empty key")
    return key


def _exact_bytes(body: object) -> bytes:
    """The body as bytes; a str or a dict is refused: only the bytes actually sent can be signed."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    raise ValueError(f"body must be the exact bytes sent, got {type(body).__name__}")


class L2Signer:
    """Builds the five L2 headers of a request (§3.2); the secret is decoded once, here.

    ``address`` is the ``POLY_ADDRESS``: the EOA that owns the API key (``OrderSigner.address``),
    whatever wallet type the orders use.
    """

    __slots__ = ("_address", "_api_key", "_credentials", "_key", "_passphrase")

    def __init__(self, credentials: ApiCredentials, address: str) -> None:
        parse_address(address, "POLY_ADDRESS")
        self._credentials = credentials
        self._key = _decode_secret(credentials.secret)
        self._address = address
        self._api_key = credentials.api_key
        self._passphrase = credentials.passphrase

    def __repr__(self) -> str:
        return f"L2Signer(address={self._address}, credentials={self._credentials!r})"

    @property
    def credentials(self) -> ApiCredentials:
        """The credentials this signer signs with."""
        return self._credentials

    @property
    def address(self) -> str:
        """The ``POLY_ADDRESS`` sent with every request."""
        return self._address

    def signature(self, timestamp_s: int, method: str, request_path: str, body: bytes | None = None) -> str:
        """The ``POLY_SIGNATURE`` of one request (see :meth:`headers`)."""
        if type(timestamp_s) is not int or timestamp_s < 0:
            raise ValueError(f"timestamp_s must be a non-negative int of Unix seconds, got {timestamp_s!r}")
        if not isinstance(method, str) or not method.isalpha():
            raise ValueError(f"method must be an HTTP method name, got {method!r}")
        if not isinstance(request_path, str) or not request_path.startswith("/") or "?" in request_path:
            raise ValueError(
                f"request_path must be the path alone (starting with '/', no host, no query string),"
                f" got {request_path!r}"
            )
        message = f"{timestamp_s}{method.upper()}{request_path}".encode()
        if body:
            message += _exact_bytes(body)
        return base64.urlsafe_b64encode(hmac.digest(self._key, message, "sha256")).decode("ascii")

    def headers(
        self, timestamp_s: int, method: str, request_path: str, body: bytes | None = None
    ) -> dict[str, str]:
        """``POLY_ADDRESS``, ``POLY_SIGNATURE``, ``POLY_TIMESTAMP``, ``POLY_API_KEY`` and
        ``POLY_PASSPHRASE`` for a request.

        ``timestamp_s`` is the venue's clock in Unix seconds (local time + measured offset);
        ``method`` is upper-cased; ``request_path`` has no host and no query string (a ``?`` is a
        ``ValueError``); ``body`` is the exact bytes sent, ``None`` or empty for none. The
        passphrase is in these headers: never log them.
        """
        return {
            POLY_ADDRESS: self._address,
            POLY_SIGNATURE: self.signature(timestamp_s, method, request_path, body),
            POLY_TIMESTAMP: str(timestamp_s),
            POLY_API_KEY: self._api_key,
            POLY_PASSPHRASE: self._passphrase,
        }


# --- L1 --------------------------------------------------------------------------------------------

_CLOB_AUTH_TYPEHASH: Final = keccak256(
    b"ClobAuth(address address,string timestamp,uint256 nonce,string message)"
)
_CLOB_AUTH_MESSAGE_HASH: Final = keccak256(CLOB_AUTH_MESSAGE.encode())


@cache
def _clob_auth_domain_prefix(chain_id: int) -> bytes:
    separator = keccak256(
        keccak256(b"EIP712Domain(string name,string version,uint256 chainId)")
        + keccak256(b"ClobAuthDomain")
        + keccak256(b"1")
        + chain_id.to_bytes(32, "big")
    )
    return b"\x19\x01" + separator


def clob_auth_digest(address: str, timestamp_s: int, nonce: int, chain_id: int) -> bytes:
    """The EIP-712 digest of ``ClobAuth{address, str(timestamp_s), nonce, message}`` that L1
    signs (§3.1)."""
    if type(timestamp_s) is not int or timestamp_s < 0:
        raise ValueError(f"timestamp_s must be a non-negative int of Unix seconds, got {timestamp_s!r}")
    if type(nonce) is not int or not 0 <= nonce < _UINT256_LIMIT:
        raise ValueError(f"nonce must be an int in [0, 2^256 - 1], got {nonce!r}")
    if type(chain_id) is not int or not 0 <= chain_id < _UINT256_LIMIT:
        raise ValueError(f"chain_id must be a non-negative int, got {chain_id!r}")
    struct_hash = keccak256(
        _CLOB_AUTH_TYPEHASH
        + bytes(12)
        + parse_address(address)
        + keccak256(str(timestamp_s).encode())
        + nonce.to_bytes(32, "big")
        + _CLOB_AUTH_MESSAGE_HASH
    )
    return keccak256(_clob_auth_domain_prefix(chain_id) + struct_hash)


def l1_headers(signer: OrderSigner, timestamp_s: int, nonce: int = 0) -> dict[str, str]:
    """``POLY_ADDRESS``, ``POLY_SIGNATURE`` (the ``ClobAuth`` signature, 0x-hex),
    ``POLY_TIMESTAMP`` and ``POLY_NONCE`` for creating or deriving an API key.

    The address is always the key's EOA (``signer.address``), also for proxy, Safe and deposit
    wallet accounts: the API key belongs to the EOA (§3.1). ``timestamp_s`` is the venue's clock
    in Unix seconds; keep ``nonce`` (default 0): the key cannot be derived again without it.
    """
    digest = clob_auth_digest(signer.address, timestamp_s, nonce, signer.chain_id)
    return {
        POLY_ADDRESS: signer.address,
        POLY_SIGNATURE: "0x" + signer.sign_digest(digest).hex(),
        POLY_TIMESTAMP: str(timestamp_s),
        POLY_NONCE: str(nonce),
    }
