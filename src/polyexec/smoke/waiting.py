"""Running feeds for the length of a check, and waiting for what they deliver.

A smoke check starts a feed (:func:`background`), then waits for a particular event to come
through its sink (:class:`EventCollector.wait_for`), with a deadline: a check must never hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from polyexec.core.events import FeedEvent

__all__ = ["EventCollector", "background", "poll_until"]

T = TypeVar("T")


@contextlib.asynccontextmanager
async def background(coroutine: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``coroutine`` (a feed's ``run()``) as a task for the block; cancel it afterwards."""
    task = asyncio.create_task(coroutine)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class EventCollector:
    """A feed sink that keeps every event and wakes whoever waits for a matching one."""

    def __init__(self) -> None:
        self.events: list[FeedEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: FeedEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, match: Callable[[FeedEvent], bool], timeout_s: float) -> FeedEvent:
        """The first event (already received or still to come) for which ``match`` is true;
        ``TimeoutError`` after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if match(event):
                        return event
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()


async def poll_until(
    probe: Callable[[], Coroutine[Any, Any, T | None]], *, timeout_s: float, interval_s: float = 0.5
) -> T:
    """Call ``probe`` until it returns something other than ``None``; ``TimeoutError`` after
    ``timeout_s``. For venue state that has no event (a REST listing catching up)."""
    async with asyncio.timeout(timeout_s):
        while True:
            value = await probe()
            if value is not None:
                return value
            await asyncio.sleep(interval_s)
