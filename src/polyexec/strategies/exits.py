"""Exits of existing positions (``EXIT``): a hard stop-loss, a hedge near the end, else hold.

EXIT runs second in every decision pass, after inventory control (``ICC``), and looks after
every holding whatever strategy opened it. It works per market on the **unpaired** position:
shares of Up and shares of Down pay exactly $1 a pair at settlement, so a pair's result is
locked and EXIT never breaks one up. The unpaired position is the side with more shares (a
SELL in flight or proposed earlier in this pass already counts as gone, a marketable BUY in
flight as held), less the shares of the other side.

The stop-loss
    The mark is the best bid. The stop triggers when the loss per share at the mark
    (``average_cost − best bid``) is positive and at least the threshold: the constructor's
    ``stop_loss_per_share`` or, by default, ``limits.max_loss_per_trade_usd`` divided by the
    unpaired shares (the stop fires once the position has lost the per-trade loss limit at the
    bid). Before the end-game (below) it proposes a FAK SELL, ``reduces_position=True``, limited
    at the lowest price the slippage limits allow below the best bid (``max_slippage_cents`` and
    ``max_slippage_pct``, whichever is tighter; see
    :func:`~polyexec.strategies.inventory_control.quote_reducing_sell`), of the unpaired shares,
    capped by the shares sellable now (confirmed, not already offered) and by the shares bid at
    or above the limit: on a thin book it sells what the depth allows and the next pass sells
    more. The trade-size limit does not apply to it (the risk manager exempts reducing orders).
    Stop-loss sells go out on non-tradable windows too: they only reduce.

The end-game: hedge or hold
    In the last ``min_seconds_to_end + hedge_horizon_s`` seconds of a window, a triggered stop
    does not sell. Instead, while new orders are still allowed (the window is ``tradable`` and
    at least ``limits.min_seconds_to_end`` seconds are left), EXIT buys the opposite outcome
    (FAK at its best ask) if and only if ``Up ask + Down ask + taker fee of each < 1``: then the
    pair costs less than the $1 it pays, and since the held outcome's bid is below its ask,
    buying the other side locks a better result than selling at the bid. The hedge covers at
    most the confirmed unpaired shares, the size at the best ask, ``max_trade_usd`` and
    ``max_loss_per_trade_usd`` of notional, and the room left under the drawdown-scaled exposure
    targets of ICC (so ICC does not undo it); it is a new BUY, so ``reduces_position`` is False.

When EXIT holds to resolution (proposes nothing for the position)
    * the loss at the best bid is below the threshold, or there is no loss;
    * every share is paired with one of the other outcome (the pair pays $1 whatever happens);
    * in the end-game (above) when no hedge is possible: asks summing to 1 − fees or more, the
      window no longer tradable, an untrusted or empty book on either side, or a hedge below the
      market's minimum size within the caps. So close to settlement the bid of a losing outcome
      is mostly spread and fee; settlement at $1/$0 is worth the market's probability without
      paying them;
    * the best bid is below ``min_exit_bid`` (default 0.05): selling would salvage at most that
      per share, less fee and slippage, and give up the chance of $1;
    * fewer shares than the market's minimum size are sellable now within the depth the slippage
      limits allow (the venue refuses smaller orders; the next pass looks again);
    * the window has ended (the position waits for the venue's resolution).
    On an untrusted book or without any bid EXIT proposes nothing in this pass and looks again
    in the next one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from polyexec.core.events import FeedEvent
from polyexec.core.models import ONE, ZERO, Market, OrderIntent, OrderType, Outcome, Side, TimestampMs
from polyexec.core.pricing import Rounding, fee_per_share, is_valid_price, quantize_size
from polyexec.strategies.context import Holding, Proposal, StrategyContext, WindowView
from polyexec.strategies.inventory_control import (
    exposure_targets,
    measure_exposure,
    quote_reducing_sell,
    sellable_now,
    usable_tick,
)

__all__ = ["EXIT_NAME", "ExitStrategy", "UnpairedPosition", "unpaired_position"]

EXIT_NAME: Final = "EXIT"


@dataclass(frozen=True, slots=True)
class UnpairedPosition:
    """The part of a market's position not matched by shares of the other outcome."""

    outcome: Outcome
    holding: Holding
    shares: Decimal


