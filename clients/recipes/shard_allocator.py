"""ShardAllocator: members share N shards; an elected coordinator assigns them, fenced by version.

Theory of operation.  Znodes under ``path``::

    members/<member_id>   ephemeral; data = the last assignment version this member has applied
    coordinator/          a Lock (kazoo's lock znodes): its holder is the coordinator
    assignment            JSON {"owners": [member|null]*N, "pending": [[member, version]|null]*N};
                          its znode version is the fencing token

Every member runs one loop (``run``), which both serves as a member and, when it holds the
coordinator lock, as the coordinator:

* Member: read ``assignment`` (with a watch), call ``on_change(owned_shards, version)`` and only
  then write ``version`` into its member node (the acknowledgement).  ``on_change`` must stop
  serving every shard not in ``owned_shards`` before it returns.  When the connection is
  SUSPENDED the member cannot know whether its shards are being moved, so it is told it owns
  nothing (``version`` None) until it has read the assignment again.
* Coordinator: from the live members and their acknowledgements it computes the next assignment
  (``plan``) and writes it with the version it read (a stale coordinator's write fails with
  BadVersion).  A shard is never handed straight from one member to another: it is first revoked
  (owner null, ``pending`` = [member, version of the revoking write]) and reassigned only once
  that member has acknowledged that version, or once its member node is gone (its session ended:
  it stopped serving when it saw SUSPENDED, at most 2/3 of the session timeout after losing the
  server, before the server expires it).  Shards of departed members are free at once.
  Targets: N // L shards each, one more for the N % L members that already hold most, so as
  few shards as possible move.

All waits share one re-armable Signal, woken by any watched change (assignment, member list,
acknowledgements, the coordinator lock's predecessor) or any connection state change, after which
the loop looks at everything again.
"""

from __future__ import annotations

import json

from .. import errors
from ..steps import RETRYABLE, Invoke, Signal, Sleep, Wait, retrying
from .lock import Lock

__all__ = ["ShardAllocator", "plan"]

_OUTAGE = RETRYABLE + (errors.SessionExpiredError,)
_OUTAGE_PAUSE_S = 0.2


def plan(num_shards: int, owners: list, pending: list, live: set, acks: dict, version: int):
    """The next ``(owners, pending)`` after the assignment at ``version`` (equal if nothing to do).

    ``acks[m]`` is the last version member ``m`` applied.  Pure: unit-tested on its own.
    """
    owners = list(owners)
    pending = [list(p) if p else None for p in pending]
    for shard in range(num_shards):
        if owners[shard] is not None and owners[shard] not in live:
            owners[shard] = None  # its session is gone: free now
        if pending[shard] is not None:
            member, revoked_at = pending[shard]
            if member not in live or acks.get(member, -1) >= revoked_at:
                pending[shard] = None
    if live:
        counts = {m: 0 for m in live}
        for owner in owners:
            if owner is not None:
                counts[owner] += 1
        base, extra = divmod(num_shards, len(live))
        by_holdings = sorted(live, key=lambda m: (-counts[m], m))
        target = {m: base + (1 if i < extra else 0) for i, m in enumerate(by_holdings)}
        for shard in reversed(range(num_shards)):  # revoke the highest shards of the overfull
            owner = owners[shard]
            if owner is not None and counts[owner] > target[owner]:
                owners[shard] = None
                pending[shard] = [owner, version + 1]  # the version this write will create
                counts[owner] -= 1
        for shard in range(num_shards):
            if owners[shard] is None and pending[shard] is None:
                hungry = [m for m in sorted(live, key=lambda m: (counts[m], m))
                          if counts[m] < target[m]]
                if hungry:
                    owners[shard] = hungry[0]
                    counts[hungry[0]] += 1
    return (owners, pending)


def _now_or_never(call):
    """The loop's requests fail at once when disconnected (ConnectionLoss), instead of waiting
    for the next connection, so that losing the server stops the shards without delay."""
    return call._replace(wait_for_connection=False)


