"""Scripted Raft scenarios, one guarantee each, named after what they show."""

import random

import pytest

from coord.consensus.messages import NONE, Entry, HardState, Message, MsgType, SnapshotMeta
from coord.consensus.raft import InvalidMessage, NotLeader, RaftConfig, RaftNode
from tests.consensus.helpers import Net


def test_a_member_elects_itself_after_the_election_timeout_and_replicates():
    net = Net(3)
    leader = net.elect(1)
    assert leader.term == 1
    assert net.nodes[2].leader == 1 and net.nodes[3].leader == 1
    index = net.propose(1, b"x")
    net.stabilize()
    for i in (1, 2, 3):
        assert net.data_applied(i) == [b"x"]
    assert index == 2   # index 1 is the new leader's NOOP


def test_no_election_before_the_randomized_timeout():
    net = Net(3)
    node = net.nodes[1]
    for _ in range(node.cfg.election_ticks - 1):
        node.tick()
    assert node.elections_started == 0


def test_single_member_commits_alone():
    net = Net(1)
    net.tick(1, 30)
    assert net.nodes[1].role == "leader"
    net.propose(1, b"a")
    net.pump(1)
    assert net.data_applied(1) == [b"a"]


def test_pre_vote_keeps_a_rejoining_member_from_disrupting_the_leader():
    net = Net(3)
    net.elect(1)
    net.isolate(3)
    for _ in range(100):              # node 3 campaigns over and over while cut off
        net.tick(3)
        net.deliver()
    assert net.nodes[3].term == 1     # pre-votes never raised its term
    net.heal()
    for _ in range(5):
        net.tick(1)
        net.stabilize()
    assert net.nodes[1].role == "leader" and net.nodes[1].term == 1
    assert net.nodes[3].leader == 1


def test_without_pre_vote_a_rejoining_member_raises_the_term():
    net = Net(3, config=RaftConfig(pre_vote=False, check_quorum=False))
    net.elect(1)
    net.isolate(3)
    for _ in range(60):
        net.tick(3)
        net.deliver()
    assert net.nodes[3].term > 1      # the contrast that shows what pre-vote prevents


def test_members_in_lease_ignore_vote_requests():
    net = Net(3)
    net.elect(1)
    net.tick(1)
    net.stabilize()
    vote = Message(MsgType.VOTE, 3, 2, term=5, log_term=1, index=100)
    net.nodes[2].step(vote)
    assert net.nodes[2].term == 1 and net.types() == []


def test_check_quorum_deposes_a_leader_that_hears_nobody():
    net = Net(3)
    leader = net.elect(1)
    net.isolate(1)
    for _ in range(leader.cfg.election_ticks + 1):
        net.tick(1)
        net.deliver()
    assert leader.role == "follower" and leader.leader == NONE
    with pytest.raises(NotLeader):
        leader.propose(b"lost")


def test_a_hung_leader_is_replaced_and_steps_down_when_it_wakes():
    net = Net(3)
    net.elect(1)
    net.drop(lambda m: True)
    # Node 1 is frozen: it neither ticks nor receives. The others time out and elect.
    for _ in range(40):
        net.tick(2)
        net.tick(3)
        net.deliver(lambda m: m.dst != 1 and m.src != 1)
        if any(net.nodes[i].role == "leader" for i in (2, 3)):
            break
    new = [i for i in (2, 3) if net.nodes[i].role == "leader"]
    assert new and net.nodes[new[0]].term == 2
    net.tick(1)           # wakes up, still believing it leads term 1
    net.stabilize()       # its heartbeats are answered with term 2
    assert net.nodes[1].role == "follower" and net.nodes[1].term == 2


def test_leader_unreachable_campaigns_within_a_few_ticks():
    net = Net(3)
    net.elect(1)
    node = net.nodes[2]
    node.leader_unreachable()
    started = node.elections_started
    for ticks in range(1, node.cfg.fast_campaign_ticks + 1):
        node.tick()
        if node.elections_started > started:
            break
    assert node.elections_started > started and ticks <= node.cfg.fast_campaign_ticks
    assert node.role == "pre-candidate"


def test_votes_only_for_logs_at_least_as_up_to_date():
    node = RaftNode(2, [1, 2, 3], rng=random.Random(1),
                    hard_state=HardState(term=2), entries=[Entry(1, 1), Entry(2, 2)])
    node.step(Message(MsgType.VOTE, 1, 2, term=3, log_term=1, index=5))   # older last term
    node.step(Message(MsgType.VOTE, 3, 2, term=3, log_term=2, index=1))   # shorter
    rd = node.take_ready()
    assert [m.reject for m in rd.messages] == [True, True]
    assert node.vote == NONE
    node.step(Message(MsgType.VOTE, 3, 2, term=3, log_term=2, index=2))
    rd = node.take_ready()
    assert [m.reject for m in rd.messages] == [False] and node.vote == 3
    assert rd.hard_state.vote == 3   # the vote is in the Ready to persist before the answer


