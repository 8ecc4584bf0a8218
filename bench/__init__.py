"""Benchmark of plex_api against the floor and python-plexapi (run: scripts/bench).

Kept out of tests/ so that the normal test run never collects it: it measures,
it does not pass or fail on a noisy machine.
"""
