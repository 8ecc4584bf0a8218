"""A plex.tv stand-in: the PIN sign-in, its auth page, the account's resources.

In real life two hosts are involved: https://plex.tv serves the API (PINs,
resources, the signed-in user) and https://app.plex.tv serves the page a person
signs in on. Here one loopback server plays both, so the integration needs a
single configurable base URL in tests. What the real service does, and the
sources for it, are in docs/plextv-notes.md; where this stand-in has to guess,
the guess is named there too.
"""

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import html
from http import HTTPStatus
import ipaddress
import itertools
import json
import secrets
import signal
import string
import sys
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
from aiohttp import web
from yarl import URL

from tests.plex_emulator.emulator import ReceivedRequest

__all__ = [
    "Connection",
    "PageAnswer",
    "Pin",
    "PlexTV",
    "ReceivedRequest",
    "Resource",
    "auth_params",
    "player",
    "plex_direct_uri",
    "server",
    "shared_server",
]

PIN_LIFETIME = 1800  # seconds; plex.tv's expiresIn for strong (auth page) PINs
LINK_PIN_LIFETIME = 900  # seconds; for the 4-character codes typed at plex.tv/link
STRONG_CODE_LENGTH = 25
LINK_CODE_LENGTH = 4
API_PREFIX = "/api/"
JSON_TYPE = "application/json"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
XML_CONTENT_TYPE = "application/xml; charset=utf-8"
CLIENT_IDENTIFIER = "X-Plex-Client-Identifier"
PRODUCT = "X-Plex-Product"
# plex.tv's error bodies: {"errors": [{"code", "message", "status"}]}.
MISSING_CLIENT_IDENTIFIER = (1000, "X-Plex-Client-Identifier is missing")
MISSING_PRODUCT = (1000, "X-Plex-Product is missing")
UNAUTHORIZED = (1001, "User could not be authenticated")
PIN_NOT_FOUND = (1020, "Code not found or expired")
# plex.tv rate-limits: 429 "too_many_requests", reported at around 10 requests a
# second (issue 18's sources). The exact limit is not published: this stand-in
# refuses a PIN polled again within half a second, stricter than reported.
TOO_MANY_REQUESTS = (1003, "too_many_requests")
MIN_POLL_INTERVAL = timedelta(seconds=0.5)
# What app.plex.tv's page says when the forwardUrl does not match the Origin the
# PIN was made with (core issues #42912 / #42900, plexio PR #10); it then never
# sends the browser on.
UNABLE_TO_MEET_DEMAND = "Unable to meet demand. You will be redirected automatically"
DEFAULT_CREATED_AT = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
# What plex.tv answers about where a PIN was made (its geo-IP guess).
PIN_LOCATION: Mapping[str, str | bool] = {
    "code": "US",
    "european_union_member": False,
    "continent_code": "NA",
    "country": "United States",
    "city": "Austin",
    "time_zone": "America/Chicago",
    "postal_code": "78732",
    "in_privacy_restricted_country": False,
    "in_privacy_restricted_region": False,
    "subdivisions": "Texas",
    "coordinates": "30.3768, -97.8935",
}

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
type Json = dict[str, Any]


