"""WriteAheadLog.truncate_after: discarding a log suffix (a Raft log conflict) and appending anew."""

import os

import pytest

from coord.storage import format
from coord.storage.format import SEGMENT_HEADER_BYTES
from coord.storage.wal import WalFailedError, WriteAheadLog


def old_payload(zxid):
    return f"old {zxid} ".encode() * (zxid % 4 + 1)


def new_payload(zxid):
    return f"NEW {zxid} ".encode() * (zxid % 3 + 2)


def open_log(log_dir, **kwargs):
    warnings = []
    wal, recovered = WriteAheadLog.open(log_dir, warn=warnings.append, **kwargs)
    assert warnings == []
    return wal, recovered


def write_old(wal, zxids, per_batch=1):
    zxids = list(zxids)
    for start in range(0, len(zxids), per_batch):
        for zxid in zxids[start : start + per_batch]:
            wal.append(zxid, old_payload(zxid))
        wal.write(wal.seal())


def old(zxids):
    return [(zxid, old_payload(zxid)) for zxid in zxids]


def new(zxids):
    return [(zxid, new_payload(zxid)) for zxid in zxids]


def append_new(wal, zxids):
    for zxid in zxids:
        wal.append(zxid, new_payload(zxid))


def segment_layout(wal):
    """[(first_zxid, prev_zxid, [zxids])] per segment file, read from the disk."""
    layout = []
    for path in wal.segment_paths():
        scan = format.scan_records(open(path, "rb").read(), file_name=path)
        assert not scan.torn_tail and os.path.basename(path) == format.segment_file_name(scan.header.first_zxid)
        layout.append((scan.header.first_zxid, scan.header.prev_zxid, [zxid for zxid, _ in scan.records]))
    return layout


def assert_log(wal, log_dir, expected, **open_kwargs):
    """The open log and a fresh recovery both hold exactly ``expected``; the chain is intact."""
    assert list(wal.read_from(wal.complete_after_zxid)) == expected
    layout = segment_layout(wal)
    for (_, _, previous_zxids), (_, prev_zxid, _) in zip(layout, layout[1:]):
        assert prev_zxid == previous_zxids[-1]
    reopened, recovered = open_log(log_dir, **open_kwargs)
    assert recovered.records == expected
    assert recovered.last_zxid == (expected[-1][0] if expected else 0)
    reopened.close()


def test_truncate_inside_the_pending_buffer_needs_no_disk_work(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, [1, 2])
    for zxid in (3, 4, 5):
        wal.append(zxid, old_payload(zxid))
    wal.truncate_after(3)
    assert (wal.pending_count, wal.last_appended_zxid, wal.durable_zxid) == (1, 3, 2)
    assert wal.pending_truncate_after is None  # nothing sealed is affected
    assert wal.pending_bytes == 16 + len(old_payload(3))
    append_new(wal, [4])
    batch = wal.seal()
    assert (batch.first_zxid, batch.last_zxid, batch.count, batch.truncate_after) == (3, 4, 2, None)
    assert batch.nbytes == 32 + len(old_payload(3)) + len(new_payload(4))
    wal.write(batch)
    assert wal.durable_zxid == 4
    assert_log(wal, tmp_path, old([1, 2, 3]) + new([4]))
    wal.close()


def test_truncate_the_whole_pending_buffer(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, [1, 2])
    wal.append(3, b"x")
    wal.append(4, b"y")
    wal.truncate_after(2)
    assert wal.pending_count == 0 and wal.pending_bytes == 0 and wal.seal() is None
    assert wal.last_appended_zxid == wal.durable_zxid == 2
    wal.close()


def test_truncate_at_or_past_the_end_changes_nothing(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, [1, 2, 3])
    wal.append(4, old_payload(4))
    for zxid in (4, 9):
        wal.truncate_after(zxid)
        assert wal.last_appended_zxid == 4 and wal.pending_count == 1 and wal.pending_truncate_after is None
    wal.write(wal.seal())
    assert wal.seal() is None
    wal.truncate_after(4)
    assert wal.seal() is None
    wal.close()


