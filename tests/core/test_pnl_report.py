"""Tests for polyexec.core.pnl_report: closed trades and win/loss statistics, archive totals,
the operator's summary text (format and rounding) and the JSON-safe status snapshot."""

from __future__ import annotations

import json
from dataclasses import fields

from polyexec.core.pnl_report import ArchiveTotals, StrategyPnl, TradeStats, snapshot, summary_text
from polyexec.core.portfolio import ClosedTrade, CloseReason, Position
from polyexec.core.position_ledger import FillEntry, TokenLedger
from tests.core.portfolio_factories import (
    BTC1,
    BTC2,
    DOWN,
    ETH1,
    FAILED,
    NOW,
    SELL,
    UP,
    D,
    fill,
    portfolio,
)

# --- statistics ----------------------------------------------------------------------------------


def test_closed_trades_are_round_trips_net_of_fees_and_feed_the_win_loss_statistics() -> None:
    book = portfolio(
        fill(BTC1, UP, price="0.40", size="10", fee="0.10", ts=1),
        fill(BTC1, UP, SELL, price="0.50", size="10", fee="0.10", ts=2),  # +1.00 − 0.20
        fill(BTC1, UP, price="0.50", size="10", ts=3),
        fill(BTC1, UP, SELL, price="0.30", size="10", ts=4),  # reopened, −2.00
        fill(ETH1, UP, price="0.50", size="10", ts=5),
        fill(ETH1, UP, SELL, price="0.50", size="10", ts=6),  # breakeven
        fill(BTC2, UP, price="0.20", size="10", ts=7),
        fill(BTC2, DOWN, price="0.25", size="4", ts=7),
    )
    book.settle_market(BTC2.condition_id, UP, NOW)  # Up +8.00, Down −1.00
    assert sorted(t.pnl for t in book.closed_trades) == [D("-2.00"), D("-1.00"), D(0), D("0.80"), D("8.00")]
    stats = book.trade_stats()
    assert (stats.wins, stats.losses, stats.breakeven, stats.closed) == (2, 2, 1, 5)
    assert (stats.win_rate, stats.average_win, stats.average_loss) == (D("0.5"), D("4.4"), D("1.5"))


def test_trade_stats_count_wins_losses_and_breakevens_and_start_at_zero() -> None:
    empty = TradeStats()
    assert (empty.closed, empty.win_rate, empty.average_win, empty.average_loss) == (0, 0, 0, 0)

    def trade(realized: str, fees: str) -> ClosedTrade:
        return ClosedTrade("t", "c", 1, 2, D(realized), D(fees), CloseReason.SELL)

    stats = empty.with_trade(trade("1.00", "0.10")).with_trade(trade("0.10", "0.10"))
    stats = stats.with_trade(trade("-0.50", "0.10")).with_trade(trade("2.00", "0"))
    assert (stats.wins, stats.losses, stats.breakeven) == (2, 1, 1)
    assert (stats.total_win, stats.total_loss, stats.average_loss) == (D("2.90"), D("0.60"), D("0.60"))
    assert stats.win_rate.quantize(D("1e-12")) == D("0.666666666667")  # the breakeven is left out
    assert StrategyPnl(D(3), D(1), D("0.5")).net == D("3.5")


def test_archive_totals_fold_a_ledger_per_strategy() -> None:
    entries = [
        FillEntry(fill(BTC1, UP, price="0.40", size="10", fee="0.10", strategy="MM", ts=1), 0),
        FillEntry(fill(BTC1, UP, SELL, price="0.50", size="10", strategy="FF", ts=2), 1),
        FillEntry(fill(BTC1, UP, SELL, price="0.50", size="1", strategy="FF", ts=3), 2),  # oversold
    ]
    totals = ArchiveTotals(realized={"MM": D("1.00")}, fees={"FF": D("0.05")})
    totals.fold(TokenLedger.replay(BTC1.up_token_id, BTC1.condition_id, entries))
    assert totals.realized == {"MM": D("2.00")}  # FF sold MM's shares: the PnL follows them
    assert totals.fees == {"FF": D("0.05"), "MM": D("0.10")}
    assert (totals.stats.wins, totals.stats.total_win, totals.oversold) == (1, D("0.90"), 1)


# --- reports -------------------------------------------------------------------------------------


