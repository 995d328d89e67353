"""Fixtures for the exchange side of the simulator: a running sim on a free 127.0.0.1 port.

- ``sim``: a simulator (exchange only, fast trade settlement) in the test's own event loop;
- ``sim_thread``: the same, on a background thread's event loop, for the synchronous SDK;
- :class:`Trader`: a throwaway wallet that signs L1/L2 headers and orders with the SDK's
  pure helpers (the reference implementation the simulator must agree with);
- :func:`eventually` / :func:`eventually_sync`: poll a condition with a deadline, never sleep-wait.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import aiohttp
import httpx
import pytest
from eth_account import Account
from py_clob_client_v2.clob_types import (
    ApiCreds,
    CreateOrderOptions,
    MarketOrderArgsV2,
    OrderArgsV2,
    RequestArgs,
)
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.order_builder.builder import OrderBuilder
from py_clob_client_v2.order_utils.model.order_data_v2 import order_to_json_v2
from py_clob_client_v2.signer import Signer

from polyexec.sim.app import RunningSimulator, SimConfig, start_simulator
from polyexec.sim.contracts import SimMarket
from polyexec.sim.exchange import ExchangeConfig

T = TypeVar("T")

FAST_EXCHANGE = ExchangeConfig(mined_delay_ms=60, confirmed_delay_ms=60, failed_delay_ms=60)
FAST_CONFIG = SimConfig(port=0, driver=False, exchange=FAST_EXCHANGE, process_interval_s=0.01)


def throwaway_key(label: str) -> str:
    """A throwaway private key derived from ``label`` (never funded anywhere)."""
    return "0x" + hashlib.sha256(f"polyexec-sim-test:{label}".encode()).hexdigest()


def make_market(asset: str = "btc", window_start: int = 1_800_000_000, **overrides: Any) -> SimMarket:
    slug = f"{asset}-updown-15m-{window_start}"
    fields: dict[str, Any] = {
        "asset": asset,
        "slug": slug,
        "condition_id": "0x" + hashlib.sha256(slug.encode()).hexdigest(),
        "up_token_id": str(int(hashlib.sha256(f"{slug}:up".encode()).hexdigest(), 16)),
        "down_token_id": str(int(hashlib.sha256(f"{slug}:down".encode()).hexdigest(), 16)),
        "window_start": window_start,
        "window_end": window_start + 900,
    }
    fields.update(overrides)
    return SimMarket(**fields)


async def eventually(check: Callable[[], Awaitable[T] | T], within: float = 5.0, interval: float = 0.01) -> T:
    """Poll ``check`` until it returns something truthy (or raise after ``within`` seconds)."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(interval)


def eventually_sync(check: Callable[[], T], timeout: float = 5.0, interval: float = 0.02) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


class Trader:
    """A wallet plus (after :meth:`register`) API credentials; signs like the SDK does."""

    def __init__(self, label: str, *, signature_type: int = 0, funder: str | None = None) -> None:
        self.key = throwaway_key(label)
        self.signer = Signer(self.key, 137)
        self.address: str = Account.from_key(self.key).address
        self.builder = OrderBuilder(self.signer, signature_type=signature_type, funder=funder)
        self.creds: ApiCreds | None = None

    def l1_headers(self, nonce: int = 0, timestamp: int | None = None) -> dict[str, str]:
        return dict(create_level_1_headers(self.signer, nonce=nonce, timestamp=timestamp))

    def l2_headers(
        self, method: str, path: str, body: str | None = None, timestamp: int | None = None
    ) -> dict:
        assert self.creds is not None, "register the trader first"
        args = RequestArgs(method=method, request_path=path, body=body, serialized_body=body)
        return dict(create_level_2_headers(self.signer, self.creds, args, timestamp=timestamp))

    def ws_auth(self) -> dict[str, str]:
        """The ``auth`` object of a user-channel subscription."""
        assert self.creds is not None, "register the trader first"
        return {
            "apiKey": self.creds.api_key,
            "secret": self.creds.api_secret,
            "passphrase": self.creds.api_passphrase,
        }

    async def register(self, http: aiohttp.ClientSession, base_url: str) -> ApiCreds:
        async with http.get(f"{base_url}/auth/derive-api-key", headers=self.l1_headers()) as resp:
            assert resp.status == 200, await resp.text()
            data = await resp.json()
        self.creds = ApiCreds(data["apiKey"], data["secret"], data["passphrase"])
        return self.creds

    def order(
        self,
        token_id: str,
        price: float,
        size: float,
        side: str = "BUY",
        *,
        order_type: str = "GTC",
        post_only: bool = False,
        tick: str = "0.01",
        expiration: int = 0,
        neg_risk: bool = False,
    ) -> dict[str, Any]:
        """A signed ``SendOrder`` body for a limit order."""
        assert self.creds is not None
        signed = self.builder.build_order(
            OrderArgsV2(token_id=token_id, price=price, size=size, side=side, expiration=expiration),
            CreateOrderOptions(tick_size=tick, neg_risk=neg_risk),
        )
        return order_to_json_v2(signed, self.creds.api_key, order_type, post_only)

    def market_order(
        self, token_id: str, amount: float, price: float, side: str = "BUY", order_type: str = "FOK"
    ) -> dict[str, Any]:
        assert self.creds is not None
        signed = self.builder.build_market_order(
            MarketOrderArgsV2(
                token_id=token_id, amount=amount, side=side, price=price, order_type=order_type
            ),
            CreateOrderOptions(tick_size="0.01", neg_risk=False),
        )
        return order_to_json_v2(signed, self.creds.api_key, order_type)

    async def request(
        self,
        http: aiohttp.ClientSession,
        method: str,
        base_url: str,
        path: str,
        body: Any = None,
        *,
        timestamp: int | None = None,
        **params: str,
    ) -> tuple[int, Any]:
        """Send an L2-authenticated request with the body serialised once, as the venue needs
        (``timestamp`` overrides the wall-clock stamp, e.g. with the venue's ``/time``)."""
        text = None if body is None else json.dumps(body, separators=(",", ":"))
        headers = self.l2_headers(method, path, text, timestamp=timestamp)
        headers["Content-Type"] = "application/json"
        async with http.request(
            method,
            base_url + path,
            data=text.encode() if text else None,
            headers=headers,
            params=params or None,
        ) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(FAST_CONFIG)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def market(sim: RunningSimulator) -> SimMarket:
    """A market trading on ``sim``'s exchange."""
    created = make_market(window_start=int(sim.simulator.clock.now()) // 900 * 900)
    sim.simulator.exchange.add_market(created)
    return created


@dataclass
class SimThread:
    """A simulator on a background thread's event loop (the SDK is synchronous)."""

    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    running: RunningSimulator

    @property
    def base_url(self) -> str:
        return self.running.base_url

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the simulator's loop (safe access to its state) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.base_url}/sim{path}", json=body, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.running.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def start_sim_thread(config: SimConfig = FAST_CONFIG) -> SimThread:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sim-loop", daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(start_simulator(config), loop).result(timeout=10)
    return SimThread(loop, thread, running)


@pytest.fixture
def sim_thread() -> Iterator[SimThread]:
    handle = start_sim_thread(replace(FAST_CONFIG))
    try:
        yield handle
    finally:
        handle.stop()
