"""Typed decoding of Gamma (Polymarket's market-discovery API) payloads for 15-minute markets.

Gamma answers ``GET /events/slug/{slug}`` with an event whose ``markets[]`` holds the window's
one binary market, and ``GET /markets?slug=…`` with a list of markets (docs §6.2). This module
turns those JSON objects into immutable records and, from them, into the domain's
:class:`~polyexec.core.models.Market`::

    event = parse_event(decode_json(body))           # GammaError on anything malformed
    gamma_market = event.market_for(slug)
    market = to_market(gamma_market)                 # polyexec.core.models.Market
    status = market_info(gamma_market, event)        # accepting_orders, closed, winner, ...

Rules the decoder enforces (each failure is a :class:`GammaError` naming the field):

* ``outcomes`` and ``clobTokenIds`` are JSON-encoded **strings** on the venue; real JSON lists
  are accepted too. The outcomes must be exactly ``Up`` and ``Down`` in either order, and the
  token ids are mapped to them **by the index in ``outcomes``**, never by position;
* numbers (tick, minimum size, fee curve, outcome prices, ``priceToBeat``/``finalPrice``) become
  :class:`~decimal.Decimal`; NaN and infinities are refused. Pass bodies through
  :func:`decode_json`, which reads JSON floats as ``Decimal`` so that no float ever touches a
  price;
* times are ISO-8601 (``2026-09-28T17:30:00Z``, or Gamma's ``2024-01-05 20:16:29+00``); a time
  without a zone is read as UTC;
* ``null`` reads as "absent". Missing flags take their cautious value: ``acceptingOrders`` and
  ``active`` false, ``closed`` false, ``negRisk`` false.

The window of a market is identified by its slug, ``{asset}-updown-15m-{T}`` with ``T`` the
window start in Unix seconds (:func:`market_slug`, :func:`parse_market_slug`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from polyexec.core.models import ONE, ZERO, FeeSchedule, Market, Outcome

__all__ = [
    "GammaError",
    "GammaEvent",
    "GammaMarket",
    "GammaMarketInfo",
    "Resolution",
    "decode_json",
    "market_info",
    "market_slug",
    "parse_event",
    "parse_market",
    "parse_market_list",
    "parse_market_slug",
    "resolution_of",
    "to_market",
    "window_start_for",
]

_SLUG_RE: Final = re.compile(r"^([a-z0-9]+)-updown-15m-([0-9]{1,12})$")
_CONDITION_ID_RE: Final = re.compile(r"^0x[0-9a-fA-F]{64}$")
_TOKEN_ID_RE: Final = re.compile(r"^[0-9]{1,78}$")
_UINT256_LIMIT: Final = 2**256
_MAX_FEE_EXPONENT: Final = 16


class GammaError(ValueError):
    """A Gamma payload that cannot be used; the message names the field and the problem."""


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GammaMarket:
    """One Gamma market, decoded. Optional fields are ``None`` when Gamma left them out.

    ``outcomes[i]`` is the outcome of ``clob_token_ids[i]`` (and of ``outcome_prices[i]``).
    Times are Unix seconds. ``tick_size``/``min_size``/``fee`` are Gamma's view; the CLOB's
    ``/clob-markets`` values are authoritative when available.
    """

    slug: str
    condition_id: str
    outcomes: tuple[Outcome, Outcome]
    clob_token_ids: tuple[str, str]
    event_start_s: int | None
    end_s: int | None
    accepting_orders: bool
    active: bool
    closed: bool
    neg_risk: bool
    version: str | None
    min_size: Decimal | None
    tick_size: Decimal | None
    fee: FeeSchedule | None
    uma_resolution_status: str | None
    outcome_prices: tuple[Decimal, Decimal] | None
    closed_time_s: int | None

    def token_for(self, outcome: Outcome) -> str:
        """The token id of ``outcome``, found by its index in ``outcomes``."""
        return self.clob_token_ids[self.outcomes.index(outcome)]

    @property
    def winner(self) -> Outcome | None:
        """The winning outcome once the market is closed and its prices read 1 and 0.

        Before resolution ``outcomePrices`` carries the book's mid prices, so a market that is
        not ``closed`` has no winner whatever its prices say; a closed market whose prices are
        not exactly one ``1`` and one ``0`` (a split resolution) has none either.
        """
        if not self.closed or self.outcome_prices is None:
            return None
        first, second = self.outcome_prices
        if first == ONE and second == ZERO:
            return self.outcomes[0]
        if first == ZERO and second == ONE:
            return self.outcomes[1]
        return None


@dataclass(frozen=True, slots=True)
class GammaEvent:
    """A Gamma event: its slug, its markets, and the strike data of ``eventMetadata``.

    ``price_to_beat`` (the window's opening 60-second TWAP) appears about a minute into the
    window; ``final_price`` once the window has resolved.
    """

    slug: str
    markets: tuple[GammaMarket, ...]
    price_to_beat: Decimal | None
    final_price: Decimal | None

    def market_for(self, slug: str) -> GammaMarket | None:
        """The market with ``slug``, else the event's only market, else ``None``."""
        for market in self.markets:
            if market.slug == slug:
                return market
        return self.markets[0] if len(self.markets) == 1 else None


@dataclass(frozen=True, slots=True)
class GammaMarketInfo:
    """What Gamma says about a market's state right now (one record per lookup)."""

    condition_id: str
    slug: str
    accepting_orders: bool
    active: bool
    closed: bool
    version: str | None
    neg_risk: bool
    price_to_beat: Decimal | None
    final_price: Decimal | None
    winner: Outcome | None
    uma_resolution_status: str | None
    closed_time_s: int | None

    @property
    def tradable(self) -> bool:
        """``active and not closed and acceptingOrders`` (the venue's readiness check, §6.2)."""
        return self.active and not self.closed and self.accepting_orders


@dataclass(frozen=True, slots=True)
class Resolution:
    """How a finished window resolved, as Gamma reports it (see :func:`resolution_of`).

    ``final_price`` is the settlement TWAP (the event's ``finalPrice``) and ``price_to_beat`` the
    opening one; either is ``None`` when Gamma did not carry it (a bare market, without its
    event, has no strike data).
    """

    condition_id: str
    slug: str
    asset: str
    winner: Outcome
    winning_token_id: str
    final_price: Decimal | None
    price_to_beat: Decimal | None
    closed_time_s: int | None


# --- slugs -----------------------------------------------------------------------------------


def market_slug(asset: str, window_start: int) -> str:
    """The slug of ``asset``'s window starting at ``window_start``: ``btc-updown-15m-1790616600``.

    The ``15m`` stays whatever the window length (the simulator keeps the venue's form).
    """
    return f"{asset}-updown-15m-{window_start}"


def parse_market_slug(slug: str) -> tuple[str, int]:
    """``"btc-updown-15m-1790616600"`` → ``("btc", 1790616600)``; :class:`GammaError` otherwise."""
    match = _SLUG_RE.match(slug)
    if match is None:
        raise GammaError(
            f"slug {_show(slug)} is not a 15-minute Up/Down slug ({{asset}}-updown-15m-{{start}})"
        )
    return match.group(1), int(match.group(2))


def window_start_for(now_s: float, window_seconds: int) -> int:
    """Start (Unix seconds) of the window containing ``now_s``: ``now − now % window_seconds``
    (the ``T`` of the current window's slug; the next window starts at ``T + window_seconds``)."""
    second = int(now_s // 1)
    return second - second % window_seconds


# --- decoding ---------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise GammaError(f"JSON constant {name} is not a number Gamma may send")


def decode_json(raw: bytes | str) -> Any:
    """Parse a Gamma response body: floats become ``Decimal``; NaN/Infinity are refused."""
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except GammaError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise GammaError(f"response body is not JSON: {exc}") from None


def parse_event(obj: object) -> GammaEvent:
    """Decode one Gamma event (``/events/slug/{slug}``) with its nested markets."""
    data = _mapping(obj, "event")
    raw_markets = data.get("markets")
    if not isinstance(raw_markets, list):
        raise GammaError(f"event.markets must be a list, got {_kind(raw_markets)}")
    markets = tuple(_parse_market(item, f"event.markets[{i}]") for i, item in enumerate(raw_markets))
    metadata = data.get("eventMetadata")
    price_to_beat = final_price = None
    if metadata is not None:
        meta = _mapping(metadata, "event.eventMetadata")
        price_to_beat = _optional_price(meta.get("priceToBeat"), "event.eventMetadata.priceToBeat")
        final_price = _optional_price(meta.get("finalPrice"), "event.eventMetadata.finalPrice")
    slug = data.get("slug")
    return GammaEvent(
        slug=_text(slug, "event.slug") if slug is not None else "",
        markets=markets,
        price_to_beat=price_to_beat,
        final_price=final_price,
    )


def parse_market(obj: object) -> GammaMarket:
    """Decode one Gamma market object (``/markets/slug/{slug}`` or an element of a list)."""
    return _parse_market(obj, "market")


def parse_market_list(obj: object) -> tuple[GammaMarket, ...]:
    """Decode the list ``GET /markets?...`` answers."""
    if not isinstance(obj, list):
        raise GammaError(f"markets listing must be a list, got {_kind(obj)}")
    return tuple(_parse_market(item, f"markets[{i}]") for i, item in enumerate(obj))


def _parse_market(obj: object, where: str) -> GammaMarket:
    data = _mapping(obj, where)
    slug = _text(data.get("slug"), f"{where}.slug")
    condition_id = _text(data.get("conditionId"), f"{where}.conditionId")
    if not _CONDITION_ID_RE.match(condition_id):
        raise GammaError(f"{where}.conditionId must be 0x and 64 hex digits, got {_show(condition_id)}")
    outcomes = _outcomes(data.get("outcomes"), f"{where}.outcomes")
    token_ids = _token_ids(data.get("clobTokenIds"), f"{where}.clobTokenIds")
    prices_raw = data.get("outcomePrices")
    outcome_prices = None if prices_raw is None else _outcome_prices(prices_raw, f"{where}.outcomePrices")
    fee_raw = data.get("feeSchedule")
    version = data.get("version")
    uma_status = data.get("umaResolutionStatus")
    return GammaMarket(
        slug=slug,
        condition_id=condition_id,
        outcomes=outcomes,
        clob_token_ids=token_ids,
        event_start_s=_optional_time(data.get("eventStartTime"), f"{where}.eventStartTime"),
        end_s=_optional_time(data.get("endDate"), f"{where}.endDate"),
        accepting_orders=_flag(data.get("acceptingOrders"), f"{where}.acceptingOrders"),
        active=_flag(data.get("active"), f"{where}.active"),
        closed=_flag(data.get("closed"), f"{where}.closed"),
        neg_risk=_flag(data.get("negRisk"), f"{where}.negRisk"),
        version=None if version is None else _text(version, f"{where}.version"),
        min_size=_optional_min_size(data.get("orderMinSize"), f"{where}.orderMinSize"),
        tick_size=_optional_tick(data.get("orderPriceMinTickSize"), f"{where}.orderPriceMinTickSize"),
        fee=None if fee_raw is None else _fee_schedule(fee_raw, f"{where}.feeSchedule"),
        uma_resolution_status=None
        if uma_status is None
        else _text(uma_status, f"{where}.umaResolutionStatus"),
        outcome_prices=outcome_prices,
        closed_time_s=_optional_time(data.get("closedTime"), f"{where}.closedTime"),
    )


# --- to the domain ------------------------------------------------------------------------------


def to_market(market: GammaMarket, *, window_seconds: int | None = None) -> Market:
    """The domain :class:`Market` of a Gamma market.

    The asset and the window start come from the slug; ``eventStartTime``, when present, must
    agree with it (``startDate`` is the *listing* time and is never used). The window end is
    ``endDate``, or ``start + window_seconds`` when Gamma leaves it out. Tick, minimum size
    and fee curve are Gamma's when present, else the :class:`Market` defaults: merge the
    CLOB's values over them before trading.
    """
    asset, slug_start = parse_market_slug(market.slug)
    if market.event_start_s is not None and market.event_start_s != slug_start:
        raise GammaError(
            f"market {market.slug}: eventStartTime {market.event_start_s} disagrees with the slug's start"
        )
    if market.end_s is not None:
        window_end = market.end_s
    elif window_seconds is not None:
        window_end = slug_start + window_seconds
    else:
        raise GammaError(f"market {market.slug}: endDate is missing and no window length was given")
    if window_end <= slug_start:
        raise GammaError(
            f"market {market.slug}: endDate {window_end} is not after the window start {slug_start}"
        )
    # Gamma's trading parameters when it sent them, the Market defaults otherwise.
    optional: dict[str, Any] = {}
    if market.tick_size is not None:
        optional["tick_size"] = market.tick_size
    if market.min_size is not None:
        optional["min_size"] = market.min_size
    if market.fee is not None:
        optional["fee"] = market.fee
    return Market(
        asset=asset,
        slug=market.slug,
        condition_id=market.condition_id,
        up_token_id=market.token_for(Outcome.UP),
        down_token_id=market.token_for(Outcome.DOWN),
        window_start=slug_start,
        window_end=window_end,
        neg_risk=market.neg_risk,
        **optional,
    )


def market_info(market: GammaMarket, event: GammaEvent | None = None) -> GammaMarketInfo:
    """The status record of ``market`` (strike data from ``event`` when given)."""
    return GammaMarketInfo(
        condition_id=market.condition_id,
        slug=market.slug,
        accepting_orders=market.accepting_orders,
        active=market.active,
        closed=market.closed,
        version=market.version,
        neg_risk=market.neg_risk,
        price_to_beat=event.price_to_beat if event is not None else None,
        final_price=event.final_price if event is not None else None,
        winner=market.winner,
        uma_resolution_status=market.uma_resolution_status,
        closed_time_s=market.closed_time_s,
    )


def resolution_of(market: Market, gamma: GammaMarket, event: GammaEvent | None = None) -> Resolution | None:
    """``market``'s :class:`Resolution` from Gamma's answer for it, ``None`` while unresolved
    (see :attr:`GammaMarket.winner`). ``GammaError`` if the answer is about another market."""
    if gamma.condition_id.lower() != market.condition_id.lower():
        raise GammaError(
            f"Gamma's {market.slug} has condition id {gamma.condition_id}, not {market.condition_id}"
        )
    winner = gamma.winner
    if winner is None:
        return None
    return Resolution(
        condition_id=market.condition_id,
        slug=market.slug,
        asset=market.asset,
        winner=winner,
        winning_token_id=market.token_for(winner),
        final_price=event.final_price if event is not None else None,
        price_to_beat=event.price_to_beat if event is not None else None,
        closed_time_s=gamma.closed_time_s,
    )


# --- field helpers ------------------------------------------------------------------------------


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _show(value: object) -> str:
    """A short, safe rendering of a bad value for an error message (containers by type only:
    the repr of a hostile nested payload could be huge or recurse too deeply)."""
    if value is None or isinstance(value, str | int | float | Decimal):
        try:
            text = repr(value)
        except ValueError:  # an int too long to render (CPython's int→str digit limit)
            return f"<{_kind(value)}>"
        return text if len(text) <= 80 else text[:77] + "..."
    if isinstance(value, list):
        return f"<list of {len(value)}>"
    return f"<{_kind(value)}>"


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise GammaError(f"{where} must be an object, got {_kind(value)}")
    return value


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GammaError(f"{where} must be a non-empty string, got {_show(value)}")
    return value.strip()


def _flag(value: object, where: str) -> bool:
    if value is None:
        return False  # absent: the cautious reading (not accepting, not active, not closed, not neg-risk)
    if not isinstance(value, bool):
        raise GammaError(f"{where} must be true or false, got {_show(value)}")
    return value


def _json_list(value: object, where: str) -> list[Any]:
    """A list, or a string holding a JSON-encoded list (Gamma's form for outcomes and tokens)."""
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_float=Decimal, parse_constant=_refuse_constant)
        except GammaError:
            raise
        except (ValueError, RecursionError):
            raise GammaError(f"{where} must be a JSON-encoded list, got {_show(value)}") from None
    if not isinstance(value, list):
        raise GammaError(f"{where} must be a list (or a JSON-encoded list), got {_kind(value)}")
    return value


def _outcomes(value: object, where: str) -> tuple[Outcome, Outcome]:
    items = _json_list(value, where)
    names: list[Outcome] = []
    for item in items:
        if not isinstance(item, str):
            raise GammaError(f"{where} must hold strings, got {_kind(item)}")
        match item.strip().lower():
            case "up":
                names.append(Outcome.UP)
            case "down":
                names.append(Outcome.DOWN)
            case _:
                raise GammaError(f"{where} must be Up and Down, got {_show(item)}")
    if len(names) != 2 or set(names) != {Outcome.UP, Outcome.DOWN}:
        raise GammaError(f"{where} must be exactly Up and Down (in either order), got {_show(items)}")
    return names[0], names[1]


def _token_ids(value: object, where: str) -> tuple[str, str]:
    items = _json_list(value, where)
    if len(items) != 2:
        raise GammaError(f"{where} must hold two token ids (one per outcome), got {len(items)}")
    tokens: list[str] = []
    for item in items:
        token = item.strip() if isinstance(item, str) else None
        if token is None or not _TOKEN_ID_RE.match(token) or int(token) >= _UINT256_LIMIT:
            raise GammaError(f"{where} must hold decimal uint256 strings, got {_show(item)}")
        tokens.append(token)
    if tokens[0] == tokens[1]:
        raise GammaError(f"{where} lists the same token for both outcomes")
    return tokens[0], tokens[1]


def _decimal(value: object, where: str) -> Decimal:
    """A finite Decimal from a JSON number or a numeric string; never from a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise GammaError(f"{where} must be a number, got {_show(value)}")
    try:
        # str() of a float is its shortest round-trip form: the digits the JSON text had.
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise GammaError(f"{where} must be a number, got {_show(value)}") from None
    if not number.is_finite():
        raise GammaError(f"{where} must be a finite number, got {_show(value)}")
    return number


def _optional_price(value: object, where: str) -> Decimal | None:
    if value is None:
        return None
    number = _decimal(value, where)
    if number <= ZERO:
        raise GammaError(f"{where} must be positive, got {number}")
    return number


def _optional_tick(value: object, where: str) -> Decimal | None:
    if value is None:
        return None
    tick = _decimal(value, where)
    if not ZERO < tick < ONE:
        raise GammaError(f"{where} must lie strictly between 0 and 1, got {tick}")
    return tick


def _optional_min_size(value: object, where: str) -> Decimal | None:
    if value is None:
        return None
    size = _decimal(value, where)
    if size < ZERO:
        raise GammaError(f"{where} must not be negative, got {size}")
    return size


def _outcome_prices(value: object, where: str) -> tuple[Decimal, Decimal]:
    items = _json_list(value, where)
    if len(items) != 2:
        raise GammaError(f"{where} must hold two prices (one per outcome), got {len(items)}")
    prices = tuple(_decimal(item, f"{where}[{i}]") for i, item in enumerate(items))
    for i, price in enumerate(prices):
        if not ZERO <= price <= ONE:
            raise GammaError(f"{where}[{i}] must lie in [0, 1], got {price}")
    return prices[0], prices[1]


def _fee_schedule(value: object, where: str) -> FeeSchedule:
    data = _mapping(value, where)
    rate = _decimal(data.get("rate"), f"{where}.rate")
    if not ZERO <= rate <= ONE:
        raise GammaError(f"{where}.rate must lie in [0, 1], got {rate}")
    exponent_raw = _decimal(data.get("exponent", 1), f"{where}.exponent")
    # Bounded before int(): a hostile "1e999999999" must not become a gigantic integer.
    if not ZERO <= exponent_raw <= _MAX_FEE_EXPONENT or exponent_raw != exponent_raw.to_integral_value():
        raise GammaError(
            f"{where}.exponent must be a whole number in [0, {_MAX_FEE_EXPONENT}], got {exponent_raw}"
        )
    defaults = FeeSchedule()
    taker_only_raw = data.get("takerOnly")
    taker_only = (
        defaults.taker_only if taker_only_raw is None else _flag(taker_only_raw, f"{where}.takerOnly")
    )
    rebate_raw = data.get("rebateRate")
    rebate = defaults.rebate_rate if rebate_raw is None else _decimal(rebate_raw, f"{where}.rebateRate")
    if not ZERO <= rebate <= ONE:
        raise GammaError(f"{where}.rebateRate must lie in [0, 1], got {rebate}")
    return FeeSchedule(rate=rate, exponent=int(exponent_raw), taker_only=taker_only, rebate_rate=rebate)


def _optional_time(value: object, where: str) -> int | None:
    """Unix seconds (floored) of an ISO-8601 time; a time without a zone is UTC."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise GammaError(f"{where} must be an ISO-8601 time string, got {_show(value)}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise GammaError(f"{where} must be an ISO-8601 time, got {_show(value)}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return int(moment.timestamp() // 1)
    except (OverflowError, ValueError, OSError):
        raise GammaError(f"{where} is out of range: {_show(value)}") from None
