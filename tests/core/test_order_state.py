"""Tests for the order state machine's vocabulary (src/polyexec/core/order_state.py): the states,
the written transition table, placement and venue statuses, the errors, the audit-trail entry and
the event bus."""

from __future__ import annotations

import json
import re

import pytest

from polyexec.core import order_state
from polyexec.core.models import OrderType, TradeStatus
from polyexec.core.order_state import (
    IN_FLIGHT_STATES,
    OPEN_STATES,
    ORDER_TRANSITIONS,
    TERMINAL_STATES,
    TRADE_STATUS_SUCCESSORS,
    WORKING_STATES,
    InconsistentVenueData,
    InvalidTransition,
    OrderEventBus,
    OrderState,
    OrderStateError,
    OrderTransition,
    PlacementStatus,
    StatusImplication,
    implication_of,
    normalise_venue_status,
    state_implied_by,
)
from tests.core.order_factories import S, live_order, make_fill, make_order

Imp = StatusImplication

# --- the table -------------------------------------------------------------------------------


def test_docstring_matrix_matches_transition_table() -> None:
    doc = order_state.__doc__ or ""
    header = re.search(r"^ *from \\ to +(.+)$", doc, re.MULTILINE)
    assert header is not None
    columns = header.group(1).split()
    assert len(columns) == len(OrderState)
    documented: dict[OrderState, frozenset[OrderState]] = {}
    for state in OrderState:
        row = re.search(rf"^ *{state.value} +([.x ]+)$", doc, re.MULTILINE)
        assert row is not None, state
        marks = row.group(1).split()
        documented[state] = frozenset(to for to, mark in zip(OrderState, marks, strict=True) if mark == "x")
    assert documented == dict(ORDER_TRANSITIONS)


def test_terminal_states_only_record_late_fills_or_voids() -> None:
    for state in TERMINAL_STATES:
        assert ORDER_TRANSITIONS[state] <= {state, S.FILLED, S.FAILED}
        assert state in ORDER_TRANSITIONS[state]
    assert S.PENDING not in set().union(*ORDER_TRANSITIONS.values())


def test_state_classification() -> None:
    assert {s for s in OrderState if s.is_terminal} == TERMINAL_STATES
    assert {s for s in OrderState if s.is_in_flight} == {S.SUBMITTED, S.PENDING_CANCEL} == IN_FLIGHT_STATES
    assert {s for s in OrderState if s.is_working} == {S.OPEN, S.PARTIALLY_FILLED, S.PENDING_CANCEL}
    assert {s for s in OrderState if s.is_open} == OPEN_STATES == WORKING_STATES | {S.SUBMITTED}
    assert not TERMINAL_STATES & OPEN_STATES
    assert not S.PENDING.is_open


def test_trade_settlement_successors() -> None:
    assert TRADE_STATUS_SUCCESSORS[TradeStatus.CONFIRMED] == frozenset()
    assert TRADE_STATUS_SUCCESSORS[TradeStatus.FAILED] == frozenset()
    assert TradeStatus.MINED in TRADE_STATUS_SUCCESSORS[TradeStatus.RETRYING]  # resubmitted on chain
    assert TradeStatus.MATCHED not in set().union(*TRADE_STATUS_SUCCESSORS.values())
    for status, successors in TRADE_STATUS_SUCCESSORS.items():
        assert status not in successors  # a repeat is never a move


# --- placement and venue statuses ------------------------------------------------------------


def test_placement_status_parse_names_unknown_values() -> None:
    assert PlacementStatus.parse(" Matched ") is PlacementStatus.MATCHED
    with pytest.raises(ValueError, match="'resting'"):
        PlacementStatus.parse("resting")


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("LIVE", "LIVE"), (" order_status_live ", "LIVE"), ("ORDER_STATUS_CANCELED", "CANCELED"), ("x", "X")],
)
def test_venue_status_spellings_are_normalised(raw: str, normalised: str) -> None:
    assert normalise_venue_status(raw) == normalised


@pytest.mark.parametrize(
    ("status", "cancellation", "expected"),
    [
        ("LIVE", False, Imp.ACK),
        ("DELAYED", False, Imp.ACK),
        ("MATCHED", False, Imp.ACK),
        ("UNMATCHED", False, Imp.UNMATCHED),
        ("CANCELED", False, Imp.CANCEL),
        ("CANCELED_NOT_ENOUGH_BALANCE", False, Imp.CANCEL),
        ("CANCELLED", False, Imp.CANCEL),
        ("CANCELED_EXPIRED_ORDER", False, Imp.EXPIRE),
        ("CANCELED_EXPIRED_ORDER", True, Imp.EXPIRE),
        ("INVALID", False, Imp.INVALID),
        ("SOMETHING_NEW", False, Imp.NOTHING),
        ("LIVE", True, Imp.CANCEL),
        ("SOMETHING_NEW", True, Imp.CANCEL),
    ],
)
def test_what_a_venue_status_implies(status: str, cancellation: bool, expected: StatusImplication) -> None:
    assert implication_of(status, cancellation=cancellation) is expected


