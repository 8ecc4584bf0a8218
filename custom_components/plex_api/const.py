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
# One cheap check per poll. Without the notification socket, restart detection
# is at most this late; with it, the poll is only a safety net.
UPDATE_INTERVAL: Final = timedelta(minutes=5)
PUSH_UPDATE_INTERVAL: Final = timedelta(minutes=60)
# A failed check while the socket is up: the server runs, so retry soon.
FAILED_CHECK_RETRY: Final = 30.0
# The server away (a restart, most likely): checked again quickly at first,
# every 3 s for 5 minutes (a restart is noticed within seconds of its end),
# then every 30 s.
OUTAGE_RETRIES: Final = (0.5, 1.0, 2.0)
OUTAGE_RETRY: Final = 3.0
LONG_OUTAGE: Final = timedelta(minutes=5)
SLOW_OUTAGE_RETRY: Final = 30.0
# Away this long, it is switched off rather than restarting: the normal interval.
GONE_OUTAGE: Final = timedelta(minutes=30)
# An action called while the socket says the server went away waits this long
# (seconds) for it to be back before it fails.
RESTART_WAIT: Final = 15.0
# New tokens taken only as a precaution (after an outage, a socket closed by
# the server) are capped, so a flapping link cannot become a token storm.
MAX_PRECAUTIONARY_TOKENS_PER_HOUR: Final = 6
# A token handed to an automation is re-checked when its last check is older.
MAX_CHECK_AGE: Final = timedelta(seconds=60)

# A token no server issued: a server that accepts it skips token checks.
UNCHECKED_PROBE: Final = "plex-api-probe-not-a-token"

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
