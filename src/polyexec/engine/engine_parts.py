"""Building the engine's parts from the settings, for one mode: what talks to what.

:func:`build_parts` opens the venue session and wires every part the
:class:`~polyexec.engine.engine.Engine` runs; :class:`EngineParts` holds them. What differs by
mode:

=====================  ==========================  ============================  =================
part                   ``paper``                   ``live``                      ``dry-run``
=====================  ==========================  ============================  =================
orders go to           PaperVenue (in process)     the CLOB (ClobClient)         DryRunVenue (logs)
signing key            throwaway, made per run     POLYMARKET_PRIVATE_KEY        the key, else a
                                                                                 throwaway
L2 credentials         not needed                  configured or derived (L1)    not needed
user channel           no (the paper venue's       yes, REST resync after        no
                       events instead)             every reconnect
heartbeat              no                          yes (dead-man switch)         no
starting equity        PaperConfig's balance       the account's pUSD            PaperConfig's
=====================  ==========================  ============================  =================

Paper never signs with the account's key: its orders never leave the process, so a throwaway
key proves nothing less and risks nothing. Dry-run sends nothing at all — not even heartbeats,
which would arm the venue's dead-man switch on the account.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from polyexec.config import Settings
from polyexec.core.events import FeedEvent
from polyexec.core.models import CancelIntent, Market, OrderIntent
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import Portfolio
from polyexec.core.risk import RiskManager
from polyexec.engine.dry_run_venue import DryRunVenue
from polyexec.engine.order_manager import OrderManager, OrderVenue
from polyexec.engine.strategy_setup import build_strategies, strategy_params
from polyexec.engine.tick_processor import TickProcessor
from polyexec.engine.window_lifecycle import WindowLifecycle
from polyexec.logging_setup import get_logger
from polyexec.venues.binance_feed import BinanceFeed
from polyexec.venues.heartbeat import HeartbeatMonitor
from polyexec.venues.market_discovery import DiscoveryChange, MarketDiscovery
from polyexec.venues.market_feed import MarketFeed
from polyexec.venues.order_signer import OrderSigner
from polyexec.venues.paper_fills import PaperConfig
from polyexec.venues.paper_venue import PaperVenue
from polyexec.venues.reference_prices import ReferencePrices
from polyexec.venues.rtds_feed import RtdsFeed
from polyexec.venues.user_feed import UserFeed, user_channel_url
from polyexec.venues.venue_session import VenueSession

__all__ = ["EngineMode", "EngineParts", "GatedSink", "MarketIndex", "build_parts"]

_log = get_logger(component="engine")

EventSink = Callable[[FeedEvent], None]


class EngineMode(StrEnum):
    """Where orders go: ``paper`` (filled in process), ``live`` (the venue), ``dry-run``
    (nowhere: logged only)."""

    PAPER = "paper"
    LIVE = "live"
    DRY_RUN = "dry-run"


@dataclass(slots=True)
class MarketIndex:
    """Every market the engine has registered, by condition id and by token id (the paper venue
    and the order manager look markets up; the engine keeps it for the whole run so a late fill
    or resolution still finds its market)."""

    by_condition: dict[str, Market] = field(default_factory=dict)
    by_token: dict[str, Market] = field(default_factory=dict)

    def add(self, market: Market) -> None:
        self.by_condition[market.condition_id] = market
        self.by_token[market.up_token_id] = market
        self.by_token[market.down_token_id] = market

    def remove(self, condition_id: str) -> None:
        market = self.by_condition.pop(condition_id, None)
        if market is not None:
            self.by_token.pop(market.up_token_id, None)
            self.by_token.pop(market.down_token_id, None)

    def market(self, condition_id: str) -> Market | None:
        return self.by_condition.get(condition_id)

    def market_of_token(self, token_id: str) -> Market | None:
        return self.by_token.get(token_id)


class GatedSink:
    """The tick processor's intent sink: the engine's last gate, then the order manager.

    ``allowed`` is asked for every new order (the engine's state and the market's health); a
    refused one is counted and dropped. Cancels always go through.
    """

    def __init__(self, orders: OrderManager, allowed: Callable[[OrderIntent], bool]) -> None:
        self._orders = orders
        self._allowed = allowed
        self.blocked = 0

    def submit(self, intent: OrderIntent, *, reference_price: Decimal | None = None) -> object:
        if not self._allowed(intent):
            self.blocked += 1
            return None
        return self._orders.submit(intent, reference_price=reference_price)

    def cancel(self, intent: CancelIntent) -> object:
        return self._orders.cancel(intent)


@dataclass(slots=True)
class EngineParts:
    """Everything one engine run drives (see the module documentation)."""

    mode: EngineMode
    settings: Settings
    session: VenueSession
    signer: OrderSigner
    markets: MarketIndex
    registry: OrderRegistry
    portfolio: Portfolio
    risk: RiskManager
    reference: ReferencePrices
    lifecycle: WindowLifecycle
    market_feed: MarketFeed
    binance_feed: BinanceFeed
    rtds_feed: RtdsFeed
    discovery: MarketDiscovery
    orders: OrderManager
    tick: TickProcessor
    sink: GatedSink
    paper: PaperVenue | None = None
    user_feed: UserFeed | None = None
    heartbeat: HeartbeatMonitor | None = None
    paper_config: PaperConfig = field(default_factory=PaperConfig)

    async def starting_equity(self) -> Decimal:
        """pUSD at the start: the account's balance in live, the paper balance otherwise. A
        balance that cannot be read is logged and counted as the paper balance would be: the
        drawdown breaker then measures from the session's own peak."""
        if self.mode is not EngineMode.LIVE:
            return self.paper_config.starting_balance
        try:
            answer = await self.session.client.get_balance_allowance("COLLATERAL")
        except Exception as exc:
            _log.warning("starting_balance_unreadable", error=repr(exc))
            return self.paper_config.starting_balance
        return answer.balance

    async def close(self) -> None:
        await self.session.close()


