"""The paper exchange: the synchronous core of :class:`~polyexec.venues.paper_venue.PaperVenue`.

:class:`PaperExchange` keeps paper trading's account, orders and trades and applies the rules
below; it does no I/O and never awaits (``clock`` gives the time; the taker delay is the async
façade's). Paper must not flatter a strategy: every rule errs against us.

Venue checks (:meth:`~PaperExchange.admit`, in this order, the venue's texts, docs §2.4, §4.7)
    amounts not positive; unknown token (404); a settled market (``MARKET_NOT_READY``); GTC/GTD
    off the current tick (the book's, else the market's) or under the minimum size; FOK/FAK
    with a limit outside (0, 1), or a marketable BUY under ``min_marketable_buy`` ($1, as users
    report and the simulator applies); a GTD expiring before now + 180 s; no book, or an
    untrusted one (a paper-only refusal); post-only crossing the displayed book; ``not enough
    balance / allowance``: a BUY needs its notional at the limit plus, if it would trade, the
    taker fee at the limit (a share's cost rises with its price, so this bounds any walk), a
    SELL its shares, and what resting orders reserve is not available.

Takers (:meth:`~PaperExchange.submit`: the marketable part of any order)
    After the taker delay, everything is checked again against the **current** book and the
    exact cost (notional, taker fees, and the reserve of what will rest). The walk goes from
    the best level to the limit, each level at its own price (price improvement to the taker),
    taking no more than a level displays less what earlier paper fills took from it
    (:class:`~polyexec.venues.paper_fills.LiquidityUse`: the live book is the venue's and we
    are small, so it is not consumed, but displayed shares are never used twice). FOK fills
    all or is refused; FAK fills what is there and cancels the rest (refused if nothing);
    GTC/GTD rest the remainder. Orders trade **shares**: a BUY gets at most its signed share
    leg, FOK/FAK included (the simulator instead spends a market BUY's whole dollar leg). The
    taker fee is :func:`~polyexec.core.pricing.fee_for_fill` with the market's schedule.

Resting orders (makers; no fee on taker-only schedules) fill only when the market shows they
would have traded (:meth:`~PaperExchange.observe`): a printed trade whose taker is on the other
side, strictly through our price, fills us up to its size; one exactly at our price first eats
the size displayed ahead of us when we started resting (cancellations are assumed to be behind
us), and only its excess fills us; a trusted book whose opposite side reaches our price fills
us with what those levels show, less what paper already took. Fills are at our price. A GTD
order ends at the venue's effective expiry, ``gtd_early_expiry_s`` (60 s) before its
expiration, checked against observed event times and the clock on every call. Our orders never
see each other: paper does not self-match.

Events and settlement: per order PLACEMENT (LIVE), one MATCHED trade per fill, an UPDATE with
the cumulative size matched (MATCHED once complete), a CANCELLATION for a FAK/FOK rest, a
cancel, an expiry (``CANCELED_EXPIRED_ORDER``) or a resolution. Each trade goes MINED and then
CONFIRMED ``settle_delay_s`` after its match (no chain here; MINED is sent so the engine walks
the live path). As on chain, what a trade gives leaves at the match and what it brings arrives
at settlement. Events reach ``sink`` synchronously, in order; a sink that raises is counted
(:attr:`~PaperExchange.sink_errors`), never fatal. :meth:`~PaperExchange.settle` pays $1 per
winning share and cancels the market's resting orders (``CANCELED_MARKET_RESOLVED``); its
orders and trades are forgotten ``history_retention_s`` later: memory stays bounded.

Money is integer 6-decimal units inside, :class:`~decimal.Decimal` outside; a dollar leg that
needs more than 6 decimals (a fill of micro-shares) is rounded against us.
"""

from __future__ import annotations

import heapq
import itertools
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final

