"""Sign in with Plex in the real frontend: the popup, Allow, and back.

plex.tv is the project's stand-in (in a thread of this process), where the
real Home Assistant is told to find it; the Plex server is the emulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
from pathlib import Path
import subprocess
import threading

import httpx
from playwright.sync_api import expect
import pytest

from tests.plex_emulator.plextv import Connection, PlexTV

from .harness import Emulator, Hass, assert_clean_log
from .test_ui import chromium_page, log_in, open_add_dialog

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@contextlib.contextmanager
def plex_tv(emulator: Emulator) -> Iterator[PlexTV]:
    """The stand-in on its own event loop, listing the emulator as the account's."""
    identity = httpx.get(
        f"{emulator.url}/identity", headers={"Accept": "application/json"}
    )
    stand_in = PlexTV()
    resource = stand_in.add_server(
        access_token=emulator.owner_token,
        client_identifier=identity.json()["MediaContainer"]["machineIdentifier"],
        connections=[Connection.lan("127.0.0.1", emulator.port)],
    )
    resource.plex_direct_hash = None  # the emulator speaks plain HTTP
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(stand_in.start(), loop).result(10)
    try:
        yield stand_in
    finally:
        asyncio.run_coroutine_threadsafe(stand_in.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def plextv(emulator: Emulator) -> Iterator[PlexTV]:
    """plex.tv's stand-in for this test."""
    with plex_tv(emulator) as stand_in:
        yield stand_in


@pytest.fixture
def signing_in_hass(
    socket_enabled: None, tmp_path: Path, plextv: PlexTV
) -> Iterator[Hass]:
    """Home Assistant whose plex.tv is the stand-in."""
    process = Hass(tmp_path / "config", env={"PLEX_API_PLEX_TV_URL": plextv.url})
    try:
        yield process
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.close()


def test_sign_in_with_plex(
    emulator: Emulator,
    plextv: PlexTV,
    signing_in_hass: Hass,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    """Sign in, Allow on Plex's page, and the server is set up with its token."""
    api = signing_in_hass.onboard()
    with chromium_page(tmp_path) as page:
        log_in(page, signing_in_hass.url)
        open_add_dialog(page)
        with page.context.expect_page() as popup_info:
            page.get_by_text("Sign in with Plex (recommended)").click()
        popup = popup_info.value
        expect(popup.get_by_text("Home Assistant wants to access")).to_be_visible()
        popup.screenshot(path=screenshots / "sign-in.png", animations="disabled")
        popup.get_by_role("button", name="Allow").click()

        # The emulator speaks plain HTTP only: asked before the token goes there.
        expect(page.get_by_text("Use plain HTTP?")).to_be_visible()
        page.screenshot(path=screenshots / "sign-in-http.png", animations="disabled")
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text("Name and assign")).to_be_visible()
        page.screenshot(path=screenshots / "sign-in-done.png", animations="disabled")

    entries = api.request("GET", "/api/config/config_entries/entry?domain=plex_api")
    assert [(entry["title"], entry["state"]) for entry in entries] == [
        ("Living Room Plex", "loaded")
    ]
    [pin] = plextv.pins
    assert pin.headers["X-Plex-Product"] == "Home Assistant"
    # The Origin rule held: the PIN was made with the browser's own address,
    # and plex.tv's page sent the browser back there without refusing.
    assert pin.origin == signing_in_hass.url.rstrip("/")
    assert pin.refused == 0
    issued = set(emulator.state()["transient_tokens"])
    assert signing_in_hass.close() == 0
    assert_clean_log(
        signing_in_hass, {emulator.owner_token, plextv.account_token, *issued}
    )
