"""The three operator commands: import a ZooKeeper data dir, export one, dump either kind.

Theory of operation
-------------------
**Import** loads what a restarted ZooKeeper would (``zkdir.load``), rebuilds it as a coord
``DataTree`` (``convert``), and writes a coord data dir only through coord's own storage API:
``DataDir.open`` (which sets the epoch as a server start does) and a snapshot written with the
tree's own ``snapshot()`` through ``SnapshotWriter``. Everything goes to a temporary directory
beside the target, which (with ``--verify``) is then reopened with ``DataDir.open`` +
``recover_tree`` and compared with the tree it came from (ZooKeeper's tree digest, the sessions and
the last zxid); only then is it renamed into place. So a failure at any step leaves no target directory behind, never a
half-written one. Import also checks its result against ZooKeeper's own digest when the last log
record (or a non-fuzzy snapshot) carries one.

**Export** recovers a coord data dir the way the server does (``DataDir.open`` + ``recover_tree``)
and writes ``version-2/snapshot.<last zxid>`` plus an empty ``log.<last zxid + 1>``, again into
a temporary directory that is renamed at the end.

**Dump** prints the state either kind of directory holds (snapshot plus log, recovered) in the
layout of ZooKeeper's ``zkSnapShotToolkit``, or the log records in the spirit of
``zkTxnLogToolkit``; ``--json`` gives one JSON object per line. A ZooKeeper dump and the dump of
its import print the same lines, so ``diff`` verifies a migration.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from typing import Callable

from coord.migration import convert, zkdir
from coord.migration import zkformat as Z
from coord.protocol.codes import OpCode
from coord.consensus.messages import NOOP
from coord.storage import consensus_state, files
from coord.tree import txns as T
from coord.tree.datatree import DataTree

Say = Callable[[str], None]


class MigrationError(Exception):
    """An import, export or dump that cannot proceed; the message says why and what to do."""


def _quiet(message: str) -> None:
    pass


@contextlib.contextmanager
def _without_cyclic_gc():
    """Bulk loading allocates millions of objects that all stay alive; CPython's cyclic
    collector would walk the growing heap again and again for nothing (about a third of a
    million-znode import). Nothing built here forms cycles that must be freed early."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- reading either kind ---------------------------------------------------------------------------


def load_zookeeper_tree(zk_dir, zk_log_dir=None, *, warn: Say, progress: Say = _quiet):
    """(coord DataTree, ZooKeeperState, digest check, the tree's digest or None if not computed)."""
    tree, state, expected_digest = _rebuild_zookeeper_tree(zk_dir, zk_log_dir, warn=warn,
                                                           progress=progress)
    digest_check = "no ZooKeeper digest to check against"
    actual = None
    if expected_digest is not None:
        actual = convert.digest_of(tree)
        digest_check = _digest_verdict(expected_digest, actual)
    dead = _drop_dead_sessions(tree, progress)
    return tree, state, digest_check, None if dead else actual


def _rebuild_zookeeper_tree(zk_dir, zk_log_dir, *, warn: Say, progress: Say):
    """(the tree ZooKeeper would hold before its dead-session cleanup, ZooKeeperState,
    (zxid, ZooKeeper's own digest of that tree) or None when it wrote none we can compute)."""
    state = zkdir.load(zk_dir, zk_log_dir, warn=warn, progress=progress,
                       read_nodes=convert.snapshot_tree_reader)
    if state.snapshot is not None:
        tree = convert.tree_from_snapshot(state.snapshot)
        progress(f"loaded {tree.node_count} znodes and {len(state.snapshot.sessions)} "
                 f"sessions from {state.snapshot_path}")
    else:
        tree = DataTree()
    # ZooKeeper's own digest of the final tree, when it wrote one we know how to compute.
    expected_digest = None
    last_digest = state.records[-1].digest if state.records else None
    snapshot_digest = state.snapshot.digest if state.snapshot is not None else None
    if last_digest is not None and last_digest[0] == Z.DIGEST_VERSION:
        expected_digest = (state.records[-1].header.zxid, last_digest[1])
    elif not state.records and snapshot_digest is not None and \
            snapshot_digest.zxid == state.snapshot.zxid and snapshot_digest.version == Z.DIGEST_VERSION:
        expected_digest = (state.snapshot.zxid, snapshot_digest.digest)
    total = len(state.records)
    for done, record in enumerate(state.records, 1):
        convert.apply_record(tree, record)
        if done % 100_000 == 0:
            progress(f"replayed {done}/{total} log records")
    if total:
        progress(f"replayed {total} log records, up to zxid {state.last_zxid:#x}")
    return tree, state, expected_digest


