"""A small reader (and writer) for EDN, the data notation Jepsen and Knossos write histories in.

Theory of operation
-------------------
EDN is Clojure's literal syntax. A history needs only a handful of its forms, but the files in the
wild also carry comments, tagged literals and the occasional oddity, so the reader covers the whole
grammar at the level a history needs and maps every form to a hashable Python value:

=================  ===========================  ==========================================
EDN                Python                       why
=================  ===========================  ==========================================
``nil``            ``None``
``true``/``false`` ``bool``
``42``, ``42N``    ``int``
``1.5``, ``1.5M``  ``float`` (``M``: ``Decimal``)
``"s"``            ``str``
``\\c``             ``Char`` (a 1-char ``str``)
``:kw``, ``:a/b``  ``Keyword`` (a ``str``)     ``Keyword("ok") == "ok"``, so callers compare with plain strings
``sym``            ``Symbol`` (a ``str``)
``[..]``, ``(..)`` ``tuple``                    hashable, so values can be model states
``{..}``           ``dict``
``#{..}``          ``frozenset``
``#tag x``         ``Tagged(tag, x)``
``#_ x``           (discarded)
=================  ===========================  ==========================================

Commas are whitespace and ``;`` starts a comment to the end of the line, as in Clojure. The reader
is an explicit-stack loop rather than recursion, so a deeply nested file cannot overflow Python's
stack, and every error names the line and column where it was found.
"""

from __future__ import annotations

import decimal
import re
from typing import Any, Iterator, NamedTuple

__all__ = [
    "Char",
    "EdnSyntaxError",
    "Keyword",
    "Symbol",
    "Tagged",
    "dumps",
    "iter_forms",
    "loads",
]


class EdnSyntaxError(ValueError):
    """The text is not EDN. Carries the 1-based line and column of the problem."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} at line {line}, column {column}")
        self.line = line
        self.column = column


class Keyword(str):
    """An EDN keyword such as ``:ok``. It *is* the string ``"ok"``, so it compares equal to it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str.__str__(self)


class Symbol(str):
    """An EDN symbol such as ``foo`` or ``my.ns/bar``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Symbol({str.__repr__(self)})"


class Char(str):
    """An EDN character literal such as ``\\a``."""

    __slots__ = ()


class Tagged(NamedTuple):
    """A tagged literal (``#inst "..."``, ``#uuid "..."``, ``#my/tag {...}``) kept as tag and value."""

    tag: str
    value: Any


_WHITESPACE = " \t\r\n,\f\v"
_DELIMITERS = _WHITESPACE + '()[]{}";'
_TOKEN = re.compile(r'[^\s,()\[\]{}";]+')
_INT = re.compile(r"[+-]?(0|[1-9][0-9]*)N?")
_FLOAT = re.compile(r"[+-]?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?M?")
_STRING_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}
_NAMED_CHARS = {"newline": "\n", "return": "\r", "space": " ", "tab": "\t", "formfeed": "\f", "backspace": "\b"}
_CLOSERS = {"(": ")", "[": "]", "{": "}", "#{": "}"}

