"""Async Plex Media Server client for transient tokens (no Home Assistant imports)."""

from .client import DEFAULT_TIMEOUT, MAX_BODY_BYTES, PlexClient
from .errors import (
    PlexAuthenticationError,
    PlexConnectionError,
    PlexError,
    PlexResponseError,
    PlexStatusError,
    PlexTimeoutError,
    PlexTLSError,
)
from .models import (
    TRANSIENT_TOKEN_LIFETIME,
    ClientInfo,
    PlexIdentity,
    ServerInfo,
    TransientToken,
)
from .parse import parse_media_container

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_BODY_BYTES",
    "TRANSIENT_TOKEN_LIFETIME",
    "ClientInfo",
    "PlexAuthenticationError",
    "PlexClient",
    "PlexConnectionError",
    "PlexError",
    "PlexIdentity",
    "PlexResponseError",
    "PlexStatusError",
    "PlexTLSError",
    "PlexTimeoutError",
    "ServerInfo",
    "TransientToken",
    "parse_media_container",
]
