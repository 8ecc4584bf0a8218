"""One update's requests, as the lifecycle's `Plan` lists them (no Home Assistant)."""

from __future__ import annotations

from dataclasses import dataclass

from .client import PlexClient
from .errors import PlexWrongServerError
from .lifecycle import Outcome, Plan, TokenReason
from .models import ServerInfo, TransientToken

# A token no server issued: a server that accepts it skips token checks.
UNCHECKED_PROBE = "plex-api-probe-not-a-token"


@dataclass(frozen=True, slots=True)
class Done:
    """What an update found: the server, and a new token if it took one."""

    outcome: Outcome
    server: ServerInfo
    token: TransientToken | None = None  # None: the current one was kept
    reason: TokenReason | None = None  # the new token's
    refused: bool = False  # the server had refused the current token
    checks_skipped: bool | None = None  # the probe's answer, if it asked


async def run_plan(
    client: PlexClient, plan: Plan, machine_identifier: str, current: str | None
) -> Done:
    """Make the plan's requests; `/identity` before every owner-token request.

    Raises the client's typed errors; another server at the address is a
    PlexWrongServerError, whatever it answered.
    """
    if plan.renew is not None or current is None:
        reason = plan.renew or plan.if_refused
        return await _new_token(client, machine_identifier, reason, verified=False)
    if plan.verify:
        await client.verify(machine_identifier)
    server = await client.check_token(current)
    if server is None:
        done = await _new_token(
            client, machine_identifier, plan.if_refused, verified=plan.verify
        )
        return Done(done.outcome, done.server, done.token, done.reason, refused=True)
    if server.machine_identifier != machine_identifier:
        raise PlexWrongServerError(server.machine_identifier)
    skipped = None
    if plan.probe:
        skipped = await client.check_token(UNCHECKED_PROBE) is not None
    return Done(Outcome.KEPT, server, checks_skipped=skipped)


async def _new_token(
    client: PlexClient, machine_identifier: str, reason: TokenReason, *, verified: bool
) -> Done:
    """A new token from that server only (the client proves it and the token)."""
    server, token = await client.verified_transient_token(
        machine_identifier, verified=verified
    )
    return Done(Outcome.RENEWED, server, token, reason)
