"""The ``polyexec`` command line.

Commands (``polyexec <command> --help`` explains each)::

    polyexec live [--sim] [--dry-run]      trade real money (needs LIVE_TRADING=I_UNDERSTAND_THE_RISKS;
                                           --dry-run decides and logs but sends nothing)
    polyexec paper [--sim]                 live data, simulated fills: no order leaves the process
                   [--duration S] [--window-seconds S] [--status-interval S] (paper and live)
    polyexec test connection|limit|market  one-shot checks against the venue
    polyexec sim                           run the built-in venue simulator on loopback
    polyexec status                        ask the running daemon how it is doing
    polyexec config                        print the effective settings and where each came from

Exit codes: 0 success, 1 the command failed while running (``polyexec sim`` cannot bind its
port), 2 usage or configuration error (including the live-trading gate), 3 the command exists but
what it drives is not built yet, 130 interrupted.

Each command is one handler in :data:`HANDLERS` (``"test limit"`` → handler); a handler takes
the parsed arguments and returns the exit code. Later work plugs in by replacing an entry.
Handlers raise :class:`~polyexec.config.ConfigError` for bad settings and
:class:`CommandUnavailable` for missing machinery; :func:`main` turns both into a plain message
and an exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson

from polyexec import __version__
from polyexec.config import (
    DEFAULT_ENV_FILE,
    KNOWN_ASSETS,
    LIVE_TRADING_CONFIRMATION,
    ConfigError,
    Settings,
    load_settings,
    parse_assets,
    parse_host_port,
    parse_port,
)
from polyexec.logging_setup import configure_logging

if TYPE_CHECKING:
    from polyexec.engine.engine_parts import EngineMode
    from polyexec.sim.app import SimConfig
    from polyexec.smoke.checklist import Checklist
    from polyexec.smoke.orders import OrderTarget

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_BUILT",
    "EXIT_OK",
    "EXIT_USAGE",
    "HANDLERS",
    "CommandUnavailable",
    "Handler",
    "build_parser",
    "load_cli_settings",
    "main",
    "refuse_without_live_gate",
    "sim_config",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
"""The command ran and failed (a smoke check with a failing step, a port already taken)."""
EXIT_USAGE: Final = 2
"""Bad arguments, bad settings, or live trading not confirmed."""
EXIT_NOT_BUILT: Final = 3
EXIT_INTERRUPTED: Final = 130

Handler = Callable[[argparse.Namespace], int]
_T = TypeVar("_T")


class CommandUnavailable(Exception):
    """The command is known but the part of polyexec it drives is not built yet."""

    def __init__(self, command: str, missing: str, issue: str) -> None:
        super().__init__(f"polyexec {command}: {missing} is not built yet (issue: {issue})")


# ---------------------------------------------------------------------------- shared helpers
def _say(message: str) -> None:
    print(message, file=sys.stderr)


def load_cli_settings(args: argparse.Namespace) -> Settings:
    """Load settings for a command (``--env-file``), printing any warnings to stderr.

    The default ``./.env`` may be absent; a file named with ``--env-file`` must exist.
    """
    env_file: Path | None = args.env_file
    if env_file is None:
        env_file = DEFAULT_ENV_FILE
    elif not env_file.is_file():
        raise ConfigError([f"--env-file {env_file}: no such file"])
    settings = load_settings(env_file=env_file)
    for warning in settings.config_warnings():
        _say(f"polyexec: warning: {warning}")
    return settings


def refuse_without_live_gate(command: str, settings: Settings, sim: bool) -> bool:
    """True (after explaining why) when real money would move without the operator's consent."""
    if sim or settings.live_trading_allowed:
        return False
    _say(
        f"polyexec {command}: refusing to trade real money: set "
        f"LIVE_TRADING={LIVE_TRADING_CONFIRMATION} to confirm, or add --sim to run against the "
        "built-in simulator (`polyexec paper` trades on paper with live data)"
    )
    return True


