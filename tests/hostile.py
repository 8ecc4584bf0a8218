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
