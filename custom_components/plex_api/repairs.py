"""Repairs: what the user must act on, and the way to fix a server that moved."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.components.repairs.const import FlowType
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .texts import markdown_text

WRONG_SERVER = "wrong_server"
CHECKS_SKIPPED = "checks_skipped"


def _issue_id(kind: str, entry: ConfigEntry) -> str:
    return f"{kind}_{entry.entry_id}"


@callback
def async_wrong_server(hass: HomeAssistant, entry: ConfigEntry, url: str) -> None:
    """Another server answers at the entry's address: the user must point it."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id(WRONG_SERVER, entry),
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key=WRONG_SERVER,
        translation_placeholders={"name": markdown_text(entry.title), "url": url},
        data={"entry_id": entry.entry_id},
    )


@callback
def async_right_server(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """The entry's own server answers again: nothing to repair."""
    ir.async_delete_issue(hass, DOMAIN, _issue_id(WRONG_SERVER, entry))


@callback
def async_checks_skipped(
    hass: HomeAssistant, entry: ConfigEntry, *, skipped: bool
) -> None:
    """Without the socket, a server that skips token checks hides restarts."""
    issue_id = _issue_id(CHECKS_SKIPPED, entry)
    if not skipped:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=CHECKS_SKIPPED,
        translation_placeholders={"name": markdown_text(entry.title)},
    )


@callback
def async_repair(
    hass: HomeAssistant, entry: ConfigEntry, issue: str, *, on: bool, url: str
) -> None:
    """Raise or clear one of the entry's issues, as the lifecycle asks."""
    if issue == CHECKS_SKIPPED:
        async_checks_skipped(hass, entry, skipped=on)
    elif on:
        async_wrong_server(hass, entry, url)
    else:
        async_right_server(hass, entry)


@callback
def async_remove_issues(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """The entry is gone, and with it what it asked the user to do."""
    for kind in (WRONG_SERVER, CHECKS_SKIPPED):
        ir.async_delete_issue(hass, DOMAIN, _issue_id(kind, entry))


class WrongServerRepairFlow(RepairsFlow):
    """Explain, then lead to the entry's reconfigure form: it proves the server."""

    def __init__(self, entry_id: str) -> None:
        """Fix this entry, looked up at each step: it may be deleted meanwhile."""
        self._entry_id = entry_id

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Start at the confirmation (the manager passes the issue id as input)."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Say what happened; on submit, open reconfigure (the issue stays)."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        if user_input is None:
            return self.async_show_form(
                step_id="confirm",
                data_schema=probatio.Schema({}),
                description_placeholders={"name": markdown_text(entry.title)},
            )
        result = await self.hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
        return self.async_abort(
            reason="reconfigure", next_flow=(FlowType.CONFIG_FLOW, result["flow_id"])
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """The fix flow of a fixable issue (only the wrong server is one)."""
    return WrongServerRepairFlow(str((data or {}).get("entry_id")))
