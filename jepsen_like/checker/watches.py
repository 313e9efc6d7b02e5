"""Watch checker: what each watcher was told about one node is in order, never repeated, never
invented, and catches up with the final value.

Operations (the ``watches`` workload writes them): ``write`` with the value written (one writer,
values increasing); ``notify`` by a watcher, ok with ``[value, mzxid]`` read (after a ``sync``)
right after a watch fired (ZooKeeper watches are one-shot, so a watcher may legitimately skip
values, but a synced read after a notification is newer than the read that set the watch); ``final-read``
ok with ``[value, mzxid]``, a synced read after the run; ``caught-up`` by a watcher after the run,
ok with the last ``[value, mzxid]`` it was notified of.

* *In order, none twice*: per watcher process, notified mzxids strictly increase.
* *None invented*: every notified value was written by an ok or unknown-outcome write.
* *None missed at the end*: each watcher's ``caught-up`` value equals the final read's.
"""

from __future__ import annotations

from typing import Iterable

from jepsen_like.checker.result import NOT_VALID, UNKNOWN, VALID, CheckResult
from jepsen_like.history import Operation

__all__ = ["check_watches"]


def check_watches(operations: Iterable[Operation]) -> CheckResult:
    ops = sorted(operations, key=lambda op: op.call_index)
    written = {op.value for op in ops if op.f == "write" and op.outcome != "fail"}
    notifies = [op for op in ops if op.f == "notify" and op.outcome == "ok"]
    finals = [op for op in ops if op.f == "final-read" and op.outcome == "ok"]
    caught_up = [op for op in ops if op.f == "caught-up" and op.outcome == "ok"]
    if not notifies or not finals:
        return CheckResult("watches", UNKNOWN, "no notification or no final read, so nothing to check",
                           counts={"notifications": len(notifies), "final reads": len(finals)})
    problems: list[str] = []
    out_of_order = invented = behind = 0
    last: dict[object, Operation] = {}
    for op in notifies:
        value, mzxid = op.output
        previous = last.get(op.process)
        if previous is not None and mzxid <= previous.output[1]:
            out_of_order += 1
            problems.append(f"out of order or repeated: watcher process {op.process} was notified of "
                            f"{previous.output[0]!r} (mzxid {previous.output[1]:#x}, op {previous.id}) then "
                            f"{value!r} (mzxid {mzxid:#x}, op {op.id})")
        last[op.process] = op
        if value not in written and value != 0:
            invented += 1
            problems.append(f"invented: watcher process {op.process} was notified of {value!r} (op {op.id}), "
                            f"which no write wrote")
    final_value = finals[-1].output[0]
    for op in caught_up:
        if op.output is None or op.output[0] != final_value:
            behind += 1
            problems.append(f"missed: watcher process {op.process} last heard {op.output!r} but the final value "
                            f"is {final_value!r}")
    counts = {"writes": len(written), "notifications": len(notifies), "watchers": len(last),
              "out of order": out_of_order, "invented": invented, "missed at the end": behind}
    bad = out_of_order or invented or behind
    summary = (f"{out_of_order} out of order, {invented} invented, {behind} watchers missed the final value" if bad
               else f"{len(notifies)} notifications to {len(last)} watchers in order, none invented, all caught up")
    return CheckResult("watches", NOT_VALID if bad else VALID, summary, counts, problems)
