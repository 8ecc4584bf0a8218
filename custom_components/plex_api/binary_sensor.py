"""Live restart detection: whether the notification socket is up."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PlexApiConfigEntry
from .entity import PlexApiEntity

# The coordinator does all the I/O; entities only read its data.
PARALLEL_UPDATES = 0

LIVE_UPDATES = BinarySensorEntityDescription(
    key="live_updates",
    translation_key="live_updates",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexApiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the live-updates sensor of one Plex server."""
    async_add_entities([PlexApiLiveUpdates(entry.runtime_data, LIVE_UPDATES)])


class PlexApiLiveUpdates(PlexApiEntity, BinarySensorEntity):
    """On while restarts are noticed in seconds; off: only at the 5-minute check."""

    @property
    def available(self) -> bool:
        """Known even while the server is away: the socket is down then."""
        return True

    @property
    def is_on(self) -> bool:
        """Whether the notification socket is up."""
        return self.coordinator.live
