"""Market making (``MM``): post-only two-sided quotes around a fair value, skewed by inventory.

Every decision pass, for each window in the context, the strategy works out the quote it wants
and compares it with its orders resting there: an order close enough to its target stays (no
churn), anything else is cancelled and, where the target can be placed, a new post-only order
goes in. It keeps no state (:meth:`MarketMakingStrategy.observe` does nothing).

The quote
    Prices are first worked out in *Up terms*. ``fair`` comes from the ``fair_value`` callable
    given to the constructor (the engine plugs the fair-value model in; the default,
    :func:`microprice_fair_value`, is the Up book's microprice). Our bid for Up is
    ``fair − h − skew`` and our ask ``fair + h − skew``, where

    * ``h`` is ``half_spread``, but at least one tick and at least the maker fee per share at
      ``fair`` (zero on crypto markets: their fee schedule is taker-only);
    * ``skew = skew_per_share × net``, capped at ``± max_skew``, with ``net`` = Up shares −
      Down shares held (a Down share is a short Up share: one of each redeems for $1). Long Up
      moves *both* quotes down, so the bid fills less and the ask more. ``net`` counts every
      share in the market, provisional fills and other strategies' shares too: holdings are
      pooled per token, and the pooled position is the risk.

    Polymarket has no short selling, so the **bid** (more Up) is a SELL of held Down shares at
    ``1 − bid`` when enough are sellable, else a BUY of Up at ``bid``; the **ask** (less Up) is
    a SELL of held Up shares at ``ask`` when enough are sellable, else a BUY of Down at
    ``1 − ask``. Selling what we hold has the same payoff as buying the other token but frees
    cash and never adds exposure; such a SELL is flagged ``reduces_position``.

Prices
    Each order is quantised on its own book's **current** tick (0.001 beyond 0.96 / 0.04), a
    BUY rounded down and a SELL up, and never crosses: a BUY stays strictly below the best ask
    (at most one tick under it), a SELL strictly above the best bid. A price outside
    ``[tick, 1 − tick]`` is not quoted, nor is a side whose book is one-sided (the risk
    manager's depth check would deny it, and the non-crossing cap needs both sides).

Inventory exit (mean reversion)
    Beyond ``inventory_limit_shares`` of ``|net|``, the side that would add to the position is
    not quoted and the other side becomes a reducing post-only SELL of the held token at the
    *microprice band* (the token's microprice rounded up to its tick, above the best bid) or at
    the skewed quote if that is lower, sized to bring the position back to the limit (at least
    the venue minimum). Without enough sellable shares (unconfirmed fills), the normal quote
    stands.

Sizes
    A BUY is as many shares as ``limits.max_trade_usd`` buys at its price (2 decimals, floored)
    and is **not proposed** below the market's minimum size (5 shares): with the $1 ``default``
    preset MM only quotes prices up to 0.20. Buys also fit the exposure headroom as inventory
    control counts it (holdings' cost plus resting buys, per market, per category and in total,
    against limits scaled down in drawdown), after the orders cancelled and the buys proposed
    earlier in the pass; the side that reduces the position is served first. A SELL sells at
    most the sellable shares no other order offers, capped by ``max_trade_usd`` but never below
    the venue minimum: a reduction the venue refuses leaves the position stuck (the risk manager
    exempts reductions from the trade-size limit for this).

Order lifetime
    Quotes are GTD with an expiry ``GTD_END_MARGIN_S`` (60 s) before the window end (the venue
    ends a GTD order 60 s before its stated expiry: it is gone two minutes before the close).
    The venue wants the expiry at least 180 s ahead; with 60 s for clock skew that is
    ``GTD_MIN_LEAD_S`` (240 s), so GTD needs 300 s left. Later quotes are **GTC**, and every MM
    order of the window is cancelled once fewer than ``max(limits.min_seconds_to_end,
    cancel_before_end_s)`` seconds remain.

Requoting
    A resting order is kept while it is its target's token and side, less than
    ``requote_threshold_ticks`` ticks from the target price, does not cross the book and (a BUY)
    fits the budget; other orders on that side are cancelled. The default of 2 ticks keeps an
    order one tick off: a quantised target flickers between neighbouring ticks as the fair
    value wanders, and chasing each flicker only costs queue position and API weight.

Cancel everything in a market, place nothing, when
    the window is not tradable, a book is untrusted, too few seconds remain (or too many: the
    risk window has not opened), there is no fair value, or an earlier strategy in the pass
    (ICC, EXIT) proposed a reduction there or cancelled the market. MM orders of markets no
    longer in the context are cancelled too. Proposals come as cancels, then reductions, then
    the rest; new orders stop where ``limits.max_open_orders`` would be exceeded.

Left to the risk manager: ``max_window_usd`` (the context does not say what the window already
bought).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

from polyexec.core.events import FeedEvent
from polyexec.core.models import (
    ONE,
    ZERO,
    CancelIntent,
    CancelScope,
    Market,
    OrderIntent,
    OrderType,
    Side,
    TimestampMs,
)
from polyexec.core.order_book import OrderBook
from polyexec.core.pricing import TICK_SIZES, Rounding, fee_per_share, quantize_price, quantize_size
from polyexec.strategies.context import Proposal, RestingOrder, StrategyContext, WindowView
from polyexec.strategies.inventory_control import (
    cancelled_order_ids,
    exposure_targets,
    measure_exposure,
    resting_buy_notional,
)

__all__ = [
    "GTD_END_MARGIN_S",
    "GTD_MIN_LEAD_S",
    "FairValue",
    "MarketMakingStrategy",
    "microprice_fair_value",
    "quote_expiration_s",
]

GTD_END_MARGIN_S: Final = 60
"""A GTD quote's stated expiry is this many seconds before the window end."""
GTD_MIN_LEAD_S: Final = 180 + 60
"""A GTD expiry must be at least this far ahead: the venue's 180 s plus 60 s for clock skew."""