def _utcnow() -> datetime:
    """Look datetime up at each call so that freezegun can move the clock."""
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """Write a time as plex.tv's v2 JSON does: UTC, seconds, a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _flag(value: str | None) -> bool:
    """Read a 0/1 (or true/false) query flag; absent means off, as on plex.tv."""
    return (value or "").strip().lower() in {"1", "true"}


def _token_of(request: web.Request) -> str | None:
    """plex.tv takes the token as a header or in the query (never send it there)."""
    return request.headers.get("X-Plex-Token") or request.query.get("X-Plex-Token")


def _is_ipv6(address: str) -> bool:
    """Tell an IPv6 literal from an IPv4 one or a host name."""
    try:
        return ipaddress.ip_address(address).version == 6
    except ValueError:
        return False


def plex_direct_uri(address: str, port: int, plex_direct_hash: str) -> str:
    """Build the https URI plex.tv announces for a server with a certificate.

    The address's separators become dashes, and the hash is the per-server part
    of the certificate's name (`*.<hash>.plex.direct`): 32 hex digits.
    """
    host = address.replace(".", "-").replace(":", "-")
    return f"https://{host}.{plex_direct_hash}.plex.direct:{port}"


def _new_code(*, strong: bool) -> str:
    """Draw a PIN code shaped like plex.tv's.

    Strong codes (for the auth page) are 25 lowercase letters and digits; the
    others are the 4 capitals and digits a person types at plex.tv/link.
    """
    if strong:
        alphabet, length = string.ascii_lowercase + string.digits, STRONG_CODE_LENGTH
    else:
        alphabet, length = string.ascii_uppercase + string.digits, LINK_CODE_LENGTH
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass(kw_only=True)
class Connection:
    """One way to reach a resource, as announced to plex.tv.

    `uri` set means a custom server access URL (Settings > Network), listed
    verbatim; otherwise the scheme and URI follow the request's include flags.
    """

    address: str
    port: int = 32400
    local: bool = True
    relay: bool = False
    uri: str | None = None

    @classmethod
    def lan(cls, address: str, port: int = 32400) -> Connection:
        """Reach the server on its own network."""
        return cls(address=address, port=port, local=True)

    @classmethod
    def wan(cls, address: str, port: int = 32400) -> Connection:
        """Reach the server on its public address (remote access)."""
        return cls(address=address, port=port, local=False)

    @classmethod
    def via_relay(cls, address: str, port: int = 8443) -> Connection:
        """Reach the server through Plex's relay (always https, plex.direct)."""
        return cls(address=address, port=port, local=False, relay=True)

    @classmethod
    def custom(cls, uri: str, *, local: bool = False) -> Connection:
        """A custom access URL such as https://plex.example.com:443."""
        url = URL(uri)
        host, port = url.host or "", url.port or 0
        return cls(address=host, port=port, local=local, uri=uri)

    @property
    def ipv6(self) -> bool:
        """Tell whether the address is an IPv6 one (plex.tv's IPv6 field)."""
        return _is_ipv6(self.address)

    def as_json(self, plex_direct_hash: str | None, *, https: bool) -> Json:
        """Render the connection, https plex.direct where the server has a cert."""
        if self.uri is not None:
            protocol, uri = URL(self.uri).scheme, self.uri
        elif plex_direct_hash and (https or self.relay):
            protocol = "https"
            uri = plex_direct_uri(self.address, self.port, plex_direct_hash)
        else:
            host = f"[{self.address}]" if self.ipv6 else self.address
            protocol, uri = "http", f"http://{host}:{self.port}"
        return {
            "protocol": protocol,
            "address": self.address,
            "port": self.port,
            "uri": uri,
            "local": self.local,
            "relay": self.relay,
            "IPv6": self.ipv6,
        }


@dataclass(kw_only=True)
class Resource:
    """One entry of GET /api/v2/resources: a server or a player of the account.

    Owned resources carry ownerId/sourceTitle null; shared ones name their owner.
    `plex_direct_hash` None means the server has no plex.direct certificate,
    so plex.tv can only announce plain http connections for it.
    """

    name: str
    client_identifier: str = field(default_factory=lambda: secrets.token_hex(20))
    product: str = "Plex Media Server"
    product_version: str = "1.42.1.10060-4e8b05daf"
    platform: str = "Linux"
    platform_version: str = "6.8.0"
    device: str = "PC"
    provides: str = "server"
    owned: bool = True
    owner_id: int | None = None
    source_title: str | None = None
    public_address: str = "203.0.113.7"
    access_token: str | None = None
    home: bool = False
    synced: bool = False
    relay: bool = True
    presence: bool = True
    https_required: bool = False
    public_address_matches: bool = True
    dns_rebinding_protection: bool = False
    nat_loopback_supported: bool = True
    created_at: datetime = DEFAULT_CREATED_AT
    last_seen_at: datetime | None = None  # None: "now" on the stand-in's clock
    plex_direct_hash: str | None = field(default_factory=lambda: secrets.token_hex(16))
    connections: list[Connection] = field(default_factory=list)

    @property
    def is_server(self) -> bool:
        """Tell a media server from a player or controller."""
        return "server" in self.provides.split(",")

    def visible_connections(
        self, *, include_relay: bool, include_ipv6: bool
    ) -> Iterator[Connection]:
        """Yield the connections plex.tv lists for these include flags."""
        for connection in self.connections:
            if connection.relay and not include_relay:
                continue
            if connection.ipv6 and not include_ipv6:
                continue
            yield connection

    def as_json(
        self,
        now: datetime,
        *,
        include_https: bool,
        include_relay: bool,
        include_ipv6: bool,
    ) -> Json:
        """Render the resource in plex.tv's v2 JSON shape, field for field.

        A server that requires secure connections is announced with https URIs
        even without includeHttps (seen in a capture of the real service).
        """
        https = include_https or self.https_required
        connections = self.visible_connections(
            include_relay=include_relay, include_ipv6=include_ipv6
        )
        return {
            "name": self.name,
            "product": self.product,
            "productVersion": self.product_version,
            "platform": self.platform,
            "platformVersion": self.platform_version,
            "device": self.device,
            "clientIdentifier": self.client_identifier,
            "createdAt": _iso(self.created_at),
            "lastSeenAt": _iso(self.last_seen_at or now),
            "provides": self.provides,
            "ownerId": None if self.owned else self.owner_id,
            "sourceTitle": None if self.owned else self.source_title,
            "publicAddress": self.public_address,
            "accessToken": self.access_token,
            "owned": self.owned,
            "home": self.home,
            "synced": self.synced,
            "relay": self.relay,
            "presence": self.presence,
            "httpsRequired": self.https_required,
            "publicAddressMatches": self.public_address_matches,
            "dnsRebindingProtection": self.dns_rebinding_protection,
            "natLoopbackSupported": self.nat_loopback_supported,
            "connections": [
                connection.as_json(self.plex_direct_hash, https=https)
                for connection in connections
            ],
        }


