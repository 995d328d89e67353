"""The seams between the simulator's parts.

The exchange (matching engine, accounts, CLOB REST and websockets) and the market driver
(underlying prices, Binance, RTDS, Gamma, the window schedule, background flow) are built
separately and meet only here. Every part reads time from one :class:`SimClock`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

__all__ = ["FaultView", "SimClock", "SimExchange", "SimMarket", "WsChannel"]


class SimClock:
    """The simulator's clock: wall time by default, optionally offset or sped up.

    ``speed`` > 1 runs simulated time faster than real time (useful to roll 15-minute windows
    in a test); the clock is continuous and monotonic for a fixed speed. ``now()`` returns
    Unix seconds as a float, ``now_ms()`` integer milliseconds.
    """

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"clock speed must be positive (got {speed})")
        self.speed = speed
        self._real_anchor = time.monotonic()
        self._sim_anchor = time.time() if start is None else start

    def now(self) -> float:
        return self._sim_anchor + (time.monotonic() - self._real_anchor) * self.speed

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def real_seconds(self, sim_seconds: float) -> float:
        """How long to sleep in real time for ``sim_seconds`` of simulated time to pass."""
        return sim_seconds / self.speed

    def advance(self, sim_seconds: float) -> None:
        """Jump simulated time forward (tests)."""
        if sim_seconds < 0:
            raise ValueError("the clock only moves forward")
        self._sim_anchor += sim_seconds


@dataclass(frozen=True, slots=True)
class SimMarket:
    """One 15-minute Up/Down market as the exchange knows it."""

    asset: str  # "btc"
    slug: str  # "btc-updown-15m-<window_start>"
    condition_id: str  # 0x + 64 hex
    up_token_id: str  # decimal uint256 string
    down_token_id: str
    window_start: int  # Unix seconds
    window_end: int
    tick_size: Decimal = Decimal("0.01")
    min_size: Decimal = Decimal(5)
    fee_rate: Decimal = Decimal("0.07")
    neg_risk: bool = False


class SimExchange(Protocol):
    """What the market driver needs from the exchange."""

    def add_market(self, market: SimMarket) -> None:
        """Open a market's two books for trading (idempotent)."""

    def markets(self) -> list[SimMarket]:
        """Every market ever added, resolved ones included."""

    def place_background_order(
        self, account: str, token_id: str, side: str, price: Decimal, size: Decimal, order_type: str = "GTC"
    ) -> str:
        """Place an unsigned order for a simulator-internal account (background makers and
        takers): it matches and rests exactly like a client order and shows on the market
        channel. Returns the order id. ``side`` is "BUY"/"SELL"; ``order_type`` GTC/FOK/FAK.
        Internal accounts have unlimited balance."""

    def cancel_background_orders(self, account: str, token_id: str | None = None) -> int:
        """Cancel an internal account's open orders (on one token or all); returns the count."""

    def best_bid_ask(self, token_id: str) -> tuple[Decimal | None, Decimal | None]:
        """Current best bid and ask of a token's book (``None`` for an empty side)."""

    def resolve_market(self, condition_id: str, winning_outcome: str, final_price: Decimal) -> None:
        """Close the market: cancel its open orders (CANCELED_MARKET_RESOLVED), pay $1 per
        winning share, mark it resolved. ``winning_outcome`` is "Up" or "Down"."""


class WsChannel:
    """Names of the simulator's websocket channels, for fault targeting."""

    MARKET = "market"
    USER = "user"
    BINANCE = "binance"
    RTDS = "rtds"
    ALL = ("market", "user", "binance", "rtds")


class FaultView(Protocol):
    """What a websocket handler asks the fault registry before and while it sends."""

    def ws_should_drop(self, channel: str) -> bool:
        """True: close this connection abruptly now (checked once per outgoing frame)."""

    def ws_frozen(self, channel: str) -> bool:
        """True: send nothing (but keep answering PING/PONG): a silent freeze."""

    def ws_malformed(self, channel: str) -> bool:
        """True: replace the next outgoing frame with a malformed one."""
