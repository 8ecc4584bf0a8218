"""Diagnostics: useful timing and identity, every token redacted."""

from __future__ import annotations

from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from homeassistant.core import HomeAssistant

from .plex_emulator import PlexEmulator


async def test_diagnostics(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """The owner and transient tokens never appear in diagnostics."""
    result = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    text = str(result)
    assert emulator.owner_token not in text
    assert emulator.issued_tokens
    for token in emulator.issued_tokens:
        assert token not in text
    assert result["entry"]["data"]["token"] == "**REDACTED**"
    assert result == snapshot(exclude=props("port"))
