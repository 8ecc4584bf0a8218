"""Hostile servers: every answer ends as a typed client error that holds no token.

A device on the LAN can answer anything: echo the request's token into a broken
status line or header, send tokens that cannot be used, odd encodings, DTDs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import json

import aiohttp
import pytest

from custom_components.plex_api.plex import (
    MAX_TOKEN_LENGTH,
    ClientInfo,
    PlexClient,
    PlexConnectionError,
    PlexError,
    PlexResponseError,
    PlexStatusError,
    PlexWrongServerError,
)

from .hostile import XML_TRICKS, Answer, HostileServer, plex_answer, response
from .plex_emulator import PlexEmulator
from .test_client import CLIENT_INFO

OWNER = "owner-secret-token"
TOKEN_PATH = "/security/token?type=delegation&scope=all"


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def error_chain(err: BaseException) -> str:
    """The message and repr of an error and of every cause or context behind it."""
    texts: list[str] = []
    seen: BaseException | None = err
    while seen is not None:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(texts)


def echo(template: bytes) -> Answer:
    """An answer that puts the request's X-Plex-Token where `TOKEN` stands."""

    def answer(_path: str, headers: dict[str, str]) -> bytes:
        return template.replace(b"TOKEN", headers.get("x-plex-token", "").encode())

    return answer


@pytest.mark.parametrize(
    "template",
    [
        pytest.param(b"HTTP/1.1 200 TOKEN\r\nContent-Length: 0\r\n\r\n", id="reason"),
        pytest.param(b"HTTP/1.1 TOKEN OK\r\nContent-Length: 0\r\n\r\n", id="status"),
        pytest.param(b"TOKEN 200 OK\r\nContent-Length: 0\r\n\r\n", id="version"),
        pytest.param(b"HTTP/1.1 200 OK\r\nTOKEN\r\n\r\n", id="header-line"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: TOKEN\r\n\r\n", id="content-length"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nTOKEN\r\n",
            id="chunk-size",
        ),
        pytest.param(
            b"HTTP/1.1 302 Found\r\nLocation: http://evil/?t=TOKEN\r\n"
            b"Content-Length: 0\r\n\r\n",
            id="redirect",
        ),
        pytest.param(
            b"HTTP/1.1 500 TOKEN\r\nContent-Length: 5\r\n\r\nTOKEN", id="error-page"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n"
            b'{"MediaContainer": {"token": "TOKEN"',
            id="truncated",
        ),
    ],
)
async def test_echoed_token_stays_out_of_errors(
    session: aiohttp.ClientSession, template: bytes
) -> None:
    """Whatever the server echoes, the error and its chain never hold the token."""
    async with HostileServer(echo(template)) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexError) as err:
            await client.new_transient_token()

    assert OWNER not in error_chain(err.value)


@pytest.mark.parametrize(
    "token",
    [
        "transient-with\r\nX-Injected: 1",
        "transient-with space",
        "transient-with\ttab",
        "transient-\x00nul",
        "transient-\x7fdel",
        "transient-ünicode",
        "",
        "x" * (MAX_TOKEN_LENGTH + 1),
    ],
)
async def test_unusable_minted_token(
    session: aiohttp.ClientSession, token: str
) -> None:
    """A token that could not be sent back or handed on is no token at all."""
    body = json.dumps({"MediaContainer": {"token": token}}).encode()
    async with HostileServer(lambda _p, _h: response(body)) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexResponseError) as err:
            await client.new_transient_token()

    assert str(err.value) == "Answer has no usable 'token'"


async def test_longest_usable_token(session: aiohttp.ClientSession) -> None:
    """A token of the maximum length is still a token."""
    token = "t" * MAX_TOKEN_LENGTH
    body = json.dumps({"MediaContainer": {"token": token}}).encode()
    async with HostileServer(lambda _p, _h: response(body)) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        assert (await client.new_transient_token()).token == token


@pytest.mark.parametrize(
    ("body", "message"), list(XML_TRICKS.values()), ids=list(XML_TRICKS)
)
async def test_xml_tricks_are_response_errors(
    session: aiohttp.ClientSession, body: bytes, message: str
) -> None:
    """No encoding, DTD, entity or instruction gets a token through the client."""
    answer = response(body, content_type="text/xml")
    async with HostileServer(lambda _p, _h: answer) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexResponseError) as err:
            await client.new_transient_token()

    assert str(err.value) == message


async def test_latin1_is_a_response_error(session: aiohttp.ClientSession) -> None:
    """Plex speaks UTF-8: a declared ISO-8859-1 body is not read as such."""
    body = b'<?xml version="1.0" encoding="ISO-8859-1"?><MediaContainer token="\xe9"/>'
    answer = response(body, content_type="text/xml")
    async with HostileServer(lambda _p, _h: answer) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexResponseError):
            await client.new_transient_token()


@pytest.mark.parametrize(
    "body",
    [
        # The parser reads the strictly decoded UTF-8 text, so the declaration
        # can no longer make it load a codec: a bare LookupError before.
        b'<?xml version="1.0" encoding="rot_13"?><MediaContainer token="t-1"/>',
        b'<?xml version="1.0" encoding="nonexistent"?><MediaContainer token="t-1"/>',
        # White space before the declaration, as before JSON.
        b' \r\n\t<?xml version="1.0"?><MediaContainer token="t-1"/>',
        b'\xef\xbb\xbf<?xml version="1.0"?><MediaContainer token="t-1"/>',
        b'\n  {"MediaContainer": {"token": "t-1"}}',
    ],
)
async def test_declarations_and_white_space(
    session: aiohttp.ClientSession, body: bytes
) -> None:
    """Encoding declarations do not matter and leading white space is fine."""
    answer = response(body, content_type="text/xml")
    async with HostileServer(lambda _p, _h: answer) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        assert (await client.new_transient_token()).token == "t-1"


