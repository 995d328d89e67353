"""Fast CLOB V2 order signing, byte-identical to ``py-clob-client-v2``.

:class:`OrderSigner` turns integer amounts into a :class:`SignedOrder`: the EIP-712 signature of
the 11-field V2 ``Order`` struct (docs/polymarket-protocol.md §4.1–§4.3), and the order id the
venue will report for it (the EIP-712 digest, equal to the SDK's ``build_order_hash``)::

    signer = OrderSigner(private_key, signature_type=SignatureType.POLY_GNOSIS_SAFE, funder=safe)
    order = signer.sign(token_id=token, side=Side.BUY, maker_amount=5_200_000,
                        taker_amount=10_000_000, timestamp_ms=now_ms)
    body = encode_body(order_body(order, owner=api_key, order_type=OrderType.GTC))

Prices and sizes become amounts in :mod:`polyexec.venues.order_factory`; this module only signs.

Wallet types (§4.3)
-------------------
* ``EOA`` (0): ``maker = signer =`` the key's address.
* ``POLY_PROXY`` (1), ``POLY_GNOSIS_SAFE`` (2): ``maker =`` the funder (proxy or Safe),
  ``signer =`` the key's address; a plain 65-byte signature.
* ``POLY_1271`` (3, deposit wallet): ``maker = signer =`` the deposit wallet (the funder). The
  key signs the ERC-7739 ``TypedDataSign`` envelope around the order, and the wire signature is
  ``innerSig ‖ appDomainSeparator ‖ contentsHash ‖ typeString ‖ uint16(len(typeString))``. It is
  implemented here rather than delegated to the SDK: it is the same digest work plus one more
  keccak, and the test suite proves it byte-identical to the SDK's
  ``_build_poly_1271_order_signature``.

How it's fast
-------------
The SDK spends about 650 µs per order (with coincurve installed): it rebuilds the typed-data
dictionaries, runs them through ``eth_account.encode_typed_data`` (which re-hashes the constant
domain every time), and re-derives the public key from the hex private key on every signature
(docs/performance-baselines.md §1–§2). Here:

* everything that does not change per order is computed once: the ``Order`` type hash, the
  ``0x1901 ‖ domainSeparator`` prefix of both exchanges, the 32-byte words of maker, signer,
  signature type, metadata and builder, and (for deposit wallets) the constant tail of the
  ``TypedDataSign`` struct. Token ids are converted to their 32-byte word once and remembered;
* per order there is one ``bytes.join`` of 12 words, two keccak calls (``safe-pysha3``'s C
  keccak, about 1 µs each, with pycryptodome as the fallback) and one libsecp256k1 signature
  through a ``coincurve.PrivateKey`` built once, signing the digest directly
  (``sign_recoverable(digest, hasher=None)``, v = recid + 27). RFC 6979 makes the signature
  deterministic, so it is the very same 65 bytes the SDK produces.

The secp256k1 signature (about 31–38 µs here) is most of what is left.
"""

from __future__ import annotations

import importlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import coincurve
import orjson
from Crypto.Hash import keccak as _cryptodome_keccak

from polyexec.core.models import OrderType, Side, SignatureType

__all__ = [
    "CHAIN_IDS",
    "KECCAK_BACKEND",
    "MAX_SALT",
    "ORDER_TYPE_STRING",
    "ZERO_BYTES32",
    "OrderSigner",
    "SignedOrder",
    "checksum_address",
    "encode_body",
    "exchange_address",
    "keccak256",
    "keccak256_pycryptodome",
    "order_body",
    "parse_address",
]

ZERO_BYTES32: Final = "0x" + "00" * 32
"""An all-zero ``bytes32`` as the SDK writes it: the default ``metadata`` and ``builder``."""

MAX_SALT: Final = 2**53 - 1
"""The salt travels as a JSON number: keep it exact for JavaScript parsers (§4.2)."""

_UINT256_LIMIT: Final = 2**256
_SECP256K1_ORDER: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


