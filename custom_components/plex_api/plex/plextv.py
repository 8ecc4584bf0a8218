"""plex.tv's sign-in for apps: a PIN, the person's approval, the account's servers.

The integration gets a token of its own (listed under the account's Authorized
Devices by this Home Assistant's name) instead of one copied from a browser.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
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
from .models import ClientInfo, is_sendable_token

PLEX_TV: Final = URL("https://plex.tv")
APP_PLEX_TV: Final = URL("https://app.plex.tv")
_RESOURCES_QUERY: Final = {"includeHttps": "1", "includeRelay": "1"}
_MAX_PORT: Final = 65535


class PlexPinGoneError(PlexError):
    """The PIN expired or nobody approved it: a new sign-in must start."""


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

    async def create_pin(self) -> PlexPin:
        """A strong PIN, made with the client headers that name this device."""
        url = self._api.with_path("/api/v2/pins").with_query(strong="true")
        answer = _object(await self._request("POST", url, self._headers))
        try:
            return PlexPin(
                int(answer["id"]), str(answer["code"]), int(answer["expiresIn"])
            )
        except KeyError, TypeError, ValueError:
            raise PlexResponseError("plex.tv's PIN is incomplete") from None

    async def pin_token(self, pin: PlexPin) -> str | None:
        """The account token once the person allowed the app; None until then."""
        url = self._api.with_path(f"/api/v2/pins/{pin.id}")
        try:
            answer = _object(await self._request("GET", url, self._headers))
        except PlexStatusError as err:
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
        if not isinstance(answer, list):
            raise PlexResponseError("plex.tv's resources are not a list")
        return [
            resource
            for item in answer
            if isinstance(item, dict) and (resource := _owned_server(item)) is not None
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
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError, ValueError, RecursionError:
        raise PlexResponseError("plex.tv's answer is not JSON") from None


def _object(answer: Any) -> dict[str, Any]:
    """A JSON object, or a PlexResponseError."""
    if not isinstance(answer, dict):
        raise PlexResponseError("plex.tv's answer is not an object")
    return answer


def _owned_server(item: dict[str, Any]) -> PlexResource | None:
    """The resource if it is an owned server with a usable token, else None."""
    provides = str(item.get("provides") or "").split(",")
    token = item.get("accessToken")
    if (
        "server" not in provides
        or item.get("owned") is not True
        or not isinstance(token, str)
        or not is_sendable_token(token)
        or not isinstance(item.get("clientIdentifier"), str)
    ):
        return None
    return PlexResource(
        name=str(item.get("name") or item["clientIdentifier"]),
        machine_identifier=item["clientIdentifier"],
        platform=str(item.get("platform") or ""),
        version=str(item.get("productVersion") or ""),
        online=item.get("presence") is True,
        access_token=token,
        connections=tuple(
            connection
            for raw in item.get("connections") or []
            if (connection := _connection(raw)) is not None
        ),
    )


def _connection(raw: object) -> PlexConnection | None:
    """A connection with the fields needed to try it, else None."""
    if not isinstance(raw, dict):
        return None
    try:
        connection = PlexConnection(
            protocol=str(raw["protocol"]),
            address=str(raw["address"]),
            port=int(raw["port"]),
            uri=str(raw["uri"]),
            local=raw.get("local") is True,
            relay=raw.get("relay") is True,
        )
        URL(connection.uri)  # one that cannot be parsed is of no use
    except KeyError, TypeError, ValueError:
        return None
    if not connection.address or not 0 < connection.port <= _MAX_PORT:
        return None
    return connection