async def test_another_server_never_gets_the_owner_token(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """verified_transient_token asks /identity first and stops at another server."""
    async with PlexEmulator(owner_token=OWNER, machine_identifier="other") as other:
        client = PlexClient(session, other.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexWrongServerError) as err:
            await client.verified_transient_token("expected-server")

    assert err.value.found == "other"
    assert [r.path_qs for r in other.requests] == ["/identity"]
    assert all("X-Plex-Token" not in r.headers for r in other.requests)


async def test_verified_token_proves_itself(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """Identity, token, then `/` with the new token: three requests."""
    async with PlexEmulator(owner_token=OWNER) as emulator:
        client = PlexClient(session, emulator.url, OWNER, CLIENT_INFO)
        server, token = await client.verified_transient_token(
            emulator.machine_identifier
        )

    assert server.friendly_name == emulator.friendly_name
    assert [r.path_qs for r in emulator.requests] == ["/identity", TOKEN_PATH, "/"]
    assert emulator.requests[-1].headers["X-Plex-Token"] == token.token


def _switching_identity(path: str, headers: dict[str, str]) -> bytes:
    """/identity says one server, `/` (with the new token) another."""
    machine = "expected-server" if path == "/identity" else "impostor"
    return plex_answer(machine, "transient-1")


async def test_new_token_from_another_server_is_refused(
    session: aiohttp.ClientSession,
) -> None:
    """A token whose `/` names another server than /identity did is not kept."""
    async with HostileServer(_switching_identity) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexWrongServerError):
            await client.verified_transient_token("expected-server")


async def test_token_echoed_as_identifier_stays_out_of_the_error(
    session: aiohttp.ClientSession,
) -> None:
    """A server that names itself with the token it was just sent: no leak.

    The identifier passes the format check (a token looks like one), so the
    wrong-server error keeps it as data, never in its text.
    """

    def answer(path: str, headers: dict[str, str]) -> bytes:
        machine = "expected-server" if path == "/identity" else headers["x-plex-token"]
        return plex_answer(machine, "t-9")

    async with HostileServer(answer) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexWrongServerError) as err:
            await client.verified_transient_token("expected-server")

    assert err.value.found == "t-9"
    assert "t-9" not in str(err.value)
    assert "t-9" not in repr(err.value)


async def test_new_token_refused_right_away(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """A new token that `/` refuses at once is an answer error, not a reauth."""

    def answer(path: str, headers: dict[str, str]) -> bytes:
        if path == "/":
            return response(b"", status="401 Unauthorized")
        container = {"machineIdentifier": "m", "version": "1", "token": "t-1"}
        return response(json.dumps({"MediaContainer": container}).encode())

    async with HostileServer(answer) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexResponseError):
            await client.verified_transient_token("m")


@pytest.mark.parametrize(
    "machine",
    ["[link](http://x)", "a" * 129, "two words", "<b>"],
)
async def test_odd_machine_identifier(
    session: aiohttp.ClientSession, machine: str
) -> None:
    """A machine identifier that could carry markup or bulk is not accepted."""
    body = json.dumps(
        {"MediaContainer": {"machineIdentifier": machine, "version": "1"}}
    )
    async with HostileServer(lambda _p, _h: response(body.encode())) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexResponseError):
            await client.identity()


async def test_metadata_that_cannot_be_a_header(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """A location name with line breaks and control characters is made sendable."""
    info = ClientInfo(
        product="Home Assistant",
        version="2026.10.4",
        client_identifier="id\n",
        platform="Linux\x00",
        platform_version="",
        device="Home Assistant OS",
        device_name="Home\r\nX-Injected: yes\x07  Kitchen",
    )
    async with PlexEmulator(owner_token=OWNER) as emulator:
        client = PlexClient(session, emulator.url, OWNER, info)
        await client.identity()

    headers = emulator.requests[0].headers
    assert headers["X-Plex-Device-Name"] == "Home X-Injected: yes Kitchen"
    assert "X-Injected" not in {
        name for name in headers if name != "X-Plex-Device-Name"
    }
    assert headers["X-Plex-Client-Identifier"] == "id"
    assert headers["X-Plex-Platform"] == "Linux"
    assert headers["X-Plex-Platform-Version"] == "Unknown"


async def test_server_error_status_is_typed(session: aiohttp.ClientSession) -> None:
    """A 503 is a status error that keeps its status."""
    answer = response(b"busy", status="503 Service Unavailable")
    async with HostileServer(lambda _p, _h: answer) as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexStatusError) as err:
            await client.identity()
    assert err.value.status == 503


async def test_connection_reset_is_typed(session: aiohttp.ClientSession) -> None:
    """A server that closes without a byte is a connection error."""
    async with HostileServer(lambda _p, _h: b"") as server:
        client = PlexClient(session, server.url, OWNER, CLIENT_INFO)
        with pytest.raises(PlexConnectionError) as err:
            await client.identity()
    assert err.value.__cause__ is None
    assert err.value.__context__ is None
