"""Tests for polyexec.core.position_ledger: average-cost maths, overselling, voiding by replay,
time order, per-strategy share attribution, round trips, and the ledger's own invariants.

Most tests go through the Portfolio (the ledger's only user) with the builders of
test_portfolio; the last ones drive a TokenLedger directly."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.models import ONE, ZERO, Fill, Liquidity, Side, TradeStatus
from polyexec.core.portfolio import FillChange, StrategyPnl
from polyexec.core.position_ledger import (
    CloseReason,
    FillEntry,
    Position,
    TokenLedger,
    check_mark,
    validate_fill,
)
from tests.core.portfolio_factories import (
    BTC1,
    BUY,
    CONFIRMED,
    FAILED,
    MATCHED,
    NOW,
    SELL,
    UP,
    D,
    fill,
    portfolio,
    position_numbers,
)

# --- average cost ---------------------------------------------------------------------------------


def test_buys_average_in_and_a_partial_sell_realises_against_the_average_cost() -> None:
    book = portfolio(
        fill(BTC1, price="0.40", size="10", fee="0.05", ts=1),
        fill(BTC1, price="0.60", size="10", fee="0.07", ts=2),
    )
    p = book.position(BTC1.up_token_id)
    assert (p.quantity, p.cost_basis, p.average_cost) == (D(20), D("10.00"), D("0.5"))

    book.apply_fill(fill(BTC1, side=SELL, price="0.70", size="5", fee="0.03", ts=3), NOW)

    p = book.position(BTC1.up_token_id)
    assert (p.quantity, p.cost_basis, p.average_cost) == (D(15), D("7.50"), D("0.5"))
    assert p.realized_pnl == D("1.00")  # 5 × (0.70 − 0.50)
    assert p.fees_paid == book.fees_paid == D("0.15")
    assert p.outcome is UP
    assert p.category == "btc"


def test_closing_after_an_inexact_partial_sell_leaves_no_cost_residue() -> None:
    book = portfolio(fill(BTC1, price="0.50", size="1", ts=1), fill(BTC1, price="0.25", size="2", ts=2))
    book.apply_fill(fill(BTC1, side=SELL, price="0.40", size="1", ts=3), NOW)
    p = book.position(BTC1.up_token_id)
    assert p.cost_basis == D("0.666666666667")  # 1.00 − 1/3 rounded to 1e-12
    assert p.realized_pnl == D("0.066666666667")

    book.apply_fill(fill(BTC1, side=SELL, price="0.40", size="2", ts=4), NOW)
    p = book.position(BTC1.up_token_id)
    assert (p.quantity, p.cost_basis) == (D(0), D(0))
    assert p.realized_pnl == D("0.20")  # proceeds 1.20 − cost 1.00, exactly


def test_a_sell_beyond_the_holding_sells_what_is_held_and_flags_the_excess() -> None:
    book = portfolio(fill(BTC1, price="0.40", size="5", ts=1))
    oversell = fill(BTC1, side=SELL, price="0.50", size="8", fee="0.01", ts=2)
    book.apply_fill(oversell, NOW)
    flat_sell = fill(BTC1, side=SELL, price="0.50", size="2", ts=3)
    book.apply_fill(flat_sell, NOW)

    p = book.position(BTC1.up_token_id)
    assert (p.quantity, p.cost_basis, p.realized_pnl, p.fees_paid) == (D(0), D(0), D("0.50"), D("0.01"))
    assert [(o.trade_id, o.excess) for o in book.oversold_fills] == [
        (oversell.trade_id, D(3)),
        (flat_sell.trade_id, D(2)),
    ]
    assert book.oversold_count == 2


# --- voiding and time order ----------------------------------------------------------------------


def test_failed_voids_a_fill_exactly_even_with_later_fills_on_top() -> None:
    ghost = fill(BTC1, price="0.40", size="10", fee="0.10", ts=1)
    real_buy = fill(BTC1, price="0.60", size="10", fee="0.20", ts=2, status=CONFIRMED)
    real_sell = fill(BTC1, side=SELL, price="0.70", size="5", fee="0.05", ts=3)
    book = portfolio(ghost, real_buy, real_sell)
    assert position_numbers(book, BTC1) == (D(15), D(10), D("7.50"), D("1.00"), D("0.35"))

    assert book.update_fill_status(ghost.trade_id, ghost.order_id, FAILED, NOW + 5) is FillChange.VOIDED

    # As if only the real fills happened: 10 @ 0.60, then 5 sold @ 0.70.
    assert position_numbers(book, BTC1) == (D(5), D(10), D("3.00"), D("0.50"), D("0.25"))
    assert position_numbers(book, BTC1) == position_numbers(portfolio(real_buy, real_sell), BTC1)
    assert (book.realized_pnl, book.fees_paid) == (D("0.50"), D("0.25"))
    assert book.voided_count == 1
    [voided] = book.voided_fills
    assert (voided.fill.key, voided.fill.status, voided.voided_ms) == (ghost.key, FAILED, NOW + 5)
    assert book.apply_fill(replace(ghost, status=FAILED), NOW) is FillChange.DUPLICATE


def test_voiding_the_buy_behind_a_sell_turns_the_sell_into_a_flagged_oversell() -> None:
    ghost = fill(BTC1, price="0.40", size="10", fee="0.10", ts=1)
    sell = fill(BTC1, side=SELL, price="0.50", size="10", fee="0.05", ts=2)
    book = portfolio(ghost, sell)
    assert book.realized_pnl == D("1.00")
    assert book.trade_stats().wins == 1

    book.update_fill_status(ghost.trade_id, ghost.order_id, FAILED, NOW)
    assert position_numbers(book, BTC1) == (D(0), D(0), D(0), D(0), D("0.05"))
    assert [(o.trade_id, o.excess) for o in book.oversold_fills] == [(sell.trade_id, D(10))]
    assert book.trade_stats().closed == 0


def test_a_late_report_of_an_earlier_fill_is_applied_in_time_order() -> None:
    sell = fill(BTC1, side=SELL, price="0.50", size="10", ts=2_000)
    book = portfolio(sell)
    assert book.oversold_count == 1
    book.apply_fill(fill(BTC1, price="0.40", size="10", ts=1_000), NOW)
    assert book.oversold_fills == []
    assert position_numbers(book, BTC1) == (D(0), D(0), D(0), D("1.00"), D(0))


# --- per-strategy attribution --------------------------------------------------------------------


def test_pnl_follows_the_shares_across_strategies_and_adds_up_to_the_totals() -> None:
    book = portfolio(
        fill(BTC1, price="0.40", size="10", fee="0.02", strategy="MM", ts=1),
        fill(BTC1, price="0.60", size="10", fee="0.04", strategy="FF", ts=2),
        # MM sells its own 10 shares and 5 of FF's, all at the pooled average cost 0.50.
        fill(BTC1, side=SELL, price="0.70", size="15", fee="0.03", strategy="MM", ts=3),
    )
    marks = {BTC1.up_token_id: D("0.80")}
    assert book.strategy_pnl(marks) == {
        "FF": StrategyPnl(realized=D("1.00"), unrealized=D("1.50"), fees=D("0.04")),
        "MM": StrategyPnl(realized=D("2.00"), unrealized=D("0"), fees=D("0.05")),
    }
    assert (book.realized_pnl, book.unrealized_pnl(marks), book.fees_paid) == (
        D("3.00"),
        D("1.50"),
        D("0.09"),
    )

    book.settle_market(BTC1.condition_id, UP, NOW)
    assert book.strategy_pnl()["FF"].realized == D("3.50")  # + 5 × (1 − 0.50)


# --- the ledger on its own -----------------------------------------------------------------------

TOKEN = BTC1.up_token_id


def ledger_fill(
    trade_id: str,
    side: Side,
    price: str,
    size: str,
    *,
    strategy: str,
    ts: int = 1,
    fee: str = "0",
    status: TradeStatus = MATCHED,
) -> Fill:
    return replace(
        fill(BTC1, UP, side, price, size, fee=fee, ts=ts, strategy=strategy, status=status),
        trade_id=trade_id,
        liquidity=Liquidity.MAKER,
    )


def test_a_sell_takes_the_sellers_own_shares_first_then_other_owners_by_name() -> None:
    entries = [
        FillEntry(ledger_fill("b", BUY, "0.40", "10", strategy="B"), 0),  # cost 4.00
        FillEntry(ledger_fill("a", BUY, "0.60", "5", strategy="A"), 1),  # cost 3.00
        FillEntry(ledger_fill("c", BUY, "0.20", "5", strategy="C"), 2),  # cost 1.00: 20 @ 0.40
        FillEntry(ledger_fill("s", SELL, "0.50", "12", strategy="C", ts=2, fee="0.02"), 3),
    ]
    ledger = TokenLedger.replay(TOKEN, BTC1.condition_id, entries)

    # C sells its own 5, then A's 5, then 2 of B's, all at the pooled 0.40 (4.80 removed).
    assert ledger.owned == {"B": D(8)}
    assert ledger.realized == {"C": D("0.50"), "A": D("0.50"), "B": D("0.20")}
    assert ledger.fees == {"B": D(0), "A": D(0), "C": D("0.02")}
    assert (ledger.quantity, ledger.cost) == (D(8), D("3.20"))
    assert ledger.cost_shares() == [("B", D(8), D("3.20"))]


def test_settling_a_ledger_pays_each_owner_and_closes_the_round_trip() -> None:
    entries = [
        FillEntry(ledger_fill("m", BUY, "0.30", "10", strategy="MM", ts=5, fee="0.01"), 0),
        FillEntry(ledger_fill("f", BUY, "0.60", "5", strategy="FF", ts=6, status=CONFIRMED), 1),
    ]
    ledger = TokenLedger.replay(TOKEN, BTC1.condition_id, entries)
    assert ledger.confirmed == D(5)

    ledger.settle(ONE, 99)

    # 15 shares at the pooled 0.40 pay 15.00 on 6.00: each owner gets its shares × (1 − 0.40).
    assert ledger.realized == {"FF": D("3.00"), "MM": D("6.00")}
    assert (ledger.quantity, ledger.cost, ledger.confirmed, ledger.settled) == (ZERO, ZERO, ZERO, True)
    [trip] = ledger.closed
    assert (trip.opened_ms, trip.closed_ms, trip.reason, trip.pnl) == (
        5,
        99,
        CloseReason.SETTLEMENT,
        D("8.99"),
    )
    ledger.confirm(entries[0].fill.key)  # a confirmation after settlement changes nothing
    assert ledger.confirmed == ZERO


def test_marks_and_fills_outside_their_domain_are_refused_naming_the_problem() -> None:
    for bad in (0.5, D("NaN"), D("-0.01"), D("1.01")):
        with pytest.raises(ValueError, match=f"token {TOKEN}"):
            check_mark(TOKEN, bad)  # type: ignore[arg-type]
    assert check_mark(TOKEN, D("0.5")) == D("0.5")
    with pytest.raises(ValueError, match="price must be a finite Decimal"):
        validate_fill(replace(fill(BTC1), price=0.4))  # type: ignore[arg-type]
    flat = Position(TOKEN, BTC1.condition_id, "btc", UP, ZERO, ZERO, ZERO, ZERO, ZERO, settled=False)
    assert (flat.average_cost, flat.sellable_quantity, flat.is_open) == (ZERO, ZERO, False)


ledger_specs = st.lists(
    st.tuples(
        st.sampled_from([BUY, BUY, SELL]),
        st.integers(1, 99),  # price in cents
        st.integers(1, 30),  # size in half shares
        st.integers(0, 3),  # fee in cents
        st.integers(0, 8),  # timestamp: collisions on purpose
        st.sampled_from(["MM", "FF", ""]),
        st.sampled_from([MATCHED, MATCHED, CONFIRMED, FAILED]),
    ),
    max_size=20,
)


def ledger_state(ledger: TokenLedger) -> tuple[Any, ...]:
    return (
        ledger.quantity,
        ledger.confirmed,
        ledger.cost,
        ledger.owned,
        ledger.realized,
        ledger.fees,
        ledger.closed,
        ledger.oversold,
    )


@settings(max_examples=100)
@given(specs=ledger_specs, settle=st.booleans())
def test_replayed_ledgers_are_order_independent_and_their_parts_add_up(
    specs: list[Any], settle: bool
) -> None:
    entries = [
        FillEntry(
            ledger_fill(
                f"p{seq}",
                side,
                str(D(cents) / 100),
                str(D(halves) / 2),
                fee=str(D(fee) / 100),
                ts=ts,
                strategy=strategy,
                status=status,
            ),
            seq,
        )
        for seq, (side, cents, halves, fee, ts, strategy, status) in enumerate(specs)
    ]
    ledger = TokenLedger.replay(TOKEN, BTC1.condition_id, entries)
    assert ledger_state(TokenLedger.replay(TOKEN, BTC1.condition_id, entries[::-1])) == ledger_state(ledger)
    survivors = [e for e in entries if e.fill.status is not FAILED]
    assert ledger_state(TokenLedger.replay(TOKEN, BTC1.condition_id, survivors)) == ledger_state(ledger)

    assert sum(ledger.owned.values(), ZERO) == ledger.quantity >= 0
    assert sum((cost for _, _, cost in ledger.cost_shares()), ZERO) == ledger.cost >= 0
    assert ledger.quantity == sum(ledger.effective.values(), ZERO)
    confirmed_keys = {e.fill.key for e in survivors if e.fill.status is CONFIRMED}
    assert ledger.confirmed == sum((v for k, v in ledger.effective.items() if k in confirmed_keys), ZERO)
    if settle:
        ledger.settle(ZERO, 100)
        assert (ledger.quantity, ledger.cost) == (ZERO, ZERO)
    # Every realised dollar belongs to a round trip: the closed ones, plus the one still open.
    open_trip = ledger.trip_realized if ledger.opened_ms is not None else ZERO
    closed = sum((t.realized_pnl for t in ledger.closed), ZERO)
    assert sum(ledger.realized.values(), ZERO) == closed + open_trip
