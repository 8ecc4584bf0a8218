"""The lifecycle's state machine by itself: every state and input, no I/O.

Table-driven: the phase table and the link table, each pair of (state,
input) with its outcome written out here again, as the design says it; then
the timers and counters that the tables leave to data (backoff, caps,
schedules). The model-based test (test_lifecycle_model.py) runs the same
machine through the integration against the emulator.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import logging

import pytest

from custom_components.plex_api.plex import (
    Connect,
    Lifecycle,
    Link,
    Log,
    Outcome,
    Phase,
    Plan,
    PlexNotifications,
    Repair,
    Serve,
    SessionEnd,
    Signal,
    TokenReason,
    Update,
    listen,
)
from custom_components.plex_api.plex.lifecycle import PHASES, SOCKET_ENDED, STOP
from custom_components.plex_api.plex.notifications import shown_type

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
DAY = timedelta(hours=24)
P = Phase

# The phase table as the design draws it: rows are inputs, columns phases
# STARTING VERIFIED DOUBT AWAY WRONG_SERVER FAILING REAUTH STOPPED.
PHASE_TABLE = {
    SOCKET_ENDED: "STARTING DOUBT DOUBT AWAY WRONG FAILING REAUTH STOPPED",
    Outcome.KEPT: "VERIFIED VERIFIED VERIFIED VERIFIED VERIFIED VERIFIED REAUTH -",
    Outcome.RENEWED: "VERIFIED VERIFIED VERIFIED VERIFIED VERIFIED VERIFIED REAUTH -",
    Outcome.AWAY: "STARTING AWAY AWAY AWAY AWAY AWAY REAUTH STOPPED",
    Outcome.WRONG_SERVER: "WRONG WRONG WRONG WRONG WRONG WRONG REAUTH STOPPED",
    Outcome.BAD_ANSWER: "FAILING FAILING FAILING FAILING FAILING FAILING REAUTH -",
    Outcome.OWNER_REFUSED: "REAUTH REAUTH REAUTH REAUTH REAUTH REAUTH REAUTH -",
    STOP: "STOPPED STOPPED STOPPED STOPPED STOPPED STOPPED STOPPED STOPPED",
}
COLUMNS = [P.STARTING, P.VERIFIED, P.DOUBT, P.AWAY, P.WRONG_SERVER, P.FAILING]
COLUMNS += [P.REAUTH, P.STOPPED]
NAMES = {"WRONG": P.WRONG_SERVER} | {phase.name: phase for phase in Phase}


def _cell(text: str) -> Phase:
    """A table cell: the phase after ("-": STOPPED, which ignores everything)."""
    return Phase.STOPPED if text == "-" else NAMES[text]


@pytest.mark.parametrize(("given", "row"), list(PHASE_TABLE.items()))
def test_phase_table(given: str, row: str) -> None:
    """Every (phase, input) pair has the outcome the design draws."""
    for before, cell in zip(COLUMNS, row.split(), strict=True):
        after = _cell(cell)
        assert PHASES[given](before) is after, (before, given)
        machine = at(before)
        feed(machine, given)
        assert machine.phase is after, (before, given)


def test_every_input_and_phase_is_in_the_table() -> None:
    """Nothing is left undefined: all inputs, all phases."""
    assert set(PHASE_TABLE) == set(PHASES) == {*Outcome, SOCKET_ENDED, STOP}
    assert set(COLUMNS) == set(Phase)


def at(phase: Phase, link: Link = Link.UP) -> Lifecycle:
    """A machine in `phase` (with a token), its socket in `link`."""
    machine = Lifecycle(phase=phase, link=link, issued_at=NOW, checked_at=NOW)
    if link in (Link.UP, Link.OPEN):
        machine.up_since = NOW
    return machine


def feed(machine: Lifecycle, given: str, now: datetime = NOW) -> None:
    """Give the machine one phase input, as its owner would."""
    if given == SOCKET_ENDED:
        machine.ended(SessionEnd.LOST, now, "t")
    elif given == STOP:
        machine.stop()
    else:
        machine.updated(Outcome(given), now, epoch=machine.losses)


# -- the link ------------------------------------------------------------

type Step = Callable[[Lifecycle], object]

LINK_INPUTS: dict[str, Step] = {
    "due": lambda m: m.socket_due(),
    "opened": lambda m: m.opened(),
    "alive": lambda m: m.alive(NOW),
    "ended": lambda m: m.ended(SessionEnd.LOST, NOW, "t"),
    "answered": lambda m: m.ended(SessionEnd.PROXY, NOW, "t"),
    "kept": lambda m: m.updated(Outcome.KEPT, NOW, epoch=m.losses),
    "away": lambda m: m.updated(Outcome.AWAY, NOW, epoch=m.losses),
}
# Rows: inputs; columns: the link before, with the phase VERIFIED (for
# "kept" and "away": after the socket ended, the phase is DOUBT).
LINK_COLUMNS = [Link.IDLE, Link.WAITING, Link.OFF, Link.CONNECTING, Link.OPEN]
LINK_COLUMNS += [Link.UP, Link.ENDED]
LINK_TABLE = {
    "due": "idle connecting connecting connecting open up ended",
    "opened": "idle waiting off open open up ended",
    "alive": "idle waiting off connecting up up ended",
    "ended": "idle waiting off ended ended ended ended",
    "answered": "idle waiting off waiting waiting ended ended",
    "kept": "waiting waiting off connecting open up waiting",
    "away": "idle waiting off connecting open up idle",
}


@pytest.mark.parametrize(("given", "row"), list(LINK_TABLE.items()))
def test_link_table(given: str, row: str) -> None:
    """Every (link, input) pair has the outcome the design draws."""
    for before, cell in zip(LINK_COLUMNS, row.split(), strict=True):
        phase = P.DOUBT if before is Link.ENDED else P.VERIFIED
        machine = at(phase, before)
        if before is Link.ENDED:  # as a session that was up leaves it
            machine = at(P.VERIFIED, Link.UP)
            machine.ended(SessionEnd.LOST, NOW, "t")
        LINK_INPUTS[given](machine)
        assert machine.link is Link(cell), (before, given)


def test_every_link_input_and_state_is_in_the_table() -> None:
    """Nothing is left undefined."""
    assert set(LINK_COLUMNS) == set(Link)
    assert set(LINK_TABLE) == set(LINK_INPUTS)


def connects(machine: Lifecycle) -> list[float]:
    """The delays of the sessions the machine asked for, the queue emptied."""
    return [o.delay for o in machine.take_outputs() if isinstance(o, Connect)]


def session(machine: Lifecycle, end: SessionEnd, outcome: Outcome, **up: float) -> None:
    """One socket session from its timer to how an update read its end."""
    machine.link = Link.WAITING
    assert machine.socket_due()
    machine.opened()
    if up:
        machine.alive(NOW)
        machine.up_since = NOW - timedelta(seconds=up["lasted"])
    machine.ended(end, NOW, "t")
    if machine.link is Link.ENDED:
        machine.updated(outcome, NOW, epoch=machine.losses)


def test_restarts_in_a_row_leave_push_on() -> None:
    """However many restarts: the socket opens at once after each, never OFF."""
    machine = at(P.VERIFIED)
    for _ in range(30):
        session(machine, SessionEnd.LOST, Outcome.AWAY, lasted=3)
        assert machine.link is Link.IDLE
        assert machine.phase is P.AWAY
        machine.updated(Outcome.RENEWED, NOW, epoch=machine.losses)
        assert connects(machine)[-1] == 0.0
        assert machine.link is Link.WAITING


def test_blips_back_off_to_five_minutes_never_off() -> None:
    """A socket that was up, dropped, the server still there: gradual, capped."""
    machine = at(P.VERIFIED)
    delays = []
    for _ in range(12):
        session(machine, SessionEnd.LOST, Outcome.KEPT, lasted=4)
        delays += connects(machine)
    assert delays == [0.5, 1, 2, 5, 15, 30, 60, 120, 300, 300, 300, 300]
    assert machine.link is Link.WAITING
    session(machine, SessionEnd.CLOSED, Outcome.KEPT, lasted=120)  # up 2 minutes
    assert connects(machine) == [0.5]


def test_proxy_failures_mean_off_then_15_30_60_minutes() -> None:
    """Never up, five in a row: OFF, said once; retried, never given up."""
    machine = at(P.VERIFIED)
    delays = []
    for _ in range(8):
        session(machine, SessionEnd.CUT, Outcome.KEPT)
        delays += connects(machine)
    assert delays == [0.5, 1, 2, 5, 900, 1800, 3600, 3600]
    assert machine.link is Link.OFF
    assert machine.probe_due
    session(machine, SessionEnd.CLOSED, Outcome.KEPT, lasted=1)  # a socket came up
    assert connects(machine) == [0.5]
    assert machine.link is Link.WAITING


def test_answered_upgrades_need_no_update() -> None:
    """A 4xx (or a redirect): OFF at once; a 5xx counts, nothing verified."""
    machine = at(P.VERIFIED)
    session(machine, SessionEnd.PROXY, Outcome.KEPT)
    outputs = machine.take_outputs()
    assert outputs == [Connect(0.5)]
    assert machine.phase is P.VERIFIED
    session(machine, SessionEnd.UPGRADE_REFUSED, Outcome.KEPT)
    outputs = machine.take_outputs()
    assert Connect(900.0) in outputs
    assert Update() in outputs
    assert Log("warning", machine_off_line()) in outputs
    session(machine, SessionEnd.UPGRADE_REFUSED, Outcome.KEPT)
    assert machine.take_outputs() == [Connect(1800.0)]


def machine_off_line() -> str:
    """The line said when push goes off."""
    return (
        "{name}: no notification socket; checking the token every 5 minutes, "
        "and trying the socket again now and then"
    )


def test_off_again_later_is_said_at_info() -> None:
    """The warning once; a proxy that lets an upgrade through now and then: INFO."""
    machine = at(P.VERIFIED)
    session(machine, SessionEnd.UPGRADE_REFUSED, Outcome.KEPT)
    session(machine, SessionEnd.LOST, Outcome.KEPT, lasted=1)
    assert Log("info", "{name}: live updates are back") in machine.take_outputs()
    session(machine, SessionEnd.UPGRADE_REFUSED, Outcome.KEPT)
    assert Log("info", machine_off_line()) in machine.take_outputs()


def test_token_refused_on_the_socket_means_the_owner_token() -> None:
    """The socket refused a transient token that `/` accepts: the owner's next."""
    machine = at(P.VERIFIED)
    session(machine, SessionEnd.TOKEN_REFUSED, Outcome.KEPT)
    assert machine.socket_token_is_owner("t")
    assert not machine.socket_token_is_owner("another")


