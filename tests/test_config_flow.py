"""Config flow against the emulator: user, errors, duplicates, reauth, reconfigure.

Tests of the flow itself patch async_setup_entry, as core's do: a created or
updated entry is the flow's result; setting it up is tested elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import json
from pathlib import Path
import re
from typing import Any
from unittest.mock import AsyncMock, patch

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
from hypothesis import given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_api.connection import base_url, normalize_connection
from custom_components.plex_api.const import (
    CONF_ROTATION_HOURS,
    CONF_SHOW_TOKEN,
    DOMAIN,
)
from custom_components.plex_api.plex import PlexClient
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import device_registry as dr

from .helpers import (
    SENSOR,
    TLS,
    call_action,
    choose_token_form,
    start_manual_flow,
    user_form as form,
)
from .plex_emulator import Fault, PlexEmulator


@pytest.fixture
def mock_setup_entry() -> Iterator[AsyncMock]:
    """The flow's own result: the entry is created, not set up."""
    with patch(
        "custom_components.plex_api.async_setup_entry", return_value=True
    ) as mock:
        yield mock


def address(data: dict[str, Any]) -> dict[str, Any]:
    """Entry data as the reconfigure form takes it: no token, TLS in its section."""
    return form({k: v for k, v in data.items() if k != CONF_TOKEN})


def suggested(result: Any) -> dict[str, Any]:
    """What the form shows again: suggested values, the TLS section's nested."""
    values: dict[str, Any] = {}
    for key, value in result["data_schema"].schema.items():
        if str(key) == TLS:
            values[TLS] = {
                str(k): (k.description or {}).get("suggested_value")
                for k in value.schema.schema
            }
        else:
            values[str(key)] = (key.description or {}).get("suggested_value")
    return values


async def start_user_flow(hass: HomeAssistant) -> str:
    """Open the manual step and return the flow id."""
    result = await start_manual_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "manual"
    assert result["errors"] == {}
    return result["flow_id"]


async def configure(hass: HomeAssistant, flow_id: str, data: dict[str, Any]) -> Any:
    """Submit the user form with entry-shaped data."""
    return await hass.config_entries.flow.async_configure(flow_id, form(data))


def request_paths(emulator: PlexEmulator) -> list[str]:
    """The paths the emulator was asked for, in order, without queries."""
    return [r.path_qs.split("?")[0] for r in emulator.requests]


async def test_user_form(hass: HomeAssistant) -> None:
    """Host, port and token; HTTPS tucked away in a collapsed section."""
    result = await start_manual_flow(hass)

    schema = result["data_schema"].schema
    assert [str(key) for key in schema] == [CONF_HOST, CONF_PORT, CONF_TOKEN, TLS]
    tls = next(value for key, value in schema.items() if str(key) == TLS)
    assert tls.options == {"collapsed": True}
    assert [str(key) for key in tls.schema.schema] == [CONF_SSL, CONF_VERIFY_SSL]
    placeholders = result["description_placeholders"]
    assert placeholders["token_help_url"].startswith("https://support.plex.tv/")


async def test_user_flow(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
) -> None:
    """Valid input creates an entry titled and keyed after the server."""
    flow_id = await start_user_flow(hass)

    result = await configure(hass, flow_id, entry_data)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == emulator.friendly_name
    assert result["data"] == entry_data
    assert result["result"].unique_id == emulator.machine_identifier
    # Which server (before any token), then, right before the owner token goes
    # out, /identity once more; the new token proves itself on `/`.
    assert request_paths(emulator) == [
        "/identity",
        "/identity",
        "/security/token",
        "/",
    ]
    assert len(mock_setup_entry.mock_calls) == 1


async def test_pasted_url_is_split(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
) -> None:
    """A pasted URL with spaces becomes host, port and the HTTPS flag."""
    flow_id = await start_user_flow(hass)
    user_input = {
        **entry_data,
        CONF_HOST: f"  http://127.0.0.1:{emulator.port}/web/index.html  ",
        CONF_PORT: 1,
        CONF_SSL: True,
        CONF_TOKEN: f"\n {emulator.owner_token}\t",
    }

    result = await configure(hass, flow_id, user_input)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == entry_data