def server(
    name: str = "Living Room Plex",
    *,
    access_token: str | None = None,
    client_identifier: str | None = None,
    connections: Sequence[Connection] | None = None,
    https_required: bool = False,
    presence: bool = True,
) -> Resource:
    """Make a server the account owns; by default reachable on 127.0.0.1:32400."""
    resource = Resource(
        name=name,
        access_token=access_token or secrets.token_urlsafe(15),
        https_required=https_required,
        presence=presence,
        connections=list(
            [Connection.lan("127.0.0.1")] if connections is None else connections
        ),
    )
    if client_identifier is not None:
        resource.client_identifier = client_identifier
    return resource


def shared_server(
    name: str = "Friend's Plex",
    *,
    owner: str = "friend",
    owner_id: int = 21436587,
    access_token: str | None = None,
    client_identifier: str | None = None,
    connections: Sequence[Connection] | None = None,
) -> Resource:
    """Make a server someone else shared with the account (owned false).

    plex.tv hands the account a token for that server, never the owner's one.
    """
    resource = server(
        name,
        access_token=access_token,
        client_identifier=client_identifier,
        connections=[Connection.wan("198.51.100.23")]
        if connections is None
        else connections,
    )
    resource.owned, resource.owner_id, resource.source_title = False, owner_id, owner
    resource.public_address = "198.51.100.23"
    resource.public_address_matches = False
    return resource


def player(
    name: str = "Living Room TV",
    *,
    product: str = "Plex for Android (TV)",
    client_identifier: str | None = None,
    connections: Sequence[Connection] | None = None,
) -> Resource:
    """Make a player device: not a server, no certificate, no token."""
    resource = Resource(
        name=name,
        product=product,
        product_version="10.24.0.1234",
        platform="Android",
        platform_version="12",
        device="SHIELD Android TV",
        provides="player,pubsub-player,controller",
        relay=False,
        plex_direct_hash=None,
        connections=list(
            [Connection.lan("192.168.1.31", 32500)]
            if connections is None
            else connections
        ),
    )
    if client_identifier is not None:
        resource.client_identifier = client_identifier
    return resource


@dataclass(kw_only=True)
class Pin:
    """A PIN as plex.tv keeps it, plus the headers of the request that made it."""

    id: int
    code: str
    strong: bool
    client_identifier: str
    product: str
    headers: Mapping[str, str]
    created_at: datetime
    expires_at: datetime
    origin: str | None = None  # the Origin header of the request that made it
    auth_token: str | None = None
    denied: bool = False
    refused: int = 0  # approvals plex.tv's page refused (the Origin rule)
    last_polled: datetime | None = None

    def accepts_forward(self, forward_url: str | None) -> bool:
        """The Origin rule: a forwardUrl on the PIN's recorded Origin, http(s) only.

        plex.tv validates the forwardUrl's host against the Origin recorded at
        PIN creation (plexio PR #10; core's sign-in broke without an Origin,
        core #42912, fixed by PR #43081); a non-http(s) forwardUrl ends the
        sign-in (Dmbob/plex-oauth #17). No forwardUrl: nothing to check.
        """
        if forward_url is None:
            return True
        try:
            target = URL(forward_url)
            origin = target.origin() if target.scheme in ("http", "https") else None
        except ValueError:
            return False
        return origin is not None and str(origin) == self.origin

    def is_live(self, now: datetime) -> bool:
        """A denied or expired PIN is gone: plex.tv answers 404 for it."""
        return not self.denied and now < self.expires_at

    def as_json(self, now: datetime, base_url: str) -> Json:
        """Render the PIN in plex.tv's JSON shape; expiresIn counts down."""
        remaining = max(0, int((self.expires_at - now).total_seconds()))
        return {
            "id": self.id,
            "code": self.code,
            "product": self.product,
            "trusted": False,
            "qr": f"{base_url}/api/v2/pins/qr/{self.code}",
            "clientIdentifier": self.client_identifier,
            "location": dict(PIN_LOCATION),
            "expiresIn": remaining,
            "createdAt": _iso(self.created_at),
            "expiresAt": _iso(self.expires_at),
            "authToken": self.auth_token,
            "newRegistration": None,
        }


