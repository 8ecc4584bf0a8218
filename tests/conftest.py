"""Fixtures: a real Plex emulator on loopback and a config entry pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import logging
from pathlib import Path
import ssl
from typing import Any
from unittest.mock import PropertyMock, patch
import warnings

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

import custom_components.plex_api
from custom_components.plex_api.const import DOMAIN
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant

from .deprecations import deprecated_uses
from .plex_emulator import PlexEmulator

ENTRY_ID = "01JPLEXAPITESTENTRY0000001"
START_TIME = "2026-11-28T12:00:00+00:00"

PLEX_API_SOURCE = Path(custom_components.plex_api.__file__).resolve().parent
# report_usage may log at any level; this logger says nothing else.
FRAME_LOGGER = "homeassistant.helpers.frame"


class DeprecationGuard(logging.Handler):
    """What fails a test: Home Assistant reporting a deprecated use by plex_api.

    Its log lines, from any logger at any level, and DeprecationWarnings whose
    source line is in plex_api's code (whoever issued them: Python, aiohttp,
    Home Assistant). Warnings are recorded, not raised, so a broad `except` in
    the integration cannot hide one.
    """

    def __init__(self, caught: list[warnings.WarningMessage]) -> None:
        """Collect from now on; `caught` is filled by `warnings.catch_warnings`."""
        super().__init__(logging.NOTSET)
        self.lines: list[str] = []
        self.caught = caught

    def emit(self, record: logging.LogRecord) -> None:
        """Keep a report line about plex_api."""
        for message in deprecated_uses([record.getMessage()]):
            self.lines.append(f"{record.levelname} [{record.name}] {message}")

    def ours(self) -> list[warnings.WarningMessage]:
        """The DeprecationWarnings raised from plex_api's own code."""
        return [
            caught
            for caught in self.caught
            if issubclass(caught.category, DeprecationWarning)
            and Path(caught.filename).resolve().is_relative_to(PLEX_API_SOURCE)
        ]

    def found(self) -> list[str]:
        """Everything that fails the test, one line each."""
        raised = [
            f"{w.category.__name__} at {w.filename}:{w.lineno}: {w.message}"
            for w in self.ours()
        ]
        return [*self.lines, *raised]

    def check(self) -> None:
        """Fail the test if anything was found."""
        if found := self.found():
            pytest.fail(
                "Deprecated use by plex_api:\n" + "\n".join(found), pytrace=False
            )

    def forget(self) -> None:
        """Drop what was found (for the guard's own test)."""
        self.lines.clear()
        for caught in self.ours():
            self.caught.remove(caught)


@pytest.fixture(autouse=True)
def deprecation_guard() -> Iterator[DeprecationGuard]:
    """Fail every test in which plex_api uses something deprecated.

    Set up before `hass` and checked after it is torn down, so an unload at
    the end counts too. Other warnings go on to pytest's summary as before.
    """
    frame_logger = logging.getLogger(FRAME_LOGGER)
    level = frame_logger.level
    root = logging.getLogger()
    with warnings.catch_warnings(record=True) as caught:
        # Ours always, whatever other filters say (Python hides repeats).
        warnings.filterwarnings(
            "always", category=DeprecationWarning, module=r"custom_components\.plex_api"
        )
        guard = DeprecationGuard(caught)
        frame_logger.setLevel(logging.DEBUG)
        root.addHandler(guard)
        try:
            yield guard
        finally:
            root.removeHandler(guard)
            frame_logger.setLevel(level)
    ours = guard.ours()
    for other in caught:
        if other not in ours:
            warnings.warn_explicit(
                other.message, other.category, other.filename, other.lineno
            )
    guard.check()


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
