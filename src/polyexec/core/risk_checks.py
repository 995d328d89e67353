"""The risk manager's checks, one function per group of limits.

Each check reads an intent, a :class:`~polyexec.core.risk_decision.RiskContext`, the
:class:`~polyexec.core.risk_limits.RiskLimits` and, where it needs them, the manager's breakers,
cooldowns or loss counters, and returns a denial or ``None`` (the intent passes this check).
None of them changes anything. :meth:`RiskManager.evaluate
<polyexec.core.risk.RiskManager.evaluate>` runs them in the documented order and the first
denial wins; ``reducing`` is whether the intent is a risk-reducing order (see
:func:`is_risk_reducing`).

Rules worth knowing
    * Exposure limits are checked *after this order*: current + the buy's notional ≤ limit.
    * The worst-case loss of a buy is its notional (the token can settle at 0); fees are not
      added. ``LOSS_LIMIT:TRADE`` denies a buy whose notional exceeds ``max_loss_per_trade_usd``.
    * A crossed or locked book is our local copy being wrong, not a market: ``BOOK_UNTRUSTED``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from polyexec.core.models import OrderIntent, OrderType, Side, TimestampMs
from polyexec.core.risk_breakers import BreakerKind, CircuitBreakers, VenueCooldowns
from polyexec.core.risk_decision import RiskContext, RiskDecision, RiskReason, deny
from polyexec.core.risk_limits import RiskLimits
from polyexec.core.risk_losses import LossTracker, limit_reached

__all__ = [
    "check_book",
    "check_breakers",
    "check_cooldown",
    "check_exposure",
    "check_intent",
    "check_losses",
    "check_size",
    "check_time_window",
    "intent_problem",
    "is_risk_reducing",
]

_SECOND_MS: Final = 1_000
_EXPOSURE_CHECKS: Final = (  # (reason, RiskContext field, RiskLimits field), broad to narrow
    (RiskReason.EXPOSURE_LIMIT, "total_exposure_usd", "max_exposure_usd"),
    (RiskReason.CATEGORY_EXPOSURE_LIMIT, "category_exposure_usd", "max_exposure_per_category_usd"),
    (RiskReason.MARKET_EXPOSURE_LIMIT, "market_exposure_usd", "max_exposure_per_market_usd"),
    (RiskReason.WINDOW_LIMIT, "window_bought_usd", "max_window_usd"),
)


def is_risk_reducing(intent: OrderIntent) -> bool:
    """A SELL flagged ``reduces_position``; a BUY never reduces risk, whatever its flag."""
    return intent.side is Side.SELL and intent.reduces_position


def intent_problem(intent: OrderIntent, ctx: RiskContext) -> str | None:
    """Why the intent is malformed or impossible, or ``None`` if it is well formed."""
    for name, value in (("price", intent.price), ("size", intent.size)):
        if not isinstance(value, Decimal) or not value.is_finite():
            return f"{name} must be a finite Decimal (got {value!r})"
    if intent.size <= 0:
        return f"size must be positive (got {intent.size})"
    if not 0 < intent.price < 1:
        return f"price must be strictly between 0 and 1 (got {intent.price})"
    market = ctx.market
    if intent.condition_id != market.condition_id:
        return f"intent market {intent.condition_id} is not the context's {market.condition_id}"
    if intent.token_id not in (market.up_token_id, market.down_token_id):
        return f"token {intent.token_id} does not belong to market {market.slug}"
    if intent.post_only and intent.order_type.is_marketable_only:
        return f"post-only is not valid with {intent.order_type}"
    if intent.order_type is OrderType.GTD and (
        intent.expiration_s is None or intent.expiration_s * _SECOND_MS <= ctx.now_ms
    ):
        return f"GTD order needs an expiration in the future (got {intent.expiration_s})"
    available = ctx.position_shares - ctx.open_sell_shares
    if intent.side is Side.SELL and intent.size > available:
        # The venue has no short selling: this would be rejected for balance anyway.
        return f"sell of {intent.size} exceeds the {available} shares held and not already offered"
    return None


def check_intent(intent: OrderIntent, ctx: RiskContext) -> RiskDecision | None:
    """``INVALID_INTENT``: a non-finite, non-positive or out-of-range price or size, a token of
    another market, post-only on FOK/FAK, a GTD without a future expiry, or a sell of more
    shares than are held and not already offered (see :func:`intent_problem`)."""
    problem = intent_problem(intent, ctx)
    return None if problem is None else deny(RiskReason.INVALID_INTENT, problem)


def check_cooldown(cooldowns: VenueCooldowns, token_id: str, now_ms: TimestampMs) -> RiskDecision | None:
    """``COOLDOWN_CACHED``: the venue asked us to leave this token alone until later."""
    cooldown = cooldowns.active(token_id, now_ms)
    if cooldown is None:
        return None
    return deny(RiskReason.COOLDOWN_CACHED, f"venue cooldown until {cooldown[0]}: {cooldown[1]}")


def check_breakers(breakers: CircuitBreakers, now_ms: TimestampMs, reducing: bool) -> RiskDecision | None:
    """``CIRCUIT_BREAKER:<kind>`` for the first tripped breaker in :class:`BreakerKind` order."""
    for kind in breakers.tripped(now_ms):
        # The reject and API breakers stop everything: the venue is refusing or failing our
        # orders. The loss-based ones still let a position be cut.
        if reducing and kind in (BreakerKind.LOSS_WINDOW, BreakerKind.DRAWDOWN):
            continue
        until = breakers.until_ms(kind, now_ms)
        when = "until the API recovers" if until is None else f"until {until}"
        return deny(RiskReason.for_breaker(kind), f"{breakers.reason(kind, now_ms)} ({when})")
    return None


def check_time_window(limits: RiskLimits, ctx: RiskContext, reducing: bool) -> RiskDecision | None:
    """``OUTSIDE_TIME_WINDOW``: opening orders only between ``min`` and ``max_seconds_to_end``
    before the window end; risk-reducing orders until the window ends."""
    left = ctx.market.seconds_to_end(ctx.now_ms)
    low, high = limits.min_seconds_to_end, limits.max_seconds_to_end
    if reducing:
        if left <= 0:
            return deny(RiskReason.OUTSIDE_TIME_WINDOW, f"window {ctx.market.slug} has ended")
    elif not low <= left <= high:
        return deny(RiskReason.OUTSIDE_TIME_WINDOW, f"{left}s to the end, outside [{low}, {high}]s")
    return None


def check_losses(
    limits: RiskLimits, losses: LossTracker, now_ms: TimestampMs, reducing: bool
) -> RiskDecision | None:
    """``LOSS_LIMIT:DAY``, ``LOSS_LIMIT:HOUR``, ``CONSECUTIVE_LOSSES``: a loss limit reached
    stops new risk; risk-reducing orders pass."""
    if reducing:
        return None
    checks: tuple[tuple[RiskReason, str, Decimal | int, Decimal | int], ...] = (
        (RiskReason.LOSS_LIMIT_DAY, "day loss", losses.day_loss(now_ms), limits.max_loss_per_day_usd),
        (RiskReason.LOSS_LIMIT_HOUR, "hour loss", losses.hour_loss(now_ms), limits.max_loss_per_hour_usd),
        (
            RiskReason.CONSECUTIVE_LOSSES,
            "losing streak",
            losses.loss_streak(now_ms),
            limits.max_consecutive_losses,
        ),
    )
    for reason, what, value, limit in checks:
        if limit_reached(value, limit):
            return deny(reason, f"{what} {value} reached the limit {limit}")
    return None


def check_size(
    limits: RiskLimits, intent: OrderIntent, ctx: RiskContext, reducing: bool
) -> RiskDecision | None:
    """``OPEN_ORDERS_LIMIT`` (every order), ``TRADE_SIZE_LIMIT`` (all but risk-reducing
    orders: their size is bounded by the position they close) and ``LOSS_LIMIT:TRADE`` (buys)."""
    notional = intent.notional
    if ctx.open_orders + 1 > limits.max_open_orders:
        return deny(RiskReason.OPEN_ORDERS_LIMIT, f"{ctx.open_orders} open, max {limits.max_open_orders}")
    if not reducing and notional > limits.max_trade_usd:
        return deny(RiskReason.TRADE_SIZE_LIMIT, f"notional {notional} > max {limits.max_trade_usd}")
    if intent.side is Side.BUY and notional > limits.max_loss_per_trade_usd:
        return deny(RiskReason.LOSS_LIMIT_TRADE, f"worst case {notional} > {limits.max_loss_per_trade_usd}")
    return None


def check_exposure(limits: RiskLimits, intent: OrderIntent, ctx: RiskContext) -> RiskDecision | None:
    """``EXPOSURE_LIMIT``, ``CATEGORY_EXPOSURE_LIMIT``, ``MARKET_EXPOSURE_LIMIT``,
    ``WINDOW_LIMIT``: every exposure counter *after* this order must stay within its limit.
    Buys only: a sell lowers exposure, so it passes even when a counter is already over."""
    if intent.side is not Side.BUY:
        return None
    for reason, current_field, limit_field in _EXPOSURE_CHECKS:
        current: Decimal = getattr(ctx, current_field)
        limit: Decimal = getattr(limits, limit_field)
        if current + intent.notional > limit:
            return deny(reason, f"{current_field} {current} + {intent.notional} > {limit}")
    return None


def check_book(limits: RiskLimits, intent: OrderIntent, ctx: RiskContext) -> RiskDecision | None:
    """``BOOK_UNTRUSTED``, ``INSUFFICIENT_DEPTH``, ``SPREAD_TOO_WIDE``, ``SLIPPAGE_TOO_HIGH``:
    the token's book must be trusted, two-sided, uncrossed and deep enough on both sides, its
    spread narrow enough, the estimated slippage small enough, and a taker order's limit no
    more than ``max_slippage_cents`` past the touch."""
    bid, ask = ctx.best_bid, ctx.best_ask
    if not ctx.book_trusted:
        return deny(RiskReason.BOOK_UNTRUSTED, f"book of {intent.token_id} missing or not trusted")
    if bid is None or ask is None:
        empty = "bid" if bid is None else "ask"
        return deny(RiskReason.INSUFFICIENT_DEPTH, f"{empty} side of the book is empty")
    if bid >= ask:
        # A crossed or locked book is our local copy being wrong, not a market.
        return deny(RiskReason.BOOK_UNTRUSTED, f"book crossed: bid {bid} ≥ ask {ask}")
    for side, depth in (("bid", ctx.bid_depth_usd), ("ask", ctx.ask_depth_usd)):
        if depth < limits.min_depth_usd:
            return deny(RiskReason.INSUFFICIENT_DEPTH, f"{side} depth {depth} < {limits.min_depth_usd}")
    spread_pct = (ask - bid) / ((ask + bid) / 2) * 100
    if spread_pct > limits.max_spread_pct:
        return deny(RiskReason.SPREAD_TOO_WIDE, f"spread {spread_pct:.3f}% > {limits.max_spread_pct}%")
    if ctx.est_slippage_pct > limits.max_slippage_pct:
        slip = f"estimated slippage {ctx.est_slippage_pct}% > {limits.max_slippage_pct}%"
        return deny(RiskReason.SLIPPAGE_TOO_HIGH, slip)
    if not intent.post_only:
        # How far a marketable limit reaches past the touch; negative when it would rest.
        beyond = intent.price - ask if intent.side is Side.BUY else bid - intent.price
        if beyond * 100 > limits.max_slippage_cents:
            reach = f"limit {intent.price} is {beyond * 100}¢ past the touch > {limits.max_slippage_cents}¢"
            return deny(RiskReason.SLIPPAGE_TOO_HIGH, reach)
    return None
