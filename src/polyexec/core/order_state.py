"""The order state machine: every order polyexec sends, and every venue fact that moves it.

An :class:`~polyexec.core.order.Order` is created from a strategy's
:class:`~polyexec.core.models.OrderIntent` once it is built and signed; its ``order_id`` is the
EIP-712 order hash, known before the first byte is sent, so venue answers and user-channel events
that arrive late or out of order still attach to the right order. Each method applies one fact
(``now_ms`` and a ``cause`` go into the audit trail), moves the order along
:data:`ORDER_TRANSITIONS`, and publishes one :class:`OrderTransition` per change to an
:class:`OrderEventBus`.

This module holds the machine's vocabulary: the states, the transition table, the errors, the
audit-trail entry, the bus and how venue status strings are read. The rest lives beside it:

* :mod:`polyexec.core.order`: the :class:`~polyexec.core.order.Order` itself;
* :mod:`polyexec.core.order_fills`: our fills in a venue trade, their fees and slippage;
* :mod:`polyexec.core.order_codec`: the JSON-safe record of an order, for crash recovery;
* :mod:`polyexec.core.order_registry`: every live order by id, and the routing of user events.

States
------
=================  ========================================================================
PENDING            built and signed, not sent yet.
SUBMITTED          sent; the venue has not answered. An **ambiguous** outcome (timeout, 5xx,
                   disconnect) keeps the order here until the venue resolves it.
OPEN               acknowledged and resting, nothing matched.
PARTIALLY_FILLED   acknowledged, part of the size matched, the rest still working.
PENDING_CANCEL     a cancel was sent; the venue has not confirmed it.
FILLED             the venue matched the whole size (some fills may later be voided).
CANCELLED          the rest was cancelled (by us, the venue, or a FAK/FOK kill).
REJECTED           the venue **proved** non-acceptance (400 / 401 / 403 / 425 / 429 / 503).
EXPIRED            a GTD order reached its expiry.
FAILED             terminal failure that no venue rejection decided: a local failure before any
                   byte reached the venue (:meth:`Order.send_failed`); an order reconciliation
                   proves unknown to the venue (:meth:`Order.resolve_unknown`); or a FILLED
                   order all of whose fills were voided because their trades FAILED on chain.
=================  ========================================================================

*Terminal*: FILLED, CANCELLED, REJECTED, EXPIRED, FAILED. *In flight* (a command awaits the
venue): SUBMITTED, PENDING_CANCEL. *Working* (acknowledged, on the book): OPEN,
PARTIALLY_FILLED, PENDING_CANCEL. *Open* (the venue may still fill it): SUBMITTED plus working.

Transition table (row = from, column = to, ``x`` = allowed)::

    from \\ to        PEND SUBM OPEN PART PCXL FILL CXLD REJ  EXP  FAIL
    PENDING           .    x    .    .    .    .    x    .    .    x
    SUBMITTED         .    x    x    x    .    x    x    x    x    x
    OPEN              .    .    .    x    x    x    x    .    x    x
    PARTIALLY_FILLED  .    .    .    x    x    x    x    .    x    x
    PENDING_CANCEL    .    .    x    x    x    x    x    .    x    x
    FILLED            .    .    .    .    .    x    .    .    .    x
    CANCELLED         .    .    .    .    .    x    x    .    .    .
    REJECTED          .    .    .    .    .    x    .    x    .    .
    EXPIRED           .    .    .    .    .    x    .    .    x    .
    FAILED            .    .    .    .    .    x    .    .    .    x

Notable edges: fill before ack (SUBMITTED → PARTIALLY_FILLED / FILLED); a cancel requested
while the submit is ambiguous is *deferred* (SUBMITTED → SUBMITTED, :attr:`Order.needs_cancel`
turns true once the order is acknowledged); failed cancel (PENDING_CANCEL → OPEN /
PARTIALLY_FILLED); self-transitions record facts that do not change the state (another partial
fill, a trade status change, a repeated cancel request).

Rules for facts that race
-------------------------
* **Late fills are never lost.** A fill (or a higher cumulative ``size_matched``) for a
  terminal order is recorded. If it completes the size the order becomes FILLED — nothing was
  left to cancel, expire or reject — otherwise the state stays (the rest really is gone).
* **Stale answers are absorbed.** A venue answer that arrives after the order already moved
  on (an ack for an order a user event already acknowledged, a cancel answer for an order that
  has meanwhile filled) applies its quantities and is otherwise a no-op. A fact that
  contradicts the table (``rejected`` for an acknowledged order, any venue fact for a PENDING
  order, a command in the wrong state) raises :class:`InvalidTransition`; the order is left
  exactly as it was and nothing is published.
* **Quantities are cumulative, never double counted.** ``matched_total`` is the larger of the
  venue's cumulative ``size_matched`` and the sum of the fills seen from trades; a lower or
  repeated cumulative value is ignored. Fills are keyed by ``(trade_id, order_id)``.
* **Fills are provisional until CONFIRMED.** Trade status moves MATCHED → MINED → CONFIRMED
  (RETRYING may go back to MINED); repeats and out-of-order older statuses are ignored; a
  FAILED trade voids its fill: ``filled_size`` drops and ``voided_size`` records it. The venue
  does not put voided size back on the book, so voiding never reopens an order.

Venue error taxonomy → method: definitive reject, rate limited, geoblocked, auth, venue
unavailable → :meth:`Order.rejected`; ambiguous → :meth:`Order.submit_ambiguous`; nothing
sent (e.g. connection refused) → :meth:`Order.send_failed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any, Final

from polyexec.core.models import Fill, OrderType, TimestampMs, TradeStatus
from polyexec.core.order_fills import fill_from_dict, fill_to_dict

__all__ = [
    "IN_FLIGHT_STATES",
    "OPEN_STATES",
    "ORDER_TRANSITIONS",
    "TERMINAL_STATES",
    "TRADE_STATUS_SUCCESSORS",
    "WORKING_STATES",
    "InconsistentVenueData",
    "InvalidTransition",
    "OrderEventBus",
    "OrderState",
    "OrderStateError",
    "OrderSubscriber",
    "OrderTransition",
    "PlacementStatus",
    "StatusImplication",
    "implication_of",
    "normalise_venue_status",
    "state_implied_by",
]


class OrderState(StrEnum):
    """Where an order is in its life. See the module documentation for each state's meaning."""

    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """The order's life on the venue is over (late fills can still be recorded)."""
        return self in TERMINAL_STATES

    @property
    def is_in_flight(self) -> bool:
        """A command (submit or cancel) awaits the venue's answer."""
        return self in IN_FLIGHT_STATES

    @property
    def is_working(self) -> bool:
        """Acknowledged by the venue and (as far as we know) resting on the book."""
        return self in WORKING_STATES

    @property
    def is_open(self) -> bool:
        """Sent and not terminal: the venue may still fill it, so it counts as exposure."""
        return self in OPEN_STATES


