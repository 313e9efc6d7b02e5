"""Limits that protect the service, with real clients over real sockets.

* A client that floods the server with pipelined requests is throttled (the server stops reading
  from it) and every request is still answered, in order: nothing is dropped. ZooKeeper behaves
  the same way (globalOutstandingLimit), so the flood runs against both.
* A client that never reads its replies cannot grow the server's memory without bound, and the
  other clients keep being served meanwhile. The same test with the protection switched off shows
  the memory growth the protection prevents (so the bound is not trivially met).
* maxClientCnxns, coord.maxSessions and jute.maxbuffer refuse what is over the limit.
"""

import os
import socket
import struct
import threading
import time

import pytest
from kazoo.client import KazooClient

from coord.protocol import records as R
from coord.protocol.client_conn import ClientConnection, Connected, ReplyReceived as Reply
from coord.protocol.codes import OpCode
from coord.testing.servers import CoordProcess, ZooKeeperProcess, free_port, zookeeper_available

IO_TIMEOUT_S = 30.0


def start(kind, work_dir, config):
    cls = CoordProcess if kind == "coord" else ZooKeeperProcess
    if kind == "zookeeper" and not zookeeper_available():
        if os.environ.get("COORD_REQUIRE_ZOOKEEPER"):
            pytest.fail("Apache ZooKeeper is required (COORD_REQUIRE_ZOOKEEPER=1)")
        pytest.skip("Apache ZooKeeper is not installed")
    server = cls(work_dir, port=free_port(), config=config)
    server.start()
    return server


@pytest.fixture
def servers():
    started = []
    yield started
    for server in started:
        server.stop()


class RawSession:
    """A session over a plain socket, to pipeline requests and to not read replies on purpose."""

    def __init__(self, server, rcvbuf=None, session=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(IO_TIMEOUT_S)
        self.sock.connect((server.host, server.port))
        self.codec = ClientConnection()
        session_id, passwd = session or (0, b"\0" * 16)
        self.sock.sendall(self.codec.connect(0, 10000, session_id, passwd))
        self.events = []
        response = self.wait_for(lambda e: isinstance(e, Connected)).response
        self.session = (response.session_id, response.passwd)

    def wait_for(self, predicate):
        deadline = time.monotonic() + IO_TIMEOUT_S
        while time.monotonic() < deadline:
            for i, event in enumerate(self.events):
                if predicate(event):
                    return self.events.pop(i)
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("closed by the server")
            self.events.extend(self.codec.receive_data(data))
        raise AssertionError("timed out")

    def read_replies(self, count):
        replies = []
        deadline = time.monotonic() + IO_TIMEOUT_S
        while len(replies) < count and time.monotonic() < deadline:
            replies.extend(e for e in self.events if isinstance(e, Reply))
            self.events = []
            if len(replies) >= count:
                break
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("closed by the server after %d replies" % len(replies))
            self.events.extend(self.codec.receive_data(data))
        return replies

    def close(self):
        self.sock.close()


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % pid)


def log_text(server):
    return server.log_path.read_text(errors="replace")


@pytest.mark.parametrize("kind", ["coord", "zookeeper"])
def test_a_flood_of_writes_is_throttled_and_every_request_answered_in_order(kind, tmp_path, servers):
    config = {"globalOutstandingLimit": 100}
    if kind == "coord":
        config["coord.maxOutstandingPerConnection"] = 50
    server = start(kind, tmp_path / kind, config)
    servers.append(server)
    flooder = RawSession(server)
    xid, frame = flooder.codec.send(OpCode.CREATE, R.CreateRequest("/flood", b"", [R.ACL(31, R.Id("world", "anyone"))], 0))
    flooder.sock.sendall(frame)
    flooder.read_replies(1)
    count = 3000
    frames = []
    for i in range(count):
        _, frame = flooder.codec.send(OpCode.SET_DATA, R.SetDataRequest("/flood", b"%06d" % i, -1))
        frames.append(frame)
    # Send everything without reading (a thread, since the server may stop reading from us).
    sender = threading.Thread(target=flooder.sock.sendall, args=(b"".join(frames),), daemon=True)
    sender.start()
    # Meanwhile another client is served.
    other = KazooClient(hosts="%s:%d" % (server.host, server.port), timeout=10.0)
    other.start(timeout=IO_TIMEOUT_S)
    try:
        other.create("/other", b"x")
        assert other.get("/other")[0] == b"x"
    finally:
        other.stop()
        other.close()
    replies = flooder.read_replies(count)
    sender.join(IO_TIMEOUT_S)
    assert len(replies) == count
    assert all(r.err == 0 for r in replies)
    assert [r.xid for r in replies] == sorted(r.xid for r in replies)
    versions = [r.response.stat.version for r in replies]
    assert versions == list(range(1, count + 1))
    flooder.close()
    if kind == "coord":
        assert "throttling clients" in log_text(server)


