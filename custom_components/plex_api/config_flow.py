"""Config flow: set up a Plex server, re-authenticate, reconfigure, options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
)
from homeassistant.core import callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .connection import base_url, follows_discovery
from .const import CONF_ROTATION_HOURS, CONF_SHOW_TOKEN, DEFAULT_PORT, DOMAIN, LOGGER
from .forms import (
    PLACEHOLDERS,
    TOKEN_SCHEMA,
    USER_SCHEMA,
    address_schema,
    async_prove,
    error_placeholders,
    flat_input,
    form_values,
    options_schema,
    token_form_errors,
    valid_rotation,
)
from .helpers import async_create_client, markdown_text, printable
from .plex import PlexError
from .signin import PlexSignInFlow

# The end of a zeroconf instance name: "Living Room Plex._plexmediasvr._tcp.local."
_SERVICE_SUFFIX = "._plexmediasvr"


class PlexApiConfigFlow(PlexSignInFlow, domain=DOMAIN):
    """Add a Plex server, keyed on its machine identifier."""

    VERSION = 1

    _discovered: dict[str, Any]
    _discovered_name: str

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> PlexApiOptionsFlow:
        """Options: rotation age and whether the sensor shows the token."""
        return PlexApiOptionsFlow()

    @override
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign in with Plex (recommended), or enter the server and token."""
        return self.async_show_menu(step_id="user", menu_options=["sign_in", "manual"])

    async def async_step_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the server and the owner token, and prove them."""
        errors: dict[str, str] = {}
        placeholders = dict(PLACEHOLDERS)
        if user_input is not None:
            proof = await async_prove(
                self.hass, flat_input(user_input), self._new_server
            )
            if not (errors := proof.errors):
                return self.async_create_entry(title=proof.title, data=proof.data)
            placeholders = error_placeholders(proof.data)
            if errors.get("base") == "invalid_auth":  # only a refused token goes
                user_input = {k: v for k, v in user_input.items() if k != CONF_TOKEN}
        return self.async_show_form(
            step_id="manual",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Plex refused the owner token: sign in again, or enter a new one."""
        return self.async_show_menu(
            step_id="reauth",
            menu_options=["sign_in", "reauth_confirm"],
            description_placeholders={
                "name": markdown_text(self._get_reauth_entry().title)
            },
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask only for the new token; the server must stay the same."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            proof = await async_prove(
                self.hass, {**entry.data, **user_input}, self._same_server
            )
            if not proof.errors:
                return self._async_update(entry, {CONF_TOKEN: proof.data[CONF_TOKEN]})
            errors = token_form_errors(proof.errors, "cannot_reach_reauth")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=TOKEN_SCHEMA,
            errors=errors,
            description_placeholders={
                **error_placeholders(entry.data),
                "name": markdown_text(entry.title),
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how the server is reached; it must stay the same server."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        values = form_values(entry.data)
        if user_input is not None:
            proof = await async_prove(
                self.hass,
                {**entry.data, **flat_input(user_input)},
                self._same_server,
                with_token=False,
            )
            if not (errors := proof.errors):
                return self._async_update(entry, proof.data)
            values = user_input
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                address_schema(bool(entry.data[CONF_SSL])), values
            ),
            errors=errors,
            description_placeholders={
                **error_placeholders({**entry.data, **flat_input(values)}),
                "name": markdown_text(entry.title),
            },
        )

    @override
    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """Identify a Plex Media Server that announced itself (no token sent)."""
        address = {
            CONF_HOST: str(discovery_info.ip_address),
            CONF_PORT: discovery_info.port or DEFAULT_PORT,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        }
        machine_identifier = await self._async_identify(address)
        if machine_identifier is None:
            return self.async_abort(reason="cannot_connect")
        # Not raising on progress: a reauth or reconfigure of this server must
        # not stop an address update, nor this flow stop them.
        entry = await self.async_set_unique_id(
            machine_identifier, raise_on_progress=False
        )
        if entry is not None:
            updates = await self._async_moved(entry, address)
            self._abort_if_unique_id_configured(updates=updates, reload_on_update=True)
        await self.async_set_unique_id(machine_identifier)
        self._discovered = address
        self._discovered_name = printable(
            discovery_info.name.partition(_SERVICE_SUFFIX)[0]
        ) or str(base_url(address).host)
        self.context["title_placeholders"] = {"name": self._discovered_name}
        return await self.async_step_zeroconf_confirm()

    async def async_step_zeroconf_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask only for the owner token of the discovered server."""
        errors: dict[str, str] = {}
        if user_input is not None:
            proof = await async_prove(
                self.hass, {**self._discovered, **user_input}, self._discovered_server
            )
            if not proof.errors:
                return self.async_create_entry(title=proof.title, data=proof.data)
            errors = token_form_errors(proof.errors, "cannot_reach_discovered")
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=TOKEN_SCHEMA,
            errors=errors,
            description_placeholders={
                **error_placeholders(self._discovered),
                "name": markdown_text(self._discovered_name),
                "address": str(base_url(self._discovered)),
            },
        )

    async def _async_identify(self, address: Mapping[str, Any]) -> str | None:
        """The machine identifier `/identity` gives at an address, or None."""
        client = await async_create_client(self.hass, address)
        try:
            identity = await client.identity()
        except PlexError as err:
            LOGGER.debug("No Plex server answers at %s: %s", client.base_url, err)
            return None
        return identity.machine_identifier

    async def _async_moved(
        self, entry: ConfigEntry, address: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The announced address for a known server's entry, if it must move.

        Only when the entry's own address no longer answers as its server: an
        announcement alone (anyone on the LAN can make one) never moves an
        entry away from a server that still answers, and a server announcing
        several addresses does not make its entry flap between them.
        """
        if not follows_discovery(entry.data):
            return None
        if await self._async_identify(entry.data) == entry.unique_id:
            return None
        return {CONF_HOST: address[CONF_HOST], CONF_PORT: address[CONF_PORT]}

    async def _discovered_server(self, machine_identifier: str) -> None:
        """Zeroconf confirm: still the discovered server, and still not set up."""
        if machine_identifier != self.unique_id:
            raise AbortFlow("wrong_server")
        self._abort_if_unique_id_configured()


class PlexApiOptionsFlow(OptionsFlow):
    """Rotation age and token visibility; applied without a reload."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the options with their current values; refuse an odd age."""
        errors: dict[str, str] = {}
        if user_input is not None:
            hours = user_input[CONF_ROTATION_HOURS]
            if valid_rotation(hours):
                return self.async_create_entry(
                    data={
                        CONF_ROTATION_HOURS: int(hours),
                        CONF_SHOW_TOKEN: user_input[CONF_SHOW_TOKEN],
                    }
                )
            errors[CONF_ROTATION_HOURS] = "invalid_rotation"
        schema = options_schema(self.config_entry.options)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )
