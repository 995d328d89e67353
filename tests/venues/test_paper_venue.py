"""The paper venue through its ClobClient-shaped API: venue refusals, taker walks, maker fills,
expiry, cancels, money through a whole buy → sell → settle cycle, event shapes equal to what the
simulator's user channel decodes to, and invariants under random order flow."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from polyexec.core.events import (
    BookSnapshot,
    FeedEvent,
    LastTradePrice,
    UserOrderEvent,
    UserOrderEventKind,
    UserTradeEvent,
)
from polyexec.core.models import BookLevel, Liquidity, Market, OrderType, Outcome, Side, TradeStatus
from polyexec.core.order_book import OrderBook, UntrustedReason
from polyexec.core.pricing import taker_fee
from polyexec.sim.contracts import SimClock, SimMarket
from polyexec.sim.exchange import Exchange
from polyexec.sim.records import OrderRequest
from polyexec.venues.clob_responses import DUPLICATE_OF_PREVIOUS_ATTEMPT
from polyexec.venues.errors import DefinitiveReject
from polyexec.venues.order_factory import limit_order, market_order
from polyexec.venues.order_signer import OrderSigner, SignedOrder
from polyexec.venues.paper_venue import PaperConfig, PaperVenue
from polyexec.venues.user_messages import parse_user_event
from tests.venues.conftest import throwaway_key

D = Decimal
T0 = 1_800_000_000
NOW = T0 + 100.0
SLUG = f"btc-updown-15m-{T0}"
CONDITION = "0x" + hashlib.sha256(SLUG.encode()).hexdigest()
UP = str(int(hashlib.sha256(f"{SLUG}:up".encode()).hexdigest(), 16))
DOWN = str(int(hashlib.sha256(f"{SLUG}:down".encode()).hexdigest(), 16))
MARKET = Market("btc", SLUG, CONDITION, UP, DOWN, T0, T0 + 900)
SIGNER = OrderSigner(throwaway_key("paper-venue"))
TICK = D("0.01")
BIDS = (("0.50", "10"), ("0.48", "50"))
ASKS = (("0.52", "10"), ("0.53", "20"), ("0.55", "100"))

Levels = Sequence[tuple[str, str]]


def fee(shares: str, price: str) -> Decimal:
    return taker_fee(D(shares), D(price), MARKET.fee)


class Harness:
    """A paper venue over constructed books, a settable clock and a recording sink."""

    def __init__(
        self,
        bids: Levels = BIDS,
        asks: Levels = ASKS,
        sink: Callable[[FeedEvent], None] | None = None,
        **config: Any,
    ) -> None:
        self.now = NOW
        self.stamp = 1
        self.books: dict[str, OrderBook] = {}
        self.markets: dict[str, Market] = {UP: MARKET, DOWN: MARKET}
        self.events: list[FeedEvent] = []
        self.sleeps: list[float] = []
        self.during_delay: Callable[[], Awaitable[None]] | None = None
        self.set_book(UP, bids, asks)
        self.venue = PaperVenue(
            book_of=self.books.get,
            market_of=self.markets.get,
            sink=self.events.append if sink is None else sink,
            clock=lambda: self.now,
            sleep=self._sleep,
            config=PaperConfig(**config),
        )

    async def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.during_delay is not None:
            await self.during_delay()

    def snapshot(self, token: str, bids: Levels, asks: Levels) -> BookSnapshot:
        self.stamp += 1
        return BookSnapshot(
            token,
            CONDITION,
            self.stamp,
            bids=tuple(BookLevel(D(p), D(s)) for p, s in bids),
            asks=tuple(BookLevel(D(p), D(s)) for p, s in asks),
        )

    def set_book(self, token: str, bids: Levels, asks: Levels) -> BookSnapshot:
        """Apply a snapshot to the token's book (as the market feed does) and return it."""
        snapshot = self.snapshot(token, bids, asks)
        self.books.setdefault(token, OrderBook(token)).apply_snapshot(snapshot)
        return snapshot

    def limit(self, side: Side, price: str, size: str, token: str = UP, expiration_s: int = 0) -> SignedOrder:
        return limit_order(
            SIGNER, token_id=token, side=side, price=D(price), size=D(size), tick_size=TICK,
            neg_risk=False, timestamp_ms=1, expiration_s=expiration_s,
        )  # fmt: skip

    def trade(self, side: Side, price: str, size: str, token: str = UP, at_s: float | None = None) -> None:
        """The market prints a trade (``side``: the taker's)."""
        stamp = int((self.now if at_s is None else at_s) * 1000)
        self.venue.observe(LastTradePrice(token, CONDITION, D(price), D(size), side, stamp))

    def orders(self, order_id: str) -> list[UserOrderEvent]:
        return [e for e in self.events if isinstance(e, UserOrderEvent) and e.order_id == order_id]

    def trades(self, status: TradeStatus = TradeStatus.MATCHED) -> list[UserTradeEvent]:
        return [e for e in self.events if isinstance(e, UserTradeEvent) and e.status is status]


