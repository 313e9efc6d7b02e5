"""The single-server request pipeline, as a pure state machine.

Theory of operation
-------------------
``ServerCore`` owns the tree, the watches and the session tracker, and one ``Connection`` per
client socket. The Twisted adapter (``coord/runtime``) feeds it inputs and drains its output:

- inputs: ``connection_made``, ``data_received``, ``connection_lost``, ``tick`` (session expiry and
  the container/TTL reaper) and ``durable(zxid)`` (the write-ahead log is on disk up to zxid);
- output, taken with ``take_ready()``: bytes to send per connection, connections to close, and the
  log records to append (each a zxid and its transaction bytes).

Writes are prepped into transactions, applied to the tree at once and appended to the log. Every
output (replies, notifications, closes) is tagged with the zxid of the state it reflects and held
in its connection's queue until the log is durable through that zxid, so no client can observe a
change that a crash could still lose. Reads computed while no write is in flight leave at once.
Because every output of a connection goes through one FIFO queue, replies leave in request order and
a transaction's notifications precede the reply to the write that caused them.

Time and randomness come from the injected ``clock`` (``monotonic_ms()``, ``wall_ms()``) and
``random_bytes(n)``, so tests can run the whole pipeline deterministically without sockets.
"""

import collections

from coord import four_letter_words
from coord.protocol import records as R
from coord.protocol.codes import (
    AddWatchMode, Err, EventType, KeeperState, OpCode, WatcherType, XID_AUTH, XID_PING, XID_SET_WATCHES,
)
from coord.protocol.errors import RemoteProtocolError
from coord.protocol.server_conn import (
    ConnectRequested, FourLetterWord, MalformedRequest, RequestReceived, ServerConnection,
    UnknownRequest,
)
from coord.sessions import SessionTracker
from coord.tree import acl as acls
from coord.tree import prep as P
from coord.tree import txns as T
from coord.tree.datatree import CONTAINER_OWNER, DataTree, ttl_of
from coord.tree.watches import WatchManager

_PASSWD_BYTES = 16
_NO_PASSWD = b"\0" * _PASSWD_BYTES
_SYNC_CONNECTED = KeeperState.SYNC_CONNECTED

# Opcodes whose request changes the tree (answered NotReadOnly by a read-only server later).
_WRITE_OPS = frozenset({OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL,
                        OpCode.DELETE, OpCode.SET_DATA, OpCode.SET_ACL, OpCode.MULTI,
                        OpCode.DELETE_CONTAINER})
_CREATE_OPS = frozenset({OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL})

# Short names for `cons` (ZooKeeper's Request.op2String abbreviations).
_OP_ABBREV = {
    OpCode.CREATE: "CREA", OpCode.CREATE2: "CREA", OpCode.CREATE_CONTAINER: "CREA",
    OpCode.CREATE_TTL: "CREA", OpCode.DELETE: "DELE", OpCode.EXISTS: "EXIS", OpCode.GET_DATA: "GETD",
    OpCode.SET_DATA: "SETD", OpCode.GET_ACL: "GETA", OpCode.SET_ACL: "SETA",
    OpCode.GET_CHILDREN: "GETC", OpCode.GET_CHILDREN2: "GETC", OpCode.SYNC: "SYNC",
    OpCode.PING: "PING", OpCode.MULTI: "MULT", OpCode.MULTI_READ: "MLTR", OpCode.AUTH: "AUTH",
    OpCode.SET_WATCHES: "SETW", OpCode.SET_WATCHES2: "STW2", OpCode.CLOSE_SESSION: "CLOS",
    OpCode.ADD_WATCH: "ADDW", OpCode.CHECK_WATCHES: "CHKW", OpCode.REMOVE_WATCHES: "REMW",
    OpCode.GET_EPHEMERALS: "GETE", OpCode.GET_ALL_CHILDREN_NUMBER: "GETACN",
    OpCode.WHO_AM_I: "HOMI",
}


