"""cversion and sequence counters, Stat bookkeeping, and the built-in /zookeeper nodes.

ZooKeeper 3.8.0 stores C = children ever created and reports cversion = 2*C - numChildren, so
cversion moves on every child create *and* delete while the sequence suffix counts creates only.
"""

import time

import pytest
from kazoo.exceptions import BadArgumentsError
from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id

from tests.semantics.raw import RawSession


def test_cversion_counts_creates_and_deletes_sequence_counts_creates(client, prefix):
    q = f"{prefix}/q"
    client.create(q)
    assert client.create(f"{q}/s", sequence=True) == f"{q}/s0000000000"
    s1 = client.create(f"{q}/s", sequence=True)
    assert s1 == f"{q}/s0000000001"
    client.delete(s1)
    assert client.create(f"{q}/s", sequence=True) == f"{q}/s0000000002"
    stat = client.exists(q)
    assert (stat.cversion, stat.numChildren) == (4, 2)


def test_closing_a_session_with_two_ephemerals_adds_two_to_parent_cversion(client, make_client, prefix):
    client.create(f"{prefix}/w")
    other = make_client()
    other.create(f"{prefix}/w/e1", ephemeral=True)
    other.create(f"{prefix}/w/e2", ephemeral=True)
    before = client.exists(f"{prefix}/w")
    assert (before.cversion, before.numChildren) == (2, 2)
    other.stop()
    after = client.exists(f"{prefix}/w")
    assert (after.cversion, after.numChildren) == (4, 0)
    assert after.pzxid > before.pzxid  # the close transaction touched the parent
    assert after.mzxid == before.mzxid  # but not its data


def test_zxid_bookkeeping_for_data_and_children(client, prefix):
    p = f"{prefix}/p"
    _, created = client.create(p, b"v0", include_data=True)
    assert created.czxid == created.mzxid == created.pzxid

    set_stat = client.set(p, b"v1")
    assert set_stat.czxid == created.czxid
    assert set_stat.mzxid > created.mzxid
    assert set_stat.pzxid == created.pzxid  # setData does not touch pzxid
    assert set_stat.version == 1
    assert set_stat.mtime >= set_stat.ctime == created.ctime

    _, child = client.create(f"{p}/c", b"", include_data=True)
    parent = client.exists(p)
    assert parent.pzxid == child.czxid  # a child create moves pzxid ...
    assert parent.mzxid == set_stat.mzxid  # ... but not mzxid/mtime/version
    assert (parent.version, parent.cversion, parent.numChildren) == (1, 1, 1)

    child_set = client.set(f"{p}/c", b"x")
    assert client.exists(p).pzxid == child.czxid  # a child's setData leaves the parent alone
    client.delete(f"{p}/c")
    parent = client.exists(p)
    assert parent.pzxid > child_set.mzxid
    assert (parent.cversion, parent.numChildren) == (2, 0)


def test_times_are_wall_clock_milliseconds(client, prefix):
    before_ms = int(time.time() * 1000)
    _, stat = client.create(f"{prefix}/t", include_data=True)
    after_ms = int(time.time() * 1000)
    # same machine: allow for clock granularity only, this is not a latency assertion
    assert before_ms - 1000 <= stat.ctime <= after_ms + 1000
    assert stat.mtime == stat.ctime


def test_version_counts_set_data_even_with_identical_data(client, prefix):
    client.create(f"{prefix}/v", b"same")
    assert client.set(f"{prefix}/v", b"same").version == 1
    assert client.set(f"{prefix}/v", b"same").version == 2
    assert client.exists(f"{prefix}/v").dataLength == 4


def test_set_acl_increments_aversion_even_with_the_same_acl(client, prefix):
    before = client.exists(prefix)
    stat = client.set_acls(prefix, OPEN_ACL_UNSAFE)
    assert stat.aversion == before.aversion + 1 == 1
    assert stat.mzxid == before.mzxid  # setACL changes only aversion
    assert stat.mtime == before.mtime
    assert stat.version == before.version
    stat = client.set_acls(prefix, [ACL(31, Id("world", "anyone"))])
    assert stat.aversion == 2


