"""The venue's JSON shapes for orders, trades and books (REST and websocket).

Pure functions from the exchange's records to the dictionaries the venue sends. REST uses
prefixed statuses (``ORDER_STATUS_LIVE``, ``TRADE_STATUS_MINED``); the user channel uses the
bare ones. Sizes are decimal share strings, prices decimal strings, timestamps on the
websocket are milliseconds as strings.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from polyexec.sim.contracts import SimMarket
from polyexec.sim.records import Order, Trade
from polyexec.sim.units import fmt_decimal, fmt_micro

__all__ = [
    "TAKER_FEE_RATE_BPS",
    "best_bid_ask_event",
    "book_summary",
    "last_trade_price_event",
    "order_event",
    "order_json",
    "price_change_entry",
    "tick_size_change_event",
    "trade_event",
    "trade_json",
]

# What the venue reports in ``fee_rate_bps`` for crypto markets (a signing cap, not the rate).
TAKER_FEE_RATE_BPS = "1000"


def _price(value: Decimal | None) -> str:
    return "" if value is None else fmt_decimal(value)


def order_json(order: Order) -> dict[str, Any]:
    """``OpenOrder`` as ``GET /data/order/{id}`` and ``/data/orders`` return it."""
    return {
        "id": order.id,
        "status": f"ORDER_STATUS_{order.status}",
        "owner": order.owner,
        "maker_address": order.maker_address,
        "market": order.market,
        "asset_id": order.asset_id,
        "side": order.side,
        "original_size": fmt_micro(order.original_size),
        "size_matched": fmt_micro(order.size_matched),
        "price": fmt_decimal(order.price),
        "outcome": order.outcome,
        "expiration": str(order.expiration),
        "order_type": order.order_type,
        "associate_trades": list(order.associate_trades),
        "created_at": order.created_ms // 1000,
    }


def order_event(order: Order, event_type: str, now_ms: int) -> dict[str, Any]:
    """A user-channel ``order`` event (``PLACEMENT``, ``UPDATE`` or ``CANCELLATION``)."""
    return {
        "event_type": "order",
        "type": event_type,
        "id": order.id,
        "owner": order.owner,
        "order_owner": order.owner,
        "market": order.market,
        "asset_id": order.asset_id,
        "side": order.side,
        "price": fmt_decimal(order.price),
        "original_size": fmt_micro(order.original_size),
        "size_matched": fmt_micro(order.size_matched),
        "outcome": order.outcome,
        "associate_trades": list(order.associate_trades) or None,
        "timestamp": str(now_ms),
        "created_at": str(order.created_ms // 1000),
        "expiration": str(order.expiration),
        "order_type": order.order_type,
        "status": order.status,
        "maker_address": order.maker_address,
    }


def _trade_body(trade: Trade, viewer: str) -> dict[str, Any]:
    """Fields shared by REST and WS trades, seen by the API key ``viewer``."""
    taker = trade.taker_order
    maker = trade.maker_order
    is_taker = viewer == taker.owner
    mine = taker if is_taker else maker
    return {
        "id": trade.id,
        "taker_order_id": taker.id,
        "market": trade.market,
        "asset_id": trade.asset_id,
        "side": trade.side,
        "size": fmt_micro(trade.size),
        "price": fmt_decimal(trade.price),
        "fee_rate_bps": TAKER_FEE_RATE_BPS,
        "match_time": str(trade.match_ms // 1000),
        "last_update": str(trade.last_update_ms // 1000),
        "outcome": trade.outcome,
        "bucket_index": 0,
        "owner": viewer,
        "maker_address": mine.maker_address,
        "transaction_hash": trade.transaction_hash,
        "trader_side": "TAKER" if is_taker else "MAKER",
        "maker_orders": [
            {
                "order_id": maker.id,
                "owner": maker.owner,
                "maker_address": maker.maker_address,
                "matched_amount": fmt_micro(trade.size),
                "price": fmt_decimal(trade.price),
                "fee_rate_bps": "0",
                "asset_id": maker.asset_id,
                "outcome": maker.outcome,
                "side": maker.side,
            }
        ],
    }


def trade_json(trade: Trade, viewer: str) -> dict[str, Any]:
    """A ``Trade`` as ``GET /data/trades`` returns it (status prefixed)."""
    body = _trade_body(trade, viewer)
    body["status"] = f"TRADE_STATUS_{trade.status}"
    return body


def trade_event(trade: Trade, viewer: str, now_ms: int) -> dict[str, Any]:
    """A user-channel ``trade`` event; sent again on every status change."""
    body = _trade_body(trade, viewer)
    body.update(
        {
            "event_type": "trade",
            "type": "TRADE",
            "status": trade.status,
            "trade_owner": viewer,
            "timestamp": str(now_ms),
        }
    )
    return body


def book_summary(
    market: SimMarket,
    asset_id: str,
    bids: list[tuple[Decimal, int]],
    asks: list[tuple[Decimal, int]],
    tick_size: Decimal,
    last_trade_price: Decimal | None,
    now_ms: int,
) -> dict[str, Any]:
    """The ``GET /book`` summary, with its SHA-1 ``hash`` computed the way the venue does
    (compact JSON in this key order with ``hash`` empty). Levels arrive in wire order."""
    summary: dict[str, Any] = {
        "market": market.condition_id,
        "asset_id": asset_id,
        "timestamp": str(now_ms),
        "hash": "",
        "bids": [{"price": fmt_decimal(p), "size": fmt_micro(s)} for p, s in bids],
        "asks": [{"price": fmt_decimal(p), "size": fmt_micro(s)} for p, s in asks],
        "min_order_size": fmt_decimal(market.min_size),
        "tick_size": fmt_decimal(tick_size),
        "neg_risk": market.neg_risk,
        "last_trade_price": fmt_decimal(last_trade_price) if last_trade_price is not None else "0.5",
    }
    serialized = json.dumps(summary, separators=(",", ":"), ensure_ascii=False)
    summary["hash"] = hashlib.sha1(serialized.encode("utf-8"), usedforsecurity=False).hexdigest()
    return summary


def price_change_entry(
    asset_id: str,
    price: Decimal,
    size: int,
    side: str,
    order_hash: str,
    best_bid: Decimal | None,
    best_ask: Decimal | None,
) -> dict[str, Any]:
    """One entry of a batched ``price_change``: ``size`` is the level's new total."""
    return {
        "asset_id": asset_id,
        "price": fmt_decimal(price),
        "size": fmt_micro(size),
        "side": side,
        "hash": order_hash,
        "best_bid": _price(best_bid),
        "best_ask": _price(best_ask),
    }


