"""Quota bookkeeping in the pure tree: zookeeper_stats follows the subtree through every kind of
change, survives fuzzy snapshots + replay, and limits are judged as ZooKeeperServer.checkQuota."""

import random

from hypothesis import given, settings, strategies as st

from coord.tree import txns as T
from coord.tree.datatree import DataTree
from coord.tree.quotas import Quotas, format_stats, parse_stats
from tests.tree.test_datatree import NAMES, Applier, random_ops, run_ops


def actual(tree, path):
    """count/bytes of the subtree at ``path`` (itself included), counted from scratch."""
    count = size = 0
    for p, node in tree.nodes.items():
        if p == path or p.startswith(path + "/"):
            count += 1
            size += len(node.data or b"")
    return {"count": count, "bytes": size}


def with_quotas(applier, paths):
    for path in paths:
        applier.create("/zookeeper/quota" + path, b"")
        applier.create("/zookeeper/quota%s/zookeeper_limits" % path, b"count=3,bytes=-1")
        applier.create("/zookeeper/quota%s/zookeeper_stats" % path, b"count=0,bytes=0")


def stats_of(tree, path):
    return parse_stats(tree.nodes["/zookeeper/quota%s/zookeeper_stats" % path].data)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32))
def test_stats_follow_the_subtree(seed):
    rng = random.Random(seed)
    a = Applier()
    a.commit(T.CreateSessionTxn(5, 4000, b"p" * 16), 5)
    run_ops(a, random_ops(rng, 20))
    quota_paths = sorted({"/" + rng.choice(NAMES) for _ in range(2)})
    with_quotas(a, quota_paths)
    run_ops(a, random_ops(rng, 60))
    if rng.random() < 0.5:
        a.commit(T.CloseSessionTxn(5), 5)
    for path in quota_paths:
        # Nested quotas are not made here (zkCli refuses them), so each subtree is counted once.
        assert stats_of(a.tree, path) == actual(a.tree, path)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32))
def test_fuzzy_snapshot_and_replay_keep_the_stats(seed):
    rng = random.Random(seed)
    a = Applier()
    a.commit(T.CreateSessionTxn(5, 4000, b"p" * 16), 5)
    quota_paths = sorted({"/" + rng.choice(NAMES) for _ in range(2)})
    with_quotas(a, quota_paths)
    run_ops(a, random_ops(rng, 30))
    log_start = len(a.log)
    chunks = []
    start_zxid, generator = a.tree.snapshot(nodes_per_chunk=rng.randint(1, 4))

    def between(_index):
        if rng.random() < 0.5:
            chunk = next(generator, None)
            if chunk is not None:
                chunks.append(chunk)

    run_ops(a, random_ops(rng, 40), between=between)
    chunks.extend(generator)
    recovered, _ = DataTree.from_snapshot(b"".join(chunks))
    for payload in a.log[log_start:]:
        header, txn = T.decode(payload)
        recovered.apply(header, txn, tolerant=True)
    assert recovered.quotas.paths == a.tree.quotas.paths == set(quota_paths)
    for path in quota_paths:
        assert stats_of(recovered, path) == stats_of(a.tree, path) == actual(a.tree, path)


def test_deepest_quota_governs_and_limits_node_delete_stops_counting():
    a = Applier()
    a.create("/a")
    a.create("/a/b")
    with_quotas(a, ["/a", "/a/b"])
    a.create("/a/b/c", b"xyz")
    assert stats_of(a.tree, "/a/b") == {"count": 2, "bytes": 3}
    assert stats_of(a.tree, "/a") == {"count": 2, "bytes": 0}   # as ZooKeeper: not both
    a.delete("/zookeeper/quota/a/b/zookeeper_limits")
    a.create("/a/b/d", b"1")
    assert stats_of(a.tree, "/a/b") == {"count": 2, "bytes": 3}
    assert stats_of(a.tree, "/a") == {"count": 3, "bytes": 1}


def test_stats_text_round_trips_zookeepers_format():
    text = b"count=3,bytes=-1=;byteHardLimit=100;countHardLimit=-1"
    assert parse_stats(text) == {"count": 3, "bytes": -1, "byteHardLimit": 100, "countHardLimit": -1}
    assert format_stats(parse_stats(text)) == text
    assert format_stats({}) == b"count=-1,bytes=-1"
    assert parse_stats(b"count=,bytes=x;junk") == {"count": -1}


def test_check_picks_the_hard_limit_and_names_it():
    a = Applier()
    a.create("/q")
    a.create("/zookeeper/quota/q")
    a.create("/zookeeper/quota/q/zookeeper_limits",
             format_stats({"count": 1, "bytes": 10, "countHardLimit": 2}))
    a.create("/zookeeper/quota/q/zookeeper_stats", b"")
    quotas = a.tree.quotas
    assert quotas.check(a.tree, "/q/x", 1, 1) == ("/q", None)          # 2 <= hard 2
    a.create("/q/x")
    assert quotas.check(a.tree, "/q/y", 0, 1) == (
        "/q", ("Quota exceeded: /q [current count=3, hardCountLimit=2]", True))
    assert quotas.check(a.tree, "/q/x", 11, 0) == (
        "/q", ("Quota exceeded: /q [current bytes=11, softByteLimit=10]", False))
    assert quotas.check(a.tree, "/elsewhere", 100, 1) == (None, None)
    assert Quotas().governing("/q") is None
