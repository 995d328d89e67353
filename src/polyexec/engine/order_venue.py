"""What the order manager needs of a venue (:class:`OrderVenue`), and its timings
(:class:`OrderManagerConfig`). :class:`~polyexec.venues.clob_client.ClobClient`,
:class:`~polyexec.venues.paper_venue.PaperVenue` and
:class:`~polyexec.engine.dry_run_venue.DryRunVenue` are all an :class:`OrderVenue`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from polyexec.core.models import OrderType
from polyexec.venues.clob_responses import CancelResult, PostOrderResult, VenueOrder
from polyexec.venues.order_signer import SignedOrder

__all__ = ["OrderManagerConfig", "OrderVenue"]


class OrderVenue(Protocol):
    """What the order manager needs of a venue: ClobClient, PaperVenue and DryRunVenue fit."""

    async def post_order(
        self, order: SignedOrder, order_type: OrderType, *, post_only: bool = False
    ) -> PostOrderResult: ...

    async def cancel_orders(self, order_ids: Sequence[str]) -> CancelResult: ...

    async def cancel_market_orders(self, condition_id: str = "", token_id: str = "") -> CancelResult: ...

    async def cancel_all(self) -> CancelResult: ...

    async def get_order(self, order_id: str) -> VenueOrder | None: ...

    async def get_open_orders(self, *, condition_id: str = "", token_id: str = "") -> list[VenueOrder]: ...


@dataclass(frozen=True, slots=True)
class OrderManagerConfig:
    """Timings of the order manager (milliseconds of the manager's clock, or seconds of wait)."""

    poll_after_ms: int = 5_000
    """Poll orders in flight (SUBMITTED / PENDING_CANCEL) for longer than this."""
    poll_interval_s: float = 2.0
    reject_cooldown_ms: int = 30_000
    """Token cooldown in the risk manager after a definitive reject."""
    kill_cooldown_ms: int = 2_000
    """Token cooldown after the venue killed a FOK/FAK order the book could not fill."""
    prune_retention_ms: int = 3_600_000
    """Terminal orders idle this long are dropped from the registry (see ``OrderRegistry.prune``)."""

    def __post_init__(self) -> None:
        for name in ("poll_after_ms", "reject_cooldown_ms", "kill_cooldown_ms", "prune_retention_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if not self.poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be positive, got {self.poll_interval_s}")
