"""Answer parsing: JSON and XML MediaContainers, and nothing else gets through."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
import json
import unicodedata
from xml.etree import ElementTree as ET

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.plex_api.plex import (
    PlexIdentity,
    PlexResponseError,
    ServerInfo,
    TransientToken,
    parse_media_container,
)

from .hostile import XML_TRICKS

ISSUED = datetime(2026, 11, 28, 12, tzinfo=UTC)


def test_json_and_xml_agree() -> None:
    """The same answer in both formats gives the same models."""
    as_json = (
        b'{"MediaContainer": {"claimed": true, "machineIdentifier": "abc",'
        b' "version": "1.2"}}'
    )
    as_xml = (
        b'<?xml version="1.0"?>'
        b'<MediaContainer claimed="1" machineIdentifier="abc" version="1.2"/>'
    )

    from_json = PlexIdentity.from_container(parse_media_container(as_json))
    from_xml = PlexIdentity.from_container(parse_media_container(as_xml))

    assert from_json == from_xml == PlexIdentity("abc", "1.2", claimed=True)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"Not Found",
        b"<html><body>Plex?</body></html>",
        b'<?xml version="1.0"?><Response code="1"/>',
        b"<MediaContainer",
        b'{"MediaContainer": {"size": 0, "tok',
        b'{"status": "ok"}',
        b'{"MediaContainer": []}',
        b"[1, 2]",
        b"{" * 100_000,
        b"\xff\xfe{",
    ],
)
def test_not_a_media_container(body: bytes) -> None:
    """HTML, truncated, foreign or hostile bodies are response errors."""
    with pytest.raises(PlexResponseError):
        parse_media_container(body)


@pytest.mark.parametrize(
    ("body", "message"), list(XML_TRICKS.values()), ids=list(XML_TRICKS)
)
def test_xml_tricks(body: bytes, message: str) -> None:
    """Each encoding, DTD, entity or instruction trick fails, and for its reason."""
    with pytest.raises(PlexResponseError) as err:
        parse_media_container(body)
    assert str(err.value) == message


def test_entities_plex_uses() -> None:
    """XML's own entities and character references still read as text."""
    body = b'<MediaContainer friendlyName="Tom &amp; Jerry&#x27;s &#233;"/>'
    assert parse_media_container(body) == {"friendlyName": "Tom & Jerry's \xe9"}


def test_tab_and_line_breaks_are_not_controls() -> None:
    """White space that JSON and XML allow is no control character."""
    body = b'\t{"MediaContainer":\r\n{"token": "t-1"}}\n'
    assert parse_media_container(body) == {"token": "t-1"}


@pytest.mark.parametrize(
    ("container", "claimed"),
    [
        ({"claimed": False}, False),
        ({"claimed": "0"}, False),
        ({"claimed": 1}, True),
        ({"claimed": "true"}, True),
        ({}, False),
    ],
)
def test_claimed_forms(container: dict[str, object], claimed: bool) -> None:
    """`claimed` comes as a JSON bool, an XML "1"/"0", or not at all."""
    full = {"machineIdentifier": "abc", "version": 7, **container}
    identity = PlexIdentity.from_container(full)
    assert identity.claimed is claimed
    assert identity.version == "7"


@pytest.mark.parametrize(
    "container",
    [
        {"version": "1"},
        {"machineIdentifier": "", "version": "1"},
        {"machineIdentifier": True, "version": "1"},
        {"machineIdentifier": ["a"], "version": "1"},
        {"machineIdentifier": "a", "version": "1", "claimed": "maybe"},
    ],
)
def test_identity_missing_fields(container: dict[str, object]) -> None:
    """An identity without a usable machine identifier is not Plex."""
    with pytest.raises(PlexResponseError):
        PlexIdentity.from_container(container)


