"""The portfolio's persistent state and its JSON-safe form, for crash recovery.

:class:`PortfolioState` is everything a :class:`~polyexec.core.portfolio.Portfolio` needs to
rebuild itself: its markets, its fills with their arrival numbers, settlements, archived totals
and counters. Positions and PnL are not stored: the portfolio replays them from the fills, so a
restored book cannot disagree with the fills it holds.

:func:`encode_state` turns a state into plain JSON values (Decimals as strings, enums as their
values, records as objects); :func:`decode_state` reads it back and checks the shape and the
types on the way: a float where a Decimal string belongs is an error, not a guess. Whether the
content is consistent (tokens belong to their markets, fills are valid) is the portfolio's to
check when it restores itself (:meth:`Portfolio.from_dict
<polyexec.core.portfolio.Portfolio.from_dict>`).

Layout, version 1 (key order as written)::

    {"version": 1, "last_update_ms": int, "next_seq": int,
     "markets": [Market, ...], "fills": [{"seq": int, "fill": Fill}, ...],
     "settlements": {condition_id: {"winner": "Up", "settled_ms": int}},
     "archived": {condition_id: "Up" | "Down"},
     "archive": {"realized": {strategy: "1.5"}, "fees": {...}, "stats": TradeStats, "oversold": int},
     "voided_count": int, "voided_recent": [{"fill": Fill, "voided_ms": int}, ...],
     "ignored_count": int}
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any, Final, TypeVar, get_type_hints

from polyexec.core.models import Fill, Market, Outcome, TimestampMs
from polyexec.core.pnl_report import ArchiveTotals, TradeStats
from polyexec.core.position_ledger import FillEntry, VoidedFill
from polyexec.core.records import decimal_from_record

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["SERIAL_VERSION", "MarketSettlement", "PortfolioState", "decode_state", "encode_state"]

SERIAL_VERSION: Final = 1
"""The version :func:`encode_state` writes and the only one :func:`decode_state` reads."""

_D = TypeVar("_D", bound="DataclassInstance")


@dataclass(frozen=True, slots=True)
class MarketSettlement:
    """How a market resolved, and when the portfolio learnt it."""

    winner: Outcome
    settled_ms: TimestampMs


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """Everything a portfolio persists. ``fills`` are in arrival order (ascending ``seq``), and
    every ``seq`` is below ``next_seq``, the arrival number the next new fill gets."""

    last_update_ms: TimestampMs
    next_seq: int
    markets: Sequence[Market]
    fills: Sequence[FillEntry]
    settlements: Mapping[str, MarketSettlement]
    archived: Mapping[str, Outcome]  # condition id → winning outcome, for archived markets
    archive: ArchiveTotals
    voided_count: int
    voided_recent: Sequence[VoidedFill]
    ignored_count: int


def encode_state(state: PortfolioState) -> dict[str, Any]:
    """``state`` as JSON-safe values (Decimals as strings); :func:`decode_state` reverses it."""
    entries = sorted(state.fills, key=lambda e: e.seq)
    return {
        "version": SERIAL_VERSION,
        "last_update_ms": state.last_update_ms,
        "next_seq": state.next_seq,
        "markets": _encode(list(state.markets)),
        "fills": [{"seq": e.seq, "fill": _encode(e.fill)} for e in entries],
        "settlements": _encode(state.settlements),
        "archived": _encode(state.archived),
        "archive": _encode(state.archive),
        "voided_count": state.voided_count,
        "voided_recent": _encode(state.voided_recent),
        "ignored_count": state.ignored_count,
    }


def decode_state(data: Mapping[str, Any]) -> PortfolioState:
    """Read :func:`encode_state` output back. ``ValueError`` names what is wrong: an unsupported
    version, a missing key, a value of the wrong type, duplicated arrival numbers."""
    try:
        if data["version"] != SERIAL_VERSION:
            raise ValueError(f"unsupported portfolio state version {data['version']!r}")
        markets = [_decode(Market, raw) for raw in data["markets"]]
        fills = [FillEntry(_decode(Fill, raw["fill"]), int(raw["seq"])) for raw in data["fills"]]
        settlements = {cid: _decode(MarketSettlement, raw) for cid, raw in data["settlements"].items()}
        archived = {cid: Outcome(w) for cid, w in data["archived"].items()}
        archive = data["archive"]
        totals = ArchiveTotals(
            realized={
                k: decimal_from_record(v, f"archive.realized.{k}") for k, v in archive["realized"].items()
            },
            fees={k: decimal_from_record(v, f"archive.fees.{k}") for k, v in archive["fees"].items()},
            stats=_decode(TradeStats, archive["stats"]),
            oversold=int(archive["oversold"]),
        )
        state = PortfolioState(
            last_update_ms=int(data["last_update_ms"]),
            next_seq=int(data["next_seq"]),
            markets=markets,
            fills=fills,
            settlements=settlements,
            archived=archived,
            archive=totals,
            voided_count=int(data["voided_count"]),
            voided_recent=[_decode(VoidedFill, raw) for raw in data["voided_recent"]],
            ignored_count=int(data["ignored_count"]),
        )
    except (KeyError, TypeError, ArithmeticError, AttributeError) as exc:
        raise ValueError(f"malformed portfolio state: {exc!r}") from exc
    seqs = {e.seq for e in state.fills}
    if len(seqs) != len(state.fills) or any(seq >= state.next_seq for seq in seqs):
        raise ValueError("malformed portfolio state: fill seqs must be unique and below next_seq")
    return state


def _encode(value: Any) -> Any:
    """JSON-safe form of a domain value: Decimals as strings, enums as their value, dataclasses
    as dicts of their fields."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {spec.name: _encode(getattr(value, spec.name)) for spec in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | deque):
        return [_encode(v) for v in value]
    return value


def _decode(cls: type[_D], raw: Mapping[str, Any]) -> _D:
    """Inverse of :func:`_encode` for a dataclass of str, int, bool, Decimal, enum and dataclass
    fields. Types are checked: a float where a Decimal string belongs is an error, not a guess."""
    hints = _field_types(cls)
    values: dict[str, Any] = {}
    for spec in fields(cls):
        hint, value = hints[spec.name], raw[spec.name]
        if hint is Decimal:
            value = decimal_from_record(value, f"{cls.__name__}.{spec.name}")
        elif isinstance(hint, type) and issubclass(hint, Enum):
            value = hint(value)
        elif isinstance(hint, type) and is_dataclass(hint):
            value = _decode(hint, value)
        elif hint in (str, int, bool) and type(value) is not hint:
            raise ValueError(f"{cls.__name__}.{spec.name} must be {hint.__name__}, got {value!r}")
        values[spec.name] = value
    return cls(**values)


@cache
def _field_types(cls: type[Any]) -> dict[str, Any]:
    return get_type_hints(cls)  # slow (it compiles every annotation): once per class
