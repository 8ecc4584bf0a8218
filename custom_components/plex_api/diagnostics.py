"""Diagnostics: what helps a bug report, with every token redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .const import UPDATE_INTERVAL
from .coordinator import PlexApiConfigEntry

TO_REDACT = {CONF_TOKEN}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: PlexApiConfigEntry
) -> dict[str, Any]:
    """Entry data and options, the server, and the token's timing (not the token)."""
    coordinator = entry.runtime_data
    data = coordinator.data
    now = dt_util.utcnow()
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": dict(entry.options),
        },
        "server": asdict(data.server),
        "token": {
            "issued_at": data.token.issued_at.isoformat(),
            "expires_at": data.token.expires_at.isoformat(),
            "checked_at": data.checked_at.isoformat(),
            "age_seconds": round((now - data.token.issued_at).total_seconds()),
            "rotation_age_hours": coordinator.rotation_age.total_seconds() / 3600,
        },
        "coordinator": {
            "last_update_success": coordinator.last_update_success,
            "update_interval_seconds": UPDATE_INTERVAL.total_seconds(),
        },
    }
