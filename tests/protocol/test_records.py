"""Round trips of every record, the byte examples of the wire reference, and multi's rules."""

import inspect

import pytest
from hypothesis import given, strategies as st

from coord.protocol import records as R
from coord.protocol.codes import Err, OpCode
from coord.protocol.errors import RemoteProtocolError
from coord.protocol.jute import Reader
from coord.protocol.server_conn import ServerConnection

from .samples import SAMPLE_REQUESTS, SAMPLE_RESPONSES, STAT, all_samples


def record_classes():
    return [
        cls for name, cls in vars(R).items()
        if inspect.isclass(cls) and hasattr(cls, "serialize") and hasattr(cls, "_fields")
    ]


def test_every_record_class_has_a_sample():
    sampled = {type(record) for record in all_samples()}
    missing = [cls.__name__ for cls in record_classes() if cls not in sampled]
    assert missing == []


@pytest.mark.parametrize("record", all_samples(), ids=lambda r: type(r).__name__)
def test_round_trip(record):
    encoded = R.encode_record(record)
    assert R.decode_record(type(record), encoded) == record
    # Decoding from the middle of a larger buffer, through a memoryview, reads the same bytes.
    padded = memoryview(b"\xaa" * 3 + encoded + b"\xbb")
    reader = Reader(padded, 3, 3 + len(encoded))
    assert type(record).deserialize(reader) == record
    assert reader.remaining() == 0


@pytest.mark.parametrize("record", all_samples(), ids=lambda r: type(r).__name__)
def test_every_truncation_is_a_remote_protocol_error(record):
    encoded = R.encode_record(record)
    for cut in range(len(encoded)):
        try:
            decoded = R.decode_record(type(record), encoded[:cut])
        except RemoteProtocolError:
            continue
        # Only records with an optional trailing byte may decode shorter.
        assert type(record) in (R.ConnectRequest, R.ConnectResponse)
        assert decoded.read_only is None and cut == len(encoded) - 1


def test_request_and_response_tables_cover_the_same_opcodes():
    assert set(R.REQUEST_RECORDS) == set(R.RESPONSE_RECORDS) == set(SAMPLE_REQUESTS) == set(SAMPLE_RESPONSES)
    for opcode, records in SAMPLE_REQUESTS.items():
        for record in records:
            expected = R.REQUEST_RECORDS[opcode]
            assert (record is None) if expected is None else isinstance(record, expected)
    for opcode, records in SAMPLE_RESPONSES.items():
        for record in records:
            expected = R.RESPONSE_RECORDS[opcode]
            assert (record is None) if expected is None else isinstance(record, expected)


def test_tables_leave_out_what_a_client_may_not_send():
    for opcode in (OpCode.NOTIFICATION, OpCode.CHECK, OpCode.CREATE_SESSION, OpCode.ERROR):
        assert opcode not in R.REQUEST_RECORDS
    assert R.REQUEST_RECORDS[OpCode.MULTI] is R.MultiRequest
    assert R.REQUEST_RECORDS[OpCode.MULTI_READ] is R.MultiRequest
    for bodiless in (OpCode.PING, OpCode.CLOSE_SESSION, OpCode.WHO_AM_I):
        assert R.REQUEST_RECORDS[bodiless] is None


def test_null_and_empty_stay_distinct():
    def body(record):
        return R.encode_record(record)

    assert body(R.SetDataRequest("/a", None, 0)) != body(R.SetDataRequest("/a", b"", 0))
    assert body(R.GetChildrenResponse(None)) == b"\xff\xff\xff\xff"
    assert body(R.GetChildrenResponse([])) == b"\x00\x00\x00\x00"
    assert body(R.SyncRequest(None)) == b"\xff\xff\xff\xff"
    assert body(R.SyncRequest("")) == b"\x00\x00\x00\x00"
    assert R.decode_record(R.GetDataResponse, body(R.GetDataResponse(None, STAT))).data is None
    assert R.decode_record(R.GetDataResponse, body(R.GetDataResponse(b"", STAT))).data == b""


def test_stat_is_68_bytes_in_jute_order():
    assert R.STAT_STRUCT.size == 68
    encoded = R.encode_record(R.Stat(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))
    assert encoded == bytes.fromhex(
        "0000000000000001" "0000000000000002" "0000000000000003" "0000000000000004"
        "00000005" "00000006" "00000007" "0000000000000008" "00000009" "0000000a" "000000000000000b"
    )


# -- the hex examples of docs/zookeeper-wire-protocol.md ------------------------------------------


def hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace("|", " "))


def test_section_8_1_connect_request():
    expected = hex_bytes(
        "00 00 00 2d  00 00 00 00  00 00 00 00 00 00 00 00  00 00 75 30  00 00 00 00 00 00 00 00"
        "00 00 00 10" + " 00" * 16 + " 00"
    )
    record = R.ConnectRequest(0, 0, 30000, 0, b"\0" * 16, False)
    assert len(expected) == 4 + 45
    assert expected == len(R.encode_record(record)).to_bytes(4, "big") + R.encode_record(record)


