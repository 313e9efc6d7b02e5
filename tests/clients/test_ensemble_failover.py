"""Failover across an ensemble: a three-member Apache ZooKeeper 3.8 ensemble, the member the client
is connected to is killed, and the client moves to another member without losing its session.

ZooKeeper only (coord has no replication yet) and under -m slow (three JVMs).  The members are
the test kit's ZooKeeperProcess with an ensemble configuration: ``myid`` in the data directory,
``server.N`` lines, and readiness meaning "answers ruok" (a member cannot serve before a quorum
exists, so each start cannot wait for that).
"""


import pytest

from clients import errors
from clients.blocking import Client, State
from coord.testing.servers import (
    ZOOKEEPER_MAIN,
    ZooKeeperProcess,
    four_letter_word,
    free_port,
)
from tests.clients.helpers import wait_until
from tests.conftest import require_zookeeper


QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


class EnsembleMember(ZooKeeperProcess):
    def __init__(self, work_dir, myid: int, peers: dict, **kwargs):
        super().__init__(work_dir, port=peers[myid][0], **kwargs)
        self.myid = myid
        self.peers = peers

    def zoo_cfg_settings(self) -> dict:
        settings = super().zoo_cfg_settings()
        settings.update(initLimit=10, syncLimit=5)
        for myid, (_client, quorum, election) in self.peers.items():
            settings[f"server.{myid}"] = f"127.0.0.1:{quorum}:{election}"
        return settings

    def write_config(self) -> None:
        super().write_config()
        (self.data_dir / "myid").write_text(f"{self.myid}\n")

    def command(self) -> list:
        # The kit runs the standalone entry point; a member of an ensemble needs the quorum one.
        return [QUORUM_MAIN if arg == ZOOKEEPER_MAIN else arg for arg in super().command()]

    def _is_ready(self) -> bool:
        try:
            return four_letter_word(self.host, self.port, "ruok", timeout_s=2.0) == "imok"
        except OSError:
            return False

    def serving(self) -> bool:
        try:
            mode = four_letter_word(self.host, self.port, "srvr", timeout_s=2.0)
        except OSError:
            return False
        return "Mode: leader" in mode or "Mode: follower" in mode


@pytest.fixture
def ensemble(tmp_path):
    require_zookeeper()
    peers = {myid: (free_port(), free_port(), free_port()) for myid in (1, 2, 3)}
    members = [EnsembleMember(tmp_path / f"zk{myid}", myid, peers) for myid in peers]
    try:
        for member in members:
            member.start(timeout_s=60)
        wait_until(lambda: all(m.serving() for m in members), 90, interval_s=0.5,
                   what="a serving ensemble")
        yield members
    finally:
        for member in members:
            member.stop()


@pytest.mark.slow
@pytest.mark.zookeeper
def test_killing_the_connected_member_moves_the_session_to_another(ensemble):
    hosts = ",".join(m.hosts for m in ensemble)
    states = []
    client = Client(hosts, timeout=10.0, command_timeout=30.0)
    client.add_listener(states.append)
    client.start(timeout=30)
    try:
        session_id = client.client_id[0]
        client.create("/failover-eph", b"x", ephemeral=True)
        events = []
        client.get("/failover-eph", watch=events.append)
        first = next(m for m in ensemble if (m.host, m.port) == client._session.connected_host)
        first.kill()
        wait_until(lambda: State.SUSPENDED in states, 30, what="SUSPENDED")
        wait_until(lambda: client.state is State.CONNECTED, 60, what="CONNECTED elsewhere")
        assert client._session.connected_host != (first.host, first.port)
        assert client.client_id[0] == session_id
        assert client.exists("/failover-eph") is not None  # the session (and its ephemeral) lives
        client.set("/failover-eph", b"y")
        wait_until(lambda: events, 20, what="the watch re-registered on the new member fired")
        assert events[0].type == "CHANGED"
    finally:
        client.stop()


@pytest.fixture
def read_only_ensemble(tmp_path):
    require_zookeeper()
    peers = {myid: (free_port(), free_port(), free_port()) for myid in (1, 2, 3)}
    # A read-only ZooKeeper 3.8 member refuses to create a global session (createSession is a
    # write: it answers NOT_READ_ONLY); local sessions are what a new read-only client gets.
    config = {"localSessionsEnabled": "true", "localSessionsUpgradingEnabled": "true"}
    members = [EnsembleMember(tmp_path / f"zk{myid}", myid, peers, config=config,
                              extra_jvm_flags=["-Dreadonlymode.enabled=true"])
               for myid in peers]
    try:
        for member in members:
            member.start(timeout_s=60)
        wait_until(lambda: all(m.serving() for m in members), 90, interval_s=0.5,
                   what="a serving ensemble")
        yield members
    finally:
        for member in members:
            member.stop()


def _read_only(member) -> bool:
    try:
        return four_letter_word(member.host, member.port, "isro", timeout_s=2.0) == "ro"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.zookeeper
def test_a_client_that_allows_it_connects_to_a_read_only_member(read_only_ensemble):
    survivor, *others = read_only_ensemble
    writer = Client(survivor.hosts, timeout=10.0)
    writer.start(timeout=30)
    writer.create("/ro-data", b"kept")
    writer.stop()
    for member in others:  # no quorum left: the survivor serves reads only
        member.kill()
    wait_until(lambda: _read_only(survivor), 60, interval_s=0.5, what="a read-only survivor")
    states = []
    client = Client(survivor.hosts, timeout=10.0, read_only=True)
    client.add_listener(states.append)
    client.start(timeout=30)
    try:
        assert client.state is State.CONNECTED_READ_ONLY
        assert client.get("/ro-data")[0] == b"kept"
        with pytest.raises(errors.NotReadOnlyCallError):
            client.create("/ro-write")
    finally:
        client.stop()
    strict = Client(survivor.hosts, timeout=10.0)  # read_only=False: the survivor refuses it
    with pytest.raises(errors.ClientTimeoutError):
        strict.start(timeout=3)
