"""``coord bench compare``: coord and Apache ZooKeeper 3.8 through the same load, side by side.

Theory of operation. For each topology (``standalone``: one server; ``3``: three members on
loopback) both systems are started from ``coord.testing.servers`` in folders under one work dir
(same disk; fsync on, which is both systems' default), and every case (a workload with its
connections x depth) runs ``repeats`` times, alternating which system goes first, so slow drift
of a shared machine falls on both. The generator is calibrated first against the trivial
responder with the settings of the first case, so the report can state its headroom over the
fastest server figure. Memory and restart are measured on fresh standalone servers per size:
populate, RSS, stop, time the restart to serving, RSS again, data dir and snapshot size.

Results go to ``<out>/compare-<UTC time>.json`` and ``.md`` (and ``.png`` when matplotlib is
installed), with the machine described (``machine.describe_machine``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from coord.testing.servers import (
    CoordProcess, Ensemble, ZooKeeperProcess, _java, zookeeper_unavailable_reason,
)

from . import procfs
from .machine import describe_machine, load_average
from .report import case_name, compare_markdown, headroom, summarize, summary_table, memory_table
from .runner import BenchError, BenchOptions, Responder, run_workload

__all__ = ["CompareOptions", "FULL_CASES", "QUICK_CASES", "parse_cases", "run_compare",
           "Progress"]

# (workload, connections, depth): pipelined throughput, then one request in flight, then the rest.
FULL_CASES = (
    ("get", 8, 32), ("get-1k", 8, 32), ("set", 8, 32), ("churn-sequential", 8, 32),
    ("churn-ephemeral", 8, 32), ("mixed", 8, 32), ("multi", 8, 32),
    ("get", 1, 1), ("set", 1, 1), ("churn-sequential", 1, 1),
    ("watch-fanout", 1000, 1), ("session-churn", 8, 1), ("zk-latencies", 1, 100),
)
QUICK_CASES = (("get", 8, 32), ("set", 8, 32), ("churn-sequential", 8, 32), ("get", 1, 1),
               ("set", 1, 1))
TOPOLOGIES = ("standalone", "3")
SYSTEMS = ("coord", "zookeeper")
SETTLE_S = 2.0  # after populating / restarting, before reading RSS


def parse_cases(text: str) -> tuple:
    """``get:8x32,set:1x1,watch-fanout:1000`` -> ((workload, connections, depth), ...)."""
    from .workloads import WORKLOADS

    cases = []
    for item in text.split(","):
        name, _, shape = item.strip().partition(":")
        if name not in WORKLOADS:
            raise ValueError(f"unknown workload {name!r} in --cases")
        conns, _, depth = (shape or "8x32").partition("x")
        if not conns.isdigit() or (depth and not depth.isdigit()):
            raise ValueError(f"case {item!r} is not WORKLOAD:CONNECTIONSxDEPTH")
        cases.append((name, int(conns), int(depth or 1)))
    return tuple(cases)


@dataclass
class CompareOptions:
    cases: tuple = FULL_CASES
    topologies: tuple = TOPOLOGIES
    repeats: int = 3
    bench: BenchOptions = field(default_factory=lambda: BenchOptions(duration_s=5.0, warmup_s=2.0))
    memory_sizes: tuple = (100_000, 1_000_000)
    out_dir: str = "benchmarks/results"
    work_dir: str = "coord-bench-work"
    zk_jvm_flags: tuple = ("-Xmx1g",)
    ensemble_clients: str = "all"  # all | followers | leader: which members the load goes to
    calibrate: bool = True
    plot: bool = True
    settle_s: float = SETTLE_S
    note: str | None = None

    def check(self) -> None:
        if self.repeats < 1:
            raise ValueError("--repeats must be at least 1")
        if self.ensemble_clients not in ("all", "followers", "leader"):
            raise ValueError("--clients must be all, followers or leader")
        for topology in self.topologies:
            if topology not in TOPOLOGIES:
                raise ValueError(f"topology {topology!r}: choose from {', '.join(TOPOLOGIES)}")
        self.bench.check()


QUICK = dict(cases=QUICK_CASES, memory_sizes=(20_000,),
             bench=BenchOptions(duration_s=3.0, warmup_s=1.0, count=2_000, watchers=200))


class Progress:
    """A one-line progress bar on a terminal (a line per step otherwise), with an ETA."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 30):
        self.total = max(1, total)
        self.done = 0
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def show(self, label: str) -> None:
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        eta_text = f" eta {eta:4.0f} s" if eta is not None else ""
        text = f"[{bar}] {self.done}/{self.total} {elapsed:5.0f} s{eta_text}  {label}"
        if self.tty:
            self.stream.write("\r\033[K" + text[:160])
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def step(self, label: str) -> None:
        self.done += 1
        self.show(label)

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class _Systems:
    """The servers of one kind in one topology: start, stop, targets, pids."""

    def __init__(self, kind: str, topology: str, work_dir: Path, zk_jvm_flags,
                 clients: str = "all"):
        self.kind = kind
        self.clients = clients
        kwargs = {"extra_jvm_flags": tuple(zk_jvm_flags)} if kind == "zookeeper" else {}
        if topology == "standalone":
            cls = CoordProcess if kind == "coord" else ZooKeeperProcess
            self.server = cls(work_dir, **kwargs)
            self.members = [self.server]
        else:
            self.server = Ensemble(kind, work_dir, size=int(topology), **kwargs)
            self.members = list(self.server.members.values())

    def start(self, timeout_s: float = 120.0):
        self.server.start(timeout_s=timeout_s)
        return self

    def stop(self):
        self.server.stop()

    @property
    def targets(self) -> list:
        """Where the load goes: every member, or (ensembles) only the followers / the leader."""
        members = self.members
        if len(members) > 1 and self.clients != "all":
            leader = self.server.leader()
            if leader is None:
                raise BenchError(f"{self.kind}: no leader, so no {self.clients} to drive")
            chosen = [m for m in members if (m.member_id == leader) == (self.clients == "leader")]
            members = chosen
        return [(m.host, m.port) for m in members]

    @property
    def pids(self) -> list:
        return [m.pid for m in self.members if m.pid is not None]


