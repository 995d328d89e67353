"""``polyexec test limit`` and ``polyexec test market``: real orders, smallest possible.

**test limit** proves signing, auth and the order lifecycle without trading: one post-only
GTC BUY far below the market (default 5 shares at $0.01: $0.05 at stake), seen open over REST
and on the user channel, cancelled, and seen gone on both. If anything fails after the order
may have been placed (an ambiguous answer to the post included, and an interruption such as
Ctrl-C), it is cancelled anyway and the checklist (or, when interrupted, the log) says whether
that worked.

**test market** proves taking liquidity end to end: a FOK BUY of ``amount`` dollars (default
$1, the venue's smallest marketable BUY) no worse than ``max_price``, waited on until its trade
is CONFIRMED; then a FOK SELL of the shares bought no worse than the best bid less the
slippage allowance, waited on until CONFIRMED. It reports fill prices, fees and the round
trip's cost. Sizes are floored to the venue's 2 decimals, so a few hundredths of a share can
stay behind (reported). When the round trip stops half-way (a failure or an interruption after
the BUY was sent), a last line says what the account may still hold, to be sold by hand.

Both use the daemon's own parts: :class:`~polyexec.venues.venue_session.VenueSession`,
market discovery, the fast signer, the CLOB client and the user feed.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from polyexec.config import Settings
from polyexec.core.events import FeedEvent, UserOrderEvent, UserOrderEventKind, UserTradeEvent
from polyexec.core.models import ONE, FeeSchedule, Market, OrderType, Outcome, Side, TradeStatus
from polyexec.core.pricing import Rounding, quantize_price, taker_fee
from polyexec.logging_setup import get_logger
from polyexec.smoke.checklist import Checklist
from polyexec.smoke.waiting import EventCollector, background, poll_until
from polyexec.venues.clob_client import ClobClient
from polyexec.venues.clob_responses import PostOrderResult, VenueOrder
from polyexec.venues.errors import AmbiguousOutcome, VenueError
from polyexec.venues.order_factory import limit_order, market_order
from polyexec.venues.user_feed import UserFeed, user_channel_url
from polyexec.venues.venue_session import VenueSession

__all__ = ["OrderTarget", "check_limit", "check_market"]

_CENT = Decimal("0.01")
_OPEN_STATUSES = frozenset({"LIVE", "DELAYED", "UNMATCHED"})

_log = get_logger(module=__name__)


@dataclass(frozen=True, slots=True)
class OrderTarget:
    """Which market and outcome a smoke order goes to (default: first asset, Up)."""

    asset: str
    outcome: Outcome


def _order_event(order_id: str, kind: UserOrderEventKind) -> Callable[[FeedEvent], bool]:
    def match(event: FeedEvent) -> bool:
        return isinstance(event, UserOrderEvent) and event.order_id == order_id and event.kind is kind

    return match


def _confirmed(trade_id: str) -> Callable[[FeedEvent], bool]:
    def match(event: FeedEvent) -> bool:
        return isinstance(event, UserTradeEvent) and event.trade_id == trade_id and event.status.is_terminal

    return match


async def _open_session(checklist: Checklist, settings: Settings, timeout_s: float) -> VenueSession | None:
    async def open_session() -> tuple[VenueSession, str]:
        session = await VenueSession.open(settings, timeout_s=timeout_s)
        assert session.signer is not None
        how = "derived" if session.credentials_derived else "configured"
        return session, f"wallet {session.signer.maker} ({session.signer.signature_type.name}), {how} API key"

    return await checklist.run("connect and authenticate", open_session, timeout_s=timeout_s)


async def _find_market(
    checklist: Checklist, session: VenueSession, target: OrderTarget, timeout_s: float
) -> Market | None:
    async def discover() -> tuple[Market, str]:
        discovery = session.discovery()
        await discovery.refresh()
        market = discovery.current(target.asset)
        if market is None:
            raise ValueError(f"no tradable current {target.asset} 15-minute market")
        return market, f"{market.slug}, {target.outcome.value} token, tick {market.tick_size}"

    return await checklist.run("current market", discover, timeout_s=timeout_s)


# ---------------------------------------------------------------------------- test limit
async def check_limit(
    settings: Settings, target: OrderTarget, *, price: Decimal, size: Decimal, timeout_s: float = 15.0
) -> Checklist:
    """Post one post-only GTC BUY at ``price`` for ``size`` shares, then cancel it."""
    checklist = Checklist(f"polyexec test limit: {settings.clob_host}")
    session = await _open_session(checklist, settings, timeout_s)
    if session is None:
        return checklist
    try:
        market = await _find_market(checklist, session, target, timeout_s)
        if market is not None:
            await _limit_round_trip(checklist, session, market, target, price, size, timeout_s)
    finally:
        await session.close()
    return checklist


async def _limit_round_trip(
    checklist: Checklist,
    session: VenueSession,
    market: Market,
    target: OrderTarget,
    price: Decimal,
    size: Decimal,
    timeout_s: float,
) -> None:
    client = session.client
    signer = session.signer
    credentials = session.credentials
    assert signer is not None
    assert credentials is not None
    token_id = market.token_for(target.outcome)
    events = EventCollector()
    feed = UserFeed(user_channel_url(session.settings.clob_ws_url), credentials, events)
    # The id of an order that may rest on the book: set before the post is sent (the id is the
    # order's digest) and cleared only by a refusal. An ambiguous answer, a timeout or an
    # interruption in the middle of the post leaves it set: unless the cancel step confirmed
    # the cancel, the order is cancelled on the way out.
    resting: list[str] = []
    cancelled = False
    async with background(feed.run()):
        await feed.subscribe([market.condition_id])
        try:

            async def place() -> tuple[PostOrderResult, str]:
                tick = await client.get_tick_size(token_id)
                if quantize_price(price, tick, Rounding.DOWN) != price:
                    raise ValueError(f"price {price} is not on the market's tick {tick}")
                await poll_until(_connected(feed), timeout_s=timeout_s, interval_s=0.02)
                order = limit_order(
                    signer,
                    token_id=token_id,
                    side=Side.BUY,
                    price=price,
                    size=size,
                    tick_size=tick,
                    neg_risk=market.neg_risk,
                    timestamp_ms=session.server_clock.now_ms(),
                )
                resting.append(order.order_id)
                try:
                    result = await client.post_order(order, OrderType.GTC, post_only=True)
                except VenueError as exc:
                    if not isinstance(exc, AmbiguousOutcome):
                        resting.clear()  # refused: nothing was placed
                    raise
                return result, f"BUY {size} @ {price} post-only GTC: {result.status} {result.order_id[:18]}…"

            placed = await checklist.run("place post-only order", place, timeout_s=timeout_s)
            if placed is None:
                return
            order_id = placed.order_id

            async def rest_open() -> tuple[VenueOrder, str]:
                async def probe() -> VenueOrder | None:
                    order = await client.get_order(order_id)
                    return order if order is not None and order.status in _OPEN_STATUSES else None

                order = await poll_until(probe, timeout_s=timeout_s)
                return order, f"GET /data/order: {order.status}, {order.original_size} shares @ {order.price}"

            await checklist.run("open over REST", rest_open, required=False, timeout_s=timeout_s + 1)

            async def ws_open() -> tuple[bool, str]:
                await events.wait_for(_order_event(order_id, UserOrderEventKind.PLACEMENT), timeout_s)
                return True, "PLACEMENT event received"

            await checklist.run("open on the user channel", ws_open, required=False, timeout_s=timeout_s + 1)

            async def cancel() -> tuple[bool, str]:
                result = await client.cancel_order(order_id)
                if order_id not in result.canceled:
                    raise ValueError(f"not cancelled: {result.not_canceled.get(order_id, 'no reason given')}")
                return True, "DELETE /order: canceled"

            cancelled = bool(await checklist.run("cancel", cancel, timeout_s=timeout_s))

            async def rest_gone() -> tuple[bool, str]:
                async def probe() -> str | None:
                    order = await client.get_order(order_id)
                    if order is None:
                        return "no longer listed"
                    return order.status if order.status not in _OPEN_STATUSES else None

                status = await poll_until(probe, timeout_s=timeout_s)
                return True, f"GET /data/order: {status}"

            await checklist.run("gone over REST", rest_gone, required=False, timeout_s=timeout_s + 1)

            async def ws_gone() -> tuple[bool, str]:
                await events.wait_for(_order_event(order_id, UserOrderEventKind.CANCELLATION), timeout_s)
                return True, "CANCELLATION event received"

            await checklist.run("gone on the user channel", ws_gone, required=False, timeout_s=timeout_s + 1)
        finally:
            if resting and not cancelled:
                await _cancel_left_over(checklist, session, resting[0])


async def _cancel_left_over(checklist: Checklist, session: VenueSession, order_id: str) -> None:
    """The check failed (or was interrupted) with our order possibly resting: take it down.

    Also logged as a warning: after an interruption the checklist is never printed."""
    try:
        result = await session.client.cancel_order(order_id)
    except Exception as exc:  # report, never mask the original failure
        checklist.fail("clean-up cancel", f"could not cancel {order_id}: {exc}; cancel it by hand")
        _log.error("smoke_order_left_open", order_id=order_id, error=str(exc))
        return
    if order_id in result.canceled:
        checklist.fail("clean-up cancel", f"order {order_id[:18]}… cancelled after the failure")
        _log.warning("smoke_order_cancelled_after_failure", order_id=order_id)


def _connected(feed: UserFeed) -> Callable[[], Coroutine[Any, Any, bool | None]]:
    async def probe() -> bool | None:
        return True if feed.connected else None

    return probe


# ---------------------------------------------------------------------------- test market
@dataclass(frozen=True, slots=True)
class _Fill:
    shares: Decimal
    cost: Decimal
    fee: Decimal
    trades: int

    @property
    def average_price(self) -> Decimal:
        return (self.cost / self.shares).quantize(Decimal("0.0001")) if self.shares else Decimal(0)


async def check_market(
    settings: Settings,
    target: OrderTarget,
    *,
    amount: Decimal,
    max_price: Decimal | None,
    slippage: Decimal,
    timeout_s: float = 30.0,
) -> Checklist:
    """Buy ``amount`` dollars with one FOK order, wait for CONFIRMED, sell it back the same way."""
    checklist = Checklist(f"polyexec test market: {settings.clob_host}")
    session = await _open_session(checklist, settings, timeout_s)
    if session is None:
        return checklist
    try:
        market = await _find_market(checklist, session, target, timeout_s)
        if market is not None:
            await _market_round_trip(
                checklist, session, market, target, amount, max_price, slippage, timeout_s
            )
    finally:
        await session.close()
    return checklist


@dataclass(slots=True)
class _Exposure:
    """What the round trip may have left in the account, for its last line."""

    bought: _Fill | None = None
    """The confirmed BUY, until it is sold back."""
    in_doubt: list[str] = field(default_factory=list)
    """The FOK order sent whose outcome is not known (an ambiguous answer, a timeout, an
    interruption, a trade not final yet): it may have filled."""

    def left_over(self, market: Market, target: OrderTarget) -> str | None:
        shares = f"{target.outcome.value} shares of {market.slug}"
        doubt = f"order {self.in_doubt[0][:18]}… may have filled" if self.in_doubt else ""
        if self.bought is not None:
            text = f"holding {self.bought.shares} {shares} (sell them by hand, or hold them to resolution)"
            return f"{text}; the sell {doubt}" if doubt else text
        if doubt:
            return f"the buy {doubt}: check the account's {shares} and sell them by hand"
        return None


async def _market_round_trip(
    checklist: Checklist,
    session: VenueSession,
    market: Market,
    target: OrderTarget,
    amount: Decimal,
    max_price: Decimal | None,
    slippage: Decimal,
    timeout_s: float,
) -> None:
    client = session.client
    credentials = session.credentials
    assert credentials is not None
    token_id = market.token_for(target.outcome)
    events = EventCollector()
    feed = UserFeed(user_channel_url(session.settings.clob_ws_url), credentials, events)
    exposure = _Exposure()
    try:
        async with background(feed.run()):
            await feed.subscribe([market.condition_id])

            async def buy() -> tuple[_Fill, str]:
                # The fills are confirmed on the user channel: it must be up before buying.
                await poll_until(_connected(feed), timeout_s=timeout_s, interval_s=0.02)
                book = await poll_until(lambda: _book_with(client, token_id, Side.BUY), timeout_s=timeout_s)
                tick, best_ask = book
                worst = max_price if max_price is not None else min(best_ask + slippage, ONE - tick)
                worst = quantize_price(worst, tick, Rounding.DOWN, clamp=True)
                fill = await _take(
                    session, market, token_id, Side.BUY, amount, worst, tick, events, timeout_s, exposure
                )
                exposure.bought = fill
                return fill, (
                    f"FOK BUY ${amount} (ask {best_ask}, worst {worst}): {fill.shares} shares @ "
                    f"{fill.average_price}, fee ${fill.fee}, {fill.trades} trade(s) CONFIRMED"
                )

            bought = await checklist.run("buy (FOK) until CONFIRMED", buy, timeout_s=timeout_s * 2)
            if bought is None:
                return
            shares = bought.shares.quantize(_CENT, rounding=ROUND_DOWN)
            if shares <= 0:
                checklist.fail(
                    "sell (FOK) until CONFIRMED", f"bought {bought.shares} shares: nothing to sell"
                )
                return

            async def sell() -> tuple[_Fill, str]:
                tick, best_bid = await poll_until(
                    lambda: _book_with(client, token_id, Side.SELL), timeout_s=timeout_s
                )
                worst = quantize_price(max(best_bid - slippage, tick), tick, Rounding.UP, clamp=True)
                fill = await _take(
                    session, market, token_id, Side.SELL, shares, worst, tick, events, timeout_s, exposure
                )
                exposure.bought = None
                left = bought.shares - fill.shares
                return fill, (
                    f"FOK SELL {shares} shares (bid {best_bid}, worst {worst}): @ {fill.average_price}, "
                    f"fee ${fill.fee}, CONFIRMED; {left} share(s) left over"
                )

            sold = await checklist.run("sell (FOK) until CONFIRMED", sell, timeout_s=timeout_s * 2)
            if sold is None:
                return

            async def summary() -> tuple[bool, str]:
                spent = bought.cost + bought.fee
                received = sold.cost - sold.fee
                return True, f"paid ${spent}, got back ${received}: round trip cost ${spent - received}"

            await checklist.run("round trip", summary)
    finally:
        left = exposure.left_over(market, target)
        if left is not None:
            checklist.fail("left in the account", left, required=False)
            _log.warning("smoke_position_left_over", detail=left, token_id=token_id)


async def _book_with(client: ClobClient, token_id: str, side: Side) -> tuple[Decimal, Decimal] | None:
    """(tick, best price to take) once the book has the side we need, else None."""
    book = await client.get_book(token_id)
    tick = book.tick_size if book.tick_size is not None else await client.get_tick_size(token_id)
    if side is Side.BUY:
        best = min((level.price for level in book.asks if level.size > 0), default=None)
    else:
        best = max((level.price for level in book.bids if level.size > 0), default=None)
    return None if best is None else (tick, best)


async def _take(
    session: VenueSession,
    market: Market,
    token_id: str,
    side: Side,
    amount: Decimal,
    worst_price: Decimal,
    tick: Decimal,
    events: EventCollector,
    timeout_s: float,
    exposure: _Exposure,
) -> _Fill:
    """Send one FOK order and wait until each of its trades is final; the confirmed fill.

    The order is sent once (the transport may resend the same signed order, which the venue
    never executes twice). ``exposure.in_doubt`` holds its id from just before the post until
    its outcome is known."""
    assert session.signer is not None
    order = market_order(
        session.signer,
        token_id=token_id,
        side=side,
        amount=amount,
        worst_price=worst_price,
        tick_size=tick,
        neg_risk=market.neg_risk,
        timestamp_ms=session.server_clock.now_ms(),
    )
    exposure.in_doubt.append(order.order_id)
    try:
        result = await session.client.post_order(order, OrderType.FOK)
    except VenueError as exc:
        if not isinstance(exc, AmbiguousOutcome):
            exposure.in_doubt.clear()  # refused: nothing happened
        raise
    if not result.trade_ids:
        exposure.in_doubt.clear()  # killed: a FOK that does not fill entirely leaves nothing
        raise ValueError(f"the FOK order {result.status} without a trade")
    fill = await _confirmed_fill(result.trade_ids, events, market.fee, timeout_s, exposure)
    exposure.in_doubt.clear()
    return fill


async def _confirmed_fill(
    trade_ids: tuple[str, ...],
    events: EventCollector,
    schedule: FeeSchedule,
    timeout_s: float,
    exposure: _Exposure,
) -> _Fill:
    shares = cost = fee = Decimal(0)
    for trade_id in trade_ids:
        final = await events.wait_for(_confirmed(trade_id), timeout_s)
        assert isinstance(final, UserTradeEvent)
        if final.status is not TradeStatus.CONFIRMED:
            if len(trade_ids) == 1:
                exposure.in_doubt.clear()  # the order's only fill was voided: nothing changed hands
            raise ValueError(f"trade {trade_id} ended {final.status.value}: the fill did not happen")
        shares += final.size
        cost += final.size * final.price
        fee += taker_fee(final.size, final.price, schedule)
    return _Fill(shares, cost, fee, len(trade_ids))
