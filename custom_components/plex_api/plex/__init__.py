"""Async Plex Media Server client for transient tokens (no Home Assistant imports)."""

from .client import (
    DEFAULT_TIMEOUT,
    MAX_BODY_BYTES,
    PlexClient,
    plex_direct_address,
)
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
from .notifications import (
    ANSWERED,
    NOTIFICATIONS_PATH,
    ListenerState,
    NotificationListener,
    PlexNotifications,
    SessionEnd,
)
from .parse import parse_media_container
from .plextv import (
    APP_PLEX_TV,
    PLEX_TV,
    PlexConnection,
    PlexPin,
    PlexPinGoneError,
    PlexResource,
    PlexTVClient,
)

__all__ = [
    "ANSWERED",
    "APP_PLEX_TV",
    "DEFAULT_TIMEOUT",
    "MAX_BODY_BYTES",
    "MAX_TOKEN_LENGTH",
    "NOTIFICATIONS_PATH",
    "PLEX_TV",
    "TRANSIENT_TOKEN_LIFETIME",
    "ClientInfo",
    "ListenerState",
    "NotificationListener",
    "PlexAuthenticationError",
    "PlexClient",
    "PlexConnection",
    "PlexConnectionError",
    "PlexError",
    "PlexIdentity",
    "PlexNotifications",
    "PlexPin",
    "PlexPinGoneError",
    "PlexResource",
    "PlexResponseError",
    "PlexStatusError",
    "PlexTLSError",
    "PlexTVClient",
    "PlexTimeoutError",
    "PlexWrongServerError",
    "ServerInfo",
    "SessionEnd",
    "TransientToken",
    "is_sendable_token",
    "parse_media_container",
    "plex_direct_address",
]
