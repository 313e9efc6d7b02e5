"""zoo.cfg and flags: honoured keys, overrides, warnings for the rest, clear errors."""

import subprocess
import sys

import pytest

from coord.config import Config, ConfigError, DEFAULT_FOUR_LETTER_WORDS, load, parse_zoo_cfg

ZOO_CFG = """\
# an operator's file
tickTime=3000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
clientPort=2281
clientPortAddress=127.0.0.1
maxClientCnxns=100
4lw.commands.whitelist=ruok, srvr ,mntr
autopurge.snapRetainCount=5
autopurge.purgeInterval=1
admin.enableServer=false
"""


def test_honoured_keys_and_derived_defaults(tmp_path):
    path = tmp_path / "zoo.cfg"
    path.write_text(ZOO_CFG)
    config = load(str(path))
    assert (config.tick_ms, config.port, config.host) == (3000, 2281, "127.0.0.1")
    assert config.data_dir == "/var/lib/zookeeper" == config.data_log_dir
    assert (config.min_session_timeout_ms, config.max_session_timeout_ms) == (6000, 60000)
    assert config.four_letter_words == ("ruok", "srvr", "mntr")
    assert (config.max_client_connections, config.snapshot_retain_count) == (100, 5)
    assert config.admin_enabled is False
    assert config.warnings == [
        "%s: these keys do not apply to coord and are ignored: autopurge.purgeInterval" % path]


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "zoo.cfg"
    path.write_text(ZOO_CFG)
    config = load(str(path), port=3333, tick_ms=100, data_dir=str(tmp_path / "d"), host=None)
    assert (config.port, config.tick_ms, config.host) == (3333, 100, "127.0.0.1")
    assert config.data_dir == str(tmp_path / "d")
    assert config.max_session_timeout_ms == 2000


def test_defaults_without_a_file():
    config = load()
    assert (config.port, config.tick_ms, config.host) == (2181, 2000, "0.0.0.0")
    assert config.four_letter_words == DEFAULT_FOUR_LETTER_WORDS
    assert config.data_dir.endswith("coord-data")


@pytest.mark.parametrize("text, message", [
    ("tickTime=fast\n", "tickTime='fast' is not valid"),
    ("just a line\n", "expected key=value"),
    ("minSessionTimeout=9000\nmaxSessionTimeout=4000\n", "above maxSessionTimeout"),
    ("clientPort=70000\n", "not a TCP port"),
    ("tickTime=0\n", "tickTime must be positive"),
])
def test_bad_values_are_named(text, message):
    with pytest.raises(ConfigError) as failure:
        parse_zoo_cfg(text, Config()).finish()
    assert message in str(failure.value)


