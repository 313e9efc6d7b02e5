"""Quotas, as ZooKeeper 3.8 keeps them under ``/zookeeper/quota``.

An operator (zkCli's ``setquota``) marks a path ``/p`` by creating
``/zookeeper/quota/p/zookeeper_limits`` (the limits, StatsTrack text such as
``count=10,bytes=-1`` or ``count=-1,bytes=-1=;byteHardLimit=100``) and
``/zookeeper/quota/p/zookeeper_stats``. From then on the tree keeps ``zookeeper_stats`` at
``count=N,bytes=M`` for the subtree under ``/p`` (``/p`` itself included): every create, delete
and setData below the deepest quota'd ancestor adjusts it in place, as part of applying the
transaction, so every member holds the same numbers without them being transactions themselves
(ZooKeeper updates the stats node's data without touching its Stat, and so does coord).

Creating the stats node sets it to the subtree's current totals; loading a snapshot recomputes
every stats node from its subtree (ZooKeeper's ``setupQuota``).

Limits are checked when a leader preps a create or setData (``check``): over a soft limit
(``count``/``bytes``) is logged, over a hard limit (``countHardLimit``/``byteHardLimit``) fails
with QuotaExceeded, and only when enforcement is on (``enforceQuota``, ZooKeeper's
``zookeeper.enforceQuota``, off by default). ZooKeeper 3.8 logs nothing at all when enforcement
is off; coord still logs the soft-limit warning, once per quota each time it goes over.
"""

import re

from coord.tree.paths import parent_of

QUOTA_ROOT = "/zookeeper/quota"
LIMIT_NODE = "zookeeper_limits"
STATS_NODE = "zookeeper_stats"

COUNT, BYTES = "count", "bytes"
COUNT_HARD, BYTES_HARD = "countHardLimit", "byteHardLimit"


def parse_stats(data):
    """StatsTrack's text as a dict of ints: pairs separated by "," or ";", each ``key=value``
    (an empty value is -1). Pairs that do not parse are skipped, where ZooKeeper would fail the
    write that touched them."""
    stats = {}
    text = data.decode("utf-8", "replace") if data else ""
    for pair in re.split("[,;]+", text):
        parts = pair.split("=")
        if len(parts) < 2 or not parts[0]:
            continue
        try:
            stats[parts[0]] = int(parts[1]) if parts[1] else -1
        except ValueError:
            continue
    return stats


def format_stats(stats):
    """StatsTrack's text: ``count=N,bytes=M`` first (-1 when unset), then any other keys sorted,
    after an ``=`` that makes ZooKeeper 3.4's parser ignore them: ``count=4,bytes=5=;k=v;...``."""
    text = "%s=%d,%s=%d" % (COUNT, stats.get(COUNT, -1), BYTES, stats.get(BYTES, -1))
    others = sorted(k for k in stats if k not in (COUNT, BYTES))
    if others:
        text += "=" + "".join(";%s=%d" % (k, stats[k]) for k in others)
    return text.encode("utf-8")


def stats_path(path):
    return QUOTA_ROOT + path + "/" + STATS_NODE


def limits_path(path):
    return QUOTA_ROOT + path + "/" + LIMIT_NODE