# --- Keccak-256 ------------------------------------------------------------------------------------


def keccak256_pycryptodome(data: bytes) -> bytes:
    """Keccak-256 through pycryptodome: always available (eth-account depends on it), about 6 µs
    a call. The fallback when ``safe-pysha3`` is not installed."""
    return _cryptodome_keccak.new(digest_bits=256, data=data).digest()


def _pysha3_keccak256() -> Callable[[bytes], bytes] | None:
    """safe-pysha3's C keccak (about 1 µs a call), or None when it is not installed. Imported by
    name so that the type checker does not need stubs for it."""
    try:
        module = importlib.import_module("sha3")
    except ImportError:
        return None
    constructor = module.keccak_256

    def keccak256_pysha3(data: bytes) -> bytes:
        digest: bytes = constructor(data).digest()
        return digest

    return keccak256_pysha3


_pysha3 = _pysha3_keccak256()
keccak256: Final[Callable[[bytes], bytes]] = _pysha3 or keccak256_pycryptodome
"""Keccak-256 (Ethereum's, not SHA3-256) of ``data``, with the fastest backend installed."""
KECCAK_BACKEND: Final = "safe-pysha3" if _pysha3 is not None else "pycryptodome"
"""Which keccak backend :func:`keccak256` uses."""


# --- Addresses -------------------------------------------------------------------------------------

_HEX_ADDRESS = re.compile(r"0[xX][0-9a-fA-F]{40}")


def checksum_address(address: bytes) -> str:
    """The EIP-55 mixed-case spelling of a 20-byte address."""
    if len(address) != 20:
        raise ValueError(f"an address is 20 bytes, got {len(address)}")
    lower = address.hex()
    hashed = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if h in "89abcdef" else c for c, h in zip(lower, hashed[:40], strict=True)
    )


def parse_address(value: object, what: str = "address") -> bytes:
    """The 20 bytes of a ``0x``-prefixed hex address.

    All-lowercase and all-uppercase spellings are accepted as they are; a mixed-case spelling must
    carry a valid EIP-55 checksum, which catches a mistyped address. ``ValueError`` naming
    ``what`` otherwise.
    """
    if not isinstance(value, str) or not _HEX_ADDRESS.fullmatch(value):
        raise ValueError(f"{what} must be a 0x-prefixed 20-byte hex address, got {value!r}")
    raw = bytes.fromhex(value[2:])
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and checksum_address(raw) != "0x" + digits:
        raise ValueError(f"{what} {value} has an invalid EIP-55 checksum (mistyped?)")
    return raw


def _parse_private_key(private_key: object) -> bytes:
    """32 key bytes from 64 hex digits (``0x`` optional). Messages never contain the key."""
    text = private_key if isinstance(private_key, str) else ""
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    if len(text) != 64 or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise ValueError("private key must be 32 bytes written as 64 hex digits (0x prefix optional)")
    raw = bytes.fromhex(text)
    if not 0 < int.from_bytes(raw, "big") < _SECP256K1_ORDER:
        raise ValueError("private key is not a valid secp256k1 secret (zero or not below the curve order)")
    return raw


# --- Exchanges and EIP-712 constants ---------------------------------------------------------------

_EXCHANGE_V2: Final = "0xE111180000d2663C0091e4f400237545B87B996B"
_NEG_RISK_EXCHANGE_V2: Final = "0xe2222d279d744050d28e00520010520000310F59"
# py_clob_client_v2/config.py: Amoy (80002) carries the Polygon addresses of both V2 exchanges.
_EXCHANGES: Final[Mapping[int, tuple[str, str]]] = {
    137: (_EXCHANGE_V2, _NEG_RISK_EXCHANGE_V2),
    80002: (_EXCHANGE_V2, _NEG_RISK_EXCHANGE_V2),
}
CHAIN_IDS: Final = tuple(_EXCHANGES)
"""The chains the V2 exchanges are configured for: Polygon (137) and Amoy (80002)."""


