"""One run: start an ensemble, drive a workload against it while a nemesis breaks it, heal, check.

Theory of operation
-------------------
:func:`run` does, in order, with everything it starts stopped in ``finally`` (and SIGTERM turned
into the same unwinding as Ctrl-C, so an interrupted run leaves no process, namespace or bridge):

1. sweep leftovers of earlier interrupted runs; build the network when there is more than one
   member: namespaces when root (``netns``), else the TCP fault proxy of ``proxy.py`` between
   members on 127.0.0.1 (``proxy``; the results say so); ``loopback`` (no network faults, network
   nemeses refused) only when asked for;
2. start the ensemble and wait until it is healthy (one leader, every member serving);
3. connect ``concurrency`` workers (sessions of ``client``: kazoo by default, or coord's own
   client; see ``client_adapters.py``), run the workload for ``time_s`` while the nemesis schedule
   injects and heals faults, all recorded in ``history.jsonl``;
4. heal everything (network rules flushed, paused members continued, killed ones restarted), wait
   for health, let the workload do its final reads;
5. run the workload's checkers; write ``results.json`` and ``verdicts.txt``, and the part-1 report
   (``summary.txt``, timeline, latency and throughput plots with nemesis bands).

The run's verdict is ``not valid`` if any checker says so, else ``unknown`` if any says that, else
``valid``; exit codes 1, 2, 0. A run that could not happen at all (no ensemble of this system and
size here, a nemesis that cannot act) raises :class:`RunImpossible` with the reason.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from jepsen_like.checker.linearizability import LinearizabilityResult
from jepsen_like.checker.result import CheckResult
from jepsen_like.client_adapters import CLIENTS
from jepsen_like.cluster import Ensemble, EnsembleUnavailable
from jepsen_like.history import HistoryWriter, read_jsonl
from jepsen_like.nemesis import NemesisContext, NemesisUnavailable, Schedule, make_nemesis
from jepsen_like.netns import Network, network_unavailable_reason, sweep_leftovers
from jepsen_like.proxy import ProxyNetwork

__all__ = ["RunConfig", "RunImpossible", "RunResult", "run"]

VERDICT_EXIT = {"valid": 0, "not valid": 1, "unknown": 2}
NETWORKS = ("auto", "netns", "proxy", "loopback")
FINAL_PROCESS = 1_000_000  # process ids of the final phase's fresh session, clear of the workers' ids


class RunImpossible(RuntimeError):
    """The run cannot take place here; the message says why."""


@dataclass
class RunConfig:
    system: str = "zookeeper"
    nodes: int = 3
    workload: str = "register"
    nemesis: Any = "none"  # a name from nemesis.NEMESES, or a Nemesis object
    time_s: float = 60.0
    concurrency: int = 10
    seed: int | None = None
    out: Path | None = None
    reads: str = "sync"
    quiet_s: float = 3.0
    fault_s: float = 5.0
    network: str = "auto"  # auto (netns when root with ip/nft, else proxy) | netns | proxy | loopback
    progress: bool = True
    check_time_s: float = 60.0
    planted_bug: str | None = None  # coord only, test only: coord.plantedBug (coord/planted_bugs.py)
    # The client library the workers use: kazoo (independent of coord, so comparisons of coord
    # with ZooKeeper never rest on our own client) or coord (our client, against either system).
    client: str = "kazoo"
    plots: bool = True   # the report's PNGs (matplotlib, ~2 s); the text and HTML report is always written

    def default_out(self) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        nemesis = getattr(self.nemesis, "name", self.nemesis)
        via = "" if self.client == "kazoo" else f"-via-{self.client}"
        return Path("jepsen-results") / (f"{self.system}-{self.nodes}-{self.workload}-{nemesis}{via}-{stamp}-"
                                         f"{os.getpid()}")


@dataclass
class RunResult:
    verdict: str
    run_dir: Path
    checks: list = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    network: str = ""
    faults: int = 0

    @property
    def exit_code(self) -> int:
        return VERDICT_EXIT[self.verdict]


def _verdict_of(result: LinearizabilityResult | CheckResult) -> str:
    if isinstance(result, LinearizabilityResult):
        return {"linearizable": "valid", "not linearizable": "not valid"}.get(result.verdict, "unknown")
    return result.verdict


def _check_record(result: LinearizabilityResult | CheckResult) -> dict[str, Any]:
    if isinstance(result, LinearizabilityResult):
        summary = result.render().splitlines()[1]
        if result.counterexample is not None:
            failing = result.counterexample.failing_op
            summary = (f"nothing explains {result.model.describe_op(failing)} on key {failing.key!r} (op {failing.id}, "
                       f"process {failing.process}, events {failing.call_index}..{failing.return_index}); {summary}")
        return {"checker": "linearizability", "verdict": _verdict_of(result), "raw_verdict": result.verdict,
                "summary": summary, "reason": result.reason,
                "counts": {"operations": result.operations_checked, "partitions": result.partitions_total},
                "counterexample": result.counterexample.render(result.model) if result.counterexample else None}
    return {"checker": result.checker, "verdict": result.verdict, "summary": result.summary, "counts": result.counts,
            "problems": result.problems[:50]}


class _Progress:
    """One status line (phase, ops done, current fault), rewritten in place on a terminal."""

    def __init__(self, enabled: bool, stream=sys.stderr):
        self.enabled = enabled
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self._last = 0.0

    def show(self, text: str, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < (1.0 if self.tty else 5.0):
            return
        self._last = now
        if self.tty:
            self.stream.write("\r\033[K" + text[:160])
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _raise_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt(f"signal {signum}")


def run(config: RunConfig, log: Callable[[str], None] | None = None) -> RunResult:
    # Imported here so `python -m jepsen_like check|report` never needs the client library.
    from jepsen_like.workloads import Worker, make_workload

    log = log or (lambda message: print(message, file=sys.stderr))
    if config.client not in CLIENTS:
        raise RunImpossible(f"unknown client {config.client!r}; known: {', '.join(CLIENTS)}")
    seed = config.seed if config.seed is not None else random.randrange(2**31)
    rng = random.Random(seed)
    run_dir = Path(config.out or config.default_out()).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    progress = _Progress(config.progress)
    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        previous_handler = signal.signal(signal.SIGTERM, _raise_interrupt)

    network: Network | ProxyNetwork | None = None
    ensemble: Ensemble | None = None
    writer: HistoryWriter | None = None
    workers: list = []
    try:
        for leftover in sweep_leftovers():
            log(f"removed leftover {leftover}")
        nemesis = make_nemesis(config.nemesis)
        network, network_kind, network_note = _network_for(config, seed)
        coord_settings, coord_env = _coord_settings(config)
        try:
            ensemble = Ensemble(config.system, config.nodes, run_dir, network=network,
                                coord_settings=coord_settings, coord_env=coord_env)
        except EnsembleUnavailable as problem:
            raise RunImpossible(str(problem)) from None
        if nemesis is not None:
            nemesis.check(ensemble)
        workload = make_workload(config.workload, rng, config.concurrency,
                                 {"reads": config.reads, "check_time_s": config.check_time_s})
        progress.show(f"[setup] starting {ensemble.describe()}", force=True)
        try:
            ensemble.start_all()
        except EnsembleUnavailable as problem:
            raise RunImpossible(str(problem)) from None
        hosts = [m.address for m in ensemble.members]

        metadata = {
            "system": config.system, "nodes": config.nodes, "workload": config.workload, "nemesis": nemesis.name if nemesis else "none",
            "time_s": config.time_s, "concurrency": config.concurrency, "seed": seed, "client": config.client,
            "network": network_note,
            "network_kind": network_kind,
            "ensemble": ensemble.describe(), **workload.metadata,
        }
        if config.planted_bug is not None:
            metadata["planted_bug"] = config.planted_bug
        writer = HistoryWriter(run_dir / "history.jsonl", metadata)
        admin = Worker(-1, hosts, writer, config.concurrency, random.Random(seed), client_kind=config.client)
        admin.connect()
        workload.setup(admin.client)
        admin.close()

        stop = threading.Event()
        workers = [Worker(i, hosts, writer, config.concurrency, random.Random(rng.randrange(2**31)),
                          client_kind=config.client) for i in range(config.concurrency)]
        for worker in workers:
            worker.connect()

        def body(worker) -> None:
            while not stop.is_set():
                try:
                    if worker.client is None:
                        worker.connect()
                    workload.run_worker(worker, stop)
                except Exception as problem:  # noqa: BLE001 - keep working; the error is counted
                    name = f"worker: {type(problem).__name__}"
                    worker.errors[name] = worker.errors.get(name, 0) + 1
                    stop.wait(0.5)

        threads = [threading.Thread(target=body, args=(w,), name=f"worker-{w.index}", daemon=True) for w in workers]
        schedule = None
        if nemesis is not None:
            ctx = NemesisContext(ensemble, random.Random(rng.randrange(2**31)), log=lambda m: None)
            schedule = Schedule(nemesis, ctx, writer, quiet_s=config.quiet_s, fault_s=config.fault_s)
        started = time.monotonic()
        progress.show(f"[run    0/{config.time_s:.0f} s] {config.concurrency} clients, nemesis "
                      f"{metadata['nemesis']}", force=True)
        for thread in threads:
            thread.start()
        if schedule is not None:
            schedule.start()
        while (elapsed := time.monotonic() - started) < config.time_s:
            fault = schedule.current if schedule is not None and schedule.current else "none"
            progress.show(f"[run {elapsed:4.0f}/{config.time_s:.0f} s] events {writer.events_written} | fault: {fault}")
            time.sleep(0.2)
        progress.show("[heal] healing and waiting for the ensemble", force=True)
        if schedule is not None:
            schedule.stop()
        _restore(ensemble)
        healthy_again = True
        try:
            ensemble.wait_healthy(90.0)
        except Exception as problem:  # noqa: BLE001 - recorded; the checkers still run
            healthy_again = False
            log(f"ensemble did not recover: {problem}")
        stop.set()
        for thread in threads:
            thread.join(timeout=30.0)
        progress.show("[final] final reads", force=True)
        for worker in workers:
            if worker.client is None:
                try:
                    worker.connect()
                except Exception:  # noqa: BLE001
                    pass
        fresh = Worker(config.concurrency, hosts, writer, config.concurrency, random.Random(seed + 1),
                       client_kind=config.client)
        fresh.process = FINAL_PROCESS
        workers.append(fresh)  # closed with the others, whatever happens
        fresh.connect()
        workload.final([w for w in workers[:-1] if w.client is not None] or workers[:-1], fresh)
        _close_all(workers)
        writer.close()

        progress.show("[check] checking the history", force=True)
        history = read_jsonl(run_dir / "history.jsonl")
        checks = workload.checks(history.events)
        verdicts = [_verdict_of(check) for check in checks]
        verdict = "not valid" if "not valid" in verdicts else "unknown" if "unknown" in verdicts else "valid"
        errors: dict[str, int] = {}
        for worker in workers:
            for name, count in worker.errors.items():
                errors[name] = errors.get(name, 0) + count
        ops = history.operations()
        counts = {"operations": len(ops)}
        for outcome in ("ok", "fail", "unknown"):
            counts[outcome] = sum(1 for op in ops if op.outcome == outcome)
        result = RunResult(verdict, run_dir, checks, counts, network_note,
                           schedule.faults if schedule is not None else 0)
        record = {
            **metadata, "verdict": verdict, "exit_code": result.exit_code, "counts": counts, "client_errors": errors,
            "faults_injected": result.faults, "nemesis_errors": schedule.errors if schedule is not None else [],
            "recovered": healthy_again, "checks": [_check_record(check) for check in checks],
            "command": _command_line(config, seed),
            "member_reactions": _member_reactions(history),
        }
        if isinstance(network, ProxyNetwork):
            # What went through each link (connections, bytes, connections held during cuts).
            record["proxy_links"] = network.links()
            record["proxy_errors"] = list(network.errors)
        (run_dir / "results.json").write_text(json.dumps(record, indent=2, default=repr) + "\n")
        (run_dir / "verdicts.txt").write_text(_verdicts_text(record, checks))
        try:
            from jepsen_like.report import render_report

            render_report(history, run_dir, check=checks[0], plots=config.plots,
                          title=f"{config.system} {config.workload} {metadata['nemesis']} (client {config.client})")
        except Exception as problem:  # noqa: BLE001 - the verdict stands without pictures
            log(f"report not rendered: {problem}")
        progress.done()
        return result
    except NemesisUnavailable as problem:
        raise RunImpossible(str(problem)) from None
    finally:
        _close_all(workers)
        if writer is not None:
            writer.close()
        if ensemble is not None:
            ensemble.stop_all()
        if network is not None:
            network.destroy()
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def _network_for(config: RunConfig, seed: int) -> tuple[Network | ProxyNetwork | None, str, str]:
    """The network between the members (created, so the caller must destroy it), its kind
    (``netns``, ``proxy``, ``loopback`` or ``none`` for one member) and the results' note."""
    if config.network not in NETWORKS:
        raise RunImpossible(f"unknown network {config.network!r}; known: {', '.join(NETWORKS)}")
    if config.nodes == 1:
        return None, "none", "one member: 127.0.0.1"
    names = [f"n{i}" for i in range(1, config.nodes + 1)]
    reason = network_unavailable_reason()
    if config.network == "netns" or (config.network == "auto" and reason is None):
        if reason is not None:
            raise RunImpossible(f"network namespaces unavailable: {reason}")
        network = Network(names)
        try:
            network.create()
        except BaseException:
            network.destroy()  # a half-built network is removed before the error goes on
            raise
        note = f"network namespaces on bridge {network.bridge} ({network.subnet})"
        if not network.delay_available:
            note += "; no netem in this kernel, so flaky links lose packets but are not delayed"
        return network, "netns", note
    if config.network in ("proxy", "auto"):
        proxy = ProxyNetwork(names, seed=seed + 1).create()
        why = "asked for" if config.network == "proxy" else f"namespaces unavailable: {reason}"
        return proxy, "proxy", (f"proxy: TCP fault proxy on 127.0.0.1, NOT network namespaces ({why}); partitions "
                                f"cut member-to-member links only (clients reach every member directly); loss and "
                                f"delay act on the byte stream, not on packets")
    return None, "loopback", ("127.0.0.1 without namespaces or proxy (asked for: --network loopback); network "
                              "nemeses refused")


