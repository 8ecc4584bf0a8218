"""The get_transient_token action: responses, single flight, errors, permissions."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.plex_api.const import (
    ATTR_FORCE_NEW,
    ATTR_MIN_VALID_FOR,
    CONF_ROTATION_HOURS,
    DOMAIN,
    SERVICE_GET_TRANSIENT_TOKEN,
)
from homeassistant.auth.models import User
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_REAUTH,
    ConfigEntryDisabler,
)
from homeassistant.const import ATTR_CONFIG_ENTRY_ID, STATE_UNAVAILABLE
from homeassistant.core import DOMAIN as HOMEASSISTANT_DOMAIN, Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceValidationError,
    Unauthorized,
)
from homeassistant.setup import async_setup_component

from .helpers import SENSOR, call_action, current_token, until_requested
from .plex_emulator import Fault, PlexEmulator


async def test_response(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """The response names the server and holds a token it accepts."""
    response = await call_action(hass, config_entry_id=init_integration.entry_id)

    assert emulator.is_accepted(response["token"])
    assert response["url"] == emulator.url
    assert response == snapshot(exclude=props("token", "url"))


async def test_single_entry_needs_no_id(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """With one server the entry may be left out; a fresh token is not re-checked."""
    requests = len(emulator.requests)

    response = await call_action(hass)

    assert emulator.is_accepted(response["token"])
    assert len(emulator.requests) == requests


async def test_stale_check_is_repeated(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """A token last checked over a minute ago is checked again; if dead, replaced."""
    old = (await call_action(hass))["token"]
    frozen_time.tick(timedelta(seconds=61))
    emulator.restart()

    new = (await call_action(hass))["token"]

    assert new != old
    assert emulator.is_accepted(new)
    assert current_token(hass) == new


async def test_unknown_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An unknown entry id is a translated validation error."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, **{ATTR_CONFIG_ENTRY_ID: "nope"})
    assert err.value.translation_key == "service_config_entry_not_found"


async def test_unloaded_entry(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An unloaded entry is a translated validation error."""
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, **{ATTR_CONFIG_ENTRY_ID: init_integration.entry_id})
    assert err.value.translation_key == "service_config_entry_not_loaded"


async def test_plex_failure(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A failing server is a translated HomeAssistantError without the token."""
    emulator.set_fault(Fault.SERVER_ERROR)

    with pytest.raises(HomeAssistantError) as err:
        await call_action(hass, **{ATTR_FORCE_NEW: True})

    assert err.value.translation_key == "cannot_connect"
    assert err.value.translation_placeholders == {"url": emulator.url}
    assert emulator.owner_token not in str(err.value)


async def test_owner_token_refused(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A refused owner token fails the call and starts re-authentication."""
    emulator.revoke_owner_token()

    with pytest.raises(HomeAssistantError) as err:
        await call_action(hass, **{ATTR_FORCE_NEW: True})

    assert err.value.translation_key == "auth_failed"
    assert any(init_integration.async_get_active_flows(hass, {SOURCE_REAUTH}))


@pytest.mark.parametrize(
    ("service", "data"),
    [(SERVICE_GET_TRANSIENT_TOKEN, {}), ("get_media_url", {"item": "1001"})],
)
async def test_non_admin_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_read_only_user: User,
    hass_admin_user: User,
    service: str,
    data: dict[str, Any],
) -> None:
    """Only admins (and automations, which have no user) may get a token or a URL."""

    async def call(user: User) -> Any:
        return await hass.services.async_call(
            DOMAIN,
            service,
            data,
            blocking=True,
            return_response=True,
            context=Context(user_id=user.id),
        )

    with pytest.raises(Unauthorized):
        await call(hass_read_only_user)

    response = await call(hass_admin_user)
    assert "transient-" in str(response)


