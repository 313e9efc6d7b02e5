"""Frames between ensemble members: consensus messages and the requests followers forward.

Theory of operation
-------------------
Members talk over one TCP connection per pair (the runtime frames each frame with a 4-byte
length). The first frame on a connection is a ``Hello`` naming the cluster (a digest of the
``server.N`` lines every member must agree on) and the sender's id; a receiver drops a connection
whose hello names another cluster, a non-member, or itself. After that, every frame is a kind
byte and a body:

- RAFT: a consensus message (``coord.consensus.messages``).
- FORWARD: a follower passes a client's write (or a session create/close) to the leader, with the
  session, the client's xid and the identities the client authenticated as (the leader checks ACLs
  against them, as ZooKeeper's leader does with the request's authInfo).
- FORWARD_REPLY: the leader's answer to a forwarded write that produced no transaction (an error,
  a failed multi, a multi of checks only). It carries the zxid the answer was computed at: the
  follower holds it until it has applied that far, so the client never sees an answer from a state
  newer than its later reads.
- TOUCH: sessions whose clients showed life at a follower since its last report; the leader alone
  decides expiry.

Decoding is strict: anything malformed raises ``MalformedFrame`` and nothing of it is used.
"""

import hashlib
import struct
from typing import NamedTuple

from coord.consensus.messages import MalformedMessage, decode_message, encode_message

RAFT, FORWARD, FORWARD_REPLY, TOUCH, HELLO = 1, 2, 3, 4, 5
PROTOCOL_VERSION = 1

# Forwarded pseudo-opcodes for session transactions (ZooKeeper's createSession/closeSession).
CREATE_SESSION = -10
CLOSE_SESSION = -11

# FORWARD_REPLY kinds
ERROR = 0            # code: the error
MULTI_FAILED = 1     # code: the failing op's error, index: which op
CHECKS_PASSED = 2    # a multi of checks only: nothing to log


class MalformedFrame(ValueError):
    """A peer frame that is not well formed; the connection that sent it is closed."""


class Hello(NamedTuple):
    cluster_id: bytes     # 16 bytes
    member_id: int
    version: int = PROTOCOL_VERSION


class Forward(NamedTuple):
    origin: int           # member the client is connected to
    session_id: int
    cxid: int
    opcode: int
    identities: tuple     # ((scheme, id), ...)
    body: bytes           # the request record, as the client sent it


class ForwardReply(NamedTuple):
    session_id: int
    cxid: int
    zxid: int             # the answer reflects the state through this zxid
    kind: int
    code: int
    index: int = -1


class Touch(NamedTuple):
    session_ids: tuple


def cluster_id(membership_lines):
    """A digest of the ensemble's membership, identical on every correctly configured member."""
    return hashlib.blake2b("\n".join(sorted(membership_lines)).encode("utf-8"),
                           digest_size=16).digest()


_HELLO = struct.Struct(">16sBH")
_FORWARD = struct.Struct(">BqiiH")
_REPLY = struct.Struct(">qiqBii")
_U16 = struct.Struct(">H")
_Q = struct.Struct(">q")


def _string(out, text):
    raw = text.encode("utf-8")
    out += _U16.pack(len(raw))
    out += raw


def encode(frame):
    t = type(frame)
    if t is Hello:
        return bytes([HELLO]) + _HELLO.pack(frame.cluster_id, frame.member_id, frame.version)
    if t is Forward:
        out = bytearray([FORWARD])
        out += _FORWARD.pack(frame.origin, frame.session_id, frame.cxid, frame.opcode,
                             len(frame.identities))
        for scheme, ident in frame.identities:
            _string(out, scheme)
            _string(out, ident)
        out += frame.body
        return bytes(out)
    if t is ForwardReply:
        return bytes([FORWARD_REPLY]) + _REPLY.pack(*frame)
    if t is Touch:
        return bytes([TOUCH]) + b"".join(_Q.pack(s) for s in frame.session_ids)
    # a consensus message
    return bytes([RAFT]) + encode_message(frame)


def decode(data):
    if not data:
        raise MalformedFrame("empty frame")
    kind = data[0]
    body = memoryview(data)[1:]
    try:
        if kind == RAFT:
            return decode_message(bytes(body))
        if kind == FORWARD:
            origin, session_id, cxid, opcode, count = _FORWARD.unpack_from(body, 0)
            pos = _FORWARD.size
            identities = []
            for _ in range(count):
                pair = []
                for _ in range(2):
                    (size,) = _U16.unpack_from(body, pos)
                    pos += 2
                    if pos + size > len(body):
                        raise MalformedFrame("truncated identity")
                    pair.append(bytes(body[pos:pos + size]).decode("utf-8"))
                    pos += size
                identities.append(tuple(pair))
            return Forward(origin, session_id, cxid, opcode, tuple(identities), bytes(body[pos:]))
        if kind == FORWARD_REPLY:
            if len(body) != _REPLY.size:
                raise MalformedFrame("forward reply of %d bytes" % len(body))
            reply = ForwardReply(*_REPLY.unpack(body))
            if reply.kind not in (ERROR, MULTI_FAILED, CHECKS_PASSED):
                raise MalformedFrame("unknown reply kind %d" % reply.kind)
            return reply
        if kind == TOUCH:
            if len(body) % 8:
                raise MalformedFrame("touch of %d bytes" % len(body))
            return Touch(tuple(_Q.unpack_from(body, i)[0] for i in range(0, len(body), 8)))
        if kind == HELLO:
            if len(body) != _HELLO.size:
                raise MalformedFrame("hello of %d bytes" % len(body))
            return Hello(*_HELLO.unpack(body))
    except MalformedMessage as e:
        raise MalformedFrame(str(e)) from None
    except (struct.error, UnicodeDecodeError) as e:
        raise MalformedFrame("truncated or garbled frame: %s" % e) from None
    raise MalformedFrame("unknown frame kind %d" % kind)
