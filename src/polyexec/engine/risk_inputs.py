"""The facts one risk decision needs, gathered from the order registry, the portfolio and the book.

:func:`build_risk_context` fills a :class:`~polyexec.core.risk.RiskContext` for one
:class:`~polyexec.core.models.OrderIntent` at the moment it is evaluated: the tick processor
calls it for every intent a strategy proposes, right before
:meth:`RiskManager.evaluate <polyexec.core.risk.RiskManager.evaluate>`. Because the order manager
registers every approved order synchronously, the next intent of the same pass already sees it
here (exposure, open orders, window budget): intents never race each other for capital.

What each field counts
    * ``position_shares``: shares of the intent's token held, **matched fills included**
      (provisional until CONFIRMED; the portfolio's ``quantity``).
    * ``open_sell_shares``: shares our open SELL orders of that token still offer (in flight
      and PENDING ones too: they may fill).
    * Exposure (total, market, category): the cost basis of open positions (provisional fills
      included) plus the notional our open BUY orders may still spend (``price × remaining``),
      as :meth:`Portfolio.exposure <polyexec.core.portfolio.Portfolio.exposure>` adds them.
      A market the portfolio does not know (never registered) lands in its ``unregistered``
      category; that amount is added to the intent's category too, so exposure is never
      dropped, at worst counted twice.
    * ``window_bought_usd``: what was bought in the intent's market so far — every BUY fill not
      voided (at its fill price; size the venue reported matched without a trade yet, at the
      order's limit) — plus the open BUY orders of that market. It comes from the registry,
      which keeps terminal orders for an hour: far longer than a 15-minute window.
    * ``open_orders``: every order of ours not terminal, PENDING and in flight included.
    * Book: ``book_trusted`` is false for a missing or untrusted book (the other book fields
      are then empty and zero); depth is the dollars resting on each whole side
      (Σ price × size, as the flow-following strategy measures it).
    * ``est_slippage_pct``: how far the average price of the shares this order would take
      now is from the touch, in percent of the touch (:func:`estimated_slippage_pct`).

Everything is exact (``Decimal``); nothing here changes the registry, the portfolio or the book.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final

from polyexec.core.models import ZERO, Fill, Market, OrderIntent, Side, TimestampMs
from polyexec.core.order_book import OrderBook
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import UNREGISTERED_CATEGORY, Portfolio
from polyexec.core.risk import RiskContext

__all__ = ["RegistryTotals", "build_risk_context", "estimated_slippage_pct", "registry_totals"]

_HUNDRED: Final = Decimal(100)


class RegistryTotals:
    """What the registry says about one intent's token and market, from one scan of its orders.

    ``open_buy_by_market``: per condition id, the dollars open BUY orders may still spend.
    ``open_sell_shares``: shares the open SELL orders of the token still offer.
    ``window_bought_usd``: BUY fills not voided in the market plus its open BUY notional.
    ``open_orders``: orders not terminal, in every market.
    """

    __slots__ = ("open_buy_by_market", "open_orders", "open_sell_shares", "window_bought_usd")

    def __init__(
        self,
        open_buy_by_market: dict[str, Decimal],
        open_sell_shares: Decimal,
        window_bought_usd: Decimal,
        open_orders: int,
    ) -> None:
        self.open_buy_by_market = open_buy_by_market
        self.open_sell_shares = open_sell_shares
        self.window_bought_usd = window_bought_usd
        self.open_orders = open_orders


def registry_totals(registry: OrderRegistry, *, condition_id: str, token_id: str) -> RegistryTotals:
    """Scan the registry once for :class:`RegistryTotals` of ``token_id`` in ``condition_id``."""
    open_buys: dict[str, Decimal] = {}
    open_sell = bought = ZERO
    open_orders = 0
    for order in registry:
        is_open = not order.state.is_terminal
        if is_open:
            open_orders += 1
        if order.side is Side.BUY:
            remaining = order.remaining_size  # zero once terminal
            if is_open and remaining > 0:
                spend = order.price * remaining
                open_buys[order.condition_id] = open_buys.get(order.condition_id, ZERO) + spend
                if order.condition_id == condition_id:
                    bought += spend
            if order.condition_id == condition_id:
                bought += _bought_notional(order.price, order.filled_size, order.active_fills)
        elif is_open and order.token_id == token_id:
            open_sell += max(order.remaining_size, ZERO)
    return RegistryTotals(open_buys, open_sell, bought, open_orders)


def _bought_notional(limit: Decimal, filled_size: Decimal, fills: Iterable[Fill]) -> Decimal:
    """Dollars a BUY order spent: its fills not voided at their prices, plus matched size no
    trade has explained yet at the order's limit (the most it can have cost)."""
    if filled_size <= 0:
        return ZERO
    priced = ZERO
    shares = ZERO
    for fill in fills:
        priced += fill.price * fill.size
        shares += fill.size
    unexplained = filled_size - shares
    return priced + (limit * unexplained if unexplained > 0 else ZERO)


