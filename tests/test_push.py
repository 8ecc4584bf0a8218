"""The notification socket against a PMS and a network that behave like real ones.

Every test runs on the frozen clock: time moves only when a test moves it, in
steps, and each step lets the loopback I/O already on the wire finish. So the
figures (seconds, counts over an hour) are simulated time, never wall time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
import logging
from typing import Any

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.plex_api.diagnostics import (
    async_get_config_entry_diagnostics,
)
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_TOKEN, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from .helpers import (
    SENSOR,
    advance,
    advance_until,
    call_action,
    choose_token_form,
    settle,
)
from .plex_emulator import Fault, PlexEmulator, ProxyMode

NOTIFICATIONS = "/:/websockets/notifications"
TOKEN_PATH = "/security/token?type=delegation&scope=all"


@pytest.fixture(autouse=True)
def no_token_in_the_log(
    emulator: PlexEmulator, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Every push test, logged at debug level, leaves no token in the log."""
    caplog.set_level(logging.DEBUG)
    yield
    secrets = [emulator.owner_token, *emulator.issued_tokens]
    assert len(secrets) > 1, "no token was issued"
    log = caplog.text + "\n".join(
        record.getMessage() + str(record.exc_info) for record in caplog.records
    )
    assert [secret for secret in secrets if secret in log] == []


def upgrades(emulator: PlexEmulator) -> list[str]:
    """The token of every socket upgrade the emulator received, in order."""
    return [
        r.headers.get("X-Plex-Token", "")
        for r in emulator.requests
        if r.path_qs == NOTIFICATIONS
    ]


def sensor_state(hass: HomeAssistant) -> str:
    """The token sensor's state."""
    state = hass.states.get(SENSOR)
    assert state is not None
    return state.state


type Diagnostics = Callable[[], Awaitable[dict[str, Any]]]


@pytest.fixture
def diagnostics(hass: HomeAssistant, config_entry: MockConfigEntry) -> Diagnostics:
    """Read the coordinator part of the entry's diagnostics (empty while not loaded).

    The diagnostics platform itself, not its HTTP view: an access token
    would expire as the clock moves on for hours.
    """

    async def read() -> dict[str, Any]:
        data = await async_get_config_entry_diagnostics(hass, config_entry)
        coordinator: dict[str, Any] = data.get("coordinator", {})
        return coordinator

    return read


