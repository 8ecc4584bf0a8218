"""The plex.tv client: PINs, the sign-in URL, owned servers, every failure typed.

Against the plex.tv stand-in, and a hostile server for answers plex.tv would
never give. The client has no Home Assistant imports; neither do these tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import json

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest
from yarl import URL

from custom_components.plex_api.plex import (
    Address,
    PlexAuthenticationError,
    PlexConnection,
    PlexConnectionError,
    PlexPin,
    PlexPinGoneError,
    PlexResource,
    PlexResponseError,
    PlexStatusError,
    PlexTVBusyError,
    PlexTVClient,
    address_candidates,
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


async def test_pin_and_token(
    session: aiohttp.ClientSession, plextv: PlexTV, freezer: FrozenDateTimeFactory
) -> None:
    """A strong PIN; no token until allowed; the token once allowed."""
    client = client_for(session, plextv.url)
    pin = await client.create_pin("http://ha.local:8123")

    assert await client.pin_token(pin) is None
    token = plextv.approve(pin.code)
    freezer.tick(1)
    assert await client.pin_token(pin) == token
    assert plextv.pins[0].origin == "http://ha.local:8123"
    assert pin.expires_in == 1800
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


async def test_escaped_controls_in_resources(
    session: aiohttp.ClientSession, plextv: PlexTV
) -> None:
    """plex.tv's JSON escapes (ESC, line feed, C1) reach no server's name."""
    resource = plextv.add_server("Evil\x1b[2J\nPlex\x85\u2028")
    resource.platform = "Linux\x7f"
    client = client_for(session, plextv.url)

    [server] = await client.owned_servers(plextv.account_token)

    assert server.name == "Evil [2J Plex  "
    assert server.platform == "Linux "


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


GOOD_SERVER = {
    "provides": "server",
    "owned": True,
    "clientIdentifier": "abc",
    "accessToken": "token",
}
GOOD_CONNECTION = {
    "protocol": "http",
    "address": "10.0.0.5",
    "port": 32400,
    "uri": "http://10.0.0.5:32400",
}


async def owned_servers_from(
    session: aiohttp.ClientSession, body: bytes
) -> list[PlexResource]:
    """What the client makes of plex.tv answering `body` for the resources."""
    async with HostileServer(lambda _path, _headers: response(body)) as hostile:
        return await client_for(session, hostile.url).owned_servers("account-token")


async def test_odd_resources_are_skipped(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """Resources that are not usable servers, and unusable connections, are left out."""
    good = GOOD_CONNECTION
    resources = [
        {"provides": "server", "owned": True, "clientIdentifier": "a"},  # no token
        {"provides": 1, "owned": True, "clientIdentifier": "a", "accessToken": "t"},
        {
            **GOOD_SERVER,
            "connections": [
                {"protocol": "http"},
                {**good, "protocol": "ftp"},
                {**good, "address": ""},
                {**good, "address": "10.0.0.5/x"},
                {**good, "address": "10.0.0.5:80"},
                {**good, "address": "[::1]"},
                {**good, "address": "10.0.0.5\r\nX: y"},
                {**good, "address": "10.0.0.5 "},
                {**good, "address": "fe80::1%eth0"},
                {**good, "port": 0},
                {**good, "port": 65536},
                {**good, "port": True},
                {**good, "port": 32400.0},
                {**good, "port": "32400"},
                {**good, "uri": "http://[::1"},
                {**good, "uri": "https://10.0.0.5:32400"},
                {**good, "uri": "http://user@10.0.0.5:32400"},
                {**good, "uri": "http://10.0.0.5:32400/path"},
                {**good, "uri": "http://10.0.0.5:32400?q=1"},
                {**good, "uri": "http://10.0.0.5 :32400"},
                {**good, "uri": 7},
                good,
            ],
        },
    ]
    [server] = await owned_servers_from(session, json.dumps(resources).encode())

    assert server.name == "abc"  # no name: its identifier
    assert not server.online
    assert server.connections == (
        PlexConnection(
            "http", "10.0.0.5", 32400, "http://10.0.0.5:32400", False, False
        ),
    )


@pytest.mark.parametrize(
    "body",
    [
        b'["not an object"]',
        b'{"resources": []}',
        json.dumps([{**GOOD_SERVER, "connections": 5}]).encode(),
        json.dumps([{**GOOD_SERVER, "connections": True}]).encode(),
        json.dumps([{**GOOD_SERVER, "connections": ["odd"]}]).encode(),
        json.dumps([{**GOOD_SERVER, "clientIdentifier": "<b>x</b>"}]).encode(),
        json.dumps([{**GOOD_SERVER, "clientIdentifier": None}]).encode(),
        b'[{"provides": "server", "owned": true, "clientIdentifier": "abc",'
        b' "accessToken": "t", "connections": [{"port": Infinity}]}]',
        b'[{"port": 1e999}]',
    ],
    ids=[
        "item_not_object",
        "not_a_list",
        "connections_number",
        "connections_true",
        "connection_not_object",
        "identifier_markup",
        "no_identifier",
        "infinity",
        "huge_float",
    ],
)
async def test_resources_of_the_wrong_shape(
    session: aiohttp.ClientSession, socket_enabled: None, body: bytes
) -> None:
    """An answer of the wrong shape is an error, not a guess or a crash."""
    with pytest.raises(PlexResponseError):
        await owned_servers_from(session, body)


@pytest.mark.parametrize(
    "pin",
    [
        b'{"id": Infinity, "code": "abcd1234", "expiresIn": 1800}',
        b'{"id": 1e999, "code": "abcd1234", "expiresIn": 1800}',
        b'{"id": 1, "code": "abcd1234", "expiresIn": NaN}',
        b'{"id": 1, "code": "abcd1234", "expiresIn": 1e999}',
        b'{"id": 1.5, "code": "abcd1234", "expiresIn": 1800}',
        b'{"id": true, "code": "abcd1234", "expiresIn": 1800}',
        b'{"id": "12", "code": "abcd1234", "expiresIn": 1800}',
        b'{"id": 0, "code": "abcd1234", "expiresIn": 1800}',
        b'{"id": 1, "code": "abcd1234", "expiresIn": 0}',
        b'{"id": 1, "code": "<script>", "expiresIn": 1800}',
        b'{"id": 1, "code": 1234, "expiresIn": 1800}',
        b'{"id": 1, "expiresIn": 1800}',
        b'{"id": ' + str(2**64).encode() + b', "code": "abcd1234", "expiresIn": 1}',
    ],
)
async def test_pins_of_the_wrong_shape(
    session: aiohttp.ClientSession, socket_enabled: None, pin: bytes
) -> None:
    """A PIN with an odd id, code or lifetime is refused (no OverflowError)."""
    async with HostileServer(lambda _path, _headers: response(pin)) as hostile:
        with pytest.raises(PlexResponseError):
            await client_for(session, hostile.url).create_pin()


async def test_pin_life_is_capped(
    session: aiohttp.ClientSession, socket_enabled: None
) -> None:
    """A PIN claiming to live for ages lives 30 minutes, as plex.tv documents."""
    body = b'{"id": 7, "code": "abcd1234", "expiresIn": 1' + b"0" * 400 + b"}"
    async with HostileServer(lambda _path, _headers: response(body)) as hostile:
        pin = await client_for(session, hostile.url).create_pin()
    assert (pin.id, pin.expires_in) == (7, 1800)


async def test_busy_plex_tv(session: aiohttp.ClientSession, plextv: PlexTV) -> None:
    """429 is its own error: the caller backs off instead of failing."""
    client = client_for(session, plextv.url)
    pin = await client.create_pin()
    plextv.busy = True
    with pytest.raises(PlexTVBusyError):
        await client.pin_token(pin)


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

    assert address_candidates(server) == [
        Address(f"192-168-1-20.{HASH}.plex.direct", 32400, True),
        Address(f"203-0-113-7.{HASH}.plex.direct", 32400, True),
        Address("192.168.1.21", 32400, False),
        Address("192.168.1.20", 32400, False),
    ]
