"""Run the Plex emulator as a standalone server, for manual and end-to-end tests.

Usage: python -m tests.plex_emulator [--host H] [--port P] [--token T] [--https]
[--name NAME] [--machine-identifier ID] [--allow-without-auth]
[--refuse-websockets] [--log-level L].
The first line on stdout tells the URL and the owner token; after it, the log
(restarts, revocations, switches, drops; with debug every request) goes to
stderr, never with a token. The /_emulator/ control endpoints (restart, revoke,
fault, switches, drop_sockets, state) drive it from another process.
"""

import argparse
import asyncio
import logging
import signal
import sys

from tests.plex_emulator.emulator import PlexEmulator

LOGGER_NAME = "tests.plex_emulator"  # the parent of every module's logger
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
LOG_LEVELS = ("debug", "info", "warning")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.plex_emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=32400, help="0 picks a free port")
    parser.add_argument("--token", help="owner token (default: a random one)")
    parser.add_argument("--https", action="store_true", help="serve self-signed TLS")
    parser.add_argument("--name", help="friendly name of the server")
    parser.add_argument(
        "--machine-identifier",
        help="another server's identity, for a second emulator (discovery, the "
        "wrong-server repair)",
    )
    parser.add_argument(
        "--allow-without-auth",
        action="store_true",
        help="accept any token or none, as for a network allowed without auth",
    )
    parser.add_argument(
        "--refuse-websockets",
        action="store_true",
        help="answer the notification socket with a 404, as a proxy that does not "
        "upgrade",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="info: restarts, revocations, switches and drops; debug: every "
        "request too (default info, so that benchmarks are not slowed)",
    )
    return parser.parse_args(argv)


def _start_log(level: str) -> None:
    """Send the emulator's log to stderr, after the start line scripts parse."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


def _emulator(args: argparse.Namespace) -> PlexEmulator:
    """Build the emulator the command line asks for."""
    emulator = PlexEmulator(owner_token=args.token, https=args.https)
    if args.name:
        emulator.friendly_name = args.name
    if args.machine_identifier:
        emulator.machine_identifier = args.machine_identifier
    emulator.allow_without_auth = args.allow_without_auth
    emulator.refuse_websockets = args.refuse_websockets
    return emulator


async def _serve(args: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM, then stop cleanly (exit status 0)."""
    emulator = _emulator(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await emulator.start(args.host, args.port)
    try:
        # Scripts parse this line: keep its wording stable.
        sys.stdout.write(
            f"Plex emulator listening on {emulator.url}; "
            f"owner token: {emulator.owner_token}\n"
        )
        sys.stdout.flush()
        _start_log(args.log_level)
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    """Entry point of `python -m tests.plex_emulator`."""
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
