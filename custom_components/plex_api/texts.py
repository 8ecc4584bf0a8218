"""What the user reads: translation keys of client errors, text from the network."""

from __future__ import annotations

import re

from .plex import (
    PlexAuthenticationError,
    PlexConnectionError,
    PlexError,
    PlexStatusError,
    PlexTimeoutError,
    PlexTLSError,
    PlexWrongServerError,
)

_MARKDOWN = re.compile(r"([!-/:-@\[-`{-~])")
_MAX_SHOWN = 100


# Checked in order: the first type that matches names the error.
_ERROR_KEYS: tuple[tuple[type[PlexError], str], ...] = (
    (PlexTimeoutError, "timeout"),
    (PlexTLSError, "ssl_error"),
    (PlexAuthenticationError, "invalid_auth"),
    (PlexWrongServerError, "wrong_server"),
    (PlexConnectionError, "cannot_connect"),
)


def error_key(err: PlexError) -> str:
    """The translation key of a client error, shared by forms, entity and action."""
    if isinstance(err, PlexStatusError):
        return _status_key(err.status)
    for kind, key in _ERROR_KEYS:
        if isinstance(err, kind):
            return key
    return "not_plex"


def _status_key(status: int) -> str:
    """The key for an unexpected HTTP status."""
    if 300 <= status < 400:
        # The client follows no redirect (the token would go along); usually a
        # reverse proxy sending HTTP to HTTPS.
        return "redirected"
    if status >= 500:
        return "cannot_connect"
    return "not_plex"


def printable(value: str) -> str:
    """Text from the network as one short, printable line (a server's name)."""
    text = "".join(char if char.isprintable() else " " for char in value)
    return " ".join(text.split())[:_MAX_SHOWN]


def markdown_text(value: str) -> str:
    """Show text from the network in a Markdown description as text only.

    A server chooses its own name: every Markdown character is escaped, so no
    link or markup gets into the form.
    """
    return _MARKDOWN.sub(r"\\\1", printable(value))
