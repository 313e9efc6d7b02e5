"""Runs one workload against a target: spawns the workers, times the window, reads /proc.

Theory of operation. ``run_workload`` prepares the run's znodes through a control session of its
own (``/coord-bench/<workload>-<pid>-<n>``), starts ``workers`` processes (``worker.worker_main``)
and hands each its share of the connections (connection i goes to target i mod len(targets), and
to worker i mod workers). When every worker is connected and set up it sends them one common start
time, sleeps through the warm-up, reads the servers' CPU seconds from /proc, sleeps through the
measured window, reads them again, then collects the workers' results and merges them
(``results``). The control session deletes what the run left, so runs can follow each other on the
same server. Every wait is bounded; a worker's error stops the run with that error.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import resource
import time
from dataclasses import asdict, dataclass

from coord.protocol import records as R
from coord.protocol.codes import Err, OpCode
from coord.protocol.jute import Reader

from . import procfs
from .requests import REPLY_HEADER, create_template, delete_template, encode_tail, payload, template
from .results import (
    LabelStats, cpu_per_1k_ops, generator_saturated, generator_starved, histogram_from_counts, merge_label_stats,
    summarize_histogram,
)
from .worker import BenchError, call_blocking, open_session, worker_main
from .workloads import WORKLOADS, needs_shared_node, plan_spec

__all__ = ["BenchOptions", "BenchError", "run_workload", "parse_targets", "BENCH_ROOT"]

BENCH_ROOT = "/coord-bench"
_run_counter = itertools.count(1)


@dataclass
class BenchOptions:
    connections: int = 8
    depth: int = 32
    workers: int = 2
    duration_s: float = 5.0
    warmup_s: float = 1.0
    rate: float | None = None  # open loop: offered requests/s over all connections
    size: int = 100
    read_ratio: float = 0.9
    count: int = 10_000  # zk-latencies znodes
    watchers: int = 1000  # watch-fanout sessions
    session_timeout_ms: int = 30_000
    drain_s: float = 10.0
    setup_timeout_s: float = 120.0

    def check(self) -> None:
        for name in ("connections", "depth", "workers", "watchers", "count"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1")
        if self.duration_s <= 0 or self.warmup_s < 0:
            raise ValueError("--duration must be > 0 and --warmup >= 0")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("--rate must be > 0 requests/s")
        if not 0 <= self.read_ratio <= 1:
            raise ValueError("--read-ratio must be within 0..1")
        if self.size < 0:
            raise ValueError("--size must be >= 0")


def parse_targets(text: str) -> list:
    """``host:port[,host:port...]`` -> ``[(host, port)]`` (a ZooKeeper connect string, no chroot)."""
    targets = []
    for item in text.split(","):
        item = item.strip()
        host, sep, port = item.rpartition(":")
        if not item or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"target {item!r} is not HOST:PORT")
        targets.append((host, int(port)))
    return targets


# -- the control session ------------------------------------------------------------------------


def _call(conn, tail, ok=(0,), timeout_s=30.0):
    err, frame = call_blocking(conn, tail, time.monotonic() + timeout_s)
    if err not in ok:
        raise BenchError(f"control request failed with error {error_name(err)}")
    return err, frame


def error_name(err: int) -> str:
    try:
        return f"{Err(err).name} ({err})"
    except ValueError:
        return str(err)


def _ensure(conn, path, data=b""):
    _call(conn, create_template(path, data, 0).tail, ok=(0, Err.NODE_EXISTS))


def delete_tree(conn, path: str, timeout_s: float = 120.0) -> None:
    """Delete ``path`` and everything under it (children first), bounded by ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    stack = [path]
    order = []
    while stack:
        node = stack.pop()
        err, frame = _call(conn, encode_tail(OpCode.GET_CHILDREN, R.GetChildrenRequest(node, False)),
                           ok=(0, Err.NO_NODE), timeout_s=max(1.0, deadline - time.monotonic()))
        if err:
            continue
        order.append(node)
        children = R.GetChildrenResponse.deserialize(Reader(frame, REPLY_HEADER.size)).children
        stack += [f"{node}/{child}" for child in children or ()]
    for node in reversed(order):
        _call(conn, delete_template(node).tail, ok=(0, Err.NO_NODE),
              timeout_s=max(1.0, deadline - time.monotonic()))


# -- running -------------------------------------------------------------------------------------


