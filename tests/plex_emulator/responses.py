"""How the emulator answers: PMS's formats, and the broken answers of `Fault`."""

from collections.abc import Callable, Mapping
import contextlib
from enum import StrEnum
import html
from http import HTTPStatus
import json
from xml.etree import ElementTree as ET

from aiohttp import web

XML_CONTENT_TYPE = "text/xml;charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
TRUNCATED_JSON_BODY = b'{"MediaContainer": {"size": 0, "tok'
OVERSIZED_BYTES = 2 * 1024 * 1024

type Attributes = Mapping[str, str | int | bool]


class Fault(StrEnum):
    """Ways the emulator can misbehave, each one a failure a real client may meet."""

    DELAY = "delay"
    SERVER_ERROR = "server_error"
    HTML = "html"
    TRUNCATED_JSON = "truncated_json"
    WRONG_CONTENT = "wrong_content"
    OVERSIZED = "oversized"
    OVERSIZED_DECLARED = "oversized_declared"
    DROP = "drop"
    XML_WITHOUT_TOKEN = "xml_without_token"
    # 401 whatever the token: a server (or a proxy) that wants another one.
    UNAUTHORIZED = "unauthorized"


class ProxyMode(StrEnum):
    """How a broken reverse proxy in front of PMS answers the socket's upgrade.

    Only `/:/websockets/notifications` is affected: such proxies pass plain
    requests on fine, which is why users see "connected" and still no push.
    """

    # nginx without the Upgrade/Connection lines answers the upgrade 400:
    # "Tautulli WebSocket :: Handshake status 400" (Tautulli-Issues #28), and
    # "Handshake status 400 Bad Request ... 'server': 'nginx'" (CrossWatch #40).
    STATUS_400 = "status_400"
    # An nginx whose upstream cannot take the upgrade: "AlertListener Error:
    # Handshake status 502 Bad Gateway" (PlexTraktSync #609).
    STATUS_502 = "status_502"
    # The proxy drops the Upgrade and Connection headers (the lines removed in
    # linuxserver/reverse-proxy-confs #198: "Unable to listen for events") and
    # what answers the request then sends a plain page: 200, no upgrade.
    PLAIN_200 = "plain_200"
    # An http-to-https rule in front of everything (`return 302
    # https://$host$request_uri`, the nginx setups of Tautulli #1204 and
    # Tautulli-Issues #61): the upgrade is answered with a redirect.
    REDIRECT = "redirect"
    # The same rule behind a TLS terminator that speaks http to it: every answer
    # points back at the URL just asked for (the classic "too many redirects").
    REDIRECT_LOOP = "redirect_loop"
    # A proper 101, then the connection is cut without a close frame: the
    # repeated "Connection is already closed" right after connecting
    # (PlexTraktSync PR #213; CrossWatch #40 logs "Watcher is connected" first).
    CLOSE_AT_ONCE = "close_at_once"
    # A proper 101, then at once a close frame (1001, going away) before any
    # message: an idle-timeout or a "max connections" rule in a proxy that
    # closes politely (HAProxy's `timeout tunnel` sends the close of the side
    # that timed out; PlexTraktSync #213 shows such closes right after
    # "connected"). The red team's case: it used to be taken for a restart.
    CLOSE_FRAME_AT_ONCE = "close_frame_at_once"
    # A 101 whose Sec-WebSocket-Accept is not the key's: a middlebox that rewrites
    # the handshake. RFC 6455 section 4.1: the client must fail the connection.
    # No public report names this one; it guards the client's handshake check.
    BAD_ACCEPT = "bad_accept"
    # A proper 101, a burst of server pings, then a cut without a close frame.
    # RFC 6455 section 5.5.2 wants a pong for each ping; answering while the
    # transport closes is what killed the socket task in issue 17 (point 5).
    # No public report names this one either: it stands for that race.
    PING_BURST = "ping_burst"


# The proxy's own pages: nginx answers with this body and `Server: nginx`.
NGINX_HEADERS = {"Server": "nginx"}


