"""Sign in with Plex, against the plex.tv stand-in and the Plex emulator.

The person's part (Allow or Deny on Plex's page) is the stand-in's approve()
and deny(); coming back is a GET of the callback view, as the browser does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from ipaddress import ip_address
import itertools
import logging
from typing import Any

from aiohttp.test_utils import make_mocked_request
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.plex_api.const import DOMAIN
from homeassistant.config_entries import SOURCE_USER, SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.http import current_request
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.setup import async_setup_component

from .helpers import call_action, flow_moves_on, start_manual_flow
from .hostile import HostileServer, response
from .plex_emulator import PlexEmulator
from .plex_emulator.plextv import Connection, PlexTV
from .plex_emulator.tls import CertificateAuthority

HASH = "0123456789abcdef0123456789abcdef"
PLEX_DIRECT = f"127-0-0-1.{HASH}.plex.direct"
CALLBACK = "/auth/plex_api/callback"
# The address the person's browser uses: not Home Assistant's own idea of it.
BROWSER = "http://homeassistant.example:8123"


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


async def start_in_browser(hass: HomeAssistant, base: str = BROWSER) -> dict[str, Any]:
    """Start the sign-in as the frontend does: its request carries HA-Frontend-Base.

    Home Assistant's HTTP layer puts each request in `current_request` while
    the flow's step runs; this test does the same with an aiohttp request.
    """
    request = make_mocked_request(
        "POST", "/api/config/config_entries/flow", headers={"HA-Frontend-Base": base}
    )
    token = current_request.set(request)
    try:
        return await start_sign_in(hass)
    finally:
        current_request.reset(token)


async def follow(client: ClientSessionGenerator, forward_url: str) -> None:
    """The browser opens the page plex.tv sent it to (this test's server)."""
    http = await client()
    resp = await http.get(URL(forward_url).path_qs)
    assert resp.status == 200
    assert "close this window" in await resp.text()


async def come_back(
    hass: HomeAssistant, client: ClientSessionGenerator, flow_id: str
) -> dict[str, Any]:
    """The browser returns to the callback; then the frontend moves the flow on."""
    await follow(client, f"{BROWSER}{CALLBACK}?flow_id={flow_id}")
    return dict(await hass.config_entries.flow.async_configure(flow_id))


async def let_time_pass(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float
) -> None:
    """Move the frozen clock; the PIN poller's timer fires."""
    freezer.tick(seconds)
    async_fire_time_changed(hass)
    await asyncio.sleep(0)


async def poll_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    condition: Any,
    *,
    step: float = 1.0,
    limit: float = 1900,
) -> float:
    """Move time a second at a time until `condition()`; the seconds it took."""
    waited = 0.0
    while not condition():
        assert waited < limit, "nothing happened within the PIN's life"
        await let_time_pass(hass, freezer, step)
        waited += step
        for _ in range(20):  # let a poll fired by this second complete
            await asyncio.sleep(0)
        await hass.async_block_till_done()
    return waited


def step_of(hass: HomeAssistant, flow_id: str) -> str | None:
    """The step a flow is at, or None once it is gone."""
    for flow in hass.config_entries.flow.async_progress():
        if flow["flow_id"] == flow_id:
            return flow["step_id"]
    return None


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
    hass_client: ClientSessionGenerator,
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

    result = await start_in_browser(hass)

    assert result["type"] == "external"
    url = URL(result["url"])
    assert str(url.with_fragment(None)) == plextv.auth_url
    [pin] = plextv.pins
    assert pin.strong
    assert pin.headers["X-Plex-Product"] == "Home Assistant"
    # Listed under Authorized Devices as this Home Assistant, not as "test home".
    assert pin.headers["X-Plex-Device-Name"] == "Home Assistant (test home)"
    # The Origin rule: the PIN made with the browser's origin, the page sending
    # the browser back there (not to Home Assistant's internal URL).
    assert pin.origin == BROWSER
    fragment = URL(f"/?{url.fragment.removeprefix('?')}").query
    assert fragment["code"] == pin.code
    assert fragment["clientID"] == pin.client_identifier
    assert fragment["forwardUrl"] == (
        f"{BROWSER}{CALLBACK}?flow_id={result['flow_id']}"
    )

    answer = plextv.allow(result["url"])
    assert answer.approved
    assert answer.forward_url is not None
    await follow(hass_client_no_auth, answer.forward_url)
    result = dict(await hass.config_entries.flow.async_configure(result["flow_id"]))
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


