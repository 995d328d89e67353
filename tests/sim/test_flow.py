"""Background flow: the fair-value model, lagged coherent maker ladders, takers, determinism."""

from __future__ import annotations

import dataclasses
from decimal import ROUND_FLOOR, Decimal

import pytest

from polyexec.sim.flow import TAKER_ACCOUNT, BackgroundFlow, up_probability
from polyexec.sim.schedule import MarketWindow, WindowSchedule, market_slug
from polyexec.sim.underlying import UnderlyingPrice, profile_for
from tests.sim.fakes import FakeExchange, FakeOrder

WINDOW = 900
T0 = 1_790_000_100  # a multiple of 900
SIGMA = 8.9e-5


def _setup(
    seed: int = 3, **flow_kwargs: object
) -> tuple[FakeExchange, dict[str, UnderlyingPrice], WindowSchedule, BackgroundFlow]:
    exchange = FakeExchange()
    underlyings = {"btc": UnderlyingPrice(profile_for("btc"), seed, (T0 - 90) * 1000)}
    schedule = WindowSchedule(exchange, underlyings, seed=seed, window_seconds=WINDOW)
    flow = BackgroundFlow(exchange, schedule, underlyings, seed, **flow_kwargs)  # type: ignore[arg-type]
    return exchange, underlyings, schedule, flow


def _at(underlyings: dict[str, UnderlyingPrice], schedule: WindowSchedule, now_ms: int) -> None:
    for underlying in underlyings.values():
        underlying.advance_to(now_ms)
    schedule.step(now_ms)


def _current(schedule: WindowSchedule) -> MarketWindow:
    window = schedule.get(market_slug("btc", T0))
    assert window is not None
    return window


# -- the model ------------------------------------------------------------------------------


def test_probability_is_one_half_at_the_money_and_rises_with_the_price() -> None:
    start = float(T0)
    assert up_probability(100_000, 100_000, start, start + 900, SIGMA) == pytest.approx(0.5)
    above = up_probability(100_100, 100_000, start, start + 900, SIGMA)
    far_above = up_probability(100_500, 100_000, start, start + 900, SIGMA)
    assert 0.5 < above < far_above < 1
    mirrored = 100_000 * 100_000 / 100_100  # the same log distance below the strike
    assert up_probability(mirrored, 100_000, start, start + 900, SIGMA) == pytest.approx(1 - above)


def test_probability_sharpens_as_the_window_runs_out() -> None:
    end = float(T0 + 900)
    early = up_probability(100_050, 100_000, end - 800, end, SIGMA)
    late = up_probability(100_050, 100_000, end - 100, end, SIGMA)
    assert 0.5 < early < late


def test_inside_the_averaging_minute_the_observed_mean_counts() -> None:
    end = float(T0 + 900)
    # Spot just below the strike, but 55 of 60 seconds already averaged well above it.
    p = up_probability(99_990, 100_000, end - 5, end, SIGMA, observed_mean=100_100)
    assert p > 0.99
    # Spot above, but the observed average far below: the TWAP cannot catch up.
    assert up_probability(100_010, 100_000, end - 5, end, SIGMA, observed_mean=99_800) < 0.01


def test_at_the_end_a_tie_counts_as_up() -> None:
    end = float(T0 + 900)
    assert up_probability(100_000, 100_000, end, end, SIGMA, observed_mean=100_000) == 1.0
    assert up_probability(100_000, 100_000, end, end, SIGMA, observed_mean=99_999) == 0.0


def test_bad_prices_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        up_probability(0, 100, 0, 900, SIGMA)


# -- makers ---------------------------------------------------------------------------------


def _resting(exchange: FakeExchange, account: str, token: str, side: str) -> list[FakeOrder]:
    return [
        o
        for o in exchange.resting.values()
        if o.account == account and o.token_id == token and o.side == side
    ]


