"""VenueSession against the simulator: clock, signer, credentials (derived or configured)."""

from __future__ import annotations

import aiohttp
import pytest
from pydantic import SecretStr

from polyexec.config import Settings
from polyexec.core.models import SignatureType
from polyexec.sim.app import RunningSimulator
from polyexec.venues import venue_session
from polyexec.venues.auth import ApiCredentials
from polyexec.venues.venue_session import VenueSession, credentials_from_settings, signer_from_settings
from tests.venues.conftest import current_market


def _settings(running: RunningSimulator, **values: object) -> Settings:
    return Settings(**values).with_simulator_urls(running.base_url)  # type: ignore[arg-type]


async def test_open_derives_credentials_and_measures_the_clock(
    sim: RunningSimulator, trader_key: str
) -> None:
    settings = _settings(sim, polymarket_private_key=trader_key)
    async with await VenueSession.open(settings) as session:
        assert session.credentials_derived
        assert session.credentials is not None
        assert abs(session.server_clock.offset_s) < 2
        assert session.signer is not None
        assert await session.client.get_open_orders() == []
        balance = await session.client.get_balance_allowance("COLLATERAL")
        assert balance.balance > 0
        discovery = session.discovery()
        await discovery.refresh()
        market = current_market(sim, "btc")
        found = discovery.current("btc")
        assert found is not None
        assert found.condition_id == market.condition_id
        assert await session.client.post_heartbeat("") != ""


async def test_configured_credentials_are_used_as_they_are(sim: RunningSimulator, trader_key: str) -> None:
    settings = _settings(sim, polymarket_private_key=trader_key)
    async with await VenueSession.open(settings) as first:
        derived = first.credentials
    assert derived is not None
    configured = _settings(
        sim,
        polymarket_private_key=trader_key,
        polymarket_api_key=derived.api_key,
        polymarket_secret=derived.secret,
        polymarket_passphrase=derived.passphrase,
    )
    async with await VenueSession.open(configured) as session:
        assert not session.credentials_derived
        assert session.credentials == derived
        assert await session.client.get_open_orders() == []


async def test_authenticating_without_a_key_names_the_missing_setting(sim: RunningSimulator) -> None:
    with pytest.raises(ValueError, match="POLYMARKET_PRIVATE_KEY"):
        await VenueSession.open(_settings(sim))
    async with await VenueSession.open(_settings(sim), authenticate=False) as public:
        assert public.credentials is None
        assert await public.client.get_version() == 2


async def test_a_failed_open_closes_its_http_session(
    exchange_sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[aiohttp.ClientSession] = []
    real_session = aiohttp.ClientSession

    def recording_session() -> aiohttp.ClientSession:
        session = real_session()
        opened.append(session)
        return session

    monkeypatch.setattr(venue_session.aiohttp, "ClientSession", recording_session)
    with pytest.raises(ValueError, match="POLYMARKET_PRIVATE_KEY"):  # after the clock was measured
        await VenueSession.open(_settings(exchange_sim))
    assert len(opened) == 1
    assert opened[0].closed


def test_signer_and_credentials_follow_the_settings(trader_key: str) -> None:
    assert signer_from_settings(Settings()) is None
    assert credentials_from_settings(Settings()) is None
    funder = "0x" + "11" * 20
    signer = signer_from_settings(
        Settings(
            polymarket_private_key=SecretStr(trader_key),
            polymarket_signature_type=SignatureType.POLY_GNOSIS_SAFE,
            polymarket_funder=funder,
        )
    )
    assert signer is not None
    assert signer.signature_type is SignatureType.POLY_GNOSIS_SAFE
    assert signer.maker.lower() == funder
    secret = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5LV8="
    credentials = credentials_from_settings(
        Settings(polymarket_api_key="k", polymarket_secret=secret, polymarket_passphrase="p")  # type: ignore[arg-type]
    )
    assert credentials == ApiCredentials("k", secret, "p")
