"""Paper trading's fill maths: what a simulated order takes from the live book, and when a
resting one is filled. Pure: no clock, no I/O; :mod:`polyexec.venues.paper_exchange` drives it.

Units. Every share and dollar amount here is an integer of 6-decimal venue units
(1 share = 1 pUSD = 1_000_000 units), like the signed order's amounts and the chain's balances;
prices are the book's :class:`~decimal.Decimal` prices. A fill's dollar leg
(``shares × price``) is exact whenever it fits 6 decimals (always, for 2-decimal sizes and
venue prices); otherwise it is rounded **against us**: up when we pay, down when we receive.

What is here:

* :class:`OrderTerms` and :func:`terms_of`: side, share leg, dollar leg and limit price of a
  :class:`~polyexec.venues.order_signer.SignedOrder`, read from its signed amounts exactly.
* :class:`LiquidityUse`: how much of each displayed level our simulated fills already took.
  The live book is the venue's and our orders never reach it, so a level we "took" stays
  displayed; without this record a second order would take the same shares again.
* :func:`plan_taker`: the taker walk, level by level from the best price to the limit.
* :class:`PaperOrder` and the maker rules :func:`allocate_trade` (a printed trade reaches our
  resting orders) and :func:`allocate_crossing` (the book moves through them).
* Builders of the user-channel events and REST records a fill produces, in exactly the shapes
  :mod:`polyexec.venues.user_messages` decodes from the venue, and of the venue's refusals.
* :class:`PaperConfig`: paper trading's tunables (starting balance, delays), in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from polyexec.core.events import MakerOrderFill, UserOrderEvent, UserOrderEventKind, UserTradeEvent
from polyexec.core.models import (
    BookLevel,
    FeeSchedule,
    Liquidity,
    Market,
    OrderType,
    Side,
    TimestampMs,
    TradeStatus,
)
from polyexec.core.order_book import OrderBook
from polyexec.core.pricing import (
    Rounding,
    fee_for_fill,
    from_units,
    implied_price,
    rounding_within_limit,
    taker_fee,
    to_units,
)
from polyexec.venues.clob_responses import VenueOrder
from polyexec.venues.errors import DefinitiveReject
from polyexec.venues.order_signer import SignedOrder

__all__ = [
    "CANCELED",
    "CANCELED_EXPIRED_ORDER",
    "CANCELED_MARKET_RESOLVED",
    "FAK_TEXT",
    "FOK_TEXT",
    "LIVE",
    "MATCHED",
    "REPORTED_TAKER_FEE_RATE_BPS",
    "LevelFill",
    "LiquidityUse",
    "OrderTerms",
    "PaperConfig",
    "PaperOrder",
    "allocate_crossing",
    "allocate_trade",
    "balance_refusal",
    "buy_reserve_units",
    "fee_units",
    "notional_units",
    "order_event",
    "order_refusal",
    "plan_taker",
    "size_refusal",
    "terms_of",
    "tick_refusal",
    "trade_event",
    "venue_order",
]

# Order statuses, as the user channel spells them.
LIVE: Final = "LIVE"
MATCHED: Final = "MATCHED"
CANCELED: Final = "CANCELED"
CANCELED_EXPIRED_ORDER: Final = "CANCELED_EXPIRED_ORDER"
CANCELED_MARKET_RESOLVED: Final = "CANCELED_MARKET_RESOLVED"

REPORTED_TAKER_FEE_RATE_BPS: Final = 1000
"""What the venue reports as a crypto trade's ``fee_rate_bps`` (a signing cap, not the rate)."""


