"""The get_media_url action: URLs that players fetch as they are, and its errors."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import logging
from typing import Any

import aiohttp
from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props
from yarl import URL

from custom_components.plex_api.const import ATTR_MIN_VALID_FOR, DOMAIN
from custom_components.plex_api.plex import (
    MediaItem,
    MediaKind,
    PlexItemReferenceError,
    PlexNoMediaError,
    PlexOtherServerItemError,
    PlexResponseError,
    StreamSession,
    media_url,
    parse_item,
)
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceValidationError,
)
from homeassistant.helpers import instance_id

from .helpers import call_action
from .plex_emulator import Fault, PlexEmulator
from .plex_emulator.library import EPISODE, MOVIE, SHOW, TRACK, LibraryItem

SERVICE = "get_media_url"
METADATA = "/library/metadata/"


async def get_url(
    hass: HomeAssistant, context: Context | None = None, **data: Any
) -> dict[str, Any]:
    """Call get_media_url as an automation does; its response."""
    response = await hass.services.async_call(
        DOMAIN, SERVICE, data, blocking=True, return_response=True, context=context
    )
    assert response is not None
    return dict(response)


async def fetch(url: str) -> tuple[int, str, bytes]:
    """Fetch a URL as a player does (no headers, the token in the query)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, allow_redirects=False) as resp,
    ):
        return resp.status, resp.content_type, await resp.read()


def lookups(emulator: PlexEmulator) -> list[str]:
    """The metadata requests the server received."""
    return [r.path_qs for r in emulator.requests if r.path_qs.startswith(METADATA)]


def check_token(emulator: PlexEmulator, response: dict[str, Any]) -> str:
    """The URL carries a live transient token and nothing else of the account."""
    token = URL(response["url"]).query["X-Plex-Token"]
    assert token.startswith("transient-")
    assert emulator.is_accepted(token)
    assert emulator.owner_token not in json.dumps(response)
    return token


PLAYABLE = [MOVIE, EPISODE, TRACK]


@pytest.mark.parametrize("item", PLAYABLE, ids=lambda item: item.item_type)
async def test_file_is_the_part(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    item: LibraryItem,
) -> None:
    """`file` is the item's own part, served with its container's type."""
    response = await get_url(hass, item=item.rating_key, kind="file")

    check_token(emulator, response)
    assert URL(response["url"]).path == item.part_key
    status, content_type, body = await fetch(response["url"])
    assert status == 200
    assert content_type == response["mime_type"]
    assert body == f"{item.container} file of {item.rating_key}".encode()
    assert response["media_content_type"] == ("music" if item is TRACK else "video")
    assert response["item_type"] == item.item_type
    assert response["title"] == item.title


@pytest.mark.parametrize(
    ("item", "mime_type", "body_start"),
    [
        pytest.param(MOVIE, "application/vnd.apple.mpegurl", b"#EXTM3U", id="movie"),
        pytest.param(EPISODE, "application/vnd.apple.mpegurl", b"#EXTM3U", id="ep"),
        pytest.param(TRACK, "audio/mpeg", b"\xff\xfb", id="track"),
    ],
)
async def test_stream(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    item: LibraryItem,
    mime_type: str,
    body_start: bytes,
) -> None:
    """`stream` is HLS for video and one MP3 for music, from the transcoder.

    Its decision ran first, for the URL's own session, with the token in the
    header; the URL names this Home Assistant as the client.
    """
    requests = len(emulator.requests)

    response = await get_url(hass, item=item.rating_key, kind="stream")

    token = check_token(emulator, response)
    url = URL(response["url"])
    assert response["mime_type"] == mime_type
    assert url.query["path"] == item.key
    assert url.query["X-Plex-Client-Identifier"] == await instance_id.async_get(hass)
    lookup, decision = emulator.requests[requests:]
    assert lookup.path_qs == item.key
    decided = URL(decision.path_qs)
    assert decided.path == url.path.replace("start.m3u8", "decision").replace(
        "start.mp3", "decision"
    )
    assert dict(decided.query) == {
        k: v for k, v in url.query.items() if k != "X-Plex-Token"
    }
    assert decision.headers["X-Plex-Token"] == token
    status, content_type, body = await fetch(response["url"])
    assert (status, content_type) == (200, mime_type)
    assert body.startswith(body_start)


