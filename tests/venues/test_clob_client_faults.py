"""The CLOB client under the venue's faults, against the simulator over loopback (425, 429,
500, answers lost after processing, client timeouts, trading modes) and against a scripted
local server for answer forms the simulator does not produce (HTTP 200 refusals, refusals of a
resend whose first send went unanswered, cursor loops).

Retries never sleep here: the transport's sleep is a :class:`Pause` that records the wait and
lets the test change the venue meanwhile (clear a fault, move the simulator's clock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from polyexec.core.models import OrderType, Side
from polyexec.sim.app import RunningSimulator
from polyexec.venues.auth import ApiCredentials
from polyexec.venues.clob_client import ClobClient
from polyexec.venues.errors import AmbiguousOutcome, BadResponse, DefinitiveReject, VenueUnavailable
from polyexec.venues.http_transport import ClobTransport, RetryPolicy
from polyexec.venues.order_signer import OrderSigner, SignedOrder
from polyexec.venues.rate_limiter import RateLimiter
from tests.venues.conftest import sim_admin, throwaway_key
from tests.venues.test_clob_client import Trading, open_trading, signed_limit
from tests.venues.test_clob_public import Pause
from tests.venues.test_http_transport import FakeClob, FakeTime, answer


@pytest.fixture
async def trading(exchange_sim: RunningSimulator, trader_key: str) -> AsyncIterator[Trading]:
    async with open_trading(exchange_sim, trader_key) as opened:
        yield opened


async def test_key_creation_is_never_resent(exchange_sim: RunningSimulator) -> None:
    await sim_admin(
        exchange_sim, "POST", "/faults/http_500", {"paths": ["/auth/api-key"], "methods": ["POST"]}
    )
    async with ClobTransport(exchange_sim.base_url, retry=RetryPolicy(sleep=Pause())) as transport:
        client = ClobClient(transport, signer=OrderSigner(throwaway_key("no-resend")))
        with pytest.raises(AmbiguousOutcome, match="create_api_key: 500") as caught:
            await client.create_api_key()
    assert caught.value.attempts == 1
    assert (await sim_admin(exchange_sim, "GET", "/faults"))["http_500"]["hits"] == 1


async def test_batch_answer_lost_after_processing_is_resolved(trading: Trading) -> None:
    await sim_admin(
        trading.running,
        "POST",
        "/faults/http_500",
        {"after": True, "paths": ["/orders"], "methods": ["POST"]},
    )
    trading.clear_fault_on_retry("http_500")
    orders = [(trading.limit(Side.BUY, price), OrderType.GTC, False) for price in ("0.10", "0.11")]
    results = await trading.client.post_orders(orders)
    assert all(r.placed_by_earlier_attempt for r in results)
    assert [r.order_id for r in results] == [o.order_id for o, _, _ in orders]
    assert all(r.venue_order is not None and r.venue_order.status == "LIVE" for r in results)
    assert len(trading.pause.sleeps) == 1


# -- faults on order placement ------------------------------------------------------------------------


async def test_answer_lost_after_processing_then_duplicated(trading: Trading) -> None:
    await sim_admin(
        trading.running, "POST", "/faults/http_500", {"after": True, "paths": ["/order"], "methods": ["POST"]}
    )
    trading.clear_fault_on_retry("http_500")
    order = trading.limit(Side.BUY, "0.25")
    result = await trading.client.post_order(order, OrderType.GTC)
    assert result.placed_by_earlier_attempt
    assert result.order_id == order.order_id
    assert result.venue_order is not None
    assert result.venue_order.status == "LIVE"
    assert len(await trading.client.get_open_orders()) == 1  # placed once


async def test_order_timed_out_in_the_engine_is_resent(trading: Trading) -> None:
    await sim_admin(trading.running, "POST", "/faults/order_timeout", {})
    trading.clear_fault_on_retry("order_timeout")
    result = await trading.client.post_order(trading.limit(Side.BUY, "0.25"), OrderType.GTC)
    assert result.status == "live"  # placed by the resend, not a duplicate
    assert len(trading.pause.sleeps) == 1


async def test_too_early_is_resent(trading: Trading) -> None:
    await sim_admin(trading.running, "POST", "/faults/http_425", {"paths": ["/order"]})
    trading.clear_fault_on_retry("http_425")
    result = await trading.client.post_order(trading.limit(Side.BUY, "0.25"), OrderType.GTC)
    assert result.status == "live"
    assert len(trading.pause.sleeps) == 1


async def test_server_errors_three_times_are_ambiguous(trading: Trading) -> None:
    await sim_admin(trading.running, "POST", "/faults/http_500", {"paths": ["/order"], "methods": ["POST"]})
    with pytest.raises(AmbiguousOutcome, match="post_order: 500") as caught:
        await trading.client.post_order(trading.limit(Side.BUY, "0.25"), OrderType.GTC)
    assert caught.value.attempts == 3


async def test_rate_limited_waits_retry_after(exchange_sim: RunningSimulator, trader_key: str) -> None:
    fake = FakeTime()  # the limiter's clock moves with the transport's (recorded) waits
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    async with open_trading(exchange_sim, trader_key, limiter=limiter) as trading:
        trading.pause.then.append(fake.advance)
        await sim_admin(exchange_sim, "POST", "/faults/http_429", {"paths": ["/order"], "retry_after": 2})
        trading.clear_fault_on_retry("http_429")
        result = await trading.client.post_order(trading.limit(Side.BUY, "0.25"), OrderType.GTC)
    assert result.status == "live"
    assert trading.pause.sleeps[0] >= 2.0  # Retry-After honoured
    assert limiter.snapshot()["penalties"] == 1


async def test_client_timeouts(exchange_sim: RunningSimulator, trader_key: str) -> None:
    """The venue processes each request, then holds the answer past the client's timeout."""
    async with open_trading(exchange_sim, trader_key, timeout_s=0.3) as trading:
        client = trading.client
        beat_id = await client.post_heartbeat()
        await sim_admin(
            exchange_sim,
            "POST",
            "/faults/http_timeout",
            {"delay": 1.0, "paths": ["/order", "/v1/heartbeats", "/data/orders"]},
        )
        # An order: the resend is refused as Duplicated at once, which resolves the timeout.
        order = trading.limit(Side.BUY, "0.25")
        result = await client.post_order(order, OrderType.GTC)
        assert result.placed_by_earlier_attempt
        assert result.venue_order is not None
        assert result.venue_order.status == "LIVE"
        # A heartbeat is never resent: the caller learns the outcome is unknown.
        with pytest.raises(AmbiguousOutcome, match=r"post_heartbeat: no answer within 0.3 s") as beat:
            await client.post_heartbeat(beat_id)
        assert beat.value.attempts == 1
        # A read is resent, and each resend times out as well.
        with pytest.raises(AmbiguousOutcome, match=r"get_open_orders: no answer within 0.3 s") as read:
            await client.get_open_orders()
        assert read.value.attempts == 3
        trading.faults.clear("http_timeout")
        # The lost heartbeat did happen: the venue wants its (unseen) id now; the client adopts it.
        assert await client.post_heartbeat(beat_id) not in ("", beat_id)
        assert [o.order_id for o in await client.get_open_orders()] == [order.order_id]


