"""Deterministic simulation of an ensemble: real consensus cores over a seeded network and disks.

Theory of operation
-------------------
Everything runs in one thread on simulated time (integer milliseconds) from one seed: the same
seed replays a run exactly, so every failure names the seed that reproduces it.

- ``SimNetwork`` delivers each message after a random delay (so messages reorder), may lose or
  duplicate it, and drops whatever a partition cuts. Partitions come in every shape the schedule
  picks: one member isolated, a majority/minority split, a bridge (one member sees both halves),
  a ring (each member sees only its neighbours), or one-way cuts.
- ``SimDisk`` holds what a member has made durable. A Ready's writes become durable only when its
  simulated fsync completes (in order, after a random delay); a crash loses every write not yet
  durable, or (torn) keeps a prefix of them, as a real disk may.
- A ``SimMember`` is the driver: it does exactly what ``Ready`` asks, in Ready's order (persist,
  then send; early messages at once; apply committed entries), takes snapshots now and then and
  compacts its log behind them, and can be crashed, restarted or paused.
- The application is pluggable (``app_factory``): anything with ``apply(entry)``,
  ``snapshot() -> bytes``, ``restore(bytes)`` and ``digest()``. ``DigestApp`` is a hash chain over
  the applied entries, so equal digests at equal indexes mean equal histories.
- ``Invariants`` watches from outside after every event: at most one leader per term; log
  matching (an (index, term) always names the same entry with the same predecessor term); nothing
  committed is ever changed; each member applies consecutive entries equal to what was committed;
  members at the same applied index have the same digest; every new leader holds every committed
  entry; and every read-index answer is at least the commit index the read could have observed.
- ``run_swarm(seed)`` picks a fault mix from the seed, runs a fault phase with client proposals
  and reads, then heals everything and requires progress (liveness): a leader, and a fresh proposal
  applied on every member.
"""

import dataclasses
import hashlib
import heapq
import random

from coord.consensus.messages import NOOP, HardState, MsgType, SnapshotMeta
from coord.consensus.raft import LEADER, NotLeader, RaftConfig, RaftNode


class InvariantViolation(AssertionError):
    pass


# -- the application ---------------------------------------------------------------------------


class DigestApp:
    """A hash chain over applied entries: the smallest state machine that detects divergence."""

    def __init__(self):
        self.index = 0
        self.digest_value = b"\0" * 16
        self.applied_data = 0

    def apply(self, entry):
        if entry.index != self.index + 1:
            raise InvariantViolation("applied %d after %d" % (entry.index, self.index))
        h = hashlib.blake2b(digest_size=16)
        h.update(self.digest_value)
        h.update(entry.index.to_bytes(8, "big"))
        h.update(bytes([entry.kind]))
        h.update(entry.data)
        self.digest_value = h.digest()
        self.index = entry.index
        if entry.kind != NOOP:
            self.applied_data += 1

    def skip_to(self, index):
        """Recovery starting at a snapshot index of an empty log (nothing before it)."""
        self.index = index

    def snapshot(self):
        return self.index.to_bytes(8, "big") + self.digest_value

    def restore(self, data):
        self.index = int.from_bytes(data[:8], "big")
        self.digest_value = data[8:]

    def digest(self):
        return self.digest_value


# -- the world --------------------------------------------------------------------------------


@dataclasses.dataclass
class FaultOptions:
    min_delay_ms: int = 1
    max_delay_ms: int = 10
    loss: float = 0.0
    duplicate: float = 0.0
    partition_rate: float = 0.0     # chance per 100 ms of a new partition (or a heal)
    crash_rate: float = 0.0         # chance per 100 ms of crashing a member
    restart_after_ms: tuple = (50, 800)
    pause_rate: float = 0.0         # chance per 100 ms of pausing a member
    pause_ms: tuple = (50, 600)
    torn_writes: bool = True
    fsync_ms: tuple = (1, 8)
    snapshot_every: int = 0         # entries between a member's snapshots (0: never)
    proposal_rate: float = 0.3      # chance per 10 ms of a client proposal
    read_rate: float = 0.1          # chance per 10 ms of a read-index request

    @classmethod
    def swarm(cls, rng):
        """A random fault mix, as TigerBeetle's VOPR and FoundationDB pick one per seed."""
        return cls(
            min_delay_ms=1,
            max_delay_ms=rng.choice([2, 10, 30, 60]),
            loss=rng.choice([0.0, 0.0, 0.02, 0.1, 0.3]),
            duplicate=rng.choice([0.0, 0.02, 0.1]),
            partition_rate=rng.choice([0.0, 0.05, 0.15, 0.3]),
            crash_rate=rng.choice([0.0, 0.02, 0.05, 0.1]),
            pause_rate=rng.choice([0.0, 0.0, 0.03, 0.08]),
            torn_writes=rng.random() < 0.7,
            fsync_ms=rng.choice([(1, 3), (1, 10), (5, 40)]),
            snapshot_every=rng.choice([0, 5, 20, 80]),
            proposal_rate=rng.choice([0.1, 0.3, 0.8]),
            read_rate=rng.choice([0.0, 0.1, 0.3]),
        )


