r"""Turn a Plex answer body (JSON or XML) into the attributes of its MediaContainer.

One rule for every body: Plex speaks UTF-8, so the body is decoded strictly as
UTF-8 (a UTF-8 byte order mark is allowed) before anything looks at it, and text
with control characters is refused: UTF-16 or UTF-32 without a byte order mark
decodes "as UTF-8" with NULs between the letters, and no Plex answer holds a
control character (tab and line breaks aside). The XML parser then reads that
text, never bytes, so an encoding declaration cannot make it load a codec.
Plex never sends a DTD, an entity of its own or a processing instruction: the
parser (expat, as every Python XML parser) is told to stop at the first of them,
before it reads a declaration, whatever the encoding it believes in. Leading
white space is allowed before JSON and XML alike.

Escapes can still carry control characters the raw text does not show: JSON's
`\u001b` or `\n`, XML's `&#10;` or `&#133;`. Every string value of the parsed
answer has them (C0 including ESC and line feed, DEL, C1, and the Unicode line
and paragraph separators) replaced by spaces, so no server's name can move a
log line, colour a terminal or break a title.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast
import unicodedata
from xml.parsers import expat

from .errors import PlexResponseError
from .models import Container

MEDIA_CONTAINER = "MediaContainer"
# C0 controls but tab, line feed and carriage return; DEL and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# What an escape may still put into text: Unicode's control category (C0, DEL,
# C1) and the separators that end a line as a line feed does.
_LINE_BREAKING = frozenset({"Cc", "Zl", "Zp"})
# Every expat callback that sees a DTD, an entity declaration or reference that
# needs a DTD, or a processing instruction (the XML declaration is none).
_REFUSED_HANDLERS = (
    "StartDoctypeDeclHandler",
    "EntityDeclHandler",
    "UnparsedEntityDeclHandler",
    "NotationDeclHandler",
    "ExternalEntityRefHandler",
    "SkippedEntityHandler",
    "ProcessingInstructionHandler",
)


class _RefusedMarkupError(Exception):
    """The document uses markup that Plex never sends."""


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


def without_controls(text: str) -> str:
    """The text with every control character (as decoded) made a space."""
    if text.isprintable():  # the usual case, at C speed
        return text
    return "".join(
        " " if unicodedata.category(char) in _LINE_BREAKING else char for char in text
    )


def clean_strings(document: Any) -> Any:
    """Every string value of a decoded JSON document without control characters.

    Iterative, so that a document as deep as the JSON parser allows is cleaned
    without a recursion of its own.
    """
    box = [document]  # a bare string is cleaned like any other
    pending: list[Any] = [box]
    while pending:
        node = pending.pop()
        items: Any = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, value in list(items):
            if isinstance(value, str):
                node[key] = without_controls(value)
            elif isinstance(value, dict | list):
                pending.append(value)
    return box[0]


def _decode(body: bytes) -> str:
    """Decode strictly as UTF-8, the only encoding Plex uses; refuse controls."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PlexResponseError("Answer is not UTF-8 text") from None
    if _CONTROL.search(text):
        raise PlexResponseError("Answer holds control characters")
    return text


def _parse_json(text: str) -> Container:
    try:
        document = json.loads(text)
    except ValueError, RecursionError:
        raise PlexResponseError("Answer is not valid JSON") from None
    container = document.get(MEDIA_CONTAINER) if isinstance(document, dict) else None
    if not isinstance(container, dict):
        raise PlexResponseError("Answer has no MediaContainer")
    return cast(Container, clean_strings(container))


def _refuse(*_args: object) -> None:
    raise _RefusedMarkupError


def _parse_xml(text: str) -> Container:
    """The root element's tag and attributes, read by an expat that refuses DTDs."""
    elements: list[tuple[str, dict[str, str]]] = []
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    for handler in _REFUSED_HANDLERS:
        setattr(parser, handler, _refuse)
    parser.StartElementHandler = lambda tag, attributes: elements.append(
        (tag, attributes)
    )
    try:
        parser.Parse(text, True)
    except _RefusedMarkupError:
        raise PlexResponseError("Answer is not a Plex XML document") from None
    except expat.ExpatError:
        raise PlexResponseError("Answer is not valid XML") from None
    tag, attributes = elements[0]  # a well-formed document has a root element
    if tag != MEDIA_CONTAINER:
        raise PlexResponseError("Answer has no MediaContainer")
    return {name: without_controls(value) for name, value in attributes.items()}