@pytest.mark.parametrize("item", [MOVIE, TRACK], ids=lambda item: item.item_type)
async def test_stream_sessions(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    item: LibraryItem,
) -> None:
    """Each URL is a session of its own; one that had no decision is refused."""
    first = await get_url(hass, item=item.rating_key, kind="stream")
    second = await get_url(hass, item=item.rating_key, kind="stream")

    sessions = {URL(r["url"]).query["session"] for r in (first, second)}
    assert len(sessions) == 2
    cold = URL(first["url"]).update_query(session="never-decided")
    assert (await fetch(str(cold)))[0] == 400


async def test_stream_refused(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A server whose transcoder says no: said so, and the file is still there."""
    emulator.library.refuse_transcode = True

    with pytest.raises(HomeAssistantError) as err:
        await get_url(hass, item=MOVIE.rating_key, kind="stream")

    assert err.value.translation_key == "stream_refused"
    assert err.value.translation_placeholders == {"title": MOVIE.title}
    response = await get_url(hass, item=MOVIE.rating_key, kind="file")
    assert (await fetch(response["url"]))[0] == 200


async def test_decision_fails(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A decision that fails like any request: the server's error, no URL."""
    emulator.set_fault(Fault.SERVER_ERROR, "/music/:/transcode/universal/decision")

    with pytest.raises(HomeAssistantError) as err:
        await get_url(hass, item=TRACK.rating_key, kind="stream")

    assert err.value.translation_key == "cannot_connect"
    assert err.value.translation_placeholders == {"url": emulator.url}


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        pytest.param(item, kind, id=f"{item.item_type}-{kind}")
        for item in (MOVIE, EPISODE, TRACK, SHOW)
        for kind in ("thumb", "art")
        if kind == "thumb" or item.art
    ],
)
async def test_images(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    item: LibraryItem,
    kind: str,
) -> None:
    """`artwork` is the item's thumb and `background` its art, as they are."""
    asked = "artwork" if kind == "thumb" else "background"

    response = await get_url(hass, item=item.rating_key, kind=asked)

    check_token(emulator, response)
    assert URL(response["url"]).path == item.image(kind)
    assert response["media_content_type"] == "image"
    status, content_type, body = await fetch(response["url"])
    assert (status, content_type) == (200, response["mime_type"])
    assert body.startswith(b"\xff\xd8")
    assert item.image(kind).encode() in body


@pytest.mark.parametrize(
    ("size", "box"),
    [
        pytest.param({"width": 300, "height": 450}, "300x450", id="both"),
        pytest.param({"width": 200}, "200x200", id="width"),
        pytest.param({"height": "120"}, "120x120", id="height-as-text"),
    ],
)
async def test_resized_artwork(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    size: dict[str, Any],
    box: str,
) -> None:
    """A size goes through the photo transcoder, with the image's own path."""
    response = await get_url(hass, item=MOVIE.rating_key, **size)

    url = URL(response["url"])
    assert url.path == "/photo/:/transcode"
    assert url.query["url"] == MOVIE.image("thumb")
    check_token(emulator, response)
    status, content_type, body = await fetch(response["url"])
    assert (status, content_type) == (200, "image/jpeg")
    assert f"{MOVIE.image('thumb')} at {box}".encode() in body


