"""Histories: what every client asked for and what came back, written while a test runs.

Theory of operation
-------------------
A history is a sequence of :class:`Event` records in the order they happened, as seen by the one
process that records them. Client events follow Jepsen's convention:

* ``invoke``  a client process started an operation ``f`` with an input ``value``;
* ``ok``      it completed and took effect; ``value`` is its result (a read's value);
* ``fail``    it completed and certainly did **not** take effect;
* ``info``    nobody knows (a timeout, a lost connection): it may take effect at any later point, or
  never. Its process never invokes again; the test carries on with a fresh process id.

A client process is sequential: at most one operation in flight. Events whose ``process`` is not an
``int`` (``"nemesis"``) record fault injection; checkers skip them and reports shade them.

The position of an event in the history (``Event.index``) *is* real-time order: a checker says "A
happened before B" iff A's completion comes before B's invocation in the file. Monotonic times are
kept for plots and latencies, wall-clock times for matching the history against server logs.

On disk (``history.jsonl``) a history is JSON lines, written and flushed one event at a time by
:class:`HistoryWriter`, so a test that is killed loses at most the line being written; the reader
drops such a torn final line and says so. The first line may be a header: an object with a
``"format"`` key and no ``"type"``, carrying the run's metadata. Each event line is an object::

    {"index": 7, "type": "ok", "process": 3, "f": "read", "value": 4,
     "monotonic_ns": 1234567, "wall_clock_s": 1700000000.123, "key": "x", "zxid": 4294967301}

``index``, ``type``, ``process``, ``f`` and ``value`` are always present; ``monotonic_ns``,
``wall_clock_s``, ``key`` and ``error`` when known. **Any other field is kept** in
``Event.extra`` and round-trips unchanged, which is how later workloads add ``zxid``, ``session``
and the like without breaking older readers. Readers ignore fields they do not know.

:func:`operations` pairs each invocation with its completion into an :class:`Operation`, the unit
the checkers work on. An ``info`` completion, or none at all, gives outcome ``"unknown"`` and
``return_index=None``: the operation stays open to the end of the history.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

__all__ = [
    "CLIENT_EVENT_TYPES",
    "Event",
    "History",
    "HistoryError",
    "HistoryWriter",
    "NEMESIS",
    "Operation",
    "event_from_record",
    "event_to_record",
    "operations",
    "read_jsonl",
]

CLIENT_EVENT_TYPES = ("invoke", "ok", "fail", "info")
COMPLETION_TYPES = ("ok", "fail", "info")
NEMESIS = "nemesis"
HEADER_FORMAT = "jepsen_like.history"
HEADER_VERSION = 1

# Fields with a place of their own in Event; everything else in a record goes to Event.extra.
_CORE_FIELDS = ("index", "type", "process", "f", "value", "monotonic_ns", "wall_clock_s", "key", "error")


class HistoryError(ValueError):
    """The history breaks the rules (a completion with no invocation, a process doing two things at
    once, a line that is not an event)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a history. See the module docstring for the meaning of the fields."""

    index: int
    type: str
    process: Any
    f: str
    value: Any = None
    monotonic_ns: int | None = None
    wall_clock_s: float | None = None
    key: Any = None
    error: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)

    @property
    def is_client(self) -> bool:
        # bool is an int subclass; a process id of True would be a bug in the recorder.
        return isinstance(self.process, int) and not isinstance(self.process, bool)

    @property
    def is_nemesis(self) -> bool:
        return not self.is_client

    def get(self, name: str, default: Any = None) -> Any:
        """A field by name, core or extra: ``event.get("zxid")``."""
        if name in _CORE_FIELDS:
            return getattr(self, name)
        return self.extra.get(name, default)


@dataclass(frozen=True, slots=True)
class Operation:
    """An invocation paired with its completion: the unit the checkers reason about.

    ``call_index``/``return_index`` are positions in the history. ``return_index`` is ``None`` when
    the outcome is unknown: the operation may take effect at any point after its call, or never.
    ``completion_index`` is the position of the completion event even then (an ``info`` line), so a
    report can draw the bar to the timeout and a test can ask "what if it had been closed there?".
    """

    id: int
    process: Any
    f: str
    value: Any
    output: Any
    outcome: str  # "ok" | "fail" | "unknown"
    call_index: int
    return_index: int | None
    completion_index: int | None = None
    key: Any = None
    call_ns: int | None = None
    completion_ns: int | None = None
    error: Any = None
    fields: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=True)

    @property
    def is_open(self) -> bool:
        return self.return_index is None

    def get(self, name: str, default: Any = None) -> Any:
        """An extra field from the completion (or, failing that, the invocation)."""
        return self.fields.get(name, default)


@dataclass
class History:
    """A history as read back: its events, the header's metadata, and how the reading went."""

    events: list[Event]
    metadata: dict[str, Any] = field(default_factory=dict)
    truncated_tail: bool = False
    source: str = ""

    def client_events(self) -> list[Event]:
        return [event for event in self.events if event.is_client]

    def nemesis_events(self) -> list[Event]:
        return [event for event in self.events if event.is_nemesis]

    def operations(self) -> list[Operation]:
        return operations(self.events)