# --- policy ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """Paper trading's tunables. Seconds are non-negative; money is Decimal.

    ``taker_delay_s`` is the venue's hold of marketable orders (50 ms on crypto markets);
    ``settle_delay_s`` the wait from a match to MINED + CONFIRMED; ``owner`` stands for the API
    key in our maker fills' ``maker_orders`` entries.
    """

    starting_balance: Decimal = Decimal(1000)
    taker_delay_s: float = 0.05
    settle_delay_s: float = 0.0
    gtd_min_lifetime_s: int = 180
    gtd_early_expiry_s: int = 60
    min_marketable_buy: Decimal = Decimal(1)
    history_retention_s: float = 3600.0
    owner: str = "paper"

    def __post_init__(self) -> None:
        for name in ("taker_delay_s", "settle_delay_s", "gtd_min_lifetime_s", "gtd_early_expiry_s"):
            seconds = getattr(self, name)
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or not 0 <= seconds < math.inf
            ):
                raise ValueError(f"{name} must be a non-negative number of seconds, got {seconds!r}")
        if not 0 <= self.history_retention_s < math.inf:
            raise ValueError(f"history_retention_s must be non-negative, got {self.history_retention_s!r}")
        for name in ("starting_balance", "min_marketable_buy"):
            amount = getattr(self, name)
            if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
                raise ValueError(f"{name} must be a non-negative Decimal, got {amount!r}")


# --- amounts ---------------------------------------------------------------------------------


def notional_units(share_units: int, price: Decimal, *, round_up: bool) -> int:
    """Dollar units of ``share_units`` at ``price``: exact when whole, else rounded up (we pay)
    or down (we receive)."""
    numerator, denominator = price.as_integer_ratio()
    units, remainder = divmod(share_units * numerator, denominator)
    return units + 1 if round_up and remainder else units


def fee_units(share_units: int, price: Decimal, schedule: FeeSchedule, liquidity: Liquidity) -> int:
    """The fee of one fill in dollar units: :func:`~polyexec.core.pricing.fee_for_fill`, the
    codebase's one fee rule (the engine books the same figure from the trade event)."""
    return to_units(fee_for_fill(from_units(share_units), price, schedule, liquidity))


def buy_reserve_units(remaining_units: int, price: Decimal, schedule: FeeSchedule) -> int:
    """Dollars a resting BUY holds back: its notional at the limit, rounded up, plus the maker
    fee's upper bound on a schedule that charges makers (nothing on taker-only schedules).

    A maker BUY fill is charged the drop of this reserve, so the fills of an order cost exactly
    its reserve in total and never more than what was set aside."""
    reserve = notional_units(remaining_units, price, round_up=True)
    if not schedule.taker_only and remaining_units:
        reserve += to_units(taker_fee(from_units(remaining_units), price, schedule, rounding=Rounding.UP))
    return reserve


