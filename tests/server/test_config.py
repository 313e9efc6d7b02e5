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
    assert config.warnings == [
        "%s: these keys do not apply to coord and are ignored: "
        "autopurge.purgeInterval, admin.enableServer" % path]


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
    ("tickTime=0\n", "tick_ms must be positive"),
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