_S = OrderState
TERMINAL_STATES: Final = frozenset({_S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED, _S.FAILED})
IN_FLIGHT_STATES: Final = frozenset({_S.SUBMITTED, _S.PENDING_CANCEL})
WORKING_STATES: Final = frozenset({_S.OPEN, _S.PARTIALLY_FILLED, _S.PENDING_CANCEL})
OPEN_STATES: Final = WORKING_STATES | {_S.SUBMITTED}

# Rendered as the matrix in the module docstring; tests/core/test_order_state.py keeps the two equal.
ORDER_TRANSITIONS: Final[Mapping[OrderState, frozenset[OrderState]]] = MappingProxyType(
    {
        _S.PENDING: frozenset({_S.SUBMITTED, _S.CANCELLED, _S.FAILED}),
        _S.SUBMITTED: frozenset(
            {_S.SUBMITTED, _S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED}
            | {_S.CANCELLED, _S.REJECTED, _S.EXPIRED, _S.FAILED}
        ),
        _S.OPEN: frozenset(
            {_S.PARTIALLY_FILLED, _S.PENDING_CANCEL, _S.FILLED, _S.CANCELLED, _S.EXPIRED, _S.FAILED}
        ),
        _S.PARTIALLY_FILLED: frozenset(
            {_S.PARTIALLY_FILLED, _S.PENDING_CANCEL, _S.FILLED, _S.CANCELLED, _S.EXPIRED, _S.FAILED}
        ),
        _S.PENDING_CANCEL: frozenset(
            {_S.PENDING_CANCEL, _S.OPEN, _S.PARTIALLY_FILLED, _S.FILLED}
            | {_S.CANCELLED, _S.EXPIRED, _S.FAILED}
        ),
        _S.FILLED: frozenset({_S.FILLED, _S.FAILED}),
        _S.CANCELLED: frozenset({_S.CANCELLED, _S.FILLED}),
        _S.REJECTED: frozenset({_S.REJECTED, _S.FILLED}),
        _S.EXPIRED: frozenset({_S.EXPIRED, _S.FILLED}),
        _S.FAILED: frozenset({_S.FAILED, _S.FILLED}),
    }
)
"""Every allowed ``from → to`` move; anything else raises :class:`InvalidTransition`."""

