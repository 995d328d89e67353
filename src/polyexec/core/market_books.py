"""The Up and Down books of one market together: :class:`MarketBooks` routes market-channel
events to the book they concern (the engine's market feed keeps its books per token instead;
this pairing serves code that holds one market at a time, such as replays and tests)."""

from __future__ import annotations

from decimal import Decimal

from polyexec.core.events import BookSnapshot, PriceChange, TickSizeChange
from polyexec.core.models import Market
from polyexec.core.order_book import OrderBook, UntrustedReason

__all__ = ["MarketBooks"]


class MarketBooks:
    """The Up and Down books of one market, keyed by token id, with event routing."""

    __slots__ = ("_books", "condition_id", "down", "up")

    def __init__(
        self,
        condition_id: str,
        up_token_id: str,
        down_token_id: str,
        tick_size: Decimal | None = None,
    ) -> None:
        if up_token_id == down_token_id:
            raise ValueError(f"up and down token ids are the same: {up_token_id}")
        self.condition_id = condition_id
        self.up = OrderBook(up_token_id, tick_size)
        self.down = OrderBook(down_token_id, tick_size)
        self._books = {up_token_id: self.up, down_token_id: self.down}

    @classmethod
    def for_market(cls, market: Market) -> MarketBooks:
        """Books for ``market``'s two tokens, starting from its listed tick size."""
        return cls(market.condition_id, market.up_token_id, market.down_token_id, market.tick_size)

    def get(self, token_id: str) -> OrderBook | None:
        """The book of ``token_id``, or ``None`` if the token is not this market's."""
        return self._books.get(token_id)

    @property
    def trusted(self) -> bool:
        """True when both books are trusted."""
        return self.up.trusted and self.down.trusted

    def apply(self, event: BookSnapshot | PriceChange | TickSizeChange) -> bool:
        """Route a market-channel event to the book(s) it concerns; True if any book took it.

        Events for tokens of other markets are ignored (False), not counted as foreign.
        """
        if isinstance(event, PriceChange):
            applied = self.up.apply_price_change(event) + self.down.apply_price_change(event)
            return applied > 0
        book = self._books.get(event.asset_id)
        if book is None:
            return False
        if isinstance(event, BookSnapshot):
            return book.apply_snapshot(event)
        return book.apply_tick_size_change(event)

    def mark_untrusted(self, reason: UntrustedReason, detail: str = "") -> None:
        """Clear trust on both books (a reconnect affects the whole subscription)."""
        for book in (self.up, self.down):
            book.mark_untrusted(reason, detail)
