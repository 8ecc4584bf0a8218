"""Constants of the plex_api integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from .plex.lifecycle import CHECK_INTERVAL

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
# Without the notification socket, the token is checked this often (the
# lifecycle's other intervals are in plex/lifecycle.py, beside its tables).
UPDATE_INTERVAL: Final = CHECK_INTERVAL
# An action called while the server is in doubt or away waits this long
# (seconds) for it to be back before it fails.
RESTART_WAIT: Final = 15.0

ATTR_FORCE_NEW: Final = "force_new"
ATTR_MIN_VALID_FOR: Final = "min_valid_for"
# No transient token lives longer than 48 hours: a caller may ask for 47.
MAX_MIN_VALID_FOR: Final = timedelta(hours=47)
SERVICE_GET_TRANSIENT_TOKEN: Final = "get_transient_token"

# Tests only: a plex.tv stand-in's base URL, for the API and the sign-in page.
PLEX_TV_URL_ENV: Final = "PLEX_API_PLEX_TV_URL"
# How often a sign-in in progress asks plex.tv whether the person allowed it.
PIN_POLL_INTERVAL: Final = 2.0
# Never ask plex.tv about a PIN more often than this (the callback and the
# poller share it); 429 answers double the wait, this many in a row end it.
MIN_PIN_POLL_INTERVAL: Final = 1.0
MAX_PIN_POLL_INTERVAL: Final = 30.0
MAX_BUSY_ANSWERS: Final = 4
