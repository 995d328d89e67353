"""Strategy presets: named bundles of risk limits and strategy flags, chosen by ``STRATEGY_PRESET``.

A preset lists only the values that differ from the defaults (:class:`RiskLimits` and
:data:`DEFAULT_STRATEGY_FLAGS`). Explicit settings win over the preset: ``MAX_TRADE_USD=3`` with
``STRATEGY_PRESET=balanced`` trades $3 and keeps balanced's other limits
(:meth:`polyexec.config.Settings.risk_limits`, :meth:`~polyexec.config.Settings.strategy_flags`).

======================  ============  ============  ==============  ==========  ==============
preset                  max exposure  per market    per category    drawdown    flow following
======================  ============  ============  ==============  ==========  ==============
default                 $20           $5            $10             10 %        off
conservative            $200          $50           $100            10 %        off
balanced                $500          $100          $250            15 %        on
aggressive              $2,000        $200          $500            25 %        on
aggressive_enterprise   $2,000        $200          $500            25 %        on
======================  ============  ============  ==============  ==========  ==============

Market making, inventory control and fair value are on in every preset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Final

from polyexec.core.risk_limits import RiskLimits

__all__ = [
    "DEFAULT_STRATEGY_FLAGS",
    "FLAG_FIELDS",
    "PRESETS",
    "RISK_FIELDS",
    "Preset",
    "StrategyFlags",
]


@dataclass(frozen=True, slots=True)
class StrategyFlags:
    """Which strategies run (env ``ENABLE_MARKET_MAKING``, ``ENABLE_FLOW_FOLLOWING``, ...)."""

    market_making: bool
    flow_following: bool
    inventory_control: bool
    fair_value: bool


DEFAULT_STRATEGY_FLAGS: Final = StrategyFlags(
    market_making=True, flow_following=False, inventory_control=True, fair_value=True
)

RISK_FIELDS: Final = tuple(spec.name for spec in fields(RiskLimits))
"""The names of the :class:`RiskLimits` fields: each is also a setting (``MAX_TRADE_USD``, ...)."""
FLAG_FIELDS: Final = tuple(spec.name for spec in fields(StrategyFlags))
"""The names of the :class:`StrategyFlags` fields: ``ENABLE_<NAME>`` overrides each."""


@dataclass(frozen=True, slots=True)
class Preset:
    """A named bundle of risk limits and strategy flags. Only the keys a preset lists differ
    from the defaults (:class:`RiskLimits` and :data:`DEFAULT_STRATEGY_FLAGS`)."""

    name: str
    summary: str
    risk: Mapping[str, Decimal | int]
    strategies: Mapping[str, bool]


# Preset values. The table fixes exposure, per-market, per-category and drawdown; the other
# rows scale with exposure so that each preset stays coherent: max trade = per-market / 5
# (aggressive_enterprise: / 2, for hosts running many markets), window budget = per-market,
# daily loss = 25 % of max exposure, hourly loss = about half of that, the 5-minute loss breaker =
# 40 % of it, loss per trade = max trade (a binary can lose its whole stake), and the book must
# hold at least 10 max-size trades (min depth). ``default`` is RiskLimits() unchanged.
_PRESET_NAMES: Final = ("conservative", "balanced", "aggressive", "aggressive_enterprise")
_PRESET_RISK: Final[Mapping[str, tuple[str, str, str, str]]] = {
    "max_trade_usd": ("10", "20", "40", "100"),
    "max_window_usd": ("50", "100", "200", "200"),
    "max_exposure_usd": ("200", "500", "2000", "2000"),
    "max_exposure_per_market_usd": ("50", "100", "200", "200"),
    "max_exposure_per_category_usd": ("100", "250", "500", "500"),
    "max_open_orders": ("10", "20", "40", "100"),
    "max_loss_per_trade_usd": ("10", "20", "40", "100"),
    "max_loss_per_hour_usd": ("25", "60", "250", "250"),
    "max_loss_per_day_usd": ("50", "125", "500", "500"),
    "loss_breaker_usd": ("20", "50", "200", "200"),
    "max_drawdown_pct": ("10", "15", "25", "25"),
    "min_depth_usd": ("100", "200", "400", "1000"),
}
_PRESET_FLOW_FOLLOWING: Final = (False, True, True, True)  # MM, ICC and FV are on in every preset
_PRESET_SUMMARIES: Final = (
    "$10 trades, $200 exposure, flow following off",
    "$20 trades, $500 exposure, every strategy on",
    "$40 trades, $2,000 exposure, every strategy on",
    "aggressive's exposure caps with $100 trades and 100 open orders",
)


def _preset(column: int) -> Preset:
    risk: dict[str, Decimal | int] = {}
    for name, row in _PRESET_RISK.items():
        risk[name] = int(row[column]) if name == "max_open_orders" else Decimal(row[column])
    strategies = {
        "market_making": True,
        "flow_following": _PRESET_FLOW_FOLLOWING[column],
        "inventory_control": True,
        "fair_value": True,
    }
    return Preset(_PRESET_NAMES[column], _PRESET_SUMMARIES[column], risk, strategies)


PRESETS: Final[Mapping[str, Preset]] = {
    "default": Preset("default", "$1 trades, $20 exposure: the first-run limits", {}, {}),
    **{name: _preset(column) for column, name in enumerate(_PRESET_NAMES)},
}
"""Every preset by name, ``default`` first (the order a bad ``STRATEGY_PRESET`` error lists them in)."""
