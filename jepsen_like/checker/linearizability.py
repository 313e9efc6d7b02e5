"""Linearizability checking: is there an order of the operations, consistent with real time, in which
the model explains every recorded result?

Theory of operation
-------------------
This is the Wing & Gong search as improved by Lowe ("just-in-time linearization") and Horn & Kroening
(P-compositionality), the algorithm Knossos's ``wgl`` and Porcupine implement.

*Entries.* Each operation contributes a call entry at its invocation's position in the history and,
if its outcome is known, a return entry at its completion's position. All entries sit in one
doubly linked list in history order (calls before returns at equal positions, the permissive choice).

*Search.* Walk the list from the front. At a call entry, try to *linearize* the operation now: ask
the model for the next state; if legal and the configuration (set of linearized operations, state)
has not been seen before, push (entry, old state) on a stack, unlink the call and its return from the
list ("lift"), and start again from the front. At a return entry, the operation it closes has not
been linearized yet but its time is up: backtrack, i.e. pop the last linearized operation, relink it
and try the next entry after it. Success when no return entry is left; failure when a return entry
is reached with nothing to pop.

*Memoization.* The future of the search depends only on which operations are linearized (a bitset,
a Python int) and the model state, so each such pair is explored once. The memo is the search's
memory; its size is what the budget bounds.

*Unknown outcomes.* An operation whose completion is ``info`` or missing has no return entry: it may
be linearized at any point after its call, or never. The search ends when every *known* return is
accounted for, so open operations never have to be placed. ``fail`` operations are dropped before
the search by the model (``Model.relevant``), as never having happened.

*Partitions and budgets.* Operations on independent keys are searched separately. The searches run
in slices, round robin, so one hopeless key cannot starve the others: the first key found
non-linearizable ends the whole check (a sub-history that is not linearizable spoils the history),
and a budget that runs out (time, or total memo entries: the largest memo is abandoned first) turns
the keys it stopped into ``unknown``. The verdict is ``linearizable`` only if every key completed.

*Counterexample.* The search remembers the furthest return entry it was ever stopped at: the
operation whose result nothing could explain. With it it keeps the configurations that reached that
point (a few, with distinct states, and the last operations linearized on the way) and every
operation still pending there. That is the smallest failing window this search can name: from each
of those states, no order of those pending operations explains the failing operation's result.

The module is pure: no I/O; the clock for the time budget is passed in.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable

from jepsen_like.checker.models import ILLEGAL, Model
from jepsen_like.history import Operation

__all__ = [
    "Budget",
    "Counterexample",
    "FrontierConfiguration",
    "LINEARIZABLE",
    "LinearizabilityResult",
    "NOT_LINEARIZABLE",
    "PartitionResult",
    "UNKNOWN",
    "check_linearizability",
]

LINEARIZABLE = "linearizable"
NOT_LINEARIZABLE = "not linearizable"
UNKNOWN = "unknown"

_EXIT_CODES = {LINEARIZABLE: 0, NOT_LINEARIZABLE: 1, UNKNOWN: 2}

# Search slice outcomes.
_RUNNING = "running"


@dataclass(frozen=True)
class Budget:
    """Limits on one check. When one runs out the verdict is ``unknown``, never ``linearizable``.

    ``max_memo_entries`` bounds memory: each entry is one (linearized set, state) pair, roughly
    150-300 bytes in CPython, so the default 2,000,000 is around 0.5 GB at most.
    """

    time_s: float | None = 60.0
    max_memo_entries: int | None = 2_000_000
    slice_steps: int = 4096
    max_active_partitions: int = 64
    frontier_configurations: int = 8

    def __post_init__(self) -> None:
        if self.slice_steps < 1 or self.max_active_partitions < 1 or self.frontier_configurations < 1:
            raise ValueError("slice_steps, max_active_partitions and frontier_configurations must be >= 1")


@dataclass(frozen=True)
class FrontierConfiguration:
    """One way the search reached the failing point: the state, the operations linearized last on
    the way there (oldest first), and the operations still pending that could have come next."""

    state: Any
    recently_linearized: tuple[Operation, ...]
    pending: tuple[Operation, ...]


@dataclass(frozen=True)
class Counterexample:
    """Why a key's history is not linearizable. See the module docstring."""

    key: Any
    failing_op: Operation
    window: tuple[Operation, ...]
    open_ops: tuple[Operation, ...]
    configurations: tuple[FrontierConfiguration, ...]
    configurations_capped: bool

    @property
    def window_start_index(self) -> int:
        return min(op.call_index for op in self.window)

    @property
    def window_end_index(self) -> int:
        assert self.failing_op.return_index is not None
        return self.failing_op.return_index

    def operation_ids(self) -> set[int]:
        return {op.id for op in self.window}

    def render(self, model: Model, shown_configurations: int = 4) -> str:
        lines = []
        where = "" if self.key is None else f" on key {self.key!r}"
        failing = self.failing_op
        lines.append(f"No order of the operations{where} explains the result of")
        lines.append(f"  {_describe(model, failing)}")
        lines.append(
            f"The search got no further than event {self.window_end_index}. Just before it the "
            f"{model.name} could have been in these states, and from none of them do the pending "
            f"operations explain that result:"
        )
        for config in self.configurations[:shown_configurations]:
            lines.append(f"  from state {model.describe_state(config.state)}")
            if config.recently_linearized:
                path = ", ".join(f"{model.describe_op(op)} (p{op.process})" for op in config.recently_linearized)
                lines.append(f"    (reached by ... {path}) the pending operations would give:")
            for op in config.pending:
                after = model.step(config.state, op)
                outcome = "impossible" if after is ILLEGAL else f"-> {model.describe_state(after)}"
                lines.append(f"      {model.describe_op(op)} (p{op.process}, op {op.id}): {outcome}")
        if self.configurations_capped or len(self.configurations) > shown_configurations:
            lines.append("  (more configurations reached this point; only the first few are shown)")
        lines.append(f"Window: events {self.window_start_index}..{self.window_end_index}, {_count(len(self.window), 'operation')}:")
        for op in self.window:
            lines.append(f"  {_describe(model, op)}")
        if self.open_ops:
            lines.append(
                f"Also pending, with unknown outcome (each may take effect at any point, or never): "
                f"{_count(len(self.open_ops), 'operation')}:"
            )
            for op in self.open_ops:
                lines.append(f"  {_describe(model, op)}")
        return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _describe(model: Model, op: Operation) -> str:
    end = "open" if op.return_index is None else str(op.return_index)
    return f"op {op.id:<5} process {op.process!s:<4} events {op.call_index}..{end:<6} {model.describe_op(op)}"


