"""Sign in with Plex, against the plex.tv stand-in and the Plex emulator.

The person's part (Allow or Deny on Plex's page) is the stand-in's approve()
and deny(); coming back is a GET of the callback view, as the browser does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import logging
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.plex_api.const import DOMAIN
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component

from .helpers import call_action, start_manual_flow, wait_until
from .plex_emulator import PlexEmulator
from .plex_emulator.plextv import Connection, PlexTV
from .plex_emulator.tls import CertificateAuthority

HASH = "0123456789abcdef0123456789abcdef"
PLEX_DIRECT = f"127-0-0-1.{HASH}.plex.direct"
CALLBACK = "/auth/plex_api/callback"


@pytest.fixture
async def plextv(
    hass: HomeAssistant, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[PlexTV]:
    """The plex.tv stand-in, where the integration is told to find plex.tv."""
    assert await async_setup_component(hass, "http", {})
    await hass.config.async_update(internal_url="http://127.0.0.1:8123")
    async with PlexTV() as stand_in:
        monkeypatch.setenv("PLEX_API_PLEX_TV_URL", stand_in.url)
        yield stand_in


@pytest.fixture
async def https_emulator(
    socket_enabled: None, trusted_certificates: list[bytes]
) -> AsyncIterator[PlexEmulator]:
    """A server with its plex.direct certificate, from a CA Home Assistant trusts."""
    authority = CertificateAuthority()
    trusted_certificates.append(authority.certificate_pem)
    server = PlexEmulator(https=True)
    server.certificate_pem, server.key_pem = authority.issue([f"*.{HASH}.plex.direct"])
    server.refuse_websockets = True
    async with server:
        yield server


def list_server(plextv: PlexTV, emulator: PlexEmulator, **kwargs: Any) -> None:
    """The emulator as the account's owned server, with its plex.direct name."""
    resource = plextv.add_server(
        emulator.friendly_name,
        access_token=emulator.owner_token,
        client_identifier=emulator.machine_identifier,
        connections=[Connection.lan("127.0.0.1", emulator.port)],
        **kwargs,
    )
    resource.plex_direct_hash = HASH


async def start_sign_in(hass: HomeAssistant) -> dict[str, Any]:
    """Open the config flow and choose "Sign in with Plex"."""
    menu = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    return dict(
        await hass.config_entries.flow.async_configure(
            menu["flow_id"], {"next_step_id": "sign_in"}
        )
    )


async def come_back(
    hass: HomeAssistant, client: ClientSessionGenerator, flow_id: str
) -> dict[str, Any]:
    """The browser returns to the callback; then the frontend moves the flow on."""
    http = await client()
    resp = await http.get(CALLBACK, params={"flow_id": flow_id})
    assert resp.status == 200
    assert "close this window" in await resp.text()
    return dict(await hass.config_entries.flow.async_configure(flow_id))


async def over_plain_http(hass: HomeAssistant, result: Any) -> dict[str, Any]:
    """Only plain HTTP answered: the flow asks first; go ahead."""
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "plain_http"
    return dict(await hass.config_entries.flow.async_configure(result["flow_id"], {}))


async def sign_in_and_allow(
    hass: HomeAssistant, plextv: PlexTV, client: ClientSessionGenerator
) -> dict[str, Any]:
    """Sign in, Allow on Plex's page, come back: where the flow is then."""
    result = await start_sign_in(hass)
    plextv.approve(plextv.pins[0].code)
    return await come_back(hass, client, result["flow_id"])


