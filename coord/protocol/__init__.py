"""Sans-I/O ZooKeeper wire codec, shared by the server and the clients.

Nothing in this package does I/O, reads a clock, or imports Twisted (tests/protocol/test_purity.py
enforces it).  Layers, bottom up:

* ``codes``       opcodes, error codes, event types, states, create modes, perms, special xids, 4lws
* ``errors``      ProtocolError -> LocalProtocolError (our caller's fault) / RemoteProtocolError (peer's)
* ``jute``        bounds-checked Reader and bytearray writers for jute primitives
* ``records``     every client-protocol record of zookeeper.jute as a NamedTuple
* ``framing``     4-byte length framing with a max_frame_bytes limit
* ``server_conn`` ServerConnection: client bytes -> events; replies -> framed bytes
* ``client_conn`` ClientConnection: requests -> framed bytes; server bytes -> matched events
"""

from .client_conn import ClientConnection
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .server_conn import ServerConnection

__all__ = [
    "ClientConnection",
    "ServerConnection",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
]