def unpaired_position(context: StrategyContext, market: Market) -> UnpairedPosition | None:
    """The unpaired position in ``market`` (see the module docs), or ``None`` if it is flat,
    fully paired or malformed."""
    effective: dict[Outcome, Decimal] = {}
    holdings: dict[Outcome, Holding] = {}
    for outcome in (Outcome.UP, Outcome.DOWN):
        token_id = market.token_for(outcome)
        holding = context.holding(token_id)
        shares = ZERO
        if holding is not None and holding.shares.is_finite() and holding.average_cost.is_finite():
            holdings[outcome] = holding
            shares = max(holding.shares, ZERO)
        effective[outcome] = shares + _in_flight(context, token_id)
    side = Outcome.UP if effective[Outcome.UP] >= effective[Outcome.DOWN] else Outcome.DOWN
    held = holdings.get(side)
    unpaired = min(effective[side] - effective[side.opposite], held.shares if held else ZERO)
    if held is None or unpaired <= ZERO or held.average_cost <= ZERO:
        return None
    return UnpairedPosition(side, held, unpaired)


def _in_flight(context: StrategyContext, token_id: str) -> Decimal:
    """Shares of ``token_id`` on their way in (+) or out (−): marketable orders in flight and
    orders proposed earlier in this pass."""
    change = ZERO
    for order in context.resting:
        if order.token_id == token_id and order.order_type.is_marketable_only and order.remaining.is_finite():
            change += order.remaining if order.side is Side.BUY else -order.remaining
    for proposal in context.proposed:
        if isinstance(proposal, OrderIntent) and proposal.token_id == token_id:
            change += proposal.size if proposal.side is Side.BUY else -proposal.size
    return change


