"""Errors of the Plex client: one small hierarchy, never a token in a message.

Messages are fixed texts (plus the server's base URL, which comes from the
configuration): nothing a server sent ends up in them, since a hostile server can
echo a request's X-Plex-Token back in any part of its answer.
"""

from __future__ import annotations


class PlexError(Exception):
    """Base class: anything that went wrong talking to a Plex Media Server."""


class PlexConnectionError(PlexError):
    """The server could not be reached, dropped the connection or broke HTTP."""


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
        """Keep the status so callers can tell a redirect or a 5xx from the rest."""
        super().__init__(f"Unexpected HTTP status {status}")
        self.status = status


class PlexWrongServerError(PlexError):
    """The address answers as another Plex Media Server than the one expected."""

    def __init__(self, found: str) -> None:
        """Keep the machine identifier that answered, out of the message.

        It comes from the server, which may echo a token it was just sent as
        its identifier: the text stays fixed, so no log line can carry it.
        """
        super().__init__("Another Plex Media Server answers")
        self.found = found
