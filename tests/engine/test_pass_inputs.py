"""pass_inputs: holdings with their owning strategy, rebuilt on change, and resting orders."""

from __future__ import annotations

from decimal import Decimal

from polyexec.core.models import Fill, Liquidity, Market, OrderIntent, OrderType, Side, TradeStatus
from polyexec.core.order import Order
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import Portfolio
from polyexec.engine.pass_inputs import HoldingsCache, resting_orders, share_owners
from polyexec.strategies.context import Holding, RestingOrder

D = Decimal
MARKET = Market("btc", "btc-updown-15m-1800000000", "0x" + "ab" * 32, "1", "2", 1_800_000_000, 1_800_000_900)
NOW = 1_800_000_100_000


class Book:
    def __init__(self) -> None:
        self.registry, self.portfolio = OrderRegistry(), Portfolio()
        self.portfolio.register_market(MARKET, NOW)
        self.count = 0

    def trade(self, strategy: str, side: Side, size: str, status: TradeStatus = TradeStatus.MATCHED) -> Order:
        self.count += 1
        intent = OrderIntent(strategy, MARKET.condition_id, "1", side, D("0.5"), D(size), OrderType.FOK)
        order = Order.from_intent(intent, f"0x{self.count:064x}", now_ms=NOW)
        order.submitted(now_ms=NOW)
        self.registry.add(order)
        fill = Fill(
            f"t{self.count}", order.order_id, MARKET.condition_id, "1", side, D("0.5"), D(size), D(0),
            Liquidity.TAKER, status, NOW + self.count, strategy,
        )  # fmt: skip
        order.apply_fill(fill, now_ms=NOW)
        self.portfolio.apply_fill(fill, NOW)
        return order


def test_the_owner_is_replayed_with_the_portfolios_rule() -> None:
    book = Book()
    book.trade("FV", Side.BUY, "10")
    book.trade("MM", Side.BUY, "5")
    assert share_owners(book.registry, ["1"]) == {"1": "FV"}
    book.trade("FV", Side.SELL, "8")  # FV's own shares go first: FV 2, MM 5
    assert share_owners(book.registry, ["1"]) == {"1": "MM"}
    book.trade("FF", Side.BUY, "9", TradeStatus.FAILED)  # voided: never happened
    assert share_owners(book.registry, ["1", "2"]) == {"1": "MM"}


def test_holdings_carry_confirmed_shares_as_sellable_and_rebuild_only_on_change() -> None:
    book = Book()
    cache = HoldingsCache()
    assert cache.holdings(book.portfolio, book.registry) == {}
    book.trade("FV", Side.BUY, "10", TradeStatus.CONFIRMED)
    book.trade("FV", Side.BUY, "4")  # provisional
    holdings = cache.holdings(book.portfolio, book.registry)
    assert holdings == {"1": Holding("1", MARKET.condition_id, D(14), D(10), D("0.5"), "FV")}
    assert cache.holdings(book.portfolio, book.registry) is holdings
    assert cache.rebuilds == 2  # the empty book, then the two fills


def test_resting_orders_are_the_open_ones_with_what_may_still_match() -> None:
    book = Book()
    book.trade("FV", Side.BUY, "10")  # filled: not resting
    intent = OrderIntent(
        "MM", MARKET.condition_id, "2", Side.BUY, D("0.4"), D(20), OrderType.GTC, post_only=True
    )
    pending = Order.from_intent(intent, "0x" + "ee" * 32, now_ms=NOW)
    book.registry.add(pending)  # PENDING counts: it is about to be sent
    assert resting_orders(book.registry) == (
        RestingOrder(
            "0x" + "ee" * 32, "MM", MARKET.condition_id, "2", Side.BUY, D("0.4"), D(20), OrderType.GTC, True
        ),
    )
