"""Async client for the few Plex Media Server calls that transient tokens need."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
import re
from typing import Final

import aiohttp
from yarl import URL

from .errors import (
    PlexAuthenticationError,
    PlexConnectionError,
    PlexError,
    PlexResponseError,
    PlexStatusError,
    PlexTimeoutError,
    PlexTLSError,
    PlexWrongServerError,
)
from .models import (
    ClientInfo,
    Container,
    PlexIdentity,
    ServerInfo,
    TransientToken,
    is_sendable_token,
)
from .notifications import HEARTBEAT, NOTIFICATIONS_PATH, PlexNotifications
from .parse import parse_media_container

DEFAULT_TIMEOUT: Final = 10.0
MAX_BODY_BYTES: Final = 1024 * 1024
_REFUSED: Final = frozenset({401, 403})
_TOKEN_QUERY: Final = {"type": "delegation", "scope": "all"}
# IPv4 only: the spelling of IPv6 plex.direct names is not documented.
_PLEX_DIRECT: Final = re.compile(
    r"((?:(?:25[0-5]|2[0-4]\d|1?\d?\d)-){3}(?:25[0-5]|2[0-4]\d|1?\d?\d))"
    r"\.[0-9a-f]{32}\.plex\.direct",
    re.IGNORECASE,
)
# Closing waits this long for the server's close frame (unloading waits on it).
_WS_TIMEOUT: Final = aiohttp.ClientWSTimeout(ws_close=2.0)


class PlexClient:
    """Talks to one Plex Media Server over a session the caller owns.

    TLS verification is the session's business (or the connector's ssl context):
    the client only knows the base URL. Tokens travel in the X-Plex-Token header.
    The owner token goes to `/security/token` (`new_transient_token`), and to
    the notification socket only when its caller passes it to `notifications`:
    the lifecycle does so where the socket refused a transient token that `/`
    accepts, right after `/identity` named the entry's server.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str | URL,
        token: str,
        client_info: ClientInfo,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """Keep what every request needs; nothing is sent yet."""
        self._session = session
        self._base_url = URL(base_url).with_path("/")
        # A plex.direct name is reached at the address it encodes, its certificate
        # checked against the name: no DNS, which home routers often refuse for
        # names pointing into the LAN (DNS-rebinding protection).
        self._server_hostname = (
            self._base_url.host if plex_direct_address(self._base_url.host) else None
        )
        target = self._root_url = _connect_url(self._base_url)
        # Built once: a request is then little more than aiohttp's own work.
        self._identity_url = target.with_path("/identity")
        self._token_url = target.with_path("/security/token").with_query(_TOKEN_QUERY)
        self._notifications_url = target.with_path(NOTIFICATIONS_PATH)
        self._client_headers = {"Accept": "application/json", **client_info.headers()}
        if self._server_hostname is not None:
            self._client_headers["Host"] = self._base_url.raw_authority
        self._owner_token = token
        self._timeout = timeout

    def __repr__(self) -> str:
        """Name the server only: the owner token must never show."""
        return f"PlexClient(base_url={str(self._base_url)!r})"

    @property
    def base_url(self) -> URL:
        """The server's base URL (scheme, host and port)."""
        return self._base_url

    async def identity(self) -> PlexIdentity:
        """Ask `/identity` (no token): is it a Plex server, and which one.

        Plex serves it to anyone, so a server that wants a token for it is not Plex.
        """
        try:
            container = await self._get(self._identity_url, self._client_headers)
        except PlexAuthenticationError:
            raise PlexResponseError("/identity requires a token") from None
        return PlexIdentity.from_container(container)

    async def server_info(self, token: str) -> ServerInfo:
        """Ask `/` with `token`: the server's name, version and machine identifier."""
        container = await self._get(self._root_url, self._with_token(token))
        return ServerInfo.from_container(container)

    async def check_token(self, token: str) -> ServerInfo | None:
        """Return the server info if `token` is accepted now, None if it is refused.

        One cheap request: a transient token destroyed by a restart gets a 401 here
        (unless the server skips token checks for this client's address).
        """
        try:
            return await self.server_info(token)
        except PlexAuthenticationError:
            return None

    async def new_transient_token(self) -> TransientToken:
        """Ask the server for a new delegation token with the owner token.

        Callers that know which server they want use `verified_transient_token`:
        this one sends the owner token to whatever answers at the address.
        """
        container = await self._get(
            self._token_url, self._with_token(self._owner_token)
        )
        return TransientToken.from_container(container, datetime.now(UTC))

    async def verify(self, machine_identifier: str) -> None:
        """Refuse to go on unless `/identity` (no token) names that server."""
        identity = await self.identity()
        _expect(identity.machine_identifier, machine_identifier)

    async def verified_transient_token(
        self, machine_identifier: str, *, verified: bool = False
    ) -> tuple[ServerInfo, TransientToken]:
        """Get a new transient token from the server `machine_identifier` only.

        The trust boundary: `/identity` (no token) must name that server right
        before the owner token is sent (unless the caller `verified` it just
        now), and the new token must then open `/` of that same server, or it
        is neither kept nor handed out.
        """
        if not verified:
            await self.verify(machine_identifier)
        token = await self.new_transient_token()
        try:
            server = await self.server_info(token.token)
        except PlexAuthenticationError:
            raise PlexResponseError("The new transient token was refused") from None
        _expect(server.machine_identifier, machine_identifier)
        return server, token

    async def notifications(
        self, token: str, *, heartbeat: float = HEARTBEAT
    ) -> PlexNotifications:
        """Open the notification socket with `token` (in the header, not the URL).

        No redirect is followed (aiohttp's ws_connect would, token and all): a
        redirect is a refused upgrade, a PlexStatusError like any other.
        """
        headers = self._with_token(token)
        connector = self._session.connector
        if connector is None or connector.closed:  # the caller's session closed
            raise PlexConnectionError(f"Cannot talk to {self._base_url} (closed)")
        try:
            async with (
                asyncio.timeout(self._timeout),
                # The caller's connections, without redirects; the socket
                # outlives this session, which only borrows the connector.
                aiohttp.ClientSession(
                    connector=connector,
                    connector_owner=False,
                    middlewares=(_refuse_redirects,),
                ) as upgrade,
            ):
                socket = await upgrade.ws_connect(
                    self._notifications_url,
                    headers=headers,
                    autoping=False,
                    max_msg_size=MAX_BODY_BYTES,
                    timeout=_WS_TIMEOUT,
                    server_hostname=self._server_hostname,
                )
        except (TimeoutError, aiohttp.ClientError) as err:
            failure = self._failure(err)
        else:
            return PlexNotifications(socket, heartbeat)
        raise failure

    async def _get(self, url: URL, headers: dict[str, str]) -> Container:
        """GET a URL and return its MediaContainer; every failure is a PlexError."""
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    server_hostname=self._server_hostname,
                ) as resp,
            ):
                if resp.status in _REFUSED:
                    raise PlexAuthenticationError(f"{url.path} refused the token")
                if resp.status != 200:
                    raise PlexStatusError(resp.status)
                body = await read_capped(resp)
        except (TimeoutError, aiohttp.ClientError) as err:
            failure = self._failure(err)
        else:
            return parse_media_container(body)
        # Raised outside the except block: aiohttp's error is then not even the
        # __context__, as its text may hold what the server sent (an echoed token).
        raise failure

    def _failure(self, err: TimeoutError | aiohttp.ClientError) -> PlexError:
        """The typed error for an aiohttp failure, as a fixed text."""
        return request_failure(err, self._base_url, self._timeout)

    def _with_token(self, token: str) -> dict[str, str]:
        """Client headers plus a token; one that cannot be a header is refused."""
        if not is_sendable_token(token):
            raise PlexAuthenticationError("Token is empty or has invalid characters")
        return {**self._client_headers, "X-Plex-Token": token}

    async def media_container(
        self, token: str, path: str, query: Mapping[str, str] | None = None
    ) -> Container:
        """GET a library or transcoder `path` with `token` (a transient one).

        The same strict request as every other: the token in the header, a
        size cap, no redirect, a validated MediaContainer. The caller builds
        the path from fixed parts and digits only.
        """
        url = self._root_url.with_path(path).with_query(query or {})
        return await self._get(url, self._with_token(token))


