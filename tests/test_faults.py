"""Faults survived: each emulator fault, what the user sees and logs, and recovery.

Table-driven: every mid-life fault makes the sensor unavailable with one log line,
stays quiet while it lasts, and recovers by itself with one log line when switched
off. Faults that need the owner to act (revoked or non-owner token) start reauth.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.plex_api.const import DOMAIN, UPDATE_INTERVAL
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

from .helpers import SENSOR, call_action, current_token
from .plex_emulator import Fault, PlexEmulator

type Step = Callable[[PlexEmulator], Awaitable[None]]


@pytest.fixture(autouse=True)
def info_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Capture what a user's log shows (INFO and up)."""
    caplog.set_level(logging.INFO)


async def poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let one poll interval pass, and frozen time run on while the poll works.

    Request timeouts run on the loop's clock, which the freezer holds: without
    ticking, a server that never answers would never time out (10 s here).
    """
    freezer.tick(UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    waiter = asyncio.ensure_future(
        hass.async_block_till_done(wait_background_tasks=True)
    )
    while not waiter.done():
        freezer.tick(0.25)
        await asyncio.sleep(0)
    await waiter


def fault(kind: Fault, *paths: str) -> Step:
    """Switch an emulator fault on (on the given paths)."""

    async def apply(emulator: PlexEmulator) -> None:
        emulator.delay = 30.0
        emulator.set_fault(kind, *paths)

    return apply


async def no_fault(emulator: PlexEmulator) -> None:
    """Switch every fault off."""
    emulator.set_fault(None)


async def go_down(emulator: PlexEmulator) -> None:
    """The server stops listening."""
    await emulator.stop()


async def come_back(emulator: PlexEmulator) -> None:
    """The server listens again on the same port."""
    await emulator.start(port=emulator.port)


async def restart_with_bad_token_answer(emulator: PlexEmulator) -> None:
    """A restart, after which the server answers token requests without a token."""
    emulator.restart()
    emulator.set_fault(Fault.XML_WITHOUT_TOKEN, "/security/token")


@dataclass(frozen=True)
class MidLifeFault:
    """A fault that strikes a running entry and goes away by itself."""

    name: str
    start: Step
    stop: Step


MID_LIFE_FAULTS = [
    MidLifeFault("down", go_down, come_back),
    MidLifeFault("timeout", fault(Fault.DELAY, "/"), no_fault),
    MidLifeFault("5xx", fault(Fault.SERVER_ERROR, "/"), no_fault),
    MidLifeFault("html", fault(Fault.HTML, "/"), no_fault),
    MidLifeFault("truncated_json", fault(Fault.TRUNCATED_JSON, "/"), no_fault),
    MidLifeFault("wrong_content", fault(Fault.WRONG_CONTENT, "/"), no_fault),
    MidLifeFault("oversized", fault(Fault.OVERSIZED, "/"), no_fault),
    MidLifeFault("oversized_declared", fault(Fault.OVERSIZED_DECLARED, "/"), no_fault),
    MidLifeFault("dropped", fault(Fault.DROP, "/"), no_fault),
    MidLifeFault("xml_without_token", restart_with_bad_token_answer, no_fault),
]


def lost_and_back(caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    """Count the 'lost' and 'back' log lines, the lifecycle's or the coordinator's.

    A server away (restarting?) is the lifecycle's INFO pair; an odd answer
    the coordinator base's error and "recovered" lines.
    """
    messages = [
        r.getMessage()
        for r in caplog.records
        if r.name == f"custom_components.{DOMAIN}"
    ]
    lost = sum(m.startswith(("Lost ", "Error fetching ")) for m in messages)
    back = sum(" is back" in m or m.endswith("data recovered") for m in messages)
    return lost, back


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing a user sees carries a traceback."""
    assert "Traceback" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


@pytest.mark.parametrize("case", MID_LIFE_FAULTS, ids=lambda case: case.name)
async def test_mid_life_fault(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    case: MidLifeFault,
) -> None:
    """Unavailable while it lasts, one line lost and one back, then recovered."""
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE
    await case.start(emulator)

    for _ in range(3):
        await poll(hass, frozen_time)
        assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE
    assert lost_and_back(caplog) == (1, 0)

    await case.stop(emulator)
    await poll(hass, frozen_time)

    state = hass.states.get(SENSOR)
    assert state.state != STATE_UNAVAILABLE
    assert emulator.is_accepted(current_token(hass))
    assert lost_and_back(caplog) == (1, 1)
    assert_no_traceback(caplog)


