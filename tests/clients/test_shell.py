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


WATCH_SCRIPT = """\
get -w /P
set /P d1
ls -w /P
create /P/c
stat -w /P/c
delete /P/c
addWatch /P
create /P/c2 x
set /P/c2 y
addWatch -m PERSISTENT /P/c2
set /P/c2 z
printwatches off
set /P/c2 q
printwatches
printwatches on
close
get /P
connect
get /P
set /P/c2 r
"""


def _event(kind, path):
    return f"\nWATCHER::\n\nWatchedEvent state:SyncConnected type:{kind} path:{path}\n"


WATCH_EXPECTED_OUT = (
    "\n" + _event("NodeDataChanged", "/P")
    + "[]\n" + _event("NodeChildrenChanged", "/P")
    + "\n".join(EXPECTED_OUT.split("\n")[2:13]).replace("dataLength = 5", "dataLength = 0") + "\n"
    + _event("NodeDeleted", "/P/c")
    + _event("NodeCreated", "/P/c2")
    + _event("NodeDataChanged", "/P/c2")
    + _event("NodeDataChanged", "/P/c2")        # one watcher, two watches: printed once
    + "printwatches is off\n"
    + "Not connected\n"
    + "d1\n"                                     # a new session: the old watches are gone
)


def test_watch_events_are_printed_in_order(server, prefix):
    result = run_shell(server.hosts, WATCH_SCRIPT.replace("/P", prefix))
    assert mask(result.stdout, prefix) == WATCH_EXPECTED_OUT
    assert mask(result.stderr, prefix) == "Created /P/c\nCreated /P/c2\n"
    assert result.returncode == 1             # "get" while closed failed


def test_one_shot_exit_codes_and_piped_stdin(server, prefix):
    ok = run_shell(server.hosts, f"ls {prefix}")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "[]\n", "")
    missing = run_shell(server.hosts, f"get {prefix}/nope")
    assert (missing.returncode, missing.stderr) == (1, f"Node does not exist: {prefix}/nope\n")
    unknown = run_shell(server.hosts, "frobnicate /")
    assert unknown.returncode == 127
    assert unknown.stderr.endswith("Command not found: frobnicate\n")
    assert "\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]\n" in unknown.stderr
    bad_option = run_shell(server.hosts, f"ls -x {prefix}")
    assert (bad_option.returncode, bad_option.stderr) == (1, "Unrecognized option: -x\n")
    # Not a terminal: commands come from stdin, one per line; the failure in the middle counts.
    piped = run_shell(server.hosts, None, f"create {prefix}/a 1\nget {prefix}/b\n\nget {prefix}/a\n")
    assert (piped.returncode, piped.stdout) == (1, "1\n")
    assert piped.stderr == f"Created {prefix}/a\nNode does not exist: {prefix}/b\n"
    quits = run_shell(server.hosts, f"get {prefix}/a\nquit\nget {prefix}/b")
    assert (quits.returncode, quits.stdout) == (0, "1\n")


def test_a_chroot_in_the_connect_string(server, prefix):
    result = run_shell(server.hosts + prefix, "create /x 1\nls /\nget -s /x\ngetEphemerals /")
    assert result.stderr == "Created /x\n"
    assert result.stdout.startswith("[x]\n1\ncZxid = ")
    assert result.stdout.endswith("\n[]\n")
    assert result.returncode == 0


def test_no_server_no_session():
    result = run_shell(f"127.0.0.1:{free_port()}", "ls /", None, "--timeout", "2")
    assert result.returncode == 1
    assert result.stderr.startswith("coord shell: no session with 127.0.0.1:")


class Terminal:
    """A process on a pseudo-terminal (so readline is on), its output collected as it comes."""

    def __init__(self, argv, env):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.text = ""

    def send(self, text):
        os.write(self.master, text.encode())

    def wait_for(self, pattern, timeout_s=30.0):
        deadline = time.monotonic() + timeout_s
        while True:
            match = re.search(pattern, self.text)
            if match:
                return match
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout_s} s in:\n{self.text}")
            readable, _, _ = select.select([self.master], [], [], min(remaining, 0.5))
            if readable:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:                # the process has gone (EIO)
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    raise AssertionError(f"the shell exited before {pattern!r}:\n{self.text}")
                self.text += chunk.decode("utf-8", errors="replace").replace("\r\n", "\n")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)


def test_interactive_completion_and_a_watch_event(server, prefix, client):
    client.create(f"{prefix}/completion-target", b"first")
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="dumb")
    terminal = Terminal([sys.executable, "-m", "coord", "shell", "--server", server.hosts], env)
    try:
        terminal.wait_for(r"WatchedEvent state:SyncConnected type:None path:null")
        terminal.wait_for(r"\[coord: [^\]]*\] $")
        # A command name, then a znode path, completed with TAB.
        terminal.send(f"sta\t-w {prefix}/compl\t\n")
        terminal.wait_for(r"\ndataLength = 5\nnumChildren = 0\n")   # "first": found
        # Another session changes the node while this one waits at its prompt.
        client.set(f"{prefix}/completion-target", b"second")
        terminal.wait_for(rf"WATCHER::\n\nWatchedEvent state:SyncConnected "
                          rf"type:NodeDataChanged path:{re.escape(prefix)}/completion-target\n"
                          rf"\[coord: [^\]]*\(CONNECTED\) 1\] $")
        terminal.send(f"get {prefix}/completion-t\t\n")
        terminal.wait_for(r"\nsecond\n")
        terminal.send("histo\t\n")
        terminal.wait_for(rf"0 - stat -w {re.escape(prefix)}/completion-target\n"
                          rf"1 - get {re.escape(prefix)}/completion-target\n2 - history *\n")
        terminal.send("quit\n")
        assert terminal.proc.wait(timeout=30) == 0
    finally:
        terminal.close()
