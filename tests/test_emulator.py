"""Tests of the Plex emulator itself: the other tests trust what it says."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
import json
from pathlib import Path
import re
import ssl
import sys
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest
from yarl import URL

from tests.plex_emulator import Fault, PlexEmulator, ReceivedRequest

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
    async with PlexEmulator(https=True) as emulator:
        assert emulator.url.startswith("https://127.0.0.1:")
        assert emulator.certificate_pem is not None
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


async def test_command_line() -> None:
    """The CLI prints one parsable line, serves, and exits on SIGTERM."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.plex_emulator",
        "--port",
        "0",
        "--token",
        "cli-token",
        "--name",
        "Attic",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
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
        if process.returncode is None:
            process.terminate()
        async with asyncio.timeout(10):
            assert await process.wait() == 0