async def refused(awaitable: Awaitable[object]) -> DefinitiveReject:
    with pytest.raises(DefinitiveReject) as caught:
        await awaitable
    return caught.value


# --- venue refusals ------------------------------------------------------------------------------


async def test_off_tick_and_undersized_limit_orders_are_refused_with_the_venue_texts() -> None:
    h = Harness()
    off_tick = SIGNER.sign(
        token_id=UP, side=Side.BUY, maker_amount=5_250_000, taker_amount=10_000_000, timestamp_ms=1
    )
    error = await refused(h.venue.post_order(off_tick, OrderType.GTC))
    assert (
        error.message
        == f"order {off_tick.order_id} is invalid. Price (0.525) breaks minimum tick size rule: 0.01"
    )
    assert (error.status, error.code) == (400, "INVALID_ORDER_MIN_TICK_SIZE")
    small = h.limit(Side.BUY, "0.50", "4.99")
    error = await refused(h.venue.post_order(small, OrderType.GTC))
    assert error.message == f"order {small.order_id} is invalid. Size (4.99) lower than the minimum: 5"
    tiny_market_buy = market_order(
        SIGNER, token_id=UP, side=Side.BUY, amount=D("0.99"), worst_price=D("0.53"), tick_size=TICK,
        neg_risk=False, timestamp_ms=1,
    )  # fmt: skip
    assert (
        await refused(h.venue.post_order(tiny_market_buy, OrderType.FOK))
    ).code == "INVALID_ORDER_MIN_SIZE"
    assert h.events == []
    assert h.venue.balance == 1000


async def test_the_book_s_current_tick_wins_over_the_market_s() -> None:
    h = Harness()
    h.books[UP] = OrderBook(UP)
    h.books[UP].apply_snapshot(replace(h.snapshot(UP, BIDS, ASKS), tick_size=D("0.001")))
    fine = SIGNER.sign(
        token_id=UP, side=Side.BUY, maker_amount=5_050_000, taker_amount=10_000_000, timestamp_ms=1
    )
    assert (await h.venue.post_order(fine, OrderType.GTC)).status == "live"  # 0.505 on a 0.001 grid


async def test_post_only_refusals_match_the_venue_and_the_client() -> None:
    h = Harness()
    crossing = h.limit(Side.BUY, "0.52", "10")
    error = await refused(h.venue.post_order(crossing, OrderType.GTC, post_only=True))
    assert (error.message, error.code) == (
        "invalid post-only order: order crosses book",
        "INVALID_POST_ONLY_ORDER",
    )
    crossing_sell = h.limit(Side.SELL, "0.50", "10")
    assert (await refused(h.venue.post_order(crossing_sell, OrderType.GTC, post_only=True))).code == (
        "INVALID_POST_ONLY_ORDER"
    )
    with pytest.raises(ValueError, match="post-only"):  # ClobClient refuses it before sending
        await h.venue.post_order(crossing, OrderType.FOK, post_only=True)
    passive = await h.venue.post_order(h.limit(Side.BUY, "0.51", "10"), OrderType.GTC, post_only=True)
    assert passive.status == "live"
    assert h.sleeps == []


