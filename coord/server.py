"""One ensemble member's request pipeline, as a pure state machine (a standalone server is an
ensemble of one: there is no second code path).

Theory of operation
-------------------
``ServerCore`` owns the tree, the watches, one ``Connection`` per client socket and the member's
consensus core (``coord.consensus.raft.RaftNode``). When this member leads it also has a
``LeaderRole`` (``coord/leader.py``), which decides transactions. The Twisted adapter
(``coord/runtime``) feeds it inputs and drains its output:

- inputs: ``connection_made``, ``data_received``, ``connection_lost`` (clients); ``peer_frame``,
  ``peer_lost`` (other members); ``tick``; ``persisted(raft_ready)`` (the disk has what a consensus
  Ready asked to store);
- output, taken with ``take_ready()``: bytes to send per client connection, connections to close,
  frames for peers, and the consensus Readys whose writes the adapter must make durable (in order,
  sending each Ready's ``messages`` only once it is durable; see ``coord.consensus.messages.Ready``).

**Writes.** A client's write goes to the leader: a follower forwards it (``coord/peer_wire.py``),
the leader preps it against its pending changes, proposes it, and it is committed once a quorum
has it on disk. Every member applies committed transactions in log order, fires its own watches,
and the member the client is connected to replies right after applying it, so a client reads its
own writes wherever it is connected. A write that fails prep is answered without a transaction,
tagged with the zxid its answer reflects and held until this member has applied that far.

**Reads** are answered from the local tree, which only ever holds committed state. Per-session
FIFO: a read waits (in its connection's queue) until every earlier request of that connection has
been answered; writes may be pipelined behind writes. ``sync`` is a real barrier: the member asks
the leader for a read index (the leader confirms its leadership with a quorum first) and answers
once it has applied up to it, so ``sync`` + read is linearizable.

**Sessions** are global: create and close are transactions; members report liveness to the
leader, which decides expiry. A client may move its session to any member that has applied what
the client has seen. When this member's leader changes, requests already sent to the old leader
have an unknown outcome: their connections are closed (the client sees ConnectionLoss and its
session lives on), as ZooKeeper does.

Every output of a connection goes through one FIFO queue, so replies leave in request order and a
transaction's notifications precede the reply to the write that caused them. Time and randomness
come from the injected ``clock`` (``monotonic_ms()``, ``wall_ms()``) and ``random_bytes(n)``;
the election jitter from ``raft_rng``.
"""

import collections

from coord import four_letter_words, monitoring, planted_bugs
from coord import peer_wire as W
from coord.auth.digest_md5 import DigestMD5Server, SaslFailure
from coord.consensus.messages import NONE, NOOP, Message
from coord.consensus.raft import LEADER, InvalidMessage, NotLeader, RaftConfig, RaftNode
from coord.leader import CREATE_OPS, LeaderRole, decode_forwarded, encode_forwarded
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
from coord.tree.datatree import DataTree
from coord.tree.watches import WatchManager

_PASSWD_BYTES = 16
_NO_PASSWD = b"\0" * _PASSWD_BYTES
_SYNC_CONNECTED = KeeperState.SYNC_CONNECTED
MAX_QUEUED_PER_CONNECTION = 10000   # requests waiting behind earlier ones on one connection
# Output a connection may produce before it waits for the adapter to say the client has taken it:
# a client that does not read its replies holds at most this (plus one reply) in our memory.
OUTPUT_WINDOW = 256 * 1024

# Opcodes whose request changes the tree (answered NotReadOnly by a read-only server later).
_WRITE_OPS = frozenset({OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL,
                        OpCode.DELETE, OpCode.SET_DATA, OpCode.SET_ACL, OpCode.MULTI,
                        OpCode.DELETE_CONTAINER})
_FORWARDED_OPS = _WRITE_OPS | {OpCode.CLOSE_SESSION}
# Reads of the tree, which coord.linearizableReads puts behind a read-index barrier.
_TREE_READS = frozenset({OpCode.GET_DATA, OpCode.EXISTS, OpCode.GET_CHILDREN, OpCode.GET_CHILDREN2,
                         OpCode.GET_ACL, OpCode.MULTI_READ, OpCode.GET_ALL_CHILDREN_NUMBER,
                         OpCode.GET_EPHEMERALS})


class _Confirmed:
    """A read whose read-index barrier has passed (coord.linearizableReads)."""
    __slots__ = ("request",)

    def __init__(self, request):
        self.request = request

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
    """A batch of work for the adapter.

    ``raft``: consensus Readys, oldest first. For each: make its snapshot, entries and hard state
    durable (in this order, Ready after Ready), send its ``early_messages`` at once and its
    ``messages`` once it is durable, then call ``ServerCore.persisted(it)``. ``peer``: other
    frames for peers (forwarded requests, answers, touches), to send at once. ``sends`` and
    ``closes``: client output, computed from committed state only, sent at once.
    """

    __slots__ = ("sends", "closes", "raft", "peer", "pause", "resume", "blocked")

    def __init__(self):
        self.sends = []    # (conn_id, bytes), in order
        self.closes = []   # conn_id, after that connection's sends
        self.raft = []     # consensus Readys
        self.peer = []     # (member id, frame)
        self.pause = []    # conn_id: stop reading from this client (throttled)
        self.resume = []   # conn_id: read from this client again
        # conn_id: this connection has produced OUTPUT_WINDOW bytes since its last
        # ``output_flushed``; its next requests wait until the adapter says its output drained.
        self.blocked = []

    def __bool__(self):
        return bool(self.sends or self.closes or self.raft or self.peer or self.pause
                    or self.resume or self.blocked)


