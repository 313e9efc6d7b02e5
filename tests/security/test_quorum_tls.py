"""TLS between ensemble members (sslQuorum=true): real 3-member coord ensembles on 127.0.0.1.

Members authenticate each other against the quorum trust store; one whose certificate another
CA signed, or that names another host, is refused by the others, logged, and never joins (it
never hears from a leader).
"""

import socket
import struct
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

from coord.testing.certs import CertificateAuthority
from coord.testing.servers import Ensemble

WAIT_S = 20.0


def quorum_config(issued, ca):
    return {
        "sslQuorum": "true",
        "ssl.quorum.keyStore.location": issued.key_store,
        "ssl.quorum.keyStore.type": "PEM",
        "ssl.quorum.trustStore.location": ca.trust_store,
        "ssl.quorum.trustStore.type": "PEM",
    }


def wait_for_log(member, text, timeout_s=WAIT_S):
    deadline = time.monotonic() + timeout_s
    while text not in member.log_tail(200000):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the log of member {member.member_id}:\n"
                                 + member.log_tail())
        time.sleep(0.1)


def peer_port(member):
    return int(member.membership[member.member_id].split(":")[1])


def test_ensemble_over_tls_replicates_and_refuses_plain_peers(pki, tmp_path):
    config = {**quorum_config(pki.server, pki.ca), "coord.sasl.user.bob": "bobs-secret"}
    with Ensemble("coord", tmp_path, size=3, config=config) as ensemble:
        # bob logs in with SASL on one member; the sasl identity travels with his forwarded
        # writes, and the ACL it set holds on every member.
        bob = KazooClient(hosts=ensemble.member(1).hosts, timeout=10.0, sasl_options={
            "mechanism": "DIGEST-MD5", "username": "bob", "password": "bobs-secret"})
        reader = KazooClient(hosts=ensemble.member(3).hosts, timeout=10.0)
        bob.start(timeout=15.0)
        reader.start(timeout=15.0)
        try:
            bob.create("/over-tls", b"replicated")
            bob.create("/bobs", b"private", acl=[make_acl("sasl", "bob", all=True)])
            reader.sync("/over-tls")
            assert reader.get("/over-tls")[0] == b"replicated"
            with pytest.raises(NoAuthError):
                reader.get("/bobs")
            with pytest.raises(NoAuthError):
                reader.set("/bobs", b"not yours")
        finally:
            for c in (bob, reader):
                c.stop()
                c.close()
        # Someone speaking the plain peer protocol gets nowhere: the port speaks only TLS.
        target = ensemble.member(2)
        with socket.create_connection(("127.0.0.1", peer_port(target)), timeout=5) as sock:
            sock.sendall(struct.pack(">i", 8) + b"\0" * 8)
            sock.settimeout(5)
            received = b""
            try:
                while chunk := sock.recv(100):
                    received += chunk
            except ConnectionResetError:
                pass
            # At most a TLS alert record (content type 21), then the member hung up.
            assert received == b"" or received[0] == 21
        wait_for_log(target, "TLS handshake failed")
        assert "connected to member" in target.log_tail(200000)


@pytest.mark.parametrize("impostor_kind", [
    "another CA", pytest.param("another host name", marks=pytest.mark.slow)])
def test_member_with_a_certificate_from_another_ca_is_refused(pki, tmp_path, impostor_kind):
    ensemble = Ensemble("coord", tmp_path, size=3, config=quorum_config(pki.server, pki.ca))
    if impostor_kind == "another CA":
        rogue = CertificateAuthority(tmp_path / "rogue", "rogue quorum CA")
        ensemble.member(3).extra_config.update(quorum_config(rogue.issue("member3"), rogue))
        refused_by = (1, 2)     # its dials fail the others' checks, and theirs fail its own
    else:
        # Our CA signed it, but for a host that is not member 3's server.N address: members
        # dialling it refuse it (ssl.quorum.hostnameVerification defaults to true).
        elsewhere = pki.ca.issue("member3-elsewhere", hosts=("coord-elsewhere.example",))
        ensemble.member(3).extra_config.update(quorum_config(elsewhere, pki.ca))
        refused_by = ()
    try:
        for member in ensemble.members.values():
            member.write_config()
            member._launch()
        for member_id in (1, 2):
            ensemble.member(member_id)._wait_ready(60.0)
        leader = ensemble.leader()
        assert leader in (1, 2)
        for member_id in refused_by:
            wait_for_log(ensemble.member(member_id), "TLS handshake failed")
        for member_id in (1, 2):
            wait_for_log(ensemble.member(member_id), "TLS handshake with member 3")
        client = KazooClient(hosts=ensemble.member(1).hosts, timeout=10.0)
        client.start(timeout=15.0)
        try:
            client.create("/without-the-impostor", b"ok")   # a quorum of 1 and 2
        finally:
            client.stop()
            client.close()
        # The impostor never heard from a leader, so it serves nobody.
        assert ensemble.member(3).running
        assert ensemble.member(3).mode() is None
        if impostor_kind == "another CA":
            assert "connected to member" not in ensemble.member(3).log_tail(200000)
    finally:
        ensemble.stop()
