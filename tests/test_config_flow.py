"""Config flow against the emulator: user, errors, duplicates, reauth, reconfigure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_api.config_flow import normalize_connection
from custom_components.plex_api.const import (
    CONF_ROTATION_HOURS,
    CONF_SHOW_TOKEN,
    DOMAIN,
)
from custom_components.plex_api.helpers import base_url
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData

from .helpers import current_token
from .plex_emulator import Fault, PlexEmulator


async def start_user_flow(hass: HomeAssistant) -> str:
    """Open the user step and return the flow id."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result["flow_id"]


def request_paths(emulator: PlexEmulator) -> list[str]:
    """The paths the emulator was asked for, in order, without queries."""
    return [r.path_qs.split("?")[0] for r in emulator.requests]


async def test_user_form_fields(hass: HomeAssistant) -> None:
    """Where the server is, then the token, then the TLS switches."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )

    assert [str(key) for key in result["data_schema"].schema] == [
        CONF_HOST,
        CONF_PORT,
        CONF_TOKEN,
        CONF_SSL,
        CONF_VERIFY_SSL,
    ]


async def test_user_flow(
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any]
) -> None:
    """Valid input creates an entry titled and keyed after the server."""
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(flow_id, entry_data)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == emulator.friendly_name
    assert result["data"] == entry_data
    assert result["result"].unique_id == emulator.machine_identifier
    # Which server (before any token), then, right before the owner token goes
    # out, once more /identity; the new token proves itself on `/`.
    assert request_paths(emulator)[:4] == [
        "/identity",
        "/identity",
        "/security/token",
        "/",
    ]


async def test_pasted_url_is_split(
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any]
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

    result = await hass.config_entries.flow.async_configure(flow_id, user_input)

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == entry_data


def _fault(fault: Fault) -> Any:
    """Switch a fault on (for the parametrised error table)."""

    def apply(emulator: PlexEmulator, data: dict[str, Any]) -> None:
        emulator.delay = 15
        emulator.set_fault(fault)

    return apply


def _revoke(emulator: PlexEmulator, data: dict[str, Any]) -> None:
    emulator.revoke_owner_token()


def _shared_token(emulator: PlexEmulator, data: dict[str, Any]) -> None:
    data[CONF_TOKEN] = emulator.shared_token


async def _stop(emulator: PlexEmulator, data: dict[str, Any]) -> None:
    await emulator.stop()


@pytest.mark.parametrize(
    ("breakage", "error"),
    [
        (_fault(Fault.DROP), "cannot_connect"),
        (_fault(Fault.SERVER_ERROR), "cannot_connect"),
        (_fault(Fault.HTML), "not_plex"),
        (_fault(Fault.WRONG_CONTENT), "not_plex"),
        (_fault(Fault.TRUNCATED_JSON), "not_plex"),
        (_revoke, "invalid_auth"),
        (_shared_token, "invalid_auth"),
    ],
)
async def test_errors_recover(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    breakage: Any,
    error: str,
) -> None:
    """Each failure shows its error in the form; fixing it creates the entry."""
    flow_id = await start_user_flow(hass)
    bad = dict(entry_data)
    breakage(emulator, bad)

    result = await hass.config_entries.flow.async_configure(flow_id, bad)

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    suggested = {
        str(key): (key.description or {}).get("suggested_value")
        for key in result["data_schema"].schema
    }
    assert suggested[CONF_HOST] == "127.0.0.1"
    assert suggested[CONF_TOKEN] is None
    emulator.set_fault(None)
    good = {**entry_data, CONF_TOKEN: emulator.owner_token}
    result = await hass.config_entries.flow.async_configure(flow_id, good)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_server_down_recovers(
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any]
) -> None:
    """Nothing listening: cannot_connect, then success once the server is back."""
    flow_id = await start_user_flow(hass)
    await emulator.stop()

    result = await hass.config_entries.flow.async_configure(flow_id, entry_data)
    assert result["errors"] == {"base": "cannot_connect"}

    await emulator.start(port=entry_data[CONF_PORT])
    result = await hass.config_entries.flow.async_configure(flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_timeout_recovers(
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any]
) -> None:
    """A server that does not answer in time: timeout, then success."""
    flow_id = await start_user_flow(hass)
    emulator.delay = 5
    emulator.set_fault(Fault.DELAY)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("custom_components.plex_api.helpers.REQUEST_TIMEOUT", 0.1)
        result = await hass.config_entries.flow.async_configure(flow_id, entry_data)
    assert result["errors"] == {"base": "timeout"}

    emulator.set_fault(None)
    result = await hass.config_entries.flow.async_configure(flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_ssl_error_recovers(hass: HomeAssistant, socket_enabled: None) -> None:
    """Self-signed HTTPS with verification: ssl_error; without: created."""
    async with PlexEmulator(https=True) as emulator:
        emulator.refuse_websockets = True
        data = {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: emulator.port,
            CONF_TOKEN: emulator.owner_token,
            CONF_SSL: True,
            CONF_VERIFY_SSL: True,
        }
        flow_id = await start_user_flow(hass)
        result = await hass.config_entries.flow.async_configure(flow_id, data)
        assert result["errors"] == {"base": "ssl_error"}

        result = await hass.config_entries.flow.async_configure(
            flow_id, {**data, CONF_VERIFY_SSL: False}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["data"][CONF_VERIFY_SSL] is False


async def test_unexpected_error_recovers(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug shows 'unknown' and is logged; the form stays usable."""
    flow_id = await start_user_flow(hass)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    with monkeypatch.context() as patch:
        patch.setattr(
            "custom_components.plex_api.plex.models.PlexIdentity.from_container",
            broken,
        )
        result = await hass.config_entries.flow.async_configure(flow_id, entry_data)
    assert result["errors"] == {"base": "unknown"}

    result = await hass.config_entries.flow.async_configure(flow_id, entry_data)
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
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Bad input is a field error with nothing sent to the server; it recovers."""
    flow_id = await start_user_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        flow_id, {**entry_data, **changes}
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    assert emulator.requests == []
    result = await hass.config_entries.flow.async_configure(flow_id, entry_data)
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

    result = await hass.config_entries.flow.async_configure(flow_id, user_input)

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

    result = await hass.config_entries.flow.async_configure(
        flow_id, {**entry_data, CONF_TOKEN: token}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert request_paths(emulator) == ["/identity"]


async def test_reauth(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A new owner token is proved, stored, and the entry reloads."""
    new_token = emulator.revoke_owner_token()
    result = await init_integration.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"] == {"name": emulator.friendly_name}

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


