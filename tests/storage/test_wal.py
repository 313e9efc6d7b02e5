"""WriteAheadLog: group commit, segments, recovery repairs and refusals, read_from, purge."""

import os
import shutil

import pytest

from coord.storage import format
from coord.storage.format import CorruptLogError, SEGMENT_HEADER_BYTES
from coord.storage.wal import Batch, RecordsPurgedError, WalFailedError, WriteAheadLog

EPOCH_1 = 1 << 32


def payload_for(zxid):
    return f"txn {zxid:#x} ".encode() * (zxid % 5 + 1)


def write_records(wal, zxids, per_batch=1):
    zxids = list(zxids)
    for start in range(0, len(zxids), per_batch):
        for zxid in zxids[start : start + per_batch]:
            wal.append(zxid, payload_for(zxid))
        wal.write(wal.seal())


def reopen(log_dir, **kwargs):
    warnings = []
    wal, recovered = WriteAheadLog.open(log_dir, warn=warnings.append, **kwargs)
    return wal, recovered, warnings


def test_empty_log(tmp_path):
    wal, recovered, warnings = reopen(tmp_path / "log")
    assert recovered.records == [] and recovered.last_zxid == 0 and recovered.complete_after_zxid == 0
    assert wal.durable_zxid == 0 and wal.seal() is None and warnings == []
    assert list(wal.read_from(0)) == []
    wal.close()


def test_group_commit_many_appends_one_seal_one_write(tmp_path):
    wal, _, _ = reopen(tmp_path)
    zxids = [EPOCH_1 + i for i in range(1, 501)]
    for zxid in zxids:
        wal.append(zxid, payload_for(zxid))
    assert wal.durable_zxid == 0 and wal.pending_count == 500
    batch = wal.seal()
    assert isinstance(batch, Batch)
    assert (batch.first_zxid, batch.last_zxid, batch.count) == (zxids[0], zxids[-1], 500)
    assert batch.nbytes == sum(16 + len(payload_for(zxid)) for zxid in zxids)
    assert wal.seal() is None and wal.pending_count == 0
    # The next batch gathers while this one is written.
    wal.append(zxids[-1] + 1, b"next")
    wal.write(batch)
    assert wal.durable_zxid == zxids[-1]
    assert os.path.getsize(wal.segment_paths()[0]) == SEGMENT_HEADER_BYTES + batch.nbytes
    wal.close()

    wal, recovered, _ = reopen(tmp_path)
    assert recovered.records == [(zxid, payload_for(zxid)) for zxid in zxids]
    assert recovered.last_zxid == wal.durable_zxid == zxids[-1]
    wal.close()


def test_append_rejects_non_increasing_zxids(tmp_path):
    wal, _, _ = reopen(tmp_path)
    wal.append(EPOCH_1 + 5, b"a")
    for bad in (EPOCH_1 + 5, EPOCH_1 + 4):
        with pytest.raises(ValueError, match="does not increase"):
            wal.append(bad, b"b")
    wal.write(wal.seal())
    wal.close()
    wal, _, _ = reopen(tmp_path)
    with pytest.raises(ValueError, match="does not increase"):
        wal.append(EPOCH_1 + 5, b"after restart")
    wal.close()


def test_write_rejects_a_batch_out_of_order(tmp_path):
    wal, _, _ = reopen(tmp_path)
    wal.append(EPOCH_1 + 1, b"a")
    first = wal.seal()
    wal.append(EPOCH_1 + 2, b"b")
    second = wal.seal()
    wal.write(second)
    with pytest.raises(ValueError, match="out of order"):
        wal.write(first)
    wal.close()


