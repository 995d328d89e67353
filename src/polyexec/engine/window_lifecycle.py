"""The life of each Up/Down window the engine trades, and what is due at each step.

A :class:`WindowLifecycle` tracks many markets (windows of one or more assets). The engine
:meth:`~WindowLifecycle.add`\\ s each market discovery finds, calls
:meth:`~WindowLifecycle.advance` with the current time on every tick (or timer), and carries
out the :data:`LifecycleAction`\\ s it returns; it reports the venue's resolution with
:meth:`~WindowLifecycle.resolve`. Before sending a new order it asks
:meth:`~WindowLifecycle.tradable_for_new_orders`. The module is pure: time is passed in
(integer milliseconds), nothing here does I/O.

Phases (in order; a market only ever moves forward)
---------------------------------------------------
=========  ==================================================================================
UPCOMING   listed, not open for new positions yet: before ``window_start``, or before the risk
           manager's time window opens (more than ``limits.max_seconds_to_end`` seconds left).
OPEN       new positions allowed: the window has started and the seconds left are between
           ``limits.min_seconds_to_end`` and ``limits.max_seconds_to_end`` (both inclusive, as
           the risk manager checks them).
CLOSING    no new positions: fewer than ``stop_s = max(limits.min_seconds_to_end,
           stop_opening_before_end_s)`` seconds left. Resting orders are cancelled from
           ``cancel_before_end_s`` seconds before the end (never before CLOSING starts: a
           quote cancelled while opening is still allowed would only be placed again).
ENDED      the window is over; awaiting the venue's resolution.
RESOLVED   the resolution is known: positions settle on it.
FORGOTTEN  settled and archived; the market is dropped (a bounded memory of recently
           forgotten ids keeps a re-listed or re-resolved market from coming back).
=========  ==================================================================================

Boundaries, exactly (``end`` = ``window_end`` in ms): OPEN from ``max(start, end −
max_seconds_to_end)`` up to and including ``end − stop_s`` (the risk manager allows exactly
``stop_s`` seconds left); CLOSING from the next millisecond; ENDED from ``end`` itself.

Actions (each emitted exactly once per market, by :meth:`~WindowLifecycle.advance`)
-----------------------------------------------------------------------------------
* :class:`Roll` ``(asset, from, to)`` when an advance finds a window OPEN that is later than the
  asset's current one; ``from`` is ``None`` for the asset's first window. A window that was
  never seen OPEN (time jumped past it, or it has no OPEN phase) is never rolled to.
* :class:`StopOpening` when CLOSING starts; :class:`CancelResting` at the cancel time.
* :class:`AwaitResolution` when an advance finds the window over and its resolution unknown.
* :class:`Settle` ``(condition_id, winner)`` on the first advance after :meth:`resolve`.
* :class:`Forget` ``forget_after_settle_s`` after the advance that emitted Settle; the market
  is dropped then.

One advance returns every action that became due since the last one, in the order they
became due (an advance after a long gap catches up in order). A resolution known before the
window ends (the venue's clock and ours differ by a little) is trusted: the phase becomes
RESOLVED at once and StopOpening and CancelResting become due with it, before Settle;
AwaitResolution is skipped. A resolution before the window even started is refused.

Time
----
The lifecycle's clock is the latest time any call has passed in: a call with an earlier time
(a clock stepping back) is treated as happening at that latest time, so it never re-emits an
action, never moves a phase backwards and never re-allows opening a market that was closing.

Short windows (the simulator runs 60-second ones)
-------------------------------------------------
``min_seconds_to_end`` and ``max_seconds_to_end`` are **not scaled** to the window length:
they are the risk manager's limits, and the risk manager applies them in absolute seconds, so
a scaled lifecycle would announce OPEN while every opening order is denied. The OPEN phase is
clipped to the window instead: with a 60 s window and the defaults (30 / 870) a window is OPEN
for its first 30 s and CLOSING for the last 30 s. When the limits leave no OPEN phase at all
(``stop_s`` at least the window length) the market goes straight from UPCOMING to CLOSING, is
never tradable, and its :class:`WindowSchedule` carries
:attr:`ScheduleWarning.NO_OPEN_PHASE`; nothing raises.

Memory
------
Markets are dropped when forgotten. A market whose resolution never arrives stays (ENDED) on
purpose: positions in it are still money. The tracker is not persisted: after a restart the
engine adds the markets again and receives the due actions again, so their handlers must be
idempotent (cancelling a market twice or settling a settled position changes nothing).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from polyexec.core.models import Market, Outcome, TimestampMs
from polyexec.core.risk_limits import RiskLimits

__all__ = [
    "AwaitResolution",
    "CancelResting",
    "ConflictingResolution",
    "Forget",
    "LifecycleAction",
    "LifecycleError",
    "LifecyclePhase",
    "ResolutionTooEarly",
    "Roll",
    "ScheduleWarning",
    "Settle",
    "StopOpening",
    "UnknownMarket",
    "WindowLifecycle",
    "WindowSchedule",
]

_SECOND_MS: Final = 1000


class LifecyclePhase(StrEnum):
    """Where a window is in its life; see the module documentation."""

    UPCOMING = "UPCOMING"
    OPEN = "OPEN"
    CLOSING = "CLOSING"
    ENDED = "ENDED"
    RESOLVED = "RESOLVED"
    FORGOTTEN = "FORGOTTEN"

    @property
    def rank(self) -> int:
        """Position in the life (UPCOMING = 0 … FORGOTTEN = 5): phases only ever increase."""
        return _PHASE_ORDER.index(self)


_PHASE_ORDER: Final = tuple(LifecyclePhase)


class ScheduleWarning(StrEnum):
    """Something about a window's schedule the operator should know; never an error."""

    NO_OPEN_PHASE = "NO_OPEN_PHASE"
    """The time limits leave no moment to open positions in this window (it is too short)."""


