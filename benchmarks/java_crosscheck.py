"""Cross-check `coord bench` with an independent load generator: Apache ZooKeeper's Java client.

    python -m benchmarks.java_crosscheck [--cases get:8x32,set:8x32,create:8x32,get:1x1,set:1x1]
                                         [--repeats 3] [--duration 5] [--warmup 2] [--busy-core]

Starts a fresh standalone coord and a fresh Apache ZooKeeper 3.8 (Debian package) with the test
kit, as `coord bench compare` does, and drives each with the same closed-loop load twice: once
with `coord bench` (coord's codec, several worker processes) and once with
`benchmarks/java/ZkAsyncLoad.java` (ZooKeeper's own Java client, asynchronous API, one JVM). The
systems alternate; every case is repeated and medians are printed, with the coord / ZooKeeper
ratio each tool measured. When the two tools agree on the ratio, it is the servers' ratio and
not an artefact of one generator. Each row also shows the CPU the generator used (all its
processes, warm-up included, as a share of one core over the run) and the server's CPU per
1,000 operations: on a two-core machine a generator that needs more CPU leaves less to the server.

`--busy-core` runs a spinning process at the lowest priority beside every run, so no core goes
idle: it tells latency that waits on an idle core waking up (thread hand-offs) from latency
spent working.

`create` is coord bench's `churn-sequential` (create a persistent sequential znode, delete it
when answered; both count).
"""

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from coord.bench.procfs import cpu_seconds
from coord.testing.servers import CoordProcess, ZooKeeperProcess, zookeeper_unavailable_reason

HERE = Path(__file__).resolve().parent
JAVA_SOURCE = HERE / "java" / "ZkAsyncLoad.java"
JAVA_SHARE = Path("/usr/share/java")
CLIENT_JARS = ("zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar",
               "netty-handler.jar", "netty-transport.jar", "netty-common.jar", "netty-buffer.jar")
BENCH_WORKLOAD = {"get": "get", "set": "set", "create": "churn-sequential"}


def classpath(*first):
    jars = [str(p) for p in first] + [str(JAVA_SHARE / j) for j in CLIENT_JARS if (JAVA_SHARE / j).is_file()]
    return os.pathsep.join(jars)


