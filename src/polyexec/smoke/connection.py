"""``polyexec test connection``: can this machine and account trade? Places no order.

Steps (each a line of the checklist; see :mod:`polyexec.smoke`):

1. **CLOB REST and clock**: ``/time`` answers; the offset between the venue's clock and ours
   (L1/L2 auth is stamped with the venue's time, so an offset is compensated, but a large one
   means this machine's NTP is broken and is reported).
2. **Protocol version**: the CLOB speaks V2.
3. **API auth**: the configured credentials, or ones derived from the key by L1 auth, are
   accepted for an authenticated call (the open-orders listing).
4. **Balance and allowance**: pUSD balance of the trading wallet and the exchanges' allowances;
   a zero balance or no allowance fails (nothing could be bought).
5. **Market discovery**: the current 15-minute window of the first asset, found on Gamma and
   checked against the CLOB's market info.
6. **Order book (REST)**: that market's book.
7. **Market channel**: the websocket connects, subscribes, and delivers the book snapshot.
8. **User channel**: the websocket connects with the API credentials and stays connected
   (the venue closes a socket with bad credentials).
9. **Binance** and 10. **RTDS**: each configured asset's stream delivers a price.

The heartbeat is **not** sent: the first heartbeat arms the venue's dead-man switch, which
would cancel every open order of the account (a running daemon's too) if no second beat came.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from polyexec.config import Settings
from polyexec.core.events import BinanceBookTicker, BinanceTrade, BookSnapshot, FeedEvent, ReferencePrice
from polyexec.core.models import Market
from polyexec.smoke.checklist import Checklist
from polyexec.smoke.waiting import EventCollector, background, poll_until
from polyexec.venues.binance_feed import BinanceFeed
from polyexec.venues.market_feed import MarketFeed
from polyexec.venues.rtds_feed import RtdsFeed
from polyexec.venues.user_feed import UserFeed, user_channel_url
from polyexec.venues.venue_session import VenueSession

__all__ = ["CLOCK_WARNING_S", "check_connection"]

CLOCK_WARNING_S = 5.0
"""An offset this large is compensated but reported: the machine's clock is not synchronised."""


def _money(value: Decimal) -> str:
    return f"${value.quantize(Decimal('0.01'))}"


async def check_connection(settings: Settings, *, timeout_s: float = 15.0) -> Checklist:
    """Run every step against the venue ``settings`` point at; the filled checklist."""
    checklist = Checklist(f"polyexec test connection: {settings.clob_host}")
    session: VenueSession | None = None

    async def rest_and_clock() -> tuple[VenueSession, str]:
        opened = await VenueSession.open(settings, authenticate=False, timeout_s=timeout_s)
        clock = opened.server_clock
        offset = clock.offset_s
        rtt = clock.rtt_s
        detail = f"server time offset {offset:+.2f} s"
        if rtt is not None:
            detail += f", round trip {rtt * 1000:.0f} ms"
        if abs(offset) >= CLOCK_WARNING_S:
            detail += " (WARNING: this machine's clock is off; polyexec compensates, but fix NTP)"
        return opened, detail

    session = await checklist.run("CLOB REST and clock", rest_and_clock, timeout_s=timeout_s)
    try:
        await _venue_steps(checklist, settings, session, timeout_s)
    finally:
        if session is not None:
            await session.close()
    return checklist


async def _venue_steps(
    checklist: Checklist, settings: Settings, session: VenueSession | None, timeout_s: float
) -> None:
    async def version() -> tuple[int, str]:
        assert session is not None
        number = await session.client.get_version()
        if number != 2:
            raise ValueError(f"the CLOB speaks protocol version {number}; polyexec signs V2 orders")
        return number, "CLOB V2"

    await checklist.run("protocol version", version, timeout_s=timeout_s)

    async def api_auth() -> tuple[bool, str]:
        assert session is not None
        configured = session.credentials is not None
        if not configured:
            if session.signer is None:
                raise ValueError(
                    "no API credentials and no POLYMARKET_PRIVATE_KEY to derive them: set the key "
                    "(or POLYMARKET_API_KEY, POLYMARKET_SECRET and POLYMARKET_PASSPHRASE)"
                )
            session.client.use_credentials(await session.client.create_or_derive_api_key())
        orders = await session.client.get_open_orders()
        how = "configured credentials" if configured else "credentials derived by L1 auth"
        return True, f"{how} accepted; {len(orders)} open order(s)"

    await checklist.run("API auth (L1/L2)", api_auth, timeout_s=timeout_s)

    async def balance() -> tuple[bool, str]:
        assert session is not None
        answer = await session.client.get_balance_allowance("COLLATERAL")
        allowed = [amount for amount in answer.allowances.values() if amount > 0]
        if answer.balance <= 0:
            raise ValueError("pUSD balance is 0: fund the trading wallet")
        if answer.allowances and not allowed:
            raise ValueError(f"balance {_money(answer.balance)} but no exchange allowance: approve pUSD")
        return True, f"pUSD {_money(answer.balance)}, {len(allowed)} exchange allowance(s)"

    await checklist.run("balance and allowance", balance, required=False, timeout_s=timeout_s)

    asset = settings.market_assets[0]

    async def discover() -> tuple[Market, str]:
        assert session is not None
        discovery = session.discovery()
        await discovery.refresh()
        market = discovery.current(asset)
        if market is None:
            raise ValueError(f"no tradable current {asset} 15-minute market on {settings.gamma_host}")
        return market, f"{market.slug} (tick {market.tick_size}, min {market.min_size} shares)"

    market = await checklist.run("market discovery (Gamma)", discover, timeout_s=timeout_s)

    async def rest_book() -> tuple[BookSnapshot, str]:
        assert session is not None
        assert market is not None
        book = await session.client.get_book(market.up_token_id)
        return book, f"Up: {_top(book)}"

    await checklist.run("order book (REST)", rest_book, required=False, timeout_s=timeout_s)
    await _feed_steps(checklist, settings, session, market, timeout_s)


