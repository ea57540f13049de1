"""Shared pytest set-up. The real services each live in a plugin module of their own so that
work on one does not touch another: the session starts real processes (node, Kubo, anvil,
PostgreSQL) and never mocks them."""

pytest_plugins = ["plugin_node", "plugin_kubo", "plugin_anvil", "plugin_postgres"]
