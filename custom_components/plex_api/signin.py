"""Sign in with Plex: plex.tv's PIN, its page, and the wait for the person's answer.

No flow steps here (those are in config_flow.py): this is the conversation
with plex.tv, which the steps start, ask and stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from yarl import URL

from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import current_request

from .clients import async_create_plextv_client
from .const import (
    DOMAIN,
    LOGGER,
    MAX_BUSY_ANSWERS,
    MAX_PIN_POLL_INTERVAL,
    MIN_PIN_POLL_INTERVAL,
    PIN_POLL_INTERVAL,
)
from .plex import (
    PlexError,
    PlexPin,
    PlexPinGoneError,
    PlexResource,
    PlexTVBusyError,
    PlexTVClient,
)
from .view import CALLBACK_PATH, register_view

FRONTEND_BASE = "HA-Frontend-Base"  # the frontend's own address, on each request
FAILED = "sign_in_failed"  # denied, refused by plex.tv's page, or expired
BUSY = "plex_tv_busy"  # plex.tv kept answering 429


def frontend_origin() -> str | None:
    """The origin of the browser that sent the current request, if it said.

    The frontend sends `HA-Frontend-Base` (core PR #49915): the address the
    person really uses, which plex.tv must send the browser back to. A flow
    driven over the REST API by a script has none.
    """
    request = current_request.get()
    if request is None or (base := request.headers.get(FRONTEND_BASE)) is None:
        return None
    try:
        url = URL(base)
        origin = url.origin() if url.scheme in ("http", "https") else None
    except ValueError:
        return None
    return None if origin is None else str(origin)


class PlexSignIn:
    """One PIN at plex.tv: asked by the poller and the callback, never too often."""

    token: str | None = None  # what plex.tv gave once the person allowed
    failure: str | None = None  # the abort reason once it cannot succeed

    def __init__(
        self,
        hass: HomeAssistant,
        plextv: PlexTVClient,
        pin: PlexPin,
        forward_url: str | None,
    ) -> None:
        """Keep the PIN and its page; `async_start` makes them."""
        self._hass = hass
        self._plextv = plextv
        self._pin = pin
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + pin.expires_in
        self._last_ask = -MIN_PIN_POLL_INTERVAL  # not asked yet
        self._task: asyncio.Task[None] | None = None
        self.auth_url = plextv.auth_url(pin, forward_url)

    @classmethod
    async def async_start(cls, hass: HomeAssistant, flow_id: str) -> PlexSignIn:
        """Make a PIN with this browser's Origin and the page to send it to.

        Raises PlexError when plex.tv gives no usable PIN.
        """
        register_view(hass)
        plextv = await async_create_plextv_client(hass)
        origin = frontend_origin()
        pin = await plextv.create_pin(origin)
        # plex.tv sends the browser back only to the Origin the PIN was made
        # with; without one, the person stays on its page and polling goes on.
        forward = None
        if origin is not None:
            forward = f"{origin}{CALLBACK_PATH}?flow_id={flow_id}"
        return cls(hass, plextv, pin, forward)

    def wait(self, resume: Callable[[], Awaitable[None]]) -> None:
        """Ask plex.tv in the background until there is an outcome, then resume."""
        self._task = self._hass.async_create_background_task(
            self._async_wait(resume), f"{DOMAIN} sign-in"
        )

    def stop(self) -> None:
        """The outcome is known, or the dialog closed: stop asking plex.tv."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def done(self) -> bool:
        """Whether the person's answer (or its absence) is known."""
        return self.token is not None or self.failure is not None

    async def async_ask(self) -> bool:
        """Ask plex.tv once, unless it was asked under a second ago; True if busy."""
        now = self._loop.time()
        if self.done or now - self._last_ask < MIN_PIN_POLL_INTERVAL:
            return False
        self._last_ask = now
        try:
            self.token = await self._plextv.pin_token(self._pin)
        except PlexPinGoneError:
            self.failure = FAILED
        except PlexTVBusyError:
            return True
        except PlexError as err:  # plex.tv had a hiccup: ask again later
            LOGGER.debug("plex.tv did not answer about the PIN: %s", err)
        return False

    async def async_owned_servers(self, token: str) -> list[PlexResource]:
        """The servers of the account that allowed (its `token`); raises PlexError."""
        return await self._plextv.owned_servers(token)

    async def _async_wait(self, resume: Callable[[], Awaitable[None]]) -> None:
        """Ask every 2 s (longer while plex.tv is busy) until the PIN's end.

        The callback usually resumes the flow first; this covers a window closed
        without coming back, a page that refused to send the browser back, a
        denial, and the PIN running out (its life is capped at 30 minutes).
        """
        delay, busy = PIN_POLL_INTERVAL, 0
        while not self.done:
            remaining = self._deadline - self._loop.time()
            if remaining <= 0:
                self.failure = FAILED
                break
            await asyncio.sleep(min(delay, remaining))
            if self._loop.time() >= self._deadline:
                continue
            if not await self.async_ask():
                delay, busy = PIN_POLL_INTERVAL, 0
                continue
            busy += 1
            if busy >= MAX_BUSY_ANSWERS:
                self.failure = BUSY
            delay = min(PIN_POLL_INTERVAL * 2**busy, MAX_PIN_POLL_INTERVAL)
        self._task = None
        await resume()
