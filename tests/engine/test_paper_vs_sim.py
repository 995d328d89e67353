"""Paper trading against the real matching engine: the same orders on the same books fill alike.

Two :class:`~polyexec.engine.order_manager.OrderManager` instances trade one simulated market:

* **live**: real signed orders through the :class:`~polyexec.venues.clob_client.ClobClient`
  to the simulator's matching engine, events from the real user channel (:class:`UserFeed`);
* **paper**: the :class:`~polyexec.venues.paper_venue.PaperVenue`, filling against the books a
  :class:`~polyexec.venues.market_feed.MarketFeed` keeps from the simulator's market channel
  (every market event goes to ``PaperVenue.observe`` after the feed applied it).

The market is deterministic: an exchange-only simulator (no background flow) whose books are a
ladder of maker orders placed through the admin route. Each step sends the same intent to both
managers, **paper first**: a live order consumes the simulator's book and paper's never does,
so paper must decide on the book before the live order changes it. Between steps both managers
settle (every trade CONFIRMED) and the ladder is rebuilt (cancelled, then placed again: a
cancelled level also clears paper's memory of the displayed liquidity it took), until the
feed's book equals the simulator's again.

Where paper and the simulator legitimately differ, the test asserts the documented difference:

* a FOK/FAK **BUY** on the simulator spends its whole signed dollar leg (a market BUY's budget):
  walking cheaper levels first it buys *more* shares than signed, and a FOK whose shares are
  there but cheaper than its limit is killed because the budget cannot be spent. Paper trades
  the signed shares (``paper_exchange`` module docs). SELLs trade shares on both.
* the simulator rounds a taker fee **half up** to 5 decimals (``sim.units.taker_fee_micro``);
  paper and the portfolio floor it (``core.pricing.taker_fee``): a fill whose fee's sixth
  decimal and beyond reach 0.000005 costs 0.00001 more on the simulator than paper and both
  portfolios say. Likewise the simulator charges a dollar leg rounded to a micro-unit where the
  portfolio books shares × price unrounded (only visible for the micro-share fills of the first
  point).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp

from polyexec.core.models import (
    BookLevel,
    CancelIntent,
    CancelScope,
    OrderIntent,
    OrderType,
    Outcome,
    Side,
    TradeStatus,
)
from polyexec.core.order import Order
from polyexec.core.order_state import OrderState
from polyexec.engine.order_manager import OrderManager
from polyexec.sim.app import RunningSimulator
from polyexec.sim.units import from_micro
from polyexec.venues.market_feed import MarketFeed
from polyexec.venues.order_signer import OrderSigner
from polyexec.venues.paper_venue import PaperVenue
from tests.engine.conftest import eventually, sim_admin, throwaway_key
from tests.engine.test_order_manager_venues import Live, live, manager_for, wall_ms
from tests.venues.test_user_feed import FAST

D = Decimal
MAKER = "mm"
"""The simulator-internal account whose orders form the ladder."""
CROSSER = "crosser"
"""The simulator-internal account whose orders trade against our resting orders."""

# (side, price, size) of the maker orders each token's book starts every step with.
UP_LADDER = (
    ("SELL", "0.40", "10"),
    ("SELL", "0.42", "10"),
    ("SELL", "0.45", "10"),
    ("SELL", "0.50", "20"),
    ("BUY", "0.35", "10"),
    ("BUY", "0.33", "10"),
    ("BUY", "0.30", "10"),
    ("BUY", "0.25", "20"),
)
DOWN_LADDER = (
    ("SELL", "0.55", "10"),
    ("SELL", "0.57", "10"),
    ("SELL", "0.60", "10"),
    ("BUY", "0.50", "10"),
)


# --- the rig -------------------------------------------------------------------------------------


@dataclass
class Pair:
    """One simulated market traded by a live and a paper order manager."""

    running: RunningSimulator
    live: Live
    feed: MarketFeed
    paper_venue: PaperVenue
    paper: OrderManager

    @property
    def up(self) -> str:
        return self.live.market.up_token_id

    @property
    def down(self) -> str:
        return self.live.market.down_token_id

    @property
    def condition_id(self) -> str:
        return self.live.market.condition_id

    def intent(
        self, token: str, side: Side, price: str, size: str, order_type: OrderType, **extra: Any
    ) -> OrderIntent:
        return OrderIntent("FV", self.condition_id, token, side, D(price), D(size), order_type, **extra)

    async def both(self, intent: OrderIntent) -> tuple[Order, Order]:
        """``intent`` to paper, then (once paper's post is answered) to live; both settled."""
        paper = self.paper.submit(intent)
        assert paper is not None
        await self.paper.drain(5.0)
        live_order = self.live.manager.submit(intent)
        assert live_order is not None
        await self.live.manager.drain(5.0)
        await self.settled(paper, live_order)
        return paper, live_order

    async def crossed(self, paper: Order, venue: Order, size: Decimal) -> None:
        """Another account's order traded ``size`` with both resting orders; both settled."""
        await eventually(lambda: paper.filled_size == venue.filled_size == size)
        await self.settled(paper, venue)

    async def settled(self, *orders: Order) -> None:
        """Every order answered, and every trade of each side CONFIRMED at its venue and booked
        (confirmed) in its manager's portfolio. Counted per trade, not per order: a fill the
        order refuses as inconsistent still reaches the portfolio."""
        await eventually(
            lambda: not any(o.state.is_in_flight or o.state is OrderState.PENDING for o in orders)
        )
        await eventually(self._paper_settled)
        await eventually(self._live_settled)

    def _paper_settled(self) -> bool:
        trades = self.paper_venue.exchange.trades()
        return _booked(self.paper, [trade.status.value for trade in trades])

    def _live_settled(self) -> bool:
        # Test-only peek at the simulator's ledger (the admin route's account view, unparsed).
        account = self.running.simulator.exchange.account(self.live.manager.signer.address)
        trades = account.trades if account is not None else []
        return _booked(self.live.manager, [trade.status for trade in trades])

    async def sim_account(self) -> dict[str, Any]:
        address = self.live.manager.signer.address
        account: dict[str, Any] = await sim_admin(self.running, "GET", f"/accounts/{address}")
        return account

    async def sim_balance(self) -> Decimal:
        return D((await self.sim_account())["balances"]["pUSD"])

    async def maker_ladder(self, token: str, ladder: tuple[tuple[str, str, str], ...]) -> None:
        """Rebuild ``token``'s book from ``ladder`` and wait until the feed (so paper) shows it."""
        await sim_admin(self.running, "DELETE", "/orders", {"account": MAKER, "token_id": token})
        for side, price, size in ladder:
            await self.admin_order(MAKER, token, side, price, size)
        await eventually(lambda: self.feed_shows_venue_book(token))

    async def admin_order(self, account: str, token: str, side: str, price: str, size: str) -> None:
        body = {"account": account, "token_id": token, "side": side, "price": price, "size": size}
        await sim_admin(self.running, "POST", "/orders", body)

    def positions_agree(self, token: str) -> bool:
        """Both portfolios hold the same position (shares, cost, fees, realised PnL, status)."""
        return self.paper.portfolio.position(token) == self.live.manager.portfolio.position(token)

    def feed_shows_venue_book(self, token: str) -> bool:
        book = self.feed.book(token)
        venue_book = self.running.simulator.exchange.book(token)  # test-only peek at the engine
        if book is None or not book.trusted or venue_book is None:
            return False
        bids = [BookLevel(price, from_micro(size)) for price, size in reversed(venue_book.levels("BUY"))]
        asks = [BookLevel(price, from_micro(size)) for price, size in reversed(venue_book.levels("SELL"))]
        return book.bids() == bids and book.asks() == asks


def _booked(manager: OrderManager, venue_statuses: list[str]) -> bool:
    """The venue's trades are all CONFIRMED and the manager booked each one, all confirmed."""
    return (
        all(status == TradeStatus.CONFIRMED.value for status in venue_statuses)
        and manager.status()["fills"] == len(venue_statuses)
        and manager.portfolio.pending_fill_count == 0
    )


@contextlib.asynccontextmanager
async def pair_of_managers(
    running: RunningSimulator, http: aiohttp.ClientSession, key: str
) -> AsyncIterator[Pair]:
    async with live(running, http, key) as rig:
        market = rig.market
        # The three refer to each other; the lambdas look their names up when called.
        feed = MarketFeed(
            f"{running.clob_ws_url}/market",
            lambda event: paper_venue.observe(event),  # after the feed applied it, as the engine does
            policy=FAST,
        )
        paper_venue = PaperVenue(
            book_of=feed.book,
            market_of={market.up_token_id: market, market.down_token_id: market}.get,
            sink=lambda event: paper.on_user_event(event),
        )
        paper = manager_for(paper_venue, OrderSigner(throwaway_key(f"paper:{key}")), market, wall_ms)
        await feed.subscribe([market.up_token_id, market.down_token_id])
        task = asyncio.create_task(feed.run())
        try:
            pair = Pair(running, rig, feed, paper_venue, paper)
            await pair.maker_ladder(pair.up, UP_LADDER)
            await pair.maker_ladder(pair.down, DOWN_LADDER)
            yield pair
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await paper.drain(5.0)


def same_fills(paper: Order, venue: Order) -> tuple[OrderState, Decimal, Decimal, Decimal]:
    """Assert both orders ended alike (state, shares, average price, fees); return what they
    share as (state, shares, dollars traded, fees)."""
    assert (paper.state, paper.filled_size, paper.average_fill_price, paper.fees) == (
        venue.state,
        venue.filled_size,
        venue.average_fill_price,
        venue.fees,
    )
    return paper.state, paper.filled_size, traded(paper), paper.fees


def traded(order: Order) -> Decimal:
    """Dollars traded by the order's fills (Σ shares × price), fees aside."""
    return sum((fill.size * fill.price for fill in order.active_fills), D(0))


def without_id(order: Order) -> str:
    return order.reject_reason.replace(order.order_id, "<order id>")


# --- the sequence --------------------------------------------------------------------------------


async def test_the_same_orders_on_the_same_books_fill_alike_on_paper_and_on_the_venue(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str
) -> None:
    async with pair_of_managers(exchange_sim, http, trader_key) as pair:
        paper_start = pair.paper_venue.balance
        sim_start = await pair.sim_balance()
        up, down = pair.up, pair.down
        live = pair.live.manager

        # 1. FOK BUY of 25 walking three ask levels: 0.55 ×10, 0.57 ×10, 0.60 ×5 (of 10).
        paper, venue = await pair.both(pair.intent(down, Side.BUY, "0.60", "25", OrderType.FOK))
        assert (paper.state, paper.filled_size, traded(paper), paper.fees) == (
            OrderState.FILLED,
            D(25),
            D("14.20"),
            D("0.42882"),  # 0.17325 + 0.17157 + 0.08400
        )
        # Documented difference: the simulator spends the whole $15.00 signed. After $11.20 on
        # the first two levels, the $3.80 left buys 6.333333 shares at 0.60: 26.333333 shares
        # for 25 signed. The order refuses that last fill as inconsistent (counted; it stays
        # FILLED at its signed 25) and the portfolio keeps it: the money moved. The portfolio
        # costs that fill at exactly 6.333333 × 0.60 = 3.7999998; the venue charged the dollar
        # leg rounded to a micro-unit, 3.800000.
        assert venue.state is OrderState.FILLED
        assert venue.filled_size == D(25)
        venue_down = live.portfolio.position(down)
        assert (venue_down.quantity, venue_down.cost_basis) == (D("26.333333"), D("14.9999998"))
        assert pair.paper.portfolio.position(down).quantity == D(25)
        inconsistent = live.status()["inconsistent"]  # one per report of it (answer, events)
        assert isinstance(inconsistent, int)
        assert inconsistent >= 1
        assert pair.paper.status()["inconsistent"] == 0
        await pair.maker_ladder(down, DOWN_LADDER)

        # 2. FAK BUY of 30 partly fillable within its limit: 0.40 ×10 and 0.42 ×10, the rest
        # killed. Its dollar leg is left unspent on the simulator too, so both trade 20 shares.
        paper, venue = await pair.both(pair.intent(up, Side.BUY, "0.42", "30", OrderType.FAK))
        assert same_fills(paper, venue) == (OrderState.CANCELLED, D(20), D("8.20"), D("0.33852"))
        assert pair.positions_agree(up)
        await pair.maker_ladder(up, UP_LADDER)

        # 3. FOK SELL of 15 walking two bid levels (0.35 ×10, 0.33 ×5): SELLs trade shares.
        paper, venue = await pair.both(pair.intent(up, Side.SELL, "0.33", "15", OrderType.FOK))
        # 0.15925 + 0.077385 floored (the simulator charged 0.07739: see the cash below).
        assert same_fills(paper, venue) == (OrderState.FILLED, D(15), D("5.15"), D("0.23663"))
        assert pair.positions_agree(up)
        await pair.maker_ladder(up, UP_LADDER)

        # 4. A GTC BUY rests; another account's SELL at its price takes 4; then it is cancelled.
        # On the venue the SELL trades with the live order; paper sees the printed trade at its
        # price, with nothing displayed ahead of it when it started resting: the same fill.
        paper, venue = await pair.both(pair.intent(up, Side.BUY, "0.38", "10", OrderType.GTC))
        assert paper.state is venue.state is OrderState.OPEN
        await pair.admin_order(CROSSER, up, "SELL", "0.38", "4")
        await pair.crossed(paper, venue, D(4))
        assert same_fills(paper, venue) == (OrderState.PARTIALLY_FILLED, D(4), D("1.52"), D(0))
        for manager, order in ((pair.paper, paper), (live, venue)):
            assert manager.cancel(CancelIntent(CancelScope.ORDER, order_id=order.order_id)) == 1
        await eventually(lambda: paper.state is venue.state is OrderState.CANCELLED)
        assert same_fills(paper, venue) == (OrderState.CANCELLED, D(4), D("1.52"), D(0))
        assert pair.positions_agree(up)
        await pair.maker_ladder(up, UP_LADDER)

        # 5. A GTC SELL rests below the ladder's asks; another account's BUY takes all of it.
        paper, venue = await pair.both(pair.intent(up, Side.SELL, "0.39", "5", OrderType.GTC))
        assert paper.state is venue.state is OrderState.OPEN
        await pair.admin_order(CROSSER, up, "BUY", "0.39", "5")
        await pair.crossed(paper, venue, D(5))
        assert same_fills(paper, venue) == (OrderState.FILLED, D(5), D("1.95"), D(0))
        assert pair.positions_agree(up)
        await pair.maker_ladder(up, UP_LADDER)

        # 6. A post-only BUY at the best ask would cross: both refuse it.
        paper, venue = await pair.both(pair.intent(up, Side.BUY, "0.40", "5", OrderType.GTC, post_only=True))
        assert paper.state is venue.state is OrderState.REJECTED
        assert "crosses book" in paper.reject_reason
        assert "crosses book" in venue.reject_reason

        # 7. Under the market's minimum size: both refuse it, in the venue's words.
        paper, venue = await pair.both(pair.intent(up, Side.BUY, "0.30", "3", OrderType.GTC))
        assert paper.state is venue.state is OrderState.REJECTED
        assert "lower than the minimum: 5" in venue.reject_reason
        assert without_id(paper) == without_id(venue)

        # 8. Documented difference: a FOK BUY of exactly the depth within its limit (0.55 ×10,
        # 0.57 ×10, 0.60 ×10). Paper trades the 30 shares for $17.20; the simulator must spend
        # the $18.00 signed, cannot, and kills the order: paper fills a FOK BUY it refuses.
        paper, venue = await pair.both(pair.intent(down, Side.BUY, "0.60", "30", OrderType.FOK))
        assert (paper.state, paper.filled_size, traded(paper), paper.fees) == (
            OrderState.FILLED,
            D(30),
            D("17.20"),
            D("0.51282"),  # 0.17325 + 0.17157 + 0.16800
        )
        assert venue.state is OrderState.REJECTED
        assert "fully filled or killed" in venue.reject_reason

        # The Up token had the same fills on both sides: the same position, cost and PnL.
        paper_up = pair.paper.portfolio.position(up)
        assert paper_up == live.portfolio.position(up)
        assert (paper_up.quantity, paper_up.confirmed_quantity) == (D(4), D(4))  # 20 - 15 + 4 - 5
        held = await pair.live.client.get_balance_allowance("CONDITIONAL", up)
        assert held.balance == pair.paper_venue.position(up) == D(4)

        # Cash, step by step (a SELL brings its proceeds less its fee).
        paper_spent = sum(
            (
                D("14.20") + D("0.42882"),  # 1.
                D("8.20") + D("0.33852"),  # 2.
                -(D("5.15") - D("0.23663")),  # 3.
                D("1.52"),  # 4. a maker: no fee
                -D("1.95"),  # 5. a maker: no fee
                D("17.20") + D("0.51282"),  # 8.
            ),
            D(0),
        )
        sim_spent = sum(
            (
                # 1. the whole dollar leg; the 6.333333 @ 0.60 fill's fee (0.1063999944)
                # rounded half up to 0.10640 where paper and the portfolio floor it to 0.10639
                D("15.00") + D("0.17325") + D("0.17157") + D("0.10640"),
                D("8.20") + D("0.33852"),  # 2.
                -(D("5.15") - D("0.15925") - D("0.07739")),  # 3. 0.077385 rounded half up
                D("1.52"),  # 4.
                -D("1.95"),  # 5.
            ),  # 8. killed
            D(0),
        )
        assert paper_start - pair.paper_venue.balance == paper_spent
        assert sim_start - await pair.sim_balance() == sim_spent

        # Resolution: Up wins. The venue pays its shares; paper settles on the same resolution.
        await sim_admin(pair.running, "POST", f"/markets/{pair.condition_id}/resolve", {"winner": "Up"})
        pair.paper_venue.settle(pair.condition_id, Outcome.UP)
        now = wall_ms()
        for manager in (pair.paper, live):
            manager.settle_market(pair.condition_id, Outcome.UP, now)
        assert pair.paper.portfolio.position(up) == live.portfolio.position(up)
        paper_gain = pair.paper_venue.balance - paper_start
        sim_gain = await pair.sim_balance() - sim_start
        assert (paper_gain, sim_gain) == (D(4) - paper_spent, D(4) - sim_spent)  # 4 winning shares
        assert (await pair.sim_account())["positions"] == {}
        # Each portfolio's net PnL is its account's change, except that the live portfolio books
        # the two floored fees (0.00001 each) and the unrounded 3.7999998 of step 1: it thinks
        # itself 0.0000202 better off than the simulator's account is.
        assert pair.paper.portfolio.realized_pnl - pair.paper.portfolio.fees_paid == paper_gain
        assert live.portfolio.realized_pnl - live.portfolio.fees_paid == sim_gain + D("0.0000202")


# --- settlement ----------------------------------------------------------------------------------


async def test_settlement_moves_paper_and_venue_balances_alike_for_the_same_fills(
    exchange_sim: RunningSimulator, http: aiohttp.ClientSession, trader_key: str
) -> None:
    # The very same fills on both sides (no BUY FOK, every fee exact at 5 decimals): the same
    # money must move, on paper, on the simulator's account and in both portfolios.
    async with pair_of_managers(exchange_sim, http, trader_key) as pair:
        up = pair.up
        paper_start = pair.paper_venue.balance
        sim_start = await pair.sim_balance()
        # 20 shares for $8.20 + $0.33852 fees (FAK, the rest killed).
        await pair.both(pair.intent(up, Side.BUY, "0.42", "30", OrderType.FAK))
        await pair.maker_ladder(up, UP_LADDER)
        # 10 more as a maker at 0.38 (no fee), crossed by another account.
        paper, venue = await pair.both(pair.intent(up, Side.BUY, "0.38", "10", OrderType.GTC))
        await pair.admin_order(CROSSER, up, "SELL", "0.38", "10")
        await pair.crossed(paper, venue, D(10))
        await pair.maker_ladder(up, UP_LADDER)
        # 10 sold at the best bid: $3.50 less a $0.15925 fee.
        await pair.both(pair.intent(up, Side.SELL, "0.35", "10", OrderType.FOK))

        await sim_admin(pair.running, "POST", f"/markets/{pair.condition_id}/resolve", {"winner": "Up"})
        pair.paper_venue.settle(pair.condition_id, Outcome.UP)
        now = wall_ms()
        managers = (pair.paper, pair.live.manager)
        settled = [manager.settle_market(pair.condition_id, Outcome.UP, now) for manager in managers]

        # -8.20 - 0.33852 - 3.80 + 3.50 - 0.15925 + 20 winning shares × $1
        expected_change = D("11.00223")
        assert pair.paper_venue.balance - paper_start == expected_change
        assert await pair.sim_balance() - sim_start == expected_change
        assert settled == [D(12), D(12)]  # 20 shares bought at $0.40 each pay $1 each
        for manager in managers:
            position = manager.portfolio.position(up)
            assert position.settled
            assert position.quantity == 0
            assert manager.portfolio.realized_pnl - manager.portfolio.fees_paid == expected_change
        account = await pair.sim_account()
        assert account["positions"] == {}
        assert account["open_orders"] == []
        assert pair.paper_venue.position(up) == 0
