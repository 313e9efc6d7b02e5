"""``coord ensemble``: N coord members on this machine, one command, Ctrl-C stops them all.

Each member is an ordinary ``coord server`` process with its own zoo.cfg, written exactly as an
operator would write it for ZooKeeper (``server.N`` lines, ``dataDir/myid``), under one folder:

    <dir>/member1/zoo.cfg   <dir>/member1/data/myid   <dir>/member1/coord.log   ...

Ports: member N serves clients on ``base_port + N - 1``; peers talk on ``peer_base + N - 1``
(coord uses only the first peer port of a ``server.N`` line; the election port is written for
ZooKeeper compatibility, ``peer_base + 100 + N - 1``). Running the command again on the same
folder restarts the same ensemble with its data.
"""

import os
import signal
import socket
import subprocess
import sys
import time

READY_TIMEOUT_S = 60.0


def write_configs(directory, size, base_port, peer_base, host="127.0.0.1", tick_ms=2000,
                  extra=None):
    members = {}
    for n in range(1, size + 1):
        members[n] = "%s:%d:%d" % (host, peer_base + n - 1, peer_base + 100 + n - 1)
    paths = []
    for n in range(1, size + 1):
        member_dir = os.path.abspath(os.path.join(directory, "member%d" % n))
        data_dir = os.path.join(member_dir, "data")
        os.makedirs(data_dir, exist_ok=True)
        with open(os.path.join(data_dir, "myid"), "w", encoding="ascii") as f:
            f.write("%d\n" % n)
        lines = ["tickTime=%d" % tick_ms, "dataDir=%s" % data_dir,
                 "clientPort=%d" % (base_port + n - 1), "clientPortAddress=%s" % host,
                 "initLimit=10", "syncLimit=5"]
        lines += ["server.%d=%s" % (i, members[i]) for i in sorted(members)]
        lines += ["%s=%s" % item for item in (extra or {}).items()]
        path = os.path.join(member_dir, "zoo.cfg")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        paths.append((n, member_dir, path))
    return paths


def _mode(host, port):
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"srvr")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return None


def run(directory, size, base_port, peer_base, host="127.0.0.1", out=sys.stdout):
    if size < 1 or size > 255:
        print("coord ensemble: --size must be in 1..255", file=sys.stderr)
        return 2
    configs = write_configs(directory, size, base_port, peer_base, host)
    processes = []
    stopping = []

    def stop(*_):
        stopping.append(True)

    old_int = signal.signal(signal.SIGINT, stop)
    old_term = signal.signal(signal.SIGTERM, stop)
    try:
        for n, member_dir, path in configs:
            log = open(os.path.join(member_dir, "coord.log"), "ab")
            proc = subprocess.Popen([sys.executable, "-m", "coord", "server", "--config", path],
                                    cwd=member_dir, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            processes.append((n, proc, log))
        deadline = time.monotonic() + READY_TIMEOUT_S
        modes = {}
        while not stopping and time.monotonic() < deadline:
            modes = {n: _mode(host, base_port + n - 1) for n, _, _ in processes}
            dead = [n for n, proc, _ in processes if proc.poll() is not None]
            if dead:
                print("coord ensemble: member(s) %s exited; see %s/member*/coord.log"
                      % (dead, directory), file=sys.stderr)
                return 1
            if all(modes.values()):
                break
            time.sleep(0.1)
        else:
            if not stopping:
                print("coord ensemble: no leader within %.0f s; see %s/member*/coord.log"
                      % (READY_TIMEOUT_S, directory), file=sys.stderr)
                return 1
        hosts = ",".join("%s:%d" % (host, base_port + n - 1) for n, _, _ in processes)
        for n, member_dir, _ in configs:
            print("member %d: %-8s client %s:%d  peer %d  data %s" % (
                n, modes.get(n) or "?", host, base_port + n - 1, peer_base + n - 1,
                os.path.join(member_dir, "data")), file=out)
        print("connect string: %s" % hosts, file=out)
        print("Ctrl-C stops the ensemble.", file=out, flush=True)
        while not stopping:
            for n, proc, _ in processes:
                if proc.poll() is not None:
                    print("member %d exited (status %s); see its coord.log"
                          % (n, proc.returncode), file=out, flush=True)
                    processes = [p for p in processes if p[0] != n]
                    break
            time.sleep(0.2)
        return 0
    finally:
        for _, proc, _ in processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc, log in processes:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            log.close()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        print("ensemble stopped", file=out, flush=True)
