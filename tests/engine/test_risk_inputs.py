"""risk_inputs: the RiskContext of one intent from the registry, the portfolio and the book."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import BookSnapshot
from polyexec.core.models import (
    BookLevel,
    Fill,
    Liquidity,
    Market,
    OrderIntent,
    OrderType,
    Side,
    TradeStatus,
)
from polyexec.core.order import Order
from polyexec.core.order_book import OrderBook, UntrustedReason
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import Portfolio
from polyexec.engine.risk_inputs import build_risk_context, estimated_slippage_pct

D = Decimal
NOW = 1_800_000_600_000


def market(n: int, asset: str = "btc") -> Market:
    return Market(
        asset,
        f"{asset}-updown-15m-{n}",
        "0x" + f"{n:02x}" * 32,
        f"{n}1",
        f"{n}2",
        1_800_000_000,
        1_800_000_900,
    )


A, B, C = market(1), market(2), market(3, "eth")


def book(token: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    result = OrderBook(token, D("0.01"))
    result.apply_snapshot(
        BookSnapshot(
            token,
            "",
            NOW - 1_000,
            tuple(BookLevel(D(p), D(s)) for p, s in bids),
            tuple(BookLevel(D(p), D(s)) for p, s in asks),
        )
    )
    return result


def intent(
    m: Market,
    side: Side,
    price: str,
    size: str,
    order_type: OrderType = OrderType.GTC,
    *,
    post_only: bool = False,
) -> OrderIntent:
    return OrderIntent(
        "FV", m.condition_id, m.up_token_id, side, D(price), D(size), order_type, post_only=post_only
    )


_ids = iter(range(1, 10_000))


def order(registry: OrderRegistry, m: Market, side: Side, price: str, size: str) -> Order:
    placed = Order.from_intent(intent(m, side, price, size), f"0x{next(_ids):064x}", now_ms=NOW - 5_000)
    placed.submitted(now_ms=NOW - 5_000)
    registry.add(placed)
    return placed


def fill(placed: Order, size: str, price: str, status: TradeStatus = TradeStatus.MATCHED) -> Fill:
    result = Fill(
        f"t{next(_ids)}", placed.order_id, placed.condition_id, placed.token_id, placed.side,
        D(price), D(size), D(0), Liquidity.TAKER, status, NOW - 4_000, placed.strategy,
    )  # fmt: skip
    placed.apply_fill(result, now_ms=NOW - 4_000)
    return result


def setup() -> tuple[OrderRegistry, Portfolio]:
    """A: 10 bought at 0.50 (provisional), 4 of them sold again; an open BUY 10 @ 0.40; a voided
    BUY. B (BTC too): an open BUY 5 @ 0.40. C (ETH): 10 held at 0.30. An open SELL of A's Up."""
    registry, portfolio = OrderRegistry(), Portfolio()
    for m in (A, B, C):
        portfolio.register_market(m, NOW)
    bought = order(registry, A, Side.BUY, "0.50", "10")
    portfolio.apply_fill(fill(bought, "10", "0.50"), NOW)
    sold = order(registry, A, Side.SELL, "0.55", "4")
    portfolio.apply_fill(fill(sold, "4", "0.55", TradeStatus.CONFIRMED), NOW)
    ghost = order(registry, A, Side.BUY, "0.45", "6")
    portfolio.apply_fill(fill(ghost, "6", "0.45", TradeStatus.FAILED), NOW)
    order(registry, A, Side.BUY, "0.40", "10")
    order(registry, B, Side.BUY, "0.40", "5")
    held = order(registry, C, Side.BUY, "0.30", "10")
    portfolio.apply_fill(fill(held, "10", "0.30", TradeStatus.CONFIRMED), NOW)
    order(registry, A, Side.SELL, "0.70", "3")
    return registry, portfolio


def test_exposure_counts_provisional_fills_and_open_buys() -> None:
    registry, portfolio = setup()
    ctx = build_risk_context(
        intent(A, Side.BUY, "0.50", "5"), A, now_ms=NOW, registry=registry, portfolio=portfolio, book=None
    )
    # A: 6 shares left at 0.50 ($3 cost) + open BUY $4; B: open BUY $2; C: $3.
    assert ctx.market_exposure_usd == D(7)
    assert ctx.category_exposure_usd == D(9)
    assert ctx.total_exposure_usd == D(12)
    # Bought in A: 10 × 0.50 (the voided BUY does not count) plus the open BUY's $4.
    assert ctx.window_bought_usd == D(9)
    assert ctx.position_shares == D(6)
    assert ctx.open_sell_shares == D(3)
    assert ctx.open_orders == 3  # the two open BUYs and the open SELL; filled ones are done
    assert not ctx.book_trusted
    assert ctx.best_bid is None
    assert ctx.bid_depth_usd == 0


