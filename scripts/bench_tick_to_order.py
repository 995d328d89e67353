#!/usr/bin/env python3
"""Tick-to-order latency: from a Binance frame arriving to a signed order body with its headers
ready to send, through the production pipeline, next to the same pipeline signing with the SDK.

The path, as the engine runs it (every step is the production code; only the clock and the
venue are the benchmark's):

1. **decode**: a raw combined-stream trade frame (the bytes the socket delivers) goes through
   :meth:`BinanceFeed.handle_frame <polyexec.venues.binance_feed.BinanceFeed.handle_frame>` (the
   feed's own frame handling: counters, decoding, trade-id de-duplication, delivery to the sink);
2. **on_event**: the sink is :meth:`TickProcessor.on_event`, which says a decision pass is due;
3. **run_pass**: :meth:`TickProcessor.run_pass` with the strategies of the ``default`` preset
   (:func:`~polyexec.engine.strategy_setup.build_strategies`), one tracked window with trusted
   books, Gamma's strike, RTDS prices for the basis, and the Binance price moved so the fair-value
   strategy finds an edge and proposes a FOK BUY every time; the risk manager approves it
   (default-preset limits) and the :class:`~polyexec.engine.order_manager.OrderManager` signs and
   registers it (``submit``), spawning its background POST;
4. **sign**: the part of ``run_pass`` spent in the signer (reported apart, subtracted from
   ``run_pass``): ``OrderSigner.sign``, the EIP-712 digest and the ECDSA signature;
5. **body+headers**: what the transport does before the bytes leave, called right after
   ``run_pass`` returns (the order manager does it in its background send):
   ``encode_body(order_body(...))`` and the L2 headers (``L2Signer.headers``), as
   :meth:`ClobClient.post_order <polyexec.venues.clob_client.ClobClient.post_order>` and the
   HTTP transport do.

``total`` is the time from handing the frame to the feed to the headers being built. Not included:
the socket read and the event-loop hop between ``on_event`` and ``run_pass`` (the engine runs the
pass with ``loop.call_soon``: ~2–5 µs, docs/performance-baselines.md §7), and the engine's own
wrappers (its event counter and submit gate, a few attribute reads).

Each sample produces exactly one fresh signed order (checked): after it, outside the timed region,
the background POST runs against a :class:`~polyexec.engine.dry_run_venue.DryRunVenue` (answered
``live``), the order is cancelled through the order manager and pruned from the registry, so the
next pass proposes again on a registry of the same size. The clock is simulated (10 ms per
sample), the key a throwaway one.

**The SDK path** is the same pipeline with the order built and signed by py-clob-client-v2's
``OrderBuilder.build_order`` (given the intent's price and size, as an SDK-based engine would
call it) and the body and headers by the SDK's ``order_to_json_v2`` + ``json.dumps`` +
``create_level_2_headers``, as its ``ClobClient.post_order`` does. The SDK does not compute the
order hash (the venue answers it), so the order is registered under its signature's first 32
bytes. It runs twice: with coincurve (installed here), and in a subprocess with eth_keys forced to
its pure-Python ``NativeECCBackend`` (``ECC_BACKEND_CLASS``), which is what a stock
``pip install py-clob-client-v2`` runs (it does not pull in coincurve; performance-baselines §1–2).

Run from the repository root (about 20–30 s with the defaults)::

    .venv/bin/python scripts/bench_tick_to_order.py [--samples 10000] [--sdk-samples 1000]
                                                    [--native-samples 150]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import eth_keys.backends
import orjson
from py_clob_client_v2.clob_types import ApiCreds, CreateOrderOptions, OrderArgsV2, RequestArgs
from py_clob_client_v2.headers.headers import create_level_2_headers
from py_clob_client_v2.order_builder.builder import OrderBuilder
from py_clob_client_v2.order_utils import Side as SdkSide
from py_clob_client_v2.order_utils.model.order_data_v2 import SignedOrderV2, order_to_json_v2
from py_clob_client_v2.signer import Signer as SdkSigner

from polyexec.config import Settings
from polyexec.core.events import PriceSource, ReferencePrice
from polyexec.core.models import BookLevel, CancelIntent, CancelScope, Market, Side, SignatureType
from polyexec.core.order_book import OrderBook
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import Portfolio
from polyexec.core.risk import RiskManager
from polyexec.engine.dry_run_venue import DryRunVenue
from polyexec.engine.order_manager import OrderManager
from polyexec.engine.strategy_setup import build_strategies, strategy_params
from polyexec.engine.tick_processor import TickProcessor
from polyexec.logging_setup import configure_logging
from polyexec.venues import order_signer
from polyexec.venues.auth import ApiCredentials, L2Signer
from polyexec.venues.binance_feed import BinanceFeed
from polyexec.venues.order_signer import OrderSigner, SignedOrder, encode_body, order_body
from polyexec.venues.reference_prices import ReferencePrices

__all__ = ["STAGES", "Pipeline", "main", "run_samples"]

STAGES: Final = ("decode", "on_event", "run_pass", "sign", "body+headers", "total")
TARGET_MEDIAN_US: Final = 150.0
TARGET_RATIO: Final = 25.0

D = Decimal
CONDITION_ID: Final = "0x" + "c1" * 32
UP_TOKEN: Final = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
DOWN_TOKEN: Final = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
WINDOW_START_S: Final = 1_800_000_000
WINDOW_END_S: Final = WINDOW_START_S + 900
FIRST_SAMPLE_MS: Final = WINDOW_END_S * 1000 - 600_000  # ten minutes before the end
SAMPLE_STEP_MS: Final = 10
STRIKE: Final = D("100000")
MOVED_PRICES: Final = ("100062.50", "100064.10")  # Binance jumped above the strike: p_up ≈ 0.6-0.7
API_KEY: Final = "00000000-0000-4000-8000-000000000000"
API_SECRET: Final = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8="
API_PASSPHRASE: Final = "bench-passphrase"

_clock_ns = time.perf_counter_ns


# --- signers: ours, timed, and the SDK's behind the same interface ---------------------------------


class TimedSigner(OrderSigner):
    """The production signer, timing each :meth:`sign` and keeping the last order it signed."""

    __slots__ = ("last", "last_ns", "signed")

    def __init__(self, private_key: str) -> None:
        super().__init__(private_key)
        self.last: SignedOrder | None = None
        self.last_ns = 0
        self.signed = 0

    def sign(
        self,
        *,
        token_id: str,
        side: Side,
        maker_amount: int,
        taker_amount: int,
        neg_risk: bool = False,
        expiration_s: int = 0,
        timestamp_ms: int,
        salt: int | None = None,
    ) -> SignedOrder:
        start = _clock_ns()
        order = super().sign(
            token_id=token_id,
            side=side,
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            neg_risk=neg_risk,
            expiration_s=expiration_s,
            timestamp_ms=timestamp_ms,
            salt=salt,
        )
        self.last_ns = _clock_ns() - start
        self.last = order
        self.signed += 1
        return order


class SdkBackedSigner(TimedSigner):
    """Builds and signs with py-clob-client-v2's ``OrderBuilder.build_order`` instead.

    The order manager hands a signer amounts; the SDK wants the price and size (it computes the
    amounts itself, in floats), so they are read back from the amounts (exact for a limit order)
    and given to the SDK as an SDK-based engine would give them.
    """

    __slots__ = ("_builder", "_options", "last_sdk")

    def __init__(self, private_key: str, tick_size: Decimal) -> None:
        super().__init__(private_key)
        self._builder = OrderBuilder(SdkSigner(private_key, 137))
        self._options = CreateOrderOptions(tick_size=str(tick_size), neg_risk=False)
        self.last_sdk: SignedOrderV2 | None = None

    def sign(
        self,
        *,
        token_id: str,
        side: Side,
        maker_amount: int,
        taker_amount: int,
        neg_risk: bool = False,
        expiration_s: int = 0,
        timestamp_ms: int,
        salt: int | None = None,
    ) -> SignedOrder:
        start = _clock_ns()
        usd, shares = (maker_amount, taker_amount) if side is Side.BUY else (taker_amount, maker_amount)
        arguments = OrderArgsV2(
            token_id=token_id,
            price=float(D(usd) / D(shares)),
            size=shares / 1e6,
            side=side.value,
            expiration=expiration_s,
        )
        sdk_order = self._builder.build_order(arguments, self._options, version=2)
        order = SignedOrder(
            salt=int(sdk_order.salt),
            maker=sdk_order.maker,
            signer=sdk_order.signer,
            token_id=sdk_order.tokenId,
            maker_amount=int(sdk_order.makerAmount),
            taker_amount=int(sdk_order.takerAmount),
            side=Side.BUY if sdk_order.side == SdkSide.BUY else Side.SELL,
            signature_type=SignatureType(int(sdk_order.signatureType)),
            timestamp_ms=int(sdk_order.timestamp),
            expiration_s=int(sdk_order.expiration),
            signature=sdk_order.signature,
            order_id="0x" + sdk_order.signature[2:66],  # the SDK has no order hash: the venue answers it
        )
        self.last_ns = _clock_ns() - start
        self.last = order
        self.last_sdk = sdk_order
        self.signed += 1
        return order


# --- the pipeline ----------------------------------------------------------------------------------


@dataclass
class SimulatedClock:
    """The engine's clock, moved by the benchmark (Unix ms)."""

    now_ms: int = FIRST_SAMPLE_MS

    def ms(self) -> int:
        return self.now_ms

    def seconds(self) -> float:
        return self.now_ms / 1000


