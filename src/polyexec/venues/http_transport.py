"""The CLOB's HTTP transport: one aiohttp session, L2 signing of the exact bytes sent, timeouts,
safe retries and client-side rate limiting.

:class:`ClobTransport` sends one request and returns the answer's decoded JSON, or raises one
of the :mod:`polyexec.venues.errors` classes; it knows nothing about what the operations mean
(that is :class:`~polyexec.venues.clob_client.ClobClient`). Per request it:

1. serialises the body **once** (:func:`~polyexec.venues.order_signer.encode_body`): those
   bytes are both sent and HMAC-signed, so the venue verifies exactly what it received;
2. waits for the signer's rate-limit bucket (``bucket``/``cost``) before every attempt, since
   the venue charges every attempt;
3. stamps L2 headers with the venue's clock (:meth:`ServerClock.now_s
   <polyexec.venues.server_clock.ServerClock.now_s>`: local time plus the measured offset, not a
   ``/time`` call per request), fresh for every attempt;
4. bounds the request with ``timeout_s``; no answer in time is an
   :class:`~polyexec.venues.errors.AmbiguousOutcome` (the request may have run);
5. maps a non-2xx answer with :func:`~polyexec.venues.errors.classify_http_error`, and a 2xx
   that is not JSON to :class:`~polyexec.venues.errors.BadResponse`;
6. retries, when the caller says a resend is safe (``retry_safe``), per :class:`RetryPolicy`.

A 429 also pauses the :class:`~polyexec.venues.rate_limiter.RateLimiter` for its
``Retry-After``, whether or not this request is retried, so concurrent requests back off too.

Headers and credentials are never logged: retry log lines carry the operation, attempt, error
class, HTTP status and the venue's message only.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal

import aiohttp
import orjson

from polyexec.logging_setup import get_logger
from polyexec.venues.errors import (
    AmbiguousOutcome,
    AuthError,
    BadResponse,
    RateLimited,
    VenueError,
    VenueUnavailable,
    classify_http_error,
)
from polyexec.venues.order_signer import encode_body

if TYPE_CHECKING:
    from polyexec.venues.auth import L2Signer
    from polyexec.venues.rate_limiter import RateLimiter
    from polyexec.venues.server_clock import ServerClock

__all__ = ["AuthMode", "ClobResponse", "ClobTransport", "RetryPolicy"]

_log = get_logger(module=__name__)

AuthMode = Literal["none", "l1", "l2"]
_USER_AGENT: Final = "polyexec/0.1"
_TOO_EARLY: Final = 425


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before resending a request that the caller marked safe.

    At most ``attempts`` sends in all. Before retry *n* (1, 2, …) the transport waits the
    exponential backoff ``base_delay_s × 2^(n−1)`` capped at ``max_delay_s``, with "equal jitter"
    (a uniform draw between half and all of it, so clients that failed together do not return
    together), or the venue's own ``Retry-After`` if that is longer.

    Retried: :class:`~polyexec.venues.errors.AmbiguousOutcome` (timeouts, 5xx, disconnects,
    unreadable 2xx), 425, 429 and a 503 that names a ``retry_after``. Not retried: definitive
    rejects, auth, geoblock, and a 503 without a wait (cancel-only, trading disabled). A venue
    wait longer than ``max_retry_after_s`` is not sat out inside one call (a quote would be stale
    by then): the error goes to the caller, who knows whether the request is still wanted.

    ``rng`` (``random()`` in [0, 1)) and ``sleep`` are injectable for tests.
    """

    attempts: int = 3
    base_delay_s: float = 0.2
    max_delay_s: float = 3.0
    max_retry_after_s: float = 5.0
    rng: random.Random | None = field(default=None, compare=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError(f"attempts must be an integer ≥ 1 (got {self.attempts!r})")
        for name in ("base_delay_s", "max_delay_s", "max_retry_after_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of seconds ≥ 0 (got {value!r})")

    def backoff_s(self, retry: int) -> float:
        """The jittered backoff before retry number ``retry`` (1-based)."""
        delay = min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry - 1))
        # Jitter is about spreading clients out, not secrecy.
        draw = self.rng.random() if self.rng is not None else random.random()  # noqa: S311
        return delay * (0.5 + draw / 2)

    def delay_before_retry(self, error: VenueError, retry: int) -> float | None:
        """Seconds to wait before retry number ``retry`` after ``error``; ``None`` if ``error``
        is not worth a retry (or ``retry`` is past the attempts)."""
        if retry >= self.attempts:
            return None
        if isinstance(error, RateLimited):
            wait = error.retry_after_s
        elif isinstance(error, VenueUnavailable):
            if error.status != _TOO_EARLY and error.retry_after_s is None:
                return None
            wait = error.retry_after_s or 0.0
        elif isinstance(error, AmbiguousOutcome):
            wait = 0.0
        else:
            return None
        if wait > self.max_retry_after_s:
            return None
        return max(wait, self.backoff_s(retry))


