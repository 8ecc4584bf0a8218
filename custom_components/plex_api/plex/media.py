"""Media items of a Plex server and the URLs a player fetches them with.

The item is looked up on the server (`/library/metadata/{ratingKey}`) so that a
URL points at what exists: the part's own key, the item's own thumb or art, the
transcoder for an item that has media. The URL carries the token in its query,
as every Plex client hands URLs to players (python-plexapi's `PlexServer.url`
with `includeToken=True`): a Chromecast or a speaker cannot send headers. The
caller gives a transient token, never the owner token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
import json
import re
from typing import TYPE_CHECKING, Final

from yarl import URL

from .errors import PlexError, PlexResponseError, PlexStatusError
from .models import Container

if TYPE_CHECKING:
    from .client import PlexClient

METADATA_PATH: Final = "/library/metadata/"
PHOTO_TRANSCODER: Final = "/photo/:/transcode"
VIDEO_TRANSCODER: Final = "/video/:/transcode/universal/start.m3u8"
AUDIO_TRANSCODER: Final = "/music/:/transcode/universal/start.mp3"
# The pre-flight every Plex client sends before start.* (see async_prepare_stream).
VIDEO_DECISION: Final = "/video/:/transcode/universal/decision"
AUDIO_DECISION: Final = "/music/:/transcode/universal/decision"
# What Home Assistant's Plex integration writes into `media_content_id`: the
# media player's is the bare ratingKey (core plex/models.py, `media.ratingKey`),
# the media browser's `plex://{machineIdentifier}/{ratingKey}` (core
# plex/media_browser.py, `generate_plex_uri`, with an optional `?resume=1`),
# older payloads `plex://{ratingKey}`; `plex://{json}` is a search (core
# plex/services.py, `process_plex_payload`), with a key only as `plex_key`.
PLEX_SCHEME: Final = "plex://"
_RATING_KEY = re.compile(r"[0-9]{1,12}")
# A server path to append the token to: an absolute path on that server (no
# scheme, no "//" that a player would read as another host), plain characters.
_SERVER_PATH = re.compile(r"/(?!/)[A-Za-z0-9/_.:%-]{1,500}")
_PART_PATH = re.compile(r"/library/parts/[A-Za-z0-9/_.%-]{1,500}")
_ITEM_TYPE = re.compile(r"[a-z]{1,32}")
_MAX_TITLE = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# The item types python-plexapi streams (`Playable.getStreamURL` refuses others).
PLAYABLE_TYPES: Final = frozenset({"movie", "episode", "track", "clip"})
AUDIO_TYPES: Final = frozenset({"track"})

# Part containers (Plex's `container` attribute) and their MIME types.
_VIDEO_MIME: Final = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
    "mov": "video/quicktime",
    "mpegts": "video/mp2t",
    "ts": "video/mp2t",
    "webm": "video/webm",
}
_AUDIO_MIME: Final = {
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "mp4": "audio/mp4",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "ogg": "audio/ogg",
    "wav": "audio/wav",
    "alac": "audio/mp4",
}
_OCTETS: Final = "application/octet-stream"
# RFC 8216 names HLS playlists application/vnd.apple.mpegurl; Chromecast's
# default receiver takes it as the content type of an HLS stream.
HLS_MIME: Final = "application/vnd.apple.mpegurl"
MP3_MIME: Final = "audio/mpeg"
# The photo transcoder answers JPEG unless told otherwise (python-plexapi's
# `transcodeImage`: "imageFormat: 'jpeg' (default) or 'png'"); posters are JPEG.
IMAGE_MIME: Final = "image/jpeg"


class MediaKind(StrEnum):
    """What of an item a URL is for."""

    ARTWORK = "artwork"  # the poster or thumb
    BACKGROUND = "background"  # the art
    FILE = "file"  # the part itself, for direct play
    STREAM = "stream"  # the universal transcoder: HLS video, MP3 audio


class PlexItemReferenceError(PlexError):
    """The text given for an item names no rating key (a search, a station...)."""


class PlexOtherServerItemError(PlexError):
    """A `plex://` id names another server than the one asked."""


class PlexItemNotFoundError(PlexError):
    """The server has no item with that rating key (404)."""


class PlexNoMediaError(PlexError):
    """The item has no file of its own (a show, a season, an album...)."""


class PlexNoArtworkError(PlexError):
    """The item has no image of the kind asked for."""


class PlexStreamRefusedError(PlexError):
    """The transcoder's decision refused to prepare a stream of the item."""


