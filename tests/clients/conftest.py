"""Fixtures for the client tests: coord's blocking clients on the shared server of each kind.

The ``server`` (parametrized over Apache ZooKeeper and coord), ``prefix`` and kazoo ``client``
fixtures come from tests/conftest.py, so every test here runs against both servers.
"""

import pytest

from clients.blocking import Client

START_TIMEOUT_S = 15.0


@pytest.fixture
def make_coord_client(server):
    """``make_coord_client(hosts=..., **Client_kwargs)`` -> a started blocking client; all stopped
    at teardown."""
    started = []

    def factory(hosts=None, **kwargs):
        kwargs.setdefault("timeout", 10.0)
        client = Client(hosts or server.hosts, **kwargs)
        client.start(timeout=START_TIMEOUT_S)
        started.append(client)
        return client

    yield factory
    for client in reversed(started):
        client.stop()


@pytest.fixture
def cc(make_coord_client):
    """One started coord blocking client on the shared server."""
    return make_coord_client()
