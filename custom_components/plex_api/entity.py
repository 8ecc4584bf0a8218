"""Base entity: every entity belongs to the Plex server's device."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import PlexApiCoordinator


class PlexApiEntity(CoordinatorEntity[PlexApiCoordinator]):
    """An entity of one Plex server, named after its description's translation key."""

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: PlexApiCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the server's device, keyed on its machine id.

        The device is created from this DeviceInfo only; the coordinator just
        updates its name and version when the server changes them.
        """
        super().__init__(coordinator)
        self.entity_description = description
        server = coordinator.data.server
        machine_identifier = coordinator.config_entry.unique_id
        self._attr_unique_id = f"{machine_identifier}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, str(machine_identifier))},
            name=server.friendly_name,
            manufacturer="Plex",
            model="Plex Media Server",
            sw_version=server.version,
            configuration_url=str(coordinator.client.base_url / "web"),
            entry_type=DeviceEntryType.SERVICE,
        )

    @property
    def available(self) -> bool:
        """Not while the server is away: no token is known to work then."""
        return super().available and self.coordinator.token_known
