"""Fixtures for the real kubo process (filled in by its issue)."""
