"""The checker against the published verdicts of Porcupine and Knossos on their own test data.

The data is read from ../shared at test time (see conftest.py) and the tests skip without it. Each
check gets a budget; a budget that runs out gives "unknown", which fails these tests just as a
wrong verdict does. The mutation tests break the histories in the ways the data's READMEs describe
and expect the verdicts to change the way they say.
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from jepsen_like.checker.linearizability import LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN, Budget, check_linearizability
from jepsen_like.checker.locks import check_lock
from jepsen_like.checker.models import KvModel, MultiRegisterModel, MutexModel, RegisterModel
from jepsen_like.formats import FORMAT_DEFAULTS, read_history

from .conftest import KNOSSOS_DATA, PORCUPINE_DATA, data_dir, expected_rows

BUDGET = Budget(time_s=30, max_memo_entries=1_000_000)
PORCUPINE_REGISTER = RegisterModel(**FORMAT_DEFAULTS["porcupine"])
KNOSSOS_REGISTER = RegisterModel(**FORMAT_DEFAULTS["knossos"])
VERDICTS = {"true": LINEARIZABLE, "false": NOT_LINEARIZABLE}


def model_for(name: str):
    if name == "etcd-register":
        return PORCUPINE_REGISTER
    if name.startswith("kv"):
        return KvModel()
    if name.startswith("cas-register"):
        return KNOSSOS_REGISTER
    if name.startswith("multi-register"):
        return MultiRegisterModel(initial=0, nil_read_is_wildcard=True)
    if name.startswith("mutex"):
        return MutexModel()
    raise AssertionError(f"expected.tsv names a model this test does not know: {name}")


def asserted(path, fmt):
    rows = [row for row in expected_rows(data_dir(path)) if row["expected_linearizable"] in VERDICTS]
    return [(path / row["file"], fmt, model_for(row["model"]), VERDICTS[row["expected_linearizable"]]) for row in rows]


def test_porcupine_verdicts():
    cases = asserted(PORCUPINE_DATA, "porcupine")
    assert len(cases) == 108 and sum(v == LINEARIZABLE for *_, v in cases) == 26  # as the README counts
    _expect_all(cases)


def test_knossos_verdicts():
    cases = asserted(KNOSSOS_DATA, "knossos")
    assert len(cases) == 121 and sum(v == LINEARIZABLE for *_, v in cases) == 114
    _expect_all(cases)


def _expect_all(cases):
    wrong = []
    for path, fmt, model, expected in cases:
        result = check_linearizability(read_history(path, fmt).operations(), model, BUDGET)
        if result.verdict != expected:
            wrong.append(f"{path.name}: {result.verdict} ({result.reason}), expected {expected}")
    assert not wrong, "\n".join(wrong)


def test_knossos_unasserted_mutex_history():
    """Knossos does not assert a verdict for mutex/bad/etcd.edn; its README's throwaway check says
    not linearizable: a release that failed ("lease not found") never happened, so the lock was
    still held when another process acquired it. The lock checker, which goes by what holders
    observed, sees no overlap: a holder stops being "observed" once it tries to release."""
    history = read_history(data_dir(KNOSSOS_DATA) / "mutex/bad/etcd.edn", "knossos")
    result = check_linearizability(history.operations(), MutexModel(), BUDGET)
    assert result.verdict == NOT_LINEARIZABLE
    assert result.counterexample.failing_op.f == "acquire"
    assert check_lock(history.operations()).verdict == "valid"


def test_empty_porcupine_log_has_no_operations():
    assert read_history(data_dir(PORCUPINE_DATA) / "jepsen/etcd_095.log", "porcupine").events == []


def test_c50_bad_exits_early_although_other_keys_are_hopeless():
    """Keys 0, 5, 7, 8, 9 of c50-bad grow without end; 1, 2, 3, 4 and 6 are illegal at once."""
    ops = read_history(data_dir(PORCUPINE_DATA) / "kv/c50-bad.txt", "porcupine").operations()
    result = check_linearizability(ops, KvModel(), Budget(time_s=30, max_memo_entries=300_000))
    assert result.verdict == NOT_LINEARIZABLE
    assert result.counterexample.key in {"1", "2", "3", "4", "6"}
    hopeless = [op for op in ops if op.key == "0"]
    result = check_linearizability(hopeless, KvModel(), Budget(time_s=30, max_memo_entries=100_000))
    assert result.verdict == UNKNOWN, "a budget that runs out must never say linearizable"
    assert result.partitions["0"].memo_entries <= 100_000 + Budget().slice_steps


@pytest.mark.parametrize("name", ["c01-ok", "c01-bad", "c10-ok", "c10-bad"])
def test_kv_whole_map_agrees_with_per_key(name):
    """P-compositionality, checked: the unpartitioned kv model gives the same verdicts."""
    ops = read_history(data_dir(PORCUPINE_DATA) / f"kv/{name}.txt", "porcupine").operations()
    expected = LINEARIZABLE if name.endswith("ok") else NOT_LINEARIZABLE
    assert check_linearizability(ops, KvModel(partitioned=True), BUDGET).verdict == expected
    assert check_linearizability(ops, KvModel(partitioned=False), BUDGET).verdict == expected


# --- mutations -------------------------------------------------------------------------------------


def _linearizable(path, fmt, prefix):
    return [(p, f, m) for p, f, m, v in asserted(path, fmt) if v == LINEARIZABLE and p.relative_to(path).parts[0] == prefix]


def _verdict(ops, model):
    return check_linearizability(ops, model, BUDGET).verdict


def test_unknown_outcome_ops_must_stay_open():
    """Porcupine README: closing :info ops at their :info line makes 21 of the 23 linearizable etcd
    histories come out false; dropping them, 20."""
    cases = _linearizable(data_dir(PORCUPINE_DATA), "porcupine", "jepsen")
    assert len(cases) == 23
    closed_false = dropped_false = 0
    for path, fmt, model in cases:
        ops = read_history(path, fmt).operations()
        closed = [dataclasses.replace(op, return_index=op.completion_index) if op.is_open else op for op in ops]
        dropped = [op for op in ops if not op.is_open]
        closed_false += _verdict(closed, model) == NOT_LINEARIZABLE
        dropped_false += _verdict(dropped, model) == NOT_LINEARIZABLE
        assert _verdict(ops, model) == LINEARIZABLE
    assert (closed_false, dropped_false) == (21, 20)


def test_crashed_cas_must_be_allowed_no_effect():
    """Porcupine README: if a crashed CAS must take effect, 37 of Knossos's 113 good cas-register
    histories come out false."""
    cases = _linearizable(data_dir(KNOSSOS_DATA), "knossos", "cas-register")
    assert len(cases) == 113
    false = 0
    for path, fmt, model in cases:
        history = read_history(path, fmt)
        end = len(history.events)
        forced = [dataclasses.replace(op, outcome="ok", output=op.value, return_index=end)
                  if op.is_open and op.f == "cas" else op for op in history.operations()]
        false += _verdict(forced, model) == NOT_LINEARIZABLE
    assert false == 37


def test_flipping_one_read_breaks_every_linearizable_register_history():
    """Change one successful read (the middle one with a real value) to a value nobody wrote."""
    cases = (_linearizable(data_dir(PORCUPINE_DATA), "porcupine", "jepsen")
             + _linearizable(data_dir(KNOSSOS_DATA), "knossos", "cas-register"))
    flipped = 0
    slowest = (0.0, "")
    for path, fmt, model in cases:
        ops = read_history(path, fmt).operations()
        reads = [op for op in ops if op.f == "read" and op.outcome == "ok" and op.output is not None]
        if not reads:
            continue
        target = reads[len(reads) // 2]
        mutated = [dataclasses.replace(op, output=99) if op is target else op for op in ops]
        started = time.monotonic()
        result = check_linearizability(mutated, model, BUDGET)
        slowest = max(slowest, (time.monotonic() - started, path.name))
        assert result.verdict == NOT_LINEARIZABLE, f"{path.name}: {result.verdict} {result.reason}"
        assert result.counterexample.failing_op.id == target.id or target in result.counterexample.window
        flipped += 1
    assert flipped >= 130, flipped  # all but the few histories without a non-nil read
    print(f"flipped {flipped}; slowest {slowest[1]} in {slowest[0]:.2f} s")


def test_flipping_a_kv_read_breaks_c10_ok():
    ops = read_history(data_dir(PORCUPINE_DATA) / "kv/c10-ok.txt", "porcupine").operations()
    gets = [op for op in ops if op.f == "get" and op.output]
    target = gets[len(gets) // 2]
    mutated = [dataclasses.replace(op, output=op.output + "!") if op is target else op for op in ops]
    result = check_linearizability(mutated, KvModel(), BUDGET)
    assert result.verdict == NOT_LINEARIZABLE and result.counterexample.key == target.key
