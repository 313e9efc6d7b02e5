"""DataDir: lock, epoch, and recovery = newest valid snapshot + every log record after it."""

import json
import os

import pytest

from coord.storage import format, snapshots
from coord.storage.datadir import DataDir, DataDirLockedError, EpochFileError, RecoveryError


class Server:
    """A tiny state machine over the storage API: payload b"key=value" sets a key (idempotent)."""

    def __init__(self, data_dir, **open_kwargs):
        self.warnings = []
        self.dd = DataDir.open(data_dir, warn=self.warnings.append, **open_kwargs)
        self.state = json.loads(self.dd.snapshot_bytes) if self.dd.snapshot_bytes else {}
        for _zxid, payload in self.dd.log_records_to_replay:
            self.apply(payload)
        self.next_zxid = self.dd.last_zxid + 1

    def apply(self, payload):
        key, value = payload.decode().split("=")
        self.state[key] = value

    def commit(self, changes):
        """Apply and log one batch of changes; returns the zxids used."""
        zxids = []
        for key, value in changes:
            payload = f"{key}={value}".encode()
            self.apply(payload)
            self.dd.wal.append(self.next_zxid, payload)
            zxids.append(self.next_zxid)
            self.next_zxid += 1
        self.dd.wal.write(self.dd.wal.seal())
        return zxids

    def fuzzy_snapshot(self, changes_during_serialization=()):
        """Snapshot labelled with the zxid at its start; writes land while it serializes."""
        start_zxid = self.next_zxid - 1  # the tree's last applied zxid
        writer = self.dd.new_snapshot(start_zxid)
        if changes_during_serialization:
            self.commit(changes_during_serialization)
        body = json.dumps(self.state).encode()
        for start in range(0, len(body), 100):
            writer.write(body[start : start + 100])
        # Rule: commit only once the log is durable up to everything the snapshot holds.
        assert self.dd.wal.durable_zxid == self.next_zxid - 1
        writer.commit()
        return start_zxid

    def close(self):
        self.dd.close()


def test_fresh_directory_layout(tmp_path):
    data_dir = tmp_path / "data"
    with DataDir.open(data_dir) as dd:
        assert dd.epoch == 1 and dd.last_zxid == 0
        assert dd.snapshot_zxid == 0 and dd.snapshot_bytes is None and dd.log_records_to_replay == []
        assert dd.recovered_snapshot is None
        assert sorted(os.listdir(data_dir)) == ["LOCK", "epoch", "log", "snapshots"]
        assert (data_dir / "epoch").read_text() == "1\n"
        assert dd.snapshot_dir == str(data_dir / "snapshots") and dd.log_dir == str(data_dir / "log")


def test_epoch_bumps_on_every_open_even_with_an_empty_log(tmp_path):
    for expected_epoch in (1, 2, 3, 4):
        with DataDir.open(tmp_path) as dd:
            assert dd.epoch == expected_epoch
            assert dd.last_zxid == 0 and dd.wal.durable_zxid == 0


def test_zxids_never_go_backwards_across_restarts(tmp_path):
    server = Server(tmp_path)
    used = server.commit([("a", "1"), ("b", "2")])
    server.close()
    server = Server(tmp_path)
    assert server.dd.epoch == 2 and server.next_zxid > max(used)
    assert server.next_zxid == max(used) + 1
    used += server.commit([("c", "3")])
    server.close()
    # Zxids come from the log itself, so even a lost epoch file cannot send them backwards.
    os.unlink(tmp_path / "epoch")
    server = Server(tmp_path)
    assert server.next_zxid > max(used)
    assert server.state == {"a": "1", "b": "2", "c": "3"}
    server.close()


def test_a_damaged_epoch_file_is_a_clear_error_and_releases_the_lock(tmp_path):
    DataDir.open(tmp_path).close()
    (tmp_path / "epoch").write_text("seven\n")
    with pytest.raises(EpochFileError, match="epoch"):
        DataDir.open(tmp_path)
    (tmp_path / "epoch").write_text("7\n")
    with DataDir.open(tmp_path) as dd:
        assert dd.epoch == 8


def test_a_second_open_of_the_same_directory_fails_until_the_first_closes(tmp_path):
    first = DataDir.open(tmp_path)
    with pytest.raises(DataDirLockedError, match="in use by another coord server") as caught:
        DataDir.open(tmp_path)
    assert str(tmp_path) in str(caught.value) and str(os.getpid()) in str(caught.value)
    first.close()
    DataDir.open(tmp_path).close()


def test_a_shared_separate_log_dir_is_locked_too(tmp_path):
    first = DataDir.open(tmp_path / "data1", tmp_path / "logs")
    assert os.path.isdir(tmp_path / "logs" / "log") and first.log_dir == str(tmp_path / "logs" / "log")
    with pytest.raises(DataDirLockedError, match="logs"):
        DataDir.open(tmp_path / "data2", tmp_path / "logs")
    # The failed open released the lock it did take on data2.
    DataDir.open(tmp_path / "data2", tmp_path / "other-logs").close()
    first.close()


