"""A TCP fault proxy between ensemble members: the network for runs that cannot use namespaces.

Theory of operation
-------------------
Members on 127.0.0.1 cannot be partitioned by the kernel without namespaces (which need root). So
every ordered pair of members (a -> b) gets a *link*: a listening socket of this process on
127.0.0.1 that forwards each connection to one of b's member ports. Member a is configured to dial
b through the link (coord: ``coord.dial.<b>=127.0.0.1:<link port>``; ZooKeeper: a's zoo.cfg lists
``server.<b>=127.0.0.1:<quorum link>:<election link>``), so all traffic a sends towards b, and b's
answers on those connections, pass here. Traffic b starts towards a uses the b -> a link. Clients
connect to members directly: the proxy sees member-to-member traffic only.

One thread runs a ``selectors`` loop over every socket; the nemesis thread changes the faults
under a lock and wakes the loop. Faults, with the interface of :class:`jepsen_like.netns.Network`:

* ``cut(a, b)``: both directions of every link between a and b go silent. The proxy stops reading
  and writing those connections (bytes wait in kernel buffers, as unacknowledged segments wait
  during a real partition; a sender whose buffers fill blocks, as it would); new connections on a
  cut link are accepted and *held*: nothing is forwarded and no connection is made to the target,
  so the dialler sees silence, never a refusal or a reset. ``heal()`` resumes them all: queued
  bytes flow on, in order (as TCP retransmits after a partition heals), and held connections are
  connected through, except those whose dialler gave up meanwhile (their TCP state is CLOSE_WAIT:
  like a SYN that never arrived, they are dropped without reaching the target).
* a target that refuses (a member down, or not listening yet) is retried for up to
  ``connect_retry_s`` (2 s) before the dialler's connection is closed: the dialler already saw
  it accepted by the proxy, so it cannot be told "refused"; the retry resolves the common race
  of dialling a new leader a few ms before it listens, as the dialler's own retry would.
* ``delay(a, ms, jitter_ms)``: every chunk read on a link touching a is delivered ``ms`` ± jitter
  later (order kept: a chunk never overtakes the one before it).
* ``lose(a, percent)``: a byte stream cannot lose bytes without corrupting it, so loss is what TCP
  makes of it: each chunk is "lost" with that probability and pays a retransmission timeout
  (200 ms, doubling for each further loss, at most 3) before it is delivered.

ZooKeeper's election port needs one protocol-aware touch. When a member with a lower id dials a
higher one, the higher one drops that connection and dials back, at the election address the
dialler put in its first message (``QuorumCnxManager`` initial message: protocol version, sid,
then ``host:port``), not at the address its own zoo.cfg names: that would bypass the proxy (a cut
member would still hear elections). So an ``election`` link made with
:func:`zookeeper_election_rewriter` rewrites that one address to the reverse link's port, as a NAT
helper would; nothing else is ever read or changed.

Bounded: at most ``buffer_bytes`` are held per direction of a connection (the proxy then stops
reading that side), the loop wakes at least every 0.5 s, and :meth:`ProxyNetwork.destroy` (also
registered with ``atexit``) stops the thread and closes every socket. Nothing outlives the
process: there is nothing for a later run to sweep.
"""

from __future__ import annotations

import atexit
import collections
import errno
import random
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from jepsen_like.netns import PartitionShapes

__all__ = ["ProxyNetwork", "ProxyError", "zookeeper_election_rewriter"]

HOST = "127.0.0.1"
_CHUNK = 65536
_TCP_CLOSE_WAIT = 8  # tcp_states.h: the peer sent FIN
_CONNECT_RETRY_INTERVAL_S = 0.05
_FIRST_MESSAGE_LIMIT = 4096  # a first message not decided within this many bytes passes unchanged


class ProxyError(RuntimeError):
    """The proxy cannot be built or used as asked."""


@dataclass
class _Link:
    source: str
    target: str
    label: str
    target_address: tuple[str, int]
    listener: socket.socket
    port: int
    rewrite_first: Callable[[bytes], bytes | None] | None = None
    connections: int = 0
    bytes_forwarded: int = 0
    held: int = 0
    rewritten: int = 0

    @property
    def pair(self) -> frozenset[str]:
        return frozenset((self.source, self.target))