# RETRYING can go back to MINED because the operator resubmits the settlement transaction.
TRADE_STATUS_SUCCESSORS: Final[Mapping[TradeStatus, frozenset[TradeStatus]]] = MappingProxyType(
    {
        TradeStatus.MATCHED: frozenset(
            {TradeStatus.MINED, TradeStatus.RETRYING, TradeStatus.CONFIRMED, TradeStatus.FAILED}
        ),
        TradeStatus.MINED: frozenset({TradeStatus.RETRYING, TradeStatus.CONFIRMED, TradeStatus.FAILED}),
        TradeStatus.RETRYING: frozenset({TradeStatus.MINED, TradeStatus.CONFIRMED, TradeStatus.FAILED}),
        TradeStatus.CONFIRMED: frozenset(),
        TradeStatus.FAILED: frozenset(),
    }
)
"""Trade settlement: the statuses that may follow each one. Anything else for a fill whose trade
is not final is a repeat or an older status delivered late, and is ignored."""


class PlacementStatus(StrEnum):
    """``status`` of a successful ``POST /order`` answer (protocol §2.4)."""

    LIVE = "live"
    MATCHED = "matched"
    DELAYED = "delayed"
    UNMATCHED = "unmatched"

    @classmethod
    def parse(cls, raw: str) -> PlacementStatus:
        """Case-insensitive; ``ValueError`` naming the value for anything else."""
        try:
            return cls(raw.strip().lower())
        except ValueError:
            raise ValueError(f"unknown placement status {raw!r}") from None


class OrderStateError(Exception):
    """Base of the errors the state machine raises. When one is raised the order is exactly
    as it was before the call and nothing was published."""


class InvalidTransition(OrderStateError):
    """A fact or command that the transition table does not allow in the order's state."""

    def __init__(self, order_id: str, from_state: OrderState, to_state: OrderState | None, action: str):
        self.order_id = order_id
        self.from_state = from_state
        self.to_state = to_state
        self.action = action
        target = f" (to {to_state})" if to_state is not None else ""
        super().__init__(f"order {order_id}: {action} not allowed in state {from_state}{target}")


class InconsistentVenueData(OrderStateError):
    """A venue fact that cannot be true for this order: matched beyond its size, another token
    or side, a trade status that contradicts a final one. ``fill`` is the fill that could not be
    recorded, if any, so the caller can still book it and alert rather than lose it."""

    def __init__(self, order_id: str, problem: str, fill: Fill | None = None):
        self.order_id = order_id
        self.problem = problem
        self.fill = fill
        super().__init__(f"order {order_id}: {problem}")


@dataclass(frozen=True, slots=True)
class OrderTransition:
    """One entry of an order's audit trail, also what subscribers receive.

    ``seq`` counts the order's transitions from 1. ``action`` names the fact applied (the
    method: ``accepted``, ``fill``, ``trade_status``, …); ``cause`` is the caller's reason.
    ``fill`` is the fill this transition recorded or changed, if any. ``from_state`` equals
    ``to_state`` for facts that do not change the state (another partial fill, a trade status).
    """

    order_id: str
    seq: int
    timestamp_ms: TimestampMs
    from_state: OrderState
    to_state: OrderState
    action: str
    cause: str
    fill: Fill | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record (Decimals as strings), e.g. for an audit log; see :meth:`from_dict`."""
        return {
            "order_id": self.order_id,
            "seq": self.seq,
            "timestamp_ms": self.timestamp_ms,
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "action": self.action,
            "cause": self.cause,
            "fill": None if self.fill is None else fill_to_dict(self.fill),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderTransition:
        """Rebuild a transition saved by :meth:`to_dict`. A malformed record raises the
        ``KeyError`` / ``TypeError`` / ``ValueError`` of the field that is wrong."""
        fill = data["fill"]
        return cls(
            order_id=str(data["order_id"]),
            seq=int(data["seq"]),
            timestamp_ms=int(data["timestamp_ms"]),
            from_state=OrderState(data["from_state"]),
            to_state=OrderState(data["to_state"]),
            action=str(data["action"]),
            cause=str(data["cause"]),
            fill=None if fill is None else fill_from_dict(fill),
        )


OrderSubscriber = Callable[[OrderTransition], None]
"""A callback that receives every :class:`OrderTransition` as it happens."""


class OrderEventBus:
    """Delivers each transition to every subscriber, in subscription order.

    A subscriber that raises cannot break the state machine or starve the others: the error is
    counted in :attr:`subscriber_errors`, kept in :attr:`last_error`, and delivery goes on.
    Transitions are published once the whole fact has been applied, so a subscriber sees the
    order in its final state. A subscriber should queue follow-up commands rather than apply
    them to the order from inside the callback, or deliveries would interleave.
    """

    def __init__(self) -> None:
        self._subscribers: list[OrderSubscriber] = []
        self.published = 0
        self.subscriber_errors = 0
        self.last_error: Exception | None = None

    def subscribe(self, subscriber: OrderSubscriber) -> Callable[[], None]:
        """Add ``subscriber``; returns a function that removes it again."""
        self._subscribers.append(subscriber)
        return lambda: self.unsubscribe(subscriber)

    def unsubscribe(self, subscriber: OrderSubscriber) -> None:
        """Remove ``subscriber``; removing one that is not subscribed is a no-op."""
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def publish(self, transition: OrderTransition) -> None:
        """Deliver ``transition`` to every subscriber (the order calls this, not the engine)."""
        self.published += 1
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(transition)
            except Exception as exc:  # a subscriber's bug must not corrupt order handling
                self.subscriber_errors += 1
                self.last_error = exc


# --- venue order statuses ---------------------------------------------------------------------


class StatusImplication(Enum):
    """What a venue order status says about the order's state (quantities aside)."""

    NOTHING = 0
    ACK = 1  # accepted: LIVE, DELAYED, MATCHED
    UNMATCHED = 2  # accepted, nothing matched: a FAK/FOK is dead, a GTC/GTD rests
    CANCEL = 3
    EXPIRE = 4
    INVALID = 5  # REJECTED if never acknowledged, CANCELLED if it was working


