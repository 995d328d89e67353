"""What each venue answer does to an order: the taxonomy of :mod:`polyexec.venues.errors` applied.

The :class:`~polyexec.engine.order_manager.OrderManager` sends; this module reads the answers. Each
function applies one answer to one :class:`~polyexec.core.order.Order` and says what the risk
manager should hear of it, so the mapping lives in one place and can be tested without a venue.

Answers to ``POST /order`` (:func:`apply_post_result`, :func:`apply_post_error`)
--------------------------------------------------------------------------------
Each answer → what the order does → what the risk manager hears:

* success ``live`` / ``delayed`` / ``matched`` / ``unmatched`` → :meth:`Order.accepted
  <polyexec.core.order.Order.accepted>` → venue accept, API healthy;
* success ``duplicate_of_previous_attempt`` (an earlier send was accepted, its answer lost) →
  :meth:`Order.resolve_unknown <polyexec.core.order.Order.resolve_unknown>` from the venue's view
  of the order (it stays SUBMITTED, ambiguous, when the client could not read it back) → venue
  accept, API healthy;
* success with a status outside the protocol's four → stays SUBMITTED, ambiguous (polling reads
  it back) → API healthy;
* :class:`~polyexec.venues.errors.DefinitiveReject` (a 4xx, or HTTP 200 ``success: false``) →
  :meth:`Order.rejected <polyexec.core.order.Order.rejected>` → venue reject, token cooldown,
  API healthy; except a FOK/FAK **kill** (``order couldn't be fully filled``, ``no orders found to
  match``): rejected → a short token cooldown only (the book moved; nothing was wrong with us);
* :class:`~polyexec.venues.errors.Geoblocked` (403), :class:`~polyexec.venues.errors.AuthError`
  (401) → rejected → venue reject (every order would be refused: the reject breaker stops us);
* :class:`~polyexec.venues.errors.VenueUnavailable` (425, 503),
  :class:`~polyexec.venues.errors.RateLimited` (429) → rejected → API unhealthy;
* :class:`~polyexec.venues.errors.AmbiguousOutcome` (timeout, 5xx, disconnect) and its
  :class:`~polyexec.venues.errors.BadResponse` → stays SUBMITTED (:meth:`Order.submit_ambiguous
  <polyexec.core.order.Order.submit_ambiguous>`) → API unhealthy;
* any refusal of a **resend** whose earlier send went unanswered (``after_ambiguous``), and a
  ``Duplicated`` refusal → stays SUBMITTED, ambiguous → API unhealthy;
* ``ValueError`` / ``TypeError`` (the client refused the order before writing a byte) →
  :meth:`Order.send_failed <polyexec.core.order.Order.send_failed>`: FAILED → nothing;
* any other exception → stays SUBMITTED, ambiguous → nothing (the caller logs it as a bug).

Why these choices: 425, 429 and 503 are answers that prove the order was not placed (the venue,
or Cloudflare in front of it, refused the request as a whole), so the order is REJECTED and a new
intent may follow; they say nothing against the order itself, so they feed the API-health breaker
rather than the reject breaker or the token cooldown. A refusal of a resend proves nothing about
the first send (the client reads the order back, but the first send may still be in the venue's
queue), so such an order stays in flight until polling, a user event or reconciliation says
otherwise: an order we wrongly believe dead is worse than one we wrongly believe alive for a few
seconds. Ambiguous orders are never rejected: they count as open exposure until resolved.

Matched beyond the signed size
------------------------------
A FOK/FAK BUY is filled by dollars: the venue (and the simulator) may spend the whole dollar leg at
better prices and match more shares than signed. The state machine refuses a cumulative count above
the order's size (:class:`~polyexec.core.order_state.InconsistentVenueData`); the order is then
recorded as matched in full (it is: nothing of it is left) and the error is returned to be counted
and logged. The shares really bought reach the portfolio through the trade events, whose fills the
registry hands back with the error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Final

from polyexec.core.events import UserOrderEvent
from polyexec.core.models import Side, TimestampMs
from polyexec.core.order import Order
from polyexec.core.order_state import InconsistentVenueData, OrderTransition
from polyexec.core.risk import RiskManager
from polyexec.venues.clob_responses import PostOrderResult, VenueOrder
from polyexec.venues.errors import (
    AmbiguousOutcome,
    AuthError,
    DefinitiveReject,
    Geoblocked,
    RateLimited,
    VenueError,
    VenueUnavailable,
)

__all__ = [
    "AnswerEffect",
    "SubmitOutcome",
    "apply_post_error",
    "apply_post_result",
    "apply_venue_order",
    "capped_order_event",
]


class SubmitOutcome(StrEnum):
    """How a submit ended, as the order manager counts it."""

    ACCEPTED = "accepted"
    """The venue placed the order (answered, or read back after a lost answer)."""
    REJECTED = "rejected"
    """The venue proved the order was not placed."""
    AMBIGUOUS = "ambiguous"
    """Unknown: the order stays SUBMITTED until polling or a user event resolves it."""
    SEND_FAILED = "send_failed"
    """Nothing was sent (the client refused the order before writing a byte)."""


@dataclass(frozen=True, slots=True)
class AnswerEffect:
    """What one venue answer did, and what the risk manager must be told.

    ``api_healthy`` is ``None`` when the answer says nothing about the venue's health;
    ``venue_reject`` asks for :meth:`RiskManager.record_venue_reject
    <polyexec.core.risk.RiskManager.record_venue_reject>`, ``cooldown`` for a cooldown of the
    order's token; ``inconsistent`` is a venue fact the order could not take as given (counted and
    logged by the caller, never raised).
    """

    outcome: SubmitOutcome
    reason: str
    transitions: tuple[OrderTransition, ...] = ()
    api_healthy: bool | None = None
    venue_reject: bool = False
    cooldown: bool = False
    inconsistent: InconsistentVenueData | None = None
    killed: bool = False
    """A FOK/FAK order the venue killed because the book could not fill it (a market outcome):
    a cooldown of ``kill_cooldown_ms`` only, no reject count."""

    def report_to(
        self,
        risk: RiskManager,
        *,
        token_id: str,
        now_ms: TimestampMs,
        cooldown_ms: int,
        kill_cooldown_ms: int = 0,
    ) -> None:
        """Tell ``risk`` what this answer means: API health, venue accept or reject, and a
        cooldown of ``cooldown_ms`` on ``token_id`` after a definitive reject (``kill_cooldown_ms``
        after a killed FOK/FAK order)."""
        if self.api_healthy is not None:
            risk.record_api_health(self.api_healthy, now_ms)
        if self.outcome is SubmitOutcome.ACCEPTED:
            risk.record_venue_accept(now_ms)
        if self.venue_reject:
            risk.record_venue_reject(now_ms)
        if self.cooldown:
            risk.add_cooldown(token_id, now_ms + cooldown_ms, f"venue rejected: {self.reason}")
        if self.killed and kill_cooldown_ms > 0:
            risk.add_cooldown(token_id, now_ms + kill_cooldown_ms, f"order killed: {self.reason}")


_KILL_MESSAGES: Final = (
    "couldn't be fully filled",  # FOK_ORDER_NOT_FILLED_ERROR
    "fok orders are filled or killed",
    "no orders found to match",  # FAK with nothing to take
    "there are no matching orders",
)


def _is_kill(reason: str) -> bool:
    """The venue's refusal says a FOK/FAK order found too little to match (docs §3.4 strings)."""
    lowered = reason.lower()
    return any(message in lowered for message in _KILL_MESSAGES)


