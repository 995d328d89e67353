"""strategy_setup: which strategies run, in what order, with which parameters and fair value."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyexec.config import Settings, load_settings
from polyexec.core.events import BookSnapshot
from polyexec.core.models import BookLevel, Market, OrderIntent
from polyexec.core.order_book import OrderBook
from polyexec.core.risk_limits import RiskLimits
from polyexec.engine.strategy_setup import build_strategies, model_fair_value, strategy_params
from polyexec.strategies.context import PRIORITY, StrategyContext, StrategyParams, UnderlyingView, WindowView
from polyexec.strategies.fair_value import FairValueConfig, window_probability_up
from polyexec.strategies.market_making import MarketMakingStrategy

D = Decimal
ADDRESS = "0x" + "12" * 20


def names(settings: Settings) -> list[str]:
    return [strategy.name for strategy in build_strategies(settings)]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (Settings(), ["ICC", "EXIT", "FV", "MM"]),  # default preset: flow following off
        (Settings(strategy_preset="balanced"), list(PRIORITY)),
        (Settings(enable_inventory_control=False, enable_market_making=False), ["EXIT", "FV"]),
        (
            Settings(
                enable_inventory_control=False,
                enable_fair_value=False,
                enable_market_making=False,
                enable_flow_following=False,
            ),
            ["EXIT"],  # exits always run
        ),
        (Settings(enable_fair_value=False, enable_flow_following=True), ["ICC", "EXIT", "MM", "FF"]),
    ],
)
def test_enabled_strategies_in_priority_order(settings: Settings, expected: list[str]) -> None:
    assert names(settings) == expected


def test_strategy_params_come_from_the_settings() -> None:
    settings = Settings(min_edge_cents=D(7), min_move_cents=D(4), target_addresses=(ADDRESS,))
    assert strategy_params(settings) == StrategyParams(D(7), D(4), (ADDRESS,))
    assert strategy_params(Settings()) == StrategyParams(D(5), D(3), ())


# --- market making's fair value ---------------------------------------------------------------

CID = "0x" + "ab" * 32
MARKET = Market("btc", "btc-updown-15m-1800000000", CID, "1", "2", 1_800_000_000, 1_800_000_900)
NOW = 1_800_000_600_000
LIMITS = RiskLimits(
    max_trade_usd=D(10), max_loss_per_trade_usd=D(10), max_exposure_per_market_usd=D(50),
    max_exposure_per_category_usd=D(100), max_exposure_usd=D(200), max_open_orders=10,
)  # fmt: skip


def book(token: str, bid: str, ask: str) -> OrderBook:
    result = OrderBook(token, D("0.01"))
    result.apply_snapshot(
        BookSnapshot(token, CID, NOW - 1_000, (BookLevel(D(bid), D(100)),), (BookLevel(D(ask), D(100)),))
    )
    return result


def context(strike: Decimal | None) -> StrategyContext:
    view = WindowView(MARKET, book("1", "0.45", "0.55"), book("2", "0.45", "0.55"), strike=strike)
    spot = UnderlyingView("btc", D(100_000), NOW - 100, None, None, basis=D(0), volatility=1e-4)
    return StrategyContext(NOW, (view,), {"btc": spot}, {}, (), LIMITS)


def mm_orders(settings: Settings, ctx: StrategyContext) -> list[OrderIntent]:
    (mm,) = [strategy for strategy in build_strategies(settings) if strategy.name == "MM"]
    return [p for p in mm.decide(ctx) if isinstance(p, OrderIntent)]


def test_market_making_uses_the_fair_value_model_when_fair_value_is_on() -> None:
    no_strike = context(None)
    # The model has no answer without a strike: MM quotes nothing rather than guess...
    assert mm_orders(Settings(), no_strike) == []
    # ...while the microprice (fair value disabled) quotes the same book.
    assert mm_orders(Settings(enable_fair_value=False), no_strike) != []
    # With a strike at the price, p_up is 1/2: quotes on both sides, around 0.50.
    quotes = mm_orders(Settings(), context(D(100_000)))
    assert quotes
    assert all(D("0.40") <= q.price < D("0.55") for q in quotes)


def test_model_fair_value_is_the_fair_value_models_probability() -> None:
    ctx = context(D(99_900))
    view = ctx.windows[0]
    expected = window_probability_up(view, ctx.underlyings["btc"], NOW)
    assert expected is not None
    assert 0.5 < expected < 1
    assert model_fair_value(FairValueConfig())(ctx, view) == expected
    stale = FairValueConfig(max_price_age_ms=50)  # the Binance price is 100 ms old
    assert model_fair_value(stale)(ctx, view) is None


@pytest.mark.parametrize(("window_seconds", "cut_off"), [(900, 30), (60, 6), (20, 2), (5, 1)])
def test_market_making_stops_quoting_a_tenth_of_a_short_window_before_its_end(
    window_seconds: int, cut_off: int
) -> None:
    strategies = build_strategies(load_settings(env={}, env_file=None), window_seconds=window_seconds)
    (making,) = [s for s in strategies if isinstance(s, MarketMakingStrategy)]
    assert making.cancel_before_end_s == cut_off


def test_a_window_length_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        build_strategies(load_settings(env={}, env_file=None), window_seconds=0)