def test_the_command_reports_config_errors_and_exits_2(tmp_path):
    missing = tmp_path / "nope.cfg"
    out = subprocess.run([sys.executable, "-m", "coord", "server", "--config", str(missing)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "cannot read config %s" % missing in out.stderr


def test_a_running_server_names_the_keys_it_ignores(tmp_path):
    from coord.testing.servers import CoordProcess, four_letter_word

    server = CoordProcess(tmp_path, config={"electionAlg": 3, "peerType": "observer"})
    server.start()
    try:
        assert "clientPort=%d" % server.port in four_letter_word(server.host, server.port, "conf")
    finally:
        server.stop()
    log = server.log_tail(20000)
    assert "ignored: admin.enableServer, maxClientCnxns" not in log   # maxClientCnxns is honoured
    assert "electionAlg, peerType" in log


ENSEMBLE_CFG = """\
dataDir={data}
clientPort=2181
server.1=zk1:2888:3888
server.2=zk2:2888:3888;2182
server.3=zk3:2888:3888:observer
coord.electionTimeoutMs=800
coord.linearizableReads=true
"""


def test_an_ensemble_member_reads_server_lines_and_myid(tmp_path):
    (tmp_path / "myid").write_text("2\n")
    path = tmp_path / "zoo.cfg"
    path.write_text(ENSEMBLE_CFG.format(data=tmp_path))
    config = load(str(path))
    assert config.server_id == 2 and config.voters == (1, 2) and config.learners == (3,)
    assert config.members[2].client_port == 2182 and config.members[1].client_port is None
    assert config.election_timeout_ms == 800 and config.linearizable_reads is True
    assert config.dynamic_config_text().decode().split("\n") == [
        "server.1=zk1:2888:3888:participant", "server.2=zk2:2888:3888:participant;0.0.0.0:2182",
        "server.3=zk3:2888:3888:observer", "version=0"]


@pytest.mark.parametrize("myid,message", [
    (None, "myid does not exist"),
    ("x", "should hold this member's id"),
    ("7", "has no server.7 line"),
])
def test_a_member_without_a_usable_myid_is_refused(tmp_path, myid, message):
    if myid is not None:
        (tmp_path / "myid").write_text(myid)
    path = tmp_path / "zoo.cfg"
    path.write_text(ENSEMBLE_CFG.format(data=tmp_path))
    with pytest.raises(ConfigError, match=message):
        load(str(path))


@pytest.mark.parametrize("line,message", [
    ("server.1=zk1:2888", "expected host:peerPort:electionPort"),
    ("server.1=zk1:x:3888", "ports must be numbers"),
    ("server.1=zk1:2888:3888:voter", "unknown role"),
    ("server.0=zk1:2888:3888", "server ids must be in 1..255"),
    ("server.1=zk1:2888:70000", "is not a TCP port"),
    ("coord.linearizableReads=maybe", "coord.linearizableReads"),
])
def test_bad_server_lines_are_named(tmp_path, line, message):
    with pytest.raises(ConfigError, match=message):
        parse_zoo_cfg(line + "\n", Config())


# -- coord.dial.N: dial a member somewhere other than its server.N address -------------------------


def test_dial_addresses_are_read_and_leave_the_server_lines_alone(tmp_path):
    (tmp_path / "myid").write_text("1\n")
    path = tmp_path / "zoo.cfg"
    path.write_text(ENSEMBLE_CFG.format(data=tmp_path)
                    + "coord.dial.2=127.0.0.1:40002\ncoord.dial.3=[::1]:40003\n")
    config = load(str(path))
    assert config.dial_addresses == {2: ("127.0.0.1", 40002), 3: ("::1", 40003)}
    # The membership (and so the cluster digest every member must share) is what server.N says.
    assert config.membership_lines() == ["server.1=zk1:2888:3888", "server.2=zk2:2888:3888",
                                         "server.3=zk3:2888:3888:observer"]
    assert not config.warnings


@pytest.mark.parametrize("line,message", [
    ("coord.dial.2=127.0.0.1", r"coord.dial.2=127.0.0.1: expected HOST:PORT"),
    ("coord.dial.2=:40002", r"coord.dial.2=:40002: expected HOST:PORT"),
    ("coord.dial.2=::1:40002", r"coord.dial.2=::1:40002: expected HOST:PORT"),
    ("coord.dial.2=host:x", r"coord.dial.2=host:x: the port must be a number"),
    ("coord.dial.2=host:0", r"coord.dial.2: 0 is not a TCP port"),
    ("coord.dial.2=host:65536", r"coord.dial.2: 65536 is not a TCP port"),
    ("coord.dial.x=host:1", r"coord.dial.x: expected coord.dial.N with N a member id"),
    ("coord.dial.0=host:1", r"coord.dial.0: expected coord.dial.N with N a member id"),
])
def test_bad_dial_addresses_are_named(line, message):
    with pytest.raises(ConfigError, match=message):
        parse_zoo_cfg(line + "\n", Config())


def test_a_dial_address_for_a_member_that_does_not_exist_is_refused(tmp_path):
    (tmp_path / "myid").write_text("1\n")
    path = tmp_path / "zoo.cfg"
    path.write_text(ENSEMBLE_CFG.format(data=tmp_path) + "coord.dial.7=127.0.0.1:40007\n")
    with pytest.raises(ConfigError, match=r"coord.dial.7: the ensemble has no member 7 \(no server.7 line\)"):
        load(str(path))
    standalone = tmp_path / "standalone.cfg"
    standalone.write_text(f"dataDir={tmp_path}\ncoord.dial.2=127.0.0.1:40002\n")
    with pytest.raises(ConfigError, match="coord.dial.2: a standalone server"):
        load(str(standalone))


def test_a_dial_address_for_this_member_itself_is_only_a_warning(tmp_path):
    (tmp_path / "myid").write_text("2\n")
    path = tmp_path / "zoo.cfg"
    path.write_text(ENSEMBLE_CFG.format(data=tmp_path) + "coord.dial.2=127.0.0.1:40002\n")
    config = load(str(path))
    assert any("coord.dial.2 names this member itself" in w for w in config.warnings)
