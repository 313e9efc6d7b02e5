"""Party and ShallowParty: group membership with ephemeral nodes (kazoo's protocol).

Theory of operation: a member is an ephemeral child of the party path, so it leaves when its
session ends.  ``Party`` names it ``<32 hex>__party__`` with the identifier as data; ``ShallowParty``
names it ``<32 hex>-<identifier>`` so one getChildren lists everyone.  ``join`` after a connection
loss is safe: the node name is fixed per object, so a create that already happened gives
NodeExists, which counts as joined.  A member whose session expires has left (its node went with
the session, as in kazoo): it is told (``participating`` turns False) and may ``join`` again.
"""

from __future__ import annotations

from .. import errors
from ..steps import retrying

__all__ = ["Party", "ShallowParty"]


class _BaseParty:
    def __init__(self, client, path: str, identifier=None) -> None:
        self.client = client
        self.path = path
        self.data = str(identifier or "").encode("utf-8")
        self.participating = False
        self.node = self._node_name(f"{client._rng.getrandbits(128):032x}")
        self.create_path = path.rstrip("/") + "/" + self.node

    def join(self):
        return self.client._run(self.join_steps())

    def leave(self):
        return self.client._run(self.leave_steps())

    def members(self):
        """The members' identifiers."""
        return self.client._run(self.members_steps())

    def __iter__(self):
        return iter(self.members())

    def __len__(self):
        return len(self.members())

    def join_steps(self):
        ops = self.client._ops
        yield from retrying(lambda: ops.ensure_path(self.path))
        try:
            yield from retrying(lambda: ops.create(self.create_path, self.data, ephemeral=True))
        except errors.NodeExistsError:
            pass  # our create went through before a connection loss
        if not self.participating:
            self.client.add_listener(self._on_state)
        self.participating = True
        return True

    def leave_steps(self):
        if self.participating:
            self.client.remove_listener(self._on_state)
        self.participating = False
        try:
            yield from retrying(lambda: self.client._ops.delete(self.create_path))
        except errors.NoNodeError:
            return False
        return True

    def _on_state(self, state) -> None:
        if state == "LOST" and self.participating:
            self.participating = False
            self.client.remove_listener(self._on_state)

    def _children(self):
        ops = self.client._ops
        yield from retrying(lambda: ops.ensure_path(self.path))
        return (yield from retrying(lambda: ops.get_children(self.path)))


class Party(_BaseParty):
    NODE_NAME = "__party__"

    def _node_name(self, unique: str) -> str:
        return unique + self.NODE_NAME

    def members_steps(self):
        ops = self.client._ops
        members = []
        for child in (yield from self._children()):
            if self.NODE_NAME not in child:
                continue
            try:
                data, _stat = yield from retrying(lambda: ops.get(self.path + "/" + child))
            except errors.NoNodeError:
                continue  # left meanwhile
            members.append(data.decode("utf-8"))
        return members


class ShallowParty(_BaseParty):
    def _node_name(self, unique: str) -> str:
        return f"{unique}-{self.data.decode('utf-8')}"

    def members_steps(self):
        return [child[child.find("-") + 1:] for child in (yield from self._children())]
