"""The integration in a real Home Assistant, driven through its REST API.

What a user and an automation do, in order: add the server (a wrong token first),
read the sensor, call the action, live through a Plex restart, remove the entry,
stop Home Assistant. The Plex side is the emulator, in its own process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .harness import (
    LOOPBACK,
    Emulator,
    Hass,
    Session,
    assert_clean_log,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SENSOR = "sensor.living_room_plex_token_expiry"
ISSUED = "sensor.living_room_plex_token_issued"
EVENT = "event.living_room_plex_token_renewed"
ACTION = "/api/services/plex_api/get_transient_token?return_response"
FLOWS = "/api/config/config_entries/flow"
OPTIONS = "/api/config/config_entries/options/flow"


def get_token(api: Session) -> dict[str, Any]:
    """Call the action the way a script or an automation would, through REST."""
    answer = api.request("POST", ACTION, json={})
    assert answer["changed_states"] == []
    response: dict[str, Any] = answer["service_response"]
    return response


def event_of_type(api: Session, event_type: str) -> dict[str, Any] | None:
    """The token event's state, once its last event is of that type."""
    state: dict[str, Any] = api.request("GET", f"/api/states/{EVENT}")
    return state if state["attributes"].get("event_type") == event_type else None


def test_token_lifecycle(emulator: Emulator, home_assistant: Hass) -> None:
    """Set up, use, survive a Plex restart, remove, stop: all for real."""
    api = home_assistant.onboard()

    # The config flow, as the frontend drives it: a refused token, then the right one.
    menu = api.request("POST", FLOWS, json={"handler": "plex_api"})
    assert (menu["type"], menu["menu_options"]) == ("menu", ["sign_in", "manual"])
    flow = api.request(
        "POST", f"{FLOWS}/{menu['flow_id']}", json={"next_step_id": "manual"}
    )
    assert (flow["type"], flow["step_id"]) == ("form", "manual")
    assert [field["name"] for field in flow["data_schema"]] == [
        "host",
        "port",
        "token",
        "tls",  # a collapsed section: HTTPS and certificate checking
    ]
    tls = {"ssl": False, "verify_ssl": True}
    form = {"host": LOOPBACK, "port": emulator.port, "tls": tls}
    refused = api.request(
        "POST", f"{FLOWS}/{flow['flow_id']}", json={**form, "token": "not-the-owner"}
    )
    assert refused["type"] == "form"
    assert refused["errors"] == {"base": "invalid_auth"}
    created = api.request(
        "POST",
        f"{FLOWS}/{flow['flow_id']}",
        json={**form, "token": emulator.owner_token},
    )
    assert created["type"] == "create_entry"
    assert created["title"] == "Living Room Plex"
    assert created["result"]["state"] == "loaded"
    entry_id = created["result"]["entry_id"]

    # The sensor: its state is the expiry of a fresh 48-hour token.
    state = api.request("GET", f"/api/states/{SENSOR}")
    expires = datetime.fromisoformat(state["state"])
    assert timedelta(hours=47) < expires - datetime.now(UTC) <= timedelta(hours=48)
    assert "token" not in state["attributes"]  # the option is off by default
    issued = api.request("GET", f"/api/states/{ISSUED}")

    # The action hands out a token that Plex accepts.
    answer = get_token(api)
    first = answer["token"]
    assert answer["url"] == emulator.url
    assert answer["server_name"] == "Living Room Plex"
    assert datetime.fromisoformat(answer["expires_at"]).replace(microsecond=0) == (
        expires
    )
    assert emulator.accepts(first)
    seen = set(emulator.state()["transient_tokens"])  # the flow's and the entry's
    assert first in seen

    # The integration keeps Plex's notification socket open.
    emulator.state_when("the socket open", lambda state: state["open_sockets"] == 1)

    # Plex restarts for real (its port closed for a second): every transient
    # token dies and the socket closes. No poll and no action call: the closed
    # socket alone gets a new token, and the socket opens again with it.
    asked_before = emulator.state()["token_requests"]
    emulator.restart(down_for=1.0)
    after = emulator.state_when(
        "a new token and the socket open again",
        lambda state: state["open_sockets"] == 1 and state["transient_tokens"],
    )
    assert not emulator.accepts(first)
    assert after["token_requests"] == asked_before + 1
    [second] = after["transient_tokens"]
    assert second != first
    assert emulator.accepts(second)
    polled = api.request("GET", f"/api/states/{ISSUED}")
    assert polled["state"] > issued["state"]

    # The action now hands out that token, without asking Plex for another
    # (its last check is less than a minute old).
    assert get_token(api)["token"] == second
    assert emulator.state()["token_requests"] == asked_before + 1
    seen.add(second)

    # Options apply at once: the token on the sensor, no reload, no new token.
    options = api.request("POST", OPTIONS, json={"handler": entry_id})
    saved = api.request(
        "POST",
        f"{OPTIONS}/{options['flow_id']}",
        json={"rotation_hours": 24, "show_token": True},
    )
    assert saved["type"] == "create_entry"
    assert api.request("GET", f"/api/states/{SENSOR}")["attributes"]["token"] == second
    assert emulator.state()["token_requests"] == asked_before + 1

    # Reconfigure (the same address): the entry reloads, and its new token is
    # announced as `address`. Home Assistant logs no deprecated use for it.
    form_flow = api.request(
        "POST", FLOWS, json={"handler": "plex_api", "entry_id": entry_id}
    )
    assert (form_flow["type"], form_flow["step_id"]) == ("form", "reconfigure")
    done = api.request("POST", f"{FLOWS}/{form_flow['flow_id']}", json=form)
    assert (done["type"], done["reason"]) == ("abort", "reconfigure_successful")
    renewed = emulator.state_when(
        "the reloaded entry's token",
        lambda state: state["token_requests"] == asked_before + 2,
    )
    [third] = [t for t in renewed["transient_tokens"] if t not in seen]
    event = wait_for("the token event", lambda: event_of_type(api, "address"), 60)
    assert third not in repr(event)
    assert get_token(api)["token"] == third
    seen.add(third)

    # Removal: the entry, its sensor and its action target are gone.
    removed = api.request("DELETE", f"/api/config/config_entries/entry/{entry_id}")
    assert removed == {"require_restart": False}
    entries = api.request("GET", "/api/config/config_entries/entry?domain=plex_api")
    assert entries == []
    assert api.send("GET", f"/api/states/{SENSOR}").status_code == 404

    # Home Assistant stops cleanly, and its log kept every token to itself.
    assert home_assistant.close() == 0
    # The restart: one line when Plex went away, one when it was back.
    assert_clean_log(home_assistant, {emulator.owner_token, *seen}, outages=1)
