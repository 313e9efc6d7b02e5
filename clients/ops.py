"""The operations both clients offer, as data: requests in, kazoo-shaped values out.

Theory of operation.  Each client method (``create``, ``get``, ...) is written once here as a
function returning a ``Call``: the opcode and request record to submit (paths already under the
chroot), the watch to register, how to turn a successful response into the value a kazoo user
expects (``get`` -> ``(bytes, ZnodeStat)``), and which error codes are answers rather than failures
(``exists`` -> NoNode is ``None``).  Operations that take several round trips (``ensure_path``,
``create(makepath=True)``, ``delete(recursive=True)``) are generators that yield ``Call`` steps and
return the value; the blocking client runs them in the caller's thread, the Twisted client chains
Deferreds (see ``clients.steps``).  Nothing here does I/O.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Callable, NamedTuple

from coord.protocol.codes import AddWatchMode, CreateMode, Err, OpCode, Perm
from coord.protocol.records import (
    ACL,
    AddWatchRequest,
    CheckVersionRequest,
    CreateRequest,
    DeleteRequest,
    ExistsRequest,
    GetACLRequest,
    GetChildren2Request,
    GetChildrenRequest,
    GetDataRequest,
    Id,
    MultiRequest,
    SetACLRequest,
    SetDataRequest,
    SyncRequest,
)

from . import errors
from .session import WatchKind, WatchRegistration

__all__ = [
    "Call", "ZnodeStat", "OPEN_ACL_UNSAFE", "Operations", "TransactionRequest", "make_digest_acl",
]

OPEN_ACL_UNSAFE = [ACL(Perm.ALL, Id("world", "anyone"))]


class ZnodeStat(NamedTuple):
    """A znode's Stat with kazoo's field names (and a few of its readable properties)."""

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int

    @property
    def created(self) -> float:
        return self.ctime / 1000.0

    @property
    def last_modified(self) -> float:
        return self.mtime / 1000.0

    @property
    def children_count(self) -> int:
        return self.numChildren

    @property
    def data_length(self) -> int:
        return self.dataLength

    @property
    def owner_session_id(self) -> int | None:
        return self.ephemeralOwner or None


def _stat(stat) -> ZnodeStat:
    return ZnodeStat(*stat)


class Call(NamedTuple):
    """One request and how to read its reply."""

    opcode: int
    record: object
    convert: Callable[[object], Any]  # successful response record -> value
    watch: WatchRegistration | None = None
    watch_path: str | None = None
    error_values: dict = {}  # error code -> value returned instead of raising
    wait_for_connection: bool = True  # False: fail with ConnectionLoss at once when disconnected

    def result(self, err: int, response) -> Any:
        """The value for a reply, or raise its typed exception."""
        if err == 0:
            return self.convert(response)
        if err in self.error_values:
            return self.error_values[err]
        raise errors.error_for_code(err)


def _validate_path(path: str) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"path must be an absolute str, not {path!r}")
    if len(path) > 1 and path.endswith("/"):
        raise ValueError(f"path must not end with '/': {path!r}")
    return path


def _to_bytes(value) -> bytes:
    if value is None:
        return None
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"value must be bytes, not {type(value).__name__}")
    return bytes(value)


def make_digest_acl(username: str, password: str, *, read=False, write=False, create=False,
                    delete=False, admin=False, all=False) -> ACL:
    """A digest ACL as kazoo's ``make_digest_acl`` builds it."""
    digest = base64.b64encode(hashlib.sha1(f"{username}:{password}".encode()).digest()).decode()
    perms = Perm.ALL if all else sum(
        bit for flag, bit in ((read, Perm.READ), (write, Perm.WRITE), (create, Perm.CREATE),
                              (delete, Perm.DELETE), (admin, Perm.ADMIN)) if flag)
    return ACL(int(perms), Id("digest", f"{username}:{digest}"))


