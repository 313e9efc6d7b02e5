"""ShardAllocator: the plan (pure) and members joining, leaving and expiring on real servers."""

import threading
import time

from clients.recipes.shard_allocator import plan
from tests.clients.helpers import expire_session, wait_until

NUM_SHARDS = 6


def test_plan_assigns_evenly_and_moves_shards_only_through_revocation():
    owners, pending = plan(4, [None] * 4, [None] * 4, {"a", "b"}, {}, 0)
    assert sorted(owners) == ["a", "a", "b", "b"] and pending == [None] * 4
    # c joins: one shard is revoked from a holder (pending on its ack), none is handed over yet.
    owners2, pending2 = plan(4, owners, pending, {"a", "b", "c"}, {"a": 1, "b": 1}, 1)
    moved = [i for i in range(4) if owners2[i] != owners[i]]
    assert len(moved) == 1 and owners2[moved[0]] is None
    assert pending2[moved[0]] == [owners[moved[0]], 2]
    assert plan(4, owners2, pending2, {"a", "b", "c"}, {"a": 1, "b": 1}, 2) == (owners2, pending2)
    # The former owner acknowledges version 2: the shard goes to c.
    acks = {"a": 2, "b": 2, "c": 2}
    owners3, pending3 = plan(4, owners2, pending2, {"a", "b", "c"}, acks, 2)
    assert owners3[moved[0]] == "c" and pending3 == [None] * 4
    # b's session ends: its shards are free at once and go to the live members.
    owners4, _ = plan(4, owners3, pending3, {"a", "c"}, acks, 3)
    assert sorted(owners4) == ["a", "a", "c", "c"]
    assert all(owners4[i] == owners3[i] for i in range(4) if owners3[i] != "b")
    assert plan(3, ["x", "x", None], [None] * 3, set(), {}, 5) == ([None] * 3, [None] * 3)


class Member:
    """One member: its own session, its allocator running in a thread, a log of what it owned."""

    def __init__(self, make_client, path, name, log):
        self.name = name
        self.client = make_client(timeout=10.0)
        self.allocator = self.client.ShardAllocator(path, name, NUM_SHARDS, self._on_change)
        self.log = log
        self.owned = frozenset()
        self.dropped_all = threading.Event()  # told it owns nothing because of the connection
        self.thread = threading.Thread(target=self.allocator.run, daemon=True)
        self.thread.start()

    def _on_change(self, owned, version):
        # Record stops before starts so that a hand-over is ordered in the log.
        now = time.monotonic()
        for shard in self.owned - owned:
            self.log.append((now, "stop", shard, self.name, version))
        for shard in owned - self.owned:
            self.log.append((now, "start", shard, self.name, version))
        self.owned = owned
        if version is None:
            self.dropped_all.set()

    def stop(self):
        self.allocator.stop()
        self.thread.join(20)
        assert not self.thread.is_alive()


def _stable(members):
    """Every shard served by exactly one of ``members``, all at the newest version."""
    owned = [shard for m in members for shard in m.owned]
    versions = {m.allocator.version for m in members}
    counts = sorted(len(m.owned) for m in members)
    return (sorted(owned) == list(range(NUM_SHARDS)) and len(versions) == 1
            and counts[-1] - counts[0] <= 1)


def _assert_never_two_owners(log, excused=()):
    """No shard is served by two members at once (stops before starts at equal times).  An
    overlap is excused only for ``(member, start_s, end_s)``: a session ended from outside while
    the member was connected, which no lease-based recipe can fence (its end is instant)."""
    serving = {}
    for when, action, shard, member, _version in sorted(log, key=lambda e: (e[0], e[1] != "stop")):
        if action == "start":
            holder = serving.get(shard)
            if holder is not None:
                assert any(m == holder and start <= when <= end for m, start, end in excused), (
                    f"shard {shard}: {member} started while {holder} served; history: "
                    + repr([e for e in sorted(log) if e[2] == shard]))
            serving[shard] = member
        elif serving.get(shard) == member:
            del serving[shard]


def test_members_join_leave_and_expire(server, make_coord_client, prefix):
    path = f"{prefix}/shards"
    log = []
    lock = threading.Lock()

    class Log(list):
        def append(self, item):
            with lock:
                super().append(item)

    log = Log()
    members = [Member(make_coord_client, path, f"m{i}", log) for i in range(3)]
    wait_until(lambda: _stable(members), 30, what="3 members stable")
    assert sorted(len(m.owned) for m in members) == [2, 2, 2]
    assert sum(m.allocator.is_coordinator for m in members) == 1

    members.append(Member(make_coord_client, path, "m3", log))  # joins: shards move to it
    wait_until(lambda: _stable(members), 30, what="4 members stable")
    assert sorted(len(m.owned) for m in members) == [1, 1, 2, 2]

    leaving = members.pop(0)  # leaves cleanly
    leaving.stop()
    wait_until(lambda: _stable(members), 30, what="after a member left")

    expired = members[0]  # its session ends under it: it stops serving, rejoins with a new one
    expiry_started_s = time.monotonic()
    expire_session(server.host, server.port, *expired.client.client_id)
    assert expired.dropped_all.wait(30), "the expired member noticed"
    excused = [(expired.name, expiry_started_s, time.monotonic())]
    wait_until(lambda: _stable(members) and expired.owned, 30, what="after an expiry")

    coordinator = next(m for m in members if m.allocator.is_coordinator)
    coordinator.stop()  # the coordinator leaves: another takes over and rebalances
    members.remove(coordinator)
    wait_until(lambda: _stable(members), 30, what="after the coordinator left")
    assert sum(m.allocator.is_coordinator for m in members) == 1
    for member in members:
        member.stop()
    _assert_never_two_owners(log, excused)
