"""The sizes our suite will produce: hundreds of operations per key, tens of clients, many keys.

Every check runs under a budget; running out gives "unknown", which fails these tests. There is no
timing assertion (the machine is shared): the budget and pytest's timeout are the bounds.
"""

import dataclasses

import pytest

from jepsen_like.checker.linearizability import LINEARIZABLE, NOT_LINEARIZABLE, Budget, check_linearizability
from jepsen_like.checker.models import RegisterModel
from jepsen_like.history import operations

from .simulated import simulate_registers

BUDGET = Budget(time_s=60, max_memo_entries=2_000_000)


@pytest.mark.parametrize("failed_cas", ["never-happened", "compare-failed"])
@pytest.mark.parametrize("keys, ops_per_key, clients", [
    (1, 300, 30),  # thirty clients on one key
    (200, 100, 30),  # many keys
    (5, 300, 40),
])
def test_simulated_registers_are_linearizable(keys, ops_per_key, clients, failed_cas):
    ops = operations(simulate_registers(seed=keys * 7 + clients, keys=keys, ops_per_key=ops_per_key, clients=clients))
    result = check_linearizability(ops, RegisterModel(failed_cas=failed_cas), BUDGET)
    assert result.verdict == LINEARIZABLE, result.render()
    assert result.partitions_total == keys


def test_one_stale_read_among_many_keys_is_found():
    ops = operations(simulate_registers(seed=3, keys=300, ops_per_key=100, clients=30))
    reads = [op for op in ops if op.f == "read" and op.outcome == "ok"]
    target = reads[len(reads) // 2]
    mutated = [dataclasses.replace(op, output=17) if op is target else op for op in ops]  # 17 is never written
    result = check_linearizability(mutated, RegisterModel(), BUDGET)
    assert result.verdict == NOT_LINEARIZABLE and result.counterexample.key == target.key
    assert result.counterexample.failing_op.id == target.id


@pytest.mark.slow
@pytest.mark.parametrize("keys, ops_per_key, clients", [(2000, 200, 50), (1, 1000, 30), (10, 500, 60)])
def test_simulated_registers_at_size(keys, ops_per_key, clients):
    ops = operations(simulate_registers(seed=11, keys=keys, ops_per_key=ops_per_key, clients=clients))
    result = check_linearizability(ops, RegisterModel(), Budget(time_s=300, max_memo_entries=4_000_000))
    assert result.verdict == LINEARIZABLE, result.render()