def test_maker_ladders_are_coherent_between_up_and_down() -> None:
    exchange, underlyings, schedule, flow = _setup()
    _at(underlyings, schedule, (T0 + 120) * 1000)
    flow.step((T0 + 120) * 1000)
    market = _current(schedule).market
    for maker in flow.makers:
        up_bids = _resting(exchange, maker.account, market.up_token_id, "BUY")
        up_asks = _resting(exchange, maker.account, market.up_token_id, "SELL")
        down_bids = _resting(exchange, maker.account, market.down_token_id, "BUY")
        down_asks = _resting(exchange, maker.account, market.down_token_id, "SELL")
        assert up_bids or up_asks
        assert sorted((1 - o.price, o.size) for o in up_bids) == sorted((o.price, o.size) for o in down_asks)
        assert sorted((1 - o.price, o.size) for o in up_asks) == sorted((o.price, o.size) for o in down_bids)
    up_bid, up_ask = exchange.best_bid_ask(market.up_token_id)
    down_bid, down_ask = exchange.best_bid_ask(market.down_token_id)
    assert up_bid is not None
    assert down_ask is not None
    assert up_bid == 1 - down_ask
    assert up_ask == 1 - down_bid  # type: ignore[operator]


def test_makers_never_cross_the_book() -> None:
    exchange, underlyings, schedule, flow = _setup()
    # Makers that disagree wildly would cross each other all the time if they were allowed to.
    flow.makers = [dataclasses.replace(m, noise=0.05, requote_probability=1.0) for m in flow.makers]
    market = None
    for tenth in range(60):
        now_ms = (T0 + 400) * 1000 + tenth * 300
        _at(underlyings, schedule, now_ms)
        flow.step(now_ms)
        market = _current(schedule).market
        for token in (market.up_token_id, market.down_token_id):
            bid, ask = exchange.best_bid_ask(token)
            assert bid is None or ask is None or bid < ask
    assert market is not None
    up_bid, up_ask = exchange.best_bid_ask(market.up_token_id)
    assert up_bid is not None
    assert up_ask is not None


def test_quotes_are_on_the_cent_grid_with_whole_sizes_of_at_least_five() -> None:
    exchange, underlyings, schedule, flow = _setup()
    for second in range(T0 + 100, T0 + 110):
        _at(underlyings, schedule, second * 1000)
        flow.step(second * 1000)
    assert exchange.placed
    for order in exchange.placed:
        assert Decimal("0.01") <= order.price <= Decimal("0.99")
        assert order.price % Decimal("0.01") == 0
        assert order.size >= 5
        assert order.size == order.size.to_integral_value()


def test_makers_price_from_the_lagged_underlying() -> None:
    exchange, underlyings, schedule, flow = _setup()
    now_ms = (T0 + 300) * 1000
    _at(underlyings, schedule, now_ms)
    maker = dataclasses.replace(flow.makers[0], noise=0.0, lag_ms=2_500, levels=1)
    flow.makers = [maker]
    flow.step(now_ms)
    window = _current(schedule)
    lagged_fair = flow.fair_probability(window, now_ms - maker.lag_ms)
    expected_bid = (Decimal(repr(round(lagged_fair, 4))) - maker.half_spread).quantize(
        Decimal("0.01"), rounding=ROUND_FLOOR
    )
    bids = _resting(exchange, maker.account, window.market.up_token_id, "BUY")
    assert [o.price for o in bids] == [expected_bid]
    # The lag matters: the underlying has moved since.
    assert flow.fair_probability(window, now_ms) != lagged_fair


def test_the_next_window_is_quoted_wide_around_one_half() -> None:
    exchange, underlyings, schedule, flow = _setup()
    _at(underlyings, schedule, (T0 + 300) * 1000)
    flow.step((T0 + 300) * 1000)
    upcoming = schedule.get(market_slug("btc", T0 + WINDOW))
    assert upcoming is not None
    assert flow.fair_probability(upcoming, (T0 + 300) * 1000) == 0.5
    bid, ask = exchange.best_bid_ask(upcoming.market.up_token_id)
    assert bid is not None
    assert ask is not None
    assert bid <= Decimal("0.48") < Decimal("0.52") <= ask


