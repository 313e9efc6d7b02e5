"""Apache ZooKeeper's own Java shell (zkCli.sh 3.8, Debian) against coord: over TLS, configured
with ZooKeeper's client system properties, and logging in with SASL DIGEST-MD5 (Java's SASL
client, not pure-sasl), the latter also against ZooKeeper for comparison.

Debian's zookeeper.jar names netty-handler/-transport/-buffer/-common on its Class-Path but not
netty-resolver and netty-codec, which ClientCnxnSocketNetty (the only TLS-capable client socket)
loads; zkCli.sh puts ``$CLIENT_JVMFLAGS`` after its own ``-cp``, so a second ``-cp`` there adds
them. Nothing else about the shell changes.
"""

import os
import re

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

from coord.auth import x500
from coord.testing.servers import CoordProcess, ZKCLI, ZooKeeperProcess, free_port, zkcli_unavailable_reason
from tests.conftest import require_zookeeper
from tests.interop.driver import InteractiveProcess

NETTY_CLASSPATH = ":".join([
    "/etc/zookeeper/conf", "/usr/share/java/zookeeper.jar", "/usr/share/java/netty-resolver.jar",
    "/usr/share/java/netty-codec.jar", "/usr/share/java/netty-transport-native-unix-common.jar"])
CONNECT_TIMEOUT_S = 60.0   # a JVM start on a busy machine


def _require_zkcli():
    reason = zkcli_unavailable_reason()
    if reason is not None:
        if os.environ.get("COORD_REQUIRE_ZOOKEEPER") == "1":
            pytest.fail(f"COORD_REQUIRE_ZOOKEEPER=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def zkcli(hosts, work_dir, flags):
    env = dict(os.environ, ZOO_LOG_DIR=str(work_dir),
               CLIENT_JVMFLAGS=" ".join(["-Xmx128m", "-XX:+UseSerialGC", *flags]))
    return InteractiveProcess([ZKCLI, "-server", hosts], env=env, cwd=work_dir)


def test_zkcli_reads_and_writes_over_tls(pki, tmp_path):
    _require_zkcli()
    secure_port = free_port()
    config = {"secureClientPort": secure_port, "ssl.keyStore.location": pki.server.key_store,
              "ssl.keyStore.type": "PEM", "ssl.trustStore.location": pki.ca.trust_store,
              "ssl.trustStore.type": "PEM"}
    alice_id = x500.subject_name(pki.alice.subject_der)
    with CoordProcess(tmp_path / "coord", config=config) as server:
        shell = zkcli(f"127.0.0.1:{secure_port}", tmp_path, [
            f"-cp {NETTY_CLASSPATH}",
            "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
            "-Dzookeeper.client.secure=true",
            f"-Dzookeeper.ssl.keyStore.location={pki.alice.key_store}",
            "-Dzookeeper.ssl.keyStore.type=PEM",
            f"-Dzookeeper.ssl.trustStore.location={pki.ca.trust_store}",
            "-Dzookeeper.ssl.trustStore.type=PEM"])
        plain = KazooClient(hosts=server.hosts, timeout=10.0)
        plain.start(timeout=15.0)
        try:
            shell.wait_for(r"WatchedEvent state:SyncConnected type:None path:null",
                           timeout_s=CONNECT_TIMEOUT_S)
            shell.send("create /zkcli-tls hello")
            shell.wait_for(r"^Created /zkcli-tls$")
            assert plain.get("/zkcli-tls")[0] == b"hello"
            plain.set("/zkcli-tls", b"from kazoo")
            shell.send("get /zkcli-tls")
            shell.wait_for(r"^from kazoo$")
            # The shell's certificate is its identity: whoami shows it, `auth` ACLs take it.
            shell.send("whoami")
            shell.wait_for(rf"^x509: {re.escape(alice_id)}$")
            shell.send("create /zkcli-mine mine auth::cdrwa")
            shell.wait_for(r"^Created /zkcli-mine$")
            shell.send("getAcl /zkcli-mine")
            # zkCli prints the Id record in jute's CSV form, which writes "," as "%2C".
            shell.wait_for(rf"^'x509,'{re.escape(alice_id.replace(',', '%2C'))}\n: cdrwa$")
            with pytest.raises(NoAuthError):
                plain.get("/zkcli-mine")
            shell.send("delete /zkcli-mine")
            shell.send("delete /zkcli-tls")
            shell.send("ls /")
            shell.wait_for(r"^\[zookeeper\]$")
        finally:
            shell.close()
            plain.stop()
            plain.close()


SERVER_JAAS = """Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_jaasuser="jaas_password";
};
"""


def client_jaas(password):
    return ("Client {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n"
            f'    username="jaasuser"\n    password="{password}";\n}};\n')


# Against ZooKeeper only under -m slow: it shows the expectations are ZooKeeper's own.
@pytest.fixture(scope="module", params=[
    pytest.param("zookeeper", marks=[pytest.mark.zookeeper, pytest.mark.slow]), "coord"])
def sasl_server(request, tmp_path_factory):
    _require_zkcli()
    work = tmp_path_factory.mktemp(f"zkcli-sasl-{request.param}")
    jaas = work / "server-jaas.conf"
    jaas.write_text(SERVER_JAAS)
    config = {"authProvider.1": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"}
    if request.param == "zookeeper":
        require_zookeeper()
        server = ZooKeeperProcess(work, config=config,
                                  extra_jvm_flags=[f"-Djava.security.auth.login.config={jaas}"])
    else:
        server = CoordProcess(work, config={**config, "coord.jaasConfig": jaas})
    with server:
        yield server


def test_zkcli_sasl_digest_login(sasl_server, tmp_path):
    jaas = tmp_path / "client-jaas.conf"
    jaas.write_text(client_jaas("jaas_password"))
    shell = zkcli(sasl_server.hosts, tmp_path, [f"-Djava.security.auth.login.config={jaas}"])
    try:
        shell.wait_for(r"WatchedEvent state:SaslAuthenticated type:None path:null",
                       timeout_s=CONNECT_TIMEOUT_S)
        shell.send("create /zkcli-sasl s sasl:jaasuser:cdrwa")
        shell.wait_for(r"^Created /zkcli-sasl$")
        shell.send("getAcl /zkcli-sasl")
        shell.wait_for(r"^'sasl,'jaasuser\n: cdrwa$")
        shell.send("get /zkcli-sasl")
        shell.wait_for(r"^s$")
        shell.send("delete /zkcli-sasl")
        shell.send("ls /")
        shell.wait_for(r"^\[zookeeper\]$")
    finally:
        shell.close()


@pytest.mark.slow   # the same refusal is checked byte for byte in test_sasl.py
def test_zkcli_sasl_wrong_password_is_auth_failed(sasl_server, tmp_path):
    jaas = tmp_path / "client-jaas.conf"
    jaas.write_text(client_jaas("not the password"))
    shell = zkcli(sasl_server.hosts, tmp_path, [f"-Djava.security.auth.login.config={jaas}"])
    try:
        shell.wait_for(r"WatchedEvent state:AuthFailed type:None path:null",
                       timeout_s=CONNECT_TIMEOUT_S)
    finally:
        shell.close()
