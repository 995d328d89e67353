"""Which strategies the engine runs, built from the settings, and the parameters they share.

:func:`build_strategies` returns the enabled strategies in the engine's priority order
(:data:`~polyexec.strategies.context.PRIORITY`: inventory & correlation control, exits, fair
value, market making, flow following). Each is switched on by the preset's
:class:`~polyexec.config.StrategyFlags` (``ENABLE_*`` overrides win), except the exits
(``EXIT``: stop-loss and end-game hedging of what we hold), which always run: a position must
always be protectable, whatever strategy opened it.

Market making quotes around a fair value. When the fair-value strategy is enabled, that is the
fair-value model's probability that the window ends Up
(:func:`~polyexec.strategies.fair_value.window_probability_up`, with the same price-age limit
as the strategy), so both strategies agree on what a share is worth; MM then quotes nothing
where the model has no answer (no strike yet, no basis, stale Binance price). With fair value
disabled, MM centres on the Up book's microprice.

:func:`strategy_params` turns the settings into the
:class:`~polyexec.strategies.context.StrategyParams` every decision pass carries.
"""

from __future__ import annotations

from polyexec.config import Settings
from polyexec.logging_setup import get_logger
from polyexec.strategies.context import PRIORITY, Strategy, StrategyContext, StrategyParams, WindowView
from polyexec.strategies.exits import ExitStrategy
from polyexec.strategies.fair_value import FairValueConfig, FairValueStrategy, window_probability_up
from polyexec.strategies.flow_following import FlowFollowingStrategy
from polyexec.strategies.inventory_control import InventoryControlStrategy
from polyexec.strategies.market_making import FairValue, MarketMakingStrategy, microprice_fair_value

__all__ = ["build_strategies", "model_fair_value", "strategy_params"]

_log = get_logger(module=__name__)

_MM_CANCEL_BEFORE_END_S = 30
"""MM's own quote cut-off before a 15-minute window ends (its default)."""


def strategy_params(settings: Settings) -> StrategyParams:
    """``MIN_EDGE_CENTS``, ``MIN_MOVE_CENTS`` and ``TARGET_ADDRESSES`` as strategy parameters."""
    return StrategyParams(
        min_edge_cents=settings.min_edge_cents,
        min_move_cents=settings.min_move_cents,
        target_addresses=tuple(settings.target_addresses),
    )


def model_fair_value(config: FairValueConfig) -> FairValue:
    """A market-making fair value backed by the fair-value model: ``p_up`` of the window from
    its strike, the Binance price and basis, the volatility and the time left (``None`` when an
    input is missing: MM then cancels its quotes there instead of guessing)."""
    max_age = config.max_price_age_ms

    def fair_value(context: StrategyContext, view: WindowView) -> float | None:
        underlying = context.underlyings.get(view.market.asset)
        return window_probability_up(view, underlying, context.now_ms, max_price_age_ms=max_age)

    return fair_value


def build_strategies(
    settings: Settings,
    *,
    fair_value_config: FairValueConfig | None = None,
    window_seconds: int = 900,
) -> list[Strategy]:
    """The enabled strategies, in :data:`PRIORITY` order (``EXIT`` always among them).

    ``fair_value_config`` tunes the fair-value strategy and the model MM uses (defaults:
    :class:`FairValueConfig`). ``window_seconds`` is the markets' window length: MM cancels its
    quotes 30 s before a 15-minute window ends, and a tenth of the window before a shorter one
    (the simulator's one-minute windows would otherwise never be quoted). Logs once when
    ``TARGET_ADDRESSES`` is set but flow following cannot honour it (see
    :meth:`FlowFollowingStrategy.address_following_note`).
    """
    if window_seconds < 1:
        raise ValueError(f"window_seconds must be positive (got {window_seconds})")
    flags = settings.strategy_flags()
    config = fair_value_config if fair_value_config is not None else FairValueConfig()
    built: dict[str, Strategy] = {"EXIT": ExitStrategy()}
    if flags.inventory_control:
        built["ICC"] = InventoryControlStrategy()
    if flags.fair_value:
        built["FV"] = FairValueStrategy(config)
    if flags.market_making:
        fair: FairValue = model_fair_value(config) if flags.fair_value else microprice_fair_value
        cancel_before_end_s = max(1, min(_MM_CANCEL_BEFORE_END_S, window_seconds // 10))
        built["MM"] = MarketMakingStrategy(fair, cancel_before_end_s=cancel_before_end_s)
    if flags.flow_following:
        built["FF"] = FlowFollowingStrategy()
        note = FlowFollowingStrategy.address_following_note(strategy_params(settings))
        if note is not None:
            _log.warning("flow_following_target_addresses", note=note)
    strategies = [built[name] for name in PRIORITY if name in built]
    _log.info("strategies_enabled", strategies=[strategy.name for strategy in strategies])
    return strategies
