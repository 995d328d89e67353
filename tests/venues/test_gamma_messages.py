"""Tests for polyexec.venues.gamma_messages: decoding Gamma events and markets into Market records.

The builders :func:`gamma_market_json` / :func:`gamma_event_json` write payloads in the venue's
shapes (docs §6.2); tests/venues/test_market_discovery.py serves them from a fake Gamma.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.core.models import FeeSchedule, Market, Outcome
from polyexec.venues.gamma_messages import (
    GammaError,
    GammaEvent,
    decode_json,
    market_info,
    market_slug,
    parse_event,
    parse_market,
    parse_market_list,
    parse_market_slug,
    resolution_of,
    to_market,
    window_start_for,
)

UP_TOKEN = "72700000000000000000000000000000000000000000000000000000000000015502"
DOWN_TOKEN = "72840000000000000000000000000000000000000000000000000000000000078432"
START = 1_790_616_600  # 2026-09-28T17:30:00Z
SLUG = f"btc-updown-15m-{START}"
CONDITION_ID = "0x" + "f6a6" * 16


def window_iso(unix_seconds: int) -> str:
    """Gamma's time form: ``1790616600`` → ``"2026-09-28T17:30:00Z"``."""
    return datetime.fromtimestamp(unix_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def gamma_market_json(
    slug: str = SLUG,
    *,
    condition_id: str = CONDITION_ID,
    window_seconds: int = 900,
    outcomes: tuple[str, str] = ("Up", "Down"),
    tokens: tuple[str, str] = (UP_TOKEN, DOWN_TOKEN),
    **overrides: Any,
) -> dict[str, Any]:
    """A Gamma market object like the venue's (JSON-encoded ``outcomes``/``clobTokenIds``)."""
    start = parse_market_slug(slug)[1]
    body: dict[str, Any] = {
        "id": "601234",
        "slug": slug,
        "conditionId": condition_id,
        "outcomes": json.dumps(list(outcomes)),
        "clobTokenIds": json.dumps(list(tokens)),
        "outcomePrices": json.dumps(["0.515", "0.485"]),
        "startDate": window_iso(start - 86_400),
        "eventStartTime": window_iso(start),
        "endDate": window_iso(start + window_seconds),
        "acceptingOrders": True,
        "active": True,
        "closed": False,
        "enableOrderBook": True,
        "negRisk": False,
        "orderMinSize": 5,
        "orderPriceMinTickSize": 0.01,
        "feeSchedule": {"exponent": 1, "rate": 0.07, "takerOnly": True, "rebateRate": 0.2},
        "version": "v1",
    }
    body.update(overrides)
    return body


def gamma_event_json(
    market: dict[str, Any], *, price_to_beat: Any = None, final_price: Any = None
) -> dict[str, Any]:
    """The Gamma event wrapping ``market`` (the strike fields only when given)."""
    metadata: dict[str, Any] = {}
    if price_to_beat is not None:
        metadata["priceToBeat"] = price_to_beat
    if final_price is not None:
        metadata["finalPrice"] = final_price
    return {"id": "90001", "slug": market["slug"], "eventMetadata": metadata, "markets": [market]}


def as_wire(obj: Any) -> Any:
    """``obj`` as Gamma's bytes would decode (floats become Decimal, as decode_json reads them)."""
    return decode_json(json.dumps(obj))


# --- the venue's shapes -----------------------------------------------------------------------


def test_venue_sample_market_decodes_every_field() -> None:
    raw = gamma_market_json(
        orderPriceMinTickSize=0.001,
        closed=True,
        acceptingOrders=False,
        outcomePrices='["1", "0"]',
        umaResolutionStatus="resolved",
        closedTime="2026-09-28 17:46:12+00",
    )
    market = parse_market(as_wire(raw))
    assert market.slug == SLUG
    assert market.condition_id == CONDITION_ID
    assert market.outcomes == (Outcome.UP, Outcome.DOWN)
    assert market.clob_token_ids == (UP_TOKEN, DOWN_TOKEN)
    assert (market.event_start_s, market.end_s) == (START, START + 900)
    assert market.tick_size == Decimal("0.001")
    assert market.min_size == Decimal(5)
    assert market.fee == FeeSchedule(Decimal("0.07"), 1, True, Decimal("0.2"))
    assert (market.accepting_orders, market.active, market.closed, market.neg_risk) == (
        False,
        True,
        True,
        False,
    )
    assert market.version == "v1"
    assert market.uma_resolution_status == "resolved"
    assert market.closed_time_s == START + 972  # 17:46:12
    assert market.winner is Outcome.UP


def test_to_market_builds_the_domain_market() -> None:
    market = to_market(parse_market(as_wire(gamma_market_json())))
    assert market == Market(
        asset="btc",
        slug=SLUG,
        condition_id=CONDITION_ID,
        up_token_id=UP_TOKEN,
        down_token_id=DOWN_TOKEN,
        window_start=START,
        window_end=START + 900,
        tick_size=Decimal("0.01"),
        min_size=Decimal(5),
        fee=FeeSchedule(Decimal("0.07"), 1, True, Decimal("0.2")),
        neg_risk=False,
    )


def test_reversed_outcomes_map_tokens_by_index_not_position() -> None:
    raw = gamma_market_json(outcomes=("Down", "Up"), tokens=(DOWN_TOKEN, UP_TOKEN))
    market = to_market(parse_market(as_wire(raw)))
    assert (market.up_token_id, market.down_token_id) == (UP_TOKEN, DOWN_TOKEN)
    assert market.outcome_of(UP_TOKEN) is Outcome.UP


def test_real_json_lists_are_accepted_like_encoded_strings() -> None:
    raw = gamma_market_json(
        outcomes=("Up", "Down"), outcomePrices=["0.4", "0.6"], clobTokenIds=[UP_TOKEN, DOWN_TOKEN]
    )
    raw["outcomes"] = ["Up", "Down"]
    market = parse_market(as_wire(raw))
    assert market.clob_token_ids == (UP_TOKEN, DOWN_TOKEN)
    assert market.outcome_prices == (Decimal("0.4"), Decimal("0.6"))


def test_missing_optional_fields_take_cautious_defaults() -> None:
    raw = gamma_market_json()
    for key in ("acceptingOrders", "active", "closed", "negRisk", "version", "orderMinSize"):
        del raw[key]
    raw["orderPriceMinTickSize"] = None
    raw["feeSchedule"] = None
    gamma = parse_market(as_wire(raw))
    assert (gamma.accepting_orders, gamma.active, gamma.closed, gamma.neg_risk) == (
        False,
        False,
        False,
        False,
    )
    assert gamma.version is None
    assert gamma.tick_size is None
    assert gamma.fee is None
    market = to_market(gamma)
    assert (market.tick_size, market.min_size, market.fee) == (Decimal("0.01"), Decimal(5), FeeSchedule())


def test_decode_json_reads_floats_exactly_and_refuses_nan() -> None:
    assert decode_json(b'{"rate": 0.07, "p": 83884.31612}') == {
        "rate": Decimal("0.07"),
        "p": Decimal("83884.31612"),
    }
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        with pytest.raises(GammaError, match=constant.decode()):
            decode_json(b'{"priceToBeat": ' + constant + b"}")
    with pytest.raises(GammaError, match="not JSON"):
        decode_json(b"<html>502</html>")


# --- refusals name the field ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", ""),
        ("conditionId", "0x1234"),
        ("outcomes", '["Yes", "No"]'),
        ("outcomes", '["Up", "Up"]'),
        ("outcomes", '["Up", "Down", "Flat"]'),
        ("outcomes", "Up,Down"),
        ("clobTokenIds", json.dumps([UP_TOKEN])),
        ("clobTokenIds", json.dumps([UP_TOKEN, "0xabc"])),
        ("clobTokenIds", json.dumps([UP_TOKEN, UP_TOKEN])),
        ("clobTokenIds", json.dumps([UP_TOKEN, str(2**256)])),
        ("orderPriceMinTickSize", 0),
        ("orderPriceMinTickSize", 1.5),
        ("orderPriceMinTickSize", "NaN"),
        ("orderMinSize", -1),
        ("orderMinSize", True),
        ("feeSchedule", {"rate": "nan", "exponent": 1}),
        ("feeSchedule", {"rate": 0.07, "exponent": 1.5}),
        ("feeSchedule", {"rate": 0.07, "exponent": "1e999999999"}),
        ("feeSchedule", {"exponent": 1}),
        ("eventStartTime", "yesterday"),
        ("endDate", 1790617500),
        ("acceptingOrders", "true"),
        ("closed", 1),
        ("outcomePrices", '["1", "NaN"]'),
        ("outcomePrices", '["1.5", "0"]'),
        ("version", 2),
    ],
)
def test_malformed_field_is_refused_naming_it(field: str, value: Any) -> None:
    raw = gamma_market_json()
    raw[field] = value
    with pytest.raises(GammaError, match=field):
        parse_market(raw)


