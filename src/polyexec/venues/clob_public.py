"""The CLOB's public market-data reads: server time, books, prices, tick size, market parameters.

:class:`ClobPublicClient` needs no credentials; :class:`~polyexec.venues.clob_client.ClobClient`
extends it with keys and trading. Every read is a GET (or the ``POST /books`` lookup), so the
transport may resend it on a timeout or 5xx.

Absent values: ``get_midpoint``, ``get_spread`` and ``get_price`` return ``None`` when the book
has no such price (an empty side: the venue answers 404 ``No midpoint found ...`` or an empty
value). A token without a book at all (unknown, or its market resolved) is a
:class:`~polyexec.venues.errors.DefinitiveReject` (404 ``No orderbook exists for the requested
token id``) from every per-token read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

from polyexec.core.events import BookSnapshot
from polyexec.core.models import Side
from polyexec.venues.clob_responses import (
    ClobMarketInfo,
    decode_book,
    decode_books,
    decode_clob_market_info,
    decode_midpoint,
    decode_neg_risk,
    decode_price,
    decode_server_time,
    decode_spread,
    decode_tick_size,
    decode_version,
)
from polyexec.venues.errors import DefinitiveReject
from polyexec.venues.http_transport import ClobTransport

__all__ = ["BOOKS_PER_REQUEST", "ClobPublicClient", "check_hex_id", "check_token_id"]

BOOKS_PER_REQUEST: Final = 100
"""``POST /books`` answers 400 ``Payload exceeds the limit`` past an undocumented size; larger
lists are split into requests of this many tokens."""

_TOKEN_ID = re.compile(r"[0-9]{1,78}")  # a decimal uint256
_HEX_ID = re.compile(r"0x[0-9a-fA-F]{1,64}")  # condition ids and order ids: 0x-hex, ≤ 32 bytes


def check_token_id(token_id: str) -> str:
    """``token_id`` if it is a decimal uint256 string; ``ValueError`` naming it otherwise."""
    if not isinstance(token_id, str) or not _TOKEN_ID.fullmatch(token_id):
        raise ValueError(f"token id must be a decimal integer string, got {token_id!r}")
    return token_id


def check_hex_id(value: str, what: str) -> str:
    """``value`` if it is 0x-prefixed hex of at most 32 bytes (a condition or order id); it goes
    into a URL path, so anything else is a ``ValueError`` naming ``what``."""
    if not isinstance(value, str) or not _HEX_ID.fullmatch(value):
        raise ValueError(f"{what} must be a 0x-prefixed hex string, got {value!r}")
    return value


def _no_price(exc: DefinitiveReject) -> bool:
    """A 404 that means "no such price on this book" rather than "no such book"."""
    return exc.status == 404 and "orderbook" not in exc.message.lower()


class ClobPublicClient:
    """Public CLOB reads over ``transport`` (no credentials needed)."""

    def __init__(self, transport: ClobTransport) -> None:
        self._transport = transport

    @property
    def transport(self) -> ClobTransport:
        return self._transport

    async def _get(self, path: str, operation: str, params: Mapping[str, str] | None = None) -> Any:
        return await self._transport.request("GET", path, params=params, retry_safe=True, operation=operation)

    async def _optional_price(self, path: str, params: Mapping[str, str], operation: str) -> Any:
        """The answer, or ``None`` when the venue says the book has no such price."""
        try:
            return await self._get(path, operation, params)
        except DefinitiveReject as exc:
            if _no_price(exc):
                return None
            raise

    async def get_ok(self) -> bool:
        """``GET /ok``: true when the venue answers 2xx (any error raises; the body is not read)."""
        await self._transport.request("GET", "/ok", retry_safe=True, operation="get_ok", expect_json=False)
        return True

    async def get_server_time(self) -> int:
        """``GET /time``: the venue's clock in Unix seconds (what ``ServerClock`` measures)."""
        return decode_server_time(await self._get("/time", "get_server_time"))

    async def get_version(self) -> int:
        """``GET /version``: the protocol version (2 since the CLOB V2 migration)."""
        return decode_version(await self._get("/version", "get_version"))

    async def get_book(self, token_id: str) -> BookSnapshot:
        """``GET /book``: the token's full book with its tick size."""
        params = {"token_id": check_token_id(token_id)}
        return decode_book(await self._get("/book", "get_book", params))

    async def get_books(self, token_ids: Sequence[str]) -> list[BookSnapshot]:
        """``POST /books``: the books of several tokens (tokens without a book are left out by
        the venue). Split into requests of :data:`BOOKS_PER_REQUEST`."""
        ids = [check_token_id(token_id) for token_id in token_ids]
        books: list[BookSnapshot] = []
        for start in range(0, len(ids), BOOKS_PER_REQUEST):
            chunk = ids[start : start + BOOKS_PER_REQUEST]
            data = await self._transport.request(
                "POST",
                "/books",
                body=[{"token_id": token_id} for token_id in chunk],
                retry_safe=True,  # a read, despite the verb
                operation="get_books",
            )
            books.extend(decode_books(data))
        return books

    async def get_midpoint(self, token_id: str) -> Decimal | None:
        """``GET /midpoint``: ``(best bid + best ask) / 2``; ``None`` if a side is empty."""
        params = {"token_id": check_token_id(token_id)}
        data = await self._optional_price("/midpoint", params, "get_midpoint")
        return None if data is None else decode_midpoint(data)

    async def get_spread(self, token_id: str) -> Decimal | None:
        """``GET /spread``: ``best ask − best bid``; ``None`` if a side is empty."""
        params = {"token_id": check_token_id(token_id)}
        data = await self._optional_price("/spread", params, "get_spread")
        return None if data is None else decode_spread(data)

    async def get_price(self, token_id: str, side: Side) -> Decimal | None:
        """``GET /price``: the venue answers the **best bid** for ``BUY`` and the **best ask**
        for ``SELL`` (observed; docs §2.3); ``None`` if that side is empty."""
        params = {"token_id": check_token_id(token_id), "side": Side(side).value}
        data = await self._optional_price("/price", params, "get_price")
        return None if data is None else decode_price(data)

    async def get_tick_size(self, token_id: str) -> Decimal:
        """``GET /tick-size``: the token's minimum tick (one of the venue's tick sizes)."""
        params = {"token_id": check_token_id(token_id)}
        return decode_tick_size(await self._get("/tick-size", "get_tick_size", params))

    async def get_neg_risk(self, token_id: str) -> bool:
        """``GET /neg-risk``: whether the token trades on the neg-risk exchange."""
        params = {"token_id": check_token_id(token_id)}
        return decode_neg_risk(await self._get("/neg-risk", "get_neg_risk", params))

    async def get_clob_market_info(self, condition_id: str) -> ClobMarketInfo:
        """``GET /clob-markets/{condition_id}``: tokens, tick, min size, neg risk, fee curve and
        the taker-delay flag of a market."""
        path = f"/clob-markets/{check_hex_id(condition_id, 'condition id')}"
        return decode_clob_market_info(await self._get(path, "get_clob_market_info"), condition_id)
