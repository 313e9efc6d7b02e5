"""Byte layout of log segments, and the scan that tells good records, torn tails and corruption apart.

Theory of operation
-------------------
This module is pure: bytes in, records or errors out. It never touches a file; ``wal.py`` reads
and truncates files, and asks this module what their bytes mean. docs/storage-format.md is the
authoritative description of the layout; the summary here is what the code depends on.

A segment file is a header followed by records, every integer big-endian::

    segment header (32 bytes)
      magic          8  b"COORDLOG"
      version        u32  FORMAT_VERSION
      header_crc     u32  crc32 of the 16 bytes that follow it (the two zxids)
      first_zxid     i64  zxid of the first record; also the file's name
      prev_zxid      i64  zxid of the last record of the log before this segment (0: none)

    record (16-byte header + payload)
      crc            u32  crc32 of everything after this field: length, zxid and payload
      length         u32  payload length in bytes, at most MAX_PAYLOAD_BYTES
      zxid           i64  strictly increasing within the log, > 0
      payload        length bytes, opaque

``prev_zxid`` chains segments, so a missing segment in the middle or at the start of the log is
detectable even though zxids are not contiguous (an epoch change jumps them).

Why CRC-32 (``zlib.crc32``): it runs in C, releases the GIL on large buffers and can be extended
over several buffers without concatenating them; the checksum's job here is to tell a torn or
rotted record from a good one, not to resist an adversary. etcd uses CRC-32C and ZooKeeper
Adler-32 for the same job. The CRC covers the length too, so a flipped bit in the length field
is caught even when the wrong length happens to land on a plausible boundary.

Scanning a segment (``scan_records``) walks record by record. At the first record that is not
good (incomplete, implausible length, CRC mismatch) it decides between two explanations:

* **Torn tail.** Nothing valid follows the bad spot up to the end of the data. The bytes can only
  be a write that a crash cut short; that write was never fsynced, so never acknowledged, and the
  caller truncates it away.
* **Mid-log corruption.** Searching forward byte by byte from the bad spot finds a record whose
  CRC checks and whose zxid is greater than the last good one. Records were written after the bad
  one, so the bad one had been acknowledged: raise ``CorruptLogError`` naming the file and byte
  offset, never drop it silently.

A record whose CRC checks but whose zxid does not increase is corruption outright (no write we
make can produce it). The search is bounded by the data length and skips zero runs quickly,
since a valid header always holds a nonzero zxid.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import zlib

SEGMENT_MAGIC = b"COORDLOG"
FORMAT_VERSION = 1

# magic, version, header_crc, first_zxid, prev_zxid
_SEGMENT_HEADER = struct.Struct(">8sIIqq")
SEGMENT_HEADER_BYTES = _SEGMENT_HEADER.size  # 32
# The header CRC covers first_zxid and prev_zxid (the bytes after the CRC field).
_SEGMENT_HEADER_CRC_FROM = 16

# crc, length, zxid
_RECORD_HEADER = struct.Struct(">IIq")
RECORD_HEADER_BYTES = _RECORD_HEADER.size  # 16
_LENGTH_AND_ZXID = struct.Struct(">Iq")

# A limit on one record, so a corrupt length can never make us allocate or search gigabytes.
# ZooKeeper's default jute.maxbuffer is 1 MiB per request; a transaction is at most a few of them.
MAX_PAYLOAD_BYTES = 64 * 2**20

MAX_ZXID = 2**63 - 1


class StorageError(Exception):
    """Base of the errors the storage layer raises about what it found on disk."""


class CorruptLogError(StorageError):
    """A log segment holds bytes that cannot be explained by a crash: the operator must act.

    ``file_name`` and ``offset`` (bytes from the start of the file) say where; ``reason`` says what.
    """

    def __init__(self, file_name: str, offset: int, reason: str) -> None:
        self.file_name = file_name
        self.offset = offset
        self.reason = reason
        super().__init__(f"corrupt log segment {file_name} at byte offset {offset}: {reason}")


@dataclasses.dataclass(frozen=True, slots=True)
class SegmentHeader:
    first_zxid: int
    prev_zxid: int


@dataclasses.dataclass(frozen=True, slots=True)
class ScanResult:
    """What a segment's bytes hold.

    ``header`` is None when the file is too short or zero where the header belongs (a segment
    whose creation a crash cut short; ``torn_tail`` is then True and ``valid_end`` 0).
    ``valid_end`` is the offset just past the last good record (or the header): truncate there.
    ``torn_reason`` explains the torn tail in words for the operator's log ("" if none).
    """

    header: SegmentHeader | None
    records: list[tuple[int, bytes]]
    valid_end: int
    torn_tail: bool
    torn_reason: str = ""

    @property
    def last_zxid(self) -> int | None:
        return self.records[-1][0] if self.records else None


def segment_file_name(first_zxid: int) -> str:
    return f"log.{first_zxid:016x}"


def parse_segment_file_name(name: str) -> int | None:
    """The first zxid a segment file name stands for, or None if the name is not a segment's."""
    prefix, _, digits = name.partition(".")
    if prefix != "log" or len(digits) != 16:
        return None
    try:
        return int(digits, 16)
    except ValueError:
        return None


