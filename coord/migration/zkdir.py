"""A stopped ZooKeeper data directory on disk: find its files, pick what a restart would load.

Theory of operation
-------------------
ZooKeeper keeps snapshots in ``<dataDir>/version-2/`` and logs in ``<dataLogDir>/version-2/``
(the same folder when dataLogDir is not set). ``load`` does what ``FileTxnSnapLog.restore`` does,
more strictly:

1. Snapshots newest first: read, decompress by extension, check the Adler32 seals, decode. A
   snapshot that fails is skipped with a warning naming the file and the reason.
2. Logs: the newest log file starting at or before the snapshot's zxid and every later one,
   oldest first. Records at or before the snapshot's zxid are skipped; the others are kept.
3. Continuity: zxids must run ``z, z + 1, ...`` from the snapshot's zxid on; only a new epoch
   (the high 32 bits grow, the counter restarts at 1) may jump. Anything else is a gap, an error
   naming the missing zxid range (ZooKeeper itself would silently start without them). A torn
   last record is skipped with a warning, as ZooKeeper does; a torn record followed by more
   records therefore shows up as a gap.
4. If the newest snapshot was skipped and the logs no longer reach back to an older one, that
   is the same gap error: nothing is imported half-way.
"""

from __future__ import annotations

import os
import re
from typing import Callable, NamedTuple

from coord.migration import zkformat as Z

Warn = Callable[[str], None]
VERSION_DIR = "version-2"
_SNAPSHOT_NAME = re.compile(r"snapshot\.([0-9a-fA-F]+)(?:\.(gz|snappy))?")
_LOG_NAME = re.compile(r"log\.([0-9a-fA-F]+)")
_EPOCH_COUNTER_MASK = 0xFFFFFFFF


class NotAZooKeeperDirError(Z.ZooKeeperFormatError):
    """The directory holds no ZooKeeper snapshot or log."""


class TxnLogGapError(Z.ZooKeeperFormatError):
    """Transactions between the snapshot and the newest log record are missing."""

    def __init__(self, after_zxid: int, before_zxid: int, detail: str) -> None:
        self.after_zxid = after_zxid
        self.before_zxid = before_zxid
        super().__init__(
            f"transactions {after_zxid + 1:#x}..{before_zxid - 1:#x} are missing: {detail}. "
            f"Restore the missing log files (or an older complete copy) and try again")


class ZooKeeperState(NamedTuple):
    snapshot: Z.Snapshot | None    # .nodes as load's read_nodes made them (default SnapshotNodes)
    snapshot_path: str | None
    records: list                  # Z.LogRecord after the snapshot's zxid, in zxid order
    log_paths: list                # the log files read
    last_zxid: int


def version_dir(path: str) -> str:
    """``path/version-2`` if it exists, else ``path`` itself if it holds ZooKeeper files."""
    path = os.path.abspath(path)
    candidate = os.path.join(path, VERSION_DIR)
    if os.path.isdir(candidate):
        return candidate
    if os.path.isdir(path) and any(_SNAPSHOT_NAME.fullmatch(n) or _LOG_NAME.fullmatch(n)
                                   for n in os.listdir(path)):
        return path
    raise NotAZooKeeperDirError(
        f"{path} is not a ZooKeeper data directory: it has no {VERSION_DIR}/ folder and no "
        f"snapshot.* or log.* files")


def is_zookeeper_dir(path: str) -> bool:
    try:
        version_dir(path)
    except (NotAZooKeeperDirError, OSError):
        return False
    return True


def list_snapshots(snap_dir: str) -> list:
    """[(zxid, path, compression)] newest first."""
    found = []
    for name in os.listdir(snap_dir):
        match = _SNAPSHOT_NAME.fullmatch(name)
        if match:
            found.append((int(match.group(1), 16), os.path.join(snap_dir, name), match.group(2) or ""))
    found.sort(key=lambda item: item[0], reverse=True)
    return found


def list_logs(log_dir: str) -> list:
    """[(first zxid, path)] oldest first."""
    found = []
    for name in os.listdir(log_dir):
        match = _LOG_NAME.fullmatch(name)
        if match:
            found.append((int(match.group(1), 16), os.path.join(log_dir, name)))
    found.sort()
    return found


