"""``python -m jepsen_like check`` and ``report``: verdicts, exit codes, and the files a person reads."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jepsen_like.cli import main
from jepsen_like.formats import read_history
from jepsen_like.history import HistoryWriter
from jepsen_like.report import nemesis_intervals

from .conftest import KNOSSOS_DATA, PORCUPINE_DATA, data_dir

REPO = Path(__file__).resolve().parents[2]


def write_register_history(path, stale_read=False):
    with HistoryWriter(path, {"model": "register"}) as writer:
        writer.invoke(0, "write", 1)
        writer.ok(0, "write", 1)
        writer.nemesis("partition", "n1 | n2 n3", fault="begin")
        writer.invoke(1, "read")
        writer.ok(1, "read", 0 if stale_read else 1)
        writer.invoke(2, "write", 2)
        writer.info(2, "write", 2)
        writer.nemesis("heal", fault="end")
        writer.invoke(3, "cas", [1, 3])
        writer.fail(3, "cas", [1, 3])
    return path


def test_check_command_runs_as_a_module(tmp_path):
    history = write_register_history(tmp_path / "history.jsonl", stale_read=True)
    done = subprocess.run([sys.executable, "-m", "jepsen_like", "check", str(history)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[0] == "not linearizable"
    assert "read -> 0" in done.stdout


def test_check_exit_codes(tmp_path, capsys):
    good = write_register_history(tmp_path / "good.jsonl")
    assert main(["check", str(good)]) == 0  # model named in the header
    assert capsys.readouterr().out.startswith("linearizable\n")
    assert main(["check", "--max-memo-entries", "0", "--json", str(good)]) == 2
    assert json.loads(capsys.readouterr().out)["verdict"] == "unknown"
    assert main(["check", "--model", "kv", str(good)]) == 65  # a register history is not a kv one
    assert main(["check", "--model", "mutex", "--initial", "0", str(good)]) == 64
    assert main(["check", str(tmp_path / "missing.jsonl")]) == 65
    with pytest.raises(SystemExit) as usage:
        main(["check", "--format", "yaml", str(good)])
    assert usage.value.code == 64


def test_check_external_formats_with_their_defaults(capsys):
    porcupine = data_dir(PORCUPINE_DATA)
    knossos = data_dir(KNOSSOS_DATA)
    assert main(["check", "--model", "register", "--format", "porcupine", str(porcupine / "jepsen/etcd_002.log")]) == 0
    assert main(["check", "--model", "register", "--format", "porcupine", str(porcupine / "jepsen/etcd_000.log")]) == 1
    assert main(["check", "--model", "kv", "--format", "porcupine", str(porcupine / "kv/c10-bad.txt")]) == 1
    bad_analysis = str(knossos / "cas-register/bad/bad-analysis.edn")
    assert main(["check", "--model", "cas-register", "--format", "knossos", bad_analysis]) == 1
    good = str(knossos / "cas-register/good/memstress3-20.edn")
    assert main(["check", "--model", "register", "--format", "knossos", good]) == 0
    # Knossos data under our defaults (start nil, nil reads exact) is not linearizable: the options matter.
    assert main(["check", "--model", "register", "--format", "knossos", "--initial", "nil", "--exact-nil-reads",
                 good]) == 1
    assert main(["check", "--checker", "lock", "--format", "knossos", str(knossos / "mutex/bad/etcd.edn")]) == 0
    capsys.readouterr()


def test_report_of_our_own_run_dir(tmp_path, capsys):
    write_register_history(tmp_path / "history.jsonl", stale_read=True)
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VERDICT: NOT LINEARIZABLE")
    for name in ("summary.txt", "index.html", "timeline.html", "timeline.png", "counterexample.png",
                 "latency.png", "throughput.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    page = (tmp_path / "timeline.html").read_text()
    assert "<svg" in page and page.count("class='op ") == 4
    assert "class='op ok culprit'" in page  # the stale read is outlined
    assert "class='nemesis'" in page and "partition" in page
    assert "Faults (1, in s): partition" in (tmp_path / "summary.txt").read_text()
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_of_a_knossos_history(tmp_path, capsys):
    source = data_dir(KNOSSOS_DATA) / "mutex/bad/etcd.edn"
    out_dir = tmp_path / "report"
    assert main(["report", str(out_dir), "--history", str(source), "--format", "knossos", "--model", "mutex"]) == 0
    summary = (out_dir / "summary.txt").read_text()
    assert summary.startswith("VERDICT: NOT LINEARIZABLE")
    assert "Faults (3, in s): start 5.0..10.0; start 15.0..20.0; start 25.0..30.0" in summary
    assert "563 operations by 5 processes over 34.5 s" in summary
    capsys.readouterr()


def test_nemesis_intervals_from_jepsen_names():
    events = read_history(data_dir(KNOSSOS_DATA) / "cas-register/bad/cas-failure.edn", "knossos").events
    intervals = nemesis_intervals(events)
    assert len(intervals) == 2
    assert all(i.end is not None and i.end > i.start for i in intervals)
    assert intervals[0].label.startswith("start Cut off")


def test_run_options_carry_the_client(tmp_path):
    from jepsen_like.cli import _build_parser, _run_config
    from jepsen_like.runner import RunConfig, RunImpossible, run

    parser = _build_parser()
    assert _run_config(parser.parse_args(["run"])).client == "kazoo"  # the default
    assert _run_config(parser.parse_args(["run", "--client", "coord"])).client == "coord"  # also the quick suite's
    with pytest.raises(RunImpossible, match="unknown client 'nope'; known: kazoo, coord"):
        run(RunConfig(client="nope", out=tmp_path / "run", progress=False))
