"""Shared pytest set-up. The real services each live in a plugin module of their own so that
work on one does not touch another: the session starts real processes (node, Kubo, anvil,
PostgreSQL) and never mocks them."""

import pytest

pytest_plugins = ["plugin_node", "plugin_kubo", "plugin_anvil", "plugin_postgres"]


@pytest.fixture(scope="module")
def client(server):
    """An HTTP client of the module's ``server`` (an ``api_server.LiveServer``), knowing the
    chain id that server registers on. A module whose ``client`` is something else defines its own."""
    with server.client() as c:
        c.chain_id = server.service.chain.chain_id
        yield c
