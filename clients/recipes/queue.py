"""Queue: a distributed FIFO with priorities, in kazoo's ``Queue`` layout.

Theory of operation (kazoo ``recipe/queue.py``).  An item is a persistent sequential child
``entry-<priority:03d>-<sequence>`` whose data is the item; sorting the names gives priority
order (lower first), then arrival order.  ``get`` reads the first child and deletes it; the item
is ours only if our delete succeeded (NoNode means another consumer took it: try the next).
Like kazoo's, consumption is not reliable: an item is removed before it is processed, and a
delete whose reply is lost to a connection drop may have consumed an item nobody returns.
"""

from __future__ import annotations

from coord.protocol.codes import OpCode

from .. import errors
from ..steps import RETRYABLE, Now, Signal, Wait, retrying

__all__ = ["Queue", "LockingQueue"]

PREFIX = "entry-"


class Queue:
    def __init__(self, client, path: str) -> None:
        self.client = client
        self.path = path

    def put(self, value: bytes, priority: int = 100):
        if not isinstance(value, bytes):
            raise TypeError("value must be a byte string")
        if not isinstance(priority, int) or not 0 <= priority <= 999:
            raise ValueError("priority must be an int between 0 and 999")
        return self.client._run(self.put_steps(value, priority))

    def get(self):
        """The first item (bytes), removed from the queue; None when empty."""
        return self.client._run(self.get_steps())

    def size(self):
        return self.client._run(self.size_steps())

    def __len__(self):
        return self.size()

    def put_steps(self, value, priority):
        ops = self.client._ops
        yield from retrying(lambda: ops.ensure_path(self.path))
        # Not retried: a create lost to a connection drop may have happened (no duplicates).
        return (yield ops.create(f"{self.path}/{PREFIX}{priority:03d}-", value, sequence=True))

    def get_steps(self):
        ops = self.client._ops
        yield from retrying(lambda: ops.ensure_path(self.path))
        for _round in range(100):
            children = sorted((yield from retrying(lambda: ops.get_children(self.path))))
            if not children:
                return None
            for name in children:
                try:
                    data, _stat = yield from retrying(lambda: ops.get(f"{self.path}/{name}"))
                    yield from retrying(lambda: ops.delete(f"{self.path}/{name}"))
                except errors.NoNodeError:
                    continue  # another consumer took it
                return data
        raise errors.OperationTimeoutError(f"queue {self.path}: no item could be taken")

    def size_steps(self):
        ops = self.client._ops
        yield from retrying(lambda: ops.ensure_path(self.path))
        _data, stat = yield from retrying(lambda: ops.get(self.path))
        return stat.numChildren


class LockingQueue:
    """A queue whose items are taken under an ephemeral lock and removed only by ``consume``
    (kazoo's ``LockingQueue`` layout: ``entries/entry-<priority:03d>-<seq>`` and
    ``taken/<entry name>``, the lock's data being the taker's random id).

    ``get`` locks the first free entry and returns its data (None at the timeout); ``consume``
    deletes entry and lock in one transaction; ``release`` gives the entry back.  If the taker's
    session ends, its lock goes and another consumer can take the entry: nothing is lost.  The
    taker then finds out: ``holds_lock`` is False, ``consume`` returns False and consumes
    nothing, and ``get`` takes a fresh item.  Delivery is thus at least once: an item whose
    taker expired mid-processing is processed again by someone else.
    """

    def __init__(self, client, path: str) -> None:
        self.client = client
        self.path = path
        self.id = f"{client._rng.getrandbits(128):032x}".encode()
        self.entries_path = path + "/entries"
        self.taken_path = path + "/taken"
        self.processing_element = None  # (entry name, data) while we hold one

    def put(self, value: bytes, priority: int = 100):
        if not isinstance(value, bytes):
            raise TypeError("value must be a byte string")
        if not isinstance(priority, int) or not 0 <= priority <= 999:
            raise ValueError("priority must be an int between 0 and 999")
        return self.client._run(self.put_steps(value, priority))

    def get(self, timeout: float | None = None):
        return self.client._run(self.get_steps(timeout))

    def consume(self):
        return self.client._run(self.finish_steps(consume=True))

    def release(self):
        return self.client._run(self.finish_steps(consume=False))

    def holds_lock(self):
        return self.client._run(self.holds_lock_steps())

    def size(self):
        return self.client._run(self.size_steps())

    def __len__(self):
        return self.size()

    def _ensure_paths(self):
        ops = self.client._ops
        for path in (self.taken_path, self.entries_path):
            yield from retrying(lambda: ops.ensure_path(path))

    def put_steps(self, value, priority):
        yield from self._ensure_paths()
        return (yield self.client._ops.create(
            f"{self.entries_path}/entry-{priority:03d}-", value, sequence=True))

    def get_steps(self, timeout=None):
        if self.processing_element is not None:
            if (yield from self.holds_lock_steps()):
                return self.processing_element[1]
            self.processing_element = None  # our session expired: someone else may have it now
        ops = self.client._ops
        yield from self._ensure_paths()
        deadline = None if timeout is None else (yield Now()) + timeout
        while True:
            signal = Signal()
            entries = yield from retrying(lambda: ops.get_children(self.entries_path,
                                                                   watch=signal))
            taken = set((yield from retrying(lambda: ops.get_children(self.taken_path,
                                                                      watch=signal))))
            for name in sorted(e for e in entries if e not in taken):
                data = yield from self._take(name)
                if data is not None:
                    self.processing_element = (name, data)
                    return data
            remaining = None
            if deadline is not None:
                remaining = deadline - (yield Now())
                if remaining <= 0:
                    return None
            if not (yield Wait(signal, remaining)):
                return None

    def _take(self, name):
        ops = self.client._ops
        lock_path = f"{self.taken_path}/{name}"
        try:
            yield ops.create(lock_path, self.id, ephemeral=True)
        except errors.NodeExistsError:
            return None  # someone else's
        except RETRYABLE:  # cut off (or its session gone): it may have happened
            try:  # the create may have happened: is the lock ours?
                data, _stat = yield from retrying(lambda: ops.get(lock_path))
            except errors.NoNodeError:
                return None
            if data != self.id:
                return None
        try:
            data, _stat = yield from retrying(lambda: ops.get(f"{self.entries_path}/{name}"))
        except errors.NoNodeError:  # consumed meanwhile
            try:
                yield from retrying(lambda: ops.delete(lock_path))
            except errors.NoNodeError:
                pass
            return None
        return data

    def holds_lock_steps(self):
        if self.processing_element is None:
            return False
        ops = self.client._ops
        lock_path = f"{self.taken_path}/{self.processing_element[0]}"
        yield from retrying(lambda: ops.sync(lock_path))
        try:
            data, _stat = yield from retrying(lambda: ops.get(lock_path))
        except errors.NoNodeError:
            return False
        return data == self.id

    def finish_steps(self, consume):
        if not (yield from self.holds_lock_steps()):
            self.processing_element = None
            return False
        name = self.processing_element[0]
        ops = self.client._ops
        deletes = [f"{self.taken_path}/{name}"]
        if consume:
            deletes.insert(0, f"{self.entries_path}/{name}")
        results = yield ops.multi([(OpCode.DELETE, ops.delete(path).record) for path in deletes])
        self.processing_element = None
        return not any(isinstance(result, Exception) for result in results)

    def size_steps(self):
        ops = self.client._ops
        yield from self._ensure_paths()
        _data, stat = yield from retrying(lambda: ops.get(self.entries_path))
        return stat.numChildren
