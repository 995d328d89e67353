"""Reading and authenticating a signed V2 order (docs §4).

:func:`parse_send_order` reads one ``SendOrder`` JSON object (``{"order": {...}, "owner",
"orderType", "postOnly", "deferExec"}``). :func:`authenticate_order` recovers who signed it
and applies the venue's wallet rules, producing an :class:`~polyexec.sim.records.OrderRequest`.

The order id is the EIP-712 digest of the 11-field ``Order`` struct in the domain
``{name: "Polymarket CTF Exchange", version: "2", chainId, verifyingContract}``, where the
verifying contract is the standard or the neg-risk exchange depending on the market.
``expiration`` is not signed.

Signature types:

* **0 EOA**: a plain 65-byte signature by ``signer``; ``maker`` must equal ``signer``.
  (The real venue allows this only for allowlisted EOAs; ``allow_eoa=False`` reproduces the
  refusal ``maker address not allowed, please use the deposit wallet flow``.)
* **1 POLY_PROXY / 2 POLY_GNOSIS_SAFE**: a plain signature by ``signer`` (the API key's EOA);
  ``maker`` is the proxy or Safe. The simulator cannot look the wallet up on a chain: the first
  order binds the wallet to its signer (see :mod:`polyexec.sim.accounts`), and a wallet bound
  to another EOA is refused.
* **3 POLY_1271 (deposit wallet)**: ``maker == signer ==`` the deposit wallet; the signature
  is the ERC-7739 wrap ``innerSig(65) ‖ appDomainSeparator(32) ‖ contentsHash(32) ‖
  typeString ‖ uint16(len(typeString))``. The inner signature, by the API key's EOA, signs the
  ``TypedDataSign`` digest naming the wallet as ``DepositWallet`` version 1. Every part is
  checked against the order and the exchange domain.

In every case the EOA that signed must own the API key that sent the request.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_keys.datatypes import Signature
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from polyexec.sim.accounts import Ledger
from polyexec.sim.auth import ApiKey
from polyexec.sim.contracts import SimMarket
from polyexec.sim.errors import VenueError
from polyexec.sim.records import BUY, SELL, OrderRequest

__all__ = [
    "EXCHANGE_ADDRESS",
    "NEG_RISK_EXCHANGE_ADDRESS",
    "SendOrder",
    "SignedOrder",
    "authenticate_order",
    "order_digest",
    "parse_send_order",
    "recover_order_signer",
]

EXCHANGE_ADDRESS = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_ADDRESS = "0xe2222d279d744050d28e00520010520000310F59"

ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
_ORDER_TYPEHASH = keccak(text=ORDER_TYPE_STRING)
_DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_TYPED_DATA_SIGN_TYPEHASH = keccak(
    text="TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING
)
_WRAPPED_LENGTH = 65 + 32 + 32 + len(ORDER_TYPE_STRING) + 2
_V1_FIELDS = frozenset({"taker", "nonce", "feeRateBps"})
_INVALID_PAYLOAD = "Invalid order payload"


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """The signed ``order`` object of a ``SendOrder`` body, typed."""

    salt: int
    maker: str
    signer: str
    token_id: int
    maker_amount: int
    taker_amount: int
    side: str
    signature_type: int
    timestamp: int
    metadata: bytes
    builder: bytes
    expiration: int
    signature: str


@dataclass(frozen=True, slots=True)
class SendOrder:
    """One ``POST /order`` body (or one element of a ``POST /orders`` array)."""

    order: SignedOrder
    owner: str
    order_type: str
    post_only: bool
    defer_exec: bool


def _bytes32(value: Any) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise ValueError("bytes32 must be 0x + 64 hex")
    return bytes.fromhex(value[2:])


def _uint(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("booleans are not integers")
    number = int(value) if isinstance(value, int | str) else None
    if number is None or number < 0 or number >= 2**256:
        raise ValueError(f"not a uint256: {value!r}")
    return number


def parse_send_order(body: Any) -> SendOrder:
    """Read one ``SendOrder``; a malformed one is a 400 (a V1 order: ``order_version_mismatch``)."""
    if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
        raise VenueError(_INVALID_PAYLOAD)
    raw = body["order"]
    if _V1_FIELDS & raw.keys() or "timestamp" not in raw:
        raise VenueError(
            "order_version_mismatch: invalid order version, please use the latest clob-client",
            code="order_version_mismatch",
        )
    try:
        side = raw["side"]
        if side not in (BUY, SELL):
            raise ValueError(f"side must be BUY or SELL (got {side!r})")
        signature_type = _uint(raw.get("signatureType", 0))
        if signature_type > 3:
            raise ValueError(f"unknown signature type {signature_type}")
        order = SignedOrder(
            salt=_uint(raw["salt"]),
            maker=to_checksum_address(raw["maker"]),
            signer=to_checksum_address(raw["signer"]),
            token_id=_uint(raw["tokenId"]),
            maker_amount=_uint(raw["makerAmount"]),
            taker_amount=_uint(raw["takerAmount"]),
            side=side,
            signature_type=signature_type,
            timestamp=_uint(raw["timestamp"]),
            metadata=_bytes32(raw.get("metadata", "0x" + "00" * 32)),
            builder=_bytes32(raw.get("builder", "0x" + "00" * 32)),
            expiration=_uint(raw.get("expiration", "0") or "0"),
            signature=str(raw["signature"]),
        )
        owner = body.get("owner")
        order_type = body.get("orderType", "GTC")
        if not isinstance(owner, str) or not isinstance(order_type, str):
            raise ValueError("owner and orderType must be strings")
    except (KeyError, TypeError, ValueError) as exc:
        raise VenueError(f"{_INVALID_PAYLOAD}: {exc}") from exc
    return SendOrder(
        order=order,
        owner=owner,
        order_type=order_type,
        post_only=bool(body.get("postOnly", False)),
        defer_exec=bool(body.get("deferExec", False)),
    )


@functools.lru_cache(maxsize=8)
def _domain_separator(exchange: str, chain_id: int) -> bytes:
    # Two exchanges and one chain in practice: hash each domain once, not on every order.
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [_DOMAIN_TYPEHASH, keccak(text="Polymarket CTF Exchange"), keccak(text="2"), chain_id, exchange],
        )
    )


def _struct_hash(order: SignedOrder) -> bytes:
    return keccak(
        abi_encode(
            [
                "bytes32",
                "uint256",
                "address",
                "address",
                "uint256",
                "uint256",
                "uint256",
                "uint8",
                "uint8",
                "uint256",
                "bytes32",
                "bytes32",
            ],
            [
                _ORDER_TYPEHASH,
                order.salt,
                order.maker,
                order.signer,
                order.token_id,
                order.maker_amount,
                order.taker_amount,
                0 if order.side == BUY else 1,
                order.signature_type,
                order.timestamp,
                order.metadata,
                order.builder,
            ],
        )
    )


def order_digest(order: SignedOrder, exchange: str, chain_id: int) -> bytes:
    """The EIP-712 digest of the order: ``"0x" + digest.hex()`` is its order id."""
    return keccak(b"\x19\x01" + _domain_separator(exchange, chain_id) + _struct_hash(order))


def _recover(digest: bytes, signature: bytes) -> str:
    if len(signature) != 65:
        raise ValueError("an ECDSA signature is 65 bytes")
    v = signature[64]
    v = v - 27 if v >= 27 else v
    sig = Signature(vrs=(v, int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")))
    address: str = sig.recover_public_key_from_msg_hash(digest).to_checksum_address()
    return address


def _signature_bytes(signature: str) -> bytes:
    text = signature[2:] if signature.startswith("0x") else signature
    return bytes.fromhex(text)


def recover_order_signer(order: SignedOrder, exchange: str, chain_id: int) -> str:
    """The EOA whose signature the order carries (for type 3, the deposit wallet's owner).
    Raises ``ValueError`` when the signature cannot be read or does not fit the order."""
    raw = _signature_bytes(order.signature)
    digest = order_digest(order, exchange, chain_id)
    if order.signature_type != 3:
        return _recover(digest, raw)
    if len(raw) != _WRAPPED_LENGTH:
        raise ValueError("a deposit-wallet signature is an ERC-7739 wrapped signature")
    inner, app_domain, contents = raw[:65], raw[65:97], raw[97:129]
    type_string = raw[129:-2].decode("utf-8", errors="replace")
    if (
        app_domain != _domain_separator(exchange, chain_id)
        or contents != _struct_hash(order)
        or type_string != ORDER_TYPE_STRING
        or int.from_bytes(raw[-2:], "big") != len(ORDER_TYPE_STRING)
    ):
        raise ValueError("the wrapped signature does not describe this order")
    sign_struct = keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint256", "address", "bytes32"],
            [
                _TYPED_DATA_SIGN_TYPEHASH,
                contents,
                keccak(text="DepositWallet"),
                keccak(text="1"),
                chain_id,
                order.signer,
                b"\x00" * 32,
            ],
        )
    )
    return _recover(keccak(b"\x19\x01" + app_domain + sign_struct), inner)


def authenticate_order(
    send: SendOrder,
    api_key: ApiKey,
    *,
    market: SimMarket | None,
    ledger: Ledger,
    chain_id: int,
    allow_eoa: bool = True,
) -> OrderRequest:
    """Check owner, signature and wallet rules; see the module docstring. ``market`` is the
    market of the order's token (``None``: unknown token, a 404)."""
    order = send.order
    if market is None:
        raise VenueError(f"market not found for token id {order.token_id}", status=404)
    exchange = NEG_RISK_EXCHANGE_ADDRESS if market.neg_risk else EXCHANGE_ADDRESS
    oid = "0x" + order_digest(order, exchange, chain_id).hex()
    if send.owner != api_key.key:
        raise VenueError("the order owner has to be the owner of the API KEY", order_id=oid)
    try:
        signed_by = recover_order_signer(order, exchange, chain_id)
    except ValueError as exc:
        raise VenueError(f"order {oid} is invalid. Invalid signature", order_id=oid) from exc
    if order.signature_type == 3:
        if signed_by != api_key.address or order.maker != order.signer:
            raise VenueError(f"order {oid} is invalid. Invalid signature", order_id=oid)
    else:
        if signed_by != order.signer:
            raise VenueError(f"order {oid} is invalid. Invalid signature", order_id=oid)
        if order.signer != api_key.address:
            raise VenueError("the order signer address has to be the address of the API KEY", order_id=oid)
    if order.signature_type == 0:
        if not allow_eoa or order.maker != order.signer:
            raise VenueError("maker address not allowed, please use the deposit wallet flow", order_id=oid)
    else:
        if order.maker == api_key.address:
            raise VenueError(
                f"order {oid} is invalid. The maker of a signature type {order.signature_type} order "
                "must be a wallet, not the signer",
                order_id=oid,
            )
        try:
            ledger.register_wallet(api_key.address, order.maker, order.signature_type)
        except ValueError as exc:
            raise VenueError(
                "maker address not allowed, please use the deposit wallet flow", order_id=oid
            ) from exc
    return OrderRequest(
        id=oid,
        owner=api_key.key,
        signer=api_key.address,
        maker=order.maker,
        signature_type=order.signature_type,
        asset_id=str(order.token_id),
        side=order.side,
        maker_amount=order.maker_amount,
        taker_amount=order.taker_amount,
        order_type=send.order_type,
        post_only=send.post_only,
        expiration=order.expiration,
    )
