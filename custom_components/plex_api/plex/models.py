"""Typed answers of a Plex Media Server, built from a parsed MediaContainer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import re
import unicodedata

from .errors import PlexResponseError

TRANSIENT_TOKEN_LIFETIME = timedelta(hours=48)
# What a token must be to travel in a header and be handed on: printable ASCII
# without spaces, of a sane length. Real ones are "transient-" and a UUID.
MAX_TOKEN_LENGTH = 4096
_TOKEN = re.compile(rf"[\x21-\x7e]{{1,{MAX_TOKEN_LENGTH}}}")
# Machine identifiers are hex strings; anything printable and short is accepted,
# so the id can be shown and compared without carrying markup or a token's size.
MACHINE_IDENTIFIER = re.compile(r"[\w.:-]{1,128}", re.ASCII)
_MAX_HEADER_VALUE = 128

type Container = Mapping[str, object]


def is_sendable_token(token: str) -> bool:
    """Whether `token` can be sent in a header and handed on as it is."""
    return _TOKEN.fullmatch(token) is not None


def _header_value(value: str, default: str) -> str:
    """Make Home Assistant's metadata a valid, readable header value.

    A location name may hold line breaks or control characters, which no header
    can carry: they become spaces, runs of white space one space, and an empty
    result the default.
    """
    text = "".join(
        " " if unicodedata.category(char).startswith(("C", "Z")) else char
        for char in value
    )
    text = " ".join(text.split())[:_MAX_HEADER_VALUE].strip()
    return text or default


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """Who is calling: becomes the X-Plex-* headers that Plex shows under devices."""

    product: str
    version: str
    client_identifier: str
    platform: str
    platform_version: str
    device: str
    device_name: str

    def headers(self) -> dict[str, str]:
        """Return the X-Plex-* client headers, each a valid header value."""
        return {
            "X-Plex-Product": _header_value(self.product, "Home Assistant"),
            "X-Plex-Version": _header_value(self.version, "unknown"),
            "X-Plex-Client-Identifier": _header_value(
                self.client_identifier, "home-assistant"
            ),
            "X-Plex-Platform": _header_value(self.platform, "Unknown"),
            "X-Plex-Platform-Version": _header_value(self.platform_version, "Unknown"),
            "X-Plex-Device": _header_value(self.device, "Home Assistant"),
            "X-Plex-Device-Name": _header_value(self.device_name, "Home Assistant"),
        }


@dataclass(frozen=True, slots=True)
class PlexIdentity:
    """What `/identity` tells without a token: enough to know which server this is."""

    machine_identifier: str
    version: str
    claimed: bool

    @classmethod
    def from_container(cls, container: Container) -> PlexIdentity:
        """Build from a MediaContainer; missing fields mean it is not a Plex server."""
        return cls(
            machine_identifier=_machine_identifier(container),
            version=_text(container, "version"),
            claimed=_flag(container, "claimed"),
        )


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What `/` tells an authenticated caller about the server."""

    friendly_name: str
    machine_identifier: str
    version: str
    platform: str

    @classmethod
    def from_container(cls, container: Container) -> ServerInfo:
        """Build from a MediaContainer; the platform is optional on odd servers."""
        return cls(
            friendly_name=_text(container, "friendlyName"),
            machine_identifier=_machine_identifier(container),
            version=_text(container, "version"),
            platform=_text(container, "platform", required=False),
        )


@dataclass(frozen=True, slots=True)
class TransientToken:
    """A delegation token: valid up to 48 h and until the server restarts."""

    token: str = field(repr=False)
    issued_at: datetime
    expires_at: datetime

    @classmethod
    def from_container(
        cls, container: Container, issued_at: datetime
    ) -> TransientToken:
        """Build from the `/security/token` answer received at `issued_at`.

        A token that could not be sent back in a header (white space, line
        breaks, control or non-ASCII characters, absurd length) is no token.
        """
        token = container.get("token")
        if not isinstance(token, str) or not is_sendable_token(token):
            raise PlexResponseError("Answer has no usable 'token'")
        return cls(
            token=token,
            issued_at=issued_at,
            expires_at=issued_at + TRANSIENT_TOKEN_LIFETIME,
        )

    def __str__(self) -> str:
        """Describe the token by its timing only, so that printing it never leaks it."""
        return repr(self)


def _machine_identifier(container: Container) -> str:
    """The server's machine identifier, refused unless it looks like one."""
    value = _text(container, "machineIdentifier")
    if MACHINE_IDENTIFIER.fullmatch(value) is None:
        raise PlexResponseError("Answer has no usable 'machineIdentifier'")
    return value


def _text(container: Container, key: str, *, required: bool = True) -> str:
    """Return a non-empty string attribute (numbers are accepted as text)."""
    value = container.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        if required:
            raise PlexResponseError(f"Answer has no usable '{key}'")
        return ""
    text = str(value).strip()
    if required and not text:
        raise PlexResponseError(f"Answer has an empty '{key}'")
    return text


def _flag(container: Container, key: str) -> bool:
    """Return a boolean attribute given as JSON bool or as XML "1"/"0"."""
    value = container.get(key, False)
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    raise PlexResponseError(f"Answer has no usable '{key}'")
