"""Sign in with Plex: plex.tv's PIN flow, the account's server, the best address.

The steps live in a base class of the config flow (user and reauth both use
them); the callback view brings the person back from plex.tv's page.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import probatio
from yarl import URL

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
)

from .connection import address_candidates
from .const import (
    DOMAIN,
    LOGGER,
    PIN_POLL_INTERVAL,
    PLEX_TV_URL_ENV,
    REQUEST_TIMEOUT,
)
from .forms import async_prove
from .helpers import async_client_info, async_create_client, markdown_text
from .plex import (
    APP_PLEX_TV,
    PLEX_TV,
    PlexError,
    PlexPin,
    PlexPinGoneError,
    PlexResource,
    PlexTVClient,
)
from .view import CALLBACK_PATH, WAITING_STEP, async_resume, register_view


class PlexSignInFlow(ConfigFlow):
    """The sign-in steps, and what the config flow's steps share."""

    _plextv: PlexTVClient
    _pin: PlexPin
    _auth_url: str
    _account_token: str
    _servers: dict[str, PlexResource]
    _pin_task: asyncio.Task[None] | None = None
    _pin_timed_out = False

    async def async_step_sign_in(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask plex.tv for a PIN and send the person to Plex's sign-in page."""
        register_view(self.hass)
        self._plextv = await _async_plextv(self.hass)
        try:
            self._pin = await self._plextv.create_pin()
        except PlexError as err:
            LOGGER.debug("plex.tv did not give a PIN: %s", err)
            return self.async_abort(reason="plex_tv_unavailable")
        self._auth_url = self._plextv.auth_url(self._pin, self._forward_url())
        self._pin_task = self.hass.async_create_background_task(
            self._async_wait_for_pin(), f"{DOMAIN} sign-in"
        )
        return self.async_external_step(step_id=WAITING_STEP, url=self._auth_url)

    async def async_step_obtain_token(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Back from plex.tv (the callback, or the PIN's end): was it allowed."""
        try:
            token = (
                None if self._pin_timed_out else await self._plextv.pin_token(self._pin)
            )
        except PlexPinGoneError:
            token = None
            self._pin_timed_out = True
        except PlexError as err:
            LOGGER.debug("plex.tv did not answer about the PIN: %s", err)
            token = None
        if token is None and not self._pin_timed_out:
            return self.async_external_step(step_id=WAITING_STEP, url=self._auth_url)
        self._stop_waiting()
        if token is None:
            return self.async_external_step_done(next_step_id="sign_in_failed")
        self._account_token = token
        return self.async_external_step_done(next_step_id="pick_server")

    async def async_step_sign_in_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Denied, closed or too late: nothing was kept."""
        return self.async_abort(reason="sign_in_failed")

    async def async_step_pick_server(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The account's own servers; one is taken without asking."""
        if not hasattr(self, "_servers"):
            try:
                servers = await self._plextv.owned_servers(self._account_token)
            except PlexError as err:
                LOGGER.debug("plex.tv did not list the servers: %s", err)
                return self.async_abort(reason="plex_tv_unavailable")
            if self.source == SOURCE_REAUTH:
                wanted = self._get_reauth_entry().unique_id
                servers = [s for s in servers if s.machine_identifier == wanted]
            if not servers:
                return self.async_abort(reason="no_servers")
            self._servers = {s.machine_identifier: s for s in servers}
        if len(self._servers) == 1:
            return await self._async_use(next(iter(self._servers.values())))
        if user_input is not None:
            return await self._async_use(self._servers[user_input["server"]])
        options = [
            SelectOptionDict(value=key, label=_label(server))
            for key, server in self._servers.items()
        ]
        return self.async_show_form(
            step_id="pick_server",
            data_schema=probatio.Schema(
                {
                    probatio.Required("server"): SelectSelector(
                        SelectSelectorConfig(options=options)
                    )
                }
            ),
        )

    async def _async_use(self, server: PlexResource) -> ConfigFlowResult:
        """Prove the server's token at its best address, then keep it."""
        placeholders = {"name": markdown_text(server.name)}
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
            data = {**entry.data, CONF_TOKEN: server.access_token}
            proof = await async_prove(self.hass, data, self._same_server)
            if proof.errors:
                return self._abort_unproved(proof.errors, placeholders)
            return self._async_update(entry, {CONF_TOKEN: server.access_token})
        await self._new_server(server.machine_identifier)
        address = await async_best_address(self.hass, server)
        if address is None:
            return self.async_abort(
                reason="sign_in_unreachable", description_placeholders=placeholders
            )
        data = {**address, CONF_TOKEN: server.access_token}
        proof = await async_prove(self.hass, data, self._new_server)
        if proof.errors:
            return self._abort_unproved(proof.errors, placeholders)
        LOGGER.info(
            "Signed in with Plex: %s is reached at %s (%s)",
            server.name,
            URL.build(
                scheme="https" if data[CONF_SSL] else "http",
                host=data[CONF_HOST],
                port=data[CONF_PORT],
            ),
            "HTTPS, certificate checked" if data[CONF_SSL] else "plain HTTP on the LAN",
        )
        return self.async_create_entry(
            title=proof.title or server.name, data=proof.data
        )

    def _abort_unproved(
        self, errors: dict[str, str], placeholders: dict[str, str]
    ) -> ConfigFlowResult:
        """The server did not take the token plex.tv gave, or did not answer."""
        refused = errors.get("base") == "invalid_auth"
        return self.async_abort(
            reason="sign_in_refused" if refused else "sign_in_unreachable",
            description_placeholders=placeholders,
        )

    async def _async_wait_for_pin(self) -> None:
        """Ask plex.tv until the PIN is allowed or gone, then resume the flow.

        The callback view usually resumes it first; this covers a window closed
        without coming back, a denial, and the PIN running out.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._pin.expires_in
        while loop.time() < deadline:
            await asyncio.sleep(PIN_POLL_INTERVAL)
            try:
                if await self._plextv.pin_token(self._pin) is not None:
                    break
            except PlexPinGoneError:
                break
            except PlexError as err:  # plex.tv had a hiccup: ask again
                LOGGER.debug("plex.tv did not answer about the PIN: %s", err)
        else:
            self._pin_timed_out = True
        self._pin_task = None
        await async_resume(self.hass, self.flow_id)

    def _stop_waiting(self) -> None:
        """The PIN's outcome is known: stop asking plex.tv."""
        if self._pin_task is not None:
            self._pin_task.cancel()
            self._pin_task = None

    def async_remove(self) -> None:
        """The dialog was closed: stop asking plex.tv."""
        self._stop_waiting()

    def _forward_url(self) -> str | None:
        """Where plex.tv's page sends the browser back: this flow's callback."""
        try:
            base = get_url(self.hass)
        except NoURLAvailableError:
            return None  # the PIN poller resumes the flow instead
        return f"{base}{CALLBACK_PATH}?flow_id={self.flow_id}"

    def _async_update(
        self, entry: ConfigEntry, updates: dict[str, Any]
    ) -> ConfigFlowResult:
        """Store the change; a loaded entry applies it itself, without a reload."""
        if entry.state is ConfigEntryState.LOADED:
            return self.async_update_and_abort(entry, data_updates=updates)
        return self.async_update_reload_and_abort(entry, data_updates=updates)

    async def _new_server(self, machine_identifier: str) -> None:
        """A server that is already set up aborts before any token is sent."""
        await self.async_set_unique_id(machine_identifier, raise_on_progress=False)
        self._abort_if_unique_id_configured()

    async def _same_server(self, machine_identifier: str) -> None:
        """Reauth and reconfigure: the entry's server, or the token is not sent."""
        await self.async_set_unique_id(machine_identifier, raise_on_progress=False)
        self._abort_if_unique_id_mismatch(reason="wrong_server")


def _label(server: PlexResource) -> str:
    """How a server is offered: its name, platform, version, and if it is online."""
    details = ", ".join(filter(None, (server.platform, server.version)))
    state = "online" if server.online else "offline"
    return (
        f"{server.name} ({details}; {state})" if details else f"{server.name} ({state})"
    )


async def async_best_address(
    hass: HomeAssistant, server: PlexResource
) -> dict[str, Any] | None:
    """The best address that answers as this server on `/identity` (no token).

    All are tried at once, so unreachable ones cost one timeout, not one each.
    """
    candidates = address_candidates(server)
    answers = await asyncio.gather(
        *(_async_identify(hass, address) for address in candidates)
    )
    for address, found in zip(candidates, answers, strict=True):
        if found == server.machine_identifier:
            return address
    return None


async def _async_identify(hass: HomeAssistant, address: dict[str, Any]) -> str | None:
    """The machine identifier at an address, or None."""
    client = await async_create_client(hass, address)
    try:
        return (await client.identity()).machine_identifier
    except PlexError:
        return None


async def _async_plextv(hass: HomeAssistant) -> PlexTVClient:
    """plex.tv's client; tests point it at a stand-in through the environment."""
    override = os.environ.get(PLEX_TV_URL_ENV)
    return PlexTVClient(
        async_get_clientsession(hass),
        await async_client_info(hass),
        api=URL(override) if override else PLEX_TV,
        app=URL(override) if override else APP_PLEX_TV,
        timeout=REQUEST_TIMEOUT,
    )
