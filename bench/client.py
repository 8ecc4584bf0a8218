"""Per-call time of the floor, PlexClient and python-plexapi, on one emulator process.

The emulator runs as its own process (the project's CLI) so that python-plexapi,
which blocks on `requests`, cannot stall the server's event loop, and so that all
clients talk to the very same server over loopback. The clients take turns in short
batches (rounds), in a rotated order, so that a slow patch of a noisy machine hits
them alike; each ratio is the median of per-round ratios.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
from dataclasses import dataclass, field
import gc
import inspect
import json
from pathlib import Path
import re
import select
import signal
import statistics
import subprocess
import urllib.request
import uuid

import aiohttp
from yarl import URL

from custom_components.plex_api.plex import ClientInfo, PlexClient, ServerInfo

from .stats import Summary, now_ns, ratios

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
TOKEN_PATH = "/security/token"
TOKEN_QUERY = {"type": "delegation", "scope": "all"}
LISTENING = re.compile(r"listening on (?P<url>\S+); owner token: (?P<token>\S+)")

type AsyncCall = Callable[[], Awaitable[object]]
type SyncCall = Callable[[], object]


@dataclass(frozen=True, slots=True)
class EmulatorProcess:
    """The CLI emulator in its own process: where it listens and its owner token."""

    url: str
    owner_token: str
    process: subprocess.Popen[str]

    def token_requests(self) -> int:
        """Ask the emulator how many delegation requests it served (control API)."""
        with urllib.request.urlopen(f"{self.url}/_emulator/state", timeout=5) as resp:  # noqa: S310 - our loopback URL
            return int(json.load(resp)["token_requests"])


@contextlib.contextmanager
def emulator_process(python: str, repo: Path) -> Iterator[EmulatorProcess]:
    """Start `python -m tests.plex_emulator` on a free loopback port; stop it after."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [python, "-m", "tests.plex_emulator", "--host", "127.0.0.1", "--port", "0"],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_TIMEOUT)
        line = process.stdout.readline() if ready else ""
        if not (match := LISTENING.search(line)):
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield EmulatorProcess(match["url"], match["token"], process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


@dataclass(slots=True)
class Case:
    """One way of making one call; exactly one of `run_async`, `run_sync` is set."""

    key: str
    run_async: AsyncCall | None = None
    run_sync: SyncCall | None = None
    samples: list[int] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ClientResults:
    """Per-call summaries in microseconds, ratios, and how the run was checked."""

    timings: dict[str, Summary]
    ratios: dict[str, Summary]
    token_requests_expected: int
    token_requests_seen: int
    plexapi_version: str


def verify_plexapi_create_token() -> str:
    """Check in python-plexapi's source that createToken asks our endpoint.

    Returns its version. The comparison is meaningless if the peer's call were a
    different request, so a new plexapi release that changes it stops the run.
    """
    import plexapi  # noqa: PLC0415 - only the benchmark needs it
    from plexapi.server import PlexServer  # noqa: PLC0415

    source = inspect.getsource(PlexServer.createToken)
    defaults = inspect.signature(PlexServer.createToken).parameters
    if (
        "/security/token?type={type}&scope={scope}" not in source
        or defaults["type"].default != "delegation"
        or defaults["scope"].default != "all"
    ):
        raise RuntimeError("plexapi's createToken no longer asks /security/token")
    return str(plexapi.VERSION)


async def _floor_call(
    session: aiohttp.ClientSession, url: URL, headers: dict[str, str]
) -> None:
    """The least any client must do: one GET on a kept-alive connection, one read."""
    async with session.get(url, headers=headers) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"floor call got HTTP {resp.status}")


async def _time_async(call: AsyncCall, count: int) -> list[int]:
    """Time `count` sequential awaits of `call`, each on its own."""
    samples = []
    for _ in range(count):
        start = now_ns()
        await call()
        samples.append(now_ns() - start)
    return samples


def _time_sync(call: SyncCall, count: int) -> list[int]:
    """Time `count` sequential calls of a blocking `call` (no loop is running)."""
    samples = []
    for _ in range(count):
        start = now_ns()
        call()
        samples.append(now_ns() - start)
    return samples


def _run_batch(runner: asyncio.Runner, case: Case, count: int) -> list[int]:
    """Run one batch of a case, async ones on the shared loop."""
    gc.collect()  # a collection is due anyway: take it outside the timed calls
    if case.run_async is not None:
        return runner.run(_time_async(case.run_async, count))
    assert case.run_sync is not None
    return _time_sync(case.run_sync, count)


def _client_info() -> ClientInfo:
    """Headers of the size Home Assistant sends (its instance id is a uuid hex)."""
    return ClientInfo(
        product="Home Assistant",
        version="2026.10.4",
        client_identifier=uuid.uuid4().hex,
        platform="Linux",
        platform_version="6.8.0",
        device="Home Assistant Container",
        device_name="Home",
    )


