"""Orders from prices and sizes: exact amounts from :mod:`polyexec.core.pricing`, signed by an
:class:`~polyexec.venues.order_signer.OrderSigner`.

* :func:`limit_order`: ``size`` shares at ``price`` (GTC, or GTD with ``expiration_s``).
* :func:`market_order`: a FOK/FAK order. BUY spends ``amount`` dollars, SELL sells ``amount``
  shares, at a worst acceptable price ``worst_price`` (§4.6).
* :func:`order_from_intent`: what the order manager calls with a strategy's
  :class:`~polyexec.core.models.OrderIntent`.

The amounts are the venue's rule computed exactly (§4.5, §4.6). The only differences from
``py-clob-client-v2`` are where the SDK's float maths is off, documented (and pinned by tests)
in :mod:`polyexec.core.pricing`: a size like 19.99 stays 19.99 shares here (the SDK signs
19.98), a market order's worst price like 0.29 stays 0.29 (the SDK signs 0.28), and very large
dollar legs are exact. Everywhere else the signed order is byte-identical to the SDK's
``OrderBuilder.build_order`` / ``build_market_order`` for the same salt and timestamp.

Prices are never rounded here: an off-tick price, or one outside ``[tick, 1 − tick]``, is a
``ValueError`` (choose the rounding with :func:`polyexec.core.pricing.quantize_price`). A size
or budget that floors to zero, a NaN or an infinity is a ``ValueError`` too; a ``float`` is a
``TypeError`` (money is never a float).
"""

from __future__ import annotations

from decimal import Decimal

from polyexec.core.models import OrderIntent, OrderType, Side
from polyexec.core.pricing import OrderAmounts, limit_order_amounts, market_order_amounts
from polyexec.venues.order_signer import OrderSigner, SignedOrder

__all__ = ["limit_order", "market_order", "order_from_intent"]


def limit_order(
    signer: OrderSigner,
    *,
    token_id: str,
    side: Side,
    price: Decimal,
    size: Decimal,
    tick_size: Decimal,
    neg_risk: bool,
    timestamp_ms: int,
    expiration_s: int = 0,
    salt: int | None = None,
) -> SignedOrder:
    """A signed limit order of ``size`` shares (floored to 2 decimals) at ``price``.

    BUY 10 @ 0.52 (tick 0.01) signs maker 5200000 (dollars) for taker 10000000 (shares).
    ``expiration_s`` is the GTD expiry in Unix seconds (0 for GTC; the venue wants at least
    now + 3 minutes and expires it a minute early). ``timestamp_ms`` and ``salt`` as in
    :meth:`OrderSigner.sign`.
    """
    amounts = limit_order_amounts(side, price, size, tick_size)
    return _sign(signer, token_id, amounts, neg_risk, timestamp_ms, expiration_s, salt)


def market_order(
    signer: OrderSigner,
    *,
    token_id: str,
    side: Side,
    amount: Decimal,
    worst_price: Decimal,
    tick_size: Decimal,
    neg_risk: bool,
    timestamp_ms: int,
    salt: int | None = None,
) -> SignedOrder:
    """A signed market order (post it as FOK or FAK): a marketable limit order at
    ``worst_price``.

    BUY: ``amount`` is the dollars to spend before fees (floored to cents); the signed shares
    are ``dollars / worst_price`` floored (BUY $10 @ 0.52 → maker 10000000, taker 19230700).
    SELL: ``amount`` is the shares to sell (floored to 2 decimals), for at least
    ``shares × worst_price`` dollars. No expiration.
    """
    amounts = market_order_amounts(side, amount, worst_price, tick_size)
    return _sign(signer, token_id, amounts, neg_risk, timestamp_ms, 0, salt)


def order_from_intent(
    signer: OrderSigner,
    intent: OrderIntent,
    *,
    tick_size: Decimal,
    neg_risk: bool,
    timestamp_ms: int,
    salt: int | None = None,
) -> SignedOrder:
    """The signed order of a strategy's intent.

    * GTC: a limit order of ``intent.size`` shares at ``intent.price``, no expiration.
    * GTD: the same with ``intent.expiration_s`` (required, and after ``timestamp_ms``).
    * FOK / FAK: a marketable limit order of ``intent.size`` shares at the worst price
      ``intent.price``: the same amounts as a limit order, no expiration.

    ``ValueError`` for an intent the venue would refuse: an expiration on a non-GTD order, a GTD
    order without one, post-only on FOK/FAK, or bad price/size (see :func:`limit_order`).
    Post the result with ``order_body(order, owner, intent.order_type, intent.post_only)``.
    """
    kind = OrderType(intent.order_type)
    expiration_s = 0
    if kind is OrderType.GTD:
        if intent.expiration_s is None or intent.expiration_s <= 0:
            raise ValueError("a GTD intent needs expiration_s (Unix seconds)")
        if intent.expiration_s * 1000 <= timestamp_ms:
            raise ValueError(
                f"GTD expiration_s {intent.expiration_s} is not after the order time {timestamp_ms} ms"
            )
        expiration_s = intent.expiration_s
    elif intent.expiration_s is not None:
        raise ValueError(f"expiration_s is only for GTD orders, not {kind.value}")
    if intent.post_only and kind.is_marketable_only:
        raise ValueError(f"post-only is valid only with GTC and GTD orders, not {kind.value}")
    return limit_order(
        signer,
        token_id=intent.token_id,
        side=intent.side,
        price=intent.price,
        size=intent.size,
        tick_size=tick_size,
        neg_risk=neg_risk,
        timestamp_ms=timestamp_ms,
        expiration_s=expiration_s,
        salt=salt,
    )


def _sign(
    signer: OrderSigner,
    token_id: str,
    amounts: OrderAmounts,
    neg_risk: bool,
    timestamp_ms: int,
    expiration_s: int,
    salt: int | None,
) -> SignedOrder:
    return signer.sign(
        token_id=token_id,
        side=amounts.side,
        maker_amount=amounts.maker_amount,
        taker_amount=amounts.taker_amount,
        neg_risk=neg_risk,
        expiration_s=expiration_s,
        timestamp_ms=timestamp_ms,
        salt=salt,
    )