# --- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StopOpening:
    """No new positions in this market from now on (CLOSING started)."""

    condition_id: str


@dataclass(frozen=True, slots=True)
class CancelResting:
    """Cancel every resting order in this market: the window ends soon."""

    condition_id: str


@dataclass(frozen=True, slots=True)
class AwaitResolution:
    """The window is over and its resolution unknown: watch the venue for it."""

    condition_id: str


@dataclass(frozen=True, slots=True)
class Settle:
    """The venue resolved the market: settle positions (``winner`` pays 1, the other 0)."""

    condition_id: str
    winner: Outcome


@dataclass(frozen=True, slots=True)
class Forget:
    """The market is settled and archived: drop its books, subscriptions and state."""

    condition_id: str


@dataclass(frozen=True, slots=True)
class Roll:
    """``to_condition_id`` is now ``asset``'s current window (``from_condition_id`` was, or
    ``None`` for the asset's first one): trade there from now on."""

    asset: str
    from_condition_id: str | None
    to_condition_id: str


LifecycleAction = StopOpening | CancelResting | AwaitResolution | Settle | Forget | Roll
"""What :meth:`WindowLifecycle.advance` asks the engine to do."""


# --- errors ----------------------------------------------------------------------------------


class LifecycleError(Exception):
    """Base of the errors of this module. When one is raised nothing changed."""


class UnknownMarket(LifecycleError, KeyError):
    """A condition id the lifecycle does not track (and has not recently forgotten)."""

    def __init__(self, condition_id: str) -> None:
        self.condition_id = condition_id
        super().__init__(f"market {condition_id} is not tracked by the window lifecycle")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ConflictingResolution(LifecycleError):
    """A second resolution that names the other winner: one of the two is wrong."""

    def __init__(self, condition_id: str, known: Outcome, claimed: Outcome) -> None:
        self.condition_id = condition_id
        self.known = known
        self.claimed = claimed
        super().__init__(
            f"market {condition_id} already resolved {known}; refusing a resolution of {claimed}"
        )


class ResolutionTooEarly(LifecycleError):
    """A resolution for a window that has not started: no venue can know it yet."""

    def __init__(self, condition_id: str, now_ms: TimestampMs, start_ms: TimestampMs) -> None:
        self.condition_id = condition_id
        super().__init__(
            f"market {condition_id} cannot be resolved at {now_ms} ms: its window starts at {start_ms} ms"
        )


