"""Differential test: the same random operations against Apache ZooKeeper and coord, side by side.

Each seed drives one kazoo session per server through a random mix of creates (every mode kazoo
can send), deletes and setData with right and wrong versions, reads, and transactions, on a small
set of paths so that conflicts are frequent. After every operation the two servers must have given
the same answer: the same result or exception, the same data, the same sorted children, and the
same Stat apart from values a client cannot expect to match (times, zxids, session ids), which are
compared by their relations instead (czxid == mzxid, pzxid == czxid, ephemeral or not). A second
session per server sets data, exists and child watches at random; the notifications it has
received must be the same after every step.
"""

import random

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from coord.testing.servers import CoordProcess, Ensemble, ZooKeeperProcess
from tests.conftest import require_zookeeper
from tests.semantics.helpers import WatchRecorder

STEPS = 80
NAMES = ["a", "b", "c"]


@pytest.fixture(scope="module", params=["standalone", "ensemble"])
def both(request, tmp_path_factory):
    """(writer, watcher) sessions on ZooKeeper and on coord. With ``ensemble``, coord is a
    3-member ensemble whose writer talks to one follower and whose watcher talks to the other."""
    require_zookeeper()
    reference = ZooKeeperProcess(tmp_path_factory.mktemp("diff-zk"))
    if request.param == "standalone":
        coord = CoordProcess(tmp_path_factory.mktemp("diff-coord"))
    else:
        coord = Ensemble("coord", tmp_path_factory.mktemp("diff-coord-ensemble"), size=3)
    started = []
    clients = []
    try:
        for system in (reference, coord):
            system.start()
            started.append(system)
        coord_hosts = [coord.hosts, coord.hosts]
        if request.param == "ensemble":
            leader = coord.leader()
            coord_hosts = [coord.member(i).hosts for i in sorted(coord.members) if i != leader]
        for hosts in [reference.hosts, reference.hosts] + coord_hosts:
            client = KazooClient(hosts=hosts, timeout=15)
            client.start(timeout=20)
            clients.append(client)
        yield [(clients[0], clients[1]), (clients[2], clients[3])]
    finally:
        for client in clients:
            client.stop()
            client.close()
        for system in started:
            system.stop()


def stat_shape(stat):
    if stat is None:
        return None
    return (stat.version, stat.cversion, stat.aversion, stat.dataLength, stat.numChildren,
            stat.ephemeralOwner != 0, stat.czxid == stat.mzxid, stat.pzxid == stat.czxid)


def outcome(call):
    try:
        result = call()
    except KazooException as e:
        return ("error", type(e).__name__)
    except ValueError as e:           # kazoo's own client-side path checks
        return ("client error", str(e))
    return ("ok", normalise(result))


def normalise(result):
    if isinstance(result, tuple) and len(result) == 2 and hasattr(result[1], "czxid"):
        return (result[0], stat_shape(result[1]))      # get -> (data, stat)
    if hasattr(result, "czxid"):
        return stat_shape(result)
    if isinstance(result, list):
        if all(isinstance(x, str) for x in result) and not any(x.startswith("/") for x in result):
            return sorted(result)                      # children
        return [type(x).__name__ if isinstance(x, Exception) else normalise(x) for x in result]
    return result


def random_path(rng, base):
    depth = rng.choice([1, 1, 1, 2, 2, 3])    # shallow paths exist more often: more conflicts
    return base + "".join("/" + rng.choice(NAMES) for _ in range(depth))


def random_operation(rng, base):
    """A function of a client (and its base path) doing one random operation."""
    path = random_path(rng, base)
    data = rng.choice([b"", b"x", b"yy" * rng.randint(1, 5)])
    version = rng.choice([-1, -1, 0, 1, 2])
    kind = rng.choice(["create", "create", "create", "delete", "set", "set", "get", "exists",
                       "children", "transaction", "sync"])
    if kind == "create":
        ephemeral, sequence = rng.random() < 0.3, rng.random() < 0.3
        return lambda zk, p=path: zk.create(p, data, ephemeral=ephemeral, sequence=sequence)
    if kind == "delete":
        return lambda zk, p=path: zk.delete(p, version=version)
    if kind == "set":
        return lambda zk, p=path: zk.set(p, data, version=version)
    if kind == "get":
        return lambda zk, p=path: zk.get(p)
    if kind == "exists":
        return lambda zk, p=path: zk.exists(p)
    if kind == "children":
        return lambda zk, p=path: zk.get_children(p)
    if kind == "sync":
        return lambda zk, p=path: zk.sync(p)
    steps = []
    for _ in range(rng.randint(0, 4)):
        op_path = random_path(rng, base)
        op = rng.choice(["create", "delete", "set", "check"])
        steps.append((op, op_path, rng.choice([-1, 0, 1]), rng.random() < 0.3))

    def transaction(zk):
        t = zk.transaction()
        for op, op_path, op_version, flag in steps:
            if op == "create":
                t.create(op_path, b"t", ephemeral=flag)
            elif op == "delete":
                t.delete(op_path, version=op_version)
            elif op == "set":
                t.set_data(op_path, b"t", version=op_version)
            else:
                t.check(op_path, op_version)
        return t.commit()
    return transaction


def random_watch(rng, base):
    """A function of (watching client, recorder) setting one random watch."""
    path = random_path(rng, base)
    kind = rng.choice(["get", "exists", "exists", "children"])
    if kind == "get":
        return lambda zk, rec: zk.get(path, watch=rec)
    if kind == "exists":
        return lambda zk, rec: zk.exists(path, watch=rec)
    return lambda zk, rec: zk.get_children(path, watch=rec)


def read_tree(zk, base):
    tree = {}
    stack = [base]
    while stack:
        path = stack.pop()
        data, stat = zk.get(path)
        tree[path[len(base):]] = (data, stat_shape(stat))
        stack.extend(path + "/" + child for child in zk.get_children(path))
    return tree


@pytest.mark.parametrize("seed", list(range(20)) + [
    pytest.param(seed, marks=pytest.mark.slow) for seed in range(20, 400)])
def test_same_answers_for_random_operations(both, seed):
    rng = random.Random(seed)
    base = "/diff-%d" % seed
    recorders = [WatchRecorder(watcher) for _, watcher in both]
    for writer, _ in both:
        writer.create(base)
    for step in range(STEPS):
        if rng.random() < 0.35:
            watch = random_watch(rng, base)
            answers = [outcome(lambda w=watcher, r=rec: watch(w, r))
                       for (_, watcher), rec in zip(both, recorders)]
        else:
            operation = random_operation(rng, base)
            answers = [outcome(lambda zk=writer: operation(zk)) for writer, _ in both]
        assert answers[0] == answers[1], "seed %d step %d: zookeeper %r, coord %r" % (
            seed, step, answers[0], answers[1])
        events = [[(e.type, e.path) for e in rec.settle()] for rec in recorders]
        assert events[0] == events[1], "seed %d step %d: notifications differ" % (seed, step)
    trees = [read_tree(writer, base) for writer, _ in both]
    assert trees[0] == trees[1], "seed %d: final trees differ" % seed
