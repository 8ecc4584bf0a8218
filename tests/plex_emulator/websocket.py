"""The notification WebSocket of PMS (`/:/websockets/notifications`).

Every Plex client keeps it open: its closing is the one restart signal that
works whatever the server's auth settings. Besides closing it like PMS does,
the hub can make sockets go silent (no pongs, no notifications, no close), as
a connection that died behind a broken NAT does.
"""

import asyncio
from collections.abc import Coroutine, Mapping
import contextlib
from dataclasses import dataclass, field
import json
from typing import Any
import uuid

from aiohttp import WSCloseCode, WSMsgType, web

NOTIFICATIONS_PATH = "/:/websockets/notifications"
GOING_AWAY = (WSCloseCode.GOING_AWAY, b"going away")
CLOSE_TIMEOUT = 2.0  # how long a close frame waits for the client's answer
STOP_GRACE = 0.25  # how long stop() lets close frames go before cutting sockets
_ENDED = frozenset({WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR})
PING_BURST = 20  # server pings a PING_BURST proxy sends before it hangs up
# A well-formed Sec-WebSocket-Accept that is no key's answer (base64 of 20 zeros).
WRONG_ACCEPT = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="


def sample_activity() -> dict[str, object]:
    """Return an activity update, the notification PMS sends most (library scans)."""
    activity_id = str(uuid.uuid4())
    activity = {
        "uuid": activity_id,
        "type": "library.update.section",
        "cancellable": False,
        "userID": 1,
        "title": "Scanning Movies",
        "subtitle": "Scanning",
        "progress": 50,
        "Context": {"librarySectionID": "1"},
    }
    notification = {"event": "updated", "uuid": activity_id, "Activity": activity}
    return {"type": "activity", "size": 1, "ActivityNotification": [notification]}


def notification_message(container: Mapping[str, object] | None) -> str:
    """Wrap a container in {"NotificationContainer": ...} unless it already is."""
    if container is None:
        container = sample_activity()
    if set(container) == {"NotificationContainer"}:
        return json.dumps(dict(container))
    return json.dumps({"NotificationContainer": dict(container)})


def _cut(request: web.Request) -> None:
    """Abort the connection: no close frame, no FIN handshake of the WebSocket."""
    if request.transport is not None:
        request.transport.abort()


async def upgrade_then_cut(request: web.Request, pings: int = 0) -> web.StreamResponse:
    """Answer a proper 101, send `pings` server pings, then cut the connection.

    The bytes are on the wire before the cut: asyncio writes at once to a
    socket whose buffer is empty, and these few frames never fill it.
    """
    ws = web.WebSocketResponse(autoping=False, autoclose=False)
    await ws.prepare(request)
    for number in range(pings):
        with contextlib.suppress(ConnectionError):
            await ws.ping(str(number).encode())
    _cut(request)
    return ws


async def upgrade_then_close(request: web.Request) -> web.StreamResponse:
    """Answer a proper 101, then close at once with 1001 (going away)."""
    ws = web.WebSocketResponse(autoping=False, timeout=CLOSE_TIMEOUT)
    await ws.prepare(request)
    await ws.close(code=WSCloseCode.GOING_AWAY)
    return ws


async def wrong_accept(request: web.Request) -> web.StreamResponse:
    """Answer 101 with a Sec-WebSocket-Accept that does not match the key."""
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": WRONG_ACCEPT,
    }
    response = web.StreamResponse(status=101, headers=headers)
    await response.prepare(request)
    await response.write_eof()
    return response


@dataclass(eq=False)
class _Socket:
    """One open notification socket and what wakes its handler."""

    ws: web.WebSocketResponse
    request: web.Request
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def drop(self) -> None:
        """Cut the connection without a close frame, as a dying process does."""
        self.wake.set()
        _cut(self.request)


