"""How Home Assistant says that plex_api uses something deprecated.

Shared by the suite's guard (tests/conftest.py, the in-process Home Assistant)
and the end-to-end tests (a real `hass`'s log); no Home Assistant import, so
that tests/e2e also runs in .venv-newest, without the test harness.
"""

from __future__ import annotations

from collections.abc import Iterable
import re

# report_usage (homeassistant/helpers/frame.py, and requirements.py for a
# deprecated requirement) names the integration so; helpers/deprecation.py
# names it after a deprecated constant, class or function it used.
DEPRECATED_USE = re.compile(
    r"Detected that custom integration 'plex_api'"
    r"|The deprecated \S+ \S+ was used from plex_api\b"
)


def deprecated_uses(lines: Iterable[str]) -> list[str]:
    """The lines that report a deprecated use by plex_api."""
    return [line for line in lines if DEPRECATED_USE.search(line)]
