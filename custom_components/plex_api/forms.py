"""The forms the flows share: their fields, what they show again, the proof.

Used by the config flow's steps (manual, reauth, reconfigure, discovery) and
the sign-in's, so that each is written once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
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
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import AbortFlow, section
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .connection import (
    InvalidInputError,
    base_url,
    normalize_connection,
    normalize_token,
)
from .const import (
    CONF_ROTATION_HOURS,
    CONF_SHOW_TOKEN,
    DEFAULT_PORT,
    DEFAULT_ROTATION_HOURS,
    DEFAULT_SHOW_TOKEN,
    DEFAULT_SSL,
    DEFAULT_VERIFY_SSL,
    LOGGER,
    MAX_ROTATION_HOURS,
    MIN_ROTATION_HOURS,
)
from .helpers import async_create_client, error_key
from .plex import PlexError

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
type IdentityCheck = Callable[[str], Awaitable[None]]


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


@dataclass(frozen=True, slots=True)
class Proof:
    """What a submitted form proved: the data to store, or the form's errors."""

    data: dict[str, Any]
    errors: dict[str, str]
    title: str = ""  # the server's name, when a token proved it


async def async_prove(
    hass: HomeAssistant,
    user_input: Mapping[str, Any],
    check_identity: IdentityCheck,
    *,
    with_token: bool = True,
) -> Proof:
    """Normalise and prove the input against the server.

    `check_identity` gets the machine identifier from `/identity` before the
    token is sent anywhere, and may abort the flow. With `with_token`, a
    transient token proves the owner token too; without (reconfigure), no
    token is sent: the running entry keeps its token if the server accepts it.
    """
    try:
        data = {
            **normalize_connection(user_input),
            CONF_TOKEN: normalize_token(user_input[CONF_TOKEN]),
        }
    except InvalidInputError as err:
        return Proof(dict(user_input), {err.field: err.error})
    try:
        client = await async_create_client(hass, data)
        identity = await client.identity()
        await check_identity(identity.machine_identifier)
        if not with_token:
            return Proof(data, {})
        server, _ = await client.verified_transient_token(identity.machine_identifier)
    except PlexError as err:
        return Proof(data, {"base": error_key(err)})
    except AbortFlow:
        raise
    except Exception:  # noqa: BLE001 - the form must show 'unknown', not crash
        LOGGER.exception("Unexpected error while checking the Plex server")
        return Proof(data, {"base": "unknown"})
    return Proof(data, {}, server.friendly_name)


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