@dataclass(frozen=True)
class PartitionResult:
    key: Any
    verdict: str
    operations: int
    steps: int
    memo_entries: int
    reason: str = ""


@dataclass
class LinearizabilityResult:
    verdict: str
    model: Model
    counterexample: Counterexample | None = None
    reason: str = ""
    partitions: dict[Any, PartitionResult] = field(default_factory=dict)
    partitions_total: int = 0
    operations_checked: int = 0
    elapsed_s: float = 0.0

    @property
    def exit_code(self) -> int:
        return _EXIT_CODES[self.verdict]

    @property
    def valid(self) -> bool | None:
        return {LINEARIZABLE: True, NOT_LINEARIZABLE: False, UNKNOWN: None}[self.verdict]

    def render(self) -> str:
        """The text a person reads: the verdict on the first line, then why."""
        lines = [self.verdict]
        steps = sum(p.steps for p in self.partitions.values())
        finished = sum(1 for p in self.partitions.values() if p.verdict != UNKNOWN)
        lines.append(
            f"{_count(self.operations_checked, 'operation')} in {_count(self.partitions_total, 'partition')} "
            f"({finished} finished), {steps} search steps, {self.elapsed_s:.2f} s, model {self.model!r}"
        )
        if self.reason:
            lines.append(self.reason)
        if self.counterexample is not None:
            lines.append(self.counterexample.render(self.model))
        return "\n".join(lines)


