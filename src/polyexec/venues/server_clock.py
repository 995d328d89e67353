"""The venue's clock, as seen from here: an offset measured now and then, not a call per request.

Every L2 request carries ``POLY_TIMESTAMP`` (Unix seconds) and the server refuses one too far
from its own clock (the window is undocumented, reportedly about a minute; docs §3.3). The SDKs'
``use_server_time`` asks ``GET /time`` before **every** request, which doubles the latency of
each order. :class:`ServerClock` instead measures ``offset = server − local`` at start-up and
every ``refresh_s`` (5 minutes), and stamps requests with ``local + offset``::

    server_clock = ServerClock(client.get_server_time)
    await server_clock.measure()          # at start-up: fail closed if the venue is unreachable
    task = asyncio.create_task(server_clock.run())   # re-measures every 5 minutes
    headers = l2.headers(server_clock.now_s(), "POST", "/order", body)

How the offset is measured. ``/time`` answers whole seconds, truncated: when the server said
``S`` its clock read somewhere in ``[S, S + 1)``. The local clock is read before (``t0``) and
after (``t1``) the call and the server is assumed to have answered at the midpoint, so one
sample gives ``offset = S + 0.5 − (t0 + t1) / 2``: a resolution of **±0.5 s**, plus half the
round trip when the network is asymmetric. Each measurement takes a few samples and keeps the
one with the shortest round trip (the least room for asymmetry). ±0.5 s is ample for a window
of tens of seconds; it is not a clock for latency measurement.

What is refused. An answer that is not an integer (a float, a string, a bool), or that puts the
server more than a day (:data:`MAX_OFFSET_S`) from the local clock, raises
:class:`ServerTimeError` naming it and the measurement is discarded: a venue that says it is
1970 must not be believed. A failed or refused measurement keeps the previous offset (or 0.0
before the first one) and :meth:`ServerClock.run` logs it and retries sooner.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from polyexec.logging_setup import get_logger

__all__ = ["MAX_OFFSET_S", "RESOLUTION_S", "ClockSample", "ServerClock", "ServerTimeError"]

_log = get_logger(module=__name__)

MAX_OFFSET_S: Final = 86_400.0
"""A server clock further than this from ours is a broken answer, not a clock to follow."""
RESOLUTION_S: Final = 0.5
"""Half of ``/time``'s one-second resolution: the offset's error bound before network asymmetry."""


class ServerTimeError(ValueError):
    """The venue's ``/time`` answer cannot be a reading of its clock."""


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One ``/time`` round trip: the server's whole second and the local readings around it."""

    server_s: int
    sent_at: float
    received_at: float

    @property
    def rtt_s(self) -> float:
        return self.received_at - self.sent_at

    @property
    def offset_s(self) -> float:
        """``server − local`` at the midpoint, taking the middle of the server's truncated second."""
        return self.server_s + RESOLUTION_S - (self.sent_at + self.received_at) / 2


def _check_answer(answer: object, local_s: float) -> int:
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise ServerTimeError(f"server time must be an integer of Unix seconds (got {answer!r})")
    if abs(answer - local_s) > MAX_OFFSET_S:
        raise ServerTimeError(
            f"server time {answer} is {answer - local_s:+.0f} s from the local clock "
            f"(more than {MAX_OFFSET_S:.0f} s): refusing to follow it"
        )
    return answer