def _coord_settings(config: RunConfig) -> tuple[dict[str, object], dict[str, str]]:
    """Extra zoo.cfg keys and environment for coord members; refuses what ZooKeeper cannot do."""
    settings: dict[str, object] = {}
    env: dict[str, str] = {}
    if config.reads == "linearizable" and config.workload == "register":
        if config.system != "coord":
            raise RunImpossible("--reads linearizable needs coord (coord.linearizableReads=true); ZooKeeper has "
                                "no linearizable plain read: use --reads sync (sync, then read) instead")
        settings["coord.linearizableReads"] = "true"
    if config.planted_bug is not None:
        from coord.planted_bugs import ALLOW_ENV, ALLOW_VALUE, PLANTED_BUGS

        if config.system != "coord":
            raise RunImpossible("planted bugs are switches in coord; ZooKeeper has none")
        if config.planted_bug not in PLANTED_BUGS:
            raise RunImpossible(f"unknown planted bug {config.planted_bug!r}; known: {', '.join(PLANTED_BUGS)}")
        settings["coord.plantedBug"] = config.planted_bug
        env[ALLOW_ENV] = ALLOW_VALUE
    return settings, env


def _restore(ensemble: Ensemble) -> None:
    """Undo every fault, whatever state the nemesis left: rules flushed, members continued/started."""
    if ensemble.network is not None:
        ensemble.network.heal()
    for name in ensemble.names:
        ensemble.resume(name)
    for name in ensemble.names:
        if not ensemble.running(name):
            ensemble.start(name)


