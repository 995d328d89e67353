"""Accounts: pUSD balances, share positions, reservations and the wallet registry.

An account is a funding address (the order's ``maker``): an EOA, or a proxy / Safe /
deposit wallet that an EOA trades for. Balances follow the chain, not the order book:

* at MATCHED, what each side *gives* leaves its account (the buyer's pUSD plus the taker
  fee, the seller's shares);
* at MINED, what each side *receives* arrives (shares, or pUSD minus the taker fee);
* a FAILED trade gives back what left at MATCHED (a ghost fill is undone).

Resting orders reserve what they may give: pUSD for BUYs (at their limit price), shares for
SELLs. ``available = balance − reserved``. Accounts of the simulator's own background traders
are *internal*: unlimited pUSD and shares, nothing recorded.

Allowances: like a funded wallet that ran the venue's approval set, every account starts with
an unlimited pUSD allowance (``pusd_allowance is None``) and its shares approved
(``shares_approved``). ``POST /sim/accounts/{address}/allowance`` can lower or revoke them to
reproduce a wallet without approvals: a finite pUSD allowance caps what BUYs may take (it is
spent as trades match, and given back by a FAILED trade), revoked shares refuse every SELL.

Wallet registry: the simulator cannot ask a chain who owns a proxy, Safe or deposit wallet,
so the first time an EOA signs an order for a wallet (signature types 1, 2 or 3) the wallet is
registered to that EOA (and funded like a new account); afterwards only that EOA may trade
for it. ``POST /sim/wallets`` registers one ahead of time.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from eth_utils.address import to_checksum_address

from polyexec.sim.records import BUY, SELL, Order, Trade
from polyexec.sim.units import notional_micro

__all__ = ["Account", "Ledger", "internal_address", "internal_owner"]


def internal_owner(name: str) -> str:
    """The API-key-like owner id of the simulator's internal account ``name``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"polyexec-sim:{name}"))


def internal_address(name: str) -> str:
    """The made-up funding address of the internal account ``name``."""
    return to_checksum_address("0x" + hashlib.sha256(f"polyexec-sim:{name}".encode()).hexdigest()[:40])


@dataclass(slots=True, eq=False)
class Account:
    """One funding address and everything the exchange knows about it."""

    address: str
    internal: bool = False
    balance: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    incoming_shares: dict[str, int] = field(default_factory=dict)
    incoming_pusd: int = 0
    open_orders: dict[str, Order] = field(default_factory=dict)
    orders: list[Order] = field(default_factory=list)
    trades: list[Trade] = field(default_factory=list)
    orders_submitted: int = 0
    pusd_allowance: int | None = None
    shares_approved: bool = True

    def reserved_pusd(self) -> int:
        """pUSD held back by resting BUYs."""
        return sum(
            notional_micro(order.remaining, order.price)
            for order in self.open_orders.values()
            if order.side == BUY
        )

    def reserved_shares(self, asset_id: str) -> int:
        """Shares of ``asset_id`` held back by resting SELLs."""
        return sum(
            order.remaining
            for order in self.open_orders.values()
            if order.side == SELL and order.asset_id == asset_id
        )

    def available_pusd(self) -> int:
        """pUSD a new BUY may take: the balance (or a smaller allowance) less reservations."""
        usable = self.balance if self.pusd_allowance is None else min(self.balance, self.pusd_allowance)
        return usable - self.reserved_pusd()

    def available_shares(self, asset_id: str) -> int:
        """Shares a new SELL may give (none while the shares are not approved)."""
        if not self.shares_approved:
            return 0
        return self.positions.get(asset_id, 0) - self.reserved_shares(asset_id)

    def spend_allowance(self, amount: int) -> None:
        """Use (or, negative, give back) pUSD allowance; an unlimited one stays unlimited."""
        if self.pusd_allowance is not None:
            self.pusd_allowance -= amount

    def add_shares(self, asset_id: str, amount: int) -> None:
        left = self.positions.get(asset_id, 0) + amount
        if left:
            self.positions[asset_id] = left
        else:
            self.positions.pop(asset_id, None)


class Ledger:
    """Every account, keyed by lower-case address, plus the wallet registry."""

    def __init__(self, start_balance: int) -> None:
        self.start_balance = start_balance
        self._accounts: dict[str, Account] = {}
        self._wallet_owner: dict[str, str] = {}  # wallet (lower) → owner EOA (lower)
        self._wallets_of: dict[tuple[str, int], str] = {}  # (owner EOA lower, sig type) → wallet

    def get(self, address: str) -> Account | None:
        return self._accounts.get(address.lower())

    def open(self, address: str, *, internal: bool = False) -> Account:
        """The account of ``address``, created (and funded with ``start_balance``) if new."""
        key = address.lower()
        account = self._accounts.get(key)
        if account is None:
            account = Account(address=address, internal=internal)
            if not internal:
                account.balance = self.start_balance
            self._accounts[key] = account
        return account

    def accounts(self) -> list[Account]:
        return list(self._accounts.values())

    def fund(self, address: str, amount: int) -> Account:
        """Add (or with a negative amount, remove) pUSD: an admin deposit."""
        account = self.open(address)
        if account.balance + amount < 0:
            raise ValueError(f"balance of {address} would become negative")
        account.balance += amount
        return account

    # -- wallets ---------------------------------------------------------------------------

    def wallet_owner(self, wallet: str) -> str | None:
        return self._wallet_owner.get(wallet.lower())

    def wallet_for(self, owner: str, signature_type: int) -> str | None:
        return self._wallets_of.get((owner.lower(), signature_type))

    def register_wallet(self, owner: str, wallet: str, signature_type: int) -> Account:
        """Bind ``wallet`` to ``owner`` (idempotent). Raises ``ValueError`` if another EOA owns it."""
        current = self._wallet_owner.get(wallet.lower())
        if current is not None and current != owner.lower():
            raise ValueError(f"wallet {wallet} belongs to another signer")
        self._wallet_owner[wallet.lower()] = owner.lower()
        self._wallets_of.setdefault((owner.lower(), signature_type), wallet)
        return self.open(wallet)