def _digest_verdict(expected_digest, actual: int) -> str:
    zxid, expected = expected_digest
    if actual != expected:
        raise MigrationError(
            f"the imported tree does not match ZooKeeper's own digest at zxid {zxid:#x} "
            f"(ZooKeeper: {expected:#x}, import: {actual:#x}); nothing was written")
    return f"matches ZooKeeper's digest at zxid {zxid:#x}"


def _drop_dead_sessions(tree, progress: Say) -> list:
    dead = convert.drop_dead_sessions(tree)
    if dead:
        progress(f"deleted the ephemerals of {len(dead)} sessions that no longer exist "
                 f"(as ZooKeeper does at start-up)")
    return dead


class _DigestInChild:
    """``convert.digest_of(tree)`` as the tree is *now*, computed by a forked copy of this process
    while this one goes on writing the coord snapshot.

    The fork's copy-on-write memory is a frozen image of the tree, so later changes here (the
    dead-session cleanup) do not reach it: the digest is exactly the one computed inline, only on
    the second core. The child sends the number down a pipe and leaves with ``os._exit`` (no
    clean-up of the parent's state). Where ``fork`` is missing or there is one CPU, the digest is
    computed inline.
    """

    def __init__(self, tree) -> None:
        self._pid = None
        self._value = None
        if not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
            self._value = convert.digest_of(tree)
            return
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            self._value = convert.digest_of(tree)
            return
        if pid == 0:    # the child: compute, report, leave; never returns
            status = 1
            try:
                os.close(read_fd)
                try:
                    payload = b"%d" % convert.digest_of(tree)
                    status = 0
                except BaseException as error:
                    payload = b"!" + repr(error).encode("utf-8", "replace")
                view = memoryview(payload)
                while view:
                    view = view[os.write(write_fd, view):]
            finally:
                os._exit(status)
        os.close(write_fd)
        self._pid = pid
        self._read_fd = read_fd

    def result(self) -> int:
        if self._pid is None:
            return self._value
        with os.fdopen(self._read_fd, "rb") as pipe:
            text = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if status != 0 or not text or text.startswith(b"!"):
            raise MigrationError(f"computing the tree digest failed in its worker process "
                                 f"(wait status {status}): {text[1:].decode('utf-8', 'replace')}")
        return int(text)

    def close(self) -> None:
        """Stop and reap the child if its result was never collected (an error elsewhere)."""
        if self._pid is None:
            return
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self._pid, 0)
        os.close(self._read_fd)
        self._pid = None


def load_coord_tree(data_dir, data_log_dir=None, *, warn: Say):
    """The tree a coord server would start with (``DataDir.open`` + ``recover_tree``)."""
    from coord.runtime.node import recover_tree
    from coord.storage.datadir import DataDir
    if not os.path.isdir(data_dir):
        raise MigrationError(f"{data_dir} does not exist")
    with DataDir.open(data_dir, data_log_dir, warn=warn) as data:
        tree, _replayed = recover_tree(data)
    return tree


def is_coord_dir(path) -> bool:
    from coord.storage.datadir import EPOCH_FILE_NAME, SNAPSHOT_DIR_NAME
    return os.path.isdir(os.path.join(path, SNAPSHOT_DIR_NAME)) or \
        os.path.isfile(os.path.join(path, EPOCH_FILE_NAME))