def test_segments_roll_and_read_from_crosses_them(tmp_path):
    wal, _, _ = reopen(tmp_path, segment_bytes=400)
    zxids = [EPOCH_1 + i for i in range(1, 121)]
    write_records(wal, zxids, per_batch=3)
    paths = wal.segment_paths()
    assert len(paths) > 5
    for path in paths:
        # A batch is never split, so a segment exceeds the limit only by less than one batch.
        assert os.path.getsize(path) <= 400
        assert os.path.basename(path) == format.segment_file_name(
            format.scan_records(open(path, "rb").read(), file_name=path).records[0][0]
        )
    for after in (0, zxids[0], zxids[17], zxids[59], zxids[-2], zxids[-1]):
        assert list(wal.read_from(after)) == [(z, payload_for(z)) for z in zxids if z > after]
    wal.close()

    wal, recovered, warnings = reopen(tmp_path, segment_bytes=400, keep_after_zxid=zxids[99])
    assert [zxid for zxid, _ in recovered.records] == zxids[100:]
    assert recovered.last_zxid == zxids[-1] and warnings == []
    # Appending continues in the newest segment, then rolls again.
    write_records(wal, range(zxids[-1] + 1, zxids[-1] + 30), per_batch=4)
    assert list(wal.read_from(zxids[-1]))[-1][0] == zxids[-1] + 29
    wal.close()


def test_read_from_excludes_records_not_yet_written(tmp_path):
    wal, _, _ = reopen(tmp_path)
    write_records(wal, [EPOCH_1 + 1])
    wal.append(EPOCH_1 + 2, b"sealed, unwritten")
    batch = wal.seal()
    wal.append(EPOCH_1 + 3, b"appended only")
    assert [zxid for zxid, _ in wal.read_from(0)] == [EPOCH_1 + 1]
    wal.write(batch)
    assert [zxid for zxid, _ in wal.read_from(0)] == [EPOCH_1 + 1, EPOCH_1 + 2]
    wal.close()


def test_purge_keeps_every_record_after_the_given_zxid(tmp_path):
    wal, _, _ = reopen(tmp_path, segment_bytes=300)
    zxids = [EPOCH_1 + i for i in range(1, 61)]
    write_records(wal, zxids, per_batch=2)
    firsts = [int(os.path.basename(p)[4:], 16) for p in wal.segment_paths()]
    before = zxids[30]
    removed = wal.purge(before)
    assert removed and all(not os.path.exists(path) for path in removed)
    remaining_firsts = [int(os.path.basename(p)[4:], 16) for p in wal.segment_paths()]
    # The segment that could contain `before` is the oldest one kept.
    assert remaining_firsts[0] == max(first for first in firsts if first <= before)
    assert wal.complete_after_zxid < remaining_firsts[0] <= before
    assert list(wal.read_from(before)) == [(z, payload_for(z)) for z in zxids if z > before]
    with pytest.raises(RecordsPurgedError):
        wal.read_from(zxids[0])
    # Purging past the end never removes the newest segment.
    wal.purge(zxids[-1] + 100)
    assert len(wal.segment_paths()) == 1
    wal.close()

    wal, recovered, warnings = reopen(tmp_path, segment_bytes=300)
    assert recovered.complete_after_zxid == wal.complete_after_zxid > 0
    assert recovered.records[-1][0] == zxids[-1] and warnings == []
    wal.close()


def test_read_from_keeps_its_files_even_if_purged_meanwhile(tmp_path):
    wal, _, _ = reopen(tmp_path, segment_bytes=200)
    zxids = [EPOCH_1 + i for i in range(1, 31)]
    write_records(wal, zxids)
    reader = wal.read_from(0)
    assert next(reader)[0] == zxids[0]
    wal.purge(zxids[-1])
    assert [zxid for zxid, _ in reader] == zxids[1:]
    wal.close()


def test_torn_tail_in_the_newest_segment_is_truncated_and_appending_resumes(tmp_path):
    wal, _, _ = reopen(tmp_path)
    zxids = [EPOCH_1 + i for i in range(1, 11)]
    write_records(wal, zxids, per_batch=5)
    path = wal.segment_paths()[-1]
    wal.close()
    good_size = os.path.getsize(path)
    with open(path, "ab") as file:
        file.write(format.encode_record(zxids[-1] + 1, b"cut short by a crash")[:-3])

    wal, recovered, warnings = reopen(tmp_path)
    assert [zxid for zxid, _ in recovered.records] == zxids
    assert os.path.getsize(path) == good_size
    assert len(warnings) == 1 and path in warnings[0] and f"offset {good_size}" in warnings[0]
    write_records(wal, [zxids[-1] + 1])
    wal.close()
    wal, recovered, warnings = reopen(tmp_path)
    assert [zxid for zxid, _ in recovered.records] == zxids + [zxids[-1] + 1] and warnings == []
    wal.close()


