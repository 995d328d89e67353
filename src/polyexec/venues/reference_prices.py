"""Which price settles the market right now: the Chainlink TWAP from RTDS, or its stand-in.

15-minute markets open and settle on the Chainlink **60-second TWAP** (protocol doc §6.3,
fair-value.md), which RTDS publishes every second (``crypto_prices_twap_sixty``). When RTDS is
absent or stale, a 60-second TWAP computed from Binance trades stands in, and whoever asks is
told which one they got. :class:`ReferencePrices` is that bookkeeping, without I/O and without
a clock: events go in through :meth:`ReferencePrices.apply`, the time of a question is passed
with it (``now_ms``, Unix milliseconds).

The answer for an asset at ``now_ms`` (:meth:`~ReferencePrices.current`,
:meth:`~ReferencePrices.source`):

1. the newest RTDS TWAP (:attr:`~polyexec.core.events.PriceSource.CHAINLINK_TWAP_60`) when it
   is **fresh**: its Chainlink observation time is at most ``rtds_stale_after_ms`` (10 s)
   before ``now_ms``. Freshness is judged on the observation time, not on when it arrived, so
   a backfill of old points after a reconnect does not pass for live data (this assumes the
   host clock is NTP-synchronised, as the order timestamps already require);
2. otherwise the Binance TWAP (:attr:`~polyexec.core.events.PriceSource.BINANCE_TWAP_60`),
   when one can be computed (below), stamped ``now_ms``;
3. otherwise ``None``: no reference price; do not trade on one.

It switches back to the RTDS TWAP as soon as a fresh one arrives.

**The Binance TWAP, exactly.** Trades of ``<asset>usdt`` define a step function ``p(t)``: the
price of the latest trade (highest trade id) with trade time ``≤ t``. The TWAP at ``now`` is
``(1 / (now − lo)) · ∫[lo, now] p(t) dt`` with ``lo = max(now − 60 s, t₀)``, where ``t₀`` is the
oldest trade kept: the time-weighted mean price over the last 60 seconds, each price weighted
by how long it stood, the price standing at ``now − 60 s`` counted from the window's start. It
exists only when the window is covered for at least ``min_coverage_ms`` (default: all 60 s)
and the latest trade is at most ``binance_stale_after_ms`` (10 s) old. Prices are taken at
10⁻⁸ (Binance's precision) and times in integer milliseconds, so the integral is an exact
integer; the result is rounded half-even to 10⁻¹² USDT. It is a **USDT** price: Chainlink's
is USD, a few basis points apart; :meth:`~ReferencePrices.basis` tracks the gap, and
``correct_basis=True`` multiplies the stand-in by ``1 + basis`` when one is known.

**Basis.** Each Chainlink spot price (RTDS ``crypto_prices_chainlink``) observed at ``t`` is
compared with the Binance price ``p(t)``: ``chainlink / binance − 1`` (0.0006 = 6 bps),
smoothed as an exponentially weighted moving average (``basis_alpha``, default 0.05: about the
last 40 seconds).

Memory is bounded: per asset, only the trades of the last ``history_ms`` (120 s) and the one
before them, and the newest Chainlink TWAP and spot price.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from polyexec.core.events import BinanceTrade, FeedEvent, PriceSource, ReferencePrice
from polyexec.core.models import TimestampMs
from polyexec.venues.binance_messages import asset_of_symbol

__all__ = ["PRICE_SCALE", "ReferencePrices"]

PRICE_SCALE: Final = 8
"""Binance prices are taken at 10⁻⁸: the TWAP integral is an exact integer."""
_RESULT_SCALE: Final = 12
_RESULT_QUANTUM: Final = Decimal(1).scaleb(-_RESULT_SCALE)
_BASIS_QUANTUM: Final = Decimal("1E-12")
_COMPACT_AFTER: Final = 1024


def _rounded_ratio(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-even (denominator > 0)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def _scaled_price(price: Decimal) -> int:
    return int(price.scaleb(PRICE_SCALE).to_integral_value(rounding=ROUND_HALF_EVEN))


@dataclass
class _TradePath:
    """The Binance price path of one asset as parallel lists, oldest first, with the running
    integral of price over time at each trade (``areas``, in 10⁻⁸ USDT · ms), so any integral
    is two lookups. ``start`` is the first live index; the lists are compacted now and then."""

    times: list[int] = field(default_factory=list)
    prices: list[int] = field(default_factory=list)
    areas: list[int] = field(default_factory=list)
    start: int = 0

    def __len__(self) -> int:
        return len(self.times) - self.start

    def append(self, time_ms: int, price: int, history_ms: int) -> None:
        if self.times:
            self.areas.append(self.areas[-1] + self.prices[-1] * (time_ms - self.times[-1]))
        else:
            self.areas.append(0)
        self.times.append(time_ms)
        self.prices.append(price)
        # Keep the trades of the last history_ms and the one standing at its start.
        cutoff = time_ms - history_ms
        keep_from = bisect_right(self.times, cutoff, lo=self.start) - 1
        if keep_from > self.start:
            self.start = keep_from
        if self.start > _COMPACT_AFTER and 2 * self.start > len(self.times):
            del self.times[: self.start], self.prices[: self.start], self.areas[: self.start]
            self.start = 0

    def index_at(self, time_ms: int) -> int:
        """Index of the trade standing at ``time_ms`` (``-1`` before the oldest kept)."""
        index = bisect_right(self.times, time_ms, lo=self.start) - 1
        return index if index >= self.start else -1

    def area_at(self, time_ms: int) -> int:
        """The running integral at ``time_ms`` (which must not precede the oldest trade)."""
        index = self.index_at(time_ms)
        return self.areas[index] + self.prices[index] * (time_ms - self.times[index])


@dataclass
class _AssetState:
    path: _TradePath = field(default_factory=_TradePath)
    last_trade: BinanceTrade | None = None
    twap: ReferencePrice | None = None
    spot: ReferencePrice | None = None
    basis: Decimal | None = None
    basis_samples: int = 0
    answered: PriceSource | None = None
    answered_once: bool = False
    source_changes: int = 0
    last_change_ms: TimestampMs | None = None


class ReferencePrices:
    """The settlement-equivalent 60-second TWAP of each of ``assets``, and where it came from.

    Feed it every :class:`~polyexec.core.events.BinanceTrade` and
    :class:`~polyexec.core.events.ReferencePrice` (other events are ignored) through
    :meth:`apply`; ask with :meth:`current` / :meth:`source`. Durations are milliseconds.
    """

    def __init__(
        self,
        assets: Iterable[str],
        *,
        window_ms: int = 60_000,
        min_coverage_ms: int | None = None,
        rtds_stale_after_ms: int = 10_000,
        binance_stale_after_ms: int = 10_000,
        history_ms: int = 120_000,
        basis_alpha: Decimal = Decimal("0.05"),
        correct_basis: bool = False,
    ) -> None:
        names = [asset.strip().lower() for asset in assets]
        if not names or not all(name.isalnum() for name in names):
            raise ValueError(f"expected asset names such as 'btc', got {names!r}")
        coverage = window_ms if min_coverage_ms is None else min_coverage_ms
        if not window_ms > 0:
            raise ValueError(f"window_ms must be positive (got {window_ms})")
        if not 0 < coverage <= window_ms:
            raise ValueError(f"min_coverage_ms must be in (0, window_ms] (got {coverage})")
        if rtds_stale_after_ms <= 0 or binance_stale_after_ms <= 0:
            raise ValueError("staleness limits must be positive")
        if history_ms < window_ms + binance_stale_after_ms:
            raise ValueError(
                f"history_ms ({history_ms}) must cover window_ms + binance_stale_after_ms "
                f"({window_ms + binance_stale_after_ms})"
            )
        if not (basis_alpha.is_finite() and 0 < basis_alpha <= 1):
            raise ValueError(f"basis_alpha must be in (0, 1] (got {basis_alpha})")
        self._states = {name: _AssetState() for name in names}
        self.window_ms = window_ms
        self.min_coverage_ms = coverage
        self.rtds_stale_after_ms = rtds_stale_after_ms
        self.binance_stale_after_ms = binance_stale_after_ms
        self.history_ms = history_ms
        self.basis_alpha = basis_alpha
        self.correct_basis = correct_basis
        self.trades_applied = 0
        self.trades_out_of_order = 0
        """Trades not applied: not newer (trade id and time) than the last one of their symbol."""
        self.ignored = 0
        """Events for an asset that is not configured, or of a source this tracker does not take."""
        self._latest_ms = 0

    @property
    def assets(self) -> tuple[str, ...]:
        return tuple(self._states)

    # ------------------------------------------------------------------ input
    def apply(self, event: FeedEvent) -> None:
        """Take one feed event; anything but Binance trades and Chainlink prices is ignored."""
        if isinstance(event, BinanceTrade):
            self.apply_trade(event)
        elif isinstance(event, ReferencePrice):
            self.apply_reference_price(event)

    def apply_trade(self, trade: BinanceTrade) -> None:
        asset = asset_of_symbol(trade.symbol)
        state = None if asset is None else self._states.get(asset)
        if state is None:
            self.ignored += 1
            return
        last = state.last_trade
        if last is not None and (trade.trade_id <= last.trade_id or trade.trade_time_ms < last.trade_time_ms):
            self.trades_out_of_order += 1
            return
        state.path.append(trade.trade_time_ms, _scaled_price(trade.price), self.history_ms)
        state.last_trade = trade
        self.trades_applied += 1
        self._latest_ms = max(self._latest_ms, trade.trade_time_ms)

    def apply_reference_price(self, price: ReferencePrice) -> None:
        state = self._states.get(price.asset)
        if state is None or price.source is PriceSource.BINANCE_TWAP_60:
            self.ignored += 1
            return
        self._latest_ms = max(self._latest_ms, price.timestamp_ms)
        if price.source is PriceSource.CHAINLINK_TWAP_60:
            if state.twap is None or price.timestamp_ms > state.twap.timestamp_ms:
                state.twap = price
            return
        if state.spot is not None and price.timestamp_ms <= state.spot.timestamp_ms:
            return
        state.spot = price
        binance = self._binance_price_at(state, price.timestamp_ms)
        if binance is None:
            return
        sample = (price.value * (10**PRICE_SCALE) / binance - 1).quantize(_BASIS_QUANTUM)
        previous = state.basis
        smoothed = sample if previous is None else previous + self.basis_alpha * (sample - previous)
        state.basis = smoothed.quantize(_BASIS_QUANTUM)
        state.basis_samples += 1

    # ------------------------------------------------------------------ questions
    def current(self, asset: str, now_ms: TimestampMs) -> ReferencePrice | None:
        """The settlement-equivalent 60-second TWAP of ``asset`` at ``now_ms``: the fresh RTDS
        TWAP, else the Binance stand-in (stamped ``now_ms``), else ``None``."""
        state = self._state(asset)
        price = self._pick(asset, state, now_ms)
        source = None if price is None else price.source
        if source != state.answered or not state.answered_once:
            # Count switches (and losing the price altogether), not the first answer.
            if state.answered_once:
                state.source_changes += 1
                state.last_change_ms = now_ms
            state.answered, state.answered_once = source, True
        return price

    def source(self, asset: str, now_ms: TimestampMs) -> PriceSource | None:
        """Which source :meth:`current` answers from at ``now_ms`` (``None``: neither)."""
        price = self.current(asset, now_ms)
        return None if price is None else price.source

    def binance_twap(self, asset: str, now_ms: TimestampMs) -> Decimal | None:
        """The Binance TWAP over ``[now − window, now]`` as defined in the module docs (USDT,
        never basis-corrected); ``None`` without enough fresh trades."""
        state = self._state(asset)
        path = state.path
        last = state.last_trade
        if last is None or now_ms - last.trade_time_ms > self.binance_stale_after_ms:
            return None
        oldest = path.times[path.start]
        low = max(now_ms - self.window_ms, oldest)
        span = now_ms - low
        if span <= 0 or (low > now_ms - self.window_ms and span < self.min_coverage_ms):
            return None
        integral = path.area_at(now_ms) - path.area_at(low)
        scaled = _rounded_ratio(integral * 10 ** (_RESULT_SCALE - PRICE_SCALE), span)
        return Decimal(f"{scaled}E-{_RESULT_SCALE}")

    def chainlink_twap(self, asset: str) -> ReferencePrice | None:
        """The newest RTDS 60-second TWAP of ``asset``, fresh or not."""
        return self._state(asset).twap

    def chainlink_spot(self, asset: str) -> ReferencePrice | None:
        """The newest Chainlink spot price of ``asset``."""
        return self._state(asset).spot

    def binance_last(self, asset: str) -> BinanceTrade | None:
        """The newest Binance trade of ``asset``."""
        return self._state(asset).last_trade

    def basis(self, asset: str) -> Decimal | None:
        """Smoothed ``chainlink / binance − 1`` of ``asset`` (``None`` before the first sample)."""
        return self._state(asset).basis

    def status(self, now_ms: TimestampMs | None = None) -> dict[str, object]:
        """Per asset: the source in use, every price with its age, the basis; plus counters.
        Without ``now_ms``, the newest event time seen stands in for now."""
        now = self._latest_ms if now_ms is None else now_ms
        assets: dict[str, object] = {}
        for asset, state in self._states.items():
            current = self._pick(asset, state, now)
            binance = self.binance_twap(asset, now)
            assets[asset] = {
                "source": None if current is None else current.source.value,
                "value": None if current is None else str(current.value),
                "chainlink_twap": _describe(state.twap, now),
                "chainlink_spot": _describe(state.spot, now),
                "binance_twap": None if binance is None else str(binance),
                "binance_last": None
                if state.last_trade is None
                else {
                    "price": str(state.last_trade.price),
                    "age_ms": now - state.last_trade.trade_time_ms,
                },
                "basis": None if state.basis is None else str(state.basis),
                "basis_samples": state.basis_samples,
                "trades_kept": len(state.path),
                "source_changes": state.source_changes,
                "last_source_change_ms": state.last_change_ms,
            }
        return {
            "now_ms": now,
            "assets": assets,
            "trades_applied": self.trades_applied,
            "trades_out_of_order": self.trades_out_of_order,
            "ignored": self.ignored,
        }

    # ------------------------------------------------------------------ internals
    def _state(self, asset: str) -> _AssetState:
        try:
            return self._states[asset]
        except KeyError:
            raise KeyError(f"asset {asset!r} is not tracked (tracked: {', '.join(self._states)})") from None

    def _pick(self, asset: str, state: _AssetState, now_ms: int) -> ReferencePrice | None:
        twap = state.twap
        if twap is not None and now_ms - twap.timestamp_ms <= self.rtds_stale_after_ms:
            return twap
        value = self.binance_twap(asset, now_ms)
        if value is None:
            return None
        if self.correct_basis and state.basis is not None:
            value = (value * (1 + state.basis)).quantize(_RESULT_QUANTUM)
        return ReferencePrice(asset, PriceSource.BINANCE_TWAP_60, value, now_ms)

    def _binance_price_at(self, state: _AssetState, time_ms: int) -> int | None:
        """The scaled Binance price standing at ``time_ms``, if it is not stale there."""
        path = state.path
        if not len(path):
            return None
        index = path.index_at(time_ms)
        if index < 0 or time_ms - path.times[index] > self.binance_stale_after_ms:
            return None
        return path.prices[index]


def _describe(price: ReferencePrice | None, now_ms: int) -> dict[str, object] | None:
    if price is None:
        return None
    return {
        "value": str(price.value),
        "timestamp_ms": price.timestamp_ms,
        "age_ms": now_ms - price.timestamp_ms,
    }
