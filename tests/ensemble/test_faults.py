"""Real coord ensembles under real faults: kill -9 and SIGSTOP of the leader, of a follower, of a
minority, under load; a member wiped clean catches up. Every acknowledged write must survive and
writes must resume.

A writer thread creates sequential znodes through kazoo (connected to every member) and records
each create the server acknowledged; the nemesis hits the ensemble meanwhile. Afterwards every
member, once synced, must hold every acknowledged znode, and all members the same children.
"""

import shutil
import threading
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException
from kazoo.retry import KazooRetry

from coord.testing.servers import Ensemble

WRITE_RESUME_TIMEOUT_S = 30.0


def new_client(hosts, **kwargs):
    client = KazooClient(hosts=hosts, timeout=10,
                         connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.2),
                         **kwargs)
    client.start(timeout=20)
    return client


class Writer:
    """Creates /load/n-* until stopped; remembers what was acknowledged (outcome known)."""

    def __init__(self, hosts):
        self.client = new_client(hosts)
        self.client.ensure_path("/load")
        self.acked = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        n = 0
        while not self._stop.is_set():
            n += 1
            try:
                path = self.client.create("/load/n-", b"%d" % n, sequence=True)
            except KazooException:
                self.errors += 1     # unknown outcome: not counted as acknowledged
                time.sleep(0.02)
                continue
            self.acked.append(path.rsplit("/", 1)[1])

    def start(self):
        self._thread.start()
        return self

    def acked_after(self, count, timeout_s=WRITE_RESUME_TIMEOUT_S):
        """Wait until ``count`` more creates are acknowledged; returns how long that took."""
        start = time.monotonic()
        target = len(self.acked) + count
        while len(self.acked) < target:
            if time.monotonic() - start > timeout_s:
                raise AssertionError("writes did not resume within %.0f s (%d acknowledged)"
                                     % (timeout_s, len(self.acked)))
            time.sleep(0.01)
        return time.monotonic() - start

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)
        self.client.stop()
        self.client.close()


def check_nothing_lost(ensemble, acked):
    children = {}
    for member_id, member in ensemble.members.items():
        client = new_client(member.hosts)
        try:
            client.sync("/load")
            children[member_id] = set(client.get_children("/load"))
        finally:
            client.stop()
            client.close()
        missing = set(acked) - children[member_id]
        assert not missing, "member %d lost acknowledged creates: %s" % (
            member_id, sorted(missing)[:10])
    assert len({frozenset(c) for c in children.values()}) == 1, "members disagree"


@pytest.fixture
def ensemble(tmp_path):
    ens = Ensemble("coord", tmp_path / "ensemble", size=3)
    ens.start()
    try:
        yield ens
    finally:
        ens.stop()


def under_load(ensemble, nemesis):
    writer = Writer(ensemble.hosts).start()
    try:
        writer.acked_after(20)
        nemesis()
        writer.acked_after(20)
    finally:
        writer.stop()
    check_nothing_lost(ensemble, writer.acked)
    return writer


def test_kill_the_leader(ensemble):
    def nemesis():
        leader = ensemble.leader()
        ensemble.member(leader).kill()
        new = ensemble.leader(timeout_s=20)
        assert new is not None and new != leader
        ensemble.member(leader).start()
    under_load(ensemble, nemesis)


def test_pause_the_leader(ensemble):
    def nemesis():
        leader = ensemble.leader()
        ensemble.member(leader).pause()
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                others = [i for i in ensemble.members if i != leader]
                if any(ensemble.member(i).mode(timeout_s=1) == "leader" for i in others):
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("no new leader while the old one was paused")
        finally:
            ensemble.member(leader).resume()
        # The old leader, woken, must step down (one leader) and follow again.
        deadline = time.monotonic() + 20
        while ensemble.member(leader).mode(timeout_s=1) != "follower":
            assert time.monotonic() < deadline, "the resumed leader did not step down"
            time.sleep(0.05)
    under_load(ensemble, nemesis)


def test_kill_and_pause_a_follower(ensemble):
    def nemesis():
        follower = ensemble.followers()[0]
        ensemble.member(follower).kill()
        time.sleep(0.5)
        ensemble.member(follower).start()
        other = ensemble.followers()[-1]
        ensemble.member(other).pause()
        time.sleep(0.5)
        ensemble.member(other).resume()
    under_load(ensemble, nemesis)


def test_two_of_five_down_keeps_serving(tmp_path):
    with Ensemble("coord", tmp_path / "five", size=5) as ens:
        writer = Writer(ens.hosts).start()
        try:
            writer.acked_after(10)
            leader = ens.leader()
            minority = [i for i in ens.members if i != leader][:2]
            for i in minority:
                ens.member(i).kill()
            writer.acked_after(20)                 # 3 of 5 still commit
            for i in minority:
                ens.member(i).start()
        finally:
            writer.stop()
        check_nothing_lost(ens, writer.acked)


def test_a_wiped_member_catches_up_by_snapshot(tmp_path):
    # Small snapCount: snapshots are taken and the log is compacted behind them, so the wiped
    # member cannot be sent the log from the beginning and must install a snapshot.
    config = {"snapCount": 40}
    with Ensemble("coord", tmp_path / "snap", size=3, config=config) as ens:
        client = new_client(ens.hosts)
        try:
            client.ensure_path("/snap")
            for i in range(300):
                client.create("/snap/n%03d" % i, b"v%d" % i)
            victim = ens.followers()[0]
            member = ens.member(victim)
            member.kill()
            shutil.rmtree(member.data_dir)
            member.start()                         # writes myid again; empty otherwise
            for i in range(300, 320):
                client.create("/snap/n%03d" % i, b"v%d" % i)
        finally:
            client.stop()
            client.close()
        check = new_client(member.hosts)
        try:
            check.sync("/snap")   # waits until the wiped member has caught up with the leader
            assert sorted(check.get_children("/snap")) == ["n%03d" % i for i in range(320)]
            assert check.get("/snap/n123")[0] == b"v123"
        finally:
            check.stop()
            check.close()
        log = member.log_tail(200000)
        assert "installed a snapshot" in log, log


def test_a_stopping_leader_hands_over_without_an_election_timeout(ensemble):
    leader = ensemble.leader()
    ensemble.member(leader).stop()           # SIGTERM: a planned restart
    log = ensemble.member(leader).log_tail(100000)
    assert "handing leadership to member" in log
    new = ensemble.leader(timeout_s=5)
    assert new is not None and new != leader
    ensemble.member(leader).start()
    writer = Writer(ensemble.hosts).start()
    try:
        writer.acked_after(10)
    finally:
        writer.stop()
    check_nothing_lost(ensemble, writer.acked)