@dataclass
class _Direction:
    """One direction of a proxied connection: bytes read from ``src``, waiting to go to ``dst``."""

    chunks: collections.deque = field(default_factory=collections.deque)  # [deliver_at, bytes]
    buffered: int = 0
    last_at: float = 0.0
    eof: bool = False   # src said EOF (nothing more will be read)
    shut: bool = False  # and dst has been told (shutdown SHUT_WR)


class _Connection:
    def __init__(self, link: _Link, client: socket.socket):
        self.link = link
        self.client = client
        self.upstream: socket.socket | None = None
        self.state = "held"  # held -> connecting (<-> retrying) -> open -> closed
        self.up = _Direction()    # client -> upstream
        self.down = _Direction()  # upstream -> client
        self.first: bytes | None = b"" if link.rewrite_first is not None else None  # undecided first bytes
        self.first_attempt = 0.0  # when the proxy first dialled the target for it
        self.retry_at = 0.0


class ProxyNetwork(PartitionShapes):
    """Links between ``members`` (names such as ``"n1"``) through this process. :meth:`create`
    first, :meth:`destroy` always (idempotent; also at interpreter exit)."""

    kind = "proxy"
    delay_available = True

    def __init__(self, members: Sequence[str], *, buffer_bytes: int = 1 << 20, rto_ms: float = 200.0,
                 connect_retry_s: float = 2.0, seed: int | None = None):
        self.members = list(members)
        self.connect_retry_s = connect_retry_s
        self.buffer_bytes = buffer_bytes
        self.rto_ms = rto_ms
        self.created = False
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._links: list[_Link] = []
        self._by_listener: dict[socket.socket, _Link] = {}
        self._connections: set[_Connection] = set()
        self._owner: dict[socket.socket, _Connection] = {}
        self._cuts: set[frozenset[str]] = set()
        self._delays: dict[str, tuple[float, float]] = {}
        self._loss: dict[str, float] = {}
        self._selector: selectors.BaseSelector | None = None
        self._registered: dict[socket.socket, int] = {}
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self.errors: list[str] = []

    # -- life cycle -----------------------------------------------------------------------------
    def create(self) -> "ProxyNetwork":
        if self.created:
            return self
        atexit.register(self.destroy)
        self.created = True
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._running = True
        self._thread = threading.Thread(target=self._loop, name="jepsen-proxy", daemon=True)
        self._thread.start()
        return self

    def destroy(self) -> None:
        """Stop the loop and close every socket. Idempotent."""
        if not self.created:
            return
        self.created = False
        self._running = False
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        with self._lock:
            for connection in list(self._connections):
                self._close(connection)
            for link in self._links:
                link.listener.close()
            self._by_listener.clear()
            if self._selector is not None:
                self._selector.close()
            for sock in (self._wake_r, self._wake_w):
                if sock is not None:
                    sock.close()
        try:
            atexit.unregister(self.destroy)
        except Exception:  # noqa: BLE001 - interpreter shutting down
            pass

    def __enter__(self) -> "ProxyNetwork":
        return self.create()

    def __exit__(self, *exc_info: object) -> None:
        self.destroy()

    # -- links ----------------------------------------------------------------------------------
    def add_link(self, source: str, target: str, target_address: tuple[str, int], label: str = "",
                 rewrite_first: Callable[[bytes], bytes | None] | None = None) -> int:
        """Listen on a fresh 127.0.0.1 port that forwards to ``target_address`` (one of
        ``target``'s member ports) on behalf of ``source``; returns the port for source's config.
        ``rewrite_first``: given the bytes the dialler sent so far, returns None (need more) or
        what to forward instead (see :func:`zookeeper_election_rewriter`)."""
        if not self.created:
            raise ProxyError("create() the proxy network before adding links")
        if source == target or source not in self.members or target not in self.members:
            raise ProxyError(f"a link joins two different members of {self.members}, not {source!r} -> {target!r}")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, 0))
        listener.listen(64)
        listener.setblocking(False)
        link = _Link(source, target, label, tuple(target_address), listener, listener.getsockname()[1],
                     rewrite_first)
        with self._lock:
            self._links.append(link)
            self._by_listener[listener] = link
        self._wake()
        return link.port

    def links(self) -> list[dict]:
        """Per link: source, target, label, port, target port, connections accepted, bytes forwarded."""
        with self._lock:
            return [{"source": l.source, "target": l.target, "label": l.label, "port": l.port,
                     "target_port": l.target_address[1], "connections": l.connections,
                     "bytes": l.bytes_forwarded, "held": l.held, "rewritten": l.rewritten,
                     "cut": l.pair in self._cuts}
                    for l in self._links]

    def describe(self) -> str:
        return (f"TCP fault proxy on {HOST} (not network namespaces): {len(self._links)} links, one per ordered "
                f"member pair and port; member-to-member traffic only, clients connect directly")

    # -- faults (the interface of netns.Network) -------------------------------------------------
    def cut(self, a: str, b: str) -> None:
        """Silence every link between ``a`` and ``b``, both directions."""
        if a == b:
            return
        with self._lock:
            self._cuts.add(frozenset((a, b)))
        self._wake()

    def lose(self, member: str, percent: int) -> None:
        """Each chunk on ``member``'s links is lost with this probability: delivered after a
        retransmission timeout (the stream stays intact, as TCP keeps it)."""
        with self._lock:
            self._loss[member] = float(percent)
        self._wake()

    def delay(self, member: str, delay_ms: int, jitter_ms: int) -> None:
        with self._lock:
            self._delays[member] = (float(delay_ms), float(jitter_ms))
        self._wake()

    def heal(self) -> None:
        """Remove every fault; queued bytes flow on and held connections are connected through."""
        with self._lock:
            self._cuts.clear()
            self._delays.clear()
            self._loss.clear()
            for connection in list(self._connections):
                if connection.state == "held":
                    self._release(connection, after_cut=True)
        self._wake()

    def faults(self) -> dict:
        """The faults in force, for logs and tests."""
        with self._lock:
            return {"cuts": sorted(sorted(pair) for pair in self._cuts), "delays": dict(self._delays),
                    "loss": dict(self._loss)}

    # -- the loop -------------------------------------------------------------------------------
    def _wake(self) -> None:
        sock = self._wake_w
        if sock is None:
            return
        try:
            sock.send(b"x")
        except (BlockingIOError, OSError):
            pass  # already awake (buffer full) or closed

    def _is_cut(self, link: _Link) -> bool:
        return link.pair in self._cuts

    def _extra_delay_s(self, link: _Link) -> float:
        total_ms = 0.0
        for member in (link.source, link.target):
            delay = self._delays.get(member)
            if delay is not None:
                total_ms += max(0.0, delay[0] + self._rng.uniform(-delay[1], delay[1]))
            loss = self._loss.get(member)
            if loss:
                for attempt in range(3):
                    if self._rng.random() * 100.0 >= loss:
                        break
                    total_ms += self.rto_ms * (2 ** attempt)
        return total_ms / 1000.0

    def _loop(self) -> None:
        while self._running:
            try:
                with self._lock:
                    timeout = self._arm()
                events = self._selector.select(timeout)
                with self._lock:
                    if not self._running:
                        return
                    for key, mask in events:
                        self._handle(key.fileobj, mask)
                    self._retry_due()
                    self._flush_due()
            except Exception as problem:  # noqa: BLE001 - never let one bad socket stop the network
                if not self._running:
                    return
                self.errors.append(f"{type(problem).__name__}: {problem}")
                del self.errors[:-20]
                time.sleep(0.01)

    def _set_interest(self, sock: socket.socket | None, events: int) -> None:
        if sock is None:
            return
        current = self._registered.get(sock, 0)
        if events == current:
            return
        if events == 0:
            self._selector.unregister(sock)
            del self._registered[sock]
        elif current == 0:
            self._selector.register(sock, events)
            self._registered[sock] = events
        else:
            self._selector.modify(sock, events)
            self._registered[sock] = events

    def _arm(self) -> float:
        """Register what each socket waits for now; returns the select timeout (next delivery)."""
        now = time.monotonic()
        timeout = 0.5
        for listener in self._by_listener:
            self._set_interest(listener, selectors.EVENT_READ)
        for connection in self._connections:
            if connection.state == "held" or self._is_cut(connection.link):
                self._set_interest(connection.client, 0)
                self._set_interest(connection.upstream, 0)
                continue
            if connection.state == "connecting":
                self._set_interest(connection.client, 0)
                self._set_interest(connection.upstream, selectors.EVENT_WRITE)
                continue
            if connection.state == "retrying":
                self._set_interest(connection.client, 0)
                timeout = min(timeout, connection.retry_at - now)
                continue
            for sock, incoming, outgoing in ((connection.client, connection.up, connection.down),
                                             (connection.upstream, connection.down, connection.up)):
                events = 0
                if not incoming.eof and incoming.buffered < self.buffer_bytes:
                    events |= selectors.EVENT_READ
                if outgoing.chunks:
                    wait = outgoing.chunks[0][0] - now
                    if wait <= 0:
                        events |= selectors.EVENT_WRITE
                    else:
                        timeout = min(timeout, wait)
                self._set_interest(sock, events)
        return max(0.0, timeout)

    def _handle(self, sock, mask: int) -> None:
        if sock is self._wake_r:
            try:
                while self._wake_r.recv(4096):
                    pass
            except (BlockingIOError, OSError):
                pass
            return
        link = self._by_listener.get(sock)
        if link is not None:
            self._accept(link)
            return
        connection = self._owner.get(sock)
        if connection is None or connection.state == "closed":
            return
        if connection.state in ("held", "retrying") or self._is_cut(connection.link):
            return  # cut after the loop armed: silence from now on
        if connection.state == "connecting":
            if sock is connection.upstream and mask & selectors.EVENT_WRITE:
                self._connected(connection)
            return
        is_client = sock is connection.client
        incoming = connection.up if is_client else connection.down
        outgoing = connection.down if is_client else connection.up
        if mask & selectors.EVENT_READ:
            self._read(connection, sock, incoming)
        if connection.state == "open" and mask & selectors.EVENT_WRITE:
            self._write(connection, sock, outgoing)

    def _accept(self, link: _Link) -> None:
        while True:
            try:
                client, _address = link.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as problem:
                if problem.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self.errors.append(f"accept on {link.port}: {problem}")
                return
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            link.connections += 1
            connection = _Connection(link, client)
            self._connections.add(connection)
            self._owner[client] = connection
            if self._is_cut(link):
                link.held += 1  # silence: accepted by the kernel anyway, never forwarded until heal
            else:
                self._release(connection)

    def _release(self, connection: _Connection, after_cut: bool = False) -> None:
        """Connect a connection to its target: at accept, or at heal for one held during a cut.
        (A connection whose dialler sent its bytes and closed at once is forwarded at accept: that
        is a short conversation, not a dialler that gave up.)"""
        if after_cut and _peer_gave_up(connection.client):
            self._close(connection)  # its dialler gave up during the cut: it never got through
            return
        connection.first_attempt = time.monotonic()
        self._connect_upstream(connection)

    def _connect_upstream(self, connection: _Connection) -> None:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setblocking(False)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.upstream = upstream
        self._owner[upstream] = connection
        connection.state = "connecting"
        code = upstream.connect_ex(connection.link.target_address)
        if code == 0:
            connection.state = "open"
        elif code not in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            self._upstream_failed(connection)

    def _connected(self, connection: _Connection) -> None:
        code = connection.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code != 0:
            self._upstream_failed(connection)
        else:
            connection.state = "open"

    def _upstream_failed(self, connection: _Connection) -> None:
        """The target refused. The dialler already saw its connection accepted (by us), so it
        cannot be told "refused"; retrying for a moment resolves the common race (dialling a
        leader a few ms before it listens) as the dialler's own retry would. After
        ``connect_retry_s`` the dialler sees its connection end."""
        self._drop_upstream(connection)
        if time.monotonic() - connection.first_attempt >= self.connect_retry_s:
            self._close(connection)
            return
        connection.state = "retrying"
        connection.retry_at = time.monotonic() + _CONNECT_RETRY_INTERVAL_S

    def _drop_upstream(self, connection: _Connection) -> None:
        sock, connection.upstream = connection.upstream, None
        if sock is not None:
            self._forget(sock)

    def _forget(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` and close it."""
        self._owner.pop(sock, None)
        if sock in self._registered:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass
            del self._registered[sock]
        try:
            sock.close()
        except OSError:
            pass

    def _retry_due(self) -> None:
        now = time.monotonic()
        for connection in list(self._connections):
            if connection.state == "retrying" and connection.retry_at <= now:
                if self._is_cut(connection.link):
                    connection.state = "held"  # cut meanwhile: silence, retried at heal
                    connection.link.held += 1
                else:
                    self._connect_upstream(connection)

    def _read(self, connection: _Connection, sock: socket.socket, direction: _Direction) -> None:
        try:
            data = sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(connection)
            return
        if not data:
            if direction is connection.up and connection.first:
                self._queue(connection, direction, connection.first)  # undecided: pass on as it came
            connection.first = None
            direction.eof = True
            self._flush(connection, direction)
            return
        if direction is connection.up and connection.first is not None:
            pending = connection.first + data
            replaced = connection.link.rewrite_first(pending)
            if replaced is None and len(pending) < _FIRST_MESSAGE_LIMIT:
                connection.first = pending
                return
            connection.first = None
            if replaced is not None and replaced != pending:
                connection.link.rewritten += 1
            data = pending if replaced is None else replaced
        self._queue(connection, direction, data)

    def _queue(self, connection: _Connection, direction: _Direction, data: bytes) -> None:
        now = time.monotonic()
        at = max(direction.last_at, now + self._extra_delay_s(connection.link))
        direction.last_at = at
        direction.chunks.append([at, data])
        direction.buffered += len(data)
        self._flush(connection, direction)

    def _target_of(self, connection: _Connection, direction: _Direction) -> socket.socket:
        return connection.upstream if direction is connection.up else connection.client

    def _write(self, connection: _Connection, sock: socket.socket, direction: _Direction) -> None:
        self._flush(connection, direction)

    def _flush(self, connection: _Connection, direction: _Direction) -> None:
        """Send what is due in ``direction``; pass EOF on once everything before it is out."""
        if connection.state != "open" or self._is_cut(connection.link):
            return
        sock = self._target_of(connection, direction)
        now = time.monotonic()
        while direction.chunks and direction.chunks[0][0] <= now:
            chunk = direction.chunks[0]
            try:
                sent = sock.send(chunk[1])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close(connection)
                return
            direction.buffered -= sent
            connection.link.bytes_forwarded += sent
            if sent < len(chunk[1]):
                chunk[1] = chunk[1][sent:]
                return
            direction.chunks.popleft()
        if direction.eof and not direction.chunks and not direction.shut:
            direction.shut = True
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            if connection.up.shut and connection.down.shut:
                self._close(connection)

    def _flush_due(self) -> None:
        for connection in list(self._connections):
            if connection.state == "open" and not self._is_cut(connection.link):
                self._flush(connection, connection.up)
                if connection.state == "open":
                    self._flush(connection, connection.down)

    def _close(self, connection: _Connection) -> None:
        if connection.state == "closed":
            return
        connection.state = "closed"
        self._connections.discard(connection)
        for sock in (connection.client, connection.upstream):
            if sock is not None:
                self._forget(sock)


def _peer_gave_up(sock: socket.socket) -> bool:
    """True when the other end already closed (TCP state CLOSE_WAIT): Linux's TCP_INFO, first byte."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    except (OSError, AttributeError):
        return False
    return bool(info) and struct.unpack("B", info[:1])[0] == _TCP_CLOSE_WAIT


_ZK_PROTOCOL_VERSIONS = (-65536, -65535)  # QuorumCnxManager PROTOCOL_VERSION_V1, _V2


def zookeeper_election_rewriter(address: str) -> Callable[[bytes], bytes | None]:
    """For a ZooKeeper election link a -> b: rewrite the election address in a's initial message
    (``long protocolVersion, long sid, int length, "host:port[|host:port...]"``) to ``address``
    (the b -> a election link), so that b, when it drops a's connection and dials back, dials
    through the proxy. A first message of another shape (an old-protocol bare sid) passes unchanged."""
    replacement = address.encode("ascii")

    def rewrite(data: bytes) -> bytes | None:
        if len(data) < 8:
            return None
        (version,) = struct.unpack(">q", data[:8])
        if version not in _ZK_PROTOCOL_VERSIONS:
            return data
        if len(data) < 20:
            return None
        (length,) = struct.unpack(">i", data[16:20])
        if not 0 < length <= 1024:
            return data
        if len(data) < 20 + length:
            return None
        return data[:16] + struct.pack(">i", len(replacement)) + replacement + data[20 + length:]

    return rewrite
