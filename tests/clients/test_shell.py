"""``coord shell`` as a user runs it: a real process, against coord and Apache ZooKeeper 3.8.

Every test here runs against each kind of server (tests/conftest.py): the same scripts must print
the same text whatever the server (zxids, times and session ids masked). The same scripts also go
through Debian's zkCli.sh, and the two shells' outputs must be equal, so the formats and error
messages are zkCli's own. An interactive session through a pseudo-terminal covers readline
completion and a watch event printed while the prompt waits.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coord.testing.servers import ZKCLI, free_port, zkcli_unavailable_reason

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 90


def run_shell(hosts, script=None, stdin_text=None, *args, timeout_s=RUN_TIMEOUT_S):
    argv = [sys.executable, "-m", "coord", "shell", "--server", hosts, *args]
    if script is not None:
        argv += ["-c", script]
    return subprocess.run(argv, input=stdin_text, capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout_s, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def run_zkcli(hosts, script, tmp_path):
    reason = zkcli_unavailable_reason()
    if reason is not None:
        if os.environ.get("COORD_REQUIRE_ZOOKEEPER") == "1":
            pytest.fail(f"COORD_REQUIRE_ZOOKEEPER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    env = dict(os.environ, ZOO_LOG_DIR=str(tmp_path),
               CLIENT_JVMFLAGS="-Xmx128m -XX:+UseSerialGC")
    return subprocess.run([ZKCLI, "-server", hosts], input=script + "\nquit\n",
                          capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=RUN_TIMEOUT_S)


_ZKCLI_CHATTER = re.compile(
    r"^(Connecting to .*|Welcome to ZooKeeper!|JLine support is (en|dis)abled|SLF4J: .*)\n", re.M)
_CONNECTION_EVENT = re.compile(
    r"\nWATCHER::\n\nWatchedEvent state:(SyncConnected|Closed) type:None path:null\n")


def mask(text, prefix):
    """What may differ between servers and runs: the test's path, zxids, times, session ids."""
    text = text.replace(prefix, "/P")
    text = re.sub(r"^(cZxid|mZxid|pZxid) = 0x[0-9a-f]+$", r"\1 = 0x?", text, flags=re.M)
    text = re.sub(r"^(ctime|mtime) = .*$", r"\1 = T", text, flags=re.M)
    text = re.sub(r"^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$", "ephemeralOwner = 0xS",
                  text, flags=re.M)
    return text


def zkcli_text(text):
    """zkCli's output without its banner and connection events (coord shell prints neither in a
    script)."""
    return _CONNECTION_EVENT.sub("", _ZKCLI_CHATTER.sub("", text)).lstrip("\n")


# Commands and replies common to both shells, one block per line of the script. The prefix
# node exists and is empty when the script starts.
SCRIPT = """\
create /P/a hello
create /P/a again
get /P/a
get -s /P/a
create /P/n
get /P/n
create /P/a/b
create /P/a/b/c "two words"
get /P/a/b/c
ls /P
ls -s /P/a
ls -R /P
stat /P/a/b
stat /P/nope
get /P/nope
ls /P/nope
set /P/a v2
set -s /P/a v3
set -v 0 /P/a v4
delete -v 7 /P/a/b/c
delete /P/a
delete /P/nope
create -s /P/seq-
create -s /P/seq- x
create -e /P/eph
stat /P/eph
create -c /P/cont
create -t 60000 /P/ttl
create -t xx /P/ttl2
create -c -e /P/bad
create -t 1000 -e /P/bad
create bad
create /P/x/y
create /P/end/
create /P//x
create /P/eph/child
getAcl /P/a
create /P/acl x world:anyone:ra
getAcl -s /P/acl
setAcl /P/acl world:anyone:cdrwa
getAcl /P/acl
addauth digest alice:secret
setAcl /P/a/b auth:alice:secret:cdrwa
getAcl /P/a/b
setAcl /P/n world:anyone:rabz
getAcl /P/n
setAcl /P/n world:anyone:wa
get /P/n
setAcl /P/n world:anyone:cdrwa
sync /P/a
ls /P
deleteall /P/a
ls /P
get
set /P/a
history
redo 9
redo 99
ls /P
"""


