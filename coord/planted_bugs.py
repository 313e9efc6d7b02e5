"""Planted bugs: test-only switches that break one of coord's guarantees on purpose.

Why they exist: a fault-injection suite that never reports a failure proves nothing. Each switch
here turns off one guarantee in a real server process, and ``tests/jepsen/test_planted_bugs.py``
runs the matching jepsen_like workload and nemesis against a real ensemble and asserts that the
checker reports the history invalid (and valid with nothing planted). See docs/jepsen.md.

They can never be on by accident: a zoo.cfg key ``coord.plantedBug=NAME[,NAME]`` names them, *and*
the process must have ``COORD_ALLOW_PLANTED_BUGS=yes`` in its environment; either alone refuses
to start with a ConfigError. A server running with one logs it as an error at start.

=============================  ===========================================================  ======
name                           what breaks                                                  where
=============================  ===========================================================  ======
``ack-before-quorum``          the leader commits (applies and acknowledges) an entry once   raft
                               it is on its own disk, without a quorum
``stale-leader-reads``         a deposed leader keeps serving ``sync`` as current: no        raft
                               quorum round for a read index, and no check-quorum step-down
``ephemerals-outlive-expiry``  a session the leader expires is closed, but its ephemerals    server
                               are not deleted (an explicit closeSession still deletes them)
``unbounded-client-output``    no output window: a client that never reads its replies     server
                               makes the server hold all of them (tests/server/test_limits.py)
=============================  ===========================================================  ======
"""

import os

ALLOW_ENV = "COORD_ALLOW_PLANTED_BUGS"
ALLOW_VALUE = "yes"

ACK_BEFORE_QUORUM = "ack-before-quorum"
STALE_LEADER_READS = "stale-leader-reads"
EPHEMERALS_OUTLIVE_EXPIRY = "ephemerals-outlive-expiry"
UNBOUNDED_CLIENT_OUTPUT = "unbounded-client-output"
PLANTED_BUGS = (ACK_BEFORE_QUORUM, STALE_LEADER_READS, EPHEMERALS_OUTLIVE_EXPIRY,
                UNBOUNDED_CLIENT_OUTPUT)


def check(names, environ=None):
    """Raise ValueError unless every name is a planted bug and the environment allows them."""
    environ = os.environ if environ is None else environ
    unknown = sorted(set(names) - set(PLANTED_BUGS))
    if unknown:
        raise ValueError("unknown planted bug(s) %s; known: %s" % (", ".join(unknown), ", ".join(PLANTED_BUGS)))
    if names and environ.get(ALLOW_ENV) != ALLOW_VALUE:
        raise ValueError("coord.plantedBug=%s breaks coord's guarantees on purpose and is for tests "
                         "only; the process also needs %s=%s in its environment"
                         % (",".join(names), ALLOW_ENV, ALLOW_VALUE))


def raft_settings(names):
    """RaftConfig keyword arguments for the consensus-level planted bugs."""
    settings = {}
    bugs = set()
    if ACK_BEFORE_QUORUM in names:
        bugs.add("commit-without-quorum")
    if STALE_LEADER_READS in names:
        bugs.add("read-index-without-quorum")
        settings["check_quorum"] = False   # or the deposed leader would step down within a timeout
    if bugs:
        settings["planted_bugs"] = frozenset(bugs)
    return settings
