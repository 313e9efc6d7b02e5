"""Pipelined read and write throughput of coord against Apache ZooKeeper, measured in one run.

    python -m benchmarks.pipelined_load [--seconds 5] [--connections 4] [--depth 50]

Starts a fresh ZooKeeper 3.8 (Debian package) and a fresh coord on 127.0.0.1, each alone on the
machine while it is measured, and drives each with the same load generator: one client process
holding several connections, each keeping ``depth`` requests in flight (getData of a 100-byte
node, or setData of 100 bytes). Both servers get a warm-up run first (ZooKeeper's JIT needs it).
Results are printed as ops/s and as the ratio coord / ZooKeeper, which is the figure to quote:
absolute numbers on a shared 2-core machine mean little.
"""

import argparse
import selectors
import socket
import subprocess
import sys
import tempfile
import time

from coord.protocol import records as R
from coord.protocol.client_conn import ClientConnection
from coord.protocol.codes import OpCode
from coord.testing.servers import CoordProcess, ZooKeeperProcess, zookeeper_unavailable_reason

OPEN_ACL = [R.ACL(31, R.Id("world", "anyone"))]
PAYLOAD = b"x" * 100


def _connect(host, port):
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    codec = ClientConnection()
    sock.sendall(codec.connect(0, 30000))
    deadline = time.monotonic() + 10
    while not codec.receive_data(sock.recv(65536)):
        if time.monotonic() > deadline:
            raise RuntimeError("no ConnectResponse")
    return sock, codec


def drive(host, port, op, seconds, connections, depth):
    """Run the load in this process; returns completed ops per second."""
    conns = [_connect(host, port) for _ in range(connections)]
    sock, codec = conns[0]
    sock.sendall(codec.send(OpCode.CREATE, R.CreateRequest("/bench", PAYLOAD, OPEN_ACL, 0))[1])
    while not codec.receive_data(sock.recv(65536)):
        pass   # NodeExists from an earlier run is fine too
    if op == "read":
        request = (OpCode.GET_DATA, R.GetDataRequest("/bench", False))
    else:
        request = (OpCode.SET_DATA, R.SetDataRequest("/bench", PAYLOAD, -1))
    selector = selectors.DefaultSelector()
    for sock, codec in conns:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, codec)
        sock.sendall(b"".join(codec.send(*request)[1] for _ in range(depth)))
    completed = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        for key, _ in selector.select(1.0):
            codec = key.data
            events = codec.receive_data(key.fileobj.recv(1 << 20))
            if events:
                completed += len(events)
                key.fileobj.sendall(b"".join(codec.send(*request)[1] for _ in events))
    elapsed = time.monotonic() - started
    for sock, _ in conns:
        sock.close()
    return completed / elapsed


def measure(server, op, args):
    """Run the load generator in its own process, so it does not share the GIL with anything."""
    command = [sys.executable, "-m", "benchmarks.pipelined_load", "--drive", server.host,
               str(server.port), op, str(args.seconds), str(args.connections), str(args.depth)]
    out = subprocess.run(command, check=True, capture_output=True, text=True,
                         timeout=args.seconds * 3 + 60)
    return float(out.stdout.strip())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--drive", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        host, port, op, seconds, connections, depth = args.drive
        print(drive(host, int(port), op, float(seconds), int(connections), int(depth)))
        return 0
    reason = zookeeper_unavailable_reason()
    if reason:
        print("ZooKeeper is needed for the comparison: %s" % reason, file=sys.stderr)
        return 2
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for kind, make in (("zookeeper", ZooKeeperProcess), ("coord", CoordProcess)):
            server = make("%s/%s" % (work, kind))
            server.start()
            try:
                measure(server, "read", argparse.Namespace(seconds=2, connections=args.connections,
                                                           depth=args.depth))   # warm-up
                for op in ("read", "write"):
                    results[kind, op] = measure(server, op, args)
            finally:
                server.stop()
    print("%-6s %14s %14s %8s" % ("op", "zookeeper/s", "coord/s", "ratio"))
    for op in ("read", "write"):
        zk, co = results["zookeeper", op], results["coord", op]
        print("%-6s %14.0f %14.0f %7.2fx" % (op, zk, co, co / zk))
    return 0


if __name__ == "__main__":
    sys.exit(main())
