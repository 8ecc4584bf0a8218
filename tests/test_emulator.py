"""Tests of the Plex emulator itself: the other tests trust what it says."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from datetime import timedelta
import json
import logging
from pathlib import Path
import re
import ssl
import sys
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from yarl import URL

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from tests.plex_emulator import (
    NOTIFICATIONS_PATH,
    CertificateAuthority,
    Fault,
    PlexEmulator,
    ProxyMode,
    ReceivedRequest,
)
from tests.plex_emulator.__main__ import (
    _emulator as cli_emulator,
    _parse_args as cli_args,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

REPO_ROOT = Path(__file__).parent.parent
JSON = {"Accept": "application/json"}
TOKEN_PATH = "/security/token?type=delegation&scope=all"


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


def fault_of(emulator: PlexEmulator) -> tuple[Fault | None, frozenset[str] | None]:
    """Read the fault settings (a call, so mypy does not narrow them)."""
    return emulator.fault, emulator.fault_paths


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


async def test_xml_only(emulator: PlexEmulator, session: aiohttp.ClientSession) -> None:
    """xml_only ignores Accept, like servers that only speak XML."""
    emulator.xml_only = True
    status, content_type, body = await fetch(
        session, emulator, TOKEN_PATH, emulator.owner_token, accept_json=True
    )
    assert (status, content_type) == (200, "text/xml;charset=utf-8")
    assert xml_attributes(body)["token"] in emulator.transient_tokens


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


async def test_token_in_query(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """PMS also takes the token as a query parameter; the log shows it."""
    path = f"/?X-Plex-Token={emulator.owner_token}"
    assert (await fetch(session, emulator, path))[0] == 200
    assert emulator.requests[-1].path_qs == path


async def test_revoke(emulator: PlexEmulator, session: aiohttp.ClientSession) -> None:
    """Revoking replaces the owner token; the old one gets 401."""
    old = emulator.owner_token
    new = emulator.revoke_owner_token()
    assert new == emulator.owner_token != old
    assert (await fetch(session, emulator, "/", old))[0] == 401
    assert (await fetch(session, emulator, TOKEN_PATH, new))[0] == 200


async def test_unknown_path(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Unknown paths are 404 HTML pages, and are logged."""
    status, content_type, _ = await fetch(session, emulator, "/library/sections")
    assert (status, content_type) == (404, "text/html; charset=utf-8")
    assert emulator.requests[-1].path_qs == "/library/sections"


async def test_requests_log(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """The log keeps the raw path, query and original header names."""
    url = URL(emulator.url + TOKEN_PATH + "&x=%2F", encoded=True)
    headers = {"X-Plex-Token": emulator.owner_token}
    async with session.get(url, headers=headers) as response:
        assert response.status == 200
    request = emulator.requests[-1]
    assert isinstance(request, ReceivedRequest)
    assert request.method == "GET"
    assert request.path_qs == TOKEN_PATH + "&x=%2F"
    assert request.headers["X-Plex-Token"] == emulator.owner_token
    assert type(request.headers) is dict


HTML_TYPE = "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.SERVER_ERROR, (500, HTML_TYPE, "500 Internal Server Error")),
        (Fault.HTML, (200, HTML_TYPE, "<html>")),
        (
            Fault.TRUNCATED_JSON,
            (200, "application/json", '{"MediaContainer": {"size": 0, "tok'),
        ),
        (
            Fault.WRONG_CONTENT,
            (200, "application/json", '{"status": "ok", "items": []}'),
        ),
        (
            Fault.XML_WITHOUT_TOKEN,
            (200, "text/xml;charset=utf-8", '<MediaContainer size="0" />'),
        ),
        (Fault.UNAUTHORIZED, (401, HTML_TYPE, "401 Unauthorized")),
    ],
)
async def test_canned_faults(
    emulator: PlexEmulator,
    session: aiohttp.ClientSession,
    fault: Fault,
    expected: tuple[int, str, str],
) -> None:
    """Each canned fault answers its own broken response, and is logged."""
    emulator.set_fault(fault)
    status, content_type, body = await fetch(
        session, emulator, TOKEN_PATH, emulator.owner_token, accept_json=True
    )
    assert (status, content_type) == expected[:2]
    assert expected[2] in body
    assert "token" not in body
    assert emulator.transient_tokens == {}
    assert emulator.token_requests() == 1