# -- the phase's data: plans, caps, schedules ------------------------------


def test_plans() -> None:
    """What each state asks the server, in as few requests as it can."""
    live = at(P.VERIFIED)
    assert live.plan(NOW, DAY) == Plan(False, None, TokenReason.REFUSED, False)
    polling = at(P.VERIFIED, Link.OFF)
    assert polling.plan(NOW, DAY).verify
    doubt = at(P.VERIFIED)
    doubt.ended(SessionEnd.LOST, NOW, "t")
    assert doubt.plan(NOW + DAY, DAY) == Plan(True, None, TokenReason.RESTART, False, 1)
    due = at(P.VERIFIED)
    assert due.plan(NOW + DAY, DAY).renew is TokenReason.ROTATION
    retired = at(P.VERIFIED)
    retired.retire("t")
    assert retired.plan(NOW, DAY).renew is TokenReason.FORCED
    starting = Lifecycle(first_reason=TokenReason.ADDRESS)
    assert starting.plan(NOW, DAY).renew is TokenReason.ADDRESS


def test_precautions_are_capped_at_six_an_hour() -> None:
    """Back after being away: a new token, 6 an hour at most; a check beyond."""
    machine = at(P.AWAY, Link.IDLE)
    for _ in range(10):  # retries while it is away take nothing
        assert machine.plan(NOW, DAY).precaution
        machine.updated(Outcome.AWAY, NOW, epoch=0, precaution=True)
    renews = []
    for minute in range(7):
        now = NOW + timedelta(minutes=minute)
        machine.phase = P.AWAY
        plan = machine.plan(now, DAY)
        renews.append(plan.renew)
        machine.updated(Outcome.RENEWED, now, epoch=0, precaution=plan.precaution)
    assert renews == [TokenReason.RESTART] * 6 + [None]
    machine.phase = P.AWAY
    assert machine.plan(NOW + timedelta(minutes=61), DAY).renew is TokenReason.RESTART


