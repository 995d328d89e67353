"""Finding the 15-minute Up/Down windows to trade, and reading back how they resolved.

:class:`MarketDiscovery` keeps, for every configured asset, the **current** window
(``T = now − now % window_seconds``) and the **next** one (``T + window_seconds``; more with
``windows_ahead``), looked up on Gamma by slug (``GET {gamma_host}/events/slug/{asset}-updown-15m-{T}``)
every pass. The next window is therefore found as soon as Gamma lists it, well before it opens
(about a day ahead on the venue; while the previous window runs on the simulator)::

    discovery = MarketDiscovery(settings.gamma_host, settings.market_assets, session=session,
                                fetch_clob_info=clob.get_clob_market_info, on_change=engine.on_markets)
    asyncio.create_task(discovery.run(interval_s=5.0))
    market = discovery.current("btc")             # polyexec.core.models.Market or None

A window is admitted only if Gamma's answer is sound (:mod:`polyexec.venues.gamma_messages`),
its ``version`` is ``"v1"`` (``"v2"`` markets use position ids and Exchange V3, which polyexec
does not sign for), its window has the configured length, and it is ``active``, not ``closed``
and ``acceptingOrders``. ``negRisk`` is expected false on crypto markets; a true value is logged
and carried (it selects the exchange the orders are signed for). Then the CLOB's own parameters
(``GET /clob-markets/{condition_id}`` through ``fetch_clob_info``: tick, minimum size, fee curve,
neg risk, taker delay) are merged over Gamma's: the CLOB wins, and a CLOB token map that
contradicts Gamma's refuses the market. A refused window is reported once per reason and looked
at again every pass (``acceptingOrders`` may turn true).

When a window's end passes (or Gamma reports it closed early), the market is **finished**: it
leaves :meth:`~MarketDiscovery.markets` and waits, as a small pending record, for its
resolution: every pass reads the market back (``/events/slug/…``, falling back to
``/markets?slug=…&closed=true``) until it is ``closed`` with ``outcomePrices`` 1/0, reports the
:class:`Resolution` once and forgets the market. A market still unresolved
``resolution_timeout_s`` after its end is reported as ``unresolved`` and forgotten, so memory stays
bounded however long the daemon runs. Every pass returns a :class:`DiscoveryChange` (also handed
to ``on_change`` when something changed): the engine subscribes and unsubscribes feeds from it.

Gamma or CLOB failures (timeouts, connection errors, HTTP errors, malformed answers) are counted
(:meth:`~MarketDiscovery.status`) and retried on the next pass; they never end discovery. A window
Gamma does not list yet is simply "not found yet".
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

import aiohttp

from polyexec.core.models import ONE, ZERO, Market, Outcome
from polyexec.logging_setup import get_logger
from polyexec.venues.clob_responses import ClobMarketInfo
from polyexec.venues.gamma_messages import (
    GammaError,
    GammaEvent,
    GammaMarket,
    GammaMarketInfo,
    Resolution,
    decode_json,
    market_info,
    market_slug,
    parse_event,
    parse_market_list,
    parse_market_slug,
    resolution_of,
    to_market,
    window_start_for,
)

__all__ = [
    "SUPPORTED_GAMMA_VERSION",
    "DiscoveredMarket",
    "DiscoveryChange",
    "GammaUnavailable",
    "MarketDiscovery",
    "Refusal",
    "Resolution",
    "merge_clob_info",
    "window_start_for",
]
# Resolution and window_start_for live in gamma_messages; re-exported as part of this API.

SUPPORTED_GAMMA_VERSION: Final = "v1"
"""Gamma ``version`` of the markets polyexec trades: ``clobTokenIds`` on CTF Exchange V2 (§4.4)."""

_ASSET_RE: Final = re.compile(r"^[a-z0-9]+$")
_BOUNDARY_MARGIN_S: Final = 0.05  # wake just after a window boundary, not just before it
_FAILURE_LOG_EVERY: Final = 60  # while Gamma keeps failing, one warning per this many failures

_COUNTERS: Final = (
    *("passes", "pass_failures", "gamma_requests", "gamma_errors", "gamma_timeouts", "malformed"),
    *("not_found", "clob_errors", "refusals", "added", "finished", "resolved", "unresolved"),
)

_log = get_logger(component="market_discovery")


class GammaUnavailable(Exception):
    """Gamma gave no usable answer: a timeout, a connection error, or an HTTP status other
    than 200 and 404. Transient by nature: try again later."""


@dataclass(frozen=True, slots=True)
class DiscoveredMarket:
    """A tradable window: the market (CLOB parameters merged), Gamma's latest status of it, and
    whether the CLOB holds marketable orders back (``taker_delay``; ``None`` when no CLOB
    lookup was configured)."""

    market: Market
    status: GammaMarketInfo
    taker_delay: bool | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """A listed window discovery will not trade, and why (e.g. Gamma version ``"v2"``)."""

    slug: str
    reason: str


@dataclass(frozen=True, slots=True)
class DiscoveryChange:
    """What one pass changed.

    * ``added``: markets now tradable (subscribe their tokens);
    * ``finished``: markets whose window ended or that closed (unsubscribe; purged from the
      tradable set, now awaiting their resolution);
    * ``resolutions``: resolutions read back this pass (each reported exactly once);
    * ``unresolved``: finished markets given up on after ``resolution_timeout_s`` without a
      resolution (reconcile them another way);
    * ``refused``: windows refused for a new reason this pass;
    * ``updated``: new Gamma status of tradable markets (``priceToBeat`` published,
      ``acceptingOrders`` turned false, ...);
    * ``errors``: Gamma/CLOB lookups that failed this pass (retried next pass).

    It is truthy when anything but ``errors`` is non-empty.
    """

    added: tuple[Market, ...] = ()
    finished: tuple[Market, ...] = ()
    resolutions: tuple[Resolution, ...] = ()
    unresolved: tuple[Market, ...] = ()
    refused: tuple[Refusal, ...] = ()
    updated: tuple[GammaMarketInfo, ...] = ()
    errors: int = 0

    def __bool__(self) -> bool:
        return bool(
            self.added or self.finished or self.resolutions or self.unresolved or self.refused or self.updated
        )


def merge_clob_info(market: Market, info: ClobMarketInfo) -> Market:
    """``market`` with the CLOB's tick, minimum size, fee curve and neg-risk flag (they win over
    Gamma's). ``ValueError`` naming the problem if the CLOB describes another market, maps a
    token to a different outcome than Gamma, or sends an impossible tick or size."""
    if info.condition_id.lower() != market.condition_id.lower():
        raise ValueError(f"CLOB market info is for {info.condition_id}, not {market.condition_id}")
    for token_id, outcome_name in info.tokens:
        try:
            outcome = Outcome(outcome_name.strip().capitalize())
        except ValueError:
            raise ValueError(f"CLOB lists outcome {outcome_name!r} for {market.slug}, not Up/Down") from None
        if market.token_for(outcome) != token_id:
            raise ValueError(f"CLOB maps token {token_id} to {outcome} but Gamma does not ({market.slug})")
    if not (info.tick_size.is_finite() and ZERO < info.tick_size < ONE):
        raise ValueError(f"CLOB tick size {info.tick_size} of {market.slug} is not in (0, 1)")
    if not (info.min_size.is_finite() and info.min_size >= ZERO):
        raise ValueError(f"CLOB minimum size {info.min_size} of {market.slug} is not a size")
    return replace(
        market, tick_size=info.tick_size, min_size=info.min_size, fee=info.fee, neg_risk=info.neg_risk
    )


_Found = tuple[GammaMarket, GammaEvent | None]
_Lookup = _Found | None | Exception  # found, not listed, or the failure (already counted)


@dataclass(slots=True)
class _Pass:
    """What a pass has changed so far (becomes the immutable :class:`DiscoveryChange`)."""

    added: list[Market] = field(default_factory=list)
    finished: list[Market] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    unresolved: list[Market] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    updated: list[GammaMarketInfo] = field(default_factory=list)
    errors: int = 0

    def freeze(self) -> DiscoveryChange:
        return DiscoveryChange(
            added=tuple(sorted(self.added, key=lambda m: (m.window_start, m.asset))),
            finished=tuple(self.finished),
            resolutions=tuple(self.resolutions),
            unresolved=tuple(self.unresolved),
            refused=tuple(self.refused),
            updated=tuple(self.updated),
            errors=self.errors,
        )


class MarketDiscovery:
    """The registry of tradable 15-minute windows, kept current from Gamma (see the module doc).

    ``clock`` gives Unix seconds (the simulator's clock in tests). ``windows_ahead`` is how many
    windows after the current one to look for (1: the next). Reads (:meth:`markets`,
    :meth:`current`, :meth:`next`, :meth:`market`) are synchronous and never touch the network.
    """

    def __init__(
        self,
        gamma_host: str,
        assets: Sequence[str],
        *,
        session: aiohttp.ClientSession,
        fetch_clob_info: Callable[[str], Awaitable[ClobMarketInfo]] | None = None,
        clock: Callable[[], float] = time.time,
        window_seconds: int = 900,
        on_change: Callable[[DiscoveryChange], None] | None = None,
        timeout_s: float = 5.0,
        windows_ahead: int = 1,
        resolution_timeout_s: float = 7200.0,
    ) -> None:
        names = list(dict.fromkeys(a.strip().lower() for a in assets))
        if not names:
            raise ValueError("market discovery needs at least one asset")
        for name in names:
            if not _ASSET_RE.match(name):
                raise ValueError(f"asset {name!r} must be lower-case letters and digits (e.g. 'btc')")
        if window_seconds < 1:
            raise ValueError(f"window_seconds must be positive (got {window_seconds})")
        if windows_ahead < 0:
            raise ValueError(f"windows_ahead must be >= 0 (got {windows_ahead})")
        if not timeout_s > 0 or not resolution_timeout_s > 0:
            raise ValueError("timeout_s and resolution_timeout_s must be positive")
        self._gamma_host = gamma_host.rstrip("/")
        self._assets = tuple(names)
        self._session = session
        self._fetch_clob_info = fetch_clob_info
        self._clock = clock
        self._window_seconds = window_seconds
        self._on_change = on_change
        self._timeout_s = timeout_s
        self._windows_ahead = windows_ahead
        self._resolution_timeout_s = resolution_timeout_s
        self._listings: dict[str, DiscoveredMarket] = {}  # lower-case condition id → tradable window
        self._pending: dict[str, Market] = {}  # lower-case condition id → finished, awaiting resolution
        self._refusals: dict[str, str] = {}  # slug → reason, until the window ends
        self._lock = asyncio.Lock()
        self._consecutive_failures = 0
        self._last_pass_at: float | None = None
        self._counts: dict[str, int] = dict.fromkeys(_COUNTERS, 0)

    # -- reading (no I/O) ------------------------------------------------------------------

    @property
    def assets(self) -> tuple[str, ...]:
        return self._assets

    @property
    def window_seconds(self) -> int:
        return self._window_seconds

    def markets(self) -> list[Market]:
        """Known tradable markets whose window has not ended, by window start then asset."""
        now = self._clock()
        live = [d.market for d in self._listings.values() if d.market.window_end > now]
        return sorted(live, key=lambda m: (m.window_start, m.asset))

    def current(self, asset: str) -> Market | None:
        """``asset``'s market whose window contains now, if discovered."""
        now = self._clock()
        for listing in self._listings.values():
            market = listing.market
            if market.asset == asset and market.window_start <= now < market.window_end:
                return market
        return None

    def next(self, asset: str) -> Market | None:
        """``asset``'s earliest discovered market whose window has not opened yet."""
        now = self._clock()
        upcoming = [
            d.market
            for d in self._listings.values()
            if d.market.asset == asset and d.market.window_start > now
        ]
        return min(upcoming, key=lambda m: m.window_start, default=None)

    def market(self, condition_id: str) -> Market | None:
        """A tradable market, or a finished one still awaiting its resolution; else ``None``."""
        key = condition_id.lower()
        listing = self._listings.get(key)
        return listing.market if listing is not None else self._pending.get(key)

    def listing(self, condition_id: str) -> DiscoveredMarket | None:
        """A tradable market with its latest Gamma status and taker-delay flag."""
        return self._listings.get(condition_id.lower())

    def pending_resolution(self) -> list[Market]:
        """Finished markets whose resolution has not been read back yet."""
        return sorted(self._pending.values(), key=lambda m: (m.window_end, m.asset))

    def status(self) -> dict[str, object]:
        """Counters and what is held, for the status page (no secrets here)."""
        return {
            "assets": list(self._assets),
            "window_seconds": self._window_seconds,
            "markets": [m.slug for m in self.markets()],
            "pending_resolution": [m.slug for m in self.pending_resolution()],
            "refused": dict(self._refusals),
            "last_pass_at": self._last_pass_at,
            "consecutive_failures": self._consecutive_failures,
            **self._counts,
        }

    # -- passes ----------------------------------------------------------------------------

    async def run(self, interval_s: float = 5.0) -> None:
        """Refresh every ``interval_s`` (and just after each window boundary) until cancelled.

        A pass that fails on a bug is counted (``pass_failures``) and logged; the loop goes on.
        """
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive (got {interval_s})")
        while True:
            try:
                await self.refresh()
            except Exception:
                self._counts["pass_failures"] += 1
                _log.exception("discovery_pass_failed")
            await asyncio.sleep(self._sleep_before_next_pass(interval_s))

    async def refresh(self) -> DiscoveryChange:
        """One pass: discover current and next windows, finish ended ones, read resolutions."""
        async with self._lock:
            change = await self._pass()
        self._counts["passes"] += 1
        self._last_pass_at = self._clock()
        if change and self._on_change is not None:
            try:
                self._on_change(change)
            except Exception:
                # The subscriber's bug must not stop discovery; the change is still returned.
                _log.exception("discovery_on_change_failed")
        return change

    async def resolution(self, market: Market) -> Resolution | None:
        """Read ``market``'s resolution back from Gamma now: ``None`` while it is unresolved
        or not listed. Raises :class:`GammaUnavailable` when Gamma does not answer and
        :class:`~polyexec.venues.gamma_messages.GammaError` when its answer is malformed."""
        found = await self._lookup(market.slug, closed_fallback=True)
        if found is None:
            return None
        return resolution_of(market, *found)

    async def _pass(self) -> DiscoveryChange:
        now = self._clock()
        change = _Pass()
        for key, listing in list(self._listings.items()):
            if listing.market.window_end <= now:
                self._finish(key, change)
        start = window_start_for(now, self._window_seconds)
        wanted = [
            (market_slug(asset, start + k * self._window_seconds), start + k * self._window_seconds)
            for k in range(self._windows_ahead + 1)
            for asset in self._assets
        ]
        pending = list(self._pending.items())
        lookups = await asyncio.gather(
            *(self._safe_lookup(slug, closed_fallback=False) for slug, _ in wanted),
            *(self._safe_lookup(market.slug, closed_fallback=True) for _, market in pending),
        )
        change.errors = sum(1 for result in lookups if isinstance(result, Exception))
        wanted_results = lookups[: len(wanted)]
        admissions = []
        for (slug, window_start), result in zip(wanted, wanted_results, strict=True):
            listed = self._is_listed(slug)
            if not listed and any(m.slug == slug for m in self._pending.values()):
                continue  # closed before its window ended: only its resolution matters now
            if isinstance(result, GammaError):
                if not listed:
                    self._refuse(slug, f"malformed Gamma answer: {result}", change)
            elif result is None:
                if not listed:
                    self._counts["not_found"] += 1
            elif not isinstance(result, Exception):
                if listed:
                    self._update(slug, result, change)
                else:
                    admissions.append(self._admit(slug, window_start, result, change))
        await asyncio.gather(*admissions)
        for (key, market), result in zip(pending, lookups[len(wanted) :], strict=True):
            self._check_resolution(key, market, result, now, change)
        for slug in list(self._refusals):
            if parse_market_slug(slug)[1] + self._window_seconds <= now:
                del self._refusals[slug]
        return change.freeze()

    # -- one window --------------------------------------------------------------------------

    def _is_listed(self, slug: str) -> bool:
        return any(d.market.slug == slug for d in self._listings.values())

    async def _admit(self, slug: str, window_start: int, found: _Found, change: _Pass) -> None:
        gamma, event = found
        checked = self._check_gamma(slug, window_start, gamma)
        if isinstance(checked, str):
            self._refuse(slug, checked, change)
            return
        market, taker_delay = checked, None
        if self._fetch_clob_info is not None:
            try:
                async with asyncio.timeout(self._timeout_s):
                    info = await self._fetch_clob_info(market.condition_id)
            except Exception as exc:
                # Not admitted this pass: retried on the next one (the window is found early).
                change.errors += 1
                self._counts["clob_errors"] += 1
                _log.warning("clob_market_info_failed", slug=slug, error=repr(exc))
                return
            try:
                market = merge_clob_info(market, info)
            except ValueError as exc:
                self._refuse(slug, str(exc), change)
                return
            taker_delay = info.taker_delay
        if market.neg_risk:
            _log.warning("discovered_neg_risk_market", slug=slug, condition_id=market.condition_id)
        self._listings[market.condition_id.lower()] = DiscoveredMarket(
            market, market_info(gamma, event), taker_delay
        )
        self._refusals.pop(slug, None)
        self._counts["added"] += 1
        change.added.append(market)
        _log.info(
            "market_discovered",
            slug=slug,
            condition_id=market.condition_id,
            tick_size=str(market.tick_size),
            min_size=str(market.min_size),
        )

    def _check_gamma(self, slug: str, window_start: int, gamma: GammaMarket) -> Market | str:
        """The market if Gamma's answer may be traded, else the reason it may not."""
        if gamma.slug != slug:
            return f"Gamma answered market {gamma.slug!r} for slug {slug!r}"
        if gamma.version is not None and gamma.version != SUPPORTED_GAMMA_VERSION:
            return (
                f"Gamma version {gamma.version!r} is not supported: only {SUPPORTED_GAMMA_VERSION!r} markets "
                "(clobTokenIds on CTF Exchange V2); v2 markets need position ids and Exchange V3"
            )
        try:
            market = to_market(gamma, window_seconds=self._window_seconds)
        except GammaError as exc:
            return f"malformed Gamma market: {exc}"
        length = market.window_end - market.window_start
        if market.window_start != window_start or length != self._window_seconds:
            return (
                f"window is {length} s from {market.window_start}, "
                f"expected {self._window_seconds} s from {window_start}"
            )
        if gamma.closed:
            return "market is closed"
        if not gamma.active:
            return "market is not active"
        if not gamma.accepting_orders:
            return "market is not accepting orders"
        return market

    def _refuse(self, slug: str, reason: str, change: _Pass) -> None:
        if self._refusals.get(slug) == reason:
            return  # reported already: say it once per reason, not every pass
        self._refusals[slug] = reason
        self._counts["refusals"] += 1
        change.refused.append(Refusal(slug, reason))
        _log.warning("market_refused", slug=slug, reason=reason)

    def _update(self, slug: str, found: _Found, change: _Pass) -> None:
        gamma, event = found
        key = next(k for k, d in self._listings.items() if d.market.slug == slug)
        listing = self._listings[key]
        if gamma.condition_id.lower() != key:
            self._counts["malformed"] += 1
            _log.warning(
                "gamma_condition_id_changed",
                slug=slug,
                was=listing.market.condition_id,
                now=gamma.condition_id,
            )
            return
        status = market_info(gamma, event)
        if status != listing.status:
            self._listings[key] = replace(listing, status=status)
            change.updated.append(status)
        if gamma.closed:  # resolved before its window ended: the book is gone
            self._finish(key, change)

    def _finish(self, key: str, change: _Pass) -> None:
        market = self._listings.pop(key).market
        self._pending[key] = market
        self._counts["finished"] += 1
        change.finished.append(market)
        _log.info("market_finished", slug=market.slug, condition_id=market.condition_id)

    def _check_resolution(self, key: str, market: Market, result: _Lookup, now: float, change: _Pass) -> None:
        resolution = None
        if result is not None and not isinstance(result, Exception):
            try:
                resolution = resolution_of(market, *result)
            except GammaError as exc:  # the slug now names another market: keep waiting
                self._counts["malformed"] += 1
                _log.warning("gamma_resolution_mismatch", slug=market.slug, error=str(exc))
        if resolution is not None:
            del self._pending[key]
            self._counts["resolved"] += 1
            change.resolutions.append(resolution)
            _log.info("market_resolved", slug=market.slug, winner=str(resolution.winner))
            return
        if now >= market.window_end + self._resolution_timeout_s:
            del self._pending[key]
            self._counts["unresolved"] += 1
            change.unresolved.append(market)
            _log.error("market_resolution_not_found", slug=market.slug, waited_s=now - market.window_end)

    # -- Gamma I/O ---------------------------------------------------------------------------

    async def _safe_lookup(self, slug: str, *, closed_fallback: bool) -> _Lookup:
        """:meth:`_lookup` with every failure counted and returned instead of raised."""
        try:
            found = await self._lookup(slug, closed_fallback=closed_fallback)
        except GammaError as exc:
            self._counts["malformed"] += 1
            self._note_failure(slug, exc)
            return exc
        except GammaUnavailable as exc:
            self._note_failure(slug, exc)
            return exc
        if self._consecutive_failures:
            _log.info("gamma_recovered", after_failures=self._consecutive_failures)
            self._consecutive_failures = 0
        return found

    def _note_failure(self, slug: str, exc: Exception) -> None:
        self._consecutive_failures += 1
        if self._consecutive_failures == 1 or self._consecutive_failures % _FAILURE_LOG_EVERY == 0:
            _log.warning(
                "gamma_lookup_failed", slug=slug, error=str(exc), consecutive=self._consecutive_failures
            )

    async def _lookup(self, slug: str, *, closed_fallback: bool) -> _Found | None:
        """The Gamma market of ``slug`` and its event; ``None`` if Gamma does not list it.

        With ``closed_fallback``, a slug the events route does not know is looked for again
        with ``/markets?slug=…&closed=true`` (``/markets`` hides closed markets by default).
        """
        body = await self._get(f"/events/slug/{slug}")
        if body is not None:
            event = parse_event(body)
            gamma = event.market_for(slug)
            if gamma is None:
                raise GammaError(f"event {slug} has no market with that slug")
            return gamma, event
        if not closed_fallback:
            return None
        body = await self._get("/markets", params={"slug": slug, "closed": "true"})
        if body is None:
            return None
        for gamma in parse_market_list(body):
            if gamma.slug == slug:
                return gamma, None
        return None

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """Decoded JSON of ``GET {gamma_host}{path}``; ``None`` on 404."""
        self._counts["gamma_requests"] += 1
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._session.get(f"{self._gamma_host}{path}", params=params) as response:
                    status = response.status
                    body = await response.read()
        except TimeoutError:
            self._counts["gamma_timeouts"] += 1
            raise GammaUnavailable(f"GET {path}: no answer within {self._timeout_s} s") from None
        except aiohttp.ClientError as exc:
            self._counts["gamma_errors"] += 1
            raise GammaUnavailable(f"GET {path}: {exc!r}") from None
        if status == 404:
            return None
        if status != 200:
            self._counts["gamma_errors"] += 1
            raise GammaUnavailable(f"GET {path}: HTTP {status} {body[:200]!r}")
        return decode_json(body)

    def _sleep_before_next_pass(self, interval_s: float) -> float:
        now = self._clock()
        boundary = window_start_for(now, self._window_seconds) + self._window_seconds
        return max(0.0, min(interval_s, boundary - now + _BOUNDARY_MARGIN_S))