def test_link_texts_are_translated() -> None:
    """A help link's text is in the form's language, not English."""
    folder = Path(__file__).parents[1] / "custom_components/plex_api/translations"
    link = re.compile(r"\[([^\]]+)\]\(\{token_help_url\}\)")
    english = set(link.findall((folder / "en.json").read_text(encoding="utf-8")))
    assert english
    for path in folder.glob("*.json"):
        if path.name != "en.json":
            texts = set(link.findall(path.read_text(encoding="utf-8")))
            assert texts
            assert not texts & english, path.name


async def test_redisplayed_form_shows_what_was_used(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
) -> None:
    """A URL in Host beside another port: the form shows the URL's port and HTTPS.

    So the user sees which address was tried, and the error names it too.
    """
    flow_id = await start_user_flow(hass)
    user_input = {
        **entry_data,
        CONF_HOST: f" http://127.0.0.1:{emulator.port} ",
        CONF_PORT: 32400,
        CONF_SSL: True,
        CONF_TOKEN: "not-the-owner-token",
    }

    result = await configure(hass, flow_id, user_input)

    assert result["errors"] == {"base": "invalid_auth"}
    assert result["description_placeholders"]["url"] == emulator.url
    assert suggested(result) == {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: emulator.port,
        CONF_TOKEN: None,
        TLS: {CONF_SSL: False, CONF_VERIFY_SSL: True},
    }


def test_connection_errors_name_the_address() -> None:
    """Every error about the server names the address tried, in every language."""
    keys = {
        "cannot_connect",
        "timeout",
        "ssl_error",
        "invalid_auth",
        "not_plex",
        "redirected",
        "wrong_server",
        "other_server",
        "cannot_reach_discovered",
        "cannot_reach_reauth",
    }
    folder = Path(__file__).parents[1] / "custom_components/plex_api/translations"
    for path in folder.glob("*.json"):
        errors = json.loads(path.read_text(encoding="utf-8"))["config"]["error"]
        assert all("{url}" in errors[key] for key in keys), path.name


def _fault(fault: Fault) -> Any:
    """Switch a fault on (for the parametrised error table)."""

    def apply(emulator: PlexEmulator, data: dict[str, Any]) -> None:
        emulator.set_fault(fault)

    return apply


def _revoke(emulator: PlexEmulator, data: dict[str, Any]) -> None:
    emulator.revoke_owner_token()


def _shared_token(emulator: PlexEmulator, data: dict[str, Any]) -> None:
    data[CONF_TOKEN] = emulator.shared_token


