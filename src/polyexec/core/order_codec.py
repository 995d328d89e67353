"""The record form of an :class:`~polyexec.core.order.Order`: what crash recovery writes and reads.

:meth:`Order.to_dict <polyexec.core.order.Order.to_dict>` and
:meth:`Order.from_dict <polyexec.core.order.Order.from_dict>` delegate here. A record is a plain
``dict`` that survives ``json.dumps`` / ``json.loads`` unchanged:

* every Decimal (price, size, cumulative ``size_matched``, each fill's price, size and fee) is a
  **string**, so no float ever touches money; a number where a string belongs is refused, and so
  is a NaN or an infinity (:mod:`polyexec.core.records`);
* enums are their wire values (``"BUY"``, ``"GTC"``, ``"PARTIALLY_FILLED"``, ``"MINED"``);
* ``fills`` is the list of fills in arrival order (the order's fill map is rebuilt from their
  ``(trade_id, order_id)`` keys) and ``transitions`` the whole audit trail, so a restored order
  still deduplicates re-sent trades and continues its ``seq`` numbering;
* ``version`` is :data:`ORDER_RECORD_VERSION`; any other version is refused rather than guessed.

The event bus is not part of the record: pass the running process's bus to ``from_dict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar

from polyexec.core.models import OrderType, Side
from polyexec.core.order_fills import fill_from_dict, fill_to_dict
from polyexec.core.order_state import OrderEventBus, OrderState, OrderTransition
from polyexec.core.records import (
    decimal_from_record,
    optional_decimal_from_record,
    optional_decimal_to_record,
)

if TYPE_CHECKING:  # order.py imports this module; the class itself is passed in at run time
    from polyexec.core.order import Order

__all__ = ["ORDER_RECORD_VERSION", "order_from_dict", "order_to_dict"]

ORDER_RECORD_VERSION: Final = 1
"""Layout version written into every order record."""

OrderT = TypeVar("OrderT", bound="Order")


def order_to_dict(order: Order) -> dict[str, Any]:
    """A JSON-safe record of ``order`` (Decimals as strings); see :func:`order_from_dict`."""
    return {
        "version": ORDER_RECORD_VERSION,
        "order_id": order.order_id,
        "strategy": order.strategy,
        "condition_id": order.condition_id,
        "token_id": order.token_id,
        "side": order.side.value,
        "price": str(order.price),
        "size": str(order.size),
        "order_type": order.order_type.value,
        "post_only": order.post_only,
        "expiration_s": order.expiration_s,
        "reduces_position": order.reduces_position,
        "created_ms": order.created_ms,
        "reference_price": optional_decimal_to_record(order.reference_price),
        "state": order.state.value,
        "updated_ms": order.updated_ms,
        "state_entered_ms": order.state_entered_ms,
        "venue_size_matched": str(order.venue_size_matched),
        "venue_status": order.venue_status,
        "reject_reason": order.reject_reason,
        "failure_reason": order.failure_reason,
        "cancel_failure_reason": order.cancel_failure_reason,
        "cancel_deferred": order.cancel_deferred,
        "ambiguous_since_ms": order.ambiguous_since_ms,
        "fills": [fill_to_dict(f) for f in order.fills.values()],
        "transitions": [t.to_dict() for t in order.transitions],
    }


def order_from_dict(
    order_class: type[OrderT], data: Mapping[str, Any], *, bus: OrderEventBus | None = None
) -> OrderT:
    """Rebuild an ``order_class`` instance from a record of :func:`order_to_dict`, attached to
    ``bus``. ``ValueError`` starting "malformed order record" and naming the problem for a
    missing field, a wrong type, an unknown enum value, a float where a Decimal string belongs,
    an unsupported version, or values the order itself refuses (price outside (0, 1), …)."""
    try:
        if data["version"] != ORDER_RECORD_VERSION:
            raise ValueError(f"unsupported order record version {data['version']!r}")
        fills = [fill_from_dict(f) for f in data["fills"]]
        return order_class(
            order_id=str(data["order_id"]),
            strategy=str(data["strategy"]),
            condition_id=str(data["condition_id"]),
            token_id=str(data["token_id"]),
            side=Side(data["side"]),
            price=decimal_from_record(data["price"], "price"),
            size=decimal_from_record(data["size"], "size"),
            order_type=OrderType(data["order_type"]),
            post_only=bool(data["post_only"]),
            expiration_s=_optional_int(data["expiration_s"]),
            reduces_position=bool(data["reduces_position"]),
            created_ms=int(data["created_ms"]),
            reference_price=optional_decimal_from_record(data["reference_price"], "reference_price"),
            state=OrderState(data["state"]),
            updated_ms=int(data["updated_ms"]),
            state_entered_ms=int(data["state_entered_ms"]),
            venue_size_matched=decimal_from_record(data["venue_size_matched"], "venue_size_matched"),
            venue_status=str(data["venue_status"]),
            reject_reason=str(data["reject_reason"]),
            failure_reason=str(data["failure_reason"]),
            cancel_failure_reason=str(data["cancel_failure_reason"]),
            cancel_deferred=bool(data["cancel_deferred"]),
            ambiguous_since_ms=_optional_int(data["ambiguous_since_ms"]),
            fills={f.key: f for f in fills},
            transitions=[OrderTransition.from_dict(t) for t in data["transitions"]],
            bus=bus,
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        # ArithmeticError covers decimal.InvalidOperation ("abc" is not a number).
        raise ValueError(f"malformed order record: {exc!r}") from exc


def _optional_int(raw: Any) -> int | None:
    return None if raw is None else int(raw)
