"""Crash safety of suffix truncation: SIGKILL a real writer in the middle of a truncating write.

Two ways in, both with a real child process (truncate_writer.py) on a real directory:

* Every crash point: a truncating write is repeated from the same starting log, the child killing
  itself before its 1st, 2nd, 3rd, ... I/O call (writes torn in half), until one run completes.
* Random: the child loops over seeded plain and truncating batches and is killed at a random
  moment, several times in a row; the test replays the same seeded plan to know what each batch
  was.

After every kill ``WriteAheadLog.open`` must succeed (so the segment chain holds) and the log
must be one of: the old log; the old log with part of the suffix after the truncation point
gone; the truncated log followed by a prefix of the new records. Never an old record after a new
one, never a record lost at or below the truncation point. SIGKILL keeps the page cache, so this
checks the order of operations; torn sectors are covered by the scan tests. Failures name the
seed or the crash step.
"""

import json
import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys

import pytest

from coord.storage import format
from coord.storage.wal import WriteAheadLog
from tests.storage.truncate_writer import payload_for, plan_batches

CHILD = pathlib.Path(__file__).with_name("truncate_writer.py")
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SEGMENT_BYTES = 400
MAX_CRASH_STEPS = 200


def child_env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))


def recover(log_dir):
    wal, recovered = WriteAheadLog.open(log_dir, segment_bytes=SEGMENT_BYTES, warn=lambda message: None)
    wal.close()
    return recovered.records


def classify(recovered, old, truncate_after, new):
    """Name the legal state ``recovered`` is in, or None if no crash may leave it."""
    kept = [record for record in old if record[0] <= truncate_after]
    if recovered == old:
        return "old"
    if recovered == old[: len(recovered)] and len(recovered) >= len(kept):
        return "suffix partly gone" if len(recovered) > len(kept) else "truncated"
    if recovered[: len(kept)] == kept:
        tail = recovered[len(kept) :]
        if tail and tail == new[: len(tail)]:
            return "new records partly written" if len(tail) < len(new) else "new records all written"
    return None


# ---- every crash point -------------------------------------------------------------------------


def build_old_log(log_dir):
    """23 records, one batch each, over 9 small segments. Returns (records, zxids per segment)."""
    wal, _ = WriteAheadLog.open(log_dir, segment_bytes=SEGMENT_BYTES)
    records = [(zxid, payload_for(zxid, "old")) for zxid in range(1, 24)]
    for zxid, payload in records:
        wal.append(zxid, payload)
        wal.write(wal.seal())
    segments = []
    for path in wal.segment_paths():
        scan = format.scan_records(open(path, "rb").read(), file_name=path)
        segments.append([zxid for zxid, _ in scan.records])
    wal.close()
    assert len(segments) >= 6 and all(len(zxids) >= 2 for zxids in segments)
    return records, segments


def scenario(name, segments):
    """(truncate_after, new zxids) for a named case, from the old log's segment layout."""
    if name == "inside the newest segment":
        return segments[-1][0], [segments[-1][0] + 1]
    if name == "across segments":
        return segments[2][0], list(range(segments[2][0] + 1, segments[2][0] + 4))
    if name == "at a segment's end":
        # The new batch cannot fit after segment 2's end, so it rolls a segment named like the
        # deleted segment 3.
        return segments[2][-1], list(range(segments[2][-1] + 1, segments[2][-1] + 5))
    if name == "pure truncation":
        return segments[1][0], []
    if name == "the whole log":
        return 0, [1, 2, 3]
    raise AssertionError(name)


def run_step_child(log_dir, spec, crash_at_step):
    result = subprocess.run(
        [sys.executable, str(CHILD), "step", str(log_dir), str(SEGMENT_BYTES), json.dumps(spec), str(crash_at_step)],
        capture_output=True,
        env=child_env(),
        timeout=60,
    )
    if result.returncode == 0:
        assert result.stdout.startswith(b"completed "), result
        return int(result.stdout.split()[1])
    assert result.returncode == -signal.SIGKILL, f"step {crash_at_step}: {result.stderr.decode()}"
    return None


