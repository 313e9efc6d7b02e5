"""DataTree + prep against a plain model, and fuzzy snapshots against straight application."""

import random

import pytest
from hypothesis import given, settings, strategies as st

from coord.protocol.codes import Err, OpCode
from coord.protocol.records import CreateRequest, CreateTTLRequest, DeleteRequest, SetDataRequest
from coord.tree import acl as acls
from coord.tree import prep as P
from coord.tree import txns as T
from coord.tree.datatree import DataTree

OPEN = list(acls.OPEN_ACL_UNSAFE)


def ctx(session_id=1, identities=(("ip", "127.0.0.1"),)):
    return P.PrepContext(session_id, list(identities), 0)


class Applier:
    """Prep + apply with a running zxid, as the server does."""

    def __init__(self, tree=None):
        self.tree = tree or DataTree()
        self.zxid = self.tree.last_zxid
        self.log = []

    def commit(self, txn, session_id=1):
        self.zxid += 1
        header = T.TxnHeader(session_id, 0, self.zxid, 1000 + self.zxid)
        payload = T.encode(header, txn)
        self.log.append(payload)
        # what the log stores must decode to what we apply
        assert T.decode(payload) == (header, txn)
        return self.tree.apply(header, txn)

    def create(self, path, data=b"", flags=0, session_id=1):
        txn = P.prep_create(self.tree, OpCode.CREATE, CreateRequest(path, data, OPEN, flags), ctx(session_id))
        self.commit(txn, session_id)
        return txn.path

    def delete(self, path, version=-1):
        self.commit(P.prep_delete(self.tree, DeleteRequest(path, version), ctx()))

    def set(self, path, data, version=-1):
        self.commit(P.prep_set_data(self.tree, SetDataRequest(path, data, version), ctx()))


def test_builtin_nodes_and_root_cversion():
    tree = DataTree()
    assert set(tree.nodes) == {"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"}
    assert tree.get("/").stat().cversion == -1
    assert tree.get("/zookeeper").stat().cversion == -2


def test_cversion_counts_creates_and_deletes_sequence_counts_creates():
    a = Applier()
    a.create("/s")
    assert a.create("/s/x-", flags=2) == "/s/x-0000000000"
    assert a.create("/s/x-", flags=2) == "/s/x-0000000001"
    a.delete("/s/x-0000000001")
    assert a.create("/s/x-", flags=2) == "/s/x-0000000002"
    stat = a.tree.get("/s").stat()
    assert (stat.cversion, stat.num_children) == (4, 2)


def test_stat_fields_follow_zookeeper():
    a = Applier()
    a.create("/n", b"abc")
    created = a.zxid
    a.set("/n", b"de")
    stat = a.tree.get("/n").stat()
    assert (stat.czxid, stat.mzxid, stat.pzxid) == (created, created + 1, created)
    assert (stat.version, stat.data_length, stat.ephemeral_owner) == (1, 2, 0)
    a.create("/n/c")
    assert a.tree.get("/n").stat().pzxid == a.zxid
    assert a.tree.get("/n").stat().mzxid == created + 1   # a child doesn't touch mzxid


def test_prep_errors_in_zookeeper_order():
    a = Applier()
    a.create("/m")
    c = ctx()
    with pytest.raises(P.OpError) as e:
        P.prep_create(a.tree, OpCode.CREATE, CreateRequest("/m//a", b"", OPEN, 0), c)
    assert e.value.code == Err.NO_NODE
    with pytest.raises(P.OpError) as e:
        P.prep_create(a.tree, OpCode.CREATE, CreateRequest("/m/", b"", OPEN, 0), c)
    assert e.value.code == Err.BAD_ARGUMENTS
    with pytest.raises(P.OpError) as e:
        P.prep_create(a.tree, OpCode.CREATE, CreateRequest("/m", b"", [], 0), c)
    assert e.value.code == Err.INVALID_ACL
    with pytest.raises(P.OpError) as e:
        P.prep_create(a.tree, OpCode.CREATE, CreateRequest("/m", b"", OPEN, 9), c)
    assert e.value.code == Err.BAD_ARGUMENTS
    with pytest.raises(P.OpError) as e:
        P.prep_create(a.tree, OpCode.CREATE, CreateRequest("/t", b"", OPEN, 5), c)
    assert e.value.code == Err.BAD_ARGUMENTS   # TTL mode without a TTL
    with pytest.raises(P.OpError) as e:
        P.prep_create(a.tree, OpCode.CREATE_TTL, CreateTTLRequest("/t", b"", OPEN, 5, 0), c)
    assert e.value.code == Err.BAD_ARGUMENTS   # TTL out of range
    with pytest.raises(P.OpError) as e:
        P.prep_delete(a.tree, DeleteRequest("/zookeeper", -1), c)
    assert e.value.code == Err.BAD_ARGUMENTS
    with pytest.raises(P.OpError) as e:
        P.prep_set_data(a.tree, SetDataRequest("/m", b"", 3), c)
    assert e.value.code == Err.BAD_VERSION


