"""The heartbeat dead-man switch, per API key.

An API key that never sent a heartbeat is not watched. Once it has sent one, each valid
heartbeat must carry the id the previous answer returned; if none arrives for
``timeout_ms + buffer_ms`` (10 s + 5 s on the venue), the exchange cancels all of that key's
open orders and forgets the key's heartbeat state (the next heartbeat starts over with ``""``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from polyexec.sim.errors import HeartbeatRejected

__all__ = ["HeartbeatMonitor"]


@dataclass(slots=True)
class _Beat:
    expected_id: str
    last_ms: int


class HeartbeatMonitor:
    """Heartbeat ids and deadlines; ``new_id`` makes the next id (seeded by the exchange)."""

    def __init__(self, new_id: Callable[[], str], timeout_ms: int, buffer_ms: int) -> None:
        self._new_id = new_id
        self.timeout_ms = timeout_ms
        self.buffer_ms = buffer_ms
        self._beats: dict[str, _Beat] = {}

    def beat(self, owner: str, heartbeat_id: str, now_ms: int) -> str:
        """Accept a heartbeat and return the id to send next; raises
        :class:`~polyexec.sim.errors.HeartbeatRejected` with the expected id otherwise."""
        current = self._beats.get(owner)
        expected = current.expected_id if current is not None else ""
        if heartbeat_id != expected:
            raise HeartbeatRejected(expected)
        next_id = self._new_id()
        self._beats[owner] = _Beat(next_id, now_ms)
        return next_id

    def armed(self, owner: str) -> bool:
        return owner in self._beats

    def lapsed(self, now_ms: int) -> list[str]:
        """API keys whose deadline passed; they are disarmed as they are returned."""
        limit = self.timeout_ms + self.buffer_ms
        gone = [owner for owner, beat in self._beats.items() if now_ms - beat.last_ms > limit]
        for owner in gone:
            del self._beats[owner]
        return gone

    def next_deadline_ms(self) -> int | None:
        if not self._beats:
            return None
        return min(beat.last_ms for beat in self._beats.values()) + self.timeout_ms + self.buffer_ms
