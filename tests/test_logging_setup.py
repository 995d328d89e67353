"""Logging: JSON lines to the file and stdout, readable lines on a terminal, and no secret survives."""

from __future__ import annotations

import io
import json
import logging
import secrets
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyexec.config import Settings, load_settings
from polyexec.logging_setup import (
    LOG_FILE_NAME,
    REDACTED,
    SecretRedactor,
    close_logging,
    configure_logging,
    failed_log_writes,
    get_logger,
)
from tests.config.support import API_SECRET, throwaway_key


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    close_logging()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        {
            "POLYMARKET_PRIVATE_KEY": throwaway_key(),
            "POLYMARKET_API_KEY": "5b3e3c36-" + secrets.token_hex(8),
            "POLYMARKET_SECRET": API_SECRET,
            "POLYMARKET_PASSPHRASE": "pp-" + secrets.token_hex(16),
            "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/42/" + secrets.token_urlsafe(32),
            "LOG_DIR": str(tmp_path / "logs"),
        },
        None,
    )


def secret_forms(settings: Settings) -> list[str]:
    """Each secret plus the variants a careless log line could contain."""
    assert settings.polymarket_private_key is not None
    assert settings.discord_webhook_url is not None
    key = settings.polymarket_private_key.get_secret_value()
    webhook = settings.discord_webhook_url.get_secret_value()
    forms = [key, key[2:], key[2:].upper(), webhook, webhook.rsplit("/", 1)[1]]
    for secret in (settings.polymarket_api_key, settings.polymarket_secret, settings.polymarket_passphrase):
        assert secret is not None
        forms.append(secret.get_secret_value())
    return forms


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def log_everything_dangerous(settings: Settings) -> None:
    key, passphrase, webhook = (
        secret.get_secret_value()
        for secret in (
            settings.polymarket_private_key,
            settings.polymarket_passphrase,
            settings.discord_webhook_url,
        )
        if secret is not None
    )
    log = get_logger(component="test")
    log.info(
        "order_signed",
        signer_key=key,
        nested={"headers": {"POLY_PASSPHRASE": passphrase}, "list": [f"prefix-{key[2:].upper()}-suffix"]},
        url=f"{webhook}?wait=true",
        size=5,
    )
    log.info(f"formatted into the event itself: {passphrase}")
    log.info("named_sensitive", passphrase="not-a-configured-secret", private_key=None)
    try:
        try:
            raise KeyError(key)
        except KeyError as inner:
            raise RuntimeError(f"signing failed with {passphrase}") from inner
    except RuntimeError:
        log.exception("signing_failed")
    logging.getLogger("aiohttp.client").warning("posting to %s failed", webhook)


def test_no_secret_survives_in_the_file_or_on_stdout(settings: Settings) -> None:
    stdout = io.StringIO()
    path = configure_logging(settings, stream=stdout)
    log_everything_dangerous(settings)
    assert path == (Path(settings.log_dir) / LOG_FILE_NAME).absolute()
    file_text = path.read_text(encoding="utf-8")
    for form in secret_forms(settings):
        assert form not in file_text
        assert form not in stdout.getvalue()
        assert form.lower() not in file_text.lower()

    events = json_lines(file_text)
    assert json_lines(stdout.getvalue()) == events  # stdout is not a terminal: the same JSON lines
    by_event = {event["event"]: event for event in events}
    signed = by_event["order_signed"]
    assert signed["signer_key"] == REDACTED
    assert signed["nested"]["headers"]["POLY_PASSPHRASE"] == REDACTED
    assert signed["nested"]["list"] == [f"prefix-{REDACTED}-suffix"]
    assert signed["url"] == f"{REDACTED}?wait=true"
    assert signed["size"] == 5  # non-secrets are untouched
    assert signed["component"] == "test"
    assert by_event["named_sensitive"]["passphrase"] == REDACTED
    assert by_event["named_sensitive"]["private_key"] is None
    failure = by_event["signing_failed"]
    assert failure["level"] == "error"
    assert "RuntimeError" in failure["exception"]
    assert "KeyError" in failure["exception"]  # the chained cause is kept, redacted
    library = [event for event in events if event.get("logger") == "aiohttp.client"]
    assert len(library) == 1
    assert library[0]["level"] == "warning"


def test_a_terminal_gets_readable_lines_without_secrets(settings: Settings) -> None:
    terminal = FakeTerminal()
    path = configure_logging(settings, stream=terminal)
    log_everything_dangerous(settings)
    screen = terminal.getvalue()
    assert "signing_failed" in screen
    with pytest.raises(json.JSONDecodeError):
        json.loads(screen.splitlines()[0])
    for form in secret_forms(settings):
        assert form not in screen
    assert path is not None
    assert len(json_lines(path.read_text(encoding="utf-8"))) == 5  # the file stays JSON