# --- schedule --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowSchedule:
    """The times (Unix ms) at which one window changes phase, fixed when it is added.

    ``open_at_ms`` is the first millisecond new positions are allowed, ``closing_at_ms`` the
    first one they are not (OPEN is ``[open_at_ms, closing_at_ms)``, empty when
    ``open_at_ms >= closing_at_ms``), ``cancel_at_ms`` when resting orders must be cancelled,
    ``end_ms`` when the window is over.
    """

    condition_id: str
    asset: str
    start_ms: TimestampMs
    open_at_ms: TimestampMs
    closing_at_ms: TimestampMs
    cancel_at_ms: TimestampMs
    end_ms: TimestampMs
    warning: ScheduleWarning | None = None

    @property
    def has_open_phase(self) -> bool:
        return self.open_at_ms < self.closing_at_ms

    @property
    def open_duration_ms(self) -> int:
        """How long the window accepts new positions (0 without an OPEN phase)."""
        return max(0, self.closing_at_ms - self.open_at_ms)

    def phase_at(self, now_ms: TimestampMs) -> LifecyclePhase:
        """The phase the clock alone gives (UPCOMING to ENDED; resolution is not a time)."""
        if now_ms >= self.end_ms:
            return LifecyclePhase.ENDED
        if now_ms < self.start_ms:
            return LifecyclePhase.UPCOMING
        if now_ms >= self.closing_at_ms:
            return LifecyclePhase.CLOSING
        if now_ms >= self.open_at_ms:
            return LifecyclePhase.OPEN
        return LifecyclePhase.UPCOMING


# Within one market, actions become due in this order (ties in time keep it).
_RANK: Final[dict[type, int]] = {
    Roll: 0,
    StopOpening: 1,
    CancelResting: 2,
    AwaitResolution: 3,
    Settle: 4,
    Forget: 5,
}


@dataclass(slots=True)
class _Window:
    """One tracked market and what has been emitted for it."""

    market: Market
    schedule: WindowSchedule
    winner: Outcome | None = None
    resolved_at_ms: TimestampMs | None = None
    settled_at_ms: TimestampMs | None = None
    roll_done: bool = False
    stop_emitted: bool = False
    cancel_emitted: bool = False
    await_emitted: bool = False

    def phase(self, now_ms: TimestampMs) -> LifecyclePhase:
        return LifecyclePhase.RESOLVED if self.winner is not None else self.schedule.phase_at(now_ms)


_Due = tuple[TimestampMs, TimestampMs, str, int, LifecycleAction]
"""(due time, window start, condition id, rank, action): the sort key of an advance's output."""


