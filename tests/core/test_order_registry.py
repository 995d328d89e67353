"""Tests for the order registry (src/polyexec/core/order_registry.py): membership, the engine's
queries, routing of user-channel events with deduplication, pruning and crash recovery."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import MakerOrderFill, UserTradeEvent
from polyexec.core.models import FeeSchedule, Liquidity, Side, TradeStatus
from polyexec.core.order import Order
from polyexec.core.order_fills import fills_from_trade
from polyexec.core.order_registry import DuplicateOrderId, OrderRegistry
from polyexec.core.order_state import InconsistentVenueData, OrderEventBus, OrderStateError, OrderTransition
from tests.core.order_factories import (
    CONDITION_ID,
    OTHER_TOKEN_ID,
    D,
    S,
    live_order,
    make_fill,
    make_order,
    order_event,
    trade_event,
)

T = TradeStatus
OTHER_CONDITION_ID = "0x" + "77" * 32


def oid(n: int) -> str:
    return f"0x{n:064x}"


def registry_of(*orders: Order) -> OrderRegistry:
    registry = OrderRegistry()
    for order in orders:
        registry.add(order)
    return registry


def maker(order: Order, size: str, price: str = "0.52") -> MakerOrderFill:
    return MakerOrderFill(order.order_id, order.token_id, order.side, D(price), D(size))


# --- membership and queries ------------------------------------------------------------------------


def test_add_get_and_duplicate_ids() -> None:
    first = live_order(order_id=oid(1))
    registry = registry_of(first)
    assert registry.get(oid(1)) is first
    assert registry.get(oid(2)) is None
    assert oid(1) in registry
    assert len(registry) == 1
    with pytest.raises(DuplicateOrderId, match=oid(1)) as info:
        registry.add(make_order(order_id=oid(1)))
    assert info.value.order_id == oid(1)
    assert registry.get(oid(1)) is first  # the held order is untouched
    assert list(registry) == [first]


def test_open_orders_by_market_and_token_include_pending_but_not_terminal() -> None:
    pending = make_order(order_id=oid(1))
    live = live_order(order_id=oid(2), token_id=OTHER_TOKEN_ID)
    elsewhere = live_order(order_id=oid(3), condition_id=OTHER_CONDITION_ID)
    done = live_order(order_id=oid(4))
    done.cancel_requested(now_ms=2_000)
    done.cancel_confirmed(now_ms=2_001)
    registry = registry_of(pending, live, elsewhere, done)
    assert registry.open_orders() == [pending, live, elsewhere]
    assert registry.open_orders(condition_id=CONDITION_ID) == [pending, live]
    assert registry.open_orders(token_id=OTHER_TOKEN_ID) == [live]
    assert registry.open_orders(condition_id=OTHER_CONDITION_ID, token_id=OTHER_TOKEN_ID) == []
    assert registry.open_order_count() == 3
    assert len(registry) == 4


def test_in_flight_orders_older_than_a_delay_oldest_first() -> None:
    submitted = make_order(order_id=oid(1))
    submitted.submitted(now_ms=5_000)
    submitted.submit_ambiguous(now_ms=9_000)  # a self-transition does not restart the clock
    cancelling = live_order(order_id=oid(2))
    cancelling.cancel_requested(now_ms=4_000)
    resting = live_order(order_id=oid(3))
    registry = registry_of(submitted, cancelling, resting, make_order(order_id=oid(4)))
    assert registry.in_flight_orders(now_ms=10_000, min_age_ms=5_000) == [cancelling, submitted]
    assert registry.in_flight_orders(now_ms=10_000, min_age_ms=5_001) == [cancelling]
    assert registry.in_flight_orders(now_ms=10_000, min_age_ms=0) == [cancelling, submitted]
    with pytest.raises(ValueError, match="min_age_ms"):
        registry.in_flight_orders(now_ms=10_000, min_age_ms=-1)


def test_orders_needing_a_deferred_cancel() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    order.cancel_requested(now_ms=3)
    registry = registry_of(order, live_order(order_id=oid(9)))
    assert registry.orders_needing_cancel() == []  # the submit is still unresolved
    registry.apply_order_event(order_event(order, "LIVE", "0"), now_ms=4)
    assert registry.orders_needing_cancel() == [order]
    order.cancel_requested(now_ms=5)
    assert registry.orders_needing_cancel() == []


def test_open_buy_notional_per_market_counts_only_what_may_still_fill() -> None:
    partly = live_order(order_id=oid(1))  # BUY 10 @ 0.52
    partly.apply_fill(make_fill(partly, "t1", "4"), now_ms=2_000)
    pending = make_order(order_id=oid(2), price="0.40", size="5")
    sell = live_order(order_id=oid(3), side=Side.SELL)
    other = live_order(order_id=oid(4), condition_id=OTHER_CONDITION_ID, price="0.10", size="20")
    filled = live_order(order_id=oid(5), size="1")
    filled.apply_fill(make_fill(filled, "t2", "1"), now_ms=2_000)
    registry = registry_of(partly, pending, sell, other, filled)
    assert registry.open_buy_notional_by_market() == {
        CONDITION_ID: D("3.12") + D("2.00"),  # 6 × 0.52 + 5 × 0.40
        OTHER_CONDITION_ID: D("2.00"),
    }
    assert OrderRegistry().open_buy_notional_by_market() == {}


def test_open_buy_notional_per_category_from_a_mapping_or_a_callable() -> None:
    third = "0x" + "99" * 32
    registry = registry_of(
        live_order(order_id=oid(1)),
        live_order(order_id=oid(2), condition_id=OTHER_CONDITION_ID, price="0.10", size="20"),
        live_order(order_id=oid(3), condition_id=third, price="0.50", size="2"),
    )
    categories = {CONDITION_ID: "btc", OTHER_CONDITION_ID: "btc", third: "eth"}
    expected = {"btc": D("7.20"), "eth": D("1.00")}
    assert registry.open_buy_notional_by_category(categories) == expected
    assert registry.open_buy_notional_by_category(categories.__getitem__) == expected
    with pytest.raises(ValueError, match=third):
        registry.open_buy_notional_by_category({CONDITION_ID: "btc", OTHER_CONDITION_ID: "btc"})


# --- order events --------------------------------------------------------------------------------


def test_order_event_is_routed_to_its_order() -> None:
    order = make_order()
    order.submitted(now_ms=2)
    registry = registry_of(order)
    outcome = registry.apply_order_event(order_event(order, "LIVE", "0"), now_ms=3)
    assert [(t.from_state, t.to_state) for t in outcome.transitions] == [(S.SUBMITTED, S.OPEN)]
    assert outcome.transitions[0].cause == "order event UPDATE LIVE"
    assert not outcome.errors
    assert not outcome.unknown_order_ids
    assert order.state is S.OPEN


def test_order_event_for_an_unknown_order_is_counted_and_returned() -> None:
    registry = registry_of(live_order())
    stranger = make_order(order_id=oid(7))
    outcome = registry.apply_order_event(order_event(stranger, "LIVE", "0"), now_ms=3)
    assert outcome.unknown_order_ids == (oid(7),)
    assert outcome.transitions == ()
    assert registry.unknown_order_events == 1


def test_order_event_the_order_refuses_is_returned_not_raised() -> None:
    order = live_order()
    registry = registry_of(order)
    before = order.to_dict()
    wrong_token = registry.apply_order_event(
        order_event(order, "LIVE", "1", asset_id=OTHER_TOKEN_ID), now_ms=3
    )
    (error,) = wrong_token.errors
    assert isinstance(error, InconsistentVenueData)
    nan = dataclasses.replace(order_event(order, "MATCHED", "1"), size_matched=D("NaN"))
    (nan_error,) = registry.apply_order_event(nan, now_ms=4).errors
    assert isinstance(nan_error, InconsistentVenueData)
    assert "non-finite" in nan_error.problem
    assert registry.routing_errors == 2
    assert order.to_dict() == before


# --- trade events --------------------------------------------------------------------------------


def test_trade_event_fills_our_order_and_its_status_progresses() -> None:
    order = live_order()
    registry = registry_of(order)
    event = trade_event(makers=(maker(order, "4"),), trade_id="t1")
    first = registry.apply_trade_event(event, now_ms=3)
    assert [(t.from_state, t.to_state) for t in first.transitions] == [(S.OPEN, S.PARTIALLY_FILLED)]
    assert first.transitions[0].cause == "trade t1 MATCHED"
    assert [f.key for f in first.fills] == [("t1", order.order_id)]
    for step, status in enumerate((T.MINED, T.CONFIRMED)):
        registry.apply_trade_event(dataclasses.replace(event, status=status), now_ms=4 + step)
    assert order.confirmed_size == D(4)
    assert order.filled_size == D(4)


def test_copies_of_a_trade_status_already_applied_are_no_ops() -> None:
    order = live_order()
    registry = registry_of(order)
    event = trade_event(makers=(maker(order, "4"),), trade_id="t1")
    registry.apply_trade_event(event, now_ms=3)
    registry.apply_trade_event(dataclasses.replace(event, status=T.CONFIRMED), now_ms=4)
    audit = list(order.transitions)
    stale = registry.apply_trade_event(event, now_ms=5)  # MATCHED again, after CONFIRMED
    assert stale.duplicate
    assert stale.transitions == ()
    assert stale.errors == ()  # the order alone would call this a contradiction
    assert order.transitions == audit
    assert registry.duplicate_trade_events == 1


def test_failed_trade_voids_the_fill_through_the_registry() -> None:
    order = live_order()
    registry = registry_of(order)
    event = trade_event(makers=(maker(order, "4"),), trade_id="t1")
    registry.apply_trade_event(event, now_ms=3)
    registry.apply_trade_event(dataclasses.replace(event, status=T.FAILED), now_ms=4)
    assert order.filled_size == 0
    assert order.voided_size == D(4)


def test_trade_where_both_legs_are_ours_fills_both_orders_with_their_fees() -> None:
    taker, resting = live_order(order_id=oid(1)), live_order(order_id=oid(2))
    registry = registry_of(taker, resting)
    event = trade_event(taker_order_id=oid(1), makers=(maker(resting, "3"),), size="3")
    outcome = registry.apply_trade_event(event, now_ms=3, fees=FeeSchedule(rate=D("0.1")))
    assert {t.order_id for t in outcome.transitions} == {oid(1), oid(2)}
    assert taker.fees == D("0.075")  # 3 × 0.1 × 0.25
    assert resting.fees == 0  # makers pay nothing on a taker-only schedule
    assert taker.filled_size == resting.filled_size == D(3)


@pytest.mark.parametrize(
    ("trader_side", "expected"), [(Liquidity.TAKER, ("0xtaker",)), (Liquidity.MAKER, (oid(5), oid(6)))]
)
def test_trade_none_of_whose_legs_is_ours_is_counted(
    trader_side: Liquidity, expected: tuple[str, ...]
) -> None:
    registry = registry_of(live_order())
    strangers = tuple(maker(make_order(order_id=oid(n)), "1") for n in (5, 6))
    outcome = registry.apply_trade_event(trade_event(makers=strangers, trader_side=trader_side), now_ms=3)
    assert outcome.unknown_order_ids == expected
    assert outcome.fills == ()
    assert registry.unknown_trade_events == 1
    assert registry.to_dict()["applied_trades"] == []  # nothing remembered: nothing was applied


def test_one_order_refusing_a_fill_does_not_stop_the_other() -> None:
    small, other = live_order(order_id=oid(1), size="2"), live_order(order_id=oid(2))
    registry = registry_of(small, other)
    event = trade_event(makers=(maker(small, "3"), maker(other, "3")))
    outcome = registry.apply_trade_event(event, now_ms=3)
    (error,) = outcome.errors
    assert isinstance(error, InconsistentVenueData)
    assert error.fill is not None
    assert error.fill.order_id == oid(1)
    assert small.filled_size == 0
    assert other.filled_size == D(3)
    again = registry.apply_trade_event(event, now_ms=4)
    assert again.duplicate  # the refusal is reported once, not on every copy
    assert registry.routing_errors == 1


def test_trade_with_a_non_finite_number_is_refused_for_our_orders() -> None:
    order = live_order()
    registry = registry_of(order)
    broken = dataclasses.replace(trade_event(makers=(maker(order, "4"),)), price=D("Infinity"))
    outcome = registry.apply_trade_event(broken, now_ms=3)
    assert [e.order_id for e in outcome.errors if isinstance(e, InconsistentVenueData)] == [order.order_id]
    assert order.filled_size == 0


def test_order_registered_after_a_first_copy_still_gets_its_fill() -> None:
    first, late = live_order(order_id=oid(1)), live_order(order_id=oid(2))
    registry = registry_of(first)
    event = trade_event(makers=(maker(first, "2"), maker(late, "3")))
    registry.apply_trade_event(event, now_ms=3)
    registry.add(late)  # e.g. restored by reconciliation
    outcome = registry.apply_trade_event(event, now_ms=4)
    assert not outcome.duplicate
    assert {t.order_id for t in outcome.transitions} == {oid(2)}
    assert (first.filled_size, late.filled_size) == (D(2), D(3))


def test_mined_again_after_retrying_is_treated_as_a_copy() -> None:
    order = live_order()
    registry = registry_of(order)
    event = trade_event(makers=(maker(order, "4"),), trade_id="t1")
    for status in (T.MATCHED, T.MINED, T.RETRYING, T.MINED):
        registry.apply_trade_event(dataclasses.replace(event, status=status), now_ms=3)
    assert order.fills[("t1", order.order_id)].status is T.RETRYING  # documented limitation
    registry.apply_trade_event(dataclasses.replace(event, status=T.CONFIRMED), now_ms=4)
    assert order.confirmed_size == D(4)


# --- pruning -----------------------------------------------------------------------------------------


def cancelled_at(order: Order, now_ms: int) -> Order:
    order.cancel_requested(now_ms=now_ms)
    order.cancel_confirmed(now_ms=now_ms)
    return order


def test_prune_forgets_idle_terminal_orders_only() -> None:
    old = cancelled_at(live_order(order_id=oid(1)), 10_000)
    recent = cancelled_at(live_order(order_id=oid(2)), 50_000)
    working = live_order(order_id=oid(3))
    registry = registry_of(old, recent, working)
    assert registry.prune(now_ms=70_000, retention_ms=60_000) == (old,)
    assert list(registry) == [recent, working]
    assert registry.prune(now_ms=10**12, retention_ms=60_000) == (recent,)
    assert list(registry) == [working]
    assert registry.pruned_orders == 2
    with pytest.raises(ValueError, match="retention"):
        registry.prune(now_ms=0, retention_ms=-1)


def test_prune_keeps_orders_whose_fills_have_not_settled() -> None:
    unsettled = live_order(order_id=oid(1))
    registry = registry_of(unsettled)
    event = trade_event(makers=(maker(unsettled, "10"),), trade_id="t1")
    registry.apply_trade_event(event, now_ms=10_000)  # FILLED, trade only MATCHED
    counted = live_order(order_id=oid(2))
    counted.apply_order_event(order_event(counted, "MATCHED", "10"), now_ms=10_000)  # no trade seen
    registry.add(counted)
    limits = {"retention_ms": 60_000, "unsettled_retention_ms": 120_000}
    assert registry.prune(now_ms=100_000, **limits) == ()  # idle 90 s, but unsettled
    registry.apply_trade_event(dataclasses.replace(event, status=T.CONFIRMED), now_ms=100_000)
    assert registry.prune(now_ms=129_999, **limits) == ()
    assert registry.prune(now_ms=130_000, **limits) == (counted,)  # unsettled, idle 120 s
    assert registry.prune(now_ms=160_000, **limits) == (unsettled,)  # settled, idle 60 s


def test_prune_forgets_the_dedup_pairs_of_the_orders_it_drops() -> None:
    gone, kept = live_order(order_id=oid(1), size="4"), live_order(order_id=oid(2))
    registry = registry_of(gone, kept)
    for status in (T.MATCHED, T.CONFIRMED):
        registry.apply_trade_event(
            trade_event(makers=(maker(gone, "4"),), trade_id="a", status=status), now_ms=1
        )
        registry.apply_trade_event(
            trade_event(makers=(maker(kept, "1"),), trade_id="b", status=status), now_ms=1
        )
    assert len(registry.to_dict()["applied_trades"]) == 4
    assert registry.prune(now_ms=10_000, retention_ms=1_000) == (gone,)
    assert {e["trade_id"] for e in registry.to_dict()["applied_trades"]} == {"b"}
    resent = registry.apply_trade_event(trade_event(makers=(maker(gone, "4"),), trade_id="a"), now_ms=10_001)
    assert resent.unknown_order_ids  # its order is forgotten: counted, not applied


# --- crash recovery --------------------------------------------------------------------------------


def busy_registry() -> OrderRegistry:
    order, other = live_order(order_id=oid(1)), make_order(order_id=oid(2))
    registry = registry_of(order, other)
    registry.apply_trade_event(trade_event(makers=(maker(order, "4"),), trade_id="t1"), now_ms=3)
    registry.apply_trade_event(
        trade_event(makers=(maker(order, "4"),), trade_id="t1", status=T.MINED), now_ms=4
    )
    return registry


def test_registry_round_trips_through_json_and_still_deduplicates() -> None:
    registry = busy_registry()
    bus = OrderEventBus()
    seen: list[OrderTransition] = []
    bus.subscribe(seen.append)
    restored = OrderRegistry.from_dict(json.loads(json.dumps(registry.to_dict())), bus=bus)
    assert [o.to_dict() for o in restored] == [o.to_dict() for o in registry]
    assert restored.to_dict() == registry.to_dict()
    copy = trade_event(makers=(maker(make_order(order_id=oid(1)), "4"),), trade_id="t1", status=T.MINED)
    assert restored.apply_trade_event(copy, now_ms=5).duplicate
    restored.apply_trade_event(dataclasses.replace(copy, status=T.CONFIRMED), now_ms=6)
    restored_order = restored.get(oid(1))
    assert restored_order is not None
    assert restored_order.confirmed_size == D(4)
    assert [t.action for t in seen] == ["trade_status"]  # restored orders publish to the new bus


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda r: r.update(version=2),
        lambda r: r["orders"].append(r["orders"][0]),
        lambda r: r["applied_trades"][0].update(status="SOON"),
        lambda r: r["applied_trades"][0].update(order_ids="0x01"),
        lambda r: r.pop("applied_trades"),
        lambda r: r["orders"][0].update(price=0.52),
    ],
)
def test_malformed_registry_record_is_named(corrupt: Callable[[dict[str, Any]], object]) -> None:
    record = busy_registry().to_dict()
    corrupt(record)
    with pytest.raises(ValueError, match="malformed order registry record"):
        OrderRegistry.from_dict(record)


# --- property: duplicated and reordered trade events -------------------------------------------------

PATHS = [
    (T.MATCHED, T.MINED, T.CONFIRMED),
    (T.MATCHED, T.FAILED),
    (T.MATCHED, T.MINED, T.FAILED),
    (T.MATCHED, T.RETRYING, T.CONFIRMED),
    (T.MATCHED,),
]
ORDER_COUNT = 3
TRADES = st.lists(
    st.tuples(
        st.lists(st.integers(0, ORDER_COUNT - 1), min_size=1, max_size=2, unique=True),  # our legs
        st.booleans(),  # the first leg is the taker
        st.sampled_from(["0.5", "1", "2.5"]),
        st.sampled_from(PATHS),
    ),
    min_size=1,
    max_size=4,
)


def fresh_orders() -> list[Order]:
    return [live_order(order_id=oid(n)) for n in range(ORDER_COUNT)]


def trade_paths(
    trades: list[tuple[list[int], bool, str, tuple[TradeStatus, ...]]], orders: list[Order]
) -> list[list[UserTradeEvent]]:
    paths = []
    for number, (legs, taker_first, size, path) in enumerate(trades):
        taker_id = oid(legs[0]) if taker_first else "0xtaker"
        makers = tuple(maker(orders[i], size) for i in (legs[1:] if taker_first else legs))
        event = trade_event(taker_order_id=taker_id, makers=makers, trade_id=f"t{number}", size=size)
        paths.append([dataclasses.replace(event, status=status) for status in path])
    return paths


def apply_distinct_once(delivered: list[UserTradeEvent]) -> tuple[list[Order], int]:
    """The reference: each distinct (trade, status) applied once, in order of first delivery,
    straight to the orders."""
    orders, seen, errors = fresh_orders(), set(), 0
    by_id = {o.order_id: o for o in orders}
    for event in delivered:
        if (event.trade_id, event.status) in seen:
            continue
        seen.add((event.trade_id, event.status))
        for fill in fills_from_trade(event, by_id):
            try:
                by_id[fill.order_id].apply_fill(fill, now_ms=50)
            except OrderStateError:
                errors += 1
    return orders, errors


def route(delivered: list[UserTradeEvent]) -> tuple[OrderRegistry, list[Order]]:
    orders = fresh_orders()
    registry = registry_of(*orders)
    for event in delivered:
        registry.apply_trade_event(event, now_ms=50)
    return registry, orders


@settings(max_examples=60)
@given(trades=TRADES, data=st.data())
def test_any_interleaving_matches_applying_each_distinct_pair_once(
    trades: list[tuple[list[int], bool, str, tuple[TradeStatus, ...]]], data: st.DataObject
) -> None:
    events = [event for path in trade_paths(trades, fresh_orders()) for event in path]
    copies = data.draw(st.lists(st.sampled_from(events), max_size=len(events)))
    delivered = data.draw(st.permutations(events + copies))
    registry, routed = route(delivered)
    expected, expected_errors = apply_distinct_once(delivered)
    assert [o.fills for o in routed] == [o.fills for o in expected]
    assert [o.state for o in routed] == [o.state for o in expected]
    assert registry.routing_errors == expected_errors
    assert registry.duplicate_trade_events == len(delivered) - len(
        {(e.trade_id, e.status) for e in delivered}
    )


@settings(max_examples=60)
@given(trades=TRADES, data=st.data())
def test_duplicates_of_in_order_statuses_end_at_each_trades_last_status(
    trades: list[tuple[list[int], bool, str, tuple[TradeStatus, ...]]], data: st.DataObject
) -> None:
    paths = trade_paths(trades, fresh_orders())
    delivered: list[UserTradeEvent] = []
    remaining = [list(path) for path in paths]
    while any(remaining):  # trades interleave; each trade's statuses keep their order
        pending = [path for path in remaining if path]
        delivered.append(data.draw(st.sampled_from(pending)).pop(0))
        if data.draw(st.booleans()):
            delivered.append(data.draw(st.sampled_from(delivered)))  # a re-send, possibly stale
    registry, orders = route(delivered)
    assert registry.routing_errors == 0
    for number, (legs, _, size, path) in enumerate(trades):
        for leg in legs:
            fill = orders[leg].fills[(f"t{number}", oid(leg))]
            assert fill.status is path[-1]
            assert fill.size == D(size)
    for order in orders:
        alive = sum((f.size for f in order.fills.values() if f.status is not T.FAILED), D(0))
        assert order.filled_size == alive
        assert order.confirmed_size == sum(
            (f.size for f in order.fills.values() if f.status is T.CONFIRMED), D(0)
        )
