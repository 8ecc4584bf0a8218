"""The page plex.tv's sign-in sends the browser back to: it resumes the flow."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import UnknownFlow
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

CALLBACK_PATH = "/auth/plex_api/callback"
WAITING_STEP = "obtain_token"  # the sign-in's step that waits for plex.tv
_VIEW: HassKey[bool] = HassKey(f"{DOMAIN}_callback_view")
_RESUMING: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_resuming")
_DONE_PAGE = (
    "<!doctype html><title>Plex API</title>"
    "<p>You can close this window and go back to Home Assistant.</p>"
    "<script>window.close()</script>"
)


async def async_resume(hass: HomeAssistant, flow_id: str) -> None:
    """Move a sign-in that waits for plex.tv on; anything else is left alone.

    The browser's return and the PIN poller may both come: one at a time, so
    the second finds the flow already moved on.
    """
    async with hass.data.setdefault(_RESUMING, asyncio.Lock()):
        try:
            flow = hass.config_entries.flow.async_get(flow_id)
        except UnknownFlow:
            return
        if flow["handler"] == DOMAIN and flow.get("step_id") == WAITING_STEP:
            # The dialog may be closed while the flow asks plex.tv.
            with contextlib.suppress(UnknownFlow):
                await hass.config_entries.flow.async_configure(flow_id)


class PlexCallbackView(HomeAssistantView):
    """Where plex.tv's page sends the browser back after the sign-in."""

    url = CALLBACK_PATH
    name = "auth:plex_api:callback"
    requires_auth = False  # a top-level navigation from plex.tv carries no auth

    async def get(self, request: web.Request) -> web.Response:
        """Resume the flow named in the query; say the window may close."""
        await async_resume(request.app[KEY_HASS], request.query.get("flow_id", ""))
        return web.Response(text=_DONE_PAGE, content_type="text/html")


def register_view(hass: HomeAssistant) -> None:
    """Register the callback view once per Home Assistant run."""
    if not hass.data.get(_VIEW):
        hass.http.register_view(PlexCallbackView())
        hass.data[_VIEW] = True
