"""Import time of a big ZooKeeper data dir into coord, against ZooKeeper's own load time.

    python -m benchmarks.migration_import [--znodes 1000000] [--log-records 20000] [--repeat 1]

Builds the data dir the way ZooKeeper would hold it: a seed snapshot of ``--znodes`` znodes
(1000 per parent, 32 bytes of data each) is handed to Apache ZooKeeper 3.8, which loads it and
writes its own start-up snapshot; a client then adds ``--log-records`` creates, so the log holds
records after that snapshot; ZooKeeper is stopped. Then, on copies of that directory:

* ZooKeeper's load: a fresh ZooKeeper start on it, both the "Snapshot loaded in N ms" its log
  reports (snapshot + log replay) and the wall time until it answers ``srvr`` as standalone;
* coord's import: ``coord import-zookeeper`` wall and CPU time in a fresh process (reading,
  converting, checking ZooKeeper's digest, writing the coord snapshot), then again with
  ``--verify`` (which also reads the result back), and a coord server start on the result until it
  answers ``ruok``.

Numbers on a shared 2-core machine are noisy; the ratio is the figure to quote. ``--repeat N``
alternates N ZooKeeper loads with N default imports (each pair back to back, so both meet the
same load on the machine) and reports every pair's ratio and their median.
"""

import argparse
import re
import statistics
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kazoo.client import KazooClient

from coord.migration import zkformat as Z
from coord.testing.servers import CoordProcess, ZooKeeperProcess, zookeeper_unavailable_reason

ZK_HEAP = ["-Xmx4g", "-Xms1g"]


def seed_snapshot(version_dir: Path, znodes: int) -> None:
    stat = Z.StatPersisted
    per_parent = 1000
    parents = max(1, znodes // per_parent)
    nodes = [Z.SnapshotNode("/", b"", Z.OPEN_ACL_UNSAFE, stat(0, 0, 0, 0, 0, parents + 1, 0, 0, 2)),
             Z.SnapshotNode("/zookeeper", b"", Z.OPEN_ACL_UNSAFE, stat(0, 0, 0, 0, 0, 0, 0, 0, 0)),
             Z.SnapshotNode("/zookeeper/quota", b"", Z.OPEN_ACL_UNSAFE, stat(0, 0, 0, 0, 0, 0, 0, 0, 0)),
             Z.SnapshotNode("/zookeeper/config", b"", (Z.ACL(1, Z.Id("world", "anyone")),),
                            stat(0, 0, 0, 0, 0, 0, -1, 0, 0))]
    zxid = 1
    made = 0
    for p in range(parents):
        count = min(per_parent, znodes - made)
        nodes.append(Z.SnapshotNode(f"/p{p:04d}", b"", Z.OPEN_ACL_UNSAFE,
                                    stat(zxid, zxid, 1, 1, 0, count, 0, 0, zxid + count)))
        zxid += 1
        for c in range(count):
            nodes.append(Z.SnapshotNode(f"/p{p:04d}/n{c:04d}", b"d" * 32, Z.OPEN_ACL_UNSAFE,
                                        stat(zxid, zxid, 2, 2, 0, 0, 0, 0, zxid)))
            zxid += 1
        made += count
    last = zxid - 1
    stream = Z.encode_snapshot([], nodes, Z.ZxidDigest(last, Z.DIGEST_VERSION, Z.tree_digest(nodes)))
    version_dir.mkdir(parents=True)
    (version_dir / f"snapshot.{last:x}").write_bytes(stream)


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def zookeeper_load(work: Path) -> tuple:
    zk = ZooKeeperProcess(work, extra_jvm_flags=ZK_HEAP)
    cpu_before = children_cpu_s()
    started = time.monotonic()
    zk.start(timeout_s=600)
    ready_s = time.monotonic() - started
    zk.stop()
    cpu_s = children_cpu_s() - cpu_before
    text = zk.log_path.read_text(errors="replace")
    loaded = re.findall(r"Snapshot loaded in (\d+) ms", text)
    return ready_s, (int(loaded[-1]) / 1000 if loaded else None), cpu_s


def coord_import(zk_data: Path, target: Path, flags: list) -> tuple:
    """(wall s, CPU s) of one ``coord import-zookeeper`` in a fresh process, into a fresh dir."""
    shutil.rmtree(target, ignore_errors=True)
    cpu_before = children_cpu_s()
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "coord", "import-zookeeper", "--quiet", *flags,
                    "--from", str(zk_data), "--data-dir", str(target)], check=True)
    return time.monotonic() - started, children_cpu_s() - cpu_before


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--znodes", type=int, default=1_000_000)
    parser.add_argument("--log-records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=1,
                        help="ZooKeeper load / default import pairs to run, alternating")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    reason = zookeeper_unavailable_reason()
    if reason:
        sys.exit(f"cannot run: {reason}")
    work = Path(tempfile.mkdtemp(prefix="coord-migration-bench-"))
    try:
        source = work / "source"
        print(f"building a ZooKeeper data dir with {args.znodes} znodes in {work}", flush=True)
        seed_snapshot(source / "data" / "version-2", args.znodes)
        zk = ZooKeeperProcess(source, extra_jvm_flags=ZK_HEAP)
        zk.start(timeout_s=600)
        try:
            client = KazooClient(hosts=zk.hosts)
            client.start(timeout=30)
            client.ensure_path("/extra")
            pending = []
            for i in range(args.log_records):
                pending.append(client.create_async(f"/extra/n{i:06d}", b"x" * 32))
                if len(pending) >= 500:
                    for result in pending:
                        result.get(timeout=60)
                    pending = []
            for result in pending:
                result.get(timeout=60)
            client.stop()
            client.close()
        finally:
            zk.stop()
        versions = source / "data" / "version-2"
        # ZooKeeper's start-up snapshot has the seed's name and replaced it: every file is its own.
        sizes = {p.name: p.stat().st_size for p in versions.iterdir()}
        print(f"ZooKeeper wrote: {sizes}", flush=True)

        ratios = []
        for run in range(1, args.repeat + 1):
            zk_copy = work / "zk-load" / "data"
            shutil.rmtree(work / "zk-load", ignore_errors=True)
            shutil.copytree(source / "data", zk_copy)
            ready_s, loaded_s, zk_cpu_s = zookeeper_load(work / "zk-load")
            print(f"ZooKeeper 3.8 load: 'Snapshot loaded in' {loaded_s} s; start until serving {ready_s:.1f} s; "
                  f"CPU of the whole run (start, load, start-up snapshot, stop) {zk_cpu_s:.1f} s", flush=True)
            flag_sets = ([], ["--verify"]) if run == args.repeat else ([],)
            for flags in flag_sets:
                import_s, import_cpu_s = coord_import(source / "data", work / "coord" / "data", flags)
                print(f"coord import-zookeeper {' '.join(flags) or '(default)'}: "
                      f"{import_s:.1f} s, CPU {import_cpu_s:.1f} s; ratio to ZooKeeper's start until "
                      f"serving: wall {import_s / ready_s:.2f}, CPU {import_cpu_s / zk_cpu_s:.2f}", flush=True)
                if not flags:
                    ratios.append(import_s / ready_s)
        if args.repeat > 1:
            print(f"default import / ZooKeeper start until serving, wall, per pair: "
                  f"{', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}",
                  flush=True)
        coord = CoordProcess(work / "coord")
        started = time.monotonic()
        coord.start(timeout_s=600)
        coord_ready_s = time.monotonic() - started
        coord.stop()
        print(f"coord server start on the import until serving: {coord_ready_s:.1f} s")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
