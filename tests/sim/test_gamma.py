"""Gamma lookups over a real loopback socket: documented fields and shapes, the closed=false
default of /markets, priceToBeat after the window opens, finalPrice once resolved."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp

from polyexec.sim.contracts import SimClock
from polyexec.sim.driver import MarketDriver
from polyexec.sim.gamma import iso_utc, window_title
from polyexec.sim.schedule import market_slug
from tests.sim.fakes import FakeExchange, serve

WINDOW = 60
T0 = 1_790_000_040  # a multiple of 60


@asynccontextmanager
async def gamma() -> AsyncIterator[tuple[MarketDriver, FakeExchange, aiohttp.ClientSession, str]]:
    exchange = FakeExchange()
    clock = SimClock(start=T0 + 10)  # ten seconds into a window
    driver = MarketDriver(exchange, clock, None, assets=("btc", "eth"), seed=4, window_seconds=WINDOW)
    async with serve(driver) as base, aiohttp.ClientSession() as session:
        yield driver, exchange, session, base + "/gamma"


async def _get(session: aiohttp.ClientSession, url: str, status: int = 200) -> Any:
    async with session.get(url) as response:
        assert response.status == status, await response.text()
        return await response.json()


def _jump_to(driver: MarketDriver, unix_seconds: float) -> None:
    driver.clock.advance(unix_seconds - driver.clock.now())
    driver.advance()


def test_titles_use_us_eastern_time_like_the_venue() -> None:
    # The example of protocol doc §6.1: btc-updown-15m-1778437800.
    assert window_title("Bitcoin", 1778437800, 1778438700) == "Bitcoin Up or Down - May 10, 2:30PM-2:45PM ET"
    assert iso_utc(1790616600) == "2026-09-28T17:30:00Z"


async def test_event_by_slug_has_the_fields_clients_read() -> None:
    async with gamma() as (_, exchange, session, url):
        slug = market_slug("btc", T0)
        event = await _get(session, f"{url}/events/slug/{slug}")
    assert event["slug"] == slug
    assert event["closed"] is False
    assert event["active"] is True
    [market] = event["markets"]
    added = {m.slug: m for m in exchange.markets()}[slug]
    assert market["conditionId"] == added.condition_id
    assert isinstance(market["clobTokenIds"], str)
    assert json.loads(market["clobTokenIds"]) == [added.up_token_id, added.down_token_id]
    assert market["outcomes"] == '["Up", "Down"]'
    assert market["eventStartTime"] == iso_utc(T0)
    assert market["endDate"] == iso_utc(T0 + WINDOW)
    assert market["active"] is True
    assert market["closed"] is False
    assert market["acceptingOrders"] is True
    assert market["negRisk"] is False
    assert market["orderPriceMinTickSize"] == 0.01
    assert market["orderMinSize"] == 5
    assert market["version"] == "v1"
    assert market["feeSchedule"] == {"exponent": 1, "rate": 0.07, "takerOnly": True, "rebateRate": 0.2}
    # Live prices from the book the background makers keep.
    up, down = (Decimal(p) for p in json.loads(market["outcomePrices"]))
    assert up + down == 1
    assert Decimal(str(market["bestBid"])) < Decimal(str(market["bestAsk"]))


async def test_markets_default_to_open_ones_and_closed_true_finds_resolved() -> None:
    async with gamma() as (driver, _, session, url):
        first = market_slug("btc", T0)
        _jump_to(driver, T0 + WINDOW + 1)  # the first window resolves
        assert await _get(session, f"{url}/markets?slug={first}") == []
        [resolved] = await _get(session, f"{url}/markets?slug={first}&closed=true")
        assert resolved["closed"] is True
        assert resolved["acceptingOrders"] is False
        assert resolved["umaResolutionStatus"] == "resolved"
        by_slug = await _get(session, f"{url}/markets/slug/{first}")
        assert by_slug["conditionId"] == resolved["conditionId"]
        current = market_slug("btc", T0 + WINDOW)
        [open_market] = await _get(session, f"{url}/markets?slug={current}")
        assert open_market["closed"] is False
        assert await _get(session, f"{url}/markets?slug={current}&closed=true") == []
        # /events does not filter by default, and takes several slugs.
        events = await _get(session, f"{url}/events?slug={first}&slug={current}")
        assert sorted(e["slug"] for e in events) == sorted([first, current])


async def test_current_and_next_windows_are_listed_ahead() -> None:
    async with gamma() as (_, _exchange, session, url):
        markets = await _get(session, f"{url}/markets")
        slugs = {m["slug"] for m in markets}
    assert slugs == {market_slug(a, s) for a in ("btc", "eth") for s in (T0, T0 + WINDOW)}


async def test_price_to_beat_appears_after_the_window_opens_then_final_price() -> None:
    async with gamma() as (driver, _, session, url):
        upcoming = market_slug("eth", T0 + WINDOW)
        event = await _get(session, f"{url}/events/slug/{upcoming}")
        assert "priceToBeat" not in event["eventMetadata"]
        _jump_to(driver, T0 + WINDOW + 1)  # opened, not yet published (delay 4 s)
        event = await _get(session, f"{url}/events/slug/{upcoming}")
        assert "priceToBeat" not in event["eventMetadata"]
        _jump_to(driver, T0 + WINDOW + 5)
        event = await _get(session, f"{url}/events/slug/{upcoming}")
        strike = driver.twap("eth", T0 + WINDOW)
        assert strike is not None
        assert event["eventMetadata"] == {"priceToBeat": float(strike)}
        _jump_to(driver, T0 + 2 * WINDOW + 1)
        event = await _get(session, f"{url}/events/slug/{upcoming}")
        final = driver.twap("eth", T0 + 2 * WINDOW)
        assert final is not None
        assert event["closed"] is True
        assert event["eventMetadata"] == {"priceToBeat": float(strike), "finalPrice": float(final)}
        winner_prices = ["1", "0"] if final >= strike else ["0", "1"]
        assert json.loads(event["markets"][0]["outcomePrices"]) == winner_prices
        # One TWAP closes a window and opens the next.
        following = await _get(session, f"{url}/events/slug/{market_slug('eth', T0 + 2 * WINDOW)}")
        _jump_to(driver, T0 + 2 * WINDOW + 5)
        following = await _get(session, f"{url}/events/slug/{market_slug('eth', T0 + 2 * WINDOW)}")
        assert following["eventMetadata"]["priceToBeat"] == float(final)


async def test_lookups_by_condition_and_token_ids() -> None:
    async with gamma() as (_, exchange, session, url):
        market = {m.slug: m for m in exchange.markets()}[market_slug("eth", T0)]
        by_condition = await _get(session, f"{url}/markets?condition_ids={market.condition_id}")
        by_token = await _get(session, f"{url}/markets?clob_token_ids={market.down_token_id}")
    assert [m["slug"] for m in by_condition] == [market.slug]
    assert [m["slug"] for m in by_token] == [market.slug]


async def test_unknown_slugs_and_bad_parameters_are_answered_clearly() -> None:
    async with gamma() as (_, _exchange, session, url):
        missing = await _get(session, f"{url}/events/slug/btc-updown-15m-1", status=404)
        assert "btc-updown-15m-1" in missing["error"]
        await _get(session, f"{url}/markets/slug/nope", status=404)
        assert await _get(session, f"{url}/events?slug=nope") == []
        bad = await _get(session, f"{url}/markets?closed=maybe", status=400)
        assert "closed" in bad["error"]
        await _get(session, f"{url}/markets?limit=x", status=400)
        assert len(await _get(session, f"{url}/markets?limit=1")) == 1