def _check_zxid(zxid: int) -> None:
    if not 0 < zxid <= MAX_ZXID:
        raise ValueError(f"zxid {zxid} is outside 1..2**63-1")


def encode_segment_header(first_zxid: int, prev_zxid: int) -> bytes:
    _check_zxid(first_zxid)
    if not 0 <= prev_zxid < first_zxid:
        raise ValueError(f"prev_zxid {prev_zxid} must be in 0..first_zxid-1 ({first_zxid - 1})")
    body = struct.pack(">qq", first_zxid, prev_zxid)
    return _SEGMENT_HEADER.pack(SEGMENT_MAGIC, FORMAT_VERSION, zlib.crc32(body), first_zxid, prev_zxid)


def decode_segment_header(data: bytes, *, file_name: str) -> SegmentHeader | None:
    """Parse a segment header; None if it is torn (short, or all zeros); raise if it is wrong."""
    if len(data) < SEGMENT_HEADER_BYTES or not any(data[:SEGMENT_HEADER_BYTES]):
        # Only a creation cut short by a crash leaves a short or zeroed header; but a short file
        # that starts with something other than our magic was never ours.
        prefix = bytes(data[: len(SEGMENT_MAGIC)])
        if any(prefix) and not SEGMENT_MAGIC.startswith(prefix):
            raise CorruptLogError(file_name, 0, f"not a coord log segment (starts with {prefix!r})")
        return None
    magic, version, header_crc, first_zxid, prev_zxid = _SEGMENT_HEADER.unpack_from(data, 0)
    if magic != SEGMENT_MAGIC:
        raise CorruptLogError(
            file_name, 0, f"not a coord log segment (magic {magic!r}, expected {SEGMENT_MAGIC!r})"
        )
    if version != FORMAT_VERSION:
        raise CorruptLogError(
            file_name, 8, f"log format version {version} is not supported (this build reads {FORMAT_VERSION})"
        )
    if zlib.crc32(memoryview(data)[_SEGMENT_HEADER_CRC_FROM:SEGMENT_HEADER_BYTES]) != header_crc:
        raise CorruptLogError(file_name, 12, "segment header CRC mismatch")
    if not (0 < first_zxid and 0 <= prev_zxid < first_zxid):
        raise CorruptLogError(
            file_name, 16, f"segment header zxids are inconsistent (first {first_zxid:#x}, prev {prev_zxid:#x})"
        )
    return SegmentHeader(first_zxid=first_zxid, prev_zxid=prev_zxid)


def encode_record_header(zxid: int, payload: bytes) -> bytes:
    """The 16 bytes that precede ``payload`` in the log (kept apart so batches avoid a copy)."""
    _check_zxid(zxid)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_PAYLOAD_BYTES ({MAX_PAYLOAD_BYTES})")
    length_and_zxid = _LENGTH_AND_ZXID.pack(len(payload), zxid)
    crc = zlib.crc32(payload, zlib.crc32(length_and_zxid))
    return struct.pack(">I", crc) + length_and_zxid


def encode_record(zxid: int, payload: bytes) -> bytes:
    return encode_record_header(zxid, payload) + payload


