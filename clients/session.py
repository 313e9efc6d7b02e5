"""ClientSession: one ZooKeeper session across many connections, without any I/O.

Theory of operation.  The session is the client's half of ZooKeeper's contract; the connection
(``coord.protocol.client_conn.ClientConnection``) is only its current carrier.  A driver (the
blocking client's I/O thread, the Twisted protocol, or a test) feeds in what happens, always with
the current time ``now`` in seconds from any monotonic clock, and carries out what comes out::

    inputs                                   outputs (``pop_outputs()``, in order)
    start(now)                               ConnectTo(host, port, conn_id)  open a socket
    connection_made(now, conn_id)            Write(conn_id, data)             write these bytes
    data_received(now, conn_id, data)        Disconnect(conn_id)              close that socket
    connection_lost(now, conn_id)            StateChanged(old, new)
    tick(now)  (at or after next_deadline)   Completed(request_id, err, response)
    submit(now, opcode, record, watch=None)  WatchFired(event, watchers)
    cancel(request_id) / add_auth / close    ProbeServer(host, port, probe_id) ask "isro"
    probe_result(now, probe_id, answer)

``conn_id`` names one socket: events about an older socket (already replaced) are ignored, so a
driver never has to worry about a late callback from a connection the session has given up on.

Connections.  Hosts come from a kazoo-style connect string ``"h1:2181,h2:2181/chroot"`` and are
shuffled once with the injected ``rng`` (unless ``randomize_hosts=False``, kazoo's option: then the
first host is tried first); the session walks that list round-robin.  A new socket
gets a ConnectRequest carrying the session id and password (0 and zeros for a new session) and the
highest zxid seen so far (``lastZxidSeen``: a server that has seen less refuses us, and we move on,
so the client never travels back in time).  Only once the ConnectResponse arrives are the queued
requests sent, preceded by the watch re-registration (SetWatches, or SetWatches2 when persistent
watches exist, as the Java client does; split in frames of at most 128 KiB) and the auth replay.
After a connection drops, the next host is tried after a random pause below
``max_reconnect_delay_s`` (as the Java client does); after a failed attempt the ceiling of that
pause starts at 0.1 s and doubles per consecutive failure up to ``max_reconnect_delay_s``.

Liveness.  With negotiated session timeout T, a PING goes out when nothing has been sent for T/3,
and the connection is declared dead when nothing has been received for 2T/3 (the Java client's
rule), leaving the last third to find another server before the session expires.  A connection
attempt gets T/len(hosts) (at least ``min_connect_timeout_s``).

States (what users program against; kazoo/Curator names).  LOST before the first session and after
expiry, CONNECTED / CONNECTED_READ_ONLY with a live connection, SUSPENDED when the connection
dropped but the session may live (do not trust your lock), CLOSED after ``close()``
(``close_acknowledged`` then says whether the server answered the CLOSE_SESSION).  Expiry is
learnt from the server (a ConnectResponse with timeout 0): then every watch is dropped and each
watcher is called once with a ``NONE`` event in state LOST (after the LOST state change), queued
requests fail with SESSION_EXPIRED, and a brand-new session is established (state LOST, then
CONNECTED).  Requests in flight when a connection drops fail with CONNECTION_LOSS: their outcome
is unknown and they are never resent.  Requests submitted while disconnected wait in a queue for
the next connection (``cancel`` removes one that has not been sent).

Read-only servers.  With ``read_only=True`` a server cut off from its quorum may take the session
(CONNECTED_READ_ONLY).  The session then keeps looking for a read-write server, as the Java client
does: it asks the other hosts in turn ``isro`` (a ``ProbeServer`` output; the driver opens a
separate socket, sends the four bytes and reports the answer with ``probe_result``), waiting 0.1 s
before the first probe and doubling up to 60 s between rounds.  When one answers ``rw`` the
session drops its read-only connection (requests in flight fail with CONNECTION_LOSS) and connects
there at once.  A session that has only ever been read-only asks that server for a new session
(id 0, the Java client's ``seenRwServerBefore`` rule): its read-only session id means nothing to
the quorum.

Watches.  A request may carry a ``WatchRegistration``; the watcher is recorded only when the reply
says the server set it (Java's rule: a data watch on a successful getData/exists, an exist watch on
exists -> NoNode, a child watch on a successful getChildren, a persistent one on addWatch).  A
notification hands back every watcher it triggers (one-shot ones are removed), with the path made
relative to the chroot.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from coord.protocol.client_conn import (
    ClientConnection,
    Connected,
    PingReply,
    ReplyReceived,
    WatchNotification,
)
from coord.protocol.codes import DEFAULT_MAX_FRAME_BYTES, Err, EventType, OpCode
from coord.protocol.errors import ProtocolError
from coord.protocol.records import AuthPacket, SetWatches, SetWatches2

__all__ = [
    "ClientSession", "State", "WatchKind", "WatchRegistration", "WatchedEvent",
    "ConnectTo", "Write", "Disconnect", "StateChanged", "Completed", "WatchFired", "ProbeServer",
    "parse_hosts", "ERR_CLOSED", "ERR_AUTH_FAILED",
]

ERR_CLOSED = -1001  # client-local: the client closed with the request outstanding
ERR_AUTH_FAILED = Err.AUTH_FAILED
SET_WATCHES_MAX_BYTES = 128 * 1024  # Java's ClientCnxn.SET_WATCHES_MAX_LENGTH
RW_PROBE_FIRST_S = 0.1   # Java's minPingRwTimeout
RW_PROBE_MAX_S = 60.0    # Java's maxPingRwTimeout
RW_PROBE_TIMEOUT_S = 2.0  # one isro probe: connect, ask, read the answer


class State(str, enum.Enum):
    """Session states; compare equal to kazoo's ``KazooState`` strings."""

    CONNECTED = "CONNECTED"
    CONNECTED_READ_ONLY = "CONNECTED_READ_ONLY"
    SUSPENDED = "SUSPENDED"
    LOST = "LOST"
    CLOSED = "CLOSED"

    def __str__(self) -> str:
        return self.value


