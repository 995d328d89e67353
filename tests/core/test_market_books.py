"""The Up and Down books of one market, routed together."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from polyexec.core.events import PriceChange
from polyexec.core.market_books import MarketBooks
from polyexec.core.models import Market, Side
from polyexec.core.order_book import UntrustedReason
from tests.core.test_order_book import DOWN, UP, WIRE_ASKS, WIRE_BIDS, chg, lv, snap, tick_change


def test_market_books_route_events_by_token() -> None:
    market = Market("btc", "btc-updown-15m-1", "0xcond", UP, DOWN, 0, 900)
    books = MarketBooks.for_market(market)
    assert books.up.tick_size == D("0.01")
    assert books.apply(snap(WIRE_BIDS, WIRE_ASKS, asset=UP))
    assert not books.trusted  # Down has no snapshot yet
    assert books.apply(snap([(".46", "10")], [(".48", "10")], asset=DOWN))
    assert books.trusted
    changes = (chg(Side.BUY, "0.51", "1"), chg(Side.SELL, "0.47", "2", asset=DOWN))
    assert books.apply(PriceChange("0xcond", 1_100, changes))
    assert books.up.best_bid() == lv("0.51", "1")
    assert books.down.best_ask() == lv("0.47", "2")
    assert not books.apply(snap(WIRE_BIDS, WIRE_ASKS, asset="999"))
    assert books.apply(tick_change("0.001", asset=DOWN))
    assert books.down.awaiting_snapshot
    assert not books.up.awaiting_snapshot
    books.mark_untrusted(UntrustedReason.RECONNECT)
    assert books.up.untrusted_reason is UntrustedReason.RECONNECT
    assert books.get(DOWN) is books.down
    assert books.get("999") is None
    with pytest.raises(ValueError, match="same"):
        MarketBooks("0xcond", UP, UP)
