"""``polyexec test connection`` against the simulator: every step passes on a healthy venue, and
a broken one fails with a reason, never a traceback."""

from __future__ import annotations

import socket

from pydantic import SecretStr

from polyexec.config import Settings
from polyexec.sim.app import RunningSimulator
from polyexec.smoke.checklist import Outcome
from polyexec.smoke.connection import check_connection


def _settings(running: RunningSimulator, **values: object) -> Settings:
    return Settings(**values).with_simulator_urls(running.base_url)  # type: ignore[arg-type]


async def test_every_step_passes_against_a_healthy_venue(sim: RunningSimulator, trader_key: str) -> None:
    checklist = await check_connection(
        _settings(sim, polymarket_private_key=SecretStr(trader_key)), timeout_s=10
    )
    assert checklist.passed, checklist.render()
    names = [result.name for result in checklist.results]
    assert names == [
        "CLOB REST and clock",
        "protocol version",
        "API auth (L1/L2)",
        "balance and allowance",
        "market discovery (Gamma)",
        "order book (REST)",
        "market channel (websocket)",
        "user channel (websocket)",
        "Binance stream",
        "RTDS (settlement prices)",
    ]
    assert "credentials derived by L1 auth" in checklist.results[2].detail
    assert "$1000.00" in checklist.results[3].detail


async def test_an_unreachable_venue_fails_the_first_step_and_skips_the_rest() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings().with_simulator_urls(f"http://127.0.0.1:{port}")
    checklist = await check_connection(settings, timeout_s=2)
    assert not checklist.passed
    assert checklist.results[0].outcome is Outcome.FAIL
    assert all(result.outcome is Outcome.SKIP for result in checklist.results[1:])
    assert "needs: CLOB REST and clock" in checklist.render()


async def test_no_key_and_no_credentials_is_named(sim: RunningSimulator) -> None:
    checklist = await check_connection(_settings(sim), timeout_s=5)
    auth = checklist.results[2]
    assert auth.outcome is Outcome.FAIL
    assert "POLYMARKET_PRIVATE_KEY" in auth.detail
    assert not checklist.passed


async def test_wrong_credentials_fail_auth_without_showing_the_secret(
    sim: RunningSimulator, trader_key: str
) -> None:
    secret = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8="
    settings = _settings(
        sim,
        polymarket_private_key=SecretStr(trader_key),
        polymarket_api_key="00000000-0000-0000-0000-000000000000",
        polymarket_secret=SecretStr(secret),
        polymarket_passphrase=SecretStr("not-the-passphrase"),
    )
    checklist = await check_connection(settings, timeout_s=5)
    auth = checklist.results[2]
    assert auth.outcome is Outcome.FAIL
    assert "401" in auth.detail
    rendered = checklist.render()
    assert secret not in rendered
    assert "not-the-passphrase" not in rendered
    assert trader_key[2:] not in rendered
