"""The end-of-run check of ``live --sim``: the simulator's account against our portfolio."""

from __future__ import annotations

import socket
from decimal import Decimal

from eth_account import Account

from polyexec.core.portfolio import Portfolio
from polyexec.engine.sim_reconciliation import compare_with_simulator
from polyexec.sim.app import RunningSimulator
from tests.engine.conftest import sim_admin

START = Decimal(1000)


def _address() -> str:
    return str(Account.create().address)


async def test_an_account_that_never_traded_agrees_with_an_empty_portfolio(
    exchange_sim: RunningSimulator,
) -> None:
    verdict = await compare_with_simulator(
        exchange_sim.admin_url, _address(), Portfolio(), starting_balance=START, fills=0
    )
    assert verdict.agrees
    assert verdict.lines == ("no account at the simulator: nothing was traded",)


async def test_cash_the_portfolio_did_not_book_is_a_disagreement(exchange_sim: RunningSimulator) -> None:
    address = _address()
    await sim_admin(exchange_sim, "POST", f"/accounts/{address}/fund", {"amount": "100"})
    verdict = await compare_with_simulator(
        exchange_sim.admin_url, address, Portfolio(), starting_balance=START, fills=0
    )
    assert not verdict.agrees
    (orders, positions, cash) = verdict.lines
    assert orders == "open orders at the venue: 0"
    assert positions.startswith("positions: venue 0 token(s), portfolio 0")
    assert cash.endswith("<- differ")
    agreeing = await compare_with_simulator(
        exchange_sim.admin_url, address, Portfolio(), starting_balance=START + 100, fills=0
    )
    assert agreeing.agrees


async def test_an_unreachable_simulator_is_a_disagreement_that_says_why() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    verdict = await compare_with_simulator(
        f"http://127.0.0.1:{port}/sim", _address(), Portfolio(), starting_balance=START, fills=0
    )
    assert not verdict.agrees
    assert verdict.lines[0].startswith("simulator account unreadable")