def _market() -> Market:
    return Market(
        "btc",
        f"btc-updown-15m-{WINDOW_START_S}",
        CONDITION_ID,
        UP_TOKEN,
        DOWN_TOKEN,
        WINDOW_START_S,
        WINDOW_END_S,
    )


def _book(token: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], at_ms: int) -> OrderBook:
    from polyexec.core.events import BookSnapshot

    book = OrderBook(token, D("0.01"))
    book.apply_snapshot(
        BookSnapshot(
            token,
            CONDITION_ID,
            at_ms,
            tuple(BookLevel(D(p), D(s)) for p, s in bids),
            tuple(BookLevel(D(p), D(s)) for p, s in asks),
        )
    )
    return book


def trade_frame(trade_id: int, price: str, at_ms: int) -> bytes:
    """A combined-stream trade frame, byte for byte the shape Binance sends."""
    return (
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":%d,"s":"BTCUSDT","t":%d,"p":"%s",'
        b'"q":"0.00120000","T":%d,"m":false,"M":true}}' % (at_ms + 3, trade_id, price.encode(), at_ms)
    )


@dataclass
class Timings:
    """Per-sample durations in ns, by stage."""

    by_stage: dict[str, list[int]] = field(default_factory=lambda: {stage: [] for stage in STAGES})

    def add(self, **durations: int) -> None:
        for stage, value in durations.items():
            self.by_stage[stage].append(value)

    def summary(self) -> dict[str, tuple[float, float]]:
        """Median and p99 per stage, in µs."""
        result: dict[str, tuple[float, float]] = {}
        for stage, values in self.by_stage.items():
            ordered = sorted(values)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            result[stage] = (statistics.median(ordered) / 1000, p99 / 1000)
        return result


