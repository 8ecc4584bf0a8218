"""The notification socket: a Plex restart noticed within seconds, not minutes.

These tests run in real time (no frozen clock) unless they need the heartbeat:
the reconnect backoff is a matter of seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from http import HTTPStatus
import logging
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .helpers import SENSOR, call_action, wait_until
from .plex_emulator import Fault, PlexEmulator

NOTIFICATIONS = "/:/websockets/notifications"
WAIT = 10  # seconds: generous bound on waits that should take far less


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


@pytest.fixture
async def push_entry(
    hass: HomeAssistant, push_emulator: PlexEmulator, config_entry: MockConfigEntry
) -> AsyncIterator[MockConfigEntry]:
    """The entry set up against a server whose notification socket is open."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    async with asyncio.timeout(WAIT):
        await push_emulator.wait_open_sockets(1)
    yield config_entry
    await hass.config_entries.async_unload(config_entry.entry_id)


@pytest.fixture
def sensor_states(hass: HomeAssistant) -> asyncio.Queue[str]:
    """Every new state of the token sensor, as it happens."""
    states: asyncio.Queue[str] = asyncio.Queue()

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        if (state := event.data["new_state"]) is not None:
            states.put_nowait(state.state)

    async_track_state_change_event(hass, SENSOR, changed)
    return states


async def next_state(states: asyncio.Queue[str], wanted: str | None = None) -> str:
    """Wait for the sensor's next state (other than `wanted`'s opposite)."""
    async with asyncio.timeout(WAIT):
        while True:
            state = await states.get()
            if wanted is None or (state == STATE_UNAVAILABLE) == (
                wanted == STATE_UNAVAILABLE
            ):
                return state


def upgrades(emulator: PlexEmulator) -> list[str]:
    """The token of every socket upgrade the emulator received, in order."""
    return [
        r.headers.get("X-Plex-Token", "")
        for r in emulator.requests
        if r.path_qs == NOTIFICATIONS
    ]


type Diagnostics = Callable[[], Awaitable[dict[str, Any]]]


@pytest.fixture
async def diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    config_entry: MockConfigEntry,
) -> Diagnostics:
    """Read the coordinator part of the entry's diagnostics, over one HTTP client."""
    assert await async_setup_component(hass, "diagnostics", {})
    client = await hass_client()
    path = f"/api/diagnostics/config_entry/{config_entry.entry_id}"

    async def read() -> dict[str, Any]:
        response = await client.get(path)
        assert response.status == HTTPStatus.OK
        coordinator: dict[str, Any] = (await response.json())["data"]["coordinator"]
        return coordinator

    return read


async def test_socket_up_means_rare_polls(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    push_entry: MockConfigEntry,
    diagnostics: Diagnostics,
) -> None:
    """With the socket open, the token is checked hourly, not every 5 minutes."""
    coordinator = await diagnostics()

    assert coordinator["push"] == "connected"
    assert coordinator["update_interval_seconds"] == 3600
    assert upgrades(push_emulator) == [push_emulator.issued_tokens[-1]]


async def test_restart_gives_a_new_token_within_seconds(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    push_entry: MockConfigEntry,
    sensor_states: asyncio.Queue[str],
) -> None:
    """A real restart: a new working token, on the sensor, soon after it is back.

    No poll and no action call: the closed socket alone triggers it.
    """
    old = push_emulator.issued_tokens[-1]

    await push_emulator.reboot(down_for=1.0)
    back = time.monotonic()
    async with asyncio.timeout(WAIT):
        await push_emulator.wait_open_sockets(1)
        while (await next_state(sensor_states)) == STATE_UNAVAILABLE:
            pass
    latency = time.monotonic() - back

    new = push_emulator.issued_tokens[-1]
    assert new != old
    assert push_emulator.is_accepted(new)
    assert latency < 5
    assert upgrades(push_emulator)[-1] == new  # the socket reopened with it
    response = await call_action(hass)
    assert response["token"] == new


async def test_allowed_without_auth_never_hands_out_a_dead_token(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    push_entry: MockConfigEntry,
    sensor_states: asyncio.Queue[str],
) -> None:
    """A server that accepts any token: after a restart, no token from before it.

    Its checks would say any token is fine; only the closed socket tells. While
    it is away the action fails (translated); once back, a new token.
    """
    push_emulator.allow_without_auth = True
    old = push_emulator.issued_tokens[-1]
    reboot = asyncio.ensure_future(push_emulator.reboot(down_for=1.0))
    assert await next_state(sensor_states, STATE_UNAVAILABLE) == STATE_UNAVAILABLE
    handed_out: list[str] = []
    errors: set[str | None] = set()

    while not handed_out:
        try:
            handed_out.append((await call_action(hass))["token"])
        except HomeAssistantError as err:
            errors.add(err.translation_key)
            await asyncio.sleep(0.1)
    await reboot

    assert errors == {"cannot_connect"}
    assert handed_out[0] != old
    assert push_emulator.is_accepted(handed_out[0])
    assert not push_emulator.is_accepted(old)


