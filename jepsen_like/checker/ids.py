"""Sequential-id checker: ids handed out (by a counter, or ZooKeeper's sequential znodes) are unique,
increase in real time, and none is lost.

Operations: ``f`` (default ``"next-id"``) whose ok result is an int id.

* *Unique*: no id is returned to two successful operations.
* *Increasing*: if A completed before B was invoked, A's id is smaller than B's. Checked with one
  sweep over invocations while a pointer walks completions (O(n log n)).
* *None lost* (``contiguous=True``): every id between the smallest and largest seen was returned,
  except as many as there are operations with unknown outcome, each of which may have taken an id
  nobody heard about. A failed operation took none.
* *Acknowledged, not lost* (when the history has a successful ``read`` whose result is the ids
  present, e.g. the children of the sequential parent): every id acknowledged before the last
  such read was invoked is in it.
"""

from __future__ import annotations

from typing import Iterable

from jepsen_like.checker.result import NOT_VALID, UNKNOWN, VALID, CheckResult
from jepsen_like.history import Operation

__all__ = ["check_sequential_ids"]


def check_sequential_ids(operations: Iterable[Operation], f: str = "next-id", contiguous: bool = True,
                         read_f: str = "read") -> CheckResult:
    operations = list(operations)
    ops = [op for op in operations if op.f == f]
    reads = [op for op in operations if op.f == read_f and op.outcome == "ok"]
    done = [op for op in ops if op.outcome == "ok"]
    unknown = sum(1 for op in ops if op.outcome == "unknown")
    for op in done:
        if not isinstance(op.output, int) or isinstance(op.output, bool):
            raise ValueError(f"op {op.id}: id must be an int, got {op.output!r}")
    if not done:
        return CheckResult("sequential-ids", UNKNOWN, f"no successful {f} operation", counts={"attempts": len(ops)})
    problems: list[str] = []

    holders: dict[int, Operation] = {}
    duplicates = 0
    for op in done:
        if op.output in holders:
            duplicates += 1
            first = holders[op.output]
            problems.append(f"duplicate: id {op.output} returned to op {first.id} (process {first.process}) and "
                            f"op {op.id} (process {op.process})")
        else:
            holders[op.output] = op

    # Increasing in real time: sweep invocations; everything that completed before holds its max id.
    by_return = sorted(done, key=lambda op: op.return_index)
    before = 0
    max_before: Operation | None = None
    out_of_order = 0
    for op in sorted(done, key=lambda op: op.call_index):
        while before < len(by_return) and by_return[before].return_index < op.call_index:
            candidate = by_return[before]
            if max_before is None or candidate.output > max_before.output:
                max_before = candidate
            before += 1
        if max_before is not None and max_before.output >= op.output:
            out_of_order += 1
            problems.append(f"not increasing: op {max_before.id} got id {max_before.output} and completed (event "
                            f"{max_before.return_index}) before op {op.id} was invoked (event {op.call_index}), "
                            f"which got {op.output}")

    ids = sorted(holders)
    gaps = (ids[-1] - ids[0] + 1) - len(ids)
    unexplained_gaps = max(0, gaps - unknown) if contiguous else 0
    if unexplained_gaps:
        missing = [i for i in range(ids[0], ids[-1] + 1) if i not in holders]
        problems.append(f"lost: {gaps} ids between {ids[0]} and {ids[-1]} were never returned "
                        f"({missing[:10]}{'...' if len(missing) > 10 else ''}) but only {unknown} operations "
                        f"have an unknown outcome that could have taken them")
    vanished = 0
    if reads:
        final = max(reads, key=lambda op: op.return_index)
        present = frozenset(final.output)
        for op in done:
            if op.return_index < final.call_index and op.output not in present:
                vanished += 1
                problems.append(f"acknowledged but gone: id {op.output} (op {op.id}, acknowledged at event "
                                f"{op.return_index}) is not in the final read (op {final.id})")
    counts = {"attempts": len(ops), "ok": len(done), "unknown outcome": unknown, "duplicates": duplicates,
              "not increasing": out_of_order, "gaps": gaps, "unexplained gaps": unexplained_gaps,
              "acknowledged but gone": vanished}
    bad = duplicates or out_of_order or unexplained_gaps or vanished
    summary = (f"{duplicates} duplicates, {out_of_order} out of order, {unexplained_gaps} lost, "
               f"{vanished} acknowledged but gone" if bad
               else f"{len(done)} ids unique and increasing, ids {ids[0]}..{ids[-1]}")
    return CheckResult("sequential-ids", NOT_VALID if bad else VALID, summary, counts, problems)
