"""Real processes for the end-to-end tests: the Plex emulator and Home Assistant.

Both run as subprocesses with their output in files, so the test process starts no
thread and no event loop of its own (pytest-homeassistant-custom-component checks
for lingering ones after each test). HTTP goes through a synchronous httpx client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx

from ..deprecations import deprecated_uses
from .hass_config import REPO, prepare

LOOPBACK = "127.0.0.1"
# Generous but bounded: a loaded CI machine may be several times slower than ours.
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0

USERNAME = "e2e"
PASSWORD = "e2e-password-1"  # a throwaway user of a throwaway Home Assistant

CONFIGURATION = """\
# The HTTP address is in .storage/http (see tests/e2e/hass_config.py).
api:
config:
onboarding:
recorder:
logger:
  default: warning
  logs:
    # The most the integration ever logs: its log must still hold no token.
    custom_components.plex_api: debug
    # Home Assistant's reports of a deprecated use, at whatever level they come.
    homeassistant.helpers.frame: debug
"""

_EMULATOR_LINE = re.compile(
    r"Plex emulator listening on (?P<url>\S+); owner token: (?P<token>\S+)"
)


def free_port() -> int:
    """Ask the kernel for a free loopback port (bind to 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for[T](what: str, probe: Callable[[], T | None], timeout: float) -> T:
    """Poll `probe` until it returns something other than None, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := probe()) is not None:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


class _Process:
    """A subprocess whose stdout and stderr go to one file; stopped with SIGTERM."""

    def __init__(
        self,
        name: str,
        args: list[str],
        output: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        """Start it at once, from the repository root (so `tests` is importable).

        `env` is added to this process's environment.
        """
        self.name = name
        self.output = output
        with output.open("wb") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter
                args,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                env={**os.environ, **(env or {})},
            )

    def wait_until_ready[T](self, what: str, probe: Callable[[], T | None]) -> T:
        """Wait for `probe`; a process that never gets ready is killed, not left."""
        try:
            return wait_for(what, probe, START_TIMEOUT)
        except BaseException:
            self.process.kill()
            self.process.wait()
            raise

    def text(self) -> str:
        """Everything the process printed so far."""
        return self.output.read_text(errors="replace")

    def check_alive(self) -> None:
        """Fail with the process's output if it died early."""
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.text()}"
            )

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, as a service manager does, then wait; returns the exit code.

        A process that does not stop in time is killed, and that is an error.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


