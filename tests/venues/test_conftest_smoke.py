"""The fixtures themselves: the full simulator lists a current market for each asset."""

from __future__ import annotations

from polyexec.sim.app import RunningSimulator
from tests.venues.conftest import add_market, current_market, sim_admin


async def test_full_simulator_has_current_markets(sim: RunningSimulator) -> None:
    for asset in ("btc", "eth"):
        market = current_market(sim, asset)
        assert market.window_start <= sim.simulator.clock.now() < market.window_end
    status = await sim_admin(sim, "GET", "/status")
    assert status


async def test_exchange_only_simulator_takes_added_markets(exchange_sim: RunningSimulator) -> None:
    market = add_market(exchange_sim, "eth")
    assert current_market(exchange_sim, "eth") == market