def last_trade_price_event(trade: Trade, now_ms: int) -> dict[str, Any]:
    return {
        "event_type": "last_trade_price",
        "asset_id": trade.asset_id,
        "market": trade.market,
        "price": fmt_decimal(trade.price),
        "side": trade.side,
        "size": fmt_micro(trade.size),
        "fee_rate_bps": "0",
        "timestamp": str(now_ms),
    }


def best_bid_ask_event(
    market: str, asset_id: str, best_bid: Decimal | None, best_ask: Decimal | None, now_ms: int
) -> dict[str, Any]:
    spread = "" if best_bid is None or best_ask is None else fmt_decimal(best_ask - best_bid)
    return {
        "event_type": "best_bid_ask",
        "market": market,
        "asset_id": asset_id,
        "best_bid": _price(best_bid),
        "best_ask": _price(best_ask),
        "spread": spread,
        "timestamp": str(now_ms),
    }


def tick_size_change_event(
    market: str, asset_id: str, old: Decimal, new: Decimal, now_ms: int
) -> dict[str, Any]:
    return {
        "event_type": "tick_size_change",
        "asset_id": asset_id,
        "market": market,
        "old_tick_size": fmt_decimal(old),
        "new_tick_size": fmt_decimal(new),
        "timestamp": str(now_ms),
    }
