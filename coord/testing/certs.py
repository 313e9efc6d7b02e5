"""Throwaway certificate authorities and certificates for TLS tests, made at test time.

Nothing here is ever committed: a test calls ``CertificateAuthority(tmp_path, "test CA")`` and
``ca.issue(...)``, and gets PEM files in ZooKeeper's layout (a key store = private key followed by
the certificate chain; a trust store = CA certificates), plus the separate cert/key files kazoo
wants. Keys are EC P-256: quick to make on a busy machine.
"""

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name, organization="coord tests"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key, password=None):
    encryption = (serialization.BestAvailableEncryption(password.encode("utf-8")) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class Issued:
    """One certificate and its files: ``key_store`` (key + chain), ``cert``, ``key``."""

    def __init__(self, directory, stem, key, cert, chain, password=None):
        self.certificate = cert
        self.key_store = Path(directory) / f"{stem}-keystore.pem"
        self.cert = Path(directory) / f"{stem}-cert.pem"
        self.key = Path(directory) / f"{stem}-key.pem"
        chain_pem = b"".join(_pem_cert(c) for c in [cert] + list(chain))
        self.key_store.write_bytes(_pem_key(key, password) + chain_pem)
        self.cert.write_bytes(chain_pem)
        self.key.write_bytes(_pem_key(key, password))

    @property
    def subject_der(self):
        return self.certificate.subject.public_bytes()


class CertificateAuthority:
    def __init__(self, directory, common_name="coord test CA"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name(common_name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        stem = common_name.replace(" ", "-")
        self.trust_store = self.directory / f"{stem}-truststore.pem"
        self.trust_store.write_bytes(_pem_cert(self.certificate))

    def issue(self, stem, subject=None, *, common_name=None, hosts=("127.0.0.1", "localhost"),
              password=None):
        """A certificate for ``subject`` (an ``x509.Name``; default O=coord tests, CN=stem),
        valid as server and client, naming ``hosts`` in its subjectAltName."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        alt_names = []
        for host in hosts:
            try:
                alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt_names.append(x509.DNSName(host))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject or _name(common_name or stem))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        if alt_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(self.directory, stem, key, cert, [self.certificate], password)