class SimDisk:
    """Durable state of one member, and the batches written but not yet fsynced."""

    def __init__(self):
        self.hard_state = HardState()
        self.snapshot = None          # (SnapshotMeta, data)
        self.entries = []             # after the snapshot, consecutive
        self.in_flight = []           # Readys written, fsync pending (oldest first)

    def first_index(self):
        return (self.snapshot[0].index if self.snapshot else 0) + 1

    def _apply_write(self, ready, entries):
        if ready.snapshot is not None:
            self.snapshot = ready.snapshot
            self.entries = []
        if entries:
            first = entries[0].index
            base = self.first_index()
            if first < base:
                entries = [e for e in entries if e.index >= base]
                first = entries[0].index if entries else None
            if first is not None:
                keep = first - base
                if keep > len(self.entries):
                    raise InvariantViolation("disk write leaves a gap at %d" % first)
                del self.entries[keep:]
                self.entries.extend(entries)
        if ready.hard_state is not None:
            self.hard_state = ready.hard_state

    def sync(self, count):
        """The fsync that covered the oldest ``count`` writes completed (group commit)."""
        done, self.in_flight = self.in_flight[:count], self.in_flight[count:]
        for ready in done:
            self._apply_write(ready, ready.entries)
        return done

    def crash(self, rng, torn):
        """Lose what was not fsynced; with ``torn``, a prefix of it may have reached the disk."""
        if torn and self.in_flight and rng.random() < 0.5:
            survivors = rng.randrange(len(self.in_flight) + 1)
            for ready in self.in_flight[:survivors]:
                self._apply_write(ready, ready.entries)
            if survivors < len(self.in_flight):
                partial = self.in_flight[survivors]
                cut = rng.randrange(len(partial.entries) + 1)
                if partial.snapshot is None and cut:
                    # Entries reach the disk before the hard state does (separate file).
                    self._apply_write(dataclasses.replace(partial, hard_state=None),
                                      partial.entries[:cut])
        self.in_flight = []


