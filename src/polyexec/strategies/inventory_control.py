"""Inventory and correlation control (``ICC``): keep exposure within its limits, shrink it in drawdown.

ICC runs first in every decision pass (:data:`~polyexec.strategies.context.PRIORITY`). It never
buys and never opens anything: every proposal is a cancel of a resting BUY or a SELL that only
shrinks a holding (``reduces_position=True``), so every proposal lowers our exposure.

Exposure
    The risk manager's definition (:class:`~polyexec.core.risk_limits.RiskLimits`): the cost of
    what we hold (``shares × average_cost``, provisional shares included) plus the notional of
    our resting BUYs (``price × remaining``), counted per market (condition id), per category
    (:attr:`Market.category <polyexec.core.models.Market.category>`: every window of one asset is
    one correlated bet) and in total. A holding or order in a market the context does not carry
    counts toward its market and the total but not toward a category (its asset is unknown
    here), and it cannot be sold (there is no book): ICC can only cancel such orders.

Targets and the drawdown curve
    Each limit (``max_exposure_per_market_usd``, ``max_exposure_per_category_usd``,
    ``max_exposure_usd``) is scaled by ``scale = 1 − drawdown_pct / max_drawdown_pct``, clamped
    to [0, 1]: linear, 100 % of the limit at drawdown 0, 50 % at half of ``max_drawdown_pct``
    and 0 % at ``max_drawdown_pct`` and beyond (every resting BUY is cancelled and everything
    sellable is sold). With ``max_drawdown_pct`` 0 the scale is 1 at drawdown 0 and 0 at any
    drawdown. A drawdown that is not a number is ignored (scale 1: the limits still hold and
    the risk manager's drawdown breaker still trips).

What ICC does when a market, a category or the total is over its target
    1. **Cancel resting BUYs in it, worst first**: the highest price first (the most dollars at
       stake per share and the order nearest to filling into a position) and, at equal prices,
       the newest first. The contract carries no order times, so ``context.resting`` is read
       as oldest first, the order the engine lists them in. ICC cancels only until the scope
       is back at its target. Marketable orders (FOK/FAK) in flight count as exposure but are
       not cancelled: the venue cannot cancel them during its taker delay and they end on
       their own. Any strategy's orders are cancelled; cancels go out on untrusted books and
       non-tradable windows too.
    2. **If still over, sell**, most-losing holding first (unrealised PnL at the best bid, the
       most negative first; then the largest cost): a FAK SELL limited at the lowest price the
       slippage limits allow below the best bid (``max_slippage_cents`` and
       ``max_slippage_pct`` of the bid, whichever is tighter, rounded up to the tick). The size
       brings the scope back to its target (excess ÷ average cost, rounded up to a cent of a
       share), raised to the market's minimum size, raised to everything available when less
       than the minimum would be left (a remainder below the minimum could never be sold), and
       capped by the shares sellable now (confirmed, not already offered by a resting or
       earlier-proposed SELL) and by the shares bid at or above the limit. A sell that cannot
       reach the market's minimum size within those caps is not proposed. Reducing sells are
       not capped by ``max_trade_usd``: the risk manager exempts them from the trade-size limit
       (slicing an exit only prolongs it).

    A SELL already in flight (a resting FAK/FOK SELL, or a SELL proposed earlier in this pass)
    counts as done, and so does a cancel proposed earlier in this pass, so the next pass does not
    reduce the same excess twice. ICC sells only on trusted books of windows that have not
    ended; it keeps no state between passes.

The helpers (:func:`measure_exposure`, :func:`exposure_targets`, :func:`quote_reducing_sell`,
:func:`sellable_now`, ...) are public: the stop-loss strategy (``EXIT``) sizes its exits and
hedges with the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
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
from polyexec.core.pricing import TICK_SIZES, Rounding, is_valid_price, quantize_price, quantize_size
from polyexec.core.risk_limits import RiskLimits
from polyexec.strategies.context import Holding, Proposal, RestingOrder, StrategyContext

__all__ = [
    "ICC_NAME",
    "ExposureLedger",
    "ExposureTargets",
    "InventoryControlStrategy",
    "Overage",
    "ReducingSellQuote",
    "cancelled_order_ids",
    "drawdown_scale",
    "exposure_targets",
    "holding_cost",
    "measure_exposure",
    "quote_reducing_sell",
    "reducing_sell_size",
    "resting_buy_notional",
    "sellable_now",
    "shares_on_offer",
    "usable_tick",
]

ICC_NAME: Final = "ICC"
_HUNDRED: Final = Decimal(100)


# --- Exposure --------------------------------------------------------------------------------------


def drawdown_scale(drawdown_pct: Decimal, max_drawdown_pct: Decimal) -> Decimal:
    """The share of each exposure limit we may use at ``drawdown_pct``: linear from 1 at no
    drawdown to 0 at ``max_drawdown_pct`` (see the module docs for the edge cases)."""
    if drawdown_pct.is_nan() or drawdown_pct <= ZERO:
        return ONE
    if max_drawdown_pct.is_nan() or max_drawdown_pct <= ZERO or drawdown_pct >= max_drawdown_pct:
        return ZERO
    return ONE - drawdown_pct / max_drawdown_pct


@dataclass(frozen=True, slots=True)
class ExposureTargets:
    """The exposure limits after the drawdown scaling, in dollars."""

    scale: Decimal
    per_market: Decimal
    per_category: Decimal
    total: Decimal


def exposure_targets(limits: RiskLimits, drawdown_pct: Decimal) -> ExposureTargets:
    """The per-market, per-category and total targets at ``drawdown_pct``."""
    scale = drawdown_scale(drawdown_pct, limits.max_drawdown_pct)
    return ExposureTargets(
        scale=scale,
        per_market=limits.max_exposure_per_market_usd * scale,
        per_category=limits.max_exposure_per_category_usd * scale,
        total=limits.max_exposure_usd * scale,
    )


def holding_cost(holding: Holding) -> Decimal:
    """``shares × average_cost`` of a holding; zero for an empty, free or malformed one."""
    shares, cost = holding.shares, holding.average_cost
    if not (shares.is_finite() and cost.is_finite()) or shares <= ZERO or cost <= ZERO:
        return ZERO
    return shares * cost


def resting_buy_notional(order: RestingOrder) -> Decimal:
    """``price × remaining`` of a resting BUY; zero for a SELL or a malformed order."""
    price, remaining = order.price, order.remaining
    if order.side is not Side.BUY or not (price.is_finite() and remaining.is_finite()):
        return ZERO
    if price <= ZERO or remaining <= ZERO:
        return ZERO
    return price * remaining


@dataclass(frozen=True, slots=True)
class Overage:
    """One scope over its target: ``scope`` names it ("market <slug>", "category btc", "total")."""

    scope: str
    exposure: Decimal
    target: Decimal

    @property
    def excess(self) -> Decimal:
        return self.exposure - self.target


class ExposureLedger:
    """Exposure per market, per category and in total, adjustable while reductions are planned.

    ``markets`` maps condition ids to the markets the context carries (for the category and the
    name of each scope).
    """

    __slots__ = ("_by_category", "_by_market", "_markets", "_total")

    def __init__(self, markets: Mapping[str, Market]) -> None:
        self._markets = dict(markets)
        self._by_market: dict[str, Decimal] = {}
        self._by_category: dict[str, Decimal] = {}
        self._total = ZERO

    def add(self, condition_id: str, amount: Decimal) -> None:
        """Add ``amount`` dollars (negative to remove) to a market, its category and the total."""
        self._by_market[condition_id] = self._by_market.get(condition_id, ZERO) + amount
        market = self._markets.get(condition_id)
        if market is not None:
            category = market.category
            self._by_category[category] = self._by_category.get(category, ZERO) + amount
        self._total += amount

    def market(self, condition_id: str) -> Decimal:
        return self._by_market.get(condition_id, ZERO)

    def category(self, category: str) -> Decimal:
        return self._by_category.get(category, ZERO)

    @property
    def total(self) -> Decimal:
        return self._total

    def scopes(self, condition_id: str, targets: ExposureTargets) -> list[Overage]:
        """Every scope the market belongs to as ``(name, exposure, target)``, over or not."""
        market = self._markets.get(condition_id)
        name = market.slug if market is not None else condition_id
        scopes = [Overage(f"market {name}", self.market(condition_id), targets.per_market)]
        if market is not None:
            category = market.category
            scopes.append(Overage(f"category {category}", self.category(category), targets.per_category))
        scopes.append(Overage("total", self._total, targets.total))
        return scopes

    def over(self, condition_id: str, targets: ExposureTargets) -> Overage | None:
        """The scope of this market furthest over its target, or ``None`` if none is over."""
        worst = max(self.scopes(condition_id, targets), key=lambda scope: scope.excess)
        return worst if worst.excess > ZERO else None

    def headroom(self, condition_id: str, targets: ExposureTargets) -> Decimal:
        """Dollars of new exposure this market may still take before any of its scopes is over
        (the scopes of :meth:`scopes`, without building their names: MM asks on every pass)."""
        room = targets.per_market - self.market(condition_id)
        market = self._markets.get(condition_id)
        if market is not None:
            room = min(room, targets.per_category - self.category(market.category))
        return max(min(room, targets.total - self._total), ZERO)


def measure_exposure(context: StrategyContext) -> ExposureLedger:
    """The exposure of every holding and resting BUY in ``context``, as the risk manager counts it."""
    ledger = ExposureLedger({view.market.condition_id: view.market for view in context.windows})
    for holding in context.holdings.values():
        cost = holding_cost(holding)
        if cost:
            ledger.add(holding.condition_id, cost)
    for order in context.resting:
        notional = resting_buy_notional(order)
        if notional:
            ledger.add(order.condition_id, notional)
    return ledger


# --- Selling what we hold --------------------------------------------------------------------------


def cancelled_order_ids(context: StrategyContext) -> set[str]:
    """Ids of our resting orders that a strategy earlier in this pass already asked to cancel."""
    cancels = [proposal for proposal in context.proposed if isinstance(proposal, CancelIntent)]
    ids: set[str] = set()
    for order in context.resting:
        for cancel in cancels:
            if (
                (cancel.scope is CancelScope.ORDER and cancel.order_id == order.order_id)
                or cancel.scope is CancelScope.ALL
                or (
                    cancel.scope is CancelScope.MARKET
                    and cancel.condition_id == order.condition_id
                    and cancel.token_id in (None, order.token_id)
                )
            ):
                ids.add(order.order_id)
                break
    return ids


def shares_on_offer(context: StrategyContext, token_id: str) -> Decimal:
    """Shares of ``token_id`` already offered: our resting SELLs (any strategy, in flight too)
    plus the SELLs proposed earlier in this pass. The venue has no short selling, and the risk
    manager refuses a SELL beyond the shares held and not already offered."""
    offered = ZERO
    for order in context.resting:
        if order.token_id == token_id and order.side is Side.SELL and order.remaining.is_finite():
            offered += max(order.remaining, ZERO)
    for proposal in context.proposed:
        if isinstance(proposal, OrderIntent) and proposal.token_id == token_id and proposal.side is Side.SELL:
            offered += proposal.size
    return offered


def sellable_now(context: StrategyContext, holding: Holding) -> Decimal:
    """Shares of ``holding`` a SELL may offer now: confirmed (``sellable``, never more than
    ``shares``) and not already offered (:func:`shares_on_offer`). Never negative."""
    shares, sellable = holding.shares, holding.sellable
    if not (shares.is_finite() and sellable.is_finite()):
        return ZERO
    return max(min(shares, sellable) - shares_on_offer(context, holding.token_id), ZERO)


def usable_tick(book: OrderBook, market: Market) -> Decimal | None:
    """The tick to price with: the book's live tick, else the market's listed one; ``None`` if
    neither is a tick the venue uses."""
    for tick in (book.tick_size, market.tick_size):
        if tick is not None and tick.is_finite() and tick in TICK_SIZES:
            return tick
    return None


@dataclass(frozen=True, slots=True)
class ReducingSellQuote:
    """Where a reducing SELL may go now: a FAK limited at ``price`` (at most the slippage
    allowance below ``best_bid``) fills against the ``depth`` shares bid at or above it."""

    best_bid: Decimal
    price: Decimal
    depth: Decimal
    tick: Decimal


def quote_reducing_sell(book: OrderBook, market: Market, limits: RiskLimits) -> ReducingSellQuote | None:
    """The limit and the depth of a FAK SELL at the best bid within the slippage limits.

    The limit is ``best bid − min(max_slippage_cents, max_slippage_pct × best bid)`` rounded up
    to the tick, so the fill's average price stays within both limits the risk manager checks.
    ``None`` (sell nothing) on an untrusted book, an empty bid side or an unknown tick.
    """
    if not book.trusted:
        return None
    tick = usable_tick(book, market)
    best = book.best_bid()
    if tick is None or best is None:
        return None
    bid = best.price
    allowance = min(limits.max_slippage_cents / _HUNDRED, bid * limits.max_slippage_pct / _HUNDRED, bid)
    price = quantize_price(bid - allowance, tick, Rounding.UP, clamp=True)
    if price > bid or not is_valid_price(price, tick):
        return None  # a best bid off the tick's grid: the book and the tick disagree
    depth = sum((level.size for level in book.bids() if level.price >= price), ZERO)
    return ReducingSellQuote(best_bid=bid, price=price, depth=depth, tick=tick)


def reducing_sell_size(
    wanted: Decimal, available: Decimal, depth: Decimal, min_size: Decimal, tick: Decimal
) -> Decimal | None:
    """ICC's sell size: ``wanted`` raised to ``min_size``, raised to all of ``available`` when
    less than ``min_size`` would be left, capped by ``available`` and ``depth``, floored to the
    venue's 2 decimals. ``None`` when that is below ``min_size`` (the venue would refuse it)."""
    size = max(wanted, min_size)
    if available - size < min_size:
        size = available
    size = quantize_size(max(min(size, available, depth), ZERO), tick, Rounding.DOWN)
    return size if size > ZERO and size >= min_size else None