@pytest.fixture
async def connected(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> AsyncIterator[MockConfigEntry]:
    """The entry set up, its notification socket open."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)

    async def up() -> bool:
        return (await diagnostics()).get("push") == "connected"

    await advance_until(hass, frozen_time, up)
    yield config_entry
    await hass.config_entries.async_unload(config_entry.entry_id)


def push_state(diagnostics: Diagnostics, wanted: str) -> Callable[[], Awaitable[bool]]:
    """A condition: the socket's state in diagnostics is `wanted`."""

    async def condition() -> bool:
        return (await diagnostics()).get("push") == wanted

    return condition


async def test_socket_up_means_rare_checks(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """With the socket open, one check an hour: `/` alone (the socket proves it).

    The check already due when it opened (within 5 minutes) comes first.
    """
    token = push_emulator.issued_tokens[-1]
    before = len(push_emulator.requests)

    await advance(hass, frozen_time, 3 * 3600 + 300, step=60)

    paths = [r.path_qs for r in push_emulator.requests[before:]]
    assert paths == ["/", "/", "/", "/"]
    assert push_emulator.issued_tokens[-1] == token
    assert upgrades(push_emulator) == [token]


@pytest.mark.parametrize("allow_without_auth", [False, True])
async def test_restart_gives_a_new_token_within_seconds(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
    caplog: pytest.LogCaptureFixture,
    allow_without_auth: bool,
) -> None:
    """A real restart: dropped sockets, a closed port, then accept-and-drop.

    Sockets end without a close frame, the port refuses for a while, then
    accepts connections and drops them while the server starts. A new
    working token within seconds of the server being back, also where
    the server accepts any token (checks alone could never tell); one restart,
    however often the starting server dropped connections; INFO lines only.
    """
    push_emulator.allow_without_auth = allow_without_auth
    old = push_emulator.issued_tokens[-1]
    caplog.clear()

    # Starting for 5 s: long enough that a retry (every 5 s) meets it.
    reboot = asyncio.ensure_future(push_emulator.reboot(down_for=8, starting_for=5))
    await advance_until(hass, frozen_time, lambda: sensor_state(hass) == "unavailable")
    await advance_until(hass, frozen_time, reboot.done, limit=30)
    took = await advance_until(
        hass, frozen_time, lambda: push_emulator.issued_tokens[-1] != old
    )

    assert took <= 5
    assert push_emulator.dropped_while_starting > 0
    new = push_emulator.issued_tokens[-1]
    assert push_emulator.is_accepted(new)
    assert not push_emulator.is_accepted(old)
    await advance_until(hass, frozen_time, push_state(diagnostics, "connected"))
    assert upgrades(push_emulator) == [old, new]
    assert sensor_state(hass) != STATE_UNAVAILABLE
    assert (await call_action(hass))["token"] == new
    ours = [
        r
        for r in caplog.records
        if r.name.startswith("custom_components") and r.levelno >= logging.INFO
    ]
    assert [r.levelno for r in ours] == [
        logging.INFO,  # went away
        logging.INFO,  # back, with a new token
    ]
    assert "with a new transient token" in ours[-1].getMessage()


async def test_action_during_a_restart_waits_for_it(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """An action called 2 s into an 8 s restart answers once the server is back."""
    old = push_emulator.issued_tokens[-1]
    push_emulator.allow_without_auth = True  # only the socket tells the restart
    reboot = asyncio.ensure_future(push_emulator.reboot(down_for=8))
    await advance(hass, frozen_time, 2, step=0.5)

    calls = [asyncio.ensure_future(call_action(hass)) for _ in range(3)]
    await advance_until(hass, frozen_time, lambda: all(c.done() for c in calls))
    await advance_until(hass, frozen_time, reboot.done)

    tokens = {call.result()["token"] for call in calls}
    assert len(tokens) == 1
    token = tokens.pop()
    assert token != old
    assert push_emulator.is_accepted(token)


async def test_action_during_a_long_restart_says_so(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """A restart longer than the wait: a translated "restarting", never a token."""
    reboot = asyncio.ensure_future(push_emulator.reboot(down_for=60))
    await advance(hass, frozen_time, 2, step=0.5)

    call = asyncio.ensure_future(call_action(hass))
    waited = await advance_until(hass, frozen_time, call.done)

    assert 13 <= waited <= 16
    with pytest.raises(HomeAssistantError) as err:
        call.result()
    assert err.value.translation_key == "restarting"
    await advance_until(hass, frozen_time, reboot.done, limit=120)


async def test_an_outage_backs_off(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Five minutes of a server that accepts and drops every connection: ~30 tries.

    Quick at first (a restart is over in seconds), every 5 s for a minute,
    then every 15 s: not every 3 s for 5 minutes (about 100). aiohttp tries a
    GET whose connection was dropped once more: two connections a try.
    """
    reboot = asyncio.ensure_future(push_emulator.reboot(down_for=0, starting_for=300))
    await advance(hass, frozen_time, 300, step=0.5)

    assert 40 <= push_emulator.dropped_while_starting <= 70
    await advance_until(hass, frozen_time, reboot.done, limit=30)
    await advance_until(hass, frozen_time, lambda: sensor_state(hass) != "unavailable")


async def test_a_reload_ends_the_wait_at_once(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """An action waiting through a restart, then a reload: "reloading" at once.

    Not the 15 s of the wait, nor "restarting" from a coordinator that is gone.
    """
    reboot = asyncio.ensure_future(push_emulator.reboot(down_for=60))
    await advance(hass, frozen_time, 2, step=0.5)
    call = asyncio.ensure_future(call_action(hass))
    await advance(hass, frozen_time, 1, step=0.5)
    assert not call.done()

    assert await hass.config_entries.async_unload(connected.entry_id)
    waited = await advance_until(hass, frozen_time, call.done)

    assert waited <= 1
    with pytest.raises(HomeAssistantError) as err:
        call.result()
    assert err.value.translation_key == "reloading"
    await advance_until(hass, frozen_time, reboot.done, limit=120)


@pytest.mark.parametrize(
    "breakage",
    [
        ProxyMode.STATUS_400,
        ProxyMode.STATUS_502,
        ProxyMode.PLAIN_200,
        ProxyMode.REDIRECT,
        ProxyMode.REDIRECT_LOOP,
        ProxyMode.CLOSE_AT_ONCE,
        ProxyMode.BAD_ACCEPT,
        ProxyMode.PING_BURST,
        Fault.DROP,  # the connection closed before any answer to the upgrade
        Fault.DELAY,  # the upgrade left hanging until the client gives up
    ],
)
async def test_broken_proxy_stays_bounded(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
    caplog: pytest.LogCaptureFixture,
    breakage: ProxyMode | Fault,
) -> None:
    """A proxy that breaks the upgrade, for a simulated hour: bounded, said once.

    At most 60 upgrades and 6 new tokens; polling every 5 minutes, said once
    as a warning and never "back" in between; every token handed out works.
    """
    if isinstance(breakage, ProxyMode):
        push_emulator.proxy_mode = breakage
    else:
        push_emulator.set_fault(breakage, NOTIFICATIONS)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    tokens = len(push_emulator.issued_tokens)
    handed_out: list[str] = []

    for _ in range(12):
        await advance(hass, frozen_time, 300, step=5)
        handed_out.append((await call_action(hass))["token"])

    assert len(upgrades(push_emulator)) <= 60
    assert len(push_emulator.issued_tokens) - tokens <= 6
    assert all(push_emulator.is_accepted(token) for token in handed_out)
    assert (await diagnostics())["push"] == "polling"
    said = [r for r in caplog.records if "no notification socket" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING]
    assert "live updates are back" not in caplog.text
    assert sensor_state(hass) != STATE_UNAVAILABLE
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_redirect_never_carries_the_token(
    hass: HomeAssistant,
    socket_enabled: None,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """An upgrade redirected to another origin: nothing is sent there."""
    elsewhere: list[web.Request] = []

    async def record(request: web.Request) -> web.Response:
        elsewhere.append(request)
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    push_emulator.proxy_mode = ProxyMode.REDIRECT
    push_emulator.redirect_location = f"http://127.0.0.1:{port}{NOTIFICATIONS}"
    try:
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await advance(hass, frozen_time, 3600, step=5)
        assert upgrades(push_emulator)
    finally:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await runner.cleanup()

    assert elsewhere == []


async def test_half_open_socket_is_replaced_within_30_seconds(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> None:
    """A socket whose path died (nothing arrives): noticed by the heartbeat.

    The server still answers and still accepts the token: a new socket, no
    new token.
    """
    token = push_emulator.issued_tokens[-1]
    push_emulator.silence_sockets()

    noticed = await advance_until(
        hass, frozen_time, push_state(diagnostics, "reconnecting"), step=0.5
    )
    push_emulator.silence_sockets(False)
    await advance_until(hass, frozen_time, push_state(diagnostics, "connected"))

    assert 15 < noticed <= 30
    assert push_emulator.issued_tokens[-1] == token
    assert upgrades(push_emulator) == [token, token]
    assert sensor_state(hass) != STATE_UNAVAILABLE


async def test_drops_without_a_close_frame_cost_no_token(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> None:
    """A proxy's idle timeout or a Wi-Fi blip, the server up: verified, kept.

    Until the server is verified nothing is handed out; then the same token,
    on a new socket.
    """
    token = push_emulator.issued_tokens[-1]

    assert push_emulator.drop_sockets() == 1
    await advance_until(hass, frozen_time, lambda: len(upgrades(push_emulator)) == 2)
    await advance_until(hass, frozen_time, push_state(diagnostics, "connected"))

    assert push_emulator.issued_tokens[-1] == token
    assert upgrades(push_emulator) == [token, token]
    assert (await call_action(hass))["token"] == token


async def test_flapping_then_push_comes_back(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> None:
    """Sockets dropped again and again, the server up: blips, never polling.

    A flapping hour stays within 60 upgrades and costs no token; once the
    network holds, the socket is back within 5 minutes, by itself.
    """
    tokens = len(push_emulator.issued_tokens)
    for _ in range(360):  # an hour of drops, every 10 seconds
        push_emulator.drop_sockets()
        await advance(hass, frozen_time, 10, step=2)
        assert (await diagnostics())["push"] != "polling"
    assert len(upgrades(push_emulator)) <= 60
    assert len(push_emulator.issued_tokens) == tokens

    took = await advance_until(
        hass, frozen_time, push_state(diagnostics, "connected"), step=5, limit=600
    )
    assert took <= 300
    await advance(hass, frozen_time, 600, step=10)
    assert (await diagnostics())["push"] == "connected"


async def test_failed_check_with_the_socket_up_recovers_within_a_minute(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The hourly check fails (a 5xx) while the socket stays up.

    Not a restart (no new token), and not an hour unavailable: checked again
    within a minute.
    """
    token = push_emulator.issued_tokens[-1]
    push_emulator.set_fault(Fault.SERVER_ERROR, "/")
    await until_the_hourly_check_fails(hass, frozen_time)
    push_emulator.set_fault(None)

    took = await advance_until(
        hass, frozen_time, lambda: sensor_state(hass) != STATE_UNAVAILABLE, step=1
    )

    assert took <= 60
    assert push_emulator.issued_tokens[-1] == token
    assert push_emulator.open_sockets == 1
    ours = [r for r in caplog.records if r.name.startswith("custom_components")]
    assert not [r for r in ours if r.levelno >= logging.ERROR]


async def test_socket_refusing_the_transient_token_takes_the_owner_token(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> None:
    """Nobody knows whether PMS takes a transient token on the socket: both work.

    Refused there while `/` accepts it: the entry's own token opens the
    socket (its server was proven just before), and push works.
    """
    push_emulator.socket_refuses_transient = True
    assert await hass.config_entries.async_setup(config_entry.entry_id)

    await advance_until(hass, frozen_time, push_state(diagnostics, "connected"))

    transient = push_emulator.issued_tokens[-1]
    assert upgrades(push_emulator) == [transient, push_emulator.owner_token]
    assert push_emulator.open_sockets == 1
    await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.fixture
async def replacement(
    push_emulator: PlexEmulator, connected: MockConfigEntry
) -> AsyncIterator[PlexEmulator]:
    """Another server of the same account takes the address of the connected one.

    It would accept the owner token and hand out tokens of its own; its socket
    is open to clients.
    """
    port = push_emulator.port
    await push_emulator.stop()
    other = PlexEmulator(
        owner_token=push_emulator.owner_token, machine_identifier="f00d" * 10
    )
    await other.start(port=port)
    other.refuse_websockets = False
    yield other
    await other.stop()


async def until_the_hourly_check_fails(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Move the clock on until a check with the socket up made the sensor fail."""
    await advance_until(
        hass,
        freezer,
        lambda: sensor_state(hass) == STATE_UNAVAILABLE,
        step=60,
        limit=3700,
    )


async def test_no_token_reaches_a_replacement_server(
    hass: HomeAssistant, replacement: PlexEmulator, frozen_time: FrozenDateTimeFactory
) -> None:
    """The socket is lost and another server takes the address: it gets no token.

    Not the owner token, not the transient one (our server's key for 48 h).
    """
    await advance(hass, frozen_time, 1800, step=5)

    other = replacement
    assert other.requests
    assert all("X-Plex-Token" not in r.headers for r in other.requests)
    assert sensor_state(hass) == STATE_UNAVAILABLE


async def test_action_after_a_loss_to_another_server_fails_at_once(
    hass: HomeAssistant, replacement: PlexEmulator, frozen_time: FrozenDateTimeFactory
) -> None:
    """Lost socket, another server answers: no 15-second wait, "wrong server"."""
    call = asyncio.ensure_future(call_action(hass))
    waited = await advance_until(hass, frozen_time, call.done)

    assert replacement.issued_tokens == []
    assert waited < 5
    with pytest.raises(HomeAssistantError) as err:
        call.result()
    assert err.value.translation_key == "wrong_server"


async def test_owner_token_refused_means_reauth_and_quiet(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """A restart after the owner token was revoked: reauth, then no retry storm."""
    push_emulator.revoke_owner_token()
    push_emulator.restart()

    await advance_until(
        hass,
        frozen_time,
        lambda: any(connected.async_get_active_flows(hass, {SOURCE_REAUTH})),
    )
    requests = len(push_emulator.requests)
    await advance(hass, frozen_time, 600, step=5)

    assert len(push_emulator.requests) - requests <= 2  # polls stop with reauth
    assert sensor_state(hass) == STATE_UNAVAILABLE


async def test_reauth_with_the_same_token_brings_the_entry_back(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> None:
    """A passing 401, then the user re-enters the very same token: back to work.

    Storing unchanged data calls no update listener: the flow reloads.
    """
    push_emulator.set_fault(Fault.UNAUTHORIZED, "/", "/security/token")
    push_emulator.restart()
    await advance_until(
        hass,
        frozen_time,
        lambda: any(connected.async_get_active_flows(hass, {SOURCE_REAUTH})),
    )
    push_emulator.set_fault(None)
    flow = connected.async_get_active_flows(hass, {SOURCE_REAUTH})
    flow_id = next(iter(flow))["flow_id"]
    await choose_token_form(hass, flow_id)

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_TOKEN: connected.data[CONF_TOKEN]}
    )
    await advance_until(hass, frozen_time, push_state(diagnostics, "connected"))

    assert result["reason"] == "reauth_successful"
    assert connected.state is ConfigEntryState.LOADED
    assert sensor_state(hass) != STATE_UNAVAILABLE
    assert push_emulator.open_sockets == 1


async def test_unload_between_two_sessions_leaves_nothing(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Unloaded while the next try is only a timer: it never fires."""
    push_emulator.drop_sockets()
    await advance_until(hass, frozen_time, lambda: push_emulator.open_sockets == 0)
    assert await hass.config_entries.async_unload(connected.entry_id)
    upgrades_before = len(upgrades(push_emulator))

    await advance(hass, frozen_time, 3600, step=30)

    assert len(upgrades(push_emulator)) == upgrades_before
    assert push_emulator.open_sockets == 0


async def test_restart_at_the_rotation_age_is_a_restart(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """A restart while the token is due for rotation: the event says `restart`.

    Automations that re-send URLs when earlier tokens died must not miss it.
    """
    push_emulator.allow_without_auth = True
    old = push_emulator.issued_tokens[-1]
    reboot = asyncio.ensure_future(push_emulator.reboot(down_for=3))
    await settle()  # down: the port closed, the socket dropped
    frozen_time.tick(timedelta(hours=24, minutes=10))  # and the token now due

    await advance_until(hass, frozen_time, reboot.done)
    await advance_until(
        hass, frozen_time, lambda: push_emulator.issued_tokens[-1] != old
    )

    state = hass.states.get("event.living_room_plex_token_renewed")
    assert state is not None
    assert state.attributes["event_type"] == "restart"
    assert state.attributes["earlier_tokens_dead"] is True


async def test_unload_closes_the_socket(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """Unloading closes the socket and leaves no task or timer behind."""
    assert await hass.config_entries.async_unload(connected.entry_id)

    await advance_until(hass, frozen_time, lambda: push_emulator.open_sockets == 0)
    upgrades_before = len(upgrades(push_emulator))
    await advance(hass, frozen_time, 3600, step=60)
    assert len(upgrades(push_emulator)) == upgrades_before


async def test_notification_text_reaches_the_log_only_as_a_plain_word(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server can echo a token into a notification, or forge a log line."""
    token = push_emulator.issued_tokens[-1]
    assert await push_emulator.notify({"type": "timeline"}) == 1
    assert await push_emulator.notify({"type": f"x\nERROR forged {token}"}) == 1
    await advance(hass, frozen_time, 1, step=0.5)

    assert "Plex notification: timeline" in caplog.text
    assert "Plex notification: (unrecognised)" in caplog.text
    assert "forged" not in caplog.text


@pytest.mark.parametrize("allow_without_auth", [False, True])
async def test_a_close_frame_is_a_restart_only_if_the_token_died(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
    allow_without_auth: bool,
) -> None:
    """A close frame on a working socket, the port never closed: a blip or a restart.

    The server refuses the old token: a restart (a new token, the event says
    so, every time). It accepts it (it skips token checks, or did not
    restart): a blip, nothing is taken, nothing fired; the socket opens
    again. (A real PMS that restarts closes its port meanwhile: that is seen.)
    """
    push_emulator.allow_without_auth = allow_without_auth
    tokens = len(push_emulator.issued_tokens)

    for _ in range(8):
        opened = len(upgrades(push_emulator))
        push_emulator.restart()  # forgets its tokens, closes every socket with 1001
        # (An action in the instant before the close frame is read could get
        # the dead token: nothing can know yet. Wait for the next socket.)
        await advance_until(
            hass, frozen_time, lambda n=opened: len(upgrades(push_emulator)) > n
        )
        await advance_until(
            hass, frozen_time, push_state(diagnostics, "connected"), limit=1200
        )
        token = (await call_action(hass))["token"]
        # Where checks are skipped, an instant restart (a port never closed,
        # which a real PMS cannot do) is not seen: the documented limit.
        assert push_emulator.is_accepted(token) is not allow_without_auth

    new_tokens = len(push_emulator.issued_tokens) - tokens
    assert new_tokens == (0 if allow_without_auth else 8)
    event = hass.states.get("event.living_room_plex_token_renewed")
    assert event is not None
    assert event.attributes.get("event_type") == (
        None if allow_without_auth else "restart"
    )
    assert sensor_state(hass) != STATE_UNAVAILABLE


async def test_a_close_frame_before_anything_came_is_a_proxy(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> None:
    """Upgraded, then closed before a message or a pong: a proxy, not a restart.

    No token, no event; five in a row mean polling, tried again in 15 minutes:
    not every 30 s for ever.
    """
    tokens = len(push_emulator.issued_tokens)
    push_emulator.proxy_mode = ProxyMode.CLOSE_FRAME_AT_ONCE
    push_emulator.drop_sockets()

    await advance_until(hass, frozen_time, push_state(diagnostics, "polling"))
    start = len(upgrades(push_emulator))
    await advance(hass, frozen_time, 30 * 60, step=10)

    assert len(upgrades(push_emulator)) - start <= 2
    assert len(push_emulator.issued_tokens) == tokens
    event = hass.states.get("event.living_room_plex_token_renewed")
    assert event is not None
    assert event.attributes.get("event_type") is None


async def test_a_socket_lost_during_a_check_is_verified_again(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """The socket ends while a check is on its way: that check proves nothing after.

    The action waits for a new verification (identity first), never taking
    the answer of a check that started before the loss.
    """
    push_emulator.delay = 5.0
    push_emulator.set_fault(Fault.DELAY, "/")
    frozen_time.tick(timedelta(seconds=61))  # the action's check is due
    call = asyncio.ensure_future(call_action(hass))
    await advance_until(
        hass, frozen_time, lambda: push_emulator.requests[-1].path_qs == "/"
    )
    before = len(push_emulator.requests)
    push_emulator.drop_sockets()  # while `/` is held back
    await advance(hass, frozen_time, 1, step=0.5)
    push_emulator.set_fault(None)

    await advance_until(hass, frozen_time, call.done)

    after = [r.path_qs for r in push_emulator.requests[before:]]
    assert after[:2] == ["/identity", "/"]  # verified again after the loss
    assert call.result()["token"] == push_emulator.issued_tokens[-1]


async def test_check_naming_another_server_is_refused(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """With the socket up, `/` suddenly names another machine: a wrong server."""
    push_emulator.machine_identifier = "f00d" * 10

    await until_the_hourly_check_fails(hass, frozen_time)

    issues = ir.async_get(hass).issues
    assert any(issue_id[1].startswith("wrong_server_") for issue_id in issues)


async def test_socket_refused_later_means_checks_every_5_minutes(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    connected: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> None:
    """A proxy that starts refusing WebSockets: checks come every 5 minutes at once.

    Observed when they arrive (not read from a setting): the hourly schedule
    of the socket's days is not kept for another hour.
    """
    push_emulator.proxy_mode = ProxyMode.STATUS_400
    push_emulator.drop_sockets()
    await advance_until(hass, frozen_time, push_state(diagnostics, "polling"))
    start = len(push_emulator.requests)

    await advance(hass, frozen_time, 30 * 60, step=10)

    paths = [r.path_qs for r in push_emulator.requests[start:]]
    assert paths.count("/") in (6, 7)  # the probe's extra `/` may be in the window
    assert paths.count("/identity") >= 6  # each check proves the server first
