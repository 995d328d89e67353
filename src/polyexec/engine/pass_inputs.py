"""What a decision pass reads from our books: holdings (with their owner) and resting orders.

Two pieces of :class:`~polyexec.strategies.context.StrategyContext` come from the
:class:`~polyexec.core.portfolio.Portfolio` and the :class:`~polyexec.core.order_registry.OrderRegistry`:

* :func:`resting_orders`: every order not terminal (PENDING and in flight included: a strategy
  must never propose an order twice) as a :class:`~polyexec.strategies.context.RestingOrder`
  with the shares it may still match;
* :class:`HoldingsCache`: every open position as a :class:`~polyexec.strategies.context.Holding`:
  ``shares`` are the matched shares (provisional fills included), ``sellable`` the confirmed
  ones (ghost fills cannot be sold), ``average_cost`` the pooled average, and ``strategy`` the
  strategy owning most of the shares (:func:`share_owners`). The holdings are rebuilt only when
  a position changed (quantity, confirmed quantity or cost): the owner replay scans the
  registry, which a decision pass on every tick should not pay for.

Why the owner is replayed here: the portfolio attributes shares to strategies ("PnL follows the
shares") but does not publish who owns a token's shares; the registry holds every fill of every
order (terminal ones for an hour, far beyond a 15-minute window), each with its order's strategy,
so the same rule gives the same answer. A position whose orders were pruned or restored without
them has owner ``""`` (no strategy claims it: exits by ``EXIT`` and ``ICC`` still apply).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from polyexec.core.models import ZERO, Side
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.portfolio import Portfolio
from polyexec.strategies.context import Holding, RestingOrder

__all__ = ["HoldingsCache", "resting_orders", "share_owners"]


def resting_orders(registry: OrderRegistry) -> tuple[RestingOrder, ...]:
    """Our open orders (not terminal, PENDING included) as the strategies see them."""
    return tuple(
        RestingOrder(
            order_id=order.order_id,
            strategy=order.strategy,
            condition_id=order.condition_id,
            token_id=order.token_id,
            side=order.side,
            price=order.price,
            remaining=max(order.remaining_size, ZERO),
            order_type=order.order_type,
            post_only=order.post_only,
            expiration_s=order.expiration_s,
        )
        for order in registry.open_orders()
    )


def share_owners(registry: OrderRegistry, token_ids: Iterable[str]) -> dict[str, str]:
    """The strategy owning most of each token's shares, replayed from the registry's fills.

    Fills not voided are applied in ``(timestamp, arrival)`` order: a BUY adds its shares to its
    order's strategy; a SELL consumes the seller's own shares first, then the others' in name
    order (the portfolio's rule). Ties go to the first name. Tokens with no shares left in the
    replay are left out.
    """
    wanted = set(token_ids)
    fills: dict[str, list[tuple[int, int, Side, Decimal, str]]] = {}
    arrival = 0
    for order in registry:
        if order.token_id not in wanted:
            continue
        for fill in order.active_fills:
            fills.setdefault(order.token_id, []).append(
                (fill.timestamp_ms, arrival, order.side, fill.size, order.strategy)
            )
            arrival += 1
    owners: dict[str, str] = {}
    for token_id, entries in fills.items():
        owned: dict[str, Decimal] = {}
        for _, _, side, size, strategy in sorted(entries):
            if side is Side.BUY:
                owned[strategy] = owned.get(strategy, ZERO) + size
            else:
                _consume(owned, strategy, size)
        best = max(sorted(owned.items()), key=lambda item: item[1], default=None)
        if best is not None and best[1] > 0:
            owners[token_id] = best[0]
    return owners


def _consume(owned: dict[str, Decimal], seller: str, quantity: Decimal) -> None:
    remaining = quantity
    for owner in [seller, *sorted(name for name in owned if name != seller)]:
        held = owned.get(owner, ZERO)
        if remaining <= 0:
            return
        if held <= 0:
            continue
        take = min(held, remaining)
        remaining -= take
        if take == held:
            del owned[owner]
        else:
            owned[owner] = held - take


class HoldingsCache:
    """The holdings of the last call, rebuilt only when a position changed (see module docs)."""

    __slots__ = ("_fingerprint", "_holdings", "rebuilds")

    def __init__(self) -> None:
        self._fingerprint: tuple[tuple[str, Decimal, Decimal, Decimal], ...] | None = None
        self._holdings: Mapping[str, Holding] = {}
        self.rebuilds = 0

    def holdings(self, portfolio: Portfolio, registry: OrderRegistry) -> Mapping[str, Holding]:
        """Every open position of ``portfolio`` by token id (do not mutate the answer)."""
        positions = portfolio.positions(open_only=True)
        fingerprint = tuple((p.token_id, p.quantity, p.confirmed_quantity, p.cost_basis) for p in positions)
        if fingerprint == self._fingerprint:
            return self._holdings
        owners = share_owners(registry, (p.token_id for p in positions))
        self._holdings = {
            p.token_id: Holding(
                token_id=p.token_id,
                condition_id=p.condition_id,
                shares=p.quantity,
                sellable=p.sellable_quantity,
                average_cost=p.average_cost,
                strategy=owners.get(p.token_id, ""),
            )
            for p in positions
        }
        self._fingerprint = fingerprint
        self.rebuilds += 1
        return self._holdings
