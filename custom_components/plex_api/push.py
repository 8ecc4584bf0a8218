"""The notification socket's lifecycle: a Plex restart noticed within seconds.

While the socket is open the server has not restarted. When it closes, every
token handed out is suspect until the server is verified again; reconnecting
goes through the coordinator's own refresh, so the sensor and the log tell the
outage as they tell any other.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.util import dt as dt_util

from .const import (
    DOMAIN,
    HEARTBEAT,
    LOGGER,
    LONG_OUTAGE,
    LONG_OUTAGE_DELAY,
    MAX_SHORT_SESSIONS,
    RECONNECT_DELAYS,
    SHORT_SESSION,
    UNCHECKED_PROBE,
)
from .plex import (
    CLOSED_BY_SERVER,
    PlexAuthenticationError,
    PlexError,
    PlexNotifications,
    PlexStatusError,
)
from .repairs import async_checks_skipped

if TYPE_CHECKING:
    from .coordinator import PlexApiCoordinator


class PushState(StrEnum):
    """Where the notification socket stands (shown in diagnostics)."""

    STARTING = "starting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    REFUSED = "refused"  # polling every 5 minutes instead
    STOPPED = "stopped"  # the owner token was refused: reauthentication


class Ended(StrEnum):
    """How a socket session ended, which decides what comes next."""

    BY_SERVER = "closed by the server"  # a shutdown: a restart is likely
    LOST = "lost"  # a drop, a missed heartbeat: the server may be fine
    UNREACHABLE = "unreachable"
    TOKEN_REFUSED = "token refused"
    REFUSED = "the server or a proxy refused the WebSocket"
    UNSTABLE = "the notification socket kept dropping within minutes"


class PushListener:
    """Keeps the notification socket open for one entry, in the entry's task."""

    def __init__(self, coordinator: PlexApiCoordinator) -> None:
        """Nothing runs until start()."""
        self._coordinator = coordinator
        self.state = PushState.STARTING
        self._short_drops = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the socket in a background task that unloading cancels.

        Called again (a new address or token), it starts over: the old socket
        is closed with its task.
        """
        if self._task is not None:
            self._task.cancel()
        self._short_drops = 0
        entry = self._coordinator.config_entry
        self._task = entry.async_create_background_task(
            self._coordinator.hass, self._async_run(), f"{DOMAIN} notifications"
        )

    async def _async_run(self) -> None:
        """Session after session, recovering in between, until refused."""
        while True:
            # No token goes to an address before its server is verified.
            if (
                not self._coordinator.last_update_success
                and await self._async_recover(Ended.LOST) is None
            ):
                self.state = PushState.STOPPED
                return
            token = self._current_token()
            opened = dt_util.utcnow()
            ended = await self._async_session(token)
            if ended is Ended.REFUSED:
                await self._async_refused(ended.value)
                return
            if (outage := await self._async_recover(ended)) is None:
                self.state = PushState.STOPPED
                return
            if self._unstable(ended, dt_util.utcnow() - opened, outage):
                await self._async_refused(Ended.UNSTABLE.value)
                return
            if ended is Ended.TOKEN_REFUSED and self._current_token() == token:
                # `/` accepts the token the socket refused: the socket will not.
                await self._async_refused(
                    "the notification socket refused a valid token"
                )
                return

    async def _async_session(self, token: str) -> Ended:
        """Open the socket and read it until it ends; how it ended."""
        client = self._coordinator.client
        try:
            socket = await client.notifications(token, heartbeat=HEARTBEAT)
        except PlexAuthenticationError:
            return Ended.TOKEN_REFUSED
        except PlexStatusError as err:
            return Ended.REFUSED if 400 <= err.status < 500 else Ended.UNREACHABLE
        except PlexError:
            return Ended.UNREACHABLE
        async with socket:
            self.state = PushState.CONNECTED
            self._coordinator.async_socket_open()
            # Restarts are seen again, whatever the server's token checks.
            async_checks_skipped(
                self._coordinator.hass, self._coordinator.config_entry, skipped=False
            )
            LOGGER.debug("%s: notification socket open", self._coordinator.name)
            await _async_read(socket)
        LOGGER.debug(
            "%s: notification socket ended: %s", self._coordinator.name, socket.ended_by
        )
        if socket.ended_by == CLOSED_BY_SERVER:
            return Ended.BY_SERVER
        return Ended.LOST

    async def _async_recover(self, ended: Ended) -> bool | None:
        """Refresh until the server is verified again.

        A refresh while the server is away fails (the sensor goes unavailable,
        the log says so once) and is tried again, quickly at first. Returns
        whether the server was away meanwhile, or None if reauth is needed.
        """
        self.state = PushState.RECONNECTING
        self._coordinator.async_socket_lost(
            restart_likely=ended in (Ended.BY_SERVER, Ended.UNREACHABLE)
        )
        started = dt_util.utcnow()
        attempt = 0
        while True:
            await asyncio.sleep(_delay(attempt, dt_util.utcnow() - started))
            await self._coordinator.async_refresh()
            if self._coordinator.last_update_success:
                return attempt > 0
            if isinstance(self._coordinator.last_exception, ConfigEntryAuthFailed):
                return None
            attempt += 1

    def _unstable(self, ended: Ended, lasted: timedelta, outage: bool) -> bool:
        """Whether sockets keep dropping while the server stays reachable.

        A proxy's short idle timeout, or a server that ignores pings, drops
        every socket within minutes: after three such drops in a row, push is
        given up. Restarts (the server away, or closing the socket) do not count.
        """
        if ended is Ended.LOST and lasted < SHORT_SESSION and not outage:
            self._short_drops += 1
        else:
            self._short_drops = 0
        return self._short_drops >= MAX_SHORT_SESSIONS

    async def _async_refused(self, why: str) -> None:
        """No push here: poll every 5 minutes, and say so once.

        Polls cannot see a restart on a server that skips token checks for
        this address: one request with a made-up token tells, and a repair
        issue says so.
        """
        self.state = PushState.REFUSED
        LOGGER.warning(
            "%s: no notification socket (%s); checking the token every 5 minutes "
            "instead, so a Plex restart is noticed within 5 minutes",
            self._coordinator.name,
            why,
        )
        self._coordinator.async_push_refused()
        try:
            accepted = await self._coordinator.client.check_token(UNCHECKED_PROBE)
        except PlexError:
            return  # the server is away: the next check will tell
        async_checks_skipped(
            self._coordinator.hass,
            self._coordinator.config_entry,
            skipped=accepted is not None,
        )

    def _current_token(self) -> str:
        """The token the coordinator holds now."""
        return self._coordinator.data.token.token


async def _async_read(socket: PlexNotifications) -> None:
    """Read notifications until the socket ends; their content is not needed."""
    async for message in socket:
        LOGGER.debug("Plex notification: %s", message.get("type"))


def _delay(attempt: int, outage: timedelta) -> float:
    """Seconds before the next attempt: quick at first, then every 30 s."""
    if outage >= LONG_OUTAGE:
        return LONG_OUTAGE_DELAY
    return RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
