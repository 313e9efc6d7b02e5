"""The C client's sample shell (cli_mt, 3.8.0) against the server under test.

cli_mt prints to stderr from two threads (completions and watch events), so waits count matches
rather than expect an order. Its commands: create [+e|+s|+es] path (data is always "new"), get,
set path data, ls, ls2, exists, wexists, delete, sync, quit. ``get``, ``ls`` and ``exists`` all
leave a watch with the shell's global watcher. It has no multi command.
"""

import re

from tests.semantics.helpers import WAIT_S


def test_cli_mt_commands(cli_mt, client, prefix):
    p = prefix
    session_id = int(cli_mt.wait_for(r"Got a new session id: 0x([0-9a-f]+)")[0].group(1), 16)
    q = re.escape(p)

    cli_mt.send(f"create {p}/c")
    cli_mt.wait_for(rf"^\[{q}/c\]: rc = 0\n\tname = {q}/c$")
    assert client.get(f"{p}/c")[0] == b"new"

    cli_mt.send(f"get {p}/c")
    cli_mt.wait_for(rf"^{q}/c: rc = 0\n value_len = 3\nnew$")

    cli_mt.send(f"set {p}/c abc")
    cli_mt.wait_for(rf"^{q}/c: rc = 0 Stat:$")
    cli_mt.wait_for(r"^\tversion=1\taversion=0$")
    # the earlier get left a data watch
    cli_mt.wait_for(rf"^Watcher CHANGED_EVENT state = CONNECTED_STATE for path {q}/c$")
    assert client.get(f"{p}/c")[0] == b"abc"

    cli_mt.send(f"ls {p}")
    cli_mt.wait_for(rf"^{q}: rc = 0\n\tc\n")

    cli_mt.send(f"exists {p}/nope")
    cli_mt.wait_for(rf"^Error -101 for {q}/nope$")

    cli_mt.send(f"wexists {p}/c")
    cli_mt.send(f"sync {p}")  # replies in order: after this the watch is registered
    cli_mt.wait_for(rf"^\[{q}\]: rc = 0\n\tname = {q}$")
    client.set(f"{p}/c", b"from kazoo")
    cli_mt.wait_for(rf"^Watcher CHANGED_EVENT state = CONNECTED_STATE for path {q}/c$", count=2, timeout_s=WAIT_S)

    cli_mt.send(f"create +e {p}/ce")
    cli_mt.wait_for(rf"^\tname = {q}/ce$")
    cli_mt.send(f"create +s {p}/cs-")
    cli_mt.wait_for(rf"^\tname = {q}/cs-0000000002$")
    cli_mt.send(f"create +es {p}/ces-")
    cli_mt.wait_for(rf"^\tname = {q}/ces-0000000003$")
    assert client.exists(f"{p}/ce").ephemeralOwner == session_id
    assert client.exists(f"{p}/ces-0000000003").ephemeralOwner == session_id
    assert client.exists(f"{p}/cs-0000000002").ephemeralOwner == 0
    # the ls above left a child watch on the prefix
    cli_mt.wait_for(rf"^Watcher CHILD_EVENT state = CONNECTED_STATE for path {q}$")

    cli_mt.send(f"wexists {p}/c")
    cli_mt.send(f"delete {p}/c")
    cli_mt.wait_for(rf"^Watcher DELETED_EVENT state = CONNECTED_STATE for path {q}/c$", timeout_s=WAIT_S)
    cli_mt.send(f"get {p}/c")
    cli_mt.wait_for(rf"^{q}/c: rc = -101$")
    assert client.exists(f"{p}/c") is None

    cli_mt.send("quit")
    cli_mt.wait_for(r"^Quitting\.\.\.$")
    assert cli_mt.close() == 0
    # zookeeper_close() closed the session: its ephemerals are gone
    assert client.get_children(p) == ["cs-0000000002"]
