"""Raft, as a pure state machine: ticks and messages in, a ``Ready`` batch of work out.

Theory of operation
-------------------
``RaftNode`` is one member's consensus state. It has no clock, socket, disk or thread: the driver
calls ``tick()`` at a fixed interval, ``step(message)`` for each peer message, ``propose(data)`` on
the leader, and ``read_index(context)`` for a linearizable read point; then it drains
``take_ready()`` and does what the Ready says, in the order its docstring gives, reporting
durability back with ``persisted(ready)``. The election jitter comes from an injected ``rng``
(anything with ``randrange``), so a seed fixes every run.

What it implements, and where:

- Terms and elections (``_campaign``, ``_step_vote_request``): randomized timeouts in
  ``[election_ticks, 2 * election_ticks)``; votes only for logs at least as up to date as ours
  (§5.4.1); term and vote reach the disk before any vote or acknowledgement leaves (``Ready``).
- Pre-vote: a would-be candidate first asks whether it could win, without raising anyone's term,
  so a member that rejoins after a partition cannot depose a working leader.
- Leases and check-quorum: a member that heard from a leader within the election timeout ignores
  vote requests, and a leader that has not heard from a quorum within an election timeout steps
  down. This is what detects a hung leader: its followers stop hearing it and elect another, and
  the hung leader, when it wakes, finds itself deposed.
- Replication: per-peer ``Progress`` (probe / replicate / snapshot), pipelined appends with a
  bounded window, fast backtracking on rejection (``RaftLog.conflict_hint``), entries batched per
  Ready. Commit advances only through an entry of the leader's own term (§5.4.2); each leader
  begins its term with a NOOP entry so that happens promptly.
- Snapshots: a peer that needs compacted entries is sent the newest snapshot (the driver attaches
  its bytes); a follower installs it when it is ahead of what it has committed.
- Read index: ``read_index`` gets a commit index that a quorum has confirmed this leader still
  leads at (a heartbeat round carrying the request's context); followers ask the leader. The
  leader answers only once it has committed an entry of its own term.
- Leadership transfer: the leader stops taking proposals, brings the transferee up to date and
  tells it to campaign at once (``TIMEOUT_NOW``); the transferee's vote requests bypass leases.
- Fast failover: ``leader_unreachable()`` (the driver saw the leader's connection drop) starts a
  pre-vote within a tick or two instead of waiting out the election timeout; pre-vote keeps this
  safe when only our own link broke.
- Learners (non-voting members) replicate and apply but never vote or campaign, and do not count
  towards any quorum.

``planted_bugs`` (test-only) switches off a guarantee so the simulation can show it would notice.
"""

import dataclasses

from coord.consensus import progress as P
from coord.consensus.log import RaftLog
from coord.consensus.messages import (
    NONE, NOOP, NORMAL, Entry, HardState, Message, MsgType, ReadState, Ready, SoftState,
)

FOLLOWER, PRE_CANDIDATE, CANDIDATE, LEADER = "follower", "pre-candidate", "candidate", "leader"

_TRANSFER = b"transfer"
STALLED_HEARTBEATS = 3    # heartbeat answers without replication progress before re-probing   # vote-request context of a campaign ordered by TIMEOUT_NOW

# Messages a leader may send before its own copy of the log is durable (Ready.early_messages).
_EARLY = frozenset({MsgType.APPEND, MsgType.HEARTBEAT, MsgType.SNAPSHOT, MsgType.TIMEOUT_NOW,
                    MsgType.READ_INDEX_RESP, MsgType.READ_INDEX})

PLANTED_BUGS = frozenset({"commit-without-quorum", "vote-without-log-check",
                          "no-term-check-on-commit", "read-index-without-quorum"})


class NotLeader(Exception):
    """Proposals go to the leader; ``leader`` is our best guess of who that is (0: unknown)."""

    def __init__(self, leader):
        super().__init__("not the leader (leader: %s)" % (leader or "unknown"))
        self.leader = leader


class InvalidMessage(ValueError):
    """A message that cannot be from a correct member of this ensemble; it was not used."""