def operations(events: Iterable[Event]) -> list[Operation]:
    """Pair invocations with completions, in order of invocation.

    Raises :class:`HistoryError` if a process invokes while it already has an operation in flight,
    or completes an operation it never invoked: both mean the recorder is broken, and a checker that
    guessed would give verdicts nobody could trust.
    """
    in_flight: dict[Any, tuple[int, Event]] = {}
    built: list[Operation | None] = []
    for event in events:
        if not event.is_client:
            continue
        if event.type == "invoke":
            if event.process in in_flight:
                raise HistoryError(
                    f"event {event.index}: process {event.process} invokes {event.f} while event "
                    f"{in_flight[event.process][1].index} is still in flight"
                )
            in_flight[event.process] = (len(built), event)
            built.append(None)
            continue
        if event.type not in COMPLETION_TYPES:
            raise HistoryError(f"event {event.index}: unknown type {event.type!r}")
        if event.process not in in_flight:
            raise HistoryError(f"event {event.index}: process {event.process} completes {event.f} it never invoked")
        slot, invoke = in_flight.pop(event.process)
        if event.f != invoke.f:
            raise HistoryError(
                f"event {event.index}: process {event.process} completes {event.f} but invoked {invoke.f}"
            )
        built[slot] = _pair(slot, invoke, event)
    for slot, invoke in in_flight.values():
        built[slot] = _pair(slot, invoke, None)
    return [op for op in built if op is not None]


def _pair(op_id: int, invoke: Event, completion: Event | None) -> Operation:
    fields = dict(invoke.extra)
    if completion is None or completion.type == "info":
        outcome, output, return_index = "unknown", None, None
    else:
        outcome, output, return_index = completion.type, completion.value, completion.index
    if completion is not None:
        fields.update(completion.extra)
    return Operation(
        id=op_id,
        process=invoke.process,
        f=invoke.f,
        value=invoke.value,
        output=output,
        outcome=outcome,
        call_index=invoke.index,
        return_index=return_index,
        completion_index=None if completion is None else completion.index,
        key=invoke.key if invoke.key is not None else (completion.key if completion else None),
        call_ns=invoke.monotonic_ns,
        completion_ns=None if completion is None else completion.monotonic_ns,
        error=None if completion is None else completion.error,
        fields=fields,
    )


# --- JSON lines ------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    # Sets have no JSON form; a sorted list keeps the file deterministic.
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def event_to_record(event: Event) -> dict[str, Any]:
    """The JSON object for one event (optional fields left out when unknown)."""
    record: dict[str, Any] = {
        "index": event.index,
        "type": event.type,
        "process": event.process,
        "f": event.f,
        "value": event.value,
    }
    for name in ("monotonic_ns", "wall_clock_s", "key", "error"):
        value = getattr(event, name)
        if value is not None:
            record[name] = value
    for name, value in event.extra.items():
        if name in _CORE_FIELDS:
            raise HistoryError(f"extra field {name!r} shadows a core field")
        record[name] = value
    return record


def event_from_record(record: Mapping[str, Any], index: int) -> Event:
    """Build an event from a JSON object. ``index`` is its position in the history, which is what
    orders events; a stored ``index`` is only a convenience for people reading the file."""
    try:
        event_type, process, f = record["type"], record["process"], record["f"]
    except KeyError as missing:
        raise HistoryError(f"event {index}: missing field {missing}") from None
    if event_type not in CLIENT_EVENT_TYPES:
        raise HistoryError(f"event {index}: unknown type {event_type!r}")
    return Event(
        index=index,
        type=event_type,
        process=process,
        f=f,
        value=_freeze(record.get("value")),
        monotonic_ns=record.get("monotonic_ns"),
        wall_clock_s=record.get("wall_clock_s"),
        key=_freeze(record.get("key")),
        error=record.get("error"),
        extra={name: value for name, value in record.items() if name not in _CORE_FIELDS},
    )


def _freeze(value: Any) -> Any:
    """JSON arrays become tuples so values can be compared, hashed and used as model states."""
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, dict):
        return {name: _freeze(item) for name, item in value.items()}
    return value


