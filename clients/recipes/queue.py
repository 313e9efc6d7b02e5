"""Queue: a distributed FIFO with priorities, in kazoo's ``Queue`` layout.

Theory of operation (kazoo ``recipe/queue.py``).  An item is a persistent sequential child
``entry-<priority:03d>-<sequence>`` whose data is the item; sorting the names gives priority
order (lower first), then arrival order.  ``get`` reads the first child and deletes it; the item
is ours only if our delete succeeded (NoNode means another consumer took it: try the next).
Like kazoo's, consumption is not reliable: an item is removed before it is processed, and a
delete whose reply is lost to a connection drop may have consumed an item nobody returns.
"""

from __future__ import annotations

from .. import errors
from ..steps import retrying

__all__ = ["Queue"]

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