def script_for(prefix):
    return SCRIPT.replace("/P", prefix)


EXPECTED_OUT = """\
hello
hello
cZxid = 0x?
ctime = T
mZxid = 0x?
mtime = T
pZxid = 0x?
cversion = 0
dataVersion = 0
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 5
numChildren = 0
null
two words
[a, n]
[b]
cZxid = 0x?
ctime = T
mZxid = 0x?
mtime = T
pZxid = 0x?
cversion = 1
dataVersion = 0
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 5
numChildren = 1
/P
/P/a
/P/n
/P/a/b
/P/a/b/c
cZxid = 0x?
ctime = T
mZxid = 0x?
mtime = T
pZxid = 0x?
cversion = 1
dataVersion = 0
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 0
numChildren = 1
cZxid = 0x?
ctime = T
mZxid = 0x?
mtime = T
pZxid = 0x?
cversion = 1
dataVersion = 2
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 2
numChildren = 1
cZxid = 0x?
ctime = T
mZxid = 0x?
mtime = T
pZxid = 0x?
cversion = 0
dataVersion = 0
aclVersion = 0
ephemeralOwner = 0xS
dataLength = 0
numChildren = 0
'world,'anyone
: cdrwa
'world,'anyone
: ra
cZxid = 0x?
ctime = T
mZxid = 0x?
mtime = T
pZxid = 0x?
cversion = 0
dataVersion = 0
aclVersion = 0
ephemeralOwner = 0x0
dataLength = 1
numChildren = 0
'world,'anyone
: cdrwa
'digest,'alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=
: cdrwa
'world,'anyone
: ra
Sync is OK
[a, acl, cont, eph, n, seq-0000000002, seq-0000000003, ttl]
[acl, cont, eph, n, seq-0000000002, seq-0000000003, ttl]
45 - getAcl /P/n
46 - setAcl /P/n world:anyone:wa
47 - get /P/n
48 - setAcl /P/n world:anyone:cdrwa
49 - sync /P/a
50 - ls /P
51 - deleteall /P/a
52 - ls /P
53 - get
54 - set /P/a
55 - history
[acl, cont, eph, n, seq-0000000002, seq-0000000003, ttl]
[acl, cont, eph, n, seq-0000000002, seq-0000000003, ttl]
"""

EXPECTED_ERR = """\
Created /P/a
Node already exists: /P/a
Created /P/n
Created /P/a/b
Created /P/a/b/c
Node does not exist: /P/nope
Node does not exist: /P/nope
Node does not exist: /P/nope
version No is not valid : /P/a
version No is not valid : /P/a/b/c
Node not empty: /P/a
Node does not exist: /P/nope
Created /P/seq-0000000002
Created /P/seq-0000000003
Created /P/eph
Created /P/cont
Created /P/ttl
-t argument must be a long value
-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential.
TTLs cannot be used with Ephemeral znodes
Path must start with / character
Node does not exist: /P/x/y
Path must not end with / character
Invalid path string "/P//x" caused by empty node name specified @NN
Ephemerals cannot have children: /P/eph/child
Created /P/acl
Unknown perm type: b
Unknown perm type: z
Insufficient permission : /P/n
get [-s] [-w] path
set [-s] [-v version] path data
Command index out of range
"""


def _mask_at(text):
    return re.sub(r"@\d+$", "@NN", text, flags=re.M)


def test_a_script_prints_the_same_text_on_every_server(server, prefix):
    result = run_shell(server.hosts, script_for(prefix))
    assert _mask_at(mask(result.stderr, prefix)) == EXPECTED_ERR
    assert mask(result.stdout, prefix) == EXPECTED_OUT
    assert result.returncode == 1          # some of its commands failed


def test_zkcli_prints_that_text_too(server, prefix, tmp_path):
    """The expected text above is zkCli.sh's own (3.8, Debian), on this server too."""
    result = run_zkcli(server.hosts, script_for(prefix), tmp_path)
    assert _mask_at(zkcli_text(mask(result.stderr, prefix))) == EXPECTED_ERR
    assert zkcli_text(mask(result.stdout, prefix)) == EXPECTED_OUT