def apply_post_result(order: Order, result: PostOrderResult, *, now_ms: TimestampMs) -> AnswerEffect:
    """Apply a successful ``POST /order`` answer (``result.success`` true) to ``order``.

    May raise :class:`~polyexec.core.order_state.OrderStateError` when the order cannot take the
    answer in its state (the caller counts it); the over-size case is handled as the module says.
    """
    if result.placed_by_earlier_attempt:
        if result.venue_order is None:
            made = order.submit_ambiguous(now_ms=now_ms, cause="placed by an earlier send, state unknown")
            return AnswerEffect(SubmitOutcome.ACCEPTED, "placed earlier, unread", made, api_healthy=True)
        made, problem = apply_venue_order(
            order, result.venue_order, now_ms=now_ms, cause="placed by an earlier send"
        )
        return AnswerEffect(
            SubmitOutcome.ACCEPTED, "placed earlier", made, api_healthy=True, inconsistent=problem
        )
    cause = f"post answered {result.status or '(no status)'}"
    try:
        made = order.accepted(
            result.status,
            now_ms=now_ms,
            making_amount=result.making_amount,
            taking_amount=result.taking_amount,
            cause=cause,
        )
    except InconsistentVenueData as problem:
        making, taking = _capped_amounts(order, result.making_amount, result.taking_amount)
        made = order.accepted(
            result.status,
            now_ms=now_ms,
            making_amount=making,
            taking_amount=taking,
            cause=f"{cause}, matched beyond the signed size",
        )
        return AnswerEffect(
            SubmitOutcome.ACCEPTED, result.status, made, api_healthy=True, inconsistent=problem
        )
    except ValueError:
        # A status outside the protocol's four: placed, state unknown. Polling reads it back.
        made = order.submit_ambiguous(now_ms=now_ms, cause=f"unknown placement status {result.status!r}")
        return AnswerEffect(
            SubmitOutcome.AMBIGUOUS, f"unknown status {result.status!r}", made, api_healthy=True
        )
    return AnswerEffect(SubmitOutcome.ACCEPTED, result.status, made, api_healthy=True)