# Sentinels for the reader's stack; never seen by callers.
_DISCARD = object()


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def where(self, pos: int | None = None) -> tuple[int, int]:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return line, column

    def error(self, message: str, pos: int | None = None) -> EdnSyntaxError:
        line, column = self.where(pos)
        return EdnSyntaxError(message, line, column)

    def skip_space(self) -> None:
        text, pos, n = self.text, self.pos, len(self.text)
        while pos < n:
            ch = text[pos]
            if ch in _WHITESPACE:
                pos += 1
            elif ch == ";":
                end = text.find("\n", pos)
                pos = n if end < 0 else end + 1
            else:
                break
        self.pos = pos

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def read_form(self) -> Any:
        """Read one complete form. Collections are built on an explicit stack (no recursion)."""
        # Each frame: [opener, items, start_pos, pending_tag_or_None]; a tag or discard that applies to
        # the next completed form is pushed as a ("#tag", tag) / ("#_",) marker frame.
        stack: list[list[Any]] = []
        while True:
            self.skip_space()
            if self.pos >= len(self.text):
                if stack:
                    raise self.error(f"unclosed {stack[-1][0]!r} opened", stack[-1][2])
                raise self.error("unexpected end of input")
            start = self.pos
            ch = self.text[start]
            value: Any
            if ch in "([{":
                self.pos += 1
                stack.append([ch, [], start])
                continue
            if ch == "#" and self.text.startswith("#{", start):
                self.pos += 2
                stack.append(["#{", [], start])
                continue
            if ch == "#" and self.text.startswith("#_", start):
                self.pos += 2
                stack.append(["#_", None, start])
                continue
            if ch == "#":
                self.pos += 1
                tag = self.read_token()
                if not tag or not (tag[0].isalpha()):
                    raise self.error("bad tag after '#'", start)
                stack.append(["#tag", tag, start])
                continue
            if ch in ")]}":
                if not stack or stack[-1][0] not in _CLOSERS or _CLOSERS[stack[-1][0]] != ch:
                    raise self.error(f"unexpected {ch!r}")
                self.pos += 1
                opener, items, opened_at = stack.pop()
                value = self.build(opener, items, opened_at)
            elif ch == '"':
                value = self.read_string()
            elif ch == "\\":
                value = self.read_char()
            else:
                value = self.read_atom()
            # A form is complete: hand it to the innermost frame, applying tags and discards.
            while True:
                if not stack:
                    return value
                top = stack[-1]
                if top[0] == "#_":
                    stack.pop()
                    value = _DISCARD
                    break
                if top[0] == "#tag":
                    stack.pop()
                    value = Tagged(top[1], value)
                    continue
                top[1].append(value)
                break
            if value is _DISCARD and not stack:
                # A top-level discard: the caller skips it (there may be no form after it).
                return _DISCARD

    def build(self, opener: str, items: list[Any], start: int) -> Any:
        items = [item for item in items if item is not _DISCARD]
        if opener in "([":
            return tuple(items)
        if opener == "#{":
            return frozenset(items)
        if len(items) % 2:
            raise self.error("map literal with an odd number of forms", start)
        return {items[i]: items[i + 1] for i in range(0, len(items), 2)}

    def read_token(self) -> str:
        match = _TOKEN.match(self.text, self.pos)
        if not match:
            return ""
        self.pos = match.end()
        return match.group()

    def read_string(self) -> str:
        text, pos = self.text, self.pos + 1
        parts = []
        while True:
            end = pos
            while end < len(text) and text[end] not in '"\\':
                end += 1
            parts.append(text[pos:end])
            if end >= len(text):
                raise self.error("unterminated string", self.pos)
            if text[end] == '"':
                self.pos = end + 1
                return "".join(parts)
            escape = text[end + 1 : end + 2]
            if escape in _STRING_ESCAPES:
                parts.append(_STRING_ESCAPES[escape])
                pos = end + 2
            elif escape == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[end + 2 : end + 6]):
                parts.append(chr(int(text[end + 2 : end + 6], 16)))
                pos = end + 6
            else:
                raise self.error(f"bad string escape \\{escape}", end)

    def read_char(self) -> Char:
        start = self.pos
        self.pos += 1
        if self.pos >= len(self.text):
            raise self.error("lone backslash", start)
        first = self.text[self.pos]
        token = self.read_token() if first not in _DELIMITERS else ""
        if not token:
            self.pos += 1
            return Char(first)
        if len(token) == 1:
            return Char(token)
        if token in _NAMED_CHARS:
            return Char(_NAMED_CHARS[token])
        if re.fullmatch(r"u[0-9a-fA-F]{4}", token):
            return Char(chr(int(token[1:], 16)))
        raise self.error(f"bad character literal \\{token}", start)

    def read_atom(self) -> Any:
        start = self.pos
        token = self.read_token()
        if not token:
            raise self.error(f"unexpected {self.text[start]!r}")
        if token == "nil":
            return None
        if token == "true":
            return True
        if token == "false":
            return False
        if token[0] == ":":
            if len(token) == 1:
                raise self.error("empty keyword", start)
            return Keyword(token[1:])
        if token[0].isdigit() or (token[0] in "+-" and len(token) > 1 and token[1].isdigit()):
            if _INT.fullmatch(token):
                return int(token.rstrip("N"))
            if _FLOAT.fullmatch(token):
                if token.endswith("M"):
                    return decimal.Decimal(token[:-1])
                return float(token)
            raise self.error(f"bad number {token!r}", start)
        return Symbol(token)


def iter_forms(text: str) -> Iterator[Any]:
    """Yield every top-level form in ``text`` in order (a file may hold several, as JSON lines do)."""
    reader = _Reader(text)
    while not reader.at_end():
        form = reader.read_form()
        if form is not _DISCARD:
            yield form


def loads(text: str) -> Any:
    """Read exactly one form from ``text``."""
    forms = iter_forms(text)
    form = next(forms, _DISCARD)
    if form is _DISCARD:
        raise EdnSyntaxError("no form in input", 1, 1)
    if next(forms, _DISCARD) is not _DISCARD:
        raise EdnSyntaxError("more than one form in input", 1, 1)
    return form


def dumps(value: Any) -> str:
    """Write ``value`` as EDN; the inverse of :func:`loads` for the types it returns.

    A plain ``str`` becomes an EDN string; use :class:`Keyword` for keywords. Lists become vectors.
    """
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Keyword):
        return ":" + str.__str__(value)
    if isinstance(value, Symbol):
        return str.__str__(value)
    if isinstance(value, Char):
        named = {v: k for k, v in _NAMED_CHARS.items()}
        return "\\" + named.get(value, value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        escaped = escaped.replace("\r", "\\r")
        return f'"{escaped}"'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return f"{value}M"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"EDN has no literal for {value!r}")
        return repr(value)
    if isinstance(value, Tagged):
        return f"#{value.tag} {dumps(value.value)}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{dumps(k)} {dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (set, frozenset)):
        return "#{" + " ".join(dumps(item) for item in value) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(dumps(item) for item in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as EDN")
