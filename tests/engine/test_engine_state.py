"""Tests for the engine state machine (src/polyexec/engine/engine_state.py): the written
transition table (every allowed and every forbidden pair), the operator rules, the bounded
history, the clock and the JSON round trip of the state file."""

from __future__ import annotations

import copy
import json
import re
from collections import deque
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.engine import engine_state
from polyexec.engine.engine_state import (
    DEFAULT_HISTORY_LIMIT,
    ENGINE_TRANSITIONS,
    EngineState,
    EngineStateError,
    EngineStateMachine,
    EngineTransition,
    IllegalEngineTransition,
)

S = EngineState
ALL_PAIRS = [(a, b) for a in EngineState for b in EngineState]
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in ENGINE_TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a, b in ALL_PAIRS if b not in ENGINE_TRANSITIONS[a]]


def _path_to(target: EngineState) -> list[EngineState]:
    """The shortest chain of states from STOPPED to ``target`` (excluding STOPPED itself)."""
    parents: dict[EngineState, EngineState | None] = {S.STOPPED: None}
    queue = deque([S.STOPPED])
    while queue:
        state = queue.popleft()
        for nxt in ENGINE_TRANSITIONS[state]:
            if nxt not in parents:
                parents[nxt] = state
                queue.append(nxt)
    path: list[EngineState] = []
    node: EngineState | None = target
    while node is not None and node is not S.STOPPED:
        path.append(node)
        node = parents[node]
    return path[::-1]


def machine_in(state: EngineState, *, history_limit: int = DEFAULT_HISTORY_LIMIT) -> EngineStateMachine:
    """A machine brought to ``state`` along legal moves, at times 1000, 2000, ... (no hold)."""
    machine = EngineStateMachine(history_limit=history_limit)
    for step, nxt in enumerate(_path_to(state), start=1):
        edge = ENGINE_TRANSITIONS[machine.state][nxt]
        machine.transition(nxt, "setup", step * 1000, by_operator=edge.operator_only)
    assert machine.state is state
    return machine


# --- the table -------------------------------------------------------------------------------


def test_docstring_matrix_matches_transition_table() -> None:
    doc = engine_state.__doc__ or ""
    header = re.search(r"^ *from \\ to +(.+)$", doc, re.MULTILINE)
    assert header is not None
    assert header.group(1).split() == [state.value for state in EngineState]
    for state in EngineState:
        row = re.search(rf"^ *{state.value} +([.xo ]+)$", doc, re.MULTILINE)
        assert row is not None, state
        marks = dict(zip(EngineState, row.group(1).split(), strict=True))
        edges = ENGINE_TRANSITIONS[state]
        assert {to for to, mark in marks.items() if mark != "."} == set(edges), state
        for to, edge in edges.items():
            assert marks[to] == ("o" if edge.operator_only else "x"), (state, to)


def test_the_documented_decisions_hold() -> None:
    assert S.STOPPING in ENGINE_TRANSITIONS[S.ERROR]  # a person can always shut down
    assert S.RUNNING not in ENGINE_TRANSITIONS[S.ERROR]  # never straight back to trading
    assert S.PAUSED not in ENGINE_TRANSITIONS[S.ERROR]
    assert ENGINE_TRANSITIONS[S.ERROR][S.STARTING].operator_only  # resume = reconcile again
    assert S.ERROR in ENGINE_TRANSITIONS[S.STARTING]  # reconciliation failed
    assert S.PAUSED in ENGINE_TRANSITIONS[S.RUNNING]
    assert S.RUNNING in ENGINE_TRANSITIONS[S.PAUSED]
    assert set(ENGINE_TRANSITIONS[S.STOPPING]) == {S.STOPPED}
    assert set(ENGINE_TRANSITIONS[S.STOPPED]) == {S.STARTING}


def test_every_edge_has_a_reason_and_every_state_can_reach_stopped() -> None:
    assert all(edge.when.strip() for edges in ENGINE_TRANSITIONS.values() for edge in edges.values())
    for state in EngineState:
        assert _path_to(state) or state is S.STOPPED  # reachable from STOPPED
        seen, frontier = {state}, [state]
        while frontier:
            frontier = [nxt for cur in frontier for nxt in ENGINE_TRANSITIONS[cur] if nxt not in seen]
            seen.update(frontier)
        assert S.STOPPED in seen, f"{state} cannot shut down"


