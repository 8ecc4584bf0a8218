"""Plex clients on Home Assistant's shared sessions, with this instance's headers."""

from __future__ import annotations

from collections.abc import Mapping
import os
from typing import Any

from yarl import URL

from homeassistant import const as ha_const
from homeassistant.const import CONF_TOKEN, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import instance_id
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.singleton import singleton
from homeassistant.helpers.system_info import async_get_system_info
from homeassistant.util.hass_dict import HassKey

from .connection import base_url
from .const import DOMAIN, PLEX_TV_URL_ENV, REQUEST_TIMEOUT
from .plex import APP_PLEX_TV, PLEX_TV, ClientInfo, PlexClient, PlexTVClient

_PLATFORM_KEY: HassKey[tuple[str, str, str]] = HassKey(f"{DOMAIN}_platform")
_PRODUCT = "Home Assistant"


@singleton(_PLATFORM_KEY, async_=True)
async def _async_platform(hass: HomeAssistant) -> tuple[str, str, str]:
    """Read the system info once per Home Assistant run: it does not change."""
    info = await async_get_system_info(hass)
    return (
        str(info.get("os_name") or "Unknown"),
        str(info.get("os_version") or "Unknown"),
        str(info.get("installation_type") or "Home Assistant"),
    )


def device_name(location_name: str) -> str:
    """How Plex lists this Home Assistant under Authorized Devices.

    The location name alone ("Home") says nothing there; core's Plex sends
    "Home Assistant" alone, which does not tell two instances apart. So both:
    "Home Assistant (Home)".
    """
    location = " ".join(location_name.split())
    if not location or location == _PRODUCT:
        return _PRODUCT
    return f"{_PRODUCT} ({location})"


async def async_client_info(hass: HomeAssistant) -> ClientInfo:
    """Describe this Home Assistant to Plex with the X-Plex-* client headers."""
    platform, platform_version, device = await _async_platform(hass)
    return ClientInfo(
        product=_PRODUCT,
        version=ha_const.__version__,
        client_identifier=await instance_id.async_get(hass),
        platform=platform,
        platform_version=platform_version,
        device=device,
        device_name=device_name(hass.config.location_name),
    )


async def async_create_client(
    hass: HomeAssistant, data: Mapping[str, Any]
) -> PlexClient:
    """Create a client on Home Assistant's shared session, honouring verify_ssl."""
    return PlexClient(
        async_get_clientsession(hass, verify_ssl=data[CONF_VERIFY_SSL]),
        base_url(data),
        data.get(CONF_TOKEN, ""),
        await async_client_info(hass),
        timeout=REQUEST_TIMEOUT,
    )


async def async_create_plextv_client(hass: HomeAssistant) -> PlexTVClient:
    """plex.tv's client; tests point it at a stand-in through the environment."""
    override = os.environ.get(PLEX_TV_URL_ENV)
    return PlexTVClient(
        async_get_clientsession(hass),
        await async_client_info(hass),
        api=URL(override) if override else PLEX_TV,
        app=URL(override) if override else APP_PLEX_TV,
        timeout=REQUEST_TIMEOUT,
    )
