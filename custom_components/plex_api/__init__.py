"""The plex_api integration: a Plex transient token, kept valid for Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .clients import async_create_client
from .const import DOMAIN
from .coordinator import PlexApiConfigEntry, PlexApiCoordinator
from .repairs import async_remove_issues
from .services import async_setup_services

PLATFORMS: list[Platform] = [Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the action, so automations validate even before an entry loads."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: PlexApiConfigEntry) -> bool:
    """A first token from the entry's own server (3 requests), the sensor, push."""
    client = await async_create_client(hass, entry.data)
    entry.async_on_unload(client.close)
    coordinator = PlexApiCoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()
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
    async_remove_issues(hass, entry)
