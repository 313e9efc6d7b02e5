import pytest

from jepsen_like.checker.models import ILLEGAL, KvModel, ModelError, MultiRegisterModel, MutexModel, RegisterModel, make_model
from jepsen_like.history import Operation


def op(f, value=None, output=None, outcome="ok", key=None, returned=True):
    return Operation(id=0, process=0, f=f, value=value, output=output, outcome=outcome, call_index=0,
                     return_index=1 if returned and outcome != "unknown" else None, key=key)


def test_register_reads_writes_and_cas():
    model = RegisterModel()
    assert model.initial_state() is None
    assert model.step(None, op("read", output=None)) is None
    assert model.step(3, op("read", output=None)) is ILLEGAL  # nil is a value unless told otherwise
    assert model.step(3, op("write", 4, 4)) == 4
    assert model.step(3, op("cas", (3, 5), (3, 5))) == 5
    assert model.step(2, op("cas", (3, 5), (3, 5))) is ILLEGAL


def test_register_knossos_options():
    model = RegisterModel(initial=0, nil_read_is_wildcard=True)
    assert model.initial_state() == 0
    assert not model.relevant(op("read", output=None))  # a wildcard read constrains nothing
    assert model.relevant(op("read", output=2))
    assert not model.relevant(op("cas", (1, 2), (1, 2), outcome="fail"))  # never happened


def test_register_failed_cas_as_compare_failure():
    model = RegisterModel(failed_cas="compare-failed")
    failed = op("cas", (1, 2), (1, 2), outcome="fail")
    assert model.relevant(failed)
    assert model.step(1, failed) is ILLEGAL
    assert model.step(0, failed) == 0


def test_register_unknown_cas():
    model = RegisterModel()
    open_cas = op("cas", (1, 2), outcome="unknown")
    assert model.step(1, open_cas) == 2
    assert model.step(0, open_cas) is ILLEGAL  # never placing it covers "ran, compare failed"
    closed = Operation(id=0, process=0, f="cas", value=(1, 2), output=None, outcome="unknown", call_index=0,
                       return_index=5)
    assert model.step(0, closed) == 0  # must be placed before its return, so "ran, compare failed" is allowed
    assert not model.relevant(op("read", outcome="unknown"))


def test_register_rejects_what_it_does_not_know():
    with pytest.raises(ModelError, match="no operation 'append'"):
        RegisterModel().relevant(op("append", "x"))
    with pytest.raises(ModelError, match="expected new"):
        RegisterModel().relevant(op("cas", 3))
    with pytest.raises(ValueError):
        RegisterModel(failed_cas="sometimes")


def test_kv_partitioned_and_whole():
    model = KvModel()
    assert model.partition_key(op("get", key="a", output="")) == "a"
    assert model.step("", op("get", output="")) == ""
    assert model.step("ab", op("append", "c", "c")) == "abc"
    assert model.step("ab", op("put", "z", "z")) == "z"
    assert model.step("ab", op("get", output="a")) is ILLEGAL
    whole = KvModel(partitioned=False)
    state = whole.step(whole.initial_state(), op("put", "1", key="k"))
    assert whole.step(state, op("get", output="1", key="k")) == state
    assert whole.step(state, op("get", output="", key="other")) == state
    assert whole.step(state, op("get", output="", key="k")) is ILLEGAL


def test_multi_register_transactions():
    model = MultiRegisterModel(initial=0, nil_read_is_wildcard=True)
    txn = op("txn", (("read", "x", None), ("write", "y", 2)), (("read", "x", 0), ("write", "y", 2)))
    state = model.step(model.initial_state(), txn)
    assert dict(state) == {"y": 2}
    assert model.step(state, op("txn", None, (("read", "y", 2), ("read", "x", 0)))) == state
    assert model.step(state, op("txn", None, (("read", "y", 0),))) is ILLEGAL
    # An unknown transaction's reads (from the invocation) are wildcards even for exact models.
    exact = MultiRegisterModel(initial=0)
    assert exact.step(frozenset(), op("txn", (("read", "x", None),), outcome="unknown")) == frozenset()
    with pytest.raises(ModelError):
        model.relevant(op("txn", (("frob", "x", 1),), (("frob", "x", 1),)))


def test_mutex():
    model = MutexModel()
    held = model.step(model.initial_state(), op("acquire"))
    assert held is True
    assert model.step(held, op("acquire")) is ILLEGAL
    assert model.step(held, op("release")) is False
    assert model.step(False, op("release")) is ILLEGAL
    assert model.describe_state(held) == "held"


def test_make_model():
    assert isinstance(make_model("cas-register", initial=0), RegisterModel)
    with pytest.raises(ValueError, match="unknown model"):
        make_model("queue")
    with pytest.raises(ValueError, match="mutex"):
        make_model("mutex", initial=0)
