"""ZooKeeper's file formats without a server: round trips, and damage that must be caught."""

import pytest

from coord.migration import convert, zkdir
from coord.migration import zkformat as Z
from coord.protocol.codes import OpCode
from coord.protocol.records import ACL, Id
from coord.tree import txns as T
from coord.tree.datatree import DataTree

DIGEST_ACL = (ACL(31, Id("digest", "user:Zz2cBD6PGq4HuqYWTM5vQFL8ehA=")),)


def small_snapshot_nodes():
    stat = Z.StatPersisted
    return [
        Z.SnapshotNode("/", b"", Z.OPEN_ACL_UNSAFE, stat(0, 0, 0, 0, 0, 2, 0, 0, 7)),
        Z.SnapshotNode("/a", None, DIGEST_ACL, stat(5, 6, 1000, 2000, 1, 0, 3, 0, 5)),
        Z.SnapshotNode("/b", b"\x00\xff", Z.OPEN_ACL_UNSAFE, stat(7, 7, 3000, 3000, 0, 0, 0, 0x1234, 7)),
    ]


def test_snapshot_round_trip_keeps_every_field():
    nodes = small_snapshot_nodes()
    digest = Z.ZxidDigest(7, Z.DIGEST_VERSION, Z.tree_digest(nodes))
    stream = Z.encode_snapshot([(0x1234, 30000)], nodes, digest)
    snapshot = Z.parse_snapshot(stream, 7, "snapshot.7")
    assert snapshot.nodes == nodes
    assert snapshot.sessions == [(0x1234, 30000)]
    assert snapshot.digest == digest


READERS = pytest.mark.parametrize("read_nodes", [None, convert.snapshot_tree_reader],
                                  ids=["snapshot-nodes", "import-tree"])


@READERS
def test_every_flipped_byte_of_a_snapshot_is_caught(read_nodes):
    stream = Z.encode_snapshot([(0x1234, 30000)], small_snapshot_nodes(), Z.ZxidDigest(7, 2, 99))
    for offset in range(len(stream)):
        damaged = bytearray(stream)
        damaged[offset] ^= 0x10
        with pytest.raises(Z.CorruptSnapshotError):
            Z.parse_snapshot(bytes(damaged), 7, "snapshot.7", read_nodes=read_nodes)


@READERS
def test_a_truncated_snapshot_is_caught(read_nodes):
    stream = Z.encode_snapshot([], small_snapshot_nodes(), None)
    for size in range(0, len(stream), 7):
        with pytest.raises(Z.CorruptSnapshotError):
            Z.parse_snapshot(stream[:size], 7, "snapshot.7", read_nodes=read_nodes)


def test_the_import_reader_builds_the_tree_restore_builds():
    nodes = small_snapshot_nodes() + [
        Z.SnapshotNode("/a/c", b"x", DIGEST_ACL, Z.StatPersisted(9, 9, 1, 1, 0, 0, 0, 0, 9)),
        Z.SnapshotNode("/zookeeper", b"", Z.OPEN_ACL_UNSAFE, Z.StatPersisted(0, 0, 0, 0, 0, 0, 0, 0, 0))]
    stream = Z.encode_snapshot([(0x1234, 30000)], nodes, None)
    via_rows = convert.tree_from_snapshot(Z.parse_snapshot(stream, 7, "snapshot.7"))
    direct = convert.tree_from_snapshot(
        Z.parse_snapshot(stream, 7, "snapshot.7", read_nodes=convert.snapshot_tree_reader))
    assert list(convert.snapshot_nodes(direct)) == list(convert.snapshot_nodes(via_rows))
    assert {p: n.children for p, n in direct.nodes.items()} == \
        {p: n.children for p, n in via_rows.nodes.items()}
    assert (direct.sessions, direct.last_zxid, direct.ephemerals) == \
        (via_rows.sessions, via_rows.last_zxid, via_rows.ephemerals)
    assert direct.get("/a").acl is direct.get("/a/c").acl


@pytest.mark.parametrize("paths, reason", [
    (["/", "/a/b"], "comes before its parent"),
    (["/", "/a", "/a"], "given twice"),
    (["/a"], "comes before its parent"),
    (["/", "/a", "/"], "root node is not the first"),
])
def test_the_import_reader_refuses_a_tree_zookeeper_would_refuse(paths, reason):
    stat = Z.StatPersisted(0, 0, 0, 0, 0, 0, 0, 0, 0)
    stream = Z.encode_snapshot([], [Z.SnapshotNode(p, b"", Z.OPEN_ACL_UNSAFE, stat) for p in paths], None)
    with pytest.raises(Z.CorruptSnapshotError, match=reason):
        Z.parse_snapshot(stream, 7, "snapshot.7", read_nodes=convert.snapshot_tree_reader)


