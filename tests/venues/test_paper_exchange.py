"""The paper exchange's synchronous core: settlement timing, resolution with trades still
settling, bounded memory in a long run, what it does with a failing sink or bad events, and its
invariants under random order flow (never overdrawn, never filled beyond what the market showed)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyexec.core.events import (
    BinanceTrade,
    LastTradePrice,
    PriceChange,
    PriceLevelChange,
    UserOrderEvent,
    UserTradeEvent,
)
from polyexec.core.models import Liquidity, OrderType, Outcome, Side, TradeStatus
from polyexec.venues.errors import DefinitiveReject
from polyexec.venues.paper_exchange import PaperExchange
from tests.venues.test_paper_venue import ASKS, BIDS, CONDITION, MARKET, NOW, TICK, UP, Harness, Levels, fee

D = Decimal


def exchange(h: Harness) -> PaperExchange:
    return h.venue.exchange


async def test_trades_settle_after_the_delay_mined_then_confirmed_and_bring_their_shares() -> None:
    h = Harness(settle_delay_s=2)
    await h.venue.post_order(h.limit(Side.BUY, "0.52", "10"), OrderType.GTC)
    assert exchange(h).stats()["pending_settlements"] == 1
    assert h.venue.position(UP) == 0
    h.now += 1.999
    h.venue.process_due()
    assert h.trades(TradeStatus.MINED) == []
    h.now += 0.001
    h.venue.process_due()
    (mined,), (confirmed,) = h.trades(TradeStatus.MINED), h.trades(TradeStatus.CONFIRMED)
    assert h.events.index(mined) < h.events.index(confirmed)
    assert mined.timestamp_ms == confirmed.timestamp_ms == int((NOW + 2) * 1000)
    assert confirmed.match_time_ms == int(NOW * 1000)  # the fill keeps its match time
    assert h.venue.position(UP) == 10
    assert exchange(h).stats()["pending_settlements"] == 0


async def test_a_resolution_settles_pending_trades_first_and_pays_the_winners() -> None:
    h = Harness(settle_delay_s=60)
    await h.venue.post_order(h.limit(Side.BUY, "0.52", "10"), OrderType.GTC)
    h.venue.settle(CONDITION, Outcome.UP)
    assert [t.status for t in h.trades(TradeStatus.CONFIRMED)] == [TradeStatus.CONFIRMED]
    assert h.venue.balance == D(1000) - D("5.20") - fee("10", "0.52") + D(10)
    assert h.venue.position(UP) == 0
    h.now += 60
    h.venue.process_due()  # the trade's own settlement, long due, changes nothing now
    assert len(h.trades(TradeStatus.CONFIRMED)) == 1
    assert h.venue.balance == D("1004.62528")


def test_settle_refuses_bad_input_and_accepts_a_market_it_never_traded() -> None:
    h = Harness()
    with pytest.raises(ValueError, match="condition id"):
        h.venue.settle("not-hex", Outcome.UP)
    with pytest.raises(ValueError):
        h.venue.settle(CONDITION, "Sideways")  # type: ignore[arg-type]
    h.venue.settle("0x" + "cd" * 32, Outcome.DOWN)
    assert exchange(h).stats()["resolved_markets"] == 1
    assert h.venue.balance == 1000


async def test_a_settled_market_s_history_is_forgotten_after_the_retention() -> None:
    h = Harness(history_retention_s=600)
    filled = h.limit(Side.BUY, "0.52", "10")
    await h.venue.post_order(filled, OrderType.GTC)
    await h.venue.post_order(h.limit(Side.BUY, "0.45", "10"), OrderType.GTC)
    h.venue.settle(CONDITION, Outcome.DOWN)
    assert exchange(h).stats()["orders"] == 2
    assert exchange(h).stats()["trades"] == 1
    h.now += 599
    assert (await h.venue.get_order(filled.order_id)) is not None
    h.now += 1
    assert await h.venue.get_order(filled.order_id) is None
    assert await h.venue.get_trades() == []
    stats = exchange(h).stats()
    assert (stats["orders"], stats["trades"], stats["open_orders"], stats["used_levels"]) == (0, 0, 0, 0)
    assert stats["resolved_markets"] == 1  # still refused: a late order cannot reopen it
    assert h.venue.balance == D(1000) - D("5.20") - fee("10", "0.52")


async def test_memory_stays_bounded_over_many_windows() -> None:
    h = Harness(history_retention_s=0)
    for window in range(30):
        market = replace(
            MARKET,
            condition_id=f"0x{window:064x}",
            up_token_id=f"{1000 + window}",
            down_token_id=f"{2000 + window}",
        )
        h.markets[market.up_token_id] = market
        h.set_book(market.up_token_id, BIDS, ASKS)
        await h.venue.post_order(h.limit(Side.BUY, "0.52", "10", token=market.up_token_id), OrderType.GTC)
        await h.venue.post_order(h.limit(Side.BUY, "0.45", "5", token=market.up_token_id), OrderType.GTC)
        h.venue.settle(market.condition_id, Outcome.UP)
        h.now += 1
        h.venue.process_due()
    stats = exchange(h).stats()
    assert (stats["orders"], stats["trades"], stats["used_levels"]) == (0, 0, 0)
    # each window: −5.20 − fee + 10 won
    assert h.venue.balance == D(1000) + 30 * (D("4.80") - fee("10", "0.52"))


async def test_a_failing_sink_is_counted_and_the_book_stays_right() -> None:
    def broken(event: object) -> None:
        raise RuntimeError("engine bug")

    h = Harness(sink=broken)
    result = await h.venue.post_order(h.limit(Side.BUY, "0.52", "10"), OrderType.GTC)
    assert result.status == "matched"
    assert h.venue.position(UP) == 10
    assert exchange(h).sink_errors == 5  # PLACEMENT, MATCHED, UPDATE, MINED, CONFIRMED


def _level_change(h: Harness, side: Side, price: str, size: str) -> PriceChange:
    """A ``price_change`` of one UP level, applied to the book as the market feed does."""
    h.stamp += 1
    change = PriceChange(CONDITION, h.stamp, (PriceLevelChange(UP, D(price), D(size), side),))
    h.books[UP].apply_price_change(change)
    return change


async def test_price_changes_move_levels_through_resting_orders_and_refresh_what_was_taken() -> None:
    h = Harness()
    await h.venue.post_order(h.limit(Side.BUY, "0.52", "10"), OrderType.FOK)  # takes the 0.52 asks
    resting = h.limit(Side.BUY, "0.51", "10")
    await h.venue.post_order(resting, OrderType.GTC)
    h.venue.observe(_level_change(h, Side.SELL, "0.52", "4"))  # the level we took shrinks to 4 ...
    h.venue.observe(_level_change(h, Side.SELL, "0.52", "7"))  # ... and 3 new shares arrive
    taken = await h.venue.post_order(h.limit(Side.BUY, "0.52", "10"), OrderType.FAK)
    assert taken.taking_amount == 3
    h.venue.observe(_level_change(h, Side.SELL, "0.51", "6"))  # an ask at our bid: it would hit us
    assert h.orders(resting.order_id)[-1].size_matched == 6
    assert h.trades()[-1].trader_side is Liquidity.MAKER


async def test_unusable_trades_are_counted_and_other_events_ignored() -> None:
    h = Harness()
    await h.venue.post_order(h.limit(Side.BUY, "0.51", "10"), OrderType.GTC)
    before = len(h.events)
    h.venue.observe(LastTradePrice(UP, CONDITION, D("0.50"), D(0), Side.SELL, int(NOW * 1000)))
    h.venue.observe(LastTradePrice(UP, CONDITION, D("NaN"), D(5), Side.SELL, int(NOW * 1000)))
    h.venue.observe(BinanceTrade("btcusdt", 1, D(60000), D(1), 1, 1, False))
    assert exchange(h).skipped_events == 2
    assert len(h.events) == before


async def test_open_orders_are_listed_oldest_first_and_filtered() -> None:
    h = Harness()
    first, second = h.limit(Side.BUY, "0.45", "10"), h.limit(Side.SELL, "0.60", "10")
    await h.venue.post_order(h.limit(Side.BUY, "0.53", "10"), OrderType.FOK)
    await h.venue.post_order(first, OrderType.GTC)
    await h.venue.post_order(second, OrderType.GTC)
    assert [o.order_id for o in exchange(h).open_orders()] == [first.order_id, second.order_id]
    assert exchange(h).open_orders(condition_id="0x" + "00" * 32) == []
    assert [o.order_id for o in exchange(h).open_orders(token_id=UP)] == [first.order_id, second.order_id]
    assert [
        e.kind.value for e in h.events if isinstance(e, UserOrderEvent) and e.order_id == first.order_id
    ] == ["PLACEMENT"]
    assert all(isinstance(t, UserTradeEvent) for t in exchange(h).trades())


# --- invariants under random flow ----------------------------------------------------------------

_PRICES = st.sampled_from(["0.45", "0.48", "0.49", "0.50", "0.51", "0.52", "0.53", "0.55", "0.58"])
_POST = st.tuples(
    st.just("post"),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.sampled_from([OrderType.GTC, OrderType.GTC, OrderType.GTC, OrderType.FOK, OrderType.FAK]),
    _PRICES,
    st.integers(5, 25),
)
_TRADE = st.tuples(st.just("trade"), st.sampled_from([Side.BUY, Side.SELL]), _PRICES, st.integers(1, 40))
_BOOK = st.tuples(st.just("book"), st.integers(-4, 4))  # the whole book moves by this many ticks
# one_of picks its branches evenly: listing one twice makes it twice as frequent
_ACTIONS = st.lists(
    st.one_of(_POST, _POST, _POST, _TRADE, _TRADE, _TRADE, _BOOK, _BOOK, st.tuples(st.just("cancel"))),
    min_size=3,
    max_size=40,
)


def _shifted(levels: Levels, ticks: int) -> Levels:
    return tuple((str(D(price) + ticks * TICK), size) for price, size in levels)


class _Flow:
    """Random order flow against one venue, checking the account after every step and the
    taker fills of every book epoch (between two book moves) against that book."""

    def __init__(self) -> None:
        self.h = Harness(starting_balance=D(60))
        self.books: list[tuple[Levels, Levels]] = [(BIDS, ASKS)]
        self.epoch_taken: dict[tuple[Side, Decimal], Decimal] = {}
        self.printed: dict[Side, Decimal] = {Side.BUY: D(0), Side.SELL: D(0)}

    async def post(self, side: Side, kind: OrderType, price: str, size: str) -> None:
        before = len(self.h.events)
        try:
            await self.h.venue.post_order(self.h.limit(side, price, size), kind)
        except DefinitiveReject:
            return
        bids, asks = self.books[-1]
        for event in self.h.events[before:]:
            if (
                isinstance(event, UserTradeEvent)
                and event.trader_side is Liquidity.TAKER
                and event.status is TradeStatus.MATCHED
            ):
                key = (event.side, event.price)
                self.epoch_taken[key] = self.epoch_taken.get(key, D(0)) + event.size
                shown = asks if event.side is Side.BUY else bids
                assert self.epoch_taken[key] <= sum(D(s) for p, s in shown if D(p) == event.price)

    def maker_fills_since(self, before: int) -> Decimal:
        return sum(
            (
                e.size
                for e in self.h.events[before:]
                if isinstance(e, UserTradeEvent)
                and e.trader_side is Liquidity.MAKER
                and e.status is TradeStatus.MATCHED
            ),
            D(0),
        )

    async def step(self, action: tuple[Any, ...]) -> None:
        venue = self.h.venue
        before = len(self.h.events)
        if action[0] == "post":
            await self.post(action[1], action[2], action[3], str(action[4]))
        elif action[0] == "trade":  # one printed trade fills us by its size at most
            self.printed[action[1]] += action[3]
            self.h.trade(action[1], action[2], str(action[3]))
            assert self.maker_fills_since(before) <= action[3]
        elif action[0] == "book":  # the book moves, possibly through resting orders
            self.books.append((_shifted(BIDS, action[1]), _shifted(ASKS, action[1])))
            self.epoch_taken.clear()
            venue.observe(self.h.set_book(UP, *self.books[-1]))
            assert self.maker_fills_since(before) <= sum(
                D(size) for levels in self.books[-1] for _, size in levels
            )
        else:
            await venue.cancel_all()
        open_orders = await venue.get_open_orders()
        reserved = sum(
            (o.price * (o.original_size - o.size_matched) for o in open_orders if o.side is Side.BUY), D(0)
        )
        held = sum((o.original_size - o.size_matched for o in open_orders if o.side is Side.SELL), D(0))
        assert venue.balance >= reserved >= 0
        assert venue.position(UP) >= held >= 0
        assert all(D(0) <= o.size_matched <= o.original_size for o in open_orders)


async def _run_flow(actions: list[tuple[Any, ...]]) -> _Flow:
    flow = _Flow()
    await flow.post(Side.BUY, OrderType.FOK, "0.53", "30")  # shares to sell
    await flow.post(Side.BUY, OrderType.GTC, "0.51", "20")  # and two orders for the market to reach
    await flow.post(Side.SELL, OrderType.GTC, "0.56", "15")
    for action in actions:
        await flow.step(action)
    return flow


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ACTIONS)
def test_random_flow_never_overdraws_and_never_fills_beyond_what_the_market_showed(
    actions: list[tuple[Any, ...]],
) -> None:
    flow = asyncio.run(_run_flow(actions))
    fills = flow.h.trades()
    for side in (Side.BUY, Side.SELL):
        # every fill is explained by what the books displayed on the other side or trades printed
        ours = sum(
            (
                t.size
                for t in fills
                if (t.side if t.trader_side is Liquidity.TAKER else t.side.opposite) is side
            ),
            D(0),
        )
        displayed = sum(
            (D(s) for bids, asks in flow.books for _, s in (asks if side is Side.BUY else bids)), D(0)
        )
        assert ours <= flow.printed[side.opposite] + displayed
