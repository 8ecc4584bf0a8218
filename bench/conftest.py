"""Fixtures of the integration benchmark: emulator, results, blocking-call detection.

Only `scripts/bench` runs this folder (pytest's testpaths is tests/).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
import json
import logging
import os
from pathlib import Path
import time
from typing import Any

import pytest

# The repository's custom_components (a namespace package) must be the one in
# sys.modules before the test harness puts its own testing_config on the path;
# importing plex_api itself is left to Home Assistant, so its first load is timed.
import custom_components  # noqa: F401
from homeassistant import block_async_io
from homeassistant.core import HomeAssistant
from tests.plex_emulator import PlexEmulator

RESULTS_ENV = "PLEX_API_BENCH_RESULTS"
REPO = Path(__file__).resolve().parent.parent
# A file under the integration's folder name (it does not exist): code compiled
# with this name looks like the integration's own code to Home Assistant's frame
# inspection, so the self-check proves a report would name plex_api.
PROBE_FILE = REPO / "custom_components" / "plex_api" / "_bench_blocking_probe.py"
LOOP_LOGGER = "homeassistant.util.loop"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/plex_api."""


@pytest.fixture(autouse=True)
async def enable_event_loop_debug() -> None:
    """Override the plugin's fixture: run the loop as production does.

    Asyncio debug mode (on in Home Assistant's tests) checks every callback and
    would inflate each latency measured here.
    """
    asyncio.get_running_loop().set_debug(False)


@pytest.fixture
async def emulator(socket_enabled: None) -> AsyncIterator[PlexEmulator]:
    """The project's Plex emulator on 127.0.0.1, in this process and loop.

    Its notification socket is refused, as behind a proxy without WebSockets:
    the integration polls every 5 minutes, the figures the push ones compare to.
    """
    async with PlexEmulator() as server:
        server.refuse_websockets = True
        yield server


@pytest.fixture
def push_emulator(emulator: PlexEmulator) -> PlexEmulator:
    """The emulator with its notification socket open, as a real server has."""
    emulator.refuse_websockets = False
    return emulator


@pytest.fixture(scope="session")
def bench_results() -> Iterator[dict[str, Any]]:
    """Figures of every test; written as JSON for scripts/bench at the end."""
    results: dict[str, Any] = {}
    yield results
    if path := os.environ.get(RESULTS_ENV):
        Path(path).write_text(json.dumps(results, indent=1), encoding="utf-8")


class _BlockingReports(logging.Handler):
    """Collect Home Assistant's blocking-call reports (warning, then debug)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the first line of each report."""
        message = record.getMessage()
        if "blocking call" in message:
            self.messages.append(message.splitlines()[0])


@dataclass(slots=True)
class BlockingDetection:
    """What detection saw: during the self-check, then during the benchmark."""

    self_check: dict[str, bool]
    reports: list[str] = field(default_factory=list)

    @property
    def integration_reports(self) -> list[str]:
        """Reports that name this integration."""
        return [line for line in self.reports if "'plex_api'" in line]


def _open_devnull() -> None:
    """A blocking call Home Assistant watches (builtins.open)."""
    with open(os.devnull, "rb"):  # noqa: PTH123 - builtins.open is what is watched
        pass


async def _self_check(
    hass: HomeAssistant, handler: _BlockingReports
) -> dict[str, bool]:
    """Prove detection fires in the loop, names the integration, spares executors."""
    checks: dict[str, bool] = {}
    _open_devnull()
    checks["open() in the loop is reported"] = any(
        "blocking call to open" in line for line in handler.messages
    )
    handler.messages.clear()
    try:
        time.sleep(0)  # noqa: ASYNC251 - the deliberate blocking call
    except RuntimeError as err:
        checks["time.sleep() in the loop raises"] = "blocking call" in str(err)
    else:
        checks["time.sleep() in the loop raises"] = False
    handler.messages.clear()
    probe = compile("_open_devnull()\n", str(PROBE_FILE), "exec")
    exec(probe, {"_open_devnull": _open_devnull})  # noqa: S102 - fixed probe source
    checks["open() from plex_api's folder names plex_api"] = any(
        "custom integration 'plex_api'" in line for line in handler.messages
    )
    handler.messages.clear()
    await hass.async_add_executor_job(_open_devnull)
    checks["open() in an executor thread is not reported"] = not handler.messages
    handler.messages.clear()
    return checks


def _disable_detection() -> None:
    """Put the original functions back (as the plugin's disable fixture does)."""
    calls = block_async_io._BLOCKED_CALLS.calls  # noqa: SLF001 - no public API
    for blocking_call in calls:
        setattr(
            blocking_call.object, blocking_call.function, blocking_call.original_func
        )
    calls.clear()


@pytest.fixture
async def blocking_detection(hass: HomeAssistant) -> AsyncIterator[BlockingDetection]:
    """Home Assistant's blocking-call detection, fully on, for one test.

    Home Assistant enables it at startup (bootstrap); its test harness does not.
    Under pytest `block_async_io` also skips open(), listdir, scandir,
    import_module and the SSL and Path calls (`_IN_TESTS`): the flag is cleared
    here, so the whole production list is watched. It is turned off again before
    pytest or the harness do their own file I/O on this thread.
    """
    handler = _BlockingReports()
    logger = logging.getLogger(LOOP_LOGGER)
    level = logger.level
    logger.setLevel(logging.DEBUG)  # repeated reports are logged at debug level
    logger.addHandler(handler)
    in_tests = block_async_io._IN_TESTS  # noqa: SLF001 - no public switch
    block_async_io._IN_TESTS = False  # noqa: SLF001
    block_async_io.enable()
    try:
        # The reports list is the handler's own: tests read it as it fills.
        yield BlockingDetection(await _self_check(hass, handler), handler.messages)
    finally:
        _disable_detection()
        block_async_io._IN_TESTS = in_tests  # noqa: SLF001
        logger.removeHandler(handler)
        logger.setLevel(level)
