"""Fixtures for the security tests: throwaway CAs and certificates, made per test module."""

import pytest

from coord.testing.certs import CertificateAuthority


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A trusted CA with a server certificate and two client certificates, plus a rogue CA whose
    certificates nobody trusts."""
    directory = tmp_path_factory.mktemp("pki")

    class Pki:
        ca = CertificateAuthority(directory, "coord test CA")
        rogue_ca = CertificateAuthority(directory, "rogue CA")
        server = ca.issue("server")
        alice = ca.issue("alice")
        bob = ca.issue("bob")
        admin = ca.issue("admin")
        mallory = rogue_ca.issue("mallory", common_name="alice")   # alice's name, wrong CA

    return Pki
