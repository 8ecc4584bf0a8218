"""Fixtures: a real Plex emulator on loopback and a config entry pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import ssl
from typing import Any
from unittest.mock import PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.plex_api.const import DOMAIN
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant

from .plex_emulator import PlexEmulator

ENTRY_ID = "01JPLEXAPITESTENTRY0000001"
START_TIME = "2026-11-28T12:00:00+00:00"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> Iterator[None]:
    """Let Home Assistant load custom_components/plex_api in every test."""
    return


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialise Home Assistant objects (states, registry entries) stably."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def frozen_time(freezer: FrozenDateTimeFactory) -> FrozenDateTimeFactory:
    """Start every snapshot at the same instant."""
    freezer.move_to(START_TIME)
    return freezer


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[PlexEmulator]:
    """A real Plex Media Server emulator on 127.0.0.1, on a free port.

    Behind a proxy that refuses WebSockets: the integration then polls every
    5 minutes, the safety net most lifecycle tests exercise. The tests of the
    notification socket (test_push.py) use `push_emulator`.
    """
    async with PlexEmulator() as server:
        server.refuse_websockets = True
        yield server


@pytest.fixture
async def push_emulator(
    emulator: PlexEmulator,
) -> PlexEmulator:
    """The emulator with its notification socket open to clients, as PMS has."""
    emulator.refuse_websockets = False
    return emulator


@pytest.fixture
def entry_data(emulator: PlexEmulator) -> dict[str, Any]:
    """Config entry data for the emulator."""
    return {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: emulator.port,
        CONF_TOKEN: emulator.owner_token,
        CONF_SSL: False,
        CONF_VERIFY_SSL: True,
    }


@pytest.fixture
def config_entry(
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any]
) -> MockConfigEntry:
    """A config entry for the emulator, added to Home Assistant but not set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=emulator.friendly_name,
        unique_id=emulator.machine_identifier,
        data=entry_data,
        entry_id=ENTRY_ID,
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def init_integration(
    hass: HomeAssistant,
    frozen_time: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
) -> MockConfigEntry:
    """The config entry, set up against the emulator."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    return config_entry


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Every entity enabled, as core's fixture of that name does (for snapshots)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def trusted_certificates(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Certificates Home Assistant's verifying session trusts (a test trust store)."""
    trusted: list[bytes] = []

    def client_context(*_args: Any) -> ssl.SSLContext:
        context = ssl.create_default_context()
        for pem in trusted:
            context.load_verify_locations(cadata=pem.decode())
        return context

    monkeypatch.setattr("homeassistant.util.ssl.client_context", client_context)
    return trusted
