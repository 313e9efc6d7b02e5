"""The TCP fault proxy (jepsen_like/proxy.py) on its own: bytes flow through a link; a cut is
silence in both directions on existing and new connections (no refusal, no reset) and leaves other
links alone; heal lets the queued bytes through in order; delay and loss slow a link down without
corrupting the stream; destroy closes everything. Real sockets on 127.0.0.1, a few seconds."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from jepsen_like.proxy import ProxyError, ProxyNetwork


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
        assert echo(sock) == "closed"
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
