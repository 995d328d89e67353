"""Planning a taker's match against a book, before anything changes.

:func:`match_plan` lists the resting orders a taker trades with, best price first and oldest
first within a price, and how much of each: a limit order takes up to its remaining shares at
prices no worse than its limit; a market BUY (with a pUSD ``budget``) takes whole micro-shares
until the budget is spent. Every fill is at the resting order's price, so any price
improvement goes to the taker. :func:`check_immediate` applies the FOK/FAK rules to a plan
and :func:`plan_cost` says what a BUY will need from its account.
"""

from __future__ import annotations

from decimal import Decimal

from polyexec.sim.admission import IMMEDIATE
from polyexec.sim.book import OrderBook
from polyexec.sim.errors import VenueError
from polyexec.sim.records import Order
from polyexec.sim.units import notional_micro, shares_for_budget, taker_fee_micro

__all__ = ["Plan", "check_immediate", "fills_completely", "match_plan", "plan_cost"]

Plan = list[tuple[Order, int]]


def match_plan(book: OrderBook, taker: Order) -> Plan:
    """``[(resting order, micro-shares)]`` the taker would trade, in execution order."""
    plan: Plan = []
    shares_left = taker.remaining
    budget_left = (taker.budget - taker.spent) if taker.budget is not None else 0
    for maker in book.matchable(taker.side, taker.price):
        if taker.budget is not None:
            qty = min(maker.remaining, shares_for_budget(budget_left, maker.price))
            budget_left -= notional_micro(qty, maker.price)
        else:
            qty = min(maker.remaining, shares_left)
            shares_left -= qty
        if qty <= 0:
            break
        plan.append((maker, qty))
    return plan


def fills_completely(taker: Order, plan: Plan) -> bool:
    """Does the plan fill the whole order? A budget counts as spent when less than one
    micro-pUSD is left (a budget rarely divides into whole micro-shares)."""
    if taker.budget is not None:
        spent = sum(notional_micro(qty, maker.price) for maker, qty in plan)
        return taker.budget - taker.spent - spent <= 1
    return sum(qty for _, qty in plan) >= taker.remaining


def check_immediate(order: Order, plan: Plan) -> None:
    """Refuse a FOK that would not fill completely and a FAK that would not trade at all."""
    if order.order_type == "FOK" and not fills_completely(order, plan):
        raise VenueError(
            "order couldn't be fully filled. FOK orders are fully filled or killed.",
            code="FOK_ORDER_NOT_FILLED_ERROR",
            order_id=order.id,
        )
    if order.order_type == "FAK" and not plan:
        raise VenueError(
            "no orders found to match with FAK order. FAK orders are partially filled or killed "
            "if no match is found.",
            order_id=order.id,
        )


def plan_cost(order: Order, plan: Plan, fee_rate: Decimal) -> int:
    """Micro-pUSD a BUY takes from its account: the trades' notional plus the taker fee, plus
    the notional of the rest that will rest on the book (GTC/GTD)."""
    cost = sum(notional_micro(qty, m.price) + taker_fee_micro(qty, m.price, fee_rate) for m, qty in plan)
    if order.budget is None and order.order_type not in IMMEDIATE:
        cost += notional_micro(order.remaining - sum(qty for _, qty in plan), order.price)
    return cost
