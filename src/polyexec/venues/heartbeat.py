"""The venue's dead-man switch, kept fed: ``POST /v1/heartbeats`` every few seconds, and its health.

Once an API key has sent one heartbeat, the venue expects the next within 10 s (+5 s of
buffer); if none comes it **cancels every open order of the account** (docs §7.5). Each answer
carries the ``heartbeat_id`` the next beat must send. :class:`HeartbeatMonitor` runs that loop
as its own task and tells the engine whether the switch is being fed:

* a beat every ``interval_s`` (5 s) from the start of the previous one, each bounded by a hard
  ``timeout_s`` (at most the interval) so a hung request cannot stall the loop; after a failed
  beat the next comes sooner (``retry_s``, 1 s) because the venue's deadline keeps running;
* the id returned by the last successful beat goes into the next (``send`` itself adopts the
  id the venue expects when it answers 400, as ``ClobClient.post_heartbeat`` does);
* :attr:`HeartbeatMonitor.healthy` is False before the first success, after more than
  ``unhealthy_after_s`` (8 s) without one, and once the monitor stops; it turns True again at
  the next success. The engine must stop sending new orders while it is False: the venue is
  about to cancel them anyway. ``on_change(healthy)`` is called on every transition, on time
  (the loop wakes at the deadline even while a beat is still in flight); an exception from it
  is logged and never stops the loop.

Run it and stop it like this::

    monitor = HeartbeatMonitor(client.post_heartbeat, on_change=engine.on_heartbeat_health)
    task = asyncio.create_task(monitor.run())
    ...
    monitor.stop()        # run() returns promptly (an in-flight beat is abandoned)
    await task            # or task.cancel(): also clean

Stopping the heartbeat arms the venue's switch: orders left open are cancelled about 15 s
later. That is the point when the daemon halts, and the reason never to stop it otherwise.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from polyexec.logging_setup import get_logger

__all__ = ["HeartbeatMonitor"]

_log = get_logger(module=__name__)

_ERROR_TEXT_LIMIT: Final = 300
_MIN_WAKE_S: Final = 0.001
"""Shortest sleep of the watch loop, so an injected clock that stands still cannot make it spin."""
_LOG_EVERY_N_FAILURES: Final = 10


def _positive(label: str, value: float) -> float:
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{label} must be a positive number of seconds (got {value!r})")
    return float(value)


class HeartbeatMonitor:
    """Sends heartbeats through ``send`` and reports whether they are getting through.

    ``send(heartbeat_id)`` posts one heartbeat and returns the id for the next one (this is
    ``ClobClient.post_heartbeat``); it raises on failure. ``clock`` (monotonic seconds, default
    :func:`time.monotonic`) dates successes for :attr:`healthy` and :meth:`status`; it must run
    at the pace of real time because the loop's sleeps do. ``timeout_s`` defaults to
    ``interval_s``; ``unhealthy_after_s`` must exceed ``interval_s`` or health would flap
    between two on-time beats.
    """

    def __init__(
        self,
        send: Callable[[str], Awaitable[str]],
        *,
        interval_s: float = 5.0,
        unhealthy_after_s: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] | None = None,
        timeout_s: float | None = None,
        retry_s: float = 1.0,
    ) -> None:
        self._interval_s = _positive("interval_s", interval_s)
        self._unhealthy_after_s = _positive("unhealthy_after_s", unhealthy_after_s)
        if self._unhealthy_after_s <= self._interval_s:
            raise ValueError(
                f"unhealthy_after_s ({unhealthy_after_s}) must exceed interval_s ({interval_s}): "
                "otherwise health flaps between on-time beats"
            )
        self._timeout_s = self._interval_s if timeout_s is None else _positive("timeout_s", timeout_s)
        if self._timeout_s > self._interval_s:
            raise ValueError(f"timeout_s ({timeout_s}) must not exceed interval_s ({interval_s})")
        self._retry_s = min(_positive("retry_s", retry_s), self._interval_s)
        self._send = send
        self._clock = clock
        self._on_change = on_change
        self._heartbeat_id = ""
        self._running = False
        self._stopping = asyncio.Event()
        self._reported_healthy = False
        self._last_success_at: float | None = None
        self._beats = 0
        self._failures = 0
        self._consecutive_failures = 0
        self._last_error: str | None = None

    # -- what the engine reads ------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """True while running and the last successful beat is at most ``unhealthy_after_s`` old."""
        return (
            self._running
            and self._last_success_at is not None
            and self._clock() - self._last_success_at <= self._unhealthy_after_s
        )

    @property
    def running(self) -> bool:
        return self._running

    @property
    def beats(self) -> int:
        """Successful heartbeats since construction."""
        return self._beats

    @property
    def heartbeat_id(self) -> str:
        """The id the next beat will send (``""`` before the first success)."""
        return self._heartbeat_id

    def status(self) -> dict[str, object]:
        """Health for the status page: no secrets, only ages, counters and the last error text."""
        age = None if self._last_success_at is None else round(self._clock() - self._last_success_at, 3)
        return {
            "healthy": self.healthy,
            "running": self._running,
            "beats": self._beats,
            "failures": self._failures,
            "consecutive_failures": self._consecutive_failures,
            "last_success_age_s": age,
            "last_error": self._last_error,
            "interval_s": self._interval_s,
            "unhealthy_after_s": self._unhealthy_after_s,
        }

    # -- the loop -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Make the current :meth:`run` (or the next one, if it has not started yet: the task may
        not have had its first turn) return promptly, abandoning a beat in flight. Idempotent."""
        self._stopping.set()

    async def run(self) -> None:
        """Send heartbeats until :meth:`stop` or cancellation; health is False once it returns.

        Never raises except :class:`asyncio.CancelledError` (a second concurrent ``run`` raises
        :class:`RuntimeError`).
        """
        if self._running:
            raise RuntimeError("this HeartbeatMonitor is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        _log.info("heartbeat_started", interval_s=self._interval_s, unhealthy_after_s=self._unhealthy_after_s)
        try:
            while not self._stopping.is_set():
                started = loop.time()
                succeeded = await self._beat_watching()
                delay = self._interval_s if succeeded else self._retry_s
                await self._watch(None, started + delay)
        finally:
            self._running = False
            self._stopping.clear()  # a stop request is spent; the monitor may run again
            self._publish()
            _log.info("heartbeat_stopped", beats=self._beats, failures=self._failures)

    async def _beat_watching(self) -> bool:
        """One beat in its own task, while the health deadline and a stop request are watched."""
        beat = asyncio.create_task(self._beat(), name="heartbeat-beat")
        try:
            await self._watch(beat, None)
        finally:
            if not beat.done():
                beat.cancel()
                await asyncio.wait({beat})  # let it unwind; its CancelledError stays inside
        return not beat.cancelled() and beat.result()

    async def _beat(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout_s):
                next_id: object = await self._send(self._heartbeat_id)
        except TimeoutError:
            self._record_failure(f"no answer within {self._timeout_s:g} s")
            return False
        except Exception as exc:  # any failure of one beat is a failed beat, never a dead loop
            self._record_failure(f"{type(exc).__name__}: {exc}")
            return False
        if not isinstance(next_id, str):
            self._record_failure(f"send returned {type(next_id).__name__} instead of a heartbeat id")
            return False
        self._heartbeat_id = next_id
        self._last_success_at = self._clock()
        self._beats += 1
        if self._consecutive_failures:
            _log.info("heartbeat_recovered", after_failures=self._consecutive_failures)
        self._consecutive_failures = 0
        return True

    def _record_failure(self, text: str) -> None:
        self._failures += 1
        self._consecutive_failures += 1
        self._last_error = text[:_ERROR_TEXT_LIMIT]
        if self._consecutive_failures == 1 or self._consecutive_failures % _LOG_EVERY_N_FAILURES == 0:
            _log.warning(
                "heartbeat_failed", error=self._last_error, consecutive_failures=self._consecutive_failures
            )

    async def _watch(self, task: asyncio.Task[bool] | None, until: float | None) -> None:
        """Wait for ``task`` to finish or the loop time ``until`` (whichever is given), or a stop
        request; meanwhile wake at the health deadline so ``on_change(False)`` fires on time."""
        loop = asyncio.get_running_loop()
        stop_wait = asyncio.ensure_future(self._stopping.wait())
        try:
            while True:
                self._publish()
                if self._stopping.is_set() or (task is not None and task.done()):
                    return
                timeout: float | None = None
                if until is not None:
                    timeout = until - loop.time()
                    if timeout <= 0:
                        return
                if self._reported_healthy and self._last_success_at is not None:
                    # just past the deadline, so that `healthy` has turned when we look again
                    to_deadline = self._last_success_at + self._unhealthy_after_s - self._clock() + 1e-6
                    timeout = to_deadline if timeout is None else min(timeout, to_deadline)
                waiters: set[asyncio.Future[Any]] = {stop_wait}
                if task is not None:
                    waiters.add(task)
                await asyncio.wait(
                    waiters,
                    timeout=None if timeout is None else max(timeout, _MIN_WAKE_S),
                    return_when=asyncio.FIRST_COMPLETED,
                )
        finally:
            stop_wait.cancel()

    def _publish(self) -> None:
        """Report a change of :attr:`healthy` through the log and ``on_change``."""
        healthy = self.healthy
        if healthy == self._reported_healthy:
            return
        self._reported_healthy = healthy
        if healthy:
            _log.info("heartbeat_healthy", beats=self._beats)
        else:
            _log.warning(
                "heartbeat_unhealthy",
                running=self._running,
                consecutive_failures=self._consecutive_failures,
                last_error=self._last_error,
            )
        if self._on_change is not None:
            try:
                self._on_change(healthy)
            except Exception as exc:  # the engine's callback must not take the heartbeat down
                _log.exception("heartbeat_on_change_failed", error=repr(exc))
