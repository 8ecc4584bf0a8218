"""The actions: a working token, and ready URLs for a Plex item.

Both are for administrators, automations and scripts. The fields a person
types are checked here rather than in the schema, so that a wrong value gets
the integration's own translated message instead of a raw schema error.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any, Final
import uuid

import probatio
from yarl import URL

from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, service
from homeassistant.util.hass_dict import HassKey

from .clients import async_client_info
from .const import (
    ATTR_FORCE_NEW,
    ATTR_MIN_VALID_FOR,
    DOMAIN,
    MAX_MIN_VALID_FOR,
    SERVICE_GET_TRANSIENT_TOKEN,
)
from .coordinator import PlexApiConfigEntry, PlexApiData
from .plex import (
    MediaItem,
    MediaKind,
    PlexAuthenticationError,
    PlexError,
    PlexItemNotFoundError,
    PlexItemReferenceError,
    PlexNoArtworkError,
    PlexNoMediaError,
    PlexOtherServerItemError,
    PlexStreamRefusedError,
    StreamSession,
    async_get_item,
    async_prepare_stream,
    media_url,
    parse_item,
)
from .texts import error_key, printable

SERVICE_GET_MEDIA_URL: Final = "get_media_url"
ATTR_ITEM: Final = "item"
ATTR_KIND: Final = "kind"
ATTR_WIDTH: Final = "width"
ATTR_HEIGHT: Final = "height"
# The photo transcoder makes any size; a poster wider than this is no use.
MAX_IMAGE_SIDE: Final = 4096
_MAX_SHOWN_ITEM: Final = 80

# Lookups in flight, per entry, token and rating key: a burst of calls for the
# same item (an automation fired by many players at once) sends one request.
_LOOKUPS: HassKey[dict[tuple[str, str, str], asyncio.Task[MediaItem]]] = HassKey(
    f"{DOMAIN}_lookups"
)

GET_TRANSIENT_TOKEN_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Optional(ATTR_FORCE_NEW, default=False): cv.boolean,
        probatio.Optional(ATTR_MIN_VALID_FOR): object,
    }
)
GET_MEDIA_URL_SCHEMA = probatio.Schema(
    {
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_ITEM): cv.string,
        probatio.Optional(ATTR_KIND, default=MediaKind.ARTWORK.value): cv.string,
        probatio.Optional(ATTR_WIDTH): object,
        probatio.Optional(ATTR_HEIGHT): object,
        probatio.Optional(ATTR_MIN_VALID_FOR): object,
    }
)


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions once, for every entry (admins, automations, scripts)."""
    for name, handler, schema in (
        (
            SERVICE_GET_TRANSIENT_TOKEN,
            _async_get_transient_token,
            GET_TRANSIENT_TOKEN_SCHEMA,
        ),
        (SERVICE_GET_MEDIA_URL, _async_get_media_url, GET_MEDIA_URL_SCHEMA),
    ):
        service.async_register_admin_service(
            hass,
            DOMAIN,
            name,
            handler,
            schema=schema,
            supports_response=SupportsResponse.ONLY,
        )


def _invalid(key: str, **placeholders: str) -> ServiceValidationError:
    """A translated validation error of this integration."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def _async_get_entry(call: ServiceCall) -> PlexApiConfigEntry:
    """The entry the call names, or the only one in use; translated errors otherwise.

    Several entries in use and none named: the integration asks to choose one
    in its own words. The rest is Home Assistant's helper: without an id it
    skips ignored and disabled entries, and it raises core's own translated
    errors (none set up, unknown, not loaded).
    """
    entry_id: str | None = call.data.get(ATTR_CONFIG_ENTRY_ID)
    if entry_id is None:
        in_use = call.hass.config_entries.async_entries(
            DOMAIN, include_ignore=False, include_disabled=False
        )
        if len(in_use) > 1:
            raise _invalid("choose_server")
    entry: PlexApiConfigEntry = service.async_get_config_entry(
        call.hass, DOMAIN, entry_id
    )
    return entry


def _min_valid_for(call: ServiceCall) -> timedelta | None:
    """The validity asked for: a positive duration of at most 47 hours."""
    value = call.data.get(ATTR_MIN_VALID_FOR)
    if value is None:
        return None
    try:
        min_valid_for: timedelta = cv.positive_time_period(value)
    except probatio.Invalid:
        raise _invalid("invalid_min_valid_for") from None
    if min_valid_for > MAX_MIN_VALID_FOR:
        raise _invalid("min_valid_for_too_long")
    return min_valid_for


def _iso(moment: datetime) -> str:
    """ISO 8601 to the second, as the README shows and templates parse."""
    return moment.isoformat(timespec="seconds")


async def _async_get_transient_token(call: ServiceCall) -> ServiceResponse:
    """Return a token that the server accepts now, with what is needed to use it."""
    min_valid_for = _min_valid_for(call)
    coordinator = _async_get_entry(call).runtime_data
    data = await coordinator.async_get_token(
        force_new=call.data[ATTR_FORCE_NEW], min_valid_for=min_valid_for
    )
    return _response(data, str(coordinator.client.base_url.origin()))


def _response(data: PlexApiData, url: str) -> ServiceResponse:
    """The action's answer; times as ISO 8601 so templates can parse them."""
    return {
        "token": data.token.token,
        "issued_at": _iso(data.token.issued_at),
        "expires_at": _iso(data.token.expires_at),
        "server_name": data.server.friendly_name,
        "machine_identifier": data.server.machine_identifier,
        "url": url,
    }


