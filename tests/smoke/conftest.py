"""The venue fixtures (a real simulator on 127.0.0.1) serve the smoke checks too."""

from tests.venues.conftest import exchange_sim, http, sim, trader_key

__all__ = ["exchange_sim", "http", "sim", "trader_key"]