async def test_gtd_expiration_must_leave_three_minutes() -> None:
    h = Harness()
    with pytest.raises(ValueError, match="expiration"):
        await h.venue.post_order(h.limit(Side.BUY, "0.50", "10"), OrderType.GTD)
    soon = h.limit(Side.BUY, "0.50", "10", expiration_s=int(NOW) + 179)
    error = await refused(h.venue.post_order(soon, OrderType.GTD))
    assert (error.message, error.code) == ("invalid expiration", "INVALID_ORDER_EXPIRATION")
    ok = h.limit(Side.BUY, "0.50", "10", expiration_s=int(NOW) + 180)
    assert (await h.venue.post_order(ok, OrderType.GTD)).status == "live"


async def test_balance_and_shares_must_cover_the_order_fee_included_for_a_taker() -> None:
    h = Harness(starting_balance=D("5.2"))
    too_big = h.limit(Side.BUY, "0.52", "10")  # 5.20 of notional, plus a taker fee of 0.17472
    error = await refused(h.venue.post_order(too_big, OrderType.GTC))
    assert error.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"
    assert error.message.startswith("not enough balance / allowance: balance: 5.2, order amount: 5.3")
    resting = await h.venue.post_order(h.limit(Side.BUY, "0.51", "10"), OrderType.GTC)  # 5.10, no fee
    assert resting.status == "live"
    # the resting BUY reserves 5.10: 0.10 is left, not the 0.15 another BUY needs
    assert (await refused(h.venue.post_order(h.limit(Side.BUY, "0.03", "5"), OrderType.GTC))).code == (
        "INVALID_ORDER_NOT_ENOUGH_BALANCE"
    )
    no_shares = await refused(h.venue.post_order(h.limit(Side.SELL, "0.60", "5"), OrderType.GTC))
    assert no_shares.message == "not enough balance / allowance: balance: 0, order amount: 5"


async def test_unknown_untrusted_missing_and_resolved_books_are_refused() -> None:
    h = Harness()
    stranger = SIGNER.sign(
        token_id="42", side=Side.BUY, maker_amount=5_000_000, taker_amount=10_000_000, timestamp_ms=1
    )
    error = await refused(h.venue.post_order(stranger, OrderType.GTC))
    assert (error.status, error.message) == (404, "market not found for token id 42")
    no_book = await refused(h.venue.post_order(h.limit(Side.BUY, "0.50", "10", token=DOWN), OrderType.GTC))
    assert no_book.code == "PAPER_NO_TRUSTED_BOOK"
    assert "no book" in no_book.message
    h.books[UP].mark_untrusted(UntrustedReason.STALE)
    untrusted = await refused(h.venue.post_order(h.limit(Side.BUY, "0.50", "10"), OrderType.GTC))
    assert untrusted.code == "PAPER_NO_TRUSTED_BOOK"
    assert "stale" in untrusted.message
    h.set_book(UP, BIDS, ASKS)
    h.venue.settle(CONDITION, Outcome.UP)
    closed = await refused(h.venue.post_order(h.limit(Side.BUY, "0.50", "10"), OrderType.GTC))
    assert (closed.code, closed.message) == (
        "MARKET_NOT_READY",
        "the market is not yet ready to process new orders",
    )


async def test_an_order_with_a_zero_amount_is_refused() -> None:
    h = Harness()
    broken = replace(h.limit(Side.BUY, "0.50", "10"), taker_amount=0)
    assert "Amounts must be positive" in (await refused(h.venue.post_order(broken, OrderType.GTC))).message


# --- takers --------------------------------------------------------------------------------------


async def test_gtc_taker_walks_the_book_at_each_level_s_price_and_pays_the_fees() -> None:
    h = Harness()
    order = h.limit(Side.BUY, "0.53", "25")
    result = await h.venue.post_order(order, OrderType.GTC)
    assert h.sleeps == [0.05]
    assert (result.success, result.status, result.making_amount, result.taking_amount) == (
        True,
        "matched",
        D("13.15"),
        D(25),
    )
    fills = h.trades()
    assert [(t.price, t.size, t.trader_side, t.taker_order_id) for t in fills] == [
        (D("0.52"), D(10), Liquidity.TAKER, order.order_id),
        (D("0.53"), D(15), Liquidity.TAKER, order.order_id),
    ]
    assert list(result.trade_ids) == [t.trade_id for t in fills]
    assert h.venue.balance == D(1000) - D("13.15") - fee("10", "0.52") - fee("15", "0.53") == D("986.41373")
    assert h.venue.position(UP) == 25
    assert [(e.kind, e.status, e.size_matched) for e in h.orders(order.order_id)] == [
        (UserOrderEventKind.PLACEMENT, "LIVE", D(0)),
        (UserOrderEventKind.UPDATE, "MATCHED", D(25)),
    ]
    assert [t.trade_id for t in h.trades(TradeStatus.CONFIRMED)] == [t.trade_id for t in fills]


