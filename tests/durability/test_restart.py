"""Durability through real crashes: kill -9 under load, torn log tails, corrupt files.

Every test runs the real ``coord server`` process and talks to it with kazoo. The promise under
test: a write acknowledged to a client survives any crash; damage the server can safely repair
(a torn tail, a corrupt newest snapshot) is repaired with a warning; damage it cannot (a corrupt
record in the middle of the log) stops start-up with a message naming the file and the offset.
"""

import random
import threading
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from coord.testing.servers import CoordProcess, ServerStartError

pytestmark = pytest.mark.timeout(180)


def connect(server):
    client = KazooClient(hosts=server.hosts, timeout=10, connection_retry=None)
    client.start(timeout=20)
    return client


class Load:
    """Pipelined creates and setData on one client; remembers what was acknowledged."""

    def __init__(self, server, prefix, max_in_flight=64):
        self.client = connect(server)
        self.prefix = prefix
        self.client.ensure_path(prefix)
        self.acked_creates = set()
        self.acked_versions = {}          # path -> highest acknowledged version
        self.lock = threading.Lock()
        self.slots = threading.BoundedSemaphore(max_in_flight)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _done_create(self, path):
        def callback(result):
            try:
                created = result.get(timeout=0)
                with self.lock:
                    self.acked_creates.add(created)
            except Exception:
                pass
            finally:
                self.slots.release()
        return callback

    def _done_set(self, path):
        def callback(result):
            try:
                stat = result.get(timeout=0)
                with self.lock:
                    self.acked_versions[path] = max(self.acked_versions.get(path, -1), stat.version)
            except Exception:
                pass
            finally:
                self.slots.release()
        return callback

    def _run(self):
        n = 0
        while not self.stopped.is_set() and n < 100000:
            if not self.slots.acquire(timeout=0.5):
                continue
            n += 1
            try:
                if n % 3 == 0 and self.acked_creates:
                    with self.lock:
                        path = random.choice(sorted(self.acked_creates)[-20:])
                    self.client.set_async(path, b"v%d" % n).rawlink(self._done_set(path))
                else:
                    path = "%s/n%06d" % (self.prefix, n)
                    self.client.create_async(path, b"d%d" % n).rawlink(self._done_create(path))
            except KazooException:
                self.slots.release()
                time.sleep(0.05)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=10)
        try:
            self.client.stop()
            self.client.close()
        except Exception:
            pass


def check_acknowledged(server, loads):
    client = connect(server)
    try:
        for load in loads:
            missing = [p for p in load.acked_creates if client.exists(p) is None]
            assert not missing, "acknowledged creates lost: %s" % sorted(missing)[:10]
            for path, version in load.acked_versions.items():
                stat = client.exists(path)
                assert stat is not None and stat.version >= version, (path, version, stat)
    finally:
        client.stop()
        client.close()


def wait_for_acks(load, count, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while len(load.acked_creates) < count:
        assert time.monotonic() < deadline, "load made no progress"
        time.sleep(0.02)


@pytest.mark.parametrize("rounds", [
    3, pytest.param(20, marks=[pytest.mark.slow, pytest.mark.timeout(900)])])
def test_kill_9_under_load_loses_no_acknowledged_write(tmp_path, rounds):
    rng = random.Random()
    server = CoordProcess(tmp_path, extra_args=["--snapshot-every-txns", "400"])
    loads = []
    try:
        server.start()
        for round_number in range(rounds):
            load = Load(server, "/load%d" % round_number).start()
            loads.append(load)
            wait_for_acks(load, rng.randint(50, 400))
            server.kill()
            load.stop()
            assert load.acked_creates
            server.start()
            check_acknowledged(server, loads)
    finally:
        for load in loads:
            load.stop()
        server.stop()


def test_zxids_never_go_backwards_across_restarts(tmp_path):
    server = CoordProcess(tmp_path)
    try:
        server.start()
        client = connect(server)
        client.create("/z")
        before = client.exists("/z").czxid
        client.stop()
        client.close()
        server.kill()
        server.start()
        client = connect(server)
        client.create("/z2")
        after = client.exists("/z2").czxid
        client.stop()
        client.close()
        assert after > before
    finally:
        server.stop()


def newest(directory, prefix):
    files = sorted(p for p in Path(directory).iterdir() if p.name.startswith(prefix) and "." in p.name
                   and not p.name.endswith(".tmp"))
    assert files, "no %s* files in %s" % (prefix, directory)
    return files[-1]


def write_some(server, prefix, count):
    client = connect(server)
    try:
        client.ensure_path(prefix)
        for i in range(count):
            client.create("%s/k%04d" % (prefix, i), b"x" * 100)
    finally:
        client.stop()
        client.close()


def test_torn_log_tail_is_repaired(tmp_path):
    server = CoordProcess(tmp_path)
    try:
        server.start()
        write_some(server, "/torn", 50)
        server.kill()
        segment = newest(server.data_dir / "log", "log.")
        with open(segment, "ab") as f:
            # half a record: the crash cut a write that was never acknowledged
            f.write(b"\x00\x00\x00\x40\x12\x34\x56")
        server.start()
        client = connect(server)
        assert len(client.get_children("/torn")) == 50
        client.create("/torn/after")
        client.stop()
        client.close()
        log = server.log_tail(20000).lower()
        assert "torn" in log or "truncat" in log
    finally:
        server.stop()


def test_corrupt_record_mid_log_stops_startup_naming_file_and_offset(tmp_path):
    server = CoordProcess(tmp_path)
    try:
        server.start()
        write_some(server, "/mid", 200)
        server.kill()
        segment = newest(server.data_dir / "log", "log.")
        size = segment.stat().st_size
        with open(segment, "r+b") as f:
            f.seek(size // 2)
            byte = f.read(1)
            f.seek(size // 2)
            f.write(bytes([byte[0] ^ 0xFF]))
        with pytest.raises(ServerStartError) as failure:
            server.start(timeout_s=30)
        message = str(failure.value)
        assert segment.name in message
        assert "offset" in message.lower()
    finally:
        server.stop()


def test_corrupt_newest_snapshot_falls_back_to_older_one_plus_log(tmp_path):
    server = CoordProcess(tmp_path, extra_args=["--snapshot-every-txns", "40"])
    try:
        server.start()
        write_some(server, "/snap", 300)
        # let the last snapshot finish (they are written in the background)
        deadline = time.monotonic() + 30
        snapshot_dir = server.data_dir / "snapshots"
        while len([p for p in snapshot_dir.iterdir() if not p.name.endswith(".tmp")]) < 2:
            assert time.monotonic() < deadline, "no snapshots were written"
            time.sleep(0.1)
        time.sleep(0.5)
        server.kill()
        snapshot = newest(snapshot_dir, "snapshot.")
        data = bytearray(snapshot.read_bytes())
        data[len(data) // 2] ^= 0xFF
        snapshot.write_bytes(bytes(data))
        server.start()
        client = connect(server)
        assert len(client.get_children("/snap")) == 300
        client.stop()
        client.close()
        assert snapshot.name in server.log_tail(50000)
    finally:
        server.stop()
