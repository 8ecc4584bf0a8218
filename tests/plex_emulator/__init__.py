"""Plex Media Server emulator used by the tests and the dev scripts."""

from tests.plex_emulator.emulator import PlexEmulator, ReceivedRequest
from tests.plex_emulator.responses import Fault, ProxyMode
from tests.plex_emulator.tls import CertificateAuthority
from tests.plex_emulator.websocket import NOTIFICATIONS_PATH

__all__ = [
    "NOTIFICATIONS_PATH",
    "CertificateAuthority",
    "Fault",
    "PlexEmulator",
    "ProxyMode",
    "ReceivedRequest",
]
