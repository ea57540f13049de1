"""Fixtures for the real node process (filled in by its issue)."""
