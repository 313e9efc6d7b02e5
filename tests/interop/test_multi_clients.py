"""ZooKeeper's own Java and C clients each do a multi round against the server under test.

Neither zkCli.sh nor cli_mt has a multi command, so tests/interop/clients holds two small programs
built at test time (once per session) against the real client libraries: MultiRound.java (the
Java client: multi, transaction(), multiRead) and multi_round.c (libzookeeper_mt: zoo_multi with
create/delete/set/check ops). Each program does its round under the test's prefix, prints one line
per result and closes its session; the test compares the whole transcript with what ZooKeeper
3.8 answers, then checks the tree with kazoo — which also proves the round's ephemeral went with
the program's session. One run per program per server kind.
"""

import re

from tests.interop.driver import run_bounded

RUN_TIMEOUT_S = 90.0  # a JVM start, a connect, and a handful of round trips; every wait inside is bounded


def run_round(command, server, prefix, tmp_path):
    result = run_bounded([*command, server.hosts, prefix], timeout_s=RUN_TIMEOUT_S, cwd=tmp_path)
    transcript = f"{result.stdout}\n--- stderr ---\n{result.stderr}"
    assert result.returncode == 0, f"{command[0]} exited with {result.returncode}:\n{transcript}"
    lines = result.stdout.splitlines()
    assert lines, f"{command[0]} printed nothing:\n{transcript}"
    connected = re.fullmatch(r"CONNECTED (0x[0-9a-f]+)", lines[0])
    assert connected, f"no CONNECTED line first:\n{transcript}"
    session_id = connected.group(1)
    assert int(session_id, 16) != 0
    return lines, session_id, transcript


def check_common_tree(client, p):
    """The nodes both rounds leave behind, as kazoo sees them after the program's session closed."""
    parent, parent_stat = client.get(f"{p}/m")
    child, child_stat = client.get(f"{p}/m/c")
    assert (parent, parent_stat.version, parent_stat.numChildren) == (b"parent", 0, 1)
    assert (child, child_stat.version) == (b"c1", 1)
    # the successful multi is one transaction: one zxid for both creates and the setData
    assert parent_stat.czxid == child_stat.czxid == child_stat.mzxid == parent_stat.pzxid
    assert client.exists(f"{p}/fail-created") is None  # the failed multis applied nothing
    assert client.exists(f"{p}/plain") is None
    assert client.exists(f"{p}/eph") is None  # closing the program's session removed its ephemeral
    assert client.get(f"{p}/watched")[0] == b"w1"
    assert client.get_children(f"{p}/born") == ["kid"]
    return child_stat


def test_java_client_multi_round(multi_round_java, server, client, prefix, tmp_path):
    p = prefix
    lines, sid, transcript = run_round(multi_round_java, server, p, tmp_path)

    assert sorted(client.get_children(p)) == ["born", "m", "txn", "watched"], transcript
    child_stat = check_common_tree(client, p)
    txn, txn_stat = client.get(f"{p}/txn")
    assert (txn, txn_stat.version, txn_stat.czxid) == (b"t2", 1, txn_stat.mzxid)

    assert lines == [
        f"CONNECTED {sid}",
        f"MULTI_OK create:{p}/m create:{p}/m/c setData:1:{child_stat.mzxid:#x} check",
        # KeeperException with one result per op: OK before the failing op, RUNTIMEINCONSISTENCY after
        "MULTI_FAIL thrown=-101 results=0,-101,-2",
        "MULTI_BADVERSION thrown=-103 results=0,-103,-2",
        "AFTER_FAIL c1 exists=false",
        # all-read ops go as multiRead: each op answers on its own, no exception
        "MULTI_READ thrown=none getData:c1:1 getChildren:c err:-101",
        f"TXN_OK create:{p}/txn setData:1:{txn_stat.mzxid:#x} check",
        f"CREATE {p}/plain",
        "GET a 0",
        "SET 1",
        f"SET_STALE -103 {p}/plain",
        f"DELETE {p}/plain",
        "EXISTS_AFTER_DELETE null",
        f"GET_MISSING -101 {p}/plain",
        f"EPHEMERAL {p}/eph owner={sid}",
        "GET_WATCHED w0",
        f"WATCH NodeDataChanged {p}/watched SyncConnected",
        "EXISTS_WATCHED null",
        f"WATCH NodeCreated {p}/born SyncConnected",
        "CHILDREN_WATCHED []",
        f"WATCH NodeChildrenChanged {p}/born SyncConnected",
        "EXTRA_EVENTS 0",
        "DONE",
        "CLOSED",
    ], transcript


def test_c_client_multi_round(multi_round_c, server, client, prefix, tmp_path):
    p = prefix
    lines, sid, transcript = run_round(multi_round_c, server, p, tmp_path)

    assert sorted(client.get_children(p)) == ["born", "m", "watched"], transcript
    child_stat = check_common_tree(client, p)

    assert lines == [
        f"CONNECTED {sid}",
        f"MULTI_OK rc=0 create:{p}/m create:{p}/m/c setData:1:{child_stat.mzxid:#x} check:0",
        # zoo_multi returns the failing op's error; results: ZOK before it, ZRUNTIMEINCONSISTENCY after
        "MULTI_FAIL rc=-101 results=0,-101,-2",
        "MULTI_BADVERSION rc=-103 results=0,-103,-2",
        "AFTER_FAIL c1 exists=false",
        f"CREATE {p}/plain",
        "GET a 0",
        "SET 1",
        "SET_STALE -103",
        f"DELETE {p}/plain",
        "EXISTS_AFTER_DELETE -101",
        "GET_MISSING -101",
        f"EPHEMERAL {p}/eph owner={sid}",
        "GET_WATCHED w0",
        f"WATCH NodeDataChanged {p}/watched SyncConnected",
        "EXISTS_WATCHED -101",
        f"WATCH NodeCreated {p}/born SyncConnected",
        "CHILDREN_WATCHED 0",
        f"WATCH NodeChildrenChanged {p}/born SyncConnected",
        "EXTRA_EVENTS 0",
        "DONE",
        "CLOSED rc=0",
    ], transcript
