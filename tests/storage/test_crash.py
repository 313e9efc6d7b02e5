"""Crash simulation: SIGKILL a real writer process at a random moment, then recover.

The child (crash_writer.py) reports a zxid only after its batch was fsynced. After each kill we
reopen the data dir and check that every zxid any run reported is present (in the snapshot or
the log), that the log is in order with intact payloads, and that what survives of each run is a
gap-free prefix of what it wrote. SIGKILL keeps the page cache, so this exercises the software
(ordering, truncation, snapshot/purge interplay, lock release by the kernel); torn sectors are
covered by the scan tests in test_format.py and test_wal.py. Failures name the seed.
"""

import json
import os
import pathlib
import random
import signal
import subprocess
import sys

import pytest

from coord.storage.datadir import DataDir
from tests.storage.crash_writer import payload_for

CHILD = pathlib.Path(__file__).with_name("crash_writer.py")
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SEGMENT_BYTES = 3000


def run_writer_until_killed(data_dir, seed, stderr_path, max_reports_before_kill):
    """Start the writer, read a random number of its reports, SIGKILL it.

    Returns (epoch, every zxid it reported durable), including reports still in the pipe.
    """
    reports_before_kill = random.Random(seed).randint(1, max_reports_before_kill)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    with open(stderr_path, "wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), str(data_dir), str(SEGMENT_BYTES), str(seed)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    output = b""
    try:
        output += child.stdout.readline()
        for _ in range(reports_before_kill):
            line = child.stdout.readline()
            if not line:
                break
            output += line
        os.kill(child.pid, signal.SIGKILL)
        output += child.stdout.read()  # written before the kill landed: they count too
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()
    stderr_text = pathlib.Path(stderr_path).read_text()
    assert child.returncode == -signal.SIGKILL, f"seed {seed}: writer did not die by SIGKILL:\n{stderr_text}"
    complete_lines = output.split(b"\n")[:-1]  # a report cut mid-line by the kill is ignored
    assert complete_lines and complete_lines[0].startswith(b"epoch "), f"seed {seed}: writer failed:\n{stderr_text}"
    epoch = int(complete_lines[0].split()[1])
    return epoch, [int(line.split()[1]) for line in complete_lines[1:]]


def check_recovery(data_dir, reported_by_run, seed):
    with DataDir.open(data_dir, segment_bytes=SEGMENT_BYTES, warn=lambda message: None) as dd:
        snapshot_zxids = json.loads(dd.snapshot_bytes) if dd.snapshot_bytes else []
        assert all(zxid <= dd.snapshot_zxid for zxid in snapshot_zxids), f"seed {seed}"
        replay_zxids = [zxid for zxid, _ in dd.log_records_to_replay]
        assert replay_zxids == sorted(set(replay_zxids)), f"seed {seed}: log out of order"
        assert all(zxid > dd.snapshot_zxid for zxid in replay_zxids), f"seed {seed}"
        for zxid, payload in dd.log_records_to_replay:
            assert payload == payload_for(zxid), f"seed {seed}: payload of {zxid:#x} damaged"
        recovered = set(snapshot_zxids) | set(replay_zxids)
        for run, reported in enumerate(reported_by_run):
            lost = [f"{zxid:#x}" for zxid in reported if zxid not in recovered]
            assert not lost, f"seed {seed}: run {run} reported these durable, then lost them: {lost[:5]}"
        # Each run continued from the last recovered zxid: what survives is 1, 2, 3, ... without gaps.
        assert sorted(recovered) == list(range(1, len(recovered) + 1)), f"seed {seed}: gap in the log"
        assert dd.last_zxid == max(recovered, default=0)


def kill_and_recover_repeatedly(tmp_path, cycles, max_reports_before_kill):
    seed = random.randrange(10**6)
    data_dir = tmp_path / "data"
    reported_by_run = []
    epochs = []
    for cycle in range(cycles):
        cycle_seed = seed * 1000 + cycle
        epoch, reported = run_writer_until_killed(
            data_dir, cycle_seed, tmp_path / f"writer{cycle}.stderr", max_reports_before_kill
        )
        epochs.append(epoch)
        reported_by_run.append(reported)
        check_recovery(data_dir, reported_by_run, cycle_seed)
    assert epochs == sorted(set(epochs)), f"seed {seed}: epochs must strictly increase: {epochs}"
    assert any(reported_by_run), f"seed {seed}: no run reported anything"


def test_sigkilled_writer_loses_nothing_it_reported(tmp_path):
    kill_and_recover_repeatedly(tmp_path, cycles=3, max_reports_before_kill=60)


@pytest.mark.slow
def test_sigkilled_writer_loses_nothing_it_reported_many_times(tmp_path):
    kill_and_recover_repeatedly(tmp_path, cycles=40, max_reports_before_kill=400)