def read_jsonl(path: str | os.PathLike[str]) -> History:
    """Read a ``history.jsonl``. A torn last line (the run was killed mid-write) is dropped and
    reported in ``History.truncated_tail``; a bad line anywhere else is an error."""
    path = Path(path)
    events: list[Event] = []
    metadata: dict[str, Any] = {}
    truncated = False
    with path.open("r", encoding="utf-8") as stream:
        lines = stream.read().split("\n")
    # A file that ends with "\n" splits into [..., ""]; anything else in the last slot is unterminated.
    last = len(lines) - 1
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as problem:
            if number == last:
                truncated = True
                break
            raise HistoryError(f"{path}:{number + 1}: not JSON ({problem.msg})") from None
        if not isinstance(record, dict):
            raise HistoryError(f"{path}:{number + 1}: not a JSON object")
        if "type" not in record and "format" in record:
            if events:
                raise HistoryError(f"{path}:{number + 1}: header after the first event")
            metadata = record
            continue
        events.append(event_from_record(record, len(events)))
    return History(events=events, metadata=metadata, truncated_tail=truncated, source=str(path))


class HistoryWriter:
    """Records a history as JSON lines while the test runs; one ``write`` + ``flush`` per event.

    ``monotonic_ns`` and ``wall_clock_s`` are injectable clocks (tests pass fakes). Monotonic times
    are written relative to the writer's creation. Safe to call from several threads: an event's
    index, times and line are taken under one lock, so file order is real-time order.

    The writer also enforces the client rules (one operation in flight per process, completions
    match an invocation), raising :class:`HistoryError` at the call that breaks them, where the
    workload bug is, rather than at check time.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: Mapping[str, Any] | None = None,
        *,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        wall_clock_s: Callable[[], float] = time.time,
        fsync_each_event: bool = False,
    ) -> None:
        self.path = Path(path)
        self._monotonic_ns = monotonic_ns
        self._wall_clock_s = wall_clock_s
        self._origin_ns = monotonic_ns()
        self._fsync_each_event = fsync_each_event
        self._lock = threading.Lock()
        self._next_index = 0
        self._in_flight: dict[Any, str] = {}
        self._stream = self.path.open("x", encoding="utf-8")
        header = {"format": HEADER_FORMAT, "version": HEADER_VERSION, **(metadata or {})}
        self._write_line(header)

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if not self._stream.closed:
                self._stream.close()

    @property
    def events_written(self) -> int:
        return self._next_index

    def invoke(self, process: int, f: str, value: Any = None, **fields: Any) -> Event:
        return self._client_event("invoke", process, f, value, fields)

    def ok(self, process: int, f: str, value: Any = None, **fields: Any) -> Event:
        return self._client_event("ok", process, f, value, fields)

    def fail(self, process: int, f: str, value: Any = None, **fields: Any) -> Event:
        return self._client_event("fail", process, f, value, fields)

    def info(self, process: int, f: str, value: Any = None, **fields: Any) -> Event:
        return self._client_event("info", process, f, value, fields)

    def nemesis(self, f: str, value: Any = None, *, fault: str | None = None, **fields: Any) -> Event:
        """Record a fault-injection event. ``fault="begin"``/``"end"`` marks where a fault starts and
        heals, so reports can shade the interval without guessing from ``f``."""
        if fault not in (None, "begin", "end"):
            raise HistoryError(f"fault must be 'begin', 'end' or None, not {fault!r}")
        if fault is not None:
            fields["fault"] = fault
        return self._append("info", NEMESIS, f, value, fields)

    def _client_event(self, event_type: str, process: int, f: str, value: Any, fields: dict[str, Any]) -> Event:
        if not isinstance(process, int) or isinstance(process, bool):
            raise HistoryError(f"client process ids are ints, not {process!r}")
        with self._lock:
            open_f = self._in_flight.get(process)
            if event_type == "invoke" and open_f is not None:
                raise HistoryError(f"process {process} invokes {f} while {open_f} is in flight")
            if event_type != "invoke" and open_f != f:
                raise HistoryError(f"process {process} completes {f} but has {open_f or 'nothing'} in flight")
            # Write first: if the value cannot be serialized, the bookkeeping stays as it was.
            event = self._append_locked(event_type, process, f, value, fields)
            if event_type == "invoke":
                self._in_flight[process] = f
            else:
                del self._in_flight[process]
            return event

    def _append(self, event_type: str, process: Any, f: str, value: Any, fields: dict[str, Any]) -> Event:
        with self._lock:
            return self._append_locked(event_type, process, f, value, fields)

    def _append_locked(self, event_type: str, process: Any, f: str, value: Any, fields: dict[str, Any]) -> Event:
        key = fields.pop("key", None)
        error = fields.pop("error", None)
        event = Event(
            index=self._next_index,
            type=event_type,
            process=process,
            f=f,
            value=value,
            monotonic_ns=self._monotonic_ns() - self._origin_ns,
            wall_clock_s=self._wall_clock_s(),
            key=key,
            error=error,
            extra=fields,
        )
        self._write_line(event_to_record(event))
        self._next_index += 1
        return event

    def _write_line(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=_json_default) + "\n"
        self._stream.write(line)
        self._stream.flush()
        if self._fsync_each_event:
            os.fsync(self._stream.fileno())
