"""HeartbeatMonitor: beats, ids, health transitions and stopping on a fake ``send``, then the
simulator's real dead-man switch: resting orders survive while it runs and die once it stops."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from eth_account import Account
from py_clob_client_v2.clob_types import ApiCreds, CreateOrderOptions, OrderArgsV2, RequestArgs
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.order_builder.builder import OrderBuilder
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer

from polyexec.sim.app import RunningSimulator, SimConfig, start_simulator
from polyexec.venues.heartbeat import HeartbeatMonitor
from tests.venues.conftest import FAST_EXCHANGE, add_market, eventually

FAST = {"interval_s": 0.02, "unhealthy_after_s": 0.08}


class FakeVenue:
    """A heartbeat endpoint: hands out ``id-1``, ``id-2``... and can fail or hang on demand."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.issued: list[str] = []
        self.log: list[tuple[str, bool]] = []  # (id sent, succeeded) per beat that finished
        self.success_times: list[float] = []
        self.failing = False
        self.hanging = False
        self.in_flight = False
        self.answer: object = None  # overrides the id when set

    async def send(self, heartbeat_id: str) -> str:
        self.received.append(heartbeat_id)
        self.in_flight = True
        try:
            if self.hanging:
                await asyncio.Event().wait()
            if self.failing:
                self.log.append((heartbeat_id, False))
                raise ConnectionError("venue unreachable")
            if self.answer is not None:
                return self.answer  # type: ignore[return-value]
            new_id = f"id-{len(self.issued) + 1}"
            self.issued.append(new_id)
            self.success_times.append(time.monotonic())
            self.log.append((heartbeat_id, True))
            return new_id
        finally:
            self.in_flight = False


class Transitions:
    def __init__(self) -> None:
        self.seen: list[bool] = []
        self.times: list[float] = []

    def __call__(self, healthy: bool) -> None:
        self.seen.append(healthy)
        self.times.append(time.monotonic())


@pytest.fixture
async def stopper() -> AsyncIterator[list[asyncio.Task[None]]]:
    """Tasks appended here are cancelled at the end of the test, whatever happened."""
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def start(monitor: HeartbeatMonitor, tasks: list[asyncio.Task[None]]) -> asyncio.Task[None]:
    task = asyncio.create_task(monitor.run())
    tasks.append(task)
    return task


async def test_beats_carry_the_returned_id_and_turn_healthy(stopper: list[asyncio.Task[None]]) -> None:
    venue, changes = FakeVenue(), Transitions()
    monitor = HeartbeatMonitor(venue.send, on_change=changes, **FAST)
    assert not monitor.healthy  # nothing sent yet
    start(monitor, stopper)
    await eventually(lambda: monitor.beats >= 5)
    assert monitor.healthy
    assert changes.seen == [True]
    # the first beat sends "", every later one the id the previous answer returned
    assert venue.received[0] == ""
    assert venue.received[1:5] == venue.issued[:4]
    assert monitor.heartbeat_id == venue.issued[monitor.beats - 1]
    status = monitor.status()
    assert status["healthy"] is True
    assert status["consecutive_failures"] == 0
    assert isinstance(status["last_success_age_s"], float)
    assert status["last_success_age_s"] < FAST["unhealthy_after_s"]


async def test_failures_past_the_limit_turn_unhealthy_and_a_success_recovers(
    stopper: list[asyncio.Task[None]],
) -> None:
    venue, changes = FakeVenue(), Transitions()
    monitor = HeartbeatMonitor(venue.send, on_change=changes, **FAST)
    start(monitor, stopper)
    await eventually(lambda: monitor.healthy)

    venue.failing = True
    outage_starts = len(venue.log)
    last_good_id = venue.issued[-1]
    await eventually(lambda: changes.seen == [True, False])
    assert not monitor.healthy
    # not before the limit: more than unhealthy_after_s passed since the last success
    assert changes.times[1] - venue.success_times[-1] > FAST["unhealthy_after_s"]
    status = monitor.status()
    assert status["consecutive_failures"] >= 2  # beats kept coming while failing
    assert status["last_error"] == "ConnectionError: venue unreachable"

    venue.failing = False
    await eventually(lambda: changes.seen == [True, False, True])
    assert monitor.healthy
    assert monitor.status()["consecutive_failures"] == 0
    # every beat of the outage, and the first one after it, carried the last id that worked
    await eventually(lambda: monitor.beats >= len(venue.issued) and len(venue.log) > outage_starts + 3)
    since = venue.log[outage_starts:]
    first_ok = next(i for i, (_, ok) in enumerate(since) if ok)
    assert first_ok >= 2
    assert {sent for sent, _ in since[: first_ok + 1]} == {last_good_id}


