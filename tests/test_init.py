"""Setup, unload and the token lifecycle, against the emulator with frozen time."""

from __future__ import annotations

from datetime import timedelta
import logging
import warnings

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.plex_api.const import (
    CONF_ROTATION_HOURS,
    CONF_SHOW_TOKEN,
    DOMAIN,
    UPDATE_INTERVAL,
)
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_TOKEN, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, frame
from homeassistant.loader import async_get_integration

from .conftest import PLEX_API_SOURCE, DeprecationGuard
from .helpers import SENSOR, choose_token_form, current_token, poll, user_form
from .plex_emulator import PlexEmulator

EVENT = "event.living_room_plex_token_renewed"
# A reload, as the entry's state goes: once, not twice.
RELOADED = [
    ConfigEntryState.UNLOAD_IN_PROGRESS,
    ConfigEntryState.NOT_LOADED,
    ConfigEntryState.SETUP_IN_PROGRESS,
    ConfigEntryState.LOADED,
]


def entry_states(entry: MockConfigEntry) -> list[ConfigEntryState]:
    """Every state the entry goes through from now on."""
    seen: list[ConfigEntryState] = []
    entry.async_on_state_change(lambda: seen.append(entry.state))
    return seen


def event_type(hass: HomeAssistant) -> str | None:
    """The token event's last type (None before the first)."""
    state = hass.states.get(EVENT)
    assert state is not None
    return state.attributes.get("event_type")


async def set_options(
    hass: HomeAssistant, entry: MockConfigEntry, hours: int, *, show_token: bool
) -> None:
    """Through the options flow, as the entry's cog does."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ROTATION_HOURS: hours, CONF_SHOW_TOKEN: show_token}
    )
    await hass.async_block_till_done(wait_background_tasks=True)


async def test_setup_and_unload(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """Setup costs three requests (and the socket) for a working token."""
    assert init_integration.state is ConfigEntryState.LOADED
    assert [r.path_qs for r in emulator.requests] == [
        "/identity",
        "/security/token?type=delegation&scope=all",
        "/",
        "/identity",  # before the socket too: it carries a token
        "/:/websockets/notifications",  # refused here: polling every 5 minutes
        "/identity",  # so a check at once, proving the server first,
        "/",
        "/",  # and: does the server check tokens at all? (a made-up one)
    ]
    assert emulator.is_accepted(current_token(hass))

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE


async def test_each_poll_is_one_check(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """A steady poll without the socket: the server proven, then the token checked.

    Nothing else proves that the address still belongs to the entry's server
    between two polls, so the token goes out only after /identity named it.
    """
    token = current_token(hass)
    before = len(emulator.requests)

    await poll(hass, frozen_time)

    assert [r.path_qs for r in emulator.requests[before:]] == ["/identity", "/"]
    assert current_token(hass) == token


async def test_restart_gives_new_token_within_one_poll(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """After a Plex restart the next poll replaces the dead token."""
    old = current_token(hass)
    emulator.restart()

    await poll(hass, frozen_time)

    new = current_token(hass)
    assert new != old
    assert emulator.is_accepted(new)
    assert not emulator.is_accepted(old)
    assert emulator.token_requests() == 2


async def test_rotation_at_configured_age(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    frozen_time: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
) -> None:
    """With a 6 h rotation age the token changes at 6 h, not before."""
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_ROTATION_HOURS: 6}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    first = current_token(hass)
    polls_before_due = int(timedelta(hours=6) / UPDATE_INTERVAL) - 1

    for _ in range(polls_before_due):
        await poll(hass, frozen_time)
    assert current_token(hass) == first
    assert emulator.token_requests() == 1

    await poll(hass, frozen_time)
    assert current_token(hass) != first
    assert emulator.token_requests() == 2
    assert emulator.is_accepted(current_token(hass))


async def test_options_apply_in_place(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Options apply at once, without a reload and without a request to Plex.

    The token attribute comes and goes with its option; a new rotation age is
    the one the next token is taken at.
    """
    states = entry_states(init_integration)
    requests = len(emulator.requests)
    token = current_token(hass)

    await set_options(hass, init_integration, 1, show_token=True)
    assert hass.states.get(SENSOR).attributes["token"] == token
    await set_options(hass, init_integration, 1, show_token=False)
    assert "token" not in hass.states.get(SENSOR).attributes
    assert len(emulator.requests) == requests
    assert states == []

    for _ in range(int(timedelta(hours=1) / UPDATE_INTERVAL) - 1):
        await poll(hass, frozen_time)
    assert current_token(hass) == token
    await poll(hass, frozen_time)
    assert current_token(hass) != token
    assert event_type(hass) == "rotation"
    assert states == []


