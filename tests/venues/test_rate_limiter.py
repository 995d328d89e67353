"""Token buckets (pure maths, hypothesis) and the async per-signer limiter on injected time."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.venues.rate_limiter import VENUE_TIERS, BucketName, RateLimiter, TokenBucket

# -- TokenBucket: pure arithmetic -----------------------------------------------------------------

T0 = 1_000.0


def test_bucket_starts_full_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(40, 60)
    assert all(bucket.try_take(T0) == 0.0 for _ in range(60))
    assert bucket.try_take(T0) == pytest.approx(1 / 40)
    assert bucket.try_take(T0 + 1 / 40) == 0.0
    # a long rest refills only up to the burst
    assert bucket.tokens(T0 + 3600) == 60


def test_bucket_takes_a_multi_token_cost_at_once_or_says_how_long() -> None:
    bucket = TokenBucket(10, 20)
    assert bucket.try_take(T0, 15) == 0.0
    assert bucket.try_take(T0, 15) == pytest.approx(1.0)  # 5 held, 10 more at 10/s
    assert bucket.tokens(T0) == pytest.approx(5)  # a refused take takes nothing
    assert bucket.try_take(T0 + 1.0, 15) == 0.0


@pytest.mark.parametrize("cost", [0, -1, 61, 1.0, True, "1"])
def test_bucket_refuses_costs_outside_one_to_burst(cost: object) -> None:
    bucket = TokenBucket(40, 60)
    with pytest.raises(ValueError, match="cost"):
        bucket.try_take(T0, cost)  # type: ignore[arg-type]
    assert bucket.tokens(T0) == 60


@pytest.mark.parametrize(
    ("rate", "burst"), [(0, 60), (-1, 60), (math.nan, 60), (math.inf, 60), (40, 0), (40, 1.5)]
)
def test_bucket_refuses_a_bad_rate_or_burst(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        TokenBucket(rate, burst)


def test_bucket_refuses_a_non_finite_time() -> None:
    with pytest.raises(ValueError, match="finite"):
        TokenBucket(40, 60).try_take(math.nan)


def test_charge_takes_the_bucket_negative_and_later_takes_wait_for_the_debt() -> None:
    bucket = TokenBucket(80, 120)
    bucket.charge(T0, 200)  # cancel-all that cancelled 200 orders
    assert bucket.tokens(T0) == -80
    assert bucket.try_take(T0) == pytest.approx(81 / 80)
    assert bucket.try_take(T0 + 81 / 80) == 0.0


def test_pause_empties_the_bucket_and_refills_only_after_it() -> None:
    bucket = TokenBucket(40, 60)
    bucket.pause(T0, 2.0)
    assert bucket.try_take(T0) == pytest.approx(2.0 + 1 / 40)
    assert bucket.try_take(T0 + 2.0) == pytest.approx(1 / 40)
    assert bucket.try_take(T0 + 2.0 + 1 / 40) == 0.0
    # a shorter pause during a longer one does not shorten it
    bucket.pause(T0 + 3.0, 5.0)
    bucket.pause(T0 + 3.0, 1.0)
    assert bucket.try_take(T0 + 7.0) == pytest.approx(1.0 + 1 / 40)
    with pytest.raises(ValueError, match="pause"):
        bucket.pause(T0 + 9, -1.0)


# Each step: advance time, then take (cost), pause (seconds) or charge nothing.
_steps = st.lists(
    st.tuples(
        st.floats(0, 0.3, allow_nan=False),
        st.sampled_from(["take", "take", "take", "pause"]),
        st.integers(1, 8),
        st.floats(0, 0.5, allow_nan=False),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(rate=st.floats(0.5, 500, allow_nan=False), burst=st.integers(1, 20), steps=_steps)
def test_bucket_never_gives_more_than_burst_plus_refill_over_any_interval(
    rate: float, burst: int, steps: list[tuple[float, str, int, float]]
) -> None:
    bucket = TokenBucket(rate, burst)
    now = T0
    taken: list[tuple[float, int]] = []
    for dt, action, cost, pause in steps:
        now += dt
        if action == "pause":
            bucket.pause(now, pause)
        elif cost <= burst and bucket.try_take(now, cost) == 0.0:
            taken.append((now, cost))
    for i, (start, _) in enumerate(taken):
        total = 0
        for at, cost in taken[i:]:
            total += cost
            assert total <= burst + rate * (at - start) + 1e-6


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(0.5, 1000, allow_nan=False),
    burst=st.integers(1, 600),
    drained=st.integers(0, 600),
    cost=st.integers(1, 600),
    pause=st.one_of(st.none(), st.floats(0, 5, allow_nan=False)),
)
def test_bucket_wait_is_exactly_when_the_take_succeeds(
    rate: float, burst: int, drained: int, cost: int, pause: float | None
) -> None:
    cost = min(cost, burst)
    bucket = TokenBucket(rate, burst)
    bucket.try_take(T0, min(drained, burst) or 1)
    if pause is not None:
        bucket.pause(T0, pause)
    wait = bucket.try_take(T0, cost)
    if wait == 0.0:
        return
    assert wait > 0
    if wait * rate > 1e-6:  # measurably early: still refused
        assert bucket.try_take(T0 + wait / 2, cost) > 0
    assert bucket.try_take(T0 + wait, cost) == 0.0


# -- RateLimiter: async waiting on injected time ----------------------------------------------------


class FakeTime:
    """A clock that only moves when the limiter sleeps; ``gate`` holds sleepers until opened."""

    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []
        self.gate: asyncio.Event | None = None
        self.slept = asyncio.Event()  # set once someone has started sleeping

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.slept.set()
        await asyncio.sleep(0)  # others run "during" the sleep, at the time it began
        if self.gate is not None:
            await self.gate.wait()
        self.now += seconds


def limiter_on(fake: FakeTime, **options: float) -> RateLimiter:
    return RateLimiter(clock=fake.clock, sleep=fake.sleep, **options)  # type: ignore[arg-type]


async def test_acquire_is_free_within_the_burst_and_then_paced_at_the_rate() -> None:
    fake = FakeTime()
    limiter = limiter_on(fake)
    assert [await limiter.acquire("order") for _ in range(60)] == [0.0] * 60
    assert await limiter.acquire("order") == pytest.approx(1 / 40)
    assert [await limiter.acquire("cancel") for _ in range(120)] == [0.0] * 120
    assert await limiter.acquire("cancel", cost=4) == pytest.approx(4 / 80)


async def test_a_sustained_stream_never_exceeds_the_venue_bucket() -> None:
    fake = FakeTime()
    limiter = limiter_on(fake)
    stamps: list[float] = []
    for _ in range(300):
        await limiter.acquire("order")
        stamps.append(fake.now)
    assert stamps[-1] - stamps[0] == pytest.approx((300 - 60) / 40)
    for i, start in enumerate(stamps):
        for count, at in enumerate(stamps[i:], start=1):
            assert count <= 60 + 40 * (at - start) + 1e-6


async def test_waiters_are_served_in_arrival_order_so_a_big_batch_is_not_starved() -> None:
    fake = FakeTime()
    limiter = limiter_on(fake)
    await limiter.acquire("order", 60)
    done: list[str] = []

    async def request(label: str, cost: int) -> float:
        waited = await limiter.acquire("order", cost)
        done.append(label)
        return waited

    # "small" needs 1 token (25 ms) but arrives after "batch" (60 tokens, 1.5 s): it must wait
    waits = await asyncio.gather(request("batch", 60), request("small", 1), request("small2", 1))
    assert done == ["batch", "small", "small2"]
    assert waits[0] == pytest.approx(1.5)
    assert waits[1] == pytest.approx(1.5 + 1 / 40)


async def test_cancels_are_not_held_up_by_waiting_orders() -> None:
    fake = FakeTime()
    limiter = limiter_on(fake)
    await limiter.acquire("order", 60)
    fake.gate = asyncio.Event()  # the order waiter blocks in its sleep
    order = asyncio.create_task(limiter.acquire("order"))
    await fake.slept.wait()
    assert await limiter.acquire("cancel", 10) == 0.0
    assert not order.done()
    assert limiter.snapshot()["buckets"]["order"]["in_line"] == 1  # type: ignore[index]
    fake.gate.set()
    assert await order == pytest.approx(1 / 40)


async def test_a_cancelled_waiter_takes_nothing_and_lets_the_next_one_go() -> None:
    fake = FakeTime()
    limiter = limiter_on(fake)
    await limiter.acquire("order", 60)
    fake.gate = asyncio.Event()
    first = asyncio.create_task(limiter.acquire("order", 30))
    second = asyncio.create_task(limiter.acquire("order", 1))
    await fake.slept.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    fake.gate.set()
    # only the 1-token request was served: 25 ms after the drain, not 750 ms
    assert await second == pytest.approx(1 / 40)
    assert limiter.available("order") == pytest.approx(0.0, abs=1e-9)


async def test_penalise_pauses_both_buckets_and_restarts_them_empty() -> None:
    fake = FakeTime()
    limiter = limiter_on(fake)
    limiter.penalise(2.0)
    fake.now = T0 + 1.9
    assert limiter.penalised
    assert limiter.available("order") == 0
    assert limiter.available("cancel") == 0
    fake.now = T0 + 2.5  # refilling from the end of the pause, from empty
    assert not limiter.penalised
    assert limiter.available("order") == pytest.approx(20)
    assert limiter.available("cancel") == pytest.approx(40)
    assert limiter.snapshot()["penalties"] == 1


async def test_an_acquire_during_a_penalty_waits_it_out() -> None:
    fake = FakeTime()
    limiter = limiter_on(fake)
    limiter.penalise(2.0)
    assert await limiter.acquire("cancel") == pytest.approx(2.0 + 1 / 80)


async def test_penalise_caps_an_absurd_retry_after_and_refuses_garbage() -> None:
    fake = FakeTime()
    limiter = limiter_on(fake, max_penalty_s=5.0)
    limiter.penalise(1e9)
    assert await limiter.acquire("order") == pytest.approx(5.0 + 1 / 40)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="retry_after_s"):
            limiter.penalise(bad)


async def test_charge_after_cancel_all_makes_later_cancels_wait() -> None:
    fake = FakeTime()
    limiter = limiter_on(fake)
    await limiter.acquire("cancel")  # cancel-all: 1 up front...
    limiter.charge("cancel", 200)  # ...plus the 200 orders it cancelled
    assert limiter.available("cancel") == pytest.approx(-81)
    assert await limiter.acquire("cancel") == pytest.approx(82 / 80)


async def test_acquire_refuses_a_cost_over_the_burst_or_an_unknown_bucket() -> None:
    limiter = limiter_on(FakeTime())
    with pytest.raises(ValueError, match="burst of 60"):
        await limiter.acquire("order", 61)
    with pytest.raises(ValueError, match="unknown rate bucket"):
        await limiter.acquire("orders")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cost"):
        await limiter.acquire("cancel", 0)
    assert limiter.available("order") == 60


@pytest.mark.parametrize("tier", sorted(VENUE_TIERS))
async def test_for_tier_uses_the_published_limits(tier: str) -> None:
    fake = FakeTime()
    limits = VENUE_TIERS[tier]
    limiter = RateLimiter.for_tier(tier, clock=fake.clock, sleep=fake.sleep)
    buckets: dict[BucketName, int] = {"order": limits.order_burst, "cancel": limits.cancel_burst}
    for name, burst in buckets.items():
        assert limiter.available(name) == burst
        assert await limiter.acquire(name, burst) == 0.0
    assert await limiter.acquire("order") == pytest.approx(1 / limits.order_rate)


def test_for_tier_refuses_an_unknown_tier() -> None:
    with pytest.raises(ValueError, match="unknown rate tier 'gold'"):
        RateLimiter.for_tier("gold")


async def test_real_clock_and_sleep_pace_requests() -> None:
    limiter = RateLimiter(order_rate=1000, order_burst=1)  # 1 ms per order
    started = time.monotonic()
    waits = [await limiter.acquire("order") for _ in range(4)]
    assert waits[0] == 0.0
    assert all(w > 0 for w in waits[1:])
    assert time.monotonic() - started >= 0.003 - 1e-4
    snapshot = limiter.snapshot()["buckets"]["order"]  # type: ignore[index]
    assert snapshot["acquired"] == 4
    assert snapshot["waited"] == 3
