"""``polyexec live --dry-run``: a venue that accepts every order and sends nothing anywhere.

:class:`DryRunVenue` has the order operations of :class:`~polyexec.venues.clob_client.ClobClient`
that the :class:`~polyexec.engine.order_manager.OrderManager` uses, and no I/O at all: it holds no
HTTP session and imports no network code. Each order the engine would send is logged as
``dry_run_order_not_sent`` with its fields (strategy-independent: side, price, size, token, type,
post-only, expiry, order id), then:

* answered ``live``, as the venue answers a resting order, and listed as open;
* cancelled on request (by id, by market or token, or all), answered like the venue
  (``canceled`` / ``not_canceled`` with the venue's reason for an order it does not hold);
* never filled, so strategies see resting orders and behave as they would live;
* a GTD order expires like on the venue, :data:`GTD_EARLY_EXPIRY_S` before its expiration.

The client's own checks still apply (``ValueError`` for post-only with FOK/FAK, a GTD order
without expiration, a malformed order), so a dry run exercises the same path up to the wire.
With a ``sink``, the user-channel events a real venue would send (placement, cancellation,
expiry) are delivered synchronously inside the call that caused them, as the paper venue does;
expiries are noticed on every call and on :meth:`DryRunVenue.process_due`.

Memory is bounded: open orders are what the risk manager lets the engine hold; closed orders are
remembered (for ``get_order`` and duplicate answers) up to ``max_closed``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from polyexec.core.events import FeedEvent, UserOrderEvent, UserOrderEventKind
from polyexec.core.models import OrderType
from polyexec.logging_setup import get_logger
from polyexec.venues.clob_responses import (
    DUPLICATE_OF_PREVIOUS_ATTEMPT,
    CancelResult,
    PostOrderResult,
    VenueOrder,
)
from polyexec.venues.order_signer import SignedOrder, order_body
from polyexec.venues.paper_fills import terms_of

__all__ = ["GTD_EARLY_EXPIRY_S", "NOT_FOUND_REASON", "DryRunVenue"]

_log = get_logger(module=__name__)

GTD_EARLY_EXPIRY_S: Final = 60
"""The venue expires a GTD order a minute before its ``expiration`` (protocol docs §4.7)."""
NOT_FOUND_REASON: Final = "Order not found or already canceled"
"""The venue's ``not_canceled`` reason for an order it does not hold open."""
_OWNER: Final = "dry-run"


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class _DryOrder:
    venue_order: VenueOrder
    order_type: OrderType
    post_only: bool


