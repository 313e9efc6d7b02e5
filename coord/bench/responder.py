"""The calibration target: a process that answers ZooKeeper frames as fast as Python can.

Theory of operation. ``coord bench calibrate`` runs the load generator against this instead of a
server, so the figure it reports is the generator's own ceiling on this machine (or the
responder's, whichever is lower: both are shown with their CPU use). It keeps no tree and checks
nothing: every reply is a pre-built ``zxid | err | body`` suffix per opcode (getData: a node of
the requested size; setData: a Stat; multi: five setData results; create: the requested path
echoed), so per request it does one ``unpack_from`` and one ``pack`` of length and xid, and it
answers everything read in one ``recv`` with one ``send``. Several responder processes can share
the port (SO_REUSEPORT) when one is the limit.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import struct

from coord.protocol import records as R
from coord.protocol.codes import Err, OpCode, XID_PING
from coord.protocol.framing import FrameDecoder
from coord.protocol.jute import Reader

__all__ = ["responder_main", "reply_suffixes"]

_HEAD = struct.Struct(">ii")  # frame length, xid (request: then the opcode)
_REQUEST_HEAD = struct.Struct(">ii")  # xid, opcode (after the length)
_ZXID_ERR = struct.Struct(">qi")
_ZERO_STAT = R.Stat(1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1)


def _body(record) -> bytes:
    out = bytearray()
    record.serialize(out)
    return bytes(out)


def reply_suffixes(data_size: int) -> dict:
    """opcode -> the reply's bytes after the xid (zxid, err, body)."""
    ok = _ZXID_ERR.pack(1, 0)
    stat = _ZERO_STAT._replace(data_length=data_size)
    multi = R.MultiResponse(tuple((OpCode.SET_DATA, R.SetDataResponse(stat)) for _ in range(5)))
    return {
        OpCode.GET_DATA: ok + _body(R.GetDataResponse(b"x" * data_size, stat)),
        OpCode.SET_DATA: ok + _body(R.SetDataResponse(stat)),
        OpCode.DELETE: ok,
        OpCode.EXISTS: ok + _body(R.ExistsResponse(stat)),
        OpCode.MULTI: ok + _body(multi),
        OpCode.GET_CHILDREN: ok + _body(R.GetChildrenResponse([])),  # the runner's clean-up
        OpCode.CLOSE_SESSION: ok,
        OpCode.PING: ok,
    }


def _connect_reply(request: bytes) -> bytes:
    ask = R.ConnectRequest.deserialize(Reader(request))
    body = _body(R.ConnectResponse(0, ask.timeout_ms, 0x5EED, b"\x00" * 16, ask.read_only))
    return struct.pack(">i", len(body)) + body


def responder_main(listener: socket.socket, data_size: int, ready) -> None:
    """Serve ``listener`` until SIGTERM; ``ready`` (a pipe end) gets our pid once we accept."""
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    suffixes = reply_suffixes(data_size)
    unimplemented = _ZXID_ERR.pack(1, Err.UNIMPLEMENTED)
    pack_head = _HEAD.pack
    unpack_request = _REQUEST_HEAD.unpack_from
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ, None)
    ready.send(os.getpid())
    ready.close()
    try:
        while True:
            for key, _ in selector.select(1.0):
                if key.data is None:
                    try:
                        sock, _addr = listener.accept()
                    except BlockingIOError:
                        continue
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sock.setblocking(True)  # replies are small; a blocking sendall keeps order simple
                    selector.register(sock, selectors.EVENT_READ, [FrameDecoder(), False])
                    continue
                sock = key.fileobj
                state = key.data
                try:
                    data = sock.recv(1 << 18)
                except ConnectionError:
                    data = b""
                if not data:
                    selector.unregister(sock)
                    sock.close()
                    continue
                parts = []
                closing = False
                for f in state[0].feed(data):
                    if not state[1]:
                        parts.append(_connect_reply(f))
                        state[1] = True
                        continue
                    xid, opcode = unpack_request(f)
                    suffix = suffixes.get(opcode)
                    if suffix is None:
                        if opcode == OpCode.CREATE:
                            path = R.CreateRequest.deserialize(Reader(f, 8)).path
                            suffix = _ZXID_ERR.pack(1, 0) + _body(R.CreateResponse(path))
                        else:
                            suffix = unimplemented
                    elif opcode == OpCode.CLOSE_SESSION:
                        closing = True
                    elif opcode == OpCode.PING:
                        xid = XID_PING
                    parts.append(pack_head(len(suffix) + 4, xid))
                    parts.append(suffix)
                try:
                    sock.sendall(b"".join(parts))
                except OSError:
                    closing = True
                if closing:
                    selector.unregister(sock)
                    sock.close()
    except SystemExit:
        pass
    finally:
        selector.close()
