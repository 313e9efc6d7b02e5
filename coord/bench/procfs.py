"""What /proc says about a process (Linux): CPU seconds used and resident memory."""

from __future__ import annotations

import os

__all__ = ["cpu_seconds", "rss_bytes", "total_cpu_seconds"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` so far (fields 14 and 15 of /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        text = f.read().decode("ascii", "replace")
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def total_cpu_seconds(pids) -> float | None:
    """Sum over ``pids``; None when there are none or one of them is gone."""
    if not pids:
        return None
    try:
        return sum(cpu_seconds(pid) for pid in pids)
    except (OSError, ValueError):
        return None


def rss_bytes(pid: int) -> int | None:
    """VmRSS of ``pid`` in bytes (None when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