def test_section_8_1_get_data_request():
    expected = hex_bytes("00 00 00 0f  00 00 00 01  00 00 00 04  00 00 00 02 2f 61  01")
    body = R.encode_record(R.RequestHeader(1, OpCode.GET_DATA)) + R.encode_record(
        R.GetDataRequest("/a", True)
    )
    assert expected == len(body).to_bytes(4, "big") + body


def test_section_8_1_error_reply_notification_and_ping():
    server = ServerConnection()
    assert server.reply(1, 5, Err.NO_NODE) == hex_bytes(
        "00 00 00 10  00 00 00 01  00 00 00 00 00 00 00 05  ff ff ff 9b"
    )
    # A record given with a non-zero err is not sent: error replies are header-only.
    assert server.reply(1, 5, Err.NO_NODE, R.ExistsResponse(STAT)) == server.reply(1, 5, Err.NO_NODE)
    assert server.notification(6, 3, 3, "/a") == hex_bytes(
        "00 00 00 1e  ff ff ff ff  00 00 00 00 00 00 00 06  00 00 00 00  00 00 00 03  00 00 00 03"
        "00 00 00 02 2f 61"
    )
    ping_request = R.encode_record(R.RequestHeader(-2, OpCode.PING))
    assert len(ping_request).to_bytes(4, "big") + ping_request == hex_bytes(
        "00 00 00 08  ff ff ff fe  00 00 00 0b"
    )


SECTION_7_4_FAILED_MULTI = hex_bytes(
    "00 00 00 33"
    "00 00 00 07 | 00 00 00 00 00 00 00 20 | 00 00 00 00"
    "ff ff ff ff | 00 | 00 00 00 00 | 00 00 00 00"
    "ff ff ff ff | 00 | ff ff ff 9b | ff ff ff 9b"
    "ff ff ff ff | 01 | ff ff ff ff"
)


def test_section_7_4_failed_multi_byte_for_byte():
    response = R.MultiResponse((
        (OpCode.ERROR, R.ErrorResponse(Err.OK)),
        (OpCode.ERROR, R.ErrorResponse(Err.NO_NODE)),
    ))
    assert ServerConnection().reply(7, 0x20, 0, response) == SECTION_7_4_FAILED_MULTI
    reader = Reader(SECTION_7_4_FAILED_MULTI, 4)
    assert R.ReplyHeader.deserialize(reader) == R.ReplyHeader(7, 0x20, 0)
    assert R.MultiResponse.deserialize(reader) == response
    assert reader.remaining() == 0


# -- multi ----------------------------------------------------------------------------------------


def multi_body(*ops) -> bytes:
    return R.encode_record(R.MultiRequest(tuple(ops)))


def test_multi_request_encoding_is_headers_records_and_terminator():
    body = multi_body((OpCode.CHECK, R.CheckVersionRequest("/a", 2)))
    assert body == hex_bytes(
        "00 00 00 0d 00 ff ff ff ff" "00 00 00 02 2f 61 00 00 00 02" "ff ff ff ff 01 ff ff ff ff"
    )


def test_multi_request_decodes_opcodes_as_enum_members_and_knows_its_kind():
    write = R.decode_record(R.MultiRequest, multi_body((1, R.CreateRequest("/a", b"", [], 0))))
    assert write.ops[0][0] is OpCode.CREATE and not write.is_read
    read = R.decode_record(R.MultiRequest, multi_body((4, R.GetDataRequest("/a", False))))
    assert read.ops[0][0] is OpCode.GET_DATA and read.is_read
    assert not R.decode_record(R.MultiRequest, multi_body()).is_read


@pytest.mark.parametrize("op_type", [0, 3, 7, 9, 11, 12, 14, 16, 20, 22, 100, -1 & 0x7FFFFFFF])
def test_multi_request_with_an_op_that_cannot_be_in_a_multi_is_a_marshalling_error(op_type):
    body = R.encode_record(R.MultiHeader(op_type, False, -1)) + R.encode_record(
        R.SyncRequest("/a")
    ) + R.encode_record(R.MultiHeader(-1, True, -1))
    with pytest.raises(RemoteProtocolError) as caught:
        R.decode_record(R.MultiRequest, body)
    assert caught.value.code == Err.MARSHALLING_ERROR


def test_multi_request_mixing_reads_and_writes_is_a_marshalling_error():
    for ops in (
        [(OpCode.GET_DATA, R.GetDataRequest("/a", False)), (OpCode.DELETE, R.DeleteRequest("/a", 1))],
        [(OpCode.CHECK, R.CheckVersionRequest("/a", 1)), (OpCode.GET_CHILDREN, R.GetChildrenRequest("/", 0))],
    ):
        with pytest.raises(RemoteProtocolError) as caught:
            R.decode_record(R.MultiRequest, multi_body(*ops))
        assert caught.value.code == Err.MARSHALLING_ERROR


def test_multi_request_keeps_invalid_create_flags_for_the_server_to_judge():
    # ZooKeeper 3.8.0 answers these with a per-op BadArguments result, not MarshallingError.
    decoded = R.decode_record(R.MultiRequest, multi_body((1, R.CreateRequest("/a", b"", [], 9))))
    assert decoded.ops[0][1].flags == 9


