"""The engine's own state: whether polyexec may send new orders at all, and why not.

The engine is one :class:`EngineStateMachine`. Every change of state goes through
:meth:`EngineStateMachine.transition`, which checks the move against the written table
:data:`ENGINE_TRANSITIONS`, records it (bounded history, the time it happened, the reason and
whether a person asked for it) and refuses anything the table does not allow: an illegal move
raises :class:`IllegalEngineTransition` naming both states, and the machine is left exactly as
it was. The module is pure: time is a parameter (``now_ms``), nothing here does I/O, and the
whole machine serialises to a JSON-ready dict for the state file (:meth:`~EngineStateMachine.
to_dict` / :meth:`~EngineStateMachine.from_dict`).

States
------
=========  ===========================================================================
STOPPED    not running: no connections, no orders. The only way on is a start.
STARTING   connecting, loading state, reconciling orders and positions with the venue.
RUNNING    trading: strategies run and new orders may go out.
PAUSED     connections alive, cancels still go out, **no new orders** (the heartbeat is
           unhealthy, a feed is stale, or an operator paused).
ERROR      something the engine cannot heal by itself: **a person must look**. No new
           orders; cancels still go out.
STOPPING   shutting down: cancelling open orders, saving state, closing connections.
=========  ===========================================================================

What each state allows: new orders only in RUNNING (:attr:`EngineState.accepts_new_orders`);
cancels in every state but STOPPED (:attr:`EngineState.accepts_cancels`): reducing what rests
on the venue is always safe, and STARTING needs it to cancel orphans reconciliation finds.
STOPPED is the terminal state of a run (:attr:`EngineState.is_terminal`): nothing happens
there until a new start.

Transition table (row = from, column = to, ``x`` = allowed, ``o`` = allowed only when an
operator asks, ``by_operator=True``)::

    from \\ to   STOPPED STARTING RUNNING PAUSED ERROR STOPPING
    STOPPED     .       x        .       .      .     .
    STARTING    .       .        x       x      x     x
    RUNNING     .       .        .       x      x     x
    PAUSED      .       .        x       o      x     x
    ERROR       .       o        .       .      .     x
    STOPPING    x       .        .       .      .     .

Why each edge exists is written in the table itself (:attr:`EngineEdge.when`). The decisions
behind it:

* **ERROR → STOPPING** is always allowed: a person must always be able to shut the engine down,
  and shutting down cancels what is open.
* **ERROR never goes straight to RUNNING (or PAUSED).** An error usually means our picture of
  orders or positions can no longer be trusted, so the only way back to trading is an
  **operator resume**, ERROR → STARTING with ``by_operator=True``, which reconciles with the
  venue again before RUNNING (and lands in ERROR again if that fails).
* **STARTING → ERROR** when reconciliation fails (or any start-up check does): the engine does
  not trade on a picture it could not reconcile.
* **RUNNING ↔ PAUSED** follow the heartbeat and feed health automatically. **Operator hold**:
  a pause an operator asked for (``by_operator=True``) is only lifted by an operator, so a
  health recovery cannot resume trading someone deliberately stopped. PAUSED → PAUSED (operator
  only) lets an operator take over a health pause in the same way.
* **STARTING → PAUSED**: reconciled, but a feed or the heartbeat is not healthy yet.
* Every stop goes through STOPPING, and STOPPING only ends in STOPPED: shutting down is best
  effort (the venue's heartbeat dead-man switch cancels whatever a failed cancel left), so a
  failure while stopping is reported, not a state.
* Other self-transitions are not moves: asking to pause a paused engine raises. Callers that
  react to repeated signals ask :meth:`EngineStateMachine.can_transition` first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from polyexec.core.models import TimestampMs

__all__ = [
    "DEFAULT_HISTORY_LIMIT",
    "ENGINE_TRANSITIONS",
    "STATE_FILE_VERSION",
    "EngineEdge",
    "EngineState",
    "EngineStateError",
    "EngineStateMachine",
    "EngineTransition",
    "IllegalEngineTransition",
]

DEFAULT_HISTORY_LIMIT: Final = 100
"""Transitions kept in :attr:`EngineStateMachine.history` (the oldest are dropped first)."""

STATE_FILE_VERSION: Final = 1
"""The ``version`` field of :meth:`EngineStateMachine.to_dict`; other versions are refused."""


class EngineState(StrEnum):
    """Where the engine is. See the module documentation for each state's meaning."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    ERROR = "ERROR"
    STOPPING = "STOPPING"

    @property
    def accepts_new_orders(self) -> bool:
        """New orders may go out: RUNNING only."""
        return self is EngineState.RUNNING

    @property
    def accepts_cancels(self) -> bool:
        """Cancels may go out: every state but STOPPED (nothing is connected there)."""
        return self is not EngineState.STOPPED

    @property
    def is_terminal(self) -> bool:
        """The run is over (STOPPED): only a new start moves the engine again."""
        return self is EngineState.STOPPED


