"""The client's notification socket against the emulator (and a raw WS server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
import json
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from custom_components.plex_api.plex import (
    NOTIFICATIONS_PATH,
    PlexAuthenticationError,
    PlexClient,
    PlexConnectionError,
    PlexNotifications,
    PlexStatusError,
    PlexTimeoutError,
    PlexTLSError,
)

from .plex_emulator import Fault, PlexEmulator
from .test_client import CLIENT_INFO


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[PlexEmulator]:
    """The emulator with its notification socket open to clients."""
    async with PlexEmulator(notification_interval=None) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def open_socket(
    session: aiohttp.ClientSession,
    emulator: PlexEmulator,
    *,
    heartbeat: float = 30.0,
    request_timeout: float = 5.0,
) -> tuple[PlexClient, PlexNotifications, str]:
    """A client, its socket opened with a new transient token, and that token."""
    client = PlexClient(
        session,
        emulator.url,
        emulator.owner_token,
        CLIENT_INFO,
        timeout=request_timeout,
    )
    token = (await client.new_transient_token()).token
    socket = await client.notifications(token, heartbeat=heartbeat)
    return client, socket, token


async def test_notifications_arrive(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Each NotificationContainer is handed on; the token is only in the header."""
    _client, socket, token = await open_socket(session, emulator)
    async with socket:
        await emulator.wait_open_sockets(1)
        await emulator.notify({"type": "timeline", "size": 1})
        message = await anext(aiter(socket))

    assert message == {"type": "timeline", "size": 1}
    upgrade = emulator.requests[-1]
    assert upgrade.path_qs == NOTIFICATIONS_PATH
    assert upgrade.headers["X-Plex-Token"] == token
    assert upgrade.headers["X-Plex-Product"] == "Home Assistant"
    assert token not in repr(socket)


