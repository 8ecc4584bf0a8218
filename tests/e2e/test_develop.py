"""scripts/develop as a developer uses it: sign in, a restart, then stop.

The real script runs in a session of its own, on a temporary configuration
directory and free ports, with its second server. Sign in with Plex must work
against the plex.tv stand-in it starts (which lists both emulators); Home
Assistant's restart action (what Settings > Restart calls) must bring Home
Assistant back while the emulators and the stand-in keep running, and SIGTERM
must stop them all and leave no process behind.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
import os
from pathlib import Path
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from typing import Any

import httpx
import pytest
from yarl import URL

from .harness import (
    LOOPBACK,
    REQUEST_TIMEOUT,
    START_TIMEOUT,
    STOP_TIMEOUT,
    Hass,
    Session,
    assert_no_deprecated_use,
    free_port,
    wait_for,
)
from .hass_config import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SCRIPT = REPO / "scripts" / "develop"
BACKUP = "sensor.backup_backup_manager_state"  # history takes any id; this one exists
RESTARTING = "Home Assistant asked for a restart (exit code 100): starting it again."
_CURL = re.compile(r"^\s*(curl -X POST \S+/_emulator/restart .*)$", re.MULTILINE)


def interpreter() -> str:
    """$PYTHON, else python3.14 on PATH, as scripts/setup looks for it.

    Resolved, so that it is never .venv's own python (a link to the real one):
    scripts/setup rebuilds .venv with it when .venv is stale.
    """
    found = os.environ.get("PYTHON") or shutil.which("python3.14") or sys.executable
    return str(Path(found).resolve())


def session_processes(sid: int) -> dict[int, str]:
    """The processes of a session, pid: command line.

    A session, not a process group: the script gives each child a group of its own.
    """
    listing = subprocess.run(
        ["ps", "-A", "-ww", "-o", "pid=,args="],  # noqa: S607 - ps, from PATH
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for line in listing.splitlines():
        pid, _, args = line.strip().partition(" ")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getsid(int(pid)) == sid:
                found[int(pid)] = args
    return found


def refuses(port: int) -> bool:
    """Whether nothing listens on that loopback port any more."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((LOOPBACK, port)) != 0


def answers(client: httpx.Client) -> bool | None:
    """Whether the emulator answers `/identity` again."""
    try:
        return client.get("/identity").status_code == 200 or None
    except httpx.TransportError:
        return None