@pytest.mark.parametrize(
    ("implied", "state", "order_type", "expected"),
    [
        (Imp.ACK, S.SUBMITTED, OrderType.GTC, S.OPEN),
        (Imp.ACK, S.PARTIALLY_FILLED, OrderType.GTC, S.PARTIALLY_FILLED),
        (Imp.ACK, S.PENDING_CANCEL, OrderType.GTC, S.PENDING_CANCEL),
        (Imp.UNMATCHED, S.SUBMITTED, OrderType.GTD, S.OPEN),
        (Imp.UNMATCHED, S.SUBMITTED, OrderType.FOK, S.CANCELLED),
        (Imp.UNMATCHED, S.SUBMITTED, OrderType.FAK, S.CANCELLED),
        (Imp.CANCEL, S.PENDING_CANCEL, OrderType.GTC, S.CANCELLED),
        (Imp.EXPIRE, S.OPEN, OrderType.GTD, S.EXPIRED),
        (Imp.INVALID, S.SUBMITTED, OrderType.GTC, S.REJECTED),
        (Imp.INVALID, S.OPEN, OrderType.GTC, S.CANCELLED),
        (Imp.NOTHING, S.OPEN, OrderType.GTC, S.OPEN),
        (Imp.CANCEL, S.FILLED, OrderType.GTC, S.FILLED),
        (Imp.ACK, S.CANCELLED, OrderType.GTC, S.CANCELLED),
    ],
)
def test_state_implied_by_a_status(
    implied: StatusImplication, state: OrderState, order_type: OrderType, expected: OrderState
) -> None:
    assert state_implied_by(implied, state, order_type) is expected


def test_every_state_a_status_implies_is_allowed_by_the_table() -> None:
    for state in OrderState:
        if state is S.PENDING:
            continue  # venue news for an order never sent is refused before any implication
        for implied in StatusImplication:
            for order_type in OrderType:
                target = state_implied_by(implied, state, order_type)
                assert target is state or target in ORDER_TRANSITIONS[state], (state, implied, order_type)


# --- errors and the audit-trail entry ------------------------------------------------------------


def test_errors_name_the_order_and_the_problem() -> None:
    refused = InvalidTransition("0xabc", S.OPEN, S.SUBMITTED, "submitted")
    assert str(refused) == "order 0xabc: submitted not allowed in state OPEN (to SUBMITTED)"
    assert str(InvalidTransition("0xabc", S.SUBMITTED, None, "cancel_failed")).endswith("state SUBMITTED")
    order = live_order()
    fill = make_fill(order, "t1", "3")
    inconsistent = InconsistentVenueData(order.order_id, "fill of 3 beyond size", fill)
    assert inconsistent.fill is fill
    assert inconsistent.problem == "fill of 3 beyond size"
    assert isinstance(refused, OrderStateError)
    assert isinstance(inconsistent, OrderStateError)


def test_transition_record_round_trips_through_json() -> None:
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "2.5", fee="0.04375"), now_ms=1_500, cause="trade t1")
    transition = order.transitions[-1]
    record = json.loads(json.dumps(transition.to_dict()))
    assert record["fill"]["size"] == "2.5"
    assert record["to_state"] == "PARTIALLY_FILLED"
    assert OrderTransition.from_dict(record) == transition
    without_fill = order.transitions[0]
    assert OrderTransition.from_dict(json.loads(json.dumps(without_fill.to_dict()))) == without_fill


# --- the bus ---------------------------------------------------------------------------------------


def test_subscriber_exception_is_counted_and_delivery_continues() -> None:
    bus = OrderEventBus()
    received: list[OrderTransition] = []

    def broken(transition: OrderTransition) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(broken)
    bus.subscribe(received.append)
    order = make_order(bus=bus)
    order.submitted(now_ms=2)
    order.accepted("live", now_ms=3)
    assert order.state is S.OPEN
    assert len(order.transitions) == 2
    assert received == order.transitions
    assert bus.subscriber_errors == 2
    assert isinstance(bus.last_error, RuntimeError)
    assert bus.published == 2


def test_unsubscribe_stops_delivery() -> None:
    bus = OrderEventBus()
    received: list[OrderTransition] = []
    unsubscribe = bus.subscribe(received.append)
    order = make_order(bus=bus)
    order.submitted(now_ms=2)
    unsubscribe()
    order.accepted("live", now_ms=3)
    assert len(received) == 1