class Connection:
    __slots__ = ("conn_id", "codec", "peer_host", "peer_port", "session_id", "identities",
                 "held", "closed", "draining", "created_ms", "received", "sent", "last_op", "last_cxid",
                 "last_response_ms", "latency_total_ms", "latency_count",
                 "latency_min_ms", "latency_max_ms", "last_latency_ms", "timeout_ms",
                 "pending_writes", "slots", "queue", "connecting", "read_only_session",
                 "throttled", "out_bytes", "out_blocked", "sasl")

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
        self.pending_writes = {}    # cxid -> (opcode, request): sent towards the leader
        # Requests accepted and not yet answered, in request order: answers may be decided out of
        # order (an error from the leader before an earlier write commits) but leave in order.
        self.slots = collections.deque()
        self.queue = collections.deque()   # (xid, opcode, request) waiting behind earlier ones
        self.connecting = None      # (session_id, timeout_ms, passwd, read_only): creation pending
        self.read_only_session = False  # connected while this member was read-only
        self.throttled = False      # reading paused: too much outstanding here or globally
        self.out_bytes = 0          # output produced since the adapter last said it drained
        self.out_blocked = False    # OUTPUT_WINDOW reached: run nothing more until it drains
        self.sasl = None            # DigestMD5Server once the client starts SASL


def _null_log(level, message):
    pass