def test_ephemeral_parent_and_session_close():
    a = Applier()
    a.create("/p")
    a.commit(T.CreateSessionTxn(7, 4000, b"x" * 16), 7)
    a.create("/p/e1", flags=1, session_id=7)
    a.create("/p/e2", flags=1, session_id=7)
    with pytest.raises(P.OpError) as e:
        P.prep_create(a.tree, OpCode.CREATE, CreateRequest("/p/e1/c", b"", OPEN, 0), ctx(7))
    assert e.value.code == Err.NO_CHILDREN_FOR_EPHEMERALS
    before = a.tree.get("/p").stat().cversion
    triggers = a.commit(T.CloseSessionTxn(7), 7)
    assert a.tree.get("/p").stat().cversion == before + 2
    assert [t[:2] for t in triggers if t[0] == 2] == [(2, "/p/e1"), (2, "/p/e2")]
    assert 7 not in a.tree.sessions and not a.tree.ephemerals


def test_multi_view_sees_earlier_ops():
    tree = DataTree()
    view = P.MultiView(tree)
    t1 = P.prep_create(view, OpCode.CREATE, CreateRequest("/a", b"", OPEN, 0), ctx())
    view.note(t1)
    t2 = P.prep_create(view, OpCode.CREATE, CreateRequest("/a/b", b"", OPEN, 0), ctx())
    view.note(t2)
    with pytest.raises(P.OpError) as e:
        P.prep_delete(view, DeleteRequest("/a", -1), ctx())
    assert e.value.code == Err.NOT_EMPTY
    assert tree.get("/a") is None   # nothing applied yet


def test_digest_acl():
    assert acls.digest("user:password") == "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="


# -- the tree against a plain model, and fuzzy snapshots ------------------------------------------

NAMES = ["a", "b", "c"]


def random_ops(rng, count):
    ops = []
    for _ in range(count):
        depth = rng.randint(1, 3)
        path = "/" + "/".join(rng.choice(NAMES) for _ in range(depth))
        ops.append((rng.choice(["create", "create", "delete", "set", "eph", "seq"]), path,
                    bytes([rng.randrange(256)]) if rng.random() < 0.8 else None))
    return ops


def run_ops(applier, ops, model=None, between=None):
    for index, (kind, path, data) in enumerate(ops):
        if between is not None:
            between(index)
        try:
            if kind == "create":
                applier.create(path, data)
                if model is not None:
                    model[path] = data
            elif kind == "eph":
                applier.create(path, data, flags=1, session_id=5)
                if model is not None:
                    model[path] = data
            elif kind == "seq":
                created = applier.create(path, data, flags=2)
                if model is not None:
                    model[created] = data
            elif kind == "delete":
                applier.delete(path)
                if model is not None:
                    del model[path]
            else:
                applier.set(path, data)
                if model is not None:
                    model[path] = data
        except P.OpError:
            pass


def tree_state(tree):
    return {path: (n.data, n.acl, n.czxid, n.mzxid, n.ctime, n.mtime, n.version, n.cversion,
                   n.aversion, n.ephemeral_owner, n.pzxid, frozenset(n.children))
            for path, n in tree.nodes.items()}


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32))
def test_tree_matches_model(seed):
    rng = random.Random(seed)
    a = Applier()
    a.commit(T.CreateSessionTxn(5, 4000, b"p" * 16), 5)
    model = {}
    run_ops(a, random_ops(rng, 80), model)
    user = {p: n.data for p, n in a.tree.nodes.items() if p != "/" and not p.startswith("/zookeeper")}
    assert user == model
    for path, node in a.tree.nodes.items():
        for name in node.children:
            assert (path.rstrip("/") + "/" + name) in a.tree.nodes


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32))
def test_fuzzy_snapshot_plus_replay_equals_straight_application(seed):
    """Serialize while transactions keep applying; snapshot + replay must give the final tree."""
    rng = random.Random(seed)
    a = Applier()
    a.commit(T.CreateSessionTxn(5, 4000, b"p" * 16), 5)
    run_ops(a, random_ops(rng, 40))
    log_start = len(a.log)
    chunks = []
    start_zxid, generator = a.tree.snapshot(nodes_per_chunk=rng.randint(1, 4))
    assert start_zxid == a.tree.last_zxid

    def between(_index):
        if rng.random() < 0.5:
            chunk = next(generator, None)
            if chunk is not None:
                chunks.append(chunk)

    ops = random_ops(rng, 60)
    if rng.random() < 0.3:
        ops.append(("close", "/", None))
    run_ops(a, [o for o in ops if o[0] != "close"], between=between)
    if ops[-1][0] == "close":
        a.commit(T.CloseSessionTxn(5), 5)
    chunks.extend(generator)
    recovered, zxid = DataTree.from_snapshot(b"".join(chunks))
    assert zxid == start_zxid
    for payload in a.log[log_start:]:
        header, txn = T.decode(payload)
        recovered.apply(header, txn, tolerant=True)
    assert tree_state(recovered) == tree_state(a.tree)
    assert recovered.sessions == a.tree.sessions
    assert recovered.ephemerals == a.tree.ephemerals