async def test_fok_fills_all_or_is_refused() -> None:
    h = Harness()
    error = await refused(h.venue.post_order(h.limit(Side.BUY, "0.53", "30.01"), OrderType.FOK))
    assert error.message == "order couldn't be fully filled. FOK orders are fully filled or killed."
    assert error.code == "FOK_ORDER_NOT_FILLED_ERROR"
    assert h.events == []
    assert h.venue.balance == 1000
    result = await h.venue.post_order(h.limit(Side.BUY, "0.53", "30"), OrderType.FOK)
    assert (result.status, result.taking_amount) == ("matched", D(30))
    assert h.venue.balance == D(1000) - D("15.80") - fee("10", "0.52") - fee("20", "0.53")


async def test_fak_fills_what_is_there_and_cancels_the_rest() -> None:
    h = Harness()
    order = h.limit(Side.BUY, "0.53", "40")
    result = await h.venue.post_order(order, OrderType.FAK)
    assert (result.status, result.making_amount, result.taking_amount) == ("matched", D("15.80"), D(30))
    assert [(e.kind, e.status, e.size_matched) for e in h.orders(order.order_id)] == [
        (UserOrderEventKind.PLACEMENT, "LIVE", D(0)),
        (UserOrderEventKind.UPDATE, "LIVE", D(30)),
        (UserOrderEventKind.CANCELLATION, "CANCELED", D(30)),
    ]
    assert await h.venue.get_open_orders() == []
    error = await refused(h.venue.post_order(h.limit(Side.BUY, "0.51", "10"), OrderType.FAK))
    assert error.message.startswith("no orders found to match with FAK order.")


async def test_the_same_displayed_shares_are_not_taken_twice() -> None:
    h = Harness()
    await h.venue.post_order(h.limit(Side.BUY, "0.52", "10"), OrderType.FOK)
    error = await refused(h.venue.post_order(h.limit(Side.BUY, "0.52", "5"), OrderType.FOK))
    assert error.code == "FOK_ORDER_NOT_FILLED_ERROR"  # the 0.52 level is ours already
    h.set_book(UP, BIDS, (("0.52", "14"), *ASKS[1:]))  # someone adds 4 shares at 0.52
    result = await h.venue.post_order(h.limit(Side.BUY, "0.52", "5"), OrderType.FAK)
    assert result.taking_amount == 4


async def test_a_market_buy_gets_at_most_its_signed_shares_with_exact_money() -> None:
    h = Harness()
    order = market_order(
        SIGNER, token_id=UP, side=Side.BUY, amount=D(10), worst_price=D("0.53"), tick_size=TICK,
        neg_risk=False, timestamp_ms=1,
    )  # fmt: skip
    result = await h.venue.post_order(order, OrderType.FOK)
    assert [(t.price, t.size) for t in h.trades()] == [(D("0.52"), D(10)), (D("0.53"), D("8.8679"))]
    assert (result.making_amount, result.taking_amount) == (D("9.899987"), D("18.8679"))
    assert h.venue.balance == D(1000) - D("9.899987") - fee("10", "0.52") - fee("8.8679", "0.53")


async def test_gtc_rests_its_unfilled_part_and_the_taker_delay_sees_the_current_book() -> None:
    h = Harness()

    async def asks_move() -> None:  # during the hold, the 0.52 asks are taken by someone else
        h.set_book(UP, BIDS, ASKS[1:])

    h.during_delay = asks_move
    order = h.limit(Side.BUY, "0.53", "30")
    result = await h.venue.post_order(order, OrderType.GTC)
    assert [(t.price, t.size) for t in h.trades()] == [(D("0.53"), D(20))]
    assert result.taking_amount == 20
    (rest,) = await h.venue.get_open_orders(token_id=UP)
    assert (rest.order_id, rest.status, rest.size_matched, rest.original_size) == (
        order.order_id,
        "LIVE",
        D(20),
        D(30),
    )
    assert [(e.kind, e.status, e.size_matched) for e in h.orders(order.order_id)][-1] == (
        UserOrderEventKind.UPDATE,
        "LIVE",
        D(20),
    )
    # 20 × 0.53 + fee, and the rest (10 × 0.53) is reserved, not spent
    assert h.venue.balance == D(1000) - D("10.60") - fee("20", "0.53")