@pytest.mark.parametrize("lifetime", [60, 1800])
async def test_nobody_comes_back(
    hass: HomeAssistant,
    plextv: PlexTV,
    freezer: FrozenDateTimeFactory,
    lifetime: int,
) -> None:
    """Nobody allows: at the PIN's end the flow ends, asked every 2 s until then."""
    plextv.pin_lifetime = lifetime
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    path = f"/api/v2/pins/{plextv.pins[0].id}"

    waited = await poll_until(
        hass, freezer, lambda: step_of(hass, flow_id) != "obtain_token", step=2
    )
    result = await hass.config_entries.flow.async_configure(flow_id)

    assert result["reason"] == "sign_in_failed"
    assert waited <= lifetime
    assert lifetime / 2 - 2 <= len(plextv.requests_for(path)) <= lifetime / 2


async def test_refused_by_plex_tv_ends_within_the_pin_life(
    hass: HomeAssistant,
    plextv: PlexTV,
    freezer: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,
) -> None:
    """plex.tv's page refuses to send the browser on: the flow ends at the PIN's end.

    Here the page was opened with a forwardUrl on another address than the
    browser's (what core's sign-in did before PR #49915).
    """
    plextv.pin_lifetime = 90
    result = await start_in_browser(hass)
    flow_id = result["flow_id"]
    elsewhere = result["url"].replace(
        URL(BROWSER).host or "", "192.0.2.2"
    )  # Home Assistant's LAN address in the fragment's forwardUrl

    answer = plextv.allow(elsewhere)

    assert not answer.approved
    assert answer.message.startswith("Unable to meet demand")
    waited = await poll_until(
        hass, freezer, lambda: step_of(hass, flow_id) != "obtain_token", step=2
    )
    result = await hass.config_entries.flow.async_configure(flow_id)
    assert result["reason"] == "sign_in_failed"
    assert waited <= 90
    assert len(plextv.requests_for(f"/api/v2/pins/{plextv.pins[0].id}")) <= 45


async def test_expired_pin(
    hass: HomeAssistant, plextv: PlexTV, freezer: FrozenDateTimeFactory
) -> None:
    """plex.tv says the PIN is gone (404, code 1020): the next poll ends the flow."""
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    plextv.expire(plextv.pins[0].code)

    waited = await poll_until(
        hass, freezer, lambda: step_of(hass, flow_id) != "obtain_token"
    )
    result = await hass.config_entries.flow.async_configure(flow_id)

    assert result["reason"] == "sign_in_failed"
    assert waited <= 3
    assert len(plextv.requests_for(f"/api/v2/pins/{plextv.pins[0].id}")) == 1


async def test_busy_plex_tv_backs_off_then_ends(
    hass: HomeAssistant, plextv: PlexTV, freezer: FrozenDateTimeFactory
) -> None:
    """429 on every poll: asked less and less often, then "plex.tv is busy"."""
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    path = f"/api/v2/pins/{plextv.pins[0].id}"
    plextv.busy = True
    times: list[float] = []
    elapsed = 0.0
    while step_of(hass, flow_id) == "obtain_token":
        asked = len(plextv.requests_for(path))
        elapsed += await poll_until(
            hass,
            freezer,
            lambda asked=asked: (
                len(plextv.requests_for(path)) > asked
                or step_of(hass, flow_id) != "obtain_token"
            ),
            limit=60,
        )
        times.append(elapsed)
    result = await hass.config_entries.flow.async_configure(flow_id)

    assert result["reason"] == "plex_tv_busy"
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(plextv.requests_for(path)) == 4
    assert gaps[:3] == [4, 8, 16]