@dataclass(frozen=True, slots=True)
class MediaPart:
    """One file of an item: its key on the server and its container."""

    key: str
    container: str


@dataclass(frozen=True, slots=True)
class MediaItem:
    """What `/library/metadata/{ratingKey}` says about an item."""

    rating_key: str
    item_type: str
    title: str
    thumb: str | None
    art: str | None
    part: MediaPart | None

    @classmethod
    def from_container(cls, container: Container) -> MediaItem:
        """Build from the MediaContainer: its first `Metadata` entry.

        Only JSON carries the entries (the client asks for JSON, and PMS
        answers it); images and parts that are not plain paths on the server
        are left out, so a URL never leads elsewhere with the token.
        """
        entries = container.get("Metadata")
        if not isinstance(entries, list) or not entries:
            raise PlexResponseError("Answer has no Metadata")
        entry = entries[0]
        if not isinstance(entry, Mapping):
            raise PlexResponseError("Answer has no usable Metadata")
        rating_key = str(entry.get("ratingKey", ""))
        item_type = entry.get("type")
        if _RATING_KEY.fullmatch(rating_key) is None or not isinstance(item_type, str):
            raise PlexResponseError("Answer has no usable ratingKey or type")
        if _ITEM_TYPE.fullmatch(item_type) is None:
            raise PlexResponseError("Answer has no usable type")
        return cls(
            rating_key=rating_key,
            item_type=item_type,
            title=_title(entry.get("title")),
            thumb=_server_path(entry.get("thumb"), _SERVER_PATH),
            art=_server_path(entry.get("art"), _SERVER_PATH),
            part=_first_part(entry.get("Media")),
        )

    @property
    def is_audio(self) -> bool:
        """Music: an MP3 stream and `music` for play_media."""
        return self.item_type in AUDIO_TYPES

    @property
    def media_content_type(self) -> str:
        """The `media_content_type` of media_player.play_media for its media."""
        return "music" if self.is_audio else "video"


@dataclass(frozen=True, slots=True)
class MediaUrl:
    """A URL for a player, what it serves, and the pre-flight a stream needs."""

    url: str
    mime_type: str
    media_content_type: str
    decision: URL | None = None  # path and query, without the token


@dataclass(frozen=True, slots=True)
class StreamSession:
    """Who asks for a transcode: the session and the client, in the query.

    Every client's transcoder request names its `session` and its
    `X-Plex-Client-Identifier` in the query (plex-for-kodi #303's logged
    decision request; Plex Web's start.m3u8 requests as public code copies
    them): a player fetching the URL sends no headers of its own.
    """

    session: str
    client_identifier: str
    product: str

    def query(self) -> dict[str, str]:
        """The session's query parameters."""
        return {
            "session": self.session,
            "X-Plex-Client-Identifier": self.client_identifier,
            "X-Plex-Product": self.product,
        }


def parse_item(item: str, machine_identifier: str) -> str:
    """The rating key in `item`, a key, a metadata path or a core Plex id.

    Raises PlexItemReferenceError for what names no key, and
    PlexOtherServerItemError for a `plex://` id of another server.
    """
    text = item.strip()
    if text.startswith(PLEX_SCHEME + "{"):
        return _json_key(text.removeprefix(PLEX_SCHEME))
    if text.startswith(PLEX_SCHEME):
        try:
            url = URL(text)
        except ValueError:
            raise PlexItemReferenceError("Not a Plex id") from None
        return _plex_url_key(url, machine_identifier)
    return _key(text.removeprefix(METADATA_PATH))


