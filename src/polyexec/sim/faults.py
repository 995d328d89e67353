"""The fault registry: what chaos tests switch on, and what the simulator asks before it acts.

Each fault has a name, a ``rate`` (the probability it fires each time it is checked; 1 = every
time) and optional scope and timing. It is active from ``from_s`` until ``until_s`` on the
simulator's clock (both optional). ``hits`` counts how often it fired, so a test can observe it.

================ ==========================================================================
name             effect
================ ==========================================================================
ws_drop          close a websocket abruptly (checked once per outgoing frame); ``channels``
ws_freeze        send nothing but keep answering PING; the simulator's CLOB sockets stay
                 frozen until the client reconnects; ``channels``
ws_malformed     replace an outgoing frame with a malformed one; ``channels``
http_500         answer 500 (``after: true``: process the request first, then answer 500)
http_425         answer 425 Too Early (matching-engine restart)
http_429         answer 429 with ``Retry-After: retry_after``
http_slow        wait ``delay`` real seconds, then process normally
http_timeout     process the request, then hold the answer ``delay`` real seconds (clients
                 time out; the request did happen)
post_only        503 ``post_only_mode`` for orders that are not post-only (cancels still work)
cancel_only      503 cancel-only for every new order
trading_disabled 503 ``Trading is currently disabled. Check polymarket.com for updates`` for
                 every new order (cancels still work)
order_timeout    a new order passes every check, then ``POST /order`` answers 500 ``order
                 timed out`` without placing it (in a ``POST /orders`` batch, that order's
                 result says so); it never reached the book, so resending it is safe
user_duplicate   send a user-channel event twice
user_reorder     hold a user-channel event back and send it after the next one
ghost_fills      this fraction (``rate``) of new trades ends FAILED and is reversed (observe
                 it through the trades' status; ``hits`` is not counted for it)
================ ==========================================================================

HTTP faults apply to the CLOB REST paths (everything but ``/sim``, ``/ws``, ``/gamma``,
``/binance`` and ``/rtds``) unless ``paths`` (path prefixes) and ``methods`` narrow or widen
them. Websocket faults apply to every channel of :class:`~polyexec.sim.contracts.WsChannel`
unless ``channels`` names some.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from polyexec.sim.contracts import WsChannel

__all__ = ["FAULT_NAMES", "HTTP_FAULTS", "Fault", "FaultRegistry"]

HTTP_FAULTS = ("http_500", "http_425", "http_429", "http_slow", "http_timeout")
WS_FAULTS = ("ws_drop", "ws_freeze", "ws_malformed")
FAULT_NAMES = frozenset(
    (
        *HTTP_FAULTS,
        *WS_FAULTS,
        "post_only",
        "cancel_only",
        "trading_disabled",
        "order_timeout",
        "user_duplicate",
        "user_reorder",
        "ghost_fills",
    )
)
_NOT_CLOB = ("/sim", "/ws", "/gamma", "/binance", "/rtds")
_DEFAULT_DELAY = {"http_slow": 1.0, "http_timeout": 30.0}


@dataclass(slots=True)
class Fault:
    """One switched-on fault; see the module docstring for the fields' meaning."""

    name: str
    rate: float = 1.0
    channels: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    retry_after: float = 1.0
    delay: float = 0.0
    after: bool = False
    from_s: float | None = None
    until_s: float | None = None
    hits: int = field(default=0)

    def active(self, now_s: float) -> bool:
        return (self.from_s is None or now_s >= self.from_s) and (
            self.until_s is None or now_s < self.until_s
        )

    def covers_path(self, method: str, path: str) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        if self.paths is None:
            return not path.startswith(_NOT_CLOB)
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.paths)

    def covers_channel(self, channel: str) -> bool:
        return self.channels is None or channel in self.channels

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def _tuple(value: Any, field_name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field_name} must be a list of strings")
    return tuple(value)


