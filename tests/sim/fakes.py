"""Test doubles and helpers for the market driver's tests.

- :class:`FakeExchange`: an in-memory :class:`~polyexec.sim.contracts.SimExchange` that rests
  every accepted order (no matching) and records every call, so tests can see exactly what
  the driver asked for;
- :class:`FakeFaults`: a :class:`~polyexec.sim.contracts.FaultView` whose faults a test
  switches on and off per channel;
- :func:`serve` / :func:`receive_json`: a driver on a real loopback socket; with
  :func:`eventually` (the one of ``conftest``) tests poll with a deadline instead of sleeping.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from polyexec.sim.contracts import SimMarket
from polyexec.sim.driver import MarketDriver
from tests.sim.conftest import eventually

__all__ = [
    "FakeExchange",
    "FakeFaults",
    "FakeOrder",
    "eventually",
    "receive_json",
    "serve",
]


@dataclass(slots=True)
class FakeOrder:
    order_id: str
    account: str
    token_id: str
    side: str
    price: Decimal
    size: Decimal
    order_type: str


class FakeExchange:
    """An in-memory exchange: resting orders per token, resolutions recorded, no matching."""

    def __init__(self) -> None:
        self.added: dict[str, SimMarket] = {}
        self.resting: dict[str, FakeOrder] = {}
        self.placed: list[FakeOrder] = []
        self.resolutions: list[tuple[str, str, Decimal]] = []
        self._resolved_tokens: set[str] = set()
        self._next_id = 0

    def add_market(self, market: SimMarket) -> None:
        self.added.setdefault(market.condition_id, market)

    def markets(self) -> list[SimMarket]:
        return list(self.added.values())

    def _tokens(self) -> set[str]:
        return {t for m in self.added.values() for t in (m.up_token_id, m.down_token_id)}

    def place_background_order(
        self, account: str, token_id: str, side: str, price: Decimal, size: Decimal, order_type: str = "GTC"
    ) -> str:
        if token_id not in self._tokens() or token_id in self._resolved_tokens:
            raise ValueError(f"unknown or resolved token {token_id}")
        if side not in ("BUY", "SELL") or not Decimal("0.01") <= price <= Decimal("0.99") or size <= 0:
            raise ValueError(f"bad order {side} {size}@{price}")
        self._next_id += 1
        order = FakeOrder(f"0x{self._next_id:064x}", account, token_id, side, price, size, order_type)
        self.placed.append(order)
        if order_type == "GTC":
            self.resting[order.order_id] = order
        return order.order_id

    def cancel_background_orders(self, account: str, token_id: str | None = None) -> int:
        doomed = [
            oid
            for oid, o in self.resting.items()
            if o.account == account and (token_id is None or o.token_id == token_id)
        ]
        for oid in doomed:
            del self.resting[oid]
        return len(doomed)

    def best_bid_ask(self, token_id: str) -> tuple[Decimal | None, Decimal | None]:
        bids = [o.price for o in self.resting.values() if o.token_id == token_id and o.side == "BUY"]
        asks = [o.price for o in self.resting.values() if o.token_id == token_id and o.side == "SELL"]
        return (max(bids) if bids else None, min(asks) if asks else None)

    def resolve_market(self, condition_id: str, winning_outcome: str, final_price: Decimal) -> None:
        market = self.added[condition_id]
        self.resolutions.append((condition_id, winning_outcome, final_price))
        tokens = {market.up_token_id, market.down_token_id}
        self._resolved_tokens |= tokens
        for oid in [oid for oid, o in self.resting.items() if o.token_id in tokens]:
            del self.resting[oid]


class FakeFaults:
    """A fault view whose faults are sets of channel names, switched by the test."""

    def __init__(self) -> None:
        self.drop: set[str] = set()
        self.frozen: set[str] = set()
        self.malformed: set[str] = set()
        self.asked: dict[str, int] = {}

    def ws_should_drop(self, channel: str) -> bool:
        self.asked[channel] = self.asked.get(channel, 0) + 1
        return channel in self.drop

    def ws_frozen(self, channel: str) -> bool:
        return channel in self.frozen

    def ws_malformed(self, channel: str) -> bool:
        return channel in self.malformed


async def receive_json(ws: aiohttp.ClientWebSocketResponse, within: float = 5.0) -> Any:
    """The next text frame of ``ws``, parsed (fails the test on timeout or a close)."""
    msg = await ws.receive(timeout=within)
    assert msg.type == aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type}: {msg.data!r}"
    return json.loads(msg.data)


@asynccontextmanager
async def serve(driver: MarketDriver) -> AsyncIterator[str]:
    """Run ``driver`` on a fresh aiohttp app bound to 127.0.0.1 on a free port.

    Yields the base URL (``http://127.0.0.1:P``); the driver is started through the app's
    startup hook and stopped on exit.
    """
    app = web.Application()
    driver.register(app)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
