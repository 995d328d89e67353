"""Builders shared by the portfolio tests (test_portfolio, test_position_ledger, test_pnl_report,
test_portfolio_codec): three registered markets (two BTC windows and one ETH window), fills with
fresh trade ids, a portfolio holding chosen fills, and a position's numbers as one tuple."""

from __future__ import annotations

import itertools
from decimal import Decimal

from polyexec.core.models import Fill, Liquidity, Market, Outcome, Side, TradeStatus
from polyexec.core.portfolio import Portfolio

__all__ = [
    "BTC1",
    "BTC2",
    "BUY",
    "CONFIRMED",
    "DOWN",
    "ETH1",
    "FAILED",
    "MATCHED",
    "MINED",
    "NOW",
    "RETRYING",
    "SELL",
    "UP",
    "D",
    "fill",
    "make_market",
    "portfolio",
    "position_numbers",
]

D = Decimal
UP, DOWN = Outcome.UP, Outcome.DOWN
BUY, SELL = Side.BUY, Side.SELL
MATCHED, MINED, RETRYING = TradeStatus.MATCHED, TradeStatus.MINED, TradeStatus.RETRYING
CONFIRMED, FAILED = TradeStatus.CONFIRMED, TradeStatus.FAILED
NOW = 1_790_617_000_000


def make_market(asset: str, n: int) -> Market:
    start = 1_790_616_600 + 900 * n
    return Market(
        asset=asset,
        slug=f"{asset}-updown-15m-{start}",
        condition_id=f"0x{n:064x}",
        up_token_id=str(10**70 + 2 * n),
        down_token_id=str(10**70 + 2 * n + 1),
        window_start=start,
        window_end=start + 900,
    )


BTC1, BTC2, ETH1 = make_market("btc", 1), make_market("btc", 2), make_market("eth", 3)
_trade_ids = itertools.count(1)


def fill(
    market: Market,
    outcome: Outcome = UP,
    side: Side = BUY,
    price: str = "0.40",
    size: str = "10",
    *,
    fee: str = "0",
    status: TradeStatus = MATCHED,
    ts: int = 1_000,
    strategy: str = "MM",
    trade_id: str | None = None,
) -> Fill:
    return Fill(
        trade_id=trade_id or f"t{next(_trade_ids)}",
        order_id="o1",
        condition_id=market.condition_id,
        token_id=market.token_for(outcome),
        side=side,
        price=D(price),
        size=D(size),
        fee=D(fee),
        liquidity=Liquidity.TAKER,
        status=status,
        timestamp_ms=ts,
        strategy=strategy,
    )


def portfolio(*fills: Fill, markets: tuple[Market, ...] = (BTC1, BTC2, ETH1)) -> Portfolio:
    book = Portfolio()
    for market in markets:
        book.register_market(market, NOW)
    for f in fills:
        book.apply_fill(f, NOW)
    return book


def position_numbers(book: Portfolio, market: Market, outcome: Outcome = UP) -> tuple[Decimal, ...]:
    p = book.position(market.token_for(outcome))
    return (p.quantity, p.confirmed_quantity, p.cost_basis, p.realized_pnl, p.fees_paid)