class Develop(Hass):
    """scripts/develop, seen as the Home Assistant that it runs.

    The process is the script's: `stop()` sends it SIGTERM, `check_alive()` fails
    when it ends, and `onboard()` works as for the end-to-end tests' own hass.
    """

    def __init__(self, workdir: Path) -> None:
        """Start the script and wait until Home Assistant answers.

        Not Hass.__init__, which starts hass itself: this sets what it would.
        """
        self.name = "scripts/develop"
        self.config_dir = workdir / "config"
        self.config_dir.mkdir()  # the script copies configuration.yaml into it
        self.port = free_port()
        taken = {self.port}
        self.plex_port = free_port()
        # The second server listens on the emulator's port + 1.
        while {self.plex_port, self.plex_port + 1} & taken:
            self.plex_port = free_port()
        taken |= {self.plex_port, self.plex_port + 1}
        self.plextv_port = free_port()
        while self.plextv_port in taken:
            self.plextv_port = free_port()
        self.output = workdir / "develop.log"
        command = [str(SCRIPT), "--config", str(self.config_dir), "--second-server"]
        command += ["--plex-port", str(self.plex_port), "--ha-port", str(self.port)]
        command += ["--plextv-port", str(self.plextv_port)]
        with self.output.open("wb") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - our own script
                command,
                cwd=REPO,
                env={**os.environ, "PYTHON": interpreter()},
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its session: what is left of it is ours
            )
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.client_id = f"{self.url}/"
        self.http = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT)
        self.plex = httpx.Client(
            base_url=f"http://{LOOPBACK}:{self.plex_port}", timeout=REQUEST_TIMEOUT
        )
        self.plextv = httpx.Client(
            base_url=f"http://{LOOPBACK}:{self.plextv_port}", timeout=REQUEST_TIMEOUT
        )
        try:
            self.wait_until_ready("Home Assistant's HTTP server", self._http_up)
        except BaseException:
            self.kill_leftovers()
            raise

    def processes(self) -> dict[str, int]:
        """The pids of the script's children, by name."""
        found = {}
        for pid, args in session_processes(self.process.pid).items():
            if "tests.plex_emulator.plextv" in args:
                found["plextv"] = pid
            elif "--machine-identifier" in args:
                found["second"] = pid
            elif "tests.plex_emulator" in args:
                found["emulator"] = pid
            elif "hass" in args and "--skip-pip" in args:
                found["hass"] = pid
        return found

    def restarted(self) -> bool:
        """Whether the script said it starts Home Assistant again (fail if it ended)."""
        self.check_alive()
        return RESTARTING in self.text()

    def running(self, api: Session) -> bool | None:
        """Whether Home Assistant answers as RUNNING (it may be down meanwhile)."""
        self.check_alive()
        try:
            response = api.send("GET", "/api/config")
        except httpx.TransportError:
            return None
        return (
            response.status_code == 200 and response.json()["state"] == "RUNNING"
        ) or None

    def close(self) -> int:
        """Stop the script if it still runs; kill whatever it left behind."""
        self.plex.close()
        self.plextv.close()
        try:
            return super().close()
        finally:
            self.kill_leftovers()

    def kill_leftovers(self) -> None:
        """SIGKILL what is left of the script's session (after a failure only)."""
        for pid in session_processes(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def sign_in(develop: Develop, api: Session) -> dict[str, Any]:
    """Sign in with Plex through the REST API, as the frontend and the popup do.

    Allow on the stand-in's page, choose the first server among the two, confirm
    plain HTTP: the flow's result.
    """
    headers = {
        "Authorization": f"Bearer {api.access_token}",
        "HA-Frontend-Base": develop.url,  # the browser's own address
    }
    flows = "/api/config/config_entries/flow"
    menu = api.http.post(flows, headers=headers, json={"handler": "plex_api"}).json()
    step = api.http.post(
        f"{flows}/{menu['flow_id']}", headers=headers, json={"next_step_id": "sign_in"}
    ).json()
    assert step["type"] == "external", step
    page = URL(step["url"])
    assert page.port == develop.plextv_port
    fragment = URL(f"/?{page.fragment.removeprefix('?')}").query
    allowed = develop.plextv.post(
        "/auth/approve",
        content=json.dumps(
            {
                "code": fragment["code"],
                "clientID": fragment["clientID"],
                "forwardUrl": fragment.get("forwardUrl"),
            }
        ),
    )
    assert allowed.status_code == 204, allowed.text

    def moved_on() -> dict[str, Any] | None:
        """Where the flow is, as the popup's return asks (plex.tv asked at most 1/s)."""
        current = api.request("GET", f"{flows}/{menu['flow_id']}")
        return None if current["type"] in ("external", "external_done") else current

    step = wait_for("plex.tv's answer", moved_on, START_TIMEOUT)
    assert step["step_id"] == "pick_server", step
    [choice] = step["data_schema"]
    labels = {
        option["label"]: option["value"]
        for option in choice["selector"]["select"]["options"]
    }
    assert len(labels) == 2, labels
    [first] = [value for label, value in labels.items() if "Second" not in label]
    step = api.request("POST", f"{flows}/{menu['flow_id']}", json={"server": first})
    assert step.get("step_id") == "plain_http", step
    return dict(api.request("POST", f"{flows}/{menu['flow_id']}", json={}))


@pytest.fixture
def develop(socket_enabled: None, tmp_path: Path) -> Iterator[Develop]:
    """scripts/develop on a temporary configuration directory and free ports."""
    process = Develop(tmp_path)
    try:
        yield process
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.close()
    assert_no_deprecated_use(process)


def test_restart_then_stop(develop: Develop) -> None:
    """Home Assistant restarts within the script; SIGTERM stops everything."""
    assert (develop.config_dir / "configuration.yaml").read_text() == (
        REPO / "config" / "configuration.yaml"
    ).read_text()

    # The printed way to restart the emulated Plex works as printed.
    [curl] = _CURL.findall(develop.text())
    words = shlex.split(curl)
    assert words[:3] == ["curl", "-X", "POST"]
    assert words[4] == "-d"
    restarted = develop.plex.post(words[3], content=words[5])
    assert restarted.status_code == 204

    # The second server is another one; the stand-in lists both as owned.
    second = httpx.get(
        f"http://{LOOPBACK}:{develop.plex_port + 1}/identity",
        headers={"Accept": "application/json"},
        timeout=REQUEST_TIMEOUT,
    ).json()["MediaContainer"]
    assert second["machineIdentifier"] == "develop-second-server"

    api = develop.onboard()
    # history: and logbook: are loaded, offline.
    api.request("GET", f"/api/history/period?filter_entity_id={BACKUP}")
    api.request("GET", "/api/logbook")
    # Sign in with Plex works against the stand-in the script started, once the
    # emulator is back from the restart above.
    wait_for("the emulator back", lambda: answers(develop.plex), START_TIMEOUT)
    created = sign_in(develop, api)
    assert created["type"] == "create_entry", created
    assert created["title"] == "Living Room Plex"
    before = develop.processes()
    assert before.keys() == {"emulator", "second", "plextv", "hass"}

    # Settings > Restart: hass exits with 100, and the script starts it again.
    api.request("POST", "/api/services/homeassistant/restart", json={})
    wait_for("the restart", lambda: develop.restarted() or None, STOP_TIMEOUT)
    wait_for("Home Assistant back", lambda: develop.running(api), START_TIMEOUT)
    after = develop.processes()
    assert after["emulator"] == before["emulator"]
    assert after["plextv"] == before["plextv"]
    assert after["hass"] != before["hass"]
    assert develop.plex.get("/identity").status_code == 200
    assert develop.text().count(RESTARTING) == 1

    # SIGTERM: Home Assistant stops, then the emulator; nothing is left.
    assert develop.stop(STOP_TIMEOUT) == 128 + signal.SIGTERM
    assert refuses(develop.port)
    assert refuses(develop.plex_port)
    assert refuses(develop.plex_port + 1)
    assert refuses(develop.plextv_port)
    assert session_processes(develop.process.pid) == {}
    with pytest.raises(ProcessLookupError):
        os.killpg(develop.process.pid, 0)
