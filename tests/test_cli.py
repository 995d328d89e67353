"""The ``polyexec`` command line: help, config output, exit codes, the live-trading gate."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from polyexec.cli import (
    EXIT_FAILED,
    EXIT_NOT_BUILT,
    EXIT_OK,
    EXIT_USAGE,
    HANDLERS,
    build_parser,
    main,
    sim_config,
)
from polyexec.config import Settings

COMMANDS = ("live", "paper", "test", "sim", "status", "config")
GATE = "I_UNDERSTAND_THE_RISKS"
Capture = pytest.CaptureFixture[str]


def polyexec_free_environment() -> dict[str, str]:
    """The current environment without any variable polyexec reads."""
    names = {name.upper() for name in Settings.model_fields} | {"CREDENTIALS_DIRECTORY"}
    return {key: value for key, value in os.environ.items() if key.upper() not in names}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer settings leak in: a clean environment and an empty working directory."""
    for name in os.environ.keys() - polyexec_free_environment().keys():
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------- help


def test_help_lists_every_command(capsys: Capture) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == EXIT_OK
    for command in COMMANDS:
        assert f"    {command} " in out


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (["live"], ["--sim", "--dry-run", "--duration", "--window-seconds", "--env-file"]),
        (["paper"], ["--sim", "--duration", "--window-seconds", "--status-interval", "--env-file"]),
        (["test"], ["connection", "limit", "market"]),
        (["test", "connection"], ["--sim"]),
        (["test", "limit"], ["--sim", "--price", "--size", "--asset", "--outcome", "--timeout"]),
        (["test", "market"], ["--sim", "--amount", "--max-price", "--yes", "--asset", "--timeout"]),
        (
            ["sim"],
            ["--host", "--port", "--seed", "--window-seconds", "--assets", "--start-balance", "--speed"],
        ),
        (["status"], ["--addr", "--json"]),
        (["config"], ["--json", "--env-file"]),
    ],
)
def test_each_command_explains_itself(capsys: Capture, argv: list[str], options: list[str]) -> None:
    code, out, _ = run(capsys, *argv, "--help")
    assert code == EXIT_OK
    for option in options:
        assert option in out
    assert len(out.split("\n\n")[1]) > 60  # a description paragraph, not just the usage line


def test_every_handler_is_reachable_from_the_parser() -> None:
    parser = build_parser()
    argv_for = {key: key.split() for key in HANDLERS}
    assert {parser.parse_args(argv).command for argv in argv_for.values()} == set(HANDLERS)


def test_sim_options_are_normalised_by_the_settings_checks() -> None:
    args = build_parser().parse_args(["sim", "--assets", " BTC,eth,btc", "--port", "0"])
    assert args.assets == ("btc", "eth")
    assert args.port == 0


def test_usage_errors_exit_2(capsys: Capture) -> None:
    assert run(capsys, "frobnicate")[0] == EXIT_USAGE
    assert run(capsys)[0] == EXIT_USAGE
    assert run(capsys, "test")[0] == EXIT_USAGE
    assert run(capsys, "sim", "--assets", "btc,ada")[0] == EXIT_USAGE
    assert run(capsys, "sim", "--port", "70000")[0] == EXIT_USAGE
    assert run(capsys, "sim", "--port", "٨٠")[0] == EXIT_USAGE
    assert run(capsys, "sim", "--assets", " , ")[0] == EXIT_USAGE
    assert run(capsys, "sim", "--speed", "0")[0] == EXIT_USAGE
    assert run(capsys, "test", "limit", "--price", "1.5")[0] == EXIT_USAGE
    assert run(capsys, "status", "--addr", "nowhere")[0] == EXIT_USAGE


# ---------------------------------------------------------------------------- config


