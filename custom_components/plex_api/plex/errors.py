"""Errors of the Plex client: one small hierarchy, never a token in a message."""

from __future__ import annotations


class PlexError(Exception):
    """Base class: anything that went wrong talking to a Plex Media Server."""


class PlexConnectionError(PlexError):
    """The server could not be reached or dropped the connection."""


class PlexTimeoutError(PlexError):
    """The server did not answer within the request timeout."""


class PlexTLSError(PlexError):
    """The TLS handshake failed (for example an untrusted or mismatched certificate)."""


class PlexAuthenticationError(PlexError):
    """The server refused the token (401 or 403)."""


class PlexResponseError(PlexError):
    """The answer is not a Plex answer: HTML, malformed, truncated or too large."""


class PlexStatusError(PlexError):
    """The server answered with a status code the client does not expect."""

    def __init__(self, status: int) -> None:
        """Keep the status so callers can tell a 5xx from anything else."""
        super().__init__(f"Unexpected HTTP status {status}")
        self.status = status