def test_every_truncation_point_of_the_last_batch_recovers_the_earlier_batches(tmp_path):
    source = tmp_path / "source"
    wal, _, _ = reopen(source)
    write_records(wal, [EPOCH_1 + 1, EPOCH_1 + 2], per_batch=2)
    good_size = os.path.getsize(wal.segment_paths()[0])
    write_records(wal, [EPOCH_1 + 3, EPOCH_1 + 4], per_batch=2)
    path = wal.segment_paths()[0]
    wal.close()
    data = open(path, "rb").read()
    for cut in range(good_size, len(data)):
        trial = tmp_path / f"cut{cut}"
        trial.mkdir()
        (trial / os.path.basename(path)).write_bytes(data[:cut])
        wal, recovered, _ = reopen(trial)
        # Complete records of the cut batch may survive (never acknowledged, harmless);
        # what must hold is that the log is a prefix containing every earlier batch.
        first_of_cut_batch_ends_at = good_size + 16 + len(payload_for(EPOCH_1 + 3))
        survivors = 2 + (cut >= first_of_cut_batch_ends_at)
        assert [zxid for zxid, _ in recovered.records] == [EPOCH_1 + i for i in range(1, survivors + 1)]
        assert wal.durable_zxid == EPOCH_1 + survivors
        assert os.path.getsize(trial / os.path.basename(path)) <= cut
        wal.close()


def test_a_newest_segment_without_a_complete_record_is_removed(tmp_path):
    wal, _, _ = reopen(tmp_path, segment_bytes=100)
    write_records(wal, [EPOCH_1 + 1, EPOCH_1 + 2])
    wal.close()
    for leftover in (
        b"",
        format.encode_segment_header(EPOCH_1 + 3, EPOCH_1 + 2)[:10],
        format.encode_segment_header(EPOCH_1 + 3, EPOCH_1 + 2),
        format.encode_segment_header(EPOCH_1 + 3, EPOCH_1 + 2) + b"\0" * 100,
    ):
        path = tmp_path / format.segment_file_name(EPOCH_1 + 3)
        path.write_bytes(leftover)
        wal, recovered, warnings = reopen(tmp_path, segment_bytes=100)
        assert not path.exists() and len(warnings) == 1 and str(path) in warnings[0]
        assert recovered.last_zxid == EPOCH_1 + 2
        # The chain still holds when the next segment is created.
        write_records(wal, [EPOCH_1 + 3])
        wal.close()
        wal, recovered, _ = reopen(tmp_path, segment_bytes=100)
        assert recovered.last_zxid == EPOCH_1 + 3
        wal.close()
        os.unlink(path)


def test_torn_tail_in_an_older_segment_is_corruption(tmp_path):
    wal, _, _ = reopen(tmp_path, segment_bytes=100)
    write_records(wal, [EPOCH_1 + i for i in range(1, 6)])
    older = wal.segment_paths()[1]
    wal.close()
    with open(older, "ab") as file:
        file.write(b"\0" * 30)
    with pytest.raises(CorruptLogError, match="not the newest") as caught:
        reopen(tmp_path, segment_bytes=100)
    assert older in str(caught.value)


def test_flipped_bit_in_a_middle_record_refuses_to_open(tmp_path):
    wal, _, _ = reopen(tmp_path)
    write_records(wal, [EPOCH_1 + i for i in range(1, 11)], per_batch=2)
    path = wal.segment_paths()[0]
    wal.close()
    data = bytearray(open(path, "rb").read())
    record_bytes = 16 + len(payload_for(EPOCH_1 + 1))
    offset_of_second = SEGMENT_HEADER_BYTES + record_bytes
    data[offset_of_second + 20] ^= 0x10
    open(path, "wb").write(data)
    with pytest.raises(CorruptLogError) as caught:
        reopen(tmp_path)
    assert caught.value.file_name == path and caught.value.offset == offset_of_second
    assert path in str(caught.value) and str(offset_of_second) in str(caught.value)
    assert os.path.getsize(path) == len(data)  # nothing was truncated


