"""The Twisted adapter for one coord member: sockets, disk and clock around ``ServerCore``.

Theory of operation
-------------------
``CoordNode`` owns the pieces that touch the world: the client port, the links to the other
members (``peers.py``), the data directory, a worker thread for fsync, and a periodic tick (one
consensus tick, ``coord.heartbeatMs``). After every input it drains ``ServerCore.take_ready``:

1. client bytes go to their sockets, closes are done, frames for peers are sent;
2. each consensus Ready is staged: its early messages (the leader's appends) are sent at once,
   its entries appended to the write-ahead log's in-memory batch (truncating first when a
   follower's log conflicts with its leader's), a new term or vote noted, a snapshot received
   from the leader queued for writing;
3. if no disk write is in flight, everything staged is made durable in one go on the worker thread
   (group commit: the snapshot file, the log batch with one fdatasync, the ``raft-state`` file);
   then, for each Ready it covered, in order, the core is told (``persisted``) and the Ready's
   messages (votes and acknowledgements, which promise what is on disk) are sent.

Snapshots are fuzzy: the tree is serialized a slice at a time between reactor turns while requests
keep flowing, and the file is committed once the log is durable past everything the snapshot may
contain. Then old snapshots and the log segments no snapshot needs are removed, and the consensus
log in memory is compacted behind the new snapshot.
"""

import collections
import os
import random
import time

from twisted.internet import defer, protocol, task, threads
from twisted.internet.interfaces import IPushProducer
from twisted.internet.interfaces import IHandshakeListener
from twisted.python.failure import Failure
from twisted.logger import Logger
from zope.interface import implementer

from coord import peer_wire
from coord.consensus.messages import NOOP, HardState, MsgType, SnapshotMeta
from coord import planted_bugs
from coord.consensus.raft import RaftConfig
from coord.runtime import heap, tls
from coord.runtime.peers import PeerLinks
from coord.runtime.process_facts import ProcessFacts
from coord.server import ServerCore
from coord.storage import consensus_state, snapshots
from coord.storage.datadir import DataDir
from coord.tree import txns
from coord.tree.datatree import DataTree

STOP_FLUSH_TIMEOUT_S = 10.0
# A log write runs on the reactor thread while the disk is fast: handing it to a worker thread
# and back (a wake-up, the GIL, another reactor turn) costs more than a fast fdatasync. When the
# median of the last INLINE_WRITE_SAMPLES inline writes took longer than INLINE_WRITE_MAX_MS (a
# slow disk, not one hiccup), writes go to the worker thread for THREAD_WRITES_S, then inline
# again: a slow disk stalls the reactor for a few writes per period at most.
INLINE_WRITE_MAX_MS = 2.0
INLINE_WRITE_SAMPLES = 9
THREAD_WRITES_S = 10.0


class WallAndMonotonicClock:
    def monotonic_ms(self):
        return int(time.monotonic() * 1000)

    def wall_ms(self):
        return int(time.time() * 1000)


class Recovered:
    """What a member needs to start: tree, consensus log and state, from its data dir."""

    def __init__(self, data_dir, voters, learners):
        if data_dir.snapshot_bytes is not None:
            term, tree_bytes = consensus_state.split_snapshot_body(data_dir.snapshot_bytes)
            self.tree, _ = DataTree.from_snapshot(tree_bytes)
            self.tree.last_zxid = data_dir.snapshot_zxid
            self.snapshot_meta = SnapshotMeta(data_dir.snapshot_zxid, term, voters, learners)
        else:
            self.tree = DataTree()
            self.snapshot_meta = None
        self.entries = [consensus_state.decode_entry(zxid, payload)
                        for zxid, payload in data_dir.log_records_to_replay]
        first = (self.snapshot_meta.index if self.snapshot_meta else 0) + 1
        for expected, entry in enumerate(self.entries, first):
            if entry.index != expected:
                raise consensus_state.ConsensusStateError(
                    "the log in %s jumps from 0x%x to 0x%x after the snapshot at 0x%x"
                    % (data_dir.log_dir, expected - 1, entry.index, first - 1))
        term, vote = consensus_state.read_state(data_dir.data_dir)
        self.hard_state = HardState(term, vote, 0)
        # The snapshot is fuzzy: any logged entry may already be reflected in it.
        self.tolerant_until = self.entries[-1].index if self.entries else 0
        data_dir.forget_recovery_data()