async def _open_session() -> aiohttp.ClientSession:
    """A session on the runner's loop, shared by the floor and PlexClient."""
    return aiohttp.ClientSession()


def _build_cases(
    emulator: EmulatorProcess,
    session: aiohttp.ClientSession,
    client: PlexClient,
    transient: str,
) -> list[Case]:
    """The calls compared: the floors, ours, and python-plexapi's equivalents."""
    from plexapi.server import PlexServer  # noqa: PLC0415 - benchmark only
    import requests  # noqa: PLC0415 - plexapi's transport

    base = URL(emulator.url)
    token_url = base.with_path(TOKEN_PATH).with_query(TOKEN_QUERY)
    owner = {"X-Plex-Token": emulator.owner_token}
    json_owner = {**owner, "Accept": "application/json"}
    json_transient = {"X-Plex-Token": transient, "Accept": "application/json"}
    owner_server = PlexServer(emulator.url, emulator.owner_token)  # type: ignore[no-untyped-call]
    shared = requests.Session()

    async def check() -> ServerInfo:
        if (server := await client.check_token(transient)) is None:
            raise RuntimeError("the transient token was refused")
        return server

    return [
        Case("floor_token", lambda: _floor_call(session, token_url, json_owner)),
        Case("floor_token_xml", lambda: _floor_call(session, token_url, owner)),
        Case("ours_token", client.new_transient_token),
        Case("plexapi_token", run_sync=owner_server.createToken),
        Case("floor_check", lambda: _floor_call(session, base, json_transient)),
        Case("ours_check", check),
        Case(
            "plexapi_check",
            run_sync=lambda: PlexServer(emulator.url, transient, session=shared),  # type: ignore[no-untyped-call]
        ),
    ]


# Cases that ask for a delegation token: the emulator must count one per call.
TOKEN_CASES = frozenset(
    {"floor_token", "floor_token_xml", "ours_token", "plexapi_token"}
)


def _sanity_check(
    runner: asyncio.Runner, emulator: EmulatorProcess, client: PlexClient
) -> None:
    """One call of each client must yield a token and cost exactly one request."""
    from plexapi.server import PlexServer  # noqa: PLC0415

    before = emulator.token_requests()
    ours = runner.run(client.new_transient_token())
    peer = PlexServer(emulator.url, emulator.owner_token).createToken()  # type: ignore[no-untyped-call]
    if not (ours.token.startswith("transient-") and peer.startswith("transient-")):
        raise RuntimeError("a client did not get a transient token")
    if emulator.token_requests() - before != 2:
        raise RuntimeError("a client did not make exactly one delegation request")


def run_client_bench(
    python: str, repo: Path, *, rounds: int, batch: int, warmup: int
) -> ClientResults:
    """Measure every case in `rounds` interleaved batches after a warm-up."""
    plexapi_version = verify_plexapi_create_token()
    with emulator_process(python, repo) as emulator, asyncio.Runner() as runner:
        session = runner.run(_open_session())
        try:
            client = PlexClient(
                session, emulator.url, emulator.owner_token, _client_info()
            )
            _sanity_check(runner, emulator, client)
            transient = runner.run(client.new_transient_token()).token
            cases = _build_cases(emulator, session, client, transient)
            start_requests = emulator.token_requests()
            for case in cases:
                _run_batch(runner, case, warmup)
            for index in range(rounds):
                shift = index % len(cases)
                for case in cases[shift:] + cases[:shift]:
                    samples = _run_batch(runner, case, batch)
                    case.samples.extend(samples)
                    case.round_medians.append(statistics.median(samples))
            seen = emulator.token_requests() - start_requests
        finally:
            runner.run(session.close())
    token_calls = sum(case.key in TOKEN_CASES for case in cases)
    by_key = {case.key: case for case in cases}
    return ClientResults(
        timings={case.key: Summary.of(case.samples).scaled(1e-3) for case in cases},
        ratios={
            "ours_token/floor_token": _ratio(by_key, "ours_token", "floor_token"),
            "plexapi_token/ours_token": _ratio(by_key, "plexapi_token", "ours_token"),
            "plexapi_token/floor_token_xml": _ratio(
                by_key, "plexapi_token", "floor_token_xml"
            ),
            "ours_check/floor_check": _ratio(by_key, "ours_check", "floor_check"),
            "plexapi_check/ours_check": _ratio(by_key, "plexapi_check", "ours_check"),
        },
        token_requests_expected=token_calls * (warmup + rounds * batch),
        token_requests_seen=seen,
        plexapi_version=plexapi_version,
    )


def _ratio(cases: dict[str, Case], numerator: str, denominator: str) -> Summary:
    """Per-round ratio of two cases' medians."""
    return ratios(cases[numerator].round_medians, cases[denominator].round_medians)
