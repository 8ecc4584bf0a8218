"""The emulator's media library: a few items, their files, images and transcoders.

What PMS serves for `/library/metadata/{ratingKey}` and the URLs players fetch
from it, enough for tests to follow a URL the integration hands out and get the
bytes with their content type.

Sources of the shapes:
- The metadata answer: a MediaContainer with one `Metadata` entry per item, each
  movie, episode and track with `Media` entries holding `Part` entries; `key`,
  `ratingKey`, `type`, `title`, `thumb`, `art` on the item, `key`, `file`,
  `container`, `size`, `duration` on the part (Plex's API description,
  `getMetaDataByRatingKey`, as the generated Plex SDKs model it; python-plexapi
  reads the same attributes in plexapi/video.py, audio.py and media.py:
  `Media.parts` from `Part`, `MediaPart.key`, `container`). Thumbs and art are
  `/library/metadata/{ratingKey}/thumb/{updatedAt}` and `.../art/{updatedAt}`;
  parts `/library/parts/{id}/{updatedAt}/file.{ext}` (python-plexapi's test
  data and docs show these paths). In XML the items are `Video` (movie,
  episode), `Track` and `Directory` (show) elements.
- A show has no `Media` (python-plexapi's `Show` is not Playable). The track has
  no `art`: an artist without a background image, as Plex leaves it out.
- An unknown key is a 404 HTML page, like every path PMS does not know.
- Media URLs take the token in the query (X-Plex-Token), as players use them
  (python-plexapi's `PlexServer.url(..., includeToken=True)`); PMS accepts the
  header too. Without a valid token: 401.
- `/photo/:/transcode` takes `url`, `width`, `height` (python-plexapi's
  `transcodeImage`) and answers a JPEG (its default format). The universal
  transcoder's `start.m3u8` answers an HLS playlist (RFC 8216's media type; no
  public capture of PMS's exact header was found) and `start.mp3` an MP3 body
  (PlexConnect's audio transcode path): both need `path` to name a playable item
  of their own kind (video or music). Their bodies are tiny stand-ins.
- `.../transcode/universal/decision` is the pre-flight real clients send first
  (plex-for-kodi #303 logs one; Plex Web's DASH requests in public HAR notes
  show decision, then start). A `start.*` whose `session` had no decision is a
  400, as a PMS 1.43 answered a cold start.m3u8 (halcyon-video #76). The
  decision's answer: a MediaContainer with `generalDecisionCode` 1000 and the
  text PMS writes for a conversion ("Direct play not available; Conversion
  OK." in those notes). `refuse_transcode` makes every decision a 400, as a
  server whose transcoder is off or cannot read the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

from tests.plex_emulator.responses import (
    XML_CONTENT_TYPE,
    XML_DECLARATION,
    html_page,
    json_response,
)

UPDATED_AT = 1764000000
# JPEG: start of image, a JFIF APP0 header, end of image (a stand-in poster).
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
JPEG_END = b"\xff\xd9"
# One MPEG-1 Layer III frame header (128 kbit/s, 44.1 kHz) and silence.
MP3_BYTES = b"\xff\xfb\x90\x64" + b"\x00" * 60
HLS_MIME = "application/vnd.apple.mpegurl"
PART_MIME = {
    "mp4": "video/mp4",
    "mkv": "video/x-matroska",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
}

type Authorized = Callable[[str | None], bool]
type WantsJson = Callable[[web.Request], bool]


@dataclass(frozen=True)
class LibraryItem:
    """One item of the library and, if it has one, its single part."""

    rating_key: str
    item_type: str
    title: str
    tag: str  # its element in XML answers
    art: bool = True
    part_id: int | None = None
    container: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The item's own path."""
        return f"/library/metadata/{self.rating_key}"

    @property
    def part_key(self) -> str | None:
        """The part's path, None for an item without media."""
        if self.part_id is None:
            return None
        return f"/library/parts/{self.part_id}/{UPDATED_AT}/file.{self.container}"

    def image(self, kind: str) -> str:
        """The thumb or art path, with the update time PMS puts in it."""
        return f"{self.key}/{kind}/{UPDATED_AT}"

    def images(self) -> set[str]:
        """The image paths the item has: its thumb, and its art if it has one."""
        kinds = ("thumb", "art") if self.art else ("thumb",)
        return {self.image(kind) for kind in kinds}

    def metadata(self) -> dict[str, Any]:
        """The item's Metadata entry, as PMS writes it in JSON."""
        entry: dict[str, Any] = {
            "ratingKey": self.rating_key,
            "key": self.key,
            "guid": f"plex://{self.item_type}/5d7768{self.rating_key}",
            "type": self.item_type,
            "title": self.title,
            "thumb": self.image("thumb"),
            "addedAt": UPDATED_AT,
            "updatedAt": UPDATED_AT,
            **self.extra,
        }
        if self.art:
            entry["art"] = self.image("art")
        if self.part_key is not None:
            part = {
                "id": self.part_id,
                "key": self.part_key,
                "duration": 5400000,
                "file": f"/data/media/{self.rating_key}.{self.container}",
                "size": 1048576,
                "container": self.container,
            }
            entry["Media"] = [
                {
                    "id": self.part_id,
                    "duration": 5400000,
                    "container": self.container,
                    "Part": [part],
                }
            ]
        return entry


