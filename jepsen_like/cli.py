"""``python -m jepsen_like check|report``: the command line over the checkers and the report.

Exit codes (``check``): 0 linearizable / valid, 1 not, 2 unknown (a budget ran out, or nothing to
check). 64 for a bad command line and 65 for a history that cannot be read, so a wrapper script can
never mistake a typo for a verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from jepsen_like.checker.ephemerals import check_ephemerals
from jepsen_like.checker.ids import check_sequential_ids
from jepsen_like.checker.linearizability import Budget, LinearizabilityResult, check_linearizability
from jepsen_like.checker.locks import check_lock
from jepsen_like.checker.models import FAILED_CAS_CHOICES, MODELS, Model, ModelError, make_model
from jepsen_like.checker.result import CheckResult
from jepsen_like.checker.sessions import check_session_guarantees
from jepsen_like.checker.sets import check_set
from jepsen_like.checker.watches import check_watches
from jepsen_like.formats import FORMAT_DEFAULTS, FORMATS, read_history
from jepsen_like.formats import edn
from jepsen_like.formats.edn import EdnSyntaxError
from jepsen_like.history import History, HistoryError
from coord.planted_bugs import PLANTED_BUGS
from jepsen_like.client_adapters import CLIENTS

WORKLOAD_NAMES = ("register", "lock", "sequential", "ephemeral", "watches", "set")
NEMESIS_NAMES = ("none", "kill", "kill-leader", "pause", "pause-leader", "partition-one", "partition-leader",
                 "partition-majority", "partition-bridge", "partition-ring", "flaky", "disk", "mixed")

EXIT_USAGE = 64
EXIT_DATA_ERROR = 65

OTHER_CHECKERS = {
    "set": check_set,
    "sequential-ids": check_sequential_ids,
    "lock": check_lock,
    "session-guarantees": check_session_guarantees,
    "ephemerals": check_ephemerals,
    "watches": check_watches,
}
CHECKERS = ("linearizability", *OTHER_CHECKERS)

# Which register-like options each model takes (the rest of a format's defaults do not apply to it).
_MODEL_OPTIONS = {
    "register": ("initial", "nil_read_is_wildcard", "failed_cas"),
    "cas-register": ("initial", "nil_read_is_wildcard", "failed_cas"),
    "multi-register": ("initial", "nil_read_is_wildcard"),
    "kv": ("partitioned",),
    "mutex": (),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class _UsageError(Exception):
    pass


def _parse_value(text: str) -> Any:
    """``--initial`` takes JSON (``0``, ``"a"``, ``null``, ``{"x": 0}``) or EDN (``nil``,
    ``{:x 0 :y 0}``, a map as a user copies it from Knossos); anything else is a plain string.
    Map keys become plain strings (EDN keywords lose their colon), as registers are named in
    histories."""
    if text == "nil":
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        if not text.lstrip().startswith("{"):
            return text
        try:
            value = edn.loads(text)
        except EdnSyntaxError as problem:
            raise argparse.ArgumentTypeError(f"not a JSON or EDN map: {problem}") from None
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    return value


def _add_history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="history file format (default jsonl)")


def _add_checker_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("checking")
    group.add_argument("--checker", choices=CHECKERS, default=None,
                       help="which check (default linearizability, or the history header's 'checker')")
    group.add_argument("--model", choices=sorted(MODELS), help="model for linearizability (default: the header's)")
    group.add_argument("--initial", type=_parse_value, metavar="VALUE",
                       help="register start value, JSON or nil (format default: nil; knossos: 0)")
    wildcard = group.add_mutually_exclusive_group()
    wildcard.add_argument("--nil-read-is-wildcard", dest="nil_read_is_wildcard", action="store_true", default=None,
                          help="a read of nil matches any value (Knossos; default for --format knossos)")
    wildcard.add_argument("--exact-nil-reads", dest="nil_read_is_wildcard", action="store_false",
                          help="a read of nil means the register held nil")
    group.add_argument("--failed-cas", choices=FAILED_CAS_CHOICES,
                       help="a failed cas never happened, or ran with a failed compare (porcupine default)")
    group.add_argument("--unpartitioned", action="store_true", help="kv: check the whole map as one object")
    group.add_argument("--time-budget-s", type=float, default=60.0, help="give up with 'unknown' after this long")
    group.add_argument("--max-memo-entries", type=int, default=2_000_000,
                       help="give up on a key with 'unknown' once the search memo holds this many configurations")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m jepsen_like", description="Check and report on Jepsen-style histories.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    check = commands.add_parser("check", help="check a history; prints the verdict first, exits 0/1/2")
    check.add_argument("file", type=Path)
    _add_history_arguments(check)
    _add_checker_arguments(check)
    check.add_argument("--json", action="store_true", help="print a JSON object instead of text")

    report = commands.add_parser("report", help="render timeline, plots and summary into RUN_DIR")
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    report.add_argument("--history", type=Path, help="history file (default RUN_DIR/history.jsonl)")
    _add_history_arguments(report)
    _add_checker_arguments(report)
    report.add_argument("--title", help="page title (default: the history's file name)")

    from jepsen_like.runner import RunConfig

    defaults = RunConfig()
    run = commands.add_parser("run", help="run a workload against a real ensemble under a nemesis; exits 0/1/2")
    run.add_argument("--system", choices=("coord", "zookeeper"), default=defaults.system)
    run.add_argument("--nodes", type=int, choices=(1, 3, 5), default=defaults.nodes)
    run.add_argument("--workload", choices=WORKLOAD_NAMES, default=defaults.workload)
    run.add_argument("--nemesis", choices=NEMESIS_NAMES, default=defaults.nemesis)
    run.add_argument("--time", type=float, default=defaults.time_s, metavar="S", help="seconds of workload")
    run.add_argument("--concurrency", type=int, default=defaults.concurrency, metavar="C", help="client sessions")
    run.add_argument("--seed", type=int, help="random seed (default: random, printed and saved)")
    run.add_argument("--out", type=Path, metavar="RUN_DIR", help="results folder (default under jepsen-results/)")
    run.add_argument("--reads", choices=("sync", "local", "linearizable"), default=defaults.reads,
                     help="register reads: sync then read (default), plain local reads (may be stale), or "
                          "linearizable (coord only: coord.linearizableReads=true, plain reads)")
    run.add_argument("--client", choices=tuple(CLIENTS), default=defaults.client,
                     help="the client library the workers use: kazoo (default: independent of coord, so coord and "
                          "ZooKeeper are compared through the same third-party client) or coord (coord's own "
                          "blocking client, against either system)")
    run.add_argument("--planted-bug", choices=PLANTED_BUGS, default=None,
                     help="TEST ONLY (coord): run the members with this bug planted, to see the checkers catch it")
    run.add_argument("--quiet", type=float, default=defaults.quiet_s, metavar="S", help="seconds between faults")
    run.add_argument("--fault", type=float, default=defaults.fault_s, metavar="S", help="seconds each fault lasts")
    run.add_argument("--network", choices=("auto", "netns", "proxy", "loopback"), default=defaults.network,
                     help="auto: namespaces when root (with ip and nft), else the TCP fault proxy between members; "
                          "loopback: members talk directly, no network faults")
    run.add_argument("--suite", choices=("quick",), help="quick: a short run of every workload x nemesis, as a table")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no progress line")
    run.add_argument("--no-plots", dest="plots", action="store_false",
                     help="skip the PNG plots (about 2 s a run): summary, verdicts and timeline.html are still written")
    return parser


def build_model(args: argparse.Namespace, history: History) -> Model:
    """The model named on the command line or in the history header, with the format's defaults
    for options not given explicitly."""
    name = args.model or history.metadata.get("model")
    if name is None:
        raise _UsageError("no --model given and the history header names none")
    if name not in MODELS:
        raise _UsageError(f"unknown model {name!r}")
    options: dict[str, Any] = dict(FORMAT_DEFAULTS[args.format])
    options.update(history.metadata.get("model_options") or {})
    if args.initial is not None:
        options["initial"] = args.initial
    if args.nil_read_is_wildcard is not None:
        options["nil_read_is_wildcard"] = args.nil_read_is_wildcard
    if args.failed_cas is not None:
        options["failed_cas"] = args.failed_cas
    if args.unpartitioned:
        options["partitioned"] = False
    accepted = _MODEL_OPTIONS[name]
    if isinstance(options.get("initial"), dict) and name != "multi-register":
        raise _UsageError(f"the {name} model holds one value, so --initial takes one value, not a map "
                          f"(a map of per-register values is for --model multi-register)")
    for explicit, given in (("initial", args.initial is not None), ("nil_read_is_wildcard", args.nil_read_is_wildcard
                            is not None), ("failed_cas", args.failed_cas is not None),
                            ("partitioned", args.unpartitioned)):
        if given and explicit not in accepted:
            raise _UsageError(f"the {name} model takes no {explicit.replace('_', '-')} option")
    return make_model(name, **{key: value for key, value in options.items() if key in accepted})


def run_check(args: argparse.Namespace, history: History) -> LinearizabilityResult | CheckResult:
    checker = args.checker or history.metadata.get("checker") or "linearizability"
    if checker not in CHECKERS:
        raise _UsageError(f"unknown checker {checker!r}")
    operations = history.operations()
    if checker == "linearizability":
        model = build_model(args, history)
        budget = Budget(time_s=args.time_budget_s, max_memo_entries=args.max_memo_entries)
        return check_linearizability(operations, model, budget)
    return OTHER_CHECKERS[checker](operations)


def _result_json(result: LinearizabilityResult | CheckResult) -> dict[str, Any]:
    if isinstance(result, CheckResult):
        return {"checker": result.checker, "verdict": result.verdict, "summary": result.summary,
                "counts": result.counts, "problems": result.problems}
    data: dict[str, Any] = {
        "checker": "linearizability",
        "verdict": result.verdict,
        "model": repr(result.model),
        "reason": result.reason,
        "operations": result.operations_checked,
        "partitions": result.partitions_total,
        "elapsed_s": round(result.elapsed_s, 3),
    }
    if result.counterexample is not None:
        example = result.counterexample
        data["counterexample"] = {
            "key": example.key,
            "failing_op": example.failing_op.id,
            "window_ops": [op.id for op in example.window],
            "open_ops": [op.id for op in example.open_ops],
            "window_events": [example.window_start_index, example.window_end_index],
            "states": [result.model.describe_state(config.state) for config in example.configurations],
            "text": example.render(result.model),
        }
    return data


def _load(args: argparse.Namespace, path: Path) -> History:
    history = read_history(path, args.format)
    if history.truncated_tail:
        print(f"note: {path} ends in a torn line (the run was killed while writing); it was ignored", file=sys.stderr)
    return history


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "run":
        return _run_command(args)
    try:
        if args.command == "check":
            history = _load(args, args.file)
            result = run_check(args, history)
            if args.json:
                print(json.dumps(_result_json(result), indent=2, default=repr))
            else:
                print(result.render())
            return result.exit_code
        from jepsen_like.report import render_report  # matplotlib is only needed here

        path = args.history or args.run_dir / "history.jsonl"
        history = _load(args, path)
        check = None
        if args.model or args.checker or history.metadata.get("model") or history.metadata.get("checker"):
            check = run_check(args, history)
        args.run_dir.mkdir(parents=True, exist_ok=True)
        report = render_report(history, args.run_dir, check=check, title=args.title or path.name,
                               history_format=args.format)
        print(report.summary)
        print(f"\nwrote {', '.join(str(p) for p in report.files)}")
        return 0
    except _UsageError as problem:
        print(f"python -m jepsen_like: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except (HistoryError, EdnSyntaxError, ModelError, UnicodeDecodeError) as problem:
        print(f"python -m jepsen_like: cannot use this history: {problem}", file=sys.stderr)
        return EXIT_DATA_ERROR
    except (FileNotFoundError, IsADirectoryError, PermissionError) as problem:
        print(f"python -m jepsen_like: {problem}", file=sys.stderr)
        return EXIT_DATA_ERROR


def _run_config(args: argparse.Namespace, **overrides: Any):
    from jepsen_like.runner import RunConfig

    settings = dict(system=args.system, nodes=args.nodes, workload=args.workload, nemesis=args.nemesis,
                    time_s=args.time, concurrency=args.concurrency, seed=args.seed, out=args.out, reads=args.reads,
                    quiet_s=args.quiet, fault_s=args.fault, network=args.network, progress=args.progress,
                    planted_bug=args.planted_bug, client=args.client, plots=args.plots)
    settings.update(overrides)
    return RunConfig(**settings)


def _run_command(args: argparse.Namespace) -> int:
    from jepsen_like.cluster import ServerStartError
    from jepsen_like.runner import RunImpossible, run

    if args.concurrency < 1 or args.time <= 0:
        print("python -m jepsen_like run: error: --concurrency and --time must be positive", file=sys.stderr)
        return EXIT_USAGE
    if args.suite == "quick":
        return _quick_suite(args)
    try:
        result = run(_run_config(args))
    except RunImpossible as problem:
        print(f"python -m jepsen_like run: cannot run: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except ServerStartError as problem:
        # Nothing was checked, so no verdict: "unknown".
        print(f"python -m jepsen_like run: the ensemble did not start: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m jepsen_like run: interrupted; everything it started has been stopped", file=sys.stderr)
        return 130
    print((result.run_dir / "verdicts.txt").read_text(), end="")
    print(f"results in {result.run_dir}")
    return result.exit_code


def _quick_suite(args: argparse.Namespace) -> int:
    """Every workload x nemesis, short, each in its own folder under --out; a table at the end."""
    from jepsen_like.runner import RunImpossible, run

    via = "" if args.client == "kazoo" else f"-via-{args.client}"
    base = args.out or Path("jepsen-results") / f"quick-{args.system}-{args.nodes}{via}"
    rows = []
    worst = 0
    for workload in WORKLOAD_NAMES:
        for nemesis in NEMESIS_NAMES:
            config = _run_config(args, workload=workload, nemesis=nemesis, out=base / f"{workload}-{nemesis}",
                                 time_s=min(args.time, 15.0), quiet_s=min(args.quiet, 2.0),
                                 fault_s=min(args.fault, 3.0), progress=False)
            try:
                result = run(config)
            except RunImpossible as problem:
                rows.append((workload, nemesis, "skipped", "", str(problem)[:60]))
                continue
            worst = max(worst, result.exit_code)
            rows.append((workload, nemesis, result.verdict, str(result.counts.get("operations", 0)),
                         "; ".join(c.render().splitlines()[1][:60] for c in result.checks[:1])))
            print(f"{workload:<11} {nemesis:<19} {result.verdict}", file=sys.stderr)
    print(f"{'workload':<11} {'nemesis':<19} {'verdict':<10} {'ops':>6}  notes")
    for workload, nemesis, verdict, ops, note in rows:
        print(f"{workload:<11} {nemesis:<19} {verdict:<10} {ops:>6}  {note}")
    return worst