# -- snapshot encoding ---------------------------------------------------------------------------

def _digest_acl(user):
    from coord.protocol.records import ACL, Id
    return (ACL(31, Id("digest", user + ":hash=")),)


def _tree_with_every_kind_of_node():
    from coord.tree.datatree import CONTAINER_OWNER, ttl_owner
    a = Applier()
    a.commit(T.CreateSessionTxn(5, 4000, b"p" * 16), 5)
    a.commit(T.CreateTxn("/a", b"", acls.OPEN_ACL_UNSAFE, 0, 1))
    a.commit(T.CreateTxn("/a/none", None, acls.OPEN_ACL_UNSAFE, 0, 1))
    a.commit(T.CreateTxn("/a/eph", b"e", acls.OPEN_ACL_UNSAFE, 5, 2), 5)
    a.commit(T.CreateTxn("/a/box", b"", acls.OPEN_ACL_UNSAFE, CONTAINER_OWNER, 3))
    a.commit(T.CreateTxn("/a/ttl", b"t", acls.OPEN_ACL_UNSAFE, ttl_owner(5000), 4))
    a.commit(T.CreateTxn("/a/bin", bytes(range(256)), _digest_acl("bob"), 0, 5))
    a.commit(T.CreateTxn("/a/ünï", b"u", _digest_acl("eve"), 0, 6))
    a.commit(T.SetACLTxn("/a/bin", _digest_acl("carol"), 1))
    a.commit(T.SetDataTxn("/a", b"x" * 1000, 1))
    return a.tree


def test_snapshot_round_trip_keeps_every_field_and_shares_equal_acls():
    tree = _tree_with_every_kind_of_node()
    _, chunks = tree.snapshot(nodes_per_chunk=2)
    loaded, _ = DataTree.from_snapshot(b"".join(chunks))
    assert tree_state(loaded) == tree_state(tree)
    assert (loaded.ephemerals, loaded.containers, loaded.ttl_nodes, loaded.sessions) == \
        (tree.ephemerals, tree.containers, tree.ttl_nodes, tree.sessions)
    assert loaded.nodes["/a"].acl is loaded.nodes["/a/eph"].acl   # one shared tuple
    assert loaded.nodes["/a/none"].data is None


def test_a_version_1_snapshot_is_still_read():
    """Version 1 wrote every node's ACL list in full; data dirs written then must still load."""
    from coord.protocol.jute import (write_buffer, write_int, write_long, write_ustring,
                                     write_vector)
    tree = _tree_with_every_kind_of_node()
    out = bytearray(b"CORDTREE")
    write_int(out, 1)
    write_long(out, tree.last_zxid)
    write_int(out, len(tree.sessions))
    for session_id, (timeout_ms, passwd) in tree.sessions.items():
        write_long(out, session_id)
        write_int(out, timeout_ms)
        write_buffer(out, passwd)
    for path, node in tree.nodes.items():
        write_int(out, 1)
        write_ustring(out, path)
        write_buffer(out, node.data)
        write_vector(out, node.acl, lambda o, a: a.serialize(o))
        for value in (node.czxid, node.mzxid, node.ctime, node.mtime):
            write_long(out, value)
        for value in (node.version, node.cversion, node.aversion):
            write_int(out, value)
        write_long(out, node.ephemeral_owner)
        write_long(out, node.pzxid)
    write_int(out, 0)
    loaded, zxid = DataTree.from_snapshot(bytes(out))
    assert zxid == tree.last_zxid
    assert tree_state(loaded) == tree_state(tree)
    assert loaded.ephemerals == tree.ephemerals


def test_a_truncated_snapshot_is_an_error_not_a_smaller_tree():
    tree = _tree_with_every_kind_of_node()
    data = b"".join(tree.snapshot()[1])
    for cut in (len(data) - 1, len(data) - 30, len(data) // 2):
        with pytest.raises(ValueError):
            DataTree.from_snapshot(data[:cut])
