"""Per-signer token buckets on the simulator's clock."""

from __future__ import annotations

import pytest

from polyexec.sim.contracts import SimClock
from polyexec.sim.rate_limits import RateLimiter


def test_buckets_refill_on_the_sim_clock() -> None:
    clock = SimClock(start=1_000)
    limiter = RateLimiter(clock.now)
    assert limiter.take("0xA", "order", 60).allowed
    refused = limiter.take("0xa", "order", 1)  # the signer, whatever its case
    assert not refused.allowed
    assert 0 < refused.retry_after <= 1 / 40 + 1e-3
    assert limiter.take("0xB", "order", 1).allowed  # another signer has its own bucket
    clock.advance(1)
    assert limiter.take("0xA", "order", 40).allowed
    limiter.charge("0xA", "cancel", 500)  # cancel-all may take the bucket below zero
    assert not limiter.take("0xA", "cancel", 1).allowed


def test_warn_and_off_modes() -> None:
    clock = SimClock(start=1_000)
    warn = RateLimiter(clock.now, "warn")
    warn.take("0xA", "order", 60)
    decision = warn.take("0xA", "order", 1)
    assert decision.allowed
    assert decision.headers["Poly-RateLimit-Warning"] == "true"
    assert RateLimiter(clock.now, "off").take("0xA", "order", 10_000).allowed
    with pytest.raises(ValueError, match="enforce, warn or off"):
        RateLimiter(clock.now, "strict")