def _top(book: BookSnapshot) -> str:
    bid = max((level.price for level in book.bids), default=None)
    ask = min((level.price for level in book.asks), default=None)
    return f"bid {bid if bid is not None else '-'} / ask {ask if ask is not None else '-'}"


async def _feed_steps(
    checklist: Checklist,
    settings: Settings,
    session: VenueSession | None,
    market: Market | None,
    timeout_s: float,
) -> None:
    async def market_channel() -> tuple[bool, str]:
        assert market is not None
        events = EventCollector()
        feed = MarketFeed(settings.clob_market_ws_url, events)
        async with background(feed.run()):
            await feed.subscribe([market.up_token_id, market.down_token_id])

            def is_snapshot(event: FeedEvent) -> bool:
                return isinstance(event, BookSnapshot) and event.asset_id == market.up_token_id

            snapshot = await events.wait_for(is_snapshot, timeout_s)
        assert isinstance(snapshot, BookSnapshot)
        return True, f"book snapshot received ({_top(snapshot)})"

    await checklist.run("market channel (websocket)", market_channel, required=False, timeout_s=timeout_s + 1)

    async def user_channel() -> tuple[bool, str]:
        assert session is not None
        assert market is not None
        credentials = session.credentials
        if credentials is None:
            raise ValueError("no API credentials (see API auth)")
        feed = UserFeed(
            user_channel_url(settings.clob_ws_url), credentials, EventCollector(), ping_interval_s=1.0
        )
        async with background(feed.run()):
            await feed.subscribe([market.condition_id])
            await poll_until(_connected_once(feed), timeout_s=timeout_s, interval_s=0.02)
            # A socket with bad credentials is closed by the venue right after the subscription;
            # one keepalive round trip later it is still up.
            await asyncio.sleep(1.5)
            if not feed.connected or feed.stats.reconnects:
                raise ValueError(
                    f"the user channel dropped the connection ({feed.stats.last_disconnect_reason})"
                )
        return True, "authenticated and subscribed"

    await checklist.run("user channel (websocket)", user_channel, required=False, timeout_s=timeout_s + 3)

    assets = settings.market_assets

    async def binance() -> tuple[bool, str]:
        events = EventCollector()
        feed = BinanceFeed(settings.binance_ws_url, assets, events)
        async with background(feed.run()):
            for symbol_asset in assets:
                symbol = f"{symbol_asset}usdt"

                def from_symbol(event: FeedEvent, symbol: str = symbol) -> bool:
                    return isinstance(event, BinanceTrade | BinanceBookTicker) and event.symbol == symbol

                await events.wait_for(from_symbol, timeout_s)
        return True, f"prices for {', '.join(f'{a}usdt' for a in assets)}"

    await checklist.run("Binance stream", binance, required=False, timeout_s=timeout_s + 1)

    async def rtds() -> tuple[bool, str]:
        events = EventCollector()
        feed = RtdsFeed(settings.rtds_ws_url, assets, events)
        async with background(feed.run()):
            for rtds_asset in assets:

                def from_asset(event: FeedEvent, asset: str = rtds_asset) -> bool:
                    return isinstance(event, ReferencePrice) and event.asset == asset

                await events.wait_for(from_asset, timeout_s)
        return True, f"Chainlink prices for {', '.join(assets)}"

    await checklist.run("RTDS (settlement prices)", rtds, required=False, timeout_s=timeout_s + 1)


def _connected_once(feed: UserFeed) -> Callable[[], Coroutine[Any, Any, bool | None]]:
    async def probe() -> bool | None:
        return True if feed.stats.connects >= 1 else None

    return probe
