"""A hostile HTTP server on loopback: it answers each request with raw bytes.

What a real attacker on the LAN can do and aiohttp's own server would refuse:
malformed status lines, header lines, echoed tokens, odd encodings. The answer
is a function of the request's headers, so a test can echo X-Plex-Token back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from types import TracebackType
from typing import Self

type Answer = Callable[[str, dict[str, str]], bytes]


def response(
    body: bytes,
    *,
    status: str = "200 OK",
    content_type: str = "application/json",
    headers: str = "",
) -> bytes:
    """A well-formed HTTP/1.1 response with a length and `Connection: close`."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n{headers}\r\n"
    )
    return head.encode("latin-1") + body


def plex_answer(machine: str, token: str, name: str = "x") -> bytes:
    """One JSON MediaContainer that serves as /identity, `/` and a new token."""
    container = {
        "machineIdentifier": machine,
        "version": "1",
        "friendlyName": name,
        "token": token,
    }
    return response(json.dumps({"MediaContainer": container}).encode())


class HostileServer:
    """Answers every request with `answer(path, headers)`, then closes."""

    def __init__(self, answer: Answer) -> None:
        """Keep the answer; nothing listens until the server is entered."""
        self.answer = answer
        self.paths: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """The base URL to give a client."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> Self:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        """Stop listening and drop every connection."""
        assert self._server is not None
        self._server.close()
        self._server.close_clients()
        await self._server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Read one request head, answer it, close."""
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        path = request_line.split(" ")[1]
        self.paths.append(path)
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            if value:
                headers[name.strip().lower()] = value.strip()
        writer.write(self.answer(path, headers))
        await writer.drain()
        writer.close()


# A DTD whose entity would become the transient token if the parser read it.
_DTD_TOKEN = '<!DOCTYPE x [<!ENTITY a "transient-dtd">]><MediaContainer token="&a;"/>'
_UTF16_DECLARED = f'<?xml version="1.0" encoding="UTF-16"?>{_DTD_TOKEN}'

# Bodies that try to get a DTD, an entity or a processing instruction past the
# parser, and why each must fail: the message the parser gives.
_NOT_UTF8 = "Answer is not UTF-8 text"
_CONTROLS = "Answer holds control characters"
_REFUSED = "Answer is not a Plex XML document"
XML_TRICKS: dict[str, tuple[bytes, str]] = {
    # UTF-16 and UTF-32 without a byte order mark are "valid UTF-8" with NULs.
    "utf-16le": (_DTD_TOKEN.encode("utf-16-le"), _CONTROLS),
    "utf-16le-declared": (_UTF16_DECLARED.encode("utf-16-le"), _CONTROLS),
    "utf-16be": (_DTD_TOKEN.encode("utf-16-be"), _CONTROLS),
    "utf-32le": (_DTD_TOKEN.encode("utf-32-le"), _CONTROLS),
    "utf-32be": (_DTD_TOKEN.encode("utf-32-be"), _CONTROLS),
    # With a byte order mark they are not UTF-8 at all.
    "utf-16le-bom": (b"\xff\xfe" + _DTD_TOKEN.encode("utf-16-le"), _NOT_UTF8),
    "utf-16be-bom": (b"\xfe\xff" + _DTD_TOKEN.encode("utf-16-be"), _NOT_UTF8),
    "utf-32le-bom": (b"\xff\xfe\x00\x00" + _DTD_TOKEN.encode("utf-32-le"), _NOT_UTF8),
    "utf-32be-bom": (b"\x00\x00\xfe\xff" + _DTD_TOKEN.encode("utf-32-be"), _NOT_UTF8),
    # In UTF-8, the parser itself stops at the DTD, wherever it stands.
    "dtd": (_DTD_TOKEN.encode(), _REFUSED),
    "dtd-after-comment": (f"<!-- Plex -->{_DTD_TOKEN}".encode(), _REFUSED),
    "dtd-after-declaration-and-comment": (
        f'<?xml version="1.0"?>\n<!--\n-->\n{_DTD_TOKEN}'.encode(),
        _REFUSED,
    ),
    "lowercase-doctype": (
        b'<!doctype x><MediaContainer token="t"/>',
        "Answer is not valid XML",
    ),
    "external-entity": (
        b'<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/hostname">]>'
        b'<MediaContainer token="&a;"/>',
        _REFUSED,
    ),
    "parameter-entity": (
        b'<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>'
        b'<MediaContainer token="t"/>',
        _REFUSED,
    ),
    "external-dtd": (
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><MediaContainer token="t"/>',
        _REFUSED,
    ),
    "processing-instruction": (
        b'<?xml-stylesheet href="x.xsl"?><MediaContainer token="t"/>',
        _REFUSED,
    ),
    # An entity without a DTD is undefined: not XML.
    "entity-in-attribute": (
        b'<MediaContainer token="&a;"/>',
        "Answer is not valid XML",
    ),
    # Control characters that the parsers would let through.
    "nul": (b'<MediaContainer token="t"/>\x00', _CONTROLS),
    "del-in-json": (
        b'{"MediaContainer": {"token": "t", "friendlyName": "a\x7f"}}',
        _CONTROLS,
    ),
    "c1-in-xml": (
        '<MediaContainer token="t" friendlyName="a\x85"/>'.encode(),
        _CONTROLS,
    ),
}
