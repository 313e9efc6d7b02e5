"""``coord config check``: real zoo.cfg files, read exactly as ``coord server`` reads them."""

import subprocess
import sys
from pathlib import Path

import pytest

from coord import config as config_module
from coord.config_check import check

ROOT = Path(__file__).resolve().parents[2]

ENSEMBLE_CFG = """\
# an operator's file
tickTime=3000
initLimit=10
syncLimit=5
dataDir={data}
clientPort=2281
4lw.commands.whitelist=ruok, srvr
localSessionsEnabled=true
autopurge.purgeInterval=1
someVendor.option=7
server.1=zk1:2888:3888
server.2=zk2:2888:3888;2182
server.3=zk3:2888:3888:observer
"""


def run_check(*args):
    return subprocess.run([sys.executable, "-m", "coord", "config", "check", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def write(tmp_path, text, myid=None):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    if myid is not None:
        (data / "myid").write_text(f"{myid}\n")
    path = tmp_path / "zoo.cfg"
    path.write_text(text.format(data=data))
    return path


def test_honoured_keys_with_their_values_and_ignored_keys_with_reasons(tmp_path):
    path = write(tmp_path, ENSEMBLE_CFG, myid=2)
    result = run_check(path)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert result.stdout.startswith(f"{path}: OK, ensemble of 3 (2 voting), this is member 2\n")
    assert ["tickTime", "=", "3000", "(line", "2)"] in lines
    assert ["4lw.commands.whitelist", "=", "ruok,srvr", "(line", "7)"] in lines
    assert ["dataDir", "=", str(tmp_path / "data"), "(line", "5)"] in lines
    assert ["server.2", "=", "zk2:2888:3888;2182", "(line", "12)"] in lines
    assert ["server.3", "=", "zk3:2888:3888:observer", "(line", "13)"] in lines
    # Keys not in the file, with the defaults coord derives (session bounds from tickTime).
    assert ["minSessionTimeout", "=", "6000"] in lines
    assert ["maxSessionTimeout", "=", "60000"] in lines
    assert ["dataLogDir", "=", str(tmp_path / "data")] in lines
    ignored = result.stdout.split("ignored (coord does not use these):\n")[1].splitlines()
    assert ignored[0].startswith("  localSessionsEnabled (line 8): coord sessions are always global")
    assert ignored[1].startswith("  autopurge.purgeInterval (line 9): coord deletes old snapshots")
    assert ignored[2] == "  someVendor.option (line 10)"       # no reason known
    assert len(ignored) == 3


def test_the_honoured_list_comes_from_the_servers_own_table(tmp_path, monkeypatch):
    """A key another change makes coord honour is reported as honoured with no edit here."""
    path = write(tmp_path, "clientPort=2181\nsomeVendor.option=7\ngroup.1=1:2\n")
    monkeypatch.setitem(config_module._HONOURED, "someVendor.option",
                        ("max_client_connections", config_module._int))
    report = check(str(path))
    assert ("someVendor.option", "7", 2) in report.honoured
    assert [key for key, _line, _reason in report.ignored] == ["group.1"]
    assert "someVendor.option" not in [key for key, _value in report.defaults]


@pytest.mark.parametrize("text, message", [
    ("clientPort=21x81\n", "line 1: clientPort='21x81' is not valid"),
    ("tickTime=100\nminSessionTimeout=9000\nmaxSessionTimeout=4000\n",
     "minSessionTimeout (9000) is above maxSessionTimeout (4000)"),
    ("tickTime=0\n", "tickTime must be positive"),
    ("clientPort=70000\n", "clientPort 70000 is not a TCP port"),
    ("coord.linearizableReads=sometimes\n", "coord.linearizableReads='sometimes' is not valid"),
    ("server.1=zk1:2888\n", "server.1=zk1:2888: expected host:peerPort:electionPort"),
    ("a line without equals\n", "line 1: expected key=value"),
])
def test_a_bad_value_names_its_key_and_fails(tmp_path, text, message):
    result = run_check(write(tmp_path, text))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("coord config check: ") and message in result.stderr


def test_an_ensemble_needs_this_members_id(tmp_path):
    path = write(tmp_path, ENSEMBLE_CFG)                       # no dataDir/myid
    missing = run_check(path)
    assert missing.returncode == 1
    assert "myid does not exist" in missing.stderr and "--myid N" in missing.stderr
    given = run_check(path, "--myid", "3")
    assert given.returncode == 0 and "this is member 3" in given.stdout
    stranger = run_check(path, "--myid", "9")
    assert stranger.returncode == 1 and "has no server.9 line" in stranger.stderr


def test_a_missing_file_and_a_standalone_file(tmp_path):
    missing = run_check(tmp_path / "nope.cfg")
    assert missing.returncode == 1 and "cannot read config" in missing.stderr
    standalone = run_check(write(tmp_path, "clientPort=2182\n"))
    assert standalone.returncode == 0
    assert standalone.stdout.splitlines()[0].endswith(": OK, standalone")
    assert "ignored" not in standalone.stdout and "ensemble members" not in standalone.stdout


def test_dial_addresses_are_listed_as_honoured(tmp_path):
    path = write(tmp_path, ENSEMBLE_CFG + "coord.dial.1=127.0.0.1:40001\n", myid=2)
    result = run_check(path)
    assert result.returncode == 0, result.stderr
    honoured = result.stdout.split("honoured (the value coord will use):\n")[1].split("ensemble members:")[0]
    line = next(line for line in honoured.splitlines() if line.split()[0] == "coord.dial.1")
    assert line.split()[2] == "127.0.0.1:40001" and "instead of server.1's" in line and "(line 14)" in line
    assert "coord.dial.1" not in result.stdout.split("ignored")[-1]
    bad = run_check(write(tmp_path, ENSEMBLE_CFG + "coord.dial.9=127.0.0.1:40001\n", myid=2))
    assert bad.returncode == 1 and "coord.dial.9: the ensemble has no member 9" in bad.stderr