def _create_mode(ephemeral: bool, sequence: bool) -> CreateMode:
    if ephemeral:
        return CreateMode.EPHEMERAL_SEQUENTIAL if sequence else CreateMode.EPHEMERAL
    return CreateMode.PERSISTENT_SEQUENTIAL if sequence else CreateMode.PERSISTENT


class Operations:
    """Builds ``Call``s (and multi-step generators) for one chroot."""

    def __init__(self, chroot: str = "") -> None:
        self.chroot = chroot

    def server_path(self, path: str) -> str:
        _validate_path(path)
        if not self.chroot:
            return path
        return self.chroot if path == "/" else self.chroot + path

    def client_path(self, path: str) -> str:
        if not self.chroot or path is None:
            return path
        if path == self.chroot:
            return "/"
        return path[len(self.chroot):] if path.startswith(self.chroot + "/") else path

    # -- single round trips -----------------------------------------------------------------------

    def create(self, path, value=b"", acl=None, ephemeral=False, sequence=False,
               include_data=False) -> Call:
        record = CreateRequest(self.server_path(path), _to_bytes(value),
                               list(acl) if acl else OPEN_ACL_UNSAFE,
                               _create_mode(ephemeral, sequence))
        if include_data:
            return Call(OpCode.CREATE2, record,
                        lambda r: (self.client_path(r.path), _stat(r.stat)))
        return Call(OpCode.CREATE, record, lambda r: self.client_path(r.path))

    def get(self, path, watch=None) -> Call:
        server_path = self.server_path(path)
        return Call(OpCode.GET_DATA, GetDataRequest(server_path, watch is not None),
                    lambda r: (r.data if r.data is not None else b"", _stat(r.stat)),
                    _registration(WatchKind.DATA, watch), server_path)

    def exists(self, path, watch=None) -> Call:
        server_path = self.server_path(path)
        return Call(OpCode.EXISTS, ExistsRequest(server_path, watch is not None),
                    lambda r: _stat(r.stat), _registration(WatchKind.DATA, watch), server_path,
                    {Err.NO_NODE: None})

    def set(self, path, value, version=-1) -> Call:
        return Call(OpCode.SET_DATA, SetDataRequest(self.server_path(path), _to_bytes(value),
                                                     version), lambda r: _stat(r.stat))

    def delete(self, path, version=-1) -> Call:
        return Call(OpCode.DELETE, DeleteRequest(self.server_path(path), version), lambda r: True)

    def get_children(self, path, watch=None, include_data=False) -> Call:
        server_path = self.server_path(path)
        registration = _registration(WatchKind.CHILD, watch)
        if include_data:
            return Call(OpCode.GET_CHILDREN2, GetChildren2Request(server_path, watch is not None),
                        lambda r: (list(r.children or []), _stat(r.stat)), registration,
                        server_path)
        return Call(OpCode.GET_CHILDREN, GetChildrenRequest(server_path, watch is not None),
                    lambda r: list(r.children or []), registration, server_path)

    def sync(self, path) -> Call:
        return Call(OpCode.SYNC, SyncRequest(self.server_path(path)),
                    lambda r: self.client_path(r.path))

    def get_acls(self, path) -> Call:
        return Call(OpCode.GET_ACL, GetACLRequest(self.server_path(path)),
                    lambda r: (list(r.acl or []), _stat(r.stat)))

    def set_acls(self, path, acls, version=-1) -> Call:
        return Call(OpCode.SET_ACL, SetACLRequest(self.server_path(path), list(acls), version),
                    lambda r: _stat(r.stat))

    def add_watch(self, path, watch, recursive=False) -> Call:
        server_path = self.server_path(path)
        mode = AddWatchMode.PERSISTENT_RECURSIVE if recursive else AddWatchMode.PERSISTENT
        kind = WatchKind.PERSISTENT_RECURSIVE if recursive else WatchKind.PERSISTENT
        return Call(OpCode.ADD_WATCH, AddWatchRequest(server_path, mode), lambda r: True,
                    WatchRegistration(kind, watch), server_path)

    def multi(self, ops: list) -> Call:
        """``ops``: ``(opcode, record)`` pairs; the value is kazoo's list (exceptions for failures)."""
        def convert(response):
            results = []
            for opcode, record in response.results:
                if opcode == OpCode.ERROR:
                    results.append(errors.error_for_code(record.err))
                elif opcode == OpCode.CREATE:
                    results.append(self.client_path(record.path))
                elif opcode == OpCode.SET_DATA:
                    results.append(_stat(record.stat))
                else:
                    results.append(True)
            return results

        # ZooKeeper answers a failed multi with err 0 and an error result per op (the failing
        # op's code; RolledBack (0) or RuntimeInconsistency for the others), as kazoo returns.
        return Call(OpCode.MULTI, MultiRequest(tuple(ops)), convert)

    # -- several round trips: generators of Calls -------------------------------------------------

    def ensure_path(self, path, acl=None):
        """Create ``path`` and its missing ancestors; value True."""
        _validate_path(path)
        if path == "/":
            return True
        parts = path.strip("/").split("/")
        # Walk down: the common case (everything but the leaf exists) costs one create per level
        # missing, and NodeExists is an answer, not a failure.
        for depth in range(1, len(parts) + 1):
            prefix = "/" + "/".join(parts[:depth])
            call = self.create(prefix, b"", acl)
            yield call._replace(error_values={Err.NODE_EXISTS: prefix})
        return True

    def create_makepath(self, path, value=b"", acl=None, ephemeral=False, sequence=False,
                        include_data=False):
        try:
            return (yield self.create(path, value, acl, ephemeral, sequence, include_data))
        except errors.NoNodeError:
            parent = path.rsplit("/", 1)[0] or "/"
            yield from self.ensure_path(parent, acl)
            return (yield self.create(path, value, acl, ephemeral, sequence, include_data))

    def delete_recursive(self, path, version=-1):
        """Delete ``path`` and everything under it (children first); NoNode on the way is fine."""
        try:
            children = yield self.get_children(path)
        except errors.NoNodeError:
            return True
        for child in children:
            child_path = path.rstrip("/") + "/" + child
            yield from self.delete_recursive(child_path)
        if path == "/":
            return True
        try:
            yield self.delete(path, version)
        except errors.NoNodeError:
            pass
        return True


