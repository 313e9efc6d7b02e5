"""Fixtures for driving ZooKeeper's own clients against the ``server`` fixture: its command-line
shells, and small programs (tests/interop/clients) built once per session against its Java and C
client libraries.

The clients come from Debian's packages even when the server under test is coord, so a missing
client (or compiler) skips, or fails under COORD_REQUIRE_ZOOKEEPER=1, as in CI.
"""

import os

import pytest

from coord.testing.servers import CLI_MT, ZKCLI, cli_mt_unavailable_reason, zkcli_unavailable_reason
from tests.interop.clients import build
from tests.interop.driver import InteractiveProcess


def _require(reason):
    if reason is None:
        return
    if os.environ.get("COORD_REQUIRE_ZOOKEEPER") == "1":
        pytest.fail(f"COORD_REQUIRE_ZOOKEEPER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def zkcli(server, tmp_path):
    """zkCli.sh connected to the server, reading commands from a pipe (JLine is off without a tty)."""
    _require(zkcli_unavailable_reason())
    env = dict(os.environ, ZOO_LOG_DIR=str(tmp_path), CLIENT_JVMFLAGS="-Xmx128m -XX:+UseSerialGC")
    proc = InteractiveProcess([ZKCLI, "-server", server.hosts], env=env, cwd=tmp_path)
    try:
        proc.wait_for(r"WatchedEvent state:SyncConnected type:None path:null")
        yield proc
    finally:
        proc.close()


@pytest.fixture
def cli_mt(server, tmp_path):
    """The C client's sample shell (multi-threaded build) connected to the server."""
    _require(cli_mt_unavailable_reason())
    proc = InteractiveProcess([CLI_MT, server.hosts], cwd=tmp_path)
    try:
        proc.wait_for(r"Got a new session id: 0x[0-9a-f]+")
        yield proc
    finally:
        proc.close()


@pytest.fixture(scope="session")
def multi_round_java(tmp_path_factory):
    """The command (a list, without its arguments ``hosts base``) that runs MultiRound.java."""
    _require(build.java_unavailable_reason())
    return build.compile_java(tmp_path_factory.mktemp("multi-round-java"))


@pytest.fixture(scope="session")
def multi_round_c(tmp_path_factory):
    """The command (a list, without its arguments ``hosts base``) that runs multi_round.c."""
    _require(build.c_unavailable_reason())
    return build.compile_c(tmp_path_factory.mktemp("multi-round-c"))