async def test_action_recovers_an_outage(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    hass_client: ClientSessionGenerator,  # after the clock is set: its token
) -> None:
    """An action call that finds the server back ends the outage, as a poll would.

    The coordinator's own refresh: the "back" line pairs the "lost" one, the
    sensor is available again and diagnostics no longer name an error.
    """
    await go_down(emulator)
    await poll(hass, frozen_time)
    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE
    await come_back(emulator)

    response = await call_action(hass)

    assert emulator.is_accepted(response["token"])
    assert lost_and_back(caplog) == (1, 1)
    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE
    result = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert result["coordinator"]["last_error"] is None


async def test_restart_is_not_an_outage(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Plex restart is handled inside one poll: never unavailable, one info line."""
    old = current_token(hass)
    emulator.restart()

    await poll(hass, frozen_time)

    assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE
    assert current_token(hass) != old
    assert emulator.is_accepted(current_token(hass))
    assert lost_and_back(caplog) == (0, 0)
    restarted = [r for r in caplog.records if "no longer accepts" in r.getMessage()]
    assert len(restarted) == 1
    assert restarted[0].levelno == logging.INFO
    assert_no_traceback(caplog)


async def test_down_at_startup(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Setup retries quietly while the server is down, then loads by itself."""
    await go_down(emulator)

    await hass.config_entries.async_setup(config_entry.entry_id)
    for _ in range(3):
        assert config_entry.state is ConfigEntryState.SETUP_RETRY
        frozen_time.tick(1)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get(SENSOR) is None
    ours = [
        r
        for r in caplog.records
        if r.name.startswith(f"custom_components.{DOMAIN}")
        and r.levelno >= logging.INFO
    ]
    assert ours == []  # Home Assistant says that setup retries; nothing more

    await come_back(emulator)
    frozen_time.tick(600)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert config_entry.state is ConfigEntryState.LOADED
    assert emulator.is_accepted(current_token(hass))
    assert_no_traceback(caplog)


async def test_owner_token_revoked(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Revoked owner token (and a restart): unavailable, reauth, no retry storm."""
    emulator.revoke_owner_token()
    emulator.restart()

    await poll(hass, frozen_time)
    requests = len(emulator.requests)
    for _ in range(3):
        await poll(hass, frozen_time)

    assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE
    assert any(init_integration.async_get_active_flows(hass, {SOURCE_REAUTH}))
    assert len(emulator.requests) == requests
    assert_no_traceback(caplog)


async def test_non_owner_token(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A shared user's token cannot create transient tokens: setup asks for reauth."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=emulator.machine_identifier,
        data={**entry_data, CONF_TOKEN: emulator.shared_token},
    )
    entry.add_to_hass(hass)

    assert not await hass.config_entries.async_setup(entry.entry_id)

    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert any(entry.async_get_active_flows(hass, {SOURCE_REAUTH}))
    assert_no_traceback(caplog)


async def test_tls_certificate_mismatch(
    hass: HomeAssistant,
    socket_enabled: None,
    trusted_certificates: list[bytes],
    frozen_time: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The server's certificate changes to an untrusted one, then back."""
    async with PlexEmulator(https=True) as emulator:
        emulator.refuse_websockets = True
        assert emulator.certificate_pem is not None
        trusted_certificates.append(emulator.certificate_pem)
        good = (emulator.certificate_pem, emulator.key_pem)
        entry = MockConfigEntry(
            domain=DOMAIN,
            unique_id=emulator.machine_identifier,
            data={
                CONF_HOST: "127.0.0.1",
                CONF_PORT: emulator.port,
                CONF_TOKEN: emulator.owner_token,
                CONF_SSL: True,
                CONF_VERIFY_SSL: True,
            },
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done(wait_background_tasks=True)
        assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE

        await emulator.stop()
        emulator.certificate_pem = None  # a new, untrusted certificate
        await emulator.start(port=emulator.port)
        await poll(hass, frozen_time)
        assert hass.states.get(SENSOR).state == STATE_UNAVAILABLE
        assert "TLS" in caplog.text

        await emulator.stop()
        emulator.certificate_pem, emulator.key_pem = good
        await emulator.start(port=emulator.port)
        await poll(hass, frozen_time)
        assert hass.states.get(SENSOR).state != STATE_UNAVAILABLE
        assert lost_and_back(caplog) == (1, 1)
        assert_no_traceback(caplog)
        await hass.config_entries.async_unload(entry.entry_id)