def recover_tree(data_dir):
    """The tree a stopped server's data dir holds: the newest valid snapshot plus every logged
    transaction after it (for tools; a member applies only what its ensemble committed)."""
    recovered = Recovered(data_dir, (), ())
    tree = recovered.tree
    replayed = 0
    for entry in recovered.entries:
        if entry.kind == NOOP:
            tree.last_zxid = max(tree.last_zxid, entry.index)
            continue
        try:
            header, txn = txns.decode(entry.data)
        except Exception as e:
            raise RuntimeError("log record zxid 0x%x cannot be decoded: %s" % (entry.index, e)) from None
        tree.apply(header, txn, tolerant=True)
        replayed += 1
    return tree, replayed


@implementer(IPushProducer)
class _ClientProtocol(protocol.Protocol):
    """Moves bytes between one client socket and the core.

    It is also the producer of the transport's output: when a client does not read its replies
    and the transport's buffer fills, Twisted pauses us and we stop reading that client's
    requests (so it cannot make us produce more), and we count what is still written to it
    (notifications, answers already decided); past ``max_client_output_bytes`` the connection is
    closed, so a client that never reads cannot grow the server's memory without bound.
    """

    handshake_done = True   # plain TCP: no TLS handshake to wait for

    def __init__(self, node, conn_id):
        self.node = node
        self.conn_id = conn_id
        self.read_pauses = set()    # why reading is paused: "throttled", "unread-output"
        self.unread_bytes = 0       # written while the transport's buffer was full
        self.aborted = False
        self.awaiting_drain = False # the core waits for our output to drain (OUTPUT_WINDOW)

    def connectionMade(self):
        try:
            self.transport.setTcpNoDelay(True)
        except (AttributeError, OSError):
            pass
        self.transport.registerProducer(self, True)
        peer = self.transport.getPeer()
        self.node.connection_made(self, peer.host, peer.port)

    # The transport's own producer interface stops and restarts reading (plain TCP and TLS).
    def pause_reading(self, reason):
        if not self.read_pauses:
            self.transport.pauseProducing()
        self.read_pauses.add(reason)

    def resume_reading(self, reason):
        self.read_pauses.discard(reason)
        if not self.read_pauses and self.transport.connected \
                and not getattr(self.transport, "disconnecting", False):
            self.transport.resumeProducing()

    def write(self, chunks, limit):
        """Write; returns False (and aborts) when an unread client's output passes ``limit``."""
        if self.aborted:
            return True
        if "unread-output" in self.read_pauses:
            self.unread_bytes += sum(len(c) for c in chunks)
            if limit and self.unread_bytes > limit:
                self.aborted = True
                self.transport.abortConnection()
                return False
        if len(chunks) == 1:
            self.transport.write(chunks[0])
        else:
            self.transport.writeSequence(chunks)
        return True

    def output_blocked(self):
        """The core stopped running our requests until our output drains; tell it now if the
        transport's buffer is not full, else when the transport resumes us."""
        if "unread-output" in self.read_pauses:
            self.awaiting_drain = True
        else:
            self.node.output_flushed(self.conn_id)

    def close(self):
        """Close after the pending output (a transport with a producer would wait for it)."""
        self.transport.unregisterProducer()
        self.transport.loseConnection()

    # IPushProducer: called by the transport about its output buffer (pauseProducing on every
    # write while the buffer is full).
    def pauseProducing(self):
        if "unread-output" not in self.read_pauses:
            self.unread_bytes = 0
            self.pause_reading("unread-output")

    def resumeProducing(self):
        self.resume_reading("unread-output")
        if self.awaiting_drain:
            self.awaiting_drain = False
            self.node.output_flushed(self.conn_id)
            self.node.drain()

    def stopProducing(self):
        pass

    def dataReceived(self, data):
        self.node.data_received(self.conn_id, data)

    def connectionLost(self, reason=None):
        if tls.is_tls_failure(reason) and not self.handshake_done:
            self.node.tls_handshake_failed(self.transport.getPeer(), reason.value)
        self.node.connection_lost(self.conn_id)