# ---------------------------------------------------------------------------- handlers
def run_live(args: argparse.Namespace) -> int:
    settings = load_cli_settings(args)
    # A dry run sends nothing, so it needs no confirmation; real orders to the venue do.
    if not args.dry_run and refuse_without_live_gate("live", settings, args.sim):
        return EXIT_USAGE
    from polyexec.engine.engine_parts import EngineMode

    return _run_engine(settings, args, EngineMode.DRY_RUN if args.dry_run else EngineMode.LIVE)


def run_paper(args: argparse.Namespace) -> int:
    settings = load_cli_settings(args)
    from polyexec.engine.engine_parts import EngineMode

    return _run_engine(settings, args, EngineMode.PAPER)


def _run_engine(settings: Settings, args: argparse.Namespace, mode: EngineMode) -> int:
    """Run the engine until ``--duration`` ends or a signal stops it (SIGTERM: exit 0 after a
    clean stop; Ctrl-C: 130 after the same clean stop). With ``--sim`` the simulator runs in this
    process and every URL points at it."""
    import signal

    from polyexec.engine.engine import Engine, EngineOptions
    from polyexec.engine.engine_parts import EngineMode
    from polyexec.engine.sim_reconciliation import compare_with_simulator
    from polyexec.sim_mode import simulated_venue

    if args.window_seconds is not None and not args.sim:
        raise ConfigError(["--window-seconds only applies with --sim (the venue's windows are 15 minutes)"])
    window_seconds = args.window_seconds or 900
    options = EngineOptions(
        mode=mode,
        duration_s=args.duration,
        window_seconds=window_seconds,
        status_interval_s=args.status_interval,
        # Short simulated windows roll every minute: look for the next one more often.
        discovery_interval_s=min(5.0, max(0.5, window_seconds / 20)),
        # The simulator's books are quieter than the venue's (see EngineOptions.book_silence_s).
        book_silence_s=30.0 if args.sim else 5.0,
    )
    interrupted = False

    async def run_engine(engine_settings: Settings) -> tuple[Engine, int]:
        nonlocal interrupted
        configure_logging(engine_settings, stream=sys.stderr)
        engine = Engine(engine_settings, options)
        loop = asyncio.get_running_loop()

        def on_interrupt() -> None:
            nonlocal interrupted
            interrupted = True
            engine.request_stop("interrupted (Ctrl-C)")

        loop.add_signal_handler(signal.SIGTERM, engine.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
        try:
            code = await engine.run()
        finally:
            loop.remove_signal_handler(signal.SIGTERM)
            loop.remove_signal_handler(signal.SIGINT)
        return engine, code

    async def run() -> int:
        if not args.sim:
            return (await run_engine(settings))[1]
        async with simulated_venue(settings, seed=args.seed, window_seconds=window_seconds) as venue:
            preset = venue.settings.strategy_preset
            source = venue.settings.source_of("STRATEGY_PRESET")
            _say(f"polyexec: --sim: simulator at {venue.simulator.base_url}, preset {preset} ({source})")
            engine, code = await run_engine(venue.settings)
            if mode is not EngineMode.LIVE or engine.parts is None or code != EXIT_OK:
                return code
            # Real signed orders went to the simulator: its own account must agree with ours.
            comparison = await compare_with_simulator(
                venue.simulator.admin_url,
                engine.parts.signer.address,
                engine.parts.portfolio,
                starting_balance=venue.simulator.simulator.config.start_balance,
                fills=int(str(engine.parts.orders.status()["fills"])),
            )
            verdict = "agrees with" if comparison.agrees else "DISAGREES with"
            print(f"polyexec: --sim: the simulator's account {verdict} the portfolio")
            for line in comparison.lines:
                print(f"  {line}")
            return EXIT_OK if comparison.agrees else EXIT_FAILED

    code = asyncio.run(run())
    return EXIT_INTERRUPTED if interrupted and code == EXIT_OK else code


def _configure_check_logging(settings: Settings) -> None:
    """Checks print their checklist on stdout; logs go to LOG_DIR and, from warnings up, stderr."""
    level = "debug" if settings.log_level == "debug" else "warning"
    configure_logging(settings, level=level, stream=sys.stderr, console=True)


def _run_check(
    settings: Settings, sim: bool, check: Callable[[Settings], Coroutine[Any, Any, Checklist]]
) -> int:
    """Run one smoke check (against an in-process simulator with ``--sim``), print its
    checklist, and return 0 only if every step passed."""
    from polyexec.sim_mode import simulated_venue

    async def run() -> Checklist:
        if not sim:
            _configure_check_logging(settings)
            return await check(settings)
        async with simulated_venue(settings) as venue:
            _configure_check_logging(venue.settings)  # redacts the generated key too
            _say(f"polyexec: --sim: simulator at {venue.simulator.base_url}")
            return await check(venue.settings)

    checklist = asyncio.run(run())
    print(checklist.render())
    return EXIT_OK if checklist.passed else EXIT_FAILED


def run_test_connection(args: argparse.Namespace) -> int:
    from polyexec.smoke.connection import check_connection

    settings = load_cli_settings(args)
    return _run_check(settings, args.sim, lambda s: check_connection(s, timeout_s=args.timeout))


def _order_target(args: argparse.Namespace, settings: Settings) -> tuple[Settings, OrderTarget]:
    """The market and outcome of a smoke order (``--asset``, ``--outcome``), and settings whose
    MARKET_ASSETS include that asset: discovery (and the simulator, with --sim) look at no other."""
    from polyexec.core.models import Outcome
    from polyexec.smoke.orders import OrderTarget

    asset = args.asset or settings.market_assets[0]
    if asset not in settings.market_assets:
        settings = settings.model_copy(update={"market_assets": (*settings.market_assets, asset)})
    return settings, OrderTarget(asset=asset, outcome=Outcome.UP if args.outcome == "up" else Outcome.DOWN)


def run_test_limit(args: argparse.Namespace) -> int:
    from polyexec.smoke.orders import check_limit

    settings = load_cli_settings(args)
    if refuse_without_live_gate("test limit", settings, args.sim):
        return EXIT_USAGE
    settings, target = _order_target(args, settings)
    return _run_check(
        settings,
        args.sim,
        lambda s: check_limit(s, target, price=args.price, size=args.size, timeout_s=args.timeout),
    )


def run_test_market(args: argparse.Namespace) -> int:
    from polyexec.smoke.orders import check_market

    settings = load_cli_settings(args)
    if refuse_without_live_gate("test market", settings, args.sim):
        return EXIT_USAGE
    if not args.sim and not args.yes:
        _say(
            f"polyexec test market: this spends real money (about ${args.amount} plus fees, bought "
            "then sold back at market): add --yes to confirm"
        )
        return EXIT_USAGE
    settings, target = _order_target(args, settings)
    slippage = settings.risk_limits().max_slippage_cents / 100
    return _run_check(
        settings,
        args.sim,
        lambda s: check_market(
            s, target, amount=args.amount, max_price=args.max_price, slippage=slippage, timeout_s=args.timeout
        ),
    )


def sim_config(args: argparse.Namespace) -> SimConfig:
    """The simulator's settings from the ``polyexec sim`` flags."""
    from polyexec.sim.app import SimConfig

    return SimConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        window_seconds=args.window_seconds,
        assets=args.assets,
        start_balance=args.start_balance,
        clock_speed=args.speed,
        # Clients stamp auth headers with wall time: a sped-up clock would make them all stale.
        auth_window_s=60.0 if args.speed == 1.0 else None,
    )


