"""The exchange's records: orders, trades and their statuses.

Sizes and amounts are integer micro-units (see :mod:`polyexec.sim.units`); prices are
``Decimal``. Status names are the bare forms the user channel sends (``LIVE``, ``MATCHED`` …);
REST prefixes them (``ORDER_STATUS_LIVE``, ``TRADE_STATUS_MATCHED``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from polyexec.sim.units import fmt_micro

__all__ = [
    "BUY",
    "OPEN_STATUSES",
    "SELL",
    "Order",
    "OrderRequest",
    "OrderStatus",
    "Placement",
    "Trade",
    "TradeStatus",
]

BUY = "BUY"
SELL = "SELL"


class OrderStatus:
    """Order statuses (bare form)."""

    LIVE = "LIVE"
    MATCHED = "MATCHED"
    CANCELED = "CANCELED"
    CANCELED_MARKET_RESOLVED = "CANCELED_MARKET_RESOLVED"
    CANCELED_EXPIRED_ORDER = "CANCELED_EXPIRED_ORDER"


OPEN_STATUSES = frozenset({OrderStatus.LIVE})


class TradeStatus:
    """Trade statuses (bare form): MATCHED → MINED → CONFIRMED, or MATCHED → FAILED."""

    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"


@dataclass(slots=True, eq=False)
class Order:
    """One order the exchange accepted.

    ``original_size`` and ``size_matched`` are micro-shares. A market BUY (FOK/FAK) spends a
    pUSD ``budget`` instead of buying a fixed number of shares: its ``original_size`` is the
    signed minimum (``takerAmount``) and it may end with ``size_matched`` above it when the
    book offers a better price. ``owner`` is the API key (``internal:<name>`` for the
    simulator's own accounts) and ``account`` the lower-case funding address.
    """

    id: str
    seq: int
    owner: str
    account: str
    maker_address: str
    signer: str
    market: str
    asset_id: str
    outcome: str
    side: str
    price: Decimal
    original_size: int
    order_type: str
    created_ms: int
    internal: bool = False
    post_only: bool = False
    expiration: int = 0
    budget: int | None = None
    spent: int = 0
    size_matched: int = 0
    status: str = OrderStatus.LIVE
    associate_trades: list[str] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        """Micro-shares still to fill (for a budget order: what the unspent budget still allows)."""
        return max(self.original_size - self.size_matched, 0)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(slots=True, eq=False)
class Trade:
    """One fill between a taker order and one maker order, at the maker's price.

    ``size`` is micro-shares, ``notional`` micro-pUSD, ``fee`` the taker's fee in micro-pUSD.
    ``due_ms`` is when the next status change happens (``None`` once terminal); ``fails``
    says whether this trade is a ghost fill that ends FAILED.
    """

    id: str
    market: str
    asset_id: str
    outcome: str
    taker_order: Order
    maker_order: Order
    side: str
    price: Decimal
    size: int
    notional: int
    fee: int
    match_ms: int
    fails: bool
    status: str = TradeStatus.MATCHED
    last_update_ms: int = 0
    transaction_hash: str = ""
    due_ms: int | None = None

    @property
    def buyer(self) -> Order:
        return self.taker_order if self.side == BUY else self.maker_order

    @property
    def seller(self) -> Order:
        return self.maker_order if self.side == BUY else self.taker_order

    @property
    def buyer_fee(self) -> int:
        """What the buyer pays on top of the notional: the fee if the buyer is the taker."""
        return self.fee if self.side == BUY else 0

    @property
    def seller_fee(self) -> int:
        """What comes off the seller's proceeds: the fee if the seller is the taker."""
        return self.fee if self.side != BUY else 0


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A client order whose signature and wallet rules have been checked (see
    :mod:`polyexec.sim.orders`), ready for the exchange's market checks.

    ``owner`` is the API key, ``signer`` the EOA that owns it, ``maker`` the funding wallet.
    Amounts are the signed 6-decimal integers.
    """

    id: str
    owner: str
    signer: str
    maker: str
    signature_type: int
    asset_id: str
    side: str
    maker_amount: int
    taker_amount: int
    order_type: str
    post_only: bool = False
    expiration: int = 0


@dataclass(slots=True)
class Placement:
    """The result of a client order: the venue's ``status`` and what matched at entry."""

    order: Order
    trades: list[Trade] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.trades:
            return "matched"
        return "live" if self.order.is_open else "unmatched"

    def amounts(self) -> tuple[str, str]:
        """``(makingAmount, takingAmount)`` of the matched part, as decimal strings."""
        shares = sum(t.size for t in self.trades)
        pusd = sum(t.notional for t in self.trades)
        if self.order.side == BUY:
            return fmt_micro(pusd), fmt_micro(shares)
        return fmt_micro(shares), fmt_micro(pusd)