async def test_a_hung_beat_is_cut_off_and_health_turns_while_it_still_hangs(
    stopper: list[asyncio.Task[None]],
) -> None:
    venue = FakeVenue()
    flagged_in_flight: list[bool] = []

    def on_change(healthy: bool) -> None:
        if not healthy:
            flagged_in_flight.append(venue.in_flight)

    # a beat that hangs is cut at 0.2 s; the health deadline (0.25 s) falls inside it
    monitor = HeartbeatMonitor(venue.send, interval_s=0.2, unhealthy_after_s=0.25, on_change=on_change)
    start(monitor, stopper)
    await eventually(lambda: monitor.healthy)
    venue.hanging = True
    await eventually(lambda: flagged_in_flight)
    assert flagged_in_flight == [True]
    await eventually(lambda: monitor.status()["last_error"] == "no answer within 0.2 s")
    venue.hanging = False
    await eventually(lambda: monitor.healthy)


async def test_an_exception_in_on_change_never_stops_the_loop(stopper: list[asyncio.Task[None]]) -> None:
    venue = FakeVenue()
    calls: list[bool] = []

    def explode(healthy: bool) -> None:
        calls.append(healthy)
        raise RuntimeError("engine bug")

    monitor = HeartbeatMonitor(venue.send, on_change=explode, **FAST)
    task = start(monitor, stopper)
    await eventually(lambda: monitor.beats >= 3)
    venue.failing = True
    await eventually(lambda: calls == [True, False])
    venue.failing = False
    await eventually(lambda: calls == [True, False, True])
    assert not task.done()


async def test_a_send_that_returns_no_id_is_a_failed_beat(stopper: list[asyncio.Task[None]]) -> None:
    venue = FakeVenue()
    venue.answer = {"heartbeat_id": "x"}
    monitor = HeartbeatMonitor(venue.send, **FAST)
    start(monitor, stopper)
    await eventually(lambda: monitor.status()["failures"] >= 2)
    assert monitor.beats == 0
    assert not monitor.healthy
    assert "instead of a heartbeat id" in str(monitor.status()["last_error"])
    assert set(venue.received) == {""}


async def test_stop_returns_promptly_between_beats_and_reports_unhealthy() -> None:
    venue, changes = FakeVenue(), Transitions()
    monitor = HeartbeatMonitor(venue.send, interval_s=5.0, unhealthy_after_s=8.0, on_change=changes)
    task = asyncio.create_task(monitor.run())
    await eventually(lambda: monitor.healthy)
    # the next beat is 5 s away: stop must not wait for it
    monitor.stop()
    await asyncio.wait_for(task, timeout=2.0)
    assert not monitor.running
    assert not monitor.healthy
    assert changes.seen == [True, False]
    assert monitor.status()["running"] is False


async def test_stop_abandons_a_beat_in_flight() -> None:
    venue = FakeVenue()
    venue.hanging = True
    monitor = HeartbeatMonitor(venue.send, interval_s=5.0, unhealthy_after_s=8.0)
    task = asyncio.create_task(monitor.run())
    await eventually(lambda: venue.in_flight)
    monitor.stop()
    await asyncio.wait_for(task, timeout=2.0)
    assert not venue.in_flight  # the hung request was cancelled, not left behind


async def test_cancelling_run_cancels_the_beat_and_reports_unhealthy() -> None:
    venue, changes = FakeVenue(), Transitions()
    monitor = HeartbeatMonitor(venue.send, on_change=changes, **FAST)
    task = asyncio.create_task(monitor.run())
    await eventually(lambda: monitor.healthy)
    venue.hanging = True
    await eventually(lambda: venue.in_flight)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not venue.in_flight
    assert not monitor.healthy
    assert changes.seen == [True, False]


async def test_stop_before_the_task_starts_is_honoured_and_the_monitor_can_run_again() -> None:
    venue = FakeVenue()
    monitor = HeartbeatMonitor(venue.send, **FAST)
    task = asyncio.create_task(monitor.run())
    monitor.stop()  # the task has not had its first turn yet
    await asyncio.wait_for(task, timeout=2.0)
    again = asyncio.create_task(monitor.run())
    try:
        await eventually(lambda: monitor.beats >= 2)
    finally:
        monitor.stop()
        await asyncio.wait_for(again, timeout=2.0)