@dataclasses.dataclass(frozen=True)
class RaftConfig:
    election_ticks: int = 10          # a follower campaigns after [election_ticks, 2x) silent ticks
    heartbeat_ticks: int = 1          # a leader heartbeats every heartbeat_ticks
    pre_vote: bool = True
    check_quorum: bool = True
    max_inflight: int = 256           # unacknowledged appends per peer
    max_append_bytes: int = 1 << 20   # entry data per append message (at least one entry)
    fast_campaign_ticks: int = 2      # leader_unreachable(): campaign within 1..this many ticks
    planted_bugs: frozenset = frozenset()

    def __post_init__(self):
        if self.election_ticks <= self.heartbeat_ticks or self.heartbeat_ticks < 1:
            raise ValueError("need election_ticks > heartbeat_ticks >= 1")
        unknown = set(self.planted_bugs) - PLANTED_BUGS
        if unknown:
            raise ValueError("unknown planted bugs: %s" % sorted(unknown))


class _ReadRequest:
    __slots__ = ("context", "index", "origin", "acks")

    def __init__(self, context, index, origin, acks):
        self.context = context
        self.index = index
        self.origin = origin
        self.acks = acks


class RaftNode:
    def __init__(self, node_id, voters, learners=(), *, config=RaftConfig(), rng,
                 hard_state=HardState(), snapshot=None, entries=()):
        voters = frozenset(voters)
        learners = frozenset(learners)
        if not voters or voters & learners or not 0 < node_id <= 255:
            raise ValueError("bad membership")
        if node_id not in voters | learners:
            raise ValueError("member %d is not in the configuration" % node_id)
        self.id = node_id
        self.voters = voters
        self.learners = learners
        self.members = voters | learners
        self.cfg = config
        self.rng = rng
        self._bugs = config.planted_bugs
        self.log = RaftLog(snapshot, entries, hard_state.commit)
        self.term = hard_state.term
        self.vote = hard_state.vote
        if self.log.last_term > self.term:
            # A crash between writing entries and writing the term: the log proves the newer
            # term. No vote was cast in it (a vote reaches the disk before it is sent).
            self.term = self.log.last_term
            self.vote = NONE
        self.role = FOLLOWER
        self.leader = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_timeout = 0
        self._reset_randomized_timeout()
        self.votes = {}
        self.progress = {}
        self.transferee = NONE
        self.pending_reads = []          # leader: read requests awaiting a quorum's heartbeat acks
        self._reads_before_commit = []   # leader: (context, origin) until this term commits
        self._early = []
        self._msgs = []
        self._read_states = []
        self._snapshot_to_install = None
        self._append_dirty = False
        self._prev_hard = HardState(self.term, self.vote, self.log.committed)
        self._prev_soft = SoftState(self.role, self.leader, self.term)
        self.elections_started = 0
        self.leader_ticks = 0      # ticks since we became leader (check-quorum's clock)

    # -- inputs ---------------------------------------------------------------------------------

    def tick(self):
        if self.role == LEADER:
            self._tick_leader()
        else:
            self.election_elapsed += 1
            if self.promotable and self.election_elapsed >= self.randomized_timeout:
                self.election_elapsed = 0
                self._campaign()

    def step(self, m):
        """Handle one peer message. Raises ``InvalidMessage`` (and changes nothing) for messages
        no correct member of this ensemble could have sent us."""
        if m.dst != self.id or m.src not in self.members or m.src == self.id:
            raise InvalidMessage("message from %s to %s: not a member of this ensemble"
                                 % (m.src, m.dst))
        if m.type == MsgType.APPEND and m.entries and m.entries[0].index != m.index + 1:
            raise InvalidMessage("append entries do not follow index %d" % m.index)
        if m.type == MsgType.SNAPSHOT and m.snapshot is None:
            raise InvalidMessage("snapshot message without a snapshot")
        if m.term > self.term:
            if m.type in (MsgType.VOTE, MsgType.PRE_VOTE):
                if m.context != _TRANSFER and self._in_lease():
                    return   # we hear a live leader: a rejoining member must not disrupt it
            if m.type == MsgType.PRE_VOTE:
                pass   # asks about a future term; changes nothing here
            elif m.type == MsgType.PRE_VOTE_RESP and not m.reject:
                pass   # a grant for the term we would campaign in
            elif m.type in (MsgType.APPEND, MsgType.HEARTBEAT, MsgType.SNAPSHOT):
                self._become_follower(m.term, m.src)
            else:
                self._become_follower(m.term, NONE)
        elif m.term < self.term:
            if m.type in (MsgType.APPEND, MsgType.HEARTBEAT):
                # A deposed leader: answer with our term so it steps down.
                self._send(Message(MsgType.APPEND_RESP, self.id, m.src, self.term))
            elif m.type == MsgType.PRE_VOTE:
                self._send(Message(MsgType.PRE_VOTE_RESP, self.id, m.src, self.term, reject=True))
            return
        if m.type in (MsgType.VOTE, MsgType.PRE_VOTE):
            self._step_vote_request(m)
        elif self.role == LEADER:
            self._step_leader(m)
        elif self.role in (CANDIDATE, PRE_CANDIDATE):
            self._step_candidate(m)
        else:
            self._step_follower(m)

    def propose(self, data):
        """Append a transaction; returns its index (its zxid). Leader only."""
        if self.role != LEADER or self.transferee != NONE:
            raise NotLeader(self.leader if self.role != LEADER else NONE)
        index = self.log.last_index + 1
        self.log.append([Entry(self.term, index, NORMAL, data)])
        self._append_dirty = True
        return index

    def read_index(self, context):
        """Ask for a linearizable read point; answered by a ReadState with ``context``.

        False if no leader is known (ask again later). A leader answers once a quorum has
        confirmed its leadership after this call; a follower forwards the question to its leader.
        """
        if self.role == LEADER:
            self._leader_read(context, self.id)
            return True
        if self.leader == NONE:
            return False
        self._send(Message(MsgType.READ_INDEX, self.id, self.leader, self.term, context=context))
        return True

    def transfer_leadership(self, target):
        """Hand leadership to ``target`` (a voter); proposals are refused until it is done."""
        if self.role != LEADER or target == self.id or target not in self.voters:
            return False
        self.transferee = target
        self.election_elapsed = 0
        pr = self.progress[target]
        if pr.match == self.log.last_index:
            self._send(Message(MsgType.TIMEOUT_NOW, self.id, target, self.term))
        else:
            self._send_append(target, pr)
        return True

    def campaign_now(self):
        """Start an election at once (a member of an ensemble of one has nobody to wait for)."""
        if self.role != LEADER:
            self._campaign()

    def leader_unreachable(self):
        """Our connection to the leader dropped: campaign soon rather than after the timeout."""
        if self.role != FOLLOWER or self.leader == NONE:
            return
        self.leader = NONE
        if self.promotable:
            soon = 1 + self.rng.randrange(self.cfg.fast_campaign_ticks)
            self.election_elapsed = max(self.election_elapsed, self.randomized_timeout - soon)

    def peer_unreachable(self, peer):
        """Messages to ``peer`` may have been lost: stop streaming to it, probe instead."""
        pr = self.progress.get(peer)
        if pr is not None and pr.state == P.REPLICATE:
            pr.become_probe()

    def snapshot_done(self, peer, ok):
        """The driver finished sending a snapshot to ``peer`` (``ok`` False: it failed)."""
        pr = self.progress.get(peer)
        if pr is not None and pr.state == P.SNAPSHOT and not ok:
            pr.become_probe()
            pr.next = pr.match + 1

    def compact(self, snapshot):
        """A durable local snapshot covers the log through ``snapshot.index``."""
        self.log.compact(snapshot)

    def persisted(self, ready):
        """Everything ``ready`` asked to store is durable."""
        self.log.stable_to(ready.last_index, ready.last_term)
        if self.role == LEADER and self._maybe_commit():
            self._append_dirty = True

    def has_ready(self):
        """Whether ``take_ready`` would hand out anything. Cheap: drivers ask after every event,
        and most events (a read, a reply) leave consensus untouched."""
        log = self.log
        hard = self._prev_hard
        soft = self._prev_soft
        return bool(self._append_dirty or self._msgs or self._early or self._read_states
                    or self._snapshot_to_install is not None
                    or log.unstable_from <= log.last_index
                    or min(log.committed, log.persisted) > log.applied
                    or hard.commit != log.committed or hard.term != self.term
                    or hard.vote != self.vote or soft.role != self.role
                    or soft.leader != self.leader or soft.term != self.term)

    def take_ready(self):
        if self._append_dirty:
            self._append_dirty = False
            if self.role == LEADER:
                for peer, pr in self.progress.items():
                    self._send_append(peer, pr, allow_empty=True)
        rd = Ready()
        hs = HardState(self.term, self.vote, self.log.committed)
        if hs != self._prev_hard:
            rd.hard_state = hs
            self._prev_hard = hs
        rd.entries = self.log.take_unstable()
        if self._snapshot_to_install is not None:
            rd.snapshot = self._snapshot_to_install
            self._snapshot_to_install = None
        rd.early_messages, self._early = self._early, []
        rd.messages, self._msgs = self._msgs, []
        rd.committed = self.log.take_committed()
        rd.read_states, self._read_states = self._read_states, []
        soft = SoftState(self.role, self.leader, self.term)
        if soft != self._prev_soft:
            rd.soft_state = soft
            self._prev_soft = soft
        rd.last_index = self.log.last_index
        rd.last_term = self.log.last_term
        return rd

    # -- state ----------------------------------------------------------------------------------

    @property
    def promotable(self):
        return self.id in self.voters

    @property
    def hard_state(self):
        return HardState(self.term, self.vote, self.log.committed)

    def _in_lease(self):
        return (self.cfg.check_quorum and self.leader != NONE
                and self.election_elapsed < self.cfg.election_ticks)

    def _reset_randomized_timeout(self):
        et = self.cfg.election_ticks
        self.randomized_timeout = et + self.rng.randrange(et)

    def _reset(self, term):
        if term != self.term:
            self.term = term
            self.vote = NONE
        self.leader = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_randomized_timeout()
        self.votes = {}
        self.progress = {}
        self.transferee = NONE
        self.pending_reads = []
        self._reads_before_commit = []

    def _become_follower(self, term, leader):
        self._reset(term)
        self.role = FOLLOWER
        self.leader = leader

    def _become_leader(self):
        self._reset(self.term)
        self.role = LEADER
        self.leader = self.id
        nxt = self.log.last_index + 1
        for peer in self.members - {self.id}:
            self.progress[peer] = P.Progress(nxt, is_learner=peer in self.learners)
        self.leader_ticks = 0
        self.log.append([Entry(self.term, nxt, NOOP)])
        self._append_dirty = True

    def _campaign(self, transfer=False, pre_vote_passed=False):
        if not self.promotable:
            return
        self.elections_started += 1
        if self.cfg.pre_vote and not transfer and not pre_vote_passed:
            self._reset(self.term)
            self.role = PRE_CANDIDATE
            mtype, term = MsgType.PRE_VOTE, self.term + 1
        else:
            self._reset(self.term + 1)
            self.role = CANDIDATE
            self.vote = self.id
            mtype, term = MsgType.VOTE, self.term
        self.votes = {self.id: True}
        if P.vote_result(self.voters, self.votes) == "won":
            self._won_vote()
            return
        context = _TRANSFER if transfer else b""
        for peer in sorted(self.voters - {self.id}):
            self._send(Message(mtype, self.id, peer, term, log_term=self.log.last_term,
                               index=self.log.last_index, context=context))

    def _won_vote(self):
        if self.role == PRE_CANDIDATE:
            self._campaign(pre_vote_passed=True)   # the real election
        else:
            self._become_leader()

    # -- messages by role -----------------------------------------------------------------------

    def _step_vote_request(self, m):
        pre = m.type == MsgType.PRE_VOTE
        resp = MsgType.PRE_VOTE_RESP if pre else MsgType.VOTE_RESP
        can_vote = (self.vote == m.src
                    or (self.vote == NONE and self.leader == NONE)
                    or (pre and m.term > self.term))
        up_to_date = ("vote-without-log-check" in self._bugs
                      or self.log.is_up_to_date(m.index, m.log_term))
        if can_vote and up_to_date and self.promotable:
            self._send(Message(resp, self.id, m.src, m.term))
            if not pre:
                self.election_elapsed = 0
                self.vote = m.src
        else:
            self._send(Message(resp, self.id, m.src, self.term, reject=True))

    def _step_candidate(self, m):
        t = m.type
        if t in (MsgType.APPEND, MsgType.HEARTBEAT, MsgType.SNAPSHOT):
            self._become_follower(m.term, m.src)
            self._step_follower(m)
        elif (t == MsgType.PRE_VOTE_RESP and self.role == PRE_CANDIDATE) or (
                t == MsgType.VOTE_RESP and self.role == CANDIDATE):
            self.votes[m.src] = not m.reject
            result = P.vote_result(self.voters, self.votes)
            if result == "won":
                self._won_vote()
            elif result == "lost":
                self._become_follower(self.term, NONE)

    def _step_follower(self, m):
        t = m.type
        if t == MsgType.APPEND:
            self.election_elapsed = 0
            self.leader = m.src
            self._handle_append(m)
        elif t == MsgType.HEARTBEAT:
            self.election_elapsed = 0
            self.leader = m.src
            self.log.commit_to(min(m.commit, self.log.last_index))
            self._send(Message(MsgType.HEARTBEAT_RESP, self.id, m.src, self.term,
                               context=m.context))
        elif t == MsgType.SNAPSHOT:
            self.election_elapsed = 0
            self.leader = m.src
            self._handle_snapshot(m)
        elif t == MsgType.TIMEOUT_NOW:
            if self.promotable:
                self._campaign(transfer=True)
        elif t == MsgType.READ_INDEX_RESP:
            self._read_states.append(ReadState(m.context, m.index))

    def _handle_append(self, m):
        log = self.log
        if m.index < log.committed:
            self._send(Message(MsgType.APPEND_RESP, self.id, m.src, self.term, index=log.committed))
            return
        last = log.maybe_append(m.index, m.log_term, m.entries)
        if last is not None:
            log.commit_to(min(m.commit, last))
            self._send(Message(MsgType.APPEND_RESP, self.id, m.src, self.term, index=last))
        else:
            hint = log.conflict_hint(m.index, m.log_term)
            self._send(Message(MsgType.APPEND_RESP, self.id, m.src, self.term, index=m.index,
                               reject=True, reject_hint=hint, log_term=log.term(hint) or 0))

    def _handle_snapshot(self, m):
        meta = m.snapshot
        log = self.log
        if meta.index <= log.committed:
            self._send(Message(MsgType.APPEND_RESP, self.id, m.src, self.term, index=log.committed))
            return
        if log.matches(meta.index, meta.term):
            log.commit_to(meta.index)
            self._send(Message(MsgType.APPEND_RESP, self.id, m.src, self.term, index=meta.index))
            return
        if m.snapshot_data is None:
            raise InvalidMessage("snapshot %d arrived without its data" % meta.index)
        log.restore(meta)
        self._snapshot_to_install = (meta, m.snapshot_data)
        self._send(Message(MsgType.APPEND_RESP, self.id, m.src, self.term, index=meta.index))

    def _step_leader(self, m):
        pr = self.progress.get(m.src)
        t = m.type
        if t == MsgType.APPEND_RESP:
            pr.last_heard_tick = self.leader_ticks
            if m.reject:
                self._handle_reject(m, pr)
            else:
                self._handle_ack(m, pr)
        elif t == MsgType.HEARTBEAT_RESP:
            pr.last_heard_tick = self.leader_ticks
            pr.probe_sent = False
            if pr.state == P.REPLICATE and pr.match < self.log.last_index:
                # Alive, yet no progress over several heartbeats: appends were lost. Probe again.
                if pr.match == pr.match_at_heartbeat:
                    pr.stalled_heartbeats += 1
                    if pr.stalled_heartbeats >= STALLED_HEARTBEATS:
                        pr.become_probe()
                else:
                    pr.match_at_heartbeat = pr.match
                    pr.stalled_heartbeats = 0
            if pr.match < self.log.last_index:
                self._send_append(m.src, pr)
            if m.context:
                self._read_ack(m.context, m.src)
        elif t == MsgType.READ_INDEX:
            self._leader_read(m.context, m.src)

    def _handle_reject(self, m, pr):
        if pr.state == P.SNAPSHOT:
            return
        if pr.state == P.REPLICATE:
            if m.index <= pr.match:
                return   # stale
        elif m.index != pr.next - 1:
            return       # stale probe answer
        if m.reject_hint < pr.match:
            # The peer's log ends below what it acknowledged: its disk lost acknowledged entries
            # (a lying fsync, a damaged tail). Back up to what it has, or we would probe past the
            # gap forever; lowering match never uncommits anything.
            pr.match = m.reject_hint
        hint = self.log.conflict_hint(m.reject_hint, m.log_term)
        pr.become_probe()
        pr.next = max(pr.match + 1, min(m.index, hint + 1))
        self._send_append(m.src, pr)

    def _handle_ack(self, m, pr):
        was_paused = pr.is_paused(self.cfg.max_inflight)
        if not pr.maybe_update(m.index):
            if pr.state == P.REPLICATE:
                pr.free_inflight_to(m.index)
            return
        if pr.state == P.PROBE:
            pr.become_replicate()
        elif pr.state == P.SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_replicate()
        elif pr.state == P.REPLICATE:
            pr.free_inflight_to(m.index)
        if self._maybe_commit():
            self._append_dirty = True
        elif was_paused or pr.match < self.log.last_index:
            self._send_append(m.src, pr)
        if m.src == self.transferee and pr.match == self.log.last_index:
            self._send(Message(MsgType.TIMEOUT_NOW, self.id, m.src, self.term))

    # -- leader machinery -----------------------------------------------------------------------

    def _tick_leader(self):
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        self.leader_ticks += 1
        if self.cfg.check_quorum and not self._quorum_recently_heard():
            self._become_follower(self.term, NONE)
            return
        if self.election_elapsed >= self.cfg.election_ticks:
            self.election_elapsed = 0
            self.transferee = NONE   # a transfer that has not happened in a timeout is abandoned
            for pr in self.progress.values():
                if pr.state == P.SNAPSHOT:
                    pr.become_probe()   # no answer to the snapshot in a whole timeout: try again
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            context = self.pending_reads[-1].context if self.pending_reads else b""
            self._broadcast_heartbeat(context)

    def _quorum_recently_heard(self):
        """Check-quorum: have a quorum of voters (us included) spoken within an election timeout?"""
        since = self.leader_ticks - self.cfg.election_ticks
        heard = {self.id}
        for peer, pr in self.progress.items():
            if pr.last_heard_tick > since and not pr.is_learner:
                heard.add(peer)
        return P.has_quorum(self.voters, heard)

    def _broadcast_heartbeat(self, context):
        committed = self.log.committed
        for peer, pr in self.progress.items():
            self._send(Message(MsgType.HEARTBEAT, self.id, peer, self.term,
                               commit=min(pr.match, committed), context=context))

    def _send_append(self, peer, pr, allow_empty=False):
        if pr.is_paused(self.cfg.max_inflight):
            return False
        log = self.log
        if pr.next > log.last_index + 1:
            pr.next = log.last_index + 1
        prev = pr.next - 1
        prev_term = log.term(prev)
        if prev_term is None:
            # The peer needs entries we have compacted: send the snapshot instead.
            meta = log.snapshot
            self._send(Message(MsgType.SNAPSHOT, self.id, peer, self.term, snapshot=meta))
            pr.become_snapshot(meta.index)
            return True
        if pr.next <= log.last_index:
            entries = tuple(log.slice(pr.next, log.last_index, self.cfg.max_append_bytes))
        else:
            entries = ()
        if not entries and not allow_empty:
            return False
        self._send(Message(MsgType.APPEND, self.id, peer, self.term, log_term=prev_term,
                           index=prev, entries=entries, commit=log.committed))
        pr.sent(entries[-1].index if entries else prev)
        return True

    def _maybe_commit(self):
        log = self.log
        if "commit-without-quorum" in self._bugs:
            index = log.persisted
        else:
            progress = self.progress
            index = P.committed_index(
                self.voters, lambda v: log.persisted if v == self.id else progress[v].match)
        if index <= log.committed:
            return False
        if log.term(index) != self.term and "no-term-check-on-commit" not in self._bugs:
            return False   # §5.4.2: only entries of our own term are committed by counting
        was_committed_in_term = log.term(log.committed) == self.term
        log.commit_to(index)
        if not was_committed_in_term:
            waiting, self._reads_before_commit = self._reads_before_commit, []
            for context, origin in waiting:
                self._leader_read(context, origin)
        return True

    def _leader_read(self, context, origin):
        log = self.log
        if log.term(log.committed) != self.term:
            # Until an entry of our term commits we do not know the true commit index.
            self._reads_before_commit.append((context, origin))
            return
        if len(self.voters) == 1 or "read-index-without-quorum" in self._bugs:
            self._deliver_read(context, log.committed, origin)
            return
        self.pending_reads.append(_ReadRequest(context, log.committed, origin, {self.id}))
        self._broadcast_heartbeat(context)

    def _read_ack(self, context, peer):
        if peer not in self.voters:
            return
        reads = self.pending_reads
        position = None
        for i in range(len(reads) - 1, -1, -1):
            if reads[i].context == context:
                position = i
                break
        if position is None:
            return
        # An ack for a later request confirms every earlier one too.
        for i in range(position + 1):
            reads[i].acks.add(peer)
        done = 0
        while done < len(reads) and P.has_quorum(self.voters, reads[done].acks):
            done += 1
        for request in reads[:done]:
            self._deliver_read(request.context, request.index, request.origin)
        del reads[:done]

    def _deliver_read(self, context, index, origin):
        if origin == self.id:
            self._read_states.append(ReadState(context, index))
        else:
            self._send(Message(MsgType.READ_INDEX_RESP, self.id, origin, self.term,
                               index=index, context=context))

    def _send(self, m):
        if m.type in _EARLY and self.role == LEADER:
            self._early.append(m)
        else:
            self._msgs.append(m)
