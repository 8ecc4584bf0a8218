"""The entities (sensors, the token event, live updates) and the device, snapshotted."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.plex_api.const import CONF_SHOW_TOKEN, DOMAIN, UPDATE_INTERVAL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er

from .helpers import SENSOR, current_token, poll
from .plex_emulator import PlexEmulator


@pytest.mark.parametrize("platform", ["binary_sensor", "event", "sensor"])
async def test_entities(
    entity_registry_enabled_by_default: None,
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    platform: str,
) -> None:
    """Every entity's registry entry and state, by core's snapshot_platform.

    It takes one platform at a time: the other platforms' entities are removed
    from the registry first (their entities go with them). By default the
    sensor has no token attribute.
    """
    entries = er.async_entries_for_config_entry(
        entity_registry, init_integration.entry_id
    )
    assert {entry.domain for entry in entries} == {"binary_sensor", "event", "sensor"}
    for entry in entries:
        if entry.domain != platform:
            entity_registry.async_remove(entry.entity_id)
    await hass.async_block_till_done()

    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)
    state = hass.states.get(SENSOR)
    assert (state is not None) is (platform == "sensor")
    if state is not None:
        assert "token" not in state.attributes
        assert state.state == "2026-11-30T12:00:00+00:00"


async def test_device(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """One service device per server, linking to its web app."""
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, emulator.machine_identifier), init_integration.entry_id
    )
    assert device is not None
    assert device.configuration_url == f"{emulator.url}/web"
    assert device == snapshot(exclude=props("configuration_url"))


async def test_token_shown_by_option(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """With the option on the sensor shows the current token."""
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_SHOW_TOKEN: True}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    state = hass.states.get(SENSOR)
    assert state is not None
    assert state.attributes["token"] == current_token(hass)
    assert emulator.is_accepted(state.attributes["token"])
    issued = hass.states.get("sensor.living_room_plex_token_issued")
    assert issued is not None
    assert issued.state == "2026-11-28T12:00:00+00:00"


async def test_last_check_sensor(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Disabled by default (it changes at every check); enabled, it follows them."""
    entity_id = "sensor.living_room_plex_last_check"
    assert hass.states.get(entity_id) is None
    entity_registry.async_update_entity(entity_id, disabled_by=None)
    frozen_time.tick(31)  # Home Assistant reloads the entry to add it
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    first = hass.states.get(entity_id)
    assert first is not None

    await poll(hass, frozen_time)

    later = hass.states.get(entity_id)
    assert later is not None
    assert later.state > first.state


async def test_device_follows_server(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """A Plex update (new version) or rename shows on the device at the next poll."""
    emulator.version = "1.43.0.10100-aaaaaaaaa"
    emulator.friendly_name = "Den Plex"

    frozen_time.tick(UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, emulator.machine_identifier), init_integration.entry_id
    )
    assert device is not None
    assert device.sw_version == "1.43.0.10100-aaaaaaaaa"
    assert device.name == "Den Plex"
