"""Workloads: what the clients do during a run, and which checkers judge the history.

Theory of operation
-------------------
Each of ``concurrency`` workers owns one session of the run's client library (``--client``: kazoo
or coord's own client; all that differs between them is in ``client_adapters.py``) and runs the
workload's ``run_worker`` loop until told to stop. Every operation goes through
:meth:`Worker.call`, which writes the invocation, runs it with a bounded wait, and writes the
completion:

* ``ok``: the server answered and the operation took effect (or was a read);
* ``fail``: it certainly did not take effect (a compare that failed, a lock not acquired in time),
  or it was a read, which has no effect to be unsure about;
* ``info``: anything else (connection loss, timeout, session expiry): it may or may not have taken
  effect. The worker then continues as a fresh process id (``process + concurrency``), Jepsen's
  convention, so the process that crashed never invokes again.

Workers connect to the members in rotation (``hosts`` rotated, not shuffled), so plain reads are
served by different members and stale reads can show. After the run and the final heal,
``final`` does the reads the checkers need (synced, retried, bounded) and ``checks`` returns the
verdicts. Workloads: ``register``, ``set``, ``sequential``, ``lock``, ``ephemeral``, ``watches``.
"""

from __future__ import annotations

import itertools
import queue
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from coord.protocol.client_conn import ClientConnection, Connected, ReplyReceived
from coord.protocol.codes import CreateMode, Err, OpCode
from coord.protocol.records import CreateRequest
from coord.tree.acl import OPEN_ACL_UNSAFE
from jepsen_like.checker.ephemerals import check_ephemerals
from jepsen_like.checker.ids import check_sequential_ids
from jepsen_like.checker.linearizability import Budget, check_linearizability
from jepsen_like.checker.locks import check_lock
from jepsen_like.checker.models import RegisterModel
from jepsen_like.checker.progress import check_progress
from jepsen_like.checker.sets import check_set
from jepsen_like.checker.watches import check_watches
from jepsen_like.client_adapters import (
    LOST, BadVersion, Client, ClientError, Lock, LockTimeout, NodeExists, NoNode, StateChange, WatchEvent, connect,
)
from jepsen_like.history import Event, HistoryWriter, operations

__all__ = ["WORKLOADS", "Fail", "Worker", "Workload", "make_workload"]

ROOT = "/jepsen"


class Fail(Exception):
    """Raised inside an operation: it definitely did not take effect."""


