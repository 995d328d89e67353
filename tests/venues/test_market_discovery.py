"""Tests for polyexec.venues.market_discovery: finding windows, refusing bad ones, purging,
reading resolutions back.

Two venues: a small scripted Gamma (:class:`FakeGamma`, an aiohttp app on 127.0.0.1 with a
hand-driven clock) for the cases the simulator cannot produce (version "v2", acceptingOrders
false, HTTP errors, hangs, hundreds of windows), and the real simulator for the end-to-end path
(Gamma + ``/clob-markets``, resolution after a window closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from polyexec.core.models import FeeSchedule, Market, Outcome
from polyexec.sim.app import RunningSimulator, SimConfig, start_simulator
from polyexec.venues.clob_client import ClobClient
from polyexec.venues.clob_responses import ClobMarketInfo
from polyexec.venues.gamma_messages import market_slug, parse_market_slug
from polyexec.venues.http_transport import ClobTransport
from polyexec.venues.market_discovery import (
    DiscoveryChange,
    GammaUnavailable,
    MarketDiscovery,
    Refusal,
    merge_clob_info,
    window_start_for,
)
from tests.venues.conftest import FAST_EXCHANGE, current_market, eventually, sim_admin
from tests.venues.test_gamma_messages import gamma_event_json, gamma_market_json

START = 1_790_616_600  # a window start (multiple of 900)
W = 900


# --- a scripted Gamma -----------------------------------------------------------------------------


@dataclass
class FakeClock:
    now: float

    def __call__(self) -> float:
        return self.now


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FakeGamma:
    """Lists every window of ``assets`` up to ``listed_ahead`` windows past the clock's, and
    resolves a window ``resolve_after_s`` after its end (``None``: never). Per-slug scripts:
    ``overrides`` (market fields), ``status_for`` (HTTP status), ``raw_body``, ``hang``,
    ``hide_events`` (the events route 404s: only ``/markets?closed=true`` knows it)."""

    clock: FakeClock
    assets: tuple[str, ...] = ("btc", "eth")
    window_seconds: int = W
    listed_ahead: int = 1
    resolve_after_s: float | None = 0.0
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    status_for: dict[str, int] = field(default_factory=dict)
    raw_body: dict[str, bytes] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    hide_events: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    host: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def tokens(self, slug: str) -> tuple[str, str]:
        return str(int(_digest(f"{slug}:up"), 16)), str(int(_digest(f"{slug}:down"), 16))

    def condition_id(self, slug: str) -> str:
        return "0x" + _digest(f"{slug}:condition")

    def winner(self, slug: str) -> Outcome:
        return Outcome.UP if int(_digest(slug), 16) % 2 == 0 else Outcome.DOWN

    def resolved(self, slug: str) -> bool:
        end = parse_market_slug(slug)[1] + self.window_seconds
        return self.resolve_after_s is not None and self.clock.now >= end + self.resolve_after_s

    def listed(self, slug: str) -> bool:
        try:
            asset, start = parse_market_slug(slug)
        except ValueError:
            return False
        current = window_start_for(self.clock.now, self.window_seconds)
        return (
            asset in self.assets
            and start % self.window_seconds == 0
            and start <= current + self.listed_ahead * self.window_seconds
        )

    def market_json(self, slug: str) -> dict[str, Any]:
        up, down = self.tokens(slug)
        body = gamma_market_json(
            slug, condition_id=self.condition_id(slug), window_seconds=self.window_seconds, tokens=(up, down)
        )
        if self.resolved(slug):
            prices = ["1", "0"] if self.winner(slug) is Outcome.UP else ["0", "1"]
            body.update(closed=True, acceptingOrders=False, outcomePrices=json.dumps(prices))
        body.update(self.overrides.get(slug, {}))
        return body

    def event_json(self, slug: str) -> dict[str, Any]:
        resolved = self.resolved(slug)
        return gamma_event_json(
            self.market_json(slug), price_to_beat=100.25, final_price=101.5 if resolved else None
        )

    async def _scripted(self, slug: str) -> web.Response | None:
        if slug in self.hang:
            await self.release.wait()
        if slug in self.status_for:
            return web.json_response({"error": "scripted"}, status=self.status_for[slug])
        if slug in self.raw_body:
            return web.Response(body=self.raw_body[slug], content_type="application/json")
        return None

    async def _event_by_slug(self, request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        self.requests.append(f"event:{slug}")
        scripted = await self._scripted(slug)
        if scripted is not None:
            return scripted
        if not self.listed(slug) or slug in self.hide_events:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(self.event_json(slug))

    async def _markets(self, request: web.Request) -> web.Response:
        slug = request.query.get("slug", "")
        closed = request.query.get("closed", "false") == "true"
        self.requests.append(f"markets:{slug}:{closed}")
        if not self.listed(slug):
            return web.json_response([])
        market = self.market_json(slug)
        return web.json_response([market] if market["closed"] == closed else [])

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/gamma/events/slug/{slug}", self._event_by_slug)
        app.router.add_get("/gamma/markets", self._markets)
        return app


@dataclass
class FakeClob:
    """``fetch_clob_info`` answering from the fake Gamma's markets with scripted parameters."""

    gamma: FakeGamma
    tick_size: Decimal = Decimal("0.01")
    min_size: Decimal = Decimal(5)
    fee: FeeSchedule = field(default_factory=FeeSchedule)
    taker_delay: bool = True
    swap_tokens: bool = False
    failures: int = 0
    calls: list[str] = field(default_factory=list)

    async def __call__(self, condition_id: str) -> ClobMarketInfo:
        self.calls.append(condition_id)
        if self.failures:
            self.failures -= 1
            raise ConnectionResetError("scripted CLOB failure")
        now = window_start_for(self.gamma.clock.now, self.gamma.window_seconds)
        for k in range(-2, self.gamma.listed_ahead + 1):
            for asset in self.gamma.assets:
                slug = market_slug(asset, now + k * self.gamma.window_seconds)
                if self.gamma.condition_id(slug) == condition_id:
                    up, down = self.gamma.tokens(slug)
                    if self.swap_tokens:
                        up, down = down, up
                    return ClobMarketInfo(
                        condition_id,
                        ((up, "Up"), (down, "Down")),
                        self.tick_size,
                        self.min_size,
                        False,
                        self.fee,
                        self.taker_delay,
                    )
        raise KeyError(condition_id)


