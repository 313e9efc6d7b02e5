"""A tiny raw ZooKeeper client: one blocking socket, exact bytes, every frame recorded in order.

Why it exists. kazoo 2.11 cannot express some requests and rewrites others on the way out:

* it normalises paths before sending (``kazoo.protocol.paths.normpath``: ``//`` collapsed, a
  trailing ``/`` dropped unless sequential, ``.``/``..`` raise ``ValueError``), so every
  "which error wins for an invalid path" case is sent from here;
* it has no createContainer (19), createTTL (21), checkWatches (17), removeWatches (18),
  getEphemerals (103), getAllChildrenNumber (104), addWatch (106) or whoAmI (107);
* it drops notifications that match none of its one-shot watchers (persistent watches), and it
  hides how replies and notifications interleave on the wire;
* it encodes ``""`` as a null string.

So this module writes jute itself (``""`` stays empty, ``None`` is null). Results reuse kazoo's
types — ``ZnodeStat``, ``ACL``/``Id`` and the exceptions registered by wire code in
``kazoo.exceptions.EXCEPTIONS`` — so raw and kazoo results compare equal and tests catch the same
``NoNodeError`` either way. Every wait is bounded by ``io_timeout_s``.
"""

from __future__ import annotations

import collections
import socket
import struct
import time
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from kazoo.exceptions import EXCEPTIONS
from kazoo.protocol.states import ZnodeStat
from kazoo.security import ACL, Id, OPEN_ACL_UNSAFE

# Opcodes (zookeeper ZooDefs.OpCode).
CREATE = 1
DELETE = 2
EXISTS = 3
GET_DATA = 4
SET_DATA = 5
GET_ACL = 6
SET_ACL = 7
GET_CHILDREN = 8
SYNC = 9
PING = 11
GET_CHILDREN2 = 12
CHECK = 13
MULTI = 14
CREATE2 = 15
CHECK_WATCHES = 17
REMOVE_WATCHES = 18
CREATE_CONTAINER = 19
CREATE_TTL = 21
MULTI_READ = 22
AUTH = 100
GET_EPHEMERALS = 103
GET_ALL_CHILDREN_NUMBER = 104
ADD_WATCH = 106
WHO_AM_I = 107
CLOSE_SESSION = -11

# Special xids.
NOTIFICATION_XID = -1
PING_XID = -2
AUTH_XID = -4

# Create flags (CreateMode).
PERSISTENT = 0
EPHEMERAL = 1
PERSISTENT_SEQUENTIAL = 2
EPHEMERAL_SEQUENTIAL = 3
CONTAINER = 4
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6

# Watch event types and watcher/addWatch enums.
NODE_CREATED = 1
NODE_DELETED = 2
NODE_DATA_CHANGED = 3
NODE_CHILDREN_CHANGED = 4
SYNC_CONNECTED = 3
WATCHER_CHILDREN = 1
WATCHER_DATA = 2
WATCHER_ANY = 3
ADD_WATCH_PERSISTENT = 0
ADD_WATCH_PERSISTENT_RECURSIVE = 1

_INT = struct.Struct("!i")
_LONG = struct.Struct("!q")
_STAT = struct.Struct("!qqqqiiiqiiq")


# -- jute encoding ------------------------------------------------------------------------------
def enc_int(v: int) -> bytes:
    return _INT.pack(v)


def enc_long(v: int) -> bytes:
    return _LONG.pack(v)