def test_truncate_inside_the_newest_segment_then_append_the_same_zxids(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, range(1, 11), per_batch=3)
    path = wal.segment_paths()[0]
    wal.truncate_after(6)
    # At once: 7..10 are on their way out, so nothing above 6 counts as durable.
    assert wal.durable_zxid == 6 and wal.last_appended_zxid == 6 and wal.pending_truncate_after == 6
    with pytest.raises(ValueError, match="does not increase"):
        wal.append(6, b"6 is kept")
    append_new(wal, [7, 8])
    assert wal.durable_zxid == 6  # the new 7 and 8 are not written yet
    batch = wal.seal()
    assert (batch.first_zxid, batch.last_zxid, batch.count, batch.truncate_after) == (7, 8, 2, 6)
    assert wal.pending_truncate_after is None
    wal.write(batch)
    assert wal.durable_zxid == 8 and wal.segment_paths() == [path]
    expected = old(range(1, 7)) + new([7, 8])
    assert os.path.getsize(path) == SEGMENT_HEADER_BYTES + sum(16 + len(payload) for _, payload in expected)
    assert_log(wal, tmp_path, expected)
    # Appending goes on normally afterwards.
    write_old(wal, [9, 10])
    assert_log(wal, tmp_path, expected + old([9, 10]))
    wal.close()


def test_truncate_across_segments(tmp_path):
    wal, _ = open_log(tmp_path, segment_bytes=300)
    write_old(wal, range(1, 41), per_batch=2)
    before = segment_layout(wal)
    assert len(before) >= 5
    first, _, zxids = before[2]
    truncate_after = zxids[1]  # inside segment 2, not at its end
    assert zxids[-1] > truncate_after
    wal.truncate_after(truncate_after)
    wal.write(wal.seal())
    after = segment_layout(wal)
    assert after[:2] == before[:2]
    assert after[2] == (first, before[2][1], zxids[:2]) and len(after) == 3
    assert all(not os.path.exists(path) for path in wal.segment_paths()[3:])
    assert wal.durable_zxid == truncate_after
    assert_log(wal, tmp_path, old(range(1, truncate_after + 1)), segment_bytes=300)
    # The same zxids again, enough of them to roll new segments that chain on.
    append_new(wal, range(truncate_after + 1, truncate_after + 20))
    wal.write(wal.seal())
    for zxid in range(truncate_after + 20, truncate_after + 40, 2):
        append_new(wal, [zxid, zxid + 1])
        wal.write(wal.seal())
    assert len(wal.segment_paths()) > 4
    expected = old(range(1, truncate_after + 1)) + new(range(truncate_after + 1, truncate_after + 40))
    assert_log(wal, tmp_path, expected, segment_bytes=300)
    wal.close()


def test_truncate_to_the_exact_end_of_a_segment_reuses_the_next_segments_name(tmp_path):
    wal, _ = open_log(tmp_path, segment_bytes=300)
    write_old(wal, range(1, 31), per_batch=2)
    before = segment_layout(wal)
    _, _, zxids = before[1]
    truncate_after = zxids[-1]
    reused_path = wal.segment_paths()[2]
    assert os.path.basename(reused_path) == format.segment_file_name(truncate_after + 1)
    wal.truncate_after(truncate_after)
    # Too big for what is left of segment 1: rolls a new segment named log.<truncate_after + 1>.
    append_new(wal, range(truncate_after + 1, truncate_after + 6))
    wal.write(wal.seal())
    after = segment_layout(wal)
    assert after[:2] == before[:2]
    assert after[2] == (truncate_after + 1, truncate_after, list(range(truncate_after + 1, truncate_after + 6)))
    assert wal.segment_paths()[2] == reused_path and len(after) == 3
    expected = old(range(1, truncate_after + 1)) + new(range(truncate_after + 1, truncate_after + 6))
    assert_log(wal, tmp_path, expected, segment_bytes=300)
    wal.close()


def test_truncation_that_empties_the_newest_segment_removes_it_and_the_next_segment_chains(tmp_path):
    wal, _ = open_log(tmp_path, segment_bytes=300)
    write_old(wal, range(1, 21), per_batch=2)
    before = segment_layout(wal)
    newest_first = before[-1][0]
    newest_path = wal.segment_paths()[-1]
    wal.truncate_after(newest_first - 1)  # exactly the newest segment goes
    wal.write(wal.seal())
    assert not os.path.exists(newest_path) and segment_layout(wal) == before[:-1]
    assert wal.durable_zxid == newest_first - 1
    assert_log(wal, tmp_path, old(range(1, newest_first)), segment_bytes=300)
    # A small batch fits the previous segment; a big one rolls, chaining to its last record.
    append_new(wal, [newest_first])
    wal.write(wal.seal())
    append_new(wal, range(newest_first + 1, newest_first + 8))
    wal.write(wal.seal())
    layout = segment_layout(wal)
    assert layout[-1][1] == layout[-2][2][-1]
    expected = old(range(1, newest_first)) + new(range(newest_first, newest_first + 8))
    assert_log(wal, tmp_path, expected, segment_bytes=300)
    wal.close()


