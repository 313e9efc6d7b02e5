"""Child process for test_crash.py: writes batches until killed, reporting each durable zxid.

Usage: python crash_writer.py DATA_DIR SEGMENT_BYTES SEED

Opens the data dir (recovering what earlier, killed runs left), prints ``epoch <n>``, then loops:
append a random number of records, seal, write (fsync), print ``durable <last zxid>``. Every 20
batches it also writes a snapshot (the sorted list of every zxid it knows, in chunks) and retains
two snapshots, purging the log. A line is printed only after the write returned, so every zxid it
reports must survive a SIGKILL at any moment. It stops by itself after MAX_BATCHES, or when its
stdout is closed, so it cannot outlive a crashed test for long.
"""

import hashlib
import json
import random
import sys

from coord.storage.datadir import DataDir

MAX_BATCHES = 20_000


def payload_for(zxid):
    digest = hashlib.sha256(str(zxid).encode()).digest()
    return digest * (zxid % 7 + 1)


def main():
    data_dir, segment_bytes, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    dd = DataDir.open(data_dir, segment_bytes=segment_bytes)
    known = json.loads(dd.snapshot_bytes) if dd.snapshot_bytes else []
    known.extend(zxid for zxid, _ in dd.log_records_to_replay if not known or zxid > known[-1])
    dd.forget_recovery_data()
    print(f"epoch {dd.epoch}", flush=True)
    zxid = dd.last_zxid
    for batch_number in range(1, MAX_BATCHES + 1):
        for _ in range(rng.randint(1, 40)):
            zxid += 1
            dd.wal.append(zxid, payload_for(zxid))
            known.append(zxid)
        batch = dd.wal.seal()
        dd.wal.write(batch)
        try:
            sys.stdout.write(f"durable {batch.last_zxid}\n")
            sys.stdout.flush()
        except BrokenPipeError:
            return
        if batch_number % 20 == 0:
            writer = dd.new_snapshot(dd.wal.durable_zxid)
            body = json.dumps(known).encode()
            for start in range(0, len(body), 4096):
                writer.write(body[start : start + 4096])
            writer.commit()
            dd.retain_snapshots(2)


if __name__ == "__main__":
    main()