def _parent_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _recv(pipe, process, bound_s: float, what: str):
    """The worker's next message, or BenchError when it failed, died or took too long."""
    deadline = time.monotonic() + bound_s
    while not pipe.poll(0.2):
        if not process.is_alive() and not pipe.poll(0):
            raise BenchError(f"a worker exited (status {process.exitcode}) while {what}")
        if time.monotonic() > deadline:
            raise BenchError(f"a worker did not answer within {bound_s:.0f} s while {what}")
    try:
        message = pipe.recv()
    except EOFError:
        raise BenchError(f"a worker exited (status {process.exitcode}) while {what}") from None
    if message[0] == "error":
        raise BenchError("a worker failed: " + message[1])
    return message


def run_workload(targets: list, workload_name: str, options: BenchOptions,
                 server_pids=None, on_start=None) -> dict:
    """Run ``workload_name`` against ``targets`` [(host, port)]; return the result as a dict."""
    options.check()
    if workload_name not in WORKLOADS:
        raise ValueError(f"unknown workload {workload_name!r}; choose from {', '.join(WORKLOADS)}")
    workload = WORKLOADS[workload_name]
    root = f"{BENCH_ROOT}/{workload_name}-{os.getpid()}-{next(_run_counter)}"
    size = workload.size if workload.size is not None else options.size
    with _control_session(targets, options) as control:
        _ensure(control, BENCH_ROOT)
        _ensure(control, root)
        if needs_shared_node(workload):
            _ensure(control, f"{root}/node", payload(size))
    try:
        result = _run(targets, workload, options, server_pids, root, on_start)
    except BaseException:
        if not workload.keep:
            with contextlib.suppress(BenchError, OSError):
                _clean_up(targets, options, root)
        raise
    if not workload.keep:
        try:
            _clean_up(targets, options, root)
        except (BenchError, OSError) as e:  # the figures stand; say what was left behind
            result["cleanup_error"] = f"{root} was not deleted: {type(e).__name__}: {e}"
    return result


def _clean_up(targets, options, root) -> None:
    # A fresh session: the run may have outlasted an idle one's timeout.
    with _control_session(targets, options) as control:
        delete_tree(control, root)


@contextlib.contextmanager
def _control_session(targets, options):
    control = open_session(*targets[0], options.session_timeout_ms)
    control.sock.setblocking(True)
    try:
        yield control
    finally:
        control.sock.close()


