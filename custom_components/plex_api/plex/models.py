"""Typed answers of a Plex Media Server, built from a parsed MediaContainer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .errors import PlexResponseError

TRANSIENT_TOKEN_LIFETIME = timedelta(hours=48)

type Container = Mapping[str, object]


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
        """Return the X-Plex-* client headers."""
        return {
            "X-Plex-Product": self.product,
            "X-Plex-Version": self.version,
            "X-Plex-Client-Identifier": self.client_identifier,
            "X-Plex-Platform": self.platform,
            "X-Plex-Platform-Version": self.platform_version,
            "X-Plex-Device": self.device,
            "X-Plex-Device-Name": self.device_name,
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
            machine_identifier=_text(container, "machineIdentifier"),
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
            machine_identifier=_text(container, "machineIdentifier"),
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
        """Build from the `/security/token` answer received at `issued_at`."""
        return cls(
            token=_text(container, "token"),
            issued_at=issued_at,
            expires_at=issued_at + TRANSIENT_TOKEN_LIFETIME,
        )

    def __str__(self) -> str:
        """Describe the token by its timing only, so that printing it never leaks it."""
        return repr(self)


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
