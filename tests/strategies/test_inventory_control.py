"""Inventory and correlation control: exposure per market, per category and in total, cancels
before sells, the drawdown curve, and properties on random states (never a BUY, every proposal
reduces exposure, never a SELL beyond the shares sellable)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import BookSnapshot
from polyexec.core.models import (
    BookLevel,
    CancelIntent,
    CancelScope,
    Market,
    OrderIntent,
    OrderType,
    Outcome,
    Side,
)
from polyexec.core.order_book import OrderBook, UntrustedReason
from polyexec.core.pricing import is_valid_price
from polyexec.core.risk_limits import RiskLimits
from polyexec.strategies.context import Holding, Proposal, RestingOrder, StrategyContext, WindowView
from polyexec.strategies.inventory_control import (
    ExposureLedger,
    InventoryControlStrategy,
    drawdown_scale,
    exposure_targets,
    holding_cost,
    measure_exposure,
    resting_buy_notional,
    sellable_now,
)

D = Decimal
T0 = 1_800_000_000
NOW_MS = (T0 + 300) * 1000  # 600 s left in the first window
Levels = Sequence[tuple[str, str]]


def _market(asset: str = "btc", n: int = 0) -> Market:
    start = T0 + 900 * n
    return Market(
        asset=asset,
        slug=f"{asset}-updown-15m-{start}",
        condition_id="0x" + f"{asset}{n}".encode().hex().rjust(64, "0"),
        up_token_id=f"{asset}{n}-up",
        down_token_id=f"{asset}{n}-down",
        window_start=start,
        window_end=start + 900,
    )


def _book(token_id: str, bids: Levels = (), asks: Levels = (), *, trusted: bool = True) -> OrderBook:
    book = OrderBook(token_id, D("0.01"))
    book.apply_snapshot(
        BookSnapshot(
            asset_id=token_id,
            condition_id="",
            timestamp_ms=NOW_MS,
            bids=tuple(BookLevel(D(p), D(s)) for p, s in bids),
            asks=tuple(BookLevel(D(p), D(s)) for p, s in asks),
        )
    )
    if not trusted:
        book.mark_untrusted(UntrustedReason.MANUAL, "test")
    return book


def _window(
    market: Market,
    up_bids: Levels = (("0.50", "100"),),
    down_bids: Levels = (("0.45", "100"),),
    *,
    trusted: bool = True,
    tradable: bool = True,
) -> WindowView:
    up = _book(market.up_token_id, up_bids, (("0.55", "100"),), trusted=trusted)
    down = _book(market.down_token_id, down_bids, (("0.50", "100"),), trusted=trusted)
    return WindowView(market, up, down, strike=D(100_000), tradable=tradable)


def _holding(
    market: Market, outcome: Outcome, shares: str, cost: str, sellable: str | None = None
) -> Holding:
    return Holding(
        token_id=market.token_for(outcome),
        condition_id=market.condition_id,
        shares=D(shares),
        sellable=D(shares if sellable is None else sellable),
        average_cost=D(cost),
        strategy="FV",
    )


def _order(
    order_id: str,
    market: Market,
    outcome: Outcome,
    side: Side,
    price: str,
    remaining: str,
    order_type: OrderType = OrderType.GTC,
    strategy: str = "MM",
) -> RestingOrder:
    return RestingOrder(
        order_id,
        strategy,
        market.condition_id,
        market.token_for(outcome),
        side,
        D(price),
        D(remaining),
        order_type,
    )


def _context(
    windows: Sequence[WindowView],
    holdings: Sequence[Holding] = (),
    resting: Sequence[RestingOrder] = (),
    *,
    limits: RiskLimits | None = None,
    drawdown: str = "0",
    proposed: Sequence[Proposal] = (),
    now_ms: int = NOW_MS,
) -> StrategyContext:
    return StrategyContext(
        now_ms=now_ms,
        windows=tuple(windows),
        underlyings={},
        holdings={holding.token_id: holding for holding in holdings},
        resting=tuple(resting),
        limits=limits or RiskLimits(),
        drawdown_pct=D(drawdown),
        proposed=tuple(proposed),
    )


def _decide(context: StrategyContext) -> list[Proposal]:
    return list(InventoryControlStrategy().decide(context))


def _sells(proposals: Sequence[Proposal]) -> list[OrderIntent]:
    return [p for p in proposals if isinstance(p, OrderIntent)]


def _cancelled(proposals: Sequence[Proposal]) -> list[str | None]:
    return [p.order_id for p in proposals if isinstance(p, CancelIntent)]


# --- Per market and per category ------------------------------------------------------------------


def test_within_every_limit_proposes_nothing() -> None:
    m = _market()
    context = _context(
        [_window(m)],
        [_holding(m, Outcome.UP, "6", "0.50")],
        [_order("a", m, Outcome.UP, Side.BUY, "0.40", "5")],
    )
    assert _decide(context) == []  # $3 + $2 is exactly the $5 market limit


def test_market_over_limit_cancels_worst_buys_first_and_only_as_many_as_needed() -> None:
    m = _market()
    resting = [
        _order("a", m, Outcome.UP, Side.BUY, "0.40", "5"),  # $2.00
        _order("b", m, Outcome.UP, Side.BUY, "0.45", "5"),  # $2.25
        _order("c", m, Outcome.DOWN, Side.BUY, "0.45", "2", strategy="FV"),  # $0.90, newer than b
    ]
    context = _context([_window(m)], [_holding(m, Outcome.UP, "6", "0.50")], resting)  # $8.15 > $5
    proposals = _decide(context)
    # Highest price first, the newest first at the same price; stop once back at $5.00.
    assert _cancelled(proposals) == ["c", "b"]
    assert _sells(proposals) == []
    first = proposals[0]
    assert isinstance(first, CancelIntent)
    assert first.scope is CancelScope.ORDER
    assert (first.condition_id, first.token_id) == (m.condition_id, m.down_token_id)
    assert first.reason.startswith(f"market {m.slug} exposure $8.15 > target $5.00")


def test_market_still_over_after_cancels_sells_at_the_best_bid_within_slippage() -> None:
    m = _market()
    context = _context(
        [_window(m, up_bids=(("0.48", "100"),))],
        [_holding(m, Outcome.UP, "20", "0.50")],  # $10
        [_order("a", m, Outcome.UP, Side.BUY, "0.40", "5")],  # $2
    )
    proposals = _decide(context)
    assert _cancelled(proposals) == ["a"]
    assert proposals[0] == CancelIntent(
        CancelScope.ORDER, "a", m.condition_id, m.up_token_id, proposals[0].reason
    )
    [sell] = _sells(proposals)
    assert proposals.index(sell) == 1  # cancels come first
    # $5 over at $0.50 a share: 10 shares, FAK limited 2c under the 0.48 bid (tighter than 5 %).
    assert sell.strategy == "ICC"
    assert (sell.token_id, sell.side, sell.price, sell.size) == (m.up_token_id, Side.SELL, D("0.46"), D("10"))
    assert sell.order_type is OrderType.FAK
    assert sell.reduces_position
    assert "sell 10" in sell.reason


def test_category_over_limit_sells_the_most_losing_window_of_that_asset_only() -> None:
    btc0, btc1, eth = _market("btc", 0), _market("btc", 1), _market("eth", 0)
    limits = RiskLimits(max_exposure_per_market_usd=D(5), max_exposure_per_category_usd=D(6))
    context = _context(
        [
            _window(btc0, up_bids=(("0.10", "100"),)),  # 20 @ 0.20 marked at 0.10: −$2.00
            _window(btc1, up_bids=(("0.18", "100"),)),  # −$0.40
            _window(eth, up_bids=(("0.05", "100"),)),  # −$3.00, but eth is within its limits
        ],
        [
            _holding(btc0, Outcome.UP, "20", "0.20"),
            _holding(btc1, Outcome.UP, "20", "0.20"),
            _holding(eth, Outcome.UP, "20", "0.20"),
        ],
        limits=limits,
    )
    [sell] = _decide(context)
    assert isinstance(sell, OrderIntent)
    # btc is $8 against $6: 10 shares of the most losing btc window; 5 % of 0.10 is tighter than 2c.
    assert (sell.token_id, sell.size, sell.price) == (btc0.up_token_id, D("10"), D("0.10"))
    assert sell.reason.startswith("category btc exposure $8.00 > target $6.00")


def test_category_over_limit_cancels_buys_in_every_window_of_the_asset_before_selling() -> None:
    btc0, btc1 = _market("btc", 0), _market("btc", 1)
    limits = RiskLimits(max_exposure_per_market_usd=D(5), max_exposure_per_category_usd=D(3))
    context = _context(
        [_window(btc0), _window(btc1)],
        [_holding(btc0, Outcome.UP, "20", "0.20")],  # $4
        [
            _order("a", btc1, Outcome.UP, Side.BUY, "0.40", "5"),  # $2
            _order("b", btc1, Outcome.DOWN, Side.BUY, "0.30", "5"),  # $1.50
        ],
        limits=limits,
    )
    proposals = _decide(context)
    # $7.50 against $3: both buys of the other window go, then $1 of btc0 (5 shares at $0.20).
    assert _cancelled(proposals) == ["a", "b"]
    [sell] = _sells(proposals)
    assert (sell.token_id, sell.size, sell.price) == (btc0.up_token_id, D(5), D("0.48"))
    assert sell.reason.startswith("category btc exposure $4.00 > target $3.00")


# --- Drawdown -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drawdown", "maximum", "scale"),
    [
        ("0", "10", "1"),
        ("-1", "10", "1"),
        ("2.5", "10", "0.75"),
        ("5", "10", "0.5"),
        ("10", "10", "0"),
        ("15", "10", "0"),
        ("0", "0", "1"),
        ("0.1", "0", "0"),
        ("NaN", "10", "1"),
    ],
)
def test_drawdown_scale_is_linear_from_full_at_zero_to_nothing_at_the_maximum(
    drawdown: str, maximum: str, scale: str
) -> None:
    assert drawdown_scale(D(drawdown), D(maximum)) == D(scale)


def test_exposure_targets_scale_every_limit() -> None:
    targets = exposure_targets(RiskLimits(), D(5))
    assert (targets.per_market, targets.per_category, targets.total) == (D("2.5"), D(5), D(10))


@pytest.mark.parametrize(
    ("drawdown", "sold", "price"),
    [("0", None, "0.19"), ("5", "7.50", "0.19"), ("10", "20", "0.19"), ("15", "20", "0.19")],
)
def test_drawdown_reduces_to_the_scaled_target(drawdown: str, sold: str | None, price: str) -> None:
    m = _market()
    context = _context(
        [_window(m, up_bids=(("0.20", "100"),))],
        [_holding(m, Outcome.UP, "20", "0.20")],  # $4, within the $5 market limit
        drawdown=drawdown,  # of max_drawdown_pct 10
    )
    sells = _sells(_decide(context))
    if sold is None:
        assert sells == []
        return
    [sell] = sells
    # 50 %: target $2.50, $1.50 over at $0.20 = 7.5 shares; 100 % and beyond: everything.
    # The limit is 1c under the 0.20 bid (5 % of it is tighter than 2c).
    assert (sell.size, sell.price, sell.reduces_position) == (D(sold), D(price), True)
    assert "in drawdown" in sell.reason


def test_full_drawdown_cancels_every_buy_and_sells_everything_sellable() -> None:
    btc, eth = _market("btc"), _market("eth")
    context = _context(
        [_window(btc), _window(eth)],
        [_holding(btc, Outcome.UP, "6", "0.50"), _holding(eth, Outcome.DOWN, "10", "0.40", sellable="8")],
        [
            _order("a", btc, Outcome.DOWN, Side.BUY, "0.30", "5"),
            _order("b", eth, Outcome.UP, Side.BUY, "0.20", "5"),
            _order("s", eth, Outcome.UP, Side.SELL, "0.60", "5"),
        ],
        drawdown="10",
    )
    proposals = _decide(context)
    assert sorted(_cancelled(proposals), key=str) == ["a", "b"]
    sells = {sell.token_id: sell.size for sell in _sells(proposals)}
    assert sells == {btc.up_token_id: D("6"), eth.down_token_id: D("8")}  # only the confirmed 8


# --- Sizing, books and windows ----------------------------------------------------------------------


def test_a_small_excess_sells_the_market_minimum() -> None:
    m = _market()
    context = _context([_window(m)], [_holding(m, Outcome.UP, "11", "0.50")])  # $0.50 over
    [sell] = _sells(_decide(context))
    assert sell.size == D(5)


def test_a_remainder_below_the_minimum_is_sold_too() -> None:
    m = _market()
    context = _context([_window(m)], [_holding(m, Outcome.UP, "9", "0.60")])  # $5.40: 0.67 shares over
    [sell] = _sells(_decide(context))
    assert sell.size == D(9)  # selling 5 would leave 4 that could never be sold


def test_fewer_sellable_shares_than_the_minimum_proposes_nothing() -> None:
    m = _market()
    context = _context([_window(m)], [_holding(m, Outcome.UP, "20", "0.50", sellable="4")])
    assert _decide(context) == []


def test_thin_book_sells_only_the_depth_within_the_slippage_limit() -> None:
    m = _market()
    holdings = [_holding(m, Outcome.UP, "20", "0.50")]
    thin = _context([_window(m, up_bids=(("0.48", "6"), ("0.45", "100")))], holdings)
    [sell] = _sells(_decide(thin))
    assert (sell.size, sell.price) == (D(6), D("0.46"))  # 0.45 is past the 2c limit
    too_thin = _context([_window(m, up_bids=(("0.48", "3"), ("0.40", "100")))], holdings)
    assert _decide(too_thin) == []


def test_untrusted_book_only_cancels() -> None:
    m = _market()
    context = _context(
        [_window(m, trusted=False)],
        [_holding(m, Outcome.UP, "20", "0.50")],
        [_order("a", m, Outcome.UP, Side.BUY, "0.40", "5")],
    )
    proposals = _decide(context)
    assert _cancelled(proposals) == ["a"]
    assert _sells(proposals) == []


def test_empty_bid_side_sells_nothing() -> None:
    m = _market()
    context = _context([_window(m, up_bids=())], [_holding(m, Outcome.UP, "20", "0.50")])
    assert _decide(context) == []


def test_non_tradable_window_still_reduces() -> None:
    m = _market()
    context = _context([_window(m, tradable=False)], [_holding(m, Outcome.UP, "20", "0.50")])
    [sell] = _sells(_decide(context))
    assert sell.size == D(10)


def test_ended_window_or_unknown_market_only_cancels() -> None:
    m, gone = _market(), _market("sol")
    context = _context(
        [_window(m)],
        [_holding(m, Outcome.UP, "20", "0.50"), _holding(gone, Outcome.UP, "20", "0.50")],
        [_order("a", gone, Outcome.UP, Side.BUY, "0.40", "5")],
        now_ms=(m.window_end + 1) * 1000,
    )
    proposals = _decide(context)
    assert proposals
    assert _sells(proposals) == []
    assert _cancelled(proposals) == ["a"]


def test_most_losing_holding_is_sold_first() -> None:
    m = _market()
    context = _context(
        [_window(m, up_bids=(("0.45", "100"),), down_bids=(("0.30", "100"),))],
        [_holding(m, Outcome.UP, "10", "0.40"), _holding(m, Outcome.DOWN, "10", "0.50")],  # $9
    )
    [sell] = _sells(_decide(context))
    assert (sell.token_id, sell.size) == (m.down_token_id, D(10))  # Down loses $2, Up gains $0.50


def test_shares_already_offered_are_not_offered_again() -> None:
    m = _market()
    context = _context(
        [_window(m)],
        [_holding(m, Outcome.UP, "20", "0.50")],
        [_order("s", m, Outcome.UP, Side.SELL, "0.60", "8")],  # a resting MM offer
    )
    [sell] = _sells(_decide(context))
    assert sell.size == D(12)  # 10 wanted, 12 free: the 2 left over could not be sold alone


def test_a_sell_in_flight_counts_as_done() -> None:
    m = _market()
    in_flight = _order("f", m, Outcome.UP, Side.SELL, "0.46", "10", OrderType.FAK, strategy="ICC")
    context = _context([_window(m)], [_holding(m, Outcome.UP, "20", "0.50")], [in_flight])
    assert _decide(context) == []


def test_cancels_proposed_earlier_in_the_pass_are_not_repeated() -> None:
    m = _market()
    earlier = CancelIntent(CancelScope.MARKET, condition_id=m.condition_id)
    context = _context(
        [_window(m)],
        [_holding(m, Outcome.UP, "6", "0.50")],
        [_order("a", m, Outcome.UP, Side.BUY, "0.45", "10")],
        proposed=[earlier],
    )
    assert _decide(context) == []


def test_malformed_numbers_are_skipped_without_raising() -> None:
    m = _market()
    nan = D("NaN")
    context = _context(
        [_window(m)],
        [
            Holding(m.up_token_id, m.condition_id, nan, D(10), D("0.50")),
            Holding(m.down_token_id, m.condition_id, D(20), nan, D("0.50")),
        ],
        [
            RestingOrder("x", "MM", m.condition_id, m.up_token_id, Side.BUY, nan, D(5)),
            RestingOrder("y", "MM", m.condition_id, m.up_token_id, Side.SELL, D("0.5"), nan, OrderType.FAK),
        ],
        drawdown="NaN",
    )
    # The Down holding ($10) is over the $5 limit but has no readable sellable shares.
    assert _decide(context) == []


def test_nothing_to_control_proposes_nothing() -> None:
    assert _decide(_context([_window(_market())])) == []
    assert _decide(_context([], drawdown="50")) == []


# --- Properties ----------------------------------------------------------------------------------

_MARKETS = (_market("btc", 0), _market("btc", 1), _market("eth", 0))
_TOKENS = tuple((m, o) for m in _MARKETS for o in (Outcome.UP, Outcome.DOWN))
_cents = st.integers(1, 99).map(lambda c: D(c) / 100)
_size = st.integers(0, 4000).map(lambda c: D(c) / 100)
_mostly_true = st.sampled_from([True, True, True, False])


def _price_of(level: tuple[int, int]) -> int:
    return level[0]


@st.composite
def _states(draw: st.DrawFn) -> StrategyContext:
    windows = []
    for market in _MARKETS:
        books = []
        for token_id in (market.up_token_id, market.down_token_id):
            bids = draw(
                st.lists(st.tuples(st.integers(1, 49), st.integers(1, 60)), max_size=3, unique_by=_price_of)
            )
            asks = draw(
                st.lists(st.tuples(st.integers(51, 99), st.integers(1, 60)), max_size=2, unique_by=_price_of)
            )
            books.append(
                _book(
                    token_id,
                    [(str(D(p) / 100), str(s)) for p, s in bids],
                    [(str(D(p) / 100), str(s)) for p, s in asks],
                    trusted=draw(_mostly_true),
                )
            )
        windows.append(WindowView(market, books[0], books[1], strike=None, tradable=draw(st.booleans())))
    holdings = []
    for market, outcome in draw(st.lists(st.sampled_from(_TOKENS), unique=True, min_size=1, max_size=6)):
        shares = draw(_size)
        holdings.append(
            Holding(
                market.token_for(outcome),
                market.condition_id,
                shares,
                draw(st.one_of(_size, st.just(shares))),
                draw(_cents),
            )
        )
    resting = [
        RestingOrder(
            f"o{i}",
            draw(st.sampled_from(["FV", "MM", "FF", "ICC"])),
            market.condition_id,
            market.token_for(outcome),
            draw(st.sampled_from(Side)),
            draw(_cents),
            draw(_size),
            draw(st.sampled_from(OrderType)),
        )
        for i, (market, outcome) in enumerate(draw(st.lists(st.sampled_from(_TOKENS), max_size=5)))
    ]
    limits = RiskLimits(
        max_exposure_usd=D(draw(st.integers(0, 40))),
        max_exposure_per_market_usd=D(draw(st.integers(0, 10))),
        max_exposure_per_category_usd=D(draw(st.integers(0, 20))),
        max_drawdown_pct=D(draw(st.integers(0, 20))),
        max_slippage_cents=D(draw(st.integers(0, 5))),
        max_slippage_pct=D(draw(st.integers(0, 10))),
    )
    return _context(
        windows,
        holdings,
        resting,
        limits=limits,
        drawdown=str(draw(st.integers(0, 30))),
        now_ms=draw(st.sampled_from([NOW_MS, (T0 + 899) * 1000, (T0 + 1000) * 1000])),
    )


@settings(max_examples=80, deadline=None)
@given(_states())
def test_icc_only_ever_reduces_exposure(context: StrategyContext) -> None:
    proposals = _decide(context)
    before = measure_exposure(context).total
    resting = {order.order_id: order for order in context.resting}
    spent = before
    for proposal in proposals:
        if isinstance(proposal, CancelIntent):
            assert proposal.scope is CancelScope.ORDER
            order = resting[proposal.order_id or ""]
            assert order.side is Side.BUY
            assert not order.order_type.is_marketable_only
            reduction = resting_buy_notional(order)
        else:
            assert proposal.side is Side.SELL  # never a BUY
            assert proposal.reduces_position
            assert proposal.order_type is OrderType.FAK
            assert proposal.strategy == "ICC"
            holding = context.holdings[proposal.token_id]
            window = context.window(proposal.condition_id)
            assert window is not None
            assert window.seconds_left(context.now_ms) > 0
            book = window.book_of(proposal.token_id)
            best = book.best_bid()
            assert book.trusted
            assert best is not None
            assert proposal.price <= best.price
            assert is_valid_price(proposal.price, D("0.01"))
            assert window.market.min_size <= proposal.size <= sellable_now(context, holding)
            reduction = proposal.size * holding.average_cost
            assert holding_cost(holding) > 0
        assert reduction > 0  # every proposal lowers the exposure
        spent -= reduction
    assert spent < before or not proposals
    assert len({p.token_id for p in _sells(proposals)}) == len(_sells(proposals))


@settings(max_examples=60, deadline=None)
@given(
    amounts=st.lists(
        st.tuples(st.sampled_from(["known-btc", "known-eth", "unknown"]), st.integers(-500, 2_000)),
        max_size=6,
    ),
    drawdown=st.integers(0, 12),
)
def test_headroom_is_the_tightest_scope_of_the_market(amounts: list[tuple[str, int]], drawdown: int) -> None:
    """headroom (computed directly, on every MM pass) equals the smallest target − exposure over
    the market's scopes (scopes()), never below zero, for known and unknown markets."""
    btc, eth = _market("btc"), _market("eth", 1)
    ledger = ExposureLedger({btc.condition_id: btc, eth.condition_id: eth})
    ids = {"known-btc": btc.condition_id, "known-eth": eth.condition_id, "unknown": "0x" + "ee" * 32}
    for which, cents in amounts:
        ledger.add(ids[which], D(cents) / 100)
    targets = exposure_targets(RiskLimits(), D(drawdown))
    for condition_id in ids.values():
        tightest = min(scope.target - scope.exposure for scope in ledger.scopes(condition_id, targets))
        assert ledger.headroom(condition_id, targets) == max(tightest, D(0))
