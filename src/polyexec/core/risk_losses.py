"""Realised-loss accounting for the risk manager: rolling windows, the UTC day, the losing streak.

:class:`LossTracker` remembers realised PnL events and closed-trade results and answers the
questions the loss limits and the loss-window breaker ask (see
:class:`~polyexec.core.risk.RiskManager`):

* :meth:`LossTracker.hour_loss`: net loss over the rolling hour before ``now_ms``;
* :meth:`LossTracker.day_loss`: net loss of the UTC day of ``now_ms``;
* :meth:`LossTracker.loss_streak`: losing trades in a row on that day;
* :meth:`LossTracker.window_loss`: net loss over any window up to the retention (the
  loss-window breaker's).

Losses are *net*: ``loss = max(0, −Σ pnl)`` over the period, so a win inside the period offsets
an earlier loss. The day is the UTC day of ``now_ms``; the daily loss and the streak restart
at UTC midnight and on :meth:`LossTracker.reset_daily`.

:func:`limit_reached` is the one rule every loss, streak and breaker limit uses: reached by a
positive value at or above the limit, so a limit of 0 tolerates no loss at all rather than
blocking before the first trade.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from polyexec.core.models import ZERO, TimestampMs

__all__ = ["LossTracker", "limit_reached", "require_finite"]

_HOUR_MS: Final = 3_600_000
_DAY_MS: Final = 86_400_000


def limit_reached(value: Decimal | int, limit: Decimal | int) -> bool:
    """A loss/streak limit is reached by a positive value at or above it (0 = no tolerance)."""
    return value > 0 and value >= limit


def require_finite(name: str, value: Decimal) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite ``Decimal``."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{name} must be a finite Decimal (got {value!r})")


def _loss_of(pnl: Decimal) -> Decimal:
    return -pnl if pnl < 0 else ZERO


@dataclass(slots=True)
class LossTracker:
    """Realised PnL events, the current UTC day's PnL and the losing streak.

    The fields are the state that survives a restart (:mod:`polyexec.core.risk_codec` writes
    and reads them); use the methods to change them.
    """

    events: deque[tuple[int, Decimal]] = field(default_factory=deque)
    """``(timestamp ms, realised pnl)`` in arrival order, kept for the retention period."""
    day: int | None = None
    """The UTC day (``now_ms // 86_400_000``) that ``day_pnl`` and ``streak`` belong to."""
    day_pnl: Decimal = ZERO
    streak: int = 0
    """Losing trades in a row on ``day``."""

    def record_pnl(self, amount: Decimal, now_ms: TimestampMs, window_ms: int) -> None:
        """Add realised PnL (negative = loss) at ``now_ms``. Events are kept for the rolling
        hour or ``window_ms`` (the loss-breaker window), whichever is longer. Raises
        ``ValueError`` for a non-finite amount."""
        require_finite("realised pnl", amount)
        self._roll_day(now_ms)
        self.day_pnl += amount
        self.events.append((now_ms, amount))
        retention = max(_HOUR_MS, window_ms)
        while self.events and self.events[0][0] <= now_ms - retention:
            self.events.popleft()

    def record_trade_result(self, pnl: Decimal, now_ms: TimestampMs) -> None:
        """Count one closed trade: a loss extends the streak, anything else ends it. Raises
        ``ValueError`` for a non-finite pnl."""
        require_finite("trade pnl", pnl)
        self._roll_day(now_ms)
        self.streak = self.streak + 1 if pnl < 0 else 0

    def reset_daily(self, now_ms: TimestampMs) -> None:
        """Start a new loss day at ``now_ms``: daily PnL and losing streak back to zero."""
        self.day = now_ms // _DAY_MS
        self.day_pnl = ZERO
        self.streak = 0

    def day_loss(self, now_ms: TimestampMs) -> Decimal:
        """Net realised loss of the UTC day of ``now_ms`` (0 once the day has rolled)."""
        return _loss_of(self.day_pnl) if self.day == now_ms // _DAY_MS else ZERO

    def hour_loss(self, now_ms: TimestampMs) -> Decimal:
        """Net realised loss over the rolling hour before ``now_ms``."""
        return self.window_loss(now_ms, _HOUR_MS)

    def loss_streak(self, now_ms: TimestampMs) -> int:
        """Losing trades in a row on the UTC day of ``now_ms``."""
        return self.streak if self.day == now_ms // _DAY_MS else 0

    def window_loss(self, now_ms: TimestampMs, window_ms: int, after_ms: int | None = None) -> Decimal:
        """Net realised loss of the events in the ``window_ms`` before ``now_ms`` and, when
        ``after_ms`` is given, after it as well (events at exactly the floor are out)."""
        floor = now_ms - window_ms if after_ms is None else max(now_ms - window_ms, after_ms)
        return _loss_of(sum((amount for ts, amount in self.events if ts > floor), ZERO))

    def _roll_day(self, now_ms: int) -> None:
        if self.day != now_ms // _DAY_MS:
            self.reset_daily(now_ms)