# -- import ---------------------------------------------------------------------------------------


def import_zookeeper(zk_dir, data_dir, zk_log_dir=None, *, warn: Say, progress: Say = _quiet,
                     verify: bool = False) -> str:
    """Write a coord data dir at ``data_dir`` holding what ZooKeeper would load; returns a summary.

    ``verify`` reads the written data dir back as a server start would and compares it with the
    imported tree before committing it; that costs about as much as a coord server start.
    """
    with _without_cyclic_gc():
        return _import_zookeeper(zk_dir, data_dir, zk_log_dir, warn=warn, progress=progress,
                                 verify=verify)


def _import_zookeeper(zk_dir, data_dir, zk_log_dir, *, warn, progress, verify):
    from coord.storage.datadir import DataDir

    started = time.monotonic()
    target = os.path.abspath(data_dir)
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise MigrationError(f"refusing to import into {target}: it exists and is not empty "
                             f"(import writes a new data dir; move the old one away first)")
    tree, state, expected_digest = _rebuild_zookeeper_tree(zk_dir, zk_log_dir, warn=warn,
                                                           progress=progress)
    # ZooKeeper's digest is of the tree before the dead-session cleanup: taken now, checked
    # before anything is renamed into place.
    digest = _DigestInChild(tree) if expected_digest is not None else None
    try:
        dead = _drop_dead_sessions(tree, progress)
        parent = os.path.dirname(target)
        os.makedirs(parent, exist_ok=True)
        temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.import-", dir=parent)
        try:
            with DataDir.open(temporary, warn=warn) as data:
                start_zxid, chunks = tree.snapshot()
                with data.new_snapshot(start_zxid) as writer:
                    for chunk in chunks:
                        writer.write(chunk)
                    writer.commit()
            progress("wrote the coord snapshot")
            digest_check = "no ZooKeeper digest to check against"
            actual = None
            if digest is not None:
                actual = digest.result()
                digest_check = _digest_verdict(expected_digest, actual)
            if verify:
                progress("reading the coord snapshot back to verify")
                if dead or actual is None:
                    actual = convert.digest_of(tree)
                _verify_read_back(temporary, tree, actual, warn)
            if os.path.isdir(target):
                os.rmdir(target)     # empty, checked above
            os.rename(temporary, target)
            files.fsync_dir(parent)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
    finally:
        if digest is not None:
            digest.close()
    seconds = time.monotonic() - started
    verified = "; read back and verified" if verify else ""
    return (f"imported {tree.node_count} znodes and {len(tree.sessions)} sessions up to zxid "
            f"{tree.last_zxid:#x} ({len(state.records)} log records after "
            f"{state.snapshot_path or 'no snapshot'}) into {target} in {seconds:.1f} s; "
            f"tree {digest_check}{verified}")


def _verify_read_back(directory, tree, expected_digest, warn) -> None:
    from coord.runtime.node import recover_tree
    from coord.storage.datadir import DataDir
    with DataDir.open(directory, warn=warn) as data:
        reread, _ = recover_tree(data)
    problems = []
    if convert.digest_of(reread) != expected_digest:
        problems.append("the znodes differ")
    if reread.sessions != tree.sessions:
        problems.append("the sessions differ")
    if reread.last_zxid != tree.last_zxid:
        problems.append(f"the last zxid differs ({reread.last_zxid:#x} != {tree.last_zxid:#x})")
    if problems:
        raise MigrationError(f"the coord data dir written in {directory} does not read back as "
                             f"imported: {', '.join(problems)}")


# -- export ---------------------------------------------------------------------------------------