def exchange_address(chain_id: int, neg_risk: bool) -> str:
    """The verifying contract of an order: the neg-risk exchange for a ``negRisk`` market, the
    standard exchange otherwise (§4.4). ``ValueError`` for an unsupported chain."""
    standard, negative_risk = _exchanges(chain_id)
    return negative_risk if neg_risk else standard


def _exchanges(chain_id: object) -> tuple[str, str]:
    exchanges = _EXCHANGES.get(chain_id) if type(chain_id) is int else None
    if exchanges is None:
        raise ValueError(
            f"unsupported chain id {chain_id!r}: the V2 exchanges are configured for 137 and 80002"
        )
    return exchanges


ORDER_TYPE_STRING: Final = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,"
    "uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,"
    "bytes32 builder)"
)
_ORDER_TYPEHASH: Final = keccak256(ORDER_TYPE_STRING.encode())
_DOMAIN_TYPEHASH: Final = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_EXCHANGE_NAME_HASH: Final = keccak256(b"Polymarket CTF Exchange")
_EXCHANGE_VERSION_HASH: Final = keccak256(b"2")
# ERC-7739 (Solady) envelope of a deposit-wallet signature (§4.3).
_TYPED_DATA_SIGN_TYPEHASH: Final = keccak256(
    b"TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    b"address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING.encode()
)
_DEPOSIT_WALLET_NAME_HASH: Final = keccak256(b"DepositWallet")
_DEPOSIT_WALLET_VERSION_HASH: Final = keccak256(b"1")
# The last two parts of the wrapped signature never change: the type string and its length.
_WRAPPED_SIGNATURE_TAIL_HEX: Final = (
    ORDER_TYPE_STRING.encode().hex() + len(ORDER_TYPE_STRING).to_bytes(2, "big").hex()
)

_ZERO_WORD: Final = bytes(32)
_V_HEX: Final = tuple(format(recid + 27, "02x") for recid in range(4))


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _domain_separator(chain_id: int, contract: str) -> bytes:
    return keccak256(
        _DOMAIN_TYPEHASH
        + _EXCHANGE_NAME_HASH
        + _EXCHANGE_VERSION_HASH
        + _word(chain_id)
        + bytes(12)
        + bytes.fromhex(contract[2:])
    )


_SIDES: Final[Mapping[str, tuple[Side, bytes]]] = {
    Side.BUY: (Side.BUY, _word(0)),
    Side.SELL: (Side.SELL, _word(1)),
}


def _range_error(what: str, value: object, low: int, high: int) -> ValueError:
    """The error for an integer field outside ``[low, high]`` (or not an int: bools refused)."""
    bound = "2^256 - 1" if high == _UINT256_LIMIT - 1 else str(high)
    return ValueError(f"{what} must be an int in [{low}, {bound}], got {value!r}")


def _parse_bytes32(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"0x[0-9a-fA-F]{64}", value):
        raise ValueError(f"{what} must be a 0x-prefixed 32-byte hex string, got {value!r}")
    return bytes.fromhex(value[2:])