@pytest.mark.parametrize("bad", [None, [], "market", 5])
def test_non_object_market_is_refused(bad: Any) -> None:
    with pytest.raises(GammaError, match="market must be an object"):
        parse_market(bad)


def test_nested_market_errors_name_their_path() -> None:
    event = gamma_event_json(gamma_market_json(conditionId="nope"))
    with pytest.raises(GammaError, match=r"event\.markets\[0\]\.conditionId"):
        parse_event(event)
    with pytest.raises(GammaError, match=r"eventMetadata\.priceToBeat"):
        parse_event(gamma_event_json(gamma_market_json(), price_to_beat=float("nan")))
    with pytest.raises(GammaError, match=r"markets\[1\]\.slug"):
        parse_market_list([gamma_market_json(), {**gamma_market_json(), "slug": None}])


def test_to_market_checks_the_window_against_the_slug() -> None:
    shifted = parse_market(gamma_market_json(eventStartTime=window_iso(START + 900)))
    with pytest.raises(GammaError, match="eventStartTime"):
        to_market(shifted)
    backwards = parse_market(gamma_market_json(endDate=window_iso(START)))
    with pytest.raises(GammaError, match="endDate"):
        to_market(backwards)
    five_minute = parse_market({**gamma_market_json(), "slug": "btc-updown-5m-1790616600"})
    with pytest.raises(GammaError, match="not a 15-minute"):
        to_market(five_minute)


