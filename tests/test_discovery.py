"""Zeroconf discovery against the emulator: confirm, duplicates, address updates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from ipaddress import IPv4Address, IPv6Address, ip_address
import logging
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_api.const import DOMAIN
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigEntryState,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .helpers import call_action, refresh, start_manual_flow, user_form
from .plex_emulator import Fault, PlexEmulator


def discovery(
    emulator: PlexEmulator,
    *,
    port: int | None = None,
    addresses: list[IPv4Address | IPv6Address] | None = None,
) -> ZeroconfServiceInfo:
    """What Home Assistant's zeroconf hands over for the emulator."""
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=addresses or [ip_address("127.0.0.1")],
        port=port or emulator.port,
        hostname="plex.local.",
        type="_plexmediasvr._tcp.local.",
        name=f"{emulator.friendly_name}._plexmediasvr._tcp.local.",
        properties={},
    )


async def discover(hass: HomeAssistant, info: ZeroconfServiceInfo) -> Any:
    """Start a zeroconf flow as Home Assistant's zeroconf does."""
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=info
    )


def request_paths(emulator: PlexEmulator) -> list[str]:
    """The paths the emulator was asked for, in order, without queries."""
    return [r.path_qs.split("?")[0] for r in emulator.requests]


async def choose_token(hass: HomeAssistant, flow_id: str) -> dict[str, Any]:
    """From the discovered server's menu, choose "Enter the owner token"."""
    return dict(
        await hass.config_entries.flow.async_configure(
            flow_id, {"next_step_id": "zeroconf_token"}
        )
    )


async def give_token(
    hass: HomeAssistant, emulator: PlexEmulator, flow_id: str, token: str
) -> dict[str, Any]:
    """Enter a token; confirm plain HTTP, before which nothing was sent."""
    sent = len(emulator.requests)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_TOKEN: token}
    )
    if result["step_id"] != "zeroconf_plain_http":
        return dict(result)
    assert result["type"] is FlowResultType.FORM
    assert len(emulator.requests) == sent  # not even /identity yet
    return dict(await hass.config_entries.flow.async_configure(flow_id, {}))


async def test_discovery_confirm(
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any]
) -> None:
    """Sign in or give a token; over plain HTTP, confirmed first, then checked again."""
    result = await discover(hass, discovery(emulator))

    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "zeroconf_confirm"
    assert result["menu_options"] == ["sign_in", "zeroconf_token"]
    placeholders = result["description_placeholders"]
    assert placeholders["name"] == emulator.friendly_name
    assert placeholders["address"] == f"http://127.0.0.1:{emulator.port}"
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": emulator.friendly_name}
    assert flow["context"]["unique_id"] == emulator.machine_identifier
    # Identified without a token.
    assert request_paths(emulator) == ["/identity"]
    assert "X-Plex-Token" not in emulator.requests[0].headers

    result = await choose_token(hass, result["flow_id"])
    assert result["step_id"] == "zeroconf_token"
    assert [str(key) for key in result["data_schema"].schema] == [CONF_TOKEN]
    assert result["description_placeholders"]["token_help_url"].startswith(
        "https://support.plex.tv/"
    )
    result = await give_token(hass, emulator, result["flow_id"], emulator.shared_token)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_token"
    assert result["errors"] == {"base": "invalid_auth"}

    result = await give_token(
        hass, emulator, result["flow_id"], f" {emulator.owner_token}\n"
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == emulator.friendly_name
    assert result["data"] == entry_data  # the same shape as the user step's
    assert result["result"].unique_id == emulator.machine_identifier
    assert result["result"].source == SOURCE_ZEROCONF


async def test_confirm_errors_recover(
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any]
) -> None:
    """The server goes away while the form is open: an error, then success."""
    result = await choose_token(
        hass, (await discover(hass, discovery(emulator)))["flow_id"]
    )
    await emulator.stop()

    result = await give_token(hass, emulator, result["flow_id"], emulator.owner_token)
    assert result["type"] is FlowResultType.FORM
    # The form asks only for a token: its error says what it can do.
    assert result["errors"] == {"base": "cannot_reach_discovered"}
    assert result["description_placeholders"]["url"] == emulator.url

    result = await give_token(hass, emulator, result["flow_id"], "two words")
    assert result["errors"] == {CONF_TOKEN: "invalid_token"}

    await emulator.start(port=entry_data[CONF_PORT])
    result = await give_token(hass, emulator, result["flow_id"], emulator.owner_token)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == entry_data


