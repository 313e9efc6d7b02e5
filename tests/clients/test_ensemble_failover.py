"""Failover across an ensemble: three members (coord, or Apache ZooKeeper 3.8), the member the
client is connected to is killed, and the client moves to another member without losing its
session, its ephemeral or its watch. Against coord in the default suite; ZooKeeper's three JVMs
under -m slow. (Read-only members: test_read_only_servers.py.)
"""

import os
import random

import pytest

from clients.blocking import Client, State
from coord.testing.servers import Ensemble, zookeeper_available
from tests.clients.helpers import wait_until


class _InOrder(random.Random):
    """Hosts tried in the order given (the client shuffles them with its rng)."""

    def shuffle(self, x):
        pass


@pytest.fixture
def ensemble(request, tmp_path):
    kind = request.param
    if kind == "zookeeper" and not zookeeper_available():
        if os.environ.get("COORD_REQUIRE_ZOOKEEPER"):
            pytest.fail("Apache ZooKeeper is required (COORD_REQUIRE_ZOOKEEPER=1)")
        pytest.skip("Apache ZooKeeper is not installed")
    with Ensemble(kind, tmp_path / kind, size=3) as ens:
        yield ens


@pytest.mark.timeout(240)
@pytest.mark.parametrize("ensemble", ["coord", pytest.param("zookeeper", marks=pytest.mark.slow)],
                         indirect=True)
@pytest.mark.parametrize("which", ["leader", "follower"])
def test_killing_the_connected_member_moves_the_session_to_another(ensemble, which):
    leader_id = ensemble.leader(timeout_s=30)
    assert leader_id is not None
    target = ensemble.member(leader_id) if which == "leader" else \
        next(m for i, m in ensemble.members.items() if i != leader_id)
    hosts = ",".join([target.address] + [m.address for m in ensemble.members.values()
                                         if m is not target])
    states = []
    client = Client(hosts, timeout=10.0, command_timeout=30.0, rng=_InOrder())
    client.add_listener(states.append)
    client.start(timeout=30)
    try:
        assert client._session.connected_host == (target.host, target.port)
        session_id = client.client_id[0]
        client.create("/failover-eph", b"x", ephemeral=True)
        events = []
        client.get("/failover-eph", watch=events.append)
        target.kill()
        wait_until(lambda: State.SUSPENDED in states, 30, what="SUSPENDED")
        wait_until(lambda: client.state is State.CONNECTED, 60, what="CONNECTED elsewhere")
        assert client._session.connected_host != (target.host, target.port)
        assert client.client_id[0] == session_id
        assert client.exists("/failover-eph") is not None  # the session (and its ephemeral) lives
        client.set("/failover-eph", b"y")
        wait_until(lambda: events, 20, what="the watch re-registered on the new member fired")
        assert events[0].type == "CHANGED"
    finally:
        client.stop()
