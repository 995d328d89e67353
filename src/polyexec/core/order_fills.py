"""Our fills: how a venue trade becomes :class:`~polyexec.core.models.Fill` records, what they
cost in fees and slippage, and their JSON-safe record form.

The venue sends one ``trade`` event per trade and re-sends it on every settlement status change
(MATCHED → MINED → CONFIRMED, or FAILED). :func:`fills_from_trade` picks out the legs that are
ours — the taker leg, any of the maker legs, or both — and turns each into a fill for
:meth:`Order.apply_fill <polyexec.core.order.Order.apply_fill>`. A fill is identified by
``(trade_id, order_id)`` and dated by the match time, so the copies a re-sent trade produces
describe the same fill and only move its status.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any

from polyexec.core.events import UserTradeEvent
from polyexec.core.models import ZERO, FeeSchedule, Fill, Liquidity, Side, TradeStatus
from polyexec.core.pricing import fee_for_fill
from polyexec.core.records import decimal_from_record

__all__ = [
    "average_price",
    "fill_from_dict",
    "fill_to_dict",
    "fills_from_trade",
    "slippage_per_share",
    "total_slippage",
]


def fills_from_trade(
    event: UserTradeEvent, our_order_ids: Collection[str], *, fees: FeeSchedule | None = None
) -> tuple[Fill, ...]:
    """Our fills in one ``trade`` event, ready for :meth:`Order.apply_fill`.

    The taker leg is ours if ``taker_order_id`` is one of ``our_order_ids`` (side, price and
    size from the event); each ``maker_orders`` entry whose ``order_id`` is ours is a maker fill
    with that entry's token, side, price and ``matched_amount`` (a maker may rest on the other
    outcome's token). Both legs can be ours. Fees follow ``fees``, the market's schedule
    (crypto defaults): ``size × rate × (p·(1−p))^exponent``, rounded to 5 decimals, nothing for
    makers on a taker-only schedule. A fill's time is the match time, so the copies the venue
    re-sends on each status change describe the same fill.
    """
    schedule = fees if fees is not None else FeeSchedule()
    matched_at = event.match_time_ms or event.timestamp_ms
    # (order id, token id, side, price, size, liquidity) of every leg that is ours.
    legs: list[tuple[str, str, Side, Decimal, Decimal, Liquidity]] = []
    if event.taker_order_id in our_order_ids:
        legs.append(
            (event.taker_order_id, event.asset_id, event.side, event.price, event.size, Liquidity.TAKER)
        )
    legs += [
        (m.order_id, m.asset_id or event.asset_id, m.side, m.price, m.matched_amount, Liquidity.MAKER)
        for m in event.maker_orders
        if m.order_id in our_order_ids
    ]
    return tuple(
        Fill(
            trade_id=event.trade_id,
            order_id=order_id,
            condition_id=event.condition_id,
            token_id=token_id,
            side=side,
            price=price,
            size=size,
            # The one fee rule of the codebase; the recorded fee is an estimate, the true one is on chain.
            fee=fee_for_fill(size, price, schedule, liquidity),
            liquidity=liquidity,
            status=event.status,
            timestamp_ms=matched_at,
        )
        for order_id, token_id, side, price, size, liquidity in legs
    )


def slippage_per_share(side: Side, reference_price: Decimal, fill_price: Decimal) -> Decimal:
    """Signed slippage of one fill against the price we decided on: **positive = worse for us**
    (paid more on a BUY, received less on a SELL), negative = price improvement."""
    return fill_price - reference_price if side is Side.BUY else reference_price - fill_price


def total_slippage(side: Side, reference_price: Decimal, fills: Iterable[Fill]) -> Decimal:
    """Dollars lost to slippage over ``fills`` against ``reference_price``: each fill's
    :func:`slippage_per_share` times its size, summed (negative = price improvement)."""
    return sum((slippage_per_share(side, reference_price, f.price) * f.size for f in fills), ZERO)


def average_price(fills: Iterable[Fill]) -> Decimal | None:
    """Size-weighted price of ``fills``; ``None`` when they hold no size."""
    fills = tuple(fills)
    size = sum((f.size for f in fills), ZERO)
    return None if size == 0 else sum((f.price * f.size for f in fills), ZERO) / size


# --- record form ---------------------------------------------------------------------------------


def fill_to_dict(fill: Fill) -> dict[str, Any]:
    """A JSON-safe record of ``fill`` (Decimals as strings); see :func:`fill_from_dict`."""
    return {
        "trade_id": fill.trade_id,
        "order_id": fill.order_id,
        "condition_id": fill.condition_id,
        "token_id": fill.token_id,
        "side": fill.side.value,
        "price": str(fill.price),
        "size": str(fill.size),
        "fee": str(fill.fee),
        "liquidity": fill.liquidity.value,
        "status": fill.status.value,
        "timestamp_ms": fill.timestamp_ms,
        "strategy": fill.strategy,
    }


def fill_from_dict(data: Mapping[str, Any]) -> Fill:
    """Rebuild a fill saved by :func:`fill_to_dict`. A malformed record raises the
    ``KeyError`` / ``TypeError`` / ``ValueError`` (or ``decimal.InvalidOperation``) of the
    field that is wrong."""
    return Fill(
        trade_id=str(data["trade_id"]),
        order_id=str(data["order_id"]),
        condition_id=str(data["condition_id"]),
        token_id=str(data["token_id"]),
        side=Side(data["side"]),
        price=decimal_from_record(data["price"], "price"),
        size=decimal_from_record(data["size"], "size"),
        fee=decimal_from_record(data["fee"], "fee"),
        liquidity=Liquidity(data["liquidity"]),
        status=TradeStatus(data["status"]),
        timestamp_ms=int(data["timestamp_ms"]),
        strategy=str(data["strategy"]),
    )
