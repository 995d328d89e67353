"""Client-side copies of the venue's per-signer token buckets, so we wait instead of being refused.

The CLOB meters trading per signer address (docs §2.5) with two independent token buckets:

* **orders**: ``POST /order`` costs 1, ``POST /orders`` one per order;
* **cancels**: ``DELETE /order`` costs 1, ``DELETE /orders`` one per id, and ``cancel-all`` /
  ``cancel-market-orders`` cost 1 plus the number of orders they cancelled (charged after the
  fact, so that bucket can go negative).

The standard tier refills 40 order tokens a second with a burst of 60, and 80 cancel tokens a
second with a burst of 120; higher tiers are in :data:`VENUE_TIERS`. A request the venue's bucket
cannot pay for is refused with 429 and ``Retry-After``. Keeping our own copy of the buckets means
a burst of orders is spread out locally (a few milliseconds each) instead of bouncing.

* :class:`TokenBucket` is the pure arithmetic, with time passed in: it never sleeps.
* :class:`RateLimiter` holds the two buckets of **one signer** (make one per API key / signer
  address) and makes callers wait their turn::

      limiter = RateLimiter()                     # standard tier
      waited = await limiter.acquire("order")     # before POST /order
      await limiter.acquire("cancel", cost=len(ids))
      limiter.charge("cancel", cancelled_count)   # after cancel-all: the venue's extra cost
      limiter.penalise(exc.retry_after_s)         # after a 429: both buckets pause

**A cost larger than the burst is refused** with :class:`ValueError` by :meth:`TokenBucket.try_take`
and :meth:`RateLimiter.acquire`: the venue charges such requests up front and its bucket never
holds more than the burst, so it would answer 429 however long we waited. Split the batch
instead. Costs only known afterwards (the orders cancel-all actually cancelled) go through
:meth:`RateLimiter.charge`, which, like the venue's cancel bucket, may take a bucket below zero;
later requests then wait for it to refill.

Waiting is fair: requests on one bucket are served strictly in arrival order (first in, first
out), so a large batch at the head of the queue is not starved by single orders behind it, and
the order and cancel buckets never wait for each other (a cancel is never stuck behind orders).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from polyexec.logging_setup import get_logger

__all__ = ["VENUE_TIERS", "BucketName", "RateLimiter", "RateTier", "TokenBucket"]

_log = get_logger(module=__name__)

BucketName = Literal["order", "cancel"]
"""Which of a signer's two buckets a request draws from."""

_TOLERANCE: Final = 1e-9
"""Tokens short of the cost that still count as enough: float refill maths can land a hair under
a whole token exactly when one is due, and waiting 1e-17 s for it would only spin the loop."""


@dataclass(frozen=True, slots=True)
class RateTier:
    """One venue rate tier: refill per second and burst of each bucket."""

    order_rate: float
    order_burst: int
    cancel_rate: float
    cancel_burst: int


VENUE_TIERS: Final[Mapping[str, RateTier]] = MappingProxyType(
    {
        # docs §2.5: the tier follows the maker wallet's 30-day volume
        "standard": RateTier(40, 60, 80, 120),
        "copper": RateTier(60, 90, 120, 180),
        "bronze": RateTier(80, 120, 160, 240),
        "silver": RateTier(200, 300, 400, 600),
    }
)
"""The venue's published per-signer tiers (higher, negotiated tiers go up to 600/900)."""


def _check_now(now: float) -> None:
    if not math.isfinite(now):
        raise ValueError(f"token bucket time must be a finite number of seconds (got {now!r})")


def _check_cost(cost: int, *, allow_zero: bool = False) -> None:
    if isinstance(cost, bool) or not isinstance(cost, int):
        raise ValueError(f"token cost must be an integer (got {cost!r})")
    if cost < (0 if allow_zero else 1):
        raise ValueError(f"token cost must be {'≥ 0' if allow_zero else '≥ 1'} (got {cost})")


