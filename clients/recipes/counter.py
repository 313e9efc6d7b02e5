"""Counter: a shared number changed by compare-and-set on the znode version (kazoo's protocol).

Theory of operation: the value is stored as ``repr(value)`` in ASCII (kazoo's encoding; an empty
node means ``default``).  A change reads the value and its version, then writes the new value
with that version; BadVersion means someone else changed it in between, so it reads again and
retries (bounded), which is what makes concurrent ``add`` calls never lose an increment.

Connection loss.  A write whose reply is lost may have been applied.  It is sent again unchanged
(same value, same expected version): of the two, at most one can succeed, so a success means the
increment was applied exactly once.  But BadVersion after such a loss is ambiguous (our first
write, or someone else's?), so instead of reading and adding again (which could apply the
increment twice) ``add`` raises ConnectionLoss: the outcome is unknown, as for any request in
flight at a connection loss.
"""

from __future__ import annotations

from .. import errors
from ..steps import RETRYABLE, Sleep, retrying

__all__ = ["Counter"]

MAX_CAS_ATTEMPTS = 1000  # contended CAS loops make progress; this only bounds a pathological one
MAX_RESENDS = 20  # of one write cut off by connection loss (doubling back-off, at most 1 s)


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
        for attempt in range(MAX_CAS_ATTEMPTS):
            value, version = yield from self._read()
            new_value = value + delta
            if (yield from self._write(new_value, version)):
                self.pre_value, self.post_value = value, new_value
                return new_value
            yield Sleep(min(0.1, 0.001 * attempt))
        raise errors.BadVersionError(f"counter {self.path}: {MAX_CAS_ATTEMPTS} conflicting writes")

    def _write(self, new_value, version):
        """True once written, False on a clean BadVersion (re-read and retry); ConnectionLoss
        when a lost reply leaves it unknown whether the write happened."""
        ops = self.client._ops
        data = repr(new_value).encode("ascii")
        cut_off = False
        for resend in range(MAX_RESENDS):
            try:
                yield ops.set(self.path, data, version)
                return True
            except RETRYABLE:
                cut_off = True
                yield Sleep(min(1.0, 0.1 * 2 ** resend))
            except errors.BadVersionError:
                if not cut_off:
                    return False
                raise errors.ConnectionLoss(
                    f"counter {self.path}: the connection was lost while writing {new_value!r}; "
                    "whether it was applied is unknown") from None
        raise errors.ConnectionLoss(f"counter {self.path}: no connection to write {new_value!r}")

    def _read(self):
        ops = self.client._ops
        yield from retrying(lambda: ops.ensure_path(self.path))
        data, stat = yield from retrying(lambda: ops.get(self.path))
        value = self.default_type(data.decode("ascii")) if data else self.default
        return value, stat.version