class SimMember:
    def __init__(self, sim, node_id, voters, learners, cfg, app_factory):
        self.sim = sim
        self.id = node_id
        self.voters = voters
        self.learners = learners
        self.cfg = cfg
        self.app_factory = app_factory
        self.disk = SimDisk()
        self.up = False
        self.paused_until = 0
        self.raft = None
        self.app = None
        self.since_snapshot = 0
        self.syncing = 0
        self.incarnation = 0
        self.read_contexts = {}   # context -> commit floor at invocation

    def start(self):
        self.incarnation += 1
        disk = self.disk
        snapshot_meta = disk.snapshot[0] if disk.snapshot else None
        rng = random.Random(self.sim.seed * 7919 + self.id * 131 + self.incarnation)
        self.raft = RaftNode(self.id, self.voters, self.learners, config=self.cfg, rng=rng,
                             hard_state=disk.hard_state, snapshot=snapshot_meta,
                             entries=list(disk.entries))
        self.app = self.sim.app_factory()
        if disk.snapshot is not None:
            self.app.restore(disk.snapshot[1])
            self.sim.inv.check_restored(self, disk.snapshot[0].index)
        self.up = True
        self.syncing = 0
        self.since_snapshot = 0
        self.read_contexts = {}

    def crash(self):
        self.disk.crash(self.sim.rng, self.sim.opts.torn_writes)
        self.up = False
        self.raft = None
        self.app = None

    @property
    def running(self):
        return self.up and self.sim.now >= self.paused_until

    def process(self):
        """Drain Readys until there is nothing left to do."""
        sim = self.sim
        for _ in range(1000):
            if not self.running:
                return
            has_ready = self.raft.has_ready()
            rd = self.raft.take_ready()
            if rd and not has_ready:
                raise AssertionError("has_ready() said no, but take_ready() handed out %r" % (rd,))
            if not rd:
                return
            if rd.soft_state is not None:
                sim.inv.soft_state(self, rd.soft_state)
            sim.inv.entries_written(self, rd.entries)
            for m in rd.early_messages:
                sim.send(self, m)
            if rd.must_persist() or self.disk.in_flight:
                # Even a Ready with nothing to write waits for the writes before it: its
                # messages may acknowledge entries those writes carry.
                self.disk.in_flight.append(rd)
                if not self.syncing:
                    self._start_fsync()
            else:
                self._after_persist(rd)
            if rd.snapshot is not None:
                meta, data = rd.snapshot
                self.app.restore(data)
                sim.inv.check_restored(self, meta.index)
            for e in rd.committed:
                self.app.apply(e)
                sim.inv.applied(self, e)
                self.since_snapshot += 1
            for rs in rd.read_states:
                sim.inv.read_answered(self, rs)
            self._maybe_snapshot()
        raise InvariantViolation("member %d: Readys never ran out" % self.id)

    def _after_persist(self, rd):
        self.raft.persisted(rd)
        for m in rd.messages:
            self.sim.send(self, m)

    def _start_fsync(self):
        # One fsync covers every write issued before it starts (group commit).
        self.syncing = len(self.disk.in_flight)
        self.sim.schedule(self.sim.rng.randint(*self.sim.opts.fsync_ms), "fsync", self.id,
                          self.incarnation)

    def fsync_done(self):
        count, self.syncing = self.syncing, 0
        for rd in self.disk.sync(count):
            self._after_persist(rd)
        if self.disk.in_flight:
            self._start_fsync()
        self.process()

    def _maybe_snapshot(self):
        every = self.sim.opts.snapshot_every
        if not every or self.since_snapshot < every or self.disk.in_flight:
            return
        log = self.raft.log
        index = self.app.index
        if index <= log.snapshot_index or index > log.persisted:
            return
        meta = SnapshotMeta(index, log.term(index), tuple(sorted(self.voters)),
                            tuple(sorted(self.learners)))
        # Snapshots are written atomically (temporary file + rename) in the real driver.
        disk = self.disk
        first = disk.first_index()
        disk.snapshot = (meta, self.app.snapshot())
        del disk.entries[:index - first + 1]
        self.raft.compact(meta)
        self.since_snapshot = 0
        if disk.entries and disk.entries[0].index != meta.index + 1:
            raise InvariantViolation("disk compaction left a gap")


