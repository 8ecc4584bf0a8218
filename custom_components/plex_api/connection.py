"""Connections: what the user typed, or what plex.tv announces, as entry data.

Pure functions without I/O, so that every odd input is a field error with a
translation key, never an exception that reaches the user as a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yarl import URL

from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_TOKEN,
    CONF_VERIFY_SSL,
)
from homeassistant.util.network import is_host_valid, is_ip_address, is_ipv6_address

from .plex import Address, is_sendable_token

_MAX_PORT = 65535


class InvalidInputError(Exception):
    """A field's value cannot be used; `field` and `error` go to the form."""

    def __init__(self, field: str, error: str) -> None:
        """Name the field and the translation key of its error."""
        super().__init__(error)
        self.field = field
        self.error = error


def base_url(data: Mapping[str, Any]) -> URL:
    """Return the server's base URL; yarl adds the brackets an IPv6 host needs."""
    return URL.build(
        scheme="https" if data[CONF_SSL] else "http",
        host=data[CONF_HOST],
        port=data[CONF_PORT],
    )


def normalize_connection(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Trim the input and split a pasted URL (`https://10.0.0.5:32400`) into fields."""
    host = str(user_input[CONF_HOST]).strip()
    port: object = user_input[CONF_PORT]
    use_ssl = bool(user_input[CONF_SSL])
    if "://" in host:
        host, port, use_ssl = _split_url(host, port)
    elif host.startswith("[") and "]" in host:
        host, port = _split_bracketed(host, port)
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        port = port_text
    # yarl and IDNA would silently turn look-alikes (the long s, the Kelvin
    # sign) into other ASCII letters: the host stored must be the host used.
    if not (host.isascii() and is_host_valid(host) and _builds(host)):
        raise InvalidInputError(CONF_HOST, "invalid_host")
    return {**user_input, CONF_HOST: host, CONF_PORT: _port(port), CONF_SSL: use_ssl}


def _builds(host: str) -> bool:
    """Whether a URL can carry the host unchanged (`::1%a]b` is an IP to Python)."""
    try:
        built = URL.build(scheme="http", host=host).host
    except ValueError:
        return False
    return built is not None and built.lower() == host.lower()


def normalize_token(token: object) -> str:
    """Trim a pasted token; one with inner spaces or control characters is wrong."""
    text = str(token).strip()
    if not is_sendable_token(text):
        raise InvalidInputError(CONF_TOKEN, "invalid_token")
    return text


def follows_discovery(data: Mapping[str, Any]) -> bool:
    """Tell whether discovery may move this entry to an announced address.

    Only an entry that names an IP address: a hostname was chosen on purpose
    (DNS, a reverse proxy). Not one verifying a certificate over HTTPS either:
    a certificate is usually for a name, so the new address would fail it.
    """
    host = data.get(CONF_HOST)
    if not isinstance(host, str) or not is_ip_address(host):
        return False
    return not (data.get(CONF_SSL) and data.get(CONF_VERIFY_SSL))


def _split_url(text: str, port: object) -> tuple[str, object, bool]:
    """Take scheme, host and port from a URL; a Plex web-app path is tolerated.

    A URL without a port keeps the form's port: `http://192.168.1.20` means the
    Plex port (32400 unless changed), not the scheme's 80.
    """
    if not text.isascii():  # before yarl rewrites the host (IDNA)
        raise InvalidInputError(CONF_HOST, "invalid_host")
    try:
        url = URL(text)
        explicit_port = url.explicit_port
    except ValueError, IndexError:  # yarl raises IndexError on "http://[]@"
        raise InvalidInputError(CONF_HOST, "invalid_host") from None
    path_ok = url.path in ("", "/") or url.path.startswith("/web")
    if (
        url.scheme not in ("http", "https")
        or not url.host
        or url.user is not None
        or url.query_string
        or url.fragment
        or not path_ok
    ):
        raise InvalidInputError(CONF_HOST, "invalid_host")
    return (
        url.host,
        port if explicit_port is None else explicit_port,
        (url.scheme == "https"),
    )


def _split_bracketed(text: str, port: object) -> tuple[str, object]:
    """`[fe80::1]` or `[fe80::1]:32400`: an IPv6 literal written as in a URL."""
    host, _, rest = text[1:].partition("]")
    if not is_ipv6_address(host):  # brackets are for IPv6 only: `[127.0.0.1]` is a typo
        raise InvalidInputError(CONF_HOST, "invalid_host")
    if not rest:
        return host, port
    if not rest.startswith(":"):
        raise InvalidInputError(CONF_HOST, "invalid_host")
    return host, rest[1:]


def _port(value: object) -> int:
    """A port from 1 to 65535, given as a number or as ASCII digits.

    Unicode digits (`²`), huge numbers, NaN and infinity are refused here, before
    `int()` could raise on them.
    """
    if isinstance(value, str):
        if not (value.isascii() and value.isdecimal() and len(value) <= 5):
            raise InvalidInputError(CONF_PORT, "invalid_port")
        value = int(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(CONF_PORT, "invalid_port")
    if not 1 <= value <= _MAX_PORT:
        raise InvalidInputError(CONF_PORT, "invalid_port")
    return value


def address_data(address: Address) -> dict[str, Any]:
    """Entry data for an address from plex.tv; HTTPS is always checked there."""
    return {
        CONF_HOST: address.host,
        CONF_PORT: address.port,
        CONF_SSL: address.ssl,
        CONF_VERIFY_SSL: True,
    }
