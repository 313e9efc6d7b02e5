"""Arguments of ``coord bench``, ``coord bench calibrate`` and ``coord bench compare``.

    coord bench --target HOST:PORT[,...] --workload W [--connections N --depth D --workers W
                --duration S --warmup S --rate R --size B --server-pid PID ...]
    coord bench calibrate [--workload get] [--responders 1] [same generator options]
    coord bench compare [--quick] [--repeats 3] [--topology standalone,3] [--workloads a,b]
                        [--cases get:8x32,...] [--memory-znodes 100000,1000000] [--out DIR]

docs/benchmarks.md explains the workloads and how to read the figures.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import replace

COMMANDS = ("bench",)
S = argparse.SUPPRESS  # options left out keep the defaults of the chosen command


def _generator_options(p) -> None:
    from .workloads import WORKLOADS

    g = p.add_argument_group("load generator")
    g.add_argument("--workload", choices=list(WORKLOADS), default=S,
                   help="what to run (default get): " + "; ".join(
                       f"{w.name}: {w.description}" for w in WORKLOADS.values()))
    g.add_argument("--connections", type=int, default=S, help="sessions (default 8)")
    g.add_argument("--depth", type=int, default=S,
                   help="requests in flight per connection (default 32); the open loop's cap")
    g.add_argument("--workers", type=int, default=S,
                   help="generator processes the connections are spread over (default 2)")
    g.add_argument("--duration", dest="duration_s", type=float, default=S,
                   help="measured seconds (default 5)")
    g.add_argument("--warmup", dest="warmup_s", type=float, default=S,
                   help="unmeasured seconds first (default 1)")
    g.add_argument("--rate", type=float, default=S,
                   help="open loop: offered requests/s over all connections; latency counts from "
                        "each request's intended send time (default: closed loop)")
    g.add_argument("--size", type=int, default=S, help="data bytes per znode (default 100)")
    g.add_argument("--read-ratio", type=float, default=S, help="mixed: share of reads (default 0.9)")
    g.add_argument("--count", type=int, default=S,
                   help="zk-latencies / populate: znodes (default 10000)")
    g.add_argument("--watchers", type=int, default=S, help="watch-fanout: sessions (default 1000)")
    g.add_argument("--session-timeout-ms", type=int, default=S, help="default 30000")


def add_parsers(sub) -> None:
    b = sub.add_parser("bench", help="drive a ZooKeeper-compatible ensemble with load; "
                       "calibrate; compare coord with Apache ZooKeeper (docs/benchmarks.md)")
    b.add_argument("--target", default=S, help="HOST:PORT[,HOST:PORT...] to drive (required)")
    b.add_argument("--server-pid", type=int, action="append", default=S,
                   help="pid of a server process, for its CPU use (repeat for each member)")
    b.add_argument("--json", dest="json_path", default=S, help="also write the result here")
    _generator_options(b)
    bsub = b.add_subparsers(dest="bench_command")
    c = bsub.add_parser("calibrate", help="drive a trivial responder: the generator's ceiling here")
    c.add_argument("--responders", type=int, default=1,
                   help="responder processes sharing the port (default 1)")
    c.add_argument("--json", dest="json_path", default=S, help="also write the result here")
    _generator_options(c)
    m = bsub.add_parser("compare", help="coord vs Apache ZooKeeper 3.8, same load, same machine")
    m.add_argument("--quick", action="store_true",
                   help="shorter runs, fewer cases, 20k znodes for memory (a few minutes)")
    m.add_argument("--repeats", type=int, default=S, help="runs per case and system (default 3)")
    m.add_argument("--topology", default=S,
                   help="comma-separated: standalone and/or 3 (members) (default both)")
    m.add_argument("--workloads", default=S, help="keep only the cases of these workloads")
    m.add_argument("--cases", default=S,
                   help="explicit cases WORKLOAD:CONNxDEPTH,... (watch-fanout:N = N watchers)")
    m.add_argument("--memory-znodes", default=S,
                   help="comma-separated znode counts for memory/restart, or 0 to skip "
                        "(default 100000,1000000; --quick 20000)")
    m.add_argument("--out", default=S, help="results folder (default benchmarks/results)")
    m.add_argument("--work-dir", default=S,
                   help="where the servers' data dirs go, the disk under test "
                        "(default ./coord-bench-work, removed afterwards)")
    m.add_argument("--clients", dest="ensemble_clients", choices=("all", "followers", "leader"),
                   default=S, help="3 members: which members the connections go to (default all)")
    m.add_argument("--zk-jvm-flags", default=S, help="extra JVM flags for ZooKeeper (default -Xmx1g)")
    m.add_argument("--settle", dest="settle_s", type=float, default=S,
                   help="seconds to wait after populating / restarting before reading RSS "
                        "(default 2)")
    m.add_argument("--no-plot", action="store_true", help="skip the matplotlib plot")
    m.add_argument("--no-calibrate", action="store_true", help="skip the calibration run")
    m.add_argument("--note", default=S, help="a line to put on top of the report")
    _generator_options(m)


_BENCH_FIELDS = ("connections", "depth", "workers", "duration_s", "warmup_s", "rate", "size",
                 "read_ratio", "count", "watchers", "session_timeout_ms")


def _bench_options(args, base):
    given = {k: getattr(args, k) for k in _BENCH_FIELDS if hasattr(args, k)}
    return replace(base, **given)


def run(args) -> int:
    from coord.testing.servers import ServerStartError

    from .runner import BenchError, BenchOptions, Responder, parse_targets, run_workload
    from .report import generator_line, result_table

    # SIGTERM unwinds like Ctrl-C, so the servers compare started and the workers are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        if args.bench_command == "compare":
            return _compare(args)
        options = _bench_options(args, BenchOptions())
        options.check()
        workload = getattr(args, "workload", "get")
        if args.bench_command == "calibrate":
            if workload in ("watch-fanout",):
                print("coord: the calibration responder keeps no watches; calibrate a request "
                      "workload instead", file=sys.stderr)
                return 2
            with Responder(args.responders, options.size) as responder:
                result = run_workload([("127.0.0.1", responder.port)], workload, options,
                                      server_pids=responder.pids,
                                      on_start=_announce(workload, options))
            print(f"calibration ({workload}, {options.connections}x{options.depth}, "
                  f"{options.workers} workers, {args.responders} responder process(es))")
        else:
            if not hasattr(args, "target"):
                print("coord: bench needs --target HOST:PORT[,...] (or use `coord bench "
                      "calibrate` / `coord bench compare`)", file=sys.stderr)
                return 2
            targets = parse_targets(args.target)
            result = run_workload(targets, workload, options,
                                  server_pids=getattr(args, "server_pid", None),
                                  on_start=_announce(workload, options))
            print(f"{workload} on {args.target}: {result['mode']} loop, "
                  f"{options.connections}x{options.depth}, {options.workers} workers")
        print(result_table(result))
        print(generator_line(result))
        if result.get("connections_lost"):
            print(f"{result['connections_lost']} connection(s) closed by the server during the run; "
                  "their requests in flight count as ConnectionLoss errors")
        if result.get("cleanup_error"):
            print("coord: bench: " + result["cleanup_error"], file=sys.stderr)
        if hasattr(args, "json_path"):
            with open(args.json_path, "w") as f:
                json.dump(result, f, indent=1, default=str)
        return 1 if result["errors"] or result.get("connections_lost") else 0
    except (BenchError, ServerStartError, ValueError, OSError) as e:
        print(f"coord: bench: {e}", file=sys.stderr)
        return 1


def _announce(workload, options):
    def on_start(connections):
        print(f"coord: bench: {connections} connections in; {workload}: {options.warmup_s:g} s "
              f"warm-up, then {options.duration_s:g} s measured", file=sys.stderr, flush=True)
    return on_start


def _compare(args) -> int:
    from .compare import QUICK, CompareOptions, parse_cases, print_summary, run_compare
    from .workloads import WORKLOADS

    base = CompareOptions(**QUICK) if args.quick else CompareOptions()
    options = replace(base, bench=_bench_options(args, base.bench))
    if hasattr(args, "repeats"):
        options.repeats = args.repeats
    if hasattr(args, "topology"):
        options.topologies = tuple(t.strip() for t in args.topology.split(",") if t.strip())
    if hasattr(args, "cases"):
        options.cases = parse_cases(args.cases)
    if hasattr(args, "workloads"):
        wanted = [w.strip() for w in args.workloads.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in WORKLOADS]
        if unknown:
            raise ValueError(f"unknown workloads {', '.join(unknown)}")
        options.cases = tuple(c for c in options.cases if c[0] in wanted)
    if hasattr(args, "memory_znodes"):
        options.memory_sizes = tuple(int(n) for n in args.memory_znodes.split(",")
                                     if n.strip() and int(n) > 0)
    for attr, field_name in (("out", "out_dir"), ("work_dir", "work_dir"), ("note", "note"),
                             ("settle_s", "settle_s"), ("ensemble_clients", "ensemble_clients")):
        if hasattr(args, attr):
            setattr(options, field_name, getattr(args, attr))
    if hasattr(args, "zk_jvm_flags"):
        options.zk_jvm_flags = tuple(args.zk_jvm_flags.split())
    options.plot = not args.no_plot
    options.calibrate = not args.no_calibrate
    doc = run_compare(options)
    print_summary(doc)
    return 0
