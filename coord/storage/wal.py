"""The write-ahead log: segment files of records, written in group-committed batches.

Theory of operation
-------------------
The log is a directory of segment files named ``log.<first zxid, 16 hex digits>``; their bytes
are described in ``format.py`` and docs/storage-format.md. Only the newest segment is ever
written, and only by appending; the one exception is a truncation (below), which deletes or cuts
the newest segments.

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

Truncation (Raft log conflicts): a record's zxid is its Raft log index, and a follower must
sometimes discard an uncommitted suffix and take the leader's entries at the same indexes.
``truncate_after(zxid)`` (reactor thread, no I/O) drops every record > ``zxid``: records still in
the pending buffer are cut from it at once; records already sealed or written are discarded by
the next sealed batch, which carries ``truncate_after`` (the lowest point asked for since the last
seal) and may hold no records at all. ``append`` then accepts zxids above ``zxid`` again. ``write``
of such a batch first truncates the disk, in an order that keeps the log recoverable at every
step: delete the segments starting after the point, newest first, fsyncing the directory after
each (so a crash leaves a shorter but still chained log), then cut the segment that straddles
the point at its first record past it (ftruncate + fsync), and only then append the batch's
records. A crash therefore leaves the old log, the old log with part of its suffix gone, or the
truncated log plus a prefix of the new records; never an old record after a new one.
``durable_zxid`` drops to the truncation point at once, so a record re-appended at a discarded
zxid never counts as durable before its own write.

Failure: if a write or fsync fails, what reached the disk is unknown (a failed fsync may already
have dropped the dirty pages, so retrying it proves nothing). The log then refuses all further
writes with ``WalFailedError``; the server must stop, and recovery at the next start sorts out the
tail.

Recovery (``WriteAheadLog.open``) scans every segment, oldest first. A torn tail is truncated
(and fsynced) only in the newest segment; a newest segment left with no record at all is removed.
Anything wrong with an older segment, or a broken ``prev_zxid`` chain, is ``CorruptLogError``.

Threads: ``append``, ``truncate_after``, ``seal``, ``skip_to`` and ``durable_zxid`` belong to the
reactor thread. ``write``, ``read_from``, ``purge`` and ``close`` do blocking I/O and may run on
worker threads; a lock guards the segment list they share, and is never held across a write or
fsync. A second small lock keeps ``durable_zxid`` and the truncations not yet written consistent
between the reactor and the writing worker. A ``read_from`` iterator must be exhausted or closed
before a truncating batch is written: a segment it has open may be cut under it.
"""

from __future__ import annotations