def test_state_capabilities() -> None:
    assert {s for s in EngineState if s.accepts_new_orders} == {S.RUNNING}
    assert {s for s in EngineState if not s.accepts_cancels} == {S.STOPPED}
    assert {s for s in EngineState if s.is_terminal} == {S.STOPPED}
    for state in EngineState:
        machine = machine_in(state)
        assert machine.accepts_new_orders is state.accepts_new_orders
        assert machine.accepts_cancels is state.accepts_cancels
        assert machine.is_terminal is state.is_terminal


@pytest.mark.parametrize(("source", "target"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_every_allowed_move(source: EngineState, target: EngineState) -> None:
    machine = machine_in(source)
    before = len(machine.history)
    operator = ENGINE_TRANSITIONS[source][target].operator_only
    assert machine.can_transition(target, by_operator=operator)
    record = machine.transition(target, "because", 99_000, by_operator=operator)
    assert machine.state is target
    assert record == machine.history[-1]
    assert (record.from_state, record.to_state, record.reason, record.timestamp_ms) == (
        source,
        target,
        "because",
        99_000,
    )
    assert record.by_operator is operator
    assert len(machine.history) == before + 1
    assert record.seq == machine.transition_count == before + 1


@pytest.mark.parametrize(("source", "target"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
@pytest.mark.parametrize("by_operator", [False, True])
def test_every_forbidden_move_raises_and_changes_nothing(
    source: EngineState, target: EngineState, by_operator: bool
) -> None:
    machine = machine_in(source)
    snapshot = machine.to_dict()
    assert not machine.can_transition(target, by_operator=by_operator)
    with pytest.raises(IllegalEngineTransition) as caught:
        machine.transition(target, "try", 99_000, by_operator=by_operator)
    assert (caught.value.from_state, caught.value.to_state) == (source, target)
    message = str(caught.value)
    assert f"from {source.value} to {target.value}" in message
    assert isinstance(caught.value, EngineStateError)
    assert machine.to_dict() == snapshot


@pytest.mark.parametrize(
    ("source", "target"),
    [(a, b) for a, b in ALLOWED if ENGINE_TRANSITIONS[a][b].operator_only],
)
def test_operator_only_moves_refuse_automatic_callers(source: EngineState, target: EngineState) -> None:
    machine = machine_in(source)
    snapshot = machine.to_dict()
    assert not machine.can_transition(target)
    with pytest.raises(IllegalEngineTransition, match="operator"):
        machine.transition(target, "automatic", 99_000)
    assert machine.to_dict() == snapshot


# --- operator hold ---------------------------------------------------------------------------


def test_health_pause_resumes_by_itself() -> None:
    machine = machine_in(S.RUNNING)
    machine.transition(S.PAUSED, "binance feed stale", 10_000)
    assert not machine.operator_hold
    assert not machine.accepts_new_orders
    assert machine.accepts_cancels
    machine.transition(S.RUNNING, "feeds healthy", 11_000)
    assert machine.state is S.RUNNING


def test_operator_pause_is_only_lifted_by_an_operator() -> None:
    machine = machine_in(S.RUNNING)
    machine.transition(S.PAUSED, "operator: pause", 10_000, by_operator=True)
    assert machine.operator_hold
    with pytest.raises(IllegalEngineTransition, match="operator"):
        machine.transition(S.RUNNING, "feeds healthy", 11_000)
    assert machine.state is S.PAUSED
    assert machine.operator_hold
    record = machine.transition(S.RUNNING, "operator: resume", 12_000, by_operator=True)
    assert record.to_state is S.RUNNING
    assert not machine.operator_hold


def test_operator_takes_over_a_health_pause() -> None:
    machine = machine_in(S.RUNNING)
    machine.transition(S.PAUSED, "heartbeat unhealthy", 10_000)
    with pytest.raises(IllegalEngineTransition):
        machine.transition(S.PAUSED, "second stale feed", 10_500)  # not a move for automation
    machine.transition(S.PAUSED, "operator: hold", 11_000, by_operator=True)
    assert machine.operator_hold
    assert machine.entered_at_ms == 10_000  # still the same pause
    assert not machine.can_transition(S.RUNNING)
    # Leaving PAUSED in any way ends the hold.
    machine.transition(S.STOPPING, "shutdown", 12_000)
    assert not machine.operator_hold


def test_error_needs_an_operator_resume_through_a_new_reconciliation() -> None:
    machine = machine_in(S.STARTING)
    machine.transition(S.ERROR, "reconciliation failed: unknown order 0xab", 5_000)
    assert not machine.accepts_new_orders
    assert machine.accepts_cancels
    assert not machine.can_transition(S.RUNNING, by_operator=True)
    assert not machine.can_transition(S.STARTING)
    machine.transition(S.STARTING, "operator: resume", 6_000, by_operator=True)
    machine.transition(S.RUNNING, "reconciled", 7_000)
    assert machine.state is S.RUNNING


# --- history and time ------------------------------------------------------------------------


def test_history_is_bounded_and_keeps_the_newest() -> None:
    machine = EngineStateMachine(history_limit=3)
    cycle = [S.STARTING, S.RUNNING, S.PAUSED, S.RUNNING, S.STOPPING, S.STOPPED]
    moves = cycle * 2
    for step, target in enumerate(moves, start=1):
        machine.transition(target, f"step {step}", step * 10)
    assert machine.transition_count == len(moves)
    assert len(machine.history) == 3
    assert [entry.seq for entry in machine.history] == [10, 11, 12]
    assert [entry.to_state for entry in machine.history] == moves[-3:]
    assert machine.history_limit == 3


@pytest.mark.parametrize("limit", [0, -1, True, 2.5])
def test_history_limit_must_be_a_positive_integer(limit: Any) -> None:
    with pytest.raises(ValueError, match="history_limit"):
        EngineStateMachine(history_limit=limit)


def test_entry_time_uptime_and_a_clock_stepping_back() -> None:
    machine = EngineStateMachine(created_ms=500)
    assert machine.entered_at_ms == 500
    assert machine.uptime_ms(9_999) == 0
    assert machine.to_dict()["started_at_ms"] is None
    machine.transition(S.STARTING, "start", 1_000)
    machine.transition(S.RUNNING, "ready", 3_000)
    assert machine.entered_at_ms == 3_000
    assert machine.time_in_state_ms(4_500) == 1_500
    assert machine.time_in_state_ms(2_000) == 0  # a clock that stepped back is not negative
    assert machine.uptime_ms(4_000) == 3_000
    machine.transition(S.ERROR, "broken", 5_000)
    machine.transition(S.STARTING, "operator: resume", 6_000, by_operator=True)
    assert machine.started_at_ms == 1_000  # a resume continues the run
    machine.transition(S.STOPPING, "stop", 7_000)
    machine.transition(S.STOPPED, "stopped", 8_000)
    assert machine.uptime_ms(9_000) == 0


@pytest.mark.parametrize(
    ("target", "reason", "now_ms", "problem"),
    [
        (S.STARTING, "", 1, "reason"),
        (S.STARTING, "   ", 1, "reason"),
        (S.STARTING, "go", -1, "time"),
        (S.STARTING, "go", True, "time"),
        (S.STARTING, "go", 1.5, "time"),
        ("LAUNCHING", "go", 1, "LAUNCHING"),
    ],
)
def test_bad_arguments_are_value_errors_and_change_nothing(
    target: Any, reason: Any, now_ms: Any, problem: str
) -> None:
    machine = EngineStateMachine()
    with pytest.raises(ValueError, match=problem):
        machine.transition(target, reason, now_ms)
    assert machine.state is S.STOPPED
    assert machine.history == ()


def test_plain_strings_name_states() -> None:
    machine = EngineStateMachine()
    machine.transition("STARTING", "start", 1)  # type: ignore[arg-type]  # the JSON spelling
    assert machine.state is S.STARTING


# --- state file ------------------------------------------------------------------------------


def _busy_machine() -> EngineStateMachine:
    machine = machine_in(S.RUNNING, history_limit=4)
    machine.transition(S.PAUSED, "operator: pause", 50_000, by_operator=True)
    machine.transition(S.PAUSED, "operator: still", 51_000, by_operator=True)
    return machine


def test_json_round_trip_restores_the_machine_exactly() -> None:
    machine = _busy_machine()
    text = json.dumps(machine.to_dict())
    restored = EngineStateMachine.from_dict(json.loads(text))
    assert restored.to_dict() == machine.to_dict()
    assert restored.history == machine.history
    assert restored.state is S.PAUSED
    assert restored.operator_hold
    assert restored.started_at_ms == machine.started_at_ms
    assert not restored.can_transition(S.RUNNING)  # the hold survives a restart
    restored.transition(S.RUNNING, "operator: resume", 60_000, by_operator=True)
    assert restored.history[-1].seq == machine.transition_count + 1


def test_round_trip_of_a_new_machine() -> None:
    machine = EngineStateMachine(created_ms=7)
    restored = EngineStateMachine.from_dict(json.loads(json.dumps(machine.to_dict())))
    assert restored.to_dict() == machine.to_dict()
    assert restored.state is S.STOPPED
    assert restored.entered_at_ms == 7


def test_transition_record_round_trip() -> None:
    record = EngineTransition(3, 1_234, S.RUNNING, S.PAUSED, "feed stale", True)
    assert EngineTransition.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_a_longer_saved_history_keeps_its_newest_entries() -> None:
    machine = machine_in(S.RUNNING)
    for step in range(4):
        machine.transition(S.PAUSED, "stale", 10_000 + step * 2)
        machine.transition(S.RUNNING, "fresh", 10_001 + step * 2)
    data = machine.to_dict()
    data["history_limit"] = 3
    restored = EngineStateMachine.from_dict(data)
    assert [entry.seq for entry in restored.history] == [e["seq"] for e in data["history"][-3:]]


def _mutated(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(_busy_machine().to_dict())
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.update(state="DANCING"), "'state'"),
        (lambda d: d.update(entered_at_ms="soon"), "entered_at_ms"),
        (lambda d: d.update(started_at_ms=-5), "started_at_ms"),
        (lambda d: d.update(operator_hold="yes"), "operator_hold"),
        (lambda d: d.update(history_limit=0), "history_limit"),
        (lambda d: d.update(history="none"), "history"),
        (lambda d: d["history"].append(7), r"history\[4\]"),
        (lambda d: d["history"][0].pop("reason"), "reason"),
        (lambda d: d["history"][1].update(to_state="PAUSED"), "chain"),
        (lambda d: d.update(state="RUNNING", operator_hold=False), "last transition"),
        (lambda d: d.update(transition_count=99), "transition_count"),
        (lambda d: (d.update(state="RUNNING"), d["history"][-1].update(to_state="RUNNING")), "hold"),
    ],
)
def test_malformed_state_files_are_refused_with_the_problem_named(change: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        EngineStateMachine.from_dict(_mutated(change))


def test_a_state_file_with_an_illegal_move_is_refused() -> None:
    data = EngineStateMachine().to_dict()
    data.update(state="RUNNING", transition_count=1)
    data["history"] = [EngineTransition(1, 5, S.STOPPED, S.RUNNING, "skip start").to_dict()]
    with pytest.raises(ValueError, match="illegal move"):
        EngineStateMachine.from_dict(data)


def test_a_state_file_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ValueError, match="mapping"):
        EngineStateMachine.from_dict([])  # type: ignore[arg-type]


# --- property: the machine follows the table -------------------------------------------------

moves = st.lists(
    st.tuples(st.sampled_from(list(EngineState)), st.booleans(), st.integers(0, 10**6)),
    max_size=40,
)


@settings(max_examples=150)
@given(moves=moves, limit=st.integers(1, 6))
def test_random_moves_follow_the_table(moves: list[tuple[EngineState, bool, int]], limit: int) -> None:
    machine = EngineStateMachine(history_limit=limit)
    expected_state, hold, accepted = S.STOPPED, False, 0
    for target, by_operator, now in moves:
        edge = ENGINE_TRANSITIONS[expected_state].get(target)
        legal = (
            edge is not None
            and (by_operator or not edge.operator_only)
            and not (hold and target is S.RUNNING and not by_operator)
        )
        try:
            machine.transition(target, "move", now, by_operator=by_operator)
        except IllegalEngineTransition:
            assert not legal
        else:
            assert legal
            accepted += 1
            hold = (hold or by_operator) if target is S.PAUSED else False
            expected_state = target
        assert machine.state is expected_state
        assert machine.operator_hold is hold
        assert machine.accepts_new_orders is (expected_state is S.RUNNING)
        assert len(machine.history) == min(accepted, limit)
    assert machine.transition_count == accepted
    restored = EngineStateMachine.from_dict(json.loads(json.dumps(machine.to_dict())))
    assert restored.to_dict() == machine.to_dict()
