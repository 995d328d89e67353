"""The CLOB transport against a scripted local HTTP server on 127.0.0.1: exact-bytes L2 signing,
timeouts, the retry policy, rate limiting and session ownership."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import random
import socket
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from polyexec.venues.auth import ApiCredentials, L2Signer
from polyexec.venues.errors import (
    AmbiguousOutcome,
    AuthError,
    BadResponse,
    DefinitiveReject,
    Geoblocked,
    RateLimited,
    VenueUnavailable,
)
from polyexec.venues.http_transport import ClobTransport, RetryPolicy
from polyexec.venues.rate_limiter import RateLimiter
from polyexec.venues.server_clock import ServerClock

SECRET = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8="
ADDRESS = "0x500d75F1329cf98352c32Cf238c2192ca78faFFE"
CREDS = ApiCredentials(
    api_key="00000000-0000-0000-0000-000000000001", secret=SECRET, passphrase="pass-phrase"
)
LOCAL_NOW = 1_700_000_000.25

Answer = tuple[int, bytes, dict[str, str]] | Callable[[web.Request], Awaitable[web.StreamResponse]]


def answer(status: int = 200, body: object = None, headers: dict[str, str] | None = None) -> Answer:
    raw = body if isinstance(body, bytes) else orjson.dumps({} if body is None else body)
    return (status, raw, headers or {})


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeClob:
    """Answers requests from a script (then ``200 {}``) and records what it received."""

    answers: deque[Answer] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path, dict(request.query), dict(request.headers), body))
        scripted = self.answers.popleft() if self.answers else answer()
        if callable(scripted):
            return await scripted(request)
        status, raw, headers = scripted
        return web.Response(status=status, body=raw, headers={"Content-Type": "application/json", **headers})


@dataclass
class FakeTime:
    """A monotonic clock that only moves when something sleeps on it."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
async def fake_clob() -> AsyncIterator[FakeClob]:
    fake = FakeClob()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_transport(
    fake: FakeClob, fake_time: FakeTime, *, limiter: RateLimiter | None = None, **options: Any
) -> ClobTransport:
    retry = RetryPolicy(rng=random.Random(7), sleep=fake_time.sleep)
    options.setdefault("l2", L2Signer(CREDS, ADDRESS))
    return ClobTransport(fake.url, retry=retry, limiter=limiter, clock=lambda: LOCAL_NOW, **options)


def expected_signature(timestamp: str, method: str, path: str, body: bytes) -> str:
    """The venue's L2 check, written out independently of the code under test."""
    key = base64.urlsafe_b64decode(SECRET)
    message = f"{timestamp}{method}{path}".encode() + body
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


# -- signing ----------------------------------------------------------------------------------


