"""TLS on coord's client port (secureClientPort), with real kazoo clients over real sockets.

The plain clientPort keeps working beside it; a client certificate verified against the trust
store becomes the connection's ``x509`` identity (its subject, as ZooKeeper names it), so a node
with an x509 ACL is readable with the right certificate only.
"""

import socket
import ssl
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import ACL, Id, Permissions

from coord.auth import x500
from coord.testing.servers import CoordProcess, free_port

START_TIMEOUT_S = 15.0


def tls_config(pki, client_auth="need", **extra):
    return {
        "secureClientPort": free_port(),
        "ssl.keyStore.location": pki.server.key_store,
        "ssl.keyStore.type": "PEM",
        "ssl.trustStore.location": pki.ca.trust_store,
        "ssl.trustStore.type": "PEM",
        "ssl.clientAuth": client_auth,
        **extra,
    }


@pytest.fixture(scope="module")
def secure_server(pki, tmp_path_factory):
    admin_id = x500.subject_name(pki.admin.subject_der)
    config = tls_config(pki, **{"X509AuthenticationProvider.superUser": admin_id})
    server = CoordProcess(tmp_path_factory.mktemp("coord-tls"), config=config)
    server.start()
    yield server
    server.stop()


def secure_client(server, issued=None, ca=None, **kwargs):
    port = server.extra_config["secureClientPort"]
    return KazooClient(hosts=f"127.0.0.1:{port}", use_ssl=True, verify_certs=True,
                       ca=str(ca or server.extra_config["ssl.trustStore.location"]),
                       certfile=str(issued.cert) if issued else None,
                       keyfile=str(issued.key) if issued else None,
                       timeout=10.0, connection_retry={"max_tries": 0}, **kwargs)


def started(client):
    client.start(timeout=START_TIMEOUT_S)
    return client


def test_kazoo_reads_and_writes_over_tls_and_plain_port_still_serves(secure_server, pki):
    with_tls = started(secure_client(secure_server, pki.alice))
    plain = started(KazooClient(hosts=secure_server.hosts, timeout=10.0))
    try:
        with_tls.create("/tls-rw", b"over tls")
        assert plain.get("/tls-rw")[0] == b"over tls"
        plain.set("/tls-rw", b"over tcp")
        assert with_tls.get("/tls-rw")[0] == b"over tcp"
        with_tls.delete("/tls-rw")
    finally:
        for c in (with_tls, plain):
            c.stop()
            c.close()


def test_x509_acl_admits_only_the_right_certificate(secure_server, pki):
    alice_id = x500.subject_name(pki.alice.subject_der)
    assert alice_id == "CN=alice,O=coord tests"
    alice = started(secure_client(secure_server, pki.alice))
    bob = started(secure_client(secure_server, pki.bob))
    plain = started(KazooClient(hosts=secure_server.hosts, timeout=10.0))
    try:
        alice.create("/x509-only", b"secret", acl=[ACL(Permissions.ALL, Id("x509", alice_id))])
        assert alice.get("/x509-only")[0] == b"secret"
        with pytest.raises(NoAuthError):
            bob.get("/x509-only")
        with pytest.raises(NoAuthError):
            plain.get("/x509-only")
        # `auth` expands to the caller's authenticated identities: here its certificate.
        alice.create("/x509-auth", b"", acl=[ACL(Permissions.ALL, Id("auth", ""))])
        acl, _ = alice.get_acls("/x509-auth")
        assert [(a.id.scheme, a.id.id) for a in acl] == [("x509", alice_id)]
        alice.delete("/x509-auth")
        alice.delete("/x509-only")
    finally:
        for c in (alice, bob, plain):
            c.stop()
            c.close()


def tls_ruok(server, issued=None, ca=None):
    """A four-letter word over TLS with Python's ssl module: the handshake's verdict, quickly.
    Returns the answer, or raises ssl.SSLError / ConnectionError when refused."""
    context = ssl.create_default_context(cafile=str(ca or server.extra_config["ssl.trustStore.location"]))
    if issued is not None:
        context.load_cert_chain(str(issued.cert), str(issued.key))
    port = server.extra_config["secureClientPort"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls_socket:
            # TLS 1.3: the server judges our certificate after the client's handshake is done,
            # so a refusal shows on the first read.
            tls_socket.sendall(b"ruok")
            answer = b""
            while chunk := tls_socket.recv(100):
                answer += chunk
            return answer


def test_four_letter_word_over_tls_with_a_trusted_certificate(secure_server, pki):
    assert tls_ruok(secure_server, pki.alice) == b"imok"


def test_client_without_certificate_is_refused_when_clientauth_is_need(secure_server):
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_ruok(secure_server, None)


def test_certificate_from_an_untrusted_ca_is_refused(secure_server, pki):
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_ruok(secure_server, pki.mallory)
    deadline = time.monotonic() + 10
    while "TLS handshake with client" not in secure_server.log_tail(20000):
        assert time.monotonic() < deadline, secure_server.log_tail()
        time.sleep(0.05)


def test_client_refuses_a_server_it_does_not_trust(secure_server, pki):
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_ruok(secure_server, pki.alice, ca=pki.rogue_ca.trust_store)


def test_clientauth_want_admits_anonymous_clients_without_an_x509_identity(pki, tmp_path):
    config = tls_config(pki, client_auth="want", **{
        "ssl.keyStore.location": pki.server.key_store, "ssl.enabledProtocols": "TLSv1.2",
        "ssl.ciphersuites": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"})
    with CoordProcess(tmp_path, config=config) as server:
        anonymous = started(secure_client(server, None))
        alice = started(secure_client(server, pki.alice))
        try:
            alice_id = x500.subject_name(pki.alice.subject_der)
            alice.create("/want", b"", acl=[ACL(Permissions.ALL, Id("x509", alice_id))])
            with pytest.raises(NoAuthError):
                anonymous.get("/want")
            assert alice.get("/want")[0] == b""
        finally:
            for c in (anonymous, alice):
                c.stop()
                c.close()
        # The configured protocol and cipher suite are what the server speaks.
        context = ssl.create_default_context(cafile=str(pki.ca.trust_store))
        context.load_cert_chain(str(pki.alice.cert), str(pki.alice.key))
        with socket.create_connection(("127.0.0.1", config["secureClientPort"]), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls_socket:
                assert tls_socket.version() == "TLSv1.2"
                assert tls_socket.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"


def test_x509_super_user_passes_every_acl(secure_server, pki):
    bob = started(secure_client(secure_server, pki.bob))
    admin = started(secure_client(secure_server, pki.admin))
    try:
        bob_id = x500.subject_name(pki.bob.subject_der)
        bob.create("/bobs", b"b", acl=[ACL(Permissions.ALL, Id("x509", bob_id))])
        assert admin.get("/bobs")[0] == b"b"
        admin.delete("/bobs")
    finally:
        for c in (admin, bob):
            c.stop()
            c.close()
