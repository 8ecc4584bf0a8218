"""Repairs: what the user must act on, raised and removed by the entry itself.

The fix flow is driven through the repairs HTTP API, as the frontend does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.plex_api.const import DOMAIN
from homeassistant.config_entries import SOURCE_RECONFIGURE
from homeassistant.const import CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.translation import async_get_translations
from homeassistant.setup import async_setup_component

from .helpers import SENSOR, TLS, poll, wait_until
from .plex_emulator import PlexEmulator

ENTRY_ID = "01JPLEXAPITESTENTRY0000001"  # the conftest's entry
WRONG_SERVER = f"wrong_server_{ENTRY_ID}"
CHECKS_SKIPPED = f"checks_skipped_{ENTRY_ID}"


@pytest.fixture
async def elsewhere(emulator: PlexEmulator) -> AsyncIterator[PlexEmulator]:
    """The entry's server, moved to a new port; another takes its old one."""
    port = emulator.port
    await emulator.stop()
    other = PlexEmulator(machine_identifier="f00d" * 10)
    await other.start(port=port)
    emulator.restart()  # it was down: its tokens are gone
    await emulator.start()
    yield emulator
    await other.stop()


async def fix(client: ClientSessionGenerator, issue_id: str) -> dict[str, Any]:
    """Open the issue's fix flow as the frontend does; its first answer."""
    http = await client()
    resp = await http.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    assert resp.status == HTTPStatus.OK
    return dict(await resp.json())


async def submit(client: ClientSessionGenerator, flow_id: str) -> dict[str, Any]:
    """Submit the fix flow's (empty) form as the frontend does; its answer."""
    http = await client()
    resp = await http.post(f"/api/repairs/issues/fix/{flow_id}", json={})
    assert resp.status == HTTPStatus.OK
    return dict(await resp.json())


async def test_wrong_server_repair(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    elsewhere: PlexEmulator,
    frozen_time: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,  # after the clock is set: its token
) -> None:
    """Another server at the address: a fixable issue that leads to reconfigure.

    Reconfigured to where the server went, the issue goes by itself.
    """
    assert await async_setup_component(hass, "repairs", {})
    await poll(hass, frozen_time)
    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE
    issue = ir.async_get(hass).async_get_issue(DOMAIN, WRONG_SERVER)
    assert issue is not None
    assert issue.is_fixable
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {
        "name": "Living Room Plex",
        "url": f"http://127.0.0.1:{init_integration.data[CONF_PORT]}",
    }

    result = await fix(hass_client, WRONG_SERVER)

    assert result["type"] == "form"
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == {"name": "Living Room Plex"}
    result = await submit(hass_client, result["flow_id"])

    assert result["type"] == "abort"
    assert result["reason"] == "reconfigure"
    flow_id = result["next_flow"][1]
    flow = hass.config_entries.flow.async_get(flow_id)
    assert flow["context"]["source"] == SOURCE_RECONFIGURE
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {"host": "127.0.0.1", CONF_PORT: elsewhere.port, TLS: {}},
    )
    await hass.async_block_till_done(wait_background_tasks=True)

    assert result["reason"] == "reconfigure_successful"
    assert ir.async_get(hass).async_get_issue(DOMAIN, WRONG_SERVER) is None
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE


async def test_fix_flow_of_a_deleted_entry(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    elsewhere: PlexEmulator,
    frozen_time: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,
) -> None:
    """The entry deleted while its fix flow is open: a translated abort, no crash."""
    assert await async_setup_component(hass, "repairs", {})
    await poll(hass, frozen_time)
    result = await fix(hass_client, WRONG_SERVER)
    assert result["type"] == "form"

    assert await hass.config_entries.async_remove(init_integration.entry_id)
    result = await submit(hass_client, result["flow_id"])

    assert result["type"] == "abort"
    assert result["reason"] == "entry_removed"
    assert not hass.config_entries.flow.async_progress()
    strings = await async_get_translations(hass, "en", "issues", [DOMAIN])
    assert strings[
        f"component.{DOMAIN}.issues.wrong_server.fix_flow.abort.entry_removed"
    ]


async def test_fix_flow_of_an_issue_left_behind(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """An issue whose entry no longer exists opens to the same abort."""
    assert await async_setup_component(hass, DOMAIN, {})
    assert await async_setup_component(hass, "repairs", {})
    ir.async_create_issue(
        hass,
        DOMAIN,
        "wrong_server_gone",
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key="wrong_server",
        translation_placeholders={"name": "Gone", "url": "http://127.0.0.1:9"},
        data={"entry_id": "gone"},
    )

    result = await fix(hass_client, "wrong_server_gone")

    assert result["type"] == "abort"
    assert result["reason"] == "entry_removed"


async def test_wrong_server_at_setup(
    hass: HomeAssistant, config_entry: MockConfigEntry, elsewhere: PlexEmulator
) -> None:
    """An entry that cannot set up because another server answers says so too."""
    await hass.config_entries.async_setup(config_entry.entry_id)

    assert ir.async_get(hass).async_get_issue(DOMAIN, WRONG_SERVER) is not None


async def test_checks_skipped(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """No socket and a server accepting any token: restarts cannot be seen.

    A warning issue, not fixable from Home Assistant; removed with the entry.
    """
    emulator.allow_without_auth = True
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    issue = ir.async_get(hass).async_get_issue(DOMAIN, CHECKS_SKIPPED)
    assert issue is not None
    assert not issue.is_fixable
    assert issue.severity is ir.IssueSeverity.WARNING

    # The proxy is fixed and the entry reloaded, as the issue says: it goes.
    emulator.refuse_websockets = False
    await hass.config_entries.async_reload(config_entry.entry_id)
    await wait_until(
        lambda: ir.async_get(hass).async_get_issue(DOMAIN, CHECKS_SKIPPED) is None
    )
    assert emulator.open_sockets == 1

    emulator.refuse_websockets = True
    await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert ir.async_get(hass).async_get_issue(DOMAIN, CHECKS_SKIPPED) is not None
    assert await hass.config_entries.async_remove(config_entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, CHECKS_SKIPPED) is None


async def test_checks_done_no_issue(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """A server that refuses a made-up token raises no issue."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert ir.async_get(hass).async_get_issue(DOMAIN, CHECKS_SKIPPED) is None
