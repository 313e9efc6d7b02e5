"""Apache ZooKeeper's on-disk formats (3.5–3.9): snapshots and transaction logs, as bytes.

Theory of operation
-------------------
Pure functions over whole files held in memory; ``zkdir.py`` does the file system. The facts come
from ZooKeeper's own source (``server/persistence/FileSnap.java``, ``SnapStream.java``,
``FileTxnLog.java``, ``Util.java``, ``DataTree.java`` serialize/deserialize,
``ReferenceCountedACLCache.java``, ``util/SerializeUtils.java`` and ``zookeeper.jute``). Everything
is jute: big-endian, ``buffer``/``ustring`` as an int length (-1 = null) and the bytes.

Snapshot ``snapshot.<zxid hex>`` (+ ``.gz`` or ``.snappy`` when ``snapshot.compression.method``
was set; the Adler32 checksums are over the *uncompressed* stream)::

    FileHeader      int magic "ZKSN", int version 2, long dbid
    sessions        int count, then count x (long id, int timeout_ms)
    ACL cache       int count, then count x (long acl_id, vector<ACL>)
    nodes           (ustring path, buffer data, long acl_id, StatPersisted) ... parents first;
                    the root's path is ""; StatPersisted = czxid mzxid ctime mtime (longs),
                    version cversion aversion (ints), ephemeralOwner pzxid (longs)
    end             ustring "/"
    seal            long adler32 of every byte before it, ustring "/"
    digest (3.6+)   long zxid, int version, long digest (version < 2: ustring hex)  + seal
    last zxid (3.9, optional)  long  + seal

``acl_id`` -1 means OPEN_ACL_UNSAFE. The snapshot is fuzzy: named after the last zxid applied
when serialization started, it may already hold later changes; the log replays them.

Transaction log ``log.<first zxid hex>``::

    FileHeader      int magic "ZKLG", int version 2, long dbid 0
    record          long adler32(txn bytes), int length, txn bytes, byte 'B'
    ...             then zeros: ZooKeeper preallocates the file (64 MiB by default)

``txn bytes`` = TxnHeader (long clientId, int cxid, long zxid, long time, int type), the txn
record for ``type``, and (3.6+) TxnDigest (int version, long treeDigest). A record with length 0
is the end of the written part (the preallocated zeros). A record cut short, or whose 'B' is
missing, is a torn write: ZooKeeper stops reading the file there ("Last transaction was
partial") and so do we. A checksum mismatch on a complete record is corruption, and ZooKeeper
refuses to start; so do we.
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

from coord.protocol.codes import OpCode
from coord.protocol.jute import (
    Reader, write_buffer, write_int, write_long, write_ustring, write_vector,
)
from coord.protocol.records import ACL, Id

SNAP_MAGIC = int.from_bytes(b"ZKSN", "big")
LOG_MAGIC = int.from_bytes(b"ZKLG", "big")
FORMAT_VERSION = 2
SNAPSHOT_DBID = -1     # FileSnap writes -1, FileTxnLog 0
LOG_DBID = 0
OPEN_ACL_UNSAFE_ID = -1
OPEN_ACL_UNSAFE = (ACL(31, Id("world", "anyone")),)
END_OF_RECORD = 0x42   # 'B'
DIGEST_VERSION = 2     # DigestCalculator.DIGEST_VERSION in 3.6+
COMPRESSIONS = ("", "gz", "snappy")   # SnapStream.StreamMode names ("" = plain, checked)

_FILE_HEADER = struct.Struct(">iiq")
_INT = struct.Struct(">i")
_LONG = struct.Struct(">q")
_SESSION = struct.Struct(">qi")
ACL_AND_STAT = struct.Struct(">qqqqqiiiqq")    # a node record's acl id + StatPersisted
STAT_FOR_DIGEST = struct.Struct(">qqqqqiiiq")    # DigestCalculator's order of the stat fields
_LOG_RECORD_HEAD = struct.Struct(">qi")        # checksum, length
_TXN_HEADER = struct.Struct(">qiqqi")
_SEAL_PATH = b"\x00\x00\x00\x01/"

# snappy-java's SnappyOutputStream framing (SnappyCodec): magic, version, compatible version.
_SNAPPY_JAVA_MAGIC = b"\x82SNAPPY\x00"
_SNAPPY_JAVA_HEADER = _SNAPPY_JAVA_MAGIC + struct.pack(">ii", 1, 1)
_SNAPPY_BLOCK_BYTES = 32 * 1024


class ZooKeeperFormatError(Exception):
    """A ZooKeeper file cannot be used; the message names the file and the reason."""


class CorruptSnapshotError(ZooKeeperFormatError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"ZooKeeper snapshot {path} is unusable: {reason}")


class CorruptTxnLogError(ZooKeeperFormatError):
    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"ZooKeeper transaction log {path} is corrupt at byte offset {offset}: {reason}")


class SnappyUnavailableError(ZooKeeperFormatError):
    """Snappy snapshots need the ``cramjam`` package (a coord dependency) and it is missing."""


# -- records --------------------------------------------------------------------------------------


class StatPersisted(NamedTuple):
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int     # creates of children ever (clients see 2 * cversion - numChildren)
    aversion: int
    ephemeral_owner: int
    pzxid: int


class SnapshotNode(NamedTuple):
    path: str         # "/" for the root (stored as "" in the file)
    data: bytes | None
    acl: tuple
    stat: StatPersisted


class ZxidDigest(NamedTuple):
    zxid: int
    version: int
    digest: int


class Snapshot(NamedTuple):
    zxid: int                       # from the file name: the snapshot's start
    sessions: list                  # [(session_id, timeout_ms)]
    nodes: list                     # [SnapshotNode], parents before children (or see read_nodes)
    digest: ZxidDigest | None       # the tree digest at digest.zxid (3.6+), zxid 0 = none
    dbid: int


class TxnHeader(NamedTuple):
    client_id: int
    cxid: int
    zxid: int
    time_ms: int
    type: int


# Txn bodies, named after zookeeper.jute. ``ephemeral`` owners come from the header's clientId.
class CreateTxn(NamedTuple):
    path: str
    data: bytes | None
    acl: tuple
    ephemeral: bool
    parent_cversion: int            # -1 in pre-3.3 logs (CreateTxnV0): "parent's + 1"


class CreateContainerTxn(NamedTuple):
    path: str
    data: bytes | None
    acl: tuple
    parent_cversion: int


class CreateTTLTxn(NamedTuple):
    path: str
    data: bytes | None
    acl: tuple
    parent_cversion: int
    ttl_ms: int


class DeleteTxn(NamedTuple):
    path: str


class SetDataTxn(NamedTuple):
    path: str
    data: bytes | None
    version: int


class SetACLTxn(NamedTuple):
    path: str
    acl: tuple
    version: int


class CheckVersionTxn(NamedTuple):
    path: str
    version: int


class CreateSessionTxn(NamedTuple):
    timeout_ms: int


class CloseSessionTxn(NamedTuple):
    paths_to_delete: tuple | None   # None before 3.6 (the server's own list is used)


class ErrorTxn(NamedTuple):
    err: int


class MultiTxn(NamedTuple):
    txns: tuple                     # ((type, txn), ...)


class LogRecord(NamedTuple):
    header: TxnHeader
    txn: object                     # one of the Txn tuples above
    digest: tuple | None            # (version, tree digest after this txn), 3.6+
    offset: int                     # of the record in its file


class LogScan(NamedTuple):
    dbid: int
    records: list                   # [LogRecord] in file order
    end_offset: int                 # where the written part ends
    torn: str | None                # why the last record was dropped, None if the file ended cleanly


# -- compression (SnapStream) ---------------------------------------------------------------------


def compression_of(file_name: str) -> str:
    """The stream mode of a snapshot file, from its extension, as SnapStream.getStreamMode does."""
    parts = file_name.split(".")
    if len(parts) > 2 and parts[-1].lower() in ("gz", "snappy"):
        return parts[-1].lower()
    return ""


def _snappy():
    try:
        import cramjam
    except ImportError:
        raise SnappyUnavailableError(
            "snappy-compressed ZooKeeper snapshots need the Python package cramjam "
            "(pip install cramjam); gz and uncompressed snapshots work without it") from None
    return cramjam.snappy


def decompress(raw: bytes, compression: str, path: str) -> bytes:
    if compression == "":
        return raw
    if compression == "gz":
        try:
            inflater = zlib.decompressobj(wbits=31)
            data = inflater.decompress(raw) + inflater.flush()
        except zlib.error as e:
            raise CorruptSnapshotError(path, f"gzip stream is damaged: {e}") from None
        if not inflater.eof:
            raise CorruptSnapshotError(path, "gzip stream ends early: the file is incomplete")
        return data
    if compression == "snappy":
        return _snappy_java_decompress(raw, path)
    raise ValueError(f"unknown snapshot compression {compression!r}")


def compress(data: bytes, compression: str) -> bytes:
    if compression == "":
        return data
    if compression == "gz":
        deflater = zlib.compressobj(6, zlib.DEFLATED, 31)
        return deflater.compress(data) + deflater.flush()
    if compression == "snappy":
        snappy = _snappy()
        out = bytearray(_SNAPPY_JAVA_HEADER)
        for start in range(0, len(data), _SNAPPY_BLOCK_BYTES):
            block = bytes(snappy.compress_raw(data[start:start + _SNAPPY_BLOCK_BYTES]))
            out += _INT.pack(len(block))
            out += block
        return bytes(out)
    raise ValueError(f"unknown snapshot compression {compression!r}")


def _snappy_java_decompress(raw: bytes, path: str) -> bytes:
    """snappy-java's stream: header, then (int compressed length, raw snappy block)...

    A stream may hold several concatenated header+blocks runs (SnappyInputStream accepts that).
    """
    snappy = _snappy()
    if not raw.startswith(_SNAPPY_JAVA_MAGIC):
        raise CorruptSnapshotError(path, "no snappy-java stream header")
    out = []
    offset = 0
    size = len(raw)
    while offset < size:
        if raw.startswith(_SNAPPY_JAVA_MAGIC, offset):
            offset += len(_SNAPPY_JAVA_HEADER)
            continue
        if offset + 4 > size:
            raise CorruptSnapshotError(path, f"snappy block length cut short at byte {offset}")
        (length,) = _INT.unpack_from(raw, offset)
        offset += 4
        if length < 0 or offset + length > size:
            raise CorruptSnapshotError(path, f"snappy block of {length} bytes at {offset} runs past the end")
        try:
            out.append(bytes(snappy.decompress_raw(raw[offset:offset + length])))
        except Exception as e:   # cramjam raises its own DecompressionError
            raise CorruptSnapshotError(path, f"snappy block at byte {offset} is damaged: {e}") from None
        offset += length
    return b"".join(out)


# -- snapshots ------------------------------------------------------------------------------------


def _read_acl(reader: Reader) -> ACL:
    return ACL(reader.read_int(), Id(reader.read_ustring(), reader.read_ustring()))


def parse_snapshot(data: bytes, zxid: int, path: str, *, read_nodes=None) -> Snapshot:
    """Decode an uncompressed snapshot stream and verify its seals; raises CorruptSnapshotError.

    ``read_nodes(data, offset, acls, path) -> (nodes, offset after the "/" end marker)`` takes
    the place of decoding the node records into SnapshotNodes, for an importer that builds its
    own structure straight from the bytes (``convert.snapshot_tree_reader``: a million
    SnapshotNodes cost seconds); ``Snapshot.nodes`` is then what it returned. ``acls`` maps the
    snapshot's ACL ids to ACL tuples (OPEN_ACL_UNSAFE_ID is not in it). It must raise on anything
    it cannot use (any error counts as an undecodable snapshot); the seals are checked after it.
    """
    try:
        return _parse_snapshot(bytes(data), zxid, path, read_nodes or _read_snapshot_nodes)
    except CorruptSnapshotError:
        raise
    except Exception as e:   # the jute reader's RemoteProtocolError, a bad UTF-8 path, ...
        raise CorruptSnapshotError(path, f"cannot be decoded: {e}") from None


def _read_snapshot_nodes(data, offset, acls, path):
    rows = []
    end = _parse_nodes(data, offset, acls, rows, path)
    return [SnapshotNode(row[0], row[1], row[2], StatPersisted(*row[3:])) for row in rows], end


def _parse_snapshot(data, zxid, path, read_nodes):
    if len(data) < _FILE_HEADER.size:
        raise CorruptSnapshotError(path, f"only {len(data)} bytes")
    magic, version, dbid = _FILE_HEADER.unpack_from(data, 0)
    if magic != SNAP_MAGIC:
        raise CorruptSnapshotError(path, f"not a ZooKeeper snapshot (magic {magic:#x})")
    reader = Reader(data, _FILE_HEADER.size)
    sessions = []
    count = reader.read_int()
    for _ in range(count):
        sessions.append(reader.read_struct(_SESSION))
    acls = {}
    for _ in range(reader.read_int()):
        acl_id = reader.read_long()
        acls[acl_id] = tuple(reader.read_vector(_read_acl) or ())
    nodes, reader.offset = read_nodes(data, reader.offset, acls, path)
    checksum = zlib.adler32(memoryview(data)[:reader.offset])
    checksum = _check_seal(data, reader, checksum, path, "tree")
    digest = None
    if reader.remaining():
        digest_start = reader.offset
        digest_zxid = reader.read_long()
        digest_version = reader.read_int()
        if digest_version < 2:
            text = reader.read_ustring()
            digest_value = int(text, 16) if text else 0
        else:
            digest_value = reader.read_long()
        checksum = zlib.adler32(memoryview(data)[digest_start:reader.offset], checksum)
        checksum = _check_seal(data, reader, checksum, path, "digest")
        if digest_zxid > 0:
            digest = ZxidDigest(digest_zxid, digest_version, digest_value)
    # 3.9 may append the last processed zxid (and a seal); nothing in it is needed here.
    return Snapshot(zxid, sessions, nodes, digest, dbid)


def _parse_nodes(data, offset, acls, nodes, path):
    """The node records up to the "/" end marker, appended to ``nodes`` as flat rows ``(path,
    data, acl, czxid, mzxid, ctime, mtime, version, cversion, aversion, ephemeral_owner,
    pzxid)``; returns the offset after the marker.

    Unrolled rather than going through ``Reader`` field by field, slicing ``bytes`` directly
    (one allocation per field). ``convert.snapshot_tree_reader`` is the same loop building tree
    nodes instead of rows (the import's hot path); a change to one belongs in the other.
    """
    append = nodes.append
    unpack_int = _INT.unpack_from
    unpack_tail = ACL_AND_STAT.unpack_from
    tail_size = ACL_AND_STAT.size
    size = len(data)
    open_acl_id = OPEN_ACL_UNSAFE_ID
    open_acl = OPEN_ACL_UNSAFE
    get_acl = acls.get
    while True:
        if offset + 4 > size:
            raise CorruptSnapshotError(path, "the node list ends without its '/' end marker")
        (length,) = unpack_int(data, offset)
        offset += 4
        end = offset + length
        if length < 0 or end > size:
            raise CorruptSnapshotError(path, f"node path length {length} at byte {offset - 4} is impossible")
        node_path = data[offset:end].decode("utf-8")
        offset = end + 4
        if node_path == "/":
            return end
        if offset > size:
            raise CorruptSnapshotError(path, f"node {node_path!r} cut short")
        (length,) = unpack_int(data, end)
        if length == -1:
            node_data = None
        else:
            end = offset + length
            if length < -1 or end > size:
                raise CorruptSnapshotError(path, f"node {node_path!r} has an impossible data length {length}")
            node_data = data[offset:end]
            offset = end
        if offset + tail_size > size:
            raise CorruptSnapshotError(path, f"node {node_path!r} cut short")
        (acl_id, czxid, mzxid, ctime, mtime, version, cversion, aversion, owner,
         pzxid) = unpack_tail(data, offset)
        offset += tail_size
        if acl_id == open_acl_id:
            acl = open_acl
        else:
            acl = get_acl(acl_id)
            if acl is None:
                raise CorruptSnapshotError(path, f"node {node_path!r} refers to ACL {acl_id}, "
                                                 f"which the ACL table does not hold")
        append((node_path or "/", node_data, acl, czxid, mzxid, ctime, mtime, version, cversion,
                aversion, owner, pzxid))


def _check_seal(data, reader, checksum, path, what):
    """SnapStream.checkSealIntegrity: long adler32 of everything so far, then ustring "/"."""
    seal_start = reader.offset
    if reader.remaining() < 8 + len(_SEAL_PATH):
        raise CorruptSnapshotError(path, f"the checksum after the {what} is missing: the file is incomplete")
    stored = reader.read_long()
    if stored != checksum:
        raise CorruptSnapshotError(
            path, f"Adler32 mismatch after the {what} (stored {stored:#x}, computed {checksum:#x})")
    if bytes(data[reader.offset:reader.offset + len(_SEAL_PATH)]) != _SEAL_PATH:
        raise CorruptSnapshotError(path, f"the seal after the {what} lacks its '/'")
    reader.offset += len(_SEAL_PATH)
    return zlib.adler32(memoryview(data)[seal_start:reader.offset], checksum)


def encode_snapshot(sessions, nodes, digest: ZxidDigest | None) -> bytes:
    """An uncompressed snapshot stream: ``nodes`` = [SnapshotNode] with parents first.

    The ACL table numbers each distinct ACL list from 1, as ReferenceCountedACLCache does.
    """
    acl_ids = {}
    for node in nodes:
        if node.acl not in acl_ids:
            acl_ids[node.acl] = len(acl_ids) + 1
    out = bytearray(_FILE_HEADER.pack(SNAP_MAGIC, FORMAT_VERSION, SNAPSHOT_DBID))
    write_int(out, len(sessions))
    for session_id, timeout_ms in sessions:
        out += _SESSION.pack(session_id, timeout_ms)
    write_int(out, len(acl_ids))
    for acl, acl_id in acl_ids.items():
        write_long(out, acl_id)
        write_vector(out, acl, lambda o, a: a.serialize(o))
    pack_tail = ACL_AND_STAT.pack
    for node in nodes:
        write_ustring(out, "" if node.path == "/" else node.path)
        write_buffer(out, node.data)
        out += pack_tail(acl_ids[node.acl], *node.stat)
    write_ustring(out, "/")
    checksum = zlib.adler32(out)
    _seal(out, checksum)
    if digest is not None:
        start = len(out)
        out += struct.pack(">qiq", digest.zxid, digest.version, digest.digest)
        _seal(out, zlib.adler32(memoryview(out)[start:], zlib.adler32(out[:start])))
    return bytes(out)


def _seal(out: bytearray, checksum: int) -> None:
    write_long(out, checksum)
    out += _SEAL_PATH


def node_digest(path: str, data: bytes | None, stat: StatPersisted) -> int:
    """DigestCalculator.calculateDigest (version 2): 0 under /zookeeper/, the root hashed as ""."""
    if path.startswith("/zookeeper/"):
        return 0
    crc = zlib.crc32(b"" if path == "/" else path.encode("utf-8"))
    if data:
        crc = zlib.crc32(data, crc)
    return zlib.crc32(STAT_FOR_DIGEST.pack(
        stat.czxid, stat.mzxid, stat.pzxid, stat.ctime, stat.mtime, stat.version, stat.cversion,
        stat.aversion, stat.ephemeral_owner), crc)


def tree_digest(nodes) -> int:
    """The tree digest ZooKeeper keeps (a sum of node digests, as a signed long)."""
    return signed_long(sum(node_digest(node.path, node.data, node.stat) for node in nodes))


def signed_long(value: int) -> int:
    """``value`` wrapped to a Java long, as ZooKeeper's digest sums are."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


# -- transaction logs ------------------------------------------------------------------------------


def parse_txn_log(data: bytes, path: str) -> LogScan:
    """Decode every complete record of a log file; see the module doc for torn and zero tails."""
    if len(data) < _FILE_HEADER.size:
        raise CorruptTxnLogError(path, 0, f"only {len(data)} bytes, shorter than the file header")
    magic, version, dbid = _FILE_HEADER.unpack_from(data, 0)
    if magic != LOG_MAGIC:
        raise CorruptTxnLogError(path, 0, f"not a ZooKeeper transaction log (magic {magic:#x})")
    records = []
    offset = _FILE_HEADER.size
    size = len(data)
    torn = None
    while True:
        if offset + _LOG_RECORD_HEAD.size > size:
            if offset < size:
                torn = f"{size - offset} bytes at the end are too few for a record"
            break
        checksum, length = _LOG_RECORD_HEAD.unpack_from(data, offset)
        if length == 0:
            break   # the preallocated zeros: the end of what was written
        body = offset + _LOG_RECORD_HEAD.size
        if length < 0 or body + length + 1 > size:
            torn = f"the record at byte {offset} is cut short (length {length})"
            break
        if data[body + length] != END_OF_RECORD:
            torn = f"the record at byte {offset} lacks its end marker: it was only partly written"
            break
        txn_bytes = memoryview(data)[body:body + length]
        computed = zlib.adler32(txn_bytes)
        if computed != checksum:
            raise CorruptTxnLogError(
                path, offset, f"Adler32 mismatch (stored {checksum:#x}, computed {computed:#x})")
        try:
            header, txn, digest = decode_txn(txn_bytes)
        except Exception as e:
            raise CorruptTxnLogError(path, offset, f"the transaction cannot be decoded: {e}") from None
        records.append(LogRecord(header, txn, digest, offset))
        offset = body + length + 1
    return LogScan(dbid, records, offset, torn)


def _read_acl_list(reader):
    return tuple(reader.read_vector(_read_acl) or ())


def _decode_body(type_, reader):
    if type_ in (OpCode.CREATE, OpCode.CREATE2):
        path, data, acl = reader.read_ustring(), reader.read_buffer(), _read_acl_list(reader)
        ephemeral = reader.read_bool()
        if reader.remaining() >= 4:
            return CreateTxn(path, data, acl, ephemeral, reader.read_int())
        return CreateTxn(path, data, acl, ephemeral, -1)   # CreateTxnV0 has no parentCVersion
    if type_ == OpCode.CREATE_CONTAINER:
        return CreateContainerTxn(reader.read_ustring(), reader.read_buffer(), _read_acl_list(reader),
                                  reader.read_int())
    if type_ == OpCode.CREATE_TTL:
        return CreateTTLTxn(reader.read_ustring(), reader.read_buffer(), _read_acl_list(reader),
                            reader.read_int(), reader.read_long())
    if type_ in (OpCode.DELETE, OpCode.DELETE_CONTAINER):
        return DeleteTxn(reader.read_ustring())
    if type_ in (OpCode.SET_DATA, OpCode.RECONFIG):
        return SetDataTxn(reader.read_ustring(), reader.read_buffer(), reader.read_int())
    if type_ == OpCode.SET_ACL:
        return SetACLTxn(reader.read_ustring(), _read_acl_list(reader), reader.read_int())
    if type_ == OpCode.CHECK:
        return CheckVersionTxn(reader.read_ustring(), reader.read_int())
    if type_ == OpCode.CREATE_SESSION:
        return CreateSessionTxn(reader.read_int())
    if type_ == OpCode.CLOSE_SESSION:
        # 3.6+ lists the ephemerals to delete; older logs have no body. A bare digest (12 bytes)
        # is told apart by its size: a vector of paths is never exactly that.
        if reader.remaining() == 0 or reader.remaining() == 12:
            return CloseSessionTxn(None)
        return CloseSessionTxn(tuple(reader.read_vector(Reader.read_ustring) or ()))
    if type_ == OpCode.ERROR:
        return ErrorTxn(reader.read_int())
    if type_ == OpCode.MULTI:
        subs = []
        for _ in range(reader.read_int()):
            sub_type = reader.read_int()
            sub_bytes = reader.read_buffer() or b""
            sub_reader = Reader(sub_bytes)
            subs.append((sub_type, _decode_body(sub_type, sub_reader)))
        return MultiTxn(tuple(subs))
    raise ValueError(f"unsupported transaction type {type_}")


def decode_txn(txn_bytes) -> tuple:
    """(TxnHeader, txn, digest or None) from a log record's bytes (SerializeUtils.deserializeTxn)."""
    reader = Reader(txn_bytes)
    header = TxnHeader(*reader.read_struct(_TXN_HEADER))
    txn = _decode_body(header.type, reader)
    digest = None
    if reader.remaining() >= 12:
        digest = (reader.read_int(), reader.read_long())
    return header, txn, digest


def encode_log_header() -> bytes:
    """A transaction log holding no records yet (what ``export`` writes beside its snapshot)."""
    return _FILE_HEADER.pack(LOG_MAGIC, FORMAT_VERSION, LOG_DBID)


def encode_log_record(header: TxnHeader, body: bytes) -> bytes:
    """One framed log record (tests use it to build logs with chosen damage)."""
    txn_bytes = _TXN_HEADER.pack(*header) + body
    return _LOG_RECORD_HEAD.pack(zlib.adler32(txn_bytes), len(txn_bytes)) + txn_bytes + bytes([END_OF_RECORD])


# -- session passwords -----------------------------------------------------------------------------

_JAVA_RANDOM_MULTIPLIER = 0x5DEECE66D
_JAVA_RANDOM_MASK = (1 << 48) - 1
_SESSION_SUPER_SECRET = 0xB3415C00


def session_password(session_id: int) -> bytes:
    """ZooKeeperServer.generatePasswd: ``new Random(id ^ superSecret).nextBytes(new byte[16])``.

    ZooKeeper never stores session passwords; it recomputes them from the id. coord stores
    them, so an imported session gets the password its client already holds.
    """
    seed = ((session_id ^ _SESSION_SUPER_SECRET) ^ _JAVA_RANDOM_MULTIPLIER) & _JAVA_RANDOM_MASK
    out = bytearray()
    while len(out) < 16:
        seed = (seed * _JAVA_RANDOM_MULTIPLIER + 0xB) & _JAVA_RANDOM_MASK
        value = seed >> 16          # Random.next(32)
        for _ in range(min(4, 16 - len(out))):
            out.append(value & 0xFF)
            value >>= 8
    return bytes(out)