def test_matched_size_without_a_trade_counts_at_the_limit() -> None:
    registry, portfolio = OrderRegistry(), Portfolio()
    placed = order(registry, A, Side.BUY, "0.60", "10")
    placed.accepted("matched", now_ms=NOW, making_amount=D("3.00"), taking_amount=D(5))
    ctx = build_risk_context(
        intent(A, Side.BUY, "0.50", "5"), A, now_ms=NOW, registry=registry, portfolio=portfolio, book=None
    )
    assert ctx.window_bought_usd == D(10) * D("0.60")  # 5 matched + 5 still open, at the limit


def test_book_fields_and_a_given_position() -> None:
    registry, portfolio = OrderRegistry(), Portfolio()
    live = book(A.up_token_id, [("0.48", "100"), ("0.47", "50")], [("0.52", "10"), ("0.53", "100")])
    ctx = build_risk_context(
        intent(A, Side.BUY, "0.53", "20", OrderType.FOK), A, now_ms=NOW, registry=registry,
        portfolio=portfolio, book=live, position_shares=D(7),
    )  # fmt: skip
    assert (ctx.book_trusted, ctx.best_bid, ctx.best_ask) == (True, D("0.48"), D("0.52"))
    assert ctx.bid_depth_usd == D("48") + D("23.5")
    assert ctx.ask_depth_usd == D("5.2") + D("53")
    # 10 at 0.52 and 10 at 0.53: vwap 0.525, 0.005 over the touch of 0.52.
    assert ctx.est_slippage_pct == D("0.005") * 100 / D("0.52")
    assert ctx.position_shares == D(7)
    live.mark_untrusted(UntrustedReason.STALE)
    ctx = build_risk_context(
        intent(A, Side.BUY, "0.53", "20"), A, now_ms=NOW, registry=registry, portfolio=portfolio, book=live
    )
    assert (ctx.book_trusted, ctx.best_ask, ctx.ask_depth_usd, ctx.est_slippage_pct) == (
        False,
        None,
        D(0),
        D(0),
    )


def test_slippage_is_zero_for_resting_and_post_only_orders() -> None:
    live = book(A.up_token_id, [("0.48", "100")], [("0.52", "10"), ("0.60", "100")])
    assert estimated_slippage_pct(intent(A, Side.BUY, "0.50", "50"), live) == 0  # rests below the ask
    assert estimated_slippage_pct(intent(A, Side.BUY, "0.60", "50", post_only=True), live) == 0
    assert estimated_slippage_pct(intent(A, Side.SELL, "0.49", "50"), live) == 0  # rests above the bid
    assert estimated_slippage_pct(intent(A, Side.BUY, "0.60", "5"), None) == 0
    # Only the shares at or better than the limit count: a limit of 0.52 takes 10 at the touch.
    assert estimated_slippage_pct(intent(A, Side.BUY, "0.52", "50", OrderType.FAK), live) == 0
    sell = estimated_slippage_pct(intent(A, Side.SELL, "0.40", "200", OrderType.FAK), live)
    assert sell == 0  # one bid level: the whole fill is at the touch


prices = st.integers(1, 99).map(lambda cents: D(cents) / 100)
sizes = st.integers(1, 500).map(D)


@settings(max_examples=60)
@given(
    asks=st.dictionaries(prices, sizes, min_size=1, max_size=6),
    limit=prices,
    size=st.integers(1, 2_000).map(D),
)
def test_slippage_stays_between_zero_and_the_limits_distance(
    asks: dict[Decimal, Decimal], limit: Decimal, size: Decimal
) -> None:
    live = book(A.up_token_id, [], [(str(p), str(s)) for p, s in asks.items()])
    touch = min(asks)
    slippage = estimated_slippage_pct(intent(A, Side.BUY, str(limit), str(size), OrderType.FAK), live)
    assert slippage >= 0
    if limit <= touch:
        assert slippage == 0
    else:
        assert slippage <= (limit - touch) * 100 / touch