def test_recovery_replays_every_record_after_a_fuzzy_snapshot(tmp_path):
    server = Server(tmp_path, segment_bytes=300)
    for i in range(20):
        server.commit([(f"k{i}", str(i)), ("counter", str(i))])
    snapshot_zxid = server.fuzzy_snapshot(changes_during_serialization=[("late", "x"), ("counter", "fuzzy")])
    server.commit([("after", "y"), ("counter", "final")])
    expected = dict(server.state)
    server.close()

    server = Server(tmp_path, segment_bytes=300)
    assert server.dd.snapshot_zxid == snapshot_zxid
    assert server.dd.recovered_snapshot == (snapshot_zxid, server.dd.snapshot_bytes)
    # The two records applied during serialization are replayed although the snapshot has them.
    assert [zxid for zxid, _ in server.dd.log_records_to_replay] == list(
        range(snapshot_zxid + 1, snapshot_zxid + 5)
    )
    assert server.state == expected and server.warnings == []
    server.close()


def test_a_corrupt_newest_snapshot_falls_back_to_the_older_one_plus_the_log(tmp_path):
    server = Server(tmp_path, segment_bytes=300)
    for round_number in range(3):
        for i in range(15):
            server.commit([(f"r{round_number}k{i}", str(i))])
        server.fuzzy_snapshot([("fuzz", str(round_number))])
        assert server.dd.retain_snapshots(2) is not None
    server.commit([("tail", "1")])
    expected = dict(server.state)
    server.close()

    kept = snapshots.list_snapshots(tmp_path / "snapshots")
    assert len(kept) == 2
    newest_zxid, newest_path = kept[0]
    data = bytearray(open(newest_path, "rb").read())
    data[30] ^= 0xFF
    open(newest_path, "wb").write(data)

    server = Server(tmp_path, segment_bytes=300)
    assert server.dd.snapshot_zxid == kept[1][0] < newest_zxid
    assert len(server.warnings) == 1 and newest_path in server.warnings[0]
    assert server.state == expected
    server.close()


def test_falling_back_to_a_snapshot_the_log_no_longer_reaches_is_a_startup_error(tmp_path):
    server = Server(tmp_path, segment_bytes=200)
    for i in range(10):
        server.commit([(f"a{i}", "1")])
    server.fuzzy_snapshot()
    for i in range(10):
        server.commit([(f"b{i}", "2")])
    newest_zxid = server.fuzzy_snapshot()
    server.dd.wal.purge(newest_zxid)  # what retain_snapshots(1) would allow
    server.close()
    newest_path = os.path.join(tmp_path, "snapshots", snapshots.snapshot_file_name(newest_zxid))
    with open(newest_path, "r+b") as file:
        file.truncate(os.path.getsize(newest_path) - 1)

    with pytest.raises(RecoveryError, match="are missing") as caught:
        DataDir.open(tmp_path, segment_bytes=200, warn=lambda message: None)
    assert newest_path in str(caught.value) and "purged" in str(caught.value)
    # The failed start left the directory unlocked and the epoch unburned.
    assert (tmp_path / "epoch").read_text() == "1\n"

    os.unlink(newest_path)
    for _zxid, path in snapshots.list_snapshots(tmp_path / "snapshots"):
        os.unlink(path)
    with pytest.raises(RecoveryError, match="no valid snapshot"):
        DataDir.open(tmp_path, segment_bytes=200)


def test_retain_snapshots_never_purges_log_that_recovery_needs(tmp_path):
    server = Server(tmp_path, segment_bytes=250)
    for round_number in range(6):
        for i in range(12):
            server.commit([(f"k{i % 5}", f"{round_number}.{i}")])
        server.fuzzy_snapshot([("during", str(round_number))])
        oldest_kept = server.dd.retain_snapshots(2)
        assert server.dd.wal.complete_after_zxid <= oldest_kept
    expected = dict(server.state)
    segments_before_restart = len(server.dd.wal.segment_paths())
    server.close()
    assert len(snapshots.list_snapshots(tmp_path / "snapshots")) == 2

    server = Server(tmp_path, segment_bytes=250)
    assert server.state == expected
    assert len(server.dd.wal.segment_paths()) == segments_before_restart
    server.close()


def test_a_missing_log_segment_after_the_snapshot_is_corruption(tmp_path):
    server = Server(tmp_path, segment_bytes=150)
    server.fuzzy_snapshot()
    for i in range(30):
        server.commit([(f"k{i}", "v")])
    paths = server.dd.wal.segment_paths()
    assert len(paths) >= 4
    server.close()
    os.unlink(paths[2])
    with pytest.raises(format.CorruptLogError, match="missing"):
        DataDir.open(tmp_path, segment_bytes=150)


def test_a_snapshot_interrupted_by_a_crash_is_cleaned_up(tmp_path):
    server = Server(tmp_path)
    server.commit([("a", "1")])
    writer = server.dd.new_snapshot(server.dd.wal.durable_zxid)
    writer.write(b"{half")
    server.close()  # the "crash": the writer never commits or aborts
    server = Server(tmp_path)
    assert server.state == {"a": "1"}
    assert os.listdir(tmp_path / "snapshots") == []
    assert any(".tmp" in message for message in server.warnings)
    server.close()


def test_separate_log_dir_round_trip(tmp_path):
    server = Server(tmp_path / "data", log_dir=tmp_path / "fast-disk")
    server.commit([("x", "1")])
    server.close()
    assert os.listdir(tmp_path / "fast-disk" / "log")
    server = Server(tmp_path / "data", log_dir=tmp_path / "fast-disk")
    assert server.state == {"x": "1"}
    server.close()
