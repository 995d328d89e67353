"""``--sim``: settings pointed at an in-process simulator, with the real venue's credentials
dropped and a throwaway wallet when none is configured."""

from __future__ import annotations

import aiohttp
from eth_account import Account
from pydantic import SecretStr

from polyexec.config import Settings, load_settings
from polyexec.sim_mode import SIM_PRESET, settings_for_simulator, simulated_venue

BASE_URL = "http://127.0.0.1:8123"
API_SECRET = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8="


def _with_credentials(**values: object) -> Settings:
    return Settings(
        polymarket_api_key=SecretStr("00000000-0000-0000-0000-000000000000"),
        polymarket_secret=SecretStr(API_SECRET),
        polymarket_passphrase=SecretStr("a-real-venue-passphrase"),
        **values,  # type: ignore[arg-type]
    )


def test_the_real_venues_api_credentials_are_dropped() -> None:
    pointed, _ = settings_for_simulator(_with_credentials(), BASE_URL)
    assert pointed.polymarket_api_key is None
    assert pointed.polymarket_secret is None
    assert pointed.polymarket_passphrase is None
    for name in ("POLYMARKET_API_KEY", "POLYMARKET_SECRET", "POLYMARKET_PASSPHRASE"):
        assert pointed.source_of(name) == "--sim"


def test_every_venue_url_points_at_the_simulator() -> None:
    pointed, _ = settings_for_simulator(Settings(), BASE_URL)
    assert pointed.clob_host == BASE_URL
    assert pointed.clob_ws_url == "ws://127.0.0.1:8123/ws"
    assert pointed.gamma_host == f"{BASE_URL}/gamma"
    assert pointed.source_of("CLOB_HOST") == "--sim"


def test_a_configured_key_is_kept() -> None:
    key = Account.create().key.hex()
    key = key if key.startswith("0x") else "0x" + key
    pointed, generated = settings_for_simulator(
        _with_credentials(polymarket_private_key=SecretStr(key)), BASE_URL
    )
    assert not generated
    assert pointed.polymarket_private_key is not None
    assert pointed.polymarket_private_key.get_secret_value() == key
    assert pointed.source_of("POLYMARKET_PRIVATE_KEY") != "--sim"  # still the operator's


def test_without_a_key_a_throwaway_one_is_generated_and_redacted_from_logs() -> None:
    first, generated = settings_for_simulator(Settings(), BASE_URL)
    second, _ = settings_for_simulator(Settings(), BASE_URL)
    assert generated
    assert first.polymarket_private_key is not None
    assert second.polymarket_private_key is not None
    key = first.polymarket_private_key.get_secret_value()
    assert len(key) == 66
    assert key.startswith("0x")
    Account.from_key(key)  # a usable secp256k1 key
    assert key != second.polymarket_private_key.get_secret_value()
    assert first.source_of("POLYMARKET_PRIVATE_KEY") == "--sim"
    # Logging is configured with these settings: its redaction list holds the generated key.
    assert key in first.secret_values()
    assert key[2:] in first.secret_values()


def test_the_original_settings_are_left_alone() -> None:
    original = _with_credentials()
    settings_for_simulator(original, BASE_URL)
    assert original.polymarket_secret is not None
    assert original.polymarket_private_key is None
    assert original.clob_host != BASE_URL


async def test_simulated_venue_starts_a_simulator_and_stops_it() -> None:
    async with simulated_venue(Settings(market_assets=("btc",)), seed=3) as venue:
        assert venue.generated_key
        assert venue.settings.clob_host == venue.simulator.base_url
        assert venue.simulator.base_url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http, http.get(f"{venue.settings.clob_host}/time") as answer:
            assert answer.status == 200
        url = venue.simulator.base_url
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(f"{url}/time") as answer:
                raise AssertionError(f"the simulator still answers after the block: {answer.status}")
        except aiohttp.ClientConnectionError:
            pass  # stopped: nothing listens on its port any more


def test_without_a_chosen_preset_the_simulator_runs_one_that_can_meet_the_minimum_order() -> None:
    pointed, _ = settings_for_simulator(Settings(), BASE_URL)
    assert pointed.strategy_preset == SIM_PRESET
    assert pointed.source_of("STRATEGY_PRESET") == "--sim"
    # $1 buys the 5-share minimum only at 0.20 or less; the sim preset's trades fit it at 0.99.
    assert pointed.risk_limits().max_trade_usd >= 5


def test_an_explicit_preset_and_explicit_limits_are_kept() -> None:
    explicit = load_settings(env={"STRATEGY_PRESET": "default"}, env_file=None)
    chosen, _ = settings_for_simulator(explicit, BASE_URL)
    assert chosen.strategy_preset == "default"
    capped, _ = settings_for_simulator(load_settings(env={"MAX_TRADE_USD": "2"}, env_file=None), BASE_URL)
    assert capped.strategy_preset == SIM_PRESET
    assert capped.risk_limits().max_trade_usd == 2