def apply_post_error(order: Order, error: BaseException, *, now_ms: TimestampMs) -> AnswerEffect:
    """Apply a failed ``POST /order`` (the exception it raised) to ``order``; see the module
    table. ``asyncio.CancelledError`` is not an answer: do not pass it here."""
    reason = str(error) or type(error).__name__
    if isinstance(error, VenueError):
        if error.after_ambiguous or (isinstance(error, DefinitiveReject) and error.duplicate):
            made = order.submit_ambiguous(now_ms=now_ms, cause=f"refused resend: {reason}")
            return AnswerEffect(SubmitOutcome.AMBIGUOUS, reason, made, api_healthy=False)
        if isinstance(error, AmbiguousOutcome):
            made = order.submit_ambiguous(now_ms=now_ms, cause=reason)
            return AnswerEffect(SubmitOutcome.AMBIGUOUS, reason, made, api_healthy=False)
        made = order.rejected(reason, now_ms=now_ms, cause=type(error).__name__)
        if isinstance(error, VenueUnavailable | RateLimited):
            return AnswerEffect(SubmitOutcome.REJECTED, reason, made, api_healthy=False)
        if isinstance(error, Geoblocked | AuthError):
            return AnswerEffect(SubmitOutcome.REJECTED, reason, made, api_healthy=True, venue_reject=True)
        if isinstance(error, DefinitiveReject) and _is_kill(reason):
            # The book moved before a FOK/FAK order matched: the market's answer, not the
            # venue's verdict on us. No reject-breaker count; a short cooldown (``kill``) stops
            # the strategy from chasing the same stale quote on every tick.
            return AnswerEffect(SubmitOutcome.REJECTED, reason, made, api_healthy=True, killed=True)
        # DefinitiveReject, and any VenueError subclass added later that is not ambiguous.
        return AnswerEffect(
            SubmitOutcome.REJECTED, reason, made, api_healthy=True, venue_reject=True, cooldown=True
        )
    if isinstance(error, ValueError | TypeError):
        made = order.send_failed(reason, now_ms=now_ms, cause="refused before sending")
        return AnswerEffect(SubmitOutcome.SEND_FAILED, reason, made)
    # An unexpected error may have struck after the request was written: assume it may be placed.
    made = order.submit_ambiguous(now_ms=now_ms, cause=f"unexpected {type(error).__name__}: {reason}")
    return AnswerEffect(SubmitOutcome.AMBIGUOUS, reason, made)


def apply_venue_order(
    order: Order, venue_order: VenueOrder, *, now_ms: TimestampMs, cause: str
) -> tuple[tuple[OrderTransition, ...], InconsistentVenueData | None]:
    """Apply the venue's view of ``order`` (``GET /data/order``, a reconciled duplicate) with
    :meth:`Order.resolve_unknown`. A cumulative ``size_matched`` beyond the order's size is
    recorded as the full size and the refusal returned (see the module docstring)."""
    try:
        made = order.resolve_unknown(
            venue_order.status, now_ms=now_ms, size_matched=venue_order.size_matched, cause=cause
        )
    except InconsistentVenueData as problem:
        if venue_order.size_matched <= order.size:
            raise
        made = order.resolve_unknown(
            venue_order.status,
            now_ms=now_ms,
            size_matched=order.size,
            cause=f"{cause}, matched beyond the signed size",
        )
        return made, problem
    return made, None


def capped_order_event(order: Order, event: UserOrderEvent) -> UserOrderEvent | None:
    """``event`` with its cumulative ``size_matched`` capped at the order's size, when that is
    the only thing wrong with it (a BUY matched beyond its signed shares); ``None`` otherwise."""
    if event.size_matched <= order.size or event.order_id != order.order_id:
        return None
    if event.side is not order.side or (event.asset_id and event.asset_id != order.token_id):
        return None
    if event.original_size > 0 and event.original_size != order.size:
        return None
    return replace(event, size_matched=order.size)


def _capped_amounts(
    order: Order, making: Decimal | None, taking: Decimal | None
) -> tuple[Decimal | None, Decimal | None]:
    # A BUY takes shares, a SELL makes them: cap the share leg only.
    if order.side is Side.BUY:
        return making, None if taking is None else min(taking, order.size)
    return None if making is None else min(making, order.size), taking