class Simulation:
    TICK_MS = 10

    def __init__(self, seed, voters=3, learners=0, opts=None, raft_config=None,
                 app_factory=DigestApp, trace=False):
        self.seed = seed
        self.rng = random.Random(seed)
        self.opts = opts if opts is not None else FaultOptions.swarm(self.rng)
        self.cfg = raft_config or RaftConfig(election_ticks=10, heartbeat_ticks=1)
        self.app_factory = app_factory
        self.now = 0
        self._events = []
        self._seq = 0
        ids = list(range(1, voters + learners + 1))
        self.voter_ids = frozenset(ids[:voters])
        self.learner_ids = frozenset(ids[voters:])
        self.members = {i: SimMember(self, i, self.voter_ids, self.learner_ids, self.cfg,
                                     app_factory) for i in ids}
        self.cut = set()          # (src, dst) pairs that cannot talk
        self.inv = Invariants(self)
        self.trace_lines = [] if trace else None
        self.proposals = 0
        for m in self.members.values():
            m.start()
        for i in ids:
            # Members tick at the same rate, out of phase.
            self.schedule(self.rng.randrange(self.TICK_MS), "tick", i)

    # -- events ---------------------------------------------------------------------------------

    def schedule(self, delay_ms, kind, *args):
        self._seq += 1
        heapq.heappush(self._events, (self.now + delay_ms, self._seq, kind, args))

    def send(self, src_member, m):
        opts = self.opts
        if (m.src, m.dst) in self.cut:
            return
        if self.rng.random() < opts.loss:
            return
        copies = 2 if self.rng.random() < opts.duplicate else 1
        if m.type == MsgType.SNAPSHOT and m.snapshot_data is None:
            snap = src_member.disk.snapshot
            if snap is None or snap[0].index != m.snapshot.index:
                raise InvariantViolation("member %d sends a snapshot it does not have" % m.src)
            m.snapshot_data = snap[1]
        for _ in range(copies):
            self.schedule(self.rng.randint(opts.min_delay_ms, opts.max_delay_ms), "deliver", m)

    def run_until(self, end_ms):
        while self._events and self._events[0][0] <= end_ms:
            t, _, kind, args = heapq.heappop(self._events)
            self.now = t
            getattr(self, "_on_" + kind)(*args)
        self.now = end_ms

    def _on_tick(self, node_id):
        member = self.members[node_id]
        self.schedule(self.TICK_MS, "tick", node_id)
        if member.running:
            member.raft.tick()
            member.process()

    def _on_deliver(self, m):
        member = self.members[m.dst]
        if not member.up:
            return
        if not member.running:
            # A paused process reads its socket when it wakes.
            self.schedule(member.paused_until - self.now, "deliver", m)
            return
        if (m.src, m.dst) in self.cut:
            return
        if self.trace_lines is not None:
            self.trace_lines.append("%6d %d->%d %s t%d i%d n%d c%d%s" % (
                self.now, m.src, m.dst, m.type.name, m.term, m.index, len(m.entries), m.commit,
                " reject" if m.reject else ""))
        member.raft.step(m)
        member.process()

    def _on_fsync(self, node_id, incarnation):
        member = self.members[node_id]
        if not member.up or incarnation != member.incarnation or not member.disk.in_flight:
            return
        if not member.running:
            self.schedule(member.paused_until - self.now, "fsync", node_id, incarnation)
            return
        member.fsync_done()

    def _on_restart(self, node_id):
        member = self.members[node_id]
        if not member.up:
            member.start()
            member.process()

    def _on_process(self, node_id):
        member = self.members[node_id]
        if member.running:
            member.process()

    # -- faults and clients ---------------------------------------------------------------------

    def partition(self, groups):
        """Only members in the same group can talk (a member in several groups bridges them)."""
        self.cut = set()
        ids = list(self.members)
        for a in ids:
            for b in ids:
                if a != b and not any(a in g and b in g for g in groups):
                    self.cut.add((a, b))

    def heal(self):
        self.cut = set()

    def random_partition(self):
        rng = self.rng
        ids = sorted(self.members)
        rng.shuffle(ids)
        shape = rng.choice(["isolate", "split", "bridge", "ring", "oneway", "heal"])
        if shape == "isolate":
            self.partition([{ids[0]}, set(ids[1:])])
        elif shape == "split":
            k = len(ids) // 2
            self.partition([set(ids[:k]), set(ids[k:])])
        elif shape == "bridge" and len(ids) >= 3:
            k = len(ids) // 2
            self.partition([set(ids[:k + 1]), set(ids[k:])])
        elif shape == "ring" and len(ids) >= 3:
            n = len(ids)
            self.partition([{ids[i], ids[(i + 1) % n]} for i in range(n)])
        elif shape == "oneway":
            self.cut = {(ids[0], b) for b in ids[1:]}
        else:
            self.heal()
        return shape

    def leaders(self):
        return [m for m in self.members.values() if m.up and m.raft.role == LEADER]

    def propose(self, member=None):
        if member is None:
            candidates = [m for m in self.leaders() if m.running]
            if not candidates:
                return None
            member = self.rng.choice(candidates)
        self.proposals += 1
        data = b"s%d-%d" % (self.seed, self.proposals)
        try:
            index = member.raft.propose(data)
        except NotLeader:
            return None
        member.process()
        return index

    def read(self, member):
        context = b"r%d-%d-%d" % (self.seed, member.id, self.rng.randrange(1 << 30))
        if member.raft.read_index(context):
            member.read_contexts[context] = self.inv.commit_floor
            member.process()

    def run_swarm(self, fault_ms=3000, heal_ms=4000):
        rng = self.rng
        opts = self.opts
        end = fault_ms
        step = 10
        while self.now < end:
            t = self.now + step
            self.run_until(t)
            ids = sorted(self.members)
            if rng.random() < opts.proposal_rate:
                self.propose()
            if rng.random() < opts.read_rate:
                target = self.members[rng.choice(ids)]
                if target.running:
                    self.read(target)
            if t % 100 == 0:
                if rng.random() < opts.partition_rate:
                    self.random_partition()
                if rng.random() < opts.crash_rate:
                    victim = self.members[rng.choice(ids)]
                    if victim.up:
                        victim.crash()
                        self.schedule(rng.randint(*opts.restart_after_ms), "restart", victim.id)
                if rng.random() < opts.pause_rate:
                    victim = self.members[rng.choice(ids)]
                    if victim.running:
                        victim.paused_until = self.now + rng.randint(*opts.pause_ms)
                        self.schedule(victim.paused_until - self.now, "process", victim.id)
        self.check_liveness(heal_ms)

    def check_liveness(self, heal_ms):
        """Heal everything and require a leader and a fresh proposal applied everywhere."""
        self.heal()
        self.opts.loss = 0.0
        self.opts.partition_rate = 0.0
        self.opts.crash_rate = 0.0
        for m in self.members.values():
            m.paused_until = min(m.paused_until, self.now)
            if not m.up:
                m.start()
                m.process()
        deadline = self.now + heal_ms
        proposed = []     # (index, data) of proposals made since healing
        while self.now < deadline:
            self.run_until(self.now + 20)
            for index, data in proposed:
                committed = self.inv.committed.get(index)
                if (committed is not None and committed[2] == data
                        and all(m.app.index >= index for m in self.members.values())):
                    return
            if self.now % 200 == 0:
                # A proposal to a leader that is about to be deposed may never commit: retry.
                index = self.propose()
                if index is not None:
                    proposed.append((index, b"s%d-%d" % (self.seed, self.proposals)))
        target = proposed[-1][0] if proposed else None
        raise InvariantViolation(
            "seed %d: no progress %d ms after healing: leaders %s, target %s, applied %s" % (
                self.seed, heal_ms, [(m.id, m.raft.term) for m in self.leaders()], target,
                {m.id: (m.app.index, m.raft.role, m.raft.term) for m in self.members.values()}))