def _record_at(view: memoryview, offset: int) -> tuple[int, int] | str:
    """Decode the record at ``offset``: (zxid, end offset) if its bytes are good, else a reason.

    Whether the zxid fits its place in the log is the caller's question.
    """
    end_of_data = len(view)
    if offset + RECORD_HEADER_BYTES > end_of_data:
        return f"incomplete record header ({end_of_data - offset} of {RECORD_HEADER_BYTES} bytes)"
    crc, length, zxid = _RECORD_HEADER.unpack_from(view, offset)
    if length > MAX_PAYLOAD_BYTES:
        return f"implausible payload length {length}"
    end = offset + RECORD_HEADER_BYTES + length
    if end > end_of_data:
        return f"incomplete record (needs {end - offset} bytes, {end_of_data - offset} present)"
    if zlib.crc32(view[offset + 4 : end]) != crc:
        return "record CRC mismatch"
    if zxid <= 0:
        return f"record zxid {zxid} is not positive"
    return zxid, end


_NONZERO_BYTE = re.compile(rb"[^\x00]")


def _find_later_record(view: memoryview, start: int, after_zxid: int) -> int | None:
    """Offset of the first CRC-valid record at or after ``start`` with zxid > ``after_zxid``."""
    end_of_data = len(view)
    offset = start
    while offset + RECORD_HEADER_BYTES <= end_of_data:
        # A valid header holds a nonzero zxid in its bytes 8..16, so zero runs (a preallocated or
        # zero-filled tail) are skipped in one C-speed search instead of byte by byte.
        if not any(view[offset + 8 : offset + RECORD_HEADER_BYTES]):
            nonzero = _NONZERO_BYTE.search(view, offset + RECORD_HEADER_BYTES)
            if nonzero is None:
                return None
            offset = max(offset + 1, nonzero.start() - (RECORD_HEADER_BYTES - 1))
            continue
        _crc, length, zxid = _RECORD_HEADER.unpack_from(view, offset)
        if (
            zxid > after_zxid
            and length <= MAX_PAYLOAD_BYTES
            and offset + RECORD_HEADER_BYTES + length <= end_of_data
            and not isinstance(_record_at(view, offset), str)
        ):
            return offset
        offset += 1
    return None


def scan_records(data: bytes, *, file_name: str) -> ScanResult:
    """Decode a whole segment file's bytes; see the module docstring for the torn/corrupt rule.

    Raises CorruptLogError for a wrong or damaged header, for mid-log corruption, for a zxid that
    does not increase and for a first record whose zxid differs from the header's first_zxid.
    """
    view = memoryview(data)
    header = decode_segment_header(view, file_name=file_name)
    if header is None:
        return ScanResult(
            header=None,
            records=[],
            valid_end=0,
            torn_tail=len(data) > 0,
            torn_reason=f"segment header incomplete or zero ({len(data)} bytes)" if data else "",
        )

    records: list[tuple[int, bytes]] = []
    offset = SEGMENT_HEADER_BYTES
    last_zxid = header.first_zxid - 1
    end_of_data = len(view)
    while offset < end_of_data:
        found = _record_at(view, offset)
        if isinstance(found, str):
            later = _find_later_record(view, offset + 1, last_zxid)
            if later is not None:
                raise CorruptLogError(
                    file_name,
                    offset,
                    f"{found}, yet a valid record follows at offset {later}: acknowledged data is damaged",
                )
            return ScanResult(
                header=header,
                records=records,
                valid_end=offset,
                torn_tail=True,
                torn_reason=f"{found}; {end_of_data - offset} bytes to the end hold no valid record",
            )
        zxid, end = found
        if not records and zxid != header.first_zxid:
            raise CorruptLogError(
                file_name,
                offset,
                f"first record has zxid {zxid:#x} but the segment header says {header.first_zxid:#x}",
            )
        if zxid <= last_zxid:
            raise CorruptLogError(
                file_name, offset, f"zxid {zxid:#x} does not increase (previous record {last_zxid:#x})"
            )
        records.append((zxid, bytes(view[offset + RECORD_HEADER_BYTES : end])))
        last_zxid = zxid
        offset = end
    return ScanResult(header=header, records=records, valid_end=offset, torn_tail=False)