async def test_refused_sockets_mean_polling(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    diagnostics: Diagnostics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A proxy that refuses WebSockets: 5-minute polls, said once in the log."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    coordinator = await diagnostics()
    assert coordinator["push"] == "refused"
    assert coordinator["update_interval_seconds"] == 300
    said = [r for r in caplog.records if "no notification socket" in r.getMessage()]
    assert len(said) == 1
    assert said[0].levelno == logging.WARNING


async def test_unload_closes_the_socket(
    hass: HomeAssistant, push_emulator: PlexEmulator, push_entry: MockConfigEntry
) -> None:
    """Unloading closes the socket and leaves no task behind."""
    assert await hass.config_entries.async_unload(push_entry.entry_id)

    async with asyncio.timeout(WAIT):
        await push_emulator.wait_open_sockets(0)


async def test_closed_by_the_server_costs_a_new_token(
    hass: HomeAssistant, push_emulator: PlexEmulator, push_entry: MockConfigEntry
) -> None:
    """A close frame from the server, as when it shuts down: a new token.

    Even when the server would accept the old one (it skips token checks here).
    """
    push_emulator.allow_without_auth = True
    old = push_emulator.issued_tokens[-1]

    push_emulator.restart()  # closes every socket with 1001, port stays open
    async with asyncio.timeout(WAIT):
        await push_emulator.wait_open_sockets(0)
        await push_emulator.wait_open_sockets(1)

    new = push_emulator.issued_tokens[-1]
    assert new != old
    assert upgrades(push_emulator)[-1] == new
    assert (await call_action(hass))["token"] == new


@pytest.mark.parametrize("fault", [Fault.DROP, Fault.SERVER_ERROR])
async def test_socket_cannot_connect_then_can(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    fault: Fault,
) -> None:
    """The socket's upgrade fails (dropped, 5xx): retried until it opens."""
    push_emulator.set_fault(fault, NOTIFICATIONS)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await wait_until(lambda: len(upgrades(push_emulator)) >= 2)

    push_emulator.set_fault(None)
    async with asyncio.timeout(WAIT):
        await push_emulator.wait_open_sockets(1)
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_owner_token_refused_stops_the_socket(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    push_entry: MockConfigEntry,
    diagnostics: Diagnostics,
) -> None:
    """A restart after the owner token was revoked: reauth, and no retry storm."""
    push_emulator.revoke_owner_token()
    push_emulator.restart()

    await wait_until(lambda: any(push_entry.async_get_active_flows(hass, {"reauth"})))
    for _ in range(100):  # the listener resumes after the failed refresh
        if (await diagnostics())["push"] == "stopped":
            break
        await asyncio.sleep(0)
    requests = len(push_emulator.requests)

    assert (await diagnostics())["push"] == "stopped"
    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE
    await asyncio.sleep(1)  # the backoff would have retried by now
    assert len(push_emulator.requests) == requests


async def advance_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    done: Callable[[], Awaitable[bool]],
    step: float = 0.5,
) -> None:
    """Move the frozen clock on in steps until `done()` (two minutes at most).

    Each step lets the loop turn a few times, so that answers already on the
    wire (the emulator is in this loop) are read before the clock moves again.
    """
    for _ in range(int(120 / step)):
        if await done():
            return
        freezer.tick(step)
        async_fire_time_changed(hass)
        for _ in range(10):
            await asyncio.sleep(0)
    raise AssertionError("not done within two simulated minutes")