class _Entry:
    __slots__ = ("op", "bit", "position", "is_call", "match", "prev", "next", "twin_bit", "read_only")

    def __init__(self, op: Operation | None, bit: int, position: float, is_call: bool) -> None:
        self.op = op
        self.bit = bit
        self.position = position
        self.is_call = is_call
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None
        self.twin_bit = 0
        self.read_only = False


class _PartitionSearch:
    """The search for one key, resumable: ``run(max_steps)`` continues where the last call stopped."""

    def __init__(self, key: Any, ops: list[Operation], model: Model, frontier_cap: int) -> None:
        self.key = key
        self.model = model
        self.ops = ops
        self.steps = 0
        self.all_bits = (1 << len(ops)) - 1
        entries: list[_Entry] = []
        for local_id, op in enumerate(ops):
            call = _Entry(op, 1 << local_id, op.call_index, True)
            call.read_only = model.read_only(op)
            entries.append(call)
            if op.return_index is not None:
                if op.return_index <= op.call_index:
                    raise ValueError(f"op {op.id} returns (event {op.return_index}) before it is called")
                ret = _Entry(op, 1 << local_id, op.return_index, False)
                call.match, ret.match = ret, call
                entries.append(ret)
        _link_twins([entry for entry in entries if entry.is_call])
        entries.sort(key=lambda entry: (entry.position, not entry.is_call))
        self.head = _Entry(None, 0, float("-inf"), True)
        tail = _Entry(None, 0, float("inf"), False)  # a return that never comes: the list's end
        previous = self.head
        for entry in entries + [tail]:
            previous.next, entry.prev = entry, previous
            previous = entry
        self.remaining_returns = sum(1 for entry in entries if not entry.is_call)
        self.entry = self.head.next
        self.state = model.initial_state()
        self.linearized = 0
        self.memo: set[tuple[int, Any]] = set()
        self.stack: list[tuple[_Entry, Any]] = []
        self.frontier_cap = frontier_cap
        self.frontier_entry: _Entry | None = None
        self.frontier_unlinearized = 0
        self.frontier_configs: dict[Hashable, tuple[int, tuple[Operation, ...]]] = {}
        self.frontier_capped = False

    def run(self, max_steps: int, max_new_entries: float = float("inf")) -> str:
        """Search for up to ``max_steps`` steps, stopping early once the memo has grown by more than
        ``max_new_entries``; return LINEARIZABLE, NOT_LINEARIZABLE or _RUNNING."""
        # Locals for speed: this loop is the checker's hot path.
        step = self.model.step
        memo = self.memo
        stack = self.stack
        head = self.head
        entry = self.entry
        state = self.state
        linearized = self.linearized
        remaining = self.remaining_returns
        frontier = self.frontier_entry.position if self.frontier_entry is not None else float("-inf")
        memo_limit = len(memo) + max_new_entries
        steps = 0
        verdict = LINEARIZABLE
        while remaining:
            if steps >= max_steps or len(memo) > memo_limit:
                verdict = _RUNNING
                break
            steps += 1
            if entry.is_call:
                twin = entry.twin_bit
                if twin and not linearized & twin:
                    entry = entry.next  # its twin goes first; see _link_twins
                    continue
                new_state = step(state, entry.op)
                if new_state is ILLEGAL:
                    entry = entry.next
                    continue
                new_linearized = linearized | entry.bit
                configuration = (new_linearized, new_state)
                if configuration not in memo:
                    memo.add(configuration)
                    stack.append((entry, state))
                    state, linearized = new_state, new_linearized
                    # Lift: unlink the call and its return.
                    entry.prev.next = entry.next
                    entry.next.prev = entry.prev
                    ret = entry.match
                    if ret is not None:
                        ret.prev.next = ret.next
                        ret.next.prev = ret.prev
                        remaining -= 1
                    entry = head.next
                    continue
                if not entry.read_only:
                    entry = entry.next
                    continue
                # A read-only op placed here leads only to ground already searched: dead end.
            elif entry.position >= frontier:
                # A return entry whose operation is not linearized: this branch is dead.
                frontier = entry.position
                self._note_frontier(entry, state, linearized)
            # Backtrack: undo the last placement and try the entry after it. A read-only op that was
            # legal where it was placed was the only thing tried there (see below), so its failure
            # is its parent's failure too: keep undoing.
            while stack:
                entry, state = stack.pop()
                linearized ^= entry.bit
                ret = entry.match
                if ret is not None:
                    ret.prev.next = ret
                    ret.next.prev = ret
                    remaining += 1
                entry.prev.next = entry
                entry.next.prev = entry
                if not entry.read_only:
                    break
            else:
                verdict = NOT_LINEARIZABLE
                break
            entry = entry.next
        self.entry, self.state, self.linearized, self.remaining_returns = entry, state, linearized, remaining
        self.steps += steps
        return verdict

    def _note_frontier(self, entry: _Entry, state: Any, linearized: int) -> None:
        if self.frontier_entry is not entry:
            self.frontier_entry = entry
            self.frontier_unlinearized = 0
            self.frontier_configs = {}
            self.frontier_capped = False
        self.frontier_unlinearized |= self.all_bits ^ linearized
        if state in self.frontier_configs:
            return
        if len(self.frontier_configs) >= self.frontier_cap:
            self.frontier_capped = True
            return
        recent = tuple(pushed.op for pushed, _ in self.stack[-3:])
        self.frontier_configs[state] = (linearized, recent)

    def abandon(self) -> None:
        """Free the memory of a search that will not be continued."""
        self.memo = set()
        self.stack = []

    def counterexample(self) -> Counterexample:
        entry = self.frontier_entry
        assert entry is not None and entry.op is not None, "a failed search always has a frontier"
        end = entry.position

        def pending_ops(unlinearized: int) -> list[Operation]:
            return [
                op
                for local_id, op in enumerate(self.ops)
                if unlinearized >> local_id & 1 and op.call_index < end
            ]

        pending_anywhere = pending_ops(self.frontier_unlinearized)
        window = tuple(op for op in pending_anywhere if op.return_index is not None)
        open_ops = tuple(op for op in pending_anywhere if op.return_index is None)
        configurations = tuple(
            FrontierConfiguration(
                state=state,
                recently_linearized=recent,
                pending=tuple(pending_ops(self.all_bits ^ linearized)),
            )
            for state, (linearized, recent) in self.frontier_configs.items()
        )
        return Counterexample(
            key=self.key,
            failing_op=entry.op,
            window=window,
            open_ops=open_ops,
            configurations=configurations,
            configurations_capped=self.frontier_capped,
        )