MOVIE = LibraryItem(
    "1001",
    "movie",
    "Big Buck Bunny",
    "Video",
    part_id=5001,
    container="mp4",
    extra={"year": 2008, "librarySectionTitle": "Movies"},
)
EPISODE = LibraryItem(
    "2001",
    "episode",
    "Pilot",
    "Video",
    part_id=5002,
    container="mkv",
    extra={"grandparentTitle": "The Show", "parentIndex": 1, "index": 1},
)
TRACK = LibraryItem(
    "3001",
    "track",
    "First Song",
    "Track",
    art=False,
    part_id=5003,
    container="flac",
    extra={"grandparentTitle": "The Band", "parentTitle": "The Album"},
)
SHOW = LibraryItem(
    "4001", "show", "The Show", "Directory", extra={"childCount": 1, "leafCount": 1}
)
ITEMS = {item.rating_key: item for item in (MOVIE, EPISODE, TRACK, SHOW)}


def _token_of(request: web.Request) -> str | None:
    """PMS accepts the token as a header or as a query parameter."""
    return request.headers.get("X-Plex-Token") or request.query.get("X-Plex-Token")


def _xml(item: LibraryItem) -> str:
    """The item's answer in XML: the entry as an element, Media and Part inside."""
    entry = item.metadata()
    media = entry.pop("Media", [])
    root = ET.Element("MediaContainer", {"size": "1"})
    element = ET.SubElement(root, item.tag, {k: str(v) for k, v in entry.items()})
    for medium in media:
        parts = medium.pop("Part")
        media_element = ET.SubElement(
            element, "Media", {k: str(v) for k, v in medium.items()}
        )
        for part in parts:
            ET.SubElement(media_element, "Part", {k: str(v) for k, v in part.items()})
    return XML_DECLARATION + ET.tostring(root, encoding="unicode")


