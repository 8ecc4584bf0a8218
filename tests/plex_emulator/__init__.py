"""Plex Media Server emulator used by the tests and the dev scripts."""

from tests.plex_emulator.emulator import Fault, PlexEmulator, ReceivedRequest

__all__ = ["Fault", "PlexEmulator", "ReceivedRequest"]
