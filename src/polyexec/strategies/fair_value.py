"""The Binance-led fair-value strategy (``FV``): take the book when it misprices the window.

For every window in the context it computes ``p_up``, the probability that the window settles
Up (:func:`window_probability_up`, the model of :mod:`polyexec.strategies.fair_value_model`),
from the strike, the Binance price corrected by the Binance–Chainlink basis, the realised
volatility and the time left (with the part of the settlement average already observed in the
last minute). Then, per window and in this order:

**Cancels.** FV only takes liquidity (FOK orders). An FV order that rests on the book (a GTC or
GTD order left by an earlier run) is not something this strategy manages: it is cancelled.

**One order at a time.** While an FV order of the market is open or in flight (it shows in
``context.resting_in``), nothing new is proposed there: the answer decides what comes next,
and an order is never proposed twice.

**Exit, or hold to resolution.** For a token FV holds (``Holding.strategy == "FV"``), when the
market pays more than the model's value by the exit edge — best bid − taker fee at the bid −
``p_token`` ≥ ``exit_edge_cents`` (default: ``params.min_edge_cents``) — FV sells: a FOK SELL,
``reduces_position=True``, of the sellable shares not already offered, capped by the bid depth
at prices where that edge still holds. Otherwise it holds the position to resolution: the model
is the best guess of the settlement value, so selling below it gives edge away; stop-losses
belong to the ``EXIT`` strategy and exposure control to ``ICC``. Exits run even when the window
is not ``tradable`` and inside the last ``min_seconds_to_end`` seconds (the risk manager lets
reductions through until the window ends), but never on an untrusted book; a remainder below
the market's minimum size cannot be sold and is held.

**Entry.** When the window is ``tradable``, between ``limits.min_seconds_to_end`` and
``limits.max_seconds_to_end`` seconds from its end, and no exit was proposed for it: the edge
of buying Up at the best ask is ``p_up − ask − fee_per_share(ask)`` (the market's fee
schedule), of buying Down ``(1 − p_up) − ask_down − fee(ask_down)``. If the better edge exceeds
``params.min_edge_cents`` (strictly), FV proposes a **FOK BUY** of that token:

* Why FOK: it fills entirely at once or not at all, so the exposure an intent stands for is
  exactly what the risk manager approved, and no fragment below the venue's minimum size is
  ever left to carry or sell. Sizing the order to the depth visible at the limit (below) makes
  the fill likely when the book is current.
* The limit (worst price) is the ask, or up to ``max_chase_ticks`` ticks above it (never more
  than ``limits.max_slippage_cents`` past the ask), choosing the highest such price at which the
  edge *at that price*, fee included, still exceeds the threshold and a valid order still fits.
  The venue gives price improvement to the taker, so the chase only costs anything when the
  book moved up during the taker delay — which is when it is needed.
* The size is as many shares as the budget buys at the limit, floored to the venue's 2
  decimals, and no more than the asks visible at or below the limit. The budget is
  ``limits.max_trade_usd`` (and ``max_loss_per_trade_usd``: a bought token can settle at 0),
  reduced to what is left under ``max_window_usd``, ``max_exposure_per_market_usd``,
  ``max_exposure_per_category_usd`` and ``max_exposure_usd``, counting holdings at cost,
  resting BUY orders (every strategy's) and the BUYs proposed earlier in the pass. An order that
  cannot reach the market's minimum size (5 shares) within that budget is **not proposed**.
  ``max_window_usd`` is approximated from current holdings and orders (what was bought and sold
  again earlier in the window is not visible here): the risk manager keeps the exact count.
* Nothing new when ``limits.max_open_orders`` would be exceeded, nor in a market where a
  strategy before FV proposed a reduction or a cancel-all in this pass.

Missing or odd inputs (no strike, no Binance price or one older than ``max_price_age_ms``, no
basis, no volatility, inside the last minute without the observed settlement average, an
empty book, an unknown tick) mean nothing is proposed for that window; :meth:`decide` never
raises on them. The strategy is stateless: every input comes from the context, so
:meth:`FairValueStrategy.observe` does nothing and a replay gives the same decisions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Final

from polyexec.core.events import FeedEvent
from polyexec.core.models import (
    ZERO,
    CancelIntent,
    CancelScope,
    Market,
    OrderIntent,
    OrderType,
    Outcome,
    Side,
    TimestampMs,
)
from polyexec.core.order_book import OrderBook
from polyexec.core.pricing import TICK_SIZES, fee_per_share, is_valid_price, quantize_size
from polyexec.strategies.context import Proposal, StrategyContext, UnderlyingView, WindowView
from polyexec.strategies.fair_value_model import (
    AVERAGING_SECONDS,
    chainlink_equivalent_price,
    probability_up,
)

__all__ = ["NAME", "FairValueConfig", "FairValueStrategy", "window_probability_up"]

NAME: Final = "FV"
"""The strategy's code, set on every intent it proposes."""