def _case_options(base: BenchOptions, case) -> BenchOptions:
    workload, connections, depth = case
    if workload == "watch-fanout":
        return replace(base, watchers=connections, connections=connections, depth=1)
    return replace(base, connections=connections, depth=depth)


def run_compare(options: CompareOptions, stream=sys.stderr) -> dict:
    """Run the whole comparison; return the document (also written to ``out_dir``)."""
    options.check()
    reason = zookeeper_unavailable_reason()
    if reason:
        raise BenchError("coord bench compare needs Apache ZooKeeper: " + reason)
    started_wall = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    started = time.monotonic()
    work_root = Path(options.work_dir).resolve() / f"compare-{os.getpid()}"
    work_root.mkdir(parents=True, exist_ok=False)
    doc = {
        "started": started_wall,
        "note": options.note,
        "machine": describe_machine(work_root, _java()),
        "load_average_start": load_average(),
        "options": _options_json(options),
        "settings": _settings_text(options),
        "calibration": None,
        "runs": [],
        "failures": [],
        "memory": [],
    }
    calibrations = len(options.topologies) * options.repeats if options.calibrate else 0
    steps = (len(options.topologies) * len(options.cases) * options.repeats * len(SYSTEMS)
             + len(options.memory_sizes) * len(SYSTEMS) + calibrations)
    progress = Progress(steps, stream)
    doc["calibrations"] = []
    try:
        for topology in options.topologies:
            _run_topology(options, topology, work_root, doc, progress)
        for index, size in enumerate(options.memory_sizes):
            order = SYSTEMS if index % 2 == 0 else SYSTEMS[::-1]
            for system in order:
                progress.show(f"memory: {system} with {size:,} znodes")
                doc["memory"].append(_memory(options, system, size, work_root))
                progress.step(f"memory: {system} with {size:,} znodes done")
    finally:
        progress.close()
        shutil.rmtree(work_root, ignore_errors=True)
    doc["load_average_end"] = load_average()
    doc["elapsed_s"] = time.monotonic() - started
    doc["summary"] = summarize(doc["runs"])
    doc["calibration"] = _median_calibration(doc["calibrations"])
    doc["headroom"] = headroom(doc["calibration"], doc["summary"])
    doc["runs_count"] = len(doc["runs"])
    doc["files"] = _write(doc, options)
    return doc


def _calibrate(options: CompareOptions, case) -> dict:
    with Responder(1, options.bench.size) as responder:
        return run_workload([("127.0.0.1", responder.port)], case[0] if case[0] in (
            "get", "get-1k", "set", "multi", "churn-sequential", "churn-ephemeral", "mixed") else "get",
            _case_options(options.bench, case), server_pids=responder.pids)