def _kind(call: ServiceCall) -> MediaKind:
    """The kind of URL asked for."""
    try:
        return MediaKind(call.data[ATTR_KIND])
    except ValueError:
        raise _invalid("invalid_kind") from None


def _side(call: ServiceCall, name: str) -> int | None:
    """An image side in pixels, 1 to MAX_IMAGE_SIDE, or None."""
    value: Any = call.data.get(name)
    if value is None:
        return None
    try:
        side = int(probatio.Coerce(int)(value))
    except probatio.Invalid:
        side = 0
    if isinstance(value, bool) or not 1 <= side <= MAX_IMAGE_SIDE:
        raise _invalid("invalid_size", max=str(MAX_IMAGE_SIDE))
    return side


async def _async_get_media_url(call: ServiceCall) -> ServiceResponse:
    """Look the item up on the server; return a URL with a transient token."""
    kind = _kind(call)
    width, height = _side(call, ATTR_WIDTH), _side(call, ATTR_HEIGHT)
    min_valid_for = _min_valid_for(call)
    item_text: str = call.data[ATTR_ITEM]
    entry = _async_get_entry(call)
    coordinator = entry.runtime_data
    shown_item = printable(item_text)[:_MAX_SHOWN_ITEM]
    try:
        # The entry's unique id is its server's machine identifier.
        rating_key = parse_item(item_text, str(entry.unique_id))
    except PlexOtherServerItemError:
        raise _invalid("item_other_server", item=shown_item) from None
    except PlexItemReferenceError:
        raise _invalid("item_not_understood", item=shown_item) from None
    data = await coordinator.async_get_token(min_valid_for=min_valid_for)
    token = data.token.token
    server_name = data.server.friendly_name
    item = await _async_lookup(
        call.hass, entry, token, rating_key, _shown(server_name, token)
    )
    title = _shown(item.title, token)
    client = coordinator.client
    session = await _async_stream_session(call.hass)
    try:
        found = media_url(
            client.base_url,
            token,
            item,
            kind,
            width=width,
            height=height,
            session=session,
        )
    except PlexNoMediaError:
        raise _invalid(
            "item_has_no_media", title=title, item_type=item.item_type
        ) from None
    except PlexNoArtworkError:
        raise _invalid(f"item_has_no_{kind}", title=title) from None
    try:
        await async_prepare_stream(client, token, found)
    except PlexStreamRefusedError:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="stream_refused",
            translation_placeholders={"title": title},
        ) from None
    except PlexError as err:
        raise _plex_failure(err, client.base_url) from None
    return {
        "url": found.url,
        "title": item.title,
        "item_type": item.item_type,
        "rating_key": item.rating_key,
        "mime_type": found.mime_type,
        "media_content_type": found.media_content_type,
        "expires_at": _iso(data.token.expires_at),
        "server_name": server_name,
    }


def _shown(text: str, token: str) -> str:
    """Server text for a message: printable, and never the token it was sent."""
    return printable(text.replace(token, "***"))


async def _async_lookup(
    hass: HomeAssistant,
    entry: PlexApiConfigEntry,
    token: str,
    rating_key: str,
    server_name: str,
) -> MediaItem:
    """The item, looked up once for every caller asking at the same time."""
    lookups = hass.data.setdefault(_LOOKUPS, {})
    key = (entry.entry_id, token, rating_key)
    task = lookups.get(key)
    if task is None:
        task = hass.async_create_task(
            async_get_item(entry.runtime_data.client, token, rating_key),
            f"{DOMAIN} lookup",
        )
        lookups[key] = task
        task.add_done_callback(lambda done: _forget(lookups, key, done))
    try:
        return await asyncio.shield(task)
    except PlexItemNotFoundError:
        raise _invalid(
            "item_not_found", rating_key=rating_key, server_name=server_name
        ) from None
    except PlexError as err:
        raise _plex_failure(err, entry.runtime_data.client.base_url) from None


async def _async_stream_session(hass: HomeAssistant) -> StreamSession:
    """A new transcode session of this Home Assistant (one per URL handed out)."""
    info = await async_client_info(hass)
    return StreamSession(
        session=uuid.uuid4().hex,
        client_identifier=info.client_identifier,
        product=info.product,
    )


def _plex_failure(err: PlexError, base_url: URL) -> HomeAssistantError:
    """A lookup or decision that failed, translated; never the server's text."""
    if isinstance(err, PlexAuthenticationError):
        # Confirmed moments ago, refused now: the server has just restarted.
        return HomeAssistantError(
            translation_domain=DOMAIN, translation_key="restarting"
        )
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=error_key(err),
        translation_placeholders={"url": str(base_url.origin())},
    )


def _forget(
    lookups: dict[tuple[str, str, str], asyncio.Task[MediaItem]],
    key: tuple[str, str, str],
    task: asyncio.Task[MediaItem],
) -> None:
    """Drop a finished lookup; its failure was seen by the callers."""
    lookups.pop(key, None)
    with contextlib.suppress(asyncio.CancelledError):
        task.exception()
