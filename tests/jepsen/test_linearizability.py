"""The WGL checker against hand-made histories, a brute-force twin, and its budgets."""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from jepsen_like.checker.linearizability import (
    LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN, Budget, check_linearizability,
)
from jepsen_like.checker.models import ILLEGAL, KvModel, RegisterModel
from jepsen_like.history import Event, Operation, operations

from .conftest import ops_from_edn

KNOSSOS_REGISTER = RegisterModel(initial=0, nil_read_is_wildcard=True)


def test_empty_history_is_linearizable():
    assert check_linearizability([], RegisterModel()).verdict == LINEARIZABLE


def test_sequential_history():
    ops = ops_from_edn("""
        {:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
        {:process 0 :type :invoke :f :read :value nil} {:process 0 :type :ok :f :read :value 1}
        {:process 1 :type :invoke :f :cas :value [1 2]} {:process 1 :type :ok :f :cas :value [1 2]}
        {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 2}""")
    assert check_linearizability(ops, RegisterModel()).verdict == LINEARIZABLE


def test_stale_read_after_a_completed_write_is_caught():
    ops = ops_from_edn("""
        {:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
        {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value nil}""")
    result = check_linearizability(ops, RegisterModel())
    assert result.verdict == NOT_LINEARIZABLE
    assert result.counterexample.failing_op.f == "read"
    assert [config.state for config in result.counterexample.configurations] == [1]


def test_counterexample_names_the_window_and_the_states():
    # Knossos's rethink-fail-minimal: 0, then concurrently write 4 and read 3: 3 is impossible.
    ops = ops_from_edn("""
        {:type :invoke, :f :write, :value 0, :process 0} {:type :ok, :f :write, :value 0, :process 0}
        {:type :invoke, :f :read, :value nil, :process 1} {:type :invoke, :f :write, :value 4, :process 2}
        {:type :ok, :f :read, :value 3, :process 1} {:type :ok, :f :write, :value 4, :process 2}
        {:type :invoke, :f :read, :value nil, :process 3} {:type :ok, :f :read, :value 4, :process 3}""")
    result = check_linearizability(ops, KNOSSOS_REGISTER)
    example = result.counterexample
    assert result.verdict == NOT_LINEARIZABLE and result.exit_code == 1
    assert (example.failing_op.process, example.failing_op.output) == (1, 3)
    assert {op.process for op in example.window} == {1, 2}  # not the later read by process 3
    assert (example.window_start_index, example.window_end_index) == (2, 4)
    assert sorted(config.state for config in example.configurations) == [0, 4]
    text = result.render()
    assert text.splitlines()[0] == "not linearizable"
    assert "read -> 3 (p1, op 1): impossible" in text


def test_failed_operations_never_happened():
    # Knossos's immediate-failure: the only write of 3 failed, yet 3 was read.
    ops = ops_from_edn("""
        {:process 0 :type :invoke :f :write :value 3} {:process 0 :type :fail :f :write :value 3}
        {:process 1 :type :invoke :f :read :value nil} {:process 1 :type :ok :f :read :value 3}""")
    assert check_linearizability(ops, KNOSSOS_REGISTER).verdict == NOT_LINEARIZABLE


def test_unknown_outcome_may_take_effect_late_or_never():
    crashed_write = """
        {:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}
        {:process 1 :type :invoke :f :write :value 2} {:process 1 :type :info :f :write :value 2}
        {:process 2 :type :invoke :f :read :value nil} {:process 2 :type :ok :f :read :value 1}"""
    late = crashed_write + "{:process 3 :type :invoke :f :read :value nil} {:process 3 :type :ok :f :read :value 2}"
    ops = ops_from_edn(crashed_write)
    assert check_linearizability(ops, RegisterModel()).verdict == LINEARIZABLE  # never
    assert check_linearizability(ops_from_edn(late), RegisterModel()).verdict == LINEARIZABLE  # after its timeout
    # Closing the timed-out write at its info line forbids "never": the read of 1 after it is stale.
    closed = [o if o.outcome != "unknown" else Operation(**{**_fields(o), "return_index": o.completion_index})
              for o in ops]
    assert check_linearizability(closed, RegisterModel()).verdict == NOT_LINEARIZABLE


def test_identical_operations_are_not_interchangeable_when_one_must_finish_first():
    # Two "write 1"s: the second is called later but returns first, so it cannot wait for the first.
    ops = ops_from_edn("""
        {:process 0 :type :invoke :f :write :value 1}
        {:process 1 :type :invoke :f :write :value 1} {:process 1 :type :ok :f :write :value 1}
        {:process 2 :type :invoke :f :write :value 2} {:process 2 :type :ok :f :write :value 2}
        {:process 3 :type :invoke :f :read :value nil} {:process 3 :type :ok :f :read :value 1}
        {:process 0 :type :ok :f :write :value 1}""")
    assert check_linearizability(ops, RegisterModel()).verdict == LINEARIZABLE


