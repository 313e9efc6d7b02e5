"""Read-only servers with real processes: a client that allows read-only sessions is served by a
member cut off from its quorum, keeps probing the other hosts with ``isro``, and moves to a
read-write server as soon as one answers ``rw`` — well before its liveness rule would have made it
leave the read-only server.

The cut-off member is paused (SIGSTOP) while the other two form a quorum, so the client's
connection to it stays open but silent: only the probe can move the client within the time the
test allows (less than two thirds of the session timeout).  Against coord and ZooKeeper, with the
blocking client and the Twisted client.
"""

import os
import time

import pytest
import pytest_twisted
from twisted.internet import threads

from clients import blocking, tx
from clients.session import State
from coord.testing.servers import Ensemble, four_letter_word, zookeeper_available
from tests.clients.helpers import wait_until

SESSION_TIMEOUT_S = 120.0
# Counted from the read-only connection: less than 2/3 of the session timeout, after which the
# client would leave the silent server by its liveness rule, probe or not.
MOVE_WITHIN_S = SESSION_TIMEOUT_S * 2 / 3 - 5


def read_only_ensemble(kind, work_dir):
    if kind == "zookeeper" and not zookeeper_available():
        if os.environ.get("COORD_REQUIRE_ZOOKEEPER"):
            pytest.fail("Apache ZooKeeper is required (COORD_REQUIRE_ZOOKEEPER=1)")
        pytest.skip("Apache ZooKeeper is not installed")
    if kind == "coord":
        return Ensemble("coord", work_dir, size=3, config={"readonlymode.enabled": "true",
                                                           "maxSessionTimeout": 120000})
    # ZooKeeper 3.8's read-only server answers a new session's ConnectRequest with NotReadOnly
    # (a global session is a transaction) unless sessions may be local.
    return Ensemble("zookeeper", work_dir, size=3, config={"localSessionsEnabled": "true",
                                                       "maxSessionTimeout": 120000},
                    extra_jvm_flags=["-Dreadonlymode.enabled=true"])


def wait_for_isro(member, answer, timeout_s=60.0):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if four_letter_word(member.host, member.port, "isro", timeout_s=1.0) == answer:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "%s never answered isro=%s" % (member.address, answer)
        time.sleep(0.1)


def cut_off(ens):
    """Member 1 alone and read-only: the others stopped."""
    ens.start()
    for member_id in (2, 3):
        ens.member(member_id).stop()
    wait_for_isro(ens.member(1), "ro")


def heal_around(ens):
    """Pause member 1 (its client connection stays open but silent); bring back 2 and 3."""
    ens.member(1).pause()
    for member_id in (2, 3):        # both processes first: neither serves without the other
        ens.member(member_id).write_config()
        ens.member(member_id)._launch()
    for member_id in (2, 3):
        ens.member(member_id)._wait_ready(90)
    wait_for_isro(ens.member(2), "rw")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["coord", "zookeeper"])
def test_blocking_client_moves_from_a_read_only_server_to_a_read_write_one(kind, tmp_path):
    ens = read_only_ensemble(kind, tmp_path / kind)
    try:
        cut_off(ens)
        states = []
        client = blocking.Client(ens.hosts, timeout=SESSION_TIMEOUT_S, read_only=True)
        client.add_listener(states.append)
        client.start(timeout=60)
        try:
            assert client.state is State.CONNECTED_READ_ONLY
            assert client._session.connected_host == (ens.member(1).host, ens.member(1).port)
            assert client._session.negotiated_timeout_ms == SESSION_TIMEOUT_S * 1000
            connected_at = time.monotonic()
            heal_around(ens)
            wait_until(lambda: client.state is State.CONNECTED,
                       connected_at + MOVE_WITHIN_S - time.monotonic(),
                       what="a read-write connection found by probing")
            assert client._session.connected_host != (ens.member(1).host, ens.member(1).port)
            assert State.LOST not in states    # a fresh session, not an expired read-only one
            client.create("/written-after-the-move", b"rw")
            assert client.get("/written-after-the-move")[0] == b"rw"
        finally:
            client.stop()
    finally:
        ens.member(1).resume()
        ens.stop()


@pytest.mark.timeout(240)
@pytest_twisted.inlineCallbacks
def test_twisted_client_moves_from_a_read_only_server_to_a_read_write_one(tmp_path):
    ens = read_only_ensemble("coord", tmp_path / "coord")
    try:
        yield threads.deferToThread(cut_off, ens)
        states = []
        client = tx.Client(ens.hosts, timeout=SESSION_TIMEOUT_S, read_only=True)
        client.add_listener(states.append)
        yield client.start(timeout=60)
        try:
            assert client.state is State.CONNECTED_READ_ONLY
            deadline = time.monotonic() + MOVE_WITHIN_S
            yield threads.deferToThread(heal_around, ens)
            while client.state is not State.CONNECTED:
                assert time.monotonic() < deadline, "no read-write connection found by probing"
                yield _sleep(0.05)
            assert State.LOST not in states
            yield client.create("/written-by-twisted", b"rw")
            assert (yield client.get("/written-by-twisted"))[0] == b"rw"
        finally:
            yield client.stop()
    finally:
        ens.member(1).resume()
        yield threads.deferToThread(ens.stop)


def _sleep(seconds):
    from twisted.internet import reactor, task
    return task.deferLater(reactor, seconds, lambda: None)