# --- order terms -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What a signed order trades. ``share_units`` and ``usd_units`` are its signed legs (a BUY
    gives ``usd_units`` for ``share_units``, a SELL the reverse); the limit is their ratio.

    ``price`` is the limit as a Decimal: exact when the ratio has at most 10 decimals (every
    limit order), else rounded within the limit (a market BUY's ``10000000 / 19230700``);
    ``exact_price`` says which. :meth:`accepts` compares with the exact ratio.
    """

    side: Side
    share_units: int
    usd_units: int
    price: Decimal
    exact_price: bool

    @property
    def size(self) -> Decimal:
        """The share leg in shares."""
        return from_units(self.share_units)

    def accepts(self, price: Decimal) -> bool:
        """Whether a fill at ``price`` is within the limit: no dearer for a BUY, no cheaper for
        a SELL (exact integer comparison with the signed ratio)."""
        numerator, denominator = price.as_integer_ratio()
        if self.side is Side.BUY:
            return numerator * self.share_units <= self.usd_units * denominator
        return numerator * self.share_units >= self.usd_units * denominator

    def crosses(self, level: BookLevel | None) -> bool:
        """Whether the opposite side's best ``level`` is within the limit (the order trades now)."""
        return level is not None and self.accepts(level.price)


def terms_of(order: SignedOrder) -> OrderTerms:
    """The terms of ``order``, from its signed amounts. ``ValueError`` if an amount is not
    positive (the venue refuses such an order)."""
    if order.maker_amount <= 0 or order.taker_amount <= 0:
        raise ValueError("amounts must be positive")
    side = Side(order.side)
    share_units, usd_units = (
        (order.taker_amount, order.maker_amount)
        if side is Side.BUY
        else (order.maker_amount, order.taker_amount)
    )
    try:
        price = implied_price(side, order.maker_amount, order.taker_amount)
        exact = True
    except ValueError:  # the quotient does not terminate within 10 decimals
        price = implied_price(
            side, order.maker_amount, order.taker_amount, rounding=rounding_within_limit(side)
        )
        exact = False
    return OrderTerms(side, share_units, usd_units, price, exact)


# --- liquidity already taken -----------------------------------------------------------------


class LiquidityUse:
    """How many units of each displayed level (token, book side, price) our fills have taken.

    ``book_side`` is the side of the orders resting in the level: ``Side.SELL`` for asks (what
    a BUY takes), ``Side.BUY`` for bids. What is available at a level is its displayed size
    minus what we took. :meth:`refresh` follows the book: when a level shrinks below what we
    took, what we took shrinks with it (the rest of the level is all we may have taken); when it
    disappears, the record goes; when it grows, the new size is available.
    """

    __slots__ = ("_used",)

    def __init__(self) -> None:
        self._used: dict[str, dict[tuple[Side, Decimal], int]] = {}

    def used(self, token_id: str, book_side: Side, price: Decimal) -> int:
        entries = self._used.get(token_id)
        return entries.get((book_side, price), 0) if entries else 0

    def available(self, token_id: str, book_side: Side, level: BookLevel) -> int:
        displayed = to_units(level.size, rounding=Rounding.DOWN)
        return max(0, displayed - self.used(token_id, book_side, level.price))

    def take(self, token_id: str, book_side: Side, price: Decimal, units: int) -> None:
        entries = self._used.setdefault(token_id, {})
        entries[(book_side, price)] = entries.get((book_side, price), 0) + units

    def refresh(self, token_id: str, book: OrderBook | None) -> None:
        """Follow ``book`` (``None``: the book is gone, forget the token)."""
        entries = self._used.get(token_id)
        if not entries:
            return
        if book is None:
            del self._used[token_id]
            return
        sides = {side for side, _ in entries}
        displayed: dict[tuple[Side, Decimal], int] = {}
        for side in sides:
            levels = book.bids() if side is Side.BUY else book.asks()
            for level in levels:
                displayed[(side, level.price)] = to_units(level.size, rounding=Rounding.DOWN)
        for key, taken in list(entries.items()):
            shown = displayed.get(key, 0)
            if shown <= 0:
                del entries[key]
            elif taken > shown:
                entries[key] = shown
        if not entries:
            del self._used[token_id]

    def forget(self, token_id: str) -> None:
        self._used.pop(token_id, None)

    def tokens(self) -> tuple[str, ...]:
        return tuple(self._used)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._used.values())


# --- taker walk ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LevelFill:
    """One level of a taker walk: ``share_units`` at the level's ``price`` (price improvement
    goes to the taker), the dollar leg rounded against us, and the taker fee in units."""

    price: Decimal
    share_units: int
    usd_units: int
    fee_units: int


def plan_taker(
    terms: OrderTerms,
    token_id: str,
    levels: Iterable[BookLevel],
    use: LiquidityUse,
    schedule: FeeSchedule,
) -> list[LevelFill]:
    """Walk ``levels`` (the opposite side, best first) up to the limit, taking at most what
    each level still shows after :class:`LiquidityUse`, until the share leg is filled.
    Nothing is taken yet: the caller records the plan in ``use`` once it executes it."""
    book_side = terms.side.opposite
    pays = terms.side is Side.BUY
    left = terms.share_units
    fills: list[LevelFill] = []
    for level in levels:
        if left <= 0 or not terms.accepts(level.price):
            break
        units = min(use.available(token_id, book_side, level), left)
        if units <= 0:
            continue
        fills.append(
            LevelFill(
                price=level.price,
                share_units=units,
                usd_units=notional_units(units, level.price, round_up=pays),
                fee_units=fee_units(units, level.price, schedule, Liquidity.TAKER),
            )
        )
        left -= units
    return fills


