"""A small Plex Media Server emulator.

It serves the endpoints the integration talks to (identity, server description,
transient tokens, the notification WebSocket), so that tests (and a dev script)
never need a real server, and it can misbehave on demand (see `Fault`, the
switches, restart() and reboot()) to exercise every error path of the client.
"""

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import json
import logging
import math
import re
import secrets
from typing import Any, Self, overload
import uuid

from aiohttp import web

from tests.plex_emulator.library import Library
from tests.plex_emulator.responses import (
    Attributes,
    Fault,
    ProxyMode,
    drop,
    faulty_response,
    html_page,
    json_response,
    proxy_page,
    proxy_redirect,
    xml_response,
)
from tests.plex_emulator.tls import TlsAcceptor, self_signed_pem, server_ssl_context
from tests.plex_emulator.websocket import (
    NOTIFICATIONS_PATH,
    PING_BURST,
    NotificationHub,
    upgrade_then_close,
    upgrade_then_cut,
    wrong_accept,
)

__all__ = ["Fault", "PlexEmulator", "ProxyMode", "ReceivedRequest"]

_LOGGER = logging.getLogger(__name__)

TRANSIENT_TOKEN_LIFETIME = timedelta(hours=48)
CONTROL_PREFIX = "/_emulator/"
JSON_CONTENT_TYPE = "application/json"
AUTH_ERRORS = {401: (1001, "User could not be authenticated"), 403: (1003, "Forbidden")}
CLOSE_GRACE = 0.5  # seconds connections get to flush their last bytes at stop()
BOOLEAN_SWITCHES = frozenset(
    {
        "allow_without_auth",
        "refuse_websockets",
        "silent_sockets",
        "socket_refuses_transient",
    }
)
SWITCHES = BOOLEAN_SWITCHES | {"proxy_mode"}
RESTART_FIELDS = frozenset({"down_for", "starting_for"})
# What the log masks beside the tokens it knows: our transient tokens' shape, and
# any run as long as a Plex token (20 characters of [A-Za-z0-9_-]) or longer.
_TOKEN_LIKE = re.compile(r"transient-[0-9A-Za-z-]+|[0-9A-Za-z_-]{20,}")
_MASK = "***"
_LOGGED_PATH_LENGTH = 200

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# The proxy modes that pass our 101 on before they misbehave.
_UPGRADING_MODES = frozenset(
    {
        ProxyMode.CLOSE_AT_ONCE,
        ProxyMode.CLOSE_FRAME_AT_ONCE,
        ProxyMode.BAD_ACCEPT,
        ProxyMode.PING_BURST,
    }
)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as seen on the wire, so tests can check what the client sent."""

    method: str
    path_qs: str
    headers: Mapping[str, str]
    # When it arrived (the frozen clock in tests): observation only.
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


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


def _seconds(payload: Mapping[str, Any], name: str) -> float:
    """Read one duration field of a control request; absent means 0."""
    value = payload.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0")
    return float(value)


def _parse_restart(body: bytes) -> tuple[float, float]:
    """Read {"down_for": s, "starting_for": s} of a restart request; no body: 0, 0."""
    if not body.strip():
        return 0.0, 0.0
    payload = json.loads(body)
    if not isinstance(payload, dict) or not set(payload) <= RESTART_FIELDS:
        raise ValueError('expected {"down_for": seconds, "starting_for": seconds}')
    return _seconds(payload, "down_for"), _seconds(payload, "starting_for")


def _parse_empty(body: bytes) -> None:
    """Accept no body, or an empty JSON object, for controls that take nothing."""
    if body.strip() and json.loads(body) != {}:
        raise ValueError("expected no body")


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


async def _upgrade_then_misbehave(
    request: web.Request, mode: ProxyMode
) -> web.StreamResponse:
    """A proxy mode that passes our 101 on, then breaks the socket its way."""
    if mode is ProxyMode.BAD_ACCEPT:
        return await wrong_accept(request)
    if mode is ProxyMode.CLOSE_FRAME_AT_ONCE:
        return await upgrade_then_close(request)
    pings = PING_BURST if mode is ProxyMode.PING_BURST else 0
    response = await upgrade_then_cut(request, pings)
    _LOGGER.debug("proxy %s: %d pings, then the connection cut", mode, pings)
    return response


def _parse_switches(payload: Any) -> dict[str, bool | ProxyMode | None]:
    """Validate a switches request body: known names, booleans, a proxy mode."""
    if not isinstance(payload, dict) or not set(payload) <= SWITCHES:
        raise ValueError(f"expected an object with some of {sorted(SWITCHES)}")
    switches: dict[str, bool | ProxyMode | None] = {}
    for name, value in payload.items():
        if name == "proxy_mode":
            if value is not None and not isinstance(value, str):
                raise TypeError("proxy_mode takes a string or null")
            switches[name] = None if value is None else ProxyMode(value)
        elif isinstance(value, bool):
            switches[name] = value
        else:
            raise TypeError(f"{name} takes a boolean")
    return switches


def _printable(text: str) -> str:
    """Escape what could forge a log line (line breaks, control characters)."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _masked(text: str, tokens: Iterable[str]) -> str:
    """Hide every token in `text`: the known ones, and anything shaped like one."""
    for token in tokens:
        if token:
            text = text.replace(token, _MASK)
    return _TOKEN_LIKE.sub(_MASK, text)


