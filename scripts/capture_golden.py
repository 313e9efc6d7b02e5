#!/usr/bin/env python3
"""Record real ZooKeeper 3.8 client/server traffic as golden bytes for tests/protocol.

Theory of operation.  Starts the Debian Apache ZooKeeper standalone (temporary dataDir, a free port
on 127.0.0.1, every four-letter word allowed, TTL nodes enabled), puts a recording TCP proxy in
front of it, drives scripted sessions through the proxy and writes one JSON file per recorded
connection to tests/protocol/golden/:

* ``kazoo_session``   kazoo 2.11's own encoder: creates (plain, ephemeral, sequential, null data,
                      create2), getData with a watch + the notification, setData, exists on a
                      missing node with a watch, getChildren/getChildren2, multi success and
                      failure, getACL, setACL, addauth, sync, a ping, close.
* ``kazoo_ruok``      a four-letter word, as kazoo sends it.
* ``raw_session``     requests kazoo 2.11 cannot send, encoded by coord's ClientConnection
                      (only the server's answers are golden here): createTTL, createContainer,
                      whoAmI, addWatch, checkWatches/removeWatches, getEphemerals,
                      getAllChildrenNumber, multiRead, multi with create2/TTL/container results,
                      setWatches/setWatches2 events, reconfig refused.
* ``old_client``      a 44-byte ConnectRequest (no readOnly byte) and ZooKeeper's 36-byte answer.
* ``check_alone``, ``unknown_opcode``, ``malformed_get_data``, ``mixed_multi``: error handling.
  (ZooKeeper 3.8.0 leaves a lone check unanswered; an unknown opcode gets Unimplemented + close;
  a truncated body or a mixed multi gets MarshallingError and the session goes on.)
* ``zkcli_session``   the Java client (zkCli.sh reading commands from stdin).
* ``c_client_session`` the C client (cli_mt -c "create2 ...").

Each file holds ``client_to_server`` and ``server_to_client`` as lists of hex strings, one per
frame (length prefix included; a four-letter-word stream is one item), so the tests can check
decoding, re-encoding and streaming.  Zxids, times, session ids and passwords differ from run to
run; the tests compare by decoding and re-encoding, never against constants.

Usage:  python scripts/capture_golden.py [--output-dir tests/protocol/golden]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from coord.protocol.client_conn import ClientConnection, ReplyReceived  # noqa: E402
from coord.protocol.codes import AddWatchMode, CreateMode, OpCode, WatcherType  # noqa: E402
from coord.protocol.records import (  # noqa: E402
    ACL,
    CheckVersionRequest,
    CheckWatchesRequest,
    CreateRequest,
    CreateTTLRequest,
    DeleteRequest,
    ExistsRequest,
    GetAllChildrenNumberRequest,
    GetChildrenRequest,
    GetDataRequest,
    GetEphemeralsRequest,
    Id,
    AddWatchRequest,
    MultiRequest,
    ReconfigRequest,
    RemoveWatchesRequest,
    SetDataRequest,
    SetWatches,
    SetWatches2,
    AuthPacket,
)

ZK_SERVER_SH = "/usr/share/zookeeper/bin/zkServer.sh"
ZK_CLI_SH = "/usr/share/zookeeper/bin/zkCli.sh"
C_CLIENT = "/usr/lib/zookeeper/bin/cli_mt"
STARTUP_TIMEOUT_S = 60.0
IO_TIMEOUT_S = 10.0
CHECK_ALONE_WAIT_S = 3.0
# Connections that carry a four-letter word instead of frames.
FOUR_LETTER_WORD_CONNECTIONS = {"kazoo_ruok"}
OPEN_ACL = [ACL(31, Id("world", "anyone"))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def four_letter_word(port: int, word: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as sock:
        sock.sendall(word)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


class ZooKeeper:
    """The Debian ZooKeeper, standalone, in a private temp dir; always stopped by ``stop()``."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        data_dir = os.path.join(self.workdir, "data")
        os.makedirs(data_dir)
        config_path = os.path.join(self.workdir, "zoo.cfg")
        with open(config_path, "w") as config:
            config.write(
                "tickTime=2000\n"
                f"dataDir={data_dir}\n"
                f"clientPort={self.port}\n"
                "clientPortAddress=127.0.0.1\n"
                "4lw.commands.whitelist=*\n"
                "admin.enableServer=false\n"
            )
        env = dict(os.environ)
        env["JMXDISABLE"] = "true"
        env["SERVER_JVMFLAGS"] = (
            "-Dzookeeper.extendedTypesEnabled=true -Dzookeeper.admin.enableServer=false "
            f"-Dzookeeper.log.dir={self.workdir}"
        )
        self.log = open(os.path.join(self.workdir, "server.log"), "wb")
        self.process = subprocess.Popen(
            [ZK_SERVER_SH, "start-foreground", config_path],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ZooKeeper exited with {self.process.returncode}")
            # ruok says imok before the server serves; srvr only reports a version once it does.
            try:
                if b"Zookeeper version:" in four_letter_word(self.port, b"srvr"):
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("ZooKeeper did not start serving in time")

    def version(self) -> str:
        for line in four_letter_word(self.port, b"srvr").decode().splitlines():
            if line.startswith("Zookeeper version:"):
                return line.split(":", 1)[1].strip()
        return "unknown"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # start-foreground execs java, so this pid is the JVM itself.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        self.log.close()


class RecordedConnection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.client_to_server = bytearray()
        self.server_to_client = bytearray()
        self.threads: list[threading.Thread] = []


class RecordingProxy:
    """Relays 127.0.0.1:<port> to ZooKeeper and keeps every byte, per connection and direction.

    Each accepted connection is named after ``self.label`` at accept time.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.label = "unnamed"
        self.connections: list[RecordedConnection] = []
        self._stopping = False
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            names = [c.name for c in self.connections]
            name = self.label if self.label not in names else f"{self.label}_{names.count(self.label) + 1}"
            recorded = RecordedConnection(name)
            self.connections.append(recorded)
            for source, sink, record in (
                (downstream, upstream, recorded.client_to_server),
                (upstream, downstream, recorded.server_to_client),
            ):
                thread = threading.Thread(
                    target=self._relay, args=(source, sink, record), daemon=True
                )
                recorded.threads.append(thread)
                thread.start()

    @staticmethod
    def _relay(source: socket.socket, sink: socket.socket, record: bytearray) -> None:
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                record += chunk
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            # Pass the half-close on, then let the other direction finish.
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def wait_idle(self, name_prefix: str) -> None:
        """Wait until every connection whose name starts with ``name_prefix`` has closed."""
        for connection in self.connections:
            if connection.name.startswith(name_prefix):
                for thread in connection.threads:
                    thread.join(timeout=IO_TIMEOUT_S)

    def stop(self) -> None:
        self._stopping = True
        self.listener.close()


def split_frames(stream: bytes) -> list[str]:
    """Cut a recorded stream into length-prefixed frames (hex); a trailing partial frame is kept."""
    frames = []
    offset = 0
    while len(stream) - offset >= 4:
        (length,) = struct.unpack_from(">i", stream, offset)
        if length < 0 or length > len(stream):
            break
        frames.append(stream[offset : offset + 4 + length].hex())
        offset += 4 + length
    if offset < len(stream):
        frames.append(stream[offset:].hex())
    return frames


# -- scripted sessions ----------------------------------------------------------------------------


def kazoo_session(proxy: "RecordingProxy") -> None:
    proxy_port = proxy.port
    from kazoo.client import KazooClient
    from kazoo.exceptions import KazooException, NoNodeError
    from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE

    events = []
    client = KazooClient(hosts=f"127.0.0.1:{proxy_port}", timeout=4.0)
    client.start(timeout=IO_TIMEOUT_S)
    try:
        client.create("/golden", b"root")
        client.create("/golden/p", b"data")
        client.create("/golden/e", b"", ephemeral=True)
        client.create("/golden/s-", b"x", sequence=True)
        client.create("/golden/es-", b"y", ephemeral=True, sequence=True)
        client.create("/golden/null", None)
        client.create("/golden/c2", b"z", include_data=True)
        client.get("/golden/p", watch=events.append)
        client.set("/golden/p", b"data2")
        client.get("/golden/null")
        client.exists("/golden/missing", watch=events.append)
        client.exists("/golden/p")
        client.create("/golden/missing", b"")
        client.get_children("/golden", watch=events.append)
        client.get_children("/golden", include_data=True)
        transaction = client.transaction()
        transaction.create("/golden/t1", b"t")
        transaction.set_data("/golden/t1", b"t2")
        transaction.check("/golden/t1", 1)
        transaction.delete("/golden/t1")
        transaction.commit()
        failing = client.transaction()
        failing.create("/golden/t2", b"t")
        failing.delete("/golden/nonexistent")
        failing.check("/golden/p", 0)
        failing.commit()
        client.get_acls("/golden/p")
        client.add_auth("digest", "user:password")
        client.set_acls(
            "/golden/p", [make_digest_acl("user", "password", all=True)] + list(OPEN_ACL_UNSAFE)
        )
        client.get_acls("/golden/p")
        client.sync("/golden")
        try:
            client.get("/golden/nonexistent")
        except NoNodeError:
            pass
        client.delete("/golden/c2", version=0)
        try:
            client.reconfig(joining=None, leaving="2", new_members=None)
        except KazooException:
            pass
        # kazoo pings after ~1/3 of the negotiated timeout (4 s) without traffic.
        time.sleep(2.5)
        proxy.label = "kazoo_ruok"
        client.command(b"ruok")
    finally:
        client.stop()
        client.close()
    if len(events) < 3:
        raise RuntimeError(f"expected 3 watch events in the kazoo session, got {events}")


class RawSession:
    """A blocking socket driven by coord's ClientConnection (for requests kazoo cannot send)."""

    def __init__(self, port: int, read_only=False) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        self.conn = ClientConnection()
        self.events: list = []
        self.sock.sendall(self.conn.connect(0, 10000, read_only=read_only))
        self._read_until(lambda: self.conn.session_id is not None)

    def _read_until(self, done) -> None:
        while not done():
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.events.extend(self.conn.receive_data(data))

    def call(self, opcode, record=None):
        xid, data = self.conn.send(opcode, record)
        return self._exchange(xid, data)

    def call_raw(self, opcode, body: bytes):
        xid, data = self.conn.send_raw(opcode, body)
        return self._exchange(xid, data)

    def _exchange(self, xid, data):
        start = len(self.events)
        self.sock.sendall(data)

        def answered():
            return any(
                isinstance(event, ReplyReceived) and event.xid == xid
                for event in self.events[start:]
            )

        self._read_until(answered)
        return next(
            e for e in self.events[start:] if isinstance(e, ReplyReceived) and e.xid == xid
        )

    def ping(self) -> None:
        self.sock.sendall(self.conn.ping())
        self._read_until(lambda: self.conn.pings_outstanding == 0)

    def close(self) -> None:
        self.call(OpCode.CLOSE_SESSION)
        self.sock.close()

    def expect_close(self) -> None:
        """Read until the server closes the socket (after errors it answers and hangs up)."""
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.sock.close()


def raw_session(proxy: "RecordingProxy") -> None:
    proxy_port = proxy.port
    session = RawSession(proxy_port)
    call = session.call
    ttl = call(OpCode.CREATE_TTL, CreateTTLRequest("/golden/ttl", b"t", OPEN_ACL, CreateMode.PERSISTENT_WITH_TTL, 60000))
    assert ttl.err == 0, ttl
    call(OpCode.CREATE_TTL, CreateTTLRequest("/golden/ttls-", b"t", OPEN_ACL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, 60000))
    call(OpCode.CREATE_TTL, CreateTTLRequest("/golden/badttl", b"t", OPEN_ACL, CreateMode.PERSISTENT, 0))
    call(OpCode.CREATE_CONTAINER, CreateRequest("/golden/container", b"", OPEN_ACL, CreateMode.CONTAINER))
    call(OpCode.CREATE2, CreateRequest("/golden/container/es-", None, OPEN_ACL, CreateMode.EPHEMERAL_SEQUENTIAL))
    call(OpCode.CREATE, CreateRequest("/golden/container/bad", b"", OPEN_ACL, 7))
    call(OpCode.CREATE, CreateRequest("/golden/noacl", b"", [], 0))
    call(OpCode.WHO_AM_I)
    call(OpCode.ADD_WATCH, AddWatchRequest("/golden/ttl", AddWatchMode.PERSISTENT_RECURSIVE))
    call(OpCode.ADD_WATCH, AddWatchRequest("/golden/container", AddWatchMode.PERSISTENT))
    call(OpCode.SET_DATA, SetDataRequest("/golden/ttl", b"t2", -1))  # recursive watch fires
    call(OpCode.CREATE, CreateRequest("/golden/container/child", b"", OPEN_ACL, 0))  # persistent fires
    call(OpCode.EXISTS, ExistsRequest("/golden/ttl", True))
    call(OpCode.CHECK_WATCHES, CheckWatchesRequest("/golden/ttl", WatcherType.DATA))
    call(OpCode.CHECK_WATCHES, CheckWatchesRequest("/golden/ttl", WatcherType.CHILDREN))
    call(OpCode.REMOVE_WATCHES, RemoveWatchesRequest("/golden/ttl", WatcherType.ANY))
    call(OpCode.REMOVE_WATCHES, RemoveWatchesRequest("/golden/ttl", WatcherType.DATA))
    call(OpCode.GET_EPHEMERALS, GetEphemeralsRequest("/golden"))
    call(OpCode.GET_EPHEMERALS, GetEphemeralsRequest(""))
    call(OpCode.GET_ALL_CHILDREN_NUMBER, GetAllChildrenNumberRequest("/golden"))
    call(OpCode.MULTI_READ, MultiRequest((
        (OpCode.GET_DATA, GetDataRequest("/golden/ttl", False)),
        (OpCode.GET_CHILDREN, GetChildrenRequest("/golden/container", False)),
        (OpCode.GET_DATA, GetDataRequest("/golden/absent", False)),
    )))
    call(OpCode.MULTI, MultiRequest((
        (OpCode.CREATE2, CreateRequest("/golden/m1", b"1", OPEN_ACL, 0)),
        (OpCode.CREATE_TTL, CreateTTLRequest("/golden/m2", b"2", OPEN_ACL, CreateMode.PERSISTENT_WITH_TTL, 5000)),
        (OpCode.CREATE_CONTAINER, CreateRequest("/golden/m3", b"3", OPEN_ACL, CreateMode.CONTAINER)),
        (OpCode.CREATE, CreateRequest("/golden/m4", None, OPEN_ACL, 0)),
        (OpCode.SET_DATA, SetDataRequest("/golden/m1", b"11", 0)),
        (OpCode.CHECK, CheckVersionRequest("/golden/m1", 1)),
        (OpCode.DELETE, DeleteRequest("/golden/m4", -1)),
    )))
    call(OpCode.MULTI, MultiRequest(()))
    call(OpCode.MULTI_READ, MultiRequest(()))
    call(OpCode.AUTH, AuthPacket(0, "digest", b"user:password"))
    call(OpCode.SET_WATCHES, SetWatches(
        1, ["/golden/ttl", "/golden/absent"], ["/golden/m1", "/golden/absent2"], ["/golden/container", "/golden/absent3"]
    ))
    # A null vector makes ZooKeeper 3.8 fail with MarshallingError (it iterates the list); empty works.
    call(OpCode.SET_WATCHES2, SetWatches2(
        session.conn.last_zxid_seen, ["/golden/ttl"], [], None, ["/golden/m1"], ["/golden/container"]
    ))
    call(OpCode.SET_WATCHES2, SetWatches2(
        session.conn.last_zxid_seen, ["/golden/ttl"], [], [], ["/golden/m1"], ["/golden/container"]
    ))
    call(OpCode.SET_DATA, SetDataRequest("/golden/ttl", b"t3", -1))  # fires the SetWatches2 watches
    call(OpCode.RECONFIG, ReconfigRequest(None, "2", None, -1))
    call(OpCode.DELETE, DeleteRequest("/golden/m1", 5))
    session.ping()
    session.close()


def warm_up(port: int) -> None:
    """One unrecorded write, so the txn log preallocation does not delay the first recording."""
    session = RawSession(port)
    session.call(OpCode.CREATE, CreateRequest("/warm-up", b"", OPEN_ACL, 0))
    session.call(OpCode.DELETE, DeleteRequest("/warm-up", -1))
    session.close()


def old_client(proxy: "RecordingProxy") -> None:
    proxy_port = proxy.port
    session = RawSession(proxy_port, read_only=None)
    session.call(OpCode.EXISTS, ExistsRequest("/golden", False))
    session.close()


def check_alone(proxy: "RecordingProxy") -> None:
    # ZooKeeper 3.8.0 never answers a lone check (nor closes): give it a few seconds, then hang up.
    proxy_port = proxy.port
    session = RawSession(proxy_port)
    session.sock.settimeout(CHECK_ALONE_WAIT_S)
    try:
        session.call_raw(OpCode.CHECK, b"\x00\x00\x00\x07/golden\xff\xff\xff\xff")
        session.expect_close()
    except TimeoutError:
        session.sock.close()


def unknown_opcode(proxy: "RecordingProxy") -> None:
    proxy_port = proxy.port
    session = RawSession(proxy_port)
    session.call_raw(10, b"")
    session.expect_close()


def malformed_get_data(proxy: "RecordingProxy") -> None:
    proxy_port = proxy.port
    session = RawSession(proxy_port)
    # A path length that runs past the end of the body.
    session.call_raw(OpCode.GET_DATA, b"\x00\x00\x00\x40/golden\x00")
    session.call(OpCode.EXISTS, ExistsRequest("/golden", False))
    session.close()


def mixed_multi(proxy: "RecordingProxy") -> None:
    proxy_port = proxy.port
    session = RawSession(proxy_port)
    mixed = MultiRequest((
        (OpCode.GET_DATA, GetDataRequest("/golden", False)),
        (OpCode.DELETE, DeleteRequest("/golden/nothing", -1)),
    ))
    body = bytearray()
    mixed.serialize(body)
    session.call_raw(OpCode.MULTI, bytes(body))
    bad_flags = MultiRequest(((OpCode.CREATE, CreateRequest("/golden/f", b"", OPEN_ACL, 9)),))
    body = bytearray()
    bad_flags.serialize(body)
    session.call_raw(OpCode.MULTI, bytes(body))
    session.call(OpCode.EXISTS, ExistsRequest("/golden", False))
    session.close()


def zkcli_session(proxy: "RecordingProxy") -> None:
    proxy_port = proxy.port
    commands = "\n".join([
        "create /golden/java hello",
        "create -e /golden/java-e",
        "create -s /golden/java-s- seq",
        "create -c /golden/java-c",
        "create -t 60000 /golden/java-t ttl",
        "get -s -w /golden/java",
        "set /golden/java bye",
        "stat /golden/java",
        "ls -s -w /golden",
        "getAcl /golden/java",
        "addauth digest user:password",
        "setAcl /golden/java auth::cdrwa",
        "addWatch -m PERSISTENT_RECURSIVE /golden/java",
        "sync /golden",
        "whoami",
        "getEphemerals /golden",
        "getAllChildrenNumber /golden",
        "removewatches /golden/java",
        "delete /golden/java-e",
        "quit",
        "",
    ])
    subprocess.run(
        [ZK_CLI_SH, "-server", f"127.0.0.1:{proxy_port}"],
        input=commands.encode(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def c_client_session(proxy: "RecordingProxy") -> None:
    proxy_port = proxy.port
    subprocess.run(
        [C_CLIENT, "-h", f"127.0.0.1:{proxy_port}", "-c", "create2 /golden/c-client"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


SESSIONS = [
    ("kazoo_session", kazoo_session),
    ("raw_session", raw_session),
    ("old_client", old_client),
    ("check_alone", check_alone),
    ("unknown_opcode", unknown_opcode),
    ("malformed_get_data", malformed_get_data),
    ("mixed_multi", mixed_multi),
    ("zkcli_session", zkcli_session),
    ("c_client_session", c_client_session),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=os.path.join(REPO_ROOT, "tests", "protocol", "golden"))
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="coord-golden-")
    server = ZooKeeper(workdir)
    proxy = None
    try:
        server.start()
        version = server.version()
        warm_up(server.port)
        proxy = RecordingProxy(server.port)
        for name, run in SESSIONS:
            proxy.label = name
            print(f"capturing {name}", flush=True)
            try:
                run(proxy)
            except Exception as exc:  # keep the other captures; report the failure
                print(f"  {name} failed: {exc!r}", flush=True)
            proxy.wait_idle(name)
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(args.output_dir, exist_ok=True)
    for connection in proxy.connections:
        four_letter = connection.name in FOUR_LETTER_WORD_CONNECTIONS
        document = {
            "zookeeper_version": version,
            "connection": connection.name,
            "four_letter_word": four_letter,
            "client_to_server": [bytes(connection.client_to_server).hex()]
            if four_letter
            else split_frames(bytes(connection.client_to_server)),
            "server_to_client": [bytes(connection.server_to_client).hex()]
            if four_letter
            else split_frames(bytes(connection.server_to_client)),
        }
        path = os.path.join(args.output_dir, f"{connection.name}.json")
        with open(path, "w") as output:
            json.dump(document, output, indent=1)
            output.write("\n")
        print(f"wrote {path}: {len(document['client_to_server'])} client, "
              f"{len(document['server_to_client'])} server items")
    return 0


if __name__ == "__main__":
    sys.exit(main())