_STATUS_IMPLIES: Final[Mapping[str, StatusImplication]] = MappingProxyType(
    {
        "LIVE": StatusImplication.ACK,
        "DELAYED": StatusImplication.ACK,
        "MATCHED": StatusImplication.ACK,
        "UNMATCHED": StatusImplication.UNMATCHED,
        "CANCELED_EXPIRED_ORDER": StatusImplication.EXPIRE,
        "INVALID": StatusImplication.INVALID,
    }
)


def normalise_venue_status(raw: str) -> str:
    """The venue's order status in one spelling: WS statuses are bare (``LIVE``), REST ones are
    prefixed (``ORDER_STATUS_LIVE``); both become ``LIVE``."""
    return raw.strip().upper().removeprefix("ORDER_STATUS_")


def implication_of(status: str, *, cancellation: bool) -> StatusImplication:
    """What a **normalised** venue status implies. Every ``CANCELED…`` status cancels (the set
    grows), except ``CANCELED_EXPIRED_ORDER``, which expires; an unknown status implies nothing.
    ``cancellation`` (a CANCELLATION order event) cancels whatever the status, unless it says
    the order expired."""
    implied = _STATUS_IMPLIES.get(status)
    if implied is None:
        # CANCELED, CANCELED_MARKET_RESOLVED, CANCELED_NOT_ENOUGH_BALANCE, ...: the set grows.
        cancelled = status.startswith(("CANCELED", "CANCELLED"))
        implied = StatusImplication.CANCEL if cancelled else StatusImplication.NOTHING
    if cancellation and implied is not StatusImplication.EXPIRE:
        return StatusImplication.CANCEL
    return implied


def state_implied_by(implied: StatusImplication, state: OrderState, order_type: OrderType) -> OrderState:
    """The state a sent order in ``state`` moves to on a venue status implying ``implied``;
    ``state`` itself when the news changes nothing.

    A terminal order ignores status news (its quantities still apply: see the module rules).
    UNMATCHED kills a FAK/FOK and acknowledges a GTC/GTD; an acknowledgement only moves a
    SUBMITTED order (to OPEN); CANCEL and EXPIRE end any working or in-flight order; INVALID is
    a rejection before any acknowledgement and a cancellation by the venue after one.
    """
    if state.is_terminal or implied is StatusImplication.NOTHING:
        return state
    if implied is StatusImplication.UNMATCHED:
        cancelled = order_type.is_marketable_only
        implied = StatusImplication.CANCEL if cancelled else StatusImplication.ACK
    if implied is StatusImplication.ACK:
        return _S.OPEN if state is _S.SUBMITTED else state
    if implied is StatusImplication.CANCEL:
        return _S.CANCELLED
    if implied is StatusImplication.EXPIRE:
        return _S.EXPIRED
    return _S.REJECTED if state is _S.SUBMITTED else _S.CANCELLED  # INVALID
