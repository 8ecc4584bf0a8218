"""The forms the flows show: their fields, and what they show again (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

import probatio

from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
)
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .connection import InvalidInputError, base_url, normalize_connection
from .const import (
    CONF_ROTATION_HOURS,
    CONF_SHOW_TOKEN,
    DEFAULT_PORT,
    DEFAULT_ROTATION_HOURS,
    DEFAULT_SHOW_TOKEN,
    DEFAULT_SSL,
    DEFAULT_VERIFY_SSL,
    MAX_ROTATION_HOURS,
    MIN_ROTATION_HOURS,
)

CONF_TLS = "tls"  # the form section holding the HTTPS switches
TOKEN_HELP_URL = "https://support.plex.tv/articles/204059436-finding-an-authentication-token-x-plex-token/"
# Shown in the forms' texts; URLs go in placeholders, not in translations.
PLACEHOLDERS = {
    "token_help_url": TOKEN_HELP_URL,
    "example_url": "https://192.168.1.20:32400",
}
# Errors about reaching the server; a form that only asks for a token cannot
# act on their advice (HTTPS, certificate), so it says so in its own words.
_REACHING = {"cannot_connect", "timeout", "ssl_error", "redirected", "not_plex"}


def _tls_section(collapsed: bool) -> section:
    """HTTPS and certificate checking: rarely needed on a LAN, so tucked away."""
    return section(
        probatio.Schema(
            {
                probatio.Required(CONF_SSL, default=DEFAULT_SSL): BooleanSelector(),
                probatio.Required(
                    CONF_VERIFY_SSL, default=DEFAULT_VERIFY_SSL
                ): BooleanSelector(),
            }
        ),
        {"collapsed": collapsed},
    )


_HOST_FIELDS: dict[Any, Any] = {
    probatio.Required(CONF_HOST): TextSelector(),
    # No selector min/max: out-of-range input gets the translated invalid_port.
    probatio.Required(CONF_PORT, default=DEFAULT_PORT): NumberSelector(
        NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX)
    ),
}
_TOKEN_FIELD: dict[Any, Any] = {
    probatio.Required(probatio.Secret(CONF_TOKEN)): TextSelector(
        TextSelectorConfig(type=TextSelectorType.PASSWORD)
    )
}
USER_SCHEMA = probatio.Schema(
    {**_HOST_FIELDS, **_TOKEN_FIELD, probatio.Required(CONF_TLS): _tls_section(True)}
)
TOKEN_SCHEMA = probatio.Schema(_TOKEN_FIELD)


def address_schema(use_ssl: bool) -> probatio.Schema:
    """Reconfigure: host, port and HTTPS, the section open when HTTPS is in use."""
    return probatio.Schema(
        {**_HOST_FIELDS, probatio.Required(CONF_TLS): _tls_section(not use_ssl)}
    )


def form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data (or flat input) as the form shows it, TLS in its section."""
    tls = {key: data[key] for key in (CONF_SSL, CONF_VERIFY_SSL) if key in data}
    flat = {k: v for k, v in data.items() if k not in (CONF_SSL, CONF_VERIFY_SSL)}
    return {**flat, CONF_TLS: tls}


def flat_input(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The form's input with the TLS section's fields at the top, as stored."""
    tls = user_input.get(CONF_TLS, {})
    flat = {k: v for k, v in user_input.items() if k != CONF_TLS}
    return {
        **flat,
        CONF_SSL: tls.get(CONF_SSL, DEFAULT_SSL),
        CONF_VERIFY_SSL: tls.get(CONF_VERIFY_SSL, DEFAULT_VERIFY_SSL),
    }


def error_placeholders(data: Mapping[str, Any]) -> dict[str, str]:
    """What an error text may name: the address that was tried, and the links."""
    try:
        url = str(base_url(normalize_connection(data)))
    except InvalidInputError:
        url = str(data.get(CONF_HOST, ""))
    return {**PLACEHOLDERS, "url": url}


def token_form_errors(errors: dict[str, str], reaching: str) -> dict[str, str]:
    """A form asking only for a token shows reaching trouble in its own words."""
    if errors.get("base") in _REACHING:
        return {"base": reaching}
    return errors


def options_schema(options: Mapping[str, Any]) -> probatio.Schema:
    """Rotation age (whole hours, checked by `valid_rotation`) and the switch."""
    return probatio.Schema(
        {
            probatio.Required(
                CONF_ROTATION_HOURS,
                default=options.get(CONF_ROTATION_HOURS, DEFAULT_ROTATION_HOURS),
            ): NumberSelector(
                NumberSelectorConfig(
                    step=1, unit_of_measurement="h", mode=NumberSelectorMode.BOX
                )
            ),
            probatio.Required(
                CONF_SHOW_TOKEN,
                default=options.get(CONF_SHOW_TOKEN, DEFAULT_SHOW_TOKEN),
            ): BooleanSelector(),
        }
    )


def valid_rotation(hours: float) -> bool:
    """A whole number of hours from 1 to 47 (NaN and infinity are not)."""
    return (
        math.isfinite(hours)
        and hours == int(hours)
        and MIN_ROTATION_HOURS <= hours <= MAX_ROTATION_HOURS
    )
