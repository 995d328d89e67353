"""The part of a window's settlement average already observed, from price samples as they come.

A 15-minute window settles on the 60-second TWAP at its end: the time-weighted average price over
``[end − 60 s, end]`` (``docs/fair-value.md``). Inside that last minute, part of the average is
already fixed, and the fair-value model needs it: ``(seconds observed, mean so far)``
(:attr:`WindowView.settlement_observed <polyexec.strategies.context.WindowView.settlement_observed>`).

:class:`SettlementAverage` computes it for one window from a stream of price samples (Chainlink
spot prices from RTDS, or Binance trades as the stand-in). Prices define a step function: each
sample's price stands from its time until the next sample. The mean is the integral of that step
function over ``[start, min(now, end)]`` divided by the span, where the price standing at
``start`` is the last sample before it. Without a sample before ``start``, the average starts at
the first sample (the covered part is all there is to go on).

Pure bookkeeping: no clock (times are Unix milliseconds, passed in), exact ``Decimal`` sums. Samples
that are not positive finite numbers, or older than the newest one taken, are counted in
:attr:`SettlementAverage.rejected` and skipped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from polyexec.core.models import ZERO, TimestampMs

__all__ = ["SettlementAverage"]

_SECOND_MS: Final = 1_000


class SettlementAverage:
    """Time-weighted mean of a price over ``[start_ms, end_ms]``, fed sample by sample."""

    __slots__ = ("_area", "_covered_from", "_price", "_time", "end_ms", "rejected", "start_ms")

    def __init__(self, start_ms: TimestampMs, end_ms: TimestampMs) -> None:
        """``ValueError`` unless ``start_ms < end_ms``."""
        if not start_ms < end_ms:
            raise ValueError(f"the averaging window must not be empty: [{start_ms}, {end_ms}]")
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.rejected = 0
        self._price: Decimal | None = None  # the price standing since _time
        self._time: TimestampMs = start_ms
        self._area = ZERO  # ∫ price dt over [_covered_from, max(_time, start)] (price × ms)
        self._covered_from = start_ms

    @property
    def last_sample_ms(self) -> TimestampMs | None:
        """Time of the newest sample taken (``None`` before the first)."""
        return None if self._price is None else self._time

    def add(self, price: Decimal, time_ms: TimestampMs) -> bool:
        """Take the sample ``price`` observed at ``time_ms``; False (counted) if refused."""
        if not (isinstance(price, Decimal) and price.is_finite() and price > 0):
            self.rejected += 1
            return False
        standing = self._price
        if standing is None:
            if time_ms > self.start_ms:
                # Nothing is known from the start to this first sample: average from here.
                self._covered_from = min(time_ms, self.end_ms)
        elif time_ms < self._time:
            self.rejected += 1
            return False
        else:
            low = self._time if self._time > self.start_ms else self.start_ms
            high = time_ms if time_ms < self.end_ms else self.end_ms
            if high > low:
                self._area += standing * (high - low)
        self._price = price
        self._time = time_ms
        return True

    def observed(self, now_ms: TimestampMs) -> tuple[int, Decimal] | None:
        """``(seconds observed, mean so far)`` at ``now_ms``, or ``None`` before ``start_ms`` or
        before any sample. Seconds are counted from ``start_ms``, rounded up (a part of a second
        observed counts: the model reads the elapsed time, not the number of samples); after
        ``end_ms`` the answer is the whole window's."""
        price = self._price
        if price is None or now_ms < self.start_ms:
            return None
        # A sample stamped after now (clocks differ a little) still counts up to its own time.
        high = min(max(now_ms, self._time), self.end_ms)
        low = self._time if self._time > self._covered_from else self._covered_from
        area = self._area + (price * (high - low) if high > low else ZERO)
        span = high - self._covered_from
        mean = price if span <= 0 else area / span
        seconds = -(-(min(now_ms, self.end_ms) - self.start_ms) // _SECOND_MS)
        return seconds, mean
