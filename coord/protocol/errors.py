"""Protocol errors that say whose fault they are, and which ZooKeeper code describes them.

Theory of operation (after h11's ``_util.py``): ``RemoteProtocolError`` means the peer sent bytes
that break the protocol (the connection is usually beyond repair); ``LocalProtocolError`` means our
own caller misused the API (a bug in our code, never the peer's).  Both carry ``code``, the
ZooKeeper error code that best describes the failure, MARSHALLING_ERROR unless said otherwise, so
a server can put it straight into a reply header where that makes sense.
"""

from .codes import Err

__all__ = ["ProtocolError", "RemoteProtocolError", "LocalProtocolError"]


class ProtocolError(Exception):
    """Base class; ``code`` is the ZooKeeper ``Err`` for the failure."""

    def __init__(self, message: str, code: Err = Err.MARSHALLING_ERROR) -> None:
        super().__init__(message)
        self.code = code


class RemoteProtocolError(ProtocolError):
    """The peer sent something invalid (bad frame length, undecodable record, ...)."""


class LocalProtocolError(ProtocolError):
    """Our caller misused the API (wrong record for an opcode, value out of range, ...)."""
