"""Fixtures of the end-to-end tests: real processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import subprocess

import pytest

from .harness import Emulator, Hass, assert_no_deprecated_use


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No in-process Home Assistant here: the real one loads the integration."""


@pytest.fixture
def emulator(socket_enabled: None, tmp_path: Path) -> Iterator[Emulator]:
    """The project's Plex emulator in its own process."""
    process = Emulator(tmp_path)
    try:
        yield process
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.close()


@pytest.fixture
def home_assistant(socket_enabled: None, tmp_path: Path) -> Iterator[Hass]:
    """Home Assistant in its own process, on a fresh configuration directory."""
    process = Hass(tmp_path / "config")
    try:
        yield process
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.close()
    assert_no_deprecated_use(process)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the screenshots go: $PLEX_API_SCREENSHOTS, else a temporary directory."""
    directory = Path(os.environ.get("PLEX_API_SCREENSHOTS") or tmp_path / "shots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory
