"""plex.tv's sign-in for apps: a PIN, the person's approval, the account's servers.

The integration gets a token of its own (listed under the account's Authorized
Devices by this Home Assistant's name) instead of one copied from a browser.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import ipaddress
import json
import math
import re
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from .client import DEFAULT_TIMEOUT, read_capped, request_failure
from .errors import (
    PlexAuthenticationError,
    PlexError,
    PlexResponseError,
    PlexStatusError,
)
from .models import (
    MACHINE_IDENTIFIER as _MACHINE_IDENTIFIER,
    ClientInfo,
    is_sendable_token,
)
from .parse import clean_strings

PLEX_TV: Final = URL("https://plex.tv")
APP_PLEX_TV: Final = URL("https://app.plex.tv")
_RESOURCES_QUERY: Final = {"includeHttps": "1", "includeRelay": "1"}
_MAX_PORT: Final = 65535
# plex.tv documents 30 minutes for a strong PIN (expiresIn 1800): a longer
# lifetime in an answer is not believed, so no sign-in waits longer.
MAX_PIN_LIFETIME: Final = 1800
_MAX_PIN_ID: Final = 2**63 - 1
# Strong codes are 25 lowercase letters and digits; a little slack, no markup.
_PIN_CODE: Final = re.compile(r"[A-Za-z0-9]{4,64}")
# A host name plex.tv may announce: DNS labels (plex.direct names included).
_HOST_NAME: Final = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
    re.ASCII,
)
_TOO_MANY_REQUESTS: Final = 429


class PlexPinGoneError(PlexError):
    """The PIN expired or nobody approved it: a new sign-in must start."""


class PlexTVBusyError(PlexError):
    """plex.tv answered 429 (too_many_requests): ask less often, later."""


@dataclass(frozen=True, slots=True)
class PlexPin:
    """A sign-in in progress: the id to poll and the code the auth page takes."""

    id: int
    code: str = field(repr=False)
    expires_in: int


@dataclass(frozen=True, slots=True)
class PlexConnection:
    """One way plex.tv says a server can be reached."""

    protocol: str
    address: str
    port: int
    uri: str
    local: bool
    relay: bool


@dataclass(frozen=True, slots=True)
class PlexResource:
    """An owned Plex Media Server of the account, as plex.tv lists it."""

    name: str
    machine_identifier: str
    platform: str
    version: str
    online: bool
    access_token: str = field(repr=False)
    connections: tuple[PlexConnection, ...]


class PlexTVClient:
    """Talks to plex.tv (the API) and builds app.plex.tv's sign-in URL."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        client_info: ClientInfo,
        *,
        api: URL = PLEX_TV,
        app: URL = APP_PLEX_TV,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Keep what every call needs; nothing is sent yet."""
        self._session = session
        self._client_info = client_info
        self._headers = {"Accept": "application/json", **client_info.headers()}
        self._api = api
        self._app = app
        self._timeout = timeout

    def __repr__(self) -> str:
        """Name plex.tv's address only."""
        return f"PlexTVClient(api={str(self._api)!r})"

    async def create_pin(self, origin: str | None = None) -> PlexPin:
        """A strong PIN, made with the client headers that name this device.

        plex.tv records the `Origin` and later sends the browser only to a
        `forwardUrl` on that origin (core PR #43081, plexio PR #10).
        """
        url = self._api.with_path("/api/v2/pins").with_query(strong="true")
        headers = (
            self._headers if origin is None else {**self._headers, "Origin": origin}
        )
        answer = _object(await self._request("POST", url, headers))
        pin_id = _bounded_int(answer.get("id"), 1, _MAX_PIN_ID)
        lifetime = _bounded_int(answer.get("expiresIn"), 1, None)
        code = answer.get("code")
        if (
            pin_id is None
            or lifetime is None
            or not isinstance(code, str)
            or _PIN_CODE.fullmatch(code) is None
        ):
            raise PlexResponseError("plex.tv's PIN is incomplete")
        return PlexPin(pin_id, code, min(lifetime, MAX_PIN_LIFETIME))

    async def pin_token(self, pin: PlexPin) -> str | None:
        """The account token once the person allowed the app; None until then."""
        url = self._api.with_path(f"/api/v2/pins/{pin.id}")
        try:
            answer = _object(await self._request("GET", url, self._headers))
        except PlexStatusError as err:
            # 404 with code 1020, "Code not found or expired" (plex.tv's API).
            if err.status == 404:
                raise PlexPinGoneError("The sign-in expired or was denied") from None
            raise
        token = answer.get("authToken")
        if token is None:
            return None
        if not isinstance(token, str) or not is_sendable_token(token):
            raise PlexResponseError("plex.tv's token is not usable")
        return token

    def auth_url(self, pin: PlexPin, forward_url: str | None) -> str:
        """The page where the person signs in and allows this Home Assistant."""
        headers = self._client_info.headers()
        params = {
            "clientID": headers["X-Plex-Client-Identifier"],
            "code": pin.code,
            "context[device][product]": headers["X-Plex-Product"],
            "context[device][deviceName]": headers["X-Plex-Device-Name"],
            "context[device][platform]": headers["X-Plex-Platform"],
        }
        if forward_url:
            params["forwardUrl"] = forward_url
        # In the fragment: the browser never sends it to a server or a proxy log.
        return f"{self._app.with_path('/auth')}#?{urlencode(params)}"

    async def owned_servers(self, token: str) -> list[PlexResource]:
        """The account's own servers (not shared ones, not players)."""
        url = self._api.with_path("/api/v2/resources").with_query(_RESOURCES_QUERY)
        if not is_sendable_token(token):
            raise PlexAuthenticationError("Token is empty or has invalid characters")
        answer = await self._request(
            "GET", url, {**self._headers, "X-Plex-Token": token}
        )
        if not isinstance(answer, list) or not all(
            isinstance(item, dict) for item in answer
        ):
            raise PlexResponseError("plex.tv's resources are not a list of objects")
        return [
            resource for item in answer if (resource := _owned_server(item)) is not None
        ]

    async def _request(self, method: str, url: URL, headers: dict[str, str]) -> Any:
        """Send one call and return its JSON; every failure is a PlexError."""
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._session.request(
                    method, url, headers=headers, allow_redirects=False
                ) as resp,
            ):
                if resp.status == 401:
                    raise PlexAuthenticationError("plex.tv refused the token")
                if resp.status == _TOO_MANY_REQUESTS:
                    raise PlexTVBusyError("plex.tv asks to be asked less often")
                if resp.status not in (200, 201):
                    raise PlexStatusError(resp.status)
                body = await read_capped(resp)
        except (TimeoutError, aiohttp.ClientError) as err:
            failure = request_failure(err, self._api, self._timeout)
        else:
            return _json(body)
        raise failure


