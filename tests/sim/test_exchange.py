"""The exchange core without sockets: matching, balances, settlement, timers, events."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyexec.sim.contracts import SimClock
from polyexec.sim.errors import HeartbeatRejected, VenueError
from polyexec.sim.exchange import Exchange, ExchangeConfig
from polyexec.sim.records import OrderRequest, OrderStatus, TradeStatus
from polyexec.sim.units import taker_fee_micro
from tests.sim.conftest import make_market

T0 = 1_800_000_000
D = Decimal
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b2" * 20


class Recorder:
    """An exchange sink that keeps every message."""

    def __init__(self) -> None:
        self.market: list[dict[str, Any]] = []
        self.user: list[tuple[str, str, dict[str, Any]]] = []

    def publish_market(self, message: dict[str, Any]) -> None:
        self.market.append(message)

    def publish_user(self, owner: str, market: str, message: dict[str, Any]) -> None:
        self.user.append((owner, market, message))

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [m for m in self.market if m["event_type"] == event_type]


@pytest.fixture
def clock() -> SimClock:
    return SimClock(start=T0)


@pytest.fixture
def exchange(clock: SimClock) -> Exchange:
    ex = Exchange(
        clock, ExchangeConfig(mined_delay_ms=1000, confirmed_delay_ms=1000, failed_delay_ms=1000), seed=3
    )
    ex.add_market(MARKET)
    return ex


MARKET = make_market(window_start=T0)
UP = MARKET.up_token_id
DOWN = MARKET.down_token_id
_ids = iter(range(10**6))


def request(
    who: str, side: str, price: str, shares: str, order_type: str = "GTC", **extra: Any
) -> OrderRequest:
    """A verified client order for ``shares`` at ``price`` (amounts as the SDK computes them)."""
    shares_micro = int(D(shares) * 1_000_000)
    pusd_micro = int(D(shares) * D(price) * 1_000_000)
    maker_amount, taker_amount = (pusd_micro, shares_micro) if side == "BUY" else (shares_micro, pusd_micro)
    return OrderRequest(
        id=f"0x{next(_ids):064x}",
        owner=f"key-{who}",
        signer=who,
        maker=who,
        signature_type=0,
        asset_id=extra.pop("asset_id", UP),
        side=side,
        maker_amount=maker_amount,
        taker_amount=taker_amount,
        order_type=order_type,
        **extra,
    )


def place(exchange: Exchange, req: OrderRequest) -> Any:
    return exchange.submit(exchange.prepare(req))


def pusd(exchange: Exchange, who: str) -> Decimal:
    account = exchange.account(who)
    assert account is not None
    return D(account.balance) / 1_000_000


def test_price_time_priority_and_maker_price(exchange: Exchange) -> None:
    first = exchange.place_background_order("m1", UP, "SELL", D("0.55"), D(10))
    second = exchange.place_background_order("m2", UP, "SELL", D("0.55"), D(10))
    better = exchange.place_background_order("m3", UP, "SELL", D("0.54"), D(5))
    placement = place(exchange, request(ALICE, "BUY", "0.60", "12"))
    fills = [(t.maker_order.id, t.size, t.price) for t in placement.trades]
    assert fills == [(better, 5_000_000, D("0.54")), (first, 7_000_000, D("0.55"))]
    assert exchange.order(second).size_matched == 0
    assert placement.order.status == OrderStatus.MATCHED
    assert placement.status == "matched"
    # price improvement went to the taker: 5×0.54 + 7×0.55 plus the taker fee, not 12×0.60
    fee = taker_fee_micro(5_000_000, D("0.54"), D("0.07")) + taker_fee_micro(7_000_000, D("0.55"), D("0.07"))
    assert pusd(exchange, ALICE) == 1000 - D("2.7") - D("3.85") - D(fee) / 1_000_000


def test_partial_fill_rests_the_rest_and_reserves_it(exchange: Exchange) -> None:
    exchange.place_background_order("m1", UP, "SELL", D("0.50"), D(4))
    placement = place(exchange, request(ALICE, "BUY", "0.50", "10"))
    order = placement.order
    assert (order.size_matched, order.status) == (4_000_000, OrderStatus.LIVE)
    assert exchange.best_bid_ask(UP) == (D("0.50"), None)
    account = exchange.account(ALICE)
    assert account is not None
    assert account.reserved_pusd() == 3_000_000  # the 6 resting shares at 0.50
    # 997.93 pUSD left after the fill, 3 of them reserved: 1005 × 0.99 = 994.95 does not fit
    assert pusd(exchange, ALICE) == D("997.93")
    with pytest.raises(VenueError, match="not enough balance / allowance"):
        place(exchange, request(ALICE, "BUY", "0.99", "1005"))
    assert place(exchange, request(ALICE, "BUY", "0.99", "1004")).status == "live"


def test_sell_needs_shares_and_gets_them_after_mining(exchange: Exchange, clock: SimClock) -> None:
    with pytest.raises(VenueError, match="not enough balance / allowance") as refused:
        place(exchange, request(ALICE, "SELL", "0.50", "5"))
    assert refused.value.code == "INVALID_ORDER_NOT_ENOUGH_BALANCE"
    exchange.place_background_order("m1", UP, "SELL", D("0.40"), D(10))
    place(exchange, request(ALICE, "BUY", "0.40", "10"))
    with pytest.raises(VenueError):  # matched but not mined: the shares are not there yet
        place(exchange, request(ALICE, "SELL", "0.50", "5"))
    clock.advance(1.0)
    exchange.process_due()
    assert place(exchange, request(ALICE, "SELL", "0.50", "5")).status == "live"


def test_trade_progresses_matched_mined_confirmed(exchange: Exchange, clock: SimClock) -> None:
    sink = Recorder()
    exchange.add_sink(sink)
    exchange.place_background_order("m1", UP, "SELL", D("0.50"), D(10))
    trade = place(exchange, request(ALICE, "BUY", "0.50", "10")).trades[0]
    assert (trade.status, trade.transaction_hash) == (TradeStatus.MATCHED, "")
    clock.advance(1.0)
    exchange.process_due()
    assert trade.status == TradeStatus.MINED
    assert trade.transaction_hash.startswith("0x")
    assert len(trade.transaction_hash) == 66
    clock.advance(1.0)
    exchange.process_due()
    assert trade.status == TradeStatus.CONFIRMED
    statuses = [
        m["status"] for owner, _, m in sink.user if m["event_type"] == "trade" and owner == "key-" + ALICE
    ]
    assert statuses == ["MATCHED", "MINED", "CONFIRMED"]
    account = exchange.account(ALICE)
    assert account is not None
    assert account.positions == {UP: 10_000_000}


def test_ghost_fill_fails_and_is_reversed(clock: SimClock) -> None:
    exchange = Exchange(clock, ExchangeConfig(failed_delay_ms=500), seed=1, ghost_rate=lambda: 1.0)
    exchange.add_market(MARKET)
    exchange.place_background_order("m1", UP, "SELL", D("0.30"), D(10))
    trade = place(exchange, request(ALICE, "BUY", "0.30", "10")).trades[0]
    assert pusd(exchange, ALICE) < 1000
    clock.advance(0.5)
    exchange.process_due()
    assert trade.status == TradeStatus.FAILED
    account = exchange.account(ALICE)
    assert account is not None
    assert (pusd(exchange, ALICE), account.positions, account.incoming_shares) == (1000, {}, {})


def test_a_configured_fraction_of_trades_fails(clock: SimClock) -> None:
    exchange = Exchange(clock, ExchangeConfig(failed_fraction=0.3), seed=5)
    exchange.add_market(MARKET)
    trades = []
    for _ in range(200):
        exchange.place_background_order("m1", UP, "SELL", D("0.50"), D(5))
        trades += place(exchange, request(ALICE, "BUY", "0.50", "5")).trades
    exchange.settle_all()
    failed = sum(t.status == TradeStatus.FAILED for t in trades)
    assert 40 <= failed <= 80
    assert {t.status for t in trades} == {TradeStatus.FAILED, TradeStatus.CONFIRMED}
    account = exchange.account(ALICE)
    assert account is not None
    assert account.positions == {UP: (200 - failed) * 5_000_000}  # every failed fill was undone


def test_the_taker_fee_must_fit_the_balance(exchange: Exchange) -> None:
    exchange.place_background_order("m1", UP, "SELL", D("0.50"), D(3000))
    with pytest.raises(VenueError, match="order amount: 1035"):  # 1000 notional + 35 fee
        place(exchange, request(ALICE, "BUY", "0.50", "2000"))
    place(exchange, request(ALICE, "BUY", "0.50", "1900"))
    assert pusd(exchange, ALICE) == 1000 - 950 - D("33.25")


def test_background_history_is_not_kept(exchange: Exchange) -> None:
    maker = exchange.place_background_order("m1", UP, "SELL", D("0.50"), D(5))
    taker = exchange.place_background_order("t", UP, "BUY", D("0.50"), D(5), "FAK")
    assert (exchange.order(maker), exchange.order(taker)) == (None, None)
    assert exchange.stats()["trades"] == 1
    exchange.settle_all()
    assert exchange.stats() == {
        "markets": 1, "orders": 0, "open_orders": 0, "trades": 0, "pending_trades": 0, "accounts": 0,
    }  # fmt: skip


def test_fok_fak_and_market_buy_budget(exchange: Exchange) -> None:
    exchange.place_background_order("m1", UP, "SELL", D("0.50"), D(6))
    exchange.place_background_order("m1", UP, "SELL", D("0.52"), D(100))
    with pytest.raises(VenueError, match="FOK orders are fully filled or killed"):
        place(exchange, request(ALICE, "BUY", "0.50", "10", "FOK"))
    with pytest.raises(VenueError, match="no orders found to match with FAK order"):
        place(exchange, request(ALICE, "BUY", "0.45", "10", "FAK"))
    fak = place(exchange, request(ALICE, "BUY", "0.50", "10", "FAK")).order
    assert (fak.size_matched, fak.status) == (6_000_000, OrderStatus.CANCELED)
    # a market BUY spends its pUSD budget: $5.20 at 0.52 buys exactly 10 shares
    budget = OrderRequest(
        id="0x" + "f" * 64, owner="key-b", signer=BOB, maker=BOB, signature_type=0, asset_id=UP,
        side="BUY", maker_amount=5_200_000, taker_amount=9_000_000, order_type="FOK",
    )  # fmt: skip
    bought = place(exchange, budget).order
    assert (bought.size_matched, bought.spent, bought.status) == (10_000_000, 5_200_000, OrderStatus.MATCHED)


def test_refusals_use_the_venue_messages(exchange: Exchange, clock: SimClock) -> None:
    exchange.place_background_order("m1", UP, "SELL", D("0.50"), D(10))
    cases = [
        (request(ALICE, "BUY", "0.505", "10"), "breaks minimum tick size rule: 0.01"),
        (request(ALICE, "BUY", "0.40", "4.99"), "Size (4.99) lower than the minimum: 5"),
        (request(ALICE, "BUY", "0.50", "10", post_only=True), "invalid post-only order: order crosses book"),
        (request(ALICE, "BUY", "0.50", "10", "FOK", post_only=True), "post-only orders must be GTC or GTD"),
        (request(ALICE, "BUY", "0.40", "10", "GTD", expiration=T0 + 170), "invalid expiration"),
    ]
    for req, message in cases:
        with pytest.raises(VenueError) as refused:
            place(exchange, req)
        assert message in refused.value.message
        assert refused.value.status == 400
    ok = request(ALICE, "BUY", "0.40", "10")
    place(exchange, ok)
    with pytest.raises(VenueError, match=r"is invalid\. Duplicated\."):
        place(exchange, ok)


def test_gtd_expires_sixty_seconds_early(exchange: Exchange, clock: SimClock) -> None:
    order = place(exchange, request(ALICE, "BUY", "0.40", "10", "GTD", expiration=T0 + 300)).order
    clock.advance(239)
    exchange.process_due()
    assert order.is_open
    clock.advance(1)
    exchange.process_due()
    assert order.status == OrderStatus.CANCELED_EXPIRED_ORDER
    assert exchange.best_bid_ask(UP) == (None, None)


def test_heartbeat_lapse_cancels_only_after_the_first_heartbeat(exchange: Exchange, clock: SimClock) -> None:
    order = place(exchange, request(ALICE, "BUY", "0.40", "10")).order
    clock.advance(60)
    exchange.process_due()
    assert order.is_open  # never sent a heartbeat: not watched
    first = exchange.heartbeat("key-" + ALICE, "")
    with pytest.raises(HeartbeatRejected) as wrong:
        exchange.heartbeat("key-" + ALICE, "stale-id")
    assert wrong.value.expected == first
    clock.advance(15)
    exchange.process_due()
    assert order.is_open  # 15 s is still within 10 s + 5 s
    clock.advance(0.01)
    exchange.process_due()
    assert order.status == OrderStatus.CANCELED


def test_resolution_cancels_pays_and_closes_the_book(exchange: Exchange, clock: SimClock) -> None:
    exchange.place_background_order("m1", UP, "SELL", D("0.60"), D(10))
    place(exchange, request(ALICE, "BUY", "0.60", "10"))
    clock.advance(1)
    exchange.process_due()
    resting = place(exchange, request(ALICE, "BUY", "0.30", "10", asset_id=DOWN)).order
    before = pusd(exchange, ALICE)
    exchange.resolve_market(MARKET.condition_id, "Up", D("100000"))
    assert resting.status == OrderStatus.CANCELED_MARKET_RESOLVED
    assert pusd(exchange, ALICE) == before + 10
    assert exchange.book(UP) is None
    with pytest.raises(VenueError, match="not yet ready"):
        place(exchange, request(ALICE, "BUY", "0.30", "10"))
    with pytest.raises(ValueError, match="not trading"):
        exchange.place_background_order("m1", UP, "BUY", D("0.5"), D(5))


def test_market_events_are_batched_and_ordered(exchange: Exchange) -> None:
    sink = Recorder()
    exchange.add_sink(sink)
    for price in ("0.40", "0.42", "0.41"):
        exchange.place_background_order("m1", UP, "BUY", D(price), D(10))
    exchange.place_background_order("m1", UP, "SELL", D("0.60"), D(10))
    change = sink.of_type("price_change")[-1]
    entry = change["price_changes"][0]
    assert (entry["price"], entry["size"], entry["side"], entry["best_bid"], entry["best_ask"]) == (
        "0.6", "10", "SELL", "0.42", "0.6",
    )  # fmt: skip
    exchange.place_background_order("t", UP, "SELL", D("0.41"), D(15), "FAK")
    last = sink.of_type("last_trade_price")
    assert [(m["price"], m["size"], m["side"]) for m in last] == [
        ("0.42", "10", "SELL"),
        ("0.41", "5", "SELL"),
    ]
    book = sink.of_type("book")[-1]
    assert [lvl["price"] for lvl in book["bids"]] == ["0.4", "0.41"]  # ascending, best last
    assert book["bids"][-1]["size"] == "5"
    assert sink.of_type("best_bid_ask")[-1]["best_bid"] == "0.41"


def test_cancel_all_batches_one_price_change_per_market(exchange: Exchange) -> None:
    for token in (UP, DOWN):
        place(exchange, request(ALICE, "BUY", "0.30", "10", asset_id=token))
    sink = Recorder()
    exchange.add_sink(sink)
    canceled = exchange.cancel_all("key-" + ALICE)
    assert len(canceled) == 2
    changes = sink.of_type("price_change")
    assert len(changes) == 1
    assert {(c["asset_id"], c["size"]) for c in changes[0]["price_changes"]} == {(UP, "0"), (DOWN, "0")}
    assert [m["type"] for _, _, m in sink.user] == ["CANCELLATION", "CANCELLATION"]
    assert exchange.cancel("key-" + ALICE, [canceled[0], "0xnope"])[1] == {
        canceled[0]: "Order not found or already canceled",
        "0xnope": "Order not found or already canceled",
    }


def test_tick_size_switches_near_the_edges(exchange: Exchange) -> None:
    sink = Recorder()
    exchange.add_sink(sink)
    exchange.place_background_order("m1", UP, "BUY", D("0.97"), D(10))
    exchange.place_background_order("m1", UP, "SELL", D("0.98"), D(10))
    changes = sink.of_type("tick_size_change")
    assert {(c["asset_id"], c["old_tick_size"], c["new_tick_size"]) for c in changes} == {
        (UP, "0.01", "0.001"),
        (DOWN, "0.01", "0.001"),
    }
    assert exchange.tick_size(UP) == D("0.001")
    place(exchange, request(ALICE, "BUY", "0.975", "10"))


def test_tick_size_thresholds_low_side_and_way_back(exchange: Exchange) -> None:
    sink = Recorder()
    exchange.add_sink(sink)
    exchange.place_background_order("m1", UP, "BUY", D("0.95"), D(10))
    exchange.place_background_order("m1", UP, "SELL", D("0.97"), D(10))  # mid 0.96: not above
    exchange.cancel_background_orders("m1")
    exchange.place_background_order("m1", UP, "BUY", D("0.03"), D(10))
    exchange.place_background_order("m1", UP, "SELL", D("0.05"), D(10))  # mid 0.04: not below
    assert (sink.of_type("tick_size_change"), exchange.tick_size(UP)) == ([], D("0.01"))
    exchange.place_background_order("m1", UP, "SELL", D("0.04"), D(10))  # mid 0.035
    assert [(c["asset_id"], c["new_tick_size"]) for c in sink.of_type("tick_size_change")] == [
        (UP, "0.001"),
        (DOWN, "0.001"),
    ]
    exchange.cancel_background_orders("m1")  # an empty book shows no price: the tick stays
    assert (len(sink.of_type("tick_size_change")), exchange.tick_size(DOWN)) == (2, D("0.001"))
    exchange.place_background_order("m1", UP, "BUY", D("0.50"), D(10))
    exchange.place_background_order("m1", UP, "SELL", D("0.52"), D(10))
    back = sink.of_type("tick_size_change")[2:]
    assert [(c["asset_id"], c["old_tick_size"], c["new_tick_size"]) for c in back] == [
        (UP, "0.001", "0.01"),
        (DOWN, "0.001", "0.01"),
    ]
    with pytest.raises(VenueError, match=r"Price \(0.505\) breaks minimum tick size rule: 0.01"):
        place(exchange, request(ALICE, "BUY", "0.505", "10"))


class FrozenClock(SimClock):
    """A clock that moves only when told to (for exact boundaries)."""

    def now(self) -> float:
        return self._sim_anchor


def test_gtd_expiration_must_be_at_least_three_minutes_ahead() -> None:
    exchange = Exchange(FrozenClock(start=T0), seed=1)
    exchange.add_market(MARKET)
    with pytest.raises(VenueError, match="invalid expiration") as refused:
        place(exchange, request(ALICE, "BUY", "0.40", "10", "GTD", expiration=T0 + 179))
    assert refused.value.code == "INVALID_ORDER_EXPIRATION"
    with pytest.raises(VenueError, match="invalid expiration"):
        place(exchange, request(ALICE, "BUY", "0.40", "10", "GTD", expiration=T0 - 1))
    order = place(exchange, request(ALICE, "BUY", "0.40", "10", "GTD", expiration=T0 + 180)).order
    assert (order.is_open, order.expiration) == (True, T0 + 180)


def test_same_seed_same_ids(clock: SimClock) -> None:
    def run() -> list[str]:
        ex = Exchange(SimClock(start=T0), seed=11)
        ex.add_market(MARKET)
        ex.place_background_order("m1", UP, "SELL", D("0.5"), D(10))
        return [t.id for t in place(ex, request(BOB, "BUY", "0.5", "10")).trades] + [ex.heartbeat("k", "")]

    assert run() == run()


def test_background_orders_refuse_bad_input(exchange: Exchange) -> None:
    for args in (
        (UP, "HOLD", D("0.5"), D(5), "GTC"),
        (UP, "BUY", D("0.505"), D(5), "GTC"),
        (UP, "BUY", D("0.5"), D(0), "GTC"),
        ("999", "BUY", D("0.5"), D(5), "GTC"),
        (UP, "BUY", D("0.5"), D(5), "FOK"),
    ):
        with pytest.raises(ValueError):
            exchange.place_background_order("m1", *args)


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["alice", "bob", "mm"]),
            st.sampled_from(["BUY", "SELL"]),
            st.integers(min_value=30, max_value=70),
            st.integers(min_value=5, max_value=40),
            st.sampled_from(["GTC", "FAK"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_books_never_cross_and_pusd_is_conserved(orders: list[tuple[str, str, int, int, str]]) -> None:
    exchange = Exchange(SimClock(start=T0), seed=5)
    exchange.add_market(MARKET)
    for who, side, cents, size, order_type in orders:
        price = D(cents) / 100
        address = "0x" + who.encode().hex().ljust(40, "0")
        with contextlib.suppress(ValueError, VenueError):  # refusals are part of the game
            if who == "mm":
                exchange.place_background_order("mm", UP, side, price, D(size), order_type)
            else:
                place(exchange, request(address, side, str(price), str(size), order_type))
        bid, ask = exchange.best_bid_ask(UP)
        assert bid is None or ask is None or bid < ask
    exchange.settle_all()
    for account in exchange.ledger.accounts():
        assert account.balance >= 0
        assert all(size > 0 for size in account.positions.values())
        me = account.address.lower()
        spent = 0
        for t in account.trades:  # the taker pays the fee: on top of a BUY, out of a SELL's proceeds
            if t.buyer.account == me:
                spent += t.notional + (t.fee if t.side == "BUY" else 0)
            if t.seller.account == me:
                spent -= t.notional - (t.fee if t.side == "SELL" else 0)
        assert account.balance == 1000 * 1_000_000 - spent
