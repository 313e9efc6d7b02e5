"""Real runs: each workload against standalone coord, a 3-node Apache ZooKeeper ensemble in network
namespaces under kill and partition nemeses, and runs that must come out invalid.

Every run here is a real ensemble of real processes, driven through kazoo (the default client) or,
where a test says so, through coord's own client (``--client coord``: the standalone runs of each
workload and the command-line run); the verdicts come from the same checkers
`python -m jepsen_like check` uses. Short by default (a few seconds of workload
each); the long ones with every nemesis are under ``-m slow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jepsen_like.cli import main as cli_main
from jepsen_like.cluster import Ensemble
from jepsen_like.history import read_jsonl
from jepsen_like.nemesis import NEMESES, Nemesis
from jepsen_like.netns import network_unavailable_reason
from jepsen_like.runner import RunConfig, RunImpossible, run
from jepsen_like.workloads import WORKLOADS
from tests.conftest import require_zookeeper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def require_netns() -> None:
    reason = network_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)


def quick(tmp_path, **settings) -> RunConfig:
    # No PNGs (2 s a run): the command-line run below draws them, test_cli_and_report checks them.
    defaults = dict(system="coord", nodes=1, time_s=1.5, concurrency=4, seed=7, out=tmp_path / "run",
                    progress=False, quiet_s=1.0, fault_s=2.0, plots=False)
    defaults.update(settings)
    return RunConfig(**defaults)


def assert_run_dir(result) -> dict:
    """What every run leaves behind: the history with its header, verdicts, the part-1 report."""
    for name in ("history.jsonl", "results.json", "verdicts.txt", "summary.txt", "timeline.html", "index.html"):
        assert (result.run_dir / name).is_file(), name
    record = json.loads((result.run_dir / "results.json").read_text())
    assert record["verdict"] == result.verdict
    assert record["checks"] and all("counts" in check for check in record["checks"])
    assert record["command"].startswith("python -m jepsen_like run")
    return record


# Through coord's own client (kazoo drives the ensemble runs below); sequential runs through the
# command line in test_command_line_run_and_refusals.
@pytest.mark.parametrize("workload", sorted(set(WORKLOADS) - {"sequential"}))
def test_each_workload_against_standalone_coord_through_the_coord_client_is_valid(tmp_path, workload):
    result = run(quick(tmp_path, workload=workload, client="coord"))
    record = assert_run_dir(result)
    assert result.verdict == "valid", (result.run_dir / "verdicts.txt").read_text()
    assert result.exit_code == 0
    assert record["counts"]["ok"] > 20  # real work happened
    assert (result.run_dir / "nodes" / "n1" / "coord.log").is_file()
    assert record["client"] == "coord" and record["command"].endswith("--client coord")
    assert read_jsonl(result.run_dir / "history.jsonl").metadata["client"] == "coord"
    assert "client: coord" in (result.run_dir / "verdicts.txt").read_text()


class KillAndWipe(Nemesis):
    """kill -9 the (only) member and restart it with its data directory deleted: every write
    acknowledged before is gone. Not a fault a correct system survives, which is the point: the
    checker must say so."""

    name = "kill-and-wipe"

    def inject(self, ctx):
        target = ctx.ensemble.names[0]
        ctx.ensemble.kill(target)
        ctx.ensemble.wipe(target)
        ctx.ensemble.start(target)
        return {"wiped": [target]}

    def heal(self, ctx, injected):
        pass


def test_lost_data_shows_up_as_invalid(tmp_path):
    # A real fault, not an edited history: the member loses its data mid-run. The set's parent node
    # goes with it (later adds fail with NoNode, reads see an empty set), so the adds acknowledged
    # before the wipe are not in the final read: "lost".
    result = run(quick(tmp_path, workload="set", nemesis=KillAndWipe(), time_s=2.5, quiet_s=1.0, fault_s=0.5))
    record = assert_run_dir(result)
    assert result.verdict == "not valid", (result.run_dir / "verdicts.txt").read_text()
    assert result.exit_code == 1
    set_check = next(check for check in record["checks"] if check["checker"] == "set")
    assert set_check["counts"]["lost"] > 0
    nemesis_events = read_jsonl(result.run_dir / "history.jsonl").nemesis_events()
    assert nemesis_events and nemesis_events[0].f == "kill-and-wipe"


def test_an_edited_register_history_is_caught(tmp_path, capsys):
    # Take a real valid history and change one read to a value nobody wrote: not linearizable.
    result = run(quick(tmp_path, workload="register"))
    assert result.verdict == "valid"
    path = result.run_dir / "history.jsonl"
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        record = json.loads(line)
        if record.get("type") == "ok" and record.get("f") == "read":
            record["value"] = 99
            lines[number] = json.dumps(record)
            break
    else:
        pytest.fail("no successful read in the history")
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join(lines) + "\n")
    assert cli_main(["check", str(path)]) == 0
    capsys.readouterr()
    assert cli_main(["check", str(edited)]) == 1
    assert capsys.readouterr().out.startswith("not linearizable")


def test_a_coord_ensemble_run_is_valid(tmp_path):
    """A 3-member coord ensemble in network namespaces (the cluster layer refuses, with a clear
    message, a coord that would answer as standalone despite its server.N lines), through kazoo."""
    config = quick(tmp_path, nodes=3, workload="register")
    result = run(config)
    assert result.verdict == "valid"
    record = json.loads((result.run_dir / "results.json").read_text())
    assert record["client"] == "kazoo" and "--client" not in record["command"]


def test_command_line_run_and_refusals(tmp_path):
    out = tmp_path / "cli-run"
    done = subprocess.run([sys.executable, "-m", "jepsen_like", "run", "--system", "coord", "--nodes", "1",
                           "--workload", "sequential", "--time", "1.5", "--concurrency", "3", "--seed", "3",
                           "--client", "coord", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=100)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("valid")
    assert "[run" in done.stderr  # the progress line
    record = json.loads((out / "results.json").read_text())
    assert record["seed"] == 3 and record["client"] == "coord"
    for plot in ("timeline.png", "latency.png", "throughput.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
    # The command printed with the verdict reproduces the run, client included.
    assert "--seed 3 --client coord" in done.stdout.splitlines()[1]
    # A partition needs more than one member.
    refused = subprocess.run([sys.executable, "-m", "jepsen_like", "run", "--system", "coord", "--nodes", "1",
                              "--nemesis", "partition-one", "--time", "1", "--out", str(tmp_path / "refused")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 64
    assert "needs at least 3 members" in refused.stderr


# -- Apache ZooKeeper, 3 members in network namespaces ------------------------------------------


def zookeeper_ensemble_run(tmp_path, **settings):
    require_zookeeper()
    require_netns()
    config = quick(tmp_path, system="zookeeper", nodes=3, **settings)
    return run(config)


def test_zookeeper_register_under_kill_leader(tmp_path):
    result = zookeeper_ensemble_run(tmp_path, workload="register", nemesis="kill-leader", time_s=4.0,
                                    quiet_s=1.0, fault_s=2.0, concurrency=6)
    record = assert_run_dir(result)
    assert result.verdict == "valid", (result.run_dir / "verdicts.txt").read_text()
    assert record["faults_injected"] >= 1 and not record["nemesis_errors"]
    assert "network namespaces" in record["network"]
    history = read_jsonl(result.run_dir / "history.jsonl")
    faults = [event for event in history.nemesis_events() if event.get("fault") == "begin"]
    assert faults and faults[0].f == "kill-leader"
    for name in ("n1", "n2", "n3"):
        assert (result.run_dir / "nodes" / name / "data" / "myid").read_text().strip() == name[1:]


def test_zookeeper_set_under_partition(tmp_path):
    result = zookeeper_ensemble_run(tmp_path, workload="set", nemesis="partition-leader", time_s=5.0,
                                    quiet_s=1.0, fault_s=3.0, concurrency=4)
    record = assert_run_dir(result)
    assert result.verdict == "valid", (result.run_dir / "verdicts.txt").read_text()
    assert record["faults_injected"] >= 1 and not record["nemesis_errors"]
    begin = next(e for e in read_jsonl(result.run_dir / "history.jsonl").nemesis_events() if e.get("fault") == "begin")
    assert len(begin.value["components"]) == 2 and len(begin.value["components"][0]) == 1
    # Nothing left behind: this process's namespaces are gone.
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20).stdout
    assert not [line for line in left.splitlines() if line.startswith(f"jl{os.getpid()}")], left


# -- long runs -----------------------------------------------------------------------------------

SLOW_NEMESES = [n for n in NEMESES if n != "none"]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("nemesis", SLOW_NEMESES)
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_zookeeper_every_workload_and_nemesis(tmp_path, workload, nemesis):
    result = zookeeper_ensemble_run(tmp_path, workload=workload, nemesis=nemesis, time_s=30.0, quiet_s=3.0,
                                    fault_s=5.0, concurrency=6)
    assert result.verdict == "valid", (result.run_dir / "verdicts.txt").read_text()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("nemesis", ["kill", "pause"])
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_standalone_coord_under_process_faults(tmp_path, workload, nemesis):
    result = run(quick(tmp_path, workload=workload, nemesis=nemesis, time_s=20.0, quiet_s=2.0, fault_s=3.0))
    assert result.verdict == "valid", (result.run_dir / "verdicts.txt").read_text()


@pytest.mark.slow
def test_ensemble_api_against_zookeeper_on_loopback(tmp_path):
    """Without namespaces (not root) members share 127.0.0.1 on distinct ports: kill, pause and
    leader discovery still work; partitions are refused with a reason."""
    require_zookeeper()
    ensemble = Ensemble("zookeeper", 3, tmp_path)
    assert not ensemble.partitionable
    try:
        ensemble.start_all()
        leader = ensemble.leader()
        assert leader in ensemble.names
        assert sorted(ensemble.mode(name) for name in ensemble.names) == ["follower", "follower", "leader"]
        ensemble.kill(leader)
        ensemble.start(leader)
        ensemble.wait_healthy(60)
    finally:
        ensemble.stop_all()
    assert not any(ensemble.running(name) for name in ensemble.names)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_suite_table(tmp_path):
    done = subprocess.run([sys.executable, "-m", "jepsen_like", "run", "--suite", "quick", "--system", "coord",
                           "--nodes", "1", "--time", "1.5", "--concurrency", "3", "--seed", "5",
                           "--out", str(tmp_path / "quick")], cwd=ROOT, capture_output=True, text=True, timeout=880)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.splitlines()
    assert table[0].split()[:3] == ["workload", "nemesis", "verdict"]
    rows = [line.split() for line in table[1:]]
    assert len(rows) == len(WORKLOADS) * len(NEMESES)
    assert {row[2] for row in rows} <= {"valid", "skipped"}
    assert any(row[1] == "kill" and row[2] == "valid" for row in rows)


# -- --reads linearizable -------------------------------------------------------------------------


def test_linearizable_reads_on_a_coord_ensemble(tmp_path):
    """Plain reads, made linearizable by the server (coord.linearizableReads=true), while the
    leader is cut off: valid, and every member was configured so."""
    require_netns()
    result = run(quick(tmp_path, nodes=3, workload="register", reads="linearizable", nemesis="partition-leader",
                       time_s=5.0, concurrency=6, quiet_s=1.0, fault_s=2.5))
    record = assert_run_dir(result)
    assert result.verdict == "valid", (result.run_dir / "verdicts.txt").read_text()
    assert record["reads"] == "linearizable" and "--reads linearizable" in record["command"]
    for name in ("n1", "n2", "n3"):
        assert "coord.linearizableReads=true" in (result.run_dir / "nodes" / name / "zoo.cfg").read_text()


def test_linearizable_reads_are_refused_for_zookeeper(tmp_path):
    with pytest.raises(RunImpossible, match="ZooKeeper has no linearizable plain read: use --reads sync"):
        run(quick(tmp_path, system="zookeeper", nodes=3, workload="register", reads="linearizable"))
