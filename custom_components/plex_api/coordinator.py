"""The transient-token lifecycle: check each poll, replace when dead or due."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ROTATION_HOURS,
    DEFAULT_ROTATION_HOURS,
    DOMAIN,
    LOGGER,
    MAX_CHECK_AGE,
    UPDATE_INTERVAL,
)
from .plex import (
    PlexAuthenticationError,
    PlexClient,
    PlexError,
    ServerInfo,
    TransientToken,
)

type PlexApiConfigEntry = ConfigEntry[PlexApiCoordinator]


@dataclass(frozen=True, slots=True)
class PlexApiData:
    """What the coordinator knows: the server, its token, when that was checked."""

    server: ServerInfo
    token: TransientToken
    checked_at: datetime


class WrongServerError(PlexError):
    """The address now answers as another Plex server than the entry's."""

    def __init__(self, found: str) -> None:
        """Keep the machine identifier that answered."""
        super().__init__(f"Another Plex Media Server answers ({found})")
        self.found = found


class SharedCallCancelledError(PlexError):
    """The shared call was cancelled (the entry is unloading), not the caller."""


class SingleFlight[T]:
    """Run one call at a time; callers that arrive meanwhile share its outcome.

    The call runs in its own task, so a caller that gives up (cancelled) does not
    cancel the request the others are waiting for.
    """

    def __init__(
        self, start: Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]]
    ) -> None:
        """Take the function that starts the shared task (tied to the entry)."""
        self._start = start
        self._task: asyncio.Task[T] | None = None

    async def run(self, func: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Join the call in flight, or start `func` when none is."""
        if (task := self._task) is None:
            self._task = task = self._start(func())
            task.add_done_callback(self._done)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if task.cancelled() and caller is not None and not caller.cancelling():
                raise SharedCallCancelledError("The entry is unloading") from None
            raise

    def _done(self, _task: asyncio.Task[T]) -> None:
        """Let the next caller start a new call: this one is over."""
        self._task = None


class PlexApiCoordinator(DataUpdateCoordinator[PlexApiData]):
    """Keeps one working transient token per Plex server."""

    config_entry: PlexApiConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: PlexApiConfigEntry, client: PlexClient
    ) -> None:
        """Poll at a fixed, modest interval: one cheap request each time."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=UPDATE_INTERVAL,
        )
        self.client = client
        self._latest: PlexApiData | None = None
        self._check = SingleFlight[PlexApiData](self._start_task)
        self._replace = SingleFlight[PlexApiData](self._start_task)

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

    @override
    async def _async_update_data(self) -> PlexApiData:
        """Check the token (one request); replace it when dead or due."""
        try:
            return await self._check.run(self._check_or_replace)
        except PlexAuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            ) from err
        except WrongServerError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="wrong_server",
                translation_placeholders={
                    "host": str(self.client.base_url.origin()),
                    "found": err.found,
                },
            ) from err
        except PlexError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={"error": str(err)},
            ) from err

    async def async_get_token(self, *, force_new: bool = False) -> PlexApiData:
        """Return a token that works now, for the action; raises PlexError.

        A check older than MAX_CHECK_AGE is repeated first. Concurrent callers share
        one request, whether they ask for a check or for a new token.
        """
        data = self._latest
        if force_new:
            data = await self._replace.run(self._new_token)
        elif data is None or self._needs_check(data):
            data = await self._check.run(self._check_or_replace)
        if data is not self.data:
            self.async_set_updated_data(data)
        return data

    def _needs_check(self, data: PlexApiData) -> bool:
        """Whether the known token must be checked before it is handed out."""
        return (
            not self.last_update_success
            or dt_util.utcnow() - data.checked_at > MAX_CHECK_AGE
            or self._rotation_due(data.token)
        )

    async def _check_or_replace(self) -> PlexApiData:
        """Check the current token, or replace it when it is due or refused."""
        current = self._latest
        if current is None or self._rotation_due(current.token):
            return await self._replace.run(self._new_token)
        server = await self.client.check_token(current.token.token)
        if (latest := self._latest) is not current and latest is not None:
            # A forced new token arrived meanwhile: keep it, not the older one.
            return latest
        if server is None:
            LOGGER.info(
                "%s no longer accepts the transient token (restarted?); "
                "getting a new one",
                self.name,
            )
            return await self._replace.run(self._new_token)
        self._verify(server)
        if server != current.server:
            self._async_update_device(server)
        return self._keep(PlexApiData(server, current.token, dt_util.utcnow()))

    def _verify(self, server: ServerInfo) -> None:
        """Refuse a server that is not the entry's (an address now used by another)."""
        if server.machine_identifier != self.config_entry.unique_id:
            raise WrongServerError(server.machine_identifier)

    def _keep(self, data: PlexApiData) -> PlexApiData:
        """Remember the newest data at once, inside the shared call.

        Callers publish it when they resume; one that checked meanwhile, or a
        caller that gave up, must still see it.
        """
        self._latest = data
        return data

    def _async_update_device(self, server: ServerInfo) -> None:
        """Keep the device's name and version in step with the server (Plex update)."""
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.config_entry.entry_id,
            identifiers={(DOMAIN, server.machine_identifier)},
            name=server.friendly_name,
            sw_version=server.version,
        )

    async def _new_token(self) -> PlexApiData:
        """Get a new token; the server info comes along only on the first run."""
        token = await self.client.new_transient_token()
        if self._latest is not None:
            server = self._latest.server
        else:
            server = await self.client.server_info()
            self._verify(server)
        LOGGER.debug("%s issued a new transient token", self.name)
        return self._keep(PlexApiData(server, token, dt_util.utcnow()))

    def _rotation_due(self, token: TransientToken) -> bool:
        """Whether the token is old enough to be replaced."""
        return dt_util.utcnow() - token.issued_at >= self.rotation_age

    def _start_task(
        self, coro: Coroutine[Any, Any, PlexApiData]
    ) -> asyncio.Task[PlexApiData]:
        """Run a shared call as the entry's task, so unloading cancels it."""
        return self.config_entry.async_create_background_task(
            self.hass, coro, f"{DOMAIN} {self.config_entry.entry_id}", eager_start=True
        )
