"""Async client for the few Plex Media Server calls that transient tokens need."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Final

import aiohttp
from yarl import URL

from .errors import (
    PlexAuthenticationError,
    PlexConnectionError,
    PlexResponseError,
    PlexStatusError,
    PlexTimeoutError,
    PlexTLSError,
)
from .models import ClientInfo, Container, PlexIdentity, ServerInfo, TransientToken
from .parse import parse_media_container

DEFAULT_TIMEOUT: Final = 10.0
MAX_BODY_BYTES: Final = 1024 * 1024
_REFUSED: Final = frozenset({401, 403})
_TOKEN_QUERY: Final = {"type": "delegation", "scope": "all"}


class PlexClient:
    """Talks to one Plex Media Server over a session the caller owns.

    TLS verification is the session's business (or the connector's ssl context):
    the client only knows the base URL. Tokens travel in the X-Plex-Token header.
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
        # Built once: a request is then little more than aiohttp's own work.
        self._identity_url = self._base_url.with_path("/identity")
        self._token_url = self._base_url.with_path("/security/token").with_query(
            _TOKEN_QUERY
        )
        self._client_headers = {
            "Accept": "application/json",
            **client_info.headers(),
        }
        self._owner_token = token
        self._owner_headers: dict[str, str] | None = None
        self._timeout = timeout

    def __repr__(self) -> str:
        """Name the server only: the owner token must never show."""
        return f"PlexClient(base_url={str(self._base_url)!r})"

    @property
    def base_url(self) -> URL:
        """The server's base URL (scheme, host and port)."""
        return self._base_url

    async def identity(self) -> PlexIdentity:
        """Ask `/identity` (no token needed): is it a Plex server, and which one."""
        container = await self._get(self._identity_url, self._client_headers)
        return PlexIdentity.from_container(container)

    async def server_info(self) -> ServerInfo:
        """Ask `/` with the owner token: the server's name and version."""
        container = await self._get(self._base_url, self._owner())
        return ServerInfo.from_container(container)

    async def check_token(self, token: str) -> ServerInfo | None:
        """Return the server info if `token` is accepted now, None if it is refused.

        One cheap request: a transient token destroyed by a restart gets a 401 here.
        """
        try:
            container = await self._get(self._base_url, self._with_token(token))
        except PlexAuthenticationError:
            return None
        return ServerInfo.from_container(container)

    async def new_transient_token(self) -> TransientToken:
        """Ask the server for a new delegation token with the owner token."""
        container = await self._get(self._token_url, self._owner())
        return TransientToken.from_container(container, datetime.now(UTC))

    async def _get(self, url: URL, headers: dict[str, str]) -> Container:
        """GET a URL and return its MediaContainer; every failure is a PlexError."""
        try:
            return parse_media_container(await self._fetch(url, headers))
        except aiohttp.ClientResponseError as err:
            # Its repr holds the request headers (the token): keep only the message,
            # and raise outside this block so it is not even the __context__.
            message = err.message
        raise PlexConnectionError(f"Bad HTTP answer from {self._base_url}: {message}")

    async def _fetch(self, url: URL, headers: dict[str, str]) -> bytes:
        """GET a URL and return its body; aiohttp's ClientResponseError passes."""
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._session.get(url, headers=headers, allow_redirects=False) as resp,
            ):
                if resp.status in _REFUSED:
                    raise PlexAuthenticationError(f"{url.path} refused the token")
                if resp.status != 200:
                    raise PlexStatusError(resp.status)
                body = await _read_capped(resp)
        except TimeoutError as err:
            raise PlexTimeoutError(
                f"{self._base_url} did not answer within {self._timeout:g} s"
            ) from err
        except aiohttp.ClientSSLError as err:
            raise PlexTLSError(f"TLS with {self._base_url} failed: {err}") from err
        except aiohttp.ClientResponseError:
            raise
        except aiohttp.ClientError as err:
            raise PlexConnectionError(
                f"Cannot talk to {self._base_url}: {err or type(err).__name__}"
            ) from err
        return body

    def _owner(self) -> dict[str, str]:
        """Headers with the owner token, built on first use and kept."""
        if self._owner_headers is None:
            self._owner_headers = self._with_token(self._owner_token)
        return self._owner_headers

    def _with_token(self, token: str) -> dict[str, str]:
        """Client headers plus a token; one that cannot be a header is refused."""
        if not token or not token.isprintable() or any(c.isspace() for c in token):
            raise PlexAuthenticationError("Token is empty or has invalid characters")
        return {**self._client_headers, "X-Plex-Token": token}


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    """Read the body, refusing more than MAX_BODY_BYTES: Plex answers are small."""
    if resp.content_length is not None and resp.content_length > MAX_BODY_BYTES:
        raise PlexResponseError("Answer is too large")
    body = bytearray()
    while chunk := await resp.content.read(MAX_BODY_BYTES + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PlexResponseError("Answer is too large")
    return bytes(body)