class TokenBucket:
    """A token bucket refilling ``rate_per_s`` tokens a second up to ``burst``; pure arithmetic.

    Time is passed in as seconds on any monotonic scale (the first call anchors it); the bucket
    starts full. ``now`` must not go backwards: a clock that does only delays refilling.
    """

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate_per_s: float, burst: int) -> None:
        if isinstance(rate_per_s, bool) or not math.isfinite(rate_per_s) or rate_per_s <= 0:
            raise ValueError(f"token bucket rate must be a positive number per second (got {rate_per_s!r})")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"token bucket burst must be an integer ≥ 1 (got {burst!r})")
        self._rate = float(rate_per_s)
        self._burst = burst
        self._tokens = float(burst)
        # Refilling resumes from here; ahead of ``now`` while a penalty pause lasts.
        self._stamp: float | None = None

    @property
    def rate_per_s(self) -> float:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    def _refill(self, now: float) -> float:
        _check_now(now)
        if self._stamp is None:
            self._stamp = now
        elif now > self._stamp:
            self._tokens = min(float(self._burst), self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
        return self._stamp

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (negative after an over-charge, ≤ 0 during a pause)."""
        self._refill(now)
        return self._tokens

    def try_take(self, now: float, cost: int = 1) -> float:
        """Take ``cost`` tokens if the bucket holds them: returns ``0.0`` when taken, otherwise
        the seconds until it will hold them (nothing is taken; ask again then).

        Raises :class:`ValueError` for a cost that is not an integer in ``[1, burst]``.
        """
        _check_cost(cost)
        if cost > self._burst:
            raise ValueError(
                f"a cost of {cost} tokens exceeds the bucket's burst of {self._burst}: "
                "the venue would refuse it however long we waited; split the request"
            )
        stamp = self._refill(now)
        if stamp <= now and self._tokens >= cost - _TOLERANCE:
            self._tokens -= cost
            return 0.0
        # While paused (stamp ahead of now) nothing refills until stamp.
        return (stamp - now) + max(cost - self._tokens, 0.0) / self._rate

    def charge(self, now: float, cost: int) -> None:
        """Debit ``cost`` tokens unconditionally, possibly below zero (a cost only known after the
        request, like the orders cancel-all cancelled). Later takes wait for the refill."""
        _check_cost(cost, allow_zero=True)
        self._refill(now)
        self._tokens -= cost

    def pause(self, now: float, seconds: float) -> None:
        """The venue said we are out of tokens for ``seconds`` (429 ``Retry-After``): empty the
        bucket and refill only from ``now + seconds``. Pauses never shorten one in progress."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"pause must be a finite number of seconds ≥ 0 (got {seconds!r})")
        stamp = self._refill(now)
        self._tokens = min(self._tokens, 0.0)
        self._stamp = max(stamp, now + seconds)


class RateLimiter:
    """The order and cancel buckets of one signer, with async, first-come-first-served waiting.

    ``clock`` is a monotonic seconds clock and ``sleep`` the coroutine used to wait (both
    injectable for tests). ``max_penalty_s`` caps how long one 429 may pause trading, so a
    garbage ``Retry-After`` cannot freeze the daemon: a penalty still owed afterwards comes back
    as another 429. ``name`` labels log lines (e.g. the signer address).
    """

    def __init__(
        self,
        *,
        order_rate: float = 40,
        order_burst: int = 60,
        cancel_rate: float = 80,
        cancel_burst: int = 120,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_penalty_s: float = 60.0,
        name: str = "",
    ) -> None:
        if not math.isfinite(max_penalty_s) or max_penalty_s <= 0:
            raise ValueError(f"max_penalty_s must be a positive number of seconds (got {max_penalty_s!r})")
        self._buckets: dict[str, TokenBucket] = {
            "order": TokenBucket(order_rate, order_burst),
            "cancel": TokenBucket(cancel_rate, cancel_burst),
        }
        # asyncio.Lock hands itself to waiters in arrival order and a newcomer never barges
        # past a queued waiter: holding it while sleeping is what makes each bucket FIFO.
        self._turns: dict[str, asyncio.Lock] = {"order": asyncio.Lock(), "cancel": asyncio.Lock()}
        self._clock = clock
        self._sleep = sleep
        self._max_penalty_s = float(max_penalty_s)
        self._name = name
        self._in_line = {"order": 0, "cancel": 0}
        self._acquired = {"order": 0, "cancel": 0}
        self._waits = {"order": 0, "cancel": 0}
        self._waited_s = {"order": 0.0, "cancel": 0.0}
        self._penalties = 0
        self._penalised_until: float | None = None

    @classmethod
    def for_tier(
        cls,
        tier: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_penalty_s: float = 60.0,
        name: str = "",
    ) -> RateLimiter:
        """A limiter at one of :data:`VENUE_TIERS` (``"standard"``, ``"copper"``, ...)."""
        try:
            limits = VENUE_TIERS[tier]
        except KeyError:
            raise ValueError(f"unknown rate tier {tier!r} (known: {', '.join(VENUE_TIERS)})") from None
        return cls(
            order_rate=limits.order_rate,
            order_burst=limits.order_burst,
            cancel_rate=limits.cancel_rate,
            cancel_burst=limits.cancel_burst,
            clock=clock,
            sleep=sleep,
            max_penalty_s=max_penalty_s,
            name=name,
        )

    def _bucket(self, bucket: str) -> TokenBucket:
        try:
            return self._buckets[bucket]
        except KeyError:
            raise ValueError(f"unknown rate bucket {bucket!r} (expected 'order' or 'cancel')") from None

    async def acquire(self, bucket: BucketName, cost: int = 1) -> float:
        """Wait until ``bucket`` can pay ``cost`` tokens, take them, and return the seconds waited.

        Requests on one bucket are served in arrival order. Cancelling the caller while it waits
        takes nothing and lets the next in line go. Raises :class:`ValueError` for an unknown
        bucket or a cost outside ``[1, burst]`` (see the module docs). Callers that cannot use a
        late answer (a stale quote) wrap this in ``asyncio.timeout``.
        """
        token_bucket = self._bucket(bucket)
        _check_cost(cost)
        if cost > token_bucket.burst:
            raise ValueError(
                f"{bucket} request costing {cost} tokens exceeds the burst of {token_bucket.burst}: "
                "the venue would refuse it however long we waited; split the request"
            )
        started = self._clock()
        turn = self._turns[bucket]
        queued = turn.locked()  # someone ahead of us: we wait even if we never sleep ourselves
        self._in_line[bucket] += 1
        try:
            async with turn:
                while (wait := token_bucket.try_take(self._clock(), cost)) > 0:
                    queued = True
                    await self._sleep(wait)
        finally:
            self._in_line[bucket] -= 1
        waited = max(self._clock() - started, 0.0) if queued else 0.0
        self._acquired[bucket] += 1
        if waited > 0:
            self._waits[bucket] += 1
            self._waited_s[bucket] += waited
        return waited

    def charge(self, bucket: BucketName, cost: int) -> None:
        """Debit ``cost`` tokens after the fact (cancel-all's and cancel-market's per-order cost);
        the bucket may go negative and later :meth:`acquire` calls wait for it to refill."""
        self._bucket(bucket).charge(self._clock(), cost)

    def penalise(self, retry_after_s: float) -> None:
        """The venue answered 429: pause **both** buckets for ``retry_after_s`` seconds (capped at
        ``max_penalty_s``) and restart them empty. Raises :class:`ValueError` for a negative or
        non-finite value (parse the header before calling)."""
        if isinstance(retry_after_s, bool) or not math.isfinite(retry_after_s) or retry_after_s < 0:
            raise ValueError(f"retry_after_s must be a finite number of seconds ≥ 0 (got {retry_after_s!r})")
        seconds = min(float(retry_after_s), self._max_penalty_s)
        if seconds < retry_after_s:
            _log.warning(
                "rate_limit_penalty_capped", limiter=self._name, retry_after_s=retry_after_s, capped_s=seconds
            )
        now = self._clock()
        for token_bucket in self._buckets.values():
            token_bucket.pause(now, seconds)
        self._penalties += 1
        until = now + seconds
        self._penalised_until = until if self._penalised_until is None else max(self._penalised_until, until)
        _log.warning("rate_limited_by_venue", limiter=self._name, pause_s=seconds, penalties=self._penalties)

    def available(self, bucket: BucketName) -> float:
        """Tokens ``bucket`` holds now (negative after an over-charge)."""
        return self._bucket(bucket).tokens(self._clock())

    @property
    def penalised(self) -> bool:
        """True while a 429 pause lasts."""
        return self._penalised_until is not None and self._clock() < self._penalised_until

    def snapshot(self) -> dict[str, object]:
        """Counters for the status page: tokens, requests served, how many waited and how long."""
        now = self._clock()
        buckets: dict[str, object] = {}
        for name, token_bucket in self._buckets.items():
            buckets[name] = {
                "rate_per_s": token_bucket.rate_per_s,
                "burst": token_bucket.burst,
                "tokens": round(token_bucket.tokens(now), 3),
                "acquired": self._acquired[name],
                "waited": self._waits[name],
                "waited_s": round(self._waited_s[name], 6),
                "in_line": self._in_line[name],
            }
        return {
            "name": self._name,
            "penalties": self._penalties,
            "penalised": self.penalised,
            "buckets": buckets,
        }
