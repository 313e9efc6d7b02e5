"""coord bench end to end: the CLI against a real coord server, the calibration responder, and a
tiny compare of coord with Apache ZooKeeper. Figures are never asserted; shapes, counts that the
workload fixes, errors and clean-up are."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from coord.testing.servers import CoordProcess
from tests.conftest import require_zookeeper

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--duration", "0.5", "--warmup", "0.2"]


def bench(*argv, cwd, timeout_s=90):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    process = subprocess.Popen([sys.executable, "-m", "coord", "bench", *argv], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.terminate()  # SIGTERM: the CLI stops the servers it started before exiting
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def coord_server(tmp_path_factory):
    server = CoordProcess(tmp_path_factory.mktemp("bench-coord"))
    server.start()
    yield server
    server.stop()


def _run(server, tmp_path, workload, *extra):
    out = tmp_path / f"{workload}.json"
    done = bench("--target", server.address, "--workload", workload, "--server-pid",
                 str(server.pid), "--json", str(out), "--connections", "2", "--depth", "4",
                 *QUICK, *extra, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text()), done.stdout


def _bench_tree_is_empty(server):
    client = KazooClient(hosts=server.hosts)
    client.start(timeout=15)
    try:
        return client.get_children("/coord-bench") == []
    finally:
        client.stop()
        client.close()


@pytest.mark.timeout(60)
def test_closed_loop_get_reports_latency_cpu_and_the_generator(coord_server, tmp_path):
    result, stdout = _run(coord_server, tmp_path, "get")
    assert result["mode"] == "closed" and result["errors"] == 0 and result["ops"] > 0
    assert result["labels"]["get"]["ops"] == result["ops"]
    assert result["p50_ms"] is not None and result["p50_ms"] <= result["max_ms"]
    assert result["server"]["pids"] == [coord_server.pid]
    assert result["server"]["cpu_s_per_1k_ops"] is not None
    g = result["generator"]
    assert len(g["worker_busy_share"]) == 2 and isinstance(g["saturated"], bool)
    assert "p99.9 ms" in stdout and "generator:" in stdout


@pytest.mark.timeout(60)
def test_churn_deletes_everything_it_created(coord_server, tmp_path):
    result, _ = _run(coord_server, tmp_path, "churn-sequential")
    assert set(result["labels"]) == {"create", "delete"} and result["errors"] == 0
    assert result["unanswered_at_end"] == 0
    assert _bench_tree_is_empty(coord_server)


@pytest.mark.timeout(60)
def test_open_loop_measures_from_the_schedule(coord_server, tmp_path):
    result, _ = _run(coord_server, tmp_path, "set", "--rate", "200")
    assert result["mode"] == "open" and result["errors"] == 0 and result["ops"] > 0


@pytest.mark.timeout(60)
def test_zk_latencies_does_each_operation_once_per_znode(coord_server, tmp_path):
    result, _ = _run(coord_server, tmp_path, "zk-latencies", "--count", "100")
    assert {label: f["ops"] for label, f in result["labels"].items()} == {
        "create": 100, "set": 100, "get": 100, "delete": 100}
    assert result["errors"] == 0 and _bench_tree_is_empty(coord_server)


@pytest.mark.timeout(60)
def test_watch_fanout_and_session_churn(coord_server, tmp_path):
    fanout, stdout = _run(coord_server, tmp_path, "watch-fanout", "--watchers", "20")
    assert fanout["ops"] >= 1 and fanout["errors"] == 0
    assert fanout["labels"]["notification"]["ops"] == 20 * fanout["ops"]
    assert "all-notified" in stdout
    churn, _ = _run(coord_server, tmp_path, "session-churn")
    assert churn["labels"]["session"]["ops"] == churn["ops"] > 0 and churn["errors"] == 0


@pytest.mark.timeout(60)
def test_multi_and_mixed(coord_server, tmp_path):
    multi, _ = _run(coord_server, tmp_path, "multi")
    assert multi["errors"] == 0 and multi["ops"] > 0
    mixed, _ = _run(coord_server, tmp_path, "mixed", "--read-ratio", "0.5")
    assert set(mixed["labels"]) == {"get", "set"} and mixed["errors"] == 0


@pytest.mark.timeout(60)
def test_calibration_drives_the_trivial_responder(tmp_path):
    out = tmp_path / "cal.json"
    done = bench("calibrate", "--json", str(out), "--connections", "2", "--depth", "4", *QUICK,
                 cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["ops"] > 0 and result["errors"] == 0 and len(result["server"]["pids"]) == 1
    assert "calibration" in done.stdout


@pytest.mark.timeout(30)
def test_an_unreachable_target_is_a_clear_error(tmp_path):
    from coord.testing.servers import free_port

    done = bench("--target", f"127.0.0.1:{free_port()}", *QUICK, cwd=tmp_path)
    assert done.returncode == 1 and "coord: bench:" in done.stderr
    done = bench("--target", "nonsense", cwd=tmp_path)
    assert done.returncode == 1 and "HOST:PORT" in done.stderr
    done = bench("--workload", "get", cwd=tmp_path)
    assert done.returncode == 2 and "--target" in done.stderr


@pytest.mark.timeout(400)  # ~40 s on a 2-core machine; far longer when it is overloaded
def test_a_tiny_compare_runs_both_systems_and_writes_the_report(tmp_path):
    require_zookeeper()
    out, work = tmp_path / "results", tmp_path / "work"
    done = bench("compare", "--cases", "get:2x4,churn-sequential:1x1", "--repeats", "1",
                 "--topology", "standalone", "--memory-znodes", "300", "--settle", "0",
                 "--connections", "2", "--out", str(out), "--work-dir", str(work), *QUICK,
                 cwd=tmp_path, timeout_s=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (json_path,) = out.glob("compare-*.json")
    doc = json.loads(json_path.read_text())
    assert [row["case"] for row in doc["summary"]] == ["get 2x4", "churn-sequential 1x1"]
    for row in doc["summary"]:
        assert row["coord"]["runs"] == row["zookeeper"]["runs"] == 1
        assert row["coord"]["errors"] == row["zookeeper"]["errors"] == 0
    assert sorted(m["system"] for m in doc["memory"]) == ["coord", "zookeeper"]
    assert all(m["rss_serving"] and m["restart_s"] and m["populate_errors"] == 0
               for m in doc["memory"])
    assert doc["headroom"]["calibration_ops_s"] and doc["machine"]["cores"]
    markdown = json_path.with_suffix(".md").read_text()
    assert "| standalone | get 2x4 |" in markdown and "| standalone | churn-sequential 1x1 |" in markdown
    assert json_path.with_suffix(".png").exists()
    assert list(work.iterdir()) == []  # the servers' folders are removed
    assert "ops/s ratio" in done.stdout


@pytest.mark.timeout(60)
def test_a_server_that_dies_mid_run_shows_as_errors_not_a_crash(tmp_path):
    server = CoordProcess(tmp_path / "doomed")
    server.start()
    out = tmp_path / "lost.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "coord", "bench", "--target", server.address, "--workload",
             "set", "--connections", "2", "--depth", "4", "--duration", "4", "--warmup", "0.2",
             "--json", str(out)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        assert "connections in" in run.stderr.readline()  # the workers are connected
        time.sleep(1.0)  # into the measured window (0.1 s start + 0.2 s warm-up)
        server.kill()
        stdout, stderr = run.communicate(timeout=40)
    finally:
        server.stop()
    assert run.returncode == 1, stdout + stderr
    assert out.exists(), stdout + stderr
    result = json.loads(out.read_text())
    # (Whether requests in flight were inside the measured window, and so count as errors,
    # depends on how fast the workers started: not asserted.)
    assert result["connections_lost"] == 2 and "cleanup_error" in result
    assert "ConnectionLoss" in stdout
