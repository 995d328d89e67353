"""One order and everything the venue has told us about it: the state machine's moving part.

The states, the transition table and the rules for facts that race are written down in
:mod:`polyexec.core.order_state`; :class:`Order` implements them. Every public method applies one
fact atomically: it returns the :class:`OrderTransition` entries it appended to the audit trail
(empty when nothing changed) and publishes them to the order's :class:`OrderEventBus`; when it
raises an :class:`OrderStateError`, every field is as it was and nothing was published.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Final, NoReturn

from polyexec.core.events import UserOrderEvent, UserOrderEventKind
from polyexec.core.models import ZERO, Fill, OrderIntent, OrderType, Side, TimestampMs, TradeStatus
from polyexec.core.order_codec import order_from_dict, order_to_dict
from polyexec.core.order_fills import average_price, slippage_per_share, total_slippage
from polyexec.core.order_state import (
    ORDER_TRANSITIONS,
    TRADE_STATUS_SUCCESSORS,
    InconsistentVenueData,
    InvalidTransition,
    OrderEventBus,
    OrderState,
    OrderTransition,
    PlacementStatus,
    implication_of,
    normalise_venue_status,
    state_implied_by,
)
from polyexec.core.order_state import StatusImplication as _Implied

__all__ = ["Order"]

_S = OrderState

# What _transaction restores when a fact is refused (fills and the audit trail are handled apart).
_SAVED_FIELDS: Final = (
    "state",
    "updated_ms",
    "state_entered_ms",
    "venue_size_matched",
    "venue_status",
    "reject_reason",
    "failure_reason",
    "cancel_failure_reason",
    "cancel_deferred",
    "ambiguous_since_ms",
)


@dataclass(slots=True)
class Order:
    """One order and everything the venue has told us about it.

    Build it with :meth:`from_intent`. The fields up to ``reduces_position`` are the intent as
    signed; the rest is venue truth as it arrives. Quantities (in shares):

    * ``matched_total``: everything the venue ever matched — the larger of its cumulative
      ``size_matched`` and the sum of the fills seen from trades, voided ones included;
    * ``filled_size`` = ``matched_total − voided_size``: matched and not voided (provisional
      until confirmed);
    * ``confirmed_size``: fills whose trade is CONFIRMED; ``voided_size``: fills whose trade
      FAILED.

    Invariants: ``confirmed_size ≤ filled_size ≤ matched_total ≤ size`` and
    ``confirmed_size + voided_size ≤ matched_total``.
    """

    order_id: str
    strategy: str
    condition_id: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    order_type: OrderType
    post_only: bool
    expiration_s: int | None
    reduces_position: bool
    created_ms: TimestampMs
    reference_price: Decimal | None = None
    """Touch or fair price when the strategy decided: the benchmark for slippage."""
    state: OrderState = OrderState.PENDING
    updated_ms: TimestampMs = 0
    state_entered_ms: TimestampMs = 0
    venue_size_matched: Decimal = ZERO
    """Highest cumulative ``size_matched`` the venue reported (order events, POST, polling)."""
    venue_status: str = ""
    """Last status string the venue reported, normalised (``LIVE``, ``CANCELED_…``, ``MATCHED``)."""
    reject_reason: str = ""
    failure_reason: str = ""
    cancel_failure_reason: str = ""
    cancel_deferred: bool = False
    """A cancel was requested while the submit was unresolved; send it once acknowledged."""
    ambiguous_since_ms: TimestampMs | None = None
    """When the submit's outcome first became ambiguous; cleared when the venue resolves it."""
    fills: dict[tuple[str, str], Fill] = field(default_factory=dict)
    transitions: list[OrderTransition] = field(default_factory=list)
    """The audit trail: every transition, in order."""
    bus: OrderEventBus | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.order_id:
            raise ValueError("order_id must not be empty")
        if not ZERO < self.price < 1:
            raise ValueError(f"order {self.order_id}: price {self.price} outside (0, 1)")
        if self.size <= 0:
            raise ValueError(f"order {self.order_id}: size {self.size} must be positive")

    @classmethod
    def from_intent(
        cls,
        intent: OrderIntent,
        order_id: str,
        *,
        now_ms: TimestampMs,
        reference_price: Decimal | None = None,
        bus: OrderEventBus | None = None,
    ) -> Order:
        """A PENDING order for a signed intent; ``order_id`` is the signed order's hash."""
        return cls(
            order_id=order_id,
            strategy=intent.strategy,
            condition_id=intent.condition_id,
            token_id=intent.token_id,
            side=intent.side,
            price=intent.price,
            size=intent.size,
            order_type=intent.order_type,
            post_only=intent.post_only,
            expiration_s=intent.expiration_s,
            reduces_position=intent.reduces_position,
            created_ms=now_ms,
            reference_price=reference_price,
            updated_ms=now_ms,
            state_entered_ms=now_ms,
            bus=bus,
        )

    # --- quantities ------------------------------------------------------------------------

    @property
    def voided_size(self) -> Decimal:
        return sum((f.size for f in self.fills.values() if f.status is TradeStatus.FAILED), ZERO)

    @property
    def matched_total(self) -> Decimal:
        return max(self.venue_size_matched, sum((f.size for f in self.fills.values()), ZERO))

    @property
    def filled_size(self) -> Decimal:
        return self.matched_total - self.voided_size

    @property
    def confirmed_size(self) -> Decimal:
        return sum((f.size for f in self.fills.values() if f.status is TradeStatus.CONFIRMED), ZERO)

    @property
    def remaining_size(self) -> Decimal:
        """Size that may still match: zero once terminal."""
        return ZERO if self.state.is_terminal else self.size - self.matched_total

    @property
    def active_fills(self) -> list[Fill]:
        """Fills not voided, in arrival order."""
        return [f for f in self.fills.values() if f.status is not TradeStatus.FAILED]

    @property
    def average_fill_price(self) -> Decimal | None:
        """Size-weighted price of the fills not voided; ``None`` before the first fill. Size
        known only from a cumulative count (no trade seen yet) has no price and is left out."""
        return average_price(self.active_fills)

    @property
    def fees(self) -> Decimal:
        """Fees of the fills not voided, in dollars."""
        return sum((f.fee for f in self.active_fills), ZERO)

    def slippage(self, fill: Fill) -> Decimal | None:
        """Per-share slippage of ``fill`` against :attr:`reference_price` (positive = worse)."""
        reference = self.reference_price
        return None if reference is None else slippage_per_share(self.side, reference, fill.price)

    @property
    def slippage_cost(self) -> Decimal | None:
        """Dollars lost to slippage over the fills not voided (negative = improvement)."""
        reference = self.reference_price
        return None if reference is None else total_slippage(self.side, reference, self.active_fills)

    @property
    def needs_cancel(self) -> bool:
        """A deferred cancel is due: the order was acknowledged and is working."""
        return self.cancel_deferred and self.state in (_S.OPEN, _S.PARTIALLY_FILLED)

    # --- commands we issue -----------------------------------------------------------------

    def submitted(self, *, now_ms: TimestampMs, cause: str = "") -> tuple[OrderTransition, ...]:
        """PENDING → SUBMITTED. Call (and persist) it **before** the first byte is written, so a
        crash mid-send leaves an order that reconciliation resolves instead of one it forgets."""
        with self._transaction() as made:
            if self.state is not _S.PENDING:
                self._refuse("submitted", _S.SUBMITTED)
            self._move(made, _S.SUBMITTED, "submitted", cause, now_ms)
        return tuple(made)

    def send_failed(
        self, reason: str, *, now_ms: TimestampMs, cause: str = ""
    ) -> tuple[OrderTransition, ...]:
        """→ FAILED: the order provably never reached the venue (signing error, connection
        refused before the request was written). Not for timeouts: see :meth:`submit_ambiguous`."""
        with self._transaction() as made:
            if self.state not in (_S.PENDING, _S.SUBMITTED):
                self._refuse("send_failed", _S.FAILED)
            self.failure_reason = reason
            self._move(made, _S.FAILED, "send_failed", cause, now_ms)
        return tuple(made)

    def cancel_requested(self, *, now_ms: TimestampMs, cause: str = "") -> tuple[OrderTransition, ...]:
        """We are about to send a cancel. PENDING → CANCELLED (never sent, nothing to cancel);
        OPEN / PARTIALLY_FILLED → PENDING_CANCEL; PENDING_CANCEL → itself (repeat request);
        SUBMITTED → itself with the cancel **deferred** until the venue resolves the submit
        (see :attr:`needs_cancel`). Terminal orders cannot be cancelled."""
        with self._transaction() as made:
            state = self.state
            if state is _S.PENDING:
                self._move(made, _S.CANCELLED, "cancel_requested", cause, now_ms)
            elif state is _S.SUBMITTED:
                if not self.cancel_deferred:
                    self.cancel_deferred = True
                    self._move(made, _S.SUBMITTED, "cancel_deferred", cause, now_ms)
            elif state.is_working:
                self.cancel_deferred = False
                self._move(made, _S.PENDING_CANCEL, "cancel_requested", cause, now_ms)
            else:
                self._refuse("cancel_requested", _S.PENDING_CANCEL)
        return tuple(made)

    # --- answers to our commands -----------------------------------------------------------

    def submit_ambiguous(self, *, now_ms: TimestampMs, cause: str = "") -> tuple[OrderTransition, ...]:
        """The submit's outcome is unknown (timeout, 5xx, disconnect): stay SUBMITTED, recorded,
        until a user event, polling or reconciliation resolves it. Never a rejection."""
        with self._transaction() as made:
            if self.state is _S.PENDING:
                self._refuse("submit_ambiguous", _S.SUBMITTED)
            if self.state is _S.SUBMITTED:  # otherwise the venue already answered another way
                self._move(made, _S.SUBMITTED, "submit_ambiguous", cause, now_ms)
                if self.ambiguous_since_ms is None:
                    self.ambiguous_since_ms = now_ms
        return tuple(made)

    def accepted(
        self,
        status: PlacementStatus | str,
        *,
        now_ms: TimestampMs,
        making_amount: Decimal | None = None,
        taking_amount: Decimal | None = None,
        cause: str = "",
    ) -> tuple[OrderTransition, ...]:
        """The venue accepted the order (``POST /order`` success). ``making_amount`` /
        ``taking_amount`` are what matched at entry, in dollars and shares (a BUY makes dollars
        and takes shares, a SELL the reverse); ``None`` when absent (``delayed`` answers).

        ``live`` / ``delayed`` acknowledge; ``matched`` also counts the matched shares, and for
        a FAK/FOK kills the unmatched rest; ``unmatched`` kills a FAK/FOK and acknowledges a
        GTC/GTD. Arriving after a user event already moved the order, only the quantities apply.
        ``ValueError`` for a status outside :class:`PlacementStatus`.
        """
        placement = PlacementStatus.parse(str(status))
        shares = taking_amount if self.side is Side.BUY else making_amount
        with self._transaction() as made:
            if self.state is _S.PENDING:
                self._refuse("accepted", _S.OPEN)
            self.venue_status = placement.value.upper()
            self._absorb_cumulative(made, shares, "accepted", cause, now_ms)
            implied = _Implied.UNMATCHED if placement is PlacementStatus.UNMATCHED else _Implied.ACK
            self._apply_implied(made, implied, "accepted", cause, now_ms)
            if (
                placement is PlacementStatus.MATCHED
                and shares is not None
                and self.order_type.is_marketable_only
            ):
                self._apply_implied(
                    made, _Implied.CANCEL, "accepted", f"{self.order_type} rest killed", now_ms
                )
        return tuple(made)

    def rejected(self, reason: str, *, now_ms: TimestampMs, cause: str = "") -> tuple[OrderTransition, ...]:
        """SUBMITTED → REJECTED: the venue **proved** non-acceptance. A repeat is a no-op."""
        with self._transaction() as made:
            if self.state is not _S.REJECTED:
                if self.state is not _S.SUBMITTED:
                    self._refuse("rejected", _S.REJECTED)
                self.reject_reason = reason
                self._move(made, _S.REJECTED, "rejected", cause, now_ms)
        return tuple(made)

    def cancel_confirmed(self, *, now_ms: TimestampMs, cause: str = "") -> tuple[OrderTransition, ...]:
        """The venue listed the order as cancelled → CANCELLED. If the order already ended
        (filled, expired, …) the answer lost a race and is ignored."""
        with self._transaction() as made:
            if self.state is _S.PENDING:
                self._refuse("cancel_confirmed", _S.CANCELLED)
            if not self.state.is_terminal:
                self._move(made, _S.CANCELLED, "cancel_confirmed", cause, now_ms)
        return tuple(made)

    def cancel_failed(
        self, reason: str, *, now_ms: TimestampMs, cause: str = ""
    ) -> tuple[OrderTransition, ...]:
        """The cancel was refused (``not_canceled``, e.g. ``Order already matched``):
        PENDING_CANCEL → OPEN or PARTIALLY_FILLED. Ignored if no cancel is pending any more."""
        with self._transaction() as made:
            if self.state in (_S.PENDING, _S.SUBMITTED):
                self._refuse("cancel_failed", None)
            if self.state is _S.PENDING_CANCEL:
                self.cancel_failure_reason = reason
                back = _S.OPEN if self.matched_total == 0 else _S.PARTIALLY_FILLED
                self._move(made, back, "cancel_failed", cause, now_ms)
        return tuple(made)

    def expired(self, *, now_ms: TimestampMs, cause: str = "") -> tuple[OrderTransition, ...]:
        """The venue expired the GTD order → EXPIRED (ignored once terminal)."""
        with self._transaction() as made:
            if self.state is _S.PENDING:
                self._refuse("expired", _S.EXPIRED)
            if not self.state.is_terminal:
                self._move(made, _S.EXPIRED, "expired", cause, now_ms)
        return tuple(made)

    # --- venue facts from the user channel, polling and reconciliation ---------------------

    def apply_order_event(
        self, event: UserOrderEvent, *, now_ms: TimestampMs, cause: str = ""
    ) -> tuple[OrderTransition, ...]:
        """Apply a user-channel ``order`` event: its **cumulative** ``size_matched`` (lower or
        repeated values are ignored) and then what its status implies (LIVE acknowledges,
        CANCELED_* cancels, CANCELED_EXPIRED_ORDER expires, INVALID rejects or cancels; an
        unknown status is recorded and otherwise ignored). ``InconsistentVenueData`` if the
        event describes another order (id, token, side or original size)."""
        with self._transaction() as made:
            self._check_event(event)
            cancellation = event.kind is UserOrderEventKind.CANCELLATION
            self._apply_venue_view(
                made, event.status, event.size_matched, cancellation, "order_event", cause, now_ms
            )
        return tuple(made)

    def resolve_unknown(
        self,
        venue_status: str | None,
        *,
        now_ms: TimestampMs,
        size_matched: Decimal | None = None,
        cause: str = "",
    ) -> tuple[OrderTransition, ...]:
        """Apply what reconciliation learnt from ``GET /data/order/{id}``.

        ``venue_status=None`` means a targeted query proved the venue does not know the order:
        any non-terminal order → FAILED (it is not working, whatever we believed). Otherwise the
        status and cumulative ``size_matched`` apply like an order event; a PENDING order found
        at the venue is first marked SUBMITTED, and a PENDING_CANCEL order found live goes back
        to OPEN / PARTIALLY_FILLED (the cancel's outcome was lost). Only call it for orders that
        have been in flight longer than a cancel's round trip.
        """
        with self._transaction() as made:
            if venue_status is None:
                if not self.state.is_terminal:
                    self.failure_reason = "unknown to the venue"
                    self._move(made, _S.FAILED, "resolve_unknown", cause, now_ms)
            else:
                if self.state is _S.PENDING:
                    self._move(made, _S.SUBMITTED, "resolve_unknown", cause, now_ms)
                self._apply_venue_view(
                    made, venue_status, size_matched, False, "resolve_unknown", cause, now_ms
                )
                live = implication_of(self.venue_status, cancellation=False) is _Implied.ACK
                if live and self.state is _S.PENDING_CANCEL:
                    back = _S.OPEN if self.matched_total == 0 else _S.PARTIALLY_FILLED
                    self._move(made, back, "resolve_unknown", cause, now_ms)
        return tuple(made)

    def apply_fill(self, fill: Fill, *, now_ms: TimestampMs, cause: str = "") -> tuple[OrderTransition, ...]:
        """Record one of our fills (see :func:`~polyexec.core.order_fills.fills_from_trade`).
        A fill already seen (same ``(trade_id, order_id)``) only updates its trade status; a new
        one raises the matched size unless a cumulative count already included it. A fill first
        seen as FAILED is recorded voided. Late fills on terminal orders are recorded (rules in
        :mod:`~polyexec.core.order_state`)."""
        with self._transaction() as made:
            if self.state is _S.PENDING:
                self._refuse("fill", None)
            self._check_fill(fill)
            if fill.key in self.fills:
                self._change_trade_status(made, fill.key, fill.status, cause, now_ms)
            else:
                self._add_fill(made, fill, cause, now_ms)
        return tuple(made)

    def apply_trade_status(
        self, trade_id: str, status: TradeStatus | str, *, now_ms: TimestampMs, cause: str = ""
    ) -> tuple[OrderTransition, ...]:
        """Move the settlement status of our fill in ``trade_id`` (MATCHED → MINED → CONFIRMED,
        RETRYING, FAILED). Repeats and older statuses are ignored, also after a final one; FAILED
        voids the fill, and a FILLED order whose fills are all voided becomes FAILED.
        ``InconsistentVenueData`` for an unknown trade or a status that contradicts a final one
        (CONFIRMED then FAILED)."""
        parsed = TradeStatus.parse(str(status))
        key = (trade_id, self.order_id)
        with self._transaction() as made:
            if key not in self.fills:
                raise InconsistentVenueData(self.order_id, f"no fill from trade {trade_id}")
            self._change_trade_status(made, key, parsed, cause, now_ms)
        return tuple(made)

    # --- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record (Decimals as strings) for crash recovery; see :meth:`from_dict`
        and :mod:`polyexec.core.order_codec` for its layout."""
        return order_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, bus: OrderEventBus | None = None) -> Order:
        """Rebuild an order saved by :meth:`to_dict`; ``ValueError`` naming the problem if the
        record is malformed."""
        return order_from_dict(cls, data, bus=bus)

    # --- internals -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[list[OrderTransition]]:
        """Run one public method atomically: on any error restore every field (so an
        :class:`OrderStateError` never leaves a half-applied fact), else publish what changed."""
        saved = {name: getattr(self, name) for name in _SAVED_FIELDS}
        saved_fills = dict(self.fills)
        saved_length = len(self.transitions)
        made: list[OrderTransition] = []
        try:
            yield made
        except BaseException:
            for name, value in saved.items():
                setattr(self, name, value)
            self.fills = saved_fills
            del self.transitions[saved_length:]
            raise
        if self.bus is not None:
            for transition in made:
                self.bus.publish(transition)

    def _refuse(self, action: str, to_state: OrderState | None) -> NoReturn:
        raise InvalidTransition(self.order_id, self.state, to_state, action)

    def _move(
        self,
        made: list[OrderTransition],
        to_state: OrderState,
        action: str,
        cause: str,
        now_ms: TimestampMs,
        fill: Fill | None = None,
    ) -> None:
        from_state = self.state
        if to_state not in ORDER_TRANSITIONS[from_state]:
            self._refuse(action, to_state)
        transition = OrderTransition(
            self.order_id, len(self.transitions) + 1, now_ms, from_state, to_state, action, cause, fill
        )
        if to_state is not from_state:
            self.state_entered_ms = now_ms
            if from_state is _S.SUBMITTED:
                self.ambiguous_since_ms = None
        self.state = to_state
        self.updated_ms = max(self.updated_ms, now_ms)
        self.transitions.append(transition)
        made.append(transition)

    def _fill_stage_target(self) -> OrderState:
        """The state after the matched size grew: FILLED once everything matched; an
        acknowledged-or-not order becomes PARTIALLY_FILLED; a pending cancel stays pending and a
        terminal order keeps its state (late partial fill)."""
        if self.matched_total >= self.size:
            return _S.FILLED
        return _S.PARTIALLY_FILLED if self.state in (_S.SUBMITTED, _S.OPEN) else self.state

    def _absorb_cumulative(
        self,
        made: list[OrderTransition],
        cumulative: Decimal | None,
        action: str,
        cause: str,
        now_ms: TimestampMs,
    ) -> None:
        if cumulative is None:
            return
        if not ZERO <= cumulative <= self.size:
            raise InconsistentVenueData(self.order_id, f"size matched {cumulative} outside [0, {self.size}]")
        if cumulative <= self.venue_size_matched:
            return  # stale or repeated cumulative count
        before = self.matched_total
        self.venue_size_matched = cumulative
        if self.matched_total > before:
            self._move(made, self._fill_stage_target(), action, cause, now_ms)

    def _apply_implied(
        self, made: list[OrderTransition], implied: _Implied, action: str, cause: str, now_ms: TimestampMs
    ) -> None:
        target = state_implied_by(implied, self.state, self.order_type)
        if target is self.state:
            return  # nothing new; a terminal order ignores stale status news (quantities applied)
        if target is _S.REJECTED:  # INVALID before any acknowledgement
            self.reject_reason = self.venue_status
        self._move(made, target, action, cause, now_ms)

    def _apply_venue_view(
        self,
        made: list[OrderTransition],
        status: str,
        size_matched: Decimal | None,
        cancellation: bool,
        action: str,
        cause: str,
        now_ms: TimestampMs,
    ) -> None:
        if self.state is _S.PENDING:
            self._refuse(action, None)
        self.venue_status = normalise_venue_status(status)
        self._absorb_cumulative(made, size_matched, action, cause, now_ms)
        self._apply_implied(
            made, implication_of(self.venue_status, cancellation=cancellation), action, cause, now_ms
        )

    def _check_event(self, event: UserOrderEvent) -> None:
        problems = []
        if event.order_id != self.order_id:
            problems.append(f"event for order {event.order_id}")
        if event.asset_id and event.asset_id != self.token_id:
            problems.append(f"token {event.asset_id} is not {self.token_id}")
        if event.side is not self.side:
            problems.append(f"side {event.side} is not {self.side}")
        if event.original_size > 0 and event.original_size != self.size:
            problems.append(f"original size {event.original_size} is not {self.size}")
        if problems:
            raise InconsistentVenueData(self.order_id, "; ".join(problems))

    def _check_fill(self, fill: Fill) -> None:
        problems = []
        if fill.order_id != self.order_id:
            problems.append(f"fill for order {fill.order_id}")
        if fill.token_id != self.token_id or fill.condition_id != self.condition_id:
            problems.append(f"fill in token {fill.token_id} of {fill.condition_id}")
        if fill.side is not self.side:
            problems.append(f"fill side {fill.side} is not {self.side}")
        if fill.size <= 0 or not ZERO < fill.price < 1:
            problems.append(f"fill of {fill.size} at {fill.price}")
        if problems:
            raise InconsistentVenueData(self.order_id, "; ".join(problems), fill)

    def _add_fill(self, made: list[OrderTransition], fill: Fill, cause: str, now_ms: TimestampMs) -> None:
        if not fill.strategy:
            fill = replace(fill, strategy=self.strategy)
        seen = sum((f.size for f in self.fills.values()), ZERO) + fill.size
        if max(self.venue_size_matched, seen) > self.size:
            problem = f"fill {fill.trade_id} of {fill.size} would match {seen} of {self.size}"
            raise InconsistentVenueData(self.order_id, problem, fill)
        self.fills[fill.key] = fill
        self._move(made, self._fill_stage_target(), "fill", cause, now_ms, fill)
        if fill.status is TradeStatus.FAILED and self._all_voided():
            self._move(made, _S.FAILED, "fill", cause, now_ms, fill)

    def _change_trade_status(
        self,
        made: list[OrderTransition],
        key: tuple[str, str],
        status: TradeStatus,
        cause: str,
        now_ms: TimestampMs,
    ) -> None:
        old = self.fills[key]
        if status is old.status:
            return  # the venue re-sends every trade on each status change
        if old.status.is_terminal:
            if old.status in TRADE_STATUS_SUCCESSORS[status]:
                return  # an older status delivered late (REST polling lags the user channel)
            raise InconsistentVenueData(
                self.order_id, f"trade {key[0]} was {old.status}, now reported {status}"
            )
        if status not in TRADE_STATUS_SUCCESSORS[old.status]:
            return  # an older status delivered late
        new = replace(old, status=status)
        self.fills[key] = new
        voided_out = status is TradeStatus.FAILED and self._all_voided()
        self._move(made, _S.FAILED if voided_out else self.state, "trade_status", cause, now_ms, new)

    def _all_voided(self) -> bool:
        """A FILLED order with nothing left filled: every trade that matched it FAILED."""
        return self.state is _S.FILLED and self.filled_size == 0
