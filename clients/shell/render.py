"""How zkCli.sh prints things: stats, children, ACLs, watch events, errors. Pure.

Formats follow ZooKeeper 3.8's ``StatPrinter``, ``LsCommand``, ``GetAclCommand`` (a jute ``Id``
printed as CSV), ``WatchedEvent.toString`` and ``CliWrapperException``, checked against Debian's
zkCli.sh (tests/clients/test_shell.py compares the two).
"""

from __future__ import annotations

import datetime

from coord.protocol.codes import Err

from .. import errors
from .syntax import perm_string

_U64 = (1 << 64) - 1


def java_date(ms: int, tz: datetime.tzinfo | None = None) -> str:
    """``new Date(ms).toString()``: ``Mon Nov 30 21:52:49 UTC 2026``, in ``tz`` (default: the
    local time zone, as the JVM prints it)."""
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    moment = moment.astimezone(tz) if tz is not None else moment.astimezone()
    return moment.strftime("%a %b %d %H:%M:%S %Z %Y")


def hex_long(value: int) -> str:
    """Long.toHexString: negative values as their 64-bit two's complement."""
    return "%x" % (value & _U64)


def stat_lines(stat) -> list[str]:
    """StatPrinter, for a clients.ops.ZnodeStat."""
    return [
        f"cZxid = 0x{hex_long(stat.czxid)}",
        f"ctime = {java_date(stat.ctime)}",
        f"mZxid = 0x{hex_long(stat.mzxid)}",
        f"mtime = {java_date(stat.mtime)}",
        f"pZxid = 0x{hex_long(stat.pzxid)}",
        f"cversion = {stat.cversion}",
        f"dataVersion = {stat.version}",
        f"aclVersion = {stat.aversion}",
        f"ephemeralOwner = 0x{hex_long(stat.ephemeralOwner)}",
        f"dataLength = {stat.dataLength}",
        f"numChildren = {stat.numChildren}",
    ]


def children_line(children) -> str:
    """``[a, b]``, sorted, as ``ls`` prints them."""
    return "[" + ", ".join(sorted(children)) + "]"


def data_text(data: bytes | None) -> str:
    """``get``: the bytes as UTF-8 text (invalid sequences replaced, as Java's new String does),
    ``null`` for a znode created without data."""
    return "null" if data is None else data.decode("utf-8", errors="replace")


def _csv(text: str) -> str:
    """jute's CsvOutputArchive string escaping (how a record's toString prints a string)."""
    out = []
    for c in text:
        out.append({"\0": "%00", "\n": "%0A", "\r": "%0D", ",": "%2C", "}": "%7D",
                    "%": "%25"}.get(c, c))
    return "'" + "".join(out)


def acl_lines(acl) -> list[str]:
    """``getAcl``: each ACL as ``'scheme,'id`` then ``: perms`` (Id.toString ends its line)."""
    lines = []
    for entry in acl:
        lines.append(f"{_csv(entry.id.scheme)},{_csv(entry.id.id)}")
        lines.append(f": {perm_string(entry.perms)}")
    return lines


EVENT_TYPES = {"NONE": "None", "CREATED": "NodeCreated", "DELETED": "NodeDeleted",
               "CHANGED": "NodeDataChanged", "CHILD": "NodeChildrenChanged"}
KEEPER_STATES = {"CONNECTED": "SyncConnected", "CONNECTED_READ_ONLY": "ConnectedReadOnly",
                 "SUSPENDED": "Disconnected", "LOST": "Expired", "CLOSED": "Closed"}


def event_lines(event_type: str, state: str, path: str | None) -> list[str]:
    """What zkCli's default watcher prints for an event (``printMessage`` adds the blank lines).

    ``event_type`` and ``state`` are the client's names (WatchedEvent.type, State values)."""
    return ["", "WATCHER::", "",
            "WatchedEvent state:%s type:%s path:%s" % (
                KEEPER_STATES.get(str(state), str(state)),
                EVENT_TYPES.get(event_type, event_type), "null" if path is None else path)]


# KeeperException.getCodeMessage, for errors without a zkCli sentence of their own.
_CODE_MESSAGES = {
    Err.SYSTEM_ERROR: "SystemError", Err.RUNTIME_INCONSISTENCY: "RuntimeInconsistency",
    Err.DATA_INCONSISTENCY: "DataInconsistency", Err.CONNECTION_LOSS: "ConnectionLoss",
    Err.MARSHALLING_ERROR: "MarshallingError", Err.UNIMPLEMENTED: "Unimplemented",
    Err.OPERATION_TIMEOUT: "OperationTimeout", Err.BAD_ARGUMENTS: "BadArguments",
    Err.NEW_CONFIG_NO_QUORUM: "NewConfigNoQuorum", Err.RECONFIG_IN_PROGRESS: "ReconfigInProgress",
    Err.API_ERROR: "APIError", Err.NO_NODE: "NoNode", Err.NO_AUTH: "NoAuth",
    Err.BAD_VERSION: "BadVersion", Err.NO_CHILDREN_FOR_EPHEMERALS: "NoChildrenForEphemerals",
    Err.NODE_EXISTS: "NodeExists", Err.INVALID_ACL: "InvalidACL", Err.AUTH_FAILED: "AuthFailed",
    Err.NOT_EMPTY: "Directory not empty", Err.SESSION_EXPIRED: "Session expired",
    Err.INVALID_CALLBACK: "Invalid callback", Err.SESSION_MOVED: "Session moved",
    Err.NOT_READ_ONLY: "Not a read-only call",
    Err.EPHEMERAL_ON_LOCAL_SESSION: "Ephemeral node on local session",
    Err.NO_WATCHER: "No such watcher", Err.RECONFIG_DISABLED: "Reconfig is disabled",
    Err.SESSION_CLOSED_REQUIRE_SASL_AUTH: "Session closed because client failed to authenticate",
    Err.QUOTA_EXCEEDED: "Quota has exceeded", Err.THROTTLED: "Op throttled due to high load",
}

# CliWrapperException's sentences (ZooKeeper 3.8 as Debian ships it: NoAuth is "Insufficient
# permission", later versions say "Authentication is not valid").
_SENTENCES = {
    Err.NO_NODE: "Node does not exist: ",
    Err.NO_CHILDREN_FOR_EPHEMERALS: "Ephemerals cannot have children: ",
    Err.NODE_EXISTS: "Node already exists: ",
    Err.NOT_EMPTY: "Node not empty: ",
    Err.NOT_READ_ONLY: "Not a read-only call: ",
    Err.INVALID_ACL: "Acl is not valid : ",
    Err.NO_AUTH: "Insufficient permission : ",
    Err.BAD_ARGUMENTS: "Arguments are not valid : ",
    Err.BAD_VERSION: "version No is not valid : ",
}


def keeper_message(code: int, path: str | None) -> str:
    """KeeperException.getMessage: ``KeeperErrorCode = NoNode for /a``."""
    text = "KeeperErrorCode = " + _CODE_MESSAGES.get(code, f"Unknown error {code}")
    return text + (f" for {path}" if path else "")


def error_message(error: Exception, path: str | None) -> str:
    """What zkCli prints for a failed request on ``path``."""
    if isinstance(error, errors.ClientTimeoutError):
        return f"{keeper_message(Err.CONNECTION_LOSS, path)} ({error})"
    code = getattr(error, "code", None)
    if isinstance(error, errors.ConnectionClosedError):
        return "Not connected"
    if code in _SENTENCES:
        return _SENTENCES[code] + (path or "")
    if code is not None:
        return keeper_message(code, path)
    return str(error)