def test_flipped_bit_in_the_last_record_is_truncated_as_torn(tmp_path):
    wal, _, _ = reopen(tmp_path)
    write_records(wal, [EPOCH_1 + i for i in range(1, 6)])
    path = wal.segment_paths()[0]
    wal.close()
    data = bytearray(open(path, "rb").read())
    data[-2] ^= 0x01
    open(path, "wb").write(data)
    wal, recovered, warnings = reopen(tmp_path)
    assert [zxid for zxid, _ in recovered.records] == [EPOCH_1 + i for i in range(1, 5)]
    assert len(warnings) == 1
    wal.close()


def test_zero_filled_tail_is_truncated(tmp_path):
    wal, _, _ = reopen(tmp_path)
    write_records(wal, [EPOCH_1 + 1, EPOCH_1 + 2])
    path = wal.segment_paths()[0]
    wal.close()
    size = os.path.getsize(path)
    with open(path, "ab") as file:
        file.write(b"\0" * 8192)
    wal, recovered, warnings = reopen(tmp_path)
    assert len(recovered.records) == 2 and os.path.getsize(path) == size and len(warnings) == 1
    wal.close()


def test_a_missing_middle_segment_is_corruption(tmp_path):
    wal, _, _ = reopen(tmp_path, segment_bytes=100)
    write_records(wal, [EPOCH_1 + i for i in range(1, 8)])
    paths = wal.segment_paths()
    wal.close()
    os.unlink(paths[3])
    with pytest.raises(CorruptLogError, match="a log segment is missing") as caught:
        reopen(tmp_path, segment_bytes=100)
    assert caught.value.file_name == paths[4]


def test_a_segment_renamed_to_the_wrong_zxid_is_corruption(tmp_path):
    wal, _, _ = reopen(tmp_path)
    write_records(wal, [EPOCH_1 + 1])
    path = wal.segment_paths()[0]
    wal.close()
    os.rename(path, os.path.join(tmp_path, format.segment_file_name(EPOCH_1)))
    with pytest.raises(CorruptLogError, match="does not match the file name"):
        reopen(tmp_path)


def test_an_io_failure_stops_all_further_writes(tmp_path):
    log_dir = tmp_path / "log"
    wal, _, _ = reopen(log_dir, segment_bytes=100)
    write_records(wal, [EPOCH_1 + 1])
    shutil.rmtree(log_dir)  # the next write must create a segment, and cannot
    wal.append(EPOCH_1 + 2, b"x" * 90)
    with pytest.raises(FileNotFoundError):
        wal.write(wal.seal())
    assert wal.durable_zxid == EPOCH_1 + 1
    log_dir.mkdir()
    wal.append(EPOCH_1 + 3, b"y")
    with pytest.raises(WalFailedError):
        wal.write(wal.seal())
    wal.close()


def test_unrelated_files_in_the_log_dir_are_ignored(tmp_path):
    (tmp_path / "README").write_text("not a segment")
    (tmp_path / "log.0000000100000001.bak").write_text("not a segment either")
    wal, recovered, warnings = reopen(tmp_path)
    assert recovered.records == [] and warnings == []
    wal.close()


def test_purge_and_read_from_on_other_threads_while_batches_are_written(tmp_path):
    # The server purges (after a snapshot) and may read on worker threads while another worker
    # writes; the segment list they share must stay consistent.
    import threading

    wal, _, _ = reopen(tmp_path, segment_bytes=400)
    last_zxid = EPOCH_1 + 600
    errors = []

    def writer():
        try:
            write_records(wal, range(EPOCH_1 + 1, last_zxid + 1), per_batch=3)
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    purged_before = 0
    while thread.is_alive():
        durable = wal.durable_zxid
        if durable > EPOCH_1 + 50:
            purged_before = durable - 50
            wal.purge(purged_before)
            got = [zxid for zxid, _ in wal.read_from(purged_before)]
            assert got == list(range(purged_before + 1, got[-1] + 1)) and got[-1] >= durable
    thread.join(timeout=60)
    assert not thread.is_alive() and not errors, errors
    assert wal.complete_after_zxid <= purged_before
    wal.close()

    wal, recovered, warnings = reopen(tmp_path, segment_bytes=400, keep_after_zxid=purged_before)
    assert [zxid for zxid, _ in recovered.records] == list(range(purged_before + 1, last_zxid + 1))
    assert warnings == []
    wal.close()