def _member_reactions(history) -> list[str]:
    """What each member did about a damaged log (the disk nemesis adds it to the heal event)."""
    reactions = []
    for event in history.nemesis_events():
        value = event.value
        if event.get("fault") == "end" and isinstance(value, dict):
            value = value.get("injected", value)  # under mixed, the chosen nemesis's description
            if isinstance(value, dict) and "member_did" in value:
                reactions.append(f"{value['member']} {value['kind']} ({value['damage']}): {value['member_did']}")
    return reactions


def _close_all(workers: list, timeout_s: float = 30.0) -> None:
    """Close every worker's session at once: one kazoo ``stop`` took one to two seconds after a
    fault here, and closing ten in turn added 15 s to a six-second run. Bounded: a close that
    hangs is left to its daemon thread."""
    threads = [threading.Thread(target=worker.close, daemon=True) for worker in workers if worker.client is not None]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _command_line(config: RunConfig, seed: int) -> str:
    parts = ["python -m jepsen_like run", f"--system {config.system}", f"--nodes {config.nodes}",
             f"--workload {config.workload}", f"--nemesis {getattr(config.nemesis, 'name', config.nemesis)}", f"--time {config.time_s:g}",
             f"--concurrency {config.concurrency}", f"--seed {seed}"]
    if config.workload == "register":
        parts.append(f"--reads {config.reads}")
    if config.planted_bug is not None:
        parts.append(f"--planted-bug {config.planted_bug}")
    if config.network != "auto":
        parts.append(f"--network {config.network}")
    if config.client != "kazoo":
        parts.append(f"--client {config.client}")
    return " ".join(parts)


def _verdicts_text(record: dict[str, Any], checks: list) -> str:
    lines = [record["verdict"], f"{record['command']}"]
    if record.get("planted_bug"):
        lines.append(f"PLANTED BUG: {record['planted_bug']} (coord ran with a guarantee switched off on purpose)")
    lines += [f"ensemble: {record['ensemble']}",
             f"client: {record['client']}",
             f"network: {record['network']}",
             f"operations: {record['counts']}; faults injected: {record['faults_injected']}"]
    if record["client_errors"]:
        lines.append(f"client errors: {record['client_errors']}")
    if record["nemesis_errors"]:
        lines.append(f"nemesis errors: {record['nemesis_errors']}")
    for reaction in record.get("member_reactions", []):
        lines.append(f"disk fault: {reaction}")
    if record.get("reads") == "local":
        lines.append("reads: local (plain getData on whichever member the client is connected to). ZooKeeper "
                     "promises these sequential consistency, not linearizability: stale reads are expected, and "
                     "the linearizability checker reports them.")
    for check in checks:
        lines.append("")
        lines.append(check.render())
    return "\n".join(lines) + "\n"