async def test_a_sell_pays_its_fee_out_of_the_proceeds() -> None:
    h = Harness()
    await h.venue.post_order(h.limit(Side.BUY, "0.53", "30"), OrderType.FOK)
    before = h.venue.balance
    result = await h.venue.post_order(h.limit(Side.SELL, "0.48", "15"), OrderType.FAK)
    assert [(t.price, t.size, t.side) for t in h.trades()[-2:]] == [
        (D("0.50"), D(10), Side.SELL),
        (D("0.48"), D(5), Side.SELL),
    ]
    assert (result.making_amount, result.taking_amount) == (D(15), D("7.40"))
    assert h.venue.balance == before + D("7.40") - fee("10", "0.50") - fee("5", "0.48")
    assert h.venue.position(UP) == 15


# --- makers --------------------------------------------------------------------------------------


async def test_a_trade_through_our_price_fills_us_at_our_price_and_a_worse_one_does_not() -> None:
    h = Harness()
    order = h.limit(Side.BUY, "0.51", "10")
    await h.venue.post_order(order, OrderType.GTC)
    h.trade(Side.SELL, "0.52", "50")  # above our bid: it never reached us
    h.trade(Side.BUY, "0.49", "50")  # a buyer's trade cannot fill our buy
    assert h.trades() == []
    h.trade(Side.SELL, "0.50", "4")
    (fill,) = h.trades()
    assert (fill.trader_side, fill.side, fill.size, fill.price) == (
        Liquidity.MAKER,
        Side.SELL,
        D(4),
        D("0.51"),
    )
    (mine,) = fill.maker_orders
    assert (mine.order_id, mine.side, mine.price, mine.matched_amount) == (
        order.order_id,
        Side.BUY,
        D("0.51"),
        D(4),
    )
    assert h.orders(order.order_id)[-1].size_matched == 4
    assert h.venue.balance == D(1000) - D("2.04")  # makers pay no fee on crypto markets
    assert h.venue.position(UP) == 4
    h.trade(Side.SELL, "0.45", "100")
    assert h.orders(order.order_id)[-1].status == "MATCHED"
    assert await h.venue.get_open_orders() == []


async def test_a_trade_at_our_price_fills_us_only_after_the_queue_ahead() -> None:
    h = Harness()
    order = h.limit(Side.BUY, "0.50", "10")  # 10 shares were bid at 0.50 before us
    await h.venue.post_order(order, OrderType.GTC)
    h.trade(Side.SELL, "0.50", "6")
    assert h.trades() == []
    h.trade(Side.SELL, "0.50", "7")
    assert [t.maker_orders[0].matched_amount for t in h.trades()] == [D(3)]


async def test_a_book_moving_through_a_resting_order_fills_it_once() -> None:
    h = Harness()
    sell = await h.venue.post_order(h.limit(Side.BUY, "0.53", "30"), OrderType.FOK)
    assert sell.success
    order = h.limit(Side.SELL, "0.56", "10")
    await h.venue.post_order(order, OrderType.GTC)
    asks = (("0.60", "100"),)
    through = h.set_book(UP, (("0.57", "4"), *BIDS), asks)
    h.venue.observe(through)
    h.venue.observe(through)  # the same 4 shares cannot fill us twice
    maker = [t for t in h.trades() if t.trader_side is Liquidity.MAKER]
    assert [(t.price, t.size, t.side) for t in maker] == [(D("0.56"), D(4), Side.BUY)]
    h.books[UP].mark_untrusted(UntrustedReason.RECONNECT)
    h.venue.observe(h.snapshot(UP, (("0.59", "50"),), asks))  # not applied: the book is untrusted
    assert len([t for t in h.trades() if t.trader_side is Liquidity.MAKER]) == 1
    h.venue.observe(h.set_book(UP, (("0.57", "9"), *BIDS), asks))  # 5 more shown at 0.57
    assert h.orders(order.order_id)[-1].size_matched == 9


