"""Config flow: set up a Plex server, re-authenticate, reconfigure, options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
import math
from typing import Any, override

import probatio

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
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
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo

from .connection import (
    InvalidInputError,
    base_url,
    follows_discovery,
    normalize_connection,
    normalize_token,
)
from .const import (
    CONF_ROTATION_HOURS,
    CONF_SHOW_TOKEN,
    DEFAULT_PORT,
    DEFAULT_ROTATION_HOURS,
    DEFAULT_SHOW_TOKEN,
    DEFAULT_SSL,
    DEFAULT_VERIFY_SSL,
    DOMAIN,
    LOGGER,
    MAX_ROTATION_HOURS,
    MIN_ROTATION_HOURS,
)
from .helpers import async_create_client, error_key, markdown_text, printable
from .plex import PlexError, ServerInfo

# The port has no selector min/max: out-of-range input would then be a schema
# error without a translation; the step refuses it with `invalid_port` instead.
_ADDRESS_FIELDS: dict[Any, Any] = {
    probatio.Required(CONF_HOST): TextSelector(),
    probatio.Required(CONF_PORT, default=DEFAULT_PORT): NumberSelector(
        NumberSelectorConfig(step=1, mode=NumberSelectorMode.BOX)
    ),
}
_TLS_FIELDS: dict[Any, Any] = {
    probatio.Required(CONF_SSL, default=DEFAULT_SSL): BooleanSelector(),
    probatio.Required(CONF_VERIFY_SSL, default=DEFAULT_VERIFY_SSL): BooleanSelector(),
}
_TOKEN_FIELD: dict[Any, Any] = {
    probatio.Required(probatio.Secret(CONF_TOKEN)): TextSelector(
        TextSelectorConfig(type=TextSelectorType.PASSWORD)
    )
}
# Where to find the server, then the token, then the less common TLS switches.
USER_SCHEMA = probatio.Schema({**_ADDRESS_FIELDS, **_TOKEN_FIELD, **_TLS_FIELDS})
RECONFIGURE_SCHEMA = probatio.Schema({**_ADDRESS_FIELDS, **_TLS_FIELDS})
TOKEN_SCHEMA = probatio.Schema(_TOKEN_FIELD)
# The end of a zeroconf instance name: "Living Room Plex._plexmediasvr._tcp.local."
_SERVICE_SUFFIX = "._plexmediasvr"

type IdentityCheck = Callable[[str], Awaitable[None]]


class PlexApiConfigFlow(ConfigFlow, domain=DOMAIN):
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
        """Ask for the server and the owner token, and prove them."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data, server, errors = await self._async_try(user_input, self._new_server)
            if server is not None:
                return self.async_create_entry(title=server.friendly_name, data=data)
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(
                USER_SCHEMA, _without_token(user_input)
            ),
            errors=errors,
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Plex refused the owner token: ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask only for the new token; the server must stay the same."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data, server, errors = await self._async_try(
                {**entry.data, **user_input}, self._same_server
            )
            if server is not None:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_TOKEN: data[CONF_TOKEN]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=TOKEN_SCHEMA,
            errors=errors,
            description_placeholders={"name": markdown_text(entry.title)},
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how the server is reached; it must stay the same server."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data, server, errors = await self._async_try(
                {**entry.data, **user_input}, self._same_server
            )
            if server is not None:
                return self.async_update_reload_and_abort(entry, data_updates=data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, user_input or entry.data
            ),
            errors=errors,
        )

    @override
    async def async_step_zeroconf(
        self, discovery_info: ZeroconfServiceInfo
    ) -> ConfigFlowResult:
        """Identify a Plex Media Server that announced itself (no token sent)."""
        host = str(discovery_info.ip_address)
        address = {
            CONF_HOST: host,
            CONF_PORT: discovery_info.port or DEFAULT_PORT,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        }
        machine_identifier = await self._async_identify(address)
        if machine_identifier is None:
            return self.async_abort(reason="cannot_connect")
        # Not raising on progress: a reauth or reconfigure of this server must
        # not stop an address update.
        entry = await self.async_set_unique_id(
            machine_identifier, raise_on_progress=False
        )
        if entry is not None:
            updates = await self._async_moved(entry, address)
            self._abort_if_unique_id_configured(updates=updates)
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
            data, server, errors = await self._async_try(
                {**self._discovered, **user_input}, self._discovered_server
            )
            if server is not None:
                return self.async_create_entry(title=server.friendly_name, data=data)
        return self.async_show_form(
            step_id="zeroconf_confirm",
            data_schema=TOKEN_SCHEMA,
            errors=errors,
            description_placeholders={
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

    async def _new_server(self, machine_identifier: str) -> None:
        """User step: a server that is already set up aborts before any token."""
        await self.async_set_unique_id(machine_identifier, raise_on_progress=False)
        self._abort_if_unique_id_configured()

    async def _same_server(self, machine_identifier: str) -> None:
        """Reauth and reconfigure: the entry's server, or the token is not sent."""
        await self.async_set_unique_id(machine_identifier, raise_on_progress=False)
        self._abort_if_unique_id_mismatch(reason="wrong_server")

    async def _discovered_server(self, machine_identifier: str) -> None:
        """Zeroconf confirm: still the discovered server, and still not set up."""
        if machine_identifier != self.unique_id:
            raise AbortFlow("wrong_server")
        self._abort_if_unique_id_configured()

    async def _async_try(
        self, user_input: Mapping[str, Any], check_identity: IdentityCheck
    ) -> tuple[dict[str, Any], ServerInfo | None, dict[str, str]]:
        """Normalise and prove the input: (data, server or None, form errors).

        `check_identity` gets the machine identifier from `/identity` before the
        token is sent anywhere, and may abort the flow.
        """
        try:
            data = {
                **normalize_connection(user_input),
                CONF_TOKEN: normalize_token(user_input[CONF_TOKEN]),
            }
        except InvalidInputError as err:
            return dict(user_input), None, {err.field: err.error}
        try:
            client = await async_create_client(self.hass, data)
            identity = await client.identity()
            await check_identity(identity.machine_identifier)
            server, _token = await client.verified_transient_token(
                identity.machine_identifier
            )
        except PlexError as err:
            return data, None, {"base": error_key(err)}
        except AbortFlow:
            raise
        except Exception:  # noqa: BLE001 - the form must show 'unknown', not crash
            LOGGER.exception("Unexpected error while checking the Plex server")
            return data, None, {"base": "unknown"}
        return data, server, {}


def _without_token(user_input: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the form may show again after an error: never the token."""
    return {k: v for k, v in (user_input or {}).items() if k != CONF_TOKEN}


class PlexApiOptionsFlow(OptionsFlowWithReload):
    """Rotation age and token visibility; the entry reloads on change."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the options with their current values; refuse an odd age."""
        errors: dict[str, str] = {}
        if user_input is not None:
            hours = user_input[CONF_ROTATION_HOURS]
            if _valid_rotation(hours):
                return self.async_create_entry(
                    data={
                        CONF_ROTATION_HOURS: int(hours),
                        CONF_SHOW_TOKEN: user_input[CONF_SHOW_TOKEN],
                    }
                )
            errors[CONF_ROTATION_HOURS] = "invalid_rotation"
        options = self.config_entry.options
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_ROTATION_HOURS,
                    default=options.get(CONF_ROTATION_HOURS, DEFAULT_ROTATION_HOURS),
                ): NumberSelector(
                    NumberSelectorConfig(
                        step=1, unit_of_measurement="h", mode=NumberSelectorMode.BOX
                    )
                ),
                probatio.Required(
                    CONF_SHOW_TOKEN,
                    default=options.get(CONF_SHOW_TOKEN, DEFAULT_SHOW_TOKEN),
                ): BooleanSelector(),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )


def _valid_rotation(hours: float) -> bool:
    """A whole number of hours from 1 to 47 (NaN and infinity are not)."""
    return (
        math.isfinite(hours)
        and hours == int(hours)
        and MIN_ROTATION_HOURS <= hours <= MAX_ROTATION_HOURS
    )
