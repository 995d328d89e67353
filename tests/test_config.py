"""Settings: sources and their precedence, presets, overrides, validation messages, describe()."""

from __future__ import annotations

import secrets
from dataclasses import Field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyexec.config import (
    DEFAULT_STRATEGY_FLAGS,
    PRESETS,
    SECRET_SETTINGS,
    ConfigError,
    Settings,
    StrategyFlags,
    load_settings,
)
from polyexec.core.models import SignatureType
from polyexec.core.risk_limits import RiskLimits

REPO = Path(__file__).resolve().parents[1]
FUNDER = "0x" + "12" * 20
API_SECRET = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8="  # docs §3.2 test secret


def throwaway_key() -> str:
    return "0x" + secrets.token_hex(32)


def load(env: dict[str, str], env_file: Path | None = None) -> Settings:
    return load_settings(env, env_file)


def config_error(env: dict[str, str], env_file: Path | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(env, env_file)
    return caught.value


def write_env(directory: Path, text: str, mode: int = 0o600) -> Path:
    path = directory / ".env"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


# ---------------------------------------------------------------------------- loading


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


def test_values_are_parsed_from_an_env_mapping() -> None:
    key = throwaway_key()
    settings = load(
        {
            "POLYMARKET_PRIVATE_KEY": key,
            "POLYMARKET_SIGNATURE_TYPE": "3",
            "POLYMARKET_FUNDER": FUNDER,
            "CHAIN_ID": "80002",
            "MARKET_ASSETS": " SOL, btc ,sol",
            "APPROVALS_AUTO": "yes",
            "MIN_EDGE_CENTS": "4.5",
            "TARGET_ADDRESSES": f"{FUNDER},0x{'ab' * 20}",
            "CLOB_HOST": "http://127.0.0.1:9000/",
            "STATE_DIR": "/var/lib/polyexec",
            "STRATEGY_PRESET": "Aggressive-Enterprise",
            "unrelated_variable": "ignored",
        }
    )
    assert settings.polymarket_private_key is not None
    assert settings.polymarket_private_key.get_secret_value() == key
    assert settings.polymarket_signature_type is SignatureType.POLY_1271
    assert settings.polymarket_funder == FUNDER
    assert settings.chain_id == 80002
    assert settings.market_assets == ("sol", "btc")
    assert settings.approvals_auto is True
    assert settings.min_edge_cents == Decimal("4.5")
    assert settings.target_addresses == (FUNDER, "0x" + "ab" * 20)
    assert settings.clob_host == "http://127.0.0.1:9000"
    assert settings.state_dir == Path("/var/lib/polyexec")
    assert settings.strategy_preset == "aggressive_enterprise"


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


def test_constructing_settings_directly_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOB_HOST", "https://elsewhere.example")
    assert Settings().clob_host == "https://clob.polymarket.com"


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


# ---------------------------------------------------------------------------- presets

PresetRow = tuple[str, str, str, str, bool, bool, bool]
PRESET_TABLE: dict[str, PresetRow] = {
    # name: (max exposure, per market, per category, drawdown %, MM, FF, ICC)
    "conservative": ("200", "50", "100", "10", True, False, True),
    "balanced": ("500", "100", "250", "15", True, True, True),
    "aggressive": ("2000", "200", "500", "25", True, True, True),
    "aggressive_enterprise": ("2000", "200", "500", "25", True, True, True),
}


@pytest.mark.parametrize(("name", "row"), PRESET_TABLE.items())
def test_each_preset_has_the_issue_table_values(
    name: str, row: tuple[str, str, str, str, bool, bool, bool]
) -> None:
    settings = load({"STRATEGY_PRESET": name})
    limits, flags = settings.risk_limits(), settings.strategy_flags()
    exposure, per_market, per_category, drawdown, mm, ff, icc = row
    assert limits.max_exposure_usd == Decimal(exposure)
    assert limits.max_exposure_per_market_usd == Decimal(per_market)
    assert limits.max_exposure_per_category_usd == Decimal(per_category)
    assert limits.max_drawdown_pct == Decimal(drawdown)
    assert (flags.market_making, flags.flow_following, flags.inventory_control) == (mm, ff, icc)
    assert flags.fair_value


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_coherent_and_can_trade_at_every_price(name: str) -> None:
    limits = load({"STRATEGY_PRESET": name}).risk_limits()
    assert limits.max_trade_usd <= limits.max_window_usd <= limits.max_exposure_per_market_usd
    assert (
        limits.max_exposure_per_market_usd <= limits.max_exposure_per_category_usd <= limits.max_exposure_usd
    )
    assert limits.max_loss_per_trade_usd <= limits.max_loss_per_day_usd
    if name != "default":  # default's $1 trades are deliberately below 5 shares x $0.99
        assert load({"STRATEGY_PRESET": name}).config_warnings() == ()


def test_default_preset_is_exactly_the_risk_limits_defaults() -> None:
    settings = load({"STRATEGY_PRESET": "default"})
    assert settings.risk_limits() == RiskLimits()
    assert settings.strategy_flags() == DEFAULT_STRATEGY_FLAGS


def test_a_single_override_applies_on_top_of_a_preset() -> None:
    plain = load({"STRATEGY_PRESET": "aggressive"}).risk_limits()
    settings = load(
        {"STRATEGY_PRESET": "aggressive", "MAX_OPEN_ORDERS": "7", "ENABLE_FLOW_FOLLOWING": "false"}
    )
    changed = settings.risk_limits()
    assert changed.max_open_orders == 7
    assert changed == RiskLimits(
        **{**{f.name: getattr(plain, f.name) for f in fields(plain)}, "max_open_orders": 7}
    )
    assert settings.strategy_flags().flow_following is False
    assert settings.strategy_flags().market_making is True


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


# ---------------------------------------------------------------------------- validation

BAD_VALUES = [
    ("POLYMARKET_PRIVATE_KEY", "0x1234"),
    ("POLYMARKET_PRIVATE_KEY", "ab" * 32),  # no 0x
    ("POLYMARKET_PRIVATE_KEY", "0x" + "00" * 32),  # not a valid secp256k1 key
    ("POLYMARKET_SECRET", "not base64 at all!"),
    ("POLYMARKET_SIGNATURE_TYPE", "4"),
    ("POLYMARKET_SIGNATURE_TYPE", "eoa"),
    ("POLYMARKET_FUNDER", "0x1234"),
    ("CHAIN_ID", "1"),
    ("CHAIN_ID", "polygon"),
    ("CLOB_HOST", "wss://clob.polymarket.com"),
    ("CLOB_HOST", "https://"),
    ("GAMMA_HOST", "gamma-api.polymarket.com"),
    ("CLOB_WS_URL", "https://ws-subscriptions-clob.polymarket.com/ws"),
    ("BINANCE_WS_URL", "wss://data-stream.binance.vision?x=1"),
    ("RTDS_WS_URL", "ws://host:99999"),
    ("RPC_URL", "ftp://rpc.example"),
    ("DISCORD_WEBHOOK_URL", "discord.com/api/webhooks/1/token"),
    ("STATUS_HTTP_ADDR", "8787"),
    ("STATUS_HTTP_ADDR", "127.0.0.1:http"),
    ("STATUS_HTTP_ADDR", "::1:8787"),
    ("STATUS_HTTP_ADDR", "127.0.0.1:70000"),
    ("MARKET_ASSETS", "btc,ada"),
    ("MARKET_ASSETS", " , "),
    ("STRATEGY_PRESET", "yolo"),
    ("TARGET_ADDRESSES", f"{FUNDER},0xnope"),
    ("LOG_LEVEL", "verbose"),
    ("APPROVALS_AUTO", "maybe"),
    ("ENABLE_MARKET_MAKING", "perhaps"),
    ("MAX_EXPOSURE_USD", "-5"),
    ("MAX_EXPOSURE_USD", "lots"),
    ("MAX_EXPOSURE_USD", "NaN"),
    ("MAX_OPEN_ORDERS", "2.5"),
    ("MAX_DRAWDOWN_PCT", "150"),
    ("MIN_EDGE_CENTS", "-1"),
]


@pytest.mark.parametrize(("name", "value"), BAD_VALUES)
def test_a_bad_value_is_refused_with_a_message_naming_the_variable(name: str, value: str) -> None:
    error = config_error({name: value})
    assert any(message.startswith(f"{name}:") for message in error.messages), error.messages


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


def test_all_problems_are_reported_at_once() -> None:
    error = config_error({"CHAIN_ID": "5", "MARKET_ASSETS": "ada", "MAX_TRADE_USD": "-1"})
    named = {message.split(":")[0] for message in error.messages}
    assert named == {"CHAIN_ID", "MARKET_ASSETS", "MAX_TRADE_USD"}


@pytest.mark.parametrize("signature_type", ["1", "2", "3"])
def test_a_funder_is_required_for_proxy_safe_and_deposit_wallets(signature_type: str) -> None:
    error = config_error({"POLYMARKET_SIGNATURE_TYPE": signature_type})
    assert any("POLYMARKET_FUNDER" in message for message in error.messages)
    settings = load({"POLYMARKET_SIGNATURE_TYPE": signature_type, "POLYMARKET_FUNDER": FUNDER})
    assert int(settings.polymarket_signature_type) == int(signature_type)


def test_a_funder_with_an_eoa_is_a_warning_not_an_error() -> None:
    settings = load({"POLYMARKET_SIGNATURE_TYPE": "0", "POLYMARKET_FUNDER": FUNDER})
    assert any("POLYMARKET_FUNDER" in warning for warning in settings.config_warnings())


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


@pytest.mark.parametrize("addr", ["0.0.0.0:80", "[::1]:9000", "localhost:0", "status.internal:8787"])
def test_status_addresses_in_every_host_form_are_accepted(addr: str) -> None:
    settings = load({"STATUS_HTTP_ADDR": addr})
    assert 0 <= settings.status_http_port <= 65535
    exposed = not settings.status_http_host.startswith(("127.", "::1", "localhost"))
    assert any("STATUS_HTTP_ADDR" in warning for warning in settings.config_warnings()) is exposed


def test_unencrypted_clob_urls_to_remote_hosts_are_flagged() -> None:
    assert any("CLOB_HOST" in w for w in load({"CLOB_HOST": "http://clob.example"}).config_warnings())
    assert not any("CLOB_HOST" in w for w in load({"CLOB_HOST": "http://127.0.0.1:8080"}).config_warnings())


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


# ---------------------------------------------------------------------------- the venue's minimum order


def test_one_dollar_trades_warn_that_only_cheap_prices_can_be_bought() -> None:
    warnings = load({"MAX_TRADE_USD": "1"}).config_warnings()
    assert any("MAX_TRADE_USD" in w and "$0.20" in w for w in warnings)


@pytest.mark.parametrize("max_trade", ["4.95", "5", "100"])
def test_a_per_trade_limit_that_buys_five_shares_at_any_price_does_not_warn(max_trade: str) -> None:
    assert not any("MAX_TRADE_USD" in w for w in load({"MAX_TRADE_USD": max_trade}).config_warnings())


@pytest.mark.parametrize("max_trade", ["0", "0.04", "0.049"])
def test_a_per_trade_limit_below_five_shares_at_one_cent_is_an_error(max_trade: str) -> None:
    error = config_error({"MAX_TRADE_USD": max_trade})
    assert any(m.startswith("MAX_TRADE_USD") and "5 shares" in m for m in error.messages)


def test_five_shares_at_one_cent_is_the_smallest_usable_limit() -> None:
    warnings = load({"MAX_TRADE_USD": "0.05"}).config_warnings()
    assert any("$0.01" in w for w in warnings)


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
