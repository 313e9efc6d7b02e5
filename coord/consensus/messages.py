"""What the consensus core exchanges with its peers and its driver: entries, messages, Ready.

Theory of operation
-------------------
The Raft core (``raft.py``) never touches a socket or a disk. Peers' messages are ``Message``
values passed to ``RaftNode.step``; everything the core wants done comes back in a ``Ready``:
what to make durable, what to send, what to apply. ``encode_message``/``decode_message`` give the
bytes a message travels as between members (the runtime frames them); they are strict: any
malformed or truncated frame raises ``MalformedMessage`` and nothing of it is used.

Indexes are zxids. An entry's index is the zxid of the transaction it carries, on every member;
indexes only grow, across leaders and restarts, and a 64-bit index never wraps in practice (unlike
ZooKeeper's 32-bit counter under a 32-bit epoch, whose wrap forces an election).
"""

import dataclasses
import enum
import struct

# Entry kinds.
NOOP = 0     # a new leader's first entry: committing it commits everything before it
NORMAL = 1   # an application transaction (coord.tree.txns bytes)

NONE = 0     # "no member": no vote cast, no leader known (member ids are 1..255)


class MsgType(enum.IntEnum):
    APPEND = 1            # leader -> follower: entries after (index, log_term), and the commit index
    APPEND_RESP = 2       # follower -> leader: accepted up to index, or rejected with a hint
    VOTE = 3              # candidate -> all: vote for me in term
    VOTE_RESP = 4
    PRE_VOTE = 5          # would you vote for me in term + 1? (changes nobody's term)
    PRE_VOTE_RESP = 6
    HEARTBEAT = 7         # leader -> follower: still here; commit; read-index context
    HEARTBEAT_RESP = 8
    SNAPSHOT = 9          # leader -> follower: install this snapshot (data attached by the driver)
    TIMEOUT_NOW = 10      # leader -> transferee: campaign now (leadership transfer)
    READ_INDEX = 11       # follower -> leader: confirm leadership, tell me the commit index
    READ_INDEX_RESP = 12


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    kind: int = NORMAL
    data: bytes = b""


@dataclasses.dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before any message that depends on it is sent."""
    term: int = 0
    vote: int = NONE
    commit: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """A snapshot's place in the log. Its data (the tree) lives with the driver."""
    index: int            # the last entry the snapshot is guaranteed to contain
    term: int             # that entry's term
    voters: tuple = ()
    learners: tuple = ()


@dataclasses.dataclass(slots=True)
class Message:
    type: MsgType
    src: int
    dst: int
    term: int
    log_term: int = 0
    index: int = 0
    entries: tuple = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""
    snapshot: SnapshotMeta | None = None
    snapshot_data: bytes | None = None   # filled by the sending driver, read by the receiving one


@dataclasses.dataclass(frozen=True, slots=True)
class ReadState:
    """A read-index request has been confirmed: reads for ``context`` may run once applied >= index."""
    context: bytes
    index: int


@dataclasses.dataclass(frozen=True, slots=True)
class SoftState:
    role: str
    leader: int
    term: int


@dataclasses.dataclass(slots=True)
class Ready:
    """A batch of work for the driver, to be done in this order:

    1. Durably store ``snapshot`` (if any), then ``entries`` (the first may overwrite: truncate the
       stored log from ``entries[0].index`` before appending), then ``hard_state`` (if any).
    2. Send ``early_messages`` at any time, even before step 1 completes (the leader's appends:
       a leader counts its own copy only once ``persisted`` reports it).
    3. Once step 1 is durable, call ``RaftNode.persisted(ready)`` and then send ``messages``
       (votes and acknowledgements promise what is on disk).
    4. Apply ``committed`` in order (after ``snapshot``, if any). Entries are handed out once.

    ``read_states`` may be served once the applied index reaches their index. A driver may take
    the next Ready before an earlier one is durable, as long as it persists Readys in order.
    """
    hard_state: HardState | None = None
    entries: list = dataclasses.field(default_factory=list)
    snapshot: tuple | None = None           # (SnapshotMeta, data bytes)
    early_messages: list = dataclasses.field(default_factory=list)
    messages: list = dataclasses.field(default_factory=list)
    committed: list = dataclasses.field(default_factory=list)
    read_states: list = dataclasses.field(default_factory=list)
    soft_state: SoftState | None = None      # set when role, leader or term changed
    last_index: int = 0                      # last entry index once this Ready is persisted
    last_term: int = 0

    def must_persist(self):
        return bool(self.entries) or self.hard_state is not None or self.snapshot is not None

    def __bool__(self):
        return bool(self.hard_state is not None or self.entries or self.snapshot is not None
                    or self.early_messages or self.messages or self.committed or self.read_states
                    or self.soft_state is not None)


