"""The Plex client against the real emulator over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from custom_components.plex_api.plex import (
    TRANSIENT_TOKEN_LIFETIME,
    ClientInfo,
    PlexAuthenticationError,
    PlexClient,
    PlexConnectionError,
    PlexError,
    PlexResponseError,
    PlexStatusError,
    PlexTimeoutError,
    PlexTLSError,
    TransientToken,
)

from .hostile import HostileServer, response
from .plex_emulator import Fault, PlexEmulator

CLIENT_INFO = ClientInfo(
    product="Home Assistant",
    version="2026.10.4",
    client_identifier="0c1d5e2f3a4b",
    platform="Linux",
    platform_version="6.12.0",
    device="Home Assistant Core",
    device_name="Home",
)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, as Home Assistant's shared one would be."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def make_client(
    session: aiohttp.ClientSession,
    emulator: PlexEmulator,
    token: str | None = None,
    timeout: float = 5.0,
) -> PlexClient:
    """A client for the emulator, with the owner token unless told otherwise."""
    return PlexClient(
        session,
        emulator.url,
        emulator.owner_token if token is None else token,
        CLIENT_INFO,
        timeout=timeout,
    )


async def test_identity_needs_no_token(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """`/identity` answers who the server is, and the client sends no token."""
    identity = await make_client(session, emulator).identity()

    assert identity.machine_identifier == emulator.machine_identifier
    assert identity.version == emulator.version
    assert identity.claimed is True
    assert "X-Plex-Token" not in emulator.requests[-1].headers


async def test_new_token_and_check(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A new transient token is accepted by `/`, which returns the server info."""
    client = make_client(session, emulator)

    token = await client.new_transient_token()
    info = await client.check_token(token.token)

    assert token.token in emulator.transient_tokens
    assert token.expires_at - token.issued_at == TRANSIENT_TOKEN_LIFETIME
    assert info is not None
    assert info.friendly_name == emulator.friendly_name
    assert info.machine_identifier == emulator.machine_identifier
    assert info.platform == "Linux"
    assert await client.server_info(token.token) == info


async def test_headers_sent(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Every request carries the client headers; the token only in its header."""
    client = make_client(session, emulator)
    await client.identity()
    await client.server_info(emulator.owner_token)
    await client.new_transient_token()

    request = emulator.requests[-1]
    assert request.method == "GET"
    assert request.path_qs == "/security/token?type=delegation&scope=all"
    headers = {key.lower(): value for key, value in request.headers.items()}
    assert headers["accept"] == "application/json"
    assert headers["x-plex-product"] == "Home Assistant"
    assert headers["x-plex-version"] == "2026.10.4"
    assert headers["x-plex-client-identifier"] == "0c1d5e2f3a4b"
    assert headers["x-plex-platform"] == "Linux"
    assert headers["x-plex-platform-version"] == "6.12.0"
    assert headers["x-plex-device"] == "Home Assistant Core"
    assert headers["x-plex-device-name"] == "Home"
    assert headers["x-plex-token"] == emulator.owner_token
    for seen in emulator.requests:
        assert emulator.owner_token not in seen.path_qs
        assert "token=" not in seen.path_qs.lower().replace("/security/token", "")


async def test_xml_answers(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A server that answers XML although JSON was asked for still works."""
    emulator.xml_only = True
    client = make_client(session, emulator)

    identity = await client.identity()
    token = await client.new_transient_token()
    info = await client.check_token(token.token)

    assert identity.claimed is True
    assert identity.machine_identifier == emulator.machine_identifier
    assert token.token.startswith("transient-")
    assert info is not None
    assert info.friendly_name == emulator.friendly_name


async def test_refused_tokens(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """401 and 403 are authentication errors; a refused check is None."""
    shared = make_client(session, emulator, token=emulator.shared_token)
    with pytest.raises(PlexAuthenticationError):
        await shared.new_transient_token()
    assert await shared.check_token(emulator.shared_token) is not None

    client = make_client(session, emulator)
    old = emulator.owner_token
    emulator.revoke_owner_token()
    with pytest.raises(PlexAuthenticationError) as err:
        await client.new_transient_token()
    assert old not in str(err.value)
    assert await client.check_token("transient-unknown") is None


@pytest.mark.parametrize("token", ["", "with space", "line\nbreak", "tab\there"])
async def test_unsendable_token(
    emulator: PlexEmulator, session: aiohttp.ClientSession, token: str
) -> None:
    """A token that cannot be a header value is refused before anything is sent."""
    with pytest.raises(PlexAuthenticationError):
        await make_client(session, emulator, token=token).new_transient_token()
    with pytest.raises(PlexAuthenticationError):
        await make_client(session, emulator).server_info(token)
    assert emulator.requests == []


async def test_identity_wanting_a_token_is_not_plex(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """Plex serves `/identity` to anyone: a 401 there means it is not Plex."""
    answer = response(b"Unauthorized", status="401 Unauthorized")
    async with HostileServer(lambda _path, _headers: answer) as server:
        client = PlexClient(session, server.url, "owner", CLIENT_INFO)
        with pytest.raises(PlexResponseError):
            await client.identity()


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.SERVER_ERROR, PlexStatusError),
        (Fault.HTML, PlexResponseError),
        (Fault.TRUNCATED_JSON, PlexResponseError),
        (Fault.WRONG_CONTENT, PlexResponseError),
        (Fault.OVERSIZED, PlexResponseError),
        (Fault.OVERSIZED_DECLARED, PlexResponseError),
        (Fault.DROP, PlexConnectionError),
        (Fault.XML_WITHOUT_TOKEN, PlexResponseError),
        (Fault.DELAY, PlexTimeoutError),
    ],
)
async def test_faults(
    emulator: PlexEmulator,
    session: aiohttp.ClientSession,
    fault: Fault,
    error: type[PlexError],
) -> None:
    """Each fault becomes its typed error, whose message holds no token."""
    emulator.delay = 0.5
    emulator.set_fault(fault)
    client = make_client(session, emulator, timeout=0.2)

    with pytest.raises(error) as err:
        await client.new_transient_token()

    assert emulator.owner_token not in str(err.value)
    assert emulator.owner_token not in repr(err.value)