class Quotas:
    """The quota'd paths of one tree, and the bookkeeping ``DataTree.apply`` calls for."""

    __slots__ = ("paths",)

    def __init__(self):
        self.paths = set()     # real paths with a zookeeper_limits node

    def governing(self, path):
        """The deepest quota'd path at or above ``path`` (never "/"), or None."""
        paths = self.paths
        if not paths:
            return None
        while path != "/":
            if path in paths:
                return path
            path = parent_of(path)
        return None

    # -- called by DataTree while applying ------------------------------------------------------

    def created(self, tree, path, data):
        parent_path = parent_of(path)
        if parent_path.startswith(QUOTA_ROOT + "/"):
            name = path[len(parent_path) + 1:]
            real = parent_path[len(QUOTA_ROOT):]
            if name == LIMIT_NODE:
                self.paths.add(real)
            elif name == STATS_NODE:
                self._recount(tree, real)
        self._adjust(tree, self.governing(path), len(data) if data else 0, 1)

    def deleted(self, tree, path, data):
        parent_path = parent_of(path)
        if parent_path.startswith(QUOTA_ROOT + "/") and path.endswith("/" + LIMIT_NODE):
            self.paths.discard(parent_path[len(QUOTA_ROOT):])
        self._adjust(tree, self.governing(path), -(len(data) if data else 0), -1)

    def data_changed(self, tree, path, old, new):
        self._adjust(tree, self.governing(path),
                     (len(new) if new else 0) - (len(old) if old else 0), 0)

    def rebuild(self, tree):
        """Find every limits node and recount its stats node (after loading a snapshot). Only
        the /zookeeper/quota subtree is walked: loading a large tree stays linear."""
        self.paths = set()
        nodes = tree.nodes
        if QUOTA_ROOT not in nodes:
            return
        stack = [QUOTA_ROOT]
        while stack:
            path = stack.pop()
            node = nodes.get(path)
            if node is None:
                continue
            if not node.children and path.endswith("/" + LIMIT_NODE):
                real = path[len(QUOTA_ROOT):-len(LIMIT_NODE) - 1]
                if real:
                    self.paths.add(real)
                    self._recount(tree, real)
            stack.extend(path + "/" + child for child in node.children)

    # -- checked by the leader's prep -----------------------------------------------------------

    def check(self, tree, path, bytes_diff, count_diff):
        """What a change of ``count_diff`` znodes and ``bytes_diff`` bytes under ``path`` would
        do to its quota: ``(quota path or None, None)`` within limits, or ``(quota path,
        (message, hard))`` over a limit (the hard limit if one is set, else the soft one), as
        ZooKeeperServer.checkQuota decides."""
        quota = self.governing(path)
        if quota is None:
            return None, None
        limits_node = tree.nodes.get(limits_path(quota))
        stats_node = tree.nodes.get(stats_path(quota))
        if limits_node is None or stats_node is None:
            return quota, None
        limits = parse_stats(limits_node.data)
        current = parse_stats(stats_node.data)
        for diff, soft_key, hard_key, what, label in (
                (count_diff, COUNT, COUNT_HARD, COUNT, "Count"),
                (bytes_diff, BYTES, BYTES_HARD, BYTES, "Byte")):
            hard_limit = limits.get(hard_key, -1)
            limit = hard_limit if hard_limit > -1 else limits.get(soft_key, -1)
            if diff == 0 or limit <= -1:
                continue
            new = current.get(what, -1) + diff
            if new > limit:
                hard = hard_limit > -1
                return quota, ("Quota exceeded: %s [current %s=%d, %s%sLimit=%d]"
                               % (quota, what, new, "hard" if hard else "soft", label, limit), hard)
        return quota, None

    # -- helpers --------------------------------------------------------------------------------

    def _adjust(self, tree, quota, bytes_diff, count_diff):
        if quota is None:
            return
        node = tree.nodes.get(stats_path(quota))
        if node is None:
            return   # limits without stats: ZooKeeper logs "Missing node for stat" and moves on
        stats = parse_stats(node.data)
        stats[COUNT] = stats.get(COUNT, -1) + count_diff
        stats[BYTES] = stats.get(BYTES, -1) + bytes_diff
        node.data = format_stats(stats)

    def _recount(self, tree, path):
        node = tree.nodes.get(stats_path(path))
        if node is None:
            return
        count = size = 0
        root = tree.nodes.get(path)
        if root is not None:
            stack = [path]
            nodes = tree.nodes
            while stack:
                current = stack.pop()
                current_node = nodes[current]
                count += 1
                size += len(current_node.data) if current_node.data else 0
                base = current if current != "/" else ""
                stack.extend(base + "/" + child for child in current_node.children)
        node.data = format_stats({COUNT: count, BYTES: size})
