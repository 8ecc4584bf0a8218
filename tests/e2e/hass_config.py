"""Prepare a Home Assistant configuration directory to run the integration.

Used by the end-to-end tests and by scripts/develop
(`python -m tests.e2e.hass_config CONFIG_DIR --host H --port P`).

Home Assistant 2026.10 keeps the HTTP server settings in `.storage/http`, not in
YAML: an `http:` section is migrated once, as an unconfirmed trial that reverts
(and restarts Home Assistant) unless confirmed in the UI within 5 minutes, and is
ignored on later starts. So the address is written there as the confirmed
("stable") setting, with Home Assistant's own schema filling in the defaults, and
each start listens where we asked, with no dialog and no timer.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
import json
from pathlib import Path

from homeassistant.components.http.config import (
    HTTP_STORAGE_SCHEMA,
    STORAGE_KEY,
    STORAGE_MINOR_VERSION,
    STORAGE_VERSION,
)

REPO = Path(__file__).resolve().parents[2]


def link_integration(config_dir: Path) -> None:
    """Make custom_components/plex_api visible to that configuration."""
    link = config_dir / "custom_components"
    if not link.is_symlink():
        link.symlink_to(REPO / "custom_components")


def write_http_settings(config_dir: Path, host: str, port: int) -> None:
    """Listen on host:port from the first start on (see the module docstring)."""
    stable = {
        **HTTP_STORAGE_SCHEMA({"server_host": [host], "server_port": port}),
        "created_at": datetime.now(UTC).isoformat(),
        "error": None,
        "error_message": None,
    }
    document = {
        "version": STORAGE_VERSION,
        "minor_version": STORAGE_MINOR_VERSION,
        "key": STORAGE_KEY,
        "data": {"stable": stable, "pending": None, "yaml_migration_done": True},
    }
    storage = config_dir / ".storage"
    storage.mkdir(parents=True, exist_ok=True)
    (storage / STORAGE_KEY).write_text(json.dumps(document, indent=2))


def prepare(config_dir: Path, host: str, port: int) -> None:
    """Both of the above."""
    config_dir.mkdir(parents=True, exist_ok=True)
    link_integration(config_dir)
    write_http_settings(config_dir, host, port)


def main(argv: list[str] | None = None) -> None:
    """Command line for scripts/develop."""
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.hass_config")
    parser.add_argument("config_dir", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args(argv)
    prepare(args.config_dir, args.host, args.port)


if __name__ == "__main__":
    main()
