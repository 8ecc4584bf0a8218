"""Async Plex Media Server client for transient tokens (no Home Assistant imports)."""

from .client import DEFAULT_HEARTBEAT, DEFAULT_TIMEOUT, MAX_BODY_BYTES, PlexClient
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
    MAX_TOKEN_LENGTH,
    TRANSIENT_TOKEN_LIFETIME,
    ClientInfo,
    PlexIdentity,
    ServerInfo,
    TransientToken,
    is_sendable_token,
)
from .notifications import CLOSED_BY_SERVER, NOTIFICATIONS_PATH, PlexNotifications
from .parse import parse_media_container

__all__ = [
    "CLOSED_BY_SERVER",
    "DEFAULT_HEARTBEAT",
    "DEFAULT_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_TOKEN_LENGTH",
    "NOTIFICATIONS_PATH",
    "TRANSIENT_TOKEN_LIFETIME",
    "ClientInfo",
    "PlexAuthenticationError",
    "PlexClient",
    "PlexConnectionError",
    "PlexError",
    "PlexIdentity",
    "PlexNotifications",
    "PlexResponseError",
    "PlexStatusError",
    "PlexTLSError",
    "PlexTimeoutError",
    "PlexWrongServerError",
    "ServerInfo",
    "TransientToken",
    "is_sendable_token",
    "parse_media_container",
]
