"""Import time of the integration beside python-plexapi's, Home Assistant excluded.

Method: each measurement is a fresh interpreter run with `-X importtime`. It first
imports every `homeassistant` module that the integration's sources import (read
from the sources with `ast`, so the list follows the code), as a running Home
Assistant has already done before it loads an integration. It then writes a marker
on stderr and imports the package under test. The figure is the sum of the
cumulative times of the top-level imports after the marker: the package's own
modules plus whatever non-Home Assistant module it alone pulls in (a dependency
that Home Assistant already loaded costs nothing here, as in production).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
import os
from pathlib import Path
import re
import subprocess

from .stats import Summary

PACKAGE = "custom_components.plex_api"
MARKER = "-- plex_api bench: measured imports start --"
IMPORT_TIMEOUT = 120.0
# "import time:      self [us] |  cumulative | imported package"
IMPORTTIME_LINE = re.compile(
    r"^import time:\s+\d+ \|\s+(?P<cumulative>\d+) \|(?P<name> +\S+)"
)


def package_modules(repo: Path) -> list[str]:
    """Every module of the integration: what an entry loads over its whole life."""
    root = repo / "custom_components" / "plex_api"
    modules = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(repo).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join(parts))
    return modules


def home_assistant_imports(repo: Path) -> list[str]:
    """The `homeassistant` import statements of the integration, as source lines."""
    statements: set[str] = set()
    for path in (repo / "custom_components" / "plex_api").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                statements.update(
                    f"import {alias.name}"
                    for alias in node.names
                    if alias.name.split(".")[0] == "homeassistant"
                )
            elif (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and node.module is not None
                and node.module.split(".")[0] == "homeassistant"
            ):
                names = ", ".join(alias.name for alias in node.names)
                statements.add(f"from {node.module} import {names}")
    return sorted(statements)


def _script(prelude: Iterable[str], targets: Iterable[str]) -> str:
    """Python source: the prelude, the marker on fd 2, then the measured imports."""
    lines = [*prelude, "import os", f"os.write(2, b{MARKER + chr(10)!r})"]
    lines += [f"import {target}" for target in targets]
    return "\n".join(lines)


def _measured_us(stderr: str) -> int:
    """Sum the cumulative µs of the top-level imports that follow the marker."""
    _, found, after = stderr.partition(MARKER)
    if not found:
        raise RuntimeError(f"import run failed:\n{stderr[-2000:]}")
    total = 0
    for line in after.splitlines():
        # Nested imports are indented two more spaces than their importer.
        if (
            (match := IMPORTTIME_LINE.match(line))
            and match["name"].startswith(" ")
            and not match["name"].startswith("  ")
        ):
            total += int(match["cumulative"])
    return total


def _run_once(python: str, repo: Path, script: str) -> int:
    """One fresh interpreter with -X importtime; returns the measured µs."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [python, "-X", "importtime", "-c", script],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"import run failed:\n{result.stderr[-2000:]}")
    return _measured_us(result.stderr)


def measure_imports(python: str, repo: Path, *, runs: int) -> dict[str, Summary]:
    """Median and spread in ms of the integration's and plexapi's own import time.

    Both run after the same Home Assistant prelude, alternating, after one warm-up
    each (which also writes any missing .pyc files).
    """
    prelude = home_assistant_imports(repo)
    scripts = {
        "plex_api": _script(prelude, package_modules(repo)),
        "plexapi": _script(prelude, ["plexapi.server"]),
    }
    samples: dict[str, list[float]] = {key: [] for key in scripts}
    for script in scripts.values():
        _run_once(python, repo, script)
    for _ in range(runs):
        for key, script in scripts.items():
            samples[key].append(_run_once(python, repo, script) / 1000)
    return {key: Summary.of(values) for key, values in samples.items()}