class Library:
    """The routes of the library, guarded by the emulator's token rules."""

    def __init__(self, authorized: Authorized, wants_json: WantsJson) -> None:
        """Answer with the emulator's idea of a valid token and of JSON."""
        self._authorized = authorized
        self._wants_json = wants_json
        self.decided: set[str] = set()  # transcode sessions that had a decision
        self.refuse_transcode = False
        self._parts = {item.part_key: item for item in ITEMS.values() if item.part_key}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Serve the metadata, images, parts and transcoders."""
        router.add_get("/library/metadata/{key}", self._metadata)
        router.add_get("/library/metadata/{key}/{kind}/{stamp}", self._image)
        router.add_get("/library/parts/{part}/{stamp}/{name}", self._part)
        router.add_get("/photo/:/transcode", self._photo)
        router.add_get("/video/:/transcode/universal/start.m3u8", self._video)
        router.add_get("/music/:/transcode/universal/start.mp3", self._music)
        router.add_get("/video/:/transcode/universal/decision", self._video_decision)
        router.add_get("/music/:/transcode/universal/decision", self._music_decision)

    def _refused(self, request: web.Request) -> web.Response | None:
        """401 (an HTML page, as PMS sends) without a valid token."""
        return None if self._authorized(_token_of(request)) else html_page(401)

    async def _metadata(self, request: web.Request) -> web.StreamResponse:
        """The item's MediaContainer, JSON or XML; 404 for an unknown key."""
        if (refused := self._refused(request)) is not None:
            return refused
        item = ITEMS.get(request.match_info["key"])
        if item is None:
            return html_page(404)
        if self._wants_json(request):
            container = {
                "size": 1,
                "allowSync": True,
                "identifier": "com.plexapp.plugins.library",
                "mediaTagPrefix": "/system/bundle/media/flags/",
                "Metadata": [item.metadata()],
            }
            return json_response({"MediaContainer": container})
        body = _xml(item).encode()
        return web.Response(body=body, headers={"Content-Type": XML_CONTENT_TYPE})

    async def _image(self, request: web.Request) -> web.StreamResponse:
        """An item's thumb or art, as a JPEG naming it."""
        if (refused := self._refused(request)) is not None:
            return refused
        item = ITEMS.get(request.match_info["key"])
        if item is None or request.path not in item.images():
            return html_page(404)
        return _jpeg(request.path)

    async def _part(self, request: web.Request) -> web.StreamResponse:
        """A part's bytes with its container's type."""
        if (refused := self._refused(request)) is not None:
            return refused
        item = self._parts.get(request.path)
        if item is None:
            return html_page(404)
        body = f"{item.container} file of {item.rating_key}".encode()
        return web.Response(body=body, content_type=PART_MIME[item.container])

    async def _photo(self, request: web.Request) -> web.StreamResponse:
        """A resized image of one of ours; 400 without a size or a known image."""
        if (refused := self._refused(request)) is not None:
            return refused
        query = request.query
        images = set().union(*(item.images() for item in ITEMS.values()))
        sizes = (query.get("width", ""), query.get("height", ""))
        if query.get("url") not in images or not all(s.isdigit() for s in sizes):
            return html_page(400)
        return _jpeg(f"{query['url']} at {sizes[0]}x{sizes[1]}")

    async def _video_decision(self, request: web.Request) -> web.StreamResponse:
        """The decision for a video stream's session."""
        return self._decision(request, audio=False)

    async def _music_decision(self, request: web.Request) -> web.StreamResponse:
        """The decision for a music stream's session."""
        return self._decision(request, audio=True)

    def _decision(self, request: web.Request, *, audio: bool) -> web.Response:
        """Remember the session; answer the decision as a MediaContainer."""
        item = self._playable(request, audio=audio, decided=False)
        if isinstance(item, web.Response):
            return item
        if self.refuse_transcode:
            return html_page(400)
        self.decided.add(request.query["session"])
        return json_response(
            {
                "MediaContainer": {
                    "size": 1,
                    "generalDecisionCode": 1000,
                    "generalDecisionText": "Direct play not available; Conversion OK.",
                    "Metadata": [item.metadata()],
                }
            }
        )

    async def _video(self, request: web.Request) -> web.StreamResponse:
        """An HLS playlist for a movie or an episode."""
        item = self._playable(request, audio=False)
        if isinstance(item, web.Response):
            return item
        playlist = (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=4000000,RESOLUTION=1920x1080\n"
            f"session/{item.rating_key}/base/index.m3u8\n"
        )
        return web.Response(body=playlist.encode(), content_type=HLS_MIME)

    async def _music(self, request: web.Request) -> web.StreamResponse:
        """An MP3 body for a track."""
        item = self._playable(request, audio=True)
        if isinstance(item, web.Response):
            return item
        return web.Response(body=MP3_BYTES, content_type="audio/mpeg")

    def _playable(
        self, request: web.Request, *, audio: bool, decided: bool = True
    ) -> LibraryItem | web.Response:
        """The item `path` names, if it has media of the transcoder's kind.

        A 400 too without a `session` and an `X-Plex-Client-Identifier`, and
        for a start whose session had no decision (`decided`).
        """
        if (refused := self._refused(request)) is not None:
            return refused
        query = request.query
        path = query.get("path", "")
        item = ITEMS.get(path.removeprefix("/library/metadata/"))
        if (
            item is None
            or item.part_key is None
            or (item.item_type == "track") != audio
            or not path.startswith("/library/metadata/")
            or not query.get("X-Plex-Client-Identifier")
            or (decided and query.get("session") not in self.decided)
            or not query.get("session")
        ):
            return html_page(400)
        return item


def _jpeg(label: str) -> web.Response:
    """A tiny JPEG that says which image it stands for (in a comment segment)."""
    comment = label.encode()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return web.Response(body=JPEG_BYTES + segment + JPEG_END, content_type="image/jpeg")
