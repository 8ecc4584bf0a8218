"""A small Plex Media Server emulator.

It serves the three endpoints the integration talks to, so that tests (and a dev
script) never need a real server, and it can misbehave on demand (see `Fault`)
to exercise every error path of the client.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
import html
from http import HTTPStatus
import ipaddress
import json
from pathlib import Path
import secrets
import ssl
import tempfile
from typing import Any
import uuid
from xml.etree import ElementTree as ET

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TRANSIENT_TOKEN_LIFETIME = timedelta(hours=48)
CONTROL_PREFIX = "/_emulator/"
XML_CONTENT_TYPE = "text/xml;charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
TRUNCATED_JSON_BODY = b'{"MediaContainer": {"size": 0, "tok'
OVERSIZED_BYTES = 2 * 1024 * 1024
AUTH_ERRORS = {401: (1001, "User could not be authenticated"), 403: (1003, "Forbidden")}

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
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


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as seen on the wire, so tests can check what the client sent."""

    method: str
    path_qs: str
    headers: Mapping[str, str]


def _utcnow() -> datetime:
    """Look datetime up at each call so that freezegun can move the clock."""
    return datetime.now(UTC)


def _token_of(request: web.Request) -> str | None:
    """PMS accepts the token as a header or as a query parameter."""
    return request.headers.get("X-Plex-Token") or request.query.get("X-Plex-Token")


def _xml_value(value: str | int | bool) -> str:
    """PMS writes booleans as 1/0 in XML."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _xml_response(attributes: Attributes) -> web.Response:
    """Render a MediaContainer element the way PMS does."""
    values = {key: _xml_value(value) for key, value in attributes.items()}
    element = ET.Element("MediaContainer", values)
    body = XML_DECLARATION + ET.tostring(element, encoding="unicode")
    return web.Response(body=body.encode(), headers={"Content-Type": XML_CONTENT_TYPE})


def _json_response(payload: object, status: int = 200) -> web.Response:
    """Render a JSON body with the bare content type PMS uses."""
    headers = {"Content-Type": JSON_CONTENT_TYPE}
    return web.Response(status=status, body=json.dumps(payload), headers=headers)


def _html(status: int, title: str | None = None) -> web.Response:
    """Answer a small HTML page, as PMS (or a foreign web server) does."""
    text = html.escape(title or f"{status} {HTTPStatus(status).phrase}")
    body = f"<html><head><title>{text}</title></head><body><h1>{text}</h1></body>"
    return web.Response(status=status, text=body + "</html>", content_type="text/html")


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
    Fault.SERVER_ERROR: lambda: _html(500),
    Fault.HTML: lambda: _html(200, "Welcome to nginx!"),
    Fault.TRUNCATED_JSON: lambda: web.Response(
        body=TRUNCATED_JSON_BODY, headers={"Content-Type": JSON_CONTENT_TYPE}
    ),
    Fault.WRONG_CONTENT: lambda: _json_response({"status": "ok", "items": []}),
    Fault.OVERSIZED_DECLARED: _oversized_declared,
    Fault.XML_WITHOUT_TOKEN: lambda: _xml_response({"size": 0}),
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


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without a single byte of response."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response()


def _parse_fault_request(payload: Any) -> tuple[Fault | None, list[str]]:
    """Validate a control request body; ValueError/TypeError when malformed."""
    value, paths = payload.get("fault"), payload.get("paths") or []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise TypeError("paths must be a list of strings")
    return (None if value is None else Fault(value)), paths


def _self_signed_pem() -> tuple[bytes, bytes]:
    """Make a throwaway certificate for 127.0.0.1/localhost; EC keeps it fast."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Wide validity: tests freeze "now" away from the clock OpenSSL checks.
        .not_valid_before(now - timedelta(days=365))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


# cryptography remembers the datetime class of its first certificate: make that
# the real one now, before a test freezes time with a datetime subclass.
_self_signed_pem()


def _server_ssl_context(certificate_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """Load the PEMs; the ssl module only reads them from files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert_file.write_bytes(certificate_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


class _TlsAcceptor(asyncio.Protocol):
    """Run the TLS handshake of one connection ourselves.

    When the loop does it, a client that refuses the certificate makes a debug
    loop (as Home Assistant tests run) report an error that fails the test; here
    a failed handshake only closes that connection, as on a real server.
    """

    def __init__(
        self,
        factory: Callable[[], asyncio.BaseProtocol],
        context: ssl.SSLContext,
        tasks: set[asyncio.Task[None]],
    ) -> None:
        """Remember what to hand the connection to once it is encrypted."""
        self._factory, self._context, self._tasks = factory, context, tasks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the handshake; the task is kept so that stop() can cancel it."""
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        task = asyncio.get_running_loop().create_task(self._handshake(transport))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handshake(self, transport: asyncio.Transport) -> None:
        """Hand the encrypted transport to the HTTP protocol, or drop it."""
        protocol = self._factory()
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                transport, protocol, self._context, server_side=True
            )
        except OSError:  # includes ssl.SSLError and handshake timeouts
            transport.abort()
            return
        if tls is not None:
            protocol.connection_made(tls)