def test_missing_end_date_uses_the_window_length() -> None:
    raw = gamma_market_json()
    del raw["endDate"]
    gamma = parse_market(raw)
    assert to_market(gamma, window_seconds=10).window_end == START + 10
    with pytest.raises(GammaError, match="endDate is missing"):
        to_market(gamma)


# --- resolution and status ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "prices", "closed", "winner"),
    [
        (("Up", "Down"), '["1", "0"]', True, Outcome.UP),
        (("Up", "Down"), '["0", "1"]', True, Outcome.DOWN),
        (("Down", "Up"), '["1", "0"]', True, Outcome.DOWN),
        (("Down", "Up"), '["0", "1"]', True, Outcome.UP),
        (("Up", "Down"), '["1", "0"]', False, None),  # not closed: prices are only mids
        (("Up", "Down"), '["0.5", "0.5"]', True, None),  # a split is no winner
    ],
)
def test_winner_follows_outcome_order_and_closed_flag(
    outcomes: tuple[str, str], prices: str, closed: bool, winner: Outcome | None
) -> None:
    raw = gamma_market_json(outcomes=outcomes, outcomePrices=prices, closed=closed)
    assert parse_market(raw).winner is winner


def test_event_strike_fields_and_status_record() -> None:
    raw = gamma_event_json(
        gamma_market_json(closed=True, acceptingOrders=False, outcomePrices='["0", "1"]'),
        price_to_beat=83884.316,
        final_price="83790.5",
    )
    event = parse_event(as_wire(raw))
    assert isinstance(event, GammaEvent)
    assert (event.price_to_beat, event.final_price) == (Decimal("83884.316"), Decimal("83790.5"))
    gamma = event.market_for(SLUG)
    assert gamma is not None
    info = market_info(gamma, event)
    assert info.winner is Outcome.DOWN
    assert (info.closed, info.accepting_orders, info.tradable) == (True, False, False)
    assert info.final_price == Decimal("83790.5")
    assert market_info(gamma).price_to_beat is None


