"""Per-feed counters: what an operator (and ``/metrics``) needs to judge a feed's health.

One :class:`FeedStats` per feed (market channel, user channel, Binance, RTDS). The websocket
runner counts connections, reconnects and message times; the feed's decoder counts malformed or
unknown messages (:meth:`FeedStats.record_error`) and how long it took to process each message
(:meth:`FeedStats.record_latency`). :meth:`FeedStats.snapshot` turns it all into plain JSON.

Times are ``time.monotonic()`` seconds, passed in by the caller.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["LATENCY_SAMPLES", "FeedStats"]

LATENCY_SAMPLES: Final = 2048
"""Processing-latency samples kept for the percentiles (the most recent ones)."""


def _percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class FeedStats:
    """Counters of one feed. Plain attributes: the runner and the decoder update them directly
    through the ``record_*`` methods; everything else only reads."""

    name: str
    messages: int = 0
    """Data messages received (keepalive replies such as ``PONG`` are not counted)."""
    errors: int = 0
    """Messages that could not be used (malformed, unknown, refused values): counted and skipped."""
    error_kinds: Counter[str] = field(default_factory=Counter)
    connects: int = 0
    """Connections opened (the first one included)."""
    reconnects: int = 0
    """Connections lost or dropped on purpose (stale, rotation) after which a new one was tried."""
    stale_reconnects: int = 0
    """Reconnects forced because no data arrived for the feed's staleness limit."""
    handshake_rejections: int = 0
    """Connection attempts the server refused (HTTP 429/418/403/5xx on the upgrade)."""
    last_message_at: float | None = None
    connected_at: float | None = None
    last_disconnect_reason: str = ""
    _latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))

    def record_message(self, now: float) -> None:
        self.messages += 1
        self.last_message_at = now

    def record_error(self, kind: str) -> None:
        """One unusable message; ``kind`` is a short label (``"malformed"``, ``"unknown_event"``)."""
        self.errors += 1
        self.error_kinds[kind] += 1

    def record_latency(self, seconds: float) -> None:
        """How long one message took from receipt to the last event handed on."""
        self._latencies.append(seconds)

    def latency_recorder(self) -> Callable[[float], None]:
        """:meth:`record_latency` without the method call, for a feed's per-message hot path
        (the same samples; keep the returned function, it stays valid for these stats)."""
        return self._latencies.append

    def record_connect(self, now: float) -> None:
        self.connects += 1
        self.connected_at = now

    def record_disconnect(self, reason: str, *, stale: bool = False) -> None:
        self.reconnects += 1
        self.connected_at = None
        self.last_disconnect_reason = reason
        if stale:
            self.stale_reconnects += 1

    def last_message_age(self, now: float) -> float | None:
        """Seconds since the last data message, ``None`` before the first one."""
        return None if self.last_message_at is None else max(0.0, now - self.last_message_at)

    def latency_ms(self) -> tuple[float, float] | None:
        """(median, p99) processing latency in milliseconds over the recent samples."""
        if not self._latencies:
            return None
        ordered = sorted(self._latencies)
        return (_percentile(ordered, 0.5) * 1000, _percentile(ordered, 0.99) * 1000)

    def snapshot(self, now: float) -> dict[str, object]:
        """Every counter as plain JSON-ready values."""
        latency = self.latency_ms()
        age = self.last_message_age(now)
        return {
            "name": self.name,
            "connected": self.connected_at is not None,
            "messages": self.messages,
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
            "connects": self.connects,
            "reconnects": self.reconnects,
            "stale_reconnects": self.stale_reconnects,
            "handshake_rejections": self.handshake_rejections,
            "last_message_age_s": None if age is None else round(age, 3),
            "last_disconnect_reason": self.last_disconnect_reason,
            "latency_ms_p50": None if latency is None else round(latency[0], 4),
            "latency_ms_p99": None if latency is None else round(latency[1], 4),
        }
