"""The notification listener's own rules: backoff, a guard for bugs, stopping.

The listener is a small state machine in the Plex library: these tests drive it
with a socket opener and an owner of their own, the way the coordinator does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.plex_api.plex import (
    ListenerState,
    NotificationListener,
    PlexConnectionError,
    PlexNotifications,
    SessionEnd,
)
from custom_components.plex_api.plex.notifications import (
    POLLING_RETRIES,
    QUICK_DELAYS,
    SLOW_DELAY,
    STABLE_SESSION,
    Backoff,
    shown_type,
)
from homeassistant.core import HomeAssistant


def delays(ends: list[SessionEnd], lasted: float = 0.0) -> list[float]:
    """The delays a fresh backoff gives after these session ends."""
    backoff = Backoff()
    return [backoff.after(end, lasted) for end in ends]


def test_quick_then_slow_for_an_away_server() -> None:
    """Unreachable again and again (a long restart): quick, then every 30 s.

    Never polling: a server that is away says nothing about the socket.
    """
    backoff = Backoff()
    got = [backoff.after(SessionEnd.UNREACHABLE, 0.0) for _ in range(8)]

    assert got == [*QUICK_DELAYS, SLOW_DELAY, SLOW_DELAY, SLOW_DELAY, SLOW_DELAY]
    assert not backoff.polling


def test_proxy_failures_mean_polling_then_hourly() -> None:
    """Five broken upgrades: polling, tried after 15, 30, then every 60 minutes."""
    backoff = Backoff()
    got = [backoff.after(SessionEnd.PROXY, 0.0) for _ in range(8)]

    assert got == [*QUICK_DELAYS, *POLLING_RETRIES, POLLING_RETRIES[-1]]
    assert POLLING_RETRIES == (900.0, 1800.0, 3600.0)
    assert backoff.polling


def test_refused_upgrade_means_polling_at_once() -> None:
    """A 4xx or a redirect does not change in seconds."""
    assert delays([SessionEnd.UPGRADE_REFUSED]) == [POLLING_RETRIES[0]]


def test_a_stable_session_starts_over() -> None:
    """After a socket that worked for minutes, the next one is tried at once."""
    backoff = Backoff()
    for _ in range(6):
        backoff.after(SessionEnd.CUT, 0.0)
    assert backoff.polling

    assert backoff.after(SessionEnd.LOST, STABLE_SESSION) == QUICK_DELAYS[0]
    assert not backoff.polling
    assert backoff.after(SessionEnd.LOST, 1.0) == QUICK_DELAYS[0]


def test_closed_sockets_back_off_without_polling() -> None:
    """A server that closes its sockets (restarts) is never "no push here"."""
    backoff = Backoff()
    got = [backoff.after(SessionEnd.CLOSED, 1.0) for _ in range(6)]

    assert got == [*QUICK_DELAYS, SLOW_DELAY, SLOW_DELAY]
    assert not backoff.polling


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("timeline", "timeline"),
        ("playing", "playing"),
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


class Owner:
    """The listener's owner, as the coordinator is one: it records what it is told."""

    def __init__(self, *, ready: bool = True) -> None:
        """Ready or not to let a session start."""
        self.ready = ready
        self.closed: list[tuple[SessionEnd, bool]] = []
        self.opened = 0
        self.tokens = 0
        self.told = asyncio.Event()

    def socket_ready(self) -> bool:
        """Whether a session may start."""
        return self.ready

    async def socket_token(self) -> str:
        """A token (this owner proves nothing: no server here)."""
        self.tokens += 1
        return "token"

    def socket_opened(self) -> None:
        """Count it."""
        self.opened += 1

    def socket_closed(self, end: SessionEnd, *, polling: bool) -> None:
        """Record it."""
        self.closed.append((end, polling))
        self.told.set()


def spawn(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run a session in a plain task."""
    return asyncio.get_running_loop().create_task(coroutine)


async def next_report(owner: Owner) -> None:
    """Wait until the owner is told how a session ended."""
    owner.told.clear()
    async with asyncio.timeout(5):
        await owner.told.wait()


async def test_a_bug_is_logged_once_and_ends_in_polling(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anything unexpected: logged once (traceback at debug), never a dead task."""
    caplog.set_level(logging.DEBUG)

    async def broken(token: str) -> PlexNotifications:
        raise RuntimeError("a bug")

    owner = Owner()
    listener = NotificationListener(broken, owner, spawn)
    listener.start()
    await next_report(owner)
    for delay in QUICK_DELAYS:  # the quick retries: the same bug each time
        freezer.tick(delay)
        async_fire_time_changed(hass)
        await next_report(owner)
    listener.stop()

    assert owner.closed[0] == (SessionEnd.FAILED, False)
    assert owner.closed[-1] == (SessionEnd.FAILED, True)
    assert listener.state is ListenerState.POLLING
    ours = [r for r in caplog.records if r.name.startswith("custom_components")]
    warnings = [r for r in ours if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "The notification socket failed unexpectedly"
    ]
    tracebacks = [r for r in ours if r.exc_info]
    assert len(tracebacks) == 1
    assert tracebacks[0].levelno == logging.DEBUG


async def test_waits_for_the_owner(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """No session, no token asked for, until the owner verified the server.

    A failed upgrade right after the owner proved the server is a broken
    upgrade (a proxy), not an unreachable server.
    """

    async def dropped(token: str) -> PlexNotifications:
        raise PlexConnectionError("dropped")

    owner = Owner(ready=False)
    listener = NotificationListener(dropped, owner, spawn)
    listener.start()
    await asyncio.sleep(0)
    assert owner.tokens == 0

    owner.ready = True
    listener.owner_ready()
    await next_report(owner)

    assert owner.tokens == 1
    assert owner.closed == [(SessionEnd.BROKEN, False)]
    listener.stop()


async def test_stop_cancels_the_next_try(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Stopped between two sessions (unloading): the timer never fires."""

    async def unreachable(token: str) -> PlexNotifications:
        raise PlexConnectionError("refused")

    owner = Owner()
    listener = NotificationListener(unreachable, owner, spawn)
    listener.start()
    await next_report(owner)
    listener.stop()

    freezer.tick(3600)
    async_fire_time_changed(hass)
    for _ in range(10):
        await asyncio.sleep(0)
    listener.owner_ready()

    assert owner.tokens == 1
