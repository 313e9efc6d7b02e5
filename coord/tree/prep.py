"""Prep: a write request becomes a transaction with nothing left to decide.

Theory of operation
-------------------
Each ``prep_*`` function checks a request against a *view* of the tree in the order ZooKeeper's
PrepRequestProcessor does (the order decides which error a client sees when several apply), then
returns the transaction ``DataTree.apply`` will execute. Errors are raised as ``OpError(code)``.

The view is the leader's ``PendingChanges``: the tree of applied (committed) transactions plus
the effects of those proposed and not yet applied, as ZooKeeper's outstandingChanges. For a multi
it is a ``MultiView`` on top of that: an overlay recording what the earlier operations of the same
multi will have done, so that every op sees its predecessors' effects (create ``/a`` then
``/a/b``) while nothing is noted until the whole multi has passed. Views answer ``get(path)`` with an object carrying ``version``,
``cversion`` (the stored child-create counter), ``aversion``, ``acl``, ``ephemeral_owner`` and
``num_children``.
"""

from coord.protocol.codes import CreateMode, Err, OpCode
from coord.tree import acl as acls
from coord.tree.datatree import CONTAINER_OWNER, MAX_TTL_MS, ttl_owner
from coord.tree.paths import is_valid_path
from coord.tree.txns import (
    CloseSessionTxn, CreateSessionTxn, CreateTxn, DeleteTxn, MultiTxn, SetACLTxn, SetDataTxn,
)

# The built-in nodes cannot be deleted (ZKDatabase.isSpecialPath).
PROTECTED_PATHS = frozenset({"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"})

INT32_MAX = 2**31 - 1


class OpError(Exception):
    """A request fails with a ZooKeeper error code."""

    def __init__(self, code, path=None):
        super().__init__(code, path)
        self.code = code
        self.path = path


class PrepContext:
    """Who is asking, and the decisions prep may not make itself (time)."""

    __slots__ = ("session_id", "identities", "time_ms", "extended_types", "check_quota")

    def __init__(self, session_id, identities, time_ms, extended_types=True, check_quota=None):
        self.session_id = session_id
        self.identities = identities
        self.time_ms = time_ms
        self.extended_types = extended_types
        # check_quota(path, data, creating) raises OpError(QUOTA_EXCEEDED) over a hard limit.
        self.check_quota = check_quota


def _next_version(current):
    # Versions are int32 and wrap, as in ZooKeeper.
    return -2**31 if current == INT32_MAX else current + 1


def _check_version(current, expected, path):
    if expected != -1 and expected != current:
        raise OpError(Err.BAD_VERSION, path)
    return _next_version(current)


def _parent_for(path, protect):
    """The parent path, after the cheap checks ZooKeeper makes first (slash, NUL, protected)."""
    cut = path.rfind("/") if path else -1
    if cut == -1 or "\0" in path or (protect and path in PROTECTED_PATHS):
        raise OpError(Err.BAD_ARGUMENTS, path)
    return path[:cut] or "/"


def _require(view, path):
    node = view.get(path)
    if node is None:
        raise OpError(Err.NO_NODE, path)
    return node


def _check_acl(node, perm, ctx, path):
    if not acls.allowed(node.acl, perm, ctx.identities):
        raise OpError(Err.NO_AUTH, path)


def _fixup_acl(acl, ctx, path):
    try:
        return acls.fixup_acl(acl, ctx.identities)
    except acls.InvalidACL:
        raise OpError(Err.INVALID_ACL, path) from None


_CREATE_MODES = {mode.value: mode for mode in CreateMode}


