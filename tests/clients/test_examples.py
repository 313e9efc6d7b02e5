"""The examples run as a user would start them: separate processes on a real server."""

import pathlib
import signal
import subprocess
import sys
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"


def _start(script, *args):
    return subprocess.Popen([sys.executable, "-u", str(EXAMPLES / script), *args], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _read_until(process, needle: str, timeout_s: float = 30.0) -> list:
    """Lines of ``process`` up to the first containing ``needle`` (bounded by ``timeout_s``)."""
    import selectors

    lines = []
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if needle in line:
                return lines
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