_CENT: Final = Decimal("0.01")
_SIZE_STEP: Final = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class FairValueConfig:
    """Settings of :class:`FairValueStrategy` beyond :class:`~polyexec.strategies.context.StrategyParams`.

    ``max_chase_ticks``: how many ticks above the best ask (below the best bid for an exit) the
    FOK limit may reach while the edge holds there. ``exit_edge_cents``: the edge over the model
    a bid must offer (after the taker fee) to sell a holding; ``None`` uses
    ``params.min_edge_cents``. ``max_price_age_ms``: the newest Binance price must be at most
    this old, else the window is left alone (the edge would be computed on a stale signal).
    """

    max_chase_ticks: int = 1
    exit_edge_cents: Decimal | None = None
    max_price_age_ms: int = 5_000

    def __post_init__(self) -> None:
        if isinstance(self.max_chase_ticks, bool) or not isinstance(self.max_chase_ticks, int):
            raise ValueError(f"max_chase_ticks must be an int, got {self.max_chase_ticks!r}")
        if self.max_chase_ticks < 0:
            raise ValueError(f"max_chase_ticks must not be negative, got {self.max_chase_ticks}")
        if self.exit_edge_cents is not None and not (
            isinstance(self.exit_edge_cents, Decimal) and self.exit_edge_cents.is_finite()
        ):
            raise ValueError(
                f"exit_edge_cents must be a finite Decimal or None, got {self.exit_edge_cents!r}"
            )
        if isinstance(self.max_price_age_ms, bool) or not isinstance(self.max_price_age_ms, int):
            raise ValueError(f"max_price_age_ms must be an int, got {self.max_price_age_ms!r}")
        if self.max_price_age_ms < 0:
            raise ValueError(f"max_price_age_ms must not be negative, got {self.max_price_age_ms}")


def window_probability_up(
    view: WindowView,
    underlying: UnderlyingView | None,
    now_ms: TimestampMs,
    *,
    max_price_age_ms: int = 5_000,
) -> float | None:
    """``p_up`` of one window at ``now_ms``, or ``None`` when an input is missing or unusable.

    Inputs: the window's strike, the underlying's Binance price (at most ``max_price_age_ms``
    old) times ``1 + basis``, its volatility, the seconds left, and inside the last minute the
    settlement average observed so far (``view.settlement_observed``). ``None`` as well once the
    window has ended. Other strategies (market making centres on ``p_up``) may use it too.

    Several strategies ask it about the same window in one decision pass (FV, then MM through
    its fair value): the last answer is remembered for the very same ``view`` and ``underlying``
    objects (both frozen, and the books the view holds are not read here) at the same
    ``now_ms`` and age limit, and given again without recomputing.
    """
    last = _last_probability
    if (
        last.view is view
        and last.underlying is underlying
        and last.now_ms == now_ms
        and last.max_price_age_ms == max_price_age_ms
    ):
        return last.value
    value = _window_probability_up(view, underlying, now_ms, max_price_age_ms)
    # Strong references: the identity test above cannot match a new object at a reused address.
    last.view, last.underlying, last.value = view, underlying, value
    last.now_ms, last.max_price_age_ms = now_ms, max_price_age_ms
    return value