def enc_bool(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def enc_buffer(v: Optional[bytes]) -> bytes:
    return _INT.pack(-1) if v is None else _INT.pack(len(v)) + v


def enc_string(v: Optional[str]) -> bytes:
    return enc_buffer(None if v is None else v.encode("utf-8"))


def enc_acls(acls: Optional[Sequence[ACL]]) -> bytes:
    if acls is None:
        return _INT.pack(-1)
    return _INT.pack(len(acls)) + b"".join(
        enc_int(a.perms) + enc_string(a.id.scheme) + enc_string(a.id.id) for a in acls
    )


class Reader:
    """Sequential jute decoder over one frame's bytes."""

    def __init__(self, data: bytes, offset: int = 0):
        self.data = data
        self.offset = offset

    def int(self) -> int:
        (v,) = _INT.unpack_from(self.data, self.offset)
        self.offset += 4
        return v

    def long(self) -> int:
        (v,) = _LONG.unpack_from(self.data, self.offset)
        self.offset += 8
        return v

    def bool(self) -> bool:
        v = self.data[self.offset]
        self.offset += 1
        return v != 0

    def buffer(self) -> Optional[bytes]:
        n = self.int()
        if n < 0:
            return None
        v = self.data[self.offset : self.offset + n]
        self.offset += n
        return bytes(v)

    def string(self) -> Optional[str]:
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def strings(self) -> Optional[List[str]]:
        n = self.int()
        return None if n < 0 else [self.string() for _ in range(n)]

    def stat(self) -> ZnodeStat:
        v = ZnodeStat._make(_STAT.unpack_from(self.data, self.offset))
        self.offset += _STAT.size
        return v

    def acls(self) -> Optional[List[ACL]]:
        n = self.int()
        if n < 0:
            return None
        out = []
        for _ in range(n):
            perms = self.int()
            scheme = self.string()
            ident = self.string()
            out.append(ACL(perms, Id(scheme, ident)))
        return out

    def at_end(self) -> bool:
        return self.offset >= len(self.data)


# -- multi ops ----------------------------------------------------------------------------------
def op_create(path, data=b"", acl=OPEN_ACL_UNSAFE, flags=0, opcode=CREATE) -> Tuple[int, bytes]:
    return opcode, enc_string(path) + enc_buffer(data) + enc_acls(acl) + enc_int(flags)


def op_delete(path, version=-1) -> Tuple[int, bytes]:
    return DELETE, enc_string(path) + enc_int(version)


def op_set_data(path, data, version=-1) -> Tuple[int, bytes]:
    return SET_DATA, enc_string(path) + enc_buffer(data) + enc_int(version)


def op_check(path, version) -> Tuple[int, bytes]:
    return CHECK, enc_string(path) + enc_int(version)


def op_get_data(path) -> Tuple[int, bytes]:
    return GET_DATA, enc_string(path) + enc_bool(False)


def op_get_children(path) -> Tuple[int, bytes]:
    return GET_CHILDREN, enc_string(path) + enc_bool(False)


def _multi_header(op_type: int, done: bool, err: int) -> bytes:
    return enc_int(op_type) + enc_bool(done) + enc_int(err)


def encode_multi(ops: Iterable[Tuple[int, bytes]]) -> bytes:
    body = b"".join(_multi_header(t, False, -1) + b for t, b in ops)
    return body + _multi_header(-1, True, -1)


def decode_multi(r: Reader) -> list:
    """Results in op order: a path, (path, stat), True, a stat, [names], (data, stat), or an
    exception instance for an error result (``RolledBackError`` for err 0)."""
    results = []
    while True:
        op_type = r.int()
        done = r.bool()
        err = r.int()
        if done:
            return results
        if op_type == -1:
            results.append(EXCEPTIONS[r.int()]())
        elif op_type == CREATE:
            results.append(r.string())
        elif op_type in (CREATE2, CREATE_CONTAINER, CREATE_TTL):
            results.append((r.string(), r.stat()))
        elif op_type in (DELETE, CHECK):
            results.append(True)
        elif op_type == SET_DATA:
            results.append(r.stat())
        elif op_type == GET_DATA:
            results.append((r.buffer(), r.stat()))
        elif op_type == GET_CHILDREN:
            results.append(r.strings())
        else:
            raise ValueError(f"unexpected multi result type {op_type} (err {err})")


# -- the session --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    type: int
    state: int
    path: str
    zxid: int


@dataclass(frozen=True)
class Reply:
    xid: int
    zxid: int
    err: int
    body: bytes

    def reader(self) -> Reader:
        return Reader(self.body)

    def raise_for_error(self) -> "Reply":
        if self.err != 0:
            raise EXCEPTIONS[self.err]()
        return self


@dataclass(frozen=True)
class ConnectResponse:
    protocol_version: int
    timeout_ms: int
    session_id: int
    passwd: bytes
    read_only: Optional[bool]


class ConnectionClosed(ConnectionError):
    """The server closed the connection."""


class RawSession:
    """One connection, one session. ``log`` records every frame in arrival order as
    ``("event", Event)`` or ``("reply", xid, err)``; ``events`` holds unconsumed notifications."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout_ms: int = 30000,
        session_id: int = 0,
        passwd: bytes = bytes(16),
        last_zxid: int = 0,
        read_only: bool = False,
        io_timeout_s: float = 10.0,
    ):
        self.host, self.port = host, port
        self.io_timeout_s = io_timeout_s
        self.log: list = []
        self.events: collections.deque = collections.deque()
        self.last_zxid = last_zxid
        self._xid = 0
        self._buf = bytearray()
        self.sock = socket.create_connection((host, port), timeout=io_timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = (
            enc_int(0) + enc_long(last_zxid) + enc_int(timeout_ms) + enc_long(session_id)
            + enc_buffer(passwd) + enc_bool(read_only)
        )
        self._send_frame(request)
        r = Reader(self._read_frame(time.monotonic() + io_timeout_s))
        self.connect_response = ConnectResponse(
            r.int(), r.int(), r.long(), r.buffer(), None if r.at_end() else r.bool()
        )
        self.session_id = self.connect_response.session_id
        self.passwd = self.connect_response.passwd
        self.timeout_ms = self.connect_response.timeout_ms

    @classmethod
    def for_server(cls, server, **kw) -> "RawSession":
        host, port = server.hosts.rsplit(":", 1)
        return cls(host, int(port), **kw)

    # -- framing ----------------------------------------------------------------------------
    def _send_frame(self, payload: bytes) -> None:
        self.sock.sendall(_INT.pack(len(payload)) + payload)

    def _read_frame(self, deadline: float) -> bytes:
        while True:
            if len(self._buf) >= 4:
                (n,) = _INT.unpack_from(self._buf, 0)
                if len(self._buf) >= 4 + n:
                    frame = bytes(self._buf[4 : 4 + n])
                    del self._buf[: 4 + n]
                    return frame
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                raise TimeoutError(f"no complete frame from {self.host}:{self.port} in time")
            self.sock.settimeout(remaining_s)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError(f"no complete frame from {self.host}:{self.port} in time") from None
            if not chunk:
                raise ConnectionClosed(f"{self.host}:{self.port} closed the connection")
            self._buf += chunk

    def _read_one(self, deadline: float):
        """Read one frame; record it; return ("event", Event) or ("reply", Reply)."""
        r = Reader(self._read_frame(deadline))
        xid, zxid, err = r.int(), r.long(), r.int()
        if xid == NOTIFICATION_XID:
            ev = Event(r.int(), r.int(), r.string(), zxid)
            self.log.append(("event", ev))
            self.events.append(ev)
            return "event", ev
        if zxid > 0:
            self.last_zxid = max(self.last_zxid, zxid)
        self.log.append(("reply", xid, err))
        return "reply", Reply(xid, zxid, err, r.data[r.offset :])

    # -- requests ---------------------------------------------------------------------------
    def send(self, opcode: int, body: bytes = b"", xid: Optional[int] = None) -> int:
        if xid is None:
            self._xid += 1
            xid = self._xid
        self._send_frame(enc_int(xid) + enc_int(opcode) + body)
        return xid

    def read_reply(self, xid: int) -> Reply:
        """Read frames (recording notifications) until the reply to ``xid``."""
        deadline = time.monotonic() + self.io_timeout_s
        while True:
            kind, item = self._read_one(deadline)
            if kind == "reply":
                if item.xid != xid:
                    raise AssertionError(f"reply xid {item.xid} while waiting for {xid} (out of order)")
                return item

    def call(self, opcode: int, body: bytes = b"") -> Reply:
        return self.read_reply(self.send(opcode, body))

    def next_event(self, timeout_s: Optional[float] = None) -> Event:
        """The oldest unconsumed notification, reading from the socket until one arrives."""
        deadline = time.monotonic() + (self.io_timeout_s if timeout_s is None else timeout_s)
        while not self.events:
            kind, item = self._read_one(deadline)
            if kind == "reply":
                raise AssertionError(f"unexpected reply {item} while waiting for an event")
        return self.events.popleft()

    def ping(self) -> Reply:
        """A round trip. Notifications caused by writes answered before it arrive before its reply."""
        self.send(PING, xid=PING_XID)
        return self.read_reply(PING_XID)

    def drain_events(self) -> list:
        """Round-trip once, then return and consume every notification received so far."""
        self.ping()
        out = list(self.events)
        self.events.clear()
        return out

    # -- operations (raise kazoo's exception for a non-zero err) ------------------------------
    def create(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=PERSISTENT) -> str:
        return self.call(*op_create(path, data, acl, flags)).raise_for_error().reader().string()

    def create2(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=PERSISTENT):
        r = self.call(*op_create(path, data, acl, flags, opcode=CREATE2)).raise_for_error().reader()
        return r.string(), r.stat()

    def create_container(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=CONTAINER):
        r = self.call(*op_create(path, data, acl, flags, opcode=CREATE_CONTAINER)).raise_for_error().reader()
        return r.string(), r.stat()

    def create_ttl(self, path, data=b"", acl=OPEN_ACL_UNSAFE, flags=PERSISTENT_WITH_TTL, ttl_ms=60000):
        body = op_create(path, data, acl, flags)[1] + enc_long(ttl_ms)
        r = self.call(CREATE_TTL, body).raise_for_error().reader()
        return r.string(), r.stat()

    def delete(self, path, version=-1) -> None:
        self.call(*op_delete(path, version)).raise_for_error()

    def exists(self, path, watch=False) -> Optional[ZnodeStat]:
        reply = self.call(EXISTS, enc_string(path) + enc_bool(watch))
        if reply.err == -101:
            return None
        return reply.raise_for_error().reader().stat()

    def get_data(self, path, watch=False):
        r = self.call(GET_DATA, enc_string(path) + enc_bool(watch)).raise_for_error().reader()
        return r.buffer(), r.stat()

    def set_data(self, path, data, version=-1) -> ZnodeStat:
        return self.call(*op_set_data(path, data, version)).raise_for_error().reader().stat()

    def get_acl(self, path):
        r = self.call(GET_ACL, enc_string(path)).raise_for_error().reader()
        return r.acls(), r.stat()

    def set_acl(self, path, acls, version=-1) -> ZnodeStat:
        body = enc_string(path) + enc_acls(acls) + enc_int(version)
        return self.call(SET_ACL, body).raise_for_error().reader().stat()

    def get_children(self, path, watch=False) -> List[str]:
        return self.call(GET_CHILDREN, enc_string(path) + enc_bool(watch)).raise_for_error().reader().strings()

    def get_children2(self, path, watch=False):
        r = self.call(GET_CHILDREN2, enc_string(path) + enc_bool(watch)).raise_for_error().reader()
        return r.strings(), r.stat()

    def sync(self, path) -> str:
        return self.call(SYNC, enc_string(path)).raise_for_error().reader().string()

    def multi(self, ops: Iterable[Tuple[int, bytes]]) -> list:
        return decode_multi(self.call(MULTI, encode_multi(ops)).raise_for_error().reader())

    def multi_read(self, ops: Iterable[Tuple[int, bytes]]) -> list:
        return decode_multi(self.call(MULTI_READ, encode_multi(ops)).raise_for_error().reader())

    def add_watch(self, path, mode=ADD_WATCH_PERSISTENT) -> int:
        """addWatch; returns the ErrorResponse int in the reply body (0)."""
        return self.call(ADD_WATCH, enc_string(path) + enc_int(mode)).raise_for_error().reader().int()

    def remove_watches(self, path, watcher_type=WATCHER_ANY) -> None:
        self.call(REMOVE_WATCHES, enc_string(path) + enc_int(watcher_type)).raise_for_error()

    def check_watches(self, path, watcher_type=WATCHER_ANY) -> None:
        self.call(CHECK_WATCHES, enc_string(path) + enc_int(watcher_type)).raise_for_error()

    def get_ephemerals(self, prefix) -> List[str]:
        return self.call(GET_EPHEMERALS, enc_string(prefix)).raise_for_error().reader().strings()

    def get_all_children_number(self, path) -> int:
        return self.call(GET_ALL_CHILDREN_NUMBER, enc_string(path)).raise_for_error().reader().int()

    def who_am_i(self) -> List[Tuple[str, str]]:
        r = self.call(WHO_AM_I).raise_for_error().reader()
        return [(r.string(), r.string()) for _ in range(r.int())]

    def add_auth(self, scheme: str, auth: bytes) -> None:
        self.send(AUTH, enc_int(0) + enc_string(scheme) + enc_buffer(auth), xid=AUTH_XID)
        self.read_reply(AUTH_XID).raise_for_error()

    # -- ending -----------------------------------------------------------------------------
    def close_session(self) -> Reply:
        """closeSession: the server deletes the session's ephemerals, replies, and hangs up."""
        try:
            return self.call(CLOSE_SESSION)
        finally:
            self.close()

    def close(self) -> None:
        """Drop the TCP connection only; the session lives on until it expires."""
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.sock.fileno() != -1:
            try:
                self.close_session()
            except (OSError, ConnectionError, TimeoutError, AssertionError):
                self.close()
