"""Connections between ensemble members: one outgoing TCP link to each peer, frames both ways.

Theory of operation
-------------------
Every member listens on its peer port (the first port of its ``server.N`` line) and dials every
other member, at the address of that member's ``server.N`` line unless ``coord.dial.N`` gives
another one (a proxy or NAT between members: the ``server.N`` lines, and so the cluster digest in
the hello, stay identical on every member; TLS still verifies the certificate against the
``server.N`` host, the member's identity). A member sends only on the connection it dialled and receives only on the ones it
accepted, so each pair has exactly two connections and no tie-breaking is needed. The first frame
on a dialled connection is a ``Hello`` (cluster digest + member id); an accepting member checks
it against its own configuration and closes the connection on any mismatch, logging why. Frames
are 4-byte length-prefixed ``coord.peer_wire`` frames; a malformed one closes the connection that
carried it.

Sending to a peer whose link is down drops the frame: consensus retransmits, and forwarded client
requests are abandoned by the member when it loses its leader (see ``coord/server.py``). When a
dialled connection drops, the node is told at once (``peer_lost``): a follower that loses its
leader's connection starts an election without waiting out the timeout. Links redial with a short
bounded backoff.

With ``sslQuorum=true`` every link is TLS, mutually authenticated against the quorum trust store
(``coord/runtime/tls.py``): a member whose certificate does not verify never gets as far as its
hello. A failed handshake is logged once per peer address until a link with it succeeds again.
"""

from twisted.internet import protocol, reactor as default_reactor
from twisted.internet.interfaces import IHandshakeListener
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from zope.interface import implementer

from coord import peer_wire as W
from coord.runtime import tls

MAX_PEER_FRAME_BYTES = 1 << 30        # a snapshot of a large tree travels in one frame
REDIAL_MIN_S = 0.05
REDIAL_MAX_S = 1.0


@implementer(IHandshakeListener)
class _Link(Int32StringReceiver):
    MAX_LENGTH = MAX_PEER_FRAME_BYTES

    def __init__(self, peers, outgoing_to=None):
        self.peers = peers
        self.outgoing_to = outgoing_to    # member id we dialled, or None for an accepted link
        self.remote_id = None

    def connectionMade(self):
        try:
            self.transport.setTcpNoDelay(True)
        except (AttributeError, OSError):
            pass
        if self.outgoing_to is None:
            self.peers._accepted.add(self)   # it reads nothing before its hello anyway
        elif self.peers.tls_settings is None:
            self._dialled_link_up()

    def handshakeCompleted(self):
        # Over TLS a dialled link is usable only once the peer's certificate has been verified.
        if self.outgoing_to is not None:
            self._dialled_link_up()

    def _dialled_link_up(self):
        self.sendString(W.encode(W.Hello(self.peers.cluster_id, self.peers.my_id)))
        self.peers._link_up(self.outgoing_to, self)

    def stringReceived(self, data):
        try:
            frame = W.decode(data)
        except W.MalformedFrame as e:
            self.peers.log.warn("closing peer connection from {peer}: {error}",
                                peer=self._who(), error=e)
            self.transport.loseConnection()
            return
        if self.outgoing_to is not None:
            return   # we only send on links we dialled
        if self.remote_id is None:
            self._hello(frame)
            return
        self.peers.on_frame(self.remote_id, frame)

    def _hello(self, frame):
        peers = self.peers
        if not isinstance(frame, W.Hello):
            reason = "the first frame was not a hello"
        elif frame.cluster_id != peers.cluster_id:
            reason = ("member %d belongs to another ensemble (its server.N lines differ from ours)"
                      % frame.member_id)
        elif frame.member_id not in peers.addresses or frame.member_id == peers.my_id:
            reason = "member id %d is not another member of this ensemble" % frame.member_id
        elif frame.version != W.PROTOCOL_VERSION:
            reason = "peer protocol version %d, we speak %d" % (frame.version, W.PROTOCOL_VERSION)
        else:
            self.remote_id = frame.member_id
            peers._tls_failing.discard(self._who().rpartition(":")[0])
            return
        peers.log.warn("refusing peer connection from {peer}: {reason}", peer=self._who(),
                       reason=reason)
        self.transport.loseConnection()

    def lengthLimitExceeded(self, length):
        self.peers.log.warn("closing peer connection from {peer}: a {n}-byte frame",
                            peer=self._who(), n=length)
        self.transport.loseConnection()

    def connectionLost(self, reason=None):
        if tls.is_tls_failure(reason) and self.remote_id is None:
            self.peers._tls_failed(self.outgoing_to, self._who(), reason.value)
        if self.outgoing_to is not None:
            self.peers._link_down(self.outgoing_to, self)
        else:
            self.peers._accepted.discard(self)

    def _who(self):
        peer = self.transport.getPeer()
        return "%s:%s" % (getattr(peer, "host", "?"), getattr(peer, "port", "?"))


class _AcceptFactory(protocol.Factory):
    noisy = False

    def logPrefix(self):
        return "peer port"

    def __init__(self, peers):
        self.peers = peers

    def buildProtocol(self, addr):
        return _Link(self.peers)


