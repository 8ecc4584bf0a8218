"""The plex_api integration: a Plex transient token, kept valid for Home Assistant."""

from __future__ import annotations

from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
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
# What each entry was last set up with: a reload with other data (reconfigure,
# reauth, a discovered address) takes its first token for that reason.
_CONNECTIONS: HassKey[dict[str, dict[str, Any]]] = HassKey(f"{DOMAIN}_connections")


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the action, so automations validate even before an entry loads."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PlexApiConfigEntry) -> bool:
    """A first token from the entry's own server (3 requests), the sensor, push."""
    client = await async_create_client(hass, entry.data)
    connections = hass.data.setdefault(_CONNECTIONS, {})
    before = connections.get(entry.entry_id, entry.data)
    reason = TokenReason.SETUP if before == entry.data else TokenReason.ADDRESS
    coordinator = PlexApiCoordinator(hass, entry, client, first_reason=reason)
    await coordinator.async_config_entry_first_refresh()
    connections[entry.entry_id] = dict(entry.data)
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.async_start()
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    return True


async def _async_entry_updated(hass: HomeAssistant, entry: PlexApiConfigEntry) -> None:
    """Options apply in place: no new token, no unavailable sensor.

    A change of address or token comes from a flow that reloads the entry
    (reauth, reconfigure, discovery), so this listener sees only options.
    """
    entry.runtime_data.async_update_listeners()


async def async_unload_entry(hass: HomeAssistant, entry: PlexApiConfigEntry) -> bool:
    """Unload the sensors; the socket and every refresh are cancelled with them."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: PlexApiConfigEntry) -> None:
    """The entry is deleted: so are the repairs it raised."""
    hass.data.get(_CONNECTIONS, {}).pop(entry.entry_id, None)
    async_remove_issues(hass, entry)