def test_follower_truncates_a_conflicting_uncommitted_suffix():
    net = Net(3)
    net.elect(1)
    net.isolate(1)
    net.propose(1, b"doomed-1")     # only on node 1
    net.propose(1, b"doomed-2")
    net.deliver()
    for _ in range(40):
        net.tick(2)
        net.tick(3)
        net.deliver()
        if net.nodes[2].role == "leader" or net.nodes[3].role == "leader":
            break
    new = 2 if net.nodes[2].role == "leader" else 3
    net.propose(new, b"kept")
    net.stabilize()
    net.heal()
    for _ in range(30):
        net.tick(new)
        net.tick(1)
        net.stabilize()
    assert net.data_applied(1) == [b"kept"]
    log = net.nodes[1].log
    assert [log.entry(i).data for i in range(1, log.last_index + 1)
            if log.entry(i).data] == [b"kept"]


def test_commit_only_by_counting_entries_of_the_current_term():
    # Raft paper figure 8: an old-term entry on a majority must not count as committed.
    cfg = RaftConfig(election_ticks=10)
    s1 = RaftNode(1, [1, 2, 3], config=cfg, rng=random.Random(1),
                  hard_state=HardState(term=3, vote=1), entries=[Entry(1, 1), Entry(2, 2)])
    # s1 was leader of term 2 (wrote index 2), lost, and is now elected in term 3 (forced here).
    s1._campaign(pre_vote_passed=True)
    s1.step(Message(MsgType.VOTE_RESP, 2, 1, term=4))
    assert s1.role == "leader" and s1.term == 4
    s1.take_ready()
    # Follower 2 has index 1 only; it accepts index 2 (term 2) but not yet the NOOP of term 4.
    s1.step(Message(MsgType.APPEND_RESP, 2, 1, term=4, index=2))
    s1.persisted(s1.take_ready())
    assert s1.log.committed == 0    # index 2 is on a majority, but its term is 2, not 4
    s1.step(Message(MsgType.APPEND_RESP, 2, 1, term=4, index=3))
    s1.take_ready()
    assert s1.log.committed == 3    # the NOOP of term 4 commits, and index 2 with it


def test_planted_no_term_check_commits_an_old_term_entry():
    cfg = RaftConfig(election_ticks=10, planted_bugs=frozenset({"no-term-check-on-commit"}))
    s1 = RaftNode(1, [1, 2, 3], config=cfg, rng=random.Random(1),
                  hard_state=HardState(term=3, vote=1), entries=[Entry(1, 1), Entry(2, 2)])
    s1._campaign(pre_vote_passed=True)
    s1.step(Message(MsgType.VOTE_RESP, 2, 1, term=4))
    s1.take_ready()
    s1.step(Message(MsgType.APPEND_RESP, 2, 1, term=4, index=2))
    s1.persisted(s1.take_ready())
    assert s1.log.committed == 2    # the switch really turns the rule off


def test_leader_counts_itself_only_once_its_own_log_is_durable():
    net = Net(3)
    leader = net.elect(1)
    index = leader.propose(b"x")
    rd = leader.take_ready()
    assert rd.entries and rd.early_messages     # appends may leave before our own fsync
    for m in rd.early_messages:
        net.nodes[m.dst].step(m)
    acks = []
    for i in (2, 3):
        r = net.nodes[i].take_ready()
        net.nodes[i].persisted(r)
        acks.extend(r.messages)
    leader.step(acks[0])                          # one follower + not-yet-durable leader: 1 of 3
    assert leader.log.committed < index
    leader.step(acks[1])                          # two followers: a quorum without the leader
    assert leader.log.committed == index


def test_read_index_needs_a_quorum_heartbeat_round():
    net = Net(3)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    net.nodes[1].read_index(b"ctx")
    net.pump(1)
    assert net.read_states[1] == []
    net.deliver()           # heartbeats out
    net.deliver()           # answers back
    [rs] = net.read_states[1]
    assert rs.context == b"ctx" and rs.index == net.nodes[1].log.committed


def test_read_index_from_a_follower_is_answered_by_the_leader():
    net = Net(3)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    assert net.nodes[3].read_index(b"r3")
    net.stabilize()
    [rs] = net.read_states[3]
    assert rs.context == b"r3" and rs.index == 2   # NOOP at 1, "x" at 2


def test_a_deposed_leader_cannot_answer_read_index():
    net = Net(3)
    net.elect(1)
    net.isolate(1)
    net.nodes[1].read_index(b"stale")
    for _ in range(30):
        net.tick(1)
        net.deliver()
    assert net.read_states[1] == []


