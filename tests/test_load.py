"""Load and time: concurrent callers share one request; 30 days keep their budget."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
import random

from freezegun.api import FrozenDateTimeFactory
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.plex_api.const import (
    ATTR_FORCE_NEW,
    UPDATE_INTERVAL,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .helpers import call_action, poll
from .plex_emulator import PlexEmulator

NOTIFICATIONS = "/:/websockets/notifications"
CALLERS = 200
DAYS = 30
POLLS_PER_DAY = int(timedelta(days=1) / UPDATE_INTERVAL)


async def test_concurrent_force_new(
    hass: HomeAssistant, emulator: PlexEmulator, init_integration: MockConfigEntry
) -> None:
    """200 simultaneous force_new calls: one token request, one token for all."""
    before = emulator.token_requests()

    responses = await asyncio.gather(
        *(call_action(hass, **{ATTR_FORCE_NEW: True}) for _ in range(CALLERS))
    )

    assert emulator.token_requests() == before + 1
    tokens = {response["token"] for response in responses}
    assert len(tokens) == 1
    assert emulator.is_accepted(tokens.pop())


async def test_concurrent_plain_calls(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """200 simultaneous calls on a stale check: one check (the server proven first)."""
    frozen_time.tick(timedelta(seconds=61))
    before = len(emulator.requests)

    responses = await asyncio.gather(*(call_action(hass) for _ in range(CALLERS)))

    assert [r.path_qs for r in emulator.requests[before:]] == ["/identity", "/"]
    tokens = {response["token"] for response in responses}
    assert len(tokens) == 1
    assert emulator.is_accepted(tokens.pop())


async def test_thirty_days(
    hass: HomeAssistant,
    emulator: PlexEmulator,
    init_integration: MockConfigEntry,
    frozen_time: FrozenDateTimeFactory,
) -> None:
    """30 days, restarts sprinkled in: rotation on time, no dead token, budget kept.

    Budget per day (24 h rotation age, no socket here): two requests per poll
    (288 polls: `/identity`, as nothing else proves the address between two
    polls, then the check); a new token costs one more (the token, then its
    proof on `/` instead of the check), a restart one more still (the refused
    check). The refused socket is tried again now and then (`/identity`, then
    the upgrade). From day 15 automations also call the action mid-interval
    (its check is then older than a minute): each such call costs a check
    (two requests), and moves the next poll five minutes on.
    """
    # The loop's debug mode records a traceback for every callback; over 30 days
    # of polls that is most of the run time, and this test is about the schedule.
    asyncio.get_running_loop().set_debug(False)
    rng = random.Random(20261128)  # noqa: S311 - a repeatable schedule, not a secret
    restart_polls = set(rng.sample(range(POLLS_PER_DAY * DAYS - 300), 9))
    restarts: Counter[int] = Counter()
    requests: Counter[int] = Counter()
    tokens: Counter[int] = Counter()
    calls: Counter[int] = Counter()
    upgrades: Counter[int] = Counter()
    start = issued_at = dt_util.utcnow()
    index = 0

    while (now := dt_util.utcnow()) - start < timedelta(days=DAYS):
        day = (now - start) // timedelta(days=1)
        restarted = index in restart_polls
        if restarted:
            emulator.restart()
            restarts[day] += 1
        before, before_tokens = len(emulator.requests), emulator.token_requests()
        await poll(hass, frozen_time)
        if emulator.token_requests() > before_tokens:  # on time, or a restart
            age = dt_util.utcnow() - issued_at
            assert restarted or timedelta(hours=24) <= age <= timedelta(
                hours=24, minutes=5
            )
            issued_at = dt_util.utcnow()
        if day >= DAYS // 2 and index % 37 == 0:
            frozen_time.tick(UPDATE_INTERVAL / 2)
            async_fire_time_changed(hass)
            response = await call_action(hass)
            calls[day] += 1
            assert response["token"] == emulator.issued_tokens[-1]
            assert emulator.is_accepted(response["token"])
            expires_at = dt_util.parse_datetime(response["expires_at"])
            assert expires_at is not None
            assert expires_at - dt_util.utcnow() > timedelta(hours=23)
        requests[day] += len(emulator.requests) - before
        upgrades[day] += sum(
            r.path_qs == NOTIFICATIONS for r in emulator.requests[before:]
        )
        tokens[day] += emulator.token_requests() - before_tokens
        index += 1

    assert sum(restarts.values()) == 9
    assert sum(calls.values()) > 100
    for day in range(DAYS):
        assert upgrades[day] <= 26, day  # after 15, 30, 60 minutes, then hourly
        budget = (
            2 * POLLS_PER_DAY
            + tokens[day]
            + restarts[day]
            + 2 * calls[day]
            + 2 * upgrades[day]
        )
        if day < DAYS // 2:
            assert requests[day] == budget, day
        assert requests[day] <= budget, day
        assert 1 <= tokens[day] <= 1 + restarts[day], day