def _median_calibration(calibrations: list):
    """The calibration run with the median throughput (None when there was none)."""
    if not calibrations:
        return None
    ordered = sorted(calibrations, key=lambda r: r["throughput_ops_s"] or 0)
    return ordered[(len(ordered) - 1) // 2]


def _run_topology(options, topology, work_root: Path, doc: dict, progress: Progress) -> None:
    systems = {}
    try:
        for kind in SYSTEMS:
            progress.show(f"starting {kind} ({topology})")
            systems[kind] = _Systems(kind, topology, work_root / f"{topology}-{kind}",
                                     options.zk_jvm_flags, options.ensemble_clients).start()
        for repeat in range(options.repeats):
            if options.calibrate and options.cases:
                # Once per round, between the servers' runs: a shared machine's load drifts, so
                # the ceiling is sampled as often as the servers are (servers idle meanwhile).
                progress.show("calibrating the generator")
                calibration = _calibrate(options, options.cases[0])
                doc["calibrations"].append(calibration)
                progress.step(f"calibration: {calibration['throughput_ops_s']:,.0f} ops/s")
            for index, case in enumerate(options.cases):
                order = SYSTEMS if (repeat + index) % 2 == 0 else SYSTEMS[::-1]
                for kind in order:
                    label = f"{topology} {kind} {case_name(_case_dict(case))} (repeat {repeat + 1})"
                    progress.show(label)
                    s = systems[kind]
                    run = {"topology": topology, "system": kind, "case": _case_dict(case),
                           "repeat": repeat}
                    try:
                        run["result"] = run_workload(s.targets, case[0],
                                                     _case_options(options.bench, case),
                                                     server_pids=s.pids)
                    except BenchError as e:
                        # One failed run (a server that dropped its clients, say) is reported
                        # with the servers' logs; the comparison goes on.
                        run["result"] = None
                        run["error"] = str(e)
                        run["server_logs"] = [m.log_tail(4000) for m in s.members]
                        doc["failures"].append(run)
                        progress.step(f"{label}: FAILED ({str(e).splitlines()[0][:80]})")
                        if not all(m.running for m in s.members):
                            raise BenchError(f"{kind} ({topology}) is no longer running: {e}")
                        continue
                    doc["runs"].append(run)
                    progress.step(f"{label}: {run['result']['throughput_ops_s'] or 0:,.0f} ops/s")
    finally:
        for s in systems.values():
            s.stop()


def _case_dict(case) -> dict:
    return {"workload": case[0], "connections": case[1], "depth": case[2]}


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def _newest_snapshot_bytes(path: Path):
    snapshots = [p for p in path.rglob("snapshot.*") if not p.name.endswith(".tmp")]
    if not snapshots:
        return None
    return max(snapshots, key=lambda p: p.stat().st_mtime).stat().st_size


def _memory(options, system: str, size: int, work_root: Path) -> dict:
    work = work_root / f"memory-{system}-{size}"
    s = _Systems(system, "standalone", work, options.zk_jvm_flags)
    figures = {"system": system, "znodes": size}
    try:
        t0 = time.monotonic()
        s.start(timeout_s=300)
        figures["start_empty_s"] = time.monotonic() - t0
        populate = run_workload(s.targets, "populate",
                                replace(options.bench, count=size, connections=8, depth=32),
                                server_pids=s.pids)
        figures["populate_ops_s"] = populate["throughput_ops_s"]
        figures["populate_errors"] = populate["errors"]
        time.sleep(options.settle_s)
        figures["rss_serving"] = procfs.rss_bytes(s.pids[0])
        s.stop()
        t0 = time.monotonic()
        s.start(timeout_s=900)
        figures["restart_s"] = time.monotonic() - t0
        time.sleep(options.settle_s)
        figures["rss_after_restart"] = procfs.rss_bytes(s.pids[0])
        figures["data_dir_bytes"] = _dir_bytes(s.server.data_dir)
        figures["snapshot_bytes"] = _newest_snapshot_bytes(s.server.data_dir)
    finally:
        s.stop()
        shutil.rmtree(work, ignore_errors=True)
    return figures


def _options_json(options: CompareOptions) -> dict:
    d = asdict(options)
    d["cases"] = [_case_dict(c) for c in options.cases]
    return d


def _settings_text(options: CompareOptions) -> str:
    b = options.bench
    return (f"topologies {', '.join(options.topologies)}; {options.repeats} repeats alternating "
            f"the systems; {b.warmup_s:g} s warm-up + {b.duration_s:g} s per run; "
            f"{b.workers} generator workers; ensemble clients on {options.ensemble_clients} "
            f"members; {b.size}-byte data; closed loop; fsync on (both "
            f"defaults); ZooKeeper JVM flags {' '.join(options.zk_jvm_flags)} on top of the test "
            f"kit's; zk-latencies {b.count} znodes")


def _write(doc: dict, options: CompareOptions) -> dict:
    out = Path(options.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / ("compare-" + doc["started"].replace(":", "").replace("-", ""))
    files = {"json": str(stem) + ".json", "markdown": str(stem) + ".md"}
    if options.plot:
        from .plot import plot_compare

        png = plot_compare(doc, str(stem) + ".png")
        if png:
            files["plot"] = png
    doc["files"] = files
    Path(files["json"]).write_text(json.dumps(doc, indent=1, default=str) + "\n")
    Path(files["markdown"]).write_text(compare_markdown(doc))
    return files


def print_summary(doc: dict, stream=sys.stdout) -> None:
    print(summary_table(doc["summary"]), file=stream)
    if doc["memory"]:
        print("\n" + memory_table(doc["memory"]), file=stream)
    h = doc["headroom"]
    if h["headroom"] is not None:
        print(f"\ngenerator headroom: calibration {h['calibration_ops_s']:,.0f} ops/s vs fastest "
              f"server {h['fastest_server_ops_s']:,.0f} ops/s = {h['headroom']:.2f}x", file=stream)
    for kind, path in doc["files"].items():
        print(f"{kind}: {path}", file=stream)
