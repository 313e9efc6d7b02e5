"""The set, sequential-id, lock and session-guarantee checkers."""

import pytest

from jepsen_like.checker.ids import check_sequential_ids
from jepsen_like.checker.locks import check_lock
from jepsen_like.checker.sessions import check_session_guarantees
from jepsen_like.checker.sets import check_set
from jepsen_like.history import Event, operations


class Recorder:
    """Builds a history in order: ``r.call(p, f, v)`` then ``r.done(p, "ok", v, **extra)``."""

    def __init__(self):
        self.events = []

    def call(self, process, f, value=None, **extra):
        self._add("invoke", process, f, value, extra)
        return self

    def done(self, process, type_, f, value=None, **extra):
        self._add(type_, process, f, value, extra)
        return self

    def _add(self, type_, process, f, value, extra):
        key = extra.pop("key", None)
        self.events.append(Event(len(self.events), type_, process, f, value, key=key, extra=extra))

    def ops(self):
        return operations(self.events)


# --- set -------------------------------------------------------------------------------------------


def test_set_all_acknowledged_adds_read_back():
    r = Recorder()
    for p, element in enumerate([1, 2, 3]):
        r.call(p, "add", element).done(p, "ok", "add", element)
    r.call(5, "add", 4).done(5, "info", "add", 4)  # unknown: may or may not be there
    r.call(6, "add", 5).done(6, "fail", "add", 5)
    r.call(7, "read").done(7, "ok", "read", [1, 2, 3, 4])
    result = check_set(r.ops())
    assert result.valid and result.counts["recovered"] == 1 and result.counts["lost"] == 0


@pytest.mark.parametrize("final_read, problem", [
    ([1, 3], "lost"),
    ([1, 2, 3, 9], "unexpected"),
    ([1, 2, 3, 5], "failed but present"),
])
def test_set_problems(final_read, problem):
    r = Recorder()
    for p, element in enumerate([1, 2, 3]):
        r.call(p, "add", element).done(p, "ok", "add", element)
    r.call(6, "add", 5).done(6, "fail", "add", 5)
    r.call(7, "read").done(7, "ok", "read", final_read)
    result = check_set(r.ops())
    assert result.verdict == "not valid" and result.counts[problem] == 1
    assert any(line.startswith(problem) for line in result.problems)


def test_set_concurrent_add_may_be_missing_from_the_final_read():
    r = Recorder().call(0, "add", 1).call(1, "read").done(0, "ok", "add", 1).done(1, "ok", "read", [])
    assert check_set(r.ops()).valid


def test_set_without_a_read_is_unknown():
    r = Recorder().call(0, "add", 1).done(0, "ok", "add", 1)
    assert check_set(r.ops()).verdict == "unknown"


# --- sequential ids --------------------------------------------------------------------------------


def test_ids_unique_increasing_and_contiguous():
    r = Recorder()
    for p in range(4):
        r.call(p, "next-id").done(p, "ok", "next-id", 10 + p)
    assert check_sequential_ids(r.ops()).valid


def test_ids_duplicates_and_order():
    r = Recorder()
    r.call(0, "next-id").done(0, "ok", "next-id", 5)
    r.call(1, "next-id").done(1, "ok", "next-id", 5)  # duplicate
    r.call(2, "next-id").done(2, "ok", "next-id", 4)  # smaller than ids handed out before it began
    result = check_sequential_ids(r.ops())
    assert result.counts["duplicates"] == 1 and result.counts["not increasing"] == 2
    # Concurrent operations may get ids in either order.
    r = Recorder().call(0, "next-id").call(1, "next-id").done(0, "ok", "next-id", 2).done(1, "ok", "next-id", 1)
    assert check_sequential_ids(r.ops()).valid


