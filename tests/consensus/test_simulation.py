"""Seeded simulation of whole ensembles under faults; every failure names its seed.

Reproduce a failure with ``Simulation(seed, voters=..., learners=...).run_swarm()`` (see
coord/testing/sim.py). The default suite runs a few hundred seeds; ``-m slow`` runs thousands.
"""

import pytest

from coord.consensus.raft import RaftConfig
from coord.testing.sim import FaultOptions, InvariantViolation, Simulation

SHAPES = [(3, 0), (5, 1)]   # (voters, learners)


def run_seeds(seeds, voters, learners, **kw):
    for seed in seeds:
        Simulation(seed, voters=voters, learners=learners, **kw).run_swarm(
            fault_ms=2000, heal_ms=4000)


@pytest.mark.parametrize("voters,learners", SHAPES)
@pytest.mark.parametrize("chunk", range(5))
def test_swarm(chunk, voters, learners):
    run_seeds(range(chunk * 30, chunk * 30 + 30), voters, learners)


@pytest.mark.parametrize("voters,learners", [(1, 0), (2, 0), (4, 0)])
def test_swarm_other_sizes(voters, learners):
    run_seeds(range(40), voters, learners)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("voters,learners", SHAPES + [(1, 0), (2, 0), (4, 0), (7, 2)])
def test_swarm_many(voters, learners):
    run_seeds(range(1000, 3500), voters, learners)


def test_same_seed_same_run():
    traces = []
    for _ in range(2):
        sim = Simulation(42, voters=3, trace=True)
        sim.run_swarm(fault_ms=1000, heal_ms=3000)
        traces.append(sim.trace_lines)
    assert traces[0] == traces[1] and len(traces[0]) > 100


# A fault mix that exercises elections, reads and snapshots hard; the planted-bug tests use it.
HARSH = dict(max_delay_ms=30, loss=0.05, partition_rate=0.3, crash_rate=0.05, pause_rate=0.05,
             proposal_rate=0.5, read_rate=0.5, snapshot_every=20)


@pytest.mark.parametrize("bug", ["commit-without-quorum", "vote-without-log-check",
                                 "read-index-without-quorum"])
def test_planted_bug_is_caught(bug):
    """Switching off one guarantee makes some seed fail: the simulation can see it break."""
    config = RaftConfig(planted_bugs=frozenset({bug}))
    for seed in range(100):
        sim = Simulation(seed, voters=3, opts=FaultOptions(**HARSH), raft_config=config)
        try:
            sim.run_swarm(fault_ms=2000, heal_ms=3000)
        except InvariantViolation:
            return
    pytest.fail("planted bug %r went unnoticed for 100 seeds" % bug)


def test_the_harsh_mix_passes_without_planted_bugs():
    for seed in range(30):
        Simulation(seed, voters=3, opts=FaultOptions(**HARSH)).run_swarm(
            fault_ms=2000, heal_ms=3000)
