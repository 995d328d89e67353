"""The engine end to end against the in-process simulator: paper, live and dry-run.

Each test runs a whole :class:`Engine` (feeds, discovery, strategies, risk, orders, window
lifecycle) against a simulator on 127.0.0.1 with short windows, so a window opens, trades,
ends and resolves within seconds. Fair value is switched off (its volatility estimate needs a
minute of Binance prices first): market making then quotes on the books' microprice at once.
To make a fill certain rather than left to the simulator's random takers, each test also hands
one FOK BUY to the engine's own intent sink (the gate the strategies' orders pass), and checks
what happens to it: filled, confirmed, settled at the resolution, in the PnL summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyexec.config import Settings, load_settings
from polyexec.core.models import Market, OrderIntent, OrderType, Side
from polyexec.core.order import Order
from polyexec.engine.dry_run_venue import DryRunVenue
from polyexec.engine.engine import Engine, EngineOptions
from polyexec.engine.engine_parts import EngineMode, EngineParts
from polyexec.engine.engine_state import EngineState
from polyexec.engine.sim_reconciliation import compare_with_simulator
from polyexec.sim.app import RunningSimulator
from polyexec.sim_mode import simulated_venue
from tests.engine.conftest import eventually, sim_admin

pytestmark = pytest.mark.timeout(120)

WINDOW_S = 12
D = Decimal


def _settings(tmp_path: Path, **env: str) -> Settings:
    values = {
        "MARKET_ASSETS": "btc",
        "LOG_DIR": str(tmp_path / "logs"),
        "STATE_DIR": str(tmp_path / "state"),
        "STRATEGY_PRESET": "conservative",
        "ENABLE_FAIR_VALUE": "false",
        "MIN_SECONDS_TO_END": "2",
        # The simulator's books are a few makers deep: the depth and spread checks are not
        # what these tests are about.
        "MIN_DEPTH_USD": "1",
        "MAX_SPREAD_PCT": "100",
        **env,
    }
    return load_settings(env=values, env_file=None)


@dataclass
class Run:
    engine: Engine
    simulator: RunningSimulator
    console: io.StringIO
    task: asyncio.Task[int]

    @property
    def parts(self) -> EngineParts:
        assert self.engine.parts is not None
        return self.engine.parts

    async def stop(self) -> int:
        self.engine.request_stop("test over")
        return await asyncio.wait_for(self.task, 30)


@contextlib.asynccontextmanager
async def running_engine(tmp_path: Path, mode: EngineMode, **env: str) -> AsyncIterator[Run]:
    async with simulated_venue(_settings(tmp_path, **env), seed=5, window_seconds=WINDOW_S) as venue:
        console = io.StringIO()
        options = EngineOptions(
            mode=mode,
            window_seconds=WINDOW_S,
            status_interval_s=2.0,
            housekeeping_interval_s=0.1,
            discovery_interval_s=0.5,
            book_silence_s=30.0,
            console=console,
        )
        engine = Engine(venue.settings, options)
        task = asyncio.create_task(engine.run())
        run = Run(engine, venue.simulator, console, task)
        try:
            await eventually(lambda: engine.state is EngineState.RUNNING or task.done(), within=20)
            assert not task.done(), console.getvalue()
            yield run
        finally:
            if not task.done():
                await run.stop()


def _tradable_market(run: Run) -> Market | None:
    now = run.engine._now_ms()
    for condition_id in run.parts.lifecycle:
        market = run.parts.lifecycle.market(condition_id)
        # Room for the order to fill and confirm well before the window closes.
        if market.window_end * 1000 - now > 5_000 and run.engine._tradable(condition_id, now):
            return market
    return None


async def _buy_up(run: Run) -> Order:
    """One FOK BUY of 5 Up shares a cent above the best ask, through the engine's gate."""

    def place() -> Order | None:
        market = _tradable_market(run)
        if market is None:
            return None
        book = run.parts.market_feed.book(market.up_token_id)
        ask = None if book is None else book.best_ask()
        if ask is None or ask.price > D("0.9"):
            return None
        intent = OrderIntent(
            "TEST",
            market.condition_id,
            market.up_token_id,
            Side.BUY,
            ask.price + D("0.01"),
            D(5),
            OrderType.FOK,
        )
        order = run.parts.sink.submit(intent)
        return order if isinstance(order, Order) else None

    return await eventually(place, within=30, interval=0.2)


async def _await_settled(run: Run, order: Order) -> None:
    """The order filled and its window resolved and settled (the portfolio settles a market only
    once every fill in it is booked)."""
    portfolio = run.parts.portfolio

    def settled() -> bool:
        return order.filled_size > 0 and portfolio.position(order.token_id).settled

    await eventually(settled, within=45, interval=0.2)


def _orders_of(run: Run, token_id: str) -> list[Order]:
    return [order for order in run.parts.registry if order.token_id == token_id]


def _strategies_quoted(run: Run) -> bool:
    submitted = run.parts.tick.status()["submitted"]
    return isinstance(submitted, dict) and submitted.get("MM", 0) > 0