@dataclass
class Worker:
    index: int
    hosts: Sequence[str]
    history: HistoryWriter
    concurrency: int
    rng: random.Random
    client_kind: str = "kazoo"  # the library: a client_adapters.CLIENTS key
    op_timeout_s: float = 5.0
    session_timeout_s: float = 6.0
    process: int = 0
    client: Client | None = None
    session_lost: bool = False
    dropped_at: float = 0.0     # monotonic time the client last dropped its watches
    errors: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.process = self.index

    # -- the session ----------------------------------------------------------------------------
    def connect(self, timeout_s: float = 30.0) -> Client:
        rotation = self.index % len(self.hosts)
        hosts = ",".join([*self.hosts[rotation:], *self.hosts[:rotation]])
        self.session_lost = False
        self.client = connect(self.client_kind, hosts, session_timeout_s=self.session_timeout_s,
                              op_timeout_s=self.op_timeout_s, on_state=self._on_state, timeout_s=timeout_s,
                              log_name=f"jepsen_like.worker{self.index}")
        return self.client

    def _on_state(self, change: StateChange) -> None:
        # The adapter calls this before the watches that change dropped get their events, so
        # dropped_at is set before those events are.
        if change.watches_dropped:
            self.dropped_at = time.monotonic()
        if change.state == LOST:
            self.session_lost = True

    @property
    def session(self) -> str | None:
        session_id = self.client.session_id if self.client is not None else None
        return None if session_id is None else f"{session_id:#x}"

    def connection_fields(self) -> dict[str, Any]:
        """Which member this worker is talking to and as which session, for reading a history
        (the member is absent when the client cannot say)."""
        fields: dict[str, Any] = {"session": self.session}
        member = self.client.member if self.client is not None else None
        if member is not None:
            fields["member"] = member
        return fields

    def close(self) -> bool:
        """Close the session; True only if the server acknowledged the closeSession."""
        client, self.client = self.client, None
        return client is not None and client.close()

    def reconnect(self) -> None:
        self.close()
        self.connect()

    # -- operations -----------------------------------------------------------------------------
    def call(self, f: str, value: Any, run: Callable[[], Any], *, key: Any = None, read_only: bool = False,
             fields: dict[str, Any] | None = None) -> tuple[str, Any]:
        """Record and run one operation; returns (outcome, output). ``run`` returns the output (or a
        :class:`_WithFields` to add fields such as ``mzxid`` to the completion) and raises
        :class:`Fail` for a definite failure; any other exception makes the outcome unknown, except
        for ``read_only`` operations, which have no effect to be unsure about and fail."""
        extra = dict(fields or {})
        if key is not None:
            extra["key"] = key
        self.history.invoke(self.process, f, value, **extra)
        try:
            output = run()
        except Fail as failure:
            self.history.fail(self.process, f, value, error=str(failure), **extra)
            return "fail", None
        except Exception as problem:  # noqa: BLE001 - every other outcome is unknown
            name = problem.name if isinstance(problem, ClientError) else type(problem).__name__
            self.errors[name] = self.errors.get(name, 0) + 1
            if read_only:
                self.history.fail(self.process, f, value, error=name, **extra)
                return "fail", None
            self.history.info(self.process, f, value, error=name, **extra)
            self.process += self.concurrency
            return "unknown", None
        if isinstance(output, _WithFields):
            extra.update(output.fields)
            output = output.value
        self.history.ok(self.process, f, output, **extra)
        return "ok", output


@dataclass
class _WithFields:
    value: Any
    fields: dict[str, Any]


def _take_events(events: queue.Queue, timeout: float) -> bool | None:
    """Wait for a watcher's next event and take every other one already queued with it: None if
    nothing came, else whether any was a change to the node (and not only a reason to re-arm).

    One read answers them all. Taken one per read, a queue that ever held two items stays one
    behind: a connection lost during a read gives both a re-arm (the failed read) and kazoo's
    dropped-watch event (it fires every watcher when a connection drops, and forgets them), so the next
    notification's read already sees the change after it, and that change's own notification
    then reads the same value again, which the checker rightly calls a repeat. Found that way
    in the 5-minute partition runs; coord's log showed every notification sent once."""
    try:
        items = [events.get(timeout=timeout)]
    except queue.Empty:
        return None
    while True:
        try:
            items.append(events.get_nowait())
        except queue.Empty:
            break
    return any(isinstance(item, WatchEvent) and item.changed for item in items)


def _int(data: bytes) -> int:
    return int(data.decode() or 0)


class Workload:
    name = "workload"
    metadata: dict[str, Any] = {}

    def __init__(self, rng: random.Random, concurrency: int, options: dict[str, Any] | None = None):
        self.rng = rng
        self.concurrency = concurrency
        self.options = dict(options or {})

    def setup(self, client: Client) -> None:
        client.ensure_path(f"{ROOT}/{self.name}")

    def run_worker(self, worker: Worker, stop: threading.Event) -> None:
        raise NotImplementedError

    def final(self, workers: Sequence[Worker], fresh: Worker) -> None:
        """After the run and the last heal: the reads the checkers need. ``fresh`` is a worker with
        a new session (and a process id of its own); ``workers`` still hold their sessions."""

    def checks(self, events: Sequence[Event]) -> list:
        raise NotImplementedError

    def _retry(self, worker: Worker, f: str, value: Any, run: Callable[[], Any], attempts: int = 5,
               read_only: bool = True) -> Any:
        for _ in range(attempts):
            outcome, output = worker.call(f, value, run, read_only=read_only)
            if outcome == "ok":
                return output
            time.sleep(0.5)
        return None