class Ready:
    """A batch of work for the adapter. Order: append ``log`` records before anything else."""

    __slots__ = ("sends", "closes", "log")

    def __init__(self):
        self.sends = []    # (conn_id, bytes), in order
        self.closes = []   # conn_id, after that connection's sends
        self.log = []      # (zxid, payload) to append to the write-ahead log

    def __bool__(self):
        return bool(self.sends or self.closes or self.log)


class Connection:
    __slots__ = ("conn_id", "codec", "peer_host", "peer_port", "session_id", "identities",
                 "held", "closed", "draining", "created_ms", "received", "sent", "last_op", "last_cxid",
                 "last_response_ms", "latency_total_ms", "latency_count",
                 "latency_min_ms", "latency_max_ms", "last_latency_ms", "timeout_ms")

    def __init__(self, conn_id, codec, peer_host, peer_port, now_ms):
        self.conn_id = conn_id
        self.codec = codec
        self.peer_host = peer_host
        self.peer_port = peer_port
        self.session_id = 0
        self.identities = [("ip", peer_host)]
        self.held = collections.deque()   # (zxid tag, bytes or None for close)
        self.closed = False
        self.draining = False       # a close is scheduled: read nothing more from this client
        self.created_ms = now_ms
        self.received = 0
        self.sent = 0
        self.last_op = "NA"
        self.last_cxid = 0
        self.last_response_ms = 0
        self.latency_total_ms = 0
        self.latency_count = 0
        self.latency_min_ms = 0
        self.latency_max_ms = 0
        self.last_latency_ms = 0
        self.timeout_ms = 0


def _null_log(level, message):
    pass


