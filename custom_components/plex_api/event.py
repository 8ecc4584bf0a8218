"""The token event: fired at each new token, so automations can re-send URLs."""

from __future__ import annotations

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import PlexApiConfigEntry, PlexApiCoordinator, PlexApiData
from .entity import PlexApiEntity
from .plex import EARLIER_TOKENS_DEAD, TokenReason

# The coordinator does all the I/O; entities only read its data.
PARALLEL_UPDATES = 0

TOKEN_RENEWED = EventEntityDescription(
    key="token_renewed",
    translation_key="token_renewed",
    # The first token at setup fires nothing: nothing was handed out before.
    event_types=[
        reason.value for reason in TokenReason if reason is not TokenReason.SETUP
    ],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: PlexApiConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the token event of one Plex server."""
    async_add_entities([PlexApiTokenEvent(entry.runtime_data, TOKEN_RENEWED)])


class PlexApiTokenEvent(PlexApiEntity, EventEntity):
    """Fires with the reason as its type; the token itself never goes in it.

    The event's state and attributes are recorded, so it carries only when
    the token was issued, when it expires and whether earlier ones died.
    """

    def __init__(
        self, coordinator: PlexApiCoordinator, description: EventEntityDescription
    ) -> None:
        """Remember the token in hand, so that only a new one fires."""
        super().__init__(coordinator, description)
        self._seen = coordinator.data.token

    async def async_added_to_hass(self) -> None:
        """A token taken for a new address or owner token fires at setup too."""
        await super().async_added_to_hass()
        if self.coordinator.data.reason is not TokenReason.SETUP:
            self._fire(self.coordinator.data)
            self.async_write_ha_state()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Fire when the coordinator took a new token."""
        data = self.coordinator.data
        if data.token != self._seen and data.reason is not TokenReason.SETUP:
            self._fire(data)
        self._seen = data.token
        super()._handle_coordinator_update()

    def _fire(self, data: PlexApiData) -> None:
        """Trigger the event for the current token (no token in it)."""
        self._trigger_event(
            data.reason.value,
            {
                "issued_at": data.token.issued_at.isoformat(),
                "expires_at": data.token.expires_at.isoformat(),
                "earlier_tokens_dead": data.reason in EARLIER_TOKENS_DEAD,
            },
        )
