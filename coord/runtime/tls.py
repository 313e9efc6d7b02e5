"""TLS for the client port and between members: PEM files -> Twisted context factories.

The keys follow ZooKeeper's (``ssl.keyStore.location`` = one PEM file holding the private key,
optionally encrypted with ``ssl.keyStore.password``, and its certificate chain;
``ssl.trustStore.location`` = PEM CA certificates), checked by ``coord.config.TlsSettings``.

* Client port: the server presents its chain; with ``clientAuth`` want/need it asks for a client
  certificate and verifies it against the trust store (need: a client without one is refused).
  A verified client certificate's subject becomes the connection's ``x509`` identity.
* Members: every link is mutually authenticated against the quorum trust store; the dialling
  member also checks that the certificate names the address in the ``server.N`` line
  (``ssl.quorum.hostnameVerification``, default true, as ZooKeeper).
"""

import service_identity
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto
from twisted.internet import ssl

from coord.auth import x500
from coord.config import ConfigError

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}

# ZooKeeper takes Java (IANA) cipher suite names; OpenSSL spells the same TLS 1.2 suites its own
# way. TLS 1.3 suites keep their IANA names and are not chosen through this list.
_KEY_EXCHANGE = {"ECDHE_ECDSA": "ECDHE-ECDSA-", "ECDHE_RSA": "ECDHE-RSA-", "DHE_RSA": "DHE-RSA-",
                 "RSA": ""}
_CIPHERS = {"AES_128_GCM": "AES128-GCM", "AES_256_GCM": "AES256-GCM", "AES_128_CBC": "AES128",
            "AES_256_CBC": "AES256", "CHACHA20_POLY1305": "CHACHA20-POLY1305"}
_TLS13_SUITES = frozenset({"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                           "TLS_CHACHA20_POLY1305_SHA256"})


def _openssl_cipher_name(java_name):
    """``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`` -> ``ECDHE-RSA-AES128-GCM-SHA256``."""
    if not java_name.startswith("TLS_") or "_WITH_" not in java_name:
        return java_name    # already an OpenSSL name
    exchange, _, rest = java_name[4:].partition("_WITH_")
    prefix = _KEY_EXCHANGE.get(exchange)
    for iana, openssl in _CIPHERS.items():
        if rest.startswith(iana + "_") and prefix is not None:
            mac = rest[len(iana) + 1:]
            if iana == "CHACHA20_POLY1305":
                return prefix + openssl
            if iana.endswith("_CBC") and mac == "SHA":
                return prefix + openssl + "-SHA"
            return prefix + openssl + "-" + mac
    raise ConfigError("ssl.ciphersuites: %s is not a cipher suite coord can map to OpenSSL"
                      % java_name)


def _read(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError("cannot read the %s %s: %s" % (what, path, e.strerror)) from None


def load_key_store(settings):
    """(private key, [certificate, chain...]) from the key store PEM file."""
    data = _read(settings.key_store, "key store")
    password = settings.key_store_password.encode("utf-8") if settings.key_store_password else None
    try:
        key = serialization.load_pem_private_key(_pem_blocks(data, b"PRIVATE KEY"), password)
    except (ValueError, TypeError) as e:
        raise ConfigError("key store %s: cannot load its private key (%s)"
                          % (settings.key_store, e)) from None
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError:
        chain = []
    if not chain:
        raise ConfigError("key store %s holds no PEM certificate" % settings.key_store)
    return key, chain


def _pem_blocks(data, label_suffix):
    """The first PEM block whose label ends with ``label_suffix`` (``ENCRYPTED PRIVATE KEY``,
    ``RSA PRIVATE KEY``, ``EC PRIVATE KEY``...)."""
    lines = data.splitlines(keepends=True)
    out, inside = [], False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(b"-----BEGIN ") and stripped.endswith(label_suffix + b"-----"):
            inside = True
        if inside:
            out.append(line)
            if stripped.startswith(b"-----END "):
                break
    return b"".join(out)


def load_trust_store(settings):
    data = _read(settings.trust_store, "trust store")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise ConfigError("trust store %s: %s" % (settings.trust_store, e)) from None
    return certs


def _common_options(settings):
    """CertificateOptions arguments both sides share: versions, cipher suites, the chain."""
    kwargs = {"raiseMinimumTo": _VERSIONS[settings.min_version],
              "lowerMaximumSecurityTo": _VERSIONS[settings.max_version]}
    tls12 = [c for c in settings.ciphersuites if c not in _TLS13_SUITES]
    if tls12:
        names = ":".join(_openssl_cipher_name(c) for c in tls12)
        kwargs["acceptableCiphers"] = ssl.AcceptableCiphers.fromOpenSSLCipherString(names)
    return kwargs


def _options(settings, *, verify_peer, require_peer):
    key, chain = load_key_store(settings)
    kwargs = _common_options(settings)
    if verify_peer:
        # (trustRoot cannot say "verify if offered": clientAuth=want needs the older spelling.)
        kwargs["verify"] = True
        kwargs["caCerts"] = [crypto.X509.from_cryptography(c) for c in load_trust_store(settings)]
        kwargs["requireCertificate"] = require_peer
    return ssl.CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(key),
        certificate=crypto.X509.from_cryptography(chain[0]),
        extraCertChain=[crypto.X509.from_cryptography(c) for c in chain[1:]],
        **kwargs)


def client_port_options(settings):
    """The context factory for ``secureClientPort``."""
    return _options(settings, verify_peer=settings.client_auth != "none",
                    require_peer=settings.client_auth == "need")


def quorum_accept_options(settings):
    """For the peer port: members must present a certificate the quorum trust store vouches for."""
    return _options(settings, verify_peer=True, require_peer=True)


def quorum_dial_options(settings, host):
    """For dialling member ``host``: its certificate must verify (and name ``host`` unless
    ``ssl.quorum.hostnameVerification=false``); ours goes along for its check."""
    if not settings.hostname_verification:
        return _options(settings, verify_peer=True, require_peer=True)
    key, chain = load_key_store(settings)
    roots = [ssl.Certificate(crypto.X509.from_cryptography(c)) for c in load_trust_store(settings)]
    ours = ssl.PrivateCertificate.fromCertificateAndKeyPair(
        ssl.Certificate(crypto.X509.from_cryptography(chain[0])),
        ssl.KeyPair(crypto.PKey.from_cryptography_key(key)))
    extra = _common_options(settings)
    extra["extraCertChain"] = [crypto.X509.from_cryptography(c) for c in chain[1:]]
    return ssl.optionsForClientTLS(host, trustRoot=ssl.trustRootFromCertificates(roots),
                                   clientCertificate=ours, extraCertificateOptions=extra)


def peer_subject(transport):
    """The x509 id (RFC 2253 subject, as ZooKeeper names it) of the verified certificate the
    peer presented on this TLS transport, or None."""
    cert = transport.getPeerCertificate()
    if cert is None:
        return None
    return x500.subject_name(cert.get_subject().der())


def is_tls_failure(failure):
    """Whether a connection was lost to a failed handshake: OpenSSL's verification, or the
    host name check (service_identity) on a dialled member link."""
    return failure is not None and failure.check(
        SSL.Error, service_identity.VerificationError, service_identity.CertificateError) is not None
