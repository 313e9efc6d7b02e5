"""`coord ensemble`: one command starts a local ensemble; Ctrl-C (SIGINT) stops every member."""

import os
import signal
import subprocess
import sys
import time

from kazoo.client import KazooClient

from coord.testing.servers import free_port


def test_coord_ensemble_serves_and_stops_on_ctrl_c(tmp_path):
    port, peer = free_port(), free_port()
    # Consecutive ports from two free ones is racy only against other tests' binds; retry is
    # not worth it here: a clash fails loudly with the member's log.
    proc = subprocess.Popen(
        [sys.executable, "-m", "coord", "ensemble", "--size", "3", "--dir", str(tmp_path / "e"),
         "--port", str(port), "--peer-port", str(peer)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONPATH=os.getcwd()))
    lines = []
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("connect string:") for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        hosts = [line for line in lines if line.startswith("connect string:")][0].split(": ")[1].strip()
        assert len(hosts.split(",")) == 3
        modes = sorted(line.split()[2] for line in lines if line.startswith("member "))
        assert modes == ["follower", "follower", "leader"]
        client = KazooClient(hosts=hosts)
        client.start(timeout=20)
        client.create("/from-the-readme", b"hello")
        assert client.get("/from-the-readme")[0] == b"hello"
        client.stop()
        client.close()
        for member in (1, 2, 3):
            assert (tmp_path / "e" / ("member%d" % member) / "data" / "myid").read_text() == "%d\n" % member
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "ensemble stopped" in out