def test_pure_truncation_is_a_batch_of_its_own(tmp_path):
    wal, _ = open_log(tmp_path, segment_bytes=300)
    write_old(wal, range(1, 21), per_batch=2)
    wal.truncate_after(12)
    wal.truncate_after(5)  # the lowest point since the last seal wins
    assert wal.durable_zxid == 5 and wal.pending_count == 0
    batch = wal.seal()
    assert (batch.first_zxid, batch.last_zxid, batch.count, batch.nbytes) == (0, 5, 0, 0)
    assert batch.truncate_after == 5 and wal.seal() is None
    wal.write(batch)
    assert wal.durable_zxid == 5
    assert_log(wal, tmp_path, old(range(1, 6)), segment_bytes=300)
    wal.close()
    wal, recovered = open_log(tmp_path, segment_bytes=300)
    assert recovered.last_zxid == wal.durable_zxid == 5
    append_new(wal, [6])
    wal.write(wal.seal())
    assert_log(wal, tmp_path, old(range(1, 6)) + new([6]), segment_bytes=300)
    wal.close()


def test_pending_records_appended_after_a_truncation_survive_a_later_higher_one(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, range(1, 11))
    wal.truncate_after(4)
    append_new(wal, [5, 6, 7])
    wal.truncate_after(6)  # cuts only the pending 7; the batch still truncates after 4
    assert wal.pending_truncate_after == 4 and wal.pending_count == 2
    batch = wal.seal()
    assert (batch.first_zxid, batch.last_zxid, batch.truncate_after) == (5, 6, 4)
    wal.write(batch)
    assert_log(wal, tmp_path, old(range(1, 5)) + new([5, 6]))
    wal.close()


def test_truncating_the_whole_log(tmp_path):
    wal, _ = open_log(tmp_path, segment_bytes=300)
    write_old(wal, range(1, 21), per_batch=2)
    paths = wal.segment_paths()
    wal.truncate_after(0)
    wal.write(wal.seal())
    assert wal.segment_paths() == [] and not any(os.path.exists(path) for path in paths)
    assert wal.durable_zxid == 0 and wal.complete_after_zxid == 0
    assert list(wal.read_from(0)) == []
    append_new(wal, [1, 2, 3])
    wal.write(wal.seal())
    assert segment_layout(wal) == [(1, 0, [1, 2, 3])]
    assert_log(wal, tmp_path, new([1, 2, 3]), segment_bytes=300)
    wal.close()


def test_truncation_after_a_purge_keeps_where_the_log_is_complete(tmp_path):
    wal, _ = open_log(tmp_path, segment_bytes=300)
    write_old(wal, range(1, 31), per_batch=2)
    wal.purge(14)
    complete_after = wal.complete_after_zxid
    assert 0 < complete_after < 14
    with pytest.raises(ValueError, match="purged"):
        wal.truncate_after(complete_after - 1)
    assert wal.last_appended_zxid == 30 and wal.pending_truncate_after is None  # unchanged
    wal.truncate_after(complete_after)  # the whole remaining log goes; allowed
    wal.write(wal.seal())
    assert wal.segment_paths() == [] and wal.complete_after_zxid == complete_after
    append_new(wal, [complete_after + 1])
    wal.write(wal.seal())
    assert segment_layout(wal) == [(complete_after + 1, complete_after, [complete_after + 1])]
    assert_log(wal, tmp_path, new([complete_after + 1]), segment_bytes=300)
    wal.close()


def test_truncate_below_the_skip_to_floor_is_refused(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, [1, 2, 3])
    wal.skip_to(10)
    write_old(wal, [11, 12])
    with pytest.raises(ValueError, match="skip_to"):
        wal.truncate_after(9)
    wal.truncate_after(10)
    assert wal.durable_zxid == 10
    wal.write(wal.seal())
    assert_log(wal, tmp_path, old([1, 2, 3]))
    wal.close()


def test_skip_to_waits_for_an_unwritten_truncation(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, [1, 2, 3])
    wal.truncate_after(1)
    with pytest.raises(ValueError, match="durable first"):
        wal.skip_to(5)
    batch = wal.seal()
    with pytest.raises(ValueError, match="durable first"):
        wal.skip_to(5)
    wal.write(batch)
    wal.skip_to(5)
    assert wal.durable_zxid == 5
    wal.close()


