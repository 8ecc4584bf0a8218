"""The trust boundary: the owner token only ever reaches the entry's own server.

A different server at the entry's address (DHCP gave the IP to another machine,
a replacement) keeps none of the old server's transient tokens. Whether it is
owned by another account or by the same one (and would accept the owner token),
it must never receive the owner token, nor may its tokens be handed out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.plex_api.const import ATTR_FORCE_NEW, DOMAIN
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .helpers import SENSOR, call_action, poll
from .hostile import HostileServer, plex_answer
from .plex_emulator import PlexEmulator

TOKEN_PATH = "/security/token?type=delegation&scope=all"


def owner_token_sent(server: PlexEmulator, owner_token: str) -> bool:
    """Whether any request that reached `server` carried the owner token."""
    return any(r.headers.get("X-Plex-Token") == owner_token for r in server.requests)


@pytest.fixture(params=["other_account", "same_account"])
async def replacement(
    request: pytest.FixtureRequest, emulator: PlexEmulator
) -> AsyncIterator[PlexEmulator]:
    """Another Plex server takes over the emulator's address (port).

    `same_account`: it belongs to the same Plex account, so it would accept
    the owner token and issue its own transient tokens.
    """
    port = emulator.port
    await emulator.stop()
    owner = emulator.owner_token if request.param == "same_account" else None
    other = PlexEmulator(owner_token=owner, machine_identifier="f00d" * 10)
    await other.start(port=port)
    yield other
    await other.stop()


async def test_setup_asks_identity_first(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """Setup: /identity, the token, then `/` with the new token (3 requests)."""
    paths = [r.path_qs for r in emulator.requests]
    assert paths[:3] == ["/identity", TOKEN_PATH, "/"]
    assert "X-Plex-Token" not in emulator.requests[0].headers
    new_token = emulator.issued_tokens[-1]
    assert emulator.requests[2].headers["X-Plex-Token"] == new_token


async def test_replacement_after_a_refused_check(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    replacement: PlexEmulator,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Another server at the address gets no token at all: /identity comes first.

    Neither the owner token nor the transient one (which would open our
    server to it for up to 48 hours); no reauth either.
    """
    owner = init_integration.data["token"]

    await poll(hass, frozen_time)

    assert not owner_token_sent(replacement, owner)
    assert [r.path_qs for r in replacement.requests] == ["/identity"]
    assert all("X-Plex-Token" not in r.headers for r in replacement.requests)
    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE
    assert not any(init_integration.async_get_active_flows(hass, {SOURCE_REAUTH}))
    with pytest.raises(HomeAssistantError) as err:
        await call_action(hass, **{ATTR_FORCE_NEW: True})
    assert err.value.translation_key == "wrong_server"
    assert replacement.issued_tokens == []
    assert not owner_token_sent(replacement, owner)


async def test_replacement_at_rotation(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    replacement: PlexEmulator,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Rotation is due while another server answers: /identity stops it."""
    owner = init_integration.data["token"]
    frozen_time.tick(timedelta(hours=24))

    await poll(hass, frozen_time)

    assert {r.path_qs for r in replacement.requests} == {"/identity"}
    assert all("X-Plex-Token" not in r.headers for r in replacement.requests)
    assert not owner_token_sent(replacement, owner)
    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE


async def test_force_new_at_a_replacement(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    replacement: PlexEmulator,
) -> None:
    """force_new while another server answers: an error, and the sensor says so."""
    owner = init_integration.data["token"]

    for _ in range(2):
        with pytest.raises(HomeAssistantError) as err:
            await call_action(hass, **{ATTR_FORCE_NEW: True})
        assert err.value.translation_key == "wrong_server"

    assert not owner_token_sent(replacement, owner)
    assert replacement.issued_tokens == []
    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE


async def test_replacement_at_setup(
    hass: HomeAssistant, config_entry: MockConfigEntry, replacement: PlexEmulator
) -> None:
    """Setup (and every reload) asks /identity before anything else."""
    await hass.config_entries.async_setup(config_entry.entry_id)

    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert [r.path_qs for r in replacement.requests] == ["/identity"]
    assert not owner_token_sent(replacement, config_entry.data["token"])
    assert config_entry.reason is not None
    assert "answers as a different Plex Media Server" in config_entry.reason


async def test_back_to_the_right_server(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """When the entry's own server answers again, a new token is taken there."""
    port = emulator.port
    await emulator.stop()
    other = PlexEmulator(machine_identifier="f00d" * 10)
    await other.start(port=port)
    await poll(hass, frozen_time)
    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE
    await other.stop()
    emulator.restart()  # it was down: its tokens are gone
    await emulator.start(port=port)

    response = await call_action(hass)

    assert emulator.is_accepted(response["token"])
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE


async def test_entries_keep_to_their_own_server(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """No request from the entry ever carries the owner token but to /security."""
    owner = init_integration.data["token"]
    await call_action(hass, **{ATTR_FORCE_NEW: True})

    for seen in emulator.requests:
        if seen.headers.get("X-Plex-Token") == owner:
            assert seen.path_qs == TOKEN_PATH
    assert hass.config_entries.async_entries(DOMAIN) == [init_integration]


async def test_unusable_token_is_never_kept(
    hass: HomeAssistant, socket_enabled: None, entry_data: dict[str, object]
) -> None:
    """A server minting a token with a line break: setup waits, nothing is stored.

    Before, such a token was stored and handed out, and each later check refused
    it without a request, so every poll re-sent the owner token while the sensor
    looked healthy.
    """
    machine = "e2b5c4f1a9d84c7b8f3e6a1d0c9b7a52"

    def answer(path: str, _headers: dict[str, str]) -> bytes:
        return plex_answer(machine, "transient-1\r\nX-Injected: 1", "Odd")

    async with HostileServer(answer) as server:
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=machine,
            data={**entry_data, CONF_PORT: int(server.url.rsplit(":", 1)[1])},
        )
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert server.paths == ["/identity", TOKEN_PATH]
    assert hass.states.get(SENSOR) is None


async def test_location_name_that_cannot_be_a_header(
    hass: HomeAssistant, emulator: PlexEmulator, config_entry: MockConfigEntry
) -> None:
    """A location name with a line break does not stop the entry from loading."""
    hass.config.location_name = "Home\r\nX-Injected: yes"

    assert await hass.config_entries.async_setup(config_entry.entry_id)

    assert config_entry.state is ConfigEntryState.LOADED
    headers = emulator.requests[0].headers
    assert headers["X-Plex-Device-Name"] == "Home Assistant (Home X-Injected: yes)"
    assert "X-Injected" not in headers
