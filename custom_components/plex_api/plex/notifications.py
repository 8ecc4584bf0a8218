"""The notification socket's session: connect, heartbeat, tell how it ended.

A Plex restart ends the socket, whatever the server's auth settings: that is the
restart signal a token check cannot give on a server that accepts any token. A
real PMS that stops drops its sockets without a close frame (python-plexapi
#836), as a proxy's idle timeout or a Wi-Fi blip does, and a half-open socket
sends nothing at all: only the heartbeat notices that. Proxies that break
WebSockets answer the upgrade 400 or 502, pass it on as a plain 200, redirect,
or close at once (Tautulli-Issues #28, CrossWatch #40, PlexTraktSync #609).

`listen` runs one session and tells its owner what happened through one
callback; what that means for tokens, and when to try again, is the owner's
state machine (lifecycle.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from enum import StrEnum
import json
import logging
from typing import Final, Self, cast

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


class Signal(StrEnum):
    """What a session tells before it ends (its end is a SessionEnd)."""

    OPENED = "opened"  # the upgrade succeeded (a 101): proof of little
    ALIVE = "alive"  # a message or a pong came: a server answers on it


type Report = Callable[[Signal | SessionEnd], None]
type Prove = Callable[[], Awaitable[str]]
type Connect = Callable[[str], Awaitable[PlexNotifications]]


async def listen(prove: Prove, connect: Connect, report: Report) -> None:
    """One session of the notification socket, told through `report`.

    `prove` asks `/identity` and gives the token to open the socket with;
    `connect(token)` upgrades (PlexClient.notifications). The session ends
    with exactly one SessionEnd reported, unless it is cancelled (unloading);
    when to try again is the caller's business (its state machine).
    """
    try:
        end = await _session(prove, connect, report)
    except Exception:
        LOGGER.warning("The notification socket failed unexpectedly")
        LOGGER.debug("The notification socket's failure", exc_info=True)
        end = SessionEnd.FAILED
    report(end)


async def _session(prove: Prove, connect: Connect, report: Report) -> SessionEnd:
    """Open the socket, read it until it ends: how it ended."""
    try:
        token = await prove()
    except PlexError:
        return SessionEnd.UNREACHABLE
    socket = await _upgrade(connect, token)
    if isinstance(socket, SessionEnd):
        return socket
    report(Signal.OPENED)
    socket.on_alive = lambda: report(Signal.ALIVE)
    async with socket:
        await _read(socket)
        alive = socket.on_alive is None
    if not alive and socket.ended_by is SessionEnd.LOST:
        return SessionEnd.CUT  # upgraded, then cut before anything came
    return socket.ended_by


async def _upgrade(connect: Connect, token: str) -> PlexNotifications | SessionEnd:
    """The open socket, or how the upgrade failed."""
    try:
        return await connect(token)
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