from polyexec.core.events import (
    BestBidAsk,
    BookSnapshot,
    FeedEvent,
    LastTradePrice,
    PriceChange,
    UserOrderEventKind,
    UserTradeEvent,
)
from polyexec.core.models import BookLevel, Liquidity, Market, OrderType, Outcome, Side, TradeStatus
from polyexec.core.order_book import OrderBook
from polyexec.core.pricing import Rounding, from_units, is_valid_price, taker_fee, to_units
from polyexec.logging_setup import get_logger
from polyexec.venues.clob_public import check_hex_id
from polyexec.venues.clob_responses import CancelResult, PostOrderResult
from polyexec.venues.order_signer import SignedOrder
from polyexec.venues.paper_fills import (
    CANCELED,
    CANCELED_EXPIRED_ORDER,
    CANCELED_MARKET_RESOLVED,
    FAK_TEXT,
    FOK_TEXT,
    MATCHED,
    LevelFill,
    LiquidityUse,
    OrderTerms,
    PaperConfig,
    PaperOrder,
    allocate_crossing,
    allocate_trade,
    balance_refusal,
    buy_reserve_units,
    fee_units,
    notional_units,
    order_event,
    order_refusal,
    plan_taker,
    size_refusal,
    terms_of,
    tick_refusal,
    trade_event,
)

__all__ = ["RESOLVED_MEMORY", "Admitted", "PaperExchange"]

_log = get_logger(module=__name__)

RESOLVED_MEMORY: Final = 10_000
"""Settled condition ids remembered to refuse late orders (about a month of 15m windows)."""


@dataclass(slots=True)
class _Trade:
    """One of our fills: its event at its current status, and what it brings at settlement."""

    event: UserTradeEvent
    cash_in: int
    shares_in: int


@dataclass(frozen=True, slots=True)
class Admitted:
    """An order that passed :meth:`PaperExchange.admit`; ``marketable``: it would trade now."""

    order: SignedOrder
    kind: OrderType
    terms: OrderTerms
    marketable: bool


