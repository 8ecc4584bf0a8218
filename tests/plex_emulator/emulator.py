"""A small Plex Media Server emulator.

It serves the endpoints the integration talks to (identity, server description,
transient tokens, the notification WebSocket), so that tests (and a dev script)
never need a real server, and it can misbehave on demand (see `Fault`, the
switches, restart() and reboot()) to exercise every error path of the client.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import json
import math
import secrets
from typing import Any
import uuid

from aiohttp import web

from tests.plex_emulator.responses import (
    Attributes,
    Fault,
    drop,
    faulty_response,
    html_page,
    json_response,
    xml_response,
)
from tests.plex_emulator.tls import TlsAcceptor, self_signed_pem, server_ssl_context
from tests.plex_emulator.websocket import NOTIFICATIONS_PATH, NotificationHub

__all__ = ["Fault", "PlexEmulator", "ReceivedRequest"]

TRANSIENT_TOKEN_LIFETIME = timedelta(hours=48)
CONTROL_PREFIX = "/_emulator/"
JSON_CONTENT_TYPE = "application/json"
AUTH_ERRORS = {401: (1001, "User could not be authenticated"), 403: (1003, "Forbidden")}
CLOSE_GRACE = 0.5  # seconds connections get to flush their last bytes at stop()
SWITCHES = frozenset({"allow_without_auth", "refuse_websockets", "silent_sockets"})

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def _parse_fault_request(payload: Any) -> tuple[Fault | None, list[str]]:
    """Validate a control request body; ValueError/TypeError when malformed."""
    value, paths = payload.get("fault"), payload.get("paths") or []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise TypeError("paths must be a list of strings")
    return (None if value is None else Fault(value)), paths


def _parse_down_for(body: bytes) -> float:
    """Read {"down_for": seconds} of a restart request; no body means 0."""
    if not body.strip():
        return 0.0
    payload = json.loads(body)
    if not isinstance(payload, dict) or not set(payload) <= {"down_for"}:
        raise ValueError('expected {"down_for": seconds}')
    value = payload.get("down_for", 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("down_for must be a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError("down_for must be a finite number >= 0")
    return float(value)


async def _close_listener(server: asyncio.Server) -> None:
    """Stop accepting, then close, so no connection is caught half accepted.

    asyncio attaches an accepted connection to its server one loop step after
    accepting it; if the server closed in between, a debug loop reports an
    AssertionError (as clients retrying during a reboot would trigger).
    """
    loop = asyncio.get_running_loop()
    for listener in server.sockets:
        loop.remove_reader(listener.fileno())
    await asyncio.sleep(0)  # the pending attachments run first
    server.close()


def _parse_switches(payload: Any) -> dict[str, bool]:
    """Validate a switches request body: known names, boolean values."""
    if not isinstance(payload, dict) or not set(payload) <= SWITCHES:
        raise ValueError(f"expected an object with some of {sorted(SWITCHES)}")
    if not all(isinstance(value, bool) for value in payload.values()):
        raise TypeError("switches take booleans")
    return payload


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
        notification_interval: float | None = 30.0,
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
        # Like a client listed in "allowed without auth": any token, or none, works.
        self.allow_without_auth = False
        # Like a reverse proxy that does not upgrade: the socket path is a 404.
        self.refuse_websockets = False
        self.transient_tokens: dict[str, datetime] = {}
        self.requests: list[ReceivedRequest] = []
        self.fault: Fault | None = None
        self.fault_paths: frozenset[str] | None = None
        self.delay = 30.0
        self.restarts = 0
        # Served when https; kept across restarts. None = self-sign at start().
        self.certificate_pem: bytes | None = None
        self.key_pem = b""  # the private key of certificate_pem
        self._token_requests = 0
        self.issued_tokens: list[str] = []  # every transient token, restarts or not
        self._clock = clock or _utcnow
        self._hub = NotificationHub(notification_interval)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()  # wakes delayed requests at any shutdown
        self._halt = asyncio.Event()  # set by stop(): ends a reboot's down time
        self._reboot_task: asyncio.Task[None] | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None

    def set_fault(self, fault: Fault | None, *paths: str) -> None:
        """Misbehave from now on, on the given paths or on all of them."""
        self.fault = fault
        self.fault_paths = frozenset(paths) if paths else None

    def restart(self) -> None:
        """Simulate a PMS restart without downtime.

        Transient tokens live only in its memory, and its notification sockets
        close with 1001 (going away); the closes run in the background.
        """
        self._forget_transient_tokens()
        self._hub.close_soon()

    def _forget_transient_tokens(self) -> None:
        """What every kind of restart does to the token store."""
        self.transient_tokens.clear()
        self.restarts += 1

    async def reboot(self, down_for: float = 2.0) -> None:
        """Restart for real: go down for `down_for` seconds, then listen again.

        While down the port refuses connections; open sockets and connections
        are dropped without a close frame and transient tokens are forgotten.
        It comes back on the same host, port and certificate, unless stop() is
        called meanwhile. Returns once listening again.
        """
        await asyncio.shield(self._begin_reboot(down_for))

    def _begin_reboot(self, down_for: float) -> asyncio.Task[None]:
        """Run the reboot in a task of ours, so that stop() can wait for it."""
        if self._runner is None or self._rebooting():
            raise RuntimeError("the emulator is not running")
        task = asyncio.get_running_loop().create_task(self._reboot(down_for))
        self._reboot_task = task
        return task

    def _rebooting(self) -> bool:
        """Tell whether a reboot has not finished yet."""
        return self._reboot_task is not None and not self._reboot_task.done()

    async def _reboot(self, down_for: float) -> None:
        """Go down, wait (stop() cuts it short), come back on the same address."""
        host, port = self._host, self.port
        self._forget_transient_tokens()  # in the same step as the port closes
        await self._shutdown(graceful=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._halt.wait(), down_for)
        if not self._halt.is_set():
            await self._listen(host, port)

    def revoke_owner_token(self) -> str:
        """Simulate the owner signing out everywhere: the old token stops working."""
        self.owner_token = secrets.token_urlsafe(20)
        return self.owner_token

    def token_requests(self) -> int:
        """Count delegation requests, to check the client does not over-ask."""
        return self._token_requests

    def is_accepted(self, token: str) -> bool:
        """Tell whether this token is valid now (owner, shared or live transient).

        It ignores `allow_without_auth`, so that tests can tell a dead token
        from a live one even when the server would let either through.
        """
        if token in (self.owner_token, self.shared_token):
            return True
        issued_at = self.transient_tokens.get(token)
        if issued_at is None:
            return False
        return self._clock() - issued_at < TRANSIENT_TOKEN_LIFETIME

    def _authorized(self, token: str | None) -> bool:
        """Whether a request with this token gets through, switches included."""
        if self.allow_without_auth:
            return True
        return token is not None and self.is_accepted(token)

    @property
    def notification_interval(self) -> float | None:
        """Return the seconds between periodic notifications; 0 or None: never."""
        return self._hub.interval

    @notification_interval.setter
    def notification_interval(self, seconds: float | None) -> None:
        """Change the period; it applies at once, even to sockets already open."""
        self._hub.interval = seconds

    @property
    def open_sockets(self) -> int:
        """Return how many notification sockets are open now (a property)."""
        return self._hub.open_count

    @property
    def silent_sockets(self) -> bool:
        """Return whether notification sockets are silenced (see silence_sockets)."""
        return self._hub.silent

    def silence_sockets(self, silent: bool = True) -> None:
        """Make every notification socket, open or future, play dead, or resume.

        A silent socket answers no ping and sends nothing, not even the answer
        to a client's close frame (that waits for the silence to end), yet stays
        open: a connection lost behind a broken NAT. restart(), reboot() and
        stop() still end it.
        """
        self._hub.silence(silent)

    async def notify(self, container: Mapping[str, object] | None = None) -> int:
        """Send a NotificationContainer to every open socket; return how many got it.

        `container` is its content ({"type": "timeline", ...}), or a whole
        {"NotificationContainer": {...}} message; None sends an activity update.
        Silent sockets do not get it.
        """
        return await self._hub.broadcast(container)

    async def wait_open_sockets(self, count: int = 1) -> None:
        """Wait until exactly `count` notification sockets are open (no timeout)."""
        await self._hub.wait_count(count)

    def _wants_json(self, request: web.Request) -> bool:
        """PMS answers JSON only when asked to; XML is its default."""
        accept = request.headers.get("Accept", "")
        return not self.xml_only and JSON_CONTENT_TYPE in accept

    def _container(self, request: web.Request, attributes: Attributes) -> web.Response:
        """Answer a MediaContainer in the format the client asked for."""
        if self._wants_json(request):
            return json_response({"MediaContainer": dict(attributes)})
        return xml_response(attributes)

    def _auth_error(self, request: web.Request, status: int) -> web.Response:
        """Answer 401/403 as PMS does: a JSON errors list if accepted, else HTML."""
        if not self._wants_json(request):
            return html_page(status)
        code, message = AUTH_ERRORS[status]
        error = {"code": code, "message": message, "status": status}
        return json_response({"errors": [error]}, status)

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
        if not self._authorized(_token_of(request)):
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
        """Issue a transient delegation token, to the owner only (or to anyone)."""
        token = _token_of(request)
        if not self.allow_without_auth:
            if token is None or not self.is_accepted(token):
                return self._auth_error(request, 401)
            if token != self.owner_token:
                return self._auth_error(request, 403)
        query = request.query
        if query.get("type") != "delegation" or query.get("scope") != "all":
            return html_page(400)
        transient = f"transient-{uuid.uuid4()}"
        self.transient_tokens[transient] = self._clock()
        self.issued_tokens.append(transient)
        return self._container(request, {"size": 0, "token": transient})

    async def _notifications(self, request: web.Request) -> web.StreamResponse:
        """Upgrade to the notification socket; the token is checked first."""
        if self.refuse_websockets:
            return html_page(404)
        if not self._authorized(_token_of(request)):
            return self._auth_error(request, 401)
        return await self._hub.serve(request)

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
                return drop(request)
        elif in_scope and self.fault is not None:
            return await faulty_response(request, self.fault)
        try:
            return await handler(request)
        except web.HTTPException as error:
            return html_page(error.status)

    async def _control_restart(self, request: web.Request) -> web.StreamResponse:
        """Restart on behalf of a separate process; {"down_for": s} reboots."""
        try:
            down_for = _parse_down_for(await request.read())
        except ValueError, TypeError:
            return html_page(400)
        response = web.Response(status=204)
        if not down_for:
            self.restart()
            return response
        # Answer before the port closes under this very request.
        await response.prepare(request)
        await response.write_eof()
        self._begin_reboot(down_for)
        return response

    async def _control_revoke(self, _request: web.Request) -> web.StreamResponse:
        """Revoke on behalf of a separate process and tell it the new token."""
        return json_response({"owner_token": self.revoke_owner_token()})

    async def _control_fault(self, request: web.Request) -> web.StreamResponse:
        """Set the fault on behalf of a separate process."""
        try:
            fault, paths = _parse_fault_request(await request.json())
        except ValueError, TypeError, AttributeError:
            return html_page(400)
        self.set_fault(fault, *paths)
        return web.Response(status=204)

    async def _control_switches(self, request: web.Request) -> web.StreamResponse:
        """Flip switches on behalf of a separate process."""
        try:
            switches = _parse_switches(await request.json())
        except ValueError, TypeError:
            return html_page(400)
        self.allow_without_auth = switches.get(
            "allow_without_auth", self.allow_without_auth
        )
        self.refuse_websockets = switches.get(
            "refuse_websockets", self.refuse_websockets
        )
        if "silent_sockets" in switches:
            self.silence_sockets(switches["silent_sockets"])
        return web.Response(status=204)

    async def _control_state(self, _request: web.Request) -> web.StreamResponse:
        """Report what a separate process cannot read from our attributes."""
        live = [token for token in self.transient_tokens if self.is_accepted(token)]
        return json_response(
            {
                "token_requests": self.token_requests(),
                "restarts": self.restarts,
                "transient_tokens": live,
                "open_sockets": self.open_sockets,
                "allow_without_auth": self.allow_without_auth,
                "refuse_websockets": self.refuse_websockets,
                "silent_sockets": self.silent_sockets,
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
        app.router.add_get(NOTIFICATIONS_PATH, self._notifications)
        app.router.add_post(CONTROL_PREFIX + "restart", self._control_restart)
        app.router.add_post(CONTROL_PREFIX + "revoke", self._control_revoke)
        app.router.add_post(CONTROL_PREFIX + "fault", self._control_fault)
        app.router.add_post(CONTROL_PREFIX + "switches", self._control_switches)
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
            self.certificate_pem, self.key_pem = self_signed_pem()
        context = server_ssl_context(self.certificate_pem, self.key_pem)
        return lambda: TlsAcceptor(http_factory, context, self._handshakes)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port; port 0 picks a free one."""
        if self._runner is not None or self._rebooting():
            raise RuntimeError("the emulator is already running")
        self._halt = asyncio.Event()
        await self._listen(host, port)

    async def _listen(self, host: str, port: int) -> None:
        """Bind and serve; shared by start() and the end of a reboot."""
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
        """Stop listening, promptly: delayed requests, sockets and reboots end."""
        self._halt.set()
        task, self._reboot_task = self._reboot_task, None
        if task is not None:
            with contextlib.suppress(Exception):  # its caller, if any, saw it
                await task
        await self._shutdown(graceful=True)

    async def _shutdown(self, *, graceful: bool) -> None:
        """Close the port, then end sockets (1001 if graceful) and connections."""
        self._stopping.set()
        if self._runner is None or self._server is None:
            return
        server, runner = self._server, self._runner
        self._server = self._runner = None
        await _close_listener(server)
        await self._hub.shutdown(graceful=graceful)
        handshakes = set(self._handshakes)
        for task in handshakes:
            task.cancel()
        await asyncio.gather(*handshakes, return_exceptions=True)
        await runner.cleanup()
        server.close_clients()
        try:
            async with asyncio.timeout(CLOSE_GRACE):
                await server.wait_closed()
        except TimeoutError:  # a client that reads nothing never lets a close flush
            server.abort_clients()
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
