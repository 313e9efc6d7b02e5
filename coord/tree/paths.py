"""Znode path rules.

ZooKeeper's ``PathUtils.validatePath`` decides what a valid path is; the Java server validates only
in some operations (create, setData, setACL, check, and a NUL check in delete/exists) and lets the
others simply answer NoNode. Which operation validates, and in which order against other checks,
is the caller's business (see ``prep.py``); this module only answers "is this path valid".

Java checks UTF-16 code units, so any code point above U+FFFF (encoded as a surrogate pair, which
falls in the banned U+D800..U+F8FF range) is invalid as well.
"""

import re

# Control characters, C1 controls, surrogates + private use area, and U+FFF0..U+FFFF, plus any
# astral code point (a surrogate pair on the Java side).
_BAD_CHARS = re.compile("[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff\U00010000-\U0010ffff]")


def is_valid_path(path):
    """True iff ``path`` is a valid absolute znode path (PathUtils.validatePath)."""
    if not path or path[0] != "/":
        return False
    if path == "/":
        return True
    if path[-1] == "/":
        return False
    if _BAD_CHARS.search(path):
        return False
    # No empty, "." or ".." name: checked on the whole string (this is on every create's path).
    if "//" in path or "/." in path:
        rest = path + "/"
        if "//" in path or "/./" in rest or "/../" in rest:
            return False
    return True


def split_path(path):
    """``/a/b`` -> (``/a``, ``b``); ``/a`` -> (``/``, ``a``). ``path`` need not be valid."""
    cut = path.rfind("/")
    if cut <= 0:
        return "/", path[cut + 1:]
    return path[:cut], path[cut + 1:]


def parent_of(path):
    cut = path.rfind("/")
    return "/" if cut <= 0 else path[:cut]


def ancestors(path):
    """Proper ancestors of ``path`` from the nearest up to ``/``."""
    while path != "/":
        path = parent_of(path)
        yield path
