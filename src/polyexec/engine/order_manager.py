"""The order manager: signs and sends approved intents, and moves every order on what the venue says.

:class:`OrderManager` is the engine's only way to the venue for orders. It sits after the risk
manager (the tick processor hands it approved intents through :meth:`~OrderManager.submit` and
:meth:`~OrderManager.cancel`) and in front of any :class:`OrderVenue`: the live
:class:`~polyexec.venues.clob_client.ClobClient`, the
:class:`~polyexec.venues.paper_venue.PaperVenue` or the
:class:`~polyexec.engine.dry_run_venue.DryRunVenue`. Paper and live share this one code path::

    manager = OrderManager(client, signer, registry=registry, portfolio=portfolio, risk=risk,
                           market_of=markets.get, clock_ms=server_clock.now_ms)
    user_feed = UserFeed(url, credentials, manager.on_user_event)   # paper: PaperVenue's sink
    poller = asyncio.create_task(manager.run())                     # polling and pruning
    order = manager.submit(intent, reference_price=best_ask)       # signed and registered now
    ...
    await manager.cancel_everything(timeout_s=10)                   # on shutdown

What it guarantees
------------------
* **Registered before sent.** :meth:`~OrderManager.submit` is synchronous: it signs the order,
  adds it to the :class:`~polyexec.core.order_registry.OrderRegistry` and marks it SUBMITTED
  before it returns, so the next strategy and the next decision pass count it as exposure. The
  ``POST /order`` runs in a background task.
* **Every answer moves the state machine**, by the table of :mod:`polyexec.engine.order_answers`
  (definitive rejects, ambiguous outcomes, venue unavailable, reads-back of a lost answer).
  Ambiguous orders stay SUBMITTED until a user event, polling or reconciliation resolves them.
* **User events** (:meth:`~OrderManager.on_user_event`) go through the registry; each fill of
  ours goes to the :class:`~polyexec.core.portfolio.Portfolio` (a new fill, then its status
  changes; FAILED voids it), including a fill the order itself refused as inconsistent (money
  moved, whatever the order thinks).
* **Risk bookkeeping**: definitive rejects → ``record_venue_reject`` and a token cooldown;
  accepts → ``record_venue_accept``; the venue's health after every request →
  ``record_api_health``; each change of net realised PnL (realised PnL less fees, from fills,
  voids and settlement) → ``record_realized_pnl``, each new closed round trip →
  ``record_trade_result``, and the equity (when an ``equity_of`` is given) → ``update_equity``.
* **Cancels**: an order in flight cannot be cancelled yet: its cancel is deferred by the state
  machine and sent as soon as the venue acknowledges it. A ``not_canceled`` answer moves the order
  back (``cancel_failed``) and the order is read back from the venue at once. A cancel the venue
  could not process (unavailable, rate limited, no answer) is sent again on the next poll. A
  market or cancel-all scope uses the venue's own call, sent when an order of ours in scope is
  working (:meth:`~OrderManager.cancel_everything` also reaches orders we do not know).
* **Polling** (:meth:`~OrderManager.poll_once`, every ``poll_interval_s`` in :meth:`run`): orders
  in flight (SUBMITTED, PENDING_CANCEL) for longer than ``poll_after_ms`` and with no request of
  ours still running are read back (``GET /data/order``) and resolved; an order the venue does not
  know becomes FAILED ("unknown to the venue").
* **Never raises for venue data.** Inconsistent venue facts are counted and logged; so are a
  refused transition and a portfolio refusal. Background tasks are tracked and their exceptions
  logged, never lost. Memory stays bounded: :meth:`run` prunes the registry.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from polyexec.core.events import FeedEvent, UserOrderEvent, UserTradeEvent
from polyexec.core.models import (
    CancelIntent,
    CancelScope,
    Market,
    OrderIntent,
    Outcome,
)
from polyexec.core.order import Order
from polyexec.core.order_registry import OrderRegistry
from polyexec.core.order_state import OrderState, OrderStateError
from polyexec.core.portfolio import Portfolio
from polyexec.core.risk import RiskManager
from polyexec.engine.background_tasks import BackgroundTasks
from polyexec.engine.fill_booking import FillBooking
from polyexec.engine.order_answers import (
    AnswerEffect,
    SubmitOutcome,
    apply_post_error,
    apply_post_result,
    apply_venue_order,
    capped_order_event,
)
from polyexec.engine.order_incidents import OrderIncidents, venue_seems_healthy
from polyexec.engine.order_venue import OrderManagerConfig, OrderVenue
from polyexec.logging_setup import get_logger
from polyexec.venues.clob_responses import CancelResult, VenueOrder
from polyexec.venues.errors import AmbiguousOutcome, RateLimited, VenueError, VenueUnavailable
from polyexec.venues.order_factory import order_from_intent
from polyexec.venues.order_signer import OrderSigner, SignedOrder

__all__ = ["OrderManager", "OrderManagerConfig", "OrderVenue"]

_log = get_logger(module=__name__)

_DEFAULT_CONFIG = OrderManagerConfig()  # frozen: sharing it is safe

_CONFIRM_RETRY_S = 0.25
"""Pause between rounds of :meth:`OrderManager.cancel_everything` (cancel all, list open)."""


class OrderManager:
    """Sends orders and cancels, and keeps the registry, portfolio and risk manager up to date.

    ``market_of`` gives a market by condition id (tick size, neg risk, fee schedule); ``clock_ms``
    is Unix milliseconds (the venue's clock in live trading): it stamps signed orders and every
    fact applied. ``equity_of``, if given, returns the account equity (cash plus positions at
    mark), reported to the risk manager after each change of realised PnL (``None`` skips a
    report). ``tick_of``, if given, returns a token's current tick (the live book's: the venue
    moves it between 0.01 and 0.001); orders are signed on it, else on the market's tick. See the
    module documentation for the rules.
    """

    def __init__(
        self,
        venue: OrderVenue,
        signer: OrderSigner,
        *,
        registry: OrderRegistry,
        portfolio: Portfolio,
        risk: RiskManager,
        market_of: Callable[[str], Market | None],
        clock_ms: Callable[[], int],
        config: OrderManagerConfig = _DEFAULT_CONFIG,
        equity_of: Callable[[], Decimal | None] | None = None,
        tick_of: Callable[[str], Decimal | None] | None = None,
    ) -> None:
        self.venue = venue
        self.signer = signer
        self.registry = registry
        self.portfolio = portfolio
        self.risk = risk
        self.config = config
        self._market_of = market_of
        # The venue's tick moves (0.01 ↔ 0.001 near the edges): the live book's, else the market's.
        self._tick_of = tick_of
        self._clock_ms = clock_ms
        self._books = FillBooking(portfolio, risk, equity_of=equity_of)
        self._incidents = OrderIncidents()
        self._tasks = BackgroundTasks("order_manager")
        self._posts: dict[str, asyncio.Task[None]] = {}  # order id → its POST, while it runs
        self._cancelling: set[str] = set()  # order ids with a cancel request running
        self._cancel_retry: set[str] = set()  # cancels the venue could not process: send again

    # --- IntentSink: what the tick processor calls ----------------------------------------------

    def submit(self, intent: OrderIntent, *, reference_price: Decimal | None = None) -> Order | None:
        """Sign ``intent``, register it as SUBMITTED and send it in the background.

        Returns the order, or ``None`` when it could not be built (unknown market, a token not of
        the market, a price or size the venue would refuse): counted and logged with the reason,
        never raised.
        """
        now = self._clock_ms()
        market = self._market_of(intent.condition_id)
        if market is None:
            self._incidents.not_built(intent, f"unknown market {intent.condition_id}")
            return None
        if intent.token_id not in (market.up_token_id, market.down_token_id):
            self._incidents.not_built(intent, f"token {intent.token_id} is not of market {market.slug}")
            return None
        try:
            signed = order_from_intent(
                self.signer,
                intent,
                tick_size=self._tick(intent.token_id, market),
                neg_risk=market.neg_risk,
                timestamp_ms=now,
            )
            order = Order.from_intent(intent, signed.order_id, now_ms=now, reference_price=reference_price)
            self.registry.add(order)  # DuplicateOrderId is a ValueError (a salt collision)
        except (ValueError, TypeError) as exc:
            self._incidents.not_built(intent, str(exc))
            return None
        order.submitted(now_ms=now, cause=intent.reason or "submit")
        self._books.register_market(market, now)
        self._incidents.add("submitted")
        if not self._spawn(self._post(order, signed), f"post {order.order_id}", post_of=order.order_id):
            self._record_answer(
                order, apply_post_error(order, ValueError("no running event loop"), now_ms=now)
            )
        return order

    def _tick(self, token_id: str, market: Market) -> Decimal:
        live = None if self._tick_of is None else self._tick_of(token_id)
        return market.tick_size if live is None else live

    def cancel(self, intent: CancelIntent) -> int:
        """Cancel one order, every order of a market (``condition_id`` and/or ``token_id``) or all.

        Returns how many orders were asked to cancel. Working orders go to PENDING_CANCEL and the
        venue cancel runs in the background; orders still in flight have their cancel deferred
        until the venue acknowledges them. A malformed intent is counted and logged (0).
        """
        now = self._clock_ms()
        scope = intent.scope
        if scope is CancelScope.ORDER:
            order = self.registry.get(intent.order_id or "")
            in_scope = [order] if order is not None and not order.state.is_terminal else []
        elif scope is CancelScope.MARKET:
            if not intent.condition_id and not intent.token_id:
                self._incidents.add("cancel_malformed")
                _log.warning("cancel_without_market", reason=intent.reason)
                return 0
            in_scope = self.registry.open_orders(
                condition_id=intent.condition_id or None, token_id=intent.token_id or None
            )
        else:
            in_scope = self.registry.open_orders()
        asked = self._request_cancels(in_scope, now, intent.reason or f"cancel {scope}")
        working = [o for o in asked if o.state.is_working and o.order_id not in self._cancelling]
        if working:
            if scope is CancelScope.ORDER:
                self._send_cancel(working, self.venue.cancel_orders([o.order_id for o in working]))
            elif scope is CancelScope.MARKET:
                call = self.venue.cancel_market_orders(intent.condition_id or "", intent.token_id or "")
                self._send_cancel(working, call)
            else:
                self._send_cancel(working, self.venue.cancel_all())
        return len(asked)

    # --- user-channel events --------------------------------------------------------------------

    def on_user_event(self, event: FeedEvent) -> None:
        """Apply a user-channel (or paper venue) order or trade event; other events are ignored.
        Never raises for what the event says."""
        if isinstance(event, UserOrderEvent):
            self._on_order_event(event)
        elif isinstance(event, UserTradeEvent):
            self._on_trade_event(event)

    def _on_order_event(self, event: UserOrderEvent) -> None:
        now = self._clock_ms()
        outcome = self.registry.apply_order_event(event, now_ms=now)
        order = self.registry.get(event.order_id)
        if order is not None and outcome.errors:
            capped = capped_order_event(order, event)
            if capped is not None:
                self._incidents.refused(outcome.errors[0], "order event")
                outcome = self.registry.apply_order_event(capped, now_ms=now, cause="order event, capped")
        self._incidents.routing(outcome, "order event")
        if order is not None:
            self._cancel_if_due([order])

    def _on_trade_event(self, event: UserTradeEvent) -> None:
        now = self._clock_ms()
        market = self._market_of(event.condition_id)
        outcome = self.registry.apply_trade_event(event, now_ms=now, fees=market.fee if market else None)
        if outcome.duplicate:
            return
        self._incidents.routing(outcome, "trade event")
        for fill in outcome.fills:
            order = self.registry.get(fill.order_id)
            self._books.book(fill, strategy=order.strategy if order else "", now_ms=now)
        self._books.report(now)
        self._cancel_if_due(o for f in outcome.fills if (o := self.registry.get(f.order_id)) is not None)

    # --- settlement -----------------------------------------------------------------------------

    def settle_market(self, condition_id: str, winner: Outcome, now_ms: int) -> Decimal:
        """Settle the market's positions on the venue's resolution and tell the risk manager.
        Returns the PnL realised now (zero when already settled, or when the market is unknown
        or contradicts an earlier settlement: both logged). Idempotent."""
        market = self._market_of(condition_id)
        if market is not None:
            self._books.register_market(market, now_ms)
        return self._books.settle(condition_id, winner, now_ms)

    # --- polling and the background loop -------------------------------------------------------

    async def poll_once(self) -> None:
        """Read back the orders in flight longer than ``poll_after_ms`` (and not waiting for a
        request of ours) and resolve them; send deferred cancels and cancels to retry."""
        now = self._clock_ms()
        due = self.registry.in_flight_orders(now_ms=now, min_age_ms=self.config.poll_after_ms)
        for order in due:
            if order.order_id not in self._posts and order.order_id not in self._cancelling:
                self._incidents.add("polled")
                await self._look_up(order, "poll")
        self._send_due_cancels()

    def prune(self) -> int:
        """Forget terminal orders idle for ``prune_retention_ms``; returns how many."""
        pruned = self.registry.prune(now_ms=self._clock_ms(), retention_ms=self.config.prune_retention_ms)
        self._cancel_retry.intersection_update(o.order_id for o in self.registry)
        return len(pruned)

    async def run(self) -> None:
        """Poll every ``poll_interval_s`` and prune, until cancelled. An error in one round is
        logged and the loop goes on."""
        while True:
            try:
                await self.poll_once()
                self.prune()
            except Exception as exc:  # the loop must outlive any one bad round
                self._incidents.add("poll_errors")
                _log.error("order_poll_failed", error=repr(exc))
            await asyncio.sleep(self.config.poll_interval_s)

    async def drain(self, timeout_s: float) -> None:
        """Wait until every background send and cancel has finished (new ones included), or
        ``timeout_s`` has passed. Nothing is cancelled."""
        await self._tasks.drain(timeout_s)

    async def cancel_everything(self, *, timeout_s: float = 10.0) -> bool:
        """Shutdown: cancel every open order and confirm that none is open at the venue.

        Every open order is asked to cancel, sends still running are awaited (an order landing
        after the cancel-all would survive it), then cancel-all and the venue's open-order list
        are repeated until the list is empty or ``timeout_s`` has passed. Orders we still
        believe open are then read back. True when the venue lists no open order and no send is
        still running; False otherwise (logged).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        self._request_cancels(self.registry.open_orders(), self._clock_ms(), "cancel everything")
        posts = set(self._posts.values())
        if posts:
            await asyncio.wait(posts, timeout=max(0.0, (deadline - loop.time()) / 2))
        confirmed = False
        while not confirmed:
            try:
                async with asyncio.timeout_at(deadline):
                    result = await self.venue.cancel_all()
                    self._apply_cancel_result(result, "cancel all")
                    still_open = await self.venue.get_open_orders()
            except (VenueError, TimeoutError) as exc:
                self._venue_trouble(exc, "cancel_everything")
            else:
                self.risk.record_api_health(True, self._clock_ms())
                self._apply_listing(still_open)
                confirmed = not still_open
            if not confirmed:
                if loop.time() + _CONFIRM_RETRY_S >= deadline:
                    break
                await asyncio.sleep(_CONFIRM_RETRY_S)
        for order in self.registry.open_orders():
            if loop.time() >= deadline:
                break
            try:
                async with asyncio.timeout_at(deadline):
                    await self._look_up(order, "shutdown")
            except TimeoutError:
                break
        done = confirmed and not self._posts
        log = _log.info if done else _log.error
        log("cancel_everything", confirmed=done, believed_open=len(self.registry.open_orders()))
        return done

    # --- reading --------------------------------------------------------------------------------

    def open_orders(self) -> list[Order]:
        """Orders not terminal (PENDING, in flight, working), oldest first."""
        return self.registry.open_orders()

    def status(self) -> dict[str, object]:
        """Counters for status pages: submits and their outcomes, cancels, fills, voided fills,
        inconsistent venue data, errors, orders by state and background work."""
        by_state = Counter(order.state.value for order in self.registry)
        return {
            **self._incidents.snapshot(),
            "fills": self._books.fills,
            "voided": self._books.voided,
            "portfolio_errors": self._books.errors,
            "task_errors": self._tasks.failures,
            "by_state": dict(sorted(by_state.items())),
            "background_tasks": len(self._tasks),
            "posts_in_flight": len(self._posts),
            "cancels_to_retry": len(self._cancel_retry),
            "unknown_order_events": self.registry.unknown_order_events,
            "unknown_trade_events": self.registry.unknown_trade_events,
            "registry_size": len(self.registry),
        }

    # --- sending ----------------------------------------------------------------------------------

    async def _post(self, order: Order, signed: SignedOrder) -> None:
        try:
            result = await self.venue.post_order(signed, order.order_type, post_only=order.post_only)
        except Exception as exc:  # every failure is an answer: see order_answers
            if not isinstance(exc, VenueError | ValueError | TypeError):
                _log.error("post_order_unexpected_error", order_id=order.order_id, error=repr(exc))
            self._apply_answer(order, partial(apply_post_error, order, exc))
        else:
            self._apply_answer(order, partial(apply_post_result, order, result))
        finally:
            self._posts.pop(order.order_id, None)
        self._cancel_if_due([order])

    def _apply_answer(self, order: Order, apply: Callable[..., AnswerEffect]) -> None:
        try:
            effect = apply(now_ms=self._clock_ms())
        except OrderStateError as error:
            self._incidents.refused(error, "post answer")
            return
        self._record_answer(order, effect)

    def _record_answer(self, order: Order, effect: AnswerEffect) -> None:
        self._incidents.add(effect.outcome.value)
        effect.report_to(
            self.risk,
            token_id=order.token_id,
            now_ms=self._clock_ms(),
            cooldown_ms=self.config.reject_cooldown_ms,
            kill_cooldown_ms=self.config.kill_cooldown_ms,
        )
        if effect.inconsistent is not None:
            self._incidents.refused(effect.inconsistent, "post answer")
        if effect.outcome is not SubmitOutcome.ACCEPTED:
            log = _log.info if effect.outcome is SubmitOutcome.AMBIGUOUS else _log.warning
            log(
                f"order_{effect.outcome.value}",
                order_id=order.order_id,
                strategy=order.strategy,
                token_id=order.token_id,
                reason=effect.reason,
            )

    def _request_cancels(
        self, orders: Iterable[Order], now: int, cause: str, *, count: bool = True
    ) -> list[Order]:
        asked: list[Order] = []
        for order in orders:
            try:
                order.cancel_requested(now_ms=now, cause=cause)
            except OrderStateError as error:
                self._incidents.refused(error, "cancel request")
                continue
            asked.append(order)
        if count:  # a deferred or retried cancel was counted when first asked
            self._incidents.add("cancels", len(asked))
        return asked

    def _send_cancel(self, orders: Sequence[Order], call: Coroutine[Any, Any, CancelResult]) -> None:
        ids = [order.order_id for order in orders]
        self._cancelling.update(ids)  # now, not when the task starts: no second request meanwhile
        if not self._spawn(self._run_cancel(ids, call), f"cancel {len(ids)} orders"):
            call.close()
            self._cancelling.difference_update(ids)
            self._cancel_retry.update(ids)

    async def _run_cancel(self, ids: list[str], call: Coroutine[Any, Any, CancelResult]) -> None:
        self._incidents.add("cancel_requests")
        try:
            result = await call
        except Exception as exc:  # see _cancel_not_processed
            self._cancel_not_processed(ids, exc)
            return
        finally:
            self._cancelling.difference_update(ids)
        self.risk.record_api_health(True, self._clock_ms())
        refused = self._apply_cancel_result(result, "cancel")
        for order in refused:  # "not found", "already matched": learn what became of it
            await self._look_up(order, "cancel refused")

    def _cancel_not_processed(self, ids: list[str], exc: Exception) -> None:
        # Unanswered, or turned away by a busy venue: the cancel is sent again on the next poll.
        # Ambiguous ones may have happened: they stay PENDING_CANCEL (a resend is idempotent).
        # A refusal of the request itself (or a bug) would be refused again: not retried.
        if isinstance(exc, VenueError):
            self._venue_trouble(exc, "cancel")
        else:
            _log.error("cancel_unexpected_error", error=repr(exc))
        if isinstance(exc, AmbiguousOutcome | VenueUnavailable | RateLimited):
            self._cancel_retry.update(ids)
        if isinstance(exc, AmbiguousOutcome):
            return
        now = self._clock_ms()
        for order_id in ids:
            order = self.registry.get(order_id)
            if order is not None:
                try:
                    order.cancel_failed(str(exc), now_ms=now, cause="cancel not processed")
                except OrderStateError as error:
                    self._incidents.refused(error, "cancel failure")

    def _apply_cancel_result(self, result: CancelResult, cause: str) -> list[Order]:
        """Apply a cancel answer; returns the orders whose cancel was refused."""
        now = self._clock_ms()
        refused: list[Order] = []
        for order_id in result.canceled:
            order = self.registry.get(order_id)
            if order is not None:
                self._cancel_retry.discard(order_id)
                self._incidents.guarded(
                    partial(order.cancel_confirmed, now_ms=now, cause=cause), "cancel answer"
                )
        for order_id, reason in result.not_canceled.items():
            order = self.registry.get(order_id)
            if order is None:
                continue
            self._incidents.add("cancel_failed")
            self._cancel_retry.discard(order_id)
            self._incidents.guarded(
                partial(order.cancel_failed, reason, now_ms=now, cause=cause), "cancel answer"
            )
            refused.append(order)
        return refused

    def _cancel_if_due(self, orders: Iterable[Order]) -> None:
        due = [order for order in orders if order.needs_cancel and order.order_id not in self._cancelling]
        if due:
            self._send_deferred(due)

    def _send_due_cancels(self) -> None:
        due = self.registry.orders_needing_cancel()
        for order_id in tuple(self._cancel_retry):
            order = self.registry.get(order_id)
            if order is None or order.state.is_terminal or order.state is OrderState.SUBMITTED:
                self._cancel_retry.discard(order_id)  # gone, or deferred by the state machine
            elif all(order_id != other.order_id for other in due):
                due.append(order)
        due = [order for order in due if order.order_id not in self._cancelling]
        if due:
            self._send_deferred(due)

    def _send_deferred(self, orders: list[Order]) -> None:
        asked = self._request_cancels(orders, self._clock_ms(), "deferred cancel", count=False)
        self._cancel_retry.difference_update(order.order_id for order in asked)
        if asked:
            self._send_cancel(asked, self.venue.cancel_orders([order.order_id for order in asked]))

    # --- reading orders back --------------------------------------------------------------------

    async def _look_up(self, order: Order, why: str) -> None:
        try:
            venue_order = await self.venue.get_order(order.order_id)
        except VenueError as exc:
            self._venue_trouble(exc, "get_order")
            return
        except ValueError as exc:  # an id the client will not even send: the order is ours, odd
            _log.error("order_lookup_refused", order_id=order.order_id, error=str(exc))
            return
        now = self._clock_ms()
        self.risk.record_api_health(True, now)
        try:
            if venue_order is None:
                made = order.resolve_unknown(None, now_ms=now, cause=f"{why}: unknown to the venue")
            else:
                made, problem = apply_venue_order(order, venue_order, now_ms=now, cause=why)
                if problem is not None:
                    self._incidents.refused(problem, why)
        except OrderStateError as error:
            self._incidents.refused(error, why)
            return
        if made:
            self._incidents.add("resolved_by_lookup")
        self._cancel_if_due([order])

    def _apply_listing(self, venue_orders: Sequence[VenueOrder]) -> None:
        now = self._clock_ms()
        for venue_order in venue_orders:
            order = self.registry.get(venue_order.order_id)
            if order is None:
                self._incidents.add("unknown_venue_orders")
                continue
            try:
                _, problem = apply_venue_order(order, venue_order, now_ms=now, cause="open-order listing")
            except OrderStateError as error:
                self._incidents.refused(error, "open-order listing")
                continue
            if problem is not None:
                self._incidents.refused(problem, "open-order listing")

    # --- bookkeeping ------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None], name: str, *, post_of: str | None = None) -> bool:
        task = self._tasks.spawn(work, name=name)
        if task is None:
            return False
        if post_of is not None:
            self._posts[post_of] = task
        return True

    def _venue_trouble(self, error: BaseException, operation: str) -> None:
        self.risk.record_api_health(venue_seems_healthy(error), self._clock_ms())
        self._incidents.venue_failed(error, operation)