@dataclass(frozen=True, kw_only=True)
class PageAnswer:
    """What plex.tv's page did after Allow: approved, and where the browser went."""

    approved: bool
    forward_url: str | None  # None: the page stays (no forwardUrl, or refused)
    message: str


def auth_params(auth_url: str) -> dict[str, str]:
    """The parameters app.plex.tv reads from its URL's fragment (`#?a=b`)."""
    fragment = URL(auth_url).fragment
    return dict(URL(f"/?{fragment.lstrip('!').lstrip('?')}").query)


def _xml_value(value: object) -> str:
    """Write an XML attribute the Plex way: booleans as 1/0."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _xml_element(tag: str, payload: Mapping[str, Any]) -> ET.Element:
    """Turn a JSON object into an element: scalars become attributes.

    Nested objects become child elements and lists of objects a container
    (`connections` holding `connection`s); nulls and plain lists are left out.
    """
    element = ET.Element(tag)
    for key, value in payload.items():
        if isinstance(value, Mapping):
            element.append(_xml_element(key, value))
        elif isinstance(value, list):
            items = [item for item in value if isinstance(item, Mapping)]
            if items:
                container = ET.SubElement(element, key)
                container.extend(_xml_element(key.removesuffix("s"), i) for i in items)
        elif value is not None:
            element.set(key, _xml_value(value))
    return element


def _xml_body(tag: str, payload: Json | list[Json]) -> bytes:
    """Serialise a JSON payload as XML under the given root tag."""
    if isinstance(payload, list):
        root = ET.Element(tag, {"size": str(len(payload))})
        root.extend(_xml_element(tag.removesuffix("s"), item) for item in payload)
    else:
        root = _xml_element(tag, payload)
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n'
    return (declaration + ET.tostring(root, encoding="unicode")).encode()


def _html_error(status: int) -> web.Response:
    """Answer an HTML error page, as a gateway in front of plex.tv would."""
    text = html.escape(f"{status} {HTTPStatus(status).phrase}")
    body = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body>"
    return web.Response(status=status, text=body + "</html>", content_type="text/html")


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without a byte of response."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response()


AUTH_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Plex (stand-in)</title>
<style>
body { font-family: sans-serif; margin: 3em auto; max-width: 32em; }
button { font-size: 1.1em; margin-right: 1em; padding: 0.4em 1.4em; }
</style>
</head>
<body>
<main>
<h1><span id="product">An app</span> wants to access your Plex account</h1>
<p>Device: <span id="device">unknown</span></p>
<p>Code: <code id="code"></code></p>
<p>
<button id="allow" type="button">Allow</button>
<button id="deny" type="button">Deny</button>
</p>
<p id="status" role="status"></p>
</main>
<script>
"use strict";
// app.plex.tv reads its parameters from the fragment: #?a=b or #!?a=b.
const params = new URLSearchParams(window.location.hash.replace(/^#!?\\??/, ""));
const code = params.get("code") || "";
const clientID = params.get("clientID") || "";
const device = params.get("context[device][deviceName]")
  || params.get("context[device][device]");
const buttons = [document.getElementById("allow"), document.getElementById("deny")];
const status = document.getElementById("status");
document.getElementById("product").textContent =
  params.get("context[device][product]") || "An app";
document.getElementById("device").textContent = device || "unknown";
document.getElementById("code").textContent = code;

function forwardTarget() {
  const forward = params.get("forwardUrl");
  if (!forward) {
    return null;
  }
  const target = new URL(forward, window.location.href);
  return ["http:", "https:"].includes(target.protocol) ? target.href : null;
}

async function answer(action) {
  buttons.forEach((button) => { button.disabled = true; });
  const response = await fetch("/auth/" + action, {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify(
      {code: code, clientID: clientID, forwardUrl: params.get("forwardUrl")}
    ),
  });
  if (response.status === 400) {
    status.textContent = "Unable to meet demand. You will be redirected automatically";
    return;
  }
  if (!response.ok) {
    status.textContent = "This code is not valid any more.";
    return;
  }
  const target = forwardTarget();
  if (target) {
    window.location.assign(target);
  } else {
    status.textContent = "You can close this window.";
  }
}

if (!code) {
  buttons.forEach((button) => { button.disabled = true; });
  status.textContent = "No code in the address.";
}
document.getElementById("allow").addEventListener("click", () => answer("approve"));
document.getElementById("deny").addEventListener("click", () => answer("deny"));
</script>
</body>
</html>
"""


