"""Small helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.plex_api.const import (
    DOMAIN,
    SERVICE_GET_TRANSIENT_TOKEN,
    UPDATE_INTERVAL,
)
from custom_components.plex_api.coordinator import PlexApiConfigEntry
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_SSL, CONF_VERIFY_SSL
from homeassistant.core import Context, Event, HomeAssistant, callback
from homeassistant.data_entry_flow import (
    EVENT_DATA_ENTRY_FLOW_PROGRESSED,
    FlowResultType,
)
from homeassistant.setup import async_setup_component

from .plex_emulator import PlexEmulator

SENSOR = "sensor.living_room_plex_token_expiry"
TLS = "tls"  # the user form's section with the HTTPS switches


def user_form(data: dict[str, Any]) -> dict[str, Any]:
    """Entry data as the user form takes it: HTTPS switches in their section."""
    flat = {k: v for k, v in data.items() if k not in (CONF_SSL, CONF_VERIFY_SSL)}
    tls = {k: data[k] for k in (CONF_SSL, CONF_VERIFY_SSL) if k in data}
    return {**flat, TLS: tls}


def current_token(hass: HomeAssistant) -> str:
    """The transient token the (only) entry holds now."""
    entry: PlexApiConfigEntry = hass.config_entries.async_entries(DOMAIN)[0]
    return entry.runtime_data.data.token.token


async def poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let one poll interval pass and the poll finish."""
    freezer.tick(UPDATE_INTERVAL)
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def refresh(hass: HomeAssistant) -> None:
    """Poll now, as the user's "update entity" does (the coordinator's refresh)."""
    await async_setup_component(hass, "homeassistant", {})
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": SENSOR}, blocking=True
    )


async def call_action(
    hass: HomeAssistant, context: Context | None = None, **data: Any
) -> dict[str, Any]:
    """Call get_transient_token as the frontend or an automation does; its response."""
    response = await hass.services.async_call(
        DOMAIN,
        SERVICE_GET_TRANSIENT_TOKEN,
        data,
        blocking=True,
        return_response=True,
        context=context,
    )
    assert response is not None
    return dict(response)


async def wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Wait (in real time, bounded) until `condition` holds.

    For what has no event to wait on: a request in flight at the emulator, a
    flow started. Not for tests with a frozen clock.
    """
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - no hook to wait on
            await asyncio.sleep(0.01)


async def until_requested(
    emulator: PlexEmulator, condition: Callable[[], bool]
) -> None:
    """Wait until the emulator has received what `condition` looks for."""
    await wait_until(condition, 5)


async def settle() -> None:
    """Let what is already on the loopback wire be read and answered (frozen clock)."""
    for _ in range(60):
        await asyncio.sleep(0)


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float, step: float
) -> None:
    """Move the frozen clock on by `seconds`, in steps, letting I/O finish."""
    for _ in range(round(seconds / step)):
        freezer.tick(step)
        async_fire_time_changed(hass)
        await settle()


async def advance_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    done: Callable[[], Awaitable[bool] | bool],
    *,
    step: float = 0.5,
    limit: float = 600,
) -> float:
    """Move the clock on until `done()`; the simulated seconds it took."""
    waited = 0.0
    while True:
        result = done()
        if result if isinstance(result, bool) else await result:
            return waited
        if waited >= limit:
            raise AssertionError(f"not done within {limit} simulated seconds")
        freezer.tick(step)
        async_fire_time_changed(hass)
        await settle()
        waited += step


async def start_manual_flow(hass: HomeAssistant) -> dict[str, Any]:
    """Open the config flow and choose "Enter the server and token": its form."""
    menu = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert menu["type"] is FlowResultType.MENU
    assert menu["menu_options"] == ["sign_in", "manual"]
    return dict(
        await hass.config_entries.flow.async_configure(
            menu["flow_id"], {"next_step_id": "manual"}
        )
    )


async def choose_token_form(hass: HomeAssistant, flow_id: str) -> dict[str, Any]:
    """From the re-authentication menu, choose "Enter a new token": its form."""
    assert hass.config_entries.flow.async_get(flow_id)["step_id"] == "reauth"
    return dict(
        await hass.config_entries.flow.async_configure(
            flow_id, {"next_step_id": "reauth_confirm"}
        )
    )


@contextlib.asynccontextmanager
async def flow_moves_on(
    hass: HomeAssistant, flow_id: str, seconds: float = 10
) -> AsyncIterator[None]:
    """Wait, after the block, until the flow moved on by itself.

    Home Assistant fires `data_entry_flow_progressed` when an external step
    (the sign-in's wait for plex.tv) is done: the event the frontend refreshes
    on. Listening starts before the block, so an early move is not missed;
    `seconds` only bounds a test that would otherwise hang.
    """
    moved = asyncio.Event()

    @callback
    def progressed(event: Event[dict[str, Any]]) -> None:
        if event.data.get("flow_id") == flow_id:
            moved.set()

    unsubscribe = hass.bus.async_listen(EVENT_DATA_ENTRY_FLOW_PROGRESSED, progressed)
    try:
        yield
        async with asyncio.timeout(seconds):
            await moved.wait()
    finally:
        unsubscribe()