@pytest.fixture
async def gamma() -> AsyncIterator[FakeGamma]:
    fake = FakeGamma(FakeClock(START + 100.0))
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.host = f"http://127.0.0.1:{runner.addresses[0][1]}/gamma"
    try:
        yield fake
    finally:
        fake.release.set()
        await runner.cleanup()


def discovery_for(
    gamma: FakeGamma, http: aiohttp.ClientSession, **options: Any
) -> tuple[MarketDiscovery, FakeClob, list[DiscoveryChange]]:
    clob = FakeClob(gamma)
    changes: list[DiscoveryChange] = []
    options.setdefault("fetch_clob_info", clob)
    options.setdefault("on_change", changes.append)
    discovery = MarketDiscovery(
        gamma.host,
        gamma.assets,
        session=http,
        clock=gamma.clock,
        window_seconds=gamma.window_seconds,
        **options,
    )
    return discovery, clob, changes


def slugs(markets: tuple[Market, ...] | list[Market]) -> list[str]:
    return [m.slug for m in markets]


# --- discovery ------------------------------------------------------------------------------------


async def test_finds_current_and_next_windows_for_every_asset(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    discovery, _, changes = discovery_for(gamma, http)
    change = await discovery.refresh()
    expected = [market_slug(a, s) for s in (START, START + W) for a in ("btc", "eth")]
    assert slugs(change.added) == expected
    assert changes == [change]
    assert slugs(discovery.markets()) == expected
    for asset in ("btc", "eth"):
        current, upcoming = discovery.current(asset), discovery.next(asset)
        assert current is not None
        assert upcoming is not None
        assert (current.window_start, current.window_end) == (START, START + W)
        assert upcoming.window_start == START + W
        assert (current.up_token_id, current.down_token_id) == gamma.tokens(current.slug)
        assert current.condition_id == gamma.condition_id(current.slug)
        assert discovery.market(current.condition_id.upper().replace("0X", "0x")) == current
    again = await discovery.refresh()
    assert not again
    assert again.added == ()
    assert len(changes) == 1  # on_change hears only passes that changed something


async def test_exactly_on_a_boundary_the_new_window_is_current_and_the_old_one_finished(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    discovery, _, _ = discovery_for(gamma, http)
    await discovery.refresh()
    gamma.clock.now = float(START + W)  # now is a multiple of the window length
    change = await discovery.refresh()
    assert slugs(change.finished) == [market_slug("btc", START), market_slug("eth", START)]
    assert slugs(change.added) == [market_slug("btc", START + 2 * W), market_slug("eth", START + 2 * W)]
    current, upcoming = discovery.current("btc"), discovery.next("btc")
    assert current is not None
    assert upcoming is not None
    assert (current.window_start, upcoming.window_start) == (START + W, START + 2 * W)
    assert [m.window_start for m in discovery.markets()] == [START + W] * 2 + [START + 2 * W] * 2


async def test_clob_parameters_win_over_gammas(gamma: FakeGamma, http: aiohttp.ClientSession) -> None:
    discovery, clob, _ = discovery_for(gamma, http)
    clob.tick_size, clob.min_size = Decimal("0.001"), Decimal(10)
    clob.fee = FeeSchedule(Decimal("0.05"), 2, True, Decimal("0.25"))
    await discovery.refresh()
    market = discovery.current("btc")
    assert market is not None
    assert (market.tick_size, market.min_size, market.fee) == (Decimal("0.001"), Decimal(10), clob.fee)
    listing = discovery.listing(market.condition_id)
    assert listing is not None
    assert listing.taker_delay is True
    assert listing.status.tradable


async def test_without_clob_lookup_gamma_parameters_are_used(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    gamma.overrides[market_slug("btc", START)] = {"orderPriceMinTickSize": 0.001, "orderMinSize": 15}
    discovery, _, _ = discovery_for(gamma, http, fetch_clob_info=None)
    await discovery.refresh()
    market = discovery.current("btc")
    assert market is not None
    assert (market.tick_size, market.min_size) == (Decimal("0.001"), Decimal(15))
    listing = discovery.listing(market.condition_id)
    assert listing is not None
    assert listing.taker_delay is None


async def test_reversed_outcomes_map_tokens_by_index(gamma: FakeGamma, http: aiohttp.ClientSession) -> None:
    slug = market_slug("eth", START)
    up, down = gamma.tokens(slug)
    gamma.overrides[slug] = {"outcomes": '["Down", "Up"]', "clobTokenIds": json.dumps([down, up])}
    discovery, _, _ = discovery_for(gamma, http)
    await discovery.refresh()
    market = discovery.current("eth")
    assert market is not None
    assert (market.up_token_id, market.down_token_id) == (up, down)


async def test_window_not_listed_yet_is_found_on_a_later_pass(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    gamma.listed_ahead = 0
    discovery, _, _ = discovery_for(gamma, http)
    first = await discovery.refresh()
    assert slugs(first.added) == [market_slug("btc", START), market_slug("eth", START)]
    assert first.errors == 0
    assert discovery.next("btc") is None
    assert discovery.status()["not_found"] == 2
    gamma.listed_ahead = 1
    second = await discovery.refresh()
    assert slugs(second.added) == [market_slug("btc", START + W), market_slug("eth", START + W)]


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"version": "v2"}, "version 'v2'"),
        ({"acceptingOrders": False}, "not accepting orders"),
        ({"active": False}, "not active"),
        ({"closed": True}, "closed"),
        ({"endDate": "2026-09-28T17:35:00Z"}, "window is 300 s"),
        ({"clobTokenIds": "not a list"}, "clobTokenIds"),
    ],
)
async def test_unsound_window_is_refused_once_and_retried(
    gamma: FakeGamma, http: aiohttp.ClientSession, fields: dict[str, Any], reason: str
) -> None:
    slug = market_slug("btc", START)
    gamma.overrides[slug] = fields
    discovery, _, _ = discovery_for(gamma, http)
    first = await discovery.refresh()
    assert slug not in slugs(first.added)
    assert len(first.added) == 3
    assert [r.slug for r in first.refused] == [slug]
    assert reason in first.refused[0].reason
    assert discovery.current("btc") is None
    second = await discovery.refresh()
    assert second.refused == ()  # said once, not every pass
    assert slug in discovery.status()["refused"]  # type: ignore[operator]
    del gamma.overrides[slug]
    third = await discovery.refresh()
    assert slugs(third.added) == [slug]
    assert discovery.status()["refused"] == {}


