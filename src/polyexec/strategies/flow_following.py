"""Flow following (``FF``): ride a sudden move or an unusually large trade, then get out fast.

FF watches the market channel (:meth:`FlowFollowingStrategy.observe`), keeping per outcome token
a short price history and recent trade sizes. In each decision pass it looks, per market, for:

* **a sudden move**: the token's price moved at least ``params.min_move_cents`` within the last
  ``window_s`` seconds (latest price against the price in force when the window began). A slow
  drift that never covers the threshold inside one window does not count, nor does a spike that
  already reversed (a sharp drop after a rise counts once the rise has left the window);
* **a large trade**: a print of at least ``large_trade_multiple`` × the median size of the
  token's previous ``trade_size_memory`` trades (once ``min_trades_for_median`` were seen),
  within the window. A taker BUY of a token is flow into it, a taker SELL flow out of it.

It follows with a marketable ``FAK`` (or ``FOK``) **BUY** of the token moving up; a token moving
down is followed by buying the *other* outcome (FF never sells what it does not hold). When the
signals point at both outcomes at once, the market is left alone.

Prices are the mid of the top of book (``BookSnapshot``, ``PriceChange`` best bid/ask,
``BestBidAsk``) and each ``LastTradePrice``; a trade prints half a spread from the mid, so keep
``min_move_cents`` well above half the usual spread. Time is ``observe``'s ``now_ms``.

Entries, strictly limited:

* only on a ``tradable`` window with **both** books trusted (the signal reads both), between
  ``limits.min_seconds_to_end`` and ``limits.max_seconds_to_end`` before the end;
* not for ``cooldown_s`` after each FF entry *or exit* in the market (so FF chases neither the
  move that just stopped it out nor its own print; the cooldown outlasts the move window, so
  no move is acted on twice); not while FF holds the market or has an order in flight there,
  nor when an earlier strategy of the pass proposed something for it (or a cancel-all);
* the book must be two-sided, its spread within ``limits.max_spread_pct`` and at least
  ``limits.min_depth_usd`` on each side (what the risk manager demands anyway);
* the worst price (the FAK limit) is the best ask + ``limits.max_slippage_cents``, rounded down
  to the tick; the size is the largest that keeps ``limit × size`` within
  ``limits.max_trade_usd``, fills from the visible book at or below the limit and keeps the
  estimated fill (:meth:`OrderBook.estimate_fill`) within ``limits.max_slippage_pct`` of the
  touch. **An entry that cannot reach the market's minimum size (5 shares) within those bounds
  is not proposed**: a thin book yields nothing, and with the ``default`` preset's $1 trades FF
  only buys tokens at 0.20 or less;
* a token whose best ask plus the take-profit target reaches 1 is not bought.

Exits, for the holdings FF owns (``Holding.strategy == "FF"``), until the window ends, even on
a window that is not tradable (reductions are always allowed), but never on an untrusted book:

* take profit when the best bid ≥ average cost + ``take_profit_cents``;
* stop out when the best bid ≤ average cost − ``stop_loss_cents``;

each a ``FAK`` SELL with ``reduces_position=True``, limit best bid − ``limits.max_slippage_cents``
(rounded up to the tick), of the *sellable* (confirmed) shares not already offered, within the
entries' slippage bounds. An exit never leaves a remainder below the venue minimum (it could
never be sold); a holding below it is held to resolution. Fees are not in the triggers: set the
target above the round trip's taker fees (at most 1.75 ¢ a side, at p = 0.5).

Following wallets (``TARGET_ADDRESSES``) is **not possible with the current feeds**: market
channel trades carry no wallet address, and the user channel (``UserTradeEvent``) reports only
our own trades (its maker entries name an API-key owner, not a wallet). FF therefore follows the
whole market's flow whatever ``params.target_addresses`` holds, says so in each entry's reason
when addresses are configured, and :meth:`FlowFollowingStrategy.address_following_note` gives
the engine a sentence to log. Following wallets needs a data source (e.g. on-chain fills).

Memory is bounded: per token ``history_limit`` price samples (older than the window dropped, an
unchanged price adds none) and ``trade_size_memory`` trade sizes; ``max_tracked_tokens`` tokens
(the least recently updated forgotten: markets roll every 15 minutes); expired cooldowns go.
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from polyexec.core.events import BestBidAsk, BookSnapshot, FeedEvent, LastTradePrice, PriceChange
from polyexec.core.models import (
    ONE,
    ZERO,
    BookLevel,
    CancelIntent,
    CancelScope,
    Market,
    OrderIntent,
    OrderType,
    Outcome,
    Side,
    TimestampMs,
)
from polyexec.core.order_book import OrderBook
from polyexec.core.pricing import Rounding, quantize_price, quantize_size, rounding_config
from polyexec.core.risk_limits import RiskLimits
from polyexec.strategies.context import Holding, Proposal, StrategyContext, StrategyParams, WindowView

__all__ = ["FlowFollowingStrategy", "FlowSignal"]

_NAME: Final = "FF"
_HUNDRED: Final = Decimal(100)
_SECOND_MS: Final = 1_000
_LEFTOVER: Final = "FF never rests orders: cancel leftover"
_Price = Decimal | None


@dataclass(frozen=True, slots=True)
class FlowSignal:
    """A market's flow pointing at one outcome: buy ``token_id`` (``outcome``) because of
    ``evidence`` (human-readable, e.g. ``"Up +4.0c in 10s"``)."""

    condition_id: str
    token_id: str
    outcome: Outcome
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _LargeTrade:
    time_ms: TimestampMs
    side: Side
    size: Decimal
    median: Decimal


class _TokenFlow:
    """What FF remembers about one token: top of book, price samples, recent trade sizes."""

    __slots__ = ("ask", "bid", "large_trade", "last_ms", "samples", "trade_sizes")

    def __init__(self, history_limit: int, trade_size_memory: int) -> None:
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.last_ms: TimestampMs | None = None
        # (time, price), oldest first; a step function: each price holds until the next sample.
        self.samples: deque[tuple[TimestampMs, Decimal]] = deque(maxlen=history_limit)
        self.trade_sizes: deque[Decimal] = deque(maxlen=trade_size_memory)
        self.large_trade: _LargeTrade | None = None

    def stamp(self, now_ms: TimestampMs) -> TimestampMs:
        # The history must stay in time order even if the engine's clock steps back.
        self.last_ms = now_ms if self.last_ms is None else max(now_ms, self.last_ms)
        return self.last_ms

    def record_price(self, time_ms: TimestampMs, price: Decimal, window_ms: int) -> None:
        samples = self.samples
        if samples and samples[-1][1] == price:
            return
        samples.append((time_ms, price))
        # Keep one sample at or before the window's start: the price in force when it began.
        horizon = time_ms - window_ms
        while len(samples) >= 2 and samples[1][0] <= horizon:
            samples.popleft()

    def record_quote(self, time_ms: TimestampMs, window_ms: int) -> None:
        bid, ask = self.bid, self.ask
        if bid is not None and ask is not None and bid < ask:
            self.record_price(time_ms, (bid + ask) / 2, window_ms)

    def record_trade(
        self, time_ms: TimestampMs, side: Side, size: Decimal, multiple: Decimal, minimum: int
    ) -> None:
        sizes = self.trade_sizes
        if len(sizes) >= minimum:
            median: Decimal = statistics.median(sizes)  # exact on Decimals
            if median > ZERO and size >= multiple * median:
                self.large_trade = _LargeTrade(time_ms, side, size, median)
        sizes.append(size)

    def move(self, start_ms: TimestampMs, now_ms: TimestampMs) -> Decimal:
        """The latest price at ``now_ms`` minus the price in force at ``start_ms`` (the first
        price seen after it when none is older); zero without two prices."""
        baseline: Decimal | None = None
        latest: Decimal | None = None
        for time_ms, price in self.samples:
            if time_ms > now_ms:
                break
            if baseline is None or time_ms <= start_ms:
                baseline = price
            latest = price
        if baseline is None or latest is None:
            return ZERO
        return latest - baseline


class FlowFollowingStrategy:
    """The flow-following strategy (the rules are in the module documentation).

    ``window_s``: the span a move must happen within. ``cooldown_s``: no entry in a market for
    this long after FF's last entry or exit there; it must exceed ``window_s`` so the prints of
    FF's own order have left the window when it ends. ``take_profit_cents``/``stop_loss_cents``:
    exit thresholds against the average cost. A trade is large when its size is ≥
    ``large_trade_multiple`` × the median of the token's last ``trade_size_memory`` trade sizes
    (once ``min_trades_for_median`` were seen). ``entry_order_type``: FAK (take what the book
    has within the limit) or FOK (all or nothing). A bad value is a ``ValueError`` naming it.
    """

    def __init__(
        self,
        *,
        window_s: int = 10,
        cooldown_s: int = 60,
        take_profit_cents: Decimal = Decimal(5),
        stop_loss_cents: Decimal = Decimal(3),
        large_trade_multiple: Decimal = Decimal(5),
        min_trades_for_median: int = 10,
        trade_size_memory: int = 50,
        entry_order_type: OrderType = OrderType.FAK,
        history_limit: int = 256,
        max_tracked_tokens: int = 64,
    ) -> None:
        _require_whole("window_s", window_s, 1)
        _require_whole("cooldown_s", cooldown_s, window_s + 1)  # must outlast the move window
        _require_whole("min_trades_for_median", min_trades_for_median, 1)
        _require_whole("trade_size_memory", trade_size_memory, min_trades_for_median)
        _require_whole("history_limit", history_limit, 2)
        _require_whole("max_tracked_tokens", max_tracked_tokens, 2)
        for name, value, floor in (
            ("take_profit_cents", take_profit_cents, ZERO),
            ("stop_loss_cents", stop_loss_cents, ZERO),
            ("large_trade_multiple", large_trade_multiple, ONE),
        ):
            if not isinstance(value, Decimal) or not value.is_finite() or value <= floor:
                raise ValueError(f"{name} must be a Decimal above {floor}, got {value!r}")
        if OrderType(entry_order_type) not in (OrderType.FAK, OrderType.FOK):
            raise ValueError(f"entry_order_type must be FAK or FOK, got {entry_order_type}")
        self._window_ms = window_s * _SECOND_MS
        self._window_s = window_s
        self._cooldown_ms = cooldown_s * _SECOND_MS
        self._take_profit = take_profit_cents / _HUNDRED
        self._stop_loss = stop_loss_cents / _HUNDRED
        self._multiple = large_trade_multiple
        self._min_trades = min_trades_for_median
        self._trade_memory = trade_size_memory
        self._entry_type = OrderType(entry_order_type)
        self._history_limit = history_limit
        self._max_tokens = max_tracked_tokens
        self._tokens: OrderedDict[str, _TokenFlow] = OrderedDict()
        self._last_action_ms: dict[str, TimestampMs] = {}
        self._skipped = 0

    @property
    def name(self) -> str:
        """``"FF"``."""
        return _NAME

    @property
    def skipped_events(self) -> int:
        """Market events with a malformed price or size, ignored."""
        return self._skipped

    @property
    def tracked_tokens(self) -> int:
        """How many tokens FF currently remembers (at most ``max_tracked_tokens``)."""
        return len(self._tokens)

    def history_size(self, token_id: str) -> int:
        """Price samples plus trade sizes remembered for ``token_id`` (0 if none)."""
        flow = self._tokens.get(token_id)
        return 0 if flow is None else len(flow.samples) + len(flow.trade_sizes)

    @staticmethod
    def address_following_note(params: StrategyParams) -> str | None:
        """A sentence for the engine to log once when ``target_addresses`` is set and cannot be
        honoured (always, with the current feeds); ``None`` when no address is configured."""
        if not params.target_addresses:
            return None
        return (
            f"flow following cannot follow the {len(params.target_addresses)} configured target"
            " address(es): no feed reports other wallets' trades; it follows the whole market's flow"
        )

    # --- learning from the market channel -----------------------------------------------------

    def observe(self, event: FeedEvent, now_ms: TimestampMs) -> None:
        """Update the token's top of book, price history and trade sizes from a market-channel
        event; every other event is ignored (our own fills on the user channel are not flow)."""
        if isinstance(event, PriceChange):
            tops: dict[str, tuple[_Price, _Price]] = {}
            for change in event.changes:
                if change.best_bid is not None or change.best_ask is not None:
                    tops[change.asset_id] = (change.best_bid, change.best_ask)
            for asset_id, (bid, ask) in tops.items():
                # Absent means "not stated"; the venue writes an empty side as 0 / 1.
                self._quote(asset_id, now_ms, bid, ask, keep_absent=True)
        elif isinstance(event, BestBidAsk):
            self._quote(event.asset_id, now_ms, event.best_bid, event.best_ask, keep_absent=False)
        elif isinstance(event, BookSnapshot):
            bid, ask = _best(event.bids, highest=True), _best(event.asks, highest=False)
            self._quote(event.asset_id, now_ms, bid, ask, keep_absent=False)
        elif isinstance(event, LastTradePrice):
            self._trade(event, now_ms)

    def _flow(self, token_id: str) -> _TokenFlow:
        flow = self._tokens.get(token_id)
        if flow is None:
            flow = self._tokens[token_id] = _TokenFlow(self._history_limit, self._trade_memory)
            if len(self._tokens) > self._max_tokens:
                self._tokens.popitem(last=False)
        else:
            self._tokens.move_to_end(token_id)
        return flow

    def _quote(
        self, token_id: str, now_ms: TimestampMs, bid: _Price, ask: _Price, *, keep_absent: bool
    ) -> None:
        for value in (bid, ask):
            if value is not None and not value.is_finite():
                self._skipped += 1
                return
        flow = self._flow(token_id)
        if bid is not None or not keep_absent:
            flow.bid = bid if bid is not None and ZERO < bid < ONE else None
        if ask is not None or not keep_absent:
            flow.ask = ask if ask is not None and ZERO < ask < ONE else None
        flow.record_quote(flow.stamp(now_ms), self._window_ms)

    def _trade(self, trade: LastTradePrice, now_ms: TimestampMs) -> None:
        price, size = trade.price, trade.size
        if not (_is_price(price) and _is_size(size)):
            self._skipped += 1
            return
        flow = self._flow(trade.asset_id)
        time_ms = flow.stamp(now_ms)
        flow.record_price(time_ms, price, self._window_ms)
        flow.record_trade(time_ms, Side(trade.side), size, self._multiple, self._min_trades)

    # --- deciding ---------------------------------------------------------------------------

    def signal(self, view: WindowView, now_ms: TimestampMs, params: StrategyParams) -> FlowSignal | None:
        """The market's flow over the last ``window_s`` seconds, or ``None`` (no move, no large
        trade, or signals pointing at both outcomes). Cooldowns are not applied here."""
        market = view.market
        min_move = params.min_move_cents
        threshold = min_move / _HUNDRED if min_move.is_finite() else ZERO
        start = now_ms - self._window_ms
        evidence: dict[Outcome, list[str]] = {}
        for outcome in (Outcome.UP, Outcome.DOWN):
            flow = self._tokens.get(market.token_for(outcome))
            if flow is None:
                continue
            # A non-positive threshold switches move detection off rather than firing on noise.
            if threshold > ZERO:
                move = flow.move(start, now_ms)
                if abs(move) >= threshold:
                    follow = outcome if move > ZERO else outcome.opposite
                    evidence.setdefault(follow, []).append(
                        f"{outcome} {_cents(move, signed=True)} in {self._window_s}s"
                    )
            large = flow.large_trade
            if large is not None and start < large.time_ms <= now_ms:
                follow = outcome if large.side is Side.BUY else outcome.opposite
                evidence.setdefault(follow, []).append(
                    f"{outcome} taker {large.side} {large.size} >= {self._multiple}x median {large.median}"
                )
        if len(evidence) != 1:
            return None
        ((outcome, notes),) = evidence.items()
        return FlowSignal(market.condition_id, market.token_for(outcome), outcome, tuple(notes))

    def decide(self, context: StrategyContext) -> Sequence[Proposal]:
        """Cancels of stray resting FF orders, exits of FF holdings, then new entries."""
        now = context.now_ms
        self._forget_cooldowns(now)
        # FF only ever sends FAK/FOK orders: a resting one is a leftover (an old config, a manual
        # order tagged FF) that nothing here manages.
        proposals: list[Proposal] = [
            CancelIntent(CancelScope.ORDER, order.order_id, order.condition_id, order.token_id, _LEFTOVER)
            for order in context.resting
            if order.strategy == _NAME and not order.order_type.is_marketable_only
        ]
        busy: set[str] = set()
        for holding in context.holdings.values():
            if holding.strategy != _NAME or not _is_size(holding.shares):
                continue
            busy.add(holding.condition_id)
            exit_intent = self._exit(context, holding)
            if exit_intent is not None:
                proposals.append(exit_intent)
                self._act(holding.condition_id, now)
        busy.update(order.condition_id for order in context.resting if order.strategy == _NAME)
        for proposal in (*context.proposed, *proposals):
            if isinstance(proposal, CancelIntent) and proposal.scope is CancelScope.ALL:
                return proposals  # someone is clearing the book: no new risk now
            if proposal.condition_id is not None:
                busy.add(proposal.condition_id)
        for view in context.windows:
            if view.market.condition_id in busy:
                continue
            entry = self._entry(context, view)
            if entry is not None:
                proposals.append(entry)
                self._act(view.market.condition_id, now)
        return proposals

    def _act(self, condition_id: str, now_ms: TimestampMs) -> None:
        self._last_action_ms.pop(condition_id, None)  # re-insert: the dict stays in time order
        self._last_action_ms[condition_id] = now_ms

    def _forget_cooldowns(self, now_ms: TimestampMs) -> None:
        # An expired cooldown limits nothing. Entries are in time order (see _act), so stop at
        # the first live one; past the cap, the oldest go even if live (a bound on memory).
        actions = self._last_action_ms
        while actions:
            condition_id, time_ms = next(iter(actions.items()))
            if now_ms - time_ms < self._cooldown_ms and len(actions) <= 4 * self._max_tokens:
                break
            del actions[condition_id]

    def _entry(self, context: StrategyContext, view: WindowView) -> OrderIntent | None:
        now, limits, market = context.now_ms, context.limits, view.market
        if not (view.tradable and view.up_book.trusted and view.down_book.trusted):
            return None
        if not limits.min_seconds_to_end <= view.seconds_left(now) <= limits.max_seconds_to_end:
            return None
        last_action = self._last_action_ms.get(market.condition_id)
        if last_action is not None and now - last_action < self._cooldown_ms:
            return None
        flow = self.signal(view, now, context.params)
        if flow is None:
            return None
        book = view.book(flow.outcome)
        ask, tick = _ask_if_sound(book, limits), _tick_of(book, market)
        if ask is None or tick is None:
            return None
        limit = min(
            quantize_price(ask + limits.max_slippage_cents / _HUNDRED, tick, Rounding.DOWN),
            rounding_config(tick).max_price,
        )
        if limit < ask or ask + self._take_profit >= ONE:
            return None
        budget = _shares_for(limits.max_trade_usd, limit)
        size = _taker_size(book, Side.BUY, limit, limits.max_slippage_pct, budget, tick)
        if size < market.min_size or limit * size > limits.max_trade_usd:
            return None
        reason = f"follow {flow.outcome}: {'; '.join(flow.evidence)}; ask {ask}, limit {limit}"
        if context.params.target_addresses:
            reason += " (whole-market flow: target addresses are not observable)"
        return OrderIntent(
            strategy=_NAME,
            condition_id=market.condition_id,
            token_id=flow.token_id,
            side=Side.BUY,
            price=limit,
            size=size,
            order_type=self._entry_type,
            reason=reason,
        )

    def _exit(self, context: StrategyContext, holding: Holding) -> OrderIntent | None:
        view = context.window(holding.condition_id)
        if view is None or view.seconds_left(context.now_ms) <= 0:
            return None
        market, limits = view.market, context.limits
        if holding.token_id not in (market.up_token_id, market.down_token_id):
            return None
        book = view.book_of(holding.token_id)
        best_bid = book.best_bid()
        tick = _tick_of(book, market)
        cost = holding.average_cost
        if not book.trusted or best_bid is None or tick is None:
            return None
        if not (_is_size(cost) and holding.sellable.is_finite()):
            return None
        bid = best_bid.price
        if bid >= cost + self._take_profit:
            why = f"take profit: bid {bid} >= cost {_price(cost)} + {_cents(self._take_profit)}"
        elif bid <= cost - self._stop_loss:
            why = f"stop: bid {bid} <= cost {_price(cost)} - {_cents(self._stop_loss)}"
        else:
            return None
        available = quantize_size(max(holding.sellable - _offered(context, holding.token_id), ZERO), tick)
        limit = quantize_price(bid - limits.max_slippage_cents / _HUNDRED, tick, Rounding.UP, clamp=True)
        size = _taker_size(book, Side.SELL, limit, limits.max_slippage_pct, available, tick)
        if size < available and available - size < market.min_size:
            # What is left after this sale could never be sold on the book: leave a sellable lot.
            size = available - market.min_size
        if size < market.min_size:
            return None
        return OrderIntent(
            strategy=_NAME,
            condition_id=market.condition_id,
            token_id=holding.token_id,
            side=Side.SELL,
            price=limit,
            size=size,
            order_type=OrderType.FAK,
            reduces_position=True,
            reason=f"{why}; limit {limit}",
        )


# --- helpers ---------------------------------------------------------------------------------


def _require_whole(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _best(levels: tuple[BookLevel, ...], *, highest: bool) -> Decimal | None:
    """The best price among a snapshot's well-formed, non-empty levels (bids: highest)."""
    prices = [level.price for level in levels if _is_price(level.price) and _is_size(level.size)]
    if not prices:
        return None
    return max(prices) if highest else min(prices)