async def _refuse_redirects(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Stop at a redirect: following it would send the token to another origin."""
    response = await handler(request)
    if 300 <= response.status < 400:
        response.close()
        raise PlexStatusError(response.status)
    return response


def plex_direct_address(host: str | None) -> str | None:
    """The IP address a plex.direct name stands for, or None for another host.

    `192-168-1-20.<32 hex digits>.plex.direct` is 192.168.1.20: plex.direct's
    DNS only spells the address back, so the client can skip the lookup.
    """
    match = _PLEX_DIRECT.fullmatch(host or "")
    if match is None:
        return None
    return match.group(1).replace("-", ".")


def _connect_url(url: URL) -> URL:
    """Where to connect: a plex.direct name's own address, else the URL itself."""
    address = plex_direct_address(url.host)
    return url if address is None else url.with_host(address)


def _expect(found: str, machine_identifier: str) -> None:
    """Refuse a server other than the one expected."""
    if found != machine_identifier:
        raise PlexWrongServerError(found)


def request_failure(
    err: TimeoutError | aiohttp.ClientError, base: URL, timeout: float
) -> PlexError:
    """The typed error for an aiohttp failure talking to `base`, as a fixed text.

    Never aiohttp's own text: it may hold what the server sent (an echoed token).
    """
    match err:
        case TimeoutError():
            return PlexTimeoutError(f"{base} did not answer within {timeout:g} s")
        case aiohttp.ClientSSLError():
            return PlexTLSError(f"TLS with {base} failed")
        case aiohttp.WSServerHandshakeError(status=status) if status in _REFUSED:
            return PlexAuthenticationError("The notification socket refused it")
        case aiohttp.WSServerHandshakeError(status=status):
            # A 101 with a broken handshake, a 200 without upgrade, a 5xx: a proxy.
            return PlexStatusError(status)
        case aiohttp.ClientResponseError():
            return PlexConnectionError(f"Bad HTTP answer from {base}")
    return PlexConnectionError(f"Cannot talk to {base} ({type(err).__name__})")


async def read_capped(resp: aiohttp.ClientResponse) -> bytes:
    """Read the body, refusing more than MAX_BODY_BYTES: Plex answers are small."""
    if resp.content_length is not None and resp.content_length > MAX_BODY_BYTES:
        raise PlexResponseError("Answer is too large")
    body = bytearray()
    while chunk := await resp.content.read(MAX_BODY_BYTES + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PlexResponseError("Answer is too large")
    return bytes(body)
