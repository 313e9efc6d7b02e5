"""What only the leader does: decide transactions, stamp them, and decide session expiry.

Theory of operation
-------------------
Every write in the ensemble, wherever its client is connected, reaches the leader's
``LeaderRole.submit`` (followers forward it; see ``coord/peer_wire.py``). The leader preps it into
a transaction against ``PendingChanges`` (the applied tree plus everything proposed and not yet
applied), stamps the zxid it will have (the next log index) and its own wall-clock time, and
proposes it to the consensus core. Nothing touches the tree here: every member, the leader
included, applies a transaction only once it is committed.

A request that fails prep produces no transaction. Its error reflects the state through the
newest proposed zxid, so the answer goes back tagged with that zxid and is held until the state it
describes is applied (the leader sends it to a follower only once it has applied that far itself,
so a client is never told about an uncommitted state).

Sessions: the leader alone tracks liveness. Followers report the sessions they heard from
(``touch``); a silent session expires here and becomes a CloseSession transaction, whose ephemeral
deletes every member applies. A new leader gives every session a fresh timeout before it expires
anyone, as ZooKeeper does, since it cannot know when each was last heard.

Containers and TTL nodes are reaped here too (``reap``), as transactions.
"""

from coord.protocol import records as R
from coord.protocol.codes import Err, OpCode
from coord.protocol.jute import Reader, write_buffer, write_int, write_long
from coord.peer_wire import CLOSE_SESSION, CREATE_SESSION
from coord.sessions import SessionTracker
from coord.tree import prep as P
from coord.tree import txns as T
from coord.tree.datatree import CONTAINER_OWNER, ttl_of

CREATE_OPS = frozenset({OpCode.CREATE, OpCode.CREATE2, OpCode.CREATE_CONTAINER, OpCode.CREATE_TTL})


class Prepared:
    """The outcome of ``submit``: a proposed transaction, or an answer without one."""

    __slots__ = ("zxid", "error", "multi_index", "checks_passed")

    def __init__(self, zxid, error=0, multi_index=-1, checks_passed=False):
        self.zxid = zxid                    # proposed zxid, or the state an answer reflects
        self.error = error
        self.multi_index = multi_index      # a failed multi: which op failed
        self.checks_passed = checks_passed  # a multi of checks only


def _no_log(level, message):
    pass