def test_journald_lines_carry_a_syslog_priority(tmp_path: Path) -> None:
    stdout = io.StringIO()
    configure_logging([], log_dir=tmp_path, stream=stdout, journald=True)
    log = get_logger()
    log.info("started")
    log.warning("lagging")
    log.error("failed")
    lines = stdout.getvalue().splitlines()
    assert [line[:3] for line in lines] == ["<6>", "<4>", "<3>"]
    assert [json.loads(line[3:])["event"] for line in lines] == ["started", "lagging", "failed"]


def test_the_log_file_is_private_and_appended(tmp_path: Path) -> None:
    path = configure_logging([], log_dir=tmp_path / "new" / "dir", stream=io.StringIO())
    assert path is not None
    get_logger().info("first")
    close_logging()
    configure_logging([], log_dir=tmp_path / "new" / "dir", stream=io.StringIO())
    get_logger().info("second")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [event["event"] for event in json_lines(path.read_text(encoding="utf-8"))] == ["first", "second"]


def test_configuring_twice_is_idempotent(settings: Settings) -> None:
    stdout = io.StringIO()
    first = configure_logging(settings, stream=stdout)
    second = configure_logging(settings, stream=stdout)
    get_logger().info("once")
    assert first == second
    assert first is not None
    assert len(json_lines(first.read_text(encoding="utf-8"))) == 1
    assert len(json_lines(stdout.getvalue())) == 1


def test_reconfiguring_redacts_new_secrets_in_loggers_bound_before(tmp_path: Path) -> None:
    stdout = io.StringIO()
    configure_logging(["first-secret-value"], stream=stdout)
    bound = get_logger().bind(market="btc-updown-15m-1790616600")
    configure_logging(["second-secret-value"], log_dir=tmp_path, stream=stdout)
    bound.info("leak_attempt", a="second-secret-value")
    assert "second-secret-value" not in stdout.getvalue()
    assert json_lines(stdout.getvalue())[0]["a"] == REDACTED


def test_a_closed_stream_never_raises_into_the_caller(tmp_path: Path) -> None:
    stdout = io.StringIO()
    configure_logging([], log_dir=tmp_path, stream=stdout)
    stdout.close()  # e.g. stdout gone, or a test's captured stream closed after the test
    before = failed_log_writes()
    get_logger().warning("still fine")
    assert failed_log_writes() == before + 1
    assert "still fine" in (tmp_path / LOG_FILE_NAME).read_text()  # the file still got it


def test_events_below_the_level_are_dropped(tmp_path: Path) -> None:
    stdout = io.StringIO()
    configure_logging([], log_dir=tmp_path, stream=stdout, level="warning")
    log = get_logger()
    log.debug("noise")
    log.info("chatter")
    log.warning("kept")
    logging.getLogger("websockets").info("library chatter")
    assert [event["event"] for event in json_lines(stdout.getvalue())] == ["kept"]


def test_settings_supply_the_log_level(tmp_path: Path) -> None:
    stdout = io.StringIO()
    configure_logging(load_settings({"LOG_LEVEL": "debug", "LOG_DIR": str(tmp_path)}, None), stream=stdout)
    get_logger().debug("visible")
    assert json_lines(stdout.getvalue())[0]["event"] == "visible"


def test_a_bad_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log level"):
        configure_logging([], level="loud", stream=io.StringIO())


def test_values_json_cannot_hold_are_written_as_text(tmp_path: Path) -> None:
    stdout = io.StringIO()
    configure_logging(["top-secret-value"], stream=stdout)
    token_id = 71321045679252212594626385532706912750332728571942532289631379312455583992563
    cycle: list[object] = ["top-secret-value"]
    cycle.append(cycle)
    get_logger().info(
        "book", token_id=token_id, price=Decimal("0.52"), path=tmp_path, tags={"a"}, cycle=cycle
    )
    event = json_lines(stdout.getvalue())[0]
    assert event["token_id"] == str(token_id)
    assert event["price"] == "0.52"
    assert event["path"] == str(tmp_path)
    assert event["tags"] == ["a"]
    assert "top-secret-value" not in stdout.getvalue()  # a cycle ends as redacted text, not a crash


def test_redactor_prefers_the_longest_secret_and_ignores_tiny_ones() -> None:
    redactor = SecretRedactor(["abcd", "abcdefgh", "xy", ""])
    assert redactor.redact_text("abcdefgh abcd xy") == f"{REDACTED} {REDACTED} xy"
    assert redactor.redact({"ABCD": ["ABCDEFGH"]}) == {REDACTED: [REDACTED]}
    assert redactor.redact(ValueError("abcd")) == f"ValueError: {REDACTED}"