FairValue = Callable[[StrategyContext, WindowView], float | None]
"""The probability that the window ends Up (the fair price of an Up share), or ``None``."""


def microprice_fair_value(context: StrategyContext, view: WindowView) -> float | None:
    """The default fair value: the Up book's microprice (``None`` unless it has both sides)."""
    microprice = view.up_book.microprice()
    return None if microprice is None else float(microprice)


def quote_expiration_s(market: Market, now_ms: TimestampMs) -> int | None:
    """The GTD expiry (Unix seconds) of a quote placed now, or ``None`` when the window is too
    close to its end for a valid one (then the quote is GTC and cancelled before the end)."""
    expiration = market.window_end - GTD_END_MARGIN_S
    now_s = -(-now_ms // 1000)  # rounded up: the venue's check must pass whatever the ms
    return expiration if expiration >= now_s + GTD_MIN_LEAD_S else None


class _Leg(StrEnum):
    BID = "bid"
    ASK = "ask"


@dataclass(frozen=True, slots=True)
class _Target:
    """The order one side of the quote wants (size decided later, against the budget)."""

    leg: _Leg
    token_id: str
    side: Side
    price: Decimal
    tick: Decimal
    size_cap: Decimal | None  # SELL: the shares it may sell; BUY: None (budget decides)
    reason: str
    with_basis: bool = True  # the quote's basis ends the reason (built only for a new order)


@dataclass(frozen=True, slots=True)
class _Quote:
    """What one market's quote is built from: fair value, half-spread, inventory."""

    view: WindowView
    fair: Decimal
    half_spread: Decimal
    net_up: Decimal
    skew: Decimal
    up_tick: Decimal
    down_tick: Decimal


class MarketMakingStrategy:
    """Post-only two-sided quotes around a fair value with inventory skew (see the module docs).

    ``fair_value`` gives the Up probability of a window (``None``, or a value outside (0, 1):
    do not quote it; an ``ArithmeticError``, ``ValueError`` or ``TypeError`` raised by it counts
    as ``None``, so a model that chokes on an odd state cancels the quotes instead of the pass).
    ``half_spread``, ``skew_per_share`` and ``max_skew`` are prices (dollars per share).
    ``inventory_limit_shares`` is the net position beyond which the exit takes over.
    ``requote_threshold_ticks`` is how far (in ticks of the order's book) a resting quote may
    drift from its target before it is replaced. ``cancel_before_end_s`` is the least time
    before the window end at which every MM order is cancelled, whatever
    ``limits.min_seconds_to_end`` says. Invalid settings raise ``ValueError`` naming them.
    """

    def __init__(
        self,
        fair_value: FairValue = microprice_fair_value,
        *,
        half_spread: Decimal = Decimal("0.02"),
        skew_per_share: Decimal = Decimal("0.001"),
        max_skew: Decimal = Decimal("0.015"),
        inventory_limit_shares: Decimal = Decimal(15),
        requote_threshold_ticks: int = 2,
        cancel_before_end_s: int = 30,
    ) -> None:
        for name, value in (
            ("half_spread", half_spread),
            ("skew_per_share", skew_per_share),
            ("max_skew", max_skew),
            ("inventory_limit_shares", inventory_limit_shares),
        ):
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a finite, non-negative Decimal, got {value!r}")
        if half_spread >= Decimal("0.5"):
            raise ValueError(f"half_spread must be below 0.5, got {half_spread}")
        for name, number, least in (
            ("requote_threshold_ticks", requote_threshold_ticks, 1),
            ("cancel_before_end_s", cancel_before_end_s, 0),
        ):
            if isinstance(number, bool) or not isinstance(number, int) or number < least:
                raise ValueError(f"{name} must be an int >= {least}, got {number!r}")
        self._fair_value = fair_value
        self.half_spread = half_spread
        self.skew_per_share = skew_per_share
        self.max_skew = max_skew
        self.inventory_limit_shares = inventory_limit_shares
        self.requote_threshold_ticks = requote_threshold_ticks
        self.cancel_before_end_s = cancel_before_end_s

    @property
    def name(self) -> str:
        return "MM"

    def observe(self, event: FeedEvent, now_ms: TimestampMs) -> None:
        """Nothing to learn: the quote is a function of the context alone."""

    def decide(self, context: StrategyContext) -> Sequence[Proposal]:
        """Cancels, then reducing orders, then new quotes, for every window in the context."""
        cancels: list[CancelIntent] = []
        orders: list[OrderIntent] = []
        state = _Pass(context, self.name)
        tracked = {view.market.condition_id for view in context.windows}
        for order in context.resting:
            if order.strategy == self.name and order.condition_id not in tracked:
                cancels.extend(state.cancels((order,), "market no longer tracked"))
        for view in context.windows:
            market_cancels, market_orders = self._decide_market(context, view, state)
            cancels.extend(market_cancels)
            orders.extend(market_orders)
        orders.sort(key=lambda intent: not intent.reduces_position)  # stable: reductions first
        slots = context.limits.max_open_orders - _open_orders_after(context, cancels, state)
        return [*cancels, *orders[: max(slots, 0)]]

    # --- one market -----------------------------------------------------------------------------

    def _decide_market(
        self, context: StrategyContext, view: WindowView, state: _Pass
    ) -> tuple[list[CancelIntent], list[OrderIntent]]:
        market = view.market
        # Orders an earlier strategy cancels are gone already: neither kept nor cancelled again.
        mine = [
            o for o in context.resting_in(market.condition_id, self.name) if o.order_id not in state.cancelled
        ]
        stop = self._stop_reason(context, view, state)
        quote = stop if stop is not None else self._quote(context, view)
        if isinstance(quote, str):
            return state.cancels(mine, quote), []
        targets = self._targets(context, quote)
        by_leg: dict[_Leg, list[RestingOrder]] = {_Leg.BID: [], _Leg.ASK: []}
        cancels: list[CancelIntent] = []
        for order in mine:
            leg = _leg_of(market, order)
            if leg is None:
                cancels.extend(state.cancels((order,), "token not of this market"))
            else:
                by_leg[leg].append(order)
        expiration = quote_expiration_s(market, context.now_ms)
        orders: list[OrderIntent] = []
        # The side that shrinks the position gets the budget first.
        legs = (_Leg.ASK, _Leg.BID) if quote.net_up > 0 else (_Leg.BID, _Leg.ASK)
        for leg in legs:
            target = targets.get(leg)
            resting = by_leg[leg]
            budget = state.budget(market.condition_id)
            kept = None if target is None else self._keepable(view, target, resting, budget)
            if kept is not None:
                state.commit(market.condition_id, resting_buy_notional(kept))
                resting = [order for order in resting if order is not kept]
            why = f"{leg} quote moved" if target is not None else f"no {leg} quote"
            cancels.extend(state.cancels(resting, why))
            if target is not None and kept is None:
                intent = self._order(context, quote, target, budget, expiration)
                if intent is not None:
                    if intent.side is Side.BUY:
                        state.commit(market.condition_id, intent.notional)
                    orders.append(intent)
        return cancels, orders

    def _stop_reason(self, context: StrategyContext, view: WindowView, state: _Pass) -> str | None:
        """Why nothing may rest in this market now, or ``None``."""
        limits = context.limits
        left = view.seconds_left(context.now_ms)
        stop_at = max(limits.min_seconds_to_end, self.cancel_before_end_s)
        condition_id = view.market.condition_id
        if not view.tradable:
            return "window not tradable"
        if not (view.up_book.trusted and view.down_book.trusted):
            return "book untrusted"
        if left < stop_at:
            return f"{left}s to the end < {stop_at}s"
        if left > limits.max_seconds_to_end:
            return f"{left}s to the end > {limits.max_seconds_to_end}s"
        if state.market_cancelled(condition_id):
            return "market cancelled by an earlier strategy"
        for proposal in context.proposed:
            if (
                isinstance(proposal, OrderIntent)
                and proposal.condition_id == condition_id
                and proposal.reduces_position
            ):
                return f"{proposal.strategy} is reducing this market"
        return None

    def _quote(self, context: StrategyContext, view: WindowView) -> _Quote | str:
        """The quote's inputs, or why there is no quote."""
        fair = self._fair(context, view)
        if fair is None:
            return "no fair value"
        up_tick, down_tick = _tick(view.up_book, view.market), _tick(view.down_book, view.market)
        if up_tick is None or down_tick is None:
            return "unknown tick size"
        fee = view.market.fee
        maker_fee = ZERO if fee.taker_only else fee_per_share(fair, fee)
        half_spread = max(self.half_spread, up_tick, down_tick, maker_fee)
        up, down = view.market.up_token_id, view.market.down_token_id
        net_up = _shares(context, up) - _shares(context, down)
        skew = max(-self.max_skew, min(self.max_skew, self.skew_per_share * net_up))
        return _Quote(view, fair, half_spread, net_up, skew, up_tick, down_tick)

    def _fair(self, context: StrategyContext, view: WindowView) -> Decimal | None:
        try:
            value = self._fair_value(context, view)
            probability = math.nan if value is None else float(value)
        except (ArithmeticError, ValueError, TypeError):
            return None
        if not (math.isfinite(probability) and 0 < probability < 1):
            return None
        return Decimal(repr(probability))

    # --- targets ----------------------------------------------------------------------------------

    def _targets(self, context: StrategyContext, quote: _Quote) -> dict[_Leg, _Target]:
        """The wanted order of each side of the quote (a side may want none)."""
        market = quote.view.market
        bid_up = quote.fair - quote.half_spread - quote.skew
        ask_up = quote.fair + quote.half_spread - quote.skew
        limit = self.inventory_limit_shares
        long_up_beyond, long_down_beyond = quote.net_up > limit, -quote.net_up > limit
        up, down = market.up_token_id, market.down_token_id
        targets: dict[_Leg, _Target | None] = {}
        # A side that would add to a position already beyond the limit is not quoted; the other
        # side is then the exit. Each side sells what is held if it can, else buys.
        if not long_up_beyond:
            bid = self._sell_target(context, quote, _Leg.BID, down, ONE - bid_up, exiting=long_down_beyond)
            targets[_Leg.BID] = bid or self._buy_target(quote, _Leg.BID, up, bid_up)
        if not long_down_beyond:
            ask = self._sell_target(context, quote, _Leg.ASK, up, ask_up, exiting=long_up_beyond)
            targets[_Leg.ASK] = ask or self._buy_target(quote, _Leg.ASK, down, ONE - ask_up)
        return {leg: target for leg, target in targets.items() if target is not None}

    def _sell_target(
        self,
        context: StrategyContext,
        quote: _Quote,
        leg: _Leg,
        token_id: str,
        want: Decimal,
        *,
        exiting: bool,
    ) -> _Target | None:
        """A SELL of held ``token_id`` at ``want`` (or, when ``exiting``, at the microprice band if
        that is lower), or ``None`` without enough sellable shares or a valid price."""
        market = quote.view.market
        available = _sellable(context, token_id, self.name)
        if available < market.min_size:
            return None
        book, tick = quote.view.book_of(token_id), _tick_of(quote, token_id)
        outcome = market.outcome_of(token_id)
        price = _sell_price(book, want, tick)
        if price is None:
            return None
        if not exiting:
            reason = f"{leg}: sell held {outcome} at {price}"
            return _Target(leg, token_id, Side.SELL, price, tick, available, reason)
        # An exit never asks for more than the skewed quote it replaces, and sells what brings
        # the position back to the limit (at least the venue minimum).
        band = _microprice_band(book, tick)
        price = price if band is None else min(price, band)
        limit = self.inventory_limit_shares
        shares = min(available, max(abs(quote.net_up) - limit, market.min_size))
        reason = f"exit: net {quote.net_up:+} Up beyond {limit}, sell {outcome} at {price} (band {band})"
        return _Target(leg, token_id, Side.SELL, price, tick, shares, reason, with_basis=False)

    def _buy_target(self, quote: _Quote, leg: _Leg, token_id: str, want: Decimal) -> _Target | None:
        """A BUY of ``token_id`` at ``want``, or ``None`` without a valid price."""
        tick = _tick_of(quote, token_id)
        price = _buy_price(quote.view.book_of(token_id), want, tick)
        if price is None:
            return None
        outcome = quote.view.market.outcome_of(token_id)
        reason = f"{leg}: buy {outcome} at {price}"
        return _Target(leg, token_id, Side.BUY, price, tick, None, reason)

    def _keepable(
        self, view: WindowView, target: _Target, resting: Iterable[RestingOrder], budget: Decimal
    ) -> RestingOrder | None:
        """The resting order that may stand for ``target``, if one is close enough."""
        threshold = target.tick * self.requote_threshold_ticks
        book = view.book_of(target.token_id)
        bid, ask = book.best_bid(), book.best_ask()
        for order in resting:
            if order.token_id != target.token_id or order.side is not target.side:
                continue
            if abs(order.price - target.price) >= threshold:
                continue
            if order.side is Side.BUY:
                if (ask is not None and order.price >= ask.price) or order.price * order.remaining > budget:
                    continue
            elif bid is not None and order.price <= bid.price:
                continue
            return order
        return None

    def _order(
        self,
        context: StrategyContext,
        quote: _Quote,
        target: _Target,
        budget: Decimal,
        expiration: int | None,
    ) -> OrderIntent | None:
        """The post-only order for ``target``, or ``None`` when no valid size fits."""
        market = quote.view.market
        price, tick, min_size = target.price, target.tick, market.min_size
        by_trade = quantize_size(context.limits.max_trade_usd / price, tick)
        if target.size_cap is not None:
            # A reduction: capped by max_trade_usd, but never below the venue minimum.
            size = quantize_size(min(target.size_cap, max(by_trade, min_size)), tick)
        else:
            size = min(by_trade, quantize_size(max(budget, ZERO) / price, tick))
        if size < min_size:
            return None
        return OrderIntent(
            strategy=self.name,
            condition_id=market.condition_id,
            token_id=target.token_id,
            side=target.side,
            price=price,
            size=size,
            order_type=OrderType.GTC if expiration is None else OrderType.GTD,
            post_only=True,
            expiration_s=expiration,
            reduces_position=target.side is Side.SELL,  # a SELL only ever sells held shares
            reason=f"{target.reason}, {_basis(quote)}" if target.with_basis else target.reason,
        )


# --- helpers ----------------------------------------------------------------------------------------


class _Pass:
    """What MM must respect in this decision pass, and what it committed so far.

    ``cancelled``: the orders earlier strategies already cancel (no second cancel is needed).
    The exposure ledger is ICC's accounting (:mod:`polyexec.strategies.inventory_control`: cost
    of holdings plus resting buys, per market, per category and in total, against limits scaled
    down in drawdown), so MM never places a buy that ICC would cancel, nor one the risk
    manager's exposure limits would deny. MM's own resting buys start outside it and go back in
    as they are kept; orders cancelled earlier in the pass are out, buys proposed are in.
    """

    def __init__(self, context: StrategyContext, strategy: str) -> None:
        self.cancelled = cancelled_order_ids(context)
        earlier = [proposal for proposal in context.proposed if isinstance(proposal, CancelIntent)]
        self.everything = any(cancel.scope is CancelScope.ALL for cancel in earlier)
        self.markets = {cancel.condition_id for cancel in earlier if cancel.scope is CancelScope.MARKET}
        self.targets = exposure_targets(context.limits, context.drawdown_pct)
        self.ledger = measure_exposure(context)
        for order in context.resting:
            if order.order_id in self.cancelled or order.strategy == strategy:
                self.ledger.add(order.condition_id, -resting_buy_notional(order))
        for proposal in context.proposed:
            if isinstance(proposal, OrderIntent) and proposal.side is Side.BUY:
                self.ledger.add(proposal.condition_id, proposal.notional)

    def market_cancelled(self, condition_id: str) -> bool:
        return self.everything or condition_id in self.markets

    def budget(self, condition_id: str) -> Decimal:
        """Dollars of new buys the market may still take."""
        return self.ledger.headroom(condition_id, self.targets)

    def commit(self, condition_id: str, notional: Decimal) -> None:
        self.ledger.add(condition_id, notional)

    def cancels(self, orders: Iterable[RestingOrder], reason: str) -> list[CancelIntent]:
        """One ORDER-scope cancel per order not already being cancelled (a MARKET-scope cancel
        would take other strategies' orders with it)."""
        return [
            CancelIntent(
                CancelScope.ORDER,
                order_id=order.order_id,
                condition_id=order.condition_id,
                token_id=order.token_id,
                reason=reason,
            )
            for order in orders
            if order.order_id not in self.cancelled
        ]


def _open_orders_after(context: StrategyContext, cancels: Sequence[CancelIntent], state: _Pass) -> int:
    """Open orders once this pass's cancels are through and earlier proposals are placed."""
    gone = state.cancelled | {cancel.order_id for cancel in cancels if cancel.order_id is not None}
    open_now = sum(1 for order in context.resting if order.order_id not in gone)
    return open_now + sum(1 for proposal in context.proposed if isinstance(proposal, OrderIntent))


def _leg_of(market: Market, order: RestingOrder) -> _Leg | None:
    """Which side of the quote an order is: buying Up or selling Down is the bid."""
    if order.token_id not in (market.up_token_id, market.down_token_id):
        return None
    buys_up = (order.token_id == market.up_token_id) == (order.side is Side.BUY)
    return _Leg.BID if buys_up else _Leg.ASK


def _tick(book: OrderBook, market: Market) -> Decimal | None:
    """The book's current tick (the market's listed one if the book has none), if the venue uses it."""
    tick = book.tick_size if book.tick_size is not None else market.tick_size
    return tick if tick in TICK_SIZES else None


def _tick_of(quote: _Quote, token_id: str) -> Decimal:
    return quote.up_tick if token_id == quote.view.market.up_token_id else quote.down_tick


def _buy_price(book: OrderBook, want: Decimal, tick: Decimal) -> Decimal | None:
    """``want`` rounded down, strictly below the best ask; ``None`` if not a valid price."""
    bid, ask = book.best_bid(), book.best_ask()
    if bid is None or ask is None or want < tick:
        return None
    price = min(
        quantize_price(want, tick, Rounding.DOWN), quantize_price(ask.price - tick, tick, Rounding.DOWN)
    )
    return price if tick <= price <= ONE - tick else None


def _sell_price(book: OrderBook, want: Decimal, tick: Decimal) -> Decimal | None:
    """``want`` rounded up, strictly above the best bid; ``None`` if not a valid price."""
    bid, ask = book.best_bid(), book.best_ask()
    if bid is None or ask is None or want > ONE - tick:
        return None
    price = max(quantize_price(want, tick, Rounding.UP), quantize_price(bid.price + tick, tick, Rounding.UP))
    return price if tick <= price <= ONE - tick else None


def _microprice_band(book: OrderBook, tick: Decimal) -> Decimal | None:
    """The book's microprice rounded up to the tick, never within one tick of the best bid."""
    microprice = book.microprice()
    return None if microprice is None else _sell_price(book, microprice, tick)


def _shares(context: StrategyContext, token_id: str) -> Decimal:
    holding = context.holding(token_id)
    return holding.shares if holding is not None and holding.shares.is_finite() else ZERO


def _sellable(context: StrategyContext, token_id: str, strategy: str) -> Decimal:
    """Sellable shares not already offered by another strategy's resting or proposed SELL.

    Our own resting SELL of the token does not count: it is kept (and nothing new is placed) or
    cancelled, which frees its shares.
    """
    holding = context.holding(token_id)
    if holding is None or not holding.sellable.is_finite():
        return ZERO
    available = holding.sellable
    for order in context.resting:
        if order.token_id == token_id and order.side is Side.SELL and order.strategy != strategy:
            available -= order.remaining
    for proposal in context.proposed:
        if isinstance(proposal, OrderIntent) and proposal.token_id == token_id and proposal.side is Side.SELL:
            available -= proposal.size
    return max(ZERO, available)


def _basis(quote: _Quote) -> str:
    """The reason text shared by both sides of a quote."""
    return (
        f"fair {quote.fair:.3f}, half-spread {_cents(quote.half_spread)}, "
        f"skew {_cents(quote.skew, signed=True)} (net {quote.net_up:+} Up)"
    )


def _cents(price: Decimal, *, signed: bool = False) -> str:
    """A price as cents for a reason text: ``2.0c``, or ``+1.5c`` when ``signed``."""
    return f"{price * 100:+.1f}c" if signed else f"{price * 100:.1f}c"
