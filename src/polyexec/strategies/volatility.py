"""Realised volatility of an underlying from its Binance trades, per √second.

:class:`RealisedVolatility` is what the fair-value model's ``σ`` comes from. The engine feeds it
every Binance trade of one symbol (:meth:`RealisedVolatility.add_trade`, trade time passed in)
and reads :meth:`RealisedVolatility.value` when it builds the strategy context.

How it estimates
    * **Sampling on whole seconds.** Trade prices define a step function; the *close* of
      second ``s`` is the last trade price with a trade time inside ``[s, s + 1)`` seconds (or
      the price standing from before, when nothing traded). The returns are the log changes
      between consecutive closes: one per second, so intra-second noise (many trades bouncing
      between bid and ask within one second) does not count, and a quiet second is a zero
      return, as it should be for a price that did not move.
    * **EWMA of squared returns**, zero mean (no drift over seconds), with a half-life in
      seconds, bias-corrected: the estimate is ``Σ wᵢ rᵢ² / Σ wᵢ`` with weights decaying by half
      every ``half_life_s`` seconds, so the first answers are plain averages rather than a
      blend with an arbitrary starting value.
    * **Warm-up.** No answer (``None``) before ``min_returns`` one-second returns were seen.
    * **Floor and ceiling.** The answer is clamped into ``[floor, ceiling]``: a quiet minute
      must not make the model certain, and a bad print must not make it blind.
    * **Gaps.** A gap longer than ``max_gap_s`` between trades is a feed outage, not a quiet
      market: the path across it is unknown, so the estimator starts over (warm-up included).
      :meth:`value` with ``now_ms`` answers ``None`` once the newest trade is older than that.
    * Trades from a second already closed (out of order) and non-positive or non-finite prices
      are counted (:attr:`rejected`) and skipped, never raised.

Memory is constant: a handful of floats, whatever the trade rate. ``σ`` is a float: it is a
model input, not money. BTC at 50 % a year is about ``8.9e-5`` per √second.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Final

from polyexec.core.models import TimestampMs

__all__ = ["RealisedVolatility"]

_SECOND_MS: Final = 1_000


class RealisedVolatility:
    """EWMA realised volatility of one symbol from its trades, per √second (see module docs)."""

    __slots__ = (
        "_close_log",
        "_decay",
        "_last_log",
        "_last_trade_ms",
        "_returns",
        "_second",
        "_weight",
        "_weighted_squares",
        "ceiling",
        "floor",
        "half_life_s",
        "max_gap_s",
        "min_returns",
        "rejected",
    )

    _second: int | None  # the open (not yet closed) second, Unix seconds
    _last_log: float  # log of the newest price in the open second
    _close_log: float | None  # log close of the last closed second
    _last_trade_ms: TimestampMs | None
    _weighted_squares: float
    _weight: float
    _returns: int
    _decay: float

    def __init__(
        self,
        *,
        half_life_s: float = 300.0,
        min_returns: int = 60,
        floor: float = 2e-5,
        ceiling: float = 1e-3,
        max_gap_s: int = 60,
    ) -> None:
        """``half_life_s``: seconds after which a return's weight has halved. ``min_returns``:
        one-second returns needed before answering. ``floor``/``ceiling``: bounds of the answer,
        per √second. ``max_gap_s``: longest silence between trades treated as a quiet market;
        longer is an outage and restarts the estimate. ``ValueError`` for inconsistent values."""
        if not (math.isfinite(half_life_s) and half_life_s > 0):
            raise ValueError(f"half_life_s must be a positive number of seconds, got {half_life_s}")
        if isinstance(min_returns, bool) or not isinstance(min_returns, int) or min_returns < 1:
            raise ValueError(f"min_returns must be an int >= 1, got {min_returns!r}")
        if not (math.isfinite(floor) and math.isfinite(ceiling) and 0 <= floor <= ceiling and ceiling > 0):
            raise ValueError(f"need 0 <= floor <= ceiling and ceiling > 0, got {floor} and {ceiling}")
        if isinstance(max_gap_s, bool) or not isinstance(max_gap_s, int) or max_gap_s < 1:
            raise ValueError(f"max_gap_s must be an int >= 1 second, got {max_gap_s!r}")
        self.half_life_s = half_life_s
        self.min_returns = min_returns
        self.floor = floor
        self.ceiling = ceiling
        self.max_gap_s = max_gap_s
        self.rejected = 0
        """Trades skipped: bad prices and trades from an already closed second."""
        self._decay = 0.5 ** (1.0 / half_life_s)  # weight kept per second
        self._clear()

    # --- feeding ------------------------------------------------------------------------------

    def add_trade(self, price: Decimal | float, time_ms: TimestampMs) -> bool:
        """Take one trade at ``price`` made at ``time_ms`` (the trade time, Unix ms).

        Returns False (and counts it in :attr:`rejected`) for a non-positive or non-finite
        price, or a trade from a second that is already closed; True otherwise.
        """
        try:
            value = float(price)
        except (TypeError, ValueError, ArithmeticError):
            self.rejected += 1
            return False
        if not (math.isfinite(value) and value > 0):
            self.rejected += 1
            return False
        second = time_ms // _SECOND_MS
        log_price = math.log(value)
        if self._second is None:
            self._start(second, log_price, time_ms)
            return True
        if second < self._second:
            self.rejected += 1
            return False
        if second > self._second:
            if second - self._second > self.max_gap_s:
                # An outage: the moves across it are unknown, and the old estimate is stale.
                self._clear()
                self._start(second, log_price, time_ms)
                return True
            self._close_seconds(second)
        self._last_log = log_price
        if self._last_trade_ms is None or time_ms > self._last_trade_ms:
            self._last_trade_ms = time_ms
        return True

    def reset(self) -> None:
        """Forget everything but the settings and :attr:`rejected` (warm-up starts again)."""
        self._clear()

    # --- reading ------------------------------------------------------------------------------

    def value(self, now_ms: TimestampMs | None = None) -> float | None:
        """σ per √second, clamped into ``[floor, ceiling]``; ``None`` during the warm-up, and
        when ``now_ms`` is given and the newest trade is more than ``max_gap_s`` older."""
        if self._returns < self.min_returns or self._weight <= 0.0:
            return None
        if (
            now_ms is not None
            and self._last_trade_ms is not None
            and now_ms - self._last_trade_ms > self.max_gap_s * _SECOND_MS
        ):
            return None
        sigma = math.sqrt(self._weighted_squares / self._weight)
        return min(max(sigma, self.floor), self.ceiling)

    @property
    def raw_value(self) -> float | None:
        """The unclamped estimate, even during the warm-up; ``None`` before the first return."""
        if self._weight <= 0.0:
            return None
        return math.sqrt(self._weighted_squares / self._weight)

    @property
    def returns_seen(self) -> int:
        """One-second returns in the current estimate (since the start or the last outage)."""
        return self._returns

    @property
    def ready(self) -> bool:
        """Whether the warm-up is over (:meth:`value` may still be ``None`` for staleness)."""
        return self._returns >= self.min_returns

    # --- internals ----------------------------------------------------------------------------

    def _clear(self) -> None:
        self._second = None
        self._last_log = 0.0
        self._close_log = None
        self._last_trade_ms = None
        self._weighted_squares = 0.0
        self._weight = 0.0
        self._returns = 0

    def _start(self, second: int, log_price: float, time_ms: TimestampMs) -> None:
        self._second = second
        self._last_log = log_price
        self._last_trade_ms = time_ms

    def _close_seconds(self, new_second: int) -> None:
        """Close every second from the open one up to ``new_second − 1``."""
        assert self._second is not None
        if self._close_log is not None:  # the very first close has nothing to return from
            change = self._last_log - self._close_log
            self._add_returns(change * change, 1)
        # The seconds after the open one saw no trade: their closes repeat the price, zero
        # returns. A zero return decays the sum and adds weight: all of them at once.
        quiet = new_second - self._second - 1
        if quiet > 0:
            self._add_returns(0.0, quiet)
        self._close_log = self._last_log
        self._second = new_second

    def _add_returns(self, square: float, count: int) -> None:
        """Fold in ``count`` consecutive returns, each of squared value ``square``."""
        keep = self._decay**count
        self._weighted_squares = keep * self._weighted_squares + (1.0 - keep) * square
        self._weight = keep * self._weight + (1.0 - keep)
        self._returns += count
