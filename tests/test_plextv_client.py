"""The plex.tv client: PINs, the sign-in URL, owned servers, every failure typed.

Against the plex.tv stand-in, and a hostile server for answers plex.tv would
never give. The client has no Home Assistant imports; neither do these tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import json

import aiohttp
import pytest
from yarl import URL

from custom_components.plex_api.connection import address_candidates
from custom_components.plex_api.plex import (
    PlexAuthenticationError,
    PlexConnection,
    PlexConnectionError,
    PlexPin,
    PlexPinGoneError,
    PlexResource,
    PlexResponseError,
    PlexStatusError,
    PlexTVClient,
    plex_direct_address,
)

from .hostile import HostileServer, response
from .plex_emulator.plextv import Connection, PlexTV
from .test_client import CLIENT_INFO

HASH = "0123456789abcdef0123456789abcdef"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, as Home Assistant's shared one would be."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
async def plextv(socket_enabled: None) -> AsyncIterator[PlexTV]:
    """The plex.tv stand-in on loopback."""
    async with PlexTV() as stand_in:
        yield stand_in


def client_for(session: aiohttp.ClientSession, url: str) -> PlexTVClient:
    """A client whose plex.tv (API and page) is at `url`."""
    return PlexTVClient(session, CLIENT_INFO, api=URL(url), app=URL(url), timeout=5.0)


async def test_pin_and_token(session: aiohttp.ClientSession, plextv: PlexTV) -> None:
    """A strong PIN; no token until allowed; the token once allowed."""
    client = client_for(session, plextv.url)
    pin = await client.create_pin()

    assert await client.pin_token(pin) is None
    token = plextv.approve(pin.code)
    assert await client.pin_token(pin) == token
    assert pin.code not in repr(pin)
    assert repr(client) == f"PlexTVClient(api={plextv.url!r})"
    [created] = plextv.pins
    assert created.strong
    assert created.headers["X-Plex-Client-Identifier"] == "0c1d5e2f3a4b"


async def test_pin_gone(session: aiohttp.ClientSession, plextv: PlexTV) -> None:
    """Denied or expired: plex.tv forgets the PIN, which is final."""
    client = client_for(session, plextv.url)
    pin = await client.create_pin()
    plextv.deny(pin.code)

    with pytest.raises(PlexPinGoneError):
        await client.pin_token(pin)


def test_auth_url() -> None:
    """The sign-in page's parameters, in the fragment; forwardUrl only if given."""
    client = PlexTVClient(None, CLIENT_INFO)  # type: ignore[arg-type]
    pin = PlexPin(id=1, code="abc", expires_in=1800)

    url = URL(client.auth_url(pin, None))

    assert str(url.with_fragment(None)) == "https://app.plex.tv/auth"
    params = URL(f"/?{url.fragment.removeprefix('?')}").query
    assert params["clientID"] == "0c1d5e2f3a4b"
    assert params["code"] == "abc"
    assert params["context[device][product]"] == "Home Assistant"
    assert params["context[device][deviceName]"] == "Home"
    assert "forwardUrl" not in params


async def test_owned_servers_only(
    session: aiohttp.ClientSession, plextv: PlexTV
) -> None:
    """Owned servers with their connections; shared servers and players are not."""
    owned = plextv.add_server(connections=[Connection.lan("192.168.1.20")])
    owned.plex_direct_hash = HASH
    plextv.add_shared_server()
    plextv.add_player()
    client = client_for(session, plextv.url)

    [server] = await client.owned_servers(plextv.account_token)

    assert server.machine_identifier == owned.client_identifier
    assert server.access_token == owned.access_token
    assert server.access_token not in repr(server)
    assert server.online
    assert server.connections == (
        PlexConnection(
            protocol="https",
            address="192.168.1.20",
            port=32400,
            uri=f"https://192-168-1-20.{HASH}.plex.direct:32400",
            local=True,
            relay=False,
        ),
    )
    assert plextv.urls_containing(plextv.account_token) == []


async def test_refused_token(session: aiohttp.ClientSession, plextv: PlexTV) -> None:
    """A revoked account token, and one that cannot even be sent."""
    client = client_for(session, plextv.url)

    with pytest.raises(PlexAuthenticationError):
        await client.owned_servers("revoked-token")
    with pytest.raises(PlexAuthenticationError):
        await client.owned_servers("two words")
    assert len(plextv.requests_for("/api/v2/resources")) == 1