def test_server_info_platform_optional() -> None:
    """Odd servers leave out the platform; the name and id are required."""
    info = ServerInfo.from_container(
        {"friendlyName": " Den ", "machineIdentifier": "abc", "version": "1.0"}
    )
    assert info == ServerInfo("Den", "abc", "1.0", "")
    with pytest.raises(PlexResponseError):
        ServerInfo.from_container({"machineIdentifier": "abc", "version": "1.0"})


def test_transient_token_model() -> None:
    """The token lives 48 h from issue and never shows in repr or str."""
    token = TransientToken.from_container({"token": "transient-secret"}, ISSUED)
    assert token.expires_at == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert "transient-secret" not in repr(token)
    assert "transient-secret" not in str(token)
    with pytest.raises(PlexResponseError):
        TransientToken.from_container({"size": 0}, ISSUED)


def _check_parse(body: bytes) -> None:
    """Only a mapping or a PlexResponseError may come out, and models only so."""
    try:
        container = parse_media_container(body)
    except PlexResponseError:
        return
    assert isinstance(container, dict)
    for model in (PlexIdentity, ServerInfo):
        with contextlib.suppress(PlexResponseError):
            model.from_container(container)
    with contextlib.suppress(PlexResponseError):
        TransientToken.from_container(container, ISSUED)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes(body: bytes) -> None:
    """Arbitrary bytes never crash the parser."""
    _check_parse(body)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["MediaContainer", "errors", "token", "x"]), JSON_VALUES
    )
    | JSON_VALUES
)
def test_any_json(document: object) -> None:
    """Any JSON document gives a model or a PlexResponseError."""
    _check_parse(json.dumps(document).encode())


XML_NAMES = st.sampled_from(
    ["MediaContainer", "token", "machineIdentifier", "friendlyName", "version", "a"]
)


@settings(max_examples=300, deadline=None)
@given(XML_NAMES, st.dictionaries(XML_NAMES, st.text(max_size=20), max_size=5))
def test_any_xml(tag: str, attributes: dict[str, str]) -> None:
    """Any XML element gives a model or a PlexResponseError."""
    element = ET.Element(tag, attributes)
    _check_parse(ET.tostring(element))


_LINE_BREAKING = {"Cc", "Zl", "Zp"}
# Text with control characters among letters: what escapes can carry.
TEXT_WITH_CONTROLS = st.text(
    st.characters(categories=["Cc", "Zl", "Zp"]) | st.characters(categories=["L"]),
    min_size=1,
    max_size=30,
)


def _without_controls(text: str) -> bool:
    return not any(unicodedata.category(char) in _LINE_BREAKING for char in text)


@settings(max_examples=300, deadline=None)
@given(TEXT_WITH_CONTROLS)
def test_json_escapes_carry_no_controls(text: str) -> None:
    r"""`\u001b`, `\n`, `\u0085` in JSON strings, nested too, end up as spaces."""
    body = json.dumps(
        {
            "MediaContainer": {
                "friendlyName": text,
                "machineIdentifier": "abc",
                "version": text,
                "Metadata": [{"title": text, "Media": [{"x": [text]}]}],
            }
        }
    ).encode()

    container = parse_media_container(body)

    assert _without_controls(str(container["friendlyName"]))
    assert _without_controls(json.dumps(container, ensure_ascii=False))
    with contextlib.suppress(PlexResponseError):  # only controls: a blank name
        info = ServerInfo.from_container(container)
        assert _without_controls(info.friendly_name + info.version)


@settings(max_examples=300, deadline=None)
@given(TEXT_WITH_CONTROLS)
def test_xml_references_carry_no_controls(text: str) -> None:
    """`&#10;`, `&#127;`, `&#133;` in XML attributes end up as spaces.

    References to characters XML forbids (ESC, NUL) are malformed XML.
    """
    references = "".join(f"&#{ord(char)};" for char in text)
    body = f'<MediaContainer friendlyName="{references}" version="1"/>'.encode()

    try:
        container = parse_media_container(body)
    except PlexResponseError:
        assert any(ord(char) < 0x20 and char not in "\t\n\r" for char in text)
        return
    assert _without_controls(str(container["friendlyName"]))
