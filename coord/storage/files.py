"""Small blocking file helpers shared by the storage modules.

Theory of operation
-------------------
A file's contents survive a crash only after an fsync of the file, and a file's *name* (created,
renamed or deleted) only after an fsync of the directory holding it. Every helper here pairs the
change with the fsync it needs, so callers cannot forget one. Plain ``os`` calls, no Twisted:
the server runs these on a worker thread.
"""

from __future__ import annotations

import os

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def fsync_dir(path: str) -> None:
    """Make the directory's entries (creations, renames, deletions) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a regular file may take a short write)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def truncate_durably(path: str, length_bytes: int) -> None:
    fd = os.open(path, os.O_WRONLY | _O_CLOEXEC)
    try:
        os.ftruncate(fd, length_bytes)
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file_durably(path: str, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``: write a temporary file, fsync, rename, fsync dir.

    After a crash the file holds either the old or the new contents, never a mix.
    """
    temporary_path = path + ".tmp"
    fd = os.open(temporary_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_CLOEXEC, 0o644)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary_path, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))