async def build_parts(
    settings: Settings,
    *,
    mode: EngineMode,
    window_seconds: int,
    paper_config: PaperConfig,
    book_silence_s: float = 5.0,
    on_market_event: EventSink,
    on_reference_event: EventSink,
    on_user_event: EventSink,
    on_discovery: Callable[[DiscoveryChange], None],
    submit_gate: Callable[[OrderIntent], bool],
    market_gate: Callable[[str, int], bool],
) -> EngineParts:
    """Open the venue session and wire every part for ``mode`` (see the module documentation).
    Raises what :meth:`VenueSession.open` raises (the venue unreachable, bad credentials)."""
    live = mode is EngineMode.LIVE
    session = await VenueSession.open(settings, authenticate=live)
    try:
        signer = _signer_for(settings, session, mode)
        limits = settings.risk_limits()
        markets = MarketIndex()
        registry = OrderRegistry()
        portfolio = Portfolio()
        risk = RiskManager(limits)
        assets = settings.market_assets
        reference = ReferencePrices(assets)
        # Resting quotes are cancelled 30 s before a 15-minute window ends, a tenth of a shorter one.
        lifecycle = WindowLifecycle(limits, cancel_before_end_s=max(1, min(30, window_seconds // 10)))
        market_feed = MarketFeed.from_settings(settings, on_market_event, stale_token_after_s=book_silence_s)
        binance_feed = BinanceFeed(settings.binance_ws_url, assets, on_reference_event)
        rtds_feed = RtdsFeed(settings.rtds_ws_url, assets, on_reference_event)
        discovery = MarketDiscovery(
            settings.gamma_host,
            assets,
            session=session.http,
            fetch_clob_info=session.client.get_clob_market_info,
            clock=session.server_clock.now,
            window_seconds=window_seconds,
            on_change=on_discovery,
        )
        paper: PaperVenue | None = None
        venue: OrderVenue
        if mode is EngineMode.PAPER:
            paper = PaperVenue(
                book_of=market_feed.book,
                market_of=markets.market_of_token,
                sink=on_user_event,
                clock=session.server_clock.now,
                config=paper_config,
            )
            venue = paper
        elif mode is EngineMode.DRY_RUN:
            venue = DryRunVenue(
                condition_of=_condition_of(markets),
                clock_ms=session.server_clock.now_ms,
                sink=on_user_event,
            )
        else:
            venue = session.client
        orders = OrderManager(
            venue,
            signer,
            registry=registry,
            portfolio=portfolio,
            risk=risk,
            market_of=markets.market,
            clock_ms=session.server_clock.now_ms,
            tick_of=_live_tick(market_feed),
        )
        sink = GatedSink(orders, submit_gate)
        tick = TickProcessor(
            strategies=build_strategies(settings, window_seconds=window_seconds),
            risk=risk,
            registry=registry,
            portfolio=portfolio,
            book_of=market_feed.book,
            reference=reference,
            sink=sink,
            params=strategy_params(settings),
            gate=market_gate,
        )
        user_feed: UserFeed | None = None
        heartbeat: HeartbeatMonitor | None = None
        if live:
            credentials = session.credentials
            assert credentials is not None  # VenueSession.open(authenticate=True) guarantees it
            user_feed = UserFeed(user_channel_url(settings.clob_ws_url), credentials, on_user_event)
            user_feed.use_rest_resync(session.client)
            heartbeat = session.heartbeat()
        return EngineParts(
            mode=mode,
            settings=settings,
            session=session,
            signer=signer,
            markets=markets,
            registry=registry,
            portfolio=portfolio,
            risk=risk,
            reference=reference,
            lifecycle=lifecycle,
            market_feed=market_feed,
            binance_feed=binance_feed,
            rtds_feed=rtds_feed,
            discovery=discovery,
            orders=orders,
            tick=tick,
            sink=sink,
            paper=paper,
            user_feed=user_feed,
            heartbeat=heartbeat,
            paper_config=paper_config,
        )
    except BaseException:
        await session.close()
        raise


def _live_tick(market_feed: MarketFeed) -> Callable[[str], Decimal | None]:
    def tick_of(token_id: str) -> Decimal | None:
        book = market_feed.book(token_id)
        return None if book is None else book.tick_size

    return tick_of


def _condition_of(markets: MarketIndex) -> Callable[[str], str | None]:
    def condition_of(token_id: str) -> str | None:
        market = markets.market_of_token(token_id)
        return None if market is None else market.condition_id

    return condition_of


def _signer_for(settings: Settings, session: VenueSession, mode: EngineMode) -> OrderSigner:
    if mode is EngineMode.LIVE:
        if session.signer is None:
            raise ValueError("POLYMARKET_PRIVATE_KEY is not set: live trading needs the signer key")
        return session.signer
    if mode is EngineMode.DRY_RUN and session.signer is not None:
        return session.signer  # signs what it would send; nothing is sent
    # Paper (and a dry run without a key): a throwaway key that exists for this run only.
    return OrderSigner("0x" + secrets.token_hex(32), chain_id=settings.chain_id)