@pytest.mark.parametrize(
    ("breakage", "error", "token_kept"),
    [
        (_fault(Fault.DROP), "cannot_connect", True),
        (_fault(Fault.SERVER_ERROR), "cannot_connect", True),
        (_fault(Fault.HTML), "not_plex", True),
        (_fault(Fault.WRONG_CONTENT), "not_plex", True),
        (_fault(Fault.TRUNCATED_JSON), "not_plex", True),
        (_revoke, "invalid_auth", False),
        (_shared_token, "invalid_auth", False),
    ],
)
async def test_errors_recover(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
    breakage: Any,
    error: str,
    token_kept: bool,
) -> None:
    """Each failure shows its error; what was typed stays, but a refused token.

    The error names the address that was tried.
    """
    flow_id = await start_user_flow(hass)
    bad = dict(entry_data)
    breakage(emulator, bad)

    result = await configure(hass, flow_id, bad)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert result["description_placeholders"]["url"] == emulator.url
    shown = suggested(result)
    assert shown[CONF_HOST] == "127.0.0.1"
    assert shown[CONF_PORT] == emulator.port
    assert shown[TLS] == {CONF_SSL: False, CONF_VERIFY_SSL: True}
    assert shown[CONF_TOKEN] == (bad[CONF_TOKEN] if token_kept else None)
    emulator.set_fault(None)
    result = await configure(
        hass, flow_id, {**entry_data, CONF_TOKEN: emulator.owner_token}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_server_down_recovers(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
) -> None:
    """Nothing listening: cannot_connect, then success once the server is back."""
    flow_id = await start_user_flow(hass)
    await emulator.stop()

    result = await configure(hass, flow_id, entry_data)
    assert result["errors"] == {"base": "cannot_connect"}

    await emulator.start(port=entry_data[CONF_PORT])
    result = await configure(hass, flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_timeout_recovers(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A server that does not answer within 10 s: timeout, then success."""
    flow_id = await start_user_flow(hass)
    emulator.set_fault(Fault.DELAY)
    submitted = asyncio.ensure_future(configure(hass, flow_id, entry_data))
    while not submitted.done():  # the loop's clock runs only as the test says
        freezer.tick(1)
        await asyncio.sleep(0)

    assert submitted.result()["errors"] == {"base": "timeout"}
    emulator.set_fault(None)
    result = await configure(hass, flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_ssl_error_recovers(
    hass: HomeAssistant, socket_enabled: None, mock_setup_entry: AsyncMock
) -> None:
    """Self-signed HTTPS with verification: ssl_error; without: created."""
    async with PlexEmulator(https=True) as emulator:
        data = {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: emulator.port,
            CONF_TOKEN: emulator.owner_token,
            CONF_SSL: True,
            CONF_VERIFY_SSL: True,
        }
        flow_id = await start_user_flow(hass)
        result = await configure(hass, flow_id, data)
        assert result["errors"] == {"base": "ssl_error"}
        assert suggested(result)[TLS] == {CONF_SSL: True, CONF_VERIFY_SSL: True}

        result = await configure(hass, flow_id, {**data, CONF_VERIFY_SSL: False})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_VERIFY_SSL] is False


@pytest.mark.parametrize("method", ["identity", "new_transient_token"])
async def test_unexpected_error_recovers(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
    caplog: pytest.LogCaptureFixture,
    method: str,
) -> None:
    """A bug shows 'unknown' and is logged; the form stays usable."""
    flow_id = await start_user_flow(hass)

    with patch.object(PlexClient, method, side_effect=RuntimeError("boom")):
        result = await configure(hass, flow_id, entry_data)
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while checking the Plex server" in caplog.text

    result = await configure(hass, flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({CONF_HOST: ""}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "   "}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "plex/web"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "plex?x=1"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "ftp://127.0.0.1"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "http://127.0.0.1:32400/library"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "http://user@127.0.0.1"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "http://127.0.0.1:99999"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "http://"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "[::1]x"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "bad_host!"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "127.0.0.1:port"}, {CONF_PORT: "invalid_port"}),
        ({CONF_PORT: 0}, {CONF_PORT: "invalid_port"}),
        ({CONF_PORT: 65536}, {CONF_PORT: "invalid_port"}),
        ({CONF_PORT: 80.5}, {CONF_PORT: "invalid_port"}),
        ({CONF_TOKEN: ""}, {CONF_TOKEN: "invalid_token"}),
        ({CONF_TOKEN: "two words"}, {CONF_TOKEN: "invalid_token"}),
        ({CONF_TOKEN: "line\nbreak"}, {CONF_TOKEN: "invalid_token"}),
        ({CONF_TOKEN: "   "}, {CONF_TOKEN: "invalid_token"}),
        ({CONF_TOKEN: "nul\x00byte"}, {CONF_TOKEN: "invalid_token"}),
        ({CONF_HOST: "plex server"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "http://[::1"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "https://127.0.0.1:32400?x=1"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "https://127.0.0.1:32400#x"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "127.0.0.1#frag"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "a" * 300}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "fe80::1%eth0/64"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "[127.0.0.1]"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "[plex.local]:32400"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "http://127.0.0.1:0"}, {CONF_PORT: "invalid_port"}),
        # Unicode digits are digits to str.isdigit(), not to int().
        ({CONF_HOST: "127.0.0.1:\u00b2"}, {CONF_PORT: "invalid_port"}),
        (
            {CONF_HOST: "[::1]:\u00b3\u00b2\u2074\u2070\u2070"},
            {CONF_PORT: "invalid_port"},
        ),
        ({CONF_HOST: "127.0.0.1:" + "9" * 5000}, {CONF_PORT: "invalid_port"}),
        ({CONF_PORT: float("nan")}, {CONF_PORT: "invalid_port"}),
        ({CONF_PORT: float("inf")}, {CONF_PORT: "invalid_port"}),
        ({CONF_PORT: "nan"}, {CONF_PORT: "invalid_port"}),
        ({CONF_PORT: 1e300}, {CONF_PORT: "invalid_port"}),
        # Look-alikes that IDNA would turn into other ASCII letters.
        ({CONF_HOST: "plex.\u017fervice.local"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "\u212aitchen-plex"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "http://\u017f.example:32400"}, {CONF_HOST: "invalid_host"}),
        ({CONF_HOST: "b\u00fccher.example"}, {CONF_HOST: "invalid_host"}),
    ],
)
async def test_bad_input(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Bad input is a field error with nothing sent to the server; it recovers."""
    flow_id = await start_user_flow(hass)

    result = await configure(hass, flow_id, {**entry_data, **changes})

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert emulator.requests == []
    result = await configure(hass, flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("host", "form_port"),
    [
        ("127.0.0.1:{port}", 1),
        ("http://127.0.0.1:{port}/", 1),
        # No port in the URL: the form's port, not the scheme's 80.
        ("http://127.0.0.1", "{port}"),
    ],
)
async def test_host_forms(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
    host: str,
    form_port: Any,
) -> None:
    """host:port and URLs with or without a port reach the server."""
    flow_id = await start_user_flow(hass)
    user_input = {
        **entry_data,
        CONF_HOST: host.format(port=emulator.port),
        CONF_PORT: int(str(form_port).format(port=emulator.port)),
    }

    result = await configure(hass, flow_id, user_input)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == entry_data


@pytest.mark.parametrize("token", ["owner", "wrong-token"])
async def test_duplicate_aborts(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    entry_data: dict[str, Any],
    token: str,
) -> None:
    """The same server twice aborts already_configured, whatever the token.

    It is known from /identity alone: no token is sent and none is judged.
    """
    flow_id = await start_user_flow(hass)
    if token == "owner":
        token = emulator.owner_token

    result = await configure(hass, flow_id, {**entry_data, CONF_TOKEN: token})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert request_paths(emulator) == ["/identity"]


async def test_escaped_controls_reach_no_title(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    device_registry: dr.DeviceRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A friendlyName with ESC, line feed and C1 (JSON escapes on the wire).

    The entry's title and the device's name are one plain line.
    """
    emulator.friendly_name = "Living\x1b[31m Room\nPlex\x85\x7f"
    flow_id = await start_user_flow(hass)

    result = await configure(hass, flow_id, entry_data)
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Living [31m Room Plex"
    [device] = dr.async_entries_for_config_entry(
        device_registry, result["result"].entry_id
    )
    assert device.name == "Living [31m Room Plex"
    assert "\x1b" not in caplog.text
    assert "Room\nPlex" not in caplog.text


@pytest.mark.parametrize(
    ("location", "device_name"),
    [
        ("Home", "Home Assistant (Home)"),
        ("  Beach\thouse ", "Home Assistant (Beach house)"),
        ("Home Assistant", "Home Assistant"),
        ("", "Home Assistant"),
    ],
)
async def test_device_name_plex_lists(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
    location: str,
    device_name: str,
) -> None:
    """Plex lists the caller by X-Plex-Device-Name: this Home Assistant, by name."""
    hass.config.location_name = location
    flow_id = await start_user_flow(hass)

    await configure(hass, flow_id, entry_data)

    assert emulator.requests
    assert {r.headers["X-Plex-Device-Name"] for r in emulator.requests} == {device_name}


async def test_reauth(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A new owner token is proved, stored and used at once, without a reload."""
    new_token = emulator.revoke_owner_token()
    result = await init_integration.start_reauth_flow(hass)
    assert result["menu_options"] == ["sign_in", "reauth_confirm"]
    result = await choose_token_form(hass, result["flow_id"])
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["name"] == emulator.friendly_name

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "stale-token"}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: new_token}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_TOKEN] == new_token
    assert init_integration.state is ConfigEntryState.LOADED
    forced = await call_action(hass, force_new=True)  # the new owner token works
    assert emulator.is_accepted(forced["token"])


async def test_reauth_server_away(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """The token form cannot fix an address: it says where it tried, and why."""
    result = await init_integration.start_reauth_flow(hass)
    assert result["menu_options"] == ["sign_in", "reauth_confirm"]
    result = await choose_token_form(hass, result["flow_id"])
    await emulator.stop()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: emulator.owner_token}
    )

    assert result["errors"] == {"base": "cannot_reach_reauth"}
    assert result["description_placeholders"]["url"] == emulator.url


