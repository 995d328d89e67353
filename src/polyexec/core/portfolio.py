"""Positions and PnL of the Up/Down book: provisional fills, voiding, settlement, exposure.

:class:`Portfolio` is pure bookkeeping. Feed it markets (:meth:`~Portfolio.register_market`),
fills (:meth:`~Portfolio.apply_fill`), trade status changes
(:meth:`~Portfolio.update_fill_status`) and resolutions (:meth:`~Portfolio.settle_market`);
read positions, PnL, exposure and statistics back. Every mutating call takes ``now_ms``.

The work is shared between four modules; everything public is importable from here:

* :mod:`polyexec.core.position_ledger`: one token's ledger. Pooled average cost, no shorts,
  fills in time order, per-strategy share ownership ("PnL follows the shares"), round trips
  (:class:`ClosedTrade`), and replay from fills. Its docstring holds the accounting rules.
* :mod:`polyexec.core.pnl_report`: per-strategy PnL, win/loss statistics, the summary text and
  the status snapshot.
* :mod:`polyexec.core.portfolio_codec`: the persistent state and its JSON-safe form.
* this module: the fills themselves, their status, markets, settlement, archiving, exposure.

Portfolio rules
---------------
* **Provisional until CONFIRMED.** Every fill whose trade is not FAILED counts in the *matched*
  quantity (what the book will hold if everything settles, and what exposure uses). Only
  CONFIRMED fills count in the *confirmed* quantity. ``sellable_quantity`` (confirmed shares not
  already promised to a pending sell) is what a strategy may safely sell.
* **One fill, one key.** A fill is identified by ``(trade_id, order_id)``. A re-send with a newer
  status moves it on (MATCHED → MINED ⇄ RETRYING → CONFIRMED or FAILED); a stale or
  contradicting status is counted and ignored; a re-send with other economics is an error.
* **FAILED voids.** A FAILED trade never happened. Its token is replayed from the remaining
  fills, so position, cost, realised PnL, fees, closed trades and oversell flags are exactly what
  they would be had the fill never arrived, however many fills came after it.
* **Settlement.** Shares of the winning token pay $1, losing shares $0; the difference to the
  cost basis is realised and the market's positions close. Settlement comes after every fill of
  its market: a fill reported after settlement is settled too.

Exposure (what the risk manager limits) is the cost basis of open positions, matched whether or
not confirmed, per market, per category (the asset: all BTC windows are one correlated bet) and
in total. :meth:`Portfolio.exposure` adds the caller's open buy-order notional per market, so
both halves of ``RiskLimits.max_exposure_usd`` come from one call.

Memory stays bounded in a 24/7 run: :meth:`Portfolio.archive_settled_markets` folds settled
markets whose fills are all final into running totals and forgets their fills. Later reports
for an archived market are ignored. :meth:`Portfolio.to_dict` / :meth:`Portfolio.from_dict`
round-trip the whole state through JSON-safe values (Decimals as strings) for crash recovery.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from polyexec.core import pnl_report
from polyexec.core.models import ONE, ZERO, Fill, Market, Outcome, TimestampMs, TradeStatus
from polyexec.core.order_state import TRADE_STATUS_SUCCESSORS
from polyexec.core.pnl_report import ArchiveTotals, StrategyPnl, TradeStats
from polyexec.core.portfolio_codec import MarketSettlement, PortfolioState, decode_state, encode_state
from polyexec.core.position_ledger import (
    ClosedTrade,
    CloseReason,
    FillEntry,
    FillKey,
    OversoldFill,
    Position,
    TokenLedger,
    VoidedFill,
    check_mark,
    validate_fill,
)

__all__ = [
    "RECENT_VOIDED_LIMIT",
    "UNREGISTERED_CATEGORY",
    "CloseReason",
    "ClosedTrade",
    "Exposure",
    "FillChange",
    "FillKey",
    "OversoldFill",
    "Portfolio",
    "Position",
    "StrategyPnl",
    "TradeStats",
    "VoidedFill",
]

UNREGISTERED_CATEGORY: Final = "unregistered"
"""Category of a fill whose market was never registered (it still counts, it cannot be grouped)."""
RECENT_VOIDED_LIMIT: Final = 256
"""How many voided fills :attr:`Portfolio.voided_fills` keeps; the counter keeps counting."""


class FillChange(StrEnum):
    """What :meth:`Portfolio.apply_fill` or :meth:`Portfolio.update_fill_status` did."""

    ADDED = "ADDED"  # a new fill now counts
    STATUS_UPDATED = "STATUS_UPDATED"  # a known fill moved on (e.g. MATCHED → CONFIRMED)
    VOIDED = "VOIDED"  # the trade FAILED: the fill's effects are gone (alert, feed the breaker)
    DUPLICATE = "DUPLICATE"  # same fill, same status: nothing changed
    IGNORED = "IGNORED"  # stale or contradicting status, or a report for an archived market


@dataclass(frozen=True, slots=True)
class Exposure:
    """Dollars at risk: cost basis of open positions, plus open buy-order notional if given."""

    by_market: Mapping[str, Decimal]
    by_category: Mapping[str, Decimal]
    total: Decimal


class Portfolio:
    """Positions, PnL, exposure and trade statistics of the whole book. See the module docs."""

    def __init__(self) -> None:
        self._markets: dict[str, Market] = {}
        self._token_market: dict[str, str] = {}
        self._fills: dict[FillKey, FillEntry] = {}
        self._token_fills: dict[str, list[FillKey]] = {}
        self._books: dict[str, TokenLedger] = {}
        self._settlements: dict[str, MarketSettlement] = {}
        self._archive = ArchiveTotals()
        self._archived: dict[str, Outcome] = {}
        self._voided: deque[VoidedFill] = deque(maxlen=RECENT_VOIDED_LIMIT)
        self._voided_count = 0
        self._ignored_count = 0
        self._next_seq = 0
        self._last_update_ms: TimestampMs = 0

    # --- inputs --------------------------------------------------------------------------------

    def register_market(self, market: Market, now_ms: TimestampMs) -> None:
        """Map the market's tokens to it (outcome, category). Re-registering is harmless."""
        if market.condition_id in self._archived:
            return
        known = self._markets.get(market.condition_id)
        if known is not None and (known.up_token_id, known.down_token_id) != (
            market.up_token_id,
            market.down_token_id,
        ):
            raise ValueError(f"market {market.condition_id} re-registered with different tokens")
        for token in (market.up_token_id, market.down_token_id):
            owner = self._token_market.get(token) or self._condition_of_fills(token)
            if owner is not None and owner != market.condition_id:
                raise ValueError(f"token {token} already belongs to market {owner}")
        if market.up_token_id == market.down_token_id:
            raise ValueError(f"market {market.slug} has the same token for Up and Down")
        self._last_update_ms = now_ms
        self._markets[market.condition_id] = market
        self._token_market[market.up_token_id] = market.condition_id
        self._token_market[market.down_token_id] = market.condition_id

    def apply_fill(self, fill: Fill, now_ms: TimestampMs) -> FillChange:
        """Record a fill, or a re-send of one (same :attr:`Fill.key`) with a newer status.

        Raises ``ValueError`` for a malformed fill, a token that belongs to another market, or a
        re-send whose token, side, price or size differ from the first report (whose fee,
        timestamp and strategy stand).
        """
        validate_fill(fill)
        if fill.condition_id in self._archived:
            self._ignored_count += 1
            return FillChange.IGNORED
        self._check_token_market(fill)
        self._last_update_ms = now_ms
        entry = self._fills.get(fill.key)
        if entry is not None:
            first = entry.fill
            if (first.token_id, first.side, first.price, first.size) != (
                fill.token_id,
                fill.side,
                fill.price,
                fill.size,
            ):
                raise ValueError(f"fill {fill.key} re-sent with different token/side/price/size")
            return self._change_status(entry, fill.status, now_ms)
        entry = FillEntry(fill, self._next_seq)
        self._next_seq += 1
        self._fills[fill.key] = entry
        self._token_fills.setdefault(fill.token_id, []).append(fill.key)
        if fill.status is TradeStatus.FAILED:
            self._record_void(fill, now_ms)
            return FillChange.VOIDED
        book = self._books.get(fill.token_id)
        if book is not None and fill.condition_id not in self._settlements and entry.order > book.last_order:
            book.apply(fill, entry.order)  # the common case: next fill in time order
        else:
            self._rebuild(fill.token_id)
        return FillChange.ADDED

    def update_fill_status(
        self, trade_id: str, order_id: str, status: TradeStatus, now_ms: TimestampMs
    ) -> FillChange:
        """Move a known fill to ``status``. FAILED voids it. ``KeyError`` if the fill is unknown."""
        entry = self._fills.get((trade_id, order_id))
        if entry is None:
            raise KeyError(f"no fill for trade {trade_id!r} order {order_id!r}")
        self._last_update_ms = now_ms
        return self._change_status(entry, status, now_ms)

    def settle_market(self, condition_id: str, winning_outcome: Outcome, now_ms: TimestampMs) -> Decimal:
        """Resolve a market: winning shares pay $1, losing $0. Returns the PnL this realised.

        Settling again with the same outcome does nothing; a different outcome, or a market that
        was never registered (its winning token is unknown), raises ``ValueError``.
        """
        previous = self._settlements.get(condition_id)
        archived = self._archived.get(condition_id)
        decided = previous.winner if previous is not None else archived
        if decided is not None:
            if decided is not winning_outcome:
                raise ValueError(f"market {condition_id} already settled {decided}, not {winning_outcome}")
            return ZERO
        market = self._markets.get(condition_id)
        if market is None:
            raise ValueError(f"cannot settle market {condition_id}: it was never registered")
        self._last_update_ms = now_ms
        tokens = [t for t in (market.up_token_id, market.down_token_id) if t in self._books]
        before = sum((sum(self._books[t].realized.values(), ZERO) for t in tokens), ZERO)
        self._settlements[condition_id] = MarketSettlement(winning_outcome, now_ms)
        for token in tokens:
            self._rebuild(token)
        return sum((sum(self._books[t].realized.values(), ZERO) for t in tokens), ZERO) - before

    def archive_settled_markets(self, now_ms: TimestampMs) -> list[str]:
        """Fold settled markets whose fills are all CONFIRMED or FAILED into running totals and
        forget their fills and positions. Returns the condition ids archived. Call it from time
        to time (e.g. every minute) so a 24/7 run keeps bounded memory."""
        done: list[str] = []
        for condition_id, settlement in list(self._settlements.items()):
            market = self._markets[condition_id]
            tokens = (market.up_token_id, market.down_token_id)
            keys = [k for t in tokens for k in self._token_fills.get(t, [])]
            if any(not self._fills[k].fill.status.is_terminal for k in keys):
                continue
            for token in tokens:
                book = self._books.pop(token, None)
                if book is not None:
                    self._archive.fold(book)
                self._token_fills.pop(token, None)
                self._token_market.pop(token, None)
            for key in keys:
                del self._fills[key]
            del self._settlements[condition_id], self._markets[condition_id]
            self._archived[condition_id] = settlement.winner
            done.append(condition_id)
        if done:
            self._last_update_ms = now_ms
        return done

    # --- reading -------------------------------------------------------------------------------

    def position(self, token_id: str) -> Position:
        """The token's position (all zero for a token never traded)."""
        book = self._books.get(token_id)
        condition_id = self._token_market.get(token_id) or (book.condition_id if book else "")
        market = self._markets.get(condition_id)
        if book is None:
            book = TokenLedger(token_id, condition_id)
        return Position(
            token_id=token_id,
            condition_id=condition_id,
            category=market.category if market else UNREGISTERED_CATEGORY,
            outcome=market.outcome_of(token_id) if market else None,
            quantity=book.quantity,
            confirmed_quantity=book.confirmed,
            cost_basis=book.cost,
            realized_pnl=sum(book.realized.values(), ZERO),
            fees_paid=sum(book.fees.values(), ZERO),
            settled=book.settled,
        )

    def positions(self, *, open_only: bool = False) -> list[Position]:
        """Every traded token not yet archived (or only open ones), sorted by token id."""
        found = (self.position(token) for token in sorted(self._books))
        return [p for p in found if p.is_open or not open_only]

    @property
    def last_update_ms(self) -> TimestampMs:
        """``now_ms`` of the last call that changed something."""
        return self._last_update_ms

    @property
    def realized_pnl(self) -> Decimal:
        live = sum((v for b in self._books.values() for v in b.realized.values()), ZERO)
        return live + sum(self._archive.realized.values(), ZERO)

    @property
    def fees_paid(self) -> Decimal:
        live = sum((v for b in self._books.values() for v in b.fees.values()), ZERO)
        return live + sum(self._archive.fees.values(), ZERO)

    def unrealized_pnl(self, marks: Mapping[str, Decimal]) -> Decimal:
        """Σ ``quantity × mark − cost`` over open positions. A position without a mark is valued
        at cost (contributes zero): the caller decides what it can price."""
        return sum(
            (
                p.unrealized_pnl(marks[p.token_id])
                for p in self.positions(open_only=True)
                if p.token_id in marks
            ),
            ZERO,
        )

    def exposure(self, open_buy_notional: Mapping[str, Decimal] | None = None) -> Exposure:
        """Cost basis of open (matched) positions per market, per category and in total, plus
        ``open_buy_notional`` (dollars of resting or in-flight buy orders per condition id)."""
        by_market: dict[str, Decimal] = {}
        for book in self._books.values():
            if book.quantity > 0:
                _add(by_market, book.condition_id, book.cost)
        for condition_id, notional in (open_buy_notional or {}).items():
            if not isinstance(notional, Decimal) or not notional.is_finite() or notional < 0:
                raise ValueError(
                    f"open buy notional for {condition_id} must be a Decimal ≥ 0, got {notional!r}"
                )
            if notional > 0:
                _add(by_market, condition_id, notional)
        by_category: dict[str, Decimal] = {}
        for condition_id, amount in by_market.items():
            _add(by_category, self._category(condition_id), amount)
        return Exposure(by_market, by_category, sum(by_market.values(), ZERO))

    def strategy_pnl(self, marks: Mapping[str, Decimal] | None = None) -> dict[str, StrategyPnl]:
        """Realised, unrealised (for marked open positions) and fees per strategy, by name."""
        realized = dict(self._archive.realized)
        fees = dict(self._archive.fees)
        unrealized: dict[str, Decimal] = {}
        for book in self._books.values():
            for name, amount in book.realized.items():
                _add(realized, name, amount)
            for name, amount in book.fees.items():
                _add(fees, name, amount)
            if marks is not None and book.token_id in marks:
                mark = check_mark(book.token_id, marks[book.token_id])
                for name, shares, cost_part in book.cost_shares():
                    _add(unrealized, name, shares * mark - cost_part)
        names = sorted(set(realized) | set(fees) | set(unrealized))
        return {
            n: StrategyPnl(realized.get(n, ZERO), unrealized.get(n, ZERO), fees.get(n, ZERO)) for n in names
        }

    @property
    def closed_trades(self) -> list[ClosedTrade]:
        """Closed trades of markets not yet archived, oldest close first."""
        trades = [t for b in self._books.values() for t in b.closed]
        return sorted(trades, key=lambda t: (t.closed_ms, t.token_id))

    def trade_stats(self) -> TradeStats:
        """Win/loss statistics over every closed trade, archived ones included."""
        stats = self._archive.stats
        for trade in self.closed_trades:
            stats = stats.with_trade(trade)
        return stats

    @property
    def oversold_fills(self) -> list[OversoldFill]:
        """Sells currently beyond their holding, by token id, then in time order."""
        return [o for token in sorted(self._books) for o in self._books[token].oversold]

    @property
    def oversold_count(self) -> int:
        return len(self.oversold_fills) + self._archive.oversold

    @property
    def voided_fills(self) -> list[VoidedFill]:
        """The most recent voided fills (up to :data:`RECENT_VOIDED_LIMIT`), oldest first."""
        return list(self._voided)

    @property
    def voided_count(self) -> int:
        return self._voided_count

    @property
    def ignored_count(self) -> int:
        """Stale or contradicting status reports, and reports for archived markets."""
        return self._ignored_count

    @property
    def pending_fill_count(self) -> int:
        """Fills of markets not yet archived whose trade is neither CONFIRMED nor FAILED."""
        return sum(1 for e in self._fills.values() if not e.fill.status.is_terminal)

    # --- reports (see polyexec.core.pnl_report) -----------------------------------------------

    def summary_text(self, marks: Mapping[str, Decimal]) -> str:
        """The operator's PnL summary; see :func:`polyexec.core.pnl_report.summary_text`."""
        return pnl_report.summary_text(self, marks)

    def snapshot(self, marks: Mapping[str, Decimal] | None = None) -> dict[str, Any]:
        """A JSON-safe status summary (amounts as decimal strings) for status and health output;
        see :func:`polyexec.core.pnl_report.snapshot`."""
        return pnl_report.snapshot(self, marks)

    # --- persistence (see polyexec.core.portfolio_codec) ---------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-safe values (Decimals as strings); see :meth:`from_dict`."""
        return encode_state(
            PortfolioState(
                last_update_ms=self._last_update_ms,
                next_seq=self._next_seq,
                markets=list(self._markets.values()),
                fills=list(self._fills.values()),
                settlements=self._settlements,
                archived=self._archived,
                archive=self._archive,
                voided_count=self._voided_count,
                voided_recent=self._voided,
                ignored_count=self._ignored_count,
            )
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Portfolio:
        """Rebuild a portfolio from :meth:`to_dict` output. ``ValueError`` names what is wrong."""
        return cls._restore(decode_state(data))

    @classmethod
    def _restore(cls, state: PortfolioState) -> Portfolio:
        """A portfolio holding ``state``. Markets and fills pass the checks live input passes, so
        a state that contradicts itself is refused (``ValueError``) instead of half-loaded."""
        new = cls()
        for market in state.markets:
            new.register_market(market, state.last_update_ms)
        for stored in state.fills:
            fill = stored.fill
            validate_fill(fill)
            if fill.key in new._fills:
                raise ValueError(f"fill {fill.key} appears twice")
            new._check_token_market(fill)
            new._fills[fill.key] = FillEntry(fill, stored.seq)
            new._token_fills.setdefault(fill.token_id, []).append(fill.key)
        for condition_id, settlement in state.settlements.items():
            if condition_id not in new._markets:
                raise ValueError(f"settlement for unregistered market {condition_id}")
            new._settlements[condition_id] = settlement
        new._archived = dict(state.archived)
        totals = state.archive  # copied: the state may outlive this call, the books must not share it
        new._archive = ArchiveTotals(dict(totals.realized), dict(totals.fees), totals.stats, totals.oversold)
        new._voided.extend(state.voided_recent)
        new._voided_count = state.voided_count
        new._ignored_count = state.ignored_count
        new._next_seq = state.next_seq
        new._last_update_ms = state.last_update_ms
        for token in new._token_fills:
            new._rebuild(token)
        return new

    # --- internals -----------------------------------------------------------------------------

    def _change_status(self, entry: FillEntry, status: TradeStatus, now_ms: TimestampMs) -> FillChange:
        old = entry.fill.status
        if status is old:
            return FillChange.DUPLICATE
        # The order state machine's table of trade settlement: anything but a successor of the
        # current status is a stale re-send or contradicts a final status.
        if status not in TRADE_STATUS_SUCCESSORS[old]:
            self._ignored_count += 1
            return FillChange.IGNORED
        entry.fill = replace(entry.fill, status=status)
        if status is TradeStatus.FAILED:
            self._record_void(entry.fill, now_ms)
            self._rebuild(entry.fill.token_id)
            return FillChange.VOIDED
        if status is TradeStatus.CONFIRMED:
            self._books[entry.fill.token_id].confirm(entry.fill.key)
        return FillChange.STATUS_UPDATED

    def _record_void(self, fill: Fill, now_ms: TimestampMs) -> None:
        self._voided.append(VoidedFill(fill, now_ms))
        self._voided_count += 1

    def _rebuild(self, token_id: str) -> None:
        """Replay a token from its surviving fills (voiding), then apply its market's settlement."""
        entries = [self._fills[k] for k in self._token_fills.get(token_id, [])]
        # Every fill of a token names the same market: apply_fill and _restore check it.
        condition_id = entries[0].fill.condition_id if entries else self._token_market.get(token_id, "")
        book = TokenLedger.replay(token_id, condition_id, entries)
        settlement = self._settlements.get(condition_id)
        if settlement is not None:
            winner = self._markets[condition_id].token_for(settlement.winner)
            book.settle(ONE if token_id == winner else ZERO, settlement.settled_ms)
        self._books[token_id] = book

    def _condition_of_fills(self, token_id: str) -> str | None:
        keys = self._token_fills.get(token_id)
        return self._fills[keys[0]].fill.condition_id if keys else None

    def _check_token_market(self, fill: Fill) -> None:
        owner = self._token_market.get(fill.token_id) or self._condition_of_fills(fill.token_id)
        if owner is not None and owner != fill.condition_id:
            raise ValueError(f"fill {fill.key}: token {fill.token_id} belongs to market {owner}")
        market = self._markets.get(fill.condition_id)
        if market is not None:
            market.outcome_of(fill.token_id)  # raises ValueError naming the token and the market

    def _category(self, condition_id: str) -> str:
        market = self._markets.get(condition_id)
        return market.category if market is not None else UNREGISTERED_CATEGORY


def _add(target: dict[str, Decimal], key: str, amount: Decimal) -> None:
    target[key] = target.get(key, ZERO) + amount