async def test_gtd_orders_expire_a_minute_before_their_expiration() -> None:
    h = Harness()
    order = h.limit(Side.BUY, "0.51", "10", expiration_s=int(NOW) + 300)
    await h.venue.post_order(order, OrderType.GTD)
    h.trade(Side.SELL, "0.50", "3", at_s=NOW + 239)
    assert h.orders(order.order_id)[-1].size_matched == 3
    h.trade(Side.SELL, "0.50", "3", at_s=NOW + 240)  # the venue's effective expiry: too late
    last = h.orders(order.order_id)[-1]
    assert (last.kind, last.status, last.size_matched) == (
        UserOrderEventKind.CANCELLATION,
        "CANCELED_EXPIRED_ORDER",
        D(3),
    )
    assert h.venue.balance == D(1000) - D("1.53")  # the reserve of the rest is released

    clocked = h.limit(Side.BUY, "0.51", "10", expiration_s=int(NOW) + 400)
    await h.venue.post_order(clocked, OrderType.GTD)
    h.now = NOW + 340
    assert await h.venue.get_open_orders() == []
    assert h.orders(clocked.order_id)[-1].status == "CANCELED_EXPIRED_ORDER"


# --- cancels, queries, duplicates ----------------------------------------------------------------


async def test_cancel_paths_and_their_events() -> None:
    h = Harness()
    first, second = h.limit(Side.BUY, "0.51", "10"), h.limit(Side.BUY, "0.49", "10")
    filled = h.limit(Side.BUY, "0.52", "10")
    for order in (first, second, filled):
        await h.venue.post_order(order, OrderType.GTC)
    result = await h.venue.cancel_order(first.order_id)
    assert (result.canceled, result.not_canceled) == ((first.order_id,), {})
    last = h.orders(first.order_id)[-1]
    assert (last.kind, last.status, last.size_matched) == (UserOrderEventKind.CANCELLATION, "CANCELED", D(0))
    again = await h.venue.cancel_orders([first.order_id, filled.order_id, "0xdead", first.order_id])
    assert again.canceled == ()
    assert again.not_canceled == {
        first.order_id: "Order not found or already canceled",
        filled.order_id: "Order already matched",
        "0xdead": "Order not found or already canceled",
    }
    other = h.limit(Side.BUY, "0.45", "10", token=DOWN)
    h.set_book(DOWN, (("0.40", "10"),), (("0.60", "10"),))
    await h.venue.post_order(other, OrderType.GTC)
    assert (await h.venue.cancel_market_orders(token_id=DOWN)).canceled == (other.order_id,)
    assert (await h.venue.cancel_market_orders(condition_id=CONDITION)).canceled == (second.order_id,)
    with pytest.raises(ValueError, match="condition id or a token id"):
        await h.venue.cancel_market_orders()
    with pytest.raises(ValueError, match="order id"):
        await h.venue.cancel_order("not-hex")
    await h.venue.post_order(h.limit(Side.BUY, "0.44", "10"), OrderType.GTC)
    assert len((await h.venue.cancel_all()).canceled) == 1
    assert h.venue.balance == D(1000) - D("5.20") - fee("10", "0.52")


async def test_a_resend_is_answered_as_placed_by_an_earlier_attempt() -> None:
    h = Harness()
    order = h.limit(Side.BUY, "0.52", "10")
    first = await h.venue.post_order(order, OrderType.GTC)
    count = len(h.events)
    again = await h.venue.post_order(order, OrderType.GTC)
    assert again.placed_by_earlier_attempt
    assert again.status == DUPLICATE_OF_PREVIOUS_ATTEMPT
    assert again.trade_ids == first.trade_ids
    assert again.venue_order is not None
    assert (again.venue_order.status, again.venue_order.size_matched) == ("MATCHED", D(10))
    assert len(h.events) == count
    assert h.venue.position(UP) == 10


