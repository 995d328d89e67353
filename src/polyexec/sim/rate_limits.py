"""Per-signer token buckets on trading endpoints (docs §2.5), on the simulator's clock.

The venue meters orders and cancels per signer address: the standard tier refills 40 order
tokens and 80 cancel tokens per second, with bursts of 60 and 120. ``POST /order`` costs 1,
``POST /orders`` one per order, ``DELETE /order`` 1, ``DELETE /orders`` one per id, cancel-all
and cancel-market 1 plus the number cancelled (which may take the bucket below zero). A
request the bucket cannot pay for is refused with 429 and ``Retry-After``. ``mode="warn"``
only adds ``Poly-RateLimit-Warning: true`` (what the venue did from 2026-07-24);
``mode="off"`` disables metering.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

__all__ = ["RateDecision", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether to serve the request, and the headers the venue adds."""

    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0


class _Bucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now


class RateLimiter:
    """Order and cancel buckets per signer; ``now_s`` reads the simulator's clock."""

    LIMITS: ClassVar[dict[str, tuple[float, float]]] = {"order": (40.0, 60.0), "cancel": (80.0, 120.0)}

    def __init__(self, now_s: Callable[[], float], mode: str = "enforce") -> None:
        if mode not in ("enforce", "warn", "off"):
            raise ValueError(f"rate-limit mode must be enforce, warn or off (got {mode!r})")
        self._now_s = now_s
        self.mode = mode
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _bucket(self, signer: str, kind: str) -> _Bucket:
        key = (signer.lower(), kind)
        bucket = self._buckets.get(key)
        now = self._now_s()
        if bucket is None:
            rate, burst = self.LIMITS[kind]
            bucket = _Bucket(rate, burst, now)
            self._buckets[key] = bucket
        bucket.refill(now)
        return bucket

    def take(self, signer: str, kind: str, cost: float) -> RateDecision:
        """Charge ``cost`` tokens up front (orders, cancels by id)."""
        if self.mode == "off":
            return RateDecision(True, {})
        bucket = self._bucket(signer, kind)
        headers = {
            "Poly-RateLimit-Tier": "standard",
            "Poly-RateLimit-Reset": str(math.ceil(self._now_s() + 1)),
        }
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            headers["Poly-RateLimit-Remaining"] = str(int(bucket.tokens))
            return RateDecision(True, headers)
        wait = (cost - bucket.tokens) / bucket.rate
        headers["Poly-RateLimit-Remaining"] = str(max(int(bucket.tokens), 0))
        if self.mode == "warn":
            bucket.tokens -= cost
            return RateDecision(True, {**headers, "Poly-RateLimit-Warning": "true"})
        return RateDecision(False, headers, retry_after=wait)

    def charge(self, signer: str, kind: str, cost: float) -> None:
        """Charge after the fact (cancel-all's per-order part); the bucket may go negative."""
        if self.mode != "off":
            self._bucket(signer, kind).tokens -= cost
