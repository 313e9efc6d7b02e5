"""Barrier: processes wait while a node exists (kazoo's ``Barrier``).

Theory of operation: the barrier is up while its znode exists.  ``wait`` sets an exists watch;
it returns True once the node is gone, False at the timeout.  A state change wakes the wait too,
and it simply looks again, so a reconnect (or an expiry, which drops the watch) cannot leave a
waiter hanging on a watch that will never fire.
"""

from __future__ import annotations

from .. import errors
from ..steps import Now, Signal, Wait, retrying

__all__ = ["Barrier"]


class Barrier:
    def __init__(self, client, path: str) -> None:
        self.client = client
        self.path = path

    def create(self):
        """Raise the barrier (idempotent)."""
        return self.client._run(retrying(lambda: self.client._ops.ensure_path(self.path)))

    def remove(self):
        """Lower it; True if it was up."""
        return self.client._run(self.remove_steps())

    def wait(self, timeout: float | None = None):
        """True once the barrier is down; False if still up after ``timeout`` seconds."""
        return self.client._run(self.wait_steps(timeout))

    def remove_steps(self):
        try:
            yield from retrying(lambda: self.client._ops.delete(self.path))
        except errors.NoNodeError:
            return False
        return True

    def wait_steps(self, timeout=None):
        ops = self.client._ops
        deadline = None if timeout is None else (yield Now()) + timeout
        while True:
            signal = Signal()
            stat = yield from retrying(lambda: ops.exists(self.path, watch=signal),
                                       deadline=deadline)
            if stat is None:
                return True
            remaining = None
            if deadline is not None:
                remaining = deadline - (yield Now())
                if remaining <= 0:
                    return False
            yield Wait(signal, remaining)
