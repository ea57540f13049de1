"""Fixtures for the real anvil process (filled in by its issue)."""
