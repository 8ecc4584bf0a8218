"""Config flow: sign in with Plex or enter a server, discovery, reauth, reconfigure.

Every step proves its input in core's Platinum shape (mealie's
`check_connection`): one function asks `/identity` (no token) and returns the
form's errors and the server's machine identifier; the step itself then decides
whether that is the server it wants (unique id, the entry's server); only then
is the token proven, by a transient token from that server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, override

import probatio

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_ZEROCONF,
    ConfigEntry,
    ConfigFlow,
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
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
)
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.helpers.typing import UNDEFINED, UndefinedType

from . import async_apply_options, async_connection_changed
from .clients import async_create_client
from .connection import (
    InvalidInputError,
    address_data,
    base_url,
    follows_discovery,
    normalize_connection,
    normalize_token,
)
from .const import CONF_ROTATION_HOURS, CONF_SHOW_TOKEN, DEFAULT_PORT, DOMAIN, LOGGER
from .forms import (
    PLACEHOLDERS,
    TOKEN_SCHEMA,
    USER_SCHEMA,
    address_schema,
    error_placeholders,
    flat_input,
    form_values,
    options_schema,
    token_form_errors,
    valid_rotation,
)
from .plex import (
    Address,
    PlexAuthenticationError,
    PlexError,
    PlexResource,
    PlexResponseError,
    PlexTVBusyError,
    address_candidates,
    async_best_address,
)
from .signin import BUSY, PlexSignIn
from .texts import error_key, markdown_text, printable
from .view import WAITING_STEP, async_resume

# The end of a zeroconf instance name: "Living Room Plex._plexmediasvr._tcp.local."
_SERVICE_SUFFIX = "._plexmediasvr"
# Where "by hand" leads from the offline menu, for each way a flow started.
_BY_HAND = {SOURCE_REAUTH: "reauth_confirm", SOURCE_ZEROCONF: "zeroconf_token"}


@dataclass(frozen=True, slots=True)
class Checked:
    """What `/identity` said about the input: the data to use, errors or the server."""

    data: dict[str, Any]
    errors: dict[str, str]
    machine_identifier: str = ""


class PlexApiConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a Plex server, keyed on its machine identifier."""

    VERSION = 1

    _discovered: dict[str, Any]
    _discovered_name: str
    _sign_in: PlexSignIn | None = None
    _account_token: str
    _servers: dict[str, PlexResource]
    _pending: tuple[str, dict[str, Any]]  # the server's name, data with token
    _moving: tuple[str, dict[str, Any], str]  # entry id, new address, server found

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> PlexApiOptionsFlow:
        """Options: rotation age and whether the sensor shows the token."""
        return PlexApiOptionsFlow()

    # --- what every step shares ------------------------------------------------

    async def _async_check_connection(self, user_input: Mapping[str, Any]) -> Checked:
        """Normalise the input and ask `/identity` there (no token is sent).

        The form's errors, or the machine identifier of the server that answers.
        """
        try:
            data = {
                **normalize_connection(user_input),
                CONF_TOKEN: normalize_token(user_input[CONF_TOKEN]),
            }
        except InvalidInputError as err:
            return Checked(dict(user_input), {err.field: err.error})
        try:
            client = await async_create_client(self.hass, data)
            identity = await client.identity()
        except PlexError as err:
            return Checked(data, {"base": error_key(err)})
        except Exception:  # noqa: BLE001 - the form must show 'unknown', not crash
            LOGGER.exception("Unexpected error while checking the Plex server")
            return Checked(data, {"base": "unknown"})
        return Checked(data, {}, identity.machine_identifier)

    async def _async_prove_token(
        self, data: Mapping[str, Any], machine_identifier: str
    ) -> tuple[dict[str, str], str]:
        """Prove the owner token with a transient token of that server only.

        The form's errors, or the server's name. `/identity` is asked again
        right before the token goes out (the trust boundary of the client).
        """
        try:
            client = await async_create_client(self.hass, data)
            server, _ = await client.verified_transient_token(machine_identifier)
        except PlexError as err:
            return {"base": error_key(err)}, ""
        except Exception:  # noqa: BLE001 - the form must show 'unknown', not crash
            LOGGER.exception("Unexpected error while checking the Plex server")
            return {"base": "unknown"}, ""
        return {}, server.friendly_name

    async def _async_identify(self, address: Mapping[str, Any]) -> str | None:
        """The machine identifier `/identity` gives at an address, or None."""
        client = await async_create_client(self.hass, address)
        try:
            identity = await client.identity()
        except PlexError as err:
            LOGGER.debug("No Plex server answers at %s: %s", client.base_url, err)
            return None
        return identity.machine_identifier

    def _async_update(
        self,
        entry: ConfigEntry,
        updates: dict[str, Any],
        reason: str | UndefinedType = UNDEFINED,
    ) -> ConfigFlowResult:
        """Store the change and reload, even if nothing changed.

        A reauth that stores the same token must still bring the entry back;
        a reload also cannot race an unload, as an in-place change could. The
        reload is the flow's alone (the entry has no update listener), and its
        first token says `address`.
        """
        async_connection_changed(self.hass, entry)
        return self.async_update_reload_and_abort(
            entry, data_updates=updates, reason=reason
        )

    def _other_server(
        self, checked: Checked, entry: ConfigEntry
    ) -> dict[str, str] | None:
        """Placeholders naming the server found, if it is not the entry's."""
        if checked.machine_identifier == entry.unique_id:
            return None
        return {"found": markdown_text(checked.machine_identifier)}

    # --- the first menu and the manual form --------------------------------------

    @override
    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Sign in with Plex (recommended, needs the Internet), or enter the server."""
        return self.async_show_menu(step_id="user", menu_options=["sign_in", "manual"])

    async def async_step_manual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the server and the owner token, and prove them."""
        errors: dict[str, str] = {}
        placeholders = dict(PLACEHOLDERS)
        values: dict[str, Any] | None = None
        if user_input is not None:
            checked = await self._async_check_connection(flat_input(user_input))
            if not (errors := checked.errors):
                await self.async_set_unique_id(
                    checked.machine_identifier, raise_on_progress=False
                )
                self._abort_if_unique_id_configured()
                errors, title = await self._async_prove_token(
                    checked.data, checked.machine_identifier
                )
                if not errors:
                    return self.async_create_entry(title=title, data=checked.data)
            placeholders = error_placeholders(checked.data)
            # What was used, as fields: a pasted URL's port and HTTPS shown.
            values = form_values(checked.data)
            if errors.get("base") == "invalid_auth":  # only a refused token goes
                values.pop(CONF_TOKEN, None)
        return self.async_show_form(
            step_id="manual",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, values),
            errors=errors,
            description_placeholders=placeholders,
        )

    # --- sign in with Plex --------------------------------------------------------

    async def async_step_sign_in(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask plex.tv for a PIN and send the person to Plex's sign-in page."""
        try:
            self._sign_in = await PlexSignIn.async_start(self.hass, self.flow_id)
        except PlexTVBusyError:
            return self.async_abort(reason="plex_tv_busy")
        except PlexResponseError:
            return self.async_abort(reason="plex_tv_invalid")
        except PlexError as err:
            LOGGER.debug("plex.tv did not give a PIN: %s", err)
            return await self.async_step_plex_tv_offline()
        self._sign_in.wait(lambda: async_resume(self.hass, self.flow_id))
        return self.async_external_step(
            step_id=WAITING_STEP, url=self._sign_in.auth_url
        )

    async def async_step_plex_tv_offline(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """plex.tv cannot be reached: try again, or go on by hand."""
        by_hand = _BY_HAND.get(str(self.source), "manual")
        return self.async_show_menu(
            step_id="plex_tv_offline", menu_options=["sign_in", by_hand]
        )

    async def async_step_obtain_token(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Back from plex.tv (the callback, or the poller): was it allowed."""
        sign_in = self._sign_in
        assert sign_in is not None  # this step follows sign_in only
        await sign_in.async_ask()
        if not sign_in.done:
            return self.async_external_step(step_id=WAITING_STEP, url=sign_in.auth_url)
        sign_in.stop()
        if sign_in.token is None:
            failed = "sign_in_busy" if sign_in.failure == BUSY else "sign_in_failed"
            return self.async_external_step_done(next_step_id=failed)
        self._account_token = sign_in.token
        return self.async_external_step_done(next_step_id="pick_server")

    async def async_step_sign_in_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Denied, refused by plex.tv's page, closed or too late: nothing was kept."""
        return self.async_abort(reason="sign_in_failed")

    async def async_step_sign_in_busy(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """plex.tv kept asking to be asked less often."""
        return self.async_abort(reason="plex_tv_busy")

    async def async_step_pick_server(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The account's own servers (only the expected one, if any); one is taken."""
        if user_input is None and (stop := await self._async_list_servers()):
            return stop
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

    async def _async_list_servers(self) -> ConfigFlowResult | None:
        """Ask plex.tv for the account's servers; a result ends the step."""
        assert self._sign_in is not None  # this step follows sign_in only
        try:
            servers = await self._sign_in.async_owned_servers(self._account_token)
        except PlexResponseError:
            return self.async_abort(reason="plex_tv_invalid")
        except PlexAuthenticationError:  # signed out meanwhile
            return self.async_abort(reason="sign_in_failed")
        except PlexError as err:
            LOGGER.debug("plex.tv did not list the servers: %s", err)
            return await self.async_step_plex_tv_offline()
        if (expected := self._expected()) is not None:
            unique_id, name = expected
            servers = [s for s in servers if s.machine_identifier == unique_id]
            if not servers:
                return self.async_abort(
                    reason="not_owner",
                    description_placeholders={"name": markdown_text(name)},
                )
        if not servers:
            return self.async_abort(reason="no_servers")
        self._servers = {s.machine_identifier: s for s in servers}
        return None

    def _expected(self) -> tuple[str | None, str] | None:
        """The server a sign-in must be for (reauth, discovery) and its name."""
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
            return entry.unique_id, entry.title
        if self.source == SOURCE_ZEROCONF:
            return self.unique_id, self._discovered_name
        return None

    async def _async_use(self, server: PlexResource) -> ConfigFlowResult:
        """Prove the server's token at its best address, then keep it."""
        placeholders = {"name": markdown_text(server.name)}
        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
            data = {**entry.data, CONF_TOKEN: server.access_token}
            checked = await self._async_check_connection(data)
            errors = checked.errors
            if not errors and self._other_server(checked, entry):
                return self.async_abort(reason="server_changed")
            if not errors:
                errors, _ = await self._async_prove_token(
                    checked.data, checked.machine_identifier
                )
            if errors:
                return self._abort_unproved(errors, placeholders)
            return self._async_update(entry, {CONF_TOKEN: server.access_token})
        await self.async_set_unique_id(
            server.machine_identifier, raise_on_progress=False
        )
        self._abort_if_unique_id_configured()
        address = await async_best_address(
            address_candidates(server), server.machine_identifier, self._async_probe
        )
        if address is None:
            return self.async_abort(
                reason="sign_in_unreachable", description_placeholders=placeholders
            )
        data = {**address_data(address), CONF_TOKEN: server.access_token}
        self._pending = (server.name, data)
        if not address.ssl:
            return await self.async_step_plain_http()
        return await self._async_create()

    async def _async_probe(self, address: Address) -> str | None:
        """`/identity` at an address plex.tv listed (no token sent)."""
        return await self._async_identify(address_data(address))

    async def async_step_plain_http(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Only plain HTTP answered: the token would cross the LAN unencrypted.

        Asked before any token is sent there: an /identity answer over HTTP
        proves less than a checked certificate.
        """
        if user_input is not None:
            return await self._async_create()
        name, data = self._pending
        return self.async_show_form(
            step_id="plain_http",
            description_placeholders={
                "name": markdown_text(name),
                "url": str(base_url(data)),
            },
        )

    async def _async_create(self) -> ConfigFlowResult:
        """Prove the token at the chosen address, still that server, then create."""
        name, data = self._pending
        errors, title = await self._async_prove_chosen(data)
        if errors:
            return self._abort_unproved(errors, {"name": markdown_text(name)})
        LOGGER.info(
            "Signed in with Plex: %s is reached at %s (%s)",
            printable(name),
            base_url(data),
            "HTTPS, certificate checked" if data[CONF_SSL] else "plain HTTP",
        )
        return self.async_create_entry(title=title or name, data=data)

    async def _async_prove_chosen(
        self, data: dict[str, Any]
    ) -> tuple[dict[str, str], str]:
        """Prove the token at the address chosen before (signed in, discovered).

        Asked right before the token is sent: the address may answer as
        another server by now (plain HTTP proves nothing for long), or the
        server may have been set up meanwhile.
        """
        checked = await self._async_check_connection(data)
        if checked.errors:
            return checked.errors, ""
        if checked.machine_identifier != self.unique_id:
            raise AbortFlow("server_changed")
        self._abort_if_unique_id_configured()
        return await self._async_prove_token(data, checked.machine_identifier)

    def _abort_unproved(
        self, errors: dict[str, str], placeholders: dict[str, str]
    ) -> ConfigFlowResult:
        """The server did not take the token plex.tv gave, or did not answer."""
        refused = errors.get("base") == "invalid_auth"
        return self.async_abort(
            reason="sign_in_refused" if refused else "sign_in_unreachable",
            description_placeholders=placeholders,
        )

    @callback
    @override
    def async_remove(self) -> None:
        """The dialog was closed: stop asking plex.tv."""
        if self._sign_in is not None:
            self._sign_in.stop()

    # --- re-authentication and reconfiguration ------------------------------------

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
        found: dict[str, str] = {}
        if user_input is not None:
            checked = await self._async_check_connection({**entry.data, **user_input})
            errors = checked.errors
            if not errors and (other := self._other_server(checked, entry)):
                errors, found = {"base": "other_server"}, other
            if not errors:
                errors, _ = await self._async_prove_token(
                    checked.data, checked.machine_identifier
                )
                if not errors:
                    return self._async_update(
                        entry, {CONF_TOKEN: checked.data[CONF_TOKEN]}
                    )
            errors = token_form_errors(errors, "cannot_reach_reauth")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=TOKEN_SCHEMA,
            errors=errors,
            description_placeholders={
                **error_placeholders(entry.data),
                "name": markdown_text(entry.title),
                "found": "",
                **found,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how the server is reached; it must stay the same server."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        found: dict[str, str] = {}
        data: Mapping[str, Any] = entry.data
        if user_input is not None:
            # No token is sent here: the reloaded entry proves it at the new
            # address, right after its own `/identity`.
            checked = await self._async_check_connection(
                {**entry.data, **flat_input(user_input)}
            )
            data, errors = checked.data, checked.errors
            if not errors and (other := self._other_server(checked, entry)):
                errors, found = {"base": "other_server"}, other
            if not errors:
                return self._async_update(entry, checked.data)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                address_schema(bool(entry.data[CONF_SSL])), form_values(data)
            ),
            errors=errors,
            description_placeholders={
                **error_placeholders(data),
                "name": markdown_text(entry.title),
                "found": "",
                **found,
            },
        )

    # --- discovery ------------------------------------------------------------------

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
            return await self._async_known_server(entry, address)
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
        """Sign in (plex.tv tells whether the account owns it), or give a token.

        Anyone on the LAN can announce a server and copy `/identity`: the
        announcement alone never gets a token.
        """
        return self.async_show_menu(
            step_id="zeroconf_confirm",
            menu_options=["sign_in", "zeroconf_token"],
            description_placeholders=self._discovered_placeholders(),
        )

    async def async_step_zeroconf_token(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the owner token; nothing is sent before plain HTTP is confirmed."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                token = normalize_token(user_input[CONF_TOKEN])
            except InvalidInputError as err:
                errors = {err.field: err.error}
            else:
                data = {**self._discovered, CONF_TOKEN: token}
                self._pending = (self._discovered_name, data)
                return await self.async_step_zeroconf_plain_http()
        return self._token_form(errors)

    async def async_step_zeroconf_plain_http(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The same warning as the sign-in's; then `/identity` again, the token."""
        if user_input is None:
            return self.async_show_form(
                step_id="zeroconf_plain_http",
                description_placeholders=self._discovered_placeholders(),
            )
        _, data = self._pending
        errors, title = await self._async_prove_chosen(data)
        if errors:
            return self._token_form(
                token_form_errors(errors, "cannot_reach_discovered")
            )
        return self.async_create_entry(title=title, data=data)

    def _token_form(self, errors: dict[str, str]) -> ConfigFlowResult:
        """The discovered server's token form, with errors if any."""
        return self.async_show_form(
            step_id="zeroconf_token",
            data_schema=TOKEN_SCHEMA,
            errors=errors,
            description_placeholders={
                **error_placeholders(self._discovered),
                **self._discovered_placeholders(),
            },
        )

    def _discovered_placeholders(self) -> dict[str, str]:
        """The discovered server's name and address, as its steps show them."""
        return {
            "name": markdown_text(self._discovered_name),
            "address": str(base_url(self._discovered)),
        }

    async def _async_known_server(
        self, entry: ConfigEntry, address: dict[str, Any]
    ) -> ConfigFlowResult:
        """A configured server announced itself: offer its address only if needed.

        `/identity` is public, so anything can copy it: while the entry's own
        address merely does not answer (a restart, a sleeping NAS) an
        announcement changes nothing. Only when that address answers as
        another server (DHCP gave it away) is the announced address offered,
        and used after the user confirms it. A hostname or a checked
        certificate was chosen on purpose and is never replaced.
        """
        if follows_discovery(entry.data):
            found = await self._async_identify(entry.data)
            if found is not None and found != entry.unique_id:
                await self.async_set_unique_id(entry.unique_id)  # one offer at once
                self._moving = (entry.entry_id, address, found)
                self.context["title_placeholders"] = {"name": printable(entry.title)}
                return await self.async_step_zeroconf_move()
        return self.async_abort(reason="already_configured")

    async def async_step_zeroconf_move(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask before moving the entry; then `/identity` at the new address again.

        No token goes to the new address before the user confirmed it and it
        named the entry's server once more; the reloaded entry then sends it.
        """
        entry_id, address, found = self._moving
        entry = self.hass.config_entries.async_get_entry(entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        if user_input is None:
            return self.async_show_form(
                step_id="zeroconf_move",
                data_schema=probatio.Schema({}),
                description_placeholders={
                    "name": markdown_text(entry.title),
                    "old": str(base_url(entry.data)),
                    "new": str(base_url({**entry.data, **address})),
                    "found": markdown_text(found),
                },
            )
        moved = {CONF_HOST: address[CONF_HOST], CONF_PORT: address[CONF_PORT]}
        if await self._async_identify({**entry.data, **moved}) != entry.unique_id:
            return self.async_abort(reason="server_changed")
        return self._async_update(entry, moved, reason="address_updated")


def _label(server: PlexResource) -> str:
    """How a server is offered: its name, platform, version, and if it is online."""
    details = ", ".join(filter(None, (server.platform, server.version)))
    state = "online" if server.online else "offline"
    return (
        f"{server.name} ({details}; {state})" if details else f"{server.name} ({state})"
    )


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
                options = {
                    CONF_ROTATION_HOURS: int(hours),
                    CONF_SHOW_TOKEN: user_input[CONF_SHOW_TOKEN],
                }
                # Applied here, in place: no update listener, no reload.
                async_apply_options(self.hass, self.config_entry, options)
                return self.async_create_entry(data=options)
            errors[CONF_ROTATION_HOURS] = "invalid_rotation"
        schema = options_schema(self.config_entry.options)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )
