"""The write-ahead log: segment files of records, written in group-committed batches.

Theory of operation
-------------------
The log is a directory of segment files named ``log.<first zxid, 16 hex digits>``; their bytes
are described in ``format.py`` and docs/storage-format.md. Only the newest segment is ever
written, and only by appending.

Group commit has two phases so that the Twisted reactor thread never waits for the disk:

1. Reactor thread: ``append(zxid, payload)`` encodes the record into an in-memory buffer (no
   I/O). ``seal()`` swaps the buffer out as a ``Batch``: the records appended since the last seal.
2. Worker thread: ``write(batch)`` writes the batch with one ``os.write`` and makes it durable with
   one ``fdatasync`` (``fsync`` where the platform has no fdatasync), then advances
   ``durable_zxid``. Meanwhile the reactor keeps appending into the next batch.

The caller runs at most one ``write`` at a time, in seal order. ``fdatasync`` is enough for
appends: it flushes the file size along with the data, since the data cannot be read back without
it (etcd and ZooKeeper use it for the same reason). A new segment is the exception: its directory
entry is made durable with an fsync of the directory before the batch counts as durable.

A segment rolls when the next batch would take it past ``segment_bytes`` (a batch is never split
across segments, so a segment exceeds the limit only if one batch alone does). The new segment's
header records the zxid of the last record before it (``prev_zxid``), chaining the segments.

Failure: if a write or fsync fails, what reached the disk is unknown (a failed fsync may already
have dropped the dirty pages, so retrying it proves nothing). The log then refuses all further
writes with ``WalFailedError``; the server must stop, and recovery at the next start sorts out the
tail.

Recovery (``WriteAheadLog.open``) scans every segment, oldest first. A torn tail is truncated
(and fsynced) only in the newest segment; a newest segment left with no record at all is removed.
Anything wrong with an older segment, or a broken ``prev_zxid`` chain, is ``CorruptLogError``.

Threads: ``append``, ``seal`` and ``durable_zxid`` belong to the reactor thread. ``write``,
``read_from``, ``purge`` and ``close`` do blocking I/O and may run on worker threads; a lock
guards the segment list they share, and is never held across a write or fsync.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from typing import Callable, Iterator

from coord.storage import files, format

log = logging.getLogger(__name__)

DEFAULT_SEGMENT_BYTES = 64 * 2**20

Warn = Callable[[str], None]

# fdatasync flushes the data and the file size (what an append needs), skipping the mtime.
_fdatasync = getattr(os, "fdatasync", os.fsync)


class WalFailedError(format.StorageError):
    """A write or fsync failed earlier; nothing more may be written (restart to recover)."""


class RecordsPurgedError(format.StorageError):
    """``read_from`` was asked for records that have been purged (send a snapshot instead)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """Records sealed together; made durable by one ``write``."""

    first_zxid: int
    last_zxid: int
    count: int
    nbytes: int
    encoded_chunks: tuple[bytes, ...] = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Recovered:
    """What ``WriteAheadLog.open`` found.

    ``records``: every record with zxid > the ``keep_after_zxid`` given to ``open``, in zxid
    order, as a list (the whole log is scanned and validated either way; older records are not
    kept in memory). ``last_zxid``: the zxid of the newest record in the log, 0 if it is empty.
    ``complete_after_zxid``: the log holds every record with a zxid greater than this (older ones
    were purged); 0 for a log that was never purged, ``keep_after_zxid`` for an empty log.
    """

    records: list[tuple[int, bytes]]
    last_zxid: int
    complete_after_zxid: int


@dataclasses.dataclass(slots=True)
class _Segment:
    first_zxid: int
    prev_zxid: int
    path: str
    durable_bytes: int  # everything up to here has been written and fsynced
    last_zxid: int


class WriteAheadLog:
    """Segmented append-only log of (zxid, payload) records with two-phase group commit."""

    def __init__(
        self, log_dir: str, segments: list[_Segment], *, segment_bytes: int, empty_log_prev_zxid: int
    ) -> None:
        """Use ``WriteAheadLog.open``; this only assembles an already recovered log."""
        self.log_dir = log_dir
        self.segment_bytes = segment_bytes
        self._segments = segments
        # prev_zxid for the first segment of an empty log: what the caller's snapshot covers.
        self._empty_log_prev_zxid = empty_log_prev_zxid
        self._segments_lock = threading.Lock()
        self._fd: int | None = None  # open for appending to self._segments[-1]
        self._failure: BaseException | None = None
        self._closed = False
        last_zxid = segments[-1].last_zxid if segments else 0
        self._durable_zxid = last_zxid
        # Reactor-thread state: the buffer of appended records not yet sealed.
        self._last_appended_zxid = last_zxid
        self._pending_chunks: list[bytes] = []
        self._pending_first_zxid = 0
        self._pending_count = 0
        self._pending_bytes = 0

    # ---- opening and recovery ----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        log_dir: str | os.PathLike,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        keep_after_zxid: int = 0,
        warn: Warn | None = None,
    ) -> tuple[WriteAheadLog, Recovered]:
        """Recover the log in ``log_dir`` (created if missing) and open it for appending.

        ``keep_after_zxid`` is the zxid the caller's snapshot covers (0: none). Returns the log
        and a ``Recovered`` holding the records with zxid > ``keep_after_zxid``; if the log is
        empty, its first segment will record that it starts after ``keep_after_zxid``.
        ``warn`` receives a message for each repair (a truncated torn tail); by default it goes
        to the ``coord.storage.wal`` logger. Raises ``CorruptLogError`` for anything a crash
        cannot explain.
        """
        if segment_bytes < format.SEGMENT_HEADER_BYTES + format.RECORD_HEADER_BYTES:
            raise ValueError(f"segment_bytes {segment_bytes} is too small to hold a record")
        warn = warn or log.warning
        log_dir = os.fspath(log_dir)
        os.makedirs(log_dir, exist_ok=True)
        names = sorted(
            (first_zxid, name)
            for name in os.listdir(log_dir)
            if (first_zxid := format.parse_segment_file_name(name)) is not None
        )
        segments: list[_Segment] = []
        kept: list[tuple[int, bytes]] = []
        for index, (name_zxid, name) in enumerate(names):
            is_newest = index == len(names) - 1
            path = os.path.join(log_dir, name)
            with open(path, "rb") as file:
                data = file.read()
            scan = format.scan_records(data, file_name=path)
            if scan.torn_tail and not is_newest:
                raise format.CorruptLogError(
                    path, scan.valid_end, f"{scan.torn_reason}, in a segment that is not the newest"
                )
            if not scan.records:
                if not is_newest:
                    raise format.CorruptLogError(path, scan.valid_end, "older segment holds no records")
                # The newest segment's first batch never became durable: remove the whole file.
                warn(f"removing log segment {path}: it holds no complete record ({scan.torn_reason or 'empty'})")
                os.unlink(path)
                files.fsync_dir(log_dir)
                continue
            assert scan.header is not None
            if scan.header.first_zxid != name_zxid:
                raise format.CorruptLogError(
                    path, 16, f"header first zxid {scan.header.first_zxid:#x} does not match the file name"
                )
            previous_last_zxid = segments[-1].last_zxid if segments else None
            if previous_last_zxid is not None and scan.header.prev_zxid != previous_last_zxid:
                raise format.CorruptLogError(
                    path,
                    24,
                    f"segment follows zxid {scan.header.prev_zxid:#x} but the previous segment ends at "
                    f"{previous_last_zxid:#x}: a log segment is missing or was replaced",
                )
            if scan.torn_tail:
                warn(
                    f"truncating torn tail of log segment {path} at byte offset {scan.valid_end} "
                    f"({len(data) - scan.valid_end} bytes, never acknowledged): {scan.torn_reason}"
                )
                files.truncate_durably(path, scan.valid_end)
            last_zxid = scan.records[-1][0]
            segments.append(
                _Segment(
                    first_zxid=name_zxid,
                    prev_zxid=scan.header.prev_zxid,
                    path=path,
                    durable_bytes=scan.valid_end,
                    last_zxid=last_zxid,
                )
            )
            if last_zxid > keep_after_zxid:
                kept.extend(record for record in scan.records if record[0] > keep_after_zxid)
        wal = cls(log_dir, segments, segment_bytes=segment_bytes, empty_log_prev_zxid=keep_after_zxid)
        recovered = Recovered(
            records=kept,
            last_zxid=wal._durable_zxid,
            complete_after_zxid=wal.complete_after_zxid,
        )
        return wal, recovered

    # ---- reactor thread ----------------------------------------------------------------------

    @property
    def durable_zxid(self) -> int:
        """Every record with a zxid up to this one is durable (0 for an empty log; see skip_to)."""
        return self._durable_zxid

    @property
    def last_appended_zxid(self) -> int:
        return self._last_appended_zxid

    def append(self, zxid: int, payload: bytes) -> None:
        """Buffer one record (no I/O). ``zxid`` must exceed every zxid appended before."""
        if self._closed:
            raise ValueError("append to a closed WriteAheadLog")
        if zxid <= self._last_appended_zxid:
            raise ValueError(
                f"zxid {zxid:#x} does not increase (last appended {self._last_appended_zxid:#x})"
            )
        header = format.encode_record_header(zxid, payload)  # also checks zxid range and size
        if not self._pending_count:
            self._pending_first_zxid = zxid
        self._pending_chunks.append(header)
        self._pending_chunks.append(payload)
        self._pending_count += 1
        self._pending_bytes += len(header) + len(payload)
        self._last_appended_zxid = zxid

    def skip_to(self, zxid: int) -> None:
        """Raise ``durable_zxid`` and the append floor to ``zxid`` without writing anything.

        For a new epoch: no record between the last logged one and ``epoch << 32`` exists, so
        everything up to it is as durable as it will ever be, and a reply tagged with it need not
        wait for a write. Requires every appended record to be written already.
        """
        if self._last_appended_zxid != self._durable_zxid or self._pending_count:
            raise ValueError("skip_to needs every appended record to be durable first")
        if zxid < self._durable_zxid:
            raise ValueError(f"skip_to({zxid:#x}) would move back from {self._durable_zxid:#x}")
        self._last_appended_zxid = zxid
        self._durable_zxid = zxid

    @property
    def pending_count(self) -> int:
        """Records appended but not yet sealed."""
        return self._pending_count

    def seal(self) -> Batch | None:
        """Take the buffered records as one batch (None if there are none). No I/O."""
        if not self._pending_count:
            return None
        batch = Batch(
            first_zxid=self._pending_first_zxid,
            last_zxid=self._last_appended_zxid,
            count=self._pending_count,
            nbytes=self._pending_bytes,
            encoded_chunks=tuple(self._pending_chunks),
        )
        self._pending_chunks = []
        self._pending_count = 0
        self._pending_bytes = 0
        return batch

    # ---- worker thread -----------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Write ``batch`` and make it durable (one write + one fdatasync); blocking.

        Calls must not overlap and must come in seal order. On any I/O error the log is marked
        failed and this and every later ``write`` raise.
        """
        if self._failure is not None:
            raise WalFailedError(f"the log in {self.log_dir} failed earlier: {self._failure!r}")
        if self._closed:
            raise ValueError("write to a closed WriteAheadLog")
        if batch.first_zxid <= self._durable_zxid:
            raise ValueError(
                f"batch starting at zxid {batch.first_zxid:#x} is out of order "
                f"(durable up to {self._durable_zxid:#x})"
            )
        data = b"".join(batch.encoded_chunks)
        try:
            current = self._segments[-1] if self._segments else None
            # Every segment holds at least one record, so rolling here never leaves one empty.
            if current is None or current.durable_bytes + len(data) > self.segment_bytes:
                self._roll(batch, data)
            else:
                if self._fd is None:
                    self._fd = os.open(current.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
                files.write_all(self._fd, data)
                _fdatasync(self._fd)
                with self._segments_lock:
                    current.durable_bytes += len(data)
                    current.last_zxid = batch.last_zxid
        except BaseException as error:
            self._failure = error
            raise
        self._durable_zxid = batch.last_zxid

    def _roll(self, batch: Batch, data: bytes) -> None:
        """Start a new segment holding ``batch``: header + records in one write, then fsyncs."""
        prev_zxid = self._segments[-1].last_zxid if self._segments else self._empty_log_prev_zxid
        path = os.path.join(self.log_dir, format.segment_file_name(batch.first_zxid))
        header = format.encode_segment_header(batch.first_zxid, prev_zxid)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            files.write_all(fd, header + data)
            # A new file: fsync (not fdatasync) so its inode is durable, then its directory entry.
            os.fsync(fd)
            files.fsync_dir(self.log_dir)
        except BaseException:
            os.close(fd)
            raise
        old_fd, self._fd = self._fd, fd
        with self._segments_lock:
            self._segments.append(
                _Segment(
                    first_zxid=batch.first_zxid,
                    prev_zxid=prev_zxid,
                    path=path,
                    durable_bytes=len(header) + len(data),
                    last_zxid=batch.last_zxid,
                )
            )
        if old_fd is not None:
            os.close(old_fd)

    @property
    def complete_after_zxid(self) -> int:
        """The log holds every record whose zxid is greater than this (older ones were purged)."""
        with self._segments_lock:
            if not self._segments:
                return self._empty_log_prev_zxid
            return self._segments[0].prev_zxid

    def segment_paths(self) -> list[str]:
        """Paths of the segment files, oldest first (for operators and tests)."""
        with self._segments_lock:
            return [segment.path for segment in self._segments]

    def read_from(self, zxid: int) -> Iterator[tuple[int, bytes]]:
        """Iterate the durable records with zxid > ``zxid``, in order (blocking file reads).

        Records appended or sealed but not yet written are not included. Raises
        ``RecordsPurgedError`` at once if records after ``zxid`` have been purged. The files
        needed are opened before this returns, so a concurrent ``purge`` cannot pull them away;
        the iterator closes them when exhausted, on ``close()``, or as a context manager.
        """
        with self._segments_lock:
            complete_after_zxid = self._segments[0].prev_zxid if self._segments else self._empty_log_prev_zxid
            if zxid < complete_after_zxid:
                raise RecordsPurgedError(
                    f"records after zxid {zxid:#x} were purged: the log holds only those after "
                    f"{complete_after_zxid:#x}"
                )
            needed = [
                (segment.path, segment.durable_bytes)
                for index, segment in enumerate(self._segments)
                if index == len(self._segments) - 1 or self._segments[index + 1].first_zxid > zxid + 1
            ]
            return _SegmentReader(zxid, needed)

    def purge(self, before_zxid: int) -> list[str]:
        """Delete segments holding only records < ``before_zxid``; returns the deleted paths.

        A segment is deleted only when the next segment starts at or before ``before_zxid``, so
        the segment that could contain ``before_zxid`` is kept, and so is the newest segment.
        Afterwards ``complete_after_zxid`` <= ``before_zxid``: every record after it is kept.
        """
        with self._segments_lock:
            doomed_count = 0
            while (
                doomed_count < len(self._segments) - 1
                and self._segments[doomed_count + 1].first_zxid <= before_zxid
            ):
                doomed_count += 1
            doomed = self._segments[:doomed_count]
            # Forget them first: a read_from that starts now must not try to open them.
            del self._segments[:doomed_count]
        # Oldest first, so a crash part-way leaves a log that still starts cleanly.
        for segment in doomed:
            os.unlink(segment.path)
        if doomed:
            files.fsync_dir(self.log_dir)
        return [segment.path for segment in doomed]

    def close(self) -> None:
        """Close the file. Records appended but not written are dropped (never acknowledged)."""
        self._closed = True
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _SegmentReader:
    """Iterator over the records after ``after_zxid`` in already opened segment files."""

    def __init__(self, after_zxid: int, segments: list[tuple[str, int]]) -> None:
        self._after_zxid = after_zxid
        self._opened: list[tuple[object, str, int]] = []
        try:
            for path, durable_bytes in segments:
                self._opened.append((open(path, "rb"), path, durable_bytes))
        except BaseException:
            self.close()
            raise
        self._records: Iterator[tuple[int, bytes]] = iter(())

    def __iter__(self) -> _SegmentReader:
        return self

    def __next__(self) -> tuple[int, bytes]:
        while True:
            for record in self._records:
                return record
            if not self._opened:
                raise StopIteration
            file, path, durable_bytes = self._opened.pop(0)
            with file:
                data = file.read(durable_bytes)
            scan = format.scan_records(data, file_name=path)
            if scan.torn_tail:
                # These bytes were verified at open or written and fsynced by us since: rot.
                self.close()
                raise format.CorruptLogError(path, scan.valid_end, scan.torn_reason)
            self._records = iter([record for record in scan.records if record[0] > self._after_zxid])

    def close(self) -> None:
        for file, _, _ in self._opened:
            file.close()
        self._opened = []

    def __enter__(self) -> _SegmentReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