def test_data_length_and_num_children(client, prefix):
    client.create(f"{prefix}/d", b"x" * 1000)
    for name in ("a", "b", "c"):
        client.create(f"{prefix}/d/{name}")
    stat = client.exists(f"{prefix}/d")
    assert (stat.dataLength, stat.numChildren) == (1000, 3)
    assert sorted(client.get_children(f"{prefix}/d")) == ["a", "b", "c"]


def test_get_children_include_data_returns_parent_stat(client, prefix):
    client.create(f"{prefix}/x")
    children, stat = client.get_children(prefix, include_data=True)
    assert children == ["x"]
    assert stat == client.exists(prefix)


def test_each_write_gets_a_larger_zxid(client, prefix):
    zxids = [client.create(f"{prefix}/n{i}", include_data=True)[1].czxid for i in range(5)]
    assert zxids == sorted(zxids) and len(set(zxids)) == 5


# ids avoid the word "zookeeper" so that `-k zookeeper` selects the reference server only
@pytest.mark.parametrize(
    "path", ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"], ids=["root", "zk", "quota", "config"]
)
def test_builtin_nodes_exist_and_cannot_be_deleted(client, path):
    stat = client.exists(path)
    assert stat is not None
    assert (stat.czxid, stat.ctime, stat.ephemeralOwner) == (0, 0, 0)
    with pytest.raises(BadArgumentsError):
        client.delete(path)
    assert client.exists(path) is not None


def test_builtin_subtree_shape_and_acls(client):
    assert sorted(client.get_children("/zookeeper")) == ["config", "quota"]
    assert client.get_children("/zookeeper/quota") == []
    assert client.get_children("/zookeeper/config") == []
    assert "zookeeper" in client.get_children("/")
    world = Id("world", "anyone")
    assert client.get_acls("/")[0] == [ACL(31, world)]
    assert client.get_acls("/zookeeper")[0] == [ACL(31, world)]
    assert client.get_acls("/zookeeper/quota")[0] == [ACL(31, world)]
    assert client.get_acls("/zookeeper/config")[0] == [ACL(1, world)]


def test_builtin_node_stats(client, server):
    zk = client.exists("/zookeeper")
    assert (zk.version, zk.cversion, zk.aversion, zk.numChildren, zk.pzxid) == (0, -2, 0, 2, 0)
    quota = client.exists("/zookeeper/quota")
    assert (quota.version, quota.cversion, quota.aversion, quota.numChildren) == (0, 0, 0, 0)
    data, config = client.get("/zookeeper/config")
    if server.ensemble is None:
        assert data == b""  # standalone: empty
        assert (config.version, config.cversion, config.aversion, config.dataLength) == (0, 0, -1, 0)
    else:
        # An ensemble serves its membership here (version -1, as ZooKeeper reports it).
        lines = data.decode().split("\n")
        assert lines[-1] == "version=0"
        assert [line.split("=")[0] for line in lines[:-1]] == [
            "server.%d" % i for i in sorted(server.ensemble.members)]
        assert all(line.endswith(":participant") for line in lines[:-1])
        assert (config.version, config.cversion, config.aversion) == (-1, 0, -1)
        assert config.dataLength == len(data)


def test_root_stat_sanity(client, prefix):
    root = client.exists("/")
    assert (root.czxid, root.ctime, root.ephemeralOwner) == (0, 0, 0)
    assert root.numChildren == len(client.get_children("/"))
    assert root.pzxid >= client.exists(prefix).czxid


def test_fresh_server_root_counters(fresh_server):
    """Derived in the wire doc, observed here: the built-ins are added without bumping C."""
    r = RawSession(fresh_server.host, fresh_server.port)
    try:
        data, root = r.get_data("/")
        assert data == b""
        assert (root.czxid, root.mzxid, root.pzxid) == (0, 0, 0)
        assert (root.version, root.cversion, root.aversion, root.numChildren) == (0, -1, 0, 1)
        assert r.get_children("/") == ["zookeeper"]
        assert r.get_all_children_number("/") == 3
        r.create("/a")
        root = r.exists("/")
        assert (root.cversion, root.numChildren) == (0, 2)
        assert r.create("/s-", flags=2) == "/s-0000000001"
        r.delete("/a")
        assert r.exists("/").cversion == 2
    finally:
        r.close_session()
