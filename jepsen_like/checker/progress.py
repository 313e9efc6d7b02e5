"""Progress checker: after the last fault healed, the system did useful work again.

Safety checkers pass on a system that does nothing; this one does not. The history's last nemesis
event marks the last heal; at least one client operation named in ``fs`` must have been invoked
after it and completed ``ok``. A history with no nemesis event is checked from its start.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from jepsen_like.checker.result import NOT_VALID, VALID, CheckResult
from jepsen_like.history import Event, operations

__all__ = ["check_progress"]


def check_progress(events: Sequence[Event], fs: Iterable[str]) -> CheckResult:
    wanted = set(fs)
    nemesis = [event.index for event in events if event.is_nemesis]
    after = nemesis[-1] if nemesis else -1
    ops = [op for op in operations(events) if op.f in wanted and op.call_index > after]
    done = sum(1 for op in ops if op.outcome == "ok")
    where = f"after the last heal (event {after})" if nemesis else "in the whole run"
    counts = {"attempted after heal": len(ops), "ok after heal": done}
    if done:
        return CheckResult("progress", VALID, f"{done} of {len(ops)} {'/'.join(sorted(wanted))} ok {where}", counts)
    return CheckResult("progress", NOT_VALID, f"no {'/'.join(sorted(wanted))} succeeded {where} "
                       f"({len(ops)} attempted)", counts,
                       [f"no successful {'/'.join(sorted(wanted))} invoked after event {after}"])