def export_zookeeper(data_dir, zk_dir, data_log_dir=None, *, compression: str = "", warn: Say,
                     progress: Say = _quiet) -> str:
    """Write ``zk_dir/version-2/`` with a snapshot ZooKeeper loads as this coord data dir."""
    if compression not in Z.COMPRESSIONS:
        raise MigrationError(f"unknown compression {compression!r}: choose gz, snappy or none")
    target_root = os.path.abspath(zk_dir)
    target = os.path.join(target_root, zkdir.VERSION_DIR)
    if os.path.exists(target) and os.listdir(target):
        raise MigrationError(f"refusing to export into {target}: it is not empty (move it away first)")
    tree = load_coord_tree(data_dir, data_log_dir, warn=warn)
    progress(f"recovered {tree.node_count} znodes from {data_dir}")
    zxid, stream = convert.zookeeper_snapshot(tree)
    os.makedirs(target_root, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f".{zkdir.VERSION_DIR}.export-", dir=target_root)
    try:
        suffix = "." + compression if compression else ""
        files.replace_file_durably(os.path.join(temporary, f"snapshot.{zxid:x}{suffix}"),
                                   Z.compress(stream, compression))
        files.replace_file_durably(os.path.join(temporary, f"log.{zxid + 1:x}"), Z.encode_log_header())
        if os.path.isdir(target):
            os.rmdir(target)
        os.rename(temporary, target)
        files.fsync_dir(target_root)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return (f"exported {tree.node_count} znodes and {len(tree.sessions)} sessions at zxid {zxid:#x} "
            f"to {target}")


# -- dump -----------------------------------------------------------------------------------------


