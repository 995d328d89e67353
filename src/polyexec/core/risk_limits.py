"""Risk parameters: every number the risk manager enforces, with the ``default`` preset's values.

``polyexec.config`` builds one of these from the chosen preset plus environment overrides; the risk
manager only reads it. Dollar amounts are ``Decimal`` dollars; durations are seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal

__all__ = ["RiskLimits"]


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits enforced on every order. Defaults are the conservative ``default`` preset
    ($1 trades, $20 total exposure)."""

    # --- position limits
    max_trade_usd: Decimal = Decimal("1")
    """Largest notional (price × size) of one order."""
    max_window_usd: Decimal = Decimal("5")
    """Largest notional bought within one 15-minute window (one market), summed over the window."""
    max_exposure_usd: Decimal = Decimal("20")
    """Total exposure: cost of open positions (matched, confirmed or not) plus open buy orders."""
    max_exposure_per_market_usd: Decimal = Decimal("5")
    max_exposure_per_category_usd: Decimal = Decimal("10")
    """One category = every window of one asset (all BTC windows are one correlated bet)."""
    max_open_orders: int = 5

    # --- loss limits
    max_loss_per_trade_usd: Decimal = Decimal("1")
    max_loss_per_hour_usd: Decimal = Decimal("5")
    max_loss_per_day_usd: Decimal = Decimal("20")
    """Reset at UTC midnight and by an explicit reset call."""
    max_consecutive_losses: int = 50

    # --- circuit breakers
    loss_breaker_usd: Decimal = Decimal("10")
    """Trip when realised losses within ``loss_breaker_window_s`` reach this amount."""
    loss_breaker_window_s: int = 300
    loss_breaker_cooldown_s: int = 900
    max_consecutive_rejects: int = 10
    reject_breaker_cooldown_s: int = 300
    api_unhealthy_max_s: int = 60
    """Trip when the venue API has been unhealthy for longer than this."""
    api_breaker_cooldown_s: int = 300
    max_drawdown_pct: Decimal = Decimal("10")
    """Session drawdown from peak equity, in percent, that trips the drawdown breaker."""
    drawdown_breaker_cooldown_s: int = 300

    # --- market quality
    min_depth_usd: Decimal = Decimal("10")
    """Minimum dollars resting on each side of the book."""
    max_spread_pct: Decimal = Decimal("10")
    """Max (ask − bid) / mid, in percent."""
    max_slippage_pct: Decimal = Decimal("5")
    """Max estimated slippage of the order against the book, in percent of the touch price."""
    max_slippage_cents: Decimal = Decimal("2")
    """Max distance a taker order's limit may be from the touch, in cents."""
    min_seconds_to_end: int = 30
    """No new orders in the last N seconds of a window."""
    max_seconds_to_end: int = 870
    """No new orders earlier than this many seconds before the window ends."""

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, int | Decimal) and value < 0:
                raise ValueError(f"{spec.name} must not be negative (got {value})")
        if self.min_seconds_to_end > self.max_seconds_to_end:
            raise ValueError(
                f"min_seconds_to_end ({self.min_seconds_to_end}) is above "
                f"max_seconds_to_end ({self.max_seconds_to_end})"
            )
