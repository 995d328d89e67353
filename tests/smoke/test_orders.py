"""``polyexec test limit`` and ``test market`` against the simulator: the round trips pass,
and every failure is a FAIL line with the venue's reason and no order left behind."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from polyexec.config import Settings
from polyexec.core.models import OrderType, Outcome, Side
from polyexec.sim.app import RunningSimulator
from polyexec.smoke.checklist import Outcome as Verdict
from polyexec.smoke.orders import OrderTarget, check_limit, check_market
from polyexec.venues.clob_client import ClobClient
from polyexec.venues.clob_responses import PostOrderResult
from polyexec.venues.errors import DefinitiveReject
from polyexec.venues.order_signer import OrderSigner, SignedOrder
from tests.venues.conftest import current_market, eventually, sim_admin

UP = OrderTarget("btc", Outcome.UP)


def _settings(running: RunningSimulator, key: str) -> Settings:
    return Settings(polymarket_private_key=SecretStr(key)).with_simulator_urls(running.base_url)


async def _account(running: RunningSimulator, key: str) -> dict[str, Any]:
    account: dict[str, Any] = await sim_admin(running, "GET", f"/accounts/{OrderSigner(key).address}")
    return account


async def _open_orders(running: RunningSimulator, key: str) -> list[object]:
    return list((await _account(running, key))["open_orders"])


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


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
    # The simulated market wanders (its tick too): cross at whatever its best ask is now.
    book = sim.simulator.exchange.book(current_market(sim, "btc").up_token_id)
    assert book is not None
    best_ask = book.best_ask()
    assert best_ask is not None, "the simulated book has no asks"
    checklist = await check_limit(_settings(sim, trader_key), UP, price=best_ask, size=Decimal(5))
    placed = checklist.results[2]
    assert placed.outcome is Verdict.FAIL
    assert "crosses book" in placed.detail
    assert all(r.outcome is Verdict.SKIP for r in checklist.results[3:])
    assert await _open_orders(sim, trader_key) == []


async def test_an_off_tick_price_is_named(  # 0.0155 is off both the 0.01 and the 0.001 tick
    sim: RunningSimulator, trader_key: str
) -> None:
    checklist = await check_limit(_settings(sim, trader_key), UP, price=Decimal("0.0155"), size=Decimal(5))
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


async def test_an_ambiguous_post_is_cancelled_anyway(sim: RunningSimulator, trader_key: str) -> None:
    # The venue places the order, then answers 500 to every send: the post ends ambiguous.
    await sim_admin(
        sim, "POST", "/faults/http_500", {"paths": ["/order"], "methods": ["POST"], "after": True}
    )
    checklist = await check_limit(
        _settings(sim, trader_key), UP, price=Decimal("0.01"), size=Decimal(5), timeout_s=5
    )
    by_name = {r.name: r for r in checklist.results}
    assert by_name["place post-only order"].outcome is Verdict.FAIL
    assert "cancelled after the failure" in by_name["clean-up cancel"].detail
    assert not checklist.passed
    assert await _open_orders(sim, trader_key) == []


async def test_an_interrupted_limit_check_still_cancels_its_order(
    sim: RunningSimulator, trader_key: str
) -> None:
    # The order is placed at once but its answer is held: interrupt the check mid-post (Ctrl-C).
    await sim_admin(
        sim, "POST", "/faults/http_timeout", {"paths": ["/order"], "methods": ["POST"], "delay": 3}
    )
    check = asyncio.create_task(
        check_limit(_settings(sim, trader_key), UP, price=Decimal("0.01"), size=Decimal(5), timeout_s=10)
    )

    async def resting() -> bool:
        try:
            return len(await _open_orders(sim, trader_key)) == 1
        except AssertionError:  # the account does not exist before its first request
            return False

    await eventually(resting)  # type: ignore[arg-type]
    check.cancel()
    with pytest.raises(asyncio.CancelledError):
        await check
    assert await _open_orders(sim, trader_key) == []


async def test_an_unreachable_user_channel_fails_the_market_check_before_buying(
    sim: RunningSimulator, trader_key: str
) -> None:
    settings = _settings(sim, trader_key)
    settings = settings.model_copy(update={"clob_ws_url": f"ws://127.0.0.1:{_dead_port()}/ws"})
    checklist = await check_market(
        settings, UP, amount=Decimal(1), max_price=None, slippage=Decimal("0.05"), timeout_s=1
    )
    buy = checklist.results[2]
    assert buy.name == "buy (FOK) until CONFIRMED"
    assert buy.outcome is Verdict.FAIL
    assert (await _account(sim, trader_key))["trades"] == []
    assert "left in the account" not in [r.name for r in checklist.results]


async def test_a_failed_sell_says_what_is_left_in_the_account(
    sim: RunningSimulator, trader_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    post_order = ClobClient.post_order

    async def refuse_sells(
        self: ClobClient, order: SignedOrder, order_type: OrderType, *, post_only: bool = False
    ) -> PostOrderResult:
        if order.side is Side.SELL:
            raise DefinitiveReject("not enough balance / allowance", operation="post_order", status=400)
        return await post_order(self, order, order_type, post_only=post_only)

    monkeypatch.setattr(ClobClient, "post_order", refuse_sells)
    checklist = await check_market(
        _settings(sim, trader_key), UP, amount=Decimal(1), max_price=None, slippage=Decimal("0.05")
    )
    by_name = {r.name: r for r in checklist.results}
    assert by_name["buy (FOK) until CONFIRMED"].outcome is Verdict.PASS
    assert by_name["sell (FOK) until CONFIRMED"].outcome is Verdict.FAIL
    left = by_name["left in the account"]
    assert left.outcome is Verdict.FAIL
    held = sum((Decimal(v) for v in (await _account(sim, trader_key))["positions"].values()), Decimal(0))
    assert held > 0
    assert f"holding {held} " in left.detail


async def test_an_ambiguous_buy_is_sent_once_and_reported_as_maybe_filled(
    sim: RunningSimulator, trader_key: str
) -> None:
    await sim_admin(
        sim, "POST", "/faults/http_500", {"paths": ["/order"], "methods": ["POST"], "after": True}
    )
    checklist = await check_market(
        _settings(sim, trader_key),
        UP,
        amount=Decimal(1),
        max_price=None,
        slippage=Decimal("0.05"),
        timeout_s=5,
    )
    by_name = {r.name: r for r in checklist.results}
    assert by_name["buy (FOK) until CONFIRMED"].outcome is Verdict.FAIL
    assert "may have filled" in by_name["left in the account"].detail
    trades = (await _account(sim, trader_key))["trades"]
    assert trades  # the buy did happen, though the answer never said so
    assert len({trade["taker_order_id"] for trade in trades}) == 1
