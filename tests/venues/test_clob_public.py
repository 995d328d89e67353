"""Public CLOB reads against the simulator over loopback: time, books, prices, market parameters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from polyexec.core.models import BookLevel, Side
from polyexec.sim.app import RunningSimulator
from polyexec.sim.contracts import SimMarket
from polyexec.venues.clob_public import ClobPublicClient
from polyexec.venues.errors import AmbiguousOutcome, DefinitiveReject
from polyexec.venues.http_transport import ClobTransport, RetryPolicy
from tests.venues.conftest import add_market, sim_admin

UNKNOWN_TOKEN = "12345"


@dataclass
class Pause:
    """The transport's retry sleep in these tests: records each wait, runs ``then`` (e.g. clear
    a fault: the venue recovered meanwhile) and returns at once instead of sleeping."""

    sleeps: list[float] = field(default_factory=list)
    then: list[Callable[[float], object]] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        for action in self.then:
            action(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def market(exchange_sim: RunningSimulator) -> SimMarket:
    """A market with bids at 0.40/0.45 and asks at 0.55/0.60 on its Up token; Down is empty."""
    created = add_market(exchange_sim, "btc")
    exchange = exchange_sim.simulator.exchange
    for side, price, size in (
        ("BUY", "0.40", 20),
        ("BUY", "0.45", 10),
        ("SELL", "0.55", 7),
        ("SELL", "0.60", 9),
    ):
        exchange.place_background_order("mm", created.up_token_id, side, Decimal(price), Decimal(size))
    return created


@pytest.fixture
def pause() -> Pause:
    return Pause()


@pytest.fixture
async def client(exchange_sim: RunningSimulator, pause: Pause) -> AsyncIterator[ClobPublicClient]:
    async with ClobTransport(exchange_sim.base_url, retry=RetryPolicy(sleep=pause)) as transport:
        yield ClobPublicClient(transport)


async def test_server_time_and_version(exchange_sim: RunningSimulator, client: ClobPublicClient) -> None:
    assert await client.get_ok()
    server_time = await client.get_server_time()
    assert abs(server_time - exchange_sim.simulator.clock.now()) < 5
    assert await client.get_version() == 2


async def test_book_in_wire_order_with_tick(market: SimMarket, client: ClobPublicClient) -> None:
    book = await client.get_book(market.up_token_id)
    assert book.asset_id == market.up_token_id
    assert book.condition_id == market.condition_id
    assert book.bids == (BookLevel(Decimal("0.40"), Decimal(20)), BookLevel(Decimal("0.45"), Decimal(10)))
    assert book.asks == (BookLevel(Decimal("0.60"), Decimal(9)), BookLevel(Decimal("0.55"), Decimal(7)))
    assert book.tick_size == Decimal("0.01")
    assert book.timestamp_ms > 0
    assert book.hash


async def test_books_skip_tokens_without_a_book(market: SimMarket, client: ClobPublicClient) -> None:
    books = await client.get_books([market.up_token_id, market.down_token_id, UNKNOWN_TOKEN])
    assert [b.asset_id for b in books] == [market.up_token_id, market.down_token_id]
    assert books[1].bids == ()
    assert await client.get_books([]) == []


async def test_prices_of_a_two_sided_book(market: SimMarket, client: ClobPublicClient) -> None:
    token = market.up_token_id
    assert await client.get_midpoint(token) == Decimal("0.5")
    assert await client.get_spread(token) == Decimal("0.10")
    assert await client.get_price(token, Side.BUY) == Decimal("0.45")  # best bid
    assert await client.get_price(token, Side.SELL) == Decimal("0.55")  # best ask


async def test_prices_of_an_empty_book_are_none(market: SimMarket, client: ClobPublicClient) -> None:
    token = market.down_token_id
    assert await client.get_midpoint(token) is None
    assert await client.get_spread(token) is None
    assert await client.get_price(token, Side.SELL) is None


async def test_a_token_without_a_book_is_a_definitive_reject(client: ClobPublicClient) -> None:
    with pytest.raises(DefinitiveReject, match="get_midpoint: 404 No orderbook exists") as caught:
        await client.get_midpoint(UNKNOWN_TOKEN)
    assert caught.value.status == 404
    with pytest.raises(DefinitiveReject, match="get_book: 404"):
        await client.get_book(UNKNOWN_TOKEN)


async def test_market_parameters(
    exchange_sim: RunningSimulator, market: SimMarket, client: ClobPublicClient
) -> None:
    assert await client.get_tick_size(market.up_token_id) == Decimal("0.01")
    assert await client.get_neg_risk(market.up_token_id) is False
    info = await client.get_clob_market_info(market.condition_id)
    assert info.condition_id == market.condition_id
    assert info.tokens == ((market.up_token_id, "Up"), (market.down_token_id, "Down"))
    assert info.tick_size == Decimal("0.01")
    assert info.min_size == Decimal(5)
    assert info.neg_risk is False
    assert info.fee.rate == Decimal("0.07")
    assert info.taker_delay is True
    neg_risk = add_market(exchange_sim, "eth", neg_risk=True, tick_size=Decimal("0.001"))
    assert await client.get_neg_risk(neg_risk.up_token_id) is True
    assert await client.get_tick_size(neg_risk.up_token_id) == Decimal("0.001")
    assert (await client.get_clob_market_info(neg_risk.condition_id)).neg_risk is True


async def test_unknown_market_is_not_found(client: ClobPublicClient) -> None:
    with pytest.raises(DefinitiveReject, match="get_clob_market_info: 404 market not found"):
        await client.get_clob_market_info("0x" + "00" * 32)


async def test_bad_ids_are_refused_before_sending(client: ClobPublicClient) -> None:
    with pytest.raises(ValueError, match="token id"):
        await client.get_book("../time")
    with pytest.raises(ValueError, match="condition id"):
        await client.get_clob_market_info("market/../../x")


async def test_reads_are_resent_after_a_server_error(
    exchange_sim: RunningSimulator, market: SimMarket, client: ClobPublicClient, pause: Pause
) -> None:
    await sim_admin(exchange_sim, "POST", "/faults/http_500", {"paths": ["/book"]})
    pause.then.append(lambda _: exchange_sim.simulator.faults.clear("http_500"))  # the venue recovers
    book = await client.get_book(market.up_token_id)
    assert book.asset_id == market.up_token_id
    assert len(pause.sleeps) == 1


async def test_reads_give_up_after_three_attempts(
    exchange_sim: RunningSimulator, market: SimMarket, client: ClobPublicClient, pause: Pause
) -> None:
    await sim_admin(exchange_sim, "POST", "/faults/http_500", {"paths": ["/midpoint"]})
    with pytest.raises(AmbiguousOutcome, match="get_midpoint: 500 Internal Server Error") as caught:
        await client.get_midpoint(market.up_token_id)
    assert caught.value.attempts == 3
    faults = await sim_admin(exchange_sim, "GET", "/faults")
    assert faults["http_500"]["hits"] == 3
