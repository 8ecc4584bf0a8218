"""Tests of the Plex emulator itself: the Plex facts the other tests trust.

Only behaviours the product relies on, each with its source in the emulator
(PMS answers, python-plexapi and core issues, proxy behaviour); the emulator's
own knobs (faults, control endpoints, command line, its log) are exercised by
the tests that use them and by tests/e2e.
"""

import asyncio
from collections.abc import AsyncIterator
import contextlib
from datetime import timedelta
import json
import re
import ssl
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from tests.plex_emulator import (
    NOTIFICATIONS_PATH,
    CertificateAuthority,
    PlexEmulator,
    ProxyMode,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

JSON = {"Accept": "application/json"}
TOKEN_PATH = "/security/token?type=delegation&scope=all"
UPGRADE_HEADERS = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}
TIMEOUT = 5  # generous upper bound of waits that normally end in milliseconds


@pytest.fixture
async def emulator() -> AsyncIterator[PlexEmulator]:
    """A running emulator on a free loopback port."""
    async with PlexEmulator() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session, closed after the test."""
    async with aiohttp.ClientSession() as client:
        yield client


async def fetch(
    session: aiohttp.ClientSession,
    emulator: PlexEmulator,
    path: str,
    token: str | None = None,
    *,
    accept_json: bool = False,
    method: str = "GET",
    **kwargs: Any,
) -> tuple[int, str, str]:
    """Return status, content type header and body text of one request."""
    headers = dict(JSON) if accept_json else {}
    if token is not None:
        headers["X-Plex-Token"] = token
    async with session.request(
        method, emulator.url + path, headers=headers, **kwargs
    ) as response:
        content_type = response.headers.get("Content-Type", "")
        return response.status, content_type, await response.text()


def xml_attributes(body: str) -> dict[str, str]:
    """Parse a MediaContainer XML body (our own server, so trusted input)."""
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    element = ET.fromstring(body)  # noqa: S314
    assert element.tag == "MediaContainer"
    return dict(element.attrib)


async def issue_token(session: aiohttp.ClientSession, emulator: PlexEmulator) -> str:
    """Ask for a transient token with the owner token."""
    status, _, body = await fetch(
        session, emulator, TOKEN_PATH, emulator.owner_token, accept_json=True
    )
    assert status == 200
    token: str = json.loads(body)["MediaContainer"]["token"]
    return token


async def test_identity_xml_by_default(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Without an Accept header PMS answers XML, booleans as 1/0."""
    status, content_type, body = await fetch(session, emulator, "/identity")
    assert (status, content_type) == (200, "text/xml;charset=utf-8")
    assert xml_attributes(body) == {
        "size": "0",
        "claimed": "1",
        "machineIdentifier": emulator.machine_identifier,
        "version": emulator.version,
    }


async def test_identity_json(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """With Accept: application/json, typed JSON values."""
    emulator.claimed = False
    status, content_type, body = await fetch(
        session, emulator, "/identity", accept_json=True
    )
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {
        "MediaContainer": {
            "size": 0,
            "claimed": False,
            "machineIdentifier": emulator.machine_identifier,
            "version": emulator.version,
        }
    }


async def test_root_both_formats(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """GET / describes the server to any valid token."""
    _, _, body = await fetch(session, emulator, "/", emulator.owner_token)
    attributes = xml_attributes(body)
    assert attributes["friendlyName"] == "Living Room Plex"
    assert attributes["myPlex"] == "1"
    assert attributes["platform"] == "Linux"
    _, _, body = await fetch(
        session, emulator, "/", emulator.owner_token, accept_json=True
    )
    container = json.loads(body)["MediaContainer"]
    assert container["machineIdentifier"] == emulator.machine_identifier
    assert container["myPlex"] is True
    assert container["transcoderActiveVideoSessions"] == 0
    assert {"size", "platformVersion", "version"} <= container.keys()


@pytest.mark.parametrize("path", ["/", TOKEN_PATH])
@pytest.mark.parametrize("token", [None, "wrong"])
async def test_unauthenticated(
    emulator: PlexEmulator,
    session: aiohttp.ClientSession,
    path: str,
    token: str | None,
) -> None:
    """No token or an unknown one: 401, as JSON or as an HTML page."""
    status, content_type, body = await fetch(
        session, emulator, path, token, accept_json=True
    )
    assert (status, content_type) == (401, "application/json")
    assert json.loads(body) == {
        "errors": [
            {"code": 1001, "message": "User could not be authenticated", "status": 401}
        ]
    }
    status, content_type, body = await fetch(session, emulator, path, token)
    assert (status, content_type) == (401, "text/html; charset=utf-8")
    assert "<html>" in body
    assert emulator.transient_tokens == {}


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?type=delegation",
        "?scope=all",
        "?type=access&scope=all",
        "?type=delegation&scope=some",
    ],
)
async def test_bad_token_request(
    emulator: PlexEmulator, session: aiohttp.ClientSession, query: str
) -> None:
    """A missing or other type/scope is a 400 HTML page, after authentication."""
    path = "/security/token" + query
    assert (await fetch(session, emulator, path, "wrong"))[0] == 401
    status, content_type, body = await fetch(
        session, emulator, path, emulator.owner_token, accept_json=True
    )
    assert (status, content_type) == (400, "text/html; charset=utf-8")
    assert "400 Bad Request" in body
    assert emulator.transient_tokens == {}