def compile_java(out: Path) -> list:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["javac", "-implicit:none", "-sourcepath", "", "-cp", classpath(), "-d", str(out),
                    str(JAVA_SOURCE)], check=True, capture_output=True, text=True)
    return ["java", "-Xmx1g", "-XX:+UseSerialGC", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp", classpath(out), "ZkAsyncLoad"]


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def cpu_accounting(server, result: dict, wall_s: float):
    """Adds ``gen_cpu`` (cores the generator used over the run) and ``server_ms_per_1k`` to
    ``result`` (filled by the body). The generator runs as a child and is waited for, so its CPU
    (its own workers' too) shows in RUSAGE_CHILDREN."""
    gen0, srv0 = children_cpu_seconds(), cpu_seconds(server.pid)
    yield
    gen, srv = children_cpu_seconds() - gen0, cpu_seconds(server.pid) - srv0
    result["gen_cpu"] = gen / wall_s
    ops = result["ops_per_s"] * wall_s
    result["server_ms_per_1k"] = srv * 1000 / ops * 1000 if ops else float("nan")


@contextlib.contextmanager
def busy_core(enabled: bool):
    if not enabled:
        yield
        return
    spinner = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def run_java(java: list, server, op: str, conns: int, depth: int, duration: int, warmup: int) -> dict:
    result = subprocess.run([*java, server.address, op, str(conns), str(depth), str(duration), str(warmup)],
                            capture_output=True, text=True, timeout=duration + warmup + 120)
    if result.returncode != 0:
        raise RuntimeError(f"ZkAsyncLoad failed ({result.returncode}): {result.stderr[-2000:]}")
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def run_bench(server, op: str, conns: int, depth: int, duration: int, warmup: int, work: Path) -> dict:
    out = work / "bench.json"
    subprocess.run([sys.executable, "-m", "coord", "bench", "--target", server.address,
                    "--server-pid", str(server.pid), "--workload", BENCH_WORKLOAD[op],
                    "--connections", str(conns), "--depth", str(depth), "--duration", str(duration),
                    "--warmup", str(warmup), "--workers", "1" if conns == 1 else "2",
                    "--json", str(out)], check=True, capture_output=True, timeout=duration + warmup + 120)
    r = json.loads(out.read_text())
    return {"ops_per_s": r["throughput_ops_s"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"],
            "errors": r["errors"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default="get:8x32,set:8x32,create:8x32,get:1x1,set:1x1")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--busy-core", action="store_true",
                        help="keep every core busy with a lowest-priority spinner during the runs")
    args = parser.parse_args(argv)
    reason = zookeeper_unavailable_reason()
    if reason:
        sys.exit(f"cannot run: {reason}")
    cases = []
    for item in args.cases.split(","):
        op, shape = item.split(":")
        conns, depth = (int(x) for x in shape.split("x"))
        cases.append((op, conns, depth))
    work = Path(tempfile.mkdtemp(prefix="coord-crosscheck-", dir="."))
    results = {}   # (tool, system, case) -> [runs]
    try:
        java = compile_java(work / "classes")
        servers = {"coord": CoordProcess(work / "coord"),
                   "zookeeper": ZooKeeperProcess(work / "zookeeper", extra_jvm_flags=["-Xmx1g"])}
        for s in servers.values():
            s.start()
        try:
            for rep in range(args.repeats):
                for op, conns, depth in cases:
                    order = ["coord", "zookeeper"] if rep % 2 == 0 else ["zookeeper", "coord"]
                    for system in order:
                        srv = servers[system]
                        for tool in ("coord bench", "java client"):
                            r = {}
                            # The server's CPU is counted over warm-up and run, and so are the
                            # operations: ops/s times the measured window only, so the per-1k
                            # figure is an upper bound, the same for both tools.
                            started = time.monotonic()
                            with busy_core(args.busy_core), \
                                    cpu_accounting(srv, r, args.duration + args.warmup):
                                if tool == "java client":
                                    r.update(run_java(java, srv, op, conns, depth, args.duration, args.warmup))
                                else:
                                    r.update(run_bench(srv, op, conns, depth, args.duration, args.warmup, work))
                            r["wall_s"] = time.monotonic() - started
                            key = (tool, system, f"{op} {conns}x{depth}")
                            results.setdefault(key, []).append(r)
                            print(f"[{rep + 1}/{args.repeats}] {key[2]:12s} {system:9s} {tool:11s} "
                                  f"{r['ops_per_s']:10,.0f} ops/s  p50 {r['p50_ms']:.2f} ms  "
                                  f"p99 {r['p99_ms']:.2f} ms  errors {r['errors']}  "
                                  f"generator {r['gen_cpu']:.2f} cores  "
                                  f"server {r['server_ms_per_1k']:.0f} ms CPU/1k ops", flush=True)
        finally:
            for s in servers.values():
                s.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(tool, system, case, field):
        return statistics.median(r[field] for r in results[(tool, system, case)])

    print()
    print(f"Medians of {args.repeats} runs, {args.warmup} s warm-up + {args.duration} s each; "
          f"ratios are coord / ZooKeeper as each tool measured them"
          f"{'; a lowest-priority spinner kept every core busy' if args.busy_core else ''}. "
          f"gen: the generator's CPU in cores (coord run / ZooKeeper run).")
    print("| case | tool | coord ops/s | ZK ops/s | ratio | coord p50 ms | ZK p50 ms | p50 ratio | gen cores |")
    print("|---|---|---|---|---|---|---|---|---|")
    for op, conns, depth in cases:
        case = f"{op} {conns}x{depth}"
        for tool in ("coord bench", "java client"):
            c_ops, z_ops = med(tool, "coord", case, "ops_per_s"), med(tool, "zookeeper", case, "ops_per_s")
            c_p50, z_p50 = med(tool, "coord", case, "p50_ms"), med(tool, "zookeeper", case, "p50_ms")
            c_gen, z_gen = med(tool, "coord", case, "gen_cpu"), med(tool, "zookeeper", case, "gen_cpu")
            print(f"| {case} | {tool} | {c_ops:,.0f} | {z_ops:,.0f} | {c_ops / z_ops:.2f}x | "
                  f"{c_p50:.2f} | {z_p50:.2f} | {c_p50 / z_p50:.2f}x | {c_gen:.2f} / {z_gen:.2f} |")


if __name__ == "__main__":
    main()
