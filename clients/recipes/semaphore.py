"""Semaphore: at most ``max_leases`` holders at once, as kazoo's ``Semaphore`` lays it out.

Theory of operation (kazoo ``recipe/lock.py`` ``Semaphore``).  ``path``'s data is the number of
leases (every participant must agree, or ValueError); each holder owns an ephemeral child named by
a random 32-hex id, with its identifier as data.  Lease decisions are serialized by a Lock on the
sibling path ``path + "-__lock__"``: under it, a contender counts the children and creates its
lease node if there is room; otherwise it waits for the children to change (a lease released, or
a holder's session ended) and counts again.

Faults.  Leases end with their holder's session: the holder is told (``lost`` set,
``is_acquired`` False) and a waiter gets the lease.  A waiter whose session expires has lost the
serializing lock with it, so it takes that lock again before it counts (else two waiters could
both see room for one).  Across a connection loss alone, leases and waiters stay as they were.
"""

from __future__ import annotations

from coord.protocol.codes import OpCode
from coord.protocol.records import CheckVersionRequest

from .. import errors
from ..steps import RETRYABLE, Now, Signal, Wait, retrying
from .lock import Held, Lock

__all__ = ["Semaphore"]


class Semaphore(Held):
    def __init__(self, client, path: str, identifier=None, max_leases: int = 1) -> None:
        if max_leases < 1:
            raise ValueError("max_leases must be at least 1")
        self.client = client
        self.path = path
        self.identifier = identifier
        self.data = str(identifier or "").encode("utf-8")
        self.max_leases = max_leases
        self.create_path = f"{path}/{client._rng.getrandbits(128):032x}"
        self.lock_path = path + "-__lock__"

    def acquire(self, blocking: bool = True, timeout: float | None = None):
        return self.client._run(self.acquire_steps(blocking, timeout))

    def lease_holders(self):
        return self.client._run(self.lease_holders_steps())

    def acquire_steps(self, blocking=True, timeout=None):
        ops = self.client._ops
        self._cancelled = False
        deadline = None if timeout is None else (yield Now()) + timeout
        yield from self._ensure_path()
        if (yield from retrying(lambda: ops.exists(self.create_path))) is not None:
            return self._held()
        lock = Lock(self.client, self.lock_path, self.identifier)
        try:
            while True:
                if not lock.is_acquired:  # at first, or again after our session expired
                    remaining = None if deadline is None else max(0.0, deadline - (yield Now()))
                    if not (yield from lock.acquire_steps(blocking, remaining)):
                        return False
                if self._cancelled:
                    raise errors.CancelledError(f"semaphore {self.path} cancelled")
                signal = self._wake = Signal()
                children = yield from retrying(lambda: ops.get_children(self.path, watch=signal))
                if len(children) < self.max_leases:
                    yield from self._create_lease_under(lock)
                    if not lock.is_acquired:
                        continue  # our session expired under us: take the lock again
                if (yield from retrying(lambda: ops.exists(self.create_path))) is not None:
                    return self._held()
                if not blocking:
                    return False
                remaining = None
                if deadline is not None:
                    remaining = deadline - (yield Now())
                    if remaining <= 0:
                        raise errors.LockTimeout(f"no lease on {self.path} within the timeout")
                if self._cancelled:  # cancel() came before self._wake was this round's signal
                    raise errors.CancelledError(f"semaphore {self.path} cancelled")
                if not (yield Wait(signal, remaining)):
                    raise errors.LockTimeout(f"no lease on {self.path} within the timeout")
        except Exception:
            if not self.is_acquired:
                try:
                    yield ops.delete(self.create_path)
                except errors.CoordClientError:
                    pass
            raise
        finally:
            yield from lock.release_steps()

    def _create_lease_under(self, lock):
        """Create our lease only while our lock node still exists, in one multi: had our session
        expired since we took the lock, another contender may be counting too, and both would
        see room for the last lease."""
        ops = self.client._ops
        lock_node = f"{self.lock_path}/{lock.node}"
        try:
            results = yield ops.multi([
                (OpCode.CHECK, CheckVersionRequest(ops.server_path(lock_node), -1)),
                (OpCode.CREATE, ops.create(self.create_path, self.data, ephemeral=True).record)])
        except RETRYABLE:
            return  # cut off (or its session gone): it may have happened, the caller looks
        if isinstance(results[0], errors.NoNodeError):
            yield from lock.release_steps()  # the lock went with our old session
        # results[1] NodeExists: ours, from a create cut off by a connection loss

    def _release_node_steps(self):
        try:
            yield from retrying(lambda: self.client._ops.delete(self.create_path))
        except errors.NoNodeError:
            pass

    def lease_holders_steps(self):
        ops = self.client._ops
        try:
            children = yield from retrying(lambda: ops.get_children(self.path))
        except errors.NoNodeError:
            return []
        holders = []
        for child in children:
            try:
                data, _stat = yield from retrying(lambda: ops.get(f"{self.path}/{child}"))
            except errors.NoNodeError:
                continue
            holders.append(data.decode("utf-8"))
        return holders

    def _ensure_path(self):
        ops = self.client._ops
        yield from retrying(lambda: ops.ensure_path(self.path))
        data, _stat = yield from retrying(lambda: ops.get(self.path))
        try:
            leases = int(data.decode("utf-8"))
        except (ValueError, UnicodeError):
            yield from retrying(lambda: ops.set(self.path, str(self.max_leases).encode("utf-8")))
            return
        if leases != self.max_leases:
            raise ValueError(f"inconsistent max leases on {self.path}: {leases}, "
                             f"expected {self.max_leases}")
