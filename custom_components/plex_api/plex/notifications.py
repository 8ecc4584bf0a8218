"""The notification socket's life: connect, heartbeat, tell how it ended, back off.

A Plex restart ends the socket, whatever the server's auth settings: that is the
restart signal a token check cannot give on a server that accepts any token. A
real PMS that stops drops its sockets without a close frame (python-plexapi
#836), as a proxy's idle timeout or a Wi-Fi blip does, and a half-open socket
sends nothing at all: only the heartbeat notices that. Proxies that break
WebSockets answer the upgrade 400 or 502, pass it on as a plain 200, redirect,
or close at once (Tautulli-Issues #28, CrossWatch #40, PlexTraktSync #609).

`NotificationListener` owns the session loop; what a session's end means for
tokens is its owner's business, told through `NotificationOwner`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
import contextlib
from enum import StrEnum
import json
import logging
from typing import Any, Final, Protocol, Self, cast

import aiohttp

from .errors import PlexAuthenticationError, PlexError, PlexStatusError
from .models import Container

LOGGER: Final = logging.getLogger(__name__)

NOTIFICATIONS_PATH: Final = "/:/websockets/notifications"
NOTIFICATION_CONTAINER: Final = "NotificationContainer"
# Core's plexwebsocket pings after 15 quiet seconds and wants the pong within
# 7.5 s (Tautulli: 10 s and 5 s): a half-open socket is noticed within 22.5 s,
# and a ping every 15 s keeps a proxy's 30-second idle timeout from firing.
HEARTBEAT: Final = 15.0
PONG_SHARE: Final = 0.5  # of the heartbeat: 7.5 s
# Between sessions: quick at first (a restart is over in seconds), then slower.
QUICK_DELAYS: Final = (0.5, 1.0, 2.0, 5.0)
SLOW_DELAY: Final = 30.0
# A session that lasted this long was a working socket: the backoff starts over.
STABLE_SESSION: Final = 120.0
# This many failures of the proxy kind in a row: no push here for a while.
FAILURES_BEFORE_POLLING: Final = 5
# While polling, the socket is tried again now and then: never given up for good.
POLLING_RETRIES: Final = (900.0, 1800.0, 3600.0)
# The notification types PMS sends (python-plexapi's AlertListener, Tautulli's
# websocket handler, plexwebsocket): only these names reach the log.
KNOWN_TYPES: Final = frozenset(
    {
        "account",
        "activity",
        "backgroundProcessingQueue",
        "playing",
        "preference",
        "progress",
        "provider.content.change",
        "reachability",
        "status",
        "timeline",
        "transcodeSession.end",
        "transcodeSession.start",
        "transcodeSession.update",
        "update.statechange",
    }
)


class SessionEnd(StrEnum):
    """How one socket session ended; the owner decides what it means for tokens."""

    CLOSED = "closed by the server"  # a close frame: it is going away
    LOST = "lost"  # dropped without a close frame, or the heartbeat went unanswered
    UNREACHABLE = "unreachable"  # no connection, or the server was not verified
    TOKEN_REFUSED = "token refused"  # the upgrade answered 401 or 403
    UPGRADE_REFUSED = "upgrade refused"  # a 3xx or 4xx: no socket at this address
    PROXY = "broken upgrade"  # a 5xx, a 200 without upgrade, a bad handshake
    BROKEN = "upgrade dropped"  # no answer to the upgrade, or a broken TLS: a proxy
    CUT = "cut at once"  # upgraded, then dropped before anything came: a proxy
    FAILED = "unexpected error"  # a bug: logged, then treated as no push for a while


_PROXY_KIND: Final = frozenset(
    {
        SessionEnd.TOKEN_REFUSED,
        SessionEnd.UPGRADE_REFUSED,
        SessionEnd.PROXY,
        SessionEnd.BROKEN,
        SessionEnd.CUT,
        SessionEnd.FAILED,
    }
)
# The server answered the upgrade over HTTP: nothing says it restarted.
ANSWERED: Final = frozenset({SessionEnd.UPGRADE_REFUSED, SessionEnd.PROXY})


class ListenerState(StrEnum):
    """Where the socket stands (diagnostics, the live-updates sensor)."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    POLLING = "polling"  # no push for now: tried again in a while


class NotificationOwner(Protocol):
    """What the listener needs from its owner, and what it tells it."""

    def socket_ready(self) -> bool:
        """Whether the server is verified, so that a session may start."""

    async def socket_token(self) -> str:
        """The token to open the socket with, right after proving the server.

        Raises a PlexError when the server cannot be proven right now.
        """

    def socket_opened(self) -> None:
        """The socket is up: the server has not restarted since."""

    def socket_closed(self, end: SessionEnd, *, polling: bool) -> None:
        """A session ended (or never opened); `polling`: no push for a while."""