class ShardAllocator:
    """``client.ShardAllocator(path, member_id, num_shards, on_change).run()`` (blocks until
    ``stop()``; a Deferred on the Twisted client)."""

    def __init__(self, client, path: str, member_id: str, num_shards: int, on_change) -> None:
        if "/" in member_id or not member_id:
            raise ValueError(f"member_id must be a znode name, not {member_id!r}")
        self.client = client
        self.path = path.rstrip("/")
        self.member_id = member_id
        self.num_shards = num_shards
        self.on_change = on_change
        self.members_path = f"{self.path}/members"
        self.member_path = f"{self.members_path}/{member_id}"
        self.assignment_path = f"{self.path}/assignment"
        self.lock = Lock(client, f"{self.path}/coordinator", member_id)
        self.owned: frozenset = frozenset()
        self.version: int | None = None
        self.is_coordinator = False
        self._stopped = False
        self._signal = Signal()

    def run(self):
        return self.client._run(self.run_steps())

    def stop(self) -> None:
        """Make ``run`` leave: it drops its shards (``on_change`` with nothing) and its nodes."""
        self._stopped = True
        self._signal()

    # -- the loop ---------------------------------------------------------------------------------

    def run_steps(self):
        ops = self.client._ops
        signal = self._signal
        for path in (self.members_path, self.lock.path):
            yield from retrying(lambda: ops.ensure_path(path))
        try:
            while not self._stopped:
                signal.reset()
                if not self.client.connected:
                    # SUSPENDED (or LOST): our shards may be moved any moment; serve nothing until
                    # the assignment has been read again on a live connection.
                    yield from self._apply(frozenset(), None)
                    yield Wait(signal, _OUTAGE_PAUSE_S * 5)
                    continue
                try:
                    yield from self._serve_as_member(signal)
                    if self._stopped:
                        break
                    wrote = yield from self._serve_as_coordinator(signal)
                except _OUTAGE:
                    yield from self._apply(frozenset(), None)
                    yield Sleep(_OUTAGE_PAUSE_S)
                    continue
                if not wrote and not self._stopped:
                    yield Wait(signal, None)
        finally:
            yield from self._leave()

    def _apply(self, owned: frozenset, version):
        if owned != self.owned or version != self.version:
            self.owned, self.version = owned, version
            yield Invoke(self.on_change, (owned, version))

    def _serve_as_member(self, signal):
        ops = self.client._ops
        try:
            data, stat = yield _now_or_never(ops.get(self.assignment_path, watch=signal))
        except errors.NoNodeError:
            if (yield _now_or_never(ops.exists(self.assignment_path, watch=signal))):
                signal()  # created meanwhile: go round again
            owners, version = [], -1
        else:
            owners, version = json.loads(data)["owners"], stat.version
        owned = frozenset(i for i, owner in enumerate(owners) if owner == self.member_id)
        yield from self._apply(owned, version)
        ack = str(version).encode("ascii")
        try:
            yield _now_or_never(ops.set(self.member_path, ack))
        except errors.NoNodeError:  # first round, or our session was replaced: join (again)
            try:
                yield _now_or_never(ops.create(self.member_path, ack, ephemeral=True))
            except errors.NodeExistsError:
                signal()  # ours from a create cut off by a connection loss: ack next round

    def _serve_as_coordinator(self, signal):
        """One coordinator round; True if it wrote a new assignment."""
        ops = self.client._ops
        lock = self.lock
        children = yield _now_or_never(ops.get_children(lock.path))
        if lock.node is None:
            # A create cut off by a connection loss may have happened: look for our prefix first.
            lock.node = next((c for c in children if c.startswith(lock.prefix)), None)
            if lock.node is None:
                created = yield _now_or_never(ops.create(lock.create_path, lock.data,
                                                         ephemeral=True, sequence=True))
                lock.node = created.rsplit("/", 1)[1]
                children = yield _now_or_never(ops.get_children(lock.path))
        if lock.node not in children:  # our session was replaced: queue again
            lock.node = None
            self.is_coordinator = False
            signal()
            return False
        predecessor = lock._predecessor(children)
        if predecessor is not None:
            self.is_coordinator = False
            try:
                yield _now_or_never(ops.get(f"{lock.path}/{predecessor}", watch=signal))
            except errors.NoNodeError:
                signal()
            return False
        self.is_coordinator = True
        live = set((yield _now_or_never(ops.get_children(self.members_path, watch=signal))))
        acks = {}
        for member in sorted(live):
            try:
                data, _stat = yield _now_or_never(
                    ops.get(f"{self.members_path}/{member}", watch=signal))
            except errors.NoNodeError:
                live.discard(member)
                continue
            acks[member] = int(data) if data else -1
        try:
            data, stat = yield _now_or_never(ops.get(self.assignment_path))
        except errors.NoNodeError:
            empty = {"owners": [None] * self.num_shards, "pending": [None] * self.num_shards}
            try:
                yield _now_or_never(ops.create(self.assignment_path, json.dumps(empty).encode()))
            except errors.NodeExistsError:
                pass
            return True
        state = json.loads(data)
        if len(state["owners"]) != self.num_shards:
            raise errors.BadArgumentsError(
                f"{self.assignment_path} has {len(state['owners'])} shards, not {self.num_shards}")
        owners, pending = plan(self.num_shards, state["owners"], state["pending"], live, acks,
                               stat.version)
        if owners == state["owners"] and pending == state["pending"]:
            return False
        new = json.dumps({"owners": owners, "pending": pending}).encode()
        try:
            yield _now_or_never(ops.set(self.assignment_path, new, stat.version))
        except (errors.BadVersionError, errors.ConnectionLoss, errors.ClientTimeoutError):
            pass  # someone else wrote, or maybe we did: read again either way
        return True

    def _leave(self):
        """Stop serving, then leave the group and the coordinator queue."""
        yield from self._apply(frozenset(), None)
        ops = self.client._ops
        if not self.client.connected and self.client.state in ("CLOSED",):
            return
        for path in (self.member_path, None if self.lock.node is None
                     else f"{self.lock.path}/{self.lock.node}"):
            if path is None:
                continue
            try:
                yield ops.delete(path)
            except errors.CoordClientError:
                pass  # ephemeral: goes with the session at worst
        self.lock.node = None
        self.is_coordinator = False