def test_read_index_waits_for_the_first_commit_of_the_term():
    net = Net(3)
    net.campaign(1)
    leader = net.nodes[1]
    for _ in range(6):   # elect, but hold back every append so the NOOP stays uncommitted
        net.deliver(lambda m: m.type not in (MsgType.APPEND, MsgType.APPEND_RESP))
    assert leader.role == "leader" and leader.log.committed < leader.log.last_index
    leader.read_index(b"early")
    net.pump(1)
    assert net.read_states[1] == []
    net.stabilize()
    net.tick(1)
    net.stabilize()
    assert [rs.context for rs in net.read_states[1]] == [b"early"]


def test_leadership_transfer():
    net = Net(3)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    assert net.nodes[1].transfer_leadership(3)
    with pytest.raises(NotLeader):
        net.nodes[1].propose(b"refused during transfer")
    net.stabilize()
    assert net.nodes[3].role == "leader" and net.nodes[1].role == "follower"
    net.propose(3, b"y")
    net.stabilize()
    assert net.data_applied(1) == [b"x", b"y"]


def test_a_far_behind_follower_gets_a_snapshot():
    net = Net(3)
    net.elect(1)
    net.isolate(3)
    for i in range(5):
        net.propose(1, b"%d" % i)
        net.stabilize()
    leader = net.nodes[1]
    applied = leader.log.applied
    meta = SnapshotMeta(applied, leader.log.term(applied), (1, 2, 3))
    leader.compact(meta)
    net.snapshot_data[1] = b"tree at %d" % applied
    net.heal()
    for _ in range(8):    # appends lost while cut off are noticed after a few stalled heartbeats
        net.tick(1)
        net.stabilize()
    assert net.installed[3] == [(meta, b"tree at %d" % applied)]
    assert net.nodes[3].log.committed >= applied
    net.propose(1, b"after")
    net.stabilize()
    assert net.nodes[3].log.entry(net.nodes[3].log.last_index).data == b"after"


def test_learners_replicate_but_never_vote_or_campaign():
    net = Net(3, learners=1)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    assert net.data_applied(4) == [b"x"]
    for _ in range(100):
        net.nodes[4].tick()
    assert net.nodes[4].elections_started == 0
    net.isolate(2)
    net.isolate(3)      # the leader and the learner alone are not a quorum
    net.cut(1, 4)
    net.heal()
    net.isolate(2)
    net.isolate(3)
    before = net.nodes[1].log.committed
    net.propose(1, b"y")
    net.stabilize()
    assert net.nodes[1].log.committed == before


def test_messages_from_strangers_are_refused():
    node = RaftNode(1, [1, 2, 3], rng=random.Random(1))
    with pytest.raises(InvalidMessage):
        node.step(Message(MsgType.APPEND, 9, 1, term=1))
    with pytest.raises(InvalidMessage):
        node.step(Message(MsgType.APPEND, 2, 3, term=1))
    with pytest.raises(InvalidMessage):
        node.step(Message(MsgType.APPEND, 2, 1, term=1, index=4, entries=(Entry(1, 9),)))
    assert node.term == 0


def test_stale_term_messages_are_not_applied():
    net = Net(3)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    node = net.nodes[2]
    before = (node.term, node.log.last_index)
    node.step(Message(MsgType.APPEND, 3, 2, term=0, index=1, log_term=1,
                      entries=(Entry(0, 2, data=b"evil"),), commit=2))
    assert (node.term, node.log.last_index) == before
    assert node.log.entry(2).data == b"x"


def test_a_log_newer_than_the_stored_term_raises_the_term():
    # Entries of term 3 reached the disk, the term did not (a crash between the two writes).
    node = RaftNode(1, [1, 2, 3], rng=random.Random(1), hard_state=HardState(term=2, vote=1),
                    entries=[Entry(1, 1), Entry(3, 2)])
    assert node.term == 3 and node.vote == NONE


def test_a_follower_that_lost_acknowledged_entries_is_caught_up_again():
    # A disk that lost the tail of the log after acknowledging it (a lying fsync, or the jepsen
    # disk nemesis): the follower restarts with a shorter log than the leader's match for it.
    # The leader must back up below that match instead of probing past the gap forever.
    net = Net(3)
    net.elect(1)
    for i in range(3):
        net.propose(1, b"%d" % i)
        net.stabilize()
    old = net.nodes[3]
    entries = [old.log.entry(i) for i in range(1, old.log.last_index)]   # the last one lost
    net.nodes[3] = RaftNode(3, net.voters, config=net.config, rng=random.Random(3),
                            hard_state=HardState(old.term, old.vote, old.log.committed), entries=entries)
    net.propose(1, b"after")
    for _ in range(8):
        net.tick(1)
        net.stabilize()
    follower = net.nodes[3].log
    assert follower.last_index == net.nodes[1].log.last_index
    assert follower.entry(follower.last_index).data == b"after"