class _DialFactory(protocol.ClientFactory):
    noisy = False

    def __init__(self, peers, member_id):
        self.peers = peers
        self.member_id = member_id

    def buildProtocol(self, addr):
        return _Link(self.peers, outgoing_to=self.member_id)

    def clientConnectionFailed(self, connector, reason):
        self.peers._dial_failed(self.member_id)


class PeerLinks:
    log = Logger(namespace="coord.peers")

    def __init__(self, my_id, addresses, cluster_id, on_frame, on_lost, reactor=None,
                 listen_host=None, tls_settings=None, dial_addresses=None):
        """``addresses``: member id -> (host, peer port), ourselves included; ``tls_settings``:
        the quorum's ``TlsSettings`` (sslQuorum) or None for plain TCP; ``dial_addresses``:
        member id -> (host, port) to dial instead of ``addresses`` (coord.dial.N)."""
        self.my_id = my_id
        self.addresses = addresses
        self.cluster_id = cluster_id
        self.on_frame = on_frame
        self.on_lost = on_lost
        self.reactor = reactor or default_reactor
        self.listen_host = listen_host
        self.dial_addresses = {i: a for i, a in (dial_addresses or {}).items()
                               if i in addresses and i != my_id}
        self._links = {}           # member id -> connected outgoing _Link
        self._accepted = set()     # incoming links
        self._connectors = {}
        self._backoff = {}
        self._redials = {}
        self._port = None
        self._stopping = False
        self.frames_dropped = 0
        self.tls_settings = tls_settings
        self._tls_failing = set()  # peer addresses whose last handshake failed (logged once)
        if tls_settings is not None:
            # Load and check the files now: a bad key store stops the member at start-up.
            self._accept_tls = tls.quorum_accept_options(tls_settings)
            self._dial_tls = {i: tls.quorum_dial_options(tls_settings, host)
                              for i, (host, _) in addresses.items() if i != my_id}

    def start(self):
        host, port = self.addresses[self.my_id]
        interface = self.listen_host or host
        if self.tls_settings is not None:
            self._port = self.reactor.listenSSL(port, _AcceptFactory(self), self._accept_tls,
                                                interface=interface)
        else:
            self._port = self.reactor.listenTCP(port, _AcceptFactory(self), interface=interface)
        for member_id, (dial_host, dial_port) in sorted(self.dial_addresses.items()):
            self.log.info("dialling member {m} at {host}:{port} (coord.dial.{m}), not at its "
                          "server.{m} address {real}", m=member_id, host=dial_host, port=dial_port,
                          real="%s:%d" % self.addresses[member_id])
        for member_id in sorted(self.addresses):
            if member_id != self.my_id:
                self._dial(member_id)

    def _dial(self, member_id):
        self._redials.pop(member_id, None)
        if self._stopping:
            return
        host, port = self.dial_addresses.get(member_id) or self.addresses[member_id]
        if self.tls_settings is not None:
            self._connectors[member_id] = self.reactor.connectSSL(
                host, port, _DialFactory(self, member_id), self._dial_tls[member_id], timeout=2)
        else:
            self._connectors[member_id] = self.reactor.connectTCP(
                host, port, _DialFactory(self, member_id), timeout=2)

    def _schedule_redial(self, member_id):
        if self._stopping or member_id in self._redials:
            return
        delay = self._backoff.get(member_id, REDIAL_MIN_S)
        self._backoff[member_id] = min(delay * 2, REDIAL_MAX_S)
        self._redials[member_id] = self.reactor.callLater(delay, self._dial, member_id)

    def _dial_failed(self, member_id):
        self._schedule_redial(member_id)

    def _tls_failed(self, member_id, address, error):
        key = member_id if member_id is not None else address.rpartition(":")[0]
        if key in self._tls_failing:
            return
        self._tls_failing.add(key)
        if member_id is not None:
            self.log.warn("TLS handshake with member {m} ({peer}) failed: {error}", m=member_id,
                          peer=address, error=error)
        else:
            self.log.warn("refusing peer connection from {peer}: TLS handshake failed: {error}",
                          peer=address, error=error)

    def _link_up(self, member_id, link):
        self._tls_failing.discard(member_id)
        self._links[member_id] = link
        self._backoff[member_id] = REDIAL_MIN_S
        self.log.info("connected to member {m}", m=member_id)

    def _link_down(self, member_id, link):
        if self._links.get(member_id) is link:
            del self._links[member_id]
            if not self._stopping:
                self.log.info("lost the connection to member {m}", m=member_id)
                self.on_lost(member_id)
        self._schedule_redial(member_id)

    def connected(self, member_id):
        return member_id in self._links

    def send(self, member_id, frame):
        link = self._links.get(member_id)
        if link is None:
            self.frames_dropped += 1
            return False
        link.sendString(frame if isinstance(frame, bytes) else W.encode(frame))
        return True

    def stop(self):
        self._stopping = True
        for call in self._redials.values():
            if call.active():
                call.cancel()
        self._redials = {}
        for connector in self._connectors.values():
            connector.disconnect()
        for link in list(self._links.values()) + list(self._accepted):
            link.transport.loseConnection()
        return self._port.stopListening() if self._port is not None else None