class RegisterWorkload(Workload):
    """read / write / cas on a few integer registers (znodes). A cas reads value and version, and
    writes with that version: ``BadVersion`` means someone wrote in between, a definite fail. Some
    workers only read (``is_reader``)."""

    name = "register"

    def __init__(self, rng, concurrency, options=None):
        super().__init__(rng, concurrency, options)
        self.reads = self.options.get("reads", "sync")
        if self.reads not in ("sync", "local", "linearizable"):
            raise ValueError(f"--reads must be sync, local or linearizable, not {self.reads!r}")
        self.keys = [f"k{i}" for i in range(max(1, concurrency // 2))]
        self.metadata = {"model": "register", "model_options": {"initial": 0}, "reads": self.reads}

    def path(self, key: str) -> str:
        return f"{ROOT}/register/{key}"

    def setup(self, client):
        super().setup(client)
        for key in self.keys:
            client.create(self.path(key), b"0")

    @staticmethod
    def is_reader(worker: Worker) -> bool:
        """Every other round of workers across the members only reads. A connection answers in
        request order, so a read waits behind that connection's earlier write: a writer stuck at a
        member cut off from the quorum reads nothing more, while a reader there keeps reading, which
        is how a member that serves stale state (a deposed leader) shows."""
        return (worker.index // len(worker.hosts)) % 2 == 1

    def run_worker(self, worker, stop):
        reader = self.is_reader(worker)
        while not stop.is_set():
            key = worker.rng.choice(self.keys)
            path = self.path(key)
            roll = 0.0 if reader else worker.rng.random()
            if roll < 0.5:
                def read() -> Any:
                    # linearizable: a plain read, which the server (coord.linearizableReads) puts
                    # behind a quorum-confirmed read index itself.
                    if self.reads == "sync":
                        worker.client.sync(path)
                    data, stat = worker.client.get(path)
                    return _WithFields(_int(data), {"mzxid": stat.mzxid})
                worker.call("read", None, read, key=key, read_only=True)
            elif roll < 0.75:
                value = worker.rng.randrange(5)
                worker.call("write", value, lambda: worker.client.set(path, str(value).encode())
                            and value, key=key)
            else:
                expected, new = worker.rng.randrange(5), worker.rng.randrange(5)

                def cas() -> Any:
                    data, stat = worker.client.get(path)
                    if _int(data) != expected:
                        raise Fail(f"value is {_int(data)}")
                    try:
                        worker.client.set(path, str(new).encode(), version=stat.version)
                    except BadVersion:
                        raise Fail("BadVersion") from None
                    return (expected, new)
                worker.call("cas", (expected, new), cas, key=key)

    def final(self, workers, fresh):
        # A synced read of every key after the heal: progress, and one more constraint to check.
        for key in self.keys:
            path = self.path(key)

            def read() -> Any:
                fresh.client.sync(path)
                data, stat = fresh.client.get(path)
                return _WithFields(_int(data), {"mzxid": stat.mzxid})
            for _ in range(5):
                if fresh.call("read", None, read, key=key, read_only=True)[0] == "ok":
                    break
                time.sleep(0.5)

    def checks(self, events):
        budget = Budget(time_s=float(self.options.get("check_time_s", 60)))
        result = check_linearizability(operations(events), RegisterModel(initial=0), budget)
        return [result, check_progress(events, ["read", "write", "cas"])]


class SetWorkload(Workload):
    """add: create a persistent child named after a unique element; read: sync + getChildren."""

    name = "set"

    def __init__(self, rng, concurrency, options=None):
        super().__init__(rng, concurrency, options)
        self._next = itertools.count()
        self._lock = threading.Lock()
        self.metadata = {"checker": "set"}

    def _read(self, worker: Worker) -> Any:
        path = f"{ROOT}/set"
        try:
            worker.client.sync(path)
            children = worker.client.get_children(path)
        except NoNode:
            return ()  # the set's parent, created before the run, is gone: the set is empty
        return tuple(sorted(int(name[1:]) for name in children))

    def run_worker(self, worker, stop):
        while not stop.is_set():
            if worker.rng.random() < 0.05:
                worker.call("read", None, lambda: self._read(worker), read_only=True)
                continue
            with self._lock:
                element = next(self._next)

            def add() -> Any:
                try:
                    worker.client.create(f"{ROOT}/set/e{element:09d}", b"")
                except (NodeExists, NoNode) as problem:
                    raise Fail(problem.name) from None
                return element
            worker.call("add", element, add)

    def final(self, workers, fresh):
        self._retry(fresh, "read", None, lambda: self._read(fresh))

    def checks(self, events):
        return [check_set(operations(events)), check_progress(events, ["add", "read"])]


class SequentialWorkload(Workload):
    """next-id: create a sequential child; its sequence number is the id. A final read lists them."""

    name = "sequential"
    metadata = {"checker": "sequential-ids"}

    def _read(self, worker: Worker) -> Any:
        path = f"{ROOT}/sequential"
        worker.client.sync(path)
        return tuple(sorted(int(name[-10:]) for name in worker.client.get_children(path)))

    def run_worker(self, worker, stop):
        while not stop.is_set():
            worker.call("next-id", None, lambda: int(worker.client.create(
                f"{ROOT}/sequential/id-", b"", sequence=True)[-10:]))

    def final(self, workers, fresh):
        self._retry(fresh, "read", None, lambda: self._read(fresh))

    def checks(self, events):
        return [check_sequential_ids(operations(events)), check_progress(events, ["next-id", "read"])]


class LockWorkload(Workload):
    """acquire (the client's Lock recipe, bounded wait), hold briefly, release. A worker whose
    outcome is unknown closes its session, so a lock it may hold is freed, and starts a new one."""

    name = "lock"
    metadata = {"checker": "lock"}

    def _cycle(self, worker: Worker) -> str:
        lock = worker.client.lock(f"{ROOT}/lock/mutex", identifier=str(worker.process))

        def acquire() -> Any:
            try:
                if not lock.acquire(timeout_s=worker.op_timeout_s):
                    raise Fail("not acquired")
            except LockTimeout:
                raise Fail("LockTimeout") from None
            return None
        acquired, _ = worker.call("acquire", None, acquire)
        if acquired == "unknown" or (acquired == "fail" and self._contender_left(worker, lock)):
            worker.reconnect()
        if acquired != "ok":
            return acquired
        time.sleep(worker.rng.uniform(0.0, 0.05))
        released, _ = worker.call("release", None, lambda: lock.release() and None)
        if released == "unknown":
            worker.reconnect()
        return acquired

    @staticmethod
    def _contender_left(worker: Worker, lock: Lock) -> bool:
        """After a timed-out acquire the recipe (kazoo's, and coord's alike) deletes its contender
        node only on a best-effort basis (a connection loss leaves it). Left behind in a live
        session it queues ahead of every later contender, so the lock is never granted again (seen
        in a 5-minute coord run). Close the session if the node may still be there."""
        try:
            # By name prefix (unique per Lock object), as the recipe finds its own node: a create
            # whose reply was lost leaves a node that the recipe never learned of.
            children = worker.client.get_children(lock.path)
        except NoNode:
            return False
        except Exception:  # noqa: BLE001 - cannot tell: assume it is there
            return True
        return any(child.startswith(lock.prefix) for child in children)

    def run_worker(self, worker, stop):
        while not stop.is_set():
            self._cycle(worker)

    def final(self, workers, fresh):
        # Progress after the heal: one more acquire/release that must succeed (bounded retries).
        for _ in range(5):
            if self._cycle(fresh) == "ok":
                return
            time.sleep(0.5)

    def checks(self, events):
        return [check_lock(operations(events)), check_progress(events, ["acquire"])]


class AbandonedSession:
    """A client that crashes: one raw connection (coord's sans-I/O codec over a plain socket, since
    both clients always say goodbye) opens a session with a short timeout, creates an ephemeral, and drops
    the socket without closeSession. ``expired()`` reconnects with the session's id and password
    and reports whether the server says it expired (a ConnectResponse with timeout 0); if it is
    still alive, that reconnect renewed it, and the socket is dropped again."""

    def __init__(self, host: str, timeout_ms: int, io_timeout_s: float = 5.0):
        address, _, port = host.rpartition(":")
        self.address = (address, int(port))
        self.timeout_ms = timeout_ms
        self.io_timeout_s = io_timeout_s
        self.session_id = 0
        self.passwd = b"\0" * 16
        self.negotiated_ms = timeout_ms
        self.last_zxid = 0

    def _exchange(self, conn: ClientConnection, sock: socket.socket, data: bytes, want: type) -> Any:
        sock.sendall(data)
        deadline = time.monotonic() + self.io_timeout_s
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            for event in conn.receive_data(chunk):
                if isinstance(event, want):
                    return event
        raise TimeoutError("no answer")

    def _connect(self, session_id: int, passwd: bytes) -> tuple[ClientConnection, socket.socket, Any]:
        sock = socket.create_connection(self.address, timeout=self.io_timeout_s)
        conn = ClientConnection()
        try:
            connected = self._exchange(conn, sock, conn.connect(self.last_zxid, self.timeout_ms, session_id, passwd),
                                       Connected)
        except BaseException:
            sock.close()
            raise
        return conn, sock, connected.response

    def open(self) -> str:
        """Open the session (raises OSError if the member cannot be reached); returns its id."""
        conn, sock, response = self._connect(0, b"\0" * 16)
        sock.close()  # nothing was written in it yet; the session lives on until its timeout
        if response.timeout_ms <= 0:
            raise ConnectionError("the server refused the new session")
        self.session_id, self.passwd, self.negotiated_ms = response.session_id, response.passwd, response.timeout_ms
        return f"{self.session_id:#x}"

    def create_and_crash(self, path: str) -> None:
        """Create an ephemeral in the session, then drop the socket (no closeSession)."""
        conn, sock, response = self._connect(self.session_id, self.passwd)
        try:
            if response.timeout_ms <= 0:
                raise Fail("session expired before the create")
            _, data = conn.send(OpCode.CREATE, CreateRequest(path, b"", list(OPEN_ACL_UNSAFE), CreateMode.EPHEMERAL))
            reply = self._exchange(conn, sock, data, ReplyReceived)
            self.last_zxid = max(self.last_zxid, reply.zxid)
            if reply.err == Err.NODE_EXISTS:
                raise Fail("NodeExists")
            if reply.err != 0:
                raise RuntimeError(f"create answered error {reply.err}")
        finally:
            sock.close()

    def expired(self) -> bool:
        conn, sock, response = self._connect(self.session_id, self.passwd)
        sock.close()
        return response.timeout_ms <= 0


class EphemeralWorkload(Workload):
    """Workers create ephemerals, read everyone's (sync + getChildren), and now and then close their
    session (recorded ok only if the server acknowledged it) and open a new one. The last worker
    (with two or more) instead plays crashing clients, one after another: an
    :class:`AbandonedSession` creates an ephemeral and vanishes, and ``expire`` waits until the
    server says the session expired (recorded ok then; from that moment no read may show its node)."""

    name = "ephemeral"
    metadata = {"checker": "ephemerals"}
    abandoned_timeout_ms = 2000

    def _crash_cycle(self, worker: Worker, stop: threading.Event, number: int) -> None:
        abandoned = AbandonedSession(worker.hosts[number % len(worker.hosts)], self.abandoned_timeout_ms)
        try:
            session = abandoned.open()
        except (OSError, ConnectionError):
            stop.wait(0.5)  # that member is down: nothing was invoked, try another later
            return
        node = f"crash{worker.index}-{number}"
        worker.call("create", node, lambda: abandoned.create_and_crash(f"{ROOT}/ephemeral/{node}") or node,
                    fields={"session": session})

        def expire() -> Any:
            # Long enough for the leader to expire it (timeout plus a tick or two), probing at most
            # four times: each probe of a live session renews it (a new leader also renews all).
            for _ in range(4):
                time.sleep(abandoned.negotiated_ms / 1000.0 * 2 + 0.5)
                try:
                    if abandoned.expired():
                        return session
                except (OSError, ConnectionError):
                    continue  # that member is down now; try again after the next wait
            raise RuntimeError("session not seen to expire")
        worker.call("expire", session, expire)

    def _read(self, worker: Worker) -> Any:
        path = f"{ROOT}/ephemeral"
        worker.client.sync(path)
        return tuple(sorted(worker.client.get_children(path)))

    def _note_lost(self, worker: Worker, session: str | None) -> None:
        if worker.session_lost and session is not None:
            worker.call("session-lost", session, lambda: session)
            worker.session_lost = False

    def run_worker(self, worker, stop):
        counter = itertools.count()
        if worker.index == self.concurrency - 1 and self.concurrency > 1:
            while not stop.is_set():
                self._crash_cycle(worker, stop, next(counter))
            return
        session = worker.session
        while not stop.is_set():
            self._note_lost(worker, session)
            session = worker.session or session
            roll = worker.rng.random()
            if roll < 0.55:
                node = f"w{worker.index}-{next(counter)}"

                def create() -> Any:
                    try:
                        worker.client.create(f"{ROOT}/ephemeral/{node}", b"", ephemeral=True)
                    except NodeExists:
                        raise Fail("NodeExists") from None
                    return node
                outcome, _ = worker.call("create", node, create, fields={"session": session})
            elif roll < 0.95:
                worker.call("read", None, lambda: self._read(worker), read_only=True)
            else:
                closing = session
                outcome, _ = worker.call("close", closing, lambda: closing if worker.close() else _raise_unknown())
                worker.client = None
                worker.connect()
                session = worker.session

    def final(self, workers, fresh):
        # The workers' own sessions stay open: closing them now would empty the read.
        for worker in workers:
            self._note_lost(worker, worker.session)
        self._retry(workers[0], "read", None, lambda: self._read(workers[0]))

    def checks(self, events):
        return [check_ephemerals(operations(events)), check_progress(events, ["read"])]


def _raise_unknown() -> Any:
    raise RuntimeError("closeSession not acknowledged")


_REARM = object()


class WatchesWorkload(Workload):
    """Worker 0 writes 1, 2, 3... to one node; every other worker keeps a data watch on it and
    records each notification with the value and mzxid it then reads."""

    name = "watches"
    metadata = {"checker": "watches"}
    path = f"{ROOT}/watches/node"

    def __init__(self, rng, concurrency, options=None):
        super().__init__(rng, concurrency, options)
        self.last_seen: dict[int, Any] = {}
        self._armed_at: dict[int, float | None] = {}   # watcher -> start of its last good read
        self._values = itertools.count(1)

    def setup(self, client):
        super().setup(client)
        client.create(self.path, b"0")

    def run_worker(self, worker, stop):
        if worker.index == 0:
            while not stop.is_set():
                value = next(self._values)
                worker.call("write", value, lambda: worker.client.set(
                    self.path, str(value).encode()) and value)
                time.sleep(0.01)
            return
        fired: queue.Queue = queue.Queue()
        # One callback object per worker: both clients keep one registration per path and
        # callback, so re-arming never registers a second callback that would report one change
        # twice.
        callback = fired.put
        self._arm(worker, callback, "arm")
        while not stop.is_set():
            changed = _take_events(fired, timeout=0.5)
            lost, worker.session_lost = worker.session_lost, False
            if changed:
                self._arm(worker, callback, "notify")
            elif (changed is False or lost) and not self._armed(worker):
                self._arm(worker, callback, "rearm")

    def _armed(self, worker: Worker) -> bool:
        """Whether the watch is set as the client is now: a read that started after the client
        last dropped its watches succeeded, and no change has fired it since (the caller reads at
        once on a change). A reason to re-arm that comes late (a dropped-watch event, a failed
        read's retry, a lost session) is then one that read already answered. Reading again would
        leave two watches' notifications in flight, and the second one's read would see nothing
        new: a repeat made by the client, not the server.

        "Dropped" is the client's own (``Worker.dropped_at``): kazoo drops its watches at every
        disconnection, coord's client only when its session expires. coord's client sets its
        watches again itself on the next connection (SetWatches with its last zxid, so the server
        fires at once for a change it missed), so after a mere disconnection its watch is still
        set and a re-arm would be exactly the second read this guards against; so nothing re-arms
        then, and a change during the disconnection arrives as a notification."""
        started = self._armed_at.get(worker.index)
        return started is not None and started > worker.dropped_at

    def _arm(self, worker: Worker, callback: Callable[[Any], None], f: str) -> None:
        """Read the node (synced) and leave a watch. ``notify`` reads follow a watch event and are
        checked for order; ``arm``/``rearm`` reads (start, retries, new sessions) only re-establish
        it. The sync matters: a notification does not advance the client's last zxid, so if the
        connection moves to a lagging member between the event and the read, a plain read could
        return the value from before the notified change."""
        def read() -> Any:
            worker.client.sync(self.path)
            data, stat = worker.client.get(self.path, watch=callback)
            return _WithFields((_int(data), stat.mzxid), worker.connection_fields())
        started = time.monotonic()
        outcome, output = worker.call(f, None, read, read_only=True)
        if outcome == "ok":
            self.last_seen[worker.index] = output
            self._armed_at[worker.index] = started
        else:
            self._armed_at[worker.index] = None
            time.sleep(0.2)
            callback(_REARM)

    def final(self, workers, fresh):
        # The watcher loops have stopped, and a fault near the end may have dropped their watches
        # (kazoo forgets them with the connection, both clients with an expired session). So:
        # every watcher sets its watch again, the
        # writer writes once more after the heal, and each watcher must be notified of it.
        writer, watchers = workers[0], workers[1:]
        fired = {watcher.index: queue.Queue() for watcher in watchers}
        for watcher in watchers:
            self._arm(watcher, fired[watcher.index].put, "rearm")
        value = next(self._values)
        self._retry(writer, "write", value, lambda: writer.client.set(
            self.path, str(value).encode()) and value, read_only=False)

        def read() -> Any:
            writer.client.sync(self.path)
            data, stat = writer.client.get(self.path)
            return (_int(data), stat.mzxid)
        final = self._retry(writer, "final-read", None, read)
        deadline = time.monotonic() + 10.0
        for watcher in watchers:
            events = fired[watcher.index]
            while final is not None and self.last_seen.get(watcher.index, (None,))[0] != final[0]:
                remaining = deadline - time.monotonic()
                changed = _take_events(events, timeout=remaining) if remaining > 0 else None
                if changed is None:
                    break
                if changed:
                    self._arm(watcher, events.put, "notify")
                elif not self._armed(watcher):
                    self._arm(watcher, events.put, "rearm")
        for watcher in watchers:
            watcher.call("caught-up", None, lambda: self.last_seen.get(watcher.index), read_only=True)

    def checks(self, events):
        return [check_watches(operations(events)), check_progress(events, ["write"])]


WORKLOADS: dict[str, type[Workload]] = {
    "register": RegisterWorkload,
    "set": SetWorkload,
    "sequential": SequentialWorkload,
    "lock": LockWorkload,
    "ephemeral": EphemeralWorkload,
    "watches": WatchesWorkload,
}


def make_workload(name: str, rng: random.Random, concurrency: int, options: dict[str, Any] | None = None) -> Workload:
    try:
        factory = WORKLOADS[name]
    except KeyError:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}") from None
    return factory(rng, concurrency, options)
