"""The venue error taxonomy: every way a CLOB request can fail, as one tree of exceptions.

Each class maps to exactly one order-state transition (DESIGN.md), so callers branch on the
class, never on message text::

    VenueError                    base; ``operation``, ``status``, ``message``, ``code``
    ├── DefinitiveReject          the venue refused: nothing happened (order not placed)
    ├── AmbiguousOutcome          it may or may not have happened: reconcile before acting
    │   └── BadResponse           a 2xx answer whose body could not be decoded
    ├── VenueUnavailable          425 / 503: the venue is not taking this request right now
    ├── RateLimited               429: slow down (``retry_after_s``)
    ├── Geoblocked                403: this IP may not trade
    └── AuthError                 401: bad or expired API key, bad L1/L2 signature, clock skew

How :func:`classify_http_error` maps a non-2xx answer (the one mapping; the HTTP transport and
the client use nothing else):

===================  ======================================================================
status               class (and what it carries)
===================  ======================================================================
400, 404, other 4xx  :class:`DefinitiveReject` (the venue's ``error``/``errorMsg`` text and
                     ``code``); the venue rewrites any "not found" error to 404. Exception:
                     a 400 ``context canceled`` (the venue's rewrite of an aborted request)
                     and 408 are :class:`AmbiguousOutcome`: the request may have run.
401                  :class:`AuthError`
403                  :class:`Geoblocked`
425                  :class:`VenueUnavailable` (matching-engine restart: too early)
429                  :class:`RateLimited` with ``retry_after_s`` from ``Retry-After`` (or
                     ``retry_after_seconds`` in the body; default 1 s)
503                  :class:`VenueUnavailable` with ``post_only_mode`` (the error or code
                     mentions post-only), ``cancel_only``, ``trading_disabled`` and
                     ``retry_after_s`` (body ``retry_after_seconds`` or ``Retry-After``)
other 5xx, 1xx, 3xx  :class:`AmbiguousOutcome` (500 ``order timed out`` included: the venue
                     says resending is safe, and only a resend tells)
===================  ======================================================================

Failures without an HTTP answer (timeout, refused or dropped connection, a disconnect while
reading) are :class:`AmbiguousOutcome` with ``status=None``; the transport raises them. An
HTTP 200 that says ``success: false`` (a single ``POST /order``) is a :class:`DefinitiveReject`
with ``status=200``; the client raises it.

``str(error)`` names the operation, the status and the venue's message, e.g.
``post_order: 400 invalid post-only order: order crosses book``. It never contains request
headers or credentials: only what the venue answered, cut to :data:`MAX_MESSAGE_CHARS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import orjson

__all__ = [
    "DEFAULT_RETRY_AFTER_S",
    "MAX_MESSAGE_CHARS",
    "AmbiguousOutcome",
    "AuthError",
    "BadResponse",
    "DefinitiveReject",
    "Geoblocked",
    "RateLimited",
    "VenueError",
    "VenueUnavailable",
    "classify_http_error",
    "is_duplicate_message",
    "parse_retry_after",
]

DEFAULT_RETRY_AFTER_S: Final = 1.0
"""The wait a 429 implies when it names none."""
MAX_MESSAGE_CHARS: Final = 500
"""Longer venue messages (an HTML error page, say) are cut: they go into logs and alerts."""

_DUPLICATE_CODE: Final = "INVALID_ORDER_DUPLICATED"


class VenueError(Exception):
    """A CLOB request failed. ``status`` is the HTTP status (``None`` when no answer came),
    ``message`` the venue's error text (or ours for a transport failure), ``code`` the venue's
    machine-readable code when it sent one, ``operation`` the client operation (``post_order``).

    ``details`` holds the rest of the venue's JSON error object (e.g. ``heartbeat_id`` of a
    refused heartbeat); ``attempts`` is how many times the transport sent the request, and
    ``after_ambiguous`` whether an earlier send of it ended ambiguously: for a request with an
    effect (an order), this answer then says nothing about whether that earlier send took effect.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status: int | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message[:MAX_MESSAGE_CHARS]
        self.operation = operation
        self.status = status
        self.code = code
        self.details: dict[str, Any] = dict(details or {})
        self.attempts = 1
        self.after_ambiguous = False
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.operation}: " if self.operation else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{where}{status}{self.message}"

    def __str__(self) -> str:
        return self._describe()


class DefinitiveReject(VenueError):
    """The venue refused the request: nothing happened (for an order: it is not placed)."""

    @property
    def duplicate(self) -> bool:
        """The venue says it has already seen this exact signed order (``Duplicated``)."""
        return is_duplicate_message(self.message, self.code)