async def test_truncated_length(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """The truncated body has a matching Content-Length, so it reads cleanly."""
    emulator.set_fault(Fault.TRUNCATED_JSON)
    async with session.get(emulator.url + "/") as response:
        assert response.content_length == 35
        assert len(await response.read()) == 35


@pytest.mark.parametrize(
    ("fault", "length"), [(Fault.OVERSIZED, None), (Fault.OVERSIZED_DECLARED, 2097152)]
)
async def test_oversized(
    emulator: PlexEmulator,
    session: aiohttp.ClientSession,
    fault: Fault,
    length: int | None,
) -> None:
    """2 MiB of valid JSON, streamed chunked or with a declared length."""
    emulator.set_fault(fault)
    async with session.get(emulator.url + "/identity") as response:
        assert response.content_length == length
        assert (response.headers.get("Transfer-Encoding") == "chunked") is (
            length is None
        )
        body = await response.read()
    assert len(body) == 2 * 1024 * 1024
    assert json.loads(body)["MediaContainer"]["size"] == 0


async def test_oversized_abandoned(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A client that stops reading early does not break the emulator."""
    emulator.set_fault(Fault.OVERSIZED, "/")
    async with session.get(emulator.url + "/") as response:
        assert len(await response.content.read(10)) == 10
        response.close()
    assert (await fetch(session, emulator, "/identity"))[0] == 200


async def test_drop(emulator: PlexEmulator, session: aiohttp.ClientSession) -> None:
    """DROP closes the connection without an answer."""
    emulator.set_fault(Fault.DROP)
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(session, emulator, "/identity")
    # aiohttp retries a dropped idempotent request once.
    assert {request.path_qs for request in emulator.requests} == {"/identity"}


async def test_delay(emulator: PlexEmulator, session: aiohttp.ClientSession) -> None:
    """DELAY holds the answer back, then answers normally."""
    emulator.delay = 0.3
    emulator.set_fault(Fault.DELAY)
    with pytest.raises(TimeoutError):
        await fetch(
            session, emulator, "/identity", timeout=aiohttp.ClientTimeout(total=0.1)
        )
    status, _, body = await fetch(session, emulator, "/identity")
    assert status == 200
    assert xml_attributes(body)["machineIdentifier"] == emulator.machine_identifier


async def test_stop_does_not_wait_for_delay(session: aiohttp.ClientSession) -> None:
    """stop() returns promptly even while a request sleeps for 30 s."""
    emulator = PlexEmulator()
    await emulator.start()
    emulator.set_fault(Fault.DELAY)
    pending = asyncio.create_task(fetch(session, emulator, "/identity"))
    await asyncio.sleep(0.2)
    assert len(emulator.requests) == 1
    async with asyncio.timeout(5):
        await emulator.stop()
    with pytest.raises(aiohttp.ClientError):
        await pending


async def test_fault_paths(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A fault given paths spares the other paths; None clears it."""
    emulator.set_fault(Fault.SERVER_ERROR, "/security/token")
    assert fault_of(emulator) == (Fault.SERVER_ERROR, frozenset({"/security/token"}))
    assert (await fetch(session, emulator, TOKEN_PATH, emulator.owner_token))[0] == 500
    assert (await fetch(session, emulator, "/identity"))[0] == 200
    emulator.set_fault(None)
    assert fault_of(emulator) == (None, None)
    assert (await fetch(session, emulator, TOKEN_PATH, emulator.owner_token))[0] == 200


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


async def test_restart_on_same_port(session: aiohttp.ClientSession) -> None:
    """After stop() nothing listens; start() can take the same port again."""
    emulator = PlexEmulator()
    with pytest.raises(RuntimeError):
        _ = emulator.port
    await emulator.start()
    port, url = emulator.port, emulator.url
    assert url == f"http://127.0.0.1:{port}"
    assert emulator.host == "127.0.0.1"
    with pytest.raises(RuntimeError):
        await emulator.start()
    await emulator.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(session, emulator, "/identity")
    await emulator.start(port=port)
    try:
        assert emulator.url == url
        assert (await fetch(session, emulator, "/identity"))[0] == 200
    finally:
        await emulator.stop()


async def post(
    session: aiohttp.ClientSession, emulator: PlexEmulator, name: str, **kwargs: Any
) -> tuple[int, str, str]:
    """Call one control endpoint."""
    return await fetch(session, emulator, "/_emulator/" + name, method="POST", **kwargs)


async def test_control_endpoints(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A separate process can drive the emulator; those calls are not logged."""
    token = await issue_token(session, emulator)
    logged = len(emulator.requests)
    emulator.set_fault(Fault.DROP)

    status, _, body = await fetch(session, emulator, "/_emulator/state")
    assert status == 200
    assert json.loads(body) == {
        "token_requests": 1,
        "restarts": 0,
        "transient_tokens": [token],
        "open_sockets": 0,
        "allow_without_auth": False,
        "refuse_websockets": False,
        "silent_sockets": False,
        "socket_refuses_transient": False,
        "proxy_mode": None,
    }
    status, _, body = await post(session, emulator, "revoke")
    assert json.loads(body) == {"owner_token": emulator.owner_token}
    assert (await post(session, emulator, "restart"))[0] == 204
    assert (emulator.restarts, emulator.transient_tokens) == (1, {})

    payload = {"fault": "server_error", "paths": ["/"]}
    assert (await post(session, emulator, "fault", json=payload))[0] == 204
    assert fault_of(emulator) == (Fault.SERVER_ERROR, frozenset({"/"}))
    for bad in ({"fault": "nope"}, {"fault": None, "paths": "/"}, [1]):
        assert (await post(session, emulator, "fault", json=bad))[0] == 400
    assert (await post(session, emulator, "fault", json={"fault": None}))[0] == 204
    assert fault_of(emulator) == (None, None)
    assert len(emulator.requests) == logged


async def start_cli(*options: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start the CLI with the owner token cli-token; return it and its first line."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tests.plex_emulator", "--port", "0"),
        *("--token", "cli-token", *options),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    async with asyncio.timeout(20):
        line = (await process.stdout.readline()).decode()
    return process, line


async def stop_cli(process: asyncio.subprocess.Process) -> str:
    """SIGTERM it, check it exits 0, and return what it wrote to stderr."""
    if process.returncode is None:
        process.terminate()
    async with asyncio.timeout(10):
        _, errors = await process.communicate()
    assert process.returncode == 0
    return errors.decode()


async def test_command_line() -> None:
    """The CLI prints one parsable line, serves, and exits on SIGTERM."""
    process, line = await start_cli("--name", "Attic")
    try:
        match = re.fullmatch(
            r"Plex emulator listening on (http://127\.0\.0\.1:(\d+)); "
            r"owner token: cli-token\n",
            line,
        )
        assert match is not None, line
        assert int(match[2]) > 0
        async with aiohttp.ClientSession(headers=JSON) as session:
            async with session.get(match[1] + "/identity") as response:
                assert response.status == 200
                identity = (await response.json())["MediaContainer"]
            headers = {"X-Plex-Token": "cli-token"}
            async with session.get(match[1] + "/", headers=headers) as response:
                server = (await response.json())["MediaContainer"]
        assert identity["claimed"] is True
        assert server["friendlyName"] == "Attic"
    finally:
        log = await stop_cli(process)
    assert " GET " not in log  # requests are logged at debug level only


UPGRADE_HEADERS = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}
SWITCH_NAMES = {"allow_without_auth", "refuse_websockets", "silent_sockets"}
TIMEOUT = 5  # generous upper bound of waits that normally end in milliseconds


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


async def until(predicate: Callable[[], Awaitable[bool]]) -> None:
    """Poll what has no event to wait on: whether a port accepts connections."""
    async with asyncio.timeout(TIMEOUT):
        while not await predicate():  # noqa: ASYNC110 - a port state has no event
            await asyncio.sleep(0.02)


async def is_down(emulator: PlexEmulator) -> bool:
    """Whether the port refuses connections."""
    return not await is_listening(emulator)


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


async def test_notifications_fault(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Faults apply to the upgrade like to any other path."""
    emulator.set_fault(Fault.SERVER_ERROR, NOTIFICATIONS_PATH)
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(session, emulator)
    assert caught.value.status == 500
    assert (await fetch(session, emulator, "/", emulator.owner_token))[0] == 200
    emulator.set_fault(None)
    async with connect(session, emulator) as ws:
        assert not ws.closed


async def test_notify(emulator: PlexEmulator, session: aiohttp.ClientSession) -> None:
    """notify() reaches every open socket with a PMS-shaped JSON container."""
    assert await emulator.notify() == 0
    async with connect(session, emulator) as first, connect(session, emulator) as ws:
        assert emulator.open_sockets == 2
        assert await emulator.notify() == 2
        for socket in (first, ws):
            container = await received_container(socket)
            assert container["type"] == "activity"
            assert container["size"] == len(container["ActivityNotification"]) == 1
            assert container["ActivityNotification"][0]["Activity"]["progress"] == 50
        timeline = {"type": "timeline", "size": 1, "TimelineEntry": [{"state": 5}]}
        assert await emulator.notify(timeline) == 2
        assert await received_container(ws) == timeline
        assert await emulator.notify({"NotificationContainer": timeline}) == 2
        assert await received_container(ws) == timeline


async def test_periodic_notifications(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Open sockets get an occasional notification; a new period applies at once."""
    assert emulator.notification_interval == 30.0
    async with connect(session, emulator) as ws:
        emulator.notification_interval = 0.05
        for _ in range(2):
            assert (await received_container(ws))["type"] == "activity"
        emulator.notification_interval = 0
        assert await emulator.notify({"type": "status", "size": 0}) == 1
        # Anything queued before the switch comes first; then only ours arrives.
        while (await received_container(ws))["type"] != "status":
            pass


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


async def test_stop_interrupts_reboot(session: aiohttp.ClientSession) -> None:
    """stop() during a reboot's down time returns at once and nothing listens."""
    emulator = PlexEmulator()
    with pytest.raises(RuntimeError):
        await emulator.reboot()
    await emulator.start()
    rebooting = asyncio.create_task(emulator.reboot(down_for=30))
    await until(lambda: is_down(emulator))
    assert emulator.restarts == 1
    async with asyncio.timeout(0.5):
        await emulator.stop()
        await rebooting
    assert not await is_listening(emulator)
    await emulator.start(port=emulator.port)  # and it can start again
    try:
        assert (await fetch(session, emulator, "/identity"))[0] == 200
    finally:
        await emulator.stop()


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


async def test_silent_socket_stays_open(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Silence drops notifications, even on new sockets, until it ends."""
    emulator.silence_sockets(True)
    async with connect(session, emulator) as ws:
        emulator.notification_interval = 0.01
        assert await emulator.notify() == 0
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await ws.receive()
        assert (ws.closed, emulator.open_sockets) == (False, 1)
        emulator.notification_interval = None
        emulator.silence_sockets(False)
        assert await emulator.notify({"type": "status", "size": 0}) == 1
        assert (await received_container(ws))["type"] == "status"


async def test_stop_closes_silent_socket(session: aiohttp.ClientSession) -> None:
    """stop() closes even a silent socket (1001) and returns promptly."""
    emulator = PlexEmulator()
    await emulator.start()
    async with connect(session, emulator) as ws:
        emulator.silence_sockets(True)
        async with asyncio.timeout(0.5):
            await emulator.stop()
        async with asyncio.timeout(TIMEOUT):
            message = await ws.receive()
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 1001)
    assert emulator.open_sockets == 0


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


async def test_control_switches(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Switches can be flipped from another process; the state reports them."""
    switches = {"allow_without_auth": True, "refuse_websockets": True}
    assert (await post(session, emulator, "switches", json=switches))[0] == 204
    assert (emulator.allow_without_auth, emulator.refuse_websockets) == (True, True)
    payload = {"refuse_websockets": False, "silent_sockets": True}
    assert (await post(session, emulator, "switches", json=payload))[0] == 204
    async with connect(session, emulator, "bogus") as ws:
        status, _, body = await fetch(session, emulator, "/_emulator/state")
        assert status == 200
        state = json.loads(body)
        assert state["open_sockets"] == 1
        assert [state[name] for name in sorted(SWITCH_NAMES)] == [True, False, True]
        assert await emulator.notify() == 0
        payload = {"silent_sockets": False}
        assert (await post(session, emulator, "switches", json=payload))[0] == 204
        assert await emulator.notify() == 1
        assert not ws.closed
    bad_payloads = (
        {"silent_sockets": 1},
        {"allow_without_auth": False, "nope": True},
        [True],
        "true",
    )
    for bad in bad_payloads:
        status, _, _ = await post(session, emulator, "switches", json=bad)
        assert status == 400, bad
    assert (await post(session, emulator, "switches", data=b"{"))[0] == 400
    assert (emulator.allow_without_auth, emulator.silent_sockets) == (True, False)


async def test_control_restart_down_for(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """{"down_for": s} answers 204, then reboots in the background."""
    assert (await post(session, emulator, "restart", json={"down_for": 0}))[0] == 204
    assert (await post(session, emulator, "restart", data=b""))[0] == 204
    assert emulator.restarts == 2
    for bad in ({"down_for": -1}, {"down_for": "1"}, {"down_for": True}, {"x": 1}, [1]):
        assert (await post(session, emulator, "restart", json=bad))[0] == 400, bad
    assert (await post(session, emulator, "restart", data=b"NaN"))[0] == 400
    async with connect(session, emulator) as ws:
        status, _, _ = await post(session, emulator, "restart", json={"down_for": 0.2})
        assert status == 204
        async with asyncio.timeout(TIMEOUT):
            message = await ws.receive()
        assert message.type in {aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR}
    assert not await is_listening(emulator)
    assert emulator.restarts == 3
    await until(lambda: is_listening(emulator))
    assert (await fetch(session, emulator, "/identity"))[0] == 200


def test_command_line_switches() -> None:
    """--allow-without-auth and --refuse-websockets set the switches."""
    emulator = cli_emulator(cli_args(["--allow-without-auth", "--refuse-websockets"]))
    assert (emulator.allow_without_auth, emulator.refuse_websockets) == (True, True)
    emulator = cli_emulator(cli_args(["--name", "Attic"]))
    assert (emulator.allow_without_auth, emulator.refuse_websockets) == (False, False)
    assert emulator.friendly_name == "Attic"


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


async def test_certificate_authority_ip(session: aiohttp.ClientSession) -> None:
    """Certificates for IP addresses work too; a CA is not trusted by default."""
    authority = CertificateAuthority()
    trusted = ssl.create_default_context(cadata=authority.certificate_pem.decode())
    emulator = PlexEmulator(https=True)
    emulator.certificate_pem, emulator.key_pem = authority.issue(
        ip_addresses=["127.0.0.1"]
    )
    async with emulator:
        assert (await fetch(session, emulator, "/identity", ssl=trusted))[0] == 200
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await fetch(session, emulator, "/identity")


ENDED_WITHOUT_CLOSE = {aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR}


async def next_message(ws: aiohttp.ClientWebSocketResponse) -> aiohttp.WSMessage:
    """Read one message from the socket, bounded."""
    async with asyncio.timeout(TIMEOUT):
        return await ws.receive()


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


async def test_proxy_redirect_loop(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """REDIRECT_LOOP: every answer points at the very URL asked for."""
    emulator.proxy_mode = ProxyMode.REDIRECT_LOOP
    status, _, headers, _ = await upgrade_status(session, emulator)
    assert (status, headers["Location"]) == (302, emulator.url + NOTIFICATIONS_PATH)
    before = len(emulator.requests)
    with pytest.raises(aiohttp.TooManyRedirects):
        await connect(session, emulator)
    hops = emulator.requests[before:]
    assert len(hops) > 1
    assert {hop.path_qs for hop in hops} == {NOTIFICATIONS_PATH}


async def test_proxy_close_at_once(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """CLOSE_AT_ONCE: the upgrade succeeds, then the socket ends without a close."""
    emulator.proxy_mode = ProxyMode.CLOSE_AT_ONCE
    async with connect(session, emulator) as ws:
        message = await next_message(ws)
        assert message.type in ENDED_WITHOUT_CLOSE, message
    assert emulator.open_sockets == 0
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(session, emulator, "wrong")  # our 101 needs a valid token
    assert caught.value.status == 401
    assert (await fetch(session, emulator, "/identity"))[0] == 200


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


async def test_proxy_ping_burst(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """PING_BURST: a proper upgrade, 20 server pings, then a drop (no close)."""
    emulator.proxy_mode = ProxyMode.PING_BURST
    async with connect(session, emulator, autoping=False) as ws:
        pings = []
        while (message := await next_message(ws)).type is aiohttp.WSMsgType.PING:
            pings.append(message.data)
        assert message.type in ENDED_WITHOUT_CLOSE, message
    assert pings == [str(number).encode() for number in range(20)]


async def test_drop_sockets(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """drop_sockets() cuts every socket without a close frame; the server stays up."""
    assert emulator.drop_sockets() == 0
    token = await issue_token(session, emulator)
    async with connect(session, emulator) as first, connect(session, emulator) as ws:
        await emulator.wait_open_sockets(2)
        assert emulator.drop_sockets() == 2
        for socket in (first, ws):
            assert (await next_message(socket)).type in ENDED_WITHOUT_CLOSE
    async with asyncio.timeout(TIMEOUT):
        await emulator.wait_open_sockets(0)
    assert (emulator.restarts, emulator.is_accepted(token)) == (0, True)
    assert (await fetch(session, emulator, "/", token))[0] == 200
    async with connect(session, emulator, token) as ws:
        assert await emulator.notify() == 1


async def socket_refuses(
    session: aiohttp.ClientSession, emulator: PlexEmulator, token: str
) -> int | None:
    """The status that refuses this token's upgrade, or None when it opens."""
    try:
        async with connect(session, emulator, token):
            return None
    except aiohttp.WSServerHandshakeError as error:
        return error.status


async def test_socket_refuses_transient(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """The switch: 401 to a transient token on the socket, which / still takes."""
    transient = await issue_token(session, emulator)
    assert await socket_refuses(session, emulator, transient) is None
    emulator.socket_refuses_transient = True
    assert await socket_refuses(session, emulator, transient) == 401
    assert await socket_refuses(session, emulator, emulator.owner_token) is None
    assert await socket_refuses(session, emulator, emulator.shared_token) is None
    assert (await fetch(session, emulator, "/", transient))[0] == 200
    emulator.allow_without_auth = True  # a transient token stays refused there
    assert await socket_refuses(session, emulator, transient) == 401
    assert await socket_refuses(session, emulator, "anything") is None
    emulator.socket_refuses_transient = False
    assert await socket_refuses(session, emulator, transient) is None


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


async def is_starting(emulator: PlexEmulator) -> bool:
    """Whether the port now drops connections as a starting PMS (it counts them)."""
    before = emulator.dropped_while_starting
    fate = await connection_fate(emulator)
    return fate == "dropped" and emulator.dropped_while_starting > before


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


async def test_stop_interrupts_starting(session: aiohttp.ClientSession) -> None:
    """stop() while the port accepts and drops: it returns at once, nothing left."""
    emulator = PlexEmulator()
    await emulator.start()
    rebooting = asyncio.create_task(emulator.reboot(down_for=0, starting_for=30))
    # Not any drop: a connection caught as the port closes is dropped too.
    await until(lambda: is_starting(emulator))
    async with asyncio.timeout(0.5):
        await emulator.stop()
        await rebooting
    assert not emulator.rebooting
    assert (await connection_fate(emulator)) == "refused"


async def test_control_proxy_switches(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """proxy_mode and socket_refuses_transient from another process, validated."""
    payload = {"proxy_mode": "status_502", "socket_refuses_transient": True}
    assert (await post(session, emulator, "switches", json=payload))[0] == 204
    assert emulator.proxy_mode is ProxyMode.STATUS_502
    assert emulator.socket_refuses_transient
    state = json.loads((await fetch(session, emulator, "/_emulator/state"))[2])
    assert (state["proxy_mode"], state["socket_refuses_transient"]) == (
        "status_502",
        True,
    )
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await connect(session, emulator)
    assert caught.value.status == 502
    bad_payloads = (
        {"proxy_mode": "nope"},
        {"proxy_mode": 1},
        {"proxy_mode": True},
        {"proxy_mode": ["redirect"]},
        {"socket_refuses_transient": "yes"},
        {"socket_refuses_transient": None},
        # Nothing of a bad request applies, not even its valid part.
        {"proxy_mode": "redirect", "silent_sockets": 1},
    )
    for bad in bad_payloads:
        assert (await post(session, emulator, "switches", json=bad))[0] == 400, bad
    assert emulator.proxy_mode is ProxyMode.STATUS_502
    payload = {"proxy_mode": None, "socket_refuses_transient": False}
    assert (await post(session, emulator, "switches", json=payload))[0] == 204
    assert (emulator.proxy_mode, emulator.socket_refuses_transient) == (None, False)
    state = json.loads((await fetch(session, emulator, "/_emulator/state"))[2])
    assert (state["proxy_mode"], state["socket_refuses_transient"]) == (None, False)
    async with connect(session, emulator) as ws:
        assert not ws.closed


async def test_control_drop_sockets(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """POST /_emulator/drop_sockets drops them and tells how many; junk is a 400."""
    async with connect(session, emulator) as ws:
        await emulator.wait_open_sockets(1)
        for junk in (b"[1]", b'{"x": 1}', b"{", b"\xff"):
            assert (await post(session, emulator, "drop_sockets", data=junk))[0] == 400
        assert emulator.open_sockets == 1
        status, _, body = await post(session, emulator, "drop_sockets")
        assert (status, json.loads(body)) == (200, {"dropped": 1})
        assert (await next_message(ws)).type in ENDED_WITHOUT_CLOSE
    async with asyncio.timeout(TIMEOUT):
        await emulator.wait_open_sockets(0)
    status, _, body = await post(session, emulator, "drop_sockets", json={})
    assert (status, json.loads(body)) == (200, {"dropped": 0})
    assert emulator.restarts == 0


async def test_control_restart_starting_for(
    hass: HomeAssistant, emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """The restart control takes starting_for too, validated like down_for."""
    bad_payloads = (
        {"starting_for": -1},
        {"starting_for": "1"},
        {"down_for": 0, "starting_for": True},
        {"starting_for": None},
        {"down_for": 1, "starting_for": 1, "x": 1},
    )
    for bad in bad_payloads:
        assert (await post(session, emulator, "restart", json=bad))[0] == 400, bad
    assert (await post(session, emulator, "restart", data=b"Infinity"))[0] == 400
    assert emulator.restarts == 0
    payload = {"down_for": 0, "starting_for": 600}
    assert (await post(session, emulator, "restart", json=payload))[0] == 204
    await until(lambda: is_starting(emulator))
    assert (emulator.restarts, emulator.rebooting) == (1, True)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=601))
    await until_fate(emulator, "served")
    assert not emulator.rebooting


@pytest.fixture
def emulator_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything the emulator logs, requests included."""
    caplog.set_level(logging.DEBUG, logger="tests.plex_emulator")
    return caplog


def emulator_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The emulator's log lines, without other loggers'."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("tests.plex_emulator")
    ]


async def test_log_records_what_happens(
    emulator: PlexEmulator,
    session: aiohttp.ClientSession,
    emulator_log: pytest.LogCaptureFixture,
) -> None:
    """Requests, restarts, reboots, revocations, switches, drops: all logged."""
    first_owner = emulator.owner_token
    transient = await issue_token(session, emulator)
    await fetch(session, emulator, f"/?X-Plex-Token={transient}")
    async with connect(session, emulator, transient) as ws:
        await emulator.wait_open_sockets(1)
        emulator.drop_sockets()
        await next_message(ws)
    emulator.restart()
    await emulator.reboot(down_for=0)
    second_owner = (json.loads((await post(session, emulator, "revoke"))[2]))[
        "owner_token"
    ]
    switches = {"proxy_mode": "redirect", "allow_without_auth": True}
    assert (await post(session, emulator, "switches", json=switches))[0] == 204
    emulator.silence_sockets(True)
    emulator.socket_refuses_transient = True
    emulator.socket_refuses_transient = True  # no change: no line
    emulator.set_fault(Fault.DROP, "/")
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(session, emulator, "/", second_owner)
    lines = emulator_lines(emulator_log)
    for expected in (
        "GET /security/token?type=&scope= -> 200",
        "GET /?X-Plex-Token= -> 200",
        "GET /:/websockets/notifications -> 101",
        "dropped 1 sockets without a close frame (server up)",
        "restart: transient tokens forgotten; 0 sockets closed with 1001",
        "reboot: serving again on 127.0.0.1:" + str(emulator.port),
        "owner token revoked: the old one no longer works",
        "switch proxy_mode: redirect",
        "switch allow_without_auth: True",
        "switch silent_sockets: True",
        "switch socket_refuses_transient: True",
        "fault: drop on /",
        "GET / -> dropped, no answer",
    ):
        assert expected in lines, expected
    assert lines.count("switch socket_refuses_transient: True") == 1
    assert not any(line.startswith("POST /_emulator") for line in lines)
    text = emulator_log.text
    for token in (first_owner, second_owner, emulator.shared_token, transient):
        assert token not in text


async def test_log_masks_tokens_in_paths(
    emulator: PlexEmulator,
    session: aiohttp.ClientSession,
    emulator_log: pytest.LogCaptureFixture,
) -> None:
    """A token in a path, or in a query's name, is masked; line breaks escaped."""
    # Shorter than a Plex token: only knowing them can mask them.
    emulator.owner_token, emulator.shared_token = "short-owner", "short-shared"
    transient = await issue_token(session, emulator)
    emulator.revoke_owner_token()  # and the old one stays masked
    for path in (
        "/library/short-owner/x",
        "/library/short-shared/x",
        f"/?{transient}=1",
        "/a%0aGET%20/forged%20-%3E%20200",
    ):
        await fetch(session, emulator, path)
    lines = emulator_lines(emulator_log)
    assert lines.count("GET /library/***/x -> 404") == 2
    assert "GET /?***= -> 401" in lines
    assert "GET /a\\x0aGET /forged -> 200 -> 404" in lines
    assert not any(line.startswith("GET /forged") for line in lines)
    for token in ("short-owner", "short-shared", transient):
        assert token not in emulator_log.text


async def test_command_line_log() -> None:
    """The CLI's log goes to stderr after the start line: requests, no token."""
    process, line = await start_cli("--log-level", "debug")
    try:
        url = line.split()[4].rstrip(";")
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/?X-Plex-Token=cli-token") as response:
                assert response.status == 200
            async with session.post(url + "/_emulator/revoke") as response:
                new_owner = (await response.json())["owner_token"]
    finally:
        log = await stop_cli(process)
    assert re.search(
        r"^\S+ \S+ DEBUG GET /\?X-Plex-Token= -> 200$", log, re.MULTILINE
    ), log
    assert re.search(r"INFO owner token revoked", log), log
    assert "cli-token" not in log
    assert new_owner not in log