async def test_sign_in_over_https(
    hass: HomeAssistant,
    plextv: PlexTV,
    https_emulator: PlexEmulator,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Sign in, allow, come back: the server over HTTPS, its certificate checked.

    The plex.direct name is stored; the server is reached at the address it
    encodes (no DNS here at all), before and after the entry is set up.
    """
    caplog.set_level(logging.DEBUG)
    list_server(plextv, https_emulator)
    plextv.add_shared_server()
    plextv.add_player()

    result = await start_sign_in(hass)

    assert result["type"] is FlowResultType.EXTERNAL_STEP
    url = URL(result["url"])
    assert str(url.with_fragment(None)) == plextv.auth_url
    [pin] = plextv.pins
    assert pin.strong
    assert pin.headers["X-Plex-Product"] == "Home Assistant"
    assert pin.headers["X-Plex-Device-Name"] == hass.config.location_name
    fragment = URL(f"/?{url.fragment.removeprefix('?')}").query
    assert fragment["code"] == pin.code
    assert fragment["clientID"] == pin.client_identifier
    assert fragment["forwardUrl"] == (
        f"http://127.0.0.1:8123{CALLBACK}?flow_id={result['flow_id']}"
    )

    plextv.approve(pin.code)
    result = await come_back(hass, hass_client_no_auth, result["flow_id"])
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == https_emulator.friendly_name
    assert result["data"] == {
        CONF_HOST: PLEX_DIRECT,
        CONF_PORT: https_emulator.port,
        CONF_SSL: True,
        CONF_VERIFY_SSL: True,
        CONF_TOKEN: https_emulator.owner_token,
    }
    entry = result["result"]
    assert entry.unique_id == https_emulator.machine_identifier
    assert entry.state is ConfigEntryState.LOADED
    response = await call_action(hass)
    assert response["url"] == f"https://{PLEX_DIRECT}:{https_emulator.port}"
    assert https_emulator.is_accepted(response["token"])
    assert "HTTPS, certificate checked" in caplog.text
    for secret in (plextv.account_token, https_emulator.owner_token, pin.code):
        assert secret not in caplog.text
    assert plextv.urls_containing(plextv.account_token) == []
    await hass.config_entries.async_unload(entry.entry_id)


async def test_plain_http_when_nothing_else_answers(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    hass_client_no_auth: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server without HTTPS on the LAN: plain HTTP, and the log says so."""
    caplog.set_level(logging.INFO)
    list_server(plextv, emulator)
    result = await sign_in_and_allow(hass, plextv, hass_client_no_auth)

    # Asked before the token goes over plain HTTP; nothing sent there yet.
    assert result["step_id"] == "plain_http"
    assert result["description_placeholders"] == {
        "name": emulator.friendly_name,
        "url": emulator.url,
    }
    assert emulator.token_requests() == 0
    result = await over_plain_http(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_HOST] == "127.0.0.1"
    assert result["data"][CONF_SSL] is False
    assert "(plain HTTP)" in caplog.text
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_choose_among_servers(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Several owned servers: a choice, named with platform, version, presence."""
    plextv.add_server("Basement Plex", presence=False)
    list_server(plextv, emulator)
    result = await sign_in_and_allow(hass, plextv, hass_client_no_auth)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pick_server"
    [selector] = result["data_schema"].schema.values()
    labels = [option["label"] for option in selector.config["options"]]
    assert labels == [
        "Basement Plex (Linux, 1.42.1.10060-4e8b05daf; offline)",
        "Living Room Plex (Linux, 1.42.1.10060-4e8b05daf; online)",
    ]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"server": emulator.machine_identifier}
    )
    result = await over_plain_http(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == emulator.machine_identifier
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_denied(
    hass: HomeAssistant, plextv: PlexTV, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """Deny on Plex's page: the flow ends with a translated reason, nothing kept."""
    result = await start_sign_in(hass)
    plextv.deny(plextv.pins[0].code)

    result = await come_back(hass, hass_client_no_auth, result["flow_id"])

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "sign_in_failed"
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_window_closed_and_pin_expired(
    hass: HomeAssistant, plextv: PlexTV
) -> None:
    """Nobody comes back: when the PIN runs out, the flow moves on by itself."""
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    plextv.expire(plextv.pins[0].code)

    await wait_until(
        lambda: (
            hass.config_entries.flow.async_get(flow_id)["step_id"] == "sign_in_failed"
        )
    )
    result = await hass.config_entries.flow.async_configure(flow_id)

    assert result["reason"] == "sign_in_failed"


async def test_dialog_closed_stops_asking(hass: HomeAssistant, plextv: PlexTV) -> None:
    """The person closes Home Assistant's dialog: plex.tv is no longer asked."""
    result = await start_sign_in(hass)
    path = f"/api/v2/pins/{plextv.pins[0].id}"
    await plextv.wait_for_request(path)

    hass.config_entries.flow.async_abort(result["flow_id"])
    await asyncio.sleep(0)
    asked = len(plextv.requests_for(path))
    await asyncio.sleep(1.5)

    assert len(plextv.requests_for(path)) == asked


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (lambda plextv: plextv.add_shared_server(), "no_servers"),
        (
            lambda plextv: plextv.add_server(
                connections=[Connection.lan("127.0.0.1", 1)]
            ),
            "sign_in_unreachable",
        ),
    ],
    ids=["only_shared", "unreachable"],
)
async def test_no_usable_server(
    hass: HomeAssistant,
    plextv: PlexTV,
    hass_client_no_auth: ClientSessionGenerator,
    prepare: Any,
    reason: str,
) -> None:
    """No owned server, or none that answers: a reason that says what to do."""
    prepare(plextv)
    result = await sign_in_and_allow(hass, plextv, hass_client_no_auth)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