def read_snapshot(path: str, zxid: int, compression: str, *, read_nodes=None) -> Z.Snapshot:
    with open(path, "rb") as file:
        raw = file.read()
    return Z.parse_snapshot(Z.decompress(raw, compression, path), zxid, path, read_nodes=read_nodes)


def read_log(path: str) -> Z.LogScan:
    with open(path, "rb") as file:
        return Z.parse_txn_log(file.read(), path)


def follows(previous_zxid: int, zxid: int) -> bool:
    """True if no transaction can lie between the two: the next counter, or a new epoch's first."""
    if zxid == previous_zxid + 1:
        return True
    return (zxid >> 32) > (previous_zxid >> 32) and (zxid & _EPOCH_COUNTER_MASK) == 1


def load(snap_dir: str, log_dir: str | None = None, *, warn: Warn, progress: Warn | None = None,
         read_nodes=None) -> ZooKeeperState:
    """What a restart of ZooKeeper on these directories would load; see the module doc.

    ``read_nodes``: how the snapshot's node records are decoded (``Z.parse_snapshot``)."""
    snap_dir = version_dir(snap_dir)
    log_dir = version_dir(log_dir) if log_dir is not None else snap_dir
    progress = progress or (lambda message: None)
    logs = list_logs(log_dir)
    snapshot = None
    snapshot_path = None
    skipped = []
    for zxid, path, compression in list_snapshots(snap_dir):
        progress(f"reading snapshot {path}")
        try:
            snapshot = read_snapshot(path, zxid, compression, read_nodes=read_nodes)
        except Z.ZooKeeperFormatError as error:
            skipped.append(str(error))
            warn(f"skipping {error}; trying an older snapshot")
            continue
        snapshot_path = path
        break
    if snapshot is None and not logs:
        raise NotAZooKeeperDirError(
            f"{snap_dir} holds no usable snapshot and no log"
            + (f" (skipped: {'; '.join(skipped)})" if skipped else ""))
    start_zxid = snapshot.zxid if snapshot is not None else 0

    # FileTxnLog.getLogFiles: the newest file that starts at or before the snapshot, and all later.
    first = 0
    for index, (log_zxid, _path) in enumerate(logs):
        if log_zxid <= start_zxid:
            first = index
    records = []
    log_paths = []
    last_zxid = start_zxid
    for log_zxid, path in logs[first:]:
        progress(f"reading transaction log {path}")
        scan = read_log(path)
        log_paths.append(path)
        for record in scan.records:
            zxid = record.header.zxid
            if zxid <= start_zxid and not records:
                continue    # already in the snapshot
            if zxid <= last_zxid:
                raise Z.CorruptTxnLogError(path, record.offset,
                                           f"zxid {zxid:#x} does not follow {last_zxid:#x}")
            if not follows(last_zxid, zxid):
                if records:
                    origin = f"the record before it is zxid {last_zxid:#x}"
                elif snapshot_path is not None:
                    origin = f"the snapshot in use is {snapshot_path}"
                else:
                    origin = "there is no usable snapshot"
                raise TxnLogGapError(
                    last_zxid, zxid,
                    f"the next record found is zxid {zxid:#x} in {path} and {origin}"
                    + (f" (newer snapshots were skipped: {'; '.join(skipped)})" if skipped else ""))
            records.append(record)
            last_zxid = zxid
        if scan.torn is not None:
            # After a crash ZooKeeper starts a new file at the torn record's zxid, so later
            # files may follow; the continuity check above tells a loss from that.
            warn(f"skipping the torn last record of {path} at byte offset {scan.end_offset}: "
                 f"{scan.torn} (a write a crash interrupted; ZooKeeper skips it too)")
    if snapshot is not None and not logs:
        warn(f"{log_dir} holds no transaction log: if ZooKeeper's dataLogDir was set elsewhere, "
             f"pass it as the log dir, or the changes made after {snapshot_path} are lost")
    if snapshot is not None and snapshot.digest is not None and snapshot.digest.zxid > last_zxid:
        # The snapshot is fuzzy up to its digest's zxid: without the records up to there, some of
        # those transactions would be half in the tree.
        raise TxnLogGapError(
            last_zxid, snapshot.digest.zxid + 1,
            f"{snapshot_path} was written while transactions up to {snapshot.digest.zxid:#x} were "
            f"applied, and no log holds them")
    return ZooKeeperState(snapshot, snapshot_path, records, log_paths, last_zxid)
