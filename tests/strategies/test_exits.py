"""Exits: the stop-loss (at and after its threshold, not before), thin-book partial exits, the
end-game hedge (only when the asks sum below 1 − fees), holding to resolution, and properties
on random states (never a SELL beyond the shares sellable, hedges only where allowed)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.events import BookSnapshot
from polyexec.core.models import BookLevel, Market, OrderIntent, OrderType, Side
from polyexec.core.order_book import OrderBook, UntrustedReason
from polyexec.core.pricing import fee_per_share
from polyexec.core.risk_limits import RiskLimits
from polyexec.strategies.context import Holding, Proposal, RestingOrder, StrategyContext, WindowView
from polyexec.strategies.exits import ExitStrategy, unpaired_position
from polyexec.strategies.inventory_control import sellable_now

D = Decimal
T0 = 1_800_000_000
END_S = T0 + 900
NOW_MS = (END_S - 600) * 1000  # well before the end-game (the last 30 + 60 s)
ENDGAME_MS = (END_S - 60) * 1000  # inside the end-game, still tradable
Levels = Sequence[tuple[str, str]]
MARKET = Market(
    asset="btc",
    slug=f"btc-updown-15m-{T0}",
    condition_id="0x" + "ab" * 32,
    up_token_id="101",
    down_token_id="202",
    window_start=T0,
    window_end=END_S,
)
UP, DOWN = MARKET.up_token_id, MARKET.down_token_id
HEDGE_LIMITS = RiskLimits(
    max_trade_usd=D(10),
    max_loss_per_trade_usd=D(10),
    max_exposure_per_market_usd=D(20),
    max_exposure_per_category_usd=D(40),
    max_exposure_usd=D(40),
)


def _book(token_id: str, bids: Levels = (), asks: Levels = (), *, trusted: bool = True) -> OrderBook:
    book = OrderBook(token_id, D("0.01"))
    book.apply_snapshot(
        BookSnapshot(
            token_id,
            MARKET.condition_id,
            NOW_MS,
            tuple(BookLevel(D(p), D(s)) for p, s in bids),
            tuple(BookLevel(D(p), D(s)) for p, s in asks),
        )
    )
    if not trusted:
        book.mark_untrusted(UntrustedReason.STALE, "test")
    return book


def _window(
    up_bids: Levels = (("0.40", "100"),),
    up_asks: Levels = (("0.60", "100"),),
    down_bids: Levels = (("0.56", "100"),),
    down_asks: Levels = (("0.58", "100"),),
    *,
    trusted: bool = True,
    tradable: bool = True,
) -> WindowView:
    return WindowView(
        MARKET,
        _book(UP, up_bids, up_asks, trusted=trusted),
        _book(DOWN, down_bids, down_asks),
        strike=D(100_000),
        tradable=tradable,
    )


def _holding(token_id: str, shares: str, cost: str, sellable: str | None = None) -> Holding:
    return Holding(
        token_id, MARKET.condition_id, D(shares), D(shares if sellable is None else sellable), D(cost)
    )


def _context(
    window: WindowView | None,
    holdings: Sequence[Holding] = (),
    resting: Sequence[RestingOrder] = (),
    *,
    limits: RiskLimits | None = None,
    now_ms: int = NOW_MS,
    proposed: Sequence[Proposal] = (),
) -> StrategyContext:
    return StrategyContext(
        now_ms=now_ms,
        windows=() if window is None else (window,),
        underlyings={},
        holdings={holding.token_id: holding for holding in holdings},
        resting=tuple(resting),
        limits=limits or RiskLimits(),
        proposed=tuple(proposed),
    )


def _decide(context: StrategyContext, strategy: ExitStrategy | None = None) -> list[Proposal]:
    return list((strategy or ExitStrategy()).decide(context))


def _one(proposals: Sequence[Proposal]) -> OrderIntent:
    [proposal] = proposals
    assert isinstance(proposal, OrderIntent)
    return proposal


# --- The stop-loss --------------------------------------------------------------------------------


@pytest.mark.parametrize(("bid", "limit"), [("0.41", None), ("0.40", "0.38"), ("0.30", "0.29")])
def test_default_stop_triggers_at_the_per_trade_loss_limit_and_not_before(
    bid: str, limit: str | None
) -> None:
    # 10 shares at 0.50 and a $1 per-trade loss limit: the stop sits 10c under cost.
    context = _context(_window(up_bids=((bid, "100"),)), [_holding(UP, "10", "0.50")])
    proposals = _decide(context)
    if limit is None:
        assert proposals == []
        return
    sell = _one(proposals)
    # FAK limited 2c (or 5 % of the bid, if tighter: 1.5c at 0.30, rounded up to 0.29) under the bid.
    assert (sell.token_id, sell.side, sell.price, sell.size) == (UP, Side.SELL, D(limit), D(10))
    assert sell.order_type is OrderType.FAK
    assert sell.reduces_position
    assert sell.strategy == "EXIT"
    assert sell.condition_id == MARKET.condition_id
    assert sell.reason.startswith("stop-loss Up:")


def test_default_stop_tightens_with_a_larger_position() -> None:
    holdings = [_holding(UP, "40", "0.50")]  # $1 over 40 shares: 2.5c
    assert _decide(_context(_window(up_bids=(("0.48", "100"),)), holdings)) == []
    assert _one(_decide(_context(_window(up_bids=(("0.47", "100"),)), holdings))).size == D(40)


def test_explicit_stop_per_share() -> None:
    strategy = ExitStrategy(stop_loss_per_share=D("0.05"))
    holdings = [_holding(UP, "10", "0.50")]
    assert _decide(_context(_window(up_bids=(("0.46", "100"),)), holdings), strategy) == []
    assert _one(_decide(_context(_window(up_bids=(("0.45", "100"),)), holdings), strategy)).size == D(10)


def test_profit_or_break_even_never_stops() -> None:
    strategy = ExitStrategy(stop_loss_per_share=D("0.01"))
    for bid in ("0.50", "0.60"):
        context = _context(
            _window(up_bids=((bid, "100"),), up_asks=(("0.70", "1"),)), [_holding(UP, "10", "0.50")]
        )
        assert _decide(context, strategy) == []


def test_thin_book_sells_what_the_depth_within_slippage_allows() -> None:
    holdings = [_holding(UP, "20", "0.50")]
    thin = _context(_window(up_bids=(("0.40", "6"), ("0.39", "3"), ("0.20", "100"))), holdings)
    sell = _one(_decide(thin))
    assert (sell.price, sell.size) == (D("0.38"), D(9))  # 0.20 is past the slippage limit
    too_thin = _context(_window(up_bids=(("0.40", "4"), ("0.20", "100"))), holdings)
    assert _decide(too_thin) == []


def test_sells_only_confirmed_shares_not_already_offered() -> None:
    offer = RestingOrder("s", "MM", MARKET.condition_id, UP, Side.SELL, D("0.60"), D(4))
    context = _context(_window(), [_holding(UP, "20", "0.50", sellable="15")], [offer])
    assert _one(_decide(context)).size == D(11)


def test_bid_below_the_exit_floor_holds() -> None:
    holdings = [_holding(UP, "10", "0.50")]
    context = _context(_window(up_bids=(("0.04", "100"),), up_asks=(("0.06", "10"),)), holdings)
    assert _decide(context) == []
    sell = _one(_decide(context, ExitStrategy(min_exit_bid=D(0))))
    assert (sell.price, sell.size) == (D("0.04"), D(10))  # 5 % of 0.04 rounds back up to the bid


def test_stop_loss_sells_on_a_non_tradable_window() -> None:
    context = _context(_window(up_bids=(("0.30", "100"),), tradable=False), [_holding(UP, "10", "0.50")])
    assert _one(_decide(context)).size == D(10)


def test_untrusted_book_empty_bids_or_ended_window_propose_nothing() -> None:
    holdings = [_holding(UP, "10", "0.50")]
    assert _decide(_context(_window(up_bids=(("0.30", "100"),), trusted=False), holdings)) == []
    assert _decide(_context(_window(up_bids=()), holdings)) == []
    ended = (END_S + 1) * 1000
    assert _decide(_context(_window(up_bids=(("0.30", "100"),)), holdings, now_ms=ended)) == []


def test_malformed_numbers_propose_nothing_and_never_raise() -> None:
    nan = D("NaN")
    odd = [
        Holding(UP, MARKET.condition_id, nan, D(10), D("0.50")),
        Holding(UP, MARKET.condition_id, D(10), D(10), nan),
        Holding(UP, MARKET.condition_id, D(-5), D(-5), D("0.50")),
    ]
    for holding in odd:
        assert _decide(_context(_window(up_bids=(("0.10", "100"),)), [holding])) == []
    bad_order = RestingOrder("x", "MM", MARKET.condition_id, UP, Side.SELL, nan, nan, OrderType.FAK)
    context = _endgame("0.12", "0.80", now_ms=ENDGAME_MS)
    no_sellable = Holding(UP, MARKET.condition_id, D(10), nan, D("0.50"))
    odd_context = _context(
        context.windows[0], [no_sellable], [bad_order], limits=HEDGE_LIMITS, now_ms=ENDGAME_MS
    )
    assert _decide(odd_context, _STOP) == []  # no confirmed shares to hedge


def test_nothing_on_empty_holdings() -> None:
    assert _decide(_context(_window())) == []
    assert _decide(_context(None)) == []


# --- Pairs and what is already on its way ---------------------------------------------------------


def test_a_fully_paired_position_is_held_whatever_the_marks() -> None:
    context = _context(
        _window(up_bids=(("0.10", "100"),), up_asks=(("0.12", "100"),), down_bids=(("0.86", "100"),)),
        [_holding(UP, "10", "0.50"), _holding(DOWN, "10", "0.45")],
    )
    assert unpaired_position(context, MARKET) is None
    assert _decide(context) == []


def test_only_the_unpaired_shares_are_stopped_out() -> None:
    context = _context(
        _window(up_bids=(("0.10", "100"),), up_asks=(("0.12", "100"),), down_bids=(("0.86", "100"),)),
        [_holding(UP, "15", "0.50"), _holding(DOWN, "10", "0.45")],
    )
    sell = _one(_decide(context))  # 5 unpaired: the stop is $1 / 5 = 20c, the loss 40c
    assert (sell.token_id, sell.size) == (UP, D(5))


def test_sells_proposed_earlier_in_the_pass_count_as_gone() -> None:
    icc_sell = OrderIntent("ICC", MARKET.condition_id, UP, Side.SELL, D("0.38"), D(4), OrderType.FAK)
    context = _context(_window(), [_holding(UP, "20", "0.50")], proposed=[icc_sell])
    assert _one(_decide(context)).size == D(16)
    everything = OrderIntent("ICC", MARKET.condition_id, UP, Side.SELL, D("0.38"), D(20), OrderType.FAK)
    assert _decide(_context(_window(), [_holding(UP, "20", "0.50")], proposed=[everything])) == []


def test_a_hedge_in_flight_pairs_the_position() -> None:
    hedge = RestingOrder("h", "EXIT", MARKET.condition_id, DOWN, Side.BUY, D("0.80"), D(10), OrderType.FAK)
    context = _context(_window(up_bids=(("0.10", "100"),)), [_holding(UP, "10", "0.50")], [hedge])
    assert _decide(context) == []


# --- The end-game -------------------------------------------------------------------------------


def _endgame(
    up_ask: str,
    down_ask: str,
    *,
    tradable: bool = True,
    now_ms: int = ENDGAME_MS,
    limits: RiskLimits = HEDGE_LIMITS,
) -> StrategyContext:
    window = _window(
        up_bids=(("0.10", "100"),),
        up_asks=((up_ask, "100"),),
        down_bids=(("0.70", "100"),),
        down_asks=((down_ask, "100"),),
        tradable=tradable,
    )
    return _context(window, [_holding(UP, "10", "0.50")], limits=limits, now_ms=now_ms)


_STOP = ExitStrategy(stop_loss_per_share=D("0.10"))


def test_hedges_a_losing_position_when_the_asks_sum_below_one_minus_fees() -> None:
    hedge = _one(_decide(_endgame("0.12", "0.80"), _STOP))
    assert (hedge.token_id, hedge.side, hedge.price, hedge.size) == (DOWN, Side.BUY, D("0.80"), D(10))
    assert hedge.order_type is OrderType.FAK
    assert not hedge.reduces_position
    assert hedge.strategy == "EXIT"
    assert hedge.reason.startswith("hedge Up with Down:")
    assert "locks -0.311/share" in hedge.reason  # 1 − 0.50 − 0.80 − 0.0112 fee


@pytest.mark.parametrize(("down_ask", "hedged"), [("0.86", True), ("0.87", False)])
def test_hedge_only_below_one_minus_fees(down_ask: str, hedged: bool) -> None:
    fees = fee_per_share(D("0.12"), MARKET.fee) + fee_per_share(D(down_ask), MARKET.fee)
    assert (D("0.12") + D(down_ask) + fees < 1) is hedged  # 0.9958 and 1.0053
    proposals = _decide(_endgame("0.12", down_ask), _STOP)
    assert [(p.token_id, p.side) for p in proposals if isinstance(p, OrderIntent)] == (
        [(DOWN, Side.BUY)] if hedged else []
    )


def test_end_game_without_a_hedge_holds_to_resolution_instead_of_selling() -> None:
    assert _decide(_endgame("0.15", "0.90"), _STOP) == []
    # The same state before the end-game is a stop-loss sale.
    sell = _one(_decide(_endgame("0.15", "0.90", now_ms=NOW_MS), _STOP))
    assert (sell.token_id, sell.side) == (UP, Side.SELL)


def test_no_hedge_once_new_orders_are_no_longer_allowed() -> None:
    assert _decide(_endgame("0.12", "0.80", tradable=False), _STOP) == []
    last_seconds = (END_S - 20) * 1000  # inside min_seconds_to_end (30 s)
    assert _decide(_endgame("0.12", "0.80", now_ms=last_seconds), _STOP) == []


def test_hedge_stays_within_the_trade_and_exposure_limits() -> None:
    # $1 trades: 1.25 shares at 0.80 is below the market's 5-share minimum.
    assert _decide(_endgame("0.12", "0.80", limits=RiskLimits()), _STOP) == []
    capped = RiskLimits(max_trade_usd=D(10), max_loss_per_trade_usd=D(10), max_exposure_per_market_usd=D(9))
    hedge = _one(_decide(_endgame("0.12", "0.80", limits=capped), _STOP))
    assert hedge.size == D(5)  # $5 held, $4 of room: 5 shares at 0.80


def test_constructor_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="stop_loss_per_share"):
        ExitStrategy(stop_loss_per_share=D(0))
    with pytest.raises(ValueError, match="hedge_horizon_s"):
        ExitStrategy(hedge_horizon_s=-1)
    with pytest.raises(ValueError, match="min_exit_bid"):
        ExitStrategy(min_exit_bid=D(1))


# --- Properties ----------------------------------------------------------------------------------

_price = st.integers(1, 99).map(lambda c: f"{D(c) / 100}")
_shares = st.integers(0, 3000).map(lambda c: D(c) / 100)


_mostly_true = st.sampled_from([True, True, True, False])


def _price_of(level: tuple[int, int]) -> int:
    return level[0]


@st.composite
def _states(draw: st.DrawFn) -> StrategyContext:
    def book(token_id: str, mid: int) -> OrderBook:
        # Levels a few cents either side of the mid.
        bid_prices = st.integers(max(1, mid - 6), mid - 1)
        ask_prices = st.integers(mid, min(99, mid + 4))
        bids = draw(
            st.lists(st.tuples(bid_prices, st.integers(1, 40)), min_size=1, max_size=3, unique_by=_price_of)
        )
        asks = draw(
            st.lists(st.tuples(ask_prices, st.integers(1, 40)), min_size=1, max_size=2, unique_by=_price_of)
        )
        return _book(
            token_id,
            [(str(D(p) / 100), str(size)) for p, size in bids],
            [(str(D(p) / 100), str(size)) for p, size in asks],
            trusted=draw(_mostly_true),
        )

    # Complementary books whose mids sum to about 1: the asks sometimes sum below 1 − fees.
    up_mid = draw(st.integers(2, 98))
    down_mid = min(max(100 - up_mid - draw(st.integers(-3, 8)), 2), 98)
    window = WindowView(
        MARKET, book(UP, up_mid), book(DOWN, down_mid), strike=None, tradable=draw(_mostly_true)
    )
    holdings = []
    for token_id in draw(st.lists(st.sampled_from([UP, DOWN]), unique=True, min_size=1)):
        shares = draw(_shares)
        sellable = draw(st.one_of(_shares, st.just(shares)))
        # Bought around the current mid, mostly higher: most positions are losing.
        mid = up_mid if token_id == UP else down_mid
        cost = D(min(max(mid + draw(st.integers(-10, 40)), 1), 99)) / 100
        holdings.append(Holding(token_id, MARKET.condition_id, shares, sellable, cost))
    resting = [
        RestingOrder(
            f"o{i}",
            "MM",
            MARKET.condition_id,
            draw(st.sampled_from([UP, DOWN])),
            draw(st.sampled_from(Side)),
            D(draw(_price)),
            draw(_shares),
            draw(st.sampled_from(OrderType)),
        )
        for i in range(draw(st.integers(0, 2)))
    ]
    limits = RiskLimits(
        max_trade_usd=D(draw(st.sampled_from([0, 1, 10, 20]))),
        max_loss_per_trade_usd=D(draw(st.sampled_from([0, 1, 10, 20]))),
        max_exposure_per_market_usd=D(draw(st.sampled_from([0, 5, 30]))),
        max_exposure_per_category_usd=D(draw(st.sampled_from([10, 60]))),
        max_exposure_usd=D(draw(st.sampled_from([20, 60]))),
    )
    seconds_left = draw(st.sampled_from([-1, 0, 20, 30, 31, 60, 90, 91, 300, 600]))
    return _context(window, holdings, resting, limits=limits, now_ms=(END_S - seconds_left) * 1000)


@settings(max_examples=100, deadline=None)
@given(
    _states(), st.sampled_from([ExitStrategy(), _STOP, ExitStrategy(min_exit_bid=D(0), hedge_horizon_s=600)])
)
def test_exit_never_sells_beyond_the_sellable_shares_and_hedges_only_where_allowed(
    context: StrategyContext, strategy: ExitStrategy
) -> None:
    proposals = _decide(context, strategy)
    assert len(proposals) <= 1  # one market
    for proposal in proposals:
        assert isinstance(proposal, OrderIntent)
        assert proposal.strategy == "EXIT"
        assert proposal.order_type is OrderType.FAK
        assert proposal.size >= MARKET.min_size
        window = context.windows[0]
        book = window.book_of(proposal.token_id)
        assert book.trusted
        if proposal.side is Side.SELL:
            holding = context.holdings[proposal.token_id]
            assert proposal.reduces_position
            assert proposal.size <= sellable_now(context, holding)
            best = book.best_bid()
            assert best is not None
            assert proposal.price <= best.price < holding.average_cost
        else:
            assert not proposal.reduces_position
            assert window.tradable
            assert window.seconds_left(context.now_ms) >= context.limits.min_seconds_to_end
            up_ask, down_ask = window.up_book.best_ask(), window.down_book.best_ask()
            assert up_ask is not None
            assert down_ask is not None
            fees = fee_per_share(up_ask.price, MARKET.fee) + fee_per_share(down_ask.price, MARKET.fee)
            assert up_ask.price + down_ask.price + fees < 1
            assert proposal.notional <= min(
                context.limits.max_trade_usd, context.limits.max_loss_per_trade_usd
            )
            held = context.holdings[MARKET.other_token(proposal.token_id)]
            assert proposal.size <= min(held.shares, held.sellable)


@settings(max_examples=60, deadline=None)
@given(
    up_ask=st.integers(2, 60),
    down_ask=st.integers(40, 99),
    cost=st.integers(30, 99),
    loss=st.integers(1, 20),
)
def test_end_game_hedges_exactly_when_the_asks_and_fees_sum_below_one(
    up_ask: int, down_ask: int, cost: int, loss: int
) -> None:
    bid = max(cost - loss, 1)
    up_ask = max(up_ask, bid + 1)
    window = _window(
        up_bids=((f"{D(bid) / 100}", "100"),),
        up_asks=((f"{D(up_ask) / 100}", "100"),),
        down_bids=((f"{D(down_ask - 1) / 100}", "100"),),
        down_asks=((f"{D(down_ask) / 100}", "100"),),
    )
    context = _context(
        window, [_holding(UP, "10", f"{D(cost) / 100}")], limits=HEDGE_LIMITS, now_ms=ENDGAME_MS
    )
    proposals = _decide(context, ExitStrategy(stop_loss_per_share=D("0.01"), min_exit_bid=D(0)))
    asks = D(up_ask) / 100 + D(down_ask) / 100
    fees = fee_per_share(D(up_ask) / 100, MARKET.fee) + fee_per_share(D(down_ask) / 100, MARKET.fee)
    if asks + fees < 1:
        hedge = _one(proposals)
        assert (hedge.token_id, hedge.side, hedge.price) == (DOWN, Side.BUY, D(down_ask) / 100)
        assert hedge.size == min(
            D(10), (D(10) / (D(down_ask) / 100)).quantize(D("0.01"), rounding="ROUND_FLOOR")
        )
    else:
        assert proposals == []  # hold to resolution: never a sale in the end-game
