"""Tests for polyexec.core.events: the market feed's hot records behave as frozen value types.

``PriceLevelChange`` and ``PriceChange`` are ``msgspec`` structs (for speed) rather than frozen
dataclasses like the other events; these tests pin down the behaviour their users rely on.
"""

from __future__ import annotations

import copy
import pickle
from decimal import Decimal

import pytest

from polyexec.core.events import PriceChange, PriceLevelChange
from polyexec.core.models import Side

D = Decimal


def _change(**overrides: object) -> PriceLevelChange:
    fields: dict[str, object] = {
        "asset_id": "up",
        "price": D("0.5"),
        "size": D("200"),
        "side": Side.BUY,
        "best_bid": D("0.5"),
        "best_ask": D("0.51"),
    }
    fields.update(overrides)
    return PriceLevelChange(**fields)  # type: ignore[arg-type]


def test_positional_and_keyword_construction_agree_and_defaults_are_none() -> None:
    positional = PriceLevelChange("up", D("0.5"), D("200"), Side.BUY, D("0.5"), D("0.51"))
    assert positional == _change()
    bare = PriceLevelChange("up", D("0.5"), D("0"), Side.SELL)
    assert (bare.best_bid, bare.best_ask) == (None, None)


def test_equality_and_hash_follow_the_values() -> None:
    event = PriceChange("0xc", 1_757_908_892_351, (_change(), _change(asset_id="down", side=Side.SELL)))
    same = PriceChange("0xc", 1_757_908_892_351, (_change(), _change(asset_id="down", side=Side.SELL)))
    assert event == same
    assert hash(event) == hash(same)
    assert len({event, same}) == 1
    assert event != PriceChange("0xc", 1_757_908_892_352, event.changes)
    assert _change() != _change(size=D("201"))
    assert _change(price=D("0.50")) == _change()  # Decimal equality, as before


def test_they_are_immutable() -> None:
    change = _change()
    event = PriceChange("0xc", 1, (change,))
    with pytest.raises(AttributeError):
        change.size = D("1")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        event.changes = ()  # type: ignore[misc]


def test_pickle_copy_repr_and_match_keep_the_fields() -> None:
    event = PriceChange("0xc", 7, (_change(best_ask=None),))
    assert pickle.loads(pickle.dumps(event)) == event
    assert copy.deepcopy(event) == event
    assert repr(event.changes[0]).startswith("PriceLevelChange(asset_id='up', price=Decimal('0.5')")
    match event:
        case PriceChange(condition_id, timestamp_ms, (PriceLevelChange(asset_id, _, size, Side.BUY),)):
            assert (condition_id, timestamp_ms, asset_id, size) == ("0xc", 7, "up", D("200"))
        case _:
            pytest.fail("positional patterns no longer match")