@dataclass(frozen=True, slots=True)
class ClobResponse:
    """A successful answer: ``data`` is the decoded JSON (``None`` for an empty body; the raw
    bytes with ``expect_json=False``), then the HTTP status, the response headers, how many
    sends it took and whether an earlier send ended ambiguously (then an order the answer
    refuses may have been placed by that earlier send)."""

    data: Any
    status: int
    headers: Mapping[str, str]
    attempts: int
    after_ambiguous: bool = False


class ClobTransport:
    """The HTTP side of the CLOB client (see the module docstring).

    ``host`` is the CLOB's base URL (``https://clob.polymarket.com``; the simulator's base URL
    in tests). ``session`` may be shared with other clients (it is then not closed by
    :meth:`close`); without one the transport opens its own on first use. ``l2`` signs
    authenticated requests (set it later with :meth:`set_l2_signer` after creating a key);
    ``server_clock`` supplies ``POLY_TIMESTAMP`` (else ``clock``, the local wall clock);
    ``limiter`` holds the signer's order/cancel buckets. ``timeout_s`` bounds each attempt.
    """

    def __init__(
        self,
        host: str,
        *,
        session: aiohttp.ClientSession | None = None,
        l2: L2Signer | None = None,
        server_clock: ServerClock | None = None,
        limiter: RateLimiter | None = None,
        timeout_s: float = 5.0,
        retry: RetryPolicy = RetryPolicy(),  # frozen: sharing the default is safe
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not host.startswith(("http://", "https://")):
            raise ValueError(f"CLOB host must be an http(s) URL (got {host!r})")
        if not math.isfinite(timeout_s) or timeout_s <= 0:
            raise ValueError(f"timeout_s must be a positive number of seconds (got {timeout_s!r})")
        self._host = host.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._l2 = l2
        self._server_clock = server_clock
        self._limiter = limiter
        self._timeout_s = float(timeout_s)
        self._retry = retry
        self._clock = clock

    @property
    def host(self) -> str:
        return self._host

    @property
    def l2_signer(self) -> L2Signer | None:
        return self._l2

    @property
    def limiter(self) -> RateLimiter | None:
        return self._limiter

    def set_l2_signer(self, l2: L2Signer | None) -> None:
        """Sign authenticated requests with ``l2`` from now on (e.g. after creating a key)."""
        self._l2 = l2

    def use_server_clock(self, server_clock: ServerClock | None) -> None:
        """Stamp L1/L2 headers with ``server_clock`` from now on (once its offset is measured)."""
        self._server_clock = server_clock

    def now_s(self) -> int:
        """The timestamp for L1/L2 headers: the venue's clock when a server clock is set."""
        if self._server_clock is not None:
            return self._server_clock.now_s()
        return math.floor(self._clock())

    async def __aenter__(self) -> ClobTransport:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if the transport opened it (an injected one is left alone)."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or (self._owns_session and self._session.closed):
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: object | None = None,
        auth: AuthMode = "none",
        l1_headers: Mapping[str, str] | None = None,
        retry_safe: bool = False,
        bucket: Literal["order", "cancel"] | None = None,
        cost: int = 1,
        operation: str = "",
        timeout_s: float | None = None,
        expect_json: bool = True,
    ) -> Any:
        """Send a request and return the answer's decoded JSON; raises a ``VenueError``.

        ``path`` is the path only (``/data/orders``); ``params`` the query string (not signed).
        ``body`` is serialised once and those bytes sent and signed. ``auth="l2"`` adds the five
        L2 headers; ``auth="l1"`` sends ``l1_headers`` (computed by the caller from
        :meth:`now_s`). ``retry_safe`` allows resends (GETs, order posts, cancels).
        ``operation`` names the request in errors and logs. ``expect_json=False`` returns the
        raw body bytes of an answer whose body is not relied on (``/ok``).
        """
        response = await self.send(
            method,
            path,
            params=params,
            body=body,
            auth=auth,
            l1_headers=l1_headers,
            retry_safe=retry_safe,
            bucket=bucket,
            cost=cost,
            operation=operation,
            timeout_s=timeout_s,
            expect_json=expect_json,
        )
        return response.data

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: object | None = None,
        auth: AuthMode = "none",
        l1_headers: Mapping[str, str] | None = None,
        retry_safe: bool = False,
        bucket: Literal["order", "cancel"] | None = None,
        cost: int = 1,
        operation: str = "",
        timeout_s: float | None = None,
        expect_json: bool = True,
    ) -> ClobResponse:
        """Like :meth:`request`, returning the whole :class:`ClobResponse` (status, headers,
        attempts, ``after_ambiguous``). A raised ``VenueError`` carries ``attempts`` and
        ``after_ambiguous`` too."""
        method = method.upper()
        if not path.startswith("/") or "?" in path:
            raise ValueError(f"path must start with '/' and carry no query string (got {path!r})")
        if auth == "l1" and l1_headers is None:
            raise ValueError("auth='l1' needs l1_headers")
        name = operation or f"{method} {path}"
        payload = None if body is None else encode_body(body)
        attempts = self._retry.attempts if retry_safe else 1
        attempt = 1
        ambiguous = False
        while True:
            try:
                response = await self._attempt(
                    method, path, params, payload, auth, l1_headers, bucket, cost, name, timeout_s
                )
                if expect_json:
                    # An L1 answer carries the API secret: never quote it in an error.
                    response = replace(response, data=_decode_json(response.data, name, quote=auth != "l1"))
                return replace(response, attempts=attempt, after_ambiguous=ambiguous)
            except VenueError as exc:
                exc.attempts = attempt
                exc.after_ambiguous = ambiguous
                ambiguous = ambiguous or isinstance(exc, AmbiguousOutcome)
                if isinstance(exc, RateLimited) and self._limiter is not None:
                    self._limiter.penalise(exc.retry_after_s)
                delay = self._retry.delay_before_retry(exc, attempt) if attempt < attempts else None
                if delay is None:
                    raise
                _log.warning(
                    "clob_request_retry",
                    operation=name,
                    attempt=attempt,
                    error=type(exc).__name__,
                    status=exc.status,
                    message=exc.message,
                    delay_s=round(delay, 3),
                )
                await self._retry.sleep(delay)
                attempt += 1

    def _headers(
        self,
        method: str,
        path: str,
        payload: bytes | None,
        auth: AuthMode,
        l1_headers: Mapping[str, str] | None,
    ) -> dict[str, str]:
        headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if auth == "l2":
            if self._l2 is None:
                raise AuthError(f"{method} {path} needs API credentials (no L2 signer configured)")
            headers.update(self._l2.headers(self.now_s(), method, path, payload))
        elif auth == "l1" and l1_headers is not None:
            headers.update(l1_headers)
        return headers

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        payload: bytes | None,
        auth: AuthMode,
        l1_headers: Mapping[str, str] | None,
        bucket: Literal["order", "cancel"] | None,
        cost: int,
        operation: str,
        timeout_s: float | None,
    ) -> ClobResponse:
        """One send; the answer's body is returned as raw bytes in ``data``."""
        if bucket is not None and self._limiter is not None:
            await self._limiter.acquire(bucket, cost)
        try:
            headers = self._headers(method, path, payload, auth, l1_headers)
        except AuthError as exc:
            exc.operation = operation
            raise
        timeout = self._timeout_s if timeout_s is None else timeout_s
        session = self._get_session()
        try:
            async with session.request(
                method,
                self._host + path,
                params=dict(params) if params else None,
                data=payload,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
                response_headers = response.headers
        except TimeoutError:
            raise AmbiguousOutcome(f"no answer within {timeout:g} s", operation=operation) from None
        except aiohttp.ClientError as exc:
            raise AmbiguousOutcome(f"{type(exc).__name__}: {exc}", operation=operation) from exc
        if not 200 <= status < 300:
            raise classify_http_error(operation, status, raw, response_headers)
        return ClobResponse(raw, status, response_headers, attempts=1)


def _decode_json(raw: bytes, operation: str, *, quote: bool = True) -> Any:
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        if not quote:
            raise BadResponse(f"answer is not JSON ({len(raw)} bytes)", operation=operation) from None
        snippet = raw[:80].decode("utf-8", errors="replace")
        raise BadResponse(f"answer is not JSON: {snippet!r}", operation=operation) from None
