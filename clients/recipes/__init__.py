"""Coordination recipes written once, as step generators (``clients.steps``), for both clients.

Each recipe object is made from a client (``client.Lock(path, identifier)``) and its methods return
what that client returns: values for the blocking client, Deferreds for the Twisted one.  Where
kazoo has the recipe, the znodes follow kazoo's protocol (names, sequence and ordering rules), so
coord-client and kazoo participants can share one path.
"""


class RecipeFactories:
    """``client.Lock(path, identifier)`` & co., shared by both clients (kazoo's factory names)."""

    def Lock(self, path, identifier=None):
        from .lock import Lock
        return Lock(self, path, identifier)

    def ReadLock(self, path, identifier=None):
        from .lock import ReadLock
        return ReadLock(self, path, identifier)

    def WriteLock(self, path, identifier=None):
        from .lock import WriteLock
        return WriteLock(self, path, identifier)

    def Election(self, path, identifier=None):
        from .election import Election
        return Election(self, path, identifier)

    def Counter(self, path, default=0):
        from .counter import Counter
        return Counter(self, path, default)

    def Barrier(self, path):
        from .barrier import Barrier
        return Barrier(self, path)

    def Party(self, path, identifier=None):
        from .party import Party
        return Party(self, path, identifier)

    def ShallowParty(self, path, identifier=None):
        from .party import ShallowParty
        return ShallowParty(self, path, identifier)

    def ShardAllocator(self, path, member_id, num_shards, on_change):
        from .shard_allocator import ShardAllocator
        return ShardAllocator(self, path, member_id, num_shards, on_change)

    def Semaphore(self, path, identifier=None, max_leases=1):
        from .semaphore import Semaphore
        return Semaphore(self, path, identifier, max_leases)

    def Queue(self, path):
        from .queue import Queue
        return Queue(self, path)

    def TreeCache(self, path, listener=None):
        from .tree_cache import TreeCache
        return TreeCache(self, path, listener)

    def DoubleBarrier(self, path, num_clients, identifier=None):
        from .barrier import DoubleBarrier
        return DoubleBarrier(self, path, num_clients, identifier)

    def LockingQueue(self, path):
        from .queue import LockingQueue
        return LockingQueue(self, path)
