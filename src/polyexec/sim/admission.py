"""The venue's order checks that need no order book: type, amounts, tick, size, expiry, funds.

:func:`order_terms` turns a signed request into the price and size the exchange trades, or
raises :class:`~polyexec.sim.errors.VenueError` with the venue's message (docs §2.4, §4.5–4.7):

* limit orders (GTC/GTD) must sit on the market's current tick, within ``[tick, 1 − tick]``,
  and be at least the market's minimum size (5 shares);
* FOK/FAK orders are marketable limit orders whose worst price is ``makerAmount/takerAmount``
  (BUY) or ``takerAmount/makerAmount`` (SELL); the SDKs round those amounts, so their price is
  not required to sit on the tick. A market BUY spends its ``makerAmount`` and must be at
  least 1 pUSD (the minimum users report for marketable BUYs);
* a GTD order's ``expiration`` (Unix seconds, not signed) must be at least now + 3 minutes.

:func:`check_funds` compares what an order may take from its account with what is free.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from polyexec.sim.accounts import Account
from polyexec.sim.errors import VenueError
from polyexec.sim.records import BUY, Order, OrderRequest
from polyexec.sim.units import fmt_decimal, fmt_micro, from_micro, notional_micro, to_micro

__all__ = ["IMMEDIATE", "ORDER_TYPES", "OrderTerms", "check_funds", "order_terms", "tick_error"]

ORDER_TYPES = frozenset({"GTC", "GTD", "FOK", "FAK"})
IMMEDIATE = frozenset({"FOK", "FAK"})


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """What a request trades: limit ``price``, ``shares`` (micro), the pUSD ``budget`` of a
    market BUY (else ``None``) and the GTD ``expiration`` (0 for other types)."""

    price: Decimal
    shares: int
    budget: int | None
    expiration: int


def tick_error(oid: str, price: Decimal, tick: Decimal) -> VenueError:
    return VenueError(
        f"order {oid} is invalid. Price ({fmt_decimal(price)}) breaks minimum tick size rule: "
        f"{fmt_decimal(tick)}",
        code="INVALID_ORDER_MIN_TICK_SIZE",
        order_id=oid,
    )


def _size_error(oid: str, size: Decimal, minimum: Decimal) -> VenueError:
    return VenueError(
        f"order {oid} is invalid. Size ({fmt_decimal(size)}) lower than the minimum: {fmt_decimal(minimum)}",
        code="INVALID_ORDER_MIN_SIZE",
        order_id=oid,
    )


def order_terms(
    request: OrderRequest,
    *,
    tick: Decimal,
    min_size: Decimal,
    min_marketable_buy: Decimal,
    now_s: float,
    gtd_min_lifetime_s: int,
) -> OrderTerms:
    """Check ``request`` against the market's rules; see the module docstring."""
    oid = request.id
    if request.order_type not in ORDER_TYPES:
        raise VenueError(f"invalid order type {request.order_type!r}", order_id=oid)
    if request.post_only and request.order_type in IMMEDIATE:
        raise VenueError(
            "invalid post-only order: post-only orders must be GTC or GTD",
            code="INVALID_POST_ONLY_ORDER_TYPE",
            order_id=oid,
        )
    if request.maker_amount <= 0 or request.taker_amount <= 0:
        raise VenueError(f"order {oid} is invalid. Amounts must be positive", order_id=oid)
    side = request.side
    shares = request.taker_amount if side == BUY else request.maker_amount
    pusd = request.maker_amount if side == BUY else request.taker_amount
    price = Decimal(pusd) / Decimal(shares)
    budget: int | None = None
    if request.order_type in IMMEDIATE:
        if not Decimal(0) < price < Decimal(1):
            raise tick_error(oid, price, tick)
        if side == BUY:
            budget = pusd
            if pusd < to_micro(min_marketable_buy):
                raise _size_error(oid, from_micro(pusd), min_marketable_buy)
    else:
        if price % tick != 0 or not tick <= price <= 1 - tick:
            raise tick_error(oid, price, tick)
        if shares < to_micro(min_size):
            raise _size_error(oid, from_micro(shares), min_size)
    expiration = 0
    if request.order_type == "GTD":
        if request.expiration < now_s + gtd_min_lifetime_s:
            raise VenueError("invalid expiration", code="INVALID_ORDER_EXPIRATION", order_id=oid)
        expiration = request.expiration
    return OrderTerms(price=price, shares=shares, budget=budget, expiration=expiration)


def check_funds(order: Order, account: Account, taker_cost: int | None = None) -> None:
    """Raise ``not enough balance / allowance`` unless ``account`` can cover ``order``.

    A SELL needs its shares. Before matching (``taker_cost`` is ``None``) a BUY needs its
    notional at the limit price (a market BUY: its budget). Once the match is known,
    ``taker_cost`` is the exact pUSD the trades take, the taker fee included (charged on top),
    and a BUY needs that plus the notional of what will rest. Amounts already promised to
    resting orders are not free.
    """
    if order.side == BUY:
        if taker_cost is None:
            need = (
                order.budget if order.budget is not None else notional_micro(order.original_size, order.price)
            )
        else:
            need = taker_cost
        have = account.available_pusd()
    else:
        need = order.original_size
        have = account.available_shares(order.asset_id)
    if need > have:
        raise VenueError(
            f"not enough balance / allowance: balance: {fmt_micro(have)}, order amount: {fmt_micro(need)}",
            code="INVALID_ORDER_NOT_ENOUGH_BALANCE",
            order_id=order.id,
        )
