"""The RTDS feed: the Chainlink 60-second TWAP (the settlement source) and Chainlink spot.

:class:`RtdsFeed` keeps one websocket to RTDS (``RTDS_WS_URL``, protocol doc §5.4) and, on every
connection, subscribes in one message to ``crypto_prices_twap_sixty`` and
``crypto_prices_chainlink`` for each configured asset, with the filter written as **compact**
JSON (``{"symbol":"btc/usd"}``: a filter with a space gets the backfill and then silence, with
no error). Decoded prices (:mod:`polyexec.venues.rtds_messages`) go to ``sink`` as
:class:`~polyexec.core.events.ReferencePrice` events, oldest first:

* the backfill RTDS sends after every subscription is delivered too — after a reconnect it
  fills the gap (the TWAP at a window boundary that fell in the gap is the strike) — but a
  price is delivered only if it is newer than the last one delivered for its asset and
  source, so nothing is delivered twice;
* **liveness comes from data**: the server never answers a ``PING`` (the docs' text ping is
  still sent every ``ping_interval_s``, as they ask). No frame for ``stale_after_s`` (10 s;
  updates come every second) drops the connection; so does one subscribed topic of one asset
  going silent that long while others still flow (the silent-subscription failure above);
* reconnect and resubscribe are the runner's (:mod:`polyexec.venues.ws_connection`): jittered
  backoff with a floor, refused handshakes waited out.

What is done with the prices (which TWAP is fresh, the Binance fallback) is
:class:`~polyexec.venues.reference_prices.ReferencePrices`' business.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from typing import Final

import orjson

from polyexec.core.events import FeedEvent, PriceSource, ReferencePrice
from polyexec.logging_setup import get_logger
from polyexec.venues.feed_stats import FeedStats
from polyexec.venues.rtds_messages import (
    TOPIC_CHAINLINK,
    TOPIC_TWAP_SIXTY,
    RtdsMessageError,
    RtdsServerError,
    decode_rtds_frame,
    rtds_symbol,
)
from polyexec.venues.ws_connection import ReconnectingWebSocket, ReconnectPolicy, WebSocketLink

__all__ = ["DEFAULT_STALE_AFTER_S", "RtdsFeed", "subscribe_message"]

_log = get_logger(module=__name__)

DEFAULT_STALE_AFTER_S: Final = 10.0
_SOURCES: Final = (PriceSource.CHAINLINK_TWAP_60, PriceSource.CHAINLINK_SPOT)


def subscribe_message(assets: Iterable[str]) -> str:
    """The one subscribe frame for both topics of every asset, e.g. for ``["btc"]``::

    {"action":"subscribe","subscriptions":[
      {"topic":"crypto_prices_twap_sixty","type":"update","filters":"{\\"symbol\\":\\"btc/usd\\"}"},
      {"topic":"crypto_prices_chainlink","type":"*","filters":"{\\"symbol\\":\\"btc/usd\\"}"}]}
    """
    subscriptions: list[dict[str, str]] = []
    for asset in dict.fromkeys(assets):
        # orjson writes compact JSON: the filter must have no whitespace at all.
        symbol_filter = orjson.dumps({"symbol": rtds_symbol(asset)}).decode()
        subscriptions.append({"topic": TOPIC_TWAP_SIXTY, "type": "update", "filters": symbol_filter})
        subscriptions.append({"topic": TOPIC_CHAINLINK, "type": "*", "filters": symbol_filter})
    if not subscriptions:
        raise ValueError("the RTDS feed needs at least one asset")
    return orjson.dumps({"action": "subscribe", "subscriptions": subscriptions}).decode()


class RtdsFeed:
    """Chainlink TWAP and spot prices of ``assets`` from RTDS at ``url`` into ``sink``, until
    :meth:`run` is cancelled. ``monotonic`` times staleness (tests inject nothing: they pass a
    short ``stale_after_s`` and a fast ``policy``)."""

    def __init__(
        self,
        url: str,
        assets: Iterable[str],
        sink: Callable[[FeedEvent], None],
        *,
        stale_after_s: float = DEFAULT_STALE_AFTER_S,
        policy: ReconnectPolicy | None = None,
        text_ping: str | None = "PING",
        ping_interval_s: float = 5.0,
        ws_ping_interval_s: float | None = 20.0,
        name: str = "rtds",
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not stale_after_s > 0:
            raise ValueError(f"stale_after_s must be positive (got {stale_after_s})")
        self.url = url
        self.assets: tuple[str, ...] = tuple(dict.fromkeys(a.strip().lower() for a in assets))
        self._subscribe = subscribe_message(self.assets)
        self.stale_after_s = stale_after_s
        self._sink = sink
        self._monotonic = monotonic
        self._keys = [(asset, source) for asset in self.assets for source in _SOURCES]
        self._last_delivered_ms: dict[tuple[str, PriceSource], int] = {}
        self._last_update_at: dict[tuple[str, PriceSource], float] = {}
        self._opened_at: float | None = None
        self._next_topic_check = 0.0
        self.stats = FeedStats(name)
        self.server_errors = 0
        self.prices_delivered = 0
        self.already_seen = 0
        """Prices not delivered because a newer (or the same) one already was (backfills)."""
        self.ignored_assets = 0
        self._runner = ReconnectingWebSocket(
            url,
            self,
            stats=self.stats,
            policy=policy,
            text_ping=text_ping,
            ping_interval_s=ping_interval_s,
            ws_ping_interval_s=ws_ping_interval_s,
            clock=monotonic,
            rng=rng,
        )

    # ------------------------------------------------------------------ public
    @property
    def connected(self) -> bool:
        return self._runner.connected

    async def run(self) -> None:
        """Connect, subscribe, deliver and reconnect until cancelled (the runner closes its
        socket when cancelled)."""
        await self._runner.run()

    def last_price_ms(self, asset: str, source: PriceSource) -> int | None:
        """Observation time of the newest price delivered for ``asset`` from ``source``."""
        return self._last_delivered_ms.get((asset, source))

    def status(self) -> dict[str, object]:
        """Counters and the newest observation time per asset and source."""
        now = self._monotonic()
        return {
            **self.stats.snapshot(now),
            "url": self.url,
            "server_errors": self.server_errors,
            "prices_delivered": self.prices_delivered,
            "already_seen": self.already_seen,
            "ignored_assets": self.ignored_assets,
            "last_observation_ms": {
                f"{asset}:{source.value}": self._last_delivered_ms.get((asset, source))
                for asset, source in self._keys
            },
        }

    # ------------------------------------------------------------------ FeedProtocol
    async def on_open(self, link: WebSocketLink) -> None:
        now = self._monotonic()
        self._opened_at = now
        self._last_update_at.clear()
        self._next_topic_check = now + self.stale_after_s
        await link.send(self._subscribe)

    def on_message(self, data: str | bytes, received_at: float) -> None:
        try:
            message = decode_rtds_frame(data)
        except RtdsMessageError as exc:
            self.stats.record_error(exc.kind)
            _log.debug("rtds_frame_skipped", feed=self.stats.name, kind=exc.kind, problem=str(exc))
            return
        if isinstance(message, RtdsServerError):
            self.server_errors += 1
            self.stats.record_error("server_error")
            _log.warning(
                "rtds_server_error", feed=self.stats.name, status=message.status, message=message.message
            )
            return
        for _ in range(message.rejected):
            self.stats.record_error("bad_value")
        for price in message.prices:
            self._deliver(price, received_at, update=not message.backfill)
        self._check_topics(received_at)
        self.stats.record_latency(self._monotonic() - received_at)

    def on_close(self, reason: str) -> None:
        self._opened_at = None
        self._last_update_at.clear()

    def stale_after(self) -> float | None:
        return self.stale_after_s

    # ------------------------------------------------------------------ internals
    def _deliver(self, price: ReferencePrice, received_at: float, *, update: bool) -> None:
        key = (price.asset, price.source)
        if price.asset not in self.assets:
            self.ignored_assets += 1
            return
        if update:
            self._last_update_at[key] = received_at
        last = self._last_delivered_ms.get(key)
        if last is not None and price.timestamp_ms <= last:
            self.already_seen += 1
            return
        self._last_delivered_ms[key] = price.timestamp_ms
        self.prices_delivered += 1
        try:
            self._sink(price)
        except Exception as exc:  # a consumer bug must not take the feed down
            self.stats.record_error("sink_failed")
            _log.error("rtds_sink_failed", feed=self.stats.name, error=repr(exc))

    def _check_topics(self, now: float) -> None:
        """Drop the connection when one subscription went silent while the others flow."""
        if self._opened_at is None or now < self._next_topic_check:
            return
        self._next_topic_check = now + min(1.0, self.stale_after_s / 2)
        for key in self._keys:
            silent = now - self._last_update_at.get(key, self._opened_at)
            if silent > self.stale_after_s:
                asset, source = key
                _log.warning("rtds_topic_stale", feed=self.stats.name, asset=asset, source=source.value)
                self._runner.force_reconnect(f"stale: no {source.value} update for {asset} in {silent:.1f} s")
                return