class DryRunVenue:
    """Accepts, lists and cancels orders locally; see the module documentation.

    ``condition_of`` maps a token id to its market's condition id (for listings, cancels by
    market and events; unknown tokens get ``""``); ``clock_ms`` is Unix milliseconds; ``sink``
    receives the user-channel events. :attr:`orders_not_sent` counts the posts swallowed.
    """

    def __init__(
        self,
        *,
        condition_of: Callable[[str], str | None] = lambda _token_id: None,
        clock_ms: Callable[[], int] = _wall_clock_ms,
        sink: Callable[[FeedEvent], None] | None = None,
        max_closed: int = 1_000,
    ) -> None:
        if max_closed < 0:
            raise ValueError(f"max_closed must not be negative, got {max_closed}")
        self._condition_of = condition_of
        self._clock_ms = clock_ms
        self._sink = sink
        self._max_closed = max_closed
        self._open: dict[str, _DryOrder] = {}
        self._closed: OrderedDict[str, _DryOrder] = OrderedDict()
        self.orders_not_sent = 0
        self.cancelled = 0
        self.expired = 0

    # -- orders --------------------------------------------------------------------------------

    async def post_order(
        self, order: SignedOrder, order_type: OrderType, *, post_only: bool = False
    ) -> PostOrderResult:
        """Log the order instead of sending it and answer ``live``. A resend of an order already
        held is answered like the client answers the venue's ``Duplicated``."""
        kind = OrderType(order_type)
        order_body(order, _OWNER, kind, post_only)  # the client's own refusals, before any "send"
        self.process_due()
        known = self._open.get(order.order_id) or self._closed.get(order.order_id)
        if known is not None:
            return _result(order.order_id, DUPLICATE_OF_PREVIOUS_ATTEMPT, known.venue_order)
        terms = terms_of(order)
        now = self._clock_ms()
        venue_order = VenueOrder(
            order_id=order.order_id,
            status="LIVE",
            condition_id=self._condition_of(order.token_id) or "",
            token_id=order.token_id,
            side=terms.side,
            price=terms.price,
            original_size=terms.size,
            size_matched=Decimal(0),
            order_type=kind.value,
            expiration_s=order.expiration_s,
            created_at_ms=now,
            outcome="",
            maker_address=order.maker,
        )
        self._open[order.order_id] = _DryOrder(venue_order, kind, post_only)
        self.orders_not_sent += 1
        _log.info(
            "dry_run_order_not_sent",
            order_id=order.order_id,
            token_id=order.token_id,
            condition_id=venue_order.condition_id,
            side=terms.side.value,
            price=str(terms.price),
            size=str(terms.size),
            order_type=kind.value,
            post_only=post_only,
            expiration_s=order.expiration_s,
            maker_amount=order.maker_amount,
            taker_amount=order.taker_amount,
        )
        self._emit(venue_order, UserOrderEventKind.PLACEMENT, now)
        return _result(order.order_id, "live")

    # -- cancels -------------------------------------------------------------------------------

    async def cancel_order(self, order_id: str) -> CancelResult:
        """Cancel one order."""
        return self._cancel([order_id])

    async def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult:
        """Cancel several orders (duplicates dropped)."""
        return self._cancel(list(dict.fromkeys(order_ids)))

    async def cancel_market_orders(self, condition_id: str = "", token_id: str = "") -> CancelResult:
        """Cancel the open orders of a market and/or token; ``ValueError`` without either (an
        empty filter is not a cancel-all by accident, as in the client)."""
        if not condition_id and not token_id:
            raise ValueError("cancel_market_orders needs a condition id or a token id")
        self.process_due()
        return self._cancel([o.order_id for o in self._listing(condition_id, token_id)])

    async def cancel_all(self) -> CancelResult:
        """Cancel every open order."""
        self.process_due()
        return self._cancel(list(self._open))

    # -- reading -------------------------------------------------------------------------------

    async def get_order(self, order_id: str) -> VenueOrder | None:
        """The order as the venue would describe it; ``None`` for an order never posted (or
        forgotten beyond ``max_closed``)."""
        self.process_due()
        held = self._open.get(order_id) or self._closed.get(order_id)
        return held.venue_order if held is not None else None

    async def get_open_orders(self, *, condition_id: str = "", token_id: str = "") -> list[VenueOrder]:
        """The open orders, oldest first, optionally of one market and/or token."""
        self.process_due()
        return self._listing(condition_id, token_id)

    def process_due(self) -> None:
        """Expire the GTD orders whose time has come (every call does this first)."""
        now = self._clock_ms()
        for order_id, held in tuple(self._open.items()):
            expiration_s = held.venue_order.expiration_s
            if expiration_s and now >= (expiration_s - GTD_EARLY_EXPIRY_S) * 1000:
                self.expired += 1
                self._close(order_id, "CANCELED_EXPIRED_ORDER", now)

    # -- internals -----------------------------------------------------------------------------

    def _listing(self, condition_id: str, token_id: str) -> list[VenueOrder]:
        return [
            held.venue_order
            for held in self._open.values()
            if (not condition_id or held.venue_order.condition_id == condition_id)
            and (not token_id or held.venue_order.token_id == token_id)
        ]

    def _cancel(self, order_ids: list[str]) -> CancelResult:
        now = self._clock_ms()
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for order_id in order_ids:
            if order_id in self._open:
                self.cancelled += 1
                self._close(order_id, "CANCELED", now)
                canceled.append(order_id)
            else:
                not_canceled[order_id] = NOT_FOUND_REASON
        return CancelResult(canceled=tuple(canceled), not_canceled=not_canceled)

    def _close(self, order_id: str, status: str, now: int) -> None:
        held = self._open.pop(order_id)
        closed = replace(held, venue_order=replace(held.venue_order, status=status))
        self._closed[order_id] = closed
        while len(self._closed) > self._max_closed:
            self._closed.popitem(last=False)
        self._emit(closed.venue_order, UserOrderEventKind.CANCELLATION, now)

    def _emit(self, venue_order: VenueOrder, kind: UserOrderEventKind, now: int) -> None:
        if self._sink is None:
            return
        self._sink(
            UserOrderEvent(
                order_id=venue_order.order_id,
                kind=kind,
                condition_id=venue_order.condition_id,
                asset_id=venue_order.token_id,
                side=venue_order.side,
                price=venue_order.price,
                original_size=venue_order.original_size,
                size_matched=venue_order.size_matched,
                status=venue_order.status,
                timestamp_ms=now,
                order_type=venue_order.order_type,
            )
        )


def _result(order_id: str, status: str, venue_order: VenueOrder | None = None) -> PostOrderResult:
    return PostOrderResult(
        order_id=order_id,
        status=status,
        success=True,
        error="",
        making_amount=None,
        taking_amount=None,
        trade_ids=(),
        transaction_hashes=(),
        venue_order=venue_order,
    )
