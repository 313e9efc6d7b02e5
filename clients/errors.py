"""Typed client exceptions: one class per ZooKeeper error code, under one base, with kazoo's names.

Theory of operation: a reply's ``err`` becomes an exception through ``error_for_code``.  Every class
carries ``code`` (the ZooKeeper ``Err`` value, or a client-local code below -1000 for failures no
server sends).  The names are kazoo's (``kazoo/exceptions.py``), so code written against kazoo
catches the same names here; ``CoordClientError`` is the base of everything the clients raise.
"""

from coord.protocol.codes import Err

from .session import ERR_CLOSED

# The per-code classes (NoNodeError, ...) are added to __all__ as they are registered below.
__all__ = [
    "CoordClientError", "ZookeeperError", "ClientTimeoutError", "LockTimeout", "CancelledError",
    "error_for_code", "EXCEPTIONS",
]

class CoordClientError(Exception):
    """Base of every exception the coord clients raise."""


class ZookeeperError(CoordClientError):
    """An error code from a ZooKeeper reply (or its client-side equivalent)."""

    code: int = 0


EXCEPTIONS: dict[int, type] = {}


def _register(code: int, name: str, doc: str, base: type = ZookeeperError) -> type:
    cls = type(name, (base,), {"code": code, "__doc__": doc, "__module__": __name__})
    EXCEPTIONS[code] = cls
    globals()[name] = cls
    __all__.append(name)
    return cls


_register(0, "RolledBackError", "This op of a multi was rolled back because another failed.")
_register(Err.SYSTEM_ERROR, "SystemZookeeperError", "The server reported a system error.")
_register(Err.RUNTIME_INCONSISTENCY, "RuntimeInconsistency", "A runtime inconsistency was found.")
_register(Err.DATA_INCONSISTENCY, "DataInconsistency", "A data inconsistency was found.")
_register(Err.CONNECTION_LOSS, "ConnectionLoss",
          "The connection dropped with the request outstanding: its outcome is unknown.")
_register(Err.MARSHALLING_ERROR, "MarshallingError", "Error while marshalling or unmarshalling.")
_register(Err.UNIMPLEMENTED, "UnimplementedError", "The server does not implement the operation.")
_register(Err.OPERATION_TIMEOUT, "OperationTimeoutError", "The server timed the operation out.")
_register(Err.BAD_ARGUMENTS, "BadArgumentsError", "Invalid arguments.")
_register(Err.UNKNOWN_SESSION, "UnknownSessionError", "Unknown session.")
_register(Err.NEW_CONFIG_NO_QUORUM, "NewConfigNoQuorumError", "No quorum for the new config.")
_register(Err.RECONFIG_IN_PROGRESS, "ReconfigInProcessError", "A reconfig is in progress.")
_register(Err.API_ERROR, "APIError", "API error.")
_register(Err.NO_NODE, "NoNodeError", "The node does not exist.")
_register(Err.NO_AUTH, "NoAuthError", "Not authorized.")
_register(Err.BAD_VERSION, "BadVersionError", "The version does not match.")
_register(Err.NO_CHILDREN_FOR_EPHEMERALS, "NoChildrenForEphemeralsError",
          "Ephemeral nodes may not have children.")
_register(Err.NODE_EXISTS, "NodeExistsError", "The node already exists.")
_register(Err.NOT_EMPTY, "NotEmptyError", "The node has children.")
_register(Err.SESSION_EXPIRED, "SessionExpiredError", "The session expired.")
_register(Err.INVALID_CALLBACK, "InvalidCallbackError", "Invalid callback.")
_register(Err.INVALID_ACL, "InvalidACLError", "Invalid ACL.")
_register(Err.AUTH_FAILED, "AuthFailedError", "Authentication failed.")
_register(Err.SESSION_MOVED, "SessionMovedError", "The session moved to another server.")
_register(Err.NOT_READ_ONLY, "NotReadOnlyCallError", "A write on a read-only connection.")
_register(Err.EPHEMERAL_ON_LOCAL_SESSION, "EphemeralOnLocalSessionError",
          "Ephemeral nodes need a global session.")
_register(Err.NO_WATCHER, "NoWatcherError", "No such watcher.")
_register(Err.REQUEST_TIMEOUT, "RequestTimeoutError", "The request timed out on the server.")
_register(Err.RECONFIG_DISABLED, "ReconfigDisabledError", "Reconfig is disabled.")
_register(Err.SESSION_CLOSED_REQUIRE_SASL_AUTH, "SessionClosedRequireSaslError",
          "The session was closed: SASL authentication is required.")
_register(Err.QUOTA_EXCEEDED, "QuotaExceededError", "A quota was exceeded.")
_register(Err.THROTTLED, "ThrottledOpError", "The server throttled the operation.")
_register(ERR_CLOSED, "ConnectionClosedError",
          "The client was stopped with the request outstanding.", EXCEPTIONS[Err.SESSION_EXPIRED])


class ClientTimeoutError(CoordClientError, TimeoutError):
    """A call did not complete within its timeout (its request may still take effect)."""


class LockTimeout(CoordClientError, TimeoutError):
    """A lock (or election, semaphore...) was not acquired within the timeout."""


class CancelledError(CoordClientError):
    """A recipe's wait was cancelled."""


def error_for_code(code: int, message: str = "") -> ZookeeperError:
    """The exception instance for a reply's error code; unknown codes become a plain ZookeeperError."""
    cls = EXCEPTIONS.get(code)
    if cls is None:
        error = ZookeeperError(message or f"unknown ZooKeeper error code {code}")
        error.code = code
        return error
    return cls(message or cls.__doc__)
