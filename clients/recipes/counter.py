"""Counter: a shared number changed by compare-and-set on the znode version (kazoo's protocol).

Theory of operation: the value is stored as ``repr(value)`` in ASCII (kazoo's encoding; an empty
node means ``default``).  A change reads the value and its version, then writes the new value
with that version; BadVersion means someone else changed it in between, so it reads again and
retries (bounded), which is what makes concurrent ``add`` calls never lose an increment.
"""

from __future__ import annotations

from .. import errors
from ..steps import Sleep, retrying

__all__ = ["Counter"]

MAX_CAS_ATTEMPTS = 1000  # contended CAS loops make progress; this only bounds a pathological one


class Counter:
    """``counter = client.Counter("/c")``; blocking: ``counter += 1``, ``counter.value``;
    Twisted: ``await counter.add(1)``, ``await counter.get()``."""

    def __init__(self, client, path: str, default=0) -> None:
        self.client = client
        self.path = path
        self.default = default
        self.default_type = type(default)
        self.pre_value = None
        self.post_value = None

    def get(self):
        return self.client._run(self.get_steps())

    def add(self, delta):
        """Add ``delta`` atomically; returns the new value (``pre_value``/``post_value`` are set)."""
        if not isinstance(delta, self.default_type):
            raise TypeError(f"counter of {self.default_type.__name__} cannot add {delta!r}")
        return self.client._run(self.add_steps(delta))

    @property
    def value(self):
        return self.get()

    def __iadd__(self, delta):
        self.add(delta)
        return self

    def __isub__(self, delta):
        self.add(-delta)
        return self

    def get_steps(self):
        value, _version = yield from self._read()
        return value

    def add_steps(self, delta):
        ops = self.client._ops
        for attempt in range(MAX_CAS_ATTEMPTS):
            value, version = yield from self._read()
            new_value = value + delta
            try:
                yield from retrying(
                    lambda: ops.set(self.path, repr(new_value).encode("ascii"), version))
            except errors.BadVersionError:
                yield Sleep(min(0.1, 0.001 * attempt))
                continue
            self.pre_value, self.post_value = value, new_value
            return new_value
        raise errors.BadVersionError(f"counter {self.path}: {MAX_CAS_ATTEMPTS} conflicting writes")

    def _read(self):
        ops = self.client._ops
        yield from retrying(lambda: ops.ensure_path(self.path))
        data, stat = yield from retrying(lambda: ops.get(self.path))
        value = self.default_type(data.decode("ascii")) if data else self.default
        return value, stat.version
