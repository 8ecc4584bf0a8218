"""The transient-token lifecycle: check it, replace it when dead, due or retired."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import override

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .clients import async_create_client
from .const import (
    CONF_ROTATION_HOURS,
    DEFAULT_ROTATION_HOURS,
    DOMAIN,
    LOGGER,
    MAX_CHECK_AGE,
    MAX_PRECAUTIONARY_TOKENS_PER_HOUR,
    PUSH_UPDATE_INTERVAL,
    UPDATE_INTERVAL,
)
from .plex import (
    PlexAuthenticationError,
    PlexClient,
    PlexConnectionError,
    PlexError,
    PlexTimeoutError,
    PlexWrongServerError,
    ServerInfo,
    TransientToken,
)
from .push import PushListener
from .repairs import async_right_server, async_wrong_server
from .texts import error_key

type PlexApiConfigEntry = ConfigEntry[PlexApiCoordinator]


@dataclass(frozen=True, slots=True)
class PlexApiData:
    """What the coordinator knows: the server, its token, when that was checked."""

    server: ServerInfo
    token: TransientToken
    checked_at: datetime


class Doubt(IntEnum):
    """Why the current token may not be handed out before the server is verified."""

    NONE = 0
    DROPPED = 1  # the socket dropped: verify the server and check the token
    RESTART = 2  # the server was away or closed the socket: take a new token


class PlexApiCoordinator(DataUpdateCoordinator[PlexApiData]):
    """Keeps one working transient token per Plex server.

    Every update goes through the coordinator's own refresh, which runs one at a
    time: the timer's, the notification socket's, and the action's, which shares
    one refresh task between its callers (a caller that gives up does not
    cancel it; unloading does).
    """

    config_entry: PlexApiConfigEntry

    def __init__(
        self, hass: HomeAssistant, entry: PlexApiConfigEntry, client: PlexClient
    ) -> None:
        """Poll at a fixed, modest interval until the socket is up."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=UPDATE_INTERVAL,
            always_update=False,
        )
        self.client = client
        # What the client was built from: a change is applied in place.
        self._connection = dict(entry.data)
        self.push = PushListener(self)
        # A token that must not be handed out again (force_new asked for another).
        self._retired: TransientToken | None = None
        self._doubt = Doubt.NONE
        self._precautions: list[datetime] = []
        self._refresh_task: asyncio.Task[None] | None = None

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
        """The entry's server: the only one that may get the owner token."""
        return str(self.config_entry.unique_id)

    async def async_get_token(self, *, force_new: bool = False) -> PlexApiData:
        """Return a token that works now, for the action.

        A token last checked over a minute ago is checked first; one due for
        rotation, retired by `force_new`, or in doubt after the socket closed
        is replaced or verified. Raises a translated HomeAssistantError when no
        working token can be had.
        """
        if force_new:
            self._retired = self.data.token
        while (data := self._usable()) is None:
            await self._async_shared_refresh()
        return data

    @callback
    def async_socket_open(self) -> None:
        """The socket is up: a restart would close it, so poll only rarely."""
        self.update_interval = PUSH_UPDATE_INTERVAL

    @callback
    def async_socket_lost(self, *, restart_likely: bool) -> None:
        """The socket ended: hand nothing out until the server is verified."""
        self._doubt = max(
            self._doubt, Doubt.RESTART if restart_likely else Doubt.DROPPED
        )

    @callback
    def async_push_refused(self) -> None:
        """No socket here: every restart must be found by the 5-minute check."""
        self.update_interval = UPDATE_INTERVAL

    async def async_apply_entry(self) -> None:
        """The entry changed (reconfigure, reauth, options): apply it in place.

        A new address or owner token gets a new client; the token in hand is
        kept if the (same) server still accepts it. Options only re-render.
        """
        if self.config_entry.data == self._connection:
            self.async_update_listeners()
            return
        self._connection = dict(self.config_entry.data)
        self.client = await async_create_client(self.hass, self._connection)
        self._doubt = max(self._doubt, Doubt.DROPPED)
        await self.async_refresh()  # the server verified before the socket opens
        self.push.start()

    @override
    async def _async_update_data(self) -> PlexApiData:
        """Check the token (one request); replace it when dead, due or retired."""
        try:
            data = await self._async_check_or_replace()
        except PlexAuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            ) from err
        except PlexError as err:
            if isinstance(err, PlexConnectionError | PlexTimeoutError):
                # Away for a while: it may come back restarted, tokens gone.
                self._doubt = Doubt.RESTART
            url = str(self.client.base_url.origin())
            if isinstance(err, PlexWrongServerError):
                async_wrong_server(self.hass, self.config_entry, url)
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key=error_key(err),
                translation_placeholders={"url": url},
            ) from err
        self._doubt = Doubt.NONE
        async_right_server(self.hass, self.config_entry)
        return data

    async def _async_check_or_replace(self) -> PlexApiData:
        """Whatever the current token needs, in as few requests as possible."""
        current = self.data
        if current is None or self._must_replace(current.token):
            return await self._async_new_token()
        if self._doubt is not Doubt.NONE:
            identity = await self.client.identity()
            _expect_server(identity.machine_identifier, self.machine_identifier)
            if self._doubt is Doubt.RESTART and self._may_take_precaution():
                LOGGER.debug("%s may have restarted: a new token", self.name)
                return await self._async_new_token()
        server = await self.client.check_token(current.token.token)
        if server is None:
            LOGGER.info(
                "%s no longer accepts the transient token (restarted?); "
                "getting a new one",
                self.name,
            )
            return await self._async_new_token()
        _expect_server(server.machine_identifier, self.machine_identifier)
        self._async_update_device(server)
        return PlexApiData(server, current.token, dt_util.utcnow())

    async def _async_new_token(self) -> PlexApiData:
        """A new token, from the entry's server only (identity first: 3 requests)."""
        server, token = await self.client.verified_transient_token(
            self.machine_identifier
        )
        self._retired = None
        self._async_update_device(server)
        LOGGER.debug("%s issued a new transient token", self.name)
        return PlexApiData(server, token, dt_util.utcnow())

    def _may_take_precaution(self) -> bool:
        """Whether a precautionary new token fits the hourly cap; counts it."""
        now = dt_util.utcnow()
        self._precautions = [
            at for at in self._precautions if now - at < timedelta(hours=1)
        ]
        if len(self._precautions) >= MAX_PRECAUTIONARY_TOKENS_PER_HOUR:
            return False
        self._precautions.append(now)
        return True

    def _usable(self) -> PlexApiData | None:
        """The current data if it may be handed out as it is, else None."""
        data = self.data
        if (
            not self.last_update_success
            or self._doubt is not Doubt.NONE
            or self._must_replace(data.token)
            or dt_util.utcnow() - data.checked_at > MAX_CHECK_AGE
        ):
            return None
        return data

    def _must_replace(self, token: TransientToken) -> bool:
        """Whether the token is due for rotation or retired by force_new."""
        return (
            token is self._retired
            or dt_util.utcnow() - token.issued_at >= self.rotation_age
        )

    async def _async_shared_refresh(self) -> None:
        """Run (or join) the action's refresh, in a task of the entry's own.

        Callers wait on it shielded: one that gives up does not cancel the
        request the others wait for, while unloading the entry cancels it.
        """
        if any(self.config_entry.async_get_active_flows(self.hass, {SOURCE_REAUTH})):
            # Plex refused the owner token; asking again would only resend it.
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="auth_failed"
            )
        task = self._refresh_task
        if task is None or task.done():
            task = self._refresh_task = self.config_entry.async_create_background_task(
                self.hass, self.async_refresh(), f"{DOMAIN} refresh"
            )
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                raise HomeAssistantError(
                    translation_domain=DOMAIN, translation_key="reloading"
                ) from None
            raise
        if not self.last_update_success:
            err = self.last_exception
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=getattr(err, "translation_key", None) or "unknown",
                translation_placeholders=getattr(err, "translation_placeholders", None),
            ) from err

    def _async_update_device(self, server: ServerInfo) -> None:
        """Keep the device's name and version in step with the server (Plex update)."""
        if self.data is not None and server == self.data.server:
            return
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.config_entry.entry_id,
            identifiers={(DOMAIN, self.machine_identifier)},
            name=server.friendly_name,
            sw_version=server.version,
        )


def _expect_server(found: str, machine_identifier: str) -> None:
    """Refuse an answer from another server than the entry's."""
    if found != machine_identifier:
        raise PlexWrongServerError(found)