# --- resting orders --------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class PaperOrder:
    """One order the paper venue accepted. Mutable: fills and cancels update it.

    ``queue_ahead_units`` is, for a resting order, the displayed size at its price on its own
    side when it started resting, less the trades at that price since: the queue the venue
    would have served before us (see :func:`allocate_trade`).
    """

    order_id: str
    seq: int
    market: Market
    token_id: str
    terms: OrderTerms
    order_type: OrderType
    expiration_s: int
    created_at_ms: TimestampMs
    maker_address: str
    matched_units: int = 0
    status: str = LIVE
    queue_ahead_units: int = 0
    trade_ids: list[str] = field(default_factory=list)

    @property
    def side(self) -> Side:
        return self.terms.side

    @property
    def price(self) -> Decimal:
        return self.terms.price

    @property
    def remaining_units(self) -> int:
        return self.terms.share_units - self.matched_units

    @property
    def is_open(self) -> bool:
        return self.status == LIVE

    @property
    def priority(self) -> tuple[Decimal, int]:
        """Sort key, best first: highest BUY / lowest SELL price, then oldest."""
        return (-self.price if self.side is Side.BUY else self.price, self.seq)


def allocate_trade(
    orders: Sequence[PaperOrder], trade_price: Decimal, trade_units: int
) -> list[tuple[PaperOrder, int]]:
    """Our fills from one printed trade against resting ``orders`` of the maker side (the side
    opposite the trade's taker), given best first. Updates their ``queue_ahead_units``.

    * A trade strictly through our price (for our BUY at p, a sale below p) would have met our
      order first: it fills us up to the trade's size.
    * A trade exactly at our price first eats the queue that was displayed ahead of us (we
      assume we are last in it, and that cancellations were behind us: both pessimistic);
      only what is left of it fills us.
    * A trade at a worse price did not reach us.

    One trade's size is shared: all our fills from it together never exceed it.
    """
    left = trade_units
    fills: list[tuple[PaperOrder, int]] = []
    for order in orders:
        if left <= 0:
            break
        through = trade_price < order.price if order.side is Side.BUY else trade_price > order.price
        if not through:
            if trade_price != order.price:
                break  # orders are best first: the rest are further away still
            eaten = min(order.queue_ahead_units, left)
            order.queue_ahead_units -= eaten
            left -= eaten
        units = min(order.remaining_units, left)
        if units > 0:
            fills.append((order, units))
            left -= units
    return fills


def allocate_crossing(
    orders: Sequence[PaperOrder], levels: Sequence[BookLevel], use: LiquidityUse
) -> list[tuple[PaperOrder, int]]:
    """Our fills when the book moves through resting ``orders`` (one token, one side, best
    first): ``levels`` is the opposite side of the book, best first.

    A level at or through our price can only rest there if every order at our price had been
    matched: with us in the book, it would have traded with us (at our price, we were the
    maker). Each of our orders takes from the crossing levels what :class:`LiquidityUse` says
    is still available, which it records, so displayed size is never used twice.
    """
    fills: list[tuple[PaperOrder, int]] = []
    for order in orders:
        want = order.remaining_units
        book_side = order.side.opposite
        for level in levels:
            if want <= 0 or not order.terms.accepts(level.price):
                break
            units = min(use.available(order.token_id, book_side, level), want)
            if units > 0:
                use.take(order.token_id, book_side, level.price, units)
                want -= units
        if want < order.remaining_units:
            fills.append((order, order.remaining_units - want))
    return fills


# --- what the venue reports ------------------------------------------------------------------


def order_event(order: PaperOrder, kind: UserOrderEventKind, now_ms: TimestampMs) -> UserOrderEvent:
    """The user channel's ``order`` event for ``order`` as it is now (cumulative size matched)."""
    return UserOrderEvent(
        order_id=order.order_id,
        kind=kind,
        condition_id=order.market.condition_id,
        asset_id=order.token_id,
        side=order.side,
        price=order.price,
        original_size=order.terms.size,
        size_matched=from_units(order.matched_units),
        status=order.status,
        timestamp_ms=now_ms,
        order_type=order.order_type.value,
    )


