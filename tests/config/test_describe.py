"""What `polyexec config` shows: describe() rows (secrets masked, sources) and the warnings."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from polyexec.config import Settings
from tests.config.support import API_SECRET, FUNDER, load, throwaway_key, write_env

# ---------------------------------------------------------------------------- describe()


def test_describe_lists_every_setting_with_secrets_masked_and_sources(tmp_path: Path) -> None:
    key, passphrase = throwaway_key(), "pass-" + secrets.token_hex(8)
    webhook = f"https://discord.com/api/webhooks/1/{secrets.token_urlsafe(24)}"
    path = write_env(tmp_path, f"POLYMARKET_PASSPHRASE={passphrase}\nPOLYMARKET_API_KEY=k-1234\n")
    settings = load(
        {
            "POLYMARKET_PRIVATE_KEY": key,
            "POLYMARKET_SECRET": API_SECRET,
            "DISCORD_WEBHOOK_URL": webhook,
            "STRATEGY_PRESET": "conservative",
        },
        path,
    )
    rows = {row.name: row for row in settings.describe()}
    assert set(rows) == {name.upper() for name in Settings.model_fields}
    everything = repr(settings.describe()) + repr(settings)
    for secret in (key, key[2:], passphrase, API_SECRET, webhook):
        assert secret not in everything
    assert rows["POLYMARKET_PRIVATE_KEY"].value == "********"
    assert rows["POLYMARKET_PRIVATE_KEY"].source == "env"
    assert rows["POLYMARKET_PASSPHRASE"].source == ".env"
    assert rows["MAX_EXPOSURE_USD"] == ("MAX_EXPOSURE_USD", "200", "preset:conservative")
    assert rows["ENABLE_FLOW_FOLLOWING"] == ("ENABLE_FLOW_FOLLOWING", "false", "preset:conservative")
    assert rows["MAX_SPREAD_PCT"].source == "default"
    assert rows["CLOB_HOST"] == ("CLOB_HOST", "https://clob.polymarket.com", "default")
    assert rows["POLYMARKET_FUNDER"].value == "(not set)"


# ---------------------------------------------------------------------------- warnings


def test_a_funder_with_an_eoa_is_a_warning_not_an_error() -> None:
    settings = load({"POLYMARKET_SIGNATURE_TYPE": "0", "POLYMARKET_FUNDER": FUNDER})
    assert any("POLYMARKET_FUNDER" in warning for warning in settings.config_warnings())


def test_unencrypted_clob_urls_to_remote_hosts_are_flagged() -> None:
    assert any("CLOB_HOST" in w for w in load({"CLOB_HOST": "http://clob.example"}).config_warnings())
    assert not any("CLOB_HOST" in w for w in load({"CLOB_HOST": "http://127.0.0.1:8080"}).config_warnings())


def test_one_dollar_trades_warn_that_only_cheap_prices_can_be_bought() -> None:
    warnings = load({"MAX_TRADE_USD": "1"}).config_warnings()
    assert any("MAX_TRADE_USD" in w and "$0.20" in w for w in warnings)


@pytest.mark.parametrize("max_trade", ["4.95", "5", "100"])
def test_a_per_trade_limit_that_buys_five_shares_at_any_price_does_not_warn(max_trade: str) -> None:
    assert not any("MAX_TRADE_USD" in w for w in load({"MAX_TRADE_USD": max_trade}).config_warnings())


def test_five_shares_at_one_cent_is_the_smallest_usable_limit() -> None:
    warnings = load({"MAX_TRADE_USD": "0.05"}).config_warnings()
    assert any("$0.01" in w for w in warnings)
