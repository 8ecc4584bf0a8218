"""What automations see when the token changes: the event, live updates, validity."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError

from .helpers import advance, call_action, current_token, poll, user_form
from .plex_emulator import PlexEmulator

EVENT = "event.living_room_plex_token_renewed"
LIVE = "binary_sensor.living_room_plex_live_restart_detection"
TOKEN_PATH = "/security/token?type=delegation&scope=all"


def event_state(hass: HomeAssistant) -> State:
    """The token event's state."""
    state = hass.states.get(EVENT)
    assert state is not None
    return state


def assert_no_token(state: State, emulator: PlexEmulator) -> None:
    """Neither the state nor any attribute carries a token of ours."""
    text = repr(state.as_dict())
    for secret in [emulator.owner_token, *emulator.issued_tokens]:
        assert secret not in text


async def test_no_event_for_the_first_token(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Nothing was handed out before setup: nothing to tell."""
    state = event_state(hass)
    assert state.state == STATE_UNKNOWN
    assert state.attributes["event_types"] == [
        "restart",
        "refused",
        "rotation",
        "forced",
        "address",
    ]


async def test_refused_token(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """A restart seen by the check (no socket here): `refused`, earlier tokens dead."""
    emulator.restart()
    await poll(hass, frozen_time)

    state = event_state(hass)
    assert state.attributes["event_type"] == "refused"
    assert state.attributes["earlier_tokens_dead"] is True
    token = emulator.issued_tokens[-1]
    assert state.attributes["issued_at"] == ((await call_action(hass))["issued_at"])
    assert current_token(hass) == token
    assert_no_token(state, emulator)


async def test_rotation(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """The rotation age reached: `rotation`, earlier tokens still work."""
    old = current_token(hass)
    frozen_time.tick(timedelta(hours=24))
    await poll(hass, frozen_time)

    state = event_state(hass)
    assert state.attributes["event_type"] == "rotation"
    assert state.attributes["earlier_tokens_dead"] is False
    assert emulator.is_accepted(old)
    assert_no_token(state, emulator)


async def test_forced(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """force_new: `forced`, with the new token's times."""
    response = await call_action(hass, force_new=True)

    state = event_state(hass)
    assert state.attributes["event_type"] == "forced"
    assert state.attributes["issued_at"] == response["issued_at"]
    assert state.attributes["expires_at"] == response["expires_at"]
    assert_no_token(state, emulator)


async def test_reconfigured(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A new address (here: the same server, certificate check off): `address`."""
    result = await init_integration.start_reconfigure_flow(hass)
    data = {**init_integration.data, "verify_ssl": False}
    form = user_form({k: v for k, v in data.items() if k != "token"})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], form)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["reason"] == "reconfigure_successful"
    state = event_state(hass)
    assert state.attributes["event_type"] == "address"
    assert state.attributes["earlier_tokens_dead"] is False
    assert_no_token(state, emulator)


async def test_restart_told_by_the_socket(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """The socket lost, the server away, then back: `restart`; live updates follow.

    On while the socket is up, off while it is lost, on again once it is back.
    """
    push_emulator.allow_without_auth = True  # only the socket can tell
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await advance(hass, frozen_time, 60, step=0.5)
    assert hass.states.get(LIVE).state == STATE_ON  # type: ignore[union-attr]

    reboot = asyncio.ensure_future(push_emulator.reboot(down_for=5))
    await advance(hass, frozen_time, 60, step=0.5)
    await reboot
    await advance(hass, frozen_time, 60, step=0.5)

    state = event_state(hass)
    assert state.attributes["event_type"] == "restart"
    assert state.attributes["earlier_tokens_dead"] is True
    assert hass.states.get(LIVE).state == STATE_ON  # type: ignore[union-attr]
    assert_no_token(state, push_emulator)
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_live_updates_off_while_refused(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A proxy refuses the socket: restarts are seen at the 5-minute check only."""
    state = hass.states.get(LIVE)
    assert state is not None
    assert state.state == STATE_OFF
    assert state.attributes["device_class"] == "connectivity"


async def test_live_updates_off_while_lost(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Off while the socket is lost (and the server away), even though it is known."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await advance(hass, frozen_time, 60, step=0.5)
    assert hass.states.get(LIVE).state == STATE_ON  # type: ignore[union-attr]

    await push_emulator.stop()
    await advance(hass, frozen_time, 60, step=0.5)

    assert hass.states.get(LIVE).state == STATE_OFF  # type: ignore[union-attr]
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_min_valid_for_with_a_fresh_token(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """The current token lasts long enough: no new one."""
    tokens = emulator.token_requests()

    response = await call_action(hass, min_valid_for={"hours": 30})

    assert emulator.token_requests() == tokens
    assert response["token"] == current_token(hass)


async def test_min_valid_for_with_a_token_expiring_sooner(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """20 h old (28 h left) and 30 h asked for: one new token, then handed out."""
    old = current_token(hass)
    for _ in range(4):
        frozen_time.tick(timedelta(hours=5))
        await poll(hass, frozen_time)
    tokens = emulator.token_requests()

    response = await call_action(hass, min_valid_for={"hours": 30})

    assert emulator.token_requests() == tokens + 1
    assert response["token"] != old
    assert emulator.is_accepted(response["token"])
    assert event_state(hass).attributes["event_type"] == "forced"


@pytest.mark.parametrize("asked", [{"hours": 47, "minutes": 1}, {"days": 3}])
async def test_min_valid_for_out_of_range(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    asked: dict[str, int],
) -> None:
    """No token lives longer than 48 hours: a translated validation error."""
    tokens = emulator.token_requests()

    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, min_valid_for=asked)

    assert err.value.translation_key == "min_valid_for_too_long"
    assert emulator.token_requests() == tokens