class Emulator(_Process):
    """The project's Plex emulator, through its command line."""

    def __init__(self, workdir: Path) -> None:
        """Start it on a free port and read its URL and owner token."""
        command = [sys.executable, "-m", "tests.plex_emulator", "--host", LOOPBACK]
        command += ["--port", str(free_port())]
        super().__init__("Plex emulator", command, workdir / "emulator.log")
        match = self.wait_until_ready("the emulator's first line", self._banner)
        self.url: str = match["url"]
        self.owner_token: str = match["token"]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.http = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT)

    def _banner(self) -> re.Match[str] | None:
        self.check_alive()
        return _EMULATOR_LINE.search(self.text())

    def state(self) -> dict[str, Any]:
        """Token requests, restarts and live transient tokens, from the emulator."""
        response = self.http.get("/_emulator/state")
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    def restart(self, down_for: float = 0) -> None:
        """Restart Plex: every transient token dies, every socket closes.

        With `down_for`, for real: the port is closed for that many seconds.
        """
        body = {"down_for": down_for} if down_for else None
        self.http.post("/_emulator/restart", json=body).raise_for_status()

    def state_when(
        self, what: str, ready: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """The emulator's state once it satisfies `ready` (it may be down first)."""

        def probe() -> dict[str, Any] | None:
            try:
                state = self.state()
            except httpx.TransportError:
                return None
            return state if ready(state) else None

        return wait_for(what, probe, START_TIMEOUT)

    def accepts(self, token: str) -> bool:
        """Whether Plex accepts this token now (`GET /`, as any Plex client asks)."""
        return self.http.get("/", headers={"X-Plex-Token": token}).status_code == 200

    def close(self) -> int:
        """Stop the emulator."""
        self.http.close()
        return self.stop()


@dataclass
class Session:
    """An onboarded Home Assistant user: REST calls go out with its token."""

    http: httpx.Client
    access_token: str

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the REST API as that user."""
        headers = {"Authorization": f"Bearer {self.access_token}"}
        return self.http.request(method, path, headers=headers, **kwargs)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API as that user; fail on an HTTP error, return the JSON."""
        response = self.send(method, path, **kwargs)
        if response.is_error:
            raise AssertionError(
                f"{method} {path}: {response.status_code} {response.text}"
            )
        return response.json() if response.content else None


class Hass(_Process):
    """A real `python -m homeassistant` on a temporary configuration directory."""

    def __init__(self, config_dir: Path, env: dict[str, str] | None = None) -> None:
        """Start it; `--skip-pip`: every requirement is in the venv already."""
        self.port = free_port()
        self.config_dir = config_dir
        prepare(config_dir, LOOPBACK, self.port)
        (config_dir / "configuration.yaml").write_text(CONFIGURATION)
        command = [sys.executable, "-m", "homeassistant", "-c", str(config_dir)]
        command.append("--skip-pip")
        super().__init__("Home Assistant", command, config_dir.parent / "hass.log", env)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.client_id = f"{self.url}/"
        self.http = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT)
        self.wait_until_ready("Home Assistant's HTTP server", self._http_up)

    def _http_up(self) -> bool | None:
        self.check_alive()
        try:
            return self.http.get("/api/onboarding").status_code == 200 or None
        except httpx.TransportError:
            return None

    def onboard(self) -> Session:
        """Do every onboarding step through the REST API, as the frontend does."""
        created = self.http.post(
            "/api/onboarding/users",
            json={
                "client_id": self.client_id,
                "name": "End To End",
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            },
        )
        created.raise_for_status()
        tokens = self.http.post(
            "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": created.json()["auth_code"],
                "client_id": self.client_id,
            },
        )
        tokens.raise_for_status()
        session = Session(self.http, tokens.json()["access_token"])
        session.request("POST", "/api/onboarding/core_config")
        session.request("POST", "/api/onboarding/analytics")
        session.request(
            "POST",
            "/api/onboarding/integration",
            json={"client_id": self.client_id, "redirect_uri": self.client_id},
        )
        wait_for("Home Assistant running", lambda: self._running(session), 60)
        return session

    def _running(self, session: Session) -> bool | None:
        self.check_alive()
        return session.request("GET", "/api/config")["state"] == "RUNNING" or None

    def log(self) -> str:
        """home-assistant.log and the console output together."""
        log_file = self.config_dir / "home-assistant.log"
        text = log_file.read_text(errors="replace") if log_file.exists() else ""
        return text + self.text()

    def close(self) -> int:
        """Stop Home Assistant with SIGTERM; returns its exit code."""
        self.http.close()
        return self.stop()


def assert_no_deprecated_use(hass: Hass) -> None:
    """Home Assistant reported no deprecated use by the integration.

    Checked after every end-to-end test, on whichever release runs.
    """
    reported = deprecated_uses(dict.fromkeys(hass.log().splitlines()))
    assert reported == [], "\n".join(reported)


def assert_clean_log(hass: Hass, secrets: set[str], outages: int = 0) -> None:
    """No ERROR from the integration at all, no deprecated use, no token, in the log.

    Each outage (a Plex restart: the server away) is one INFO line when it
    starts and one when it ends; a restart or a Plex update is no error. The
    integration logs at debug level here, so the check covers all it says.
    """
    log = hass.log()
    assert "[custom_components.plex_api]" in log, "the integration's log is missing"
    lines = list(dict.fromkeys(log.splitlines()))  # the file and the console
    errors = [line for line in lines if " ERROR " in line and "plex_api" in line]
    lost = [
        line for line in lines if " INFO " in line and "Lost Living Room Plex" in line
    ]
    back = [
        line
        for line in lines
        if " INFO " in line and "Living Room Plex is back" in line
    ]
    assert len(lost) == len(back) == outages, (lost, back)
    assert errors == [], errors
    assert_no_deprecated_use(hass)
    # A traceback through the integration's code, whoever logged it, but for
    # the coordinator's own "Full error:" at debug level, asked for here.
    shown = [record for record in _records(log) if " DEBUG " not in record[:40]]
    assert not [r for r in shown if "custom_components/plex_api/" in r], shown
    assert secrets, "no token to look for"
    leaked = [secret for secret in secrets if secret in log]
    assert not leaked, f"{len(leaked)} token(s) in the log"


_RECORD_START = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", re.MULTILINE)


def _records(log: str) -> list[str]:
    """The log's records, each with the traceback lines that follow it."""
    starts = [match.start() for match in _RECORD_START.finditer(log)]
    return [log[a:b] for a, b in zip(starts, [*starts[1:], len(log)], strict=True)]