def _registration(kind: WatchKind, watch) -> WatchRegistration | None:
    if watch is None:
        return None
    if not callable(watch):
        raise TypeError(f"watch must be callable, not {watch!r}")
    return WatchRegistration(kind, watch)


class TransactionRequest:
    """kazoo's ``client.transaction()``: collect ops, ``commit()`` sends them as one multi.

    ``commit()`` returns a list with one entry per op: the created path, a ZnodeStat, True, or
    the exception of the op that failed (the others are ``RolledBackError``).
    """

    def __init__(self, client) -> None:
        self.client = client
        self.operations: list = []
        self.committed = False

    def create(self, path, value=b"", acl=None, ephemeral=False, sequence=False):
        call = self.client._ops.create(path, value, acl, ephemeral, sequence)
        self.operations.append((OpCode.CREATE, call.record))

    def delete(self, path, version=-1):
        self.operations.append((OpCode.DELETE, self.client._ops.delete(path, version).record))

    def set_data(self, path, value, version=-1):
        self.operations.append((OpCode.SET_DATA, self.client._ops.set(path, value, version).record))

    def check(self, path, version):
        self.operations.append(
            (OpCode.CHECK, CheckVersionRequest(self.client._ops.server_path(path), version)))

    def commit(self):
        if self.committed:
            raise ValueError("transaction already committed")
        self.committed = True
        return self.client._execute(self.client._ops.multi(self.operations))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