async def test_announced_without_port(
    hass: HomeAssistant, emulator: PlexEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """No port in the announcement: Plex's default port, 32400, is asked."""
    caplog.set_level(logging.DEBUG, logger="custom_components.plex_api")
    info = discovery(emulator)
    info.port = None
    await emulator.stop()  # 32400 may be anything here: nothing must answer

    result = await discover(hass, info)

    assert result["reason"] == "cannot_connect"
    assert "No Plex server answers at http://127.0.0.1:32400/" in caplog.text


async def test_already_configured(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """The configured server at its configured address: nothing to do."""
    before = dict(config_entry.data)

    result = await discover(hass, discovery(emulator))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert dict(config_entry.data) == before
    # The announced address, then the entry's own: it answers, so it stays.
    assert request_paths(emulator) == ["/identity", "/identity"]


async def test_impostor_during_a_restart_gets_nothing(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """The server is down (a restart); a device copying its /identity announces.

    `/identity` is public: the copy proves nothing. The entry stays at its
    address, is not reloaded, and the impostor never sees a token; the real
    server, back at its address, is used again.
    """
    before = dict(init_integration.data)
    port = emulator.port
    await emulator.stop()
    async with PlexEmulator(
        machine_identifier=emulator.machine_identifier,
        owner_token=emulator.owner_token,
    ) as impostor:
        for _ in range(3):
            result = await discover(hass, discovery(impostor))
            assert result["type"] is FlowResultType.ABORT
            assert result["reason"] == "already_configured"
        await hass.async_block_till_done()
        await emulator.start(port=port)
        await refresh(hass)

    assert impostor.requests  # it was asked /identity, and nothing else
    assert request_paths(impostor) == ["/identity"] * 3
    assert all("X-Plex-Token" not in r.headers for r in impostor.requests)
    assert impostor.token_requests() == 0
    assert dict(init_integration.data) == before
    assert hass.config_entries.flow.async_progress() == []
    assert emulator.is_accepted((await call_action(hass))["token"])


@pytest.fixture
async def given_away(
    hass: HomeAssistant, socket_enabled: None, config_entry: MockConfigEntry
) -> AsyncIterator[PlexEmulator]:
    """The entry's address now belongs to another server (DHCP gave it away)."""
    async with PlexEmulator(machine_identifier="the-new-owner-of-the-ip") as other:
        hass.config_entries.async_update_entry(
            config_entry, data={**config_entry.data, CONF_PORT: other.port}
        )
        yield other


async def test_address_given_away_moves_after_confirmation(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    given_away: PlexEmulator,
) -> None:
    """Another server at the entry's address: the announced one is offered.

    The user sees the old and the new address; nothing carries a token before
    the confirmation, which asks /identity at the new address once more; the
    reloaded entry then takes its token there.
    """
    other = given_away
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    emulator.requests.clear()

    result = await discover(hass, discovery(emulator))

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "zeroconf_move"
    assert result["description_placeholders"] == {
        "name": emulator.friendly_name,
        "old": other.url,
        "new": emulator.url,
        "found": r"the\-new\-owner\-of\-the\-ip",
    }
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {"name": emulator.friendly_name}
    assert request_paths(emulator) == ["/identity"]
    assert config_entry.data[CONF_PORT] == other.port

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "address_updated"
    assert all("X-Plex-Token" not in r.headers for r in other.requests)
    assert other.token_requests() == 0
    assert config_entry.data[CONF_PORT] == emulator.port
    assert config_entry.data[CONF_TOKEN] == emulator.owner_token
    assert config_entry.state is ConfigEntryState.LOADED
    # Asked twice without a token (announced, confirmed) before the entry's own.
    assert request_paths(emulator)[:3] == ["/identity"] * 3
    assert all("X-Plex-Token" not in r.headers for r in emulator.requests[:2])


@pytest.mark.usefixtures("given_away")
async def test_move_refused_when_the_new_address_changed(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """The announced address answers as another server by the confirmation."""
    before = dict(config_entry.data)
    result = await discover(hass, discovery(emulator))
    assert result["step_id"] == "zeroconf_move"
    emulator.machine_identifier = "yet-another-server"

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})

    assert result["reason"] == "server_changed"
    assert dict(config_entry.data) == before
    assert emulator.token_requests() == 0
    assert all("X-Plex-Token" not in r.headers for r in emulator.requests)


@pytest.mark.usefixtures("given_away")
async def test_move_of_a_deleted_entry(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """The entry was deleted while the offer was open: nothing to move."""
    result = await discover(hass, discovery(emulator))
    await hass.config_entries.async_remove(config_entry.entry_id)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})

    assert result["reason"] == "entry_removed"
    assert hass.config_entries.async_entries(DOMAIN) == []


@pytest.mark.usefixtures("given_away")
async def test_one_offer_at_a_time(hass: HomeAssistant, emulator: PlexEmulator) -> None:
    """The server announcing itself again does not open a second offer."""
    first = await discover(hass, discovery(emulator))
    second = await discover(hass, discovery(emulator))

    assert first["step_id"] == "zeroconf_move"
    assert second["reason"] == "already_in_progress"


async def test_copied_identity_cannot_move_an_entry(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
) -> None:
    """A device announcing a copied machine identifier while the server answers.

    The entry stays with its server, is not reloaded (no new token), and the
    impostor never sees a token.
    """
    before = dict(init_integration.data)
    tokens = emulator.token_requests()
    async with PlexEmulator(
        machine_identifier=emulator.machine_identifier,
        friendly_name="[Click me](http://evil.example)",
    ) as impostor:
        for _ in range(3):
            result = await discover(hass, discovery(impostor))
            assert result["reason"] == "already_configured"
        await hass.async_block_till_done()

    assert dict(init_integration.data) == before
    assert init_integration.state is ConfigEntryState.LOADED
    assert emulator.token_requests() == tokens
    assert all("X-Plex-Token" not in r.headers for r in impostor.requests)


async def test_discovered_name_is_text(
    hass: HomeAssistant, emulator: PlexEmulator
) -> None:
    """A server's announced name cannot put links or markup in the form."""
    info = discovery(emulator)
    info.name = "[Click](http://evil.example) *now*\n._plexmediasvr._tcp.local."

    result = await discover(hass, info)

    name = result["description_placeholders"]["name"]
    assert name == r"\[Click\]\(http\:\/\/evil\.example\) \*now\*"
    flow = hass.config_entries.flow.async_get(result["flow_id"])
    assert flow["context"]["title_placeholders"] == {
        "name": "[Click](http://evil.example) *now*"
    }


@pytest.mark.parametrize(
    ("changes", "follows"),
    [
        # A name was chosen on purpose (DNS, a proxy): never replaced by an address.
        ({CONF_HOST: "plex.local"}, False),
        # A verified certificate is for a name, not for the new address.
        ({CONF_SSL: True, CONF_VERIFY_SSL: True}, False),
        ({CONF_SSL: False, CONF_VERIFY_SSL: False}, True),
    ],
)
async def test_offered_only_when_safe(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    changes: dict[str, Any],
    follows: bool,
) -> None:
    """Only an IP-address entry without a verified certificate is offered a move."""
    async with PlexEmulator(machine_identifier="the-new-owner-of-the-ip") as other:
        hass.config_entries.async_update_entry(
            config_entry, data={**config_entry.data, **changes, CONF_PORT: other.port}
        )
        before = dict(config_entry.data)

        result = await discover(hass, discovery(emulator))

    if follows:
        assert result["step_id"] == "zeroconf_move"
    else:
        assert result["reason"] == "already_configured"
        assert other.requests == []
    assert dict(config_entry.data) == before


async def test_ignored_server(hass: HomeAssistant, emulator: PlexEmulator) -> None:
    """A server the user chose to ignore stays ignored and is not touched."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        source=SOURCE_IGNORE,
        unique_id=emulator.machine_identifier,
        data={},
    )
    entry.add_to_hass(hass)

    result = await discover(hass, discovery(emulator))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert dict(entry.data) == {}


@pytest.mark.parametrize("fault", [Fault.DROP, Fault.HTML, Fault.SERVER_ERROR])
async def test_unreachable_or_not_plex(
    hass: HomeAssistant, emulator: PlexEmulator, fault: Fault
) -> None:
    """Something that does not answer /identity like Plex: abort cannot_connect."""
    emulator.set_fault(fault, "/identity")

    result = await discover(hass, discovery(emulator))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"
    assert hass.config_entries.flow.async_progress() == []


async def test_server_down(hass: HomeAssistant, emulator: PlexEmulator) -> None:
    """Nothing listens at the announced address: abort cannot_connect."""
    await emulator.stop()

    result = await discover(hass, discovery(emulator))

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"


async def test_confirm_wrong_server(
    hass: HomeAssistant, emulator: PlexEmulator
) -> None:
    """Another server answers there once plain HTTP is confirmed: no token sent."""
    result = await choose_token(
        hass, (await discover(hass, discovery(emulator)))["flow_id"]
    )
    emulator.machine_identifier = "a-different-server"

    result = await give_token(hass, emulator, result["flow_id"], emulator.owner_token)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "server_changed"
    assert request_paths(emulator) == ["/identity", "/identity"]
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_confirm_after_added_by_hand(
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any]
) -> None:
    """The server was set up while the form was open: no second entry."""
    result = await discover(hass, discovery(emulator))
    assert result["step_id"] == "zeroconf_confirm"
    result = await choose_token(hass, result["flow_id"])
    MockConfigEntry(
        domain=DOMAIN, unique_id=emulator.machine_identifier, data=entry_data
    ).add_to_hass(hass)

    result = await give_token(hass, emulator, result["flow_id"], emulator.owner_token)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1
    assert "/security/token" not in request_paths(emulator)


async def test_pending_discovery_does_not_block_user(
    hass: HomeAssistant, emulator: PlexEmulator, entry_data: dict[str, Any]
) -> None:
    """The user may add a discovered server by hand; the discovery then goes."""
    discovered = await discover(hass, discovery(emulator))
    assert discovered["step_id"] == "zeroconf_confirm"
    result = await start_manual_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_form(entry_data)
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].source == SOURCE_USER
    assert hass.config_entries.flow.async_progress() == []