async def test_reauth_wrong_server(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """Another server at the entry's address: a form error naming it, no token.

    The form stays open: once the address answers as the entry's server again,
    the same form succeeds.
    """
    server_id = emulator.machine_identifier
    emulator.machine_identifier = "another-server"
    result = await init_integration.start_reauth_flow(hass)
    assert result["menu_options"] == ["sign_in", "reauth_confirm"]
    result = await choose_token_form(hass, result["flow_id"])
    emulator.requests.clear()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: emulator.owner_token}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "other_server"}
    assert result["description_placeholders"]["found"] == r"another\-server"
    assert result["description_placeholders"]["url"] == emulator.url
    # Refused on /identity: the new token never reached the other server.
    assert request_paths(emulator) == ["/identity"]

    emulator.machine_identifier = server_id
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: emulator.owner_token}
    )
    assert result["reason"] == "reauth_successful"


async def test_reauth_of_an_entry_that_failed(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """An entry that could not set up (token refused) is set up once fixed."""
    new_token = emulator.revoke_owner_token()
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    [flow] = config_entry.async_get_active_flows(hass, {SOURCE_REAUTH})
    await choose_token_form(hass, flow["flow_id"])

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: new_token}
    )
    await hass.async_block_till_done()

    assert result["reason"] == "reauth_successful"
    assert config_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_form(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Prefilled with how the server is reached now, and what it must stay."""
    result = await init_integration.start_reconfigure_flow(hass)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert suggested(result) == {
        CONF_HOST: "127.0.0.1",
        CONF_PORT: init_integration.data[CONF_PORT],
        TLS: {CONF_SSL: False, CONF_VERIFY_SSL: True},
    }
    assert result["description_placeholders"]["name"] == "Living Room Plex"


async def test_reconfigure_reloads(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """Reconfigured: the entry reloads (no in-place change can race an unload).

    A new token from the same server, proven at the new settings.
    """
    tokens = emulator.token_requests()
    result = await init_integration.start_reconfigure_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        address({**init_integration.data, CONF_VERIFY_SSL: False}),
    )
    await hass.async_block_till_done()

    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data[CONF_VERIFY_SSL] is False
    assert init_integration.state is ConfigEntryState.LOADED
    assert emulator.token_requests() == tokens + 1
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE
    assert (await call_action(hass))["token"] == emulator.issued_tokens[-1]


async def test_reconfigure_to_a_new_port(
    hass: HomeAssistant, socket_enabled: None, init_integration: MockConfigEntry
) -> None:
    """The server moved: an error while it is away, then success, in place."""
    result = await init_integration.start_reconfigure_flow(hass)

    async with PlexEmulator(owner_token=init_integration.data[CONF_TOKEN]) as moved:
        moved.refuse_websockets = True
        changes = {CONF_HOST: "127.0.0.1", CONF_PORT: moved.port}
        await moved.stop()
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], address({**init_integration.data, **changes})
        )
        assert result["errors"] == {"base": "cannot_connect"}
        assert result["description_placeholders"]["url"] == moved.url
        assert suggested(result)[CONF_PORT] == moved.port

        await moved.start(port=changes[CONF_PORT])
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], address({**init_integration.data, **changes})
        )
        await hass.async_block_till_done()

        assert result["reason"] == "reconfigure_successful"
        assert init_integration.data[CONF_PORT] == changes[CONF_PORT]
        response = await call_action(hass)
        assert response["url"] == moved.url
        assert moved.is_accepted(response["token"])
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure_while_reauth_is_pending(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A pending re-authentication does not block reconfigure (nor the reverse)."""
    await init_integration.start_reauth_flow(hass)
    result = await init_integration.start_reconfigure_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], address(dict(init_integration.data))
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    # The entry reloads and works: Home Assistant ends the re-authentication.
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    assert not any(init_integration.async_get_active_flows(hass, {SOURCE_REAUTH}))


