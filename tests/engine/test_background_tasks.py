"""Tracked background tasks: failures counted (never lost), drain waits for work spawned meanwhile,
no loop means nothing runs and nothing raises."""

from __future__ import annotations

import asyncio

from polyexec.engine.background_tasks import BackgroundTasks


async def test_failures_are_counted_and_drain_waits_for_work_spawned_meanwhile() -> None:
    tasks = BackgroundTasks("test")
    done: list[str] = []
    release = asyncio.Event()

    async def second() -> None:
        done.append("second")

    async def first() -> None:
        await release.wait()
        tasks.spawn(second(), name="second")
        done.append("first")

    async def broken() -> None:
        raise RuntimeError("boom")

    tasks.spawn(first(), name="first")
    tasks.spawn(broken(), name="broken")
    assert len(tasks) == 2
    assert not await tasks.drain(0.05)  # "first" waits for the release: timed out
    release.set()
    assert await tasks.drain(2.0)
    assert done == ["first", "second"]
    assert (tasks.failures, len(tasks)) == (1, 0)


async def test_cancel_all_stops_running_work_without_counting_it_as_failed() -> None:
    tasks = BackgroundTasks("test")
    task = tasks.spawn(asyncio.Event().wait(), name="forever")
    assert task is not None
    await tasks.cancel_all()
    assert task.cancelled()
    assert (tasks.failures, len(tasks)) == (0, 0)


def test_without_a_running_loop_nothing_runs_and_nothing_raises() -> None:
    tasks = BackgroundTasks("test")

    async def work() -> None:
        raise AssertionError("must never run")

    assert tasks.spawn(work(), name="orphan") is None
    assert len(tasks) == 0
