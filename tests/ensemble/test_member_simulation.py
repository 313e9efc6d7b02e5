"""Whole members (consensus + tree + sessions + client handling) under seeded faults, in one thread.

``coord.testing.ensemble`` runs three real ``ServerCore``s; here a seed drives clients on every
member (creates of unique znodes that are never deleted, plus contended creates, sets and deletes
on a few shared paths, with sequential and ephemeral nodes), and a nemesis that reorders peer
frames across links, partitions members, crashes them (losing what they had not synced) and has
them snapshot and compact their logs (so laggards catch up by snapshot transfer). After every
step, members that have applied the same zxid must hold identical trees. At the end everything is
healed: a leader must emerge, every member must reach the same zxid with the same tree, and every
create a client saw acknowledged must be there.
"""

import random

import pytest

from coord import peer_wire
from coord.protocol import records as R
from coord.protocol.client_conn import ReplyReceived
from coord.protocol.codes import CreateMode, OpCode
from coord.testing.ensemble import InMemoryEnsemble
from coord.tree import acl as acls

OPEN = list(acls.OPEN_ACL_UNSAFE)
SHARED = ["/s/a", "/s/b", "/s/a/c"]


def tree_state(core):
    tree = core.tree
    nodes = tuple(sorted((path, node.data, tuple(node.stat()), tuple(node.acl))
                         for path, node in tree.nodes.items() if path != "/zookeeper/config"))
    return nodes, tuple(sorted(tree.sessions.items()))


