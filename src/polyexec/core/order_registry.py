"""Every order polyexec knows about, by id, and the routing of user-channel events to them.

The engine adds each :class:`~polyexec.core.order.Order` once it is signed (its id is the EIP-712
order hash) and asks the registry what it needs to decide and to poll:

* :meth:`OrderRegistry.open_orders` (all, one market, one token), :meth:`~OrderRegistry.open_order_count`;
* :meth:`~OrderRegistry.open_buy_notional_by_market` / :meth:`~OrderRegistry.open_buy_notional_by_category`
  for the exposure limits (the portfolio adds them to its positions);
* :meth:`~OrderRegistry.in_flight_orders` older than a delay, for the polling loop, and
  :meth:`~OrderRegistry.orders_needing_cancel` (cancels deferred while a submit was ambiguous).

*Open* here means **not terminal**: the state machine's open states (SUBMITTED and the working
states) **plus PENDING**. A PENDING order is signed and about to be sent; counting it as exposure
before its first byte leaves is the safe side of that race.

User-channel events
-------------------
:meth:`~OrderRegistry.apply_order_event` hands an order event to its order.
:meth:`~OrderRegistry.apply_trade_event` turns a trade event into our fills
(:func:`~polyexec.core.order_fills.fills_from_trade`) and applies each to its order; a fill already
known only moves its trade status. The venue re-sends a trade on every status change and may
repeat one, so trade events are **deduplicated by (trade id, status)**: a copy of a pair already
applied to an order is a no-op for that order. (A pair is remembered per order, so an order
registered after the first copy, e.g. by reconciliation, still gets the fill from a later copy.)
Consequence worth knowing: a trade that goes MINED → RETRYING → MINED keeps RETRYING until its
next distinct status (CONFIRMED or FAILED); both are provisional.

Routing never raises for venue data: an event for an order the registry does not hold is counted
and its ids returned, and an :class:`~polyexec.core.order_state.OrderStateError` the order raises
is returned in :attr:`RoutingOutcome.errors` (the order is unchanged; an
:class:`~polyexec.core.order_state.InconsistentVenueData` carries the fill it could not record).

Bounded memory
--------------
A 24/7 process must forget: :meth:`~OrderRegistry.prune` drops terminal orders idle for a
retention period, keeping those whose fills have not settled yet (a FAILED trade must still find
its order) up to a longer limit, and forgets the dedup pairs of the orders it drops.

The registry is plain data and pure code: it holds no clock (``now_ms`` is passed in) and scans
its orders on each query, which is cheap at the tens to hundreds of orders a retention period
holds. :meth:`~OrderRegistry.to_dict` / :meth:`~OrderRegistry.from_dict` save and restore it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, TypeAlias

from polyexec.core.events import UserOrderEvent, UserTradeEvent
from polyexec.core.models import ZERO, FeeSchedule, Fill, Liquidity, Side, TimestampMs, TradeStatus
from polyexec.core.order import Order
from polyexec.core.order_fills import fills_from_trade
from polyexec.core.order_state import (
    IN_FLIGHT_STATES,
    InconsistentVenueData,
    OrderEventBus,
    OrderStateError,
    OrderTransition,
)

__all__ = [
    "DEFAULT_UNSETTLED_RETENTION_MS",
    "REGISTRY_RECORD_VERSION",
    "CategoryLookup",
    "DuplicateOrderId",
    "OrderRegistry",
    "RoutingOutcome",
]

REGISTRY_RECORD_VERSION: Final = 1
"""Layout version written by :meth:`OrderRegistry.to_dict`."""

DEFAULT_UNSETTLED_RETENTION_MS: Final = 24 * 3_600_000
"""How long :meth:`OrderRegistry.prune` keeps an idle terminal order whose fills have not all
settled (a day: far beyond any settlement delay seen, still bounded)."""

CategoryLookup: TypeAlias = Callable[[str], str] | Mapping[str, str]
"""The exposure category of a market, by condition id (e.g. ``Market.category``: the asset)."""


class DuplicateOrderId(ValueError):
    """:meth:`OrderRegistry.add` was given an order whose id the registry already holds."""

    def __init__(self, order_id: str):
        self.order_id = order_id
        super().__init__(f"order {order_id} is already registered")


@dataclass(frozen=True, slots=True)
class RoutingOutcome:
    """What routing one user-channel event did.

    ``transitions``: every transition the event caused, over all the orders it touched.
    ``fills``: the fills of ours the event carried (trade events), whether new or a status update.
    ``unknown_order_ids``: ids the event named that the registry does not hold (for a trade
    event none of whose legs is ours: the taker order id if we were the taker, else every maker
    order id, since the event does not say which maker was us). ``errors``: what the orders
    refused. ``duplicate``: the event was a copy already applied, and did nothing.
    """

    transitions: tuple[OrderTransition, ...] = ()
    fills: tuple[Fill, ...] = ()
    unknown_order_ids: tuple[str, ...] = ()
    errors: tuple[OrderStateError, ...] = ()
    duplicate: bool = False


class OrderRegistry:
    """Every order by id: the orders still open and the terminal ones within their retention.

    Counters (reset on restart; they are metrics, not state): :attr:`unknown_order_events`,
    :attr:`unknown_trade_events`, :attr:`duplicate_trade_events`, :attr:`routing_errors`,
    :attr:`pruned_orders`.
    """

    def __init__(self) -> None:
        self._orders: dict[str, Order] = {}
        # (trade id, status) → the orders it has been applied to. See the module documentation.
        self._applied_trades: dict[tuple[str, TradeStatus], set[str]] = {}
        self.unknown_order_events = 0
        self.unknown_trade_events = 0
        self.duplicate_trade_events = 0
        self.routing_errors = 0
        self.pruned_orders = 0

    # --- membership ------------------------------------------------------------------------------

    def add(self, order: Order) -> None:
        """Register ``order``; :class:`DuplicateOrderId` if its id is already held (whatever the
        held order's state: an order id is a signed hash and never legitimately reused)."""
        if order.order_id in self._orders:
            raise DuplicateOrderId(order.order_id)
        self._orders[order.order_id] = order

    def get(self, order_id: str) -> Order | None:
        """The order with this id, or ``None`` if it is unknown or was pruned."""
        return self._orders.get(order_id)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def __len__(self) -> int:
        return len(self._orders)

    def __iter__(self) -> Iterator[Order]:
        """Every order held, open or terminal, in the order they were added."""
        return iter(tuple(self._orders.values()))

    # --- what the engine asks ----------------------------------------------------------------------

    def open_orders(self, *, condition_id: str | None = None, token_id: str | None = None) -> list[Order]:
        """Orders not terminal (PENDING included), optionally only one market's or one token's,
        in the order they were added."""
        return [
            order
            for order in self._orders.values()
            if not order.state.is_terminal
            and (condition_id is None or order.condition_id == condition_id)
            and (token_id is None or order.token_id == token_id)
        ]

    def open_order_count(self) -> int:
        """How many orders are not terminal (PENDING included): the open-order limit's count."""
        return sum(1 for order in self._orders.values() if not order.state.is_terminal)

    def in_flight_orders(self, *, now_ms: TimestampMs, min_age_ms: int) -> list[Order]:
        """SUBMITTED and PENDING_CANCEL orders that have waited at least ``min_age_ms`` for the
        venue's answer (since they entered that state), oldest first: what the polling loop
        should ask the venue about."""
        if min_age_ms < 0:
            raise ValueError(f"min_age_ms must not be negative, got {min_age_ms}")
        waiting = [
            order
            for order in self._orders.values()
            if order.state in IN_FLIGHT_STATES and now_ms - order.state_entered_ms >= min_age_ms
        ]
        return sorted(waiting, key=lambda order: order.state_entered_ms)

    def orders_needing_cancel(self) -> list[Order]:
        """Orders whose cancel was deferred while their submit was unresolved and that are now
        acknowledged and working (:attr:`Order.needs_cancel`): send their cancel now."""
        return [order for order in self._orders.values() if order.needs_cancel]

    def open_buy_notional_by_market(self) -> dict[str, Decimal]:
        """Dollars the open BUY orders may still spend, per condition id: ``price × remaining
        size`` (the matched part is a position already). Markets without any are left out."""
        notional: dict[str, Decimal] = {}
        for order in self._orders.values():
            if order.side is Side.BUY and not order.state.is_terminal:
                amount = order.price * order.remaining_size
                if amount > 0:
                    notional[order.condition_id] = notional.get(order.condition_id, ZERO) + amount
        return notional

    def open_buy_notional_by_category(self, category_of: CategoryLookup) -> dict[str, Decimal]:
        """:meth:`open_buy_notional_by_market` summed per category. ``category_of`` maps a
        condition id to its category (a mapping or a callable). ``ValueError`` naming the market
        if it has none: exposure must never be dropped silently."""
        notional: dict[str, Decimal] = {}
        for condition_id, amount in self.open_buy_notional_by_market().items():
            try:
                if isinstance(category_of, Mapping):
                    category = category_of[condition_id]
                else:
                    category = category_of(condition_id)
            except LookupError:
                raise ValueError(f"no category for market {condition_id} (open buy orders)") from None
            notional[category] = notional.get(category, ZERO) + amount
        return notional

    # --- user-channel events -----------------------------------------------------------------------

    def apply_order_event(
        self, event: UserOrderEvent, *, now_ms: TimestampMs, cause: str = ""
    ) -> RoutingOutcome:
        """Hand a user-channel ``order`` event to its order (:meth:`Order.apply_order_event`).
        Unknown id: counted and returned. Never raises for what the event says."""
        order = self._orders.get(event.order_id)
        if order is None:
            self.unknown_order_events += 1
            return RoutingOutcome(unknown_order_ids=(event.order_id,))
        if not _all_finite(event.price, event.original_size, event.size_matched):
            numbers = f"price {event.price}, size {event.original_size}, matched {event.size_matched}"
            return self._refused(
                InconsistentVenueData(event.order_id, f"non-finite number in event: {numbers}")
            )
        reason = cause or f"order event {event.kind} {event.status}"
        try:
            made = order.apply_order_event(event, now_ms=now_ms, cause=reason)
        except OrderStateError as error:
            return self._refused(error)
        return RoutingOutcome(transitions=made)

    def apply_trade_event(
        self,
        event: UserTradeEvent,
        *,
        now_ms: TimestampMs,
        fees: FeeSchedule | None = None,
        cause: str = "",
    ) -> RoutingOutcome:
        """Apply a user-channel ``trade`` event to every order of ours it fills.

        ``fees`` is the market's fee schedule (crypto defaults if ``None``). Each fill goes to
        its order with :meth:`Order.apply_fill` (new fill, or a status change of a known one),
        once per (trade id, status) per order; a copy already applied is a no-op
        (``duplicate``). A trade none of whose legs is ours is counted and its ids returned.
        One order's refusal does not stop the others. Never raises for what the event says.
        """
        amounts = [event.size, event.price]
        amounts += [number for maker in event.maker_orders for number in (maker.price, maker.matched_amount)]
        if not _all_finite(*amounts):
            ours = [order_id for order_id in _leg_ids(event) if order_id in self._orders]
            if ours:  # refused for each order of ours it names; otherwise it is simply not ours
                problem = f"non-finite number in trade {event.trade_id}"
                return self._refused(*(InconsistentVenueData(order_id, problem) for order_id in ours))
        fills = fills_from_trade(event, self._orders, fees=fees)
        if not fills:
            self.unknown_trade_events += 1
            return RoutingOutcome(unknown_order_ids=_our_side_ids(event))
        applied_to = self._applied_trades.setdefault((event.trade_id, event.status), set())
        fresh = [fill for fill in fills if fill.order_id not in applied_to]
        if not fresh:
            self.duplicate_trade_events += 1
            return RoutingOutcome(fills=fills, duplicate=True)
        reason = cause or f"trade {event.trade_id} {event.status}"
        transitions: list[OrderTransition] = []
        errors: list[OrderStateError] = []
        for fill in fresh:
            # Remembered before applying: a refusal is reported once, not on every copy.
            applied_to.add(fill.order_id)
            try:
                transitions.extend(self._orders[fill.order_id].apply_fill(fill, now_ms=now_ms, cause=reason))
            except OrderStateError as error:
                errors.append(error)
        self.routing_errors += len(errors)
        return RoutingOutcome(transitions=tuple(transitions), fills=fills, errors=tuple(errors))

    def _refused(self, *errors: OrderStateError) -> RoutingOutcome:
        self.routing_errors += len(errors)
        return RoutingOutcome(errors=errors)

    # --- bounded memory ----------------------------------------------------------------------------

    def prune(
        self,
        *,
        now_ms: TimestampMs,
        retention_ms: int,
        unsettled_retention_ms: int = DEFAULT_UNSETTLED_RETENTION_MS,
    ) -> tuple[Order, ...]:
        """Forget terminal orders with no update for ``retention_ms``, and return them (to
        archive). A terminal order whose fills have not all settled — a trade neither
        CONFIRMED nor FAILED, or matched size no trade has explained yet — is kept until it
        has been idle for ``unsettled_retention_ms`` (at least ``retention_ms``), because a
        late FAILED must still void its fill. Open orders are never pruned. The dedup pairs of
        the orders forgotten are forgotten with them."""
        if retention_ms < 0 or unsettled_retention_ms < 0:
            raise ValueError(
                f"retention must not be negative, got {retention_ms} and {unsettled_retention_ms}"
            )
        unsettled_limit = max(retention_ms, unsettled_retention_ms)
        pruned: list[Order] = []
        for order in tuple(self._orders.values()):
            if not order.state.is_terminal:
                continue
            idle = now_ms - order.updated_ms
            if idle >= (unsettled_limit if _has_unsettled_fills(order) else retention_ms):
                del self._orders[order.order_id]
                pruned.append(order)
        if pruned:
            self.pruned_orders += len(pruned)
            for key, order_ids in tuple(self._applied_trades.items()):
                order_ids.intersection_update(self._orders)
                if not order_ids:
                    del self._applied_trades[key]
        return tuple(pruned)

    # --- crash recovery ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe record of every order held and of the (trade id, status) pairs applied,
        so a restored registry still ignores copies of trades it had applied."""
        return {
            "version": REGISTRY_RECORD_VERSION,
            "orders": [order.to_dict() for order in self._orders.values()],
            "applied_trades": [
                {"trade_id": trade_id, "status": status.value, "order_ids": sorted(order_ids)}
                for (trade_id, status), order_ids in self._applied_trades.items()
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, bus: OrderEventBus | None = None) -> OrderRegistry:
        """Rebuild a registry saved by :meth:`to_dict`, its orders attached to ``bus``.
        ``ValueError`` naming the problem if the record is malformed (including a duplicate
        order id)."""
        registry = cls()
        try:
            if data["version"] != REGISTRY_RECORD_VERSION:
                raise ValueError(f"unsupported registry record version {data['version']!r}")
            for record in data["orders"]:
                registry.add(Order.from_dict(record, bus=bus))
            for entry in data["applied_trades"]:
                key = (str(entry["trade_id"]), TradeStatus(entry["status"]))
                order_ids = entry["order_ids"]
                if not isinstance(order_ids, list):
                    raise TypeError(f"order_ids must be a list, got {order_ids!r}")
                registry._applied_trades[key] = {str(order_id) for order_id in order_ids}
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed order registry record: {exc!r}") from exc
        return registry


def _has_unsettled_fills(order: Order) -> bool:
    seen = sum((fill.size for fill in order.fills.values()), ZERO)
    if order.venue_size_matched > seen:
        return True  # the venue counted a match whose trade has not arrived yet
    return any(not fill.status.is_terminal for fill in order.fills.values())


def _all_finite(*numbers: Decimal) -> bool:
    # The parsers should refuse NaN and infinities; comparing one would raise mid-routing.
    return all(number.is_finite() for number in numbers)


def _leg_ids(event: UserTradeEvent) -> tuple[str, ...]:
    return (event.taker_order_id, *(maker.order_id for maker in event.maker_orders))


def _our_side_ids(event: UserTradeEvent) -> tuple[str, ...]:
    if event.trader_side is Liquidity.TAKER:
        return (event.taker_order_id,)
    return tuple(maker.order_id for maker in event.maker_orders)
