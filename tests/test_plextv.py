"""Tests of the plex.tv stand-in: the sign-in tests trust what it says."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
import json
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest

from tests.plex_emulator.plextv import (
    Connection,
    PlexTV,
    Resource,
    player,
    plex_direct_uri,
    shared_server,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")

CLIENT_ID = "0f3c2d4e5a6b7c8d9e0f1a2b3c4d5e6f"
# What the integration sends to plex.tv (DESIGN.md section 3), asking for JSON.
CLIENT_HEADERS = {
    "Accept": "application/json",
    "X-Plex-Product": "Home Assistant",
    "X-Plex-Version": "2026.10.0",
    "X-Plex-Client-Identifier": CLIENT_ID,
    "X-Plex-Platform": "Linux",
    "X-Plex-Platform-Version": "6.12",
    "X-Plex-Device": "Home Assistant OS",
    "X-Plex-Device-Name": "Home",
}
HASH = "0123456789abcdef0123456789abcdef"
ALL_FLAGS = "?includeHttps=1&includeRelay=1&includeIPv6=1"


@pytest.fixture
async def plextv() -> AsyncIterator[PlexTV]:
    """A running stand-in on a free loopback port."""
    async with PlexTV() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session, closed after the test."""
    async with aiohttp.ClientSession() as client:
        yield client


async def call(
    session: aiohttp.ClientSession,
    plextv: PlexTV,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, str, str]:
    """Return status, content type and body text of one request."""
    async with session.request(
        method, plextv.url + path, headers=headers, **kwargs
    ) as response:
        return response.status, response.content_type, await response.text()


async def create_pin(
    session: aiohttp.ClientSession, plextv: PlexTV, **headers: str
) -> dict[str, Any]:
    """Create a strong PIN with the integration's headers, return its JSON."""
    status, _, body = await call(
        session,
        plextv,
        "POST",
        "/api/v2/pins?strong=true",
        CLIENT_HEADERS | headers,
    )
    assert status == 201, body
    pin: dict[str, Any] = json.loads(body)
    return pin


async def poll(
    session: aiohttp.ClientSession,
    plextv: PlexTV,
    pin_id: object,
    client_id: str = CLIENT_ID,
) -> tuple[int, Any]:
    """Poll a PIN like the integration; return status and parsed JSON."""
    headers = CLIENT_HEADERS | {"X-Plex-Client-Identifier": client_id}
    status, _, body = await call(
        session, plextv, "GET", f"/api/v2/pins/{pin_id}", headers
    )
    return status, json.loads(body)


async def resources(
    session: aiohttp.ClientSession, plextv: PlexTV, query: str = ALL_FLAGS
) -> list[dict[str, Any]]:
    """List the account's resources with its token, in a header."""
    headers = CLIENT_HEADERS | {"X-Plex-Token": plextv.account_token}
    status, _, body = await call(
        session, plextv, "GET", "/api/v2/resources" + query, headers
    )
    assert status == 200, body
    listed: list[dict[str, Any]] = json.loads(body)
    return listed


def error_of(body: str) -> tuple[int, str, int]:
    """Read the one error of a plex.tv error body."""
    (error,) = json.loads(body)["errors"]
    return error["code"], error["message"], error["status"]


