"""Apache ZooKeeper's Java shell (zkCli.sh, 3.8.0) against the server under test.

One zkCli process per test (a JVM start each), commands fed one at a time; every step waits for
its output before the next is sent. zkCli has no multi/transaction command in 3.8.
"""

import re

from tests.semantics.helpers import WAIT_S


def ls_names(match_text):
    return sorted(name.strip() for name in match_text.split(",") if name.strip())


def test_zkcli_basic_commands(zkcli, client, prefix):
    p = prefix
    zkcli.send(f"create {p}/zk hello")
    zkcli.wait_for(rf"^Created {p}/zk$")
    assert client.get(f"{p}/zk")[0] == b"hello"

    zkcli.send(f"get {p}/zk")
    zkcli.wait_for(r"^hello$")

    zkcli.send(f"set {p}/zk world")
    zkcli.send(f"get -s {p}/zk")
    zkcli.wait_for(r"^world$")
    zkcli.wait_for(r"^dataVersion = 1$")
    assert client.get(f"{p}/zk")[0] == b"world"

    zkcli.send(f"stat {p}/zk")
    stat = client.exists(f"{p}/zk")
    zkcli.wait_for(rf"^cZxid = 0x{stat.czxid:x}$", count=2)  # get -s and stat
    zkcli.wait_for(rf"^mZxid = 0x{stat.mzxid:x}$", count=2)
    zkcli.wait_for(r"^dataLength = 5$", count=2)
    zkcli.wait_for(r"^ephemeralOwner = 0x0$", count=2)

    zkcli.send(f"create {p}/zk again")
    zkcli.wait_for(rf"Node already exists: {p}/zk")

    zkcli.send(f"getAcl {p}/zk")
    zkcli.wait_for(r"^'world,'anyone\n: cdrwa$")

    zkcli.send(f"delete {p}/zk")
    zkcli.send(f"get {p}/zk")
    zkcli.wait_for(rf"Node does not exist: {p}/zk")
    assert client.exists(f"{p}/zk") is None


def test_zkcli_ephemeral_sequential_and_ls(zkcli, client, prefix):
    p = prefix
    zkcli.send(f"create -e {p}/eph e")
    zkcli.wait_for(rf"^Created {p}/eph$")
    zkcli.send(f"create -s {p}/seq- s")
    zkcli.wait_for(rf"^Created {p}/seq-0000000001$")
    zkcli.send(f"create -s -e {p}/es- s")
    zkcli.wait_for(rf"^Created {p}/es-0000000002$")
    zkcli.send(f"ls {p}")
    listing = zkcli.wait_for(r"^\[([^\]\n]*)\]$")[-1]
    assert ls_names(listing.group(1)) == ["eph", "es-0000000002", "seq-0000000001"]

    eph = client.exists(f"{p}/eph")
    assert eph.ephemeralOwner != 0
    assert client.exists(f"{p}/es-0000000002").ephemeralOwner == eph.ephemeralOwner
    assert client.exists(f"{p}/seq-0000000001").ephemeralOwner == 0

    zkcli.send("quit")
    assert zkcli.close() is not None
    # closing zkCli's session deleted its ephemerals
    assert client.get_children(p) == ["seq-0000000001"]


def test_zkcli_watch_sees_a_change_made_by_kazoo(zkcli, client, prefix):
    p = prefix
    client.create(f"{p}/w", b"v1")
    zkcli.send(f"get -w {p}/w")
    zkcli.wait_for(r"^v1$")
    client.set(f"{p}/w", b"v2")
    zkcli.wait_for(rf"WATCHER::\s*\nWatchedEvent state:SyncConnected type:NodeDataChanged path:{re.escape(p)}/w$",
                   timeout_s=WAIT_S)
    zkcli.send(f"ls -w {p}")
    zkcli.wait_for(r"^\[w\]$")
    client.create(f"{p}/x")
    zkcli.wait_for(rf"WatchedEvent state:SyncConnected type:NodeChildrenChanged path:{re.escape(p)}$",
                   timeout_s=WAIT_S)


def test_zkcli_newer_commands(zkcli, client, prefix):
    """Commands that make the Java client use 3.6+ opcodes: createContainer, createTTL,
    getEphemerals, getAllChildrenNumber, whoAmI, addWatch, removeWatches."""
    p = prefix
    for command in (f"create -c {p}/cont", f"create -t 600000 {p}/ttl t", f"create -e {p}/e1", f"create -e {p}/e2"):
        zkcli.send(command)
    zkcli.wait_for(rf"^Created {p}/e2$")

    zkcli.send(f"getEphemerals {p}")
    listing = zkcli.wait_for(r"^\[(/[^\]\n]*)\]$")[-1]
    assert ls_names(listing.group(1)) == [f"{p}/e1", f"{p}/e2"]
    zkcli.send(f"getAllChildrenNumber {p}")
    zkcli.wait_for(r"^4$")

    zkcli.send("whoami")
    zkcli.wait_for(r"^Auth scheme: User\nip: 127\.0\.0\.1$")
    zkcli.send("addauth digest alice:secret")
    zkcli.send("whoami")
    zkcli.wait_for(r"^digest: alice$")

    zkcli.send(f"addWatch -m PERSISTENT_RECURSIVE {p}")
    zkcli.send(f"sync {p}")  # replies in order: once the sync is OK the watch is registered
    zkcli.wait_for(r"^Sync is OK$")
    client.create(f"{p}/cont/child")
    client.set(f"{p}/cont/child", b"x")
    client.delete(f"{p}/cont/child")
    for event in ("NodeCreated", "NodeDataChanged", "NodeDeleted"):
        zkcli.wait_for(rf"WatchedEvent state:SyncConnected type:{event} path:{re.escape(p)}/cont/child$")
    # the container's last child went, so the server reaps it; the recursive watch reports it
    zkcli.wait_for(rf"WatchedEvent state:SyncConnected type:NodeDeleted path:{re.escape(p)}/cont$", timeout_s=WAIT_S)
    assert client.exists(f"{p}/cont") is None
    assert zkcli.count("NodeChildrenChanged") == 0

    zkcli.send(f"removewatches {p} -a")
    zkcli.wait_for(rf"WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:{re.escape(p)}$")
    zkcli.send(f"removewatches {p} -a")
    zkcli.wait_for(rf"KeeperErrorCode = No such watcher for {re.escape(p)}$")
