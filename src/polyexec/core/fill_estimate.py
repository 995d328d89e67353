"""What a taker order would get by walking a book now: :class:`FillEstimate`, the answer of
:meth:`OrderBook.estimate_fill <polyexec.core.order_book.OrderBook.estimate_fill>` and
:meth:`~polyexec.core.order_book.OrderBook.estimate_fill_for_notional`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from polyexec.core.models import Side

__all__ = ["FillEstimate"]

_HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class FillEstimate:
    """What a taker order would get by walking the book now (no fees, no queue, no latency).

    ``side`` is the taker's side: a BUY walks the asks upwards, a SELL walks the bids downwards.
    Exactly one of ``requested_size`` (shares) and ``requested_notional`` (dollars) is set.
    ``notional`` is the dollars exchanged (Σ price × size), ``vwap`` their average price,
    ``worst_price`` the last level reached and ``touch_price`` the best opposite price before
    the walk. The price fields are ``None`` when nothing could be filled.
    """

    side: Side
    requested_size: Decimal | None
    requested_notional: Decimal | None
    filled_size: Decimal
    notional: Decimal
    vwap: Decimal | None
    worst_price: Decimal | None
    touch_price: Decimal | None
    levels_used: int
    complete: bool
    """True when the whole request fits in the visible book."""

    @property
    def insufficient_depth(self) -> bool:
        """The book does not hold enough to fill the whole request."""
        return not self.complete

    @property
    def slippage(self) -> Decimal | None:
        """How much worse the VWAP is than the touch, in price units (≥ 0)."""
        if self.vwap is None or self.touch_price is None:
            return None
        if self.side is Side.BUY:
            return self.vwap - self.touch_price
        return self.touch_price - self.vwap

    @property
    def slippage_pct(self) -> Decimal | None:
        """:attr:`slippage` as a percentage of the touch price."""
        slippage = self.slippage
        if slippage is None or self.touch_price is None:
            return None
        return slippage * _HUNDRED / self.touch_price
