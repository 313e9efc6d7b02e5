"""The data directory as a whole: exclusive lock, persisted epoch, and recovery at start-up.

Theory of operation
-------------------
Layout (docs/storage-format.md has the bytes)::

    <data_dir>/LOCK          flock'ed for as long as a server has the directory open
    <data_dir>/epoch         the epoch of the last start, decimal text and a newline
    <data_dir>/snapshots/    snapshot.<zxid hex>   (snapshots.py)
    <log root>/log/          log.<first zxid hex>  (wal.py); log root = log_dir or data_dir
    <log root>/LOCK          also flock'ed when the log lives under a separate log_dir

``DataDir.open`` does, in order:

1. Create the directories and take the locks (``fcntl.flock``, non-blocking). The kernel drops
   a flock when its holder dies, even by SIGKILL, so a stale LOCK file never blocks a restart;
   a second live server gets ``DataDirLockedError``.
2. Load the newest valid snapshot, skipping (with a warning) any that fails its checks.
3. Recover the log: validate every segment, truncate a torn tail, keep the records after the
   snapshot's zxid. Snapshots are fuzzy, so **every** record after the snapshot zxid is replayed.
4. Check that the log reaches back to the snapshot: it must hold every record after the
   snapshot's zxid. If older records were purged (say a newer snapshot turned out corrupt and an
   older one was used), start-up fails with ``RecoveryError`` rather than silently losing them.
5. Bump the epoch: ``max(epoch file, epoch of the newest recovered zxid) + 1``, written
   atomically (temporary file, fsync, rename, fsync directory). The epoch is this run's
   incarnation number; session ids carry it so they stay unique across restarts. (Zxids are
   consensus log indexes and need no floor: they only grow, see docs/consensus.md.) It is bumped
   after recovery so a failed start burns none.

The caller (the server) then rebuilds its tree from ``snapshot_bytes`` and
``log_records_to_replay`` and appends new transactions to ``wal``.
"""

from __future__ import annotations

import fcntl
import logging
import os
from typing import Callable

from coord.storage import files, format, snapshots, wal as wal_module

log = logging.getLogger(__name__)

Warn = Callable[[str], None]

MAX_EPOCH = 2**31 - 1  # zxid = epoch << 32 | counter must stay a positive int64
LOCK_FILE_NAME = "LOCK"
EPOCH_FILE_NAME = "epoch"
SNAPSHOT_DIR_NAME = "snapshots"
LOG_DIR_NAME = "log"


class DataDirLockedError(format.StorageError):
    """Another process (another coord server) has the directory open."""


class EpochFileError(format.StorageError):
    """The epoch file exists but does not hold an epoch."""


class RecoveryError(format.StorageError):
    """The snapshot and log on disk cannot be combined into a complete state."""