def _fields(op):
    return {name: getattr(op, name) for name in op.__dataclass_fields__}


def test_partitions_are_independent_and_the_bad_key_is_named():
    ops = ops_from_edn("""
        {:process 0 :type :invoke :f :put :key "a" :value "x"} {:process 0 :type :ok :f :put :key "a" :value "x"}
        {:process 1 :type :invoke :f :get :key "b" :value nil} {:process 1 :type :ok :f :get :key "b" :value ""}
        {:process 1 :type :invoke :f :get :key "a" :value nil} {:process 1 :type :ok :f :get :key "a" :value "y"}""")
    result = check_linearizability(ops, KvModel())
    assert result.verdict == NOT_LINEARIZABLE and result.counterexample.key == "a"
    assert "on key 'a'" in result.render()


def _hopeless_and_bad(hard_writes=18):
    """Key "hard": many concurrent writes, then an impossible read, which takes the search through
    every subset of the writes. Key "bad": a plain stale read, found at once."""
    events, index = [], 0

    def add(type_, process, f, value, key):
        nonlocal index
        events.append(Event(index=index, type=type_, process=process, f=f, value=value, key=key))
        index += 1

    for p in range(hard_writes):
        add("invoke", p, "write", p, "hard")
    for p in range(hard_writes):
        add("ok", p, "write", p, "hard")
    add("invoke", 100, "read", None, "hard")
    add("ok", 100, "read", 999, "hard")
    add("invoke", 200, "write", 1, "bad")
    add("ok", 200, "write", 1, "bad")
    add("invoke", 201, "read", None, "bad")
    add("ok", 201, "read", 2, "bad")
    return operations(events)


def test_one_hopeless_key_does_not_hide_a_bad_one():
    result = check_linearizability(_hopeless_and_bad(), RegisterModel(), Budget(time_s=60, max_memo_entries=200_000))
    assert result.verdict == NOT_LINEARIZABLE and result.counterexample.key == "bad"


def test_memo_budget_gives_unknown_never_linearizable():
    hard_only = [op for op in _hopeless_and_bad() if op.key == "hard"]
    result = check_linearizability(hard_only, RegisterModel(), Budget(time_s=60, max_memo_entries=20_000))
    assert result.verdict == UNKNOWN and result.exit_code == 2
    assert "memo budget" in result.reason and result.partitions["hard"].verdict == UNKNOWN


def test_time_budget_gives_unknown():
    class FakeClock:
        now_s = 0.0

        def __call__(self):
            self.now_s += 1.0  # every look at the clock costs a second
            return self.now_s

    hard_only = [op for op in _hopeless_and_bad() if op.key == "hard"]
    result = check_linearizability(hard_only, RegisterModel(), Budget(time_s=5, max_memo_entries=None,
                                                                      slice_steps=100), clock=FakeClock())
    assert result.verdict == UNKNOWN and "time budget" in result.reason


# --- a brute-force twin ----------------------------------------------------------------------------


def brute_force_verdict(ops, model):
    """Deliberately simple: try every subset of the unknown-outcome ops and every order of the chosen
    ops that respects real time."""
    relevant = [op for op in ops if model.relevant(op)]
    keys = {model.partition_key(op) for op in relevant}
    for key in keys:
        part = [op for op in relevant if model.partition_key(op) == key]
        definite = [op for op in part if op.return_index is not None]
        pending = [op for op in part if op.return_index is None]
        if not any(_some_order_works(definite + list(chosen), model)
                   for size in range(len(pending) + 1) for chosen in itertools.combinations(pending, size)):
            return NOT_LINEARIZABLE
    return LINEARIZABLE


def _some_order_works(chosen, model):
    for order in itertools.permutations(chosen):
        if any(later.return_index is not None and later.return_index < earlier.call_index
               for i, earlier in enumerate(order) for later in order[i + 1:]):
            continue
        state = model.initial_state()
        for op in order:
            state = model.step(state, op)
            if state is ILLEGAL:
                break
        else:
            return True
    return False


