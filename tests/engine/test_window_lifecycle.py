"""Tests for the window lifecycle (src/polyexec/engine/window_lifecycle.py): phases at their
exact boundaries, the actions and that each comes exactly once (repeated and backwards times
included), rolls between consecutive windows, resolutions before and after the end, 60-second
windows, bounded memory, and a property test over random advance/resolve sequences."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.models import Market, Outcome
from polyexec.core.risk_checks import check_time_window
from polyexec.core.risk_limits import RiskLimits
from polyexec.engine.window_lifecycle import (
    AwaitResolution,
    CancelResting,
    ConflictingResolution,
    Forget,
    LifecycleAction,
    LifecycleError,
    LifecyclePhase,
    ResolutionTooEarly,
    Roll,
    ScheduleWarning,
    Settle,
    StopOpening,
    UnknownMarket,
    WindowLifecycle,
)
from tests.core.risk_factories import ctx

P = LifecyclePhase
SECOND = 1_000
T0 = 1_790_616_600  # a window start (Unix seconds)
DEFAULT_LIMITS = RiskLimits()  # min_seconds_to_end 30, max_seconds_to_end 870


def market(asset: str = "btc", start: int = T0, length: int = 900) -> Market:
    return Market(
        asset=asset,
        slug=f"{asset}-updown-15m-{start}",
        condition_id=f"0x{asset}{start:x}{length:x}",
        up_token_id=f"{start}1",
        down_token_id=f"{start}2",
        window_start=start,
        window_end=start + length,
    )


def ms(seconds: int) -> int:
    return seconds * SECOND


def lifecycle(limits: RiskLimits = DEFAULT_LIMITS, **options: Any) -> WindowLifecycle:
    return WindowLifecycle(limits, **options)


# --- schedule and phases ---------------------------------------------------------------------


def test_schedule_of_a_15_minute_window() -> None:
    m = market()
    schedule = lifecycle().add(m)
    assert schedule is not None
    assert schedule.start_ms == ms(T0)
    assert schedule.end_ms == ms(T0 + 900)
    assert schedule.open_at_ms == ms(T0 + 30)  # 870 s before the end
    assert schedule.closing_at_ms == ms(T0 + 870) + 1  # exactly 30 s left is still OPEN
    assert schedule.cancel_at_ms == schedule.closing_at_ms  # 30 s margin: cancel as CLOSING starts
    assert schedule.warning is None
    assert schedule.has_open_phase
    assert schedule.open_duration_ms == ms(840) + 1


@pytest.mark.parametrize(
    ("at_ms", "phase"),
    [
        (ms(T0) - 1, P.UPCOMING),
        (ms(T0), P.UPCOMING),  # started, but more than 870 s left
        (ms(T0 + 30) - 1, P.UPCOMING),
        (ms(T0 + 30), P.OPEN),  # exactly max_seconds_to_end left
        (ms(T0 + 870), P.OPEN),  # exactly min_seconds_to_end left
        (ms(T0 + 870) + 1, P.CLOSING),
        (ms(T0 + 900) - 1, P.CLOSING),
        (ms(T0 + 900), P.ENDED),  # the window end itself
        (ms(T0 + 10_000), P.ENDED),
    ],
)
def test_phase_at_the_exact_boundaries(at_ms: int, phase: LifecyclePhase) -> None:
    life = lifecycle()
    m = market()
    life.add(m)
    assert life.phase(m.condition_id, at_ms) is phase
    assert life.tradable_for_new_orders(m.condition_id, at_ms) is (phase is P.OPEN)


def test_a_window_open_from_its_start_when_max_covers_it() -> None:
    life = lifecycle(RiskLimits(min_seconds_to_end=30, max_seconds_to_end=900))
    m = market()
    life.add(m)
    assert life.phase(m.condition_id, ms(T0) - 1) is P.UPCOMING
    assert life.phase(m.condition_id, ms(T0)) is P.OPEN  # now = window_start


@pytest.mark.parametrize("length", [60, 900])
def test_tradable_agrees_with_the_risk_managers_time_window(length: int) -> None:
    m = market(length=length)
    end = ms(m.window_end)
    times = [ms(T0), ms(T0) + 1, end - ms(870), end - ms(870) - 1, end - ms(30), end - ms(30) + 1, end - 1]
    for at in sorted(t for t in times if t >= ms(T0)):  # ascending: the lifecycle's clock moves on
        life = lifecycle()
        life.add(m)
        risk_allows = check_time_window(DEFAULT_LIMITS, ctx(market=m, now_ms=at), reducing=False) is None
        assert life.tradable_for_new_orders(m.condition_id, at) is risk_allows, at


def test_stop_opening_margin_and_cancel_margin() -> None:
    life = lifecycle(stop_opening_before_end_s=120, cancel_before_end_s=10)
    m = market()
    schedule = life.add(m)
    assert schedule is not None
    assert schedule.closing_at_ms == ms(T0 + 780) + 1  # the larger of 30 and 120
    assert schedule.cancel_at_ms == ms(T0 + 890)
    life.advance(ms(T0 + 780))
    assert life.advance(ms(T0 + 780) + 1) == [StopOpening(m.condition_id)]
    assert life.advance(ms(T0 + 890) - 1) == []
    assert life.advance(ms(T0 + 890)) == [CancelResting(m.condition_id)]


def test_a_cancel_margin_longer_than_the_closing_is_clamped_to_its_start() -> None:
    life = lifecycle(cancel_before_end_s=300)
    m = market()
    schedule = life.add(m)
    assert schedule is not None
    assert schedule.cancel_at_ms == schedule.closing_at_ms
    assert life.advance(ms(T0 + 600)) == [Roll("btc", None, m.condition_id)]  # still OPEN: no cancel
    assert life.advance(schedule.closing_at_ms) == [
        StopOpening(m.condition_id),
        CancelResting(m.condition_id),
    ]


# --- actions ---------------------------------------------------------------------------------


def test_the_whole_life_of_one_window_emits_each_action_once() -> None:
    life = lifecycle(forget_after_settle_s=60)
    m = market()
    cid = m.condition_id
    life.add(m)
    assert life.advance(ms(T0 - 10)) == []
    assert life.advance(ms(T0 + 30)) == [Roll("btc", None, cid)]
    assert life.current_market("btc") == cid
    assert life.advance(ms(T0 + 31)) == []
    assert life.advance(ms(T0 + 870) + 1) == [StopOpening(cid), CancelResting(cid)]
    assert life.advance(ms(T0 + 899)) == []
    assert life.advance(ms(T0 + 900)) == [AwaitResolution(cid)]
    assert life.awaiting_resolution(ms(T0 + 900)) == (cid,)
    assert life.advance(ms(T0 + 950)) == []
    assert life.resolve(cid, Outcome.DOWN, ms(T0 + 960)) is True
    assert life.phase(cid, ms(T0 + 960)) is P.RESOLVED
    assert life.awaiting_resolution(ms(T0 + 960)) == ()
    assert life.advance(ms(T0 + 961)) == [Settle(cid, Outcome.DOWN)]
    assert life.advance(ms(T0 + 1020)) == []
    assert life.advance(ms(T0 + 1021)) == [Forget(cid)]  # 60 s after the advance that settled
    assert life.phase(cid, ms(T0 + 1021)) is P.FORGOTTEN
    assert cid not in life
    assert len(life) == 0
    assert life.advance(ms(T0 + 5000)) == []


def test_repeated_and_backwards_times_never_re_emit() -> None:
    life = lifecycle()
    m = market()
    cid = m.condition_id
    life.add(m)
    first = life.advance(ms(T0 + 900))
    assert first == [StopOpening(cid), CancelResting(cid), AwaitResolution(cid)]  # caught up in order
    assert life.advance(ms(T0 + 900)) == []
    assert life.advance(ms(T0 + 100)) == []  # the clock stepped back
    assert life.phase(cid, ms(T0 + 100)) is P.ENDED  # and the phase did not
    assert not life.tradable_for_new_orders(cid, ms(T0 + 100))
    assert life.clock_ms == ms(T0 + 900)


def test_a_query_that_saw_closing_never_reopens_the_market() -> None:
    life = lifecycle()
    m = market()
    life.add(m)
    assert life.phase(m.condition_id, ms(T0 + 880)) is P.CLOSING
    assert life.tradable_for_new_orders(m.condition_id, ms(T0 + 500)) is False


def test_resolution_before_the_end_settles_without_awaiting() -> None:
    life = lifecycle(forget_after_settle_s=0)
    m = market()
    cid = m.condition_id
    life.add(m)
    assert life.advance(ms(T0 + 100)) == [Roll("btc", None, cid)]
    assert life.resolve(cid, Outcome.UP, ms(T0 + 899)) is True  # our clock runs a little late
    assert life.phase(cid, ms(T0 + 899)) is P.RESOLVED
    assert not life.tradable_for_new_orders(cid, ms(T0 + 899))
    assert life.advance(ms(T0 + 899)) == [
        StopOpening(cid),
        CancelResting(cid),
        Settle(cid, Outcome.UP),
        Forget(cid),  # no delay configured: forgotten in the same advance
    ]
    assert life.advance(ms(T0 + 2000)) == []


def test_resolution_during_the_open_phase_stops_opening_at_once() -> None:
    life = lifecycle()
    m = market()
    cid = m.condition_id
    life.add(m)
    life.resolve(cid, Outcome.DOWN, ms(T0 + 400))
    assert life.advance(ms(T0 + 400)) == [StopOpening(cid), CancelResting(cid), Settle(cid, Outcome.DOWN)]
    assert life.current_market("btc") is None  # a resolved window is never rolled to


def test_resolution_before_the_window_starts_is_refused() -> None:
    life = lifecycle()
    m = market()
    life.add(m)
    with pytest.raises(ResolutionTooEarly, match=m.condition_id):
        life.resolve(m.condition_id, Outcome.UP, ms(T0) - 1)
    assert life.winner(m.condition_id) is None
    assert life.clock_ms == 0  # nothing changed, not even the clock


def test_repeated_and_conflicting_resolutions() -> None:
    life = lifecycle()
    m = market()
    cid = m.condition_id
    life.add(m)
    assert life.resolve(cid, Outcome.UP, ms(T0 + 901))
    assert life.resolve(cid, Outcome.UP, ms(T0 + 902)) is False
    with pytest.raises(ConflictingResolution, match="Down"):
        life.resolve(cid, Outcome.DOWN, ms(T0 + 903))
    assert life.winner(cid) is Outcome.UP
    assert life.advance(ms(T0 + 904))[-1] == Settle(cid, Outcome.UP)
    with pytest.raises(ValueError):
        life.resolve(cid, "Sideways", ms(T0 + 905))  # type: ignore[arg-type]


def test_unknown_markets() -> None:
    life = lifecycle()
    with pytest.raises(UnknownMarket) as caught:
        life.phase("0xnope", 1)
    assert isinstance(caught.value, KeyError)
    assert isinstance(caught.value, LifecycleError)
    assert "0xnope" in str(caught.value)
    with pytest.raises(UnknownMarket):
        life.resolve("0xnope", Outcome.UP, 1)
    assert life.tradable_for_new_orders("0xnope", 1) is False


# --- rolling ---------------------------------------------------------------------------------


def test_roll_between_consecutive_windows() -> None:
    life = lifecycle()
    first, second, third = market(start=T0), market(start=T0 + 900), market(start=T0 + 1800)
    for m in (first, second, third):
        life.add(m)
    assert life.advance(ms(T0 + 30)) == [Roll("btc", None, first.condition_id)]
    actions = life.advance(ms(T0 + 930))
    assert actions == [
        StopOpening(first.condition_id),
        CancelResting(first.condition_id),
        AwaitResolution(first.condition_id),
        Roll("btc", first.condition_id, second.condition_id),
    ]
    assert life.current_market("btc") == second.condition_id
    # Time jumps past the third window's OPEN phase: it is never rolled to.
    actions = life.advance(ms(T0 + 2690))
    assert not any(isinstance(action, Roll) for action in actions)
    assert life.current_market("btc") == second.condition_id


def test_assets_roll_independently_and_never_back() -> None:
    life = lifecycle()
    btc, eth = market("btc"), market("eth")
    late = market("btc", start=T0 + 60, length=60)
    life.add(btc)
    life.add(eth)
    assert life.advance(ms(T0 + 30)) == [
        Roll("btc", None, btc.condition_id),
        Roll("eth", None, eth.condition_id),
    ]
    life.add(late)  # an overlapping later window of btc
    assert life.advance(ms(T0 + 60)) == [Roll("btc", btc.condition_id, late.condition_id)]
    overlapping_earlier = market("btc", start=T0 + 50, length=600)
    life.add(overlapping_earlier)  # OPEN now, but older than the current window
    assert life.advance(ms(T0 + 61)) == []
    assert life.current_market("btc") == late.condition_id


# --- short windows ---------------------------------------------------------------------------


def test_60_second_windows_open_trade_close_roll_and_settle() -> None:
    life = lifecycle(forget_after_settle_s=5)
    windows = [market(start=T0 + 60 * i, length=60) for i in range(3)]
    for m in windows:
        schedule = life.add(m)
        assert schedule is not None
        assert schedule.warning is None
        assert schedule.open_at_ms == ms(m.window_start)  # clipped to the window start
        assert schedule.closing_at_ms == ms(m.window_start + 30) + 1
    a, b, _ = (m.condition_id for m in windows)
    assert life.phase(a, ms(T0)) is P.OPEN
    assert life.advance(ms(T0)) == [Roll("btc", None, a)]
    assert life.advance(ms(T0 + 30)) == []
    assert life.advance(ms(T0 + 31)) == [StopOpening(a), CancelResting(a)]
    assert life.advance(ms(T0 + 60)) == [AwaitResolution(a), Roll("btc", a, b)]
    life.resolve(a, Outcome.UP, ms(T0 + 62))
    assert life.advance(ms(T0 + 62)) == [Settle(a, Outcome.UP)]
    assert life.advance(ms(T0 + 67)) == [Forget(a)]
    assert len(life) == 2


def test_limits_equal_to_the_window_leave_one_millisecond_open_as_the_risk_manager_does() -> None:
    life = lifecycle(RiskLimits(min_seconds_to_end=60, max_seconds_to_end=870))
    m = market(length=60)
    schedule = life.add(m)
    assert schedule is not None
    assert schedule.warning is None
    assert schedule.open_duration_ms == 1
    assert life.tradable_for_new_orders(m.condition_id, ms(T0))  # exactly 60 s left: risk allows it
    assert not life.tradable_for_new_orders(m.condition_id, ms(T0) + 1)


@pytest.mark.parametrize("min_seconds", [61, 90])
def test_limits_that_leave_no_open_phase_warn_and_never_trade(min_seconds: int) -> None:
    life = lifecycle(RiskLimits(min_seconds_to_end=min_seconds, max_seconds_to_end=870))
    m = market(length=60)
    cid = m.condition_id
    schedule = life.add(m)
    assert schedule is not None
    assert schedule.warning is ScheduleWarning.NO_OPEN_PHASE
    assert not schedule.has_open_phase
    assert schedule.open_duration_ms == 0
    assert life.phase(cid, ms(T0) - 1) is P.UPCOMING  # not CLOSING before the window starts
    assert life.advance(ms(T0) - 1) == []
    assert life.phase(cid, ms(T0)) is P.CLOSING
    assert not life.tradable_for_new_orders(cid, ms(T0))
    assert life.advance(ms(T0 + 60)) == [StopOpening(cid), CancelResting(cid), AwaitResolution(cid)]
    assert life.current_market("btc") is None


# --- adding markets, settings, memory --------------------------------------------------------


def test_adding_markets() -> None:
    life = lifecycle(forget_after_settle_s=0)
    m = market()
    schedule = life.add(m)
    assert life.add(m) == schedule  # idempotent
    assert list(life) == [m.condition_id]
    assert life.market(m.condition_id) == m
    assert life.schedule(m.condition_id) == schedule
    moved = Market(**{**_fields(m), "window_end": m.window_end + 60})
    with pytest.raises(ValueError, match="another window"):
        life.add(moved)
    with pytest.raises(ValueError, match="before it starts"):
        life.add(market(start=T0 + 5000, length=0))
    with pytest.raises(ValueError, match="condition id"):
        life.add(Market(**{**_fields(m), "condition_id": ""}))
    life.resolve(m.condition_id, Outcome.UP, ms(T0 + 900))
    assert Forget(m.condition_id) in life.advance(ms(T0 + 900))
    assert life.add(m) is None  # discovery lists it again: stays forgotten
    assert life.resolve(m.condition_id, Outcome.DOWN, ms(T0 + 901)) is False
    assert m.condition_id not in life
    assert life.is_forgotten(m.condition_id)


def _fields(m: Market) -> dict[str, Any]:
    return {name: getattr(m, name) for name in Market.__dataclass_fields__}


@pytest.mark.parametrize(
    "options",
    [
        {"cancel_before_end_s": 0},
        {"stop_opening_before_end_s": -1},
        {"forget_after_settle_s": -5},
        {"forgotten_memory": 0},
        {"cancel_before_end_s": True},
        {"cancel_before_end_s": 1.5},
    ],
)
def test_bad_settings_are_refused_by_name(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        lifecycle(**options)


def test_bad_times_are_refused() -> None:
    life = lifecycle()
    with pytest.raises(ValueError, match="time"):
        life.advance(1.5)  # type: ignore[arg-type]


def test_memory_is_bounded_once_markets_are_forgotten() -> None:
    life = lifecycle(forget_after_settle_s=0, forgotten_memory=2)
    windows = [market(start=T0 + 60 * i, length=60) for i in range(5)]
    for m in windows:
        life.add(m)
        life.resolve(m.condition_id, Outcome.UP, ms(m.window_end))
        life.advance(ms(m.window_end))
    assert len(life) == 0
    assert [life.is_forgotten(m.condition_id) for m in windows] == [False, False, False, True, True]
    with pytest.raises(UnknownMarket):
        life.phase(windows[0].condition_id, ms(T0 + 1000))


# --- property: random advance/resolve sequences ----------------------------------------------

_MARKETS = (
    *[market(start=T0 + 60 * i, length=60) for i in range(3)],
    market("eth", start=T0 + 30, length=60),
)
_times = st.integers(ms(T0) - ms(30), ms(T0 + 300))
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), _times),
        st.tuples(
            st.just("resolve"), _times, st.integers(0, len(_MARKETS) - 1), st.sampled_from(list(Outcome))
        ),
        st.tuples(st.just("phase"), _times),
    ),
    max_size=30,
)
_KIND_ORDER = (Roll, StopOpening, CancelResting, AwaitResolution, Settle, Forget)


def _subject(action: LifecycleAction) -> str:
    return action.to_condition_id if isinstance(action, Roll) else action.condition_id


@settings(max_examples=200)
@given(ops=_ops, forget_after=st.integers(0, 40), stop_margin=st.integers(0, 70))
def test_random_sequences_emit_each_action_at_most_once_and_phases_only_advance(
    ops: list[tuple[Any, ...]], forget_after: int, stop_margin: int
) -> None:
    life = lifecycle(forget_after_settle_s=forget_after, stop_opening_before_end_s=stop_margin)
    for m in _MARKETS:
        life.add(m)
    emitted: dict[str, list[LifecycleAction]] = defaultdict(list)
    last_rank = dict.fromkeys((m.condition_id for m in _MARKETS), -1)
    first_winner: dict[str, Outcome] = {}
    for op in ops:
        if op[0] == "advance":
            for action in life.advance(op[1]):
                emitted[_subject(action)].append(action)
        elif op[0] == "resolve":
            cid, winner = _MARKETS[op[2]].condition_id, op[3]
            try:
                if life.resolve(cid, winner, op[1]):
                    first_winner[cid] = winner
            except (ConflictingResolution, ResolutionTooEarly):
                pass
        for m in _MARKETS:
            phase = life.phase(m.condition_id, op[1])
            assert phase.rank >= last_rank[m.condition_id], (m.slug, phase)
            last_rank[m.condition_id] = phase.rank
            assert life.tradable_for_new_orders(m.condition_id, op[1]) is (phase is P.OPEN)
    for cid, actions in emitted.items():
        kinds = [type(action) for action in actions]
        assert len(kinds) == len(set(kinds)), (cid, actions)  # each action at most once
        assert kinds == sorted(kinds, key=_KIND_ORDER.index), (cid, actions)  # in lifecycle order
        settles = [a for a in actions if isinstance(a, Settle)]
        assert [s.winner for s in settles] == ([first_winner[cid]] if settles else [])
        if Settle in kinds:
            assert {StopOpening, CancelResting} <= set(kinds)
        if Forget in kinds:
            assert Settle in kinds
            assert life.phase(cid, 0) is P.FORGOTTEN
