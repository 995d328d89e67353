"""The market driver as a whole: composed on a real loopback app, against the fake and the
real exchange: live books, rollover and resolution, determinism, clean stop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from polyexec.sim.app import SimConfig, start_simulator
from polyexec.sim.contracts import SimClock
from polyexec.sim.driver import MarketDriver
from polyexec.sim.exchange import Exchange
from polyexec.sim.schedule import DOWN, UP, market_slug, window_start_for
from tests.sim.fakes import FakeExchange, eventually, receive_json, serve

CLOCK_START = 1_790_000_017.0
MID_WINDOW = 1_800_000_300.0  # 300 s after a 900-second window start


async def test_start_lists_windows_and_seeds_coherent_books_on_the_real_exchange() -> None:
    clock = SimClock()
    exchange = Exchange(clock)
    driver = MarketDriver(exchange, clock, None, assets=("btc", "eth"), seed=9, window_seconds=30)
    await driver.start()
    try:
        current = window_start_for(clock.now(), 30)
        slugs = {m.slug for m in exchange.markets()}
        assert slugs >= {market_slug(a, s) for a in ("btc", "eth") for s in (current, current + 30)}
        for market in exchange.markets():
            up_bid, up_ask = exchange.best_bid_ask(market.up_token_id)
            down_bid, down_ask = exchange.best_bid_ask(market.down_token_id)
            assert up_bid is not None
            assert up_ask is not None
            assert up_bid < up_ask
            assert down_ask is not None
            assert down_bid is not None
            assert up_bid == 1 - down_ask  # Up bid ≈ 1 − Down ask: the makers keep them coherent
            assert up_ask == 1 - down_bid
    finally:
        await driver.stop()


async def test_the_book_moves_several_times_a_second_and_takers_trade() -> None:
    # Five minutes into a 15-minute window: near a window's end the fair value is pinned near
    # 0 or 1, ladders stop changing and makers rightly stop re-quoting.
    clock = SimClock(start=MID_WINDOW)
    exchange = Exchange(clock)
    driver = MarketDriver(
        exchange, clock, None, assets=("btc",), seed=9, window_seconds=900, taker_probability=0.3
    )
    async with serve(driver):
        start = driver.flow.stats.requotes
        await eventually(lambda: driver.flow.stats.requotes - start >= 5, within=2.0)
        market = next(m for m in exchange.markets() if m.window_start <= clock.now() < m.window_end)
        await eventually(
            lambda: (
                exchange.last_trade_price(market.up_token_id) is not None
                or (exchange.last_trade_price(market.down_token_id) is not None)
            ),
            within=5.0,
        )
    assert driver.loop_errors == 0


async def test_windows_roll_over_and_resolve_on_the_twap_with_a_fast_clock() -> None:
    clock = SimClock(speed=20.0)  # a 20-second window every real second
    exchange = Exchange(clock)
    driver = MarketDriver(exchange, clock, None, assets=("btc",), seed=3, window_seconds=20)
    async with serve(driver):
        first_start = window_start_for(clock.now(), 20)
        await eventually(lambda: sum(w.resolved for w in driver.schedule.windows()) >= 2, within=10.0)
    resolved = [w for w in driver.schedule.windows() if w.resolved]
    btc = driver.underlying("btc")
    for window in resolved:
        market = window.market
        strike, final = btc.twap_at(market.window_start), btc.twap_at(market.window_end)
        assert strike is not None
        assert final is not None
        assert window.final_price == final
        assert window.winner == (UP if final >= strike else DOWN)
        state = exchange.market_state(market.condition_id)
        assert state is not None
        assert state.resolved
        assert state.winner == window.winner
        assert exchange.book(market.up_token_id) is None  # the venue 404s a resolved book
    assert resolved[0].market.window_start == first_start
    assert any(
        w.market.window_start > resolved[-1].market.window_start and not w.resolved
        for w in driver.schedule.windows()
    )
    assert driver.loop_errors == 0


async def _first_trades(base: str, session: aiohttp.ClientSession, count: int) -> dict[int, Any]:
    ws = await session.ws_connect(base.replace("http://", "ws://") + "/binance/ws/btcusdt@trade")
    trades = {}
    for _ in range(count):
        trade = await receive_json(ws)
        trades[trade["t"]] = (trade["p"], trade["q"], trade["m"], trade["T"])
    await ws.close()
    return trades


def _driver(seed: int) -> MarketDriver:
    clock = SimClock(speed=5.0, start=CLOCK_START)
    return MarketDriver(FakeExchange(), clock, None, assets=("btc",), seed=seed, window_seconds=60)


async def test_the_same_seed_streams_the_same_prices_and_lists_the_same_ids() -> None:
    first, second, other = _driver(5), _driver(5), _driver(6)
    async with (
        serve(first) as base_a,
        serve(second) as base_b,
        serve(other) as base_c,
        aiohttp.ClientSession() as session,
    ):
        trades_a, trades_b, trades_c = await asyncio.gather(
            *(_first_trades(base, session, 10) for base in (base_a, base_b, base_c))
        )
        events_a = await (await session.get(f"{base_a}/gamma/events")).json()
        events_b = await (await session.get(f"{base_b}/gamma/events")).json()
    common = set(trades_a) & set(trades_b)
    assert len(common) >= 4
    assert all(trades_a[t] == trades_b[t] for t in common)
    prices_c = {v[0] for v in trades_c.values()}
    assert prices_c.isdisjoint({v[0] for v in trades_a.values()})
    ids_a = [(e["slug"], e["markets"][0]["conditionId"], e["markets"][0]["clobTokenIds"]) for e in events_a]
    ids_b = [(e["slug"], e["markets"][0]["conditionId"], e["markets"][0]["clobTokenIds"]) for e in events_b]
    assert ids_a == ids_b


async def test_stop_closes_feed_sockets_and_withdraws_background_quotes() -> None:
    clock = SimClock()
    exchange = Exchange(clock)
    driver = MarketDriver(exchange, clock, None, assets=("btc",), seed=1, window_seconds=60)
    async with serve(driver) as base, aiohttp.ClientSession() as session:
        ws_base = base.replace("http://", "ws://")
        binance = await session.ws_connect(f"{ws_base}/binance/stream?streams=btcusdt@bookTicker")
        rtds = await session.ws_connect(f"{ws_base}/rtds")
        await rtds.send_json(
            {"action": "subscribe", "subscriptions": [{"topic": "crypto_prices_chainlink", "type": "*"}]}
        )
        assert json.loads((await rtds.receive(timeout=5)).data)["type"] == "subscribe"
        await receive_json(binance)
        await driver.stop()
        for ws in (binance, rtds):
            while (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
                pass
            assert ws.close_code == 1001
        for market in exchange.markets():
            assert exchange.best_bid_ask(market.up_token_id) == (None, None)
        await driver.stop()  # idempotent
        assert not driver.running


def test_bad_arguments_are_refused_with_clear_messages() -> None:
    clock = SimClock()
    with pytest.raises(ValueError, match="unknown simulated asset 'abc'"):
        MarketDriver(FakeExchange(), clock, assets=("btc", "abc"))
    with pytest.raises(ValueError, match="at least one asset"):
        MarketDriver(FakeExchange(), clock, assets=())
    with pytest.raises(ValueError, match="window_seconds"):
        MarketDriver(FakeExchange(), clock, assets=("btc",), window_seconds=1)
    driver = MarketDriver(FakeExchange(), clock, assets=("BTC", "btc"), window_seconds=30)
    assert list(driver.underlyings) == ["btc"]
    with pytest.raises(KeyError, match="not simulated"):
        driver.underlying("eth")
    assert driver.binance_price("btc") == driver.underlying("btc").last_tick.price
    assert driver.chainlink_price("btc") == driver.underlying("btc").last_observation.chainlink


async def test_composed_in_the_full_simulator_a_client_finds_and_reads_a_live_market() -> None:
    running = await start_simulator(SimConfig(port=0, seed=3, assets=("btc",), window_seconds=60))
    try:
        async with aiohttp.ClientSession() as session:
            now = running.simulator.clock.now()
            slug = market_slug("btc", window_start_for(now, 60))
            async with session.get(f"{running.gamma_host}/events/slug/{slug}") as response:
                event = await response.json()
            up_token, down_token = json.loads(event["markets"][0]["clobTokenIds"])
            async with session.get(f"{running.clob_host}/book", params={"token_id": up_token}) as response:
                assert response.status == 200
                book = await response.json()
            assert book["bids"]
            assert book["asks"]
            assert book["market"] == event["markets"][0]["conditionId"]
            binance = await session.ws_connect(f"{running.binance_ws_url}/stream?streams=btcusdt@trade")
            assert (await receive_json(binance))["data"]["e"] == "trade"
            async with session.post(f"{running.admin_url}/binance/shutdown") as response:
                assert response.status == 200
            while (msg := await binance.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
                last = json.loads(msg.data)
            assert last["stream"] == "!serverShutdown"
            assert binance.close_code == 1001
            assert down_token != up_token
    finally:
        await running.stop()
