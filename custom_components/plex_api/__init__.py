"""The plex_api integration: a Plex transient token, kept valid for Home Assistant."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN
from .coordinator import PlexApiConfigEntry, PlexApiCoordinator
from .helpers import async_create_client
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
    coordinator = PlexApiCoordinator(hass, entry, client)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    coordinator.push.start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: PlexApiConfigEntry) -> bool:
    """Unload the sensor; the entry's background tasks are cancelled with it."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