async def test_shared_token(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A shared user's token reads the server but may not delegate."""
    shared = emulator.shared_token
    assert shared != emulator.owner_token
    assert (await fetch(session, emulator, "/", shared))[0] == 200
    status, content_type, body = await fetch(
        session, emulator, TOKEN_PATH, shared, accept_json=True
    )
    assert (status, content_type) == (403, "application/json")
    assert json.loads(body)["errors"][0]["status"] == 403
    status, content_type, _ = await fetch(session, emulator, TOKEN_PATH, shared)
    assert (status, content_type) == (403, "text/html; charset=utf-8")


async def test_transient_token_until_restart(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A transient token reads the server, cannot delegate, and dies at restart."""
    token = await issue_token(session, emulator)
    assert re.fullmatch(r"transient-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", token)
    assert emulator.is_accepted(token)
    assert (await fetch(session, emulator, "/", token))[0] == 200
    assert (await fetch(session, emulator, TOKEN_PATH, token))[0] == 403
    assert emulator.token_requests() == 2

    emulator.restart()

    assert emulator.restarts == 1
    assert emulator.transient_tokens == {}
    assert not emulator.is_accepted(token)
    assert (await fetch(session, emulator, "/", token))[0] == 401


async def test_transient_token_expiry(
    emulator: PlexEmulator,
    session: aiohttp.ClientSession,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Transient tokens are refused 48 hours after they were issued."""
    token = await issue_token(session, emulator)
    freezer.tick(timedelta(hours=47, minutes=59))
    assert (await fetch(session, emulator, "/", token))[0] == 200
    freezer.tick(timedelta(minutes=1, seconds=1))
    assert not emulator.is_accepted(token)
    assert (await fetch(session, emulator, "/", token))[0] == 401
    assert token in emulator.transient_tokens
    assert emulator.is_accepted(emulator.owner_token)


async def test_https(session: aiohttp.ClientSession) -> None:
    """HTTPS uses a fresh self-signed certificate that default checks refuse."""
    emulator = PlexEmulator(https=True)
    assert (emulator.certificate_pem, emulator.key_pem) == (None, b"")
    async with emulator:
        assert emulator.url.startswith("https://127.0.0.1:")
        assert emulator.certificate_pem is not None
        assert emulator.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
        status, _, _ = await fetch(session, emulator, "/identity", ssl=False)
        assert status == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await fetch(session, emulator, "/identity")
        trusted = ssl.create_default_context(cadata=emulator.certificate_pem.decode())
        status, _, _ = await fetch(session, emulator, "/identity", ssl=trusted)
        assert status == 200  # the certificate is valid for 127.0.0.1


def ws_url(emulator: PlexEmulator, token: str | None = None) -> str:
    """The notification socket URL, with the token in the query if given."""
    url = emulator.url + NOTIFICATIONS_PATH
    return url if token is None else f"{url}?X-Plex-Token={token}"


def connect(
    session: aiohttp.ClientSession,
    emulator: PlexEmulator,
    token: str | None = None,
    **kwargs: Any,
) -> Any:
    """Open the notification socket, the token (owner's by default) in the header."""
    headers = {"X-Plex-Token": token or emulator.owner_token}
    return session.ws_connect(ws_url(emulator), headers=headers, **kwargs)


async def is_listening(emulator: PlexEmulator) -> bool:
    """Whether the port accepts connections."""
    try:
        _, writer = await asyncio.open_connection(emulator.host, emulator.port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def received_container(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """Read one notification and check it is a PMS NotificationContainer."""
    async with asyncio.timeout(TIMEOUT):
        message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.TEXT, message
    payload = json.loads(message.data)
    assert list(payload) == ["NotificationContainer"]
    container: dict[str, Any] = payload["NotificationContainer"]
    return container


@pytest.mark.parametrize("where", ["header", "query"])
async def test_notifications_upgrade(
    emulator: PlexEmulator, session: aiohttp.ClientSession, where: str
) -> None:
    """Any valid token upgrades, in the header or the query; the upgrade is logged."""
    transient = await issue_token(session, emulator)
    for token in (emulator.owner_token, emulator.shared_token, transient):
        if where == "header":
            socket = connect(session, emulator, token)
        else:
            socket = session.ws_connect(ws_url(emulator, token))
        async with socket as ws:
            await emulator.wait_open_sockets(1)
            assert not ws.closed
        request = emulator.requests[-1]
        assert request.method == "GET"
        assert request.headers["Upgrade"] == "websocket"
        if where == "header":
            assert request.path_qs == NOTIFICATIONS_PATH
            assert request.headers["X-Plex-Token"] == token
        else:
            assert request.path_qs == ws_url(emulator, token)[len(emulator.url) :]
    async with asyncio.timeout(TIMEOUT):
        await emulator.wait_open_sockets(0)


@pytest.mark.parametrize("token", [None, "wrong", "dead"])
async def test_notifications_unauthorized(
    emulator: PlexEmulator, session: aiohttp.ClientSession, token: str | None
) -> None:
    """A missing, unknown or dead token gets a 401 page instead of the upgrade."""
    if token == "dead":
        token = await issue_token(session, emulator)
        emulator.restart()
    headers = UPGRADE_HEADERS | ({} if token is None else {"X-Plex-Token": token})
    url = emulator.url + NOTIFICATIONS_PATH
    async with session.get(url, headers=headers | JSON) as response:
        assert (response.status, response.content_type) == (401, "application/json")
        assert (await response.json())["errors"][0]["code"] == 1001
    async with session.get(url, headers=headers) as response:
        assert (response.status, response.content_type) == (401, "text/html")
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await session.ws_connect(ws_url(emulator, token))
    assert caught.value.status == 401
    assert emulator.open_sockets == 0
    assert emulator.requests[-1].path_qs == ws_url(emulator, token)[len(emulator.url) :]


async def test_restart_closes_sockets(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """restart() closes every socket with 1001 (going away) and forgets tokens."""
    token = await issue_token(session, emulator)
    async with connect(session, emulator) as ws:
        await emulator.wait_open_sockets(1)
        emulator.restart()
        async with asyncio.timeout(TIMEOUT):
            message = await ws.receive()
        assert (message.type, message.data, message.extra) == (
            aiohttp.WSMsgType.CLOSE,
            1001,
            "going away",
        )
    async with asyncio.timeout(TIMEOUT):
        await emulator.wait_open_sockets(0)
    assert (emulator.restarts, emulator.is_accepted(token)) == (1, False)
    assert (await fetch(session, emulator, "/identity"))[0] == 200


async def test_reboot(emulator: PlexEmulator, session: aiohttp.ClientSession) -> None:
    """reboot() drops sockets, refuses connections while down, then comes back."""
    token = await issue_token(session, emulator)
    port, certificate = emulator.port, emulator.certificate_pem
    async with connect(session, emulator) as ws:
        rebooting = asyncio.create_task(emulator.reboot(down_for=0.2))
        async with asyncio.timeout(TIMEOUT):
            message = await ws.receive()
        # Dropped, not closed: no close frame.
        assert message.type in {aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR}
        assert not await is_listening(emulator)
        with pytest.raises(RuntimeError):
            await emulator.reboot()
        async with asyncio.timeout(TIMEOUT):
            await rebooting
    assert (emulator.port, emulator.certificate_pem) == (port, certificate)
    assert (emulator.restarts, emulator.open_sockets) == (1, 0)
    assert not emulator.is_accepted(token)
    assert (await fetch(session, emulator, "/", token))[0] == 401
    assert (await fetch(session, emulator, "/", emulator.owner_token))[0] == 200


async def test_silent_socket_fails_heartbeat(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A silenced socket stops answering pings: a heartbeat notices, without close."""
    async with connect(session, emulator, heartbeat=0.2) as ws:
        # Three heartbeats go by: pings are answered, nothing else happens.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.6):
                await ws.receive()
        assert not ws.closed
        emulator.silence_sockets(True)
        assert emulator.silent_sockets
        async with asyncio.timeout(TIMEOUT):
            message = await ws.receive()
        assert message.type is aiohttp.WSMsgType.ERROR
        assert isinstance(message.data, aiohttp.ServerTimeoutError)
    async with asyncio.timeout(TIMEOUT):
        await emulator.wait_open_sockets(0)


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_refuse_websockets(
    emulator: PlexEmulator, session: aiohttp.ClientSession, token: str | None
) -> None:
    """A proxy that does not upgrade: 404 HTML, never 101, never 401."""
    emulator.refuse_websockets = True
    headers = (
        UPGRADE_HEADERS | JSON | ({} if token is None else {"X-Plex-Token": token})
    )
    url = emulator.url + NOTIFICATIONS_PATH
    async with session.get(url, headers=headers) as response:
        assert (response.status, response.content_type) == (404, "text/html")
        assert "404 Not Found" in await response.text()
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(session, emulator)
    assert caught.value.status == 404
    assert emulator.open_sockets == 0
    assert emulator.requests[-1].path_qs == NOTIFICATIONS_PATH


async def test_allow_without_auth(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Any token or none gets through; is_accepted() still tells the truth."""
    emulator.allow_without_auth = True
    for token in (None, "bogus"):
        assert (await fetch(session, emulator, "/", token))[0] == 200
        status, _, body = await fetch(
            session, emulator, TOKEN_PATH, token, accept_json=True
        )
        assert status == 200
        transient = json.loads(body)["MediaContainer"]["token"]
        assert emulator.is_accepted(transient)
        async with session.ws_connect(ws_url(emulator, token)) as ws:
            assert await emulator.notify() == 1
            await received_container(ws)
    assert (await fetch(session, emulator, TOKEN_PATH[:15], "bogus"))[0] == 400
    assert not emulator.is_accepted("bogus")
    emulator.restart()
    assert not emulator.is_accepted(transient)
    assert (await fetch(session, emulator, "/", transient))[0] == 200
    assert emulator.issued_tokens[-1] == transient
    emulator.allow_without_auth = False
    assert (await fetch(session, emulator, "/", transient))[0] == 401


async def test_certificate_authority(session: aiohttp.ClientSession) -> None:
    """A CA-issued wildcard certificate passes hostname checks inside it only."""
    authority = CertificateAuthority()
    with pytest.raises(ValueError, match="DNS name or an IP"):
        authority.issue()
    trusted = ssl.create_default_context(cadata=authority.certificate_pem.decode())
    emulator = PlexEmulator(https=True)
    emulator.certificate_pem, emulator.key_pem = authority.issue(
        ["*.0123abcd.plex.direct"]
    )
    given = emulator.certificate_pem
    async with emulator:
        assert emulator.certificate_pem == given
        status, _, _ = await fetch(
            session,
            emulator,
            "/identity",
            ssl=trusted,
            server_hostname="127-0-0-1.0123abcd.plex.direct",
        )
        assert status == 200
        for outside in ("127-0-0-1.ffffffff.plex.direct", "a.b.0123abcd.plex.direct"):
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await fetch(
                    session, emulator, "/identity", ssl=trusted, server_hostname=outside
                )
        # The IP address itself is not in this certificate either.
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await fetch(session, emulator, "/identity", ssl=trusted)


ENDED_WITHOUT_CLOSE = {aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR}


async def upgrade_status(
    session: aiohttp.ClientSession, emulator: PlexEmulator
) -> tuple[int, str, dict[str, str], str]:
    """Send the upgrade by hand, no redirect followed: status, type, headers, body."""
    headers = UPGRADE_HEADERS | {"X-Plex-Token": emulator.owner_token}
    async with session.get(
        emulator.url + NOTIFICATIONS_PATH, headers=headers, allow_redirects=False
    ) as response:
        return (
            response.status,
            response.content_type,
            dict(response.headers),
            await response.text(),
        )


@pytest.mark.parametrize(
    ("mode", "status", "text"),
    [
        (ProxyMode.STATUS_400, 400, "<center>nginx</center>"),
        (ProxyMode.STATUS_502, 502, "502 Bad Gateway"),
        (ProxyMode.PLAIN_200, 200, "Plex Media Server"),
    ],
)
async def test_proxy_pages(
    emulator: PlexEmulator,
    session: aiohttp.ClientSession,
    mode: ProxyMode,
    status: int,
    text: str,
) -> None:
    """A proxy that breaks WebSockets answers the upgrade with a page; / is fine."""
    emulator.proxy_mode = mode
    got, content_type, headers, body = await upgrade_status(session, emulator)
    assert (got, content_type) == (status, "text/html")
    assert text in body
    assert "Upgrade" not in headers
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(session, emulator)
    assert caught.value.status == status
    assert emulator.open_sockets == 0
    assert emulator.requests[-1].path_qs == NOTIFICATIONS_PATH
    assert emulator.requests[-1].headers["Upgrade"] == "websocket"
    assert (await fetch(session, emulator, "/", emulator.owner_token))[0] == 200
    emulator.proxy_mode = None
    async with connect(session, emulator) as ws:
        assert not ws.closed


async def test_proxy_redirect(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """REDIRECT: a 302 to https by default, or to redirect_location.

    A client that follows redirects takes its token there (ours must not).
    """
    emulator.proxy_mode = ProxyMode.REDIRECT
    status, _, headers, _ = await upgrade_status(session, emulator)
    https_url = f"https://127.0.0.1:{emulator.port}{NOTIFICATIONS_PATH}"
    assert (status, headers["Location"], headers["Server"]) == (302, https_url, "nginx")
    async with PlexEmulator() as elsewhere:
        emulator.redirect_location = elsewhere.url + NOTIFICATIONS_PATH
        status, _, headers, _ = await upgrade_status(session, emulator)
        assert (status, headers["Location"]) == (302, emulator.redirect_location)
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await connect(session, emulator)
        assert caught.value.status == 401  # the other server does not know it
        followed = elsewhere.requests[-1]
        assert followed.path_qs == NOTIFICATIONS_PATH
        assert followed.headers["X-Plex-Token"] == emulator.owner_token
    assert emulator.requests[-1].path_qs == NOTIFICATIONS_PATH


async def test_proxy_bad_accept(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """BAD_ACCEPT: a 101 whose accept key is wrong fails the client's handshake."""
    emulator.proxy_mode = ProxyMode.BAD_ACCEPT
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(session, emulator)
    assert caught.value.status == 101
    assert caught.value.message == "Invalid challenge response"
    assert emulator.open_sockets == 0
    assert (await fetch(session, emulator, "/identity"))[0] == 200


async def connection_fate(emulator: PlexEmulator) -> str:
    """What a client meets now: "refused", "dropped" (accepted, no answer), "served"."""
    try:
        reader, writer = await asyncio.open_connection(emulator.host, emulator.port)
    except OSError:
        return "refused"
    try:
        writer.write(b"GET /identity HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        async with asyncio.timeout(TIMEOUT):
            answer = await reader.read()
    except ConnectionError:
        answer = b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return "served" if answer.startswith(b"HTTP/1.1 200") else "dropped"


async def until_fate(emulator: PlexEmulator, fate: str) -> None:
    """Poll the port until it behaves as `fate` says (a port state has no event)."""
    async with asyncio.timeout(TIMEOUT):
        while await connection_fate(emulator) != fate:  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_reboot_starting(
    hass: HomeAssistant, emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """reboot(starting_for): refused, then accepted and dropped, then served.

    The waits are loop timers: moving Home Assistant's frozen clock moves them.
    """
    assert not emulator.rebooting
    rebooting = asyncio.create_task(emulator.reboot(down_for=600, starting_for=600))
    await until_fate(emulator, "refused")
    assert emulator.rebooting
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=601))
    await until_fate(emulator, "dropped")
    assert emulator.rebooting
    dropped = emulator.dropped_while_starting
    assert dropped >= 1
    assert (await connection_fate(emulator)) == "dropped"
    assert emulator.dropped_while_starting == dropped + 1
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(session, emulator, "/identity")
    assert not rebooting.done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1202))
    async with asyncio.timeout(TIMEOUT):
        await rebooting
    assert not emulator.rebooting
    assert (await connection_fate(emulator)) == "served"
    assert emulator.restarts == 1
