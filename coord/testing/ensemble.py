"""Whole members (``ServerCore``: consensus + tree + sessions) in one thread, without sockets.

Theory of operation
-------------------
``InMemoryEnsemble`` drives N real ``ServerCore``s the way the Twisted adapter does, with everything that
touches the world replaced by something a test controls:

- the disk of each member is a list of durable consensus Readys; writes stay pending until the
  test calls ``sync`` (or at once, with ``auto_sync``), so the output gate can be observed;
- peer frames go through the real peer codec (``coord.peer_wire``) into per-member inboxes, and
  are delivered by ``deliver`` (or at once, with ``auto_deliver``); ``cut(a, b)`` drops traffic;
- clients are the shared sans-I/O ``ClientConnection``; their events are recorded;
- the clock is a number the test advances; ``tick`` advances it by one heartbeat on every member.

A member can be crashed (losing everything not yet synced) and restarted from its durable state.
"""

import random

from coord import peer_wire as W
from coord.config import Config
from coord.consensus.messages import HardState, MsgType, Ready, SnapshotMeta
from coord.consensus.raft import RaftConfig
from coord.protocol.client_conn import ClientConnection, ReplyReceived
from coord.runtime.process_facts import ProcessFacts
from coord.server import ServerCore
from coord.tree.datatree import DataTree


class Clock:
    def __init__(self):
        self.now_ms = 1_000_000

    def monotonic_ms(self):
        return self.now_ms

    def wall_ms(self):
        return 1_700_000_000_000 + self.now_ms


class SimClient:
    def __init__(self, ensemble, member_id, conn_id, codec):
        self.ensemble = ensemble
        self.member_id = member_id
        self.conn_id = conn_id
        self.codec = codec
        self.events = []
        self.closed = False

    @property
    def core(self):
        return self.ensemble.members[self.member_id].core

    def send(self, opcode, record=None):
        xid, data = self.codec.send(opcode, record)
        self.core.data_received(self.conn_id, data)
        self.ensemble.pump()
        return xid

    def send_raw(self, opcode):
        xid, data = self.codec.send_raw(opcode)
        self.core.data_received(self.conn_id, data)
        self.ensemble.pump()
        return xid

    def replies(self):
        return [e for e in self.events if isinstance(e, ReplyReceived)]


class Member:
    def __init__(self, ensemble, member_id):
        self.ensemble = ensemble
        self.id = member_id
        self.durable = []          # consensus Readys, persisted in order
        self.pending = []          # written, not yet synced
        self.up = False
        self.core = None
        self.incarnation = 0
        self.snapshot_at = {}      # index -> (SnapshotMeta, data) this member can send

    def start(self):
        e = self.ensemble
        self.incarnation += 1
        snapshot = None
        entries = {}
        hard = HardState()
        for rd in self.durable:
            if rd.snapshot is not None:
                snapshot = rd.snapshot
                entries = {i: e for i, e in entries.items() if i > rd.snapshot[0].index}
            for entry in rd.entries:
                for index in [i for i in entries if i >= entry.index]:
                    del entries[index]
                entries[entry.index] = entry
            if rd.hard_state is not None:
                hard = rd.hard_state
        tree = DataTree()
        meta = None
        if snapshot is not None:
            meta, data = snapshot
            tree, _ = DataTree.from_snapshot(data[8:])
            tree.last_zxid = meta.index
        log_entries = [entries[i] for i in sorted(entries) if meta is None or i > meta.index]
        rng = random.Random(e.seed * 1000 + self.id * 10 + self.incarnation)
        self.core = ServerCore(
            e.config, e.clock, lambda n: bytes(rng.randrange(256) for _ in range(n)), tree=tree,
            server_id=self.id if e.size > 1 else 0, incarnation=self.incarnation,
            voters=e.voters, learners=e.learners, raft_config=e.raft_config, raft_rng=rng,
            hard_state=HardState(hard.term, hard.vote, 0),
            snapshot_meta=meta, log_entries=log_entries,
            tolerant_until=log_entries[-1].index if log_entries else 0,
            process_facts=ProcessFacts())
        self.up = True

    def crash(self):
        self.pending = []
        self.up = False
        self.core = None
        for client in self.ensemble.clients.values():
            if client.member_id == self.id:
                client.closed = True


