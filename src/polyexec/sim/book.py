"""One token's order book: price levels with time priority.

Bids and asks are kept per price level in arrival order (price-time priority). Level sizes
are aggregated so a change can be reported as the venue does (the new total size at a price).
:meth:`OrderBook.levels` returns levels in the venue's wire order: bids **ascending** and asks
**descending**, the best price last.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterator
from decimal import Decimal

from polyexec.sim.records import BUY, Order

__all__ = ["OrderBook"]


class _Side:
    """One side of a book: price → FIFO of orders, plus aggregated sizes and sorted prices."""

    def __init__(self) -> None:
        self.queues: dict[Decimal, deque[Order]] = {}
        self.sizes: dict[Decimal, int] = {}
        self.prices: list[Decimal] = []  # ascending

    def add(self, order: Order) -> int:
        queue = self.queues.get(order.price)
        if queue is None:
            queue = deque()
            self.queues[order.price] = queue
            self.sizes[order.price] = 0
            bisect.insort(self.prices, order.price)
        queue.append(order)
        self.sizes[order.price] += order.remaining
        return self.sizes[order.price]

    def remove(self, order: Order, size: int) -> int:
        """Take ``order`` (whose remaining size in the book was ``size``) out of its level."""
        queue = self.queues[order.price]
        queue.remove(order)
        return self._shrink(order.price, size)

    def reduce(self, price: Decimal, size: int) -> int:
        return self._shrink(price, size)

    def _shrink(self, price: Decimal, size: int) -> int:
        left = self.sizes[price] - size
        if left <= 0 and not self.queues[price]:
            del self.queues[price]
            del self.sizes[price]
            self.prices.remove(price)
            return 0
        self.sizes[price] = left
        return left


class OrderBook:
    """Resting orders of one token."""

    def __init__(self, asset_id: str) -> None:
        self.asset_id = asset_id
        self._bids = _Side()
        self._asks = _Side()
        self._in_book: dict[str, int] = {}  # order id → remaining size as booked

    def _side(self, side: str) -> _Side:
        return self._bids if side == BUY else self._asks

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._in_book

    def __len__(self) -> int:
        return len(self._in_book)

    def add(self, order: Order) -> int:
        """Rest ``order``; returns the new aggregate size at its price."""
        if order.id in self._in_book:
            raise ValueError(f"order {order.id} is already in the book")
        if order.remaining <= 0:
            raise ValueError(f"order {order.id} has nothing left to rest")
        self._in_book[order.id] = order.remaining
        return self._side(order.side).add(order)

    def remove(self, order: Order) -> int:
        """Take ``order`` out of the book; returns the new aggregate size at its price."""
        size = self._in_book.pop(order.id)
        return self._side(order.side).remove(order, size)

    def fill(self, order: Order, size: int) -> int:
        """Record that ``size`` micro-shares of a resting order traded (the order's own
        ``size_matched`` is updated by the caller). Removes the order once nothing is left.
        Returns the new aggregate size at its price."""
        booked = self._in_book[order.id]
        if size > booked:
            raise ValueError(f"fill of {size} exceeds the {booked} booked for order {order.id}")
        side = self._side(order.side)
        if size == booked:
            del self._in_book[order.id]
            return side.remove(order, size)
        self._in_book[order.id] = booked - size
        return side.reduce(order.price, size)

    def best_bid(self) -> Decimal | None:
        return self._bids.prices[-1] if self._bids.prices else None

    def best_ask(self) -> Decimal | None:
        return self._asks.prices[0] if self._asks.prices else None

    def level_size(self, side: str, price: Decimal) -> int:
        return self._side(side).sizes.get(price, 0)

    def levels(self, side: str) -> list[tuple[Decimal, int]]:
        """Aggregated levels in wire order: bids ascending, asks descending (best last)."""
        book_side = self._side(side)
        prices = book_side.prices if side == BUY else list(reversed(book_side.prices))
        return [(price, book_side.sizes[price]) for price in prices]

    def crosses(self, side: str, price: Decimal) -> bool:
        """Would an order on ``side`` at ``price`` trade against the book right now?"""
        if side == BUY:
            ask = self.best_ask()
            return ask is not None and ask <= price
        bid = self.best_bid()
        return bid is not None and bid >= price

    def matchable(self, taker_side: str, limit: Decimal) -> Iterator[Order]:
        """Resting orders a taker on ``taker_side`` with worst price ``limit`` may trade with,
        best price first and oldest first within a price. The caller must not mutate the
        book while iterating: collect a plan first."""
        if taker_side == BUY:
            for price in self._asks.prices:
                if price > limit:
                    return
                yield from self._asks.queues[price]
        else:
            for price in reversed(self._bids.prices):
                if price < limit:
                    return
                yield from self._bids.queues[price]

    def orders(self) -> Iterator[Order]:
        """Every resting order (bids then asks, price-time order)."""
        for book_side in (self._bids, self._asks):
            for price in book_side.prices:
                yield from book_side.queues[price]
