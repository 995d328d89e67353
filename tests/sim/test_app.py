"""Assembling and running the simulator: in-process, with the market driver, and ``polyexec sim``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import aiohttp
import httpx

from polyexec.sim.app import SimConfig, build_parser, config_from_args, main, start_simulator


async def test_in_process_urls_and_environment() -> None:
    running = await start_simulator(SimConfig(port=0, driver=False))
    try:
        port = running.port
        assert port > 0
        assert running.env() == {
            "CLOB_HOST": f"http://127.0.0.1:{port}",
            "CLOB_WS_URL": f"ws://127.0.0.1:{port}/ws",
            "GAMMA_HOST": f"http://127.0.0.1:{port}/gamma",
            "BINANCE_WS_URL": f"ws://127.0.0.1:{port}/binance",
            "RTDS_WS_URL": f"ws://127.0.0.1:{port}/rtds",
        }
        async with aiohttp.ClientSession() as http, http.get(running.clob_host + "/version") as resp:
            assert await resp.json() == {"version": 2}
    finally:
        await running.stop()


async def test_with_the_market_driver() -> None:
    config = SimConfig(port=0, assets=("btc",), driver_options={"flow_enabled": False})
    running = await start_simulator(config)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(running.admin_url + "/markets") as resp:
                markets = await resp.json()
            assert len(markets) >= 2  # the current and the next window
            slug = markets[0]["slug"]
            async with http.get(f"{running.gamma_host}/markets", params={"slug": slug}) as resp:
                assert resp.status == 200
            async with http.get(
                running.clob_host + "/book", params={"token_id": markets[0]["up_token_id"]}
            ) as resp:
                assert resp.status == 200
            async with http.post(running.admin_url + "/binance/shutdown") as resp:
                assert (resp.status, await resp.json()) == (200, {"closed": 0})
    finally:
        await running.stop()


def test_cli_arguments() -> None:
    args = build_parser().parse_args(
        ["--port", "0", "--seed", "7", "--assets", "btc, sol", "--start-balance", "50"]
    )
    config = config_from_args(args)
    assert (config.port, config.seed, config.assets, str(config.start_balance)) == (
        0,
        7,
        ("btc", "sol"),
        "50",
    )
    assert config.auth_window_s == 60.0
    fast = config_from_args(build_parser().parse_args(["--speed", "10"]))
    assert (fast.clock_speed, fast.auth_window_s) == (10.0, None)
    assert main(["--speed", "0"]) == 2


def test_polyexec_sim_runs_in_the_foreground_and_stops_on_sigterm() -> None:
    code = "import sys; from polyexec.sim.app import main; sys.exit(main(['--port', '0', '--assets', 'btc']))"
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ) as process:
        try:
            assert process.stdout is not None
            env: dict[str, str] = {}
            deadline = time.monotonic() + 20
            while "RTDS_WS_URL" not in env and time.monotonic() < deadline:
                line = process.stdout.readline()
                if line.strip().startswith("export "):
                    name, _, value = line.strip().removeprefix("export ").partition("=")
                    env[name] = value
            assert set(env) == {"CLOB_HOST", "CLOB_WS_URL", "GAMMA_HOST", "BINANCE_WS_URL", "RTDS_WS_URL"}
            assert httpx.get(env["CLOB_HOST"] + "/ok", timeout=5).json() == "OK"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
