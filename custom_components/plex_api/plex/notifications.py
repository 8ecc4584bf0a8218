"""The notification socket: what the server says, and above all that it still runs.

A Plex restart closes the socket, whatever the server's auth settings: that is the
restart signal a token check cannot give on a server that accepts any token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
from typing import Final, Self, cast

import aiohttp

from .models import Container

NOTIFICATIONS_PATH: Final = "/:/websockets/notifications"
NOTIFICATION_CONTAINER: Final = "NotificationContainer"
CLOSED_BY_SERVER: Final = "closed by the server"
CONNECTION_LOST: Final = "connection lost"
NO_HEARTBEAT: Final = "no answer to the heartbeat"


class PlexNotifications:
    """An open notification socket: iterate it for NotificationContainers.

    The iteration ends when the socket does: closed by the server (a close
    frame: it is shutting down), a missed heartbeat, or a lost connection;
    `ended_by` tells which. The heartbeat is ours: after `heartbeat` seconds
    without a frame a ping goes out, and a socket silent for half that again
    is given up, so one that died without a close frame is noticed.
    """

    def __init__(
        self, socket: aiohttp.ClientWebSocketResponse, heartbeat: float
    ) -> None:
        """Wrap a connected aiohttp socket (opened without aiohttp's autoping)."""
        self._socket = socket
        self._heartbeat = heartbeat
        self.ended_by = ""

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
        """Yield each notification; other frames are skipped, not fatal."""
        while (message := await self._receive()) is not None:
            match message.type:
                case aiohttp.WSMsgType.TEXT:
                    if (container := _container(message.data)) is not None:
                        yield container
                case aiohttp.WSMsgType.PING:
                    await self._socket.pong(message.data)
                case aiohttp.WSMsgType.CLOSE:
                    self.ended_by = CLOSED_BY_SERVER
                    return
                case (
                    aiohttp.WSMsgType.ERROR
                    | aiohttp.WSMsgType.CLOSED
                    | aiohttp.WSMsgType.CLOSING
                ):
                    self.ended_by = CONNECTION_LOST
                    return

    async def _receive(self) -> aiohttp.WSMessage | None:
        """The next frame; None (and the socket closed) when the heartbeat fails."""
        try:
            return await self._socket.receive(timeout=self._heartbeat)
        except TimeoutError:
            pass
        try:
            await self._socket.ping()
            return await self._socket.receive(timeout=self._heartbeat / 2)
        except TimeoutError, aiohttp.ClientError, ConnectionError:
            self.ended_by = NO_HEARTBEAT
            await self._socket.close()
            return None


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
