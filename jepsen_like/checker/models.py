"""Sequential specifications ("models") the linearizability checker tests a history against.

Theory of operation
-------------------
A model says what one object does when operations are applied to it *one at a time*: a start
state, and a ``step(state, op)`` that returns the next state, or :data:`ILLEGAL` if ``op``'s
recorded result could not have come from ``state``. The checker searches for an order of the
history's operations, consistent with real time, in which every step is legal. States must be
hashable (the search memoizes on them) and are best kept small: ints, strings, tuples, frozensets.

Besides ``step`` a model answers three questions the checker asks before searching:

* ``relevant(op)``: does this operation take part at all? By default a ``fail`` did not happen and is
  dropped. A read with no known result constrains nothing and changes nothing, so it is dropped too:
  the search is then smaller and the verdict the same.
* ``partition_key(op)``: which independent object does ``op`` touch? Operations on different keys
  are checked separately (P-compositionality: a history is linearizable iff each key's sub-history
  is), which turns one exponential search into many small ones.
* ``read_only(op)``: is ``op`` a pure observation, one that from *every* state is either illegal
  or leaves the state unchanged (a read, a compare that failed)? Such an op, when legal now, can be
  placed now without loss: moving it earlier changes nothing for anyone else. The search then
  tries nothing else at that point, which keeps read-heavy, highly concurrent histories cheap.
  Answering ``False`` is always safe.
* ``describe_op`` / ``describe_state``: how to print them in a counterexample.

An operation whose outcome is unknown (``op.outcome == "unknown"``) reaches ``step`` only if the
search tries to place it; it is never *required* to take effect. Its ``output`` is ``None``.

Adding a model is one small class: subclass :class:`Model`, set ``name`` and ``operations``, write
``initial_state`` and ``step``, and add it to :data:`MODELS`.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping

from jepsen_like.history import Operation

__all__ = [
    "ILLEGAL",
    "KvModel",
    "MODELS",
    "Model",
    "ModelError",
    "MultiRegisterModel",
    "MutexModel",
    "RegisterModel",
    "make_model",
]


class _Illegal:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ILLEGAL"


ILLEGAL: Any = _Illegal()
"""Returned by ``step`` when the operation's recorded result cannot follow from the state.
A sentinel rather than ``None`` because ``None`` is a perfectly good register value."""


class ModelError(ValueError):
    """An operation the model does not understand (unknown ``f``, malformed value)."""


class Model:
    """Base class: override ``initial_state`` and ``step``; the rest has sensible defaults."""

    name = "model"
    operations: frozenset[str] = frozenset()

    def initial_state(self) -> Hashable:
        raise NotImplementedError

    def step(self, state: Any, op: Operation) -> Any:
        raise NotImplementedError

    def relevant(self, op: Operation) -> bool:
        self.check_supported(op)
        return op.outcome != "fail"

    def partition_key(self, op: Operation) -> Hashable:
        return None

    def read_only(self, op: Operation) -> bool:
        return False

    def check_supported(self, op: Operation) -> None:
        if op.f not in self.operations:
            raise ModelError(
                f"the {self.name} model has no operation {op.f!r} (op {op.id}, process {op.process}); "
                f"it knows {', '.join(sorted(self.operations))}"
            )

    def describe_op(self, op: Operation) -> str:
        text = f"{op.f} {_show(op.value)}" if op.value is not None else op.f
        if op.outcome == "ok" and op.output != op.value:
            text += f" -> {_show(op.output)}"
        elif op.outcome == "fail":
            text += " (failed)"
        elif op.outcome == "unknown":
            text += " (outcome unknown)"
        return text

    def describe_state(self, state: Any) -> str:
        return _show(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _show(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, tuple):
        return "[" + " ".join(_show(item) for item in value) + "]"
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(f"{_show(k)} {_show(v)}" for k, v in value)) + "}"
    return repr(value)


FAILED_CAS_CHOICES = ("never-happened", "compare-failed")


class RegisterModel(Model):
    """A read/write/compare-and-set register, one per key (ops without a key share one register).

    * ``read`` -> v: legal iff v equals the state (or v is nil and ``nil_read_is_wildcard``).
    * ``write v``: sets the state to v.
    * ``cas [expected new]``: ok iff the state equals ``expected``; then the state becomes ``new``.

    Options, each one a difference between the published tools:

    * ``initial``: the value before any write. nil (``None``) by default; Knossos's cas-register
      starts at 0.
    * ``nil_read_is_wildcard``: Knossos treats a completed read of nil as "value not recorded", a
      match for any state. Off by default, because a register may genuinely hold nil.
    * ``failed_cas``: what a ``fail`` CAS means. ``"never-happened"`` (Jepsen's rule for every
      ``fail``) drops it. ``"compare-failed"`` (Porcupine's etcd model, and what a ZooKeeper
      ``BadVersion`` reply means) keeps it as a definite result: it executed, the state did not
      equal ``expected``, nothing changed.

    A CAS with unknown outcome may be placed only where its compare succeeds; "it ran and the compare
    failed" leaves the state as it was, which the search already covers by never placing it.
    """

    name = "register"
    operations = frozenset({"read", "write", "cas"})

    def __init__(
        self, initial: Any = None, nil_read_is_wildcard: bool = False, failed_cas: str = "never-happened"
    ) -> None:
        if failed_cas not in FAILED_CAS_CHOICES:
            raise ValueError(f"failed_cas must be one of {FAILED_CAS_CHOICES}, not {failed_cas!r}")
        self.initial = _freeze(initial)
        self.nil_read_is_wildcard = nil_read_is_wildcard
        self.failed_cas = failed_cas

    def __repr__(self) -> str:
        return (
            f"RegisterModel(initial={self.initial!r}, nil_read_is_wildcard={self.nil_read_is_wildcard}, "
            f"failed_cas={self.failed_cas!r})"
        )

    def initial_state(self) -> Any:
        return self.initial

    def partition_key(self, op: Operation) -> Hashable:
        return op.key

    def read_only(self, op: Operation) -> bool:
        return op.f == "read" or (op.f == "cas" and op.outcome == "fail")

    def relevant(self, op: Operation) -> bool:
        self.check_supported(op)
        if op.f == "read":
            # A read that matches any state changes nothing and constrains nothing: it can always be
            # placed somewhere in its interval, so leaving it out keeps the verdict and shrinks the search.
            return op.outcome == "ok" and not (op.output is None and self.nil_read_is_wildcard)
        if op.f == "cas":
            _cas_arguments(op)
            if op.outcome == "fail":
                return self.failed_cas == "compare-failed"
        return op.outcome != "fail"

    def step(self, state: Any, op: Operation) -> Any:
        f = op.f
        if f == "read":
            seen = op.output
            if seen == state or (seen is None and self.nil_read_is_wildcard):
                return state
            return ILLEGAL
        if f == "write":
            return op.value
        expected, new = op.value  # cas; shape checked in relevant()
        outcome = op.outcome
        if outcome == "ok":
            return new if state == expected else ILLEGAL
        if outcome == "fail":  # kept only when failed_cas == "compare-failed"
            return ILLEGAL if state == expected else state
        if state == expected:
            return new
        # Unknown outcome and the compare fails: it ran to no effect. For an open op that is the same
        # as never placing it, so refuse (a smaller search); an op that must be placed before a known
        # return (a timed-out call closed at its timeout) may do exactly that.
        return ILLEGAL if op.return_index is None else state


def _cas_arguments(op: Operation) -> None:
    if not (isinstance(op.value, tuple) and len(op.value) == 2):
        raise ModelError(f"cas needs [expected new], got {op.value!r} (op {op.id}, process {op.process})")


class KvModel(Model):
    """A key-value store of strings: ``get`` -> v, ``put v``, ``append v`` (concatenate). A missing
    key reads as ``missing`` (``""``). Partitioned by key by default; ``partitioned=False`` checks
    the whole map as one object (slower, the same verdict: a check on P-compositionality itself)."""

    name = "kv"
    operations = frozenset({"get", "put", "append"})

    def __init__(self, partitioned: bool = True, missing: Any = "") -> None:
        self.partitioned = partitioned
        self.missing = missing

    def __repr__(self) -> str:
        return f"KvModel(partitioned={self.partitioned}, missing={self.missing!r})"

    def initial_state(self) -> Any:
        return self.missing if self.partitioned else frozenset()

    def partition_key(self, op: Operation) -> Hashable:
        return op.key if self.partitioned else None

    def read_only(self, op: Operation) -> bool:
        return op.f == "get"

    def relevant(self, op: Operation) -> bool:
        self.check_supported(op)
        if op.f == "get":
            return op.outcome == "ok"
        return op.outcome != "fail"

    def step(self, state: Any, op: Operation) -> Any:
        if self.partitioned:
            return self._step_value(state, op)
        store = dict(state)
        new_value = self._step_value(store.get(op.key, self.missing), op)
        if new_value is ILLEGAL or op.f == "get":
            return new_value if new_value is ILLEGAL else state
        # One representation per map: a key holding the missing value is left out.
        if new_value == self.missing:
            store.pop(op.key, None)
        else:
            store[op.key] = new_value
        return frozenset(store.items())

    def _step_value(self, value: Any, op: Operation) -> Any:
        f = op.f
        if f == "get":
            return value if op.output == value else ILLEGAL
        if f == "put":
            return op.value
        return value + op.value  # append


class MultiRegisterModel(Model):
    """Named registers changed by transactions: ``txn [[read k v] [write k v] ...]``, micro-ops
    applied in order, all or nothing. Every register starts at ``initial`` (Knossos: 0), or, when
    ``initial`` is a map (``{"x": 0, "y": 0}``, Knossos's ``{:x 0 :y 0}``), at its own value there
    (registers the map leaves out start at nil). A completed
    transaction is checked against its completion's value (where reads carry what they saw); an
    unknown one against its invocation, whose reads are then wildcards. The state is a frozenset of
    (register, value) pairs for the registers written so far."""

    name = "multi-register"
    operations = frozenset({"txn"})

    def __init__(self, initial: Any = None, nil_read_is_wildcard: bool = False) -> None:
        if isinstance(initial, Mapping):
            self.initial_by_register = {register: _freeze(value) for register, value in initial.items()}
            self.initial = None
        else:
            self.initial_by_register = {}
            self.initial = _freeze(initial)
        self.nil_read_is_wildcard = nil_read_is_wildcard

    def _start(self, register: Any) -> Any:
        return self.initial_by_register.get(register, self.initial)

    def __repr__(self) -> str:
        initial = self.initial_by_register or self.initial
        return f"MultiRegisterModel(initial={initial!r}, nil_read_is_wildcard={self.nil_read_is_wildcard})"

    def initial_state(self) -> Any:
        return frozenset()

    def read_only(self, op: Operation) -> bool:
        return all(micro[0] == "read" for micro in self._micro_ops(op))

    def relevant(self, op: Operation) -> bool:
        self.check_supported(op)
        for micro in self._micro_ops(op):
            if not (isinstance(micro, tuple) and len(micro) == 3 and micro[0] in ("read", "write")):
                raise ModelError(f"txn micro-op must be [read|write register value], got {micro!r} (op {op.id})")
        return op.outcome != "fail"

    def _micro_ops(self, op: Operation) -> tuple[Any, ...]:
        micro_ops = op.output if op.outcome == "ok" and op.output is not None else op.value
        if not isinstance(micro_ops, tuple):
            raise ModelError(f"txn value must be a list of micro-ops, got {micro_ops!r} (op {op.id})")
        return micro_ops

    def step(self, state: Any, op: Operation) -> Any:
        registers = dict(state)
        wildcard_reads = self.nil_read_is_wildcard or op.outcome != "ok"
        changed = False
        for f, register, value in self._micro_ops(op):
            if f == "read":
                if value is None and wildcard_reads:
                    continue
                if registers.get(register, self._start(register)) != value:
                    return ILLEGAL
            else:
                registers[register] = value
                changed = True
        return frozenset(registers.items()) if changed else state

    def describe_state(self, state: Any) -> str:
        if self.initial_by_register:
            unwritten = {r: v for r, v in self.initial_by_register.items() if r not in dict(state)}
            return _show(state) + (f" (unwritten: {unwritten})" if unwritten else "")
        return _show(state) + (f" (others {_show(self.initial)})" if self.initial is not None else "")


class MutexModel(Model):
    """A lock with no owner recorded (Knossos's mutex): ``acquire`` is legal iff free, ``release``
    iff held. ``False`` is free, ``True`` held."""

    name = "mutex"
    operations = frozenset({"acquire", "release"})

    def initial_state(self) -> Any:
        return False

    def step(self, state: Any, op: Operation) -> Any:
        if op.f == "acquire":
            return ILLEGAL if state else True
        return False if state else ILLEGAL  # release

    def describe_state(self, state: Any) -> str:
        return "held" if state else "free"


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    return value


MODELS: Mapping[str, Callable[..., Model]] = {
    "register": RegisterModel,
    "cas-register": RegisterModel,
    "kv": KvModel,
    "multi-register": MultiRegisterModel,
    "mutex": MutexModel,
}


def make_model(name: str, **options: Any) -> Model:
    """Build a model by name. Options the model does not take are an error."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}") from None
    try:
        return factory(**options)
    except TypeError as problem:
        raise ValueError(f"model {name!r}: {problem}") from None
