"""The shell's pure parts: zkCli's words, options, paths, ACLs, and its output formats."""

import datetime
import re

import pytest

from clients import errors
from clients.ops import ZnodeStat
from clients.shell import render
from clients.shell.shell import Shell, _java_decode
from clients.shell.syntax import (
    COMMANDS,
    CommandError,
    CommandNotFound,
    parse,
    parse_acl,
    perm_string,
    split_words,
    validate_path,
)
from coord.protocol.records import ACL, Id


@pytest.mark.parametrize("line, words", [
    ("ls /", ["ls", "/"]),
    ("  create   /a   b  ", ["create", "/a", "b"]),
    ('create /a "two words" world:anyone:r', ["create", "/a", "two words", "world:anyone:r"]),
    ("set /a 'it is'", ["set", "/a", "it is"]),
    ('set /a ""', ["set", "/a", ""]),
    ("set /a x\"y", ["set", "/a", 'x"y']),
])
def test_words_as_zkcli_splits_them(line, words):
    assert split_words(line) == words


def test_options_anywhere_bundled_or_with_values():
    assert parse(["set", "/a", "v", "-s", "-v", "3"]).options == {"s": True, "v": "3"}
    assert parse(["set", "-v5", "/a", "v"]) == ("set", ["set", "/a", "v"], {"v": "5"})
    assert parse(["create", "-es", "/a"]).options == {"e": True, "s": True}
    assert parse(["set", "/a", "-1"]).args == ["set", "/a", "-1"]      # a number is data
    assert parse(["set", "--", "/a", "-s"]).args == ["set", "/a", "-s"]
    assert parse(["exit"]).name == "quit"


@pytest.mark.parametrize("words, message, code", [
    (["ls", "-x", "/"], "Unrecognized option: -x", 1),
    (["create", "-ex", "/"], "Unrecognized option: -ex", 1),
    (["set", "/a", "v", "-v"], "Missing argument for option: v", 1),
    (["get"], "get [-s] [-w] path", 1),
    (["setAcl", "/a"], "setAcl [-s] [-v version] [-R] path acl", 1),
    (["nope", "/"], "Command not found: nope", 127),
])
def test_what_cannot_be_parsed(words, message, code):
    with pytest.raises(CommandError) as failure:
        parse(words)
    assert (str(failure.value), failure.value.exit_code) == (message, code)
    assert isinstance(failure.value, CommandNotFound) == (code == 127)


@pytest.mark.parametrize("path, message", [
    ("", "Path length must be > 0"),
    ("a", "Path must start with / character"),
    ("/a/", "Path must not end with / character"),
    ("/a//b", 'Invalid path string "/a//b" caused by empty node name specified @3'),
    ("/a/./b", 'Invalid path string "/a/./b" caused by relative paths not allowed @3'),
    ("/a/..", 'Invalid path string "/a/.." caused by relative paths not allowed @4'),
    ("/a\0", 'Invalid path string "/a\0" caused by null character not allowed @2'),
    ("/a\u0001", 'Invalid path string "/a\u0001" caused by invalid character @2'),
    ("/a\ufff5", 'Invalid path string "/a\ufff5" caused by invalid character @2'),
])
def test_invalid_paths_get_zookeepers_messages(path, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        validate_path(path)


def test_valid_paths():
    for path in ("/", "/a", "/a/b.c", "/a/...", "/.a", "/zookeeper/quota"):
        validate_path(path)
    validate_path("/queue/", sequential=True)     # the counter completes the name


def test_acls_as_zkcli_reads_them():
    acl, warnings = parse_acl("world:anyone:r,digest:alice:aYXl=:cdrwa,bad,ip:10.0.0.1:rxz")
    assert acl == [(1, "world", "anyone"), (31, "digest", "alice:aYXl="), (1, "ip", "10.0.0.1")]
    assert warnings == ["bad does not have the form scheme:id:perm", "Unknown perm type: x",
                        "Unknown perm type: z"]
    assert [perm_string(p) for p in (31, 1, 17, 0, 12)] == ["cdrwa", "r", "ra", "", "cd"]


def test_stat_block_and_hex_longs():
    stat = ZnodeStat(czxid=0x100000003, mzxid=4, ctime=0, mtime=1700000000000, version=2,
                     cversion=1, aversion=0, ephemeralOwner=-0x7000000000000000, dataLength=5,
                     numChildren=0, pzxid=0x10)
    lines = render.stat_lines(stat)
    assert lines[0] == "cZxid = 0x100000003"
    assert lines[2] == "mZxid = 0x4"
    assert lines[4:8] == ["pZxid = 0x10", "cversion = 1", "dataVersion = 2", "aclVersion = 0"]
    assert lines[8] == "ephemeralOwner = 0x9000000000000000"      # Long.toHexString
    assert re.fullmatch(r"ctime = \w{3} \w{3} \d\d \d\d:\d\d:\d\d \S+ \d{4}", lines[1])
    utc = datetime.timezone.utc
    assert render.java_date(0, utc) == "Thu Jan 01 00:00:00 UTC 1970"       # zkCli's root ctime
    assert render.java_date(1796075569000, utc) == "Mon Nov 30 21:52:49 UTC 2026"


def test_acl_lines_escape_as_jute_csv():
    acl = [ACL(31, Id("world", "anyone")), ACL(3, Id("x509", "CN=a,O=b%"))]
    assert render.acl_lines(acl) == ["'world,'anyone", ": cdrwa", "'x509,'CN=a%2CO=b%25", ": rw"]


def test_events_and_errors():
    assert render.event_lines("CHILD", "CONNECTED", "/a") == [
        "", "WATCHER::", "", "WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/a"]
    assert render.event_lines("NONE", "CLOSED", None)[-1] == \
        "WatchedEvent state:Closed type:None path:null"
    assert render.error_message(errors.NoNodeError(), "/a") == "Node does not exist: /a"
    assert render.error_message(errors.NoAuthError(), "/a") == "Insufficient permission : /a"
    assert render.error_message(errors.UnimplementedError(), "/a") == \
        "KeeperErrorCode = Unimplemented for /a"
    assert render.error_message(errors.ClientTimeoutError("no reply"), "/a") == \
        "KeeperErrorCode = ConnectionLoss for /a (no reply)"
    assert render.data_text(None) == "null"
    assert render.data_text(b"\xff") == "\ufffd"
    assert render.children_line(["b", "a"]) == "[a, b]"


def test_command_completion_needs_no_session():
    shell = Shell("127.0.0.1:1", None, None)
    assert shell.completions("get", "get") == ["get ", "getAcl ", "getAllChildrenNumber ",
                                               "getEphemerals "]
    assert shell.completions("", "") == sorted(name + " " for name in COMMANDS)
    assert shell.completions("ls /a", "/a") == []          # no session: no paths


def test_redo_numbers_as_integer_decode():
    assert [_java_decode(t) for t in ("7", "0x1f", "#10", "010", "-2", "x")] == [7, 31, 16, 8, -2,
                                                                                 None]
