"""A requirements file's pins against the installed Home Assistant's own.

A real `hass` runs with --skip-pip, so what it loads at start must be installed
at the version it pins (homeassistant/package_constraints.txt, and the
integrations' manifests): test_pins.py checks requirements_test.txt on the
pinned release and requirements_newest.txt on the newest, so a bumped release
says what else to bump.
"""

from __future__ import annotations

from collections.abc import Iterable
import json
from pathlib import Path
import re

import homeassistant
from homeassistant import const

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")
HOME_ASSISTANT = Path(homeassistant.__file__).parent
HA_VERSION = const.__version__


def _name(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines: Iterable[str]) -> dict[str, str]:
    """`name==version` lines, by normalised name."""
    return {_name(match[1]): match[2] for line in lines if (match := _PIN.match(line))}


def home_assistant_pins() -> dict[str, str]:
    """What the installed Home Assistant pins, for itself and its integrations."""
    found = pins((HOME_ASSISTANT / "package_constraints.txt").read_text().splitlines())
    for manifest in sorted(HOME_ASSISTANT.glob("components/*/manifest.json")):
        found.update(pins(json.loads(manifest.read_text()).get("requirements", [])))
    return found


def differences(requirements: Iterable[str]) -> list[str]:
    """Each pin that Home Assistant pins to another version."""
    wanted = home_assistant_pins()
    return [
        f"{name}=={version}: Home Assistant {HA_VERSION} pins {wanted[name]}"
        for name, version in pins(requirements).items()
        if name in wanted and wanted[name] != version
    ]
