"""Fixtures for the venue adapters: a real simulator on a free 127.0.0.1 port, real sockets.

- ``sim``: the full simulator (exchange, market driver with the current and next 15-minute
  windows of btc and eth, background makers and takers, Binance, RTDS, Gamma) with fast trade
  settlement (MATCHED → MINED → CONFIRMED in about 0.1 s);
- ``exchange_sim``: the exchange alone (CLOB REST, CLOB websockets, ``/sim``); add markets with
  :func:`add_market`;
- ``trader_key``: a throwaway private key (the simulator funds every new account with $1000);
- :func:`eventually`: poll a condition with a deadline instead of sleeping;
- :func:`sim_admin`: call the simulator's ``/sim/...`` admin routes (faults, clock, accounts);
- :func:`current_market`: the market of ``asset`` whose window contains the simulator's now.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from polyexec.sim.app import RunningSimulator, SimConfig, start_simulator
from polyexec.sim.contracts import SimMarket
from tests.sim.conftest import FAST_EXCHANGE, eventually, throwaway_key

__all__ = ["add_market", "current_market", "eventually", "sim_admin", "throwaway_key"]

FULL_CONFIG = SimConfig(port=0, exchange=FAST_EXCHANGE, process_interval_s=0.01)
EXCHANGE_ONLY_CONFIG = SimConfig(port=0, driver=False, exchange=FAST_EXCHANGE, process_interval_s=0.01)


async def sim_admin(running: RunningSimulator, method: str, path: str, body: Any = None) -> Any:
    """Call ``/sim{path}`` on ``running`` and return the decoded JSON (asserts a 200)."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{running.admin_url}{path}", json=body) as response,
    ):
        payload = await response.json(content_type=None)
        assert response.status == 200, payload
        return payload


def current_market(running: RunningSimulator, asset: str = "btc") -> SimMarket:
    """The market of ``asset`` whose window contains the simulator's clock."""
    now = running.simulator.clock.now()
    for market in running.simulator.exchange.markets():
        if market.asset == asset and market.window_start <= now < market.window_end:
            return market
    raise AssertionError(f"no current {asset} market on the simulator")


def add_market(running: RunningSimulator, asset: str = "btc", **overrides: Any) -> SimMarket:
    """Open a market for the current window on an exchange-only simulator."""
    window_start = int(running.simulator.clock.now()) // 900 * 900
    slug = f"{asset}-updown-15m-{window_start}"
    fields: dict[str, Any] = {
        "asset": asset,
        "slug": slug,
        "condition_id": "0x" + hashlib.sha256(slug.encode()).hexdigest(),
        "up_token_id": str(int(hashlib.sha256(f"{slug}:up".encode()).hexdigest(), 16)),
        "down_token_id": str(int(hashlib.sha256(f"{slug}:down".encode()).hexdigest(), 16)),
        "window_start": window_start,
        "window_end": window_start + 900,
    }
    fields.update(overrides)
    market = SimMarket(**fields)
    running.simulator.exchange.add_market(market)
    return market


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(FULL_CONFIG)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def exchange_sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(EXCHANGE_ONLY_CONFIG)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def trader_key(request: pytest.FixtureRequest) -> str:
    """A throwaway key unique to the test."""
    return throwaway_key(request.node.nodeid)
