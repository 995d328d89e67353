"""``polyexec test limit`` and ``test market`` against the simulator: the round trips pass,
and every failure is a FAIL line with the venue's reason and no order left behind."""

from __future__ import annotations

from decimal import Decimal

from pydantic import SecretStr

from polyexec.config import Settings
from polyexec.core.models import Outcome
from polyexec.sim.app import RunningSimulator
from polyexec.smoke.checklist import Outcome as Verdict
from polyexec.smoke.orders import OrderTarget, check_limit, check_market
from polyexec.venues.order_signer import OrderSigner
from tests.venues.conftest import sim_admin

UP = OrderTarget("btc", Outcome.UP)


def _settings(running: RunningSimulator, key: str) -> Settings:
    return Settings(polymarket_private_key=SecretStr(key)).with_simulator_urls(running.base_url)


async def _open_orders(running: RunningSimulator, key: str) -> list[object]:
    account = await sim_admin(running, "GET", f"/accounts/{OrderSigner(key).address}")
    return list(account["open_orders"])


async def test_limit_round_trip_passes(sim: RunningSimulator, trader_key: str) -> None:
    checklist = await check_limit(_settings(sim, trader_key), UP, price=Decimal("0.01"), size=Decimal(5))
    assert checklist.passed, checklist.render()
    assert [r.name for r in checklist.results][2:] == [
        "place post-only order",
        "open over REST",
        "open on the user channel",
        "cancel",
        "gone over REST",
        "gone on the user channel",
    ]
    assert await _open_orders(sim, trader_key) == []


async def test_a_crossing_limit_price_is_refused_by_the_venue(sim: RunningSimulator, trader_key: str) -> None:
    checklist = await check_limit(_settings(sim, trader_key), UP, price=Decimal("0.99"), size=Decimal(5))
    placed = checklist.results[2]
    assert placed.outcome is Verdict.FAIL
    assert "crosses book" in placed.detail
    assert all(r.outcome is Verdict.SKIP for r in checklist.results[3:])
    assert await _open_orders(sim, trader_key) == []


async def test_an_off_tick_price_is_named(sim: RunningSimulator, trader_key: str) -> None:
    checklist = await check_limit(_settings(sim, trader_key), UP, price=Decimal("0.015"), size=Decimal(5))
    assert checklist.results[2].outcome is Verdict.FAIL
    assert "tick" in checklist.results[2].detail


async def test_a_failed_cancel_is_cleaned_up_or_reported(sim: RunningSimulator, trader_key: str) -> None:
    await sim_admin(sim, "POST", "/faults/http_425", {"paths": ["/order"], "methods": ["DELETE"]})
    checklist = await check_limit(
        _settings(sim, trader_key), UP, price=Decimal("0.01"), size=Decimal(5), timeout_s=5
    )
    assert not checklist.passed
    by_name = {r.name: r for r in checklist.results}
    assert by_name["cancel"].outcome is Verdict.FAIL
    assert by_name["clean-up cancel"].outcome is Verdict.FAIL
    assert "cancel it by hand" in by_name["clean-up cancel"].detail
    assert len(await _open_orders(sim, trader_key)) == 1  # the report was right: it is still there


async def test_market_round_trip_buys_and_sells_back(sim: RunningSimulator, trader_key: str) -> None:
    checklist = await check_market(
        _settings(sim, trader_key), UP, amount=Decimal(1), max_price=None, slippage=Decimal("0.05")
    )
    assert checklist.passed, checklist.render()
    buy, sell, summary = checklist.results[2:]
    assert "CONFIRMED" in buy.detail
    assert "CONFIRMED" in sell.detail
    assert "round trip cost $" in summary.detail
    account = await sim_admin(sim, "GET", f"/accounts/{OrderSigner(trader_key).address}")
    leftover = sum((Decimal(v) for v in account["positions"].values()), Decimal(0))
    assert leftover < Decimal("0.01")  # only the sub-cent remainder the venue cannot sell


async def test_a_ghost_fill_fails_the_market_check(sim: RunningSimulator, trader_key: str) -> None:
    await sim_admin(sim, "POST", "/faults/ghost_fills", {"rate": 1.0})
    checklist = await check_market(
        _settings(sim, trader_key), UP, amount=Decimal(1), max_price=None, slippage=Decimal("0.05")
    )
    buy = checklist.results[2]
    assert buy.outcome is Verdict.FAIL
    assert "ended FAILED" in buy.detail


async def test_a_buy_under_the_venue_minimum_is_refused(sim: RunningSimulator, trader_key: str) -> None:
    checklist = await check_market(
        _settings(sim, trader_key), UP, amount=Decimal("0.5"), max_price=None, slippage=Decimal("0.05")
    )
    buy = checklist.results[2]
    assert buy.outcome is Verdict.FAIL
    assert "lower than the minimum" in buy.detail
