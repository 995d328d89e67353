"""What the simulator's HTTP handlers share: the venue state, JSON helpers and middlewares.

:class:`Venue` bundles the clock, the exchange, the API keys, the fault registry and the rate
limiter with the venue's settings. Two middlewares wrap every request:

* :func:`error_middleware` turns a :class:`~polyexec.sim.errors.VenueError` into the venue's
  error body (``{"error": ...}``) and status, and any other exception into a logged
  500 ``{"error": "Internal Server Error"}`` (the simulator never dies of a bad request);
* :func:`fault_middleware` applies the switched-on HTTP faults (500, 425, 429 with
  ``Retry-After``, slow responses, held responses) before or after the real handler.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from polyexec.sim.auth import ApiKey, ApiKeyStore, verify_l2
from polyexec.sim.contracts import SimClock
from polyexec.sim.errors import VenueError
from polyexec.sim.exchange import Exchange
from polyexec.sim.faults import FaultRegistry
from polyexec.sim.rate_limits import RateLimiter

__all__ = [
    "END_CURSOR",
    "VENUE_KEY",
    "Venue",
    "error_middleware",
    "fault_middleware",
    "json_body",
    "json_response",
    "paginate",
    "require_l2",
    "retry_after_seconds",
    "venue_of",
]

_log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
END_CURSOR = "LTE="
PAGE_SIZE = 100


@dataclass(slots=True)
class Venue:
    """The CLOB's state and settings, shared by the REST handlers."""

    clock: SimClock
    exchange: Exchange
    keys: ApiKeyStore
    faults: FaultRegistry
    limiter: RateLimiter
    chain_id: int = 137
    auth_window_s: float | None = 60.0
    taker_delay_ms: int = 50
    allow_eoa: bool = True


VENUE_KEY = web.AppKey("polyexec_sim_venue", Venue)


def venue_of(request: web.Request) -> Venue:
    return request.app[VENUE_KEY]


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


async def json_body(request: web.Request) -> Any:
    """The request's JSON body; a 400 ``Invalid payload`` if it is not JSON."""
    raw = await request.read()
    try:
        return json.loads(raw) if raw else None
    except ValueError as exc:
        raise VenueError("Invalid payload") from exc


def _signed_path(request: web.Request) -> str:
    return request.raw_path.split("?", 1)[0]


async def require_l2(request: web.Request) -> ApiKey:
    """Check the L2 headers of ``request`` (over its exact body bytes); 401 otherwise."""
    venue = venue_of(request)
    body = await request.read()
    return verify_l2(
        request.headers,
        method=request.method,
        path=_signed_path(request),
        body=body or None,
        keys=venue.keys,
        now_s=venue.clock.now(),
        window_s=venue.auth_window_s,
    )


def _decode_cursor(cursor: str) -> int:
    if cursor in ("", "MA=="):
        return 0
    try:
        offset = int(base64.b64decode(cursor, validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise VenueError(f"invalid next_cursor {cursor!r}") from exc
    if offset < 0:
        raise VenueError(f"invalid next_cursor {cursor!r}")
    return offset


def paginate(items: Sequence[dict[str, Any]], cursor: str, limit: int = PAGE_SIZE) -> dict[str, Any]:
    """The venue's cursor page: ``{"limit", "next_cursor", "count", "data"}``; the cursor is
    the base64 of the next offset (``MA==`` first, ``LTE=`` after the last page)."""
    offset = _decode_cursor(cursor)
    page = list(items[offset : offset + limit])
    end = offset + limit
    next_cursor = base64.b64encode(str(end).encode()).decode() if end < len(items) else END_CURSOR
    return {"limit": limit, "next_cursor": next_cursor, "count": len(page), "data": page}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except VenueError as exc:
        headers = (
            {"Retry-After": str(exc.extra["retry_after_seconds"])}
            if "retry_after_seconds" in exc.extra
            else None
        )
        return json_response(exc.body(), status=exc.status, headers=headers)
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        _log.exception("simulator handler failed: %s %s", request.method, request.path)
        return json_response({"error": "Internal Server Error"}, status=500)


def retry_after_seconds(seconds: float) -> int:
    """A wait as the whole seconds of a ``Retry-After`` (rounded up, at least 1)."""
    return max(int(seconds + 0.999), 1)


def fault_response(name: str, retry_after: float) -> web.Response:
    """The canned answer of an HTTP fault that replaces the real one."""
    if name == "http_425":
        return json_response({"error": "Too Early"}, status=425)
    if name == "http_429":
        return json_response(
            {"error": "Too Many Requests"},
            status=429,
            headers={"Retry-After": str(retry_after_seconds(retry_after))},
        )
    return json_response({"error": "Internal Server Error"}, status=500)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    venue = venue_of(request)
    fault = venue.faults.http_fault(request.method, request.path)
    if fault is None:
        return await handler(request)
    # Delays are real seconds whatever the clock speed: they are aimed at clients' timeouts.
    if fault.name == "http_slow":
        await asyncio.sleep(fault.delay)
        return await handler(request)
    if fault.name == "http_timeout":
        response = await handler(request)
        await asyncio.sleep(fault.delay)
        return response
    if fault.name == "http_500" and fault.after:
        # Process the request for real, then lose the answer: an ambiguous outcome.
        with contextlib.suppress(Exception):
            await handler(request)
    return fault_response(fault.name, fault.retry_after)
