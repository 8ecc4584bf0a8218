"""Sign in with Plex: plex.tv's PIN flow, the account's server, the best address.

The steps live in a base class of the config flow (user and reauth both use
them); the callback view brings the person back from plex.tv's page.
"""

from __future__ import annotations

import asyncio
from typing import Any

import probatio

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
)
from homeassistant.const import (
    CONF_SSL,
    CONF_TOKEN,
)
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
)

from .connection import address_url
from .const import (
    DOMAIN,
    LOGGER,
    PIN_POLL_INTERVAL,
)
from .forms import async_prove
from .helpers import (
    async_best_address,
    async_create_plextv_client,
    markdown_text,
    printable,
)
from .plex import (
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
    _chosen: tuple[PlexResource, dict[str, Any]]
    _pin_task: asyncio.Task[None] | None = None
    _found_token: str | None = None  # what plex.tv gave once the person allowed
    _pin_gone = False  # denied, expired or out of time: a new sign-in is needed

    async def async_step_sign_in(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask plex.tv for a PIN and send the person to Plex's sign-in page."""
        register_view(self.hass)
        self._plextv = await async_create_plextv_client(self.hass)
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
        """Back from plex.tv (the callback, or the poller): was it allowed."""
        token = self._found_token
        if token is None and not self._pin_gone:
            token = await self._async_ask_pin()
        if token is None and not self._pin_gone:
            return self.async_external_step(step_id=WAITING_STEP, url=self._auth_url)
        self._stop_waiting()
        if token is None:
            return self.async_external_step_done(next_step_id="sign_in_failed")
        self._account_token = token
        return self.async_external_step_done(next_step_id="pick_server")

    async def _async_ask_pin(self) -> str | None:
        """Ask plex.tv once; remember a token or a PIN that is gone for good."""
        try:
            token = await self._plextv.pin_token(self._pin)
        except PlexPinGoneError:
            self._pin_gone = True
            return None
        except PlexError as err:  # plex.tv had a hiccup: ask again later
            LOGGER.debug("plex.tv did not answer about the PIN: %s", err)
            return None
        self._found_token = token
        return token

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
                entry = self._get_reauth_entry()
                servers = [
                    s for s in servers if s.machine_identifier == entry.unique_id
                ]
                if not servers:
                    return self.async_abort(
                        reason="not_owner",
                        description_placeholders={"name": markdown_text(entry.title)},
                    )
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
        self._chosen = (server, address)
        if not address[CONF_SSL]:
            return await self.async_step_plain_http()
        return await self._async_create()

    async def async_step_plain_http(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Only plain HTTP answered: the token would cross the LAN unencrypted.

        Asked before any token is sent there: an /identity answer over HTTP
        proves less than a checked certificate.
        """
        if user_input is not None:
            return await self._async_create()
        server, address = self._chosen
        return self.async_show_form(
            step_id="plain_http",
            description_placeholders={
                "name": markdown_text(server.name),
                "url": address_url(address),
            },
        )

    async def _async_create(self) -> ConfigFlowResult:
        """Prove the server's token at the chosen address, then create the entry."""
        server, address = self._chosen
        data = {**address, CONF_TOKEN: server.access_token}
        proof = await async_prove(self.hass, data, self._new_server)
        if proof.errors:
            return self._abort_unproved(
                proof.errors, {"name": markdown_text(server.name)}
            )
        LOGGER.info(
            "Signed in with Plex: %s is reached at %s (%s)",
            printable(server.name),
            address_url(address),
            "HTTPS, certificate checked" if address[CONF_SSL] else "plain HTTP",
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
            if await self._async_ask_pin() is not None or self._pin_gone:
                break
        else:
            self._pin_gone = True  # its time is up, whatever plex.tv says
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
        """Store the change and reload, even if nothing changed.

        A reauth that stores the same token must still bring the entry back;
        a reload also cannot race an unload, as an in-place change could.
        """
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
