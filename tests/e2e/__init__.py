"""End-to-end tests: a real Home Assistant, the Plex emulator and a browser."""
