"""Tests for the risk manager façade: approvals, the kill switch, HALTED and REDUCING, cancels,
the documented order of checks, named errors for bad input, and a hypothesis state machine
that drives random order flow against the limits."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest
from hypothesis import Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from polyexec.core.models import CancelIntent, CancelScope, Market, OrderIntent, Side
from polyexec.core.risk import RiskContext, RiskManager, RiskReason, TradingState
from polyexec.core.risk_limits import RiskLimits
from tests.core.risk_factories import (
    CANCEL_ALL,
    DAY_MS,
    MARKET,
    NOW,
    SECOND,
    D,
    assert_approved,
    assert_denied,
    buy,
    ctx,
    held,
    manager,
    sell,
)

# --- approvals and the hard stops --------------------------------------------------------------


def test_healthy_buy_and_reducing_sell_are_approved() -> None:
    risk = manager()
    assert_approved(risk.evaluate(buy(), ctx()))
    assert_approved(risk.evaluate(sell(size="2"), held("2")))


def test_kill_switch_beats_everything_but_cancels() -> None:
    risk = manager()
    risk.set_trading_state(TradingState.HALTED, "operator", NOW)
    risk.engage_kill_switch("HALT file", NOW)
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.KILL_SWITCH)
    assert_denied(risk.evaluate(sell(), held()), RiskReason.KILL_SWITCH)
    assert_denied(risk.evaluate(buy(price="2"), ctx()), RiskReason.KILL_SWITCH)  # even invalid ones
    assert_approved(risk.evaluate_cancel(CANCEL_ALL))
    assert risk.kill_switch_engaged


def test_clearing_the_kill_switch_keeps_the_halt() -> None:
    risk = manager()
    risk.set_trading_state(TradingState.HALTED, "operator", NOW)
    risk.engage_kill_switch("HALT file", NOW)
    risk.clear_kill_switch(NOW + 1)
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.HALTED)
    risk.set_trading_state(TradingState.ACTIVE, "resume", NOW + 2)
    assert_approved(risk.evaluate(buy(), ctx()))


def test_halted_denies_every_new_order_and_passes_cancels() -> None:
    risk = manager()
    risk.set_trading_state(TradingState.HALTED, "reconciliation mismatch", NOW)
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.HALTED)
    assert_denied(risk.evaluate(sell(), held()), RiskReason.HALTED)
    order_cancel = CancelIntent(scope=CancelScope.ORDER, order_id="0x1")
    assert_approved(risk.evaluate_cancel(order_cancel))


def test_cancels_pass_with_every_breaker_tripped() -> None:
    risk = manager(max_consecutive_rejects=1)
    risk.record_venue_reject(NOW)
    risk.record_api_health(False, NOW - 120 * SECOND)
    assert_approved(risk.evaluate_cancel(CANCEL_ALL))


def test_reducing_lets_only_reducing_sells_through() -> None:
    risk = manager()
    risk.set_trading_state(TradingState.REDUCING, "feed stale", NOW)
    assert risk.trading_state is TradingState.REDUCING
    assert_denied(risk.evaluate(buy(), ctx()), RiskReason.REDUCING_ONLY)
    assert_denied(risk.evaluate(buy(reduces_position=True), ctx()), RiskReason.REDUCING_ONLY)
    assert_denied(risk.evaluate(sell(reduces=False), held()), RiskReason.REDUCING_ONLY)
    assert_approved(risk.evaluate(sell(size="10"), held("10")))


def test_the_first_failing_check_in_documented_order_wins() -> None:
    risk = manager()
    risk.add_cooldown(MARKET.up_token_id, NOW + 60 * SECOND, "cooldown")
    everything_wrong = ctx(book_trusted=False, open_orders=99, total_exposure_usd=D(99))
    assert_denied(risk.evaluate(buy(), everything_wrong), RiskReason.COOLDOWN_CACHED)
    assert_denied(risk.evaluate(buy(price="1.5"), everything_wrong), RiskReason.INVALID_INTENT)
    assert_denied(risk.evaluate(buy(token_id="2222"), everything_wrong), RiskReason.OPEN_ORDERS_LIMIT)


def test_recording_bad_numbers_raises_a_named_error() -> None:
    risk = manager()
    with pytest.raises(ValueError, match="realised pnl"):
        risk.record_realized_pnl(D("NaN"), NOW)
    with pytest.raises(ValueError, match="equity"):
        risk.update_equity(D(-1), NOW)


# --- stateful property test ----------------------------------------------------------------------

FLOW_LIMITS = RiskLimits(
    max_trade_usd=D(3),
    max_window_usd=D(4),
    max_exposure_usd=D(8),
    max_exposure_per_market_usd=D(4),
    max_exposure_per_category_usd=D(6),
    max_open_orders=4,
    max_loss_per_trade_usd=D("2.5"),  # below max_trade_usd, so either limit can bind
    max_loss_per_hour_usd=D(6),
    max_loss_per_day_usd=D(4),  # below the hour and breaker limits, so the day limit binds
    max_consecutive_losses=6,
    loss_breaker_usd=D(5),
    max_consecutive_rejects=3,
    min_seconds_to_end=0,
    max_seconds_to_end=10**9,  # time windows have their own tests; here time runs for hours
)
FLOW_START = 1_790_000_000_000
FLOW_MARKETS = tuple(
    Market(
        asset=asset,
        slug=f"{asset}-updown-15m-{index}",
        condition_id=f"0x{index:064x}",
        up_token_id=f"{index}1",
        down_token_id=f"{index}2",
        window_start=FLOW_START // SECOND,
        window_end=FLOW_START // SECOND + 10**8,
    )
    for index, asset in enumerate(("btc", "btc", "eth"), start=1)
)
# (market index, up?, side, cents past the touch, size, reduces_position, book trusted).
# Prices sit around the test book (bid 0.49, ask 0.51), at most 3 cents past the touch so that
# most orders are not refused for slippage; sizes are small enough that several orders fit.
ORDERS = st.tuples(
    st.integers(0, len(FLOW_MARKETS) - 1),
    st.booleans(),
    st.sampled_from(Side),
    st.integers(-5, 3),
    st.integers(1, 6),
    st.booleans(),
    st.sampled_from([True, True, True, False]),
)


@dataclasses.dataclass
class OpenOrder:
    market: Market
    token_id: str
    side: Side
    price: Decimal
    size: Decimal

    @property
    def buy_notional(self) -> Decimal:
        return self.price * self.size if self.side is Side.BUY else D(0)


class RiskFlow(RuleBasedStateMachine):
    """Random order flow, fills, PnL, venue health and operator actions against one manager."""

    def __init__(self) -> None:
        super().__init__()
        self.risk = RiskManager(FLOW_LIMITS)
        self.now = FLOW_START
        self.open: list[OpenOrder] = []
        self.shares: dict[str, Decimal] = {}
        self.cost: dict[str, Decimal] = {}
        self.bought: dict[str, Decimal] = {}  # filled buy notional per market
        self.kill = False
        self.state = TradingState.ACTIVE
        self.day: int | None = None
        self.day_pnl = D(0)

    # model views
    def exposure(self, market: Market | None = None, category: str | None = None) -> Decimal:
        """Position cost plus open buys, in everything, one market or one category."""

        def counted(m: Market) -> bool:
            return (market is None or m is market) and (category is None or m.category == category)

        positions = sum((cost for token, cost in self.cost.items() if counted(self.market_of(token))), D(0))
        return positions + sum((o.buy_notional for o in self.open if counted(o.market)), D(0))

    def market_of(self, token_id: str) -> Market:
        return next(m for m in FLOW_MARKETS if token_id in (m.up_token_id, m.down_token_id))

    def window(self, market: Market) -> Decimal:
        return self.bought.get(market.slug, D(0)) + self.exposure_of_open_buys(market)

    def exposure_of_open_buys(self, market: Market) -> Decimal:
        return sum((o.buy_notional for o in self.open if o.market is market), D(0))

    def context(self, market: Market, token_id: str, book_ok: bool) -> RiskContext:
        return RiskContext(
            market=market,
            now_ms=self.now,
            position_shares=self.shares.get(token_id, D(0)),
            open_sell_shares=sum(
                (o.size for o in self.open if o.token_id == token_id and o.side is Side.SELL), D(0)
            ),
            total_exposure_usd=self.exposure(),
            market_exposure_usd=self.exposure(market=market),
            category_exposure_usd=self.exposure(category=market.category),
            window_bought_usd=self.window(market),
            open_orders=len(self.open),
            book_trusted=book_ok,
            best_bid=D("0.49"),
            best_ask=D("0.51"),
            bid_depth_usd=D(100),
            ask_depth_usd=D(100),
            est_slippage_pct=D(0),
        )

    @rule(orders=st.lists(ORDERS, min_size=1, max_size=4))
    def submit(self, orders: list[tuple[int, bool, Side, int, int, bool, bool]]) -> None:
        for market_index, up, side, cents, size, reduces, book_ok in orders:
            market = FLOW_MARKETS[market_index]
            token_id = market.up_token_id if up else market.down_token_id
            held = self.shares.get(token_id, D(0))
            # Mostly sell what is held (oversells are covered by the unit tests).
            shares = min(D(size), held) if side is Side.SELL and held > 0 else D(size)
            price = D("0.51") + D(cents) / 100 if side is Side.BUY else D("0.49") - D(cents) / 100
            intent = OrderIntent(
                strategy="FV",
                condition_id=market.condition_id,
                token_id=token_id,
                side=side,
                price=price,
                size=shares,
                reduces_position=reduces,
            )
            self.check_decision(intent, self.context(market, token_id, book_ok))

    def check_decision(self, intent: OrderIntent, context: RiskContext) -> None:
        day_loss_reached = (
            self.day == self.now // DAY_MS and self.day_pnl <= -FLOW_LIMITS.max_loss_per_day_usd
        )
        decision = self.risk.evaluate(intent, context)
        if day_loss_reached:
            event("day loss reached")
        assert isinstance(decision.reason, RiskReason)
        event(f"decision {decision.reason}")
        assert decision.approved is (decision.reason is RiskReason.APPROVED)
        if not decision.approved:
            return
        assert not self.kill
        assert self.state is not TradingState.HALTED
        if self.state is TradingState.REDUCING or day_loss_reached:
            assert intent.side is Side.SELL
            assert intent.reduces_position
        if not (intent.side is Side.SELL and intent.reduces_position):
            assert intent.notional <= FLOW_LIMITS.max_trade_usd
        if intent.side is Side.BUY:
            assert intent.notional <= FLOW_LIMITS.max_loss_per_trade_usd
        market = context.market
        self.open.append(OpenOrder(market, intent.token_id, intent.side, intent.price, intent.size))

    @rule(index=st.integers(0, 10))
    def fill(self, index: int) -> None:
        if not self.open:
            return
        order = self.open.pop(index % len(self.open))
        held, cost = self.shares.get(order.token_id, D(0)), self.cost.get(order.token_id, D(0))
        if order.side is Side.BUY:
            self.shares[order.token_id] = held + order.size
            self.cost[order.token_id] = cost + order.buy_notional
            self.bought[order.market.slug] = self.bought.get(order.market.slug, D(0)) + order.buy_notional
        else:
            assert order.size <= held  # the risk manager never approves an oversell
            self.shares[order.token_id] = held - order.size
            self.cost[order.token_id] = cost * (held - order.size) / held

    @rule(index=st.integers(0, 10))
    def cancel(self, index: int) -> None:
        assert self.risk.evaluate_cancel(CancelIntent(scope=CancelScope.ORDER, order_id="x")).approved
        if self.open:
            self.open.pop(index % len(self.open))

    @rule(cents=st.integers(-300, 100))
    def realized_pnl(self, cents: int) -> None:
        amount = D(cents) / 100
        self.risk.record_realized_pnl(amount, self.now)
        self.risk.record_trade_result(amount, self.now)
        if self.day != self.now // DAY_MS:
            self.day, self.day_pnl = self.now // DAY_MS, D(0)
        self.day_pnl += amount

    @rule()
    def reset_daily(self) -> None:
        self.risk.reset_daily(self.now)
        self.day, self.day_pnl = self.now // DAY_MS, D(0)

    @rule(rejected=st.sampled_from([False, False, True]))
    def venue_answer(self, rejected: bool) -> None:
        if rejected:
            self.risk.record_venue_reject(self.now)
        else:
            self.risk.record_venue_accept(self.now)

    @rule(healthy=st.booleans())
    def api_health(self, healthy: bool) -> None:
        self.risk.record_api_health(healthy, self.now)

    @rule(equity=st.integers(92, 108))
    def equity(self, equity: int) -> None:
        self.risk.update_equity(D(equity), self.now)

    @rule(engage=st.sampled_from([False, False, True]))
    def kill_switch(self, engage: bool) -> None:
        if engage:
            self.risk.engage_kill_switch("test", self.now)
        else:
            self.risk.clear_kill_switch(self.now)
        self.kill = engage

    @rule(state=st.sampled_from([TradingState.ACTIVE, TradingState.ACTIVE, *TradingState]))
    def trading_state(self, state: TradingState) -> None:
        self.risk.set_trading_state(state, "test", self.now)
        self.state = state

    @rule(seconds=st.integers(1, 120))
    def cooldown(self, seconds: int) -> None:
        self.risk.add_cooldown(FLOW_MARKETS[0].up_token_id, self.now + seconds * SECOND, "venue cooldown")

    @rule(ms=st.one_of(st.integers(0, 120_000), st.sampled_from([3_600_000, 6 * 3_600_000])))
    def advance_time(self, ms: int) -> None:
        self.now += ms

    @invariant()
    def limits_hold(self) -> None:
        limits = FLOW_LIMITS
        assert self.exposure() <= limits.max_exposure_usd
        for market in FLOW_MARKETS:
            assert self.exposure(market=market) <= limits.max_exposure_per_market_usd
            assert self.exposure(category=market.category) <= limits.max_exposure_per_category_usd
            assert self.window(market) <= limits.max_window_usd
        assert len(self.open) <= limits.max_open_orders

    @invariant()
    def status_matches_the_model(self) -> None:
        status = self.risk.status(self.now)
        assert status["kill_switch"]["engaged"] is self.kill
        assert status["trading_state"] == self.state
        expected_loss = -self.day_pnl if self.day == self.now // DAY_MS and self.day_pnl < 0 else D(0)
        assert self.risk.day_loss(self.now) == expected_loss

    @invariant()
    def persistence_round_trips(self) -> None:
        data = self.risk.to_dict()
        assert RiskManager.from_dict(FLOW_LIMITS, json.loads(json.dumps(data))).to_dict() == data


# No explain phase: on a failure it replays the machine for minutes on this shared machine.
RiskFlow.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
TestRiskFlow = RiskFlow.TestCase
