"""Home Assistant's side of the token lifecycle: it carries out what the machine asks.

The decisions are in plex/lifecycle.py (no I/O, time as an input); this
module makes the requests a `Plan` lists, runs socket sessions, keeps the
timers, raises repairs, writes log lines and makes the action wait.

Trust boundary: no token goes to the address unless `/identity` named the
entry's server since the last moment the address could have changed hands
(the socket ended, a request failed, a new address); an open socket, opened
right after such a proof, keeps proving it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ROTATION_HOURS,
    DEFAULT_ROTATION_HOURS,
    DOMAIN,
    LOGGER,
    RESTART_WAIT,
    UPDATE_INTERVAL,
)
from .plex import (
    Connect,
    Lifecycle,
    Link,
    Log,
    Outcome,
    Phase,
    Plan,
    PlexAuthenticationError,
    PlexClient,
    PlexError,
    Repair,
    Serve,
    ServerInfo,
    SessionEnd,
    Signal,
    TokenReason,
    TransientToken,
    Update,
    listen,
    outcome_of,
)
from .plex.updates import Done, run_plan
from .repairs import async_repair
from .texts import error_key

type PlexApiConfigEntry = ConfigEntry[PlexApiCoordinator]

_SHOWN: frozenset[Phase] = frozenset({Phase.VERIFIED, Phase.DOUBT})


@dataclass(frozen=True, slots=True)
class PlexApiData:
    """What the entities show: the server, its token, when it was last confirmed."""

    server: ServerInfo
    token: TransientToken
    checked_at: datetime
    reason: TokenReason = TokenReason.SETUP


class PlexApiCoordinator(DataUpdateCoordinator[PlexApiData]):
    """Keeps one working transient token per Plex server, by its lifecycle."""

    config_entry: PlexApiConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PlexApiConfigEntry,
        client: PlexClient,
        *,
        first_reason: TokenReason = TokenReason.SETUP,
    ) -> None:
        """Every 5 minutes until the socket is up; the machine decides after."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=UPDATE_INTERVAL,
        )
        self.client = client
        self.lifecycle = Lifecycle(first_reason=first_reason)
        self._settled = asyncio.Event()  # the phase is not DOUBT or AWAY
        self._settled.set()
        self._refresh_task: asyncio.Task[None] | None = None
        self._again = False  # one more update after the one in flight
        self._socket_timer: asyncio.TimerHandle | None = None
        self._update_timer: asyncio.TimerHandle | None = None
        self._socket_task: asyncio.Task[None] | None = None
        self._socket_token = ""  # the token the current session opened with
        self._started = False
        self._connect_after = 0.0  # the first token asks for a session at once

    def __repr__(self) -> str:
        """Name the entry only; the data holds a token."""
        return f"PlexApiCoordinator(entry_id={self.config_entry.entry_id!r})"

    @property
    def rotation_age(self) -> timedelta:
        """Age at which a token is replaced, so a handed-out one has time left."""
        hours = self.config_entry.options.get(
            CONF_ROTATION_HOURS, DEFAULT_ROTATION_HOURS
        )
        return timedelta(hours=hours)

    @property
    def machine_identifier(self) -> str:
        """The entry's server: the only one that may get a token of ours."""
        return str(self.config_entry.unique_id)

    @property
    def live(self) -> bool:
        """Whether the notification socket is up (restarts noticed in seconds)."""
        return self.lifecycle.link is Link.UP

    @property
    def token_known(self) -> bool:
        """Whether the entities may show the token (not while the server is away)."""
        return self.lifecycle.phase in _SHOWN

    @callback
    def async_start(self) -> None:
        """The entities are there: the socket may open now."""
        self._started = True
        self._schedule_socket(self._connect_after)

    @override
    async def async_shutdown(self) -> None:
        """Unloading (or Home Assistant stopping): end every wait and the socket."""
        self.lifecycle.stop()
        self._settled.set()
        for timer in (self._socket_timer, self._update_timer):
            if timer is not None:
                timer.cancel()
        if self._socket_task is not None:
            self._socket_task.cancel()
        await super().async_shutdown()

    # -- the action --------------------------------------------------------

    async def async_get_token(
        self, *, force_new: bool = False, min_valid_for: timedelta | None = None
    ) -> PlexApiData:
        """Return a token the server accepts now, as the machine's `serve` says.

        Waits (shared with every caller) while the server is in doubt or away,
        for RESTART_WAIT at most; raises a translated HomeAssistantError.
        """
        machine = self.lifecycle
        if force_new:
            machine.retire(self.data.token.token)
        deadline = asyncio.get_running_loop().time() + RESTART_WAIT
        updated = False
        while True:
            data, now = self.data, dt_util.utcnow()
            if (
                min_valid_for is not None
                and data.token.expires_at - now < min_valid_for
            ):
                machine.retire(data.token.token)  # too short-lived for this caller
            serve = machine.serve(
                now, self.rotation_age, data.token.token, updated=updated
            )
            if serve is Serve.HAND_OUT:
                return data
            if serve is Serve.FAIL:
                raise self._error(machine.error)
            if serve is Serve.WAIT:
                await self._async_wait_for_server(deadline)
            else:
                await self._async_shared_refresh()
                updated = True

    async def _async_wait_for_server(self, deadline: float) -> None:
        """Wait until the phase settles (the server verified, or failing)."""
        try:
            async with asyncio.timeout_at(deadline):
                await self._settled.wait()
        except TimeoutError:
            raise self._error("restarting") from None

    async def _async_shared_refresh(self) -> None:
        """Run (or join) one update, in a task of the entry's own.

        Callers wait on it shielded: one that gives up does not cancel the
        request the others wait for, while unloading the entry cancels it.
        """
        task = self._shared_refresh_task()
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                raise self._error("reloading") from None
            raise

    def _shared_refresh_task(self, *, again: bool = False) -> asyncio.Task[None]:
        """The updates in flight, or new ones: ours never run two at a time.

        `again`: one more after the one running (it began before a socket
        ended, so it proves nothing about what came after).
        """
        task = self._refresh_task
        if task is None or task.done():
            task = self._refresh_task = self.config_entry.async_create_background_task(
                self.hass, self._async_refresh_rounds(), f"{DOMAIN} refresh"
            )
        else:
            self._again = self._again or again
        return task

    async def _async_refresh_rounds(self) -> None:
        """The coordinator's refresh, once more while one was asked meanwhile."""
        self._again = True
        while self._again:
            self._again = False
            await self.async_refresh()

    def _error(self, key: str) -> HomeAssistantError:
        """A translated error for the action, naming the server's address."""
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={"url": str(self.client.base_url.origin())},
        )

    # -- updates -----------------------------------------------------------

    @override
    async def _async_update_data(self) -> PlexApiData:
        """Make the requests the machine plans, and tell it how they ended."""
        plan = self.lifecycle.plan(dt_util.utcnow(), self.rotation_age)
        current = None if self.data is None else self.data.token.token
        try:
            done = await run_plan(self.client, plan, self.machine_identifier, current)
        except PlexAuthenticationError as err:
            self._updated(plan, Outcome.OWNER_REFUSED, "auth_failed")
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            ) from err
        except PlexError as err:
            outcome, key = outcome_of(err), error_key(err)
            self._updated(plan, outcome, key)
            if outcome is Outcome.AWAY and self.data is not None:
                # Restarting, most likely: the entities say so, and the
                # lifecycle logs it (INFO), not the base (ERROR).
                return self.data
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders={"url": str(self.client.base_url.origin())},
            ) from err
        data = self._data(done)
        self._updated(plan, done.outcome)
        return data

    def _data(self, done: Done) -> PlexApiData:
        """What the entities show after an update; the lifecycle told of it."""
        if done.refused:
            LOGGER.info(
                "%s no longer accepts the transient token; a new one", self.name
            )
        if done.checks_skipped is not None:
            self.lifecycle.probed(skipped=done.checks_skipped)
        self._async_update_device(done.server)
        now = dt_util.utcnow()
        if done.token is None or done.reason is None:
            return PlexApiData(done.server, self.data.token, now, self.data.reason)
        self.lifecycle.token_taken(done.token.issued_at)
        LOGGER.debug("%s issued a new transient token (%s)", self.name, done.reason)
        return PlexApiData(done.server, done.token, now, done.reason)

    def _updated(self, plan: Plan, outcome: Outcome, error: str = "") -> None:
        """Tell the machine how an update ended, then do what it asks."""
        now = dt_util.utcnow()
        self.lifecycle.updated(
            outcome, now, epoch=plan.epoch, precaution=plan.precaution, error=error
        )
        self._carry_out()

    # -- the socket --------------------------------------------------------

    def _schedule_socket(self, delay: float) -> None:
        """The link's next try in `delay` seconds (one timer at a time)."""
        if not self._started:
            self._connect_after = delay
            return
        # One timer at a time: a Connect comes only from a link with none.
        if delay <= 0:
            self._socket_due()
            return
        self._socket_timer = self.hass.loop.call_later(delay, self._socket_due)

    @callback
    def _socket_due(self) -> None:
        """The timer fired: a session, if the machine wants one now."""
        self._socket_timer = None
        if not self.lifecycle.socket_due():
            return

        async def prove() -> str:
            # `/identity` right before the upgrade; the entry's own token only
            # to a server proven so, and only where the socket refused ours.
            # (The token is read here: an update may be storing a new one.)
            await self.client.verify(self.machine_identifier)
            token = self._socket_token = self.data.token.token
            if self.lifecycle.socket_token_is_owner(token):
                return str(self.config_entry.data[CONF_TOKEN])
            return token

        self._socket_task = self.config_entry.async_create_background_task(
            self.hass,
            listen(prove, self.client.notifications, self._socket_report),
            f"{DOMAIN} notifications",
        )

    @callback
    def _socket_report(self, report: Signal | SessionEnd) -> None:
        """What the session told: into the machine, then do what it asks."""
        now = dt_util.utcnow()
        if report is Signal.OPENED:
            self.lifecycle.opened()
        elif report is Signal.ALIVE:
            self.lifecycle.alive(now)
        else:
            LOGGER.debug("%s: notification socket ended: %s", self.name, report.value)
            self.lifecycle.ended(report, now, self._socket_token)
        self._carry_out()

    # -- carrying out ------------------------------------------------------

    def _carry_out(self) -> None:
        """The machine's outputs, in order; then the timers and the entities."""
        for output in self.lifecycle.take_outputs():
            match output:
                case Log(level=level, text=text):
                    line = text.format(name=self.name)
                    LOGGER.log(
                        logging.getLevelNamesMapping()[level.upper()], "%s", line
                    )
                case Repair(issue=issue, on=on):
                    url = str(self.client.base_url.origin())
                    async_repair(self.hass, self.config_entry, issue, on=on, url=url)
                case Connect(delay=delay):
                    self._schedule_socket(delay)
                case Update(delay=delay) if delay > 0:
                    self._update_timer = self.hass.loop.call_later(
                        delay, lambda: self._shared_refresh_task(again=True)
                    )
                case _:  # Update now
                    self._shared_refresh_task(again=True)
        self.update_interval = self.lifecycle.next_check(dt_util.utcnow())
        if self.lifecycle.phase in (Phase.DOUBT, Phase.AWAY):
            self._settled.clear()
        else:
            self._settled.set()
        if self.data is not None:
            self.async_update_listeners()

    def _async_update_device(self, server: ServerInfo) -> None:
        """Keep the device's name and version in step with the server (Plex update)."""
        if self.data is not None and server == self.data.server:
            return
        registry = dr.async_get(self.hass)
        device = registry.async_get_device_by_identifier(
            (DOMAIN, self.machine_identifier), self.config_entry.entry_id
        )
        if device is not None:
            registry.async_update_device(
                device.id, name=server.friendly_name, sw_version=server.version
            )
