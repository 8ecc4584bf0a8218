"""End-to-end tests: a real Home Assistant, the Plex emulator and a browser.

Home Assistant is imported first: from 2026.11 on, importing it makes `httpx` an
alias of `httpx2` (homeassistant/__init__.py, `httpx2.alias_httpx()`), and that
fails once anything imported `httpx` itself, as the harness does.
"""

import homeassistant  # noqa: F401