class NotificationHub:
    """The open notification sockets, their timers and their switches."""

    def __init__(self, interval: float | None = 30.0) -> None:
        """Nothing is open until a client upgrades."""
        self._sockets: set[_Socket] = set()
        self._tickers: set[asyncio.Task[None]] = set()
        self._closers: set[asyncio.Task[None]] = set()
        self._silent = False
        self._interval = interval
        self._interval_changed = asyncio.Event()
        self._count_changed = asyncio.Event()

    @property
    def silent(self) -> bool:
        """Return whether sockets ignore pings and send nothing."""
        return self._silent

    def silence(self, silent: bool) -> None:
        """Make every socket, open or future, go quiet without closing, or resume."""
        self._silent = silent
        if not silent:
            for socket in self._sockets:
                socket.wake.set()  # answer close frames that came meanwhile

    @property
    def interval(self) -> float | None:
        """Return the seconds between two periodic notifications (0/None: never)."""
        return self._interval

    @interval.setter
    def interval(self, value: float | None) -> None:
        """Change the period; sleeping timers restart with the new one at once."""
        self._interval = value
        self._interval_changed = _fire(self._interval_changed)

    @property
    def open_count(self) -> int:
        """Return how many sockets are open now."""
        return len(self._sockets)

    async def wait_count(self, count: int) -> None:
        """Wait until exactly `count` sockets are open; bound it with a timeout."""
        while len(self._sockets) != count:
            await self._count_changed.wait()

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Upgrade an authorised request and keep the socket until it ends."""
        ws = web.WebSocketResponse(
            autoping=False, autoclose=False, timeout=CLOSE_TIMEOUT
        )
        await ws.prepare(request)
        socket = _Socket(ws, request)
        self._sockets.add(socket)
        self._count_changed = _fire(self._count_changed)
        ticker = self._spawn(self._tick(socket), self._tickers)
        try:
            await self._read(socket)
        finally:
            ticker.cancel()
            self._sockets.discard(socket)
            self._count_changed = _fire(self._count_changed)
        return ws

    async def _read(self, socket: _Socket) -> None:
        """Answer pings and close frames; PMS ignores anything else clients send."""
        ws = socket.ws
        while True:
            message = await ws.receive()
            if message.type is WSMsgType.PING and not self._silent:
                with contextlib.suppress(ConnectionError):
                    await ws.pong(message.data)
            elif message.type is WSMsgType.CLOSE:
                await self._answer_close(socket)
                return
            elif message.type in _ENDED:
                return

    async def _answer_close(self, socket: _Socket) -> None:
        """Echo a client's close frame, once the socket is no longer silent."""
        while self._silent and not socket.ws.closed:
            socket.wake.clear()
            await socket.wake.wait()
        if not socket.ws.closed:
            await socket.ws.close(drain=False)

    async def _tick(self, socket: _Socket) -> None:
        """Send the occasional notification, every `interval` seconds."""
        while True:
            changed, interval = self._interval_changed, self._interval
            if not interval:
                await changed.wait()
                continue
            try:
                async with asyncio.timeout(interval):
                    await changed.wait()
            except TimeoutError:
                if not changed.is_set():  # a period changed just now is not due
                    await self._send(socket, notification_message(None))

    async def _send(self, socket: _Socket, message: str) -> bool:
        """Send one text frame unless the socket is silent or closing."""
        if self._silent or socket.ws.closed:
            return False
        try:
            await socket.ws.send_str(message)
        except ConnectionError:
            return False
        return True

    async def broadcast(self, container: Mapping[str, object] | None) -> int:
        """Send one notification to every open socket; return how many got it."""
        message = notification_message(container)
        sent = await asyncio.gather(*(self._send(s, message) for s in self._sockets))
        return sum(sent)

    def close_soon(self) -> None:
        """Close every socket with 1001 (going away) in the background."""
        for socket in self._sockets:
            self._spawn(self._close(socket), self._closers)

    async def _close(self, socket: _Socket) -> None:
        """Send the close frame; silent sockets too, or a restart would leak them."""
        socket.wake.set()
        code, reason = GOING_AWAY
        await socket.ws.close(code=code, message=reason)

    def drop_all(self) -> int:
        """Cut every socket without a close frame; return how many there were."""
        for socket in self._sockets:
            socket.drop()
        return len(self._sockets)

    def _drop_unclosed(self) -> None:
        """Cut the sockets whose close frame is stuck; spare those flushing it."""
        for socket in self._sockets:
            transport = socket.request.transport
            if transport is None or not transport.is_closing():
                socket.drop()

    async def shutdown(self, *, graceful: bool) -> None:
        """Close (graceful) or drop every socket, leaving no task behind."""
        if graceful:
            self.close_soon()
            if self._closers:
                await asyncio.wait(self._closers, timeout=STOP_GRACE)
            self._drop_unclosed()
        else:
            self.drop_all()
        tasks = self._tickers | self._closers
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @staticmethod
    def _spawn(
        coroutine: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]
    ) -> asyncio.Task[None]:
        """Start a task and keep it in `tasks` until it ends, for shutdown()."""
        task = asyncio.get_running_loop().create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task


def _fire(event: asyncio.Event) -> asyncio.Event:
    """Wake everyone waiting on `event` and return a fresh one for the next change."""
    event.set()
    return asyncio.Event()