async def test_a_resend_during_the_taker_delay_is_refused_as_duplicated() -> None:
    h = Harness()
    order = h.limit(Side.BUY, "0.52", "10")
    seen: list[DefinitiveReject] = []

    async def resend() -> None:
        assert await h.venue.get_order(order.order_id) is None  # not on the book during the hold
        assert (await h.venue.cancel_order(order.order_id)).canceled == ()
        seen.append(await refused(h.venue.post_order(order, OrderType.GTC)))

    h.during_delay = resend
    await h.venue.post_order(order, OrderType.GTC)
    assert seen[0].duplicate
    assert h.venue.position(UP) == 10


async def test_post_orders_answers_each_order_in_order_with_one_delay() -> None:
    h = Harness()
    small, passive, taker = (
        h.limit(Side.BUY, "0.50", "1"),
        h.limit(Side.BUY, "0.50", "10"),
        h.limit(Side.BUY, "0.52", "5"),
    )
    results = await h.venue.post_orders(
        [
            (small, OrderType.GTC, False),
            (passive, OrderType.GTC, True),
            (taker, OrderType.FOK, False),
            (taker, OrderType.FOK, False),
        ]
    )
    assert [(r.order_id, r.success, r.status) for r in results] == [
        (small.order_id, False, ""),
        (passive.order_id, True, "live"),
        (taker.order_id, True, "matched"),
        (taker.order_id, False, ""),
    ]
    assert "lower than the minimum" in results[0].error
    assert "Duplicated" in results[3].error
    assert h.sleeps == [0.05]
    assert await h.venue.post_orders([]) == []
    with pytest.raises(ValueError, match="at most 15"):
        await h.venue.post_orders([(passive, OrderType.GTC, False)] * 16)


async def test_queries_balances_and_heartbeats() -> None:
    h = Harness(settle_delay_s=5)
    order = h.limit(Side.BUY, "0.52", "10")
    await h.venue.post_order(order, OrderType.GTC)
    (trade,) = await h.venue.get_trades(condition_id=CONDITION)
    assert trade.status is TradeStatus.MATCHED
    assert h.venue.position(UP) == 0
    assert (await refused(h.venue.post_order(h.limit(Side.SELL, "0.60", "5"), OrderType.GTC))).code == (
        "INVALID_ORDER_NOT_ENOUGH_BALANCE"
    )
    h.now += 5
    (trade,) = await h.venue.get_trades(token_id=UP, after_s=int(NOW) - 1, before_s=int(NOW) + 1)
    assert trade.status is TradeStatus.CONFIRMED
    assert [t.status for t in h.trades(TradeStatus.MINED) + h.trades(TradeStatus.CONFIRMED)] == [
        TradeStatus.MINED,
        TradeStatus.CONFIRMED,
    ]
    assert await h.venue.get_trades(after_s=int(NOW)) == []
    assert await h.venue.get_trades(token_id=DOWN) == []
    assert (await h.venue.get_balance_allowance("CONDITIONAL", UP)).balance == 10
    collateral = await h.venue.get_balance_allowance("COLLATERAL")
    assert collateral.balance == h.venue.balance
    assert all(v > 10**60 for v in collateral.allowances.values())
    with pytest.raises(ValueError, match="asset_type"):
        await h.venue.get_balance_allowance("SHARES")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="token id"):
        await h.venue.update_balance_allowance("CONDITIONAL")
    assert await h.venue.get_order("0x" + "00" * 32) is None
    beat = await h.venue.post_heartbeat()
    assert beat
    assert await h.venue.post_heartbeat(beat) != beat


# --- money through a whole cycle -----------------------------------------------------------------


