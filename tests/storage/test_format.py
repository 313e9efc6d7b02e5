"""Record and segment encoding, and the scan rule: torn tail (truncate) vs corruption (refuse)."""

import struct

import pytest
from hypothesis import assume, given, settings, strategies as st

from coord.storage import format
from coord.storage.format import (
    RECORD_HEADER_BYTES,
    SEGMENT_HEADER_BYTES,
    CorruptLogError,
    encode_record,
    encode_segment_header,
    scan_records,
)

FILE = "log.test"


def segment(records, prev_zxid=0):
    """Bytes of a segment holding ``records``, and the offset of each record."""
    parts = [encode_segment_header(records[0][0], prev_zxid)]
    offsets = []
    offset = SEGMENT_HEADER_BYTES
    for zxid, payload in records:
        offsets.append(offset)
        encoded = encode_record(zxid, payload)
        parts.append(encoded)
        offset += len(encoded)
    return b"".join(parts), offsets


def flip_bit(data, offset, bit=0):
    mutable = bytearray(data)
    mutable[offset] ^= 1 << bit
    return bytes(mutable)


RECORDS = [(0x100000001 + i, bytes([i]) * (i * 7 % 40)) for i in range(8)]


def test_round_trip():
    data, _ = segment(RECORDS, prev_zxid=5)
    result = scan_records(data, file_name=FILE)
    assert result.records == RECORDS
    assert result.valid_end == len(data)
    assert not result.torn_tail
    assert result.header == format.SegmentHeader(first_zxid=RECORDS[0][0], prev_zxid=5)
    assert result.last_zxid == RECORDS[-1][0]


def test_record_layout_is_crc_length_zxid_payload():
    encoded = encode_record(0x0000000200000003, b"abc")
    crc, length, zxid = struct.unpack(">IIq", encoded[:16])
    assert (length, zxid, encoded[16:]) == (3, 0x0000000200000003, b"abc")
    import zlib

    assert crc == zlib.crc32(encoded[4:])


def test_encode_rejects_bad_zxids_and_oversized_payloads():
    with pytest.raises(ValueError):
        encode_record(0, b"")
    with pytest.raises(ValueError):
        encode_record(2**63, b"")
    with pytest.raises(ValueError):
        format.encode_record_header(1, b"x" * (format.MAX_PAYLOAD_BYTES + 1))


def test_wrong_magic_is_rejected_with_a_clear_message():
    data, _ = segment(RECORDS)
    with pytest.raises(CorruptLogError, match="not a coord log segment") as caught:
        scan_records(b"PK\x03\x04" + data[4:], file_name=FILE)
    assert caught.value.file_name == FILE and caught.value.offset == 0
    with pytest.raises(CorruptLogError, match="not a coord log segment"):
        scan_records(b"hello", file_name=FILE)


def test_unsupported_version_and_damaged_header_are_rejected():
    data, _ = segment(RECORDS)
    newer = data[:8] + struct.pack(">I", format.FORMAT_VERSION + 1) + data[12:]
    with pytest.raises(CorruptLogError, match="version 2 is not supported"):
        scan_records(newer, file_name=FILE)
    with pytest.raises(CorruptLogError, match="header CRC mismatch"):
        scan_records(flip_bit(data, 20), file_name=FILE)


@pytest.mark.parametrize("data", [b"", b"COORD", b"\0" * 10, b"\0" * 200])
def test_torn_or_zeroed_header_is_a_torn_tail_with_nothing_valid(data):
    result = scan_records(data, file_name=FILE)
    assert result.header is None and result.records == [] and result.valid_end == 0
    assert result.torn_tail == bool(data)


def test_every_truncation_point_of_the_last_record_is_a_torn_tail():
    data, offsets = segment(RECORDS)
    last_start = offsets[-1]
    for cut in range(last_start, len(data)):
        result = scan_records(data[:cut], file_name=FILE)
        assert result.records == RECORDS[:-1], cut
        assert result.valid_end == last_start
        assert result.torn_tail == (cut != last_start)