class AmbiguousOutcome(VenueError):
    """Timeout, 5xx, disconnect or an unreadable answer: the request may or may not have taken
    effect. An order stays in flight until the venue says otherwise."""


class BadResponse(AmbiguousOutcome):
    """A 2xx answer whose body is not what the operation expects; ``message`` names the field."""


class VenueUnavailable(VenueError):
    """425 (matching-engine restart) or 503 (post-only mode, cancel-only, trading disabled).

    ``retry_after_s`` is the venue's own estimate when it gave one; ``post_only_mode`` means
    only post-only orders (and cancels) are accepted, ``cancel_only`` / ``trading_disabled``
    that no new order is.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status: int | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after_s: float | None = None,
        post_only_mode: bool = False,
        cancel_only: bool = False,
        trading_disabled: bool = False,
    ) -> None:
        super().__init__(message, operation=operation, status=status, code=code, details=details)
        self.retry_after_s = retry_after_s
        self.post_only_mode = post_only_mode
        self.cancel_only = cancel_only
        self.trading_disabled = trading_disabled


class RateLimited(VenueError):
    """429: the venue (or Cloudflare) wants us to wait ``retry_after_s`` seconds."""

    def __init__(
        self,
        message: str,
        *,
        operation: str = "",
        status: int | None = 429,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
    ) -> None:
        super().__init__(message, operation=operation, status=status, code=code, details=details)
        self.retry_after_s = retry_after_s


class Geoblocked(VenueError):
    """403: the venue refuses this IP (docs §7.8). Retrying does not help."""


class AuthError(VenueError):
    """401: the API key, its L1/L2 signature or the request timestamp was refused."""


def is_duplicate_message(message: str, code: str | None = None) -> bool:
    """Whether a refusal is the venue's ``order {id} is invalid. Duplicated.``
    (``INVALID_ORDER_DUPLICATED``): it has already accepted this exact signed order."""
    return code == _DUPLICATE_CODE or "duplicated" in message.lower()


def parse_retry_after(value: object) -> float | None:
    """Seconds from a ``Retry-After`` header or ``retry_after_seconds`` field (``"2"``, ``1.5``);
    ``None`` for anything else (an HTTP date, a negative number, NaN, ``True``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def _decode_error_body(body: bytes) -> tuple[str, str | None, dict[str, Any]]:
    """``(message, code, the whole JSON object)`` of an error body in any of the venue's forms
    (``{"error"}``, ``{"errorMsg"}``, ``{"error_msg"}``, ``{"message"}``, a bare string, text)."""
    try:
        decoded: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return body.decode("utf-8", errors="replace").strip(), None, {}
    if isinstance(decoded, str):
        return decoded, None, {}
    if not isinstance(decoded, dict):
        return ("" if decoded is None else str(decoded)), None, {}
    message = ""
    for key in ("error", "errorMsg", "error_msg", "message"):
        value = decoded.get(key)
        if isinstance(value, str) and value:
            message = value
            break
    code = decoded.get("code")
    return message, (str(code) if code not in (None, "") else None), decoded


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # aiohttp's headers are case-insensitive already; a plain dict (tests) may not be.
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def classify_http_error(operation: str, status: int, body: bytes, headers: Mapping[str, str]) -> VenueError:
    """The :class:`VenueError` a non-2xx answer means (see the module table). Never raises."""
    message, code, payload = _decode_error_body(body)
    message = message or f"HTTP {status}"
    common: dict[str, Any] = {"operation": operation, "status": status, "code": code, "details": payload}
    lowered = f"{message} {code or ''}".lower()
    header_wait = parse_retry_after(_header(headers, "Retry-After"))
    body_wait = parse_retry_after(payload.get("retry_after_seconds"))
    if status == 401:
        return AuthError(message, **common)
    if status == 403:
        return Geoblocked(message, **common)
    if status == 429:
        wait = header_wait if header_wait is not None else body_wait
        return RateLimited(message, retry_after_s=DEFAULT_RETRY_AFTER_S if wait is None else wait, **common)
    if status == 425:
        return VenueUnavailable(message, retry_after_s=header_wait, **common)
    if status == 503:
        compact = lowered.replace("-", "_").replace(" ", "_")
        return VenueUnavailable(
            message,
            retry_after_s=body_wait if body_wait is not None else header_wait,
            post_only_mode="post_only" in compact,
            cancel_only="cancel_only" in compact,
            trading_disabled="disabled" in lowered,
            **common,
        )
    if status == 408 or (status == 400 and "context canceled" in lowered):
        return AmbiguousOutcome(message, **common)
    if 400 <= status < 500:
        return DefinitiveReject(message, **common)
    return AmbiguousOutcome(message, **common)
