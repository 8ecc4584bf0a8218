"""The transient-token sensor: its state is the expiry, so dashboards show time left."""

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
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CONF_SHOW_TOKEN, DEFAULT_SHOW_TOKEN
from .coordinator import PlexApiConfigEntry, PlexApiCoordinator, PlexApiData
from .entity import PlexApiEntity

ATTR_ISSUED_AT = "issued_at"
ATTR_TOKEN = "token"

# The coordinator does all the I/O; entities only read its data.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PlexApiSensorEntityDescription(SensorEntityDescription):
    """A sensor computed from the coordinator's data."""

    value_fn: Callable[[PlexApiData], datetime]
    attributes_fn: Callable[[PlexApiData, bool], Mapping[str, Any]]


def _token_attributes(data: PlexApiData, show_token: bool) -> Mapping[str, Any]:
    """The issue time, and the token itself while the user wants it shown."""
    attributes: dict[str, Any] = {ATTR_ISSUED_AT: data.token.issued_at.isoformat()}
    if show_token:
        attributes[ATTR_TOKEN] = data.token.token
    return attributes


SENSORS: tuple[PlexApiSensorEntityDescription, ...] = (
    PlexApiSensorEntityDescription(
        key="transient_token",
        translation_key="transient_token",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda data: data.token.expires_at,
        attributes_fn=_token_attributes,
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
    """A sensor of the Plex server's token."""

    entity_description: PlexApiSensorEntityDescription
    # The token must never reach the recorder database.
    _unrecorded_attributes = frozenset({ATTR_TOKEN})

    def __init__(
        self,
        coordinator: PlexApiCoordinator,
        description: PlexApiSensorEntityDescription,
    ) -> None:
        """Read the show-token option once: changing it reloads the entry."""
        super().__init__(coordinator, description)
        self._show_token: bool = coordinator.config_entry.options.get(
            CONF_SHOW_TOKEN, DEFAULT_SHOW_TOKEN
        )

    @property
    def native_value(self) -> datetime:
        """The expiry time of the current token."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any]:
        """Issue time and, if allowed, the token."""
        return self.entity_description.attributes_fn(
            self.coordinator.data, self._show_token
        )