class LeaderRole:
    def __init__(self, config, tree, raft, clock, now_ms, log=_no_log):
        self.config = config
        self.tree = tree
        self.log = log
        self._over_quota = set()     # quota paths warned about, until they are back under
        self.raft = raft
        self.clock = clock
        self.pending = P.PendingChanges(tree)
        # zxid -> (entry bytes, header, txn) proposed and not yet applied: applying our own
        # entries need not decode what we just encoded.
        self.proposed = {}
        self.tracker = SessionTracker(config.tick_ms)
        for session_id, (timeout_ms, _passwd) in tree.sessions.items():
            self.tracker.add(session_id, timeout_ms, now_ms)
        self._next_reap_ms = now_ms + config.reaper_interval_ms

    # -- writes ---------------------------------------------------------------------------------

    def submit(self, session_id, cxid, opcode, request, identities):
        """Prep and propose one write; returns a ``Prepared``."""
        if opcode == CREATE_SESSION:
            new_session, timeout_ms, passwd = request
            txn = T.CreateSessionTxn(new_session, timeout_ms, passwd)
            self.tracker.add(new_session, timeout_ms, self.clock.monotonic_ms())
            return Prepared(self._propose(new_session, cxid, txn))
        if not self.pending.session_alive(session_id):
            return Prepared(self.raft.log.last_index, error=Err.SESSION_EXPIRED)
        if opcode == CLOSE_SESSION:
            return Prepared(self.close_session(session_id, cxid))
        ctx = P.PrepContext(session_id, identities, 0, self.config.extended_types,
                            self._check_quota)
        try:
            if opcode == OpCode.MULTI:
                return self._multi(session_id, cxid, request, ctx)
            txn = self._prep_one(opcode, request, ctx, self.pending)
        except P.OpError as e:
            return Prepared(self.raft.log.last_index, error=e.code)
        return Prepared(self._propose(session_id, cxid, txn))

    def _check_quota(self, path, data, creating):
        """Quotas are checked against the applied tree, as ZooKeeper checks its DataTree."""
        tree = self.tree
        new_bytes = len(data) if data else 0
        if creating:
            bytes_diff, count_diff = new_bytes, 1
        else:
            node = tree.nodes.get(path)
            bytes_diff, count_diff = new_bytes - (len(node.data) if node and node.data else 0), 0
        quota, verdict = tree.quotas.check(tree, path, bytes_diff, count_diff)
        if verdict is None:
            self._over_quota.discard(quota)
            return
        message, hard = verdict
        if quota not in self._over_quota:
            # Once per quota each time it goes over, not once per write (ZooKeeper rate-limits).
            self._over_quota.add(quota)
            self.log("warn", message)
        if hard and self.config.enforce_quota:
            raise P.OpError(Err.QUOTA_EXCEEDED, path)

    def _prep_one(self, opcode, request, ctx, view):
        if opcode in CREATE_OPS:
            return P.prep_create(view, opcode, request, ctx)
        if opcode == OpCode.DELETE:
            return P.prep_delete(view, request, ctx)
        if opcode == OpCode.SET_DATA:
            return P.prep_set_data(view, request, ctx)
        if opcode == OpCode.SET_ACL:
            return P.prep_set_acl(view, request, ctx)
        if opcode == OpCode.DELETE_CONTAINER:
            return self._prep_delete_container(request.path, view)
        raise P.OpError(Err.UNIMPLEMENTED)

    def _multi(self, session_id, cxid, request, ctx):
        view = P.MultiView(self.pending)
        txns = []
        for index, (opcode, op) in enumerate(request.ops):
            try:
                if opcode == OpCode.CHECK:
                    P.prep_check(view, op, ctx)
                    continue
                if opcode not in CREATE_OPS and opcode not in (OpCode.DELETE, OpCode.SET_DATA):
                    raise P.OpError(Err.MARSHALLING_ERROR)
                txn = self._prep_one(opcode, op, ctx, view)
            except P.OpError as e:
                return Prepared(self.raft.log.last_index, error=e.code, multi_index=index)
            view.note(txn)
            txns.append(txn)
        if not txns:
            return Prepared(self.raft.log.last_index, checks_passed=True)
        return Prepared(self._propose(session_id, cxid, T.MultiTxn(tuple(txns))))

    def _prep_delete_container(self, path, view):
        node = view.get(path)
        if node is None:
            raise P.OpError(Err.NO_NODE, path)
        if node.ephemeral_owner != CONTAINER_OWNER and ttl_of(node.ephemeral_owner) is None:
            raise P.OpError(Err.BAD_VERSION, path)
        if node.num_children:
            raise P.OpError(Err.NOT_EMPTY, path)
        return T.DeleteTxn(path)

    def _propose(self, session_id, cxid, txn):
        zxid = self.raft.log.last_index + 1
        header = T.TxnHeader(session_id, cxid, zxid, self.clock.wall_ms())
        data = T.encode(header, txn)
        index = self.raft.propose(data)
        assert index == zxid, (index, zxid)
        self.pending.note(zxid, txn)
        self.proposed[zxid] = (data, header, txn)
        return zxid

    def decoded(self, entry):
        """(header, txn) of a committed entry this role proposed, without decoding it again; None
        if it did not propose this very entry (the bytes must be the object it proposed)."""
        mine = self.proposed.pop(entry.index, None)
        if mine is not None and mine[0] is entry.data:
            return mine[1], mine[2]
        return None

    def applied(self, zxid, txn):
        self.pending.applied(zxid)
        if txn.kind == T.CLOSE_SESSION:
            self.tracker.remove(txn.session_id)
        elif txn.kind == T.CREATE_SESSION and txn.session_id not in self.tracker:
            self.tracker.add(txn.session_id, txn.timeout_ms, self.clock.monotonic_ms())

    # -- sessions -------------------------------------------------------------------------------

    def touch(self, session_ids, now_ms):
        touch = self.tracker.touch
        for session_id in session_ids:
            touch(session_id, now_ms)

    def close_session(self, session_id, cxid=0):
        self.tracker.remove(session_id)
        return self._propose(session_id, cxid, T.CloseSessionTxn(session_id))

    def set_timeout(self, session_id, timeout_ms, now_ms):
        if session_id in self.tracker:
            self.tracker.set_timeout(session_id, timeout_ms, now_ms)

    def expire(self, now_ms, log):
        for session_id in self.tracker.expired(now_ms):
            if self.pending.session_alive(session_id):
                log("info", "expiring session 0x%x" % session_id)
                self.close_session(session_id)

    # -- containers and TTL nodes ---------------------------------------------------------------

    def reap(self, now_ms):
        """Delete containers that had children and lost them all, and TTL nodes past their TTL."""
        if now_ms < self._next_reap_ms:
            return
        self._next_reap_ms = now_ms + self.config.reaper_interval_ms
        tree = self.tree
        now_wall = self.clock.wall_ms()
        doomed = []
        for path in tree.containers:
            node = tree.get(path)
            if not node.children and node.cversion > 0:
                doomed.append(path)
        for path in tree.ttl_nodes:
            node = tree.get(path)
            if not node.children and now_wall - node.mtime > ttl_of(node.ephemeral_owner):
                doomed.append(path)
        for path in sorted(doomed):
            try:
                txn = self._prep_delete_container(path, self.pending)
            except P.OpError:
                continue   # changed since we looked (e.g. a parent deleted first)
            self._propose(0, 0, txn)


def decode_forwarded(opcode, body):
    """The request record a follower forwarded (as its client sent it)."""
    if opcode == CREATE_SESSION:
        reader = Reader(body)
        session_id = reader.read_long()
        timeout_ms = reader.read_int()
        passwd = reader.read_buffer()
        return (session_id, timeout_ms, passwd)
    if opcode == CLOSE_SESSION:
        return None
    record_class = R.REQUEST_RECORDS.get(opcode)
    if record_class is None:
        raise ValueError("opcode %d cannot be forwarded" % opcode)
    reader = Reader(body)
    record = record_class.deserialize(reader)
    if reader.remaining():
        raise ValueError("trailing bytes in a forwarded request")
    return record


def encode_forwarded(opcode, request):
    out = bytearray()
    if opcode == CREATE_SESSION:
        session_id, timeout_ms, passwd = request
        write_long(out, session_id)
        write_int(out, timeout_ms)
        write_buffer(out, passwd)
    elif request is not None:
        request.serialize(out)
    return bytes(out)
