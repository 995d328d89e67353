"""Fire-and-forget work that is never forgotten: tracked tasks whose failures are logged.

``asyncio.create_task`` alone loses things: the loop keeps only a weak reference to a task (it can
be garbage-collected mid-flight), and an exception nobody awaits surfaces as a warning at exit, if
ever. :class:`BackgroundTasks` holds a strong reference to every task until it ends, logs and
counts each failure, and can wait for all of them (:meth:`BackgroundTasks.drain`), e.g. before
shutdown::

    tasks = BackgroundTasks("orders")
    tasks.spawn(client.post_order(order, OrderType.GTC), name=f"post {order.order_id}")
    await tasks.drain(timeout_s=5)
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from polyexec.logging_setup import get_logger

__all__ = ["BackgroundTasks"]

_log = get_logger(module=__name__)


class BackgroundTasks:
    """A set of running tasks; see the module documentation. ``failures`` counts the tasks that
    ended with an exception (cancellation is not a failure)."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.failures = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None] | None:
        """Run ``work`` as a tracked task. Without a running event loop nothing can run: the
        coroutine is closed, the problem logged, and ``None`` returned (never raised)."""
        try:
            task = asyncio.get_running_loop().create_task(work, name=name)
        except RuntimeError:
            work.close()
            _log.error("background_task_without_loop", owner=self.owner, task=name)
            return None
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    async def drain(self, timeout_s: float) -> bool:
        """Wait until no task is running (tasks spawned meanwhile included) or ``timeout_s`` has
        passed. True when all ended; nothing is cancelled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                _log.warning("background_drain_timed_out", owner=self.owner, pending=len(self._tasks))
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    async def cancel_all(self) -> None:
        """Cancel every running task and wait for them to end."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.failures += 1
            _log.error(
                "background_task_failed",
                owner=self.owner,
                task=task.get_name(),
                error=repr(error),
                exc_info=error,
            )