def run_sim(args: argparse.Namespace) -> int:
    # Imported here: the simulator pulls in aiohttp and eth_account, which other commands
    # should not pay for at start-up.
    from polyexec.sim.app import run_foreground

    return run_foreground(sim_config(args))


def run_status(args: argparse.Namespace) -> int:
    if args.addr is None:
        load_cli_settings(args)
    raise CommandUnavailable("status", "the status server", "operations")


def run_config(args: argparse.Namespace) -> int:
    settings = load_cli_settings(args)
    rows = settings.describe()
    if args.json:
        document = {
            "settings": [row._asdict() for row in rows],
            "live_trading_allowed": settings.live_trading_allowed,
            "warnings": list(settings.config_warnings()),
        }
        print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return EXIT_OK
    name_width = max(len("NAME"), *(len(row.name) for row in rows))
    value_width = max(len("VALUE"), *(len(row.value) for row in rows))
    print(f"{'NAME':<{name_width}}  {'VALUE':<{value_width}}  SOURCE")
    for row in rows:
        print(f"{row.name:<{name_width}}  {row.value:<{value_width}}  {row.source}")
    if settings.live_trading_allowed:
        print("\nlive trading: ALLOWED (LIVE_TRADING confirms the risks)")
    else:
        print(f"\nlive trading: not allowed (set LIVE_TRADING={LIVE_TRADING_CONFIRMATION} to allow)")
    return EXIT_OK