async def test_restart_ends_the_socket(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A restart closes the socket with a close frame: 'closed by the server'."""
    _client, socket, _token = await open_socket(session, emulator)
    async with socket:
        await emulator.wait_open_sockets(1)
        emulator.restart()
        received = [message async for message in socket]

    assert received == []
    assert socket.ended_by == "closed by the server"


async def test_reboot_drops_the_socket(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A real restart drops the connection: the iteration ends all the same."""
    _client, socket, _token = await open_socket(session, emulator)
    async with socket:
        await emulator.wait_open_sockets(1)
        reboot = asyncio.ensure_future(emulator.reboot(down_for=0.05))
        async with asyncio.timeout(5):
            received = [message async for message in socket]
        await reboot

    assert received == []
    assert socket.ended_by == "lost"  # no close frame: dropped


async def test_silent_socket_fails_its_heartbeat(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A socket that stops answering pings is noticed by the heartbeat."""
    _client, socket, _token = await open_socket(session, emulator, heartbeat=0.2)
    async with socket:
        await emulator.wait_open_sockets(1)
        emulator.silence_sockets()
        async with asyncio.timeout(5):
            received = [message async for message in socket]

    assert received == []
    assert socket.ended_by == "lost"


async def test_refused_token(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A dead token is refused before the upgrade; the error holds no token."""
    client, socket, token = await open_socket(session, emulator)
    await socket.close()
    emulator.restart()

    with pytest.raises(PlexAuthenticationError) as err:
        await client.notifications(token)

    assert token not in str(err.value)
    assert err.value.__context__ is None


async def test_proxy_without_websockets(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A proxy that does not upgrade: a status error with its status."""
    client, socket, token = await open_socket(session, emulator)
    await socket.close()
    emulator.refuse_websockets = True

    with pytest.raises(PlexStatusError) as err:
        await client.notifications(token)

    assert err.value.status == 404


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.SERVER_ERROR, PlexStatusError),
        (Fault.DROP, PlexConnectionError),
        (Fault.DELAY, PlexTimeoutError),
    ],
)
async def test_connect_failures(
    emulator: PlexEmulator,
    session: aiohttp.ClientSession,
    fault: Fault,
    error: type[Exception],
) -> None:
    """Each way the upgrade can fail is a typed error."""
    client, socket, token = await open_socket(session, emulator, request_timeout=0.3)
    await socket.close()
    emulator.delay = 5
    emulator.set_fault(fault, NOTIFICATIONS_PATH)

    with pytest.raises(error) as err:
        await client.notifications(token)

    assert token not in str(err.value)


async def test_server_down(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Nothing listening: a connection error."""
    client, socket, token = await open_socket(session, emulator)
    await socket.close()
    await emulator.stop()

    with pytest.raises(PlexConnectionError):
        await client.notifications(token)


async def test_tls_failure(socket_enabled: None) -> None:
    """An untrusted certificate: a TLS error, no socket."""
    async with PlexEmulator(https=True) as emulator, aiohttp.ClientSession() as verify:
        client = PlexClient(verify, emulator.url, "owner", CLIENT_INFO)
        with pytest.raises(PlexTLSError):
            await client.notifications("transient-1")


type Handler = Callable[[web.WebSocketResponse], Coroutine[Any, Any, None]]


async def raw_socket_server(handler: Handler) -> web.AppRunner:
    """A WebSocket server that sends whatever `handler` sends, on loopback."""

    async def serve(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=False)
        await socket.prepare(request)
        await handler(socket)
        await socket.close()
        return socket

    app = web.Application()
    app.router.add_get(NOTIFICATIONS_PATH, serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def _odd_frames(socket: web.WebSocketResponse) -> None:
    """Garbage, foreign JSON and binary frames around real notifications; a ping."""
    await socket.send_str("not json")
    await socket.send_str("[1, 2]")
    await socket.send_str('{"other": 1}')
    await socket.send_str('{"NotificationContainer": []}')
    await socket.send_str("[" * 100_000)
    await socket.send_bytes(b"\x00\x01")
    await socket.send_str(json.dumps({"NotificationContainer": {"type": "status"}}))
    await socket.ping(b"are you there")
    # The client pings first (is a server there?): answered, as PMS does.
    while (answer := await socket.receive(timeout=5)).type is aiohttp.WSMsgType.PING:
        await socket.pong(answer.data)
    if answer.type is aiohttp.WSMsgType.PONG and answer.data == b"are you there":
        await socket.send_str(json.dumps({"NotificationContainer": {"type": "pong"}}))


async def test_odd_frames_are_skipped(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """Only NotificationContainers are handed on; nothing else ends the socket."""
    runner = await raw_socket_server(_odd_frames)
    port = runner.addresses[0][1]
    try:
        client = PlexClient(session, f"http://127.0.0.1:{port}", "o", CLIENT_INFO)
        async with await client.notifications("transient-1") as socket:
            received = [message async for message in socket]
    finally:
        await runner.cleanup()

    assert received == [{"type": "status"}, {"type": "pong"}]
    assert socket.ended_by == "closed by the server"


async def _oversized(socket: web.WebSocketResponse) -> None:
    """A message over the client's 1 MiB limit."""
    await socket.send_str("x" * (2 * 1024 * 1024))


async def test_closed_session_is_a_connection_error(
    socket_enabled: None, emulator: PlexEmulator
) -> None:
    """The caller's session already closed (Home Assistant stopping): no socket.

    A typed error, not a new connector of aiohttp's own that nobody closes.
    """
    session = aiohttp.ClientSession()
    client = PlexClient(session, emulator.url, emulator.owner_token, CLIENT_INFO)
    await session.close()

    with pytest.raises(PlexConnectionError):
        await client.notifications("transient-1")
    assert emulator.requests == []


async def test_oversized_message_ends_the_socket(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """A message too large to be a notification ends the socket as an error."""
    runner = await raw_socket_server(_oversized)
    port = runner.addresses[0][1]
    try:
        client = PlexClient(session, f"http://127.0.0.1:{port}", "o", CLIENT_INFO)
        async with await client.notifications("transient-1") as socket:
            received = [message async for message in socket]
    finally:
        await runner.cleanup()

    assert received == []
    assert socket.ended_by == "lost"
