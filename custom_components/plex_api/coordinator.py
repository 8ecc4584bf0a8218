"""The token lifecycle: the only scheduler of checks, and the socket's owner.

The notification listener (plex/notifications.py) keeps the socket open and
says how each session ended; this module decides what that means for the
token: nothing is handed out until the server is verified again, and a new
token follows when the server was away or refuses the current one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
import logging
from typing import Any, override

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntry
from homeassistant.const import CONF_TOKEN, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ROTATION_HOURS,
    DEFAULT_ROTATION_HOURS,
    DOMAIN,
    FAILED_CHECK_RETRY,
    GONE_OUTAGE,
    LOGGER,
    LONG_OUTAGE,
    MAX_CHECK_AGE,
    MAX_PRECAUTIONARY_TOKENS_PER_HOUR,
    OUTAGE_RETRIES,
    OUTAGE_RETRY,
    PUSH_UPDATE_INTERVAL,
    RESTART_WAIT,
    SLOW_OUTAGE_RETRY,
    UNCHECKED_PROBE,
    UPDATE_INTERVAL,
)
from .plex import (
    ANSWERED,
    ListenerState,
    NotificationListener,
    PlexAuthenticationError,
    PlexClient,
    PlexConnectionError,
    PlexError,
    PlexStatusError,
    PlexTimeoutError,
    PlexWrongServerError,
    ServerInfo,
    SessionEnd,
    TransientToken,
)
from .repairs import async_checks_skipped, async_right_server, async_wrong_server
from .texts import error_key

type PlexApiConfigEntry = ConfigEntry[PlexApiCoordinator]


class TokenReason(StrEnum):
    """Why the current token was taken (the token event's type)."""

    SETUP = "setup"  # the entry was set up (or reloaded)
    RESTART = "restart"  # the server restarted: every earlier token is dead
    REFUSED = "refused"  # the server stopped accepting the token
    ROTATION = "rotation"  # the rotation age was reached; earlier tokens still work
    FORCED = "forced"  # force_new, or a caller needed a longer-lived token
    ADDRESS = "address"  # a new address or owner token (reconfigure, reauth)


# After these, earlier tokens no longer work.
EARLIER_TOKENS_DEAD = frozenset({TokenReason.RESTART, TokenReason.REFUSED})


@dataclass(frozen=True, slots=True)
class PlexApiData:
    """What the coordinator knows: the server, its token, when that was checked."""

    server: ServerInfo
    token: TransientToken
    checked_at: datetime
    reason: TokenReason = TokenReason.SETUP


@dataclass(slots=True)
class _Outage:
    """A run of failed updates: logged once when it starts, once when it ends."""

    since: datetime
    away: bool  # unreachable (a restart?) rather than answering wrongly
    attempts: int = 0
    warned: bool = False


class PlexApiCoordinator(DataUpdateCoordinator[PlexApiData]):
    """Keeps one working transient token per Plex server.

    Every update goes through the coordinator's own refresh, which runs one at a
    time: the timer's, the socket's, and the action's, which shares one refresh
    task between its callers (a caller that gives up does not cancel it;
    unloading does).

    Trust boundary: no token goes to the address unless `/identity` named the
    entry's server since the last moment the address could have changed hands
    (the socket was lost, a request failed, a new address); an open socket,
    opened right after such a proof, keeps proving it.
    """

    config_entry: PlexApiConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: PlexApiConfigEntry,
        client: PlexClient,
        *,
        first_reason: TokenReason = TokenReason.SETUP,
    ) -> None:
        """Poll at a fixed, modest interval until the socket is up."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=UPDATE_INTERVAL,
            always_update=False,
        )
        self.client = client
        self._first_reason = first_reason
        self.listener = NotificationListener(
            client.notifications, self, self._spawn_session
        )
        # A token that must not be handed out again (force_new asked for another).
        self._retired: TransientToken | None = None
        self._precautions: list[datetime] = []
        self._refresh_task: asyncio.Task[None] | None = None
        # The socket is open and the server was proven since: no /identity needed.
        self._proven = False
        self._losses = 0  # sockets ended so far
        self._unverified = False  # a socket ended: verify before handing out
        self._restart_likely = False  # take a new token at the next contact
        self._settled = asyncio.Event()  # what the action waits for after a loss
        self._socket_refused: str | None = None  # a token `/` took, the socket not
        self._push_off = False  # polling for a while: no socket here
        self._push_off_before = False
        self._probe_due = False  # ask whether the server checks tokens at all
        self._outage: _Outage | None = None

    def __repr__(self) -> str:
        """Name the entry only; the data holds a token."""
        return f"PlexApiCoordinator(entry_id={self.config_entry.entry_id!r})"

    @property
    def rotation_age(self) -> timedelta:
        """Age at which a token is replaced, so a handed-out one has time left."""
        hours = self.config_entry.options.get(
            CONF_ROTATION_HOURS, DEFAULT_ROTATION_HOURS
        )
        return timedelta(hours=hours)

    @property
    def machine_identifier(self) -> str:
        """The entry's server: the only one that may get a token of ours."""
        return str(self.config_entry.unique_id)

    @property
    def live(self) -> bool:
        """Whether the notification socket is up (restarts noticed in seconds)."""
        return self.listener.state is ListenerState.CONNECTED

    @callback
    def async_start(self) -> None:
        """Open the socket; unloading (or Home Assistant stopping) closes it."""
        self.config_entry.async_on_unload(self.listener.stop)
        self.config_entry.async_on_unload(
            self.hass.bus.async_listen_once(
                EVENT_HOMEASSISTANT_STOP, lambda _event: self.listener.stop()
            )
        )
        self.listener.start()

    def _spawn_session(self, session: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A socket session runs in a task of the entry's: unloading cancels it."""
        return self.config_entry.async_create_background_task(
            self.hass, session, f"{DOMAIN} notifications"
        )

    async def async_get_token(
        self, *, force_new: bool = False, min_valid_for: timedelta | None = None
    ) -> PlexApiData:
        """Return a token that works now, for the action.

        A token last checked over a minute ago is checked first; one due for
        rotation, retired by `force_new`, expiring within `min_valid_for`, or
        in doubt after the socket ended is replaced or verified. While the
        socket says the server went away, the call waits for it (shared by
        every caller) for a while. Raises a translated HomeAssistantError when
        no working token can be had.
        """
        if force_new:
            self._retired = self.data.token
        deadline = asyncio.get_running_loop().time() + RESTART_WAIT
        while (data := self._usable()) is None or not _lasts(data, min_valid_for):
            if data is not None:
                self._retired = data.token  # too short-lived for this caller
            elif self._unverified:
                await self._async_wait_for_server(deadline)
                continue
            await self._async_shared_refresh()
        return data

    def socket_ready(self) -> bool:
        """Whether the server is verified and the token checked since a loss."""
        return self.last_update_success and not self._unverified

    async def socket_token(self) -> str:
        """The token for the next socket: `/identity` right before the upgrade.

        The entry's own token if the socket refused a transient one that `/`
        accepts (its server was proven just now).
        """
        await self.client.verify(self.machine_identifier)
        token = self.data.token.token
        if token == self._socket_refused:
            return str(self.config_entry.data[CONF_TOKEN])
        return token

    @callback
    def socket_opened(self) -> None:
        """The socket is up (a server answers on it): checks become rare."""
        self._proven = True
        # From the next check on; the one already due (at most 5 minutes away,
        # or a failed check's quick retry) stays as it is.
        self.update_interval = PUSH_UPDATE_INTERVAL
        async_checks_skipped(self.hass, self.config_entry, skipped=False)
        self._probe_due = False
        if self._push_off:
            LOGGER.info("%s: live updates are back", self.name)
        self._push_off = False
        self.async_update_listeners()

    @callback
    def socket_closed(self, end: SessionEnd, *, polling: bool) -> None:
        """A session ended: hand nothing out until the server is verified."""
        LOGGER.debug("%s: notification socket ended: %s", self.name, end.value)
        self._proven = False
        self.update_interval = UPDATE_INTERVAL
        if polling:
            self._polling(end)
        if end in ANSWERED:  # the server answered over HTTP: no doubt
            if self._probe_due:  # but the check that probes, at once
                self._refresh_soon("probe")
            self.async_update_listeners()
            return
        self._losses += 1
        self._unverified = True
        self._settled.clear()
        if end is SessionEnd.CLOSED:  # a close frame: the server is going away
            self._restart_likely = True
        if (
            end is SessionEnd.TOKEN_REFUSED
            and self.data.token.token != self.config_entry.data[CONF_TOKEN]
        ):
            self._socket_refused = self.data.token.token
        self._refresh_soon("verify")
        self.async_update_listeners()

    def _refresh_soon(self, why: str) -> None:
        """Run the coordinator's refresh now, in a task of the entry's."""
        self.config_entry.async_create_background_task(
            self.hass, self.async_refresh(), f"{DOMAIN} {why}"
        )

    def _polling(self, end: SessionEnd) -> None:
        """No push for a while: say so once; the next check also probes."""
        if self._push_off:
            return
        self._push_off = True
        # A warning the first time only: a proxy that lets an upgrade through
        # now and then would otherwise repeat it all day.
        LOGGER.log(
            logging.INFO if self._push_off_before else logging.WARNING,
            "%s: no notification socket (%s); checking the token every 5 "
            "minutes, and trying the socket again now and then",
            self.name,
            end.value,
        )
        self._push_off_before = True
        self._probe_due = True

    @override
    async def _async_update_data(self) -> PlexApiData:
        """Check the token; replace it when dead, due or retired."""
        losses = self._losses
        try:
            data = await self._async_check_or_replace()
        except PlexAuthenticationError as err:
            self._settled.set()
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="auth_failed"
            ) from err
        except PlexError as err:
            raise self._failed(err, losses) from err
        self._succeeded(data, losses)
        return data

    async def _async_check_or_replace(self) -> PlexApiData:
        """Whatever the current token needs, in as few requests as possible.

        The owner token always goes out right after `/identity`; a check with
        the socket up needs no proof (the socket's connection is one).
        """
        proven = self._proven and self.live
        current: PlexApiData | None = self.data  # None before the first token
        if current is None:
            return await self._async_new_token(self._first_reason)
        # A restart explains a new token best, whatever else made it due.
        restart = TokenReason.RESTART if self._restart_likely else None
        if current.token is self._retired:
            return await self._async_new_token(restart or TokenReason.FORCED)
        if self._due(current.token):
            return await self._async_new_token(restart or TokenReason.ROTATION)
        if not proven:
            await self.client.verify(self.machine_identifier)
        if self._restart_likely and self._may_take_precaution():
            LOGGER.debug("%s may have restarted: a new token", self.name)
            return await self._async_new_token(TokenReason.RESTART, verified=True)
        server = await self.client.check_token(current.token.token)
        if server is None:
            LOGGER.info(
                "%s no longer accepts the transient token (restarted?); "
                "getting a new one",
                self.name,
            )
            return await self._async_new_token(
                restart or TokenReason.REFUSED, verified=not proven
            )
        _expect_server(server.machine_identifier, self.machine_identifier)
        self._async_update_device(server)
        if self._probe_due:
            await self._async_probe_checks()
        return PlexApiData(server, current.token, dt_util.utcnow(), current.reason)

    async def _async_probe_checks(self) -> None:
        """Without the socket, a server that skips token checks hides restarts.

        One more request, with a made-up token, tells (the server was proven
        in this same update), and a repair issue says so.
        """
        accepted = await self.client.check_token(UNCHECKED_PROBE)
        self._probe_due = False
        async_checks_skipped(self.hass, self.config_entry, skipped=accepted is not None)

    async def _async_new_token(
        self, reason: TokenReason, *, verified: bool = False
    ) -> PlexApiData:
        """A new token from the entry's server: `/identity` first, unless just asked."""
        server, token = await self.client.verified_transient_token(
            self.machine_identifier, verified=verified
        )
        self._retired = None
        self._async_update_device(server)
        LOGGER.debug("%s issued a new transient token (%s)", self.name, reason)
        return PlexApiData(server, token, dt_util.utcnow(), reason)

    def _succeeded(self, data: PlexApiData, losses: int) -> None:
        """The server is verified and the token works: say so, if it was away."""
        self._restart_likely = False
        self._proven = self.live  # the open socket goes on proving the host
        async_right_server(self.hass, self.config_entry)
        if self._outage is not None:
            self._outage = None
            new = self.data is None or data.token != self.data.token
            LOGGER.info(
                "%s is back%s", self.name, " with a new transient token" if new else ""
            )
            # Said just now: not again as the coordinator's "recovered" line.
            self.last_update_success = True
        if losses == self._losses:  # no socket ended while this ran
            self._unverified = False
            self._settled.set()
            self.listener.owner_ready()

    def _failed(self, err: PlexError, losses: int) -> UpdateFailed:
        """Note a failed update; the error it raises, retried soon if away."""
        self._proven = False  # a request failed: prove the host before the next
        away = _is_away(err)
        if away and not self.live:
            self._restart_likely = True  # away meanwhile: tokens may be gone
        url = str(self.client.base_url.origin())
        if isinstance(err, PlexWrongServerError):
            async_wrong_server(self.hass, self.config_entry, url)
        outage = self._log_failure(err, away)
        if losses == self._losses and not (away and self._unverified):
            self._settled.set()  # waiting longer would not help the action
        # Logged here (INFO for an outage), never as the coordinator's ERROR:
        # a Plex restart or update is no error.
        self.last_update_success = False
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=error_key(err),
            translation_placeholders={"url": url},
            retry_after=self._next_retry(outage),
        )

    def _log_failure(self, err: PlexError, away: bool) -> _Outage:
        """One line when an outage starts, a warning if it lasts; the outage."""
        now = dt_util.utcnow()
        outage = self._outage
        if outage is None:
            outage = self._outage = _Outage(since=now, away=away)
            # A restart or a Plex update is no error: INFO. An odd answer is
            # worth a warning.
            LOGGER.log(
                logging.INFO if away else logging.WARNING,
                "Lost %s (%s); no token is handed out until it answers again",
                self.name,
                err,
            )
        outage.attempts += 1
        if not outage.warned and now - outage.since > LONG_OUTAGE:
            outage.warned = True
            LOGGER.warning("%s has been away for more than 5 minutes", self.name)
        return outage

    def _next_retry(self, outage: _Outage) -> float | None:
        """When to check again: soon while away or with the socket up."""
        if self.live:
            return FAILED_CHECK_RETRY  # the server runs: a passing failure
        away_for = dt_util.utcnow() - outage.since
        if not outage.away or away_for >= GONE_OUTAGE:
            return None  # the normal interval: not a restart, or switched off
        if away_for >= LONG_OUTAGE:
            return SLOW_OUTAGE_RETRY
        if outage.attempts <= len(OUTAGE_RETRIES):
            return OUTAGE_RETRIES[outage.attempts - 1]
        return OUTAGE_RETRY

    def _may_take_precaution(self) -> bool:
        """Whether a precautionary new token fits the hourly cap; counts it."""
        now = dt_util.utcnow()
        self._precautions = [
            at for at in self._precautions if now - at < timedelta(hours=1)
        ]
        if len(self._precautions) >= MAX_PRECAUTIONARY_TOKENS_PER_HOUR:
            return False
        self._precautions.append(now)
        return True

    def _usable(self) -> PlexApiData | None:
        """The current data if it may be handed out as it is, else None."""
        data = self.data
        if (
            not self.last_update_success
            or self._unverified
            or data.token is self._retired
            or self._due(data.token)
            or dt_util.utcnow() - data.checked_at > MAX_CHECK_AGE
        ):
            return None
        return data

    def _due(self, token: TransientToken) -> bool:
        """Whether the token has reached the rotation age."""
        return dt_util.utcnow() - token.issued_at >= self.rotation_age

    async def _async_wait_for_server(self, deadline: float) -> None:
        """The socket ended: wait (shared) until the server is verified again."""
        try:
            async with asyncio.timeout_at(deadline):
                await self._settled.wait()
        except TimeoutError:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="restarting"
            ) from None
        if not self.last_update_success:
            raise self._action_error()

    async def _async_shared_refresh(self) -> None:
        """Run (or join) the action's refresh, in a task of the entry's own.

        Callers wait on it shielded: one that gives up does not cancel the
        request the others wait for, while unloading the entry cancels it.
        """
        if any(self.config_entry.async_get_active_flows(self.hass, {SOURCE_REAUTH})):
            # Plex refused the owner token; asking again would only resend it.
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="auth_failed"
            )
        task = self._refresh_task
        if task is None or task.done():
            task = self._refresh_task = self.config_entry.async_create_background_task(
                self.hass, self.async_refresh(), f"{DOMAIN} refresh"
            )
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                raise HomeAssistantError(
                    translation_domain=DOMAIN, translation_key="reloading"
                ) from None
            raise
        if not self.last_update_success:
            raise self._action_error()

    def _action_error(self) -> HomeAssistantError:
        """The last failure, translated for the action."""
        err = self.last_exception
        error = HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=getattr(err, "translation_key", None) or "unknown",
            translation_placeholders=getattr(err, "translation_placeholders", None),
        )
        error.__cause__ = err
        return error

    def _async_update_device(self, server: ServerInfo) -> None:
        """Keep the device's name and version in step with the server (Plex update)."""
        if self.data is not None and server == self.data.server:
            return
        dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.config_entry.entry_id,
            identifiers={(DOMAIN, self.machine_identifier)},
            name=server.friendly_name,
            sw_version=server.version,
        )


def _lasts(data: PlexApiData, min_valid_for: timedelta | None) -> bool:
    """Whether the token is valid for at least `min_valid_for` from now."""
    if min_valid_for is None:
        return True
    return data.token.expires_at - dt_util.utcnow() >= min_valid_for


def _is_away(err: PlexError) -> bool:
    """Unreachable, silent or a gateway error: the server may be restarting."""
    if isinstance(err, PlexStatusError):
        return err.status >= 500
    return isinstance(err, PlexConnectionError | PlexTimeoutError)


def _expect_server(found: str, machine_identifier: str) -> None:
    """Refuse an answer from another server than the entry's."""
    if found != machine_identifier:
        raise PlexWrongServerError(found)