async def test_reauth_reloads_once(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Re-authenticating reloads the entry once, also with the same token.

    Its first token then says `address`; a reload after that says nothing.
    """
    states = entry_states(init_integration)
    result = await init_integration.start_reauth_flow(hass)
    result = await choose_token_form(hass, result["flow_id"])
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: emulator.owner_token}
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["reason"] == "reauth_successful"
    assert states == RELOADED
    assert event_type(hass) == "address"
    fired = hass.states.get(EVENT)
    assert fired is not None

    frozen_time.tick(60)  # an event now would have another time
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert states == RELOADED * 2
    after = hass.states.get(EVENT)
    assert after is not None
    assert (after.state, after.attributes) == (fired.state, fired.attributes)


async def test_reconfigure_reloads_once(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """Reconfiguring reloads the entry once, also to the same address: `address`."""
    states = entry_states(init_integration)
    result = await init_integration.start_reconfigure_flow(hass)
    address = {k: v for k, v in init_integration.data.items() if k != CONF_TOKEN}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_form(address)
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["reason"] == "reconfigure_successful"
    assert states == RELOADED
    assert event_type(hass) == "address"
    assert emulator.is_accepted(current_token(hass))


async def test_owner_token_revoked_starts_reauth(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """The owner token refused when a new token is needed: reauth starts."""
    emulator.revoke_owner_token()
    emulator.restart()

    await poll(hass, frozen_time)

    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert len(flows) == 1
    assert flows[0]["context"]["source"] == SOURCE_REAUTH
    assert flows[0]["context"]["entry_id"] == init_integration.entry_id
    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE


async def test_revoked_at_setup(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """An owner token refused at setup fails setup with a reauth flow."""
    emulator.revoke_owner_token()

    assert not await hass.config_entries.async_setup(config_entry.entry_id)

    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    assert any(config_entry.async_get_active_flows(hass, {SOURCE_REAUTH}))


async def test_server_down_at_setup_then_back(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Server down at setup: retry; loaded once it answers again.

    Options set meanwhile are stored, and used once the entry is set up.
    """
    port = emulator.port
    await emulator.stop()

    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert config_entry.reason is not None
    assert config_entry.reason == (
        f"Could not connect to the Plex Media Server at http://127.0.0.1:{port}"
    )
    await set_options(hass, config_entry, 6, show_token=True)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY

    await emulator.start(port=port)
    frozen_time.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert config_entry.state is ConfigEntryState.LOADED
    assert emulator.is_accepted(current_token(hass))
    assert hass.states.get(SENSOR).attributes["token"] == current_token(hass)


async def test_other_server_at_setup(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """The address answers as another server: setup waits, it does not adopt it."""
    emulator.machine_identifier = "a-different-server"

    await hass.config_entries.async_setup(config_entry.entry_id)

    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert config_entry.reason is not None
    assert "answers as a different Plex Media Server" in config_entry.reason
    assert hass.states.get(SENSOR) is None


async def test_other_server_mid_life(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Another server at the address: unavailable, no second device; then back."""
    emulator.machine_identifier = "a-different-server"

    await poll(hass, frozen_time)

    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE
    devices = dr.async_entries_for_config_entry(
        device_registry, init_integration.entry_id
    )
    assert [device.identifiers for device in devices] == [
        {(DOMAIN, init_integration.unique_id)}
    ]
    emulator.machine_identifier = str(init_integration.unique_id)
    await poll(hass, frozen_time)
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE


async def test_the_deprecation_guard(
    hass: HomeAssistant, deprecation_guard: DeprecationGuard
) -> None:
    """The suite's guard sees what Home Assistant reports about plex_api.

    Its report at any level and a DeprecationWarning from plex_api's code fail
    the test; a report about another integration does not.
    """
    for domain in (DOMAIN, "sensor"):  # the integrations the reports name
        await async_get_integration(hass, domain)
    frame.report_usage("does something else", integration_domain="sensor")
    assert deprecation_guard.found() == []

    frame.report_usage(
        "uses a made-up API",
        breaks_in_ha_version="2099.1.0",
        integration_domain=DOMAIN,
        level=logging.DEBUG,
    )
    warnings.warn_explicit(
        "a made-up deprecation",
        DeprecationWarning,
        str(PLEX_API_SOURCE / "__init__.py"),
        1,
        module="custom_components.plex_api",
    )

    found = deprecation_guard.found()
    assert len(found) == 2
    assert found[0].startswith("DEBUG [homeassistant.helpers.frame] Detected that")
    assert "custom integration 'plex_api' uses a made-up API" in found[0]
    assert found[1].endswith("__init__.py:1: a made-up deprecation")
    with pytest.raises(pytest.fail.Exception, match="Deprecated use by plex_api"):
        deprecation_guard.check()
    deprecation_guard.forget()