class ExitStrategy:
    """Stop-loss and end-game hedging of every holding (see the module docs). Stateless.

    ``stop_loss_per_share``: the loss per share at the best bid that triggers the stop (default:
    ``limits.max_loss_per_trade_usd`` over the unpaired shares). ``hedge_horizon_s``: how long
    before the last-orders cut-off (``limits.min_seconds_to_end``) the end-game starts.
    ``min_exit_bid``: below this best bid the stop holds instead of selling. ``ValueError`` for
    a non-positive threshold, a negative horizon or a floor outside [0, 1).
    """

    __slots__ = ("_hedge_horizon_s", "_min_exit_bid", "_stop_loss_per_share")

    def __init__(
        self,
        *,
        stop_loss_per_share: Decimal | None = None,
        hedge_horizon_s: int = 60,
        min_exit_bid: Decimal = Decimal("0.05"),
    ) -> None:
        threshold = stop_loss_per_share
        if threshold is not None and not (threshold.is_finite() and threshold > 0):
            raise ValueError(f"stop_loss_per_share must be a positive price distance, got {threshold}")
        if hedge_horizon_s < 0:
            raise ValueError(f"hedge_horizon_s must not be negative, got {hedge_horizon_s}")
        if not (min_exit_bid.is_finite() and ZERO <= min_exit_bid < ONE):
            raise ValueError(f"min_exit_bid must be a price in [0, 1), got {min_exit_bid}")
        self._stop_loss_per_share = stop_loss_per_share
        self._hedge_horizon_s = hedge_horizon_s
        self._min_exit_bid = min_exit_bid

    @property
    def name(self) -> str:
        return EXIT_NAME

    def observe(self, event: FeedEvent, now_ms: TimestampMs) -> None:
        """EXIT reads only the decision context: feed events change nothing here."""

    def stop_loss_threshold(self, max_loss_per_trade_usd: Decimal, shares: Decimal) -> Decimal:
        """The loss per share at which the stop triggers for a position of ``shares``."""
        if self._stop_loss_per_share is not None:
            return self._stop_loss_per_share
        return max_loss_per_trade_usd / shares

    def decide(self, context: StrategyContext) -> list[Proposal]:
        """One stop-loss SELL or hedge BUY per market whose unpaired position has hit its stop."""
        proposals: list[Proposal] = []
        for window in context.windows:
            proposal = self._decide_window(context, window)
            if proposal is not None:
                proposals.append(proposal)
        return proposals

    def _decide_window(self, context: StrategyContext, window: WindowView) -> OrderIntent | None:
        market, limits = window.market, context.limits
        seconds_left = window.seconds_left(context.now_ms)
        if seconds_left <= 0:
            return None
        position = unpaired_position(context, market)
        if position is None:
            return None
        book = window.book(position.outcome)
        best = book.best_bid() if book.trusted else None
        if best is None:
            return None
        cost = position.holding.average_cost
        loss = cost - best.price
        threshold = self.stop_loss_threshold(limits.max_loss_per_trade_usd, position.shares)
        if loss <= ZERO or loss < threshold:
            return None
        stop = f"{loss * 100:.1f}c under cost {cost:.3f} at bid {best.price} (stop {threshold * 100:.1f}c)"
        if seconds_left <= limits.min_seconds_to_end + self._hedge_horizon_s:
            return self._hedge(context, window, position, stop)
        return self._stop_loss(context, window, position, stop)

    def _stop_loss(
        self, context: StrategyContext, window: WindowView, position: UnpairedPosition, stop: str
    ) -> OrderIntent | None:
        market, holding = window.market, position.holding
        quote = quote_reducing_sell(window.book(position.outcome), market, context.limits)
        if quote is None or quote.best_bid < self._min_exit_bid:
            return None
        wanted = min(position.shares, sellable_now(context, holding), quote.depth)
        size = quantize_size(max(wanted, ZERO), quote.tick, Rounding.DOWN)
        if size <= ZERO or size < market.min_size:
            return None
        return OrderIntent(
            strategy=EXIT_NAME,
            condition_id=market.condition_id,
            token_id=holding.token_id,
            side=Side.SELL,
            price=quote.price,
            size=size,
            order_type=OrderType.FAK,
            reduces_position=True,
            reason=f"stop-loss {position.outcome}: {stop}; sell {size} of {position.shares}",
        )

    def _hedge(
        self, context: StrategyContext, window: WindowView, position: UnpairedPosition, stop: str
    ) -> OrderIntent | None:
        market, limits, holding = window.market, context.limits, position.holding
        if not window.tradable or window.seconds_left(context.now_ms) < limits.min_seconds_to_end:
            return None
        own_book, hedge_book = window.book(position.outcome), window.book(position.outcome.opposite)
        if not (own_book.trusted and hedge_book.trusted):
            return None
        own_ask, hedge_ask = own_book.best_ask(), hedge_book.best_ask()
        tick = usable_tick(hedge_book, market)
        if own_ask is None or hedge_ask is None or tick is None:
            return None
        price = hedge_ask.price
        if not is_valid_price(price, tick):
            return None
        fees = fee_per_share(own_ask.price, market.fee) + fee_per_share(price, market.fee)
        if own_ask.price + price + fees >= ONE:
            return None  # no lock available: hold to resolution
        targets = exposure_targets(limits, context.drawdown_pct)
        room = measure_exposure(context).headroom(market.condition_id, targets)
        budget = min(limits.max_trade_usd, limits.max_loss_per_trade_usd, room)
        sellable = holding.sellable if holding.sellable.is_finite() else ZERO
        confirmed = min(position.shares, max(min(sellable, holding.shares), ZERO))
        size = quantize_size(max(min(confirmed, hedge_ask.size, budget / price), ZERO), tick, Rounding.DOWN)
        if size <= ZERO or size < market.min_size:
            return None
        locked = ONE - holding.average_cost - price - fee_per_share(price, market.fee)
        opposite = position.outcome.opposite
        reason = (
            f"hedge {position.outcome} with {opposite}: {stop}; asks {own_ask.price} + {price} "
            f"+ fees {fees:.4f} < 1, locks {locked:+.3f}/share on {size}"
        )
        return OrderIntent(
            strategy=EXIT_NAME,
            condition_id=market.condition_id,
            token_id=market.token_for(opposite),
            side=Side.BUY,
            price=price,
            size=size,
            order_type=OrderType.FAK,
            reduces_position=False,
            reason=reason,
        )