class _LastProbability:
    """The last :func:`window_probability_up` question and answer (one decision pass asks the
    same question several times; the next pass asks about new objects)."""

    __slots__ = ("max_price_age_ms", "now_ms", "underlying", "value", "view")

    def __init__(self) -> None:
        self.view: WindowView | None = None
        self.underlying: UnderlyingView | None = None
        self.now_ms: TimestampMs | None = None
        self.max_price_age_ms: int | None = None
        self.value: float | None = None


_last_probability: Final = _LastProbability()


def _window_probability_up(
    view: WindowView, underlying: UnderlyingView | None, now_ms: TimestampMs, max_price_age_ms: int
) -> float | None:
    strike = view.strike
    if strike is None or not strike.is_finite() or strike <= 0 or underlying is None:
        return None
    binance, basis, sigma = underlying.binance_price, underlying.basis, underlying.volatility
    if binance is None or basis is None or sigma is None or underlying.binance_time_ms is None:
        return None
    if now_ms - underlying.binance_time_ms > max_price_age_ms:
        return None
    seconds_left = float(view.seconds_left(now_ms))
    if seconds_left <= 0:
        return None
    observed_mean: float | None = None
    if seconds_left < AVERAGING_SECONDS:
        observed = view.settlement_observed
        if observed is None or observed[0] <= 0 or not observed[1].is_finite():
            return None
        observed_mean = float(observed[1])
    try:
        price = chainlink_equivalent_price(binance, basis)
        return probability_up(
            price=float(price),
            strike=float(strike),
            volatility=sigma,
            seconds_to_end=seconds_left,
            observed_mean=observed_mean,
        )
    except (ValueError, ArithmeticError):  # a non-positive price or mean, a NaN volatility: no view
        return None


