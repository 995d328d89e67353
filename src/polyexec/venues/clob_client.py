"""The async CLOB client: API keys (L1), orders, cancels, account data and heartbeats (L2).

:class:`ClobClient` is every CLOB operation the daemon uses, on top of
:class:`~polyexec.venues.http_transport.ClobTransport` (which signs, times out, rate-limits
and retries) and the public reads of :class:`~polyexec.venues.clob_public.ClobPublicClient`.
Answers are decoded by :mod:`polyexec.venues.clob_responses`; failures are the classes of
:mod:`polyexec.venues.errors`::

    transport = ClobTransport(settings.clob_host, server_clock=clock, limiter=RateLimiter())
    client = ClobClient(transport, signer=OrderSigner(key))
    client.use_credentials(await client.create_or_derive_api_key())
    result = await client.post_order(signed, OrderType.GTC, post_only=True)

What may be resent (``retry_safe``): reads, ``POST /order`` and ``POST /orders`` (the same
signed order sent twice is refused as ``Duplicated``, never placed twice), and cancels
(idempotent). Never resent: API-key creation and heartbeats (a heartbeat's id changes with
each accepted beat; the heartbeat loop sends the next one soon anyway).

**Refusals that may hide a placement.** Two answers to an order post do not prove the order
is absent: ``order … is invalid. Duplicated.`` (the venue has already accepted this signed order:
a resend after a lost answer, by the transport or by the caller), and any refusal of a resend
whose earlier send went unanswered (the refusal speaks for the resend only). The client then
reads the order back (``GET /data/order/{id}``): if the venue knows it, the post returns a
success with status :data:`~polyexec.venues.clob_responses.DUPLICATE_OF_PREVIOUS_ATTEMPT` and the
order's current state in ``venue_order``; if the venue does not know it, the refusal stands; if
the read fails, a ``Duplicated`` order still counts as placed (state unknown) and anything else
becomes an :class:`~polyexec.venues.errors.AmbiguousOutcome`.

Rate limits: order posts draw from the ``order`` bucket (a batch costs one per order), cancels
from the ``cancel`` bucket (cancel-all and cancel-market cost 1 up front plus one per order
cancelled, charged afterwards, as the venue does).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from polyexec.core.events import UserTradeEvent
from polyexec.core.models import OrderType
from polyexec.logging_setup import get_logger
from polyexec.venues.auth import ApiCredentials, L2Signer, l1_headers
from polyexec.venues.clob_public import ClobPublicClient, check_hex_id, check_token_id
from polyexec.venues.clob_responses import (
    DUPLICATE_OF_PREVIOUS_ATTEMPT,
    END_CURSOR,
    FIRST_CURSOR,
    BalanceAllowance,
    CancelResult,
    PostOrderResult,
    VenueOrder,
    decode_api_credentials,
    decode_balance_allowance,
    decode_cancel_result,
    decode_heartbeat_id,
    decode_page,
    decode_post_order_result,
    decode_post_order_results,
    decode_venue_order,
)
from polyexec.venues.errors import (
    AmbiguousOutcome,
    BadResponse,
    DefinitiveReject,
    VenueError,
    is_duplicate_message,
)
from polyexec.venues.http_transport import ClobTransport
from polyexec.venues.order_signer import OrderSigner, SignedOrder, order_body
from polyexec.venues.user_messages import parse_trade

__all__ = ["CANCEL_IDS_PER_REQUEST", "MAX_BATCH_ORDERS", "MAX_PAGES", "AssetType", "ClobClient"]

_log = get_logger(module=__name__)

MAX_BATCH_ORDERS: Final = 15
"""The venue's limit on ``POST /orders``."""
CANCEL_IDS_PER_REQUEST: Final = 100
"""``DELETE /orders`` takes up to 1000 ids, but each id costs a cancel token and the standard
tier's burst is 120: larger lists are split into requests of this many."""
MAX_PAGES: Final = 1000
"""A listing longer than this many pages (100 items each) is treated as a venue fault."""

