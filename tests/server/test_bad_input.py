"""Bad input over real sockets, against coord and Apache ZooKeeper: the same answers, and the
server keeps serving everyone else afterwards."""

import socket
import struct
import time

import pytest

from coord.protocol import records as R
from coord.protocol.client_conn import ClientConnection
from coord.protocol.codes import OpCode

READ_TIMEOUT_S = 5.0


def open_socket(server):
    sock = socket.create_connection((server.host, server.port), timeout=READ_TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def handshake(sock):
    codec = ClientConnection()
    sock.sendall(codec.connect(0, 10000))
    deadline = time.monotonic() + READ_TIMEOUT_S
    while time.monotonic() < deadline:
        if codec.receive_data(sock.recv(65536)):
            return codec
    raise AssertionError("no ConnectResponse")


def read_until_closed(sock):
    """Everything the server sends until it closes; None if it is still open after the timeout."""
    received = b""
    deadline = time.monotonic() + READ_TIMEOUT_S
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    return None


def reply_errors(data):
    """The err field of each framed ReplyHeader in ``data``."""
    errors = []
    while len(data) >= 4:
        (length,) = struct.unpack_from(">i", data)
        frame = data[4:4 + length]
        errors.append(struct.unpack_from(">iqi", frame)[2])
        data = data[4 + length:]
    return errors


def still_serving(make_client):
    client = make_client()
    assert client.get_children("/") is not None


def test_garbage_first_bytes_close_the_connection(server, make_client):
    sock = open_socket(server)
    sock.sendall(b"\xff\xff\xff\xf0hello garbage")
    assert read_until_closed(sock) == b""
    sock.close()
    still_serving(make_client)


def test_oversized_frame_closes_the_connection(server, make_client):
    sock = open_socket(server)
    handshake(sock)
    sock.sendall(struct.pack(">i", 2 * 1024 * 1024) + b"\0" * 64)
    assert read_until_closed(sock) == b""
    sock.close()
    still_serving(make_client)


def test_unknown_opcode_is_unimplemented_then_closed(server, make_client):
    sock = open_socket(server)
    codec = handshake(sock)
    sock.sendall(codec.send_raw(77)[1])
    assert reply_errors(read_until_closed(sock)) == [-6]
    sock.close()
    still_serving(make_client)


def test_check_outside_multi(server_kind, request):
    """coord answers Unimplemented and closes, as ZooKeeper 3.9's code does. ZooKeeper 3.8.0 throws
    a NullPointerException, never answers, keeps the connection, and logs a transaction its own
    restart cannot read ("Unsupported Txn with type=%d13"), hence a server of its own here."""
    if server_kind.startswith("zookeeper-"):
        pytest.skip("ZooKeeper 3.8.0 answers a lone check with a NullPointerException and a "
                    "transaction it cannot read back: not a behaviour to compare an ensemble with")
    fresh_server = request.getfixturevalue("fresh_server")
    sock = open_socket(fresh_server)
    codec = handshake(sock)
    body = bytearray()
    R.CheckVersionRequest("/", -1).serialize(body)
    sock.sendall(codec.send_raw(OpCode.CHECK, bytes(body))[1])
    if fresh_server.implementation == "zookeeper":
        sock.settimeout(3.0)
        with pytest.raises(socket.timeout):    # still open, and nothing is ever said
            sock.recv(1)
    else:
        assert reply_errors(read_until_closed(sock)) == [-6]
    sock.close()


def test_truncated_frame_then_vanishing_client_harms_nobody(server, make_client):
    sock = open_socket(server)
    codec = handshake(sock)
    xid, data = codec.send(OpCode.GET_DATA, R.GetDataRequest("/", False))
    sock.sendall(data[:len(data) - 3])
    sock.close()
    still_serving(make_client)


def test_handshake_cut_short_then_vanishing(server, make_client):
    sock = open_socket(server)
    sock.sendall(ClientConnection().connect(0, 10000)[:20])
    sock.close()
    still_serving(make_client)


@pytest.mark.parametrize("length", [-5, 0])
def test_bad_first_frame_lengths(server, make_client, length):
    sock = open_socket(server)
    sock.sendall(struct.pack(">i", length) + b"\0" * 8)
    assert read_until_closed(sock) == b""
    sock.close()
    still_serving(make_client)


@pytest.mark.parametrize("opcode, body", [
    (OpCode.GET_DATA, struct.pack(">i", 100) + b"/a"),   # path length beyond the frame
    (OpCode.CREATE, struct.pack(">i", 2) + b"/a"),       # record cut after the path
    (OpCode.SET_DATA, b""),
], ids=["getData", "create", "setData"])
def test_malformed_body_is_marshalling_error_and_connection_stays(server, opcode, body):
    sock = open_socket(server)
    codec = handshake(sock)
    sock.sendall(codec.send_raw(opcode, body)[1])
    sock.settimeout(READ_TIMEOUT_S)
    assert reply_errors(sock.recv(65536)) == [-5]
    sock.sendall(codec.send(OpCode.GET_DATA, R.GetDataRequest("/", False))[1])
    assert reply_errors(sock.recv(65536)) == [0]
    sock.close()