class FairValueStrategy:
    """The ``FV`` strategy (see the module docs for the rules). Pure and stateless."""

    __slots__ = ("config",)

    def __init__(self, config: FairValueConfig | None = None) -> None:
        self.config = config if config is not None else FairValueConfig()

    @property
    def name(self) -> str:
        return NAME

    def observe(self, event: FeedEvent, now_ms: TimestampMs) -> None:
        """Nothing to learn: every input (prices, basis, volatility) comes in the context."""

    def decide(self, context: StrategyContext) -> Sequence[Proposal]:
        """Cancels of stray resting FV orders, exits, then at most one entry per window."""
        proposals: list[Proposal] = []
        for view in context.windows:
            proposals.extend(self._decide_window(context, view, proposals))
        return proposals

    # --- one window ---------------------------------------------------------------------------

    def _decide_window(
        self, context: StrategyContext, view: WindowView, earlier: Sequence[Proposal]
    ) -> list[Proposal]:
        market = view.market
        ours = context.resting_in(market.condition_id, NAME)
        if ours:
            return [
                CancelIntent(
                    CancelScope.ORDER,
                    order_id=order.order_id,
                    condition_id=market.condition_id,
                    token_id=order.token_id,
                    reason=f"FV only takes liquidity: cancel resting {order.order_type} {order.order_id}",
                )
                for order in ours
                if not order.order_type.is_marketable_only
            ]
        p_up = window_probability_up(
            view,
            context.underlyings.get(market.asset),
            context.now_ms,
            max_price_age_ms=self.config.max_price_age_ms,
        )
        if p_up is None or not _fee_schedule_usable(market):
            return []
        proposed = (*context.proposed, *earlier)
        if (
            len(context.resting) + sum(isinstance(p, OrderIntent) for p in proposed)
            >= context.limits.max_open_orders
        ):
            return []
        exits = self._exits(context, view, p_up, proposed)
        if exits:
            return exits
        entry = self._entry(context, view, p_up, proposed)
        return [] if entry is None else [entry]

    def _exits(
        self, context: StrategyContext, view: WindowView, p_up: float, proposed: Sequence[Proposal]
    ) -> list[Proposal]:
        market = view.market
        cents = self.config.exit_edge_cents
        threshold = (context.params.min_edge_cents if cents is None else cents) * _CENT
        for outcome in (Outcome.UP, Outcome.DOWN):
            token_id = market.token_for(outcome)
            holding = context.holding(token_id)
            if holding is None or holding.strategy != NAME:
                continue
            book = view.book(outcome)
            tick = _tick_of(book, market)
            bids = book.bids() if book.trusted else []
            if tick is None or not bids:
                continue
            offered = _offered_shares(context, token_id, proposed)
            available = min(holding.sellable, holding.shares) - offered
            if available <= ZERO or available < market.min_size:
                continue
            probability = _outcome_probability(p_up, outcome)
            best = bids[0].price
            max_reach = context.limits.max_slippage_cents * _CENT
            for ticks in range(self.config.max_chase_ticks, -1, -1):
                limit = best - ticks * tick
                if limit < ZERO or best - limit > max_reach or not is_valid_price(limit, tick):
                    continue
                if limit - fee_per_share(limit, market.fee) - probability < threshold:
                    continue
                depth = sum((level.size for level in bids if level.price >= limit), ZERO)
                size = quantize_size(min(available, depth), tick)
                if size < market.min_size:
                    continue
                edge = best - fee_per_share(best, market.fee) - probability
                return [
                    OrderIntent(
                        strategy=NAME,
                        condition_id=market.condition_id,
                        token_id=token_id,
                        side=Side.SELL,
                        price=limit,
                        size=size,
                        order_type=OrderType.FOK,
                        reduces_position=True,
                        reason=(
                            f"exit {outcome}: bid {best} pays {_cents(edge)}c over p {probability:.3f}"
                            f" >= {_cents(threshold)}c"
                        ),
                    )
                ]
        return []

    def _entry(
        self, context: StrategyContext, view: WindowView, p_up: float, proposed: Sequence[Proposal]
    ) -> OrderIntent | None:
        market, limits = view.market, context.limits
        if not view.tradable or _reduced_by_earlier(market.condition_id, proposed):
            return None
        if not limits.min_seconds_to_end <= view.seconds_left(context.now_ms) <= limits.max_seconds_to_end:
            return None
        threshold = context.params.min_edge_cents * _CENT
        candidates: list[tuple[Decimal, Outcome]] = []
        for outcome in (Outcome.UP, Outcome.DOWN):
            book = view.book(outcome)
            ask = book.best_ask() if book.trusted else None
            if ask is None:
                continue
            edge = _outcome_probability(p_up, outcome) - ask.price - fee_per_share(ask.price, market.fee)
            if edge > threshold:
                candidates.append((edge, outcome))
        if not candidates:
            return None
        budget = _buy_budget(context, market, proposed)
        if budget <= ZERO:
            return None
        for edge, outcome in sorted(candidates, key=lambda candidate: candidate[0], reverse=True):
            intent = self._sized_buy(context, view, outcome, p_up, edge, threshold, budget)
            if intent is not None:
                return intent
        return None

    def _sized_buy(
        self,
        context: StrategyContext,
        view: WindowView,
        outcome: Outcome,
        p_up: float,
        edge: Decimal,
        threshold: Decimal,
        budget: Decimal,
    ) -> OrderIntent | None:
        market = view.market
        book = view.book(outcome)
        tick = _tick_of(book, market)
        asks = book.asks()
        if tick is None or not asks:
            return None
        probability = _outcome_probability(p_up, outcome)
        best = asks[0].price
        max_reach = context.limits.max_slippage_cents * _CENT
        for ticks in range(self.config.max_chase_ticks, -1, -1):
            limit = best + ticks * tick
            if limit - best > max_reach or not is_valid_price(limit, tick):
                continue
            if probability - limit - fee_per_share(limit, market.fee) <= threshold:
                continue
            depth = sum((level.size for level in asks if level.price <= limit), ZERO)
            size = quantize_size(min(budget / limit, depth), tick)
            while size > ZERO and size * limit > budget:  # guards the division's last digit
                size -= _SIZE_STEP
            if size < market.min_size:
                continue
            return OrderIntent(
                strategy=NAME,
                condition_id=market.condition_id,
                token_id=market.token_for(outcome),
                side=Side.BUY,
                price=limit,
                size=size,
                order_type=OrderType.FOK,
                reason=(
                    f"buy {outcome}: edge {_cents(edge)}c > {_cents(threshold)}c at ask {best},"
                    f" p_up {p_up:.3f}"
                ),
            )
        return None


