"""The order manager: submits registered before they are sent, every venue answer moving the state
machine, deferred and retried cancels, user events into the registry and the portfolio (ghost
fills voided), risk bookkeeping, polling, shutdown.

The first part drives it with :class:`ScriptedVenue` (answers chosen by the test, no sockets);
the second against the simulator over loopback with the real ClobClient and user channel, and
against the paper venue, so live and paper go through the same code path.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from polyexec.core.events import BookSnapshot, UserOrderEventKind
from polyexec.core.models import CancelIntent, CancelScope, Liquidity, OrderType, Outcome, Side, TradeStatus
from polyexec.core.order import Order
from polyexec.core.order_state import OrderState
from polyexec.venues.clob_responses import (
    DUPLICATE_OF_PREVIOUS_ATTEMPT,
    CancelResult,
    PostOrderResult,
    VenueOrder,
)
from polyexec.venues.errors import (
    AmbiguousOutcome,
    AuthError,
    DefinitiveReject,
    Geoblocked,
    RateLimited,
    VenueUnavailable,
)
from polyexec.venues.order_signer import SignedOrder
from tests.engine.conftest import eventually
from tests.engine.order_manager_support import (
    BTC,
    ETH,
    START_MS,
    ScriptedVenue,
    answer,
    intent,
    make_market,
    order_event,
    raising,
    rig,
    trade,
    venue_view,
)

D = Decimal

FOK_KILL = "order 0xab is invalid. order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_KILL = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)


# --- submit and the answers to it ------------------------------------------------------------------


async def test_submit_signs_and_registers_before_returning_and_the_answer_opens_it() -> None:
    r = rig(ScriptedVenue(gate=asyncio.Event()))
    order = r.manager.submit(intent(size="7"))
    assert order is not None
    assert r.manager.registry.get(order.order_id) is order
    assert order.state is OrderState.SUBMITTED
    assert r.manager.open_orders() == [order]
    assert r.venue.posts == []  # the POST runs in the background, after submit returned
    await eventually(lambda: r.venue.posts)
    signed = r.venue.posts[0]
    assert (signed.order_id, signed.taker_amount, signed.maker_amount) == (
        order.order_id,
        7_000_000,
        2_800_000,
    )
    assert signed.timestamp_ms == START_MS
    assert order.state is OrderState.SUBMITTED  # still waiting for the answer
    assert r.venue.gate is not None
    r.venue.gate.set()
    await r.manager.drain(2.0)
    assert order.state is OrderState.OPEN
    status = r.manager.status()
    assert (status["submitted"], status["accepted"], status["posts_in_flight"]) == (1, 1, 0)
    assert r.portfolio.exposure().total == 0  # registered the market, no position yet


async def test_intents_that_cannot_be_built_are_counted_never_raised() -> None:
    r = rig()
    unknown = make_market("sol")
    bad = [
        intent(market=unknown),
        intent(token=ETH.up_token_id),  # a token of another market
        intent(price="0.405"),  # off the tick
        intent(order_type=OrderType.GTD),  # GTD without an expiration
        intent(order_type=OrderType.FOK, size="0"),
    ]
    assert [r.manager.submit(i) for i in bad] == [None] * len(bad)
    assert r.manager.status()["not_built"] == len(bad)
    assert len(r.manager.registry) == 0
    await r.manager.drain(1.0)
    assert r.venue.posts == []


@pytest.mark.parametrize(
    ("error", "cooldown", "rejects", "unhealthy"),
    [
        (DefinitiveReject("Size (1) lower than the minimum: 5", status=400), True, 1, False),
        (Geoblocked("blocked", status=403), False, 1, False),
        (AuthError("bad key", status=401), False, 1, False),
        (VenueUnavailable("trading disabled", status=503), False, 0, True),
        (RateLimited("slow down"), False, 0, True),
        (DefinitiveReject(f"{FOK_KILL}", status=400), True, 0, False),
        (DefinitiveReject(f"{FAK_KILL}", status=400), True, 0, False),
    ],
)
async def test_refusals_reject_the_order_and_feed_the_right_breaker(
    error: Exception, cooldown: bool, rejects: int, unhealthy: bool
) -> None:
    r = rig(ScriptedVenue(post_answer=raising(error)))
    order = await r.submit()
    assert order.state is OrderState.REJECTED
    assert order.reject_reason == str(error)
    status = r.risk_status()
    assert (order.token_id in status["cooldowns"]) is cooldown
    assert status["losses"]["consecutive_rejects"] == rejects
    assert (status["api_unhealthy_since_ms"] is not None) is unhealthy
    assert r.manager.status()["rejected"] == 1
    assert r.manager.open_orders() == []


async def test_orders_are_signed_on_the_live_tick_not_the_markets_listed_one() -> None:
    # The venue moved the Up book to the 0.001 tick near the edge; the market still lists 0.01.
    r = rig(ticks={BTC.up_token_id: Decimal("0.001")})
    fine = await r.submit(price="0.979")
    assert fine.state is OrderState.OPEN
    coarse = r.manager.submit(intent(price="0.979", token=BTC.down_token_id))
    assert coarse is None  # the Down book has no live tick: the market's 0.01 applies
    assert r.manager.status()["not_built"] == 1


async def test_a_killed_fok_cools_its_token_down_briefly_and_is_no_venue_reject() -> None:
    r = rig(ScriptedVenue(post_answer=raising(DefinitiveReject(FOK_KILL, status=400))))
    order = await r.submit()
    assert order.state is OrderState.REJECTED
    cooldown = r.risk_status()["cooldowns"][order.token_id]
    assert cooldown["until_ms"] == START_MS + r.manager.config.kill_cooldown_ms
    assert r.manager.config.kill_cooldown_ms < r.manager.config.reject_cooldown_ms


async def test_ambiguous_submit_stays_in_flight_until_polling_resolves_it() -> None:
    r = rig(ScriptedVenue(post_answer=raising(AmbiguousOutcome("no answer within 5 s"))))
    placed = await r.submit(price="0.40")
    lost = await r.submit(price="0.41")
    for order in (placed, lost):
        assert order.state is OrderState.SUBMITTED
        assert order.ambiguous_since_ms == START_MS
    assert r.manager.status()["ambiguous"] == 2
    assert r.risk_status()["api_unhealthy_since_ms"] == START_MS
    assert r.risk_status()["losses"]["consecutive_rejects"] == 0  # never a rejection

    views = {placed.order_id: venue_view(placed, "LIVE")}
    r.venue.lookup = views.get
    await r.manager.poll_once()
    assert r.venue.lookups == []  # not in flight for 5 s yet
    r.clock.now_ms += 5_000
    await r.manager.poll_once()
    assert sorted(r.venue.lookups) == sorted([placed.order_id, lost.order_id])
    assert placed.state is OrderState.OPEN
    assert lost.state is OrderState.FAILED
    assert lost.failure_reason == "unknown to the venue"
    assert r.risk_status()["api_unhealthy_since_ms"] is None  # the lookups were answered


@pytest.mark.parametrize(
    "error",
    [
        DefinitiveReject("not enough balance", status=400),
        DefinitiveReject("order 0x… is invalid. Duplicated.", status=400),
    ],
)
async def test_refusal_of_a_resend_or_a_duplicate_is_not_proof_of_absence(error: DefinitiveReject) -> None:
    if "Duplicated" not in error.message:
        error.after_ambiguous = True
    r = rig(ScriptedVenue(post_answer=raising(error)))
    order = await r.submit()
    assert order.state is OrderState.SUBMITTED
    assert r.risk_status()["cooldowns"] == {}
    assert r.manager.status()["ambiguous"] == 1


async def test_client_refusal_fails_the_order_and_a_surprise_leaves_it_ambiguous() -> None:
    r = rig(ScriptedVenue(post_answer=raising(ValueError("post-only is valid only with GTC"))))
    refused = await r.submit()
    assert refused.state is OrderState.FAILED
    r.venue.post_answer = raising(RuntimeError("bug in a transport"))
    surprised = await r.submit()
    assert surprised.state is OrderState.SUBMITTED
    assert surprised.ambiguous_since_ms is not None
    status = r.manager.status()
    assert (status["send_failed"], status["ambiguous"], status["task_errors"]) == (1, 1, 0)


async def test_answer_of_an_earlier_attempt_is_reconciled_from_the_venue_order() -> None:
    venue = ScriptedVenue()
    r = rig(venue)

    def duplicate(signed: SignedOrder) -> PostOrderResult:
        order = r.manager.registry.get(signed.order_id)
        assert order is not None
        view = venue_view(order, "MATCHED", matched=str(order.size))
        return PostOrderResult(
            signed.order_id, DUPLICATE_OF_PREVIOUS_ATTEMPT, True, "", None, None, (), (), view
        )

    venue.post_answer = duplicate
    order = await r.submit()
    assert order.state is OrderState.FILLED
    assert order.venue_size_matched == order.size
    assert r.manager.status()["accepted"] == 1


async def test_fok_buy_matched_beyond_its_size_is_filled_counted_and_booked_in_full() -> None:
    # The venue spends the whole dollar leg: $2.25 at 0.40 buys 5.625 shares for 5 signed.
    r = rig(ScriptedVenue(post_answer=answer("matched", making="2.25", taking="5.625")))
    order = await r.submit(price="0.45", size="5", order_type=OrderType.FOK)
    assert order.state is OrderState.FILLED
    assert r.manager.status()["inconsistent"] == 1
    r.manager.on_user_event(order_event(order, "MATCHED", "5.625", UserOrderEventKind.UPDATE))
    for status in (TradeStatus.MATCHED, TradeStatus.CONFIRMED):
        r.manager.on_user_event(trade(order, status, size="5.625", price="0.40"))
    position = r.portfolio.position(order.token_id)
    assert (position.quantity, position.confirmed_quantity) == (D("5.625"), D("5.625"))
    assert position.cost_basis == D("2.25")
    assert order.state is OrderState.FILLED


async def test_poll_leaves_alone_orders_whose_post_is_still_running() -> None:
    r = rig(ScriptedVenue(gate=asyncio.Event()))
    order = r.manager.submit(intent())
    assert order is not None
    await eventually(lambda: r.venue.posts)
    r.clock.now_ms += 60_000
    await r.manager.poll_once()
    assert r.venue.lookups == []
    assert order.state is OrderState.SUBMITTED
    assert r.venue.gate is not None
    r.venue.gate.set()
    await r.manager.drain(2.0)
    assert order.state is OrderState.OPEN


def test_submit_outside_an_event_loop_fails_the_order_instead_of_raising() -> None:
    r = rig()
    order = r.manager.submit(intent())
    assert order is not None
    assert order.state is OrderState.FAILED
    assert r.manager.status()["send_failed"] == 1


# --- cancels ---------------------------------------------------------------------------------------


async def test_cancel_of_an_order_in_flight_is_sent_once_it_is_acknowledged() -> None:
    r = rig(ScriptedVenue(gate=asyncio.Event()))
    order = r.manager.submit(intent())
    assert order is not None
    assert r.manager.cancel(CancelIntent(CancelScope.ORDER, order_id=order.order_id)) == 1
    assert order.state is OrderState.SUBMITTED
    assert order.cancel_deferred
    await eventually(lambda: r.venue.posts)
    assert r.venue.cancels == []
    assert r.venue.gate is not None
    r.venue.gate.set()
    await r.manager.drain(2.0)
    assert r.venue.cancels == [("orders", [order.order_id])]
    assert order.state is OrderState.CANCELLED


async def test_cancel_by_market_and_all_touch_only_their_scope() -> None:
    r = rig()
    btc = [await r.submit(price=p) for p in ("0.30", "0.31")]
    eth = await r.submit(market=ETH)
    asked = r.manager.cancel(CancelIntent(CancelScope.MARKET, condition_id=BTC.condition_id))
    assert asked == 2
    assert all(o.state is OrderState.PENDING_CANCEL for o in btc)
    await r.manager.drain(2.0)
    assert r.venue.cancels == [("market", BTC.condition_id)]
    assert [o.state for o in (*btc, eth)] == [OrderState.CANCELLED, OrderState.CANCELLED, OrderState.OPEN]
    assert r.manager.cancel(CancelIntent(CancelScope.ALL)) == 1
    await r.manager.drain(2.0)
    assert r.venue.cancels[-1] == ("all", None)
    assert eth.state is OrderState.CANCELLED
    assert r.manager.cancel(CancelIntent(CancelScope.MARKET)) == 0  # names no market
    assert r.manager.cancel(CancelIntent(CancelScope.ORDER, order_id="0x" + "00" * 32)) == 0
    assert r.manager.status()["cancels"] == 3


async def test_not_canceled_answer_moves_the_order_back_and_reads_it_from_the_venue() -> None:
    venue = ScriptedVenue()
    r = rig(venue)
    order = await r.submit()
    venue.cancel_answer = lambda ids: CancelResult((), {ids[0]: "Order already matched"})
    venue.lookup = lambda order_id: venue_view(order, "MATCHED", matched="5")
    r.manager.cancel(CancelIntent(CancelScope.ORDER, order_id=order.order_id))
    await r.manager.drain(2.0)
    assert order.cancel_failure_reason == "Order already matched"
    assert venue.lookups == [order.order_id]
    assert order.state is OrderState.FILLED
    assert r.manager.status()["cancel_failed"] == 1


@pytest.mark.parametrize("error", [VenueUnavailable("busy", status=425), AmbiguousOutcome("no answer")])
async def test_cancel_the_venue_could_not_process_is_sent_again_on_the_next_poll(error: Exception) -> None:
    venue = ScriptedVenue()
    r = rig(venue)
    order = await r.submit()

    def unprocessed(ids: list[str]) -> CancelResult:
        raise error

    venue.cancel_answer = unprocessed
    r.manager.cancel(CancelIntent(CancelScope.ORDER, order_id=order.order_id))
    await r.manager.drain(2.0)
    # Turned away: the cancel did not happen. Unanswered: it may have, the order stays pending.
    expected = OrderState.PENDING_CANCEL if isinstance(error, AmbiguousOutcome) else OrderState.OPEN
    assert order.state is expected
    assert r.manager.status()["cancels_to_retry"] == 1
    venue.cancel_answer = lambda ids: CancelResult(canceled=tuple(ids))
    await r.manager.poll_once()
    await r.manager.drain(2.0)
    assert order.state is OrderState.CANCELLED
    assert len(venue.cancels) == 2
    assert r.manager.status()["cancels_to_retry"] == 0


# --- user events, fills, PnL -------------------------------------------------------------------------


async def test_fills_are_provisional_until_confirmed_and_a_failed_trade_voids_them() -> None:
    r = rig()
    kept = await r.submit(price="0.40")
    ghost = await r.submit(price="0.41")
    r.manager.on_user_event(trade(kept, TradeStatus.MATCHED, trade_id="t-kept", liquidity=Liquidity.MAKER))
    r.manager.on_user_event(trade(ghost, TradeStatus.MATCHED, trade_id="t-ghost", liquidity=Liquidity.MAKER))
    position = r.portfolio.position(BTC.up_token_id)
    assert (position.quantity, position.confirmed_quantity) == (D(10), D(0))
    r.manager.on_user_event(trade(kept, TradeStatus.CONFIRMED, trade_id="t-kept", liquidity=Liquidity.MAKER))
    r.manager.on_user_event(trade(ghost, TradeStatus.FAILED, trade_id="t-ghost", liquidity=Liquidity.MAKER))
    r.manager.on_user_event(trade(ghost, TradeStatus.FAILED, trade_id="t-ghost", liquidity=Liquidity.MAKER))
    position = r.portfolio.position(BTC.up_token_id)
    assert (position.quantity, position.confirmed_quantity, position.cost_basis) == (D(5), D(5), D("2.00"))
    assert (kept.state, ghost.state) == (OrderState.FILLED, OrderState.FAILED)
    assert r.portfolio.voided_count == 1
    status = r.manager.status()
    assert (status["fills"], status["voided"]) == (2, 1)


async def test_order_events_move_orders_and_one_beyond_the_size_is_capped() -> None:
    r = rig(ScriptedVenue(gate=asyncio.Event()))
    order = r.manager.submit(intent(order_type=OrderType.FAK))
    assert order is not None
    r.manager.on_user_event(order_event(order, "LIVE", "0", UserOrderEventKind.PLACEMENT))
    assert order.state is OrderState.OPEN  # the user channel beat the POST answer
    r.manager.on_user_event(order_event(order, "MATCHED", "6.2", UserOrderEventKind.UPDATE))
    assert order.state is OrderState.FILLED
    assert order.venue_size_matched == order.size
    assert r.manager.status()["inconsistent"] == 1
    assert r.venue.gate is not None
    r.venue.gate.set()
    await r.manager.drain(2.0)
    assert order.state is OrderState.FILLED  # the late answer changes nothing


async def test_events_of_others_and_other_event_kinds_are_ignored() -> None:
    r = rig()
    order = await r.submit()
    stranger = Order.from_intent(intent(), "0x" + "12" * 32, now_ms=START_MS)
    r.manager.on_user_event(trade(stranger, TradeStatus.MATCHED))
    r.manager.on_user_event(order_event(stranger, "LIVE", "0", UserOrderEventKind.PLACEMENT))
    r.manager.on_user_event(BookSnapshot(BTC.up_token_id, BTC.condition_id, START_MS, (), ()))
    assert r.portfolio.positions() == []
    assert order.state is OrderState.OPEN
    status = r.manager.status()
    assert (status["unknown_trade_events"], status["unknown_order_events"]) == (1, 1)


async def test_fees_sells_and_settlement_feed_the_risk_manager() -> None:
    r = rig(equity=D(990))
    bought = await r.submit(Side.BUY, "0.40", "10", OrderType.FOK)
    r.manager.on_user_event(trade(bought, TradeStatus.CONFIRMED, trade_id="t-buy"))
    fee = r.portfolio.fees_paid
    assert fee > 0
    assert D(r.risk_status()["losses"]["day_loss_usd"]) == fee
    assert r.risk_status()["equity"]["last_usd"] == "990"

    sold = await r.submit(Side.SELL, "0.50", "4", OrderType.FOK)
    r.manager.on_user_event(trade(sold, TradeStatus.CONFIRMED, trade_id="t-sell"))
    assert r.portfolio.realized_pnl == D("0.40")  # 4 × (0.50 − 0.40)

    pnl = r.manager.settle_market(BTC.condition_id, Outcome.DOWN, r.clock())
    assert pnl == D("-2.40")  # the 6 shares left, bought at 0.40, pay nothing
    net = r.portfolio.realized_pnl - r.portfolio.fees_paid
    assert D(r.risk_status()["losses"]["day_loss_usd"]) == -net
    assert r.risk_status()["losses"]["consecutive_losses"] == 1  # one round trip, lost
    assert r.manager.settle_market(BTC.condition_id, Outcome.DOWN, r.clock()) == 0
    assert r.manager.settle_market(BTC.condition_id, Outcome.UP, r.clock()) == 0  # contradiction: logged
    assert D(r.risk_status()["losses"]["day_loss_usd"]) == -net
    assert r.manager.settle_market(make_market("sol").condition_id, Outcome.UP, r.clock()) == 0


# --- polling loop, pruning, shutdown -------------------------------------------------------------------


async def test_run_polls_prunes_and_survives_a_failing_round() -> None:
    venue = ScriptedVenue(post_answer=raising(AmbiguousOutcome("no answer")))
    r = rig(venue, poll_after_ms=0, poll_interval_s=0.01, prune_retention_ms=0)
    order = await r.submit()
    rejected_venue_answers = iter([RuntimeError("first round breaks"), None])

    def lookup(order_id: str) -> VenueOrder | None:
        failure = next(rejected_venue_answers, None)
        if failure is not None:
            raise failure
        return venue_view(order, "CANCELED")

    venue.lookup = lookup
    runner = asyncio.create_task(r.manager.run())
    try:
        await eventually(lambda: order.order_id not in r.manager.registry)  # resolved, then pruned
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    assert order.state is OrderState.CANCELLED
    assert r.manager.status()["poll_errors"] == 1


async def test_cancel_everything_confirms_nothing_is_left_open() -> None:
    venue = ScriptedVenue()
    r = rig(venue)
    orders = [await r.submit(price=p) for p in ("0.30", "0.31")]
    pending = ScriptedVenue(gate=asyncio.Event())
    r.manager.venue = pending  # a last order whose POST is still running at shutdown
    late = r.manager.submit(intent(price="0.32"))
    assert late is not None
    await eventually(lambda: pending.posts)
    r.manager.venue = venue
    assert pending.gate is not None
    pending.gate.set()
    assert await r.manager.cancel_everything(timeout_s=2.0)
    assert all(o.state is OrderState.CANCELLED for o in (*orders, late))
    assert ("all", None) in venue.cancels


async def test_cancel_everything_reports_an_order_that_stays_open() -> None:
    venue = ScriptedVenue()
    r = rig(venue)
    order = await r.submit()
    venue.cancel_answer = lambda ids: CancelResult((), dict.fromkeys(ids, "Order not found"))
    venue.listing = lambda: [venue_view(order, "LIVE")]
    venue.lookup = lambda order_id: venue_view(order, "LIVE")
    assert not await r.manager.cancel_everything(timeout_s=0.6)
    assert order.state is OrderState.OPEN
    assert len([c for c in venue.cancels if c[0] == "all"]) >= 2  # retried until the deadline
