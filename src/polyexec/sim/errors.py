"""The venue's refusals, as exceptions the REST layer turns into its two error forms.

A single ``POST /order`` answers ``{"error": message}`` with :attr:`VenueError.status`; a batch
(``POST /orders``) reports each refusal inside a 200 response as ``success: false`` with
``errorMsg``. ``code`` is the venue's machine-readable code when it has one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HeartbeatRejected", "VenueError"]


class VenueError(Exception):
    """A request the venue refuses: HTTP ``status``, the venue's ``message`` and optional ``code``."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        code: str | None = None,
        order_id: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.order_id = order_id
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": ..., "code"?: ..., **extra}``."""
        payload: dict[str, Any] = {"error": self.message}
        if self.code is not None:
            payload["code"] = self.code
        payload.update(self.extra)
        return payload


class HeartbeatRejected(Exception):
    """A heartbeat carried the wrong id; ``expected`` is the id the client must send next."""

    def __init__(self, expected: str) -> None:
        super().__init__(f"Invalid Heartbeat ID (expected {expected!r})")
        self.expected = expected