async def test_fault_on_one_path(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A fault limited to `/identity` leaves the token call working."""
    emulator.set_fault(Fault.HTML, "/identity")
    client = make_client(session, emulator)

    with pytest.raises(PlexResponseError):
        await client.identity()
    assert (await client.new_transient_token()).token in emulator.transient_tokens


async def test_restart_destroys_tokens(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """A simulated restart makes the server refuse the transient token."""
    client = make_client(session, emulator)
    token = await client.new_transient_token()
    assert await client.check_token(token.token) is not None

    emulator.restart()

    assert await client.check_token(token.token) is None
    assert await client.check_token(emulator.owner_token) is not None


async def test_server_down(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Nothing listening: a connection error that names the server, not the token."""
    client = make_client(session, emulator)
    await emulator.stop()

    with pytest.raises(PlexConnectionError) as err:
        await client.identity()

    assert "127.0.0.1" in str(err.value)
    assert emulator.owner_token not in str(err.value)


async def test_https_certificate(socket_enabled: None) -> None:
    """Self-signed HTTPS: verification fails with a TLS error, and works when off."""
    async with PlexEmulator(https=True) as emulator:
        assert emulator.url.startswith("https://")
        async with aiohttp.ClientSession() as verifying:
            with pytest.raises(PlexTLSError):
                await make_client(verifying, emulator).identity()
        connector = aiohttp.TCPConnector(ssl=False)
        async with aiohttp.ClientSession(connector=connector) as trusting:
            identity = await make_client(trusting, emulator).identity()
        assert identity.machine_identifier == emulator.machine_identifier


async def test_https_to_plain_server(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """HTTPS to a plain HTTP port fails as a TLS error."""
    client = PlexClient(
        session, emulator.url.replace("http://", "https://"), "x", CLIENT_INFO
    )
    with pytest.raises(PlexTLSError):
        await client.identity()
    assert emulator.requests == []


async def test_repr_hides_tokens(
    emulator: PlexEmulator, session: aiohttp.ClientSession
) -> None:
    """Neither the client nor a token shows a token when printed."""
    client = make_client(session, emulator)
    token = await client.new_transient_token()

    for text in (repr(client), repr(token), str(token)):
        assert emulator.owner_token not in text
        assert token.token not in text
    assert repr(client) == f"PlexClient(base_url='{emulator.url}/')"
    assert str(client.base_url) == f"{emulator.url}/"
    assert isinstance(token, TransientToken)


async def test_not_http_on_the_port(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """Another protocol on the port (here an SSH-like banner) is a connection error."""

    async def banner(
        _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(banner, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = PlexClient(
        session, f"http://127.0.0.1:{port}", "secret-owner", CLIENT_INFO
    )
    try:
        with pytest.raises(PlexConnectionError) as err:
            await client.new_transient_token()
    finally:
        server.close()
        await server.wait_closed()

    assert "secret-owner" not in str(err.value)
    assert err.value.__cause__ is None
    assert err.value.__context__ is None
