r"""The transient token's lifecycle as a state machine without I/O.

Two tables, one per concern; time is an input (`now`): nothing here waits,
sends or reads a clock. `Lifecycle` applies the tables, keeps the data the
states need (counters, times) and queues `outputs` that its owner carries
out: an update run by the `Plan` it gives, a socket session, log lines,
repairs. The action asks `serve` what to do.

PHASE: may a token be handed out, and what must the next update do?

  input \ phase  STARTING VERIFIED DOUBT    AWAY     WRONG    FAILING  REAUTH
  socket ended   .        DOUBT    .        .        .        .        .
  kept/renewed   VERIFIED VERIFIED VERIFIED VERIFIED VERIFIED VERIFIED .
  away           .        AWAY     AWAY     AWAY     AWAY     AWAY     .
  wrong server   WRONG    WRONG    WRONG    WRONG    .        WRONG    .
  bad answer     FAILING  FAILING  FAILING  FAILING  FAILING  .        .
  owner refused  REAUTH   REAUTH   REAUTH   REAUTH   REAUTH   REAUTH   .
  stop           STOPPED everywhere; STOPPED ignores every input ("." stays)

  "socket ended": a socket that was up ended, or one ended before anything
  came over it without an HTTP answer (cut, closed, dropped or hung, token
  refused, server not reached). The rest are how an update ended: "kept"
  (server proven, token accepted), "renewed" (a new token), "away" (no
  connection, a timeout, a 5xx), "wrong server" (`/identity` named another),
  "bad answer" (not Plex), "owner refused" (reauthentication).
  What an update asks (`plan`): STARTING a first token; DOUBT `/identity`,
  then a check (refused: a new token, reason restart), at once, or 2 s after
  a close frame (the server said it is going away: let it go first); AWAY
  `/identity`, then a new token (restart; at most 6 such an hour, a check
  beyond); VERIFIED a check, `/identity` first unless the socket is up, or a
  new token when the current one is due, retired or too short-lived.

LINK: the notification socket, and when it is tried again.

  input \ link    IDLE       WAITING    CONNECTING OPEN     UP       ENDED
  VERIFIED       WAITING(0) .          .          .        .        classify
  due (timer)    .          CONNECTING .          .        .        .
  opened (101)   .          .          OPEN       .        .        .
  alive          .          .          .          UP       .        .
  ended          .          .          ENDED      ENDED    ENDED    .
  answered       .          .          classify   .        .        .
  away           .          .          .          .        .        restart
  not VERIFIED   .          IDLE at the timer     .        .        IDLE
  (OFF is WAITING with a long timer: push off, the 5-minute checks meanwhile)

  classify: how the session ended, read once an update says what the server
  did meanwhile, decides the timer (WAITING(s), s the seconds):
  - restart: the server went away after the socket ended (or refused the
    token): no backoff at all; the socket opens as soon as a token is
    verified, however many restarts came before;
  - blip: a socket that was up dropped while the server kept answering: no
    token, no event; 0.5, 1, 2, 5, 15, 30, 60, 120 s, then every 5 minutes
    (at most 60 upgrades an hour); after 2 minutes up it starts over;
  - proxy kind: never up (an HTTP answer instead of an upgrade, cut or closed
    before anything came, dropped, hung): 0.5, 1, 2, 5 s; the 5th in a row
    (a 3xx / 4xx at once) means OFF, tried again after 15, 30, then every 60
    minutes, never given up. A session that comes up ends it.

THE ACTION (`serve`): VERIFIED hands the token out if the server confirmed it
within a minute with the socket up, within 10 seconds without; otherwise one
shared update first. DOUBT waits (shared) for the phase to settle; AWAY asks
once more, then waits if a socket ended before (a restart), else fails; it
fails once the server has been away for 5 minutes. WRONG and FAILING
fail after one update; REAUTH and STOPPED fail at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from .errors import (
    PlexConnectionError,
    PlexError,
    PlexStatusError,
    PlexTimeoutError,
    PlexWrongServerError,
)
from .notifications import SessionEnd


class Phase(StrEnum):
    """Whether a token may be handed out, and what the next update does."""

    STARTING = "starting"  # no token yet: the entry is being set up
    VERIFIED = "verified"  # the server proven, the token accepted
    DOUBT = "doubt"  # the socket ended: nothing handed out until verified
    AWAY = "away"  # the server did not answer: restarting, most likely
    WRONG_SERVER = "wrong_server"  # another server answers at the address
    FAILING = "failing"  # something answers, but not as Plex does
    REAUTH = "reauth"  # the server refused the owner token
    STOPPED = "stopped"  # unloaded: every wait ends


class Link(StrEnum):
    """Where the notification socket stands."""

    IDLE = "idle"  # waits for the phase to be VERIFIED
    WAITING = "waiting"  # a timer runs until the next try
    OFF = "off"  # no push here for now: a long timer, polling meanwhile
    CONNECTING = "connecting"  # `/identity` and the upgrade in flight
    OPEN = "open"  # upgraded; nothing came over it yet
    UP = "up"  # a message or a pong came: a server answers on it
    ENDED = "ended"  # ended; what that means waits for an update


class Outcome(StrEnum):
    """How an update ended: the phase table's inputs besides the socket's."""

    KEPT = "kept"
    RENEWED = "renewed"
    AWAY = "away"
    WRONG_SERVER = "wrong server"
    BAD_ANSWER = "bad answer"
    OWNER_REFUSED = "owner refused"


class TokenReason(StrEnum):
    """Why the current token was taken (the token event's type)."""

    SETUP = "setup"  # the entry was set up (or reloaded)
    RESTART = "restart"  # the server restarted: every earlier token is dead
    REFUSED = "refused"  # the server stopped accepting the token
    ROTATION = "rotation"  # the rotation age was reached; earlier tokens still work
    FORCED = "forced"  # force_new, or a caller needed a longer-lived token
    ADDRESS = "address"  # a new address or owner token (reconfigure, reauth)


class Serve(StrEnum):
    """What the action does next."""

    HAND_OUT = "hand out"
    UPDATE = "update"  # one shared update, then ask again
    WAIT = "wait"  # until the phase settles (shared), then ask again
    FAIL = "fail"  # with `Lifecycle.error`


class Ending(StrEnum):
    """How a session's end is read (the link's classify)."""

    RESTART = "restart"
    BLIP = "blip"
    PROXY = "proxy"


EARLIER_TOKENS_DEAD: Final = frozenset({TokenReason.RESTART, TokenReason.REFUSED})
SOCKET_ENDED: Final = "socket ended"
STOP: Final = "stop"
type PhaseInput = Outcome | str


def _to(target: Phase, *stay: Phase) -> Callable[[Phase], Phase]:
    """A row of the phase table: every phase goes to `target`, but these stay."""
    stays = frozenset({Phase.STOPPED, *stay})
    return lambda phase: phase if phase in stays else target


# The phase table, as drawn above: input -> (phase before -> phase after).
PHASES: Final[dict[PhaseInput, Callable[[Phase], Phase]]] = {
    SOCKET_ENDED: lambda p: Phase.DOUBT if p is Phase.VERIFIED else p,
    Outcome.KEPT: _to(Phase.VERIFIED, Phase.REAUTH),
    Outcome.RENEWED: _to(Phase.VERIFIED, Phase.REAUTH),
    Outcome.AWAY: _to(Phase.AWAY, Phase.STARTING, Phase.REAUTH),
    Outcome.WRONG_SERVER: _to(Phase.WRONG_SERVER, Phase.REAUTH),
    Outcome.BAD_ANSWER: _to(Phase.FAILING, Phase.REAUTH),
    Outcome.OWNER_REFUSED: _to(Phase.REAUTH),
    STOP: lambda p: Phase.STOPPED,
}
_SETTLING: Final = frozenset({Phase.DOUBT, Phase.AWAY})
# Upgrades the server answered over HTTP: nothing says that it went away.
_ANSWERED: Final = frozenset({SessionEnd.UPGRADE_REFUSED, SessionEnd.PROXY})
_FIXED_ERRORS: Final = {Phase.REAUTH: "auth_failed", Phase.STOPPED: "reloading"}

# The action: the server's word is at most this old, with and without socket.
MAX_CHECK_AGE_LIVE: Final = timedelta(seconds=60)
MAX_CHECK_AGE_POLLING: Final = timedelta(seconds=10)
# Checks: rare with the socket up (a safety net), every 5 minutes without.
CHECK_INTERVAL_LIVE: Final = timedelta(minutes=60)
CHECK_INTERVAL: Final = timedelta(minutes=5)
# The server away: asked again after these, then every 5 s for its first
# minute away (a restart is noticed within 5 s of its end), every 15 s until
# 5 minutes, every 30 s until 30 minutes (switched off rather than
# restarting), then every 5 minutes: about 30 requests in 5 minutes.
AWAY_RETRIES: Final = (0.5, 1.0, 2.0, 3.0)
AWAY_STEPS: Final = (
    (timedelta(minutes=1), 5.0),
    (timedelta(minutes=5), 15.0),
    (timedelta(minutes=30), 30.0),
)
LONG_AWAY: Final = timedelta(minutes=5)
MAX_PRECAUTIONS_PER_HOUR: Final = 6
# The socket (see LINK above).
QUICK_DELAYS: Final = (0.5, 1.0, 2.0, 5.0)
BLIP_DELAYS: Final = (0.5, 1.0, 2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0)
STABLE_SESSION: Final = timedelta(minutes=2)
# After a close frame (1001, going away), the server is asked again after this
# long. No public source says how long a PMS takes from closing its sockets to
# closing its port (the emulator: 0.25 s); a server still answering then, and
# accepting the token, was not restarting (a proxy's or CDN's 1001: a blip).
GOING_AWAY_GRACE: Final = 2.0
FAILURES_BEFORE_OFF: Final = 5
OFF_RETRIES: Final = (900.0, 1800.0, 3600.0)


@dataclass(frozen=True, slots=True)
class Plan:
    """The requests of one update, in order; the owner makes them.

    `verify`: `/identity` first. `renew`: a new token for that reason, else a
    check of the current one and, if it is refused, a new token for
    `if_refused`. `probe`: then ask whether the server skips token checks.
    """

    verify: bool
    renew: TokenReason | None
    if_refused: TokenReason
    probe: bool
    epoch: int = 0  # sockets ended before it: a later end makes it prove nothing
    precaution: bool = False  # `renew` only because the server was away


@dataclass(frozen=True, slots=True)
class Log:
    """A line for the log."""

    level: str  # "info" or "warning"
    text: str  # "{name}" stands for the server's name


@dataclass(frozen=True, slots=True)
class Repair:
    """Raise (`on`) or clear a repair issue."""

    issue: str  # "wrong_server" or "checks_skipped"
    on: bool


@dataclass(frozen=True, slots=True)
class Connect:
    """Open a socket session after `delay` seconds (0: now)."""

    delay: float


@dataclass(frozen=True, slots=True)
class Update:
    """Run an update after `delay` seconds (the socket ended: verify the server)."""

    delay: float = 0.0


type Output = Log | Repair | Connect | Update


@dataclass(slots=True)
class _Ended:
    """The last session's end, until an update says what it meant."""

    end: SessionEnd
    was_up: bool
    lasted: timedelta


@dataclass(slots=True)
class Lifecycle:
    """One server's token lifecycle: the two tables and the data they need."""

    first_reason: TokenReason = TokenReason.SETUP
    phase: Phase = Phase.STARTING
    link: Link = Link.IDLE
    outputs: list[Output] = field(default_factory=list)
    error: str = "unknown"  # the translation key the action fails with
    checked_at: datetime | None = None  # when the server last confirmed the token
    issued_at: datetime | None = None  # the current token's
    retired: str | None = None  # a token that is not to be handed out again
    away_since: datetime | None = None
    away_tries: int = 0
    restarting: bool = False  # away since a socket ended: the action waits
    away_warned: bool = False  # away for 5 minutes: said once
    precautions: list[datetime] = field(default_factory=list)
    probe_due: bool = False  # the next check asks whether checks are skipped
    ended_session: _Ended | None = None
    up_since: datetime | None = None
    blips: int = 0
    proxy_failures: int = 0
    off_tries: int = 0
    was_off: bool = False  # push was off before: later times are said at INFO
    socket_refused: str | None = None  # a transient token the socket refused
    losses: int = 0  # sockets that ended without an HTTP answer, so far

    # -- the phase ---------------------------------------------------------

    def plan(self, now: datetime, rotation_age: timedelta) -> Plan:
        """What the next update asks the server (see PHASE above)."""
        p = self._plan(now, rotation_age)
        precaution = p.renew is TokenReason.RESTART and self.phase is Phase.AWAY
        return Plan(p.verify, p.renew, p.if_refused, p.probe, self.losses, precaution)

    def _plan(self, now: datetime, rotation_age: timedelta) -> Plan:
        """The requests, before the epoch is stamped on them."""
        if self.phase is Phase.STARTING:
            return Plan(True, self.first_reason, self.first_reason, False)
        live = self.link is Link.UP
        away = self.phase is Phase.AWAY and not live
        if self.phase is Phase.DOUBT:
            # Check first: a refused token means a restart, whatever else is due.
            return Plan(True, None, TokenReason.RESTART, self.probe_due)
        if_refused = TokenReason.RESTART if away else TokenReason.REFUSED
        renew = TokenReason.RESTART if away else None
        if self.retired is not None:
            return Plan(True, renew or TokenReason.FORCED, if_refused, False)
        if self._due(now, rotation_age):
            return Plan(True, renew or TokenReason.ROTATION, if_refused, False)
        if away and self._precaution_fits(now):
            return Plan(True, TokenReason.RESTART, if_refused, False)
        verify = not live or self.phase is not Phase.VERIFIED
        return Plan(verify, None, if_refused, self.probe_due)

    def updated(
        self,
        outcome: Outcome,
        now: datetime,
        *,
        epoch: int,
        precaution: bool = False,
        error: str = "",
    ) -> None:
        """An update ended so: the phase table, then the link's classify.

        A success planned before the last socket ended proves nothing after
        it: still in doubt, another update.
        """
        before = self.phase
        if before is Phase.STOPPED:
            return
        if outcome in (Outcome.KEPT, Outcome.RENEWED) and epoch != self.losses:
            self.outputs.append(Update())
            return
        self.phase = PHASES[outcome](before)
        if precaution and outcome is Outcome.RENEWED:
            self.precautions.append(now)  # counted once it is taken
        if self.phase is Phase.VERIFIED:
            self._verified(before, outcome, now)
            return
        self.error = error or "unknown"
        if outcome is Outcome.WRONG_SERVER:
            self.outputs.append(Repair("wrong_server", on=True))
        if outcome is Outcome.AWAY and before is not Phase.STARTING:
            self._away(now)
            return
        if self.link is Link.ENDED:
            self.ended_session = None
            self.link = Link.IDLE

    def _verified(self, before: Phase, outcome: Outcome, now: datetime) -> None:
        """Proven and accepted: hand out again; read the socket's end."""
        self.checked_at = now
        if before in (Phase.STARTING, Phase.WRONG_SERVER):
            self.outputs.append(Repair("wrong_server", on=False))
        if before is Phase.AWAY:
            new = " with a new transient token" if outcome is Outcome.RENEWED else ""
            self.outputs.append(Log("info", f"{{name}} is back{new}"))
        self.away_since, self.away_tries = None, 0
        self.restarting = self.away_warned = False
        if self.link is Link.IDLE:
            self._connect(0.0)
        elif self.link is Link.ENDED:
            ended = self.ended_session
            # A token refused after the socket ended: the server restarted.
            restarted = outcome is Outcome.RENEWED and before is Phase.DOUBT
            self._classify(Ending.RESTART if restarted else _reading(ended))

    def _away(self, now: datetime) -> None:
        """The server did not answer; a socket that ended meanwhile: a restart."""
        self.away_tries += 1
        if self.away_since is None:
            self.away_since = now
            self.outputs.append(
                Log("info", "Lost {name}; no token is handed out until it answers")
            )
        elif self.long_away(now) and not self.away_warned:
            self.away_warned = True
            self.outputs.append(
                Log("warning", "{name} has been away for more than 5 minutes")
            )
        if self.link is Link.ENDED:  # the socket ended, then the server went
            self.restarting = True
            self._classify(Ending.RESTART)

    def token_taken(self, issued_at: datetime) -> None:
        """A new token is the current one (its text stays with the owner)."""
        self.issued_at = issued_at
        self.retired = None

    def probed(self, *, skipped: bool) -> None:
        """The check with a made-up token said whether checks are skipped."""
        self.probe_due = False
        self.outputs.append(Repair("checks_skipped", on=skipped))

    def retire(self, token: str) -> None:
        """`force_new` or `min_valid_for`: the token is not handed out again."""
        self.retired = token

    def stop(self) -> None:
        """Unloaded: every wait ends, nothing more is tried."""
        self.phase = PHASES[STOP](self.phase)
        self.error = _FIXED_ERRORS[Phase.STOPPED]

    def next_check(self, now: datetime) -> timedelta:
        """When the next update is due."""
        if self.phase is Phase.AWAY and self.away_since is not None:
            if self.away_tries <= len(AWAY_RETRIES):
                return timedelta(seconds=AWAY_RETRIES[self.away_tries - 1])
            away_for = now - self.away_since
            for until, every in AWAY_STEPS:
                if away_for < until:
                    return timedelta(seconds=every)
        if self.phase is Phase.VERIFIED and self.link is Link.UP:
            return CHECK_INTERVAL_LIVE
        return CHECK_INTERVAL

    def long_away(self, now: datetime) -> bool:
        """Away for 5 minutes: an outage (a warning; the action fails)."""
        return self.away_since is not None and now - self.away_since >= LONG_AWAY

    def _due(self, now: datetime, rotation_age: timedelta) -> bool:
        """Whether the token reached the rotation age."""
        return self.issued_at is not None and now - self.issued_at >= rotation_age

    def _precaution_fits(self, now: datetime) -> bool:
        """Whether a precautionary new token fits the hourly cap.

        Only tokens taken count: retries while the server is away do not.
        """
        hour_ago = now - timedelta(hours=1)
        self.precautions = [at for at in self.precautions if at > hour_ago]
        return len(self.precautions) < MAX_PRECAUTIONS_PER_HOUR

    # -- the action --------------------------------------------------------

    def serve(
        self, now: datetime, rotation_age: timedelta, token: str, *, updated: bool
    ) -> Serve:
        """What the action does next (see THE ACTION above)."""
        if self.phase in _SETTLING:
            return self._serve_settling(now, updated=updated)
        if self.phase is not Phase.VERIFIED:
            self.error = _FIXED_ERRORS.get(self.phase, self.error)
            if updated or self.phase in _FIXED_ERRORS:
                return Serve.FAIL
            return Serve.UPDATE
        fresh = MAX_CHECK_AGE_LIVE if self.link is Link.UP else MAX_CHECK_AGE_POLLING
        if (
            self.retired == token
            or self._due(now, rotation_age)
            or self.checked_at is None
            or now - self.checked_at > fresh
        ):
            return Serve.UPDATE
        return Serve.HAND_OUT

    def _serve_settling(self, now: datetime, *, updated: bool) -> Serve:
        """In doubt or away: wait for the update in flight, or ask now."""
        if self.long_away(now):
            return Serve.FAIL
        if self.phase is Phase.DOUBT or (self.restarting and updated):
            return Serve.WAIT
        # Away without a sign of a restart: ask once more, then say so.
        return Serve.FAIL if updated else Serve.UPDATE

    # -- the link ----------------------------------------------------------

    def socket_due(self) -> bool:
        """The link's timer fired: whether to open a session now."""
        if self.link not in (Link.WAITING, Link.OFF):
            return False
        if self.phase is not Phase.VERIFIED:
            self.link = Link.IDLE
            return False
        self.link = Link.CONNECTING
        return True

    def socket_token_is_owner(self, token: str) -> bool:
        """Whether the socket needs the owner token: it refused this transient one."""
        return self.socket_refused == token

    def opened(self) -> None:
        """The upgrade succeeded (a 101): not yet proof that a server is there."""
        if self.link is Link.CONNECTING:
            self.link = Link.OPEN

    def alive(self, now: datetime) -> None:
        """A message or a pong came: a server answers, no proxy blocks it."""
        if self.link is not Link.OPEN:
            return
        self.link = Link.UP
        self.up_since = now
        self.proxy_failures = self.off_tries = 0
        if self.was_off:
            self.outputs.append(Log("info", "{name}: live updates are back"))
        self.probe_due = False
        self.outputs.append(Repair("checks_skipped", on=False))

    def ended(self, end: SessionEnd, now: datetime, token: str) -> None:
        """A session (opened with `token`) ended."""
        if self.link not in (Link.CONNECTING, Link.OPEN, Link.UP):
            return
        was_up = self.link is Link.UP
        lasted = now - self.up_since if self.up_since is not None else timedelta()
        self.up_since = None
        if end is SessionEnd.TOKEN_REFUSED:
            self.socket_refused = token
        self.ended_session = _Ended(end, was_up, lasted)
        if not was_up and end in _ANSWERED:  # the server answered over HTTP
            self._classify(Ending.PROXY)
            return
        self.link = Link.ENDED
        self.losses += 1
        self.phase = PHASES[SOCKET_ENDED](self.phase)
        if self.phase is Phase.DOUBT:
            # A close frame: the server says it is going away. Ask once it
            # had the time to, not while it may still mint a dying token.
            grace = GOING_AWAY_GRACE if end is SessionEnd.CLOSED else 0.0
            self.outputs.append(Update(grace))

    def _classify(self, ending: Ending) -> None:
        """The link's next try, from how the last session ended."""
        ended, self.ended_session = self.ended_session, None
        if ending is Ending.RESTART:
            self.blips = self.proxy_failures = self.off_tries = 0
            if self.phase is Phase.VERIFIED:
                self._connect(0.0)
            else:
                self.link = Link.IDLE  # opens once a token is verified
        elif ending is Ending.BLIP:
            if ended is not None and ended.lasted >= STABLE_SESSION:
                self.blips = 0
            self.blips += 1
            self._connect(BLIP_DELAYS[min(self.blips, len(BLIP_DELAYS)) - 1])
        else:
            self._proxy_failure(ended)

    def _proxy_failure(self, ended: _Ended | None) -> None:
        """One more session that never came up: quick retries, then OFF."""
        if self.proxy_failures >= FAILURES_BEFORE_OFF:  # already off
            self.off_tries += 1
            self._go_off()
            return
        self.proxy_failures += 1
        if ended is not None and ended.end is SessionEnd.UPGRADE_REFUSED:
            self.proxy_failures = FAILURES_BEFORE_OFF  # a 3xx or 4xx stays so
        if self.proxy_failures >= FAILURES_BEFORE_OFF:
            self._go_off()
            return
        self._connect(QUICK_DELAYS[self.proxy_failures - 1])

    def _go_off(self) -> None:
        """No push for now: polling; the socket is tried again in a while."""
        if self.off_tries == 0:
            # A warning the first time only: a proxy that lets an upgrade
            # through now and then would repeat it all day.
            self.outputs.append(
                Log(
                    "info" if self.was_off else "warning",
                    "{name}: no notification socket; checking the token every 5 "
                    "minutes, and trying the socket again now and then",
                )
            )
            self.probe_due = True
            self.outputs.append(Update())  # the probing check at once
        self.was_off = True
        retry = OFF_RETRIES[min(self.off_tries, len(OFF_RETRIES) - 1)]
        self.outputs.append(Connect(retry))
        self.link = Link.OFF

    def _connect(self, delay: float) -> None:
        """The next session after `delay` seconds."""
        self.link = Link.WAITING
        self.outputs.append(Connect(delay))

    def take_outputs(self) -> list[Output]:
        """What the owner is to do now, in order; the queue empties."""
        outputs, self.outputs = self.outputs, []
        return outputs


def _reading(ended: _Ended | None) -> Ending:
    """A session that ended while the server kept answering."""
    return Ending.BLIP if ended is not None and ended.was_up else Ending.PROXY


def outcome_of(err: PlexError) -> Outcome:
    """How a failed request reads: away (restarting?), another server, or odd."""
    if isinstance(err, PlexWrongServerError):
        return Outcome.WRONG_SERVER
    if isinstance(err, PlexStatusError):
        return Outcome.AWAY if err.status >= 500 else Outcome.BAD_ANSWER
    if isinstance(err, PlexConnectionError | PlexTimeoutError):
        return Outcome.AWAY
    return Outcome.BAD_ANSWER
