"""Moving pUSD and shares between accounts as trades progress, and paying out resolutions.

* :func:`settle_matched`: the buyer's pUSD (plus the taker fee if the buyer is the taker; out
  of its allowance too) and the seller's shares leave their accounts; what each will receive
  is recorded as incoming.
* :func:`settle_mined`: shares reach the buyer, pUSD (minus the taker fee if the seller is
  the taker) reaches the seller.
* :func:`settle_failed`: a ghost fill is undone; what left at MATCHED comes back.
* :func:`pay_out_resolution`: every winning share pays 1 pUSD, losing shares are worthless.
* :func:`advance_trade`: one step of MATCHED → MINED → CONFIRMED (or MATCHED → FAILED).

Shares that arrive (or come back) after their market resolved are paid out at once.
Internal (background) accounts are not book-kept.
"""

from __future__ import annotations

from polyexec.sim.accounts import Account, Ledger
from polyexec.sim.records import Order, Trade, TradeStatus

__all__ = [
    "Resolutions",
    "advance_trade",
    "pay_out_resolution",
    "settle_failed",
    "settle_matched",
    "settle_mined",
]


class Resolutions:
    """Which tokens have been resolved, and whether each won."""

    def __init__(self) -> None:
        self._won: dict[str, bool] = {}

    def resolve(self, winning_token: str, losing_token: str) -> None:
        self._won[winning_token] = True
        self._won[losing_token] = False

    def outcome(self, asset_id: str) -> bool | None:
        """``True`` winner, ``False`` loser, ``None`` still trading."""
        return self._won.get(asset_id)


def _account(ledger: Ledger, order: Order) -> Account | None:
    if order.internal:
        return None
    return ledger.open(order.account)


def _give_shares(account: Account, asset_id: str, amount: int, resolutions: Resolutions) -> None:
    won = resolutions.outcome(asset_id)
    if won is None:
        account.add_shares(asset_id, amount)
    elif won:
        account.balance += amount  # one micro-share pays one micro-pUSD
    # a losing share is worth nothing


def settle_matched(ledger: Ledger, trade: Trade) -> None:
    buyer = _account(ledger, trade.buyer)
    seller = _account(ledger, trade.seller)
    if buyer is not None:
        buyer.balance -= trade.notional + trade.buyer_fee
        buyer.spend_allowance(trade.notional + trade.buyer_fee)
        buyer.incoming_shares[trade.asset_id] = buyer.incoming_shares.get(trade.asset_id, 0) + trade.size
    if seller is not None:
        seller.add_shares(trade.asset_id, -trade.size)
        seller.incoming_pusd += trade.notional - trade.seller_fee


def _clear_incoming(buyer: Account | None, seller: Account | None, trade: Trade) -> None:
    if buyer is not None:
        left = buyer.incoming_shares.get(trade.asset_id, 0) - trade.size
        if left:
            buyer.incoming_shares[trade.asset_id] = left
        else:
            buyer.incoming_shares.pop(trade.asset_id, None)
    if seller is not None:
        seller.incoming_pusd -= trade.notional - trade.seller_fee


def settle_mined(ledger: Ledger, trade: Trade, resolutions: Resolutions) -> None:
    buyer = _account(ledger, trade.buyer)
    seller = _account(ledger, trade.seller)
    _clear_incoming(buyer, seller, trade)
    if buyer is not None:
        _give_shares(buyer, trade.asset_id, trade.size, resolutions)
    if seller is not None:
        seller.balance += trade.notional - trade.seller_fee


def settle_failed(ledger: Ledger, trade: Trade, resolutions: Resolutions) -> None:
    buyer = _account(ledger, trade.buyer)
    seller = _account(ledger, trade.seller)
    _clear_incoming(buyer, seller, trade)
    if buyer is not None:
        buyer.balance += trade.notional + trade.buyer_fee
        buyer.spend_allowance(-(trade.notional + trade.buyer_fee))
    if seller is not None:
        _give_shares(seller, trade.asset_id, trade.size, resolutions)


def pay_out_resolution(ledger: Ledger, winning_token: str, losing_token: str) -> None:
    """Turn every settled position in the two tokens into pUSD (1 per winning share)."""
    for account in ledger.accounts():
        won = account.positions.pop(winning_token, 0)
        account.positions.pop(losing_token, None)
        account.balance += won


def advance_trade(
    ledger: Ledger,
    trade: Trade,
    at_ms: int,
    resolutions: Resolutions,
    transaction_hash: str,
    confirmed_delay_ms: int,
) -> bool:
    """Move ``trade`` one status on at ``at_ms`` and settle accordingly.

    MATCHED → MINED (or → FAILED for a ghost fill, with the hash of the reverted transaction),
    MINED → CONFIRMED. Sets ``trade.due_ms`` to the next change (``None`` once terminal).
    Returns ``False`` if the trade was already final.
    """
    if trade.status == TradeStatus.MATCHED:
        trade.transaction_hash = transaction_hash
        if trade.fails:
            trade.status = TradeStatus.FAILED
            trade.due_ms = None
            settle_failed(ledger, trade, resolutions)
        else:
            trade.status = TradeStatus.MINED
            trade.due_ms = at_ms + confirmed_delay_ms
            settle_mined(ledger, trade, resolutions)
    elif trade.status == TradeStatus.MINED:
        trade.status = TradeStatus.CONFIRMED
        trade.due_ms = None
    else:
        return False
    trade.last_update_ms = at_ms
    return True
