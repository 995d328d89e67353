"""The :class:`Settings` model: every polyexec setting, its type and default, and the values derived
from them (effective risk limits and strategy flags, venue URLs, the live-trading gate).

Each field is an environment variable: ``clob_host`` ↔ ``CLOB_HOST``. The field types
(:mod:`polyexec.config.checks`) check single values; :class:`Settings` checks the combinations
(signature type and funder, the three API credentials, risk limits that contradict each other).
Build it with :func:`~polyexec.config.load_settings`, which reads the sources and records where
each value came from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import PrivateAttr, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from polyexec.config.checks import (
    HEX_KEY,
    HTTP_SCHEMES,
    LIVE_TRADING_CONFIRMATION,
    LOWEST_PRICE,
    SIGNATURE_TYPE_LABELS,
    VENUE_MIN_ORDER_SHARES,
    Address,
    AddressList,
    ApiSecret,
    AssetList,
    Cents,
    ChainId,
    Count,
    HostPort,
    HttpUrl,
    LogLevel,
    Percent,
    PresetName,
    PrivateKey,
    SecretHttpUrl,
    SignatureTypeCode,
    Usd,
    WsUrl,
    check_url,
    parse_host_port,
    problem,
)
from polyexec.config.describe import ConfigRow, describe_settings, settings_warnings
from polyexec.config.presets import (
    DEFAULT_STRATEGY_FLAGS,
    FLAG_FIELDS,
    PRESETS,
    RISK_FIELDS,
    Preset,
    StrategyFlags,
)
from polyexec.core.models import SignatureType
from polyexec.core.risk_limits import RiskLimits

__all__ = ["SECRET_SETTINGS", "Settings"]

SECRET_SETTINGS: Final = (
    "POLYMARKET_PRIVATE_KEY",
    "POLYMARKET_API_KEY",
    "POLYMARKET_SECRET",
    "POLYMARKET_PASSPHRASE",
    "DISCORD_WEBHOOK_URL",
    "RPC_URL",  # hosted RPC URLs usually embed an API key
)
"""The settings whose values are secrets: masked everywhere, and the only ones read from
systemd credentials."""


class Settings(BaseSettings):
    """Every polyexec setting, validated. Build it with :func:`load_settings`; constructing it
    directly reads nothing from the environment (so sources stay explicit and tests isolated).

    Risk parameters and strategy flags hold only explicit overrides (``None`` = use the preset);
    read the effective values with :meth:`risk_limits` and :meth:`strategy_flags`.
    """

    # hide_input_in_errors: a ValidationError must never quote a (bad) private key or secret.
    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", case_sensitive=False, hide_input_in_errors=True
    )

    # --- venue account (docs/polymarket-protocol.md §3, §4.3)
    polymarket_private_key: PrivateKey | None = None
    """Signer EOA key, ``0x`` + 64 hex. Needed to sign orders and derive API credentials."""
    polymarket_api_key: SecretStr | None = None
    polymarket_secret: ApiSecret | None = None
    polymarket_passphrase: SecretStr | None = None
    """L2 credentials: set all three or none (then they are derived by L1 auth at startup)."""
    polymarket_signature_type: SignatureTypeCode = SignatureType.EOA
    polymarket_funder: Address | None = None
    """The maker wallet (proxy, Safe or deposit wallet); required for signature types 1-3."""
    chain_id: ChainId = 137
    rpc_url: SecretHttpUrl | None = None
    """Polygon JSON-RPC endpoint for on-chain reads and approvals."""
    approvals_auto: bool = False
    """Send missing pUSD/CTF approvals automatically (on-chain transactions cost gas)."""
    rate_limit_tier: Literal["standard", "copper", "bronze", "silver"] = "standard"
    """The account's per-signer rate-limit tier (docs §2.5): standard = orders 40/s burst 60,
    cancels 80/s burst 120. polyexec paces itself to stay inside it."""

    # --- endpoints (bases: polyexec appends the paths)
    clob_host: HttpUrl = "https://clob.polymarket.com"
    clob_ws_url: WsUrl = "wss://ws-subscriptions-clob.polymarket.com/ws"
    gamma_host: HttpUrl = "https://gamma-api.polymarket.com"
    binance_ws_url: WsUrl = "wss://data-stream.binance.vision"
    rtds_ws_url: WsUrl = "wss://ws-live-data.polymarket.com"

    # --- what to trade and how
    market_assets: AssetList = ("btc", "eth")
    strategy_preset: PresetName = "default"
    target_addresses: AddressList = ()
    """Wallets whose trades the flow-following strategy follows (empty: the market's whole flow)."""
    enable_market_making: bool | None = None
    enable_flow_following: bool | None = None
    enable_inventory_control: bool | None = None
    enable_fair_value: bool | None = None
    min_edge_cents: Cents = Decimal(5)
    """Fair value: act only when model probability − ask − fee exceeds this many cents."""
    min_move_cents: Cents = Decimal(3)
    """Flow following: react only to price moves of at least this many cents."""

    # --- safety and operations
    live_trading: str = ""
    kill_switch_file: Path = Path("KILL_SWITCH")
    state_dir: Path = Path("state")
    log_dir: Path = Path("logs")
    log_level: LogLevel = "info"
    discord_webhook_url: SecretHttpUrl | None = None
    status_http_addr: HostPort = "127.0.0.1:8787"

    # --- risk overrides: one per RiskLimits field, None = the preset's value
    max_trade_usd: Usd | None = None
    max_window_usd: Usd | None = None
    max_exposure_usd: Usd | None = None
    max_exposure_per_market_usd: Usd | None = None
    max_exposure_per_category_usd: Usd | None = None
    max_open_orders: Count | None = None
    max_loss_per_trade_usd: Usd | None = None
    max_loss_per_hour_usd: Usd | None = None
    max_loss_per_day_usd: Usd | None = None
    max_consecutive_losses: Count | None = None
    loss_breaker_usd: Usd | None = None
    loss_breaker_window_s: Count | None = None
    loss_breaker_cooldown_s: Count | None = None
    max_consecutive_rejects: Count | None = None
    reject_breaker_cooldown_s: Count | None = None
    api_unhealthy_max_s: Count | None = None
    api_breaker_cooldown_s: Count | None = None
    max_drawdown_pct: Percent | None = None
    drawdown_breaker_cooldown_s: Count | None = None
    min_depth_usd: Usd | None = None
    max_spread_pct: Percent | None = None
    max_slippage_pct: Percent | None = None
    max_slippage_cents: Cents | None = None
    min_seconds_to_end: Count | None = None
    max_seconds_to_end: Count | None = None

    # Filled in by load_settings(): variable name -> source, and warnings about the .env file.
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _load_warnings: tuple[str, ...] = PrivateAttr(default=())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() reads env, credentials and .env itself so it can record each value's
        # source; the model only validates what it is given.
        return (init_settings,)

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        problems: list[str] = []
        signature_type = int(self.polymarket_signature_type)
        if signature_type != 0 and self.polymarket_funder is None:
            problems.append(
                f"POLYMARKET_FUNDER is required with POLYMARKET_SIGNATURE_TYPE={signature_type} "
                f"({SIGNATURE_TYPE_LABELS[signature_type]}): set it to the wallet address that holds "
                "your funds"
            )
        credentials = ("POLYMARKET_API_KEY", "POLYMARKET_SECRET", "POLYMARKET_PASSPHRASE")
        missing = [name for name in credentials if getattr(self, name.lower()) is None]
        if 0 < len(missing) < len(credentials):
            problems.append(
                f"{', '.join(missing)} not set: set POLYMARKET_API_KEY, POLYMARKET_SECRET and "
                "POLYMARKET_PASSPHRASE together, or none of them (they are then derived from "
                "POLYMARKET_PRIVATE_KEY by L1 auth)"
            )
        try:
            limits = self.risk_limits()
        except ValueError as exc:
            text = re.sub(r"\b[a-z_]+\b", lambda m: m[0].upper() if m[0] in RISK_FIELDS else m[0], str(exc))
            problems.append(f"risk limits: {text}")
        else:
            smallest_order = VENUE_MIN_ORDER_SHARES * LOWEST_PRICE
            if limits.max_trade_usd < smallest_order:
                problems.append(
                    f"MAX_TRADE_USD (${limits.max_trade_usd}, preset {self.strategy_preset} plus overrides) "
                    f"cannot buy the venue's minimum order of {VENUE_MIN_ORDER_SHARES} shares even at the "
                    f"lowest price (${LOWEST_PRICE} x {VENUE_MIN_ORDER_SHARES} = ${smallest_order}): no "
                    f"order could ever be placed; set MAX_TRADE_USD to {smallest_order} or more"
                )
        if problems:
            raise problem("\n".join(problems))
        return self

    # ------------------------------------------------------------------ derived values
    @property
    def preset(self) -> Preset:
        return PRESETS[self.strategy_preset]

    def risk_limits(self) -> RiskLimits:
        """The risk manager's limits: the preset's values with every explicit override on top."""
        values: dict[str, Any] = dict(self.preset.risk)
        for name in RISK_FIELDS:
            override = getattr(self, name)
            if override is not None:
                values[name] = override
        return RiskLimits(**values)

    def strategy_flags(self) -> StrategyFlags:
        """Which strategies run: ``ENABLE_*`` overrides, else the preset, else the defaults."""
        values = {name: self._effective_flag(name) for name in FLAG_FIELDS}
        return StrategyFlags(**values)

    def _effective_flag(self, name: str) -> bool:
        override: bool | None = getattr(self, f"enable_{name}")
        if override is not None:
            return override
        return self.preset.strategies.get(name, getattr(DEFAULT_STRATEGY_FLAGS, name))

    @property
    def live_trading_allowed(self) -> bool:
        """True only when ``LIVE_TRADING`` is exactly ``I_UNDERSTAND_THE_RISKS``."""
        return self.live_trading.strip() == LIVE_TRADING_CONFIRMATION

    @property
    def clob_market_ws_url(self) -> str:
        return f"{self.clob_ws_url}/market"

    @property
    def clob_user_ws_url(self) -> str:
        return f"{self.clob_ws_url}/user"

    def binance_stream_url(self, streams: Sequence[str]) -> str:
        """Combined-stream URL, e.g. ``["btcusdt@trade"]`` → ``<base>/stream?streams=btcusdt@trade``."""
        return f"{self.binance_ws_url}/stream?streams={'/'.join(streams)}"

    @property
    def status_http_host(self) -> str:
        return parse_host_port(self.status_http_addr)[0]

    @property
    def status_http_port(self) -> int:
        return parse_host_port(self.status_http_addr)[1]

    def with_simulator_urls(self, base_url: str) -> Settings:
        """A copy with every venue URL pointed at the built-in simulator at ``base_url``
        (``http://127.0.0.1:8080``): CLOB REST at ``/``, CLOB WS at ``/ws``, Gamma at ``/gamma``,
        Binance at ``/binance``, RTDS at ``/rtds``."""
        http = check_url(base_url, HTTP_SCHEMES)
        ws = "ws" + http[len("http") :]
        urls = {
            "clob_host": http,
            "clob_ws_url": f"{ws}/ws",
            "gamma_host": f"{http}/gamma",
            "binance_ws_url": f"{ws}/binance",
            "rtds_ws_url": f"{ws}/rtds",
        }
        copy = self.model_copy(update=urls)
        copy._sources = {**self._sources, **{name.upper(): "--sim" for name in urls}}
        copy._load_warnings = self._load_warnings
        return copy

    def secret_values(self) -> tuple[str, ...]:
        """Every configured secret as it could appear in text, for log redaction: each secret's
        value, a private key's hex without ``0x``, and the path of secret URLs (their token)."""
        values: list[str] = []
        for name in SECRET_SETTINGS:
            secret: SecretStr | None = getattr(self, name.lower())
            if secret is None:
                continue
            text = secret.get_secret_value()
            values.append(text)
            if HEX_KEY.fullmatch(text):
                values.append(text[2:])
            if "://" in text:
                parts = urlsplit(text)
                tail = parts.path.rstrip("/")
                values.extend(v for v in (tail, tail.rpartition("/")[2], parts.query) if len(v) >= 8)
        return tuple(dict.fromkeys(values))

    # ------------------------------------------------------------------ reporting
    def source_of(self, name: str) -> str:
        """Where the variable ``name`` got its value: env, credentials, .env, preset:<name>,
        default (or --sim after :meth:`with_simulator_urls`)."""
        name = name.upper()
        if name in self._sources:
            return self._sources[name]
        field = name.lower()
        if field in RISK_FIELDS and field in self.preset.risk:
            return f"preset:{self.strategy_preset}"
        flag = field.removeprefix("enable_")
        if field.startswith("enable_") and flag in self.preset.strategies:
            return f"preset:{self.strategy_preset}"
        return "default"

    def describe(self) -> list[ConfigRow]:
        """Every setting with its effective value (secrets masked) and its source."""
        return describe_settings(self)

    def config_warnings(self) -> tuple[str, ...]:
        """Settings that load but deserve the operator's attention, one sentence each: first the
        settings file's (unknown names, loose permissions), then the values'."""
        return (*self._load_warnings, *settings_warnings(self))