async def test_plex_tv_down(hass: HomeAssistant, plextv: PlexTV) -> None:
    """plex.tv answers with an error page: the flow says so, no traceback."""
    plextv.fail_with = 500

    result = await start_sign_in(hass)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "plex_tv_unavailable"


async def test_server_already_set_up(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Signing in for a server that is set up aborts before any token is sent."""
    list_server(plextv, emulator)
    tokens = emulator.token_requests()
    result = await sign_in_and_allow(hass, plextv, hass_client_no_auth)

    assert result["reason"] == "already_configured"
    assert emulator.token_requests() == tokens


async def test_reauth_by_sign_in(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Re-authenticate by signing in: the same entry, the server's new token."""
    new_token = emulator.revoke_owner_token()
    plextv.add_server("Another Plex")  # the account's other server is not offered
    list_server(plextv, emulator)
    menu = await init_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        menu["flow_id"], {"next_step_id": "sign_in"}
    )
    plextv.approve(plextv.pins[0].code)

    result = await come_back(hass, hass_client_no_auth, result["flow_id"])
    await hass.async_block_till_done()

    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_TOKEN] == new_token
    assert emulator.is_accepted((await call_action(hass, force_new=True))["token"])


async def test_back_too_early_then_allowed(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Coming back before allowing, or while plex.tv errs: the flow keeps waiting."""
    list_server(plextv, emulator)
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    http = await hass_client_no_auth()

    await http.get(CALLBACK, params={"flow_id": flow_id})
    assert hass.config_entries.flow.async_get(flow_id)["step_id"] == "obtain_token"
    plextv.fail_with = 500
    await http.get(CALLBACK, params={"flow_id": flow_id})
    assert hass.config_entries.flow.async_get(flow_id)["step_id"] == "obtain_token"
    plextv.fail_with = None
    await http.get(CALLBACK, params={"flow_id": "not-a-flow"})  # ignored
    plextv.approve(plextv.pins[0].code)

    result = await over_plain_http(
        hass, await come_back(hass, hass_client_no_auth, flow_id)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_allowed_without_coming_back(
    hass: HomeAssistant, plextv: PlexTV, emulator: PlexEmulator
) -> None:
    """The window closed after Allow: the PIN poller moves the flow on by itself.

    A plex.tv hiccup meanwhile is asked again, not an error.
    """
    list_server(plextv, emulator)
    # No address of its own: plex.tv's page cannot send the browser back.
    await hass.config.async_update(internal_url=None)
    hass.config.api = None
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    assert "forwardUrl" not in result["url"]
    plextv.fail_with = 500
    path = f"/api/v2/pins/{plextv.pins[0].id}"
    await plextv.wait_for_request(path)
    plextv.fail_with = None
    plextv.approve(plextv.pins[0].code)

    await wait_until(
        lambda: hass.config_entries.flow.async_get(flow_id)["step_id"] != "obtain_token"
    )
    result = await over_plain_http(
        hass, await hass.config_entries.flow.async_configure(flow_id)
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_servers_not_listed(
    hass: HomeAssistant, plextv: PlexTV, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """plex.tv refuses the new token when asked for the servers: a clear abort."""
    result = await start_sign_in(hass)
    plextv.approve(plextv.pins[0].code)
    plextv.revoke_account_token()

    result = await come_back(hass, hass_client_no_auth, result["flow_id"])

    assert result["reason"] == "plex_tv_unavailable"


async def test_server_refuses_the_token(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The server does not take plex.tv's token for it: said, nothing created."""
    list_server(plextv, emulator)
    plextv.resources[0].access_token = emulator.shared_token
    result = await over_plain_http(
        hass, await sign_in_and_allow(hass, plextv, hass_client_no_auth)
    )

    assert result["reason"] == "sign_in_refused"
    assert result["description_placeholders"] == {"name": emulator.friendly_name}
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_reauth_by_sign_in_server_away(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Re-authenticating while the entry's server is away keeps the old token."""
    list_server(plextv, emulator)
    old = init_integration.data[CONF_TOKEN]
    menu = await init_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        menu["flow_id"], {"next_step_id": "sign_in"}
    )
    plextv.approve(plextv.pins[0].code)
    await emulator.stop()

    result = await come_back(hass, hass_client_no_auth, result["flow_id"])

    assert result["reason"] == "sign_in_unreachable"
    assert init_integration.data[CONF_TOKEN] == old


async def test_pin_never_confirmed(hass: HomeAssistant, plextv: PlexTV) -> None:
    """plex.tv stops answering until the PIN's time is up: the flow ends anyway."""
    plextv.pin_lifetime = 3
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    await plextv.wait_for_request(f"/api/v2/pins/{plextv.pins[0].id}")
    plextv.fail_with = 500

    await wait_until(
        lambda: hass.config_entries.flow.async_get(flow_id)["step_id"] != "obtain_token"
    )
    result = await hass.config_entries.flow.async_configure(flow_id)

    assert result["reason"] == "sign_in_failed"


async def test_callback_leaves_other_flows_alone(
    hass: HomeAssistant, plextv: PlexTV, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """Only a sign-in waiting for plex.tv is moved on by the callback."""
    manual = await start_manual_flow(hass)
    sign_ins = [await start_sign_in(hass) for _ in range(2)]
    http = await hass_client_no_auth()

    await http.get(CALLBACK, params={"flow_id": manual["flow_id"]})

    assert hass.config_entries.flow.async_get(manual["flow_id"])["step_id"] == "manual"
    for flow in (manual, *sign_ins):
        hass.config_entries.flow.async_abort(flow["flow_id"])


async def test_reauth_with_an_account_that_does_not_own_it(
    hass: HomeAssistant,
    plextv: PlexTV,
    init_integration: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Another account's sign-in: said in its own words, the entry untouched."""
    plextv.add_server("Another Plex")
    old = dict(init_integration.data)
    menu = await init_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        menu["flow_id"], {"next_step_id": "sign_in"}
    )
    plextv.approve(plextv.pins[0].code)

    result = await come_back(hass, hass_client_no_auth, result["flow_id"])

    assert result["reason"] == "not_owner"
    assert result["description_placeholders"] == {"name": "Living Room Plex"}
    assert dict(init_integration.data) == old