class PaperExchange:
    """Paper trading's account, orders and fills (see the module docstring for every rule)."""

    def __init__(
        self,
        *,
        book_of: Callable[[str], OrderBook | None],
        market_of: Callable[[str], Market | None],
        sink: Callable[[FeedEvent], None],
        clock: Callable[[], float],
        config: PaperConfig | None = None,
    ) -> None:
        self.config = config or PaperConfig()
        self._book_of = book_of
        self._market_of = market_of
        self._sink = sink
        self._clock = clock
        self._cash = to_units(self.config.starting_balance, rounding=Rounding.DOWN)
        self._shares: dict[str, int] = {}
        self._orders: dict[str, PaperOrder] = {}
        self._resting: dict[str, dict[str, PaperOrder]] = {}  # token → id → open order
        self._trades: dict[str, _Trade] = {}
        self._markets: dict[str, Market] = {}  # token → market, for every token we traded
        self._resolved: OrderedDict[str, None] = OrderedDict()
        self._forget_at: list[tuple[float, str]] = []  # (when, condition id)
        self._expiries: list[tuple[float, int, str]] = []  # (effective expiry, seq, order id)
        self._settlements: list[tuple[float, int, str]] = []  # (due, seq, trade id)
        self._seq = itertools.count(1)
        self._use = LiquidityUse()
        self.sink_errors = 0
        """Events the sink raised on (counted and logged; the exchange's state is unaffected)."""
        self.skipped_events = 0
        """Observed trades that could not be used (a non-positive size, a price outside (0, 1))."""

    # -- account -------------------------------------------------------------------------------

    @property
    def balance(self) -> Decimal:
        """pUSD held (what resting BUYs reserve included; proceeds not yet settled excluded)."""
        return from_units(self._cash)

    def position(self, token_id: str) -> Decimal:
        """Settled shares of ``token_id`` held."""
        return from_units(self._shares.get(token_id, 0))

    def positions(self) -> dict[str, Decimal]:
        """Every token with settled shares held."""
        return {token: from_units(units) for token, units in self._shares.items()}

    def stats(self) -> dict[str, int]:
        """How much the exchange holds in memory, for the status page and tests."""
        return {
            "orders": len(self._orders),
            "open_orders": sum(len(orders) for orders in self._resting.values()),
            "trades": len(self._trades),
            "pending_settlements": sum(
                1 for t in self._trades.values() if t.event.status is TradeStatus.MATCHED
            ),
            "used_levels": len(self._use),
            "resolved_markets": len(self._resolved),
        }

    def order(self, order_id: str) -> PaperOrder | None:
        """An accepted order (open or finished), ``None`` if unknown or forgotten."""
        return self._orders.get(order_id)

    def open_orders(self, condition_id: str = "", token_id: str = "") -> list[PaperOrder]:
        """Resting orders, oldest first, optionally of one market and/or token."""
        return sorted(
            (
                order
                for resting in self._resting.values()
                for order in resting.values()
                if (not condition_id or order.market.condition_id == condition_id)
                and (not token_id or order.token_id == token_id)
            ),
            key=lambda order: order.seq,
        )

    def trades(self) -> list[UserTradeEvent]:
        """Every remembered trade at its current status, newest first."""
        return [trade.event for trade in reversed(self._trades.values())]

    # -- placing orders ------------------------------------------------------------------------

    def admit(self, order: SignedOrder, kind: OrderType, post_only: bool) -> Admitted:
        """Every check that needs no walk, in the venue's order; :class:`DefinitiveReject`."""
        oid = order.order_id
        try:
            terms = terms_of(order)
        except ValueError:
            raise order_refusal(f"order {oid} is invalid. Amounts must be positive") from None
        market = self._open_market(order.token_id)
        book = self._book_of(order.token_id)
        tick = book.tick_size if book is not None and book.tick_size is not None else market.tick_size
        config = self.config
        if kind.is_marketable_only:
            if terms.usd_units >= terms.share_units:
                raise tick_refusal(oid, terms.price, tick)
            if terms.side is Side.BUY and from_units(terms.usd_units) < config.min_marketable_buy:
                raise size_refusal(oid, from_units(terms.usd_units), config.min_marketable_buy)
        else:
            if not (terms.exact_price and is_valid_price(terms.price, tick)):
                raise tick_refusal(oid, terms.price, tick)
            if terms.size < market.min_size:
                raise size_refusal(oid, terms.size, market.min_size)
        if kind is OrderType.GTD and order.expiration_s < self._clock() + config.gtd_min_lifetime_s:
            raise order_refusal("invalid expiration", code="INVALID_ORDER_EXPIRATION")
        book = self._trusted_book(order.token_id)
        opposite = book.best_ask() if terms.side is Side.BUY else book.best_bid()
        if post_only and terms.crosses(opposite):
            raise order_refusal("invalid post-only order: order crosses book", code="INVALID_POST_ONLY_ORDER")
        levels = _opposite_levels(book, terms.side)
        marketable = bool(plan_taker(terms, order.token_id, levels, self._use, market.fee))
        if terms.side is Side.BUY:
            fee_bound = (
                taker_fee(terms.size, terms.price, market.fee, rounding=Rounding.UP) if marketable else 0
            )
            self._check_cash(terms.usd_units + to_units(fee_bound))
        else:
            self._check_shares(order.token_id, terms.share_units)
        return Admitted(order, kind, terms, marketable)

    def submit(self, admitted: Admitted) -> PostOrderResult:
        """Walk the current book, check the exact cost, execute: the venue's answer, or
        :class:`DefinitiveReject` (FOK/FAK that cannot trade, funds gone, book lost)."""
        order, kind, terms = admitted.order, admitted.kind, admitted.terms
        token = order.token_id
        market = self._open_market(token)
        book = self._trusted_book(token)
        fills = plan_taker(terms, token, _opposite_levels(book, terms.side), self._use, market.fee)
        filled = sum(fill.share_units for fill in fills)
        if kind is OrderType.FOK and filled < terms.share_units:
            raise order_refusal(FOK_TEXT, code="FOK_ORDER_NOT_FILLED_ERROR")
        if kind is OrderType.FAK and filled == 0:
            raise order_refusal(FAK_TEXT)
        rest = 0 if kind.is_marketable_only else terms.share_units - filled
        if terms.side is Side.BUY:
            cost = sum(fill.usd_units + fill.fee_units for fill in fills)
            self._check_cash(cost + buy_reserve_units(rest, terms.price, market.fee))
        else:
            self._check_shares(token, filled + rest)
        now_s = self._clock()
        now_ms = int(now_s * 1000)
        paper = PaperOrder(
            order_id=order.order_id,
            seq=next(self._seq),
            market=market,
            token_id=token,
            terms=terms,
            order_type=kind,
            expiration_s=order.expiration_s if kind is OrderType.GTD else 0,
            created_at_ms=now_ms,
            maker_address=order.maker,
        )
        self._orders[paper.order_id] = paper
        self._markets[token] = market
        self._emit(order_event(paper, UserOrderEventKind.PLACEMENT, now_ms))
        trade_ids = [self._take(paper, fill, now_s, now_ms) for fill in fills]
        if paper.remaining_units == 0:
            paper.status = MATCHED
        if paper.matched_units:
            self._emit(order_event(paper, UserOrderEventKind.UPDATE, now_ms))
        if paper.remaining_units and kind.is_marketable_only:
            paper.status = CANCELED
            self._emit(order_event(paper, UserOrderEventKind.CANCELLATION, now_ms))
        elif paper.remaining_units:
            self._rest(paper, book)
        self.process_due()
        usd = sum(fill.usd_units for fill in fills)
        shares_first = terms.side is Side.SELL  # a SELL makes shares and takes dollars
        return PostOrderResult(
            order_id=paper.order_id,
            status="matched" if fills else "live",
            success=True,
            error="",
            making_amount=from_units(filled if shares_first else usd),
            taking_amount=from_units(usd if shares_first else filled),
            trade_ids=tuple(trade_ids),
            transaction_hashes=(),
        )

    def _open_market(self, token_id: str) -> Market:
        market = self._market_of(token_id)
        if market is None:
            raise order_refusal(f"market not found for token id {token_id}", status=404)
        if market.condition_id in self._resolved:
            raise order_refusal("the market is not yet ready to process new orders", code="MARKET_NOT_READY")
        return market

    def _trusted_book(self, token_id: str) -> OrderBook:
        book = self._book_of(token_id)
        if book is None or not book.trusted:
            why = "no book" if book is None else f"untrusted: {book.untrusted_reason}"
            raise order_refusal(
                f"paper venue: no trusted order book for token {token_id} ({why}); paper fills only"
                " against a trusted live book",
                code="PAPER_NO_TRUSTED_BOOK",
            )
        return book

    def _check_cash(self, need: int) -> None:
        reserved = sum(
            buy_reserve_units(order.remaining_units, order.price, order.market.fee)
            for resting in self._resting.values()
            for order in resting.values()
            if order.side is Side.BUY
        )
        if need > self._cash - reserved:
            raise balance_refusal(self._cash - reserved, need)

    def _check_shares(self, token_id: str, need: int) -> None:
        resting = self._resting.get(token_id, {})
        reserved = sum(order.remaining_units for order in resting.values() if order.side is Side.SELL)
        have = self._shares.get(token_id, 0) - reserved
        if need > have:
            raise balance_refusal(have, need)

    def _take(self, order: PaperOrder, fill: LevelFill, now_s: float, now_ms: int) -> str:
        """Execute one level of a taker walk: take the liquidity, move the money, report it."""
        self._use.take(order.token_id, order.side.opposite, fill.price, fill.share_units)
        if order.side is Side.BUY:
            self._cash -= fill.usd_units + fill.fee_units
            cash_in, shares_in = 0, fill.share_units
        else:
            self._add_shares(order.token_id, -fill.share_units)
            cash_in, shares_in = max(0, fill.usd_units - fill.fee_units), 0
        order.matched_units += fill.share_units
        return self._record(order, Liquidity.TAKER, fill.price, fill.share_units, cash_in, shares_in, now_s)

    def _record(
        self,
        order: PaperOrder,
        liquidity: Liquidity,
        price: Decimal,
        units: int,
        cash_in: int,
        shares_in: int,
        now_s: float,
    ) -> str:
        """Report one MATCHED fill and schedule its settlement; returns the trade id."""
        trade_id = str(uuid.uuid4())
        event = trade_event(
            trade_id=trade_id,
            order=order,
            liquidity=liquidity,
            price=price,
            share_units=units,
            counterparty_order_id="0x" + secrets.token_hex(32),
            owner=self.config.owner,
            now_ms=int(now_s * 1000),
        )
        order.trade_ids.append(trade_id)
        self._trades[trade_id] = _Trade(event, cash_in, shares_in)
        heapq.heappush(self._settlements, (now_s + self.config.settle_delay_s, next(self._seq), trade_id))
        self._emit(event)
        return trade_id

    def _rest(self, order: PaperOrder, book: OrderBook) -> None:
        own_side = book.bids() if order.side is Side.BUY else book.asks()
        order.queue_ahead_units = sum(
            to_units(level.size, rounding=Rounding.DOWN) for level in own_side if level.price == order.price
        )
        self._resting.setdefault(order.token_id, {})[order.order_id] = order
        if order.order_type is OrderType.GTD:
            expires_at = float(order.expiration_s - self.config.gtd_early_expiry_s)
            heapq.heappush(self._expiries, (expires_at, order.seq, order.order_id))

    def _close(self, order: PaperOrder, status: str, kind: UserOrderEventKind, now_ms: int) -> None:
        """Take ``order`` off the book with its final ``status``, and report it."""
        order.status = status
        resting = self._resting.get(order.token_id)
        if resting is not None:
            resting.pop(order.order_id, None)
            if not resting:
                del self._resting[order.token_id]
        self._emit(order_event(order, kind, now_ms))

    def _add_shares(self, token_id: str, units: int) -> None:
        held = self._shares.get(token_id, 0) + units
        if held:
            self._shares[token_id] = held
        else:
            self._shares.pop(token_id, None)

    # -- cancels -------------------------------------------------------------------------------

    def cancel(self, order_ids: list[str]) -> CancelResult:
        """Cancel these orders; ``not_canceled`` gives the venue's reason for the others."""
        self.process_due()
        now_ms = int(self._clock() * 1000)
        canceled: list[str] = []
        refused: dict[str, str] = {}
        for order_id in order_ids:
            order = self._orders.get(order_id)
            if order is not None and order.is_open:
                self._close(order, CANCELED, UserOrderEventKind.CANCELLATION, now_ms)
                canceled.append(order_id)
            elif order is not None and order.status == MATCHED:
                refused[order_id] = "Order already matched"
            else:
                refused[order_id] = "Order not found or already canceled"
        return CancelResult(canceled=tuple(canceled), not_canceled=refused)

    # -- maker fills ---------------------------------------------------------------------------

    def observe(self, event: FeedEvent) -> None:
        """Feed every market-channel event here, after the market feed applied it to its book:
        trades and book moves fill resting orders; event times expire GTD orders. Other events
        are ignored. Never raises for bad data (it is counted)."""
        if isinstance(event, LastTradePrice):
            self._expire_due(event.timestamp_ms / 1000)
            self._on_trade(event)
        elif isinstance(event, PriceChange):
            self._expire_due(event.timestamp_ms / 1000)
            for token in dict.fromkeys(change.asset_id for change in event.changes):
                self._on_book(token)
        elif isinstance(event, BookSnapshot | BestBidAsk):
            self._expire_due(event.timestamp_ms / 1000)
            self._on_book(event.asset_id)
        else:
            return
        self.process_due()

    def _makers(self, token_id: str, side: Side) -> list[PaperOrder]:
        orders = self._resting.get(token_id, {})
        return sorted((o for o in orders.values() if o.side is side), key=lambda o: o.priority)

    def _on_trade(self, event: LastTradePrice) -> None:
        if event.asset_id not in self._resting:
            return
        size, price = event.size, event.price
        if not (size.is_finite() and price.is_finite() and size > 0 and 0 < price < 1):
            self.skipped_events += 1
            return
        units = to_units(size, rounding=Rounding.DOWN)
        for order, fill in allocate_trade(self._makers(event.asset_id, event.side.opposite), price, units):
            self._fill_resting(order, fill)

    def _on_book(self, token_id: str) -> None:
        book = self._book_of(token_id)
        self._use.refresh(token_id, book)
        if token_id not in self._resting or book is None or not book.trusted:
            return
        for side in (Side.BUY, Side.SELL):
            makers = self._makers(token_id, side)
            opposite = book.best_ask() if side is Side.BUY else book.best_bid()
            if makers and makers[0].terms.crosses(opposite):
                for order, fill in allocate_crossing(makers, _opposite_levels(book, side), self._use):
                    self._fill_resting(order, fill)

    def _fill_resting(self, order: PaperOrder, units: int) -> None:
        """A maker fill of ``units`` at our price: move the money and report it."""
        now_s = self._clock()
        now_ms = int(now_s * 1000)
        fee = order.market.fee
        if order.side is Side.BUY:
            before = buy_reserve_units(order.remaining_units, order.price, fee)
            after = buy_reserve_units(order.remaining_units - units, order.price, fee)
            self._cash -= before - after  # exactly what was set aside for these shares
            cash_in, shares_in = 0, units
        else:
            self._add_shares(order.token_id, -units)
            proceeds = notional_units(units, order.price, round_up=False)
            cash_in, shares_in = max(0, proceeds - fee_units(units, order.price, fee, Liquidity.MAKER)), 0
        order.matched_units += units
        if order.remaining_units == 0:
            self._close(order, MATCHED, UserOrderEventKind.UPDATE, now_ms)
        else:
            self._emit(order_event(order, UserOrderEventKind.UPDATE, now_ms))
        self._record(order, Liquidity.MAKER, order.price, units, cash_in, shares_in, now_s)

    # -- timed work and settlement -------------------------------------------------------------

    def process_due(self) -> None:
        """Run what is due by the clock: GTD expiries, trade settlements, forgetting the history
        of long-settled markets."""
        now_s = self._clock()
        self._expire_due(now_s)
        while self._settlements and self._settlements[0][0] <= now_s:
            trade = self._trades.get(heapq.heappop(self._settlements)[2])
            if trade is not None:
                self._settle_trade(trade, int(now_s * 1000))
        while self._forget_at and self._forget_at[0][0] <= now_s:
            self._forget_market(heapq.heappop(self._forget_at)[1])

    def _expire_due(self, now_s: float) -> None:
        while self._expiries and self._expiries[0][0] <= now_s:
            order = self._orders.get(heapq.heappop(self._expiries)[2])
            if order is not None and order.is_open:
                self._close(order, CANCELED_EXPIRED_ORDER, UserOrderEventKind.CANCELLATION, int(now_s * 1000))

    def _settle_trade(self, trade: _Trade, now_ms: int) -> None:
        """The trade's chain settlement: what it brings arrives; MINED, then CONFIRMED."""
        if trade.event.status is not TradeStatus.MATCHED:
            return  # settled already (the heap may still hold its entry)
        self._cash += trade.cash_in
        self._add_shares(trade.event.asset_id, trade.shares_in)
        for status in (TradeStatus.MINED, TradeStatus.CONFIRMED):
            trade.event = replace(trade.event, status=status, timestamp_ms=now_ms)
            self._emit(trade.event)

    def settle(self, condition_id: str, winning: Outcome) -> None:
        """The market resolved: cancel its resting orders (``CANCELED_MARKET_RESOLVED``),
        settle its pending trades, pay $1 per winning share and nothing for losing ones, and
        refuse its tokens from now on. Idempotent."""
        winner = Outcome(winning)
        check_hex_id(condition_id, "condition id")
        if condition_id in self._resolved:
            return
        now_s = self._clock()
        now_ms = int(now_s * 1000)
        self._resolved[condition_id] = None
        while len(self._resolved) > RESOLVED_MEMORY:
            self._resolved.popitem(last=False)
        tokens = [token for token, market in self._markets.items() if market.condition_id == condition_id]
        for token in tokens:
            for order in sorted(self._resting.get(token, {}).values(), key=lambda o: o.seq):
                self._close(order, CANCELED_MARKET_RESOLVED, UserOrderEventKind.CANCELLATION, now_ms)
        for trade in [t for t in self._trades.values() if t.event.condition_id == condition_id]:
            self._settle_trade(trade, now_ms)
        for token in tokens:
            held = self._shares.pop(token, 0)
            if self._markets[token].outcome_of(token) is winner:
                self._cash += held  # one share pays one dollar: units for units
            self._use.forget(token)
        heapq.heappush(self._forget_at, (now_s + self.config.history_retention_s, condition_id))

    def _forget_market(self, condition_id: str) -> None:
        for order_id in [oid for oid, o in self._orders.items() if o.market.condition_id == condition_id]:
            del self._orders[order_id]
        for trade_id in [tid for tid, t in self._trades.items() if t.event.condition_id == condition_id]:
            del self._trades[trade_id]
        for token in [t for t, market in self._markets.items() if market.condition_id == condition_id]:
            del self._markets[token]

    def _emit(self, event: FeedEvent) -> None:
        try:
            self._sink(event)
        except Exception as exc:  # the engine's bug must not corrupt the paper book
            self.sink_errors += 1
            _log.error("paper_sink_failed", error=repr(exc), kind=type(event).__name__)


def _opposite_levels(book: OrderBook, side: Side) -> list[BookLevel]:
    """What an order of ``side`` trades against, best first."""
    return book.asks() if side is Side.BUY else book.bids()