def prep_create(view, opcode, request, ctx):
    path = request.path or ""
    mode = _CREATE_MODES.get(request.flags)
    if mode is None:
        raise OpError(Err.BAD_ARGUMENTS, path)
    is_ttl = mode in (CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)
    ttl_ms = request.ttl if opcode == OpCode.CREATE_TTL else -1
    if is_ttl and not ctx.extended_types:
        raise OpError(Err.UNIMPLEMENTED, path)
    if is_ttl:
        if not 0 < ttl_ms <= MAX_TTL_MS:
            raise OpError(Err.BAD_ARGUMENTS, path)
    elif ttl_ms >= 0:
        raise OpError(Err.BAD_ARGUMENTS, path)
    parent_path = _parent_for(path, protect=False)
    acl = _fixup_acl(request.acl, ctx, path)
    parent = _require(view, parent_path)
    _check_acl(parent, acls.CREATE, ctx, path)
    if mode in (CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL_SEQUENTIAL,
                CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL):
        path = "%s%010d" % (path, parent.cversion)
    if not is_valid_path(path):
        raise OpError(Err.BAD_ARGUMENTS, path)
    if view.get(path) is not None:
        raise OpError(Err.NODE_EXISTS, path)
    if parent.ephemeral_owner > 0:
        raise OpError(Err.NO_CHILDREN_FOR_EPHEMERALS, path)
    if ctx.check_quota is not None:
        ctx.check_quota(path, request.data, True)
    if mode in (CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL):
        owner = ctx.session_id
    elif mode == CreateMode.CONTAINER:
        owner = CONTAINER_OWNER
    elif is_ttl:
        owner = ttl_owner(ttl_ms)
    else:
        owner = 0
    return CreateTxn(path, request.data, acl, owner, _next_version(parent.cversion))


def prep_delete(view, request, ctx):
    path = request.path or ""
    parent = _require(view, _parent_for(path, protect=True))
    _check_acl(parent, acls.DELETE, ctx, path)
    node = _require(view, path)
    _check_version(node.version, request.version, path)
    if node.num_children:
        raise OpError(Err.NOT_EMPTY, path)
    return DeleteTxn(path)


def prep_set_data(view, request, ctx):
    path = request.path or ""
    if not is_valid_path(path):
        raise OpError(Err.BAD_ARGUMENTS, path)
    node = _require(view, path)
    _check_acl(node, acls.WRITE, ctx, path)
    if ctx.check_quota is not None:
        ctx.check_quota(path, request.data, False)
    return SetDataTxn(path, request.data, _check_version(node.version, request.version, path))


def prep_set_acl(view, request, ctx):
    path = request.path or ""
    if not is_valid_path(path):
        raise OpError(Err.BAD_ARGUMENTS, path)
    acl = _fixup_acl(request.acl, ctx, path)
    node = _require(view, path)
    _check_acl(node, acls.ADMIN, ctx, path)
    return SetACLTxn(path, acl, _check_version(node.aversion, request.version, path))


def prep_check(view, request, ctx):
    """check (only inside multi): passes or raises; it produces no transaction."""
    path = request.path or ""
    if not is_valid_path(path):
        raise OpError(Err.BAD_ARGUMENTS, path)
    node = _require(view, path)
    _check_acl(node, acls.READ, ctx, path)
    _check_version(node.version, request.version, path)


class _Pending:
    __slots__ = ("version", "cversion", "aversion", "acl", "ephemeral_owner", "num_children")

    def __init__(self, version, cversion, aversion, acl, ephemeral_owner, num_children):
        self.version = version
        self.cversion = cversion
        self.aversion = aversion
        self.acl = acl
        self.ephemeral_owner = ephemeral_owner
        self.num_children = num_children


