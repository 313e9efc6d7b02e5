"""Read-only mode (readonlymode.enabled): a member cut off from its quorum keeps serving reads to
clients that allow it, answers writes NotReadOnly, and returns to normal with its quorum."""

import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NotReadOnlyCallError

from coord.protocol import records as R
from coord.protocol.client_conn import Connected, ReplyReceived
from coord.protocol.codes import Err, OpCode
from coord.testing.ensemble import InMemoryEnsemble
from coord.testing.servers import Ensemble as ProcessEnsemble, four_letter_word
from coord.tree import acl as acls

OPEN = list(acls.OPEN_ACL_UNSAFE)


def cut_off_member(**config):
    ens = InMemoryEnsemble(size=3, read_only_mode=True, **config)
    leader = ens.elect()
    writer = ens.connect(leader.id)
    writer.send(OpCode.CREATE, R.CreateRequest("/x", b"kept", OPEN, 0))
    lonely = [i for i in ens.members if i != leader.id][0]
    ens.isolate(lonely)
    for _ in range(60):      # 2 x the election timeout without a leader
        ens.tick()
    return ens, lonely


def test_a_member_without_quorum_serves_read_only_clients():
    ens, lonely = cut_off_member()
    core = ens.members[lonely].core
    assert core.read_only and core.mode == "read-only"
    ro = ens.connect(lonely, read_only=True)
    assert isinstance(ro.events[0], Connected) and ro.events[0].response.read_only is True
    ro.send(OpCode.GET_DATA, R.GetDataRequest("/x", False))
    ro.send(OpCode.CREATE, R.CreateRequest("/y", b"", OPEN, 0))
    ro.send(OpCode.SYNC, R.SyncRequest("/"))
    replies = [e for e in ro.events if isinstance(e, ReplyReceived)]
    assert replies[0].response.data == b"kept"
    assert [r.err for r in replies[1:]] == [Err.NOT_READ_ONLY, Err.NOT_READ_ONLY]
    rw = ens.connect(lonely, read_only=False)
    assert rw.closed and rw.events == []          # a read-write client must look elsewhere
    ens.heal()
    for _ in range(100):
        ens.tick()
        if not core.read_only:
            break
    assert core.mode == "follower" and ro.closed  # back to normal; read-only clients reconnect


def test_without_read_only_mode_a_cut_off_member_serves_nobody():
    ens = InMemoryEnsemble(size=3)
    leader = ens.elect()
    lonely = [i for i in ens.members if i != leader.id][0]
    ens.isolate(lonely)
    for _ in range(60):
        ens.tick()
    core = ens.members[lonely].core
    assert not core.read_only and not core.serving


@pytest.mark.timeout(180)
def test_read_only_mode_with_real_processes(tmp_path):
    with ProcessEnsemble("coord", tmp_path / "ro", size=3,
                         config={"readonlymode.enabled": "true"}) as ens:
        setup = KazooClient(hosts=ens.hosts)
        setup.start(timeout=20)
        setup.create("/ro-data", b"before")
        setup.stop()
        setup.close()
        survivor = ens.member(1)
        for i in (2, 3):
            ens.member(i).kill()
        deadline = time.monotonic() + 30
        while four_letter_word(survivor.host, survivor.port, "isro") != "ro":
            assert time.monotonic() < deadline, "no read-only mode"
            time.sleep(0.1)
        srvr = four_letter_word(survivor.host, survivor.port, "srvr")
        assert srvr.startswith("READ-ONLY mode") and "Mode: read-only" in srvr
        client = KazooClient(hosts=survivor.hosts, read_only=True)
        client.start(timeout=30)
        try:
            assert client.get("/ro-data")[0] == b"before"
            with pytest.raises(NotReadOnlyCallError):
                client.create("/ro-write")
        finally:
            client.stop()
            client.close()
        for i in (2, 3):
            ens.member(i).start(timeout_s=60)
        deadline = time.monotonic() + 30
        while four_letter_word(survivor.host, survivor.port, "isro") != "rw":
            assert time.monotonic() < deadline, "did not leave read-only mode"
            time.sleep(0.1)
