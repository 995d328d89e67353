"""Venue adapters: everything that talks to Polymarket, Binance and Gamma.

* ``auth`` / ``order_signer`` / ``order_factory``: L1/L2 authentication and the fast CLOB V2
  order signer (byte-identical to ``py-clob-client-v2``);
* ``http_transport`` / ``clob_client`` / ``clob_responses`` / ``errors``: the async CLOB client
  and its error taxonomy; ``rate_limiter``, ``server_clock``, ``heartbeat``: what keeps it
  within the venue's limits, clock and dead-man switch;
* ``ws_connection`` / ``feed_stats``: the reconnecting websocket runner the feeds share;
  ``market_feed``, ``user_feed``, ``binance_feed``, ``rtds_feed``, ``reference_prices``: the
  feeds, with their ``*_messages`` decoders into :mod:`polyexec.core.events`;
* ``market_discovery`` / ``gamma_messages``: finding the 15-minute windows;
* ``venue_session``: building the parts from :class:`~polyexec.config.Settings`.

Nothing here is pure: the pure domain lives in :mod:`polyexec.core`.
"""
