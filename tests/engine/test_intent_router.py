"""intent_router: the throttled log and the touch price (routing is exercised end to end in
test_tick_processor)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from structlog.typing import FilteringBoundLogger

from polyexec.core.events import BookSnapshot
from polyexec.core.models import BookLevel, Side
from polyexec.core.order_book import OrderBook
from polyexec.engine.intent_router import ThrottledLog, touch_price

D = Decimal


class Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def debug(self, event: str, **fields: Any) -> None:
        self.lines.append(("debug", event, fields))

    def exception(self, event: str, **fields: Any) -> None:
        self.lines.append(("exception", event, fields))


def test_one_line_per_key_per_interval_counting_the_ones_held_back() -> None:
    recorder = Recorder()
    log = ThrottledLog(cast(FilteringBoundLogger, recorder), 1_000)
    for now in (0, 10, 20, 999, 1_000, 1_500):
        log.debug("deny:X", now, "intent_denied", reason="X")
    log.debug("deny:Y", 30, "intent_denied", reason="Y")
    assert [(fields["reason"], fields["suppressed"]) for _, _, fields in recorder.lines] == [
        ("X", 0),
        ("X", 3),  # at 1 000: 10, 20 and 999 were held back; 1 500 is held back again
        ("Y", 0),
    ]


def test_touch_price_is_the_side_a_taker_meets() -> None:
    book = OrderBook("1", D("0.01"))
    book.apply_snapshot(BookSnapshot("1", "", 0, (BookLevel(D("0.4"), D(5)),), ()))
    assert touch_price(book, Side.SELL) == D("0.4")
    assert touch_price(book, Side.BUY) is None
    assert touch_price(None, Side.SELL) is None
