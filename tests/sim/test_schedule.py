"""The window schedule: listing ahead, strikes, resolution on the 60 s TWAP, pruning."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

import pytest

from polyexec.sim.schedule import (
    DOWN,
    UP,
    WindowSchedule,
    derive_market,
    market_slug,
    window_start_for,
)
from polyexec.sim.underlying import PriceObservation, UnderlyingPrice, profile_for
from tests.sim.fakes import FakeExchange

WINDOW = 60
T0 = 1_790_000_040  # a multiple of 60
T0_MS = T0 * 1000


def _underlyings(start_s: int, assets: tuple[str, ...] = ("btc", "eth")) -> dict[str, UnderlyingPrice]:
    return {a: UnderlyingPrice(profile_for(a), 5, (start_s - 300) * 1000) for a in assets}


def _schedule(
    exchange: FakeExchange, underlyings: dict[str, UnderlyingPrice], **kwargs: object
) -> WindowSchedule:
    return WindowSchedule(exchange, underlyings, seed=5, window_seconds=WINDOW, **kwargs)  # type: ignore[arg-type]


def _advance(underlyings: dict[str, UnderlyingPrice], schedule: WindowSchedule, now_ms: int) -> None:
    for underlying in underlyings.values():
        underlying.advance_to(now_ms)
    schedule.step(now_ms)


def test_slugs_and_window_starts_follow_the_venue() -> None:
    assert market_slug("btc", 1778437800) == "btc-updown-15m-1778437800"
    assert window_start_for(1778437800 + 899.9, 900) == 1778437800
    assert window_start_for(1778437800 + 900, 900) == 1778438700


def test_current_and_next_windows_are_listed_on_the_exchange_once() -> None:
    exchange = FakeExchange()
    underlyings = _underlyings(T0)
    schedule = _schedule(exchange, underlyings)
    _advance(underlyings, schedule, T0_MS + 5_000)
    slugs = sorted(w.slug for w in schedule.windows())
    assert slugs == sorted(market_slug(a, s) for a in ("btc", "eth") for s in (T0, T0 + WINDOW))
    assert sorted(m.slug for m in exchange.markets()) == slugs
    _advance(underlyings, schedule, T0_MS + 6_000)
    assert len(exchange.markets()) == 4
    market = schedule.get(market_slug("btc", T0))
    assert market is not None
    assert market.market.window_end - market.market.window_start == WINDOW
    assert schedule.by_condition_id(market.market.condition_id) is market


def test_ids_are_deterministic_for_a_seed_and_well_formed() -> None:
    a = derive_market("btc", T0, WINDOW, seed=1)
    assert a == derive_market("btc", T0, WINDOW, seed=1)
    b = derive_market("btc", T0, WINDOW, seed=2)
    assert {a.condition_id, a.up_token_id, a.down_token_id}.isdisjoint(
        {b.condition_id, b.up_token_id, b.down_token_id}
    )
    assert a.condition_id.startswith("0x")
    assert len(a.condition_id) == 66
    int(a.condition_id, 16)
    assert a.up_token_id.isdigit()
    assert a.up_token_id != a.down_token_id
    assert int(a.up_token_id) < 2**256


def test_strike_is_published_after_the_delay_and_equals_the_start_twap() -> None:
    exchange = FakeExchange()
    underlyings = _underlyings(T0)
    schedule = _schedule(exchange, underlyings, strike_publish_delay=4.0)
    _advance(underlyings, schedule, T0_MS - 3_000)  # before the window: listed, no strike
    window = schedule.get(market_slug("btc", T0))
    assert window is not None
    assert window.strike is None
    assert window.price_to_beat is None
    _advance(underlyings, schedule, T0_MS + 1_000)
    assert window.strike == underlyings["btc"].twap_at(T0)
    assert window.price_to_beat is None
    _advance(underlyings, schedule, T0_MS + 4_000)
    assert window.price_to_beat == window.strike


def test_window_resolves_at_its_end_on_the_twap_and_the_next_opens() -> None:
    exchange = FakeExchange()
    underlyings = _underlyings(T0)
    schedule = _schedule(exchange, underlyings)
    _advance(underlyings, schedule, T0_MS + 1_000)
    first = schedule.get(market_slug("btc", T0))
    assert first is not None
    _advance(underlyings, schedule, (T0 + WINDOW) * 1000 + 200)
    btc = underlyings["btc"]
    strike, final = btc.twap_at(T0), btc.twap_at(T0 + WINDOW)
    assert strike is not None
    assert final is not None
    assert first.resolved
    assert first.final_price == final
    assert first.winner == (UP if final >= strike else DOWN)
    assert (first.market.condition_id, first.winner, final) in exchange.resolutions
    # One TWAP value closes window N and opens window N+1.
    second = schedule.get(market_slug("btc", T0 + WINDOW))
    assert second is not None
    assert second.strike == first.final_price
    # Rolling over lists the window after next.
    assert schedule.get(market_slug("btc", T0 + 2 * WINDOW)) is not None
    assert [w.slug for w in schedule.tradable() if w.market.asset == "btc"] == [
        market_slug("btc", T0 + WINDOW),
        market_slug("btc", T0 + 2 * WINDOW),
    ]


class _FlatUnderlying:
    """An underlying whose TWAP never moves: every window is a tie."""

    def __init__(self, real: UnderlyingPrice) -> None:
        self.profile = real.profile

    def twap_at(self, second: int) -> Decimal:
        return Decimal("100000.5")

    @property
    def last_observation(self) -> PriceObservation:
        return PriceObservation("btc", 0, Decimal("100000.5"), Decimal("100000.5"), Decimal(100000))


def test_a_tie_resolves_up() -> None:
    exchange = FakeExchange()
    flat = cast(UnderlyingPrice, _FlatUnderlying(_underlyings(T0, ("btc",))["btc"]))
    schedule = WindowSchedule(exchange, {"btc": flat}, seed=5, window_seconds=WINDOW)
    schedule.step(T0_MS + 1_000)
    schedule.step((T0 + WINDOW) * 1000)
    window = schedule.get(market_slug("btc", T0))
    assert window is not None
    assert window.winner == UP
    assert exchange.resolutions[0][1:] == (UP, Decimal("100000.5"))


def test_a_refused_resolution_is_retried_at_the_next_step() -> None:
    exchange = FakeExchange()
    underlyings = _underlyings(T0, ("btc",))
    schedule = _schedule(exchange, underlyings)
    _advance(underlyings, schedule, T0_MS + 1_000)
    original = exchange.resolve_market
    calls: list[str] = []

    def flaky(condition_id: str, winning_outcome: str, final_price: Decimal) -> None:
        calls.append(condition_id)
        if len(calls) == 1:
            raise RuntimeError("exchange busy")
        original(condition_id, winning_outcome, final_price)

    exchange.resolve_market = flaky  # type: ignore[method-assign]
    _advance(underlyings, schedule, (T0 + WINDOW) * 1000)
    window = schedule.get(market_slug("btc", T0))
    assert window is not None
    assert not window.resolved
    assert schedule.resolve_failures == 1
    _advance(underlyings, schedule, (T0 + WINDOW) * 1000 + 200)
    assert window.winner is not None  # resolved at the retry
    assert len(exchange.resolutions) == 1


def test_resolved_windows_are_kept_for_a_while_then_pruned() -> None:
    exchange = FakeExchange()
    underlyings = _underlyings(T0, ("btc",))
    schedule = _schedule(exchange, underlyings, keep_resolved_seconds=120)
    _advance(underlyings, schedule, T0_MS + 1_000)
    _advance(underlyings, schedule, (T0 + 2 * WINDOW) * 1000)
    assert schedule.get(market_slug("btc", T0)) is not None  # resolved, still listed
    _advance(underlyings, schedule, (T0 + 4 * WINDOW) * 1000)
    assert schedule.get(market_slug("btc", T0)) is None


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        WindowSchedule(FakeExchange(), {}, seed=0, window_seconds=1)
    with pytest.raises(ValueError, match="windows_ahead"):
        WindowSchedule(FakeExchange(), {}, seed=0, windows_ahead=-1)