def test_away_retries_back_off() -> None:
    """0.5, 1, 2, 3 s, then every 5 s for a minute, 15 s, 30 s, 5 minutes."""
    machine = at(P.VERIFIED, Link.OFF)
    seen = []
    for seconds in (0, 1, 2, 3, 10, 61, 299, 301, 1799, 1801):
        machine.updated(Outcome.AWAY, NOW + timedelta(seconds=seconds), epoch=0)
        seen.append(machine.next_check(NOW + timedelta(seconds=seconds)).seconds)
    assert seen == [0, 1, 2, 3, 5, 15, 15, 30, 30, 300]
    lines = [o for o in machine.take_outputs() if isinstance(o, Log)]
    assert [line.level for line in lines] == ["info", "warning"]
    machine.updated(Outcome.KEPT, NOW + timedelta(hours=1), epoch=0)
    assert machine.take_outputs() == [Log("info", "{name} is back")]
    assert machine.next_check(NOW) == timedelta(minutes=5)


def test_a_check_from_before_a_loss_proves_nothing() -> None:
    """Planned before the socket ended: still in doubt, another update."""
    machine = at(P.VERIFIED)
    plan = machine.plan(NOW, DAY)
    machine.ended(SessionEnd.LOST, NOW, "t")
    machine.take_outputs()
    machine.updated(Outcome.KEPT, NOW, epoch=plan.epoch)
    assert machine.phase is P.DOUBT
    assert machine.take_outputs() == [Update()]


