"""Config flow: set up a Plex server, re-authenticate, reconfigure, options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
import ipaddress
import re
from typing import Any, override

import probatio
from yarl import URL

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
from .helpers import async_create_client, base_url
from .plex import (
    PlexAuthenticationError,
    PlexClient,
    PlexConnectionError,
    PlexError,
    PlexIdentity,
    PlexResponseError,
    PlexStatusError,
    PlexTimeoutError,
    PlexTLSError,
    ServerInfo,
)

_HOSTNAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?",
    re.IGNORECASE,
)
_TOKEN_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
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
    probatio.Required(probatio.Secret(CONF_TOKEN)): _TOKEN_SELECTOR
}
# Where to find the server, then the token, then the less common TLS switches.
USER_SCHEMA = probatio.Schema({**_ADDRESS_FIELDS, **_TOKEN_FIELD, **_TLS_FIELDS})
RECONFIGURE_SCHEMA = probatio.Schema({**_ADDRESS_FIELDS, **_TLS_FIELDS})
TOKEN_SCHEMA = probatio.Schema(_TOKEN_FIELD)
# The end of a zeroconf instance name: "Living Room Plex._plexmediasvr._tcp.local."
_SERVICE_SUFFIX = "._plexmediasvr"

type IdentityCheck = Callable[[str], Awaitable[None]]


class InvalidInputError(Exception):
    """A field's value cannot be used; `field` and `error` go to the form."""

    def __init__(self, field: str, error: str) -> None:
        """Name the field and the translation key of its error."""
        super().__init__(error)
        self.field = field
        self.error = error