def _json(body: bytes) -> Any:
    """Strict UTF-8 JSON, or a PlexResponseError."""
    try:
        return clean_strings(
            json.loads(
                body.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite
            )
        )
    except UnicodeDecodeError, ValueError, RecursionError:
        raise PlexResponseError("plex.tv's answer is not JSON") from None


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON: plex.tv never sends them."""
    raise ValueError(name)


def _finite(text: str) -> float:
    """A JSON number as a float; `1e999` (infinity once read) is refused."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _bounded_int(value: object, low: int, high: int | None) -> int | None:
    """A JSON integer from `low` to `high`, else None (floats, bools, text are not)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if value < low or (high is not None and value > high):
        return None
    return value


def _object(answer: Any) -> dict[str, Any]:
    """A JSON object, or a PlexResponseError."""
    if not isinstance(answer, dict):
        raise PlexResponseError("plex.tv's answer is not an object")
    return answer


def _owned_server(item: dict[str, Any]) -> PlexResource | None:
    """The resource if it is an owned server with a usable token, else None.

    Raises PlexResponseError for a server whose fields have the wrong shape:
    an answer that odd is not guessed at.
    """
    provides = item.get("provides")
    token = item.get("accessToken")
    if (
        not isinstance(provides, str)
        or "server" not in provides.split(",")
        or item.get("owned") is not True
        or not isinstance(token, str)
        or not is_sendable_token(token)
    ):
        return None
    identifier = item.get("clientIdentifier")
    connections = item.get("connections", [])
    if (
        not isinstance(identifier, str)
        or _MACHINE_IDENTIFIER.fullmatch(identifier) is None
        or not isinstance(connections, list)
        or not all(isinstance(raw, dict) for raw in connections)
    ):
        raise PlexResponseError("plex.tv's server has fields of the wrong shape")
    return PlexResource(
        name=_text(item.get("name")) or identifier,
        machine_identifier=identifier,
        platform=_text(item.get("platform")),
        version=_text(item.get("productVersion")),
        online=item.get("presence") is True,
        access_token=token,
        connections=tuple(
            connection
            for raw in connections
            if (connection := _connection(raw)) is not None
        ),
    )


def _text(value: object) -> str:
    """A string field, or empty when it is missing or not a string."""
    return value if isinstance(value, str) else ""


def _connection(raw: dict[str, Any]) -> PlexConnection | None:
    """A connection that can be tried as it is, else None.

    The address is a bare IP or host name and the URI a bare http(s) origin:
    no path, user, query, brackets or spaces that would make another URL.
    """
    protocol, address, uri = raw.get("protocol"), raw.get("address"), raw.get("uri")
    port = _bounded_int(raw.get("port"), 1, _MAX_PORT)
    if (
        protocol not in ("http", "https")
        or not isinstance(address, str)
        or not is_host(address)
        or port is None
        or not isinstance(uri, str)
        or not _is_origin(uri, protocol)
    ):
        return None
    return PlexConnection(
        protocol=protocol,
        address=address,
        port=port,
        uri=uri,
        local=raw.get("local") is True,
        relay=raw.get("relay") is True,
    )


def is_host(value: str) -> bool:
    """An IP address or a DNS name, exactly (no port, brackets or white space)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return _HOST_NAME.fullmatch(value) is not None
    return "%" not in value  # a zone id names an interface of plex.tv's peer


def _is_origin(uri: str, protocol: str) -> bool:
    """`scheme://host[:port]` with that scheme and a valid host, nothing more."""
    if not uri.isascii() or any(char.isspace() for char in uri):
        return False
    try:
        url = URL(uri)
        port = url.explicit_port
    except ValueError:
        return False
    return (
        url.scheme == protocol
        and url.host is not None
        and is_host(url.host)
        and url.raw_user is None
        and url.raw_password is None
        and url.path in ("", "/")
        and not url.query_string
        and not url.fragment
        and (port is None or 0 < port <= _MAX_PORT)
    )
