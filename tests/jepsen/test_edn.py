from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from jepsen_like.formats import edn


def test_reads_the_forms_histories_use():
    text = '[{:process 0, :type :invoke, :f :cas, :value [1 2]} ; a comment\n {:process :nemesis :type :info}]'
    (first, second) = edn.loads(text)
    assert first == {"process": 0, "type": "invoke", "f": "cas", "value": (1, 2)}
    assert isinstance(first["type"], edn.Keyword) and repr(first["type"]) == ":invoke"
    assert second["process"] == "nemesis"


def test_scalars_and_collections():
    assert edn.loads("nil") is None
    assert edn.loads("[true false -3 42N 1.5 2.5M \"a\\\"b\\n\" \\a \\newline]") == (
        True, False, -3, 42, 1.5, Decimal("2.5"), 'a"b\n', "a", "\n")
    assert edn.loads("#{1 2}") == frozenset({1, 2})
    assert edn.loads("(1 (2))") == (1, (2,))
    assert edn.loads("my.ns/sym") == edn.Symbol("my.ns/sym")
    assert edn.loads('#inst "2020-01-01"') == edn.Tagged("inst", "2020-01-01")


def test_discard_and_commas():
    assert edn.loads("[1 #_ 2 3,,4]") == (1, 3, 4)
    assert list(edn.iter_forms("#_ 1 2 #_ 3")) == [2]
    assert list(edn.iter_forms("{:a 1}\n{:a 2}\n")) == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize("text, where", [
    ("[1 2", "line 1, column 1"),
    ("{:a 1 :b}", "line 1, column 1"),
    ("[1\n 2)", "line 2, column 3"),
    ('"abc', "line 1, column 1"),
    ("1 2", None),
])
def test_errors_say_where(text, where):
    with pytest.raises(edn.EdnSyntaxError) as caught:
        edn.loads(text)
    if where:
        assert where in str(caught.value)


def test_deep_nesting_does_not_overflow_the_stack():
    depth = 5000
    value = edn.loads("[" * depth + "]" * depth)
    for _ in range(depth - 1):
        (value,) = value
    assert value == ()


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
    st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True).map(edn.Keyword),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(_scalars.filter(lambda v: not isinstance(v, float)), inner, max_size=3),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=12,
)


@given(_values)
def test_dumps_then_loads_is_identity(value):
    assert edn.loads(edn.dumps(value)) == value
