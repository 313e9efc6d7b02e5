"""Planted bugs are caught: coord runs with one guarantee switched off (coord/planted_bugs.py), the
matching workload and nemesis run against it, and the checker must say "not valid"; the same run
without the bug must say "valid". Short runs by default, longer ones (and the no-bug twins of each)
under ``-m slow``.

| planted bug                 | workload  | nemesis          | what the checker sees                    |
|-----------------------------|-----------|------------------|------------------------------------------|
| ack-before-quorum           | set       | partition-leader | acknowledged adds missing from the final read (lost) |
| stale-leader-reads          | register  | partition-leader | a synced read of a value already overwritten (not linearizable) |
| ephemerals-outlive-expiry   | ephemeral | none / kill      | a node read after its session was seen to expire (outlived) |
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from coord import config as coord_config
from coord.planted_bugs import ALLOW_ENV, PLANTED_BUGS
from jepsen_like.runner import RunConfig, RunImpossible, run
from tests.jepsen.test_runs import ROOT, assert_run_dir, require_netns

CASES = {
    "ack-before-quorum": dict(workload="set", nemesis="partition-leader", checker="set", counter="lost"),
    "stale-leader-reads": dict(workload="register", nemesis="partition-leader", checker="linearizability",
                               counter=None),
    "ephemerals-outlive-expiry": dict(workload="ephemeral", nemesis="none", checker="ephemerals", counter="outlived"),
}


def ensemble_run(tmp_path, bug, *, time_s, seed, nemesis=None, name="run", fault_s=3.0, client="kazoo"):
    require_netns()
    case = CASES[bug]
    config = RunConfig(system="coord", nodes=3, workload=case["workload"], nemesis=nemesis or case["nemesis"],
                       time_s=time_s, concurrency=6, seed=seed, out=tmp_path / name, progress=False,
                       quiet_s=1.0, fault_s=fault_s, planted_bug=bug, client=client, plots=False)
    return run(config)


def assert_caught(result, bug, client="kazoo") -> None:
    case = CASES[bug]
    text = (result.run_dir / "verdicts.txt").read_text()
    assert result.verdict == "not valid", text
    assert f"PLANTED BUG: {bug}" in text
    record = assert_run_dir(result)
    assert record["planted_bug"] == bug and f"--planted-bug {bug}" in record["command"]
    assert record["client"] == client and (client == "kazoo") == ("--client" not in record["command"])
    check = next(c for c in record["checks"] if c["checker"] == case["checker"])
    assert check["verdict"] == "not valid", text
    if case["counter"] is not None:
        assert check["counts"][case["counter"]] > 0, text
    # The members said so, loudly, in their logs.
    log = (result.run_dir / "nodes" / "n1" / "coord.log").read_text()
    assert f"PLANTED BUG {bug} IS ON" in log


# Planted bugs caught outside jepsen_like, by the test named.
CAUGHT_ELSEWHERE = {
    "unbounded-client-output": "tests/server/test_limits.py::"
                               "test_without_the_output_window_the_same_client_grows_the_servers_memory",
}


def test_every_planted_bug_has_a_catching_test():
    assert set(CASES) | set(CAUGHT_ELSEWHERE) == set(PLANTED_BUGS)
    for test in CAUGHT_ELSEWHERE.values():
        path, name = test.split("::")
        assert "def %s(" % name in open(os.path.join(ROOT, path)).read()


def test_a_planted_bug_needs_the_key_and_the_environment(monkeypatch):
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    with pytest.raises(coord_config.ConfigError, match=f"tests only.*{ALLOW_ENV}=yes"):
        coord_config.parse_zoo_cfg("coord.plantedBug=ack-before-quorum\n").finish()
    monkeypatch.setenv(ALLOW_ENV, "1")  # anything but the exact word is not consent
    with pytest.raises(coord_config.ConfigError):
        coord_config.parse_zoo_cfg("coord.plantedBug=stale-leader-reads\n").finish()
    monkeypatch.setenv(ALLOW_ENV, "yes")
    assert coord_config.parse_zoo_cfg("coord.plantedBug=stale-leader-reads\n").finish().planted_bugs == (
        "stale-leader-reads",)
    with pytest.raises(coord_config.ConfigError, match="unknown planted bug.*no-such-bug"):
        coord_config.parse_zoo_cfg("coord.plantedBug=no-such-bug\n").finish()
    # Nothing is planted by default, whatever the environment says.
    assert coord_config.parse_zoo_cfg("tickTime=2000\n").finish().planted_bugs == ()


def test_a_real_server_refuses_to_start_with_a_bug_but_no_consent(tmp_path):
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"dataDir={tmp_path / 'data'}\nclientPort=0\nclientPortAddress=127.0.0.1\n"
                   "coord.plantedBug=ack-before-quorum\n")
    env = {k: v for k, v in os.environ.items() if k != ALLOW_ENV}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-m", "coord", "server", "--config", str(cfg)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert ALLOW_ENV in done.stderr


def test_planted_bugs_are_refused_for_zookeeper(tmp_path):
    with pytest.raises(RunImpossible, match="ZooKeeper has none"):
        run(RunConfig(system="zookeeper", nodes=1, out=tmp_path / "zk", progress=False, planted_bug="ack-before-quorum"))


# ack-before-quorum's short run takes about 30 s (the ensemble heals from diverged logs), so it is
# under -m slow with the longer runs, to keep the default suite's share near a minute. Through
# kazoo, and one (the cheapest) through coord's own client too: the checkers catch it either way.
@pytest.mark.timeout(360)
@pytest.mark.parametrize("bug,client", [
    *(pytest.param(bug, "kazoo", marks=[pytest.mark.slow] if bug == "ack-before-quorum" else [])
      for bug in sorted(CASES)),
    ("ephemerals-outlive-expiry", "coord"),
])
def test_planted_bug_is_caught(tmp_path, bug, client):
    """Caught within three short runs: a 6-second run does not always hit the window (a stale read
    needs a read at the deposed leader after a write elsewhere), so each miss tries another seed."""
    for attempt, seed in enumerate((11, 12, 13)):
        # A stale read needs the majority to elect a leader and write while the old one is cut
        # off: on a loaded machine a 3 s partition could end before that (seen: three misses).
        long_fault = bug == "stale-leader-reads"
        result = ensemble_run(tmp_path, bug, time_s=8.0 if long_fault else 6.0, seed=seed,
                              fault_s=5.0 if long_fault else 3.0, name="run%d" % attempt, client=client)
        if result.verdict == "not valid" or attempt == 2:
            break
    assert_caught(result, bug, client)


# -- longer: several seeds, the other nemeses, and the same runs without the bug -----------------


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("bug", sorted(CASES))
def test_planted_bug_is_caught_on_longer_runs(tmp_path, bug, seed):
    nemesis = "kill" if bug == "ephemerals-outlive-expiry" else None
    assert_caught(ensemble_run(tmp_path, bug, time_s=20.0, seed=seed, nemesis=nemesis), bug)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("bug", sorted(CASES))
def test_the_same_runs_without_the_bug_are_valid(tmp_path, bug):
    require_netns()
    case = CASES[bug]
    result = run(RunConfig(system="coord", nodes=3, workload=case["workload"], nemesis=case["nemesis"], time_s=20.0,
                           concurrency=6, seed=1, out=tmp_path / "run", progress=False, quiet_s=1.0, fault_s=3.0))
    assert result.verdict == "valid", (result.run_dir / "verdicts.txt").read_text()
    record = json.loads((result.run_dir / "results.json").read_text())
    assert "planted_bug" not in record