class WindowLifecycle:
    """The lifecycle of every window the engine trades; see the module documentation.

    ``limits`` gives the risk manager's time window (``min_seconds_to_end``,
    ``max_seconds_to_end``). ``stop_opening_before_end_s`` can stop opening earlier than
    ``min_seconds_to_end`` (the larger wins); ``cancel_before_end_s`` (at least 1) is when
    resting orders are cancelled; ``forget_after_settle_s`` how long a settled market is kept;
    ``forgotten_memory`` how many forgotten ids are remembered. Bad settings raise
    ``ValueError`` naming them.
    """

    def __init__(
        self,
        limits: RiskLimits,
        *,
        stop_opening_before_end_s: int = 0,
        cancel_before_end_s: int = 30,
        forget_after_settle_s: int = 300,
        forgotten_memory: int = 1024,
    ) -> None:
        for name, value, minimum in (
            ("stop_opening_before_end_s", stop_opening_before_end_s, 0),
            ("cancel_before_end_s", cancel_before_end_s, 1),
            ("forget_after_settle_s", forget_after_settle_s, 0),
            ("forgotten_memory", forgotten_memory, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer of at least {minimum} (got {value!r})")
        self._max_s = limits.max_seconds_to_end
        self._stop_s = max(limits.min_seconds_to_end, stop_opening_before_end_s)
        self._cancel_s = cancel_before_end_s
        self._forget_after_ms = forget_after_settle_s * _SECOND_MS
        self._forgotten_memory = forgotten_memory
        self._windows: dict[str, _Window] = {}
        self._forgotten: OrderedDict[str, None] = OrderedDict()
        self._current: dict[str, tuple[str, TimestampMs]] = {}  # asset -> (condition id, start)
        self._clock_ms: TimestampMs = 0

    # --- markets -------------------------------------------------------------------------------

    def add(self, market: Market) -> WindowSchedule | None:
        """Track ``market``; returns its schedule (check :attr:`WindowSchedule.warning`).

        Adding a tracked market again returns its schedule unchanged; a recently forgotten
        market is ignored (``None``): discovery may list it again after it was archived. A
        market with an empty id or asset, a window that does not end after it starts, or an id
        already tracked with another window raises ``ValueError``.
        """
        condition_id = market.condition_id
        if not condition_id or not market.asset:
            raise ValueError(f"market {market.slug!r} needs a condition id and an asset")
        if condition_id in self._forgotten:
            return None
        known = self._windows.get(condition_id)
        if known is not None:
            if (known.market.window_start, known.market.window_end, known.market.asset) != (
                market.window_start,
                market.window_end,
                market.asset,
            ):
                raise ValueError(
                    f"market {condition_id} is already tracked as {known.market.slug} with another "
                    f"window ({known.market.window_start}–{known.market.window_end}, got "
                    f"{market.window_start}–{market.window_end})"
                )
            return known.schedule
        if market.window_end <= market.window_start:
            raise ValueError(
                f"market {market.slug} ends ({market.window_end}) before it starts ({market.window_start})"
            )
        schedule = self._schedule_for(market)
        self._windows[condition_id] = _Window(market, schedule)
        return schedule

    def _schedule_for(self, market: Market) -> WindowSchedule:
        start = market.window_start * _SECOND_MS
        end = market.window_end * _SECOND_MS
        open_at = max(start, end - self._max_s * _SECOND_MS)
        # OPEN includes exactly stop_s seconds left (the risk manager's inclusive bound), so
        # CLOSING starts one millisecond later; never after the end, never before the start.
        closing_at = max(start, min(end - self._stop_s * _SECOND_MS + 1, end))
        cancel_at = min(max(end - self._cancel_s * _SECOND_MS, closing_at), end)
        warning = None if open_at < closing_at else ScheduleWarning.NO_OPEN_PHASE
        return WindowSchedule(
            market.condition_id, market.asset, start, open_at, closing_at, cancel_at, end, warning
        )

    def __len__(self) -> int:
        """Markets tracked (forgotten ones not counted)."""
        return len(self._windows)

    def __contains__(self, condition_id: object) -> bool:
        return condition_id in self._windows

    def __iter__(self) -> Iterator[str]:
        """Condition ids tracked, in the order they were added."""
        return iter(tuple(self._windows))

    def market(self, condition_id: str) -> Market:
        return self._window(condition_id).market

    def schedule(self, condition_id: str) -> WindowSchedule:
        return self._window(condition_id).schedule

    def winner(self, condition_id: str) -> Outcome | None:
        """The resolution once known, else ``None``."""
        return self._window(condition_id).winner

    def current_market(self, asset: str) -> str | None:
        """The asset's current window (the last :class:`Roll` target), ``None`` before any."""
        current = self._current.get(asset)
        return None if current is None else current[0]

    def is_forgotten(self, condition_id: str) -> bool:
        """Forgotten recently enough to be remembered (see ``forgotten_memory``)."""
        return condition_id in self._forgotten

    def _window(self, condition_id: str) -> _Window:
        window = self._windows.get(condition_id)
        if window is None:
            raise UnknownMarket(condition_id)
        return window

    # --- time ----------------------------------------------------------------------------------

    @property
    def clock_ms(self) -> TimestampMs:
        """The latest time any call has passed in (0 before the first)."""
        return self._clock_ms

    def _observe(self, now_ms: TimestampMs) -> TimestampMs:
        _check_time(now_ms)
        self._clock_ms = max(self._clock_ms, now_ms)
        return self._clock_ms

    def phase(self, condition_id: str, now_ms: TimestampMs) -> LifecyclePhase:
        """The market's phase at ``now_ms`` (or the lifecycle's clock, if later). FORGOTTEN for
        a recently forgotten market; :class:`UnknownMarket` for one never tracked."""
        if condition_id in self._forgotten:
            return LifecyclePhase.FORGOTTEN
        window = self._window(condition_id)
        return window.phase(self._observe(now_ms))

    def tradable_for_new_orders(self, condition_id: str, now_ms: TimestampMs) -> bool:
        """Whether a new (opening) order may go to this market now: its phase is OPEN. False
        for a market that is not tracked: never open a position where nothing will close it."""
        window = self._windows.get(condition_id)
        if window is None:
            return False
        return window.phase(self._observe(now_ms)) is LifecyclePhase.OPEN

    def awaiting_resolution(self, now_ms: TimestampMs) -> tuple[str, ...]:
        """Markets whose window is over and whose resolution is unknown (to poll the venue)."""
        now = self._observe(now_ms)
        return tuple(
            cid for cid, window in self._windows.items() if window.phase(now) is LifecyclePhase.ENDED
        )

    # --- facts ---------------------------------------------------------------------------------

    def resolve(self, condition_id: str, winner: Outcome, now_ms: TimestampMs) -> bool:
        """Record the venue's resolution; :class:`Settle` follows on the next advance.

        Returns ``True`` when this is news, ``False`` for a repeat (same winner) or a market
        already forgotten. Raises :class:`UnknownMarket` for a market never tracked,
        :class:`ConflictingResolution` for the other winner than the one recorded,
        :class:`ResolutionTooEarly` before the window started, ``ValueError`` for a winner that
        is not an outcome. Nothing changes when it raises.
        """
        outcome = Outcome(winner)
        _check_time(now_ms)
        if condition_id in self._forgotten:
            return False
        window = self._window(condition_id)
        if window.winner is not None:
            if window.winner is not outcome:
                raise ConflictingResolution(condition_id, window.winner, outcome)
            return False
        now = max(self._clock_ms, now_ms)
        if now < window.schedule.start_ms:
            raise ResolutionTooEarly(condition_id, now, window.schedule.start_ms)
        self._clock_ms = now
        window.winner = outcome
        window.resolved_at_ms = now
        return True

    def advance(self, now_ms: TimestampMs) -> list[LifecycleAction]:
        """Every action that became due up to ``now_ms`` and was not emitted before, in the
        order they became due. Calling it again at the same (or an earlier) time returns []."""
        now = self._observe(now_ms)
        due: list[_Due] = []
        for window in sorted(
            self._windows.values(), key=lambda w: (w.schedule.start_ms, w.market.condition_id)
        ):
            self._roll_if_open(window, now, due)
            self._collect(window, now, due)
        due.sort(key=lambda item: item[:4])
        return [item[4] for item in due]

    def _roll_if_open(self, window: _Window, now: TimestampMs, due: list[_Due]) -> None:
        if window.roll_done or window.phase(now) is not LifecyclePhase.OPEN:
            return
        window.roll_done = True
        asset = window.market.asset
        cid = window.market.condition_id
        current = self._current.get(asset)
        if current is not None and current[1] >= window.schedule.start_ms:
            return  # a later window is already current (windows added late): never roll back
        self._current[asset] = (cid, window.schedule.start_ms)
        from_id = None if current is None else current[0]
        self._push(due, window, window.schedule.open_at_ms, Roll(asset, from_id, cid))

    def _collect(self, window: _Window, now: TimestampMs, due: list[_Due]) -> None:
        schedule = window.schedule
        cid = window.market.condition_id
        resolved_at = window.resolved_at_ms
        # An early resolution makes what precedes Settle due with it (never later than it).
        early = resolved_at if resolved_at is not None else now + 1
        stop_at = min(schedule.closing_at_ms, early)
        cancel_at = min(schedule.cancel_at_ms, early)
        if not window.stop_emitted and now >= stop_at:
            window.stop_emitted = True
            self._push(due, window, stop_at, StopOpening(cid))
        if not window.cancel_emitted and now >= cancel_at:
            window.cancel_emitted = True
            self._push(due, window, cancel_at, CancelResting(cid))
        if window.winner is None:
            if not window.await_emitted and now >= schedule.end_ms:
                window.await_emitted = True
                self._push(due, window, schedule.end_ms, AwaitResolution(cid))
            return
        if window.settled_at_ms is None:
            window.settled_at_ms = now
            assert resolved_at is not None  # set together with winner
            self._push(due, window, resolved_at, Settle(cid, window.winner))
        forget_at = window.settled_at_ms + self._forget_after_ms
        if now >= forget_at:
            self._push(due, window, forget_at, Forget(cid))
            self._drop(cid)

    @staticmethod
    def _push(due: list[_Due], window: _Window, at_ms: TimestampMs, action: LifecycleAction) -> None:
        due.append((at_ms, window.schedule.start_ms, window.market.condition_id, _RANK[type(action)], action))

    def _drop(self, condition_id: str) -> None:
        del self._windows[condition_id]
        self._forgotten[condition_id] = None
        while len(self._forgotten) > self._forgotten_memory:
            self._forgotten.popitem(last=False)


def _check_time(now_ms: object) -> None:
    if isinstance(now_ms, bool) or not isinstance(now_ms, int):
        raise ValueError(f"time must be an integer of milliseconds (got {now_ms!r})")