class Pipeline:
    """Feed → tick processor → risk → order manager → body and headers, with ``sdk`` choosing
    the signer and the body/header code (see the module docs)."""

    def __init__(self, *, sdk: bool, seed: int) -> None:
        rng = random.Random(seed)
        key = "0x" + rng.randbytes(32).hex()  # throwaway; never a real key
        self.sdk = sdk
        self.clock = SimulatedClock()
        settings = Settings(_env_file=None)  # type: ignore[call-arg]  # the default preset, no .env
        self.market = market = _market()
        self.registry = OrderRegistry()
        self.portfolio = Portfolio()
        self.portfolio.register_market(market, 0)
        self.risk = RiskManager(settings.risk_limits())
        self.reference = ReferencePrices(["btc"])
        at = FIRST_SAMPLE_MS - 1_000
        # Up is priced for the old Binance level (below the strike); Binance has just moved up.
        self.books = {
            UP_TOKEN: _book(
                UP_TOKEN, [("0.12", "400"), ("0.13", "300"), ("0.14", "300")],
                [("0.17", "300"), ("0.16", "300"), ("0.15", "300")], at,
            ),
            DOWN_TOKEN: _book(
                DOWN_TOKEN, [("0.83", "300"), ("0.84", "300")], [("0.87", "300"), ("0.86", "300")], at
            ),
        }  # fmt: skip
        self.signer: TimedSigner = SdkBackedSigner(key, market.tick_size) if sdk else TimedSigner(key)
        self.venue = DryRunVenue(clock_ms=self.clock.ms)
        self.orders = OrderManager(
            self.venue,
            self.signer,
            registry=self.registry,
            portfolio=self.portfolio,
            risk=self.risk,
            market_of=lambda cid: market if cid == market.condition_id else None,
            clock_ms=self.clock.ms,
        )
        self.tick = TickProcessor(
            strategies=build_strategies(settings),
            risk=self.risk,
            registry=self.registry,
            portfolio=self.portfolio,
            book_of=self.books.get,
            reference=self.reference,
            sink=self.orders,
            params=strategy_params(settings),
            gate=self._gate,
        )
        self.tick.track(market, strike=STRIKE)
        self.feed = BinanceFeed(
            "ws://127.0.0.1:9/binance", ["btc"], self._on_feed_event, clock=self.clock.seconds
        )
        self.l2 = L2Signer(ApiCredentials(API_KEY, API_SECRET, API_PASSPHRASE), self.signer.address)
        self._sdk_signer = SdkSigner(key, 137)
        self._sdk_creds = ApiCreds(API_KEY, API_SECRET, API_PASSPHRASE)
        self._on_event_ns = 0
        self._due = False
        self._trade_id = 1_000_000
        self._resting = 0  # orders other strategies keep resting (market making's quotes)

    def _gate(self, condition_id: str, now_ms: int) -> bool:
        """The engine's market gate, minus the window lifecycle: both books trusted and a fresh
        Binance price."""
        market = self.market
        if condition_id != market.condition_id:
            return False
        for token in (market.up_token_id, market.down_token_id):
            book = self.books.get(token)
            if book is None or not book.trusted:
                return False
        last = self.reference.binance_last(market.asset)
        return last is not None and now_ms - last.trade_time_ms <= 5_000

    def _on_feed_event(self, event: Any) -> None:
        """The engine's Binance sink: the tick processor, timed."""
        start = _clock_ns()
        self._due = self.tick.on_event(event, self.clock.now_ms)
        self._on_event_ns = _clock_ns() - start

    def warm_up(self) -> None:
        """100 s of Binance trades near 99,980 (σ ≈ 1e-4 per √s) through the feed, and RTDS
        Chainlink prices 6 bps above Binance (the basis)."""
        first = FIRST_SAMPLE_MS - 100_000
        for second in range(100):
            at = first + second * 1_000
            self.clock.now_ms = at
            price = "99975.00" if second % 2 else "99985.00"
            self.feed.handle_frame(self._next_frame(price, at), time.monotonic())
            if second % 5 == 0:
                spot = D(price) * D("1.0006")
                self.tick.on_event(ReferencePrice("btc", PriceSource.CHAINLINK_SPOT, spot, at), at)
        self.clock.now_ms = FIRST_SAMPLE_MS - SAMPLE_STEP_MS

    async def settle(self) -> None:
        """One untimed pass at the moved price, so market making has placed its quotes (they
        rest, as on a live market) before the first sample; the fair-value order is reset."""
        self.clock.now_ms += SAMPLE_STEP_MS
        now = self.clock.now_ms
        self.feed.handle_frame(self._next_frame(MOVED_PRICES[1], now), time.monotonic())
        self.tick.run_pass(now)
        await self.orders.drain(5.0)
        for order in self.registry.open_orders(condition_id=self.market.condition_id):
            if order.strategy == "FV":
                self.orders.cancel(
                    CancelIntent(CancelScope.ORDER, order_id=order.order_id, reason="bench reset")
                )
        await self.orders.drain(5.0)
        self.registry.prune(now_ms=now, retention_ms=0)
        self._resting = len(self.registry)

    def _next_frame(self, price: str, at_ms: int) -> bytes:
        self._trade_id += 1
        return trade_frame(self._trade_id, price, at_ms)

    def sample(self, number: int) -> dict[str, int]:
        """One timed tick-to-order (module docs); returns the stage durations in ns."""
        self.clock.now_ms += SAMPLE_STEP_MS
        now = self.clock.now_ms
        frame = self._next_frame(MOVED_PRICES[number % 2], now)
        signed_before = self.signer.signed
        start = _clock_ns()
        self.feed.handle_frame(frame, time.monotonic())
        delivered = _clock_ns()
        report = self.tick.run_pass(now)
        passed = _clock_ns()
        if self.sdk:
            headers = self._sdk_body_and_headers(now)
        else:
            headers = self._body_and_headers(now)
        end = _clock_ns()
        if not self._due or report.submitted != 1 or self.signer.signed != signed_before + 1 or not headers:
            raise RuntimeError(
                f"sample {number}: expected one fresh signed order, got due={self._due}, {report},"
                f" {self.signer.signed - signed_before} signed"
            )
        sign = self.signer.last_ns
        return {
            "decode": delivered - start - self._on_event_ns,
            "on_event": self._on_event_ns,
            "run_pass": passed - delivered - sign,
            "sign": sign,
            "body+headers": end - passed,
            "total": end - start,
        }

    def _body_and_headers(self, now_ms: int) -> dict[str, str]:
        """What ClobClient.post_order and the transport do before sending: the body bytes and
        the L2 headers over them."""
        signed = self.signer.last
        assert signed is not None
        order = self.registry.get(signed.order_id)
        assert order is not None
        body = encode_body(order_body(signed, API_KEY, order.order_type, order.post_only))
        return self.l2.headers(now_ms // 1000, "POST", "/order", body)

    def _sdk_body_and_headers(self, now_ms: int) -> dict[str, str]:
        """The SDK's ClobClient.post_order before its HTTP call: order_to_json_v2, json.dumps,
        create_level_2_headers."""
        signer = self.signer
        assert isinstance(signer, SdkBackedSigner)
        assert signer.last is not None
        assert signer.last_sdk is not None
        order = self.registry.get(signer.last.order_id)
        assert order is not None
        payload = order_to_json_v2(signer.last_sdk, API_KEY, order.order_type.value, order.post_only, False)
        serialized = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        request = RequestArgs("POST", "/order", body=payload, serialized_body=serialized)
        headers: dict[str, str] = create_level_2_headers(
            self._sdk_signer, self._sdk_creds, request, timestamp=now_ms // 1000
        )
        return headers

    async def reset(self) -> None:
        """Outside the timed region: let the POST run, cancel the order, forget it."""
        signed = self.signer.last
        assert signed is not None
        await self.orders.drain(5.0)
        self.orders.cancel(CancelIntent(CancelScope.ORDER, order_id=signed.order_id, reason="bench reset"))
        await self.orders.drain(5.0)
        self.registry.prune(now_ms=self.clock.now_ms, retention_ms=0)
        if len(self.registry) != self._resting or self.portfolio.positions(open_only=True):
            raise RuntimeError("the reset left orders or positions behind")


async def _run(sdk: bool, samples: int, warmup: int, seed: int) -> Timings:
    pipeline = Pipeline(sdk=sdk, seed=seed)
    pipeline.warm_up()
    await pipeline.settle()
    timings = Timings()
    for number in range(warmup + samples):
        durations = pipeline.sample(number)
        if number >= warmup:
            timings.add(**durations)
        await pipeline.reset()
    last = pipeline.clock.now_ms
    if last > WINDOW_END_S * 1000 - 60_000:
        raise RuntimeError("too many samples for one window: lower --samples")
    return timings


def run_samples(sdk: bool, samples: int, seed: int) -> dict[str, tuple[float, float]]:
    """Time ``samples`` tick-to-orders (after a tenth as many untimed) and summarise them."""
    configure_logging([], level="warning", stream=sys.stderr)
    gc.collect()
    return asyncio.run(_run(sdk, samples, max(20, samples // 10), seed)).summary()


# --- reporting --------------------------------------------------------------------------------------


def _ecc_backend() -> str:
    return type(eth_keys.backends.get_backend()).__name__


def _native_sdk(samples: int, seed: int) -> tuple[dict[str, tuple[float, float]], str]:
    """The SDK path in a subprocess with eth_keys' pure-Python backend (a stock install)."""
    environment = dict(os.environ, ECC_BACKEND_CLASS="eth_keys.backends.native.NativeECCBackend")
    command = [sys.executable, __file__, "--worker", "sdk", "--samples", str(samples), "--seed", str(seed)]
    answer = subprocess.run(command, env=environment, capture_output=True, text=True, check=True, timeout=600)
    data = orjson.loads(answer.stdout.strip().splitlines()[-1])
    return {stage: (value[0], value[1]) for stage, value in data["summary"].items()}, data["backend"]


def _table(columns: list[tuple[str, dict[str, tuple[float, float]]]]) -> None:
    header = f"{'stage (µs)':<14}" + "".join(f"  {name:>28}" for name, _ in columns)
    print(header)
    print(f"{'':<14}" + "".join(f"  {'median':>16}{'p99':>12}" for _ in columns))
    for stage in STAGES:
        row = f"{stage:<14}"
        for _, summary in columns:
            median, p99 = summary[stage]
            row += f"  {median:>16.1f}{p99:>12.1f}"
        print(row)


def _verdict(reached: bool) -> str:
    return "REACHED" if reached else "NOT reached"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=10_000, help="tick-to-orders timed on our path")
    parser.add_argument("--sdk-samples", type=int, default=1_000, help="on the SDK path with coincurve")
    parser.add_argument("--native-samples", type=int, default=150, help="on the SDK path, pure-Python ECC")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--worker", choices=("ours", "sdk"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None:
        summary = run_samples(args.worker == "sdk", args.samples, args.seed)
        print(orjson.dumps({"summary": summary, "backend": _ecc_backend()}).decode())
        return 0

    print(
        f"python {sys.version.split()[0]}; keccak: {order_signer.KECCAK_BACKEND}; SDK ECC backend here:"
        f" {_ecc_backend()}; samples: ours {args.samples}, SDK {args.sdk_samples},"
        f" SDK stock {args.native_samples}"
    )
    started = time.perf_counter()
    ours = run_samples(False, args.samples, args.seed)
    sdk = run_samples(True, args.sdk_samples, args.seed)
    native, native_backend = _native_sdk(args.native_samples, args.seed)
    _table([("ours", ours), ("SDK + coincurve", sdk), (f"SDK stock ({native_backend})", native)])
    median, p99 = ours["total"]
    sdk_ratio = sdk["total"][0] / median
    native_ratio = native["total"][0] / median
    print(f"\ntick-to-order (ours): median {median:.1f} µs, p99 {p99:.1f} µs")
    print(f"SDK path / ours (medians): {sdk_ratio:.1f}x with coincurve, {native_ratio:.1f}x stock install")
    print(
        f"target median <= {TARGET_MEDIAN_US:.0f} µs: {_verdict(median <= TARGET_MEDIAN_US)}"
        f" ({median:.1f} µs)"
    )
    print(
        f"target >= {TARGET_RATIO:.0f}x the SDK path: against the stock install (pure-Python ECC):"
        f" {_verdict(native_ratio >= TARGET_RATIO)} ({native_ratio:.1f}x);"
        f" against the SDK with coincurve installed: {_verdict(sdk_ratio >= TARGET_RATIO)} ({sdk_ratio:.1f}x)"
    )
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