@st.composite
def random_register_histories(draw, max_ops=7):
    """Random concurrent histories (mostly not linearizable): invocations and completions of three
    client slots, crashed processes replaced by fresh ids, random read results, some ops left open."""
    events, busy, slots, n_ops = [], {}, [0, 1, 2], 0
    keys = draw(st.sampled_from([[None], ["a", "b"]]))
    top = draw(st.sampled_from([1, 2]))  # few values: many identical ops, which the search treats specially
    while n_ops < max_ops or busy:
        idle = [p for p in slots if p not in busy]
        can_invoke = idle if n_ops < max_ops else []
        choice = draw(st.sampled_from([("invoke", p) for p in can_invoke] + [("complete", p) for p in busy]))
        process = choice[1]
        if choice[0] == "invoke":
            f = draw(st.sampled_from(["read", "write", "cas"]))
            value = {"read": None, "write": draw(st.integers(0, top)),
                     "cas": (draw(st.integers(0, top)), draw(st.integers(0, top)))}[f]
            key = draw(st.sampled_from(keys))
            busy[process] = (f, value, key)
            events.append(Event(len(events), "invoke", process, f, value, key=key))
            n_ops += 1
            continue
        f, value, key = busy.pop(process)
        kind = draw(st.sampled_from(["ok", "ok", "ok", "fail", "info", "pending"]))
        if kind == "pending" and n_ops >= max_ops:
            continue  # left open to the end
        if kind == "pending":
            kind = "ok"
        result = draw(st.sampled_from([None, *range(top + 1)])) if f == "read" and kind == "ok" else value
        events.append(Event(len(events), kind, process, f, result, key=key))
        if kind == "info":
            slots[slots.index(process)] = max(slots) + 1  # a crashed process never returns
    return events


MODELS = [
    RegisterModel(),
    RegisterModel(initial=0, nil_read_is_wildcard=True),
    RegisterModel(failed_cas="compare-failed"),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_register_histories(), st.sampled_from(MODELS))
def test_agrees_with_brute_force(events, model):
    ops = operations(events)
    assert check_linearizability(ops, model).verdict == brute_force_verdict(ops, model)


@st.composite
def histories_of_a_real_register(draw, max_ops=30):
    """Clients of an atomic register: each op takes effect at one instant between its invocation and
    completion (or, if it times out, maybe never). Such a history is linearizable by construction."""
    register = draw(st.sampled_from([None, 0]))
    initial = register
    events, slots, flight, n_ops = [], [0, 1, 2, 3], {}, 0
    while n_ops < max_ops or flight:
        moves = [("invoke", p) for p in slots if p not in flight and n_ops < max_ops]
        moves += [("apply", p) for p, op in flight.items() if not op["applied"]]
        moves += [("complete", p) for p, op in flight.items() if op["applied"]]
        moves += [("time out", p) for p in flight]
        move, process = draw(st.sampled_from(moves))
        if move == "invoke":
            f = draw(st.sampled_from(["read", "write", "cas"]))
            value = {"read": None, "write": draw(st.integers(0, 3)),
                     "cas": (draw(st.integers(0, 3)), draw(st.integers(0, 3)))}[f]
            flight[process] = {"f": f, "value": value, "applied": False, "result": None}
            events.append(Event(len(events), "invoke", process, f, value))
            n_ops += 1
        elif move == "apply":
            op = flight[process]
            op["applied"] = True
            if op["f"] == "read":
                op["result"] = ("ok", register)
            elif op["f"] == "write":
                register = op["value"]
                op["result"] = ("ok", op["value"])
            elif register == op["value"][0]:
                register = op["value"][1]
                op["result"] = ("ok", op["value"])
            else:
                op["result"] = ("fail", op["value"])  # ran, compare failed, no effect
        elif move == "complete":
            op = flight.pop(process)
            events.append(Event(len(events), op["result"][0], process, op["f"], op["result"][1]))
        else:
            op = flight.pop(process)
            events.append(Event(len(events), "info", process, op["f"], op["value"]))
            slots[slots.index(process)] = max(slots) + 1
    return initial, events


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories_of_a_real_register(), st.sampled_from(["never-happened", "compare-failed"]))
def test_histories_of_a_real_register_are_linearizable(generated, failed_cas):
    initial, events = generated
    model = RegisterModel(initial=initial, failed_cas=failed_cas)
    result = check_linearizability(operations(events), model, Budget(time_s=30))
    assert result.verdict == LINEARIZABLE, result.render()


@pytest.mark.parametrize("slice_steps", [1, 7, 4096])
def test_slicing_does_not_change_the_verdict(slice_steps):
    ops = _hopeless_and_bad(hard_writes=6)
    assert check_linearizability(ops, RegisterModel(), Budget(slice_steps=slice_steps)).verdict == NOT_LINEARIZABLE
    good = [op for op in ops if op.key == "hard" and op.f == "write"]
    assert check_linearizability(good, RegisterModel(), Budget(slice_steps=slice_steps)).verdict == LINEARIZABLE