def test_summary_text_matches_the_operator_format_exactly() -> None:
    book = portfolio(
        fill(BTC1, UP, price="0.40", size="10", fee="0.10", strategy="MM", ts=1),
        fill(BTC1, UP, SELL, price="0.55", size="10", fee="0.05", strategy="MM", ts=2),
        fill(BTC1, DOWN, price="0.50", size="10", fee="0.20", strategy="FF", ts=1),
        fill(BTC1, DOWN, SELL, price="0.45", size="10", strategy="FF", ts=2),
        fill(BTC2, UP, price="0.30", size="20", fee="0.07", strategy="FF", ts=3),
        fill(BTC2, DOWN, price="0.60", size="8", strategy="MM", ts=3),
    )
    marks = {BTC2.up_token_id: D("0.45"), BTC2.down_token_id: D("0.55")}
    assert book.summary_text(marks) == (
        "=== PnL Summary ===\n"
        "Realized: $1.00\n"
        "Unrealized: $2.60\n"
        "Fees: $0.42\n"
        "Net: $3.18\n"
        "Win Rate: 50.0% (1W / 1L)\n"
        "Avg Win: $1.35 | Avg Loss: $0.70\n"
        "--- By Strategy ---\n"
        "  FF: R=-$0.50 U=$3.00\n"
        "  MM: R=$1.50 U=-$0.40"
    )


def test_summary_text_of_an_empty_book() -> None:
    assert portfolio().summary_text({}) == (
        "=== PnL Summary ===\n"
        "Realized: $0.00\n"
        "Unrealized: $0.00\n"
        "Fees: $0.00\n"
        "Net: $0.00\n"
        "Win Rate: 0.0% (0W / 0L)\n"
        "Avg Win: $0.00 | Avg Loss: $0.00\n"
        "--- By Strategy ---"
    )


def test_summary_rounds_cents_half_up_and_names_unlabelled_fills() -> None:
    book = portfolio(
        fill(BTC1, UP, price="0.100", size="1", strategy="", ts=1),
        fill(BTC1, UP, SELL, price="0.225", size="1", strategy="", ts=2),  # +0.125
        fill(BTC2, UP, price="0.300", size="1", strategy="FV", ts=1),
        fill(BTC2, UP, SELL, price="0.175", size="1", strategy="FV", ts=2),  # −0.125
        fill(ETH1, UP, price="0.50", size="3", strategy="FV", ts=1),
        fill(ETH1, UP, SELL, price="0.60", size="1", strategy="FV", ts=2),
        fill(ETH1, UP, SELL, price="0.60", size="2", strategy="FV", ts=3),  # +0.30
    )
    lines = book.summary_text({}).splitlines()
    assert lines[1] == "Realized: $0.30"
    assert lines[5] == "Win Rate: 66.7% (2W / 1L)"
    assert lines[6] == "Avg Win: $0.21 | Avg Loss: $0.13"  # 0.2125 → 0.21; 0.125 → 0.13 (half-up)
    assert lines[8:] == ["  (none): R=$0.13 U=$0.00", "  FV: R=$0.18 U=$0.00"]  # 0.175 → 0.18


def test_snapshot_is_json_safe_and_reports_the_book() -> None:
    book = portfolio(fill(BTC1, UP, price="0.40", size="10", fee="0.01"))
    book.apply_fill(fill(BTC1, DOWN, status=FAILED), NOW)
    snap = json.loads(json.dumps(book.snapshot({BTC1.up_token_id: D("0.50")})))
    assert snap["unrealized_pnl"] == "1.00"
    assert snap["net_pnl"] == "0.99"
    assert snap["exposure_total"] == "4.00"
    assert snap["voided_fills"] == 1
    assert snap["pending_fills"] == 1
    [position] = snap["open_positions"]
    assert (position["token_id"], position["quantity"], position["unrealized_pnl"]) == (
        BTC1.up_token_id,
        "10",
        "1.00",
    )


def test_snapshot_positions_carry_every_position_field_and_unmarked_ones_have_no_value() -> None:
    book = portfolio(fill(BTC1, UP, price="0.40", size="10"), fill(ETH1, DOWN, price="0.30", size="2"))
    snap = snapshot(book, {BTC1.up_token_id: D("0.45")})
    assert snap == book.snapshot({BTC1.up_token_id: D("0.45")})
    btc, eth = snap["open_positions"]
    assert list(btc) == [f.name for f in fields(Position)] + ["unrealized_pnl"]
    assert (btc["outcome"], btc["unrealized_pnl"], btc["settled"]) == ("Up", "0.50", False)
    assert (eth["outcome"], eth["cost_basis"], eth["unrealized_pnl"]) == ("Down", "0.60", None)
    assert summary_text(book, {}) == book.summary_text({})
    assert json.loads(json.dumps(snapshot(book))) == snapshot(book)