def venue_order(order: PaperOrder) -> VenueOrder:
    """``order`` as ``GET /data/order/{id}`` describes it."""
    return VenueOrder(
        order_id=order.order_id,
        status=order.status,
        condition_id=order.market.condition_id,
        token_id=order.token_id,
        side=order.side,
        price=order.price,
        original_size=order.terms.size,
        size_matched=from_units(order.matched_units),
        order_type=order.order_type.value,
        expiration_s=order.expiration_s,
        created_at_ms=order.created_at_ms,
        outcome=order.market.outcome_of(order.token_id).value,
        associate_trades=tuple(order.trade_ids),
        maker_address=order.maker_address,
    )


def trade_event(
    *,
    trade_id: str,
    order: PaperOrder,
    liquidity: Liquidity,
    price: Decimal,
    share_units: int,
    counterparty_order_id: str,
    owner: str,
    now_ms: TimestampMs,
) -> UserTradeEvent:
    """The MATCHED ``trade`` event of one fill of ``order``, as the venue shows it to us.

    As the taker, the trade is our order's (side, size, price) against one maker order of the
    other side (the level we took, under a made-up id). As a maker, the trade is the
    counterparty's taker order and our fill is its one ``maker_orders`` entry, at our price.
    """
    size = from_units(share_units)
    token = order.token_id
    fee_bps = REPORTED_TAKER_FEE_RATE_BPS if order.market.fee.rate > 0 else 0
    if liquidity is Liquidity.TAKER:
        taker_order_id, taker_side = order.order_id, order.side
        maker = MakerOrderFill(counterparty_order_id, token, order.side.opposite, price, size, 0, "")
    else:
        taker_order_id, taker_side = counterparty_order_id, order.side.opposite
        maker = MakerOrderFill(order.order_id, token, order.side, price, size, 0, owner)
    return UserTradeEvent(
        trade_id=trade_id,
        status=TradeStatus.MATCHED,
        condition_id=order.market.condition_id,
        asset_id=token,
        taker_order_id=taker_order_id,
        side=taker_side,
        size=size,
        price=price,
        trader_side=liquidity,
        maker_orders=(maker,),
        timestamp_ms=now_ms,
        fee_rate_bps=fee_bps,
        match_time_ms=now_ms,
        transaction_hash="",
    )


# --- what the venue refuses (docs §2.4) ----------------------------------------------------------

FOK_TEXT: Final = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_TEXT: Final = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)


def _text(value: Decimal) -> str:
    """The venue's number spelling: no exponent, no trailing zeros."""
    return "0" if value == 0 else format(value.normalize(), "f")


def order_refusal(message: str, *, code: str | None = None, status: int = 400) -> DefinitiveReject:
    """The venue's refusal of an order post, as ``ClobClient.post_order`` raises it."""
    return DefinitiveReject(message, operation="post_order", status=status, code=code)


def tick_refusal(order_id: str, price: Decimal, tick: Decimal) -> DefinitiveReject:
    return order_refusal(
        f"order {order_id} is invalid. Price ({_text(price)}) breaks minimum tick size rule: {_text(tick)}",
        code="INVALID_ORDER_MIN_TICK_SIZE",
    )


def size_refusal(order_id: str, size: Decimal, minimum: Decimal) -> DefinitiveReject:
    return order_refusal(
        f"order {order_id} is invalid. Size ({_text(size)}) lower than the minimum: {_text(minimum)}",
        code="INVALID_ORDER_MIN_SIZE",
    )


def balance_refusal(have_units: int, need_units: int) -> DefinitiveReject:
    return order_refusal(
        f"not enough balance / allowance: balance: {_text(from_units(max(have_units, 0)))}, "
        f"order amount: {_text(from_units(need_units))}",
        code="INVALID_ORDER_NOT_ENOUGH_BALANCE",
    )
