"""One token's book: level aggregation, wire order and matching order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyexec.sim.book import OrderBook
from polyexec.sim.records import Order

D = Decimal


def order(oid: str, side: str, price: str, size: int, seq: int) -> Order:
    return Order(
        id=oid, seq=seq, owner="k", account="a", maker_address="a", signer="a", market="m",
        asset_id="t", outcome="Up", side=side, price=D(price), original_size=size,
        order_type="GTC", created_ms=0,
    )  # fmt: skip


def test_levels_best_prices_and_wire_order() -> None:
    book = OrderBook("t")
    orders = [
        order("b1", "BUY", "0.40", 5, 1),
        order("b2", "BUY", "0.42", 7, 2),
        order("b3", "BUY", "0.42", 3, 3),
        order("a1", "SELL", "0.47", 4, 4),
        order("a2", "SELL", "0.45", 6, 5),
    ]
    for o in orders:
        book.add(o)
    assert (book.best_bid(), book.best_ask()) == (D("0.42"), D("0.45"))
    assert book.levels("BUY") == [(D("0.40"), 5), (D("0.42"), 10)]
    assert book.levels("SELL") == [(D("0.47"), 4), (D("0.45"), 6)]
    assert [o.id for o in book.matchable("SELL", D("0.41"))] == ["b2", "b3"]  # price, then time
    assert [o.id for o in book.matchable("BUY", D("0.50"))] == ["a2", "a1"]
    assert book.crosses("BUY", D("0.45"))
    assert not book.crosses("BUY", D("0.44"))
    assert book.fill(orders[1], 7) == 3  # b2 fully filled: only b3 left at 0.42
    assert "b2" not in book
    assert book.remove(orders[2]) == 0
    assert book.best_bid() == D("0.40")
    with pytest.raises(ValueError, match="already in the book"):
        book.add(orders[0])
    assert len(book) == 3
