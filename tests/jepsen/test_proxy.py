"""The TCP fault proxy (jepsen_like/proxy.py) on its own: bytes flow through a link; a cut is
silence in both directions on existing and new connections (no refusal, no reset) and leaves other
links alone; heal lets the queued bytes through in order; delay and loss slow a link down without
corrupting the stream; destroy closes everything. Real sockets on 127.0.0.1, a few seconds."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from jepsen_like.proxy import ProxyError, ProxyNetwork, zookeeper_election_rewriter


class EchoServer:
    """Echoes every byte back; counts connections."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.sockets = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.sockets.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn):
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone does not
        except OSError:
            pass
        self.listener.close()
        for conn in self.sockets:
            conn.close()


@pytest.fixture
def proxy():
    network = ProxyNetwork(["n1", "n2", "n3"], seed=1).create()
    servers = []
    yield network, servers
    network.destroy()
    for server in servers:
        server.close()


def link(proxy, source, target):
    network, servers = proxy
    server = EchoServer()
    servers.append(server)
    return network.add_link(source, target, ("127.0.0.1", server.port), "peer"), server


def connect(port, timeout=2.0):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def echo(sock, payload=b"ping", timeout=2.0):
    """What comes back within ``timeout``: the payload, or "silence"."""
    sock.settimeout(timeout)
    received = b""
    try:
        sock.sendall(payload)
        while len(received) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                return "closed"
            received += chunk
    except socket.timeout:
        return "silence" if not received else received
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    return received


def test_bytes_flow_through_a_link(proxy):
    network, _ = proxy
    port, server = link(proxy, "n1", "n2")
    with connect(port) as sock:
        assert echo(sock, b"hello") == b"hello"
        big = bytes(range(256)) * 4096  # 1 MiB, more than one chunk and than the socket buffers
        sender = threading.Thread(target=sock.sendall, args=(big,))
        sender.start()
        received = b""
        while len(received) < len(big):
            received += sock.recv(1 << 20)
        sender.join(10)
        assert received == big
    assert server.accepted == 1
    stats = network.links()[0]
    assert stats["source"] == "n1" and stats["target"] == "n2" and stats["bytes"] >= 2 * (len(big) + 5)


def test_a_cut_is_silence_both_ways_and_heal_resumes_in_order(proxy):
    network, _ = proxy
    port12, server = link(proxy, "n1", "n2")
    port21, _ = link(proxy, "n2", "n1")
    port13, _ = link(proxy, "n1", "n3")
    existing = connect(port12)
    assert echo(existing) == b"ping"
    network.cut("n1", "n2")
    assert echo(existing, b"during", timeout=1.0) == "silence"  # an open connection goes quiet
    fresh = connect(port12)  # a new one is not refused either: it is held, silently
    assert echo(fresh, b"new", timeout=0.5) == "silence"
    assert server.accepted == 1  # and never reached the target
    with connect(port21) as back:
        assert echo(back, timeout=0.5) == "silence"  # the other direction's link too
    with connect(port13) as other:
        assert echo(other) == b"ping"  # links between other members are untouched
    assert network.faults()["cuts"] == [["n1", "n2"]]
    network.heal()
    # What was sent during the cut arrives, in order, as TCP would deliver it after a partition.
    existing.settimeout(5)
    got = b""
    while len(got) < len(b"during"):
        got += existing.recv(100)
    assert got == b"during"
    fresh.settimeout(5)
    got = b""
    while len(got) < len(b"new"):
        got += fresh.recv(100)
    assert got == b"new"
    assert echo(existing, b"after") == b"after"
    existing.close()
    fresh.close()


def test_a_connection_given_up_during_the_cut_never_reaches_the_target(proxy):
    network, _ = proxy
    port, server = link(proxy, "n1", "n2")
    network.cut("n2", "n1")
    abandoned = connect(port)
    abandoned.sendall(b"hello?")
    abandoned.close()  # the dialler times out and gives up, as on a real partition
    time.sleep(0.3)
    network.heal()
    with connect(port) as sock:
        assert echo(sock) == b"ping"
    time.sleep(0.3)
    assert server.accepted == 1  # only the connection made after the heal


