"""Barrier and DoubleBarrier, in kazoo's znode layout.

Theory of operation.  ``Barrier``: the barrier is up while its znode exists.  ``wait`` sets an
exists watch; it returns True once the node is gone, False at the timeout.

``DoubleBarrier(path, num_clients)``: each participant is an ephemeral child ``<32 hex>`` (data:
its identifier).  ``enter`` creates it, watches ``path/ready``, and whoever sees ``num_clients``
children creates ``ready``: everyone proceeds.  ``leave`` deletes ``ready``; then, as kazoo does,
the lowest-named participant waits for the highest to go, and every other participant deletes its
node and waits for the lowest to go, until none is left.

Every wait is also woken by a connection state change and simply looks again, so a reconnect (or
an expiry, which drops watches) cannot leave a waiter hanging on a watch that will never fire.
A ``Barrier`` is a persistent node, so an expiry changes nothing for its waiters: they keep
waiting on the new session.  A ``DoubleBarrier`` participant whose session expires while it
enters has lost its node, so it joins again; one whose session expires while it leaves is out,
which is what leaving means.
"""

from __future__ import annotations

from .. import errors
from ..steps import Now, Signal, Wait, retrying

__all__ = ["Barrier", "DoubleBarrier"]


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


class DoubleBarrier:
    def __init__(self, client, path: str, num_clients: int, identifier=None) -> None:
        if num_clients < 1:
            raise ValueError("num_clients must be at least 1")
        self.client = client
        self.path = path
        self.num_clients = num_clients
        self.identifier = str(identifier or "")
        self.node_name = f"{client._rng.getrandbits(128):032x}"
        self.create_path = f"{path}/{self.node_name}"
        self.ready_path = f"{path}/ready"
        self.participating = False

    def enter(self, timeout: float | None = None):
        """Join; return True once ``num_clients`` have joined (LockTimeout after ``timeout``)."""
        return self.client._run(self.enter_steps(timeout))

    def leave(self, timeout: float | None = None):
        """Leave; return True once everyone has left (LockTimeout after ``timeout``)."""
        return self.client._run(self.leave_steps(timeout))

    def enter_steps(self, timeout=None):
        ops = self.client._ops
        deadline = None if timeout is None else (yield Now()) + timeout
        yield from retrying(lambda: ops.ensure_path(self.path))
        yield from self._join()
        self.participating = True
        while True:
            signal = Signal()
            if (yield from retrying(lambda: ops.exists(self.ready_path, watch=signal))):
                return True
            children = yield from retrying(lambda: ops.get_children(self.path))
            if self.node_name not in children:
                # Our session expired and our node with it (ready is not there, so nobody has
                # gone on counting us): join again with the new session, or we are never counted.
                yield from self._join()
                continue
            if len(children) >= self.num_clients:
                yield from retrying(lambda: ops.ensure_path(self.ready_path))
                return True
            yield from _wait_or_time_out(signal, deadline, f"barrier {self.path}: not all entered")
            if signal.event is not None and signal.event.type == "CREATED":
                return True  # it opened (a fast participant may already have deleted it again)

    def leave_steps(self, timeout=None):
        ops = self.client._ops
        deadline = None if timeout is None else (yield Now()) + timeout
        try:
            yield from retrying(lambda: ops.delete(self.ready_path))
        except errors.NoNodeError:
            pass
        while True:
            children = sorted((yield from retrying(lambda: ops.get_children(self.path))))
            children = [c for c in children if c != "ready"]
            if not children or self.node_name not in children:
                self.participating = False
                return True
            if children == [self.node_name]:
                yield from self._delete_own()
                self.participating = False
                return True
            lowest = children[0]
            if self.node_name != lowest:
                # Leave at once, then wait for the lowest: it leaves last, when all others did.
                yield from self._delete_own()
                self.participating = False
                while True:
                    signal = Signal()
                    if (yield from retrying(lambda: ops.exists(f"{self.path}/{lowest}",
                                                               watch=signal))) is None:
                        return True
                    yield from _wait_or_time_out(signal, deadline,
                                                 f"barrier {self.path}: not all left")
            signal = Signal()  # we are the lowest: wait for the highest, until we are alone
            if (yield from retrying(lambda: ops.exists(f"{self.path}/{children[-1]}",
                                                       watch=signal))) is not None:
                yield from _wait_or_time_out(signal, deadline, f"barrier {self.path}: not all left")

    def _join(self):
        try:
            yield from retrying(lambda: self.client._ops.create(
                self.create_path, self.identifier.encode("utf-8"), ephemeral=True))
        except errors.NodeExistsError:
            pass  # ours, from a create cut off by a connection loss

    def _delete_own(self):
        try:
            yield from retrying(lambda: self.client._ops.delete(self.create_path))
        except errors.NoNodeError:
            pass


def _wait_or_time_out(signal, deadline, message):
    remaining = None
    if deadline is not None:
        remaining = deadline - (yield Now())
        if remaining <= 0:
            raise errors.LockTimeout(message)
    if not (yield Wait(signal, remaining)):
        raise errors.LockTimeout(message)
