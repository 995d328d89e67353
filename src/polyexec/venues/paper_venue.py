"""The paper venue: real market data, simulated fills. No order ever leaves the process.

:class:`PaperVenue` offers the operations of the live
:class:`~polyexec.venues.clob_client.ClobClient` that the order manager uses, with the same
arguments, return types and exceptions, and reports order and trade events through a sink in
exactly the shapes the user channel produces, so the engine drives paper and live alike::

    paper = PaperVenue(book_of=market_feed.book, market_of=registry.market_of, sink=engine.on_event)
    result = await paper.post_order(signed, OrderType.GTC, post_only=True)
    paper.observe(event)                    # every market-channel event, after the feed's book
    paper.settle(condition_id, Outcome.UP)  # on the venue's resolution, never a coin flip

Orders are :class:`~polyexec.venues.order_signer.SignedOrder` objects (sign them with a
throwaway key): side, size and limit come from the signed amounts, the order id is the
signature digest. The fill rules, venue checks, events and settlement are those of
:class:`~polyexec.venues.paper_exchange.PaperExchange` (read its module docstring); this
façade adds what belongs to the wire:

* what ``ClobClient`` refuses before sending is refused here the same way (``ValueError``):
  post-only with FOK/FAK, a GTD order without expiration, more than 15 orders in a batch, a
  malformed order, condition or token id;
* a marketable order waits ``taker_delay_s`` (the venue's hold) before the exchange walks the
  **current** book; meanwhile it is not listed and cannot be cancelled, as on the venue, and a
  resend of it is refused as ``Duplicated``;
* a resend of an accepted order is answered as ``ClobClient`` answers the venue's
  ``Duplicated``: a success with status ``duplicate_of_previous_attempt`` and the order;
* a single post raises :class:`~polyexec.venues.errors.DefinitiveReject` for a refusal, a batch
  answers it as an entry with ``success`` false;
* balances come with unlimited allowances for both exchanges; heartbeats are always healthy.

Events reach ``sink`` synchronously, inside the call that caused them (a post, a cancel,
:meth:`PaperVenue.observe`): the sink should queue its reactions rather than call back in.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Final

from polyexec.core.events import FeedEvent, UserTradeEvent
from polyexec.core.models import Market, OrderType, Outcome
from polyexec.core.order_book import OrderBook
from polyexec.core.pricing import from_units
from polyexec.venues.clob_client import MAX_BATCH_ORDERS, AssetType
from polyexec.venues.clob_public import check_hex_id, check_token_id
from polyexec.venues.clob_responses import (
    DUPLICATE_OF_PREVIOUS_ATTEMPT,
    BalanceAllowance,
    CancelResult,
    PostOrderResult,
    VenueOrder,
)
from polyexec.venues.errors import DefinitiveReject
from polyexec.venues.order_signer import SignedOrder, exchange_address, order_body
from polyexec.venues.paper_exchange import Admitted, PaperExchange
from polyexec.venues.paper_fills import PaperConfig, PaperOrder, order_refusal, venue_order

__all__ = ["PaperConfig", "PaperVenue"]

_UNLIMITED: Final = from_units(2**256 - 1)
_EXCHANGES: Final = (exchange_address(137, False), exchange_address(137, True))


class PaperVenue:
    """``ClobClient``'s order, cancel and account operations on simulated fills.

    ``book_of`` gives a token's live book (the market feed's), ``market_of`` its market (tick,
    minimum size, fee schedule); ``sink`` receives the user-channel events. ``clock`` is Unix
    seconds and ``sleep`` the taker delay's wait (both injectable for tests); ``config`` holds
    the starting balance and the delays.
    """

    def __init__(
        self,
        *,
        book_of: Callable[[str], OrderBook | None],
        market_of: Callable[[str], Market | None],
        sink: Callable[[FeedEvent], None],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        config: PaperConfig | None = None,
    ) -> None:
        self.config = config or PaperConfig()
        self.exchange = PaperExchange(
            book_of=book_of, market_of=market_of, sink=sink, clock=clock, config=self.config
        )
        """The synchronous core: account, orders, fills (for status pages and tests)."""
        self._sleep = sleep
        self._in_flight: set[str] = set()  # admitted, waiting out the taker delay

    # -- the market and the account ------------------------------------------------------------

    def observe(self, event: FeedEvent) -> None:
        """Feed every market-channel event here, after the market feed applied it to its book:
        trades and book moves fill resting orders, event times expire GTD orders."""
        self.exchange.observe(event)

    def settle(self, condition_id: str, winning: Outcome) -> None:
        """The market resolved with ``winning``: pay $1 per winning share, cancel its orders."""
        self.exchange.settle(condition_id, winning)

    def process_due(self) -> None:
        """Run timed work now (GTD expiry, trade settlement); every call does it first too."""
        self.exchange.process_due()

    @property
    def balance(self) -> Decimal:
        """pUSD held (what resting BUYs reserve included; unsettled proceeds excluded)."""
        return self.exchange.balance

    def position(self, token_id: str) -> Decimal:
        """Settled shares of ``token_id`` held."""
        return self.exchange.position(token_id)

    # -- orders --------------------------------------------------------------------------------

    async def post_order(
        self, order: SignedOrder, order_type: OrderType, *, post_only: bool = False
    ) -> PostOrderResult:
        """Place one order, as :meth:`ClobClient.post_order
        <polyexec.venues.clob_client.ClobClient.post_order>`: a :class:`PostOrderResult`
        (``live`` or ``matched``), :class:`DefinitiveReject` for a refusal, ``ValueError`` for
        what the client refuses before sending."""
        kind = OrderType(order_type)
        order_body(order, self.config.owner, kind, post_only)  # the client's own checks and errors
        self.exchange.process_due()
        known = self.exchange.order(order.order_id)
        if known is not None:
            return _duplicate(known)
        if order.order_id in self._in_flight:
            raise order_refusal(
                f"order {order.order_id} is invalid. Duplicated.", code="INVALID_ORDER_DUPLICATED"
            )
        admitted = self.exchange.admit(order, kind, post_only)
        self._in_flight.add(order.order_id)
        try:
            await self._hold([admitted])
            return self.exchange.submit(admitted)
        finally:
            self._in_flight.discard(order.order_id)

    async def post_orders(
        self, orders: Sequence[tuple[SignedOrder, OrderType, bool]]
    ) -> list[PostOrderResult]:
        """Place up to 15 ``(order, order_type, post_only)`` at once, as
        :meth:`ClobClient.post_orders <polyexec.venues.clob_client.ClobClient.post_orders>`:
        one result per order, in order, a refusal being a result with ``success`` false and
        ``error``. One taker delay covers the batch if any order is marketable."""
        if len(orders) > MAX_BATCH_ORDERS:
            raise ValueError(f"post_orders takes at most {MAX_BATCH_ORDERS} orders, got {len(orders)}")
        if not orders:
            return []
        for order, kind, post_only in orders:
            order_body(order, self.config.owner, OrderType(kind), post_only)
        self.exchange.process_due()
        results: list[PostOrderResult] = []
        admitted: dict[int, Admitted] = {}
        claimed: set[str] = set()
        for index, (order, kind, post_only) in enumerate(orders):
            oid = order.order_id
            known = self.exchange.order(oid)
            if known is not None:
                results.append(_duplicate(known))
                continue
            # Each entry starts as the answer to a resend of an order still in flight; admitted
            # orders replace it with their own answer below.
            results.append(_refused(oid, f"order {oid} is invalid. Duplicated."))
            if oid in self._in_flight or oid in claimed:
                continue
            try:
                admitted[index] = self.exchange.admit(order, OrderType(kind), post_only)
                claimed.add(oid)
            except DefinitiveReject as exc:
                results[index] = _refused(oid, exc.message)
        self._in_flight |= claimed
        try:
            await self._hold(list(admitted.values()))
            for index, entry in admitted.items():
                try:
                    results[index] = self.exchange.submit(entry)
                except DefinitiveReject as exc:
                    results[index] = _refused(entry.order.order_id, exc.message)
        finally:
            self._in_flight -= claimed
        return results

    async def _hold(self, admitted: list[Admitted]) -> None:
        """The venue's taker delay, for a post (or batch) that would trade on arrival."""
        if any(entry.marketable for entry in admitted):
            await self._sleep(self.config.taker_delay_s)
            self.exchange.process_due()

    # -- cancels -------------------------------------------------------------------------------

    async def cancel_order(self, order_id: str) -> CancelResult:
        """Cancel one order (``not_canceled`` says why not, e.g. ``Order already matched``)."""
        return self.exchange.cancel([check_hex_id(order_id, "order id")])

    async def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult:
        """Cancel several orders (duplicates dropped)."""
        return self.exchange.cancel(list(dict.fromkeys(check_hex_id(oid, "order id") for oid in order_ids)))

    async def cancel_all(self) -> CancelResult:
        """Cancel every open order."""
        self.exchange.process_due()
        return self.exchange.cancel([order.order_id for order in self.exchange.open_orders()])

    async def cancel_market_orders(self, condition_id: str = "", token_id: str = "") -> CancelResult:
        """Cancel our open orders in a market and/or on a token; ``ValueError`` without either
        (an empty filter is not a cancel-all by accident)."""
        _check_filters(condition_id, token_id)
        if not condition_id and not token_id:
            raise ValueError("cancel_market_orders needs a condition id or a token id")
        self.exchange.process_due()
        orders = self.exchange.open_orders(condition_id, token_id)
        return self.exchange.cancel([order.order_id for order in orders])

    # -- account data --------------------------------------------------------------------------

    async def get_order(self, order_id: str) -> VenueOrder | None:
        """One of our orders, ``None`` if the venue does not know it."""
        check_hex_id(order_id, "order id")
        self.exchange.process_due()
        order = self.exchange.order(order_id)
        return venue_order(order) if order is not None else None

    async def get_open_orders(self, *, condition_id: str = "", token_id: str = "") -> list[VenueOrder]:
        """Our open orders, oldest first, optionally of one market/token."""
        _check_filters(condition_id, token_id)
        self.exchange.process_due()
        return [venue_order(order) for order in self.exchange.open_orders(condition_id, token_id)]

    async def get_trades(
        self,
        *,
        condition_id: str = "",
        token_id: str = "",
        after_s: int | None = None,
        before_s: int | None = None,
    ) -> list[UserTradeEvent]:
        """Our trades at their current status, newest first, optionally of one market/token and
        matched strictly after/before Unix seconds (the venue's filters)."""
        _check_filters(condition_id, token_id)
        self.exchange.process_due()
        return [
            trade
            for trade in self.exchange.trades()
            if (not condition_id or trade.condition_id == condition_id)
            and (not token_id or trade.asset_id == token_id)
            and (after_s is None or trade.match_time_ms // 1000 > after_s)
            and (before_s is None or trade.match_time_ms // 1000 < before_s)
        ]

    async def get_balance_allowance(self, asset_type: AssetType, token_id: str = "") -> BalanceAllowance:
        """pUSD held (``COLLATERAL``) or a token's settled shares (``CONDITIONAL``, needs
        ``token_id``), with unlimited allowances for both exchanges."""
        _check_asset(asset_type, token_id, "get_balance_allowance")
        self.exchange.process_due()
        balance = self.exchange.balance if asset_type == "COLLATERAL" else self.exchange.position(token_id)
        return BalanceAllowance(balance=balance, allowances=dict.fromkeys(_EXCHANGES, _UNLIMITED))

    async def update_balance_allowance(self, asset_type: AssetType, token_id: str = "") -> None:
        """Nothing to refresh: paper balances are always current. Validates like the client."""
        _check_asset(asset_type, token_id, "update_balance_allowance")

    async def post_heartbeat(self, heartbeat_id: str = "") -> str:
        """Always healthy: returns the id to send next (nothing here needs a dead-man switch)."""
        return str(uuid.uuid4())


def _check_filters(condition_id: str, token_id: str) -> None:
    if condition_id:
        check_hex_id(condition_id, "condition id")
    if token_id:
        check_token_id(token_id)


def _check_asset(asset_type: str, token_id: str, operation: str) -> None:
    if asset_type not in ("COLLATERAL", "CONDITIONAL"):
        raise ValueError(f"asset_type must be COLLATERAL or CONDITIONAL, got {asset_type!r}")
    if asset_type == "CONDITIONAL":
        if not token_id:
            raise ValueError(f"{operation} of CONDITIONAL needs a token id")
        check_token_id(token_id)


def _duplicate(order: PaperOrder) -> PostOrderResult:
    """The answer to a resend of an accepted order, as ``ClobClient`` gives it for the venue's
    ``Duplicated``: placed by an earlier attempt, with the order as it is now."""
    return PostOrderResult(
        order_id=order.order_id,
        status=DUPLICATE_OF_PREVIOUS_ATTEMPT,
        success=True,
        error="",
        making_amount=None,
        taking_amount=None,
        trade_ids=tuple(order.trade_ids),
        transaction_hashes=(),
        venue_order=venue_order(order),
    )


def _refused(order_id: str, message: str) -> PostOrderResult:
    """A batch entry the venue refused."""
    return PostOrderResult(
        order_id=order_id,
        status="",
        success=False,
        error=message,
        making_amount=None,
        taking_amount=None,
        trade_ids=(),
        transaction_hashes=(),
    )