def test_repairs() -> None:
    """Wrong server raised and cleared; checks skipped raised by the probe only."""
    machine = at(P.VERIFIED, Link.OFF)
    machine.updated(Outcome.WRONG_SERVER, NOW, epoch=0, error="wrong_server")
    machine.updated(Outcome.KEPT, NOW, epoch=0)
    machine.probed(skipped=True)
    assert machine.take_outputs() == [
        Repair("wrong_server", on=True),
        Repair("wrong_server", on=False),
        Repair("checks_skipped", on=True),
    ]


# -- the action ------------------------------------------------------------

SERVE_CASES = [
    # phase, link, seconds since the last check, updated already -> serve
    (P.VERIFIED, Link.UP, 59, False, Serve.HAND_OUT),
    (P.VERIFIED, Link.UP, 61, False, Serve.UPDATE),
    (P.VERIFIED, Link.OFF, 9, False, Serve.HAND_OUT),
    (P.VERIFIED, Link.WAITING, 11, False, Serve.UPDATE),
    (P.DOUBT, Link.ENDED, 0, False, Serve.WAIT),
    (P.DOUBT, Link.ENDED, 0, True, Serve.WAIT),
    (P.AWAY, Link.OFF, 0, False, Serve.UPDATE),
    (P.AWAY, Link.OFF, 0, True, Serve.FAIL),  # no restart in sight: say so
    (P.AWAY, Link.OFF, 301, False, Serve.FAIL),  # away for 5 minutes
    (P.WRONG_SERVER, Link.UP, 0, False, Serve.UPDATE),
    (P.WRONG_SERVER, Link.UP, 0, True, Serve.FAIL),
    (P.FAILING, Link.OFF, 0, False, Serve.UPDATE),
    (P.FAILING, Link.OFF, 0, True, Serve.FAIL),
    (P.REAUTH, Link.OFF, 0, False, Serve.FAIL),
    (P.STOPPED, Link.OFF, 0, False, Serve.FAIL),
    (P.STARTING, Link.IDLE, 0, False, Serve.UPDATE),
]


@pytest.mark.parametrize(("phase", "link", "age", "updated", "serve"), SERVE_CASES)
def test_serve(phase: Phase, link: Link, age: int, updated: bool, serve: Serve) -> None:
    """What the action does in each state."""
    machine = at(phase, link)
    machine.away_since = NOW
    now = NOW + timedelta(seconds=age)
    assert machine.serve(now, DAY, "t", updated=updated) is serve


def test_serve_waits_through_a_restart() -> None:
    """Away after the socket ended: the action waits, and fails after 5 minutes."""
    machine = at(P.VERIFIED)
    machine.ended(SessionEnd.LOST, NOW, "t")
    machine.updated(Outcome.AWAY, NOW, epoch=machine.losses)
    assert machine.serve(NOW, DAY, "t", updated=True) is Serve.WAIT
    assert machine.serve(NOW + timedelta(minutes=5), DAY, "t", updated=True) is (
        Serve.FAIL
    )
    machine.stop()
    assert machine.serve(NOW, DAY, "t", updated=False) is Serve.FAIL
    assert machine.error == "reloading"


def test_serve_replaces_a_retired_or_due_token() -> None:
    """force_new, a short-lived token, the rotation age: an update first."""
    machine = at(P.VERIFIED)
    machine.retire("t")
    assert machine.serve(NOW, DAY, "t", updated=False) is Serve.UPDATE
    assert machine.serve(NOW, DAY, "u", updated=False) is Serve.HAND_OUT
    assert at(P.VERIFIED).serve(NOW + DAY, DAY, "t", updated=False) is Serve.UPDATE


# -- the session -----------------------------------------------------------


async def test_a_bug_in_a_session_is_reported_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anything unexpected: a warning (traceback at debug), and FAILED told."""
    caplog.set_level(logging.DEBUG)
    told: list[Signal | SessionEnd] = []

    async def prove() -> str:
        return "t"

    async def broken(token: str) -> PlexNotifications:
        raise RuntimeError("a bug")

    await listen(prove, broken, told.append)

    assert told == [SessionEnd.FAILED]
    ours = [r for r in caplog.records if r.name.startswith("custom_components")]
    assert [r.levelno for r in ours] == [logging.WARNING, logging.DEBUG]
    assert ours[1].exc_info is not None


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("timeline", "timeline"),
        ("transient-" + "a" * 40, "(unrecognised)"),
        ("xK7_pQ2-mN9zR4vL8wT1", "(unrecognised)"),  # shaped like a Plex token
        ("x\nERROR forged", "(unrecognised)"),
        (42, "(unrecognised)"),
        (None, "(unrecognised)"),
    ],
)
def test_shown_type(value: object, shown: str) -> None:
    """Only a known type from the server reaches the log."""
    assert shown_type(value) == shown
