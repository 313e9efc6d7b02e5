"""Child process for test_crash_truncate.py: truncating log writes that get killed.

Usage:
    python truncate_writer.py step LOG_DIR SEGMENT_BYTES SPEC_JSON CRASH_AT_STEP
    python truncate_writer.py random LOG_DIR SEGMENT_BYTES SEED

``step``: open the log, ``truncate_after`` the spec's point, append its new records, seal, then
``write`` that one batch, SIGKILLing itself just before the CRASH_AT_STEP-th I/O call of the
write (unlink, fsync, fdatasync, ftruncate or write; a write is first torn: half its bytes go
out). If the write finishes first it prints ``completed <number of I/O calls>`` and exits 0.

``random``: open the log and loop over the batches ``plan_batches`` yields (plain appends,
truncations with or without new records), printing ``done <batch number>`` after each write
returned, until killed. The plan depends only on the seed and the log's last zxid at start, so
the test can replay it and know exactly what each batch was.
"""

import hashlib
import itertools
import json
import os
import random
import signal
import sys

from coord.storage import wal as wal_module
from coord.storage.wal import WriteAheadLog

MAX_BATCHES = 20_000


def payload_for(zxid, tag):
    """A payload that differs between generations of the same zxid (old vs re-appended)."""
    digest = hashlib.sha256(f"{tag}/{zxid}".encode()).digest()
    return digest * (zxid % 5 + 1)


def plan_batches(seed, last_zxid, floor_zxid):
    """Yield (truncate_after or None, junk zxids, [(zxid, payload)]) forever, deterministically.

    ``junk`` records are appended before the truncation and must vanish with it (they exercise
    the cut of the pending buffer); they never reach the disk.
    """
    rng = random.Random(seed)
    for batch_number in itertools.count(1):
        tag = f"{seed}/{batch_number}"
        truncate_after = None
        junk = []
        first = last_zxid + 1
        if last_zxid > floor_zxid and rng.random() < 0.4:
            truncate_after = rng.randint(max(floor_zxid, last_zxid - 40), last_zxid - 1)
            junk = list(range(last_zxid + 1, last_zxid + 1 + rng.randint(0, 3)))
            first = truncate_after + 1
            count = rng.choice([0, rng.randint(1, 12)])
        else:
            count = rng.randint(1, 12)
        records = [(zxid, payload_for(zxid, tag)) for zxid in range(first, first + count)]
        if records:
            last_zxid = records[-1][0]
        elif truncate_after is not None:
            last_zxid = truncate_after
        yield truncate_after, junk, records


def crash_at_io_step(step):
    """Make the step-th I/O call of this process SIGKILL it (a write is torn first)."""
    calls = itertools.count(1)

    def hook(real, tear=False):
        def hooked(*args):
            if next(calls) == step:
                if tear:
                    fd, data = args
                    real(fd, bytes(data)[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args)

        return hooked

    os.unlink = hook(os.unlink)
    os.fsync = hook(os.fsync)
    os.ftruncate = hook(os.ftruncate)
    os.write = hook(os.write, tear=True)
    wal_module._fdatasync = hook(wal_module._fdatasync)
    return calls


def run_step(log_dir, segment_bytes, spec, crash_at_step):
    wal, _ = WriteAheadLog.open(log_dir, segment_bytes=segment_bytes)
    wal.truncate_after(spec["truncate_after"])
    for zxid in spec["new"]:
        wal.append(zxid, payload_for(zxid, spec["tag"]))
    batch = wal.seal()
    calls = crash_at_io_step(crash_at_step)
    wal.write(batch)
    print(f"completed {next(calls) - 1}", flush=True)


def run_random(log_dir, segment_bytes, seed):
    wal, recovered = WriteAheadLog.open(log_dir, segment_bytes=segment_bytes)
    plan = plan_batches(seed, recovered.last_zxid, wal.complete_after_zxid)
    for batch_number, (truncate_after, junk, records) in zip(range(1, MAX_BATCHES + 1), plan):
        for zxid in junk:
            wal.append(zxid, b"junk: never to be written")
        if truncate_after is not None:
            wal.truncate_after(truncate_after)
        for zxid, payload in records:
            wal.append(zxid, payload)
        wal.write(wal.seal())
        try:
            sys.stdout.write(f"done {batch_number}\n")
            sys.stdout.flush()
        except BrokenPipeError:
            return


def main():
    mode, log_dir, segment_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "step":
        run_step(log_dir, segment_bytes, json.loads(sys.argv[4]), int(sys.argv[5]))
    elif mode == "random":
        run_random(log_dir, segment_bytes, int(sys.argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
