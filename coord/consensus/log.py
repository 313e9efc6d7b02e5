"""The Raft log as one member sees it: a snapshot point, the entries after it, and three marks.

Theory of operation
-------------------
Entries live in memory from ``snapshot_index + 1`` to ``last_index`` (``entries[i]`` has index
``snapshot_index + 1 + i``); everything at or before ``snapshot_index`` is inside the newest
snapshot. Three marks move along it, always in this order::

    snapshot_index <= applied <= committed          (committed: known to be on a quorum)
    persisted < unstable_from <= last_index + 1     (persisted: durable here; unstable: not yet
                                                     handed to the driver for writing)

``take_unstable`` hands the entries from ``unstable_from`` on to the driver; ``stable_to`` is the
driver saying they are durable. A follower whose log conflicts with its leader's truncates the
conflicting suffix (``maybe_append``); if that suffix had been handed out or persisted, the marks
move back so the driver rewrites it. Truncating a committed entry would break Raft's safety, so it
raises ``AssertionError`` instead of happening. Only entries that are both committed and
persisted here are handed out for applying (``take_committed``).
"""

from coord.consensus.messages import SnapshotMeta


class RaftLog:
    def __init__(self, snapshot=None, entries=(), committed=0):
        snapshot = snapshot or SnapshotMeta(0, 0)
        self.snapshot = snapshot
        self.entries = list(entries)
        for i, e in enumerate(self.entries):
            if e.index != snapshot.index + 1 + i:
                raise ValueError("recovered entries are not consecutive after the snapshot")
        last = self.last_index
        # Whatever was recovered from disk is durable by definition.
        self.persisted = last
        self.unstable_from = last + 1
        self.committed = max(snapshot.index, min(committed, last))
        self.applied = snapshot.index

    # -- reading --------------------------------------------------------------------------------

    @property
    def snapshot_index(self):
        return self.snapshot.index

    @property
    def first_index(self):
        return self.snapshot.index + 1

    @property
    def last_index(self):
        return self.snapshot.index + len(self.entries)

    @property
    def last_term(self):
        return self.entries[-1].term if self.entries else self.snapshot.term

    def term(self, index):
        """The term of the entry at ``index``; None if compacted away or not yet there."""
        snap = self.snapshot
        if index == snap.index:
            return snap.term
        if index < snap.index or index > snap.index + len(self.entries):
            return None
        return self.entries[index - snap.index - 1].term

    def matches(self, index, term):
        return self.term(index) == term

    def entry(self, index):
        return self.entries[index - self.snapshot.index - 1]

    def slice(self, lo, hi, max_bytes):
        """Entries [lo, hi] (hi inclusive), at least one, at most ``max_bytes`` of data beyond it."""
        base = self.snapshot.index + 1
        out = []
        size = 0
        for i in range(lo - base, hi - base + 1):
            e = self.entries[i]
            size += len(e.data)
            if out and size > max_bytes:
                break
            out.append(e)
        return out

    def is_up_to_date(self, last_index, last_term):
        """Raft §5.4.1: a candidate's log at least as up to date as ours."""
        mine = self.last_term
        return last_term > mine or (last_term == mine and last_index >= self.last_index)

    def conflict_hint(self, index, term):
        """The largest index <= ``index`` whose term is <= ``term`` (for fast backtracking)."""
        index = min(index, self.last_index)
        while index > self.snapshot.index:
            t = self.term(index)
            if t is None or t <= term:
                break
            index -= 1
        return index

    # -- writing --------------------------------------------------------------------------------

    def append(self, entries):
        """Append at the end (the leader's own proposals)."""
        if entries and entries[0].index != self.last_index + 1:
            raise AssertionError("append at %d to a log ending at %d"
                                 % (entries[0].index, self.last_index))
        self.entries.extend(entries)

    def maybe_append(self, index, log_term, entries):
        """Append the leader's ``entries`` that follow (``index``, ``log_term``).

        Returns the index of the last entry now known to match the leader's log, or None when our
        log does not contain (``index``, ``log_term``) and the leader must back up.
        """
        if not self.matches(index, log_term):
            return None
        last_new = index + len(entries)
        for e in entries:
            if e.index <= self.snapshot.index:
                continue   # inside our snapshot: committed, hence identical
            t = self.term(e.index)
            if t == e.term:
                continue
            if t is not None:
                self._truncate_from(e.index)
            self.entries.extend(x for x in entries if x.index >= e.index)
            break
        return last_new

    def _truncate_from(self, index):
        if index <= self.committed:
            raise AssertionError("refusing to truncate committed entry %d (committed %d)"
                                 % (index, self.committed))
        del self.entries[index - self.snapshot.index - 1:]
        self.unstable_from = min(self.unstable_from, index)
        self.persisted = min(self.persisted, index - 1)

    def take_unstable(self):
        start = self.unstable_from - self.snapshot.index - 1
        out = self.entries[start:]
        self.unstable_from = self.last_index + 1
        return out

    def stable_to(self, index, term):
        """The driver made entries up to (``index``, ``term``) durable; ignored if since replaced."""
        if index < self.unstable_from and self.term(index) == term and index > self.persisted:
            self.persisted = index

    def commit_to(self, index):
        if index > self.committed:
            if index > self.last_index:
                raise AssertionError("commit %d beyond the last index %d" % (index, self.last_index))
            self.committed = index
            return True
        return False

    def take_committed(self):
        """Entries to apply: committed, durable here, not yet handed out."""
        hi = min(self.committed, self.persisted)
        if hi <= self.applied:
            return []
        base = self.snapshot.index + 1
        out = self.entries[self.applied + 1 - base:hi + 1 - base]
        self.applied = hi
        return out

    def restore(self, snapshot):
        """Replace the whole log by a snapshot received from the leader."""
        self.snapshot = snapshot
        self.entries = []
        self.committed = snapshot.index
        self.applied = snapshot.index
        # The snapshot reaches the driver in a Ready; persisted moves once it is durable.
        self.persisted = min(self.persisted, snapshot.index - 1)
        self.unstable_from = snapshot.index + 1

    def compact(self, snapshot):
        """A local snapshot now covers everything up to ``snapshot.index``: drop those entries."""
        if snapshot.index <= self.snapshot.index:
            return
        if snapshot.index > self.applied or snapshot.index > self.persisted:
            raise AssertionError("compacting past what is applied and durable")
        if self.term(snapshot.index) != snapshot.term:
            raise AssertionError("snapshot term does not match the log")
        del self.entries[:snapshot.index - self.snapshot.index]
        self.snapshot = snapshot
