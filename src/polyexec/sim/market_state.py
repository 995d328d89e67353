"""One market's live state inside the exchange: its two books, tick size, last trades, resolution.

The tick size is dynamic, as on the venue's crypto markets: it switches from the market's
base tick (0.01) to 0.001 once the displayed price of either token goes above 0.96 or below
0.04, and back once both are within [0.05, 0.95] again (the small gap stops the tick from
flapping on every quote). The displayed price is the midpoint when the spread is at most
0.10, otherwise the last trade price; a market that shows no price at all keeps its tick.
"""

from __future__ import annotations

from decimal import Decimal

from polyexec.sim.book import OrderBook
from polyexec.sim.contracts import SimMarket

__all__ = ["FINE_TICK", "MarketState", "market_outcome"]

FINE_TICK = Decimal("0.001")
_FINE_ABOVE = Decimal("0.96")
_FINE_BELOW = Decimal("0.04")
_COARSE_WITHIN = (Decimal("0.05"), Decimal("0.95"))
_MAX_MID_SPREAD = Decimal("0.10")


class MarketState:
    """Books and status of one :class:`~polyexec.sim.contracts.SimMarket`."""

    def __init__(self, market: SimMarket) -> None:
        self.market = market
        self.base_tick = market.tick_size
        self.tick = market.tick_size
        self.books = {
            market.up_token_id: OrderBook(market.up_token_id),
            market.down_token_id: OrderBook(market.down_token_id),
        }
        self.last_trade: dict[str, tuple[Decimal, str]] = {}
        self.resolved = False
        self.winner: str | None = None
        self.final_price: Decimal | None = None

    def displayed_price(self, asset_id: str) -> Decimal | None:
        book = self.books[asset_id]
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and ask is not None and ask - bid <= _MAX_MID_SPREAD:
            return (bid + ask) / 2
        last = self.last_trade.get(asset_id)
        return last[0] if last is not None else None

    def retick(self) -> tuple[Decimal, Decimal] | None:
        """Switch the tick if the prices call for it; returns ``(old, new)`` on a change."""
        fine = min(self.base_tick, FINE_TICK)
        if fine == self.base_tick:
            return None
        prices = [p for p in (self.displayed_price(a) for a in self.books) if p is not None]
        if not prices:
            # An empty book shows no price: keep the tick, or a maker's cancel-and-requote
            # would flip it back and forth with a tick_size_change each time.
            return None
        old = self.tick
        if self.tick == self.base_tick and any(p > _FINE_ABOVE or p < _FINE_BELOW for p in prices):
            self.tick = fine
        elif self.tick == fine and all(_COARSE_WITHIN[0] <= p <= _COARSE_WITHIN[1] for p in prices):
            self.tick = self.base_tick
        return (old, self.tick) if self.tick != old else None

    def resolve(self, winner: str, final_price: Decimal) -> None:
        self.resolved = True
        self.winner = winner
        self.final_price = final_price


def market_outcome(market: SimMarket, asset_id: str) -> str:
    """ "Up" or "Down" for one of the market's two tokens."""
    return "Up" if asset_id == market.up_token_id else "Down"
