"""Porcupine's test-data formats -> :class:`jepsen_like.history.History`.

Two formats live in Porcupine's ``test_data``:

* ``jepsen/etcd_NNN.log``: Jepsen ``jepsen.util`` log lines, ``INFO  jepsen.util - <process>
  <type> <f> <value>``, fields split by tabs or runs of spaces, the value an EDN form
  (``nil``, ``3``, ``[0 3]``, ``:timed-out``). Lines that are not of this shape are ignored, as
  Porcupine's parser ignores them.
* ``kv/cNN-{ok,bad}.txt``: one EDN op map per line, the same shape as a Knossos history.

Both come out as ordinary events. Porcupine's parser ignores ``:info`` lines so that the operation
stays open to the end; here an ``info`` event is kept (a report wants to draw the timeout) and
:func:`jepsen_like.history.operations` gives it outcome ``unknown`` with no return, which is the same
thing. Porcupine's reading of ``:fail :cas`` as "the compare failed" is a model option
(``failed_cas="compare-failed"``), the default for this format.
"""

from __future__ import annotations

import re

from jepsen_like.formats import edn
from jepsen_like.formats.knossos import read_knossos
from jepsen_like.history import CLIENT_EVENT_TYPES, Event, History, HistoryError

__all__ = ["read_porcupine"]

_LOG_LINE = re.compile(r"^\s*INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:([\w-]+)\s+(.*?)\s*$")


def read_porcupine(text: str, source: str = "") -> History:
    if text.lstrip().startswith(("{", "[", "(")):
        return read_knossos(text, source)
    events: list[Event] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LOG_LINE.match(line)
        if not match:
            continue
        process, event_type, f, value_text = match.groups()
        if event_type not in CLIENT_EVENT_TYPES:
            raise HistoryError(f"{source}:{number}: unknown type :{event_type}")
        try:
            value = edn.loads(value_text) if value_text else None
        except edn.EdnSyntaxError as problem:
            raise HistoryError(f"{source}:{number}: bad value {value_text!r}: {problem}") from None
        events.append(Event(index=len(events), type=event_type, process=int(process), f=f, value=value))
    return History(events=events, source=source)