# -- peer wire encoding -------------------------------------------------------------------------
#
# A message is: header, then entries, then optional snapshot meta, context and snapshot data.
# header:  type u8, src u8, dst u8, reject u8, term q, log_term q, index q, commit q, reject_hint q,
#          entry count I, context length I, flags u8 (1 = snapshot meta, 2 = snapshot data)
# entry:   term q, index q, kind u8, data length I, data
# snapshot meta: index q, term q, voter count u8, voters u8..., learner count u8, learners u8...
# snapshot data: length I, bytes

_HEADER = struct.Struct(">BBBBqqqqqIIB")
_ENTRY = struct.Struct(">qqBI")
_LEN = struct.Struct(">I")
_META = struct.Struct(">qq")

MAX_MEMBER_ID = 255


class MalformedMessage(ValueError):
    """A peer frame that is not a well-formed consensus message."""


def encode_message(m):
    flags = (1 if m.snapshot is not None else 0) | (2 if m.snapshot_data is not None else 0)
    parts = [_HEADER.pack(int(m.type), m.src, m.dst, 1 if m.reject else 0, m.term, m.log_term,
                          m.index, m.commit, m.reject_hint, len(m.entries), len(m.context), flags)]
    for e in m.entries:
        parts.append(_ENTRY.pack(e.term, e.index, e.kind, len(e.data)))
        parts.append(e.data)
    if m.snapshot is not None:
        s = m.snapshot
        parts.append(_META.pack(s.index, s.term))
        parts.append(bytes([len(s.voters), *s.voters, len(s.learners), *s.learners]))
    parts.append(m.context)
    if m.snapshot_data is not None:
        parts.append(_LEN.pack(len(m.snapshot_data)))
        parts.append(m.snapshot_data)
    return b"".join(parts)


def decode_message(data):
    view = memoryview(data)
    try:
        (mtype, src, dst, reject, term, log_term, index, commit, hint, count, ctx_len,
         flags) = _HEADER.unpack_from(view, 0)
        pos = _HEADER.size
        try:
            mtype = MsgType(mtype)
        except ValueError:
            raise MalformedMessage("unknown message type %d" % mtype) from None
        if reject > 1 or flags > 3 or min(term, log_term, index, commit, hint) < 0:
            raise MalformedMessage("bad header field")
        if count > len(data):
            raise MalformedMessage("entry count %d exceeds the frame" % count)
        entries = []
        for _ in range(count):
            eterm, eindex, kind, size = _ENTRY.unpack_from(view, pos)
            pos += _ENTRY.size
            if kind not in (NOOP, NORMAL) or eterm < 0 or eindex <= 0 or pos + size > len(data):
                raise MalformedMessage("bad entry")
            entries.append(Entry(eterm, eindex, kind, bytes(view[pos:pos + size])))
            pos += size
        snapshot = None
        if flags & 1:
            sindex, sterm = _META.unpack_from(view, pos)
            pos += _META.size
            nv = view[pos]
            voters = tuple(view[pos + 1:pos + 1 + nv])
            pos += 1 + nv
            nl = view[pos]
            learners = tuple(view[pos + 1:pos + 1 + nl])
            pos += 1 + nl
            if len(voters) != nv or len(learners) != nl or sindex < 0 or sterm < 0:
                raise MalformedMessage("bad snapshot meta")
            snapshot = SnapshotMeta(sindex, sterm, voters, learners)
        if pos + ctx_len > len(data):
            raise MalformedMessage("truncated context")
        context = bytes(view[pos:pos + ctx_len])
        pos += ctx_len
        snapshot_data = None
        if flags & 2:
            (size,) = _LEN.unpack_from(view, pos)
            pos += _LEN.size
            if pos + size > len(data):
                raise MalformedMessage("truncated snapshot data")
            snapshot_data = bytes(view[pos:pos + size])
            pos += size
    except (struct.error, IndexError):
        raise MalformedMessage("truncated message") from None
    if pos != len(data):
        raise MalformedMessage("%d trailing bytes" % (len(data) - pos))
    for i in range(1, len(entries)):
        if entries[i].index != entries[i - 1].index + 1:
            raise MalformedMessage("entries are not consecutive")
    return Message(mtype, src, dst, term, log_term, index, tuple(entries), commit, bool(reject),
                   hint, context, snapshot, snapshot_data)
