"""Run every part of the benchmark and print one table (entry point of scripts/bench).

Order: the client part (one process, interleaved rounds, so its ratios hold on a
noisy machine), the import times (fresh interpreters), then the integration part
(pytest with Home Assistant's test instance, in a child process).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp

from .client import run_client_bench
from .imports import measure_imports
from .report import (
    blocking_row,
    client_rows,
    import_rows,
    integration_rows,
    lifecycle_rows,
    render,
    socket_rows,
)

REPO = Path(__file__).resolve().parent.parent
INTEGRATION_TIMEOUT = 900.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Repetitions; --quick shrinks them to check that everything runs."""

    rounds: int
    batch: int
    warmup: int
    import_runs: int
    quick: bool


def _parse(argv: list[str] | None) -> Settings:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=40, help="client rounds")
    parser.add_argument("--batch", type=int, default=50, help="calls per round")
    parser.add_argument("--warmup", type=int, default=200, help="calls before")
    parser.add_argument("--import-runs", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="few repetitions")
    args = parser.parse_args(argv)
    if args.quick:
        return Settings(5, 20, 20, 2, quick=True)
    if min(args.rounds, args.batch, args.import_runs) < 2 or args.warmup < 0:
        parser.error("need at least 2 rounds, calls and import runs")
    return Settings(args.rounds, args.batch, args.warmup, args.import_runs, quick=False)


def _progress(message: str) -> None:
    """Progress goes to stderr; stdout carries only the table."""
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


def _run_integration(python: str, quick: bool) -> dict[str, Any]:
    """Run bench/integration.py under pytest and read the figures it wrote."""
    with tempfile.TemporaryDirectory(prefix="plex_api_bench_") as directory:
        results = Path(directory, "integration.json")
        env = {**os.environ, "PLEX_API_BENCH_RESULTS": str(results)}
        if quick:
            env["PLEX_API_BENCH_QUICK"] = "1"
        done = subprocess.run(  # noqa: S603 - our own interpreter and test module
            [
                python,
                "-m",
                "pytest",
                "bench/integration.py",
                "-q",
                "-p",
                "no:cacheprovider",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=INTEGRATION_TIMEOUT,
            check=False,
        )
        if done.returncode != 0 or not results.exists():
            sys.stderr.write(done.stdout[-8000:] + done.stderr[-4000:])
            raise SystemExit(f"bench: the integration part failed ({done.returncode})")
        loaded: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
        return loaded


def _versions() -> str:
    """What the figures were taken with."""
    from homeassistant.const import __version__ as ha_version  # noqa: PLC0415

    return (
        f"Python {platform.python_version()}, Home Assistant {ha_version}, "
        f"aiohttp {aiohttp.__version__}, {os.cpu_count()} CPUs"
    )


def main(argv: list[str] | None = None) -> int:
    """Measure, then print the table; targets are reported, not enforced."""
    settings = _parse(argv)
    python = sys.executable
    began = time.monotonic()
    _progress(
        f"client part: {settings.rounds} rounds x {settings.batch} calls per client, "
        f"after {settings.warmup} warm-up calls"
    )
    client = run_client_bench(
        python,
        REPO,
        rounds=settings.rounds,
        batch=settings.batch,
        warmup=settings.warmup,
    )
    if client.token_requests_seen != client.token_requests_expected:
        raise SystemExit("bench: the emulator did not see one request per token call")
    _progress(f"import times: {settings.import_runs} fresh interpreters each")
    imports = measure_imports(python, REPO, runs=settings.import_runs)
    _progress("integration part: pytest bench/integration.py")
    integration = _run_integration(python, settings.quick)
    rows = [
        *client_rows(client),
        *integration_rows(integration),
        *socket_rows(integration),
        *lifecycle_rows(integration),
        *import_rows(imports),
        blocking_row(integration),
    ]
    sys.stdout.write(
        f"plex_api benchmark ({_versions()}; {time.monotonic() - began:.0f} s"
        f"{', QUICK: too few repetitions to quote' if settings.quick else ''})\n\n"
        f"{render(rows)}\n"
    )
    return 0
