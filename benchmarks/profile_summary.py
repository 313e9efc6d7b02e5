"""Summarise a py-spy profile of a coord server: where its reactor thread spends its time.

    py-spy record -p SERVER_PID -d 8 -r 250 -f raw -o server.raw   # while `coord bench` runs
    python -m benchmarks.profile_summary server.raw [--top 40]

py-spy's raw format is one line per distinct stack, ``frame;frame;...;frame COUNT``. py-spy itself
drops samples of an idle thread (unless ``--idle``), so busy samples over rate x duration is the
share of wall time the thread worked; samples whose innermost frame still waits for work (epoll, a
lock, a condition) are left out here too. Everything else is "busy", which includes time blocked in system calls on the reactor thread (an inline fdatasync,
a socket send): those are the thread's time too, and for latency they count as much as Python.
The table gives each function's inclusive share of the busy samples, and a few named phases of
coord's request path.
"""

from __future__ import annotations

import argparse
import collections
import sys

IDLE_FRAMES = ("poll (", "epoll", "wait (threading", "_wait_for_tstate_lock", "select (")

# Phases of the request path, by the function that starts each (inclusive).
PHASES = (
    ("decode client requests", "receive_data (coord/protocol/server_conn.py"),
    ("prepare and propose (leader)", "_leader_submit (coord/server.py"),
    ("apply committed entries, answer", "_apply (coord/server.py"),
    ("log append, fdatasync (inline)", "_write_blocking (coord/runtime/node.py"),
    ("peer frames in", "_peer_frame (coord/runtime/node.py"),
    ("socket sends (syscalls)", "writeSomeData (twisted/internet/tcp.py"),
)


def summarise(lines):
    inclusive: collections.Counter = collections.Counter()
    busy = idle = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        samples = int(count)
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in IDLE_FRAMES):
            idle += samples
            continue
        busy += samples
        for name in {frame.split(":")[0] for frame in frames}:
            inclusive[name] += samples
    return busy, idle, inclusive


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("raw", help="py-spy record -f raw output")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    with open(args.raw) as f:
        busy, idle, inclusive = summarise(f)
    if not busy:
        sys.exit("no busy samples")
    print(f"busy samples {busy} (idle samples py-spy kept: {idle}); busy / (rate x duration) is "
          f"the share of wall time the thread worked")
    print()
    print("| phase | share of busy |")
    print("|---|---|")
    for phase, frame in PHASES:
        share = max((c for name, c in inclusive.items() if name.startswith(frame)), default=0) / busy
        print(f"| {phase} | {share:.0%} |")
    print()
    print("| inclusive samples | share | function (file) |")
    print("|---|---|---|")
    # Frames in every busy sample (the interpreter's and the reactor's outer loop) say nothing.
    shown = [(name, count) for name, count in inclusive.most_common() if count < 0.98 * busy][:args.top]
    for name, count in shown:
        print(f"| {count} | {count / busy:.0%} | {name}) |")


if __name__ == "__main__":
    main()
