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

import struct
import zlib

from coord.migration import zkformat as Z
from coord.protocol.codes import OpCode
from coord.tree import txns as T
from coord.tree.datatree import CONTAINER_OWNER, NO_CHILDREN, DataTree, Node, ttl_owner
from coord.tree.paths import split_path

_INT = struct.Struct(">i")


def tree_from_snapshot(snapshot: Z.Snapshot) -> DataTree:
    """The tree a snapshot holds; its nodes are SnapshotNodes, or already a tree when it was
    parsed with ``read_nodes=snapshot_tree_reader``."""
    sessions = {sid: (timeout_ms, Z.session_password(sid)) for sid, timeout_ms in snapshot.sessions}
    if isinstance(snapshot.nodes, DataTree):
        tree = snapshot.nodes
        tree.sessions = sessions
        tree.last_zxid = snapshot.zxid
        return tree
    return DataTree.restore(
        snapshot.zxid, sessions,
        ((node.path, node.data, node.acl, *node.stat) for node in snapshot.nodes))


def snapshot_tree_reader(data, offset, acls, path):
    """``Z.parse_snapshot``'s ``read_nodes`` for an import: the node records decoded straight
    into a DataTree, as ``DataTree.restore`` builds it; returns (tree, offset after the end
    marker). The tree's sessions and last zxid are set by ``tree_from_snapshot``.

    This is ``Z._parse_nodes`` and ``DataTree.restore`` in one loop, with the same checks: it
    builds no row per node and unpacks none (a million-znode import spends most of its time here).
    A record that cannot be decoded, a node before its parent, a path given twice or a missing
    root make the snapshot unusable, as they make ZooKeeper's DataTree.deserialize fail.
    """
    tree = DataTree.restoring(0, {})
    all_nodes = tree.nodes
    new_node = Node.__new__
    no_children = NO_CHILDREN
    shared_acl = tree._shared_acl
    index = tree._index
    unpack_int = _INT.unpack_from
    unpack_tail = Z.ACL_AND_STAT.unpack_from
    tail_size = Z.ACL_AND_STAT.size
    size = len(data)
    open_acl_id = Z.OPEN_ACL_UNSAFE_ID
    open_acl = shared_acl(Z.OPEN_ACL_UNSAFE)
    shared = {}
    corrupt = Z.CorruptSnapshotError
    while True:
        if offset + 4 > size:
            raise corrupt(path, "the node list ends without its '/' end marker")
        (length,) = unpack_int(data, offset)
        offset += 4
        end = offset + length
        if length < 0 or end > size:
            raise corrupt(path, f"node path length {length} at byte {offset - 4} is impossible")
        node_path = data[offset:end].decode("utf-8")
        offset = end + 4
        if node_path == "/":
            tree.restored()
            return tree, end
        if offset > size:
            raise corrupt(path, f"node {node_path!r} cut short")
        (length,) = unpack_int(data, end)
        node = new_node(Node)
        if length == -1:
            node.data = None
        else:
            end = offset + length
            if length < -1 or end > size:
                raise corrupt(path, f"node {node_path!r} has an impossible data length {length}")
            node.data = data[offset:end]
            offset = end
        if offset + tail_size > size:
            raise corrupt(path, f"node {node_path!r} cut short")
        (acl_id, node.czxid, node.mzxid, node.ctime, node.mtime, node.version, node.cversion,
         node.aversion, owner, node.pzxid) = unpack_tail(data, offset)
        offset += tail_size
        if acl_id == open_acl_id:
            node.acl = open_acl
        else:
            acl = shared.get(acl_id)
            if acl is None:
                if acl_id not in acls:
                    raise corrupt(path, f"node {node_path!r} refers to ACL {acl_id}, which the "
                                        f"ACL table does not hold")
                acl = shared[acl_id] = shared_acl(acls[acl_id])
            node.acl = acl
        node.ephemeral_owner = owner
        node.children = no_children
        if node_path in all_nodes:
            raise corrupt(path, f"node {node_path or '/'!r} is given twice")
        cut = node_path.rfind("/")
        if cut > 0:
            parent = all_nodes.get(node_path[:cut])
        elif node_path:
            parent = all_nodes.get("/")
        elif all_nodes:
            raise corrupt(path, "the root node is not the first")
        else:
            all_nodes["/"] = node
            if owner:
                index("/", node)
            continue
        if parent is None:
            raise corrupt(path, f"node {node_path!r} comes before its parent")
        children = parent.children
        if children is no_children:
            parent.children = {node_path[cut + 1:]}
        else:
            children.add(node_path[cut + 1:])
        all_nodes[node_path] = node
        if owner:
            index(node_path, node)


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
