"""Turn a Plex answer body (JSON or XML) into the attributes of its MediaContainer.

One rule for every body: Plex speaks UTF-8, so the body is decoded strictly as
UTF-8 (a UTF-8 byte order mark is allowed) before anything looks at it. The XML
parser then reads text, never bytes, so an encoding declaration cannot make it
load a codec (`encoding="rot_13"`) or read UTF-16, and the search for a DTD runs
on the same text the parser sees. Plex never sends a DTD: any is refused, which
keeps entity tricks out. Leading white space is allowed before JSON and XML alike.
"""

from __future__ import annotations

import json
import re
from typing import cast
from xml.etree import ElementTree as ET

from .errors import PlexResponseError
from .models import Container

MEDIA_CONTAINER = "MediaContainer"
_DTD = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_media_container(body: bytes) -> Container:
    """Return the MediaContainer's attributes; anything else is a PlexResponseError.

    The format is decided by the body, not the Content-Type: Plex asked for JSON may
    still answer XML, and a non-Plex server may label anything as anything.
    """
    text = _decode(body).lstrip()
    if text.startswith("{"):
        return _parse_json(text)
    if text.startswith("<"):
        return _parse_xml(text)
    raise PlexResponseError("Answer is neither JSON nor XML")


def _decode(body: bytes) -> str:
    """Decode strictly as UTF-8, the only encoding Plex uses."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PlexResponseError("Answer is not UTF-8 text") from None


def _parse_json(text: str) -> Container:
    try:
        document = json.loads(text)
    except ValueError, RecursionError:
        raise PlexResponseError("Answer is not valid JSON") from None
    container = document.get(MEDIA_CONTAINER) if isinstance(document, dict) else None
    if not isinstance(container, dict):
        raise PlexResponseError("Answer has no MediaContainer")
    return cast(Container, container)


def _parse_xml(text: str) -> Container:
    if _DTD.search(text):
        raise PlexResponseError("Answer is not a Plex XML document")
    try:
        root = ET.fromstring(text)  # noqa: S314 - text without DTD, size capped
    except ET.ParseError, ValueError:
        raise PlexResponseError("Answer is not valid XML") from None
    if root.tag != MEDIA_CONTAINER:
        raise PlexResponseError("Answer has no MediaContainer")
    return dict(root.attrib)
