"""The plex_api integration: a Plex transient token, kept valid for Home Assistant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType
from homeassistant.util.hass_dict import HassKey

from .clients import async_create_client
from .const import DOMAIN
from .coordinator import PlexApiConfigEntry, PlexApiCoordinator
from .plex import TokenReason
from .repairs import async_remove_issues
from .services import async_setup_services

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
# Entries that a flow reloads with a new address or owner token (reauth,
# reconfigure, a discovered address), until a setup succeeds with it: that
# setup's first token has the reason `address`. Only the flow knows why.
_NEW_CONNECTION: HassKey[set[str]] = HassKey(f"{DOMAIN}_new_connection")


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the action, so automations validate even before an entry loads."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PlexApiConfigEntry) -> bool:
    """A first token from the entry's own server (3 requests), the sensor, push.

    No update listener: Home Assistant refuses one beside the flows' reloading
    methods (from 2026.12). The flows reload the entry for a new address or
    token; options apply in place through `async_apply_options`.
    """
    client = await async_create_client(hass, entry.data)
    changed = hass.data.setdefault(_NEW_CONNECTION, set())
    reason = TokenReason.ADDRESS if entry.entry_id in changed else TokenReason.SETUP
    coordinator = PlexApiCoordinator(hass, entry, client, first_reason=reason)
    await coordinator.async_config_entry_first_refresh()
    changed.discard(entry.entry_id)
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_start()
    return True


@callback
def async_connection_changed(hass: HomeAssistant, entry: PlexApiConfigEntry) -> None:
    """A flow reloads the entry with a new address or owner token: say so once."""
    hass.data.setdefault(_NEW_CONNECTION, set()).add(entry.entry_id)


@callback
def async_apply_options(
    hass: HomeAssistant, entry: PlexApiConfigEntry, options: Mapping[str, Any]
) -> None:
    """Store the options and show them at once: no reload, no new token.

    The coordinator reads the rotation age whenever it decides, and the sensor
    the token option at each state write: writing the states again now makes
    the token attribute appear or go at once.
    """
    hass.config_entries.async_update_entry(entry, options=options)
    if entry.state is ConfigEntryState.LOADED:
        entry.runtime_data.async_update_listeners()


async def async_unload_entry(hass: HomeAssistant, entry: PlexApiConfigEntry) -> bool:
    """Unload the sensors; the socket and every refresh are cancelled with them."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: PlexApiConfigEntry) -> None:
    """The entry is deleted: so are the repairs it raised."""
    hass.data.get(_NEW_CONNECTION, set()).discard(entry.entry_id)
    async_remove_issues(hass, entry)