async def test_create_pin_requires_client_identifier_and_product(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """Without X-Plex-Client-Identifier or X-Plex-Product plex.tv answers 400."""
    headers = {"Accept": "application/json", "X-Plex-Product": "Home Assistant"}
    status, content_type, body = await call(
        session, plextv, "POST", "/api/v2/pins?strong=true", headers
    )
    assert (status, content_type) == (400, "application/json")
    assert error_of(body) == (1000, "X-Plex-Client-Identifier is missing", 400)
    headers = {"Accept": "application/json", "X-Plex-Client-Identifier": CLIENT_ID}
    status, _, body = await call(
        session, plextv, "POST", "/api/v2/pins?strong=true", headers
    )
    assert status == 400
    assert error_of(body) == (1000, "X-Plex-Product is missing", 400)
    assert plextv.pins == []


async def test_create_pin_answer(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """A strong PIN: 25-character code, 30 minutes, no token yet."""
    pin = await create_pin(session, plextv)
    assert set(pin) == {
        "id",
        "code",
        "product",
        "trusted",
        "qr",
        "clientIdentifier",
        "location",
        "expiresIn",
        "createdAt",
        "expiresAt",
        "authToken",
        "newRegistration",
    }
    assert isinstance(pin["id"], int)
    assert len(pin["code"]) == 25
    assert pin["code"].isalnum()
    assert pin["code"] == pin["code"].lower()
    assert (pin["clientIdentifier"], pin["product"]) == (CLIENT_ID, "Home Assistant")
    assert (pin["expiresIn"], pin["authToken"]) == (1800, None)
    created = datetime.strptime(pin["createdAt"], "%Y-%m-%dT%H:%M:%S%z")
    expires = datetime.strptime(pin["expiresAt"], "%Y-%m-%dT%H:%M:%S%z")
    assert expires - created == timedelta(minutes=30)
    (recorded,) = plextv.pins
    assert (recorded.id, recorded.code, recorded.strong) == (
        pin["id"],
        pin["code"],
        True,
    )
    assert recorded.headers["X-Plex-Device-Name"] == "Home"
    assert recorded.headers["X-Plex-Version"] == "2026.10.0"


async def test_create_pin_from_form_fields(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """plex.tv also reads X-Plex-* from a form body; without strong, a link code."""
    form = {"X-Plex-Client-Identifier": "other", "X-Plex-Product": "Other app"}
    status, _, body = await call(
        session,
        plextv,
        "POST",
        "/api/v2/pins",
        {"Accept": "application/json"},
        data=form,
    )
    assert status == 201
    pin = json.loads(body)
    assert (pin["clientIdentifier"], pin["product"]) == ("other", "Other app")
    assert len(pin["code"]) == 4
    assert pin["code"] == pin["code"].upper()
    assert pin["expiresIn"] == 900
    assert plextv.pins[0].strong is False


async def test_create_pin_xml_by_default(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """Without Accept: application/json plex.tv answers XML, as PMS does."""
    headers = {k: v for k, v in CLIENT_HEADERS.items() if k != "Accept"}
    status, content_type, body = await call(
        session, plextv, "POST", "/api/v2/pins?strong=1", headers
    )
    assert (status, content_type) == (201, "application/xml")
    element = ET.fromstring(body)  # noqa: S314 (our own server: trusted input)
    assert element.tag == "pin"
    assert element.get("code") == plextv.pins[0].code
    assert element.get("trusted") == "0"
    assert "authToken" not in element.attrib
    assert element.find("location") is not None


async def test_poll_before_and_after_approve(
    plextv: PlexTV, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """The token is null until the person approves, then the account token."""
    pin = await create_pin(session, plextv)
    status, polled = await poll(session, plextv, pin["id"])
    assert (status, polled["authToken"], polled["code"]) == (200, None, pin["code"])
    assert plextv.approve(pin["code"]) == plextv.account_token
    freezer.tick(1)
    status, polled = await poll(session, plextv, pin["id"])
    assert (status, polled["authToken"]) == (200, plextv.account_token)


async def test_approve_by_id_with_another_token(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """A test may hand out a token of its choice; the API then refuses it."""
    pin = await create_pin(session, plextv)
    assert plextv.approve(pin["id"], "not-the-account-token") == "not-the-account-token"
    _, polled = await poll(session, plextv, pin["id"])
    assert polled["authToken"] == "not-the-account-token"
    headers = CLIENT_HEADERS | {"X-Plex-Token": "not-the-account-token"}
    status, _, _ = await call(session, plextv, "GET", "/api/v2/user", headers)
    assert status == 401


async def test_poll_needs_the_same_client(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """No client identifier: 400; another client's identifier: 404."""
    pin = await create_pin(session, plextv)
    status, _, body = await call(
        session,
        plextv,
        "GET",
        f"/api/v2/pins/{pin['id']}",
        {"Accept": "application/json"},
    )
    assert (status, error_of(body)[0]) == (400, 1000)
    status, body_json = await poll(session, plextv, pin["id"], client_id="someone")
    assert status == 404
    assert body_json["errors"][0]["message"] == "Code not found or expired"


async def test_unknown_and_denied_pins_are_404(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """An unknown id, a non-numeric one and a denied PIN all answer 404."""
    pin = await create_pin(session, plextv)
    for unknown in (pin["id"] + 1, "not-a-number"):
        status, body = await poll(session, plextv, unknown)
        assert status == 404
        assert body == {
            "errors": [
                {"code": 1020, "message": "Code not found or expired", "status": 404}
            ]
        }
    plextv.deny(pin["code"])
    status, _ = await poll(session, plextv, pin["id"])
    assert status == 404
    assert plextv.pins[0].denied
    with pytest.raises(LookupError):
        plextv.approve(pin["code"])


async def test_pin_expires_after_its_lifetime(
    plextv: PlexTV, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """The PIN counts down (expiresIn); at pin_lifetime it is gone (404)."""
    plextv.pin_lifetime = 600
    pin = await create_pin(session, plextv)
    assert pin["expiresIn"] == 600
    freezer.tick(timedelta(seconds=599))
    status, polled = await poll(session, plextv, pin["id"])
    assert (status, polled["expiresIn"]) == (200, 1)
    freezer.tick(timedelta(seconds=1))
    status, _ = await poll(session, plextv, pin["id"])
    assert status == 404
    with pytest.raises(LookupError):
        plextv.approve(pin["id"])


async def test_expire_now(plextv: PlexTV, session: aiohttp.ClientSession) -> None:
    """expire() ends a PIN at once, approved or not."""
    pin = await create_pin(session, plextv)
    plextv.approve(pin["id"])
    plextv.expire(pin["id"])
    status, _ = await poll(session, plextv, pin["id"])
    assert status == 404
    with pytest.raises(LookupError):
        plextv.expire(pin["id"])


async def test_injected_clock() -> None:
    """A clock can be injected instead of freezing time."""
    now = [datetime(2026, 11, 28, 12, tzinfo=UTC)]
    async with PlexTV(clock=lambda: now[0]) as plextv, aiohttp.ClientSession() as s:
        pin = await create_pin(s, plextv)
        assert pin["createdAt"] == "2026-11-28T12:00:00Z"
        assert pin["expiresAt"] == "2026-11-28T12:30:00Z"
        now[0] += timedelta(minutes=30)
        status, _ = await poll(s, plextv, pin["id"])
        assert status == 404


async def test_resources_need_the_account_token(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """No token, a wrong one or a revoked one: 401 with plex.tv's error body."""
    plextv.add_server()
    old_token = plextv.account_token
    plextv.revoke_account_token()
    for token in (None, "wrong", old_token):
        headers = dict(CLIENT_HEADERS)
        if token is not None:
            headers["X-Plex-Token"] = token
        status, content_type, body = await call(
            session, plextv, "GET", "/api/v2/resources", headers
        )
        assert (status, content_type) == (401, "application/json")
        assert error_of(body) == (1001, "User could not be authenticated", 401)
    assert len(await resources(session, plextv)) == 1


async def test_owned_server_shape(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """An owned server, every connection kind, in plex.tv's exact JSON shape."""
    resource = plextv.add_server(
        access_token="owner-token",
        client_identifier="e2b5c4f1a9d84c7b8f3e6a1d0c9b7a52",
        connections=[
            Connection.lan("192.168.1.20"),
            Connection.wan("203.0.113.7", 32401),
            Connection.via_relay("198.51.100.4"),
            Connection.lan("fd00::20"),
        ],
    )
    resource.plex_direct_hash = HASH
    resource.last_seen_at = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert await resources(session, plextv) == [
        {
            "name": "Living Room Plex",
            "product": "Plex Media Server",
            "productVersion": "1.42.1.10060-4e8b05daf",
            "platform": "Linux",
            "platformVersion": "6.8.0",
            "device": "PC",
            "clientIdentifier": "e2b5c4f1a9d84c7b8f3e6a1d0c9b7a52",
            "createdAt": "2024-01-01T10:00:00Z",
            "lastSeenAt": "2026-11-28T12:00:00Z",
            "provides": "server",
            "ownerId": None,
            "sourceTitle": None,
            "publicAddress": "203.0.113.7",
            "accessToken": "owner-token",
            "owned": True,
            "home": False,
            "synced": False,
            "relay": True,
            "presence": True,
            "httpsRequired": False,
            "publicAddressMatches": True,
            "dnsRebindingProtection": False,
            "natLoopbackSupported": True,
            "connections": [
                {
                    "protocol": "https",
                    "address": "192.168.1.20",
                    "port": 32400,
                    "uri": f"https://192-168-1-20.{HASH}.plex.direct:32400",
                    "local": True,
                    "relay": False,
                    "IPv6": False,
                },
                {
                    "protocol": "https",
                    "address": "203.0.113.7",
                    "port": 32401,
                    "uri": f"https://203-0-113-7.{HASH}.plex.direct:32401",
                    "local": False,
                    "relay": False,
                    "IPv6": False,
                },
                {
                    "protocol": "https",
                    "address": "198.51.100.4",
                    "port": 8443,
                    "uri": f"https://198-51-100-4.{HASH}.plex.direct:8443",
                    "local": False,
                    "relay": True,
                    "IPv6": False,
                },
                {
                    "protocol": "https",
                    "address": "fd00::20",
                    "port": 32400,
                    "uri": f"https://fd00--20.{HASH}.plex.direct:32400",
                    "local": True,
                    "relay": False,
                    "IPv6": True,
                },
            ],
        }
    ]


async def test_include_flags(plextv: PlexTV, session: aiohttp.ClientSession) -> None:
    """Without the flags: plain http URIs, no relay, no IPv6 connections."""
    resource = plextv.add_server(
        connections=[
            Connection.lan("192.168.1.20"),
            Connection.via_relay("198.51.100.4"),
            Connection.lan("fd00::20"),
        ]
    )
    resource.plex_direct_hash = HASH
    (listed,) = await resources(session, plextv, "")
    assert [c["uri"] for c in listed["connections"]] == ["http://192.168.1.20:32400"]
    assert listed["connections"][0]["protocol"] == "http"
    (listed,) = await resources(session, plextv, "?includeHttps=1")
    assert [c["uri"] for c in listed["connections"]] == [
        f"https://192-168-1-20.{HASH}.plex.direct:32400"
    ]
    (listed,) = await resources(session, plextv, "?includeRelay=1&includeIPv6=0")
    assert [c["uri"] for c in listed["connections"]] == [
        "http://192.168.1.20:32400",
        f"https://198-51-100-4.{HASH}.plex.direct:8443",
    ]
    (listed,) = await resources(session, plextv, "?includeIPv6=1")
    assert [c["uri"] for c in listed["connections"]][-1] == "http://[fd00::20]:32400"


async def test_https_required_and_certificate_less_servers(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """Required https forces https URIs; no certificate means http only."""
    secure = plextv.add_server("Secure", https_required=True)
    secure.plex_direct_hash = HASH
    bare = plextv.add_server("Bare")
    bare.plex_direct_hash = None
    custom = Connection.custom("https://plex.example.com:443")
    plextv.add_server("Custom", connections=[custom])
    listed = await resources(session, plextv, "")
    assert listed[0]["connections"][0]["uri"] == (
        f"https://127-0-0-1.{HASH}.plex.direct:32400"
    )
    listed = await resources(session, plextv, "?includeHttps=1")
    assert listed[1]["connections"][0]["uri"] == "http://127.0.0.1:32400"
    assert listed[2]["connections"] == [
        {
            "protocol": "https",
            "address": "plex.example.com",
            "port": 443,
            "uri": "https://plex.example.com:443",
            "local": False,
            "relay": False,
            "IPv6": False,
        }
    ]


async def test_shared_server_and_player(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """A shared server names its owner; a player is no server and has no token."""
    plextv.add_shared_server("Friend's Plex", owner="alice", access_token="shared")
    plextv.add_player("Living Room TV")
    shared, tv = await resources(session, plextv)
    assert (shared["owned"], shared["ownerId"], shared["sourceTitle"]) == (
        False,
        21436587,
        "alice",
    )
    assert (shared["accessToken"], shared["publicAddressMatches"]) == ("shared", False)
    assert [c["local"] for c in shared["connections"]] == [False]
    assert tv["provides"] == "player,pubsub-player,controller"
    assert (tv["accessToken"], tv["ownerId"], tv["owned"]) == (None, None, True)
    assert tv["connections"][0]["uri"] == "http://192.168.1.31:32500"
    assert [r.is_server for r in plextv.resources] == [True, False]


def test_builders_give_distinct_identities() -> None:
    """Each builder call makes a new server identity, hash and token."""
    first, second = shared_server(), shared_server()
    assert first.client_identifier != second.client_identifier
    assert first.plex_direct_hash != second.plex_direct_hash
    assert first.access_token != second.access_token
    assert len(first.plex_direct_hash or "") == 32
    assert player().plex_direct_hash is None
    assert isinstance(player(client_identifier="tv-1"), Resource)
    assert player(client_identifier="tv-1").client_identifier == "tv-1"


async def test_resources_xml_by_default(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """Without Accept: application/json, resources come as XML elements."""
    plextv.add_server()
    headers = {"X-Plex-Token": plextv.account_token}
    status, content_type, body = await call(
        session, plextv, "GET", "/api/v2/resources?includeHttps=1", headers
    )
    assert (status, content_type) == (200, "application/xml")
    root = ET.fromstring(body)  # noqa: S314 (our own server: trusted input)
    assert (root.tag, root.get("size")) == ("resources", "1")
    connection = root.find("resource/connections/connection")
    assert connection is not None
    assert connection.get("protocol") == "https"
    assert connection.get("local") == "1"


async def test_user(plextv: PlexTV, session: aiohttp.ClientSession) -> None:
    """GET /api/v2/user tells who signed in, and only to a valid token."""
    headers = CLIENT_HEADERS | {"X-Plex-Token": plextv.account_token}
    status, _, body = await call(session, plextv, "GET", "/api/v2/user", headers)
    assert status == 200
    user = json.loads(body)
    assert (user["username"], user["email"], user["id"]) == (
        "plexowner",
        "owner@example.com",
        13692262,
    )
    assert user["authToken"] == plextv.account_token
    status, _, body = await call(session, plextv, "GET", "/api/v2/user", CLIENT_HEADERS)
    assert (status, error_of(body)[0]) == (401, 1001)


async def test_auth_page(plextv: PlexTV, session: aiohttp.ClientSession) -> None:
    """The page has the two buttons and reads its parameters from the fragment."""
    for path in ("/auth", "/auth/"):
        status, content_type, body = await call(session, plextv, "GET", path)
        assert (status, content_type) == (200, "text/html")
        assert '<button id="allow"' in body
        assert '<button id="deny"' in body
        assert 'id="status"' in body
        assert "window.location.hash" in body
        assert '"/auth/" + action' in body
        assert "forwardUrl" in body
    assert plextv.auth_url == plextv.url + "/auth"


async def test_auth_approve_and_deny_endpoints(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """What the buttons send: approve sets the token, deny makes polls 404."""
    approved, denied = (
        await create_pin(session, plextv),
        await create_pin(session, plextv),
    )
    answer = {"code": approved["code"], "clientID": CLIENT_ID}
    status, _, _ = await call(session, plextv, "POST", "/auth/approve", json=answer)
    assert status == 204
    _, polled = await poll(session, plextv, approved["id"])
    assert polled["authToken"] == plextv.account_token
    status, _, _ = await call(
        session, plextv, "POST", "/auth/deny", json={"code": denied["code"]}
    )
    assert status == 204
    status, _ = await poll(session, plextv, denied["id"])
    assert status == 404


async def test_auth_endpoints_refuse_bad_answers(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """Another client's code, an unknown code, an id, or no body: nothing changes."""
    pin = await create_pin(session, plextv)
    for answer, expected in (
        ({"code": pin["code"], "clientID": "someone-else"}, 404),
        ({"code": "unknown"}, 404),
        ({"code": pin["id"]}, 404),
        ({}, 400),
    ):
        status, _, _ = await call(session, plextv, "POST", "/auth/approve", json=answer)
        assert status == expected
    status, _, _ = await call(session, plextv, "POST", "/auth/deny", data="not json")
    assert status == 400
    status, polled = await poll(session, plextv, pin["id"])
    assert (status, polled["authToken"]) == (200, None)


async def test_request_log(plextv: PlexTV, session: aiohttp.ClientSession) -> None:
    """Every request is recorded, so a token in a URL cannot go unnoticed."""
    plextv.add_server()
    await resources(session, plextv, "?includeHttps=1")
    assert plextv.urls_containing(plextv.account_token) == []
    last = plextv.requests[-1]
    assert (last.method, last.path_qs) == ("GET", "/api/v2/resources?includeHttps=1")
    assert last.headers["X-Plex-Token"] == plextv.account_token
    assert last.headers["X-Plex-Client-Identifier"] == CLIENT_ID
    leaky = f"/api/v2/resources?X-Plex-Token={plextv.account_token}"
    status, _, _ = await call(session, plextv, "GET", leaky)
    assert status == 200  # plex.tv accepts it there: only the log tells
    assert plextv.urls_containing(plextv.account_token) == [leaky]
    await call(session, plextv, "GET", "/auth")
    assert plextv.requests[-1].path_qs == "/auth"


async def test_fail_with(plextv: PlexTV, session: aiohttp.ClientSession) -> None:
    """fail_with answers every API call with that status; the page still works."""
    plextv.fail_with = 503
    status, content_type, _ = await call(
        session, plextv, "POST", "/api/v2/pins?strong=true", CLIENT_HEADERS
    )
    assert (status, content_type) == (503, "text/html")
    assert plextv.pins == []
    status, _, _ = await call(session, plextv, "GET", "/auth")
    assert status == 200
    plextv.fail_with = None
    await create_pin(session, plextv)
    assert len(plextv.pins) == 1


async def test_delay_then_answer(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """A short delay holds the answer back, then the call is answered as usual."""
    plextv.delay = 0.05
    status, _, _ = await call(session, plextv, "GET", "/api/v2/user", CLIENT_HEADERS)
    assert status == 401


async def test_delay_and_prompt_stop(plextv: PlexTV) -> None:
    """A delayed API call does not hold stop() up; the client sees a drop."""
    plextv.delay = 30.0
    async with aiohttp.ClientSession() as session:
        request = asyncio.create_task(
            call(session, plextv, "GET", "/api/v2/user", CLIENT_HEADERS)
        )
        received = await asyncio.wait_for(plextv.wait_for_request("/api/v2/user"), 5)
        assert received.method == "GET"
        await asyncio.wait_for(plextv.stop(), 5)
        with pytest.raises(aiohttp.ClientError):
            await request


async def test_wait_for_request_counts(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """wait_for_request waits for the n-th request of a path, query ignored."""
    pin = await create_pin(session, plextv)
    path = f"/api/v2/pins/{pin['id']}"
    second = asyncio.create_task(plextv.wait_for_request(path, count=2))
    await poll(session, plextv, pin["id"])
    assert not second.done()
    await call(session, plextv, "GET", path + "?code=x", CLIENT_HEADERS)
    received = await asyncio.wait_for(second, 5)
    assert received.path_qs == path + "?code=x"
    assert len(plextv.requests_for(path)) == 2


async def test_lifecycle() -> None:
    """Port errors before start, double start refused, restart on the same port."""
    plextv = PlexTV()
    with pytest.raises(RuntimeError):
        _ = plextv.url
    await plextv.stop()  # stopping a stopped stand-in is harmless
    await plextv.start()
    try:
        with pytest.raises(RuntimeError):
            await plextv.start()
        port = plextv.port
    finally:
        await plextv.stop()
    await plextv.start(port=port)
    try:
        assert plextv.url == f"http://127.0.0.1:{port}"
    finally:
        await plextv.stop()


def test_plex_direct_uri() -> None:
    """IPv4 dots and IPv6 colons become dashes, before the server's hash."""
    assert plex_direct_uri("192.168.1.20", 32400, HASH) == (
        f"https://192-168-1-20.{HASH}.plex.direct:32400"
    )
    assert plex_direct_uri("2001:db8::1", 32400, HASH) == (
        f"https://2001-db8--1.{HASH}.plex.direct:32400"
    )


async def test_polled_too_fast(
    plextv: PlexTV, session: aiohttp.ClientSession, freezer: FrozenDateTimeFactory
) -> None:
    """A PIN asked again within half a second, or a busy plex.tv: 429."""
    pin = await create_pin(session, plextv)
    assert (await poll(session, plextv, pin["id"]))[0] == 200
    status, body = await poll(session, plextv, pin["id"])
    assert status == 429
    assert body["errors"][0]["message"] == "too_many_requests"
    freezer.tick(0.5)
    assert (await poll(session, plextv, pin["id"]))[0] == 200
    plextv.busy = True
    freezer.tick(5)
    assert (await poll(session, plextv, pin["id"]))[0] == 429


async def test_poll_needs_the_product(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """Polling without X-Plex-Product is refused like creating without it."""
    pin = await create_pin(session, plextv)
    headers = {k: v for k, v in CLIENT_HEADERS.items() if k != "X-Plex-Product"}
    status, _, body = await call(
        session, plextv, "GET", f"/api/v2/pins/{pin['id']}", headers
    )
    assert status == 400
    assert "X-Plex-Product" in body


def page_url(plextv: PlexTV, pin: dict[str, Any], forward: str | None) -> str:
    """The sign-in page's URL as an app builds it (parameters in the fragment)."""
    query = f"clientID={CLIENT_ID}&code={pin['code']}"
    if forward is not None:
        query += "&forwardUrl=" + quote(forward, safe="")
    return f"{plextv.auth_url}#?{query}"


@pytest.mark.parametrize(
    ("origin", "forward", "approved"),
    [
        ("http://ha.local:8123", "http://ha.local:8123/cb?flow_id=1", True),
        ("http://ha.local:8123", None, True),
        (None, None, True),
        ("http://ha.local:8123", "http://192.0.2.2:8123/cb?flow_id=1", False),
        ("http://ha.local:8123", "http://ha.local:8124/cb", False),
        ("http://ha.local:8123", "https://ha.local:8123/cb", False),
        (None, "http://ha.local:8123/cb", False),
        ("http://ha.local:8123", "javascript:alert(1)", False),
        ("http://ha.local:8123", "http://[::1/cb", False),
    ],
)
async def test_the_origin_rule(
    plextv: PlexTV,
    session: aiohttp.ClientSession,
    origin: str | None,
    forward: str | None,
    approved: bool,
) -> None:
    """Allow works only with a forwardUrl on the PIN's Origin (or none at all)."""
    pin = await create_pin(session, plextv, **({"Origin": origin} if origin else {}))
    [kept] = plextv.pins
    assert kept.origin == origin

    answer = plextv.allow(page_url(plextv, pin, forward))

    assert answer.approved is approved
    assert (kept.auth_token is not None) is approved
    assert kept.refused == (0 if approved else 1)
    if approved:
        assert answer.forward_url == forward
    else:
        assert answer.forward_url is None
        assert answer.message.startswith("Unable to meet demand")


async def test_the_page_applies_the_origin_rule(
    plextv: PlexTV, session: aiohttp.ClientSession
) -> None:
    """What the page's Allow button posts is checked the same way."""
    pin = await create_pin(session, plextv, Origin="http://ha.local:8123")
    payload = {"code": pin["code"], "clientID": CLIENT_ID}
    bad = {**payload, "forwardUrl": "http://192.0.2.2:8123/cb"}
    status, _, body = await call(session, plextv, "POST", "/auth/approve", json=bad)
    assert status == 400
    assert "Unable to meet demand" in body
    assert plextv.pins[0].auth_token is None
    good = {**payload, "forwardUrl": "http://ha.local:8123/cb"}
    status, _, _ = await call(session, plextv, "POST", "/auth/approve", json=good)
    assert status == 204
    assert plextv.pins[0].auth_token == plextv.account_token
