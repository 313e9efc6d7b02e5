"""Key and trust store files as coord/runtime/tls.py reads them (no sockets): encrypted keys,
missing files and bad values fail with a message naming the file, before anything listens."""

import pytest

from coord.config import ConfigError, TlsSettings
from coord.runtime import tls
from coord.testing.certs import CertificateAuthority


def settings(key_store, trust_store=None, password=None, **options):
    values = {"keyStore.location": str(key_store)}
    if trust_store is not None:
        values["trustStore.location"] = str(trust_store)
    if password is not None:
        values["keyStore.password"] = password
    values.update(options)
    return TlsSettings.from_options(values, "ssl.")


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CertificateAuthority(tmp_path_factory.mktemp("ca"))


def test_encrypted_key_store_needs_its_password(ca, tmp_path):
    issued = ca.issue("locked", password="s3cret")
    key, chain = tls.load_key_store(settings(issued.key_store, ca.trust_store, "s3cret"))
    assert chain[0] == issued.certificate and len(chain) == 2   # leaf, then the CA
    assert tls.client_port_options(settings(issued.key_store, ca.trust_store, "s3cret"))
    for password, message in ((None, "encrypted"), ("wrong", "password")):
        with pytest.raises(ConfigError, match="locked-keystore.pem.*" + message):
            tls.load_key_store(settings(issued.key_store, ca.trust_store, password))


def test_password_path(ca, tmp_path):
    issued = ca.issue("locked2", password="from-a-file")
    (tmp_path / "pw").write_text("from-a-file\n")
    loaded = settings(issued.key_store, ca.trust_store, **{"keyStore.passwordPath": str(tmp_path / "pw")})
    assert loaded.key_store_password == "from-a-file"
    tls.load_key_store(loaded)


def test_missing_and_wrong_files_are_named(ca, tmp_path):
    issued = ca.issue("plain")
    with pytest.raises(ConfigError, match="cannot read the trust store .*nope.pem"):
        tls.client_port_options(settings(issued.key_store, tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match="holds no PEM certificate"):
        tls.load_key_store(settings(issued.key, ca.trust_store))
    with pytest.raises(ConfigError, match="cannot load its private key"):
        tls.load_key_store(settings(issued.cert, ca.trust_store))


def test_cipher_suite_names():
    assert tls._openssl_cipher_name("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384") == \
        "ECDHE-RSA-AES256-GCM-SHA384"
    assert tls._openssl_cipher_name("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256") == \
        "ECDHE-ECDSA-CHACHA20-POLY1305"
    assert tls._openssl_cipher_name("TLS_RSA_WITH_AES_128_CBC_SHA") == "AES128-SHA"
    assert tls._openssl_cipher_name("ECDHE-RSA-AES128-GCM-SHA256") == "ECDHE-RSA-AES128-GCM-SHA256"
    with pytest.raises(ConfigError, match="TLS_KRB5_WITH_3DES_EDE_CBC_SHA"):
        tls._openssl_cipher_name("TLS_KRB5_WITH_3DES_EDE_CBC_SHA")