class WatchKind(enum.Enum):
    DATA = "data"  # getData, or exists on a node that exists
    EXIST = "exist"  # exists on a node that does not exist
    CHILD = "child"
    PERSISTENT = "persistent"
    PERSISTENT_RECURSIVE = "persistent_recursive"


class WatchRegistration(NamedTuple):
    kind: WatchKind  # DATA for getData/exists (exists -> NoNode turns it into EXIST)
    watcher: Any  # opaque to the session: the driver's callback


class WatchedEvent(NamedTuple):
    """What a watcher receives, in kazoo's shape: ``type`` is "CREATED", "DELETED", "CHANGED",
    "CHILD" (or "NONE" for a state change), ``state`` a State, ``path`` chroot-relative."""

    type: str
    state: str
    path: str | None


EVENT_TYPE_NAMES = {
    EventType.NODE_CREATED: "CREATED",
    EventType.NODE_DELETED: "DELETED",
    EventType.NODE_DATA_CHANGED: "CHANGED",
    EventType.NODE_CHILDREN_CHANGED: "CHILD",
}


# -- outputs --------------------------------------------------------------------------------------


class ConnectTo(NamedTuple):
    host: str
    port: int
    conn_id: int


class Write(NamedTuple):
    conn_id: int
    data: bytes


class Disconnect(NamedTuple):
    conn_id: int


class ProbeServer(NamedTuple):
    """Open a separate socket to this server, send ``b"isro"``, read until it closes (bounded by
    RW_PROBE_TIMEOUT_S), and report with ``probe_result(now, probe_id, answer or None)``."""
    host: str
    port: int
    probe_id: int


class StateChanged(NamedTuple):
    old: State
    new: State


class Completed(NamedTuple):
    request_id: int
    err: int  # 0, an Err code, or ERR_CLOSED
    response: object  # the decoded response record (None on error or for bodiless replies)


class WatchFired(NamedTuple):
    event: WatchedEvent
    watchers: tuple


def parse_hosts(hosts: str) -> tuple[list[tuple[str, int]], str]:
    """``"h1:2181,h2/chroot"`` -> ``([("h1", 2181), ("h2", 2181)], "/chroot")``; chroot "" if none."""
    hosts = hosts.strip()
    chroot = ""
    slash = hosts.find("/")
    if slash >= 0:
        hosts, chroot = hosts[:slash], hosts[slash:].rstrip("/")
    result = []
    for item in hosts.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep:
            host, port = item, "2181"
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad host in connect string: {item!r}")
        result.append((host, int(port)))
    if not result:
        raise ValueError(f"no hosts in connect string {hosts!r}")
    return result, chroot