def _loggable_target(request: web.Request, tokens: Iterable[str]) -> str:
    """The path and the query's names, never its values: they may hold a token."""
    target = request.path
    if request.query:
        target += "?" + "&".join(f"{name}=" for name in request.query)
    return _masked(_printable(target), tokens)[:_LOGGED_PATH_LENGTH]


class _Switch[T]:
    """An attribute whose every change goes to the emulator's log."""

    def __init__(self, default: T) -> None:
        """Remember the value every instance starts with."""
        self._default = default
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        """Learn the attribute's name, for the log and the per-instance slot."""
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: type) -> T: ...
    def __get__(self, instance: object | None, owner: type) -> Self | T:
        """Read the instance's value (the default until set)."""
        if instance is None:
            return self
        value: T = instance.__dict__.get(self._name, self._default)
        return value

    def __set__(self, instance: object, value: T) -> None:
        """Set the value; log it when it changes."""
        if value != self.__get__(instance, type(instance)):
            _LOGGER.info("switch %s: %s", self._name, value)
        instance.__dict__[self._name] = value


class _DropAtOnce(asyncio.Protocol):
    """What a PMS that is starting does to a connection: accept it, then drop it."""

    def __init__(self, dropped: Callable[[], None]) -> None:
        """Call `dropped` for each connection, to count and log them."""
        self._dropped = dropped

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Drop it before a single byte: no answer, no TLS handshake."""
        assert isinstance(transport, asyncio.Transport), "a TCP server's transport"
        transport.abort()
        self._dropped()


class PlexEmulator:
    """An in-process PMS with the token rules of a real one and fault injection."""

    # Like a client listed in "allowed without auth": any token, or none, works.
    allow_without_auth = _Switch(False)
    # Like a reverse proxy that does not upgrade: the socket path is a 404.
    refuse_websockets = _Switch(False)
    # The unknown: no public source says whether PMS takes a transient token on
    # `/:/websockets/notifications` (every known client opens it with the
    # account's own token). On, the upgrade answers 401 to any transient token
    # we issued (live or dead, whatever allow_without_auth says) while `/` still
    # takes it; owner and shared tokens follow the normal rules.
    socket_refuses_transient = _Switch(False)
    # A broken reverse proxy in front of us (see ProxyMode); None: PMS itself.
    proxy_mode: _Switch[ProxyMode | None] = _Switch(None)

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
        # A hostile server or proxy echoing the caller's X-Plex-Token as its
        # friendlyName (the red team's case in issue 25: diagnostics leaked it).
        self.echo_token_as_name = False
        # Where ProxyMode.REDIRECT points; None: our own URL, with https. Not
        # logged: a test may put anything in it.
        self.redirect_location: str | None = None
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
        self._issued: set[str] = set()  # the same, to look up
        self._past_owner_tokens: list[str] = []  # masked in the log too
        self.dropped_while_starting = 0  # connections a starting reboot dropped
        # Observation only: where each server instance's requests begin in
        # `requests` (start(), and the end of every reboot).
        self.came_up: list[int] = []
        self._down = False  # from the port's closing to serving again
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
        self.library = Library(self._authorized, self._wants_json)

    def set_fault(self, fault: Fault | None, *paths: str) -> None:
        """Misbehave from now on, on the given paths or on all of them."""
        self.fault = fault
        self.fault_paths = frozenset(paths) if paths else None
        _LOGGER.info("fault: %s on %s", fault, ", ".join(paths) or "every path")

    def restart(self) -> None:
        """Simulate a PMS restart without downtime.

        Transient tokens live only in its memory, and its notification sockets
        close with 1001 (going away); the closes run in the background.
        """
        self._forget_transient_tokens()
        _LOGGER.info(
            "restart: transient tokens forgotten; %d sockets closed with 1001",
            self.open_sockets,
        )
        self._hub.close_soon()

    def _forget_transient_tokens(self) -> None:
        """What every kind of restart does to the token store."""
        self.transient_tokens.clear()
        self.restarts += 1

    async def reboot(self, down_for: float = 2.0, starting_for: float = 0.0) -> None:
        """Restart for real: go down for `down_for` seconds, then listen again.

        While down the port refuses connections; open sockets and connections
        are dropped without a close frame (python-plexapi #836: stopping PMS
        gives "Connection to remote host was lost") and transient tokens are
        forgotten. Then, for `starting_for` seconds, the port accepts each
        connection and drops it at once, as a starting PMS does (PlexTraktSync
        PR #213: "Connection is already closed" between "Connection refused"
        during one restart). It comes back on the same host, port and
        certificate, unless stop() is called meanwhile. Returns once serving
        again. Every wait is a loop timer, so a frozen clock moves it too.
        """
        await asyncio.shield(self._begin_reboot(down_for, starting_for))

    def _begin_reboot(self, down_for: float, starting_for: float) -> asyncio.Task[None]:
        """Run the reboot in a task of ours, so that stop() can wait for it."""
        if self._runner is None or self._rebooting():
            raise RuntimeError("the emulator is not running")
        reboot = self._reboot(down_for, starting_for)
        task = asyncio.get_running_loop().create_task(reboot)
        self._reboot_task = task
        return task

    @property
    def rebooting(self) -> bool:
        """Return True from the moment a reboot closes the port until it serves."""
        return self._down

    def _rebooting(self) -> bool:
        """Tell whether a reboot has not finished yet."""
        return self._reboot_task is not None and not self._reboot_task.done()

    async def _reboot(self, down_for: float, starting_for: float) -> None:
        """Go down, wait (stop() cuts it short), come back on the same address."""
        host, port = self._host, self.port
        self._down = True
        try:
            self._forget_transient_tokens()  # in the same step as the port closes
            _LOGGER.info(
                "reboot: port closed, %d sockets dropped, transient tokens "
                "forgotten; down for %s s, then starting for %s s",
                self.open_sockets,
                down_for,
                starting_for,
            )
            await self._shutdown(graceful=False)
            if await self._halted_within(down_for):
                return
            if starting_for > 0 and await self._starting(host, port, starting_for):
                return
            await self._listen(host, port)
            _LOGGER.info("reboot: serving again on %s:%d", host, port)
        finally:
            self._down = False

    async def _halted_within(self, seconds: float) -> bool:
        """Wait `seconds` (a loop timer); tell whether stop() came meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._halt.wait(), seconds)
        if self._halt.is_set():
            _LOGGER.info("reboot: cut short by stop()")
        return self._halt.is_set()

    async def _starting(self, host: str, port: int, seconds: float) -> bool:
        """Accept and drop every connection for `seconds`; True if stopped."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _DropAtOnce(self._dropped_one), host, port, reuse_address=True
        )
        _LOGGER.info("reboot: starting, connections are accepted and dropped")
        try:
            return await self._halted_within(seconds)
        finally:
            await _close_listener(server)
            await server.wait_closed()  # every connection was aborted already

    def _dropped_one(self) -> None:
        """Count and log one connection dropped while starting."""
        self.dropped_while_starting += 1
        _LOGGER.debug("reboot: starting, dropped a connection")

    def revoke_owner_token(self) -> str:
        """Simulate the owner signing out everywhere: the old token stops working."""
        self._past_owner_tokens.append(self.owner_token)
        self.owner_token = secrets.token_urlsafe(20)
        _LOGGER.info("owner token revoked: the old one no longer works")
        return self.owner_token

    def drop_sockets(self) -> int:
        """Cut every notification socket now, without a close frame; return how many.

        The server stays up: this is a proxy's idle timeout (HAProxy's
        `timeout client 30000`) or a Wi-Fi blip, which end a socket with no
        close frame just as a dying PMS does (python-plexapi #836).
        """
        dropped = self._hub.drop_all()
        _LOGGER.info("dropped %d sockets without a close frame (server up)", dropped)
        return dropped

    def close_sockets(self) -> int:
        """Close every notification socket with 1001 while the server stays up.

        Tokens live on: this is an intermediary going away, not PMS. Cloudflare
        ends proxied WebSockets at its releases with a 1001 close frame to both
        sides (a Cloudflare engineer on Hacker News, RFC 6455 section 7.4.1:
        "going away"); the community forum's "When Cloudflare releases new code
        ... we may restart servers, which terminates WebSockets connections".
        The closes run in the background; returns how many sockets there were.
        """
        count = self.open_sockets
        self._hub.close_soon()
        _LOGGER.info("closed %d sockets with 1001 (server up)", count)
        return count

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
        if silent != self._hub.silent:
            _LOGGER.info("switch silent_sockets: %s", silent)
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
                "friendlyName": (
                    _token_of(request) if self.echo_token_as_name else None
                )
                or self.friendly_name,
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
        self._issued.add(transient)
        return self._container(request, {"size": 0, "token": transient})

    async def _notifications(self, request: web.Request) -> web.StreamResponse:
        """Upgrade to the notification socket; the token is checked first.

        A proxy mode that answers by itself never lets the request reach us;
        those that pass a 101 on (cut, pings, a wrong accept) need our 101 first,
        so the token is checked as usual.
        """
        mode = self.proxy_mode
        if mode is not None and mode not in _UPGRADING_MODES:
            return self._proxy_answer(request, mode)
        if self.refuse_websockets:
            return html_page(404)
        token = _token_of(request)
        if not self._authorized(token) or self._refused_on_socket(token):
            return self._auth_error(request, 401)
        if mode is not None:
            return await _upgrade_then_misbehave(request, mode)
        return await self._hub.serve(request)

    def _refused_on_socket(self, token: str | None) -> bool:
        """Whether socket_refuses_transient turns this token away."""
        return self.socket_refuses_transient and token in self._issued

    def _proxy_answer(self, request: web.Request, mode: ProxyMode) -> web.Response:
        """Answer the upgrade as the broken proxy does, without asking PMS."""
        if mode is ProxyMode.STATUS_400:
            return proxy_page(400)
        if mode is ProxyMode.STATUS_502:
            return proxy_page(502)
        if mode is ProxyMode.PLAIN_200:
            return html_page(200, "Plex Media Server")
        if mode is ProxyMode.REDIRECT:
            location = self.redirect_location
            if location is None:
                location = f"https://{self._host}:{self.port}{NOTIFICATIONS_PATH}"
            return proxy_redirect(location)
        return proxy_redirect(self.url + request.raw_path)  # REDIRECT_LOOP

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

    def _log_tokens(self) -> list[str]:
        """The account tokens the log must hide (transient ones have a shape)."""
        return [self.owner_token, self.shared_token, *self._past_owner_tokens]

    async def _log_response(
        self, request: web.Request, response: web.StreamResponse
    ) -> None:
        """Log each answer as it goes out: method, path (no query values), status."""
        if request.path.startswith(CONTROL_PREFIX):
            return
        target = _loggable_target(request, self._log_tokens())
        transport = request.transport
        if transport is None or transport.is_closing():
            _LOGGER.debug("%s %s -> dropped, no answer", request.method, target)
        else:
            _LOGGER.debug("%s %s -> %d", request.method, target, response.status)

    async def _control_restart(self, request: web.Request) -> web.StreamResponse:
        """Restart on behalf of a separate process; a duration reboots.

        {"down_for": s, "starting_for": s}: see reboot(); no body, or zeros,
        restart() without downtime.
        """
        try:
            down_for, starting_for = _parse_restart(await request.read())
        except ValueError, TypeError:
            return html_page(400)
        response = web.Response(status=204)
        if not down_for and not starting_for:
            self.restart()
            return response
        # Answer before the port closes under this very request.
        await response.prepare(request)
        await response.write_eof()
        self._begin_reboot(down_for, starting_for)
        return response

    async def _control_drop_sockets(self, request: web.Request) -> web.StreamResponse:
        """Drop the sockets on behalf of a separate process; tell how many."""
        try:
            _parse_empty(await request.read())
        except ValueError:
            return html_page(400)
        return json_response({"dropped": self.drop_sockets()})

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
        for name, value in switches.items():
            if name == "silent_sockets":
                self.silence_sockets(bool(value))
            else:
                setattr(self, name, value)  # a _Switch: logged
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
                "socket_refuses_transient": self.socket_refuses_transient,
                "proxy_mode": self.proxy_mode,
            }
        )

    def make_app(self) -> web.Application:
        """Build the application.

        The /_emulator/ control endpoints take no token: this is a loopback dev
        tool, never something to expose on a network.
        """
        app = web.Application(middlewares=[self._middleware])
        app.on_response_prepare.append(self._log_response)
        app.router.add_get("/identity", self._identity)
        app.router.add_get("/", self._root)
        app.router.add_get("/security/token", self._security_token)
        app.router.add_get(NOTIFICATIONS_PATH, self._notifications)
        self.library.add_routes(app.router)
        app.router.add_post(CONTROL_PREFIX + "restart", self._control_restart)
        app.router.add_post(CONTROL_PREFIX + "revoke", self._control_revoke)
        app.router.add_post(CONTROL_PREFIX + "fault", self._control_fault)
        app.router.add_post(CONTROL_PREFIX + "switches", self._control_switches)
        app.router.add_post(CONTROL_PREFIX + "drop_sockets", self._control_drop_sockets)
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
        self._note_came_up()

    def _note_came_up(self) -> None:
        """Mark where this instance's requests begin (see `came_up`)."""
        self.came_up.append(len(self.requests))

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
