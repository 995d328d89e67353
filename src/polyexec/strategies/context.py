"""What a strategy sees and what it returns: the contract between the engine and the strategies.

Strategies are pure (DESIGN.md): no I/O, no asyncio, no clock. Each decision pass the engine
builds one :class:`StrategyContext` (a frozen snapshot of the markets it trades, the underlying
prices, our holdings and resting orders, the risk limits and the strategy parameters) and asks
every enabled strategy, in priority order, for its proposals (:class:`Proposal`). A strategy
only proposes: the risk manager approves or denies each intent, the order manager sends.

Strategies may keep their own state between passes (a volatility estimate, a move detector);
they learn about market events through :meth:`Strategy.observe`, which the engine calls for
every feed event before the next decision pass, with the event's time passed in.

Priority order (the engine runs them sequentially, one pass at a time): inventory and
correlation control (``ICC``), exits of existing positions (stop-loss / hedging, ``EXIT``),
the Binance-led fair value (``FV``), market making (``MM``), flow following (``FF``). A later
strategy sees what earlier ones proposed in :attr:`StrategyContext.proposed` (e.g. MM does not
quote a market ICC is reducing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from polyexec.core.events import FeedEvent, PriceSource
from polyexec.core.models import CancelIntent, Market, OrderIntent, OrderType, Outcome, Side, TimestampMs
from polyexec.core.order_book import OrderBook
from polyexec.core.risk_limits import RiskLimits

__all__ = [
    "PRIORITY",
    "Holding",
    "Proposal",
    "RestingOrder",
    "Strategy",
    "StrategyContext",
    "StrategyParams",
    "UnderlyingView",
    "WindowView",
]

Proposal = OrderIntent | CancelIntent
"""What a strategy returns: orders to place and orders to cancel."""

PRIORITY: tuple[str, ...] = ("ICC", "EXIT", "FV", "MM", "FF")
"""Strategy names in the order the engine runs them."""


@dataclass(frozen=True, slots=True)
class UnderlyingView:
    """The underlying asset's prices, as the engine tracks them (``venues.reference_prices``).

    ``binance_price`` is the last Binance trade (USDT, the leading signal). ``settlement_price``
    is the current 60-second TWAP that settles the markets, from Chainlink via RTDS or, when RTDS
    is stale, the Binance stand-in (``settlement_source`` says which). ``basis`` is
    ``chainlink / binance − 1`` (USD vs USDT, a few basis points), ``None`` until both were seen.
    ``volatility`` is the realised volatility of the log price **per √second** (a float: it is a
    model input, not money), ``None`` until enough data.
    """

    asset: str
    binance_price: Decimal | None
    binance_time_ms: TimestampMs | None
    settlement_price: Decimal | None
    settlement_source: PriceSource | None
    chainlink_spot: Decimal | None = None
    basis: Decimal | None = None
    volatility: float | None = None


@dataclass(frozen=True, slots=True)
class WindowView:
    """One market the engine trades (a 15-minute window of one asset) and its two books.

    ``strike`` is the price to beat: the settlement TWAP at the window start (``None`` until
    known). ``settlement_observed`` is, inside the last 60 seconds, ``(seconds observed, mean so
    far)`` of the averaging that settles the window (``None`` before it starts).
    ``tradable`` is the engine's verdict that new orders may go to this market now (feeds fresh,
    books trusted, heartbeat healthy, inside the risk window); strategies may still propose
    cancels and reductions when it is false.
    """

    market: Market
    up_book: OrderBook
    down_book: OrderBook
    strike: Decimal | None
    settlement_observed: tuple[int, Decimal] | None = None
    tradable: bool = True

    def book(self, outcome: Outcome) -> OrderBook:
        return self.up_book if outcome is Outcome.UP else self.down_book

    def book_of(self, token_id: str) -> OrderBook:
        return self.book(self.market.outcome_of(token_id))

    def seconds_left(self, now_ms: TimestampMs) -> Decimal:
        return self.market.seconds_to_end(now_ms)


@dataclass(frozen=True, slots=True)
class Holding:
    """Our position in one token. ``shares`` counts provisional fills too (matched, not yet
    confirmed); only ``sellable`` shares (confirmed: ghost fills cannot be sold) may be sold."""

    token_id: str
    condition_id: str
    shares: Decimal
    sellable: Decimal
    average_cost: Decimal
    strategy: str = ""


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """One of our open orders (``remaining`` shares still on the book, or in flight)."""

    order_id: str
    strategy: str
    condition_id: str
    token_id: str
    side: Side
    price: Decimal
    remaining: Decimal
    order_type: OrderType = OrderType.GTC
    post_only: bool = False
    expiration_s: int | None = None


@dataclass(frozen=True, slots=True)
class StrategyParams:
    """Strategy settings (from :class:`~polyexec.config.Settings`): the edge a fair-value trade
    needs, the price move flow following reacts to, and the wallets it may follow."""

    min_edge_cents: Decimal = Decimal(5)
    min_move_cents: Decimal = Decimal(3)
    target_addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """Everything a strategy may look at in one decision pass, frozen at ``now_ms``."""

    now_ms: TimestampMs
    windows: tuple[WindowView, ...]
    underlyings: Mapping[str, UnderlyingView]
    holdings: Mapping[str, Holding]
    resting: tuple[RestingOrder, ...]
    limits: RiskLimits
    params: StrategyParams = field(default_factory=StrategyParams)
    drawdown_pct: Decimal = Decimal(0)
    """How far equity is below its peak, in percent (0 at a new high)."""
    proposed: tuple[Proposal, ...] = ()
    """What the strategies before this one proposed in this pass."""

    def window(self, condition_id: str) -> WindowView | None:
        for view in self.windows:
            if view.market.condition_id == condition_id:
                return view
        return None

    def resting_in(self, condition_id: str, strategy: str | None = None) -> list[RestingOrder]:
        return [
            order
            for order in self.resting
            if order.condition_id == condition_id and (strategy is None or order.strategy == strategy)
        ]

    def holding(self, token_id: str) -> Holding | None:
        return self.holdings.get(token_id)


class Strategy(Protocol):
    """A strategy: pure, fed events, asked for proposals."""

    @property
    def name(self) -> str:
        """Short code: "ICC", "EXIT", "FV", "MM" or "FF" (set on every intent's ``strategy``)."""

    def observe(self, event: FeedEvent, now_ms: TimestampMs) -> None:
        """Learn from one feed event (called for every event, in order, between passes)."""

    def decide(self, context: StrategyContext) -> Sequence[Proposal]:
        """The orders to place and cancel now. Never raises on odd market states: an empty
        book, a missing strike or price, a saturated probability all mean "propose nothing"."""