class ServerCore:
    def __init__(self, config, clock, random_bytes, *, tree=None, zxid_floor=0, server_id=0,
                 log=_null_log, process_facts):
        self.config = config
        self.clock = clock
        self.random_bytes = random_bytes
        self.log = log
        self.tree = tree if tree is not None else DataTree()
        self.watches = WatchManager()
        self.tracker = SessionTracker(config.tick_ms)
        self.server_id = server_id
        # zxid_floor is epoch << 32: every zxid of this run is above it, even with an empty log.
        self.zxid_floor = zxid_floor
        self.durable_zxid = self.tree.last_zxid
        self.connections = {}
        self.session_conn = {}            # session_id -> attached Connection
        self._waiting = set()             # connections with held output
        self._ready = Ready()
        self._next_session_counter = 0
        self._next_reap_ms = None
        self.started_ms = clock.monotonic_ms()
        # What the four-letter words report about the process and its disk (runtime-supplied).
        self.process_facts = process_facts
        self.packets_received = 0
        self.packets_sent = 0
        self.latency_min_ms = None
        self.latency_max_ms = 0
        self.latency_total_ms = 0
        self.latency_count = 0
        self.auth_failed_count = 0
        # Sessions recovered from disk get a full timeout from now (the clients may reconnect).
        now = clock.monotonic_ms()
        for session_id, (timeout_ms, _passwd) in self.tree.sessions.items():
            self.tracker.add(session_id, timeout_ms, now)

    # -- adapter interface ------------------------------------------------------------------------

    def take_ready(self):
        ready = self._ready
        self._ready = Ready()
        return ready

    def connection_made(self, conn_id, peer_host, peer_port):
        codec = ServerConnection(max_frame_bytes=self.config.max_frame_bytes)
        self.connections[conn_id] = Connection(conn_id, codec, peer_host, peer_port,
                                               self.clock.wall_ms())

    def connection_lost(self, conn_id):
        conn = self.connections.pop(conn_id, None)
        if conn is None:
            return
        conn.closed = True
        conn.held.clear()
        self._waiting.discard(conn)
        self.watches.remove_watcher(conn)
        if conn.session_id and self.session_conn.get(conn.session_id) is conn:
            del self.session_conn[conn.session_id]

    def data_received(self, conn_id, data):
        conn = self.connections.get(conn_id)
        if conn is None or conn.draining:
            return
        try:
            events = conn.codec.receive_data(data)
        except RemoteProtocolError as e:
            self.log("warn", "closing connection from %s:%s: %s" % (conn.peer_host, conn.peer_port, e))
            self._close_now(conn)
            return
        now = self.clock.monotonic_ms()
        requests = 0
        for event in events:
            if conn.draining:
                break
            if type(event) is RequestReceived:
                self._request(conn, event.xid, event.opcode, event.request, now)
                requests += 1
            elif type(event) is ConnectRequested:
                self._connect(conn, event.request)
            elif type(event) is FourLetterWord:
                self._four_letter_word(conn, event.word)
            elif type(event) is MalformedRequest:
                self.log("warn", "malformed %s request from %s:%s: %s"
                         % (event.opcode, conn.peer_host, conn.peer_port, event.reason))
                self._reply_error(conn, event.xid, Err.MARSHALLING_ERROR)
            elif type(event) is UnknownRequest:
                self.log("warn", "unimplemented opcode %s from %s:%s; closing"
                         % (event.opcode, conn.peer_host, conn.peer_port))
                # ZooKeeper puts zxid -1 in this reply; it still waits its turn in the queue.
                self._emit(conn, self.tree.last_zxid,
                           conn.codec.reply(event.xid, -1, Err.UNIMPLEMENTED))
                self._close_after_output(conn)
        if requests:
            # One clock read per batch of requests, not two per request: this is the hot path.
            self._record_latency(conn, self.clock.monotonic_ms() - now, requests)

    def durable(self, zxid):
        """The write-ahead log is on disk through ``zxid``: release what waited for it."""
        if zxid <= self.durable_zxid:
            return
        self.durable_zxid = zxid
        if not self._waiting:
            return
        sends = self._ready.sends
        for conn in list(self._waiting):
            held = conn.held
            while held and held[0][0] <= zxid:
                _, data = held.popleft()
                if data is None:
                    self._close_now(conn)
                    break
                sends.append((conn.conn_id, data))
            if not held:
                self._waiting.discard(conn)

    def tick(self):
        """Expire silent sessions and reap empty containers and TTL nodes."""
        now = self.clock.monotonic_ms()
        for session_id in self.tracker.expired(now):
            if session_id in self.tree.sessions:
                self.log("info", "expiring session 0x%x" % session_id)
                self._close_session(session_id, 0, None)
        interval = self.config.reaper_interval_ms
        if self._next_reap_ms is None:
            self._next_reap_ms = now + interval
        elif now >= self._next_reap_ms:
            self._next_reap_ms = now + interval
            self._reap()

    # -- output ---------------------------------------------------------------------------------

    def _emit(self, conn, zxid_tag, data):
        if not conn.held and zxid_tag <= self.durable_zxid:
            self._ready.sends.append((conn.conn_id, data))
        else:
            conn.held.append((zxid_tag, data))
            self._waiting.add(conn)
        conn.sent += 1
        self.packets_sent += 1

    def _close_after_output(self, conn):
        """Close once everything queued before now has been sent."""
        conn.draining = True
        tag = self.tree.last_zxid
        if not conn.held and tag <= self.durable_zxid:
            self._close_now(conn)
        else:
            conn.held.append((tag, None))
            self._waiting.add(conn)

    def _close_now(self, conn):
        if conn.closed:
            return
        conn.closed = conn.draining = True
        self._ready.closes.append(conn.conn_id)
        self._waiting.discard(conn)
        self.watches.remove_watcher(conn)
        if conn.session_id and self.session_conn.get(conn.session_id) is conn:
            del self.session_conn[conn.session_id]

    def _reply(self, conn, xid, record, zxid_tag=None):
        tag = self.tree.last_zxid if zxid_tag is None else zxid_tag
        self._emit(conn, tag, conn.codec.reply(xid, tag, 0, record))

    def _reply_error(self, conn, xid, err, zxid_tag=None):
        tag = self.tree.last_zxid if zxid_tag is None else zxid_tag
        self._emit(conn, tag, conn.codec.reply(xid, tag, err))

    def _notify(self, conn, zxid_tag, event_type, path):
        # ZooKeeper 3.8 puts -1 in a notification's zxid; 3.9 puts the transaction's. Clients of
        # both accept either; we match 3.8, the reference our comparison tests run against.
        self._emit(conn, zxid_tag, conn.codec.notification(-1, event_type, _SYNC_CONNECTED, path))

    # -- sessions -------------------------------------------------------------------------------

    def _negotiate_timeout(self, requested_ms):
        cfg = self.config
        timeout = requested_ms
        if timeout < cfg.min_session_timeout_ms:
            timeout = cfg.min_session_timeout_ms
        if timeout > cfg.max_session_timeout_ms:
            timeout = cfg.max_session_timeout_ms
        return timeout

    def _new_session_id(self):
        # server id in the top byte, this run's epoch next, then a counter: unique across restarts.
        self._next_session_counter += 1
        epoch = (self.zxid_floor >> 32) & 0xFFFFFF
        return (self.server_id << 56) | (epoch << 32) | self._next_session_counter

    def _connect(self, conn, request):
        if request.last_zxid_seen > self.tree.last_zxid:
            # The client has seen a newer state than ours: make it try another server.
            self.log("info", "refusing client %s:%s: it has seen zxid 0x%x, we are at 0x%x"
                     % (conn.peer_host, conn.peer_port, request.last_zxid_seen, self.tree.last_zxid))
            self._close_now(conn)
            return
        timeout = self._negotiate_timeout(request.timeout_ms)
        read_only = None if request.read_only is None else False
        now = self.clock.monotonic_ms()
        if request.session_id == 0:
            session_id = self._new_session_id()
            passwd = self.random_bytes(_PASSWD_BYTES)
            zxid = self._commit(0, 0, T.CreateSessionTxn(session_id, timeout, passwd))
            self.tracker.add(session_id, timeout, now)
            self._attach(conn, session_id, timeout)
            self._emit(conn, zxid, conn.codec.connect_response(
                R.ConnectResponse(0, timeout, session_id, passwd, read_only)))
            return
        session_id = request.session_id
        known = self.tree.sessions.get(session_id)
        if known is None or known[1] != request.passwd or session_id not in self.tracker:
            self._emit(conn, self.tree.last_zxid, conn.codec.connect_response(
                R.ConnectResponse(0, 0, 0, _NO_PASSWD, read_only)))
            self._close_after_output(conn)
            return
        old = self.session_conn.get(session_id)
        if old is not None and old is not conn:
            self._close_now(old)
        self.tracker.set_timeout(session_id, timeout, now)
        self._attach(conn, session_id, timeout)
        self._emit(conn, self.tree.last_zxid, conn.codec.connect_response(
            R.ConnectResponse(0, timeout, session_id, known[1], read_only)))

    def _attach(self, conn, session_id, timeout):
        conn.session_id = session_id
        conn.timeout_ms = timeout
        self.session_conn[session_id] = conn

    def _close_session(self, session_id, cxid, conn):
        """Log the CloseSession transaction; its ephemerals go and their watches fire."""
        self.tracker.remove(session_id)
        zxid = self._commit(session_id, cxid, T.CloseSessionTxn(session_id))
        attached = self.session_conn.get(session_id)
        if conn is not None:
            self._emit(conn, zxid, conn.codec.reply(cxid, zxid, 0))
        if attached is not None:
            self._close_after_output(attached)
        return zxid

    # -- writes ---------------------------------------------------------------------------------

    def _next_zxid(self):
        last = self.tree.last_zxid
        return (last if last > self.zxid_floor else self.zxid_floor) + 1

    def _commit(self, session_id, cxid, txn, per_op=None):
        """Log and apply a transaction, queue its notifications; returns its zxid.

        ``per_op``, for a multi, collects the Stat after each sub-transaction (for create2 and
        setData results, which ZooKeeper reports as of that point of the multi).
        """
        zxid = self._next_zxid()
        header = T.TxnHeader(session_id, cxid, zxid, self.clock.wall_ms())
        self._ready.log.append((zxid, T.encode(header, txn)))
        tree = self.tree
        if per_op is None:
            triggers = tree.apply(header, txn)
        else:
            triggers = []
            for sub in txn.txns:
                triggers.extend(tree.apply(header, sub))
                node = tree.get(sub.path)
                per_op.append(node.stat() if node is not None else None)
        trigger = self.watches.trigger
        allowed = acls.allowed
        for event_type, path, node_acl in triggers:
            for watcher in trigger(event_type, path):
                # A watcher that cannot READ the node is not told (its one-shot watch is spent).
                if not watcher.closed and allowed(node_acl, acls.READ, watcher.identities):
                    self._notify(watcher, zxid, event_type, path)
        return zxid

    def _write(self, conn, xid, opcode, request, ctx):
        tree = self.tree
        if opcode in _CREATE_OPS:
            txn = P.prep_create(tree, opcode, request, ctx)
            zxid = self._commit(conn.session_id, xid, txn)
            if opcode == OpCode.CREATE:
                return R.CreateResponse(txn.path), zxid
            return R.Create2Response(txn.path, tree.get(txn.path).stat()), zxid
        if opcode == OpCode.DELETE:
            txn = P.prep_delete(tree, request, ctx)
            return None, self._commit(conn.session_id, xid, txn)
        if opcode == OpCode.SET_DATA:
            txn = P.prep_set_data(tree, request, ctx)
            zxid = self._commit(conn.session_id, xid, txn)
            return R.SetDataResponse(tree.get(txn.path).stat()), zxid
        if opcode == OpCode.SET_ACL:
            txn = P.prep_set_acl(tree, request, ctx)
            zxid = self._commit(conn.session_id, xid, txn)
            return R.SetACLResponse(tree.get(txn.path).stat()), zxid
        if opcode == OpCode.MULTI:
            return self._multi(conn, xid, request, ctx)
        if opcode == OpCode.DELETE_CONTAINER:
            return None, self._delete_container(request.path, conn.session_id, xid)
        raise AssertionError(opcode)

    def _multi(self, conn, xid, request, ctx):
        view = P.MultiView(self.tree)
        prepared = []          # (opcode, txn or None for check)
        for index, (opcode, op) in enumerate(request.ops):
            try:
                if opcode in _CREATE_OPS:
                    txn = P.prep_create(view, opcode, op, ctx)
                elif opcode == OpCode.DELETE:
                    txn = P.prep_delete(view, op, ctx)
                elif opcode == OpCode.SET_DATA:
                    txn = P.prep_set_data(view, op, ctx)
                elif opcode == OpCode.CHECK:
                    P.prep_check(view, op, ctx)
                    txn = None
                else:
                    raise P.OpError(Err.MARSHALLING_ERROR)
            except P.OpError as e:
                # Earlier ops: 0 (rolled back); this op: its error; later ops: RuntimeInconsistency.
                results = [(OpCode.ERROR, R.ErrorResponse(Err.OK))] * index
                results.append((OpCode.ERROR, R.ErrorResponse(e.code)))
                results.extend([(OpCode.ERROR, R.ErrorResponse(Err.RUNTIME_INCONSISTENCY))]
                               * (len(request.ops) - index - 1))
                return R.MultiResponse(results), None
            if txn is not None:
                view.note(txn)
            prepared.append((opcode, txn))
        txns = tuple(txn for _, txn in prepared if txn is not None)
        if not txns:
            return R.MultiResponse([(opcode, None) for opcode, _ in prepared]), None
        stats = []
        zxid = self._commit(conn.session_id, xid, T.MultiTxn(txns), per_op=stats)
        results = []
        stat_iter = iter(stats)
        for opcode, txn in prepared:
            if txn is None:
                results.append((OpCode.CHECK, None))
                continue
            stat = next(stat_iter)
            if opcode == OpCode.CREATE or opcode == OpCode.CREATE2:
                # ZooKeeper 3.8 answers create2 inside a multi with a plain create result.
                results.append((OpCode.CREATE, R.CreateResponse(txn.path)))
            elif opcode in _CREATE_OPS:
                results.append((OpCode.CREATE2, R.Create2Response(txn.path, stat)))
            elif opcode == OpCode.DELETE:
                results.append((OpCode.DELETE, None))
            else:
                results.append((OpCode.SET_DATA, R.SetDataResponse(stat)))
        return R.MultiResponse(results), zxid

    def _delete_container(self, path, session_id, cxid):
        node = self.tree.get(path)
        if node is None:
            raise P.OpError(Err.NO_NODE, path)
        if node.ephemeral_owner != CONTAINER_OWNER and ttl_of(node.ephemeral_owner) is None:
            raise P.OpError(Err.BAD_VERSION, path)
        if node.children:
            raise P.OpError(Err.NOT_EMPTY, path)
        return self._commit(session_id, cxid, T.DeleteTxn(path))

    def _reap(self):
        """Delete containers that had children and lost them all, and TTL nodes past their TTL."""
        tree = self.tree
        now_wall = self.clock.wall_ms()
        doomed = []
        for path in tree.containers:
            node = tree.get(path)
            if not node.children and node.cversion > 0:
                doomed.append(path)
        for path in tree.ttl_nodes:
            node = tree.get(path)
            if not node.children and now_wall - node.mtime > ttl_of(node.ephemeral_owner):
                doomed.append(path)
        for path in sorted(doomed):
            try:
                self._delete_container(path, 0, 0)
            except P.OpError:
                pass   # changed since we looked (e.g. a parent deleted first)

    # -- requests -------------------------------------------------------------------------------

    def _request(self, conn, xid, opcode, request, now):
        conn.received += 1
        self.packets_received += 1
        conn.last_op = _OP_ABBREV.get(opcode, "UNKN")
        conn.last_cxid = xid
        session_id = conn.session_id
        if session_id not in self.tree.sessions:
            self._reply_error(conn, xid, Err.SESSION_EXPIRED)
            self._close_after_output(conn)
            return
        self.tracker.touch(session_id, now)
        try:
            self._dispatch(conn, xid, opcode, request)
        except P.OpError as e:
            self._reply_error(conn, xid, e.code)

    def _record_latency(self, conn, latency, count):
        """Processing time of a batch of ``count`` requests, counted once per request."""
        conn.last_response_ms = self.clock.wall_ms()   # cons prints wall-clock times
        conn.last_latency_ms = latency
        if conn.latency_count == 0 or latency < conn.latency_min_ms:
            conn.latency_min_ms = latency
        conn.latency_total_ms += latency * count
        conn.latency_count += count
        if latency > conn.latency_max_ms:
            conn.latency_max_ms = latency
        if self.latency_min_ms is None or latency < self.latency_min_ms:
            self.latency_min_ms = latency
        self.latency_total_ms += latency * count
        self.latency_count += count
        if latency > self.latency_max_ms:
            self.latency_max_ms = latency

    def _node_for_read(self, conn, path, perm=acls.READ):
        node = self.tree.get(path)
        if node is None:
            raise P.OpError(Err.NO_NODE, path)
        if not acls.allowed(node.acl, perm, conn.identities):
            raise P.OpError(Err.NO_AUTH, path)
        return node

    def _dispatch(self, conn, xid, opcode, request):
        tree = self.tree
        if opcode == OpCode.GET_DATA:
            node = self._node_for_read(conn, request.path)
            if request.watch:
                self.watches.add_data_watch(request.path, conn)
            self._reply(conn, xid, R.GetDataResponse(node.data, node.stat()))
        elif opcode == OpCode.EXISTS:
            path = request.path or ""
            if "\0" in path:
                raise P.OpError(Err.BAD_ARGUMENTS, path)
            node = tree.get(path)
            if request.watch:
                self.watches.add_data_watch(path, conn)
            if node is None:
                raise P.OpError(Err.NO_NODE, path)
            self._reply(conn, xid, R.ExistsResponse(node.stat()))
        elif opcode == OpCode.GET_CHILDREN or opcode == OpCode.GET_CHILDREN2:
            node = self._node_for_read(conn, request.path)
            if request.watch:
                self.watches.add_child_watch(request.path, conn)
            if opcode == OpCode.GET_CHILDREN:
                self._reply(conn, xid, R.GetChildrenResponse(list(node.children)))
            else:
                self._reply(conn, xid, R.GetChildren2Response(list(node.children), node.stat()))
        elif opcode == OpCode.PING:
            self._reply(conn, XID_PING, None)
        elif opcode in _WRITE_OPS:
            ctx = P.PrepContext(conn.session_id, conn.identities, 0, self.config.extended_types)
            response, zxid = self._write(conn, xid, opcode, request, ctx)
            self._reply(conn, xid, response, zxid)
        elif opcode == OpCode.SYNC:
            self._reply(conn, xid, R.SyncResponse(request.path))
        elif opcode == OpCode.GET_ACL:
            node = self._node_for_read(conn, request.path, acls.READ | acls.ADMIN)
            acl = node.acl
            if not acls.allowed(acl, acls.ADMIN, conn.identities):
                acl = acls.masked_for_reader(acl)
            self._reply(conn, xid, R.GetACLResponse(list(acl), node.stat()))
        elif opcode == OpCode.MULTI_READ:
            self._multi_read(conn, xid, request)
        elif opcode == OpCode.CLOSE_SESSION:
            self._close_session(conn.session_id, xid, conn)
        elif opcode == OpCode.AUTH:
            self._auth(conn, request)
        elif opcode == OpCode.SET_WATCHES or opcode == OpCode.SET_WATCHES2:
            self._set_watches(conn, request, opcode == OpCode.SET_WATCHES2)
        elif opcode == OpCode.ADD_WATCH:
            if request.mode not in (AddWatchMode.PERSISTENT, AddWatchMode.PERSISTENT_RECURSIVE):
                raise P.OpError(Err.MARSHALLING_ERROR, request.path)
            self.watches.add_persistent_watch(
                request.path, conn, request.mode == AddWatchMode.PERSISTENT_RECURSIVE)
            self._reply(conn, xid, R.ErrorResponse(0))
        elif opcode == OpCode.CHECK_WATCHES or opcode == OpCode.REMOVE_WATCHES:
            try:
                watcher_type = WatcherType(request.type)
            except ValueError:
                raise P.OpError(Err.MARSHALLING_ERROR, request.path) from None
            if opcode == OpCode.CHECK_WATCHES:
                found = self.watches.has(request.path, conn, watcher_type)
            else:
                found = self.watches.remove(request.path, conn, watcher_type)
            if not found:
                raise P.OpError(Err.NO_WATCHER, request.path)
            self._reply(conn, xid, None)
        elif opcode == OpCode.GET_EPHEMERALS:
            prefix = request.prefix_path or ""
            mine = tree.ephemerals_of(conn.session_id)
            if prefix.strip() in ("", "/"):
                paths = sorted(mine)
            else:
                paths = sorted(p for p in mine if p.startswith(prefix))
            self._reply(conn, xid, R.GetEphemeralsResponse(paths))
        elif opcode == OpCode.GET_ALL_CHILDREN_NUMBER:
            self._node_for_read(conn, request.path)
            self._reply(conn, xid, R.GetAllChildrenNumberResponse(tree.descendant_count(request.path)))
        elif opcode == OpCode.WHO_AM_I:
            infos = [R.ClientInfo(scheme, acls.user_name(scheme, ident))
                     for scheme, ident in conn.identities]
            self._reply(conn, xid, R.WhoAmIResponse(infos))
        elif opcode == OpCode.RECONFIG:
            raise P.OpError(Err.RECONFIG_DISABLED)
        elif opcode == OpCode.SASL:
            # No SASL mechanisms are configured: fail as a server without them does, and close.
            self.auth_failed_count += 1
            self._reply_error(conn, xid, Err.AUTH_FAILED, 0)
            self._close_after_output(conn)
        else:
            raise P.OpError(Err.UNIMPLEMENTED)

    def _multi_read(self, conn, xid, request):
        results = []
        for opcode, op in request.ops:
            try:
                node = self._node_for_read(conn, op.path)
            except P.OpError as e:
                results.append((OpCode.ERROR, R.ErrorResponse(e.code)))
                continue
            if opcode == OpCode.GET_DATA:
                results.append((OpCode.GET_DATA, R.GetDataResponse(node.data, node.stat())))
            else:
                results.append((OpCode.GET_CHILDREN, R.GetChildrenResponse(list(node.children))))
        self._reply(conn, xid, R.MultiResponse(results))

    def _auth(self, conn, packet):
        scheme = packet.scheme or ""
        if scheme == "digest":
            ident = acls.digest((packet.auth or b"").decode("utf-8", "replace"))
            new = [("digest", ident)]
            if self.config.super_digest and ident == self.config.super_digest:
                new.insert(0, ("super", ""))
        elif scheme == "ip":
            new = [("ip", conn.peer_host)]
        else:
            self.auth_failed_count += 1
            self.log("info", "auth failed for %s:%s: unknown scheme %r"
                     % (conn.peer_host, conn.peer_port, scheme))
            self._emit(conn, self.tree.last_zxid, conn.codec.reply(XID_AUTH, 0, Err.AUTH_FAILED))
            self._close_after_output(conn)
            return
        for identity in new:
            if identity not in conn.identities:
                conn.identities.append(identity)
        # Auth replies carry zxid 0, but wait their turn behind earlier replies.
        self._emit(conn, self.tree.last_zxid, conn.codec.reply(XID_AUTH, 0, 0))

    def _set_watches(self, conn, request, version2):
        tree = self.tree
        relative = request.relative_zxid
        tag = tree.last_zxid
        notify = self._notify
        for path in request.data_watches or ():
            node = tree.get(path)
            if node is None:
                notify(conn, tag, EventType.NODE_DELETED, path)
            elif node.mzxid > relative:
                notify(conn, tag, EventType.NODE_DATA_CHANGED, path)
            else:
                self.watches.add_data_watch(path, conn)
        for path in request.exist_watches or ():
            if tree.get(path) is not None:
                notify(conn, tag, EventType.NODE_CREATED, path)
            else:
                self.watches.add_data_watch(path, conn)
        for path in request.child_watches or ():
            node = tree.get(path)
            if node is None:
                notify(conn, tag, EventType.NODE_DELETED, path)
            elif node.pzxid > relative:
                notify(conn, tag, EventType.NODE_CHILDREN_CHANGED, path)
            else:
                self.watches.add_child_watch(path, conn)
        if version2:
            for path in request.persistent_watches or ():
                self.watches.add_persistent_watch(path, conn, recursive=False)
            for path in request.persistent_recursive_watches or ():
                self.watches.add_persistent_watch(path, conn, recursive=True)
        self._reply(conn, XID_SET_WATCHES, None)

    # -- four-letter words ----------------------------------------------------------------------

    def _four_letter_word(self, conn, word):
        allowed = self.config.four_letter_words
        if "*" not in allowed and word not in allowed:
            text = "%s is not executed because it is not in the whitelist.\n" % word
        else:
            text = four_letter_words.render(self, word, self.process_facts)
        self._ready.sends.append((conn.conn_id, text.encode("utf-8")))
        self._close_now(conn)