def test_config_prints_masked_values_and_sources(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = "0x" + secrets.token_hex(32)
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", key)
    (tmp_path / ".env").write_text("STRATEGY_PRESET=balanced\n", encoding="utf-8")
    code, out, err = run(capsys, "config")
    assert code == EXIT_OK
    assert key not in out + err
    assert key[2:] not in out + err
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["POLYMARKET_PRIVATE_KEY"][1:] == ["********", "env"]
    assert rows["STRATEGY_PRESET"][1:] == ["balanced", ".env"]
    assert rows["MAX_EXPOSURE_USD"][1:] == ["500", "preset:balanced"]
    assert rows["CLOB_HOST"][1:] == ["https://clob.polymarket.com", "default"]


def test_config_json_is_machine_readable(capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVE_TRADING", GATE)
    code, out, _ = run(capsys, "config", "--json")
    assert code == EXIT_OK
    document = json.loads(out)
    assert document["live_trading_allowed"] is True
    names = [row["name"] for row in document["settings"]]
    assert names == [name.upper() for name in Settings.model_fields]


def test_config_reads_an_explicit_env_file(capsys: Capture, tmp_path: Path) -> None:
    settings_file = tmp_path / "elsewhere.env"
    settings_file.write_text("MARKET_ASSETS=doge\n", encoding="utf-8")
    code, out, _ = run(capsys, "config", "--env-file", str(settings_file))
    assert code == EXIT_OK
    assert any(line.split()[:2] == ["MARKET_ASSETS", "doge"] for line in out.splitlines() if line.strip())


def test_a_missing_explicit_env_file_exits_2(capsys: Capture, tmp_path: Path) -> None:
    code, _, err = run(capsys, "config", "--env-file", str(tmp_path / "nope.env"))
    assert code == EXIT_USAGE
    assert "--env-file" in err


def test_a_bad_value_exits_2_naming_the_variable_without_a_traceback(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAIN_ID", "1")
    bad_key = "0x" + secrets.token_hex(31)
    monkeypatch.setenv("POLYMARKET_PRIVATE_KEY", bad_key)
    code, out, err = run(capsys, "config")
    assert code == EXIT_USAGE
    assert "CHAIN_ID" in err
    assert "POLYMARKET_PRIVATE_KEY" in err
    assert bad_key not in out + err
    assert "Traceback" not in err
    assert out == ""


@pytest.mark.parametrize("argv", [["live", "--sim"], ["paper"], ["test", "connection"], ["status"]])
def test_bad_config_stops_every_config_reading_command(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("MARKET_ASSETS", "ada")
    code, _, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert "MARKET_ASSETS" in err


# ---------------------------------------------------------------------------- not built yet


@pytest.mark.parametrize("argv", [["status", "--addr", "127.0.0.1:8787"]])
def test_commands_not_built_yet_say_so_and_exit_3(capsys: Capture, argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == EXIT_NOT_BUILT
    assert "not built yet" in err


# ---------------------------------------------------------------------------- the live-trading gate


@pytest.mark.parametrize("argv", [["live"], ["test", "limit"], ["test", "market"]])
@pytest.mark.parametrize("gate", [None, "true", "i_understand_the_risks"])
def test_real_money_commands_refuse_without_the_gate(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, argv: list[str], gate: str | None
) -> None:
    if gate is not None:
        monkeypatch.setenv("LIVE_TRADING", gate)
    code, _, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert "LIVE_TRADING" in err
    assert "not built" not in err  # the gate is checked first


def test_test_market_also_wants_yes_for_real_money(capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVE_TRADING", GATE)
    code, _, err = run(capsys, "test", "market")
    assert code == EXIT_USAGE
    assert "--yes" in err


def test_live_passes_the_gate_when_confirmed(capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVE_TRADING", GATE)
    # A venue that is not there (a closed loopback port): past the gate, the start itself fails.
    monkeypatch.setenv("CLOB_HOST", f"http://127.0.0.1:{_closed_port()}")
    code, out, err = run(capsys, "live", "--duration", "5")
    assert code == EXIT_FAILED
    assert "start failed" in out
    assert "LIVE_TRADING" not in err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def test_window_seconds_is_only_for_the_simulator(capsys: Capture) -> None:
    code, _, err = run(capsys, "paper", "--window-seconds", "60")
    assert code == EXIT_USAGE
    assert "--window-seconds" in err


@pytest.mark.timeout(60)
def test_paper_sim_runs_for_its_duration_and_prints_the_pnl_summary(capsys: Capture) -> None:
    code, out, err = run(capsys, "paper", "--sim", "--duration", "4", "--window-seconds", "20")
    assert code == EXIT_OK, err
    assert "polyexec paper: RUNNING" in out
    assert "=== PnL Summary ===" in out
    assert "--sim: simulator at http://127.0.0.1:" in err
    assert "preset conservative (--sim)" in err


@pytest.mark.timeout(60)
def test_live_dry_run_needs_no_confirmation_and_sends_nothing(capsys: Capture) -> None:
    code, out, err = run(capsys, "live", "--dry-run", "--sim", "--duration", "4", "--window-seconds", "20")
    assert code == EXIT_OK, err
    assert "polyexec dry-run: RUNNING" in out
    assert "=== PnL Summary ===" in out


# ---------------------------------------------------------------------------- dispatch seam


def test_handlers_are_a_dispatch_table_later_work_can_replace(capsys: Capture) -> None:
    seen: list[argparse.Namespace] = []

    def fake_paper(args: argparse.Namespace) -> int:
        seen.append(args)
        return 0

    assert main(["paper", "--sim"], handlers={**HANDLERS, "paper": fake_paper}) == EXIT_OK
    assert seen[0].sim is True
    assert seen[0].command == "paper"


# ---------------------------------------------------------------------------- as a real process


def test_python_dash_m_polyexec_help_in_a_subprocess(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "polyexec", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=polyexec_free_environment(),
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_OK
    for command in COMMANDS:
        assert command in result.stdout
    assert result.stdout.startswith("usage: polyexec ")


def test_a_bad_value_in_a_subprocess_exits_2_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "polyexec", "config"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**polyexec_free_environment(), "POLYMARKET_SIGNATURE_TYPE": "9"},
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_USAGE
    assert "POLYMARKET_SIGNATURE_TYPE" in result.stderr
    assert "Traceback" not in result.stderr


def test_polyexec_sim_serves_on_loopback_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import signal
    import time
    import urllib.request

    process = subprocess.Popen(
        [sys.executable, "-m", "polyexec", "sim", "--port", "0", "--seed", "7", "--assets", "btc"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=polyexec_free_environment(),
    )
    try:
        assert process.stdout is not None
        exports: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while "RTDS_WS_URL" not in exports and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.strip().startswith("export "):
                name, _, value = line.strip().removeprefix("export ").partition("=")
                exports[name] = value
        assert set(exports) >= {"CLOB_HOST", "CLOB_WS_URL", "GAMMA_HOST", "BINANCE_WS_URL", "RTDS_WS_URL"}
        assert exports["CLOB_HOST"].startswith("http://127.0.0.1:")
        with urllib.request.urlopen(exports["CLOB_HOST"] + "/time", timeout=10) as response:
            assert abs(int(response.read()) - time.time()) < 60
        with urllib.request.urlopen(exports["CLOB_HOST"] + "/ok", timeout=10) as response:
            assert json.loads(response.read()) == "OK"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == EXIT_OK
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)  # drains and closes the pipes


def test_sim_flags_become_the_simulator_settings() -> None:
    args = build_parser().parse_args(
        ["sim", "--port", "0", "--seed", "7", "--assets", "btc, sol", "--start-balance", "50"]
    )
    config = sim_config(args)
    assert (config.port, config.seed, config.assets, str(config.start_balance)) == (
        0,
        7,
        ("btc", "sol"),
        "50",
    )
    assert config.auth_window_s == 60.0
    fast = sim_config(build_parser().parse_args(["sim", "--speed", "10"]))
    assert (fast.clock_speed, fast.auth_window_s) == (10.0, None)


# ---------------------------------------------------------------------------- smoke checks, end to end


@pytest.mark.parametrize(
    ("argv", "steps"),
    [
        (["test", "connection", "--sim"], 10),
        (["test", "limit", "--sim"], 8),
        (["test", "market", "--sim", "--asset", "eth", "--outcome", "down"], 5),
        # An asset outside MARKET_ASSETS (default btc,eth) is looked for too.
        (["test", "limit", "--sim", "--asset", "sol", "--outcome", "down"], 8),
    ],
)
def test_smoke_checks_pass_against_the_built_in_simulator(
    capsys: Capture, argv: list[str], steps: int
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == EXIT_OK, out + err
    assert f"all {steps} checks passed" in out
    assert "Traceback" not in err


def test_a_failing_smoke_check_exits_1(capsys: Capture) -> None:
    # 0.0155 is off both ticks the simulated market can have (0.01, 0.001): always refused.
    code, out, _ = run(capsys, "test", "limit", "--sim", "--price", "0.0155")
    assert code == EXIT_FAILED
    assert "[FAIL] place post-only order" in out
    assert "not on the market's tick" in out


@pytest.mark.timeout(60)
def test_live_sim_ends_with_the_simulators_account_agreeing_with_the_portfolio(capsys: Capture) -> None:
    code, out, err = run(capsys, "live", "--sim", "--duration", "4", "--window-seconds", "20")
    assert code == EXIT_OK, err
    assert "polyexec live: RUNNING" in out
    assert "the simulator's account agrees with the portfolio" in out
    assert "open orders at the venue: 0" in out