@pytest.mark.parametrize(
    "name", ["inside the newest segment", "across segments", "at a segment's end", "pure truncation", "the whole log"]
)
def test_a_crash_at_every_io_step_of_a_truncating_write_recovers(tmp_path, name):
    template = tmp_path / "template"
    old, segments = build_old_log(template)
    truncate_after, new_zxids = scenario(name, segments)
    tag = "new"
    new = [(zxid, payload_for(zxid, tag)) for zxid in new_zxids]
    spec = {"truncate_after": truncate_after, "new": new_zxids, "tag": tag}
    expected_final = [record for record in old if record[0] <= truncate_after] + new
    seen = {}
    for step in range(1, MAX_CRASH_STEPS + 1):
        trial = tmp_path / f"step{step}"
        shutil.copytree(template, trial)
        completed_calls = run_step_child(trial, spec, step)
        recovered = recover(trial)
        kind = classify(recovered, old, truncate_after, new)
        assert kind is not None, f"{name}, crash at I/O step {step}: recovered {[z for z, _ in recovered]}"
        seen.setdefault(kind, step)
        if completed_calls is not None and name == "at a segment's end":
            # The batch rolled into a new segment named like the deleted old one.
            reused_name = format.segment_file_name(new_zxids[0])
            assert (template / reused_name).exists() and (trial / reused_name).exists()
            assert (template / reused_name).read_bytes() != (trial / reused_name).read_bytes()
        # The follower retries the same truncation and entries after restarting: that must work
        # from every crash state and land on the same log.
        wal, _ = WriteAheadLog.open(trial, segment_bytes=SEGMENT_BYTES, warn=lambda message: None)
        wal.truncate_after(truncate_after)
        for zxid, payload in new:
            wal.append(zxid, payload)
        batch = wal.seal()
        if batch is not None:
            wal.write(batch)
        assert list(wal.read_from(0)) == expected_final, f"{name}, step {step}"
        wal.close()
        assert recover(trial) == expected_final, f"{name}, step {step}"
        shutil.rmtree(trial)
        if completed_calls is not None:
            assert step == completed_calls + 1 and kind == ("new records all written" if new else "truncated")
            break
    else:
        raise AssertionError(f"{name}: the write never completed within {MAX_CRASH_STEPS} I/O steps")
    # The crash points really fell between the phases (not all before or all after them).
    assert {"old", "truncated"} <= seen.keys(), seen
    if name in ("across segments", "at a segment's end", "pure truncation"):
        assert "suffix partly gone" in seen, seen
    if len(new) > 1:
        assert "new records partly written" in seen, seen


# ---- random kills --------------------------------------------------------------------------------


def run_random_child_until_killed(log_dir, seed, max_reports_before_kill, stderr_path):
    """Start the random writer, read a random number of its reports, SIGKILL it.

    Returns how many batches it reported written (reports still in the pipe included).
    """
    reports_before_kill = random.Random(seed).randint(1, max_reports_before_kill)
    with open(stderr_path, "wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, str(CHILD), "random", str(log_dir), str(SEGMENT_BYTES), str(seed)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=child_env(),
        )
    output = b""
    try:
        for _ in range(reports_before_kill):
            line = child.stdout.readline()
            if not line:
                break
            output += line
        os.kill(child.pid, signal.SIGKILL)
        output += child.stdout.read()
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()
    stderr_text = pathlib.Path(stderr_path).read_text()
    assert child.returncode == -signal.SIGKILL, f"seed {seed}: writer did not die by SIGKILL:\n{stderr_text}"
    done = [int(line.split()[1]) for line in output.split(b"\n")[:-1]]
    assert done == list(range(1, len(done) + 1)), f"seed {seed}: {done[:10]}"
    return len(done)


def apply_batch(log, truncate_after, records):
    if truncate_after is not None:
        log = [record for record in log if record[0] <= truncate_after]
    return log + records


def kill_truncating_writer_repeatedly(tmp_path, cycles, max_reports_before_kill):
    seed = random.randrange(10**6)
    log_dir = tmp_path / "log"
    log = []  # what the log holds, as the test knows it
    truncations_cut_short = 0
    batches_written = 0
    for cycle in range(cycles):
        cycle_seed = seed * 1000 + cycle
        done = run_random_child_until_killed(
            log_dir, cycle_seed, max_reports_before_kill, tmp_path / f"writer{cycle}.stderr"
        )
        batches_written += done
        plan = plan_batches(cycle_seed, log[-1][0] if log else 0, 0)
        for _ in range(done):
            truncate_after, _junk, records = next(plan)
            log = apply_batch(log, truncate_after, records)
        truncate_after, _junk, records = next(plan)  # the batch the kill may have cut short
        recovered = recover(log_dir)
        if truncate_after is None:
            kind = classify(recovered, log, log[-1][0] if log else 0, records)
        else:
            kind = classify(recovered, log, truncate_after, records)
        assert kind is not None, (
            f"seed {cycle_seed}: after {done} batches, next {truncate_after=} "
            f"{[z for z, _ in records]}: recovered {[z for z, _ in recovered][-30:]}, "
            f"expected from {[z for z, _ in log][-30:]}"
        )
        if truncate_after is not None and kind not in ("old", "new records all written"):
            truncations_cut_short += 1
        log = recovered
    # The final log may legitimately be empty (a planned truncation can empty it); what must hold
    # is that the writers did write.
    assert batches_written, f"seed {seed}: nothing was ever written"
    return truncations_cut_short


def test_sigkilled_truncating_writer_recovers_a_legal_log(tmp_path):
    kill_truncating_writer_repeatedly(tmp_path, cycles=4, max_reports_before_kill=40)


@pytest.mark.slow
def test_sigkilled_truncating_writer_recovers_a_legal_log_many_times(tmp_path):
    cut_short = kill_truncating_writer_repeatedly(tmp_path, cycles=40, max_reports_before_kill=200)
    assert cut_short > 0, "no kill ever landed inside a truncating write"
