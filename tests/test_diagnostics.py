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

from .helpers import refresh
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


async def test_a_token_echoed_anywhere_is_redacted(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """A server echoing X-Plex-Token as its name, or named like the owner token.

    Diagnostics redact every value holding a token, not only the token fields.
    """
    emulator.echo_token_as_name = True  # `/` is asked with the transient token
    emulator.platform = f"Linux {emulator.owner_token}"
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    result = await get_diagnostics_for_config_entry(hass, hass_client, config_entry)

    assert result["server"]["friendly_name"] == "**REDACTED**"
    assert result["server"]["platform"] == "**REDACTED**"
    assert result["server"]["machine_identifier"] == emulator.machine_identifier
    text = str(result)
    assert emulator.owner_token not in text
    assert all(token not in text for token in emulator.issued_tokens)


async def test_diagnostics_while_setup_retries(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """An entry waiting to set up still gives its (redacted) data and last error."""
    await emulator.stop()
    await hass.config_entries.async_setup(config_entry.entry_id)

    result = await get_diagnostics_for_config_entry(hass, hass_client, config_entry)

    assert result["entry"]["state"] == "setup_retry"
    assert "Could not connect to the Plex Media Server" in result["entry"]["reason"]
    assert result["entry"]["data"]["token"] == "**REDACTED**"
    assert emulator.owner_token not in str(result)
    assert "server" not in result


async def test_diagnostics_while_unavailable(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    """A failing entry tells why, by the error's translation key."""
    await emulator.stop()
    await refresh(hass)

    result = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    assert result["coordinator"]["phase"] == "away"
    assert result["coordinator"]["last_error"] == "cannot_connect"
