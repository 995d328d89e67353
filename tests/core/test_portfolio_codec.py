"""Tests for polyexec.core.portfolio_codec: the JSON round trip of a portfolio's state, strict
decoding, and the refusal of a state that contradicts itself."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from polyexec.core.models import Fill
from polyexec.core.portfolio import FillChange, Portfolio
from polyexec.core.portfolio_codec import SERIAL_VERSION, decode_state, encode_state
from tests.core.portfolio_factories import (
    BTC1,
    BTC2,
    CONFIRMED,
    DOWN,
    ETH1,
    FAILED,
    MINED,
    NOW,
    SELL,
    UP,
    D,
    fill,
    portfolio,
)


def rich_book() -> tuple[Portfolio, Fill]:
    ghost = fill(BTC1, UP, price="0.35", size="3", ts=1, strategy="FF")
    pending = fill(BTC2, UP, price="0.20", size="7", fee="0.011", ts=2, strategy="FF")
    book = portfolio(
        fill(BTC1, UP, price="0.40", size="10", fee="0.1", status=CONFIRMED, ts=1),
        ghost,
        fill(BTC1, UP, SELL, price="0.55", size="4", status=MINED, ts=2),
        fill(BTC1, DOWN, SELL, price="0.50", size="1", ts=3),  # oversell
        fill(ETH1, DOWN, price="0.33", size="9", status=CONFIRMED, ts=4, strategy=""),
        pending,
    )
    book.update_fill_status(ghost.trade_id, ghost.order_id, FAILED, NOW)
    book.settle_market(ETH1.condition_id, DOWN, NOW + 1)
    book.archive_settled_markets(NOW + 2)
    return book, pending


def test_state_round_trips_through_json_and_keeps_working_after_restore() -> None:
    original, pending = rich_book()
    state = json.loads(json.dumps(original.to_dict()))
    restored = Portfolio.from_dict(state)

    assert restored.to_dict() == original.to_dict()
    marks = {BTC1.up_token_id: D("0.6"), BTC2.up_token_id: D("0.1")}
    assert restored.summary_text(marks) == original.summary_text(marks)
    assert restored.positions() == original.positions()
    assert restored.snapshot(marks) == original.snapshot(marks)
    assert (restored.voided_count, restored.oversold_count) == (1, 1)

    for book in (original, restored):
        assert book.apply_fill(replace(pending, status=FAILED), NOW) is FillChange.VOIDED
        book.apply_fill(fill(BTC2, DOWN, trade_id="after", ts=9), NOW)
    assert restored.to_dict() == original.to_dict()


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("version",), 99),
        (("fills", 0, "fill", "price"), 0.4),
        (("fills", 0, "fill", "side"), "HOLD"),
        (("fills", 0, "fill", "size"), "-1"),
        (("archive", "stats", "wins"), "two"),
        (("next_seq",), 0),
    ],
)
def test_malformed_state_is_rejected_with_a_value_error(path: tuple[Any, ...], bad: object) -> None:
    state: Any = json.loads(json.dumps(rich_book()[0].to_dict()))
    target = state
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = bad
    with pytest.raises(ValueError):  # the message varies with the defect
        Portfolio.from_dict(state)
    with pytest.raises(ValueError, match="malformed"):
        Portfolio.from_dict({"version": 1})


def test_decoding_then_encoding_gives_back_the_same_json_with_typed_values() -> None:
    data = json.loads(json.dumps(rich_book()[0].to_dict()))
    state = decode_state(data)
    assert encode_state(state) == data
    assert data["version"] == SERIAL_VERSION
    assert all(isinstance(e.fill.price, Decimal) and isinstance(e.fill, Fill) for e in state.fills)
    assert [e.seq for e in state.fills] == sorted(e.seq for e in state.fills)
    assert state.archived == {ETH1.condition_id: DOWN}


@pytest.mark.parametrize(
    ("path", "bad", "message"),
    [
        (("fills", 0, "fill", "timestamp_ms"), "1", "Fill.timestamp_ms must be int"),
        (("markets", 0, "neg_risk"), "false", "Market.neg_risk must be bool"),
        (("archive", "realized", "MM"), 1.5, "decimal strings"),
        (("archive", "fees", "MM"), "NaN", r"archive\.fees\.MM must be a finite decimal"),
        (("version",), 2, "unsupported portfolio state version 2"),
    ],
)
def test_decoding_is_strict_about_types_and_version(path: tuple[Any, ...], bad: object, message: str) -> None:
    state: Any = json.loads(json.dumps(rich_book()[0].to_dict()))
    target = state
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = bad
    with pytest.raises(ValueError, match=message):
        Portfolio.from_dict(state)


def test_a_state_that_contradicts_itself_is_refused_naming_the_problem() -> None:
    good: Any = json.loads(json.dumps(rich_book()[0].to_dict()))

    twice = json.loads(json.dumps(good))
    twice["fills"].append({"seq": good["next_seq"], "fill": good["fills"][0]["fill"]})
    twice["next_seq"] += 1
    with pytest.raises(ValueError, match="appears twice"):
        Portfolio.from_dict(twice)

    orphan = json.loads(json.dumps(good))
    orphan["settlements"]["0xgone"] = {"winner": "Up", "settled_ms": NOW}
    with pytest.raises(ValueError, match="settlement for unregistered market 0xgone"):
        Portfolio.from_dict(orphan)

    stolen = json.loads(json.dumps(good))
    stolen["fills"][0]["fill"]["token_id"] = BTC2.up_token_id
    with pytest.raises(ValueError, match="belongs to market"):
        Portfolio.from_dict(stolen)
