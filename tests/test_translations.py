"""Translations: every language has exactly English's strings and placeholders.

And every language loads through Home Assistant's own translation helper, so
a key a step uses is found in each.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest

from custom_components.plex_api.const import DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import async_get_translations
from homeassistant.loader import async_get_integration

TRANSLATIONS = Path(__file__).parents[1] / "custom_components" / DOMAIN / "translations"
LANGUAGES = ["de", "es", "fr", "it", "nl", "pl", "pt-BR", "sv"]
PLACEHOLDER = re.compile(r"\{(\w+)\}")
CODE = re.compile(r"`[^`]*`")


def load(language: str) -> dict[str, Any]:
    """A translation file as parsed JSON."""
    return dict(json.loads((TRANSLATIONS / f"{language}.json").read_text("utf-8")))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Every string by its dotted key, in file order."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_the_languages_are_all_there() -> None:
    """English and the eight languages the README lists, nothing half-done."""
    files = sorted(path.stem for path in TRANSLATIONS.glob("*.json"))
    assert files == sorted(["en", *LANGUAGES])


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_placeholders_and_code(language: str) -> None:
    """Same keys in the same order; per string the same placeholders and code."""
    english = flatten(load("en"))
    translated = flatten(load(language))

    assert list(translated) == list(english)
    for key, text in translated.items():
        assert isinstance(text, str)
        assert text.strip(), f"{language}: {key} is empty"
        source = english[key]
        assert sorted(PLACEHOLDER.findall(text)) == sorted(
            PLACEHOLDER.findall(source)
        ), f"{language}: {key} placeholders"
        assert CODE.findall(text) == CODE.findall(source), f"{language}: {key} code"


@pytest.mark.parametrize("language", LANGUAGES)
async def test_loaded_by_home_assistant(hass: HomeAssistant, language: str) -> None:
    """Home Assistant finds the language's config flow title for this integration."""
    await async_get_integration(hass, DOMAIN)

    strings = await async_get_translations(hass, language, "config", [DOMAIN])

    title = strings[f"component.{DOMAIN}.config.step.manual.title"]
    assert title == load(language)["config"]["step"]["manual"]["title"]
    assert title != load("en")["config"]["step"]["manual"]["title"]


def menu_titles(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """The title of every step that offers a menu, by its dotted key."""
    titles: dict[str, str] = {}
    for key, value in tree.items():
        if not isinstance(value, dict):
            continue
        if "menu_options" in value and "title" in value:
            titles[f"{prefix}{key}.title"] = value["title"]
        titles.update(menu_titles(value, f"{prefix}{key}."))
    return titles


@pytest.mark.parametrize("language", ["en", *LANGUAGES])
def test_menu_titles_have_no_placeholders(language: str) -> None:
    """The frontend fills a menu's description but not its title.

    A placeholder there shows as a formatjs error in the dialog and logs two
    errors each time the menu opens (seen with the re-authentication menu).
    """
    titles = menu_titles(load(language))

    assert "config.step.reauth.title" in titles
    assert {key: text for key, text in titles.items() if PLACEHOLDER.search(text)} == {}