class _Overlay:
    """A view of the tree plus the effects of prepared transactions not applied to it yet."""

    def __init__(self, tree):
        self._tree = tree
        self._changed = {}   # path -> _Pending, or None when deleted by a prepared transaction

    def get(self, path):
        if path in self._changed:
            return self._changed[path]
        return self._tree.get(path)

    def _pending(self, path):
        node = self.get(path)
        if not isinstance(node, _Pending):
            node = _Pending(node.version, node.cversion, node.aversion, node.acl,
                            node.ephemeral_owner, node.num_children)
            self._changed[path] = node
        return node

    def _note(self, txn, touched):
        """Record the effect of one prepared transaction; adds the paths it changes to ``touched``."""
        if isinstance(txn, CreateTxn):
            parent_path = _parent_for(txn.path, protect=False)
            parent = self._pending(parent_path)
            parent.cversion = txn.parent_cversion
            parent.num_children += 1
            self._changed[txn.path] = _Pending(0, 0, 0, txn.acl, txn.ephemeral_owner, 0)
            touched.extend((parent_path, txn.path))
        elif isinstance(txn, DeleteTxn):
            parent_path = _parent_for(txn.path, protect=False)
            self._pending(parent_path).num_children -= 1
            self._changed[txn.path] = None
            touched.extend((parent_path, txn.path))
        elif isinstance(txn, SetDataTxn):
            self._pending(txn.path).version = txn.version
            touched.append(txn.path)
        elif isinstance(txn, SetACLTxn):
            pending = self._pending(txn.path)
            pending.aversion = txn.aversion
            pending.acl = txn.acl
            touched.append(txn.path)


class MultiView(_Overlay):
    """The tree as the next op of a multi will find it (ZooKeeper's outstanding ChangeRecords)."""

    def note(self, txn):
        """Record the effect of a prepared transaction for the ops after it."""
        self._note(txn, [])


class PendingChanges(_Overlay):
    """The leader's view: the applied tree plus every transaction proposed but not yet applied.

    Writes are prepped against this view, so a pipeline of writes (create ``/a``, then ``/a/b``)
    sees its own earlier effects while the tree itself only ever holds committed state. Each
    change is tagged with the zxid of the last transaction that made it; ``applied(zxid)`` drops
    the changes the tree now reflects. A deposed leader just drops the whole view (``clear``):
    nothing uncommitted ever touched its tree.
    """

    def __init__(self, tree):
        super().__init__(tree)
        self._tags = {}                 # path -> zxid of the last pending change to it
        self._order = []                # (zxid, paths), oldest first
        self._sessions_opened = {}      # session_id -> zxid
        self._sessions_closed = {}      # session_id -> zxid

    def __len__(self):
        return len(self._order)

    def session_alive(self, session_id):
        if session_id in self._sessions_closed:
            return False
        return session_id in self._sessions_opened or session_id in self._tree.sessions

    def note(self, zxid, txn):
        touched = []
        if isinstance(txn, MultiTxn):
            for sub in txn.txns:
                self._note(sub, touched)
        elif isinstance(txn, CreateSessionTxn):
            self._sessions_opened[txn.session_id] = zxid
        elif isinstance(txn, CloseSessionTxn):
            self._sessions_closed[txn.session_id] = zxid
            for path in sorted(self._ephemerals_of(txn.session_id)):
                self._note(DeleteTxn(path), touched)
        else:
            self._note(txn, touched)
        for path in touched:
            self._tags[path] = zxid
        self._order.append((zxid, touched))

    def _ephemerals_of(self, session_id):
        paths = {p for p in self._tree.ephemerals_of(session_id) if self.get(p) is not None}
        for path, pending in self._changed.items():
            if pending is not None and pending.ephemeral_owner == session_id:
                paths.add(path)
        return paths

    def applied(self, zxid):
        """The tree has applied everything through ``zxid``."""
        order = self._order
        done = 0
        while done < len(order) and order[done][0] <= zxid:
            for path in order[done][1]:
                if self._tags.get(path, zxid + 1) <= zxid:
                    del self._tags[path]
                    del self._changed[path]
            done += 1
        if done:
            del order[:done]
        for table in (self._sessions_opened, self._sessions_closed):
            for session_id in [s for s, z in table.items() if z <= zxid]:
                del table[session_id]

    def clear(self):
        self._changed.clear()
        self._tags.clear()
        self._order.clear()
        self._sessions_opened.clear()
        self._sessions_closed.clear()
