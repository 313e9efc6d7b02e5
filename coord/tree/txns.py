"""Transactions: the log's payload, with nothing left to decide.

``prep.py`` turns a client request into one of these; ``DataTree.apply`` executes it. Everything a
replica needs to reach the same state is inside the transaction: the sequential name is already
chosen, the ephemeral owner resolved, the new versions and the parent's new child counter computed,
and the leader's wall-clock time stamped once in the header. Versions and counters are carried as
absolute values rather than "+1" so that applying a transaction twice, as recovery does over a
fuzzy snapshot, gives the same state as applying it once.

Encoding: jute primitives, one type byte per transaction, ``TxnHeader`` first. This is the exact
byte string the write-ahead log stores (and, later, what replication ships).
"""

from typing import NamedTuple

from coord.protocol.jute import (
    Reader, write_buffer, write_int, write_long, write_ustring, write_vector,
)
from coord.protocol.records import ACL, OPEN_ACL_BYTES
from coord.tree import acl as acls

CREATE, DELETE, SET_DATA, SET_ACL, MULTI, CREATE_SESSION, CLOSE_SESSION = 1, 2, 5, 7, 14, -10, -11


class TxnHeader(NamedTuple):
    session_id: int   # the session that asked (0 for server-internal decisions such as reaping)
    cxid: int         # the client's xid, so the replica holding the connection can answer it
    zxid: int
    time_ms: int      # wall-clock time stamped once by the deciding server


class CreateTxn(NamedTuple):
    path: str                # final path, sequential suffix included
    data: bytes | None
    acl: tuple
    ephemeral_owner: int     # stored form: session id, container marker or TTL marker, else 0
    parent_cversion: int     # the parent's child-create counter after this create
    kind = CREATE


class DeleteTxn(NamedTuple):
    path: str
    kind = DELETE


class SetDataTxn(NamedTuple):
    path: str
    data: bytes | None
    version: int             # the node's data version after this change
    kind = SET_DATA


class SetACLTxn(NamedTuple):
    path: str
    acl: tuple
    aversion: int            # the node's ACL version after this change
    kind = SET_ACL


class MultiTxn(NamedTuple):
    txns: tuple              # applied in order under one zxid
    kind = MULTI


class CreateSessionTxn(NamedTuple):
    session_id: int
    timeout_ms: int
    passwd: bytes
    kind = CREATE_SESSION


class CloseSessionTxn(NamedTuple):
    session_id: int          # its ephemerals are deleted when this is applied
    kind = CLOSE_SESSION


# Encoded ACL lists, by list: a tree shares a handful of them, and every create logs one.
_ENCODED_ACLS = {}
_MAX_ENCODED_ACLS = 1024


def _write_acl(out, acl):
    if type(acl) is not tuple:
        acl = tuple(acl)
    encoded = _ENCODED_ACLS.get(acl)
    if encoded is None:
        buf = bytearray()
        write_vector(buf, acl, lambda o, a: a.serialize(o))
        encoded = bytes(buf)
        if len(_ENCODED_ACLS) >= _MAX_ENCODED_ACLS:
            _ENCODED_ACLS.clear()
        _ENCODED_ACLS[acl] = encoded
    out += encoded


def _read_acl(reader):
    if reader.skip_if_next(OPEN_ACL_BYTES):
        return acls.OPEN_ACL_UNSAFE
    return tuple(reader.read_vector(ACL.deserialize) or ())


def _write_body(out, txn):
    kind = txn.kind
    write_int(out, kind)
    if kind == CREATE:
        write_ustring(out, txn.path)
        write_buffer(out, txn.data)
        _write_acl(out, txn.acl)
        write_long(out, txn.ephemeral_owner)
        write_int(out, txn.parent_cversion)
    elif kind == DELETE:
        write_ustring(out, txn.path)
    elif kind == SET_DATA:
        write_ustring(out, txn.path)
        write_buffer(out, txn.data)
        write_int(out, txn.version)
    elif kind == SET_ACL:
        write_ustring(out, txn.path)
        _write_acl(out, txn.acl)
        write_int(out, txn.aversion)
    elif kind == MULTI:
        write_int(out, len(txn.txns))
        for sub in txn.txns:
            _write_body(out, sub)
    elif kind == CREATE_SESSION:
        write_long(out, txn.session_id)
        write_int(out, txn.timeout_ms)
        write_buffer(out, txn.passwd)
    elif kind == CLOSE_SESSION:
        write_long(out, txn.session_id)
    else:
        raise ValueError("unknown transaction %r" % (txn,))


def _read_body(reader):
    kind = reader.read_int()
    if kind == CREATE:
        return CreateTxn(reader.read_ustring(), reader.read_buffer(), _read_acl(reader),
                         reader.read_long(), reader.read_int())
    if kind == DELETE:
        return DeleteTxn(reader.read_ustring())
    if kind == SET_DATA:
        return SetDataTxn(reader.read_ustring(), reader.read_buffer(), reader.read_int())
    if kind == SET_ACL:
        return SetACLTxn(reader.read_ustring(), _read_acl(reader), reader.read_int())
    if kind == MULTI:
        count = reader.read_int()
        if count < 0 or count > reader.remaining():
            raise ValueError("bad multi transaction count %d" % count)
        return MultiTxn(tuple(_read_body(reader) for _ in range(count)))
    if kind == CREATE_SESSION:
        return CreateSessionTxn(reader.read_long(), reader.read_int(), reader.read_buffer())
    if kind == CLOSE_SESSION:
        return CloseSessionTxn(reader.read_long())
    raise ValueError("unknown transaction type %d" % kind)


def encode(header, txn):
    out = bytearray()
    write_long(out, header.session_id)
    write_int(out, header.cxid)
    write_long(out, header.zxid)
    write_long(out, header.time_ms)
    _write_body(out, txn)
    return bytes(out)


def decode(payload):
    """bytes -> (TxnHeader, txn); raises ValueError (or the codec's error) on damage."""
    reader = Reader(payload)
    header = TxnHeader(reader.read_long(), reader.read_int(), reader.read_long(), reader.read_long())
    txn = _read_body(reader)
    if reader.remaining():
        raise ValueError("%d trailing bytes after transaction" % reader.remaining())
    return header, txn