# --- The strategy ----------------------------------------------------------------------------------


class InventoryControlStrategy:
    """Cancels resting BUYs and sells holdings until every market, category and the total are
    within their drawdown-scaled exposure targets (see the module docs). Stateless."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return ICC_NAME

    def observe(self, event: FeedEvent, now_ms: TimestampMs) -> None:
        """ICC reads only the decision context: feed events change nothing here."""

    def decide(self, context: StrategyContext) -> list[Proposal]:
        """Cancels first, then reducing sells, for every scope over its target."""
        targets = exposure_targets(context.limits, context.drawdown_pct)
        ledger = measure_exposure(context)
        cancelled = cancelled_order_ids(context)
        self._count_pending_reductions(context, ledger, cancelled)
        proposals: list[Proposal] = []
        proposals.extend(self._cancel_buys(context, ledger, targets, cancelled))
        proposals.extend(self._sell_holdings(context, ledger, targets))
        return proposals

    @staticmethod
    def _count_pending_reductions(
        context: StrategyContext, ledger: ExposureLedger, cancelled: set[str]
    ) -> None:
        """Count what is already on its way out as gone: cancels and SELLs proposed earlier in
        this pass, and marketable SELLs in flight (they fill or die within moments)."""
        for order in context.resting:
            if order.order_id in cancelled:
                ledger.add(order.condition_id, -resting_buy_notional(order))
        leaving: dict[str, Decimal] = {}
        for order in context.resting:
            if (
                order.side is Side.SELL
                and order.order_type.is_marketable_only
                and order.order_id not in cancelled
                and order.remaining.is_finite()
            ):
                leaving[order.token_id] = leaving.get(order.token_id, ZERO) + max(order.remaining, ZERO)
        for proposal in context.proposed:
            if isinstance(proposal, OrderIntent) and proposal.side is Side.SELL:
                leaving[proposal.token_id] = leaving.get(proposal.token_id, ZERO) + proposal.size
        for token_id, shares in leaving.items():
            holding = context.holding(token_id)
            if holding is not None and holding_cost(holding):
                ledger.add(holding.condition_id, -min(shares, holding.shares) * holding.average_cost)

    def _cancel_buys(
        self,
        context: StrategyContext,
        ledger: ExposureLedger,
        targets: ExposureTargets,
        cancelled: set[str],
    ) -> list[Proposal]:
        candidates = [
            (index, order)
            for index, order in enumerate(context.resting)
            if resting_buy_notional(order)
            and not order.order_type.is_marketable_only
            and order.order_id not in cancelled
        ]
        # Worst first: highest price, then newest (latest in the list).
        candidates.sort(key=lambda pair: (pair[1].price, pair[0]), reverse=True)
        proposals: list[Proposal] = []
        for _, order in candidates:
            over = ledger.over(order.condition_id, targets)
            if over is None:
                continue
            reason = (
                f"{_describe(over, targets)}: cancel BUY {order.remaining} @ {order.price} ({order.strategy})"
            )
            proposals.append(
                CancelIntent(
                    scope=CancelScope.ORDER,
                    order_id=order.order_id,
                    condition_id=order.condition_id,
                    token_id=order.token_id,
                    reason=reason,
                )
            )
            ledger.add(order.condition_id, -resting_buy_notional(order))
        return proposals

    def _sell_holdings(
        self, context: StrategyContext, ledger: ExposureLedger, targets: ExposureTargets
    ) -> list[Proposal]:
        candidates: list[tuple[Decimal, Decimal, str, Holding, Market, ReducingSellQuote]] = []
        for holding in context.holdings.values():
            cost = holding_cost(holding)
            window = context.window(holding.condition_id)
            if not cost or window is None or window.seconds_left(context.now_ms) <= 0:
                continue
            market = window.market
            if holding.token_id not in (market.up_token_id, market.down_token_id):
                continue
            quote = quote_reducing_sell(window.book_of(holding.token_id), market, context.limits)
            if quote is None:
                continue
            pnl = (quote.best_bid - holding.average_cost) * holding.shares
            candidates.append((pnl, -cost, holding.token_id, holding, market, quote))
        # Most losing first, then the largest cost; the token id only makes the order total.
        candidates.sort(key=lambda candidate: candidate[:3])
        proposals: list[Proposal] = []
        for _, _, token_id, holding, market, quote in candidates:
            over = ledger.over(holding.condition_id, targets)
            if over is None:
                continue
            wanted = quantize_size(over.excess / holding.average_cost, quote.tick, Rounding.UP)
            available = sellable_now(context, holding)
            size = reducing_sell_size(wanted, available, quote.depth, market.min_size, quote.tick)
            if size is None:
                continue
            reason = (
                f"{_describe(over, targets)}: sell {size} of {holding.shares} "
                f"(cost {holding.average_cost:.3f}, bid {quote.best_bid})"
            )
            proposals.append(
                OrderIntent(
                    strategy=ICC_NAME,
                    condition_id=market.condition_id,
                    token_id=token_id,
                    side=Side.SELL,
                    price=quote.price,
                    size=size,
                    order_type=OrderType.FAK,
                    reduces_position=True,
                    reason=reason,
                )
            )
            ledger.add(holding.condition_id, -size * holding.average_cost)
        return proposals


def _describe(over: Overage, targets: ExposureTargets) -> str:
    scaled = f" ({targets.scale:.0%} of the limit in drawdown)" if targets.scale < ONE else ""
    return f"{over.scope} exposure ${over.exposure:.2f} > target ${over.target:.2f}{scaled}"
