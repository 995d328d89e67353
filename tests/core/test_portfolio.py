"""Tests for polyexec.core.portfolio, the façade: fill lifecycle and status, settlement, exposure,
archiving, bad input, and end-to-end properties (voiding, settlement cash flows).

The builders (markets, fills, a registered portfolio) are in tests/core/portfolio_factories.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.models import Fill, TradeStatus
from polyexec.core.portfolio import (
    UNREGISTERED_CATEGORY,
    CloseReason,
    FillChange,
    Portfolio,
)
from tests.core.portfolio_factories import (
    BTC1,
    BTC2,
    BUY,
    CONFIRMED,
    DOWN,
    ETH1,
    FAILED,
    MINED,
    NOW,
    RETRYING,
    SELL,
    UP,
    D,
    fill,
    portfolio,
    position_numbers,
)

# --- fill lifecycle ------------------------------------------------------------------------------


def test_a_repeated_fill_with_the_same_status_changes_nothing() -> None:
    first = fill(BTC1, fee="0.02")
    book = portfolio(first)
    assert book.apply_fill(first, NOW + 1) is FillChange.DUPLICATE
    assert position_numbers(book, BTC1) == (D(10), D(0), D("4.00"), D(0), D("0.02"))


def test_a_repeat_with_a_newer_status_moves_it_forward_and_stale_ones_are_ignored() -> None:
    first = fill(BTC1)
    book = portfolio(first)
    assert book.apply_fill(replace(first, status=MINED), NOW) is FillChange.STATUS_UPDATED
    assert book.apply_fill(replace(first, status=CONFIRMED), NOW) is FillChange.STATUS_UPDATED
    assert book.position(BTC1.up_token_id).confirmed_quantity == D(10)

    assert book.apply_fill(replace(first, status=MINED), NOW) is FillChange.IGNORED
    assert book.update_fill_status(first.trade_id, first.order_id, FAILED, NOW) is FillChange.IGNORED
    assert book.ignored_count == 2
    assert book.voided_count == 0
    assert position_numbers(book, BTC1) == (D(10), D(10), D("4.00"), D(0), D(0))


def test_retrying_keeps_a_fill_provisional_until_it_is_confirmed() -> None:
    first = fill(BTC1)
    book = portfolio(first)
    for status in (MINED, RETRYING, MINED):
        assert (
            book.update_fill_status(first.trade_id, first.order_id, status, NOW) is FillChange.STATUS_UPDATED
        )
        assert position_numbers(book, BTC1)[:2] == (D(10), D(0))
    book.update_fill_status(first.trade_id, first.order_id, CONFIRMED, NOW)
    assert position_numbers(book, BTC1)[:2] == (D(10), D(10))


def test_a_resend_with_different_economics_is_rejected_and_changes_nothing() -> None:
    first = fill(BTC1)
    book = portfolio(first)
    with pytest.raises(ValueError, match="different"):
        book.apply_fill(replace(first, size=D(11), status=CONFIRMED), NOW)
    assert position_numbers(book, BTC1) == (D(10), D(0), D("4.00"), D(0), D(0))


def test_confirmation_moves_quantity_into_confirmed_and_pending_sells_limit_what_is_sellable() -> None:
    buy = fill(BTC1, size="10", ts=1)
    book = portfolio(buy)
    p = book.position(BTC1.up_token_id)
    assert (p.quantity, p.confirmed_quantity, p.sellable_quantity) == (D(10), D(0), D(0))

    book.update_fill_status(buy.trade_id, buy.order_id, CONFIRMED, NOW)
    sell = fill(BTC1, side=SELL, price="0.50", size="4", ts=2)
    book.apply_fill(sell, NOW)
    p = book.position(BTC1.up_token_id)
    assert (p.quantity, p.confirmed_quantity, p.sellable_quantity) == (D(6), D(10), D(6))

    book.update_fill_status(sell.trade_id, sell.order_id, CONFIRMED, NOW)
    assert book.position(BTC1.up_token_id).confirmed_quantity == D(6)


def test_unknown_fill_status_update_raises_key_error() -> None:
    with pytest.raises(KeyError, match="nope"):
        portfolio().update_fill_status("nope", "o1", CONFIRMED, NOW)


def test_a_fill_first_seen_as_failed_never_counts() -> None:
    book = portfolio()
    assert book.apply_fill(fill(BTC1, fee="0.1", status=FAILED), NOW) is FillChange.VOIDED
    assert position_numbers(book, BTC1) == (D(0), D(0), D(0), D(0), D(0))
    assert book.voided_count == 1
    assert book.strategy_pnl() == {}


def test_pending_fills_are_those_neither_confirmed_nor_failed() -> None:
    pending = fill(BTC1, ts=1)
    confirmed = fill(BTC1, ts=2, status=CONFIRMED)
    book = portfolio(pending, confirmed, fill(BTC1, ts=3, status=FAILED), fill(BTC2, ts=4, status=MINED))
    assert book.pending_fill_count == 2

    book.update_fill_status(pending.trade_id, pending.order_id, CONFIRMED, NOW)
    assert book.pending_fill_count == 1


# --- settlement ----------------------------------------------------------------------------------


def test_settlement_pays_a_dollar_to_winning_shares_and_nothing_to_losing_ones() -> None:
    book = portfolio(
        fill(BTC1, UP, price="0.40", size="10", fee="0.10"),
        fill(BTC1, DOWN, price="0.55", size="10"),
    )
    assert book.settle_market(BTC1.condition_id, DOWN, NOW) == D("0.50")  # −4.00 + 4.50

    up, down = book.position(BTC1.up_token_id), book.position(BTC1.down_token_id)
    assert (up.quantity, up.cost_basis, up.realized_pnl, up.settled) == (D(0), D(0), D("-4.00"), True)
    assert (down.quantity, down.cost_basis, down.realized_pnl) == (D(0), D(0), D("4.50"))
    assert [(t.reason, t.pnl) for t in book.closed_trades] == [
        (CloseReason.SETTLEMENT, D("-4.10")),
        (CloseReason.SETTLEMENT, D("4.50")),
    ]
    assert book.exposure().total == D(0)


def test_settling_again_is_harmless_but_a_different_outcome_or_unknown_market_is_an_error() -> None:
    book = portfolio(fill(BTC1, UP, price="0.40", size="10"))
    assert book.settle_market(BTC1.condition_id, UP, NOW) == D("6.00")
    assert book.settle_market(BTC1.condition_id, UP, NOW) == D(0)
    with pytest.raises(ValueError, match="already settled"):
        book.settle_market(BTC1.condition_id, DOWN, NOW)
    with pytest.raises(ValueError, match="never registered"):
        book.settle_market("0xunknown", UP, NOW)
    assert book.realized_pnl == D("6.00")


def test_a_fill_reported_after_settlement_is_settled_too() -> None:
    book = portfolio(fill(BTC1, UP, price="0.40", size="10", ts=1))
    book.settle_market(BTC1.condition_id, UP, NOW)
    assert book.apply_fill(fill(BTC1, UP, price="0.70", size="5", ts=2), NOW) is FillChange.ADDED
    assert position_numbers(book, BTC1) == (D(0), D(0), D(0), D("7.50"), D(0))  # 6.00 + 1.50


def test_voiding_after_settlement_reverses_the_settlement_pnl_of_that_fill() -> None:
    ghost = fill(BTC1, UP, price="0.40", size="10", ts=1)
    book = portfolio(ghost, fill(BTC1, UP, price="0.60", size="5", ts=2, status=CONFIRMED))
    assert book.settle_market(BTC1.condition_id, UP, NOW) == D("8.00")  # 15 − 7.00
    book.update_fill_status(ghost.trade_id, ghost.order_id, FAILED, NOW)
    assert book.realized_pnl == D("2.00")  # 5 − 3.00
    assert [t.pnl for t in book.closed_trades] == [D("2.00")]


# --- exposure ------------------------------------------------------------------------------------


def test_exposure_is_matched_cost_per_market_category_and_total_plus_open_buys() -> None:
    book = portfolio(
        fill(BTC1, UP, price="0.40", size="10"),  # matched only: still counts
        fill(BTC1, DOWN, price="0.50", size="5", status=CONFIRMED),
        fill(BTC2, UP, price="0.30", size="10"),
        fill(ETH1, UP, price="0.50", size="2", ts=1),
        fill(ETH1, DOWN, price="0.50", size="4", ts=1),
        fill(ETH1, DOWN, side=SELL, price="0.60", size="4", ts=2),  # closed: no exposure
    )
    exposure = book.exposure()
    assert exposure.by_market == {
        BTC1.condition_id: D("6.50"),
        BTC2.condition_id: D("3.00"),
        ETH1.condition_id: D("1.00"),
    }
    assert exposure.by_category == {"btc": D("9.50"), "eth": D("1.00")}
    assert exposure.total == D("10.50")

    with_orders = book.exposure({BTC2.condition_id: D("1.25"), "0xelsewhere": D("0.50")})
    assert with_orders.by_market[BTC2.condition_id] == D("4.25")
    assert with_orders.by_category == {"btc": D("10.75"), "eth": D("1.00"), UNREGISTERED_CATEGORY: D("0.50")}
    assert with_orders.total == D("12.25")
    with pytest.raises(ValueError, match="open buy notional"):
        book.exposure({BTC1.condition_id: D("-1")})


# --- reading -------------------------------------------------------------------------------------


def test_an_unmarked_position_is_valued_at_cost_and_a_bad_mark_is_an_error() -> None:
    book = portfolio(fill(BTC1, UP, price="0.40", size="10"), fill(BTC2, UP, price="0.50", size="2"))
    assert book.unrealized_pnl({BTC1.up_token_id: D("0.45")}) == D("0.50")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        book.unrealized_pnl({BTC1.up_token_id: D("1.5")})


# --- archiving -----------------------------------------------------------------------------------


def test_settled_markets_with_final_fills_are_archived_and_totals_survive() -> None:
    late = fill(BTC2, UP, price="0.50", size="2", ts=1)
    book = portfolio(fill(BTC1, UP, price="0.40", size="10", fee="0.1", status=CONFIRMED), late)
    book.settle_market(BTC1.condition_id, UP, NOW)
    book.settle_market(BTC2.condition_id, DOWN, NOW)
    before = (book.realized_pnl, book.fees_paid, book.trade_stats(), book.strategy_pnl())

    assert book.archive_settled_markets(NOW + 1) == [BTC1.condition_id]  # BTC2 has a pending fill
    assert (book.realized_pnl, book.fees_paid, book.trade_stats(), book.strategy_pnl()) == before
    assert [p.token_id for p in book.positions()] == [BTC2.up_token_id]

    book.update_fill_status(late.trade_id, late.order_id, CONFIRMED, NOW)
    assert book.archive_settled_markets(NOW + 2) == [BTC2.condition_id]
    assert book.positions() == []
    assert book.apply_fill(replace(late, status=CONFIRMED), NOW) is FillChange.IGNORED
    assert book.settle_market(BTC2.condition_id, DOWN, NOW) == D(0)
    assert (book.realized_pnl, book.fees_paid) == (before[0], before[1])


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": D(0)}, "size must be positive"),
        ({"price": D("1.01")}, "price must be in"),
        ({"fee": D("-0.01")}, "fee must not be negative"),
        ({"price": D("NaN")}, "finite"),
        ({"token_id": BTC2.up_token_id}, "belongs to market"),
        ({"trade_id": ""}, "required"),
    ],
)
def test_malformed_fills_are_rejected_naming_the_problem(change: dict[str, Any], message: str) -> None:
    book = portfolio()
    with pytest.raises(ValueError, match=message):
        book.apply_fill(replace(fill(BTC1), **change), NOW)
    assert book.positions() == []


def test_fills_of_an_unregistered_market_count_and_conflicting_registration_is_refused() -> None:
    book = portfolio(fill(BTC1, price="0.50", size="2"), markets=())
    assert book.position(BTC1.up_token_id).category == UNREGISTERED_CATEGORY
    assert book.exposure().by_category == {UNREGISTERED_CATEGORY: D("1.00")}
    book.register_market(BTC1, NOW)
    assert book.exposure().by_category == {"btc": D("1.00")}

    clash = replace(BTC2, up_token_id=BTC1.up_token_id)
    with pytest.raises(ValueError, match="already belongs"):
        book.register_market(clash, NOW)


# --- properties ----------------------------------------------------------------------------------

TOKENS = [(BTC1, UP), (BTC1, DOWN), (ETH1, UP)]
fill_specs = st.tuples(
    st.integers(0, len(TOKENS) - 1),  # token
    st.sampled_from([BUY, BUY, SELL]),
    st.integers(1, 99),  # price in cents
    st.integers(1, 40),  # size in half shares
    st.integers(0, 3),  # fee in cents
    st.integers(0, 20),  # timestamp: collisions and out-of-order reports on purpose
    st.sampled_from(["MM", "FF", ""]),
    st.sampled_from(["keep", "keep", "confirm", "void", "void_on_arrival"]),
    st.integers(0, 6),  # steps until the confirm/void arrives
)


def build(specs: list[Any], settle_at: int | None, *, skip_voided: bool) -> Portfolio:
    """Play the scenario; with ``skip_voided`` the voided fills are simply never sent."""
    book = portfolio()
    due: list[tuple[int, Fill, TradeStatus]] = []
    for step, (token, side, cents, halves, fee, ts, strategy, fate, delay) in enumerate(specs):
        market, outcome = TOKENS[token]
        f = fill(
            market,
            outcome,
            side,
            str(D(cents) / 100),
            str(D(halves) / 2),
            fee=str(D(fee) / 100),
            ts=ts,
            strategy=strategy,
            trade_id=f"p{step}",
        )
        voided = fate in ("void", "void_on_arrival")
        if not (voided and skip_voided):
            book.apply_fill(replace(f, status=FAILED) if fate == "void_on_arrival" else f, NOW)
        if fate in ("confirm", "void"):
            due.append((step + delay, f, CONFIRMED if fate == "confirm" else FAILED))
        for when, pending, status in [d for d in due if d[0] <= step]:
            due.remove((when, pending, status))
            if not (status is FAILED and skip_voided):
                book.update_fill_status(pending.trade_id, pending.order_id, status, NOW)
        if settle_at == step:
            book.settle_market(BTC1.condition_id, UP, NOW)
    for _when, pending, status in due:  # reports still due after the last fill
        if not (status is FAILED and skip_voided):
            book.update_fill_status(pending.trade_id, pending.order_id, status, NOW)
    return book


def view(book: Portfolio) -> tuple[Any, ...]:
    marks = {m.token_for(o): D("0.37") for m, o in TOKENS}
    positions = [
        (p.token_id, p.quantity, p.confirmed_quantity, p.cost_basis, p.realized_pnl, p.fees_paid)
        for p in book.positions()
        if p.quantity or p.realized_pnl or p.fees_paid
    ]
    return (
        positions,
        book.realized_pnl,
        book.fees_paid,
        book.unrealized_pnl(marks),
        book.strategy_pnl(marks),
        book.trade_stats(),
        book.closed_trades,
        book.oversold_fills,
        book.exposure(),
    )


@settings(max_examples=150)
@given(specs=st.lists(fill_specs, max_size=24), settle_at=st.none() | st.integers(0, 23))
def test_voided_fills_leave_the_book_as_if_they_had_never_been_sent(
    specs: list[Any], settle_at: int | None
) -> None:
    with_voids = build(specs, settle_at, skip_voided=False)
    without = build(specs, settle_at, skip_voided=True)
    assert view(with_voids) == view(without)
    assert view(Portfolio.from_dict(json.loads(json.dumps(with_voids.to_dict())))) == view(with_voids)
    for p in with_voids.positions():
        assert p.quantity >= 0
        assert p.cost_basis >= 0


@settings(max_examples=100)
@given(specs=st.lists(fill_specs, max_size=24))
def test_after_settlement_realised_pnl_is_cash_in_minus_cash_out(specs: list[Any]) -> None:
    book = build([(*s[:7], "keep", 0) for s in specs], None, skip_voided=False)
    held_up = {m: book.position(m.up_token_id).quantity for m in (BTC1, ETH1)}
    excess = {(o.trade_id, o.order_id): o.excess for o in book.oversold_fills}
    buys = sells = D(0)
    for step, (_token, side, cents, halves, *_rest) in enumerate(specs):
        size = D(halves) / 2 - excess.get((f"p{step}", "o1"), D(0))
        if side is BUY:
            buys += D(cents) / 100 * size
        else:
            sells += D(cents) / 100 * size
    book.settle_market(BTC1.condition_id, UP, NOW)
    book.settle_market(ETH1.condition_id, UP, NOW)
    assert book.realized_pnl == sells + held_up[BTC1] + held_up[ETH1] - buys
    assert sum((s.realized for s in book.strategy_pnl().values()), D(0)) == book.realized_pnl
    assert book.exposure().total == 0