class PlexTV:
    """plex.tv and app.plex.tv on one loopback port, driven by the test."""

    def __init__(
        self,
        *,
        account_token: str | None = None,
        username: str = "plexowner",
        email: str = "owner@example.com",
        account_id: int = 13692262,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Set up the account; nothing listens until start()."""
        self.account_token = account_token or secrets.token_urlsafe(15)
        self.username = username
        self.email = email
        self.account_id = account_id
        self.account_uuid = secrets.token_hex(8)
        self.pin_lifetime = PIN_LIFETIME
        self.link_pin_lifetime = LINK_PIN_LIFETIME
        self.pins: list[Pin] = []
        self.resources: list[Resource] = []
        self.requests: list[ReceivedRequest] = []
        self.fail_with: int | None = None  # answer every API call with this status
        self.busy = False  # answer every PIN poll 429, as a plex.tv under load
        self.min_poll_interval = MIN_POLL_INTERVAL
        self.delay = 0.0  # seconds to wait before answering an API call
        self._pin_ids = itertools.count(1_272_322_473 + secrets.randbelow(10**8))
        self._clock = clock or _utcnow
        self._arrival = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._stopping = asyncio.Event()
        self._host = "127.0.0.1"
        self._port: int | None = None

    # --- what tests call -------------------------------------------------------

    def add_resource(self, resource: Resource) -> Resource:
        """List a resource on the account, after those already there."""
        self.resources.append(resource)
        return resource

    def add_server(
        self,
        name: str = "Living Room Plex",
        *,
        access_token: str | None = None,
        client_identifier: str | None = None,
        connections: Sequence[Connection] | None = None,
        https_required: bool = False,
        presence: bool = True,
    ) -> Resource:
        """List an owned server (see `server`); give it the emulator's token."""
        return self.add_resource(
            server(
                name,
                access_token=access_token,
                client_identifier=client_identifier,
                connections=connections,
                https_required=https_required,
                presence=presence,
            )
        )

    def add_shared_server(
        self,
        name: str = "Friend's Plex",
        *,
        owner: str = "friend",
        access_token: str | None = None,
        client_identifier: str | None = None,
        connections: Sequence[Connection] | None = None,
    ) -> Resource:
        """List a server shared with the account (see `shared_server`)."""
        return self.add_resource(
            shared_server(
                name,
                owner=owner,
                access_token=access_token,
                client_identifier=client_identifier,
                connections=connections,
            )
        )

    def add_player(
        self,
        name: str = "Living Room TV",
        *,
        client_identifier: str | None = None,
        connections: Sequence[Connection] | None = None,
    ) -> Resource:
        """List a player device (see `player`)."""
        return self.add_resource(
            player(name, client_identifier=client_identifier, connections=connections)
        )

    def approve(self, code_or_id: str | int, account_token: str | None = None) -> str:
        """Do what a person clicking Allow does: the PIN gets an authToken.

        A token other than `account_token` is handed out as given but refused
        by the API later, which is how a test makes a token that plex.tv rejects.
        """
        pin = self._live_pin(code_or_id)
        pin.auth_token = account_token or self.account_token
        return pin.auth_token

    def allow(self, auth_url: str) -> PageAnswer:
        """Open the sign-in page at `auth_url` and click Allow, as a person would.

        The page's rules apply (see `Pin.accepts_forward`): a forwardUrl off the
        PIN's Origin leaves the PIN unapproved and the browser on the error.
        """
        params = auth_params(auth_url)
        pin = self._live_pin(params["code"])
        forward = params.get("forwardUrl")
        if params.get("clientID") != pin.client_identifier:
            raise LookupError("the page's clientID is not the PIN's")
        if not pin.accepts_forward(forward):
            pin.refused += 1
            return PageAnswer(
                approved=False, forward_url=None, message=UNABLE_TO_MEET_DEMAND
            )
        pin.auth_token = self.account_token
        return PageAnswer(
            approved=True, forward_url=forward, message="You can close this window."
        )

    def deny(self, code_or_id: str | int) -> None:
        """Make the PIN vanish: polls get 404, as when nobody signs in in time."""
        self._live_pin(code_or_id).denied = True

    def expire(self, code_or_id: str | int) -> None:
        """Make the PIN run out now, whatever its lifetime."""
        self._live_pin(code_or_id).expires_at = self._clock()

    def revoke_account_token(self) -> str:
        """Simulate a sign-out everywhere: the old account token stops working."""
        self.account_token = secrets.token_urlsafe(15)
        return self.account_token

    def requests_for(self, path: str) -> list[ReceivedRequest]:
        """Return the requests received for a path, whatever their query."""
        return [r for r in self.requests if r.path_qs.split("?", 1)[0] == path]

    async def wait_for_request(self, path: str, count: int = 1) -> ReceivedRequest:
        """Wait until `count` requests for the path have arrived; return the last.

        Tests wait on this (say, for the integration's second PIN poll) instead
        of sleeping; put a timeout around it.
        """
        async with self._arrival:
            await self._arrival.wait_for(lambda: len(self.requests_for(path)) >= count)
        return self.requests_for(path)[count - 1]

    def urls_containing(self, secret: str) -> list[str]:
        """Return every received URL (path and query) that contains the secret."""
        return [r.path_qs for r in self.requests if secret in r.path_qs]

    # --- internals ---------------------------------------------------------------

    def _find_pin(self, code_or_id: str | int) -> Pin | None:
        """Look a PIN up by its code or its numeric id (as an int or digits)."""
        for pin in self.pins:
            if code_or_id in (pin.code, pin.id) or str(code_or_id) == str(pin.id):
                return pin
        return None

    def _live_pin(self, code_or_id: str | int) -> Pin:
        """Return a PIN that may still be approved, or raise LookupError."""
        pin = self._find_pin(code_or_id)
        if pin is None or not pin.is_live(self._clock()):
            raise LookupError(f"no live PIN {code_or_id!r}")
        return pin

    def _respond(
        self,
        request: web.Request,
        tag: str,
        payload: Json | list[Json],
        status: int = 200,
    ) -> web.Response:
        """Answer JSON when asked for it, else XML: plex.tv's default is XML."""
        if JSON_TYPE in request.headers.get("Accept", ""):
            body = json.dumps(payload).encode()
            content_type = JSON_CONTENT_TYPE
        else:
            body, content_type = _xml_body(tag, payload), XML_CONTENT_TYPE
        return web.Response(
            status=status, body=body, headers={"Content-Type": content_type}
        )

    def _error(
        self, request: web.Request, status: int, error: tuple[int, str]
    ) -> web.Response:
        """Answer plex.tv's error body: a list of {code, message, status}."""
        code, message = error
        payload = {"errors": [{"code": code, "message": message, "status": status}]}
        return self._respond(request, "errors", payload, status)

    async def _create_pin(self, request: web.Request) -> web.StreamResponse:
        """POST /api/v2/pins: X-Plex-* may come as headers, query or form fields."""
        form = await request.post()

        def value(name: str) -> str:
            found = request.headers.get(name) or request.query.get(name)
            if found is None and isinstance(form.get(name), str):
                found = str(form[name])
            return (found or "").strip()

        client_identifier, product = value(CLIENT_IDENTIFIER), value(PRODUCT)
        if not client_identifier:
            return self._error(request, 400, MISSING_CLIENT_IDENTIFIER)
        if not product:
            return self._error(request, 400, MISSING_PRODUCT)
        strong = _flag(value("strong"))
        lifetime = self.pin_lifetime if strong else self.link_pin_lifetime
        now = self._clock()
        pin = Pin(
            id=next(self._pin_ids),
            code=_new_code(strong=strong),
            strong=strong,
            client_identifier=client_identifier,
            product=product,
            headers={str(name): v for name, v in request.headers.items()},
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime),
            origin=request.headers.get("Origin"),
        )
        self.pins.append(pin)
        return self._respond(request, "pin", pin.as_json(now, self.url), 201)

    async def _poll_pin(self, request: web.Request) -> web.StreamResponse:
        """GET /api/v2/pins/{id}: the same client asks until authToken is set.

        Another client identifier gets the same 404 as an unknown PIN (a
        stand-in choice: plex.tv's exact answer there is not documented).
        """
        client_identifier = request.headers.get(CLIENT_IDENTIFIER) or request.query.get(
            CLIENT_IDENTIFIER
        )
        # Plex's "Authenticating with Plex" guide: every call names the app
        # with X-Plex-Client-Identifier and X-Plex-Product.
        if not client_identifier:
            return self._error(request, 400, MISSING_CLIENT_IDENTIFIER)
        if not (request.headers.get(PRODUCT) or request.query.get(PRODUCT)):
            return self._error(request, 400, MISSING_PRODUCT)
        pin = self._find_pin(request.match_info["pin_id"])
        now = self._clock()
        if (
            pin is None
            or not pin.is_live(now)
            or pin.client_identifier != client_identifier
        ):
            return self._error(request, 404, PIN_NOT_FOUND)
        too_soon = (
            pin.last_polled is not None
            and now - pin.last_polled < self.min_poll_interval
        )
        pin.last_polled = now
        if self.busy or too_soon:
            return self._error(request, 429, TOO_MANY_REQUESTS)
        return self._respond(request, "pin", pin.as_json(now, self.url))

    def _is_account_token(self, token: str | None) -> bool:
        """Only the account's current token is accepted."""
        return token is not None and secrets.compare_digest(token, self.account_token)

    async def _resources(self, request: web.Request) -> web.StreamResponse:
        """GET /api/v2/resources: the account's servers and players."""
        if not self._is_account_token(_token_of(request)):
            return self._error(request, 401, UNAUTHORIZED)
        now, query = self._clock(), request.query
        payload = [
            resource.as_json(
                now,
                include_https=_flag(query.get("includeHttps")),
                include_relay=_flag(query.get("includeRelay")),
                include_ipv6=_flag(query.get("includeIPv6")),
            )
            for resource in self.resources
        ]
        return self._respond(request, "resources", payload)

    async def _user(self, request: web.Request) -> web.StreamResponse:
        """GET /api/v2/user: who the token belongs to; 401 for a bad token."""
        token = _token_of(request)
        if token is None or not self._is_account_token(token):
            return self._error(request, 401, UNAUTHORIZED)
        return self._respond(request, "user", self._account_json(token))

    def _account_json(self, token: str) -> Json:
        """Describe the account as plex.tv's /api/v2/user does (main fields)."""
        return {
            "id": self.account_id,
            "uuid": self.account_uuid,
            "username": self.username,
            "title": self.username,
            "email": self.email,
            "friendlyName": "",
            "locale": None,
            "confirmed": True,
            "joinedAt": int(DEFAULT_CREATED_AT.timestamp()),
            "emailOnlyAuth": False,
            "hasPassword": True,
            "protected": False,
            "thumb": f"{self.url}/users/{self.account_uuid}/avatar",
            "authToken": token,
            "mailingListStatus": "unsubscribed",
            "mailingListActive": False,
            "scrobbleTypes": "",
            "country": "US",
            "subscription": {
                "active": False,
                "subscribedAt": None,
                "status": "Inactive",
                "paymentService": None,
                "plan": None,
                "features": [],
            },
            "subscriptionDescription": None,
            "restricted": False,
            "anonymous": False,
            "home": False,
            "guest": False,
            "homeSize": 1,
            "homeAdmin": False,
            "maxHomeSize": 15,
            "rememberExpiresAt": int((self._clock() + timedelta(days=365)).timestamp()),
            "entitlements": [],
            "roles": [],
            "services": [],
            "twoFactorEnabled": False,
            "backupCodesCreated": False,
        }

    async def _auth_page(self, _request: web.Request) -> web.StreamResponse:
        """GET /auth: app.plex.tv's sign-in page, reduced to Allow and Deny."""
        return web.Response(text=AUTH_PAGE, content_type="text/html")

    async def _auth_answer(
        self, request: web.Request, answer: Callable[[Pin], None]
    ) -> web.StreamResponse:
        """Apply the person's answer to the PIN named by {code, clientID}."""
        try:
            payload = await request.json()
            code, client_id = str(payload["code"]), payload.get("clientID")
            forward = payload.get("forwardUrl")
        except ValueError, TypeError, KeyError, AttributeError:
            return self._error(request, 400, (1000, "code is missing"))
        pin = self._find_pin(code)
        if (
            pin is None
            or pin.code != code
            or not pin.is_live(self._clock())
            or (client_id and client_id != pin.client_identifier)
        ):
            return self._error(request, 404, PIN_NOT_FOUND)
        if answer == self._approve_pin and not pin.accepts_forward(forward):
            pin.refused += 1
            return self._error(request, 400, (1000, UNABLE_TO_MEET_DEMAND))
        answer(pin)
        return web.Response(status=204)

    async def _auth_approve(self, request: web.Request) -> web.StreamResponse:
        """POST /auth/approve, what the page's Allow button sends."""
        return await self._auth_answer(request, self._approve_pin)

    async def _auth_deny(self, request: web.Request) -> web.StreamResponse:
        """POST /auth/deny, what the page's Deny button sends."""
        return await self._auth_answer(request, self._deny_pin)

    def _approve_pin(self, pin: Pin) -> None:
        """Approve with the account's token, as a signed-in person would."""
        pin.auth_token = self.account_token

    @staticmethod
    def _deny_pin(pin: Pin) -> None:
        """Forget the PIN, as plex.tv does with one nobody approved."""
        pin.denied = True

    async def _sleep(self, seconds: float) -> None:
        """Wait, but wake up at stop() so that it never hangs on us."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Record every request, then apply the API faults (delay, fail_with)."""
        headers = {str(name): value for name, value in request.headers.items()}
        self.requests.append(ReceivedRequest(request.method, request.raw_path, headers))
        async with self._arrival:
            self._arrival.notify_all()
        if request.path.startswith(API_PREFIX):
            if self.delay > 0:
                await self._sleep(self.delay)
                if self._stopping.is_set():  # a stopping server answers nothing
                    return _drop(request)
            if self.fail_with is not None:
                return _html_error(self.fail_with)
        return await handler(request)

    def make_app(self) -> web.Application:
        """Build the application: the API and the auth page side by side."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/v2/pins", self._create_pin)
        app.router.add_get("/api/v2/pins/{pin_id}", self._poll_pin)
        app.router.add_get("/api/v2/resources", self._resources)
        app.router.add_get("/api/v2/user", self._user)
        app.router.add_get("/auth", self._auth_page)
        app.router.add_get("/auth/", self._auth_page)
        app.router.add_post("/auth/approve", self._auth_approve)
        app.router.add_post("/auth/deny", self._auth_deny)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port; port 0 picks a free one."""
        if self._runner is not None:
            raise RuntimeError("the plex.tv stand-in is already running")
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        assert runner.server is not None
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                runner.server, host, port, reuse_address=True
            )
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._host = runner, host
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening; wakes delayed requests first so this returns promptly."""
        self._stopping.set()
        if self._runner is None or self._server is None:
            return
        server_, runner = self._server, self._runner
        self._server = self._runner = None
        server_.close()
        await runner.cleanup()
        server_.close_clients()
        await server_.wait_closed()

    @property
    def host(self) -> str:
        """Return the host the stand-in listens (or last listened) on."""
        return self._host

    @property
    def port(self) -> int:
        """Return the bound port; kept after stop() so start() can reuse it."""
        if self._port is None:
            raise RuntimeError("the plex.tv stand-in has not been started")
        return self._port

    @property
    def url(self) -> str:
        """Return the base URL for both the API and the auth page."""
        return f"http://{self._host}:{self.port}"

    @property
    def auth_url(self) -> str:
        """Return what stands in for https://app.plex.tv/auth."""
        return f"{self.url}/auth"

    async def __aenter__(self) -> PlexTV:
        """Start listening on a free loopback port."""
        await self.start()
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        """Stop listening."""
        await self.stop()