async def test_a_second_concurrent_run_is_refused(stopper: list[asyncio.Task[None]]) -> None:
    monitor = HeartbeatMonitor(FakeVenue().send, **FAST)
    start(monitor, stopper)
    await eventually(lambda: monitor.running)
    with pytest.raises(RuntimeError, match="already running"):
        await monitor.run()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"interval_s": 5.0, "unhealthy_after_s": 5.0}, "must exceed interval_s"),
        ({"interval_s": 5.0, "timeout_s": 6.0}, "must not exceed interval_s"),
        ({"interval_s": 0.0}, "interval_s must be"),
        ({"unhealthy_after_s": float("nan")}, "unhealthy_after_s must be"),
        ({"retry_s": -1.0}, "retry_s must be"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        HeartbeatMonitor(FakeVenue().send, **options)  # type: ignore[arg-type]


# -- against the simulator's dead-man switch --------------------------------------------------------

# The venue cancels after 10 s + 5 s of silence; here after 0.4 s + 0.2 s, so the test is short.
SHORT_SWITCH = SimConfig(
    port=0,
    driver=False,
    exchange=dataclasses.replace(FAST_EXCHANGE, heartbeat_timeout_ms=400, heartbeat_buffer_ms=200),
    process_interval_s=0.01,
)


@pytest.fixture
async def switch_sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(SHORT_SWITCH)
    try:
        yield running
    finally:
        await running.stop()


class SimAccount:
    """A throwaway wallet with API credentials on the simulator, signing like the SDK."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str) -> None:
        key = Account.create().key.hex()
        self.signer = Signer(key if key.startswith("0x") else "0x" + key, 137)
        self.http = http
        self.base_url = base_url
        self.creds: ApiCreds | None = None

    async def register(self) -> None:
        headers = dict(create_level_1_headers(self.signer, nonce=0))
        async with self.http.get(f"{self.base_url}/auth/derive-api-key", headers=headers) as response:
            assert response.status == 200, await response.text()
            data = await response.json()
        self.creds = ApiCreds(data["apiKey"], data["secret"], data["passphrase"])

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.creds is not None
        text = None if body is None else json.dumps(body, separators=(",", ":"))
        args = RequestArgs(method=method, request_path=path, body=text, serialized_body=text)
        headers = dict(create_level_2_headers(self.signer, self.creds, args))
        headers["Content-Type"] = "application/json"
        async with self.http.request(
            method, self.base_url + path, data=None if text is None else text.encode(), headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)

    async def post_heartbeat(self, heartbeat_id: str) -> str:
        """What ``ClobClient.post_heartbeat`` does: on 400, adopt the id the venue expects."""
        status, payload = await self.request("POST", "/v1/heartbeats", {"heartbeat_id": heartbeat_id})
        if status == 400 and isinstance(payload, dict) and "heartbeat_id" in payload:
            status, payload = await self.request(
                "POST", "/v1/heartbeats", {"heartbeat_id": payload["heartbeat_id"]}
            )
        if status != 200:
            raise ConnectionError(f"heartbeat refused with HTTP {status}")
        new_id: str = payload["heartbeat_id"]
        return new_id

    async def rest_bid(self, token_id: str) -> str:
        assert self.creds is not None
        builder = OrderBuilder(self.signer, signature_type=0)
        order = builder.build_order(
            OrderArgsV2(token_id=token_id, price=0.10, size=10, side="BUY"),
            CreateOrderOptions(tick_size="0.01", neg_risk=False),
        )
        status, payload = await self.request(
            "POST", "/order", order_to_json_v2(order, self.creds.api_key, "GTC")
        )
        assert status == 200, payload
        assert payload["success"], payload
        assert payload["status"] == "live", payload
        order_id: str = payload["orderID"]
        return order_id

    async def open_order_ids(self) -> set[str]:
        status, payload = await self.request("GET", "/data/orders")
        assert status == 200, payload
        return {order["id"] for order in payload["data"]}


async def test_sim_dead_man_switch_spares_orders_while_the_monitor_runs_and_cancels_them_after(
    switch_sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    market = add_market(switch_sim)
    account = SimAccount(http, switch_sim.clob_host)
    await account.register()
    order_id = await account.rest_bid(market.up_token_id)

    changes = Transitions()
    monitor = HeartbeatMonitor(
        account.post_heartbeat, interval_s=0.1, unhealthy_after_s=0.3, on_change=changes
    )
    task = asyncio.create_task(monitor.run())
    try:
        # 15 beats ≈ 1.5 s: the switch (0.6 s) would have fired twice over without them
        await eventually(lambda: monitor.beats >= 15, within=10.0)
        assert monitor.healthy
        assert order_id in await account.open_order_ids()
    finally:
        monitor.stop()
        await asyncio.wait_for(task, timeout=2.0)
    assert changes.seen == [True, False]

    async def cancelled() -> bool:
        return order_id not in await account.open_order_ids()

    await eventually(cancelled, within=5.0)

    # the venue forgot the lapsed key's heartbeat id; a restarted monitor recovers by itself
    again = asyncio.create_task(monitor.run())
    try:
        beats = monitor.beats
        await eventually(lambda: monitor.beats >= beats + 2)
        assert monitor.healthy
    finally:
        monitor.stop()
        await asyncio.wait_for(again, timeout=2.0)