async def test_silent_socket_is_noticed(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> None:
    """A socket that died without a close frame: noticed by the heartbeat.

    The server still answers and still accepts the token: a check and a new
    socket, no new token.
    """

    async def state_is(wanted: str) -> bool:
        return (await diagnostics())["push"] == wanted

    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await advance_until(hass, frozen_time, lambda: state_is("connected"))
    token = push_emulator.issued_tokens[-1]
    start = dt_util.utcnow()

    push_emulator.silence_sockets()
    await advance_until(hass, frozen_time, lambda: state_is("reconnecting"))
    noticed = dt_util.utcnow() - start
    push_emulator.silence_sockets(False)
    await advance_until(hass, frozen_time, lambda: state_is("connected"))

    assert timedelta(seconds=30) < noticed <= timedelta(seconds=60)
    assert push_emulator.issued_tokens[-1] == token
    assert upgrades(push_emulator) == [token, token]
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_sockets_that_keep_dying_mean_polling(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three short-lived sockets in a row: push is given up for 5-minute polls."""

    async def state_is(wanted: str) -> bool:
        return (await diagnostics())["push"] == wanted

    assert await hass.config_entries.async_setup(config_entry.entry_id)

    async def not_connected() -> bool:
        return (await diagnostics())["push"] != "connected"

    for _ in range(3):
        await advance_until(hass, frozen_time, lambda: state_is("connected"))
        push_emulator.silence_sockets()
        await advance_until(hass, frozen_time, not_connected)
        push_emulator.silence_sockets(False)
    await advance_until(hass, frozen_time, lambda: state_is("refused"))

    coordinator = await diagnostics()
    assert coordinator["update_interval_seconds"] == 300
    assert len(upgrades(push_emulator)) == 3
    assert (await diagnostics())["push"] == "refused"
    assert "the notification socket kept dropping" in caplog.text
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_precautionary_tokens_are_capped(
    hass: HomeAssistant, push_emulator: PlexEmulator, push_entry: MockConfigEntry
) -> None:
    """A server closing its socket again and again: at most 6 tokens an hour.

    Past the cap a closed socket costs a check, not a token; the check still
    catches a dead token on a server that checks tokens.
    """
    push_emulator.allow_without_auth = True  # so only the cap decides
    tokens = len(push_emulator.issued_tokens)

    for _ in range(8):
        push_emulator.restart()
        async with asyncio.timeout(WAIT):
            await push_emulator.wait_open_sockets(0)
            await push_emulator.wait_open_sockets(1)

    assert len(push_emulator.issued_tokens) == tokens + 6
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE


async def test_notifications_are_read(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    push_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What the server says is read (and only logged, at debug level)."""
    caplog.set_level(logging.DEBUG, logger="custom_components.plex_api")

    assert await push_emulator.notify({"type": "timeline", "size": 1}) == 1
    await wait_until(lambda: "Plex notification: timeline" in caplog.text)

    assert push_emulator.open_sockets == 1


async def test_long_outage_slows_the_retries(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    diagnostics: Diagnostics,
) -> None:
    """Quick retries for the first minutes of an outage, then every 30 seconds."""

    async def connected() -> bool:
        return (await diagnostics())["push"] == "connected"

    async def sensor_unavailable() -> bool:
        return hass.states.get(SENSOR).state == STATE_UNAVAILABLE  # type: ignore[union-attr]

    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await advance_until(hass, frozen_time, connected)
    port = push_emulator.port
    await push_emulator.stop()
    await advance_until(hass, frozen_time, sensor_unavailable)
    for _ in range(70):  # six simulated minutes in 5-second steps
        frozen_time.tick(5)
        async_fire_time_changed(hass)
        for _ in range(10):
            await asyncio.sleep(0)
    await push_emulator.start(port=port)
    back = dt_util.utcnow()

    await advance_until(hass, frozen_time, connected, step=1)

    waited = dt_util.utcnow() - back
    assert timedelta(seconds=3) < waited <= timedelta(seconds=31)
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_socket_refusing_a_valid_token_means_polling(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    diagnostics: Diagnostics,
) -> None:
    """The socket answers 401 to a token `/` accepts: no socket for that server.

    The check first (a dead token would be replaced); then, as it stays the
    same token, polling every 5 minutes; and a made-up token on `/`, which
    this server refuses: it checks tokens, so no repair issue.
    """
    push_emulator.set_fault(Fault.UNAUTHORIZED, NOTIFICATIONS)
    assert await hass.config_entries.async_setup(config_entry.entry_id)

    await wait_until(lambda: len(push_emulator.requests) >= 7)
    for _ in range(100):
        if (await diagnostics())["push"] == "refused":
            break
        await asyncio.sleep(0.01)

    assert (await diagnostics())["update_interval_seconds"] == 300
    paths = [r.path_qs for r in push_emulator.requests[3:]]
    assert paths == [NOTIFICATIONS, "/identity", "/", "/"]
    assert ir.async_get(hass).issues == {}
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_changed_entry_refused_before_the_socket(
    hass: HomeAssistant,
    push_emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    diagnostics: Diagnostics,
) -> None:
    """A changed entry whose server refuses the token: no socket, reauth asked.

    The socket opens only after the refresh verified the server; here the
    refresh ends in re-authentication, and so does the socket's listener.
    """
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await push_emulator.wait_open_sockets(1)
    push_emulator.revoke_owner_token()
    push_emulator.restart()  # every token gone: a new one is needed, and refused
    await push_emulator.wait_open_sockets(0)

    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, "verify_ssl": False}
    )

    async def stopped() -> bool:
        return (await diagnostics())["push"] == "stopped"

    for _ in range(200):
        if await stopped():
            break
        await asyncio.sleep(0.05)
    assert await stopped()
    assert any(config_entry.async_get_active_flows(hass, {"reauth"}))
    assert push_emulator.open_sockets == 0
    await hass.config_entries.async_unload(config_entry.entry_id)