class Invariants:
    """Safety checks, made as events happen, from outside the members."""

    def __init__(self, sim):
        self.sim = sim
        self.leader_of_term = {}
        self.entry_at = {}          # (index, term) -> (data, kind, previous term)
        self.committed = {}         # index -> (term, kind, data)
        self.commit_term = {}       # index -> lowest term in which a member applied it
        self.digest_at = {}         # index -> digest after applying it
        self.commit_floor = 0       # highest index some member has applied

    def fail(self, message):
        raise InvariantViolation("seed %d at %d ms: %s" % (self.sim.seed, self.sim.now, message))

    def soft_state(self, member, soft):
        if soft.role == LEADER:
            other = self.leader_of_term.setdefault(soft.term, member.id)
            if other != member.id:
                self.fail("two leaders in term %d: %d and %d" % (soft.term, other, member.id))
            # Leader completeness: an entry committed in term T is in every leader's log for
            # every term after T (a stale leader of an older term may lack it, harmlessly).
            log = member.raft.log
            for index, (term, kind, data) in self.committed.items():
                if index <= log.snapshot_index or self.commit_term[index] >= soft.term:
                    continue
                if log.term(index) != term or log.entry(index).data != data:
                    self.fail("leader %d of term %d lacks committed entry %d"
                              % (member.id, soft.term, index))

    def entries_written(self, member, entries):
        log = member.raft.log
        for e in entries:
            prev_term = log.term(e.index - 1)
            key = (e.index, e.term)
            seen = self.entry_at.get(key)
            if seen is None:
                self.entry_at[key] = [e.data, e.kind, prev_term]
                continue
            if seen[0] != e.data or seen[1] != e.kind:
                self.fail("log matching: entry (%d, term %d) differs between members"
                          % (e.index, e.term))
            if prev_term is not None:
                if seen[2] is None:
                    seen[2] = prev_term
                elif seen[2] != prev_term:
                    self.fail("log matching: entry (%d, term %d) follows different terms"
                              % (e.index, e.term))

    def applied(self, member, e):
        seen = self.committed.setdefault(e.index, (e.term, e.kind, e.data))
        if seen != (e.term, e.kind, e.data):
            self.fail("member %d applied %r at %d; %r was committed there"
                      % (member.id, e.data, e.index, seen[2]))
        term = member.raft.term
        if term < self.commit_term.get(e.index, term + 1):
            self.commit_term[e.index] = term
        digest = member.app.digest()
        known = self.digest_at.setdefault(e.index, digest)
        if known != digest:
            self.fail("member %d diverged at %d" % (member.id, e.index))
        if e.index > self.commit_floor:
            self.commit_floor = e.index

    def check_restored(self, member, index):
        known = self.digest_at.get(index)
        if known is not None and known != member.app.digest():
            self.fail("member %d restored a snapshot at %d unlike the applied state"
                      % (member.id, index))

    def read_answered(self, member, read_state):
        floor = member.read_contexts.pop(read_state.context, None)
        if floor is None:
            return   # a duplicate answer (the network duplicated it)
        if read_state.index < floor:
            self.fail("read-index at member %d answered %d; %d was already committed"
                      % (member.id, read_state.index, floor))
