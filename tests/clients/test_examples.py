"""The examples run as a user would start them: separate processes on a real server.

Against coord only: the examples are demos of features whose tests run on both servers.
"""

import pathlib
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.parametrize("server_kind", ["coord"], indirect=True, scope="session")

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"


def _start(script, *args):
    process = subprocess.Popen([sys.executable, "-u", str(EXAMPLES / script), *args],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    process.lines = queue.Queue()  # filled by a reader thread: reads never block the test

    def pump():
        for line in process.stdout:
            process.lines.put(line)
        process.lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return process


def _read_until(process, needle: str, timeout_s: float = 30.0) -> list:
    """Lines of ``process`` up to the first containing ``needle`` (bounded by ``timeout_s``)."""
    lines = []
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = process.lines.get(timeout=max(0.01, remaining))
        except queue.Empty:
            line = None
        if line is not None:
            lines.append(line)
            if needle in line:
                return lines
        if line is None or time.monotonic() >= deadline:
            raise AssertionError(f"{needle!r} not printed within {timeout_s} s; got:\n{''.join(lines)}")


def test_leader_worker_hands_over_when_the_leader_stops(server, prefix):
    path = f"{prefix}/leader"
    first = _start("leader_worker.py", "w1", "--hosts", server.hosts, "--path", path)
    second = None
    try:
        _read_until(first, "[w1] leading, heartbeat 1")
        second = _start("leader_worker.py", "w2", "--hosts", server.hosts, "--path", path)
        _read_until(second, "[w2] campaigning; in line: ['w1'")
        first.send_signal(signal.SIGINT)  # Ctrl-C: the leader stops and resigns at once
        _read_until(second, "[w2] elected")
        assert first.wait(20) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)


def test_twisted_leader_worker_runs_and_resigns(server, prefix):
    worker = _start("tx_leader_worker.py", "tx1", "--hosts", server.hosts,
                    "--path", f"{prefix}/leader", "--beats", "1")
    try:
        _read_until(worker, "[tx1] elected")
        _read_until(worker, "resigning")
        assert worker.wait(20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)


def test_shard_allocator_demo_spreads_and_moves_shards(server, prefix):
    path = f"{prefix}/shards"
    common = ("--hosts", server.hosts, "--path", path, "--shards", "4")
    alice = _start("shard_allocator_demo.py", "alice", *common)
    bob = None
    try:
        _read_until(alice, "serving shards 0, 1, 2, 3")
        bob = _start("shard_allocator_demo.py", "bob", *common)
        _read_until(alice, "serving shards 0, 1\n")  # alice gives up two shards first...
        _read_until(bob, "serving shards 2, 3\n")  # ...then bob gets them
        bob.send_signal(signal.SIGINT)  # bob leaves: alice serves all four again
        assert bob.wait(20) == 0
        _read_until(alice, "serving shards 0, 1, 2, 3")
    finally:
        for process in (alice, bob):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