async def test_reauth_wrong_server(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A token proved against a different server is refused."""
    emulator.machine_identifier = "another-server"
    result = await init_integration.start_reauth_flow(hass)
    emulator.requests.clear()

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: emulator.owner_token}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_server"
    # Refused on /identity: the new token never reached the other server.
    assert request_paths(emulator) == ["/identity"]


async def test_reconfigure(
    hass: HomeAssistant, socket_enabled: None, init_integration: MockConfigEntry
) -> None:
    """The server moves to another port: prefilled form, error, then success."""
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    schema_defaults = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
    }
    assert schema_defaults[CONF_HOST] == "127.0.0.1"
    assert schema_defaults[CONF_PORT] == init_integration.data[CONF_PORT]

    async with PlexEmulator(owner_token=init_integration.data[CONF_TOKEN]) as moved:
        moved.refuse_websockets = True
        changes = {
            CONF_HOST: "127.0.0.1",
            CONF_PORT: moved.port,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        }
        await moved.stop()
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], changes
        )
        assert result["errors"] == {"base": "cannot_connect"}

        await moved.start(port=changes[CONF_PORT])
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], changes
        )
        await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data[CONF_PORT] == changes[CONF_PORT]


async def test_reconfigure_wrong_server(
    hass: HomeAssistant, socket_enabled: None, init_integration: MockConfigEntry
) -> None:
    """Pointing the entry at a different server aborts wrong_server."""
    result = await init_integration.start_reconfigure_flow(hass)

    async with PlexEmulator(
        owner_token=init_integration.data[CONF_TOKEN],
        machine_identifier="a-different-server",
    ) as other:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_HOST: "127.0.0.1",
                CONF_PORT: other.port,
                CONF_SSL: False,
                CONF_VERIFY_SSL: True,
            },
        )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_server"
    # Refused on /identity: the owner token never reached the other server.
    assert request_paths(other) == ["/identity"]
    assert all("X-Plex-Token" not in r.headers for r in other.requests)


async def test_options(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Options show their defaults, are saved and reload the entry."""
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
    state = hass.states.get("sensor.living_room_plex_transient_token")
    assert state is not None
    assert state.attributes["token"] == current_token(hass)
    assert init_integration.runtime_data.rotation_age == timedelta(hours=6)


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
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any], port: Any
) -> None:
    """A port that is not a number is refused by the form's schema, per field."""
    flow_id = await start_user_flow(hass)

    with pytest.raises(InvalidData) as err:
        await hass.config_entries.flow.async_configure(
            flow_id, {**entry_data, CONF_PORT: port}
        )

    assert set(err.value.schema_errors) == {CONF_PORT}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**entry_data, CONF_PORT: str(emulator.port)}
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
    status: int,
    body: str,
    content_type: str,
) -> None:
    """A web server that is not Plex on that port: a clear error, never a crash."""
    runner = await _foreign_server(status, body, content_type)
    port = runner.addresses[0][1]
    flow_id = await start_user_flow(hass)
    try:
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**entry_data, CONF_PORT: port}
        )
    finally:
        await runner.cleanup()

    assert result["errors"] == {"base": "not_plex"}
    result = await hass.config_entries.flow.async_configure(flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
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
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**entry_data, CONF_PORT: port}
        )
    finally:
        await runner.cleanup()

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "redirected"}
    assert emulator.requests == []
    result = await hass.config_entries.flow.async_configure(flow_id, entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY
