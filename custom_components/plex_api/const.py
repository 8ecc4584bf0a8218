"""Constants of the plex_api integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "plex_api"
LOGGER: Final = logging.getLogger(__package__)

DEFAULT_PORT: Final = 32400
DEFAULT_SSL: Final = False
DEFAULT_VERIFY_SSL: Final = True

CONF_ROTATION_HOURS: Final = "rotation_hours"
CONF_SHOW_TOKEN: Final = "show_token"
DEFAULT_ROTATION_HOURS: Final = 24
MIN_ROTATION_HOURS: Final = 1
MAX_ROTATION_HOURS: Final = 47
# Off: any user who can see states (not only admins) could read the attribute.
DEFAULT_SHOW_TOKEN: Final = False

# Per request; a Plex server on the LAN answers in milliseconds.
REQUEST_TIMEOUT: Final = 10.0
# One cheap check per poll; restart detection is at most this late.
UPDATE_INTERVAL: Final = timedelta(minutes=5)
# A token handed to an automation is re-checked when its last check is older.
MAX_CHECK_AGE: Final = timedelta(seconds=60)

ATTR_FORCE_NEW: Final = "force_new"
SERVICE_GET_TRANSIENT_TOKEN: Final = "get_transient_token"
