"""Glue between Home Assistant and the Plex clients: clients, addresses, error keys."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import os
import re
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

from .connection import address_candidates, base_url
from .const import DOMAIN, PLEX_TV_URL_ENV, REQUEST_TIMEOUT
from .plex import (
    APP_PLEX_TV,
    PLEX_TV,
    ClientInfo,
    PlexAuthenticationError,
    PlexClient,
    PlexConnectionError,
    PlexError,
    PlexResource,
    PlexStatusError,
    PlexTimeoutError,
    PlexTLSError,
    PlexTVClient,
    PlexWrongServerError,
)

_PLATFORM_KEY: HassKey[tuple[str, str, str]] = HassKey(f"{DOMAIN}_platform")
_MARKDOWN = re.compile(r"([!-/:-@\[-`{-~])")
_MAX_SHOWN = 100


@singleton(_PLATFORM_KEY, async_=True)
async def _async_platform(hass: HomeAssistant) -> tuple[str, str, str]:
    """Read the system info once per Home Assistant run: it does not change."""
    info = await async_get_system_info(hass)
    return (
        str(info.get("os_name") or "Unknown"),
        str(info.get("os_version") or "Unknown"),
        str(info.get("installation_type") or "Home Assistant"),
    )


async def async_client_info(hass: HomeAssistant) -> ClientInfo:
    """Describe this Home Assistant to Plex with the X-Plex-* client headers."""
    platform, platform_version, device = await _async_platform(hass)
    return ClientInfo(
        product="Home Assistant",
        version=ha_const.__version__,
        client_identifier=await instance_id.async_get(hass),
        platform=platform,
        platform_version=platform_version,
        device=device,
        device_name=hass.config.location_name,
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


# Checked in order: the first type that matches names the error.
_ERROR_KEYS: tuple[tuple[type[PlexError], str], ...] = (
    (PlexTimeoutError, "timeout"),
    (PlexTLSError, "ssl_error"),
    (PlexAuthenticationError, "invalid_auth"),
    (PlexWrongServerError, "wrong_server"),
    (PlexConnectionError, "cannot_connect"),
)


def error_key(err: PlexError) -> str:
    """The translation key of a client error, shared by forms, entity and action."""
    if isinstance(err, PlexStatusError):
        return _status_key(err.status)
    for kind, key in _ERROR_KEYS:
        if isinstance(err, kind):
            return key
    return "not_plex"


def _status_key(status: int) -> str:
    """The key for an unexpected HTTP status."""
    if 300 <= status < 400:
        # The client follows no redirect (the token would go along); usually a
        # reverse proxy sending HTTP to HTTPS.
        return "redirected"
    if status >= 500:
        return "cannot_connect"
    return "not_plex"


def printable(value: str) -> str:
    """Text from the network as one short, printable line (a server's name)."""
    text = "".join(char if char.isprintable() else " " for char in value)
    return " ".join(text.split())[:_MAX_SHOWN]


def markdown_text(value: str) -> str:
    """Show text from the network in a Markdown description as text only.

    A server chooses its own name: every Markdown character is escaped, so no
    link or markup gets into the form.
    """
    return _MARKDOWN.sub(r"\\\1", printable(value))


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


async def async_best_address(
    hass: HomeAssistant, server: PlexResource
) -> dict[str, Any] | None:
    """The best address that answers as this server on `/identity` (no token).

    All are tried at once, so unreachable ones cost one timeout, not one each.
    """
    candidates = address_candidates(server)
    answers = await asyncio.gather(
        *(_async_identify(hass, address) for address in candidates)
    )
    for address, found in zip(candidates, answers, strict=True):
        if found == server.machine_identifier:
            return address
    return None


async def _async_identify(hass: HomeAssistant, address: dict[str, Any]) -> str | None:
    """The machine identifier at an address, or None."""
    client = await async_create_client(hass, address)
    try:
        return (await client.identity()).machine_identifier
    except PlexError:
        return None
