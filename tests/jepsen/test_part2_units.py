"""Part 2's checkers on hand-written histories (each one shown failing), ``--initial`` maps for the
multi-register model, and the network namespaces' cuts, shapes and clean-up."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from jepsen_like.checker.ephemerals import check_ephemerals
from jepsen_like.checker.ids import check_sequential_ids
from jepsen_like.checker.progress import check_progress
from jepsen_like.checker.watches import check_watches
from jepsen_like.cli import main
from jepsen_like.formats import edn
from jepsen_like.formats.knossos import events_from_edn
from jepsen_like.nemesis import NemesisContext, Partition

from .conftest import ops_from_edn


def events(text: str):
    return events_from_edn(edn.iter_forms(text))


# -- ephemerals ----------------------------------------------------------------------------------

EPHEMERAL_OK = """
{:process 0 :type :invoke :f :create :value "a" :session "s1"}
{:process 0 :type :ok :f :create :value "a" :session "s1"}
{:process 1 :type :invoke :f :read}
{:process 1 :type :ok :f :read :value ["a"]}
{:process 0 :type :invoke :f :close :value "s1"}
{:process 0 :type :ok :f :close :value "s1"}
{:process 1 :type :invoke :f :read}
{:process 1 :type :ok :f :read :value []}
"""


def test_ephemerals_valid_when_nodes_follow_their_sessions():
    result = check_ephemerals(ops_from_edn(EPHEMERAL_OK))
    assert result.verdict == "valid", result.render()


def test_ephemeral_that_outlives_its_closed_session_is_caught():
    history = EPHEMERAL_OK.replace('{:process 1 :type :ok :f :read :value []}',
                                   '{:process 1 :type :ok :f :read :value ["a"]}')
    result = check_ephemerals(ops_from_edn(history))
    assert result.verdict == "not valid"
    assert result.counts["outlived"] == 1 and "closed at event 5" in result.problems[0]


def test_acknowledged_ephemeral_missing_from_a_later_read_is_lost():
    history = EPHEMERAL_OK.replace('{:process 1 :type :ok :f :read :value ["a"]}',
                                   '{:process 1 :type :ok :f :read :value []}')
    result = check_ephemerals(ops_from_edn(history))
    assert result.verdict == "not valid" and result.counts["lost"] == 1
    # ...unless its session was lost: then the node may rightly be gone.
    lost_session = history + '{:process 0 :type :invoke :f :session-lost :value "s1"}\n' \
                             '{:process 0 :type :ok :f :session-lost :value "s1"}\n'
    assert check_ephemerals(ops_from_edn(lost_session)).verdict == "valid"


def test_ephemerals_with_no_read_are_unknown():
    assert check_ephemerals(ops_from_edn(EPHEMERAL_OK.split("{:process 1")[0])).verdict == "unknown"


# -- watches -------------------------------------------------------------------------------------

WATCHES_OK = """
{:process 0 :type :invoke :f :write :value 1}
{:process 0 :type :ok :f :write :value 1}
{:process 1 :type :invoke :f :notify}
{:process 1 :type :ok :f :notify :value [1 10]}
{:process 0 :type :invoke :f :write :value 2}
{:process 0 :type :ok :f :write :value 2}
{:process 1 :type :invoke :f :notify}
{:process 1 :type :ok :f :notify :value [2 11]}
{:process 0 :type :invoke :f :final-read}
{:process 0 :type :ok :f :final-read :value [2 11]}
{:process 1 :type :invoke :f :caught-up}
{:process 1 :type :ok :f :caught-up :value [2 11]}
"""


def test_watches_valid():
    assert check_watches(ops_from_edn(WATCHES_OK)).verdict == "valid"


@pytest.mark.parametrize("original, replacement, problem", [
    ("{:process 1 :type :ok :f :notify :value [2 11]}", "{:process 1 :type :ok :f :notify :value [2 10]}",
     "out of order"),
    ("{:process 1 :type :ok :f :notify :value [1 10]}", "{:process 1 :type :ok :f :notify :value [7 10]}",
     "invented"),
    ("{:process 1 :type :ok :f :caught-up :value [2 11]}", "{:process 1 :type :ok :f :caught-up :value [1 10]}",
     "missed at the end"),
])
def test_watch_anomalies_are_caught(original, replacement, problem):
    assert original in WATCHES_OK
    result = check_watches(ops_from_edn(WATCHES_OK.replace(original, replacement, 1)))
    assert result.verdict == "not valid", result.render()
    assert result.counts[problem] == 1


def test_watcher_takes_every_queued_event_with_one_read():
    """A connection lost during a read queues two re-arm reasons (the failed read, kazoo's
    dropped-watch event); read once per item, the watcher stays one behind and reads one change
    twice."""
    import queue

    from jepsen_like.client_adapters import WatchEvent
    from jepsen_like.workloads import _REARM, _take_events

    events: queue.Queue = queue.Queue()
    events.put(WatchEvent(False))
    events.put(_REARM)
    assert _take_events(events, timeout=0.1) is False      # one re-arm for both
    assert events.empty()
    events.put(_REARM)
    events.put(WatchEvent(True, "/n"))
    assert _take_events(events, timeout=0.1) is True       # a change among them: a notify read
    assert _take_events(events, timeout=0.01) is None


# -- sequential ids with a final read, progress ----------------------------------------------------


def test_acknowledged_id_missing_from_the_final_read_is_caught():
    history = """
    {:process 0 :type :invoke :f :next-id}
    {:process 0 :type :ok :f :next-id :value 0}
    {:process 1 :type :invoke :f :next-id}
    {:process 1 :type :ok :f :next-id :value 1}
    {:process 2 :type :invoke :f :read}
    {:process 2 :type :ok :f :read :value [0 1]}
    """
    assert check_sequential_ids(ops_from_edn(history)).verdict == "valid"
    result = check_sequential_ids(ops_from_edn(history.replace("[0 1]", "[1]")))
    assert result.verdict == "not valid" and result.counts["acknowledged but gone"] == 1


def test_progress_needs_an_ok_after_the_last_heal():
    history = """
    {:process 0 :type :invoke :f :add :value 1}
    {:process 0 :type :ok :f :add :value 1}
    {:process :nemesis :type :info :f :kill :value "n1" :fault "begin"}
    {:process :nemesis :type :info :f :heal :value "n1" :fault "end"}
    {:process 0 :type :invoke :f :add :value 2}
    {:process 0 :type :info :f :add :value 2}
    """
    result = check_progress(events(history), ["add"])
    assert result.verdict == "not valid", result.render()
    healed = history + "{:process 5 :type :invoke :f :add :value 3}\n{:process 5 :type :ok :f :add :value 3}\n"
    assert check_progress(events(healed), ["add"]).verdict == "valid"


# -- --initial as a map (the small fix from part 1) ------------------------------------------------

MULTI = """
{:process 0 :type :invoke :f :txn :value [[:read :x nil] [:read :y nil]]}
{:process 0 :type :ok :f :txn :value [[:read :x 0] [:read :y 5]]}
{:process 1 :type :invoke :f :txn :value [[:write :x 1]]}
{:process 1 :type :ok :f :txn :value [[:write :x 1]]}
{:process 0 :type :invoke :f :txn :value [[:read :x nil] [:read :y nil]]}
{:process 0 :type :ok :f :txn :value [[:read :x 1] [:read :y 5]]}
"""


def test_initial_map_for_multi_register(tmp_path, capsys):
    path = tmp_path / "multi.edn"
    path.write_text(MULTI)
    base = ["check", "--model", "multi-register", "--format", "knossos", "--exact-nil-reads"]
    assert main([*base, "--initial", "{:x 0 :y 5}", str(path)]) == 0  # EDN, as copied from Knossos
    assert main([*base, "--initial", '{"x": 0, "y": 5}', str(path)]) == 0  # JSON
    assert main([*base, "--initial", "{:x 0 :y 0}", str(path)]) == 1  # y really started at 5
    assert main([*base, "--initial", "0", str(path)]) == 1  # one value for all: y is not 0
    capsys.readouterr()
    assert main(["check", "--model", "register", "--format", "knossos", "--initial", "{:x 0}", str(path)]) == 64
    assert "not a map" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main([*base, "--initial", "{:x 0", str(path)])
    assert usage.value.code == 64


# -- network namespaces --------------------------------------------------------------------------


@pytest.fixture
def network():
    from jepsen_like.netns import Network, network_unavailable_reason

    reason = network_unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    net = Network(["n1", "n2", "n3", "n4", "n5"]).create()
    try:
        yield net
    finally:
        net.destroy()


_LISTEN = ("import socket\ns = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
           "s.bind(('0.0.0.0', 7777)); s.listen(64)\nwhile True:\n    s.accept()[0].close()\n")
_CONNECT = ("import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], 7777), timeout=1.0); print('ok')\n"
            "except OSError as e:\n    print(type(e).__name__)\n")


def _reach(network, source, target) -> str:
    prefix = network.exec_prefix(source) if source else []
    done = subprocess.run([*prefix, sys.executable, "-c", _CONNECT, network.addresses[target]],
                          capture_output=True, text=True, timeout=20)
    return done.stdout.strip()


def test_cut_drops_real_traffic_and_heal_restores_it(network):
    listeners = [subprocess.Popen([*network.exec_prefix(m), sys.executable, "-c", _LISTEN]) for m in ("n1", "n2")]
    try:
        deadline = time.monotonic() + 20
        while _reach(network, None, "n2") != "ok" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _reach(network, "n1", "n2") == "ok"
        network.cut("n1", "n2")
        assert _reach(network, "n1", "n2") == "TimeoutError"  # dropped, not refused: silence
        assert _reach(network, "n2", "n1") == "TimeoutError"
        assert _reach(network, "n3", "n2") == "ok"  # others unaffected
        assert _reach(network, None, "n1") == "ok"  # clients in the root namespace too
        network.heal()
        assert _reach(network, "n1", "n2") == "ok"
        assert "drop" not in network.rules("n1")
    finally:
        for listener in listeners:
            listener.kill()
            listener.wait(timeout=10)


class _Members:
    """Just what a partition nemesis asks of an ensemble: names, the network, a leader."""

    def __init__(self, network):
        self.network = network
        self.names = list(network.members)

    def leader(self):
        return "n3"


@pytest.mark.parametrize("shape, expected_cuts", [
    ("leader", 4),  # n3 alone: 4 links
    ("majority", 6),  # 3 | 2: 6 links
    ("bridge", 4),  # halves of 2 and 2 (4 links cut), the bridge hears all
    ("ring", 5),  # 10 links, 5 kept
])
def test_partition_shapes(network, shape, expected_cuts):
    import random

    ctx = NemesisContext(_Members(network), random.Random(1))
    injected = Partition(shape).inject(ctx)
    assert len(network._cuts) == expected_cuts, injected
    if shape == "leader":
        assert injected["components"][0] == ["n3"]
    if shape == "bridge":
        assert all(frozenset((injected["bridge"], other)) not in network._cuts for other in network.members)
    Partition(shape).heal(ctx, injected)
    assert not network._cuts


def test_sweep_removes_leftovers_of_dead_runs_only(network):
    from jepsen_like.netns import sweep_leftovers

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"jl{dead.pid}z-n1"
    subprocess.run(["ip", "netns", "add", stale], check=True, timeout=20)
    try:
        removed = sweep_leftovers()
        assert f"netns {stale}" in removed
        live = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=20).stdout
        assert network.namespace("n1") in live  # ours (a live pid) untouched
        assert stale not in live
    finally:
        subprocess.run(["ip", "netns", "delete", stale], capture_output=True, timeout=20)
    assert os.getpid() == int(network.tag[2:-1])


def test_ephemeral_that_outlives_its_expired_session_is_caught():
    # A crashed client's session: once the server said it expired, its node must be gone.
    expired = EPHEMERAL_OK.replace(":f :close", ":f :expire")
    assert check_ephemerals(ops_from_edn(expired)).verdict == "valid"
    outlived = expired.replace('{:process 1 :type :ok :f :read :value []}',
                               '{:process 1 :type :ok :f :read :value ["a"]}')
    result = check_ephemerals(ops_from_edn(outlived))
    assert result.verdict == "not valid" and result.counts["outlived"] == 1
    assert "seen to expire at event 5" in result.problems[0] and result.counts["sessions expired"] == 1
    # An expire whose outcome is unknown proves nothing about the node, and ends its "lost" check.
    unknown = outlived.replace('{:process 0 :type :ok :f :expire :value "s1"}',
                               '{:process 0 :type :info :f :expire :value "s1"}')
    assert check_ephemerals(ops_from_edn(unknown)).verdict == "valid"