@pytest.mark.parametrize("compression", ["gz", "snappy"])
def test_compressed_snapshots_round_trip(compression):
    stream = Z.encode_snapshot([], small_snapshot_nodes(), None) * 5000   # several snappy blocks
    packed = Z.compress(stream, compression)
    assert len(packed) < len(stream)
    assert Z.decompress(packed, compression, "snapshot.7." + compression) == stream
    with pytest.raises(Z.CorruptSnapshotError):
        Z.decompress(packed[:len(packed) // 2] + b"\xff" * 64, compression, "snapshot.7." + compression)


def test_compression_is_told_by_the_file_name():
    assert Z.compression_of("snapshot.1a") == ""
    assert Z.compression_of("snapshot.1a.gz") == "gz"
    assert Z.compression_of("snapshot.1a.snappy") == "snappy"


def _log(*records, tail=b"\x00" * 64):
    return Z.encode_log_header() + b"".join(records) + tail


def _create(zxid, path):
    body = bytearray()
    from coord.protocol.jute import write_buffer, write_int, write_ustring, write_vector
    write_ustring(body, path)
    write_buffer(body, b"x")
    write_vector(body, Z.OPEN_ACL_UNSAFE, lambda o, a: a.serialize(o))
    body += b"\x00"                  # not ephemeral
    write_int(body, zxid)            # parent cversion
    return Z.encode_log_record(Z.TxnHeader(0x99, 1, zxid, 1000 + zxid, OpCode.CREATE), bytes(body))


def test_log_records_end_at_the_preallocated_zeros():
    scan = Z.parse_txn_log(_log(_create(1, "/a"), _create(2, "/b")), "log.1")
    assert [r.header.zxid for r in scan.records] == [1, 2]
    assert scan.torn is None
    assert scan.records[1].txn == Z.CreateTxn("/b", b"x", Z.OPEN_ACL_UNSAFE, False, 2)


def test_a_partly_written_last_record_is_torn_not_corrupt():
    good, last = _create(1, "/a"), _create(2, "/b")
    zeroed_end = last[:20] + b"\x00" * (len(last) - 20)      # length written, rest never was
    for damaged in (zeroed_end, last[:-1], last[:10]):
        scan = Z.parse_txn_log(_log(good, damaged, tail=b""), "log.1")
        assert [r.header.zxid for r in scan.records] == [1]
        assert scan.torn is not None


def test_a_checksum_mismatch_is_corruption_naming_the_offset():
    good, last = _create(1, "/a"), bytearray(_create(2, "/b"))
    last[30] ^= 1
    with pytest.raises(Z.CorruptTxnLogError) as error:
        Z.parse_txn_log(_log(good, bytes(last)), "log.1")
    assert error.value.offset == 16 + len(good)
    assert "log.1" in str(error.value)


def test_zxids_follow_within_an_epoch_or_start_a_new_one():
    assert zkdir.follows(5, 6)
    assert zkdir.follows(0x1_0000_0007, 0x2_0000_0001)
    assert not zkdir.follows(5, 7)
    assert not zkdir.follows(0x1_0000_0007, 0x2_0000_0002)


def test_session_password_is_the_one_zookeeper_gave_its_client():
    # (session id, password) as kazoo received them from Apache ZooKeeper 3.8.
    assert Z.session_password(72057721477922816) == b">U\xcc\xa4\xf30S\xe5L\xf5j\xe4\xf4\x01\x9f\xf9"


def test_restore_keeps_every_stat_field_and_indexes_ephemerals():
    nodes = small_snapshot_nodes()
    tree = convert.tree_from_snapshot(Z.Snapshot(7, [(0x1234, 30000)], nodes, None, -1))
    assert tree.last_zxid == 7
    assert tree.get("/a").stat() == (5, 6, 1000, 2000, 1, 0, 3, 0, 0, 0, 5)
    assert tree.get("/").stat().cversion == 2 * 2 - 2
    assert tree.ephemerals_of(0x1234) == {"/b"}
    assert tree.sessions[0x1234] == (30000, Z.session_password(0x1234))
    assert list(convert.snapshot_nodes(tree)) == nodes


def test_restore_refuses_a_child_before_its_parent():
    row = (b"", Z.OPEN_ACL_UNSAFE, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError):
        DataTree.restore(0, {}, [("/", *row), ("/a/b", *row)])
    with pytest.raises(ValueError):
        DataTree.restore(0, {}, [("/a", *row)])


def test_a_failed_multi_changes_nothing_but_the_last_zxid():
    tree = DataTree()
    header = Z.TxnHeader(0x5, 1, 9, 1000, OpCode.MULTI)
    multi = Z.MultiTxn(((OpCode.CREATE, Z.CreateTxn("/x", b"", Z.OPEN_ACL_UNSAFE, False, 1)),
                        (OpCode.ERROR, Z.ErrorTxn(-101))))
    before = convert.digest_of(tree)
    convert.apply_record(tree, Z.LogRecord(header, multi, None, 0))
    assert tree.get("/x") is None and tree.last_zxid == 9 and convert.digest_of(tree) == before


def test_dead_sessions_lose_their_ephemerals_as_on_a_zookeeper_restart():
    tree = DataTree()
    tree.apply(T.TxnHeader(7, 1, 1, 0), T.CreateTxn("/e", b"", Z.OPEN_ACL_UNSAFE, 7, 1))
    assert convert.drop_dead_sessions(tree) == [7]
    assert tree.get("/e") is None and tree.get("/").pzxid == 1


def test_a_fuzzy_snapshot_without_its_log_records_is_a_gap(tmp_path):
    version_dir = tmp_path / "version-2"
    version_dir.mkdir()
    nodes = small_snapshot_nodes()
    (version_dir / "snapshot.5").write_bytes(Z.encode_snapshot([], nodes, Z.ZxidDigest(9, 2, 0)))
    warnings = []
    with pytest.raises(zkdir.TxnLogGapError) as error:
        zkdir.load(str(tmp_path), warn=warnings.append)
    assert "0x6..0x9" in str(error.value)
    assert any("no transaction log" in w for w in warnings)
    (version_dir / "log.6").write_bytes(_log(*(_create(z, f"/n{z}") for z in range(6, 10))))
    state = zkdir.load(str(tmp_path), warn=warnings.append)
    assert state.last_zxid == 9 and len(state.records) == 4


def test_without_cramjam_snappy_is_a_named_error(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "cramjam", None)    # import cramjam -> ImportError
    with pytest.raises(Z.SnappyUnavailableError, match="cramjam"):
        Z.decompress(b"\x82SNAPPY\x00" + bytes(8), "snappy", "snapshot.1.snappy")
    assert Z.decompress(Z.compress(b"still fine", "gz"), "gz", "snapshot.1.gz") == b"still fine"


def test_the_inlined_tree_digest_is_zookeepers_node_digest_summed():
    tree = DataTree()
    header = T.TxnHeader(0x7, 1, 5, 1000)
    tree.apply(header, T.CreateTxn("/a", None, Z.OPEN_ACL_UNSAFE, 0, 1))
    tree.apply(header, T.CreateTxn("/a/é", b"\x00data", DIGEST_ACL, 0x7, 1))
    tree.apply(header, T.CreateTxn("/b", b"", Z.OPEN_ACL_UNSAFE, 0, 2))
    tree.apply(header, T.CreateTxn("/zookeeper/quota/x", b"not hashed", Z.OPEN_ACL_UNSAFE, 0, 1))
    nodes = list(convert.snapshot_nodes(tree))
    assert convert.digest_of(tree) == Z.tree_digest(nodes)
    assert convert.digest_of(tree) == Z.signed_long(sum(
        Z.node_digest(n.path, n.data, n.stat) for n in nodes if n.path != "/zookeeper/quota/x"))


def _zookeeper_dir_with_digest(root, digest_value=None):
    """A ZooKeeper data dir holding one snapshot whose digest is ``digest_value`` (None: the
    right one)."""
    nodes = small_snapshot_nodes()
    if digest_value is None:
        digest_value = Z.tree_digest(nodes)
    version_dir = root / "version-2"
    version_dir.mkdir(parents=True)
    (version_dir / "snapshot.7").write_bytes(
        Z.encode_snapshot([(0x1234, 30000)], nodes, Z.ZxidDigest(7, Z.DIGEST_VERSION, digest_value)))
    return str(root)


def test_import_checks_zookeepers_digest_and_writes_nothing_on_a_mismatch(tmp_path):
    from coord.migration import commands
    target = tmp_path / "coord"
    with pytest.raises(commands.MigrationError, match="does not match ZooKeeper's own digest"):
        commands.import_zookeeper(_zookeeper_dir_with_digest(tmp_path / "bad", 12345), str(target),
                                  warn=lambda m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]     # no target, no temporary
    summary = commands.import_zookeeper(_zookeeper_dir_with_digest(tmp_path / "good"), str(target),
                                        warn=lambda m: None)
    assert "matches ZooKeeper's digest at zxid 0x7" in summary


def test_a_failing_digest_computation_fails_the_import(tmp_path, monkeypatch):
    from coord.migration import commands

    def broken(tree):
        raise RuntimeError("boom")

    monkeypatch.setattr(convert, "digest_of", broken)
    target = tmp_path / "coord"
    with pytest.raises((commands.MigrationError, RuntimeError), match="boom"):
        commands.import_zookeeper(_zookeeper_dir_with_digest(tmp_path / "zk"), str(target),
                                  warn=lambda m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zk"]
