"""The get_transient_token action: a working token for automations and scripts."""

from __future__ import annotations

from datetime import timedelta

import probatio

from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, service

from .const import (
    ATTR_FORCE_NEW,
    ATTR_MIN_VALID_FOR,
    DOMAIN,
    MAX_MIN_VALID_FOR,
    SERVICE_GET_TRANSIENT_TOKEN,
)
from .coordinator import PlexApiConfigEntry, PlexApiData

GET_TRANSIENT_TOKEN_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Optional(ATTR_FORCE_NEW, default=False): cv.boolean,
        probatio.Optional(ATTR_MIN_VALID_FOR): cv.positive_time_period,
    }
)


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the action once, for every entry (admins, automations, scripts)."""
    service.async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_GET_TRANSIENT_TOKEN,
        _async_get_transient_token,
        schema=GET_TRANSIENT_TOKEN_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )


def _async_get_entry(call: ServiceCall) -> PlexApiConfigEntry:
    """The entry the call names, or the only one in use; translated errors otherwise.

    Home Assistant's helper decides: without an id it skips ignored and disabled
    entries, and it raises core's own translated errors (none set up, several,
    unknown, not loaded).
    """
    entry: PlexApiConfigEntry = service.async_get_config_entry(
        call.hass, DOMAIN, call.data.get(ATTR_CONFIG_ENTRY_ID)
    )
    return entry


async def _async_get_transient_token(call: ServiceCall) -> ServiceResponse:
    """Return a token that the server accepts now, with what is needed to use it."""
    min_valid_for: timedelta | None = call.data.get(ATTR_MIN_VALID_FOR)
    if min_valid_for is not None and min_valid_for > MAX_MIN_VALID_FOR:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="min_valid_for_too_long"
        )
    coordinator = _async_get_entry(call).runtime_data
    data = await coordinator.async_get_token(
        force_new=call.data[ATTR_FORCE_NEW], min_valid_for=min_valid_for
    )
    return _response(data, str(coordinator.client.base_url.origin()))


def _response(data: PlexApiData, url: str) -> ServiceResponse:
    """The action's answer; times as ISO 8601 so templates can parse them."""
    return {
        "token": data.token.token,
        "issued_at": data.token.issued_at.isoformat(),
        "expires_at": data.token.expires_at.isoformat(),
        "server_name": data.server.friendly_name,
        "machine_identifier": data.server.machine_identifier,
        "url": url,
    }