class _Request(NamedTuple):
    request_id: int
    opcode: int
    record: object
    watch: WatchRegistration | None
    watch_path: str | None  # server path the watch is about


_INTERNAL = -1  # request_id of SetWatches / auth: their replies are not reported as Completed


def _each_once(watchers) -> tuple:
    """The watchers in first-seen order, equal ones once (as registration keeps them): a set keeps
    thousands cheap (an expiry drops every watch at once), a list scan takes an unhashable one."""
    once: list = []
    seen: set = set()
    for watcher in watchers:
        try:
            if watcher in seen:
                continue
            seen.add(watcher)
        except TypeError:
            if watcher in once:
                continue
        once.append(watcher)
    return tuple(once)


class ClientSession:
    """The session state machine; see the module docstring for the inputs and outputs."""

    def __init__(
        self,
        hosts: str,
        *,
        rng,
        session_timeout_s: float = 10.0,
        read_only: bool = False,
        max_reconnect_delay_s: float = 1.0,
        min_connect_timeout_s: float = 1.0,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        session_id: int = 0,
        passwd: bytes | None = None,
        randomize_hosts: bool = True,
    ) -> None:
        self.hosts, self.chroot = parse_hosts(hosts)
        if randomize_hosts:
            rng.shuffle(self.hosts)
        self._rng = rng
        self.requested_timeout_ms = int(session_timeout_s * 1000)
        self.allow_read_only = read_only
        self.max_reconnect_delay_s = max_reconnect_delay_s
        self.min_connect_timeout_s = min_connect_timeout_s
        self.max_frame_bytes = max_frame_bytes

        self.state = State.LOST
        self.session_id = session_id
        self.passwd = passwd if passwd is not None else b"\0" * 16
        self.negotiated_timeout_ms = self.requested_timeout_ms
        self.last_zxid_seen = 0
        self.connected_host: tuple[str, int] | None = None
        self.connections = 0  # handshakes completed: recipes resync when it changes
        # The server answered our CLOSE_SESSION: the session (and its ephemerals) is certainly
        # gone. False after a close that timed out or lost its connection: it may live on
        # until it expires.
        self.close_acknowledged = False

        self._outputs: list = []
        self._conn: ClientConnection | None = None
        self._conn_id = 0
        self._handshaken = False
        self._host_index = -1
        self._failed_attempts = 0
        self._started = False
        self._closing = False
        self._connect_deadline: float | None = None
        self._reconnect_at: float | None = None
        self._close_deadline: float | None = None
        self._last_send = 0.0
        self._last_recv = 0.0
        # Looking for a read-write server while connected read-only (see the module docstring).
        self._seen_rw_server = session_id != 0
        self._probe_at: float | None = None
        self._probe_interval_s = RW_PROBE_FIRST_S
        self._probe: tuple[int, tuple[str, int], float] | None = None   # id, host, deadline
        self._probe_ids = 0
        self._probe_index = 0
        self._rw_host: tuple[str, int] | None = None

        self._next_request_id = 0
        self._queued: list[_Request] = []  # submitted, not yet sent
        self._in_flight: dict[int, _Request] = {}  # xid -> request
        self._auth: list[AuthPacket] = []
        self._watches: dict[WatchKind, dict[str, list]] = {kind: {} for kind in WatchKind}

    # -- paths ------------------------------------------------------------------------------------

    def server_path(self, path: str) -> str:
        """The server's path for a chroot-relative ``path``."""
        if not self.chroot:
            return path
        return self.chroot if path == "/" else self.chroot + path

    def client_path(self, path: str) -> str:
        """The chroot-relative path for a server ``path``."""
        if not self.chroot or path is None:
            return path
        if path == self.chroot:
            return "/"
        if path.startswith(self.chroot + "/"):
            return path[len(self.chroot):]
        return path

    # -- driver API -------------------------------------------------------------------------------

    def pop_outputs(self) -> list:
        outputs, self._outputs = self._outputs, []
        return outputs

    @property
    def connected(self) -> bool:
        return self.state in (State.CONNECTED, State.CONNECTED_READ_ONLY)

    def start(self, now: float) -> None:
        if self._started:
            raise RuntimeError("ClientSession.start() called twice")
        self._started = True
        self._connect_next(now)

    def next_deadline(self) -> float | None:
        """The time at which ``tick`` has something to do (None: nothing scheduled)."""
        candidates = [self._reconnect_at, self._connect_deadline, self._close_deadline,
                      self._probe_at, self._probe[2] if self._probe is not None else None]
        if self._conn is not None and self._handshaken:
            timeout_s = self.negotiated_timeout_ms / 1000
            candidates.append(self._last_send + timeout_s / 3)
            candidates.append(self._last_recv + timeout_s * 2 / 3)
        present = [c for c in candidates if c is not None]
        return min(present) if present else None

    def tick(self, now: float) -> None:
        if self.state is State.CLOSED:
            return
        if self._close_deadline is not None and now >= self._close_deadline:
            self._finish_close()
            return
        if self._reconnect_at is not None and now >= self._reconnect_at:
            self._reconnect_at = None
            self._connect_next(now)
            return
        if self._probe is not None and now >= self._probe[2]:
            self.probe_result(now, self._probe[0], None)
        if self._probe_at is not None and now >= self._probe_at:
            self._start_probe(now)
        if not self._handshaken:  # a TCP connect or a handshake in progress
            if self._connect_deadline is not None and now >= self._connect_deadline:
                self._drop_connection(now)
            return
        timeout_s = self.negotiated_timeout_ms / 1000
        if now - self._last_recv >= timeout_s * 2 / 3:
            self._drop_connection(now)  # nothing heard for 2T/3: try another server in time
        elif now - self._last_send >= timeout_s / 3 and not self._closing:
            self._write(now, self._conn.ping())

    def connection_made(self, now: float, conn_id: int) -> None:
        if conn_id != self._conn_id or self._conn is not None or self.state is State.CLOSED:
            return
        self._conn = ClientConnection(self.max_frame_bytes)
        self._handshaken = False
        self._last_recv = now
        # A session only ever served read-only is unknown to the quorum: ask for a new one.
        session_id, passwd = ((self.session_id, self.passwd) if self._seen_rw_server
                              else (0, b"\0" * 16))
        data = self._conn.connect(
            self.last_zxid_seen, self.requested_timeout_ms, session_id, passwd,
            self.allow_read_only,
        )
        self._write(now, data)

    def connection_lost(self, now: float, conn_id: int) -> None:
        """The socket ``conn_id`` closed or could not be opened."""
        if conn_id != self._conn_id or self.state is State.CLOSED:
            return
        self._lose_connection(now)

    def data_received(self, now: float, conn_id: int, data: bytes) -> None:
        if conn_id != self._conn_id or self._conn is None:
            return
        self._last_recv = now
        try:
            events = self._conn.receive_data(data)
        except ProtocolError:
            self._drop_connection(now)
            return
        for event in events:
            if self._conn is None:  # an event below dropped the connection
                return
            if isinstance(event, ReplyReceived):
                self._on_reply(now, event)
            elif isinstance(event, WatchNotification):
                self._on_notification(event)
            elif isinstance(event, Connected):
                self._on_connected(now, event)
            elif isinstance(event, PingReply):
                pass
        if self._conn is not None:
            self.last_zxid_seen = max(self.last_zxid_seen, self._conn.last_zxid_seen)

    def submit(self, now: float, opcode: int, record=None,
               watch: WatchRegistration | None = None, watch_path: str | None = None,
               wait_for_connection: bool = True) -> int:
        """Queue one request; its ``Completed`` comes later with the returned request id.

        ``watch_path`` is the server path of a watch (``record.path`` when omitted).  With
        ``wait_for_connection=False`` a request made while disconnected fails at once with
        CONNECTION_LOSS instead of waiting for the next connection (for loops that must react
        to the disconnection itself).
        """
        self._next_request_id += 1
        request_id = self._next_request_id
        if self.state is State.CLOSED or self._closing:
            self._outputs.append(Completed(request_id, ERR_CLOSED, None))
            return request_id
        if watch is not None and watch_path is None:
            watch_path = record.path
        request = _Request(request_id, opcode, record, watch, watch_path)
        if self.connected:
            self._send(now, request)
        elif wait_for_connection:
            self._queued.append(request)
        else:
            self._outputs.append(Completed(request_id, Err.CONNECTION_LOSS, None))
        return request_id

    def cancel(self, request_id: int) -> bool:
        """Forget a request that has not been sent yet; False if it was sent (or is unknown)."""
        for index, request in enumerate(self._queued):
            if request.request_id == request_id:
                del self._queued[index]
                return True
        return False

    def add_auth(self, now: float, scheme: str, credential: bytes) -> None:
        """Authenticate now (if connected) and again on every new connection."""
        packet = AuthPacket(0, scheme, credential)
        self._auth.append(packet)
        if self.connected:
            self._send(now, _Request(_INTERNAL, OpCode.AUTH, packet, None, None))

    def close(self, now: float, timeout_s: float = 5.0) -> None:
        """Close the session: CLOSE_SESSION if connected, then CLOSED (bounded by ``timeout_s``)."""
        if self.state is State.CLOSED or self._closing:
            return
        self._closing = True
        self._reconnect_at = self._probe_at = self._probe = None
        self._fail_queued(ERR_CLOSED)
        if self.connected:
            self._close_deadline = now + timeout_s
            self._send(now, _Request(_INTERNAL, OpCode.CLOSE_SESSION, None, None, None))
        else:
            self._finish_close()

    def probe_result(self, now: float, probe_id: int, answer: bytes | None) -> None:
        """What a server answered to ``isro`` (None: no answer in time, or the probe failed)."""
        if self._probe is None or self._probe[0] != probe_id:
            return
        _, host, _ = self._probe
        self._probe = None
        if self.state is not State.CONNECTED_READ_ONLY:
            return
        if answer is not None and answer.strip() == b"rw":
            self._probe_at = None
            self._rw_host = host
            self._drop_connection(now)
            self._reconnect_at = now   # at once: a read-write server is waiting
            return
        self._probe_index += 1
        if self._probe_index % max(1, len(self.hosts) - 1) == 0:   # a round done: back off
            self._probe_interval_s = min(RW_PROBE_MAX_S, self._probe_interval_s * 2)
        self._probe_at = now + self._probe_interval_s

    def watchers(self, kind: WatchKind) -> dict[str, list]:
        """Server path -> watchers of one kind (read-only view, for tests and introspection)."""
        return {path: list(ws) for path, ws in self._watches[kind].items()}

    def remove_watcher(self, kind: WatchKind, path: str, watcher) -> None:
        """Forget a client-side watcher (the server may still notify; nothing will fire)."""
        table = self._watches[kind]
        server_path = self.server_path(path)
        watchers = table.get(server_path)
        if watchers and watcher in watchers:
            watchers.remove(watcher)
            if not watchers:
                del table[server_path]

    # -- connection life --------------------------------------------------------------------------

    def _start_probe(self, now: float) -> None:
        self._probe_at = None
        others = [h for h in self.hosts if h != self.connected_host]
        if not others or self.state is not State.CONNECTED_READ_ONLY:
            return
        host = others[self._probe_index % len(others)]
        self._probe_ids += 1
        self._probe = (self._probe_ids, host, now + RW_PROBE_TIMEOUT_S)
        self._outputs.append(ProbeServer(host[0], host[1], self._probe_ids))

    def _connect_next(self, now: float) -> None:
        if self._rw_host is not None and self._rw_host in self.hosts:
            self._host_index = self.hosts.index(self._rw_host) - 1
        self._rw_host = None
        self._host_index = (self._host_index + 1) % len(self.hosts)
        host, port = self.hosts[self._host_index]
        self._conn_id += 1
        self._conn = None
        self._handshaken = False
        connect_timeout_s = max(self.min_connect_timeout_s,
                                self.requested_timeout_ms / 1000 / len(self.hosts))
        self._connect_deadline = now + connect_timeout_s
        self._outputs.append(ConnectTo(host, port, self._conn_id))

    def _drop_connection(self, now: float) -> None:
        """We give up on the current socket: close it and carry on as if it had dropped."""
        self._outputs.append(Disconnect(self._conn_id))
        self._lose_connection(now)

    def _lose_connection(self, now: float) -> None:
        was_handshaken = self._conn is not None and self._handshaken
        if self._conn is not None:
            self.last_zxid_seen = max(self.last_zxid_seen, self._conn.last_zxid_seen)
        self._conn = None
        self._handshaken = False
        self._connect_deadline = None
        self.connected_host = None
        self._probe_at = self._probe = None
        in_flight, self._in_flight = self._in_flight, {}
        for request in in_flight.values():
            if request.request_id != _INTERNAL:
                self._outputs.append(Completed(request.request_id, Err.CONNECTION_LOSS, None))
        if self._closing:
            self._finish_close()
            return
        if self.connected:
            self._set_state(State.SUSPENDED)
        self._conn_id += 1  # late events from the old socket are ignored from here on
        if was_handshaken:
            # Java's rule: a random pause below the ceiling before the next server, so a fleet
            # that lost one server does not stampede the next, and a client whose session was
            # taken over elsewhere does not snatch it straight back.
            self._failed_attempts = 0
            self._reconnect_at = now + self.max_reconnect_delay_s * self._rng.random()
        else:
            self._failed_attempts += 1
            ceiling_s = min(self.max_reconnect_delay_s, 0.05 * 2 ** min(self._failed_attempts, 16))
            self._reconnect_at = now + ceiling_s * self._rng.random()

    def _on_connected(self, now: float, event: Connected) -> None:
        response = event.response
        self._connect_deadline = None
        if response.timeout_ms <= 0:
            self._expire(now)
            return
        self._handshaken = True
        self.connections += 1
        self._failed_attempts = 0
        self.connected_host = self.hosts[self._host_index]
        self.session_id = response.session_id
        self.passwd = response.passwd
        self.negotiated_timeout_ms = response.timeout_ms
        self._resend_watches(now)
        for packet in self._auth:
            self._send(now, _Request(_INTERNAL, OpCode.AUTH, packet, None, None))
        queued, self._queued = self._queued, []
        for request in queued:
            self._send(now, request)
        if response.read_only:
            self._probe_interval_s = RW_PROBE_FIRST_S
            self._probe_at = now + self._probe_interval_s
        else:
            self._seen_rw_server = True
        self._set_state(State.CONNECTED_READ_ONLY if response.read_only else State.CONNECTED)

    def _expire(self, now: float) -> None:
        """The server says the session is gone: drop everything tied to it, start a new one."""
        self._outputs.append(Disconnect(self._conn_id))
        self._conn = None
        self.session_id = 0
        self.passwd = b"\0" * 16
        dropped = _each_once(w for table in self._watches.values() for ws in table.values() for w in ws)
        for table in self._watches.values():
            table.clear()
        self._fail_queued(Err.SESSION_EXPIRED)
        self._set_state(State.LOST)
        if dropped:
            # Every watch died with the session: tell each watcher once, after the state listeners
            # (kazoo's order; Java delivers Expired to every watcher too), so code waiting on a
            # watch alone does not wait forever.
            self._outputs.append(WatchFired(WatchedEvent("NONE", State.LOST.value, None), dropped))
        self._conn_id += 1
        self._reconnect_at = now

    def _finish_close(self) -> None:
        if self._conn is not None:
            self._outputs.append(Disconnect(self._conn_id))
        self._conn = None
        self.connected_host = None
        self._conn_id += 1
        self._close_deadline = self._reconnect_at = self._connect_deadline = None
        self._probe_at = self._probe = None
        in_flight, self._in_flight = self._in_flight, {}
        for request in in_flight.values():
            if request.request_id != _INTERNAL:
                self._outputs.append(Completed(request.request_id, ERR_CLOSED, None))
        self._fail_queued(ERR_CLOSED)
        self._set_state(State.CLOSED)

    def _fail_queued(self, err: int) -> None:
        queued, self._queued = self._queued, []
        for request in queued:
            self._outputs.append(Completed(request.request_id, err, None))

    def _set_state(self, new: State) -> None:
        old = self.state
        if old is not new:
            self.state = new
            self._outputs.append(StateChanged(old, new))

    # -- sending and receiving --------------------------------------------------------------------

    def _write(self, now: float, data: bytes) -> None:
        self._last_send = now
        self._outputs.append(Write(self._conn_id, data))

    def _send(self, now: float, request: _Request) -> None:
        xid, data = self._conn.send(request.opcode, request.record)
        if request.opcode != OpCode.PING:
            self._in_flight[xid] = request
        self._write(now, data)

    def _resend_watches(self, now: float) -> None:
        tables = {kind: sorted(self._watches[kind]) for kind in WatchKind}
        if not any(tables.values()):
            return
        use_v2 = bool(tables[WatchKind.PERSISTENT] or tables[WatchKind.PERSISTENT_RECURSIVE])
        kinds = list(WatchKind) if use_v2 else [WatchKind.DATA, WatchKind.EXIST, WatchKind.CHILD]
        batch = {kind: [] for kind in kinds}
        size = 0
        for kind in kinds:
            for path in tables[kind]:
                cost = 4 + len(path.encode("utf-8"))
                if size + cost > SET_WATCHES_MAX_BYTES and size:
                    self._send_set_watches(now, use_v2, batch)
                    batch = {k: [] for k in kinds}
                    size = 0
                batch[kind].append(path)
                size += cost
        self._send_set_watches(now, use_v2, batch)

    def _send_set_watches(self, now: float, use_v2: bool, batch: dict) -> None:
        relative_zxid = self.last_zxid_seen
        if use_v2:
            record = SetWatches2(relative_zxid, batch[WatchKind.DATA], batch[WatchKind.EXIST],
                                 batch[WatchKind.CHILD], batch[WatchKind.PERSISTENT],
                                 batch[WatchKind.PERSISTENT_RECURSIVE])
            opcode = OpCode.SET_WATCHES2
        else:
            record = SetWatches(relative_zxid, batch[WatchKind.DATA], batch[WatchKind.EXIST],
                                batch[WatchKind.CHILD])
            opcode = OpCode.SET_WATCHES
        self._send(now, _Request(_INTERNAL, opcode, record, None, None))

    def _on_reply(self, now: float, reply: ReplyReceived) -> None:
        request = self._in_flight.pop(reply.xid, None)
        if request is None:
            return
        if request.opcode == OpCode.CLOSE_SESSION:
            self.close_acknowledged = reply.err == 0
            self._finish_close()
            return
        if request.request_id == _INTERNAL:
            if request.opcode == OpCode.AUTH and reply.err != 0:
                self._auth_failed()
            return
        if request.watch is not None:
            self._register_watch(request, reply.err)
        self._outputs.append(Completed(request.request_id, reply.err, reply.response))

    def _auth_failed(self) -> None:
        """ZooKeeper closes the connection after a failed auth; the Java client stops for good."""
        self._outputs.append(Disconnect(self._conn_id))
        self._conn = None
        in_flight, self._in_flight = self._in_flight, {}
        for request in in_flight.values():
            if request.request_id != _INTERNAL:
                self._outputs.append(Completed(request.request_id, ERR_AUTH_FAILED, None))
        self._fail_queued(ERR_AUTH_FAILED)
        self._finish_close()

    def _register_watch(self, request: _Request, err: int) -> None:
        kind = request.watch.kind
        if kind is WatchKind.DATA and request.opcode == OpCode.EXISTS and err == Err.NO_NODE:
            kind = WatchKind.EXIST
        elif err != 0:
            return
        watchers = self._watches[kind].setdefault(request.watch_path, [])
        if request.watch.watcher not in watchers:
            watchers.append(request.watch.watcher)

    def _on_notification(self, notification: WatchNotification) -> None:
        event = notification.event
        path = event.path
        tables = self._watches
        fired: list = []   # may repeat a watcher: _each_once below

        def take(kind: WatchKind) -> None:
            fired.extend(tables[kind].pop(path, ()))

        event_type = event.type
        if event_type in (EventType.NODE_CREATED, EventType.NODE_DATA_CHANGED):
            take(WatchKind.DATA)
            take(WatchKind.EXIST)
        elif event_type == EventType.NODE_CHILDREN_CHANGED:
            take(WatchKind.CHILD)
        elif event_type == EventType.NODE_DELETED:
            take(WatchKind.DATA)
            take(WatchKind.EXIST)
            take(WatchKind.CHILD)
        fired.extend(tables[WatchKind.PERSISTENT].get(path, ()))
        if event_type != EventType.NODE_CHILDREN_CHANGED:  # recursive watches skip child events
            for watched, watchers in tables[WatchKind.PERSISTENT_RECURSIVE].items():
                if path == watched or path.startswith(watched.rstrip("/") + "/"):
                    fired.extend(watchers)
        if fired:
            watched_event = WatchedEvent(EVENT_TYPE_NAMES.get(event_type, "NONE"), self.state.value,
                                         self.client_path(path))
            self._outputs.append(WatchFired(watched_event, _each_once(fired)))
