"""Turn a Plex answer body (JSON or XML) into the attributes of its MediaContainer."""

from __future__ import annotations

import json
from typing import cast
from xml.etree import ElementTree as ET

from .errors import PlexResponseError
from .models import Container

MEDIA_CONTAINER = "MediaContainer"


def parse_media_container(body: bytes) -> Container:
    """Return the MediaContainer's attributes; anything else is a PlexResponseError.

    The format is decided by the body, not the Content-Type: Plex asked for JSON may
    still answer XML, and a non-Plex server may label anything as anything.
    """
    start = body.lstrip()[:1]
    if start == b"{":
        return _parse_json(body)
    if start == b"<":
        return _parse_xml(body)
    raise PlexResponseError("Answer is neither JSON nor XML")


def _parse_json(body: bytes) -> Container:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise PlexResponseError("Answer is not valid JSON") from err
    container = document.get(MEDIA_CONTAINER) if isinstance(document, dict) else None
    if not isinstance(container, dict):
        raise PlexResponseError("Answer has no MediaContainer")
    return cast(Container, container)


def _parse_xml(body: bytes) -> Container:
    # Plex never sends a DTD; refusing one keeps entity tricks out of the parser.
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise PlexResponseError("Answer is not a Plex XML document")
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTD, size capped by the client
    except (ET.ParseError, ValueError) as err:
        raise PlexResponseError("Answer is not valid XML") from err
    if root.tag != MEDIA_CONTAINER:
        raise PlexResponseError("Answer has no MediaContainer")
    return dict(root.attrib)