async def test_plex_tv_away(session: aiohttp.ClientSession, plextv: PlexTV) -> None:
    """An error page, then nobody listening: typed errors, no aiohttp text."""
    client = client_for(session, plextv.url)
    plextv.fail_with = 502
    with pytest.raises(PlexStatusError):
        await client.create_pin()
    pin = PlexPin(id=1, code="abc", expires_in=1800)
    with pytest.raises(PlexStatusError):
        await client.pin_token(pin)
    await plextv.stop()
    with pytest.raises(PlexConnectionError):
        await client.create_pin()


@pytest.mark.parametrize(
    ("body", "call"),
    [
        (b"<html>not json</html>", "create_pin"),
        (b"\xff\xfe{}", "create_pin"),
        (b"[]", "create_pin"),
        (b'{"id": "one", "code": "abc", "expiresIn": 1800}', "create_pin"),
        (b'{"code": "abc"}', "create_pin"),
        (b'{"authToken": "two words"}', "pin_token"),
        (b'{"authToken": 42}', "pin_token"),
        (b'{"servers": []}', "owned_servers"),
    ],
)
async def test_odd_answers(
    session: aiohttp.ClientSession, socket_enabled: None, body: bytes, call: str
) -> None:
    """Whatever comes back is a model or a PlexResponseError."""
    async with HostileServer(lambda _path, _headers: response(body)) as hostile:
        client = client_for(session, hostile.url)
        calls = {
            "create_pin": client.create_pin,
            "pin_token": lambda: client.pin_token(PlexPin(1, "c", 9)),
            "owned_servers": lambda: client.owned_servers("account-token"),
        }
        with pytest.raises(PlexResponseError):
            await calls[call]()


async def test_odd_resources_are_skipped(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Entries that are not usable servers, and unusable connections, are left out."""
    good = {"protocol": "http", "address": "10.0.0.5", "port": 32400, "uri": "u"}
    resources = [
        "not an object",
        {"provides": "server", "owned": True, "accessToken": "t"},  # no identifier
        {"provides": "server", "owned": True, "clientIdentifier": "a"},  # no token
        {
            "provides": "server",
            "owned": True,
            "clientIdentifier": "abc",
            "accessToken": "token",
            "connections": [
                "odd",
                {"protocol": "http"},
                {**good, "address": ""},
                {**good, "port": 0},
                {**good, "port": 65536},
                {**good, "uri": "http://[::1"},
                good,
            ],
        },
    ]
    body = json.dumps(resources).encode()
    async with HostileServer(lambda _path, _headers: response(body)) as hostile:
        client = client_for(session, hostile.url)
        [server] = await client.owned_servers("account-token")

    assert server.name == "abc"  # no name: its identifier
    assert not server.online
    assert [c.address for c in server.connections] == ["10.0.0.5"]


@pytest.mark.parametrize(
    ("host", "address"),
    [
        (f"192-168-1-20.{HASH}.plex.direct", "192.168.1.20"),
        (f"10-0-0-255.{HASH.upper()}.PLEX.DIRECT", "10.0.0.255"),
        (f"192-168-1-256.{HASH}.plex.direct", None),
        (f"192-168-1.{HASH}.plex.direct", None),
        (f"192-168-1-20.{HASH}.plex.direct.evil.example", None),
        ("192.168.1.20", None),
        (None, None),
    ],
)
def test_plex_direct_address(host: str | None, address: str | None) -> None:
    """Only a well-formed plex.direct name stands for an address."""
    assert plex_direct_address(host) == address


def test_address_candidates() -> None:
    """HTTPS local, HTTPS remote, then plain HTTP on the LAN; never the relay."""
    lan = f"https://192-168-1-20.{HASH}.plex.direct:32400"
    wan = f"https://203-0-113-7.{HASH}.plex.direct:32400"
    server = PlexResource(
        name="Plex",
        machine_identifier="abc",
        platform="Linux",
        version="1",
        online=True,
        access_token="token",
        connections=(
            PlexConnection("https", "203.0.113.7", 32400, wan, False, False),
            PlexConnection("https", "203.0.113.7", 8443, wan, False, True),
            PlexConnection("http", "192.168.1.21", 32400, "u", True, False),
            PlexConnection("https", "192.168.1.20", 32400, lan, True, False),
        ),
    )

    candidates = [
        (c["host"], c["port"], c["ssl"], c["verify_ssl"])
        for c in address_candidates(server)
    ]

    assert candidates == [
        (f"192-168-1-20.{HASH}.plex.direct", 32400, True, True),
        (f"203-0-113-7.{HASH}.plex.direct", 32400, True, True),
        ("192.168.1.21", 32400, False, True),
        ("192.168.1.20", 32400, False, True),
    ]
