"""ZooKeeper -> coord -> ZooKeeper, with real servers, and the damaged data dirs an import meets.

One ZooKeeper 3.8 data dir is built per module (snapCount 40, so the workload leaves several
snapshots, some taken while writes were in flight, and several log files) and every test works on
a copy of it. The reference is what ZooKeeper itself served just before it stopped.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, NodeExistsError
from kazoo.security import READ_ACL_UNSAFE, make_acl, make_digest_acl

from coord import cli
from coord.migration import commands, zkdir
from coord.testing.servers import CoordProcess, ZooKeeperProcess, four_letter_word
from tests.conftest import require_zookeeper
from tests.semantics.raw import PERSISTENT_SEQUENTIAL_WITH_TTL, RawSession

pytestmark = pytest.mark.zookeeper

AUTH = ("digest", "admin:secret")
LINGERING_TIMEOUT_S = 30.0     # a session that comes back after the move
SHORT_TIMEOUT_S = 4.0          # a session that does not: its ephemerals must expire on coord
WAIT_S = 30.0


def client(hosts, timeout_s=10.0, auth=True) -> KazooClient:
    c = KazooClient(hosts=hosts, timeout=timeout_s, auth_data=[AUTH] if auth else None,
                    connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5})
    c.start(timeout=15)
    return c


def capture(c: KazooClient) -> dict:
    """path -> (data, acl, stat) for every znode, as a client sees them."""
    seen = {}
    stack = ["/"]
    while stack:
        path = stack.pop()
        data, stat = c.get(path)
        acl, _ = c.get_acls(path)
        seen[path] = (data, sorted((a.perms, a.id.scheme, a.id.id) for a in acl), tuple(stat))
        base = path.rstrip("/")
        stack.extend(f"{base}/{name}" for name in c.get_children(path))
    return seen


def wait_until(predicate, what, timeout_s=WAIT_S):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def workload(c: KazooClient, lingering: KazooClient, short: KazooClient) -> None:
    digest_acl = [make_digest_acl("admin", "secret", all=True)]
    c.create("/app/config", b"\x00\x01\xfe\xff binary", makepath=True)
    c.create("/app/empty", b"")
    c.create("/app/null", None)
    c.create("/app/a/b/c/d/e", b"deep", makepath=True)
    for i in range(6):
        c.create("/app/queue/item-", str(i).encode(), sequence=True, makepath=True)
    c.delete("/app/queue/" + sorted(c.get_children("/app/queue"))[1])
    with RawSession(*c.hosts[0]) as raw:      # kazoo has no container or TTL creates
        raw.create_container("/app/box", b"")
        c.create("/app/box/inside", b"keeps the container")
        raw.create_ttl("/app/ttl", b"t", ttl_ms=86_400_000)
        raw.create_ttl("/app/ttlseq-", b"t", flags=PERSISTENT_SEQUENTIAL_WITH_TTL, ttl_ms=86_400_000)
    c.create("/secure", b"digest only", acl=digest_acl)
    c.create("/ip", b"ip only", acl=[make_acl("ip", "127.0.0.1", all=True)])
    c.create("/readonly", b"world read", acl=READ_ACL_UNSAFE)
    c.create("/reacl", b"")
    c.set_acls("/reacl", digest_acl + [make_acl("world", "anyone", read=True)])
    c.create("/app/counter", b"0")
    with pytest.raises(NodeExistsError):
        c.create("/app/counter", b"")           # logged by ZooKeeper as an error transaction
    for i in range(1, 25):
        c.set("/app/counter", str(i).encode())
    t = c.transaction()
    t.create("/app/multi", b"m")
    t.create("/app/multi/seq-", b"s", sequence=True)
    t.set_data("/app/config", b"changed in a multi")
    t.check("/app/counter", 24)
    t.delete("/app/empty")
    assert not any(isinstance(r, Exception) for r in t.commit())
    t = c.transaction()
    t.create("/app/never", b"")
    t.check("/app/counter", 3)
    assert isinstance(t.commit()[1], BadVersionError)
    for _ in range(3):
        c.create("/app/again", b"1")
        c.delete("/app/again")
    c.create("/app/again", b"final")
    lingering.create("/live/l-", b"lingering", ephemeral=True, sequence=True, makepath=True)
    lingering.create("/live/lingering", b"", ephemeral=True)
    short.create("/live/short", b"", ephemeral=True)
    short.create("/live/s-", b"", ephemeral=True, sequence=True)
    # Many writes in flight at once, so that snapshots are taken in the middle of them.
    c.create("/load")
    results = [c.create_async(f"/load/n{i:04d}", b"v" * (i % 50)) for i in range(300)]
    for r in results:
        r.get(timeout=30)
    results = [c.set_async(f"/load/n{i:04d}", b"w") for i in range(0, 300, 3)]
    results += [c.delete_async(f"/load/n{i:04d}") for i in range(1, 300, 7)]
    for r in results:
        r.get(timeout=30)


@dataclass
class Source:
    zk_dir: Path
    port: int
    reference: dict
    lingering: KazooClient
    lingering_session: tuple
    short_session_id: int


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    require_zookeeper()
    work = tmp_path_factory.mktemp("zookeeper-source")
    zk = ZooKeeperProcess(work, config={"snapCount": 40, "preAllocSize": 256})
    zk.start()
    writer = lingering = short = None
    try:
        writer = client(zk.hosts)
        lingering = client(zk.hosts, timeout_s=LINGERING_TIMEOUT_S)
        short = client(zk.hosts, timeout_s=SHORT_TIMEOUT_S)
        workload(writer, lingering, short)
        reference = capture(writer)
        writer.stop()
        writer.close()
        writer = None
        short_session_id = short.client_id[0]
        lingering_session = lingering.client_id
    finally:
        if writer is not None:
            writer.stop()
        zk.stop()
    # The short session's client goes away for good; its session stays in ZooKeeper's files.
    short.stop()
    short.close()
    assert {"/app/box/inside", "/app/ttl", "/app/null", "/live/short", "/live/lingering", "/secure",
            "/ip", "/app/multi", "/app/a/b/c/d/e"} <= set(reference)
    assert len(reference) > 250
    version_dir = zk.data_dir / "version-2"
    assert len(list(version_dir.glob("snapshot.*"))) >= 3
    assert len(list(version_dir.glob("log.*"))) >= 3
    yield Source(zk.data_dir, zk.port, reference, lingering, lingering_session, short_session_id)
    lingering.stop()
    lingering.close()


def copy_of(source: Source, tmp_path: Path) -> Path:
    copy = tmp_path / "zk-copy"
    shutil.copytree(source.zk_dir, copy)
    return copy / "version-2"


def test_zookeeper_to_coord_and_back(source, tmp_path, capsys):
    coord = CoordProcess(tmp_path / "coord", port=source.port)
    assert cli.main(["import-zookeeper", "--verify", "--from", str(source.zk_dir),
                     "--data-dir", str(coord.data_dir)]) == 0
    summary = capsys.readouterr().out
    assert "matches ZooKeeper's digest" in summary and "read back and verified" in summary, summary

    coord.start()
    try:
        checker = client(coord.hosts)
        try:
            # Every znode, its data, ACL and stat, as ZooKeeper served them before it stopped.
            assert capture(checker) == source.reference
            # The lingering client reconnects on its own, with its session id and lastZxidSeen.
            wait_until(lambda: source.lingering.state == KazooState.CONNECTED, "the session to resume")
            assert source.lingering.client_id == source.lingering_session
            assert source.lingering.exists("/live/lingering").owner_session_id == source.lingering_session[0]
            # The short session never comes back: its ephemerals expire, as on a restarted ZooKeeper.
            wait_until(lambda: checker.exists("/live/short") is None, "the short session to expire")
            assert checker.exists("/live/lingering") is not None
            served_by_coord = capture(checker)
        finally:
            checker.stop()
            checker.close()
    finally:
        coord.stop()

    # The dump of a coord data dir, for scripts: one line per znode, then sessions and last zxid.
    assert cli.main(["data", "dump", "--json", "--data", str(coord.data_dir)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    dumped = {line["path"]: line for line in lines if "path" in line}
    assert set(dumped) == set(served_by_coord)
    assert base64.b64decode(dumped["/app/config"]["data"]) == served_by_coord["/app/config"][0]
    assert any(line.get("session") == source.lingering_session[0] for line in lines)

    # The way back: ZooKeeper loads the export (gz) and serves the same tree; its digest check agrees.
    back = ZooKeeperProcess(tmp_path / "zk-back",
                            extra_jvm_flags=["-Dzookeeper.snapshot.compression.method=snappy"])
    assert cli.main(["export-zookeeper", "--data-dir", str(coord.data_dir),
                     "--to", str(back.data_dir), "--compression", "gz"]) == 0
    back.start()
    try:
        checker = client(back.hosts)
        try:
            assert capture(checker) == served_by_coord
        finally:
            checker.stop()
            checker.close()
        mntr = four_letter_word(back.host, back.port, "mntr")
        assert "zk_digest_mismatches_count\t0" in mntr, mntr
    finally:
        back.stop()
    # ZooKeeper snapshotted at start-up with snappy: that file imports to the same znodes again.
    version_dir = back.data_dir / "version-2"
    assert list(version_dir.glob("snapshot.*.snappy"))
    for gz in version_dir.glob("snapshot.*.gz"):
        gz.unlink()
    coord_dump = tree_dump(coord.data_dir)
    assert tree_dump(version_dir) == coord_dump


def tree_dump(path) -> str:
    import io
    out = io.StringIO()
    commands.dump(str(path), with_data=True, out=out, warn=lambda m: None)
    text = out.getvalue()
    return text[:text.index("Session Details")]


def test_torn_log_tail_is_skipped_and_reported(source, tmp_path):
    version_dir = copy_of(source, tmp_path)
    newest_log = zkdir.list_logs(str(version_dir))[-1][1]
    scan = zkdir.read_log(newest_log)
    assert len(scan.records) >= 2
    last = scan.records[-1]
    with open(newest_log, "r+b") as f:          # a crash mid-write: the length made it, the rest not
        f.seek(last.offset + 14)
        f.write(b"\x00" * (scan.end_offset - last.offset - 14))
    warnings = []
    target = tmp_path / "coord"
    commands.import_zookeeper(str(version_dir), str(target), warn=warnings.append)
    assert any("torn" in w and newest_log in w for w in warnings), warnings
    tree = commands.load_coord_tree(str(target), warn=lambda m: None)
    # The torn record is gone unless the newest snapshot already holds it (ZooKeeper may snapshot
    # right after the last write, and then rolls to a log file it never creates).
    newest_snapshot_zxid = zkdir.list_snapshots(str(version_dir))[0][0]
    assert tree.last_zxid == max(scan.records[-2].header.zxid, newest_snapshot_zxid)
    # ZooKeeper itself, started on the same torn files, ends at the same zxid.
    zk = ZooKeeperProcess(version_dir.parent.parent, config={"dataDir": version_dir.parent})
    zk.start()
    try:
        assert f"Zxid: {tree.last_zxid:#x}" in four_letter_word(zk.host, zk.port, "srvr")
    finally:
        zk.stop()


def test_corrupt_newest_snapshot_falls_back_to_an_older_one_plus_logs(source, tmp_path):
    version_dir = copy_of(source, tmp_path)
    clean = tmp_path / "clean"
    commands.import_zookeeper(str(version_dir), str(clean), warn=lambda m: None)
    newest = zkdir.list_snapshots(str(version_dir))[0][1]
    with open(newest, "r+b") as f:
        f.seek(Path(newest).stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0x01]))
    warnings = []
    fallback = tmp_path / "fallback"
    summary = commands.import_zookeeper(str(version_dir), str(fallback), warn=warnings.append)
    assert any(newest in w and "unusable" in w for w in warnings), warnings
    assert newest not in summary
    assert tree_dump(fallback) == tree_dump(clean)


def test_missing_log_file_is_an_error_naming_the_missing_zxids(source, tmp_path, capsys):
    version_dir = copy_of(source, tmp_path)
    for _zxid, path, _compression in zkdir.list_snapshots(str(version_dir))[:-1]:
        Path(path).unlink()                       # only the oldest snapshot is left
    logs = zkdir.list_logs(str(version_dir))
    assert len(logs) >= 3
    missing_first, missing_path = logs[1]
    Path(missing_path).unlink()
    before = zkdir.read_log(logs[0][1]).records[-1].header.zxid
    after = logs[2][0]
    target = tmp_path / "coord"
    with pytest.raises(zkdir.TxnLogGapError) as error:
        commands.import_zookeeper(str(version_dir), str(target), warn=lambda m: None)
    assert f"{before + 1:#x}..{after - 1:#x}" in str(error.value)
    assert before + 1 == missing_first
    # Nothing half-way: no target, no temporary directory left beside it.
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["zk-copy"]
    # The command says the same and fails.
    assert cli.main(["import-zookeeper", "--from", str(version_dir), "--data-dir", str(target)]) == 1
    assert f"{before + 1:#x}..{after - 1:#x}" in capsys.readouterr().err


def test_logs_in_a_separate_data_log_dir(source, tmp_path):
    version_dir = copy_of(source, tmp_path)
    logs = tmp_path / "zk-logs" / "version-2"
    logs.mkdir(parents=True)
    for _zxid, path in zkdir.list_logs(str(version_dir)):
        shutil.move(path, logs)
    warnings = []
    try:
        commands.import_zookeeper(str(version_dir), str(tmp_path / "without"), warn=warnings.append)
    except zkdir.TxnLogGapError:
        pass        # the newest snapshot was fuzzy: its log records are needed
    assert any("dataLogDir" in w for w in warnings), warnings
    summary = commands.import_zookeeper(str(version_dir), str(tmp_path / "with"), str(logs.parent),
                                        warn=lambda m: None)
    assert "matches ZooKeeper's digest" in summary


def test_dump_prints_the_log_records_in_order(source, capsys):
    assert cli.main(["data", "dump", "--log", "--json", str(source.zk_dir)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    zxids = [r["zxid"] for r in records]
    assert zxids == sorted(zxids) and zxids[0] == 1
    assert {"create", "multi", "set_data", "delete", "create_session", "close_session", "error",
            "create_container", "create_ttl", "set_acl"} <= {r["type"] for r in records}


def test_a_fuzzy_snapshot_replays_to_the_same_tree(source, tmp_path):
    """A snapshot that already holds changes after its zxid, as ZooKeeper's fuzzy snapshots do.

    The newest snapshot is renamed to an older snapshot's zxid: every record in between is then
    replayed over a tree that already reflects it (creates of existing nodes, deletes of missing
    ones, parents' cversion/pzxid already ahead).
    """
    version_dir = copy_of(source, tmp_path)
    clean = tmp_path / "clean"
    commands.import_zookeeper(str(version_dir), str(clean), warn=lambda m: None)
    snapshots = zkdir.list_snapshots(str(version_dir))
    newest = Path(snapshots[0][1]).read_bytes()
    older_zxid = snapshots[len(snapshots) // 2][0]
    assert snapshots[0][0] - older_zxid > 20
    for _zxid, path, _compression in snapshots:
        Path(path).unlink()
    (version_dir / f"snapshot.{older_zxid:x}").write_bytes(newest)
    fuzzy = tmp_path / "fuzzy"
    summary = commands.import_zookeeper(str(version_dir), str(fuzzy), warn=lambda m: None, verify=True)
    assert "matches ZooKeeper's digest" in summary and "read back and verified" in summary
    assert tree_dump(fuzzy) == tree_dump(clean)


def test_dump_prints_a_coord_log_with_its_consensus_entries(tmp_path, capsys):
    from coord.testing.servers import CoordProcess
    from kazoo.client import KazooClient
    server = CoordProcess(tmp_path / "coord")
    server.start()
    try:
        client = KazooClient(hosts=server.hosts)
        client.start(timeout=20)
        client.create("/dumped", b"x")
        client.set("/dumped", b"y")
        client.stop()
        client.close()
    finally:
        server.stop()
    assert cli.main(["data", "dump", "--log", "--json", str(server.data_dir)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [r["type"] for r in records]
    assert kinds[0].startswith("NOOP")         # the member's first entry as leader
    assert "CreateTxn" in kinds and "SetDataTxn" in kinds
    assert [r["zxid"] for r in records] == sorted(r["zxid"] for r in records)