def _run(targets, workload, options, server_pids, root, on_start):
    n_conns = options.watchers if workload.loop == "fanout" else options.connections
    n_workers = min(options.workers, n_conns)
    per_conn_count = max(1, options.count // n_conns)
    shares = [[] for _ in range(n_workers)]
    for i in range(n_conns):
        w = i % n_workers
        spec = None
        if workload.plan is not None:
            spec = plan_spec(workload, root, f"{w}-{i}", size=options.size,
                             read_ratio=options.read_ratio, count=per_conn_count)
        shares[w].append((i % len(targets), spec))
    mode = "finite" if workload.loop == "sequence" else ("open" if options.rate else "closed")
    finite_bound_s = max(60.0, options.count / 50.0)
    base_job = {
        "kind": workload.loop, "targets": list(targets), "mode": mode, "depth": options.depth,
        "warmup_s": options.warmup_s, "duration_s": options.duration_s,
        "drain_s": options.drain_s, "max_s": finite_bound_s,
        "session_timeout_ms": options.session_timeout_ms,
        "setup_timeout_s": options.setup_timeout_s, "watch_path": f"{root}/node",
    }
    ctx = multiprocessing.get_context("spawn")
    processes, pipes = [], []
    parent_cpu_start = _parent_cpu_s()
    try:
        for w in range(n_workers):
            job = dict(base_job, conns=shares[w],
                       rate=(options.rate / n_workers) if options.rate else None)
            ours, theirs = ctx.Pipe()
            p = ctx.Process(target=worker_main, args=(job, theirs), daemon=True,
                            name=f"coord-bench-worker-{w}")
            p.start()
            theirs.close()
            processes.append(p)
            pipes.append(ours)
        if workload.loop == "fanout":
            with _control_session(targets, options) as control:
                return _finish_fanout(workload, options, pipes, processes, control, root,
                                      server_pids, n_conns, parent_cpu_start, targets, on_start)
        for pipe, p in zip(pipes, processes):
            _recv(pipe, p, options.setup_timeout_s + 30, "connecting")
        start_ns = time.monotonic_ns() + 100_000_000
        for pipe in pipes:
            pipe.send(("go", start_ns))
        if on_start is not None:
            on_start(n_conns)
        measure_start_ns = start_ns + (0 if mode == "finite" else int(options.warmup_s * 1e9))
        _sleep_until(measure_start_ns)
        server_cpu_start = procfs.total_cpu_seconds(server_pids)
        if mode != "finite":
            _sleep_until(measure_start_ns + int(options.duration_s * 1e9))
            server_cpu_end = procfs.total_cpu_seconds(server_pids)
        bound = options.warmup_s + options.duration_s + options.drain_s + 60 + (
            finite_bound_s if mode == "finite" else 0)
        results = [_recv(pipe, p, bound, "running")[1] for pipe, p in zip(pipes, processes)]
        if mode == "finite":
            server_cpu_end = procfs.total_cpu_seconds(server_pids)
    finally:
        _stop_workers(processes, pipes)
    labels = merge_label_stats([{k: LabelStats.from_wire(v) for k, v in r["labels"].items()}
                                for r in results])
    # A session-churn op is a whole session (its "connect" label times the handshake alone).
    headline = "session" if workload.loop == "session-churn" else "all"
    total = labels.get(headline, LabelStats())
    if mode == "finite":
        window_s = _span_s(total)
    else:
        window_s = options.duration_s
    server_cpu = (None if server_cpu_start is None or server_cpu_end is None
                  else server_cpu_end - server_cpu_start)
    result = _result_head(workload, targets, options, mode, n_workers, n_conns)
    result["headline"] = headline
    result.update(_figures(total, window_s, server_cpu))
    result["labels"] = {label: _figures(s, window_s if mode != "finite" else _span_s(s), None)
                        for label, s in labels.items() if label != "all"}
    result["generator"] = _generator_figures(results, parent_cpu_start, total.count)
    result["server"] = {"pids": list(server_pids or []), "cpu_s": server_cpu,
                        "cpu_s_per_1k_ops": cpu_per_1k_ops(server_cpu, total.count)}
    result["unanswered_at_end"] = sum(r["unanswered_at_end"] for r in results)
    result["connections_lost"] = sum(r.get("connections_lost", 0) for r in results)
    return result


def _finish_fanout(workload, options, pipes, processes, control, root, server_pids, n_conns,
                   parent_cpu_start, targets, on_start):
    """Drive the fan-out rounds: wait until every watcher is armed, setData, repeat."""
    for pipe, p in zip(pipes, processes):
        _recv(pipe, p, options.setup_timeout_s + 30, "arming watches")
    if on_start is not None:
        on_start(n_conns)
    set_tail = template("set", OpCode.SET_DATA, R.SetDataRequest(f"{root}/node", b"y", -1)).tail
    triggers = []
    server_cpu_start = procfs.total_cpu_seconds(server_pids)
    started = time.monotonic()
    while time.monotonic() - started < options.duration_s and len(triggers) < 10_000:
        triggers.append(time.monotonic_ns())
        _call(control, set_tail)
        for pipe, p in zip(pipes, processes):
            _recv(pipe, p, 60, "waiting for notifications")
    server_cpu_end = procfs.total_cpu_seconds(server_pids)
    for pipe in pipes:
        pipe.send(("stop",))
    results = [_recv(pipe, p, 30, "stopping")[1] for pipe, p in zip(pipes, processes)]
    per_watcher, all_notified = {}, {}
    for round_index, trigger in enumerate(triggers):
        latest = trigger
        for r in results:
            for arrival in r["rounds"][round_index]:
                us = max(1, (arrival - trigger) // 1000)
                per_watcher[us] = per_watcher.get(us, 0) + 1
                latest = max(latest, arrival)
        us = max(1, (latest - trigger) // 1000)
        all_notified[us] = all_notified.get(us, 0) + 1
    window_s = time.monotonic() - started
    notify = LabelStats(sum(per_watcher.values()), {}, histogram_from_counts(per_watcher))
    rounds = LabelStats(len(triggers), {}, histogram_from_counts(all_notified))
    rounds.errors = {int(Err.SYSTEM_ERROR): n for n in [sum(r["errors"] for r in results)] if n}
    server_cpu = (None if server_cpu_start is None or server_cpu_end is None
                  else server_cpu_end - server_cpu_start)
    result = _result_head(workload, targets, options, "fanout", len(processes), n_conns)
    # The headline is a round: one setData, then every watcher notified.
    result["headline"] = "all-notified"
    result.update(_figures(rounds, window_s, server_cpu))
    result["labels"] = {"all-notified": _figures(rounds, window_s, None),
                        "notification": _figures(notify, window_s, None)}
    result["generator"] = _generator_figures(results, parent_cpu_start, notify.count)
    result["server"] = {"pids": list(server_pids or []), "cpu_s": server_cpu,
                        "cpu_s_per_1k_ops": cpu_per_1k_ops(server_cpu, notify.count)}
    result["unanswered_at_end"] = 0
    result["connections_lost"] = 0
    return result


def _result_head(workload, targets, options, mode, n_workers, n_conns) -> dict:
    return {
        "workload": workload.name, "description": workload.description,
        "targets": [f"{h}:{p}" for h, p in targets], "mode": mode,
        "options": dict(asdict(options), workers=n_workers, connections=n_conns),
    }


def _span_s(stats: LabelStats) -> float:
    if stats.first_send_ns is None or stats.last_reply_ns is None:
        return 0.0
    return max(1e-9, (stats.last_reply_ns - stats.first_send_ns) / 1e9)


def _figures(stats: LabelStats, window_s: float, server_cpu) -> dict:
    figures = {
        "ops": stats.count,
        "window_s": window_s,
        "throughput_ops_s": stats.count / window_s if window_s > 0 else None,
        "errors": stats.error_count,
        "errors_by_code": {str(k): v for k, v in sorted(stats.errors.items())},
    }
    figures.update(summarize_histogram(stats.histogram))
    if server_cpu is not None:
        figures["server_cpu_s_per_1k_ops"] = cpu_per_1k_ops(server_cpu, stats.count)
    return figures


def _generator_figures(results, parent_cpu_start, ops: int) -> dict:
    busy = [r["cpu_s"] / r["wall_s"] if r["wall_s"] > 0 else 0.0 for r in results]
    workers_cpu = sum(r["cpu_s"] for r in results)
    parent_cpu = _parent_cpu_s() - parent_cpu_start
    # CPU per op holds even when a noisy neighbour starves us: W workers on W idle cores could
    # drive about W / (cpu per op) ops/s.
    us_per_op = workers_cpu / ops * 1e6 if ops and workers_cpu > 0 else None
    waiting = [r["runqueue_wait_s"] / r["wall_s"] if r["wall_s"] > 0 else 0.0 for r in results]
    return {
        "workers_cpu_s": workers_cpu, "parent_cpu_s": parent_cpu,
        "cpu_s": workers_cpu + parent_cpu,
        "worker_busy_share": busy, "saturated": generator_saturated(busy),
        "worker_runqueue_wait_share": waiting, "starved": generator_starved(waiting),
        "worker_cpu_us_per_op": us_per_op,
        "ceiling_estimate_ops_s": len(results) * 1e6 / us_per_op if us_per_op else None,
    }


def _sleep_until(t_ns: int) -> None:
    pause = (t_ns - time.monotonic_ns()) / 1e9
    if pause > 0:
        time.sleep(pause)


def _stop_workers(processes, pipes) -> None:
    for p in processes:
        p.join(timeout=15)
        if p.is_alive():
            p.kill()
            p.join(timeout=5)
    for pipe in pipes:
        pipe.close()


class Responder:
    """``processes`` calibration responders sharing one port on 127.0.0.1 (``with`` stops them)."""

    def __init__(self, processes: int = 1, data_size: int = 100):
        import socket
        from .responder import responder_main

        self.listeners = []
        self.processes = []
        ctx = multiprocessing.get_context("spawn")
        port = 0
        for _ in range(processes):
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind(("127.0.0.1", port))
            listener.listen(1024)
            port = listener.getsockname()[1]
            ours, theirs = ctx.Pipe()
            p = ctx.Process(target=responder_main, args=(listener, data_size, theirs), daemon=True,
                            name="coord-bench-responder")
            p.start()
            theirs.close()
            if not ours.poll(30):
                raise BenchError("the calibration responder did not start")
            ours.recv()
            ours.close()
            self.listeners.append(listener)
            self.processes.append(p)
        self.port = port

    @property
    def pids(self) -> list:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        for listener in self.listeners:
            listener.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()
