"""A hand-driven network of RaftNodes for scripted scenarios (cf. etcd's raft_test.go network).

Disks are instantaneous here: each Ready is persisted as soon as it is taken. Messages queue until
``deliver``/``stabilize`` passes them on, so a test decides exactly what arrives, in what order,
and what a partition (``cut``/``isolate``) drops.
"""

import random

from coord.consensus.messages import MsgType
from coord.consensus.raft import RaftConfig, RaftNode


class Net:
    def __init__(self, n=3, learners=0, config=None, seed=1):
        ids = list(range(1, n + learners + 1))
        self.voters = ids[:n]
        self.learners = ids[n:]
        self.config = config or RaftConfig(election_ticks=10, heartbeat_ticks=1)
        self.nodes = {i: RaftNode(i, self.voters, self.learners, config=self.config,
                                  rng=random.Random(seed * 100 + i)) for i in ids}
        self.queue = []
        self.cut_pairs = set()
        self.applied = {i: [] for i in ids}
        self.read_states = {i: [] for i in ids}
        self.down = set()
        self.snapshot_data = {}       # member -> bytes its driver attaches to SNAPSHOT messages
        self.installed = {i: [] for i in ids}

    def pump(self, node_id):
        """Take every Ready of one node: persist, queue its messages, apply."""
        node = self.nodes[node_id]
        for _ in range(100):
            rd = node.take_ready()
            if not rd:
                return
            self.queue.extend(rd.early_messages)
            node.persisted(rd)
            self.queue.extend(rd.messages)
            if rd.snapshot is not None:
                self.installed[node_id].append(rd.snapshot)
            self.applied[node_id].extend(rd.committed)
            self.read_states[node_id].extend(rd.read_states)
        raise AssertionError("Readys never ran out")

    def pump_all(self):
        for i in self.nodes:
            if i not in self.down:
                self.pump(i)

    def deliver(self, predicate=lambda m: True):
        """Deliver the queued messages matching ``predicate`` (once); returns how many."""
        self.pump_all()
        batch = [m for m in self.queue if predicate(m)]
        self.queue = [m for m in self.queue if not predicate(m)]
        for m in batch:
            if (m.src, m.dst) in self.cut_pairs or m.dst in self.down or m.src in self.down:
                continue
            if m.type == MsgType.SNAPSHOT and m.snapshot_data is None:
                m.snapshot_data = self.snapshot_data[m.src]
            self.nodes[m.dst].step(m)
            self.pump(m.dst)
        return len(batch)

    def stabilize(self, rounds=200):
        for _ in range(rounds):
            if not self.deliver():
                return
        raise AssertionError("no quiescence")

    def drop(self, predicate):
        self.pump_all()
        self.queue = [m for m in self.queue if not predicate(m)]

    def tick(self, node_id, times=1):
        for _ in range(times):
            self.nodes[node_id].tick()
        self.pump(node_id)

    def campaign(self, node_id):
        """Tick ``node_id`` until it starts an election (others are not ticked)."""
        node = self.nodes[node_id]
        for _ in range(10 * node.cfg.election_ticks):
            before = node.elections_started
            node.tick()
            if node.elections_started != before:
                self.pump(node_id)
                return
        raise AssertionError("never campaigned")

    def elect(self, node_id):
        self.campaign(node_id)
        self.stabilize()
        assert self.nodes[node_id].role == "leader", self.nodes[node_id].role
        return self.nodes[node_id]

    def isolate(self, node_id):
        for other in self.nodes:
            if other != node_id:
                self.cut_pairs.add((node_id, other))
                self.cut_pairs.add((other, node_id))

    def cut(self, a, b):
        self.cut_pairs.add((a, b))
        self.cut_pairs.add((b, a))

    def heal(self):
        self.cut_pairs = set()

    def propose(self, node_id, data):
        index = self.nodes[node_id].propose(data)
        self.pump(node_id)
        return index

    def data_applied(self, node_id):
        return [e.data for e in self.applied[node_id] if e.kind == 1]

    def types(self):
        self.pump_all()
        return [(m.src, m.dst, MsgType(m.type).name) for m in self.queue]