def test_event_without_metadata_and_market_lookup_by_slug() -> None:
    other = gamma_market_json(f"btc-updown-15m-{START + 900}", condition_id="0x" + "ab" * 32)
    raw = {"slug": SLUG, "eventMetadata": None, "markets": [other, gamma_market_json()]}
    event = parse_event(raw)
    assert event.price_to_beat is None
    assert event.final_price is None
    found = event.market_for(SLUG)
    assert found is not None
    assert found.condition_id == CONDITION_ID
    assert event.market_for("eth-updown-15m-1") is None
    with pytest.raises(GammaError, match=r"event\.markets must be a list"):
        parse_event({"slug": SLUG})


def test_resolution_of_reads_winner_token_and_strike_data() -> None:
    raw = gamma_market_json(outcomes=("Down", "Up"), tokens=(DOWN_TOKEN, UP_TOKEN), closed=True)
    raw["outcomePrices"] = '["0", "1"]'
    event = parse_event(as_wire(gamma_event_json(raw, price_to_beat=100.5, final_price=101)))
    gamma = event.markets[0]
    market = to_market(gamma)
    resolution = resolution_of(market, gamma, event)
    assert resolution is not None
    assert (resolution.winner, resolution.winning_token_id) == (Outcome.UP, UP_TOKEN)
    assert (resolution.final_price, resolution.price_to_beat) == (Decimal(101), Decimal("100.5"))
    assert resolution_of(market, gamma) == replace(resolution, final_price=None, price_to_beat=None)
    open_market = parse_market({**raw, "closed": False})
    assert resolution_of(market, open_market) is None
    with pytest.raises(GammaError, match="condition id"):
        resolution_of(replace(market, condition_id="0x" + "00" * 32), gamma)


def test_window_start_matches_the_slug_rule() -> None:
    assert window_start_for(START + 899.9, 900) == START
    assert window_start_for(START + 900, 900) == START + 900
    assert window_start_for(1003.5, 10) == 1000


@given(asset=st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), start=st.integers(0, 10**12 - 1))
def test_slug_round_trip(asset: str, start: int) -> None:
    assert parse_market_slug(market_slug(asset, start)) == (asset, start)


# --- properties -----------------------------------------------------------------------------------

GAMMA_KEYS = [*gamma_market_json(), "markets", "eventMetadata", "priceToBeat", "finalPrice", "rate"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["Up", "Down", '["Up", "Down"]', "NaN", "1e999999999", "2026-09-28T17:30:00Z"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(GAMMA_KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(payload=json_values)
def test_arbitrary_json_only_ever_raises_gamma_error(payload: Any) -> None:
    for decode in (parse_event, parse_market, parse_market_list):
        try:
            decoded = decode(payload)
        except GammaError:
            continue
        markets = decoded.markets if isinstance(decoded, GammaEvent) else decoded
        for market in markets if isinstance(markets, tuple) else (markets,):
            with contextlib.suppress(GammaError):
                to_market(market, window_seconds=900)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(list(gamma_market_json())), value=json_values)
def test_one_corrupted_field_parses_or_raises_gamma_error(key: str, value: Any) -> None:
    raw = gamma_market_json()
    raw[key] = value
    try:
        market = to_market(parse_event(gamma_event_json(raw)).markets[0])
    except GammaError:
        return
    # Whatever survived still maps tokens by outcome, never by position.
    assert {market.up_token_id, market.down_token_id} == {UP_TOKEN, DOWN_TOKEN}


@settings(max_examples=100, deadline=None)
@given(reverse=st.booleans(), encoded=st.booleans(), spelled=st.sampled_from(["Up", "up", "UP", " Up "]))
def test_tokens_follow_outcomes_in_any_order_and_form(reverse: bool, encoded: bool, spelled: str) -> None:
    pairs = [(spelled, UP_TOKEN), ("Down", DOWN_TOKEN)]
    if reverse:
        pairs.reverse()
    outcomes = [name for name, _ in pairs]
    tokens = [token for _, token in pairs]
    raw = gamma_market_json()
    raw["outcomes"] = json.dumps(outcomes) if encoded else outcomes
    raw["clobTokenIds"] = json.dumps(tokens) if encoded else tokens
    market = to_market(parse_market(raw))
    assert (market.up_token_id, market.down_token_id) == (UP_TOKEN, DOWN_TOKEN)