class Run:
    def __init__(self, seed, size=3):
        self.rng = random.Random(seed)
        self.seed = seed
        self.ens = InMemoryEnsemble(size=size, seed=seed, auto_deliver=False)
        self.clients = {}
        self.pending = {}     # (client id, xid) -> path of a unique create
        self.acked = set()
        self.down = {}        # member id -> step at which it restarts
        self.counter = 0

    def deliver(self, hold_back):
        """Deliver queued frames, link by link in order (TCP), links interleaved at random; with
        probability ``hold_back`` a link's remaining frames wait for a later delivery."""
        ens = self.ens
        inbox, ens.inbox = ens.inbox, []
        links = {}
        for src, dst, data in inbox:
            links.setdefault((src, dst), []).append(data)
        order = [link for link, frames in links.items() for _ in frames]
        self.rng.shuffle(order)
        held = set()
        for link in order:
            frames = links[link]
            if link in held or self.rng.random() < hold_back:
                held.add(link)
                continue
            data = frames.pop(0)
            src, dst = link
            member = ens.members[dst]
            if link in ens.cut_pairs or not member.up or not ens.members[src].up:
                continue
            member.core.peer_frame(src, peer_wire.decode(data))
        for link in held:
            ens.inbox.extend((link[0], link[1], data) for data in links[link])
        ens.pump()

    def client_on(self, member_id):
        client = self.clients.get(member_id)
        if client is None or client.closed:
            self.collect(client)
            client = self.ens.connect(member_id)
            self.clients[member_id] = client
        return client

    def collect(self, client):
        if client is None:
            return
        for event in client.events:
            if isinstance(event, ReplyReceived) and event.err == 0:
                path = self.pending.pop((id(client), event.xid), None)
                if path is not None:
                    self.acked.add(path)
        client.events.clear()

    def client_op(self):
        up = [i for i, m in self.ens.members.items() if m.up]
        if not up:
            return
        client = self.client_on(self.rng.choice(up))
        if client.codec.session_id == 0:
            return   # still connecting
        r = self.rng.random()
        if r < 0.4:
            self.counter += 1
            path = "/u/n%d" % self.counter
            xid = client.send(OpCode.CREATE, R.CreateRequest(path, b"%d" % self.counter, OPEN, 0))
            self.pending[(id(client), xid)] = path
        elif r < 0.6:
            flags = self.rng.choice([0, CreateMode.EPHEMERAL, CreateMode.PERSISTENT_SEQUENTIAL,
                                     CreateMode.EPHEMERAL_SEQUENTIAL])
            client.send(OpCode.CREATE, R.CreateRequest(self.rng.choice(SHARED), b"x", OPEN, flags))
        elif r < 0.8:
            client.send(OpCode.SET_DATA, R.SetDataRequest(self.rng.choice(SHARED), b"y",
                                                          self.rng.choice([-1, 0, 1])))
        elif r < 0.9:
            client.send(OpCode.DELETE, R.DeleteRequest(self.rng.choice(SHARED), -1))
        else:
            client.send(OpCode.SYNC, R.SyncRequest("/"))
        self.collect(client)

    def nemesis(self, step):
        ens = self.ens
        r = self.rng.random()
        if r < 0.3:
            ens.heal()
            victim = self.rng.choice(list(ens.members))
            ens.isolate(victim)
            # The TCP connections across the cut break: each side learns it (as the runtime does).
            for other, member in ens.members.items():
                if other != victim and member.up:
                    member.core.peer_lost(victim)
                    if ens.members[victim].up:
                        ens.members[victim].core.peer_lost(other)
            ens.inbox = [f for f in ens.inbox if (f[0], f[1]) not in ens.cut_pairs]
        elif r < 0.5:
            ens.heal()
        elif r < 0.6:
            # A member snapshots and compacts its log: laggards must now be sent the snapshot.
            live = [i for i, m in ens.members.items() if m.up and not m.pending]
            if live:
                member = ens.members[self.rng.choice(live)]
                if member.core.tree.last_zxid > member.core.raft.log.snapshot_index:
                    ens.take_snapshot(member.id)
        else:
            live = [i for i, m in ens.members.items() if m.up]
            if len(live) > 1:
                victim = self.rng.choice(live)
                ens.members[victim].crash()
                self.down[victim] = step + self.rng.randint(5, 60)

    def check_equal_trees(self):
        by_zxid = {}
        for member in self.ens.members.values():
            if member.up:
                by_zxid.setdefault(member.core.tree.last_zxid, []).append(member)
        for zxid, members in by_zxid.items():
            states = {tree_state(m.core) for m in members}
            assert len(states) == 1, "seed %d: members at zxid %d differ" % (self.seed, zxid)

    def restart_due(self, step):
        for member_id, when in list(self.down.items()):
            if step >= when:
                del self.down[member_id]
                self.ens.members[member_id].start()
                self.ens.pump()

    def run(self, steps=500, hold_back=0.1):
        ens = self.ens
        ens.elect()
        admin = self.client_on(ens.leader().id)
        admin.send(OpCode.CREATE, R.CreateRequest("/u", b"", OPEN, 0))
        admin.send(OpCode.CREATE, R.CreateRequest("/s", b"", OPEN, 0))
        for step in range(steps):
            self.restart_due(step)
            r = self.rng.random()
            if r < 0.45:
                self.client_op()
            elif r < 0.75:
                self.deliver(hold_back)
            elif r < 0.95:
                ens.tick()
            else:
                self.nemesis(step)
            self.check_equal_trees()
        self.heal_and_converge()

    def heal_and_converge(self):
        ens = self.ens
        ens.heal()
        for member_id in list(self.down):
            ens.members[member_id].start()
        self.down = {}
        for _ in range(600):
            ens.tick()
            self.deliver(0.0)
            self.deliver(0.0)
            leader = ens.leader()
            zxids = {m.core.tree.last_zxid for m in ens.members.values()}
            if leader is not None and leader.core.leader is not None and len(zxids) == 1 \
                    and leader.core.raft.log.committed == leader.core.raft.log.last_index:
                break
        else:
            raise AssertionError("seed %d: no convergence: %s" % (self.seed, {
                i: (m.core.mode, m.core.tree.last_zxid) for i, m in ens.members.items()}))
        for client in self.clients.values():
            self.collect(client)
        states = {tree_state(m.core) for m in ens.members.values()}
        assert len(states) == 1, "seed %d: members disagree after healing" % self.seed
        paths = {p for p, *_ in next(iter(states))[0]}
        missing = self.acked - paths
        assert not missing, "seed %d: acknowledged creates lost: %s" % (self.seed, sorted(missing))
        return len(self.acked)


@pytest.mark.parametrize("seed", range(12))
def test_members_agree_and_lose_nothing(seed):
    Run(seed, size=3 if seed % 2 else 5).run(steps=1000)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(12, 400))
def test_members_agree_and_lose_nothing_many(seed):
    Run(seed, size=3 if seed % 2 else 5).run(steps=1000)