async def test_callback_and_poller_never_ask_too_fast(
    hass: HomeAssistant,
    plextv: PlexTV,
    freezer: FrozenDateTimeFactory,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The browser coming back right after a poll does not ask plex.tv again."""
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    path = f"/api/v2/pins/{plextv.pins[0].id}"
    await poll_until(hass, freezer, lambda: len(plextv.requests_for(path)) == 1)
    for _ in range(3):
        await follow(hass_client_no_auth, f"{BROWSER}{CALLBACK}?flow_id={flow_id}")

    assert len(plextv.requests_for(path)) == 1
    hass.config_entries.flow.async_abort(flow_id)


async def test_dialog_closed_stops_asking(
    hass: HomeAssistant, plextv: PlexTV, freezer: FrozenDateTimeFactory
) -> None:
    """The person closes Home Assistant's dialog: plex.tv is no longer asked.

    A second sign-in left open shows that the clock moved far enough for the
    closed one to have asked several times had it not stopped.
    """
    closed = await start_sign_in(hass)
    kept = await start_sign_in(hass)
    closed_path, kept_path = (f"/api/v2/pins/{pin.id}" for pin in plextv.pins)
    await poll_until(hass, freezer, lambda: len(plextv.requests_for(closed_path)))
    hass.config_entries.flow.async_abort(closed["flow_id"])
    asked = len(plextv.requests_for(closed_path))
    kept_asked = len(plextv.requests_for(kept_path))

    await poll_until(
        hass, freezer, lambda: len(plextv.requests_for(kept_path)) >= kept_asked + 3
    )

    assert len(plextv.requests_for(closed_path)) == asked
    hass.config_entries.flow.async_abort(kept["flow_id"])


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
    """plex.tv cannot be reached: said, with a way on by hand (or to try again)."""
    plextv.fail_with = 500

    result = await start_sign_in(hass)

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "plex_tv_offline"
    assert result["menu_options"] == ["sign_in", "manual"]
    again = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sign_in"}
    )
    assert again["step_id"] == "plex_tv_offline"
    manual = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "manual"}
    )
    assert manual["type"] is FlowResultType.FORM
    assert manual["step_id"] == "manual"


async def test_plex_tv_unreachable(hass: HomeAssistant, plextv: PlexTV) -> None:
    """No plex.tv at all (the Internet is down): the same way on."""
    await plextv.stop()

    result = await start_sign_in(hass)

    assert result["step_id"] == "plex_tv_offline"


@pytest.mark.parametrize(
    ("status", "reason"), [(429, "plex_tv_busy")], ids=["too_many_requests"]
)
async def test_no_pin(
    hass: HomeAssistant, plextv: PlexTV, status: int, reason: str
) -> None:
    """plex.tv is busy when asked for a PIN: a translated abort."""
    plextv.fail_with = status

    result = await start_sign_in(hass)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


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
    freezer: FrozenDateTimeFactory,
) -> None:
    """Coming back before allowing, or while plex.tv errs: the flow keeps waiting.

    A second apart each time: plex.tv is never asked faster than that.
    """
    list_server(plextv, emulator)
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    http = await hass_client_no_auth()

    await http.get(CALLBACK, params={"flow_id": flow_id})
    assert hass.config_entries.flow.async_get(flow_id)["step_id"] == "obtain_token"
    plextv.fail_with = 500
    freezer.tick(1)
    await http.get(CALLBACK, params={"flow_id": flow_id})
    assert hass.config_entries.flow.async_get(flow_id)["step_id"] == "obtain_token"
    plextv.fail_with = None
    await http.get(CALLBACK, params={"flow_id": "not-a-flow"})  # ignored
    plextv.approve(plextv.pins[0].code)
    freezer.tick(1)

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
    async with flow_moves_on(hass, flow_id):  # the poller's next ask sees it
        plextv.fail_with = None
        plextv.approve(plextv.pins[0].code)
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

    assert result["reason"] == "sign_in_failed"


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


@pytest.mark.parametrize(
    ("other_server", "reason"),
    [(False, "sign_in_unreachable"), (True, "server_changed")],
)
async def test_reauth_by_sign_in_server_not_there(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    hass_client_no_auth: ClientSessionGenerator,
    other_server: bool,
    reason: str,
) -> None:
    """The entry's server away, or another server at its address: no token sent.

    The old token is kept, and plex.tv's token goes nowhere.
    """
    list_server(plextv, emulator)
    old = init_integration.data[CONF_TOKEN]
    menu = await init_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        menu["flow_id"], {"next_step_id": "sign_in"}
    )
    plextv.approve(plextv.pins[0].code)
    tokens = emulator.token_requests()
    if other_server:
        emulator.machine_identifier = "a-different-server"
    else:
        await emulator.stop()

    result = await come_back(hass, hass_client_no_auth, result["flow_id"])

    assert result["reason"] == reason
    assert init_integration.data[CONF_TOKEN] == old
    assert emulator.token_requests() == tokens


async def test_pin_never_confirmed(hass: HomeAssistant, plextv: PlexTV) -> None:
    """plex.tv stops answering until the PIN's time is up: the flow ends anyway."""
    plextv.pin_lifetime = 3
    result = await start_sign_in(hass)
    flow_id = result["flow_id"]
    await plextv.wait_for_request(f"/api/v2/pins/{plextv.pins[0].id}")

    async with flow_moves_on(hass, flow_id):  # at the PIN's end, by itself
        plextv.fail_with = 500
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


async def test_plain_http_asks_identity_again(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Another server took the address while plain HTTP was asked: no token."""
    list_server(plextv, emulator)
    result = await sign_in_and_allow(hass, plextv, hass_client_no_auth)
    assert result["step_id"] == "plain_http"
    emulator.machine_identifier = "someone-else"

    result = await over_plain_http(hass, result)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "server_changed"
    assert emulator.token_requests() == 0
    assert hass.config_entries.async_entries(DOMAIN) == []


async def discover_emulator(hass: HomeAssistant, emulator: PlexEmulator) -> Any:
    """The emulator announced over zeroconf, as Home Assistant hands it over."""
    info = ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        port=emulator.port,
        hostname="plex.local.",
        type="_plexmediasvr._tcp.local.",
        name=f"{emulator.friendly_name}._plexmediasvr._tcp.local.",
        properties={},
    )
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )


async def test_sign_in_for_a_discovered_server(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """plex.tv confirms the account owns the announced server: only it is set up."""
    plextv.add_server("Basement Plex")  # the account's other server: not offered
    list_server(plextv, emulator)
    menu = await discover_emulator(hass, emulator)
    result = await hass.config_entries.flow.async_configure(
        menu["flow_id"], {"next_step_id": "sign_in"}
    )
    plextv.approve(plextv.pins[0].code)

    result = await come_back(hass, hass_client_no_auth, result["flow_id"])

    assert result["step_id"] == "plain_http"  # the emulator speaks plain HTTP
    assert emulator.token_requests() == 0
    result = await over_plain_http(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == emulator.machine_identifier
    assert result["data"][CONF_TOKEN] == emulator.owner_token
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_discovered_server_not_owned(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The account does not own what was announced: told, and nothing is sent."""
    plextv.add_server("Another Plex")
    menu = await discover_emulator(hass, emulator)
    result = await hass.config_entries.flow.async_configure(
        menu["flow_id"], {"next_step_id": "sign_in"}
    )
    plextv.approve(plextv.pins[0].code)

    result = await come_back(hass, hass_client_no_auth, result["flow_id"])

    assert result["reason"] == "not_owner"
    assert result["description_placeholders"] == {"name": emulator.friendly_name}
    assert emulator.token_requests() == 0


async def test_discovered_while_offline(
    hass: HomeAssistant, plextv: PlexTV, emulator: PlexEmulator
) -> None:
    """No plex.tv for a discovered server: the token form is the way on."""
    menu = await discover_emulator(hass, emulator)
    await plextv.stop()

    result = await hass.config_entries.flow.async_configure(
        menu["flow_id"], {"next_step_id": "sign_in"}
    )

    assert result["menu_options"] == ["sign_in", "zeroconf_token"]


async def test_reauth_while_offline(
    hass: HomeAssistant, plextv: PlexTV, init_integration: MockConfigEntry
) -> None:
    """No plex.tv while re-authenticating: the token form is the way on."""
    await plextv.stop()
    menu = await init_integration.start_reauth_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        menu["flow_id"], {"next_step_id": "sign_in"}
    )

    assert result["menu_options"] == ["sign_in", "reauth_confirm"]


async def test_probes_a_few_at_a_time(
    hass: HomeAssistant,
    plextv: PlexTV,
    emulator: PlexEmulator,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """40 announced addresses that are slow to hang up: 8 at once, 24 in all."""
    active, seen, probed = 0, {"max": 0}, set()

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal active
        active += 1
        probed.add(writer.get_extra_info("sockname")[1])
        seen["max"] = max(seen["max"], active)
        await asyncio.sleep(0.05)  # a slow address; then it hangs up
        active -= 1
        writer.close()

    listeners = [await asyncio.start_server(hold, "127.0.0.1", 0) for _ in range(40)]
    ports = [listener.sockets[0].getsockname()[1] for listener in listeners]
    plextv.add_server(
        emulator.friendly_name,
        access_token=emulator.owner_token,
        client_identifier=emulator.machine_identifier,
        connections=[Connection.lan("127.0.0.1", port) for port in ports],
    ).plex_direct_hash = None
    try:
        result = await sign_in_and_allow(hass, plextv, hass_client_no_auth)
    finally:
        for listener in listeners:
            listener.close()

    assert result["reason"] == "sign_in_unreachable"
    assert seen == {"max": 8}
    assert probed == set(ports[:24])  # the first 24 as plex.tv listed them


@pytest.mark.parametrize("base", ["http://[::1", "javascript:alert(1)", "", "/x"])
async def test_odd_frontend_base(
    hass: HomeAssistant, plextv: PlexTV, base: str
) -> None:
    """A frontend base that is no http(s) origin: no Origin, no forwardUrl."""
    result = await start_in_browser(hass, base)

    assert plextv.pins[0].origin is None
    assert "forwardUrl" not in result["url"]
    hass.config_entries.flow.async_abort(result["flow_id"])


async def test_pin_of_the_wrong_shape(
    hass: HomeAssistant, plextv: PlexTV, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plex.tv's PIN answer is not usable (an infinite id): a translated abort."""
    body = b'{"id": Infinity, "code": "abcd1234", "expiresIn": 1800}'
    async with HostileServer(lambda _path, _headers: response(body)) as hostile:
        monkeypatch.setenv("PLEX_API_PLEX_TV_URL", hostile.url)
        result = await start_sign_in(hass)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "plex_tv_invalid"


async def test_servers_of_the_wrong_shape(
    hass: HomeAssistant, plextv: PlexTV, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """plex.tv lists a server with markup for an identifier: a translated abort."""
    plextv.add_server(client_identifier="<b>not an id</b>")

    result = await sign_in_and_allow(hass, plextv, hass_client_no_auth)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "plex_tv_invalid"


async def test_plex_tv_gone_after_allow(
    hass: HomeAssistant, plextv: PlexTV, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """plex.tv goes away between Allow and the servers: the offline menu."""
    result = await start_sign_in(hass)
    plextv.approve(plextv.pins[0].code)
    await follow(
        hass_client_no_auth, f"{BROWSER}{CALLBACK}?flow_id={result['flow_id']}"
    )
    await plextv.stop()

    result = await hass.config_entries.flow.async_configure(result["flow_id"])

    assert result["step_id"] == "plex_tv_offline"
    assert result["menu_options"] == ["sign_in", "manual"]
