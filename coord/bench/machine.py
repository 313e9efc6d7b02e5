"""A description of the machine a run happened on (cores, CPU, memory, disk, versions, load)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

__all__ = ["describe_machine", "load_average"]


def _first_line_with(path: str, prefix: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _run(argv, timeout_s=20.0) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or "") + (out.stderr or "")
    return text.strip() or None


def _disk(path: str) -> dict:
    """Filesystem, device and whether it spins, for the folder the servers write to."""
    info = {"path": str(path)}
    df = _run(["df", "-PT", str(path)])
    if df and len(df.splitlines()) > 1:
        fields = df.splitlines()[1].split()
        info.update(device=fields[0], fstype=fields[1])
        name = os.path.basename(fields[0])
        while name and not os.path.exists(f"/sys/block/{name}"):
            name = name[:-1]  # vda1 -> vda
        try:
            with open(f"/sys/block/{name}/queue/rotational") as f:
                info["rotational"] = f.read().strip() == "1"
        except OSError:
            pass
    return info


def load_average() -> list | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def describe_machine(work_dir, java: str | None = None) -> dict:
    import coord

    zookeeper_version = _run(["dpkg-query", "-W", "-f=${Version}", "zookeeper"])
    java_version = _run([java, "-version"]) if java else None
    mem_kib = _first_line_with("/proc/meminfo", "MemTotal")
    return {
        "cores": os.cpu_count(),
        "cpu_model": _first_line_with("/proc/cpuinfo", "model name"),
        "memory": mem_kib,
        "disk": _disk(work_dir),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "java": java_version.splitlines()[0] if java_version else None,
        "coord": coord.__version__,
        "zookeeper": zookeeper_version,
        "load_average": load_average(),
    }
