"""Snapshot files: streamed writes, atomic commit, newest-valid loading, retention."""

import os

import pytest

from coord.storage import snapshots
from coord.storage.snapshots import (
    CorruptSnapshotError,
    SnapshotWriter,
    load_newest_valid,
    retain,
)


def write_snapshot(snap_dir, zxid, body):
    writer = SnapshotWriter(snap_dir, zxid)
    for start in range(0, len(body), 7):
        writer.write(body[start : start + 7])
    return writer.commit()


def body_for(zxid):
    return f"state as of {zxid:#x};".encode() * 50


def must_not_warn(message):
    raise AssertionError(f"unexpected warning: {message}")


def test_round_trip_in_chunks(tmp_path):
    path = write_snapshot(tmp_path, 0x100000007, body_for(7))
    assert os.path.basename(path) == "snapshot.0000000100000007"
    assert load_newest_valid(tmp_path, warn=must_not_warn) == (0x100000007, body_for(7))
    assert os.listdir(tmp_path) == ["snapshot.0000000100000007"]


def test_empty_snapshot_and_empty_dir(tmp_path):
    assert load_newest_valid(tmp_path, warn=must_not_warn) is None
    write_snapshot(tmp_path, 0, b"")
    assert load_newest_valid(tmp_path, warn=must_not_warn) == (0, b"")


def test_newest_valid_wins(tmp_path):
    for zxid in (5, 50, 20):
        write_snapshot(tmp_path, zxid, body_for(zxid))
    assert load_newest_valid(tmp_path, warn=must_not_warn) == (50, body_for(50))


def test_uncommitted_snapshot_is_invisible_and_abort_removes_it(tmp_path):
    write_snapshot(tmp_path, 5, body_for(5))
    writer = SnapshotWriter(tmp_path, 9)
    writer.write(b"partial")
    assert load_newest_valid(tmp_path, warn=must_not_warn) == (5, body_for(5))
    writer.abort()
    writer.abort()
    assert sorted(os.listdir(tmp_path)) == ["snapshot.0000000000000005"]
    with pytest.raises(ValueError):
        writer.write(b"more")


def test_context_manager_aborts_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with SnapshotWriter(tmp_path, 3) as writer:
            writer.write(b"half")
            raise RuntimeError("serialization failed")
    assert os.listdir(tmp_path) == []
    with SnapshotWriter(tmp_path, 4) as writer:
        writer.write(b"whole")
        writer.commit()
    assert load_newest_valid(tmp_path, warn=must_not_warn) == (4, b"whole")


def corrupt(path, how):
    data = bytearray(open(path, "rb").read())
    if how == "flip_body":
        data[len(data) // 2] ^= 0x04
    elif how == "truncate":
        data = data[:-5]
    elif how == "extend":
        data += b"\0" * 10
    elif how == "magic":
        data[0:8] = b"NOTASNAP"
    elif how == "zeros":
        data = bytearray(len(data))
    open(path, "wb").write(data)


@pytest.mark.parametrize(
    "how, reason",
    [
        ("flip_body", "CRC mismatch"),
        ("truncate", "no trailer"),
        ("extend", "no trailer"),
        ("magic", "not a coord snapshot"),
        ("zeros", "not a coord snapshot"),
    ],
)
def test_a_bad_newest_snapshot_is_skipped_with_a_warning_naming_it(tmp_path, how, reason):
    write_snapshot(tmp_path, 10, body_for(10))
    newest = write_snapshot(tmp_path, 20, body_for(20))
    corrupt(newest, how)
    warnings = []
    assert load_newest_valid(tmp_path, warn=warnings.append) == (10, body_for(10))
    assert len(warnings) == 1 and newest in warnings[0] and reason in warnings[0]
    with pytest.raises(CorruptSnapshotError, match=reason):
        snapshots.check_snapshot(newest, 20)


def test_a_snapshot_renamed_to_another_zxid_is_rejected(tmp_path):
    path = write_snapshot(tmp_path, 10, body_for(10))
    os.rename(path, os.path.join(tmp_path, snapshots.snapshot_file_name(11)))
    warnings = []
    assert load_newest_valid(tmp_path, warn=warnings.append) is None
    assert "does not match the file name" in warnings[0]


def test_retain_keeps_the_newest_valid_and_returns_the_oldest_kept(tmp_path):
    for zxid in (1, 2, 3, 4, 5):
        write_snapshot(tmp_path, zxid, body_for(zxid))
    corrupt(os.path.join(tmp_path, snapshots.snapshot_file_name(4)), "flip_body")
    warnings = []
    assert retain(tmp_path, 2, warn=warnings.append) == 3
    assert [zxid for zxid, _ in snapshots.list_snapshots(tmp_path)] == [5, 3]
    assert len(warnings) == 1 and "snapshot.0000000000000004" in warnings[0]
    assert retain(tmp_path, 5) == 3
    with pytest.raises(ValueError):
        retain(tmp_path, 0)


def test_retain_deletes_nothing_when_no_snapshot_is_valid(tmp_path):
    path = write_snapshot(tmp_path, 1, body_for(1))
    corrupt(path, "truncate")
    assert retain(tmp_path, 1) is None
    assert os.path.exists(path)


def test_leftover_temporary_files_are_ignored_then_removed(tmp_path):
    write_snapshot(tmp_path, 1, body_for(1))
    leftover = os.path.join(tmp_path, snapshots.snapshot_file_name(2) + ".tmp")
    with open(leftover, "wb") as file:
        file.write(b"COORDSNP half written")
    assert load_newest_valid(tmp_path, warn=must_not_warn) == (1, body_for(1))
    assert snapshots.remove_temporary_files(tmp_path) == [leftover]
    assert not os.path.exists(leftover)