class PlexNotifications:
    """An open notification socket: iterate it for NotificationContainers.

    The iteration ends when the socket does; `ended_by` then says how. Our
    heartbeat pings after `heartbeat` quiet seconds and gives up when nothing
    comes back within `pong_timeout`; the server's pings are answered.
    """

    def __init__(
        self, socket: aiohttp.ClientWebSocketResponse, heartbeat: float = HEARTBEAT
    ) -> None:
        """Wrap a connected aiohttp socket (opened without aiohttp's autoping)."""
        self._socket = socket
        self._heartbeat = heartbeat
        self._pong_timeout = heartbeat * PONG_SHARE
        self.ended_by = SessionEnd.LOST
        # Called once, at the first sign that a server is really there: a
        # message, or the pong to our first ping (a 101 alone proves little).
        self.on_alive: Callable[[], None] | None = None

    def __repr__(self) -> str:
        """Say whether it is open; the URL and headers stay out."""
        return f"PlexNotifications(closed={self._socket.closed})"

    async def __aenter__(self) -> Self:
        """Use it in `async with`, so that it is always closed."""
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        """Close the socket."""
        await self.close()

    async def close(self) -> None:
        """Close the socket (a close frame if it is still open)."""
        await self._socket.close()

    async def __aiter__(self) -> AsyncIterator[Container]:
        """Yield each notification; other frames are skipped, not fatal.

        A ping goes out first: its pong proves at once that a server answers.
        If it cannot even be sent, the next receive tells that the socket ended.
        """
        with contextlib.suppress(aiohttp.ClientError, ConnectionError):
            await self._socket.ping()
        while (message := await self._receive()) is not None:
            match message.type:
                case aiohttp.WSMsgType.TEXT:
                    self._alive()
                    if (container := _container(message.data)) is not None:
                        yield container
                case aiohttp.WSMsgType.PONG:
                    self._alive()
                case aiohttp.WSMsgType.PING:
                    if not await self._pong(message.data):
                        return
                case aiohttp.WSMsgType.CLOSE:
                    self.ended_by = SessionEnd.CLOSED
                    return
                case (
                    aiohttp.WSMsgType.ERROR
                    | aiohttp.WSMsgType.CLOSED
                    | aiohttp.WSMsgType.CLOSING
                ):
                    return

    def _alive(self) -> None:
        """Tell, once, that the server behind the socket answers."""
        if (on_alive := self.on_alive) is not None:
            self.on_alive = None
            on_alive()

    async def _pong(self, data: bytes) -> bool:
        """Answer a server's ping; a transport already closing is a lost socket."""
        try:
            await self._socket.pong(data)
        except aiohttp.ClientError, ConnectionError:
            return False
        return True

    async def _receive(self) -> aiohttp.WSMessage | None:
        """The next frame; None (and the socket closed) when the heartbeat fails."""
        try:
            return await self._socket.receive(timeout=self._heartbeat)
        except TimeoutError:
            pass
        try:
            await self._socket.ping()
            return await self._socket.receive(timeout=self._pong_timeout)
        except TimeoutError, aiohttp.ClientError, ConnectionError:
            await self._socket.close()
            return None


class Backoff:
    """When to try the socket again, from how the sessions so far ended.

    Every session that ends before it was stable counts, whatever its ending,
    so nothing can make the listener reconnect in a loop. Failures of the proxy
    kind (or sockets lost quickly again and again) mean "no push here", and a
    refused upgrade (a 4xx or a redirect, which stays so) at once: the socket
    is then tried again after 15 minutes, backing off to hourly.
    """

    def __init__(self) -> None:
        """No session has ended yet."""
        self.unstable = 0  # sessions in a row that ended before they were stable
        self.failures = 0  # of those, the ones of the proxy kind (or lost)
        self.polling = False
        self._retries = 0

    def after(self, end: SessionEnd, lasted: float) -> float:
        """Record how a session ended; the seconds to wait before the next one."""
        if lasted >= STABLE_SESSION:
            self.unstable = self.failures = self._retries = 0
            self.polling = False
            return QUICK_DELAYS[0]
        self.unstable += 1
        if end is SessionEnd.UPGRADE_REFUSED:  # a 4xx or a redirect stays so
            self.failures = FAILURES_BEFORE_POLLING
        elif end in _PROXY_KIND or end is SessionEnd.LOST:
            self.failures += 1
        if self.polling:
            self._retries += 1
        elif self.failures >= FAILURES_BEFORE_POLLING:
            self.polling = True
        if self.polling:
            return POLLING_RETRIES[min(self._retries, len(POLLING_RETRIES) - 1)]
        if self.unstable <= len(QUICK_DELAYS):
            return QUICK_DELAYS[self.unstable - 1]
        return SLOW_DELAY


type Connect = Callable[[str], Awaitable[PlexNotifications]]
type Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