async def test_post_only_mode_is_waited_out_when_short(trading: Trading) -> None:
    await sim_admin(trading.running, "POST", "/faults/post_only", {"seconds": 2})
    trading.pause.then.append(trading.running.simulator.clock.advance)  # simulated time passes
    post_only = await trading.client.post_order(
        trading.limit(Side.BUY, "0.20"), OrderType.GTC, post_only=True
    )
    assert post_only.status == "live"  # post-only orders pass in post-only mode
    assert trading.pause.sleeps == []
    result = await trading.client.post_order(trading.limit(Side.BUY, "0.21"), OrderType.GTC)
    assert result.status == "live"
    # retry_after_seconds is the mode's remaining time rounded up (2 s, or 1 s on a slow machine)
    assert trading.pause.sleeps
    assert all(wait >= 1.0 for wait in trading.pause.sleeps)


async def test_long_post_only_mode_goes_to_the_caller(trading: Trading) -> None:
    await sim_admin(trading.running, "POST", "/faults/post_only", {"seconds": 120})
    with pytest.raises(VenueUnavailable) as caught:
        await trading.client.post_order(trading.limit(Side.BUY, "0.20"), OrderType.GTC)
    assert caught.value.post_only_mode
    assert caught.value.retry_after_s is not None
    assert 100 <= caught.value.retry_after_s <= 120
    assert caught.value.attempts == 1