import bisect
import collections
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
    """Records sealed together, and perhaps a truncation before them; made durable by one ``write``.

    ``first_zxid``: the first record's zxid (0 if the batch holds no record). ``last_zxid``: the
    log's last zxid once the batch is written, i.e. the last record's, or ``truncate_after`` for
    a pure truncation. ``truncate_after``: if not None, every record with a greater zxid already
    written is discarded before the batch's records are written.
    """

    first_zxid: int
    last_zxid: int
    count: int
    nbytes: int
    encoded_chunks: tuple[bytes, ...] = dataclasses.field(repr=False)
    truncate_after: int | None = None


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
        # Shared with the writing worker, under _durable_lock: the last zxid written and synced,
        # and one entry per truncating batch not yet written (the last may still be pending).
        # durable_zxid is the least of them: records past a truncation point that is not yet on
        # disk are on their way out, and a new record at such a zxid is not durable yet.
        self._durable_lock = threading.Lock()
        self._written_zxid = last_zxid
        self._unwritten_truncations: collections.deque[int] = collections.deque()
        # Reactor-thread state. The buffer of appended records not yet sealed keeps per-record
        # boundaries (two chunks per record: header, payload) so truncate_after can cut it.
        self._last_appended_zxid = last_zxid
        self._pending_zxids: list[int] = []
        self._pending_chunks: list[bytes] = []
        self._pending_end_bytes: list[int] = []  # bytes of the buffer up to and including each record
        self._pending_truncate_after: int | None = None
        # The log's last zxid once every sealed batch and the pending truncation are written
        # (pending records aside): a truncation below it must reach the disk.
        self._log_end_zxid = last_zxid
        self._skip_floor_zxid = 0  # the highest zxid given to skip_to; no truncation below it

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
            last_zxid=wal._written_zxid,
            complete_after_zxid=wal.complete_after_zxid,
        )
        return wal, recovered

    # ---- reactor thread ----------------------------------------------------------------------

    @property
    def durable_zxid(self) -> int:
        """Every record with a zxid up to this one is durable (0 for an empty log; see skip_to).

        A truncation lowers it at once to the truncation point; it rises again as batches are
        written.
        """
        with self._durable_lock:
            if not self._unwritten_truncations:
                return self._written_zxid
            return min(self._written_zxid, min(self._unwritten_truncations))

    @property
    def last_appended_zxid(self) -> int:
        return self._last_appended_zxid

    def append(self, zxid: int, payload: bytes) -> None:
        """Buffer one record (no I/O). ``zxid`` must exceed every zxid appended before (and not
        since discarded by ``truncate_after``)."""
        if self._closed:
            raise ValueError("append to a closed WriteAheadLog")
        if zxid <= self._last_appended_zxid:
            raise ValueError(
                f"zxid {zxid:#x} does not increase (last appended {self._last_appended_zxid:#x})"
            )
        header = format.encode_record_header(zxid, payload)  # also checks zxid range and size
        self._pending_zxids.append(zxid)
        self._pending_chunks.append(header)
        self._pending_chunks.append(payload)
        self._pending_end_bytes.append(self.pending_bytes + len(header) + len(payload))
        self._last_appended_zxid = zxid

    def truncate_after(self, zxid: int) -> None:
        """Discard every record with a zxid greater than ``zxid`` (no I/O; reactor thread).

        Pending records are dropped from the buffer now. Records already sealed or written are
        discarded on disk by the next sealed batch (see ``Batch.truncate_after``), which ``seal``
        returns even if it holds no record. ``durable_zxid`` and ``last_appended_zxid`` drop to
        ``zxid`` at once if they were above it. Raises ValueError if ``zxid`` is below the floor
        set by ``skip_to`` or below ``complete_after_zxid`` (those records were purged).
        """
        if self._closed:
            raise ValueError("truncate_after on a closed WriteAheadLog")
        if zxid < self._skip_floor_zxid:
            raise ValueError(
                f"truncate_after({zxid:#x}) is below {self._skip_floor_zxid:#x}, which skip_to "
                f"declared durable"
            )
        complete_after_zxid = self.complete_after_zxid
        if zxid < complete_after_zxid:
            raise ValueError(
                f"truncate_after({zxid:#x}) reaches into purged records: the log holds only those "
                f"after {complete_after_zxid:#x}"
            )
        if zxid >= self._last_appended_zxid:
            return  # nothing above it
        kept = bisect.bisect_right(self._pending_zxids, zxid)
        del self._pending_zxids[kept:]
        del self._pending_chunks[2 * kept :]
        del self._pending_end_bytes[kept:]
        if zxid < self._log_end_zxid:
            # Sealed or written records are affected: the next batch truncates the disk.
            with self._durable_lock:
                if self._pending_truncate_after is None:
                    self._unwritten_truncations.append(zxid)
                else:
                    # _log_end_zxid <= the pending point, so this one is lower: it supersedes it.
                    assert zxid < self._pending_truncate_after
                    self._unwritten_truncations[-1] = zxid
            self._pending_truncate_after = zxid
            self._log_end_zxid = zxid
        self._last_appended_zxid = zxid

    def skip_to(self, zxid: int) -> None:
        """Raise ``durable_zxid`` and the append floor to ``zxid`` without writing anything.

        For a new epoch: no record between the last logged one and ``epoch << 32`` exists, so
        everything up to it is as durable as it will ever be, and a reply tagged with it need not
        wait for a write. Requires every appended record and truncation to be written already.
        ``truncate_after`` refuses to go below ``zxid`` afterwards.
        """
        with self._durable_lock:
            truncation_unwritten = bool(self._unwritten_truncations)
        if truncation_unwritten or self._last_appended_zxid != self._written_zxid or self._pending_zxids:
            raise ValueError("skip_to needs every appended record and truncation to be durable first")
        if zxid < self._written_zxid:
            raise ValueError(f"skip_to({zxid:#x}) would move back from {self._written_zxid:#x}")
        self._last_appended_zxid = zxid
        self._log_end_zxid = zxid
        self._skip_floor_zxid = zxid
        with self._durable_lock:
            self._written_zxid = zxid

    @property
    def pending_count(self) -> int:
        """Records appended but not yet sealed."""
        return len(self._pending_zxids)

    @property
    def pending_bytes(self) -> int:
        """Encoded bytes of the records appended but not yet sealed."""
        return self._pending_end_bytes[-1] if self._pending_end_bytes else 0

    @property
    def pending_truncate_after(self) -> int | None:
        """The truncation the next sealed batch will carry (None if none): ``seal`` is due if
        this is set or ``pending_count`` is nonzero."""
        return self._pending_truncate_after

    def seal(self) -> Batch | None:
        """Take the buffered records and pending truncation as one batch (None if there are
        neither). No I/O."""
        truncate_after = self._pending_truncate_after
        if not self._pending_zxids and truncate_after is None:
            return None
        if self._pending_zxids:
            first_zxid, last_zxid = self._pending_zxids[0], self._pending_zxids[-1]
        else:
            assert truncate_after is not None
            first_zxid, last_zxid = 0, truncate_after
        batch = Batch(
            first_zxid=first_zxid,
            last_zxid=last_zxid,
            count=len(self._pending_zxids),
            nbytes=self.pending_bytes,
            encoded_chunks=tuple(self._pending_chunks),
            truncate_after=truncate_after,
        )
        self._pending_zxids = []
        self._pending_chunks = []
        self._pending_end_bytes = []
        self._pending_truncate_after = None
        self._log_end_zxid = last_zxid
        return batch

    # ---- worker thread -----------------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Write ``batch`` and make it durable; blocking.

        A plain batch takes one write + one fdatasync. A batch carrying ``truncate_after`` first
        discards the records after that point on disk (see ``_truncate_on_disk``), then writes
        its records, if any, the same way. Afterwards ``durable_zxid`` is ``batch.last_zxid``
        (unless a later truncation is already pending). Calls must not overlap and must come in
        seal order. On any I/O error the log is marked failed and this and every later
        ``write`` raise.
        """
        if self._failure is not None:
            raise WalFailedError(f"the log in {self.log_dir} failed earlier: {self._failure!r}")
        if self._closed:
            raise ValueError("write to a closed WriteAheadLog")
        truncate_after = batch.truncate_after
        with self._durable_lock:
            written_zxid = self._written_zxid
        # After a truncation the records may reuse zxids above its point, and only those.
        records_after = written_zxid if truncate_after is None else truncate_after
        if batch.count and batch.first_zxid <= records_after:
            raise ValueError(
                f"batch starting at zxid {batch.first_zxid:#x} is out of order "
                f"(durable up to {records_after:#x})"
            )
        if truncate_after is not None and truncate_after < self.complete_after_zxid:
            raise ValueError(
                f"batch truncates after zxid {truncate_after:#x}, but records up to "
                f"{self.complete_after_zxid:#x} were purged meanwhile"
            )
        data = b"".join(batch.encoded_chunks)
        try:
            if truncate_after is not None:
                self._truncate_on_disk(truncate_after)
            if batch.count:
                self._append_on_disk(batch, data)
        except BaseException as error:
            self._failure = error
            raise
        with self._durable_lock:
            # Both at once: a reader must never see the truncation gone but the old zxid kept.
            self._written_zxid = batch.last_zxid
            if truncate_after is not None:
                self._unwritten_truncations.popleft()

    def _append_on_disk(self, batch: Batch, data: bytes) -> None:
        current = self._segments[-1] if self._segments else None
        # Every segment holds at least one record, so rolling here never leaves one empty.
        if current is None or current.durable_bytes + len(data) > self.segment_bytes:
            self._roll(batch, data)
            return
        if self._fd is None:
            self._fd = os.open(current.path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0))
        files.write_all(self._fd, data)
        _fdatasync(self._fd)
        with self._segments_lock:
            current.durable_bytes += len(data)
            current.last_zxid = batch.last_zxid

    def _truncate_on_disk(self, truncate_after: int) -> None:
        """Durably discard every record with a zxid > ``truncate_after``.

        The order keeps the log recoverable if a crash stops it anywhere: first the segments
        that start after the point are deleted, newest first, with a directory fsync after each
        (the survivors are always an unbroken chain, ending in a complete segment); then the
        segment that straddles the point is cut at its first record past it and fsynced. Only
        after that does ``write`` append new records, so they can never precede an old one.
        A file name freed here may be reused by the next segment: its deletion is durable first.
        """
        with self._segments_lock:
            complete_after_zxid = self._segments[0].prev_zxid if self._segments else self._empty_log_prev_zxid
            if truncate_after < complete_after_zxid:
                # write() checked this, but a purge on another thread may have run since.
                raise ValueError(
                    f"cannot truncate after zxid {truncate_after:#x}: records up to "
                    f"{complete_after_zxid:#x} were purged meanwhile"
                )
            kept_count = bisect.bisect_right([segment.first_zxid for segment in self._segments], truncate_after)
            doomed = self._segments[kept_count:]
            # Forget them first, so a read_from or purge that starts now never opens them.
            del self._segments[kept_count:]
            if doomed and not self._segments:
                # The whole log goes; a new first segment still starts where the log was complete.
                self._empty_log_prev_zxid = doomed[0].prev_zxid
        if doomed and self._fd is not None:
            # The fd appends to the newest segment, which is being deleted.
            fd, self._fd = self._fd, None
            os.close(fd)
        for segment in reversed(doomed):
            os.unlink(segment.path)
            files.fsync_dir(self.log_dir)
        if not self._segments or self._segments[-1].last_zxid <= truncate_after:
            return
        straddler = self._segments[-1]
        with open(straddler.path, "rb") as file:
            data = file.read(straddler.durable_bytes)
        scan = format.scan_records(data, file_name=straddler.path)
        if scan.torn_tail or scan.valid_end != straddler.durable_bytes:
            # These bytes were verified at open or written and fsynced by us since: rot.
            raise format.CorruptLogError(
                straddler.path, scan.valid_end, scan.torn_reason or "segment is shorter than what was written"
            )
        cut_at = format.SEGMENT_HEADER_BYTES
        last_kept_zxid = straddler.prev_zxid
        for zxid, payload in scan.records:
            if zxid > truncate_after:
                break
            cut_at += format.RECORD_HEADER_BYTES + len(payload)
            last_kept_zxid = zxid
        # The straddler's first record is <= truncate_after, so it never becomes empty.
        assert last_kept_zxid >= straddler.first_zxid
        files.truncate_durably(straddler.path, cut_at)
        with self._segments_lock:
            straddler.durable_bytes = cut_at
            straddler.last_zxid = last_kept_zxid

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
