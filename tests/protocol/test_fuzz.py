"""Fuzz: whatever bytes arrive, the connections produce events or raise RemoteProtocolError.

Never another exception type (no struct.error, IndexError, UnicodeDecodeError, KeyError ...), and
never a different answer because the bytes came in other chunks (h11's fuzz invariant).
"""

import json
import pathlib

from hypothesis import HealthCheck, given, settings, strategies as st

from coord.protocol import records as R
from coord.protocol.client_conn import ClientConnection, ReplyReceived
from coord.protocol.codes import OpCode
from coord.protocol.errors import RemoteProtocolError
from coord.protocol.framing import encode_frame
from coord.protocol.server_conn import (
    FourLetterWord,
    MalformedRequest,
    RequestReceived,
    ServerConnection,
    UnknownRequest,
)

from .samples import SAMPLE_REQUESTS

FUZZ_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONNECT_FRAME = encode_frame(R.encode_record(R.ConnectRequest(0, 0, 30000, 0, b"\0" * 16, False)))
GOLDEN_DIR = pathlib.Path(__file__).parent / "golden"


def golden_frames(direction: str) -> list[bytes]:
    frames = []
    for path in sorted(GOLDEN_DIR.glob("*.json")):
        document = json.loads(path.read_text())
        if not document["four_letter_word"]:
            frames.extend(bytes.fromhex(h) for h in document[direction])
    return frames


CLIENT_GOLDEN = golden_frames("client_to_server")
SERVER_GOLDEN = golden_frames("server_to_client")


def feed(connection, chunks):
    """Events from feeding ``chunks``, and whether a RemoteProtocolError ended it."""
    events = []
    try:
        for chunk in chunks:
            events.extend(connection.receive_data(chunk))
    except RemoteProtocolError:
        return events, True
    return events, False


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


chunk_cuts = st.lists(st.integers(min_value=0, max_value=300), max_size=12)


@FUZZ_SETTINGS
@given(data=st.binary(max_size=300), cuts=chunk_cuts)
def test_server_any_bytes_from_the_start(data, cuts):
    whole, whole_failed = feed(ServerConnection(), [data])
    chunked, chunked_failed = feed(ServerConnection(), split(data, cuts))
    if whole and isinstance(whole[0], FourLetterWord):
        return  # trailing bytes: ignored in the same chunk, refused in a later one (by design)
    if not whole_failed:
        assert chunked == whole and not chunked_failed


@FUZZ_SETTINGS
@given(data=st.binary(max_size=300), cuts=chunk_cuts)
def test_server_any_bytes_after_connect(data, cuts):
    whole, whole_failed = feed(ServerConnection(), [CONNECT_FRAME + data])
    chunked, chunked_failed = feed(ServerConnection(), [CONNECT_FRAME] + split(data, cuts))
    if not whole_failed:
        assert chunked == whole and not chunked_failed


@FUZZ_SETTINGS
@given(
    frames=st.lists(
        st.tuples(
            st.integers(-(2**31), 2**31 - 1),
            st.sampled_from(sorted(SAMPLE_REQUESTS) + [0, 10, 13, 23, -1, -10]),
            st.binary(max_size=80),
        ),
        max_size=6,
    )
)
def test_server_well_framed_requests_with_random_bodies(frames):
    # Valid framing and headers: every frame must become exactly one event, never an exception.
    stream = CONNECT_FRAME + b"".join(
        encode_frame(R.encode_record(R.RequestHeader(xid, opcode)) + body) for xid, opcode, body in frames
    )
    events = ServerConnection().receive_data(stream)[1:]
    assert len(events) == len(frames)
    for event, (xid, opcode, _) in zip(events, frames):
        assert isinstance(event, (RequestReceived, MalformedRequest, UnknownRequest))
        assert (event.xid, event.opcode) == (xid, opcode)


@FUZZ_SETTINGS
@given(
    index=st.integers(min_value=0, max_value=len(CLIENT_GOLDEN) - 1),
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_server_mutated_golden_frames(index, flips):
    frame = bytearray(CLIENT_GOLDEN[index])
    for position, value in flips:
        frame[position % len(frame)] = value
    feed(ServerConnection(), [CONNECT_FRAME, bytes(frame)])


def connected_client() -> ClientConnection:
    """A client with one pending request of every opcode that has a reply body."""
    client = ClientConnection()
    client.connect(0, 10000)
    client.receive_data(encode_frame(R.encode_record(R.ConnectResponse(0, 10000, 1, b"\0" * 16, False))))
    for opcode, records in SAMPLE_REQUESTS.items():
        if opcode not in (OpCode.CLOSE_SESSION,):
            client.send(opcode, records[0])
    return client


@FUZZ_SETTINGS
@given(data=st.binary(max_size=300), cuts=chunk_cuts)
def test_client_any_bytes(data, cuts):
    for make in (lambda: _connecting_client(), connected_client):
        whole, whole_failed = feed(make(), [data])
        chunked, chunked_failed = feed(make(), split(data, cuts))
        if not whole_failed:
            assert chunked == whole and not chunked_failed


def _connecting_client() -> ClientConnection:
    client = ClientConnection()
    client.connect(0, 10000)
    return client


@FUZZ_SETTINGS
@given(bodies=st.lists(st.tuples(st.integers(-130, 0), st.binary(max_size=80)), max_size=8))
def test_client_replies_with_matching_xids_and_random_bodies(bodies):
    # Each reply answers the oldest pending request, so only its body can be wrong.
    client = connected_client()
    for err, body in bodies:
        xid, opcode = client.pending[0]
        frame = encode_frame(R.encode_record(R.ReplyHeader(xid, 5, err)) + body)
        try:
            events = client.receive_data(frame)
        except RemoteProtocolError:
            return
        assert [(type(e), e.xid, e.opcode) for e in events] == [(ReplyReceived, xid, opcode)]


@FUZZ_SETTINGS
@given(
    index=st.integers(min_value=0, max_value=len(SERVER_GOLDEN) - 1),
    flips=st.lists(st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_client_mutated_golden_frames(index, flips):
    frame = bytearray(SERVER_GOLDEN[index])
    for position, value in flips:
        frame[position % len(frame)] = value
    feed(connected_client(), [bytes(frame)])
    feed(_connecting_client(), [bytes(frame)])