async def test_response(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """What an automation gets back; the URL has the server's address."""
    response = await get_url(hass, item=MOVIE.rating_key, kind="stream")

    assert response["url"].startswith(f"{emulator.url}/video/:/transcode/universal/")
    assert response == snapshot(exclude=props("url"))


@pytest.mark.parametrize(
    "item",
    [
        "1001",
        " 1001 ",
        "/library/metadata/1001",
        "plex://e2b5c4f1a9d84c7b8f3e6a1d0c9b7a52/1001",
        "plex://e2b5c4f1a9d84c7b8f3e6a1d0c9b7a52/1001?resume=1",
        "plex://1001",
        'plex://{"plex_key": 1001}',
        'plex://{"plex_key": "1001", "shuffle": 0}',
    ],
)
async def test_item_forms(
    hass: HomeAssistant, init_integration: MockConfigEntry, item: str
) -> None:
    """A key, a metadata path and core Plex's media_content_id forms name it."""
    response = await get_url(hass, item=item)

    assert response["rating_key"] == MOVIE.rating_key
    assert response["title"] == MOVIE.title


@pytest.mark.parametrize(
    ("item", "key"),
    [
        pytest.param('plex://{"library_name": "Movies", "title": "Big"}', "x", id="s"),
        pytest.param("plex://{not json", "x", id="bad-json"),
        pytest.param("plex://[1001]", "x", id="list"),
        pytest.param('plex://{"plex_key": true}', "x", id="bool-key"),
        pytest.param("plex://e2b5c4f1a9d84c7b8f3e6a1d0c9b7a52/search", "x", id="srch"),
        pytest.param("plex://e2b5c4f1a9d84c7b8f3e6a1d0c9b7a52/1/stations/2", "x"),
        pytest.param("Big Buck Bunny", "x", id="title"),
        pytest.param("/library/metadata/1001/children", "x", id="children"),
        pytest.param("plex://0123456789abcdef/1001", "other", id="other-server"),
    ],
)
async def test_item_not_understood(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    item: str,
    key: str,
) -> None:
    """Searches, stations and other servers' ids: a clear error, no request."""
    requests = len(emulator.requests)

    with pytest.raises(ServiceValidationError) as err:
        await get_url(hass, item=item)

    expected = "item_other_server" if key == "other" else "item_not_understood"
    assert err.value.translation_key == expected
    assert err.value.translation_placeholders == {"item": item}
    assert len(emulator.requests) == requests


async def test_unknown_item(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A key the server does not know: named, with the server, without the token."""
    with pytest.raises(ServiceValidationError) as err:
        await get_url(hass, item="999999", kind="file")

    assert err.value.translation_key == "item_not_found"
    assert str(err.value) == "Living Room Plex has no item with rating key 999999"
    assert lookups(emulator) == ["/library/metadata/999999"]


@pytest.mark.parametrize("kind", ["file", "stream"])
async def test_show_has_no_media(
    hass: HomeAssistant, init_integration: MockConfigEntry, kind: str
) -> None:
    """A show has no file of its own: the error says what it is."""
    with pytest.raises(ServiceValidationError) as err:
        await get_url(hass, item=SHOW.rating_key, kind=kind)

    assert err.value.translation_key == "item_has_no_media"
    assert str(err.value) == (
        "“The Show” is a show, which has no media file of its own: ask for one of"
        " its films, episodes or tracks"
    )


async def test_track_has_no_background(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """An item without art has no background."""
    with pytest.raises(ServiceValidationError) as err:
        await get_url(hass, item=TRACK.rating_key, kind="background")

    assert err.value.translation_key == "item_has_no_background"
    assert err.value.translation_placeholders == {"title": TRACK.title}


async def test_min_valid_for(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """A URL that must work for longer than the current token lasts gets a new one."""
    first = await get_url(hass, item=MOVIE.rating_key)
    frozen_time.tick(timedelta(hours=2))

    longer = await get_url(
        hass, item=MOVIE.rating_key, **{ATTR_MIN_VALID_FOR: {"hours": 47}}
    )

    assert first["expires_at"] == "2026-11-30T12:00:00+00:00"
    assert longer["expires_at"] == "2026-11-30T14:00:00+00:00"
    token = check_token(emulator, longer)
    assert token == emulator.issued_tokens[-1]
    assert await fetch(longer["url"]) == (await fetch(first["url"]))


async def test_burst_shares_the_lookup(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """Ten calls at once for one item: one lookup, no token request."""
    requests = len(emulator.requests)

    responses = await asyncio.gather(
        *(get_url(hass, item=MOVIE.rating_key, kind="file") for _ in range(10))
    )

    assert len({r["url"] for r in responses}) == 1
    assert [r.path_qs for r in emulator.requests[requests:]] == [
        "/library/metadata/1001"
    ]
    # Done: the next call looks the item up again (it may have changed).
    await get_url(hass, item=MOVIE.rating_key, kind="file")
    assert len(lookups(emulator)) == 2


async def test_lookup_sends_no_owner_token(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """The lookup goes with the transient token, in the header, never the query."""
    response = await get_url(hass, item=EPISODE.rating_key, kind="stream")

    lookup = next(r for r in emulator.requests if r.path_qs.startswith(METADATA))
    assert lookup.headers["X-Plex-Token"] == check_token(emulator, response)
    assert lookup.headers["Accept"] == "application/json"


@pytest.mark.parametrize(
    ("fault", "key"),
    [
        pytest.param(Fault.SERVER_ERROR, "cannot_connect", id="5xx"),
        pytest.param(Fault.HTML, "not_plex", id="html"),
        pytest.param(Fault.DROP, "cannot_connect", id="drop"),
        pytest.param(Fault.OVERSIZED, "not_plex", id="oversized"),
    ],
)
async def test_lookup_failures(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    fault: Fault,
    key: str,
) -> None:
    """A lookup that fails is a translated error naming the server, no token."""
    emulator.set_fault(fault, "/library/metadata/1001")

    with pytest.raises(HomeAssistantError) as err:
        await get_url(hass, item=MOVIE.rating_key)

    assert err.value.translation_key == key
    assert err.value.translation_placeholders == {"url": emulator.url}
    assert err.value.__cause__ is None
    for token in (emulator.owner_token, *emulator.issued_tokens):
        assert token not in str(err.value)


async def test_xml_answer(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """A server that answers XML to a JSON request: not understood, said so."""
    emulator.xml_only = True

    with pytest.raises(HomeAssistantError) as err:
        await get_url(hass, item=MOVIE.rating_key)

    assert err.value.translation_key == "not_plex"


async def test_token_refused_on_lookup(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """The server restarted between the check and the lookup: try again soon."""
    emulator.restart()

    with pytest.raises(HomeAssistantError) as err:
        await get_url(hass, item=MOVIE.rating_key)

    assert err.value.translation_key == "restarting"


async def test_server_failure_before_lookup(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """No working token: the same error as get_transient_token, no lookup."""
    frozen_time.tick(timedelta(minutes=2))  # the token's check is due
    emulator.set_fault(Fault.SERVER_ERROR)

    with pytest.raises(HomeAssistantError) as err:
        await get_url(hass, item=MOVIE.rating_key)

    assert err.value.translation_key == "cannot_connect"
    assert lookups(emulator) == []


async def test_dead_token_url_is_refused(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """After a Plex restart the handed-out URL no longer opens (the token died)."""
    response = await get_url(hass, item=MOVIE.rating_key, kind="file")
    emulator.restart()

    status, _, _ = await fetch(response["url"])

    assert status == 401


async def test_several_servers_need_a_choice(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Two servers in use: name one, as for get_transient_token."""
    MockConfigEntry(domain=DOMAIN, unique_id="second", data={}).add_to_hass(hass)

    with pytest.raises(ServiceValidationError) as err:
        await get_url(hass, item="1001")
    assert err.value.translation_key == "choose_server"

    response = await get_url(
        hass, item="1001", config_entry_id=init_integration.entry_id
    )
    assert response["rating_key"] == "1001"


async def test_same_token_as_the_other_action(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """Both actions hand out the entry's current transient token."""
    token = (await call_action(hass))["token"]

    response = await get_url(hass, item=MOVIE.rating_key)

    assert check_token(emulator, response) == token


# The Plex side on its own: answers a real server may send that the emulator's
# library does not (python-plexapi reads the same attributes).
BASE = URL("http://127.0.0.1:32400/")
SESSION = StreamSession("s", "client", "Home Assistant")


def _container(**entry: Any) -> dict[str, Any]:
    """A metadata answer with one entry."""
    return {"Metadata": [{"ratingKey": "7", "type": "movie", **entry}]}


@pytest.mark.parametrize(
    "container",
    [
        pytest.param({}, id="no-metadata"),
        pytest.param({"Metadata": []}, id="empty"),
        pytest.param({"Metadata": ["7"]}, id="not-an-object"),
        pytest.param({"Metadata": [{"type": "movie"}]}, id="no-key"),
        pytest.param({"Metadata": [{"ratingKey": "7", "type": 1}]}, id="type-number"),
        pytest.param({"Metadata": [{"ratingKey": "7", "type": "Movie!"}]}, id="type"),
    ],
)
def test_unusable_metadata(container: dict[str, Any]) -> None:
    """An answer without a usable entry is a response error."""
    with pytest.raises(PlexResponseError):
        MediaItem.from_container(container)


@pytest.mark.parametrize(
    ("entry", "thumb", "part"),
    [
        pytest.param({"thumb": "https://evil.example/x"}, None, None, id="foreign"),
        pytest.param({"thumb": "//evil.example/x"}, None, None, id="net-path"),
        pytest.param({"thumb": "/library/x\nHost: y"}, None, None, id="control"),
        pytest.param({"Media": "none"}, None, None, id="media-text"),
        pytest.param({"Media": [{"Part": []}]}, None, None, id="no-parts"),
        pytest.param({"Media": [{"Part": [{"key": "/etc/passwd"}]}]}, None, None),
        pytest.param(
            {"Media": [{"container": "avi", "Part": [{"key": "/library/parts/1/f"}]}]},
            None,
            ("/library/parts/1/f", "avi"),
            id="media-container",
        ),
        pytest.param(
            {"Media": [{"Part": [{"key": "/library/parts/1/f", "container": 3}]}]},
            None,
            ("/library/parts/1/f", ""),
            id="container-number",
        ),
    ],
)
def test_metadata_paths(
    entry: dict[str, Any], thumb: str | None, part: tuple[str, str] | None
) -> None:
    """Only plain paths on the server are kept: the token never goes elsewhere."""
    item = MediaItem.from_container(_container(**entry))

    found = (item.part.key, item.part.container) if item.part else None
    assert item.thumb == thumb
    assert found == part


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        pytest.param("A\x1b[31m\nB  C", "A [31m B C", id="controls"),
        pytest.param(1984, "1984", id="number"),
        pytest.param(None, "", id="missing"),
        pytest.param(True, "", id="bool"),
    ],
)
def test_title(title: object, shown: str) -> None:
    """The title is one printable line, whatever the server sent."""
    assert MediaItem.from_container(_container(title=title)).title == shown


@pytest.mark.parametrize(
    ("item_type", "container", "mime_type"),
    [
        ("movie", "avi", "video/x-msvideo"),
        ("movie", "MKV", "video/x-matroska"),
        ("track", "mp4", "audio/mp4"),
        ("clip", "rm", "application/octet-stream"),
    ],
)
def test_file_mime_type(item_type: str, container: str, mime_type: str) -> None:
    """The part's container decides its MIME type; unknown ones are octets."""
    part = {"key": "/library/parts/1/f", "container": container}
    item = MediaItem.from_container(
        _container(type=item_type, Media=[{"Part": [part]}])
    )

    found = media_url(BASE, "t", item, MediaKind.FILE, session=SESSION)

    assert found.mime_type == mime_type


def test_album_has_no_media() -> None:
    """An album with a Media entry (odd) is still no playable type."""
    item = MediaItem.from_container(
        _container(type="album", Media=[{"Part": [{"key": "/library/parts/1/f"}]}])
    )

    with pytest.raises(PlexNoMediaError):
        media_url(BASE, "t", item, MediaKind.STREAM, session=SESSION)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("plex://abc/1", PlexOtherServerItemError),
        ("plex://", PlexItemReferenceError),
        ("12345678901234", PlexItemReferenceError),
        ('plex://{"plex_key": 1.5}', PlexItemReferenceError),
    ],
)
def test_parse_item_errors(text: str, error: type[Exception]) -> None:
    """What names no rating key of this server is refused by the Plex side."""
    with pytest.raises(error):
        parse_item(text, "e2b5")


