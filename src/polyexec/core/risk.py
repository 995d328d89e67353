"""The risk manager: the last gate every order intent passes before it may be sent.

:meth:`RiskManager.evaluate` approves or denies one :class:`~polyexec.core.models.OrderIntent`
against :class:`~polyexec.core.risk_limits.RiskLimits`, the manager's own state (trading state,
kill switch, circuit breakers, loss counters, venue cooldowns) and a :class:`RiskContext` the
engine fills for that one decision. Cancels always pass (:meth:`RiskManager.evaluate_cancel`):
they only ever reduce risk. The manager imports nothing but the core models: the engine hands
it plain numbers, and time is always a parameter (``now_ms``), so every answer is reproducible.

This module is the public face; import everything from here. Behind it:

* :mod:`polyexec.core.risk_decision`: :class:`RiskContext`, :class:`RiskDecision`,
  :class:`RiskReason`, :class:`TradingState`;
* :mod:`polyexec.core.risk_checks`: the checks, one pure function per group of limits;
* :mod:`polyexec.core.risk_breakers`: circuit breakers (:class:`BreakerKind`) and venue cooldowns;
* :mod:`polyexec.core.risk_losses`: realised-loss windows, the UTC loss day, the losing streak;
* :mod:`polyexec.core.risk_codec`: the persistent state, its JSON form, the status snapshot.

Risk-reducing orders
    A SELL flagged ``reduces_position`` (it must fit in the shares held and not already
    offered, or it is invalid). It passes REDUCING, the loss-window and drawdown breakers, the
    loss limits, the exposure limits (it lowers exposure), the trade-size limit (its size is
    bounded by the position it closes, and slicing an emergency exit into small orders only
    prolongs it) and the entry time window (it may run until the window ends). It is still
    subject to the kill switch, HALTED, venue cooldowns, the reject and API breakers (the
    venue is refusing or failing our orders, so sending more only adds ambiguous outcomes),
    the open-order limit, and every market-quality check: exiting into a broken book is
    itself a trading decision. A BUY never counts as risk-reducing, whatever its flag.

Order of checks (first failure wins; cheap and fundamental first)
    1. ``KILL_SWITCH``, 2. ``HALTED``, 3. ``INVALID_INTENT``, 4. ``REDUCING_ONLY``,
    5. ``COOLDOWN_CACHED``, 6. breakers ``API_UNHEALTHY``, ``CONSECUTIVE_REJECTS``,
    ``LOSS_WINDOW``, ``DRAWDOWN``, 7. ``OUTSIDE_TIME_WINDOW``, 8. ``LOSS_LIMIT:DAY``,
    ``LOSS_LIMIT:HOUR``, ``CONSECUTIVE_LOSSES``, 9. ``OPEN_ORDERS_LIMIT``,
    ``TRADE_SIZE_LIMIT``, ``LOSS_LIMIT:TRADE``, 10. ``EXPOSURE_LIMIT``,
    ``CATEGORY_EXPOSURE_LIMIT``, ``MARKET_EXPOSURE_LIMIT``, ``WINDOW_LIMIT``,
    11. ``BOOK_UNTRUSTED``, ``INSUFFICIENT_DEPTH``, ``SPREAD_TOO_WIDE``, ``SLIPPAGE_TOO_HIGH``.

Rules worth knowing
    * Exposure limits are checked *after this order*: current + the buy's notional ≤ limit.
    * The worst-case loss of a buy is its notional (the token can settle at 0); fees are not
      added. ``LOSS_LIMIT:TRADE`` denies a buy whose notional exceeds ``max_loss_per_trade_usd``.
    * Losses are *net* realised PnL: ``loss = max(0, −Σ pnl)`` over the period. A loss limit
      (or streak limit) is reached when the loss is positive and ≥ the limit, so a limit of 0
      tolerates no loss at all rather than blocking before the first trade.
    * The day is the UTC day of ``now_ms``; the daily loss and the losing streak restart at
      UTC midnight and on :meth:`RiskManager.reset_daily`. The hourly loss is a rolling hour.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any, Final

from polyexec.core.models import CancelIntent, OrderIntent, TimestampMs
from polyexec.core.risk_breakers import BreakerKind, CircuitBreakers
from polyexec.core.risk_checks import (
    check_book,
    check_breakers,
    check_cooldown,
    check_exposure,
    check_intent,
    check_losses,
    check_size,
    check_time_window,
    is_risk_reducing,
)
from polyexec.core.risk_codec import RiskState, decode_risk_state, encode_risk_state, render_status
from polyexec.core.risk_decision import APPROVED, RiskContext, RiskDecision, RiskReason, TradingState, deny
from polyexec.core.risk_limits import RiskLimits

__all__ = ["BreakerKind", "RiskContext", "RiskDecision", "RiskManager", "RiskReason", "TradingState"]

_SECOND_MS: Final = 1_000


class RiskManager:
    """Pre-trade risk gate with trading state, kill switch, circuit breakers and loss limits.

    Feed it what happens (``record_*``, :meth:`update_equity`, :meth:`add_cooldown`) and ask it
    about each intent (:meth:`evaluate`). All methods are synchronous and cheap; time comes in
    as ``now_ms``. Breakers and cooldowns expire by comparison with ``now_ms``: nothing needs a
    timer. :meth:`to_dict` / :meth:`from_dict` carry the state that must survive a restart.
    """

    def __init__(self, limits: RiskLimits) -> None:
        self._limits = limits
        self._state = RiskState(CircuitBreakers(limits))
        self._decisions: Counter[str] = Counter()  # order decisions by reason, for status
        self._cancels = 0

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @property
    def trading_state(self) -> TradingState:
        return self._state.trading_state

    @property
    def kill_switch_engaged(self) -> bool:
        return self._state.kill_switch is not None

    # --- decisions ------------------------------------------------------------------------

    def evaluate(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        """Approve or deny one new order. Never raises for a well-typed intent and context."""
        decision = self._evaluate(intent, ctx)
        self._decisions[decision.reason] += 1
        return decision

    def evaluate_cancel(self, cancel: CancelIntent) -> RiskDecision:
        """Cancels always pass, in every state and with the kill switch engaged: they reduce risk."""
        self._cancels += 1
        return RiskDecision(True, RiskReason.APPROVED, f"cancel {cancel.scope} always allowed")

    def _evaluate(self, intent: OrderIntent, ctx: RiskContext) -> RiskDecision:
        # The documented order of checks; each check returns its denial or None.
        state, limits, now = self._state, self._limits, ctx.now_ms
        if state.kill_switch is not None:
            return deny(RiskReason.KILL_SWITCH, f"kill switch engaged: {state.kill_switch[0]}")
        if state.trading_state is TradingState.HALTED:
            return deny(RiskReason.HALTED, f"trading halted: {state.trading_state_reason}")
        invalid = check_intent(intent, ctx)
        if invalid is not None:
            return invalid
        reducing = is_risk_reducing(intent)
        if state.trading_state is TradingState.REDUCING and not reducing:
            return deny(
                RiskReason.REDUCING_ONLY, f"only risk-reducing orders allowed: {state.trading_state_reason}"
            )
        return (
            check_cooldown(state.cooldowns, intent.token_id, now)
            or check_breakers(state.breakers, now, reducing)
            or check_time_window(limits, ctx, reducing)
            or check_losses(limits, state.losses, now, reducing)
            or check_size(limits, intent, ctx, reducing)
            or check_exposure(limits, intent, ctx)
            or check_book(limits, intent, ctx)
            or APPROVED
        )

    # --- trading state and kill switch ---------------------------------------------------

    def set_trading_state(self, state: TradingState, reason: str, now_ms: TimestampMs) -> None:
        """Move to ACTIVE, REDUCING or HALTED. Independent of the kill switch latch."""
        self._state.trading_state = TradingState(state)
        self._state.trading_state_reason = reason
        self._state.trading_state_since_ms = now_ms

    def engage_kill_switch(self, reason: str, now_ms: TimestampMs) -> None:
        """Latch the kill switch: from now on only cancels are approved. Idempotent (keeps the
        first reason and time)."""
        if self._state.kill_switch is None:
            self._state.kill_switch = (reason, now_ms)

    def clear_kill_switch(self, now_ms: TimestampMs) -> None:
        """Release the latch. The trading state, breakers and loss limits stay as they are."""
        self._state.kill_switch = None
        self.purge_expired(now_ms)

    # --- what happened -------------------------------------------------------------------

    def record_realized_pnl(self, amount: Decimal, now_ms: TimestampMs) -> None:
        """Add realised PnL (negative = loss). Feeds the loss-window breaker and the hourly and
        daily loss limits. Raises ``ValueError`` for a non-finite amount."""
        losses, breakers = self._state.losses, self._state.breakers
        window_ms = self._limits.loss_breaker_window_s * _SECOND_MS
        losses.record_pnl(amount, now_ms, window_ms)
        # Losses that already tripped the breaker do not count again once it has reset.
        tripped_at = breakers.trips[BreakerKind.LOSS_WINDOW].tripped_at_ms
        breakers.record_window_loss(losses.window_loss(now_ms, window_ms, after_ms=tripped_at), now_ms)
        self.purge_expired(now_ms)

    def record_trade_result(self, pnl: Decimal, now_ms: TimestampMs) -> None:
        """Count one closed trade for the losing streak (a loss extends it, anything else ends
        it). Money goes through :meth:`record_realized_pnl`; this only counts."""
        self._state.losses.record_trade_result(pnl, now_ms)

    def record_venue_reject(self, now_ms: TimestampMs) -> None:
        """A definitive venue reject of one of our orders; N in a row trip the reject breaker."""
        self._state.breakers.record_reject(now_ms)
        self.purge_expired(now_ms)

    def record_venue_accept(self, now_ms: TimestampMs) -> None:
        """The venue accepted an order: the reject streak starts over."""
        self._state.breakers.record_accept()
        self.purge_expired(now_ms)

    def record_api_health(self, healthy: bool, now_ms: TimestampMs) -> None:
        """Report the venue API's health. Unhealthy for longer than ``api_unhealthy_max_s`` trips
        the API breaker; it holds while unhealthy and for ``api_breaker_cooldown_s`` after the
        first healthy report."""
        self._state.breakers.record_api_health(healthy, now_ms)
        if healthy:
            self.purge_expired(now_ms)

    def update_equity(self, equity: Decimal, now_ms: TimestampMs) -> None:
        """Report account equity (cash + positions at mark). Drawdown is measured from the peak
        equity since session start or since the drawdown breaker last tripped: a trip re-bases
        the peak at the tripping equity, so after the cooldown trading resumes and a further
        ``max_drawdown_pct`` fall trips it again (otherwise it would re-trip on the very next
        update and never reset). Raises ``ValueError`` for a negative or non-finite equity."""
        self._state.breakers.update_equity(equity, now_ms)
        self.purge_expired(now_ms)

    def add_cooldown(self, token_id: str, until_ms: TimestampMs, reason: str) -> None:
        """Skip orders for ``token_id`` until ``until_ms`` (the venue asked us to back off).
        An existing later expiry is kept."""
        self._state.cooldowns.add(token_id, until_ms, reason)

    def reset_daily(self, now_ms: TimestampMs) -> None:
        """Start a new loss day now: daily loss and losing streak back to zero (operator verb)."""
        self._state.losses.reset_daily(now_ms)

    def purge_expired(self, now_ms: TimestampMs) -> None:
        """Forget cooldowns that have run out (called by every recording method)."""
        self._state.cooldowns.purge_expired(now_ms)

    # --- reading the state -----------------------------------------------------------------

    def tripped_breakers(self, now_ms: TimestampMs) -> tuple[BreakerKind, ...]:
        """The breakers tripped at ``now_ms``, in check order."""
        return self._state.breakers.tripped(now_ms)

    def day_loss(self, now_ms: TimestampMs) -> Decimal:
        """Net realised loss of the UTC day of ``now_ms`` (0 once the day has rolled)."""
        return self._state.losses.day_loss(now_ms)

    def hour_loss(self, now_ms: TimestampMs) -> Decimal:
        """Net realised loss over the rolling hour before ``now_ms``."""
        return self._state.losses.hour_loss(now_ms)

    def loss_streak(self, now_ms: TimestampMs) -> int:
        """Losing trades in a row on the UTC day of ``now_ms``."""
        return self._state.losses.loss_streak(now_ms)

    def drawdown_pct(self) -> Decimal:
        """Current drawdown of the last equity from the peak, in percent (0 without a peak)."""
        return self._state.breakers.drawdown_pct()

    def status(self, now_ms: TimestampMs) -> dict[str, Any]:
        """A JSON-ready snapshot for the engine's ``get_status()`` (amounts as strings); see
        :func:`~polyexec.core.risk_codec.render_status`."""
        return render_status(self._state, now_ms, self._decisions, self._cancels)

    # --- persistence (see polyexec.core.risk_codec) ----------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The state that must survive a restart, as JSON-ready data (amounts as strings)."""
        return encode_risk_state(self._state)

    @classmethod
    def from_dict(cls, limits: RiskLimits, data: dict[str, Any]) -> RiskManager:
        """Rebuild a manager from :meth:`to_dict` output. Raises ``ValueError`` naming the
        first malformed entry: a corrupt risk state must stop startup, not be guessed at."""
        manager = cls(limits)
        manager._state = decode_risk_state(limits, data)
        return manager