_TWIN_LOOKBACK = 8


def _link_twins(calls: list[_Entry]) -> None:
    """Symmetry reduction. Two operations the model cannot tell apart (same f, key, value, result and
    outcome) are interchangeable, so if Y was called no later than X and must return no later
    (an unknown outcome returns "never"), some valid order places Y before X whenever any does:
    swap them. X's entry records Y's bit, and the search tries X only once Y is placed. Many
    concurrent reads of one value, or retried writes of one value, stop multiplying the search."""
    latest: dict[Any, list[_Entry]] = {}
    for call in calls:  # in call order
        op = call.op
        try:
            signature = (op.f, op.key, op.value, op.output, op.outcome, op.return_index is None)
            hash(signature)
        except TypeError:
            continue  # unhashable values: no twins, the search is merely slower
        deadline = float("inf") if op.return_index is None else op.return_index
        previous = latest.setdefault(signature, [])
        for candidate in reversed(previous[-_TWIN_LOOKBACK:]):
            other = candidate.op
            other_deadline = float("inf") if other.return_index is None else other.return_index
            if other.call_index <= op.call_index and other_deadline <= deadline:
                call.twin_bit = candidate.bit
                break
        previous.append(call)


def check_linearizability(
    operations: Iterable[Operation],
    model: Model,
    budget: Budget = Budget(),
    *,
    clock: Callable[[], float] = time.monotonic,
) -> LinearizabilityResult:
    """Check ``operations`` (from :func:`jepsen_like.history.operations`) against ``model``."""
    started_s = clock()
    partitions: dict[Any, list[Operation]] = {}
    checked = 0
    for op in operations:
        if model.relevant(op):
            partitions.setdefault(model.partition_key(op), []).append(op)
            checked += 1
    for ops in partitions.values():
        ops.sort(key=lambda op: op.call_index)

    results: dict[Any, PartitionResult] = {}
    # Small partitions first: they finish in one slice and free their slot.
    waiting = deque(sorted(partitions, key=lambda key: len(partitions[key])))
    active: list[_PartitionSearch] = []

    def finish(search: _PartitionSearch, verdict: str, reason: str = "") -> None:
        results[search.key] = PartitionResult(
            key=search.key,
            verdict=verdict,
            operations=len(search.ops),
            steps=search.steps,
            memo_entries=len(search.memo),
            reason=reason,
        )

    def result(verdict: str, reason: str = "", counterexample: Counterexample | None = None) -> LinearizabilityResult:
        return LinearizabilityResult(
            verdict=verdict,
            model=model,
            counterexample=counterexample,
            reason=reason,
            partitions=results,
            partitions_total=len(partitions),
            operations_checked=checked,
            elapsed_s=clock() - started_s,
        )

    while waiting or active:
        while waiting and len(active) < budget.max_active_partitions:
            key = waiting.popleft()
            active.append(_PartitionSearch(key, partitions[key], model, budget.frontier_configurations))
        for search in list(active):
            allowance = float("inf")
            if budget.max_memo_entries is not None:
                allowance = max(0, budget.max_memo_entries - sum(len(s.memo) for s in active))
            verdict = search.run(budget.slice_steps, allowance)
            if verdict == NOT_LINEARIZABLE:
                finish(search, NOT_LINEARIZABLE)
                return result(NOT_LINEARIZABLE, counterexample=search.counterexample())
            if verdict == LINEARIZABLE:
                finish(search, LINEARIZABLE)
                active.remove(search)
                search.abandon()
            if budget.time_s is not None and clock() - started_s > budget.time_s:
                stopped = [s.key for s in active] + list(waiting)
                for other in active:
                    finish(other, UNKNOWN, "time budget ran out")
                for key in waiting:
                    results[key] = PartitionResult(key, UNKNOWN, len(partitions[key]), 0, 0, "not started")
                return result(
                    UNKNOWN,
                    f"time budget of {budget.time_s} s ran out with {len(stopped)} of {len(partitions)} "
                    f"partitions unfinished: {_keys(stopped)}",
                )
        if budget.max_memo_entries is not None:
            while active and sum(len(s.memo) for s in active) > budget.max_memo_entries:
                largest = max(active, key=lambda s: len(s.memo))
                finish(largest, UNKNOWN, f"memo budget: {len(largest.memo)} configurations explored")
                active.remove(largest)
                largest.abandon()

    unknown = [r for r in results.values() if r.verdict == UNKNOWN]
    if unknown:
        rest = len(partitions) - len(unknown)
        return result(
            UNKNOWN,
            f"memo budget of {budget.max_memo_entries} entries ran out on {len(unknown)} of "
            f"{len(partitions)} partitions: {_keys([r.key for r in unknown])}"
            + (f"; the other {rest} are linearizable" if rest else ""),
        )
    return result(LINEARIZABLE)


def _keys(keys: list[Any], shown: int = 10) -> str:
    text = ", ".join(repr(key) for key in keys[:shown])
    return text + (f" and {len(keys) - shown} more" if len(keys) > shown else "")