def _xml_value(value: str | int | bool) -> str:
    """PMS writes booleans as 1/0 in XML."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def xml_response(attributes: Attributes) -> web.Response:
    """Render a MediaContainer element the way PMS does."""
    values = {key: _xml_value(value) for key, value in attributes.items()}
    element = ET.Element("MediaContainer", values)
    body = XML_DECLARATION + ET.tostring(element, encoding="unicode")
    return web.Response(body=body.encode(), headers={"Content-Type": XML_CONTENT_TYPE})


def json_response(payload: object, status: int = 200) -> web.Response:
    """Render a JSON body with the bare content type PMS uses."""
    headers = {"Content-Type": JSON_CONTENT_TYPE}
    return web.Response(status=status, body=json.dumps(payload), headers=headers)


def html_page(status: int, title: str | None = None) -> web.Response:
    """Answer a small HTML page, as PMS (or a foreign web server) does."""
    text = html.escape(title or f"{status} {HTTPStatus(status).phrase}")
    body = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body>"
    return web.Response(status=status, text=body + "</html>", content_type="text/html")


def proxy_page(status: int) -> web.Response:
    """Answer a page of the proxy itself, as nginx writes its error pages."""
    text = f"{status} {HTTPStatus(status).phrase}"
    body = (
        f"<html>\r\n<head><title>{text}</title></head>\r\n<body>\r\n"
        f"<center><h1>{text}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return web.Response(
        status=status, text=body, content_type="text/html", headers=NGINX_HEADERS
    )


def proxy_redirect(location: str) -> web.Response:
    """Answer 302 to `location`, the way an nginx `return 302` rule does."""
    response = proxy_page(HTTPStatus.FOUND)
    response.headers["Location"] = location
    return response


def _oversized_parts() -> tuple[bytes, int, bytes]:
    """Split a 2 MiB JSON document into head, padding length and tail."""
    head, tail = b'{"MediaContainer": {"size": 0, "padding": "', b'"}}'
    return head, OVERSIZED_BYTES - len(head) - len(tail), tail


def _oversized_declared() -> web.Response:
    """Answer 2 MiB of JSON with an honest Content-Length."""
    head, padding, tail = _oversized_parts()
    body = head + b"x" * padding + tail
    return web.Response(body=body, headers={"Content-Type": JSON_CONTENT_TYPE})


CANNED_FAULTS: dict[Fault, Callable[[], web.Response]] = {
    Fault.SERVER_ERROR: lambda: html_page(500),
    Fault.HTML: lambda: html_page(200, "Welcome to nginx!"),
    Fault.TRUNCATED_JSON: lambda: web.Response(
        body=TRUNCATED_JSON_BODY, headers={"Content-Type": JSON_CONTENT_TYPE}
    ),
    Fault.WRONG_CONTENT: lambda: json_response({"status": "ok", "items": []}),
    Fault.OVERSIZED_DECLARED: _oversized_declared,
    Fault.XML_WITHOUT_TOKEN: lambda: xml_response({"size": 0}),
    Fault.UNAUTHORIZED: lambda: html_page(401),
}


async def _oversized_streamed(request: web.Request) -> web.StreamResponse:
    """Stream 2 MiB of JSON without a length, to test client size limits."""
    response = web.StreamResponse(headers={"Content-Type": JSON_CONTENT_TYPE})
    response.enable_chunked_encoding()
    await response.prepare(request)
    head, padding, tail = _oversized_parts()
    chunk = b"x" * 65536
    with contextlib.suppress(ConnectionResetError):  # the client may give up early
        await response.write(head)
        for offset in range(0, padding, len(chunk)):
            await response.write(chunk[: padding - offset])
        await response.write(tail)
        await response.write_eof()
    return response


def drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without a single byte of response."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response()


async def faulty_response(request: web.Request, fault: Fault) -> web.StreamResponse:
    """Misbehave instead of answering (DELAY is handled by the caller)."""
    if fault is Fault.OVERSIZED:
        return await _oversized_streamed(request)
    if fault is Fault.DROP:
        return drop(request)
    return CANNED_FAULTS[fault]()
