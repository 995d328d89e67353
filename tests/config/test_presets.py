"""Strategy presets: the issue's table, coherence, and overrides on top of a preset."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

import pytest

from polyexec.config import DEFAULT_STRATEGY_FLAGS, PRESETS
from polyexec.core.risk_limits import RiskLimits
from tests.config.support import load

# ---------------------------------------------------------------------------- the preset table


PresetRow = tuple[str, str, str, str, bool, bool, bool]


PRESET_TABLE: dict[str, PresetRow] = {
    # name: (max exposure, per market, per category, drawdown %, MM, FF, ICC)
    "conservative": ("200", "50", "100", "10", True, False, True),
    "balanced": ("500", "100", "250", "15", True, True, True),
    "aggressive": ("2000", "200", "500", "25", True, True, True),
    "aggressive_enterprise": ("2000", "200", "500", "25", True, True, True),
}


@pytest.mark.parametrize(("name", "row"), PRESET_TABLE.items())
def test_each_preset_has_the_issue_table_values(
    name: str, row: tuple[str, str, str, str, bool, bool, bool]
) -> None:
    settings = load({"STRATEGY_PRESET": name})
    limits, flags = settings.risk_limits(), settings.strategy_flags()
    exposure, per_market, per_category, drawdown, mm, ff, icc = row
    assert limits.max_exposure_usd == Decimal(exposure)
    assert limits.max_exposure_per_market_usd == Decimal(per_market)
    assert limits.max_exposure_per_category_usd == Decimal(per_category)
    assert limits.max_drawdown_pct == Decimal(drawdown)
    assert (flags.market_making, flags.flow_following, flags.inventory_control) == (mm, ff, icc)
    assert flags.fair_value


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_coherent_and_can_trade_at_every_price(name: str) -> None:
    limits = load({"STRATEGY_PRESET": name}).risk_limits()
    assert limits.max_trade_usd <= limits.max_window_usd <= limits.max_exposure_per_market_usd
    assert (
        limits.max_exposure_per_market_usd <= limits.max_exposure_per_category_usd <= limits.max_exposure_usd
    )
    assert limits.max_loss_per_trade_usd <= limits.max_loss_per_day_usd
    if name != "default":  # default's $1 trades are deliberately below 5 shares x $0.99
        assert load({"STRATEGY_PRESET": name}).config_warnings() == ()


def test_default_preset_is_exactly_the_risk_limits_defaults() -> None:
    settings = load({"STRATEGY_PRESET": "default"})
    assert settings.risk_limits() == RiskLimits()
    assert settings.strategy_flags() == DEFAULT_STRATEGY_FLAGS


# ---------------------------------------------------------------------------- overrides on top of a preset


def test_a_single_override_applies_on_top_of_a_preset() -> None:
    plain = load({"STRATEGY_PRESET": "aggressive"}).risk_limits()
    settings = load(
        {"STRATEGY_PRESET": "aggressive", "MAX_OPEN_ORDERS": "7", "ENABLE_FLOW_FOLLOWING": "false"}
    )
    changed = settings.risk_limits()
    assert changed.max_open_orders == 7
    assert changed == RiskLimits(
        **{**{f.name: getattr(plain, f.name) for f in fields(plain)}, "max_open_orders": 7}
    )
    assert settings.strategy_flags().flow_following is False
    assert settings.strategy_flags().market_making is True
