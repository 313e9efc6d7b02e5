"""Snapshot files: written to a temporary name, fsynced, renamed; loaded newest valid first.

Theory of operation
-------------------
A snapshot is an opaque byte stream from the tree, labelled with the zxid at which its
serialization started. The tree keeps applying transactions while it serializes, so a snapshot
is *fuzzy*: it reflects every transaction up to its zxid and possibly some after it. Recovery
therefore replays every log record with a zxid greater than the snapshot's (transactions are
idempotent), and the log must keep those records (see ``retain``).

One rule for the caller: commit a snapshot only once the log is durable up to the last zxid the
tree had applied when serialization finished. Otherwise the snapshot could hold a transaction
that never reached the log, which a restart would then resurrect without its log record.

File ``snapshot.<zxid, 16 hex digits>`` (big-endian)::

    header  (24 bytes)  magic b"COORDSNP", version u32, flags u32 (0), zxid i64
    body                the tree's bytes
    trailer (16 bytes)  body_bytes u64, crc32 u32 over header + body, magic b"SEND"

``SnapshotWriter`` streams chunks into ``snapshot.<zxid>.tmp`` through a buffered file, so small
chunks cost no system call each, and keeps a running CRC. ``commit`` appends the trailer, fsyncs,
renames to the final name and fsyncs the directory; a crash at any point leaves either the old
set of snapshots or the new complete one (plus, perhaps, a ``.tmp`` that is ignored and removed
by ``remove_temporary_files``). The trailer also makes a truncated file detectable without the
rename guarantee.

``load_newest_valid`` tries snapshots newest first and skips, with a warning naming the file and
the reason, any that fails a check; the caller must then confirm the log reaches back to the
older snapshot it got. All functions here block and may run on a worker thread.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from typing import Callable

from coord.storage import files, format

SNAPSHOT_MAGIC = b"COORDSNP"
SNAPSHOT_VERSION = 1
_HEADER = struct.Struct(">8sIIq")  # magic, version, flags, zxid
_TRAILER = struct.Struct(">QI4s")  # body_bytes, crc, magic
TRAILER_MAGIC = b"SEND"
HEADER_BYTES = _HEADER.size  # 24
TRAILER_BYTES = _TRAILER.size  # 16
_NAME = re.compile(r"snapshot\.([0-9a-f]{16})")
_TEMPORARY_NAME = re.compile(r"snapshot\.([0-9a-f]{16})\.tmp")
_READ_CHUNK_BYTES = 4 * 2**20

Warn = Callable[[str], None]


class CorruptSnapshotError(format.StorageError):
    """A snapshot file failed a check; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"snapshot {path} is unusable: {reason}")


def snapshot_file_name(zxid: int) -> str:
    return f"snapshot.{zxid:016x}"


def list_snapshots(snap_dir: str | os.PathLike) -> list[tuple[int, str]]:
    """(zxid, path) of every snapshot file by name, newest first; content is not checked."""
    snap_dir = os.fspath(snap_dir)
    found = []
    for name in os.listdir(snap_dir):
        match = _NAME.fullmatch(name)
        if match:
            found.append((int(match.group(1), 16), os.path.join(snap_dir, name)))
    found.sort(reverse=True)
    return found


