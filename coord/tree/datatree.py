"""The znode tree: nodes, their Stat bookkeeping, and the deterministic ``apply``.

Theory of operation
-------------------
``DataTree`` holds every znode in one dict keyed by full path, plus the replicated session table
and three indexes derived from the nodes (ephemerals per session, containers, TTL nodes). The only
way to change it is ``apply(header, txn)``: a transaction from ``txns.py`` that ``prep.py`` has
already decided. ``apply`` has no choices to make, so every replica applying the same transactions
in the same order holds the same tree. It returns the watch triggers the change causes, in
ZooKeeper's order, for ``watches.py`` to turn into notifications.

Stat arithmetic follows ZooKeeper's DataNode: the stored ``cversion`` is the number of children
ever created (it is also the sequential-suffix counter) and clients see ``2 * cversion -
numChildren``, which therefore moves on every child create *and* delete. Containers and TTL nodes
store a marker in ``ephemeral_owner`` and report 0.

Recovery over a fuzzy snapshot re-applies transactions the snapshot may already reflect; with
``tolerant=True`` a create of an existing node overwrites it and a delete of a missing node is a
no-op. Transactions carry absolute versions, so the result is the same as applying once.
"""

from coord.protocol.codes import EventType
from coord.protocol.jute import (
    Reader, write_buffer, write_int, write_long, write_ustring, write_vector,
)
from coord.protocol.records import ACL, Stat
from coord.tree import acl as acls
from coord.tree import txns as T
from coord.tree.quotas import Quotas
from coord.tree.paths import parent_of, split_path

import struct

CONTAINER_OWNER = -0x8000000000000000           # 0x8000000000000000 as a signed long
# A leaf's children: one shared empty frozenset, replaced by a set at its first child (an empty
# set per node would cost ~200 bytes on each of a million leaves).
NO_CHILDREN = frozenset()
# Distinct ACL lists a tree shares between its nodes (most trees have a handful): beyond this
# many the table starts again, so a tree with an ACL per node cannot grow it without bound.
_MAX_SHARED_ACLS = 4096
_TTL_PREFIX = 0xFF << 56
MAX_TTL_MS = (1 << 40) - 1
_INT = struct.Struct(">i")
# A node's fixed fields in a snapshot: ACL number, czxid, mzxid, ctime, mtime, version, cversion,
# aversion, ephemeral owner, pzxid.
_NODE_FIXED = struct.Struct(">iqqqqiiiqq")


def ttl_owner(ttl_ms):
    """The stored ephemeral_owner of a TTL node (0xFF in the top byte, the TTL in the low bits)."""
    return (_TTL_PREFIX | ttl_ms) - (1 << 64)


def ttl_of(owner):
    """TTL in ms of a TTL node's stored owner, else None."""
    if owner < 0 and owner != CONTAINER_OWNER:
        return owner & MAX_TTL_MS
    return None


NODE_CREATED = EventType.NODE_CREATED
NODE_DELETED = EventType.NODE_DELETED
NODE_DATA_CHANGED = EventType.NODE_DATA_CHANGED
NODE_CHILDREN_CHANGED = EventType.NODE_CHILDREN_CHANGED


class Node:
    __slots__ = ("data", "acl", "czxid", "mzxid", "ctime", "mtime", "version", "cversion",
                 "aversion", "ephemeral_owner", "pzxid", "children")

    def __init__(self, data, acl, zxid, time_ms, ephemeral_owner):
        self.data = data
        self.acl = acl
        self.czxid = self.mzxid = self.pzxid = zxid
        self.ctime = self.mtime = time_ms
        self.version = self.cversion = self.aversion = 0
        self.ephemeral_owner = ephemeral_owner
        self.children = NO_CHILDREN

    @property
    def num_children(self):
        return len(self.children)

    def stat(self):
        owner = self.ephemeral_owner
        data = self.data
        return Stat(self.czxid, self.mzxid, self.ctime, self.mtime, self.version,
                    2 * self.cversion - len(self.children), self.aversion,
                    owner if owner > 0 else 0, len(data) if data else 0,
                    len(self.children), self.pzxid)


