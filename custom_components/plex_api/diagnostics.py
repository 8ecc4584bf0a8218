"""Diagnostics: what helps a bug report, with every token redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import UPDATE_INTERVAL
from .coordinator import PlexApiConfigEntry, PlexApiCoordinator
from .plex import Link, Phase

TO_REDACT = {CONF_TOKEN}
# The socket as a bug report says it: up, off for a while, or on its way.
_PUSH = {Link.UP: "connected", Link.OFF: "polling"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PlexApiConfigEntry
) -> dict[str, Any]:
    """The entry, and once it is loaded the server and the token's timing.

    An entry whose setup is retrying has no coordinator yet: that is exactly
    when a user wants diagnostics, so its state and last error are enough.
    Besides the token fields, any value holding a token is redacted: a server
    or proxy may echo the X-Plex-Token header back, as its name for example.
    """
    diagnostics: dict[str, Any] = {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
            "state": entry.state.value,
            "reason": entry.reason,
        }
    }
    tokens = {str(entry.data.get(CONF_TOKEN, ""))}
    if entry.state is ConfigEntryState.LOADED:
        diagnostics.update(_coordinator_diagnostics(entry.runtime_data))
        tokens.add(entry.runtime_data.data.token.token)
    return {
        key: _without_tokens(value, tokens - {""}) for key, value in diagnostics.items()
    }


def _without_tokens(value: Any, tokens: set[str]) -> Any:
    """`value` with every string that holds one of `tokens` redacted.

    The diagnostics are nested dicts of scalars (no lists).
    """
    if isinstance(value, dict):
        return {key: _without_tokens(item, tokens) for key, item in value.items()}
    if isinstance(value, str) and any(token in value for token in tokens):
        return REDACTED
    return value


def _coordinator_diagnostics(coordinator: PlexApiCoordinator) -> dict[str, Any]:
    """The server, the token's timing (not the token) and the last update."""
    data = coordinator.data
    age = dt_util.utcnow() - data.token.issued_at
    interval = coordinator.update_interval or UPDATE_INTERVAL
    return {
        "server": asdict(data.server),
        "token": {
            "issued_at": data.token.issued_at.isoformat(),
            "expires_at": data.token.expires_at.isoformat(),
            "checked_at": data.checked_at.isoformat(),
            "age_seconds": round(age.total_seconds()),
            "rotation_age_hours": coordinator.rotation_age.total_seconds() / 3600,
        },
        "coordinator": {
            "last_update_success": coordinator.last_update_success,
            "phase": coordinator.lifecycle.phase.value,
            "push": _PUSH.get(coordinator.lifecycle.link, "reconnecting"),
            "link": coordinator.lifecycle.link.value,
            "last_error": _last_error(coordinator),
            "update_interval_seconds": interval.total_seconds(),
        },
    }


def _last_error(coordinator: PlexApiCoordinator) -> str | None:
    """The translation key of what keeps a token from being handed out, if any."""
    if (
        coordinator.lifecycle.phase is Phase.VERIFIED
        and coordinator.last_update_success
    ):
        return None
    return coordinator.lifecycle.error