class DataDir:
    """An open, locked, recovered data directory. Build it with ``DataDir.open``."""

    def __init__(self) -> None:
        """Use ``DataDir.open``."""
        self.data_dir = ""
        self.log_dir = ""
        self.snapshot_dir = ""
        self.epoch = 0
        self.wal: wal_module.WriteAheadLog | None = None
        self.snapshot_zxid = 0
        self.snapshot_bytes: bytes | None = None
        self.log_records_to_replay: list[tuple[int, bytes]] = []
        self.last_zxid = 0
        self._lock_fds: list[int] = []
        self._warn: Warn = log.warning

    @classmethod
    def open(
        cls,
        data_dir: str | os.PathLike,
        log_dir: str | os.PathLike | None = None,
        *,
        segment_bytes: int = wal_module.DEFAULT_SEGMENT_BYTES,
        warn: Warn | None = None,
    ) -> DataDir:
        """Lock, recover and open ``data_dir`` (log under ``log_dir`` if given); see the module doc.

        ``warn`` receives one message per repair or skipped file (default: the
        ``coord.storage.datadir`` logger). Raises ``DataDirLockedError``, ``CorruptLogError``,
        ``RecoveryError`` or ``EpochFileError``; on error nothing stays open or locked.
        """
        self = cls()
        self._warn = warn or log.warning
        self.data_dir = os.path.abspath(os.fspath(data_dir))
        log_root = os.path.abspath(os.fspath(log_dir)) if log_dir is not None else self.data_dir
        self.log_dir = os.path.join(log_root, LOG_DIR_NAME)
        self.snapshot_dir = os.path.join(self.data_dir, SNAPSHOT_DIR_NAME)
        try:
            os.makedirs(self.data_dir, exist_ok=True)
            self._lock(self.data_dir)
            os.makedirs(log_root, exist_ok=True)
            if os.path.realpath(log_root) != os.path.realpath(self.data_dir):
                self._lock(log_root)
            os.makedirs(self.snapshot_dir, exist_ok=True)
            os.makedirs(self.log_dir, exist_ok=True)
            self._recover(segment_bytes)
        except BaseException:
            self.close()
            raise
        return self

    @property
    def recovered_snapshot(self) -> tuple[int, bytes] | None:
        """(snapshot_zxid, snapshot_bytes) of the snapshot recovery used, None if there was none."""
        return None if self.snapshot_bytes is None else (self.snapshot_zxid, self.snapshot_bytes)

    def _lock(self, directory: str) -> None:
        path = os.path.join(directory, LOCK_FILE_NAME)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLockedError(
                f"{directory} is in use by another coord server (pid {holder} holds {path}); "
                f"each server needs its own data directory"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._lock_fds.append(fd)
        # The pid is only for the operator's error message above; the flock is the lock.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)

    def _recover(self, segment_bytes: int) -> None:
        removed = snapshots.remove_temporary_files(self.snapshot_dir)
        for path in removed:
            self._warn(f"removed {path}: a snapshot that a crash interrupted before it was committed")

        skipped: list[str] = []

        def warn_skipped_snapshot(message: str) -> None:
            skipped.append(message)
            self._warn(message)

        loaded = snapshots.load_newest_valid(self.snapshot_dir, warn=warn_skipped_snapshot)
        if loaded is not None:
            self.snapshot_zxid, self.snapshot_bytes = loaded

        self.wal, recovered = wal_module.WriteAheadLog.open(
            self.log_dir, segment_bytes=segment_bytes, keep_after_zxid=self.snapshot_zxid, warn=self._warn
        )
        if recovered.complete_after_zxid > self.snapshot_zxid:
            if loaded is None:
                have = f"no valid snapshot in {self.snapshot_dir}"
            else:
                have = f"the newest valid snapshot is at zxid {self.snapshot_zxid:#x}"
            because = f" (skipped: {'; '.join(skipped)})" if skipped else ""
            raise RecoveryError(
                f"cannot recover {self.data_dir}: {have}{because}, but the log in {self.log_dir} "
                f"only holds records after zxid {recovered.complete_after_zxid:#x} (older segments were "
                f"purged), so transactions {self.snapshot_zxid + 1:#x}..{recovered.complete_after_zxid:#x} "
                f"are missing. Restore the missing snapshot or log segments from a backup (or a replica)."
            )
        self.log_records_to_replay = recovered.records

        stored_epoch = self._read_epoch()
        newest_recovered_zxid = max(self.snapshot_zxid, recovered.last_zxid)
        self._persist_epoch(max(stored_epoch, newest_recovered_zxid >> 32) + 1)
        self.last_zxid = newest_recovered_zxid

    def _read_epoch(self) -> int:
        path = os.path.join(self.data_dir, EPOCH_FILE_NAME)
        try:
            with open(path, "rb") as file:
                text = file.read(64)
        except FileNotFoundError:
            return 0
        stripped = text.strip()
        if not stripped.isdigit() or not 0 <= int(stripped) <= MAX_EPOCH:
            raise EpochFileError(f"{path} should hold an epoch in decimal (0..{MAX_EPOCH}), not {text!r}")
        return int(stripped)

    def _persist_epoch(self, epoch: int) -> None:
        if epoch > MAX_EPOCH:
            raise EpochFileError(f"the epoch would exceed {MAX_EPOCH}: zxids are exhausted")
        files.replace_file_durably(os.path.join(self.data_dir, EPOCH_FILE_NAME), f"{epoch}\n".encode("ascii"))
        self.epoch = epoch

    def new_snapshot(self, zxid: int) -> snapshots.SnapshotWriter:
        """A writer for a snapshot whose serialization starts at ``zxid`` (see snapshots.py)."""
        return snapshots.SnapshotWriter(self.snapshot_dir, zxid)

    def retain_snapshots(self, count: int) -> int | None:
        """Keep the newest ``count`` valid snapshots and the log recovery needs from the oldest one.

        Deletes older snapshots, then log segments whose records all precede the oldest kept
        snapshot's zxid (every record after it is kept: snapshots are fuzzy). Returns that zxid,
        or None (and deletes nothing) if no valid snapshot exists. Blocking; call it after a
        snapshot commit, on a worker thread.
        """
        oldest_kept_zxid = snapshots.retain(self.snapshot_dir, count, warn=self._warn)
        if oldest_kept_zxid is not None and self.wal is not None:
            self.wal.purge(oldest_kept_zxid)
        return oldest_kept_zxid

    def forget_recovery_data(self) -> None:
        """Drop the recovered snapshot and records once the tree has been rebuilt (frees memory)."""
        self.snapshot_bytes = None
        self.log_records_to_replay = []

    def close(self) -> None:
        """Close the log and release the locks (safe to call more than once)."""
        if self.wal is not None:
            self.wal.close()
        while self._lock_fds:
            os.close(self._lock_fds.pop())  # closing the descriptor releases the flock

    def __enter__(self) -> DataDir:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