def test_an_unchanged_ladder_is_not_requoted() -> None:
    exchange, underlyings, schedule, flow = _setup()
    now_ms = (T0 + 200) * 1000
    _at(underlyings, schedule, now_ms)
    flow.makers = [dataclasses.replace(m, noise=0.0, requote_probability=1.0) for m in flow.makers]
    flow.step(now_ms)
    placed = len(exchange.placed)
    flow.step(now_ms)  # same time, same underlying, no noise: same ladders
    current_tokens = {_current(schedule).market.up_token_id, _current(schedule).market.down_token_id}
    assert [
        o for o in exchange.placed[placed:] if o.token_id in current_tokens and o.account != TAKER_ACCOUNT
    ] == []


def test_ended_windows_are_not_quoted() -> None:
    exchange, underlyings, schedule, flow = _setup(taker_probability=1.0)
    _at(underlyings, schedule, (T0 + 100) * 1000)
    ended = _current(schedule)
    end_ms = ended.market.window_end * 1000
    for underlying in underlyings.values():
        underlying.advance_to(end_ms)  # the schedule has not resolved it yet
    before = len(exchange.placed)
    flow.step(end_ms)
    tokens = {ended.market.up_token_id, ended.market.down_token_id}
    assert [o for o in exchange.placed[before:] if o.token_id in tokens] == []


# -- takers ---------------------------------------------------------------------------------


def test_takers_buy_at_the_best_ask_with_fill_and_kill() -> None:
    exchange, underlyings, schedule, flow = _setup(taker_probability=1.0)
    now_ms = (T0 + 200) * 1000
    _at(underlyings, schedule, now_ms)
    flow.step(now_ms)  # makers quote, then a taker takes
    takes = [o for o in exchange.placed if o.account == TAKER_ACCOUNT]
    assert takes
    market = _current(schedule).market
    for take in takes:
        assert take.order_type == "FAK"
        assert take.side == "BUY"
        assert take.token_id in (market.up_token_id, market.down_token_id)
        assert 5 <= take.size <= 40
        assert take.price == exchange.best_bid_ask(take.token_id)[1]


def test_refused_orders_are_counted_not_raised() -> None:
    exchange, underlyings, schedule, flow = _setup()
    _at(underlyings, schedule, (T0 + 100) * 1000)

    def refuse(*args: object, **kwargs: object) -> str:
        raise ValueError("market closed")

    exchange.place_background_order = refuse  # type: ignore[method-assign]
    flow.step((T0 + 100) * 1000)
    assert flow.stats.orders_refused > 0
    assert flow.stats.orders_placed == 0
    assert "market closed" in flow.stats.refusals[-1]


def test_cancel_all_withdraws_every_background_order() -> None:
    exchange, underlyings, schedule, flow = _setup()
    _at(underlyings, schedule, (T0 + 100) * 1000)
    flow.step((T0 + 100) * 1000)
    assert exchange.resting
    assert flow.cancel_all() > 0
    assert exchange.resting == {}


def test_same_seed_and_steps_give_the_same_orders() -> None:
    def run(seed: int) -> list[tuple[str, str, str, Decimal, Decimal, str]]:
        exchange, underlyings, schedule, flow = _setup(seed=seed, taker_probability=0.3)
        for tenth in range(30):
            now_ms = (T0 + 100) * 1000 + tenth * 100
            _at(underlyings, schedule, now_ms)
            flow.step(now_ms)
        return [(o.account, o.token_id, o.side, o.price, o.size, o.order_type) for o in exchange.placed]

    first = run(3)
    assert first == run(3)
    assert first != run(4)


def test_bad_settings_are_refused() -> None:
    exchange, underlyings, schedule, _ = _setup()
    with pytest.raises(ValueError, match="at least one maker"):
        BackgroundFlow(exchange, schedule, underlyings, 0, maker_count=0)
    with pytest.raises(ValueError, match="taker_probability"):
        BackgroundFlow(exchange, schedule, underlyings, 0, taker_probability=1.5)
