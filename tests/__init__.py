"""Tests for the plex_api integration."""
