"""Sensors of the token: its expiry (the main one), when it was issued and checked."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_SHOW_TOKEN, DEFAULT_SHOW_TOKEN
from .coordinator import PlexApiConfigEntry, PlexApiData
from .entity import PlexApiEntity

ATTR_TOKEN = "token"

# The coordinator does all the I/O; entities only read its data.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PlexApiSensorEntityDescription(SensorEntityDescription):
    """A timestamp sensor computed from the coordinator's data."""

    value_fn: Callable[[PlexApiData], datetime]
    # Only the expiry sensor may show the token (when the user asks for it).
    shows_token: bool = False


SENSORS: tuple[PlexApiSensorEntityDescription, ...] = (
    # The key predates the name: it keeps the unique id of existing entities.
    PlexApiSensorEntityDescription(
        key="transient_token",
        translation_key="token_expiry",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda data: data.token.expires_at,
        shows_token=True,
    ),
    PlexApiSensorEntityDescription(
        key="token_issued",
        translation_key="token_issued",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.token.issued_at,
    ),
    # Changes at every check: useful to see that checks happen, noisy otherwise.
    PlexApiSensorEntityDescription(
        key="last_check",
        translation_key="last_check",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda data: data.checked_at,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexApiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors of one Plex server."""
    coordinator = entry.runtime_data
    async_add_entities(
        PlexApiSensor(coordinator, description) for description in SENSORS
    )


class PlexApiSensor(PlexApiEntity, SensorEntity):
    """A timestamp of the Plex server's token."""

    entity_description: PlexApiSensorEntityDescription
    # The token must never reach the recorder database.
    _unrecorded_attributes = frozenset({ATTR_TOKEN})

    @property
    def native_value(self) -> datetime:
        """The timestamp this sensor shows."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """The token itself, while the user wants it on the expiry sensor.

        Read at each state write: an options change applies without a reload.
        """
        options = self.coordinator.config_entry.options
        if self.entity_description.shows_token and options.get(
            CONF_SHOW_TOKEN, DEFAULT_SHOW_TOKEN
        ):
            return {ATTR_TOKEN: self.coordinator.data.token.token}
        return None
