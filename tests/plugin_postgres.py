"""Fixtures for the real postgres process (filled in by its issue)."""
