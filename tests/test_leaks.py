"""No leaks: run the whole life of an entry at DEBUG and look for tokens everywhere.

Sources searched: every log record (with exception text and tracebacks), the
diagnostics, every row of the recorder's SQLite database, repr() and str() of the
config entry, coordinator, client, models and errors, and the URLs the emulator
received. Only the action's response (and, when the user opts in, the sensor's
live attribute) may hold a transient token; the owner token appears nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from sqlalchemy import MetaData, select

from custom_components.plex_api.const import (
    CONF_ROTATION_HOURS,
    CONF_SHOW_TOKEN,
)
from custom_components.plex_api.coordinator import PlexApiConfigEntry
from custom_components.plex_api.diagnostics import (
    async_get_config_entry_diagnostics,
)
from homeassistant.auth.models import User
from homeassistant.components.recorder import Recorder, get_instance
from homeassistant.components.recorder.util import session_scope
from homeassistant.const import CONF_HOST, CONF_TOKEN, EVENT_LOGGING_CHANGED
from homeassistant.core import Context, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError

from .helpers import (
    SENSOR,
    call_action,
    choose_token_form,
    poll,
    start_manual_flow,
    user_form,
)
from .plex_emulator import Fault, PlexEmulator

FORMATTER = logging.Formatter("%(name)s %(levelname)s %(message)s")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must be set up before Home Assistant: ask for it first."""


