"""Single setting values: what each accepts, its normal form, and what it refuses."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from polyexec.config import Settings
from polyexec.core.models import SignatureType
from tests.config.support import FUNDER, config_error, load, throwaway_key

# ---------------------------------------------------------------------------- accepted values


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


@pytest.mark.parametrize("addr", ["0.0.0.0:80", "[::1]:9000", "localhost:0", "status.internal:8787"])
def test_status_addresses_in_every_host_form_are_accepted(addr: str) -> None:
    settings = load({"STATUS_HTTP_ADDR": addr})
    assert 0 <= settings.status_http_port <= 65535
    exposed = not settings.status_http_host.startswith(("127.", "::1", "localhost"))
    assert any("STATUS_HTTP_ADDR" in warning for warning in settings.config_warnings()) is exposed


def test_assets_given_as_a_sequence_are_checked_like_text() -> None:
    assert Settings(market_assets=[" ETH", "btc", "eth"]).market_assets == ("eth", "btc")
    with pytest.raises(ValidationError, match="unknown asset"):
        Settings(market_assets=["ada"])


# ---------------------------------------------------------------------------- refused values


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
    ("STATUS_HTTP_ADDR", "127.0.0.1:٨٠"),  # Arabic-Indic digits: isdigit() says yes, a port says no
    ("STATUS_HTTP_ADDR", "127.0.0.1:²"),
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