async def test_no_token_in_the_log(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At DEBUG, successes and failures alike log no token of any kind."""
    caplog.set_level(logging.DEBUG)
    await get_url(hass, item=MOVIE.rating_key, kind="stream")
    for item, kind in ((SHOW.rating_key, "file"), ("999999", "file"), ("x", "file")):
        with pytest.raises(ServiceValidationError):
            await get_url(hass, item=item, kind=kind)
    emulator.set_fault(Fault.SERVER_ERROR, "/library/metadata/1001")
    with pytest.raises(HomeAssistantError):
        await get_url(hass, item=MOVIE.rating_key)

    logged = caplog.text + "".join(str(r.exc_info) for r in caplog.records)
    assert "/library/metadata/1001" in logged  # the emulator's own request log
    for token in (emulator.owner_token, *emulator.issued_tokens):
        assert token not in logged


async def test_error_in_the_frontend(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_ws_client: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Called from the UI, the error arrives translated; plex_api logs nothing.

    (Home Assistant's websocket layer logs every validation error once, at
    ERROR, whoever raised it: that line is core's, not the integration's.)
    """
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "call_service",
            "domain": DOMAIN,
            "service": SERVICE,
            "service_data": {"item": SHOW.rating_key, "kind": "stream"},
            "return_response": True,
        }
    )

    message = await client.receive_json()

    assert not message["success"]
    assert message["error"]["translation_key"] == "item_has_no_media"
    assert message["error"]["translation_domain"] == DOMAIN
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert all(not r.name.startswith("custom_components") for r in errors)
    assert all(r.exc_info is None for r in errors)