async def test_script_started_by_a_non_admin(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_read_only_user: User,
    hass_admin_user: User,
) -> None:
    """A script runs with its caller's permissions: a non-admin's run is refused."""
    assert await async_setup_component(
        hass,
        "script",
        {
            "script": {
                "plex_token": {
                    "sequence": [
                        {
                            "action": f"{DOMAIN}.get_transient_token",
                            "response_variable": "plex",
                        },
                        {"stop": "done", "response_variable": "plex"},
                    ]
                }
            }
        },
    )

    async def run(user: User) -> object:
        return await hass.services.async_call(
            "script",
            "plex_token",
            blocking=True,
            return_response=True,
            context=Context(user_id=user.id),
        )

    with pytest.raises(Unauthorized):
        await run(hass_read_only_user)
    response = await run(hass_admin_user)
    assert isinstance(response, dict)
    assert response["token"].startswith("transient-")


async def test_force_new_during_a_poll(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """A poll whose check is in flight does not bring back the older token."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    assert await async_setup_component(hass, "homeassistant", {})
    emulator.delay = 0.3
    emulator.set_fault(Fault.DELAY, "/")
    before = len(emulator.requests)
    poll = asyncio.ensure_future(
        hass.services.async_call(
            "homeassistant", "update_entity", {"entity_id": SENSOR}, blocking=True
        )
    )
    await until_requested(emulator, lambda: len(emulator.requests) > before)

    forced = await call_action(hass, **{ATTR_FORCE_NEW: True})
    await poll
    emulator.set_fault(None)

    assert (await call_action(hass))["token"] == forced["token"]
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE


async def test_rotation_due_is_never_handed_out(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """A token at its rotation age is replaced, without a check, before it goes out."""
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_ROTATION_HOURS: 1}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    old = (await call_action(hass))["token"]
    frozen_time.tick(timedelta(minutes=59, seconds=30))
    assert (await call_action(hass))["token"] == old  # checked: still the same
    frozen_time.tick(timedelta(seconds=40))  # checked 40 s ago, but 1 h old now
    requests = len(emulator.requests)

    response = await call_action(hass)

    assert response["token"] != old
    assert emulator.is_accepted(response["token"])
    assert [r.path_qs for r in emulator.requests[requests:]] == [
        "/identity",
        "/security/token?type=delegation&scope=all",
        "/",
    ]


async def test_action_during_reload(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """A call in flight when the entry unloads gets a clear error, not a cancel."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    emulator.delay = 5
    emulator.set_fault(Fault.DELAY, "/security/token")
    pending = asyncio.ensure_future(call_action(hass, **{ATTR_FORCE_NEW: True}))
    await until_requested(emulator, lambda: emulator.token_requests() == 2)

    assert await hass.config_entries.async_unload(config_entry.entry_id)

    with pytest.raises(HomeAssistantError) as err:
        await pending
    assert err.value.translation_key == "reloading"


async def test_new_token_kept_when_callers_give_up(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """A forced token whose callers all gave up still becomes the current one."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    emulator.delay = 0.2
    emulator.set_fault(Fault.DELAY, "/security/token")
    caller = asyncio.ensure_future(call_action(hass, **{ATTR_FORCE_NEW: True}))
    await until_requested(emulator, lambda: emulator.token_requests() == 2)

    caller.cancel()
    await hass.async_block_till_done(wait_background_tasks=True)
    emulator.set_fault(None)

    assert (await call_action(hass))["token"] == emulator.issued_tokens[-1]
    assert emulator.token_requests() == 2


async def test_no_server_set_up(hass: HomeAssistant) -> None:
    """Without any Plex server the action says so, in Home Assistant's words."""
    assert await async_setup_component(hass, DOMAIN, {})

    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass)

    assert err.value.translation_domain == HOMEASSISTANT_DOMAIN
    assert err.value.translation_key == "service_found_no_config_entry_for_domain"


async def test_several_servers_need_a_choice(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With two servers in use and none named, the action asks for one itself."""
    MockConfigEntry(domain=DOMAIN, unique_id="second", data={}).add_to_hass(hass)

    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass)

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "choose_server"
    assert str(err.value) == (
        "Several Plex Media Servers are set up: choose a Plex server for this action"
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    response = await call_action(hass, config_entry_id=init_integration.entry_id)
    assert response["token"].startswith("transient-")


@pytest.mark.parametrize(
    "second",
    [
        pytest.param({"source": SOURCE_IGNORE}, id="ignored"),
        pytest.param({"disabled_by": ConfigEntryDisabler.USER}, id="disabled"),
    ],
)
async def test_ignored_or_disabled_server_is_no_choice(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    second: dict[str, Any],
) -> None:
    """A second server the user ignored (found by discovery) or disabled: not asked."""
    MockConfigEntry(domain=DOMAIN, unique_id="second", data={}, **second).add_to_hass(
        hass
    )

    response = await call_action(hass)

    assert emulator.is_accepted(response["token"])


async def test_only_server_not_loaded(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The one server in use, unloaded: named as not loaded, without an id too."""
    await hass.config_entries.async_unload(init_integration.entry_id)

    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass)

    assert err.value.translation_key == "service_config_entry_not_loaded"
    assert err.value.translation_placeholders == {
        "domain": DOMAIN,
        "entry_title": init_integration.title,
    }


async def test_no_requests_while_reauth_is_pending(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """Once Plex refused the owner token, calls fail at once without sending it."""
    emulator.revoke_owner_token()
    with pytest.raises(HomeAssistantError):
        await call_action(hass, **{ATTR_FORCE_NEW: True})
    requests = len(emulator.requests)

    for _ in range(3):
        with pytest.raises(HomeAssistantError) as err:
            await call_action(hass, **{ATTR_FORCE_NEW: True})
        assert err.value.translation_key == "auth_failed"

    assert len(emulator.requests) == requests


MEDIA_URL = "get_media_url"
TOKEN = SERVICE_GET_TRANSIENT_TOKEN


@pytest.mark.parametrize(
    ("service", "data", "key"),
    [
        (TOKEN, {ATTR_MIN_VALID_FOR: "soon"}, "invalid_min_valid_for"),
        (TOKEN, {ATTR_MIN_VALID_FOR: {"hours": -2}}, "invalid_min_valid_for"),
        (TOKEN, {ATTR_MIN_VALID_FOR: {"hours": 48}}, "min_valid_for_too_long"),
        (MEDIA_URL, {"item": "1", ATTR_MIN_VALID_FOR: "soon"}, "invalid_min_valid_for"),
        (
            MEDIA_URL,
            {"item": "1", ATTR_MIN_VALID_FOR: {"days": 2}},
            "min_valid_for_too_long",
        ),
        (MEDIA_URL, {"item": "1", "kind": "poster"}, "invalid_kind"),
        (MEDIA_URL, {"item": "1", "width": 0}, "invalid_size"),
        (MEDIA_URL, {"item": "1", "height": 5000}, "invalid_size"),
        (MEDIA_URL, {"item": "1", "width": "wide"}, "invalid_size"),
        (MEDIA_URL, {"item": "1", "width": True}, "invalid_size"),
    ],
)
async def test_bad_fields(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    service: str,
    data: dict[str, Any],
    key: str,
) -> None:
    """Wrong values get the integration's own translated errors, before any request.

    Checked in the handlers, not the schema: a schema error would be a raw
    message. The media fields are get_media_url's (tests/test_media.py).
    """
    requests = len(emulator.requests)

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, service, data, blocking=True, return_response=True
        )

    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == key
    assert len(emulator.requests) == requests
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_times_to_the_second(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Issued and expiry times carry no microseconds, whatever the clock says."""
    frozen_time.tick(timedelta(seconds=61.123456))

    response = await call_action(hass, **{ATTR_FORCE_NEW: True})

    assert response["issued_at"] == "2026-11-28T12:01:01+00:00"
    assert response["expires_at"] == "2026-11-30T12:01:01+00:00"
