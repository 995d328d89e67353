"""Domain models shared by every layer: sides, order types, markets, book levels, intents, fills.

Everything here is immutable and exact. Prices, sizes and amounts are :class:`~decimal.Decimal`
(or integers of venue units, 6 decimals); never ``float``. Time is an integer count of
milliseconds since the Unix epoch (:data:`TimestampMs`), always passed in by the caller: the
core has no clock of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Final

__all__ = [
    "ONE",
    "USDC_DECIMALS",
    "USDC_UNIT",
    "ZERO",
    "BookLevel",
    "CancelIntent",
    "CancelScope",
    "FeeSchedule",
    "Fill",
    "Liquidity",
    "Market",
    "OrderIntent",
    "OrderType",
    "Outcome",
    "Side",
    "SignatureType",
    "TimestampMs",
    "TradeStatus",
]

TimestampMs = int
"""Milliseconds since the Unix epoch (UTC). The venue's own unit for order timestamps."""

USDC_DECIMALS: Final = 6
"""pUSD and the conditional tokens both have 6 decimals: 1 share = 1_000_000 units."""
USDC_UNIT: Final = 10**USDC_DECIMALS

ZERO: Final = Decimal(0)
ONE: Final = Decimal(1)


class Side(StrEnum):
    """Order side as the venue spells it on the wire (``"BUY"`` / ``"SELL"``)."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def wire_int(self) -> int:
        """The ``uint8 side`` of the signed EIP-712 struct: 0 = BUY, 1 = SELL."""
        return 0 if self is Side.BUY else 1


class OrderType(StrEnum):
    """Time in force as the venue's ``orderType`` field. Post-only is a separate flag
    (:attr:`OrderIntent.post_only`), valid only with GTC and GTD."""

    GTC = "GTC"
    GTD = "GTD"
    FOK = "FOK"
    FAK = "FAK"

    @property
    def is_marketable_only(self) -> bool:
        """FOK and FAK never rest on the book: they fill now or die."""
        return self in (OrderType.FOK, OrderType.FAK)


class SignatureType(IntEnum):
    """Wallet type of the order's maker (docs §4.3)."""

    EOA = 0
    POLY_PROXY = 1
    POLY_GNOSIS_SAFE = 2
    POLY_1271 = 3  # deposit wallet


class Outcome(StrEnum):
    """The two outcomes of an Up/Down market. Ties settle Up."""

    UP = "Up"
    DOWN = "Down"

    @property
    def opposite(self) -> Outcome:
        return Outcome.DOWN if self is Outcome.UP else Outcome.UP


class TradeStatus(StrEnum):
    """Settlement status of a venue trade. Only CONFIRMED is final success; FAILED voids it.

    RETRYING means the settlement transaction reverted and the operator is resubmitting: it can
    still go back to MINED and on to CONFIRMED.
    """

    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in (TradeStatus.CONFIRMED, TradeStatus.FAILED)

    @classmethod
    def parse(cls, raw: str) -> TradeStatus:
        """Accept both the WS form (``MATCHED``) and the REST form (``TRADE_STATUS_MATCHED``).

        ``MATCHED_NOT_BROADCASTED`` (seen in REST listings) is provisional, like MATCHED.
        Raises ``ValueError`` naming the value for anything else.
        """
        value = raw.strip().upper().removeprefix("TRADE_STATUS_")
        if value == "MATCHED_NOT_BROADCASTED":
            return cls.MATCHED
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown trade status {raw!r}") from None


class Liquidity(StrEnum):
    """Whether our side of a trade provided (MAKER) or took (TAKER) liquidity."""

    MAKER = "MAKER"
    TAKER = "TAKER"


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Taker fee curve: ``fee = shares × rate × (p·(1−p))^exponent`` (docs §6.6).

    Read per market (Gamma ``feeSchedule`` / CLOB ``fd``); the defaults are the crypto values.
    """

    rate: Decimal = Decimal("0.07")
    exponent: int = 1
    taker_only: bool = True
    rebate_rate: Decimal = Decimal("0.2")


@dataclass(frozen=True, slots=True)
class Market:
    """One 15-minute Up/Down market: one window of one asset.

    ``window_start``/``window_end`` are Unix **seconds** (the slug's number is the start).
    Token ids are decimal uint256 strings (they exceed 2^64: keep them as ``str``).
    """

    asset: str  # lower case, e.g. "btc"
    slug: str  # e.g. "btc-updown-15m-1790616600"
    condition_id: str  # 0x-prefixed 32-byte hex
    up_token_id: str
    down_token_id: str
    window_start: int
    window_end: int
    tick_size: Decimal = Decimal("0.01")
    min_size: Decimal = Decimal(5)
    fee: FeeSchedule = field(default_factory=FeeSchedule)
    neg_risk: bool = False

    def token_for(self, outcome: Outcome) -> str:
        return self.up_token_id if outcome is Outcome.UP else self.down_token_id

    def outcome_of(self, token_id: str) -> Outcome:
        """The outcome a token id stands for; ``ValueError`` if it is not this market's."""
        if token_id == self.up_token_id:
            return Outcome.UP
        if token_id == self.down_token_id:
            return Outcome.DOWN
        raise ValueError(f"token {token_id} does not belong to market {self.slug}")

    def other_token(self, token_id: str) -> str:
        return self.token_for(self.outcome_of(token_id).opposite)

    @property
    def category(self) -> str:
        """Exposure category: every window of one asset is one correlated bet."""
        return self.asset

    def seconds_to_end(self, now_ms: TimestampMs) -> Decimal:
        return Decimal(self.window_end * 1000 - now_ms) / 1000


@dataclass(frozen=True, slots=True)
class BookLevel:
    """One price level: aggregate ``size`` in shares resting at ``price``."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy proposes: buy or sell ``size`` shares of ``token_id`` at ``price``.

    ``price`` is the limit (for FOK/FAK, the worst acceptable price). ``reduces_position``
    marks an order that only shrinks an existing position: the risk manager lets such orders
    through in the REDUCING state. ``expiration_s`` is the GTD expiry (Unix seconds as sent on
    the wire), ``None`` otherwise.
    """

    strategy: str  # short code, e.g. "FV", "MM", "FF", "ICC"
    condition_id: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    order_type: OrderType = OrderType.GTC
    post_only: bool = False
    expiration_s: int | None = None
    reduces_position: bool = False
    reason: str = ""

    @property
    def notional(self) -> Decimal:
        """Worst-case cash at stake, in dollars: ``price × size``."""
        return self.price * self.size


class CancelScope(StrEnum):
    ORDER = "ORDER"
    MARKET = "MARKET"
    ALL = "ALL"


@dataclass(frozen=True, slots=True)
class CancelIntent:
    """A request to cancel one order, every order in a market, or everything. Cancels are
    always allowed through the risk manager."""

    scope: CancelScope
    order_id: str | None = None
    condition_id: str | None = None
    token_id: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of one of our orders, from a venue trade.

    A fill is provisional until ``status`` is CONFIRMED; a FAILED fill is void (the position
    and PnL it caused are reversed). ``fee`` is what we paid in dollars (zero for makers on
    crypto markets). ``trade_id`` plus ``order_id`` identify the fill: one trade can fill
    several of our maker orders.
    """

    trade_id: str
    order_id: str
    condition_id: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: Liquidity
    status: TradeStatus
    timestamp_ms: TimestampMs
    strategy: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.trade_id, self.order_id)

    @property
    def notional(self) -> Decimal:
        return self.price * self.size