BIG = 1000 * 1000          # one reply of about 1 MB
UNREAD_REQUESTS = 300      # about 300 MB of replies if the server produced them all


def flood_without_reading(server):
    """Create /big, then ask for it UNREAD_REQUESTS times on a connection that never reads.
    Returns (the server's peak RSS growth in bytes, operations another client completed)."""
    writer = KazooClient(hosts="%s:%d" % (server.host, server.port), timeout=10.0)
    writer.start(timeout=IO_TIMEOUT_S)
    try:
        writer.create("/big", b"b" * BIG)
        baseline = rss_bytes(server.pid)
        reader = RawSession(server, rcvbuf=4096)
        frames = b"".join(reader.codec.send(OpCode.GET_DATA, R.GetDataRequest("/big", False))[1]
                          for _ in range(UNREAD_REQUESTS))
        reader.sock.sendall(frames)
        peak = baseline
        done = 0
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            writer.ensure_path("/counter")
            writer.set("/counter", b"%d" % done)
            done += 1
            peak = max(peak, rss_bytes(server.pid))
        reader.close()
        return peak - baseline, done
    finally:
        writer.stop()
        writer.close()


def test_a_client_that_never_reads_cannot_grow_the_servers_memory(tmp_path, servers):
    server = start("coord", tmp_path / "coord", {})
    servers.append(server)
    growth, done = flood_without_reading(server)
    assert growth < 64 * 1024 * 1024, "RSS grew by %d MB" % (growth >> 20)
    assert done > 10   # the other client was served all along


def test_without_the_output_window_the_same_client_grows_the_servers_memory(tmp_path, servers,
                                                                             monkeypatch):
    """The protection switched off (a planted bug): the bound above is not met by accident."""
    monkeypatch.setenv("COORD_ALLOW_PLANTED_BUGS", "yes")
    server = start("coord", tmp_path / "coord", {"coord.plantedBug": "unbounded-client-output",
                                                 "coord.maxClientOutputBytes": 0})
    servers.append(server)
    growth, _ = flood_without_reading(server)
    assert growth > 128 * 1024 * 1024, "RSS grew by only %d MB" % (growth >> 20)


def connection_is_refused(server):
    """Whether the server closes a new connection before answering its handshake."""
    try:
        sock = socket.create_connection((server.host, server.port), timeout=IO_TIMEOUT_S)
    except (ConnectionError, OSError):
        return True
    try:
        sock.sendall(ClientConnection().connect(0, 10000))
        return sock.recv(65536) == b""
    except (ConnectionError, OSError):
        return True
    finally:
        sock.close()


@pytest.mark.parametrize("kind", ["coord", "zookeeper"])
def test_connections_over_max_client_cnxns_from_one_address_are_refused(kind, tmp_path, servers):
    server = start(kind, tmp_path / kind, {"maxClientCnxns": 3})
    servers.append(server)
    sessions = [RawSession(server) for _ in range(3)]
    assert connection_is_refused(server)
    sessions.pop().close()
    deadline = time.monotonic() + IO_TIMEOUT_S
    while time.monotonic() < deadline:   # the server notices the close asynchronously
        try:
            sessions.append(RawSession(server))
            break
        except (ConnectionError, OSError):
            time.sleep(0.1)
    assert len(sessions) == 3
    for s in sessions:
        s.close()


def test_new_sessions_over_max_sessions_are_refused_and_old_ones_reconnect(tmp_path, servers):
    server = start("coord", tmp_path / "coord", {"coord.maxSessions": 2})
    servers.append(server)
    first, second = RawSession(server), RawSession(server)
    assert connection_is_refused(server)
    # An existing session may reconnect: it does not add to the count.
    first.close()
    again = RawSession(server, session=first.session)
    assert again.session == first.session
    again.close()
    second.close()
    assert "refusing new sessions" in log_text(server)


def test_jute_maxbuffer_in_zoo_cfg_limits_the_request_size(tmp_path, servers):
    server = start("coord", tmp_path / "coord", {"jute.maxbuffer": 4096})
    servers.append(server)
    session = RawSession(server)
    _, frame = session.codec.send(OpCode.CREATE, R.CreateRequest(
        "/small", b"s" * 1000, [R.ACL(31, R.Id("world", "anyone"))], 0))
    session.sock.sendall(frame)
    assert session.read_replies(1)[0].err == 0
    _, frame = session.codec.send(OpCode.CREATE, R.CreateRequest(
        "/large", b"l" * 8000, [R.ACL(31, R.Id("world", "anyone"))], 0))
    session.sock.sendall(frame)
    with pytest.raises(ConnectionError):
        session.read_replies(1)
    session.close()
