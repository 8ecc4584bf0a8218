"""Which of the addresses plex.tv lists for a server to use (no Home Assistant here).

plex.tv may list many addresses, and anyone able to announce one could list
hundreds: they are ranked, capped, and probed a few at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from yarl import URL

from .plextv import PlexConnection, PlexResource

# At most this many addresses are tried, and this many at the same time.
MAX_CANDIDATES: Final = 24
MAX_PROBES_AT_ONCE: Final = 8


@dataclass(frozen=True, slots=True)
class Address:
    """Where to reach a server; HTTPS is always certificate-checked here."""

    host: str
    port: int
    ssl: bool


type Identify = Callable[[Address], Awaitable[str | None]]


def address_candidates(server: PlexResource) -> list[Address]:
    """The server's addresses, best first, at most MAX_CANDIDATES.

    HTTPS with the certificate checked (local, then remote), plain HTTP on the
    LAN last; never the relay (it is for streaming, slow and rate-limited).
    """
    secure_local: list[Address] = []
    secure_remote: list[Address] = []
    plain_local: list[Address] = []
    for connection in server.connections:
        if connection.relay:
            continue
        if connection.protocol == "https":
            secure = _secure(connection)
            (secure_local if connection.local else secure_remote).append(secure)
        if connection.local:
            plain_local.append(Address(connection.address, connection.port, False))
    ranked = dict.fromkeys((*secure_local, *secure_remote, *plain_local))
    return list(ranked)[:MAX_CANDIDATES]


def _secure(connection: PlexConnection) -> Address:
    """The HTTPS address of a connection: the name its certificate is for."""
    uri = URL(connection.uri)  # validated by the plex.tv client
    return Address(str(uri.host), uri.port or connection.port, True)


async def async_best_address(
    candidates: Sequence[Address], machine_identifier: str, identify: Identify
) -> Address | None:
    """The best candidate whose `/identity` names the server, or None.

    Probed MAX_PROBES_AT_ONCE at a time, best first, so unreachable ones cost
    a few timeouts, not one each, and no flood of connections leaves.
    """
    gate = asyncio.Semaphore(MAX_PROBES_AT_ONCE)

    async def probe(address: Address) -> bool:
        async with gate:
            return await identify(address) == machine_identifier

    answers = await asyncio.gather(*(probe(address) for address in candidates))
    return next(
        (address for address, ok in zip(candidates, answers, strict=True) if ok),
        None,
    )
