"""The simulated CLOB: markets, books, order acceptance, matching and trade settlement.

:class:`Exchange` implements :class:`~polyexec.sim.contracts.SimExchange` for the market
driver and everything the REST and websocket layers need. It does no I/O: time comes from
the :class:`~polyexec.sim.contracts.SimClock`, timed work (trade status changes, heartbeat
expiry, GTD expiry) happens when :meth:`Exchange.process_due` is called, and websocket
messages go to the registered :class:`~polyexec.sim.outbox.ExchangeSink` objects.

Matching follows the venue: price-time priority per token, partial fills, each fill at the
resting (maker) order's price so price improvement goes to the taker, the crypto taker fee
``shares × rate × p × (1−p)``. Up and Down are separate books; the simulator does not match a
BUY of Up against a BUY of Down (no mint/merge). A market BUY (FOK/FAK) spends its signed
``makerAmount`` of pUSD; every other order trades a number of shares.

Client orders come in two steps so the REST layer can hold marketable orders for the taker
delay: :meth:`Exchange.prepare` checks everything and claims the order id, then
:meth:`Exchange.submit` re-checks the balance and matches. Cancels cannot reach an order
during the hold because it is not in the book yet.

Everything is deterministic for a given seed: ids come from a seeded RNG and counters.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from polyexec.sim.accounts import Account, Ledger, internal_address, internal_owner
from polyexec.sim.admission import IMMEDIATE, ORDER_TYPES, check_funds, order_terms
from polyexec.sim.book import OrderBook
from polyexec.sim.contracts import SimClock, SimMarket
from polyexec.sim.due_queue import DueQueue
from polyexec.sim.errors import VenueError
from polyexec.sim.heartbeats import HeartbeatMonitor
from polyexec.sim.market_state import MarketState, market_outcome
from polyexec.sim.matching import check_immediate, match_plan, plan_cost
from polyexec.sim.outbox import ExchangeSink, Outbox
from polyexec.sim.records import BUY, SELL, Order, OrderRequest, OrderStatus, Placement, Trade
from polyexec.sim.settlement import (
    Resolutions,
    advance_trade,
    pay_out_resolution,
    settle_matched,
)
from polyexec.sim.units import (
    notional_micro,
    taker_fee_micro,
    to_micro,
)
from polyexec.sim.wire import order_event, trade_event

__all__ = ["Exchange", "ExchangeConfig", "Placement", "internal_owner", "market_outcome"]


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """Tunable venue behaviour. Delays are simulated milliseconds."""

    start_balance: Decimal = Decimal(1000)
    mined_delay_ms: int = 2_000
    confirmed_delay_ms: int = 5_000
    failed_delay_ms: int = 7_000
    failed_fraction: float = 0.0
    heartbeat_timeout_ms: int = 10_000
    heartbeat_buffer_ms: int = 5_000
    gtd_min_lifetime_s: int = 180
    gtd_early_expiry_s: int = 60
    min_marketable_buy: Decimal = Decimal(1)


class Exchange:
    """The matching engine and account keeper; see the module docstring."""

    def __init__(
        self,
        clock: SimClock,
        config: ExchangeConfig | None = None,
        *,
        seed: int = 0,
        ghost_rate: Callable[[], float] | None = None,
    ) -> None:
        self.clock = clock
        self.config = config or ExchangeConfig()
        self._rng = random.Random(seed)  # noqa: S311  # reproducible ids, not secrets
        self._ghost_rate = ghost_rate
        self._seq = itertools.count(1)
        self.ledger = Ledger(to_micro(self.config.start_balance))
        self._markets: dict[str, MarketState] = {}
        self._token_market: dict[str, MarketState] = {}
        self._orders: dict[str, Order] = {}
        self._seen_ids: set[str] = set()
        self._open_by_owner: dict[str, dict[str, Order]] = {}
        self._trades: dict[str, Trade] = {}
        self._trades_by_owner: dict[str, list[Trade]] = {}
        self._trade_timers = DueQueue()
        self._expiries = DueQueue()
        self._resolutions = Resolutions()
        self.heartbeats = HeartbeatMonitor(
            self.new_uuid, self.config.heartbeat_timeout_ms, self.config.heartbeat_buffer_ms
        )
        self._sinks: list[ExchangeSink] = []

    # -- ids and plumbing -------------------------------------------------------------------

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _new_hash(self) -> str:
        return "0x" + self._rng.getrandbits(256).to_bytes(32, "big").hex()

    def add_sink(self, sink: ExchangeSink) -> None:
        self._sinks.append(sink)

    def _flush(self, out: Outbox) -> None:
        out.flush(self, self._sinks, self.clock.now_ms())

    # -- markets (SimExchange) --------------------------------------------------------------

    def add_market(self, market: SimMarket) -> None:
        """Open a market's two books for trading (idempotent)."""
        if market.condition_id in self._markets:
            return
        state = MarketState(market)
        self._markets[market.condition_id] = state
        self._token_market[market.up_token_id] = state
        self._token_market[market.down_token_id] = state

    def markets(self) -> list[SimMarket]:
        """Every market ever added, resolved ones included."""
        return [state.market for state in self._markets.values()]

    def market(self, condition_id: str) -> SimMarket | None:
        state = self._markets.get(condition_id)
        return state.market if state is not None else None

    def market_state(self, condition_id: str) -> MarketState | None:
        return self._markets.get(condition_id)

    def market_of(self, asset_id: str) -> SimMarket | None:
        state = self._token_market.get(asset_id)
        return state.market if state is not None else None

    def book(self, asset_id: str) -> OrderBook | None:
        """The token's book, or ``None`` if unknown or resolved (the venue answers 404)."""
        state = self._token_market.get(asset_id)
        if state is None or state.resolved:
            return None
        return state.books[asset_id]

    def tick_size(self, asset_id: str) -> Decimal:
        state = self._token_market.get(asset_id)
        if state is None:
            raise KeyError(f"unknown token id {asset_id}")
        return state.tick

    def last_trade_price(self, asset_id: str) -> Decimal | None:
        state = self._token_market.get(asset_id)
        last = state.last_trade.get(asset_id) if state is not None else None
        return last[0] if last is not None else None

    def last_trade(self, asset_id: str) -> tuple[Decimal, str] | None:
        state = self._token_market.get(asset_id)
        return state.last_trade.get(asset_id) if state is not None else None

    def retick(self, condition_id: str) -> tuple[Decimal, Decimal] | None:
        state = self._markets.get(condition_id)
        return state.retick() if state is not None and not state.resolved else None

    def best_bid_ask(self, token_id: str) -> tuple[Decimal | None, Decimal | None]:
        """Current best bid and ask of a token's book (``None`` for an empty side)."""
        book = self.book(token_id)
        if book is None:
            return None, None
        return book.best_bid(), book.best_ask()

    def resolve_market(self, condition_id: str, winning_outcome: str, final_price: Decimal) -> None:
        """Close the market: cancel its open orders (CANCELED_MARKET_RESOLVED), pay $1 per
        winning share, mark it resolved. ``winning_outcome`` is "Up" or "Down"."""
        state = self._markets.get(condition_id)
        if state is None:
            raise KeyError(f"unknown market {condition_id}")
        if winning_outcome not in ("Up", "Down"):
            raise ValueError(f"winning outcome must be 'Up' or 'Down' (got {winning_outcome!r})")
        if state.resolved:
            return
        out = Outbox()
        for book in state.books.values():
            for order in list(book.orders()):
                self._cancel(order, OrderStatus.CANCELED_MARKET_RESOLVED, out)
        market = state.market
        winner, loser = (
            (market.up_token_id, market.down_token_id)
            if winning_outcome == "Up"
            else (market.down_token_id, market.up_token_id)
        )
        state.resolve(winning_outcome, final_price)
        self._resolutions.resolve(winner, loser)
        pay_out_resolution(self.ledger, winner, loser)
        self._flush(out)

    # -- client orders ----------------------------------------------------------------------

    def prepare(self, request: OrderRequest) -> Order:
        """Check a signed client order against the market and the account and claim its id.

        Raises :class:`~polyexec.sim.errors.VenueError` with the venue's message. The order is
        not in the book yet: call :meth:`submit` (after the taker delay if
        :meth:`is_marketable`)."""
        oid = request.id
        state = self._open_state(request.asset_id, oid)
        market = state.market
        terms = order_terms(
            request,
            tick=state.tick,
            min_size=market.min_size,
            min_marketable_buy=self.config.min_marketable_buy,
            now_s=self.clock.now(),
            gtd_min_lifetime_s=self.config.gtd_min_lifetime_s,
        )
        if oid in self._seen_ids:
            raise VenueError(
                f"order {oid} is invalid. Duplicated.", code="INVALID_ORDER_DUPLICATED", order_id=oid
            )
        book = state.books[request.asset_id]
        if request.post_only and book.crosses(request.side, terms.price):
            raise VenueError(
                "invalid post-only order: order crosses book", code="INVALID_POST_ONLY_ORDER", order_id=oid
            )
        order = Order(
            id=oid,
            seq=next(self._seq),
            owner=request.owner,
            account=request.maker.lower(),
            maker_address=request.maker,
            signer=request.signer,
            market=market.condition_id,
            asset_id=request.asset_id,
            outcome=market_outcome(market, request.asset_id),
            side=request.side,
            price=terms.price,
            original_size=terms.shares,
            order_type=request.order_type,
            created_ms=self.clock.now_ms(),
            post_only=request.post_only,
            expiration=terms.expiration,
            budget=terms.budget,
        )
        self._check_funds(order, None)
        self._seen_ids.add(oid)
        return order

    def abandon(self, order: Order) -> None:
        """Forget a prepared order that will never be submitted (the engine timed out before
        the book saw it): its id is free again, so the same signed order may be resent."""
        self._seen_ids.discard(order.id)

    def is_marketable(self, order: Order) -> bool:
        """Would ``order`` trade on arrival (and so be held for the taker delay)?"""
        book = self.book(order.asset_id)
        return book is not None and book.crosses(order.side, order.price)

    def submit(self, order: Order) -> Placement:
        """Match a prepared order and rest what is left (GTC/GTD). Raises
        :class:`~polyexec.sim.errors.VenueError` for FOK/FAK orders that cannot trade and when
        the balance no longer covers the order."""
        state = self._open_state(order.asset_id, order.id)
        plan = match_plan(state.books[order.asset_id], order)
        check_immediate(order, plan)
        self._check_funds(order, plan_cost(order, plan, state.market.fee_rate))
        out = Outbox()
        self._register(order, out)
        trades = self._execute(order, plan, out)
        self._finish_taker(order, out)
        self._flush(out)
        return Placement(order, trades)

    def _open_state(self, asset_id: str, oid: str) -> MarketState:
        state = self._token_market.get(asset_id)
        if state is None:
            raise VenueError(f"market not found for token id {asset_id}", status=404, order_id=oid)
        if state.resolved:
            raise VenueError(
                "the market is not yet ready to process new orders", code="MARKET_NOT_READY", order_id=oid
            )
        return state

    def _check_funds(self, order: Order, taker_cost: int | None) -> None:
        if not order.internal:
            check_funds(order, self.ledger.open(order.account), taker_cost)

    def _register(self, order: Order, out: Outbox) -> None:
        self._orders[order.id] = order
        if not order.internal:  # internal ids are random: they cannot be resent
            self._seen_ids.add(order.id)
            self.ledger.open(order.account).orders.append(order)
        out.user(order.owner, order.market, order_event(order, "PLACEMENT", self.clock.now_ms()))

    def _execute(self, taker: Order, plan: list[tuple[Order, int]], out: Outbox) -> list[Trade]:
        state = self._token_market[taker.asset_id]
        book = state.books[taker.asset_id]
        trades: list[Trade] = []
        now_ms = self.clock.now_ms()
        for maker, qty in plan:
            out.touch(state.market.condition_id, taker.asset_id, book)
            book.fill(maker, qty)
            maker.size_matched += qty
            trade = self._make_trade(taker, maker, qty, now_ms)
            taker.size_matched += qty
            if taker.budget is not None:
                taker.spent += trade.notional
            maker.associate_trades.append(trade.id)
            taker.associate_trades.append(trade.id)
            if maker.remaining == 0:
                maker.status = OrderStatus.MATCHED
                self._close(maker)
            out.level(taker.asset_id, maker.side, maker.price, maker.id)
            out.user(maker.owner, maker.market, order_event(maker, "UPDATE", now_ms))
            state.last_trade[taker.asset_id] = (trade.price, trade.side)
            settle_matched(self.ledger, trade)
            out.trade(trade)
            self._announce_trade(trade, out)
            trades.append(trade)
        return trades

    def _make_trade(self, taker: Order, maker: Order, qty: int, now_ms: int) -> Trade:
        market = self._token_market[taker.asset_id].market
        rate = self._ghost_rate() if self._ghost_rate is not None else self.config.failed_fraction
        fails = self._rng.random() < rate
        trade = Trade(
            id=self.new_uuid(),
            market=market.condition_id,
            asset_id=taker.asset_id,
            outcome=taker.outcome,
            taker_order=taker,
            maker_order=maker,
            side=taker.side,
            price=maker.price,
            size=qty,
            notional=notional_micro(qty, maker.price),
            fee=taker_fee_micro(qty, maker.price, market.fee_rate),
            match_ms=now_ms,
            fails=fails,
            last_update_ms=now_ms,
        )
        delay = self.config.failed_delay_ms if fails else self.config.mined_delay_ms
        self._schedule_trade(trade, now_ms + delay)
        self._trades[trade.id] = trade
        for owner in {o.owner for o in (taker, maker) if not o.internal}:
            self._trades_by_owner.setdefault(owner, []).append(trade)
        for order in (taker, maker):
            if not order.internal:
                account = self.ledger.open(order.account)
                if not account.trades or account.trades[-1] is not trade:  # self-trade: once
                    account.trades.append(trade)
        return trade

    def _schedule_trade(self, trade: Trade, due_ms: int) -> None:
        trade.due_ms = due_ms
        self._trade_timers.push(due_ms, trade.id)

    def _announce_trade(self, trade: Trade, out: Outbox) -> None:
        now_ms = self.clock.now_ms()
        taker_owner = trade.taker_order.owner
        out.user(taker_owner, trade.market, trade_event(trade, taker_owner, now_ms))
        maker_owner = trade.maker_order.owner
        if maker_owner != taker_owner:
            out.user(maker_owner, trade.market, trade_event(trade, maker_owner, now_ms))

    def _finish_taker(self, order: Order, out: Outbox) -> None:
        """After matching: mark a filled order MATCHED, kill a FOK/FAK rest, or rest the rest."""
        now_ms = self.clock.now_ms()
        state = self._token_market[order.asset_id]
        if order.budget is not None:
            done = order.budget - order.spent <= 1  # a budget never divides into whole micro-shares
        else:
            done = order.remaining == 0
        if done:
            order.status = OrderStatus.MATCHED
        if order.size_matched:
            out.user(order.owner, order.market, order_event(order, "UPDATE", now_ms))
        if done:
            self._close(order)
            return
        if order.order_type in IMMEDIATE:
            # FOK/FAK never rest: whatever did not trade is killed.
            order.status = OrderStatus.CANCELED
            out.user(order.owner, order.market, order_event(order, "CANCELLATION", now_ms))
            self._close(order)
            return
        book = state.books[order.asset_id]
        out.touch(order.market, order.asset_id, book)
        book.add(order)
        self._open_by_owner.setdefault(order.owner, {})[order.id] = order
        if not order.internal:
            self.ledger.open(order.account).open_orders[order.id] = order
        out.level(order.asset_id, order.side, order.price, order.id)
        if order.order_type == "GTD":
            effective_ms = (order.expiration - self.config.gtd_early_expiry_s) * 1000
            self._expiries.push(effective_ms, order.id)

    def _close(self, order: Order) -> None:
        """Forget an order that is no longer open (filled or cancelled) in the open indexes.
        A closed internal order is forgotten altogether, so a long run does not pile up the
        background flow's history."""
        self._open_by_owner.get(order.owner, {}).pop(order.id, None)
        if order.internal:
            self._orders.pop(order.id, None)
        else:
            account = self.ledger.get(order.account)
            if account is not None:
                account.open_orders.pop(order.id, None)

    def _cancel(self, order: Order, status: str, out: Outbox) -> None:
        state = self._token_market[order.asset_id]
        book = state.books[order.asset_id]
        out.touch(order.market, order.asset_id, book)
        book.remove(order)
        order.status = status
        self._close(order)
        out.level(order.asset_id, order.side, order.price, order.id)
        out.user(order.owner, order.market, order_event(order, "CANCELLATION", self.clock.now_ms()))

    # -- background orders (SimExchange) ----------------------------------------------------

    def place_background_order(
        self, account: str, token_id: str, side: str, price: Decimal, size: Decimal, order_type: str = "GTC"
    ) -> str:
        """Place an unsigned order for a simulator-internal account: it matches and rests like
        a client order (without the taker delay) and shows on the market channel. Internal
        accounts have unlimited pUSD and shares. ``size`` is in shares for every order type.
        Returns the order id; raises ``ValueError`` when the venue would refuse the order."""
        if side not in (BUY, SELL):
            raise ValueError(f"side must be BUY or SELL (got {side!r})")
        if order_type not in ORDER_TYPES - {"GTD"}:
            raise ValueError(f"background orders are GTC, FOK or FAK (got {order_type!r})")
        state = self._token_market.get(token_id)
        if state is None or state.resolved:
            raise ValueError(f"token {token_id} is not trading")
        tick = state.tick
        if price % tick != 0 or not tick <= price <= 1 - tick:
            raise ValueError(f"price {price} breaks the tick size {tick}")
        shares = to_micro(size)
        if shares <= 0:
            raise ValueError(f"size must be positive (got {size})")
        order = Order(
            id=self._new_hash(),
            seq=next(self._seq),
            owner=internal_owner(account),
            account=internal_address(account).lower(),
            maker_address=internal_address(account),
            signer=internal_address(account),
            market=state.market.condition_id,
            asset_id=token_id,
            outcome=market_outcome(state.market, token_id),
            side=side,
            price=price,
            original_size=shares,
            order_type=order_type,
            created_ms=self.clock.now_ms(),
            internal=True,
        )
        try:
            self.submit(order)
        except VenueError as exc:
            raise ValueError(exc.message) from exc
        return order.id

    def cancel_background_orders(self, account: str, token_id: str | None = None) -> int:
        """Cancel an internal account's open orders (on one token or all); returns the count."""
        owner = internal_owner(account)
        orders = [
            o
            for o in self._open_by_owner.get(owner, {}).values()
            if token_id is None or o.asset_id == token_id
        ]
        return len(self._cancel_many(orders, OrderStatus.CANCELED))

    def _cancel_many(self, orders: list[Order], status: str) -> list[str]:
        out = Outbox()
        for order in orders:
            self._cancel(order, status, out)
        self._flush(out)
        return [order.id for order in orders]

    # -- cancels and queries for API keys ---------------------------------------------------

    def cancel(self, owner: str, order_ids: list[str]) -> tuple[list[str], dict[str, str]]:
        """Cancel ``owner``'s orders by id: ``(canceled, not_canceled{id: reason})``."""
        to_cancel: list[Order] = []
        refused: dict[str, str] = {}
        for oid in dict.fromkeys(order_ids):
            order = self._orders.get(oid)
            if order is not None and order.owner == owner and order.is_open:
                to_cancel.append(order)
            elif order is not None and order.owner == owner and order.status == OrderStatus.MATCHED:
                refused[oid] = "Order already matched"
            else:
                refused[oid] = "Order not found or already canceled"
        return self._cancel_many(to_cancel, OrderStatus.CANCELED), refused

    def cancel_all(self, owner: str) -> list[str]:
        return self._cancel_many(list(self._open_by_owner.get(owner, {}).values()), OrderStatus.CANCELED)

    def cancel_market(self, owner: str, market: str = "", asset_id: str = "") -> list[str]:
        orders = [
            o
            for o in self._open_by_owner.get(owner, {}).values()
            if (not market or o.market == market) and (not asset_id or o.asset_id == asset_id)
        ]
        return self._cancel_many(orders, OrderStatus.CANCELED)

    def order(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def open_orders(self, owner: str) -> list[Order]:
        return sorted(self._open_by_owner.get(owner, {}).values(), key=lambda o: o.seq)

    def trades_of(self, owner: str) -> list[Trade]:
        return list(self._trades_by_owner.get(owner, []))

    def trade(self, trade_id: str) -> Trade | None:
        return self._trades.get(trade_id)

    def heartbeat(self, owner: str, heartbeat_id: str) -> str:
        """A valid heartbeat returns the next id; see :class:`~polyexec.sim.heartbeats.HeartbeatMonitor`."""
        return self.heartbeats.beat(owner, heartbeat_id, self.clock.now_ms())

    # -- timed work ---------------------------------------------------------------------------

    def process_due(self) -> int:
        """Run everything due by now: trade status changes, heartbeat lapses and GTD expiries.
        Returns how many things happened."""
        now_ms = self.clock.now_ms()
        out = Outbox()
        done = self._advance_trades(now_ms, out)
        for owner in self.heartbeats.lapsed(now_ms):
            for order in list(self._open_by_owner.get(owner, {}).values()):
                self._cancel(order, OrderStatus.CANCELED, out)
            done += 1
        while (entry := self._expiries.pop_due(now_ms)) is not None:
            order = self._orders[entry[1]]
            if order.is_open:
                self._cancel(order, OrderStatus.CANCELED_EXPIRED_ORDER, out)
                done += 1
        self._flush(out)
        return done

    def settle_all(self) -> int:
        """Run every pending trade to its final status now, whatever the delays (tests/admin)."""
        out = Outbox()
        done = self._advance_trades(None, out)
        self._flush(out)
        return done

    def _advance_trades(self, now_ms: int | None, out: Outbox) -> int:
        done = 0
        while (entry := self._trade_timers.pop_due(now_ms)) is not None:
            due_ms, trade_id = entry
            trade = self._trades[trade_id]
            scheduled: int | None = trade.due_ms
            if scheduled != due_ms:
                continue  # a stale timer entry
            at_ms = due_ms if now_ms is not None else max(due_ms, self.clock.now_ms())
            if advance_trade(
                self.ledger, trade, at_ms, self._resolutions, self._new_hash(), self.config.confirmed_delay_ms
            ):
                if trade.due_ms is not None:
                    self._trade_timers.push(trade.due_ms, trade.id)
                elif trade.taker_order.internal and trade.maker_order.internal:
                    del self._trades[trade.id]  # final, and no client will ever ask for it
                self._announce_trade(trade, out)
                done += 1
        return done

    def next_due_ms(self) -> int | None:
        """When :meth:`process_due` next has work (``None``: nothing scheduled)."""
        candidates = [t for t in (self._trade_timers.next_ms(), self._expiries.next_ms()) if t is not None]
        deadline = self.heartbeats.next_deadline_ms()
        if deadline is not None:
            candidates.append(deadline + 1)
        return min(candidates) if candidates else None

    # -- accounts -------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """How much the exchange holds in memory (for ``/sim/status``)."""
        return {
            "markets": len(self._markets),
            "orders": len(self._orders),
            "open_orders": sum(len(orders) for orders in self._open_by_owner.values()),
            "trades": len(self._trades),
            "pending_trades": len(self._trade_timers),
            "accounts": len(self.ledger.accounts()),
        }

    def account(self, address: str) -> Account | None:
        return self.ledger.get(address)