AssetType = Literal["COLLATERAL", "CONDITIONAL"]


class ClobClient(ClobPublicClient):
    """Every CLOB operation (see the module docstring).

    ``signer`` is needed for API keys (L1) and to pick the wallet in balance queries;
    ``credentials`` for everything authenticated: with both, the client installs the L2 signer
    on ``transport`` (unless it has one). After creating or deriving a key, call
    :meth:`use_credentials`.
    """

    def __init__(
        self,
        transport: ClobTransport,
        *,
        signer: OrderSigner | None = None,
        credentials: ApiCredentials | None = None,
    ) -> None:
        super().__init__(transport)
        self._signer = signer
        self._credentials: ApiCredentials | None = None
        self.skipped_items: Counter[str] = Counter()
        """Listing items that could not be decoded, by operation: counted and skipped, so one
        unreadable trade (a new status, a malformed field) cannot block every resync."""
        if credentials is not None:
            self._install(credentials, replace=False)

    @property
    def signer(self) -> OrderSigner | None:
        return self._signer

    @property
    def credentials(self) -> ApiCredentials | None:
        return self._credentials

    def use_credentials(self, credentials: ApiCredentials) -> None:
        """Trade with ``credentials`` from now on (the orders' ``owner`` and the L2 signer)."""
        self._install(credentials, replace=True)

    def _install(self, credentials: ApiCredentials, *, replace: bool) -> None:
        self._credentials = credentials
        if self._signer is not None and (replace or self._transport.l2_signer is None):
            self._transport.set_l2_signer(L2Signer(credentials, self._signer.address))

    def _require_signer(self, operation: str) -> OrderSigner:
        if self._signer is None:
            raise ValueError(f"{operation} needs the order signer (the key's wallet)")
        return self._signer

    def _owner(self, operation: str) -> str:
        if self._credentials is None:
            raise ValueError(f"{operation} needs API credentials (create or derive a key first)")
        return self._credentials.api_key

    async def _l2(self, method: str, path: str, operation: str, **options: Any) -> Any:
        return await self._transport.request(method, path, auth="l2", operation=operation, **options)

    # -- API keys (L1) ------------------------------------------------------------------------

    async def create_api_key(self, nonce: int = 0) -> ApiCredentials:
        """``POST /auth/api-key``: a new key for the signer's EOA and ``nonce`` (400 if one
        exists: derive it instead). Never resent. Keep the nonce: it is needed to derive."""
        signer = self._require_signer("create_api_key")
        headers = l1_headers(signer, self._transport.now_s(), nonce)
        data = await self._transport.request(
            "POST", "/auth/api-key", auth="l1", l1_headers=headers, operation="create_api_key"
        )
        return decode_api_credentials(data, "create_api_key")

    async def derive_api_key(self, nonce: int = 0) -> ApiCredentials:
        """``GET /auth/derive-api-key``: the existing key of the signer's EOA and ``nonce``."""
        signer = self._require_signer("derive_api_key")
        headers = l1_headers(signer, self._transport.now_s(), nonce)
        data = await self._transport.request(
            "GET",
            "/auth/derive-api-key",
            auth="l1",
            l1_headers=headers,
            retry_safe=True,
            operation="derive_api_key",
        )
        return decode_api_credentials(data, "derive_api_key")

    async def create_or_derive_api_key(self, nonce: int = 0) -> ApiCredentials:
        """Create a key; if the venue refuses (it exists) or the answer is lost, derive it."""
        try:
            return await self.create_api_key(nonce)
        except (DefinitiveReject, AmbiguousOutcome) as exc:
            _log.info("api_key_create_failed_deriving", error=type(exc).__name__, status=exc.status)
            return await self.derive_api_key(nonce)

    # -- orders ---------------------------------------------------------------------------------

    async def post_order(
        self, order: SignedOrder, order_type: OrderType, *, post_only: bool = False
    ) -> PostOrderResult:
        """``POST /order``: place one signed order.

        Returns the venue's :class:`PostOrderResult` (``live``, ``matched``, ``delayed`` or
        ``unmatched``), or a success placed by an earlier send (module docstring).
        Raises :class:`DefinitiveReject` for a refusal, whether a 4xx or an HTTP 200 with
        ``success: false`` / ``errorMsg`` (the order is not placed); :class:`AmbiguousOutcome`
        when it may be placed; ``VenueUnavailable``, ``RateLimited``, ``AuthError``,
        ``Geoblocked`` otherwise. ``ValueError`` for post-only on FOK/FAK or a GTD without
        expiry (nothing is sent).
        """
        body = order_body(order, self._owner("post_order"), order_type, post_only)
        try:
            response = await self._transport.send(
                "POST",
                "/order",
                body=body,
                auth="l2",
                retry_safe=True,
                bucket="order",
                operation="post_order",
            )
        except AmbiguousOutcome:
            raise
        except VenueError as exc:
            if _may_be_placed(exc):
                return await self._placed_earlier(order.order_id, exc, "post_order")
            raise
        result = decode_post_order_result(response.data, "post_order")
        if not result.success:
            reject = DefinitiveReject(result.error or "success: false", operation="post_order", status=200)
            reject.attempts = response.attempts
            reject.after_ambiguous = response.after_ambiguous
            if _may_be_placed(reject):
                return await self._placed_earlier(order.order_id, reject, "post_order")
            raise reject
        self._check_order_id(order.order_id, result)
        return result

    async def post_orders(
        self, orders: Sequence[tuple[SignedOrder, OrderType, bool]]
    ) -> list[PostOrderResult]:
        """``POST /orders``: place up to 15 orders (``(order, order_type, post_only)``) at once.

        One result per order, in the order given; a refused order is a result with
        ``success`` false and ``error`` (not an exception); a ``Duplicated`` one is resolved as
        in :meth:`post_order`. Exceptions are for the batch as a whole (as in
        :meth:`post_order`); a whole-batch refusal of a resend whose first send went unanswered
        is an :class:`AmbiguousOutcome` (any of the orders may be placed: read them back), and
        so is a per-order refusal of such a resend when that order cannot be read back.
        ``ValueError`` for more than 15 orders or a bad combination.
        """
        if len(orders) > MAX_BATCH_ORDERS:
            raise ValueError(f"post_orders takes at most {MAX_BATCH_ORDERS} orders, got {len(orders)}")
        if not orders:
            return []
        owner = self._owner("post_orders")
        bodies = [order_body(order, owner, kind, post_only) for order, kind, post_only in orders]
        ids = [order.order_id for order, _, _ in orders]
        try:
            response = await self._transport.send(
                "POST",
                "/orders",
                body=bodies,
                auth="l2",
                retry_safe=True,
                bucket="order",
                cost=len(bodies),
                operation="post_orders",
            )
        except AmbiguousOutcome:
            raise
        except VenueError as exc:
            if exc.after_ambiguous:
                raise _still_ambiguous(exc, "an earlier send of the batch went unanswered") from exc
            raise
        results = decode_post_order_results(response.data, ids, "post_orders")
        doubtful = [
            i
            for i, result in enumerate(results)
            if not result.success and (response.after_ambiguous or is_duplicate_message(result.error))
        ]
        if doubtful:
            resolved = await asyncio.gather(*(self._resolve_refused(ids[i], results[i]) for i in doubtful))
            unknown: list[str] = []
            for index, result in zip(doubtful, resolved, strict=True):
                if result is None:
                    unknown.append(ids[index])
                else:
                    results[index] = result
            if unknown:
                error = AmbiguousOutcome(
                    f"orders refused on a resend could not be read back: {', '.join(unknown)}"
                    " (an earlier send of the batch went unanswered)",
                    operation="post_orders",
                    status=response.status,
                )
                error.attempts = response.attempts
                error.after_ambiguous = True
                raise error
        for order_id, result in zip(ids, results, strict=True):
            if result.success:
                self._check_order_id(order_id, result)
        return results

    async def _resolve_refused(self, order_id: str, refused: PostOrderResult) -> PostOrderResult | None:
        """A batch refusal that may hide a placement (a duplicate, or the resend of an unanswered
        batch): the placed result if the venue knows the order, the refusal if it does not,
        ``None`` if that cannot be told (the order could not be read back)."""
        reject = DefinitiveReject(refused.error, operation="post_orders", status=200)
        try:
            return await self._placed_earlier(order_id, reject, "post_orders")
        except DefinitiveReject:
            return refused
        except AmbiguousOutcome:
            return None

    async def _placed_earlier(self, order_id: str, refusal: VenueError, operation: str) -> PostOrderResult:
        """Read the order back after a refusal that may hide a placement (see :func:`_may_be_placed`).

        The venue knows the order: a success with status :data:`DUPLICATE_OF_PREVIOUS_ATTEMPT`
        and ``venue_order``. It does not: ``refusal`` is raised. The read fails: for a
        ``Duplicated`` refusal the order still counts as placed (the venue reserves an id only
        for an order it accepted; ``venue_order`` is ``None``), otherwise the outcome is an
        :class:`AmbiguousOutcome`.
        """
        duplicate = isinstance(refusal, DefinitiveReject) and refusal.duplicate
        try:
            venue_order = await self.get_order(order_id)
        except VenueError as exc:
            _log.warning(
                "placed_order_lookup_failed",
                operation=operation,
                order_id=order_id,
                error=type(exc).__name__,
                status=exc.status,
            )
            if not duplicate:
                raise _still_ambiguous(refusal, f"reading the order back failed ({exc})") from exc
            venue_order = None
        else:
            if venue_order is None:
                raise refusal
        _log.info("order_placed_by_earlier_attempt", operation=operation, order_id=order_id)
        return PostOrderResult(
            order_id=order_id,
            status=DUPLICATE_OF_PREVIOUS_ATTEMPT,
            success=True,
            error="",
            making_amount=None,
            taking_amount=None,
            trade_ids=venue_order.associate_trades if venue_order is not None else (),
            transaction_hashes=(),
            venue_order=venue_order,
        )

    @staticmethod
    def _check_order_id(expected: str, result: PostOrderResult) -> None:
        # Our id is the EIP-712 digest; a different one means the venue hashed another order
        # (a signer bug): events would not attach to ours. Loud, but the order is placed.
        if result.order_id.lower() != expected.lower():
            _log.error("venue_order_id_mismatch", expected=expected, venue=result.order_id)

    # -- cancels --------------------------------------------------------------------------------

    async def cancel_order(self, order_id: str) -> CancelResult:
        """``DELETE /order``: cancel one order (``not_canceled`` says why not, e.g. ``Order
        already matched``)."""
        body = {"orderID": check_hex_id(order_id, "order id")}
        data = await self._l2("DELETE", "/order", "cancel_order", body=body, retry_safe=True, bucket="cancel")
        return decode_cancel_result(data, "cancel_order")

    async def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult:
        """``DELETE /orders``: cancel several orders (duplicates dropped), in requests of
        :data:`CANCEL_IDS_PER_REQUEST`. If a request fails, the error is raised and earlier
        requests' cancels stand (cancels are idempotent: send the list again)."""
        ids = list(dict.fromkeys(check_hex_id(order_id, "order id") for order_id in order_ids))
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for start in range(0, len(ids), CANCEL_IDS_PER_REQUEST):
            chunk = ids[start : start + CANCEL_IDS_PER_REQUEST]
            data = await self._l2(
                "DELETE",
                "/orders",
                "cancel_orders",
                body=chunk,
                retry_safe=True,
                bucket="cancel",
                cost=len(chunk),
            )
            result = decode_cancel_result(data, "cancel_orders")
            canceled.extend(result.canceled)
            not_canceled.update(result.not_canceled)
        return CancelResult(canceled=tuple(canceled), not_canceled=not_canceled)

    async def cancel_all(self) -> CancelResult:
        """``DELETE /cancel-all``: cancel every open order of the API key."""
        data = await self._l2("DELETE", "/cancel-all", "cancel_all", retry_safe=True, bucket="cancel")
        return self._charged(decode_cancel_result(data, "cancel_all"))

    async def cancel_market_orders(self, condition_id: str = "", token_id: str = "") -> CancelResult:
        """``DELETE /cancel-market-orders``: cancel our orders in a market and/or on a token.
        At least one of the two is required (``ValueError``): an empty filter is not a
        cancel-all by accident."""
        body: dict[str, str] = {}
        if condition_id:
            body["market"] = check_hex_id(condition_id, "condition id")
        if token_id:
            body["asset_id"] = check_token_id(token_id)
        if not body:
            raise ValueError("cancel_market_orders needs a condition id or a token id")
        data = await self._l2(
            "DELETE",
            "/cancel-market-orders",
            "cancel_market_orders",
            body=body,
            retry_safe=True,
            bucket="cancel",
        )
        return self._charged(decode_cancel_result(data, "cancel_market_orders"))

    def _charged(self, result: CancelResult) -> CancelResult:
        limiter = self._transport.limiter
        if limiter is not None and result.canceled:
            limiter.charge("cancel", len(result.canceled))
        return result

    # -- account data ---------------------------------------------------------------------------

    async def get_order(self, order_id: str) -> VenueOrder | None:
        """``GET /data/order/{id}``: one of our orders, ``None`` if the venue does not know it."""
        path = f"/data/order/{check_hex_id(order_id, 'order id')}"
        try:
            data = await self._l2("GET", path, "get_order", retry_safe=True)
        except DefinitiveReject as exc:
            if exc.status == 404:
                return None
            raise
        if data is None:
            return None
        return decode_venue_order(data, "get_order")

    async def _pages(self, path: str, params: Mapping[str, str], operation: str) -> list[Any]:
        """Every item of a cursor-paginated listing (``MA==`` … ``LTE=``)."""
        items: list[Any] = []
        cursor = FIRST_CURSOR
        seen = {cursor}
        for _ in range(MAX_PAGES):
            page = decode_page(
                await self._l2(
                    "GET", path, operation, params={**params, "next_cursor": cursor}, retry_safe=True
                ),
                operation,
            )
            items.extend(page.data)
            if page.next_cursor == END_CURSOR:
                return items
            if page.next_cursor in seen:
                raise BadResponse(
                    f"next_cursor {page.next_cursor!r} repeats: a cursor loop", operation=operation
                )
            seen.add(page.next_cursor)
            cursor = page.next_cursor
        raise BadResponse(f"more than {MAX_PAGES} pages", operation=operation)

    @staticmethod
    def _filters(condition_id: str, token_id: str) -> dict[str, str]:
        params: dict[str, str] = {}
        if condition_id:
            params["market"] = check_hex_id(condition_id, "condition id")
        if token_id:
            params["asset_id"] = check_token_id(token_id)
        return params

    async def get_open_orders(self, *, condition_id: str = "", token_id: str = "") -> list[VenueOrder]:
        """``GET /data/orders``: our open orders (all pages), optionally of one market/token."""
        items = await self._pages("/data/orders", self._filters(condition_id, token_id), "get_open_orders")
        orders = []
        for index, item in enumerate(items):
            try:
                orders.append(decode_venue_order(item, "get_open_orders", f"orders[{index}]"))
            except BadResponse as exc:
                self._skip("get_open_orders", exc)
        return orders

    async def get_trades(
        self,
        *,
        condition_id: str = "",
        token_id: str = "",
        after_s: int | None = None,
        before_s: int | None = None,
    ) -> list[UserTradeEvent]:
        """``GET /data/trades``: our trades (all pages, newest first as the venue lists them),
        optionally of one market/token and matched after/before Unix seconds. Each trade is
        decoded like a user-channel trade event (REST's prefixed statuses included)."""
        params = self._filters(condition_id, token_id)
        if after_s is not None:
            params["after"] = str(int(after_s))
        if before_s is not None:
            params["before"] = str(int(before_s))
        trades = []
        for index, item in enumerate(await self._pages("/data/trades", params, "get_trades")):
            try:
                trades.append(parse_trade(item, rest=True))
            except ValueError as exc:  # UserMessageError names the field
                self._skip("get_trades", BadResponse(f"trades[{index}]: {exc}", operation="get_trades"))
        return trades

    def _skip(self, operation: str, error: BadResponse) -> None:
        self.skipped_items[operation] += 1
        _log.error("listing_item_skipped", operation=operation, error=str(error))

    def _balance_params(self, asset_type: AssetType, token_id: str, operation: str) -> dict[str, str]:
        if asset_type not in ("COLLATERAL", "CONDITIONAL"):
            raise ValueError(f"asset_type must be COLLATERAL or CONDITIONAL, got {asset_type!r}")
        params: dict[str, str] = {"asset_type": asset_type}
        if asset_type == "CONDITIONAL":
            if not token_id:
                raise ValueError(f"{operation} of CONDITIONAL needs a token id")
            params["token_id"] = check_token_id(token_id)
        if self._signer is not None:
            params["signature_type"] = str(int(self._signer.signature_type))
        return params

    async def get_balance_allowance(self, asset_type: AssetType, token_id: str = "") -> BalanceAllowance:
        """``GET /balance-allowance``: pUSD (``COLLATERAL``) or a token's shares
        (``CONDITIONAL``, needs ``token_id``) and the exchanges' allowances, for the signer's
        wallet type. The venue caches these: see :meth:`update_balance_allowance`."""
        params = self._balance_params(asset_type, token_id, "get_balance_allowance")
        data = await self._l2(
            "GET", "/balance-allowance", "get_balance_allowance", params=params, retry_safe=True
        )
        return decode_balance_allowance(data, "get_balance_allowance")

    async def update_balance_allowance(self, asset_type: AssetType, token_id: str = "") -> None:
        """``GET /balance-allowance/update``: make the venue re-read the on-chain balance and
        allowance (after funding, approvals or receiving shares)."""
        params = self._balance_params(asset_type, token_id, "update_balance_allowance")
        # Any 2xx will do: what the venue answers here is undocumented.
        await self._l2(
            "GET",
            "/balance-allowance/update",
            "update_balance_allowance",
            params=params,
            retry_safe=True,
            expect_json=False,
        )

    # -- heartbeats -----------------------------------------------------------------------------

    async def post_heartbeat(self, heartbeat_id: str = "") -> str:
        """``POST /v1/heartbeats``: keep the dead-man switch alive; returns the id to send next.

        Send ``""`` first, then the last id returned. If the venue refuses the id (400 with the
        ``heartbeat_id`` it expects), the expected id is adopted and the beat sent once more.
        """
        try:
            data = await self._l2(
                "POST", "/v1/heartbeats", "post_heartbeat", body={"heartbeat_id": heartbeat_id}
            )
        except DefinitiveReject as exc:
            expected = exc.details.get("heartbeat_id")
            if exc.status != 400 or not isinstance(expected, str) or expected == heartbeat_id:
                raise
            _log.info("heartbeat_id_adopted")
            data = await self._l2("POST", "/v1/heartbeats", "post_heartbeat", body={"heartbeat_id": expected})
        return decode_heartbeat_id(data, "post_heartbeat")


def _may_be_placed(refusal: VenueError) -> bool:
    """Whether an order post's refusal may hide a placement: the venue says ``Duplicated``
    (it has accepted this signed order before), or an earlier send of this very request went
    unanswered (the refusal of the resend says nothing about the first send)."""
    return refusal.after_ambiguous or (isinstance(refusal, DefinitiveReject) and refusal.duplicate)


def _still_ambiguous(refusal: VenueError, why: str) -> AmbiguousOutcome:
    error = AmbiguousOutcome(f"{refusal.message} ({why})", operation=refusal.operation, status=refusal.status)
    error.attempts = refusal.attempts
    error.after_ambiguous = refusal.after_ambiguous
    return error