def test_multi_request_without_terminator_is_truncated():
    body = multi_body((OpCode.DELETE, R.DeleteRequest("/a", 1)))
    with pytest.raises(RemoteProtocolError):
        R.decode_record(R.MultiRequest, body[:-9])


def test_multi_response_done_is_tested_before_type():
    # The terminator has type -1 like an error result; decoding must stop, not read an ErrorResponse.
    assert R.decode_record(R.MultiResponse, hex_bytes("ff ff ff ff 01 ff ff ff ff")) == R.MultiResponse(())


def test_multi_response_with_unknown_result_type_is_refused():
    body = R.encode_record(R.MultiHeader(OpCode.SYNC, False, 0)) + R.encode_record(
        R.MultiHeader(-1, True, -1)
    )
    with pytest.raises(RemoteProtocolError):
        R.decode_record(R.MultiResponse, body)


def test_multi_response_error_result_writes_err_in_header_and_body():
    body = R.encode_record(R.MultiResponse(((OpCode.ERROR, R.ErrorResponse(Err.BAD_VERSION)),)))
    reader = Reader(body)
    assert R.MultiHeader.deserialize(reader) == R.MultiHeader(-1, False, Err.BAD_VERSION)
    assert R.ErrorResponse.deserialize(reader) == R.ErrorResponse(Err.BAD_VERSION)


def test_decode_record_refuses_trailing_bytes():
    with pytest.raises(RemoteProtocolError):
        R.decode_record(R.SyncRequest, R.encode_record(R.SyncRequest("/a")) + b"\0")


# -- property-based round trips -------------------------------------------------------------------

ints = st.integers(-(2**31), 2**31 - 1)
longs = st.integers(-(2**63), 2**63 - 1)
texts = st.none() | st.text(max_size=20)
blobs = st.none() | st.binary(max_size=40)
acls = st.none() | st.lists(
    st.builds(R.ACL, ints, st.builds(R.Id, texts, texts)), max_size=4
)
stats = st.builds(R.Stat, longs, longs, longs, longs, ints, ints, ints, longs, ints, ints, longs)
string_vectors = st.none() | st.lists(texts, max_size=5)

write_ops = st.one_of(
    st.tuples(st.sampled_from([OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER]),
              st.builds(R.CreateRequest, texts, blobs, acls, ints)),
    st.tuples(st.just(OpCode.CREATE_TTL), st.builds(R.CreateTTLRequest, texts, blobs, acls, ints, longs)),
    st.tuples(st.just(OpCode.DELETE), st.builds(R.DeleteRequest, texts, ints)),
    st.tuples(st.just(OpCode.SET_DATA), st.builds(R.SetDataRequest, texts, blobs, ints)),
    st.tuples(st.just(OpCode.CHECK), st.builds(R.CheckVersionRequest, texts, ints)),
)
read_ops = st.one_of(
    st.tuples(st.just(OpCode.GET_DATA), st.builds(R.GetDataRequest, texts, st.booleans())),
    st.tuples(st.just(OpCode.GET_CHILDREN), st.builds(R.GetChildrenRequest, texts, st.booleans())),
)
results = st.one_of(
    st.tuples(st.just(OpCode.CREATE), st.builds(R.CreateResponse, texts)),
    st.tuples(st.just(OpCode.CREATE2), st.builds(R.Create2Response, texts, stats)),
    st.tuples(st.sampled_from([OpCode.DELETE, OpCode.CHECK]), st.none()),
    st.tuples(st.just(OpCode.SET_DATA), st.builds(R.SetDataResponse, stats)),
    st.tuples(st.just(OpCode.GET_CHILDREN), st.builds(R.GetChildrenResponse, string_vectors)),
    st.tuples(st.just(OpCode.GET_DATA), st.builds(R.GetDataResponse, blobs, stats)),
    st.tuples(st.just(OpCode.ERROR), st.builds(R.ErrorResponse, ints)),
)

records = st.one_of(
    st.builds(R.CreateTTLRequest, texts, blobs, acls, ints, longs),
    st.builds(R.SetWatches2, longs, string_vectors, string_vectors, string_vectors, string_vectors,
              string_vectors),
    st.builds(R.GetACLResponse, acls, stats),
    st.builds(R.WhoAmIResponse, st.none() | st.lists(st.builds(R.ClientInfo, texts, texts), max_size=3)),
    st.builds(R.ConnectRequest, ints, longs, ints, longs, blobs, st.none() | st.booleans()),
    st.builds(R.ConnectResponse, ints, ints, longs, blobs, st.none() | st.booleans()),
    st.builds(R.MultiRequest, st.lists(write_ops, max_size=4).map(tuple)),
    st.builds(R.MultiRequest, st.lists(read_ops, max_size=4).map(tuple)),
    st.builds(R.MultiResponse, st.lists(results, max_size=5).map(tuple)),
    st.builds(R.WatcherEvent, ints, ints, texts),
)


@given(records)
def test_random_records_round_trip(record):
    assert R.decode_record(type(record), R.encode_record(record)) == record