async def test_reconfigure_an_entry_waiting_to_set_up(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """An entry retrying at an old port is fixed and set up."""
    port = config_entry.data[CONF_PORT]
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_PORT: 1}
    )
    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    result = await config_entry.start_reconfigure_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], address({**config_entry.data, CONF_PORT: port})
    )
    await hass.async_block_till_done()

    assert result["reason"] == "reconfigure_successful"
    assert config_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_wrong_server(
    hass: HomeAssistant, socket_enabled: None, init_integration: MockConfigEntry
) -> None:
    """A typo in the port reaches another server: a form error naming it.

    The owner token never reaches that server, and the port is fixed in place.
    """
    port = init_integration.data[CONF_PORT]
    result = await init_integration.start_reconfigure_flow(hass)

    async with PlexEmulator(
        owner_token=init_integration.data[CONF_TOKEN],
        machine_identifier="a-different-server",
    ) as other:
        # Pasted as a URL beside the old Port: the URL's port is used, and shown.
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            address({**init_integration.data, CONF_HOST: f" {other.url}/web "}),
        )

        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base": "other_server"}
        placeholders = result["description_placeholders"]
        assert placeholders["found"] == r"a\-different\-server"
        assert placeholders["url"] == other.url
        assert placeholders["name"] == "Living Room Plex"
        assert suggested(result)[CONF_HOST] == "127.0.0.1"
        assert suggested(result)[CONF_PORT] == other.port
        # Refused on /identity: the owner token never reached the other server.
        assert request_paths(other) == ["/identity"]
        assert all("X-Plex-Token" not in r.headers for r in other.requests)

        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], address({**init_integration.data, CONF_PORT: port})
        )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure_after_a_restart(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """The token died meanwhile: the entry takes a new one, in place, unasked."""
    dead = emulator.issued_tokens[-1]
    emulator.restart()
    result = await init_integration.start_reconfigure_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], address({**init_integration.data, CONF_VERIFY_SSL: False})
    )
    await hass.async_block_till_done()

    assert result["reason"] == "reconfigure_successful"
    token = (await call_action(hass))["token"]
    assert token != dead
    assert emulator.is_accepted(token)