class PlexEmulator:
    """An in-process PMS with the token rules of a real one and fault injection."""

    def __init__(
        self,
        *,
        owner_token: str | None = None,
        shared_token: str | None = None,
        machine_identifier: str = "e2b5c4f1a9d84c7b8f3e6a1d0c9b7a52",
        friendly_name: str = "Living Room Plex",
        version: str = "1.42.1.10060-4e8b05daf",
        platform: str = "Linux",
        claimed: bool = True,
        https: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Set up the server identity; nothing listens until start()."""
        self.owner_token = owner_token or secrets.token_urlsafe(20)
        self.shared_token = shared_token or secrets.token_urlsafe(20)
        self.machine_identifier = machine_identifier
        self.friendly_name = friendly_name
        self.version = version
        self.platform = platform
        self.claimed = claimed
        self.https = https
        self.xml_only = False  # answer XML even when JSON is asked for
        self.transient_tokens: dict[str, datetime] = {}
        self.requests: list[ReceivedRequest] = []
        self.fault: Fault | None = None
        self.fault_paths: frozenset[str] | None = None
        self.delay = 30.0
        self.restarts = 0
        self.certificate_pem: bytes | None = None  # kept across restarts; None = new
        self._key_pem = b""
        self._token_requests = 0
        self.issued_tokens: list[str] = []  # every transient token, restarts or not
        self._clock = clock or _utcnow
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._host = "127.0.0.1"
        self._port: int | None = None

    def set_fault(self, fault: Fault | None, *paths: str) -> None:
        """Misbehave from now on, on the given paths or on all of them."""
        self.fault = fault
        self.fault_paths = frozenset(paths) if paths else None

    def restart(self) -> None:
        """Simulate a PMS restart: transient tokens live only in its memory."""
        self.transient_tokens.clear()
        self.restarts += 1

    def revoke_owner_token(self) -> str:
        """Simulate the owner signing out everywhere: the old token stops working."""
        self.owner_token = secrets.token_urlsafe(20)
        return self.owner_token

    def token_requests(self) -> int:
        """Count delegation requests, to check the client does not over-ask."""
        return self._token_requests

    def is_accepted(self, token: str) -> bool:
        """Tell whether GET / would accept this token now."""
        if token in (self.owner_token, self.shared_token):
            return True
        issued_at = self.transient_tokens.get(token)
        if issued_at is None:
            return False
        return self._clock() - issued_at < TRANSIENT_TOKEN_LIFETIME

    def _wants_json(self, request: web.Request) -> bool:
        """PMS answers JSON only when asked to; XML is its default."""
        accept = request.headers.get("Accept", "")
        return not self.xml_only and JSON_CONTENT_TYPE in accept

    def _container(self, request: web.Request, attributes: Attributes) -> web.Response:
        """Answer a MediaContainer in the format the client asked for."""
        if self._wants_json(request):
            return _json_response({"MediaContainer": dict(attributes)})
        return _xml_response(attributes)

    def _auth_error(self, request: web.Request, status: int) -> web.Response:
        """Answer 401/403 as PMS does: a JSON errors list if accepted, else HTML."""
        if not self._wants_json(request):
            return _html(status)
        code, message = AUTH_ERRORS[status]
        error = {"code": code, "message": message, "status": status}
        return _json_response({"errors": [error]}, status)

    async def _identity(self, request: web.Request) -> web.StreamResponse:
        """Answer /identity, which PMS serves without a token."""
        return self._container(
            request,
            {
                "size": 0,
                "claimed": self.claimed,
                "machineIdentifier": self.machine_identifier,
                "version": self.version,
            },
        )

    async def _root(self, request: web.Request) -> web.StreamResponse:
        """Answer / with the server description, for any valid token."""
        token = _token_of(request)
        if token is None or not self.is_accepted(token):
            return self._auth_error(request, 401)
        return self._container(
            request,
            {
                "size": 0,
                "allowSync": True,
                "claimed": self.claimed,
                "friendlyName": self.friendly_name,
                "machineIdentifier": self.machine_identifier,
                "myPlex": True,
                "myPlexSigninState": "ok",
                "platform": self.platform,
                "platformVersion": "6.8.0",
                "transcoderActiveVideoSessions": 0,
                "updatedAt": int(self._clock().timestamp()),
                "version": self.version,
            },
        )

    async def _security_token(self, request: web.Request) -> web.StreamResponse:
        """Issue a transient delegation token, to the owner only."""
        token = _token_of(request)
        if token is None or not self.is_accepted(token):
            return self._auth_error(request, 401)
        if token != self.owner_token:
            return self._auth_error(request, 403)
        query = request.query
        if query.get("type") != "delegation" or query.get("scope") != "all":
            return _html(400)
        transient = f"transient-{uuid.uuid4()}"
        self.transient_tokens[transient] = self._clock()
        self.issued_tokens.append(transient)
        return self._container(request, {"size": 0, "token": transient})

    async def _faulty_response(
        self, request: web.Request, fault: Fault
    ) -> web.StreamResponse:
        """Misbehave instead of answering (DELAY is handled by the caller)."""
        if fault is Fault.OVERSIZED:
            return await _oversized_streamed(request)
        if fault is Fault.DROP:
            return _drop(request)
        return CANNED_FAULTS[fault]()

    async def _sleep(self, seconds: float) -> None:
        """Wait, but wake up at stop() so that it never hangs on us."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Record the request, apply any fault, and turn 404s into HTML pages."""
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        headers = {str(name): value for name, value in request.headers.items()}
        self.requests.append(ReceivedRequest(request.method, request.raw_path, headers))
        if request.method == "GET" and request.path == "/security/token":
            self._token_requests += 1  # counted here: long soak tests ask often
        in_scope = self.fault_paths is None or request.path in self.fault_paths
        if in_scope and self.fault is Fault.DELAY:
            await self._sleep(self.delay)
            if self._stopping.is_set():  # a stopping server answers nothing
                return _drop(request)
        elif in_scope and self.fault is not None:
            return await self._faulty_response(request, self.fault)
        try:
            return await handler(request)
        except web.HTTPException as error:
            return _html(error.status)

    async def _control_restart(self, _request: web.Request) -> web.StreamResponse:
        """Restart on behalf of a separate process."""
        self.restart()
        return web.Response(status=204)

    async def _control_revoke(self, _request: web.Request) -> web.StreamResponse:
        """Revoke on behalf of a separate process and tell it the new token."""
        return _json_response({"owner_token": self.revoke_owner_token()})

    async def _control_fault(self, request: web.Request) -> web.StreamResponse:
        """Set the fault on behalf of a separate process."""
        try:
            fault, paths = _parse_fault_request(await request.json())
        except ValueError, TypeError, AttributeError:
            return _html(400)
        self.set_fault(fault, *paths)
        return web.Response(status=204)

    async def _control_state(self, _request: web.Request) -> web.StreamResponse:
        """Report what a separate process cannot read from our attributes."""
        live = [token for token in self.transient_tokens if self.is_accepted(token)]
        return _json_response(
            {
                "token_requests": self.token_requests(),
                "restarts": self.restarts,
                "transient_tokens": live,
            }
        )

    def make_app(self) -> web.Application:
        """Build the application.

        The /_emulator/ control endpoints take no token: this is a loopback dev
        tool, never something to expose on a network.
        """
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/identity", self._identity)
        app.router.add_get("/", self._root)
        app.router.add_get("/security/token", self._security_token)
        app.router.add_post(CONTROL_PREFIX + "restart", self._control_restart)
        app.router.add_post(CONTROL_PREFIX + "revoke", self._control_revoke)
        app.router.add_post(CONTROL_PREFIX + "fault", self._control_fault)
        app.router.add_get(CONTROL_PREFIX + "state", self._control_state)
        return app

    def _protocol_factory(
        self, runner: web.AppRunner
    ) -> Callable[[], asyncio.BaseProtocol]:
        """Return what serves each connection: HTTP, or TLS then HTTP."""
        http_factory = runner.server
        assert http_factory is not None, "runner.setup() was not awaited"
        if not self.https:
            return http_factory
        if self.certificate_pem is None:
            self.certificate_pem, self._key_pem = _self_signed_pem()
        context = _server_ssl_context(self.certificate_pem, self._key_pem)
        return lambda: _TlsAcceptor(http_factory, context, self._handshakes)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port; port 0 picks a free one."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        self._stopping = asyncio.Event()
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._protocol_factory(runner), host, port, reuse_address=True
            )
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._host = runner, host
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening; wakes delayed requests first so this returns promptly."""
        self._stopping.set()
        if self._runner is None or self._server is None:
            return
        server, runner = self._server, self._runner
        self._server = self._runner = None
        server.close()
        for task in self._handshakes:
            task.cancel()
        await runner.cleanup()
        server.close_clients()
        await server.wait_closed()

    @property
    def host(self) -> str:
        """Return the host the emulator listens (or last listened) on."""
        return self._host

    @property
    def port(self) -> int:
        """Return the bound port; kept after stop() so start() can reuse it."""
        if self._port is None:
            raise RuntimeError("the emulator has not been started")
        return self._port

    @property
    def url(self) -> str:
        """Return the base URL clients should use."""
        scheme = "https" if self.https else "http"
        return f"{scheme}://{self._host}:{self.port}"

    async def __aenter__(self) -> PlexEmulator:
        """Start listening on a free loopback port."""
        await self.start()
        return self

    async def __aexit__(self, *_exc_info: object) -> None:
        """Stop listening."""
        await self.stop()