# --- The signed order ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """One signed CLOB V2 order, ready to post.

    Amounts are integers of 6-decimal units: a BUY gives ``maker_amount`` dollars for
    ``taker_amount`` shares, a SELL the reverse. ``expiration_s`` (Unix seconds, 0 = none) is
    sent in the body but not signed. ``order_id`` is the EIP-712 digest of the order: the
    ``orderID`` the venue answers with and reports in every later event.
    """

    salt: int
    maker: str
    signer: str
    token_id: str
    maker_amount: int
    taker_amount: int
    side: Side
    signature_type: SignatureType
    timestamp_ms: int
    expiration_s: int
    signature: str
    order_id: str
    metadata: str = ZERO_BYTES32
    builder: str = ZERO_BYTES32

    def wire_order(self) -> dict[str, object]:
        """The ``order`` object of the ``POST /order`` body, with the keys, key order and value
        types of the SDK's ``order_to_json_v2``: ``salt`` and ``signatureType`` are numbers;
        amounts, ``expiration`` and ``timestamp`` are strings; ``side`` is ``"BUY"``/``"SELL"``."""
        return {
            "salt": self.salt,
            "maker": self.maker,
            "signer": self.signer,
            "tokenId": self.token_id,
            "makerAmount": str(self.maker_amount),
            "takerAmount": str(self.taker_amount),
            "side": self.side.value,
            "expiration": str(self.expiration_s),
            "signatureType": int(self.signature_type),
            "timestamp": str(self.timestamp_ms),
            "metadata": self.metadata,
            "builder": self.builder,
            "signature": self.signature,
        }


def order_body(
    order: SignedOrder, owner: str, order_type: OrderType, post_only: bool = False
) -> dict[str, object]:
    """The JSON body of ``POST /order`` (one element of a ``POST /orders`` batch), keys in the
    SDK's order: ``{"order", "owner", "orderType", "deferExec": false, "postOnly"}``.

    ``owner`` is the API key that signs the request. ``ValueError`` for what the venue would
    refuse anyway: an empty owner, post-only on a FOK/FAK order, a GTD order without an
    expiration.
    """
    kind = OrderType(order_type)
    if not isinstance(owner, str) or not owner:
        raise ValueError("owner must be the API key (a non-empty string)")
    if post_only and kind.is_marketable_only:
        raise ValueError(f"post-only is valid only with GTC and GTD orders, not {kind.value}")
    if kind is OrderType.GTD and order.expiration_s <= 0:
        raise ValueError("a GTD order needs an expiration (expiration_s > 0)")
    return {
        "order": order.wire_order(),
        "owner": owner,
        "orderType": kind.value,
        "deferExec": False,
        "postOnly": bool(post_only),
    }


def encode_body(body: object) -> bytes:
    """Compact JSON bytes of a request body: the bytes to send *and* to sign (L2 HMAC).

    For what venue bodies contain (dicts with string keys, lists, strings, ints within 64 bits,
    booleans, null) the bytes equal the SDK's
    ``json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()``, about 10× faster.
    Floats are never part of a venue body (money is a string); orjson would spell some of them
    differently from ``json`` (and NaN as ``null``). Unserialisable input raises
    ``orjson.JSONEncodeError`` (a ``TypeError``).
    """
    return orjson.dumps(body)


# --- The signer ------------------------------------------------------------------------------------


class OrderSigner:
    """Signs CLOB V2 orders (and raw digests) with one private key.

    ``signature_type`` picks the wallet (module docstring); ``funder`` is the proxy, Safe or
    deposit wallet that holds the funds, required for types 1–3 (and, if given for an EOA, it
    must be the key's own address). ``builder_code`` is an optional bytes32 builder attribution
    code signed into every order. ``chain_id`` is 137 (Polygon) or 80002 (Amoy).

    Attributes: ``address`` (the key's EOA, checksummed: the API key's owner and the L1/L2
    ``POLY_ADDRESS``), ``maker`` (who funds the order), ``order_signer`` (the order's ``signer``
    field: the EOA, or the deposit wallet for type 3), ``signature_type``, ``chain_id``.

    Bad input is a ``ValueError`` naming it; no message or ``repr`` ever shows the key.
    """

    __slots__ = (
        "_domain_prefixes",
        "_domain_separators",
        "_key",
        "_parties_words",
        "_signature_type_word",
        "_tail_words",
        "_token_words",
        "_wallet_tail",
        "address",
        "builder",
        "chain_id",
        "maker",
        "order_signer",
        "signature_type",
    )

    _TOKEN_CACHE_LIMIT: Final = 4096

    def __init__(
        self,
        private_key: str,
        *,
        chain_id: int = 137,
        signature_type: SignatureType = SignatureType.EOA,
        funder: str | None = None,
        builder_code: str = ZERO_BYTES32,
    ) -> None:
        raw_key = _parse_private_key(private_key)
        try:
            kind = SignatureType(signature_type)
        except ValueError:
            raise ValueError(f"unknown signature type {signature_type!r}: expected 0, 1, 2 or 3") from None
        exchanges = _exchanges(chain_id)
        builder_word = _parse_bytes32(builder_code, "builder_code")

        self._key = coincurve.PrivateKey(raw_key)  # once: building one costs ~47 µs
        public = self._key.public_key.format(compressed=False)[1:]
        eoa = keccak256(public)[-20:]
        self.address: str = checksum_address(eoa)

        if kind is SignatureType.EOA:
            if funder is not None and parse_address(funder, "funder") != eoa:
                raise ValueError(
                    f"funder {funder} is not the key's address {self.address}: an EOA order is funded"
                    " by the signing key itself (use signature type 1, 2 or 3 for a wallet)"
                )
            maker = eoa
        else:
            if funder is None:
                raise ValueError(
                    f"signature type {kind.name} needs a funder: the proxy, Safe or deposit wallet address"
                )
            maker = parse_address(funder, "funder")
            if maker == eoa:
                raise ValueError(
                    f"funder {funder} is the signing key's own address: a {kind.name} order is funded"
                    " by a wallet (use signature type 0 for the key itself)"
                )
        order_signer = maker if kind is SignatureType.POLY_1271 else eoa

        self.signature_type: SignatureType = kind
        self.chain_id: int = chain_id
        self.maker: str = checksum_address(maker)
        self.order_signer: str = checksum_address(order_signer)
        self.builder: str = "0x" + builder_word.hex()
        self._parties_words = bytes(12) + maker + bytes(12) + order_signer
        self._signature_type_word = _word(int(kind))
        self._tail_words = _ZERO_WORD + builder_word  # metadata (reserved, zero) + builder
        self._domain_separators = tuple(_domain_separator(chain_id, contract) for contract in exchanges)
        self._domain_prefixes = tuple(b"\x19\x01" + separator for separator in self._domain_separators)
        # TypedDataSign(contents, name, version, chainId, verifyingContract = wallet, salt = 0):
        # everything after the contents hash is fixed for this signer.
        self._wallet_tail = (
            _DEPOSIT_WALLET_NAME_HASH + _DEPOSIT_WALLET_VERSION_HASH + _word(chain_id) + bytes(12) + maker
        ) + _ZERO_WORD
        self._token_words: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return (
            f"OrderSigner(address={self.address}, maker={self.maker}, "
            f"signature_type={self.signature_type.name}, chain_id={self.chain_id})"
        )

    def sign(
        self,
        *,
        token_id: str,
        side: Side,
        maker_amount: int,
        taker_amount: int,
        neg_risk: bool = False,
        expiration_s: int = 0,
        timestamp_ms: int,
        salt: int | None = None,
    ) -> SignedOrder:
        """Sign one order for the standard exchange, or the neg-risk exchange if ``neg_risk``.

        ``token_id`` is the decimal uint256 of the outcome token; amounts are positive ints of
        6-decimal units (BUY: dollars for shares, SELL: shares for dollars); ``timestamp_ms``
        is the creation time in ms (signed: it makes the order unique); ``expiration_s`` is the
        GTD expiry in Unix seconds, 0 for none (sent, not signed). ``salt`` None draws a random
        one in ``[0, 2^53 − 1]`` from the OS; a given salt must lie in that range.
        """
        token_word = self._token_words.get(token_id) if type(token_id) is str else None
        if token_word is None:
            token_word = self._remember_token(token_id)
        side_entry = _SIDES.get(side) if isinstance(side, str) else None
        if side_entry is None:
            raise ValueError(f"side must be Side.BUY or Side.SELL, got {side!r}")
        if type(maker_amount) is not int or not 0 < maker_amount < _UINT256_LIMIT:
            raise _range_error("maker_amount", maker_amount, 1, _UINT256_LIMIT - 1)
        if type(taker_amount) is not int or not 0 < taker_amount < _UINT256_LIMIT:
            raise _range_error("taker_amount", taker_amount, 1, _UINT256_LIMIT - 1)
        if type(timestamp_ms) is not int or not 0 <= timestamp_ms < _UINT256_LIMIT:
            raise _range_error("timestamp_ms", timestamp_ms, 0, _UINT256_LIMIT - 1)
        if type(expiration_s) is not int or not 0 <= expiration_s < _UINT256_LIMIT:
            raise _range_error("expiration_s", expiration_s, 0, _UINT256_LIMIT - 1)
        if salt is None:
            salt = secrets.randbits(53)
        elif type(salt) is not int or not 0 <= salt <= MAX_SALT:
            raise _range_error("salt", salt, 0, MAX_SALT)

        contents = keccak256(
            b"".join(
                (
                    _ORDER_TYPEHASH,
                    salt.to_bytes(32, "big"),
                    self._parties_words,
                    token_word,
                    maker_amount.to_bytes(32, "big"),
                    taker_amount.to_bytes(32, "big"),
                    side_entry[1],
                    self._signature_type_word,
                    timestamp_ms.to_bytes(32, "big"),
                    self._tail_words,
                )
            )
        )
        exchange = 1 if neg_risk else 0
        digest = keccak256(self._domain_prefixes[exchange] + contents)
        if self.signature_type is SignatureType.POLY_1271:
            signature = self._wrapped_signature(exchange, contents)
        else:
            signature = self._signature_hex(digest)
        return SignedOrder(
            salt=salt,
            maker=self.maker,
            signer=self.order_signer,
            token_id=token_id,
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            side=side_entry[0],
            signature_type=self.signature_type,
            timestamp_ms=timestamp_ms,
            expiration_s=expiration_s,
            signature=signature,
            order_id="0x" + digest.hex(),
            metadata=ZERO_BYTES32,
            builder=self.builder,
        )

    def sign_digest(self, digest: bytes) -> bytes:
        """The 65-byte ``r ‖ s ‖ v`` (v = 27 or 28) signature of a 32-byte digest, signed as is
        (no further hashing): what ``eth_account``'s ``_sign_hash`` returns. Used for L1 auth."""
        if not isinstance(digest, bytes) or len(digest) != 32:
            raise ValueError("a digest to sign must be exactly 32 bytes")
        signature = self._key.sign_recoverable(digest, hasher=None)
        return signature[:64] + bytes((signature[64] + 27,))

    def _signature_hex(self, digest: bytes) -> str:
        signature = self._key.sign_recoverable(digest, hasher=None)
        return "0x" + signature[:64].hex() + _V_HEX[signature[64]]

    def _wrapped_signature(self, exchange: int, contents: bytes) -> str:
        """The ERC-7739 deposit-wallet signature (§4.3) of an order whose struct hash is
        ``contents``: the key signs ``TypedDataSign{contents, DepositWallet v1, chain, wallet,
        salt 0}`` in the exchange's domain, and the envelope lets the wallet re-derive it."""
        envelope = keccak256(_TYPED_DATA_SIGN_TYPEHASH + contents + self._wallet_tail)
        inner = self._signature_hex(keccak256(self._domain_prefixes[exchange] + envelope))
        return inner + (self._domain_separators[exchange] + contents).hex() + _WRAPPED_SIGNATURE_TAIL_HEX

    def _remember_token(self, token_id: object) -> bytes:
        """The 32-byte word of a token id, validated once and then cached (a daemon trades a
        handful of tokens at a time; the cache is simply emptied if it ever grows large)."""
        if (
            type(token_id) is not str
            or not token_id.isascii()
            or not token_id.isdigit()
            or (len(token_id) > 1 and token_id[0] == "0")
            or len(token_id) > 78
            or int(token_id) >= _UINT256_LIMIT
        ):
            raise ValueError(
                f"token_id must be a decimal uint256 string (no sign, no leading 0), got {token_id!r}"
            )
        word = int(token_id).to_bytes(32, "big")
        if len(self._token_words) >= self._TOKEN_CACHE_LIMIT:
            self._token_words.clear()
        self._token_words[token_id] = word
        return word