def _json_key(payload: str) -> str:
    """A search payload's `plex_key`; any other search is no item."""
    try:
        content = json.loads(payload)
    except ValueError, RecursionError:
        raise PlexItemReferenceError("Not a Plex payload") from None
    key = content.get("plex_key") if isinstance(content, dict) else None
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise PlexItemReferenceError("A search names no item")
    return _key(str(key))


def _plex_url_key(url: URL, machine_identifier: str) -> str:
    """`plex://{server}/{key}` (the media browser) or `plex://{key}` (legacy)."""
    if len(url.parts) == 2:
        if url.host != machine_identifier:
            raise PlexOtherServerItemError("Another server's item")
        return _key(url.name)
    if url.path in ("", "/") and url.host is not None:
        return _key(url.host)
    raise PlexItemReferenceError("Not an item of the library")


def _key(text: str) -> str:
    """A rating key: digits only, so it is safe in a path."""
    if _RATING_KEY.fullmatch(text) is None:
        raise PlexItemReferenceError("Not a rating key")
    return text


def _title(value: object) -> str:
    """The item's title as one printable line (it comes from the server)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    text = _CONTROL.sub(" ", str(value))
    return " ".join(text.split())[:_MAX_TITLE]


def _server_path(value: object, pattern: re.Pattern[str]) -> str | None:
    """A path on the server, or None for anything else (a URL, markup)."""
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    return None


def _first_part(media: object) -> MediaPart | None:
    """The first part of the first media, as python-plexapi streams by default.

    Its `getStreamURL` sends `mediaIndex=0` and `partIndex=0` unless told
    otherwise; the file URL is the same part's key.
    """
    if not isinstance(media, list) or not media or not isinstance(media[0], Mapping):
        return None
    parts = media[0].get("Part")
    if not isinstance(parts, list) or not parts or not isinstance(parts[0], Mapping):
        return None
    key = _server_path(parts[0].get("key"), _PART_PATH)
    if key is None:
        return None
    container = parts[0].get("container") or media[0].get("container")
    return MediaPart(key, container if isinstance(container, str) else "")


async def async_get_item(client: PlexClient, token: str, rating_key: str) -> MediaItem:
    """Look the item up with `token`; 404 is PlexItemNotFoundError."""
    try:
        container = await client.media_container(token, METADATA_PATH + rating_key)
    except PlexStatusError as err:
        if err.status == 404:
            raise PlexItemNotFoundError("No such item") from None
        raise
    return MediaItem.from_container(container)


async def async_prepare_stream(client: PlexClient, token: str, found: MediaUrl) -> None:
    """Run the transcoder's decision for a stream's session, before it is handed out.

    Real clients ask `/transcode/universal/decision` first, and a PMS 1.43
    answered a cold `start.m3u8` 400 until the decision had run for that
    session (halcyon-video #76): the player only fetches the URL, so the
    decision is asked here, with the same query, the token in the header. A
    4xx means the server will not transcode the item.
    """
    if found.decision is None:
        return
    query = dict(found.decision.query)
    try:
        await client.media_container(token, found.decision.path, query)
    except PlexStatusError as err:
        if 400 <= err.status < 500:
            raise PlexStreamRefusedError("The transcoder refused the stream") from None
        raise


def media_url(
    base: URL,
    token: str,
    item: MediaItem,
    kind: MediaKind,
    *,
    width: int | None = None,
    height: int | None = None,
    session: StreamSession,
) -> MediaUrl:
    """The URL of `kind` for `item` on the server at `base`, with `token`.

    A stream is `session`'s, and its decision is asked before it is used.
    """
    if kind in (MediaKind.ARTWORK, MediaKind.BACKGROUND):
        image = item.thumb if kind is MediaKind.ARTWORK else item.art
        if image is None:
            raise PlexNoArtworkError(f"The item has no {kind}")
        return MediaUrl(
            _image_url(base, token, image, width, height), IMAGE_MIME, "image"
        )
    if item.item_type not in PLAYABLE_TYPES or item.part is None:
        raise PlexNoMediaError("The item has no media of its own")
    if kind is MediaKind.FILE:
        return MediaUrl(
            str(base.with_path(item.part.key).with_query({"X-Plex-Token": token})),
            _file_mime(item, item.part.container),
            item.media_content_type,
        )
    if item.is_audio:
        return _stream(base, token, item, _audio_stream(session), MP3_MIME)
    return _stream(base, token, item, _video_stream(session), HLS_MIME)


def _image_url(
    base: URL, token: str, image: str, width: int | None, height: int | None
) -> str:
    """The image itself, or resized by the photo transcoder.

    python-plexapi's `PlexServer.transcodeImage`: `url` (the image's path on
    the server), `width`, `height`, `minSize=1` (keep the smaller side),
    `upscale=1`, on `/photo/:/transcode`, the token appended by `url()`. Given
    one side only, the box is square.
    """
    if width is None and height is None:
        return str(base.with_path(image).with_query({"X-Plex-Token": token}))
    side_w = width or height
    side_h = height or width
    query = {
        "url": image,
        "width": str(side_w),
        "height": str(side_h),
        "minSize": "1",
        "upscale": "1",
        "X-Plex-Token": token,
    }
    return str(base.with_path(PHOTO_TRANSCODER).with_query(query))


type _Transcoder = tuple[str, str, dict[str, str]]


def _video_stream(session: StreamSession) -> _Transcoder:
    """HLS from the universal transcoder, as python-plexapi's getStreamURL.

    `getStreamURL` (plexapi/base.py, Playable) adds `fastSeek=1` and
    `copyts=1` to the common parameters, on
    `/video/:/transcode/universal/start.m3u8`. `protocol=hls`,
    `directPlay=0` and `directStream=1` (copy what the player can take) are
    what Plex Web sends for start.m3u8, as public code copies its requests.
    """
    extra = {
        "protocol": "hls",
        "fastSeek": "1",
        "copyts": "1",
        "directPlay": "0",
        "directStream": "1",
        **session.query(),
    }
    return VIDEO_TRANSCODER, VIDEO_DECISION, extra


def _audio_stream(session: StreamSession) -> _Transcoder:
    """One MP3 over plain HTTP, which every speaker plays (Sonos included).

    PlexConnect's `getTranscodeAudioPath` (PlexAPI.py): `protocol=http` on
    `/music/:/transcode/universal/start.mp3`, with the item's key as `path`;
    `directPlay=0` and `directStream=0`: always MP3, whatever the file.
    (getStreamURL itself gives tracks an HLS playlist on
    `/audio/:/transcode/universal/start.m3u8`, which Sonos does not play.)
    """
    extra = {
        "protocol": "http",
        "directPlay": "0",
        "directStream": "0",
        **session.query(),
    }
    return AUDIO_TRANSCODER, AUDIO_DECISION, extra


def _stream(
    base: URL, token: str, item: MediaItem, transcoder: _Transcoder, mime_type: str
) -> MediaUrl:
    """The universal transcoder's URL with python-plexapi's common parameters.

    `getStreamURL`: `path` = the item's key, `mediaIndex=0`, `partIndex=0`,
    `offset=0`, `X-Plex-Platform=Chrome` (its default `platform`, which makes
    PMS pick a browser profile: H.264/AAC or MP3, what a Chromecast or a
    speaker plays), the token appended by `PlexServer.url(includeToken=True)`.
    The decision takes the same query, without the token.
    """
    start, decision, extra = transcoder
    query = {
        "path": METADATA_PATH + item.rating_key,
        "mediaIndex": "0",
        "partIndex": "0",
        **extra,
        "offset": "0",
        "X-Plex-Platform": "Chrome",
    }
    url = base.with_path(start).with_query({**query, "X-Plex-Token": token})
    return MediaUrl(
        str(url),
        mime_type,
        item.media_content_type,
        decision=URL.build(path=decision, query=query),
    )


def _file_mime(item: MediaItem, container: str) -> str:
    """The MIME type of a part from its container (mp4 is audio for a track)."""
    table = _AUDIO_MIME if item.is_audio else _VIDEO_MIME
    return table.get(container.lower(), _OCTETS)
