"""How consensus state sits on disk: log entries in WAL records, terms in snapshots, term and vote.

Theory of operation
-------------------
The write-ahead log stores (zxid, payload) records; a consensus log entry's index is its zxid,
and its payload is ``term (8 bytes) | kind (1 byte) | data`` (data: the transaction's bytes, empty
for a leader's NOOP). A snapshot file's body starts with ``b"CRFT" | term (8 bytes)``: the term of
the entry at the snapshot's zxid, which consensus needs to match the log that follows it; the
tree's bytes come after. A snapshot body without that prefix (written by a migration tool, say)
has term 0.

``raft-state`` in the data dir holds the current term and the vote cast in it, as one line of
text, replaced atomically and durably whenever either changes: a member must never forget a vote
(it could vote twice in one term) nor go back to an older term.
"""

import os
import struct

from coord.consensus.messages import NONE, Entry
from coord.storage import files, format

_ENTRY_HEAD = struct.Struct(">qB")
SNAPSHOT_TERM_MAGIC = b"CRFT"
_SNAPSHOT_HEAD = struct.Struct(">4sq")
STATE_FILE_NAME = "raft-state"


class ConsensusStateError(format.StorageError):
    """Consensus state on disk is unreadable or inconsistent."""


def encode_entry(entry):
    return _ENTRY_HEAD.pack(entry.term, entry.kind) + entry.data


def decode_entry(index, payload):
    if len(payload) < _ENTRY_HEAD.size:
        raise ConsensusStateError("log record 0x%x is too short to be a consensus entry "
                                  "(a data dir written by an older coord?)" % index)
    term, kind = _ENTRY_HEAD.unpack_from(payload, 0)
    if term < 0 or kind > 1:
        raise ConsensusStateError("log record 0x%x is not a consensus entry (term %d, kind %d)"
                                  % (index, term, kind))
    return Entry(term, index, kind, payload[_ENTRY_HEAD.size:])


def snapshot_body_prefix(term):
    return _SNAPSHOT_HEAD.pack(SNAPSHOT_TERM_MAGIC, term)


def split_snapshot_body(body):
    """(term, tree bytes) of a snapshot file's body."""
    if body[:4] == SNAPSHOT_TERM_MAGIC:
        _, term = _SNAPSHOT_HEAD.unpack_from(body, 0)
        return term, body[_SNAPSHOT_HEAD.size:]
    return 0, body


def read_state(data_dir):
    """(term, vote) from ``raft-state``; (0, NONE) if there is none yet."""
    path = os.path.join(data_dir, STATE_FILE_NAME)
    try:
        with open(path, "rb") as f:
            text = f.read(200).decode("ascii", "replace")
    except FileNotFoundError:
        return 0, NONE
    parts = text.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ConsensusStateError("%s should hold 'term vote', not %r" % (path, text))
    term, vote = int(parts[0]), int(parts[1])
    if vote > 255:
        raise ConsensusStateError("%s names member %d, which cannot exist" % (path, vote))
    return term, vote


def write_state(data_dir, term, vote):
    """Blocking: replace ``raft-state`` durably."""
    files.replace_file_durably(os.path.join(data_dir, STATE_FILE_NAME),
                               ("%d %d\n" % (term, vote)).encode("ascii"))