class TreeCorrupt(Exception):
    """A transaction cannot apply to this tree: the log and the tree disagree."""


def _add_child(parent, name):
    children = parent.children
    if children is NO_CHILDREN:
        parent.children = {name}
    else:
        children.add(name)


class DataTree:
    def __init__(self):
        self._acls = {}             # acl tuple -> the one equal tuple the nodes share
        self.nodes = {}
        self.sessions = {}          # session_id -> (timeout_ms, passwd): replicated state
        self.ephemerals = {}        # session_id -> set of paths
        self.containers = set()
        self.ttl_nodes = set()
        self.quotas = Quotas()      # /zookeeper/quota bookkeeping (quotas.py)
        self.last_zxid = 0
        root = Node(b"", acls.OPEN_ACL_UNSAFE, 0, 0, 0)
        self.nodes["/"] = root
        # Built-in nodes are attached without counting as creates (root cversion reads -1).
        for path, node_acl in (("/zookeeper", acls.OPEN_ACL_UNSAFE),
                               ("/zookeeper/quota", acls.OPEN_ACL_UNSAFE),
                               ("/zookeeper/config", acls.READ_ACL_UNSAFE)):
            self.nodes[path] = Node(b"", node_acl, 0, 0, 0)
            parent, name = split_path(path)
            _add_child(self.nodes[parent], name)
        # ZooKeeper gives the config node its ACL with setACL(version=-1), which stores -1.
        self.nodes["/zookeeper/config"].aversion = -1

    def set_config_node(self, data, mtime_ms):
        """An ensemble member serves its membership at /zookeeper/config, as ZooKeeper does (with
        version -1 and the member's own start time): local, not a transaction."""
        node = self.nodes["/zookeeper/config"]
        node.data = data
        node.version = -1
        node.mtime = mtime_ms

    # -- reads ----------------------------------------------------------------------------------

    def get(self, path):
        # ZooKeeper stores the root under "" as well, so reads of the empty path answer for it.
        return self.nodes.get(path or "/")

    def descendant_count(self, path):
        """getAllChildrenNumber: every node below ``path`` (not counting it)."""
        nodes = self.nodes
        count = 0
        stack = [path or "/"]
        while stack:
            current = stack.pop()
            node = nodes[current]
            count += len(node.children)
            base = current if current != "/" else ""
            stack.extend(base + "/" + name for name in node.children)
        return count

    def ephemerals_of(self, session_id):
        return self.ephemerals.get(session_id, ())

    @property
    def node_count(self):
        return len(self.nodes)

    def approximate_data_size(self):
        return sum(len(p) + (len(n.data) if n.data else 0) for p, n in self.nodes.items())

    # -- the one way to change the tree ----------------------------------------------------------

    def apply(self, header, txn, tolerant=False):
        """Apply a decided transaction; returns its watch triggers in order.

        Each trigger is ``(event_type, path, acl)``: the ACL a watcher must be able to READ to be
        told (the node's own, or the parent's for NodeChildrenChanged), as ZooKeeper checks.
        """
        triggers = []
        self._apply(header, txn, triggers, tolerant)
        if header.zxid > self.last_zxid:
            self.last_zxid = header.zxid
        return triggers

    def _apply(self, header, txn, triggers, tolerant):
        kind = txn.kind
        if kind == T.SET_DATA:
            node = self.nodes.get(txn.path)
            if node is None:
                if tolerant:
                    return
                raise TreeCorrupt("setData on missing %s" % txn.path)
            self.quotas.data_changed(self, txn.path, node.data, txn.data)
            node.data = txn.data
            node.version = txn.version
            node.mzxid = header.zxid
            node.mtime = header.time_ms
            triggers.append((NODE_DATA_CHANGED, txn.path, node.acl))
        elif kind == T.CREATE:
            self._create(header, txn, triggers, tolerant)
        elif kind == T.DELETE:
            self._delete(header.zxid, txn.path, triggers, tolerant)
        elif kind == T.SET_ACL:
            node = self.nodes.get(txn.path)
            if node is None:
                if tolerant:
                    return
                raise TreeCorrupt("setACL on missing %s" % txn.path)
            node.acl = self._shared_acl(txn.acl)
            node.aversion = txn.aversion
        elif kind == T.MULTI:
            for sub in txn.txns:
                self._apply(header, sub, triggers, tolerant)
        elif kind == T.CREATE_SESSION:
            self.sessions[txn.session_id] = (txn.timeout_ms, txn.passwd)
        elif kind == T.CLOSE_SESSION:
            self.sessions.pop(txn.session_id, None)
            # Sorted so every replica deletes (and notifies) in the same order.
            for path in sorted(self.ephemerals.get(txn.session_id, ())):
                self._delete(header.zxid, path, triggers, tolerant)
            self.ephemerals.pop(txn.session_id, None)
        else:
            raise TreeCorrupt("unknown transaction %r" % (txn,))

    def _create(self, header, txn, triggers, tolerant):
        path = txn.path
        parent_path, name = split_path(path)
        parent = self.nodes.get(parent_path)
        if parent is None:
            if tolerant:
                return
            raise TreeCorrupt("create %s: no parent" % path)
        existing = self.nodes.get(path)
        node = Node(txn.data, self._shared_acl(txn.acl), header.zxid, header.time_ms,
                    txn.ephemeral_owner)
        if existing is not None:
            if not tolerant:
                raise TreeCorrupt("create %s: exists" % path)
            # Replay over a fuzzy snapshot: later creates in the log fix up the children.
            self._unindex(path, existing)
            node.children = existing.children
        self.nodes[path] = node
        _add_child(parent, name)
        if existing is None:
            self.quotas.created(self, path, txn.data)
        else:
            self.quotas.data_changed(self, path, existing.data, txn.data)
        # On replay the snapshot may already hold a later child count (and pzxid): keep it, as
        # ZooKeeper does. In normal operation parent_cversion is always the current count + 1.
        if not tolerant or txn.parent_cversion > parent.cversion:
            parent.cversion = txn.parent_cversion
            parent.pzxid = header.zxid
        self._index(path, node)
        triggers.append((NODE_CREATED, path, node.acl))
        triggers.append((NODE_CHILDREN_CHANGED, parent_path, parent.acl))

    def _delete(self, zxid, path, triggers, tolerant):
        node = self.nodes.get(path)
        if node is None or node.children:
            if tolerant:
                # Replay over a fuzzy snapshot that already lacks the node: the parent's pzxid
                # must still move, as it did when this delete first happened.
                parent = self.nodes.get(parent_of(path)) if node is None else None
                if parent is not None and zxid > parent.pzxid:
                    parent.pzxid = zxid
                return
            raise TreeCorrupt("delete %s: %s" % (path, "missing" if node is None else "has children"))
        del self.nodes[path]
        parent_path, name = split_path(path)
        parent = self.nodes[parent_path]
        parent.children.discard(name)
        if zxid > parent.pzxid:
            parent.pzxid = zxid
        self._unindex(path, node)
        self.quotas.deleted(self, path, node.data)
        triggers.append((NODE_DELETED, path, node.acl))
        triggers.append((NODE_CHILDREN_CHANGED, parent_path, parent.acl))

    def _shared_acl(self, acl):
        shared = self._acls.get(acl)
        if shared is None:
            if len(self._acls) >= _MAX_SHARED_ACLS:
                self._acls.clear()
            shared = self._acls[acl] = acl
        return shared

    def _index(self, path, node):
        owner = node.ephemeral_owner
        if owner > 0:
            self.ephemerals.setdefault(owner, set()).add(path)
        elif owner == CONTAINER_OWNER:
            self.containers.add(path)
        elif owner < 0:
            self.ttl_nodes.add(path)

    def _unindex(self, path, node):
        owner = node.ephemeral_owner
        if owner > 0:
            paths = self.ephemerals.get(owner)
            if paths is not None:
                paths.discard(path)
                if not paths:
                    del self.ephemerals[owner]
        elif owner == CONTAINER_OWNER:
            self.containers.discard(path)
        elif owner < 0:
            self.ttl_nodes.discard(path)

    # -- import (coord.migration) ----------------------------------------------------------------

    @classmethod
    def restore(cls, last_zxid, sessions, nodes):
        """A tree exactly as another store held it, every stat field included (for importers).

        ``sessions``: {session_id: (timeout_ms, passwd)}. ``nodes``: iterable of ``(path, data,
        acl, czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner, pzxid)``
        with ``cversion`` in the stored form (children ever created) and every parent before its
        children, the root ("/") first. Nothing is filled in: a tree that lacks ZooKeeper's
        built-in nodes stays without them. Raises ValueError on a missing root or parent, or a
        path given twice.
        """
        tree = cls.restoring(last_zxid, sessions)
        all_nodes = tree.nodes
        new_node = Node.__new__
        shared_acl = tree._shared_acl
        index = tree._index
        last_acl = last_shared = None
        # One pass, inlined (a million-node import spends seconds here): most rows share the
        # same ACL tuple object, so it is made shared once per run of equal objects.
        for (path, data, acl, czxid, mzxid, ctime, mtime, version, cversion, aversion,
             ephemeral_owner, pzxid) in nodes:
            if path in all_nodes:
                raise ValueError("node %s is given twice" % path)
            node = new_node(Node)
            node.data = data
            if acl is not last_acl:
                last_acl = acl
                last_shared = shared_acl(tuple(acl))
            node.acl = last_shared
            node.czxid = czxid
            node.mzxid = mzxid
            node.ctime = ctime
            node.mtime = mtime
            node.version = version
            node.cversion = cversion
            node.aversion = aversion
            node.ephemeral_owner = ephemeral_owner
            node.pzxid = pzxid
            node.children = NO_CHILDREN
            cut = path.rfind("/")
            if cut > 0:
                parent = all_nodes.get(path[:cut])
            elif path != "/":
                parent = all_nodes.get("/")
            elif all_nodes:
                raise ValueError("the root must come first")
            else:
                all_nodes[path] = node
                if ephemeral_owner:
                    index(path, node)
                continue
            if parent is None:
                raise ValueError("node %s comes before its parent %s" % (path, split_path(path)[0]))
            children = parent.children
            if children is NO_CHILDREN:
                parent.children = {path[cut + 1:]}
            else:
                children.add(path[cut + 1:])
            all_nodes[path] = node
            if ephemeral_owner:
                index(path, node)
        tree.restored()
        return tree

    @classmethod
    def restoring(cls, last_zxid, sessions):
        """A tree with no nodes at all, for ``restore`` (or an importer's own loop doing what
        ``restore`` does, then ``restored``)."""
        tree = cls.__new__(cls)
        tree._acls = {}
        tree.nodes = {}
        tree.sessions = dict(sessions)
        tree.ephemerals = {}
        tree.containers = set()
        tree.ttl_nodes = set()
        tree.quotas = Quotas()
        tree.last_zxid = last_zxid
        return tree

    def restored(self):
        """Finish a restore: the root must be there; quotas are recounted, as ZooKeeper does
        when it loads a snapshot."""
        if "/" not in self.nodes:
            raise ValueError("no root node")
        self.quotas.rebuild(self)

    # -- snapshots -------------------------------------------------------------------------------

    SNAPSHOT_MAGIC = b"CORDTREE"
    SNAPSHOT_VERSION = 2        # 1: every node carried its ACL list (still readable)

    def snapshot(self, nodes_per_chunk=2000):
        """Start a fuzzy snapshot: returns (zxid it starts at, iterator of byte chunks).

        The caller may keep applying transactions between chunks: the session table and the list
        of paths are captured now, each node is written as it is when its turn comes, and recovery
        replays the log from the returned zxid on (``apply(tolerant=True)``).

        Layout (docs/storage-format.md): header, sessions, then records: ``2`` an ACL list and its
        number, written before the first node that uses it (ACLs may change between chunks, so
        there is no table up front); ``1`` a node: path, data, ACL number, and nine fixed fields;
        ``0`` the end.
        """
        out = bytearray(self.SNAPSHOT_MAGIC)
        write_int(out, self.SNAPSHOT_VERSION)
        write_long(out, self.last_zxid)
        sessions = list(self.sessions.items())
        write_int(out, len(sessions))
        for session_id, (timeout_ms, passwd) in sessions:
            write_long(out, session_id)
            write_int(out, timeout_ms)
            write_buffer(out, passwd)
        return self.last_zxid, self._snapshot_nodes(out, list(self.nodes), nodes_per_chunk)

    def _snapshot_nodes(self, out, paths, nodes_per_chunk):
        # Pieces joined once per chunk, and a node's tag, path and data length in one pack call
        # with a Struct per path length (a million-node snapshot spends seconds here).
        nodes = self.nodes
        acl_numbers = {}
        pack_fixed = _NODE_FIXED.pack
        heads = {}
        parts = [bytes(out)]
        for start in range(0, len(paths), nodes_per_chunk):
            add = parts.append
            for path in paths[start:start + nodes_per_chunk]:
                node = nodes.get(path)
                if node is None:
                    continue
                number = acl_numbers.get(node.acl)
                if number is None:
                    number = acl_numbers[node.acl] = len(acl_numbers)
                    record = bytearray(_INT.pack(2))
                    record += _INT.pack(number)
                    write_vector(record, node.acl, lambda o, a: a.serialize(o))
                    add(bytes(record))
                encoded = path.encode("utf-8")
                length = len(encoded)
                pack_head = heads.get(length)
                if pack_head is None:
                    if len(heads) >= 1024:
                        heads.clear()
                    pack_head = heads[length] = struct.Struct(">ii%dsi" % length).pack
                data = node.data
                if data is None:
                    add(pack_head(1, length, encoded, -1))
                else:
                    add(pack_head(1, length, encoded, len(data)))
                    add(data)
                add(pack_fixed(number, node.czxid, node.mzxid, node.ctime, node.mtime,
                               node.version, node.cversion, node.aversion, node.ephemeral_owner,
                               node.pzxid))
            yield b"".join(parts)
            parts = []
        parts.append(_INT.pack(0))   # end marker
        yield b"".join(parts)

    @classmethod
    def from_snapshot(cls, data):
        """Rebuild a tree from ``snapshot`` chunks; returns (tree, snapshot_zxid)."""
        reader = Reader(data)
        magic = bytes(data[:len(cls.SNAPSHOT_MAGIC)])
        if magic != cls.SNAPSHOT_MAGIC:
            raise ValueError("not a coord tree snapshot")
        reader.offset = len(cls.SNAPSHOT_MAGIC)
        version = reader.read_int()
        if version not in (1, 2):
            raise ValueError("unsupported tree snapshot version %d" % version)
        snapshot_zxid = reader.read_long()
        tree = cls.__new__(cls)
        tree._acls = {}
        tree.nodes = {}
        tree.sessions = {}
        tree.ephemerals = {}
        tree.containers = set()
        tree.ttl_nodes = set()
        tree.last_zxid = snapshot_zxid
        for _ in range(reader.read_int()):
            session_id = reader.read_long()
            tree.sessions[session_id] = (reader.read_int(), reader.read_buffer())
        if version == 1:
            tree._read_nodes_v1(reader)
        else:
            try:
                tree._read_nodes(bytes(data), reader.offset)
            except (struct.error, IndexError, KeyError, UnicodeDecodeError) as e:
                raise ValueError("tree snapshot is damaged: %s" % e) from None
        nodes = tree.nodes
        if "/" not in nodes:
            raise ValueError("tree snapshot has no root")
        tree.quotas = Quotas()
        tree.quotas.rebuild(tree)   # as ZooKeeper recounts quotas when it loads a snapshot
        return tree, snapshot_zxid

    def _read_nodes(self, data, offset):
        """Version 2 node records, decoded with as few calls per node as Python allows (this is
        most of a restart's time on a big tree)."""
        nodes = self.nodes
        acl_lists = {}
        unpack_int = _INT.unpack_from
        unpack_fixed = _NODE_FIXED.unpack_from
        fixed_size = _NODE_FIXED.size
        new_node = Node.__new__
        index = self._index
        while True:
            (tag,) = unpack_int(data, offset)
            offset += 4
            if tag == 1:
                (length,) = unpack_int(data, offset)
                offset += 4
                path = data[offset:offset + length].decode("utf-8")
                offset += length
                (length,) = unpack_int(data, offset)
                offset += 4
                if length < 0:
                    value = None
                else:
                    value = data[offset:offset + length]
                    offset += length
                (number, czxid, mzxid, ctime, mtime, version, cversion, aversion, owner,
                 pzxid) = unpack_fixed(data, offset)
                offset += fixed_size
                node = new_node(Node)
                node.data = value
                node.acl = acl_lists[number]
                # Equal stamps share one int object (a big int costs 32 bytes each).
                node.czxid = czxid
                node.mzxid = czxid if mzxid == czxid else mzxid
                node.pzxid = czxid if pzxid == czxid else pzxid
                node.ctime = ctime
                node.mtime = ctime if mtime == ctime else mtime
                node.version = version
                node.cversion = cversion
                node.aversion = aversion
                node.ephemeral_owner = owner
                node.children = NO_CHILDREN
                if path != "/":
                    cut = path.rfind("/")
                    parent = nodes.get(path[:cut] or "/")
                    if parent is None:
                        # Fuzzy snapshot: the parent was deleted and re-created while
                        # serializing; both creates come after the snapshot's zxid and the log
                        # replays them.
                        continue
                    _add_child(parent, path[cut + 1:])
                nodes[path] = node
                if owner:
                    index(path, node)
            elif tag == 2:
                (number,) = unpack_int(data, offset)
                reader = Reader(data, offset + 4)
                acl = tuple(reader.read_vector(ACL.deserialize) or ())
                acl_lists[number] = self._shared_acl(acl)
                offset = reader.offset
            elif tag == 0:
                return
            else:
                raise ValueError("unknown record %d at offset %d" % (tag, offset - 4))

    def _read_nodes_v1(self, reader):
        nodes = self.nodes
        while reader.read_int() == 1:
            path = reader.read_ustring()
            node = Node.__new__(Node)
            node.data = reader.read_buffer()
            node.acl = self._shared_acl(tuple(reader.read_vector(ACL.deserialize) or ()))
            node.czxid = reader.read_long()
            node.mzxid = reader.read_long()
            node.ctime = reader.read_long()
            node.mtime = reader.read_long()
            node.version = reader.read_int()
            node.cversion = reader.read_int()
            node.aversion = reader.read_int()
            node.ephemeral_owner = reader.read_long()
            node.pzxid = reader.read_long()
            node.children = NO_CHILDREN
            if path != "/":
                parent = nodes.get(parent_of(path))
                if parent is None:
                    continue   # fuzzy snapshot, as in _read_nodes
                _add_child(parent, split_path(path)[1])
            nodes[path] = node
            self._index(path, node)
