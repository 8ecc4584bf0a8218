"""The integration in Home Assistant's real frontend, in a real (headless) Chromium.

A person's first minutes: log in, Settings > Devices & services > Add integration >
Plex API, fill in the form, see the device and its sensor. The screenshots in
docs/images come from here: PLEX_API_SCREENSHOTS=docs/images writes them there
(scripts/test and CI leave it unset: a temporary directory, a clean work tree).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright
import pytest

from .harness import LOOPBACK, PASSWORD, USERNAME, Emulator, Hass, assert_clean_log

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; scripts/setup-browser installs it
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Nothing but loopback: the page may not reach out (brand icons and the like).
    f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {LOOPBACK}",
]
# Generous but bounded: the first page load compiles a lot of JavaScript.
TIMEOUT_MS = 45_000


@contextlib.contextmanager
def chromium_page(workdir: Path) -> Iterator[Page]:
    """A page of a fresh headless Chromium (empty profile), closed afterwards."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: this test needs Debian's chromium package "
            "(scripts/setup-browser installs it as root; or: apt-get install "
            "chromium). Playwright never downloads a browser here.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            workdir / "chromium-profile",
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1280, "height": 800},
        )
        page = context.pages[0] if context.pages else context.new_page()
        try:
            context.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            yield page
        finally:
            # What the page showed last: the first thing to look at when it failed.
            page.screenshot(path=workdir / "last-page.png")
            context.close()


def log_in(page: Page, url: str) -> None:
    """The login form of the frontend, with the user made during onboarding."""
    page.goto(url)
    page.get_by_role("textbox", name="Username").fill(USERNAME)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Settings")).to_be_visible()


def open_add_dialog(page: Page) -> None:
    """Settings > Devices & services > Add integration > Plex API."""
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Devices & services").click()
    page.get_by_role("button", name="Add integration").click()
    page.get_by_placeholder("Search for a brand name").fill("Plex API")
    page.get_by_text("Plex API", exact=True).click()


def add_integration(page: Page, emulator: Emulator, screenshots: Path) -> None:
    """Open the dialog, choose the manual form, fill it, submit."""
    open_add_dialog(page)

    # Two ways: signing in with Plex (recommended), or the server and token.
    expect(page.get_by_text("Sign in with Plex (recommended)")).to_be_visible()
    page.screenshot(path=screenshots / "add-menu.png", animations="disabled")
    page.get_by_text("Enter the server and token").click()

    # The form, filled in; the token field is a password field (masked).
    expect(page.get_by_text("Connect to your Plex Media Server")).to_be_visible()
    page.get_by_role("textbox", name="Host").fill(LOOPBACK)
    page.get_by_role("spinbutton", name="Port").fill(str(emulator.port))
    token_field = page.get_by_role("textbox", name="Plex token")
    token_field.fill(emulator.owner_token)
    expect(token_field).to_have_attribute("type", "password")
    # HTTPS is tucked away in a collapsed section: a three-field form.
    expect(page.get_by_text("HTTPS", exact=True)).to_be_visible()
    expect(page.get_by_role("switch", name="Use HTTPS")).to_be_hidden()
    page.screenshot(path=screenshots / "config-flow.png", animations="disabled")
    page.get_by_role("button", name="Submit").click()

    # Success: Home Assistant offers to name the new device and give it an area.
    expect(page.get_by_text("Name and assign")).to_be_visible()
    expect(page.get_by_role("textbox", name="Device name")).to_have_value(
        "Living Room Plex"
    )
    page.get_by_role("button", name="Skip and finish").click()