@dataclass(frozen=True, slots=True)
class EngineEdge:
    """One allowed move of the table: ``when`` it happens, and whether only an operator may
    ask for it."""

    when: str
    operator_only: bool = False


_S = EngineState

# Rendered as the matrix in the module docstring; tests/engine/test_engine_state.py keeps the two equal.
ENGINE_TRANSITIONS: Final[Mapping[EngineState, Mapping[EngineState, EngineEdge]]] = MappingProxyType(
    {
        _S.STOPPED: MappingProxyType(
            {_S.STARTING: EngineEdge("start requested (command line, systemd or an operator)")}
        ),
        _S.STARTING: MappingProxyType(
            {
                _S.RUNNING: EngineEdge("connected, reconciled with the venue, feeds and heartbeat healthy"),
                _S.PAUSED: EngineEdge("reconciled, but a feed or the heartbeat is not healthy yet"),
                _S.ERROR: EngineEdge("reconciliation or another start-up check failed: a person must look"),
                _S.STOPPING: EngineEdge("stop requested while starting"),
            }
        ),
        _S.RUNNING: MappingProxyType(
            {
                _S.PAUSED: EngineEdge("heartbeat unhealthy, a feed stale, or an operator pause"),
                _S.ERROR: EngineEdge("a fault the engine cannot heal (state that does not reconcile)"),
                _S.STOPPING: EngineEdge("stop requested (Ctrl-C, SIGTERM, end of --duration, operator)"),
            }
        ),
        _S.PAUSED: MappingProxyType(
            {
                _S.RUNNING: EngineEdge("heartbeat and feeds healthy again, or an operator resume"),
                _S.PAUSED: EngineEdge("an operator takes over a health pause", operator_only=True),
                _S.ERROR: EngineEdge("the pause cannot heal (re-reconciliation after a reconnect failed)"),
                _S.STOPPING: EngineEdge("stop requested while paused"),
            }
        ),
        _S.ERROR: MappingProxyType(
            {
                _S.STARTING: EngineEdge(
                    "operator resume: reconcile with the venue again before trading", operator_only=True
                ),
                _S.STOPPING: EngineEdge("stop requested: shutting down cancels what is open"),
            }
        ),
        _S.STOPPING: MappingProxyType(
            {_S.STOPPED: EngineEdge("orders cancelled (best effort), state saved, connections closed")}
        ),
    }
)
"""Every allowed ``from → to`` move and why it happens; anything else raises
:class:`IllegalEngineTransition`."""


class EngineStateError(Exception):
    """Base of the errors of this module."""


class IllegalEngineTransition(EngineStateError):
    """A move the table (or the operator hold) does not allow. The machine is unchanged."""

    def __init__(self, from_state: EngineState, to_state: EngineState, problem: str) -> None:
        self.from_state = from_state
        self.to_state = to_state
        self.problem = problem
        super().__init__(f"engine cannot go from {from_state} to {to_state}: {problem}")