HANDLERS: dict[str, Handler] = {
    "live": run_live,
    "paper": run_paper,
    "test connection": run_test_connection,
    "test limit": run_test_limit,
    "test market": run_test_market,
    "sim": run_sim,
    "status": run_status,
    "config": run_config,
}


# ---------------------------------------------------------------------------- argument types
def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _price(text: str) -> Decimal:
    value = _decimal(text)
    if not Decimal(0) < value < Decimal(1):
        raise argparse.ArgumentTypeError(f"a price is between 0 and 1 exclusive (got {text})")
    return value


def _positive(text: str) -> Decimal:
    value = _decimal(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0 (got {text})")
    return value


def _non_negative(text: str) -> Decimal:
    value = _decimal(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative (got {text})")
    return value


def _checked(check: Callable[[str], _T], text: str) -> _T:
    """Run one of the settings' checks on an option: its message becomes the usage error."""
    try:
        return check(text)
    except ValueError as exc:  # pydantic's custom errors are ValueErrors
        raise argparse.ArgumentTypeError(f"{exc} (got {text!r})") from None


def _port(text: str) -> int:
    return _checked(parse_port, text)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0 (got {text!r})")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text!r})")
    return value


def _assets(text: str) -> tuple[str, ...]:
    return _checked(parse_assets, text)


def _host_port(text: str) -> str:
    _checked(parse_host_port, text)
    return text


def _asset(text: str) -> str:
    if text.lower() not in KNOWN_ASSETS:
        raise argparse.ArgumentTypeError(f"known assets: {', '.join(KNOWN_ASSETS)} (got {text!r})")
    return text.lower()


# ---------------------------------------------------------------------------- parser
_SIM_HELP = (
    "start the built-in simulator in-process and point every URL at it (no real money, no internet needed)"
)
_LIVE_HELP = f"""\
Run the trading daemon against Polymarket with real money: discover the 15-minute markets of
MARKET_ASSETS, follow Binance and the venue's books, run the strategies of STRATEGY_PRESET and
send orders within the risk limits, until stopped (SIGTERM) or halted (KILL_SWITCH_FILE).

Refuses to start unless LIVE_TRADING={LIVE_TRADING_CONFIRMATION} (check `polyexec config`),
except with --sim, which trades against the built-in simulator instead of the venue."""
_PAPER_HELP = """\
Run the daemon on live market data with simulated fills: orders are matched against the live
book inside polyexec and never leave the process. No key or funds needed. With --sim the market
data comes from the built-in simulator too, so it runs fully offline."""
_TEST_HELP = """\
One-shot checks that the account, keys and network work, before running the daemon."""
_CONNECTION_HELP = """\
Check the REST API (reachability, clock skew), L1/L2 authentication (derives API credentials
when POLYMARKET_API_KEY is not set), balance and allowances, the market and user WebSocket
channels, and the Binance and RTDS streams. Places no orders."""
_LIMIT_HELP = f"""\
Sign and post one post-only GTC BUY at --price (default 0.01, far below the market so it rests),
confirm it is open over REST and on the user channel, cancel it, and confirm it is gone on both.
Proves signing, auth and the order lifecycle without trading. Prints a checklist; exit 0 only if
every step passed. A real order: needs LIVE_TRADING={LIVE_TRADING_CONFIRMATION} unless --sim."""
_MARKET_HELP = f"""\
A real round trip: buy --amount dollars (default $1) of the current window with one FOK order no
worse than --max-price, wait for the trade to be CONFIRMED, then sell the shares back with one FOK
order no worse than the best bid less MAX_SLIPPAGE_CENTS, and wait for CONFIRMED again. Reports
fill prices, fees and what the round trip cost. Spends real money: needs --yes and
LIVE_TRADING={LIVE_TRADING_CONFIRMATION}, unless --sim."""
_SIM_COMMAND_HELP = """\
Run the built-in Polymarket + Binance + Gamma simulator on one loopback port: CLOB REST at /,
CLOB WebSockets at /ws/market and /ws/user, Gamma at /gamma, Binance streams at /binance,
RTDS at /rtds, fault controls at /sim. Point another polyexec at it, or the official SDK."""
_STATUS_HELP = """\
Ask the running daemon (its status server at STATUS_HTTP_ADDR) for its state: engine state,
feeds and their lag, open orders, positions, PnL, risk breakers and the kill switch."""
_CONFIG_HELP = """\
Print every setting's effective value (secrets masked) and where it came from: env, credentials,
.env, preset:<name> or default. Exits 2 with the reason when a setting is invalid."""


def _add_env_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="settings file to read (default: ./.env when present); the environment wins over it",
    )


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    text: str,
    key: str | None,
) -> argparse.ArgumentParser:
    """Add one command; ``key`` names its handler in HANDLERS (None: it only groups others)."""
    parser = commands.add_parser(
        name, help=summary, description=text, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if key is not None:
        parser.set_defaults(command=key)
    return parser


def _add_order_target(parser: argparse.ArgumentParser, *, timeout: float) -> None:
    parser.add_argument(
        "--asset",
        type=_asset,
        default=None,
        help="asset of the 15-minute market (default: first of MARKET_ASSETS)",
    )
    parser.add_argument(
        "--outcome", choices=("up", "down"), default="up", help="outcome to buy (default: up)"
    )
    parser.add_argument("--sim", action="store_true", help=_SIM_HELP)
    _add_timeout(parser, timeout)
    _add_env_file(parser)


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sim", action="store_true", help=_SIM_HELP)
    parser.add_argument(
        "--duration",
        type=_positive_float,
        default=None,
        metavar="S",
        help="run this many seconds, then stop cleanly (default: until stopped)",
    )
    parser.add_argument(
        "--window-seconds",
        type=_positive_int,
        default=None,
        metavar="S",
        help="with --sim: the simulated markets' window length, e.g. 60 to see windows resolve quickly",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="with --sim: the simulator's random seed (default: 0)",
    )
    parser.add_argument(
        "--status-interval",
        type=_positive_float,
        default=300.0,
        metavar="S",
        help="seconds between console status lines (default: 300)",
    )
    _add_env_file(parser)


def _add_timeout(parser: argparse.ArgumentParser, default: float) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=default,
        metavar="S",
        help=f"seconds each step may take (default: {default:g})",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full ``polyexec`` argument parser (every command and option)."""
    parser = argparse.ArgumentParser(
        prog="polyexec",
        description="polyexec: a 24/7 execution daemon for Polymarket's 15-minute crypto Up/Down markets.",
        epilog="Exit codes: 0 ok, 1 failed, 2 usage/configuration error, 3 not built yet. "
        "Run `polyexec <command> --help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"polyexec {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="<command>", required=True)

    live = _command(
        commands, "live", "trade real money (needs LIVE_TRADING confirmation)", _LIVE_HELP, "live"
    )
    live.add_argument(
        "--dry-run",
        action="store_true",
        help="connect, decide and log every order it would send, but send none (no confirmation needed)",
    )
    _add_engine_options(live)

    paper = _command(commands, "paper", "live data, simulated fills: no real orders", _PAPER_HELP, "paper")
    _add_engine_options(paper)

    test = _command(commands, "test", "one-shot checks: connection, limit, market", _TEST_HELP, None)
    checks = test.add_subparsers(title="checks", metavar="<check>", required=True)
    connection = _command(
        checks, "connection", "reach and authenticate; no orders", _CONNECTION_HELP, "test connection"
    )
    connection.add_argument("--sim", action="store_true", help=_SIM_HELP)
    _add_timeout(connection, 15.0)
    _add_env_file(connection)
    limit = _command(checks, "limit", "post one resting order and cancel it", _LIMIT_HELP, "test limit")
    limit.add_argument("--price", type=_price, default=Decimal("0.01"), help="limit price (default: 0.01)")
    limit.add_argument("--size", type=_positive, default=Decimal(5), help="shares (default: 5, the minimum)")
    _add_order_target(limit, timeout=15.0)
    market = _command(
        checks, "market", "buy the minimum once and wait for it to settle", _MARKET_HELP, "test market"
    )
    market.add_argument(
        "--amount",
        type=_positive,
        default=Decimal(1),
        metavar="USD",
        help="dollars to buy for (default: 1, the venue's smallest marketable BUY)",
    )
    market.add_argument(
        "--max-price",
        type=_price,
        default=None,
        help="worst price accepted for the BUY (default: best ask + MAX_SLIPPAGE_CENTS)",
    )
    market.add_argument(
        "--yes", action="store_true", help="confirm spending real money (not needed with --sim)"
    )
    _add_order_target(market, timeout=30.0)

    sim = _command(commands, "sim", "run the built-in venue simulator on loopback", _SIM_COMMAND_HELP, "sim")
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    sim.add_argument(
        "--port", type=_port, default=8080, help="port to bind, 0 for any free one (default: 8080)"
    )
    sim.add_argument(
        "--seed", type=int, default=0, metavar="N", help="random seed: same seed, same run (default: 0)"
    )
    sim.add_argument(
        "--window-seconds",
        type=_positive_int,
        default=900,
        metavar="S",
        help="market window length (default: 900)",
    )
    sim.add_argument(
        "--assets", type=_assets, default=("btc", "eth"), help="markets to list (default: btc,eth)"
    )
    sim.add_argument(
        "--start-balance",
        type=_non_negative,
        default=Decimal(1000),
        metavar="USD",
        help="pUSD per account (default: 1000)",
    )
    sim.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="simulated seconds per real second, e.g. 30 to roll windows fast (default: 1)",
    )

    status = _command(commands, "status", "show the running daemon's state", _STATUS_HELP, "status")
    status.add_argument(
        "--addr", type=_host_port, default=None, help="status server (default: STATUS_HTTP_ADDR)"
    )
    status.add_argument("--json", action="store_true", help="print the raw JSON")
    _add_env_file(status)

    config = _command(
        commands, "config", "print the effective settings (secrets masked)", _CONFIG_HELP, "config"
    )
    config.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _add_env_file(config)
    return parser


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    return exc.code if isinstance(exc.code, int) else EXIT_USAGE


def main(argv: Sequence[str] | None = None, handlers: Mapping[str, Handler] | None = None) -> int:
    """Run one ``polyexec`` command; returns the process exit code (``--help`` → 0)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse already printed
        return _exit_code(exc)
    handler = (HANDLERS if handlers is None else handlers)[args.command]
    try:
        return handler(args)
    except ConfigError as exc:
        for message in exc.messages:
            _say(f"polyexec: configuration error: {message}")
        return EXIT_USAGE
    except CommandUnavailable as exc:
        _say(str(exc))
        return EXIT_NOT_BUILT
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