# --- python -m tests.plex_emulator.plextv: the stand-in for scripts/develop -----


async def _listed_server(url: URL, token: str) -> Resource:
    """A Plex server (an emulator) as the account's own, as its `/` describes it.

    Listed with its plain-HTTP LAN address only (no plex.direct certificate),
    as the emulator speaks plain HTTP: the sign-in then asks to confirm it.
    """
    headers = {"Accept": JSON_TYPE, "X-Plex-Token": token}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers) as answer,
    ):
        container = (await answer.json())["MediaContainer"]
    resource = server(
        container["friendlyName"],
        access_token=token,
        client_identifier=container["machineIdentifier"],
        connections=[Connection.lan(str(url.host), url.port or 32400)],
    )
    resource.plex_direct_hash = None
    return resource


async def _serve(args: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM, listing the given servers as owned."""
    stand_in = PlexTV()
    for url in args.server:
        stand_in.add_resource(await _listed_server(URL(url), args.server_token))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stand_in.start(args.host, args.port)
    try:
        # Scripts parse this line: keep its wording stable.
        sys.stdout.write(f"plex.tv stand-in listening on {stand_in.url}\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await stand_in.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in on its own, for scripts/develop's Sign in with Plex."""
    parser = argparse.ArgumentParser(prog="python -m tests.plex_emulator.plextv")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        help="URL of a Plex server (an emulator) the account owns; repeatable",
    )
    parser.add_argument(
        "--server-token", default="", help="the servers' owner token plex.tv hands out"
    )
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
