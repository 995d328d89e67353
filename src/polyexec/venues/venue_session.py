"""One account's connection to the CLOB, built from :class:`~polyexec.config.Settings`.

:meth:`VenueSession.open` does the start-up sequence of docs §9 that every command shares:

1. one aiohttp session for every REST call;
2. the server-time offset (``GET /time``, best of a few round trips), so L1/L2 timestamps
   follow the venue's clock instead of the local one;
3. the order signer from ``POLYMARKET_PRIVATE_KEY`` (wallet type and funder from the
   settings), when a key is configured;
4. API credentials: the configured ``POLYMARKET_API_KEY``/``SECRET``/``PASSPHRASE``, or, when
   they are not set, created or derived from the key by L1 auth (nonce 0);
5. the :class:`~polyexec.venues.clob_client.ClobClient` with the signer's rate-limit buckets
   (``RATE_LIMIT_TIER``).

The session hands out the long-running parts that need the same account or clock
(:meth:`heartbeat`, :meth:`discovery`); a long-lived process also runs
``server_clock.run()`` as a task, which re-measures the offset every 5 minutes (``open``
measures it once). Close it (or use ``async with``) to release the HTTP
session; it never cancels orders by itself.
"""

from __future__ import annotations

from types import TracebackType

import aiohttp

from polyexec.config import Settings
from polyexec.logging_setup import get_logger
from polyexec.venues.auth import ApiCredentials
from polyexec.venues.clob_client import ClobClient
from polyexec.venues.heartbeat import HeartbeatMonitor
from polyexec.venues.http_transport import ClobTransport
from polyexec.venues.market_discovery import MarketDiscovery
from polyexec.venues.order_signer import OrderSigner
from polyexec.venues.rate_limiter import RateLimiter
from polyexec.venues.server_clock import ServerClock

__all__ = ["VenueSession", "credentials_from_settings", "signer_from_settings"]

_log = get_logger(module=__name__)


def signer_from_settings(settings: Settings) -> OrderSigner | None:
    """The order signer of the configured key and wallet, or ``None`` without a key."""
    key = settings.polymarket_private_key
    if key is None:
        return None
    return OrderSigner(
        key.get_secret_value(),
        chain_id=settings.chain_id,
        signature_type=settings.polymarket_signature_type,
        funder=settings.polymarket_funder,
    )


def credentials_from_settings(settings: Settings) -> ApiCredentials | None:
    """The configured L2 credentials (all three set), or ``None``."""
    api_key, secret, passphrase = (
        settings.polymarket_api_key,
        settings.polymarket_secret,
        settings.polymarket_passphrase,
    )
    if api_key is None or secret is None or passphrase is None:
        return None
    return ApiCredentials(
        api_key.get_secret_value(), secret.get_secret_value(), passphrase.get_secret_value()
    )


class VenueSession:
    """The REST side of one account: HTTP session, server clock, signer, credentials, client.

    Build it with :meth:`open`; the attributes are then ready to use.
    """

    def __init__(
        self,
        settings: Settings,
        http: aiohttp.ClientSession,
        server_clock: ServerClock,
        client: ClobClient,
        signer: OrderSigner | None,
        credentials_derived: bool,
    ) -> None:
        self.settings = settings
        self.http = http
        self.server_clock = server_clock
        self.client = client
        self.signer = signer
        self.credentials_derived = credentials_derived
        """True when the credentials came from L1 auth rather than the settings."""

    @property
    def credentials(self) -> ApiCredentials | None:
        return self.client.credentials

    @classmethod
    async def open(
        cls, settings: Settings, *, authenticate: bool = True, timeout_s: float = 5.0
    ) -> VenueSession:
        """Measure the clock and, with ``authenticate``, make sure the account has L2
        credentials (deriving them if needed). Raises the venue's error, or ``ValueError`` when
        authentication needs a key that is not configured."""
        http = aiohttp.ClientSession()
        try:
            return await cls._open(settings, http, authenticate=authenticate, timeout_s=timeout_s)
        except BaseException:
            await http.close()
            raise

    @classmethod
    async def _open(
        cls, settings: Settings, http: aiohttp.ClientSession, *, authenticate: bool, timeout_s: float
    ) -> VenueSession:
        signer = signer_from_settings(settings)
        limiter = RateLimiter.for_tier(settings.rate_limit_tier, name="clob")
        transport = ClobTransport(settings.clob_host, session=http, limiter=limiter, timeout_s=timeout_s)
        client = ClobClient(transport, signer=signer, credentials=credentials_from_settings(settings))
        server_clock = ServerClock(client.get_server_time, sample_timeout_s=timeout_s)
        # /time needs no auth; from here on every L1/L2 header is stamped with the venue's clock.
        await server_clock.measure()
        transport.use_server_clock(server_clock)
        derived = False
        if authenticate and client.credentials is None:
            if signer is None:
                raise ValueError(
                    "POLYMARKET_PRIVATE_KEY is not set: it is needed to derive API credentials "
                    "(or set POLYMARKET_API_KEY, POLYMARKET_SECRET and POLYMARKET_PASSPHRASE)"
                )
            client.use_credentials(await client.create_or_derive_api_key())
            derived = True
            _log.info("api_credentials_derived", address=signer.address)
        return cls(settings, http, server_clock, client, signer, derived)

    def heartbeat(self, *, interval_s: float = 5.0, unhealthy_after_s: float = 8.0) -> HeartbeatMonitor:
        """A heartbeat loop for this account (start it with ``run()``; it arms the venue's
        dead-man switch, which cancels every open order if the beats stop)."""
        return HeartbeatMonitor(
            self.client.post_heartbeat, interval_s=interval_s, unhealthy_after_s=unhealthy_after_s
        )

    def discovery(self, *, window_seconds: int = 900) -> MarketDiscovery:
        """Market discovery for the configured assets, with CLOB market info from this client."""
        return MarketDiscovery(
            self.settings.gamma_host,
            self.settings.market_assets,
            session=self.http,
            fetch_clob_info=self.client.get_clob_market_info,
            window_seconds=window_seconds,
        )

    async def close(self) -> None:
        await self.http.close()

    async def __aenter__(self) -> VenueSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
