"""The Twisted adapter for one coord server: sockets, disk and clock around ``ServerCore``.

Theory of operation
-------------------
``CoordNode`` owns the pieces that touch the world: the listening port, the data directory, a
worker thread for fsync, and a periodic tick. After every input it drains ``ServerCore.take_ready``
in the order the core requires:

1. append the new log records to the write-ahead log's in-memory batch;
2. write the released bytes to their sockets and close what must close;
3. if no disk write is in flight, seal the pending records into one batch and write + fsync it on
   the worker thread (group commit: everything that arrived meanwhile goes in the next batch);
   when it is durable, tell the core (``durable``), which releases the replies waiting for it.

Snapshots are fuzzy: the tree is serialized a slice at a time between reactor turns while requests
keep flowing, and the file is committed once the log is durable past everything the snapshot may
contain. Then old snapshots and the log segments no snapshot needs are removed.
"""

import os
import random
import time

from twisted.internet import defer, protocol, task, threads
from twisted.logger import Logger

from coord.runtime.process_facts import ProcessFacts
from coord.server import ServerCore
from coord.storage.datadir import DataDir
from coord.tree import txns
from coord.tree.datatree import DataTree

TICK_INTERVAL_S = 0.05   # how often session expiry and the reaper are checked
STOP_FLUSH_TIMEOUT_S = 10.0


class WallAndMonotonicClock:
    def monotonic_ms(self):
        return int(time.monotonic() * 1000)

    def wall_ms(self):
        return int(time.time() * 1000)


def recover_tree(data_dir):
    """Rebuild the tree from the newest valid snapshot plus every log record after it."""
    if data_dir.snapshot_bytes is not None:
        tree, _ = DataTree.from_snapshot(data_dir.snapshot_bytes)
        tolerant = True    # fuzzy snapshot: the first records may already be reflected in it
    else:
        tree = DataTree()
        tolerant = False
    replayed = 0
    for zxid, payload in data_dir.log_records_to_replay:
        try:
            header, txn = txns.decode(payload)
        except Exception as e:
            raise RuntimeError("log record zxid 0x%x cannot be decoded: %s" % (zxid, e)) from None
        tree.apply(header, txn, tolerant=tolerant)
        replayed += 1
    data_dir.forget_recovery_data()
    return tree, replayed


class _ClientProtocol(protocol.Protocol):
    """Moves bytes between one client socket and the core; no logic of its own."""

    def __init__(self, node, conn_id):
        self.node = node
        self.conn_id = conn_id

    def connectionMade(self):
        try:
            self.transport.setTcpNoDelay(True)
        except (AttributeError, OSError):
            pass
        peer = self.transport.getPeer()
        self.node.connection_made(self, peer.host, peer.port)

    def dataReceived(self, data):
        self.node.data_received(self.conn_id, data)

    def connectionLost(self, reason=None):
        self.node.connection_lost(self.conn_id)


class _ClientFactory(protocol.Factory):
    noisy = False   # CoordNode logs the one line that matters ("serving on ...")

    def logPrefix(self):
        return "client port"

    def __init__(self, node):
        self.node = node

    def buildProtocol(self, addr):
        return self.node.build_protocol(addr)