class ServerCore:
    def __init__(self, config, clock, random_bytes, *, tree=None, server_id=0, incarnation=0,
                 voters=None, learners=(), raft_config=None, raft_rng=None, hard_state=None,
                 snapshot_meta=None, log_entries=(), tolerant_until=0, log=_null_log,
                 process_facts):
        self.config = config
        self.clock = clock
        self.random_bytes = random_bytes
        self.log = log
        self.tree = tree if tree is not None else DataTree()
        self._planted_expiry_bug = planted_bugs.EPHEMERALS_OUTLIVE_EXPIRY in config.planted_bugs
        self.watches = WatchManager()
        self.server_id = server_id
        self.member_id = server_id or 1
        # The run's incarnation (persisted, bumped at every start).
        self.incarnation = incarnation
        voters = frozenset(voters or (self.member_id,))
        self.standalone = voters == {self.member_id} and not learners
        kwargs = {}
        if hard_state is not None:
            kwargs["hard_state"] = hard_state
        self.raft = RaftNode(self.member_id, voters, learners,
                             config=raft_config or RaftConfig(), rng=raft_rng,
                             snapshot=snapshot_meta, entries=log_entries, **kwargs)
        # Entries up to here may already be reflected in a fuzzy snapshot: apply them tolerantly.
        self.tolerant_until = tolerant_until
        self.leader = None                  # LeaderRole once this member leads and has caught up
        self._leader_known = NONE
        self._term_start = 0                # index of our NOOP when we became leader
        self._leader_term = 0
        self._leader_backlog = []           # forwarded requests waiting for our LeaderRole
        self._unrouted = []                 # our own requests waiting for a leader to be known
        self._answers_waiting = []          # (zxid, member, ForwardReply): sent once applied
        self._syncs = {}                    # read-index context -> (conn, xid, path)
        self._sync_points = []              # (index, conn, xid, path) waiting to be applied
        self._sync_counter = 0
        self._unrouted_syncs = []
        self._touched = set()
        # The availability budget of the last elections, as this member saw them.
        self._last_heard_leader_ms = 0
        self._leader_lost_ms = None          # when we stopped believing in our leader
        self._leader_found_ms = None         # when a new leader became known
        self._election_term = 0
        self.elections = collections.deque(maxlen=16)   # dicts: term, detection/election/commit ms
        # Read-only mode (readonlymode.enabled): without a leader for this long, serve reads to
        # read-only clients; local sessions, never replicated, exist only while it lasts.
        self._no_leader_since_ms = clock.monotonic_ms()
        self.read_only = False
        self._local_sessions = {}         # session_id -> (timeout_ms, passwd): read-only mode only
        self.connections = {}
        self.session_conn = {}            # session_id -> attached Connection
        self._connecting = {}             # session_id -> Connection waiting for its creation
        self._waiting = set()             # connections with held output
        self._ready = Ready()
        self._next_session_counter = 0
        self._session_id_base = ((self.member_id & 0xFF) << 56) \
            | ((clock.wall_ms() & 0xFFFFFFFFFF) << 16)
        self.started_ms = clock.monotonic_ms()
        self._tracker_when_following = SessionTracker(config.tick_ms)
        self.process_facts = process_facts
        self.packets_received = 0
        self.packets_sent = 0
        self.latency_min_ms = None
        self.latency_max_ms = 0
        self.latency_total_ms = 0
        self.latency_count = 0
        self.auth_failed_count = 0
        # Throttling (globalOutstandingLimit, coord.maxOutstandingPerConnection): connections
        # whose reading is paused, and the member-wide backlog as of the last tick plus the
        # requests received since (recounting every connection per request would cost O(n)).
        self._throttled = set()
        self._backlog_estimate = 0
        self._sessions_full = False        # coord.maxSessions is biting (logged once per episode)
        self.limit_counts = collections.Counter()   # limit name -> times it bit (metrics)
        self._output_window = (float("inf") if planted_bugs.UNBOUNDED_CLIENT_OUTPUT
                               in config.planted_bugs else OUTPUT_WINDOW)
        # ZooKeeper's summaries: updatelatency (a write from arrival to its answer being decided
        # here), readlatency (the batch of requests a read arrived in), election_time.
        self.update_latency = monitoring.Summary()
        self.read_latency = monitoring.Summary()
        self.election_time = monitoring.Summary()
        # The rest of the availability budget: noticing the leader is gone, and the new leader's
        # first commit applied here.
        self.election_detection = monitoring.Summary()
        self.election_first_commit = monitoring.Summary()
        self.fsync_time = monitoring.Summary()     # observed by the runtime around each log write
        self._config_node = (config.dynamic_config_text(), clock.wall_ms())
        if config.ensemble:
            self.tree.set_config_node(*self._config_node)
        if self.standalone:
            self.raft.campaign_now()   # an ensemble of one: nobody to wait for

    # -- adapter interface ------------------------------------------------------------------------

    def take_ready(self):
        self._drive()
        if self._throttled:
            self._unthrottle()
        ready = self._ready
        self._ready = Ready()
        return ready

    def persisted(self, raft_ready):
        self.raft.persisted(raft_ready)

    @property
    def tracker(self):
        """The session tracker that decides expiry (the leader's); empty on other members."""
        return self.leader.tracker if self.leader is not None else self._tracker_when_following

    @property
    def serving(self):
        """Whether this member knows a leader (ZooKeeper's "serving requests"), or serves reads
        in read-only mode."""
        return self.standalone or self.raft.leader != NONE or self.read_only

    @property
    def mode(self):
        if self.standalone:
            return "standalone"
        if self.read_only:
            return "read-only"
        if self.raft.role == LEADER:
            return "leader"
        if self.member_id in self.raft.learners:
            return "observer"
        return "follower"

    def connection_made(self, conn_id, peer_host, peer_port):
        codec = ServerConnection(max_frame_bytes=self.config.max_frame_bytes)
        self.connections[conn_id] = Connection(conn_id, codec, peer_host, peer_port,
                                               self.clock.wall_ms())

    def output_flushed(self, conn_id):
        """The client has taken this connection's output (the adapter's buffer for it drained):
        requests held back by OUTPUT_WINDOW may run."""
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        conn.out_bytes = 0
        if conn.out_blocked:
            conn.out_blocked = False
            if conn.queue:
                self._drain_queue(conn)
    def connection_authenticated(self, conn_id, scheme, ident):
        """The adapter proved an identity below the ZooKeeper protocol (a verified TLS client
        certificate: ``("x509", subject)``), before any request was read."""
        conn = self.connections.get(conn_id)
        if conn is None:
            return
        new = [(scheme, ident)]
        if scheme == "x509" and ident == self.config.x509_super_user:
            new.insert(0, ("super", ident))
        for identity in new:
            if identity not in conn.identities:
                conn.identities.append(identity)
        self.log("info", "%s:%s authenticated as %s:%s"
                 % (conn.peer_host, conn.peer_port, scheme, ident))

    def connection_lost(self, conn_id):
        conn = self.connections.pop(conn_id, None)
        if conn is None:
            return
        self._forget(conn)

    def _forget(self, conn):
        conn.closed = conn.draining = True
        if conn.throttled:
            conn.throttled = False
            self._throttled.discard(conn)
        conn.held.clear()
        conn.queue.clear()
        conn.slots.clear()
        conn.pending_writes.clear()
        self._waiting.discard(conn)
        self.watches.remove_watcher(conn)
        if conn.session_id and self.session_conn.get(conn.session_id) is conn:
            del self.session_conn[conn.session_id]
        if conn.connecting is not None:
            self._connecting.pop(conn.connecting[0], None)
        if conn.read_only_session:
            self._local_sessions.pop(conn.session_id, None)

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
        requests = reads = 0
        for event in events:
            if conn.draining:
                break
            if type(event) is RequestReceived:
                self._request(conn, event.xid, event.opcode, event.request, now)
                requests += 1
                if event.opcode in _TREE_READS:
                    reads += 1
            elif type(event) is ConnectRequested:
                self._connect(conn, event.request)
            elif type(event) is FourLetterWord:
                self._four_letter_word(conn, event.word)
            elif type(event) is MalformedRequest:
                self.log("warn", "malformed %s request from %s:%s: %s"
                         % (event.opcode, conn.peer_host, conn.peer_port, event.reason))
                self._enqueue(conn, event.xid, None, Err.MARSHALLING_ERROR)
            elif type(event) is UnknownRequest:
                self.log("warn", "unimplemented opcode %s from %s:%s; closing"
                         % (event.opcode, conn.peer_host, conn.peer_port))
                self._enqueue(conn, event.xid, None, Err.UNIMPLEMENTED)
        if requests:
            # One clock read per batch of requests, not two per request: this is the hot path.
            latency = self.clock.monotonic_ms() - now
            self._record_latency(conn, latency, requests)
            if reads:
                self.read_latency.observe(latency, reads)
            self._backlog_estimate += requests
            if not conn.closed and not conn.throttled and self._over_limit(conn):
                self._throttle(conn)

    # -- throttling -----------------------------------------------------------------------------
    #
    # ZooKeeper's behaviour: a server with too much outstanding stops reading from the clients
    # that have requests outstanding, and never drops a request. Their bytes wait in the kernel's
    # socket buffers, then in the client; the connection and session stay healthy.

    @staticmethod
    def _backlog(conn):
        """Requests waiting, requests being decided, and output waiting to be released."""
        return len(conn.queue) + len(conn.slots) + len(conn.held)

    def _over_limit(self, conn):
        backlog = self._backlog(conn)
        per_connection = self.config.max_outstanding_per_connection
        if per_connection and backlog >= per_connection:
            return "per-connection"
        limit = self.config.global_outstanding_limit
        if limit and backlog and self._backlog_estimate > limit:
            return "global"
        return None

    def _throttle(self, conn):
        reason = self._over_limit(conn)
        if not self._throttled:
            self.log("info", "throttling clients: %s outstanding limit reached (%s:%s has %d "
                     "outstanding, about %d on this member)" % (reason, conn.peer_host, conn.peer_port,
                                                              self._backlog(conn),
                                                              self._backlog_estimate))
        self.limit_counts["throttled_" + reason.replace("-", "_")] += 1
        conn.throttled = True
        self._throttled.add(conn)
        self._ready.pause.append(conn.conn_id)

    def _recount_backlog(self):
        self._backlog_estimate = sum(self._backlog(c) for c in self.connections.values())

    def _unthrottle(self):
        """Resume connections that are below half of the limits that paused them.

        The member-wide estimate only grows between ticks, so a global throttle lifts at a tick.
        """
        per_connection = self.config.max_outstanding_per_connection
        limit = self.config.global_outstanding_limit
        if limit and self._backlog_estimate > limit // 2:
            return
        for conn in list(self._throttled):
            if conn.closed:
                self._throttled.discard(conn)
            elif not per_connection or self._backlog(conn) <= per_connection // 2:
                conn.throttled = False
                self._throttled.discard(conn)
                self._ready.resume.append(conn.conn_id)
        if not self._throttled:
            self.log("info", "throttling ended")

    def tick(self):
        """Advance consensus time; the leader expires silent sessions and reaps containers."""
        now = self.clock.monotonic_ms()
        self.raft.tick()
        self._recount_backlog()
        if self.config.read_only_mode and not self.standalone and not self.read_only \
                and self.raft.leader == NONE \
                and now - self._no_leader_since_ms >= 2 * self.config.election_timeout_ms:
            self._enter_read_only()
        if self.leader is not None:
            self.leader.expire(now, self.log)
            self.leader.reap(now)
        elif self._touched and self.raft.leader != NONE:
            self._ready.peer.append((self.raft.leader, W.Touch(tuple(sorted(self._touched)))))
            self._touched.clear()

    # -- peers ----------------------------------------------------------------------------------

    def peer_frame(self, src, frame):
        """A frame from member ``src`` (already decoded and authenticated by the adapter)."""
        if isinstance(frame, Message):
            if src == self.raft.leader:
                self._last_heard_leader_ms = self.clock.monotonic_ms()
            if frame.src != src:
                self.log("warn", "member %d sent a message claiming to be from %d; dropped"
                         % (src, frame.src))
                return
            try:
                self.raft.step(frame)
            except InvalidMessage as e:
                self.log("warn", "dropped a message from member %d: %s" % (src, e))
            return
        t = type(frame)
        if t is W.Forward:
            if frame.origin != src:
                self.log("warn", "member %d forwarded a request as member %d; dropped"
                         % (src, frame.origin))
                return
            try:
                request = decode_forwarded(frame.opcode, frame.body)
            except Exception as e:
                self.log("warn", "member %d forwarded a malformed request: %s" % (src, e))
                return
            self._leader_submit(frame.origin, frame.session_id, frame.cxid, frame.opcode, request,
                                frame.identities)
        elif t is W.ForwardReply:
            if src == self.raft.leader:
                self._answer(frame)
        elif t is W.Touch:
            if self.leader is not None:
                self.leader.touch(frame.session_ids, self.clock.monotonic_ms())

    def peer_lost(self, peer):
        """Our connection to ``peer`` broke: what we sent it may be lost."""
        if peer == self.raft.leader:
            self.raft.leader_unreachable()
        self.raft.peer_unreachable(peer)

    def compact(self, snapshot_meta):
        self.raft.compact(snapshot_meta)

    # -- the consensus loop ---------------------------------------------------------------------

    def _drive(self):
        raft = self.raft
        for _ in range(1000):
            if not raft.has_ready():
                return
            rd = raft.take_ready()
            if not rd:
                return
            if rd.soft_state is not None:
                self._role_changed(rd.soft_state)
            if rd.snapshot is not None:
                self._install_snapshot(*rd.snapshot)
            for entry in rd.committed:
                self._apply(entry)
            if rd.committed or rd.snapshot is not None:
                self._after_apply()
            for read_state in rd.read_states:
                self._sync_confirmed(read_state)
            if rd.hard_state is not None or rd.entries or rd.snapshot is not None \
                    or rd.early_messages or rd.messages:
                self._ready.raft.append(rd)
        raise AssertionError("consensus Readys never ran out")

    def _role_changed(self, soft):
        was_leader = self.leader is not None or self._term_start
        if soft.role == LEADER:
            if not self._term_start or soft.term != self._leader_term:
                # A new term of leadership starts from nothing: no pending changes, no backlog.
                self.leader = None
                self._leader_backlog = []
                self._answers_waiting = []
                self._leader_term = soft.term
                self._term_start = self.raft.log.last_index   # our NOOP
                self.log("info", "member %d leads term %d" % (self.member_id, soft.term))
        else:
            if was_leader:
                self.log("info", "member %d no longer leads (term %d)" % (self.member_id, soft.term))
            self.leader = None
            self._term_start = 0
            self._leader_backlog = []
            self._answers_waiting = []
        if soft.leader != self._leader_known:
            old, self._leader_known = self._leader_known, soft.leader
            now = self.clock.monotonic_ms()
            if soft.leader == NONE:
                self._no_leader_since_ms = now
            elif self.read_only:
                self._leave_read_only()
            if old != NONE and soft.leader == NONE and self._leader_lost_ms is None:
                self._leader_lost_ms = now
            elif soft.leader != NONE and self._leader_lost_ms is not None:
                self._leader_found_ms = now
                self._election_term = soft.term
            if old != NONE:
                self._abandon_in_flight()
            if soft.leader != NONE:
                if soft.leader != self.member_id:
                    self.log("info", "member %d follows member %d (term %d)"
                             % (self.member_id, soft.leader, soft.term))
                unrouted, self._unrouted = self._unrouted, []
                for item in unrouted:
                    self._route(*item)
                contexts, self._unrouted_syncs = self._unrouted_syncs, []
                for context in contexts:
                    if context in self._syncs:
                        self.raft.read_index(context)

    def _enter_read_only(self):
        self.read_only = True
        self.log("info", "member %d has no quorum: read-only mode (serving read-only clients)"
                 % self.member_id)
        for conn in list(self.connections.values()):
            if not conn.read_only_session:
                self._close_now(conn)   # read-write clients go and look for a working member

    def _leave_read_only(self):
        self.read_only = False
        self.log("info", "member %d has a leader again: leaving read-only mode" % self.member_id)
        for conn in list(self.connections.values()):
            if conn.read_only_session:
                self._close_now(conn)   # reconnect to get a read-write (global) session
        self._local_sessions.clear()

    def _abandon_in_flight(self):
        """Requests sent to a leader we lost have an unknown outcome: disconnect their clients."""
        for conn in list(self.connections.values()):
            if conn.slots and not conn.closed:
                self._close_now(conn)
        self._syncs.clear()
        self._sync_points = []

    def _record_election(self):
        """The first entry of the new leader's term is applied here: the outage is over."""
        now = self.clock.monotonic_ms()
        lost, found = self._leader_lost_ms, self._leader_found_ms
        heard = self._last_heard_leader_ms or lost
        record = {"term": self._election_term,
                  "detection_ms": max(0, lost - heard),
                  "election_ms": found - lost,
                  "first_commit_ms": now - found}
        self.elections.append(record)
        self.election_time.observe(record["election_ms"])
        self.election_detection.observe(record["detection_ms"])
        self.election_first_commit.observe(record["first_commit_ms"])
        self._leader_lost_ms = self._leader_found_ms = None
        self.log("info", "election of term %(term)d: detection %(detection_ms)d ms, election "
                 "%(election_ms)d ms, first commit %(first_commit_ms)d ms" % record)

    def _install_snapshot(self, meta, data):
        tolerant_until = int.from_bytes(data[:8], "big")
        tree, _ = DataTree.from_snapshot(data[8:])
        tree.last_zxid = meta.index
        if self.config.ensemble:
            tree.set_config_node(*self._config_node)
        self.tree = tree
        self.tolerant_until = max(tolerant_until, meta.index)
        self.log("info", "installed a snapshot at zxid 0x%x from the leader" % meta.index)
        # Our clients' watches cannot be told what changed in between: they reconnect, and
        # SetWatches compares zxids, as with a ZooKeeper follower that resyncs by snapshot.
        for conn in list(self.connections.values()):
            self._close_now(conn)

    def _after_apply(self):
        applied = self.tree.last_zxid
        if self._leader_found_ms is not None and self.raft.log.term(applied) == self._election_term:
            self._record_election()
        if self.raft.role == LEADER and self.leader is None and self._term_start \
                and applied >= self._term_start:
            self.leader = LeaderRole(self.config, self.tree, self.raft, self.clock,
                                     self.clock.monotonic_ms(), self.log)
            for session_id in self._touched:
                self.leader.tracker.touch(session_id, self.clock.monotonic_ms())
            self._touched.clear()
            backlog, self._leader_backlog = self._leader_backlog, []
            for item in backlog:
                self._leader_submit(*item)
        if self._answers_waiting:
            keep = []
            for zxid, member, answer in self._answers_waiting:
                if zxid <= applied:
                    self._ready.peer.append((member, answer))
                else:
                    keep.append((zxid, member, answer))
            self._answers_waiting = keep
        if self._sync_points:
            keep = []
            for item in self._sync_points:
                index, conn, xid, path = item
                if index <= applied:
                    self._finish_sync(conn, xid, path)
                else:
                    keep.append(item)
            self._sync_points = keep
        self._release(applied)

    def _apply(self, entry):
        tree = self.tree
        if entry.kind == NOOP:
            if entry.index > tree.last_zxid:
                tree.last_zxid = entry.index
            return
        mine = self.leader.decoded(entry) if self.leader is not None else None
        header, txn = mine if mine is not None else T.decode(entry.data)
        if header.zxid != entry.index:
            raise AssertionError("log entry %d carries zxid %d" % (entry.index, header.zxid))
        tolerant = entry.index <= self.tolerant_until
        stats = None
        if txn.kind == T.MULTI:
            stats = []
            triggers = []
            for sub in txn.txns:
                triggers.extend(tree.apply(header, sub, tolerant))
                node = tree.get(sub.path)
                stats.append(node.stat() if node is not None else None)
        else:
            if txn.kind == T.CLOSE_SESSION and header.cxid == 0 and self._planted_expiry_bug:
                # Planted bug (test only): an expiry (the leader proposes those itself, with
                # cxid 0) forgets the session's ephemerals instead of deleting them.
                tree.ephemerals.pop(txn.session_id, None)
            triggers = tree.apply(header, txn, tolerant)
        zxid = entry.index
        if triggers:
            trigger = self.watches.trigger
            allowed = acls.allowed
            for event_type, path, node_acl in triggers:
                for watcher in trigger(event_type, path):
                    # A watcher that cannot READ the node is not told (its one-shot watch is spent).
                    if not watcher.closed and allowed(node_acl, acls.READ, watcher.identities):
                        self._notify(watcher, zxid, event_type, path)
        if self.leader is not None:
            self.leader.applied(zxid, txn)
        kind = txn.kind
        if kind == T.CREATE_SESSION:
            conn = self._connecting.pop(txn.session_id, None)
            if conn is not None and not conn.closed:
                self._session_created(conn, zxid)
            return
        conn = self.session_conn.get(header.session_id)
        if kind == T.CLOSE_SESSION:
            if conn is not None:
                if conn.pending_writes.pop(header.cxid, None) is not None:
                    self._complete(conn, header.cxid, zxid, conn.codec.reply(header.cxid, zxid, 0),
                                   close_after=True)
                else:
                    self._close_after_output(conn)
            return
        if conn is None:
            return
        pending = conn.pending_writes.pop(header.cxid, None)
        if pending is None:
            return
        opcode, request = pending
        response = self._write_response(opcode, request, txn, stats)
        self._complete(conn, header.cxid, zxid, conn.codec.reply(header.cxid, zxid, 0, response))

    def _write_response(self, opcode, request, txn, stats):
        tree = self.tree
        if opcode == OpCode.CREATE:
            return R.CreateResponse(txn.path)
        if opcode in CREATE_OPS:
            node = tree.get(txn.path)
            return R.Create2Response(txn.path, node.stat())
        if opcode == OpCode.SET_DATA:
            return R.SetDataResponse(tree.get(txn.path).stat())
        if opcode == OpCode.SET_ACL:
            return R.SetACLResponse(tree.get(txn.path).stat())
        if opcode == OpCode.MULTI:
            results = []
            subs = iter(zip(txn.txns, stats))
            for op_code, _op in request.ops:
                if op_code == OpCode.CHECK:
                    results.append((OpCode.CHECK, None))
                    continue
                sub, stat = next(subs)
                if op_code == OpCode.CREATE or op_code == OpCode.CREATE2:
                    # ZooKeeper 3.8 answers create2 inside a multi with a plain create result.
                    results.append((OpCode.CREATE, R.CreateResponse(sub.path)))
                elif op_code in CREATE_OPS:
                    results.append((OpCode.CREATE2, R.Create2Response(sub.path, stat)))
                elif op_code == OpCode.DELETE:
                    results.append((OpCode.DELETE, None))
                else:
                    results.append((OpCode.SET_DATA, R.SetDataResponse(stat)))
            return R.MultiResponse(results)
        return None   # delete, deleteContainer

    # -- routing writes to the leader -----------------------------------------------------------

    def _route(self, session_id, cxid, opcode, request, identities):
        """Send a write on its way to the leader (ourselves included)."""
        raft = self.raft
        if raft.role == LEADER:
            self._leader_submit(self.member_id, session_id, cxid, opcode, request, identities)
        elif raft.leader != NONE:
            self._ready.peer.append((raft.leader, W.Forward(
                self.member_id, session_id, cxid, opcode, tuple(identities),
                encode_forwarded(opcode, request))))
        else:
            self._unrouted.append((session_id, cxid, opcode, request, identities))

    def _leader_submit(self, origin, session_id, cxid, opcode, request, identities):
        if self.raft.role != LEADER:
            return   # the origin learns of the new leader and disconnects the client
        if self.leader is None:
            self._leader_backlog.append((origin, session_id, cxid, opcode, request, identities))
            return
        try:
            prepared = self.leader.submit(session_id, cxid, opcode, request, list(identities))
        except NotLeader:
            return
        if prepared.error or prepared.checks_passed:
            if prepared.checks_passed:
                kind, code = W.CHECKS_PASSED, 0
            elif prepared.multi_index >= 0:
                kind, code = W.MULTI_FAILED, prepared.error
            else:
                kind, code = W.ERROR, prepared.error
            answer = W.ForwardReply(session_id, cxid, prepared.zxid, kind, code,
                                    prepared.multi_index)
            if origin == self.member_id:
                self._answer(answer)
            elif prepared.zxid <= self.tree.last_zxid:
                self._ready.peer.append((origin, answer))
            else:
                self._answers_waiting.append((prepared.zxid, origin, answer))

    def _answer(self, answer):
        """The leader answered one of our writes without a transaction."""
        conn = self.session_conn.get(answer.session_id)
        if conn is None:
            return
        pending = conn.pending_writes.pop(answer.cxid, None)
        if pending is None:
            return
        opcode, request = pending
        xid, tag = answer.cxid, answer.zxid
        if answer.kind == W.CHECKS_PASSED:
            data = conn.codec.reply(xid, tag, 0, R.MultiResponse([(OpCode.CHECK, None)
                                                                  for _ in request.ops]))
        elif answer.kind == W.MULTI_FAILED:
            n = len(request.ops)
            index = answer.index
            # Earlier ops: 0 (rolled back); this op: its error; later ops: RuntimeInconsistency.
            results = [(OpCode.ERROR, R.ErrorResponse(Err.OK))] * index
            results.append((OpCode.ERROR, R.ErrorResponse(answer.code)))
            results.extend([(OpCode.ERROR, R.ErrorResponse(Err.RUNTIME_INCONSISTENCY))]
                           * (n - index - 1))
            data = conn.codec.reply(xid, tag, 0, R.MultiResponse(results))
        else:
            data = conn.codec.reply(xid, tag, answer.code)
        self._complete(conn, xid, tag, data)

    # -- output ---------------------------------------------------------------------------------

    def _emit(self, conn, zxid_tag, data):
        """Queue output on a connection; it leaves once this member has applied ``zxid_tag``."""
        conn.out_bytes += len(data)
        if conn.out_bytes > self._output_window and not conn.out_blocked:
            conn.out_blocked = True
            self._ready.blocked.append(conn.conn_id)
        if not conn.held and zxid_tag <= self.tree.last_zxid:
            self._ready.sends.append((conn.conn_id, data))
        else:
            conn.held.append((zxid_tag, data))
            self._waiting.add(conn)
        conn.sent += 1
        self.packets_sent += 1

    def _complete(self, conn, xid, zxid_tag, data, close_after=False):
        """The answer to an outstanding request is decided; answers leave in request order."""
        for slot in conn.slots:
            if slot[0] == xid and slot[1] is None:
                slot[1], slot[2], slot[3] = data, zxid_tag, close_after
                if slot[4] is not None:
                    self.update_latency.observe(self.clock.monotonic_ms() - slot[4])
                break
        else:
            return
        slots = conn.slots
        while slots and slots[0][1] is not None:
            _, data, tag, close, _started = slots.popleft()
            if data:
                self._emit(conn, tag, data)
            if close:
                self._close_after_output(conn)
                return
        if not slots and not conn.held and conn.queue:
            self._drain_queue(conn)

    def _release(self, applied):
        if not self._waiting:
            return
        sends = self._ready.sends
        for conn in list(self._waiting):
            held = conn.held
            while held and held[0][0] <= applied:
                _, data = held.popleft()
                if data is None:
                    self._close_now(conn)
                    break
                sends.append((conn.conn_id, data))
            if not held:
                self._waiting.discard(conn)
                if conn.queue and not conn.closed and not conn.slots:
                    self._drain_queue(conn)

    def _close_after_output(self, conn):
        """Close once everything queued before now has been sent."""
        conn.draining = True
        if not conn.held:
            self._close_now(conn)
        else:
            conn.held.append((self.tree.last_zxid, None))
            self._waiting.add(conn)

    def _close_now(self, conn):
        if conn.closed:
            return
        self._ready.closes.append(conn.conn_id)
        self._forget(conn)

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
        # ZooKeeper's scheme: the member id in the top byte, then the wall-clock time this run
        # started (ms, shifted left 16), plus a counter. Unique across members, restarts and a
        # wiped data dir (an incarnation counter starts again at 1 after a wipe and reused ids,
        # found by the jepsen_like disk nemesis); live sessions are skipped in any case.
        while True:
            self._next_session_counter += 1
            session_id = self._session_id_base + self._next_session_counter
            if session_id not in self.tree.sessions and session_id not in self._connecting \
                    and session_id not in self._local_sessions:
                return session_id

    def _touch(self, session_id):
        if self.leader is not None:
            self.leader.tracker.touch(session_id, self.clock.monotonic_ms())
        else:
            self._touched.add(session_id)

    def _connect(self, conn, request):
        if request.last_zxid_seen > self.tree.last_zxid:
            # The client has seen a newer state than ours: make it try another server.
            self.log("info", "refusing client %s:%s: it has seen zxid 0x%x, we are at 0x%x"
                     % (conn.peer_host, conn.peer_port, request.last_zxid_seen, self.tree.last_zxid))
            self._close_now(conn)
            return
        timeout = self._negotiate_timeout(request.timeout_ms)
        read_only = None if request.read_only is None else False
        if self.read_only:
            self._connect_read_only(conn, request, timeout)
            return
        if request.session_id == 0:
            if self._sessions_full_now(conn):
                self._close_now(conn)
                return
            session_id = self._new_session_id()
            passwd = self.random_bytes(_PASSWD_BYTES)
            conn.connecting = (session_id, timeout, passwd, read_only)
            self._connecting[session_id] = conn
            self._route(session_id, 0, W.CREATE_SESSION, (session_id, timeout, passwd), ())
            return
        session_id = request.session_id
        known = self.tree.sessions.get(session_id)
        if known is None or known[1] != request.passwd:
            self._refuse_session(conn, read_only)
            return
        old = self.session_conn.get(session_id)
        if old is not None and old is not conn:
            self._close_now(old)
        if self.leader is not None:
            self.leader.set_timeout(session_id, timeout, self.clock.monotonic_ms())
        self._touch(session_id)
        self._attach(conn, session_id, timeout)
        self._emit(conn, self.tree.last_zxid, conn.codec.connect_response(
            R.ConnectResponse(0, timeout, session_id, known[1], read_only)))

    def _sessions_full_now(self, conn):
        """coord.maxSessions: refuse new sessions (the socket is closed, as ZooKeeper refuses a
        connection) while the ensemble holds that many; existing sessions may reconnect."""
        limit = self.config.max_sessions
        if not limit:
            return False
        full = len(self.tree.sessions) + len(self._connecting) >= limit
        if full:
            self.limit_counts["sessions_refused"] += 1
            if not self._sessions_full:
                self.log("warn", "refusing new sessions: %d sessions is the limit (coord.maxSessions);"
                         " first refused: %s:%s" % (limit, conn.peer_host, conn.peer_port))
        elif self._sessions_full:
            self.log("info", "accepting new sessions again (below coord.maxSessions)")
        self._sessions_full = full
        return full

    def _refuse_session(self, conn, read_only):
        """Unknown session or wrong password: a zero session id (the client sees it expired)."""
        self._emit(conn, self.tree.last_zxid, conn.codec.connect_response(
            R.ConnectResponse(0, 0, 0, _NO_PASSWD, read_only)))
        self._close_after_output(conn)

    def _connect_read_only(self, conn, request, timeout):
        """A member without quorum accepts only clients that allow read-only sessions."""
        if not request.read_only:
            self._close_now(conn)
            return
        conn.read_only_session = True
        session_id = request.session_id
        known = self.tree.sessions.get(session_id) or self._local_sessions.get(session_id)
        if session_id == 0 or known is None:
            # A local session: never replicated, gone when this member leaves read-only mode.
            session_id = self._new_session_id()
            known = (timeout, self.random_bytes(_PASSWD_BYTES))
            self._local_sessions[session_id] = known
        elif known[1] != request.passwd:
            self._refuse_session(conn, True)
            return
        self._attach(conn, session_id, timeout)
        self._emit(conn, self.tree.last_zxid, conn.codec.connect_response(
            R.ConnectResponse(0, timeout, session_id, known[1], True)))

    def _session_created(self, conn, zxid):
        session_id, timeout, passwd, read_only = conn.connecting
        conn.connecting = None
        self._attach(conn, session_id, timeout)
        self._emit(conn, zxid, conn.codec.connect_response(
            R.ConnectResponse(0, timeout, session_id, passwd, read_only)))
        if conn.queue:
            self._drain_queue(conn)

    def _attach(self, conn, session_id, timeout):
        conn.session_id = session_id
        conn.timeout_ms = timeout
        self.session_conn[session_id] = conn

    # -- requests -------------------------------------------------------------------------------

    def _request(self, conn, xid, opcode, request, now):
        conn.received += 1
        self.packets_received += 1
        conn.last_op = _OP_ABBREV.get(opcode, "UNKN")
        conn.last_cxid = xid
        session_id = conn.session_id
        if session_id:
            self._touch(session_id)
        self._enqueue(conn, xid, opcode, request)

    def _enqueue(self, conn, xid, opcode, request):
        """Run a request now if per-session FIFO allows, else queue it behind earlier ones.

        ``opcode`` None: an answer decided on arrival (``request`` is its error code), which
        still waits its turn.
        """
        if conn.queue or conn.connecting is not None or conn.out_blocked or (
                opcode not in _FORWARDED_OPS and (conn.slots or conn.held)):
            if len(conn.queue) >= MAX_QUEUED_PER_CONNECTION:
                self.log("warn", "closing connection from %s:%s: %d requests queued"
                         % (conn.peer_host, conn.peer_port, len(conn.queue)))
                self._close_now(conn)
                return
            conn.queue.append((xid, opcode, request))
            return
        self._execute(conn, xid, opcode, request)

    def _drain_queue(self, conn):
        queue = conn.queue
        while queue and not conn.closed and not conn.draining and not conn.out_blocked:
            xid, opcode, request = queue[0]
            if conn.connecting is not None or (
                    opcode not in _FORWARDED_OPS and (conn.slots or conn.held)):
                return
            queue.popleft()
            self._execute(conn, xid, opcode, request)

    def _execute(self, conn, xid, opcode, request):
        if opcode is None:
            self._reply_error(conn, xid, request)
            if request == Err.UNIMPLEMENTED:
                self._close_after_output(conn)
            return
        session_id = conn.session_id
        if session_id not in self.tree.sessions and session_id not in self._local_sessions:
            self._reply_error(conn, xid, Err.SESSION_EXPIRED)
            self._close_after_output(conn)
            return
        if conn.read_only_session and (opcode in _FORWARDED_OPS or opcode == OpCode.SYNC):
            if opcode == OpCode.CLOSE_SESSION:
                self._local_sessions.pop(session_id, None)
                self._reply(conn, xid, None)
                self._close_after_output(conn)
            else:
                self._reply_error(conn, xid, Err.NOT_READ_ONLY)
            return
        if opcode in _FORWARDED_OPS:
            if opcode == OpCode.CLOSE_SESSION:
                opcode = W.CLOSE_SESSION
                request = None
            elif opcode == OpCode.MULTI and not request.ops:
                self._reply(conn, xid, R.MultiResponse([]))
                return
            conn.pending_writes[xid] = (opcode, request)
            conn.slots.append([xid, None, 0, False, self.clock.monotonic_ms()])
            self._route(session_id, xid, opcode, request, conn.identities)
            return
        if opcode == OpCode.SYNC:
            self._sync(conn, xid, request.path)
            return
        if type(request) is _Confirmed:
            request = request.request
        elif opcode in _TREE_READS and self.config.linearizable_reads and not self.standalone \
                and not conn.read_only_session:
            # Linearizable reads: a silent sync first (a quorum-confirmed read index, applied
            # here), then the read itself, which waits behind it in the connection's queue.
            self._sync(conn, xid, None)
            conn.queue.appendleft((xid, opcode, _Confirmed(request)))
            return
        try:
            self._dispatch(conn, xid, opcode, request)
        except P.OpError as e:
            self._reply_error(conn, xid, e.code)

    # -- sync -----------------------------------------------------------------------------------

    def _sync(self, conn, xid, path):
        if self.standalone:
            self._reply(conn, xid, R.SyncResponse(path))
            return
        self._sync_counter += 1
        context = b"%d:%d" % (self.member_id, self._sync_counter)
        conn.slots.append([xid, None, 0, False, None])
        self._syncs[context] = (conn, xid, path)
        if not self.raft.read_index(context):
            self._unrouted_syncs.append(context)   # asked again once a leader is known

    def _sync_confirmed(self, read_state):
        item = self._syncs.pop(read_state.context, None)
        if item is None:
            return
        conn, xid, path = item
        if conn.closed:
            return
        if read_state.index <= self.tree.last_zxid:
            self._finish_sync(conn, xid, path)
        else:
            self._sync_points.append((read_state.index, conn, xid, path))

    def _finish_sync(self, conn, xid, path):
        if conn.closed:
            return
        tag = self.tree.last_zxid
        data = b"" if path is None else conn.codec.reply(xid, tag, 0, R.SyncResponse(path))
        self._complete(conn, xid, tag, data)

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
        elif opcode == OpCode.GET_ACL:
            node = self._node_for_read(conn, request.path, acls.READ | acls.ADMIN)
            acl = node.acl
            if not acls.allowed(acl, acls.ADMIN, conn.identities):
                acl = acls.masked_for_reader(acl)
            self._reply(conn, xid, R.GetACLResponse(list(acl), node.stat()))
        elif opcode == OpCode.MULTI_READ:
            self._multi_read(conn, xid, request)
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
            self._sasl(conn, xid, request.token or b"")
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

    def _sasl(self, conn, xid, token):
        """One SASL token (ZooKeeperServer.processSasl): the answer carries zxid 0; a failure is
        AuthFailed, then the connection closes (ZooKeeper's default; kazoo and the Java client
        enter their AUTH_FAILED state)."""
        if not self.config.sasl_users:
            # ZooKeeper without a JAAS Server section answers a null token, on which clients
            # loop; refusing is the useful equivalent.
            self._sasl_failed(conn, xid, "no SASL users are configured")
            return
        if conn.sasl is None:
            conn.sasl = DigestMD5Server(self.config.sasl_users, self.random_bytes)
        try:
            answer = conn.sasl.evaluate(token)
        except SaslFailure as e:
            self._sasl_failed(conn, xid, str(e))
            return
        if conn.sasl.complete:
            user = conn.sasl.authorization_id
            new = [("sasl", user)]
            if user == self.config.sasl_super_user:
                new.append(("super", ""))
            for identity in new:
                if identity not in conn.identities:
                    conn.identities.append(identity)
            self.log("info", "%s:%s authenticated as sasl:%s (DIGEST-MD5)"
                     % (conn.peer_host, conn.peer_port, user))
        self._emit(conn, self.tree.last_zxid,
                   conn.codec.reply(xid, 0, 0, R.SetSASLResponse(answer)))

    def _sasl_failed(self, conn, xid, reason):
        self.auth_failed_count += 1
        self.log("warn", "SASL authentication of %s:%s failed: %s; closing"
                 % (conn.peer_host, conn.peer_port, reason))
        # ZooKeeper sends the error with a SetSASLResponse holding a null token.
        self._emit(conn, self.tree.last_zxid,
                   conn.codec.reply_raw(xid, 0, Err.AUTH_FAILED, b"\xff\xff\xff\xff"))
        self._close_after_output(conn)

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
