"""What a shell line means, as zkCli.sh reads it: words, options, paths, ACLs. Pure.

The rules are ZooKeeper's own (``ZooKeeperMain.MyCommandOptions``, Apache commons-cli's
``DefaultParser``, ``PathUtils.validatePath``, ``AclParser``), so a line typed into zkCli.sh means
the same here, and the messages for bad input are zkCli's.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from coord.protocol.codes import Perm

# A word is unquoted (no spaces), or "double quoted", or 'single quoted'; quotes are stripped.
_WORD = re.compile(r"""\s*([^"'\s]\S*|"[^"]*"|'[^']*')\s*""")
_QUOTED = re.compile(r"""^(['"])(.*)\1$""", re.S)

MAX_TTL_MS = (1 << 40) - 1   # EphemeralType.TTL: the TTL shares the ephemeralOwner field


class CommandError(Exception):
    """A command cannot run as typed, or failed; ``str()`` is what zkCli prints to stderr."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class CommandNotFound(CommandError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Command not found: {name}", 127)


class Spec(NamedTuple):
    """One command: its usage text, its options (letter -> takes a value), its least argc
    (counting the command word), and whether it needs a live session."""
    usage: str
    options: dict
    min_args: int
    needs_session: bool = True


COMMANDS: dict[str, Spec] = {
    "addWatch": Spec("[-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE]"
                     " - default is PERSISTENT_RECURSIVE", {"m": True}, 2),
    "addauth": Spec("scheme auth", {}, 2),
    "close": Spec("", {}, 1, False),
    "config": Spec("[-s]", {"s": False}, 1),
    "connect": Spec("host:port", {}, 1, False),
    "create": Spec("[-s] [-e] [-c] [-t ttl] path [data] [acl]",
                   {"e": False, "s": False, "c": False, "t": True}, 2),
    "delete": Spec("[-v version] path", {"v": True}, 2),
    "deleteall": Spec("path [-b batch size]", {"b": True}, 2),
    "get": Spec("[-s] [-w] path", {"s": False, "w": False}, 2),
    "getAcl": Spec("[-s] path", {"s": False}, 2),
    "getAllChildrenNumber": Spec("path", {}, 2),
    "getEphemerals": Spec("path", {}, 1),
    "history": Spec("", {}, 1, False),
    "ls": Spec("[-s] [-w] [-R] path", {"s": False, "w": False, "R": False, "?": False}, 1),
    "printwatches": Spec("on|off", {}, 1, False),
    "quit": Spec("", {}, 1, False),
    "redo": Spec("cmdno", {}, 1, False),
    "set": Spec("[-s] [-v version] path data", {"s": False, "v": True}, 3),
    "setAcl": Spec("[-s] [-v version] [-R] path acl", {"s": False, "v": True, "R": False}, 3),
    "stat": Spec("[-w] path", {"w": False}, 2),
    "sync": Spec("path", {}, 2),
    "version": Spec("", {}, 1, False),
    "whoami": Spec("", {}, 1),
}
ALIASES = {"exit": "quit"}


def usage(name: str) -> str:
    return f"{name} {COMMANDS[name].usage}".rstrip() if COMMANDS[name].usage else f"{name} "


def usage_text() -> str:
    """zkCli's list of commands (printed for an unknown command)."""
    lines = ["coord shell [--server host:port[,host:port...][/chroot]] [-c cmd]"]
    lines += ["\t" + usage(name) for name in sorted(COMMANDS, key=str.lower)]
    return "\n".join(lines)


def split_words(line: str) -> list[str]:
    """``create /a "x y"`` -> ``["create", "/a", "x y"]`` (zkCli's ARGS_PATTERN)."""
    words = []
    for match in _WORD.finditer(line):
        word = match.group(1)
        quoted = _QUOTED.match(word)
        words.append(quoted.group(2) if quoted else word)
    return words


class Parsed(NamedTuple):
    name: str            # the command
    args: list           # the command word, then the non-option arguments
    options: dict        # letter -> True or its value


def parse(words: list[str]) -> Parsed:
    """Options anywhere after the command word, as commons-cli's DefaultParser takes them."""
    name = ALIASES.get(words[0], words[0])
    spec = COMMANDS.get(name)
    if spec is None:
        raise CommandNotFound(words[0])
    args, options = [words[0]], {}
    rest = iter(words[1:])
    for word in rest:
        if word == "--":
            args.extend(rest)
            break
        if not word.startswith("-") or len(word) == 1 or word[1] not in spec.options:
            if word.startswith("-") and len(word) > 1 and not _is_number(word):
                raise CommandError(f"Unrecognized option: {word}")
            args.append(word)
            continue
        letter = word[1]
        if spec.options[letter]:            # takes a value: -v5 or -v 5
            value = word[2:] or next(rest, None)
            if value is None:
                raise CommandError(f"Missing argument for option: {letter}")
            options[letter] = value
        elif len(word) == 2:
            options[letter] = True
        else:                               # bundled flags: -se
            for bundled in word[1:]:
                if spec.options.get(bundled) is not False:
                    raise CommandError(f"Unrecognized option: {word}")
                options[bundled] = True
    if len(args) < spec.min_args:
        raise CommandError(usage(name))
    return Parsed(name, args, options)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def int_option(value: str, message: str | None = None) -> int:
    """Java's Integer.parseInt, with zkCli's message when it has one."""
    try:
        return int(value, 10)
    except ValueError:
        raise CommandError(message or f'For input string: "{value}"') from None


def validate_path(path: str, sequential: bool = False) -> None:
    """PathUtils.validatePath: raises CommandError with ZooKeeper's message."""
    if sequential:
        path = path + "1"   # a sequential create may end with "/" (the counter follows)
    if not path:
        raise CommandError("Path length must be > 0")
    if path[0] != "/":
        raise CommandError("Path must start with / character")
    if len(path) == 1:
        return
    if path[-1] == "/":
        raise CommandError("Path must not end with / character")
    reason = None
    for i in range(1, len(path)):
        c, last = path[i], path[i - 1]
        at_end_or_slash = i + 1 == len(path) or path[i + 1] == "/"
        if c == "\0":
            reason = f"null character not allowed @{i}"
        elif c == "/" and last == "/":
            reason = f"empty node name specified @{i}"
        elif c == "." and last == "." and path[i - 2] == "/" and at_end_or_slash:
            reason = f"relative paths not allowed @{i}"
        elif c == "." and last == "/" and at_end_or_slash:
            reason = f"relative paths not allowed @{i}"
        elif ("\u0000" < c <= "\u001f" or "\u007f" <= c <= "\u009f" or "\ud800" <= c <= "\uf8ff"
              or c >= "\ufff0"):
            reason = f"invalid character @{i}"
        if reason:
            raise CommandError(f'Invalid path string "{path}" caused by {reason}')


_PERM_LETTERS = {"r": Perm.READ, "w": Perm.WRITE, "c": Perm.CREATE, "d": Perm.DELETE,
                 "a": Perm.ADMIN}


def parse_acl(text: str) -> tuple[list, list[str]]:
    """``scheme:id:perms[,...]`` -> ([(perms, scheme, id)], warnings), as zkCli's AclParser:
    malformed entries and unknown permission letters are reported and skipped."""
    acl, warnings = [], []
    for entry in text.split(","):
        first, last = entry.find(":"), entry.rfind(":")
        if first == -1 or first == last:
            warnings.append(f"{entry} does not have the form scheme:id:perm")
            continue
        perms = 0
        for letter in entry[last + 1:]:
            if letter in _PERM_LETTERS:
                perms |= _PERM_LETTERS[letter]
            else:
                warnings.append(f"Unknown perm type: {letter}")
        acl.append((int(perms), entry[:first], entry[first + 1:last]))
    return acl, warnings


def perm_string(perms: int) -> str:
    """ZKUtil.getPermString: the letters in the order c d r w a."""
    return "".join(letter for letter, bit in (("c", Perm.CREATE), ("d", Perm.DELETE),
                                              ("r", Perm.READ), ("w", Perm.WRITE),
                                              ("a", Perm.ADMIN)) if perms & bit)
