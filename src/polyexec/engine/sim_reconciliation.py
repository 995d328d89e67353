"""After ``polyexec live --sim``: does the simulator's own account agree with our portfolio?

The simulator keeps the account as the venue would (pUSD balance, shares per token, open
orders); polyexec keeps its portfolio from the venue's answers and user-channel events. At the
end of a ``live --sim`` run :func:`compare_with_simulator` reads the account through the
simulator's admin route (``GET /sim/accounts/{address}``) and checks, line by line:

* **open orders**: none left at the venue (the stop cancels them all);
* **positions**: every token the account still holds is held in the portfolio, share for share;
* **cash**: the balance moved by the portfolio's net result (realised PnL less fees), within the
  rounding each side does differently per fill — the fee (5 decimals: the simulator rounds half
  up, polyexec down) and the dollar leg of a fraction of a share (the simulator rounds it to 6
  decimals, the portfolio keeps ``shares × price`` exact): 0.000011 per fill.

A run that never traded has no account at the simulator (it is made on the first order); that
agrees with an empty portfolio.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import aiohttp

from polyexec.core.portfolio import Portfolio

__all__ = ["ROUNDING_PER_FILL", "SimulatorComparison", "compare_with_simulator"]

ROUNDING_PER_FILL: Final = Decimal("0.000011")
"""How far the cash may differ per fill (see the module documentation)."""


@dataclass(frozen=True, slots=True)
class SimulatorComparison:
    """The verdict and one line per check (``lines`` are ready to print)."""

    agrees: bool
    lines: tuple[str, ...]


async def compare_with_simulator(
    admin_url: str,
    address: str,
    portfolio: Portfolio,
    *,
    starting_balance: Decimal,
    fills: int,
    timeout_s: float = 5.0,
) -> SimulatorComparison:
    """Compare the simulator's account of ``address`` with ``portfolio`` (see the module doc).

    ``admin_url`` is the simulator's ``/sim`` base; ``starting_balance`` the account's pUSD
    before the run; ``fills`` how many fills the run booked. Never raises for what the simulator
    answers: an unreadable account is a disagreement that says why.
    """
    try:
        account = await _account(admin_url, address, timeout_s)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return SimulatorComparison(False, (f"simulator account unreadable: {exc}",))
    net = portfolio.realized_pnl - portfolio.fees_paid
    held = {p.token_id: p.quantity for p in portfolio.positions(open_only=True) if not p.settled}
    if account is None:
        agrees = not held and net == 0
        return SimulatorComparison(agrees, ("no account at the simulator: nothing was traded",))
    try:
        balance = Decimal(str(account["balances"]["pUSD"]))
        venue_held = {
            str(t): Decimal(str(s)) for t, s in account["positions"].items() if Decimal(str(s)) != 0
        }
        open_orders = list(account.get("open_orders") or [])
    except (KeyError, TypeError, InvalidOperation, AttributeError) as exc:
        return SimulatorComparison(False, (f"simulator account malformed: {exc!r}",))
    lines: list[str] = []
    ok_orders = not open_orders
    lines.append(f"open orders at the venue: {len(open_orders)}" + ("" if ok_orders else "  <- should be 0"))
    ok_positions = venue_held == held
    lines.append(
        f"positions: venue {len(venue_held)} token(s), portfolio {len(held)}"
        + (", share for share" if ok_positions else f"  <- differ: venue {venue_held}, portfolio {held}")
    )
    change = balance - starting_balance
    tolerance = ROUNDING_PER_FILL * max(1, fills)
    ok_cash = abs(change - net) <= tolerance
    lines.append(
        f"cash: balance change {change:+.6f} vs net PnL {net:+.6f} (tolerance {tolerance})"
        + ("" if ok_cash else "  <- differ")
    )
    return SimulatorComparison(ok_orders and ok_positions and ok_cash, tuple(lines))


async def _account(admin_url: str, address: str, timeout_s: float) -> dict[str, Any] | None:
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{admin_url}/accounts/{address}") as response,
    ):
        if response.status == 404:
            return None
        if response.status != 200:
            raise ValueError(f"HTTP {response.status} from the simulator's admin route")
        data = await response.json(content_type=None)
    if not isinstance(data, dict):
        raise ValueError("the simulator's account is not a JSON object")
    return data
