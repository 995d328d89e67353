"""The synthetic underlying: determinism, volatility, tick shape, Chainlink basis and TWAP."""

from __future__ import annotations

import itertools
import math
import statistics
from decimal import Decimal

import pytest

from polyexec.sim.underlying import (
    ASSET_PROFILES,
    E18,
    STEP_MS,
    TWAP_WINDOW_SECONDS,
    UnderlyingPrice,
    profile_for,
)

START_MS = 1_790_000_000_000


def _walk(asset: str = "btc", seed: int = 7, start_ms: int = START_MS) -> UnderlyingPrice:
    return UnderlyingPrice(profile_for(asset), seed, start_ms)


def test_same_seed_and_start_give_identical_prices_ids_and_twaps() -> None:
    first, second = _walk(), _walk()
    ticks_a, obs_a = first.advance_to(START_MS + 120_000)
    ticks_b, obs_b = second.advance_to(START_MS + 120_000)
    assert ticks_a == ticks_b
    assert obs_a == obs_b


def test_another_seed_gives_another_path() -> None:
    ticks_a, _ = _walk(seed=1).advance_to(START_MS + 10_000)
    ticks_b, _ = _walk(seed=2).advance_to(START_MS + 10_000)
    assert [t.price for t in ticks_a] != [t.price for t in ticks_b]


def test_the_path_does_not_depend_on_how_often_it_is_advanced() -> None:
    in_one_go = _walk()
    all_at_once, _ = in_one_go.advance_to(START_MS + 30_000)
    in_steps = _walk()
    piecewise = []
    for now in range(START_MS + 137, START_MS + 30_001, 1_371):
        piecewise.extend(in_steps.advance_to(now)[0])
    piecewise.extend(in_steps.advance_to(START_MS + 30_000)[0])
    assert piecewise == all_at_once


def test_ticks_come_every_step_with_one_tick_spread_and_trade_at_the_touch() -> None:
    walk = _walk()
    ticks, _ = walk.advance_to(START_MS + 10_000)
    assert len(ticks) == 10_000 // STEP_MS  # five a second
    assert [t.time_ms for t in ticks] == list(range(START_MS + STEP_MS, START_MS + 10_001, STEP_MS))
    assert [t.trade_id for t in ticks] == list(range(ticks[0].trade_id, ticks[0].trade_id + len(ticks)))
    assert all(b.update_id > a.update_id for a, b in itertools.pairwise(ticks))
    tick_size = walk.profile.price_tick
    for tick in ticks:
        assert tick.ask - tick.bid == tick_size
        assert tick.price == (tick.bid if tick.buyer_is_maker else tick.ask)
        assert tick.bid % tick_size == 0
        for quantity in (tick.quantity, tick.bid_quantity, tick.ask_quantity):
            assert quantity >= walk.profile.quantity_step
            assert quantity % walk.profile.quantity_step == 0
    assert {t.buyer_is_maker for t in ticks} == {True, False}


def test_btc_volatility_is_about_fifty_percent_a_year() -> None:
    profile = profile_for("btc")
    assert profile.sigma_per_sqrt_second == pytest.approx(8.9e-5, rel=0.01)
    walk = UnderlyingPrice(profile, 3, START_MS)
    ticks, _ = walk.advance_to(START_MS + 3_600_000)
    per_second = [t.mid for t in ticks if t.time_ms % 1000 == 0]
    returns = [math.log(b / a) for a, b in itertools.pairwise(per_second)]
    assert statistics.pstdev(returns) == pytest.approx(profile.sigma_per_sqrt_second, rel=0.1)


@pytest.mark.parametrize("asset", sorted(ASSET_PROFILES))
def test_every_asset_starts_at_a_plausible_price(asset: str) -> None:
    profile = profile_for(asset)
    walk = UnderlyingPrice(profile, 11, START_MS)
    assert abs(walk.last_tick.price / profile.start_price - 1) < Decimal("0.15")
    assert walk.last_tick.symbol == f"{asset}usdt"


def test_one_chainlink_observation_per_second_close_to_binance() -> None:
    walk = _walk()
    ticks, observations = walk.advance_to(START_MS + 20_000)
    assert [o.timestamp_ms for o in observations] == list(range(START_MS + 1000, START_MS + 20_001, 1000))
    by_time = {t.time_ms: t for t in ticks}
    for observation in observations:
        assert observation.chainlink == observation.chainlink.quantize(E18)
        assert observation.binance == by_time[observation.timestamp_ms].price
        basis_bps = math.log(float(observation.chainlink) / by_time[observation.timestamp_ms].mid) * 1e4
        assert -5 < basis_bps < 20  # a few basis points of USDT/USD basis


def test_twap_is_the_mean_of_the_last_sixty_chainlink_observations() -> None:
    walk = _walk()
    _, observations = walk.advance_to(START_MS + 200_000)
    latest = observations[-1]
    window = observations[-TWAP_WINDOW_SECONDS:]
    expected = (sum((o.chainlink for o in window), Decimal(0)) / TWAP_WINDOW_SECONDS).quantize(E18)
    assert latest.twap == expected
    second = latest.timestamp_ms // 1000
    assert walk.twap_at(second) == latest.twap
    assert walk.twap_at(second - 10) == observations[-11].twap


def test_history_lookups_answer_none_outside_what_is_kept() -> None:
    walk = _walk()
    walk.advance_to(START_MS + 5_000)
    first_second = START_MS // 1000
    assert walk.observation_at(first_second - 1) is None
    assert walk.observation_at(first_second + 6) is None
    assert walk.twap_at(first_second + 5) == walk.last_observation.twap
    assert walk.tick_at(START_MS - 1) is None
    assert walk.tick_at(START_MS + 1_999) == walk.tick_at(START_MS + 1_800)
    assert len(walk.recent_observations(3)) == 3
    assert walk.recent_observations(0) == []


def test_bad_construction_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="whole second"):
        UnderlyingPrice(profile_for("btc"), 0, START_MS + 1)
    with pytest.raises(ValueError, match="unknown simulated asset 'abc'"):
        profile_for("abc")
    assert profile_for("BTC").asset == "btc"