# --- helpers -------------------------------------------------------------------------------------


def _outcome_probability(p_up: float, outcome: Outcome) -> Decimal:
    """The model's probability of ``outcome``, as an exact Decimal of the float."""
    up, down = _probabilities(p_up)
    return up if outcome is Outcome.UP else down


@lru_cache(maxsize=16)
def _probabilities(p_up: float) -> tuple[Decimal, Decimal]:
    """``(P(Up), P(Down))`` as Decimals: a decision asks for them several times per window,
    and the exact Decimal of a float is long (slow to build, and to compute ``1 −`` it)."""
    probability = Decimal(p_up)
    return probability, 1 - probability


def _fee_schedule_usable(market: Market) -> bool:
    """Whether the market's fee schedule can be evaluated (a negative rate or a fractional
    exponent from a bad listing would make every fee computation raise)."""
    try:
        fee_per_share(Decimal("0.5"), market.fee)
    except (TypeError, ValueError):
        return False
    return True


def _tick_of(book: OrderBook, market: Market) -> Decimal | None:
    """The live tick (the book's, from the feed) or the market's listed one; ``None`` if unknown."""
    tick = book.tick_size if book.tick_size is not None else market.tick_size
    return tick if tick in TICK_SIZES else None


def _cents(amount: Decimal) -> str:
    return f"{float(amount * 100):.1f}"


def _buy_intents(proposed: Iterable[Proposal]) -> Iterable[OrderIntent]:
    return (p for p in proposed if isinstance(p, OrderIntent) and p.side is Side.BUY)


def _reduced_by_earlier(condition_id: str, proposed: Iterable[Proposal]) -> bool:
    """Whether a strategy before FV is reducing this market (a reducing order or a cancel of the
    market or of everything): adding to it would work against that decision."""
    for proposal in proposed:
        if isinstance(proposal, CancelIntent):
            if proposal.scope is CancelScope.ALL or (
                proposal.scope is CancelScope.MARKET and proposal.condition_id == condition_id
            ):
                return True
        elif proposal.reduces_position and proposal.condition_id == condition_id:
            return True
    return False


def _offered_shares(context: StrategyContext, token_id: str, proposed: Iterable[Proposal]) -> Decimal:
    """Shares of ``token_id`` already offered: resting SELLs and SELLs proposed in this pass."""
    resting = sum(
        (o.remaining for o in context.resting if o.token_id == token_id and o.side is Side.SELL), ZERO
    )
    pending = sum(
        (
            p.size
            for p in proposed
            if isinstance(p, OrderIntent) and p.token_id == token_id and p.side is Side.SELL
        ),
        ZERO,
    )
    return resting + pending


def _buy_budget(context: StrategyContext, market: Market, proposed: Iterable[Proposal]) -> Decimal:
    """The most a new BUY in ``market`` may cost under every position limit (may be ≤ 0)."""
    limits = context.limits
    asset_of = {view.market.condition_id: view.market.asset for view in context.windows}
    market_cost = category_cost = total_cost = ZERO

    def add(condition_id: str, cost: Decimal) -> None:
        nonlocal market_cost, category_cost, total_cost
        if not cost.is_finite() or cost <= ZERO:
            return
        total_cost += cost
        if asset_of.get(condition_id) == market.asset:
            category_cost += cost
        if condition_id == market.condition_id:
            market_cost += cost

    for holding in context.holdings.values():
        add(holding.condition_id, holding.shares * holding.average_cost)
    for order in context.resting:
        if order.side is Side.BUY:
            add(order.condition_id, order.price * order.remaining)
    for intent in _buy_intents(proposed):
        add(intent.condition_id, intent.notional)
    return min(
        limits.max_trade_usd,
        limits.max_loss_per_trade_usd,
        limits.max_window_usd - market_cost,
        limits.max_exposure_per_market_usd - market_cost,
        limits.max_exposure_per_category_usd - category_cost,
        limits.max_exposure_usd - total_cost,
    )
