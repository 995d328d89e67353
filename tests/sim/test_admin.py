"""The ``/sim/`` admin endpoints: accounts, markets, liquidity, time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from polyexec.sim.admin import loopback_only
from polyexec.sim.app import RunningSimulator
from polyexec.sim.contracts import SimMarket
from tests.sim.conftest import Trader

D = Decimal


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with http.request(method, url, json=body) as resp:
        return resp.status, await resp.json()


async def test_loopback_only() -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    class FarTransport:
        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return ("203.0.113.9", 5555) if name == "peername" else default

    far = make_mocked_request("GET", "/sim/status", transport=FarTransport())
    assert (await loopback_only(far, handler)).status == 403
    public = make_mocked_request("GET", "/book", transport=FarTransport())
    assert (await loopback_only(public, handler)).status == 200


async def test_markets_liquidity_and_account_view(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    admin = sim.admin_url
    status, market = await call(
        http, "POST", admin + "/markets", {"asset": "eth", "window_start": 1_800_000_000}
    )
    assert (status, market["slug"], market["resolved"]) == (200, "eth-updown-15m-1800000000", False)
    status, markets = await call(http, "GET", admin + "/markets")
    assert [m["condition_id"] for m in markets] == [market["condition_id"]]
    up = market["up_token_id"]
    order = {"account": "mm", "token_id": up, "side": "SELL", "price": "0.5", "size": "10"}
    assert (await call(http, "POST", admin + "/orders", order))[0] == 200
    status, refused = await call(http, "POST", admin + "/orders", {**order, "price": "0.505"})
    assert (status, refused["error"]) == (400, "order refused: price 0.505 breaks the tick size 0.01")

    alice = Trader("alice")
    await alice.register(http, sim.base_url)
    status, taken = await alice.request(http, "POST", sim.base_url, "/order", alice.order(up, 0.5, 10))
    assert taken["status"] == "matched"
    status, view = await call(http, "GET", f"{admin}/accounts/{alice.address}")
    assert view["balances"] == {"pUSD": "994.825"}  # 5 pUSD plus the 0.175 taker fee
    assert (view["orders_submitted"], view["open_orders"], view["trades"][0]["fee"]) == (1, [], "0.175")
    assert view["trades"][0]["status"] == "TRADE_STATUS_MATCHED"
    assert (await call(http, "POST", admin + "/trades/settle"))[1] == {"settled": 2}
    status, view = await call(http, "GET", f"{admin}/accounts/{alice.address}")
    assert (view["positions"], view["incoming"]["shares"]) == ({up: "10"}, {})

    status, resolved = await call(
        http,
        "POST",
        f"{admin}/markets/{market['condition_id']}/resolve",
        {"winner": "Up", "final_price": "3000.5"},
    )
    assert (resolved["resolved"], resolved["winner"], resolved["final_price"]) == (True, "Up", "3000.5")
    status, view = await call(http, "GET", f"{admin}/accounts/{alice.address}")
    assert (view["balances"], view["positions"]) == ({"pUSD": "1004.825"}, {})
    assert (await call(http, "GET", admin + "/accounts/0x" + "00" * 20))[0] == 404


async def test_fund_wallets_clock_and_status(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    admin = sim.admin_url
    wallet = "0x" + "56" * 20
    status, view = await call(http, "POST", f"{admin}/accounts/{wallet}/fund", {"amount": "25.5"})
    assert (status, view["balances"]) == (200, {"pUSD": "1025.5"})
    status, refused = await call(http, "POST", f"{admin}/accounts/{wallet}/fund", {"amount": "-5000"})
    assert (status, refused["error"]) == (400, f"balance of {wallet} would become negative")
    owner = Trader("owner").address
    status, _ = await call(
        http, "POST", admin + "/wallets", {"owner": owner, "wallet": wallet, "signature_type": 2}
    )
    assert status == 200
    assert sim.simulator.exchange.ledger.wallet_for(owner, 2) == wallet
    before = sim.simulator.clock.now()
    status, advanced = await call(http, "POST", admin + "/clock/advance", {"seconds": 30})
    assert advanced["now"] >= before + 30
    status, summary = await call(http, "GET", admin + "/status")
    assert (summary["markets"], summary["faults"]) == (0, [])
    assert (await call(http, "POST", admin + "/binance/shutdown"))[0] == 404  # no driver here


async def test_allowances_cap_buys_are_spent_and_revoked_shares_refuse_sells(
    sim: RunningSimulator, market: SimMarket, http: aiohttp.ClientSession
) -> None:
    admin, base, up = sim.admin_url, sim.base_url, market.up_token_id
    alice = Trader("alice")
    await alice.register(http, base)
    allowance_url = f"{admin}/accounts/{alice.address}/allowance"
    status, view = await call(http, "POST", allowance_url, {"pusd": "10"})
    assert (status, view["allowance"], view["available"]) == (
        200,
        {"pUSD": "10", "shares": True},
        {"pUSD": "10"},
    )
    status, refused = await alice.request(http, "POST", base, "/order", alice.order(up, 0.50, 21))
    assert (status, refused["code"]) == (400, "INVALID_ORDER_NOT_ENOUGH_BALANCE")
    assert refused["error"] == "not enough balance / allowance: balance: 10, order amount: 10.5"
    sim.simulator.exchange.place_background_order("mm", up, "SELL", D("0.50"), D(10))
    status, taken = await alice.request(http, "POST", base, "/order", alice.order(up, 0.50, 10))
    assert (status, taken["status"]) == (200, "matched")
    status, collateral = await alice.request(http, "GET", base, "/balance-allowance", asset_type="COLLATERAL")
    assert set(collateral["allowances"].values()) == {"4825000"}  # 10 − 5 − the 0.175 taker fee
    assert (await call(http, "POST", admin + "/trades/settle"))[0] == 200

    status, view = await call(http, "POST", allowance_url, {"shares": False})
    assert view["allowance"] == {"pUSD": "4.825", "shares": False}
    status, shares = await alice.request(
        http, "GET", base, "/balance-allowance", asset_type="CONDITIONAL", token_id=up
    )
    assert (shares["balance"], set(shares["allowances"].values())) == ("10000000", {"0"})
    status, refused = await alice.request(
        http, "POST", base, "/order", alice.order(up, 0.60, 10, side="SELL")
    )
    assert (status, refused["code"]) == (400, "INVALID_ORDER_NOT_ENOUGH_BALANCE")
    status, view = await call(http, "POST", allowance_url, {"pusd": None, "shares": True})
    assert view["allowance"] == {"pUSD": None, "shares": True}
    status, placed = await alice.request(http, "POST", base, "/order", alice.order(up, 0.60, 10, side="SELL"))
    assert (status, placed["status"]) == (200, "live")
    for bad in ({"pusd": "-1"}, {"pusd": "x"}, {"pusd": "Infinity"}, {"pusd": "0.0000001"}, {"shares": "no"}):
        assert (await call(http, "POST", allowance_url, bad))[0] == 400, bad
