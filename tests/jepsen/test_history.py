import json

import pytest

from jepsen_like.history import (
    Event, HistoryError, HistoryWriter, event_from_record, event_to_record, operations, read_jsonl,
)


class FakeClocks:
    def __init__(self):
        self.now_ns = 1_000_000

    def monotonic_ns(self):
        self.now_ns += 1_000
        return self.now_ns

    def wall_clock_s(self):
        return 1_700_000_000.0 + self.now_ns / 1e9


def new_writer(path, **metadata):
    clocks = FakeClocks()
    return HistoryWriter(path, metadata, monotonic_ns=clocks.monotonic_ns, wall_clock_s=clocks.wall_clock_s)


def test_every_event_is_on_disk_as_soon_as_it_is_recorded(tmp_path):
    path = tmp_path / "history.jsonl"
    writer = new_writer(path, model="register")
    writer.invoke(0, "write", 3, key="x")
    # Still open: another reader sees the line already (the writer flushes each event).
    history = read_jsonl(path)
    assert [(e.type, e.process, e.f, e.value, e.key) for e in history.events] == [("invoke", 0, "write", 3, "x")]
    assert history.metadata["model"] == "register" and history.metadata["version"] == 1
    writer.ok(0, "write", 3, key="x")
    writer.close()
    assert len(read_jsonl(path).events) == 2


def test_round_trip_keeps_unknown_fields_for_later_workloads(tmp_path):
    path = tmp_path / "history.jsonl"
    with new_writer(path) as writer:
        writer.invoke(1, "read", None, key="/a", session=0x1234)
        writer.ok(1, "read", [1, 2], key="/a", session=0x1234, zxid=0x100000005)
        writer.nemesis("partition", ["n1", "n2"], fault="begin")
    events = read_jsonl(path).events
    assert events[1].value == (1, 2)  # JSON arrays come back as tuples: hashable, comparable
    assert events[1].extra == {"session": 0x1234, "zxid": 0x100000005}
    assert events[1].get("zxid") == 0x100000005 and events[1].get("key") == "/a"
    assert events[2].is_nemesis and events[2].extra["fault"] == "begin"
    assert events[0].monotonic_ns < events[1].monotonic_ns
    assert all(e.wall_clock_s > 1.7e9 for e in events)
    # A newer writer's fields survive a read/write cycle through an older reader.
    record = {"index": 0, "type": "ok", "process": 2, "f": "get", "value": "v", "shiny_new_field": [1]}
    assert event_to_record(event_from_record(record, 0)) == record


def test_torn_last_line_is_dropped_and_reported(tmp_path):
    path = tmp_path / "history.jsonl"
    with new_writer(path) as writer:
        writer.invoke(0, "write", 1)
    with path.open("a") as stream:
        stream.write('{"index": 1, "type": "ok", "proc')  # killed mid-write
    history = read_jsonl(path)
    assert history.truncated_tail and len(history.events) == 1


def test_a_bad_line_in_the_middle_is_an_error(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"type": "invoke", "process": 0, "f": "read"}\nnot json\n{"type": "ok", "process": 0, "f": "read"}\n')
    with pytest.raises(HistoryError, match=":2: not JSON"):
        read_jsonl(path)


def test_writer_refuses_what_a_sequential_client_cannot_do(tmp_path):
    with new_writer(tmp_path / "h.jsonl") as writer:
        writer.invoke(0, "read")
        with pytest.raises(HistoryError, match="in flight"):
            writer.invoke(0, "write", 1)
        with pytest.raises(HistoryError, match="completes write"):
            writer.ok(0, "write", 1)
        with pytest.raises(HistoryError, match="nothing in flight"):
            writer.ok(5, "read", 1)
        with pytest.raises(TypeError):
            writer.ok(0, "read", object())  # cannot be written: bookkeeping must not change
        writer.ok(0, "read", 1)


def ev(index, type_, process, f, value=None, **extra):
    return Event(index=index, type=type_, process=process, f=f, value=value, extra=extra)


def test_operations_pairs_and_marks_unknown_outcomes_open():
    events = [
        ev(0, "invoke", 0, "write", 1),
        ev(1, "invoke", 1, "write", 2),
        ev(2, "info", "nemesis", "start"),
        ev(3, "ok", 0, "write", 1),
        ev(4, "info", 1, "write", 2),
        ev(5, "invoke", 2, "read"),
        ev(6, "fail", 2, "read", None),
        ev(7, "invoke", 3, "cas", (1, 2)),
    ]
    ok, timed_out, failed, pending = operations(events)
    assert (ok.outcome, ok.return_index, ok.output) == ("ok", 3, 1)
    assert (timed_out.outcome, timed_out.return_index, timed_out.completion_index) == ("unknown", None, 4)
    assert timed_out.value == 2 and timed_out.output is None
    assert (failed.outcome, failed.return_index) == ("fail", 6)
    assert (pending.outcome, pending.return_index, pending.completion_index) == ("unknown", None, None)


@pytest.mark.parametrize("events, message", [
    ([ev(0, "invoke", 0, "read"), ev(1, "invoke", 0, "read")], "still in flight"),
    ([ev(0, "ok", 0, "read")], "never invoked"),
    ([ev(0, "invoke", 0, "read"), ev(1, "ok", 0, "write")], "invoked read"),
])
def test_operations_rejects_broken_histories(events, message):
    with pytest.raises(HistoryError, match=message):
        operations(events)


def test_header_only_before_events(tmp_path):
    path = tmp_path / "h.jsonl"
    lines = [{"type": "invoke", "process": 0, "f": "read"}, {"format": "jepsen_like.history"}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.raises(HistoryError, match="header"):
        read_jsonl(path)