async def test_l2_headers_sign_the_exact_bytes_sent(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    body = {"note": "it's ünïcode", "n": [1, 2], "flag": False}
    async with make_transport(fake_clob, fake_time) as transport:
        data = await transport.request(
            "post", "/orders", body=body, params={"x": "1"}, auth="l2", operation="post_orders"
        )
    assert data == {}
    seen = fake_clob.seen[0]
    assert seen.method == "POST"
    assert seen.query == {"x": "1"}
    assert seen.body == b'{"note":"it\'s \xc3\xbcn\xc3\xafcode","n":[1,2],"flag":false}'
    assert seen.headers["POLY_TIMESTAMP"] == "1700000000"
    assert seen.headers["POLY_ADDRESS"] == ADDRESS
    assert seen.headers["POLY_API_KEY"] == CREDS.api_key
    assert seen.headers["POLY_PASSPHRASE"] == CREDS.passphrase
    assert seen.headers["Content-Type"] == "application/json"
    # signed over path without the query string, and over the very bytes received
    assert seen.headers["POLY_SIGNATURE"] == expected_signature("1700000000", "POST", "/orders", seen.body)


async def test_bodiless_get_signs_the_path_alone(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    async with make_transport(fake_clob, fake_time) as transport:
        await transport.request("GET", "/data/orders", params={"next_cursor": "MA=="}, auth="l2")
    seen = fake_clob.seen[0]
    assert seen.body == b""
    assert "Content-Type" not in seen.headers
    assert seen.headers["POLY_SIGNATURE"] == expected_signature("1700000000", "GET", "/data/orders", b"")


async def test_timestamps_come_from_the_server_clock(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    async def venue_time() -> int:
        return 1_700_000_100

    server_clock = ServerClock(venue_time, clock=lambda: LOCAL_NOW)
    await server_clock.measure()
    async with make_transport(fake_clob, fake_time, server_clock=server_clock) as transport:
        assert transport.now_s() == 1_700_000_100
        await transport.request("DELETE", "/cancel-all", auth="l2")
    seen = fake_clob.seen[0]
    assert seen.headers["POLY_TIMESTAMP"] == "1700000100"
    assert seen.headers["POLY_SIGNATURE"] == expected_signature("1700000100", "DELETE", "/cancel-all", b"")


async def test_l1_headers_are_sent_as_given(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    l1 = {"POLY_ADDRESS": ADDRESS, "POLY_SIGNATURE": "0xsig", "POLY_TIMESTAMP": "1", "POLY_NONCE": "0"}
    async with make_transport(fake_clob, fake_time) as transport:
        await transport.request("POST", "/auth/api-key", auth="l1", l1_headers=l1)
        with pytest.raises(ValueError, match="l1_headers"):
            await transport.request("POST", "/auth/api-key", auth="l1")
    headers = fake_clob.seen[0].headers
    assert {k: headers[k] for k in l1} == l1
    assert "POLY_API_KEY" not in headers


async def test_l2_without_credentials_is_an_auth_error_before_sending(
    fake_clob: FakeClob, fake_time: FakeTime
) -> None:
    async with make_transport(fake_clob, fake_time, l2=None) as transport:
        with pytest.raises(AuthError, match=r"get_order: .*needs API credentials"):
            await transport.request("GET", "/data/order/0x1", auth="l2", operation="get_order")
        transport.set_l2_signer(L2Signer(CREDS, ADDRESS))
        await transport.request("GET", "/data/order/0x1", auth="l2")
    assert len(fake_clob.seen) == 1


async def test_path_must_not_carry_a_query(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    async with make_transport(fake_clob, fake_time) as transport:
        with pytest.raises(ValueError, match="query string"):
            await transport.request("GET", "/book?token_id=1")


# -- answers ------------------------------------------------------------------------------------


async def test_answers_are_decoded_json(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    fake_clob.answers.extend(
        [answer(200, b"1732272000"), answer(200, b""), answer(200, b"<html>oops</html>"), answer(200, b"OK")]
    )
    async with make_transport(fake_clob, fake_time) as transport:
        assert await transport.request("GET", "/time") == 1732272000
        assert await transport.request("GET", "/x") is None
        with pytest.raises(BadResponse, match="get_book: answer is not JSON"):
            await transport.request("GET", "/book", operation="get_book")
        assert await transport.request("GET", "/ok", expect_json=False) == b"OK"  # body not relied on


async def test_an_unreadable_key_answer_is_not_quoted(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    # an L1 answer carries the API secret: an error about it goes to logs and must not show it
    fake_clob.answers.append(answer(200, b'{"apiKey":"k","secret":"c2VjcmV0LXZhbHVl'))
    l1 = {"POLY_ADDRESS": ADDRESS, "POLY_SIGNATURE": "0xsig", "POLY_TIMESTAMP": "1", "POLY_NONCE": "0"}
    async with make_transport(fake_clob, fake_time) as transport:
        with pytest.raises(BadResponse, match="derive_api_key: answer is not JSON") as caught:
            await transport.request(
                "GET", "/auth/derive-api-key", auth="l1", l1_headers=l1, operation="derive_api_key"
            )
    assert "c2VjcmV0" not in str(caught.value)


async def test_send_reports_status_headers_and_attempts(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    fake_clob.answers.extend([answer(500), answer(200, {"ok": True}, {"Poly-RateLimit-Remaining": "59"})])
    async with make_transport(fake_clob, fake_time) as transport:
        response = await transport.send("GET", "/x", retry_safe=True)
    assert response.data == {"ok": True}
    assert response.status == 200
    assert response.attempts == 2
    assert response.headers["Poly-RateLimit-Remaining"] == "59"


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, DefinitiveReject), (401, AuthError), (403, Geoblocked), (404, DefinitiveReject)],
)
async def test_definitive_answers_are_never_retried(
    fake_clob: FakeClob, fake_time: FakeTime, status: int, error: type[Exception]
) -> None:
    fake_clob.answers.append(answer(status, {"error": "no"}))
    async with make_transport(fake_clob, fake_time) as transport:
        with pytest.raises(error) as caught:
            await transport.request("POST", "/order", body={}, retry_safe=True, operation="post_order")
    assert str(caught.value) == f"post_order: {status} no"
    assert len(fake_clob.seen) == 1
    assert fake_time.sleeps == []


async def test_safe_requests_are_resent_with_jittered_backoff(
    fake_clob: FakeClob, fake_time: FakeTime
) -> None:
    fake_clob.answers.extend([answer(500, {"error": "Internal Server Error"}), answer(502), answer(200, [1])])
    async with make_transport(fake_clob, fake_time) as transport:
        assert await transport.request("GET", "/x", retry_safe=True) == [1]
    assert len(fake_clob.seen) == 3
    first, second = fake_time.sleeps
    assert 0.1 <= first <= 0.2  # base 0.2 s, equal jitter
    assert 0.2 <= second <= 0.4  # doubled


async def test_every_resend_is_signed_afresh_over_the_same_bytes(
    fake_clob: FakeClob, fake_time: FakeTime
) -> None:
    fake_clob.answers.extend([answer(503, {"error": "busy", "retry_after_seconds": 1}), answer(200)])
    async with make_transport(fake_clob, fake_time) as transport:
        await transport.request("POST", "/order", body={"a": 1}, auth="l2", retry_safe=True)
    assert [s.body for s in fake_clob.seen] == [b'{"a":1}', b'{"a":1}']
    for seen in fake_clob.seen:
        stamp = seen.headers["POLY_TIMESTAMP"]
        assert seen.headers["POLY_SIGNATURE"] == expected_signature(stamp, "POST", "/order", b'{"a":1}')


async def test_answers_after_an_unanswered_send_say_so(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    fake_clob.answers.extend(
        [answer(429, {"error": "slow"}, {"Retry-After": "0"}), answer(200), answer(500), answer(200)]
    )
    fake_clob.answers.extend([answer(504), answer(400, {"error": "not enough balance / allowance"})])
    async with make_transport(fake_clob, fake_time) as transport:
        rate_limited_first = await transport.send("POST", "/order", body={}, retry_safe=True)
        lost_first = await transport.send("POST", "/order", body={}, retry_safe=True)
        with pytest.raises(DefinitiveReject) as refused:
            await transport.send("POST", "/order", body={}, retry_safe=True)
    assert not rate_limited_first.after_ambiguous  # a 429 was not processed
    assert lost_first.after_ambiguous
    assert refused.value.after_ambiguous
    assert refused.value.attempts == 2


async def test_three_attempts_at_most(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    fake_clob.answers.extend([answer(500)] * 5)
    async with make_transport(fake_clob, fake_time) as transport:
        with pytest.raises(AmbiguousOutcome) as caught:
            await transport.request("GET", "/x", retry_safe=True, operation="get_x")
    assert caught.value.attempts == 3
    assert len(fake_clob.seen) == 3


async def test_unsafe_requests_are_sent_once(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    fake_clob.answers.append(answer(500))
    async with make_transport(fake_clob, fake_time) as transport:
        with pytest.raises(AmbiguousOutcome):
            await transport.request("POST", "/auth/api-key", operation="create_api_key")
    assert len(fake_clob.seen) == 1


async def test_too_early_is_retried(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    fake_clob.answers.extend([answer(425, {"error": "Too Early"}), answer(200, {"ok": 1})])
    async with make_transport(fake_clob, fake_time) as transport:
        assert await transport.request("POST", "/order", body={}, retry_safe=True) == {"ok": 1}


async def test_post_only_mode_is_waited_out_when_short(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    post_only = {"error": "post-only mode", "code": "post_only_mode", "retry_after_seconds": 2}
    fake_clob.answers.extend([answer(503, post_only), answer(200)])
    async with make_transport(fake_clob, fake_time) as transport:
        await transport.request("POST", "/order", body={}, retry_safe=True)
    assert fake_time.sleeps == [2.0]


async def test_long_or_open_ended_unavailability_goes_to_the_caller(
    fake_clob: FakeClob, fake_time: FakeTime
) -> None:
    fake_clob.answers.extend(
        [
            answer(503, {"error": "post-only mode", "code": "post_only_mode", "retry_after_seconds": 79}),
            answer(503, {"error": "Trading is currently cancel-only."}),
        ]
    )
    async with make_transport(fake_clob, fake_time) as transport:
        with pytest.raises(VenueUnavailable) as long_wait:
            await transport.request("POST", "/order", body={}, retry_safe=True)
        with pytest.raises(VenueUnavailable) as cancel_only:
            await transport.request("POST", "/order", body={}, retry_safe=True)
    assert long_wait.value.post_only_mode
    assert long_wait.value.retry_after_s == 79
    assert cancel_only.value.cancel_only
    assert len(fake_clob.seen) == 2
    assert fake_time.sleeps == []


async def test_429_pauses_the_limiter_and_honours_retry_after(
    fake_clob: FakeClob, fake_time: FakeTime
) -> None:
    limiter = RateLimiter(clock=fake_time.clock, sleep=fake_time.sleep)
    fake_clob.answers.extend([answer(429, {"error": "Too Many Requests"}, {"Retry-After": "2"}), answer(200)])
    async with make_transport(fake_clob, fake_time, limiter=limiter) as transport:
        await transport.request("POST", "/order", body={}, retry_safe=True, bucket="order")
    assert fake_time.sleeps[0] >= 2.0
    assert fake_time.now >= 1002.0  # the resend went out no earlier than Retry-After
    assert limiter.snapshot()["penalties"] == 1


async def test_429_with_a_long_wait_is_not_sat_out(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    limiter = RateLimiter(clock=fake_time.clock, sleep=fake_time.sleep)
    fake_clob.answers.append(answer(429, {"error": "Too Many Requests"}, {"Retry-After": "30"}))
    async with make_transport(fake_clob, fake_time, limiter=limiter) as transport:
        with pytest.raises(RateLimited) as caught:
            await transport.request("GET", "/x", retry_safe=True)
    assert caught.value.retry_after_s == 30
    assert limiter.penalised  # concurrent order/cancel requests back off too
    assert len(fake_clob.seen) == 1


async def test_each_attempt_pays_its_tokens(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    limiter = RateLimiter(clock=fake_time.clock, sleep=fake_time.sleep)
    fake_clob.answers.extend([answer(500), answer(200, [])])
    async with make_transport(fake_clob, fake_time, limiter=limiter) as transport:
        await transport.request("POST", "/orders", body=[], retry_safe=True, bucket="order", cost=5)
        await transport.request("DELETE", "/order", body={}, bucket="cancel")
    # the fake clock moved only by the backoff sleep (< 0.2 s): refill is at most 8 tokens
    assert 50 <= limiter.available("order") < 50 + 0.2 * 40 + 1e-6
    assert limiter.available("cancel") <= 119 + 0.2 * 80


# -- transport failures -----------------------------------------------------------------------


async def test_no_answer_in_time_is_ambiguous(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response()

    fake_clob.answers.append(hang)
    async with make_transport(fake_clob, fake_time, timeout_s=0.1) as transport:
        with pytest.raises(AmbiguousOutcome, match=r"post_order: no answer within 0.1 s") as caught:
            await transport.request("POST", "/order", body={}, operation="post_order")
    assert caught.value.status is None
    never.set()


async def test_refused_connection_is_ambiguous(fake_time: FakeTime) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = ClobTransport(
        f"http://127.0.0.1:{port}", retry=RetryPolicy(sleep=fake_time.sleep, rng=random.Random(1))
    )
    async with transport:
        with pytest.raises(AmbiguousOutcome, match="get_x: ClientConnectorError") as caught:
            await transport.request("GET", "/x", retry_safe=True, operation="get_x")
    assert caught.value.attempts == 3


# -- session ownership and policy ---------------------------------------------------------------


async def test_an_injected_session_is_left_open(fake_clob: FakeClob, fake_time: FakeTime) -> None:
    async with aiohttp.ClientSession() as session:
        transport = make_transport(fake_clob, fake_time, session=session)
        await transport.request("GET", "/x")
        await transport.close()
        assert not session.closed
    owned = make_transport(fake_clob, fake_time)
    await owned.request("GET", "/x")
    await owned.close()
    await owned.close()  # idempotent


def test_retry_policy_validation_and_decisions() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="base_delay_s"):
        RetryPolicy(base_delay_s=float("nan"))
    policy = RetryPolicy(rng=random.Random(3))
    assert policy.delay_before_retry(DefinitiveReject("no"), 1) is None
    assert policy.delay_before_retry(AuthError("no"), 1) is None
    assert policy.delay_before_retry(AmbiguousOutcome("lost"), 3) is None  # past the attempts
    assert policy.delay_before_retry(RateLimited("slow", retry_after_s=4), 1) == 4
    assert policy.delay_before_retry(RateLimited("slow", retry_after_s=6), 1) is None
    assert policy.delay_before_retry(VenueUnavailable("disabled", status=503), 1) is None
    delays = [policy.backoff_s(10) for _ in range(20)]
    assert all(1.5 <= d <= 3.0 for d in delays)  # capped at max_delay_s, then jittered
    assert len(set(delays)) > 1
