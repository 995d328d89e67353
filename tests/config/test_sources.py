"""Where settings come from: env, systemd credentials and .env, their precedence, and the
error messages of load_settings (never a secret in them)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path

import pytest

from polyexec.config import SECRET_SETTINGS, Settings, load_settings
from polyexec.core.risk_limits import RiskLimits
from tests.config.support import config_error, load, throwaway_key, write_env

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------- reading each source


def test_values_are_read_from_a_dotenv_file(tmp_path: Path) -> None:
    path = write_env(
        tmp_path,
        "# comment\nexport MARKET_ASSETS=xrp\nMAX_TRADE_USD='2.5'\n"
        "POLYMARKET_PRIVATE_KEY=\nLOG_LEVEL=DEBUG\n",
    )
    settings = load({}, path)
    assert settings.market_assets == ("xrp",)
    assert settings.risk_limits().max_trade_usd == Decimal("2.5")
    assert settings.polymarket_private_key is None  # empty means unset
    assert settings.log_level == "debug"
    assert settings.source_of("MARKET_ASSETS") == ".env"


def test_a_missing_dotenv_file_is_skipped(tmp_path: Path) -> None:
    assert load({}, tmp_path / "absent.env").risk_limits() == RiskLimits()


def test_without_an_env_mapping_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_OPEN_ORDERS", "3")
    assert load_settings(None, None).risk_limits().max_open_orders == 3


# ---------------------------------------------------------------------------- precedence


def test_env_beats_dotenv_beats_preset_beats_default(tmp_path: Path) -> None:
    path = write_env(tmp_path, "STRATEGY_PRESET=balanced\nMAX_TRADE_USD=7\nMAX_WINDOW_USD=30\n")
    settings = load({"MAX_TRADE_USD": "3"}, path)
    limits = settings.risk_limits()
    assert limits.max_trade_usd == Decimal(3)  # env over .env
    assert limits.max_window_usd == Decimal(30)  # .env over preset (balanced: 100)
    assert limits.max_exposure_usd == Decimal(500)  # preset over default (20)
    assert limits.max_spread_pct == RiskLimits().max_spread_pct  # default: no preset sets it
    assert settings.source_of("MAX_TRADE_USD") == "env"
    assert settings.source_of("MAX_WINDOW_USD") == ".env"
    assert settings.source_of("MAX_EXPOSURE_USD") == "preset:balanced"
    assert settings.source_of("MAX_SPREAD_PCT") == "default"
    assert settings.source_of("STRATEGY_PRESET") == ".env"


def test_systemd_credentials_sit_between_env_and_dotenv(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    from_credentials, from_env, from_file = throwaway_key(), throwaway_key(), throwaway_key()
    (credentials / "polymarket_private_key").write_text(from_credentials + "\n", encoding="utf-8")
    path = write_env(tmp_path, f"POLYMARKET_PRIVATE_KEY={from_file}\n")
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}

    settings = load(env, path)
    assert settings.polymarket_private_key is not None
    assert settings.polymarket_private_key.get_secret_value() == from_credentials
    assert settings.source_of("POLYMARKET_PRIVATE_KEY") == "credentials"

    settings = load({**env, "POLYMARKET_PRIVATE_KEY": from_env}, path)
    assert settings.polymarket_private_key is not None
    assert settings.polymarket_private_key.get_secret_value() == from_env


# ---------------------------------------------------------------------------- the .env file itself


def test_unknown_names_in_the_dotenv_file_are_flagged(tmp_path: Path) -> None:
    settings = load({}, write_env(tmp_path, "MAX_TRADE_USDD=5\n"))
    assert any("MAX_TRADE_USDD" in warning for warning in settings.config_warnings())


def test_a_dotenv_file_with_secrets_readable_by_others_is_flagged(tmp_path: Path) -> None:
    text = f"POLYMARKET_PRIVATE_KEY={throwaway_key()}\n"
    loose = load({}, write_env(tmp_path, text, mode=0o644))
    assert any("chmod 600" in warning for warning in loose.config_warnings())
    tight = load({}, write_env(tmp_path, text, mode=0o600))
    assert not any("chmod 600" in warning for warning in tight.config_warnings())


def test_env_example_documents_every_setting_and_loads_cleanly() -> None:
    example = REPO / ".env.example"
    text = example.read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in text, f"{name.upper()} is missing from .env.example"
    settings = load({}, example)
    assert all(getattr(settings, name.lower()) is None for name in SECRET_SETTINGS)
    assert settings.risk_limits() == RiskLimits()
    assert settings.config_warnings()[1:] == ()  # only the $1-trade note of the default preset


def test_an_unreadable_dotenv_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"MAX_TRADE_USD=\xff\xfe\n")
    error = config_error({}, path)
    assert str(path) in error.messages[0]


# ---------------------------------------------------------------------------- error messages


def test_all_problems_are_reported_at_once() -> None:
    error = config_error({"CHAIN_ID": "5", "MARKET_ASSETS": "ada", "MAX_TRADE_USD": "-1"})
    named = {message.split(":")[0] for message in error.messages}
    assert named == {"CHAIN_ID", "MARKET_ASSETS", "MAX_TRADE_USD"}


@pytest.mark.parametrize("name", SECRET_SETTINGS)
def test_a_bad_secret_is_never_echoed(name: str) -> None:
    value = "s3cr3t-" + secrets.token_hex(12)
    error = config_error({name: value})
    assert any(name in message for message in error.messages)
    assert value not in str(error)
    assert value[7:] not in str(error)


def test_a_malformed_private_key_is_not_echoed_even_partially() -> None:
    almost = throwaway_key()[:-1] + "z"
    error = config_error({"POLYMARKET_PRIVATE_KEY": almost})
    assert almost[2:20] not in str(error)


def test_a_private_key_pasted_into_the_wrong_variable_is_not_echoed() -> None:
    key = throwaway_key()
    for name in ("POLYMARKET_FUNDER", "MARKET_ASSETS", "CHAIN_ID"):
        error = config_error({name: key})
        assert any(message.startswith(f"{name}:") for message in error.messages)
        assert key[2:] not in str(error)
    passphrase = "my-passphrase-" + secrets.token_hex(4)
    error = config_error({"POLYMARKET_PASSPHRASE": passphrase, "LOG_LEVEL": passphrase})
    assert passphrase not in str(error)


def test_a_long_value_is_scrubbed_before_it_is_shortened_for_the_message() -> None:
    key = throwaway_key()
    error = config_error({"CHAIN_ID": "x" * 30 + key})
    assert key[2:40] not in str(error)