@settings(max_examples=200, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=64), min_size=1, max_size=12),
    cut_fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
    tail=st.sampled_from(["none", "zeros", "garbage"]),
    garbage=st.binary(min_size=1, max_size=100),
)
def test_property_a_cut_last_record_is_torn_and_earlier_records_survive(payloads, cut_fraction, tail, garbage):
    records = [(1000 + 3 * i, payload) for i, payload in enumerate(payloads)]
    data, offsets = segment(records)
    last_start = offsets[-1]
    cut = last_start + int(cut_fraction * (len(data) - last_start))
    torn = data[:cut]
    if tail == "zeros":
        torn += b"\0" * len(garbage)
    elif tail == "garbage":
        torn += garbage
    # A tail that happens to supply exactly the missing bytes rebuilds the record: not a tear.
    assume(not torn.startswith(data))
    result = scan_records(torn, file_name=FILE)
    assert result.records == records[:-1]
    assert result.valid_end == last_start
    assert result.torn_tail == (len(torn) > last_start)


def test_flipped_bit_in_a_middle_record_is_corruption_naming_file_and_offset():
    data, offsets = segment(RECORDS)
    for index in (0, 3, len(RECORDS) - 2):
        for field_offset in (0, 5, 12, RECORD_HEADER_BYTES):  # crc, length, zxid, payload
            if field_offset == RECORD_HEADER_BYTES and not RECORDS[index][1]:
                continue
            damaged = flip_bit(data, offsets[index] + field_offset, bit=3)
            with pytest.raises(CorruptLogError) as caught:
                scan_records(damaged, file_name="/data/log/log.0000000100000001")
            error = caught.value
            assert error.offset == offsets[index], (index, field_offset)
            assert "/data/log/log.0000000100000001" in str(error)
            assert f"offset {offsets[index]}" in str(error)


@pytest.mark.parametrize("field_offset", [0, 2, 5, 9, 15, 16, 20])
def test_flipped_bit_in_the_last_record_is_a_torn_tail(field_offset):
    records = RECORDS[:-1] + [(RECORDS[-1][0], b"last record payload")]
    data, offsets = segment(records)
    result = scan_records(flip_bit(data, offsets[-1] + field_offset, bit=6), file_name=FILE)
    assert result.records == records[:-1]
    assert result.valid_end == offsets[-1]
    assert result.torn_tail and result.torn_reason


def test_zero_filled_tail_after_good_records_is_torn():
    data, _ = segment(RECORDS)
    result = scan_records(data + b"\0" * 4096, file_name=FILE)
    assert result.records == RECORDS and result.valid_end == len(data) and result.torn_tail


def test_garbage_then_a_valid_record_is_corruption():
    data, _ = segment(RECORDS)
    later = encode_record(RECORDS[-1][0] + 10, b"acknowledged later")
    with pytest.raises(CorruptLogError, match="valid record follows") as caught:
        scan_records(data + b"\xff" * 37 + later, file_name=FILE)
    assert caught.value.offset == len(data)


def test_garbage_then_an_older_zxid_record_is_still_a_torn_tail():
    # Only a record newer than the last good one proves that the bad spot had been acknowledged.
    data, _ = segment(RECORDS)
    stale = encode_record(RECORDS[2][0], b"stale")
    result = scan_records(data + b"\x01" * 20 + stale, file_name=FILE)
    assert result.records == RECORDS and result.torn_tail


def test_zxid_going_backwards_or_repeating_is_corruption():
    for bad_zxid in (RECORDS[-1][0], RECORDS[-1][0] - 1):
        data, _ = segment(RECORDS)
        with pytest.raises(CorruptLogError, match="does not increase") as caught:
            scan_records(data + encode_record(bad_zxid, b"again"), file_name=FILE)
        assert caught.value.offset == len(data)


def test_first_record_must_match_the_header():
    data, _ = segment(RECORDS)
    header = encode_segment_header(RECORDS[0][0] - 1, 0)
    with pytest.raises(CorruptLogError, match="segment header says"):
        scan_records(header + data[SEGMENT_HEADER_BYTES:], file_name=FILE)


def test_file_names():
    assert format.segment_file_name(0x100000001) == "log.0000000100000001"
    assert format.parse_segment_file_name("log.0000000100000001") == 0x100000001
    for name in ("log.1", "log.000000010000000g", "snapshot.0000000100000001", "log.0000000100000001.tmp"):
        assert format.parse_segment_file_name(name) is None
