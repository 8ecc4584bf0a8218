"""Small helpers shared by the integration tests."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.plex_api.const import DOMAIN, UPDATE_INTERVAL
from custom_components.plex_api.coordinator import PlexApiConfigEntry
from homeassistant.core import HomeAssistant

SENSOR = "sensor.living_room_plex_transient_token"


def current_token(hass: HomeAssistant) -> str:
    """The transient token the (only) entry holds now."""
    entry: PlexApiConfigEntry = hass.config_entries.async_entries(DOMAIN)[0]
    return entry.runtime_data.data.token.token


async def poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let one poll interval pass and the poll finish."""
    freezer.tick(UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
