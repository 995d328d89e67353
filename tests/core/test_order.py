"""Tests for the Order state machine (src/polyexec/core/order.py): every command, venue answer
and venue fact, the rules for facts that race, and a stateful property test."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from polyexec.core.events import UserOrderEventKind
from polyexec.core.models import OrderType, Side, TradeStatus
from polyexec.core.order import Order
from polyexec.core.order_state import (
    ORDER_TRANSITIONS,
    InconsistentVenueData,
    InvalidTransition,
    OrderEventBus,
    OrderState,
    OrderTransition,
    PlacementStatus,
)
from tests.core.order_factories import (
    ORDER_ID,
    OTHER_ORDER_ID,
    OTHER_TOKEN_ID,
    D,
    S,
    live_order,
    make_fill,
    make_order,
    moves,
    order_event,
)

# --- construction ----------------------------------------------------------------------------


def test_order_rejects_nonsense_intent() -> None:
    with pytest.raises(ValueError, match="price"):
        make_order(price="1.2")
    with pytest.raises(ValueError, match="size"):
        make_order(size="0")


# --- commands and direct answers ---------------------------------------------------------------


def test_happy_path_is_audited_and_published_in_order() -> None:
    bus = OrderEventBus()
    seen: list[OrderTransition] = []
    bus.subscribe(seen.append)
    order = make_order(bus=bus)
    assert order.state is S.PENDING
    assert order.remaining_size == D(10)
    order.submitted(now_ms=1_001, cause="POST /order")
    order.accepted("live", now_ms=1_005, cause="200 live")
    order.apply_fill(make_fill(order, "t1", "4"), now_ms=1_010, cause="trade t1")
    order.apply_fill(make_fill(order, "t2", "6"), now_ms=1_020, cause="trade t2")
    expected = [
        (S.PENDING, S.SUBMITTED),
        (S.SUBMITTED, S.OPEN),
        (S.OPEN, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.FILLED),
    ]
    assert [(t.from_state, t.to_state) for t in order.transitions] == expected
    assert seen == order.transitions
    assert [t.seq for t in order.transitions] == [1, 2, 3, 4]
    assert [t.cause for t in order.transitions] == ["POST /order", "200 live", "trade t1", "trade t2"]
    assert order.state is S.FILLED
    assert order.filled_size == D(10)
    assert order.remaining_size == 0
    assert order.updated_ms == 1_020
    assert order.state_entered_ms == 1_020
    assert order.transitions[2].fill is not None
    assert order.transitions[2].fill.strategy == "FV"


def test_command_in_wrong_state_raises_and_changes_nothing() -> None:
    bus = OrderEventBus()
    seen: list[OrderTransition] = []
    bus.subscribe(seen.append)
    order = live_order(bus=bus)
    before, published = order.to_dict(), len(seen)
    with pytest.raises(InvalidTransition) as info:
        order.submitted(now_ms=5_000)
    assert info.value.from_state is S.OPEN
    assert info.value.action == "submitted"
    with pytest.raises(InvalidTransition):
        order.rejected("late", now_ms=5_000)
    with pytest.raises(InvalidTransition):
        order.send_failed("late", now_ms=5_000)
    assert order.to_dict() == before
    assert len(seen) == published


def test_venue_facts_for_an_order_never_sent_are_invalid() -> None:
    order = make_order()
    before = order.to_dict()
    for apply in (
        lambda: order.accepted("live", now_ms=2),
        lambda: order.apply_order_event(order_event(order, "LIVE", "0"), now_ms=2),
        lambda: order.apply_fill(make_fill(order, "t1", "1"), now_ms=2),
        lambda: order.cancel_confirmed(now_ms=2),
        lambda: order.expired(now_ms=2),
        lambda: order.submit_ambiguous(now_ms=2),
    ):
        with pytest.raises(InvalidTransition):
            apply()
    assert order.to_dict() == before


def test_send_failed_before_any_byte_is_failed_not_rejected() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    assert moves(order.send_failed("connection refused", now_ms=3)) == [(S.SUBMITTED, S.FAILED)]
    assert order.failure_reason == "connection refused"
    assert order.reject_reason == ""


def test_definitive_reject_and_its_repeat() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    assert moves(order.rejected("not enough balance / allowance", now_ms=3)) == [(S.SUBMITTED, S.REJECTED)]
    assert order.rejected("again", now_ms=4) == ()
    assert order.reject_reason == "not enough balance / allowance"


def test_cancel_before_send_cancels_locally() -> None:
    order = make_order()
    assert moves(order.cancel_requested(now_ms=2)) == [(S.PENDING, S.CANCELLED)]
    with pytest.raises(InvalidTransition):
        order.cancel_requested(now_ms=3)


# --- ambiguous submits -----------------------------------------------------------------------


def test_ambiguous_submit_stays_in_flight_until_a_user_event_acknowledges() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    assert moves(order.submit_ambiguous(now_ms=30_000, cause="timeout")) == [(S.SUBMITTED, S.SUBMITTED)]
    order.submit_ambiguous(now_ms=31_000, cause="retry timed out")
    assert order.state is S.SUBMITTED
    assert order.ambiguous_since_ms == 30_000
    made = order.apply_order_event(
        order_event(order, "LIVE", "0", kind=UserOrderEventKind.PLACEMENT), now_ms=32_000
    )
    assert moves(made) == [(S.SUBMITTED, S.OPEN)]
    assert order.ambiguous_since_ms is None
    assert order.venue_status == "LIVE"


def test_ambiguous_fak_resolved_by_placement_and_cancellation_events() -> None:
    order = make_order(order_type=OrderType.FAK)
    order.submitted(now_ms=2)
    order.submit_ambiguous(now_ms=3)
    placement = order.apply_order_event(
        order_event(order, "MATCHED", "3", kind=UserOrderEventKind.PLACEMENT), now_ms=4
    )
    killed = order.apply_order_event(
        order_event(order, "CANCELED", "3", kind=UserOrderEventKind.CANCELLATION), now_ms=5
    )
    assert moves(placement) == [(S.SUBMITTED, S.PARTIALLY_FILLED)]
    assert moves(killed) == [(S.PARTIALLY_FILLED, S.CANCELLED)]
    assert order.filled_size == D(3)
    assert order.remaining_size == 0


def test_ambiguous_submit_unknown_to_the_venue_fails() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    order.submit_ambiguous(now_ms=3)
    assert moves(order.resolve_unknown(None, now_ms=60_000, cause="GET /data/order 404")) == [
        (S.SUBMITTED, S.FAILED)
    ]
    assert order.failure_reason == "unknown to the venue"
    assert order.resolve_unknown(None, now_ms=60_001) == ()


def test_ambiguous_outcome_after_the_venue_answered_is_absorbed() -> None:
    order = live_order()
    assert order.submit_ambiguous(now_ms=5) == ()
    assert order.state is S.OPEN
    assert order.ambiguous_since_ms is None


# --- placement answers and fills before ack ------------------------------------------------------


@pytest.mark.parametrize(
    ("order_type", "side", "status", "making", "taking", "expected", "filled"),
    [
        (OrderType.GTC, Side.BUY, "live", None, None, S.OPEN, "0"),
        (OrderType.GTC, Side.BUY, "DELAYED", None, None, S.OPEN, "0"),
        (OrderType.GTC, Side.BUY, "unmatched", None, None, S.OPEN, "0"),
        (OrderType.FOK, Side.BUY, "unmatched", None, None, S.CANCELLED, "0"),
        (OrderType.GTC, Side.BUY, "matched", "2.08", "4", S.PARTIALLY_FILLED, "4"),
        (OrderType.FAK, Side.BUY, "matched", "2.08", "4", S.CANCELLED, "4"),
        (OrderType.FOK, Side.BUY, "matched", "5.2", "10", S.FILLED, "10"),
        (OrderType.GTC, Side.SELL, "matched", "4", "2.08", S.PARTIALLY_FILLED, "4"),
    ],
)
def test_placement_answers(
    order_type: OrderType,
    side: Side,
    status: str,
    making: str | None,
    taking: str | None,
    expected: OrderState,
    filled: str,
) -> None:
    order = make_order(order_type=order_type, side=side)
    order.submitted(now_ms=2)
    order.accepted(
        status,
        now_ms=3,
        making_amount=None if making is None else D(making),
        taking_amount=None if taking is None else D(taking),
    )
    assert order.state is expected
    assert order.filled_size == D(filled)
    assert order.venue_status == status.upper()


def test_fill_before_ack_then_late_ack_only_adds_quantities() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    assert moves(order.apply_fill(make_fill(order, "t1", "4"), now_ms=3)) == [
        (S.SUBMITTED, S.PARTIALLY_FILLED)
    ]
    assert order.accepted("matched", now_ms=4, making_amount=D("2.08"), taking_amount=D("4")) == ()
    assert order.accepted("live", now_ms=5) == ()
    assert order.state is S.PARTIALLY_FILLED
    assert order.filled_size == D(4)


def test_fill_before_ack_completing_the_size_fills() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    assert moves(order.apply_fill(make_fill(order, "t1", "10"), now_ms=3)) == [(S.SUBMITTED, S.FILLED)]


# --- cancels ---------------------------------------------------------------------------------


def test_cancel_while_submit_is_ambiguous_is_deferred_until_acknowledged() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    order.submit_ambiguous(now_ms=3)
    assert moves(order.cancel_requested(now_ms=4, cause="window closing")) == [(S.SUBMITTED, S.SUBMITTED)]
    assert order.transitions[-1].action == "cancel_deferred"
    assert order.cancel_requested(now_ms=5) == ()  # already deferred
    assert order.cancel_deferred
    assert not order.needs_cancel
    order.apply_order_event(order_event(order, "LIVE", "0"), now_ms=6)
    assert order.state is S.OPEN
    assert order.needs_cancel
    assert moves(order.cancel_requested(now_ms=7)) == [(S.OPEN, S.PENDING_CANCEL)]
    assert not order.cancel_deferred
    assert not order.needs_cancel


def test_deferred_cancel_is_moot_once_the_venue_rejects() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    order.cancel_requested(now_ms=3)
    order.rejected("invalid post-only order: order crosses book", now_ms=4)
    assert not order.needs_cancel


def test_cancel_confirmed_and_repeat_requests() -> None:
    order = live_order()
    order.cancel_requested(now_ms=3)
    assert moves(order.cancel_requested(now_ms=4)) == [(S.PENDING_CANCEL, S.PENDING_CANCEL)]
    assert moves(order.cancel_confirmed(now_ms=5)) == [(S.PENDING_CANCEL, S.CANCELLED)]
    assert order.cancel_confirmed(now_ms=6) == ()
    with pytest.raises(InvalidTransition):
        order.cancel_requested(now_ms=7)


@pytest.mark.parametrize(("matched", "back_to"), [("0", S.OPEN), ("4", S.PARTIALLY_FILLED)])
def test_failed_cancel_returns_to_working(matched: str, back_to: OrderState) -> None:
    order = live_order()
    if matched != "0":
        order.apply_fill(make_fill(order, "t1", matched), now_ms=3)
    order.cancel_requested(now_ms=4)
    assert moves(order.cancel_failed("Order already matched", now_ms=5)) == [(S.PENDING_CANCEL, back_to)]
    assert order.cancel_failure_reason == "Order already matched"
    assert order.cancel_failed("again", now_ms=6) == ()


def test_fill_while_cancel_pending_keeps_cancel_pending_until_complete() -> None:
    order = live_order()
    order.cancel_requested(now_ms=3)
    assert moves(order.apply_fill(make_fill(order, "t1", "4"), now_ms=4)) == [
        (S.PENDING_CANCEL, S.PENDING_CANCEL)
    ]
    assert moves(order.apply_fill(make_fill(order, "t2", "6"), now_ms=5)) == [(S.PENDING_CANCEL, S.FILLED)]
    # the cancel's answer lost the race: ignored either way
    assert order.cancel_failed("Order already matched", now_ms=6) == ()
    assert order.cancel_confirmed(now_ms=6) == ()
    assert order.state is S.FILLED


def test_cancel_failed_without_a_sent_order_is_invalid() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    with pytest.raises(InvalidTransition):
        order.cancel_failed("Order not found or already canceled", now_ms=3)


# --- late fills --------------------------------------------------------------------------------


def test_late_partial_fill_after_cancel_is_recorded_and_stays_cancelled() -> None:
    order = live_order()
    order.cancel_requested(now_ms=3)
    order.cancel_confirmed(now_ms=4)
    made = order.apply_fill(make_fill(order, "t1", "3"), now_ms=5)
    assert moves(made) == [(S.CANCELLED, S.CANCELLED)]
    assert made[0].fill is not None
    assert made[0].fill.trade_id == "t1"
    assert order.filled_size == D(3)
    assert order.remaining_size == 0


def test_late_fill_completing_the_size_after_cancel_becomes_filled() -> None:
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "4"), now_ms=3)
    order.cancel_requested(now_ms=4)
    order.cancel_confirmed(now_ms=5)
    assert moves(order.apply_fill(make_fill(order, "t2", "6"), now_ms=6)) == [(S.CANCELLED, S.FILLED)]


def test_late_fill_by_cumulative_count_after_expiry() -> None:
    order = live_order()
    order.expired(now_ms=3)
    assert moves(order.apply_order_event(order_event(order, "MATCHED", "2"), now_ms=4)) == [
        (S.EXPIRED, S.EXPIRED)
    ]
    assert moves(order.apply_order_event(order_event(order, "LIVE", "10"), now_ms=5)) == [
        (S.EXPIRED, S.FILLED)
    ]
    assert order.filled_size == D(10)


# --- cumulative size_matched ---------------------------------------------------------------------


def test_cumulative_size_matched_ignores_lower_and_repeated_values() -> None:
    order = live_order()
    assert moves(order.apply_order_event(order_event(order, "MATCHED", "5"), now_ms=3)) == [
        (S.OPEN, S.PARTIALLY_FILLED)
    ]
    assert order.apply_order_event(order_event(order, "MATCHED", "3"), now_ms=4) == ()  # out of order
    assert order.apply_order_event(order_event(order, "MATCHED", "5"), now_ms=5) == ()  # duplicate
    assert order.filled_size == D(5)
    assert order.venue_size_matched == D(5)
    order.apply_order_event(order_event(order, "MATCHED", "7"), now_ms=6)
    assert order.filled_size == D(7)
    assert order.state is S.PARTIALLY_FILLED


def test_cumulative_count_and_trade_fills_are_not_double_counted() -> None:
    order = live_order()
    order.apply_order_event(order_event(order, "MATCHED", "4"), now_ms=3)
    made = order.apply_fill(make_fill(order, "t1", "4"), now_ms=4)
    assert moves(made) == [(S.PARTIALLY_FILLED, S.PARTIALLY_FILLED)]
    assert made[0].fill is not None
    assert order.filled_size == D(4)
    order.apply_fill(make_fill(order, "t2", "2"), now_ms=5)
    assert order.apply_order_event(order_event(order, "MATCHED", "6"), now_ms=6) == ()
    assert order.filled_size == D(6)
    assert order.average_fill_price == D("0.52")


def test_size_matched_beyond_the_order_is_refused_without_change() -> None:
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "8"), now_ms=3)
    before = order.to_dict()
    with pytest.raises(InconsistentVenueData):
        order.apply_order_event(order_event(order, "MATCHED", "11"), now_ms=4)
    with pytest.raises(InconsistentVenueData) as info:
        order.apply_fill(make_fill(order, "t2", "3"), now_ms=4)
    assert info.value.fill is not None
    assert info.value.fill.trade_id == "t2"
    assert order.to_dict() == before


def test_order_event_describing_another_order_is_inconsistent() -> None:
    order = live_order()
    with pytest.raises(InconsistentVenueData, match="token"):
        order.apply_order_event(order_event(order, "LIVE", "1", asset_id=OTHER_TOKEN_ID), now_ms=3)
    other = make_order(order_id=OTHER_ORDER_ID)
    with pytest.raises(InconsistentVenueData, match="event for order"):
        order.apply_order_event(order_event(other, "LIVE", "0"), now_ms=3)
    assert order.filled_size == 0
    assert order.state is S.OPEN


@pytest.mark.parametrize(
    ("acknowledged", "status", "kind", "expected"),
    [
        (True, "CANCELED_MARKET_RESOLVED", UserOrderEventKind.UPDATE, S.CANCELLED),
        (True, "CANCELED_EXPIRED_ORDER", UserOrderEventKind.CANCELLATION, S.EXPIRED),
        (True, "LIVE", UserOrderEventKind.CANCELLATION, S.CANCELLED),
        (False, "INVALID", UserOrderEventKind.UPDATE, S.REJECTED),
        (True, "INVALID", UserOrderEventKind.UPDATE, S.CANCELLED),
        (False, "ORDER_STATUS_LIVE", UserOrderEventKind.UPDATE, S.OPEN),
        (False, "DELAYED", UserOrderEventKind.PLACEMENT, S.OPEN),
        (True, "SOMETHING_NEW", UserOrderEventKind.UPDATE, S.OPEN),
    ],
)
def test_order_event_statuses(
    acknowledged: bool, status: str, kind: UserOrderEventKind, expected: OrderState
) -> None:
    order = live_order() if acknowledged else make_order()
    if not acknowledged:
        order.submitted(now_ms=2)
    order.apply_order_event(order_event(order, status, "0", kind=kind), now_ms=3)
    assert order.state is expected
    assert order.venue_status == status.removeprefix("ORDER_STATUS_")


def test_stale_status_for_a_terminal_order_is_ignored() -> None:
    order = live_order()
    order.cancel_requested(now_ms=3)
    order.cancel_confirmed(now_ms=4)
    assert order.apply_order_event(order_event(order, "LIVE", "0"), now_ms=5) == ()
    assert order.state is S.CANCELLED


# --- trade settlement and voiding -----------------------------------------------------------------


def test_trade_status_progression_with_duplicates_and_stale_updates() -> None:
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "4"), now_ms=3)
    assert order.apply_trade_status("t1", "MATCHED", now_ms=4) == ()
    assert moves(order.apply_trade_status("t1", "MINED", now_ms=5)) == [
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED)
    ]
    assert order.apply_trade_status("t1", TradeStatus.MINED, now_ms=6) == ()
    assert order.apply_trade_status("t1", "MATCHED", now_ms=7) == ()  # older status, late
    assert order.confirmed_size == 0
    made = order.apply_trade_status("t1", "TRADE_STATUS_CONFIRMED", now_ms=8)
    assert made[0].fill is not None
    assert made[0].fill.status is TradeStatus.CONFIRMED
    assert order.confirmed_size == D(4)
    assert order.filled_size == D(4)
    assert order.apply_trade_status("t1", "CONFIRMED", now_ms=9) == ()


def test_resent_trade_event_updates_status_without_double_counting() -> None:
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "4"), now_ms=3)
    order.apply_fill(make_fill(order, "t1", "4", status=TradeStatus.MINED), now_ms=4)
    order.apply_fill(make_fill(order, "t1", "4", status=TradeStatus.MINED), now_ms=5)
    assert order.filled_size == D(4)
    assert len(order.fills) == 1
    assert order.fills[("t1", ORDER_ID)].status is TradeStatus.MINED


def test_retrying_can_go_back_to_mined_and_on_to_confirmed() -> None:
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "4", status=TradeStatus.MINED), now_ms=3)
    for step, status in enumerate(("RETRYING", "MINED", "CONFIRMED")):
        assert len(order.apply_trade_status("t1", status, now_ms=4 + step)) == 1
    assert order.confirmed_size == D(4)


@pytest.mark.parametrize(("first", "then"), [("CONFIRMED", "FAILED"), ("FAILED", "CONFIRMED")])
def test_status_contradicting_a_final_one_is_inconsistent(first: str, then: str) -> None:
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "4"), now_ms=3)
    order.apply_trade_status("t1", first, now_ms=4)
    before = order.to_dict()
    with pytest.raises(InconsistentVenueData, match="t1"):
        order.apply_trade_status("t1", then, now_ms=5)
    assert order.to_dict() == before


@pytest.mark.parametrize("final", ["CONFIRMED", "FAILED"])
@pytest.mark.parametrize("stale", ["MATCHED", "MINED", "RETRYING"])
def test_older_status_after_a_final_one_is_ignored(final: str, stale: str) -> None:
    # REST polling lags the user channel: MATCHED can arrive after CONFIRMED.
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "4"), now_ms=3)
    order.apply_trade_status("t1", final, now_ms=4)
    before = order.to_dict()
    assert order.apply_trade_status("t1", stale, now_ms=5) == ()
    assert order.to_dict() == before


def test_status_for_an_unknown_trade_is_inconsistent() -> None:
    with pytest.raises(InconsistentVenueData, match="no fill"):
        live_order().apply_trade_status("nope", "MINED", now_ms=3)


def test_failed_trade_voids_its_fill_and_the_rest_keeps_working() -> None:
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "4", price="0.50", fee="0.07"), now_ms=3)
    order.apply_fill(make_fill(order, "t2", "2", price="0.52"), now_ms=4)
    made = order.apply_trade_status("t1", "FAILED", now_ms=5)
    assert moves(made) == [(S.PARTIALLY_FILLED, S.PARTIALLY_FILLED)]
    assert order.filled_size == D(2)
    assert order.voided_size == D(4)
    assert order.matched_total == D(6)
    assert order.remaining_size == D(4)  # the venue does not put voided size back on the book
    assert order.average_fill_price == D("0.52")
    assert order.fees == 0


def test_filled_order_with_every_fill_voided_fails() -> None:
    order = live_order()
    order.apply_fill(make_fill(order, "t1", "4"), now_ms=3)
    order.apply_fill(make_fill(order, "t2", "6"), now_ms=4)
    assert moves(order.apply_trade_status("t1", "FAILED", now_ms=5)) == [(S.FILLED, S.FILLED)]
    assert moves(order.apply_trade_status("t2", "FAILED", now_ms=6)) == [(S.FILLED, S.FAILED)]
    assert order.filled_size == 0
    assert order.voided_size == D(10)
    assert order.confirmed_size == 0


def test_filled_by_count_with_one_unseen_trade_stays_filled_after_a_void() -> None:
    order = live_order()
    order.apply_order_event(order_event(order, "MATCHED", "10"), now_ms=3)
    order.apply_fill(make_fill(order, "t1", "4"), now_ms=4)
    order.apply_trade_status("t1", "FAILED", now_ms=5)
    assert order.state is S.FILLED
    assert order.filled_size == D(6)
    assert order.voided_size == D(4)


def test_fill_first_seen_as_failed_is_recorded_void() -> None:
    order = live_order()
    made = order.apply_fill(make_fill(order, "t1", "10", status=TradeStatus.FAILED), now_ms=3)
    assert moves(made) == [(S.OPEN, S.FILLED), (S.FILLED, S.FAILED)]
    assert order.filled_size == 0
    assert order.voided_size == D(10)


# --- slippage --------------------------------------------------------------------------------


def test_slippage_cost_skips_voided_fills_and_needs_a_reference() -> None:
    order = live_order(reference="0.50")
    order.apply_fill(make_fill(order, "t1", "2", price="0.52"), now_ms=3)
    order.apply_fill(make_fill(order, "t2", "2", price="0.60"), now_ms=4)
    order.apply_trade_status("t2", "FAILED", now_ms=5)
    assert order.slippage_cost == D("0.04")
    unreferenced = live_order(reference=None)
    fill = make_fill(unreferenced, "t1", "2")
    unreferenced.apply_fill(fill, now_ms=3)
    assert unreferenced.slippage(fill) is None
    assert unreferenced.slippage_cost is None


# --- reconciliation --------------------------------------------------------------------------------


def test_reconciling_a_pending_order_found_at_the_venue() -> None:
    order = make_order()  # crashed between signing and recording the send
    made = order.resolve_unknown("ORDER_STATUS_LIVE", now_ms=5, size_matched=D("0"))
    assert moves(made) == [(S.PENDING, S.SUBMITTED), (S.SUBMITTED, S.OPEN)]


def test_reconciling_a_pending_order_unknown_to_the_venue() -> None:
    order = make_order()
    assert moves(order.resolve_unknown(None, now_ms=5)) == [(S.PENDING, S.FAILED)]


@pytest.mark.parametrize(("matched", "back_to"), [("0", S.OPEN), ("3", S.PARTIALLY_FILLED)])
def test_reconciling_a_pending_cancel_found_live(matched: str, back_to: OrderState) -> None:
    order = live_order()
    order.cancel_requested(now_ms=3)
    order.resolve_unknown("LIVE", now_ms=60_000, size_matched=D(matched))
    assert order.state is back_to
    assert order.filled_size == D(matched)


def test_reconciling_finds_a_cancelled_order_with_fills() -> None:
    order = live_order()
    made = order.resolve_unknown("ORDER_STATUS_CANCELED", now_ms=5, size_matched=D("3"))
    assert moves(made) == [(S.OPEN, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.CANCELLED)]


# --- stateful property test -----------------------------------------------------------------------

SIZES = st.integers(min_value=0, max_value=24).map(lambda halves: Decimal(halves) / 2)
VENUE_STATUSES = st.sampled_from(
    ["LIVE", "MATCHED", "DELAYED", "UNMATCHED", "CANCELED", "CANCELED_EXPIRED_ORDER", "INVALID", "WEIRD"]
)
TRADE_STATUSES = st.sampled_from(TradeStatus)


class OrderLifecycle(RuleBasedStateMachine):
    """Random sequences of every fact, valid or not, against one order."""

    @initialize(
        order_type=st.sampled_from(OrderType),
        side=st.sampled_from(Side),
        reference=st.sampled_from(["0.5", None]),
    )
    def create(self, order_type: OrderType, side: Side, reference: str | None) -> None:
        self.bus = OrderEventBus()
        self.published: list[OrderTransition] = []
        self.bus.subscribe(self.published.append)
        self.order = make_order(order_type=order_type, side=side, reference=reference, bus=self.bus)
        self.now = 1_000
        self.trade_ids: list[str] = []

    def apply(self, fact: Callable[[], tuple[OrderTransition, ...]]) -> None:
        self.now += 7
        before = self.order.to_dict()
        audit_before = list(self.order.transitions)
        published_before = len(self.published)
        try:
            made = fact()
        except (InvalidTransition, InconsistentVenueData):
            assert self.order.to_dict() == before, "a refused fact changed the order"
            assert len(self.published) == published_before
            return
        assert self.order.transitions[: len(audit_before)] == audit_before  # history is append-only
        assert self.order.transitions[len(audit_before) :] == list(made)
        assert self.published[published_before:] == list(made)

    @rule()
    def submitted(self) -> None:
        self.apply(lambda: self.order.submitted(now_ms=self.now))

    @rule()
    def send_failed(self) -> None:
        self.apply(lambda: self.order.send_failed("refused", now_ms=self.now))

    @rule()
    def submit_ambiguous(self) -> None:
        self.apply(lambda: self.order.submit_ambiguous(now_ms=self.now))

    @rule(status=st.sampled_from(PlacementStatus), shares=st.none() | SIZES)
    def accepted(self, status: PlacementStatus, shares: Decimal | None) -> None:
        self.apply(
            lambda: self.order.accepted(status, now_ms=self.now, making_amount=shares, taking_amount=shares)
        )

    @rule()
    def rejected(self) -> None:
        self.apply(lambda: self.order.rejected("no", now_ms=self.now))

    @rule()
    def cancel_requested(self) -> None:
        self.apply(lambda: self.order.cancel_requested(now_ms=self.now))

    @rule()
    def cancel_confirmed(self) -> None:
        self.apply(lambda: self.order.cancel_confirmed(now_ms=self.now))

    @rule()
    def cancel_failed(self) -> None:
        self.apply(lambda: self.order.cancel_failed("Order already matched", now_ms=self.now))

    @rule()
    def expired(self) -> None:
        self.apply(lambda: self.order.expired(now_ms=self.now))

    @rule(status=VENUE_STATUSES, size_matched=SIZES, kind=st.sampled_from(UserOrderEventKind))
    def order_event(self, status: str, size_matched: Decimal, kind: UserOrderEventKind) -> None:
        event = order_event(self.order, status, str(size_matched), kind=kind)
        self.apply(lambda: self.order.apply_order_event(event, now_ms=self.now))

    @rule(size=SIZES, status=TRADE_STATUSES)
    def new_fill(self, size: Decimal, status: TradeStatus) -> None:
        trade_id = f"t{len(self.trade_ids)}"
        fill = make_fill(self.order, trade_id, str(size), status=status)
        if size > 0:  # a zero-size fill is refused as inconsistent, which the rule also exercises
            self.trade_ids.append(trade_id)
        self.apply(lambda: self.order.apply_fill(fill, now_ms=self.now))

    @precondition(lambda self: bool(self.trade_ids))
    @rule(data=st.data(), status=TRADE_STATUSES)
    def trade_status(self, data: st.DataObject, status: TradeStatus) -> None:
        trade_id = data.draw(st.sampled_from(self.trade_ids))
        self.apply(lambda: self.order.apply_trade_status(trade_id, status, now_ms=self.now))

    @rule(status=st.none() | VENUE_STATUSES, size_matched=st.none() | SIZES)
    def reconcile(self, status: str | None, size_matched: Decimal | None) -> None:
        self.apply(lambda: self.order.resolve_unknown(status, now_ms=self.now, size_matched=size_matched))

    @invariant()
    def quantities_stay_consistent(self) -> None:
        order = self.order
        assert 0 <= order.confirmed_size <= order.filled_size <= order.matched_total <= order.size
        assert order.voided_size + order.confirmed_size <= order.matched_total
        assert order.filled_size == order.matched_total - order.voided_size
        if order.state in (S.SUBMITTED, S.OPEN):
            assert order.matched_total == 0
        if order.state in (S.PARTIALLY_FILLED, S.PENDING_CANCEL):
            assert order.matched_total < order.size
        if order.state is S.PARTIALLY_FILLED:
            assert order.matched_total > 0
        if order.state is S.FILLED:
            assert order.matched_total == order.size

    @invariant()
    def audit_trail_follows_the_table(self) -> None:
        state = S.PENDING
        for seq, transition in enumerate(self.order.transitions, start=1):
            assert transition.seq == seq
            assert transition.from_state is state
            assert transition.to_state in ORDER_TRANSITIONS[state]
            if state.is_terminal:
                assert transition.to_state in (state, S.FILLED, S.FAILED)
            state = transition.to_state
        assert state is self.order.state
        assert self.published == self.order.transitions  # every change emitted exactly once

    @invariant()
    def survives_a_restart(self) -> None:
        assert Order.from_dict(json.loads(json.dumps(self.order.to_dict()))) == self.order


OrderLifecycle.TestCase.settings = settings(max_examples=80, stateful_step_count=25)
TestOrderLifecycle = OrderLifecycle.TestCase
