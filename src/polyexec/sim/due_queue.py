"""A min-heap of things that fall due at a simulated time (trade status changes, GTD expiries)."""

from __future__ import annotations

import heapq
import itertools

__all__ = ["DueQueue"]


class DueQueue:
    """Keys ordered by due time (ties in insertion order). A key may be pushed again with a new
    time; callers check on pop whether an entry is still current."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, due_ms: int, key: str) -> None:
        heapq.heappush(self._heap, (due_ms, next(self._order), key))

    def next_ms(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ms: int | None) -> tuple[int, str] | None:
        """The earliest entry due by ``now_ms`` (any entry if ``now_ms`` is None), or None."""
        if not self._heap or (now_ms is not None and self._heap[0][0] > now_ms):
            return None
        due_ms, _, key = heapq.heappop(self._heap)
        return due_ms, key