class NotificationListener:
    """Keeps the notification socket of one server open, session after session.

    Each session runs in a task of its own (`spawn` makes it, so its owner can
    cancel it); between sessions there is only a timer. A session starts once
    the owner says the server is verified (`socket_ready`, `owner_ready`); after
    it, the owner is told how it ended and whether push is off for a while.
    """

    def __init__(
        self, connect: Connect, owner: NotificationOwner, spawn: Spawn
    ) -> None:
        """`connect(token)` opens a socket (PlexClient.notifications)."""
        self._connect = connect
        self._owner = owner
        self._spawn = spawn
        self._loop = asyncio.get_running_loop()
        self.backoff = Backoff()
        self.state = ListenerState.CONNECTING
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._waiting = False  # due, but the owner has not verified the server
        self._failed_before = False

    def start(self) -> None:
        """Open the socket now, or as soon as the owner is ready."""
        self._due()

    def stop(self) -> None:
        """Close the socket and try no more (unloading)."""
        self._waiting = False
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()

    def owner_ready(self) -> None:
        """The owner verified the server: a session that was due may start."""
        if self._waiting:
            self._waiting = False
            self._begin()

    def _due(self) -> None:
        """Time for the next session, if the owner lets it start."""
        self._timer = None
        if not self._owner.socket_ready():
            self._waiting = True
            return
        self._begin()

    def _begin(self) -> None:
        """Run one session in a task of the owner's."""
        self._task = self._spawn(self._run_session())

    async def _run_session(self) -> None:
        """One session, then its report and the timer for the next one."""
        end, lasted = await self._guarded_session()
        delay = self.backoff.after(end, lasted)
        polling = self.backoff.polling
        self.state = ListenerState.POLLING if polling else ListenerState.RECONNECTING
        self._task = None
        # stop() cancels this task: past this point it was not called.
        self._timer = self._loop.call_later(delay, self._due)
        self._owner.socket_closed(end, polling=polling)

    async def _guarded_session(self) -> tuple[SessionEnd, float]:
        """One session; a bug in it is logged once and ends it, never the task."""
        try:
            return await self._session()
        except Exception:
            if not self._failed_before:
                LOGGER.warning("The notification socket failed unexpectedly")
                LOGGER.debug("The notification socket's failure", exc_info=True)
            self._failed_before = True
            return SessionEnd.FAILED, 0.0

    async def _session(self) -> tuple[SessionEnd, float]:
        """Open the socket, read it until it ends: how, and how long it was open."""
        try:
            token = await self._owner.socket_token()
        except PlexError:
            return SessionEnd.UNREACHABLE, 0.0
        socket = await self._upgrade(token)
        if isinstance(socket, SessionEnd):
            return socket, 0.0
        opened = self._loop.time()
        socket.on_alive = self._opened
        async with socket:
            await _read(socket)
            alive = socket.on_alive is None
            # Ended: no longer proving the host, even while the close runs.
            self.state = ListenerState.RECONNECTING
        lasted = self._loop.time() - opened
        if not alive and socket.ended_by is SessionEnd.LOST:
            return SessionEnd.CUT, lasted  # upgraded, then cut before anything came
        return socket.ended_by, lasted

    async def _upgrade(self, token: str) -> PlexNotifications | SessionEnd:
        """The open socket, or how the upgrade failed."""
        try:
            return await self._connect(token)
        except PlexAuthenticationError:
            return SessionEnd.TOKEN_REFUSED
        except PlexStatusError as err:
            if 300 <= err.status < 500:  # a redirect is a refused upgrade
                return SessionEnd.UPGRADE_REFUSED
            return SessionEnd.PROXY
        except PlexError:
            # The server answered /identity just now: the upgrade itself was
            # dropped, hung or broke TLS, as proxies do.
            return SessionEnd.BROKEN

    def _opened(self) -> None:
        """The socket works: tell the owner (once a server answered on it)."""
        self.state = ListenerState.CONNECTED
        self._owner.socket_opened()


async def _read(socket: PlexNotifications) -> None:
    """Read notifications until the socket ends; only their type is logged."""
    async for message in socket:
        LOGGER.debug("Plex notification: %s", shown_type(message.get("type")))


def shown_type(value: object) -> str:
    """A notification's type as the log may show it: a known name only.

    The text comes from the server, which could echo a token into it (a Plex
    token is a short word too) or forge log lines with a line break.
    """
    if isinstance(value, str) and value in KNOWN_TYPES:
        return value
    return "(unrecognised)"


def _container(text: str) -> Container | None:
    """The NotificationContainer of a JSON message, or None for anything else."""
    try:
        document = json.loads(text)
    except ValueError, RecursionError:
        return None
    if not isinstance(document, dict):
        return None
    container = document.get(NOTIFICATION_CONTAINER)
    return cast(Container, container) if isinstance(container, dict) else None
