"""What one exchange operation tells the websockets, collected and then sent as a batch.

An operation (placing an order, a cancel-all, a status change) records the levels it changed,
the trades it made and the user events it produced. :meth:`Outbox.flush` then builds the
market-channel messages the venue would send for it:

* one batched ``price_change`` per market for levels changed by placements and cancels
  (each entry carries the level's new total size and the token's best bid/ask);
* ``last_trade_price`` for each trade, then a full ``book`` for every token that traded;
* ``best_bid_ask`` for every token whose best prices moved;
* ``tick_size_change`` for both tokens when the market's tick switches.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Protocol

from polyexec.sim.book import OrderBook
from polyexec.sim.contracts import SimMarket
from polyexec.sim.records import Trade
from polyexec.sim.wire import (
    best_bid_ask_event,
    book_summary,
    last_trade_price_event,
    price_change_entry,
    tick_size_change_event,
)

__all__ = ["BookView", "ExchangeSink", "Outbox", "book_event"]


class ExchangeSink(Protocol):
    """Where the exchange's websocket messages go (the CLOB websocket hub)."""

    def publish_market(self, message: dict[str, Any]) -> None:
        """A market-channel message; route by ``asset_id`` / ``price_changes[].asset_id``."""

    def publish_user(self, owner: str, market: str, message: dict[str, Any]) -> None:
        """A user-channel message for API key ``owner`` about condition id ``market``."""


class BookView(Protocol):
    """The exchange state a flush reads."""

    def market_of(self, asset_id: str) -> SimMarket | None: ...

    def market(self, condition_id: str) -> SimMarket | None: ...

    def book(self, asset_id: str) -> OrderBook | None: ...

    def tick_size(self, asset_id: str) -> Decimal: ...

    def last_trade_price(self, asset_id: str) -> Decimal | None: ...

    def retick(self, condition_id: str) -> tuple[Decimal, Decimal] | None:
        """Re-evaluate the market's tick; ``(old, new)`` if it changed."""


def book_event(view: BookView, market: SimMarket, asset_id: str, now_ms: int) -> dict[str, Any]:
    """A market-channel ``book`` event (the REST summary plus ``event_type``)."""
    book = view.book(asset_id)
    bids = book.levels("BUY") if book is not None else []
    asks = book.levels("SELL") if book is not None else []
    summary = book_summary(
        market, asset_id, bids, asks, view.tick_size(asset_id), view.last_trade_price(asset_id), now_ms
    )
    return {"event_type": "book", **summary}


def _best(book: OrderBook | None) -> tuple[Decimal | None, Decimal | None]:
    if book is None:
        return None, None
    return book.best_bid(), book.best_ask()


class Outbox:
    """Collects one operation's effects (use a new one per operation); see the module docstring."""

    def __init__(self) -> None:
        self._levels: dict[tuple[str, str, Decimal], str] = {}
        self._trades: list[Trade] = []
        self._user: list[tuple[str, str, dict[str, Any]]] = []
        self._best_before: dict[str, tuple[Decimal | None, Decimal | None]] = {}
        self._markets: dict[str, None] = {}

    def touch(self, market: str, asset_id: str, book: OrderBook | None) -> None:
        """Call before changing a token's book, so best-price moves can be detected."""
        self._markets.setdefault(market, None)
        self._best_before.setdefault(asset_id, _best(book))

    def level(self, asset_id: str, side: str, price: Decimal, order_hash: str) -> None:
        self._levels.pop((asset_id, side, price), None)
        self._levels[(asset_id, side, price)] = order_hash

    def trade(self, trade: Trade) -> None:
        self._trades.append(trade)

    def user(self, owner: str, market: str, message: dict[str, Any]) -> None:
        self._user.append((owner, market, message))

    def flush(self, view: BookView, sinks: Iterable[ExchangeSink], now_ms: int) -> None:
        """Build the batch's messages and hand them to every sink (call once)."""
        messages = self._market_messages(view, now_ms)
        sink_list = list(sinks)
        for sink in sink_list:
            for message in messages:
                sink.publish_market(message)
            for owner, market, user_message in self._user:
                sink.publish_user(owner, market, user_message)

    def _market_messages(self, view: BookView, now_ms: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for condition_id in self._markets:
            traded = [t for t in self._trades if t.market == condition_id]
            traded_assets = list(dict.fromkeys(t.asset_id for t in traded))
            entries: list[dict[str, Any]] = []
            for (asset_id, side, price), order_hash in self._levels.items():
                market = view.market_of(asset_id)
                if market is None or market.condition_id != condition_id or asset_id in traded_assets:
                    continue
                book = view.book(asset_id)
                size = book.level_size(side, price) if book is not None else 0
                bid, ask = _best(book)
                entries.append(price_change_entry(asset_id, price, size, side, order_hash, bid, ask))
            if entries:
                out.append(
                    {
                        "event_type": "price_change",
                        "market": condition_id,
                        "timestamp": str(now_ms),
                        "price_changes": entries,
                    }
                )
            out.extend(last_trade_price_event(trade, now_ms) for trade in traded)
            for asset_id in traded_assets:
                market = view.market_of(asset_id)
                if market is not None:
                    out.append(book_event(view, market, asset_id, now_ms))
            for asset_id, before in self._best_before.items():
                market = view.market_of(asset_id)
                if market is None or market.condition_id != condition_id:
                    continue
                after = _best(view.book(asset_id))
                if after != before:
                    out.append(best_bid_ask_event(condition_id, asset_id, after[0], after[1], now_ms))
            change = view.retick(condition_id)
            this_market = view.market(condition_id)
            if change is not None and this_market is not None:
                for asset_id in (this_market.up_token_id, this_market.down_token_id):
                    out.append(tick_size_change_event(condition_id, asset_id, change[0], change[1], now_ms))
        return out
