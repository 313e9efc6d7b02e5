"""Shared helpers for the jepsen_like tests.

The external histories (Porcupine's and Knossos's test data) are read from ``../shared`` next to the
repository at test time and never copied into it; tests that need them skip when it is missing.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from jepsen_like.formats.knossos import events_from_edn
from jepsen_like.formats import edn
from jepsen_like.history import Operation, operations

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
PORCUPINE_DATA = SHARED / "porcupine-data"
KNOSSOS_DATA = SHARED / "knossos-data"


def data_dir(path: Path) -> Path:
    if not (path / "expected.tsv").is_file():
        pytest.skip(f"{path} is not here (the shared test data sits next to the repository)")
    return path


def expected_rows(path: Path) -> list[dict[str, str]]:
    with (path / "expected.tsv").open(newline="") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def ops_from_edn(text: str) -> list[Operation]:
    """Operations from an inline Jepsen EDN history: tests read like Knossos's data files."""
    return operations(events_from_edn(edn.iter_forms(text)))