def test_delay_and_loss_slow_a_link_without_corrupting_it(proxy):
    network, _ = proxy
    port, _ = link(proxy, "n1", "n2")
    with connect(port) as sock:
        started = time.monotonic()
        assert echo(sock) == b"ping"
        fast = time.monotonic() - started
        network.delay("n2", 150, 0)
        started = time.monotonic()
        assert echo(sock, timeout=5) == b"ping"
        assert time.monotonic() - started >= 0.29 > fast  # 150 ms each way
        network.heal()
        network.lose("n1", 100)  # every chunk "lost" three times: 200 + 400 + 800 ms each way
        started = time.monotonic()
        payload = bytes(range(256)) * 64
        assert echo(sock, payload, timeout=10) == payload
        assert time.monotonic() - started >= 2.5
        network.heal()
        started = time.monotonic()
        assert echo(sock) == b"ping" and time.monotonic() - started < 1.0


def test_a_target_that_is_down_ends_the_connection_and_destroy_closes_everything(proxy):
    network, _ = proxy
    port, server = link(proxy, "n1", "n2")
    server.close()
    time.sleep(0.1)
    with connect(port) as sock:
        started = time.monotonic()
        assert echo(sock, timeout=10) == "closed"  # after the proxy's retries (2 s) run out
        assert time.monotonic() - started >= 1.5
    with pytest.raises(ProxyError):
        network.add_link("n1", "n1", ("127.0.0.1", 1))
    port2, _ = link(proxy, "n2", "n3")
    live = connect(port2)
    assert echo(live) == b"ping"
    network.destroy()
    network.destroy()  # idempotent
    assert echo(live, timeout=2) == "closed"
    with pytest.raises(OSError):
        connect(port2, timeout=1)
    live.close()


def test_the_zookeeper_election_rewriter_replaces_only_the_address():
    import struct

    rewrite = zookeeper_election_rewriter("127.0.0.1:40001")
    address = b"127.0.0.1:3888"
    message = struct.pack(">qqi", -65536, 1, len(address)) + address + b"then notifications"
    for cut in range(1, 8 + 8 + 4 + len(address)):
        assert rewrite(message[:cut]) is None  # waits for the whole initial message
    assert rewrite(message) == (struct.pack(">qqi", -65536, 1, 15) + b"127.0.0.1:40001" + b"then notifications")
    v2 = struct.pack(">qqi", -65535, 2, len(address)) + address
    assert rewrite(v2).endswith(b"127.0.0.1:40001")
    old_protocol = struct.pack(">q", 3) + b"rest"  # a bare sid (protocol before 3.5): nothing to rewrite
    assert rewrite(old_protocol) == old_protocol


def test_a_link_rewrites_the_first_message_and_nothing_after(proxy):
    network, servers = proxy
    server = EchoServer()
    servers.append(server)
    port = network.add_link("n1", "n2", ("127.0.0.1", server.port), "election",
                            rewrite_first=lambda data: b"new!" + data[3:] if len(data) >= 6 else None)

    def receive(sock, count):
        got = b""
        while len(got) < count:
            got += sock.recv(100)
        return got

    with connect(port, timeout=3) as sock:
        sock.sendall(b"old")
        time.sleep(0.2)  # not enough for the rewriter yet: held back, not forwarded
        sock.sendall(b"abc")
        assert receive(sock, 7) == b"new!abc"
        sock.sendall(b"old")  # later bytes pass untouched
        assert receive(sock, 3) == b"old"
    assert network.links()[0]["rewritten"] == 1


def test_a_target_that_starts_listening_a_moment_later_is_reached(proxy):
    """The race a new leader's followers run into: they dial before it listens. The proxy has
    already accepted, so it retries the target instead of resetting the dialler."""
    network, servers = proxy
    placeholder = socket.socket()
    placeholder.bind(("127.0.0.1", 0))
    port_later = placeholder.getsockname()[1]
    placeholder.close()  # a port nobody listens on (yet)
    port = network.add_link("n1", "n2", ("127.0.0.1", port_later), "peer")
    with connect(port, timeout=5) as sock:
        sock.sendall(b"early")
        time.sleep(0.5)
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port_later))
        listener.listen(1)
        listener.settimeout(5)
        try:
            conn, _ = listener.accept()
            conn.settimeout(5)
            assert conn.recv(100) == b"early"
            conn.close()
        finally:
            listener.close()