async def test_neg_risk_market_is_carried_not_refused(gamma: FakeGamma, http: aiohttp.ClientSession) -> None:
    gamma.overrides[market_slug("btc", START)] = {"negRisk": True}
    discovery, _, _ = discovery_for(gamma, http, fetch_clob_info=None)
    await discovery.refresh()
    market = discovery.current("btc")
    assert market is not None
    assert market.neg_risk is True


async def test_clob_token_map_contradicting_gamma_refuses_the_window(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    discovery, clob, _ = discovery_for(gamma, http)
    clob.swap_tokens = True
    change = await discovery.refresh()
    assert change.added == ()
    assert len(change.refused) == 4
    assert all("CLOB maps token" in r.reason for r in change.refused)


def test_merge_refuses_info_of_another_market_or_impossible_values() -> None:
    market = Market("btc", market_slug("btc", START), "0x" + "11" * 32, "1", "2", START, START + W)
    info = ClobMarketInfo(
        market.condition_id,
        (("1", "Up"), ("2", "Down")),
        Decimal("0.01"),
        Decimal(5),
        False,
        FeeSchedule(),
        False,
    )
    assert merge_clob_info(market, info) == market
    with pytest.raises(ValueError, match="not 0x1111"):
        merge_clob_info(market, replace(info, condition_id="0x" + "22" * 32))
    with pytest.raises(ValueError, match="outcome 'Yes'"):
        merge_clob_info(market, replace(info, tokens=(("1", "Yes"),)))
    with pytest.raises(ValueError, match="tick size"):
        merge_clob_info(market, replace(info, tick_size=Decimal("NaN")))
    with pytest.raises(ValueError, match="minimum size"):
        merge_clob_info(market, replace(info, min_size=Decimal(-1)))


# --- failures are counted, never fatal ------------------------------------------------------------


async def test_gamma_errors_and_timeouts_are_counted_and_retried(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    btc, eth = market_slug("btc", START), market_slug("eth", START)
    gamma.status_for[btc] = 500
    gamma.hang.add(eth)
    discovery, _, _ = discovery_for(gamma, http, timeout_s=0.2)
    change = await discovery.refresh()
    assert slugs(change.added) == [market_slug("btc", START + W), market_slug("eth", START + W)]
    assert change.errors == 2
    assert change.refused == ()
    status = discovery.status()
    assert (status["gamma_errors"], status["gamma_timeouts"]) == (1, 1)
    del gamma.status_for[btc]
    gamma.hang.clear()
    recovered = await discovery.refresh()
    assert slugs(recovered.added) == [btc, eth]
    assert recovered.errors == 0


async def test_malformed_gamma_answer_is_counted_and_reported(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    slug = market_slug("btc", START)
    gamma.raw_body[slug] = b'{"slug": "x", "markets": [{"priceToBeat": NaN}]}'
    discovery, _, _ = discovery_for(gamma, http)
    change = await discovery.refresh()
    assert change.errors == 1
    assert [r.slug for r in change.refused] == [slug]
    assert "malformed" in change.refused[0].reason
    assert discovery.status()["malformed"] == 1
    del gamma.raw_body[slug]
    assert slugs((await discovery.refresh()).added) == [slug]


async def test_clob_failure_delays_admission_to_the_next_pass(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    discovery, clob, _ = discovery_for(gamma, http)
    clob.failures = 4
    change = await discovery.refresh()
    assert change.added == ()
    assert change.errors == 4
    assert discovery.status()["clob_errors"] == 4
    assert len((await discovery.refresh()).added) == 4


async def test_unreachable_gamma_is_not_fatal(http: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        discovery = MarketDiscovery(
            f"http://127.0.0.1:{port}/gamma", ["btc"], session=http, clock=lambda: START + 1.0
        )
        change = await discovery.refresh()
    assert change.errors == 2
    assert discovery.markets() == []
    assert discovery.status()["gamma_errors"] == 2


# --- finishing, resolution, purge -----------------------------------------------------------------


async def test_finished_window_is_purged_then_its_resolution_reported_once(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    gamma.resolve_after_s = 30
    discovery, _, _ = discovery_for(gamma, http)
    await discovery.refresh()
    old = discovery.current("btc")
    assert old is not None
    gamma.clock.now = START + W + 5  # the window ended; Gamma has not resolved it yet
    change = await discovery.refresh()
    assert slugs(change.finished) == [market_slug("btc", START), market_slug("eth", START)]
    assert slugs(change.added) == [market_slug("btc", START + 2 * W), market_slug("eth", START + 2 * W)]
    assert change.resolutions == ()
    assert old not in discovery.markets()
    assert discovery.market(old.condition_id) == old  # still known while awaiting resolution
    assert discovery.pending_resolution() == [
        old,
        discovery.market(gamma.condition_id(market_slug("eth", START))),
    ]
    current = discovery.current("btc")
    assert current is not None
    assert current.window_start == START + W
    gamma.clock.now = START + W + 40
    resolved = await discovery.refresh()
    by_slug = {r.slug: r for r in resolved.resolutions}
    assert set(by_slug) == {market_slug("btc", START), market_slug("eth", START)}
    btc = by_slug[old.slug]
    assert btc.winner is gamma.winner(old.slug)
    assert btc.winning_token_id == old.token_for(btc.winner)
    assert (btc.final_price, btc.price_to_beat) == (Decimal("101.5"), Decimal("100.25"))
    assert discovery.market(old.condition_id) is None
    assert discovery.pending_resolution() == []
    assert (await discovery.refresh()).resolutions == ()


async def test_resolution_falls_back_to_closed_markets_listing(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    discovery, _, _ = discovery_for(gamma, http)
    await discovery.refresh()
    market = discovery.current("eth")
    assert market is not None
    assert await discovery.resolution(market) is None  # still trading
    gamma.hide_events.add(market.slug)
    gamma.clock.now = START + W + 1
    resolution = await discovery.resolution(market)
    assert resolution is not None
    assert resolution.winner is gamma.winner(market.slug)
    assert resolution.final_price is None  # no event data on the /markets route
    assert f"markets:{market.slug}:True" in gamma.requests
    gamma.status_for[market.slug] = 503
    with pytest.raises(GammaUnavailable, match="HTTP 503"):
        await discovery.resolution(market)


async def test_window_closed_early_finishes_at_once(gamma: FakeGamma, http: aiohttp.ClientSession) -> None:
    discovery, _, _ = discovery_for(gamma, http)
    await discovery.refresh()
    slug = market_slug("btc", START)
    gamma.overrides[slug] = {"closed": True, "acceptingOrders": False, "outcomePrices": '["0", "1"]'}
    change = await discovery.refresh()
    assert slugs(change.finished) == [slug]
    assert [u.slug for u in change.updated] == [slug]
    assert [(r.slug, r.winner) for r in change.resolutions] == []
    resolved = await discovery.refresh()
    assert [(r.slug, r.winner) for r in resolved.resolutions] == [(slug, Outcome.DOWN)]
    assert resolved.refused == ()  # a finished market is not "refused" while its window runs on
    assert discovery.current("btc") is None


async def test_market_never_resolved_is_given_up_after_the_timeout(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    gamma.resolve_after_s = None
    discovery, _, _ = discovery_for(gamma, http, resolution_timeout_s=600)
    await discovery.refresh()
    gamma.clock.now = START + W + 1
    await discovery.refresh()
    assert len(discovery.pending_resolution()) == 2
    gamma.clock.now = START + W + 600
    change = await discovery.refresh()
    assert slugs(change.unresolved) == [market_slug("btc", START), market_slug("eth", START)]
    assert discovery.pending_resolution() == []
    assert discovery.status()["unresolved"] == 2


async def test_memory_stays_bounded_over_days_of_windows(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    gamma.resolve_after_s = 60
    discovery, _, changes = discovery_for(gamma, http, fetch_clob_info=None)
    windows = 96  # a day
    for step in range(windows * 2):  # two passes per window
        gamma.clock.now = START + 100 + step * 450
        await discovery.refresh()
        assert len(discovery.markets()) <= 4
        assert len(discovery.pending_resolution()) <= 2
        assert len(discovery._listings) <= 4  # the registry itself must stay small
    finished = [m.slug for c in changes for m in c.finished]
    resolved = [r.slug for c in changes for r in c.resolutions]
    assert len(finished) == len(set(finished)) == 2 * (windows - 1)
    assert sorted(resolved) == sorted(finished)
    assert discovery.status()["refused"] == {}


async def test_run_loops_until_cancelled_and_reports_changes(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    discovery, _, changes = discovery_for(gamma, http)
    task = asyncio.create_task(discovery.run(interval_s=0.01))
    try:
        await eventually(lambda: changes)
        gamma.clock.now = START + W + 1
        await eventually(lambda: any(c.resolutions for c in changes))
        assert discovery.status()["passes"] >= 2  # type: ignore[operator]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.cancelled()


async def test_subscriber_failure_does_not_stop_discovery(
    gamma: FakeGamma, http: aiohttp.ClientSession
) -> None:
    def broken(_change: DiscoveryChange) -> None:
        raise RuntimeError("subscriber bug")

    discovery, _, _ = discovery_for(gamma, http, on_change=broken)
    change = await discovery.refresh()
    assert len(change.added) == 4
    assert len(discovery.markets()) == 4


async def test_run_survives_a_failing_pass_and_wakes_at_the_window_boundary(
    gamma: FakeGamma, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    discovery, _, _ = discovery_for(gamma, http)
    real_pass = discovery._pass
    calls = 0

    async def failing_once() -> DiscoveryChange:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in one pass")
        return await real_pass()

    monkeypatch.setattr(discovery, "_pass", failing_once)
    gamma.clock.now = START + W - 0.02  # just before a boundary: the next pass must not wait 60 s
    task = asyncio.create_task(discovery.run(interval_s=60.0))
    try:
        await eventually(lambda: discovery.markets(), within=2.0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert discovery.status()["pass_failures"] == 1


@pytest.mark.parametrize(
    ("assets", "options"),
    [([], {}), (["BTC-USD"], {}), (["btc"], {"window_seconds": 0}), (["btc"], {"timeout_s": 0})],
)
async def test_bad_configuration_is_refused(
    http: aiohttp.ClientSession, assets: list[str], options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"asset|window_seconds|timeout"):
        MarketDiscovery("http://127.0.0.1:1/gamma", assets, session=http, **options)


def test_change_truthiness_ignores_errors() -> None:
    assert not DiscoveryChange(errors=3)
    assert DiscoveryChange(refused=(Refusal("s", "r"),))


# --- against the simulator ------------------------------------------------------------------------


def clob_info_fetcher(
    http: aiohttp.ClientSession, clob_host: str
) -> Callable[[str], Awaitable[ClobMarketInfo]]:
    """The real ``ClobClient.get_clob_market_info`` (``GET /clob-markets/{id}``) on ``http``."""
    return ClobClient(ClobTransport(clob_host, session=http)).get_clob_market_info


async def test_discovers_the_simulators_windows_with_clob_parameters(
    sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    discovery = MarketDiscovery(
        sim.gamma_host,
        ["btc", "eth"],
        session=http,
        fetch_clob_info=clob_info_fetcher(http, sim.clob_host),
        clock=sim.simulator.clock.now,
    )
    change = await discovery.refresh()
    assert change.errors == 0
    assert len(change.added) == 4
    for asset in ("btc", "eth"):
        expected = current_market(sim, asset)
        found = discovery.current(asset)
        assert found is not None
        assert (found.slug, found.condition_id) == (expected.slug, expected.condition_id)
        assert (found.up_token_id, found.down_token_id) == (expected.up_token_id, expected.down_token_id)
        assert (found.window_start, found.window_end) == (expected.window_start, expected.window_end)
        upcoming = discovery.next(asset)
        assert upcoming is not None
        assert upcoming.window_start == expected.window_end
        sim_next = sim.simulator.exchange.market(upcoming.condition_id)
        assert sim_next is not None
        assert (upcoming.up_token_id, upcoming.down_token_id) == (
            sim_next.up_token_id,
            sim_next.down_token_id,
        )
        async with http.get(f"{sim.clob_host}/clob-markets/{found.condition_id}") as response:
            clob = await response.json()
        assert found.tick_size == Decimal(str(clob["mts"]))
        assert found.min_size == Decimal(str(clob["mos"]))
        assert found.fee.rate == Decimal(str(clob["fd"]["r"]))
        assert found.neg_risk is clob["nr"]
        listing = discovery.listing(found.condition_id)
        assert listing is not None
        assert listing.taker_delay is True
        assert listing.status.tradable


@pytest.fixture
async def short_sim() -> AsyncIterator[RunningSimulator]:
    """A simulator with 10-second windows, its clock one second into a window."""
    window = 10
    boundary = int(time.time()) - int(time.time()) % window
    config = SimConfig(
        port=0,
        window_seconds=window,
        clock_start=float(boundary + 1),
        exchange=FAST_EXCHANGE,
        process_interval_s=0.01,
        driver_options={"flow_enabled": False},
    )
    running = await start_simulator(config)
    try:
        yield running
    finally:
        await running.stop()


async def test_reads_back_the_simulators_resolution_after_the_window_closes(
    short_sim: RunningSimulator, http: aiohttp.ClientSession
) -> None:
    window = short_sim.simulator.config.window_seconds
    discovery = MarketDiscovery(
        short_sim.gamma_host,
        ["btc", "eth"],
        session=http,
        fetch_clob_info=clob_info_fetcher(http, short_sim.clob_host),
        clock=short_sim.simulator.clock.now,
        window_seconds=window,
    )
    first = await discovery.refresh()
    assert len(first.added) == 4
    closing = {asset: discovery.current(asset) for asset in ("btc", "eth")}
    await sim_admin(short_sim, "POST", "/clock/advance", {"seconds": window})
    changes: list[DiscoveryChange] = []

    async def both_resolved() -> bool:
        changes.append(await discovery.refresh())
        return len([r for c in changes for r in c.resolutions]) == 2

    await eventually(both_resolved, within=10.0)
    finished = [m for c in changes for m in c.finished]
    assert sorted(finished, key=lambda m: m.asset) == [closing["btc"], closing["eth"]]
    schedule = short_sim.simulator.driver.schedule
    for resolution in (r for c in changes for r in c.resolutions):
        sim_window = schedule.get(resolution.slug)
        assert resolution.winner == Outcome(sim_window.winner)
        # Gamma publishes the final TWAP as a JSON number: compare through the same float.
        assert resolution.final_price == Decimal(str(float(sim_window.final_price)))
        assert resolution.winning_token_id == closing[resolution.asset].token_for(resolution.winner)  # type: ignore[union-attr]
    assert discovery.pending_resolution() == []
    for asset in ("btc", "eth"):
        current = discovery.current(asset)
        assert current is not None
        assert current == discovery.market(current_market(short_sim, asset).condition_id)
    assert all(m.window_end > short_sim.simulator.clock.now() for m in discovery.markets())
    assert len(discovery.markets()) == 4