class ServerClock:
    """Local wall time plus the measured offset to the venue's clock.

    ``fetch_server_time`` is ``ClobClient.get_server_time`` (``GET /time``). ``clock`` is the
    local wall clock in Unix seconds. ``samples`` round trips make one measurement, each bounded
    by ``sample_timeout_s``; after a failed measurement :meth:`run` tries again in ``retry_s``
    (at most ``refresh_s``). An offset beyond ``warn_offset_s`` is logged as a warning: the
    host's NTP is probably off.
    """

    def __init__(
        self,
        fetch_server_time: Callable[[], Awaitable[int]],
        *,
        clock: Callable[[], float] = time.time,
        refresh_s: float = 300.0,
        samples: int = 3,
        sample_timeout_s: float = 5.0,
        retry_s: float = 30.0,
        warn_offset_s: float = 2.0,
    ) -> None:
        for label, value in (
            ("refresh_s", refresh_s),
            ("sample_timeout_s", sample_timeout_s),
            ("retry_s", retry_s),
            ("warn_offset_s", warn_offset_s),
        ):
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{label} must be a positive number of seconds (got {value!r})")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be an integer ≥ 1 (got {samples!r})")
        self._fetch = fetch_server_time
        self._clock = clock
        self._refresh_s = float(refresh_s)
        self._samples = samples
        self._sample_timeout_s = float(sample_timeout_s)
        self._retry_s = float(retry_s)
        self._warn_offset_s = float(warn_offset_s)
        self._offset_s = 0.0
        self._best: ClockSample | None = None
        self._measured_mono: float | None = None  # scheduling uses real elapsed time
        self._measurements = 0
        self._failures = 0
        self._last_error: str | None = None

    @property
    def offset_s(self) -> float:
        """Seconds to add to the local clock to get the venue's (0.0 until measured)."""
        return self._offset_s

    @property
    def measured(self) -> bool:
        """Whether any measurement has succeeded yet."""
        return self._best is not None

    @property
    def rtt_s(self) -> float | None:
        """Round trip of the sample behind the current offset (None until measured)."""
        return None if self._best is None else self._best.rtt_s

    def now(self) -> float:
        """The venue's clock now, in Unix seconds (float)."""
        return self._clock() + self._offset_s

    def now_s(self) -> int:
        """The venue's clock now, in whole Unix seconds: the value for ``POLY_TIMESTAMP``."""
        return math.floor(self.now())

    def now_ms(self) -> int:
        """The venue's clock now, in integer Unix milliseconds."""
        return math.floor(self.now() * 1000)

    async def _sample(self) -> ClockSample:
        sent_at = self._clock()
        async with asyncio.timeout(self._sample_timeout_s):
            answer: object = await self._fetch()
        received_at = self._clock()
        server_s = _check_answer(answer, (sent_at + received_at) / 2)
        return ClockSample(server_s, sent_at, received_at)

    async def measure(self) -> float:
        """Measure, store and return the offset in seconds (server − local).

        Takes ``samples`` round trips and keeps the one with the shortest. A round trip that
        fails (network error, timeout) is skipped; if none succeeds the last error is raised.
        An answer that cannot be a clock reading raises :class:`ServerTimeError` at once. Either
        way the previous offset stays in force.
        """
        best: ClockSample | None = None
        error: Exception | None = None
        for _ in range(self._samples):
            try:
                sample = await self._sample()
            except ServerTimeError as exc:
                self._record_failure(exc)
                raise
            except Exception as exc:  # a lost round trip: the other samples may do
                error = exc
                continue
            if sample.rtt_s < 0:  # the wall clock stepped back mid-call: the midpoint is meaningless
                error = ServerTimeError(f"local clock went backwards during /time ({sample.rtt_s:.3f} s)")
                continue
            if best is None or sample.rtt_s < best.rtt_s:
                best = sample
        if best is None:
            assert error is not None
            self._record_failure(error)
            raise error
        previous = self._offset_s if self.measured else None
        self._best = best
        self._offset_s = best.offset_s
        self._measured_mono = time.monotonic()
        self._measurements += 1
        self._last_error = None
        log = _log.warning if abs(self._offset_s) > self._warn_offset_s else _log.info
        log(
            "server_clock_measured",
            offset_s=round(self._offset_s, 3),
            rtt_s=round(best.rtt_s, 4),
            previous_offset_s=None if previous is None else round(previous, 3),
        )
        return self._offset_s

    def _record_failure(self, exc: Exception) -> None:
        self._failures += 1
        self._last_error = f"{type(exc).__name__}: {exc}"[:300]

    async def run(self) -> None:
        """Re-measure every ``refresh_s`` until cancelled.

        Measures at once if nothing was measured yet, otherwise ``refresh_s`` after the last
        success. A failure is logged, keeps the old offset, and is retried after ``retry_s``.
        Never raises except :class:`asyncio.CancelledError`.
        """
        while True:
            if self._measured_mono is not None:
                due_in = self._measured_mono + self._refresh_s - time.monotonic()
                if due_in > 0:
                    await asyncio.sleep(due_in)
            try:
                await self.measure()
            except Exception as exc:
                _log.warning(
                    "server_clock_measure_failed",
                    error=self._last_error or repr(exc),
                    kept_offset_s=round(self._offset_s, 3),
                    retry_in_s=min(self._retry_s, self._refresh_s),
                )
                await asyncio.sleep(min(self._retry_s, self._refresh_s))

    def status(self) -> dict[str, object]:
        """For the status page and ``polyexec test connection``."""
        age = None if self._measured_mono is None else round(time.monotonic() - self._measured_mono, 3)
        return {
            "measured": self.measured,
            "offset_s": round(self._offset_s, 3),
            "resolution_s": RESOLUTION_S,
            "rtt_s": None if self._best is None else round(self._best.rtt_s, 4),
            "last_measured_age_s": age,
            "measurements": self._measurements,
            "failures": self._failures,
            "last_error": self._last_error,
        }