def test_ids_gaps_need_an_unknown_outcome_to_explain_them():
    r = Recorder()
    r.call(0, "next-id").done(0, "ok", "next-id", 1)
    r.call(1, "next-id").done(1, "info", "next-id")
    r.call(2, "next-id").done(2, "ok", "next-id", 3)
    assert check_sequential_ids(r.ops()).valid  # 2 may have gone to the timed-out call
    r.call(3, "next-id").done(3, "ok", "next-id", 5)
    result = check_sequential_ids(r.ops())
    assert not result.valid and result.counts["unexplained gaps"] == 1


# --- lock ------------------------------------------------------------------------------------------


def test_lock_handed_over_properly():
    r = Recorder()
    r.call(0, "acquire").call(1, "acquire").done(0, "ok", "acquire")
    r.call(0, "release").done(0, "ok", "release").done(1, "ok", "acquire")
    r.call(1, "release").done(1, "ok", "release")
    assert check_lock(r.ops()).valid


def test_lock_two_holders():
    r = Recorder()
    r.call(0, "acquire").done(0, "ok", "acquire")
    r.call(1, "acquire").done(1, "ok", "acquire")  # process 0 has not even tried to release
    r.call(0, "release").done(0, "ok", "release")
    result = check_lock(r.ops())
    assert result.verdict == "not valid" and result.counts["overlapping holds"] == 1


def test_lock_holder_that_never_returns_holds_to_the_end():
    r = Recorder().call(0, "acquire").done(0, "ok", "acquire")
    r.call(1, "acquire").done(1, "info", "acquire")  # unknown: not observed as held
    assert check_lock(r.ops()).valid
    r.call(2, "acquire").done(2, "ok", "acquire")
    assert not check_lock(r.ops()).valid


# --- session guarantees ----------------------------------------------------------------------------


def test_sessions_monotonic_and_read_your_writes():
    r = Recorder()
    r.call(0, "write", 1, key="/a").done(0, "ok", "write", 1, key="/a", zxid=5, session=10)
    r.call(0, "read", key="/a").done(0, "ok", "read", 1, key="/a", zxid=5, session=10)
    r.call(1, "write", 2, key="/a").done(1, "ok", "write", 2, key="/a", zxid=7, session=11)
    r.call(0, "read", key="/a").done(0, "ok", "read", 2, key="/a", zxid=7, session=10)
    # A different session may read a stale value: plain reads promise no more.
    r.call(2, "read", key="/a").done(2, "ok", "read", None, key="/a", zxid=3, session=12)
    assert check_session_guarantees(r.ops()).valid


def test_sessions_zxid_going_backwards():
    r = Recorder()
    r.call(0, "read", key="/a").done(0, "ok", "read", 1, key="/a", zxid=9, session=1)
    r.call(0, "read", key="/a").done(0, "ok", "read", 1, key="/a", zxid=8, session=1)
    result = check_session_guarantees(r.ops())
    assert not result.valid and result.counts["zxid went backwards"] == 1


def test_sessions_read_missing_own_write():
    r = Recorder()
    r.call(0, "write", 1, key="/a").done(0, "ok", "write", 1, key="/a", zxid=5, session=1)
    r.call(0, "read", key="/a").done(0, "ok", "read", 0, key="/a", zxid=6, session=1)
    result = check_session_guarantees(r.ops())
    assert not result.valid and result.counts["missed own write"] == 1
    # ...unless someone else's write of that value could have come after.
    r.call(1, "write", 0, key="/a").done(1, "info", "write", 0, key="/a")
    r2 = Recorder()
    r2.events = r.events[:2] + r.events[4:] + r.events[2:4]
    r2.events = [Event(i, e.type, e.process, e.f, e.value, key=e.key, extra=e.extra) for i, e in enumerate(r2.events)]
    assert check_session_guarantees(r2.ops()).valid


def test_sessions_without_zxids_is_unknown():
    r = Recorder().call(0, "read").done(0, "ok", "read", 1)
    assert check_session_guarantees(r.ops()).verdict == "unknown"