class InMemoryEnsemble:
    def __init__(self, size=1, learners=0, seed=1, auto_sync=True, auto_deliver=True,
                 raft_config=None, **config):
        self.seed = seed
        self.size = size + learners
        ids = list(range(1, self.size + 1)) if self.size > 1 else [1]
        self.voters = tuple(ids[:size])
        self.learners = tuple(ids[size:])
        config.setdefault("reaper_interval_ms", 1000)
        self.config = Config(**config).finish()
        self.raft_config = raft_config or RaftConfig(election_ticks=10, heartbeat_ticks=1)
        self.clock = Clock()
        self.auto_sync = auto_sync
        self.auto_deliver = auto_deliver
        self.members = {i: Member(self, i) for i in ids}
        self.inbox = []            # (src, dst, bytes)
        self.cut_pairs = set()
        self.clients = {}
        self.next_conn_id = 0
        for member in self.members.values():
            member.start()
        self.pump()

    # -- the driver -----------------------------------------------------------------------------

    def pump(self, rounds=200):
        for _ in range(rounds):
            progress = False
            for member in self.members.values():
                if member.up and self._drain(member):
                    progress = True
            if self.auto_deliver and self.inbox:
                self.deliver()
                progress = True
            if not progress:
                return
        raise AssertionError("the ensemble never went quiet")

    def _drain(self, member):
        did = False
        while True:
            ready = member.core.take_ready()
            if not ready:
                return did
            did = True
            for conn_id, data in ready.sends:
                client = self.clients.get(conn_id)
                if client is not None and not client.closed:
                    client.events.extend(client.codec.receive_data(data))
            for conn_id in ready.closes:
                client = self.clients.get(conn_id)
                if client is not None:
                    client.closed = True
                member.core.connection_lost(conn_id)
            for dst, frame in ready.peer:
                self._send(member.id, dst, frame)
            for rd in ready.raft:
                if rd.snapshot is not None:
                    member.snapshot_at[rd.snapshot[0].index] = rd.snapshot
                for m in rd.early_messages:
                    self._send_message(member, m)
                member.pending.append(rd)
            if self.auto_sync:
                self.sync(member.id)

    def _send_message(self, member, m):
        if m.type == MsgType.SNAPSHOT and m.snapshot_data is None:
            _meta, m.snapshot_data = member.snapshot_at[m.snapshot.index]
        self._send(member.id, m.dst, m)

    def _send(self, src, dst, frame):
        self.inbox.append((src, dst, W.encode(frame)))

    def deliver(self):
        inbox, self.inbox = self.inbox, []
        for src, dst, data in inbox:
            member = self.members[dst]
            if (src, dst) in self.cut_pairs or not member.up or not self.members[src].up:
                continue
            member.core.peer_frame(src, W.decode(data))

    def sync(self, member_id=None):
        """Make every pending write durable (and what that causes, until nothing is pending)."""
        ids = [member_id] if member_id is not None else list(self.members)
        for _ in range(100):
            if not any(self.members[i].up and self.members[i].pending for i in ids):
                return
            for i in ids:
                member = self.members[i]
                if not member.up:
                    continue
                pending, member.pending = member.pending, []
                for rd in pending:
                    member.durable.append(rd)
                    member.core.persisted(rd)
                    for m in rd.messages:
                        self._send_message(member, m)
            if not self.auto_sync:
                self.pump()
            elif member_id is None:
                self.pump()
        raise AssertionError("writes kept coming")

    def take_snapshot(self, member_id):
        """Snapshot a member's tree at its applied index and compact its log behind it."""
        member = self.members[member_id]
        core = member.core
        index, pieces = core.tree.snapshot()
        data = index.to_bytes(8, "big") + b"".join(pieces)
        meta = SnapshotMeta(index, core.raft.log.term(index), self.voters, self.learners)
        member.snapshot_at[index] = (meta, data)
        member.durable.append(Ready(snapshot=(meta, data)))
        core.compact(meta)
        return meta

    # -- clients and time -----------------------------------------------------------------------

    def connect(self, member_id=1, timeout_ms=10000, session_id=0, passwd=b"\0" * 16, last_zxid=0,
                read_only=False):
        self.next_conn_id += 1
        codec = ClientConnection()
        client = SimClient(self, member_id, self.next_conn_id, codec)
        self.clients[self.next_conn_id] = client
        core = self.members[member_id].core
        core.connection_made(self.next_conn_id, "127.0.0.1", 40000 + self.next_conn_id)
        core.data_received(self.next_conn_id, codec.connect(last_zxid, timeout_ms, session_id,
                                                            passwd, read_only))
        self.pump()
        return client

    def tick(self, advance_ms=None, times=1):
        for _ in range(times):
            self.clock.now_ms += advance_ms if advance_ms is not None else self.config.heartbeat_ms
            for member in self.members.values():
                if member.up:
                    member.core.tick()
            self.pump()

    def leader(self):
        leaders = [m for m in self.members.values() if m.up and m.core.mode in ("leader", "standalone")]
        return leaders[0] if len(leaders) == 1 else None

    def elect(self, max_ticks=200):
        for _ in range(max_ticks):
            leader = self.leader()
            if leader is not None and leader.core.leader is not None:
                return leader
            self.tick()
            if not self.auto_deliver:
                self.deliver()
                self.pump()
        raise AssertionError("no leader elected")

    def cut(self, a, b):
        self.cut_pairs |= {(a, b), (b, a)}

    def isolate(self, member_id):
        for other in self.members:
            if other != member_id:
                self.cut(member_id, other)

    def heal(self):
        self.cut_pairs = set()