async def test_options(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """Options show their range and defaults, and apply without a reload.

    No new token, the sensor never unavailable, the token shown at once.
    """
    tokens = emulator.token_requests()
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    defaults = {str(key): key.default() for key in result["data_schema"].schema}
    assert defaults == {CONF_ROTATION_HOURS: 24, CONF_SHOW_TOKEN: False}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ROTATION_HOURS: 6, CONF_SHOW_TOKEN: True}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {CONF_ROTATION_HOURS: 6, CONF_SHOW_TOKEN: True}
    assert init_integration.state is ConfigEntryState.LOADED
    assert emulator.token_requests() == tokens
    state = hass.states.get(SENSOR)
    assert state is not None
    assert state.attributes["token"] == emulator.issued_tokens[-1]


@pytest.mark.parametrize("hours", [0, 48, 6.5, float("nan"), float("inf"), -1])
async def test_options_out_of_range(
    hass: HomeAssistant, init_integration: MockConfigEntry, hours: float
) -> None:
    """A rotation age outside 1 to 47 whole hours is a translated field error."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ROTATION_HOURS: hours, CONF_SHOW_TOKEN: False}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ROTATION_HOURS: "invalid_rotation"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ROTATION_HOURS: 47, CONF_SHOW_TOKEN: False}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_ROTATION_HOURS] == 47


@pytest.mark.parametrize(
    ("host", "port", "expected", "url"),
    [
        ("fe80::1", 32400, ("fe80::1", 32400, False), "http://[fe80::1]:32400"),
        ("[fe80::1]", 32400, ("fe80::1", 32400, False), "http://[fe80::1]:32400"),
        ("[fe80::1]:32401", 32400, ("fe80::1", 32401, False), "http://[fe80::1]:32401"),
        (
            "https://[fe80::1]:32402",
            32400,
            ("fe80::1", 32402, True),
            "https://[fe80::1]:32402",
        ),
        # A URL without a port keeps the form's port, not the scheme's default.
        (
            "https://plex.example.com",
            32400,
            ("plex.example.com", 32400, True),
            "https://plex.example.com:32400",
        ),
        (
            "http://192.168.1.20",
            32400,
            ("192.168.1.20", 32400, False),
            "http://192.168.1.20:32400",
        ),
        (
            "https://plex.example.com:443/web",
            32400,
            ("plex.example.com", 443, True),
            "https://plex.example.com",
        ),
        (
            "Plex-Server.local.",
            32400,
            ("Plex-Server.local.", 32400, False),
            "http://plex-server.local.:32400",
        ),
    ],
)
def test_normalize_connection(
    host: str, port: int, expected: tuple[str, int, bool], url: str
) -> None:
    """IPv6 literals with and without brackets, and URLs, are split cleanly."""
    data = normalize_connection({CONF_HOST: host, CONF_PORT: port, CONF_SSL: False})
    assert (data[CONF_HOST], data[CONF_PORT], data[CONF_SSL]) == expected
    assert str(base_url(data)) == url


@pytest.mark.parametrize("port", ["abc", "", None])
async def test_port_not_a_number(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
    port: Any,
) -> None:
    """A port that is not a number is refused by the form's schema, per field."""
    flow_id = await start_user_flow(hass)

    with pytest.raises(InvalidData) as err:
        await configure(hass, flow_id, {**entry_data, CONF_PORT: port})

    assert set(err.value.schema_errors) == {CONF_PORT}
    result = await configure(
        hass, flow_id, {**entry_data, CONF_PORT: str(emulator.port)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PORT] == emulator.port


async def _foreign_server(
    status: int,
    body: str,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> web.AppRunner:
    """Another web server (not Plex) answering every path the same way."""

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(
            status=status, text=body, content_type=content_type, headers=headers
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (404, "<html><body>404 Not Found</body></html>", "text/html"),
        (200, '{"status": "ok"}', "application/json"),
        (200, "<MediaContainer/>", "text/xml"),
        (401, "Unauthorized", "text/plain"),
    ],
)
async def test_foreign_server(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
    status: int,
    body: str,
    content_type: str,
) -> None:
    """A web server that is not Plex on that port: a clear error, never a crash."""
    runner = await _foreign_server(status, body, content_type)
    port = runner.addresses[0][1]
    flow_id = await start_user_flow(hass)
    try:
        result = await configure(hass, flow_id, {**entry_data, CONF_PORT: port})
    finally:
        await runner.cleanup()

    assert result["errors"] == {"base": "not_plex"}
    result = await configure(hass, flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    mock_setup_entry: AsyncMock,
    status: int,
) -> None:
    """A proxy redirecting HTTP to HTTPS: 'redirected', and it is not followed."""
    runner = await _foreign_server(
        status,
        "Moved",
        "text/plain",
        {"Location": f"https://127.0.0.1:{emulator.port}/identity"},
    )
    port = runner.addresses[0][1]
    flow_id = await start_user_flow(hass)
    try:
        result = await configure(hass, flow_id, {**entry_data, CONF_PORT: port})
    finally:
        await runner.cleanup()

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "redirected"}
    assert emulator.requests == []
    result = await configure(hass, flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_any_host_is_a_form_error(hass: HomeAssistant) -> None:
    """Hosts built from `[]:%/@#?` and digits end in a form error, never a raise.

    The token is refused too, so that no host, however it parses, is contacted:
    each example shows where the input went wrong, or that only the token did.
    """
    hosts: list[str] = []

    @settings(max_examples=400, deadline=None, database=None)
    @given(
        st.sampled_from(["", "http://", "https://", "[", "::1%", "fe80::1%"]),
        st.text(alphabet="[]:%/@#?0123456789", max_size=14),
    )
    def collect(prefix: str, rest: str) -> None:
        hosts.append(prefix + rest)

    collect()
    hosts.append("::1%a]b")  # raised ValueError('Invalid IPv6 URL') once
    hosts.append("http://[]@")  # raised IndexError inside yarl once
    flow = await start_manual_flow(hass)
    for host in hosts:
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"],
            form(
                {
                    CONF_HOST: host,
                    CONF_PORT: 32400,
                    CONF_TOKEN: "two words",
                    CONF_SSL: False,
                    CONF_VERIFY_SSL: True,
                }
            ),
        )
        assert result["type"] is FlowResultType.FORM, host
        assert result["errors"] in (
            {CONF_HOST: "invalid_host"},
            {CONF_PORT: "invalid_port"},
            {CONF_TOKEN: "invalid_token"},
        ), host
    assert hass.config_entries.async_entries(DOMAIN) == []
