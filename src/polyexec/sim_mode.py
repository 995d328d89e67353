"""``--sim``: run a command against the built-in simulator, started in this process.

:func:`simulated_venue` starts the simulator (:mod:`polyexec.sim`) on a free 127.0.0.1 port in
the running event loop, and yields settings whose every venue URL points at it
(:meth:`~polyexec.config.Settings.with_simulator_urls`). Nothing leaves the machine.

What changes in the settings, and why:

* **The wallet.** When no ``POLYMARKET_PRIVATE_KEY`` is configured, a throwaway key is generated
  for the run (the simulator funds every new account). A configured key is kept: it only signs,
  and signatures go to the loopback simulator.
* **API credentials are dropped.** ``POLYMARKET_API_KEY``/``SECRET``/``PASSPHRASE`` belong to
  the real venue: the simulator would not know them, and the user-channel subscription carries
  the secret in clear. Credentials are derived from the key by L1 auth against the simulator.
* **The funder and wallet type are kept**: the simulator binds a proxy, Safe or deposit wallet
  to the first key that trades for it.
* **The preset, when none was chosen.** ``default`` caps every order at $1, and the venue's
  minimum order is 5 shares, so $1 buys the minimum only at prices of 0.20 or less: a demo on
  the simulator would hardly ever trade. Without an explicit ``STRATEGY_PRESET``, ``--sim`` runs
  :data:`SIM_PRESET` (``conservative``: $10 trades, $200 exposure; play money on loopback). An
  explicit choice, even ``default``, is kept; risk limits set one by one still win.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import SecretStr

from polyexec.config import Settings

if TYPE_CHECKING:
    from polyexec.sim.app import RunningSimulator

__all__ = ["SIM_PRESET", "SimulatedVenue", "settings_for_simulator", "simulated_venue"]

SIM_PRESET = "conservative"
"""The preset ``--sim`` runs when ``STRATEGY_PRESET`` is not set (see the module documentation)."""


@dataclass(frozen=True, slots=True)
class SimulatedVenue:
    """A running in-process simulator and the settings that point at it."""

    settings: Settings
    simulator: RunningSimulator
    generated_key: bool
    """True when the wallet is a throwaway key made for this run."""


def settings_for_simulator(settings: Settings, base_url: str) -> tuple[Settings, bool]:
    """``settings`` pointed at the simulator at ``base_url``; True if a key was generated."""
    pointed = settings.with_simulator_urls(base_url)
    update: dict[str, object] = {
        "polymarket_api_key": None,
        "polymarket_secret": None,
        "polymarket_passphrase": None,
    }
    if pointed.source_of("STRATEGY_PRESET") == "default":
        update["strategy_preset"] = SIM_PRESET
    generated = pointed.polymarket_private_key is None
    if generated:
        update["polymarket_private_key"] = SecretStr("0x" + secrets.token_hex(32))
    copy = pointed.model_copy(update=update)
    copy._sources = dict(pointed._sources)
    copy._load_warnings = pointed._load_warnings
    for name in update:
        copy._sources[name.upper()] = "--sim"
    return copy, generated


@asynccontextmanager
async def simulated_venue(
    settings: Settings, *, seed: int = 0, window_seconds: int = 900
) -> AsyncIterator[SimulatedVenue]:
    """Start the simulator for ``settings.market_assets``; stop it when the block ends."""
    # Imported here: the simulator is only needed with --sim.
    from polyexec.sim.app import SimConfig, start_simulator

    running = await start_simulator(
        SimConfig(port=0, seed=seed, window_seconds=window_seconds, assets=settings.market_assets)
    )
    try:
        pointed, generated = settings_for_simulator(settings, running.base_url)
        yield SimulatedVenue(pointed, running, generated)
    finally:
        await running.stop()