def check_device_and_entry(page: Page, screenshots: Path) -> None:
    """The frontend opens the new device: the server and its sensor row."""
    page.wait_for_url("**/config/devices/device/*")
    expect(page.get_by_role("heading", name="Service info")).to_be_visible()
    expect(page.get_by_text("Plex Media Server by Plex")).to_be_visible()
    sensor_row = page.locator("hui-sensor-entity-row").filter(has_text="Token expiry")
    expect(sensor_row).to_contain_text("In 2 days")  # the expiry, 48 hours away
    page.screenshot(path=screenshots / "device.png", animations="disabled")

    # From there, the integration's page lists the new entry and its device.
    page.get_by_role("link", name="Plex API").click()
    page.wait_for_url("**/config/integrations/integration/plex_api*")
    entry = page.locator("ha-config-entry-row").filter(has_text="Living Room Plex")
    expect(entry).to_be_visible()
    expect(entry.locator("ha-config-entry-device-row")).to_contain_text(
        "Living Room Plex"
    )


def change_options(page: Page, screenshots: Path) -> None:
    """The entry's options: the rotation age with its range, the show-token switch."""
    entry = page.locator("ha-config-entry-row").filter(has_text="Living Room Plex")
    entry.get_by_role("button", name="Configure").click()
    expect(page.get_by_text("Transient token options")).to_be_visible()
    expect(page.get_by_text("From 1 to 47 hours")).to_be_visible()
    page.get_by_role("spinbutton", name="Rotation age").fill("48")
    page.get_by_role("button", name="Submit").click()
    expect(
        page.get_by_text("Enter a whole number of hours from 1 to 47")
    ).to_be_visible()
    page.get_by_role("spinbutton", name="Rotation age").fill("12")
    page.screenshot(path=screenshots / "options.png", animations="disabled")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Transient token options")).to_be_hidden()


def test_add_integration_in_the_browser(
    emulator: Emulator, home_assistant: Hass, screenshots: Path, tmp_path: Path
) -> None:
    """Add the server through the UI dialog; the device page shows the sensor."""
    api = home_assistant.onboard()
    with chromium_page(tmp_path) as page:
        log_in(page, home_assistant.url)
        add_integration(page, emulator, screenshots)
        check_device_and_entry(page, screenshots)
        change_options(page, screenshots)

    # What the UI showed is what Home Assistant holds; its log kept the tokens.
    entries = api.request("GET", "/api/config/config_entries/entry?domain=plex_api")
    assert [(entry["title"], entry["state"]) for entry in entries] == [
        ("Living Room Plex", "loaded")
    ]
    issued = set(emulator.state()["transient_tokens"])
    # The flow's and the entry's: the options applied in place, without a token.
    assert len(issued) == 2
    assert home_assistant.close() == 0
    assert_clean_log(home_assistant, {emulator.owner_token, *issued})


def switch_language(page: Page, language: str, native_name: str) -> None:
    """Profile > Localization > Language, as a person does: the frontend follows."""
    page.get_by_role("link", name="End To End").click()
    page.get_by_role("link", name="Localization").click()
    page.get_by_text("English", exact=True).first.click()
    page.get_by_text(f"{native_name} {language}", exact=True).click()


def test_add_dialog_in_german(home_assistant: Hass, tmp_path: Path) -> None:
    """The user's language switched to German: the dialog speaks German.

    The texts come from translations/de.json, served by the real Home Assistant.
    """
    home_assistant.onboard()
    with chromium_page(tmp_path) as page:
        log_in(page, home_assistant.url)
        switch_language(page, "German", "Deutsch")
        expect(page.get_by_role("link", name="Einstellungen")).to_be_visible()
        page.get_by_role("link", name="Einstellungen").click()
        page.get_by_role("link", name="Geräte & Dienste").click()
        page.get_by_role("button", name="Integration hinzufügen").click()
        page.get_by_placeholder("Nach einem Markennamen suchen").fill("Plex API")
        page.get_by_text("Plex API", exact=True).click()

        expect(page.get_by_text("Plex Media Server hinzufügen")).to_be_visible()
        expect(page.get_by_text("Mit Plex anmelden (empfohlen)")).to_be_visible()
    assert home_assistant.close() == 0
