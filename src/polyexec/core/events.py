"""Typed feed events: what the venue adapters decode wire payloads into.

The adapters in ``venues/`` parse bytes from the Polymarket market and user channels, RTDS and
Binance into these immutable records; everything downstream (order book, tick processor,
strategies, order state machine) consumes only these. Prices and sizes are ``Decimal``.
Timestamps are milliseconds since the epoch (the venue sends seconds in a few places; the
parsers normalise).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import msgspec

from polyexec.core.models import BookLevel, Liquidity, Side, TimestampMs, TradeStatus

__all__ = [
    "BestBidAsk",
    "BinanceBookTicker",
    "BinanceTrade",
    "BookSnapshot",
    "FeedEvent",
    "LastTradePrice",
    "MakerOrderFill",
    "PriceChange",
    "PriceLevelChange",
    "PriceSource",
    "ReferencePrice",
    "TickSizeChange",
    "UserOrderEvent",
    "UserOrderEventKind",
    "UserTradeEvent",
]


# --- Polymarket market channel -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """A full book for one token (``book`` event, or REST ``/book``).

    ``bids`` and ``asks`` keep the venue's wire order: bids ascending and asks descending, so
    the best level is the **last** element of each. Consumers must not rely on that order
    being honoured by a misbehaving venue: the order book re-sorts.
    """

    asset_id: str
    condition_id: str
    timestamp_ms: TimestampMs
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    hash: str = ""
    tick_size: Decimal | None = None  # present on REST /book, absent on WS


# The two records of the market feed's hot path (hundreds of thousands per second) are frozen
# ``msgspec.Struct``s rather than frozen dataclasses: they behave the same (positional and
# keyword construction, equality, hashing, repr, ``match``, pickling; assignment raises
# ``AttributeError``) but are built about ten times faster. ``gc=False``: they hold only
# strings, Decimals, enums and tuples of each other, so they can never be part of a cycle.


class PriceLevelChange(msgspec.Struct, frozen=True, gc=False):
    """One level update inside a ``price_change``: ``size`` is the new aggregate size at
    ``price`` (zero removes the level). ``side`` BUY is a bid level, SELL an ask level."""

    asset_id: str
    price: Decimal
    size: Decimal
    side: Side
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None


class PriceChange(msgspec.Struct, frozen=True, gc=False):
    """A batched ``price_change``: one message can touch both tokens of a market."""

    condition_id: str
    timestamp_ms: TimestampMs
    changes: tuple[PriceLevelChange, ...]


@dataclass(frozen=True, slots=True)
class TickSizeChange:
    """The token's tick size changed (price crossed 0.96 / 0.04): re-quantise everything."""

    asset_id: str
    condition_id: str
    old_tick_size: Decimal
    new_tick_size: Decimal
    timestamp_ms: TimestampMs


@dataclass(frozen=True, slots=True)
class LastTradePrice:
    """A trade printed on the market channel. ``side`` is the taker's side."""

    asset_id: str
    condition_id: str
    price: Decimal
    size: Decimal
    side: Side
    timestamp_ms: TimestampMs


@dataclass(frozen=True, slots=True)
class BestBidAsk:
    """Top of book for one token (``best_bid_ask``, needs custom features). ``None`` = empty side."""

    asset_id: str
    condition_id: str
    best_bid: Decimal | None
    best_ask: Decimal | None
    timestamp_ms: TimestampMs


# --- Polymarket user channel ---------------------------------------------------------------


class UserOrderEventKind(StrEnum):
    PLACEMENT = "PLACEMENT"
    UPDATE = "UPDATE"
    CANCELLATION = "CANCELLATION"


@dataclass(frozen=True, slots=True)
class UserOrderEvent:
    """An ``order`` event for one of our orders. ``size_matched`` is **cumulative**.

    ``status`` is kept as the venue's string (LIVE, MATCHED, CANCELED, CANCELED_EXPIRED_ORDER,
    …): the set is open-ended and unknown values must not crash anything.
    """

    order_id: str
    kind: UserOrderEventKind
    condition_id: str
    asset_id: str
    side: Side
    price: Decimal
    original_size: Decimal
    size_matched: Decimal
    status: str
    timestamp_ms: TimestampMs
    order_type: str = ""


@dataclass(frozen=True, slots=True)
class MakerOrderFill:
    """One resting order that a trade matched (an entry of the trade's ``maker_orders``)."""

    order_id: str
    asset_id: str
    side: Side
    price: Decimal
    matched_amount: Decimal
    fee_rate_bps: int = 0
    owner: str = ""


@dataclass(frozen=True, slots=True)
class UserTradeEvent:
    """A ``trade`` event. The venue re-sends the same trade on every status change.

    ``side``, ``size`` and ``price`` describe the taker order; if we were a maker, our fill is
    the entry of ``maker_orders`` whose ``order_id`` is ours.
    """

    trade_id: str
    status: TradeStatus
    condition_id: str
    asset_id: str
    taker_order_id: str
    side: Side
    size: Decimal
    price: Decimal
    trader_side: Liquidity
    maker_orders: tuple[MakerOrderFill, ...]
    timestamp_ms: TimestampMs
    fee_rate_bps: int = 0
    match_time_ms: TimestampMs = 0
    transaction_hash: str = ""


# --- Reference prices (Binance, Chainlink via RTDS) ---------------------------------------


@dataclass(frozen=True, slots=True)
class BinanceTrade:
    """``<symbol>@trade``: the leading price signal."""

    symbol: str  # lower case, e.g. "btcusdt"
    trade_id: int
    price: Decimal
    quantity: Decimal
    trade_time_ms: TimestampMs
    event_time_ms: TimestampMs
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True)
class BinanceBookTicker:
    """``<symbol>@bookTicker``. The payload has no event time; ``received_ms`` is local."""

    symbol: str
    update_id: int
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    received_ms: TimestampMs


class PriceSource(StrEnum):
    """Where a reference price came from. The settlement source of 15m markets is the
    Chainlink 60-second TWAP; the Binance TWAP stands in when RTDS is absent or stale."""

    CHAINLINK_SPOT = "chainlink_spot"
    CHAINLINK_TWAP_60 = "chainlink_twap_60"
    BINANCE_TWAP_60 = "binance_twap_60"


@dataclass(frozen=True, slots=True)
class ReferencePrice:
    """A USD price of an underlying (``asset`` lower case, e.g. "btc") from ``source``,
    observed at ``timestamp_ms`` (the source's observation time, not our receive time)."""

    asset: str
    source: PriceSource
    value: Decimal
    timestamp_ms: TimestampMs


FeedEvent = (
    BookSnapshot
    | PriceChange
    | TickSizeChange
    | LastTradePrice
    | BestBidAsk
    | UserOrderEvent
    | UserTradeEvent
    | BinanceTrade
    | BinanceBookTicker
    | ReferencePrice
)
"""Every event a feed can hand to the tick processor."""