class SnapshotWriter:
    """Streams one snapshot to disk; ``commit`` makes it durable and visible, ``abort`` drops it.

    Usable as a context manager: leaving the block without ``commit`` aborts.
    """

    def __init__(self, snap_dir: str | os.PathLike, zxid: int) -> None:
        if not 0 <= zxid <= format.MAX_ZXID:
            raise ValueError(f"snapshot zxid {zxid} is outside 0..2**63-1")
        self.snap_dir = os.fspath(snap_dir)
        self.zxid = zxid
        self.path = os.path.join(self.snap_dir, snapshot_file_name(zxid))
        self.temporary_path = self.path + ".tmp"
        self.body_bytes = 0
        header = _HEADER.pack(SNAPSHOT_MAGIC, SNAPSHOT_VERSION, 0, zxid)
        self._crc = zlib.crc32(header)
        self._file = open(self.temporary_path, "wb")
        self._done = False
        try:
            self._file.write(header)
        except BaseException:
            self.abort()
            raise

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError(f"write to a finished snapshot {self.temporary_path}")
        self._file.write(chunk)
        self._crc = zlib.crc32(chunk, self._crc)
        self.body_bytes += len(chunk)

    def commit(self) -> str:
        """Make the snapshot durable under its final name; returns that path."""
        if self._done:
            raise ValueError(f"snapshot {self.temporary_path} is already finished")
        try:
            self._file.write(_TRAILER.pack(self.body_bytes, self._crc, TRAILER_MAGIC))
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.temporary_path, self.path)
            files.fsync_dir(self.snap_dir)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self.path

    def abort(self) -> None:
        """Drop the temporary file (safe to call more than once)."""
        if self._done:
            return
        self._done = True
        self._file.close()
        try:
            os.unlink(self.temporary_path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.abort()


def read_snapshot(path: str, zxid_from_name: int | None = None) -> bytes:
    """The body of the snapshot at ``path``; raises CorruptSnapshotError if any check fails."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size < HEADER_BYTES + TRAILER_BYTES:
            raise CorruptSnapshotError(path, f"only {size} bytes, shorter than header + trailer")
        header = file.read(HEADER_BYTES)
        body_bytes = size - HEADER_BYTES - TRAILER_BYTES
        body = file.read(body_bytes)
        trailer = file.read(TRAILER_BYTES)
    _check(path, header, body_bytes, zlib.crc32(body, zlib.crc32(header)), trailer, zxid_from_name)
    return body


def check_snapshot(path: str, zxid_from_name: int | None = None) -> None:
    """Like ``read_snapshot`` but streams the file, holding only a chunk in memory."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size < HEADER_BYTES + TRAILER_BYTES:
            raise CorruptSnapshotError(path, f"only {size} bytes, shorter than header + trailer")
        header = file.read(HEADER_BYTES)
        crc = zlib.crc32(header)
        remaining = body_bytes = size - HEADER_BYTES - TRAILER_BYTES
        while remaining:
            chunk = file.read(min(remaining, _READ_CHUNK_BYTES))
            if not chunk:
                raise CorruptSnapshotError(path, "file shrank while being read")
            crc = zlib.crc32(chunk, crc)
            remaining -= len(chunk)
        trailer = file.read(TRAILER_BYTES)
    _check(path, header, body_bytes, crc, trailer, zxid_from_name)


def _check(path, header, body_bytes, crc, trailer, zxid_from_name) -> None:
    magic, version, _flags, zxid = _HEADER.unpack(header)
    if magic != SNAPSHOT_MAGIC:
        raise CorruptSnapshotError(path, f"not a coord snapshot (magic {magic!r}, expected {SNAPSHOT_MAGIC!r})")
    if version != SNAPSHOT_VERSION:
        raise CorruptSnapshotError(
            path, f"snapshot format version {version} is not supported (this build reads {SNAPSHOT_VERSION})"
        )
    if len(trailer) != TRAILER_BYTES:
        raise CorruptSnapshotError(path, "file shrank while being read")
    trailer_body_bytes, trailer_crc, trailer_magic = _TRAILER.unpack(trailer)
    if trailer_magic != TRAILER_MAGIC:
        raise CorruptSnapshotError(path, "no trailer: the file is incomplete or damaged at its end")
    if trailer_body_bytes != body_bytes:
        raise CorruptSnapshotError(
            path, f"length mismatch: trailer says {trailer_body_bytes} body bytes, file holds {body_bytes}"
        )
    if trailer_crc != crc:
        raise CorruptSnapshotError(path, f"CRC mismatch (stored {trailer_crc:#010x}, computed {crc:#010x})")
    if zxid_from_name is not None and zxid != zxid_from_name:
        raise CorruptSnapshotError(path, f"header zxid {zxid:#x} does not match the file name")


def load_newest_valid(snap_dir: str | os.PathLike, *, warn: Warn) -> tuple[int, bytes] | None:
    """(zxid, body) of the newest snapshot that passes every check, or None if there is none.

    Each snapshot skipped on the way is reported through ``warn`` with its path and the reason.
    """
    for zxid, path in list_snapshots(snap_dir):
        try:
            return zxid, read_snapshot(path, zxid)
        except CorruptSnapshotError as error:
            warn(f"skipping {error}; trying an older snapshot")
    return None


def retain(snap_dir: str | os.PathLike, count: int, *, warn: Warn | None = None) -> int | None:
    """Keep the newest ``count`` valid snapshots, delete every other one; blocking.

    Returns the zxid of the oldest snapshot kept (None if no valid snapshot exists, in which case
    nothing is deleted): the log must be kept for every record after it. Invalid snapshots are
    deleted too, each reported through ``warn`` if given. Validity is checked by reading every
    candidate in full, streaming.
    """
    if count < 1:
        raise ValueError(f"retain count must be at least 1, not {count}")
    kept: list[int] = []
    doomed: list[tuple[str, CorruptSnapshotError | None]] = []
    for zxid, path in list_snapshots(snap_dir):
        if len(kept) == count:
            doomed.append((path, None))
            continue
        try:
            check_snapshot(path, zxid)
        except CorruptSnapshotError as error:
            doomed.append((path, error))
            continue
        kept.append(zxid)
    if not kept:
        return None
    for path, error in doomed:
        if error is not None and warn is not None:
            warn(f"deleting {error}")
        os.unlink(path)
    if doomed:
        files.fsync_dir(os.fspath(snap_dir))
    return kept[-1]


def remove_temporary_files(snap_dir: str | os.PathLike) -> list[str]:
    """Delete ``snapshot.*.tmp`` left by a crash mid-write; call only while holding the data dir lock."""
    snap_dir = os.fspath(snap_dir)
    removed = []
    for name in os.listdir(snap_dir):
        if _TEMPORARY_NAME.fullmatch(name):
            path = os.path.join(snap_dir, name)
            os.unlink(path)
            removed.append(path)
    return removed
