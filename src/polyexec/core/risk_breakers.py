"""Blocks that lift themselves: the risk manager's circuit breakers and venue cooldowns.

Nothing here needs a timer. A breaker trip and a cooldown each carry an expiry in ms, and every
question is asked with ``now_ms``: once ``now_ms`` reaches the expiry the block is gone.

Circuit breakers (:class:`CircuitBreakers`), one per :class:`BreakerKind`:

``LOSS_WINDOW``
    Realised losses within ``loss_breaker_window_s`` reach ``loss_breaker_usd``
    (:meth:`CircuitBreakers.record_window_loss`); holds for ``loss_breaker_cooldown_s``.
``CONSECUTIVE_REJECTS``
    ``max_consecutive_rejects`` definitive venue rejects in a row; holds for
    ``reject_breaker_cooldown_s``, and the count starts over at the trip.
``API_UNHEALTHY``
    The venue API unhealthy for longer than ``api_unhealthy_max_s``: tripped for as long as it
    stays unhealthy, then for ``api_breaker_cooldown_s`` after the first healthy report.
``DRAWDOWN``
    Equity ``max_drawdown_pct`` below its peak; holds for ``drawdown_breaker_cooldown_s``. A
    trip re-bases the peak at the tripping equity.

Venue cooldowns (:class:`VenueCooldowns`): the venue asked us to leave one token alone until a
given time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Final

from polyexec.core.models import ZERO, TimestampMs
from polyexec.core.risk_limits import RiskLimits
from polyexec.core.risk_losses import limit_reached, require_finite

__all__ = ["BreakerKind", "BreakerTrip", "CircuitBreakers", "VenueCooldowns"]

_SECOND_MS: Final = 1_000


class BreakerKind(StrEnum):
    """The circuit breakers. Each trips on its own condition and resets itself after its cooldown."""

    API_UNHEALTHY = "API_UNHEALTHY"
    CONSECUTIVE_REJECTS = "CONSECUTIVE_REJECTS"
    LOSS_WINDOW = "LOSS_WINDOW"
    DRAWDOWN = "DRAWDOWN"


@dataclass(slots=True)
class BreakerTrip:
    """The last trip of one breaker: when it tripped, until when it holds, and why."""

    until_ms: int | None = None
    tripped_at_ms: int | None = None
    reason: str = ""

    def is_tripped(self, now_ms: int) -> bool:
        return self.until_ms is not None and now_ms < self.until_ms

    def trip(self, at_ms: int, until_ms: int, reason: str) -> None:
        self.tripped_at_ms, self.until_ms, self.reason = at_ms, until_ms, reason


def _no_trips() -> dict[BreakerKind, BreakerTrip]:
    return {kind: BreakerTrip() for kind in BreakerKind}


@dataclass(slots=True)
class CircuitBreakers:
    """The four breakers and the counters that trip them.

    The fields are the state that survives a restart (:mod:`polyexec.core.risk_codec` writes
    and reads them); use the methods to change them.
    """

    limits: RiskLimits
    trips: dict[BreakerKind, BreakerTrip] = field(default_factory=_no_trips)
    """The last trip of every breaker, in :class:`BreakerKind` order."""
    reject_streak: int = 0
    """Definitive venue rejects in a row since the last accept or reject-breaker trip."""
    api_unhealthy_since_ms: int | None = None
    """When the venue API was first reported unhealthy, while it still is."""
    peak_equity: Decimal | None = None
    """Peak equity since session start or the last drawdown trip."""
    last_equity: Decimal | None = None

    # --- what happened -------------------------------------------------------------------

    def record_window_loss(self, loss: Decimal, now_ms: TimestampMs) -> None:
        """Report the realised loss within the loss-breaker window at ``now_ms`` (the caller
        leaves out losses that already tripped the breaker); trips it when the limit is reached."""
        if limit_reached(loss, self.limits.loss_breaker_usd):
            until = now_ms + self.limits.loss_breaker_cooldown_s * _SECOND_MS
            self.trips[BreakerKind.LOSS_WINDOW].trip(
                now_ms, until, f"realised loss {loss} within {self.limits.loss_breaker_window_s}s"
            )

    def record_reject(self, now_ms: TimestampMs) -> None:
        """A definitive venue reject; ``max_consecutive_rejects`` in a row trip the breaker."""
        self.reject_streak += 1
        if limit_reached(self.reject_streak, self.limits.max_consecutive_rejects):
            until = now_ms + self.limits.reject_breaker_cooldown_s * _SECOND_MS
            self.trips[BreakerKind.CONSECUTIVE_REJECTS].trip(
                now_ms, until, f"{self.reject_streak} venue rejects in a row"
            )
            self.reject_streak = 0  # after the cooldown it takes another N rejects

    def record_accept(self) -> None:
        """The venue accepted an order: the reject streak starts over."""
        self.reject_streak = 0

    def record_api_health(self, healthy: bool, now_ms: TimestampMs) -> None:
        """Report the venue API's health. Repeated unhealthy reports keep the first time. The
        first healthy report after more than ``api_unhealthy_max_s`` of trouble trips the
        breaker for ``api_breaker_cooldown_s`` from now (until then :meth:`is_tripped` already
        says so from the outage itself)."""
        since = self.api_unhealthy_since_ms
        if not healthy:
            if since is None:
                self.api_unhealthy_since_ms = now_ms
            return
        max_ms = self.limits.api_unhealthy_max_s * _SECOND_MS
        if since is not None and now_ms - since > max_ms:
            until = now_ms + self.limits.api_breaker_cooldown_s * _SECOND_MS
            self.trips[BreakerKind.API_UNHEALTHY].trip(
                since + max_ms, until, f"venue API unhealthy for {(now_ms - since) // _SECOND_MS}s"
            )
        self.api_unhealthy_since_ms = None

    def update_equity(self, equity: Decimal, now_ms: TimestampMs) -> None:
        """Report account equity; trips the drawdown breaker at ``max_drawdown_pct`` below the
        peak and re-bases the peak at the tripping equity, so that after the cooldown a further
        fall of that size trips it again (otherwise it would re-trip on the very next update and
        never reset). Raises ``ValueError`` for a negative or non-finite equity."""
        require_finite("equity", equity)
        if equity < 0:
            raise ValueError(f"equity must not be negative (got {equity})")
        self.last_equity = equity
        peak = equity if self.peak_equity is None else max(self.peak_equity, equity)
        self.peak_equity = peak
        drawdown = self.drawdown_pct()
        if limit_reached(drawdown, self.limits.max_drawdown_pct):
            until = now_ms + self.limits.drawdown_breaker_cooldown_s * _SECOND_MS
            self.trips[BreakerKind.DRAWDOWN].trip(
                now_ms, until, f"drawdown {drawdown:.2f}% from peak {peak} to {equity}"
            )
            self.peak_equity = equity

    # --- reading the state -----------------------------------------------------------------

    def tripped(self, now_ms: TimestampMs) -> tuple[BreakerKind, ...]:
        """The breakers tripped at ``now_ms``, in :class:`BreakerKind` order (the check order)."""
        return tuple(kind for kind in BreakerKind if self.is_tripped(kind, now_ms))

    def is_tripped(self, kind: BreakerKind, now_ms: TimestampMs) -> bool:
        """Whether ``kind`` blocks at ``now_ms``: its last trip still holds or, for the API
        breaker, the API has been unhealthy for longer than ``api_unhealthy_max_s``."""
        if self.trips[kind].is_tripped(now_ms):
            return True
        since = self.api_unhealthy_since_ms
        return (
            kind is BreakerKind.API_UNHEALTHY
            and since is not None
            and now_ms - since > self.limits.api_unhealthy_max_s * _SECOND_MS
        )

    def until_ms(self, kind: BreakerKind, now_ms: TimestampMs) -> int | None:
        """When the holding trip of ``kind`` ends, or ``None`` if no trip holds (an API breaker
        tripped by an ongoing outage has no end yet)."""
        trip = self.trips[kind]
        return trip.until_ms if trip.is_tripped(now_ms) else None

    def reason(self, kind: BreakerKind, now_ms: TimestampMs) -> str:
        """Why ``kind`` is tripped at ``now_ms``, for people."""
        trip = self.trips[kind]
        if trip.is_tripped(now_ms) or kind is not BreakerKind.API_UNHEALTHY:
            return trip.reason
        return f"venue API unhealthy since {self.api_unhealthy_since_ms}"

    def drawdown_pct(self) -> Decimal:
        """Current drawdown of the last equity from the peak, in percent (0 without a peak)."""
        peak, last = self.peak_equity, self.last_equity
        if peak is None or last is None or peak <= 0:
            return ZERO
        return (peak - last) / peak * 100


@dataclass(slots=True)
class VenueCooldowns:
    """Tokens the venue asked us to leave alone, each until a time in ms."""

    entries: dict[str, tuple[int, str]] = field(default_factory=dict)
    """``token id → (until ms, reason)``; expired entries stay until :meth:`purge_expired`."""

    def add(self, token_id: str, until_ms: TimestampMs, reason: str) -> None:
        """Skip ``token_id`` until ``until_ms``. An existing later expiry is kept."""
        current = self.entries.get(token_id)
        if current is None or until_ms > current[0]:
            self.entries[token_id] = (until_ms, reason)

    def active(self, token_id: str, now_ms: TimestampMs) -> tuple[int, str] | None:
        """``(until ms, reason)`` of the cooldown on ``token_id`` at ``now_ms``, if any."""
        cooldown = self.entries.get(token_id)
        return cooldown if cooldown is not None and now_ms < cooldown[0] else None

    def purge_expired(self, now_ms: TimestampMs) -> None:
        """Forget cooldowns that have run out by ``now_ms``."""
        for token_id in [t for t, (until, _) in self.entries.items() if until <= now_ms]:
            del self.entries[token_id]
