"""ZooKeeper's tree and transactions <-> coord's ``DataTree``, in memory.

Theory of operation
-------------------
Import rebuilds what a restarted ZooKeeper would hold: ``DataTree.restore`` takes the newest
valid snapshot with every stat field as stored, then each log record after the snapshot's zxid is
turned into the coord transaction with the same effect and applied with ``tolerant=True``, because
ZooKeeper snapshots are fuzzy (both stores replay a create over an existing node or a delete of a
missing one without harm, and keep a parent's larger cversion/pzxid). ZooKeeper decides nothing
at replay time either: its records carry absolute versions and the parent's new cversion, like
coord's. Finally the ephemerals of sessions the session table no longer holds are deleted, as
``ZooKeeperServer.loadData`` does ("clean up dead sessions"), at the last zxid.

Mapping: create/create2 (ephemeral owner = the header's session), createContainer and createTTL
(owner markers are the same numbers in both), delete/deleteContainer, setData and reconfig (a
setData of /zookeeper/config), setACL, createSession (the password is recomputed the way ZooKeeper
does), closeSession (its listed paths, then its remaining ephemerals), multi (nothing when any
sub-transaction failed, as DataTree.processTxn). error and check records change nothing but still
advance the last zxid.

Export writes the tree parents first with the stored stat fields, the session table and a digest
computed as ZooKeeper's DigestCalculator does, which ZooKeeper checks when it loads the snapshot.
"""

import zlib

from coord.migration import zkformat as Z
from coord.protocol.codes import OpCode
from coord.tree import txns as T
from coord.tree.datatree import CONTAINER_OWNER, DataTree, ttl_owner
from coord.tree.paths import split_path


def tree_from_snapshot(snapshot: Z.Snapshot) -> DataTree:
    sessions = {sid: (timeout_ms, Z.session_password(sid)) for sid, timeout_ms in snapshot.sessions}
    rows = snapshot.nodes if snapshot.flat else (
        (node.path, node.data, node.acl, *node.stat) for node in snapshot.nodes)
    return DataTree.restore(snapshot.zxid, sessions, rows)


def coord_txn(tree: DataTree, header: Z.TxnHeader, txn):
    """The coord transaction with the effect of a ZooKeeper record on ``tree``; None if it has none."""
    kind = header.type
    if kind in (OpCode.CREATE, OpCode.CREATE2):
        return _create(tree, txn, header.client_id if txn.ephemeral else 0)
    if kind == OpCode.CREATE_CONTAINER:
        return _create(tree, txn, CONTAINER_OWNER)
    if kind == OpCode.CREATE_TTL:
        return _create(tree, txn, ttl_owner(txn.ttl_ms))
    if kind in (OpCode.DELETE, OpCode.DELETE_CONTAINER):
        return T.DeleteTxn(txn.path)
    if kind in (OpCode.SET_DATA, OpCode.RECONFIG):
        return T.SetDataTxn(txn.path, txn.data, txn.version)
    if kind == OpCode.SET_ACL:
        return T.SetACLTxn(txn.path, txn.acl, txn.version)
    if kind == OpCode.CREATE_SESSION:
        return T.CreateSessionTxn(header.client_id, txn.timeout_ms, Z.session_password(header.client_id))
    if kind == OpCode.CLOSE_SESSION:
        close = T.CloseSessionTxn(header.client_id)
        if not txn.paths_to_delete:
            return close
        return T.MultiTxn(tuple(T.DeleteTxn(p) for p in txn.paths_to_delete) + (close,))
    if kind == OpCode.MULTI:
        if any(sub_type == OpCode.ERROR for sub_type, _ in txn.txns):
            return None
        subs = []
        for sub_type, sub in txn.txns:
            converted = coord_txn(tree, header._replace(type=sub_type), sub)
            if converted is not None:
                subs.append(converted)
        return T.MultiTxn(tuple(subs))
    if kind in (OpCode.ERROR, OpCode.CHECK):
        return None
    raise ValueError(f"transaction type {kind} cannot be imported")


def _create(tree, txn, owner):
    parent_cversion = txn.parent_cversion
    if parent_cversion == -1:
        # CreateTxnV0 (pre-3.3 logs): "one more than the parent's", decided at replay.
        parent = tree.get(split_path(txn.path)[0])
        parent_cversion = parent.cversion + 1 if parent is not None else 0
    return T.CreateTxn(txn.path, txn.data, txn.acl, owner, parent_cversion)


_NOTHING = T.MultiTxn(())


def apply_record(tree: DataTree, record: Z.LogRecord) -> None:
    header = record.header
    txn = coord_txn(tree, header, record.txn)
    tree.apply(T.TxnHeader(header.client_id, header.cxid, header.zxid, header.time_ms),
               _NOTHING if txn is None else txn, tolerant=True)


def drop_dead_sessions(tree: DataTree) -> list:
    """Delete the ephemerals whose owner is not in the session table; returns those session ids."""
    dead = sorted(sid for sid in tree.ephemerals if sid not in tree.sessions)
    for session_id in dead:
        tree.apply(T.TxnHeader(0, 0, tree.last_zxid, 0), T.CloseSessionTxn(session_id), tolerant=True)
    return dead


# -- coord -> ZooKeeper ------------------------------------------------------------------------------


def snapshot_nodes(tree: DataTree):
    """The tree as ZooKeeper snapshot nodes, parents first (children sorted, for stable output)."""
    nodes = tree.nodes
    stack = ["/"]
    while stack:
        path = stack.pop()
        node = nodes[path]
        yield Z.SnapshotNode(path, node.data, node.acl, Z.StatPersisted(
            node.czxid, node.mzxid, node.ctime, node.mtime, node.version, node.cversion,
            node.aversion, node.ephemeral_owner, node.pzxid))
        base = path if path != "/" else ""
        stack.extend(base + "/" + name for name in sorted(node.children, reverse=True))


def digest_of(tree: DataTree) -> int:
    """ZooKeeper's tree digest of ``tree`` (what its snapshots and log records carry).

    ``Z.node_digest`` summed over every node, inlined: CRC32 of the path (the root as ""), the
    data and the stat fields in DigestCalculator's order; 0 for nodes under /zookeeper/.
    """
    crc32 = zlib.crc32
    pack = Z.STAT_FOR_DIGEST.pack
    total = 0
    for path, node in tree.nodes.items():     # a sum: the order does not matter
        if path.startswith("/zookeeper/"):
            continue
        crc = crc32(path.encode("utf-8") if path != "/" else b"")
        data = node.data
        if data:
            crc = crc32(data, crc)
        total += crc32(pack(node.czxid, node.mzxid, node.pzxid, node.ctime, node.mtime,
                            node.version, node.cversion, node.aversion, node.ephemeral_owner), crc)
    return Z.signed_long(total)


def zookeeper_snapshot(tree: DataTree) -> tuple:
    """(zxid, uncompressed snapshot stream) that ZooKeeper loads as ``tree``."""
    nodes = list(snapshot_nodes(tree))
    sessions = sorted((sid, timeout_ms) for sid, (timeout_ms, _passwd) in tree.sessions.items())
    digest = Z.ZxidDigest(tree.last_zxid, Z.DIGEST_VERSION, Z.tree_digest(nodes))
    return tree.last_zxid, Z.encode_snapshot(sessions, nodes, digest)