@dataclass(frozen=True, slots=True)
class EngineTransition:
    """One entry of the engine's history. ``seq`` counts the machine's transitions from 1 (it
    keeps counting when old entries are dropped); ``reason`` is the caller's, for people."""

    seq: int
    timestamp_ms: TimestampMs
    from_state: EngineState
    to_state: EngineState
    reason: str
    by_operator: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record; see :meth:`from_dict`."""
        return {
            "seq": self.seq,
            "timestamp_ms": self.timestamp_ms,
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "reason": self.reason,
            "by_operator": self.by_operator,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineTransition:
        """Rebuild a record saved by :meth:`to_dict`; ``ValueError`` naming the bad field."""
        return cls(
            seq=_int_field(data, "seq", minimum=1),
            timestamp_ms=_int_field(data, "timestamp_ms", minimum=0),
            from_state=_state_field(data, "from_state"),
            to_state=_state_field(data, "to_state"),
            reason=_str_field(data, "reason"),
            by_operator=_bool_field(data, "by_operator"),
        )


class EngineStateMachine:
    """The engine's state, its history, and the only way to change it.

    A new machine is STOPPED. ``history_limit`` bounds the history (at least 1).
    """

    def __init__(self, *, history_limit: int = DEFAULT_HISTORY_LIMIT, created_ms: TimestampMs = 0) -> None:
        if isinstance(history_limit, bool) or not isinstance(history_limit, int) or history_limit < 1:
            raise ValueError(f"history_limit must be an integer of at least 1 (got {history_limit!r})")
        _check_time(created_ms)
        self._state = EngineState.STOPPED
        self._entered_at_ms: TimestampMs = created_ms
        self._started_at_ms: TimestampMs | None = None
        self._operator_hold = False
        self._seq = 0
        self._history: deque[EngineTransition] = deque(maxlen=history_limit)

    # --- reading -------------------------------------------------------------------------------

    @property
    def state(self) -> EngineState:
        return self._state

    @property
    def entered_at_ms(self) -> TimestampMs:
        """When the current state was entered (the machine's creation time for a new one)."""
        return self._entered_at_ms

    @property
    def started_at_ms(self) -> TimestampMs | None:
        """When the current run started (the last STOPPED → STARTING); ``None`` before any.
        An operator resume (ERROR → STARTING) continues the run and keeps this time."""
        return self._started_at_ms

    @property
    def operator_hold(self) -> bool:
        """PAUSED by an operator: only an operator may resume (see the module documentation)."""
        return self._operator_hold

    @property
    def history(self) -> tuple[EngineTransition, ...]:
        """The most recent transitions, oldest first (at most :attr:`history_limit`)."""
        return tuple(self._history)

    @property
    def history_limit(self) -> int:
        limit = self._history.maxlen
        assert limit is not None  # always set in __init__
        return limit

    @property
    def transition_count(self) -> int:
        """Transitions made over the machine's life, dropped history included."""
        return self._seq

    @property
    def accepts_new_orders(self) -> bool:
        return self._state.accepts_new_orders

    @property
    def accepts_cancels(self) -> bool:
        return self._state.accepts_cancels

    @property
    def is_terminal(self) -> bool:
        return self._state.is_terminal

    def time_in_state_ms(self, now_ms: TimestampMs) -> int:
        """How long the engine has been in its state; 0 if ``now_ms`` is earlier than the entry
        (a clock that stepped back must not give a negative duration)."""
        return max(0, now_ms - self._entered_at_ms)

    def uptime_ms(self, now_ms: TimestampMs) -> int:
        """How long the current run has lasted; 0 when STOPPED or never started."""
        if self._started_at_ms is None or self._state is EngineState.STOPPED:
            return 0
        return max(0, now_ms - self._started_at_ms)

    # --- moving --------------------------------------------------------------------------------

    def can_transition(self, to: EngineState, *, by_operator: bool = False) -> bool:
        """Whether :meth:`transition` to ``to`` would succeed now (it changes nothing)."""
        return self._refusal(EngineState(to), by_operator) is None

    def transition(
        self, to: EngineState, reason: str, now_ms: TimestampMs, *, by_operator: bool = False
    ) -> EngineTransition:
        """Move to ``to`` because of ``reason`` at ``now_ms``; returns the history entry.

        ``by_operator`` says a person asked (a command, the status API): it is required on the
        operator-only edges, and a pause it makes can only be lifted by an operator. Raises
        :class:`IllegalEngineTransition` for a move the table does not allow, ``ValueError`` for
        an empty reason, an unknown state or a bad time; the machine is unchanged then.
        """
        target = EngineState(to)
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"a transition to {target} needs a reason (got {reason!r})")
        _check_time(now_ms)
        refusal = self._refusal(target, by_operator)
        if refusal is not None:
            raise IllegalEngineTransition(self._state, target, refusal)
        self._seq += 1
        record = EngineTransition(self._seq, now_ms, self._state, target, reason, by_operator)
        self._history.append(record)
        if self._state is EngineState.STOPPED and target is EngineState.STARTING:
            self._started_at_ms = now_ms
        if target is EngineState.PAUSED:
            # A health pause never clears a hold; an operator's pause (or takeover) sets it.
            self._operator_hold = self._operator_hold or by_operator
        else:
            self._operator_hold = False
        if target is not self._state:
            self._entered_at_ms = now_ms
        self._state = target
        return record

    def _refusal(self, target: EngineState, by_operator: bool) -> str | None:
        """Why a move to ``target`` is refused now, or ``None`` if it is allowed."""
        edges = ENGINE_TRANSITIONS[self._state]
        edge = edges.get(target)
        if edge is None:
            allowed = ", ".join(state.value for state in edges) or "nothing"
            return f"not in the transition table (from {self._state} only to {allowed})"
        if edge.operator_only and not by_operator:
            return f"only an operator may ask for this move ({edge.when})"
        if self._operator_hold and target is EngineState.RUNNING and not by_operator:
            return "an operator paused the engine: only an operator resumes it"
        return None

    # --- state file ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot of the whole machine (for the state file)."""
        return {
            "version": STATE_FILE_VERSION,
            "state": self._state.value,
            "entered_at_ms": self._entered_at_ms,
            "started_at_ms": self._started_at_ms,
            "operator_hold": self._operator_hold,
            "transition_count": self._seq,
            "history_limit": self.history_limit,
            "history": [entry.to_dict() for entry in self._history],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineStateMachine:
        """Rebuild a machine saved by :meth:`to_dict`, exactly as it was.

        The state is restored as saved: a state file that says RUNNING means the last run did
        not stop cleanly, and it is for the engine to decide what follows (a new run starts
        its own machine). A malformed or inconsistent snapshot raises ``ValueError`` naming the
        problem. A history longer than ``history_limit`` keeps its newest entries.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"engine state must be a mapping (got {type(data).__name__})")
        version = data.get("version")
        if version != STATE_FILE_VERSION:
            raise ValueError(f"engine state version {version!r} is not {STATE_FILE_VERSION}")
        raw_history = data.get("history")
        if not isinstance(raw_history, list):
            raise ValueError("engine state field 'history' must be a list")
        machine = cls(history_limit=_int_field(data, "history_limit", minimum=1))
        machine._state = _state_field(data, "state")
        machine._entered_at_ms = _int_field(data, "entered_at_ms", minimum=0)
        started = data.get("started_at_ms")
        machine._started_at_ms = None if started is None else _int_field(data, "started_at_ms", minimum=0)
        machine._operator_hold = _bool_field(data, "operator_hold")
        machine._seq = _int_field(data, "transition_count", minimum=0)
        for index, entry in enumerate(raw_history):
            if not isinstance(entry, Mapping):
                raise ValueError(f"engine state history[{index}] must be a mapping")
            try:
                machine._history.append(EngineTransition.from_dict(entry))
            except ValueError as exc:
                raise ValueError(f"engine state history[{index}]: {exc}") from None
        machine._check_consistent()
        return machine

    def _check_consistent(self) -> None:
        if self._operator_hold and self._state is not EngineState.PAUSED:
            raise ValueError(f"engine state has an operator hold in {self._state} (only PAUSED holds)")
        if self._history:
            last = self._history[-1]
            if last.to_state is not self._state:
                raise ValueError(
                    f"engine state is {self._state} but its last transition went to {last.to_state}"
                )
            if last.seq != self._seq:
                raise ValueError(f"transition_count {self._seq} differs from the last entry's seq {last.seq}")
        for earlier, later in zip(self._history, list(self._history)[1:], strict=False):
            if later.seq != earlier.seq + 1 or later.from_state is not earlier.to_state:
                raise ValueError(f"engine state history is not a chain at seq {later.seq}")
        for entry in self._history:
            if entry.to_state not in ENGINE_TRANSITIONS[entry.from_state]:
                raise ValueError(f"engine state history has an illegal move at seq {entry.seq}")

    def __repr__(self) -> str:
        return f"EngineStateMachine(state={self._state}, entered_at_ms={self._entered_at_ms})"


# --- field readers (JSON input is untrusted: name the field that is wrong) -------------------


def _check_time(now_ms: object) -> None:
    if isinstance(now_ms, bool) or not isinstance(now_ms, int) or now_ms < 0:
        raise ValueError(f"time must be a non-negative integer of milliseconds (got {now_ms!r})")


def _int_field(data: Mapping[str, Any], name: str, *, minimum: int) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"field {name!r} must be an integer of at least {minimum} (got {value!r})")
    return value


def _str_field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ValueError(f"field {name!r} must be a string (got {value!r})")
    return value


def _bool_field(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise ValueError(f"field {name!r} must be true or false (got {value!r})")
    return value


def _state_field(data: Mapping[str, Any], name: str) -> EngineState:
    value = data.get(name)
    try:
        return EngineState(str(value))
    except ValueError:
        raise ValueError(f"field {name!r} is not an engine state (got {value!r})") from None
