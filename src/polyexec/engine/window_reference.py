"""The reference prices of one traded window: its strike, and the settlement average observed so far.

A 15-minute window settles Up when the 60-second TWAP at its end is at or above the strike, the
same TWAP at its start (``docs/fair-value.md``). :class:`WindowReference` keeps both halves for
one market, as the tick processor learns them:

The strike
    Gamma's ``priceToBeat`` when the engine has it (:meth:`WindowReference.set_strike`; it
    always wins, even over a captured value). Otherwise :meth:`WindowReference.capture_strike`
    takes the settlement TWAP (:meth:`ReferencePrices.current
    <polyexec.venues.reference_prices.ReferencePrices.current>`) at the first event at or after
    the window start, on two conditions: the window was seen **before** it started (an engine
    started mid-window cannot know the TWAP at a start that has passed, so the window has no
    strike until Gamma publishes one), and the event comes at most ``max_delay_ms`` after the
    start (later, the TWAP has moved on). A TWAP from the Binance stand-in is a USDT price; it
    is corrected by the Binance–Chainlink basis when one is known, because the strike is a
    Chainlink USD price.

The settlement average observed
    Inside the last 60 seconds, :meth:`WindowReference.settlement_observed` gives ``(seconds
    observed, mean so far)`` of the average that settles the window. RTDS publishes the TWAP
    itself, not this partial average, so it is rebuilt from the prices the TWAP averages
    (:class:`~polyexec.engine.settlement_average.SettlementAverage`): the Chainlink spot prices
    while they are fresh (the reference tracker's ``rtds_stale_after_ms``), else the Binance
    trades (fresh within ``binance_stale_after_ms``) corrected by the basis, else ``None``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Final

from polyexec.core.events import PriceSource
from polyexec.core.models import Market, TimestampMs
from polyexec.engine.settlement_average import SettlementAverage
from polyexec.strategies.fair_value_model import AVERAGING_SECONDS
from polyexec.venues.reference_prices import ReferencePrices

__all__ = ["StrikeCapture", "WindowReference", "checked_strike", "settlement_twap"]

_SECOND_MS: Final = 1_000
_AVERAGING_MS: Final = AVERAGING_SECONDS * _SECOND_MS


class StrikeCapture(StrEnum):
    """What :meth:`WindowReference.capture_strike` did."""

    WAITING = "waiting"  # the window has not started, or no reference price yet: ask again
    CAPTURED = "captured"
    MISSED_MID_WINDOW = "missed_mid_window"  # first seen after its start: no strike
    MISSED_LATE = "missed_late"  # no reference price within the delay after the start
    NOT_NEEDED = "not_needed"  # the strike is known, or capturing was already given up


def checked_strike(strike: Decimal | None, what: str) -> Decimal | None:
    """``strike`` if it is ``None`` or a positive finite Decimal; ``ValueError`` naming ``what``."""
    if strike is not None and not (isinstance(strike, Decimal) and strike.is_finite() and strike > 0):
        raise ValueError(f"strike of {what} must be a positive finite Decimal, got {strike!r}")
    return strike


class WindowReference:
    """Strike and observed settlement average of one market (see the module docs).

    ``seen_before_start``: whether the window was seen before it started (``None``: not known
    yet; the first :meth:`capture_strike` decides from its ``now_ms``).
    """

    __slots__ = (
        "_capturing",
        "_seen_before_start",
        "binance",
        "chainlink",
        "end_ms",
        "market",
        "start_ms",
        "strike",
        "strike_source",
    )

    def __init__(
        self, market: Market, *, strike: Decimal | None = None, seen_before_start: bool | None = None
    ) -> None:
        self.market = market
        self.start_ms = market.window_start * _SECOND_MS
        self.end_ms = market.window_end * _SECOND_MS
        self.strike = checked_strike(strike, market.slug)
        self.strike_source = "" if strike is None else "gamma"
        self._capturing = strike is None
        self._seen_before_start = seen_before_start
        averaging_start = max(self.end_ms - _AVERAGING_MS, self.start_ms)
        self.chainlink = SettlementAverage(averaging_start, self.end_ms)
        """The average rebuilt from Chainlink spot prices (RTDS)."""
        self.binance = SettlementAverage(averaging_start, self.end_ms)
        """The average rebuilt from Binance trades (USDT: corrected by the basis when read)."""

    @property
    def awaiting_strike(self) -> bool:
        """Whether :meth:`capture_strike` may still set the strike."""
        return self._capturing

    @property
    def averaging_start_ms(self) -> TimestampMs:
        """When the settlement average starts (60 s before the end)."""
        return self.chainlink.start_ms

    def set_strike(self, strike: Decimal, source: str = "gamma") -> None:
        """Set the strike (``ValueError`` unless a positive Decimal); no capture afterwards."""
        self.strike = checked_strike(strike, self.market.slug)
        self.strike_source = source
        self._capturing = False

    def capture_strike(
        self, now_ms: TimestampMs, reference: ReferencePrices, *, max_delay_ms: int
    ) -> StrikeCapture:
        """At an event received at ``now_ms``: take the settlement TWAP as the strike if this is
        the moment (module docs). Cheap when there is nothing to do."""
        if not self._capturing:
            return StrikeCapture.NOT_NEEDED
        if self._seen_before_start is None:
            self._seen_before_start = now_ms < self.start_ms
        if not self._seen_before_start:
            self._capturing = False
            return StrikeCapture.MISSED_MID_WINDOW
        if now_ms < self.start_ms:
            return StrikeCapture.WAITING
        if now_ms - self.start_ms > max_delay_ms:
            self._capturing = False
            return StrikeCapture.MISSED_LATE
        captured = settlement_twap(reference, self.market.asset, now_ms)
        if captured is None:
            return StrikeCapture.WAITING
        self.strike, self.strike_source = captured
        self._capturing = False
        return StrikeCapture.CAPTURED

    def settlement_observed(
        self, now_ms: TimestampMs, reference: ReferencePrices
    ) -> tuple[int, Decimal] | None:
        """``(seconds observed, mean so far)`` of the settlement average at ``now_ms``, or
        ``None`` before it starts or without a fresh source (module docs)."""
        if now_ms <= self.averaging_start_ms:
            return None
        until = min(now_ms, self.end_ms)
        last = self.chainlink.last_sample_ms
        if last is not None and until - last <= reference.rtds_stale_after_ms:
            return self.chainlink.observed(now_ms)
        last = self.binance.last_sample_ms
        asset = self.market.asset
        if last is None or until - last > reference.binance_stale_after_ms or asset not in reference.assets:
            return None
        basis = reference.basis(asset)
        observed = self.binance.observed(now_ms)
        if observed is None or basis is None:
            return None
        return observed[0], observed[1] * (1 + basis)


def settlement_twap(
    reference: ReferencePrices, asset: str, now_ms: TimestampMs
) -> tuple[Decimal, str] | None:
    """The settlement TWAP of ``asset`` at ``now_ms`` as a Chainlink USD price, and its source
    (the Binance stand-in corrected by the basis when known); ``None`` without a price."""
    if asset not in reference.assets:
        return None
    price = reference.current(asset, now_ms)
    if price is None:
        return None
    value = price.value
    basis = reference.basis(asset)
    if price.source is PriceSource.BINANCE_TWAP_60 and not reference.correct_basis and basis is not None:
        value = value * (1 + basis)
    return value, str(price.source)