@implementer(IHandshakeListener)
class _SecureClientProtocol(_ClientProtocol):
    """A client on the secure port: no request is read before the TLS handshake is done, and
    then the verified client certificate (if any) names the connection's x509 identity."""

    handshake_done = False

    def handshakeCompleted(self):
        self.handshake_done = True
        subject = tls.peer_subject(self.transport)
        if subject is not None:
            self.node.client_certificate(self.conn_id, subject)


class _ClientFactory(protocol.Factory):
    noisy = False   # CoordNode logs the one line that matters ("serving on ...")

    def logPrefix(self):
        return "secure client port" if self.secure else "client port"

    def __init__(self, node, secure=False):
        self.node = node
        self.secure = secure

    def buildProtocol(self, addr):
        return self.node.build_protocol(addr, self.secure)


class CoordNode:
    log = Logger()

    def __init__(self, config, reactor):
        self.config = config
        self.reactor = reactor
        self.core = None
        self.data_dir = None
        self.port = None
        self.secure_port = None
        self.peers = None
        self._transports = {}
        self._protocols = {}     # conn_id -> _ClientProtocol (writes, read pausing)
        self._next_conn_id = 0
        self._per_address = {}
        self._writing = False
        self._write_call = None           # the reactor call that starts the next write
        self._drain_call = None           # the reactor call that takes the core's output
        self._thread_writes_until = 0.0   # reactor time before which writes go to the thread
        self._inline_write_ms = collections.deque(maxlen=INLINE_WRITE_SAMPLES)
        self._staged = []                 # consensus Readys waiting for the next disk write
        self._staged_state = None         # (term, vote) to persist with the next write
        self._persisted_state = (0, 0)
        self._staged_snapshots = []       # (meta, data) received from the leader
        self._ticker = None
        self._txns_since_snapshot = 0
        self._snapshot_due = self._snapshot_threshold()
        self._snapshotting = False
        self._durable_waiters = []    # (zxid, Deferred)
        self._snapshot_ends = {}      # snapshot zxid -> last zxid it may reflect
        self._startup_last_index = 0
        self._stopping = False
        self.metrics_port = None          # listening ports of /metrics and the AdminServer
        self.admin_port = None

    # -- start / stop ---------------------------------------------------------------------------

    def start(self):
        """Recover the data dir, build the core, join the ensemble and listen for clients."""
        cfg = self.config
        started = time.monotonic()
        # Key and trust stores first: a bad file stops start-up before anything is opened.
        secure_options = tls.client_port_options(cfg.client_tls) if cfg.client_tls else None
        self.data_dir = DataDir.open(cfg.data_dir, cfg.data_log_dir,
                                     warn=lambda m: self.log.warn("{m}", m=m))
        member_id = cfg.server_id or 1
        voters = cfg.voters if cfg.ensemble else (member_id,)
        learners = cfg.learners if cfg.ensemble else ()
        recovered = Recovered(self.data_dir, voters, learners)
        self._persisted_state = (recovered.hard_state.term, recovered.hard_state.vote)
        self._startup_last_index = self.data_dir.last_zxid
        tree = recovered.tree
        election_ticks = max(2, cfg.election_timeout_ms // cfg.heartbeat_ms)
        raft_config = RaftConfig(election_ticks=election_ticks, heartbeat_ticks=1,
                                 **planted_bugs.raft_settings(cfg.planted_bugs))
        self.core = ServerCore(cfg, WallAndMonotonicClock(), os.urandom, tree=tree,
                               server_id=member_id, incarnation=self.data_dir.epoch,
                               voters=voters, learners=learners, raft_config=raft_config,
                               raft_rng=random.SystemRandom(), hard_state=recovered.hard_state,
                               snapshot_meta=recovered.snapshot_meta,
                               log_entries=recovered.entries,
                               tolerant_until=recovered.tolerant_until, log=self._core_log,
                               process_facts=ProcessFacts(self.data_dir.snapshot_dir,
                                                          self.data_dir.log_dir))
        if cfg.ensemble:
            addresses = {i: (m.host, m.peer_port) for i, m in cfg.members.items()}
            self.peers = PeerLinks(member_id, addresses,
                                   peer_wire.cluster_id(cfg.membership_lines()),
                                   self._peer_frame, self._peer_lost, reactor=self.reactor,
                                   tls_settings=cfg.quorum_tls,
                                   dial_addresses=cfg.dial_addresses)
            self.peers.start()
        host, port = cfg.host, cfg.port
        me = cfg.members.get(member_id)
        if me is not None and me.client_port is not None:
            port = me.client_port
            host = me.client_host or host
        self.port = self.reactor.listenTCP(port, _ClientFactory(self), interface=host, backlog=128)
        self._listen_http()
        if secure_options is not None:
            secure_host = cfg.secure_host or host
            self.secure_port = self.reactor.listenSSL(
                cfg.secure_port, _ClientFactory(self, secure=True), secure_options,
                interface=secure_host, backlog=128)
            self.log.info("TLS client port on {host}:{port} (client certificates: {auth})",
                          host=secure_host, port=self.secure_port.getHost().port,
                          auth=cfg.client_tls.client_auth)
        self._ticker = task.LoopingCall(self._tick)
        self._ticker.clock = self.reactor
        self._ticker.start(cfg.heartbeat_ms / 1000.0, now=False)
        self.log.info("coord member {id} ({mode}) serving on {host}:{port}; data in {data} "
                      "(incarnation {epoch}, {nodes} znodes, {sessions} sessions, {entries} log "
                      "entries after the snapshot) in {ms:.0f} ms",
                      id=member_id, mode=self.core.mode, host=host, port=self.port.getHost().port,
                      data=cfg.data_dir, epoch=self.data_dir.epoch, nodes=tree.node_count,
                      sessions=len(tree.sessions), entries=len(recovered.entries),
                      ms=(time.monotonic() - started) * 1000)
        self._drain()
        return self.port

    def _listen_http(self):
        cfg = self.config
        if cfg.metrics_port is None and not cfg.admin_enabled:
            return
        from coord.runtime import http   # prometheus_client and twisted.web only when asked for
        if cfg.metrics_port is not None:
            self.metrics_port = http.listen_metrics(self.reactor, self, cfg.metrics_host,
                                                    cfg.metrics_port)
            self.log.info("Prometheus metrics on http://{host}:{port}/metrics",
                          host=cfg.metrics_host, port=self.metrics_port.getHost().port)
        if cfg.admin_enabled:
            self.admin_port = http.listen_admin(self.reactor, self, cfg.admin_host, cfg.admin_port,
                                                cfg.admin_command_url)
            self.log.info("AdminServer on http://{host}:{port}{url}", host=cfg.admin_host,
                          port=self.admin_port.getHost().port, url=cfg.admin_command_url)

    async def stop(self):
        """Stop listening, let the last batch reach disk, close connections and the data dir."""
        if self._stopping:
            return
        await self._hand_over_leadership()
        self._stopping = True
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        for port in (self.port, self.secure_port, self.metrics_port, self.admin_port):
            if port is not None:
                await defer.maybeDeferred(port.stopListening)
        # Let the write in flight (and anything staged) reach the disk; bounded by
        # STOP_FLUSH_TIMEOUT_S so a dead disk cannot hang shutdown.
        deadline = time.monotonic() + STOP_FLUSH_TIMEOUT_S
        while self._writing or self._staged:
            if time.monotonic() > deadline:
                self.log.warn("stopping with a log write still unfinished; it was never acknowledged")
                break
            if not self._writing:
                self._start_write()
            await task.deferLater(self.reactor, 0.01, lambda: None)
        for call in (self._write_call, self._drain_call):
            if call is not None and call.active():
                call.cancel()
        self._write_call = self._drain_call = None
        if self.peers is not None:
            await defer.maybeDeferred(self.peers.stop)
        for proto in list(self._protocols.values()):
            proto.close()
        self.data_dir.close()
        self.log.info("coord stopped")

    async def _hand_over_leadership(self):
        """A leader that is asked to stop hands over first (planned restarts cost no timeout)."""
        core = self.core
        if core is None or core.mode != "leader":
            return
        raft = core.raft
        voters = [p for p in raft.progress if p in raft.voters and self.peers.connected(p)]
        if not voters:
            return
        target = max(voters, key=lambda p: raft.progress[p].match)
        if not raft.transfer_leadership(target):
            return
        self.log.info("stopping: handing leadership to member {m}", m=target)
        self._drain()
        deadline = time.monotonic() + self.config.election_timeout_ms / 1000.0
        while core.mode == "leader" and time.monotonic() < deadline:
            await task.deferLater(self.reactor, 0.01, lambda: None)

    # -- connections ----------------------------------------------------------------------------

    def build_protocol(self, addr, secure=False):
        host = getattr(addr, "host", "")
        limit = self.config.max_client_connections
        if limit and self._per_address.get(host, 0) >= limit:
            self.log.warn("too many connections from {host} (max {limit}); refusing", host=host,
                          limit=limit)
            self.core.limit_counts["connections_refused"] += 1
            return None
        self._next_conn_id += 1
        return (_SecureClientProtocol if secure else _ClientProtocol)(self, self._next_conn_id)

    def connection_made(self, proto, host, port):
        self._transports[proto.conn_id] = proto.transport
        self._protocols[proto.conn_id] = proto
        self._per_address[host] = self._per_address.get(host, 0) + 1
        self.core.connection_made(proto.conn_id, host, port)

    def client_certificate(self, conn_id, subject):
        self.core.connection_authenticated(conn_id, "x509", subject)
        self._drain()

    def tls_handshake_failed(self, peer, error):
        self.log.info("TLS handshake with client {host}:{port} failed: {error}",
                      host=getattr(peer, "host", "?"), port=getattr(peer, "port", "?"), error=error)

    def data_received(self, conn_id, data):
        self.core.data_received(conn_id, data)
        self._drain()

    def output_flushed(self, conn_id):
        self.core.output_flushed(conn_id)

    def drain(self):
        self._drain()

    def connection_lost(self, conn_id):
        transport = self._transports.pop(conn_id, None)
        self._protocols.pop(conn_id, None)
        if transport is not None:
            host = transport.getPeer().host
            left = self._per_address.get(host, 1) - 1
            if left:
                self._per_address[host] = left
            else:
                self._per_address.pop(host, None)
        self.core.connection_lost(conn_id)
        self._drain()

    def _peer_frame(self, member_id, frame):
        if self._stopping:
            return
        self.core.peer_frame(member_id, frame)
        self._drain()

    def _peer_lost(self, member_id):
        if self._stopping:
            return
        self.core.peer_lost(member_id)
        self._drain()

    # -- the Ready loop -------------------------------------------------------------------------

    def _drain(self):
        """Take the core's output at the end of this reactor turn. Everything read in one turn
        (client requests, peer frames) then leaves together: one append per follower, one
        write per connection, one log write, where draining after every event would send a
        message per request."""
        if self._drain_call is None:
            self._drain_call = self.reactor.callLater(0, self._drain_due)

    def _drain_due(self):
        self._drain_call = None
        self._drain_now()

    def _drain_now(self):
        if self._stopping and self.data_dir is None:
            return
        appends_sent = False
        for _ in range(100):
            ready = self.core.take_ready()
            if not ready:
                break
            self._client_output(ready)
            peers = self.peers
            if peers is not None:
                for member_id, frame in ready.peer:
                    peers.send(member_id, frame)
            for rd in ready.raft:
                if rd.early_messages:
                    appends_sent = True
                    for message in rd.early_messages:
                        self._send_message(message)
                self._stage(rd)
        if self._staged and not self._writing:
            if not self._anything_to_write():
                # Nothing for the disk (a new commit index, messages): done as if written.
                readys, self._staged = self._staged, []
                self._persisted(readys)
            elif self._write_call is not None:
                pass   # due in the next turn already
            elif appends_sent:
                # In the next reactor turn: the poll before it sends the appends just made (the
                # followers write while we do), and one write carries everything staged meanwhile.
                self._write_call = self.reactor.callLater(0, self._write_due)
            else:
                self._start_write()   # all this turn read is staged: no reason to wait
        if self._txns_since_snapshot >= self._snapshot_due and not self._snapshotting:
            self._start_snapshot()

    def _client_output(self, ready):
        sends = ready.sends
        if sends:
            # Group consecutive sends per connection into one write.
            pending = {}
            for conn_id, data in sends:
                chunks = pending.get(conn_id)
                if chunks is None:
                    pending[conn_id] = [data]
                else:
                    chunks.append(data)
            limit = self.config.max_client_output_bytes
            for conn_id, chunks in pending.items():
                proto = self._protocols.get(conn_id)
                if proto is not None and not proto.write(chunks, limit):
                    self.core.limit_counts["unread_output_closed"] += 1
                    self.log.warn("closing connection from {host}: it does not read its replies "
                                  "({limit} bytes waiting; coord.maxClientOutputBytes)",
                                  host=proto.transport.getPeer().host, limit=limit)
        for conn_id in ready.closes:
            proto = self._protocols.get(conn_id)
            if proto is not None:
                proto.close()
        for conn_id in ready.blocked:
            proto = self._protocols.get(conn_id)
            if proto is not None:
                proto.output_blocked()
        for conn_id in ready.pause:
            proto = self._protocols.get(conn_id)
            if proto is not None:
                proto.pause_reading("throttled")
        for conn_id in ready.resume:
            proto = self._protocols.get(conn_id)
            if proto is not None:
                proto.resume_reading("throttled")

    def _send_message(self, message):
        if self.peers is None:
            return
        if message.type == MsgType.SNAPSHOT and message.snapshot_data is None:
            data = self._snapshot_data(message.snapshot.index)
            if data is None:
                self.core.raft.snapshot_done(message.dst, False)
                return
            message.snapshot_data = data
        self.peers.send(message.dst, message)

    def _snapshot_data(self, index):
        """What a follower needs to install our snapshot at ``index``: the last zxid it may
        reflect (8 bytes), then the tree's bytes."""
        path = os.path.join(self.data_dir.snapshot_dir, snapshots.snapshot_file_name(index))
        try:
            body = snapshots.read_snapshot(path, index)
        except (OSError, snapshots.CorruptSnapshotError) as e:
            self.log.warn("cannot send snapshot {path}: {e}", path=path, e=e)
            return None
        _, tree_bytes = consensus_state.split_snapshot_body(body)
        end = self._snapshot_ends.get(index, max(index, self._startup_last_index))
        return end.to_bytes(8, "big") + tree_bytes

    def _stage(self, rd):
        wal = self.data_dir.wal
        if rd.snapshot is not None:
            meta, _data = rd.snapshot
            self._staged_snapshots.append(rd.snapshot)
            if wal.last_appended_zxid > meta.index:
                wal.truncate_after(meta.index)
        if rd.entries:
            first = rd.entries[0].index
            if first <= wal.last_appended_zxid:
                wal.truncate_after(first - 1)   # our uncommitted suffix conflicts with the leader's
            encode = consensus_state.encode_entry
            for entry in rd.entries:
                wal.append(entry.index, encode(entry))
            self._txns_since_snapshot += len(rd.entries)
        hs = rd.hard_state
        if hs is not None and (hs.term, hs.vote) != (self._staged_state or self._persisted_state):
            self._staged_state = (hs.term, hs.vote)
        self._staged.append(rd)

    def _anything_to_write(self):
        wal = self.data_dir.wal
        return bool(wal.pending_count or wal.pending_truncate_after is not None
                    or self._staged_state is not None or self._staged_snapshots)

    def _write_due(self):
        self._write_call = None
        if self._staged and not self._writing:
            self._start_write()

    def _start_write(self):
        readys, self._staged = self._staged, []
        batch = self.data_dir.wal.seal()
        state, self._staged_state = self._staged_state, None
        installs, self._staged_snapshots = self._staged_snapshots, []
        if batch is None and state is None and not installs:
            self._persisted(readys)   # nothing to write and nothing in flight before them
            return
        self._writing = True
        if not installs and self.reactor.seconds() >= self._thread_writes_until:
            try:
                write_ms = self._write_blocking(batch, state, installs)
            except Exception:
                self._write_failed_cb(Failure())
                return
            if write_ms is not None:
                self._note_inline_write(write_ms)
            self._write_done(write_ms, batch, state, readys)
            return
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                      self._write_blocking, batch, state, installs)
        d.addCallbacks(self._write_done, self._write_failed_cb,
                       callbackArgs=(batch, state, readys))

    def _note_inline_write(self, write_ms):
        samples = self._inline_write_ms
        samples.append(write_ms)
        if len(samples) < samples.maxlen:
            return
        median = sorted(samples)[len(samples) // 2]
        if median > INLINE_WRITE_MAX_MS:
            self.log.info("log writes take {ms:.1f} ms (median of the last {n}): writing in a "
                          "worker thread for {s:.0f} s", ms=median, n=len(samples),
                          s=THREAD_WRITES_S)
            self._thread_writes_until = self.reactor.seconds() + THREAD_WRITES_S
            samples.clear()

    def _write_blocking(self, batch, state, installs):
        # The term first: entries of a term must never be durable while the term is not (a
        # restart would otherwise fall back to an older term; RaftNode copes, but need not).
        if state is not None:
            consensus_state.write_state(self.data_dir.data_dir, *state)
        for meta, data in installs:
            self._write_received_snapshot(meta, data)
        if batch is not None:
            started = time.monotonic()
            self.data_dir.wal.write(batch)
            return (time.monotonic() - started) * 1000
        return None

    def _write_received_snapshot(self, meta, data):
        writer = self.data_dir.new_snapshot(meta.index)
        try:
            writer.write(consensus_state.snapshot_body_prefix(meta.term))
            writer.write(data[8:])
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        # Older snapshots describe a history our log no longer follows: keep only this one.
        for zxid, path in snapshots.list_snapshots(self.data_dir.snapshot_dir):
            if zxid != meta.index:
                os.unlink(path)
        self._snapshot_ends[meta.index] = int.from_bytes(data[:8], "big")

    def _write_done(self, fsync_ms, batch, state, readys):
        self._writing = False
        if fsync_ms is not None:
            self.core.fsync_time.observe(round(fsync_ms, 3))
        if state is not None:
            self._persisted_state = state
        self._persisted(readys)

    def _persisted(self, readys):
        for rd in readys:
            self.core.persisted(rd)
            for message in rd.messages:
                self._send_message(message)
        if self._durable_waiters:
            durable = self.core.raft.log.persisted
            waiters, self._durable_waiters = self._durable_waiters, []
            for zxid, d in waiters:
                if zxid <= durable:
                    d.callback(None)
                else:
                    self._durable_waiters.append((zxid, d))
        self._drain_now()

    def _write_failed_cb(self, failure):
        # A failed fsync leaves the log's state unknown: acknowledging anything more could lose
        # acknowledged data, so stop serving (ZooKeeper exits as well).
        self._writing = False
        self.log.failure("write-ahead log write failed; stopping the server", failure)
        self.reactor.callLater(0, self.reactor.stop)

    def _until_durable(self, zxid):
        if self.core.raft.log.persisted >= zxid:
            return defer.succeed(None)
        d = defer.Deferred()
        self._durable_waiters.append((zxid, d))
        return d

    # -- ticks and snapshots --------------------------------------------------------------------

    def _tick(self):
        self.core.tick()
        self._drain()

    def _snapshot_threshold(self):
        # Randomized like ZooKeeper's, so an ensemble's servers don't all snapshot at once.
        every = self.config.snapshot_every_txns
        return every // 2 + random.randrange(every // 2 + 1)

    def _start_snapshot(self):
        self._snapshotting = True
        self._txns_since_snapshot = 0
        self._snapshot_due = self._snapshot_threshold()
        d = defer.Deferred.fromCoroutine(self._snapshot())
        d.addErrback(lambda f: self.log.failure("snapshot failed", f))
        d.addBoth(self._snapshot_finished)

    def _snapshot_finished(self, result):
        self._snapshotting = False
        return result

    async def _snapshot(self):
        core = self.core
        tree = core.tree
        start_zxid, pieces = tree.snapshot()
        term = core.raft.log.term(start_zxid)
        if term is None:
            return   # already covered by a newer snapshot (one installed from the leader)
        pool = self.reactor.getThreadPool()

        def in_thread(f, *args):
            return threads.deferToThreadPool(self.reactor, pool, f, *args)

        # Streamed: each chunk goes to the temporary file as it is made, so the snapshot never
        # sits in memory whole (138 MB at a million znodes). Chunks are made here, on the reactor
        # thread, between requests (the snapshot is fuzzy and recovery replays the log), and
        # written in a worker thread, one at a time.
        writer = await in_thread(self.data_dir.new_snapshot, start_zxid)
        try:
            await in_thread(writer.write, consensus_state.snapshot_body_prefix(term))
            for chunk in pieces:
                await in_thread(writer.write, chunk)
            chunk = pieces = None
            if core.tree is not tree:
                await in_thread(writer.abort)
                return   # a snapshot from the leader replaced the tree meanwhile
            end_zxid = tree.last_zxid
            # Nothing in the snapshot may be newer than what the log holds durably: the file
            # becomes a snapshot (fsync, rename) only once the log is durable that far.
            await self._until_durable(end_zxid)

            def commit():
                path = writer.commit()
                self.data_dir.retain_snapshots(self.config.snapshot_retain_count)
                return path

            path = await in_thread(commit)
        except BaseException:
            await in_thread(writer.abort)   # idempotent: also after commit's own abort
            raise
        # Making the chunks left holes in the C heap between long-lived tables: give them back
        # (see coord.runtime.heap).
        await in_thread(heap.release_free_heap)
        self._snapshot_ends[start_zxid] = end_zxid
        log = core.raft.log
        if start_zxid > log.snapshot_index and log.term(start_zxid) == term \
                and start_zxid <= log.persisted:
            core.compact(SnapshotMeta(start_zxid, term, core.raft.log.snapshot.voters,
                                      core.raft.log.snapshot.learners))
        # Only the snapshot the log is compacted to is ever sent: forget the ends of older ones.
        oldest_needed = core.raft.log.snapshot_index
        self._snapshot_ends = {z: end for z, end in self._snapshot_ends.items() if z >= oldest_needed}
        self.log.info("snapshot {path} written (zxid 0x{zxid:x})", path=path, zxid=start_zxid)

    # -- helpers --------------------------------------------------------------------------------

    def _core_log(self, level, message):
        getattr(self.log, level if level in ("debug", "info", "warn", "error") else "info")(
            "{message}", message=message)
