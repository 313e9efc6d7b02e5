"""History file formats: our JSON lines, Jepsen/Knossos EDN, Porcupine's logs.

``read_history(path, format)`` is the one entry point. ``FORMAT_DEFAULTS`` records, per format, the
model options under which the published verdicts for that format's data were computed; the command
line applies them unless told otherwise (see docs/jepsen.md, "Models").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jepsen_like.history import History, read_jsonl

__all__ = ["FORMATS", "FORMAT_DEFAULTS", "read_history"]

FORMATS = ("jsonl", "knossos", "porcupine")

# Model options per format. Knossos: a register starts at 0, a nil read is a wildcard, and a failed
# op never happened. Porcupine's etcd model: the register starts nil, reads are exact, and a failed
# CAS executed with a failed compare. Our own histories: nil start, exact reads, fail = never happened.
FORMAT_DEFAULTS: dict[str, dict[str, Any]] = {
    "jsonl": {"initial": None, "nil_read_is_wildcard": False, "failed_cas": "never-happened"},
    "knossos": {"initial": 0, "nil_read_is_wildcard": True, "failed_cas": "never-happened"},
    "porcupine": {"initial": None, "nil_read_is_wildcard": False, "failed_cas": "compare-failed"},
}


def read_history(path: str | os.PathLike[str], format: str = "jsonl") -> History:
    path = Path(path)
    if format == "jsonl":
        return read_jsonl(path)
    text = path.read_text(encoding="utf-8")
    if format == "knossos":
        from jepsen_like.formats.knossos import read_knossos

        return read_knossos(text, source=str(path))
    if format == "porcupine":
        from jepsen_like.formats.porcupine import read_porcupine

        return read_porcupine(text, source=str(path))
    raise ValueError(f"unknown history format {format!r}; expected one of {', '.join(FORMATS)}")