def _time(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _acl_text(acl) -> list:
    return [{"perms": a.perms, "scheme": a.id.scheme, "id": a.id.id} for a in acl]


def _data_text(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def dump_tree(tree, out, *, as_json: bool, with_data: bool) -> None:
    write = out.write
    if not as_json:
        write(f"ZNode Details (count={tree.node_count}):\n")
    for node in convert.snapshot_nodes(tree):
        stat = node.stat
        if as_json:
            write(json.dumps({
                "path": node.path, "data": _data_text(node.data), "acl": _acl_text(node.acl),
                "czxid": stat.czxid, "mzxid": stat.mzxid, "pzxid": stat.pzxid, "ctime": stat.ctime,
                "mtime": stat.mtime, "version": stat.version, "cversion": stat.cversion,
                "aversion": stat.aversion, "ephemeral_owner": stat.ephemeral_owner,
                "num_children": len(tree.get(node.path).children),
            }, sort_keys=True) + "\n")
            continue
        lines = [
            "----", node.path,
            f"  cZxid = {stat.czxid:#x}", f"  ctime = {_time(stat.ctime)}",
            f"  mZxid = {stat.mzxid:#x}", f"  mtime = {_time(stat.mtime)}",
            f"  pZxid = {stat.pzxid:#x}", f"  cversion = {stat.cversion}",
            f"  dataVersion = {stat.version}", f"  aclVersion = {stat.aversion}",
            f"  ephemeralOwner = {stat.ephemeral_owner & 0xFFFFFFFFFFFFFFFF:#x}",
            "  acl = " + ", ".join(f"{a.perms}:{a.id.scheme}:{a.id.id}" for a in node.acl),
        ]
        if with_data:
            lines.append(f"  data = {_data_text(node.data) or ''}")
        else:
            lines.append(f"  dataLength = {len(node.data) if node.data else 0}")
        write("\n".join(lines) + "\n")
    sessions = sorted(tree.sessions.items())
    if as_json:
        for session_id, (timeout_ms, _passwd) in sessions:
            write(json.dumps({"session": session_id, "timeout_ms": timeout_ms,
                              "ephemerals": len(tree.ephemerals_of(session_id))}) + "\n")
        write(json.dumps({"last_zxid": tree.last_zxid}) + "\n")
        return
    write("----\nSession Details (sid, timeout, ephemeralCount):\n")
    for session_id, (timeout_ms, _passwd) in sessions:
        write(f"{session_id & 0xFFFFFFFFFFFFFFFF:#016x}, {timeout_ms}, "
              f"{len(tree.ephemerals_of(session_id))}\n")
    write(f"----\nLast zxid: {tree.last_zxid:#x}\n")


def _txn_fields(txn) -> dict:
    fields = {}
    for name, value in txn._asdict().items():
        if isinstance(value, (bytes, bytearray)):
            value = _data_text(value)
        elif name == "acl":
            value = _acl_text(value)
        elif name == "txns":
            value = [_sub_txn_fields(sub) for sub in value]
        elif isinstance(value, tuple):
            value = list(value)
        fields[name] = value
    return fields


def _sub_txn_fields(sub) -> dict:
    if hasattr(sub, "_asdict"):          # coord: the sub-transaction itself
        return dict(type=type(sub).__name__, **_txn_fields(sub))
    sub_type, sub_txn = sub              # ZooKeeper: (type, txn)
    return dict(type=_op_name(sub_type), **_txn_fields(sub_txn))


def _op_name(type_):
    try:
        return OpCode(type_).name.lower()
    except ValueError:
        return str(type_)


def _log_line(out, as_json, *, zxid, time_ms, session, cxid, kind, txn):
    if as_json:
        out.write(json.dumps({"zxid": zxid, "time_ms": time_ms, "session": session, "cxid": cxid,
                              "type": kind, "txn": _txn_fields(txn) if txn is not None else None},
                             sort_keys=True) + "\n")
        return
    body = "" if txn is None else " " + ", ".join(
        f"{k}={v}" for k, v in _txn_fields(txn).items())
    out.write(f"{_time(time_ms)} session {session & 0xFFFFFFFFFFFFFFFF:#x} cxid {cxid:#x} "
              f"zxid {zxid:#x} {kind}{body}\n")


def dump(path, log_dir=None, *, show_log=False, as_json=False, with_data=False, out=None,
         warn: Say) -> None:
    """Print a ZooKeeper or coord data dir (see the module doc)."""
    out = out or sys.stdout
    if zkdir.is_zookeeper_dir(path):
        if show_log:
            log_root = zkdir.version_dir(log_dir or path)
            for _zxid, log_path in zkdir.list_logs(log_root):
                scan = zkdir.read_log(log_path)
                for record in scan.records:
                    h = record.header
                    _log_line(out, as_json, zxid=h.zxid, time_ms=h.time_ms, session=h.client_id,
                              cxid=h.cxid, kind=_op_name(h.type), txn=record.txn)
                if scan.torn:
                    warn(f"{log_path}: torn last record at byte offset {scan.end_offset}: {scan.torn}")
            return
        tree, state, digest_check, _digest = load_zookeeper_tree(path, log_dir, warn=warn)
        warn(f"ZooKeeper data dir {zkdir.version_dir(path)}: snapshot "
             f"{state.snapshot_path or '(none)'}, {len(state.records)} log records replayed; "
             f"tree {digest_check}")
        dump_tree(tree, out, as_json=as_json, with_data=with_data)
        return
    if not is_coord_dir(path):
        raise MigrationError(f"{path} is neither a ZooKeeper data dir (no version-2/) nor a coord "
                             f"data dir (no snapshots/ or epoch file)")
    if show_log:
        from coord.storage.datadir import DataDir
        with DataDir.open(path, log_dir, warn=warn) as data:
            warn(f"coord data dir {path}: the log records after snapshot zxid {data.snapshot_zxid:#x}")
            for zxid, payload in data.log_records_to_replay:
                entry = consensus_state.decode_entry(zxid, payload)
                if entry.kind == NOOP:
                    _log_line(out, as_json, zxid=zxid, time_ms=0, session=0, cxid=0,
                              kind="NOOP (term %d)" % entry.term, txn=None)
                    continue
                header, txn = T.decode(entry.data)
                _log_line(out, as_json, zxid=zxid, time_ms=header.time_ms, session=header.session_id,
                          cxid=header.cxid, kind=type(txn).__name__, txn=txn)
        return
    dump_tree(load_coord_tree(path, log_dir, warn=warn), out, as_json=as_json, with_data=with_data)