class CoordNode:
    log = Logger()

    def __init__(self, config, reactor):
        self.config = config
        self.reactor = reactor
        self.core = None
        self.data_dir = None
        self.port = None
        self._transports = {}
        self._next_conn_id = 0
        self._per_address = {}
        self._writing = False
        self._write_failed = None
        self._ticker = None
        self._txns_since_snapshot = 0
        self._snapshot_due = self._snapshot_threshold()
        self._snapshotting = False
        self._durable_waiters = []    # (zxid, Deferred)
        self._stopping = False

    # -- start / stop ---------------------------------------------------------------------------

    def start(self):
        """Recover the data dir, build the core and listen; returns the listening port."""
        cfg = self.config
        started = time.monotonic()
        self.data_dir = DataDir.open(cfg.data_dir, cfg.data_log_dir,
                                     warn=lambda m: self.log.warn("{m}", m=m))
        tree, replayed = recover_tree(self.data_dir)
        self.core = ServerCore(cfg, WallAndMonotonicClock(), os.urandom, tree=tree,
                               zxid_floor=self.data_dir.epoch << 32, server_id=cfg.server_id,
                               log=self._core_log,
                               process_facts=ProcessFacts(self.data_dir.snapshot_dir,
                                                          self.data_dir.log_dir))
        self.port = self.reactor.listenTCP(cfg.port, _ClientFactory(self), interface=cfg.host,
                                           backlog=128)
        self._ticker = task.LoopingCall(self._tick)
        self._ticker.clock = self.reactor
        self._ticker.start(TICK_INTERVAL_S, now=False)
        self.log.info("coord serving on {host}:{port}; data in {data} (epoch {epoch}, {nodes} znodes, "
                      "{sessions} sessions, {replayed} log records replayed) in {ms:.0f} ms",
                      host=cfg.host, port=self.port.getHost().port, data=cfg.data_dir,
                      epoch=self.data_dir.epoch, nodes=tree.node_count, sessions=len(tree.sessions),
                      replayed=replayed, ms=(time.monotonic() - started) * 1000)
        return self.port

    async def stop(self):
        """Stop listening, let the last batch reach disk, close connections and the data dir."""
        if self._stopping:
            return
        self._stopping = True
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        if self.port is not None:
            await defer.maybeDeferred(self.port.stopListening)
        # Let the batch in flight (and any pending records) reach the disk; bounded by
        # STOP_FLUSH_TIMEOUT_S so a dead disk cannot hang shutdown.
        deadline = time.monotonic() + STOP_FLUSH_TIMEOUT_S
        while self._writing or self.data_dir.wal.pending_count:
            if time.monotonic() > deadline:
                self.log.warn("stopping with a log write still unfinished; it was never acknowledged")
                break
            if not self._writing:
                self._start_write()
            await task.deferLater(self.reactor, 0.01, lambda: None)
        for transport in list(self._transports.values()):
            transport.loseConnection()
        self.data_dir.close()
        self.log.info("coord stopped")

    # -- connections ----------------------------------------------------------------------------

    def build_protocol(self, addr):
        host = getattr(addr, "host", "")
        limit = self.config.max_client_connections
        if limit and self._per_address.get(host, 0) >= limit:
            self.log.warn("too many connections from {host} (max {limit}); refusing", host=host,
                          limit=limit)
            return None
        self._next_conn_id += 1
        return _ClientProtocol(self, self._next_conn_id)

    def connection_made(self, proto, host, port):
        self._transports[proto.conn_id] = proto.transport
        self._per_address[host] = self._per_address.get(host, 0) + 1
        self.core.connection_made(proto.conn_id, host, port)

    def data_received(self, conn_id, data):
        self.core.data_received(conn_id, data)
        self._drain()

    def connection_lost(self, conn_id):
        transport = self._transports.pop(conn_id, None)
        if transport is not None:
            host = transport.getPeer().host
            left = self._per_address.get(host, 1) - 1
            if left:
                self._per_address[host] = left
            else:
                self._per_address.pop(host, None)
        self.core.connection_lost(conn_id)
        self._drain()

    # -- the Ready loop -------------------------------------------------------------------------

    def _drain(self):
        ready = self.core.take_ready()
        if not ready:
            return
        if ready.log:
            wal = self.data_dir.wal
            for zxid, payload in ready.log:
                wal.append(zxid, payload)
            self._txns_since_snapshot += len(ready.log)
        transports = self._transports
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
            for conn_id, chunks in pending.items():
                transport = transports.get(conn_id)
                if transport is not None:
                    if len(chunks) == 1:
                        transport.write(chunks[0])
                    else:
                        transport.writeSequence(chunks)
        for conn_id in ready.closes:
            transport = transports.get(conn_id)
            if transport is not None:
                transport.loseConnection()
        if ready.log and not self._writing:
            self._start_write()
        if self._txns_since_snapshot >= self._snapshot_due and not self._snapshotting:
            self._start_snapshot()

    def _start_write(self):
        batch = self.data_dir.wal.seal()
        if batch is None:
            return
        self._writing = True
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                      self.data_dir.wal.write, batch)
        d.addCallbacks(self._write_done, self._write_failed_cb, callbackArgs=(batch,))

    def _write_done(self, _result, batch):
        self._writing = False
        self.core.durable(batch.last_zxid)
        waiters, self._durable_waiters = self._durable_waiters, []
        for zxid, d in waiters:
            if zxid <= batch.last_zxid:
                d.callback(None)
            else:
                self._durable_waiters.append((zxid, d))
        self._drain()
        if not self._writing and self.data_dir.wal.pending_count:
            self._start_write()

    def _write_failed_cb(self, failure):
        # A failed fsync leaves the log's state unknown: acknowledging anything more could lose
        # acknowledged data, so stop serving (ZooKeeper exits as well).
        self._writing = False
        self.log.failure("write-ahead log write failed; stopping the server", failure)
        self.reactor.callLater(0, self.reactor.stop)

    def _until_durable(self, zxid):
        if self.data_dir.wal.durable_zxid >= zxid:
            return defer.succeed(None)
        d = defer.Deferred()
        self._durable_waiters.append((zxid, d))
        if not self._writing:
            self._start_write()
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
        tree = self.core.tree
        start_zxid, pieces = tree.snapshot()
        chunks = []
        for chunk in pieces:
            chunks.append(chunk)
            # Let requests in between slices: the snapshot is fuzzy and recovery replays the log.
            await task.deferLater(self.reactor, 0, lambda: None)
        end_zxid = tree.last_zxid
        # Nothing in the snapshot may be newer than what the log holds durably.
        await self._until_durable(end_zxid)
        writer = self.data_dir.new_snapshot(start_zxid)

        def write_and_commit():
            try:
                for chunk in chunks:
                    writer.write(chunk)
                path = writer.commit()
            except BaseException:
                writer.abort()
                raise
            self.data_dir.retain_snapshots(self.config.snapshot_retain_count)
            return path

        path = await threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                               write_and_commit)
        self.log.info("snapshot {path} written (zxid 0x{zxid:x})", path=path, zxid=start_zxid)

    # -- helpers --------------------------------------------------------------------------------

    def _core_log(self, level, message):
        getattr(self.log, level if level in ("debug", "info", "warn", "error") else "info")(
            "{message}", message=message)
