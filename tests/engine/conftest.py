"""Fixtures for the engine: the venue adapters' simulator fixtures, shared as they are.

``sim`` (the full simulator: markets, Binance, RTDS, Gamma, background flow), ``exchange_sim``
(the exchange alone), ``http`` and ``trader_key`` come from :mod:`tests.venues.conftest`; so do
the helpers :func:`eventually`, :func:`sim_admin`, :func:`current_market` and :func:`add_market`.
"""

from __future__ import annotations

from tests.venues.conftest import (
    add_market,
    current_market,
    eventually,
    exchange_sim,
    http,
    sim,
    sim_admin,
    throwaway_key,
    trader_key,
)

__all__ = [
    "add_market",
    "current_market",
    "eventually",
    "exchange_sim",
    "http",
    "sim",
    "sim_admin",
    "throwaway_key",
    "trader_key",
]