class FaultRegistry:
    """Switched-on faults, consulted by every handler. Implements
    :class:`~polyexec.sim.contracts.FaultView`. Draws come from a seeded RNG."""

    def __init__(self, now_s: Callable[[], float], seed: int = 0) -> None:
        self._now_s = now_s
        self._rng = random.Random(seed)  # noqa: S311  # reproducible chaos, not secrets
        self._faults: dict[str, Fault] = {}

    # -- switching ------------------------------------------------------------------------

    def set(self, name: str, **options: Any) -> Fault:
        """Switch ``name`` on (replacing an earlier setting). Options: ``rate``, ``channels``,
        ``paths``, ``methods``, ``retry_after``, ``delay``, ``after``, ``seconds`` (switch off
        after this many simulated seconds), ``start_in`` (switch on after this many).
        Raises ``ValueError`` naming a bad option."""
        if name not in FAULT_NAMES:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULT_NAMES))}")
        known = {
            "rate",
            "channels",
            "paths",
            "methods",
            "retry_after",
            "delay",
            "after",
            "seconds",
            "start_in",
        }
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown option(s) for {name}: {', '.join(sorted(unknown))}")
        rate = float(options.get("rate", 1.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1] (got {rate})")
        channels = _tuple(options.get("channels"), "channels")
        if channels is not None and not set(channels) <= set(WsChannel.ALL):
            raise ValueError(f"channels must be among {', '.join(WsChannel.ALL)}")
        methods = _tuple(options.get("methods"), "methods")
        now = self._now_s()
        start_in = float(options.get("start_in", 0.0))
        seconds = options.get("seconds")
        fault = Fault(
            name=name,
            rate=rate,
            channels=channels,
            paths=_tuple(options.get("paths"), "paths"),
            methods=tuple(m.upper() for m in methods) if methods is not None else None,
            retry_after=float(options.get("retry_after", 1.0)),
            delay=float(options.get("delay", _DEFAULT_DELAY.get(name, 0.0))),
            after=bool(options.get("after", False)),
            from_s=now + start_in if start_in > 0 else None,
            until_s=now + start_in + float(seconds) if seconds is not None else None,
        )
        if fault.retry_after < 0 or fault.delay < 0:
            raise ValueError("retry_after and delay must not be negative")
        self._faults[name] = fault
        return fault

    def clear(self, name: str | None = None) -> None:
        """Switch one fault off (or all of them)."""
        if name is None:
            self._faults.clear()
        else:
            self._faults.pop(name, None)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Every switched-on fault (active now or scheduled) with its hit count."""
        now = self._now_s()
        return {name: {**f.describe(), "active": f.active(now)} for name, f in self._faults.items()}

    def restart(self, seconds: float, post_only_seconds: float) -> None:
        """A matching-engine restart: 425 on order endpoints for ``seconds``, then post-only
        mode for ``post_only_seconds`` (the venue's 2 minutes)."""
        self.set(
            "http_425", paths=["/order", "/orders", "/cancel-all", "/cancel-market-orders"], seconds=seconds
        )
        if post_only_seconds > 0:
            self.set("post_only", start_in=seconds, seconds=post_only_seconds)

    # -- asking ---------------------------------------------------------------------------

    def _fire(self, name: str, accept: Callable[[Fault], bool] | None = None) -> Fault | None:
        fault = self._faults.get(name)
        if fault is None or not fault.active(self._now_s()):
            return None
        if accept is not None and not accept(fault):
            return None
        if fault.rate < 1.0 and self._rng.random() >= fault.rate:
            return None
        fault.hits += 1
        return fault

    def ws_should_drop(self, channel: str) -> bool:
        return self._fire("ws_drop", lambda f: f.covers_channel(channel)) is not None

    def ws_frozen(self, channel: str) -> bool:
        return self._fire("ws_freeze", lambda f: f.covers_channel(channel)) is not None

    def ws_malformed(self, channel: str) -> bool:
        return self._fire("ws_malformed", lambda f: f.covers_channel(channel)) is not None

    def http_fault(self, method: str, path: str, names: Iterable[str] = HTTP_FAULTS) -> Fault | None:
        """The first HTTP fault that fires for this request, if any."""
        for name in names:
            fault = self._fire(name, lambda f: f.covers_path(method, path))
            if fault is not None:
                return fault
        return None

    def trading_mode(self) -> Fault | None:
        """``trading_disabled``, ``cancel_only`` or ``post_only`` if one applies to the next new
        order (checked in that order: the strictest mode wins)."""
        return self._fire("trading_disabled") or self._fire("cancel_only") or self._fire("post_only")

    def order_timeout(self) -> bool:
        """Whether the next new order times out in the matching engine (and is not placed)."""
        return self._fire("order_timeout") is not None

    def seconds_left(self, fault: Fault) -> float:
        """How long ``fault`` stays on (its ``retry_after`` if it has no end)."""
        if fault.until_s is None:
            return fault.retry_after
        return max(fault.until_s - self._now_s(), 0.0)

    def user_duplicate(self) -> bool:
        return self._fire("user_duplicate") is not None

    def user_reorder(self) -> bool:
        return self._fire("user_reorder") is not None

    def ghost_fill_rate(self) -> float:
        """The fraction of new trades that must fail (0 when ``ghost_fills`` is off)."""
        fault = self._faults.get("ghost_fills")
        if fault is None or not fault.active(self._now_s()):
            return 0.0
        return fault.rate
