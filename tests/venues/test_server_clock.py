"""ServerClock: the offset maths on a fake ``/time``, its refusals, the refresh loop, and the
real simulator's ``/time`` (wall-clock and an hour ahead, where only server-stamped auth passes)."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client_v2.clob_types import ApiCreds, RequestArgs
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.signer import Signer

from polyexec.sim.app import RunningSimulator, SimConfig, start_simulator
from polyexec.venues.server_clock import MAX_OFFSET_S, RESOLUTION_S, ServerClock, ServerTimeError
from tests.venues.conftest import eventually

WALL = 1_800_000_000.25


class FakeVenueTime:
    """A ``/time`` whose server clock runs ``offset`` ahead of the fake local wall clock.

    Each call takes ``rtts[i]`` seconds of local time; the server reads its clock ``before`` of
    the way through the round trip (0.5 = symmetric network) and answers the whole second.
    """

    def __init__(self, offset: float, rtts: list[float], before: float = 0.5) -> None:
        self.local = WALL
        self.offset = offset
        self.rtts = rtts
        self.before = before
        self.calls = 0

    def clock(self) -> float:
        return self.local

    async def fetch(self) -> int:
        rtt = self.rtts[self.calls % len(self.rtts)]
        self.calls += 1
        self.local += rtt * self.before
        answer = math.floor(self.local + self.offset)
        self.local += rtt * (1 - self.before)
        return answer


@settings(max_examples=200, deadline=None)
@given(
    offset=st.floats(-3600, 3600, allow_nan=False),
    rtts=st.lists(st.floats(0, 0.4, allow_nan=False), min_size=1, max_size=5),
    start=st.floats(0, 1, allow_nan=False),
)
async def test_offset_is_within_half_a_second_on_a_symmetric_network(
    offset: float, rtts: list[float], start: float
) -> None:
    venue = FakeVenueTime(offset, rtts)
    venue.local += start
    clock = ServerClock(venue.fetch, clock=venue.clock, samples=len(rtts))
    measured = await clock.measure()
    assert measured == clock.offset_s
    assert abs(measured - offset) <= RESOLUTION_S + 1e-6
    assert clock.rtt_s == pytest.approx(min(rtts), abs=1e-6)
    # the stamp for POLY_TIMESTAMP is the server's second, give or take the resolution
    assert abs(clock.now_s() - (venue.local + offset)) <= 1 + RESOLUTION_S


async def test_the_shortest_round_trip_wins_when_the_network_is_lopsided() -> None:
    # the server reads its clock at the very start of each call: the error grows with the RTT
    venue = FakeVenueTime(10.0, [0.8, 0.01, 0.5], before=0.0)
    clock = ServerClock(venue.fetch, clock=venue.clock, samples=3)
    await clock.measure()
    assert clock.rtt_s == pytest.approx(0.01)
    assert abs(clock.offset_s - 10.0) <= RESOLUTION_S + 0.01 / 2


async def test_now_s_and_now_ms_apply_the_offset() -> None:
    venue = FakeVenueTime(-42.0, [0.0])
    clock = ServerClock(venue.fetch, clock=venue.clock, samples=1)
    assert clock.now_s() == math.floor(WALL)  # unmeasured: the local clock
    assert not clock.measured
    await clock.measure()
    assert clock.measured
    assert clock.offset_s == pytest.approx(math.floor(WALL - 42) + 0.5 - WALL)
    assert clock.now_s() == math.floor(WALL + clock.offset_s)
    assert clock.now_ms() == math.floor((WALL + clock.offset_s) * 1000)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (1_800_000_000.0, "integer"),
        ("1800000000", "integer"),
        (True, "integer"),
        (None, "integer"),
        (0, "refusing"),
        (int(WALL + MAX_OFFSET_S) + 5, "refusing"),
    ],
)
async def test_a_non_integer_or_absurd_answer_is_refused_and_the_old_offset_kept(
    answer: object, problem: str
) -> None:
    venue = FakeVenueTime(5.0, [0.0])
    clock = ServerClock(venue.fetch, clock=venue.clock, samples=2)
    good = await clock.measure()

    async def bad() -> int:
        return answer  # type: ignore[return-value]

    clock._fetch = bad
    with pytest.raises(ServerTimeError, match=problem):
        await clock.measure()
    assert clock.offset_s == good
    status = clock.status()
    assert status["failures"] == 1
    assert "ServerTimeError" in str(status["last_error"])


async def test_lost_round_trips_are_skipped_and_all_lost_raises_keeping_the_offset() -> None:
    venue = FakeVenueTime(3.0, [0.01])
    outcomes: list[BaseException | None] = [ConnectionError("reset"), None, ConnectionError("reset")]

    async def flaky() -> int:
        failure = outcomes.pop(0) if outcomes else ConnectionError("down")
        if failure is not None:
            raise failure
        return await venue.fetch()

    clock = ServerClock(flaky, clock=venue.clock, samples=3)
    assert abs(await clock.measure() - 3.0) <= RESOLUTION_S
    kept = clock.offset_s
    with pytest.raises(ConnectionError, match="down"):
        await clock.measure()
    assert clock.offset_s == kept
    assert clock.status()["failures"] == 1


async def test_a_hung_answer_times_out() -> None:
    async def hang() -> int:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    clock = ServerClock(hang, samples=2, sample_timeout_s=0.01)
    with pytest.raises(TimeoutError):
        await clock.measure()
    assert not clock.measured
    assert clock.offset_s == 0.0


@pytest.mark.parametrize(
    "options",
    [
        {"refresh_s": 0},
        {"refresh_s": math.nan},
        {"samples": 0},
        {"sample_timeout_s": -1},
        {"retry_s": math.inf},
    ],
)
def test_bad_settings_are_refused(options: dict[str, float]) -> None:
    async def fetch() -> int:
        return 0

    with pytest.raises(ValueError, match="must be"):
        ServerClock(fetch, **options)  # type: ignore[arg-type]


async def test_run_measures_at_once_then_every_refresh_and_survives_failures() -> None:
    answers: list[int | Exception] = []

    async def fetch() -> int:
        answer = answers.pop(0) if answers else int(time.time()) + 100
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = ServerClock(fetch, refresh_s=0.02, retry_s=0.01, samples=1)
    task = asyncio.create_task(clock.run())
    try:
        await eventually(lambda: clock.status()["measurements"] >= 2)
        assert abs(clock.offset_s - 100) <= RESOLUTION_S + 0.1
        # the venue breaks: the loop keeps running on the old offset
        answers.extend([ConnectionError("down")] * 3)
        await eventually(lambda: clock.status()["failures"] >= 3)
        assert abs(clock.offset_s - 100) <= RESOLUTION_S + 0.1
        assert not task.done()
        # and picks up a new offset once it answers again
        answers.extend([int(time.time()) - 50] * 100)
        await eventually(lambda: abs(clock.offset_s + 50) <= RESOLUTION_S + 0.1)
        assert clock.status()["last_error"] is None
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_run_after_a_startup_measure_waits_a_full_refresh() -> None:
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        return int(time.time())

    clock = ServerClock(fetch, refresh_s=60.0, samples=1)
    await clock.measure()
    task = asyncio.create_task(clock.run())
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1


# -- against the simulator's /time ------------------------------------------------------------------


def sim_time_fetch(http: aiohttp.ClientSession, running: RunningSimulator) -> Callable[[], Awaitable[int]]:
    async def fetch() -> int:
        async with http.get(f"{running.clob_host}/time") as response:
            assert response.status == 200
            value: int = await response.json(content_type=None)
            return value

    return fetch


async def test_wall_clock_simulator_offset_is_near_zero(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    clock = ServerClock(sim_time_fetch(http, exchange_sim))
    offset = await clock.measure()
    assert clock.rtt_s is not None
    assert abs(offset) <= RESOLUTION_S + clock.rtt_s + 0.05
    assert abs(clock.now_s() - exchange_sim.simulator.clock.now()) <= 1.5


@pytest.fixture
async def hour_ahead_sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(
        SimConfig(port=0, driver=False, clock_start=time.time() + 3600.0, process_interval_s=0.05)
    )
    try:
        yield running
    finally:
        await running.stop()


async def test_an_hour_ahead_simulator_accepts_only_server_stamped_auth(
    hour_ahead_sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    base = hour_ahead_sim.clob_host
    clock = ServerClock(sim_time_fetch(http, hour_ahead_sim))
    offset = await clock.measure()
    assert clock.rtt_s is not None
    assert abs(offset - 3600.0) <= RESOLUTION_S + clock.rtt_s + 0.05

    key = Account.create().key.hex()
    signer = Signer(key if key.startswith("0x") else "0x" + key, 137)

    async def derive(timestamp: int) -> tuple[int, object]:
        headers = dict(create_level_1_headers(signer, nonce=0, timestamp=timestamp))
        async with http.get(f"{base}/auth/derive-api-key", headers=headers) as response:
            return response.status, await response.json(content_type=None)

    status, _ = await derive(int(time.time()))  # what a client without the offset would send
    assert status == 401
    status, body = await derive(clock.now_s())
    assert status == 200, body
    assert isinstance(body, dict)
    creds = ApiCreds(body["apiKey"], body["secret"], body["passphrase"])

    async def open_orders(timestamp: int) -> int:
        args = RequestArgs(method="GET", request_path="/data/orders")
        headers = dict(create_level_2_headers(signer, creds, args, timestamp=timestamp))
        async with http.get(f"{base}/data/orders", headers=headers) as response:
            json.loads(await response.text())
            return response.status

    assert await open_orders(int(time.time())) == 401
    assert await open_orders(clock.now_s()) == 200