def normalize_connection(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Trim the input and split a pasted URL (`https://10.0.0.5:32400`) into fields."""
    host = str(user_input[CONF_HOST]).strip()
    port = user_input[CONF_PORT]
    use_ssl = bool(user_input[CONF_SSL])
    if "://" in host:
        host, port, use_ssl = _split_url(host, port)
    elif host.startswith("[") and "]" in host:
        host, port = _split_bracketed(host, port)
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = _port(port_text)
    if not _valid_host(host):
        raise InvalidInputError(CONF_HOST, "invalid_host")
    if isinstance(port, bool) or not isinstance(port, int | float) or port != int(port):
        raise InvalidInputError(CONF_PORT, "invalid_port")
    if not 1 <= port <= 65535:
        raise InvalidInputError(CONF_PORT, "invalid_port")
    return {
        **user_input,
        CONF_HOST: host,
        CONF_PORT: int(port),
        CONF_SSL: use_ssl,
    }


def normalize_token(token: object) -> str:
    """Trim a pasted token; one with inner spaces or control characters is wrong."""
    text = str(token).strip()
    if not text or not text.isprintable() or any(c.isspace() for c in text):
        raise InvalidInputError(CONF_TOKEN, "invalid_token")
    return text


def _split_url(text: str, port: Any) -> tuple[str, Any, bool]:
    """Take scheme, host and port from a URL; a Plex web-app path is tolerated.

    A URL without a port keeps the form's port: `http://192.168.1.20` means the
    Plex port (32400 unless changed), not the scheme's 80.
    """
    try:
        url = URL(text)
        explicit_port = url.explicit_port
    except ValueError as err:
        raise InvalidInputError(CONF_HOST, "invalid_host") from err
    path_ok = url.path in ("", "/") or url.path.startswith("/web")
    if (
        url.scheme not in ("http", "https")
        or not url.host
        or url.user is not None
        or url.query_string
        or not path_ok
    ):
        raise InvalidInputError(CONF_HOST, "invalid_host")
    if explicit_port is not None:
        port = explicit_port
    return url.host, port, url.scheme == "https"


def _split_bracketed(text: str, port: Any) -> tuple[str, Any]:
    """`[fe80::1]` or `[fe80::1]:32400`: an IPv6 literal written as in a URL."""
    host, _, rest = text[1:].partition("]")
    if not _is_ipv6(host):  # brackets are for IPv6 only: `[127.0.0.1]` is a typo
        raise InvalidInputError(CONF_HOST, "invalid_host")
    if rest:
        if not rest.startswith(":"):
            raise InvalidInputError(CONF_HOST, "invalid_host")
        port = _port(rest[1:])
    return host, port


def _port(text: str) -> int:
    if not text.isdigit():
        raise InvalidInputError(CONF_PORT, "invalid_port")
    return int(text)


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _valid_host(host: str) -> bool:
    """A hostname or an IP address (IPv6 without brackets), nothing else."""
    return _is_ip(host) or _HOSTNAME.fullmatch(host) is not None


def _follows_discovery(data: Mapping[str, Any]) -> bool:
    """Tell whether discovery may move this entry to the announced address.

    Only an entry that names an IP address: a hostname was chosen on purpose
    (DNS, a reverse proxy). Not one verifying a certificate over HTTPS either:
    a certificate is usually for a name, so the new address would fail it.
    """
    host = data.get(CONF_HOST)
    if not isinstance(host, str) or not _is_ip(host):
        return False
    return not (data.get(CONF_SSL) and data.get(CONF_VERIFY_SSL))


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
            description_placeholders={"name": entry.title},
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
        """Identify a Plex Media Server that announced itself."""
        host = str(discovery_info.ip_address)
        port = discovery_info.port or DEFAULT_PORT
        address = {
            CONF_HOST: host,
            CONF_PORT: port,
            CONF_SSL: False,
            CONF_VERIFY_SSL: True,
        }
        # /identity sends no token: the client builds its token headers lazily.
        client = await async_create_client(self.hass, {**address, CONF_TOKEN: ""})
        try:
            identity = await _async_identity(client)
        except PlexError as err:
            LOGGER.debug("Discovered Plex server at %s did not answer: %s", host, err)
            return self.async_abort(reason="cannot_connect")
        entry = await self.async_set_unique_id(identity.machine_identifier)
        if entry is not None and _follows_discovery(entry.data):
            # A multi-homed server announces several addresses: keep the entry's
            # when it is one of them, so the entry does not flap between them.
            current = entry.data[CONF_HOST]
            if ipaddress.ip_address(current) in discovery_info.ip_addresses:
                host = current
            self._abort_if_unique_id_configured(
                updates={CONF_HOST: host, CONF_PORT: port}
            )
        self._abort_if_unique_id_configured()
        self._discovered = address
        self._discovered_name = (
            discovery_info.name.partition(_SERVICE_SUFFIX)[0] or host
        )
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
                "name": self._discovered_name,
                "address": str(base_url(self._discovered)),
            },
        )

    async def _new_server(self, machine_identifier: str) -> None:
        """User step: a server that is already set up aborts before any token."""
        await self.async_set_unique_id(machine_identifier, raise_on_progress=False)
        self._abort_if_unique_id_configured()

    async def _same_server(self, machine_identifier: str) -> None:
        """Reauth and reconfigure: the entry's server, or the token is not sent."""
        await self.async_set_unique_id(machine_identifier)
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
            server = await self._async_prove(data, check_identity)
        except PlexError as err:
            return data, None, {"base": _error_key(err)}
        except AbortFlow:
            raise
        except Exception:  # noqa: BLE001 - the form must show 'unknown', not crash
            LOGGER.exception("Unexpected error while checking the Plex server")
            return data, None, {"base": "unknown"}
        return data, server, {}

    async def _async_prove(
        self, data: Mapping[str, Any], check_identity: IdentityCheck
    ) -> ServerInfo:
        """`/identity` (is it Plex? which?), a transient token (an owner's token?)."""
        client = await async_create_client(self.hass, data)
        identity = await _async_identity(client)
        await check_identity(identity.machine_identifier)
        await client.new_transient_token()
        return await client.server_info()


async def _async_identity(client: PlexClient) -> PlexIdentity:
    """Ask `/identity`; Plex serves it to anyone, so a 401/403 means not Plex."""
    try:
        return await client.identity()
    except PlexAuthenticationError as err:
        raise PlexResponseError("/identity requires a token") from err


def _without_token(user_input: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the form may show again after an error: never the token."""
    return {k: v for k, v in (user_input or {}).items() if k != CONF_TOKEN}


def _error_key(err: PlexError) -> str:
    """The form error (translation key) for a client error."""
    match err:
        case PlexTimeoutError():
            return "timeout"
        case PlexTLSError():
            return "ssl_error"
        case PlexAuthenticationError():
            return "invalid_auth"
        case PlexStatusError(status=status):
            return _status_error_key(status)
        case PlexConnectionError():
            return "cannot_connect"
    return "not_plex"


def _status_error_key(status: int) -> str:
    """The form error for an unexpected HTTP status."""
    if 300 <= status < 400:
        # The client follows no redirect (the token would go along); usually a
        # reverse proxy sending HTTP to HTTPS.
        return "redirected"
    if status >= 500:
        return "cannot_connect"
    return "not_plex"


class PlexApiOptionsFlow(OptionsFlowWithReload):
    """Rotation age and token visibility; the entry reloads on change."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the options with their current values."""
        if user_input is not None:
            return self.async_create_entry(
                data={
                    CONF_ROTATION_HOURS: int(user_input[CONF_ROTATION_HOURS]),
                    CONF_SHOW_TOKEN: user_input[CONF_SHOW_TOKEN],
                }
            )
        options = self.config_entry.options
        schema = probatio.Schema(
            {
                probatio.Required(
                    CONF_ROTATION_HOURS,
                    default=options.get(CONF_ROTATION_HOURS, DEFAULT_ROTATION_HOURS),
                ): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_ROTATION_HOURS,
                        max=MAX_ROTATION_HOURS,
                        step=1,
                        unit_of_measurement="h",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                probatio.Required(
                    CONF_SHOW_TOKEN,
                    default=options.get(CONF_SHOW_TOKEN, DEFAULT_SHOW_TOKEN),
                ): BooleanSelector(),
            }
        )
        return self.async_show_form(step_id="init", data_schema=schema)