@pytest.fixture
def debug_everywhere(hass: HomeAssistant) -> Iterator[list[logging.LogRecord]]:
    """Every logger at DEBUG (Home Assistant's event bus too); collect all records."""
    records: list[logging.LogRecord] = []

    class Collector(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collector(logging.DEBUG)
    loggers = [logging.getLogger()] + [
        logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    hass.bus.async_fire(EVENT_LOGGING_CHANGED)
    yield records
    logging.getLogger().removeHandler(handler)
    for logger, level in levels.items():
        logger.setLevel(level)


def formatted(records: list[logging.LogRecord]) -> str:
    """Records as a log file would hold them, tracebacks included."""
    return "\n".join(FORMATTER.format(record) for record in records)


def database_dump(hass: HomeAssistant) -> str:
    """Every row of every recorder table, as text (runs in the executor)."""
    rows: list[str] = []
    with session_scope(hass=hass, read_only=True) as session:
        metadata = MetaData()
        metadata.reflect(bind=session.get_bind())
        for table in metadata.sorted_tables:
            rows.extend(repr(row) for row in session.execute(select(table)))
    return "\n".join(rows)


async def configure(
    hass: HomeAssistant, flow_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """Submit one step of a flow (the user step's with its HTTPS section)."""
    if CONF_HOST in data:
        data = user_form(data)
    return dict(await hass.config_entries.flow.async_configure(flow_id, data))


async def test_no_token_leaks(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    entry_data: dict[str, Any],
    frozen_time: FrozenDateTimeFactory,
    hass_admin_user: User,
    debug_everywhere: list[logging.LogRecord],
) -> None:
    """A whole life at DEBUG with the recorder on: no token in any source."""
    owner_tokens = [emulator.owner_token]
    reprs: list[str] = []
    errors: list[BaseException] = []

    # A failing config flow (wrong token, then a non-Plex answer), then success.
    flow = await start_manual_flow(hass)
    bad = {**entry_data, CONF_TOKEN: emulator.shared_token}
    assert (await configure(hass, flow["flow_id"], bad))["errors"]
    emulator.set_fault(Fault.HTML, "/identity")
    assert (await configure(hass, flow["flow_id"], entry_data))["errors"]
    emulator.set_fault(None)
    result = await configure(hass, flow["flow_id"], entry_data)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry: PlexApiConfigEntry = result["result"]
    await hass.async_block_till_done(wait_background_tasks=True)
    coordinator = entry.runtime_data
    owner_tokens.append(emulator.shared_token)

    # Refreshes, then options: a 1 h rotation age and the token hidden (default).
    for _ in range(2):
        await poll(hass, frozen_time)
    options = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        options["flow_id"], {CONF_ROTATION_HOURS: 1, CONF_SHOW_TOKEN: False}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    coordinator = entry.runtime_data
    for _ in range(13):  # past the rotation age
        await poll(hass, frozen_time)

    # A Plex restart, failing polls and recovery.
    emulator.restart()
    await poll(hass, frozen_time)
    emulator.set_fault(Fault.HTML, "/")
    await poll(hass, frozen_time)
    assert coordinator.last_exception is not None
    errors.append(coordinator.last_exception)
    emulator.set_fault(None)
    await poll(hass, frozen_time)

    # The action: an admin, an automation (no user), a forced new token, a failure.
    tokens_returned = [
        (await call_action(hass, Context(user_id=hass_admin_user.id)))["token"],
        (await call_action(hass, Context(), force_new=True))["token"],
    ]
    emulator.set_fault(Fault.TRUNCATED_JSON, "/security/token")
    with pytest.raises(HomeAssistantError) as failure:
        await call_action(hass, None, force_new=True)
    errors.append(failure.value)
    emulator.set_fault(None)

    reprs += [repr(entry), str(entry), repr(coordinator), str(coordinator)]
    reprs += [repr(coordinator.client), str(coordinator.client)]
    reprs += [repr(coordinator.data), str(coordinator.data)]
    reprs += [repr(coordinator.data.token), str(coordinator.data.token)]

    # The owner token revoked: reauth, a wrong attempt, then the new token.
    emulator.revoke_owner_token()
    owner_tokens.append(emulator.owner_token)
    emulator.restart()
    await poll(hass, frozen_time)
    assert coordinator.last_exception is not None
    errors.append(coordinator.last_exception)
    (menu,) = entry.async_get_active_flows(hass, {"reauth"})
    reauth = await choose_token_form(hass, menu["flow_id"])
    step = await configure(hass, reauth["flow_id"], {CONF_TOKEN: owner_tokens[0]})
    assert step["errors"] == {"base": "invalid_auth"}
    step = await configure(hass, reauth["flow_id"], {CONF_TOKEN: owner_tokens[-1]})
    assert step["reason"] == "reauth_successful"
    await hass.async_block_till_done(wait_background_tasks=True)

    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await async_wait_recording_done(hass)
    database = await get_instance(hass).async_add_executor_job(database_dump, hass)

    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            reprs += [repr(chain), str(chain)]
            chain = chain.__cause__ or chain.__context__

    sources = {
        "logs": formatted(debug_everywhere),
        "diagnostics": repr(diagnostics),
        "database": database,
        "reprs": "\n".join(reprs),
        "urls": "\n".join(r.path_qs for r in emulator.requests),
    }
    transient = emulator.issued_tokens
    assert len(transient) >= 5
    assert set(tokens_returned) <= set(transient)
    assert "state_changed" in sources["logs"]  # the bus really logged at DEBUG
    assert SENSOR in sources["database"]  # the sensor really was recorded
    for name, text in sources.items():
        for secret in [*owner_tokens, *transient]:
            assert secret not in text, f"a token leaked into {name}"


async def test_shown_token_stays_out_of_the_database(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: PlexApiConfigEntry,
    frozen_time: FrozenDateTimeFactory,
    debug_everywhere: list[logging.LogRecord],
) -> None:
    """Opted in, the live attribute holds the token; the recorder never gets it.

    Home Assistant's own DEBUG dumps of each state change (the event bus's and
    the recorder's) print attributes, so with the option on those lines are the
    one place a log shows the token: the reason the option is off by default.
    """
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_SHOW_TOKEN: True}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    emulator.restart()
    await poll(hass, frozen_time)
    await async_wait_recording_done(hass)

    token = hass.states.get(SENSOR).attributes["token"]
    assert token == emulator.issued_tokens[-1]
    database = await get_instance(hass).async_add_executor_job(database_dump, hass)
    assert "token_issued" in database  # the sensors really were recorded
    for secret in [emulator.owner_token, *emulator.issued_tokens]:
        assert secret not in database
        leaking = [r for r in debug_everywhere if secret in FORMATTER.format(r)]
        assert all(
            r.name.startswith("homeassistant.")
            and r.levelno == logging.DEBUG
            and any(
                f"<Event {event}[L]: entity_id={SENSOR}," in r.getMessage()
                for event in ("state_changed", "state_reported")
            )
            for r in leaking
        )
    assert any(token in FORMATTER.format(r) for r in debug_everywhere)


async def test_token_event_stays_out_of_the_database(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    config_entry: PlexApiConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """The token event is recorded (its type and times), never a token."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    emulator.restart()
    await poll(hass, frozen_time)
    await call_action(hass, force_new=True)
    await async_wait_recording_done(hass)

    database = await get_instance(hass).async_add_executor_job(database_dump, hass)
    assert "earlier_tokens_dead" in database  # the event really was recorded
    for secret in [emulator.owner_token, *emulator.issued_tokens]:
        assert secret not in database
