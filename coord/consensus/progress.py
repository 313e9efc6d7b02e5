"""The leader's view of each peer's log, and the quorum arithmetic.

Theory of operation
-------------------
A leader keeps one ``Progress`` per peer: ``match`` (highest index known to be in the peer's log)
and ``next`` (the next index to send). A peer is in one of three states:

- PROBE: we do not know where its log ends. Send one append at a time, back up on rejection.
- REPLICATE: its log is in step with ours. Stream appends optimistically (``next`` moves as we
  send), with at most ``max_inflight`` appends unacknowledged, so a slow peer cannot make us queue
  without bound.
- SNAPSHOT: it needs entries we have compacted away; a snapshot is on its way. Send nothing more
  until it answers.

``last_heard_tick`` is the leader tick at which the peer last spoke to us; check-quorum counts
the voters heard within the last election timeout. Quorum arithmetic is plain functions over the voters.
"""

PROBE, REPLICATE, SNAPSHOT = "probe", "replicate", "snapshot"


class Progress:
    __slots__ = ("match", "next", "state", "inflight", "probe_sent", "last_heard_tick",
                 "pending_snapshot", "is_learner", "match_at_heartbeat", "stalled_heartbeats")

    def __init__(self, next_index, is_learner=False):
        self.match = 0
        self.next = next_index
        self.state = PROBE
        self.inflight = []          # last index of each unacknowledged append, in send order
        self.probe_sent = False     # PROBE: an append is out; wait for its answer or a heartbeat
        self.last_heard_tick = 0
        self.pending_snapshot = 0
        self.is_learner = is_learner
        self.match_at_heartbeat = -1
        self.stalled_heartbeats = 0

    def become_probe(self):
        if self.state == SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = PROBE
        self.inflight = []
        self.probe_sent = False
        self.pending_snapshot = 0
        self.stalled_heartbeats = 0

    def become_replicate(self):
        self.state = REPLICATE
        self.next = self.match + 1
        self.inflight = []
        self.pending_snapshot = 0

    def become_snapshot(self, snapshot_index):
        self.state = SNAPSHOT
        self.inflight = []
        self.pending_snapshot = snapshot_index

    def maybe_update(self, index):
        """The peer has everything up to ``index``. True if that is news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        if self.next < index + 1:
            self.next = index + 1
        return updated

    def free_inflight_to(self, index):
        while self.inflight and self.inflight[0] <= index:
            self.inflight.pop(0)

    def is_paused(self, max_inflight):
        if self.state == PROBE:
            return self.probe_sent
        if self.state == REPLICATE:
            return len(self.inflight) >= max_inflight
        return True

    def sent(self, last_index):
        """An append ending at ``last_index`` went out (``last_index`` = next - 1 for an empty one)."""
        if self.state == REPLICATE:
            if last_index >= self.next:
                self.next = last_index + 1
                self.inflight.append(last_index)
        elif self.state == PROBE:
            self.probe_sent = True


def quorum_size(voters):
    return len(voters) // 2 + 1


def committed_index(voters, match_of):
    """The highest index present on a quorum of ``voters`` (``match_of(id)`` gives each match)."""
    matches = sorted((match_of(v) for v in voters), reverse=True)
    return matches[quorum_size(voters) - 1] if matches else 0


def has_quorum(voters, yes):
    return len(set(yes) & set(voters)) >= quorum_size(voters)


def vote_result(voters, votes):
    """'won', 'lost' or 'pending' for a tally ``votes`` (id -> granted)."""
    granted = sum(1 for v in voters if votes.get(v) is True)
    rejected = sum(1 for v in voters if votes.get(v) is False)
    q = quorum_size(voters)
    if granted >= q:
        return "won"
    if rejected > len(voters) - q:
        return "lost"
    return "pending"
