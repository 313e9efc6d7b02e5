"""``coord.dial.N``: members dial each other through forwarders between them (as behind a proxy
or NAT), with the ``server.N`` lines identical everywhere, and still elect and replicate.

A trivial thread-per-connection forwarder stands between every ordered pair of members: member i
has ``coord.dial.j=127.0.0.1:<forwarder i->j>``. The test checks the ensemble elects, a write
reaches every member, and every forwarder carried a connection and bytes, which it would not if
the key were ignored (members would then dial each other at their server.N ports directly). Then
the forwarders into the leader are stopped: the rest elect a new leader, which only works if
they heard each other through their own forwarders."""

import socket
import threading
import time

from kazoo.client import KazooClient

from coord.testing.servers import Ensemble


class Forwarder:
    """127.0.0.1:<port> -> target, a thread per direction; counts connections and bytes."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.bytes = 0
        self.open = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.stopped:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self.connections += 1
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while data := source.recv(65536):
                if self.stopped:
                    break
                sink.sendall(data)
                self.bytes += len(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.stopped = True
        for sock in self.open:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stop()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()


def test_members_dial_each_other_through_forwarders_and_still_elect_and_replicate(tmp_path):
    ensemble = Ensemble("coord", tmp_path, size=3, tick_ms=500)
    peer_port = {i: int(m.membership[i].split(":")[1]) for i, m in ensemble.members.items()}
    forwarders = {}
    for i, member in ensemble.members.items():
        for j in ensemble.members:
            if i != j:
                forwarders[i, j] = Forwarder(peer_port[j])
                member.extra_config[f"coord.dial.{j}"] = f"127.0.0.1:{forwarders[i, j].port}"
    client = None
    try:
        ensemble.start(timeout_s=90)
        leader = ensemble.leader(timeout_s=30)
        assert leader is not None
        # The server.N lines are the same in every member's file; only the dial keys differ.
        configs = {i: m.config_path.read_text() for i, m in ensemble.members.items()}
        server_lines = {i: sorted(l for l in text.splitlines() if l.startswith("server.")) for i, text in configs.items()}
        assert server_lines[1] == server_lines[2] == server_lines[3]
        assert f"coord.dial.2=127.0.0.1:{forwarders[1, 2].port}" in configs[1]
        client = KazooClient(hosts=ensemble.hosts, timeout=10)
        client.start(timeout=20)
        client.create("/through-forwarders", b"replicated")
        for i, member in ensemble.members.items():
            reader = KazooClient(hosts=member.address, timeout=10)
            reader.start(timeout=20)
            try:
                reader.sync("/through-forwarders")
                assert reader.get("/through-forwarders")[0] == b"replicated", f"member {i}"
            finally:
                reader.stop()
                reader.close()
        for (i, j), forwarder in forwarders.items():
            assert forwarder.connections >= 1 and forwarder.bytes > 0, (i, j, forwarder.connections)
        # Cut the leader off by stopping the forwarders to and from it: the other two elect a new
        # leader through their own forwarders.
        for (i, j), forwarder in forwarders.items():
            if leader in (i, j):
                forwarder.stop()
        deadline = time.monotonic() + 60
        new_leader = None
        while time.monotonic() < deadline:
            modes = {i: m.mode(timeout_s=1.0) for i, m in ensemble.members.items() if i != leader}
            found = [i for i, mode in modes.items() if mode == "leader"]
            if found:
                new_leader = found[0]
                break
            time.sleep(0.2)
        assert new_leader is not None and new_leader != leader, modes
    finally:
        if client is not None:
            client.stop()
            client.close()
        ensemble.stop()
        for forwarder in forwarders.values():
            forwarder.close()
