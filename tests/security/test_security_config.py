"""zoo.cfg keys for TLS and SASL: what is accepted, and the clear error for each bad value."""

import pytest

from coord import config as C
from coord.auth import jaas


def parse(text, tmp_path=None):
    return C.parse_zoo_cfg(text).finish()


def test_tls_keys_build_settings():
    cfg = parse("secureClientPort=2281\nsecureClientPortAddress=127.0.0.1\n"
                "ssl.keyStore.location=/k.pem\nssl.keyStore.type=PEM\n"
                "ssl.trustStore.location=/t.pem\nssl.clientAuth=want\n"
                "ssl.enabledProtocols=TLSv1.3\nssl.ciphersuites=TLS_AES_128_GCM_SHA256\n")
    tls = cfg.client_tls
    assert (cfg.secure_port, cfg.secure_host) == (2281, "127.0.0.1")
    assert (tls.key_store, tls.trust_store, tls.client_auth) == ("/k.pem", "/t.pem", "want")
    assert (tls.min_version, tls.max_version) == ("TLSv1.3", "TLSv1.3")
    assert parse("secureClientPort=2281\nssl.keyStore.location=/k.pem\nssl.clientAuth=none\n"
                 "ssl.protocol=TLSv1.2\n").client_tls.max_version == "TLSv1.2"


@pytest.mark.parametrize("text,message", [
    ("secureClientPort=2281\n", "ssl.keyStore.location is required"),
    ("secureClientPort=2281\nssl.keyStore.location=/k\n", "ssl.trustStore.location is required"),
    ("secureClientPort=2281\nssl.keyStore.location=/k\nssl.keyStore.type=JKS\n", "PEM files only"),
    ("secureClientPort=2281\nssl.keyStore.location=/k\nssl.trustStore.location=/t\n"
     "ssl.clientAuth=maybe\n", "none, want or need"),
    ("secureClientPort=2281\nssl.keyStore.location=/k\nssl.trustStore.location=/t\n"
     "ssl.enabledProtocols=TLSv1.1\n", "TLSv1.1 is not offered"),
    ("secureClientPort=2181\nssl.keyStore.location=/k\nssl.trustStore.location=/t\n",
     "both 2181"),
    ("secureClientPort=2281\nssl.keyStore.location=/k\nssl.trustStore.location=/t\n"
     "ssl.keyStor.location=/typo\n", "ssl.keyStor.location"),
    ("sslQuorum=true\nssl.quorum.keyStore.location=/k\n", "ssl.quorum.trustStore.location"),
    ("authProvider.1=com.example.MyProvider\n", "no such authentication provider"),
])
def test_bad_values_are_named(text, message):
    with pytest.raises(C.ConfigError, match=message):
        parse(text)


def test_ssl_keys_without_secure_port_warn():
    cfg = parse("ssl.keyStore.location=/k\n")
    assert any("secureClientPort is not" in w for w in cfg.warnings)


def test_sasl_users_from_jaas_file_and_own_keys(tmp_path):
    path = tmp_path / "jaas.conf"
    path.write_text("""
        /* ZooKeeper's server section */
        Server {
            org.apache.zookeeper.server.auth.DigestLoginModule required
            user_bob="bob secret"   // a comment
            user_super="s\\"x";
        };
        Client { org.apache.zookeeper.server.auth.DigestLoginModule required
                 username="bob" password="bob secret"; };
    """)
    cfg = parse(f"coord.jaasConfig={path}\ncoord.sasl.user.carol=c\nsuperUser=super\n"
                "authProvider.sasl=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n")
    assert cfg.sasl_users == {"bob": "bob secret", "super": 's"x', "carol": "c"}
    assert cfg.sasl_super_user == "super"


@pytest.mark.parametrize("text,message", [
    ("Client { x required; };", "no Server section"),
    ("Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };",
     "Krb5LoginModule"),
    ("Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=; };",
     "no value"),
    ("Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"x\" };",
     "expected ;"),
])
def test_bad_jaas_files(tmp_path, text, message):
    with pytest.raises(jaas.JaasError, match=message):
        jaas.digest_users(text)
    path = tmp_path / "jaas.conf"
    path.write_text(text)
    with pytest.raises(C.ConfigError, match="coord.jaasConfig"):
        parse(f"coord.jaasConfig={path}\n")


def test_missing_jaas_file_is_named(tmp_path):
    with pytest.raises(C.ConfigError, match="cannot read .*nope"):
        parse(f"coord.jaasConfig={tmp_path / 'nope'}\n")