async def test_paper_trades_settles_a_resolved_window_and_prints_the_pnl_summary(tmp_path: Path) -> None:
    async with running_engine(tmp_path, EngineMode.PAPER) as run:
        await eventually(lambda: _strategies_quoted(run), within=30, interval=0.2)
        order = await _buy_up(run)
        slug = run.parts.markets.by_condition[order.condition_id].slug
        await _await_settled(run, order)
        code = await run.stop()
        # Paper never left the process: the simulator never heard of our signer.
        with pytest.raises(AssertionError, match="404"):
            await sim_admin(run.simulator, "GET", f"/accounts/{run.parts.signer.address}")
    assert code == 0
    assert run.engine.state is EngineState.STOPPED
    (settlement,) = [s for s in run.engine.get_status()["settlements"] if s["slug"] == slug]
    # Settled at the venue's resolution: $1 a share if Up won, nothing if not, less what it cost.
    shares, price = order.confirmed_size, order.average_fill_price
    assert shares == 5
    assert price is not None
    assert order in _orders_of(run, order.token_id)
    # Other strategies may have traded the same token: the position's result is every fill's.
    fills = [fill for o in _orders_of(run, order.token_id) for fill in o.active_fills]
    bought = sum((f.size for f in fills if f.side is Side.BUY), D(0))
    sold = sum((f.size for f in fills if f.side is Side.SELL), D(0))
    cash = sum((f.notional if f.side is Side.SELL else -f.notional for f in fills), D(0))
    payout = (bought - sold) if settlement["winner"] == "Up" else 0
    position = run.parts.portfolio.position(order.token_id)
    assert position.settled
    assert position.realized_pnl == cash + payout
    assert position.fees_paid == sum((f.fee for f in fills), D(0))
    assert order.fees > 0  # a taker on a crypto market pays the fee
    out = run.console.getvalue()
    assert "=== PnL Summary ===" in out
    assert f"{slug} resolved {settlement['winner']}" in out
    assert out.count("polyexec paper |") >= 2  # status lines, and the final one
    assert run.parts.orders.open_orders() == []  # nothing left open once stopped


async def test_live_sends_signed_orders_and_ends_agreeing_with_the_simulators_account(
    tmp_path: Path,
) -> None:
    async with running_engine(tmp_path, EngineMode.LIVE) as run:
        address = run.parts.signer.address
        start = D((await sim_admin(run.simulator, "GET", f"/accounts/{address}"))["balances"]["pUSD"])
        await eventually(lambda: _strategies_quoted(run), within=30, interval=0.2)
        order = await _buy_up(run)
        await _await_settled(run, order)
        code = await run.stop()
        account: dict[str, Any] = await sim_admin(run.simulator, "GET", f"/accounts/{address}")
        fill_count = int(str(run.parts.orders.status()["fills"]))
        verdict = await compare_with_simulator(
            run.simulator.admin_url, address, run.parts.portfolio, starting_balance=start, fills=fill_count
        )
    assert code == 0
    assert account["open_orders"] == []  # cancelled on the way out, at the venue itself
    assert account["orders_submitted"], "real signed orders reached the simulator"
    portfolio = run.parts.portfolio
    # Every share the venue still holds for us is a share the portfolio holds, and the cash
    # moved by what the portfolio booked: net PnL = balance change, to within what each side
    # rounds differently per fill: the fee (5 decimals; the simulator rounds half up, polyexec
    # down) and the dollar leg of a fill in fractions of a share (the simulator rounds it to 6
    # decimals, the portfolio keeps shares x price exact).
    held = {p.token_id: p.quantity for p in portfolio.positions(open_only=True) if not p.settled}
    venue_held = {token: D(shares) for token, shares in account["positions"].items() if D(shares) != 0}
    assert venue_held == held
    change = D(account["balances"]["pUSD"]) - start
    booked = portfolio.realized_pnl - portfolio.fees_paid
    fills = int(run.parts.orders.status()["fills"])  # type: ignore[call-overload]
    assert abs(change - booked) <= D("0.000011") * max(1, fills), (change, booked)
    assert portfolio.position(order.token_id).settled
    assert verdict.agrees, verdict.lines  # the check `polyexec live --sim` prints at the end


async def test_dry_run_decides_and_logs_but_sends_nothing_to_the_venue(tmp_path: Path) -> None:
    async with running_engine(tmp_path, EngineMode.DRY_RUN) as run:
        await eventually(lambda: _strategies_quoted(run), within=30, interval=0.2)
        code = await run.stop()
        address = run.parts.signer.address
        # The simulator has never heard of the account: not one order, not one heartbeat.
        with pytest.raises(AssertionError, match="404"):
            await sim_admin(run.simulator, "GET", f"/accounts/{address}")
    assert code == 0
    assert run.parts.heartbeat is None
    assert run.parts.user_feed is None
    # The decisions were made and each order was signed, logged and kept locally instead.
    venue = run.parts.orders.venue
    assert isinstance(venue, DryRunVenue)
    assert venue.orders_not_sent > 0
    assert venue.orders_not_sent == int(run.parts.orders.status()["submitted"])  # type: ignore[call-overload]
