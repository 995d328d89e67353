"""The Settings model: defaults, overrides, checks across settings, the live-trading gate,
derived values."""

from __future__ import annotations

import secrets
from dataclasses import Field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from polyexec.config import Settings, StrategyFlags
from polyexec.core.models import SignatureType
from polyexec.core.risk_limits import RiskLimits
from tests.config.support import API_SECRET, FUNDER, config_error, load, throwaway_key

# ---------------------------------------------------------------------------- defaults and overrides


def test_defaults_are_the_conservative_first_run_settings() -> None:
    settings = load({})
    assert settings.strategy_preset == "default"
    assert settings.risk_limits() == RiskLimits()
    assert settings.strategy_flags() == StrategyFlags(
        market_making=True, flow_following=False, inventory_control=True, fair_value=True
    )
    assert settings.clob_host == "https://clob.polymarket.com"
    assert settings.clob_market_ws_url == "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    assert settings.clob_user_ws_url == "wss://ws-subscriptions-clob.polymarket.com/ws/user"
    assert settings.gamma_host == "https://gamma-api.polymarket.com"
    assert settings.rtds_ws_url == "wss://ws-live-data.polymarket.com"
    assert settings.binance_stream_url(["btcusdt@trade", "ethusdt@trade"]) == (
        "wss://data-stream.binance.vision/stream?streams=btcusdt@trade/ethusdt@trade"
    )
    assert (settings.status_http_host, settings.status_http_port) == ("127.0.0.1", 8787)
    assert settings.kill_switch_file == Path("KILL_SWITCH")
    assert settings.polymarket_signature_type is SignatureType.EOA
    assert settings.chain_id == 137
    assert settings.polymarket_private_key is None
    assert not settings.live_trading_allowed
    assert not settings.approvals_auto


def test_constructing_settings_directly_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOB_HOST", "https://elsewhere.example")
    assert Settings().clob_host == "https://clob.polymarket.com"


@pytest.mark.parametrize("spec", fields(RiskLimits), ids=lambda spec: spec.name.upper())
def test_every_risk_parameter_has_its_own_variable(spec: Field[Any]) -> None:
    name = spec.name
    default = getattr(RiskLimits(), name)
    value = default + 1
    settings = load({name.upper(): str(value)})
    assert getattr(settings.risk_limits(), name) == value
    assert settings.source_of(name.upper()) == "env"


def test_strategy_knobs_have_documented_defaults() -> None:
    settings = load({"MIN_EDGE_CENTS": "6", "MIN_MOVE_CENTS": "1.5"})
    assert (settings.min_edge_cents, settings.min_move_cents) == (Decimal(6), Decimal("1.5"))
    assert (load({}).min_edge_cents, load({}).min_move_cents) == (Decimal(5), Decimal(3))


# ---------------------------------------------------------------------------- combinations


@pytest.mark.parametrize("signature_type", ["1", "2", "3"])
def test_a_funder_is_required_for_proxy_safe_and_deposit_wallets(signature_type: str) -> None:
    error = config_error({"POLYMARKET_SIGNATURE_TYPE": signature_type})
    assert any("POLYMARKET_FUNDER" in message for message in error.messages)
    settings = load({"POLYMARKET_SIGNATURE_TYPE": signature_type, "POLYMARKET_FUNDER": FUNDER})
    assert int(settings.polymarket_signature_type) == int(signature_type)


def test_api_credentials_come_all_together_or_not_at_all() -> None:
    error = config_error({"POLYMARKET_API_KEY": "0c0dd6aa-0000-4000-8000-000000000000"})
    assert any("POLYMARKET_SECRET" in m and "POLYMARKET_PASSPHRASE" in m for m in error.messages)
    settings = load(
        {
            "POLYMARKET_API_KEY": "0c0dd6aa-0000-4000-8000-000000000000",
            "POLYMARKET_SECRET": API_SECRET,
            "POLYMARKET_PASSPHRASE": "a-passphrase",
        }
    )
    assert settings.polymarket_secret is not None


def test_risk_limits_that_contradict_each_other_name_both_variables() -> None:
    error = config_error({"MIN_SECONDS_TO_END": "600", "MAX_SECONDS_TO_END": "300"})
    assert any("MIN_SECONDS_TO_END" in m and "MAX_SECONDS_TO_END" in m for m in error.messages)


@pytest.mark.parametrize("max_trade", ["0", "0.04", "0.049"])
def test_a_per_trade_limit_below_five_shares_at_one_cent_is_an_error(max_trade: str) -> None:
    error = config_error({"MAX_TRADE_USD": max_trade})
    assert any(m.startswith("MAX_TRADE_USD") and "5 shares" in m for m in error.messages)


# ---------------------------------------------------------------------------- the live-trading gate


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("I_UNDERSTAND_THE_RISKS", True),
        (" I_UNDERSTAND_THE_RISKS ", True),
        ("true", False),
        ("1", False),
        ("i_understand_the_risks", False),
        ("I_UNDERSTAND_THE_RISK", False),
    ],
)
def test_live_trading_needs_the_exact_phrase(value: str, allowed: bool) -> None:
    settings = load({"LIVE_TRADING": value})
    assert settings.live_trading_allowed is allowed
    assert any("LIVE_TRADING" in w for w in settings.config_warnings()) is not allowed


def test_live_trading_is_off_when_unset() -> None:
    settings = load({})
    assert not settings.live_trading_allowed
    assert not any("LIVE_TRADING" in w for w in settings.config_warnings())


# ---------------------------------------------------------------------------- derived values


def test_secret_values_cover_every_form_a_secret_can_take_in_text() -> None:
    key = throwaway_key()
    token = secrets.token_urlsafe(32)
    settings = load(
        {"POLYMARKET_PRIVATE_KEY": key, "DISCORD_WEBHOOK_URL": f"https://discord.com/api/webhooks/9/{token}"}
    )
    values = settings.secret_values()
    assert key in values
    assert key[2:] in values
    assert token in values
    assert f"https://discord.com/api/webhooks/9/{token}" in values


def test_simulator_urls_replace_every_venue_url() -> None:
    settings = load({"CLOB_HOST": "https://clob.example"}).with_simulator_urls("http://127.0.0.1:8080")
    assert settings.clob_host == "http://127.0.0.1:8080"
    assert settings.clob_market_ws_url == "ws://127.0.0.1:8080/ws/market"
    assert settings.clob_user_ws_url == "ws://127.0.0.1:8080/ws/user"
    assert settings.gamma_host == "http://127.0.0.1:8080/gamma"
    assert (
        settings.binance_stream_url(["btcusdt@trade"])
        == "ws://127.0.0.1:8080/binance/stream?streams=btcusdt@trade"
    )
    assert settings.rtds_ws_url == "ws://127.0.0.1:8080/rtds"
    assert settings.source_of("CLOB_HOST") == "--sim"


def test_a_validation_error_never_quotes_the_bad_value() -> None:
    bad_key = "0x" + "ab" * 31 + "zz"
    with pytest.raises(ValidationError) as caught:
        Settings(polymarket_private_key=bad_key)  # type: ignore[arg-type]
    assert "abab" not in str(caught.value)