def estimated_slippage_pct(intent: OrderIntent, book: OrderBook | None) -> Decimal:
    """Estimated slippage of ``intent`` walking ``book`` now, in percent of the touch.

    Zero for a post-only order and for a limit that does not reach the touch (it rests: no
    slippage). Otherwise the book is walked (:meth:`OrderBook.estimate_fill`) for the shares
    the order can take **at or better than its limit** (a FOK/FAK takes no more; a GTC rests
    the rest), and the answer is ``(vwap − touch) / touch × 100`` (mirrored for a SELL).
    Zero as well without a book or an opposite side.
    """
    if intent.post_only or book is None:
        return ZERO
    buying = intent.side is Side.BUY
    touch_level = book.best_ask() if buying else book.best_bid()
    if touch_level is None:
        return ZERO
    touch, limit = touch_level.price, intent.price
    if (limit < touch) if buying else (limit > touch):
        return ZERO
    estimate = book.estimate_fill(intent.side, intent.size)
    worst = estimate.worst_price
    if worst is not None and ((worst > limit) if buying else (worst < limit)):
        # The walk went past the limit: only the shares at or better than it would trade.
        levels = book.asks() if buying else book.bids()
        reachable = sum(
            (level.size for level in levels if (level.price <= limit if buying else level.price >= limit)),
            ZERO,
        )
        estimate = book.estimate_fill(intent.side, min(intent.size, reachable))
    slippage = estimate.slippage_pct
    if slippage is None or not slippage.is_finite() or slippage <= 0:
        return ZERO
    return slippage


def build_risk_context(
    intent: OrderIntent,
    market: Market,
    *,
    now_ms: TimestampMs,
    registry: OrderRegistry,
    portfolio: Portfolio,
    book: OrderBook | None,
    position_shares: Decimal | None = None,
) -> RiskContext:
    """The :class:`RiskContext` of ``intent`` (a token of ``market``) at ``now_ms``.

    ``book`` is the live book of the intent's token (``None`` if there is none).
    ``position_shares``: the token's matched shares when the caller already has them (a
    decision pass reads the positions once: fills arrive between passes, never during one);
    ``None`` asks the portfolio. See the module documentation for what each field counts.
    Raises ``ValueError`` only when the inputs hold a number the context refuses (negative or
    not finite), which is a bug upstream.
    """
    totals = registry_totals(registry, condition_id=market.condition_id, token_id=intent.token_id)
    exposure = portfolio.exposure(totals.open_buy_by_market)
    category = exposure.by_category.get(market.category, ZERO)
    if market.category != UNREGISTERED_CATEGORY:
        category += exposure.by_category.get(UNREGISTERED_CATEGORY, ZERO)
    if position_shares is None:
        position_shares = portfolio.position(intent.token_id).quantity
    trusted = book is not None and book.trusted
    best_bid = best_ask = None
    bid_depth = ask_depth = ZERO
    if book is not None and trusted:
        bid_level, ask_level = book.best_bid(), book.best_ask()
        best_bid = None if bid_level is None else bid_level.price
        best_ask = None if ask_level is None else ask_level.price
        bid_depth = book.depth_usd(Side.BUY)
        ask_depth = book.depth_usd(Side.SELL)
    return RiskContext(
        market=market,
        now_ms=now_ms,
        position_shares=max(position_shares, ZERO),
        open_sell_shares=totals.open_sell_shares,
        total_exposure_usd=exposure.total,
        market_exposure_usd=exposure.by_market.get(market.condition_id, ZERO),
        category_exposure_usd=category,
        window_bought_usd=totals.window_bought_usd,
        open_orders=totals.open_orders,
        book_trusted=trusted,
        best_bid=best_bid,
        best_ask=best_ask,
        bid_depth_usd=bid_depth,
        ask_depth_usd=ask_depth,
        est_slippage_pct=estimated_slippage_pct(intent, book) if trusted else ZERO,
    )