def test_truncation_while_a_batch_is_being_written(tmp_path):
    # The reactor truncates while the worker still holds a sealed batch: writes stay in seal
    # order, and durable_zxid never claims a record past the truncation point.
    wal, _ = open_log(tmp_path)
    write_old(wal, range(1, 11))
    for zxid in (11, 12):
        wal.append(zxid, old_payload(zxid))
    in_flight = wal.seal()
    wal.truncate_after(11)
    assert wal.durable_zxid == 10 and wal.pending_truncate_after == 11
    append_new(wal, [12])
    wal.write(in_flight)
    assert wal.durable_zxid == 11  # 12 on disk is the old one, still to be discarded
    wal.write(wal.seal())
    assert wal.durable_zxid == 12
    assert_log(wal, tmp_path, old(range(1, 12)) + new([12]))
    wal.close()


def test_read_from_after_truncation(tmp_path):
    wal, _ = open_log(tmp_path, segment_bytes=300)
    write_old(wal, range(1, 31), per_batch=3)
    wal.truncate_after(17)
    append_new(wal, range(18, 23))
    wal.write(wal.seal())
    expected = old(range(1, 18)) + new(range(18, 23))
    for after in (0, 5, 16, 17, 18, 22):
        assert list(wal.read_from(after)) == [record for record in expected if record[0] > after]
    assert list(wal.read_from(30)) == []
    wal.close()


def test_reopen_after_truncation_and_keep_going(tmp_path):
    wal, _ = open_log(tmp_path, segment_bytes=300)
    write_old(wal, range(1, 31), per_batch=2)
    wal.truncate_after(9)
    append_new(wal, range(10, 13))
    wal.write(wal.seal())
    wal.close()
    wal, recovered = open_log(tmp_path, segment_bytes=300, keep_after_zxid=8)
    assert recovered.records == old([9]) + new(range(10, 13))
    assert wal.durable_zxid == wal.last_appended_zxid == 12
    wal.truncate_after(10)
    append_new(wal, range(11, 15))
    wal.write(wal.seal())
    assert_log(wal, tmp_path, old(range(1, 10)) + new(range(10, 15)), segment_bytes=300)
    wal.close()


def test_write_refuses_a_truncating_batch_whose_records_do_not_follow_the_point(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, range(1, 6))
    wal.truncate_after(3)
    append_new(wal, [4])
    good = wal.seal()
    bad = type(good)(
        first_zxid=3, last_zxid=4, count=2, nbytes=0, encoded_chunks=good.encoded_chunks, truncate_after=3
    )
    with pytest.raises(ValueError, match="out of order"):
        wal.write(bad)
    wal.write(good)  # nothing happened to the log
    assert_log(wal, tmp_path, old([1, 2, 3]) + new([4]))
    wal.close()


def test_a_segment_damaged_at_rest_fails_the_truncating_write(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, range(1, 6))
    path = wal.segment_paths()[0]
    with open(path, "r+b") as file:
        file.seek(SEGMENT_HEADER_BYTES + 20)
        file.write(b"\xff")
    wal.truncate_after(3)
    with pytest.raises(format.CorruptLogError):
        wal.write(wal.seal())
    assert os.path.getsize(path) > SEGMENT_HEADER_BYTES + 3 * 16  # nothing truncated
    wal.append(4, b"after")
    with pytest.raises(WalFailedError):
        wal.write(wal.seal())
    wal.close()


def test_truncate_after_on_a_closed_log_is_refused(tmp_path):
    wal, _ = open_log(tmp_path)
    write_old(wal, [1, 2])
    wal.close()
    with pytest.raises(ValueError, match="closed"):
        wal.truncate_after(1)


def test_write_refuses_a_truncation_into_records_purged_after_it_was_asked_for(tmp_path):
    wal, _ = open_log(tmp_path, segment_bytes=300)
    write_old(wal, range(1, 31), per_batch=2)
    wal.truncate_after(3)
    batch = wal.seal()
    wal.purge(20)  # a worker purges before the truncating batch is written (a caller's bug)
    assert wal.complete_after_zxid > 3
    with pytest.raises(ValueError, match="purged meanwhile"):
        wal.write(batch)
    wal.close()
    wal, recovered = open_log(tmp_path, segment_bytes=300)
    assert recovered.records[-1] == (30, old_payload(30))  # nothing was truncated
    wal.close()