async def test_buy_sell_settle_cycle_moves_exact_money() -> None:
    h = Harness()
    await h.venue.post_order(h.limit(Side.BUY, "0.53", "30"), OrderType.GTC)  # 10 @ 0.52, 20 @ 0.53
    await h.venue.post_order(h.limit(Side.SELL, "0.50", "10"), OrderType.FAK)  # 10 @ 0.50
    resting = h.limit(Side.SELL, "0.70", "5")
    await h.venue.post_order(resting, OrderType.GTC)
    down = h.limit(Side.BUY, "0.40", "5", token=DOWN)
    h.set_book(DOWN, (("0.38", "10"),), (("0.40", "10"),))
    await h.venue.post_order(down, OrderType.FOK)
    h.venue.settle(CONDITION, Outcome.UP)
    costs = D("5.20") + D("10.60") + D("2.00")
    fees = fee("10", "0.52") + fee("20", "0.53") + fee("10", "0.50") + fee("5", "0.40")
    proceeds, payout = D("5.00"), D(20)  # 20 Up shares win $1 each; 5 Down shares pay nothing
    assert h.venue.balance == D(1000) - costs - fees + proceeds + payout == D("1006.41754")
    assert h.venue.position(UP) == 0
    assert h.venue.position(DOWN) == 0
    last = h.orders(resting.order_id)[-1]
    assert (last.kind, last.status) == (UserOrderEventKind.CANCELLATION, "CANCELED_MARKET_RESOLVED")
    h.venue.settle(CONDITION, Outcome.DOWN)  # idempotent: the first resolution stands
    assert h.venue.balance == D("1006.41754")


# --- event shapes: the simulator's user channel --------------------------------------------------


class _UserSink:
    def __init__(self) -> None:
        self.events: list[FeedEvent] = []

    def publish_market(self, message: dict[str, Any]) -> None:
        pass

    def publish_user(self, owner: str, market: str, message: dict[str, Any]) -> None:
        if owner == "our-key":
            self.events.append(parse_user_event(message))


def _simulator(bids: Levels, asks: Levels) -> tuple[Exchange, _UserSink]:
    exchange = Exchange(SimClock(start=NOW))
    sink = _UserSink()
    exchange.add_sink(sink)
    exchange.add_market(SimMarket("btc", SLUG, CONDITION, UP, DOWN, T0, T0 + 900))
    for side, levels in (("BUY", bids), ("SELL", asks)):
        for price, size in levels:
            exchange.place_background_order("maker", UP, side, D(price), D(size))
    return exchange, sink


def _sim_post(exchange: Exchange, order: SignedOrder, kind: OrderType) -> None:
    request = OrderRequest(
        id=order.order_id, owner="our-key", signer=order.signer, maker=order.maker, signature_type=0,
        asset_id=UP, side=order.side.value, maker_amount=order.maker_amount, taker_amount=order.taker_amount,
        order_type=kind.value,
    )  # fmt: skip
    exchange.submit(exchange.prepare(request))


def _comparable(events: list[FeedEvent]) -> list[FeedEvent]:
    """The MATCHED-time events without what differs by nature: ids of counterparties and trades,
    owners and clocks."""
    out: list[FeedEvent] = []
    for event in events:
        if isinstance(event, UserOrderEvent):
            out.append(replace(event, timestamp_ms=0))
        elif isinstance(event, UserTradeEvent) and event.status is TradeStatus.MATCHED:
            makers = tuple(
                replace(m, owner="", order_id=m.order_id if m.side is Side.BUY else "")
                for m in event.maker_orders
            )
            taker = event.taker_order_id if event.trader_side is Liquidity.TAKER else ""
            out.append(
                replace(
                    event,
                    trade_id="",
                    taker_order_id=taker,
                    maker_orders=makers,
                    timestamp_ms=0,
                    match_time_ms=0,
                )
            )
    return out


async def test_taker_events_equal_the_simulator_s_for_the_same_fill() -> None:
    h = Harness()
    order = h.limit(Side.BUY, "0.53", "25")
    await h.venue.post_order(order, OrderType.GTC)
    exchange, sim = _simulator(BIDS, ASKS)
    _sim_post(exchange, order, OrderType.GTC)
    assert len(sim.events) == 4
    assert _comparable(h.events) == _comparable(sim.events)


async def test_maker_events_equal_the_simulator_s_for_the_same_fill() -> None:
    h = Harness()
    order = h.limit(Side.BUY, "0.51", "10")
    await h.venue.post_order(order, OrderType.GTC)
    h.trade(Side.SELL, "0.50", "4")  # the market, without us, printed a sale at 0.50
    exchange, sim = _simulator(BIDS, ASKS)
    _sim_post(exchange, order, OrderType.GTC)
    exchange.place_background_order("taker", UP, "SELL", D("0.50"), D(4), "FAK")  # with us, it hits us
    assert len(sim.events) == 3
    assert _comparable(h.events) == _comparable(sim.events)