def _is_price(value: Decimal) -> bool:
    return value.is_finite() and ZERO < value < ONE


def _is_size(value: Decimal) -> bool:
    return value.is_finite() and value > ZERO


def _cents(price: Decimal, *, signed: bool = False) -> str:
    return f"{price * _HUNDRED:{'+' if signed else ''}.1f}c"


def _price(value: Decimal) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _shares_for(dollars: Decimal, price: Decimal) -> Decimal:
    """``dollars / price`` floored to the venue's 2 share decimals, exactly (a Decimal quotient
    would first be rounded to 28 digits, possibly up across a cent)."""
    dollars_num, dollars_den = dollars.as_integer_ratio()
    price_num, price_den = price.as_integer_ratio()
    return Decimal(dollars_num * price_den * 100 // (dollars_den * price_num)) / _HUNDRED


def _tick_of(book: OrderBook, market: Market) -> Decimal | None:
    """The book's tick (it follows tick-size changes), else the market's; ``None`` if unknown."""
    tick = book.tick_size if book.tick_size is not None else market.tick_size
    try:
        return rounding_config(tick).tick_size
    except (TypeError, ValueError):
        return None


def _ask_if_sound(book: OrderBook, limits: RiskLimits) -> Decimal | None:
    """The best ask when the book is two-sided, uncrossed, narrow and deep enough."""
    best_bid, best_ask = book.best_bid(), book.best_ask()
    if best_bid is None or best_ask is None or best_bid.price >= best_ask.price:
        return None
    bid, ask = best_bid.price, best_ask.price
    if (ask - bid) * 2 * _HUNDRED / (ask + bid) > limits.max_spread_pct:
        return None
    if min(book.depth_usd(Side.BUY), book.depth_usd(Side.SELL)) < limits.min_depth_usd:
        return None
    return ask


def _offered(context: StrategyContext, token_id: str) -> Decimal:
    """Shares of ``token_id`` already being sold: resting SELLs and SELLs proposed this pass."""
    total = ZERO
    for order in context.resting:
        if order.token_id == token_id and order.side is Side.SELL:
            total += order.remaining
    for intent in context.proposed:
        if isinstance(intent, OrderIntent) and intent.token_id == token_id and intent.side is Side.SELL:
            total += intent.size
    return total


def _taker_size(
    book: OrderBook, side: Side, limit: Decimal, max_slippage_pct: Decimal, cap: Decimal, tick: Decimal
) -> Decimal:
    """The most shares (≤ ``cap``, 2 decimals) a taker ``side`` order can take from the visible
    book at prices no worse than ``limit`` with the fill's VWAP within ``max_slippage_pct`` of the
    touch; checked again against :meth:`OrderBook.estimate_fill`. Zero when nothing fits."""
    levels = book.asks() if side is Side.BUY else book.bids()
    if cap <= ZERO or not levels:
        return ZERO
    touch = levels[0].price
    allowed = touch * max_slippage_pct / _HUNDRED
    bound = touch + allowed if side is Side.BUY else touch - allowed
    filled = notional = ZERO
    for level in levels:
        price = level.price
        if filled >= cap or (price > limit if side is Side.BUY else price < limit):
            break
        take = min(level.size, cap - filled)
        worse = notional + price * take > bound * (filled + take)
        if side is Side.SELL:
            worse = notional + price * take < bound * (filled + take)
        if worse:
            # Take only what keeps the VWAP on the bound: (notional + p·x) = bound·(filled + x).
            filled += max((bound * filled - notional) / (price - bound), ZERO)
            break
        filled += take
        notional += price * take
    size = quantize_size(min(filled, cap), tick)
    if size <= ZERO:
        return ZERO
    estimate = book.estimate_fill(side, size)
    slippage = estimate.slippage_pct
    worst = estimate.worst_price
    if not estimate.complete or slippage is None or slippage > max_slippage_pct or worst is None:
        return ZERO
    if worst > limit if side is Side.BUY else worst < limit:
        return ZERO
    return size
