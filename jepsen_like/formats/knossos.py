"""Jepsen / Knossos EDN histories -> :class:`jepsen_like.history.History`.

A Jepsen history in EDN is either one collection of op maps (``[{...} {...}]`` or ``({...} ...)``) or
a sequence of op maps at the top level, one per line (Porcupine's ``kv`` files). Each op map has
``:type`` (``:invoke :ok :fail :info``), ``:process`` (an int, or ``:nemesis``), ``:f`` and
``:value``, and sometimes ``:time`` (nanoseconds since the test began), ``:index``, ``:error`` and
``:key``. Keywords become plain strings (``:ok`` -> ``"ok"``), vectors become tuples, ``:time``
becomes ``monotonic_ns``. Anything else is kept in ``Event.extra`` under its name without the colon.
``:index`` is dropped: position in the file is what orders a history.

What the ops *mean* (``:fail`` = never happened; a ``nil`` read is a wildcard; the register starts
at 0) is a question for the model, not the reader: see ``checker/models.py`` and ``FORMAT_DEFAULTS``
in ``jepsen_like/formats/__init__.py``.
"""

from __future__ import annotations

from typing import Any, Iterable

from jepsen_like.formats import edn
from jepsen_like.history import CLIENT_EVENT_TYPES, NEMESIS, Event, History, HistoryError

__all__ = ["events_from_edn", "history_to_edn", "read_knossos"]

_RENAMED = {"time": "monotonic_ns"}
_DROPPED = {"index"}


def read_knossos(text: str, source: str = "") -> History:
    forms = list(edn.iter_forms(text))
    if len(forms) == 1 and isinstance(forms[0], tuple):
        op_maps = forms[0]
    else:
        op_maps = tuple(forms)
    return History(events=events_from_edn(op_maps), source=source)


def events_from_edn(op_maps: Iterable[Any]) -> list[Event]:
    events: list[Event] = []
    for position, op in enumerate(op_maps):
        if not isinstance(op, dict):
            raise HistoryError(f"op {position}: expected a map, got {type(op).__name__}")
        fields = {str(name): value for name, value in op.items()}
        event_type = fields.pop("type", None)
        if event_type not in CLIENT_EVENT_TYPES:
            raise HistoryError(f"op {position}: unknown :type {event_type!r}")
        process = fields.pop("process", None)
        if not isinstance(process, int):
            process = NEMESIS if process in (None, NEMESIS) else str(process)
        f = fields.pop("f", None)
        if f is None:
            raise HistoryError(f"op {position}: no :f")
        for old, new in _RENAMED.items():
            if old in fields:
                fields[new] = fields.pop(old)
        for name in _DROPPED:
            fields.pop(name, None)
        events.append(
            Event(
                index=position,
                type=str(event_type),
                process=process,
                f=str(f),
                value=fields.pop("value", None),
                monotonic_ns=fields.pop("monotonic_ns", None),
                wall_clock_s=fields.pop("wall_clock_s", None),
                key=fields.pop("key", None),
                error=fields.pop("error", None),
                extra=fields,
            )
        )
    return events


def history_to_edn(events: Iterable[Event]) -> str:
    """Write events as a Jepsen EDN vector (one op map per line), e.g. to hand a history to Knossos.
    Types, ``f`` and the nemesis process become keywords; values are written as they are."""
    lines = []
    for event in events:
        op: dict[Any, Any] = {
            edn.Keyword("process"): event.process if event.is_client else edn.Keyword(str(event.process)),
            edn.Keyword("type"): edn.Keyword(event.type),
            edn.Keyword("f"): edn.Keyword(event.f),
            edn.Keyword("value"): event.value,
        }
        if event.key is not None:
            op[edn.Keyword("key")] = event.key
        if event.monotonic_ns is not None:
            op[edn.Keyword("time")] = event.monotonic_ns
        if event.error is not None:
            op[edn.Keyword("error")] = event.error
        op[edn.Keyword("index")] = event.index
        lines.append(edn.dumps(op))
    return "[" + "\n ".join(lines) + "]\n"