@pytest.mark.parametrize(
    ("fault", "flag"), [("trading_disabled", "trading_disabled"), ("cancel_only", "cancel_only")]
)
async def test_closed_trading_refuses_orders_but_not_cancels(trading: Trading, fault: str, flag: str) -> None:
    resting = trading.limit(Side.BUY, "0.20")
    await trading.client.post_order(resting, OrderType.GTC)
    await sim_admin(trading.running, "POST", f"/faults/{fault}", {})
    with pytest.raises(VenueUnavailable) as caught:
        await trading.client.post_order(trading.limit(Side.BUY, "0.21"), OrderType.GTC)
    assert getattr(caught.value, flag)
    assert caught.value.status == 503
    assert caught.value.attempts == 1
    assert (await trading.client.cancel_order(resting.order_id)).canceled == (resting.order_id,)


# -- answer forms the simulator does not produce ------------------------------------------------------


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[FakeClob, ClobClient]]:
    fake = FakeClob()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    credentials = ApiCredentials("key-1", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8=", "pp")
    transport = ClobTransport(fake.url, retry=RetryPolicy(sleep=Pause()))
    client = ClobClient(transport, signer=OrderSigner(throwaway_key("scripted")), credentials=credentials)
    try:
        yield fake, client
    finally:
        await transport.close()
        await server.close()


def scripted_order(client: ClobClient) -> SignedOrder:
    assert client.signer is not None
    return signed_limit(client.signer)


def order_answer(order_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": order_id,
        "status": "ORDER_STATUS_MATCHED",
        "market": "0x01",
        "asset_id": "1",
        "side": "BUY",
        "price": "0.5",
        "original_size": "5",
        "size_matched": "5",
        "associate_trades": ["t-9"],
        **extra,
    }


async def test_http_200_refusal_is_a_definitive_reject(scripted: tuple[FakeClob, ClobClient]) -> None:
    fake, client = scripted
    fake.answers.append(
        answer(200, {"success": False, "errorMsg": "not enough balance / allowance", "orderID": ""})
    )
    with pytest.raises(DefinitiveReject) as caught:
        await client.post_order(scripted_order(client), OrderType.GTC)
    assert str(caught.value) == "post_order: 200 not enough balance / allowance"
    assert len(fake.seen) == 1


async def test_http_200_duplicate_resolved_by_reading_the_order(
    scripted: tuple[FakeClob, ClobClient],
) -> None:
    fake, client = scripted
    order = scripted_order(client)
    duplicated = {
        "success": False,
        "errorMsg": f"order {order.order_id} is invalid. Duplicated.",
        "orderID": "",
    }
    fake.answers.extend([answer(200, duplicated), answer(200, order_answer(order.order_id))])
    result = await client.post_order(order, OrderType.GTC)
    assert result.placed_by_earlier_attempt
    assert result.trade_ids == ("t-9",)
    assert result.venue_order is not None
    assert result.venue_order.status == "MATCHED"
    assert [s.path for s in fake.seen] == ["/order", f"/data/order/{order.order_id}"]
    # the venue does not know the order: the refusal stands
    fake.answers.extend([answer(200, duplicated), answer(404, {"error": "Order not found"})])
    with pytest.raises(DefinitiveReject, match="Duplicated"):
        await client.post_order(order, OrderType.GTC)
    # the read-back fails: still placed, state unknown
    fake.answers.extend(
        [answer(400, duplicated | {"error": duplicated["errorMsg"]}), answer(401, {"error": "Unauthorized"})]
    )
    unknown = await client.post_order(order, OrderType.GTC)
    assert unknown.placed_by_earlier_attempt
    assert unknown.venue_order is None


async def test_refused_resend_of_an_unanswered_post_reads_the_order_back(
    scripted: tuple[FakeClob, ClobClient],
) -> None:
    fake, client = scripted
    order = scripted_order(client)
    no_balance = answer(400, {"error": "not enough balance / allowance"})
    # the first send was placed (its answer lost); the resend is refused for the balance it took
    fake.answers.extend([answer(500), no_balance, answer(200, order_answer(order.order_id))])
    placed = await client.post_order(order, OrderType.GTC)
    assert placed.placed_by_earlier_attempt
    assert placed.venue_order is not None
    # the venue does not know the order: the refusal stands
    fake.answers.extend([answer(500), no_balance, answer(404, {"error": "Order not found"})])
    with pytest.raises(DefinitiveReject, match="not enough balance"):
        await client.post_order(order, OrderType.GTC)
    # cannot read it back: unknown
    fake.answers.extend([answer(500), no_balance, *[answer(500)] * 3])
    with pytest.raises(AmbiguousOutcome, match="reading the order back failed") as caught:
        await client.post_order(order, OrderType.GTC)
    assert caught.value.attempts == 2
    # a trading-mode refusal after a lost answer is read back the same way
    closed = answer(503, {"error": "Trading is currently cancel-only."})
    fake.answers.extend([answer(502), closed, answer(200, order_answer(order.order_id))])
    assert (await client.post_order(order, OrderType.GTC)).placed_by_earlier_attempt
    # never without a lost answer
    fake.answers.append(closed)
    with pytest.raises(VenueUnavailable):
        await client.post_order(order, OrderType.GTC)


async def test_refused_resend_of_an_unanswered_batch(scripted: tuple[FakeClob, ClobClient]) -> None:
    fake, client = scripted
    first, second = scripted_order(client), scripted_order(client)
    batch = [(first, OrderType.GTC, False), (second, OrderType.GTC, False)]
    fake.answers.extend([answer(500), answer(503, {"error": "Trading is currently disabled."})])
    with pytest.raises(AmbiguousOutcome, match="an earlier send of the batch went unanswered"):
        await client.post_orders(batch)
    refusals = [
        {"success": False, "errorMsg": "not enough balance / allowance", "orderID": first.order_id},
        {"success": False, "errorMsg": "not enough balance / allowance", "orderID": second.order_id},
    ]

    async def read_back(request: web.Request) -> web.Response:
        """The venue knows the first order (placed by the lost send), not the second."""
        if request.path.endswith(first.order_id):
            return web.json_response(order_answer(first.order_id))
        return web.json_response({"error": "Order not found"}, status=404)

    fake.answers.extend([answer(500), answer(200, refusals), read_back, read_back])
    results = await client.post_orders(batch)
    by_id = {r.order_id: r for r in results}
    assert by_id[first.order_id].placed_by_earlier_attempt
    assert not by_id[second.order_id].success
    assert by_id[second.order_id].error == "not enough balance / allowance"


async def test_refused_resend_of_a_batch_that_cannot_be_read_back_is_ambiguous(
    scripted: tuple[FakeClob, ClobClient],
) -> None:
    """As for a single order: a refusal of the resend says nothing about the lost first send,
    so an order the venue cannot be asked about must not come back as refused."""
    fake, client = scripted
    first, second = scripted_order(client), scripted_order(client)
    refusals = [
        {"success": False, "errorMsg": "not enough balance / allowance", "orderID": order.order_id}
        for order in (first, second)
    ]

    async def read_back(request: web.Request) -> web.Response:
        """The venue knows the first order; reading the second fails every time."""
        if request.path.endswith(first.order_id):
            return web.json_response(order_answer(first.order_id))
        return web.json_response({"error": "Internal Server Error"}, status=500)

    fake.answers.extend([answer(500), answer(200, refusals), *[read_back] * 4])
    with pytest.raises(AmbiguousOutcome, match=f"could not be read back: {second.order_id}") as caught:
        await client.post_orders([(first, OrderType.GTC, False), (second, OrderType.GTC, False)])
    assert caught.value.after_ambiguous
    assert caught.value.attempts == 2


async def test_listing_guards(scripted: tuple[FakeClob, ClobClient]) -> None:
    fake, client = scripted
    looping = {"data": [], "next_cursor": "MTAw"}
    fake.answers.extend([answer(200, looping), answer(200, looping)])
    with pytest.raises(BadResponse, match="get_open_orders: next_cursor 'MTAw' repeats"):
        await client.get_open_orders()
    assert [s.query["next_cursor"] for s in fake.seen] == ["MA==", "MTAw"]
    fake.answers.append(
        answer(200, {"data": [{"id": "t-1", "status": "TRADE_STATUS_MATCHED"}], "next_cursor": "LTE="})
    )
    # One unreadable trade is counted and skipped: it must not block every resync.
    assert await client.get_trades() == []
    assert client.skipped_items["get_trades"] == 1
    fake.answers.append(answer(200, {"data": [{"id": "0x01", "status": "LIVE"}], "next_cursor": "LTE="}))
    assert await client.get_open_orders() == []
    assert client.skipped_items["get_open_orders"] == 1


async def test_a_cancel_list_is_split_for_the_cancel_bucket(scripted: tuple[FakeClob, ClobClient]) -> None:
    fake, client = scripted
    ids = [f"0x{i:064x}" for i in range(250)]
    fake.answers.extend(answer(200, {"canceled": [], "not_canceled": {}}) for _ in range(3))
    await client.cancel_orders(ids)
    sizes = [len(orjson.loads(seen.body)) for seen in fake.seen]
    assert sizes == [100, 100, 50]
