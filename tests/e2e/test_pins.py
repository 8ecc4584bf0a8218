"""What a real `hass` loads is installed as that release pins it (no e2e marker)."""

from __future__ import annotations

from .hass_config import REPO
from .pins import HA_VERSION, differences, pins

PINNED = REPO / "requirements_test.txt"
NEWEST = REPO / "requirements_newest.txt"


def test_the_pins_are_home_assistants() -> None:
    """requirements_test.txt here, requirements_newest.txt in .venv-newest."""
    newest = NEWEST.read_text().splitlines()
    on_newest = pins(newest)["homeassistant"] == HA_VERSION
    assert differences(newest if on_newest else PINNED.read_text().splitlines()) == []


def test_a_wrong_pin_is_named() -> None:
    """A pin that is not the release's is named with the release's."""
    [found] = differences(["Hassil==0.0.1  # a comment", "pytest==1.0"])
    assert found.startswith(f"hassil==0.0.1: Home Assistant {HA_VERSION} pins ")
