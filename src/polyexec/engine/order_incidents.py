"""The order manager's counters, and how it logs what went wrong without ever raising.

Venue data the state machine refuses, intents that cannot be built and requests the venue did not
answer must not crash a 24/7 daemon, and must not vanish either: :class:`OrderIncidents` counts
each one under a stable name (the names of :data:`COUNTER_NAMES`, shown by
:meth:`OrderManager.status <polyexec.engine.order_manager.OrderManager.status>`) and logs it with
what it concerns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Final

from polyexec.core.models import OrderIntent
from polyexec.core.order_registry import RoutingOutcome
from polyexec.core.order_state import InconsistentVenueData, OrderStateError
from polyexec.engine.order_answers import SubmitOutcome
from polyexec.logging_setup import get_logger
from polyexec.venues.errors import AmbiguousOutcome, RateLimited, VenueError, VenueUnavailable

__all__ = ["COUNTER_NAMES", "OrderIncidents", "venue_seems_healthy"]

_log = get_logger(module=__name__)

COUNTER_NAMES: Final = (
    "submitted",
    "not_built",
    *(outcome.value for outcome in SubmitOutcome),
    "cancels",
    "cancel_requests",
    "cancel_failed",
    "cancel_malformed",
    "inconsistent",
    "polled",
    "resolved_by_lookup",
    "state_errors",
    "venue_errors",
    "poll_errors",
    "unknown_venue_orders",
)
"""Every counter, in the order :meth:`OrderIncidents.snapshot` lists them.

``submitted``: orders signed and sent; ``not_built``: intents that could not become an order;
``accepted`` / ``rejected`` / ``ambiguous`` / ``send_failed``: how submits ended (see
:class:`~polyexec.engine.order_answers.SubmitOutcome`); ``cancels``: orders asked to cancel;
``cancel_requests``: cancel requests sent; ``cancel_failed``: orders the venue would not cancel;
``cancel_malformed``: cancel intents naming no market; ``inconsistent``: venue facts that cannot
be true for the order; ``polled`` / ``resolved_by_lookup``: read-backs and those that moved an
order; ``state_errors``: facts the state machine refused; ``venue_errors``: requests that failed;
``poll_errors``: polling rounds that failed; ``unknown_venue_orders``: orders the venue lists that
we do not hold.
"""


def venue_seems_healthy(error: BaseException) -> bool:
    """Whether a failed request still shows a working venue: a definitive refusal is an answer;
    no answer, 425/503 and 429 count against the venue's health."""
    return isinstance(error, VenueError) and not isinstance(
        error, AmbiguousOutcome | VenueUnavailable | RateLimited
    )


class OrderIncidents:
    """Named counters plus one logging method per kind of incident."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def snapshot(self) -> dict[str, int]:
        """Every counter of :data:`COUNTER_NAMES`, zero ones included."""
        return {name: self.counts[name] for name in COUNTER_NAMES}

    def not_built(self, intent: OrderIntent, reason: str) -> None:
        """An intent that could not become an order (unknown market, a price off the tick…)."""
        self.counts["not_built"] += 1
        _log.warning(
            "order_not_built",
            strategy=intent.strategy,
            condition_id=intent.condition_id,
            token_id=intent.token_id,
            side=str(intent.side),
            price=str(intent.price),
            size=str(intent.size),
            reason=reason,
        )

    def refused(self, error: OrderStateError, where: str) -> None:
        """A fact the order refused: inconsistent venue data, or a transition out of turn."""
        if isinstance(error, InconsistentVenueData):
            self.counts["inconsistent"] += 1
            _log.error("inconsistent_venue_data", where=where, order_id=error.order_id, problem=error.problem)
            return
        self.counts["state_errors"] += 1
        _log.warning("order_fact_refused", where=where, error=str(error))

    def routing(self, outcome: RoutingOutcome, where: str) -> None:
        """Every refusal in a user event's routing outcome."""
        for error in outcome.errors:
            self.refused(error, where)

    def guarded(self, apply: Callable[[], object], where: str) -> None:
        """Run ``apply`` (one fact applied to one order); a refusal is counted and logged."""
        try:
            apply()
        except OrderStateError as error:
            self.refused(error, where)

    def venue_failed(self, error: BaseException, operation: str) -> None:
        """A request that did not get a usable answer."""
        self.counts["venue_errors"] += 1
        _log.warning(
            "venue_request_failed",
            operation=operation,
            error_type=type(error).__name__,
            error=str(error) or type(error).__name__,
        )
